//! `media-sdk demo`: every endpoint of the spec under concurrency, against the local simulator
//! (rate limits and faults included) or, with `--live`, the real providers.
//!
//! The requests are the spec's own: each one sends an endpoint's `example_request` from
//! `providers.yaml` through its [`DynEndpoint`] ([`ENDPOINTS`], generated), so an endpoint or a
//! provider added to the spec is called by the next run with no change here. The demo never
//! names a provider: keys, simulator settings and scripted events follow from each provider's
//! spec (auth kind, pool size, error codes, job polling).
//!
//! The simulated run needs no keys and no network: the simulator serves every generated
//! provider on loopback, each key has a token bucket small enough that HTTP 429s come
//! regularly, and a seeded share of answers are 5xx errors. The SDK rotates keys on 429s and
//! retries the 5xx errors, so every request is expected to succeed; the report shows how
//! (rotations, waits, retries, a quarantined key) and the health table the metrics produce.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use media_sdk::dynamic::{DynEndpoint, Output};
use media_sdk::health::{HealthMonitor, HealthStore, RecorderStats};
use media_sdk::keys::{KeyState, fingerprint, parse_key_list};
use media_sdk::spec::{AuthKind, EndpointSpec, ProviderSpec, ResponseSpec};
use media_sdk::telemetry::{CallMetric, RateLimitEvent, Telemetry};
use media_sdk::{CallOptions, ENDPOINTS, PROVIDERS, Sdk};
use media_sdk_sim::{Faults, JobPace, KeyStats, RateLimit, Scripted, Simulator};

use super::health::HealthSnapshot;
use super::{CliError, StoreChoice};

/// Requests of a simulated run when `--requests` is not given.
pub const DEFAULT_REQUESTS: usize = 120;
/// Requests of a live run when `--requests` is not given: one per endpoint of the spec (they
/// cost money).
pub const DEFAULT_LIVE_REQUESTS: usize = ENDPOINTS.len();
/// Requests in flight at once when `--concurrency` is not given.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Requests started per second, on average, when `--rate` is not given.
pub const DEFAULT_RATE: f64 = 15.0;
/// Seed when `--seed` is not given (one whose schedule has a few bursts worth watching).
pub const DEFAULT_SEED: u64 = 4;

/// Arguments of `media-sdk demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Requests to make [default: 120 simulated; live, one per endpoint of the spec].
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,
    /// Requests in flight at once.
    #[arg(long, value_name = "C", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Requests started per second on average (random, seeded arrivals, like real traffic);
    /// a request arriving while `--concurrency` are in flight waits for a free slot.
    #[arg(long, value_name = "R", default_value_t = DEFAULT_RATE)]
    pub rate: f64,
    /// Seed of the arrivals and the simulator's faults (the same seed, the same schedule).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Call the real providers with the keys in the environment instead of the simulator.
    /// Costs money; refused unless every provider has keys.
    #[arg(long)]
    pub live: bool,
}

/// How a demo run is sized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// Requests to make.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests started per second, on average.
    pub rate: f64,
    /// Seed of the arrivals and the simulator.
    pub seed: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl DemoOptions {
    /// Options for a run of `requests` requests, at most `concurrency` at a time, at the default
    /// rate and seed, without progress bar.
    pub fn new(requests: usize, concurrency: usize) -> Self {
        Self {
            requests,
            concurrency,
            rate: DEFAULT_RATE,
            seed: DEFAULT_SEED,
            progress: false,
        }
    }

    fn check(&self) -> Result<(), CliError> {
        if self.requests == 0 {
            return Err(CliError::Usage("--requests must be at least 1".into()));
        }
        if self.concurrency == 0 {
            return Err(CliError::Usage("--concurrency must be at least 1".into()));
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(CliError::Usage("--rate must be a positive number".into()));
        }
        Ok(())
    }

    /// When each request arrives, from the start of the run: a Poisson process of rate
    /// [`rate`](Self::rate) drawn from [`seed`](Self::seed), so bursts and lulls come as in real
    /// traffic and the same seed gives the same schedule.
    pub fn arrivals(&self) -> Vec<Duration> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut at = 0.0_f64;
        (0..self.requests)
            .map(|_| {
                let offset = Duration::from_secs_f64(at);
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                at += -u.ln() / self.rate;
                offset
            })
            .collect()
    }
}

/// Where a provider's keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// This environment variable.
    Env(&'static str),
    /// Made up for the simulator.
    Generated,
}

/// The key pool of one provider. Its `Debug` output shows fingerprints, never keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderKeys {
    /// Provider id.
    pub provider: &'static str,
    /// The keys (for a signed-JWT auth kind, `access_key:secret_key` pairs).
    pub keys: Vec<String>,
    /// Where they came from.
    pub origin: KeyOrigin,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fingerprints: Vec<String> = self.keys.iter().map(|k| fingerprint(k)).collect();
        f.debug_struct("ProviderKeys")
            .field("provider", &self.provider)
            .field("keys", &fingerprints)
            .field("origin", &self.origin)
            .finish()
    }
}

