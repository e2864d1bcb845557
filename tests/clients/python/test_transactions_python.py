"""The pure-Python clients' transactions: aiokafka's and kafka-python's
transactional producers commit and abort (each client's own read_committed
consumer sees exactly the committed records at their offsets, a
read_uncommitted one sees everything), and commit a group's input offsets with
send_offsets_to_transaction (the group's committed offsets checked after the
commit). See test_transactions_confluent.py for the offset arithmetic: each
commit or abort marker takes one offset."""
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KpTopicPartition

from conftest import create_topic, txn_wait_s, unique_topic
from test_transactions_confluent import eventually, group_offsets, read


def records(tag, n):
    return [(f"k{i % 3}".encode(), f"{tag}-{i}".encode(), [("txn", tag.encode())]) for i in range(n)]


def at(first_offset, recs):
    return [(first_offset + i, k, v, h) for i, (k, v, h) in enumerate(recs)]


# ------------------------------------------------------------------ aiokafka

async def aio_send_all(producer, topic, recs):
    futures = [await producer.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in recs]
    # Every outcome retrieved, failed ones too (no "never retrieved" noise).
    outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), txn_wait_s())
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [metadata.offset for metadata in outcomes]


async def aio_read_committed(bootstrap, topic, expected, settle=1.0):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed", fetch_max_wait_ms=100)
    await consumer.start()
    try:
        tp = AioTopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        out = []
        deadline = time.time() + 20
        while time.time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                out += [(m.offset, m.key, m.value, [(k, v) for k, v in m.headers]) for m in msgs]
            if len(out) >= expected:
                deadline = min(deadline, time.time() + settle)
        return out
    finally:
        await consumer.stop()


def test_aiokafka_commit_and_abort(bootstrap, admin):
    topic = unique_topic("aio-txn")
    create_topic(admin, topic, partitions=1)
    first, aborted, second = records("first", 4), records("aborted", 3), records("second", 5)

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"aio-txn-{uuid.uuid4().hex[:8]}",
                                    request_timeout_ms=txn_wait_s() * 1000, linger_ms=5)
        await asyncio.wait_for(producer.start(), txn_wait_s())
        try:
            async with producer.transaction():
                assert await aio_send_all(producer, topic, first) == [0, 1, 2, 3]     # marker at 4
            await asyncio.wait_for(producer.begin_transaction(), txn_wait_s())
            assert await aio_send_all(producer, topic, aborted) == [5, 6, 7]          # marker at 8
            await asyncio.wait_for(producer.abort_transaction(), txn_wait_s())
            async with producer.transaction():
                assert await aio_send_all(producer, topic, second) == [9, 10, 11, 12, 13]  # marker at 14
        finally:
            await producer.stop()
        return await aio_read_committed(bootstrap, topic, 9)

    assert asyncio.run(run()) == at(0, first) + at(9, second)
    assert read(bootstrap, topic, "read_uncommitted", 12) == at(0, first) + at(5, aborted) + at(9, second)


def test_aiokafka_send_offsets_to_transaction(bootstrap, admin):
    src, dst = unique_topic("aio-ctp-in"), unique_topic("aio-ctp-out")
    create_topic(admin, src, partitions=1)
    create_topic(admin, dst, partitions=1)
    group = f"aio-ctp-{uuid.uuid4().hex[:8]}"
    inputs = [f"in-{i}".encode() for i in range(30)]

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"aio-ctp-{uuid.uuid4().hex[:8]}",
                                    request_timeout_ms=txn_wait_s() * 1000, linger_ms=5)
        await asyncio.wait_for(producer.start(), txn_wait_s())
        try:
            # The input, in a transaction of its own.
            async with producer.transaction():
                await aio_send_all(producer, src, [(None, v, []) for v in inputs])
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                        isolation_level="read_committed", auto_offset_reset="earliest")
            await consumer.start()
            try:
                tp = AioTopicPartition(src, 0)
                consumer.assign([tp])
                seen = []
                deadline = time.time() + 20
                while len(seen) < len(inputs) and time.time() < deadline:
                    for msgs in (await consumer.getmany(timeout_ms=200, max_records=10)).values():
                        async with producer.transaction():
                            for m in msgs:
                                await producer.send(dst, value=m.value.upper(), partition=0)
                            await producer.send_offsets_to_transaction({tp: msgs[-1].offset + 1}, group)
                        seen += msgs
                return len(seen)
            finally:
                await consumer.stop()
        finally:
            await producer.stop()

    assert asyncio.run(run()) == len(inputs)
    # The last input record + 1 (its commit marker at 30 is not consumed).
    assert eventually(lambda: group_offsets(admin, group, src, require_stable=True), {0: (30, None)}) == {
        0: (30, None)}
    got = [v for _, _, v, _ in read(bootstrap, dst, "read_committed", len(inputs))]
    assert got == [v.upper() for v in inputs]


