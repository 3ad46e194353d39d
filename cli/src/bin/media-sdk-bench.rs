//! `media-sdk-bench`: the runtime figures of `docs/BENCHMARKS.md`, measured against the local
//! simulator and a moto DynamoDB server on loopback. Run through `cargo xtask bench`, which adds
//! the key-pool (criterion) and codegen figures and writes the document.
//!
//! ```text
//! media-sdk-bench [--quick] [--only overhead,overload,fleet,health,stream]
//! ```
//!
//! Prints one JSON object on stdout; progress goes to stderr. The fleet figure runs this same
//! binary as worker processes (`media-sdk-bench fleet-worker`, an internal subcommand that
//! reads its plan on stdin); the streaming memory figure too (`media-sdk-bench
//! stream-rss-worker`, which reads its plan from its arguments).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use futures::StreamExt;
use media_sdk::health::{
    DynamoStore, HealthItem, HealthRecorder, HealthStore, MemoryStore, MetricItem, MetricPage,
    PageCursor, RateLimitItem, RecorderConfig, StoreFuture,
};
use media_sdk::openai::{self, SpeechRequest};
use media_sdk::spec::ProviderSpec;
use media_sdk::spec::{EndpointSpec, ResponseSpec, StreamSpec};
use media_sdk::telemetry::CallMetric;
use media_sdk::{Audio, DecodeError, Endpoint, ResponseBody, Sdk, Validate, ValidationError};
use media_sdk_sim::{RateLimit, SimBuilder, SimRoute, SimStats, Simulator, StreamPacing};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// Settings shared by every figure.
#[derive(Debug, Clone, Copy)]
struct Mode {
    quick: bool,
}

impl Mode {
    fn pick<T>(self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}

const USER_AGENT: &str = concat!("media-sdk/", env!("CARGO_PKG_VERSION"));

fn main() -> Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some(FLEET_WORKER) => return fleet_worker(),
        Some(STREAM_RSS_WORKER) => return stream_rss_worker(),
        _ => {}
    }
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let list = args.next().context("--only needs a comma-separated list")?;
                only = Some(list.split(',').map(str::to_owned).collect());
            }
            other => bail!("unknown argument `{other}` (expected --quick, --only LIST)"),
        }
    }
    let wants = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name));
    let mode = Mode { quick };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = serde_json::Map::new();
    runtime.block_on(async {
        if wants("overhead") {
            out.insert("overhead".into(), overhead(mode).await?);
        }
        if wants("overload") {
            out.insert("overload".into(), overload(mode).await?);
        }
        if wants("fleet") {
            out.insert("fleet".into(), fleet(mode).await?);
        }
        if wants("health") {
            out.insert("health".into(), health(mode).await?);
        }
        if wants("stream") {
            out.insert("stream".into(), stream(mode).await?);
        }
        anyhow::Ok(())
    })?;
    println!("{}", Value::Object(out));
    Ok(())
}

fn progress(message: &str) {
    eprintln!("[media-sdk-bench] {message}");
}

// ---------------------------------------------------------------------------------------------
// 1. Overhead of a generated call against bare reqwest.

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A simulator serving OpenAI's generated routes, to be given keys and started.
fn openai_sim() -> SimBuilder {
    Simulator::builder().provider(
        &openai::PROVIDER,
        media_sdk_sim::providers::openai::routes(),
    )
}

/// A health store that takes every write and keeps nothing (reads find nothing).
#[derive(Debug)]
struct DiscardStore;

impl HealthStore for DiscardStore {
    fn write_batch<'a>(&'a self, _items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn query_metrics<'a>(
        &'a self,
        _health_id: &'a str,
        _since: SystemTime,
        _cursor: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage> {
        let page = MetricPage {
            items: Vec::new(),
            next: None,
        };
        Box::pin(std::future::ready(Ok(page)))
    }

    fn query_rate_limits<'a>(
        &'a self,
        _provider: &'a str,
        _since: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn publish_cooldown<'a>(
        &'a self,
        _provider: &'a str,
        _key_fingerprint: &'a str,
        _until: SystemTime,
    ) -> StoreFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(true)))
    }

    fn active_cooldowns<'a>(
        &'a self,
        _provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
}

/// Calls per block of one variant in the overhead run (the first one not measured).
const OVERHEAD_BLOCK: usize = 8;

