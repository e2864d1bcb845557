//! Bytes as a client sends them on a connection: length-prefixed frames,
//! each split off and decoded (request header, then the body for its API
//! and version) exactly as the connection does before dispatch.
#![no_main]

use bytes::BytesMut;
use fjord_broker::connection::{decode_frame, next_frame, DecodedFrame};
use libfuzzer_sys::fuzz_target;

/// socket.request.max.bytes' default; inputs are far smaller anyway.
const MAX_FRAME: usize = 104_857_600;

fuzz_target!(|data: &[u8]| {
    let mut input = BytesMut::from(data);
    loop {
        let before = input.len();
        match next_frame(&mut input, MAX_FRAME) {
            Ok(Some(frame)) => {
                assert!(
                    input.len() < before,
                    "a frame was split off without consuming input"
                );
                match decode_frame(frame) {
                    Ok(DecodedFrame::Request {
                        key,
                        version,
                        header,
                        ..
                    }) => {
                        assert_eq!(header.request_api_key, key as i16);
                        assert_eq!(header.request_api_version, version);
                    }
                    Ok(DecodedFrame::ApiVersionsTooNew { .. }) => {}
                    // The connection closes on these; the rest of the input
                    // would never be read.
                    Err(_) => break,
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
});
