//! What a call does after each attempt: the retry rules as plain functions of the attempt's
//! outcome, the call's counters and budgets, and the time, with no I/O.
//!
//! The loops in [`super`] send, sleep and record; every choice between them is made here:
//!
//! - [`CallRetry`] for the request itself: rotate on a rate limit or a rejected key (neither
//!   uses up an attempt), back off with full jitter on a transient failure (at most
//!   `max_attempts` of them, within the deadline), stop on anything final;
//! - [`PollRetry`] for one poll of a job, which must keep the key that submitted the job;
//! - [`JobClock`] for the job's own time limit and poll interval.
//!
//! A network failure is read from its [`NetworkErrorKind`]; after a 2xx's headers have arrived
//! nothing is ever retried (the provider has acted).
//!
//! Time is the time elapsed since the call (or the job) started, passed in; the random draw of
//! the full-jitter backoff is passed in as a function of the delay's upper bound.

use std::time::Duration;

use bytes::Bytes;

use super::transport::NetworkErrorKind;
use crate::classify::{Failure, Outcome};
use crate::retry::backoff_cap;
use crate::spec::RetryPolicy;

/// Draws a backoff delay in `0..=cap` (full jitter).
pub(crate) type Jitter<'a> = &'a mut dyn FnMut(Duration) -> Duration;

/// One attempt's result, as the retry rules see it.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The provider answered and the answer was read and classified (an error answer cut short
    /// by the body limit or the network is classified by what arrived of it).
    Answered {
        /// The classification.
        outcome: Outcome,
        /// The answer's content type.
        content_type: Option<String>,
    },
    /// A 2xx's headers arrived and its body is left to the caller, unread (a stream): the
    /// provider has acted.
    Opened {
        /// The answer's content type.
        content_type: Option<String>,
    },
    /// The exchange failed on the network before any answer.
    Unanswered {
        /// How.
        kind: NetworkErrorKind,
        /// What to report (redacted).
        message: String,
    },
    /// A 2xx's headers arrived, then its body failed on the network.
    Interrupted {
        /// What to report (redacted).
        message: String,
    },
    /// A 2xx's body is longer than `limit` (reading stopped there).
    TooLarge {
        /// The body limit.
        limit: u64,
    },
}

/// Why a call (or a poll) stops without a result. Each maps to one [`crate::Error`] variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The provider's final answer (`Error::Api`).
    Refused(Failure),
    /// A network failure not worth retrying, or one after a 2xx's headers (`Error::Transport`).
    Network(String),
    /// A 2xx's body over `limit` (`Error::BodyTooLarge`).
    TooLarge {
        /// The body limit.
        limit: u64,
    },
    /// `max_attempts` transient failures in a row; `last` is the last one
    /// (`Error::RetriesExhausted`).
    AttemptsExhausted {
        /// The last failure.
        last: String,
    },
    /// The call's deadline leaves no room for another attempt; `last` is the last failure
    /// (`Error::RetriesExhausted`, "… (deadline reached)").
    DeadlineReached {
        /// The last failure.
        last: String,
    },
}

/// A job's `timeout_ms` is up, or would be before its next poll (`Error::JobTimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobTimeout;

/// What the call does after an attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CallDecision {
    /// The answer is the call's result.
    Done {
        /// The payload (envelope removed).
        payload: Bytes,
        /// Its content type.
        content_type: Option<String>,
    },
    /// A 2xx's headers are in and its body goes to the caller as a stream; from here on
    /// nothing is replayed.
    Opened {
        /// Its content type.
        content_type: Option<String>,
    },
    /// The key is rate limited: cool it down for `cooldown`, then take the next free key at
    /// the front of the admission queue (another key at once, or this one when it is back).
    /// No attempt is used up.
    Rotate {
        /// The key's cool-down, within the policy's bounds.
        cooldown: Duration,
        /// The provider's answer.
        failure: Failure,
    },
    /// The key is rejected (invalid, out of quota): quarantine it, then take another key. No
    /// attempt is used up.
    Quarantine(Failure),
    /// A transient failure (or a busy provider): blame no key, release it, wait `delay`, then
    /// take a key again.
    Backoff {
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// Stop.
    Stop(Stop),
}

