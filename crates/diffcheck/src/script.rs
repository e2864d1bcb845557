//! The scripted requests: every API and version both brokers advertise,
//! with the ordinary case and the error cases clients meet (unknown topics
//! and partitions, offsets out of range, invalid configs, wrong generations
//! and members). Each broker gets the same script on a fresh data dir;
//! names are fixed so that the answers can be compared.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::connection::{Answer, Connection};
use crate::normalize::normalize;

mod admin;
mod data_plane;
mod groups;
mod quotas;
mod transactions;

/// A fixed time, so stored batches and timestamp lookups agree byte for byte.
const BASE_TIME: i64 = 1_700_000_000_000;
/// The topic most steps use: two partitions, records 0..10 in partition 0.
const MAIN: &str = "diff-main";

/// Supported version range per API key, as both brokers advertise it.
pub type Versions = BTreeMap<i16, (i16, i16)>;

/// One step's name (API, version, case) and its normalized answer.
pub type Outcome = (String, Vec<String>);

pub struct Script {
    connection: Connection,
    versions: Versions,
    pub outcomes: Vec<Outcome>,
    /// The main topic's id on this broker (Fetch v13+ and Metadata by id).
    main_topic_id: uuid::Uuid,
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}
fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}
fn group(name: &str) -> GroupId {
    GroupId(s(name))
}