# -------------------------------------------------------------- kafka-python

def kp_producer(bootstrap, txn_id):
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id, linger_ms=5,
                             max_block_ms=txn_wait_s() * 1000, request_timeout_ms=txn_wait_s() * 1000)
    producer.init_transactions()
    return producer


def kp_send_all(producer, topic, recs):
    futures = [producer.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in recs]
    producer.flush(timeout=txn_wait_s())
    return [f.get(timeout=txn_wait_s()).offset for f in futures]


def kp_read_committed(bootstrap, topic, expected, settle=1.0):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed", fetch_max_wait_ms=100)
    try:
        tp = KpTopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        out = []
        deadline = time.time() + 20
        while time.time() < deadline:
            for msgs in consumer.poll(timeout_ms=200).values():
                out += [(m.offset, m.key, m.value, [(k, v) for k, v in m.headers]) for m in msgs]
            if len(out) >= expected:
                deadline = min(deadline, time.time() + settle)
        return out
    finally:
        consumer.close()


def test_kafka_python_commit_and_abort(bootstrap, admin):
    topic = unique_topic("kp-txn")
    create_topic(admin, topic, partitions=1)
    first, aborted, second = records("first", 4), records("aborted", 3), records("second", 5)
    producer = kp_producer(bootstrap, f"kp-txn-{uuid.uuid4().hex[:8]}")
    try:
        producer.begin_transaction()
        assert kp_send_all(producer, topic, first) == [0, 1, 2, 3]
        producer.commit_transaction()                       # marker at 4
        producer.begin_transaction()
        assert kp_send_all(producer, topic, aborted) == [5, 6, 7]
        producer.abort_transaction()                        # marker at 8
        producer.begin_transaction()
        assert kp_send_all(producer, topic, second) == [9, 10, 11, 12, 13]
        producer.commit_transaction()                       # marker at 14
    finally:
        producer.close(timeout=5)
    assert kp_read_committed(bootstrap, topic, 9) == at(0, first) + at(9, second)
    assert read(bootstrap, topic, "read_uncommitted", 12) == at(0, first) + at(5, aborted) + at(9, second)


def test_kafka_python_send_offsets_to_transaction(bootstrap, admin):
    src, dst = unique_topic("kp-ctp-in"), unique_topic("kp-ctp-out")
    create_topic(admin, src, partitions=1)
    create_topic(admin, dst, partitions=1)
    group = f"kp-ctp-{uuid.uuid4().hex[:8]}"
    inputs = [f"in-{i}".encode() for i in range(30)]
    producer = kp_producer(bootstrap, f"kp-ctp-{uuid.uuid4().hex[:8]}")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             isolation_level="read_committed", auto_offset_reset="earliest")
    try:
        producer.begin_transaction()
        kp_send_all(producer, src, [(None, v, []) for v in inputs])
        producer.commit_transaction()
        tp = KpTopicPartition(src, 0)
        consumer.assign([tp])
        seen = 0
        deadline = time.time() + 20
        while seen < len(inputs) and time.time() < deadline:
            for msgs in consumer.poll(timeout_ms=200, max_records=10).values():
                producer.begin_transaction()
                for m in msgs:
                    producer.send(dst, value=m.value.upper(), partition=0)
                producer.send_offsets_to_transaction({tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1)}, group)
                producer.commit_transaction()
                seen += len(msgs)
        assert seen == len(inputs)
    finally:
        consumer.close()
        producer.close(timeout=5)
    assert eventually(lambda: group_offsets(admin, group, src, require_stable=True), {0: (30, None)}) == {
        0: (30, None)}
    got = [v for _, _, v, _ in read(bootstrap, dst, "read_committed", len(inputs))]
    assert got == [v.upper() for v in inputs]
