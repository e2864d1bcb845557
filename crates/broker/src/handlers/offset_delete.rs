//! OffsetDelete (v0): refused for topics the group's members subscribe to.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::acl::AclOperation::Read;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let mut response = OffsetDeleteResponse::default();
    let mut asked = Vec::new();
    // Partitions answered without asking the group, with their error.
    let mut refused = Vec::new();
    for topic in &request.topics {
        let known = broker.topics.get(&topic.name);
        let denied = authorization::require(broker, ctx, Read, ResourceType::Topic, &topic.name);
        for p in &topic.partitions {
            let exists = known
                .as_ref()
                .is_some_and(|k| (0..k.partitions).contains(&p.partition_index));
            let name = topic.name.to_string();
            match denied {
                Err(denied) => refused.push((name, p.partition_index, denied)),
                Ok(()) if exists => asked.push((name, p.partition_index)),
                Ok(()) => refused.push((
                    name,
                    p.partition_index,
                    ResponseError::UnknownTopicOrPartition,
                )),
            }
        }
    }
    let results = match broker.groups.delete_offsets(&request.group_id, asked).await {
        Ok(results) => results,
        Err(e) => {
            response.error_code = e.code();
            return response;
        }
    };
    let all = results
        .into_iter()
        .chain(refused.into_iter().map(|(t, p, error)| (t, p, Some(error))));
    for topic in &request.topics {
        let mut out = OffsetDeleteResponseTopic::default();
        out.name = topic.name.clone();
        response.topics.push(out);
    }
    for (topic, partition, error) in all {
        if let Some(out) = response
            .topics
            .iter_mut()
            .find(|t| t.name.as_str() == topic)
        {
            let mut p = OffsetDeleteResponsePartition::default();
            p.partition_index = partition;
            p.error_code = error.map_or(0, |e| e.code());
            out.partitions.push(p);
        }
    }
    response
}
