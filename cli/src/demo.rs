//! `media-sdk demo`: every generated client under concurrency, against the local simulator
//! (rate limits and faults included) or, with `--live`, the real providers.
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

use media_sdk::Sdk;
use media_sdk::health::{HealthMonitor, HealthStore, RecorderStats};
use media_sdk::keys::{KeyState, fingerprint, parse_key_list};
use media_sdk::spec::{AuthScheme, ProviderSpec};
use media_sdk::telemetry::{CallMetric, RateLimitEvent, Telemetry};
use media_sdk::{PROVIDERS, elevenlabs, fal, kling, openai};
use media_sdk_sim::{Faults, JobPace, KeyStats, RateLimit, Scripted, Simulator};

use super::health::HealthSnapshot;
use super::{CliError, StoreChoice};

/// Requests of a simulated run when `--requests` is not given.
pub const DEFAULT_REQUESTS: usize = 120;
/// Requests of a live run when `--requests` is not given: one of each kind (they cost money).
pub const DEFAULT_LIVE_REQUESTS: usize = 6;
/// Requests in flight at once when `--concurrency` is not given.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Requests started per second, on average, when `--rate` is not given.
pub const DEFAULT_RATE: f64 = 15.0;
/// Seed when `--seed` is not given (one whose schedule has a few bursts worth watching).
pub const DEFAULT_SEED: u64 = 4;

/// Arguments of `media-sdk demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Requests to make [default: 120 simulated, 6 live (one of each kind)].
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
    /// The keys (for Kling, `access_key:secret_key` pairs).
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

