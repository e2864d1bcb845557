//! DescribeDelegationToken (v1–v3): the tokens the principal owns or may
//! renew, among those of the owners asked about (all when the list is
//! null, none when it is empty).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_delegation_token_response::{
    DescribedDelegationToken, DescribedDelegationTokenRenewer,
};
use kafka_protocol::messages::{DescribeDelegationTokenRequest, DescribeDelegationTokenResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::{Describe, DescribeTokens};
use crate::acl::ResourceType::{DelegationToken, User};
use crate::broker::Broker;
use crate::request_context::{Principal, RequestContext};
use crate::security::delegation_tokens::{requests_allowed, IssuedToken};
use fjord_storage::tokens::StoredToken;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeDelegationTokenRequest,
) -> DescribeDelegationTokenResponse {
    let refused = |code: i16| DescribeDelegationTokenResponse::default().with_error_code(code);
    if !requests_allowed(ctx) {
        return refused(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let owners: Option<Vec<Principal>> = request.owners.map(|owners| {
        owners
            .into_iter()
            .map(|o| Principal::new(o.principal_type, o.principal_name))
            .collect()
    });
    // With an authorizer Kafka also shows the tokens the principal may
    // describe, or whose owner it may describe the tokens of.
    let also_visible = |token: &StoredToken| {
        let owner = format!("{}:{}", token.owner.principal_type, token.owner.name);
        let authorizer = &broker.authorizer;
        authorizer.enabled()
            && (authorizer.authorize(ctx, Describe, DelegationToken, &token.token_id)
                || authorizer.authorize(ctx, DescribeTokens, User, &owner))
    };
    let tokens = match broker.delegation_tokens.describe_visible(
        &ctx.principal,
        owners.as_deref(),
        also_visible,
    ) {
        Ok(tokens) => tokens,
        Err(e) => return refused(e.code()),
    };
    let tokens = tokens
        .into_iter()
        .map(|token| described(token, ctx.api_version))
        .collect();
    DescribeDelegationTokenResponse::default()
        .with_error_code(0)
        .with_tokens(tokens)
}

fn described(token: IssuedToken, version: i16) -> DescribedDelegationToken {
    let IssuedToken { info, hmac } = token;
    let renewers = info
        .renewers
        .into_iter()
        .map(|r| {
            DescribedDelegationTokenRenewer::default()
                .with_principal_type(StrBytes::from(r.principal_type))
                .with_principal_name(StrBytes::from(r.name))
        })
        .collect();
    let mut described = DescribedDelegationToken::default()
        .with_principal_type(StrBytes::from(info.owner.principal_type))
        .with_principal_name(StrBytes::from(info.owner.name))
        .with_issue_timestamp(info.issue_timestamp_ms)
        .with_expiry_timestamp(info.expiry_timestamp_ms)
        .with_max_timestamp(info.max_timestamp_ms)
        .with_token_id(StrBytes::from(info.token_id))
        .with_hmac(Bytes::from(hmac))
        .with_renewers(renewers);
    // The requester fields exist from v3.
    if version >= 3 {
        described = described
            .with_token_requester_principal_type(StrBytes::from(info.requester.principal_type))
            .with_token_requester_principal_name(StrBytes::from(info.requester.name));
    }
    described
}
