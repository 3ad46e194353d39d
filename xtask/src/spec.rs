//! The serde model of `providers.yaml`.
//!
//! Parsed with `serde-saphyr`; every struct denies unknown fields. Names and values that semantic
//! checks may complain about are wrapped in [`Spanned`] so errors can point at them. The same
//! model derives the JSON Schema in `docs/providers.schema.json` (see [`crate::schema`]).
//!
//! Policy blocks (`timeouts`, `retry`, `health`, `alerts`) are given in full under `defaults`;
//! a provider may override any subset of their fields (see [`Provider::merged_policy`]), and so
//! of the optional blocks `body_limits` and `stream`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use crate::diag::{Diagnostics, Loc};

pub use media_sdk_spec::{AuthKind, JobFlowKind, Method, PathTemplate, ResponseKind};

/// Parses `text` (the content of the file named `file`) into a [`Spec`].
///
/// A YAML syntax error comes back as one diagnostic with the position serde-saphyr reports.
/// A shape error (unknown or missing field, wrong type) names the field and the value found,
/// and comes with the first shape error of every other block (see [`crate::shape`]).
/// Duplicate mapping keys are accepted here and reported by [`crate::validate`].
pub fn parse(file: &str, text: &str) -> Result<Spec, Diagnostics> {
    crate::shape::from_str(text)
        .map_err(|err| Diagnostics::new(file, crate::shape::diagnose(text, &err)))
}

/// A value with the position (1-based line and column) of the YAML node it came from.
///
/// Transparent in the JSON Schema: it has the schema of `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is in the spec file.
    pub loc: Loc,
}

impl<T> Spanned<T> {
    /// Wraps `value` found at `loc`.
    pub fn new(value: T, loc: Loc) -> Self {
        Self { value, loc }
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Self {
            value: spanned.value,
            loc: Loc {
                line: spanned.referenced.line(),
                column: spanned.referenced.column(),
            },
        })
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A YAML mapping with string keys, in source order. Duplicate keys are kept (and reported by
/// validation); every key carries its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Map<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for Map<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Map<V> {
    /// Entries in source order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Spanned<String>, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    /// The first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Map<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = Map<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map<V>, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(entry) = access.next_entry::<Spanned<String>, V>()? {
                    entries.push(entry);
                }
                Ok(Map(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for Map<V> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let values = generator.subschema_for::<V>();
        json_schema!({
            "type": "object",
            "additionalProperties": values,
        })
    }
}

/// The whole `providers.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "media-sdk providers.yaml")]
pub struct Spec {
    /// Format version of this file; must be 1.
    pub version: Spanned<u32>,
    /// Policy applied to every provider unless the provider overrides some of its fields.
    pub defaults: Defaults,
    /// Providers by id (a lowercase Rust identifier: the module and `Sdk` accessor name).
    pub providers: Map<Provider>,
    /// The provider-neutral media capabilities: per capability, the candidate endpoints and
    /// how the unified request maps onto each (optional; a capability left out has no
    /// candidates).
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// Policy blocks applied to every provider.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Connection and request timeouts.
    pub timeouts: Timeouts,
    /// Retry, backoff and rate-limit waiting policy.
    pub retry: Retry,
    /// Rules turning health metrics into a status.
    pub health: Health,
    /// Alert thresholds.
    pub alerts: Alerts,
    /// Most bytes read from response bodies (optional; see [`BodyLimits`] for the defaults).
    #[serde(default)]
    pub body_limits: Option<BodyLimits>,
    /// Bounds of streamed audio (optional; see [`StreamLimits`] for the defaults).
    #[serde(default)]
    pub stream: Option<StreamLimits>,
}

impl Defaults {
    /// The default body limits (fields left out stay `None`: the built-in defaults apply).
    pub fn body_limits(&self) -> BodyLimits {
        self.body_limits.clone().unwrap_or(BodyLimits {
            json_bytes: None,
            audio_bytes: None,
            error_bytes: None,
        })
    }

