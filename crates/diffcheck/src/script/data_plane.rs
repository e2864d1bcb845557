//! Metadata, Produce, Fetch and ListOffsets steps.

use kafka_protocol::messages::*;

use super::{batch, produce_request, topic, with_topic_id, Script, BASE_TIME, MAIN};

impl Script {
    pub(super) async fn metadata(&mut self) -> anyhow::Result<()> {
        for version in self.versions_of(ApiKey::Metadata) {
            let named = |names: &[&str]| {
                names
                    .iter()
                    .map(|n| {
                        metadata_request::MetadataRequestTopic::default().with_name(Some(topic(n)))
                    })
                    .collect::<Vec<_>>()
            };
            let mut request =
                MetadataRequest::default().with_topics(Some(named(&[MAIN, "diff-unknown"])));
            if version >= 4 {
                request = request.with_allow_auto_topic_creation(false);
            }
            if (8..=10).contains(&version) {
                request = request.with_include_cluster_authorized_operations(true);
            }
            if version >= 8 {
                request = request.with_include_topic_authorized_operations(true);
            }
            self.step(
                ApiKey::Metadata,
                version,
                "main and unknown topic",
                request.into(),
            )
            .await?;
            if version >= 10 {
                let by_id = MetadataRequest::default()
                    .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                    )
                    .with_topic_id(uuid::Uuid::from_u128(7))]));
                self.step(ApiKey::Metadata, version, "unknown topic id", by_id.into())
                    .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn produce(&mut self) -> anyhow::Result<()> {
        let mut next = 10;
        for version in self.versions_of(ApiKey::Produce) {
            if version < 3 {
                continue; // magic v2 batches need Produce v3+
            }
            let by_id = |request: ProduceRequest, id| {
                if version >= 13 {
                    with_topic_id(request, id)
                } else {
                    request
                }
            };
            let request = by_id(produce_request(MAIN, 1, batch(next, 2)), self.main_topic_id);
            next += 2;
            self.step(ApiKey::Produce, version, "two records", request.into())
                .await?;
            let unknown_partition =
                by_id(produce_request(MAIN, 9, batch(0, 1)), self.main_topic_id);
            self.step(
                ApiKey::Produce,
                version,
                "unknown partition",
                unknown_partition.into(),
            )
            .await?;
            if version < 13 {
                let unknown_topic = produce_request("diff-unknown", 0, batch(0, 1));
                self.step(
                    ApiKey::Produce,
                    version,
                    "unknown topic",
                    unknown_topic.into(),
                )
                .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn fetch(&mut self) -> anyhow::Result<()> {
        for version in self.versions_of(ApiKey::Fetch) {
            for (case, partition, offset) in [
                ("from 3", 0, 3),
                ("at the end", 0, 10),
                ("out of range", 0, 99),
                ("unknown partition", 9, 0),
            ] {
                let mut fetch_topic = fetch_request::FetchTopic::default().with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]);
                fetch_topic = if version >= 13 {
                    fetch_topic.with_topic_id(self.main_topic_id)
                } else {
                    fetch_topic.with_topic(topic(MAIN))
                };
                let mut request = FetchRequest::default()
                    .with_max_wait_ms(0)
                    .with_min_bytes(1)
                    .with_max_bytes(1 << 20)
                    .with_topics(vec![fetch_topic]);
                if version >= 7 {
                    request = request.with_session_epoch(-1);
                }
                self.step(ApiKey::Fetch, version, case, request.into())
                    .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn list_offsets(&mut self) -> anyhow::Result<()> {
        for version in self.versions_of(ApiKey::ListOffsets) {
            let mut cases = vec![
                ("earliest", 0, -2),
                ("latest", 0, -1),
                ("by time 5", 0, BASE_TIME + 5),
                ("after the last time", 0, BASE_TIME + 1000),
                ("unknown partition", 9, -1),
            ];
            if version >= 7 {
                cases.push(("max timestamp", 0, -3));
            }
            for (case, partition, timestamp) in cases {
                let request = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic(MAIN))
                        .with_partitions(vec![
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(partition)
                                .with_timestamp(timestamp),
                        ])]);
                self.step(ApiKey::ListOffsets, version, case, request.into())
                    .await?;
            }
        }
        Ok(())
    }
}
