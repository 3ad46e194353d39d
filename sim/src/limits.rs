//! Time and per-key rate limiting: the [`Clock`] the simulator reads, and a token bucket per key.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock, read by the simulator's token buckets.
///
/// The default is [`MonotonicClock`] (real time). Tests that need exact control over refills
/// pass a [`ManualClock`] to [`SimBuilder::clock`](super::SimBuilder::clock) and advance it by hand.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Time elapsed since an arbitrary, fixed origin. Must never go backwards.
    fn now(&self) -> Duration;
}

/// Real monotonic time, measured from the clock's creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use media_sdk_sim::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now(), Duration::from_millis(1500));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A per-key request budget: a token bucket holding at most `capacity` requests, refilled
/// continuously at `refill_per_sec` tokens per second. Every accepted request takes one token;
/// a request finding the bucket empty is answered with the provider's HTTP 429.
///
/// Deterministic tests pick `refill_per_sec: 0.0` (the bucket never refills: exactly `capacity`
/// requests pass) or drive time with a [`ManualClock`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests a full bucket allows back to back.
    pub capacity: u32,
    /// Tokens added per second (0 = never refills).
    pub refill_per_sec: f64,
}

impl RateLimit {
    /// `capacity` requests, refilled at `refill_per_sec` per second.
    pub fn new(capacity: u32, refill_per_sec: f64) -> Self {
        Self {
            capacity,
            refill_per_sec,
        }
    }

    /// Exactly `capacity` requests per key, never refilled.
    pub fn fixed(capacity: u32) -> Self {
        Self::new(capacity, 0.0)
    }
}

/// The reset hint reported when a bucket never refills.
const NO_REFILL_HINT: Duration = Duration::from_secs(60);

/// Rate-limit state reported in headers (OpenAI's `x-ratelimit-*` family).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateHeaders {
    /// Bucket capacity.
    pub limit: u32,
    /// Whole tokens left after this request.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// On a 429: time until one token is available.
    pub retry_after: Option<Duration>,
}

/// One key's bucket, kept exact in integer nanoseconds (the generic cell rate algorithm: the
/// bucket is described by the time at which it would be full again).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    capacity: u128,
    /// Nanoseconds per token; `None` when the bucket never refills.
    interval: Option<u128>,
    /// When the bucket is full again (refilling buckets).
    full_at: u128,
    /// Tokens taken (buckets that never refill).
    taken: u128,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: RateLimit) -> Self {
        let interval = (limit.refill_per_sec.is_finite() && limit.refill_per_sec > 0.0)
            .then(|| ((1e9 / limit.refill_per_sec).round() as u128).max(1));
        Self {
            capacity: u128::from(limit.capacity),
            interval,
            full_at: 0,
            taken: 0,
        }
    }

    /// Takes one token. `Ok` carries the state after taking it, `Err` the state of the empty
    /// bucket with `retry_after` set.
    pub(crate) fn try_take(&mut self, now: Duration) -> Result<RateHeaders, RateHeaders> {
        let now = now.as_nanos();
        match self.interval {
            None => {
                if self.taken < self.capacity {
                    self.taken += 1;
                    Ok(self.headers(now, None))
                } else {
                    Err(self.headers(now, Some(NO_REFILL_HINT)))
                }
            }
            Some(interval) => {
                let burst = self.capacity * interval;
                let full_at = self.full_at.max(now);
                let needed = full_at + interval - now;
                if needed > burst {
                    let wait = nanos(needed - burst);
                    Err(self.headers(now, Some(wait)))
                } else {
                    self.full_at = full_at + interval;
                    Ok(self.headers(now, None))
                }
            }
        }
    }

    /// The current state, without taking a token.
    #[cfg(test)]
    pub(crate) fn peek(&self, now: Duration) -> RateHeaders {
        self.headers(now.as_nanos(), None)
    }

    fn headers(&self, now: u128, retry_after: Option<Duration>) -> RateHeaders {
        let (remaining, reset) = match self.interval {
            None => {
                let remaining = self.capacity - self.taken;
                let reset = if self.taken == 0 {
                    Duration::ZERO
                } else {
                    NO_REFILL_HINT
                };
                (remaining, reset)
            }
            Some(interval) => {
                let debt = self.full_at.saturating_sub(now);
                let burst = self.capacity * interval;
                (burst.saturating_sub(debt) / interval, nanos(debt))
            }
        };
        RateHeaders {
            limit: u32::try_from(self.capacity).unwrap_or(u32::MAX),
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset,
            retry_after,
        }
    }
}

fn nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Formats a duration the way Go's `time.Duration.String` does, at millisecond precision
/// (`20ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`): OpenAI's `x-ratelimit-reset-*` format.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let secs = ms / 1000 % 60;
    let frac = ms % 1000;
    let seconds = if frac == 0 {
        format!("{secs}s")
    } else {
        let frac = format!("{frac:03}");
        format!("{secs}.{}s", frac.trim_end_matches('0'))
    };
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}")
    } else {
        seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_matches_go_formatting() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(10), "1ms"),
            (Duration::from_millis(20), "20ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(1250), "1.25s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(360), "6m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ];
        for (input, expected) in cases {
            assert_eq!(go_duration(input), expected, "{input:?}");
        }
    }

    #[test]
    fn bucket_allows_capacity_then_refills_with_the_clock() {
        let clock = ManualClock::new();
        let mut bucket = TokenBucket::new(RateLimit::new(2, 10.0));
        assert_eq!(bucket.try_take(clock.now()).unwrap().remaining, 1);
        assert_eq!(bucket.try_take(clock.now()).unwrap().remaining, 0);
        let empty = bucket.try_take(clock.now()).unwrap_err();
        assert_eq!(empty.retry_after, Some(Duration::from_millis(100)));
        assert_eq!(empty.reset, Duration::from_millis(200));
        clock.advance(Duration::from_millis(99));
        assert!(bucket.try_take(clock.now()).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(bucket.try_take(clock.now()).is_ok());
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            bucket.peek(clock.now()).remaining,
            2,
            "refills up to capacity only"
        );
    }

    #[test]
    fn bucket_without_refill_stays_empty() {
        let clock = ManualClock::new();
        let mut bucket = TokenBucket::new(RateLimit::fixed(1));
        assert!(bucket.try_take(clock.now()).is_ok());
        clock.advance(Duration::from_secs(3600));
        let empty = bucket.try_take(clock.now()).unwrap_err();
        assert_eq!(empty.retry_after, Some(NO_REFILL_HINT));
    }
}
