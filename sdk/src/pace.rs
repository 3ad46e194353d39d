//! Local pacing of one key: a mirror of the provider's limit, so calls wait here instead of
//! drawing a 429 there.
//!
//! A [`Pace`] is a token bucket kept as a *theoretical arrival time* (the generic cell rate
//! algorithm): `full_at` is when the bucket would be full again; taking a token moves it one
//! `interval` later; a token is available while `full_at + interval - now <= capacity ×
//! interval`. Its `interval` (one over the sustainable rate) and `capacity` (the burst) come
//! from, in order of trust:
//!
//! 1. **Declared limits** in `providers.yaml` (`limits.requests_per_minute`, `limits.burst`):
//!    fixed, never learned over.
//! 2. **The provider's budget headers** on any answer (`x-ratelimit-limit-requests`,
//!    `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`): `limit` is the burst,
//!    and `reset ÷ (limit − remaining)` the interval; the bucket is set to what they say.
//! 3. **429s and successes** otherwise: a 429 with a hint empties the bucket until the hint
//!    has passed and lengthens the interval (multiplicatively, at least to the hint); each
//!    success shortens it a little (additive recovery), so a key's pace converges on what the
//!    provider sustains.
//!
//! A key with nothing declared and nothing learned is not paced at all.

use std::time::Duration;

use tokio::time::Instant;

use crate::spec::KeyLimits;

/// Longest interval learning may reach (one call per minute); a key slower than this is left
/// to cool-downs.
const MAX_LEARNED_INTERVAL: Duration = Duration::from_secs(60);
/// Shortest learned interval (1,000 calls per second).
const MIN_LEARNED_INTERVAL: Duration = Duration::from_millis(1);
/// A 429 lengthens the learned interval by this factor.
const BACKOFF_FACTOR: f64 = 1.25;
/// Each success shortens the learned interval by this fraction.
const RECOVERY: f64 = 0.01;

/// Where a key's pace came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceSource {
    /// Nothing known: the key is not paced.
    Unknown,
    /// `limits` in `providers.yaml`.
    Declared,
    /// The provider's `x-ratelimit-*` headers.
    Headers,
    /// 429 spacing and successes.
    Learned,
}

/// The pacing state of one key (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    /// The key's own interval (the whole key's rate, as declared or learned).
    interval: Option<Duration>,
    /// The key's own burst.
    capacity: u32,
    full_at: Instant,
    source: PaceSource,
    /// This process's share of the key (1 alone; 1/N when N processes share it).
    share: f64,
}

/// A key's pace as seen from outside (for the shared state and for logs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceSnapshot {
    /// Sustainable calls per second (`None`: not paced).
    pub rate_per_sec: Option<f64>,
    /// Burst.
    pub burst: u32,
    /// Where it came from.
    pub source: PaceSource,
}

impl Pace {
    /// The pace of a key under `limits` (unpaced when none is declared).
    pub(crate) fn new(limits: &KeyLimits, now: Instant) -> Self {
        match limits.requests_per_minute {
            Some(rpm) if rpm > 0 => {
                let interval = Duration::from_secs(60) / rpm;
                let capacity = limits.burst.unwrap_or((rpm / 60).max(1)).max(1);
                Self {
                    interval: Some(interval.max(Duration::from_nanos(1))),
                    capacity,
                    full_at: now,
                    source: PaceSource::Declared,
                    share: 1.0,
                }
            }
            _ => Self {
                interval: None,
                capacity: 1,
                full_at: now,
                source: PaceSource::Unknown,
                share: 1.0,
            },
        }
    }

    /// Whether the key is paced at all.
    pub(crate) fn is_paced(&self) -> bool {
        self.interval.is_some()
    }

    /// This process's interval: the key's, stretched by the share.
    fn local_interval(&self) -> Option<Duration> {
        self.interval.map(|i| {
            if self.share < 1.0 {
                i.div_f64(self.share.max(1e-3))
            } else {
                i
            }
        })
    }

    /// This process's burst: the key's, times the share (at least 1).
    fn local_capacity(&self) -> u32 {
        ((f64::from(self.capacity) * self.share.min(1.0)).floor() as u32).max(1)
    }

    /// Sets this process's share of the key: `1 / processes` sharing it (1 when alone).
    pub(crate) fn set_share(&mut self, share: f64) {
        self.share = if share.is_finite() {
            share.clamp(1e-3, 1.0)
        } else {
            1.0
        };
    }

    /// When the next token is available (`now` if one is).
    pub(crate) fn ready_at(&self, now: Instant) -> Instant {
        let Some(interval) = self.local_interval() else {
            return now;
        };
        let burst = interval * self.local_capacity();
        let needed = self.full_at.max(now) + interval;
        if needed.saturating_duration_since(now) <= burst {
            now
        } else {
            needed - burst
        }
    }

