//! The record batch header view: parsing, validation, rewriting.

use bytes::Bytes;
use fjord_storage::batch::{
    batches, BatchView, PatchedHeader, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, CRC_OFFSET,
    LAST_OFFSET_DELTA_OFFSET, MAGIC_OFFSET, RECORD_COUNT_OFFSET,
};
use fjord_storage::log::validate::{validate_batch, validate_batches};
use fjord_storage::StorageError;
use fjord_testkit::batches::{batch, ALL_COMPRESSIONS};
use kafka_protocol::records::{Compression, RecordBatchDecoder};

const MAX: usize = 1024 * 1024;

fn recompute_crc(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn encoder_batches_parse_and_validate_for_every_compression() {
    for compression in ALL_COMPRESSIONS {
        let bytes = batch(5, compression);
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(view.size(), bytes.len());
        assert_eq!(view.magic(), 2);
        assert_eq!(view.record_count(), 5);
        assert_eq!(view.last_offset_delta(), 4);
        assert_eq!(view.compression_codec(), compression as u8);
        assert_eq!(view.base_timestamp(), 1_700_000_000_000);
        assert_eq!(view.max_timestamp(), 1_700_000_000_004);
        assert!(!view.is_log_append_time() && !view.is_transactional() && !view.is_control());
        assert!(view.crc_is_valid());
        validate_batch(&view, MAX).unwrap();
    }
}

#[test]
fn iterates_concatenated_batches() {
    let mut buf = Vec::new();
    for compression in ALL_COMPRESSIONS {
        buf.extend_from_slice(&batch(3, compression));
    }
    let views: Vec<_> = batches(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(views.len(), ALL_COMPRESSIONS.len());
    let summaries = validate_batches(&buf, MAX).unwrap();
    assert_eq!(summaries.len(), ALL_COMPRESSIONS.len());
    assert_eq!(summaries[1].position, summaries[0].size);
}

#[test]
fn truncated_input_is_an_error_at_every_cut_and_never_panics() {
    let bytes = batch(4, Compression::Lz4);
    for cut in 0..bytes.len() {
        let piece = &bytes[..cut];
        if cut > 0 {
            assert!(
                matches!(BatchView::parse(piece), Err(StorageError::CorruptBatch(_))),
                "cut {cut}"
            );
        }
        let items: Vec<_> = batches(piece).collect();
        assert!(items.iter().all(|r| r.is_err()));
        assert!(items.len() <= 1);
        if cut > 0 {
            assert!(validate_batches(piece, MAX).is_err());
        }
    }
    // Garbage lengths (negative, tiny, huge) are refused without allocating.
    for length in [-1i32, 0, 48, i32::MAX] {
        let mut buf = bytes.to_vec();
        buf[8..12].copy_from_slice(&length.to_be_bytes());
        assert!(matches!(
            BatchView::parse(&buf),
            Err(StorageError::CorruptBatch(_))
        ));
    }
}

#[test]
fn empty_and_trailing_garbage_are_refused() {
    assert!(matches!(
        validate_batches(&[], MAX),
        Err(StorageError::InvalidRecord(_))
    ));
    let mut buf = batch(2, Compression::None).to_vec();
    buf.extend_from_slice(&[1, 2, 3]);
    assert!(matches!(
        validate_batches(&buf, MAX),
        Err(StorageError::CorruptBatch(_))
    ));
}

#[test]
fn validation_errors() {
    let good = batch(3, Compression::Gzip).to_vec();

    let mut bad_magic = good.clone();
    bad_magic[MAGIC_OFFSET] = 1;
    assert!(matches!(
        validate_batches(&bad_magic, MAX),
        Err(StorageError::UnsupportedMagic(1))
    ));

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert!(matches!(
        validate_batches(&bad_crc, MAX),
        Err(StorageError::CorruptBatch(_))
    ));

    let mut zero_count = good.clone();
    zero_count[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&0i32.to_be_bytes());
    recompute_crc(&mut zero_count);
    assert!(matches!(
        validate_batches(&zero_count, MAX),
        Err(StorageError::InvalidRecord(_))
    ));

    let mut delta_mismatch = good.clone();
    delta_mismatch[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&7i32.to_be_bytes());
    recompute_crc(&mut delta_mismatch);
    assert!(matches!(
        validate_batches(&delta_mismatch, MAX),
        Err(StorageError::InvalidRecord(_))
    ));

    let mut inflated_count = batch(3, Compression::None).to_vec();
    let inflated_len = inflated_count.len();
    inflated_count[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4]
        .copy_from_slice(&1_000_000i32.to_be_bytes());
    inflated_count[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&999_999i32.to_be_bytes());
    recompute_crc(&mut inflated_count);
    assert_eq!(inflated_count.len(), inflated_len);
    assert!(matches!(
        validate_batches(&inflated_count, MAX),
        Err(StorageError::InvalidRecord(_))
    ));

    let too_small = good.len() - 1;
    assert!(matches!(
        validate_batches(&good, too_small),
        Err(StorageError::BatchTooLarge { size, max }) if size == good.len() && max == too_small
    ));
}

/// The patched header followed by the rest of the batch as produced: what
/// the log stores.
fn stored(header: &PatchedHeader, produced: &[u8]) -> Vec<u8> {
    let mut stored = header.as_bytes().to_vec();
    stored.extend_from_slice(&produced[BATCH_HEADER_LEN..]);
    stored
}

#[test]
fn base_offset_and_epoch_rewrite_keep_the_crc() {
    for compression in ALL_COMPRESSIONS {
        let produced = batch(3, compression);
        let mut header = PatchedHeader::of(&BatchView::parse(&produced).unwrap());
        header.set_base_offset(1234);
        header.set_partition_leader_epoch(7);
        let buf = stored(&header, &produced);
        let view = BatchView::parse(&buf).unwrap();
        assert_eq!(view.base_offset(), 1234);
        assert_eq!(view.partition_leader_epoch(), 7);
        assert_eq!(view.last_offset(), 1236);
        assert_eq!(header.info().unwrap(), view.header_info());
        validate_batch(&view, MAX).unwrap();
        let decoded = RecordBatchDecoder::decode(&mut Bytes::from(buf)).unwrap();
        let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![1234, 1235, 1236]);
    }
}

#[test]
fn log_append_time_sets_flag_and_max_timestamp_and_fixes_crc() {
    for compression in ALL_COMPRESSIONS {
        let produced = batch(3, compression);
        let mut header = PatchedHeader::of(&BatchView::parse(&produced).unwrap());
        header.set_log_append_time(1_800_000_000_000);
        let buf = stored(&header, &produced);
        let view = BatchView::parse(&buf).unwrap();
        assert!(view.is_log_append_time());
        assert_eq!(view.max_timestamp(), 1_800_000_000_000);
        assert_eq!(view.compression_codec(), compression as u8);
        assert!(view.crc_is_valid());
        validate_batch(&view, MAX).unwrap();
    }
}

#[test]
fn produced_batches_must_leave_offsets_to_the_broker() {
    let mut claimed = batch(2, Compression::None).to_vec();
    // The base offset is outside the CRC, so the batch stays intact otherwise.
    claimed[..8].copy_from_slice(&42i64.to_be_bytes());
    assert!(matches!(
        validate_batches(&claimed, MAX),
        Err(StorageError::InvalidRecord(_))
    ));
}
