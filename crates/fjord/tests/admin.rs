//! Topic administration through rdkafka: auto-creation, create/delete/
//! re-create, DeleteRecords, CreatePartitions, CreateTopics errors and
//! DescribeConfigs.

mod common;

use std::time::Duration;

use common::{AnyBroker, TestBroker};
use futures::future::join_all;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

/// Produces `count` records `"{topic}:{i}"` to one partition; returns their offsets.
async fn produce_to(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<i64> {
    let values: Vec<String> = (0..count)
        .map(|i| format!("{topic}:{partition}:{i}"))
        .collect();
    let deliveries = values.iter().map(|value| {
        producer.send(
            FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(value),
            Timeout::After(common::WAIT),
        )
    });
    join_all(deliveries)
        .await
        .into_iter()
        .map(|d| {
            d.unwrap_or_else(|(e, _)| panic!("delivery to {topic}/{partition}: {e}"))
                .offset
        })
        .collect()
}

fn value_str(record: &common::Consumed) -> &str {
    std::str::from_utf8(record.value.as_deref().expect("value")).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_by_metadata_and_by_produce() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();

    // A metadata request that allows auto-creation creates the topic.
    let by_metadata = common::unique_topic("auto-meta");
    if let Some(fjord) = broker.fjord() {
        assert!(fjord.topics().get(&by_metadata).is_none());
    }
    let producer = common::producer(&bootstrap, &[("acks", "all")]);
    // The first answer may already list it (Fjord) or still say it is
    // being made (Kafka answers UNKNOWN_TOPIC_OR_PARTITION until its
    // controller has made it); clients ask again, and so does this test.
    let metadata = common::wait_for("the auto-created topic listed", common::WAIT, || {
        let (producer, name) = (producer.clone(), by_metadata.clone());
        async move {
            let metadata = common::topic_metadata(&producer, &name).await;
            let error = metadata.topics()[0].error();
            assert!(
                matches!(
                    error,
                    None | Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        | Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
                ),
                "{error:?}"
            );
            error.is_none().then_some(metadata)
        }
    })
    .await;
    let topic_meta = &metadata.topics()[0];
    assert_eq!(topic_meta.name(), by_metadata);
    assert_eq!(topic_meta.partitions().len(), 4, "num.partitions=4");
    for (i, p) in topic_meta.partitions().iter().enumerate() {
        assert_eq!(p.id(), i as i32);
        assert_eq!(p.leader(), 1);
        assert_eq!(p.replicas(), &[1]);
        assert_eq!(p.isr(), &[1]);
    }
    if let Some(fjord) = broker.fjord() {
        assert_eq!(
            fjord
                .topics()
                .get(&by_metadata)
                .expect("created")
                .partitions,
            4
        );
    }

    // Producing to an unknown topic creates it too.
    let by_produce = common::unique_topic("auto-produce");
    let delivery = producer
        .send(
            FutureRecord::to(&by_produce).key("k").payload("v"),
            Timeout::After(common::WAIT),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to new topic: {e}"));
    assert_eq!(delivery.offset, 0);
    let created = common::topic_metadata(&producer, &by_produce).await;
    assert_eq!(
        created.topics()[0].partitions().len(),
        4,
        "num.partitions=4"
    );
    if let Some(fjord) = broker.fjord() {
        assert_eq!(
            fjord.topics().get(&by_produce).expect("created").partitions,
            4
        );
    }
    let consumed = common::consume_n(
        &bootstrap,
        &by_produce,
        &[delivery.partition],
        Offset::Beginning,
        1,
        common::WAIT,
    )
    .await;
    assert_eq!(consumed[0].value.as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_create_disabled_answers_unknown_topic() {
    if common::skipped_for_external("starts its broker with auto.create.topics.enable=false") {
        return;
    }
    let broker = TestBroker::start(&[("auto.create.topics.enable", "false")]).await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("no-auto");

    let producer: FutureProducer = common::producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("message.timeout.ms", "5000"),
            ("topic.metadata.propagation.max.ms", "1000"),
        ],
    );
    let metadata = common::topic_metadata(&producer, &topic).await;
    let topic_meta = &metadata.topics()[0];
    assert_eq!(topic_meta.name(), topic);
    assert_eq!(
        topic_meta.error().map(RDKafkaErrorCode::from),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition)
    );
    assert!(topic_meta.partitions().is_empty());

    let failed = producer
        .send(
            FutureRecord::to(&topic).key("k").payload("v"),
            Timeout::After(common::WAIT),
        )
        .await;
    match failed {
        // librdkafka turns the broker's UNKNOWN_TOPIC_OR_PARTITION into its
        // local "unknown topic" error once the propagation time is over.
        Err((KafkaError::MessageProduction(code), _)) => assert!(
            matches!(
                code,
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
            ),
            "unexpected error {code:?}"
        ),
        other => panic!("produce to a missing topic should fail, got {other:?}"),
    }
    assert!(broker.running().broker().topics.get(&topic).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_and_recreate_gives_new_id_and_empty_log() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("recreate");
    common::create_topic(&bootstrap, &topic, 2, &[]).await;
    let old = broker
        .fjord()
        .map(|f| f.topics().get(&topic).expect("created"));

    let producer = common::producer(&bootstrap, &[("acks", "all")]);
    assert_eq!(
        produce_to(&producer, &topic, 0, 50).await,
        (0..50).collect::<Vec<_>>()
    );
    assert_eq!(
        produce_to(&producer, &topic, 1, 7).await,
        (0..7).collect::<Vec<_>>()
    );
    drop(producer);

    let admin = common::admin(&bootstrap);
    let deleted = admin
        .delete_topics(&[&topic], &common::admin_options())
        .await
        .expect("DeleteTopics");
    assert_eq!(deleted, vec![Ok(topic.clone())]);
    if let Some(fjord) = broker.fjord() {
        assert!(
            fjord.topics().get(&topic).is_none(),
            "gone from the registry"
        );
        assert!(
            !fjord.data_dir().join(format!("{topic}-0")).exists(),
            "partition directory removed"
        );
    }

    // Deleting again: UnknownTopicOrPartition.
    let again = admin
        .delete_topics(&[&topic], &common::admin_options())
        .await
        .expect("DeleteTopics");
    assert_eq!(
        again,
        vec![Err((
            topic.clone(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );

    common::create_topic(&bootstrap, &topic, 3, &[]).await;
    if let (Some(fjord), Some(old)) = (broker.fjord(), old) {
        let new = fjord.topics().get(&topic).expect("re-created");
        assert_ne!(new.id, old.id, "a re-created topic gets a new id");
        assert_eq!(new.partitions, 3);
    }
    for partition in 0..3 {
        assert_eq!(
            common::watermarks(&bootstrap, &topic, partition).await,
            (0, 0),
            "partition {partition} of the new topic is empty"
        );
    }
    let leftovers = common::consume_for(
        &bootstrap,
        &topic,
        &[0, 1, 2],
        Offset::Beginning,
        Duration::from_secs(2),
    )
    .await;
    assert!(leftovers.is_empty(), "old records came back: {leftovers:?}");

    // The new topic works from offset 0.
    let producer = common::producer(&bootstrap, &[("acks", "all")]);
    assert_eq!(produce_to(&producer, &topic, 0, 3).await, vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_records_moves_the_log_start() {
    let mut broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("delete-records");
    common::create_topic(&bootstrap, &topic, 2, &[]).await;
    let producer = common::producer(&bootstrap, &[("acks", "all"), ("batch.num.messages", "10")]);
    produce_to(&producer, &topic, 0, 100).await;
    produce_to(&producer, &topic, 1, 20).await;

    let admin = common::admin(&bootstrap);
    let mut request = TopicPartitionList::new();
    request
        .add_partition_offset(&topic, 0, Offset::Offset(40))
        .unwrap();
    request
        .add_partition_offset(&topic, 1, Offset::End)
        .unwrap();
    let answer = admin
        .delete_records(&request, &common::admin_options())
        .await
        .expect("DeleteRecords");
    let p0 = answer.find_partition(&topic, 0).expect("partition 0");
    assert_eq!(p0.error(), Ok(()));
    assert_eq!(
        p0.offset(),
        Offset::Offset(40),
        "low watermark of partition 0"
    );
    let p1 = answer.find_partition(&topic, 1).expect("partition 1");
    assert_eq!(p1.error(), Ok(()));
    assert_eq!(
        p1.offset(),
        Offset::Offset(20),
        "Offset::End deletes everything"
    );

    assert_eq!(common::watermarks(&bootstrap, &topic, 0).await, (40, 100));
    assert_eq!(common::watermarks(&bootstrap, &topic, 1).await, (20, 20));

    let consumed = common::consume_n(
        &bootstrap,
        &topic,
        &[0],
        Offset::Beginning,
        60,
        common::WAIT,
    )
    .await;
    for (n, record) in consumed.iter().enumerate() {
        let offset = 40 + n as i64;
        assert_eq!(record.offset, offset);
        assert_eq!(value_str(record), format!("{topic}:0:{offset}"));
    }

    // Beyond the high watermark: OffsetOutOfRange, and nothing moves.
    let mut too_far = TopicPartitionList::new();
    too_far
        .add_partition_offset(&topic, 0, Offset::Offset(101))
        .unwrap();
    let answer = admin
        .delete_records(&too_far, &common::admin_options())
        .await
        .expect("DeleteRecords");
    assert_eq!(
        answer.find_partition(&topic, 0).unwrap().error(),
        Err(KafkaError::OffsetFetch(RDKafkaErrorCode::OffsetOutOfRange))
    );
    assert_eq!(common::watermarks(&bootstrap, &topic, 0).await, (40, 100));

    // The log start survives a restart.
    let Some(broker) = broker.fjord_to_restart("the restart at the end of ") else {
        return;
    };
    broker.restart().await;
    assert_eq!(
        common::watermarks(&broker.bootstrap(), &topic, 0).await,
        (40, 100)
    );
    assert_eq!(
        common::watermarks(&broker.bootstrap(), &topic, 1).await,
        (20, 20)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_partitions_then_produce_to_them() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("grow");
    common::create_topic(&bootstrap, &topic, 2, &[]).await;
    let producer = common::producer(&bootstrap, &[("acks", "all")]);
    produce_to(&producer, &topic, 0, 5).await;
    drop(producer);

    let admin = common::admin(&bootstrap);
    let grown = admin
        .create_partitions([&NewPartitions::new(&topic, 5)], &common::admin_options())
        .await
        .expect("CreatePartitions");
    assert_eq!(grown, vec![Ok(topic.clone())]);
    common::wait_until_served(&bootstrap, &topic, 2..5).await;
    if let Some(fjord) = broker.fjord() {
        assert_eq!(fjord.topics().get(&topic).unwrap().partitions, 5);
    }

    // Shrinking is refused.
    let shrink = admin
        .create_partitions([&NewPartitions::new(&topic, 3)], &common::admin_options())
        .await
        .expect("CreatePartitions");
    assert_eq!(
        shrink,
        vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))]
    );

    // A fresh producer sees five partitions and can write to the new ones.
    let producer = common::producer(&bootstrap, &[("acks", "all")]);
    for partition in 2..5 {
        assert_eq!(
            produce_to(&producer, &topic, partition, 10 + partition as usize).await,
            (0..10 + partition as i64).collect::<Vec<_>>()
        );
    }
    for partition in 2..5 {
        let count = 10 + partition as usize;
        let consumed = common::consume_n(
            &bootstrap,
            &topic,
            &[partition],
            Offset::Beginning,
            count,
            common::WAIT,
        )
        .await;
        for (n, record) in consumed.iter().enumerate() {
            assert_eq!(record.partition, partition);
            assert_eq!(record.offset, n as i64);
            assert_eq!(value_str(record), format!("{topic}:{partition}:{n}"));
        }
        assert_eq!(
            common::watermarks(&bootstrap, &topic, partition).await,
            (0, count as i64)
        );
    }
    // The old partitions are untouched.
    assert_eq!(common::watermarks(&bootstrap, &topic, 0).await, (0, 5));
    assert_eq!(common::watermarks(&bootstrap, &topic, 1).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_topics_errors() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let admin = common::admin(&bootstrap);
    let options = common::admin_options();

    let rf3 = common::unique_topic("rf3");
    assert_eq!(
        refusal(
            &admin,
            &options,
            NewTopic::new(&rf3, 1, TopicReplication::Fixed(3))
        )
        .await,
        RDKafkaErrorCode::InvalidReplicationFactor
    );
    assert_absent(&broker, &rf3).await;

    let existing = common::unique_topic("existing");
    common::create_topic(&bootstrap, &existing, 1, &[]).await;
    assert_eq!(
        refusal(
            &admin,
            &options,
            NewTopic::new(&existing, 1, TopicReplication::Fixed(1))
        )
        .await,
        RDKafkaErrorCode::TopicAlreadyExists
    );

    for (name, value) in [
        ("retention.ms", "not-a-number"),
        ("segment.bytes", "-5"),
        ("cleanup.policy", "sideways"),
        ("no.such.config", "1"),
    ] {
        let bad = common::unique_topic("bad-config");
        let topic = NewTopic::new(&bad, 1, TopicReplication::Fixed(1)).set(name, value);
        assert_eq!(
            refusal(&admin, &options, topic).await,
            RDKafkaErrorCode::InvalidConfig,
            "{name}={value}"
        );
        assert_absent(&broker, &bad).await;
    }

    let bad_partitions = common::unique_topic("zero-partitions");
    assert_eq!(
        refusal(
            &admin,
            &options,
            NewTopic::new(&bad_partitions, 0, TopicReplication::Fixed(1))
        )
        .await,
        RDKafkaErrorCode::InvalidPartitions
    );
}

/// Fails the test if `topic` exists (asked without creating it).
async fn assert_absent(broker: &AnyBroker, topic: &str) {
    if let Some(fjord) = broker.fjord() {
        assert!(fjord.topics().get(topic).is_none(), "{topic} exists");
    }
    let consumer = common::base_consumer(&broker.bootstrap());
    let metadata = common::blocking({
        let topic = topic.to_string();
        move || {
            use rdkafka::consumer::Consumer;
            consumer.fetch_metadata(Some(&topic), common::WAIT)
        }
    })
    .await
    .expect("Metadata");
    assert_eq!(
        metadata.topics()[0].error(),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
        "{topic} exists"
    );
}

/// Asks to create one topic and returns the code the broker refused it
/// with; fails the test if it was created or the answer names another topic.
async fn refusal(
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
    topic: NewTopic<'_>,
) -> RDKafkaErrorCode {
    let name = topic.name.to_string();
    let result = admin
        .create_topics([&topic], options)
        .await
        .expect("CreateTopics");
    match result.as_slice() {
        [Err((refused, code))] if *refused == name => *code,
        other => panic!("expected {name} to be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_configs_reports_sources() {
    if common::skipped_for_external("starts its broker with log.retention.bytes set") {
        return;
    }
    let broker = TestBroker::start(&[("log.retention.bytes", "987654321")]).await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("described");
    common::create_topic(&bootstrap, &topic, 1, &[("retention.ms", "123456")]).await;

    let admin = common::admin(&bootstrap);
    let results = admin
        .describe_configs(
            [&ResourceSpecifier::Topic(&topic)],
            &common::admin_options(),
        )
        .await
        .expect("DescribeConfigs");
    assert_eq!(results.len(), 1);
    let resource = results[0].as_ref().expect("topic described");

    let retention_ms = resource.get("retention.ms").expect("retention.ms");
    assert_eq!(retention_ms.value.as_deref(), Some("123456"));
    assert_eq!(retention_ms.source, ConfigSource::DynamicTopic);
    assert!(!retention_ms.is_default);
    assert!(!retention_ms.is_sensitive);

    let retention_bytes = resource.get("retention.bytes").expect("retention.bytes");
    assert_eq!(retention_bytes.value.as_deref(), Some("987654321"));
    assert_eq!(retention_bytes.source, ConfigSource::StaticBroker);

    let segment_bytes = resource.get("segment.bytes").expect("segment.bytes");
    assert_eq!(segment_bytes.value.as_deref(), Some("1073741824"));
    assert_eq!(segment_bytes.source, ConfigSource::Default);
    assert!(segment_bytes.is_default);

    let cleanup = resource.get("cleanup.policy").expect("cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.source, ConfigSource::Default);

    // The broker resource answers too, with the static override.
    let results = admin
        .describe_configs([&ResourceSpecifier::Broker(1)], &common::admin_options())
        .await
        .expect("DescribeConfigs");
    let resource = results[0].as_ref().expect("broker described");
    let entry = resource
        .get("log.retention.bytes")
        .expect("log.retention.bytes");
    assert_eq!(entry.value.as_deref(), Some("987654321"));
    assert_eq!(entry.source, ConfigSource::StaticBroker);
}

/// Issue 7, defect 7: a Metadata request naming `__consumer_offsets` with
/// auto-creation on created an ordinary topic of that name. Kafka lists it
/// as internal; Fjord keeps committed offsets in its own store, so reading
/// it fails at once with an error the client reports, and changing it is
/// refused as Kafka refuses it.
#[tokio::test(flavor = "multi_thread")]
async fn consumer_offsets_is_internal() {
    if common::skipped_for_external(
        "checks Fjord's own __consumer_offsets (listed from the start, reads refused) and restarts its broker",
    ) {
        return;
    }
    use rdkafka::consumer::Consumer;
    use rdkafka::producer::Producer;

    let mut broker = TestBroker::start(&[]).await;
    let bootstrap = broker.bootstrap();
    let producer = common::producer(&bootstrap, &[("message.timeout.ms", "10000")]);
    let named = common::topic_metadata(&producer, "__consumer_offsets").await;
    assert_eq!(named.topics()[0].error(), None);
    assert_eq!(named.topics()[0].partitions().len(), 50);
    let all = {
        let producer = producer.clone();
        common::blocking(move || {
            producer
                .client()
                .fetch_metadata(None, common::WAIT)
                .unwrap()
        })
        .await
    };
    assert!(all
        .topics()
        .iter()
        .any(|t| t.name() == "__consumer_offsets"));
    assert!(broker
        .running()
        .broker()
        .meta()
        .topic("__consumer_offsets")
        .is_none());

    let written = producer
        .send(
            FutureRecord::<(), _>::to("__consumer_offsets")
                .partition(0)
                .payload("x"),
            Timeout::After(common::WAIT),
        )
        .await;
    match written {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert_eq!(code, RDKafkaErrorCode::InvalidTopic)
        }
        other => panic!("producing to __consumer_offsets: {other:?}"),
    }

    let consumer = common::base_consumer(&bootstrap);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("__consumer_offsets", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let polled = common::blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Some(result) = consumer.poll(Duration::from_millis(200)) {
                return Some(result.map(|m| rdkafka::Message::offset(&m)));
            }
        }
        None
    })
    .await;
    match polled {
        Some(Err(e)) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::TopicAuthorizationFailed),
            "{e}"
        ),
        other => panic!("reading __consumer_offsets gave {other:?}, not an error"),
    }

    let admin = common::admin(&bootstrap);
    let options = common::admin_options();
    assert_eq!(
        refusal(
            &admin,
            &options,
            NewTopic::new("__consumer_offsets", 1, TopicReplication::Fixed(1))
        )
        .await,
        RDKafkaErrorCode::TopicAlreadyExists
    );
    assert_eq!(
        refusal(
            &admin,
            &options,
            NewTopic::new("__transaction_state", 1, TopicReplication::Fixed(1))
        )
        .await,
        RDKafkaErrorCode::InvalidTopic
    );
    let deleted = admin
        .delete_topics(&["__consumer_offsets"], &options)
        .await
        .unwrap();
    assert_eq!(
        deleted,
        vec![Err((
            "__consumer_offsets".to_string(),
            RDKafkaErrorCode::InvalidTopic
        ))]
    );

    // Still there, with the same id, after a restart.
    let id = broker
        .running()
        .broker()
        .topics
        .get("__consumer_offsets")
        .unwrap()
        .id;
    broker.restart().await;
    assert_eq!(
        broker
            .running()
            .broker()
            .topics
            .get("__consumer_offsets")
            .unwrap()
            .id,
        id
    );
}
