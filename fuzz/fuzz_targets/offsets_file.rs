//! The committed-offsets log (`__fjord_offsets/offsets-<generation>.log`)
//! from arbitrary bytes, opened through `LocalOffsetStore`'s public API.
//!
//! The first input byte holds flags: bit 0 rewrites every frame's CRC32C
//! before the file is written, so that mutations reach the payload decoder
//! instead of stopping at the checksum. The rest is the file.
//!
//! Besides "no panic, no hang, bounded memory": what was recovered
//! (committed offsets, metadata, pending transactional offsets) survives a
//! commit and a reopen, and a compaction (a rewrite of the live state) and
//! a reopen, unchanged.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use fjord_fuzz::{runtime, scratch_dir, write_file};
use fjord_storage::local_offsets::{LocalOffsetStore, OFFSETS_DIR};
use fjord_storage::offsets::{CommittedOffset, OffsetEntry, OffsetStore, PendingOffsets};
use libfuzzer_sys::fuzz_target;

/// Frame: `[u32 length][u32 crc32c(payload)][payload]`.
fn fix_crcs(file: &mut [u8]) {
    let mut pos = 0;
    while let Some(header) = file.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let Some(payload) = file.get(pos + 8..pos + 8 + len) else {
            return;
        };
        let crc = crc32c::crc32c(payload);
        file[pos + 4..pos + 8].copy_from_slice(&crc.to_be_bytes());
        pos += 8 + len;
    }
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    offsets: BTreeMap<String, Vec<(String, i32, CommittedOffset)>>,
    metadata: BTreeMap<String, Vec<u8>>,
    /// Transactions' offsets waiting for their outcome, by group.
    pending: BTreeMap<String, Vec<PendingOffsets>>,
}

fn snapshot(store: &LocalOffsetStore) -> Snapshot {
    let mut offsets = BTreeMap::new();
    let mut pending = BTreeMap::new();
    for group in store.groups() {
        let open = store.pending_offsets(&group);
        if !open.is_empty() {
            pending.insert(group.clone(), open);
        }
        let mut entries: Vec<_> = store
            .group_offsets(&group)
            .into_iter()
            .map(|e| (e.topic, e.partition, e.committed))
            .collect();
        entries.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for (topic, partition, committed) in &entries {
            assert_eq!(
                store.fetch(&group, topic, *partition).as_ref(),
                Some(committed)
            );
        }
        offsets.insert(group, entries);
    }
    let metadata = store.group_metadata().into_iter().collect();
    Snapshot {
        offsets,
        metadata,
        pending,
    }
}

fn reopen(dir: &Path) -> LocalOffsetStore {
    LocalOffsetStore::open(dir).expect("a log this store just wrote must reopen")
}

fuzz_target!(|data: &[u8]| {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RUNTIME.get_or_init(runtime);
    let Some((flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 1 == 1 {
        fix_crcs(&mut file);
    }
    let scratch = scratch_dir();
    write_file(
        &scratch
            .path()
            .join(OFFSETS_DIR)
            .join("offsets-00000000000000000000.log"),
        &file,
    );
    let Ok(store) = LocalOffsetStore::open(scratch.path()) else {
        return;
    };
    let mut expected = snapshot(&store);

    let committed = CommittedOffset {
        offset: 42,
        leader_epoch: 3,
        metadata: Some("fuzz".into()),
        commit_timestamp: 1_700_000_000_000,
        expire_timestamp: -1,
    };
    let entry = OffsetEntry {
        topic: "fuzz-topic".into(),
        partition: 1,
        committed: committed.clone(),
    };
    if rt
        .block_on(store.commit("fuzz-group", vec![entry]))
        .is_err()
    {
        return;
    }
    let group = expected.offsets.entry("fuzz-group".into()).or_default();
    group.retain(|(t, p, _)| !(t == "fuzz-topic" && *p == 1));
    group.push(("fuzz-topic".into(), 1, committed));
    group.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(
        snapshot(&store),
        expected,
        "commit changed more than its offset"
    );
    drop(store);

    let store = reopen(scratch.path());
    assert_eq!(snapshot(&store), expected, "reopen lost or changed state");
    rt.block_on(store.compact())
        .expect("compacting a recovered log");
    drop(store);
    let store = reopen(scratch.path());
    assert_eq!(
        snapshot(&store),
        expected,
        "compaction lost or changed state"
    );
});
