//! One member of a classic group, and the answers it may be waiting for.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// What a JoinGroup is answered with.
#[derive(Debug, Clone)]
pub struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member's metadata for the leader; empty for followers.
    pub members: Vec<JoinedMember>,
    /// A static leader rejoining a Stable group keeps the current assignment.
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn error(error: ResponseError, member_id: impl Into<String>) -> Self {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.into(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// What a SyncGroup is answered with.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error: ResponseError) -> Self {
        SyncOutcome {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A JoinGroup as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a static leader can be told to skip the assignment.
    pub supports_skip_assignment: bool,
}

#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub(crate) awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    pub(crate) awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
    pub(crate) heartbeat_deadline: Instant,
}

impl Member {
    pub fn new(id: String, req: &JoinRequest, now: Instant) -> Self {
        Member {
            id,
            instance_id: req.instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: req.session_timeout,
            rebalance_timeout: req.rebalance_timeout,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            heartbeat_deadline: now + req.session_timeout,
        }
    }

    /// Takes the newer request's settings and protocols.
    pub fn update(&mut self, req: &JoinRequest, now: Instant) {
        self.client_id = req.client_id.clone();
        self.client_host = req.client_host.clone();
        self.session_timeout = req.session_timeout;
        self.rebalance_timeout = req.rebalance_timeout;
        self.protocol_type = req.protocol_type.clone();
        self.protocols = req.protocols.clone();
        self.touch(now);
    }

    /// The member showed signs of life: push its session deadline.
    pub fn touch(&mut self, now: Instant) {
        self.heartbeat_deadline = now + self.session_timeout;
    }

    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    /// Awaiting a JoinGroup or SyncGroup answer keeps a member alive.
    pub fn is_waiting(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }

    pub fn joined(&self) -> JoinedMember {
        JoinedMember {
            member_id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            metadata: Bytes::new(),
        }
    }
}
