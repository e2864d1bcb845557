//! Authentication: SASL mechanisms (and, with them, the credentials they
//! check) and what a TLS client certificate says about its sender.
//!
//! The connection runs a SASL exchange (`exchange`) through one
//! [`SaslServer`] per attempt, chosen by the mechanism the client named in
//! SaslHandshake (`mechanisms`, the one place a name becomes a server);
//! each mechanism (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) is a module here
//! that implements it, so the exchange itself (SaslHandshake,
//! SaslAuthenticate, the unframed v0 path, re-authentication) never looks
//! inside a mechanism.

pub mod delegation_tokens;
pub mod exchange;
pub mod jwt;
pub mod mechanisms;
pub mod oauthbearer;
pub mod plain;
pub mod sasl_mechanism;
pub mod scram;
pub mod scram_admin;
pub mod scram_credentials;
pub mod scram_messages;
#[cfg(test)]
pub(crate) mod scram_test_client;

pub use sasl_mechanism::{SaslFailure, SaslServer, SaslStep};
