//! The public error type of calls made through the SDK.

use std::time::Duration;

use crate::endpoint::{DecodeError, ValidationError};

/// Why a call failed. Never contains an API key; keys are named by fingerprint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request broke a limit of its endpoint; nothing was sent.
    #[error("{provider}/{endpoint}: {source}")]
    Invalid {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// The broken limit.
        #[source]
        source: ValidationError,
    },
    /// No usable key is configured for the provider.
    #[error(
        "no keys configured for {provider}: {hint}{rejected}",
        hint = no_keys_hint(env, *legacy_env, *secret),
        rejected = rejected_note(rejected)
    )]
    NoKeys {
        /// Provider id.
        provider: &'static str,
        /// The pool variable, e.g. `OPENAI_API_KEYS`.
        env: &'static str,
        /// The legacy single-key variable, e.g. `OPENAI_API_KEY`.
        legacy_env: Option<&'static str>,
        /// The AWS Secrets Manager secret the keys come from instead of the variables, as
        /// declared (`keys.source.secret`, e.g. `media-sdk/{stage}/openai`).
        secret: Option<&'static str>,
        /// Keys that were configured but refused at load, each as `<fingerprint>: <why>`.
        rejected: Vec<String>,
    },
    /// Every key is cooling down and none is back within the configured `max_wait`.
    #[error("{provider}: rate limited, no alternate keys (earliest key back in {retry_after:?})")]
    RateLimited {
        /// Provider id.
        provider: &'static str,
        /// When the earliest key is available again.
        retry_after: Duration,
    },
    /// Every key of the provider is quarantined (invalid, or out of quota).
    #[error("{provider}: every key is quarantined ({reason})")]
    KeysExhausted {
        /// Provider id.
        provider: &'static str,
        /// The last quarantine reason.
        reason: String,
    },
    /// The provider answered with an error that is not retried.
    #[error("{provider}/{endpoint}: HTTP {status}{code}: {message}", code = code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's error code, if any.
        code: Option<String>,
        /// The provider's error message.
        message: String,
    },
    /// Transient failures persisted through every allowed attempt or past the deadline.
    #[error("{provider}/{endpoint}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// A network failure that is not retried.
    #[error("{provider}/{endpoint}: transport error: {message}")]
    Transport {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// What failed.
        message: String,
    },
    /// The response could not be decoded.
    #[error("{provider}/{endpoint}: {source}")]
    Decode {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// The decoding failure.
        #[source]
        source: DecodeError,
    },
    /// An asynchronous job finished in failure.
    #[error("{provider}/{endpoint}: job {job_id} failed: {message}")]
    JobFailed {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// The provider's job id.
        job_id: String,
        /// Why, as the provider says.
        message: String,
    },
    /// An asynchronous job did not finish in time.
    #[error("{provider}/{endpoint}: job {job_id} not finished after {waited:?}")]
    JobTimeout {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// The provider's job id.
        job_id: String,
        /// How long it was polled.
        waited: Duration,
    },
    /// A successful answer was larger than the endpoint's body limit; reading stopped there.
    /// Never retried: the provider acted on the request.
    #[error("{provider}/{endpoint}: response body larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// The limit, in bytes (`body_limits` in `providers.yaml`).
        limit: u64,
    },
    /// An audio stream ended early, after its answer's headers arrived (so after any key
    /// rotation or retry): the provider went silent, sent more than the stream's cap, the
    /// connection broke, or its events could not be read. Never replayed: the provider acted,
    /// and the caller already has `received_bytes` of audio.
    #[error(
        "{provider}/{endpoint}: audio stream {failure} after {received_bytes} bytes of audio: {message}"
    )]
    Stream {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// How the stream failed.
        failure: StreamFailure,
        /// Bytes of audio the caller received before the failure.
        received_bytes: u64,
        /// What happened (redacted).
        message: String,
    },
    /// The provider gave a URL to follow (a job's status or result) that is not on the
    /// configured base URL's origin nor on one of the provider's `allowed_origins`. It was
    /// not followed: no request, no credentials sent.
    #[error("{provider}/{endpoint}: refused to follow a URL given by the provider: {reason}")]
    UntrustedUrl {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// Why (with the offending origin, shortened).
        reason: String,
    },
    /// The `Sdk` was built without this provider (see `SdkBuilder::providers`).
    #[error("provider {provider} is not configured in this Sdk")]
    NotConfigured {
        /// Provider id.
        provider: &'static str,
    },
    /// The SDK is misconfigured (bad base URL, unknown provider, ...).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The [`Error::NotConfigured`] of `provider`.
    pub fn not_configured(provider: &'static str) -> Self {
        Error::NotConfigured { provider }
    }

    /// A short, stable class name for metrics and logs.
    pub fn class(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid",
            Error::NoKeys { .. } => "no_keys",
            Error::RateLimited { .. } => "rate_limited",
            Error::KeysExhausted { .. } => "keys_exhausted",
            Error::Api { .. } => "api",
            Error::RetriesExhausted { .. } => "retries_exhausted",
            Error::Transport { .. } => "transport",
            Error::Decode { .. } => "decode",
            Error::JobFailed { .. } => "job_failed",
            Error::JobTimeout { .. } => "job_timeout",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::UntrustedUrl { .. } => "untrusted_url",
            Error::Stream { failure, .. } => failure.class(),
            Error::NotConfigured { .. } => "not_configured",
            Error::Config(_) => "config",
        }
    }
}