/// `spec`'s keys from its variables through `lookup`: the comma-separated pool variable, else
/// the legacy single-key variable.
fn keys_from_lookup(
    spec: &ProviderSpec,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<(Vec<String>, &'static str)> {
    let pool = lookup(spec.keys.env)
        .map(|raw| parse_key_list(&raw))
        .filter(|keys| !keys.is_empty());
    if let Some(keys) = pool {
        return Some((keys, spec.keys.env));
    }
    let legacy = spec.keys.legacy_env?;
    let key = lookup(legacy)?.trim().to_owned();
    (!key.is_empty()).then(|| (vec![key], legacy))
}

/// Keys for a simulated run: each provider's keys from the environment when set (the simulator
/// then accepts exactly those), else made-up ones (`sk-demo-1`, ...): the spec's recommended
/// maximum, kept between two and four.
pub fn demo_keys(
    providers: &[&'static ProviderSpec],
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<ProviderKeys> {
    providers
        .iter()
        .map(|spec| match keys_from_lookup(spec, &lookup) {
            Some((keys, var)) => ProviderKeys {
                provider: spec.id,
                keys,
                origin: KeyOrigin::Env(var),
            },
            None => {
                let count = spec.keys.recommended_max.clamp(2, 4);
                ProviderKeys {
                    provider: spec.id,
                    keys: (1..=count).map(|i| fake_key(spec, i)).collect(),
                    origin: KeyOrigin::Generated,
                }
            }
        })
        .collect()
}

/// A made-up key in the shape of the provider's auth kind (an `access:secret` pair for a signed
/// JWT, `id:secret` for a `Key` header, an `sk-` token for a bearer), naming the provider so no
/// two providers share a key. Every auth kind is matched: a new kind does not compile until it
/// has a shape here.
fn fake_key(spec: &ProviderSpec, i: u32) -> String {
    let id = spec.id;
    match spec.auth.kind() {
        AuthKind::Bearer => format!("sk-{id}-demo-{i}"),
        AuthKind::Header => format!("{id}-demo-{i}"),
        AuthKind::FalKey => format!("{id}-demo-key-{i}:demo-secret-{i}"),
        AuthKind::KlingJwt => format!("{id}-demo-access-{i}:demo-secret-{i}"),
    }
}

/// Keys for a live run: every provider must have keys in the environment; otherwise
/// [`CliError::MissingKeys`] names the variables to set.
pub fn live_keys(
    providers: &[&'static ProviderSpec],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderKeys>, CliError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for spec in providers {
        match keys_from_lookup(spec, &lookup) {
            Some((keys, var)) => found.push(ProviderKeys {
                provider: spec.id,
                keys,
                origin: KeyOrigin::Env(var),
            }),
            None => missing.push(match spec.keys.legacy_env {
                Some(legacy) => format!("{} ({}, or {legacy})", spec.name, spec.keys.env),
                None => format!("{} ({})", spec.name, spec.keys.env),
            }),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(CliError::MissingKeys(missing))
    }
}

/// The generated specs with a faster clock for the simulated run.
///
/// The demo squeezes an hour of traffic into seconds, so the waits of the retry policy are
/// scaled down with it: backoff starts at 25 ms (capped at 250 ms) instead of the spec's
/// 200 ms / 5 s, and a 429 without a reset hint (a provider that sends none) cools the key for
/// 500 ms instead of 20 s (the simulator's buckets refill within that). Attempts, the wait limit
/// and the error rules are the spec's. `ProviderClient` needs a `&'static ProviderSpec`, so the
/// copies are leaked, once per process (a few hundred bytes).
pub fn demo_specs() -> &'static [&'static ProviderSpec] {
    static SPECS: OnceLock<Vec<&'static ProviderSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        PROVIDERS
            .iter()
            .map(|spec| {
                let mut fast = **spec;
                fast.retry.base_delay_ms = fast.retry.base_delay_ms.min(25);
                fast.retry.max_delay_ms = fast.retry.max_delay_ms.min(250);
                fast.retry.default_cooldown_ms = fast.retry.default_cooldown_ms.min(500);
                &*Box::leak(Box::new(fast))
            })
            .collect()
    })
}

/// How the simulator treats one provider in the demo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimPlan {
    /// Each key's token bucket.
    pub rate_limit: RateLimit,
    /// Random faults.
    pub faults: Faults,
    /// How many polls a job takes.
    pub pace: JobPace,
}

/// Each key's bucket: three requests in quick succession pass, a fourth is limited.
const BURST_PER_KEY: u32 = 3;
/// A provider's keys together refill this many times faster than its requests arrive.
const REFILL_HEADROOM: f64 = 2.5;
/// Every key refills at least this many tokens per second.
const MIN_REFILL_PER_KEY: f64 = 2.0;
/// About the longest a simulated job spends being polled (its endpoint's poll interval times the
/// polls the simulator asks for).
const JOB_POLL_BUDGET_MS: u64 = 2000;
/// Most polls a simulated job answers `running` to, however short its poll interval.
const MAX_RUNNING_POLLS: u64 = 3;
/// Share of answers the simulator turns into 5xx errors.
const ERROR_RATE: f64 = 0.04;
/// Latency the simulator adds to every answer.
const SIM_LATENCY: Duration = Duration::from_millis(15);

