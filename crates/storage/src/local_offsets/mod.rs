//! The local engine for [`OffsetStore`](crate::offsets::OffsetStore):
//! committed offsets and group metadata in an append-only log with snapshots.
//!
//! # On disk
//!
//! ```text
//! <data_dir>/__fjord_offsets/
//!     offsets-<generation, 20 digits>.log      the log (exactly one, normally)
//!     offsets-<generation, 20 digits>.log.tmp  a snapshot being written
//! ```
//!
//! The log is a sequence of self-describing records, each framed as
//! `[u32 length][u32 crc32c(payload)][payload]` (big-endian). A payload is
//! one mutation: commit of N offsets for a group, delete some of a group's
//! offsets, delete a group, delete a topic's offsets in every group, set or
//! clear a group's metadata, store a transaction's offsets as pending
//! (TxnOffsetCommit), end a transaction in a group (its commit or abort
//! marker). Replaying the records in order rebuilds the state, pending
//! offsets included, so a transaction coordinator that re-sends an outcome
//! after a restart still finds them. See `codec.rs` for the byte layout.
//!
//! When a transaction commits, each of its offsets becomes the committed
//! one unless a commit recorded after it (a plain OffsetCommit, or another
//! transaction's offset) already replaced it: Kafka compares the records'
//! offsets in `__consumer_offsets`; here the record order does, and
//! compaction writes offsets in that order.
//!
//! The encoding is a small hand-written binary one rather than serde_json:
//! group metadata is opaque bytes, which JSON would spell as an array of
//! numbers (3–4× larger, slow to parse at start-up); a binary layout gives
//! exact round trips and a bounds-checked decoder of ~100 lines with no
//! panics on bad input. The leading tag byte leaves room for new mutations.
//!
//! # Writes: durable before they return, group-committed
//!
//! A mutation takes the writer lock (a tokio mutex: one appender or
//! compactor at a time), is dropped if it changes nothing, otherwise is
//! encoded, appended with one `write` and then applied to the in-memory
//! state, and gets a sequence number. Memory is therefore always the replay
//! of the file, in file order. The caller then waits until its sequence is
//! fsynced: whoever finds no fsync in flight runs `fdatasync` (through
//! `group_commit::run_flush`) covering every record written so far and
//! publishes the synced sequence on a `watch`; everyone else waits for that
//! and re-checks, so N concurrent writers share a few fsyncs, not N.
//!
//! Visibility: a mutation is visible to `fetch` once appended, before it is
//! durable (as Kafka shows a commit once appended and acknowledges it after
//! replication); the caller is answered only once it is durable. A failed
//! write or fsync fails the call and poisons the store: every later write
//! fails, since we can no longer tell what is on disk (the in-memory view
//! may then show a record that a crash would lose; a restart re-reads the
//! truth from disk).
//!
//! # Recovery
//!
//! At open: `.tmp` files are deleted (a snapshot never renamed), the
//! highest generation wins and older ones are deleted, and its records are
//! replayed in order up to the first torn or corrupt frame (short header,
//! length past the end or over 256 MiB, CRC mismatch); the file is
//! truncated there and fsynced (which also makes durable what a crashed
//! process left in the page cache). A frame whose CRC matches but does not
//! decode is not a torn write but a format this code does not know: open
//! fails rather than throwing away later records.
//!
//! # Compaction
//!
//! When the log exceeds [`LocalOffsetOptions::compaction_min_bytes`]
//! (64 MiB by default) and is more than 4× a snapshot of the live state, the
//! writer that crossed the threshold writes the snapshot (one commit record
//! per group, one set-metadata record per group) as generation + 1: temp
//! file, fsync, rename, fsync the directory, switch appends to it, delete
//! the old generation. Writers wait meanwhile (it holds the writer lock).
//! A crash at any step leaves a complete file as the highest generation.
//!
//! Reads (`fetch`, `group_offsets`, `groups`, `group_metadata`) take only a
//! `parking_lot` read lock and never await.

mod codec;
mod face;
mod files;
mod memory;
#[cfg(test)]
mod pending_tests;
mod state;
mod store;
#[cfg(test)]
mod tests;

pub use files::OFFSETS_DIR;
pub use memory::MemoryOffsetStore;
pub use store::{LocalOffsetOptions, LocalOffsetStore, DEFAULT_COMPACTION_MIN_BYTES};
