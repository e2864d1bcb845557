//! The `throttle_time_ms` of a response, for the APIs Fjord serves whose
//! responses carry one (all but the SASL exchange). A version without the
//! field leaves it out on the wire.

use kafka_protocol::messages::{ApiKey, ResponseKind};

macro_rules! throttle_field {
    ($response:expr, $($variant:ident),+ $(,)?) => {
        match $response {
            $(ResponseKind::$variant(r) => Some(&mut r.throttle_time_ms),)+
            _ => None,
        }
    };
}

/// The response's throttle time, when its type has one.
pub fn throttle_time_mut(response: &mut ResponseKind) -> Option<&mut i32> {
    throttle_field!(
        response,
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        FindCoordinator,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        DescribeConfigs,
        CreatePartitions,
        DescribeCluster,
        DescribeTopicPartitions,
        OffsetCommit,
        OffsetFetch,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        DeleteGroups,
        OffsetDelete,
        TxnOffsetCommit,
        InitProducerId,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        CreateDelegationToken,
        RenewDelegationToken,
        ExpireDelegationToken,
        DescribeDelegationToken,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        DescribeClientQuotas,
        AlterClientQuotas,
    )
}

/// Whether a client of this API version waits out a throttle itself
/// (KIP-219, Kafka's `shouldClientThrottle`): then the answer goes out at
/// once. An older client is throttled as before KIP-219: its answer is held
/// back for the throttle time. APIs newer than KIP-219 always are.
pub fn client_throttles(key: ApiKey, version: i16) -> bool {
    use ApiKey::*;
    let since = match key {
        Produce | Metadata => 6,
        Fetch => 8,
        ListOffsets | JoinGroup | CreateTopics => 3,
        OffsetCommit | OffsetFetch => 4,
        FindCoordinator | Heartbeat | LeaveGroup | SyncGroup | DescribeGroups | ListGroups
        | ApiVersions | DeleteTopics | DescribeConfigs => 2,
        DeleteRecords
        | InitProducerId
        | AddPartitionsToTxn
        | AddOffsetsToTxn
        | EndTxn
        | TxnOffsetCommit
        | DescribeAcls
        | CreateAcls
        | DeleteAcls
        | CreatePartitions
        | CreateDelegationToken
        | RenewDelegationToken
        | ExpireDelegationToken
        | DescribeDelegationToken
        | DeleteGroups => 1,
        _ => 0,
    };
    version >= since
}