/// A made-up key in the provider's usual shape.
fn fake_key(spec: &ProviderSpec, i: u32) -> String {
    match spec.auth {
        AuthScheme::KlingJwt { .. } => format!("demo-access-{i}:demo-secret-{i}"),
        AuthScheme::Bearer => format!("sk-demo-{i}"),
        AuthScheme::FalKey => format!("demo-key-{i}:demo-secret-{i}"),
        _ => format!("{}-demo-{i}", spec.id),
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
/// 200 ms / 5 s, and a 429 without a reset hint (Kling, ElevenLabs) cools the key for 500 ms
/// instead of 20 s (the simulator's buckets refill within that). Attempts, the wait limit and
/// the error rules are the spec's. `ProviderClient` needs a `&'static ProviderSpec`, so the
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

/// The simulator settings for `provider` when `usable_keys` of its keys stay usable.
///
/// Requests arrive at random ([`DemoOptions::arrivals`], 15 per second by default: about 6 for
/// OpenAI, 4.5 for fal, 3 for ElevenLabs, 1.5 for Kling). Each provider gets a total refill
/// rate about 1.5 to 2 times that, shared out among its usable keys, and small buckets: a key
/// asked twice in quick succession answers 429 and the SDK rotates to another key; now and then
/// a burst empties every bucket and calls wait for the first key to cool down.
///
/// Failure is kept out by the numbers, not by luck: every key refills at least two tokens per
/// second, so a 429's reset hint (or the demo's 500 ms default cool-down) stays well within the
/// spec's `max_wait_ms`, and the load stays below capacity, so a waiting call rarely loses its
/// key to another one (four such losses in a row would fail it). The 4% of 5xx answers are
/// retried by the spec's policy (4 attempts): a call failing four times in a row has a chance
/// of 0.04^4, about 3 in a million. Connection resets are not injected: the SDK does not
/// replay a request the provider may have acted on, so a reset fails the call by design.
pub fn sim_plan(provider: &str, usable_keys: usize) -> SimPlan {
    let keys = usable_keys.max(1) as f64;
    // (burst per key, refill of the whole provider per second). fal's `retry-after` is in
    // whole seconds, so a limited fal key sits out a full second: fal gets a deeper bucket.
    let (capacity, refill_per_sec) = match provider {
        "openai" => (1, 13.0),
        "fal" => (2, 9.0),
        "kling" => (1, 3.0),
        "elevenlabs" => (1, 6.0),
        _ => (2, 2.0 * keys),
    };
    let pace = match provider {
        // Kling jobs wait one poll interval (2 s, from the spec) before the first poll.
        "kling" => JobPace::immediate(),
        _ => JobPace {
            queued_polls: 0,
            running_polls: 1,
        },
    };
    SimPlan {
        rate_limit: RateLimit::new(capacity, (refill_per_sec / keys).max(2.0)),
        faults: Faults {
            latency: Duration::from_millis(15),
            error_rate: 0.04,
            ..Faults::none()
        },
        pace,
    }
}

/// One kind of request the demo makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    /// OpenAI text to speech.
    OpenAiSpeech,
    /// ElevenLabs text to speech.
    ElevenLabsSpeech,
    /// OpenAI image (dall-e-3).
    OpenAiImage,
    /// fal Flux Pro image job.
    FluxPro,
    /// fal Stable Audio job.
    StableAudio,
    /// Kling video job.
    KlingVideo,
}

/// The order requests cycle through: TTS and images often, audio and video jobs less.
const PATTERN: [Task; 10] = [
    Task::OpenAiSpeech,
    Task::ElevenLabsSpeech,
    Task::OpenAiImage,
    Task::FluxPro,
    Task::OpenAiSpeech,
    Task::ElevenLabsSpeech,
    Task::StableAudio,
    Task::OpenAiImage,
    Task::FluxPro,
    Task::KlingVideo,
];

/// Every task, in the order of [`Task::for_request`]'s first cycle without repeats.
pub const TASKS: [Task; 6] = [
    Task::OpenAiSpeech,
    Task::ElevenLabsSpeech,
    Task::OpenAiImage,
    Task::FluxPro,
    Task::StableAudio,
    Task::KlingVideo,
];

impl Task {
    /// The task of request number `i` (a fixed cycle; a live run of six covers every kind).
    pub fn for_request(i: usize, total: usize) -> Task {
        if total <= TASKS.len() {
            TASKS[i % TASKS.len()]
        } else {
            PATTERN[i % PATTERN.len()]
        }
    }

    /// A short label, e.g. `openai speech`.
    pub fn label(self) -> &'static str {
        match self {
            Task::OpenAiSpeech => "openai speech",
            Task::ElevenLabsSpeech => "elevenlabs speech",
            Task::OpenAiImage => "openai image (dall-e-3)",
            Task::FluxPro => "fal flux pro (job)",
            Task::StableAudio => "fal stable audio (job)",
            Task::KlingVideo => "kling video (job)",
        }
    }

    /// Runs request number `i` of this kind through the generated client; describes the output.
    pub async fn run(self, sdk: &Sdk, i: usize) -> media_sdk::Result<String> {
        match self {
            Task::OpenAiSpeech => {
                let request = openai::SpeechRequest {
                    response_format: Some(openai::SpeechFormat::Mp3),
                    ..openai::SpeechRequest::new(format!(
                        "Line {i}: the quick brown fox jumps over the lazy dog."
                    ))
                };
                let audio = sdk.openai()?.speech(request).await?;
                Ok(format!(
                    "{} bytes of {}",
                    audio.bytes.len(),
                    audio.content_type
                ))
            }
            Task::ElevenLabsSpeech => {
                let request = elevenlabs::ElevenTtsRequest {
                    model_id: Some(elevenlabs::ElevenModel::ElevenFlashV25),
                    ..elevenlabs::ElevenTtsRequest::new(format!(
                        "Line {i}: a calm voice reads the evening news."
                    ))
                };
                let audio = sdk.elevenlabs()?.text_to_speech(request).await?;
                Ok(format!(
                    "{} bytes of {}",
                    audio.bytes.len(),
                    audio.content_type
                ))
            }
            Task::OpenAiImage => {
                let request = openai::ImageRequest {
                    model: Some(openai::ImageModel::DallE3),
                    size: Some(openai::ImageSize::S1024),
                    n: Some(1),
                    ..openai::ImageRequest::new(format!("A lighthouse at dawn, study {i}"))
                };
                let images = sdk.openai()?.images(request).await?;
                Ok(format!("{} image(s)", images.data.len()))
            }
            Task::FluxPro => {
                let request = fal::FluxProRequest {
                    image_size: Some(fal::FalImageSize::Landscape43),
                    seed: Some(i as u64),
                    num_images: Some(1),
                    ..fal::FluxProRequest::new(format!("A fox in the snow, variant {i}"))
                };
                let job = sdk.fal()?.flux_pro(request).await?;
                Ok(format!(
                    "job {}: {} image(s)",
                    job.id,
                    job.output.images.len()
                ))
            }
            Task::StableAudio => {
                let request = fal::StableAudioRequest {
                    seconds_total: Some(10),
                    ..fal::StableAudioRequest::new(format!("Rain on a tin roof, take {i}"))
                };
                let job = sdk.fal()?.stable_audio(request).await?;
                Ok(format!("job {}: {}", job.id, job.output.audio_file.url))
            }
            Task::KlingVideo => {
                let request = kling::TextToVideoRequest {
                    mode: Some(kling::KlingMode::Std),
                    duration: Some(kling::VideoDuration::Seconds5),
                    ..kling::TextToVideoRequest::new(format!(
                        "A paper boat drifting down a stream, shot {i}"
                    ))
                };
                let job = sdk.kling()?.text_to_video(request).await?;
                Ok(format!(
                    "task {}: {} video(s)",
                    job.id,
                    job.output.videos.len()
                ))
            }
        }
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
    /// Its kind.
    pub task: Task,
    /// The error.
    pub error: String,
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
    /// Requests made per kind.
    pub by_task: BTreeMap<Task, usize>,
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

        let _ = writeln!(out, "\nSUMMARY");
        let kinds: Vec<String> = self
            .by_task
            .iter()
            .map(|(task, n)| format!("{} {n}", task.label()))
            .collect();
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
            ("by kind", kinds.join(", ")),
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
                    "  #{} {}: {}",
                    failure.index,
                    failure.task.label(),
                    failure.error
                );
            }
        }
        out
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
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let last = headers.len() - 1;
        let line = |cells: Vec<&str>| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                // Text columns left, counters right.
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
        let mut out = line(headers.clone());
        for row in &rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        if sim {
            out.push_str(
                "(CALLS: calls whose last attempt used the key; HTTP..OTHER: what the simulator \
                 answered it, job polls included)\n",
            );
        }
        out
    }
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