async fn overhead(mode: Mode) -> Result<Value> {
    let pairs = mode.pick(3_000, 20_000);
    let warmup: usize = mode.pick(300, 1_000);
    progress(&format!(
        "overhead: {pairs} measured calls per variant in blocks of {OVERHEAD_BLOCK} (+{warmup} warm-up)"
    ));
    let key = "sk-bench-overhead-0001";
    let sim = openai_sim().keys("openai", [key]).start().await?;
    let base = sim.base_url("openai");
    let http = reqwest::Client::builder().user_agent(USER_AGENT).build()?;
    let sdk = Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", [key])
        .base_url("openai", base.clone())
        .http_client(http.clone())
        .health_store(Arc::new(MemoryStore::new()))
        .recorder_config(RecorderConfig::for_providers(&[&openai::PROVIDER]))
        .build()?;
    // The same SDK whose health store discards what it is given: the recorder still runs,
    // so the difference to `sdk` is the memory store's share of the overhead.
    let plain = Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", [key])
        .base_url("openai", base.clone())
        .http_client(http.clone())
        .health_store(Arc::new(DiscardStore))
        .recorder_config(RecorderConfig::for_providers(&[&openai::PROVIDER]))
        .build()?;
    let request = SpeechRequest::new("The quick brown fox jumps over the lazy dog.");
    let url = format!("{base}/v1/audio/speech");
    let auth = format!("Bearer {key}");

    let sdk_call = |sdk: &Sdk, req: SpeechRequest| {
        let sdk = sdk.clone();
        async move {
            let started = Instant::now();
            let audio = sdk.openai()?.speech(req).await?;
            let elapsed = started.elapsed();
            std::hint::black_box(audio);
            anyhow::Ok(elapsed)
        }
    };
    let bare_call = || {
        let (http, url, auth, request) = (&http, &url, &auth, &request);
        async move {
            let started = Instant::now();
            let body = serde_json::to_vec(request)?;
            let response = http
                .post(url.as_str())
                .header(reqwest::header::AUTHORIZATION, auth.as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            let elapsed = started.elapsed();
            if !status.is_success() {
                bail!("bare request failed: HTTP {status}");
            }
            std::hint::black_box(bytes);
            Ok(elapsed)
        }
    };

    let mut sdk_ns = Vec::with_capacity(pairs);
    let mut plain_ns = Vec::with_capacity(pairs);
    let mut bare_ns = Vec::with_capacity(pairs);
    let mut diff_ns = Vec::with_capacity(pairs);
    // Each variant runs in blocks of OVERHEAD_BLOCK calls and the first call of a block is not
    // measured, so every measured call follows a call of its own kind: what one variant leaves
    // running behind it (a connection still going back to the pool, a background task) never
    // lands on another variant's clock. The order of the blocks rotates every round so drift
    // cancels; the k-th measured calls of a round's SDK and bare blocks make one pair.
    let measured_per_block = OVERHEAD_BLOCK - 1;
    let warmup_rounds = warmup.div_ceil(OVERHEAD_BLOCK);
    let rounds = pairs.div_ceil(measured_per_block);
    for round in 0..warmup_rounds + rounds {
        let mut times = [[0u64; OVERHEAD_BLOCK]; 3];
        for step in 0..3 {
            let variant = (round + step) % 3;
            for slot in &mut times[variant] {
                let elapsed = match variant {
                    0 => sdk_call(&sdk, request.clone()).await?,
                    1 => bare_call().await?,
                    _ => sdk_call(&plain, request.clone()).await?,
                };
                *slot = elapsed.as_nanos() as u64;
            }
        }
        if round >= warmup_rounds {
            let [s, b, p] = times;
            for k in 1..OVERHEAD_BLOCK {
                sdk_ns.push(s[k]);
                bare_ns.push(b[k]);
                plain_ns.push(p[k]);
                diff_ns.push(s[k] as i64 - b[k] as i64);
            }
        }
    }
    let _ = sdk.flush(Duration::from_secs(5)).await;
    let stats = sdk.recorder_stats();
    sim.shutdown().await;
    sdk_ns.sort_unstable();
    plain_ns.sort_unstable();
    bare_ns.sort_unstable();
    diff_ns.sort_unstable();
    let us = |ns: u64| ns as f64 / 1_000.0;
    let sdk_median = percentile(&sdk_ns, 0.5);
    let bare_median = percentile(&bare_ns, 0.5);
    let paired_median = diff_ns[diff_ns.len() / 2] as f64 / 1_000.0;
    Ok(json!({
        "pairs": diff_ns.len(),
        "sdk_median_us": us(sdk_median),
        "sdk_p99_us": us(percentile(&sdk_ns, 0.99)),
        "bare_median_us": us(bare_median),
        "bare_p99_us": us(percentile(&bare_ns, 0.99)),
        "sdk_discarding_store_median_us": us(percentile(&plain_ns, 0.5)),
        "sdk_discarding_store_p99_us": us(percentile(&plain_ns, 0.99)),
        "median_ratio": sdk_median as f64 / bare_median as f64,
        "median_added_us": us(sdk_median) - us(bare_median),
        "paired_median_added_us": paired_median,
        "metrics_recorded": stats.written,
    }))
}

// ---------------------------------------------------------------------------------------------
// 2. Overload: the shipped retry policy under per-key token buckets, with Poisson arrivals.

/// Keys in the simulator's pool.
const OVERLOAD_KEYS: usize = 3;
/// Each key's token bucket: capacity, and tokens per second.
const BUCKET_CAPACITY: u32 = 5;
const BUCKET_REFILL_PER_SEC: f64 = 20.0;
/// Processes of the fleet figure.
const FLEET_PROCESSES: usize = 4;

/// The simulator's steady capacity C: what the keys' buckets admit per second.
fn capacity_per_sec() -> f64 {
    OVERLOAD_KEYS as f64 * BUCKET_REFILL_PER_SEC
}

fn overload_keys() -> Vec<String> {
    (0..OVERLOAD_KEYS)
        .map(|i| format!("sk-bench-overload-{i:04}"))
        .collect()
}

async fn rate_limited_simulator(keys: &[String]) -> Result<Simulator> {
    Ok(openai_sim()
        .keys("openai", keys.to_vec())
        .rate_limit(
            "openai",
            RateLimit::new(BUCKET_CAPACITY, BUCKET_REFILL_PER_SEC),
        )
        .start()
        .await?)
}

/// Arrival times of a Poisson process of `rate` calls per second over `window`, as offsets
/// from the start: exponential gaps drawn from a generator seeded with `seed`, so the same
/// seed gives the same schedule.
fn poisson_arrivals(rate: f64, window: Duration, seed: u64) -> Vec<Duration> {
    let mut rng = StdRng::seed_from_u64(seed);
    let end = window.as_secs_f64();
    let mut at = 0.0_f64;
    let mut arrivals = Vec::with_capacity((rate * end * 1.2) as usize + 16);
    loop {
        // `random` is in [0, 1), so `1 - u` is in (0, 1] and its logarithm finite.
        let u: f64 = rng.random();
        at += -(1.0 - u).ln() / rate;
        if at >= end {
            return arrivals;
        }
        arrivals.push(Duration::from_secs_f64(at));
    }
}

/// The outcomes of one open-loop run, as the callers saw them. Serialized so the fleet's
/// worker processes can hand theirs to the parent.
#[derive(Debug, Default, Serialize, Deserialize)]
struct LoadResult {
    offered: u64,
    successes: u64,
    /// Successes that finished before the end of the offering window.
    successes_in_window: u64,
    /// Failed calls, unfinished ones included.
    failures: u64,
    /// Calls still running when the drain cap ran out (cancelled, counted as failures).
    unfinished: u64,
    error_kinds: BTreeMap<String, u64>,
    success_ms: Vec<u64>,
    /// Time to fail; for an unfinished call, its time until the cap.
    failure_ms: Vec<u64>,
}

impl LoadResult {
    fn merge(&mut self, other: LoadResult) {
        self.offered += other.offered;
        self.successes += other.successes;
        self.successes_in_window += other.successes_in_window;
        self.failures += other.failures;
        self.unfinished += other.unfinished;
        for (kind, n) in other.error_kinds {
            *self.error_kinds.entry(kind).or_default() += n;
        }
        self.success_ms.extend(other.success_ms);
        self.failure_ms.extend(other.failure_ms);
    }

    /// The caller's figures plus, from the simulator's log, the requests it saw for them.
    fn to_json(&self, sim: &SimStats, window: Duration) -> Value {
        let seen = sim.provider("openai");
        let mut ok_ms = self.success_ms.clone();
        let mut failed_ms = self.failure_ms.clone();
        ok_ms.sort_unstable();
        failed_ms.sort_unstable();
        json!({
            "offered": self.offered,
            "successes": self.successes,
            "successes_in_window": self.successes_in_window,
            "failures": self.failures,
            "unfinished": self.unfinished,
            "error_kinds": self.error_kinds,
            "sim_requests": seen.requests,
            "sim_ok": seen.ok,
            "sim_rate_limited": seen.rate_limited,
            "requests_per_success": requests_per_success(seen.requests, self.successes),
            "goodput_fraction": self.successes_in_window as f64
                / (capacity_per_sec() * window.as_secs_f64()),
            "success_p50_ms": percentile(&ok_ms, 0.5),
            "success_p99_ms": percentile(&ok_ms, 0.99),
            "failure_p50_ms": percentile(&failed_ms, 0.5),
            "failure_p99_ms": percentile(&failed_ms, 0.99),
        })
    }
}

/// Requests per success; with no success at all, every request was wasted: the request count
/// itself (JSON has no infinity).
fn requests_per_success(requests: u64, successes: u64) -> f64 {
    requests as f64 / successes.max(1) as f64
}

/// How long a run waits for in-flight calls after it stops offering: twice the success
/// latency target, so a call that meets its target always finishes within it.
fn drain_cap(spec: &ProviderSpec) -> Duration {
    2 * (Duration::from_millis(spec.retry.max_wait_ms) + Duration::from_millis(500))
}

/// Starts one call at each of `arrivals` (offsets from now; open loop: whatever earlier calls
/// are doing), stops offering at `window`, then waits at most `drain` for the calls still in
/// flight. Latency runs from the scheduled arrival, so a late start is charged to the call.
/// Calls unfinished at the cap are cancelled and counted as failures, with the time from their
/// arrival to the cap.
async fn run_arrivals<F, Fut>(
    arrivals: &[Duration],
    window: Duration,
    drain: Duration,
    call: F,
) -> LoadResult
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>> + Send + 'static,
{
    let started = tokio::time::Instant::now();
    let end = started + window;
    let cap = end + drain;
    let mut tasks = JoinSet::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut scheduled = Vec::with_capacity(arrivals.len());
    for &offset in arrivals.iter().take_while(|&&offset| offset < window) {
        let at = started + offset;
        tokio::time::sleep_until(at).await;
        let id = scheduled.len();
        scheduled.push(at);
        let fut = call();
        let tx = tx.clone();
        tasks.spawn(async move {
            let outcome = fut.await;
            let _ = tx.send((id, tokio::time::Instant::now(), outcome));
        });
    }
    drop(tx);
    tokio::time::sleep_until(end).await;
    let _ =
        tokio::time::timeout_at(cap, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    let mut result = LoadResult {
        offered: scheduled.len() as u64,
        ..LoadResult::default()
    };
    let mut finished = vec![false; scheduled.len()];
    while let Ok((id, at, outcome)) = rx.try_recv() {
        finished[id] = true;
        let took = at.saturating_duration_since(scheduled[id]).as_millis() as u64;
        match outcome {
            Ok(()) => {
                result.successes += 1;
                result.successes_in_window += u64::from(at <= end);
                result.success_ms.push(took);
            }
            Err(kind) => {
                result.failures += 1;
                *result.error_kinds.entry(kind).or_default() += 1;
                result.failure_ms.push(took);
            }
        }
    }
    for (id, _) in finished.iter().enumerate().filter(|(_, done)| !**done) {
        result.failures += 1;
        result.unfinished += 1;
        *result.error_kinds.entry("unfinished".into()).or_default() += 1;
        result
            .failure_ms
            .push(cap.saturating_duration_since(scheduled[id]).as_millis() as u64);
    }
    result
}

/// An `Sdk` for OpenAI only, with the shipped spec (`openai::PROVIDER` as generated: no
/// declared key limits), the given keys, pointed at `base_url`. The health store comes from
/// the environment (`CONFIG_TABLE`, else memory), as in a service.
fn shipped_sdk(keys: &[String], base_url: &str) -> Result<Sdk> {
    Ok(Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", keys.to_vec())
        .base_url("openai", base_url)
        .emf(false)
        .build()?)
}

/// One speech call, its error reduced to the error's class.
async fn sdk_call(sdk: Sdk) -> std::result::Result<(), String> {
    let client = sdk.openai().map_err(|e| e.class().to_owned())?;
    client
        .speech(SpeechRequest::new("overload"))
        .await
        .map(drop)
        .map_err(|e| e.class().to_owned())
}

/// One simulator, one `Sdk` with the shipped spec, `rate` Poisson arrivals for `window`.
async fn sdk_run(rate: f64, window: Duration, seed: u64) -> Result<Value> {
    let keys = overload_keys();
    let sim = rate_limited_simulator(&keys).await?;
    let sdk = shipped_sdk(&keys, &sim.base_url("openai"))?;
    let arrivals = poisson_arrivals(rate, window, seed);
    let result = run_arrivals(&arrivals, window, drain_cap(&openai::PROVIDER), || {
        sdk_call(sdk.clone())
    })
    .await;
    let stats = sim.stats();
    sim.shutdown().await;
    let mut value = result.to_json(&stats, window);
    value["offered_rate"] = json!(rate);
    Ok(value)
}

/// The naive scheme: one current key; on a 429 mark it exhausted and move to the next; when
/// every key is marked, fail the call and clear the marks (the next call starts over).
struct Naive {
    http: reqwest::Client,
    url: String,
    keys: Vec<String>,
    state: Mutex<NaiveState>,
}

struct NaiveState {
    current: usize,
    exhausted: Vec<bool>,
}

impl Naive {
    async fn call(&self, body: Vec<u8>) -> std::result::Result<(), String> {
        loop {
            let index = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.exhausted.iter().all(|&e| e) {
                    state.exhausted.iter_mut().for_each(|e| *e = false);
                    return Err("all_keys_exhausted".into());
                }
                while state.exhausted[state.current] {
                    state.current = (state.current + 1) % self.keys.len();
                }
                state.current
            };
            let response = self
                .http
                .post(&self.url)
                .bearer_auth(&self.keys[index])
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|_| "transport".to_owned())?;
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            match status {
                200..=299 => return Ok(()),
                429 => {
                    let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    state.exhausted[index] = true;
                    state.current = (index + 1) % self.keys.len();
                }
                other => return Err(format!("http_{other}")),
            }
        }
    }
}

