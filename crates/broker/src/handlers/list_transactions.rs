//! ListTransactions: the coordinator's transactional ids, filtered by
//! state, producer id, duration (v1+) and id pattern (v2+) as Kafka's
//! `TransactionStateManager.listTransactionStates` filters them. A state
//! filter Kafka does not know is echoed back in `unknown_state_filters`
//! and otherwise ignored (as Kafka does: naming only unknown states lists
//! every state); a pattern that does not compile is
//! INVALID_REGULAR_EXPRESSION.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::transactions::listing::{state_named, ListFilter};

/// v0 has no duration filter: it lists whatever the duration.
const DURATION_SINCE: i16 = 1;
const PATTERN_SINCE: i16 = 2;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut response = ListTransactionsResponse::default();
    let mut filter = ListFilter {
        min_duration_ms: if ctx.api_version >= DURATION_SINCE {
            request.duration_filter
        } else {
            -1
        },
        producer_ids: request.producer_id_filters.iter().map(|p| p.0).collect(),
        ..ListFilter::default()
    };
    for name in request.state_filters {
        match state_named(&name) {
            Some(state) => {
                filter.states.insert(state);
            }
            None => response.unknown_state_filters.push(name),
        }
    }
    let pattern = request
        .transactional_id_pattern
        .filter(|p| ctx.api_version >= PATTERN_SINCE && !p.is_empty());
    if let Some(pattern) = pattern {
        match ListFilter::whole_match(&pattern) {
            Ok(compiled) => filter.transactional_id_pattern = Some(compiled),
            Err(why) => {
                tracing::debug!(pattern = %pattern, error = %why, "ListTransactions pattern refused");
                response.error_code = ResponseError::InvalidRegularExpression.code();
                return response;
            }
        }
    }
    let now = now_ms();
    for (id, metadata) in broker.transactions.transactions().await {
        // Kafka lists only the ids the principal may describe.
        let describable = || {
            broker
                .authorizer
                .authorize(ctx, Describe, ResourceType::TransactionalId, &id)
        };
        if !filter.accepts(&id, &metadata, now) || !describable() {
            continue;
        }
        let mut state = TransactionState::default();
        state.transaction_state = StrBytes::from_static_str(metadata.state.name());
        state.producer_id = ProducerId(metadata.producer_id);
        state.transactional_id = TransactionalId(StrBytes::from_string(id));
        response.transaction_states.push(state);
    }
    response
}
