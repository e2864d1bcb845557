//! Helpers shared by the fuzz targets: splitting one input into several
//! files, a runtime for the async storage API, and scratch directories.

use std::path::Path;

/// Separates the files packed into one input. Eight bytes that real segment,
/// index and offset files are unlikely to contain, so libFuzzer's byte-level
/// mutations (insert, erase, copy) keep the files apart instead of shifting
/// length prefixes.
pub const SECTION_SEPARATOR: &[u8] = b"\n%%fjord-fuzz%%\n";

/// Splits `data` at each [`SECTION_SEPARATOR`].
pub fn sections(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, SECTION_SEPARATOR) {
        out.push(&rest[..at]);
        rest = &rest[at + SECTION_SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// The inverse of [`sections`], for writing seeds.
pub fn join_sections<T: AsRef<[u8]>>(parts: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(SECTION_SEPARATOR);
        }
        out.extend_from_slice(part.as_ref());
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A current-thread runtime (the storage API is async; its blocking work
/// goes to the runtime's blocking pool).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("fuzz harness: cannot build a tokio runtime")
}

/// A fresh scratch directory, in /dev/shm when there is one (file I/O per
/// input is most of what the storage targets spend).
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new()
        .prefix("fjord-fuzz-")
        .tempdir_in(if shm.is_dir() { shm } else { Path::new("/tmp") });
    builder.expect("fuzz harness: cannot create a scratch directory")
}

/// Writes `contents` to `path`, creating parent directories.
pub fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("fuzz harness: cannot create a directory");
    }
    std::fs::write(path, contents).expect("fuzz harness: cannot write a file");
}

/// One magic-v2 batch of `count` records, as a producer would send it.
pub fn record_batch(
    count: usize,
    compression: kafka_protocol::records::Compression,
    first_timestamp: i64,
) -> bytes::Bytes {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: first_timestamp + i as i64,
            key: Some(bytes::Bytes::from(format!("key-{i}"))),
            value: Some(bytes::Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("fuzz harness: cannot encode a record batch");
    buf.freeze()
}