/// The naive scheme over bare `reqwest`, same arrivals as the SDK's overload run.
async fn naive_run(rate: f64, window: Duration, seed: u64) -> Result<Value> {
    let keys = overload_keys();
    let sim = rate_limited_simulator(&keys).await?;
    let naive = Arc::new(Naive {
        http: reqwest::Client::builder().user_agent(USER_AGENT).build()?,
        url: format!("{}/v1/audio/speech", sim.base_url("openai")),
        keys: keys.clone(),
        state: Mutex::new(NaiveState {
            current: 0,
            exhausted: vec![false; keys.len()],
        }),
    });
    let body = serde_json::to_vec(&SpeechRequest::new("overload"))?;
    let arrivals = poisson_arrivals(rate, window, seed);
    let result = run_arrivals(&arrivals, window, drain_cap(&openai::PROVIDER), || {
        let (naive, body) = (naive.clone(), body.clone());
        async move { naive.call(body).await }
    })
    .await;
    let stats = sim.stats();
    sim.shutdown().await;
    let mut value = result.to_json(&stats, window);
    value["offered_rate"] = json!(rate);
    Ok(value)
}

async fn overload(mode: Mode) -> Result<Value> {
    let c = capacity_per_sec();
    let window = Duration::from_secs(mode.pick(5, 20));
    let under_rate = 0.75 * c;
    let over_rate = 1.5 * c;
    progress(&format!(
        "overload: {OVERLOAD_KEYS} keys x bucket {BUCKET_CAPACITY} refilled {BUCKET_REFILL_PER_SEC}/s (C = {c}/s), shipped OpenAI spec, Poisson arrivals for {} s: SDK at 0.75 C, SDK at 1.5 C, naive rotation at 1.5 C",
        window.as_secs()
    ));
    let under = sdk_run(under_rate, window, 1).await?;
    let over = sdk_run(over_rate, window, 2).await?;
    let naive = naive_run(over_rate, window, 2).await?;
    Ok(json!({
        "keys": OVERLOAD_KEYS,
        "bucket_capacity": BUCKET_CAPACITY,
        "per_key_rate": BUCKET_REFILL_PER_SEC,
        "capacity_per_sec": c,
        "window_seconds": window.as_secs_f64(),
        "drain_cap_ms": drain_cap(&openai::PROVIDER).as_millis() as u64,
        "max_wait_ms": openai::PROVIDER.retry.max_wait_ms,
        "deadline_ms": openai::PROVIDER.retry.deadline_ms,
        "under_capacity": under,
        "overload": over,
        "naive": naive,
    }))
}