/// Keys of `pool` the simulated run takes out of service: OpenAI's last key, when it has
/// three or more.
fn quarantined(pool: &ProviderKeys) -> usize {
    usize::from(pool.provider == "openai" && pool.keys.len() >= 3)
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
    let providers = demo_specs();
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
        let plan = sim_plan(pool.provider, pool.keys.len() - quarantined(pool));
        builder = builder
            .keys(pool.provider, pool.keys.clone())
            .rate_limit(pool.provider, plan.rate_limit)
            .faults(pool.provider, plan.faults)
            .job_pace(pool.provider, plan.pace);
        plans.push((pool.provider, plan));
    }
    let sim = builder.start().await?;

    // Exact events on top of the random ones: OpenAI's last key runs out of quota (the SDK
    // quarantines it and moves on), ElevenLabs is busy once (backoff, same key), and each
    // provider's first key is rate limited once, as if another tenant had spent its budget
    // (the SDK cools it down and rotates; its own pacing keeps it from drawing other 429s).
    for pool in keys {
        let mut script = Vec::new();
        if let Some(first) = pool.keys.first() {
            script.push(
                Scripted::RateLimited {
                    retry_after: Some(Duration::from_millis(1500)),
                }
                .for_key(first),
            );
        }
        if quarantined(pool) > 0
            && let Some(last) = pool.keys.last()
        {
            script.push(Scripted::QuotaExhausted.for_key(last));
        }
        if pool.provider == "elevenlabs" {
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
    let mut report = drive(options, run, "simulator").await?;
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
    drive(options, run, "live").await
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
            let task = Task::for_request(i, total);
            (i, task, task.run(sdk, i).await)
        })
        .buffer_unordered(options.concurrency);
    let mut results = std::pin::pin!(results);
    let mut by_task = BTreeMap::new();
    let mut failures = Vec::new();
    while let Some((index, task, result)) = results.next().await {
        *by_task.entry(task).or_insert(0) += 1;
        if let Err(error) = result {
            bar.println(format!(
                "request #{index} ({}) failed: {error}",
                task.label()
            ));
            failures.push(Failure {
                index,
                task,
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
        by_task,
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
