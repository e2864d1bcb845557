//! CreateDelegationToken (v1–v3): a token for the requester, or (v3) for
//! the owner it names, with renewers and an optional shorter maximum
//! lifetime (security/delegation_tokens.rs keeps them).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{CreateDelegationTokenRequest, CreateDelegationTokenResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::CreateTokens;
use crate::acl::ResourceType::User;
use crate::authorization;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::{Principal, RequestContext, USER_TYPE};
use crate::security::delegation_tokens::requests_allowed;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreateDelegationTokenRequest,
) -> CreateDelegationTokenResponse {
    let requester = ctx.principal.clone();
    let owner = match request.owner_principal_name.filter(|name| !name.is_empty()) {
        Some(name) => Principal::new(
            request
                .owner_principal_type
                .unwrap_or_else(|| StrBytes::from_static_str(USER_TYPE)),
            name,
        ),
        None => requester.clone(),
    };
    let mut response = CreateDelegationTokenResponse::default()
        .with_principal_type(owner.principal_type.clone())
        .with_principal_name(owner.name.clone());
    // The requester fields exist from v3.
    if ctx.api_version >= 3 {
        response = response
            .with_token_requester_principal_type(requester.principal_type.clone())
            .with_token_requester_principal_name(requester.name.clone());
    }
    if !requests_allowed(ctx) {
        // Refused on the broker, before Kafka forwards the request to its
        // controller: Kafka's `prepareResponse` gives -1 timestamps then
        // (the controller's own refusals leave them 0).
        return response
            .with_error_code(ResponseError::DelegationTokenRequestNotAllowed.code())
            .with_issue_timestamp_ms(-1)
            .with_expiry_timestamp_ms(-1)
            .with_max_timestamp_ms(-1);
    }
    // A token for an owner other than the requester needs CREATE_TOKENS on
    // the owner's User resource (named `User:name`, as Kafka names it).
    if owner != requester {
        let owner_name = owner.to_string();
        if let Some(denied) = authorization::refused(broker, ctx, CreateTokens, User, &owner_name) {
            return response
                .with_error_code(denied)
                .with_issue_timestamp_ms(-1)
                .with_expiry_timestamp_ms(-1)
                .with_max_timestamp_ms(-1);
        }
    }
    let renewers: Vec<Principal> = request
        .renewers
        .into_iter()
        .map(|r| Principal::new(r.principal_type, r.principal_name))
        .collect();
    let created = broker
        .delegation_tokens
        .create(
            &owner,
            &requester,
            &renewers,
            request.max_lifetime_ms,
            now_ms(),
        )
        .await;
    match created {
        Ok(token) => response
            .with_error_code(0)
            .with_issue_timestamp_ms(token.info.issue_timestamp_ms)
            .with_expiry_timestamp_ms(token.info.expiry_timestamp_ms)
            .with_max_timestamp_ms(token.info.max_timestamp_ms)
            .with_token_id(StrBytes::from(token.info.token_id))
            .with_hmac(Bytes::from(token.hmac)),
        Err(e) => {
            tracing::debug!("CreateDelegationToken for {owner} refused: {e}");
            response.with_error_code(e.code())
        }
    }
}
