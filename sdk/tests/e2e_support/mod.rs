//! Shared set-up of the end-to-end tests: a [`Simulator`] serving every generated provider on
//! loopback, an [`Sdk`] built from the generated specs pointed at it, a collecting
//! [`Telemetry`], captured logs, and fast variants of the specs' timing.
//!
//! Everything goes over real HTTP through the generated clients; nothing here sleeps.

#![allow(dead_code)] // Each test binary uses a different part.

use std::sync::Arc;

use media_sdk::Endpoint;
use media_sdk::Sdk;
use media_sdk::spec::{EndpointSpec, JobSpec, ProviderSpec, ResponseSpec, RetryPolicy, Timeouts};
use media_sdk::{DecodeError, ResponseBody, Validate, ValidationError};
use media_sdk_sim::{JobPace, RequestRecord, SimBuilder, Simulator};
use serde::Serialize;

#[path = "../support/logs.rs"]
mod logs;
#[allow(unused_imports)] // not every e2e binary captures logs
pub use logs::capture_logs;
#[path = "../support/recorded.rs"]
mod recorded;
pub use recorded::Recorded;

pub const OPENAI_KEYS: [&str; 3] = [
    "sk-e2e-openai-alpha-0001",
    "sk-e2e-openai-bravo-0002",
    "sk-e2e-openai-charlie-0003",
];
pub const FAL_KEYS: [&str; 2] = [
    "fal-e2e-id-alpha:fal-e2e-secret-alpha",
    "fal-e2e-id-bravo:fal-e2e-secret-bravo",
];
pub const KLING_KEYS: [&str; 2] = [
    "ak-e2e-access-one:sk-e2e-secret-one",
    "ak-e2e-access-two:sk-e2e-secret-two",
];
pub const ELEVEN_KEYS: [&str; 2] = ["xi-e2e-eleven-key-one", "xi-e2e-eleven-key-two"];

/// The keys configured for `provider`.
pub fn keys_of(provider: &str) -> &'static [&'static str] {
    match provider {
        "openai" => &OPENAI_KEYS,
        "fal" => &FAL_KEYS,
        "kling" => &KLING_KEYS,
        "elevenlabs" => &ELEVEN_KEYS,
        other => panic!("no keys for {other}"),
    }
}

/// Every secret (keys and, for pairs, each half) that must never appear in a log or error.
pub fn secrets() -> Vec<&'static str> {
    let mut out = Vec::new();
    for key in OPENAI_KEYS
        .iter()
        .chain(&FAL_KEYS)
        .chain(&KLING_KEYS)
        .chain(&ELEVEN_KEYS)
    {
        out.push(*key);
        if let Some((a, b)) = key.split_once(':') {
            out.push(a);
            out.push(b);
        }
    }
    out
}

/// Panics when `text` contains a secret or a bearer token.
pub fn assert_no_secrets(text: &str, what: &str) {
    for secret in secrets() {
        assert!(!text.contains(secret), "{what} leaks a key: {text}");
    }
    // A Kling JWT starts with the base64url of `{"alg":"HS256"...`.
    assert!(!text.contains("eyJhbGciOi"), "{what} leaks a token: {text}");
}

/// The runtime's (and now the simulator's) fingerprint of `key`.
pub fn fp(key: &str) -> String {
    media_sdk::keys::fingerprint(key)
}

/// `spec` with millisecond backoff and a short request timeout, leaked to get the `'static`
/// the SDK needs. Cool-downs, `max_wait_ms` and attempts stay as the spec says.
pub fn fast(spec: &'static ProviderSpec) -> &'static ProviderSpec {
    tuned(spec, |retry, timeouts| {
        retry.base_delay_ms = 1;
        retry.max_delay_ms = 4;
        timeouts.request_ms = 400;
    })
}

/// `spec` with its retry policy and timeouts changed by `tune`, leaked.
pub fn tuned(
    spec: &'static ProviderSpec,
    tune: impl FnOnce(&mut RetryPolicy, &mut Timeouts),
) -> &'static ProviderSpec {
    let mut retry = spec.retry;
    let mut timeouts = spec.timeouts;
    tune(&mut retry, &mut timeouts);
    Box::leak(Box::new(ProviderSpec {
        retry,
        timeouts,
        ..*spec
    }))
}

