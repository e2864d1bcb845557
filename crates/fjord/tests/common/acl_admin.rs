//! An admin connection for the ACL APIs, which rdkafka's AdminClient does
//! not offer: a raw connection to a SASL_PLAINTEXT listener, authenticated
//! with PLAIN (SaslHandshake v1, then SaslAuthenticate v2) as a real client
//! does, that then sends CreateAcls and DeleteAcls frames.

use bytes::Bytes;
use fjord_broker::acl::{AclOperation, ResourceType};
use fjord_broker::authorizer::bindings::{
    PATTERN_LITERAL, PATTERN_PREFIXED, PERMISSION_ALLOW, PERMISSION_DENY,
};
use fjord_storage::acls::StoredAcl;
use fjord_testkit::frames::request;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::raw::{connect, read_frame};

/// `principal` is allowed `operation` on the resource named `name`.
pub fn allow(
    principal: &str,
    operation: AclOperation,
    resource: ResourceType,
    name: &str,
) -> StoredAcl {
    StoredAcl {
        resource_type: resource.code(),
        resource_name: name.to_owned(),
        pattern_type: PATTERN_LITERAL,
        principal: principal.to_owned(),
        host: "*".to_owned(),
        operation: operation as i8,
        permission_type: PERMISSION_ALLOW,
    }
}

/// The same binding over every resource whose name starts with its name.
pub fn prefixed(binding: StoredAcl) -> StoredAcl {
    StoredAcl {
        pattern_type: PATTERN_PREFIXED,
        ..binding
    }
}

/// The same binding denying what it allowed.
pub fn denied(binding: StoredAcl) -> StoredAcl {
    StoredAcl {
        permission_type: PERMISSION_DENY,
        ..binding
    }
}

fn creation(binding: &StoredAcl) -> AclCreation {
    AclCreation::default()
        .with_resource_type(binding.resource_type)
        .with_resource_name(StrBytes::from_string(binding.resource_name.clone()))
        .with_resource_pattern_type(binding.pattern_type)
        .with_principal(StrBytes::from_string(binding.principal.clone()))
        .with_host(StrBytes::from_string(binding.host.clone()))
        .with_operation(binding.operation)
        .with_permission_type(binding.permission_type)
}

/// ACL requests at this version (the newest Fjord serves, as Kafka 4.1).
const ACL_VERSION: i16 = 3;

pub struct AclAdmin {
    stream: TcpStream,
    correlation_id: i32,
}

impl AclAdmin {
    /// Connects to the SASL_PLAINTEXT listener at `bootstrap` and
    /// authenticates with PLAIN as `user`.
    pub async fn connect(bootstrap: &str, user: &str, password: &str) -> AclAdmin {
        let stream = connect(bootstrap.parse().expect("bootstrap address")).await;
        let mut admin = AclAdmin {
            stream,
            correlation_id: 0,
        };
        let mechanism =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
        let handshake: SaslHandshakeResponse =
            admin.ask(ApiKey::SaslHandshake, 1, &mechanism).await;
        assert_eq!(handshake.error_code, 0, "SaslHandshake: {handshake:?}");
        let token = format!("\0{user}\0{password}");
        let authenticate =
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token.into_bytes()));
        let authenticated: SaslAuthenticateResponse =
            admin.ask(ApiKey::SaslAuthenticate, 2, &authenticate).await;
        assert_eq!(
            authenticated.error_code, 0,
            "SaslAuthenticate as {user}: {:?}",
            authenticated.error_message
        );
        admin
    }

    async fn ask<R: Decodable>(&mut self, key: ApiKey, version: i16, body: &impl Encodable) -> R {
        self.correlation_id += 1;
        let frame = request(key, version, self.correlation_id, body);
        self.stream.write_all(&frame).await.expect("send request");
        let mut answer = read_frame(&mut self.stream).await;
        let header = ResponseHeader::decode(&mut answer, key.response_header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, self.correlation_id, "{key:?}");
        R::decode(&mut answer, version).expect("response body")
    }

    /// CreateAcls with `bindings`; the error code of each creation.
    pub async fn create(&mut self, bindings: &[StoredAcl]) -> Vec<i16> {
        let body =
            CreateAclsRequest::default().with_creations(bindings.iter().map(creation).collect());
        let response: CreateAclsResponse = self.ask(ApiKey::CreateAcls, ACL_VERSION, &body).await;
        response.results.iter().map(|r| r.error_code).collect()
    }

    /// CreateAcls that must succeed for every binding.
    pub async fn allow(&mut self, bindings: &[StoredAcl]) {
        let codes = self.create(bindings).await;
        assert_eq!(codes, vec![0; bindings.len()], "CreateAcls {bindings:?}");
    }

    /// DeleteAcls with one filter matching every binding of `principal`;
    /// the bindings it deleted, sorted.
    pub async fn delete_all_of(&mut self, principal: &str) -> Vec<StoredAcl> {
        use fjord_broker::authorizer::bindings::{PATTERN_ANY, PERMISSION_ANY, RESOURCE_ANY};
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(RESOURCE_ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(PATTERN_ANY)
            .with_principal_filter(Some(StrBytes::from_string(principal.to_owned())))
            .with_host_filter(None)
            .with_operation(AclOperation::Any as i8)
            .with_permission_type(PERMISSION_ANY);
        let body = DeleteAclsRequest::default().with_filters(vec![filter]);
        let response: DeleteAclsResponse = self.ask(ApiKey::DeleteAcls, ACL_VERSION, &body).await;
        assert_eq!(response.filter_results.len(), 1);
        let result = &response.filter_results[0];
        assert_eq!(
            result.error_code, 0,
            "DeleteAcls: {:?}",
            result.error_message
        );
        let mut deleted: Vec<StoredAcl> = result
            .matching_acls
            .iter()
            .map(|m| {
                assert_eq!(m.error_code, 0, "{m:?}");
                StoredAcl {
                    resource_type: m.resource_type,
                    resource_name: m.resource_name.to_string(),
                    pattern_type: m.pattern_type,
                    principal: m.principal.to_string(),
                    host: m.host.to_string(),
                    operation: m.operation,
                    permission_type: m.permission_type,
                }
            })
            .collect();
        deleted.sort();
        deleted
    }
}
