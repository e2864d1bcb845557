"""confluent-kafka AdminClient and offset look-ups against fjord."""
import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from conftest import create_topic, topic_exists, unique_topic, wait_for_partitions
from test_confluent import consume, consumer_conf


def produce_simple(bootstrap, topic, n, partition, timestamps=None, prefix="m"):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    reports = []
    for i in range(n):
        kw = {}
        if timestamps is not None:
            kw["timestamp"] = timestamps[i]
        p.produce(topic, key=f"k{i}".encode(), value=f"{prefix}{i}".encode(), partition=partition,
                  on_delivery=lambda e, m: reports.append((e, m.partition(), m.offset())), **kw)
    assert p.flush(20) == 0
    assert all(e is None for e, _, _ in reports), reports
    return [off for _, _, off in reports]


def source_of(entry):
    """ConfigEntry.source is a ConfigSource or its int value, depending on the path."""
    return getattr(entry.source, "value", entry.source)


def kafka_error(exc_info):
    err = exc_info.value.args[0]
    assert isinstance(err, KafkaError), exc_info.value
    return err


def test_create_topic_with_config_and_describe_configs(admin):
    topic = unique_topic("adm-create")
    fs = admin.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=1,
                  config={"retention.ms": "123456789", "cleanup.policy": "delete"})],
        operation_timeout=10,
    )
    assert fs[topic].result(timeout=20) is None
    md = wait_for_partitions(admin, topic, 3)
    t = md.topics[topic]
    assert sorted(t.partitions) == [0, 1, 2]
    assert all(p.leader == md.orig_broker_id or p.leader >= 0 for p in t.partitions.values())

    res = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(timeout=20)
    assert "retention.ms" in configs, sorted(configs)
    entry = configs["retention.ms"]
    assert entry.value == "123456789"
    assert source_of(entry) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, entry.source
    assert not entry.is_default
    # a config we did not set is reported with its default
    if "segment.bytes" in configs:
        seg = configs["segment.bytes"]
        assert source_of(seg) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert int(seg.value) > 0


def test_create_topics_validate_only(admin):
    topic = unique_topic("adm-validate")
    fs = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)],
                             validate_only=True, operation_timeout=10)
    assert fs[topic].result(timeout=20) is None
    time.sleep(0.5)
    assert not topic_exists(admin, topic), "validate_only must not create the topic"


def test_create_existing_topic_fails(admin):
    topic = unique_topic("adm-dup")
    create_topic(admin, topic, partitions=1)
    fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=20)
    assert kafka_error(ei).code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_create_topic_invalid_partitions(admin):
    topic = unique_topic("adm-badparts")
    fs = admin.create_topics([NewTopic(topic, num_partitions=0, replication_factor=1)], operation_timeout=10)
    with pytest.raises((KafkaException, ValueError)):
        fs[topic].result(timeout=20)


def test_create_partitions_then_produce_to_new_partition(bootstrap, admin):
    topic = unique_topic("adm-parts")
    create_topic(admin, topic, partitions=2)
    fs = admin.create_partitions([NewPartitions(topic, 5)], operation_timeout=10)
    assert fs[topic].result(timeout=20) is None
    wait_for_partitions(admin, topic, 5)

    offsets = produce_simple(bootstrap, topic, 7, partition=4, prefix="new")
    assert offsets == list(range(7))
    got = consume(bootstrap, topic, [4], 7)
    assert [(r["partition"], r["offset"], r["value"]) for r in got] == [(4, i, f"new{i}".encode()) for i in range(7)]

    # shrinking is refused
    fs = admin.create_partitions([NewPartitions(topic, 3)], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=20)
    assert kafka_error(ei).code() == KafkaError.INVALID_PARTITIONS


