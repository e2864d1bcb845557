//! A partition directory of arbitrary segment files, opened and read through
//! the storage crate's public API as the broker does at start-up.
//!
//! Input sections (see `fjord_fuzz::sections`): a control section (a flags
//! byte, then big-endian i64 segment base offsets), the `log-start-offset`
//! file, then for
//! each segment (at most four) its `.log`, `.index` and `.timeindex` files.
//! A base offset missing from the control section is taken from the first
//! batch header of the `.log`, as a real segment is named. Flag bit 0
//! rewrites the CRC32C of every batch in the `.log` files, so mutations get
//! past the checksum into what recovery does with well-formed batches.
//!
//! Besides "no panic, no hang, bounded memory": reads move forward, an
//! append after recovery lands at the high watermark and reads back, and
//! recovery is idempotent (a clean reopen sees the same offsets).
#![no_main]

use std::sync::OnceLock;

use fjord_fuzz::{record_batch, runtime, scratch_dir, sections, write_file};
use fjord_storage::batch;
use fjord_storage::local::LocalLogStore;
use fjord_storage::{Durability, LogConfig, LogStore};
use kafka_protocol::records::Compression;
use libfuzzer_sys::fuzz_target;

const MAX_SEGMENTS: usize = 4;
const MAX_READS: usize = 256;

/// Sets each batch's CRC32C (over bytes 21.. of the batch) to match.
fn fix_crcs(log: &mut [u8]) {
    let mut pos = 0;
    while let Some(size) = log.get(pos..).and_then(batch::batch_size_from_prefix) {
        let Some(whole) = log.get_mut(pos..pos + size) else {
            return;
        };
        let crc = crc32c::crc32c(&whole[batch::ATTRIBUTES_OFFSET..]);
        whole[batch::CRC_OFFSET..batch::CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        pos += size;
    }
}

fn base_offset(control: &[u8], index: usize, log: &[u8]) -> i64 {
    let raw = control
        .get(index * 8..index * 8 + 8)
        .or_else(|| log.get(..8))
        .map(|b| i64::from_be_bytes(b.try_into().unwrap_or_default()))
        .unwrap_or(index as i64 * 1000);
    // File names carry 20 digits, no sign.
    raw & i64::MAX
}

async fn open_partition(
    dir: &std::path::Path,
) -> Option<std::sync::Arc<dyn fjord_storage::PartitionLog>> {
    let store = LocalLogStore::open(dir.to_path_buf()).ok()?;
    store
        .open_partition(&fjord_storage::TopicIdPartition::new(uuid::Uuid::nil(), "t", 0), LogConfig::default())
        .await
        .ok()
}

fuzz_target!(|data: &[u8]| {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RUNTIME.get_or_init(runtime);
    let parts = sections(data);
    let (flags, control) = parts
        .first()
        .and_then(|c| c.split_first())
        .map_or((0, &[][..]), |(f, rest)| (*f, rest));
    let scratch = scratch_dir();
    let partition_dir = scratch.path().join("t-0");
    std::fs::create_dir_all(&partition_dir).expect("fuzz harness: cannot create partition dir");
    if let Some(log_start) = parts.get(1) {
        if !log_start.is_empty() {
            write_file(&partition_dir.join("log-start-offset"), log_start);
        }
    }
    for (i, files) in parts
        .get(2..)
        .unwrap_or_default()
        .chunks(3)
        .take(MAX_SEGMENTS)
        .enumerate()
    {
        let mut log = files[0].to_vec();
        if flags & 1 == 1 {
            fix_crcs(&mut log);
        }
        let base = base_offset(control, i, &log);
        let name = |suffix: &str| partition_dir.join(format!("{base:020}.{suffix}"));
        write_file(&name("log"), &log);
        if let Some(index) = files.get(1) {
            write_file(&name("index"), index);
        }
        if let Some(time_index) = files.get(2) {
            write_file(&name("timeindex"), time_index);
        }
    }

    rt.block_on(async {
        let Some(log) = open_partition(scratch.path()).await else {
            return;
        };
        let start = log.log_start_offset();
        let end = log.high_watermark();
        assert!(start <= end, "log start {start} above high watermark {end}");

        let mut offset = start;
        for _ in 0..MAX_READS {
            let Ok(read) = log.read(offset, 64 * 1024, true).await else {
                break;
            };
            let mut next = offset;
            for stored in batch::batches(&read.records) {
                let Ok(stored) = stored else { break };
                next = next.max(stored.last_offset().saturating_add(1));
            }
            if next == offset {
                break;
            }
            assert!(next > offset, "read at {offset} went back to {next}");
            offset = next;
        }
        for target in [i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX] {
            let _ = log.offset_for_timestamp(target).await;
        }
        let _ = log.max_timestamp().await;

        let appended = match log
            .append(
                record_batch(3, Compression::None, 1_700_000_000_000),
                Durability::Synced,
            )
            .await
        {
            Ok(appended) => appended,
            Err(_) => return,
        };
        assert_eq!(
            appended.base_offset, end,
            "append did not land at the high watermark"
        );
        assert_eq!(log.high_watermark(), end + 3);
        let read = log
            .read(appended.base_offset, 1 << 20, true)
            .await
            .expect("reading back a fresh append");
        let first = batch::batches(&read.records)
            .next()
            .expect("a fresh append reads back")
            .expect("a fresh append reads back whole");
        assert!(
            first.base_offset() <= appended.base_offset
                && first.last_offset() >= appended.base_offset
        );
        let (start, end) = (log.log_start_offset(), log.high_watermark());
        drop(log);

        let reopened = open_partition(scratch.path())
            .await
            .expect("a directory this store just wrote must reopen");
        assert_eq!(
            (reopened.log_start_offset(), reopened.high_watermark()),
            (start, end),
            "recovery is not idempotent"
        );
    });
});
