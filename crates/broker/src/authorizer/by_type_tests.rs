//! `decide_any`, Kafka's `authorizeByResourceType`: may the principal
//! perform an operation on some resource of a type?

use fjord_storage::acls::StoredAcl;

use super::bindings::*;
use super::{AclIndex, Decision};
use crate::acl::AclOperation::{self, *};
use crate::acl::ResourceType::*;

fn binding(name: &str, pattern_type: i8, op: AclOperation, permission_type: i8) -> StoredAcl {
    StoredAcl {
        resource_type: Topic.code(),
        resource_name: name.to_string(),
        pattern_type,
        principal: "User:alice".to_string(),
        host: "*".to_string(),
        operation: op as i8,
        permission_type,
    }
}

fn decide(acls: &[StoredAcl]) -> Decision {
    AclIndex::new(acls).decide_any("User:alice", "10.0.0.1", Write, Topic)
}

#[test]
fn an_allow_on_any_topic_allows_unless_a_deny_covers_its_pattern() {
    let allow_orders = binding("orders", PATTERN_LITERAL, Write, PERMISSION_ALLOW);
    assert_eq!(decide(&[]), Decision::NoAcls);
    assert_eq!(
        decide(std::slice::from_ref(&allow_orders)),
        Decision::Allowed
    );
    // ALL counts; an operation only implying another does not.
    assert_eq!(
        decide(&[binding("x", PATTERN_PREFIXED, All, PERMISSION_ALLOW)]),
        Decision::Allowed
    );
    assert_eq!(
        decide(&[binding("x", PATTERN_LITERAL, Read, PERMISSION_ALLOW)]),
        Decision::Denied
    );
    // A deny on the same name, on a prefix of it, or on every topic.
    for deny in [
        binding("orders", PATTERN_LITERAL, Write, PERMISSION_DENY),
        binding("ord", PATTERN_PREFIXED, Write, PERMISSION_DENY),
        binding("*", PATTERN_LITERAL, All, PERMISSION_DENY),
    ] {
        assert_eq!(
            decide(&[allow_orders.clone(), deny.clone()]),
            Decision::Denied,
            "{deny:?}"
        );
    }
    // A deny elsewhere leaves the allow standing.
    let elsewhere = binding("payments", PATTERN_LITERAL, Write, PERMISSION_DENY);
    assert_eq!(decide(&[allow_orders, elsewhere]), Decision::Allowed);
}
