//! Matching as Kafka's StandardAuthorizer matches.

use std::path::Path;

use fjord_storage::acls::StoredAcl;

use super::bindings::*;
use super::*;
use crate::acl::AclOperation::{self, *};
use crate::acl::ResourceType::{self, *};

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: i8,
    principal: &str,
    operation: AclOperation,
    permission_type: i8,
) -> StoredAcl {
    StoredAcl {
        resource_type: resource_type.code(),
        resource_name: name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: "*".to_string(),
        operation: operation as i8,
        permission_type,
    }
}

fn allow(
    resource_type: ResourceType,
    name: &str,
    pattern: i8,
    principal: &str,
    op: AclOperation,
) -> StoredAcl {
    acl(
        resource_type,
        name,
        pattern,
        principal,
        op,
        PERMISSION_ALLOW,
    )
}

fn deny(
    resource_type: ResourceType,
    name: &str,
    pattern: i8,
    principal: &str,
    op: AclOperation,
) -> StoredAcl {
    acl(resource_type, name, pattern, principal, op, PERMISSION_DENY)
}

async fn authorizer(dir: &Path, config: AuthorizerConfig, acls: Vec<StoredAcl>) -> Authorizer {
    let authorizer = Authorizer::open(
        AuthorizerConfig {
            enabled: true,
            ..config
        },
        dir,
    )
    .unwrap();
    authorizer
        .update(|stored| stored.extend(acls))
        .await
        .unwrap();
    authorizer
}

fn may(a: &Authorizer, principal: &str, op: AclOperation, rt: ResourceType, name: &str) -> bool {
    a.authorize_principal(principal, "127.0.0.1", op, rt, name)
}

#[tokio::test]
async fn literal_prefixed_and_wildcard_names() {
    let dir = tempfile::tempdir().unwrap();
    let a = authorizer(
        dir.path(),
        AuthorizerConfig::default(),
        vec![
            allow(Topic, "orders", PATTERN_LITERAL, "User:alice", Read),
            allow(Topic, "logs-", PATTERN_PREFIXED, "User:alice", Write),
            allow(Group, "*", PATTERN_LITERAL, "User:alice", Read),
        ],
    )
    .await;
    assert!(may(&a, "User:alice", Read, Topic, "orders"));
    assert!(!may(&a, "User:alice", Read, Topic, "orders2"));
    assert!(!may(&a, "User:bob", Read, Topic, "orders"));
    assert!(may(&a, "User:alice", Write, Topic, "logs-a"));
    assert!(may(&a, "User:alice", Write, Topic, "logs-"));
    assert!(!may(&a, "User:alice", Write, Topic, "logs"));
    assert!(!may(&a, "User:alice", Write, Topic, "xlogs-a"));
    assert!(may(&a, "User:alice", Read, Group, "any-group"));
    assert!(!may(&a, "User:alice", Read, TransactionalId, "any-group"));
}

#[tokio::test]
async fn deny_beats_allow_and_wildcard_principal() {
    let dir = tempfile::tempdir().unwrap();
    let a = authorizer(
        dir.path(),
        AuthorizerConfig::default(),
        vec![
            allow(Topic, "t", PATTERN_PREFIXED, WILDCARD_PRINCIPAL, All),
            deny(Topic, "t1", PATTERN_LITERAL, "User:bob", Write),
        ],
    )
    .await;
    assert!(may(&a, "User:alice", Write, Topic, "t1"));
    assert!(!may(&a, "User:bob", Write, Topic, "t1"));
    assert!(may(&a, "User:bob", Read, Topic, "t1"));
    assert!(may(&a, "User:bob", Write, Topic, "t2"));
}