/// What a job poll does after an attempt. The job belongs to the key that submitted it, so
/// polls never change keys.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PollDecision {
    /// The answer is the poll's result.
    Done {
        /// The payload (envelope removed).
        payload: Bytes,
        /// Its content type.
        content_type: Option<String>,
    },
    /// The key is rate limited: cool it down for `cooldown`, then wait for it (`Ok`: that
    /// long, at least the poll interval) or stop (`Err`: the job's time would run out).
    WaitForKey {
        /// The key's cool-down, within the policy's bounds.
        cooldown: Duration,
        /// What follows the cool-down.
        then: Result<Duration, JobTimeout>,
    },
    /// A transient failure: ask again with the same key after this delay (at least the poll
    /// interval).
    RetrySameKeyAfter(Duration),
    /// The key is rejected: quarantine it and stop with the provider's answer (`Error::Api`);
    /// no other key can see the job.
    Reject(Failure),
    /// The job's time would run out before the retry.
    TimedOut,
    /// Stop.
    Stop(Stop),
}

/// An attempt read the same way by calls and polls.
enum Step {
    Success {
        payload: Bytes,
        content_type: Option<String>,
    },
    Opened {
        content_type: Option<String>,
    },
    RateLimited {
        failure: Failure,
        hint: Option<Duration>,
    },
    Rejected(Failure),
    Retry {
        failure: String,
        retry_after: Option<Duration>,
    },
    Stop(Stop),
}

/// Whether a network failure before any answer may be retried: a connection that could not be
/// made never carried the request; a timeout or a connection closed after sending is ambiguous
/// (the provider may have acted) and retried only with `retry_timeouts`.
pub(crate) fn unanswered_is_retryable(kind: NetworkErrorKind, policy: &RetryPolicy) -> bool {
    match kind {
        NetworkErrorKind::Connect | NetworkErrorKind::ConnectTimeout => true,
        NetworkErrorKind::Timeout | NetworkErrorKind::Closed => policy.retry_timeouts,
        NetworkErrorKind::Other => false,
    }
}

impl Step {
    fn of(attempt: Attempt, policy: &RetryPolicy) -> Self {
        match attempt {
            Attempt::Answered {
                outcome,
                content_type,
            } => match outcome {
                Outcome::Success(payload) => Step::Success {
                    payload,
                    content_type,
                },
                Outcome::RateLimited { failure, cooldown } => Step::RateLimited {
                    failure,
                    hint: cooldown,
                },
                Outcome::Quarantine(failure) => Step::Rejected(failure),
                Outcome::Busy {
                    failure,
                    retry_after,
                }
                | Outcome::Transient {
                    failure,
                    retry_after,
                } => Step::Retry {
                    failure: failure.to_string(),
                    retry_after,
                },
                Outcome::Fatal(failure) => Step::Stop(Stop::Refused(failure)),
            },
            Attempt::Opened { content_type } => Step::Opened { content_type },
            Attempt::Unanswered { kind, message } if unanswered_is_retryable(kind, policy) => {
                Step::Retry {
                    failure: message,
                    retry_after: None,
                }
            }
            Attempt::Unanswered { message, .. } => Step::Stop(Stop::Network(message)),
            // Once a 2xx's headers are here the provider has acted: never replayed.
            Attempt::Interrupted { message } => Step::Stop(Stop::Network(message)),
            Attempt::TooLarge { limit } => Step::Stop(Stop::TooLarge { limit }),
        }
    }
}

/// The wait before retry number `failures` (1-based): the provider's hint when it gave one
/// (capped like a cool-down), else full jitter under `min(max_delay, base * 2^(failures-1))`.
fn retry_delay(
    policy: &RetryPolicy,
    failures: u32,
    retry_after: Option<Duration>,
    jitter: Jitter<'_>,
) -> Duration {
    policy
        .retry_delay(retry_after)
        .unwrap_or_else(|| jitter(backoff_cap(policy, failures - 1)))
}

