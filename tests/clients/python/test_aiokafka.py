"""aiokafka: producer under every codec and acks level, group-less consumer
(group_id=None + assign + seek_to_beginning)."""
import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from conftest import AGAINST_KAFKA, N_RECORDS, assert_stored_compressed, PARTITIONS, check_partition_logs, create_topic, make_records, unique_topic

COMPRESSIONS = [None, "gzip", "snappy", "lz4", "zstd"]
ACKS = [0, 1, "all"]


async def produce(bootstrap, topic, records, compression, acks):
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=compression,
        acks=acks,
        linger_ms=5,
        request_timeout_ms=15000,
    )
    await producer.start()
    try:
        futs = [await producer.send(topic, key=k, value=v, headers=h) for k, v, h in records]
        await producer.flush()
        produced = []
        for (k, v, h), f in zip(records, futs):
            md = await asyncio.wait_for(f, 30)
            if md is None:  # acks=0: aiokafka resolves the future with None
                assert acks == 0
                produced.append(dict(key=k, value=v, headers=h, partition=None, offset=None))
            else:
                produced.append(dict(key=k, value=v, headers=h, partition=md.partition,
                                     offset=md.offset if md.offset >= 0 else None))
        return produced
    finally:
        await producer.stop()


async def consume(bootstrap, topic, partitions, expected, timeout=30):
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out = []
        deadline = time.time() + timeout

        def take(batches):
            for msgs in batches.values():
                for m in msgs:
                    out.append(dict(key=m.key, value=m.value, headers=[tuple(x) for x in m.headers],
                                    partition=m.partition, offset=m.offset))

        while len(out) < expected and time.time() < deadline:
            take(await consumer.getmany(timeout_ms=500, max_records=1000))
        take(await consumer.getmany(timeout_ms=300))  # duplicates would show here
        return out
    finally:
        await consumer.stop()


@pytest.mark.parametrize("acks", ACKS, ids=lambda a: f"acks={a}")
@pytest.mark.parametrize("compression", COMPRESSIONS, ids=lambda c: c or "none")
def test_produce_consume(bootstrap, admin, compression, acks):
    topic = unique_topic(f"aio-{compression or 'none'}-{acks}")
    create_topic(admin, topic)
    records = make_records(N_RECORDS, "aio")

    async def run():
        produced = await produce(bootstrap, topic, records, compression, acks)
        consumed = await consume(bootstrap, topic, PARTITIONS, len(records))
        return produced, consumed

    produced, consumed = asyncio.run(run())
    if acks != 0:
        assert {r["partition"] for r in produced} == set(range(PARTITIONS)), "keys should cover all partitions"
    check_partition_logs(produced, consumed)
    assert_stored_compressed(topic, records, compression)
    assert {r["partition"] for r in consumed} == set(range(PARTITIONS)), "keys should cover all partitions"


def test_end_offsets_and_offsets_for_times(bootstrap, admin):
    topic = unique_topic("aio-offsets")
    create_topic(admin, topic, partitions=1)
    base = int(time.time() * 1000) - 120_000

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(20):
                await producer.send(topic, value=f"v{i}".encode(), partition=0, timestamp_ms=base + 1000 * i)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            return (
                await consumer.beginning_offsets([tp]),
                await consumer.end_offsets([tp]),
                await consumer.offsets_for_times({tp: base + 7500}),
                await consumer.offsets_for_times({tp: base + 10_000_000}),
            )
        finally:
            await consumer.stop()

    begin, end, at, beyond = asyncio.run(run())
    tp = TopicPartition(topic, 0)
    assert begin[tp] == 0
    assert end[tp] == 20
    assert at[tp].offset == 8 and at[tp].timestamp == base + 8000
    assert beyond[tp] is None, "a timestamp after the last record finds no offset"


@pytest.mark.skipif(AGAINST_KAFKA, reason="Fjord's choice: Kafka serves __consumer_offsets records "
                    "in its internal format; Fjord keeps offsets in its own store and refuses the read")
def test_consumer_offsets_is_internal_and_refuses_reads(bootstrap):
    """Kafka lists __consumer_offsets as an internal topic: shown with
    exclude_internal_topics=False, hidden by default. Its offsets live in
    Fjord's own store, so reading it fails at once with a clear error instead
    of waiting forever (issue 7, defect 7)."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import TopicAuthorizationFailedError

    async def run():
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            cluster = await client.fetch_all_metadata()
            shown = cluster.topics(exclude_internal_topics=False)
            hidden = cluster.topics()
            partitions = cluster.partitions_for_topic("__consumer_offsets")
        finally:
            await client.close()

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition("__consumer_offsets", 0)])
            with pytest.raises(TopicAuthorizationFailedError):
                await asyncio.wait_for(consumer.getone(), 20)
        finally:
            await consumer.stop()
        return shown, hidden, partitions

    shown, hidden, partitions = asyncio.run(run())
    assert "__consumer_offsets" in shown
    assert "__consumer_offsets" not in hidden
    assert partitions == set(range(50))