    /// Takes a token if one is available at `now`.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        if self.ready_at(now) > now {
            return false;
        }
        if let Some(interval) = self.local_interval() {
            self.full_at = self.full_at.max(now) + interval;
        }
        true
    }

    /// The provider's budget: `limit` requests, `remaining` left, full again in `reset`.
    pub(crate) fn observe_budget(
        &mut self,
        limit: u32,
        remaining: u32,
        reset: Duration,
        now: Instant,
    ) {
        if self.source == PaceSource::Declared || limit == 0 {
            return;
        }
        self.capacity = limit;
        let missing = limit.saturating_sub(remaining);
        if missing > 0 && !reset.is_zero() {
            let interval = (reset / missing).clamp(MIN_LEARNED_INTERVAL, MAX_LEARNED_INTERVAL);
            self.interval = Some(interval);
            self.source = PaceSource::Headers;
        }
        if self.interval.is_some() {
            // The provider's whole budget is shared: this process's view of it is full again
            // when the key's is.
            self.full_at = now + reset;
        }
    }

    /// A 429 whose next token is `hint` away (already capped by the retry policy).
    pub(crate) fn observe_rate_limited(&mut self, hint: Duration, now: Instant) {
        if self.source != PaceSource::Declared && self.source != PaceSource::Headers {
            let learned = match self.interval {
                None => hint,
                Some(i) => i
                    .mul_f64(BACKOFF_FACTOR)
                    .max(hint.min(MAX_LEARNED_INTERVAL)),
            };
            self.interval = Some(learned.clamp(MIN_LEARNED_INTERVAL, MAX_LEARNED_INTERVAL));
            self.capacity = 1;
            self.source = PaceSource::Learned;
        }
        if let Some(interval) = self.local_interval() {
            // Empty until `now + hint`: the next token is ready exactly then.
            let burst = interval * self.local_capacity();
            self.full_at = (now + hint + burst).checked_sub(interval).unwrap_or(now);
        }
    }

    /// A successful answer without budget headers: a learned pace recovers a little.
    pub(crate) fn observe_success(&mut self) {
        if self.source == PaceSource::Learned
            && let Some(interval) = self.interval
        {
            self.interval = Some(interval.mul_f64(1.0 - RECOVERY).max(MIN_LEARNED_INTERVAL));
        }
    }

    /// This process's pace (its share of the key), for display and load estimates.
    pub(crate) fn snapshot(&self) -> PaceSnapshot {
        PaceSnapshot {
            rate_per_sec: self
                .local_interval()
                .map(|i| 1.0 / i.as_secs_f64().max(1e-9)),
            burst: self.local_capacity(),
            source: self.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_declared_rate_allows_its_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let limits = KeyLimits {
            requests_per_minute: Some(600),
            burst: Some(3),
            concurrent: None,
        };
        let mut pace = Pace::new(&limits, t0);
        assert_eq!(pace.snapshot().source, PaceSource::Declared);
        for _ in 0..3 {
            assert!(pace.try_take(t0));
        }
        assert!(!pace.try_take(t0));
        assert_eq!(pace.ready_at(t0), t0 + ms(100));
        assert!(pace.try_take(t0 + ms(100)));
        assert!(!pace.try_take(t0 + ms(150)));
        assert!(pace.try_take(t0 + ms(200)));
        // A 429 empties it until the hint, but the declared rate is kept.
        pace.observe_rate_limited(ms(500), t0 + ms(200));
        assert_eq!(pace.ready_at(t0 + ms(200)), t0 + ms(700));
        assert_eq!(pace.snapshot().rate_per_sec, Some(10.0));
    }

    #[test]
    fn budget_headers_give_the_rate_and_the_burst() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&KeyLimits::default(), t0);
        assert!(!pace.is_paced());
        // 5 tokens, 2 left, full again in 150 ms: one token per 50 ms.
        pace.observe_budget(5, 2, ms(150), t0);
        let snap = pace.snapshot();
        assert_eq!((snap.burst, snap.source), (5, PaceSource::Headers));
        assert!((snap.rate_per_sec.unwrap() - 20.0).abs() < 1e-6);
        assert!(pace.try_take(t0));
        assert!(pace.try_take(t0));
        assert!(!pace.try_take(t0), "the two remaining tokens are gone");
        assert_eq!(pace.ready_at(t0), t0 + ms(50));
    }

    #[test]
    fn learning_from_429s_backs_off_then_recovers() {
        let t0 = Instant::now();
        let mut pace = Pace::new(&KeyLimits::default(), t0);
        pace.observe_rate_limited(ms(40), t0);
        assert_eq!(pace.snapshot().source, PaceSource::Learned);
        assert_eq!(pace.ready_at(t0), t0 + ms(40));
        pace.observe_rate_limited(ms(10), t0 + ms(40));
        let slower = 1.0 / pace.snapshot().rate_per_sec.unwrap();
        assert!(
            (slower - 0.050).abs() < 1e-6,
            "40 ms × 1.25 = 50 ms, got {slower}"
        );
        for _ in 0..10 {
            pace.observe_success();
        }
        let faster = 1.0 / pace.snapshot().rate_per_sec.unwrap();
        assert!(faster < slower);
    }

    #[test]
    fn a_share_slows_the_pace() {
        let t0 = Instant::now();
        let limits = KeyLimits {
            requests_per_minute: Some(1200),
            burst: Some(8),
            concurrent: None,
        };
        let mut pace = Pace::new(&limits, t0);
        pace.set_share(0.25);
        let snap = pace.snapshot();
        assert!((snap.rate_per_sec.unwrap() - 5.0).abs() < 1e-6);
        assert_eq!(snap.burst, 2);
        assert!(pace.try_take(t0) && pace.try_take(t0));
        assert!(!pace.try_take(t0));
        assert_eq!(pace.ready_at(t0), t0 + ms(200));
        pace.set_share(1.0);
        assert!((pace.snapshot().rate_per_sec.unwrap() - 20.0).abs() < 1e-6);
    }
}
