//! Who sent a request, over which listener, and as which API version.
//!
//! Every handler receives a [`RequestContext`] rather than loose arguments,
//! so that what later issues need to know about the sender (the authorizer
//! reads the principal, quotas the client id, SASL the connection's state)
//! comes from one place without changing every handler again. The
//! connection keeps a [`ConnectionContext`] for its whole life and stamps a
//! copy of it, with the request header's fields, on each request.

use std::fmt;
use std::net::SocketAddr;

use kafka_protocol::messages::{ApiKey, RequestHeader};

use crate::api::Request;
use crate::security::exchange::{self, SaslSession};
use kafka_protocol::protocol::StrBytes;

/// Kafka's `KafkaPrincipal`: a type and a name, shown as `type:name`.
/// Two principals are the same when their type and name are, whether or
/// not one authenticated with a delegation token (as Kafka's `equals`).
#[derive(Debug, Clone)]
pub struct Principal {
    pub principal_type: StrBytes,
    pub name: StrBytes,
    /// Authenticated with a delegation token (SCRAM with `tokenauth=true`)
    /// as the token's owner. Kafka refuses the token APIs to such a session
    /// (`KafkaPrincipal.tokenAuthenticated`), so that a token cannot mint,
    /// renew or expire tokens.
    pub token_authenticated: bool,
}

/// Kafka's `KafkaPrincipal.USER_TYPE`.
pub const USER_TYPE: &str = "User";

impl Principal {
    /// Who a client is until SASL or a TLS certificate says otherwise, as in
    /// Kafka (`KafkaPrincipal.ANONYMOUS`).
    pub fn anonymous() -> Self {
        Principal::user(StrBytes::from_static_str("ANONYMOUS"))
    }

    /// `User:name`, authenticated by its own credentials.
    pub fn user(name: StrBytes) -> Self {
        Principal::new(StrBytes::from_static_str(USER_TYPE), name)
    }

    pub fn new(principal_type: StrBytes, name: StrBytes) -> Self {
        Principal {
            principal_type,
            name,
            token_authenticated: false,
        }
    }

    /// Whether this is Kafka's `User:ANONYMOUS`.
    pub fn is_anonymous(&self) -> bool {
        *self == Principal::anonymous()
    }
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.principal_type == other.principal_type && self.name == other.name
    }
}

impl Eq for Principal {}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// Kafka's security protocols: what a listener speaks (TLS or not, SASL or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// The name Kafka configs and logs use.
    pub const fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's name for one, in any case (`SecurityProtocol.forName`).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether a listener of this protocol runs TLS.
    pub const fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether a connection must authenticate (SASL) before its first
    /// request other than ApiVersions and the SASL exchange itself.
    pub const fn authenticates(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// Where a connection stands. Kafka's channel goes through the same steps
/// (`ChannelState`: AUTHENTICATE, READY, then closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Only ApiVersions (and, with SASL, the SASL exchange) is served.
    BeforeAuthentication,
    /// Every API is served, as `principal`.
    Authenticated,
    /// No further request is read; answers already made are still sent.
    Closing,
}

/// Kafka's `ClientInformation`: the software a client named in ApiVersions
/// v3+, or "unknown" until it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSoftware {
    pub name: StrBytes,
    pub version: StrBytes,
}

impl ClientSoftware {
    pub fn unknown() -> Self {
        ClientSoftware {
            name: StrBytes::from_static_str("unknown"),
            version: StrBytes::from_static_str("unknown"),
        }
    }

    /// Kafka keeps what a client sends only if both values are well formed
    /// (`ApiVersionsRequest.isValid`): letters, digits, `-` and `.`, starting
    /// and ending with a letter or digit.
    pub fn from_api_versions(name: &str, version: &str) -> Option<Self> {
        (is_valid_software_field(name) && is_valid_software_field(version)).then(|| {
            ClientSoftware {
                name: StrBytes::from_string(name.to_owned()),
                version: StrBytes::from_string(version.to_owned()),
            }
        })
    }
}

/// Kafka's `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn is_valid_software_field(value: &str) -> bool {
    let bytes = value.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
}

