//! Injected time, so windows, expiry and cache intervals are tested without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now_ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `start` (truncated to milliseconds).
    pub fn new(start: SystemTime) -> Self {
        Self {
            now_ms: Arc::new(AtomicU64::new(epoch_millis(start))),
        }
    }

    /// A clock standing at `ms` milliseconds after the Unix epoch.
    pub fn at_millis(ms: u64) -> Self {
        Self {
            now_ms: Arc::new(AtomicU64::new(ms)),
        }
    }

    /// Moves the clock forward by `by` (whole milliseconds).
    pub fn advance(&self, by: Duration) {
        self.now_ms.fetch_add(duration_millis(by), Ordering::SeqCst);
    }

    /// Sets the clock to `to` (truncated to milliseconds).
    pub fn set(&self, to: SystemTime) {
        self.now_ms.store(epoch_millis(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(duration_millis)
        .unwrap_or(0)
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn from_epoch_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Shared handle to a clock.
pub(crate) type SharedClock = Arc<dyn Clock>;
