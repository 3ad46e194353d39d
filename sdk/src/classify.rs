//! Reading a provider's response: success payload or a classified failure.
//!
//! [`classify`] turns an HTTP status, headers and body into an [`Outcome`], using only the
//! provider's [`ErrorRules`] and [`Envelope`] from the spec. The order of the rules:
//!
//! 1. With an envelope (Kling), a 2xx JSON body whose envelope code is not the success value is
//!    a failure; on success the payload is the envelope's `data`.
//! 2. A code listed in `errors.quarantine` quarantines the key, whatever the status (OpenAI's
//!    `insufficient_quota` arrives with HTTP 429, yet retrying that key is useless).
//! 3. HTTP 401 and 403 quarantine the key.
//! 4. A code listed in `errors.busy` means the provider is busy for everyone: back off without
//!    blaming the key (ElevenLabs' `system_busy`, even with HTTP 429).
//! 5. HTTP 429, or a code listed in `errors.rate_limited`: the key is rate limited; cool it down
//!    and rotate.
//! 6. HTTP 503, a status in `retry.retry_statuses`, or a code in `errors.retryable`: transient.
//! 7. Anything else is final.
//!
//! Codes are compared as strings (numbers in decimal); every pointer in `errors.code` is read
//! and a rule matches when any of the codes found is listed.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use crate::spec::{Envelope, ErrorRules, ProviderSpec};

/// A provider error, as read from one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// HTTP status.
    pub status: u16,
    /// The provider's error code, if the body has one.
    pub code: Option<String>,
    /// The provider's message (or the status' reason phrase when the body has none).
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What the runtime does with one response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Outcome {
    /// A successful response; the payload (envelope removed).
    Success(Bytes),
    /// The key is rate limited: cool it down (for `cooldown` when the response says) and rotate.
    RateLimited {
        /// The error.
        failure: Failure,
        /// The provider's reset hint, if any.
        cooldown: Option<Duration>,
    },
    /// The key is unusable (invalid, out of quota): quarantine it and rotate.
    Quarantine(Failure),
    /// The provider is overloaded for everyone: back off, keep the key.
    Busy {
        /// The error.
        failure: Failure,
        /// The provider's retry hint, if any.
        retry_after: Option<Duration>,
    },
    /// A transient failure the provider did not act on: retry with backoff.
    Transient {
        /// The error.
        failure: Failure,
        /// The provider's retry hint, if any.
        retry_after: Option<Duration>,
    },
    /// A final error: report it.
    Fatal(Failure),
}

/// Classifies one response of `spec`'s provider. `now` dates `Retry-After` HTTP dates.
#[cfg(test)]
pub(crate) fn classify(
    spec: &ProviderSpec,
    status: u16,
    headers: &HeaderMap,
    body: &Bytes,
    now: SystemTime,
) -> Outcome {
    classify_with(spec, status, headers, body, now, &|text| text.to_owned())
}

