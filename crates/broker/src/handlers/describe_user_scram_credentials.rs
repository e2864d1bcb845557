//! DescribeUserScramCredentials (v0): the mechanisms and iteration counts
//! of the users named (all users when the list is null or empty), never
//! salts or keys. An unknown user is RESOURCE_NOT_FOUND and a user named
//! twice DUPLICATE_RESOURCE, each in its own result (security/scram_admin.rs).

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::request_context::RequestContext;
use crate::security::scram_admin;

pub async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let users = request
        .users
        .map(|users| users.into_iter().map(|u| u.name.to_string()).collect());
    let results = scram_admin::describe(broker.scram_credentials.as_ref(), users)
        .into_iter()
        .map(|(user, described)| {
            let result =
                DescribeUserScramCredentialsResult::default().with_user(StrBytes::from(user));
            match described {
                Ok(credentials) => result.with_credential_infos(
                    credentials
                        .into_iter()
                        .map(|(mechanism, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(mechanism.wire_type())
                                .with_iterations(iterations)
                        })
                        .collect(),
                ),
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from(e.to_string()))),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
