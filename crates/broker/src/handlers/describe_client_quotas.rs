//! DescribeClientQuotas (v0-1): the entities a filter matches and their
//! quotas (`quotas/describe.rs`). A bad filter answers the whole request
//! with its error (INVALID_REQUEST, or UNSUPPORTED_VERSION for an unknown
//! entity type) and no entries, as Kafka does.

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::quotas::describe::Component;
use crate::quotas::entity::entity_parts;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let components: Vec<Component> = request
        .components
        .iter()
        .map(|c| Component {
            entity_type: c.entity_type.as_str(),
            match_type: c.match_type,
            name: c._match.as_deref(),
        })
        .collect();
    match broker.quotas.describe(&components, request.strict) {
        Ok(found) => {
            let entries = found
                .into_iter()
                .map(|(entity, values)| {
                    EntryData::default()
                        .with_entity(
                            entity_parts(entity)
                                .map(|(t, n)| {
                                    EntityData::default()
                                        .with_entity_type(t)
                                        .with_entity_name(n)
                                })
                                .collect(),
                        )
                        .with_values(
                            values
                                .into_iter()
                                .map(|(key, value)| {
                                    ValueData::default()
                                        .with_key(StrBytes::from_string(key))
                                        .with_value(value)
                                })
                                .collect(),
                        )
                })
                .collect();
            DescribeClientQuotasResponse::default()
                .with_error_message(None)
                .with_entries(Some(entries))
        }
        Err(e) => DescribeClientQuotasResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(e.to_string())))
            .with_entries(None),
    }
}
