//! ACL bindings and binding filters as Kafka defines them
//! (`AclBinding`, `AclBindingFilter`), with the checks Kafka applies to a
//! binding before storing it and to a filter before using it.

use fjord_storage::acls::StoredAcl;

use crate::acl::{AclOperation, ResourceType};

/// `PatternType` wire codes.
pub const PATTERN_ANY: i8 = 1;
pub const PATTERN_MATCH: i8 = 2;
pub const PATTERN_LITERAL: i8 = 3;
pub const PATTERN_PREFIXED: i8 = 4;
/// `AclPermissionType` wire codes.
pub const PERMISSION_ANY: i8 = 1;
pub const PERMISSION_DENY: i8 = 2;
pub const PERMISSION_ALLOW: i8 = 3;
/// `ResourceType.ANY`.
pub const RESOURCE_ANY: i8 = 1;
/// The one name a CLUSTER resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A literal resource name that matches every name of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// The principal that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The host that matches every address.
pub const WILDCARD_HOST: &str = "*";

/// A binding checked as Kafka checks one in CreateAcls; `Err` carries the
/// message of the INVALID_REQUEST answered for it.
pub fn validate(acl: &StoredAcl) -> Result<(), String> {
    let resource_type = ResourceType::from_code(acl.resource_type)
        .ok_or_else(|| format!("Invalid resourceType {}", acl.resource_type))?;
    if acl.pattern_type != PATTERN_LITERAL && acl.pattern_type != PATTERN_PREFIXED {
        return Err(format!("Invalid patternType {}", acl.pattern_type));
    }
    match AclOperation::from_code(acl.operation) {
        Some(AclOperation::Unknown | AclOperation::Any) | None => {
            return Err(format!("Invalid operation {}", acl.operation))
        }
        Some(_) => {}
    }
    if acl.permission_type != PERMISSION_ALLOW && acl.permission_type != PERMISSION_DENY {
        return Err(format!("Invalid permissionType {}", acl.permission_type));
    }
    if acl.resource_name.is_empty() {
        return Err("Invalid empty resource name specified".to_string());
    }
    if resource_type == ResourceType::Cluster && acl.resource_name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    match acl.principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
        _ => {
            return Err(format!(
                "Could not parse principal from `{}` (no colon is present separating the \
                 principal type from the principal name)",
                acl.principal
            ))
        }
    }
    if acl.host.is_empty() {
        return Err("Invalid empty host".to_string());
    }
    Ok(())
}

/// Kafka's `AclBindingFilter`: None fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission_type: i8,
}

impl Filter {
    /// Refuses a filter with an UNKNOWN (or undefined) element, as Kafka's
    /// DescribeAcls and DeleteAcls do (INVALID_REQUEST).
    pub fn validate(&self) -> Result<(), String> {
        let known_type = self.resource_type == RESOURCE_ANY
            || ResourceType::from_code(self.resource_type).is_some();
        let known_pattern = (PATTERN_ANY..=PATTERN_PREFIXED).contains(&self.pattern_type);
        let known_operation = matches!(
            AclOperation::from_code(self.operation),
            Some(op) if op != AclOperation::Unknown
        );
        let known_permission = (PERMISSION_ANY..=PERMISSION_ALLOW).contains(&self.permission_type);
        if known_type && known_pattern && known_operation && known_permission {
            Ok(())
        } else {
            Err("Filter contain UNKNOWN elements".to_string())
        }
    }

    /// Whether `acl` is one this filter selects (`AclBindingFilter.matches`).
    pub fn matches(&self, acl: &StoredAcl) -> bool {
        self.matches_pattern(acl)
            && self.principal.as_deref().is_none_or(|p| p == acl.principal)
            && self.host.as_deref().is_none_or(|h| h == acl.host)
            && (self.operation == AclOperation::Any as i8 || self.operation == acl.operation)
            && (self.permission_type == PERMISSION_ANY
                || self.permission_type == acl.permission_type)
    }

    /// `ResourcePatternFilter.matches`: LITERAL and PREFIXED select exactly
    /// that pattern; ANY any pattern of that name; MATCH every pattern that
    /// would apply to a resource of that name (literal, the wildcard, or a
    /// prefix of it).
    fn matches_pattern(&self, acl: &StoredAcl) -> bool {
        if self.resource_type != RESOURCE_ANY && self.resource_type != acl.resource_type {
            return false;
        }
        let name = self.resource_name.as_deref();
        match self.pattern_type {
            PATTERN_ANY => name.is_none_or(|n| n == acl.resource_name),
            PATTERN_MATCH => match name {
                None => true,
                Some(n) if acl.pattern_type == PATTERN_LITERAL => {
                    n == acl.resource_name || acl.resource_name == WILDCARD_RESOURCE
                }
                Some(n) => n.starts_with(acl.resource_name.as_str()),
            },
            exact => exact == acl.pattern_type && name.is_none_or(|n| n == acl.resource_name),
        }
    }
}
