//! DescribeUserScramCredentials (50) and AlterUserScramCredentials (51)
//! through their handlers: Kafka's codes, and what is stored after a reopen.

use bytes::Bytes;
use fjord_storage::scram::{LocalScramStore, ScramStore};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, test_broker, TestBroker};
use super::{alter_user_scram_credentials, describe_user_scram_credentials};
use crate::security::scram::ScramServer;
use crate::security::scram_credentials::ScramMechanism;
use crate::security::scram_test_client::Client;
use crate::security::{SaslServer, SaslStep};

/// A described user as (name, code, message, (mechanism, iterations)s).
type Shown = (String, i16, Option<String>, Vec<(i8, i32)>);

fn shown(
    result: &describe_user_scram_credentials_response::DescribeUserScramCredentialsResult,
) -> Shown {
    (
        result.user.to_string(),
        result.error_code,
        result.error_message.as_ref().map(|m| m.to_string()),
        infos(result),
    )
}

const SHA256: i8 = 1;
const SHA512: i8 = 2;
const DUPLICATE: i16 = ResponseError::DuplicateResource.code();
const NOT_FOUND: i16 = ResponseError::ResourceNotFound.code();
const UNACCEPTABLE: i16 = ResponseError::UnacceptableCredential.code();
const UNSUPPORTED: i16 = ResponseError::UnsupportedSaslMechanism.code();

fn upsert(user: &str, mechanism: i8, iterations: i32, password: &str) -> ScramCredentialUpsertion {
    let salt = format!("salt-of-{user}").into_bytes();
    let salted = ScramMechanism::from_wire_type(mechanism)
        .map(|m| m.salted_password(password.as_bytes(), &salt, iterations))
        .unwrap_or_default();
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from(user.to_string()))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted.to_vec()))
}

fn delete(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(StrBytes::from(user.to_string()))
        .with_mechanism(mechanism)
}

/// Each result as (user, code, message).
async fn alter(
    broker: &TestBroker,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16, Option<String>)> {
    let request = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    let response = alter_user_scram_credentials::handle(
        broker,
        &ctx(ApiKey::AlterUserScramCredentials, 0),
        request,
    )
    .await;
    assert_encodes(&response, 0);
    response
        .results
        .into_iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )
        })
        .collect()
}

async fn describe(
    broker: &TestBroker,
    users: Option<&[&str]>,
) -> Vec<describe_user_scram_credentials_response::DescribeUserScramCredentialsResult> {
    let users = users.map(|users| {
        users
            .iter()
            .map(|u| UserName::default().with_name(StrBytes::from(u.to_string())))
            .collect()
    });
    let response = describe_user_scram_credentials::handle(
        broker,
        &ctx(ApiKey::DescribeUserScramCredentials, 0),
        DescribeUserScramCredentialsRequest::default().with_users(users),
    )
    .await;
    assert_encodes(&response, 0);
    assert_eq!(response.error_code, 0);
    response.results
}

fn infos(
    result: &describe_user_scram_credentials_response::DescribeUserScramCredentialsResult,
) -> Vec<(i8, i32)> {
    result
        .credential_infos
        .iter()
        .map(|c| (c.mechanism, c.iterations))
        .collect()
}

#[tokio::test]
async fn upserted_credentials_are_described_and_survive_a_reopen() {
    let broker = test_broker().await;
    let upserted = alter(
        &broker,
        vec![],
        vec![
            upsert("alice", SHA256, 4096, "pw"),
            upsert("bob", SHA512, 16384, "pw"),
        ],
    )
    .await;
    assert_eq!(
        upserted,
        [("alice".into(), 0, None), ("bob".into(), 0, None)]
    );
    // A second request adds alice's other mechanism.
    let more = alter(&broker, vec![], vec![upsert("alice", SHA512, 8192, "pw")]).await;
    assert_eq!(more, [("alice".into(), 0, None)]);

    for asked in [None, Some(&[][..])] {
        let all = describe(&broker, asked).await;
        let described: Vec<Shown> = all.iter().map(shown).collect();
        let ok = Some(String::new());
        assert_eq!(
            described,
            [
                (
                    "alice".into(),
                    0,
                    ok.clone(),
                    vec![(SHA256, 4096), (SHA512, 8192)]
                ),
                ("bob".into(), 0, ok, vec![(SHA512, 16384)]),
            ]
        );
    }

    let reopened = LocalScramStore::open(&broker.config.data_dir).unwrap();
    let users = reopened.users();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    let stored = reopened.credential("alice", "SCRAM-SHA-512").unwrap();
    assert_eq!(stored.iterations, 8192);
    assert_eq!(stored.salt, b"salt-of-alice");
    let file = std::fs::read_to_string(
        broker
            .config
            .data_dir
            .join(fjord_storage::scram::SCRAM_FILE),
    )
    .unwrap();
    assert!(!file.contains("salted"), "no salted password kept: {file}");

    let removed = alter(&broker, vec![delete("alice", SHA256)], vec![]).await;
    assert_eq!(removed, [("alice".into(), 0, None)]);
    let reopened = LocalScramStore::open(&broker.config.data_dir).unwrap();
    assert_eq!(reopened.credential("alice", "SCRAM-SHA-256"), None);
    assert!(reopened.credential("alice", "SCRAM-SHA-512").is_some());
}

