//! The shape of an API declaration, and the `apis!` macro that turns the
//! declarations in `api.rs` into the table, the request enum and dispatch.

use bytes::Bytes;
use fjord_storage::FileRange;
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseKind};

use super::Request;
use crate::acl::{AclOperation, ResourceType};

/// One permission: `operation` on a resource of type `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclCheck {
    pub resource: ResourceType,
    pub operation: AclOperation,
}

/// What a principal must be allowed for its request to be served, as
/// Kafka's `KafkaApis` checks it. `request` is enforced by `dispatch`
/// (see `crate::authorization`); `each` by the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization {
    /// Checked once, before the handler runs, on the one resource the
    /// request addresses (the cluster, or the request's group); a denial
    /// answers the whole request with the API's authorization error.
    pub request: Option<AclCheck>,
    /// Checked inside the handler on each resource the request names, by
    /// that resource's type: a denied resource gets its own error code and
    /// the others are served (listings leave it out instead).
    pub each: &'static [AclCheck],
}

impl Authorization {
    /// Served to anyone who may connect.
    pub const NONE: Authorization = Authorization {
        request: None,
        each: &[],
    };
}

/// One API as declared in `api.rs`.
#[derive(Debug, Clone, Copy)]
pub struct ApiEntry {
    pub key: ApiKey,
    /// Versions listed in ApiVersions. May start below `min_supported`
    /// (Produce: see its declaration).
    pub advertised_min: i16,
    pub min_supported: i16,
    pub max: i16,
    pub authorization: Authorization,
    /// Decodes a request body of this API at a version it accepts.
    pub decode: fn(&mut Bytes, i16) -> anyhow::Result<Request>,
}

/// What becomes of a request once handled. Moved once per request, so its
/// size costs nothing worth a heap allocation per response.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Outcome {
    Respond(ResponseKind),
    /// A Fetch response whose records are partly left in segment files:
    /// each partition's `records` that is a placeholder
    /// ([`records_placeholder`](crate::connection::records_placeholder))
    /// stands for the next entry of the list, in encoding order.
    RespondWithFiles(FetchResponse, Vec<Vec<FileRange>>),
    /// Produce with acks=0 that succeeded: nothing is sent, though the
    /// connection is muted for `throttle_ms` when over its quota.
    Silent {
        throttle_ms: i32,
    },
    /// Produce with acks=0 that failed: Kafka closes the connection, the
    /// only way to tell such a producer.
    Close(&'static str),
    /// The SASL exchange completed: answer, and serve the connection as
    /// this principal from now on.
    Authenticated(ResponseKind, crate::request_context::Principal),
    /// The SASL exchange failed: answer after
    /// `connection.failed.authentication.delay.ms`, then close.
    FailAuthentication(ResponseKind),
}

/// What a handler returns: a response, or (Produce) an [`Outcome`].
pub trait IntoOutcome {
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl<T: Into<ResponseKind>> IntoOutcome for T {
    fn into_outcome(self) -> Outcome {
        Outcome::Respond(self.into())
    }
}

/// Each declaration is
/// `Variant(RequestType) => handler, [advertised N,] versions A..=B, authorize EXPR;`
/// where `Variant` is the API's `ApiKey` and `handler` an
/// `async fn(&Broker, &RequestContext, RequestType) -> impl IntoOutcome`.
macro_rules! apis {
    ($(
        $(#[$doc:meta])*
        $variant:ident($request:ty) => $handler:path,
            $(advertised $advertised:literal,)?
            versions $min:literal..=$max:literal,
            authorize $authorization:expr;
    )+) => {
        /// A request of a declared API, decoded. Moved once per request,
        /// so the large variants cost nothing worth a box.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug)]
        pub enum Request {
            $($variant($request),)+
        }

        /// Every API Fjord serves, in declaration order.
        pub const APIS: &[ApiEntry] = &[$(
            ApiEntry {
                key: ApiKey::$variant,
                advertised_min: apis!(@advertised $min $(, $advertised)?),
                min_supported: $min,
                max: $max,
                authorization: $authorization,
                decode: |body: &mut Bytes, version: i16| {
                    Ok(Request::$variant(<$request as Decodable>::decode(body, version)?))
                },
            },
        )+];

        /// Runs the handler of a decoded request, once its declaration's
        /// whole-request check passes. Every request type must implement
        /// [`WholeRequest`](crate::authorization::WholeRequest).
        pub async fn dispatch(broker: &Broker, ctx: &RequestContext, request: Request) -> Outcome {
            match request {
                $(Request::$variant(request) => {
                    const AUTHORIZATION: Authorization = $authorization;
                    if let Some(denied) = crate::authorization::check_request(
                        broker, ctx, &AUTHORIZATION, &request,
                    ) {
                        return denied;
                    }
                    $handler(broker, ctx, request).await.into_outcome()
                })+
            }
        }

        /// A default request of a declared API, encoded at `version`: the
        /// registry's own tests walk every entry with it.
        #[cfg(test)]
        pub(crate) fn encode_default(
            key: ApiKey,
            version: i16,
            buf: &mut bytes::BytesMut,
        ) -> anyhow::Result<()> {
            use kafka_protocol::protocol::Encodable;
            $(if key == ApiKey::$variant {
                return <$request>::default().encode(buf, version);
            })+
            anyhow::bail!("{key:?} is not declared")
        }
    };
    (@advertised $min:literal) => { $min };
    (@advertised $min:literal, $advertised:literal) => { $advertised };
}
