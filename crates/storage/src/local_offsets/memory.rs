//! `MemoryOffsetStore`: the local store's state machine without its file,
//! for unit tests and where no durable store is configured. Same rules, same
//! answers, nothing survives the process.

use async_trait::async_trait;
use parking_lot::{RwLock, RwLockReadGuard};

use super::codec::Mutation;
use super::face::MutationLog;
use super::state::State;
use crate::error::{Result, StorageError};

#[derive(Default)]
pub struct MemoryOffsetStore {
    state: RwLock<State>,
}

#[async_trait]
impl MutationLog for MemoryOffsetStore {
    async fn mutate_if(&self, mutation: Mutation, expected: Option<(&str, u64)>) -> Result<u64> {
        let mut state = self.state.write();
        if let Some((group, expected)) = expected {
            let actual = state.metadata_version(group);
            if actual != expected {
                return Err(StorageError::StaleGroupState {
                    group: group.to_string(),
                    expected,
                    actual,
                });
            }
        }
        state.refuses(&mutation)?;
        if state.changes(&mutation) {
            state.apply(mutation);
        }
        Ok(expected.map_or(0, |(group, _)| state.metadata_version(group)))
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }
}