/// The simulator settings for `spec` when `usable_keys` of its keys stay usable and its
/// requests arrive at `requests_per_sec` on average (see [`RequestMix::share`]).
///
/// Each provider gets a total refill rate two and a half times its arrival rate, shared out
/// among its usable keys, and small buckets (three tokens): a key asked four times in quick
/// succession answers 429 and the SDK rotates to another key; the scripted events of
/// [`run_sim`] add one such 429 per provider for certain.
///
/// The margins are set for providers whose 429 says `retry-after` in whole seconds: a limited
/// key sits out a full second, far longer than its bucket takes to refill, and after a few such
/// 429s the SDK's learned pacing sheds a call whose expected wait for a key exceeds the spec's
/// `max_wait_ms` ("rate limited, no alternate keys"). With two-token buckets that happened to
/// about one seeded run in twenty (at twice the arrival rate, to most runs of one seed); with
/// three, none of 26 runs over 20 seeds lost a call.
///
/// Failure is kept out by the numbers, not by luck: every key refills at least two tokens per
/// second, so a 429's reset hint (or the demo's 500 ms default cool-down) stays well within the
/// spec's `max_wait_ms`, and the load stays below capacity, so a waiting call rarely loses its
/// key to another one (four such losses in a row would fail it). The 4% of 5xx answers are
/// retried by the spec's policy (4 attempts): a call failing four times in a row has a chance
/// of 0.04^4, about 3 in a million. Connection resets are not injected: the SDK does not
/// replay a request the provider may have acted on, so a reset fails the call by design.
///
/// Jobs finish after as many polls as fit in about two seconds at the provider's longest poll
/// interval: a job polled every 500 ms or every second answers `running` once, a job polled
/// every two seconds finishes on its first poll.
pub fn sim_plan(spec: &ProviderSpec, usable_keys: usize, requests_per_sec: f64) -> SimPlan {
    let keys = usable_keys.max(1) as f64;
    let refill = (REFILL_HEADROOM * requests_per_sec / keys).max(MIN_REFILL_PER_KEY);
    SimPlan {
        rate_limit: RateLimit::new(BURST_PER_KEY, refill),
        faults: Faults {
            latency: SIM_LATENCY,
            error_rate: ERROR_RATE,
            ..Faults::none()
        },
        pace: job_pace(spec),
    }
}

/// How the simulator paces `spec`'s jobs: as many polls as fit in [`JOB_POLL_BUDGET_MS`] at the
/// provider's longest poll interval, the last of them finishing the job (depending on the job
/// flow the first poll comes at once or one interval after the submission).
fn job_pace(spec: &ProviderSpec) -> JobPace {
    let longest_interval = spec
        .endpoints
        .iter()
        .filter_map(|e| match e.response {
            ResponseSpec::Job(job) => Some(job.poll_interval_ms),
            _ => None,
        })
        .max();
    let polls = longest_interval.map_or(1, |ms| (JOB_POLL_BUDGET_MS / ms.max(1)).max(1));
    JobPace {
        queued_polls: 0,
        running_polls: u32::try_from((polls - 1).min(MAX_RUNNING_POLLS)).unwrap_or(0),
    }
}

/// Jobs polled at this interval or a longer one are long: each keeps a concurrency slot busy
/// for a second or more in the simulated run (see [`sim_plan`]), against a few tens of
/// milliseconds for an answer given at once.
pub const LONG_JOB_POLL_MS: u64 = 1000;

/// How many times `endpoint` comes in one cycle of the [`RequestMix`]: twice, or once for a long
/// job ([`LONG_JOB_POLL_MS`]).
///
/// Long jobs come half as often so that the default run (120 requests, 8 in flight) spends its
/// concurrency on traffic that shows rotations and retries rather than on slots waiting for
/// polls, and finishes in about ten seconds; they still run a dozen times each.
pub fn weight(endpoint: &EndpointSpec) -> usize {
    match endpoint.response {
        ResponseSpec::Job(job) if job.poll_interval_ms >= LONG_JOB_POLL_MS => 1,
        _ => 2,
    }
}

/// The order the requests go through the endpoints: a fixed cycle, the same for every run.
#[derive(Debug, Clone)]
pub struct RequestMix {
    endpoints: &'static [DynEndpoint],
    cycle: Vec<&'static DynEndpoint>,
}

impl RequestMix {
    /// The mix of every endpoint of the spec ([`ENDPOINTS`]).
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] when the spec declares no endpoint.
    pub fn of_spec() -> Result<Self, CliError> {
        Self::new(ENDPOINTS)
    }

    /// The mix of `endpoints`: a round of every endpoint, then a round of each one whose
    /// [`weight`] is two (rounds continue while some endpoint has weight left); within a round
    /// the providers take turns. The first round calls every endpoint once, so any run of at
    /// least `endpoints.len()` requests (a default live run) calls every endpoint.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] when `endpoints` is empty.
    pub fn new(endpoints: &'static [DynEndpoint]) -> Result<Self, CliError> {
        if endpoints.is_empty() {
            return Err(CliError::Usage(
                "providers.yaml declares no endpoint: nothing to call".into(),
            ));
        }
        let rounds = endpoints
            .iter()
            .map(|e| weight(e.spec()))
            .max()
            .unwrap_or(1);
        let mut cycle = Vec::new();
        for round in 0..rounds {
            let members: Vec<&'static DynEndpoint> = endpoints
                .iter()
                .filter(|e| weight(e.spec()) > round)
                .collect();
            cycle.extend(interleave_providers(&members));
        }
        Ok(Self { endpoints, cycle })
    }

    /// The endpoints of the mix, each once, in the order given.
    pub fn endpoints(&self) -> &'static [DynEndpoint] {
        self.endpoints
    }

    /// One cycle of the mix.
    pub fn cycle(&self) -> &[&'static DynEndpoint] {
        &self.cycle
    }

    /// The endpoint of request number `i`.
    pub fn endpoint(&self, i: usize) -> &'static DynEndpoint {
        self.cycle[i % self.cycle.len()]
    }

    /// The share of the requests that go to `provider`, from 0 to 1.
    pub fn share(&self, provider: &str) -> f64 {
        let mine = self
            .cycle
            .iter()
            .filter(|e| e.spec().provider == provider)
            .count();
        mine as f64 / self.cycle.len() as f64
    }
}