    /// The default stream limits (fields left out stay `None`: the built-in defaults apply).
    pub fn stream(&self) -> StreamLimits {
        self.stream.clone().unwrap_or(StreamLimits {
            idle_timeout_ms: None,
            max_bytes: None,
        })
    }
}

/// Defines a complete policy block, its all-optional override and the merge of the two.
macro_rules! policy_block {
    (
        $(#[$meta:meta])*
        $name:ident / $override:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty, )*
            $( @optional {
                $( $(#[$opt_meta:meta])* $opt:ident : $opt_ty:ty, )*
            } )?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: Spanned<$ty>, )*
            $( $( $(#[$opt_meta])* #[serde(default)] pub $opt: Option<Spanned<$opt_ty>>, )* )?
        }

        #[doc = concat!("A provider's override of some fields of [`", stringify!($name), "`].")]
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $override {
            $( $(#[$field_meta])* #[serde(default)] pub $field: Option<Spanned<$ty>>, )*
            $( $( $(#[$opt_meta])* #[serde(default)] pub $opt: Option<Spanned<$opt_ty>>, )* )?
        }

        impl $name {
            /// These values with the fields set in `over` replaced.
            pub fn merged(&self, over: Option<&$override>) -> Self {
                Self {
                    $( $field: over
                        .and_then(|o| o.$field.clone())
                        .unwrap_or_else(|| self.$field.clone()), )*
                    $( $( $opt: over
                        .and_then(|o| o.$opt.clone())
                        .or_else(|| self.$opt.clone()), )* )?
                }
            }
        }
    };
}

policy_block! {
    /// Connection and request timeouts.
    Timeouts / TimeoutsOverride {
        /// TCP/TLS connect timeout in milliseconds.
        connect_ms: u64,
        /// Timeout of one HTTP exchange in milliseconds.
        request_ms: u64,
    }
}

policy_block! {
    /// Retry, backoff and rate-limit waiting policy.
    Retry / RetryOverride {
        /// Attempts per call for transient failures (5xx, timeouts, connection errors).
        max_attempts: u32,
        /// First backoff delay in milliseconds.
        base_delay_ms: u64,
        /// Upper bound of one backoff delay in milliseconds.
        max_delay_ms: u64,
        /// Overall budget for one call, waits included, in milliseconds.
        deadline_ms: u64,
        /// Cool-down of a key after a 429 without a reset hint, in milliseconds.
        default_cooldown_ms: u64,
        /// Longest wait for a cooling key before failing with `RateLimited`, in milliseconds.
        max_wait_ms: u64,
        /// HTTP statuses retried with backoff (429 and 503 always are).
        retry_statuses: Vec<u16>,
        /// Whether request timeouts are retried.
        retry_timeouts: bool,
        @optional {
            /// Ceiling of every cool-down in milliseconds, whatever the provider's reset hint
            /// says; also caps cool-downs shared through DynamoDB (default 600000).
            max_cooldown_ms: u64,
            /// Cool-down in milliseconds after a 429 whose hint is zero, in the past or
            /// unreadable (default 1000).
            min_cooldown_ms: u64,
            /// Most calls of one provider waiting for a key at once; a call arriving at a full
            /// queue fails at once with `RateLimited` (default 256).
            max_queue: u32,
        }
    }
}

/// Default of `retry.max_cooldown_ms`: ten minutes.
pub const DEFAULT_MAX_COOLDOWN_MS: u64 = 600_000;
/// Default of `retry.min_cooldown_ms`: one second.
pub const DEFAULT_MIN_COOLDOWN_MS: u64 = 1000;
/// Default of `retry.max_queue`.
pub const DEFAULT_MAX_QUEUE: u32 = 256;

policy_block! {
    /// Most bytes read from a provider's response bodies. Every field is optional.
    BodyLimits / BodyLimitsOverride {
        @optional {
            /// JSON documents (JSON endpoints, job submit, status and result answers), in bytes
            /// (default 16777216, 16 MiB).
            json_bytes: u64,
            /// Audio bodies, in bytes (default 33554432, 32 MiB: about 11 minutes of 24 kHz
            /// 16-bit PCM or 35 minutes of 128 kbit/s MP3).
            audio_bytes: u64,
            /// Error bodies (non-2xx answers), in bytes (default 65536, 64 KiB); a longer error
            /// body is cut there.
            error_bytes: u64,
        }
    }
}

/// Default of `body_limits.json_bytes`: 16 MiB.
pub const DEFAULT_JSON_BODY_BYTES: u64 = 16 << 20;
/// Default of `body_limits.audio_bytes`: 32 MiB.
pub const DEFAULT_AUDIO_BODY_BYTES: u64 = 32 << 20;
/// Default of `body_limits.error_bytes`: 64 KiB.
pub const DEFAULT_ERROR_BODY_BYTES: u64 = 64 << 10;

policy_block! {
    /// Bounds of a streamed audio answer, used instead of the buffered call's request timeout
    /// and `body_limits.audio_bytes`. Every field is optional; an endpoint's `stream` block may
    /// set its own.
    StreamLimits / StreamLimitsOverride {
        @optional {
            /// Longest wait for the next chunk (and for the first one after the headers), in
            /// milliseconds, before the stream fails (default 10000).
            idle_timeout_ms: u64,
            /// Most bytes of audio one stream may deliver (default 536870912, 512 MiB: about
            /// 3 hours of 24 kHz 16-bit PCM).
            max_bytes: u64,
        }
    }
}

/// Defaults of `stream.idle_timeout_ms` and `stream.max_bytes` (shared with the derive).
pub use media_sdk_spec::{DEFAULT_STREAM_IDLE_TIMEOUT_MS, DEFAULT_STREAM_MAX_BYTES};

policy_block! {
    /// Alert thresholds.
    Alerts / AlertsOverride {
        /// Alert when a provider sees more rate limits than this per hour.
        rate_limits_per_hour: u32,
        /// Alert when the average latency over the window exceeds this, in milliseconds.
        avg_latency_ms: u64,
        /// Alert when the success rate over the window falls below this (0 to 1).
        success_rate: f64,
    }
}

policy_block! {
    /// When a provider is degraded.
    Degraded / DegradedOverride {
        /// Degraded when the success rate is below this (0 to 1).
        success_rate_below: f64,
        /// Degraded when the average latency is above this, in milliseconds.
        avg_latency_ms_above: u64,
    }
}

policy_block! {
    /// When a provider is down.
    Down / DownOverride {
        /// Down when the success rate is below this (0 to 1).
        success_rate_below: f64,
    }
}

/// Rules turning health metrics over a rolling window into a status.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The rolling window, in seconds.
    pub window_secs: Spanned<u64>,
    /// A provider with fewer requests than this in the window is `unknown`.
    pub min_requests: Spanned<u64>,
    /// When a provider is degraded.
    pub degraded: Degraded,
    /// When a provider is down.
    pub down: Down,
}

/// A provider's override of some fields of [`Health`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthOverride {
    /// The rolling window, in seconds.
    #[serde(default)]
    pub window_secs: Option<Spanned<u64>>,
    /// A provider with fewer requests than this in the window is `unknown`.
    #[serde(default)]
    pub min_requests: Option<Spanned<u64>>,
    /// When a provider is degraded.
    #[serde(default)]
    pub degraded: Option<DegradedOverride>,
    /// When a provider is down.
    #[serde(default)]
    pub down: Option<DownOverride>,
}

impl Health {
    /// These rules with the fields set in `over` replaced.
    pub fn merged(&self, over: Option<&HealthOverride>) -> Self {
        Self {
            window_secs: over
                .and_then(|o| o.window_secs.clone())
                .unwrap_or_else(|| self.window_secs.clone()),
            min_requests: over
                .and_then(|o| o.min_requests.clone())
                .unwrap_or_else(|| self.min_requests.clone()),
            degraded: self.degraded.merged(over.and_then(|o| o.degraded.as_ref())),
            down: self.down.merged(over.and_then(|o| o.down.as_ref())),
        }
    }
}

/// The policy of one provider: defaults merged with its overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Retry policy.
    pub retry: Retry,
    /// Health rules.
    pub health: Health,
    /// Alert thresholds.
    pub alerts: Alerts,
    /// Body size limits.
    pub body_limits: BodyLimits,
    /// Bounds of streamed audio.
    pub stream: StreamLimits,
}

/// One provider.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Human-readable name, e.g. `OpenAI`.
    pub name: Spanned<String>,
    /// What the provider offers (the generated module's documentation).
    #[serde(default)]
    pub description: Option<String>,
    /// Rust name of the generated client struct; defaults to the provider id in PascalCase.
    #[serde(default)]
    pub client: Option<Spanned<String>>,
    /// Default base URL.
    pub base_url: Spanned<String>,
    /// Environment variable overriding `base_url` at run time.
    pub base_url_env: Spanned<String>,
    /// How a key is presented to the provider.
    pub auth: Spanned<Auth>,
    /// Where the key pool comes from.
    pub keys: Keys,
    /// A JSON envelope wrapping every response, if any.
    #[serde(default)]
    pub envelope: Option<Envelope>,
    /// How error bodies are read and classified.
    pub errors: Errors,
    /// Overrides of `defaults.timeouts`.
    #[serde(default)]
    pub timeouts: Option<TimeoutsOverride>,
    /// Overrides of `defaults.retry`.
    #[serde(default)]
    pub retry: Option<RetryOverride>,
    /// Overrides of `defaults.health`.
    #[serde(default)]
    pub health: Option<HealthOverride>,
    /// Overrides of `defaults.alerts`.
    #[serde(default)]
    pub alerts: Option<AlertsOverride>,
    /// Overrides of `defaults.body_limits`.
    #[serde(default)]
    pub body_limits: Option<BodyLimitsOverride>,
    /// Overrides of `defaults.stream`.
    #[serde(default)]
    pub stream: Option<StreamLimitsOverride>,
    /// Origins (`scheme://host[:port]`) besides the base URL's that URLs given by the provider
    /// (fal's `status_url`, `response_url`) may point at; such a URL is re-rooted onto the
    /// configured base URL. A URL on any other origin is refused. Default: none.
    #[serde(default)]
    pub allowed_origins: Vec<Spanned<String>>,
    /// Limits of one key, when the provider publishes them (OpenAI requests per minute per
    /// tier, ElevenLabs and fal concurrency per account): enforced locally, so known limits
    /// cost no 429. Optional; unset limits are learned from the provider's answers.
    #[serde(default)]
    pub limits: Option<KeyLimits>,
    /// Endpoints by id (a lowercase Rust identifier: the client method name).
    pub endpoints: Map<Endpoint>,
}

impl Provider {
    /// The defaults with this provider's overrides applied.
    pub fn merged_policy(&self, defaults: &Defaults) -> Policy {
        Policy {
            timeouts: defaults.timeouts.merged(self.timeouts.as_ref()),
            retry: defaults.retry.merged(self.retry.as_ref()),
            health: defaults.health.merged(self.health.as_ref()),
            alerts: defaults.alerts.merged(self.alerts.as_ref()),
            body_limits: defaults.body_limits().merged(self.body_limits.as_ref()),
            stream: defaults.stream().merged(self.stream.as_ref()),
        }
    }
}

/// Limits of one key. Every field is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    /// Requests per minute one key may make.
    #[serde(default)]
    pub requests_per_minute: Option<Spanned<u32>>,
    /// Requests one key may start at once, above its steady rate (default: one second's worth
    /// of `requests_per_minute`, at least 1).
    #[serde(default)]
    pub burst: Option<Spanned<u32>>,
    /// Requests one key may have in flight at once.
    #[serde(default)]
    pub concurrent: Option<Spanned<u32>>,
}

/// How a key is presented to the provider.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `bearer` (`Authorization: Bearer <key>`), `header` (`<header>: <key>`), `fal_key`
    /// (`Authorization: Key <key>`) or `kling_jwt` (an HS256 JWT from an `access:secret` pair).
    pub kind: Spanned<AuthKind>,
    /// Header name (kind `header` only).
    #[serde(default)]
    pub header: Option<Spanned<String>>,
    /// Token lifetime in seconds (kind `kling_jwt` only; default 1800).
    #[serde(default)]
    pub ttl_secs: Option<Spanned<u64>>,
}

/// A provider's key pool: environment variables by default, or a secret (`source`); how often
/// it is re-read and what one key may spend per day.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Comma-separated pool variable, e.g. `OPENAI_API_KEYS`.
    pub env: Spanned<String>,
    /// Legacy single-key variable, used when `env` is absent.
    #[serde(default)]
    pub legacy_env: Option<Spanned<String>>,
    /// Recommended pool size; a smaller pool logs one warning.
    pub recommended_pool: Pool,
    /// Where the keys are read from instead of `env` (default: the environment variables).
    #[serde(default)]
    pub source: Option<KeysSource>,
    /// How often a running SDK re-reads the keys, in seconds (default 300).
    #[serde(default)]
    pub reload_secs: Option<Spanned<u64>>,
    /// What one key may spend per UTC day (default: no limit).
    #[serde(default)]
    pub daily_budget: Option<DailyBudget>,
}

/// A key source other than the environment.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysSource {
    /// `secrets_manager`: an AWS Secrets Manager secret.
    pub kind: Spanned<KeysSourceKind>,
    /// Secret name or ARN; `{stage}` is replaced by the value of `stage_env`.
    pub secret: Spanned<String>,
    /// JSON field holding the comma-separated keys (a string or an array of strings); absent:
    /// the whole secret string.
    #[serde(default)]
    pub field: Option<Spanned<String>>,
    /// Variable naming the stage (default `MEDIA_SDK_STAGE`).
    #[serde(default)]
    pub stage_env: Option<Spanned<String>>,
    /// Variable that, when set, names the secret instead of `secret`.
    #[serde(default)]
    pub override_env: Option<Spanned<String>>,
}

/// Kinds of key source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeysSourceKind {
    /// AWS Secrets Manager (`secretsmanager:GetSecretValue`).
    SecretsManager,
}