/// The retry state of one call: its budgets and what it has used of them.
#[derive(Debug, Clone)]
pub(crate) struct CallRetry {
    policy: RetryPolicy,
    /// Longest single exchange (`timeouts.request_ms`).
    request_timeout: Duration,
    /// The whole call's budget, from its start.
    deadline: Duration,
    /// Longest total wait for a key.
    max_wait: Duration,
    /// Transient failures allowed (at least 1).
    max_attempts: u32,
    /// Time spent waiting for a key so far.
    waited: Duration,
    /// Transient failures so far.
    failures: u32,
    /// The last failure, for the error that ends the call.
    last: String,
}

impl CallRetry {
    /// A call under `policy` with these budgets (`max_attempts` is raised to 1).
    pub(crate) fn new(
        policy: RetryPolicy,
        request_timeout: Duration,
        deadline: Duration,
        max_wait: Duration,
        max_attempts: u32,
    ) -> Self {
        Self {
            policy,
            request_timeout,
            deadline,
            max_wait,
            max_attempts: max_attempts.max(1),
            waited: Duration::ZERO,
            failures: 0,
            last: String::from("no attempt made"),
        }
    }

    /// The last failure (for log lines).
    pub(crate) fn last(&self) -> &str {
        &self.last
    }

    /// Until when (since the call's start) the next wait for a key may last, at `elapsed`:
    /// what is left of `max_wait` (one budget for the whole call), never past the deadline.
    pub(crate) fn wait_for_key_until(&self, elapsed: Duration) -> Duration {
        (elapsed + self.max_wait.saturating_sub(self.waited)).min(self.deadline)
    }

    /// Counts `waited` against the call's `max_wait`.
    pub(crate) fn waited_for_key(&mut self, waited: Duration) {
        self.waited += waited;
    }

    /// The time limit of an attempt starting at `elapsed`: the exchange's own limit, within
    /// what is left of the deadline; none left stops the call.
    pub(crate) fn attempt_timeout(&self, elapsed: Duration) -> Result<Duration, Stop> {
        if elapsed >= self.deadline {
            return Err(Stop::DeadlineReached {
                last: self.last.clone(),
            });
        }
        Ok(self.request_timeout.min(self.deadline - elapsed))
    }

    /// What to do after `attempt`, read at `elapsed`.
    pub(crate) fn decide(
        &mut self,
        attempt: Attempt,
        elapsed: Duration,
        jitter: Jitter<'_>,
    ) -> CallDecision {
        match Step::of(attempt, &self.policy) {
            Step::Success {
                payload,
                content_type,
            } => CallDecision::Done {
                payload,
                content_type,
            },
            Step::Opened { content_type } => CallDecision::Opened { content_type },
            Step::RateLimited { failure, hint } => {
                self.last = failure.to_string();
                CallDecision::Rotate {
                    cooldown: self.policy.cooldown(hint),
                    failure,
                }
            }
            Step::Rejected(failure) => {
                self.last = failure.to_string();
                CallDecision::Quarantine(failure)
            }
            Step::Retry {
                failure,
                retry_after,
            } => {
                self.failures += 1;
                self.last = failure;
                if self.failures >= self.max_attempts {
                    return CallDecision::Stop(Stop::AttemptsExhausted {
                        last: self.last.clone(),
                    });
                }
                let delay = retry_delay(&self.policy, self.failures, retry_after, jitter);
                if elapsed + delay >= self.deadline {
                    return CallDecision::Stop(Stop::DeadlineReached {
                        last: self.last.clone(),
                    });
                }
                CallDecision::Backoff { delay }
            }
            Step::Stop(stop) => CallDecision::Stop(stop),
        }
    }
}

/// A job's time limit and poll interval, from the job's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobClock {
    /// The job's `timeout_ms`.
    pub timeout: Duration,
    /// The job's `poll_interval_ms`.
    pub interval: Duration,
}

