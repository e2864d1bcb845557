//! The group handlers on a real broker: every advertised version answers
//! and encodes, and the Kafka errors clients rely on.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, test_broker_with};
use crate::broker::Broker;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn gid(value: &str) -> GroupId {
    GroupId(s(value))
}

async fn join(broker: &Broker, group: &str, member_id: &str, version: i16) -> JoinGroupResponse {
    let mut protocol = JoinGroupRequestProtocol::default();
    protocol.name = s("range");
    protocol.metadata = bytes::Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t\0\0\0\0");
    let mut req = JoinGroupRequest::default();
    req.group_id = gid(group);
    req.session_timeout_ms = 10_000;
    req.rebalance_timeout_ms = 10_000;
    req.member_id = s(member_id);
    req.protocol_type = s("consumer");
    req.protocols = vec![protocol];
    let response = super::join_group::handle(broker, &ctx(ApiKey::JoinGroup, version), req).await;
    assert_encodes(&response, version);
    response
}

async fn broker() -> super::test_support::TestBroker {
    let broker = test_broker_with(|c| c.with("group.initial.rebalance.delay.ms", 0)).await;
    broker
        .topics
        .create("t", 2, BTreeMap::new(), false)
        .await
        .expect("create topic");
    broker
}

#[tokio::test]
async fn membership_apis_answer_and_encode_at_every_version() {
    let broker = broker().await;
    for version in 0..=9i16 {
        let group = format!("g{version}");
        let mut joined = join(&broker, &group, "", version).await;
        if version >= 4 {
            assert_eq!(joined.error_code, ResponseError::MemberIdRequired.code());
            joined = join(&broker, &group, &joined.member_id.to_string(), version).await;
        }
        assert_eq!(joined.error_code, 0, "JoinGroup v{version}");
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader, joined.member_id);
        assert_eq!(joined.members.len(), 1);

        let sync_version = version.min(5);
        let mut assignment = SyncGroupRequestAssignment::default();
        assignment.member_id = joined.member_id.clone();
        assignment.assignment = bytes::Bytes::from_static(b"assigned");
        let mut sync = SyncGroupRequest::default();
        sync.group_id = gid(&group);
        sync.generation_id = 1;
        sync.member_id = joined.member_id.clone();
        if sync_version >= 5 {
            sync.protocol_type = Some(s("consumer"));
            sync.protocol_name = Some(s("range"));
        }
        sync.assignments = vec![assignment];
        let synced =
            super::sync_group::handle(&broker, &ctx(ApiKey::SyncGroup, sync_version), sync).await;
        assert_encodes(&synced, sync_version);
        assert_eq!(synced.error_code, 0, "SyncGroup v{sync_version}");
        assert_eq!(&synced.assignment[..], b"assigned");

        let hb_version = version.min(4);
        let mut hb = HeartbeatRequest::default();
        hb.group_id = gid(&group);
        hb.generation_id = 1;
        hb.member_id = joined.member_id.clone();
        let beat =
            super::heartbeat::handle(&broker, &ctx(ApiKey::Heartbeat, hb_version), hb.clone())
                .await;
        assert_encodes(&beat, hb_version);
        assert_eq!(beat.error_code, 0);
        hb.generation_id = 7;
        let wrong =
            super::heartbeat::handle(&broker, &ctx(ApiKey::Heartbeat, hb_version), hb).await;
        assert_eq!(wrong.error_code, ResponseError::IllegalGeneration.code());

        let leave_version = version.min(5);
        let mut leave = LeaveGroupRequest::default();
        leave.group_id = gid(&group);
        if leave_version >= 3 {
            let mut me = MemberIdentity::default();
            me.member_id = joined.member_id.clone();
            let mut ghost = MemberIdentity::default();
            ghost.member_id = s("ghost");
            leave.members = vec![me, ghost];
        } else {
            leave.member_id = joined.member_id.clone();
        }
        let left =
            super::leave_group::handle(&broker, &ctx(ApiKey::LeaveGroup, leave_version), leave)
                .await;
        assert_encodes(&left, leave_version);
        if leave_version >= 3 {
            assert_eq!(left.members.len(), 2);
            assert_eq!(left.members[0].error_code, 0);
            assert_eq!(
                left.members[1].error_code,
                ResponseError::UnknownMemberId.code()
            );
        } else {
            assert_eq!(left.error_code, 0);
        }
    }
}