#[tokio::test]
async fn implied_operations() {
    let dir = tempfile::tempdir().unwrap();
    let a = authorizer(
        dir.path(),
        AuthorizerConfig::default(),
        vec![
            allow(Topic, "r", PATTERN_LITERAL, "User:u", Read),
            allow(Topic, "w", PATTERN_LITERAL, "User:u", Write),
            allow(Topic, "d", PATTERN_LITERAL, "User:u", Delete),
            allow(Topic, "a", PATTERN_LITERAL, "User:u", Alter),
            allow(Topic, "c", PATTERN_LITERAL, "User:u", AlterConfigs),
            allow(Topic, "x", PATTERN_LITERAL, "User:u", Create),
            // A DENY of READ does not deny the DESCRIBE it would imply.
            allow(Topic, "y", PATTERN_LITERAL, "User:u", Describe),
            deny(Topic, "y", PATTERN_LITERAL, "User:u", Read),
        ],
    )
    .await;
    for name in ["r", "w", "d", "a", "y"] {
        assert!(may(&a, "User:u", Describe, Topic, name), "{name}");
    }
    assert!(!may(&a, "User:u", Describe, Topic, "x"));
    assert!(!may(&a, "User:u", Describe, Topic, "c"));
    assert!(may(&a, "User:u", DescribeConfigs, Topic, "c"));
    assert!(!may(&a, "User:u", Read, Topic, "w"));
    assert!(!may(&a, "User:u", Read, Topic, "y"));
}

#[tokio::test]
async fn super_users_and_the_no_acl_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = AuthorizerConfig {
        super_users: ["User:admin".to_string()].into(),
        ..AuthorizerConfig::default()
    };
    let a = authorizer(
        dir.path(),
        config.clone(),
        vec![
            deny(Topic, "t", PATTERN_LITERAL, "User:admin", All),
            allow(Topic, "t", PATTERN_LITERAL, "User:u", Read),
        ],
    )
    .await;
    assert!(may(&a, "User:admin", Write, Topic, "t"));
    assert!(may(&a, "User:admin", Alter, Cluster, CLUSTER_NAME));
    assert!(!may(&a, "User:u", Read, Topic, "other"));

    let dir = tempfile::tempdir().unwrap();
    let everyone = AuthorizerConfig {
        allow_everyone_if_no_acl_found: true,
        ..config
    };
    let a = authorizer(
        dir.path(),
        everyone,
        vec![allow(Topic, "t", PATTERN_LITERAL, "User:u", Read)],
    )
    .await;
    // No ACL names "other": allowed. "t" has an ACL, for someone else.
    assert!(may(&a, "User:v", Read, Topic, "other"));
    assert!(!may(&a, "User:v", Read, Topic, "t"));
}

#[tokio::test]
async fn hosts_match_exactly_or_by_wildcard() {
    let dir = tempfile::tempdir().unwrap();
    let mut only_there = allow(Topic, "t", PATTERN_LITERAL, "User:u", Read);
    only_there.host = "10.0.0.1".to_string();
    let a = authorizer(dir.path(), AuthorizerConfig::default(), vec![only_there]).await;
    assert!(a.authorize_principal("User:u", "10.0.0.1", Read, Topic, "t"));
    assert!(!a.authorize_principal("User:u", "10.0.0.2", Read, Topic, "t"));
}

#[tokio::test]
async fn disabled_allows_everything() {
    let a = Authorizer::disabled();
    assert!(!a.enabled());
    assert!(may(&a, "User:nobody", Alter, Cluster, CLUSTER_NAME));
}

#[tokio::test]
async fn acls_are_reloaded_from_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = AuthorizerConfig::default();
    drop(
        authorizer(
            dir.path(),
            config.clone(),
            vec![allow(Topic, "t", PATTERN_LITERAL, "User:u", Read)],
        )
        .await,
    );
    let reopened = Authorizer::open(
        AuthorizerConfig {
            enabled: true,
            ..config
        },
        dir.path(),
    )
    .unwrap();
    assert!(may(&reopened, "User:u", Read, Topic, "t"));
    assert_eq!(reopened.acls().unwrap().len(), 1);
}

