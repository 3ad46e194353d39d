//! Exact outcomes queued for the next requests, and random faults.

use std::time::Duration;

use super::auth::fingerprint;

/// An exact outcome for one upcoming request, queued with
/// [`Simulator::script`](super::Simulator::script).
///
/// Each authenticated request takes the first queued entry that applies to it (entries made
/// with [`for_key`](Self::for_key) apply only to that key; the job entries only to job
/// submissions) and is answered as the entry says, in the provider's real error shape. When no
/// entry applies, the request is handled normally (keys, rate limits, faults, validation).
/// Requests that fail authentication never take an entry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Scripted {
    /// Handle the request normally (a placeholder to let requests through in a sequence).
    Pass,
    /// Answer with this HTTP status in the provider's error shape: 401 as an invalid key, 429 as a
    /// rate limit without any retry hint, 5xx as a server error, others as a generic error.
    Status(u16),
    /// A per-key rate limit (HTTP 429 in the provider's shape). With `retry_after: None` the
    /// response carries no hint at all (no `retry-after`, `retry-after-ms` or
    /// `x-ratelimit-reset-*`), to exercise the caller's default cool-down.
    RateLimited {
        /// The hint sent in `retry-after` / `retry-after-ms` (where the provider sends them).
        retry_after: Option<Duration>,
    },
    /// The provider is overloaded for everyone (ElevenLabs 429 `system_busy`, Kling 5001,
    /// OpenAI and fal 503).
    Busy,
    /// The key is refused as invalid (HTTP 401 in the provider's shape).
    InvalidKey,
    /// The key's quota or balance is exhausted (OpenAI 429 `insufficient_quota`, fal 403,
    /// Kling 1102, ElevenLabs 401 `quota_exceeded`).
    QuotaExhausted,
    /// Close the connection without answering (TCP reset).
    Reset,
    /// Never answer: the request hangs until the client gives up or the simulator shuts down.
    Hang,
    /// HTTP 200 with `Content-Type: application/json` and a truncated JSON body.
    MalformedJson,
    /// Applies to the next job submission: it is accepted, then the job fails with `message`
    /// (fal: `COMPLETED` with `error`, the result URL answers 500; Kling: `task_status: failed`).
    JobFails {
        /// The provider's failure message.
        message: String,
    },
    /// Applies to the next job submission: it is accepted and then stays in progress forever.
    JobNeverFinishes,
    /// Applies to the next streamed audio answer: after `after_bytes` bytes of body the
    /// connection is closed abruptly, so the client sees an incomplete chunked body.
    CutStream {
        /// Bytes of the body sent before the cut (SSE: bytes of the event stream).
        after_bytes: u64,
    },
    /// Applies to the next streamed audio answer: after `after_bytes` bytes of body nothing more
    /// is sent, and the connection stays open, until the client gives up or the simulator
    /// shuts down.
    StallStream {
        /// Bytes of the body sent before the stall (SSE: bytes of the event stream).
        after_bytes: u64,
    },
    /// The inner outcome, only for requests made with one key. Build it with
    /// [`for_key`](Self::for_key); only the key's fingerprint is kept.
    ForKey {
        /// Fingerprint of the targeted key.
        key_fingerprint: String,
        /// The outcome.
        outcome: Box<Scripted>,
    },
}

impl Scripted {
    /// This outcome, only for requests made with `key` (for Kling, the `access:secret` pair).
    pub fn for_key(self, key: &str) -> Scripted {
        let outcome = match self {
            Scripted::ForKey { outcome, .. } => outcome,
            other => Box::new(other),
        };
        Scripted::ForKey {
            key_fingerprint: fingerprint(key),
            outcome,
        }
    }

    /// The outcome without any key targeting.
    pub(crate) fn outcome(&self) -> &Scripted {
        match self {
            Scripted::ForKey { outcome, .. } => outcome,
            other => other,
        }
    }

    /// Whether the entry applies to a request of `kind` made with key `fp`.
    pub(crate) fn applies(&self, fp: &str, kind: RequestKind) -> bool {
        let key_ok = match self {
            Scripted::ForKey {
                key_fingerprint, ..
            } => key_fingerprint == fp,
            _ => true,
        };
        let kind_ok = match self.outcome() {
            Scripted::JobFails { .. } | Scripted::JobNeverFinishes => {
                kind == RequestKind::JobSubmit
            }
            Scripted::CutStream { .. } | Scripted::StallStream { .. } => {
                kind == RequestKind::Stream
            }
            _ => true,
        };
        key_ok && kind_ok
    }
}

/// What a request is, for the entries that apply to one kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// The submission of a job.
    JobSubmit,
    /// A call answered with streamed audio.
    Stream,
    /// Anything else.
    Other,
}

/// Random faults, drawn from the simulator's seeded generator (see
/// [`SimBuilder::seed`](super::SimBuilder::seed)). Rates are probabilities in `0..=1`; one draw per
/// request picks at most one of error, reset, timeout and malformed (in that order), so their sum
/// should stay at or below 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Added before every answer (also before resets and hangs).
    pub latency: Duration,
    /// Share of requests answered 500, 502 or 503 (equally likely) in the provider's shape.
    pub error_rate: f64,
    /// Share of requests whose connection is reset without an answer.
    pub reset_rate: f64,
    /// Share of requests that hang until the client gives up.
    pub timeout_rate: f64,
    /// Share of requests answered 200 with a truncated JSON body.
    pub malformed_rate: f64,
    /// Share of accepted jobs that end in failure.
    pub job_failure_rate: f64,
    /// Share of accepted jobs that never finish.
    pub job_stall_rate: f64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }
}

/// How many polls a job takes. Poll `k` (counting from 1) sees the job queued while
/// `k <= queued_polls`, running while `k <= queued_polls + running_polls`, and finished after.
/// Only status polls count (fal `status_url`, Kling's poll path), not result fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPace {
    /// Polls answered `IN_QUEUE` / `submitted`.
    pub queued_polls: u32,
    /// Polls answered `IN_PROGRESS` / `processing`.
    pub running_polls: u32,
}

impl Default for JobPace {
    /// One poll queued, one running, finished on the third.
    fn default() -> Self {
        Self {
            queued_polls: 1,
            running_polls: 1,
        }
    }
}

impl JobPace {
    /// Finished on the first poll.
    pub fn immediate() -> Self {
        Self {
            queued_polls: 0,
            running_polls: 0,
        }
    }
}
