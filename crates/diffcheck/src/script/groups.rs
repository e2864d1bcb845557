//! Classic consumer-group steps: FindCoordinator, then per JoinGroup
//! version a member's life (join, sync, heartbeats, commits, offset fetch,
//! leave), then DescribeGroups, ListGroups, OffsetDelete, DeleteGroups.

use bytes::Bytes;
use kafka_protocol::messages::*;

use super::{group, s, topic, Answer, Script, MAIN};

/// ConsumerProtocolSubscription v0 for the main topic.
const SUBSCRIPTION: &[u8] = b"\0\0\0\0\0\x01\0\x09diff-main\xff\xff\xff\xff";
/// ConsumerProtocolAssignment v0: the main topic's partition 0.
const ASSIGNMENT: &[u8] = b"\0\0\0\0\0\x01\0\x09diff-main\0\0\0\x01\0\0\0\0\xff\xff\xff\xff";
/// MEMBER_ID_REQUIRED: JoinGroup v4+ asks a new member to join again with its id.
const MEMBER_ID_REQUIRED: i16 = 79;

impl Script {
    /// Kafka creates its offsets topic on the first FindCoordinator and
    /// answers COORDINATOR_NOT_AVAILABLE until it is ready; clients retry,
    /// and so does this, unrecorded, before the group steps.
    async fn wait_for_coordinator(&mut self) -> anyhow::Result<()> {
        let version = *self
            .versions_of(ApiKey::FindCoordinator)
            .last()
            .unwrap_or(&0);
        for _ in 0..100 {
            let request = find_coordinator(version, "diff-group-0");
            if let Answer::Response(ResponseKind::FindCoordinator(r)) = self
                .connection
                .send(ApiKey::FindCoordinator, version, &request.into())
                .await?
            {
                if r.error_code == 0
                    && r.coordinators.iter().all(|c| c.error_code == 0)
                    && self.coordinator_loaded().await?
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        anyhow::bail!("no group coordinator after 20 s")
    }

    /// Found is not loaded: Kafka answers COORDINATOR_LOAD_IN_PROGRESS a
    /// while longer (a JoinGroup got it right after FindCoordinator did).
    async fn coordinator_loaded(&mut self) -> anyhow::Result<bool> {
        let probe = DescribeGroupsRequest::default().with_groups(vec![group("diff-probe")]);
        let answer = self
            .connection
            .send(ApiKey::DescribeGroups, 0, &probe.into())
            .await?;
        Ok(
            matches!(answer, Answer::Response(ResponseKind::DescribeGroups(r))
            if r.groups.iter().all(|g| g.error_code == 0)),
        )
    }

    pub(super) async fn groups(&mut self) -> anyhow::Result<()> {
        self.wait_for_coordinator().await?;
        for version in self.versions_of(ApiKey::FindCoordinator) {
            let request = find_coordinator(version, "diff-group");
            self.step(ApiKey::FindCoordinator, version, "group", request.into())
                .await?;
        }
        for version in self.versions_of(ApiKey::JoinGroup) {
            let group_name = format!("diff-group-{version}");
            let join = |member: &str| {
                JoinGroupRequest::default()
                    .with_group_id(group(&group_name))
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(10_000)
                    .with_member_id(s(member))
                    .with_protocol_type(s("consumer"))
                    .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                    )
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(SUBSCRIPTION))])
            };
            let member = match self
                .step(ApiKey::JoinGroup, version, "first join", join("").into())
                .await?
            {
                Some(ResponseKind::JoinGroup(r)) if r.error_code == MEMBER_ID_REQUIRED => {
                    let again = join(r.member_id.as_str());
                    match self
                        .step(
                            ApiKey::JoinGroup,
                            version,
                            "join with the member id",
                            again.into(),
                        )
                        .await?
                    {
                        Some(ResponseKind::JoinGroup(r)) => r.member_id.to_string(),
                        _ => continue,
                    }
                }
                Some(ResponseKind::JoinGroup(r)) => r.member_id.to_string(),
                _ => continue,
            };
            let unknown_member = join("diff-no-such-member");
            self.step(
                ApiKey::JoinGroup,
                version,
                "unknown member id",
                unknown_member.into(),
            )
            .await?;
            self.member_steps(version, &group_name, &member).await?;
        }
        for version in self.versions_of(ApiKey::DescribeGroups) {
            let request = DescribeGroupsRequest::default()
                .with_groups(vec![group("diff-group-0"), group("diff-no-such-group")])
                .with_include_authorized_operations(version >= 3);
            self.step(
                ApiKey::DescribeGroups,
                version,
                "empty and unknown group",
                request.into(),
            )
            .await?;
        }
        for version in self.versions_of(ApiKey::ListGroups) {
            self.step(
                ApiKey::ListGroups,
                version,
                "all",
                ListGroupsRequest::default().into(),
            )
            .await?;
        }
        for version in self.versions_of(ApiKey::OffsetDelete) {
            let request = OffsetDeleteRequest::default()
                .with_group_id(group("diff-group-0"))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic(MAIN))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]);
            let case = "committed offset of an empty group";
            self.step(ApiKey::OffsetDelete, version, case, request.into())
                .await?;
        }
        for version in self.versions_of(ApiKey::DeleteGroups) {
            let request = DeleteGroupsRequest::default().with_groups_names(vec![
                group(&format!("diff-group-{version}")),
                group("diff-no-such-group"),
            ]);
            self.step(
                ApiKey::DeleteGroups,
                version,
                "empty and unknown group",
                request.into(),
            )
            .await?;
        }
        Ok(())
    }

    /// Sync, heartbeats (right and wrong generation), commits (member,
    /// wrong generation, unknown partition), offset fetch, leave.
    async fn member_steps(
        &mut self,
        join_version: i16,
        group_name: &str,
        member: &str,
    ) -> anyhow::Result<()> {
        let after = format!("after join v{join_version}");
        let sync_version = self.paired(ApiKey::SyncGroup, join_version);
        let mut sync = SyncGroupRequest::default()
            .with_group_id(group(group_name))
            .with_generation_id(1)
            .with_member_id(s(member))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s(member))
                    .with_assignment(Bytes::from_static(ASSIGNMENT)),
            ]);
        if sync_version >= 5 {
            sync = sync
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")));
        }
        self.step(ApiKey::SyncGroup, sync_version, &after, sync.into())
            .await?;

        let heartbeat_version = self.paired(ApiKey::Heartbeat, join_version);
        for (case, generation) in [("current generation", 1), ("wrong generation", 99)] {
            let heartbeat = HeartbeatRequest::default()
                .with_group_id(group(group_name))
                .with_generation_id(generation)
                .with_member_id(s(member));
            self.step(
                ApiKey::Heartbeat,
                heartbeat_version,
                &format!("{case} {after}"),
                heartbeat.into(),
            )
            .await?;
        }

        let commit_version = self.paired(ApiKey::OffsetCommit, join_version);
        for (case, generation, partition) in [
            ("member", 1, 0),
            ("wrong generation", 99, 0),
            ("unknown partition", 1, 9),
        ] {
            let commit = OffsetCommitRequest::default()
                .with_group_id(group(group_name))
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(s(member))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic(MAIN))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(partition)
                                .with_committed_offset(7)
                                .with_committed_metadata(Some(s("meta"))),
                        ]),
                ]);
            self.step(
                ApiKey::OffsetCommit,
                commit_version,
                &format!("{case} {after}"),
                commit.into(),
            )
            .await?;
        }

        let fetch_version = self.paired(ApiKey::OffsetFetch, join_version);
        let fetch = if fetch_version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group(group_name))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic(MAIN))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(group(group_name))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic(MAIN))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        };
        self.step(ApiKey::OffsetFetch, fetch_version, &after, fetch.into())
            .await?;

        let leave_version = self.paired(ApiKey::LeaveGroup, join_version);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group(group_name))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s(member)),
                    leave_group_request::MemberIdentity::default()
                        .with_member_id(s("diff-no-such-member")),
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group(group_name))
                .with_member_id(s(member))
        };
        self.step(ApiKey::LeaveGroup, leave_version, &after, leave.into())
            .await?;
        Ok(())
    }

    /// The version of `key` paired with JoinGroup `join_version`: the same
    /// number where both serve it, else the nearest end of `key`'s range.
    pub(super) fn paired(&self, key: ApiKey, join_version: i16) -> i16 {
        let versions = self.versions_of(key);
        match (versions.first(), versions.last()) {
            (Some(&min), Some(&max)) => join_version.clamp(min, max),
            _ => join_version,
        }
    }
}

fn find_coordinator(version: i16, key: &str) -> FindCoordinatorRequest {
    if version >= 4 {
        FindCoordinatorRequest::default().with_coordinator_keys(vec![s(key)])
    } else {
        FindCoordinatorRequest::default().with_key(s(key))
    }
}
