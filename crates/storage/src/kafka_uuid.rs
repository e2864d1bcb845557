//! Kafka's text form of a UUID (topic ids, cluster ids): its 16 bytes in
//! URL-safe base64 without padding, 22 characters.

use uuid::Uuid;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn to_kafka_string(id: Uuid) -> String {
    let bytes = id.into_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The UUID of a 22-character Kafka id, `None` for anything else.
pub fn parse_kafka_string(text: &str) -> Option<Uuid> {
    let text = text.as_bytes();
    if text.len() != 22 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let value = ALPHABET.iter().position(|a| a == c)?;
            n |= (value as u32) << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            *bytes.get_mut(filled)? = (n >> (16 - 8 * i)) as u8;
            filled += 1;
        }
    }
    // The last character carries 2 bits of data; its other 4 must be zero,
    // so that each id has exactly one text form.
    (to_kafka_string(Uuid::from_bytes(bytes)).as_bytes() == text).then(|| Uuid::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_text() {
        for _ in 0..100 {
            let id = Uuid::new_v4();
            let text = to_kafka_string(id);
            assert_eq!(text.len(), 22);
            assert_eq!(parse_kafka_string(&text), Some(id));
        }
        // Kafka's own rendering of a known id.
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(to_kafka_string(id), "ASNFZ4mrze8BI0VniavN7w");
        assert_eq!(parse_kafka_string("ASNFZ4mrze8BI0VniavN7x"), None);
        assert_eq!(parse_kafka_string("ASNFZ4mrze8BI0VniavN7"), None);
        assert_eq!(parse_kafka_string("ASNFZ4mrze8BI0VniavN7+"), None);
    }
}
