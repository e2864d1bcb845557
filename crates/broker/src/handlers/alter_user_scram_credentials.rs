//! AlterUserScramCredentials (v0): deletions and upsertions of users'
//! SCRAM credentials, stored together, one result per user named
//! (security/scram_admin.rs has Kafka's rules and errors). An upsertion
//! carries the salted password the client derived, never the password.

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use zeroize::Zeroizing;

use crate::broker::Broker;
use crate::request_context::RequestContext;
use crate::security::scram_admin::{self, Deletion, Upsertion};

pub async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions = request
        .deletions
        .into_iter()
        .map(|d| Deletion {
            user: d.name.to_string(),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions = request
        .upsertions
        .into_iter()
        .map(|u| Upsertion {
            user: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: Zeroizing::new(u.salted_password.to_vec()),
        })
        .collect();
    let results = scram_admin::alter(broker.scram_credentials.as_ref(), deletions, upsertions)
        .await
        .into_iter()
        .map(|(user, outcome)| {
            let result = AlterUserScramCredentialsResult::default().with_user(StrBytes::from(user));
            match outcome {
                // Kafka's controller sends null here (describe leaves its
                // successes at the generated default, "").
                Ok(()) => result.with_error_message(None),
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from(e.to_string()))),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