/// The lookup costs the same with 10,000 ACLs as with a few: checks on a
/// name that many ACLs do not name stay fast.
#[tokio::test]
async fn lookup_is_not_linear_in_the_number_of_acls() {
    let dir = tempfile::tempdir().unwrap();
    let mut acls = Vec::new();
    for i in 0..5_000 {
        acls.push(allow(
            Topic,
            &format!("topic-{i}"),
            PATTERN_LITERAL,
            "User:u",
            Read,
        ));
        acls.push(allow(
            Topic,
            &format!("prefix-{i}-"),
            PATTERN_PREFIXED,
            "User:u",
            Write,
        ));
    }
    let a = authorizer(dir.path(), AuthorizerConfig::default(), acls).await;
    let started = std::time::Instant::now();
    for i in 0..10_000 {
        let n = i % 5_000;
        assert!(may(&a, "User:u", Read, Topic, &format!("topic-{n}")));
        assert!(may(&a, "User:u", Write, Topic, &format!("prefix-{n}-x")));
    }
    // 20,000 checks over 10,000 ACLs; a scan of every ACL per check would
    // be 200 million comparisons.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn creations_are_validated_as_kafka_validates_them() {
    let good = allow(Topic, "t", PATTERN_LITERAL, "User:u", Read);
    assert_eq!(validate(&good), Ok(()));
    let cases: Vec<(StoredAcl, &str)> = vec![
        (
            StoredAcl {
                resource_type: 1,
                ..good.clone()
            },
            "Invalid resourceType",
        ),
        (
            StoredAcl {
                resource_type: 0,
                ..good.clone()
            },
            "Invalid resourceType",
        ),
        (
            StoredAcl {
                pattern_type: PATTERN_MATCH,
                ..good.clone()
            },
            "Invalid patternType",
        ),
        (
            StoredAcl {
                pattern_type: PATTERN_ANY,
                ..good.clone()
            },
            "Invalid patternType",
        ),
        (
            StoredAcl {
                operation: 1,
                ..good.clone()
            },
            "Invalid operation",
        ),
        (
            StoredAcl {
                operation: 0,
                ..good.clone()
            },
            "Invalid operation",
        ),
        (
            StoredAcl {
                permission_type: PERMISSION_ANY,
                ..good.clone()
            },
            "Invalid permissionType",
        ),
        (
            StoredAcl {
                principal: String::new(),
                ..good.clone()
            },
            "Could not parse principal",
        ),
        (
            StoredAcl {
                principal: "alice".into(),
                ..good.clone()
            },
            "Could not parse principal",
        ),
        (
            StoredAcl {
                resource_name: String::new(),
                ..good.clone()
            },
            "empty resource name",
        ),
        (
            StoredAcl {
                resource_type: Cluster.code(),
                ..good.clone()
            },
            "kafka-cluster",
        ),
    ];
    for (acl, expected) in cases {
        let err = validate(&acl).unwrap_err();
        assert!(err.contains(expected), "{acl:?}: {err}");
    }
}

#[test]
fn filters_match_as_kafka_filters() {
    let literal = allow(Topic, "orders", PATTERN_LITERAL, "User:u", Read);
    let wildcard = allow(Topic, "*", PATTERN_LITERAL, "User:u", Read);
    let prefixed = allow(Topic, "ord", PATTERN_PREFIXED, "User:u", Read);
    let filter = |pattern_type: i8, name: Option<&str>| Filter {
        resource_type: RESOURCE_ANY,
        resource_name: name.map(str::to_owned),
        pattern_type,
        principal: None,
        host: None,
        operation: AclOperation::Any as i8,
        permission_type: PERMISSION_ANY,
    };
    let selects = |f: &Filter| [&literal, &wildcard, &prefixed].map(|a| f.matches(a));
    assert_eq!(selects(&filter(PATTERN_ANY, None)), [true, true, true]);
    assert_eq!(
        selects(&filter(PATTERN_ANY, Some("orders"))),
        [true, false, false]
    );
    assert_eq!(
        selects(&filter(PATTERN_MATCH, Some("orders"))),
        [true, true, true]
    );
    assert_eq!(
        selects(&filter(PATTERN_MATCH, Some("other"))),
        [false, true, false]
    );
    assert_eq!(selects(&filter(PATTERN_LITERAL, None)), [true, true, false]);
    assert_eq!(
        selects(&filter(PATTERN_PREFIXED, Some("ord"))),
        [false, false, true]
    );
    let mut by_principal = filter(PATTERN_ANY, None);
    by_principal.principal = Some("User:v".into());
    assert_eq!(selects(&by_principal), [false, false, false]);
    assert!(filter(PATTERN_ANY, None).validate().is_ok());
    assert!(filter(0, None).validate().is_err());
    let mut unknown_op = filter(PATTERN_ANY, None);
    unknown_op.operation = 0;
    assert!(unknown_op.validate().is_err());
}
