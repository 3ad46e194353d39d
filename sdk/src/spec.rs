//! Static descriptions of providers and endpoints, as generated from `providers.yaml`.
//!
//! `cargo xtask codegen` turns every provider in the spec into one `static` [`ProviderSpec`] in
//! `crate::generated`. The runtime reads only these descriptors: it knows protocol kinds (auth
//! schemes, job flows, error envelopes) but never a particular provider.
//!
//! The names of those kinds ([`AuthKind`], [`Method`], [`ResponseKind`], [`JobFlowKind`]) come
//! from `media-sdk-spec`, shared with the generator, the derive and the simulator; the
//! descriptors here add what each kind carries (a header name, a poll path, ...) and say their
//! kind with `kind()`.

use std::time::Duration;

pub use media_sdk_spec::{AuthKind, JobFlowKind, Method, ResponseKind};

/// Everything the runtime needs to know about one provider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProviderSpec {
    /// Stable identifier, e.g. `"openai"`.
    pub id: &'static str,
    /// Human-readable name, e.g. `"OpenAI"`.
    pub name: &'static str,
    /// Default base URL, e.g. `"https://api.openai.com"`.
    pub base_url: &'static str,
    /// Environment variable that overrides [`base_url`](Self::base_url) at run time.
    pub base_url_env: &'static str,
    /// How a key is presented to the provider.
    pub auth: AuthScheme,
    /// Where the key pool comes from.
    pub keys: KeySource,
    /// Connection and request timeouts.
    pub timeouts: Timeouts,
    /// Retry, backoff and rate-limit waiting policy.
    pub retry: RetryPolicy,
    /// How error bodies are read and classified.
    pub errors: ErrorRules,
    /// A JSON envelope wrapping every response (Kling's `{"code", "message", "data"}`), if any.
    pub envelope: Option<Envelope>,
    /// Rules turning health metrics into a status.
    pub health: HealthRules,
    /// Alert thresholds checked by `cargo xtask health` and exported as alarms.
    pub alerts: AlertThresholds,
    /// Most bytes read from a response body, by kind.
    pub body_limits: BodyLimits,
    /// Origins (`scheme://host[:port]`) besides the base URL's that URLs given by the provider
    /// may point at, such as fal's `https://queue.fal.run`. A URL on one of them is re-rooted
    /// onto the configured base URL; a URL on any other origin is refused.
    pub allowed_origins: &'static [&'static str],
    /// Limits of one key declared in the spec (`limits`), enforced locally; unset ones are
    /// learned from the provider's answers.
    pub key_limits: KeyLimits,
    /// The endpoints of this provider.
    pub endpoints: &'static [EndpointSpec],
}

impl ProviderSpec {
    /// The endpoint with the given id.
    pub fn endpoint(&self, id: &str) -> Option<&'static EndpointSpec> {
        self.endpoints.iter().find(|e| e.id == id)
    }
}

/// How an API key is attached to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `<header>: <key>`, e.g. ElevenLabs' `xi-api-key`.
    Header {
        /// Header name.
        header: &'static str,
    },
    /// `Authorization: Key <key>` (fal.ai).
    FalKey,
    /// `Authorization: Bearer <jwt>` where the JWT is signed HS256 from an `access:secret` key
    /// pair (Kling AI).
    KlingJwt {
        /// Token lifetime in seconds (`exp = now + ttl`).
        ttl_secs: u64,
    },
}

impl AuthScheme {
    /// The kind of scheme, without its settings.
    pub fn kind(&self) -> AuthKind {
        match self {
            AuthScheme::Bearer => AuthKind::Bearer,
            AuthScheme::Header { .. } => AuthKind::Header,
            AuthScheme::FalKey => AuthKind::FalKey,
            AuthScheme::KlingJwt { .. } => AuthKind::KlingJwt,
        }
    }
}

