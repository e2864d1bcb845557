use fjord_storage::meta::TopicMeta;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::AUTHORIZED_OPERATIONS_OMITTED;
use crate::acl::AclOperation::{Create, Describe};
use crate::acl::ResourceType;
use crate::authorization;
use crate::authorizer::bindings::CLUSTER_NAME;
use crate::broker::Broker;
use crate::cluster::{wire_ids, BrokerEndpoint};
use crate::internal_topics::is_internal;
use crate::request_context::RequestContext;
use crate::topics::{validate_topic_name, MAX_TOPICS_AUTO_CREATED_PER_REQUEST};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: MetadataRequest,
) -> MetadataResponse {
    let version = ctx.api_version;
    if version < 12 && asks_by_id(&request) {
        return topic_ids_unsupported(request);
    }
    let mut response = MetadataResponse::default();
    // Addresses on the listener the client came in on, as Kafka gives them.
    response.brokers = broker
        .cluster
        .brokers(ctx.listener.as_str())
        .iter()
        .map(metadata_broker)
        .collect();
    response.cluster_id = Some(StrBytes::from_string(
        broker.cluster.cluster_id().to_string(),
    ));
    response.controller_id = BrokerId(broker.cluster.controller_id());
    response.cluster_authorized_operations = if request.include_cluster_authorized_operations {
        broker
            .authorizer
            .authorized_operations(ctx, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let include_topic_operations = request.include_topic_authorized_operations;
    let operations = |name: &str| {
        if include_topic_operations {
            broker
                .authorizer
                .authorized_operations(ctx, ResourceType::Topic, name)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        }
    };
    // v0 has no null: an empty list there means every topic. Kafka leaves
    // out the topics the principal may not describe.
    let requested = match request.topics {
        Some(topics) if !(version == 0 && topics.is_empty()) => topics,
        _ => {
            response.topics = broker
                .topics
                .all()
                .iter()
                .filter(|t| {
                    broker
                        .authorizer
                        .authorize(ctx, Describe, ResourceType::Topic, &t.name)
                })
                .map(|t| describe_topic(broker, t, operations(&t.name)))
                .collect();
            return response;
        }
    };
    // Auto-creation asked by the client (v4+) or implied before v4.
    let auto_create =
        broker.config.auto_create_topics() && (version < 4 || request.allow_auto_topic_creation);
    let mut may_create = MAX_TOPICS_AUTO_CREATED_PER_REQUEST;
    for wanted in requested {
        // As Kafka: a topic asked for by a (non-zero) id is looked up by
        // id, whatever name came with it, and an unknown id has no name.
        let by_id = !wanted.topic_id.is_nil() || wanted.name.is_none();
        let topic = match &wanted.name {
            Some(name) if !by_id => {
                lookup_by_name(broker, ctx, name, auto_create, &mut may_create).await
            }
            _ => authorization::topic_by_id(broker, ctx, Describe, wanted.topic_id),
        };
        response.topics.push(match topic {
            Ok(topic) => describe_topic(broker, &topic, operations(&topic.name)),
            Err(code) => {
                let mut entry = MetadataResponseTopic::default();
                entry.error_code = code.code();
                entry.name = if by_id { None } else { wanted.name };
                entry.topic_id = wanted.topic_id;
                entry.topic_authorized_operations =
                    operations(entry.name.as_deref().map_or("", |n| n.as_str()));
                entry
            }
        });
    }
    response
}

fn asks_by_id(request: &MetadataRequest) -> bool {
    request
        .topics
        .iter()
        .flatten()
        .any(|t| !t.topic_id.is_nil())
}

/// Topic ids in Metadata requests are served from v12 on; before that Kafka
/// 4.1 answers INVALID_REQUEST for every topic, with no brokers and no
/// controller (found by scripts/diffcheck).
fn topic_ids_unsupported(request: MetadataRequest) -> MetadataResponse {
    let mut response = MetadataResponse::default();
    response.controller_id = BrokerId(-1);
    response.cluster_authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
    response.topics = request
        .topics
        .into_iter()
        .flatten()
        .map(|wanted| {
            let mut entry = MetadataResponseTopic::default();
            entry.error_code = ResponseError::InvalidRequest.code();
            entry.name = wanted.name;
            entry.topic_id = wanted.topic_id;
            entry.topic_authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
            entry
        })
        .collect();
    response
}

/// The topic, auto-created when allowed and `may_create` (this request's
/// allowance, see `MAX_TOPICS_AUTO_CREATED_PER_REQUEST`) is not used up.
/// As Kafka: a topic the principal may not describe is denied whether or
/// not it exists, and creating one needs Cluster/Create or Topic/Create.
async fn lookup_by_name(
    broker: &Broker,
    ctx: &RequestContext,
    name: &str,
    auto_create: bool,
    may_create: &mut usize,
) -> Result<TopicMeta, ResponseError> {
    authorization::require(broker, ctx, Describe, ResourceType::Topic, name)?;
    if let Some(topic) = broker.topics.get(name) {
        return Ok(topic);
    }
    validate_topic_name(name).map_err(|e| e.code)?;
    // An internal name not listed (`__transaction_state`) does not exist
    // and is never auto-created.
    if !auto_create || is_internal(name) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if !authorization::cluster_allows(broker, ctx, Create) {
        authorization::require(broker, ctx, Create, ResourceType::Topic, name)?;
    }
    if *may_create == 0 {
        return Err(ResponseError::LeaderNotAvailable);
    }
    *may_create -= 1;
    broker
        .topics
        .get_or_create(name, broker.config.num_partitions())
        .await
        .map_err(|e| e.code)
}

pub fn metadata_broker(endpoint: &BrokerEndpoint) -> MetadataResponseBroker {
    let mut entry = MetadataResponseBroker::default();
    entry.node_id = BrokerId(endpoint.id);
    entry.host = StrBytes::from_string(endpoint.host.clone());
    entry.port = endpoint.port;
    entry.rack = endpoint.rack.clone().map(StrBytes::from_string);
    entry
}

fn describe_topic(broker: &Broker, topic: &TopicMeta, operations: i32) -> MetadataResponseTopic {
    let mut entry = MetadataResponseTopic::default();
    entry.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
    entry.topic_id = topic.id;
    entry.is_internal = is_internal(&topic.name);
    entry.topic_authorized_operations = operations;
    entry.partitions = (0..topic.partitions)
        .map(|index| {
            let mut partition = MetadataResponsePartition::default();
            partition.partition_index = index;
            let leadership = broker.cluster.leadership(topic.id, index);
            partition.leader_id = BrokerId(leadership.leader);
            partition.leader_epoch = leadership.leader_epoch;
            partition.replica_nodes = wire_ids(&leadership.replicas);
            partition.isr_nodes = wire_ids(&leadership.isr);
            partition
        })
        .collect();
    entry
}
