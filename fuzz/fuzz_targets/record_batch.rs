//! A produce buffer of record batches, through what the log does with one:
//! batch iteration, header parsing, validation (all or nothing), the header
//! rewrites of an append, and decoding the records the way a timestamp
//! lookup does (bounded decompression, then kafka-protocol's decoder).
#![no_main]

use bytes::Bytes;
use fjord_storage::batch::{self, BatchView, PatchedHeader};
use fjord_storage::decompress::{decompress, MAX_DECOMPRESSED_BATCH};
use fjord_storage::log::validate;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use libfuzzer_sys::fuzz_target;

/// max.message.bytes' default.
const MAX_MESSAGE_BYTES: usize = 1_048_588;
/// The timestamp lookup decodes only batches claiming at most this many records.
const MAX_DECODED_RECORDS: i32 = 100_000;

fuzz_target!(|data: &[u8]| {
    let _ = batch::batch_size_from_prefix(data);
    let _ = batch::parse_header(data);
    for view in batch::batches(data) {
        let Ok(view) = view else { break };
        let _ = view.header_info();
        let _ = validate::validate_batch(&view, MAX_MESSAGE_BYTES);
    }
    let Ok(summaries) = validate::validate_batches(data, MAX_MESSAGE_BYTES) else {
        return;
    };
    // Accepted: the batches tile the buffer exactly.
    assert_eq!(summaries.first().map(|s| s.position), Some(0));
    let covered: usize = summaries.iter().map(|s| s.size).sum();
    assert_eq!(
        covered,
        data.len(),
        "validated batches must cover the whole buffer"
    );

    for (i, summary) in summaries.iter().enumerate() {
        let range = summary.position..summary.position + summary.size;
        let produced = &data[range];
        let view = BatchView::parse(produced).expect("a validated batch parses");
        // What an append rewrites, in a copy of the header the store writes
        // before the produced bytes: offset and epoch lie outside the CRC'd
        // range, and a LogAppendTime stamp works the CRC out arithmetically,
        // so the stored batch must still validate.
        let mut header = PatchedHeader::of(&view);
        header.set_base_offset(1_000 + i as i64);
        header.set_partition_leader_epoch(7);
        if i % 2 == 1 {
            header.set_log_append_time(1_700_000_000_000);
        }
        let head = header.as_bytes();
        let mut stored = Vec::with_capacity(produced.len());
        stored.extend_from_slice(head);
        stored.extend_from_slice(&produced[head.len()..]);
        let view = BatchView::parse(&stored).expect("a patched batch parses");
        assert!(view.crc_is_valid(), "patching the header broke the CRC");
        assert_eq!(view.base_offset(), 1_000 + i as i64);
        assert_eq!(view.partition_leader_epoch(), 7);
        assert_eq!(view.record_count(), summary.record_count);
        if i % 2 == 1 {
            assert_eq!(view.max_timestamp(), 1_700_000_000_000);
            assert!(view.is_log_append_time());
        }
        let info = header.info().expect("a patched header parses");
        assert_eq!(info, view.header_info());
        if summary.record_count <= MAX_DECODED_RECORDS {
            let mut batch = Bytes::copy_from_slice(&stored);
            let bounded = |records: &mut Bytes, codec: Compression| -> anyhow::Result<Bytes> {
                Ok(decompress(codec, records, MAX_DECOMPRESSED_BATCH)?)
            };
            let _ = RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(bounded));
        }
    }
});
