//! The classic consumer group coordinator (JoinGroup/SyncGroup/Heartbeat/
//! LeaveGroup, committed offsets), as a state machine independent of the
//! network: `group` + `join` + `sync` + `timers` are synchronous transitions
//! on one group, `coordinator` + `offsets` + `transactions` the async face
//! the handlers (and the transaction coordinator's markers) call.

pub mod config;
pub mod coordinator;
mod deadlines;
pub mod group;
pub mod join;
pub mod member;
pub mod memory_store;
pub mod offsets;
pub(crate) mod persist;
pub mod snapshot;
pub mod state;
pub mod sync;
#[cfg(test)]
mod tests;
pub mod timers;
pub mod transactions;

pub use config::GroupConfig;
pub use coordinator::GroupCoordinator;
pub use member::{JoinOutcome, JoinRequest, SyncOutcome};
pub use memory_store::MemoryOffsetStore;
pub use offsets::Committer;
pub use state::GroupState;
pub use sync::{LeavingMember, SyncRequest};
pub use transactions::TxnCommitter;