/// `count` records of one magic-v2 batch, identical on every call.
pub fn batch(first: i64, count: i64) -> Bytes {
    let records: Vec<Record> = (first..first + count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i - first,
            // The encoder starts a new batch wherever offset - sequence
            // changes, and takes the batch's base sequence from the first
            // record: this keeps one batch with base sequence -1 (no producer id).
            sequence: (i - first) as i32 - 1,
            timestamp: BASE_TIME + i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    // An encoder error on records built here is a bug in this program.
    RecordBatchEncoder::encode(
        &mut out,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode a record batch");
    out.freeze()
}

impl Script {
    pub fn new(connection: Connection, versions: Versions) -> Script {
        Script {
            connection,
            versions,
            outcomes: Vec::new(),
            main_topic_id: uuid::Uuid::nil(),
        }
    }

    fn versions_of(&self, key: ApiKey) -> Vec<i16> {
        match self.versions.get(&(key as i16)) {
            Some(&(min, max)) => (min..=max).collect(),
            None => Vec::new(),
        }
    }

    /// Sends one request and records its normalized answer under `case`.
    async fn step(
        &mut self,
        key: ApiKey,
        version: i16,
        case: &str,
        request: RequestKind,
    ) -> anyhow::Result<Option<ResponseKind>> {
        let name = format!("{key:?} v{version} {case}");
        let answer = self.connection.send(key, version, &request).await?;
        self.outcomes.push((name, lines_of(&answer)));
        Ok(match answer {
            Answer::Response(response) => Some(response),
            Answer::Closed => None,
        })
    }

    pub async fn run(&mut self) -> anyhow::Result<()> {
        self.api_versions().await?;
        self.setup().await?;
        self.metadata().await?;
        self.produce().await?;
        self.fetch().await?;
        self.list_offsets().await?;
        self.topics_admin().await?;
        self.configs().await?;
        self.groups().await?;
        self.cluster().await?;
        self.transactions().await?;
        self.quotas().await?;
        Ok(())
    }

    /// ApiVersions at each version, one above the newest (answered v0-shaped
    /// with UNSUPPORTED_VERSION, KIP-511), and another API at a version no
    /// broker serves (the connection is closed).
    async fn api_versions(&mut self) -> anyhow::Result<()> {
        let versions = self.versions_of(ApiKey::ApiVersions);
        for &version in &versions {
            let mut request = ApiVersionsRequest::default();
            if version >= 3 {
                request = request
                    .with_client_software_name(s("fjord-diffcheck"))
                    .with_client_software_version(s("1"));
            }
            let name = format!("{:?} v{version} supported", ApiKey::ApiVersions);
            let mut answer = self
                .connection
                .send(ApiKey::ApiVersions, version, &request.into())
                .await?;
            if let Answer::Response(ResponseKind::ApiVersions(response)) = &mut answer {
                // Only the keys both brokers serve are compared: Kafka serves
                // APIs Fjord has not built yet.
                response
                    .api_keys
                    .retain(|k| self.versions.contains_key(&k.api_key));
            }
            self.record(name, answer);
        }
        if let Some(&newest) = versions.last() {
            let name = format!("{:?} v{} too new", ApiKey::ApiVersions, newest + 1);
            let answer = self
                .connection
                .send_body(ApiKey::ApiVersions, newest + 1, 0, &[])
                .await?;
            self.record(name, answer);
        }
        let name = "Metadata v99 unsupported version".to_string();
        let answer = self
            .connection
            .send_body(ApiKey::Metadata, 99, 0, &[0, 0, 0, 0])
            .await?;
        self.record(name, answer);
        Ok(())
    }

    fn record(&mut self, name: String, answer: Answer) {
        self.outcomes.push((name, lines_of(&answer)));
    }

    /// The main topic, created at the newest CreateTopics both serve, with
    /// records 0..10 in partition 0.
    async fn setup(&mut self) -> anyhow::Result<()> {
        let version = *self.versions_of(ApiKey::CreateTopics).last().unwrap_or(&2);
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![create_topic(MAIN, 2, &[])]);
        self.step(
            ApiKey::CreateTopics,
            version,
            "setup: create the main topic",
            request.into(),
        )
        .await?;
        // Kafka answers NOT_LEADER_OR_FOLLOWER until the new partitions'
        // leaders are loaded; clients retry, and so does this, unrecorded.
        for _ in 0..100 {
            let produce = produce_request(MAIN, 0, batch(0, 10));
            if let Answer::Response(ResponseKind::Produce(r)) = self
                .connection
                .send(ApiKey::Produce, 9, &produce.into())
                .await?
            {
                let stored = r
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .all(|p| p.error_code == 0);
                if stored {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let metadata = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic(MAIN))),
        ]));
        if let Some(ResponseKind::Metadata(response)) = self
            .step(
                ApiKey::Metadata,
                12,
                "setup: the main topic's id",
                metadata.into(),
            )
            .await?
        {
            if let Some(t) = response.topics.first() {
                self.main_topic_id = t.topic_id;
            }
        }
        Ok(())
    }

    async fn cluster(&mut self) -> anyhow::Result<()> {
        for version in self.versions_of(ApiKey::DescribeCluster) {
            let request =
                DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
            self.step(ApiKey::DescribeCluster, version, "cluster", request.into())
                .await?;
        }
        for version in self.versions_of(ApiKey::DescribeTopicPartitions) {
            let request = DescribeTopicPartitionsRequest::default()
                .with_response_partition_limit(2000)
                .with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic(MAIN)),
                    describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic("diff-unknown")),
                ]);
            self.step(
                ApiKey::DescribeTopicPartitions,
                version,
                "main and unknown",
                request.into(),
            )
            .await?;
        }
        Ok(())
    }
}

/// An answer as the lines compared across brokers.
fn lines_of(answer: &Answer) -> Vec<String> {
    match answer {
        Answer::Response(response) => normalize(&format!("{response:#?}")),
        Answer::Closed => vec!["(connection closed)".to_string()],
    }
}

fn create_topic(
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> create_topics_request::CreatableTopic {
    create_topics_request::CreatableTopic::default()
        .with_name(topic(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(n, v)| {
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s(n))
                        .with_value(Some(s(v)))
                })
                .collect(),
        )
}

fn produce_request(name: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic(name))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])])
}

fn with_topic_id(mut request: ProduceRequest, id: uuid::Uuid) -> ProduceRequest {
    for t in &mut request.topic_data {
        t.topic_id = id;
    }
    request
}

#[cfg(test)]
mod tests {
    #[test]
    fn batch_starts_at_base_offset_zero() {
        let b = super::batch(0, 10);
        assert_eq!(&b[..8], &[0u8; 8], "{:?}", &b[..16]);
        let length = i32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
        assert_eq!(length + 12, b.len(), "one batch");
    }
}
