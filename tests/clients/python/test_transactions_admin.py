"""The admin side of transactions through kafka-python's admin client
(confluent-kafka's Python AdminClient has none of it): DescribeTransactions,
ListTransactions with its state, producer-id and duration filters, and
DescribeProducers, about one open and one committed transaction of
confluent-kafka producers, then after the open one commits."""
import uuid

from kafka import KafkaAdminClient
from kafka.structs import TopicPartition as KpTopicPartition

from conftest import create_topic, txn_wait_s, unique_topic
from test_transactions_confluent import eventually, records, send_all, txn_producer


def listed(answer, ids):
    """The transactional ids among `ids` in a list_transactions answer
    ({broker id: [TransactionListing]})."""
    return sorted(t.transactional_id for listings in answer.values() for t in listings if t.transactional_id in ids)


def test_describe_and_list_transactions_and_producers(bootstrap, admin):
    topic = unique_topic("kp-txn-admin")
    create_topic(admin, topic, partitions=1)
    open_id, done_id = f"kp-open-{uuid.uuid4().hex[:8]}", f"kp-done-{uuid.uuid4().hex[:8]}"
    ids = (open_id, done_id)
    done = txn_producer(bootstrap, done_id)
    done.begin_transaction()
    send_all(done, topic, records("done", 2))           # 0..1
    done.commit_transaction(txn_wait_s())               # marker at 2
    pending = txn_producer(bootstrap, open_id)
    pending.begin_transaction()
    send_all(pending, topic, records("open", 3))        # 3..5, left open

    ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=txn_wait_s() * 1000)
    try:
        described = ka.describe_transactions(list(ids))
        now_open, now_done = described[open_id], described[done_id]
        assert now_open.state.value == "Ongoing", now_open
        assert now_open.topic_partitions == {KpTopicPartition(topic, 0)}, now_open
        assert now_open.transaction_timeout_ms == 60000, now_open
        assert now_done.state.value == "CompleteCommit", now_done
        assert now_done.topic_partitions == set(), now_done
        assert now_open.producer_id != now_done.producer_id

        assert listed(ka.list_transactions(), ids) == sorted(ids)
        assert listed(ka.list_transactions(state_filters=["Ongoing"]), ids) == [open_id]
        assert listed(ka.list_transactions(state_filters=["CompleteCommit"]), ids) == [done_id]
        assert listed(ka.list_transactions(producer_id_filters=[now_done.producer_id]), ids) == [done_id]
        assert listed(ka.list_transactions(duration_filter_ms=0), ids) == sorted(ids)
        assert listed(ka.list_transactions(duration_filter_ms=3_600_000), ids) == []

        tp = KpTopicPartition(topic, 0)
        producers = {p.producer_id: p for p in ka.describe_producers([tp])[tp].active_producers}
        assert producers[now_open.producer_id].current_transaction_start_offset == 3
        assert producers[now_open.producer_id].last_sequence == 2
        assert producers[now_done.producer_id].current_transaction_start_offset == -1
        assert producers[now_done.producer_id].last_sequence == 1

        pending.commit_transaction(txn_wait_s())        # marker at 6
        assert eventually(lambda: ka.describe_transactions([open_id])[open_id].state.value,
                          "CompleteCommit") == "CompleteCommit"
        start = lambda: {p.producer_id: p.current_transaction_start_offset  # noqa: E731
                         for p in ka.describe_producers([tp])[tp].active_producers}[now_open.producer_id]
        assert eventually(start, -1) == -1
        assert listed(ka.list_transactions(state_filters=["Ongoing"]), ids) == []
    finally:
        ka.close()
