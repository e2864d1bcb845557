//! Kafka's ACL operations and the "authorized operations" bitfields that
//! Metadata, DescribeTopicPartitions, DescribeCluster and DescribeGroups
//! return. Without an authorizer Kafka answers with every operation the
//! resource type supports (`AclEntry.supportedOperations`), one bit per
//! operation code; the bitfields are built from that list, never written as
//! numbers, so a bit cannot land on the wrong operation.

/// Kafka's `AclOperation`, with its wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AclOperation {
    Unknown = 0,
    Any = 1,
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
    TwoPhaseCommit = 15,
}

impl AclOperation {
    /// The operation with wire code `code`, if Kafka defines one.
    pub fn from_code(code: i8) -> Option<Self> {
        use AclOperation::*;
        const ALL: [AclOperation; 16] = [
            Unknown,
            Any,
            All,
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            CreateTokens,
            DescribeTokens,
            TwoPhaseCommit,
        ];
        ALL.into_iter().find(|op| *op as u8 as i8 == code)
    }
}

/// Kafka's resource types that ACLs name (wire codes 2-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

impl ResourceType {
    /// Kafka's wire code (`ResourceType.code()`).
    pub const fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
            ResourceType::DelegationToken => 6,
            ResourceType::User => 7,
        }
    }

    /// The type with wire code `code`; None for UNKNOWN (0), ANY (1) and
    /// codes Kafka does not define.
    pub fn from_code(code: i8) -> Option<Self> {
        use ResourceType::*;
        [
            Topic,
            Group,
            Cluster,
            TransactionalId,
            DelegationToken,
            User,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }

    /// The operations Kafka 4.1 supports on this resource type.
    pub const fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            // Group configs (KIP-848) made DESCRIBE_CONFIGS and ALTER_CONFIGS
            // group operations.
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            // TwoPhaseCommit came with KIP-939 (Kafka 4.0).
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }

    /// What Kafka without an authorizer answers: every supported operation.
    pub const fn authorized_operations(self) -> i32 {
        bitfield(self.supported_operations())
    }
}

/// Kafka's `Utils.to32BitField`: bit `code` set for each operation.
pub const fn bitfield(operations: &[AclOperation]) -> i32 {
    let mut bits = 0i32;
    let mut i = 0;
    while i < operations.len() {
        bits |= 1 << operations[i] as u8;
        i += 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfields_are_the_values_kafka_returns() {
        // Kafka 4.1 without an authorizer answers these.
        assert_eq!(ResourceType::Topic.authorized_operations(), 3576);
        assert_eq!(ResourceType::Group.authorized_operations(), 3400);
        assert_eq!(ResourceType::Cluster.authorized_operations(), 8096);
    }

    #[test]
    fn topic_operations_include_alter_configs_not_idempotent_write() {
        let topic = ResourceType::Topic.authorized_operations();
        assert_ne!(topic & (1 << AclOperation::AlterConfigs as u8), 0);
        assert_eq!(topic & (1 << AclOperation::IdempotentWrite as u8), 0);
    }

    #[test]
    fn operation_codes_are_kafkas() {
        let codes = [
            (AclOperation::Unknown, 0),
            (AclOperation::Any, 1),
            (AclOperation::All, 2),
            (AclOperation::Read, 3),
            (AclOperation::Write, 4),
            (AclOperation::Create, 5),
            (AclOperation::Delete, 6),
            (AclOperation::Alter, 7),
            (AclOperation::Describe, 8),
            (AclOperation::ClusterAction, 9),
            (AclOperation::DescribeConfigs, 10),
            (AclOperation::AlterConfigs, 11),
            (AclOperation::IdempotentWrite, 12),
            (AclOperation::CreateTokens, 13),
            (AclOperation::DescribeTokens, 14),
            (AclOperation::TwoPhaseCommit, 15),
        ];
        for (operation, code) in codes {
            assert_eq!(operation as u8, code, "{operation:?}");
        }
    }
}
