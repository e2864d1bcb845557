"""SCRAM credentials through confluent-kafka's AdminClient (APIs 50 and 51)."""
import json
import os
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from conftest import AGAINST_KAFKA

RESOURCE_NOT_FOUND = 91
DUPLICATE_RESOURCE = 92
UNACCEPTABLE_CREDENTIAL = 93


def unique_user(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_code(exc_info):
    err = exc_info.value.args[0]
    assert isinstance(err, KafkaError), exc_info.value
    return err.code()


def infos(description):
    return sorted((i.mechanism, i.iterations) for i in description.scram_credential_infos)


def test_upsert_describe_and_delete(admin):
    user = unique_user("scram")
    # One request may name a user once only (Kafka's ScramControlManager
    # refuses the second mechanism with DUPLICATE_RESOURCE), hence two.
    twice = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw-256"),
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"pw-512"),
    ])
    with pytest.raises(KafkaException) as duplicate:
        twice[user].result(timeout=20)
    assert error_code(duplicate) == DUPLICATE_RESOURCE
    for mechanism, iterations, password, salt in [
        (ScramMechanism.SCRAM_SHA_256, 4096, b"pw-256", None),
        (ScramMechanism.SCRAM_SHA_512, 8192, b"pw-512", b"salty"),
    ]:
        futures = admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion(
                user, ScramCredentialInfo(mechanism, iterations), password, salt),
        ])
        assert futures[user].result(timeout=20) is None

    described = admin.describe_user_scram_credentials([user])[user].result(timeout=20)
    assert described.user == user
    assert infos(described) == [
        (ScramMechanism.SCRAM_SHA_256, 4096),
        (ScramMechanism.SCRAM_SHA_512, 8192),
    ]
    everyone = admin.describe_user_scram_credentials().result(timeout=20)
    assert user in everyone, sorted(everyone)
    assert infos(everyone[user]) == infos(described)

    data_dir = os.environ.get("FJORD_TEST_DATA_DIR")
    if data_dir and not AGAINST_KAFKA:
        with open(os.path.join(data_dir, "fjord-scram-credentials.json")) as f:
            stored = json.load(f)["users"][user]
        assert sorted(stored) == ["SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert stored["SCRAM-SHA-512"]["iterations"] == 8192
        assert "pw-512" not in json.dumps(stored)

    deleted = admin.alter_user_scram_credentials([
        UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256),
    ])
    assert deleted[user].result(timeout=20) is None
    described = admin.describe_user_scram_credentials([user])[user].result(timeout=20)
    assert infos(described) == [(ScramMechanism.SCRAM_SHA_512, 8192)]

    admin.alter_user_scram_credentials([
        UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512),
    ])[user].result(timeout=20)
    with pytest.raises(KafkaException) as gone:
        admin.describe_user_scram_credentials([user])[user].result(timeout=20)
    assert error_code(gone) == RESOURCE_NOT_FOUND


def test_too_few_or_many_iterations_are_unacceptable(admin):
    few, many = unique_user("scram-few"), unique_user("scram-many")
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion(
            few, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1024), b"pw"),
        UserScramCredentialUpsertion(
            many, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 16385), b"pw"),
    ])
    for user in (few, many):
        with pytest.raises(KafkaException) as refused:
            futures[user].result(timeout=20)
        assert error_code(refused) == UNACCEPTABLE_CREDENTIAL, refused.value
    with pytest.raises(KafkaException) as missing:
        admin.describe_user_scram_credentials([few])[few].result(timeout=20)
    assert error_code(missing) == RESOURCE_NOT_FOUND


def test_deleting_a_missing_credential_is_resource_not_found(admin):
    user = unique_user("scram-missing")
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256),
    ])
    with pytest.raises(KafkaException) as missing:
        futures[user].result(timeout=20)
    assert error_code(missing) == RESOURCE_NOT_FOUND
