//! DescribeTransactions: each transactional id's state from the
//! coordinator, as Kafka's `TransactionCoordinator.handleDescribeTransactions`
//! answers it: an unknown (or expiring) id is TRANSACTIONAL_ID_NOT_FOUND,
//! the empty id INVALID_REQUEST. A group the transaction commits offsets
//! for is listed as Kafka lists it, as the `__consumer_offsets` partition
//! that holds the group.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::internal_topics::CONSUMER_OFFSETS;
use crate::request_context::RequestContext;
use crate::transactions::metadata::TransactionMetadata;
use crate::transactions::TxnState;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let offsets_partitions = broker
        .topics
        .get(CONSUMER_OFFSETS)
        .map_or(1, |topic| topic.partitions);
    let mut response = DescribeTransactionsResponse::default();
    for id in request.transactional_ids {
        let mut state = TransactionState::default();
        let metadata = if let Err(denied) =
            authorization::require(broker, ctx, Describe, ResourceType::TransactionalId, &id)
        {
            Err(denied)
        } else if id.is_empty() {
            Err(ResponseError::InvalidRequest)
        } else {
            match broker.transactions.describe(&id).await {
                Some(m) if m.state != TxnState::Dead => Ok(m),
                _ => Err(ResponseError::TransactionalIdNotFound),
            }
        };
        match metadata {
            Ok(metadata) => {
                describe(&mut state, &metadata, offsets_partitions);
                // Kafka shows only the topics the principal may describe.
                state.topics.retain(|t| {
                    broker
                        .authorizer
                        .authorize(ctx, Describe, ResourceType::Topic, &t.topic)
                });
            }
            Err(code) => state.error_code = code.code(),
        }
        state.transactional_id = id;
        response.transaction_states.push(state);
    }
    response
}

fn describe(state: &mut TransactionState, metadata: &TransactionMetadata, offsets_partitions: i32) {
    state.transaction_state = StrBytes::from_static_str(metadata.state.name());
    state.transaction_timeout_ms = metadata.timeout_ms;
    state.transaction_start_time_ms = metadata.start_timestamp_ms;
    state.producer_id = ProducerId(metadata.producer_id);
    state.producer_epoch = metadata.producer_epoch;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in &metadata.partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    for group in &metadata.groups {
        let partitions = topics.entry(CONSUMER_OFFSETS).or_default();
        let partition = offsets_partition_of(group, offsets_partitions);
        if !partitions.contains(&partition) {
            partitions.push(partition);
        }
    }
    for (topic, partitions) in topics {
        let mut data = TopicData::default();
        data.topic = TopicName(StrBytes::from_string(topic.to_string()));
        data.partitions = partitions;
        state.topics.push(data);
    }
}

/// The `__consumer_offsets` partition of a group as Kafka places it: the
/// Java `String.hashCode` of the id through Kafka's `Utils.abs` (the
/// absolute value, and 0 for `Integer.MIN_VALUE`; not `Utils.toPositive`,
/// which clears the sign bit), modulo the count.
pub(crate) fn offsets_partition_of(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    hash.checked_abs().unwrap_or(0) % partitions.max(1)
}