// ---------------------------------------------------------------------------------------------
// 3. A fleet: worker processes sharing the keys, with and without a shared DynamoDB table.

/// The hidden subcommand a fleet worker runs (`media-sdk-bench fleet-worker ...`).
const FLEET_WORKER: &str = "fleet-worker";

/// What the parent tells a worker.
#[derive(Debug, Serialize, Deserialize)]
struct WorkerPlan {
    base_url: String,
    keys: Vec<String>,
    rate: f64,
    window_ms: u64,
    seed: u64,
}

/// A fleet worker: reads its plan (one JSON line on stdin), builds its own `Sdk` (the health
/// store from the environment: `CONFIG_TABLE` shares key cool-downs through DynamoDB), prints
/// `ready`, waits for `go` on stdin so every worker starts together, runs its share of the
/// load and prints its `LoadResult` as one JSON line.
fn fleet_worker() -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let plan: WorkerPlan = serde_json::from_str(&lines.next().context("no plan on stdin")??)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let sdk = shipped_sdk(&plan.keys, &plan.base_url)?;
        let window = Duration::from_millis(plan.window_ms);
        let arrivals = poisson_arrivals(plan.rate, window, plan.seed);
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
        }
        let go = lines.next().context("no go on stdin")??;
        if go.trim() != "go" {
            bail!("expected `go`, got `{go}`");
        }
        let result = run_arrivals(&arrivals, window, drain_cap(&openai::PROVIDER), || {
            sdk_call(sdk.clone())
        })
        .await;
        let _ = sdk.flush(Duration::from_secs(2)).await;
        anyhow::Ok(result)
    })?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Where the workers' `Sdk`s keep their shared state.
