"""Consumer groups: kafka-python, aiokafka and confluent-kafka each consume
one shared topic in a group of their own and get every record, commit, and
see their committed offsets; confluent-kafka's AdminClient lists, describes
and deletes groups and lists/alters group offsets; kafka-python's admin
deletes group offsets (OffsetDelete is not in confluent-kafka's Python API)."""
import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer

from conftest import PARTITIONS, create_topic, unique_topic

N = 400
DEADLINE = 60


def produce(bootstrap, topic, n=N):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = set()
    for i in range(n):
        v = f"group-record-{i}".encode()
        p.produce(topic, value=v, key=str(i % 17).encode())
        values.add(v)
    assert p.flush(30) == 0
    return values


def committed_total(admin, group, topic):
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]
    res = admin.list_consumer_group_offsets(req)[group].result(timeout=20)
    return sum(tp.offset for tp in res.topic_partitions if tp.offset >= 0)


@pytest.fixture(scope="module")
def shared_topic(bootstrap, admin):
    topic = unique_topic("groups")
    create_topic(admin, topic)
    return topic, produce(bootstrap, topic)


def test_kafka_python_group(bootstrap, admin, shared_topic):
    topic, values = shared_topic
    group = f"kp-{uuid.uuid4().hex[:8]}"
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False)
    seen = set()
    deadline = time.time() + DEADLINE
    while seen != values and time.time() < deadline:
        for records in c.poll(timeout_ms=500).values():
            seen.update(r.value for r in records)
    c.commit()
    c.close()
    assert seen == values
    assert committed_total(admin, group, topic) == N


def test_aiokafka_group(bootstrap, admin, shared_topic):
    topic, values = shared_topic
    group = f"aio-{uuid.uuid4().hex[:8]}"

    async def run():
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        seen = set()
        try:
            deadline = time.time() + DEADLINE
            while seen != values and time.time() < deadline:
                batches = await c.getmany(timeout_ms=500)
                for records in batches.values():
                    seen.update(r.value for r in records)
            await c.commit()
        finally:
            await c.stop()
        return seen

    assert asyncio.run(run()) == values
    assert committed_total(admin, group, topic) == N


def confluent_consume(bootstrap, topic, group, values):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    seen = set()
    deadline = time.time() + DEADLINE
    while seen != values and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        seen.add(m.value())
        c.commit(message=m, asynchronous=False)
    return c, seen


def test_confluent_group_and_admin(bootstrap, admin, shared_topic):
    topic, values = shared_topic
    group = f"ck-{uuid.uuid4().hex[:8]}"
    c, seen = confluent_consume(bootstrap, topic, group, values)
    assert seen == values

    # While the member is in the group: listed and described as Stable.
    listed = admin.list_consumer_groups().result(timeout=20)
    assert group in {g.group_id for g in listed.valid}
    desc = admin.describe_consumer_groups([group])[group].result(timeout=20)
    assert desc.state.name == "STABLE"
    assert len(desc.members) == 1
    assigned = {tp.partition for tp in desc.members[0].assignment.topic_partitions}
    assert assigned == set(range(PARTITIONS))
    # A group with a member cannot be deleted.
    with pytest.raises(Exception):
        admin.delete_consumer_groups([group])[group].result(timeout=20)
    c.close()

    assert committed_total(admin, group, topic) == N
    # Alter the offsets of the now empty group, read them back.
    new = [TopicPartition(topic, p, 1) for p in range(PARTITIONS)]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, new)])[group].result(timeout=20)
    assert committed_total(admin, group, topic) == PARTITIONS

    desc = admin.describe_consumer_groups([group])[group].result(timeout=20)
    assert desc.state.name == "EMPTY"
    admin.delete_consumer_groups([group])[group].result(timeout=20)
    listed = admin.list_consumer_groups().result(timeout=20)
    assert group not in {g.group_id for g in listed.valid}


def test_kafka_python_admin_deletes_group_offsets(bootstrap, admin, shared_topic):
    topic, values = shared_topic
    group = f"kpadmin-{uuid.uuid4().hex[:8]}"
    c, seen = confluent_consume(bootstrap, topic, group, values)
    c.close()
    assert committed_total(admin, group, topic) == N
    ka = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = ka.list_group_offsets(group)[group]
        assert len(offsets) == PARTITIONS
        first = sorted(offsets, key=lambda tp: tp.partition)[0]
        ka.delete_group_offsets(group, [first])
        remaining = ka.list_group_offsets(group)[group]
        assert len(remaining) == PARTITIONS - 1
        assert first not in remaining
    finally:
        ka.close()
