//! The authorizer: Kafka's `StandardAuthorizer` semantics over the ACLs in
//! the data dir's ACL store. Off unless `authorizer.class.name` names it;
//! off, every check passes and the ACL APIs answer SECURITY_DISABLED, as
//! Kafka without an authorizer does.

pub mod bindings;
#[cfg(test)]
mod by_type_tests;
mod index;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use fjord_storage::acls::{FileAclStore, StoredAcl};
use parking_lot::RwLock;

use crate::acl::{AclOperation, ResourceType};
use crate::configs::StaticConfigs;
use crate::request_context::RequestContext;
pub use index::{AclIndex, Decision};

/// The names `authorizer.class.name` takes to turn the authorizer on:
/// Kafka's KRaft authorizer, and a short name of Fjord's own.
pub const AUTHORIZER_NAMES: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "fjord",
];
/// Configs Kafka passes to its authorizer rather than declaring as broker
/// configs; accepted beside the broker's own.
pub const AUTHORIZER_CONFIGS: &[&str] = &["super.users", "allow.everyone.if.no.acl.found"];

/// The authorizer's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    pub enabled: bool,
    /// Principals allowed everything (`super.users`, `;`-separated).
    pub super_users: HashSet<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    pub fn from_statics(statics: &StaticConfigs) -> Self {
        let get = |name: &str| statics.values.get(name).map(|v| v.trim()).unwrap_or("");
        AuthorizerConfig {
            enabled: AUTHORIZER_NAMES.contains(&get("authorizer.class.name")),
            super_users: get("super.users")
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            allow_everyone_if_no_acl_found: get("allow.everyone.if.no.acl.found")
                .eq_ignore_ascii_case("true"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    #[error("no authorizer is configured")]
    Disabled,
    #[error(transparent)]
    Storage(#[from] fjord_storage::StorageError),
}

pub struct Authorizer {
    config: AuthorizerConfig,
    /// Present when enabled.
    store: Option<FileAclStore>,
    index: RwLock<Arc<AclIndex>>,
}

impl Authorizer {
    /// No authorizer: everything is allowed.
    pub fn disabled() -> Self {
        Authorizer {
            config: AuthorizerConfig::default(),
            store: None,
            index: RwLock::new(Arc::new(AclIndex::default())),
        }
    }

    /// The authorizer `config` describes, with the ACLs stored in
    /// `data_dir` when it is enabled.
    pub fn open(config: AuthorizerConfig, data_dir: &Path) -> Result<Self, AuthorizerError> {
        if !config.enabled {
            return Ok(Authorizer::disabled());
        }
        let store = FileAclStore::open(data_dir)?;
        let index = AclIndex::new(&store.acls());
        Ok(Authorizer {
            config,
            store: Some(store),
            index: RwLock::new(Arc::new(index)),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Whether the request's principal, from its address, may perform
    /// `operation` on the resource `name` of `resource_type`.
    pub fn authorize(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.config.enabled {
            return true;
        }
        let principal = ctx.principal.to_string();
        self.authorize_principal(
            &principal,
            &ctx.peer.ip().to_string(),
            operation,
            resource_type,
            name,
        )
    }

    pub fn authorize_principal(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.config.enabled || self.config.super_users.contains(principal) {
            return true;
        }
        let index = self.index.read().clone();
        match index.decide(principal, host, operation, resource_type, name) {
            Decision::Allowed => true,
            Decision::Denied => false,
            Decision::NoAcls => self.config.allow_everyone_if_no_acl_found,
        }
    }

    /// Whether the request's principal may perform `operation` on some
    /// resource of `resource_type` (Kafka's `authorizeByResourceType`).
    pub fn allows_any(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        let principal = ctx.principal.to_string();
        if !self.config.enabled || self.config.super_users.contains(&principal) {
            return true;
        }
        let index = self.index.read().clone();
        let host = ctx.peer.ip().to_string();
        match index.decide_any(&principal, &host, operation, resource_type) {
            Decision::Allowed => true,
            Decision::Denied => false,
            Decision::NoAcls => self.config.allow_everyone_if_no_acl_found,
        }
    }

    /// The authorized-operations bitfield of a resource: each operation its
    /// type supports that the principal may perform.
    pub fn authorized_operations(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        let allowed: Vec<AclOperation> = resource_type
            .supported_operations()
            .iter()
            .copied()
            .filter(|op| self.authorize(ctx, *op, resource_type, name))
            .collect();
        crate::acl::bitfield(&allowed)
    }

    /// Every stored binding.
    pub fn acls(&self) -> Result<Vec<StoredAcl>, AuthorizerError> {
        Ok(self.store.as_ref().ok_or(AuthorizerError::Disabled)?.acls())
    }

    /// Applies `change` to the stored bindings, durably, then makes the
    /// result what checks read.
    pub async fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<StoredAcl>) -> T,
    ) -> Result<T, AuthorizerError> {
        let store = self.store.as_ref().ok_or(AuthorizerError::Disabled)?;
        let (outcome, acls) = store.update(change).await?;
        *self.index.write() = Arc::new(AclIndex::new(&acls));
        Ok(outcome)
    }
}
