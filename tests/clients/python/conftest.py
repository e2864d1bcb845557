"""Shared fixtures for the Python client suites.

The broker is started by ../run.sh, which passes its address in FJORD_BOOTSTRAP.
Every test works on topics of its own (uuid-suffixed names), so tests don't
depend on each other's data.
"""
import contextlib
import os
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

# Set by tests/clients/run.sh when the suites run against Apache Kafka.
AGAINST_KAFKA = os.environ.get("FJORD_REFERENCE") == "kafka"

# Records per produce/consume round trip.
N_RECORDS = int(os.environ.get("FJORD_TEST_RECORDS", "2000"))
PARTITIONS = 4


# The broker binary run.sh uses, for tests that start a Fjord of their own
# with settings run.sh's broker lacks (an authorizer, client certificates).
FJORD_BIN = os.environ.get("FJORD_BIN")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def own_fjord(prefix, port, overrides):
    """A Fjord from FJORD_BIN with its own temporary data dir and
    `--override` settings (`overrides`, "name=value" strings), up once
    `port` accepts connections; stopped on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        log_path = os.path.join(data_dir, "broker.log")
        args = [FJORD_BIN, "serve", "--data-dir", os.path.join(data_dir, "data")]
        for override in overrides:
            args += ["--override", override]
        with open(log_path, "w") as log:
            broker = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.time() + 20
            while not listening(port):
                if broker.poll() is not None or time.time() > deadline:
                    with open(log_path) as log:
                        pytest.fail(f"the Fjord of {prefix} did not start:\n{log.read()[-3000:]}")
                time.sleep(0.1)
            yield
        finally:
            broker.terminate()
            try:
                broker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()


@pytest.fixture(scope="session")
def bootstrap():
    addr = os.environ.get("FJORD_BOOTSTRAP")
    if not addr:
        pytest.fail("FJORD_BOOTSTRAP is not set: run tests/clients/run.sh, which starts a broker")
    return addr


@pytest.fixture(scope="session")
def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def unique_topic(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(admin, name, partitions=PARTITIONS, config=None):
    fs = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10,
        request_timeout=15,
    )
    fs[name].result(timeout=20)
    wait_for_partitions(admin, name, partitions)


def wait_for_partitions(admin, name, partitions, timeout=15):
    """Wait until metadata shows `name` with `partitions` partitions, each with a leader."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None:
            last = sorted(t.partitions)
            if len(t.partitions) == partitions and all(p.leader >= 0 for p in t.partitions.values()) \
                    and partitions_answer(admin, name, partitions):
                return md
        time.sleep(0.2)
    raise AssertionError(f"topic {name}: wanted {partitions} partitions with leaders, last saw {last}")


def partitions_answer(admin, name, partitions):
    """Every partition answers ListOffsets. Kafka lists a new topic's leaders
    in metadata a moment before the leader serves it, and drops acks=0
    records sent in between; a producer that waits for this loses nothing."""
    wanted = {TopicPartition(name, p): OffsetSpec.latest() for p in range(partitions)}
    try:
        for future in admin.list_offsets(wanted, request_timeout=5).values():
            future.result(timeout=10)
    except KafkaException:
        return False
    return True


def topic_exists(admin, name):
    md = admin.list_topics(timeout=10)
    return name in md.topics


def make_records(n, tag):
    """n records: (key, value, headers). Keys repeat (50 distinct) so that the
    partitioner spreads them over every partition; values are unique and vary in
    size so that compressed batches are realistic."""
    out = []
    for i in range(n):
        key = f"key-{i % 50}".encode()
        value = (f"{tag}-value-{i}-" + "abcdefghij"[i % 10] * (i % 97)).encode()
        headers = [("idx", str(i).encode()), ("src", tag.encode())]
        out.append((key, value, headers))
    return out


