//! The measures quotas are checked against, with Kafka's arithmetic
//! (`org.apache.kafka.common.metrics.stats.Rate`, `TokenBucket` and
//! `QuotaUtils`), on times in milliseconds handed in so that tests need no
//! clock.

use std::collections::VecDeque;

/// `quota.window.num` samples of `quota.window.size.seconds` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub samples: usize,
    pub sample_ms: u64,
}

impl Window {
    /// Kafka's defaults: 11 samples of 1 s (10 whole windows and the current one).
    pub const DEFAULT: Window = Window {
        samples: 11,
        sample_ms: 1000,
    };

    /// The longest a quota throttles for: the whole window. Kafka caps the
    /// request-time and connection-rate throttles at a window; Fjord caps
    /// every throttle at the whole window, so that no arithmetic on a tiny
    /// quota can mute a connection for long.
    pub fn max_throttle_ms(&self) -> u64 {
        self.sample_ms.saturating_mul(self.samples as u64)
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: u64,
    value: f64,
}

/// Kafka's `Rate` over a `SampledStat`: the total of the live samples
/// divided by the time they cover, which counts as at least `samples - 1`
/// whole windows so that a young sensor does not read a burst as a huge rate.
#[derive(Debug, Clone, Default)]
pub struct SampledRate {
    samples: VecDeque<Sample>,
}

impl SampledRate {
    pub fn record(&mut self, window: Window, value: f64, now_ms: u64) {
        self.purge(window, now_ms);
        match self.samples.back_mut() {
            Some(current) if now_ms.saturating_sub(current.start_ms) < window.sample_ms => {
                current.value += value;
            }
            _ => {
                if self.samples.len() >= window.samples.max(1) {
                    self.samples.pop_front();
                }
                self.samples.push_back(Sample {
                    start_ms: now_ms,
                    value,
                });
            }
        }
    }

    /// Samples older than the whole window no longer count.
    fn purge(&mut self, window: Window, now_ms: u64) {
        let expiry = window.sample_ms.saturating_mul(window.samples as u64);
        self.samples
            .retain(|s| now_ms.saturating_sub(s.start_ms) < expiry);
    }

    /// The time the rate is taken over, in ms (Kafka's `Rate.windowSize`).
    pub fn window_ms(&mut self, window: Window, now_ms: u64) -> u64 {
        self.purge(window, now_ms);
        let oldest = self.samples.front().map_or(now_ms, |s| s.start_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / window.sample_ms.max(1);
        let min_full = window.samples.saturating_sub(1) as u64;
        if full < min_full {
            elapsed += (min_full - full) * window.sample_ms;
        }
        elapsed.max(1)
    }

    /// Units per second.
    pub fn rate(&mut self, window: Window, now_ms: u64) -> f64 {
        let window_ms = self.window_ms(window, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total * 1000.0 / window_ms as f64
    }

    /// When the latest value was recorded (to forget idle sensors).
    pub fn last_recorded_ms(&self) -> Option<u64> {
        self.samples.back().map(|s| s.start_ms)
    }

    /// Records `value`, then answers how long to throttle (0 when within
    /// `bound` per second), as Kafka's `QuotaUtils.throttleTime`: the
    /// excess over the bound, as a share of the bound, of the window the
    /// rate was taken over.
    pub fn record_and_throttle(
        &mut self,
        window: Window,
        bound: f64,
        value: f64,
        now_ms: u64,
    ) -> u64 {
        self.record(window, value, now_ms);
        self.throttle(window, bound, now_ms)
    }

    /// How long to throttle for the rate as it stands.
    pub fn throttle(&mut self, window: Window, bound: f64, now_ms: u64) -> u64 {
        let rate = self.rate(window, now_ms);
        if rate <= bound {
            return 0;
        }
        let window_ms = self.window_ms(window, now_ms) as f64;
        throttle_ms(rate, bound, window_ms, window.max_throttle_ms())
    }
}

/// `(rate - bound) / bound * window`, rounded, capped at `max_ms`.
pub fn throttle_ms(rate: f64, bound: f64, window_ms: f64, max_ms: u64) -> u64 {
    if bound <= 0.0 {
        return max_ms;
    }
    let ms = ((rate - bound) / bound * window_ms).round();
    if ms.is_nan() || ms <= 0.0 {
        0
    } else if ms >= max_ms as f64 {
        max_ms
    } else {
        ms as u64
    }
}

/// Kafka's `TokenBucket` (KIP-599), for controller mutations: full at
/// `rate × samples × window`, refilled at `rate` per second, emptied by
/// each mutation; the quota is exceeded while it is below zero.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    updated_ms: Option<u64>,
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket {
            tokens: f64::INFINITY,
            updated_ms: None,
        }
    }
}

impl TokenBucket {
    fn burst(window: Window, rate: f64) -> f64 {
        rate * window.samples as f64 * window.sample_ms as f64 / 1000.0
    }

    fn refill(&mut self, window: Window, rate: f64, now_ms: u64) {
        let burst = Self::burst(window, rate);
        let elapsed = self
            .updated_ms
            .map_or(f64::INFINITY, |t| now_ms.saturating_sub(t) as f64);
        self.tokens = (self.tokens + rate * elapsed / 1000.0).min(burst);
        self.updated_ms = Some(now_ms);
    }

    /// Tokens left after refilling up to now.
    pub fn tokens(&mut self, window: Window, rate: f64, now_ms: u64) -> f64 {
        self.refill(window, rate, now_ms);
        self.tokens
    }

    pub fn record(&mut self, window: Window, rate: f64, permits: f64, now_ms: u64) {
        self.refill(window, rate, now_ms);
        self.tokens = (self.tokens - permits).min(Self::burst(window, rate));
    }

    /// How long until the bucket is back at zero (0 when it is not below).
    pub fn throttle(&mut self, window: Window, rate: f64, now_ms: u64) -> u64 {
        let tokens = self.tokens(window, rate, now_ms);
        if tokens >= 0.0 {
            return 0;
        }
        throttle_ms(rate - tokens, rate, 1000.0, window.max_throttle_ms())
    }
}
