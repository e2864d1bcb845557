//! CreateAcls, DescribeAcls and DeleteAcls through their handlers, at every
//! version, on a broker with the authorizer on.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::{create, delete, describe};
use crate::acl::{AclOperation, ResourceType};
use crate::authorizer::bindings::*;
use crate::handlers::test_support::{
    assert_encodes, ctx, test_broker, test_broker_with, TestBroker,
};

const STANDARD: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The authorizer on, User:ANONYMOUS (the tests' principal) a super user
/// unless `as_super` is false.
async fn secured(as_super: bool) -> TestBroker {
    test_broker_with(|mut config| {
        config
            .statics
            .values
            .insert("authorizer.class.name".into(), STANDARD.into());
        if as_super {
            config
                .statics
                .values
                .insert("super.users".into(), "User:ANONYMOUS".into());
        }
        config
    })
    .await
}

fn creation(
    name: &str,
    pattern: i8,
    principal: &str,
    op: AclOperation,
    permission: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(ResourceType::Topic.code())
        .with_resource_name(StrBytes::from(name.to_string()))
        .with_resource_pattern_type(pattern)
        .with_principal(StrBytes::from(principal.to_string()))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(op as i8)
        .with_permission_type(permission)
}

fn any_filter() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(RESOURCE_ANY)
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_pattern_type_filter(PATTERN_ANY)
        .with_operation(AclOperation::Any as i8)
        .with_permission_type(PERMISSION_ANY)
}

#[tokio::test]
async fn create_describe_delete_at_every_version() {
    for version in 1..=3 {
        let broker = secured(true).await;
        let good = creation(
            "orders",
            PATTERN_LITERAL,
            "User:alice",
            AclOperation::Read,
            PERMISSION_ALLOW,
        );
        let prefixed = creation(
            "logs-",
            PATTERN_PREFIXED,
            "User:*",
            AclOperation::Write,
            PERMISSION_DENY,
        );
        let bad_type = creation(
            "t",
            PATTERN_LITERAL,
            "User:a",
            AclOperation::Read,
            PERMISSION_ALLOW,
        )
        .with_resource_type(1);
        let bad_principal = creation(
            "t",
            PATTERN_LITERAL,
            "",
            AclOperation::Read,
            PERMISSION_ALLOW,
        );
        let bad_pattern = creation(
            "t",
            PATTERN_MATCH,
            "User:a",
            AclOperation::Read,
            PERMISSION_ALLOW,
        );
        let response = create(
            &broker,
            &ctx(ApiKey::CreateAcls, version),
            CreateAclsRequest::default().with_creations(vec![
                good,
                bad_type,
                prefixed,
                bad_principal,
                bad_pattern,
            ]),
        )
        .await;
        assert_encodes(&response, version);
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(codes, vec![0, invalid, 0, invalid, invalid], "v{version}");
        assert_eq!(broker.authorizer.acls().unwrap().len(), 2);

        let described = describe(&broker, &ctx(ApiKey::DescribeAcls, version), any_filter()).await;
        assert_encodes(&described, version);
        assert_eq!(described.error_code, 0);
        let names: Vec<&str> = described
            .resources
            .iter()
            .map(|r| r.resource_name.as_str())
            .collect();
        assert_eq!(names, vec!["logs-", "orders"]);
        // MATCH on a name finds the prefixed binding that covers it.
        let matched = describe(
            &broker,
            &ctx(ApiKey::DescribeAcls, version),
            any_filter()
                .with_pattern_type_filter(PATTERN_MATCH)
                .with_resource_name_filter(Some(StrBytes::from_static_str("logs-x"))),
        )
        .await;
        assert_eq!(matched.resources.len(), 1);
        assert_eq!(matched.resources[0].pattern_type, PATTERN_PREFIXED);
        assert_eq!(matched.resources[0].acls[0].principal.as_str(), "User:*");

        let deleted = delete(
            &broker,
            &ctx(ApiKey::DeleteAcls, version),
            DeleteAclsRequest::default().with_filters(vec![
                DeleteAclsFilter::default()
                    .with_resource_name_filter(None)
                    .with_principal_filter(None)
                    .with_host_filter(None)
                    .with_resource_type_filter(ResourceType::Topic.code())
                    .with_pattern_type_filter(PATTERN_LITERAL)
                    .with_operation(AclOperation::Any as i8)
                    .with_permission_type(PERMISSION_ANY),
                DeleteAclsFilter::default()
                    .with_resource_name_filter(None)
                    .with_principal_filter(None)
                    .with_host_filter(None)
                    .with_resource_type_filter(0)
                    .with_pattern_type_filter(PATTERN_ANY)
                    .with_operation(AclOperation::Any as i8)
                    .with_permission_type(PERMISSION_ANY),
            ]),
        )
        .await;
        assert_encodes(&deleted, version);
        assert_eq!(deleted.filter_results[0].error_code, 0);
        let gone = &deleted.filter_results[0].matching_acls;
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].resource_name.as_str(), "orders");
        assert_eq!(gone[0].principal.as_str(), "User:alice");
        assert_eq!(gone[0].operation, AclOperation::Read as i8);
        assert_eq!(deleted.filter_results[1].error_code, invalid);
        let left = broker.authorizer.acls().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].resource_name, "logs-");
    }
}

#[tokio::test]
async fn without_an_authorizer_security_is_disabled() {
    let broker = test_broker().await;
    let code = ResponseError::SecurityDisabled.code();
    let created = create(
        &broker,
        &ctx(ApiKey::CreateAcls, 3),
        CreateAclsRequest::default().with_creations(vec![creation(
            "t",
            PATTERN_LITERAL,
            "User:a",
            AclOperation::Read,
            PERMISSION_ALLOW,
        )]),
    )
    .await;
    assert_eq!(created.results[0].error_code, code);
    let described = describe(&broker, &ctx(ApiKey::DescribeAcls, 3), any_filter()).await;
    assert_eq!(described.error_code, code);
    let deleted = delete(
        &broker,
        &ctx(ApiKey::DeleteAcls, 3),
        DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()]),
    )
    .await;
    assert_eq!(deleted.filter_results[0].error_code, code);
}

#[tokio::test]
async fn without_cluster_alter_nothing_is_created() {
    let broker = secured(false).await;
    let created = create(
        &broker,
        &ctx(ApiKey::CreateAcls, 3),
        CreateAclsRequest::default().with_creations(vec![creation(
            "t",
            PATTERN_LITERAL,
            "User:ANONYMOUS",
            AclOperation::Read,
            PERMISSION_ALLOW,
        )]),
    )
    .await;
    assert_eq!(
        created.results[0].error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );
    assert!(broker.authorizer.acls().unwrap().is_empty());
    let described = describe(&broker, &ctx(ApiKey::DescribeAcls, 3), any_filter()).await;
    assert_eq!(
        described.error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );
}
