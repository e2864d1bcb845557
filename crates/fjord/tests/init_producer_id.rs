//! InitProducerId served to real clients: producer ids from the binary stay unique
//! across kill -9, and librdkafka with `enable.idempotence=true` writes
//! every record exactly once.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::raw::{connect, read_frame, request};
use common::{AnyBroker, BinaryBroker};
use futures::future::join_all;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseHeader,
    TransactionalId,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use rdkafka::Offset;
use tokio::io::AsyncWriteExt;

/// InitProducerId v4 over a fresh connection: (error code, producer id, epoch).
async fn init_producer_id(addr: SocketAddr, transactional_id: Option<&str>) -> (i16, i64, i16) {
    let version = 4;
    let body = InitProducerIdRequest::default()
        .with_transactional_id(
            transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string()))),
        )
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let mut stream = connect(addr).await;
    stream
        .write_all(&request(ApiKey::InitProducerId, version, 9, &body))
        .await
        .expect("send InitProducerId");
    let mut answer = read_frame(&mut stream).await;
    let header_version = ApiKey::InitProducerId.response_header_version(version);
    let header = ResponseHeader::decode(&mut answer, header_version).expect("header");
    assert_eq!(header.correlation_id, 9);
    let response = InitProducerIdResponse::decode(&mut answer, version).expect("body");
    (
        response.error_code,
        response.producer_id.0,
        response.producer_epoch,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_ids_are_never_handed_out_twice_across_kill_9() {
    if common::skipped_for_external("kills its broker and restarts it on the same data") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = BinaryBroker::start(dir.path(), &[]);
    let addr: SocketAddr = broker.bootstrap.parse().unwrap();
    let mut before = Vec::new();
    for _ in 0..5 {
        let (error, id, epoch) = init_producer_id(addr, None).await;
        assert_eq!((error, epoch), (0, 0));
        before.push(id);
    }
    let (error, transactional, epoch) = init_producer_id(addr, Some("tx")).await;
    assert_eq!((error, epoch), (0, 0));
    broker.kill9();

    let broker = BinaryBroker::start(dir.path(), &[]);
    let addr: SocketAddr = broker.bootstrap.parse().unwrap();
    let (error, after, epoch) = init_producer_id(addr, None).await;
    assert_eq!((error, epoch), (0, 0));
    let highest = before
        .iter()
        .chain([&transactional])
        .max()
        .copied()
        .unwrap();
    assert!(
        after > highest,
        "{after} handed out again after {before:?}, {transactional}"
    );
    // The transactional id kept its producer id; the restart bumps its epoch.
    assert_eq!(
        init_producer_id(addr, Some("tx")).await,
        (0, transactional, 1)
    );
    broker.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_producer_writes_each_record_once_in_order() {
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 2000;
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("idempotent");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let producer = common::producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("batch.num.messages", "100"),
        ],
    );
    let sends = (0..RECORDS).map(|i| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let key = format!("key-{i}");
            let value = format!("value-{i}");
            let partition = (i % PARTITIONS as usize) as i32;
            let record = FutureRecord::to(&topic)
                .partition(partition)
                .key(&key)
                .payload(&value);
            let delivery = producer
                .send(record, Timeout::After(common::WAIT))
                .await
                .unwrap_or_else(|(e, _)| panic!("record {i}: {e}"));
            (delivery.partition, delivery.offset, value)
        }
    });
    let delivered = join_all(sends).await;
    let mut expected: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for (partition, offset, value) in delivered {
        expected
            .entry(partition)
            .or_default()
            .push((offset, value.into_bytes()));
    }
    for (partition, records) in &mut expected {
        records.sort();
        let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
        let dense: Vec<i64> = (0..records.len() as i64).collect();
        assert_eq!(
            offsets, dense,
            "partition {partition}: one offset per record"
        );
        // Sent in index order, so written in index order.
        let indexes: Vec<usize> = records
            .iter()
            .map(|(_, v)| {
                String::from_utf8_lossy(v)["value-".len()..]
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(indexes.is_sorted(), "partition {partition}: {indexes:?}");
    }
    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    let consumed = common::consume_n(
        &bootstrap,
        &topic,
        &partitions,
        Offset::Beginning,
        RECORDS,
        common::WAIT,
    )
    .await;
    let mut read: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for record in consumed {
        read.entry(record.partition)
            .or_default()
            .push((record.offset, record.value.unwrap_or_default()));
    }
    for records in read.values_mut() {
        records.sort();
    }
    assert_eq!(
        read, expected,
        "bytes read back equal bytes produced, once each"
    );
}
