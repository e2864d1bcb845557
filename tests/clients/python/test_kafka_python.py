"""kafka-python 3.x: produce keyed records with headers under every codec and acks
level, read them back with a group-less consumer (assign + seek_to_beginning)."""
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from conftest import N_RECORDS, assert_stored_compressed, PARTITIONS, check_partition_logs, create_topic, make_records, unique_topic

COMPRESSIONS = [None, "gzip", "snappy", "lz4", "zstd"]
ACKS = [0, 1, "all"]


def produce(bootstrap, topic, records, compression, acks):
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=compression,
        acks=acks,
        # kafka-python 3.x turns idempotence on by default, which needs acks=all;
        # this runs every acks value (test_default_producer_acks_all_is_idempotent
        # covers the default).
        enable_idempotence=False,
        linger_ms=5,
        batch_size=64 * 1024,
        request_timeout_ms=15000,
    )
    try:
        futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in records]
        producer.flush(timeout=30)
        produced = []
        for (k, v, h), f in zip(records, futures):
            md = f.get(timeout=30)  # raises on a delivery error
            # with acks=0 there is no base offset: kafka-python reports made-up offsets
            offset = md.offset if acks != 0 and md.offset >= 0 else None
            produced.append(dict(key=k, value=v, headers=h, partition=md.partition, offset=offset))
        return produced
    finally:
        producer.close(timeout=10)


def consume(bootstrap, topic, partitions, expected, timeout=30):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        request_timeout_ms=15000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out = []
        deadline = time.time() + timeout
        while len(out) < expected and time.time() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                for m in msgs:
                    out.append(
                        dict(
                            key=m.key,
                            value=m.value,
                            headers=[tuple(x) for x in m.headers],
                            partition=m.partition,
                            offset=m.offset,
                        )
                    )
        # one more poll: anything beyond `expected` is a duplicate and must fail the test
        for tp, msgs in consumer.poll(timeout_ms=300).items():
            for m in msgs:
                out.append(dict(key=m.key, value=m.value, headers=[tuple(x) for x in m.headers],
                                partition=m.partition, offset=m.offset))
        return out
    finally:
        consumer.close()


@pytest.mark.parametrize("acks", ACKS, ids=lambda a: f"acks={a}")
@pytest.mark.parametrize("compression", COMPRESSIONS, ids=lambda c: c or "none")
def test_produce_consume(bootstrap, admin, compression, acks):
    topic = unique_topic(f"kp-{compression or 'none'}-{acks}")
    create_topic(admin, topic)
    records = make_records(N_RECORDS, "kp")
    produced = produce(bootstrap, topic, records, compression, acks)
    assert {r["partition"] for r in produced} == set(range(PARTITIONS)), "keys should cover all partitions"
    consumed = consume(bootstrap, topic, PARTITIONS, len(records))
    check_partition_logs(produced, consumed)
    assert_stored_compressed(topic, records, compression)


def test_auto_create_on_produce(bootstrap, admin):
    """Producing to an unknown topic creates it with num.partitions (run.sh sets 4)."""
    topic = unique_topic("kp-auto")
    records = make_records(20, "auto")
    produced = produce(bootstrap, topic, records, None, 1)
    md = admin.list_topics(topic=topic, timeout=10)
    assert topic in md.topics and md.topics[topic].error is None
    assert len(md.topics[topic].partitions) == PARTITIONS
    consumed = consume(bootstrap, topic, PARTITIONS, len(records))
    check_partition_logs(produced, consumed)


def test_explicit_partition_and_timestamp(bootstrap, admin):
    topic = unique_topic("kp-ts")
    create_topic(admin, topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    base = int(time.time() * 1000) - 60_000
    try:
        mds = [producer.send(topic, key=b"k", value=f"v{i}".encode(), partition=2, timestamp_ms=base + i)
               for i in range(10)]
        producer.flush(10)
        offsets = [f.get(10).offset for f in mds]
    finally:
        producer.close(10)
    assert offsets == list(range(10))
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 2)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        deadline = time.time() + 20
        while len(got) < 10 and time.time() < deadline:
            for msgs in consumer.poll(timeout_ms=500).values():
                got.extend(msgs)
        assert [(m.offset, m.value, m.timestamp) for m in got] == [
            (i, f"v{i}".encode(), base + i) for i in range(10)
        ]
        # ListOffsets by timestamp and the end offsets, through kafka-python
        found = consumer.offsets_for_times({tp: base + 5})
        assert found[tp].offset == 5 and found[tp].timestamp == base + 5
        assert consumer.end_offsets([tp])[tp] == 10
        assert consumer.beginning_offsets([tp])[tp] == 0
    finally:
        consumer.close()


def test_default_producer_acks_all_is_idempotent(bootstrap, admin):
    topic = unique_topic("kp-idem")
    create_topic(admin, topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000)
    try:
        md = producer.send(topic, key=b"k", value=b"v").get(timeout=20)
    finally:
        producer.close(timeout=5)
    assert md.offset == 0