/// How an audio stream failed after its headers arrived (see [`Error::Stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamFailure {
    /// No bytes for longer than the stream's idle timeout (`idle_timeout_ms`).
    Idle,
    /// More than the stream's cap (`max_bytes`).
    TooLarge,
    /// The connection broke, or the stream ended before its final event.
    Interrupted,
    /// A server-sent event that could not be read (malformed, oversized, bad base64).
    BadEvent,
}

impl StreamFailure {
    /// The short, stable class name ([`Error::class`]) of a stream failing this way.
    pub fn class(self) -> &'static str {
        match self {
            StreamFailure::Idle => "stream_idle",
            StreamFailure::TooLarge => "stream_too_large",
            StreamFailure::Interrupted => "stream_interrupted",
            StreamFailure::BadEvent => "stream_bad_event",
        }
    }
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StreamFailure::Idle => "went idle",
            StreamFailure::TooLarge => "over its cap",
            StreamFailure::Interrupted => "interrupted",
            StreamFailure::BadEvent => "sent a bad event",
        })
    }
}

fn no_keys_hint(env: &str, legacy_env: Option<&str>, secret: Option<&str>) -> String {
    match (secret, legacy_env) {
        (Some(secret), _) => format!(
            "put them in the AWS Secrets Manager secret `{secret}` (keys.source), readable with \
             secretsmanager:GetSecretValue"
        ),
        (None, Some(legacy)) => format!("set {env} or {legacy}"),
        (None, None) => format!("set {env}"),
    }
}

fn rejected_note(rejected: &[String]) -> String {
    match rejected {
        [] => String::new(),
        [one] => format!(" (1 key rejected: {one})"),
        many => format!(" ({} keys rejected: {})", many.len(), many.join("; ")),
    }
}

/// Result alias for SDK calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_keys_names_where_the_keys_come_from() {
        let error = |legacy_env, secret| {
            Error::NoKeys {
                provider: "openai",
                env: "OPENAI_API_KEYS",
                legacy_env,
                secret,
                rejected: vec![],
            }
            .to_string()
        };
        assert_eq!(
            error(Some("OPENAI_API_KEY"), None),
            "no keys configured for openai: set OPENAI_API_KEYS or OPENAI_API_KEY"
        );
        let from_secret = error(Some("OPENAI_API_KEY"), Some("media-sdk/{stage}/openai"));
        assert!(
            from_secret.contains("secret `media-sdk/{stage}/openai`"),
            "{from_secret}"
        );
        assert!(!from_secret.contains("OPENAI_API_KEYS"), "{from_secret}");
    }
}