/// [`classify`], passing the provider's message through `redact` before it is cut to
/// [`MESSAGE_LIMIT`] (so a secret straddling the cut is still recognised whole).
pub(crate) fn classify_with(
    spec: &ProviderSpec,
    status: u16,
    headers: &HeaderMap,
    body: &Bytes,
    now: SystemTime,
    redact: &dyn Fn(&str) -> String,
) -> Outcome {
    let json: Option<Value> = if (200..300).contains(&status) && spec.envelope.is_none() {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    if (200..300).contains(&status) {
        let (Some(envelope), Some(doc)) = (spec.envelope.as_ref(), json.as_ref()) else {
            return Outcome::Success(body.clone());
        };
        match doc.pointer(envelope.code).and_then(code_string) {
            Some(code) if code != envelope.ok.to_string() => {}
            _ => {
                let data = doc.pointer(envelope.data).unwrap_or(&Value::Null);
                return Outcome::Success(Bytes::from(serde_json::to_vec(data).unwrap_or_default()));
            }
        }
    }

    let codes = codes(&spec.errors, spec.envelope.as_ref(), json.as_ref());
    let failure = Failure {
        status,
        code: codes.first().cloned(),
        message: message(
            &spec.errors,
            spec.envelope.as_ref(),
            json.as_ref(),
            status,
            body,
            redact,
        ),
    };
    let listed = |list: &[&str]| codes.iter().any(|c| list.contains(&c.as_str()));
    let rules = &spec.errors;
    if listed(rules.quarantine) || status == 401 || status == 403 {
        Outcome::Quarantine(failure)
    } else if listed(rules.busy) {
        Outcome::Busy {
            failure,
            retry_after: retry_after(headers, now),
        }
    } else if status == 429 || listed(rules.rate_limited) {
        Outcome::RateLimited {
            failure,
            cooldown: retry_after(headers, now),
        }
    } else if status == 503
        || spec.retry.retry_statuses.contains(&status)
        || listed(rules.retryable)
    {
        Outcome::Transient {
            failure,
            retry_after: retry_after(headers, now),
        }
    } else {
        Outcome::Fatal(failure)
    }
}

/// Every error code found in the body: the `errors.code` pointers in order, then the envelope's
/// code (if any). Null values are skipped; numbers are rendered in decimal.
fn codes(rules: &ErrorRules, envelope: Option<&Envelope>, json: Option<&Value>) -> Vec<String> {
    let Some(doc) = json else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let pointers = rules.code.iter().copied().chain(envelope.map(|e| e.code));
    for code in pointers
        .filter_map(|p| doc.pointer(p))
        .filter_map(code_string)
    {
        if !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

fn code_string(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Longest provider message kept (in characters) in an error, a log line or a metric, whether
/// it came from a JSON field or from a body that is not structured.
pub(crate) const MESSAGE_LIMIT: usize = 300;

/// `text` cut to at most `max` characters, with `…` appended when it was cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        // No more bytes than `max`, so no more characters either.
        return text.to_owned();
    }
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn message(
    rules: &ErrorRules,
    envelope: Option<&Envelope>,
    json: Option<&Value>,
    status: u16,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
) -> String {
    if let Some(doc) = json {
        let pointers = rules
            .message
            .iter()
            .copied()
            .chain(envelope.map(|e| e.message));
        if let Some(message) = pointers
            .filter_map(|p| doc.pointer(p))
            .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
        {
            return shorten(&redact(message), MESSAGE_LIMIT);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if !text.is_empty() {
        return shorten(&redact(text), MESSAGE_LIMIT);
    }
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no message")
        .to_owned()
}

/// How long the provider asks us to wait, from the first of: `retry-after-ms` (milliseconds),
/// `retry-after` (seconds, or an HTTP date relative to `now`), and the OpenAI-style
/// `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` (duration strings such as `6m0s`).
///
/// Of the two reset headers, those whose matching `x-ratelimit-remaining-*` is `0` (or absent)
/// count, and the longest wins; when both limits still have room, the shorter reset is used.
///
/// The hint is untrusted: `None` means no hint at all; `Some(Duration::ZERO)` means a
/// `retry-after-ms` or `retry-after` header that was zero, negative, not a number (`abc`,
/// `NaN`) or a date in the past; an absurd value (`1e400`, a date in 9999) is held at
/// [`MAX_HINT`]. Callers cap it further with
/// [`RetryPolicy::cooldown`](crate::spec::RetryPolicy::cooldown).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };
    if let Some(ms) = text("retry-after-ms") {
        return Some(
            ms.parse::<f64>()
                .map_or(Duration::ZERO, |ms| hint_from_secs(ms / 1000.0)),
        );
    }
    if let Some(value) = text("retry-after") {
        if let Ok(secs) = value.parse::<f64>() {
            return Some(hint_from_secs(secs));
        }
        return Some(match httpdate::parse_http_date(&value) {
            Ok(at) => at
                .duration_since(now)
                .map_or(Duration::ZERO, |d| d.min(MAX_HINT)),
            Err(_) => Duration::ZERO,
        });
    }
    let resets: Vec<(Duration, bool)> = ["requests", "tokens"]
        .iter()
        .filter_map(|kind| {
            let reset = parse_reset_duration(&text(&format!("x-ratelimit-reset-{kind}"))?)?;
            let exhausted = text(&format!("x-ratelimit-remaining-{kind}"))
                .and_then(|r| r.parse::<f64>().ok())
                .is_none_or(|remaining| remaining <= 0.0);
            Some((reset, exhausted))
        })
        .collect();
    let exhausted = resets.iter().filter(|(_, e)| *e).map(|(d, _)| *d).max();
    exhausted.or_else(|| resets.iter().map(|(d, _)| *d).min())
}

/// The longest hint [`retry_after`] returns (about 31 years); the retry policy caps far lower.
pub(crate) const MAX_HINT: Duration = Duration::from_secs(1_000_000_000);

/// A hint in seconds: zero for NaN, zero or negative values; at most [`MAX_HINT`].
fn hint_from_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else if secs >= MAX_HINT.as_secs_f64() {
        MAX_HINT
    } else {
        Duration::from_secs_f64(secs)
    }
}

fn duration_from_secs(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| hint_from_secs(secs))
}

/// Parses a Go-style duration as OpenAI sends in `x-ratelimit-reset-*`: `1s`, `6m0s`, `20ms`,
/// `1m30.5s`, `1h2m`, `500us`; a bare number is seconds. `None` when malformed.
pub(crate) fn parse_reset_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return duration_from_secs(secs);
    }
    let mut rest = text;
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if text.is_empty() {
        return None;
    }
    duration_from_secs(total)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::generated::openai::PROVIDER;

    fn one_header(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
        headers
    }

    proptest! {
        #[test]
        fn any_hint_gives_a_cooldown_within_the_policy_bounds(
            name in prop_oneof![
                Just("retry-after"),
                Just("retry-after-ms"),
                Just("x-ratelimit-reset-requests"),
            ],
            value in prop_oneof![
                "[-+0-9.eE]{0,24}",
                "[0-9hms.]{0,12}",
                "\\PC{0,30}",
                Just("NaN".to_owned()),
                Just("inf".to_owned()),
                Just("1e400".to_owned()),
                Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
                Just("Thu, 01 Jan 1970 00:00:00 GMT".to_owned()),
            ],
        ) {
            let hint = retry_after(&one_header(name, &value), SystemTime::now());
            if let Some(hint) = hint {
                prop_assert!(hint <= MAX_HINT);
            }
            let policy = &PROVIDER.retry;
            let cooldown = policy.cooldown(hint);
            prop_assert!(cooldown <= Duration::from_millis(policy.max_cooldown_ms));
            if hint == Some(Duration::ZERO) {
                prop_assert_eq!(cooldown, Duration::from_millis(policy.min_cooldown_ms));
            }
        }

        #[test]
        fn go_durations_never_panic(text in "\\PC{0,20}") {
            if let Some(d) = parse_reset_duration(&text) {
                prop_assert!(d <= MAX_HINT);
            }
        }
    }
}

/// Classification of every provider's real error answers.
#[cfg(test)]
mod provider_cases;
