//! Request bodies of every API and version the broker serves: the first
//! two bytes pick the API (an index into `api::APIS`, so every served API
//! is reachable) and the version within the range it accepts; the rest is
//! the body, decoded by the entry's own decoder as the connection does
//! after the header.
#![no_main]

use bytes::Bytes;
use fjord_broker::api::APIS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, version, body @ ..] = data else {
        return;
    };
    let entry = &APIS[usize::from(*which) % APIS.len()];
    let versions = (entry.max - entry.min_supported + 1) as u8;
    let version = entry.min_supported + i16::from(version % versions);
    let mut body = Bytes::copy_from_slice(body);
    let _ = (entry.decode)(&mut body, version);
});
