//! The in-memory OffsetStore lives with the local one (it is the same state
//! machine without the file); re-exported where the coordinator's tests and
//! callers have always found it.

pub use fjord_storage::local_offsets::MemoryOffsetStore;
