//! Decompression of stored record batches with a cap on the output.
//!
//! A producer controls what a compressed batch expands to: a megabyte of
//! zeros compresses to almost nothing, and snappy blocks declare their own
//! uncompressed length. The few features that must look inside batches
//! (timestamp lookups) decompress through here, so a hostile batch costs at
//! most `limit` bytes instead of whatever it claims.

use std::io::Read;

use bytes::Bytes;
use kafka_protocol::records::Compression;

/// Enough for any batch a real producer sends (max.message.bytes at ratios
/// of 60x), far below what a decompression bomb would take.
pub const MAX_DECOMPRESSED_BATCH: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("decompressed records exceed {0} bytes")]
    TooLarge(usize),
    #[error("malformed {0:?} data: {1}")]
    Malformed(Compression, String),
}

/// Kafka's snappy framing (xerial's): this magic, a version, then
/// length-prefixed raw snappy blocks. Without it the data is one raw block.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

pub fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let malformed = |e: std::io::Error| DecompressError::Malformed(codec, e.to_string());
    match codec {
        Compression::None => bounded(input.len(), limit).map(|()| Bytes::copy_from_slice(input)),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(input), limit, codec),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(input).map_err(malformed)?;
            read_bounded(decoder, limit, codec)
        }
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(input).map_err(malformed)?;
            read_bounded(decoder, limit, codec)
        }
        Compression::Snappy => snappy(input, limit),
    }
}

fn bounded(size: usize, limit: usize) -> Result<(), DecompressError> {
    if size > limit {
        return Err(DecompressError::TooLarge(limit));
    }
    Ok(())
}

fn read_bounded(
    reader: impl Read,
    limit: usize,
    codec: Compression,
) -> Result<Bytes, DecompressError> {
    // One byte past the limit tells "exactly at the limit" from "beyond it".
    let ceiling = limit.saturating_add(1);
    let mut reader = reader.take(ceiling as u64);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecompressError::Malformed(codec, e.to_string())),
        };
        // Doubling as read_to_end does, but never past the ceiling: a bomb
        // stopped at a 64 MiB cap must not leave a 128 MiB buffer behind.
        if out.len() + read > out.capacity() {
            let wanted = (out.capacity() * 2).max(out.len() + read).min(ceiling);
            out.reserve_exact(wanted - out.len());
        }
        out.extend_from_slice(&chunk[..read]);
    }
    bounded(out.len(), limit)?;
    Ok(Bytes::from(out))
}

fn snappy(input: &[u8], limit: usize) -> Result<Bytes, DecompressError> {
    let mut out = Vec::new();
    if !input.starts_with(XERIAL_MAGIC) {
        snappy_block(input, limit, &mut out)?;
        return Ok(Bytes::from(out));
    }
    let mut rest = input.get(XERIAL_HEADER_LEN..).unwrap_or_default();
    while !rest.is_empty() {
        let malformed =
            || DecompressError::Malformed(Compression::Snappy, "truncated xerial block".into());
        let (len, after) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = after.get(..len).ok_or_else(malformed)?;
        snappy_block(block, limit, &mut out)?;
        rest = &after[len..];
    }
    Ok(Bytes::from(out))
}

/// Appends one raw snappy block, checking its declared length first.
fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecompressError> {
    let malformed = |e: snap::Error| DecompressError::Malformed(Compression::Snappy, e.to_string());
    let declared = snap::raw::decompress_len(block).map_err(malformed)?;
    bounded(out.len().saturating_add(declared), limit)?;
    let start = out.len();
    out.resize(start + declared, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(malformed)?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn round_trips_within_the_limit() {
        let data = b"fjord ".repeat(1000);
        assert_eq!(
            decompress(Compression::Gzip, &gzip(&data), 1 << 20).unwrap(),
            data
        );
        let zstd = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(decompress(Compression::Zstd, &zstd, 1 << 20).unwrap(), data);
        let raw_snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw_snappy, 1 << 20).unwrap(),
            data
        );
        let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        for half in data.chunks(3000) {
            let block = snap::raw::Encoder::new().compress_vec(half).unwrap();
            xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        assert_eq!(
            decompress(Compression::Snappy, &xerial, 1 << 20).unwrap(),
            data
        );
        let mut lz4 = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz4.write_all(&data).unwrap();
        let (lz4, result) = lz4.finish();
        result.unwrap();
        assert_eq!(decompress(Compression::Lz4, &lz4, 1 << 20).unwrap(), data);
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        assert!(matches!(
            decompress(Compression::Gzip, &gzip(&zeros), 1 << 20),
            Err(DecompressError::TooLarge(_))
        ));
        let zstd = zstd::encode_all(&zeros[..], 3).unwrap();
        assert!(matches!(
            decompress(Compression::Zstd, &zstd, 1 << 20),
            Err(DecompressError::TooLarge(_))
        ));
        // A raw snappy block claiming 2^32 - 1 bytes is refused before any allocation.
        let lying = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(decompress(Compression::Snappy, &lying, 1 << 20).is_err());
        assert!(decompress(Compression::Gzip, b"not gzip", 1 << 20).is_err());
    }
}
