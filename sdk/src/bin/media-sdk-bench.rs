//! `media-sdk-bench`: the runtime figures of `docs/BENCHMARKS.md`, measured against the local
//! simulator and a moto DynamoDB server on loopback. Run through `cargo xtask bench`, which adds
//! the key-pool (criterion) and codegen figures and writes the document.
//!
//! ```text
//! media-sdk-bench [--quick] [--only overhead,goodput,health]
//! ```
//!
//! Prints one JSON object on stdout; progress goes to stderr.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use media_sdk::generated::openai::{self, SpeechRequest};
use media_sdk::health::{
    DynamoStore, HealthItem, HealthRecorder, MemoryStore, MetricItem, RecorderConfig,
};
use media_sdk::sdk::Sdk;
use media_sdk::sim::{RateLimit, Simulator};
use media_sdk::spec::ProviderSpec;
use media_sdk::telemetry::CallMetric;
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
        if wants("goodput") {
            out.insert("goodput".into(), goodput(mode).await?);
        }
        if wants("health") {
            out.insert("health".into(), health(mode).await?);
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

async fn overhead(mode: Mode) -> Result<Value> {
    let pairs = mode.pick(3_000, 20_000);
    let warmup = mode.pick(300, 1_000);
    progress(&format!(
        "overhead: {pairs} interleaved rounds (+{warmup} warm-up)"
    ));
    let key = "sk-bench-overhead-0001";
    let sim = Simulator::builder()
        .provider(&openai::PROVIDER, openai::sim_routes())
        .keys("openai", [key])
        .start()
        .await?;
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
    // The same SDK without telemetry, to attribute the recorder's share of the overhead.
    let plain = Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", [key])
        .base_url("openai", base.clone())
        .http_client(http.clone())
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
    for i in 0..warmup + pairs {
        // Rotate the order of the three variants so drift and ordering effects cancel.
        let mut times = [Duration::ZERO; 3];
        for step in 0..3 {
            let variant = (i + step) % 3;
            times[variant] = match variant {
                0 => sdk_call(&sdk, request.clone()).await?,
                1 => bare_call().await?,
                _ => sdk_call(&plain, request.clone()).await?,
            };
        }
        if i >= warmup {
            let [s, b, p] = times.map(|t| t.as_nanos() as u64);
            sdk_ns.push(s);
            bare_ns.push(b);
            plain_ns.push(p);
            diff_ns.push(s as i64 - b as i64);
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
        "pairs": pairs,
        "sdk_median_us": us(sdk_median),
        "sdk_p99_us": us(percentile(&sdk_ns, 0.99)),
        "bare_median_us": us(bare_median),
        "bare_p99_us": us(percentile(&bare_ns, 0.99)),
        "sdk_no_telemetry_median_us": us(percentile(&plain_ns, 0.5)),
        "sdk_no_telemetry_p99_us": us(percentile(&plain_ns, 0.99)),
        "median_ratio": sdk_median as f64 / bare_median as f64,
        "median_added_us": us(sdk_median) - us(bare_median),
        "paired_median_added_us": paired_median,
        "metrics_recorded": stats.written,
    }))
}

// ---------------------------------------------------------------------------------------------
// 2. Goodput under per-key rate limits.

/// The OpenAI spec with a retry policy that waits for the next token instead of failing:
/// `max_wait_ms` and `deadline_ms` longer than the whole run, so a caller queued behind a
/// saturated pool waits for the earliest key to refill, and `max_attempts` high enough that
/// losing the race for a fresh token to another waiting caller does not fail the call.
/// `ProviderSpec` is `'static` (generated statics), hence the leak: one small struct per run.
fn patient_spec(run: Duration) -> &'static ProviderSpec {
    let mut spec = openai::PROVIDER;
    let long = u64::try_from(run.as_millis()).unwrap_or(u64::MAX) * 10;
    spec.retry.max_wait_ms = long;
    spec.retry.deadline_ms = long;
    spec.retry.max_attempts = 1_000;
    Box::leak(Box::new(spec))
}

#[derive(Debug, Default)]
struct LoadResult {
    offered: u64,
    ok: u64,
    errors: u64,
    pending: u64,
    error_kinds: HashMap<String, u64>,
    latencies_ms: Vec<u64>,
}

impl LoadResult {
    fn to_json(&self, capacity: f64, secs: f64) -> Value {
        let mut lat = self.latencies_ms.clone();
        lat.sort_unstable();
        json!({
            "offered": self.offered,
            "successes": self.ok,
            "caller_errors": self.errors,
            "pending_at_end": self.pending,
            "successes_per_sec": self.ok as f64 / secs,
            "goodput_fraction": self.ok as f64 / capacity,
            "error_kinds": self.error_kinds,
            "latency_median_ms": percentile(&lat, 0.5),
            "latency_p99_ms": percentile(&lat, 0.99),
        })
    }
}