/// A per-key daily budget: exactly one of `credits` or `calls`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyBudget {
    /// Credits per key per UTC day.
    #[serde(default)]
    pub credits: Option<Spanned<u64>>,
    /// Successful calls per key per UTC day.
    #[serde(default)]
    pub calls: Option<Spanned<u64>>,
}

/// A recommended pool size range.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Recommended minimum number of keys (at least 1).
    pub min: Spanned<u32>,
    /// Recommended maximum number of keys.
    pub max: Spanned<u32>,
}

/// A JSON envelope around every response body, such as Kling's `{"code", "message", "data"}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// JSON pointer to the status code.
    pub code: Spanned<String>,
    /// The code value meaning success.
    pub ok: i64,
    /// JSON pointer to the message.
    pub message: Spanned<String>,
    /// JSON pointer to the payload.
    pub data: Spanned<String>,
}

/// How error bodies are read and classified. Pointers are JSON pointers tried in order; codes
/// are compared as strings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    /// Where the human-readable message is.
    pub message: Vec<Spanned<String>>,
    /// Where the machine-readable code is.
    pub code: Vec<Spanned<String>>,
    /// Codes meaning "this key is rate limited": cool the key down and rotate.
    #[serde(default)]
    pub rate_limited: Vec<String>,
    /// Codes meaning "this key is unusable": quarantine it.
    #[serde(default)]
    pub quarantine: Vec<String>,
    /// Codes meaning "the provider is busy for everyone": back off without rotating.
    #[serde(default)]
    pub busy: Vec<String>,
    /// Extra codes that are safe to retry with backoff.
    #[serde(default)]
    pub retryable: Vec<String>,
}