fn commit_request(group: &str, offset: i64) -> OffsetCommitRequest {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    p.committed_metadata = Some(s("meta"));
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(s("t"));
    t.partitions = vec![p.clone()];
    let mut unknown = OffsetCommitRequestTopic::default();
    unknown.name = TopicName(s("nope"));
    unknown.partitions = vec![p];
    let mut req = OffsetCommitRequest::default();
    req.group_id = gid(group);
    req.generation_id_or_member_epoch = -1;
    req.topics = vec![t, unknown];
    req
}

#[tokio::test]
async fn offsets_commit_and_fetch_at_every_version() {
    let broker = broker().await;
    for version in 2..=9i16 {
        let response = super::offset_commit::handle(
            &broker,
            &ctx(ApiKey::OffsetCommit, version),
            commit_request("c", i64::from(version) * 10),
        )
        .await;
        assert_encodes(&response, version);
        assert_eq!(
            response.topics[0].partitions[0].error_code, 0,
            "OffsetCommit v{version}"
        );
        assert_eq!(
            response.topics[1].partitions[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }
    // A member commit to a group it is not in.
    let mut stray = commit_request("c", 1);
    stray.generation_id_or_member_epoch = 3;
    stray.member_id = s("stray");
    let response =
        super::offset_commit::handle(&broker, &ctx(ApiKey::OffsetCommit, 9), stray).await;
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ResponseError::UnknownMemberId.code()
    );

    for version in 1..=7i16 {
        let mut topic = OffsetFetchRequestTopic::default();
        topic.name = TopicName(s("t"));
        topic.partition_indexes = vec![0, 1];
        let mut req = OffsetFetchRequest::default();
        req.group_id = gid("c");
        req.topics = Some(vec![topic]);
        let response =
            super::offset_fetch::handle(&broker, &ctx(ApiKey::OffsetFetch, version), req).await;
        assert_encodes(&response, version);
        let parts = &response.topics[0].partitions;
        assert_eq!(parts[0].committed_offset, 90, "OffsetFetch v{version}");
        assert_eq!(parts[0].metadata.as_deref(), Some("meta"));
        assert_eq!(parts[1].committed_offset, -1);
    }
    for version in 8..=9i16 {
        let mut topics = OffsetFetchRequestTopics::default();
        topics.name = TopicName(s("t"));
        topics.partition_indexes = vec![0];
        let mut c = OffsetFetchRequestGroup::default();
        c.group_id = gid("c");
        c.topics = Some(vec![topics]);
        let mut all = OffsetFetchRequestGroup::default();
        all.group_id = gid("c");
        all.topics = None;
        let mut missing = OffsetFetchRequestGroup::default();
        missing.group_id = gid("missing");
        missing.topics = None;
        let mut req = OffsetFetchRequest::default();
        req.groups = vec![c, all, missing];
        req.require_stable = true;
        let response =
            super::offset_fetch::handle(&broker, &ctx(ApiKey::OffsetFetch, version), req).await;
        assert_encodes(&response, version);
        assert_eq!(
            response.groups[0].topics[0].partitions[0].committed_offset,
            90
        );
        assert_eq!(
            response.groups[1].topics[0].partitions.len(),
            1,
            "only committed partitions"
        );
        assert!(response.groups[2].topics.is_empty());
    }

    // Deleting the topic drops its committed offsets.
    broker.topics.delete("t").await.expect("delete topic");
    assert_eq!(broker.groups.store().fetch("c", "t", 0), None);
}

#[tokio::test]
async fn describe_list_delete_and_offset_delete() {
    let broker = broker().await;
    let first = join(&broker, "live", "", 4).await;
    let live = join(&broker, "live", &first.member_id.to_string(), 4).await;
    assert_eq!(live.error_code, 0);
    super::offset_commit::handle(
        &broker,
        &ctx(ApiKey::OffsetCommit, 8),
        commit_request("idle", 5),
    )
    .await;

    for version in 0..=6i16 {
        let mut req = DescribeGroupsRequest::default();
        req.groups = vec![gid("live"), gid("idle"), gid("missing")];
        req.include_authorized_operations = version >= 3;
        let response =
            super::describe_groups::handle(&broker, &ctx(ApiKey::DescribeGroups, version), req)
                .await;
        assert_encodes(&response, version);
        assert_eq!(
            response.groups[0].group_state.as_str(),
            "CompletingRebalance"
        );
        assert_eq!(response.groups[0].protocol_type.as_str(), "consumer");
        assert_eq!(response.groups[0].members.len(), 1);
        assert_eq!(response.groups[1].group_state.as_str(), "Empty");
        // Kafka 4.1 without an authorizer: READ, DESCRIBE, DELETE,
        // DESCRIBE_CONFIGS, ALTER_CONFIGS.
        let described_ops = if version >= 3 { 3400 } else { i32::MIN };
        assert_eq!(response.groups[0].authorized_operations, described_ops);
        assert_eq!(response.groups[1].authorized_operations, described_ops);
        let missing = &response.groups[2];
        if version >= 6 {
            assert_eq!(missing.error_code, ResponseError::GroupIdNotFound.code());
            assert_eq!(missing.authorized_operations, i32::MIN);
        } else {
            assert_eq!(missing.error_code, 0);
            assert_eq!(missing.group_state.as_str(), "Dead");
            assert_eq!(missing.authorized_operations, described_ops);
        }
    }
    for version in 0..=5i16 {
        let mut req = ListGroupsRequest::default();
        if version >= 4 {
            req.states_filter = vec![s("empty")];
        }
        if version >= 5 {
            req.types_filter = vec![s("classic")];
        }
        let response =
            super::list_groups::handle(&broker, &ctx(ApiKey::ListGroups, version), req).await;
        assert_encodes(&response, version);
        let names: Vec<&str> = response
            .groups
            .iter()
            .map(|g| g.group_id.as_str())
            .collect();
        if version >= 4 {
            assert_eq!(names, vec!["idle"]);
        } else {
            assert_eq!(names, vec!["idle", "live"]);
        }
    }
    let mut req = ListGroupsRequest::default();
    req.types_filter = vec![s("consumer")];
    assert!(
        super::list_groups::handle(&broker, &ctx(ApiKey::ListGroups, 5), req)
            .await
            .groups
            .is_empty()
    );

    let mut topic = OffsetDeleteRequestTopic::default();
    topic.name = TopicName(s("t"));
    let mut p = OffsetDeleteRequestPartition::default();
    p.partition_index = 0;
    topic.partitions = vec![p];
    let mut req = OffsetDeleteRequest::default();
    req.group_id = gid("idle");
    req.topics = vec![topic];
    let response =
        super::offset_delete::handle(&broker, &ctx(ApiKey::OffsetDelete, 0), req.clone()).await;
    assert_encodes(&response, 0);
    assert_eq!(response.error_code, 0);
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert_eq!(broker.groups.store().fetch("idle", "t", 0), None);
    req.group_id = gid("missing");
    let response = super::offset_delete::handle(&broker, &ctx(ApiKey::OffsetDelete, 0), req).await;
    assert_eq!(response.error_code, ResponseError::GroupIdNotFound.code());

    for version in 0..=2i16 {
        let mut req = DeleteGroupsRequest::default();
        req.groups_names = vec![gid("live"), gid("missing")];
        let response =
            super::delete_groups::handle(&broker, &ctx(ApiKey::DeleteGroups, version), req).await;
        assert_encodes(&response, version);
        assert_eq!(
            response.results[0].error_code,
            ResponseError::NonEmptyGroup.code()
        );
        assert_eq!(
            response.results[1].error_code,
            ResponseError::GroupIdNotFound.code()
        );
    }
    let mut req = DeleteGroupsRequest::default();
    req.groups_names = vec![gid("idle")];
    let response = super::delete_groups::handle(&broker, &ctx(ApiKey::DeleteGroups, 2), req).await;
    assert_eq!(response.results[0].error_code, 0);
    assert!(broker.groups.describe("idle").is_none());
}

#[tokio::test]
async fn a_members_host_and_client_id_come_from_the_request_context() {
    let broker = broker().await;
    let mut protocol = JoinGroupRequestProtocol::default();
    protocol.name = s("range");
    let mut req = JoinGroupRequest::default();
    req.group_id = gid("hosted");
    req.session_timeout_ms = 10_000;
    req.rebalance_timeout_ms = 10_000;
    req.protocol_type = s("consumer");
    req.protocols = vec![protocol];
    let mut context = ctx(ApiKey::JoinGroup, 3);
    context.peer = "10.9.8.7:4242".parse().expect("address");
    context.client_id = s("app-1");
    let joined = super::join_group::handle(&broker, &context, req).await;
    assert_eq!(joined.error_code, 0);

    let mut describe = DescribeGroupsRequest::default();
    describe.groups = vec![gid("hosted")];
    let described =
        super::describe_groups::handle(&broker, &ctx(ApiKey::DescribeGroups, 5), describe).await;
    let members = &described.groups[0].members;
    assert_eq!(members.len(), 1);
    // Kafka shows the host as "/" + the peer's address.
    assert_eq!(members[0].client_host.as_str(), "/10.9.8.7");
    assert_eq!(members[0].client_id.as_str(), "app-1");
}