/// Where a provider's key pool comes from: environment variables by default, or an AWS Secrets
/// Manager secret; how often it is re-read and what one key may spend per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySource {
    /// Comma-separated pool, e.g. `OPENAI_API_KEYS`.
    pub env: &'static str,
    /// Legacy single-key variable, used when [`env`](Self::env) is absent, e.g. `OPENAI_API_KEY`.
    pub legacy_env: Option<&'static str>,
    /// Recommended minimum pool size; a smaller pool logs one warning.
    pub recommended_min: u32,
    /// Recommended maximum pool size.
    pub recommended_max: u32,
    /// An AWS Secrets Manager secret holding the keys instead of the environment variables
    /// (`keys.source`, kind `secrets_manager`); `None` (the default): the environment.
    pub secrets_manager: Option<SecretsManagerSource>,
    /// How often a running `Sdk` re-reads the keys, in seconds (`keys.reload_secs`, default
    /// [`DEFAULT_RELOAD_SECS`]).
    pub reload_secs: u64,
    /// How much one key may spend per UTC day (`keys.daily_budget`); `None` (the default): no
    /// limit.
    pub daily_budget: Option<DailyBudget>,
}

/// Default of `keys.reload_secs`: five minutes.
pub const DEFAULT_RELOAD_SECS: u64 = 300;
/// Default of `keys.source.stage_env`.
pub const DEFAULT_STAGE_ENV: &str = "MEDIA_SDK_STAGE";

/// A provider's keys in an AWS Secrets Manager secret (`keys.source` with
/// `kind: secrets_manager`).
///
/// The secret holds the comma-separated keys (Kling: `access:secret` pairs), either as the
/// whole secret string or, with [`field`](Self::field), in one field of a JSON object (a
/// string, or an array of strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretsManagerSource {
    /// Secret name or ARN; `{stage}` is replaced by the value of
    /// [`stage_env`](Self::stage_env), e.g. `media-sdk/{stage}/openai`.
    pub secret: &'static str,
    /// The JSON field holding the keys; `None`: the whole secret string.
    pub field: Option<&'static str>,
    /// The variable naming the stage (default [`DEFAULT_STAGE_ENV`]).
    pub stage_env: &'static str,
    /// A variable that, when set and non-empty, names the secret instead of
    /// [`secret`](Self::secret).
    pub override_env: Option<&'static str>,
}

impl SecretsManagerSource {
    /// The secret id to read, resolving the override variable and `{stage}` through `lookup`
    /// (an environment reader). An error says which variable is missing.
    pub fn secret_id(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<String, String> {
        let set = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(id) = self.override_env.and_then(set) {
            return Ok(id);
        }
        if !self.secret.contains("{stage}") {
            return Ok(self.secret.to_owned());
        }
        match set(self.stage_env) {
            Some(stage) => Ok(self.secret.replace("{stage}", &stage)),
            None => Err(format!(
                "the key secret `{}` needs the stage: set {}{}",
                self.secret,
                self.stage_env,
                self.override_env
                    .map(|o| format!(" (or name the secret in {o})"))
                    .unwrap_or_default()
            )),
        }
    }
}

/// A per-key daily budget (`keys.daily_budget`), counted per UTC day over the key's successful
/// calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DailyBudget {
    /// At most this many credits (`{ credits: N }`; a call's credits come from its capability).
    Credits(u64),
    /// At most this many successful calls (`{ calls: N }`).
    Calls(u64),
}

/// Connection and request timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect timeout in milliseconds.
    pub connect_ms: u64,
    /// Timeout of one HTTP exchange in milliseconds.
    pub request_ms: u64,
}

impl Timeouts {
    /// Connect timeout as a [`Duration`].
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }
    /// Request timeout as a [`Duration`].
    pub fn request(&self) -> Duration {
        Duration::from_millis(self.request_ms)
    }
}

/// Retry, backoff and rate-limit waiting policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call for transient failures (5xx, timeouts, connection errors).
    pub max_attempts: u32,
    /// First backoff delay (full jitter: a random delay in `0..=base * 2^n`, capped).
    pub base_delay_ms: u64,
    /// Upper bound of one backoff delay.
    pub max_delay_ms: u64,
    /// Overall budget for one call, waits included.
    pub deadline_ms: u64,
    /// Cool-down for a key after a 429 without a reset hint.
    pub default_cooldown_ms: u64,
    /// Longest a call waits, in total, for rate-limited keys (backoff after a 429 and waits for
    /// a cooling key) before failing with `RateLimited`.
    pub max_wait_ms: u64,
    /// Ceiling of every cool-down, whatever the provider's hint says (seconds, milliseconds or
    /// an HTTP date); also caps cool-downs shared through the health store.
    pub max_cooldown_ms: u64,
    /// Cool-down after a 429 whose hint is zero, in the past or unreadable.
    pub min_cooldown_ms: u64,
    /// Most calls waiting for a key at once; a call arriving at a full queue fails at once
    /// with `RateLimited`.
    pub max_queue: u32,
    /// HTTP statuses retried with backoff (429 and 503 always are).
    pub retry_statuses: &'static [u16],
    /// Whether request timeouts are retried.
    pub retry_timeouts: bool,
}

