//! The ACLs indexed for authorization: by resource type, then by name, so
//! that one check costs a few hash lookups whatever the number of ACLs.
//! Prefixed ACLs are found by looking up the resource name's prefixes, but
//! only at the lengths some prefixed ACL of that type has.

use std::collections::{BTreeSet, HashMap};

use fjord_storage::acls::StoredAcl;

use super::bindings::{
    PATTERN_LITERAL, PATTERN_PREFIXED, PERMISSION_ALLOW, PERMISSION_DENY, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};
use crate::acl::{AclOperation, ResourceType};

/// What a principal is allowed on a resource, from the ACLs that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
    /// No ACL names this resource at all (for any principal): the
    /// authorizer's default (`allow.everyone.if.no.acl.found`) decides.
    NoAcls,
}

#[derive(Debug, Clone)]
struct Entry {
    principal: String,
    host: String,
    operation: AclOperation,
    deny: bool,
}

#[derive(Debug, Default)]
struct ByName {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: HashMap<String, Vec<Entry>>,
    /// The byte lengths of the prefixed names, shortest first.
    prefix_lengths: BTreeSet<usize>,
}

#[derive(Debug, Default)]
pub struct AclIndex {
    by_type: HashMap<ResourceType, ByName>,
}

impl AclIndex {
    pub fn new(acls: &[StoredAcl]) -> Self {
        let mut index = AclIndex::default();
        for acl in acls {
            let (Some(resource_type), Some(operation)) = (
                ResourceType::from_code(acl.resource_type),
                AclOperation::from_code(acl.operation),
            ) else {
                continue;
            };
            let entry = Entry {
                principal: acl.principal.clone(),
                host: acl.host.clone(),
                operation,
                deny: acl.permission_type == PERMISSION_DENY,
            };
            if acl.permission_type != PERMISSION_DENY && acl.permission_type != PERMISSION_ALLOW {
                continue;
            }
            let by_name = index.by_type.entry(resource_type).or_default();
            let map = match acl.pattern_type {
                PATTERN_LITERAL => &mut by_name.literal,
                PATTERN_PREFIXED => {
                    by_name.prefix_lengths.insert(acl.resource_name.len());
                    &mut by_name.prefixed
                }
                _ => continue,
            };
            map.entry(acl.resource_name.clone())
                .or_default()
                .push(entry);
        }
        index
    }

    /// Kafka's rule: any DENY that applies wins; else any ALLOW that
    /// applies (ALL, the operation itself, or one implying it) allows; else
    /// denied, unless no ACL names the resource at all.
    pub fn decide(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Decision {
        let Some(by_name) = self.by_type.get(&resource_type) else {
            return Decision::NoAcls;
        };
        let mut found_any = false;
        let mut allowed = false;
        let mut consider = |entries: Option<&Vec<Entry>>| -> bool {
            for entry in entries.into_iter().flatten() {
                found_any = true;
                if !(entry.principal == principal || entry.principal == WILDCARD_PRINCIPAL) {
                    continue;
                }
                if !(entry.host == WILDCARD_HOST || entry.host == host) {
                    continue;
                }
                if entry.deny {
                    if entry.operation == AclOperation::All || entry.operation == operation {
                        return true;
                    }
                } else if grants(entry.operation, operation) {
                    allowed = true;
                }
            }
            false
        };
        if consider(by_name.literal.get(name)) || consider(by_name.literal.get(WILDCARD_RESOURCE)) {
            return Decision::Denied;
        }
        for &len in &by_name.prefix_lengths {
            if len > name.len() {
                break;
            }
            let Some(prefix) = name.get(..len) else {
                continue;
            };
            if consider(by_name.prefixed.get(prefix)) {
                return Decision::Denied;
            }
        }
        if allowed {
            Decision::Allowed
        } else if found_any {
            Decision::Denied
        } else {
            Decision::NoAcls
        }
    }
}

impl AclIndex {
    /// Kafka's `authorizeByResourceType`: whether some ALLOW of
    /// `operation` (or ALL) on a resource of `resource_type` applies to the
    /// principal without a DENY covering that resource pattern (the same
    /// name, a prefix of it, or the wildcard). NoAcls when the type has none.
    pub fn decide_any(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> Decision {
        let Some(by_name) = self.by_type.get(&resource_type) else {
            return Decision::NoAcls;
        };
        let applies = |entry: &Entry, deny: bool| {
            entry.deny == deny
                && (entry.principal == principal || entry.principal == WILDCARD_PRINCIPAL)
                && (entry.host == WILDCARD_HOST || entry.host == host)
                && (entry.operation == AclOperation::All || entry.operation == operation)
        };
        let any = |entries: Option<&Vec<Entry>>, deny: bool| {
            entries
                .into_iter()
                .flatten()
                .any(|entry| applies(entry, deny))
        };
        if any(by_name.literal.get(WILDCARD_RESOURCE), true) {
            return Decision::Denied;
        }
        let denied_by_prefix = |name: &str| {
            by_name.prefixed.iter().any(|(prefix, entries)| {
                name.starts_with(prefix.as_str()) && any(Some(entries), true)
            })
        };
        let literal_allowed = by_name.literal.iter().any(|(name, entries)| {
            any(Some(entries), false)
                && (name == WILDCARD_RESOURCE
                    || !(any(Some(entries), true) || denied_by_prefix(name)))
        });
        let prefixed_allowed = by_name
            .prefixed
            .iter()
            .any(|(name, entries)| any(Some(entries), false) && !denied_by_prefix(name));
        if literal_allowed || prefixed_allowed {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }
}

/// Whether an ALLOW of `acl_operation` permits `requested`: ALL permits
/// everything; READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
/// implies DESCRIBE_CONFIGS.
fn grants(acl_operation: AclOperation, requested: AclOperation) -> bool {
    use AclOperation::*;
    acl_operation == All
        || acl_operation == requested
        || (requested == Describe && matches!(acl_operation, Read | Write | Delete | Alter))
        || (requested == DescribeConfigs && acl_operation == AlterConfigs)
}
