//! The seam between the request path and health recording.
//!
//! The runtime reports every finished call and every rate-limit event to a [`Telemetry`]
//! implementation. Implementations must return at once (push into a bounded queue, never
//! await I/O): a metrics outage must never fail or slow a user's request.

use std::time::{Duration, SystemTime};

/// One finished call, as recorded under its endpoint's health id.
#[derive(Debug, Clone, PartialEq)]
pub struct CallMetric {
    /// Health id, e.g. `"openai-tts"`.
    pub health_id: &'static str,
    /// Provider id, e.g. `"openai"`.
    pub provider: &'static str,
    /// Endpoint id, e.g. `"speech"`.
    pub endpoint: &'static str,
    /// Wall time of the whole call (all attempts and waits), in milliseconds; for a stream,
    /// until it ended (completed, failed or cancelled).
    pub latency_ms: u64,
    /// For a stream: from the call's start to its first audio byte, if one arrived. `None` for
    /// buffered calls.
    pub ttfb_ms: Option<u64>,
    /// Whether the caller got a result; for a stream, whether it completed.
    pub success: bool,
    /// A stream the caller dropped before its end: neither a success nor a provider failure
    /// (health reports leave it out). Always `false` for buffered calls.
    pub cancelled: bool,
    /// The last HTTP status seen, if any.
    pub status: Option<u16>,
    /// Short error class on failure (`"rate_limited"`, `"timeout"`, `"api"`, ...).
    pub error_class: Option<&'static str>,
    /// HTTP attempts made.
    pub attempts: u32,
    /// Fingerprint of the key that served the last attempt (never the key).
    pub key_fingerprint: Option<String>,
    /// Credits the call cost (0 for a failed call, or when none were declared; see
    /// [`CallOptions::credits`](crate::CallOptions::credits)).
    pub credits: u32,
    /// When the call finished.
    pub at: SystemTime,
}

/// A key was rate limited (HTTP 429 or an equivalent provider code).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitEvent {
    /// Provider id.
    pub provider: &'static str,
    /// Health id of the endpoint that saw it.
    pub health_id: &'static str,
    /// Fingerprint of the limited key.
    pub key_fingerprint: String,
    /// How long the key cools down.
    pub cooldown: Duration,
    /// Whether the call moved on to another key.
    pub rotated: bool,
    /// When it happened.
    pub at: SystemTime,
}

/// Receives call metrics and rate-limit events. Every method must return without blocking.
pub trait Telemetry: Send + Sync + 'static {
    /// Records one finished call.
    fn record_call(&self, metric: CallMetric);
    /// Records one rate-limit event.
    fn record_rate_limit(&self, event: RateLimitEvent) {
        let _ = event;
    }
}

/// Telemetry that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {
    fn record_call(&self, _metric: CallMetric) {}
}
