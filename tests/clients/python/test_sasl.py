"""SASL/PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with each client's own SASL
code (kafka-python's, aiokafka's, librdkafka's through confluent-kafka) on the
SASL_PLAINTEXT listener run.sh opens beside the plaintext one: the right
password produces and consumes the same bytes, a wrong one is refused with an
authentication error and writes nothing. The SCRAM credentials are made by
the test with AlterUserScramCredentials on the plaintext listener."""
import asyncio
import os
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AioKafkaError
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError as PyKafkaError

from conftest import (AGAINST_KAFKA, aiokafka_round_trip, confluent_round_trip, kafka_python_round_trip,
                      unique_topic)

pytestmark = pytest.mark.skipif(
    AGAINST_KAFKA, reason="the Kafka reference broker has no SASL listener configured"
)


@pytest.fixture(scope="module")
def sasl():
    bootstrap = os.environ.get("FJORD_SASL_BOOTSTRAP")
    if not bootstrap:
        pytest.fail("FJORD_SASL_BOOTSTRAP is not set: run tests/clients/run.sh, which opens it")
    return bootstrap, os.environ["FJORD_SASL_USER"], os.environ["FJORD_SASL_PASSWORD"]


# Each mechanism, with what librdkafka reports for a wrong password.
REFUSALS = {
    "PLAIN": "Invalid username or password",
    "SCRAM-SHA-256": "invalid credentials with SASL mechanism SCRAM-SHA-256",
    "SCRAM-SHA-512": "invalid credentials with SASL mechanism SCRAM-SHA-512",
}


@pytest.fixture(scope="module", params=sorted(REFUSALS))
def mechanism(request, admin, sasl):
    """Each mechanism in turn; for SCRAM, the user gets a credential first
    (one request per mechanism: Kafka refuses a user named twice in one)."""
    _, user, password = sasl
    if request.param.startswith("SCRAM"):
        kind = ScramMechanism.SCRAM_SHA_256 if request.param.endswith("256") else ScramMechanism.SCRAM_SHA_512
        futures = admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion(user, ScramCredentialInfo(kind, 4096), password.encode())])
        futures[user].result(timeout=20)
    return request.param


def python_client(sasl, mechanism="PLAIN", password=None):
    bootstrap, user, right = sasl
    return dict(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=user,
        sasl_plain_password=password or right,
    )


def test_kafka_python(sasl, mechanism):
    topic = unique_topic("sasl-kafka-python")
    values = [f"kafka-python-{i}-{uuid.uuid4().hex}".encode() for i in range(10)]
    kafka_python_round_trip(python_client(sasl, mechanism), topic, values)

    # A wrong password: no producer can be made, or none of its sends succeeds.
    with pytest.raises(PyKafkaError):
        wrong = KafkaProducer(acks="all", request_timeout_ms=5000, max_block_ms=5000,
                              **python_client(sasl, mechanism, password="not-the-password"))
        try:
            wrong.send(topic, value=b"intruder", partition=0).get(timeout=10)
        finally:
            wrong.close(timeout=5)


def confluent_config(sasl, mechanism, password=None, **extra):
    bootstrap, user, right = sasl
    config = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password or right,
        "broker.address.family": "v4",
    }
    config.update(extra)
    return config


def test_confluent_kafka(sasl, mechanism):
    topic = unique_topic("sasl-confluent")
    values = [f"confluent-{i}-{uuid.uuid4().hex}".encode() for i in range(10)]

    errors = []
    wrong = Producer(confluent_config(sasl, mechanism, password="not-the-password", **{
        "message.timeout.ms": 5000, "error_cb": errors.append}))
    failed = []
    wrong.produce(topic, value=b"intruder", partition=0, on_delivery=lambda err, msg: failed.append(err))
    wrong.flush(15)
    assert failed and failed[0] is not None, failed
    assert any(e.code() == KafkaError._AUTHENTICATION and REFUSALS[mechanism] in e.str()
               for e in errors), errors

    # The refused producer wrote nothing: the first record is at offset 0.
    confluent_round_trip(confluent_config(sasl, mechanism), topic, values)


def test_kafka_python_v0_handshake_sends_unframed_tokens(sasl):
    """Told it talks to Kafka 0.10, kafka-python sends SaslHandshake v0 and
    then its PLAIN token raw, without a SaslAuthenticate header."""
    topic = unique_topic("sasl-v0")
    producer = KafkaProducer(acks="all", **python_client(sasl))
    try:
        producer.send(topic, value=b"v0", partition=0).get(timeout=30)
    finally:
        producer.close(timeout=10)
    consumer = KafkaConsumer(api_version=(0, 10, 2), **python_client(sasl))
    try:
        assert topic in consumer.topics()
        assert consumer.partitions_for_topic(topic)
    finally:
        consumer.close()


def test_aiokafka(sasl, mechanism):
    bootstrap, user, password = sasl
    topic = unique_topic("sasl-aiokafka")
    values = [f"aiokafka-{i}-{uuid.uuid4().hex}".encode() for i in range(10)]

    def client(pw):
        return dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                    sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=pw)

    async def run():
        wrong = AIOKafkaProducer(request_timeout_ms=5000, **client("not-the-password"))
        with pytest.raises(AioKafkaError):
            await wrong.start()
        await wrong.stop()

    asyncio.run(run())
    aiokafka_round_trip(client(password), topic, values)
