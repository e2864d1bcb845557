//! AlterClientQuotas (v0-1): sets and removes quotas per entity, checked as
//! Kafka's controller checks them (`quotas/entity.rs`), one result per
//! entity; `validate_only` checks without storing.

use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::quotas::entity::{entity_of, entity_parts};
use crate::quotas::Alteration;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations = request
        .entries
        .iter()
        .map(|entry| Alteration {
            entity: entity_of(
                entry
                    .entity
                    .iter()
                    .map(|e| (e.entity_type.as_str(), e.entity_name.as_deref())),
            ),
            ops: entry
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let results = broker
        .quotas
        .alter(alterations, request.validate_only)
        .await;
    let entries = results
        .into_iter()
        .map(|(entity, result)| {
            let entry = EntryData::default().with_entity(
                entity_parts(entity)
                    .map(|(t, n)| {
                        EntityData::default()
                            .with_entity_type(t)
                            .with_entity_name(n)
                    })
                    .collect(),
            );
            match result {
                Ok(()) => entry,
                Err(e) => entry
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