/// One endpoint of a provider.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// What the endpoint does (the client method's documentation).
    #[serde(default)]
    pub description: Option<String>,
    /// Id health metrics are recorded under, unique across all providers.
    pub health_id: Spanned<String>,
    /// HTTP method.
    pub method: Spanned<Method>,
    /// Path relative to the base URL, starting with `/`, with a `{param}` placeholder (a whole
    /// path segment) for each `in: path` field.
    pub path: Spanned<String>,
    /// Rust name of the generated request struct.
    pub request: Spanned<String>,
    /// A valid request (what `cargo xtask demo` sends), checked against `fields` and `rules`.
    /// Optional: the default is the request made of the required fields' defaults, so an
    /// endpoint with a required field that has no default must give one.
    #[serde(default)]
    pub example_request: Option<Spanned<JsonNode>>,
    /// What the endpoint returns.
    pub response: Spanned<Response>,
    /// Request fields by wire name, in the order they are generated.
    #[serde(default)]
    pub fields: Map<Field>,
    /// Cross-field limits, checked by the generated `Validate` impl.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// What an endpoint returns.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// `audio`, `json` or `job`.
    pub kind: Spanned<ResponseKind>,
    /// Content type when the response carries none (`audio` only; default
    /// `application/octet-stream`).
    #[serde(default)]
    pub content_type: Option<Spanned<String>>,
    /// Rust name of the output document type (`json` and `job`).
    #[serde(default, rename = "type")]
    pub type_name: Option<Spanned<String>>,
    /// Fields of the output document (`json` and `job`).
    #[serde(default)]
    pub fields: Map<Field>,
    /// A realistic output document, used by the simulator and exported as a constant.
    #[serde(default)]
    pub example: Option<Spanned<serde_json::Value>>,
    /// The job protocol (`job` only).
    #[serde(default)]
    pub flow: Option<Spanned<JobFlowKind>>,
    /// Poll path containing `{task_id}` (`kling_task` only).
    #[serde(default)]
    pub poll_path: Option<Spanned<String>>,
    /// Delay between two polls in milliseconds (`job` only; default 1000).
    #[serde(default)]
    pub poll_interval_ms: Option<Spanned<u64>>,
    /// Give up after this many milliseconds (`job` only; default 600000).
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Most bytes read from a successful answer, overriding the provider's `body_limits` for
    /// this endpoint (for a job: its submit, status and result answers).
    #[serde(default)]
    pub max_bytes: Option<Spanned<u64>>,
    /// The endpoint can also stream its audio (`audio` only): a `<endpoint>_stream` client
    /// method returns chunks as they arrive.
    #[serde(default)]
    pub stream: Option<Spanned<Stream>>,
}

