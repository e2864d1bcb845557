//! The `throttle_time_ms` of a response, for the APIs Fjord serves whose
//! responses carry one (all but the SASL exchange). A version without the
//! field leaves it out on the wire.

use kafka_protocol::messages::ResponseKind;

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
