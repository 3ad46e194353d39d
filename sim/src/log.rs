//! The request log and the per-key counters derived from it.

use std::collections::BTreeMap;

use super::auth::fingerprint;

/// What a request was, from the simulator's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// A call to one of the provider's endpoints (for jobs: the submission).
    Call,
    /// A fal queue `GET status_url`.
    JobStatus,
    /// A fal queue `GET response_url`.
    JobResult,
    /// A fal queue `PUT cancel_url`.
    JobCancel,
    /// A Kling task poll (`GET` on the endpoint's poll path).
    TaskPoll,
    /// No endpoint or job matches the method and path.
    Unknown,
}

/// How the simulator answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A 2xx answer with a well-formed body.
    Success,
    /// 400/422: the body or parameters were refused.
    Invalid,
    /// 401: missing, unknown or revoked key, or a refused JWT.
    Unauthorized,
    /// The key's quota or balance is exhausted.
    QuotaExhausted,
    /// 429: the key's rate limit.
    RateLimited,
    /// The provider is overloaded for everyone.
    Busy,
    /// 5xx.
    ServerError,
    /// 404: unknown route, job or task (including another key's job).
    NotFound,
    /// A job's result was fetched before it finished, or a finished job was cancelled.
    NotReady,
    /// The result of a job that failed or was cancelled.
    JobFailed,
    /// 200 with a truncated JSON body.
    Malformed,
    /// The connection was closed without an answer.
    Reset,
    /// The request was left hanging.
    Hang,
    /// Any other scripted status.
    OtherError,
}

/// One request as the simulator saw it. Never holds a key: keys are named by fingerprint and
/// the `Authorization` / key headers are not recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// Provider id.
    pub provider: &'static str,
    /// Endpoint id, for calls and for job operations on an endpoint's jobs.
    pub endpoint: Option<&'static str>,
    /// What the request was.
    pub operation: Operation,
    /// HTTP method.
    pub method: String,
    /// Request path (percent-encoded as sent).
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Selected headers (see [`RECORDED_HEADERS`]), lower-case names.
    pub headers: Vec<(String, String)>,
    /// How the credential was sent: `"Bearer"`, `"Key"`, or the key header's name.
    pub auth_scheme: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<serde_json::Value>,
    /// Fingerprint of the key (for Kling, of the `access:secret` pair named by the token's
    /// issuer), when the request identified one.
    pub key_fingerprint: Option<String>,
    /// The HTTP status answered; `None` for resets and hangs.
    pub status: Option<u16>,
    /// How the request was answered.
    pub outcome: Outcome,
    /// For a streamed audio answer: how much was sent and how it ended, updated as it goes.
    pub stream: Option<StreamRecord>,
}

/// The progress of a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRecord {
    /// Bytes of body handed to the connection so far (SSE: bytes of the event stream).
    pub bytes_sent: u64,
    /// How the stream stands.
    pub end: StreamEnd,
}

/// How a streamed answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamEnd {
    /// Still sending (or waiting at a [`StreamGate`](super::StreamGate)).
    Streaming,
    /// Every byte was sent and the body ended normally.
    Completed,
    /// The simulator closed the connection mid-way ([`Scripted::CutStream`](super::Scripted::CutStream)).
    Cut,
    /// The simulator stopped sending mid-way ([`Scripted::StallStream`](super::Scripted::StallStream)).
    Stalled,
    /// The client went away (or the simulator shut down) before the end.
    Cancelled,
}

/// Headers copied into [`RequestRecord::headers`]. Credentials are never among them.
pub const RECORDED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "idempotency-key",
    "user-agent",
    "x-request-id",
];

/// Answers to one key, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// All requests made with the key.
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Other 4xx answers.
    pub client_errors: u64,
    /// Resets and hangs.
    pub dropped: u64,
}

impl KeyStats {
    fn count(&mut self, record: &RequestRecord) {
        self.requests += 1;
        match record.status {
            Some(200..=299) => self.ok += 1,
            Some(429) => self.rate_limited += 1,
            Some(500..=599) => self.server_errors += 1,
            Some(_) => self.client_errors += 1,
            None => self.dropped += 1,
        }
    }
}

/// Counters over the request log, per provider and key fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    by_key: BTreeMap<(&'static str, String), KeyStats>,
    by_provider: BTreeMap<&'static str, KeyStats>,
}

impl SimStats {
    pub(crate) fn from_log(log: &[RequestRecord]) -> Self {
        let mut stats = Self::default();
        for record in log {
            stats
                .by_provider
                .entry(record.provider)
                .or_default()
                .count(record);
            if let Some(fp) = &record.key_fingerprint {
                stats
                    .by_key
                    .entry((record.provider, fp.clone()))
                    .or_default()
                    .count(record);
            }
        }
        stats
    }

    /// Counters of the requests made with `key` (for Kling, the `access:secret` pair).
    pub fn key(&self, provider: &str, key: &str) -> KeyStats {
        self.fingerprint(provider, &fingerprint(key))
    }

    /// Counters of the requests made with the key of fingerprint `fp`.
    pub fn fingerprint(&self, provider: &str, fp: &str) -> KeyStats {
        self.by_key
            .iter()
            .find(|((p, f), _)| *p == provider && f == fp)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    /// Counters of every request to `provider`, with or without a key.
    pub fn provider(&self, provider: &str) -> KeyStats {
        self.by_provider.get(provider).copied().unwrap_or_default()
    }

    /// Every `(provider, key fingerprint, counters)`, ordered.
    pub fn keys(&self) -> impl Iterator<Item = (&'static str, &str, KeyStats)> {
        self.by_key.iter().map(|((p, f), s)| (*p, f.as_str(), *s))
    }
}