/// How an audio endpoint streams. `stream: {}` streams from the endpoint's own path with the
/// provider's stream limits.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// Path template of the streaming variant when the provider uses another one, with the
    /// same `{param}` placeholders as the endpoint's path (ElevenLabs'
    /// `/v1/text-to-speech/{voice_id}/stream`); default: the endpoint's own path.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// Longest wait for the next chunk in milliseconds, overriding the provider's
    /// `stream.idle_timeout_ms` for this endpoint.
    #[serde(default)]
    pub idle_timeout_ms: Option<Spanned<u64>>,
    /// Most bytes of audio one stream may deliver, overriding the provider's
    /// `stream.max_bytes` for this endpoint.
    #[serde(default)]
    pub max_bytes: Option<Spanned<u64>>,
    /// Server-sent events carrying base64 audio, decoded when the answer is
    /// `text/event-stream` (OpenAI's `stream_format: sse`); default: none, the body is audio.
    #[serde(default)]
    pub events: Option<Spanned<AudioEvents>>,
}

impl Stream {
    /// The stream's idle timeout and byte cap: its own, else the provider's, else the
    /// built-in defaults.
    pub fn limits(&self, provider: &StreamLimits) -> (u64, u64) {
        let pick = |own: &Option<Spanned<u64>>, policy: &Option<Spanned<u64>>, default| {
            own.as_ref()
                .or(policy.as_ref())
                .map_or(default, |v| v.value)
        };
        (
            pick(
                &self.idle_timeout_ms,
                &provider.idle_timeout_ms,
                DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            ),
            pick(
                &self.max_bytes,
                &provider.max_bytes,
                DEFAULT_STREAM_MAX_BYTES,
            ),
        )
    }
}

/// Audio inside server-sent events: each event's `data` is a JSON object whose `type_field`
/// names the event; `delta` events carry base64 audio in `audio_field`; `done` ends the stream.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioEvents {
    /// The field naming an event's type, e.g. `type`.
    pub type_field: Spanned<String>,
    /// The type of the events carrying audio, e.g. `speech.audio.delta`.
    pub delta: Spanned<String>,
    /// The field of a delta event holding base64 audio, e.g. `audio`.
    pub audio_field: Spanned<String>,
    /// The type of the event that ends the stream, e.g. `speech.audio.done`.
    pub done: Spanned<String>,
}

/// Default delay between two polls of a job.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 1000;
/// Default job timeout.
pub const DEFAULT_JOB_TIMEOUT_MS: u64 = 600_000;

/// Field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// `String`.
    String,
    /// `u32`, `u64` or `i64`, whichever fits `min` and `max`.
    Integer,
    /// `f64`.
    Number,
    /// `bool`.
    Boolean,
    /// A generated enum (`name`, `values`, optionally `names`, `open`, `custom`).
    Enum,
    /// A generated struct (`name`, `fields`).
    Object,
    /// `Vec<T>` of `items`.
    Array,
    /// Any JSON value (`serde_json::Value`).
    Json,
}

impl FieldType {
    /// The name used in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Enum => "enum",
            FieldType::Object => "object",
            FieldType::Array => "array",
            FieldType::Json => "json",
        }
    }
}

/// Where a request field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamIn {
    /// The JSON body (the default).
    Body,
    /// A `{param}` of the path.
    Path,
    /// The query string.
    Query,
}

/// One field of a request, response or nested object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// What the field is (its documentation).
    #[serde(default)]
    pub description: Option<String>,
    /// The field's type.
    #[serde(rename = "type")]
    pub ty: Spanned<FieldType>,
    /// Where a request field goes (top-level request fields only; default `body`).
    #[serde(default, rename = "in")]
    pub location: Option<Spanned<ParamIn>>,
    /// Whether the field must be present (otherwise it is an `Option`).
    #[serde(default)]
    pub required: bool,
    /// The provider's default (documented; a required field starts with it in `Default`, and
    /// rules use it when an optional field is absent).
    #[serde(default)]
    pub default: Option<Spanned<serde_json::Value>>,
    /// Smallest allowed value (integer and number).
    #[serde(default)]
    pub min: Option<Spanned<serde_json::Number>>,
    /// Largest allowed value (integer and number).
    #[serde(default)]
    pub max: Option<Spanned<serde_json::Number>>,
    /// Fewest characters (string).
    #[serde(default)]
    pub min_length: Option<Spanned<u64>>,
    /// Most characters (string; counted in Unicode scalar values, not bytes).
    #[serde(default)]
    pub max_length: Option<Spanned<u64>>,
    /// Most items (array).
    #[serde(default)]
    pub max_items: Option<Spanned<u64>>,
    /// Rust name of the generated type (enum and object). An enum field without `values`
    /// refers to the enum of that name declared (with `values`) on another field of the same
    /// provider, and uses that type.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Wire values (enum); absent on a field that refers to an enum declared elsewhere.
    #[serde(default)]
    pub values: Option<Spanned<Vec<Spanned<String>>>>,
    /// Variant names by wire value, where the derived PascalCase name is not wanted (enum).
    #[serde(default)]
    pub names: Option<Map<Spanned<String>>>,
    /// Accept and keep unknown values in an `Other(String)` variant (enum).
    #[serde(default)]
    pub open: bool,
    /// A variant carrying an object instead of a wire string (enum).
    #[serde(default)]
    pub custom: Option<Custom>,
    /// Fields of the object (object).
    #[serde(default)]
    pub fields: Option<Map<Field>>,
    /// The item type (array).
    #[serde(default)]
    pub items: Option<Box<Field>>,
    /// On an enum field that refers to an enum declared elsewhere: where the declaration's
    /// name is. Set by [`crate::validate::resolve_shared_enums`], which also copies the
    /// declaration's values, names, `open` and `custom`; codegen declares the type only once.
    #[serde(skip)]
    #[schemars(skip)]
    pub declared_at: Option<Loc>,
}

/// An enum variant carrying an object, serialized as that object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Custom {
    /// The variant name, e.g. `Custom`.
    pub variant: Spanned<String>,
    /// The object's fields.
    pub fields: Map<Field>,
}

