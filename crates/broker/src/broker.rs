//! The broker's shared state, handed to every handler.

use std::sync::Arc;

use fjord_storage::meta::MetadataStore;
use fjord_storage::LogStore;

use crate::config::BrokerConfig;
use crate::groups::GroupCoordinator;
use crate::topics::TopicRegistry;

pub struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub cluster_id: String,
    pub advertised_host: String,
    pub advertised_port: i32,
    pub logs: Arc<dyn LogStore>,
    pub topics: TopicRegistry,
    /// Classic consumer groups and their committed offsets.
    pub groups: Arc<GroupCoordinator>,
}

impl Broker {
    pub fn meta(&self) -> &Arc<dyn MetadataStore> {
        self.topics.meta()
    }
}
