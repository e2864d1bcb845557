//! Recording what clients use and answering how long to throttle them.

use std::net::IpAddr;
use std::time::Duration;

use super::rate::TokenBucket;
use super::resolve::{self, Sharers};
use super::{entity, ClientQuotas, Measure, MAX_TRACKED};
use crate::error::{ApiError, ApiResult};
use crate::request_context::RequestContext;
use kafka_protocol::error::ResponseError;

impl ClientQuotas {
    /// Records a Produce request's bytes; the throttle in ms (0: none).
    pub fn record_produce(&self, ctx: &RequestContext, bytes: usize) -> u64 {
        self.record(Measure::Produce, ctx, bytes as f64)
    }

    /// Records a Fetch response's bytes; the throttle in ms. A throttled
    /// fetch answers no data, so its bytes are taken back, as Kafka's are.
    pub fn record_fetch(&self, ctx: &RequestContext, bytes: usize) -> u64 {
        let throttle = self.record(Measure::Fetch, ctx, bytes as f64);
        if throttle > 0 {
            self.record(Measure::Fetch, ctx, -(bytes as f64));
        }
        throttle
    }

    /// The most a Fetch may return under the sender's consumer quota: what
    /// the quota allows over the whole window (Kafka's
    /// `getMaxValueInQuotaWindow`), so that one fetch cannot overshoot it
    /// by more.
    pub fn fetch_window_bytes(&self, ctx: &RequestContext) -> Option<i32> {
        let (bound, _) = self.quota_for(Measure::Fetch, ctx)?;
        let window = self.settings.client;
        let seconds = window.samples.saturating_sub(1) as f64 * window.sample_ms as f64 / 1000.0;
        let bytes = (bound * seconds).clamp(0.0, i32::MAX as f64);
        Some(bytes as i32)
    }

    /// Records the time a request's handler took, as a percentage of one
    /// thread's second (Kafka's request-time measure); the throttle in ms,
    /// at most one sample window, as Kafka caps it.
    pub fn record_request_time(&self, ctx: &RequestContext, took: Duration) -> u64 {
        let percent_seconds = took.as_secs_f64() * 100.0;
        self.record(Measure::RequestTime, ctx, percent_seconds)
            .min(self.settings.client.sample_ms)
    }

    fn record(&self, measure: Measure, ctx: &RequestContext, value: f64) -> u64 {
        let Some((bound, sharers)) = self.quota_for(measure, ctx) else {
            return 0;
        };
        let window = self.settings.client;
        let now = self.now_ms();
        let mut rates = self.rates.lock();
        forget_idle(&mut rates, now, window.max_throttle_ms(), |r| {
            r.last_recorded_ms()
        });
        rates
            .entry((measure, sharers))
            .or_default()
            .record_and_throttle(window, bound, value, now)
    }

    /// The controller-mutation quota of the sender of `ctx`, strict for the
    /// versions that can answer THROTTLING_QUOTA_EXCEEDED (KIP-599).
    pub fn mutation_quota(&self, ctx: &RequestContext, strict: bool) -> MutationQuota<'_> {
        MutationQuota {
            quotas: self,
            quota: self.quota_for(Measure::Mutations, ctx),
            strict,
            throttle_ms: 0,
        }
    }

    /// Records a new connection from `ip`: `Some(throttle)` when it is over
    /// the address's `connection_creation_rate` and is to be closed (after
    /// that delay, as Kafka's acceptor closes it); it does not count then.
    pub fn admit_connection(&self, ip: IpAddr) -> Option<Duration> {
        let quotas = self.quotas();
        let hosts = self.hosts.read().clone();
        let bound = resolve::ip_quota(&quotas, entity::CONNECTION_CREATION_RATE, ip, &hosts)?;
        let window = self.settings.client;
        let now = self.now_ms();
        let mut connections = self.connections.lock();
        forget_idle(&mut connections, now, window.max_throttle_ms(), |r| {
            r.last_recorded_ms()
        });
        let rate = connections.entry(ip).or_default();
        let throttle = rate.record_and_throttle(window, bound, 1.0, now);
        if throttle == 0 {
            return None;
        }
        rate.record(window, -1.0, now);
        Some(Duration::from_millis(throttle))
    }
}

/// Past [`MAX_TRACKED`] measures, drops those not recorded on for a whole
/// window (they read zero anyway).
fn forget_idle<K, V>(
    map: &mut std::collections::HashMap<K, V>,
    now: u64,
    window_ms: u64,
    last: impl Fn(&V) -> Option<u64>,
) {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, v| last(v).is_some_and(|t| now.saturating_sub(t) < window_ms));
    }
}

/// One request's partition mutations (CreateTopics, CreatePartitions,
/// DeleteTopics) against the sender's `controller_mutation_rate`.
pub struct MutationQuota<'a> {
    quotas: &'a ClientQuotas,
    quota: Option<(f64, Sharers)>,
    strict: bool,
    throttle_ms: u64,
}

impl MutationQuota<'_> {
    /// Counts `partitions` mutations. Strict: refused (with the throttle in
    /// ms) when the quota is already exceeded, and then not counted; a
    /// mutation that takes the bucket below zero is still allowed, as
    /// Kafka's `StrictControllerMutationQuota` allows it. Permissive: always
    /// counted, and the request is throttled afterwards.
    pub fn record(&mut self, partitions: u32) -> Result<(), u64> {
        let Some((rate, sharers)) = &self.quota else {
            return Ok(());
        };
        let window = self.quotas.settings.controller;
        let now = self.quotas.now_ms();
        let mut buckets = self.quotas.buckets.lock();
        let bucket: &mut TokenBucket = buckets.entry(sharers.clone()).or_default();
        if self.strict {
            let throttle = bucket.throttle(window, *rate, now);
            if throttle > 0 {
                self.throttle_ms = self.throttle_ms.max(throttle);
                return Err(throttle);
            }
        }
        bucket.record(window, *rate, f64::from(partitions), now);
        if !self.strict {
            self.throttle_ms = self.throttle_ms.max(bucket.throttle(window, *rate, now));
        }
        Ok(())
    }

    /// [`record`](Self::record) as a topic's error: THROTTLING_QUOTA_EXCEEDED.
    pub fn admit(&mut self, partitions: i64) -> ApiResult<()> {
        let partitions = u32::try_from(partitions.max(0)).unwrap_or(u32::MAX);
        self.record(partitions).map_err(|_| {
            ApiError::new(
                ResponseError::ThrottlingQuotaExceeded,
                "The throttling quota has been exceeded.",
            )
        })
    }

    /// How long the request is to be throttled for its mutations, in ms as
    /// responses carry it.
    pub fn throttle_time_ms(&self) -> i32 {
        super::throttle_ms_i32(self.throttle_ms)
    }
}