/// A limit that depends on the value of an enum field (typically the model).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// When the rule applies.
    pub when: When,
    /// Allowed values of other enum fields, by field.
    #[serde(default)]
    pub allow: Map<Vec<Spanned<String>>>,
    /// Largest values of numeric fields, by field.
    #[serde(default)]
    pub max: Map<Spanned<serde_json::Number>>,
    /// Most characters of string fields, by field.
    #[serde(default)]
    pub max_length: Map<Spanned<u64>>,
    /// Optional fields that must be absent.
    #[serde(default)]
    pub forbid: Vec<Spanned<String>>,
}

/// The condition of a [`Rule`]: the effective value (value, else default) of an enum field is
/// one of the listed values.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The enum field.
    pub field: Spanned<String>,
    /// Its wire values for which the rule applies.
    #[serde(rename = "in")]
    pub values: Vec<Spanned<String>>,
}

/// The Rust integer type of an `integer` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    /// `0 <= min` and `max <= u32::MAX`.
    U32,
    /// `0 <= min`, no `max` or a larger one.
    U64,
    /// Anything else.
    I64,
}

impl IntType {
    /// The type's name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntType::U32 => "u32",
            IntType::U64 => "u64",
            IntType::I64 => "i64",
        }
    }
}

/// One variant of a generated enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The wire value.
    pub wire: String,
    /// The Rust variant name (from `names`, else derived from the wire value); `None` when
    /// no name can be derived.
    pub name: Option<String>,
    /// Where the wire value is.
    pub loc: Loc,
}

impl Field {
    /// The Rust integer type: `u32` when `0 <= min` and `max <= u32::MAX`, `u64` when
    /// `0 <= min` otherwise, else `i64`.
    pub fn int_type(&self) -> IntType {
        let min = self.min.as_ref().and_then(|m| m.as_f64());
        let max = self.max.as_ref().and_then(|m| m.as_f64());
        match (min, max) {
            (Some(min), Some(max)) if min >= 0.0 && max <= f64::from(u32::MAX) => IntType::U32,
            (Some(min), _) if min >= 0.0 => IntType::U64,
            _ => IntType::I64,
        }
    }

    /// The known variants of an enum field, in spec order.
    pub fn variants(&self) -> Vec<Variant> {
        let Some(values) = &self.values else {
            return Vec::new();
        };
        values
            .iter()
            .map(|v| {
                let name = self
                    .names
                    .as_ref()
                    .and_then(|n| n.get(&v.value))
                    .map(|n| n.value.clone())
                    .or_else(|| crate::names::pascal_case(&v.value));
                Variant {
                    wire: v.value.clone(),
                    name,
                    loc: v.loc,
                }
            })
            .collect()
    }

    /// Whether the field is sent in the path.
    pub fn is_path(&self) -> bool {
        matches!(self.location.as_ref().map(|l| l.value), Some(ParamIn::Path))
    }

    /// Whether the field is sent in the query string.
    pub fn is_query(&self) -> bool {
        matches!(
            self.location.as_ref().map(|l| l.value),
            Some(ParamIn::Query)
        )
    }
}

impl Endpoint {
    /// The example request as compact JSON: `example_request`, else the object of the
    /// required fields' defaults, in field order (validation makes sure every required field
    /// has one then).
    pub fn example_request_json(&self) -> String {
        match &self.example_request {
            Some(example) => self.with_required_defaults(&example.value.to_json_text()),
            None => self.with_required_defaults("{}"),
        }
    }

    /// `object` (JSON object text) with every required field that has a default and is absent
    /// from it added, with that default: what the typed request's `new()` fills in, and what
    /// decoding a JSON request (the data path of the facade and the demo) would otherwise
    /// refuse as missing.
    pub fn with_required_defaults(&self, object: &str) -> String {
        let present: std::collections::BTreeSet<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(object)
                .map(|map| map.keys().cloned().collect())
                .unwrap_or_default();
        let added: Vec<String> = self
            .fields
            .iter()
            .filter(|(name, f)| f.required && !present.contains(name.value.as_str()))
            .filter_map(|(name, f)| {
                let default = f.default.as_ref()?;
                Some(format!(
                    "{}:{}",
                    serde_json::Value::from(name.value.as_str()),
                    default.value
                ))
            })
            .collect();
        if added.is_empty() {
            return object.to_owned();
        }
        let body = object
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim();
        let separator = if body.is_empty() { "" } else { "," };
        format!("{{{body}{separator}{}}}", added.join(","))
    }

    /// The path, parsed (validation reports a malformed one).
    pub fn template(&self) -> Result<PathTemplate, media_sdk_spec::TemplateError> {
        PathTemplate::parse(&self.path.value)
    }
}

/// A JSON value written in YAML, with the position of every node and key (example requests,
/// capability templates), so checks can point inside it. Mapping keys keep their source order.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonNode {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// A sequence.
    Array(Vec<Spanned<JsonNode>>),
    /// A mapping (string keys), entries in source order.
    Object(Vec<(Spanned<String>, Spanned<JsonNode>)>),
}