impl RetryPolicy {
    /// The cool-down a 429 imposes on its key: the provider's `hint` (`retry-after-ms`,
    /// `retry-after` seconds or date, or an `x-ratelimit-reset-*` duration) capped at
    /// [`max_cooldown_ms`](Self::max_cooldown_ms); a zero hint (zero, in the past or unreadable)
    /// gives [`min_cooldown_ms`](Self::min_cooldown_ms); no hint gives
    /// [`default_cooldown_ms`](Self::default_cooldown_ms) (also capped).
    pub fn cooldown(&self, hint: Option<Duration>) -> Duration {
        let max = Duration::from_millis(self.max_cooldown_ms);
        match hint {
            None => Duration::from_millis(self.default_cooldown_ms).min(max),
            Some(Duration::ZERO) => Duration::from_millis(self.min_cooldown_ms).min(max),
            // A positive hint is kept (a sub-millisecond one rounded up to 1 ms, so a key is
            // never asked again in the same instant), at most the ceiling.
            Some(hint) => hint.max(Duration::from_millis(1)).min(max),
        }
    }

    /// A retry delay asked for by the provider (`Retry-After` on a 503 or a busy answer),
    /// capped like a cool-down. `None` when the provider gave no usable hint.
    pub fn retry_delay(&self, hint: Option<Duration>) -> Option<Duration> {
        hint.map(|hint| hint.min(Duration::from_millis(self.max_cooldown_ms)))
    }
}

/// Limits of one key, as declared in the spec. `None`: not declared (learned instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLimits {
    /// Requests per minute one key may make.
    pub requests_per_minute: Option<u32>,
    /// Requests one key may start at once above its steady rate.
    pub burst: Option<u32>,
    /// Requests one key may have in flight at once.
    pub concurrent: Option<u32>,
}

/// Most bytes read from a response body. Reading stops at the limit: a success body that is
/// larger fails with `Error::BodyTooLarge` (never retried), an error body is cut there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// JSON documents: JSON endpoints, job submit, status and result answers.
    pub json_bytes: u64,
    /// Audio bodies.
    pub audio_bytes: u64,
    /// Error bodies (non-2xx answers), read only to classify and report the error.
    pub error_bytes: u64,
}

/// How a provider's error bodies are read and classified. Pointers are JSON pointers tried in
/// order; codes are compared as strings (numbers are rendered in decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorRules {
    /// Where the human-readable message is.
    pub message: &'static [&'static str],
    /// Where the machine-readable code is.
    pub code: &'static [&'static str],
    /// Codes meaning "this key is rate limited": cool the key down and rotate.
    pub rate_limited: &'static [&'static str],
    /// Codes meaning "this key is unusable" (bad key, quota/billing): quarantine it.
    pub quarantine: &'static [&'static str],
    /// Codes meaning "the provider is busy for everyone": back off, rotation does not help.
    pub busy: &'static [&'static str],
    /// Extra codes that are safe to retry with backoff.
    pub retryable: &'static [&'static str],
}

/// A JSON envelope around every response body, such as Kling's
/// `{"code": 0, "message": "...", "data": {...}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Pointer to the status code.
    pub code: &'static str,
    /// The code value meaning success.
    pub ok: i64,
    /// Pointer to the message.
    pub message: &'static str,
    /// Pointer to the payload.
    pub data: &'static str,
}

/// Rules that turn metrics over the window into a health status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthRules {
    /// The rolling window, in seconds.
    pub window_secs: u64,
    /// Fewer requests than this in the window gives `unknown`.
    pub min_requests: u64,
    /// Degraded when the success rate is below this (0..=1)...
    pub degraded_success_rate_below: f64,
    /// ...or the average latency is above this.
    pub degraded_avg_latency_ms_above: u64,
    /// Down when the success rate is below this (0..=1).
    pub down_success_rate_below: f64,
}

impl HealthRules {
    /// The window as a [`Duration`].
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }
}

