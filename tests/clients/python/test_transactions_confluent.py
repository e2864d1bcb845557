"""confluent-kafka (librdkafka 2.16) transactions: commit and abort as
read_committed and read_uncommitted consumers see them (exact offsets, keys,
values, headers), an open transaction holding read_committed consumers at the
last stable offset, a consume-transform-produce loop that commits its input
offsets with send_offsets_to_transaction, and a zombie producer fenced by a
newer instance with the same transactional.id.

Offsets: each transaction's commit or abort marker takes one offset in every
partition it wrote to, so a transaction of n records on an empty partition is
followed by the next one at offset n + 1."""
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition

from conftest import create_topic, txn_wait_s, unique_topic

def txn_producer(bootstrap, txn_id, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "transactional.id": txn_id,
        "linger.ms": 5,
        "transaction.timeout.ms": 60000,
        "message.timeout.ms": 30000,
    }
    conf.update(extra)
    producer = Producer(conf)
    producer.init_transactions(txn_wait_s())
    return producer


def records(tag, n, first=0):
    """(key, value, headers) for n records of one transaction."""
    return [
        (f"k{i % 3}".encode(), f"{tag}-{i}".encode() + bytes([i % 256]) * (i % 7), [("txn", tag.encode())])
        for i in range(first, first + n)
    ]


def send_all(producer, topic, recs, partition=0):
    """Produces recs into the open transaction and waits for their delivery
    reports; returns the offsets they were acknowledged at."""
    reports = []
    for k, v, h in recs:
        producer.produce(topic, key=k, value=v, headers=h, partition=partition,
                         on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert producer.flush(txn_wait_s()) == 0, "records still queued after flush"
    assert len(reports) == len(recs)
    assert all(err is None for err, _ in reports), reports
    return [offset for _, offset in reports]


def consumer(bootstrap, isolation, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": f"txn-reader-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
        "isolation.level": isolation,
    }
    conf.update(extra)
    return Consumer(conf)


def read(bootstrap, topic, isolation, expected, partition=0, settle=1.0, timeout=20):
    """What a consumer with `isolation` reads from one partition from the
    start: waits for `expected` records, then `settle` seconds more so that
    anything extra would show. (offset, key, value, headers) tuples."""
    c = consumer(bootstrap, isolation)
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        out = []
        deadline = time.time() + timeout
        while len(out) < expected and time.time() < deadline:
            out += [as_tuple(m) for m in c.consume(num_messages=500, timeout=0.3)]
        settle_until = time.time() + settle
        while time.time() < settle_until:
            out += [as_tuple(m) for m in c.consume(num_messages=500, timeout=0.2)]
        return out
    finally:
        c.close()


def as_tuple(m):
    assert m.error() is None, f"consume error: {m.error()}"
    return (m.offset(), m.key(), m.value(), [tuple(h) for h in (m.headers() or [])])


def eventually(what, expected, timeout=10):
    """Polls what() until it returns `expected`; returns the last answer.
    EndTxn answers once the coordinator has decided, and Kafka writes the
    markers (which move the last stable offset and make a transaction's
    group offsets visible) after that, so a client sees the outcome a moment
    later."""
    deadline = time.time() + timeout
    while True:
        got = what()
        if got == expected or time.time() > deadline:
            return got
        time.sleep(0.1)


def at(first_offset, recs):
    return [(first_offset + i, k, v, h) for i, (k, v, h) in enumerate(recs)]


def test_commit_and_abort_as_each_isolation_level_sees_them(bootstrap, admin):
    topic = unique_topic("ck-txn")
    create_topic(admin, topic, partitions=1)
    first, aborted, second = records("first", 5), records("aborted", 4), records("second", 6)
    p = txn_producer(bootstrap, f"ck-txn-{uuid.uuid4().hex[:8]}")

    p.begin_transaction()
    assert send_all(p, topic, first) == list(range(0, 5))
    p.commit_transaction(txn_wait_s())            # marker at 5
    p.begin_transaction()
    assert send_all(p, topic, aborted) == list(range(6, 10))
    p.abort_transaction(txn_wait_s())             # marker at 10
    p.begin_transaction()
    assert send_all(p, topic, second) == list(range(11, 17))
    p.commit_transaction(txn_wait_s())            # marker at 17

    committed = at(0, first) + at(11, second)
    assert read(bootstrap, topic, "read_committed", len(committed)) == committed
    everything = at(0, first) + at(6, aborted) + at(11, second)
    assert read(bootstrap, topic, "read_uncommitted", len(everything)) == everything
    c = consumer(bootstrap, "read_committed")
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 18)
    finally:
        c.close()