def check_partition_logs(produced, consumed, exact_offsets=True):
    """Assert that what was consumed is exactly what was produced.

    produced: list of dicts {key, value, headers, partition, offset} in produce order;
              offset (and for some clients partition) is None when unknown (acks=0).
    consumed: list of dicts {key, value, headers, partition, offset}.
    Checks, per partition: same records in the same order, offsets 0..n-1 with no
    gap, and when known, the offset each record was acknowledged at.
    """
    if any(r["partition"] is None for r in produced):
        # acks=0 with a client that reports nothing back (aiokafka): take each
        # key's partition from what was read; one key must map to one partition.
        key_part = {}
        for r in consumed:
            assert key_part.setdefault(r["key"], r["partition"]) == r["partition"], (
                f"key {r['key']!r} read from partitions {key_part[r['key']]} and {r['partition']}"
            )
        missing = {r["key"] for r in produced} - set(key_part)
        assert not missing, f"no record read for keys {sorted(missing)[:10]}"
        produced = [dict(r, partition=key_part[r["key"]]) if r["partition"] is None else r for r in produced]
    by_part_prod = {}
    for r in produced:
        by_part_prod.setdefault(r["partition"], []).append(r)
    by_part_cons = {}
    for r in consumed:
        by_part_cons.setdefault(r["partition"], []).append(r)
    assert sorted(by_part_cons) == sorted(by_part_prod), (
        f"records landed in partitions {sorted(by_part_cons)}, produced to {sorted(by_part_prod)}"
    )
    for p, prod in by_part_prod.items():
        cons = by_part_cons[p]
        assert len(cons) == len(prod), f"partition {p}: consumed {len(cons)} records, produced {len(prod)}"
        for i, (a, b) in enumerate(zip(prod, cons)):
            where = f"partition {p} record #{i}"
            assert b["offset"] == i, f"{where}: offset {b['offset']}, expected {i} (gap or reordering)"
            if exact_offsets and a["offset"] is not None:
                assert b["offset"] == a["offset"], f"{where}: acked at offset {a['offset']}, read at {b['offset']}"
            assert b["key"] == a["key"], f"{where}: key {b['key']!r} != {a['key']!r}"
            assert b["value"] == a["value"], f"{where}: value {b['value'][:40]!r} != {a['value'][:40]!r}"
            assert list(b["headers"]) == list(a["headers"]), f"{where}: headers {b['headers']} != {a['headers']}"
    # one key, one partition: the producer's partitioner must be stable
    key_parts = {}
    for r in consumed:
        key_parts.setdefault(r["key"], set()).add(r["partition"])
    split = {k: v for k, v in key_parts.items() if len(v) > 1}
    assert not split, f"keys spread over several partitions: {split}"


def assert_stored_compressed(topic, records, compression):
    """Check that the broker stored compressed batches when the client was asked to
    compress (a client may silently fall back to uncompressed batches when it
    dislikes the broker's advertised API versions). Uses the broker's data dir,
    which run.sh passes in FJORD_TEST_DATA_DIR; skipped without it."""
    data = os.environ.get("FJORD_TEST_DATA_DIR")
    if not data:
        return
    import glob

    files = glob.glob(os.path.join(data, "**", f"{topic}-*", "*.log"), recursive=True)
    assert files, f"no log segments for {topic} under {data}"
    stored = sum(os.path.getsize(f) for f in files)
    raw = sum(len(k) + len(v) for k, v, _ in records)
    if compression in (None, "none"):
        assert stored >= raw, f"uncompressed topic stored {stored} bytes for {raw} bytes of keys and values"
    else:
        assert stored * 2 < raw, f"{compression}: stored {stored} bytes for {raw} bytes of keys and values"


# How long a test waits on one transactional step (init, flush, commit).
TXN_WAIT_S = 20


def txn_wait_s():
    return TXN_WAIT_S


def kafka_python_round_trip(client, topic, values):
    """kafka-python with `client` settings: produces `values` to partition 0
    with acks=all and reads them back from the start."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    producer = KafkaProducer(acks="all", request_timeout_ms=15000, **client)
    try:
        offsets = [producer.send(topic, value=v, partition=0).get(timeout=30).offset for v in values]
    finally:
        producer.close(timeout=10)
    assert offsets == list(range(len(values)))

    consumer = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=15000, **client)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        for message in consumer:
            got.append(message.value)
            if len(got) == len(values):
                break
    finally:
        consumer.close()
    assert got == values


def aiokafka_round_trip(client, topic, values):
    """As kafka_python_round_trip, with aiokafka."""
    import asyncio
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as AioTopicPartition

    async def run():
        producer = AIOKafkaProducer(acks="all", **client)
        await producer.start()
        try:
            offsets = [(await producer.send_and_wait(topic, v, partition=0)).offset for v in values]
        finally:
            await producer.stop()
        assert offsets == list(range(len(values)))

        consumer = AIOKafkaConsumer(enable_auto_commit=False, **client)
        await consumer.start()
        try:
            tp = AioTopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got = []
            while len(got) < len(values):
                batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000), 30)
                got.extend(m.value for m in batch.get(tp, []))
        finally:
            await consumer.stop()
        assert got == values

    asyncio.run(run())


def confluent_round_trip(config, topic, values):
    """confluent-kafka with `config`: produces `values` to partition 0 with
    acks=all (the first at offset 0) and reads them back."""
    from confluent_kafka import Consumer, Producer
    delivered = []
    producer = Producer({**config, "acks": "all", "enable.idempotence": False})
    for v in values:
        producer.produce(topic, value=v, partition=0,
                         on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    assert producer.flush(30) == 0
    assert delivered == [(None, i) for i in range(len(values))]

    consumer = Consumer({**config, "group.id": "round-trip-unused", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = []
        while len(got) < len(values):
            message = consumer.poll(15)
            assert message is not None, f"only {len(got)} of {len(values)} records"
            assert message.error() is None, message.error()
            got.append(message.value())
    finally:
        consumer.close()
    assert got == values
