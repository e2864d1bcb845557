//! The cluster view: which brokers there are, which one is the controller,
//! which leads each partition and which coordinates each group or
//! transactional id. Handlers ask it instead of assuming one broker, so
//! that brokers sharing a store (later) change this one place.

use uuid::Uuid;

/// A broker as clients reach it on one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// Where one listener of a broker is reached (its advertised address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerEndpoint {
    /// The listener's name, upper case as Kafka normalises it.
    pub listener: String,
    pub host: String,
    pub port: i32,
}

/// A broker with every listener it advertises. Kafka answers a client
/// with the addresses of the listener the client came in on, so that
/// clients inside and outside a network each get addresses they can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    pub id: i32,
    pub rack: Option<String>,
    pub endpoints: Vec<ListenerEndpoint>,
}

impl BrokerNode {
    /// This broker as reached on `listener`; None when it does not
    /// advertise that listener.
    pub fn on(&self, listener: &str) -> Option<BrokerEndpoint> {
        self.endpoints
            .iter()
            .find(|e| e.listener == listener)
            .map(|e| BrokerEndpoint {
                id: self.id,
                host: e.host.clone(),
                port: e.port,
                rack: self.rack.clone(),
            })
    }
}

/// Who serves a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLeadership {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// What a coordinator is looked up for (FindCoordinator's key types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorKey<'a> {
    Group(&'a str),
    Transaction(&'a str),
}

pub trait ClusterView: Send + Sync {
    fn cluster_id(&self) -> &str;
    fn controller_id(&self) -> i32;
    /// The broker this process is.
    fn local(&self) -> &BrokerNode;
    /// Every live broker, by id.
    fn nodes(&self) -> Vec<BrokerNode>;
    fn node(&self, id: i32) -> Option<BrokerNode> {
        self.nodes().into_iter().find(|b| b.id == id)
    }
    /// Every live broker that advertises `listener`, as reached on it.
    fn brokers(&self, listener: &str) -> Vec<BrokerEndpoint> {
        self.nodes().iter().filter_map(|b| b.on(listener)).collect()
    }
    /// Who serves partition `partition` of the topic with this id (which
    /// the caller knows to exist).
    fn leadership(&self, topic_id: Uuid, partition: i32) -> PartitionLeadership;
    /// The broker coordinating a group or transactional id: in Kafka, the
    /// leader of the `__consumer_offsets` or `__transaction_state`
    /// partition the key hashes to.
    fn coordinator(&self, key: CoordinatorKey<'_>) -> BrokerNode;
}

/// One broker that is the whole cluster: its controller, every
/// partition's only replica and leader (epoch 0, as leadership never
/// moves), and every coordinator.
pub struct SingleNode {
    cluster_id: String,
    me: BrokerNode,
}

/// The epoch of every partition's leadership while it cannot move.
pub const SINGLE_NODE_LEADER_EPOCH: i32 = 0;

impl SingleNode {
    pub fn new(cluster_id: String, me: BrokerNode) -> Self {
        SingleNode { cluster_id, me }
    }
}

impl ClusterView for SingleNode {
    fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn controller_id(&self) -> i32 {
        self.me.id
    }

    fn local(&self) -> &BrokerNode {
        &self.me
    }

    fn nodes(&self) -> Vec<BrokerNode> {
        vec![self.me.clone()]
    }

    fn leadership(&self, _topic_id: Uuid, _partition: i32) -> PartitionLeadership {
        PartitionLeadership {
            leader: self.me.id,
            leader_epoch: SINGLE_NODE_LEADER_EPOCH,
            replicas: vec![self.me.id],
            isr: vec![self.me.id],
        }
    }

    fn coordinator(&self, _key: CoordinatorKey<'_>) -> BrokerNode {
        self.me.clone()
    }
}

/// Broker ids as the wire carries them.
pub fn wire_ids(ids: &[i32]) -> Vec<kafka_protocol::messages::BrokerId> {
    ids.iter()
        .copied()
        .map(kafka_protocol::messages::BrokerId)
        .collect()
}

/// The leader epoch a request gives when it names none.
pub const NO_EPOCH: i32 = -1;

/// Whether this broker may serve a partition at the leader epoch a client
/// names (-1: none named), with Kafka's answers when it may not: a client
/// ahead of this broker's epoch is told UNKNOWN_LEADER_EPOCH (it retries
/// until the broker catches up), one behind FENCED_LEADER_EPOCH (it
/// refreshes its metadata), and a client that reached a broker that is not
/// the leader NOT_LEADER_OR_FOLLOWER.
pub fn check_leader(
    view: &dyn ClusterView,
    topic_id: Uuid,
    partition: i32,
    client_epoch: i32,
) -> Result<PartitionLeadership, kafka_protocol::error::ResponseError> {
    use kafka_protocol::error::ResponseError;
    let leadership = view.leadership(topic_id, partition);
    if leadership.leader != view.local().id {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    if client_epoch != NO_EPOCH {
        if client_epoch > leadership.leader_epoch {
            return Err(ResponseError::UnknownLeaderEpoch);
        }
        if client_epoch < leadership.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
    }
    Ok(leadership)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::error::ResponseError;

    use super::*;

    fn single_node(id: i32) -> SingleNode {
        SingleNode::new(
            "cluster".into(),
            BrokerNode {
                id,
                rack: None,
                endpoints: vec![
                    ListenerEndpoint {
                        listener: "PLAINTEXT".into(),
                        host: "h".into(),
                        port: 9,
                    },
                    ListenerEndpoint {
                        listener: "EXTERNAL".into(),
                        host: "public.example".into(),
                        port: 19092,
                    },
                ],
            },
        )
    }

    /// A view in which broker `.1` leads every partition, at epoch 3.
    struct AtEpochThree(SingleNode, i32);

    impl ClusterView for AtEpochThree {
        fn cluster_id(&self) -> &str {
            self.0.cluster_id()
        }
        fn controller_id(&self) -> i32 {
            self.0.controller_id()
        }
        fn local(&self) -> &BrokerNode {
            self.0.local()
        }
        fn nodes(&self) -> Vec<BrokerNode> {
            self.0.nodes()
        }
        fn leadership(&self, _: Uuid, _: i32) -> PartitionLeadership {
            PartitionLeadership {
                leader: self.1,
                leader_epoch: 3,
                replicas: vec![self.1],
                isr: vec![self.1],
            }
        }
        fn coordinator(&self, key: CoordinatorKey<'_>) -> BrokerNode {
            self.0.coordinator(key)
        }
    }

    #[test]
    fn one_broker_leads_and_coordinates_everything() {
        let view = single_node(7);
        let topic = Uuid::new_v4();
        let leadership = view.leadership(topic, 3);
        assert_eq!(
            (leadership.leader, leadership.leader_epoch),
            (7, SINGLE_NODE_LEADER_EPOCH)
        );
        assert_eq!((leadership.replicas, leadership.isr), (vec![7], vec![7]));
        assert_eq!(view.controller_id(), 7);
        assert_eq!(view.node(7).map(|b| b.id), Some(7));
        assert_eq!(view.node(8), None);
        assert_eq!(view.coordinator(CoordinatorKey::Group("g")).id, 7);
        assert_eq!(view.coordinator(CoordinatorKey::Transaction("t")).id, 7);
    }

    #[test]
    fn brokers_are_given_by_the_listener_asked_on() {
        let view = single_node(7);
        let on = |listener| {
            view.brokers(listener)
                .into_iter()
                .map(|b| (b.id, b.host, b.port))
                .collect::<Vec<_>>()
        };
        assert_eq!(on("PLAINTEXT"), vec![(7, "h".to_string(), 9)]);
        assert_eq!(
            on("EXTERNAL"),
            vec![(7, "public.example".to_string(), 19092)]
        );
        assert_eq!(on("OTHER"), vec![]);
        let coordinator = view.coordinator(CoordinatorKey::Group("g"));
        assert_eq!(coordinator.on("EXTERNAL").map(|b| b.port), Some(19092));
        assert_eq!(coordinator.on("OTHER"), None);
    }

    #[test]
    fn leader_checks_answer_as_kafka() {
        let view = single_node(7);
        let topic = Uuid::new_v4();
        assert!(check_leader(&view, topic, 0, -1).is_ok());
        assert!(check_leader(&view, topic, 0, 0).is_ok());
        assert_eq!(
            check_leader(&view, topic, 0, 1),
            Err(ResponseError::UnknownLeaderEpoch)
        );
        let moved_on = AtEpochThree(view, 7);
        assert_eq!(
            check_leader(&moved_on, topic, 0, 2),
            Err(ResponseError::FencedLeaderEpoch)
        );
        assert_eq!(
            check_leader(&moved_on, topic, 0, 3).map(|l| l.leader_epoch),
            Ok(3)
        );
        let elsewhere = AtEpochThree(single_node(7), 99);
        assert_eq!(
            check_leader(&elsewhere, topic, 0, 3),
            Err(ResponseError::NotLeaderOrFollower)
        );
    }
}