def test_open_transaction_holds_read_committed_at_the_last_stable_offset(bootstrap, admin):
    topic = unique_topic("ck-lso")
    create_topic(admin, topic, partitions=1)
    before, pending = records("before", 3), records("pending", 4)
    p = txn_producer(bootstrap, f"ck-lso-{uuid.uuid4().hex[:8]}")
    p.begin_transaction()
    send_all(p, topic, before)
    p.commit_transaction(txn_wait_s())            # marker at 3
    p.begin_transaction()
    assert send_all(p, topic, pending) == list(range(4, 8))

    # Written (acknowledged) but not decided: read_committed stops before it.
    assert read(bootstrap, topic, "read_committed", len(before), settle=1.5) == at(0, before)
    assert read(bootstrap, topic, "read_uncommitted", 7) == at(0, before) + at(4, pending)
    tp = TopicPartition(topic, 0)
    rc, ru = consumer(bootstrap, "read_committed"), consumer(bootstrap, "read_uncommitted")
    try:
        # ListOffsets latest: the last stable offset for read_committed
        assert rc.get_watermark_offsets(tp, timeout=10, cached=False) == (0, 4)
        assert ru.get_watermark_offsets(tp, timeout=10, cached=False) == (0, 8)
        p.commit_transaction(txn_wait_s())        # marker at 8
        assert eventually(lambda: rc.get_watermark_offsets(tp, timeout=10, cached=False), (0, 9)) == (0, 9)
    finally:
        rc.close()
        ru.close()
    assert read(bootstrap, topic, "read_committed", 7) == at(0, before) + at(4, pending)


def transform(value):
    """The loop's deterministic function of an input record."""
    return b"out:" + value[::-1]