/// A running simulator (every generated provider, jobs finishing on their first poll) and an
/// SDK pointed at it.
pub struct Env {
    pub sim: Simulator,
    pub sdk: Sdk,
    pub telemetry: Arc<Recorded>,
}

impl Env {
    /// Every generated provider with the default specs.
    pub async fn start() -> Env {
        Env::with(&[], |b| b).await
    }

    /// `overrides` replace the generated spec of the same id in the SDK; `configure` adjusts
    /// the simulator (applied after the defaults: keys, immediate jobs).
    pub async fn with(
        overrides: &[&'static ProviderSpec],
        configure: impl FnOnce(SimBuilder) -> SimBuilder,
    ) -> Env {
        let mut builder = Simulator::builder().generated().seed(7);
        for spec in media_sdk::PROVIDERS {
            builder = builder
                .keys(spec.id, keys_of(spec.id).iter().copied())
                .job_pace(spec.id, JobPace::immediate());
        }
        let sim = configure(builder).start().await.expect("simulator starts");
        let specs: Vec<&'static ProviderSpec> = media_sdk::PROVIDERS
            .iter()
            .map(|spec| {
                overrides
                    .iter()
                    .copied()
                    .find(|o| o.id == spec.id)
                    .unwrap_or(spec)
            })
            .collect();
        let telemetry = Arc::new(Recorded::default());
        let mut sdk = Sdk::builder()
            .providers(&specs)
            .telemetry(telemetry.clone());
        for spec in &specs {
            sdk = sdk
                .keys(spec.id, keys_of(spec.id).iter().copied())
                .base_url(spec.id, sim.base_url(spec.id));
        }
        let sdk = sdk.build().expect("sdk builds");
        Env {
            sim,
            sdk,
            telemetry,
        }
    }

    /// The simulator's log for `provider`.
    pub fn log(&self, provider: &str) -> Vec<RequestRecord> {
        self.sim.requests_for(provider)
    }

    /// The fingerprints of the keys used by `provider`'s requests, in order.
    pub fn keys_used(&self, provider: &str) -> Vec<String> {
        self.log(provider)
            .into_iter()
            .map(|r| r.key_fingerprint.unwrap_or_default())
            .collect()
    }
}

/// A generated request `E` sent with a shorter poll interval and job timeout: the generated
/// job endpoints poll every 0.5-2 s for up to 5-15 minutes, too slow for a test of a job that
/// never finishes. Everything else (path, body, decoding, validation) is `E`'s own.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct QuickJob<E, const POLL_MS: u64, const TIMEOUT_MS: u64>(pub E);

const fn quicken(spec: EndpointSpec, poll_interval_ms: u64, timeout_ms: u64) -> EndpointSpec {
    match spec.response {
        ResponseSpec::Job(job) => EndpointSpec {
            response: ResponseSpec::Job(JobSpec {
                poll_interval_ms,
                timeout_ms,
                ..job
            }),
            ..spec
        },
        _ => spec,
    }
}

impl<E: Endpoint, const POLL_MS: u64, const TIMEOUT_MS: u64> Validate
    for QuickJob<E, POLL_MS, TIMEOUT_MS>
{
    fn validate(&self) -> Result<(), ValidationError> {
        self.0.validate()
    }
}

impl<E: Endpoint, const POLL_MS: u64, const TIMEOUT_MS: u64> Endpoint
    for QuickJob<E, POLL_MS, TIMEOUT_MS>
{
    type Output = E::Output;
    const SPEC: EndpointSpec = quicken(E::SPEC, POLL_MS, TIMEOUT_MS);

    fn path_params(&self) -> Vec<(&'static str, String)> {
        self.0.path_params()
    }

    fn query_params(&self) -> Vec<(&'static str, String)> {
        self.0.query_params()
    }

    fn decode(body: ResponseBody) -> Result<Self::Output, DecodeError> {
        E::decode(body)
    }
}