enum FleetStore<'a> {
    /// One DynamoDB table (on moto) for every worker.
    Table { endpoint: &'a str, table: &'a str },
    /// Each worker's own memory: nothing shared.
    Memory,
}

async fn fleet_run(store: FleetStore<'_>, rate: f64, window: Duration) -> Result<Value> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let keys = overload_keys();
    let sim = rate_limited_simulator(&keys).await?;
    let exe = std::env::current_exe().context("locate media-sdk-bench")?;
    let mut workers = Vec::with_capacity(FLEET_PROCESSES);
    for i in 0..FLEET_PROCESSES {
        let mut command = tokio::process::Command::new(&exe);
        command
            .arg(FLEET_WORKER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .env_remove("MEDIA_SDK_EMF");
        match &store {
            FleetStore::Table { endpoint, table } => {
                command
                    .env("CONFIG_TABLE", table)
                    .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env_remove("AWS_PROFILE")
                    .env_remove("AWS_SESSION_TOKEN");
            }
            FleetStore::Memory => {
                command.env_remove("CONFIG_TABLE");
            }
        }
        let mut child = command.spawn().context("spawn a fleet worker")?;
        let plan = WorkerPlan {
            base_url: sim.base_url("openai"),
            keys: keys.clone(),
            rate: rate / FLEET_PROCESSES as f64,
            window_ms: window.as_millis() as u64,
            seed: 100 + i as u64,
        };
        let mut stdin = child.stdin.take().context("worker stdin")?;
        stdin
            .write_all(format!("{}\n", serde_json::to_string(&plan)?).as_bytes())
            .await?;
        let mut stdout = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
        workers.push((child, stdin, stdout_line_after(&mut stdout).await, stdout));
    }
    for (_, _, ready, _) in &workers {
        match ready {
            Ok(line) if line == "ready" => {}
            Ok(line) => bail!("fleet worker said `{line}` instead of `ready`"),
            Err(e) => bail!("fleet worker did not get ready: {e}"),
        }
    }
    for (_, stdin, _, _) in &mut workers {
        stdin.write_all(b"go\n").await?;
        stdin.flush().await?;
    }
    let mut total = LoadResult::default();
    let limit = window + drain_cap(&openai::PROVIDER) + Duration::from_secs(30);
    for (mut child, _stdin, _, mut stdout) in workers {
        let line = tokio::time::timeout(limit, stdout.next_line())
            .await
            .context("a fleet worker did not report in time")??
            .context("a fleet worker exited without a result")?;
        total.merge(serde_json::from_str(&line).context("a fleet worker's result")?);
        let status = child.wait().await?;
        if !status.success() {
            bail!("a fleet worker failed: {status}");
        }
    }
    let stats = sim.stats();
    sim.shutdown().await;
    let mut value = total.to_json(&stats, window);
    value["offered_rate"] = json!(rate);
    value["processes"] = json!(FLEET_PROCESSES);
    Ok(value)
}

/// The first line a worker prints (`ready`), or why there is none.
async fn stdout_line_after(
    stdout: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Result<String> {
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .context("no answer within 30 s")??;
    line.context("exited before getting ready")
}

async fn fleet(mode: Mode) -> Result<Value> {
    let c = capacity_per_sec();
    let window = Duration::from_secs(mode.pick(5, 20));
    let rate = 1.5 * c;
    progress(&format!(
        "fleet: {FLEET_PROCESSES} processes offering {rate}/s together for {} s, with one DynamoDB table (moto) and without",
        window.as_secs()
    ));
    let moto = Moto::start()?;
    let endpoint = moto.endpoint();
    let table = "bench-fleet";
    dynamo_store(&endpoint, table).await?;
    let shared = fleet_run(
        FleetStore::Table {
            endpoint: &endpoint,
            table,
        },
        rate,
        window,
    )
    .await?;
    drop(moto);
    let alone = fleet_run(FleetStore::Memory, rate, window).await?;
    Ok(json!({
        "processes": FLEET_PROCESSES,
        "offered_rate": rate,
        "capacity_per_sec": c,
        "window_seconds": window.as_secs_f64(),
        "table": shared,
        "no_table": alone,
    }))
}

// ---------------------------------------------------------------------------------------------
// 4. Health writes to DynamoDB (moto) and memory during an outage.

/// A moto server this process started, killed (by its pid) on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Result<Self> {
        let path = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
            });
        if !path.is_file() {
            bail!(
                "moto_server not found at {} (create .venv with moto[dynamodb], or set MOTO_SERVER)",
                path.display()
            );
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let child = Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawn {}", path.display()))?;
        let mut moto = Self { child, port };
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                bail!("moto_server exited during startup: {status}");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("moto_server did not listen within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn dynamo_store(endpoint: &str, table: &str) -> Result<DynamoStore> {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        // The recorder retries by itself; SDK retries off so its count is the wire count.
        .retry_config(RetryConfig::disabled())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table);
    store
        .create_table_if_missing()
        .await
        .map_err(|e| anyhow!("create table: {e}"))?;
    Ok(store)
}