/// `endpoints` with the providers taking turns: each provider's first endpoint (providers in
/// the order they first appear), then each one's second, and so on. Back-to-back requests then
/// go to different providers where the spec allows, so no provider's keys see the requests in
/// bunches of its own endpoints.
fn interleave_providers(endpoints: &[&'static DynEndpoint]) -> Vec<&'static DynEndpoint> {
    let mut providers: Vec<(&str, Vec<&'static DynEndpoint>)> = Vec::new();
    for endpoint in endpoints {
        let provider = endpoint.spec().provider;
        match providers.iter_mut().find(|(id, _)| *id == provider) {
            Some((_, own)) => own.push(endpoint),
            None => providers.push((provider, vec![endpoint])),
        }
    }
    let turns = providers
        .iter()
        .map(|(_, own)| own.len())
        .max()
        .unwrap_or(0);
    (0..turns)
        .flat_map(|turn| {
            providers
                .iter()
                .filter_map(move |(_, own)| own.get(turn).copied())
        })
        .collect()
}

/// Calls `endpoint` with its example request on its provider's client; describes the output.
async fn call_example(sdk: &Sdk, endpoint: &DynEndpoint) -> media_sdk::Result<String> {
    let provider = endpoint.spec().provider;
    let client = sdk
        .provider(provider)
        .ok_or_else(|| media_sdk::Error::not_configured(provider))?;
    let output = endpoint
        .call(client, endpoint.example_request(), &CallOptions::new())
        .await?;
    Ok(describe_output(&output))
}

/// Longest piece of a provider's answer (an id, a content type, a field name) quoted in a
/// description.
const MAX_QUOTED_CHARS: usize = 40;
/// Most fields of a JSON object named in a description.
const MAX_FIELDS: usize = 5;

/// One line saying what an endpoint answered: `24000 bytes of audio/mpeg`,
/// `JSON {created, data[1]}`, `job 5f0c…: {images[1], seed}`. Bounded whatever the answer: the
/// provider's strings are cut at 40 characters and at most five fields are named.
pub fn describe_output(output: &Output) -> String {
    match output {
        Output::Audio(audio) => format!(
            "{} bytes of {}",
            audio.bytes.len(),
            quoted(&audio.content_type)
        ),
        Output::Json(value) => format!("JSON {}", outline(value)),
        Output::Job { id, output } => format!("job {}: {}", quoted(id), outline(output)),
        _ => "an output of a kind this demo does not know".to_owned(),
    }
}

/// `text` cut at [`MAX_QUOTED_CHARS`] (with `…`), control characters dropped.
fn quoted(text: &str) -> String {
    let clean = text.chars().filter(|c| !c.is_control());
    let mut out: String = clean.clone().take(MAX_QUOTED_CHARS).collect();
    if clean.count() > MAX_QUOTED_CHARS {
        out.push('…');
    }
    out
}

/// The shape of a JSON document in a few words: an object's first fields (`data[1]` for an
/// array of one, `result{..}` for an object), an array's length, a scalar's type.
fn outline(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let mut names: Vec<String> = fields
                .iter()
                .take(MAX_FIELDS)
                .map(|(name, v)| match v {
                    Value::Array(items) => format!("{}[{}]", quoted(name), items.len()),
                    Value::Object(_) => format!("{}{{..}}", quoted(name)),
                    _ => quoted(name),
                })
                .collect();
            if fields.len() > MAX_FIELDS {
                names.push("…".to_owned());
            }
            format!("{{{}}}", names.join(", "))
        }
        Value::Array(items) => format!("[{} item(s)]", items.len()),
        Value::String(_) => "a string".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Null => "null".to_owned(),
    }
}

/// Counts what the SDK reports while the demo runs (alongside the health recorder).
#[derive(Debug, Default)]
struct Tally {
    inner: Mutex<TallyInner>,
}

#[derive(Debug, Default, Clone)]
struct TallyInner {
    calls: u64,
    retried: u64,
    extra_attempts: u64,
    rate_limits: u64,
    rotations: u64,
    /// Calls finished per (provider, key fingerprint).
    by_key: BTreeMap<(String, String), u64>,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, TallyInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Telemetry for Tally {
    fn record_call(&self, metric: CallMetric) {
        let mut t = self.lock();
        t.calls += 1;
        if metric.attempts > 1 {
            t.retried += 1;
            t.extra_attempts += u64::from(metric.attempts - 1);
        }
        if let Some(fp) = metric.key_fingerprint {
            *t.by_key
                .entry((metric.provider.to_owned(), fp))
                .or_default() += 1;
        }
    }

    fn record_rate_limit(&self, event: RateLimitEvent) {
        let mut t = self.lock();
        t.rate_limits += 1;
        if event.rotated {
            t.rotations += 1;
        }
    }
}

/// One key's use during the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    /// Provider id.
    pub provider: &'static str,
    /// The SDK's fingerprint of the key.
    pub fingerprint: String,
    /// Calls that finished on this key (their last attempt used it).
    pub calls: u64,
    /// What the simulator saw from this key (simulated runs).
    pub sim: Option<KeyStats>,
    /// The key's state in the SDK's pool at the end.
    pub state: String,
}

/// A key the SDK set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// Provider id.
    pub provider: &'static str,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// Why (the provider's code and message).
    pub reason: String,
}

