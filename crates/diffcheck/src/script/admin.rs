//! Topic administration and configs: CreateTopics, CreatePartitions,
//! DeleteRecords, DeleteTopics, DescribeConfigs.

use kafka_protocol::messages::*;

use super::{create_topic, s, topic, Script, MAIN};

impl Script {
    pub(super) async fn topics_admin(&mut self) -> anyhow::Result<()> {
        let create_versions = self.versions_of(ApiKey::CreateTopics);
        for &version in &create_versions {
            let request = CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    create_topic(
                        &format!("diff-created-{version}"),
                        3,
                        &[("retention.ms", "3600000")],
                    ),
                    create_topic(MAIN, 1, &[]),
                    create_topic(
                        &format!("diff-bad-config-{version}"),
                        1,
                        &[("retention.ms", "soon")],
                    ),
                    create_topic(
                        &format!("diff-unknown-config-{version}"),
                        1,
                        &[("no.such.config", "1")],
                    ),
                    create_topic(&format!("diff-bad-partitions-{version}"), -5, &[]),
                ]);
            let case = "new, existing, bad configs, bad partitions";
            self.step(ApiKey::CreateTopics, version, case, request.into())
                .await?;
            let validate = CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_validate_only(true)
                .with_topics(vec![create_topic(
                    &format!("diff-validated-{version}"),
                    2,
                    &[],
                )]);
            self.step(
                ApiKey::CreateTopics,
                version,
                "validate only",
                validate.into(),
            )
            .await?;
        }

        let grown = format!(
            "diff-created-{}",
            create_versions.first().copied().unwrap_or(2)
        );
        for version in self.versions_of(ApiKey::CreatePartitions) {
            let request = CreatePartitionsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    partitions_to(&grown, 4 + i32::from(version)),
                    partitions_to(MAIN, 1),
                    partitions_to("diff-unknown", 3),
                ]);
            self.step(
                ApiKey::CreatePartitions,
                version,
                "grow, shrink, unknown",
                request.into(),
            )
            .await?;
        }

        for version in self.versions_of(ApiKey::DeleteRecords) {
            let request = DeleteRecordsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    delete_records(MAIN, &[(0, i64::from(version) + 1), (9, 1)]),
                    delete_records("diff-unknown", &[(0, 1)]),
                ]);
            let case = "main, unknown partition and topic";
            self.step(ApiKey::DeleteRecords, version, case, request.into())
                .await?;
            let beyond = DeleteRecordsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![delete_records(MAIN, &[(0, 1000)])]);
            self.step(
                ApiKey::DeleteRecords,
                version,
                "beyond the end",
                beyond.into(),
            )
            .await?;
        }

        // Each DeleteTopics version deletes one of the topics CreateTopics made.
        for (i, version) in self
            .versions_of(ApiKey::DeleteTopics)
            .into_iter()
            .enumerate()
        {
            let name = match create_versions.get(i + 1) {
                Some(v) => format!("diff-created-{v}"),
                None => "diff-already-gone".to_string(),
            };
            let request = if version >= 6 {
                DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(vec![
                        delete_topics_request::DeleteTopicState::default()
                            .with_name(Some(topic(&name))),
                        delete_topics_request::DeleteTopicState::default()
                            .with_name(Some(topic("diff-unknown"))),
                    ])
            } else {
                DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topic_names(vec![topic(&name), topic("diff-unknown")])
            };
            self.step(
                ApiKey::DeleteTopics,
                version,
                "created and unknown",
                request.into(),
            )
            .await?;
        }
        Ok(())
    }

    pub(super) async fn configs(&mut self) -> anyhow::Result<()> {
        for version in self.versions_of(ApiKey::DescribeConfigs) {
            let names = [
                "retention.ms",
                "cleanup.policy",
                "segment.bytes",
                "max.message.bytes",
                "no.such.config",
            ];
            let request = DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(MAIN))
                        .with_configuration_keys(Some(names.iter().map(|n| s(n)).collect())),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("diff-unknown"))
                        .with_configuration_keys(None),
                ]);
            let case = "named topic configs, unknown topic";
            self.step(ApiKey::DescribeConfigs, version, case, request.into())
                .await?;
        }
        Ok(())
    }
}

fn partitions_to(name: &str, count: i32) -> create_partitions_request::CreatePartitionsTopic {
    create_partitions_request::CreatePartitionsTopic::default()
        .with_name(topic(name))
        .with_count(count)
        .with_assignments(None)
}

fn delete_records(
    name: &str,
    partitions: &[(i32, i64)],
) -> delete_records_request::DeleteRecordsTopic {
    delete_records_request::DeleteRecordsTopic::default()
        .with_name(topic(name))
        .with_partitions(
            partitions
                .iter()
                .map(|&(partition, offset)| {
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset)
                })
                .collect(),
        )
}