/// Resident set size from `/proc/self/statm` (pages of 4 KiB on the machines we run on).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn synthetic_metric(i: u64) -> CallMetric {
    CallMetric {
        health_id: "openai-tts",
        provider: "openai",
        endpoint: "speech",
        latency_ms: 100 + i % 50,
        ttfb_ms: None,
        cancelled: false,
        success: !i.is_multiple_of(20),
        status: Some(if i.is_multiple_of(20) { 500 } else { 200 }),
        error_class: i.is_multiple_of(20).then_some("api"),
        attempts: 1,
        key_fingerprint: Some("k_0123abcd".into()),
        credits: 0,
        at: SystemTime::now(),
    }
}

/// Heap and inline bytes one queued metric holds (strings rounded to malloc's 16-byte
/// granularity plus a 16-byte chunk header each).
fn queued_item_bytes() -> u64 {
    let item = MetricItem::from_call(
        &synthetic_metric(0),
        "0123456789abcdef".into(),
        Duration::from_secs(300),
    );
    let heap = |s: &str| ((s.len() as u64).div_ceil(16) * 16).max(16) + 16;
    let strings = [
        item.health_id.as_str(),
        item.provider.as_str(),
        item.endpoint.as_str(),
        item.unique.as_str(),
        item.key_fingerprint.as_deref().unwrap_or(""),
    ];
    std::mem::size_of::<HealthItem>() as u64 + strings.iter().map(|s| heap(s)).sum::<u64>()
}