/// Offers `rate` calls per second for `run` (open loop: a new task per tick, whatever the
/// earlier calls are doing) and counts the outcomes that finished within `run`.
async fn open_loop<F, Fut>(rate: f64, run: Duration, call: F) -> LoadResult
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let started = tokio::time::Instant::now();
    let end = started + run;
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval_at(started, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut result = LoadResult::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    loop {
        let at = ticker.tick().await;
        if at >= end {
            break;
        }
        result.offered += 1;
        let fut = call();
        let tx = tx.clone();
        tasks.spawn(async move {
            let t0 = tokio::time::Instant::now();
            let outcome = fut.await;
            let _ = tx.send((tokio::time::Instant::now(), t0.elapsed(), outcome));
        });
    }
    tokio::time::sleep_until(end).await;
    drop(tx);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    while let Some((finished, took, outcome)) = rx.recv().await {
        if finished > end {
            result.pending += 1;
            continue;
        }
        match outcome {
            Ok(()) => {
                result.ok += 1;
                result.latencies_ms.push(took.as_millis() as u64);
            }
            Err(kind) => {
                result.errors += 1;
                *result.error_kinds.entry(kind).or_default() += 1;
            }
        }
    }
    result.pending += result.offered - result.ok - result.errors - result.pending;
    result
}

struct GoodputSetup {
    keys: Vec<String>,
    limit: RateLimit,
}

impl GoodputSetup {
    async fn simulator(&self) -> Result<Simulator> {
        Ok(Simulator::builder()
            .provider(&openai::PROVIDER, openai::sim_routes())
            .keys("openai", self.keys.clone())
            .rate_limit("openai", self.limit)
            .start()
            .await?)
    }
}

async fn sdk_load(
    setup: &GoodputSetup,
    keys: &[String],
    rate: f64,
    run: Duration,
) -> Result<LoadResult> {
    let sim = setup.simulator().await?;
    let spec = patient_spec(run);
    let sdk = Sdk::builder()
        .providers(&[spec])
        .keys("openai", keys.to_vec())
        .base_url("openai", sim.base_url("openai"))
        .build()?;
    let result = open_loop(rate, run, || {
        let sdk = sdk.clone();
        async move {
            let client = sdk.openai().map_err(|e| e.class().to_owned())?;
            client
                .speech(SpeechRequest::new("goodput"))
                .await
                .map(drop)
                .map_err(|e| e.class().to_owned())
        }
    })
    .await;
    sim.shutdown().await;
    Ok(result)
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

async fn naive_load(setup: &GoodputSetup, rate: f64, run: Duration) -> Result<LoadResult> {
    let sim = setup.simulator().await?;
    let naive = Arc::new(Naive {
        http: reqwest::Client::builder().user_agent(USER_AGENT).build()?,
        url: format!("{}/v1/audio/speech", sim.base_url("openai")),
        keys: setup.keys.clone(),
        state: Mutex::new(NaiveState {
            current: 0,
            exhausted: vec![false; setup.keys.len()],
        }),
    });
    let body = serde_json::to_vec(&SpeechRequest::new("goodput"))?;
    let result = open_loop(rate, run, || {
        let (naive, body) = (naive.clone(), body.clone());
        async move { naive.call(body).await }
    })
    .await;
    sim.shutdown().await;
    Ok(result)
}

async fn goodput(mode: Mode) -> Result<Value> {
    let k = 3_usize;
    let r = 20.0_f64;
    let bucket = 5_u32;
    let overload = 1.5_f64;
    let run = Duration::from_secs(mode.pick(4, 10));
    let setup = GoodputSetup {
        keys: (0..k).map(|i| format!("sk-bench-goodput-{i:04}")).collect(),
        limit: RateLimit::new(bucket, r),
    };
    let rate = overload * k as f64 * r;
    let secs = run.as_secs_f64();
    // The most the simulator admits over the run: every key's full bucket plus its refill.
    let capacity = k as f64 * (f64::from(bucket) + r * secs);
    progress(&format!(
        "goodput: {k} keys x {r}/s, offered {rate}/s for {secs} s (SDK, naive, single key, SDK with a 1-token bucket)"
    ));
    let sdk = sdk_load(&setup, &setup.keys, rate, run).await?;
    let naive = naive_load(&setup, rate, run).await?;
    let single = sdk_load(&setup, &setup.keys[..1], rate, run).await?;
    // The harshest bucket: one token, so any delay between a refill and the next request
    // loses capacity for good (tokio timers have 1 ms granularity).
    let strict = GoodputSetup {
        keys: setup.keys.clone(),
        limit: RateLimit::new(1, r),
    };
    let strict_capacity = k as f64 * (1.0 + r * secs);
    let sdk_bucket_1 = sdk_load(&strict, &strict.keys, rate, run).await?;
    Ok(json!({
        "keys": k,
        "per_key_rate": r,
        "bucket_capacity": bucket,
        "offered_rate": rate,
        "seconds": secs,
        "capacity_requests": capacity,
        "sdk": sdk.to_json(capacity, secs),
        "naive": naive.to_json(capacity, secs),
        "single_key": single.to_json(capacity, secs),
        "sdk_bucket_1": sdk_bucket_1.to_json(strict_capacity, secs),
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
        success: !i.is_multiple_of(20),
        status: Some(if i.is_multiple_of(20) { 500 } else { 200 }),
        error_class: i.is_multiple_of(20).then_some("api"),
        attempts: 1,
        key_fingerprint: Some("k_0123abcd".into()),
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
    let sim = Simulator::builder()
        .provider(&openai::PROVIDER, openai::sim_routes())
        .keys("openai", [key])
        .start()
        .await?;
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
