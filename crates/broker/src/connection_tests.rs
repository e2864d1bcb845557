//! The encode path: no response frame exceeds the limit.

use super::*;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

const FETCH_VERSION: i16 = 12;

fn fetch_response(records: &[Bytes]) -> ResponseKind {
    let mut topic = FetchableTopicResponse::default();
    topic.partitions = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut p = PartitionData::default();
            p.partition_index = i as i32;
            p.records = Some(r.clone());
            p
        })
        .collect();
    let mut response = FetchResponse::default();
    response.responses = vec![topic];
    ResponseKind::Fetch(response)
}

fn write(
    output: &mut BytesMut,
    max_frame: usize,
    response: &ResponseKind,
    key: ApiKey,
) -> Result<(), ConnectionError> {
    let header = ResponseHeader::default();
    let version = if key == ApiKey::Fetch {
        FETCH_VERSION
    } else {
        9
    };
    write_response(
        output,
        max_frame,
        &header,
        key.response_header_version(version),
        response,
        key,
        version,
    )
}

#[test]
fn a_fetch_response_over_2_gib_is_refused_before_it_is_encoded() {
    // Three partitions sharing one zeroed GiB: 3 GiB of records whose
    // pages are never touched, because the size is checked first.
    let gib = Bytes::from(vec![0u8; 1 << 30]);
    let huge = fetch_response(&[gib.clone(), gib.clone(), gib]);
    let mut output = BytesMut::new();
    write(
        &mut output,
        MAX_RESPONSE_FRAME,
        &fetch_response(&[Bytes::from_static(b"x")]),
        ApiKey::Fetch,
    )
    .expect("small answer");
    let before = output.clone();
    let refused = write(&mut output, MAX_RESPONSE_FRAME, &huge, ApiKey::Fetch);
    assert!(
        matches!(refused, Err(ConnectionError::ResponseTooLarge(ApiKey::Fetch, _, size, MAX_RESPONSE_FRAME)) if size > 3 << 30),
        "{refused:?}"
    );
    // The earlier answer is intact and still correctly framed.
    assert_eq!(output, before);
    let length = i32::from_be_bytes([output[0], output[1], output[2], output[3]]);
    assert_eq!(length as usize, output.len() - 4);
}

#[test]
fn no_frame_exceeds_the_limit_whatever_the_api() {
    let mut metadata = MetadataResponse::default();
    metadata.cluster_id = Some(StrBytes::from_string("c".repeat(200)));
    let metadata = ResponseKind::Metadata(metadata);
    let mut output = BytesMut::new();
    let refused = write(&mut output, 100, &metadata, ApiKey::Metadata);
    assert!(
        matches!(
            refused,
            Err(ConnectionError::ResponseTooLarge(
                ApiKey::Metadata,
                9,
                _,
                100
            ))
        ),
        "{refused:?}"
    );
    assert!(output.is_empty());
    write(&mut output, 1000, &metadata, ApiKey::Metadata).expect("fits");
    let length = i32::from_be_bytes([output[0], output[1], output[2], output[3]]);
    assert!(length > 0 && length as usize == output.len() - 4);

    let records = fetch_response(&[Bytes::from(vec![1u8; 4096])]);
    let mut output = BytesMut::new();
    assert!(matches!(
        write(&mut output, 4096, &records, ApiKey::Fetch),
        Err(ConnectionError::ResponseTooLarge(ApiKey::Fetch, ..))
    ));
    assert!(output.is_empty());
}
