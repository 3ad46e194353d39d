//! Admission: how calls of one provider wait for a key when none is free.
//!
//! Callers queue in arrival order. Only the caller at the head of the queue looks for a key: it
//! takes one as soon as the pool gives one (a key back from its cool-down, a pacing token, a
//! call finishing under a concurrency limit), then hands the head to the next caller. So a key
//! that comes back is handed to **one** waiter at a time, at the rate its pace allows, never
//! broadcast to all (no thundering herd of requests, hence no 429 storm).
//!
//! A caller is **shed** (refused at once, without joining) when the queue is full
//! (`retry.max_queue`) or when its expected wait exceeds what it may wait: the smaller of its
//! remaining `max_wait` and its deadline. The expected wait is the time until the pool can give
//! a key, plus the callers ahead of it divided by the pool's paced rate. A waiting caller whose
//! budget runs out leaves the queue the same way. Either way the call fails fast with
//! [`Refusal::Shed`], which the client reports as `Error::RateLimited`; it never reached the
//! provider.
//!
//! A call retrying after a 429 rejoins at the **front**: it has waited its turn already.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::keys::{KeyLease, KeyPool, Unavailable};

/// Where a call joins the admission queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueuePlace {
    /// In arrival order: the call's first key.
    Arrival,
    /// At the front: the call was served once already (a rate limit, a rejected key, a
    /// backoff) and has waited its turn.
    Front,
}

/// Why [`Admission::acquire`] gave no key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// The pool has no key, or every key is quarantined: waiting cannot help.
    Unavailable(Unavailable),
    /// Refused without waiting (or after waiting all it could): the queue was full or the
    /// expected wait was longer than the call may wait.
    Shed {
        /// The expected wait when refused (zero when the queue was full).
        expected: Duration,
        /// Why.
        reason: ShedReason,
    },
}

/// Why a call was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShedReason {
    /// `retry.max_queue` callers were already waiting.
    QueueFull,
    /// The expected wait exceeds the call's remaining `max_wait` or its deadline.
    WaitTooLong,
    /// The call waited all it could.
    BudgetSpent,
}

/// The waiting queue of one provider.
#[derive(Debug)]
pub(crate) struct Admission {
    queue: Mutex<Queue>,
    max_queue: usize,
}

#[derive(Debug, Default)]
struct Queue {
    waiters: VecDeque<(u64, Arc<Notify>)>,
    next_id: u64,
}

impl Queue {
    fn head(&self) -> Option<u64> {
        self.waiters.front().map(|(id, _)| *id)
    }

    /// Removes `id`; if that changed the head, wakes the new head.
    fn remove(&mut self, id: u64) {
        let was_head = self.head() == Some(id);
        self.waiters.retain(|(w, _)| *w != id);
        if was_head && let Some((_, notify)) = self.waiters.front() {
            notify.notify_one();
        }
    }
}