/// A request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Request number.
    pub index: usize,
    /// Provider id of its endpoint.
    pub provider: &'static str,
    /// Its endpoint's id.
    pub endpoint: &'static str,
    /// The error.
    pub error: String,
}

/// What one endpoint of the spec did during the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUsage {
    /// Provider id.
    pub provider: &'static str,
    /// Endpoint id.
    pub endpoint: &'static str,
    /// The health id its metrics are recorded under.
    pub health_id: &'static str,
    /// Requests made to it.
    pub requests: usize,
    /// Of which failed.
    pub failed: usize,
    /// What its last successful request answered (see [`describe_output`]).
    pub last_output: Option<String>,
}

impl EndpointUsage {
    fn new(endpoint: &DynEndpoint) -> Self {
        let spec = endpoint.spec();
        Self {
            provider: spec.provider,
            endpoint: spec.id,
            health_id: spec.health_id,
            requests: 0,
            failed: 0,
            last_output: None,
        }
    }

    /// `provider endpoint`: the provider id, a space, the endpoint id.
    pub fn label(&self) -> String {
        format!("{} {}", self.provider, self.endpoint)
    }
}

/// Everything a demo run found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// `simulator` or `live`.
    pub mode: &'static str,
    /// Setup lines (simulator addresses, keys, store).
    pub setup: Vec<String>,
    /// Requests made.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Every endpoint of the spec, in spec order, with the requests it got.
    pub endpoints: Vec<EndpointUsage>,
    /// Requests that failed.
    pub failures: Vec<Failure>,
    /// Wall time of the requests.
    pub elapsed: Duration,
    /// Rate-limit events (HTTP 429 and equivalents) the SDK met.
    pub rate_limits: u64,
    /// Of which the call moved on to another key at once.
    pub rotations: u64,
    /// Calls that needed more than one HTTP attempt.
    pub retried_calls: u64,
    /// Attempts beyond the first, over all calls.
    pub extra_attempts: u64,
    /// Keys quarantined during the run.
    pub quarantines: Vec<Quarantine>,
    /// Per-key use.
    pub keys: Vec<KeyUsage>,
    /// 5xx answers the simulator injected (simulated runs).
    pub injected_errors: Option<u64>,
    /// The health recorder's counters after the final flush.
    pub recorder: RecorderStats,
    /// The health read back after the run.
    pub health: HealthSnapshot,
}

impl DemoReport {
    /// Whether every request succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    /// Requests that succeeded.
    pub fn succeeded(&self) -> usize {
        self.requests - self.failures.len()
    }

    /// The report for people: setup, health table and alerts, summary, per-key usage, verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "media-sdk demo ({})", self.mode);
        for line in &self.setup {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "\nHEALTH");
        out.push_str(&self.health.render());

        let _ = writeln!(out, "\nENDPOINTS");
        out.push_str(&self.endpoint_table());

        let _ = writeln!(out, "\nSUMMARY");
        let rows = [
            (
                "requests",
                format!(
                    "{} made, {} succeeded, {} failed in {:.1} s ({} at a time)",
                    self.requests,
                    self.succeeded(),
                    self.failures.len(),
                    self.elapsed.as_secs_f64(),
                    self.concurrency
                ),
            ),
            (
                "endpoints",
                format!(
                    "{} of {} called",
                    self.endpoints.iter().filter(|e| e.requests > 0).count(),
                    self.endpoints.len()
                ),
            ),
            (
                "rate limits",
                format!(
                    "{} rate-limited answers: {} rotated to another key at once, {} waited for \
                     their key to cool down",
                    self.rate_limits,
                    self.rotations,
                    self.rate_limits - self.rotations
                ),
            ),
            (
                "retries",
                format!(
                    "{} calls needed more than one attempt ({} extra attempts{})",
                    self.retried_calls,
                    self.extra_attempts,
                    self.injected_errors
                        .map(|n| format!("; the simulator injected {n} 5xx errors"))
                        .unwrap_or_default()
                ),
            ),
            (
                "quarantines",
                if self.quarantines.is_empty() {
                    "none".to_owned()
                } else {
                    self.quarantines
                        .iter()
                        .map(|q| format!("{} {} ({})", q.provider, q.fingerprint, q.reason))
                        .collect::<Vec<_>>()
                        .join("; ")
                },
            ),
            (
                "metrics",
                format!(
                    "{} written to the health store, {} dropped",
                    self.recorder.written,
                    self.recorder.dropped_full
                        + self.recorder.dropped_closed
                        + self.recorder.dropped_store_error
                ),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "{name:<12} {value}");
        }

