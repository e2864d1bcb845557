//! The Fjord broker: network, protocol dispatch and handlers on top of
//! `fjord-storage`. A request's way: `server` (accept) → `connection` (frame,
//! header) → `api` (table, dispatch) → `handlers::*` → storage.

pub mod acl;
pub mod api;
pub mod authorization;
pub mod authorizer;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod configs;
pub mod connection;
pub mod connection_quotas;
pub mod error;
pub mod groups;
pub mod handlers;
pub mod internal_topics;
pub mod quotas;
pub mod request_context;
pub mod security;
pub mod server;
pub mod tls;
pub mod topic_rules;
pub mod topics;
#[cfg(test)]
mod topics_cas_tests;
#[cfg(test)]
mod topics_tests;
pub mod transactions;

pub use config::{BrokerConfig, InvalidConfig};
pub use server::{start, RunningBroker};
