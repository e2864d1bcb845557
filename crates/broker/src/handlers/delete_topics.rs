//! DeleteTopics (v1–v6): by name (v1–v5 `topic_names`, v6 `topics[].name`) or
//! by topic id (v6).

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::acl::AclOperation::{Delete, Describe};
use crate::acl::ResourceType::Topic;
use crate::authorization;
use crate::broker::Broker;
use crate::error::{ApiError, ApiResult};
use crate::quotas::MutationQuota;
use crate::request_context::RequestContext;

/// One entry of the request: a name or an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Name(String),
    Id(Uuid),
    /// v6 entry with both or neither set.
    Invalid {
        name: Option<String>,
        id: Uuid,
    },
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let version = ctx.api_version;
    let targets = targets(&request, version);
    let mut counts: HashMap<&Target, usize> = HashMap::new();
    for target in &targets {
        *counts.entry(target).or_default() += 1;
    }
    // KIP-599: from v5 a client over its quota gets THROTTLING_QUOTA_EXCEEDED.
    let mut quota = broker.quotas.mutation_quota(ctx, version >= 5);
    let mut responses = Vec::with_capacity(targets.len());
    let mut answered: Vec<&Target> = Vec::new();
    for target in &targets {
        let (name, id, outcome) = if counts.get(target).copied().unwrap_or(0) > 1 {
            if answered.contains(&target) {
                continue;
            }
            answered.push(target);
            let (name, id) = match target {
                Target::Name(name) => (Some(name.clone()), Uuid::nil()),
                Target::Id(id) => (None, *id),
                Target::Invalid { name, id } => (name.clone(), *id),
            };
            let what = if name.is_some() { "name" } else { "id" };
            let err = ApiError::new(
                ResponseError::InvalidRequest,
                format!("Duplicate topic {what}."),
            );
            (name, id, Err(err))
        } else {
            delete_one(broker, ctx, target, &mut quota).await
        };
        responses.push(result(name, id, outcome, version));
    }
    DeleteTopicsResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(quota.throttle_time_ms())
}

fn targets(request: &DeleteTopicsRequest, version: i16) -> Vec<Target> {
    if version < 6 {
        return request
            .topic_names
            .iter()
            .map(|n| Target::Name(n.to_string()))
            .collect();
    }
    request
        .topics
        .iter()
        .map(|t| match (&t.name, t.topic_id.is_nil()) {
            (Some(name), true) => Target::Name(name.to_string()),
            (None, false) => Target::Id(t.topic_id),
            (name, _) => Target::Invalid {
                name: name.as_ref().map(|n| n.to_string()),
                id: t.topic_id,
            },
        })
        .collect()
}

/// Deletes one topic; returns the name and id to answer with.
/// As Kafka: a topic named by id must be describable (or its name stays
/// unsaid), then deletable.
async fn delete_one(
    broker: &Broker,
    ctx: &RequestContext,
    target: &Target,
    quota: &mut MutationQuota<'_>,
) -> (Option<String>, Uuid, ApiResult<()>) {
    let version = ctx.api_version;
    let denied = |code: ResponseError| ApiError::new(code, "Authorization failed.");
    let (name, id) = match target {
        Target::Name(name) => {
            let id = broker.topics.get(name).map_or(Uuid::nil(), |t| t.id);
            (name.clone(), id)
        }
        Target::Id(id) => match broker.topics.by_id(*id) {
            Some(topic) => {
                if let Err(code) = authorization::require(broker, ctx, Describe, Topic, &topic.name)
                {
                    return (None, *id, Err(denied(code)));
                }
                (topic.name, *id)
            }
            None => {
                let err = ApiError::new(
                    ResponseError::UnknownTopicId,
                    format!("Topic id {id} does not exist."),
                );
                return (None, *id, Err(err));
            }
        },
        Target::Invalid { name, id } => {
            let message = if name.is_some() {
                "You may not specify both topic name and topic id."
            } else {
                "Neither topic name nor topic id was given."
            };
            return (
                name.clone(),
                *id,
                Err(ApiError::new(ResponseError::InvalidRequest, message)),
            );
        }
    };
    if let Err(code) = authorization::require(broker, ctx, Delete, Topic, &name) {
        return (Some(name), id, Err(denied(code)));
    }
    if !broker.config.delete_topic_enable() {
        // Kafka: clients before v3 do not know TOPIC_DELETION_DISABLED.
        let code = if version < 3 {
            ResponseError::InvalidRequest
        } else {
            ResponseError::TopicDeletionDisabled
        };
        let err = ApiError::new(code, "Topic deletion is disabled.");
        return (Some(name), id, Err(err));
    }
    if let Some(topic) = broker.topics.get(&name) {
        if let Err(throttled) = quota.admit(i64::from(topic.partitions)) {
            return (Some(name), id, Err(throttled));
        }
    }
    let outcome = broker.topics.delete(&name).await.map(|_| ());
    (Some(name), id, outcome)
}