def test_delete_records_moves_low_watermark(bootstrap, admin):
    topic = unique_topic("adm-delrec")
    create_topic(admin, topic, partitions=2)
    produce_simple(bootstrap, topic, 100, partition=0)
    res = admin.delete_records([TopicPartition(topic, 0, 40)], operation_timeout=10)
    deleted = res[TopicPartition(topic, 0)].result(timeout=20)
    assert deleted.low_watermark == 40

    c = Consumer(consumer_conf(bootstrap))
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        assert (lo, hi) == (40, 100)
    finally:
        c.close()
    got = consume(bootstrap, topic, [0], 60)
    assert [r["offset"] for r in got] == list(range(40, 100))
    assert got[0]["value"] == b"m40"

    # beyond the high watermark is an error
    res = admin.delete_records([TopicPartition(topic, 0, 1000)], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        res[TopicPartition(topic, 0)].result(timeout=20)
    assert kafka_error(ei).code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_delete_topics(admin):
    topic = unique_topic("adm-del")
    create_topic(admin, topic, partitions=2)
    assert topic_exists(admin, topic)
    fs = admin.delete_topics([topic], operation_timeout=10)
    assert fs[topic].result(timeout=20) is None
    deadline = time.time() + 10
    while topic_exists(admin, topic) and time.time() < deadline:
        time.sleep(0.2)
    assert not topic_exists(admin, topic), "deleted topic is still listed"

    fs = admin.delete_topics([topic], operation_timeout=10)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(timeout=20)
    assert kafka_error(ei).code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_list_offsets_and_watermarks(bootstrap, admin):
    topic = unique_topic("adm-listoff")
    create_topic(admin, topic, partitions=2)
    base = int(time.time() * 1000) - 3_600_000
    stamps = [base + 1000 * i for i in range(30)]
    produce_simple(bootstrap, topic, 30, partition=1, timestamps=stamps)
    tp = TopicPartition(topic, 1)

    specs = {
        TopicPartition(topic, 1, 0): OffsetSpec.earliest(),
    }
    earliest = admin.list_offsets(specs, request_timeout=15)[TopicPartition(topic, 1)].result(timeout=20)
    latest = admin.list_offsets({TopicPartition(topic, 1): OffsetSpec.latest()}, request_timeout=15)[
        TopicPartition(topic, 1)].result(timeout=20)
    at = admin.list_offsets({TopicPartition(topic, 1): OffsetSpec.for_timestamp(base + 12_500)}, request_timeout=15)[
        TopicPartition(topic, 1)].result(timeout=20)
    assert earliest.offset == 0
    assert latest.offset == 30
    assert at.offset == 13 and at.timestamp == base + 13_000

    empty = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.latest()}, request_timeout=15)[
        TopicPartition(topic, 0)].result(timeout=20)
    assert empty.offset == 0

    c = Consumer(consumer_conf(bootstrap))
    try:
        assert c.get_watermark_offsets(tp, timeout=10, cached=False) == (0, 30)
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 0)
        found = c.offsets_for_times([TopicPartition(topic, 1, base + 20_000)], timeout=10)
        assert [f.offset for f in found] == [20]
        found = c.offsets_for_times([TopicPartition(topic, 1, base - 5)], timeout=10)
        assert [f.offset for f in found] == [0]
        # after the last timestamp: no offset (librdkafka reports -1 = OFFSET_END)
        found = c.offsets_for_times([TopicPartition(topic, 1, base + 10_000_000)], timeout=10)
        assert found[0].offset == -1, found
        assert found[0].error is None
    finally:
        c.close()


def test_list_offsets_max_timestamp(bootstrap, admin):
    topic = unique_topic("adm-maxts")
    create_topic(admin, topic, partitions=1)
    base = int(time.time() * 1000) - 3_600_000
    stamps = [base + 10, base + 50, base + 20]
    produce_simple(bootstrap, topic, 3, partition=0, timestamps=stamps)
    r = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()}, request_timeout=15)[
        TopicPartition(topic, 0)].result(timeout=20)
    assert r.offset == 1 and r.timestamp == base + 50


def test_describe_cluster(admin):
    cluster = admin.describe_cluster(request_timeout=10).result(timeout=20)
    assert len(cluster.nodes) == 1
    node = cluster.nodes[0]
    assert node.host in ("127.0.0.1", "localhost")
    assert cluster.controller is not None and cluster.controller.id == node.id
    assert cluster.cluster_id


def test_describe_topics(admin):
    topic = unique_topic("adm-desc")
    create_topic(admin, topic, partitions=3)
    res = admin.describe_topics(TopicCollection([topic]), request_timeout=10)
    desc = res[topic].result(timeout=20)
    assert desc.name == topic
    assert len(desc.partitions) == 3
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    assert all(p.leader is not None for p in desc.partitions)
    assert desc.topic_id is not None and str(desc.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA"


def test_metadata_lists_broker(bootstrap, admin):
    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == 1
    b = next(iter(md.brokers.values()))
    host, port = bootstrap.rsplit(":", 1)
    assert (b.host, b.port) == (host, int(port))
    assert md.controller_id == b.id
