//! The one table of APIs Fjord serves: key, the versions we advertise and
//! accept, and the handler. ApiVersions answers are generated from it.

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::broker::Broker;
use crate::handlers;
use crate::request_context::RequestContext;

#[derive(Debug, Clone, Copy)]
pub struct ApiEntry {
    pub key: ApiKey,
    /// Versions listed in ApiVersions. May start below `min_supported`: Kafka
    /// 4.x advertises Produce from v0 and refuses v0–v2 per request, because
    /// librdkafka turns compression off when Produce starts above v0
    /// (KAFKA-18659).
    pub advertised_min: i16,
    pub min_supported: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiEntry {
    ApiEntry {
        key,
        advertised_min: min,
        min_supported: min,
        max,
    }
}

pub const APIS: &[ApiEntry] = &[
    ApiEntry {
        key: ApiKey::Produce,
        advertised_min: 0,
        min_supported: 3,
        max: 13,
    },
    api(ApiKey::Fetch, 4, 18),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::DescribeTopicPartitions, 0, 0),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
];

pub fn entry(api_key: i16) -> Option<&'static ApiEntry> {
    APIS.iter().find(|e| e.key as i16 == api_key)
}

/// What becomes of a request once handled. Moved once per request, so its
/// size costs nothing worth a heap allocation per response.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Respond(ResponseKind),
    /// Produce with acks=0 that succeeded: nothing is sent.
    Silent,
    /// Produce with acks=0 that failed, or a request without a handler.
    Close(&'static str),
}

/// Runs the handler for a decoded request.
pub async fn dispatch(broker: &Broker, ctx: &RequestContext, request: RequestKind) -> Outcome {
    let response = match request {
        RequestKind::Produce(req) => {
            let acks = req.acks;
            let response = handlers::produce::handle(broker, ctx, req).await;
            if acks == 0 {
                return if handlers::produce::has_errors(&response) {
                    Outcome::Close("acks=0 produce failed")
                } else {
                    Outcome::Silent
                };
            }
            ResponseKind::Produce(response)
        }
        RequestKind::Fetch(req) => {
            ResponseKind::Fetch(handlers::fetch::handle(broker, ctx, req).await)
        }
        RequestKind::ListOffsets(req) => {
            ResponseKind::ListOffsets(handlers::list_offsets::handle(broker, ctx, req).await)
        }
        RequestKind::Metadata(req) => {
            ResponseKind::Metadata(handlers::metadata::handle(broker, ctx, req).await)
        }
        RequestKind::FindCoordinator(req) => ResponseKind::FindCoordinator(
            handlers::find_coordinator::handle(broker, ctx, req).await,
        ),
        RequestKind::ApiVersions(req) => {
            ResponseKind::ApiVersions(handlers::api_versions::handle(broker, ctx, req).await)
        }
        RequestKind::CreateTopics(req) => {
            ResponseKind::CreateTopics(handlers::create_topics::handle(broker, ctx, req).await)
        }
        RequestKind::DeleteTopics(req) => {
            ResponseKind::DeleteTopics(handlers::delete_topics::handle(broker, ctx, req).await)
        }
        RequestKind::DeleteRecords(req) => {
            ResponseKind::DeleteRecords(handlers::delete_records::handle(broker, ctx, req).await)
        }
        RequestKind::DescribeConfigs(req) => ResponseKind::DescribeConfigs(
            handlers::describe_configs::handle(broker, ctx, req).await,
        ),
        RequestKind::CreatePartitions(req) => ResponseKind::CreatePartitions(
            handlers::create_partitions::handle(broker, ctx, req).await,
        ),
        RequestKind::DescribeCluster(req) => ResponseKind::DescribeCluster(
            handlers::describe_cluster::handle(broker, ctx, req).await,
        ),
        RequestKind::DescribeTopicPartitions(req) => ResponseKind::DescribeTopicPartitions(
            handlers::describe_topic_partitions::handle(broker, ctx, req).await,
        ),
        RequestKind::OffsetCommit(req) => {
            ResponseKind::OffsetCommit(handlers::offset_commit::handle(broker, ctx, req).await)
        }
        RequestKind::OffsetFetch(req) => {
            ResponseKind::OffsetFetch(handlers::offset_fetch::handle(broker, ctx, req).await)
        }
        RequestKind::JoinGroup(req) => {
            ResponseKind::JoinGroup(handlers::join_group::handle(broker, ctx, req).await)
        }
        RequestKind::Heartbeat(req) => {
            ResponseKind::Heartbeat(handlers::heartbeat::handle(broker, ctx, req).await)
        }
        RequestKind::LeaveGroup(req) => {
            ResponseKind::LeaveGroup(handlers::leave_group::handle(broker, ctx, req).await)
        }
        RequestKind::SyncGroup(req) => {
            ResponseKind::SyncGroup(handlers::sync_group::handle(broker, ctx, req).await)
        }
        RequestKind::DescribeGroups(req) => {
            ResponseKind::DescribeGroups(handlers::describe_groups::handle(broker, ctx, req).await)
        }
        RequestKind::ListGroups(req) => {
            ResponseKind::ListGroups(handlers::list_groups::handle(broker, ctx, req).await)
        }
        RequestKind::DeleteGroups(req) => {
            ResponseKind::DeleteGroups(handlers::delete_groups::handle(broker, ctx, req).await)
        }
        RequestKind::OffsetDelete(req) => {
            ResponseKind::OffsetDelete(handlers::offset_delete::handle(broker, ctx, req).await)
        }
        other => {
            // The connection only decodes keys found in APIS, so this is a
            // table entry without a dispatch arm: a bug, answered by closing.
            tracing::error!(api = ?ctx.api_key, "no handler for request {:?}", std::mem::discriminant(&other));
            return Outcome::Close("no handler for this api");
        }
    };
    Outcome::Respond(response)
}