        let _ = writeln!(out, "\nKEYS");
        out.push_str(&self.key_table());

        out.push('\n');
        if self.all_succeeded() {
            let _ = writeln!(
                out,
                "OK: all {} requests succeeded despite {} rate limits and {} retried calls",
                self.requests, self.rate_limits, self.retried_calls
            );
        } else {
            let _ = writeln!(
                out,
                "FAILED: {} of {} requests failed",
                self.failures.len(),
                self.requests
            );
            for failure in self.failures.iter().take(10) {
                let _ = writeln!(
                    out,
                    "  #{} {} {}: {}",
                    failure.index, failure.provider, failure.endpoint, failure.error
                );
            }
        }
        out
    }

    fn endpoint_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    e.label(),
                    e.health_id.to_owned(),
                    e.requests.to_string(),
                    e.failed.to_string(),
                    e.last_output.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        columns(
            &["ENDPOINT", "HEALTH ID", "REQUESTS", "FAILED", "LAST OUTPUT"],
            &rows,
        )
    }

    fn key_table(&self) -> String {
        let sim = self.keys.iter().any(|k| k.sim.is_some());
        let mut headers = vec!["PROVIDER", "KEY", "CALLS"];
        if sim {
            headers.extend(["HTTP", "2XX", "429", "5XX", "OTHER"]);
        }
        headers.push("STATE");
        let rows: Vec<Vec<String>> = self
            .keys
            .iter()
            .map(|k| {
                let mut row = vec![
                    k.provider.to_owned(),
                    k.fingerprint.clone(),
                    k.calls.to_string(),
                ];
                if let Some(s) = k.sim {
                    row.extend([
                        s.requests.to_string(),
                        s.ok.to_string(),
                        s.rate_limited.to_string(),
                        s.server_errors.to_string(),
                        (s.client_errors + s.dropped).to_string(),
                    ]);
                } else if sim {
                    row.extend(std::iter::repeat_n("-".to_owned(), 5));
                }
                row.push(k.state.clone());
                row
            })
            .collect();
        let mut out = columns(&headers, &rows);
        if sim {
            out.push_str(
                "(CALLS: calls whose last attempt used the key; HTTP..OTHER: what the simulator \
                 answered it, job polls included)\n",
            );
        }
        out
    }
}

/// A table with a header line: the first two columns and the last are text (left-aligned), the
/// others counters (right-aligned).
fn columns(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let last = headers.len().saturating_sub(1);
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if i < 2 || i == last {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "{cell:>w$}");
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// What the run needs besides the options.
struct Run<'a> {
    sdk: Sdk,
    tally: Arc<Tally>,
    store: Arc<dyn HealthStore>,
    choice: StoreChoice,
    keys: &'a [ProviderKeys],
    providers: &'a [&'static ProviderSpec],
    setup: Vec<String>,
}

fn describe_keys(keys: &ProviderKeys) -> String {
    let n = keys.keys.len();
    match keys.origin {
        KeyOrigin::Env(var) => format!("{}: {n} key(s) from {var}", keys.provider),
        KeyOrigin::Generated => format!("{}: {n} generated demo keys", keys.provider),
    }
}

/// The demo spec of `provider`, or [`CliError::Usage`] for a provider the spec does not have.
fn demo_spec(provider: &str) -> Result<&'static ProviderSpec, CliError> {
    demo_specs()
        .iter()
        .copied()
        .find(|p| p.id == provider)
        .ok_or_else(|| CliError::Usage(format!("keys given for {provider}, not in the spec")))
}

/// The provider whose last key the simulated run takes out of service with a quota answer: the
/// first of `keys`, in spec order, with three keys or more (two stay to share the load) whose
/// spec lists quarantine codes (the SDK then sets the key aside and moves on).
pub fn quarantine_target(keys: &[ProviderKeys]) -> Option<&'static str> {
    keys.iter()
        .find(|pool| {
            pool.keys.len() >= 3
                && demo_spec(pool.provider).is_ok_and(|spec| !spec.errors.quarantine.is_empty())
        })
        .map(|pool| pool.provider)
}

/// The provider whose every key the simulated run limits once, so that a call waits for a key
/// to cool down: the one with the fewest keys (the first in spec order on ties), other than the
/// quarantine target `quarantined`.
pub fn wait_target(
    keys: &[ProviderKeys],
    quarantined: Option<&'static str>,
) -> Option<&'static str> {
    keys.iter()
        .filter(|pool| Some(pool.provider) != quarantined && !pool.keys.is_empty())
        .min_by_key(|pool| pool.keys.len())
        .map(|pool| pool.provider)
}

