//! Every API the registry declares, sent by `User:alice` with the
//! authorizer on: without ACLs each is refused with its own authorization
//! error (or answers a listing without what she may not see); with an ACL
//! allowing her everything, none is refused. An API added to the registry
//! without a case here fails the walk.

use kafka_protocol::messages::ApiKey;

use super::authorization_table_cases::*;
use super::authorization_test_support::*;
use crate::api::APIS;

/// Topic `t` with a record, topic `doomed`, group `g` with an offset,
/// transaction `tx`, and a token of bob's: all made by the super user.
async fn populated() -> crate::handlers::test_support::TestBroker {
    let broker = secured_broker().await;
    for topic in ["t", "doomed"] {
        broker
            .topics
            .create(topic, 2, Default::default(), false)
            .await
            .expect("topic created");
    }
    super::test_support::append_records(&broker, "t", 0, 1).await;
    // The first case of each of these (by key and version) makes the state.
    let setup = [
        (ApiKey::OffsetCommit, 9),
        (ApiKey::InitProducerId, 4),
        (ApiKey::CreateDelegationToken, 3),
    ];
    for (key, version) in setup {
        let case = cases()
            .into_iter()
            .find(|c| c.key == key && c.version == version)
            .expect("a setup case");
        let codes = codes(&send(&broker, "admin", key, version, (case.request)()).await);
        assert!(codes.iter().all(|c| *c == 0), "setup {key:?}: {codes:?}");
    }
    broker
}

#[tokio::test]
async fn every_declared_api_refuses_a_principal_without_acls_and_serves_one_with_them() {
    let broker = populated().await;
    let cases = cases();
    for entry in APIS {
        assert!(
            cases.iter().any(|c| c.key == entry.key),
            "{:?} has no case in the authorization table",
            entry.key
        );
    }
    for case in &cases {
        let response = send(&broker, "alice", case.key, case.version, (case.request)()).await;
        let codes = codes(&response);
        let what = format!(
            "{:?} v{} without ACLs: {response:?}",
            case.key, case.version
        );
        match case.denied {
            Denied::With(code) => {
                assert!(
                    !codes.is_empty() && codes.iter().all(|c| *c == code),
                    "{what}"
                );
            }
            Denied::Hidden => {
                assert_eq!(listed(&response), Some(0), "{what}");
                assert!(
                    codes.iter().all(|c| !AUTHORIZATION_CODES.contains(c)),
                    "{what}"
                );
            }
            Denied::Unchecked => {
                assert!(
                    codes.iter().all(|c| !AUTHORIZATION_CODES.contains(c)),
                    "{what}"
                );
            }
        }
    }
    add_acls(&broker, allow_everything("User:alice")).await;
    for case in &cases {
        let response = send(&broker, "alice", case.key, case.version, (case.request)()).await;
        let codes = codes(&response);
        let what = format!("{:?} v{} allowed: {response:?}", case.key, case.version);
        assert!(
            codes.iter().all(|c| !AUTHORIZATION_CODES.contains(c)),
            "{what}"
        );
        if let Denied::Hidden = case.denied {
            assert!(listed(&response).is_some_and(|n| n > 0), "{what}");
        }
    }
}
