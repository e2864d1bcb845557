"""confluent-kafka (librdkafka 2.16): produce keyed records with headers under
every codec and acks level, read them back with assign() (no group membership:
group.id is set, as librdkafka requires for a consumer, but nothing is committed)."""
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from conftest import N_RECORDS, assert_stored_compressed, PARTITIONS, check_partition_logs, create_topic, make_records, unique_topic

COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"]
ACKS = ["0", "1", "all"]


def produce(bootstrap, topic, records, compression, acks):
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": compression,
            "acks": acks,
            "linger.ms": 5,
            "message.timeout.ms": 30000,
        }
    )
    reports = [None] * len(records)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err, msg.partition(), msg.offset())
        return cb

    for i, (k, v, h) in enumerate(records):
        while True:
            try:
                producer.produce(topic, key=k, value=v, headers=h, on_delivery=on_delivery(i))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages still queued after flush"
    produced = []
    for (k, v, h), rep in zip(records, reports):
        assert rep is not None, "no delivery report"
        err, part, off = rep
        assert err is None, f"delivery failed: {err}"
        # acks=0: librdkafka reports no offset (None)
        produced.append(dict(key=k, value=v, headers=h, partition=part,
                             offset=off if off is not None and off >= 0 else None))
    return produced


def consumer_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        # librdkafka wants a group.id for a consumer; with assign() and no commits
        # the group coordinator is never needed for fetching.
        "group.id": "fjord-client-tests-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 200,
        "enable.partition.eof": False,
    }
    conf.update(extra)
    return conf


def consume(bootstrap, topic, partitions, expected, timeout=30, start=OFFSET_BEGINNING):
    consumer = Consumer(consumer_conf(bootstrap))
    try:
        consumer.assign([TopicPartition(topic, p, start) for p in partitions])
        out = []
        deadline = time.time() + timeout
        while len(out) < expected and time.time() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                assert m.error() is None, f"consume error: {m.error()}"
                out.append(
                    dict(
                        key=m.key(),
                        value=m.value(),
                        headers=[tuple(x) for x in (m.headers() or [])],
                        partition=m.partition(),
                        offset=m.offset(),
                    )
                )
        for m in consumer.consume(num_messages=1000, timeout=0.3):  # duplicates would show here
            if m.error() is None:
                out.append(dict(key=m.key(), value=m.value(), headers=[tuple(x) for x in (m.headers() or [])],
                                partition=m.partition(), offset=m.offset()))
        return out
    finally:
        consumer.close()


@pytest.mark.parametrize("acks", ACKS, ids=lambda a: f"acks={a}")
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_produce_consume(bootstrap, admin, compression, acks):
    topic = unique_topic(f"ck-{compression}-{acks}")
    create_topic(admin, topic)
    records = make_records(N_RECORDS, "ck")
    produced = produce(bootstrap, topic, records, compression, acks)
    assert {r["partition"] for r in produced} == set(range(PARTITIONS)), "keys should cover all partitions"
    consumed = consume(bootstrap, topic, range(PARTITIONS), len(records))
    check_partition_logs(produced, consumed)
    assert_stored_compressed(topic, records, compression)


def test_cross_client_kafka_python_reads_confluent_zstd(bootstrap, admin):
    """Batches written by librdkafka are read back byte-exact by another client."""
    from test_kafka_python import consume as kp_consume

    topic = unique_topic("ck-cross")
    create_topic(admin, topic)
    records = make_records(500, "cross")
    produced = produce(bootstrap, topic, records, "zstd", "all")
    consumed = kp_consume(bootstrap, topic, PARTITIONS, len(records))
    check_partition_logs(produced, consumed)


def test_auto_create_via_producer(bootstrap, admin):
    topic = unique_topic("ck-auto")
    records = make_records(40, "auto")
    produced = produce(bootstrap, topic, records, "lz4", "1")
    md = admin.list_topics(topic=topic, timeout=10)
    assert len(md.topics[topic].partitions) == PARTITIONS, "auto-created topic should get num.partitions=4"
    consumed = consume(bootstrap, topic, range(PARTITIONS), len(records))
    check_partition_logs(produced, consumed)


def test_unknown_partition_is_refused(bootstrap, admin):
    topic = unique_topic("ck-badpart")
    create_topic(admin, topic, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 5000})
    errs = []
    producer.produce(topic, value=b"x", partition=7, on_delivery=lambda e, m: errs.append(e))
    producer.flush(10)
    assert len(errs) == 1 and errs[0] is not None
    assert errs[0].code() in (KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART), errs[0]