/// What a connection knows about itself, kept for its whole life.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub peer: SocketAddr,
    pub listener: StrBytes,
    pub security_protocol: SecurityProtocol,
    pub principal: Principal,
    pub client_software: ClientSoftware,
    pub state: ConnectionState,
    /// The SASL exchange, on a SASL listener.
    pub sasl: Option<SaslSession>,
}

impl ConnectionContext {
    /// A new connection on `listener`: PLAINTEXT and SSL connections are
    /// authenticated from the start (as `User:ANONYMOUS` until TLS client
    /// certificates map to principals); SASL ones are not.
    pub fn accepted(
        peer: SocketAddr,
        listener: StrBytes,
        security_protocol: SecurityProtocol,
    ) -> Self {
        let state = if security_protocol.authenticates() {
            ConnectionState::BeforeAuthentication
        } else {
            ConnectionState::Authenticated
        };
        ConnectionContext {
            peer,
            listener,
            security_protocol,
            principal: Principal::anonymous(),
            client_software: ClientSoftware::unknown(),
            state,
            sasl: security_protocol
                .authenticates()
                .then(exchange::new_session),
        }
    }

    /// The SASL exchange completed (again, when re-authenticating): serve
    /// every API as `principal`.
    pub fn authenticated(&mut self, principal: Principal) {
        self.principal = principal;
        self.state = ConnectionState::Authenticated;
    }

    /// The context of `request`, which arrived on this connection with
    /// `header`. An ApiVersions v3+ request names the client's software,
    /// which Kafka's processor keeps for the rest of the connection
    /// (KIP-511); so does this.
    pub fn request(
        &mut self,
        api_key: ApiKey,
        header: RequestHeader,
        request: &Request,
    ) -> RequestContext {
        let api_version = header.request_api_version;
        if let Request::ApiVersions(api_versions) = request {
            if api_version >= 3 {
                if let Some(software) = ClientSoftware::from_api_versions(
                    &api_versions.client_software_name,
                    &api_versions.client_software_version,
                ) {
                    self.client_software = software;
                }
            }
        }
        self.context(
            api_key,
            api_version,
            header.correlation_id,
            header.client_id,
        )
    }

    fn context(
        &self,
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        client_id: Option<StrBytes>,
    ) -> RequestContext {
        RequestContext {
            principal: self.principal.clone(),
            listener: self.listener.clone(),
            security_protocol: self.security_protocol,
            client_id: client_id.unwrap_or_default(),
            client_software: self.client_software.clone(),
            peer: self.peer,
            api_key,
            api_version,
            correlation_id,
            connection_state: self.state,
            sasl: self.sasl.clone(),
        }
    }
}

/// One request as its handler sees it. Cheap to build: the strings share
/// their bytes with the connection's and the request header's.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Principal,
    pub listener: StrBytes,
    pub security_protocol: SecurityProtocol,
    /// The request header's client id; empty when the client sent none.
    pub client_id: StrBytes,
    pub client_software: ClientSoftware,
    pub peer: SocketAddr,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub connection_state: ConnectionState,
    /// The connection's SASL exchange, which SaslHandshake and
    /// SaslAuthenticate drive; None on a listener without SASL.
    pub sasl: Option<SaslSession>,
}

impl RequestContext {
    /// A request from an anonymous PLAINTEXT client at `127.0.0.1:9`, for
    /// calling handlers directly in tests.
    pub fn for_tests(api_key: ApiKey, api_version: i16) -> Self {
        let peer = SocketAddr::from(([127, 0, 0, 1], 9));
        ConnectionContext::accepted(
            peer,
            StrBytes::from_static_str(PLAINTEXT_LISTENER),
            SecurityProtocol::Plaintext,
        )
        .context(
            api_key,
            api_version,
            0,
            Some(StrBytes::from_static_str("client")),
        )
    }
}