def test_consume_transform_produce_commits_input_offsets_in_the_transaction(bootstrap, admin):
    src, dst = unique_topic("ck-ctp-in"), unique_topic("ck-ctp-out")
    create_topic(admin, src, partitions=2)
    create_topic(admin, dst, partitions=2)
    n = 300
    plain = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    inputs = {}
    for i in range(n):
        value = f"input-{i}".encode()
        plain.produce(src, key=str(i).encode(), value=value, partition=i % 2)
        inputs.setdefault(i % 2, []).append(value)
    assert plain.flush(30) == 0

    group = f"ck-ctp-{uuid.uuid4().hex[:8]}"
    c = consumer(bootstrap, "read_committed", **{"group.id": group, "enable.auto.offset.store": False})
    p = txn_producer(bootstrap, f"ck-ctp-{uuid.uuid4().hex[:8]}")
    assignment = [TopicPartition(src, 0, OFFSET_BEGINNING), TopicPartition(src, 1, OFFSET_BEGINNING)]
    c.assign(assignment)
    done, aborted_once = 0, False
    deadline = time.time() + 60
    try:
        while done < n and time.time() < deadline:
            batch = [m for m in c.consume(num_messages=40, timeout=0.5)]
            if not batch:
                continue
            for m in batch:
                assert m.error() is None, m.error()
            p.begin_transaction()
            for m in batch:
                p.produce(dst, key=m.key(), value=transform(m.value()), partition=m.partition())
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), txn_wait_s())
            if not aborted_once and done >= n // 3:
                # One batch thrown away: rewind to what the group committed
                # and process it again; its first output must stay invisible.
                aborted_once = True
                # Flushed first: librdkafka's abort purges records still
                # queued in the producer, which would then never reach the
                # log (and the read_uncommitted check below would fail).
                assert p.flush(txn_wait_s()) == 0, "records still queued after flush"
                p.abort_transaction(txn_wait_s())
                committed = c.committed([TopicPartition(src, 0), TopicPartition(src, 1)], timeout=10)
                for tp in committed:
                    c.seek(TopicPartition(src, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
                continue
            p.commit_transaction(txn_wait_s())
            done += len(batch)
        assert done == n, f"processed {done} of {n} input records in 60 s"
        assert aborted_once
    finally:
        c.close()

    c2 = consumer(bootstrap, "read_committed", **{"group.id": group})
    try:
        committed = {tp.partition: tp.offset for tp in
                     c2.committed([TopicPartition(src, 0), TopicPartition(src, 1)], timeout=10)}
    finally:
        c2.close()
    assert committed == {0: len(inputs[0]), 1: len(inputs[1])}, "the group's offsets are the input's ends"
    uncommitted = 0
    for part in (0, 1):
        want = [transform(v) for v in inputs[part]]
        got = [v for _, _, v, _ in read(bootstrap, dst, "read_committed", len(want), partition=part)]
        assert got == want, f"output partition {part}: {len(got)} records, wanted {len(want)}"
        # The aborted batch's records are in the log, for read_uncommitted only.
        raw = [v for _, _, v, _ in read(bootstrap, dst, "read_uncommitted", len(want), partition=part)]
        assert set(raw) == set(want)
        uncommitted += len(raw)
    assert uncommitted > n, "the aborted batch's output is in the log"


def group_offsets(admin, group, topic, require_stable):
    """{partition: (offset, error code or None)} of partition 0 as
    OffsetFetch answers it (-1001: nothing committed)."""
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    answer = admin.list_consumer_group_offsets(req, require_stable=require_stable)[group].result(10)
    return {tp.partition: (tp.offset, tp.error.code() if tp.error else None) for tp in answer.topic_partitions}


def test_transactional_offsets_are_pending_until_commit_and_dropped_on_abort(bootstrap, admin):
    topic = unique_topic("ck-stable")
    create_topic(admin, topic, partitions=1)
    group = f"ck-stable-{uuid.uuid4().hex[:8]}"
    c = consumer(bootstrap, "read_committed", **{"group.id": group})
    p = txn_producer(bootstrap, f"ck-stable-{uuid.uuid4().hex[:8]}")
    try:
        p.begin_transaction()
        send_all(p, topic, records("x", 1))
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], c.consumer_group_metadata(), txn_wait_s())
        # Pending: invisible, and unstable for a client that asks for stable offsets.
        assert group_offsets(admin, group, topic, require_stable=False) == {0: (-1001, None)}
        assert group_offsets(admin, group, topic, require_stable=True) == {
            0: (-1001, KafkaError.UNSTABLE_OFFSET_COMMIT)}
        p.abort_transaction(txn_wait_s())
        stable = lambda: group_offsets(admin, group, topic, require_stable=True)  # noqa: E731
        assert eventually(stable, {0: (-1001, None)}) == {0: (-1001, None)}

        p.begin_transaction()
        send_all(p, topic, records("y", 1))
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 9)], c.consumer_group_metadata(), txn_wait_s())
        p.commit_transaction(txn_wait_s())
        assert eventually(stable, {0: (9, None)}) == {0: (9, None)}
        assert [tp.offset for tp in c.committed([TopicPartition(topic, 0)], timeout=10)] == [9]
    finally:
        c.close()


def fatal_code(exc_info):
    err = exc_info.value.args[0]
    assert err.fatal() or err.txn_requires_abort() or not err.retriable(), err
    return err.code()


def test_zombie_producer_is_fenced_and_its_open_transaction_aborted(bootstrap, admin):
    topic = unique_topic("ck-zombie")
    create_topic(admin, topic, partitions=1)
    txn_id = f"ck-zombie-{uuid.uuid4().hex[:8]}"
    early, zombie_open, newer = records("early", 2), records("zombie", 3), records("newer", 2)
    old = txn_producer(bootstrap, txn_id)
    old.begin_transaction()
    send_all(old, topic, early)
    old.commit_transaction(txn_wait_s())              # marker at 2
    old.begin_transaction()
    assert send_all(old, topic, zombie_open) == [3, 4, 5]

    # A newer instance with the same transactional.id: its InitProducerId
    # aborts the old instance's open transaction (marker at 6) and bumps the epoch.
    new = txn_producer(bootstrap, txn_id)
    with pytest.raises(KafkaException) as fenced:
        old.commit_transaction(txn_wait_s())
    assert fatal_code(fenced) in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                  KafkaError.INVALID_PRODUCER_EPOCH), fenced.value

    new.begin_transaction()
    assert send_all(new, topic, newer) == [7, 8]
    new.commit_transaction(txn_wait_s())              # marker at 9
    assert read(bootstrap, topic, "read_committed", 4) == at(0, early) + at(7, newer)
    assert read(bootstrap, topic, "read_uncommitted", 7) == at(0, early) + at(3, zombie_open) + at(7, newer)