impl JsonNode {
    /// The value as compact JSON text, keys in source order.
    pub fn to_json_text(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            JsonNode::Null => out.push_str("null"),
            JsonNode::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonNode::Number(n) => out.push_str(&n.to_string()),
            JsonNode::String(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
            JsonNode::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.value.write_json(out);
                }
                out.push(']');
            }
            JsonNode::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::from(key.value.as_str()).to_string());
                    out.push(':');
                    value.value.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            JsonNode::Null => Value::Null,
            JsonNode::Bool(b) => Value::Bool(*b),
            JsonNode::Number(n) => Value::Number(n.clone()),
            JsonNode::String(s) => Value::String(s.clone()),
            JsonNode::Array(items) => items.iter().map(|i| i.value.to_value()).collect(),
            JsonNode::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.to_value()))
                    .collect(),
            ),
        }
    }

    /// The entries of an object (`None` for any other value).
    pub fn entries(&self) -> Option<&[(Spanned<String>, Spanned<JsonNode>)]> {
        match self {
            JsonNode::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of key `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Spanned<JsonNode>> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, v)| v)
    }

    /// A scalar as the text it compares as (strings as themselves, numbers and booleans as
    /// written); `None` for null, arrays and objects.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            JsonNode::String(s) => Some(s.clone()),
            JsonNode::Number(n) => Some(n.to_string()),
            JsonNode::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The input named by a placeholder: a string that is exactly `"{name}"`, `name` made of
    /// lowercase letters, digits and `_`.
    pub fn placeholder(&self) -> Option<&str> {
        let JsonNode::String(s) = self else {
            return None;
        };
        let name = s.strip_prefix('{')?.strip_suffix('}')?;
        (!name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .then_some(name)
    }
}

impl<'de> Deserialize<'de> for JsonNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = JsonNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<JsonNode, E> {
                Ok(JsonNode::Null)
            }
            fn visit_none<E>(self) -> Result<JsonNode, E> {
                Ok(JsonNode::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsonNode, D::Error> {
                JsonNode::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<JsonNode, E> {
                Ok(JsonNode::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<JsonNode, E> {
                Ok(JsonNode::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<JsonNode, E> {
                Ok(JsonNode::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<JsonNode, E> {
                serde_json::Number::from_f64(v)
                    .map(JsonNode::Number)
                    .ok_or_else(|| E::custom(format!("{v} is not a JSON number")))
            }
            fn visit_str<E>(self, v: &str) -> Result<JsonNode, E> {
                Ok(JsonNode::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<JsonNode, E> {
                Ok(JsonNode::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<JsonNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = access.next_element()? {
                    items.push(item);
                }
                Ok(JsonNode::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<JsonNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = access.next_entry()? {
                    entries.push(entry);
                }
                Ok(JsonNode::Object(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl JsonSchema for JsonNode {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "JsonValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({})
    }
}

/// The media capabilities (`capabilities:`). Every capability is optional: one left out has
/// no candidates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Text to speech. Inputs: `text`, `voice`, `speed` (default 1.0). Endpoints: audio.
    #[serde(default)]
    pub tts: Option<Capability>,
    /// Images. Inputs: `prompt`, `size`, `quality` (and `model`, which selects a model).
    /// Endpoints: json or job.
    #[serde(default)]
    pub image: Option<Capability>,
    /// Video. Inputs: `prompt`, `duration`, `aspect_ratio` (and `model`). Endpoints: job.
    #[serde(default)]
    pub video: Option<Capability>,
    /// Sound and music. Inputs: `prompt`, `duration` (and `model`). Endpoints: job, json or
    /// audio.
    #[serde(default)]
    pub sound: Option<Capability>,
}

impl Capabilities {
    /// Every capability declared, with its kind, in the order tts, image, video, sound.
    pub fn iter(&self) -> impl Iterator<Item = (CapabilityKind, &Capability)> {
        [
            (CapabilityKind::Tts, &self.tts),
            (CapabilityKind::Image, &self.image),
            (CapabilityKind::Video, &self.video),
            (CapabilityKind::Sound, &self.sound),
        ]
        .into_iter()
        .filter_map(|(kind, cap)| cap.as_ref().map(|c| (kind, c)))
    }
}

/// The four capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapabilityKind {
    /// Text to speech.
    Tts,
    /// Images.
    Image,
    /// Video.
    Video,
    /// Sound and music.
    Sound,
}

impl CapabilityKind {
    /// Every kind, in table order.
    pub const ALL: [CapabilityKind; 4] = [
        CapabilityKind::Tts,
        CapabilityKind::Image,
        CapabilityKind::Video,
        CapabilityKind::Sound,
    ];

    /// The name used in the spec (`tts`, `image`, `video`, `sound`).
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityKind::Tts => "tts",
            CapabilityKind::Image => "image",
            CapabilityKind::Video => "video",
            CapabilityKind::Sound => "sound",
        }
    }

    /// The unified inputs a template may name, each with whether it is always present (so a
    /// placeholder of it always gives a value). `model` is not one: it selects a model.
    pub fn inputs(self) -> &'static [(&'static str, bool)] {
        match self {
            CapabilityKind::Tts => &[("text", true), ("voice", true), ("speed", false)],
            CapabilityKind::Image => &[("prompt", true), ("size", false), ("quality", false)],
            CapabilityKind::Video => &[
                ("prompt", true),
                ("duration", false),
                ("aspect_ratio", false),
            ],
            CapabilityKind::Sound => &[("prompt", true), ("duration", false)],
        }
    }

    /// The response kinds an endpoint of this capability may have.
    pub fn response_kinds(self) -> &'static [ResponseKind] {
        match self {
            CapabilityKind::Tts => &[ResponseKind::Audio],
            CapabilityKind::Image => &[ResponseKind::Json, ResponseKind::Job],
            CapabilityKind::Video => &[ResponseKind::Job],
            CapabilityKind::Sound => &[ResponseKind::Job, ResponseKind::Json, ResponseKind::Audio],
        }
    }
}

/// One capability: its candidate endpoints in preference order.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    /// How candidates are ordered per request: `fastest_healthy` (default; by the health
    /// monitor, fastest healthy first, ties in declared order) or `in_order` (declared order).
    /// Either way the next candidate is tried when one fails.
    #[serde(default)]
    pub fallback: Option<Spanned<FallbackPolicy>>,
    /// The candidate endpoints, in preference order.
    #[serde(default)]
    pub endpoints: Vec<CapabilityEntry>,
}

/// How the candidates of a capability are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FallbackPolicy {
    /// Fastest healthy first, by the health monitor (the default).
    FastestHealthy,
    /// The declared order.
    InOrder,
}

/// One candidate endpoint of a capability.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityEntry {
    /// The endpoint, as `provider.endpoint`.
    pub endpoint: Spanned<String>,
    /// Template of the endpoint's request: a JSON object of its fields, where a string that is
    /// exactly `"{input}"` is replaced by that unified input, or left out with its key when
    /// the input is absent or at its default; an object left empty is left out too. Default
    /// `{}`.
    #[serde(default)]
    pub request: Option<Spanned<JsonNode>>,
    /// Credits per call (tts) or per output item (image, video, sound) when the model does not
    /// say otherwise (default 1).
    #[serde(default)]
    pub credits: Option<Spanned<u32>>,
    /// How the unified voice maps onto the endpoint's voice field (tts only).
    #[serde(default)]
    pub voices: Option<Spanned<VoicesSpec>>,
    /// The models this entry serves, by canonical name, in order (image, video, sound: at
    /// least one; the first is the entry's default model).
    #[serde(default)]
    pub models: Map<ModelSpec>,
    /// Where the output's URLs are in the answer (json and job endpoints), tried in order.
    #[serde(default)]
    pub output: Vec<Spanned<OutputSpec>>,
}

/// How the unified voice maps onto an endpoint's voice field (the field of the `"{voice}"`
/// placeholder). The values of that field's enum, if it is one, always pass as themselves.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoicesSpec {
    /// Facade voice names (lowercase) and the field value each one sends, checked first.
    #[serde(default)]
    pub names: Map<Spanned<JsonNode>>,
    /// Voices that look like the provider's own voice ids pass through.
    #[serde(default)]
    pub ids: Option<Spanned<VoiceIdsSpec>>,
}

/// What a provider voice id looks like, and how it is sent.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceIdsSpec {
    /// Required prefix (default: none).
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    /// Exact length in bytes (default: any).
    #[serde(default)]
    pub length: Option<Spanned<u64>>,
    /// The field's value for an id, with `"{voice}"` placeholders, e.g. `{ id: "{voice}" }`
    /// (default `"{voice}"`: the id itself).
    #[serde(default, rename = "as")]
    pub template: Option<Spanned<JsonNode>>,
}

/// One model a capability entry serves.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Other accepted names (e.g. `dalle-3`).
    #[serde(default)]
    pub aliases: Vec<Spanned<String>>,
    /// JSON object merged over the entry's request template (default `{}`).
    #[serde(default)]
    pub request: Option<Spanned<JsonNode>>,
    /// Restricted options (`size`, `quality`, `duration`, ...): a list of accepted values sent
    /// as written, or a mapping from accepted value to the JSON sent for it. Options not listed
    /// pass as given.
    #[serde(default)]
    pub options: Map<Spanned<JsonNode>>,
    /// Credits per output item (default: the entry's `credits`).
    #[serde(default)]
    pub credits: Option<Spanned<u32>>,
    /// Credits per output item by option value, `{ option: { value: credits } }`, overriding
    /// `credits`.
    #[serde(default)]
    pub credits_by: Map<Map<Spanned<u32>>>,
}

impl ModelSpec {
    /// The accepted values of option `node` (a list or a mapping), each with the JSON sent for
    /// it and where the value is. Entries that are not scalars are skipped (validation reports
    /// them).
    pub fn option_values(node: &Spanned<JsonNode>) -> Vec<(String, Loc, &JsonNode)> {
        match &node.value {
            JsonNode::Array(items) => items
                .iter()
                .filter_map(|i| Some((i.value.scalar_text()?, i.loc, &i.value)))
                .collect(),
            JsonNode::Object(entries) => entries
                .iter()
                .map(|(k, v)| (k.value.clone(), k.loc, &v.value))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Where an output's media are in the answer: a JSON pointer (`*` walks every array
/// element), written alone or as `{ pointer, inline }`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// The JSON pointer.
    pub pointer: String,
    /// `None`: the strings found are URLs. `Some(media type)`: they are base64 data, returned
    /// as `data:` URLs.
    pub inline: Option<String>,
}

impl<'de> Deserialize<'de> for OutputSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OutputVisitor;
        impl<'de> Visitor<'de> for OutputVisitor {
            type Value = OutputSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON pointer, or a mapping with `pointer` and `inline`")
            }
            fn visit_str<E>(self, v: &str) -> Result<OutputSpec, E> {
                Ok(OutputSpec {
                    pointer: v.to_owned(),
                    inline: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<OutputSpec, A::Error> {
                use serde::de::Error as _;
                let mut pointer = None;
                let mut inline = None;
                while let Some(key) = access.next_key::<String>()? {
                    match key.as_str() {
                        "pointer" => pointer = Some(access.next_value::<String>()?),
                        "inline" => inline = Some(access.next_value::<String>()?),
                        other => {
                            return Err(A::Error::unknown_field(other, &["pointer", "inline"]));
                        }
                    }
                }
                let pointer = pointer.ok_or_else(|| A::Error::missing_field("pointer"))?;
                Ok(OutputSpec { pointer, inline })
            }
        }
        deserializer.deserialize_any(OutputVisitor)
    }
}

impl JsonSchema for OutputSpec {
    fn schema_name() -> Cow<'static, str> {
        "OutputSpec".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Where an output's media are in the answer: a JSON pointer (`*` walks every array element), or `{ pointer, inline }` where `inline` is the media type of base64 data returned as a `data:` URL.",
            "oneOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "pointer": { "type": "string" },
                        "inline": { "type": "string" }
                    },
                    "required": ["pointer"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