impl JobClock {
    /// The wait before the next poll of a job still running at `elapsed`, or
    /// [`JobTimeout`] when the poll would come too late.
    pub(crate) fn next_poll(&self, elapsed: Duration) -> Result<Duration, JobTimeout> {
        if elapsed + self.interval >= self.timeout {
            return Err(JobTimeout);
        }
        Ok(self.interval)
    }
}

/// The retry state of one poll of a job (a status or a result request).
#[derive(Debug, Clone)]
pub(crate) struct PollRetry {
    policy: RetryPolicy,
    request_timeout: Duration,
    clock: JobClock,
    /// Transient failures of this poll so far.
    failures: u32,
    /// The last failure, for log lines and the error that ends the poll.
    last: String,
}

impl PollRetry {
    /// One poll of a job timed by `clock`.
    pub(crate) fn new(policy: RetryPolicy, request_timeout: Duration, clock: JobClock) -> Self {
        Self {
            policy,
            request_timeout,
            clock,
            failures: 0,
            last: String::new(),
        }
    }

    /// The last failure (for log lines).
    pub(crate) fn last(&self) -> &str {
        &self.last
    }

    /// The time limit of an exchange starting at `elapsed` (since the job started), within the
    /// job's time; none left is [`JobTimeout`].
    pub(crate) fn attempt_timeout(&self, elapsed: Duration) -> Result<Duration, JobTimeout> {
        if elapsed >= self.clock.timeout {
            return Err(JobTimeout);
        }
        Ok(self.request_timeout.min(self.clock.timeout - elapsed))
    }

    /// What to do after `attempt`, read at `elapsed` (since the job started).
    pub(crate) fn decide(
        &mut self,
        attempt: Attempt,
        elapsed: Duration,
        jitter: Jitter<'_>,
    ) -> PollDecision {
        match Step::of(attempt, &self.policy) {
            Step::Success {
                payload,
                content_type,
            } => PollDecision::Done {
                payload,
                content_type,
            },
            // Polls read whole answers; an answer left unread cannot be a poll's result.
            Step::Opened { .. } => {
                PollDecision::Stop(Stop::Network("a poll's answer was left unread".to_owned()))
            }
            Step::RateLimited { failure, hint } => {
                let cooldown = self.policy.cooldown(hint);
                self.last = failure.to_string();
                PollDecision::WaitForKey {
                    cooldown,
                    then: self.wait(cooldown, elapsed),
                }
            }
            Step::Rejected(failure) => PollDecision::Reject(failure),
            Step::Retry {
                failure,
                retry_after,
            } => {
                self.failures += 1;
                let delay = retry_delay(&self.policy, self.failures, retry_after, jitter);
                self.last = failure;
                if self.failures >= self.policy.max_attempts.max(1) {
                    return PollDecision::Stop(Stop::AttemptsExhausted {
                        last: self.last.clone(),
                    });
                }
                match self.wait(delay, elapsed) {
                    Ok(wait) => PollDecision::RetrySameKeyAfter(wait),
                    Err(JobTimeout) => PollDecision::TimedOut,
                }
            }
            Step::Stop(stop) => PollDecision::Stop(stop),
        }
    }

