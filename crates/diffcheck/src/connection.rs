//! One plain Kafka connection: a request out, its answer back, in order.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ANSWER_WITHIN: Duration = Duration::from_secs(30);

pub struct Connection {
    address: String,
    stream: Option<TcpStream>,
    correlation_id: i32,
}

/// What a broker did with one request. Moved once per request, so the
/// size of the response variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Answer {
    Response(ResponseKind),
    /// The broker closed the connection instead of answering.
    Closed,
}

impl Connection {
    pub fn new(address: &str) -> Connection {
        Connection {
            address: address.to_string(),
            stream: None,
            correlation_id: 0,
        }
    }

    pub async fn send(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &RequestKind,
    ) -> anyhow::Result<Answer> {
        let mut body = BytesMut::new();
        request.encode(&mut body, version)?;
        self.send_body(key, version, version, &body).await
    }

    /// Sends `body` under a header claiming `claimed_version` and decodes
    /// the answer at `answer_version`: for versions a broker must refuse.
    pub async fn send_body(
        &mut self,
        key: ApiKey,
        claimed_version: i16,
        answer_version: i16,
        body: &[u8],
    ) -> anyhow::Result<Answer> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(claimed_version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-diffcheck")));
        let mut payload = BytesMut::new();
        header.encode(&mut payload, key.request_header_version(claimed_version))?;
        payload.put_slice(body);
        let version = answer_version;
        let mut frame = BytesMut::with_capacity(payload.len() + 4);
        frame.put_i32(i32::try_from(payload.len())?);
        frame.put_slice(&payload);

        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)
                .await
                .with_context(|| format!("connect to {}", self.address))?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            bail!("no connection");
        };
        stream.write_all(&frame).await?;
        let mut length = [0u8; 4];
        let read = tokio::time::timeout(ANSWER_WITHIN, stream.read_exact(&mut length)).await;
        match read {
            Err(_) => bail!(
                "{key:?} v{version}: no answer from {} within {ANSWER_WITHIN:?}",
                self.address
            ),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                self.stream = None;
                return Ok(Answer::Closed);
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(_)) => {}
        }
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(length))?];
        stream.read_exact(&mut body).await?;
        let mut body = Bytes::from(body);
        let response_header =
            ResponseHeader::decode(&mut body, key.response_header_version(version))?;
        if response_header.correlation_id != self.correlation_id {
            bail!(
                "{key:?} v{version}: answer for correlation id {} instead of {}",
                response_header.correlation_id,
                self.correlation_id
            );
        }
        let response = ResponseKind::decode(key, &mut body, version)
            .with_context(|| format!("decode {key:?} v{version} answer from {}", self.address))?;
        Ok(Answer::Response(response))
    }
}