async fn health(mode: Mode) -> Result<Value> {
    let calls = 1_000_u64;
    progress("health: starting moto");
    let mut moto = Moto::start()?;
    let endpoint = moto.endpoint();

    // DynamoDB requests per 1,000 SDK calls.
    progress(&format!(
        "health: {calls} SDK calls with a HealthRecorder on DynamoDB"
    ));
    let store = dynamo_store(&endpoint, "bench-health").await?;
    let config = RecorderConfig::for_providers(&[&openai::PROVIDER]);
    let key = "sk-bench-health-0001";
    let sim = openai_sim().keys("openai", [key]).start().await?;
    let sdk = Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", [key])
        .base_url("openai", sim.base_url("openai"))
        .health_store(Arc::new(store))
        .recorder_config(config.clone())
        .build()?;
    let concurrency = 8_u64;
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let sdk = sdk.clone();
        tasks.spawn(async move {
            for _ in 0..calls / concurrency {
                sdk.openai()?.speech(SpeechRequest::new("health")).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    sdk.flush(Duration::from_secs(30))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let written_stats = sdk.recorder_stats();
    sim.shutdown().await;
    drop(sdk);
    let per_1000 = written_stats.store_requests as f64 * 1_000.0 / calls as f64;

    // Memory during an outage: warm up with the server up, then kill it and keep the load on.
    let outage = Duration::from_secs(mode.pick(10, 60));
    let rate_per_ms = 2_u64;
    progress(&format!(
        "health: outage of {} s at {} metrics/s",
        outage.as_secs(),
        rate_per_ms * 1_000
    ));
    let store = dynamo_store(&endpoint, "bench-outage").await?;
    let recorder = HealthRecorder::spawn(Arc::new(store), config.clone());
    let mut n = 0_u64;
    let drive = |recorder: &HealthRecorder, run: Duration, n: &mut u64| {
        let recorder = recorder.clone();
        let mut i = *n;
        async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            let end = tokio::time::Instant::now() + run;
            while ticker.tick().await < end {
                for _ in 0..rate_per_ms {
                    recorder.record_call(synthetic_metric(i));
                    i += 1;
                }
            }
            i
        }
    };
    n = drive(&recorder, Duration::from_secs(2), &mut n).await;
    recorder
        .flush(Duration::from_secs(30))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let before = recorder.stats();
    let rss_before = rss_bytes();
    moto.kill();
    let mut rss_peak = rss_before;
    let started = Instant::now();
    while started.elapsed() < outage {
        let left = outage
            .saturating_sub(started.elapsed())
            .min(Duration::from_secs(1));
        n = drive(&recorder, left, &mut n).await;
        rss_peak = rss_peak.max(rss_bytes());
    }
    let rss_after = rss_bytes();
    let after = recorder.stats();
    let item_bytes = queued_item_bytes();
    let bound = config.capacity as u64 * item_bytes;
    Ok(json!({
        "calls": calls,
        "store_requests": written_stats.store_requests,
        "batches": written_stats.batches,
        "written": written_stats.written,
        "ddb_requests_per_1000": per_1000,
        "outage_seconds": outage.as_secs(),
        "outage_metrics_per_sec": rate_per_ms * 1_000,
        "outage_metrics_offered": n,
        "outage_dropped_full": after.dropped_full - before.dropped_full,
        "outage_dropped_store_error": after.dropped_store_error - before.dropped_store_error,
        "outage_store_requests": after.store_requests - before.store_requests,
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "rss_peak_bytes": rss_peak,
        "outage_rss_growth_bytes": rss_after.saturating_sub(rss_before),
        "queue_capacity": config.capacity,
        "queued_item_bytes": item_bytes,
        "queue_bound_bytes": bound,
    }))
}

// ---------------------------------------------------------------------------------------------
// 5. Streaming audio: time to the first byte against the buffered call, and memory while a long
// stream is consumed chunk by chunk.

/// Audio of the latency figure: about 1 MB, paced by the simulator over about 2 s.
const PACED_BYTES: u64 = 1 << 20;
const PACED_CHUNK: usize = 16 * 1024;
const PACED_OVER: Duration = Duration::from_secs(2);
/// Audio of the memory figure: 200 MB in 64 KiB chunks, as fast as they are read.
const LONG_BYTES: u64 = 200 * 1024 * 1024;
const LONG_CHUNK: usize = 64 * 1024;
const STREAM_RSS_WORKER: &str = "stream-rss-worker";

/// `response` with a stream allowing `max_bytes`: the declared stream, else OpenAI's native
/// one (on the endpoint's own path, raw audio).
const fn streaming(response: ResponseSpec, max_bytes: u64) -> ResponseSpec {
    match response {
        ResponseSpec::Audio {
            content_type,
            stream: Some(stream),
        } => ResponseSpec::Audio {
            content_type,
            stream: Some(StreamSpec {
                max_bytes,
                ..stream
            }),
        },
        ResponseSpec::Audio {
            content_type,
            stream: None,
        } => ResponseSpec::Audio {
            content_type,
            stream: Some(StreamSpec {
                path: None,
                idle_timeout_ms: 30_000,
                max_bytes,
                events: None,
            }),
        },
        other => other,
    }
}

/// OpenAI's speech request with a stream cap of 1 GiB: the shipped cap is sized for speech,
/// the memory figure streams 200 MB on purpose. Everything else is the generated endpoint's.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct LongSpeech(SpeechRequest);

impl Validate for LongSpeech {
    fn validate(&self) -> std::result::Result<(), ValidationError> {
        self.0.validate()
    }
}

impl Endpoint for LongSpeech {
    type Output = Audio;
    const SPEC: EndpointSpec = EndpointSpec {
        response: streaming(<SpeechRequest as Endpoint>::SPEC.response, 1 << 30),
        ..<SpeechRequest as Endpoint>::SPEC
    };
    fn path_params(&self) -> Vec<(&'static str, String)> {
        self.0.path_params()
    }
    fn query_params(&self) -> Vec<(&'static str, String)> {
        self.0.query_params()
    }
    fn decode(body: ResponseBody) -> std::result::Result<Audio, DecodeError> {
        SpeechRequest::decode(body)
    }
}

/// The simulator's OpenAI routes, with speech streaming natively on its path (as the shipped
/// spec declares it once streams are in `providers.yaml`; added here when it is not).
fn streaming_openai_routes() -> Vec<SimRoute> {
    media_sdk_sim::providers::openai::routes()
        .into_iter()
        .map(|route| SimRoute {
            spec: EndpointSpec {
                response: streaming(route.spec.response, 1 << 30),
                ..route.spec
            },
            ..route
        })
        .collect()
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    percentile(&values, 0.5)
}

async fn stream(mode: Mode) -> Result<Value> {
    let runs = mode.pick(3, 7);
    let key = "sk-bench-stream-0001";
    let sim = Simulator::builder()
        .provider(&openai::PROVIDER, streaming_openai_routes())
        .keys("openai", [key])
        .stream_pacing(
            "openai",
            StreamPacing::over(PACED_BYTES, PACED_CHUNK, PACED_OVER),
        )
        .start()
        .await?;
    let sdk = Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", [key])
        .base_url("openai", sim.base_url("openai"))
        .emf(false)
        .build()?;
    let client = sdk.provider("openai").context("no openai client")?;

    progress(&format!(
        "stream: {runs} x {} KiB paced over {} ms, streamed and buffered",
        PACED_BYTES / 1024,
        PACED_OVER.as_millis()
    ));
    let (mut ttfb, mut stream_total, mut buffered) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let mut audio = client.stream(SpeechRequest::new("stream")).await?;
        let mut bytes = 0_u64;
        let mut first = None;
        while let Some(chunk) = audio.next().await {
            bytes += chunk?.len() as u64;
            first.get_or_insert_with(|| started.elapsed());
        }
        if bytes != PACED_BYTES {
            bail!("streamed {bytes} bytes, expected {PACED_BYTES}");
        }
        ttfb.push(first.context("an empty stream")?.as_micros() as u64);
        stream_total.push(started.elapsed().as_micros() as u64);

        let started = Instant::now();
        let whole = sdk.openai()?.speech(SpeechRequest::new("stream")).await?;
        if whole.bytes.len() as u64 != PACED_BYTES {
            bail!(
                "buffered {} bytes, expected {PACED_BYTES}",
                whole.bytes.len()
            );
        }
        buffered.push(started.elapsed().as_micros() as u64);
    }

    progress(&format!(
        "stream: {} MiB consumed chunk by chunk in a child process",
        LONG_BYTES >> 20
    ));
    sim.set_stream_pacing(
        "openai",
        StreamPacing {
            chunk_bytes: LONG_CHUNK,
            interval: Duration::ZERO,
            total_bytes: Some(LONG_BYTES),
        },
    );
    let exe = std::env::current_exe().context("locate media-sdk-bench")?;
    let output = tokio::process::Command::new(&exe)
        .arg(STREAM_RSS_WORKER)
        .arg(sim.base_url("openai"))
        .arg(key)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .env_remove("MEDIA_SDK_EMF")
        .output()
        .await
        .context("run the stream memory worker")?;
    if !output.status.success() {
        bail!("the stream memory worker failed: {}", output.status);
    }
    let worker: RssReport =
        serde_json::from_slice(&output.stdout).context("the stream memory worker's report")?;
    sim.shutdown().await;

    let ms = |us: u64| us as f64 / 1_000.0;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    Ok(json!({
        "runs": runs,
        "paced_bytes": PACED_BYTES,
        "paced_chunk_bytes": PACED_CHUNK,
        "paced_over_ms": PACED_OVER.as_millis() as u64,
        "tts_stream_ttfb_ms": ms(median(ttfb)),
        "tts_stream_total_ms": ms(median(stream_total)),
        "tts_buffered_ms": ms(median(buffered)),
        "long_stream_bytes": worker.bytes,
        "long_stream_chunks": worker.chunks,
        "long_stream_seconds": worker.seconds,
        "rss_baseline_bytes": worker.baseline_bytes,
        "rss_peak_bytes": worker.peak_bytes,
        "rss_peak_source": worker.peak_source,
        "tts_stream_peak_rss_mib": mib(worker.peak_bytes.saturating_sub(worker.baseline_bytes)),
    }))
}

/// What the stream memory worker measured.
#[derive(Debug, Serialize, Deserialize)]
struct RssReport {
    bytes: u64,
    chunks: u64,
    seconds: f64,
    baseline_bytes: u64,
    peak_bytes: u64,
    /// `"VmHWM"` when the peak could be reset before the stream, else `"VmRSS samples"`.
    peak_source: String,
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The stream memory worker: `stream-rss-worker BASE_URL KEY`. Builds its `Sdk`, warms it up
/// with the first chunks of a stream (then dropped), takes its resident set as the baseline, resets the peak
/// (`/proc/self/clear_refs`), consumes a long stream chunk by chunk (each chunk dropped at
/// once) and prints the peak as one JSON line.
fn stream_rss_worker() -> Result<()> {
    let mut args = std::env::args().skip(2);
    let base_url = args
        .next()
        .context("stream-rss-worker needs BASE_URL KEY")?;
    let key = args
        .next()
        .context("stream-rss-worker needs BASE_URL KEY")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let sdk = shipped_sdk(&[key], &base_url)?;
        let client = sdk.provider("openai").context("no openai client")?;
        // Warm-up: a connection, the runtime's buffers; the first chunks, then cancelled.
        let mut warm_up = client
            .stream(LongSpeech(SpeechRequest::new("warm-up")))
            .await?;
        for _ in 0..16 {
            warm_up.next().await.context("a short warm-up stream")??;
        }
        drop(warm_up);
        let baseline = proc_status_bytes("VmRSS").context("no VmRSS")?;
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let started = Instant::now();
        let mut audio = client
            .stream(LongSpeech(SpeechRequest::new("a long stream")))
            .await?;
        let (mut bytes, mut chunks, mut sampled) = (0_u64, 0_u64, baseline);
        while let Some(chunk) = audio.next().await {
            bytes += chunk?.len() as u64;
            chunks += 1;
            if chunks.is_multiple_of(16) {
                sampled = sampled.max(proc_status_bytes("VmRSS").unwrap_or(0));
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let hwm = proc_status_bytes("VmHWM").unwrap_or(0);
        let (peak_bytes, peak_source) = if reset {
            (hwm.max(sampled), "VmHWM")
        } else {
            (sampled, "VmRSS samples")
        };
        anyhow::Ok(RssReport {
            bytes,
            chunks,
            seconds,
            baseline_bytes: baseline,
            peak_bytes,
            peak_source: peak_source.to_owned(),
        })
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_picks_the_nearest_rank_and_reads_zero_when_empty() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.5), 51);
        assert_eq!(percentile(&sorted, 0.99), 99);
        assert_eq!(percentile(&sorted, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.99), 0);
    }

    #[test]
    fn poisson_arrivals_are_seeded_ordered_within_the_window_and_near_the_rate() {
        let window = Duration::from_secs(100);
        let arrivals = poisson_arrivals(50.0, window, 7);
        assert_eq!(arrivals, poisson_arrivals(50.0, window, 7), "same seed");
        assert_ne!(arrivals, poisson_arrivals(50.0, window, 8), "other seed");
        assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
        assert!(arrivals.iter().all(|&a| a < window));
        // 5,000 expected; the standard deviation is sqrt(5,000) ≈ 71.
        assert!(
            (4_700..=5_300).contains(&arrivals.len()),
            "{}",
            arrivals.len()
        );
        // Exponential gaps: about e^-1 of them exceed the mean gap (20 ms).
        let gaps = arrivals.windows(2).map(|w| w[1] - w[0]);
        let long = gaps.filter(|&g| g > Duration::from_millis(20)).count();
        let share = long as f64 / arrivals.len() as f64;
        assert!((0.33..=0.41).contains(&share), "{share}");
    }

    #[test]
    fn requests_per_success_never_divides_by_zero() {
        assert_eq!(requests_per_success(110, 100), 1.1);
        assert_eq!(requests_per_success(40, 0), 40.0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unfinished_call_fails_at_the_cap_with_its_time_since_arrival() {
        let arrivals = [
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(3),
        ];
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let result = run_arrivals(
            &arrivals,
            Duration::from_secs(2),
            Duration::from_secs(5),
            || {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    match n {
                        0 => Ok(()),
                        _ => std::future::pending().await,
                    }
                }
            },
        )
        .await;
        assert_eq!(
            result.offered, 2,
            "the arrival after the window is not offered"
        );
        assert_eq!((result.successes, result.successes_in_window), (1, 1));
        assert_eq!((result.failures, result.unfinished), (1, 1));
        // Arrived at 1 s, cap at 2 s + 5 s.
        assert_eq!(result.failure_ms, [6_000]);
        assert_eq!(result.error_kinds.get("unfinished"), Some(&1));
    }
}