    /// `delay`, at least the poll interval, unless it ends past the job's time.
    fn wait(&self, delay: Duration, elapsed: Duration) -> Result<Duration, JobTimeout> {
        let wait = delay.max(self.clock.interval);
        if elapsed + wait >= self.clock.timeout {
            return Err(JobTimeout);
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A policy with round numbers: 3 attempts, backoff 100 ms doubling up to 1 s, 10 s
    /// deadline, 5 s of waiting for keys, cool-downs of 2 s by default within 1 s..60 s.
    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_delay_ms: 100,
        max_delay_ms: 1_000,
        deadline_ms: 10_000,
        default_cooldown_ms: 2_000,
        max_wait_ms: 5_000,
        max_cooldown_ms: 60_000,
        min_cooldown_ms: 1_000,
        max_queue: 16,
        retry_statuses: &[502],
        retry_timeouts: false,
    };

    fn call() -> CallRetry {
        call_with(POLICY)
    }

    fn call_with(policy: RetryPolicy) -> CallRetry {
        CallRetry::new(
            policy,
            ms(3_000),
            ms(policy.deadline_ms),
            ms(policy.max_wait_ms),
            policy.max_attempts,
        )
    }

    fn failure(status: u16) -> Failure {
        Failure {
            status,
            code: None,
            message: format!("status {status}"),
        }
    }

    fn answered(outcome: Outcome) -> Attempt {
        Attempt::Answered {
            outcome,
            content_type: None,
        }
    }

    fn rate_limited(hint: Option<Duration>) -> Attempt {
        answered(Outcome::RateLimited {
            failure: failure(429),
            cooldown: hint,
        })
    }

    fn transient(retry_after: Option<Duration>) -> Attempt {
        answered(Outcome::Transient {
            failure: failure(503),
            retry_after,
        })
    }

    fn unanswered(kind: NetworkErrorKind) -> Attempt {
        Attempt::Unanswered {
            kind,
            message: format!("{}: gone", kind.label()),
        }
    }

    /// The largest delay full jitter may draw: the bound itself.
    fn max_jitter(cap: Duration) -> Duration {
        cap
    }

    fn no_jitter(_: Duration) -> Duration {
        Duration::ZERO
    }

    #[test]
    fn a_success_is_done() {
        let decision = call().decide(
            Attempt::Answered {
                outcome: Outcome::Success(Bytes::from_static(b"ok")),
                content_type: Some("audio/mpeg".into()),
            },
            SEC,
            &mut no_jitter,
        );
        assert_eq!(
            decision,
            CallDecision::Done {
                payload: Bytes::from_static(b"ok"),
                content_type: Some("audio/mpeg".into())
            }
        );
    }

    #[test]
    fn a_rate_limit_rotates_at_once_and_uses_no_attempt() {
        let mut call = call();
        // Far more rate limits than attempts: every one rotates, none gives up.
        for _ in 0..10 {
            let decision = call.decide(rate_limited(Some(ms(1_500))), SEC, &mut max_jitter);
            assert_eq!(
                decision,
                CallDecision::Rotate {
                    cooldown: ms(1_500),
                    failure: failure(429)
                }
            );
        }
        // The attempts are all still there for transient failures.
        assert!(matches!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Backoff { .. }
        ));
        assert!(matches!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Backoff { .. }
        ));
        assert!(matches!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Stop(Stop::AttemptsExhausted { .. })
        ));
    }

    #[test]
    fn a_rate_limit_cools_down_within_the_policy_bounds() {
        let cooldown = |hint| match call().decide(rate_limited(hint), SEC, &mut no_jitter) {
            CallDecision::Rotate { cooldown, .. } => cooldown,
            other => panic!("{other:?}"),
        };
        assert_eq!(cooldown(None), ms(2_000), "no hint: default_cooldown_ms");
        assert_eq!(
            cooldown(Some(Duration::ZERO)),
            ms(1_000),
            "zero: min_cooldown_ms"
        );
        assert_eq!(cooldown(Some(ms(7_000))), ms(7_000), "a hint is kept");
        assert_eq!(
            cooldown(Some(SEC * 3_600)),
            ms(60_000),
            "held to max_cooldown_ms"
        );
    }

    #[test]
    fn a_rejected_key_is_quarantined_and_the_call_rotates_without_using_an_attempt() {
        let mut call = call();
        for _ in 0..5 {
            assert_eq!(
                call.decide(
                    answered(Outcome::Quarantine(failure(401))),
                    SEC,
                    &mut no_jitter
                ),
                CallDecision::Quarantine(failure(401))
            );
        }
        assert_eq!(call.last(), "HTTP 401: status 401");
        assert!(matches!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Backoff { .. }
        ));
    }

    #[test]
    fn transient_failures_back_off_with_full_jitter_doubling_to_max_delay() {
        let policy = RetryPolicy {
            max_attempts: 10,
            deadline_ms: 600_000,
            ..POLICY
        };
        let mut call = call_with(policy);
        let mut bounds = Vec::new();
        let mut record = |cap: Duration| {
            bounds.push(cap);
            cap / 2
        };
        let mut delays = Vec::new();
        for _ in 0..6 {
            match call.decide(transient(None), SEC, &mut record) {
                CallDecision::Backoff { delay } => delays.push(delay),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            bounds,
            [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
        );
        assert_eq!(
            delays,
            [ms(50), ms(100), ms(200), ms(400), ms(500), ms(500)],
            "the drawn delay is used as it is"
        );
    }

    #[test]
    fn transient_failures_stop_after_max_attempts_with_the_last_failure() {
        let mut call = call();
        assert!(matches!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Backoff { .. }
        ));
        assert!(matches!(
            call.decide(unanswered(NetworkErrorKind::Connect), SEC, &mut no_jitter),
            CallDecision::Backoff { .. }
        ));
        assert_eq!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Stop(Stop::AttemptsExhausted {
                last: "HTTP 503: status 503".into()
            })
        );
    }

    #[test]
    fn one_attempt_at_least() {
        let mut call = CallRetry::new(POLICY, SEC, SEC * 10, SEC, 0);
        assert!(matches!(
            call.decide(transient(None), SEC, &mut no_jitter),
            CallDecision::Stop(Stop::AttemptsExhausted { .. })
        ));
    }

    #[test]
    fn the_providers_retry_hint_replaces_the_jitter_capped_like_a_cooldown() {
        let mut call = call_with(RetryPolicy {
            deadline_ms: 600_000,
            ..POLICY
        });
        let mut drawn = false;
        let mut jitter = |cap: Duration| {
            drawn = true;
            cap
        };
        assert_eq!(
            call.decide(transient(Some(ms(4_000))), SEC, &mut jitter),
            CallDecision::Backoff { delay: ms(4_000) }
        );
        assert_eq!(
            call.decide(transient(Some(SEC * 3_600)), SEC, &mut jitter),
            CallDecision::Backoff { delay: ms(60_000) }
        );
        assert!(!drawn, "a hint draws no random delay");
    }

    #[test]
    fn a_busy_provider_backs_off_blaming_no_key() {
        let mut call = call();
        let busy = answered(Outcome::Busy {
            failure: failure(429),
            retry_after: Some(ms(300)),
        });
        assert_eq!(
            call.decide(busy, SEC, &mut no_jitter),
            CallDecision::Backoff { delay: ms(300) }
        );
    }

    #[test]
    fn a_final_answer_stops_at_once() {
        let mut call = call();
        assert_eq!(
            call.decide(answered(Outcome::Fatal(failure(400))), SEC, &mut no_jitter),
            CallDecision::Stop(Stop::Refused(failure(400)))
        );
    }

    #[test]
    fn a_backoff_that_would_end_past_the_deadline_gives_up() {
        let mut call = call();
        // 9.95 s into a 10 s deadline, a 100 ms backoff would end past it.
        assert_eq!(
            call.decide(transient(None), ms(9_950), &mut max_jitter),
            CallDecision::Stop(Stop::DeadlineReached {
                last: "HTTP 503: status 503".into()
            })
        );
        // Ending exactly on the deadline is too late as well.
        let mut call = self::call();
        assert!(matches!(
            call.decide(transient(None), ms(9_900), &mut max_jitter),
            CallDecision::Stop(Stop::DeadlineReached { .. })
        ));
        let mut call = self::call();
        assert_eq!(
            call.decide(transient(None), ms(9_899), &mut max_jitter),
            CallDecision::Backoff { delay: ms(100) }
        );
    }

    #[test]
    fn an_attempt_is_bounded_by_the_request_timeout_and_the_deadline() {
        let call = call();
        assert_eq!(call.attempt_timeout(Duration::ZERO), Ok(ms(3_000)));
        assert_eq!(call.attempt_timeout(ms(8_000)), Ok(ms(2_000)));
        assert_eq!(
            call.attempt_timeout(ms(10_000)),
            Err(Stop::DeadlineReached {
                last: "no attempt made".into()
            })
        );
    }

    #[test]
    fn no_attempt_starts_past_the_deadline_and_the_last_failure_is_reported() {
        let mut call = call();
        let _ = call.decide(rate_limited(None), SEC, &mut no_jitter);
        assert_eq!(
            call.attempt_timeout(ms(12_000)),
            Err(Stop::DeadlineReached {
                last: "HTTP 429: status 429".into()
            })
        );
    }

    #[test]
    fn max_wait_is_one_budget_for_the_whole_call() {
        let mut call = call();
        // First wait: the whole 5 s budget.
        assert_eq!(call.wait_for_key_until(Duration::ZERO), ms(5_000));
        call.waited_for_key(ms(3_000));
        // After 3 s of waiting (and an attempt), 2 s are left, from now.
        assert_eq!(call.wait_for_key_until(ms(4_000)), ms(6_000));
        call.waited_for_key(ms(2_500));
        // Spent: no more waiting.
        assert_eq!(call.wait_for_key_until(ms(7_000)), ms(7_000));
    }

    #[test]
    fn waiting_for_a_key_never_passes_the_deadline() {
        let call = call();
        assert_eq!(call.wait_for_key_until(ms(8_000)), ms(10_000));
        assert_eq!(call.wait_for_key_until(ms(11_000)), ms(10_000));
    }

    #[test]
    fn after_a_2xx_nothing_is_replayed() {
        let policy = RetryPolicy {
            retry_timeouts: true,
            ..POLICY
        };
        let interrupted = Attempt::Interrupted {
            message: "timeout after the provider answered HTTP 200: cut".into(),
        };
        assert_eq!(
            call_with(policy).decide(interrupted, SEC, &mut no_jitter),
            CallDecision::Stop(Stop::Network(
                "timeout after the provider answered HTTP 200: cut".into()
            ))
        );
        assert_eq!(
            call_with(policy).decide(Attempt::TooLarge { limit: 10 }, SEC, &mut no_jitter),
            CallDecision::Stop(Stop::TooLarge { limit: 10 })
        );
        let mut poll = PollRetry::new(policy, SEC, clock());
        assert_eq!(
            poll.decide(Attempt::TooLarge { limit: 10 }, SEC, &mut no_jitter),
            PollDecision::Stop(Stop::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn an_opened_stream_is_handed_over_and_never_retried() {
        let opened = || Attempt::Opened {
            content_type: Some("audio/mpeg".into()),
        };
        assert_eq!(
            call_with(POLICY).decide(opened(), SEC, &mut no_jitter),
            CallDecision::Opened {
                content_type: Some("audio/mpeg".into())
            }
        );
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        assert!(matches!(
            poll.decide(opened(), SEC, &mut no_jitter),
            PollDecision::Stop(Stop::Network(_))
        ));
    }

    #[test]
    fn network_failures_before_an_answer_follow_retry_timeouts() {
        use NetworkErrorKind::*;
        // (kind, retried without retry_timeouts, retried with it)
        let cases = [
            (Connect, true, true),
            (ConnectTimeout, true, true),
            (Timeout, false, true),
            (Closed, false, true),
            (Other, false, false),
        ];
        for (kind, without, with) in cases {
            for (retry_timeouts, expected) in [(false, without), (true, with)] {
                let policy = RetryPolicy {
                    retry_timeouts,
                    ..POLICY
                };
                let decision = call_with(policy).decide(unanswered(kind), SEC, &mut no_jitter);
                if expected {
                    assert!(
                        matches!(decision, CallDecision::Backoff { .. }),
                        "{kind:?} retry_timeouts={retry_timeouts}: {decision:?}"
                    );
                } else {
                    assert_eq!(
                        decision,
                        CallDecision::Stop(Stop::Network(format!("{}: gone", kind.label()))),
                        "{kind:?} retry_timeouts={retry_timeouts}"
                    );
                }
            }
        }
    }

    fn clock() -> JobClock {
        JobClock {
            timeout: ms(60_000),
            interval: ms(1_000),
        }
    }

    #[test]
    fn a_rate_limited_poll_waits_for_the_same_key_at_least_the_interval() {
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        assert_eq!(
            poll.decide(rate_limited(Some(ms(5_000))), SEC, &mut no_jitter),
            PollDecision::WaitForKey {
                cooldown: ms(5_000),
                then: Ok(ms(5_000))
            }
        );
        let mut poll = PollRetry::new(
            POLICY,
            SEC,
            JobClock {
                interval: ms(8_000),
                ..clock()
            },
        );
        assert_eq!(
            poll.decide(rate_limited(Some(ms(5_000))), SEC, &mut no_jitter),
            PollDecision::WaitForKey {
                cooldown: ms(5_000),
                then: Ok(ms(8_000))
            }
        );
        assert_eq!(poll.last(), "HTTP 429: status 429");
    }

    #[test]
    fn a_rate_limited_poll_cools_the_key_down_even_when_the_job_runs_out_of_time() {
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        assert_eq!(
            poll.decide(rate_limited(Some(ms(5_000))), ms(56_000), &mut no_jitter),
            PollDecision::WaitForKey {
                cooldown: ms(5_000),
                then: Err(JobTimeout)
            }
        );
    }

    #[test]
    fn rate_limits_never_use_up_a_polls_attempts() {
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        for _ in 0..10 {
            assert!(matches!(
                poll.decide(rate_limited(None), SEC, &mut no_jitter),
                PollDecision::WaitForKey { then: Ok(_), .. }
            ));
        }
    }

    #[test]
    fn a_transient_poll_failure_retries_the_same_key_then_gives_up() {
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        assert_eq!(
            poll.decide(transient(None), SEC, &mut max_jitter),
            PollDecision::RetrySameKeyAfter(ms(1_000)),
            "a 100 ms backoff is raised to the poll interval"
        );
        assert_eq!(
            poll.decide(transient(Some(ms(2_500))), SEC, &mut max_jitter),
            PollDecision::RetrySameKeyAfter(ms(2_500))
        );
        assert_eq!(
            poll.decide(transient(None), SEC, &mut max_jitter),
            PollDecision::Stop(Stop::AttemptsExhausted {
                last: "HTTP 503: status 503".into()
            })
        );
    }

    #[test]
    fn a_poll_retry_past_the_jobs_time_is_a_job_timeout() {
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        assert_eq!(
            poll.decide(transient(None), ms(59_000), &mut no_jitter),
            PollDecision::TimedOut
        );
    }

    #[test]
    fn a_rejected_key_ends_the_poll() {
        let mut poll = PollRetry::new(POLICY, SEC, clock());
        assert_eq!(
            poll.decide(
                answered(Outcome::Quarantine(failure(403))),
                SEC,
                &mut no_jitter
            ),
            PollDecision::Reject(failure(403))
        );
    }

    #[test]
    fn a_poll_is_bounded_by_the_request_timeout_and_the_jobs_time() {
        let poll = PollRetry::new(POLICY, ms(3_000), clock());
        assert_eq!(poll.attempt_timeout(SEC), Ok(ms(3_000)));
        assert_eq!(poll.attempt_timeout(ms(59_000)), Ok(ms(1_000)));
        assert_eq!(poll.attempt_timeout(ms(60_000)), Err(JobTimeout));
    }

    #[test]
    fn the_next_poll_comes_after_the_interval_within_the_jobs_time() {
        assert_eq!(clock().next_poll(SEC), Ok(ms(1_000)));
        assert_eq!(clock().next_poll(ms(58_999)), Ok(ms(1_000)));
        assert_eq!(clock().next_poll(ms(59_000)), Err(JobTimeout));
    }
}
