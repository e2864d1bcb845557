//! Request frames as a client sends them (4-byte length, request header,
//! body), including ones no real client would send: unknown keys, header
//! versions that do not match the key, null client ids.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// The header of one request frame; `new` gives what a client sends for a
/// known key, the setters what a test needs to send instead.
#[derive(Debug, Clone)]
pub struct Frame {
    api_key: i16,
    version: i16,
    header_version: i16,
    correlation_id: i32,
    client_id: Option<&'static str>,
}

impl Frame {
    /// `key` at `version`, with the header version the key calls for,
    /// correlation id 1 and client id "testkit".
    pub fn new(key: ApiKey, version: i16) -> Self {
        Frame::raw(key as i16, version, key.request_header_version(version))
    }

    /// Any api key, known or not, with this header version.
    pub fn raw(api_key: i16, version: i16, header_version: i16) -> Self {
        Frame {
            api_key,
            version,
            header_version,
            correlation_id: 1,
            client_id: Some("testkit"),
        }
    }

    pub fn correlation_id(mut self, correlation_id: i32) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// None sends a null client id (header v1 and v2 carry one).
    pub fn client_id(mut self, client_id: Option<&'static str>) -> Self {
        self.client_id = client_id;
        self
    }

    /// The whole frame around these body bytes.
    pub fn with_body_bytes(&self, body: &[u8]) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(self.api_key)
            .with_request_api_version(self.version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(self.client_id.map(StrBytes::from_static_str));
        let mut payload = BytesMut::new();
        if let Err(e) = header.encode(&mut payload, self.header_version) {
            panic!("test request header does not encode: {e}");
        }
        payload.put_slice(body);
        let mut out = BytesMut::with_capacity(4 + payload.len());
        out.put_i32(payload.len() as i32);
        out.put_slice(&payload);
        out.freeze()
    }

    /// The whole frame around `body` encoded at the frame's version.
    pub fn with_body(&self, body: &impl Encodable) -> Bytes {
        let mut bytes = BytesMut::new();
        if let Err(e) = body.encode(&mut bytes, self.version) {
            panic!(
                "test request body does not encode at v{}: {e}",
                self.version
            );
        }
        self.with_body_bytes(&bytes)
    }
}

/// A frame for `body` at `version`, as a client sends it.
pub fn request(key: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Bytes {
    Frame::new(key, version)
        .correlation_id(correlation_id)
        .with_body(body)
}

/// An ApiVersions v3 request naming its client software.
pub fn api_versions_request(correlation_id: i32) -> Bytes {
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("testkit"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    request(ApiKey::ApiVersions, 3, correlation_id, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn a_frame_is_length_header_body() {
        let mut frame = api_versions_request(9);
        assert_eq!(
            i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        let _length = frame.split_to(4);
        let header = RequestHeader::decode(&mut frame, 2).unwrap();
        assert_eq!(header.request_api_key, ApiKey::ApiVersions as i16);
        assert_eq!(header.correlation_id, 9);
        let body = ApiVersionsRequest::decode(&mut frame, 3).unwrap();
        assert_eq!(body.client_software_name.as_str(), "testkit");
    }

    #[test]
    fn a_raw_frame_carries_what_it_was_given() {
        let frame = Frame::raw(999, 7, 1)
            .correlation_id(42)
            .client_id(None)
            .with_body_bytes(b"xyz");
        let expected: &[u8] = &[
            0, 0, 0, 13, // length
            0x03, 0xe7, 0, 7, 0, 0, 0, 42, // key 999, version 7, correlation 42
            0xff, 0xff, // null client id
            b'x', b'y', b'z',
        ];
        assert_eq!(&frame[..], expected);
    }
}
