"""TLS with each client's own TLS stack: confluent-kafka (librdkafka on
OpenSSL), kafka-python and aiokafka (Python's ssl module) on the SSL listener
run.sh opens, and SCRAM-SHA-512 inside TLS on its SASL_SSL listener. The
clients verify the server certificate (made by run.sh for 127.0.0.1 from a
throwaway CA, FJORD_SSL_CA) and its host name; records come back byte for
byte, and a client that does not trust the CA gets no data through. Mutual
TLS (confluent-kafka and kafka-python presenting client certificates) on a
Fjord of the module's own, below."""
import os
import ssl
import subprocess
import tempfile
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError as PyKafkaError

from conftest import (AGAINST_KAFKA, FJORD_BIN, aiokafka_round_trip, confluent_round_trip, free_port,
                      kafka_python_round_trip, own_fjord, unique_topic)

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


# ------------------------------------------------------------- mutual TLS ----
# run.sh's SSL listener asks for no client certificate, so these tests start
# a Fjord of their own (FJORD_BIN) with ssl.client.auth=required, client CAs
# from a throwaway CA made here with openssl, a principal mapping rule and
# the authorizer on: User:alice (CN=alice) is the super user, User:bob (a
# certificate from the same CA) has no ACL. So the certificate is not only
# checked, its subject is the principal the ACLs see.

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def signed_cert(dir, ca, name, subject, extensions):
    """`name`.key / `name`.crt in `dir`: a P-256 key and its certificate,
    signed by the CA `ca` (`ca`.key / `ca`.crt)."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=dir)
    with open(os.path.join(dir, f"{name}.ext"), "w") as f:
        f.write("\n".join(extensions + ["basicConstraints=critical,CA:FALSE",
                                        "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]))
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-set_serial", "0x" + uuid.uuid4().hex[:16], "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.crt", cwd=dir)


def self_signed_ca(dir, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=dir)


CLIENT_EXTENSIONS = ["keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"]


@pytest.fixture(scope="module")
def mtls():
    """(bootstrap, certificate dir) of a Fjord whose SSL listener requires
    client certificates. In the dir: ca.crt (the CA of the server and of the
    clients), alice.crt/key and bob.crt/key (from that CA), mallory.crt/key
    (CN=alice, from a CA the broker does not trust)."""
    if not FJORD_BIN:
        pytest.skip("starts a Fjord of its own from FJORD_BIN (run.sh sets it)")
    with tempfile.TemporaryDirectory(prefix="fjord-mtls-certs-") as certs:
        self_signed_ca(certs, "ca")
        signed_cert(certs, "ca", "server", "/CN=localhost", [
            "subjectAltName=IP:127.0.0.1,DNS:localhost", "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth"])
        with open(os.path.join(certs, "server.pem"), "w") as pem:
            for part in ("server.key", "server.crt"):
                with open(os.path.join(certs, part)) as f:
                    pem.write(f.read())
        signed_cert(certs, "ca", "alice", "/O=Fjord tests/CN=alice", CLIENT_EXTENSIONS)
        signed_cert(certs, "ca", "bob", "/O=Fjord tests/CN=bob", CLIENT_EXTENSIONS)
        self_signed_ca(certs, "stranger")
        signed_cert(certs, "stranger", "mallory", "/O=Fjord tests/CN=alice", CLIENT_EXTENSIONS)

        port = free_port()
        with own_fjord("fjord-mtls-", port, [
            f"listeners=SSL://127.0.0.1:{port}",
            f"ssl.keystore.location={certs}/server.pem",
            f"ssl.truststore.location={certs}/ca.crt",
            "ssl.client.auth=required",
            # Java's RFC 2253 form lists the last RDN first: CN=alice,O=Fjord tests.
            "ssl.principal.mapping.rules=RULE:^CN=([^,]*),O=Fjord tests$/$1/L,DEFAULT",
            "authorizer.class.name=fjord",
            "super.users=User:alice",
            "num.partitions=4",
            "auto.create.topics.enable=true",
            "group.initial.rebalance.delay.ms=0",
        ]):
            yield f"127.0.0.1:{port}", certs


def confluent_mtls(mtls, who=None, **extra):
    bootstrap, certs = mtls
    config = {"bootstrap.servers": bootstrap, "security.protocol": "SSL",
              "ssl.ca.location": os.path.join(certs, "ca.crt"), "broker.address.family": "v4", **extra}
    if who:
        config["ssl.certificate.location"] = os.path.join(certs, f"{who}.crt")
        config["ssl.key.location"] = os.path.join(certs, f"{who}.key")
    return config


def confluent_refused(config, topic):
    """Produces one record with `config`: the delivery error and the errors
    the client reported. The record must not be delivered."""
    errors, delivered = [], []
    producer = Producer({**config, "message.timeout.ms": 6000, "error_cb": errors.append})
    producer.produce(topic, value=b"intruder", partition=0, on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(20)
    assert len(delivered) == 1 and delivered[0] is not None, delivered
    return delivered[0], errors


def test_confluent_kafka_mutual_tls_principal_produces_and_consumes_in_a_group(mtls):
    alice = confluent_mtls(mtls, "alice")
    topic = unique_topic("mtls-confluent")
    values = binary_values("mtls", count=10)
    confluent_round_trip(alice, topic, values)

    # The same records through a consumer group (JoinGroup, SyncGroup,
    # OffsetCommit as User:alice), committed at the end.
    group = unique_topic("mtls-group")
    consumer = Consumer({**alice, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        got, deadline = [], time.time() + 30
        while len(got) < len(values) and time.time() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            got.append(message.value())
        assert got == values
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        assert committed[0].offset == len(values)
    finally:
        consumer.close()


def test_confluent_kafka_without_the_right_certificate_gets_no_data(mtls):
    topic = unique_topic("mtls-refused")
    confluent_round_trip(confluent_mtls(mtls, "alice"), topic, [b"alice's"])

    # No certificate, or one from a CA the broker does not trust (with
    # alice's subject): the handshake fails, nothing is delivered or read.
    for who in (None, "mallory"):
        failure, errors = confluent_refused(confluent_mtls(mtls, who), topic)
        assert failure.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._SSL), failure
        assert any(e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
                   for e in errors), (who, errors)
        consumer = Consumer({**confluent_mtls(mtls, who), "group.id": unique_topic("mtls-thief"),
                             "auto.offset.reset": "earliest"})
        try:
            consumer.assign([TopicPartition(topic, 0, 0)])
            deadline = time.time() + 5
            while time.time() < deadline:
                message = consumer.poll(0.5)
                assert message is None or message.error() is not None, (who, message.value())
        finally:
            consumer.close()

    # Bob's certificate is trusted: he connects as User:bob, whom no ACL
    # allows to write.
    failure, _ = confluent_refused(confluent_mtls(mtls, "bob"), topic)
    assert failure.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, failure

    # Only alice's record is there.
    confluent_round_trip(confluent_mtls(mtls, "alice"), unique_topic("mtls-after"), [b"still served"])
    consumer = Consumer({**confluent_mtls(mtls, "alice"), "group.id": unique_topic("mtls-check")})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert (low, high) == (0, 1)
    finally:
        consumer.close()


def test_kafka_python_mutual_tls(mtls):
    bootstrap, certs = mtls
    client = dict(bootstrap_servers=bootstrap, security_protocol="SSL",
                  ssl_cafile=os.path.join(certs, "ca.crt"))
    alice = dict(client, ssl_certfile=os.path.join(certs, "alice.crt"),
                 ssl_keyfile=os.path.join(certs, "alice.key"))
    topic = unique_topic("mtls-kafka-python")
    values = binary_values("mtls-kafka-python", count=5)
    kafka_python_round_trip(alice, topic, values)

    group = unique_topic("mtls-kp-group")
    consumer = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, **alice)
    try:
        got, deadline = [], time.time() + 30
        while len(got) < len(values) and time.time() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
        assert got == values
        consumer.commit()
    finally:
        consumer.close()

    # Without a certificate the broker ends the handshake: no producer, or
    # no send that succeeds.
    with pytest.raises(PyKafkaError):
        anonymous = KafkaProducer(request_timeout_ms=5000, max_block_ms=5000, **client)
        try:
            anonymous.send(topic, value=b"intruder", partition=0).get(timeout=10)
        finally:
            anonymous.close(timeout=5)
