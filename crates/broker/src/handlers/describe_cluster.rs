//! DescribeCluster (v0–v2): the brokers and controller of the cluster view.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::ResourceType;
use crate::authorizer::bindings::CLUSTER_NAME;
use crate::broker::Broker;
use crate::handlers::AUTHORIZED_OPERATIONS_OMITTED;
use crate::request_context::RequestContext;

/// `endpoint_type` 1: the request was meant for brokers (2 is controllers).
const ENDPOINT_BROKERS: i8 = 1;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let version = ctx.api_version;
    if version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        return DescribeClusterResponse::default()
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from(format!(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type {}",
                endpoint_name(request.endpoint_type)
            ))))
            .with_endpoint_type(ENDPOINT_BROKERS);
    }
    let brokers = broker
        .cluster
        .brokers(ctx.listener.as_str())
        .into_iter()
        .map(|endpoint| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(endpoint.id))
                .with_host(StrBytes::from(endpoint.host))
                .with_port(endpoint.port)
                .with_rack(endpoint.rack.map(StrBytes::from))
                // The view lists live brokers only.
                .with_is_fenced(false)
        })
        .collect();
    let operations = if request.include_cluster_authorized_operations {
        broker
            .authorizer
            .authorized_operations(ctx, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    DescribeClusterResponse::default()
        .with_error_code(0)
        .with_error_message(None)
        .with_endpoint_type(ENDPOINT_BROKERS)
        .with_cluster_id(StrBytes::from(broker.cluster.cluster_id().to_string()))
        .with_controller_id(BrokerId(broker.cluster.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(operations)
}

fn endpoint_name(endpoint_type: i8) -> String {
    match endpoint_type {
        2 => "CONTROLLER".into(),
        other => format!("UNKNOWN({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{assert_encodes, ctx, test_broker};
    use kafka_protocol::messages::ApiKey;

    #[tokio::test]
    async fn describes_this_broker() {
        let broker = test_broker().await;
        for version in 0..=2 {
            let req = DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(version == 2);
            let resp = handle(&broker, &ctx(ApiKey::DescribeCluster, version), req).await;
            assert_encodes(&resp, version);
            assert_eq!(resp.error_code, 0);
            assert_eq!(resp.cluster_id.as_str(), broker.cluster.cluster_id());
            assert_eq!(resp.controller_id.0, broker.node_id());
            assert_eq!(resp.brokers.len(), 1);
            assert_eq!(
                Some(resp.brokers[0].port),
                broker.cluster.local().on("PLAINTEXT").map(|b| b.port)
            );
            // Kafka 4.1 without an authorizer: CREATE, ALTER, DESCRIBE,
            // CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
            let ops = if version == 2 {
                8096
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            };
            assert_eq!(resp.cluster_authorized_operations, ops);
        }
        let req = DescribeClusterRequest::default().with_endpoint_type(2);
        let resp = handle(&broker, &ctx(ApiKey::DescribeCluster, 1), req).await;
        assert_encodes(&resp, 1);
        assert_eq!(
            resp.error_code,
            ResponseError::UnsupportedEndpointType.code()
        );
    }
}