/// Kafka's default name for a PLAINTEXT listener (the one listener of a
/// broker configured with nothing else), as tests' contexts use.
pub const PLAINTEXT_LISTENER: &str = "PLAINTEXT";

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

    use super::*;

    #[test]
    fn principal_shows_as_kafka_writes_it() {
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
    }

    #[test]
    fn plaintext_connections_start_authenticated_and_sasl_ones_do_not() {
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let listener = StrBytes::from_static_str("L");
        let plain =
            ConnectionContext::accepted(peer, listener.clone(), SecurityProtocol::Plaintext);
        assert_eq!(plain.state, ConnectionState::Authenticated);
        let sasl = ConnectionContext::accepted(peer, listener, SecurityProtocol::SaslSsl);
        assert_eq!(sasl.state, ConnectionState::BeforeAuthentication);
    }

    #[test]
    fn client_software_is_kept_only_when_well_formed() {
        let kept = ClientSoftware::from_api_versions("apache-kafka-java", "4.1.0");
        assert_eq!(
            kept.map(|s| (s.name.to_string(), s.version.to_string())),
            Some(("apache-kafka-java".into(), "4.1.0".into()))
        );
        for (name, version) in [
            ("", "1.0"),
            ("librdkafka", ""),
            ("-lead", "1.0"),
            ("trail.", "1.0"),
            ("sp ace", "1.0"),
            ("ok", "1.0-"),
        ] {
            assert_eq!(
                ClientSoftware::from_api_versions(name, version),
                None,
                "{name:?} {version:?}"
            );
        }
    }

    fn header(key: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
    }

    fn api_versions(name: &'static str, version: &'static str) -> Request {
        Request::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str(name))
                .with_client_software_version(StrBytes::from_static_str(version)),
        )
    }

    fn plaintext(peer: SocketAddr) -> ConnectionContext {
        ConnectionContext::accepted(
            peer,
            StrBytes::from_static_str(PLAINTEXT_LISTENER),
            SecurityProtocol::Plaintext,
        )
    }

    #[test]
    fn client_software_from_api_versions_reaches_later_requests() {
        let peer = SocketAddr::from(([10, 1, 2, 3], 4567));
        let mut connection = plaintext(peer);
        let metadata = Request::Metadata(MetadataRequest::default());
        let before =
            connection.request(ApiKey::Metadata, header(ApiKey::Metadata, 12, 1), &metadata);
        assert_eq!(before.client_software, ClientSoftware::unknown());

        let handshake = connection.request(
            ApiKey::ApiVersions,
            header(ApiKey::ApiVersions, 3, 2),
            &api_versions("librdkafka", "2.12.1"),
        );
        assert_eq!(handshake.client_software.name.as_str(), "librdkafka");

        let later = connection.request(
            ApiKey::Metadata,
            header(ApiKey::Metadata, 12, 3).with_client_id(Some(StrBytes::from_static_str("app"))),
            &metadata,
        );
        assert_eq!(later.client_software.name.as_str(), "librdkafka");
        assert_eq!(later.client_software.version.as_str(), "2.12.1");
        assert_eq!(later.client_id.as_str(), "app");
        assert_eq!(later.peer, peer);
        assert_eq!(later.api_key, ApiKey::Metadata);
        assert_eq!(later.api_version, 12);
        assert_eq!(later.correlation_id, 3);
        assert_eq!(later.listener.as_str(), "PLAINTEXT");
        assert_eq!(later.security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(later.principal, Principal::anonymous());
        assert_eq!(later.connection_state, ConnectionState::Authenticated);
    }

    #[test]
    fn api_versions_below_v3_or_malformed_software_leaves_it_unchanged() {
        let mut connection = plaintext(SocketAddr::from(([127, 0, 0, 1], 1)));
        connection.request(
            ApiKey::ApiVersions,
            header(ApiKey::ApiVersions, 3, 1),
            &api_versions("kafka-python", "3.0.12"),
        );
        // v2 carries no software fields on the wire; a decoded v2 request
        // with them set must not count either.
        connection.request(
            ApiKey::ApiVersions,
            header(ApiKey::ApiVersions, 2, 2),
            &api_versions("other", "1.0"),
        );
        connection.request(
            ApiKey::ApiVersions,
            header(ApiKey::ApiVersions, 3, 3),
            &api_versions("bad name", "1.0"),
        );
        assert_eq!(connection.client_software.name.as_str(), "kafka-python");
        assert_eq!(connection.client_software.version.as_str(), "3.0.12");
    }
}