/// Runs the demo against a simulator started here, with `keys` (see [`demo_keys`]), recording
/// health to `store`.
pub async fn run_sim(
    options: &DemoOptions,
    keys: &[ProviderKeys],
    store: Arc<dyn HealthStore>,
    choice: StoreChoice,
) -> Result<DemoReport, CliError> {
    options.check()?;
    let mix = RequestMix::of_spec()?;
    let providers = demo_specs();
    let target = quarantine_target(keys);
    let mut builder = Simulator::builder().seed(options.seed);
    let mut plans = Vec::new();
    for (spec, routes) in media_sdk_sim::providers::all() {
        let fast = providers
            .iter()
            .copied()
            .find(|p| p.id == spec.id)
            .unwrap_or(spec);
        builder = builder.provider(fast, routes);
    }
    for pool in keys {
        let spec = demo_spec(pool.provider)?;
        let usable = pool.keys.len() - usize::from(target == Some(pool.provider));
        let plan = sim_plan(spec, usable, options.rate * mix.share(pool.provider));
        builder = builder
            .keys(pool.provider, pool.keys.clone())
            .rate_limit(pool.provider, plan.rate_limit)
            .faults(pool.provider, plan.faults)
            .job_pace(pool.provider, plan.pace);
        plans.push((pool.provider, plan));
    }
    let sim = builder.start().await?;

    // Exact events on top of the random ones: the quarantine target's last key runs out of
    // quota (the SDK quarantines it and moves on), a provider whose spec names busy codes is
    // busy once (backoff, same key), and each provider's first key is rate limited once, as if
    // another tenant had spent its budget (the SDK cools it down and rotates; its own pacing
    // keeps it from drawing other 429s). The wait target has every key limited once, without a
    // reset hint: its first call runs out of keys and waits for one to cool down (the demo's
    // 500 ms default, whatever the provider's hint format).
    let waits = wait_target(keys, target);
    for pool in keys {
        let spec = demo_spec(pool.provider)?;
        let mut script = Vec::new();
        if waits == Some(pool.provider) {
            script.extend(
                pool.keys
                    .iter()
                    .map(|key| Scripted::RateLimited { retry_after: None }.for_key(key)),
            );
        } else if let Some(first) = pool.keys.first() {
            script.push(
                Scripted::RateLimited {
                    retry_after: Some(Duration::from_millis(1500)),
                }
                .for_key(first),
            );
        }
        if target == Some(pool.provider)
            && let Some(last) = pool.keys.last()
        {
            script.push(Scripted::QuotaExhausted.for_key(last));
        }
        if !spec.errors.busy.is_empty() {
            script.push(Scripted::Busy);
        }
        sim.script(pool.provider, script);
    }

    // The Sdk records health to `store` with its own recorder (the one writer of the store);
    // the tally only counts, alongside it.
    let tally = Arc::new(Tally::default());
    let mut sdk = Sdk::builder()
        .providers(providers)
        .health_store(store.clone())
        .telemetry(tally.clone());
    for pool in keys {
        sdk = sdk
            .keys(pool.provider, pool.keys.clone())
            .base_url(pool.provider, sim.base_url(pool.provider));
    }
    let sdk = sdk.build()?;

    let mut setup = vec![format!(
        "simulator on loopback, seed {}: {}",
        options.seed,
        sim.base_urls()
            .iter()
            .map(|(id, url)| format!("{id} {url}"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    for pool in keys {
        let plan = plans
            .iter()
            .find(|(id, _)| *id == pool.provider)
            .map(|(_, plan)| *plan);
        let limits = plan.map_or_else(String::new, |p| {
            format!(
                "; per key {} burst, {:.1}/s; {:.0}% 5xx",
                p.rate_limit.capacity,
                p.rate_limit.refill_per_sec,
                p.faults.error_rate * 100.0
            )
        });
        setup.push(format!("{}{limits}", describe_keys(pool)));
    }
    setup.push(format!("health store: {}", choice.describe()));

    let run = Run {
        sdk,
        tally,
        store,
        choice,
        keys,
        providers,
        setup,
    };
    let mut report = drive(options, &mix, run, "simulator").await?;
    let stats = sim.stats();
    for usage in &mut report.keys {
        let pool = keys.iter().find(|k| k.provider == usage.provider);
        let key = pool.and_then(|p| p.keys.iter().find(|k| fingerprint(k) == usage.fingerprint));
        usage.sim = key.map(|k| stats.key(usage.provider, k));
    }
    report.injected_errors = Some(
        keys.iter()
            .map(|k| stats.provider(k.provider).server_errors)
            .sum(),
    );
    sim.shutdown().await;
    Ok(report)
}

/// Runs the demo against the real providers with `keys` (see [`live_keys`]).
pub async fn run_live(
    options: &DemoOptions,
    keys: &[ProviderKeys],
    store: Arc<dyn HealthStore>,
    choice: StoreChoice,
) -> Result<DemoReport, CliError> {
    options.check()?;
    let mix = RequestMix::of_spec()?;
    let tally = Arc::new(Tally::default());
    let mut sdk = Sdk::builder()
        .providers(PROVIDERS)
        .health_store(store.clone())
        .telemetry(tally.clone())
        .strict(true);
    for pool in keys {
        sdk = sdk.keys(pool.provider, pool.keys.clone());
    }
    let sdk = sdk.build()?;
    let mut setup = vec!["live: real providers, real money".to_owned()];
    for client in sdk.providers() {
        setup.push(format!("{} at {}", client.spec().id, client.base_url()));
    }
    setup.extend(keys.iter().map(describe_keys));
    setup.push(format!("health store: {}", choice.describe()));
    let run = Run {
        sdk,
        tally,
        store,
        choice,
        keys,
        providers: PROVIDERS,
        setup,
    };
    drive(options, &mix, run, "live").await
}

fn progress_bar(options: &DemoOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.requests as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:32.cyan/blue} {pos}/{len} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Makes the requests, then flushes the metrics and reads everything back.
async fn drive(
    options: &DemoOptions,
    mix: &RequestMix,
    run: Run<'_>,
    mode: &'static str,
) -> Result<DemoReport, CliError> {
    let bar = progress_bar(options);
    for line in &run.setup {
        bar.println(line);
    }
    let started = Instant::now();
    let start = tokio::time::Instant::now();
    let sdk = &run.sdk;
    let total = options.requests;
    let arrivals = options.arrivals();
    let results = futures::stream::iter(arrivals.into_iter().enumerate())
        .then(|(i, at)| async move {
            tokio::time::sleep_until(start + at).await;
            i
        })
        .map(|i| async move {
            let endpoint = mix.endpoint(i);
            (i, endpoint, call_example(sdk, endpoint).await)
        })
        .buffer_unordered(options.concurrency);
    let mut results = std::pin::pin!(results);
    let mut endpoints: Vec<EndpointUsage> =
        mix.endpoints().iter().map(EndpointUsage::new).collect();
    let mut failures = Vec::new();
    while let Some((index, endpoint, result)) = results.next().await {
        let spec = endpoint.spec();
        let usage = endpoints
            .iter_mut()
            .find(|e| e.provider == spec.provider && e.endpoint == spec.id);
        if let Some(usage) = usage {
            usage.requests += 1;
            match &result {
                Ok(output) => usage.last_output = Some(output.clone()),
                Err(_) => usage.failed += 1,
            }
        }
        if let Err(error) = result {
            bar.println(format!(
                "request #{index} ({} {}) failed: {error}",
                spec.provider, spec.id
            ));
            failures.push(Failure {
                index,
                provider: spec.provider,
                endpoint: spec.id,
                error: error.to_string(),
            });
        }
        bar.inc(1);
        let t = run.tally.lock().clone();
        bar.set_message(format!(
            "failed {} · 429s {} · rotations {} · retried {}",
            failures.len(),
            t.rate_limits,
            t.rotations,
            t.retried
        ));
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    failures.sort_by_key(|f| f.index);

    if let Err(timeout) = run.sdk.flush(Duration::from_secs(15)).await {
        tracing::warn!(pending = timeout.pending, "health metrics not all written");
    }
    let monitor = HealthMonitor::for_providers(run.store.clone(), run.providers);
    let health = HealthSnapshot::from_monitor(&monitor, run.choice.clone()).await?;

    let tally = run.tally.lock().clone();
    let mut keys = Vec::new();
    let mut quarantines = Vec::new();
    for client in run.sdk.providers() {
        let provider = client.spec().id;
        if !run.keys.iter().any(|k| k.provider == provider) {
            continue;
        }
        for key in client.pool().snapshot() {
            let state = match &key.state {
                KeyState::Available => "available".to_owned(),
                KeyState::CoolingDown { remaining, .. } => {
                    format!("cooling down ({} ms left)", remaining.as_millis())
                }
                KeyState::Quarantined { reason } => {
                    quarantines.push(Quarantine {
                        provider,
                        fingerprint: key.fingerprint.clone(),
                        reason: reason.clone(),
                    });
                    "quarantined".to_owned()
                }
                _ => "unavailable".to_owned(),
            };
            keys.push(KeyUsage {
                provider,
                calls: tally
                    .by_key
                    .get(&(provider.to_owned(), key.fingerprint.clone()))
                    .copied()
                    .unwrap_or(0),
                fingerprint: key.fingerprint,
                sim: None,
                state,
            });
        }
    }
    Ok(DemoReport {
        mode,
        setup: run.setup,
        requests: total,
        concurrency: options.concurrency,
        endpoints,
        failures,
        elapsed,
        rate_limits: tally.rate_limits,
        rotations: tally.rotations,
        retried_calls: tally.retried,
        extra_attempts: tally.extra_attempts,
        quarantines,
        keys,
        injected_errors: None,
        recorder: run.sdk.recorder_stats(),
        health,
    })
}

/// `media-sdk demo`: runs, prints the report, `Ok(false)` when a request failed.
pub async fn run(args: DemoArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let choice = StoreChoice::from_env();
    let options = DemoOptions {
        requests: args.requests.unwrap_or(if args.live {
            DEFAULT_LIVE_REQUESTS
        } else {
            DEFAULT_REQUESTS
        }),
        concurrency: args.concurrency,
        rate: args.rate,
        seed: args.seed,
        progress: true,
    };
    let report = if args.live {
        let keys = live_keys(PROVIDERS, lookup)?;
        let store = choice.open(true).await?;
        run_live(&options, &keys, store, choice).await?
    } else {
        let keys = demo_keys(PROVIDERS, lookup);
        let store = choice.open(true).await?;
        run_sim(&options, &keys, store, choice).await?
    };
    out.write_all(report.render().as_bytes())
        .map_err(CliError::io("stdout"))?;
    Ok(report.all_succeeded())
}