fn result(
    name: Option<String>,
    id: Uuid,
    outcome: ApiResult<()>,
    version: i16,
) -> DeletableTopicResult {
    let (code, message) = match outcome {
        Ok(()) => (0, None),
        Err(e) => (e.code(), Some(StrBytes::from(e.message))),
    };
    DeletableTopicResult::default()
        .with_name(name.map(|n| StrBytes::from(n).into()))
        .with_topic_id(if version >= 6 { id } else { Uuid::nil() })
        .with_error_code(code)
        .with_error_message(if version >= 5 { message } else { None })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;

    use super::*;
    use crate::handlers::test_support::{assert_encodes, ctx, test_broker, test_broker_with};
    use kafka_protocol::messages::ApiKey;

    fn name(s: &str) -> kafka_protocol::messages::TopicName {
        StrBytes::from(s.to_string()).into()
    }

    #[tokio::test]
    async fn deletes_by_name_and_reports_unknown() {
        let broker = test_broker().await;
        broker
            .topics
            .create("t", 2, BTreeMap::new(), false)
            .await
            .unwrap();
        let req = DeleteTopicsRequest::default().with_topic_names(vec![name("t"), name("nope")]);
        let resp = handle(&broker, &ctx(ApiKey::DeleteTopics, 4), req).await;
        assert_encodes(&resp, 4);
        assert_eq!(resp.responses[0].error_code, 0);
        assert_eq!(
            resp.responses[1].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert!(broker.topics.get("t").is_none());
    }

    #[tokio::test]
    async fn v6_deletes_by_id_and_name() {
        let broker = test_broker().await;
        let a = broker
            .topics
            .create("a", 1, BTreeMap::new(), false)
            .await
            .unwrap();
        broker
            .topics
            .create("b", 1, BTreeMap::new(), false)
            .await
            .unwrap();
        let req = DeleteTopicsRequest::default().with_topics(vec![
            DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(a.id),
            DeleteTopicState::default().with_name(Some(name("b"))),
            DeleteTopicState::default()
                .with_name(None)
                .with_topic_id(Uuid::new_v4()),
        ]);
        let resp = handle(&broker, &ctx(ApiKey::DeleteTopics, 6), req).await;
        assert_encodes(&resp, 6);
        let r = &resp.responses;
        assert_eq!(
            (r[0].error_code, r[0].name.as_deref().map(|n| n.as_str())),
            (0, Some("a"))
        );
        assert_eq!(r[0].topic_id, a.id);
        assert_eq!(r[1].error_code, 0);
        assert_eq!(r[2].error_code, ResponseError::UnknownTopicId.code());
        assert!(broker.topics.get("a").is_none() && broker.topics.get("b").is_none());
    }

    #[tokio::test]
    async fn deletion_can_be_disabled() {
        let broker = test_broker_with(|c| c.with("delete.topic.enable", "false")).await;
        broker
            .topics
            .create("t", 1, BTreeMap::new(), false)
            .await
            .unwrap();
        let req = DeleteTopicsRequest::default().with_topic_names(vec![name("t"), name("t")]);
        let resp = handle(&broker, &ctx(ApiKey::DeleteTopics, 5), req).await;
        assert_eq!(resp.responses.len(), 1);
        assert_eq!(
            resp.responses[0].error_code,
            ResponseError::InvalidRequest.code()
        );
        let req = DeleteTopicsRequest::default().with_topic_names(vec![name("t")]);
        let resp = handle(&broker, &ctx(ApiKey::DeleteTopics, 5), req).await;
        assert_eq!(
            resp.responses[0].error_code,
            ResponseError::TopicDeletionDisabled.code()
        );
        assert!(broker.topics.get("t").is_some());
    }
}
