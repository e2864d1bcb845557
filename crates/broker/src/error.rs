//! Errors inside the broker and their one mapping to Kafka error codes.

use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;
use thiserror::Error;

/// An error answered to a client, as a Kafka error code plus a message for
/// the APIs whose responses carry one.
#[derive(Debug, Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ResponseError,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> i16 {
        self.code.code()
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        let code = match &err {
            StorageError::CorruptBatch(_) => ResponseError::CorruptMessage,
            StorageError::InvalidRecord(_) => ResponseError::InvalidRecord,
            StorageError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
            StorageError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
            StorageError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
            StorageError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
            StorageError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
            StorageError::TransactionCoordinatorFenced(_) => {
                ResponseError::TransactionCoordinatorFenced
            }
            StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            StorageError::UnknownPartition { .. } => ResponseError::UnknownTopicOrPartition,
            // Another writer moved the group's or transaction's state on: it is
            // coordinated elsewhere.
            StorageError::StaleGroupState { .. } | StorageError::StaleTransactionState { .. } => {
                ResponseError::NotCoordinator
            }
            StorageError::TopicExists(_) => ResponseError::TopicAlreadyExists,
            // Another writer kept changing the topic while this change was
            // retried; NOT_CONTROLLER is the retriable answer Kafka gives
            // when its view of the metadata is behind.
            StorageError::StaleTopic { .. } => ResponseError::NotController,
            StorageError::Metadata(_) | StorageError::Io(_) => {
                tracing::error!(error = %err, "storage failure");
                ResponseError::KafkaStorageError
            }
        };
        ApiError::new(code, err.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