impl Admission {
    /// A queue holding at most `max_queue` waiting callers.
    pub(crate) fn new(max_queue: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            max_queue: max_queue.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Callers waiting now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// A key from `pool` at once, when nobody waits and one is free: the first thing
    /// [`acquire`](Self::acquire) does, without a future. `None` sends the caller to `acquire`,
    /// which decides again under the lock.
    pub(crate) fn try_acquire(&self, pool: &KeyPool) -> Option<KeyLease> {
        let queue = self.lock();
        if queue.waiters.is_empty() {
            pool.select().ok()
        } else {
            None
        }
    }

    /// A key from `pool` for one call that may wait until `until` (the smaller of its remaining
    /// `max_wait` and its deadline), joining the queue at `place`.
    pub(crate) async fn acquire(
        &self,
        pool: &KeyPool,
        until: Instant,
        place: QueuePlace,
    ) -> Result<KeyLease, Refusal> {
        let (id, notify) = {
            let mut queue = self.lock();
            let blocked = if queue.waiters.is_empty() {
                match pool.select() {
                    Ok(lease) => return Ok(lease),
                    Err(blocked) => blocked,
                }
            } else {
                match pool.select_peek() {
                    Err(blocked) => blocked,
                    // Keys are free but others wait: they go first.
                    Ok(()) => Unavailable::Paced { until: None },
                }
            };
            let now = Instant::now();
            let ahead = match place {
                QueuePlace::Front => 0,
                QueuePlace::Arrival => queue.waiters.len(),
            };
            let expected = match blocked {
                Unavailable::NoKeys
                | Unavailable::Quarantined { .. }
                | Unavailable::OverBudget { .. } => {
                    return Err(Refusal::Unavailable(blocked));
                }
                Unavailable::CoolingDown { until } => expected_wait(pool, until, ahead, now),
                Unavailable::Paced { until } => {
                    expected_wait(pool, until.unwrap_or(now), ahead, now)
                }
            };
            if queue.waiters.len() >= self.max_queue {
                return Err(Refusal::Shed {
                    expected: Duration::ZERO,
                    reason: ShedReason::QueueFull,
                });
            }
            if now + expected > until {
                return Err(Refusal::Shed {
                    expected,
                    reason: ShedReason::WaitTooLong,
                });
            }
            let id = queue.next_id;
            queue.next_id += 1;
            let notify = Arc::new(Notify::new());
            match place {
                QueuePlace::Front => queue.waiters.push_front((id, notify.clone())),
                QueuePlace::Arrival => queue.waiters.push_back((id, notify.clone())),
            }
            (id, notify)
        };
        let mut place = Place {
            admission: self,
            id,
            done: false,
        };
        loop {
            let released = pool.released();
            tokio::pin!(released);
            released.as_mut().enable();
            let wait_until = {
                let mut queue = self.lock();
                if queue.head() != Some(id) {
                    None
                } else {
                    match pool.select() {
                        Ok(lease) => {
                            queue.remove(id);
                            place.done = true;
                            return Ok(lease);
                        }
                        Err(
                            blocked @ (Unavailable::NoKeys
                            | Unavailable::Quarantined { .. }
                            | Unavailable::OverBudget { .. }),
                        ) => {
                            queue.remove(id);
                            place.done = true;
                            return Err(Refusal::Unavailable(blocked));
                        }
                        Err(Unavailable::CoolingDown { until: at }) => Some(at),
                        Err(Unavailable::Paced { until: at }) => Some(at.unwrap_or(until)),
                    }
                }
            };
            match wait_until {
                // The head: wait for the pool (a token, a cool-down ending, a release).
                Some(at) => {
                    if at > until {
                        return Err(place.shed(ShedReason::BudgetSpent, at));
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = &mut released => {}
                        () = notify.notified() => {}
                    }
                }
                // Not the head: wait to become it.
                None => {
                    tokio::select! {
                        () = notify.notified() => {}
                        () = tokio::time::sleep_until(until) => {
                            return Err(place.shed(ShedReason::BudgetSpent, until));
                        }
                    }
                }
            }
        }
    }
}

/// A caller's place in the queue; leaving it (returning, erroring, or the call being dropped)
/// hands the head on.
struct Place<'a> {
    admission: &'a Admission,
    id: u64,
    done: bool,
}

impl Place<'_> {
    fn shed(&mut self, reason: ShedReason, at: Instant) -> Refusal {
        self.admission.lock().remove(self.id);
        self.done = true;
        Refusal::Shed {
            expected: at.saturating_duration_since(Instant::now()),
            reason,
        }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.admission.lock().remove(self.id);
        }
    }
}

/// How long a caller with `ahead` callers before it expects to wait: until the pool can give a
/// key (`first`), plus `ahead` keys at the pool's paced rate (when it has one).
fn expected_wait(pool: &KeyPool, first: Instant, ahead: usize, now: Instant) -> Duration {
    let first = first.saturating_duration_since(now);
    if ahead == 0 {
        return first;
    }
    match pool.paced_rate() {
        rate if rate > 0.0 => first + Duration::from_secs_f64(ahead as f64 / rate),
        _ => first,
    }
}

/// Admission as a component on tokio's paused clock, against a token-bucket provider.
#[cfg(test)]
mod queue_cases;