#[tokio::test]
async fn an_upserted_credential_authenticates_over_scram() {
    let broker = test_broker().await;
    alter(
        &broker,
        vec![],
        vec![upsert("carol", SHA512, 4096, "s3cret")],
    )
    .await;
    for (password, accepted) in [("s3cret", true), ("wrong", false)] {
        let mut server = ScramServer::for_broker(ScramMechanism::Sha512, &broker);
        let client = Client::new(ScramMechanism::Sha512, "carol", password, "");
        let Ok(SaslStep::Challenge(first)) = server.step(&client.first()) else {
            panic!("no server-first message");
        };
        let (last, expected) = client.last(&String::from_utf8(first).unwrap(), None);
        match server.step(&last) {
            Ok(SaslStep::Complete {
                principal,
                final_message,
                ..
            }) => {
                assert!(accepted);
                assert_eq!(principal.name.as_str(), "carol");
                assert_eq!(String::from_utf8(final_message).unwrap(), expected);
            }
            Err(failure) => {
                assert!(!accepted, "{failure}");
                assert_eq!(failure.error, ResponseError::SaslAuthenticationFailed);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn invalid_upsertions_get_kafkas_errors_and_store_nothing() {
    let broker = test_broker().await;
    let results = alter(
        &broker,
        vec![],
        vec![
            upsert("few", SHA256, 4095, "pw"),
            upsert("many", SHA512, 16385, "pw"),
            upsert("unknown", 0, 4096, "pw"),
            upsert("future", 3, 4096, "pw"),
            upsert("", SHA256, 4096, "pw"),
        ],
    )
    .await;
    let codes: Vec<(&str, i16, &str)> = results
        .iter()
        .map(|(u, c, m)| (u.as_str(), *c, m.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        codes,
        [
            ("few", UNACCEPTABLE, "Too few iterations"),
            ("many", UNACCEPTABLE, "Too many iterations"),
            ("unknown", UNSUPPORTED, "Unknown SCRAM mechanism"),
            ("future", UNSUPPORTED, "Unknown SCRAM mechanism"),
            ("", UNACCEPTABLE, "Username must not be empty"),
        ]
    );
    assert!(broker.scram_credentials.users().is_empty());
}

#[tokio::test]
async fn a_user_named_twice_is_refused_whole_and_missing_deletions_are_not_found() {
    let broker = test_broker().await;
    alter(&broker, vec![], vec![upsert("dave", SHA256, 4096, "pw")]).await;
    let results = alter(
        &broker,
        vec![
            delete("dave", SHA256),
            delete("erin", SHA256),
            delete("dave", SHA512),
            delete("dave", SHA256),
        ],
        vec![
            upsert("frank", SHA256, 4096, "pw"),
            upsert("frank", SHA512, 4096, "pw"),
            upsert("grace", SHA256, 4096, "pw"),
        ],
    )
    .await;
    let codes: Vec<(&str, i16)> = results.iter().map(|(u, c, _)| (u.as_str(), *c)).collect();
    assert_eq!(
        codes,
        [
            ("grace", 0),
            ("erin", NOT_FOUND),
            ("dave", DUPLICATE),
            ("frank", DUPLICATE),
        ]
    );
    let dave = &results[2].2;
    assert_eq!(
        dave.as_deref(),
        Some("A user credential cannot be altered twice in the same request")
    );
    assert_eq!(
        results[1].2.as_deref(),
        Some("Attempt to delete a user credential that does not exist")
    );
    // A deletion and an upsertion of one user count as twice too.
    let results = alter(
        &broker,
        vec![delete("dave", SHA256)],
        vec![upsert("dave", SHA512, 4096, "pw")],
    )
    .await;
    assert_eq!(results[0].1, DUPLICATE);
    // Only grace's upsertion was stored; dave kept his credential.
    let stored = broker.scram_credentials.users();
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["dave", "grace"]);
    assert!(stored["dave"].contains_key("SCRAM-SHA-256"));
}

#[tokio::test]
async fn describing_unknown_or_repeated_users() {
    let broker = test_broker().await;
    alter(&broker, vec![], vec![upsert("alice", SHA256, 4096, "pw")]).await;
    let results = describe(&broker, Some(&["alice", "nobody", "alice"])).await;
    let described: Vec<Shown> = results.iter().map(shown).collect();
    assert_eq!(
        described,
        [
            (
                "alice".into(),
                DUPLICATE,
                Some(
                    "Cannot describe SCRAM credentials for the same user twice in a single \
                     request: alice"
                        .into()
                ),
                vec![]
            ),
            (
                "nobody".into(),
                NOT_FOUND,
                Some("Attempt to describe a user credential that does not exist: nobody".into()),
                vec![]
            ),
        ]
    );
    assert!(describe(&test_broker().await, None).await.is_empty());
}
