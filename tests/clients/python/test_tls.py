"""TLS with each client's own TLS stack: confluent-kafka (librdkafka on
OpenSSL), kafka-python and aiokafka (Python's ssl module) on the SSL listener
run.sh opens, and SCRAM-SHA-512 inside TLS on its SASL_SSL listener. The
clients verify the server certificate (made by run.sh for 127.0.0.1 from a
throwaway CA, FJORD_SSL_CA) and its host name; records come back byte for
byte, and a client that does not trust the CA gets no data through."""
import os
import ssl
import uuid

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from kafka import KafkaProducer
from kafka.errors import KafkaError as PyKafkaError

from conftest import (AGAINST_KAFKA, aiokafka_round_trip, confluent_round_trip, kafka_python_round_trip,
                      unique_topic)

pytestmark = pytest.mark.skipif(
    AGAINST_KAFKA, reason="the Kafka reference broker has no SSL or SASL_SSL listener configured"
)


def required(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run tests/clients/run.sh, which opens the TLS listeners")
    return value


@pytest.fixture(scope="module")
def tls():
    """(SSL bootstrap, CA file)."""
    return required("FJORD_SSL_BOOTSTRAP"), required("FJORD_SSL_CA")


@pytest.fixture(scope="module")
def sasl_ssl(admin, tls):
    """(SASL_SSL bootstrap, user, password), the user holding a
    SCRAM-SHA-512 credential made on the plaintext listener."""
    bootstrap = required("FJORD_SASL_SSL_BOOTSTRAP")
    user, password = required("FJORD_SASL_USER"), required("FJORD_SASL_PASSWORD")
    futures = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode())])
    futures[user].result(timeout=20)
    return bootstrap, user, password


def binary_values(tag, count=20):
    """Values with every byte value in them, of sizes from 1 KB to ~40 KB."""
    salt = uuid.uuid4().bytes
    return [tag.encode() + salt + bytes((i * 31 + j * 7) % 256 for j in range(1000 + i * 1999))
            for i in range(count)]


def confluent_ssl(tls, **extra):
    bootstrap, ca = tls
    return {"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": ca,
            "broker.address.family": "v4", **extra}


def test_confluent_kafka_over_ssl(tls):
    topic = unique_topic("ssl-confluent")
    confluent_round_trip(confluent_ssl(tls), topic, binary_values("confluent"))


def test_confluent_kafka_refuses_a_server_it_does_not_trust(tls):
    """The certificate is really checked: trusting only the system's CAs
    (which never signed run.sh's throwaway CA), nothing is delivered."""
    ca = "probe"
    errors = []
    producer = Producer(confluent_ssl((tls[0], ca), **{
        "message.timeout.ms": 5000, "error_cb": errors.append}))
    failed = []
    producer.produce(unique_topic("ssl-untrusted"), value=b"x", partition=0,
                     on_delivery=lambda err, msg: failed.append(err))
    producer.flush(15)
    assert failed and failed[0] is not None, failed
    assert any(e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
               for e in errors), errors


def test_kafka_python_over_ssl(tls):
    bootstrap, ca = tls
    client = dict(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_cafile=ca)
    topic = unique_topic("ssl-kafka-python")
    values = binary_values("kafka-python", count=10)
    kafka_python_round_trip(client, topic, values)

    # Plaintext on the TLS port: no producer, or no send that succeeds.
    with pytest.raises(PyKafkaError):
        plain = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, max_block_ms=5000)
        try:
            plain.send(topic, value=b"intruder", partition=0).get(timeout=10)
        finally:
            plain.close(timeout=5)


def test_aiokafka_over_ssl(tls):
    bootstrap, ca = tls
    client = dict(bootstrap_servers=bootstrap, security_protocol="SSL",
                  ssl_context=ssl.create_default_context(cafile=ca))
    aiokafka_round_trip(client, unique_topic("ssl-aiokafka"), binary_values("aiokafka", count=10))


def test_confluent_kafka_scram_over_sasl_ssl(tls, sasl_ssl):
    bootstrap, user, password = sasl_ssl
    config = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL",
              "ssl.ca.location": tls[1], "sasl.mechanism": "SCRAM-SHA-512",
              "sasl.username": user, "broker.address.family": "v4"}
    topic = unique_topic("sasl-ssl-confluent")

    errors = []
    wrong = Producer({**config, "sasl.password": "not-the-password",
                      "message.timeout.ms": 5000, "error_cb": errors.append})
    failed = []
    wrong.produce(topic, value=b"intruder", partition=0, on_delivery=lambda err, msg: failed.append(err))
    wrong.flush(15)
    assert failed and failed[0] is not None, failed
    assert any(e.code() == KafkaError._AUTHENTICATION
               and "invalid credentials with SASL mechanism SCRAM-SHA-512" in e.str()
               for e in errors), errors

    # The refused producer wrote nothing: the round trip's records start at 0.
    confluent_round_trip({**config, "sasl.password": password}, topic, binary_values("sasl-ssl"))


def test_kafka_python_and_aiokafka_scram_over_sasl_ssl(tls, sasl_ssl):
    """Each client's own SCRAM code inside Python's TLS."""
    bootstrap, user, password = sasl_ssl
    client = dict(bootstrap_servers=bootstrap, security_protocol="SASL_SSL",
                  sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=user,
                  sasl_plain_password=password)

    kafka_python_round_trip({**client, "ssl_cafile": tls[1]}, unique_topic("sasl-ssl-kafka-python"),
                            binary_values("kafka-python-sasl", count=5))
    aiokafka_round_trip({**client, "ssl_context": ssl.create_default_context(cafile=tls[1])},
                        unique_topic("sasl-ssl-aiokafka"), binary_values("aiokafka-sasl", count=5))