/// Alert thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertThresholds {
    /// Alert when a provider sees more rate limits than this per hour.
    pub rate_limits_per_hour: u32,
    /// Alert when the average latency over the window exceeds this.
    pub avg_latency_ms: u64,
    /// Alert when the success rate over the window falls below this (0..=1).
    pub success_rate: f64,
}

/// One endpoint of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Provider id this endpoint belongs to.
    pub provider: &'static str,
    /// Endpoint id, unique within the provider, e.g. `"speech"`.
    pub id: &'static str,
    /// Id health metrics are recorded under, e.g. `"openai-tts"`.
    pub health_id: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path template relative to the base URL, with `{param}` placeholders.
    pub path: &'static str,
    /// What the endpoint returns.
    pub response: ResponseSpec,
    /// Most bytes read from a successful answer; `None` uses the provider's
    /// [`BodyLimits`] for the response kind.
    pub max_body_bytes: Option<u64>,
}

impl EndpointSpec {
    /// Most bytes read from a successful answer of this endpoint under `limits`.
    pub fn body_limit(&self, limits: &BodyLimits) -> u64 {
        self.max_body_bytes.unwrap_or(match self.response {
            ResponseSpec::Audio { .. } => limits.audio_bytes,
            ResponseSpec::Json | ResponseSpec::Job(_) => limits.json_bytes,
        })
    }
}

/// How an audio endpoint streams: chunks as the provider produces them, bounded by silence
/// between chunks and by a total size instead of the buffered call's request timeout and body
/// cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// Path template of the streaming variant when the provider uses another one (ElevenLabs'
    /// `/v1/text-to-speech/{voice_id}/stream`); `None`: the endpoint's own path.
    pub path: Option<&'static str>,
    /// Longest wait for the next chunk (and for the first one after the headers), in
    /// milliseconds, before the stream fails.
    pub idle_timeout_ms: u64,
    /// Most bytes of audio one stream may deliver.
    pub max_bytes: u64,
    /// Server-sent events carrying base64 audio, decoded when the answer is
    /// `text/event-stream` (OpenAI's `stream_format: sse`).
    pub events: Option<AudioEvents>,
}

/// Audio inside server-sent events: each event's `data` is a JSON object whose `type_field`
/// names the event; `delta` events carry base64 audio in `audio_field`; `done` ends the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioEvents {
    /// The field naming an event's type, e.g. `"type"`.
    pub type_field: &'static str,
    /// The type of events carrying audio, e.g. `"speech.audio.delta"`.
    pub delta: &'static str,
    /// The field of a delta event holding base64 audio, e.g. `"audio"`.
    pub audio_field: &'static str,
    /// The type of the event that ends the stream, e.g. `"speech.audio.done"`.
    pub done: &'static str,
}

/// What an endpoint returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseSpec {
    /// A JSON document.
    Json,
    /// Binary audio; the content type is taken from the response, else this default.
    Audio {
        /// Content type when the response carries none.
        content_type: &'static str,
        /// How the endpoint streams its audio, when it can (`stream:` in `providers.yaml`).
        stream: Option<StreamSpec>,
    },
    /// An asynchronous job: submit, poll, fetch the result.
    Job(JobSpec),
}

impl ResponseSpec {
    /// The kind of response, without its settings.
    pub fn kind(&self) -> ResponseKind {
        match self {
            ResponseSpec::Json => ResponseKind::Json,
            ResponseSpec::Audio { .. } => ResponseKind::Audio,
            ResponseSpec::Job(_) => ResponseKind::Job,
        }
    }
}

/// How an asynchronous job is followed to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSpec {
    /// The job protocol.
    pub flow: JobFlow,
    /// Delay between two polls.
    pub poll_interval_ms: u64,
    /// Give up (with `Error::JobTimeout`) after this long.
    pub timeout_ms: u64,
}

/// Job protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobFlow {
    /// fal.ai's queue: submit returns `status_url` / `response_url`, which are followed.
    FalQueue,
    /// A task resource polled at `poll_path` (with `{task_id}`) until `task_status` is final.
    KlingTask {
        /// Poll path template containing `{task_id}`.
        poll_path: &'static str,
    },
}

impl JobFlow {
    /// The kind of flow, without its settings.
    pub fn kind(&self) -> JobFlowKind {
        match self {
            JobFlow::FalQueue => JobFlowKind::FalQueue,
            JobFlow::KlingTask { .. } => JobFlowKind::KlingTask,
        }
    }
}
