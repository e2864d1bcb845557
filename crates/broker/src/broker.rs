//! The broker's shared state, handed to every handler.

use std::sync::Arc;

use fjord_storage::meta::MetadataStore;
use fjord_storage::scram::ScramStore;
use fjord_storage::LogStore;

use crate::cluster::ClusterView;
use crate::config::BrokerConfig;
use crate::groups::GroupCoordinator;
use crate::security::delegation_tokens::DelegationTokens;
use crate::security::mechanisms::SaslMechanisms;
use crate::security::oauthbearer::OAuthBearerValidator;
use crate::topics::TopicRegistry;
use crate::transactions::TransactionCoordinator;

pub struct Broker {
    pub config: BrokerConfig,
    /// The brokers, the controller, partition leaders and coordinators.
    pub cluster: Arc<dyn ClusterView>,
    pub logs: Arc<dyn LogStore>,
    pub topics: TopicRegistry,
    /// Classic consumer groups and their committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Producer ids and transactions.
    pub transactions: Arc<TransactionCoordinator>,
    /// Delegation tokens (disabled without `delegation.token.secret.key`).
    pub delegation_tokens: Arc<DelegationTokens>,
    /// SCRAM users' credentials (DescribeUserScramCredentials and
    /// AlterUserScramCredentials; SCRAM authentication reads them).
    pub scram_credentials: Arc<dyn ScramStore>,
    /// OAUTHBEARER's token checks, when `sasl.oauthbearer.*` configure them.
    pub oauthbearer: Option<Arc<OAuthBearerValidator>>,
    /// The SASL mechanisms each SASL listener answers, and their servers.
    pub sasl: SaslMechanisms,
    /// ACLs and the checks on them (everything allowed when disabled).
    pub authorizer: Arc<crate::authorizer::Authorizer>,
    /// Client quotas (DescribeClientQuotas, AlterClientQuotas) and the
    /// measures they are enforced with.
    pub quotas: Arc<crate::quotas::ClientQuotas>,
}

impl Broker {
    pub fn meta(&self) -> &Arc<dyn MetadataStore> {
        self.topics.meta()
    }

    /// This broker's id (`node.id`).
    pub fn node_id(&self) -> i32 {
        self.cluster.local().id
    }
}
