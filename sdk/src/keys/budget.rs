//! Per-key daily budgets: what one key spent today (UTC), and whether it is set aside until
//! the next UTC day.
//!
//! The decision is pure ([`Usage::charge`] returns what happened); the pool logs and raises the
//! alert. Counters are atomics: charging a call takes no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::spec::DailyBudget;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The UTC day number (days since the Unix epoch) of `at`.
pub(crate) fn utc_day(at: SystemTime) -> u64 {
    epoch_ms(at) / DAY_MS
}

/// Midnight UTC starting the day after `at`.
pub(crate) fn next_utc_midnight(at: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis((utc_day(at) + 1) * DAY_MS)
}

/// Midnight UTC starting the day of `at`.
pub(crate) fn utc_midnight(at: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(utc_day(at) * DAY_MS)
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a key spent on one UTC day: successful calls and their credits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// Successful calls.
    pub calls: u64,
    /// Credits of those calls.
    pub credits: u64,
}

impl Spent {
    /// What `budget` counts of this spending.
    pub(crate) fn measure(self, budget: DailyBudget) -> (u64, u64) {
        match budget {
            DailyBudget::Credits(limit) => (self.credits, limit),
            DailyBudget::Calls(limit) => (self.calls, limit),
        }
    }

    fn exhausts(self, budget: DailyBudget) -> bool {
        let (spent, limit) = self.measure(budget);
        spent >= limit
    }
}

/// The outcome of charging a key: whether this charge exhausted its budget (reported once per
/// key and day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Still within budget (or no budget).
    Within,
    /// This charge (or a fleet count) used the budget up: the key is set aside until `until`.
    Exhausted {
        /// What the key spent today.
        spent: Spent,
        /// The next UTC midnight.
        until: SystemTime,
    },
    /// Already set aside today.
    AlreadyExhausted,
}

/// One key's spending today, shared by the pool and its leases.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    /// The UTC day the counters are for.
    day: AtomicU64,
    calls: AtomicU64,
    credits: AtomicU64,
    /// The UTC day the key was set aside on (0: never); the key is back the next day.
    set_aside_day: AtomicU64,
}

impl Usage {
    /// Resets the counters when `day` is a later day than theirs.
    fn roll(&self, day: u64) {
        let current = self.day.load(Ordering::Acquire);
        if current < day
            && self
                .day
                .compare_exchange(current, day, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.calls.store(0, Ordering::Release);
            self.credits.store(0, Ordering::Release);
        }
    }

    /// Counts one successful call costing `credits` at `now` and checks `budget`.
    pub(crate) fn charge(
        &self,
        budget: Option<DailyBudget>,
        credits: u64,
        now: SystemTime,
    ) -> Charge {
        let day = utc_day(now);
        self.roll(day);
        self.calls.fetch_add(1, Ordering::AcqRel);
        self.credits.fetch_add(credits, Ordering::AcqRel);
        self.check(budget, now)
    }

    /// Raises today's counters to what the fleet spent (read from the health store; this
    /// process's calls are among them, so the larger of the two counts is kept, never the sum).
    pub(crate) fn observe_fleet(
        &self,
        budget: Option<DailyBudget>,
        fleet: Spent,
        now: SystemTime,
    ) -> Charge {
        self.roll(utc_day(now));
        self.calls.fetch_max(fleet.calls, Ordering::AcqRel);
        self.credits.fetch_max(fleet.credits, Ordering::AcqRel);
        self.check(budget, now)
    }

    fn check(&self, budget: Option<DailyBudget>, now: SystemTime) -> Charge {
        let Some(budget) = budget else {
            return Charge::Within;
        };
        let spent = self.spent(now);
        if !spent.exhausts(budget) {
            return Charge::Within;
        }
        let day = utc_day(now);
        // Day numbers start at 1 here so that 0 means "never set aside".
        let previous = self.set_aside_day.swap(day + 1, Ordering::AcqRel);
        if previous == day + 1 {
            Charge::AlreadyExhausted
        } else {
            Charge::Exhausted {
                spent,
                until: next_utc_midnight(now),
            }
        }
    }

    /// What the key spent on the day of `now` (zero when the counters are from an earlier day).
    pub(crate) fn spent(&self, now: SystemTime) -> Spent {
        if self.day.load(Ordering::Acquire) != utc_day(now) {
            return Spent::default();
        }
        Spent {
            calls: self.calls.load(Ordering::Acquire),
            credits: self.credits.load(Ordering::Acquire),
        }
    }

    /// Whether the key was set aside at all (cheap check before reading the clock).
    pub(crate) fn ever_set_aside(&self) -> bool {
        self.set_aside_day.load(Ordering::Acquire) != 0
    }

    /// Whether the key is set aside on the day of `now`.
    pub(crate) fn is_set_aside(&self, now: SystemTime) -> bool {
        self.set_aside_day.load(Ordering::Acquire) == utc_day(now) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn a_call_budget_sets_the_key_aside_once_until_the_next_utc_day() {
        let usage = Usage::default();
        let budget = Some(DailyBudget::Calls(2));
        let noon = at(20_000 * DAY_MS + DAY_MS / 2);
        assert_eq!(usage.charge(budget, 0, noon), Charge::Within);
        assert!(!usage.is_set_aside(noon));
        assert_eq!(
            usage.charge(budget, 0, noon),
            Charge::Exhausted {
                spent: Spent {
                    calls: 2,
                    credits: 0
                },
                until: at(20_001 * DAY_MS),
            }
        );
        assert!(usage.is_set_aside(noon));
        assert_eq!(usage.charge(budget, 0, noon), Charge::AlreadyExhausted);
        let tomorrow = at(20_001 * DAY_MS);
        assert!(!usage.is_set_aside(tomorrow), "back at midnight UTC");
        assert_eq!(usage.spent(tomorrow), Spent::default());
        assert_eq!(usage.charge(budget, 0, tomorrow), Charge::Within);
    }

    #[test]
    fn fleet_counts_raise_the_local_ones_without_adding_them() {
        let usage = Usage::default();
        let budget = Some(DailyBudget::Credits(100));
        let now = at(5 * DAY_MS + 1);
        usage.charge(budget, 30, now);
        let fleet = Spent {
            calls: 3,
            credits: 60,
        };
        assert_eq!(usage.observe_fleet(budget, fleet, now), Charge::Within);
        assert_eq!(usage.spent(now), fleet);
        assert!(matches!(
            usage.charge(budget, 40, now),
            Charge::Exhausted { .. }
        ));
    }

    #[test]
    fn without_a_budget_nothing_is_set_aside() {
        let usage = Usage::default();
        for _ in 0..10 {
            assert_eq!(usage.charge(None, 1_000, at(1)), Charge::Within);
        }
        assert!(!usage.ever_set_aside());
    }
}
