//! DeleteRecords (v0–v2): moves partitions' log start offsets up.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::acl::AclOperation::Delete;
use crate::acl::ResourceType::Topic;
use crate::authorization;
use crate::broker::Broker;
use crate::error::{ApiError, ApiResult};
use crate::request_context::RequestContext;

/// The request's "up to the high watermark" offset.
const HIGH_WATERMARK: i64 = -1;
/// Kafka's low watermark on errors.
const INVALID_LOW_WATERMARK: i64 = -1;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let denied = authorization::require(broker, ctx, Delete, Topic, &topic.name);
        for partition in &topic.partitions {
            let outcome = match denied {
                Err(code) => Err(ApiError::new(code, "")),
                Ok(()) => {
                    let (name, index) = (topic.name.as_str(), partition.partition_index);
                    delete(broker, name, index, partition.offset).await
                }
            };
            let (low_watermark, code) = match outcome {
                Ok(low) => (low, 0),
                Err(e) => (INVALID_LOW_WATERMARK, e.code()),
            };
            partitions.push(
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(partition.partition_index)
                    .with_low_watermark(low_watermark)
                    .with_error_code(code),
            );
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

async fn delete(broker: &Broker, topic: &str, partition: i32, offset: i64) -> ApiResult<i64> {
    let log = broker.topics.partition(topic, partition).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Unknown partition {topic}-{partition}"),
        )
    })?;
    let high_watermark = log.high_watermark();
    let target = if offset == HIGH_WATERMARK {
        high_watermark
    } else {
        offset
    };
    if target < 0 || target > high_watermark {
        return Err(ApiError::new(
            ResponseError::OffsetOutOfRange,
            format!(
                "Cannot increment the log start offset to {offset} of partition {topic}-{partition} \
                 since it is larger than the high watermark {high_watermark}"
            ),
        ));
    }
    Ok(log.delete_records_before(target).await?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::handlers::test_support::{append_records, assert_encodes, ctx, test_broker};
    use kafka_protocol::messages::ApiKey;

    fn part(index: i32, offset: i64) -> DeleteRecordsPartition {
        DeleteRecordsPartition::default()
            .with_partition_index(index)
            .with_offset(offset)
    }

    fn topic(name: &str, partitions: Vec<DeleteRecordsPartition>) -> DeleteRecordsTopic {
        DeleteRecordsTopic::default()
            .with_name(StrBytes::from(name.to_string()).into())
            .with_partitions(partitions)
    }

    #[tokio::test]
    async fn moves_low_watermark() {
        let broker = test_broker().await;
        broker
            .topics
            .create("t", 3, BTreeMap::new(), false)
            .await
            .unwrap();
        append_records(&broker, "t", 0, 5).await;
        append_records(&broker, "t", 1, 5).await;
        let req = DeleteRecordsRequest::default().with_topics(vec![
            topic("t", vec![part(0, 3), part(1, -1), part(2, 1), part(7, 0)]),
            topic("missing", vec![part(0, 0)]),
        ]);
        let resp = handle(&broker, &ctx(ApiKey::DeleteRecords, 2), req).await;
        assert_encodes(&resp, 2);
        assert_encodes(&resp, 0);
        let t = &resp.topics[0].partitions;
        assert_eq!((t[0].error_code, t[0].low_watermark), (0, 3));
        assert_eq!((t[1].error_code, t[1].low_watermark), (0, 5));
        assert_eq!(
            (t[2].error_code, t[2].low_watermark),
            (ResponseError::OffsetOutOfRange.code(), -1)
        );
        assert_eq!(
            t[3].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        let m = &resp.topics[1].partitions[0];
        assert_eq!(m.error_code, ResponseError::UnknownTopicOrPartition.code());
        assert_eq!(
            broker.topics.partition("t", 0).unwrap().log_start_offset(),
            3
        );
    }
}
