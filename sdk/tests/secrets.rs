//! Key pools read from AWS Secrets Manager (moto on loopback) and rotated while the SDK runs,
//! against the simulator, which accepts only the keys currently issued (a stale key is refused
//! with 401); per-key daily budgets; per-key usage in health reports.
//!
//! Reloads are on demand (`Sdk::reload_keys`), never by waiting for the interval; budget days
//! move with an explicit clock.

#[path = "support/logs.rs"]
mod logs;
#[path = "support/moto.rs"]
mod moto;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use futures::StreamExt;
use media_sdk::health::{
    AlertKind, BUDGET_RETENTION, HealthItem, HealthStore, ManualClock, MemoryStore, MetricItem,
};
use media_sdk::keys::{KeyLoader, KeySourceError, KeyState, LoadFuture, fingerprint};
use media_sdk::openai::SpeechRequest;
use media_sdk::spec::{DailyBudget, KeySource, ProviderSpec, SecretsManagerSource};
use media_sdk::telemetry::CallMetric;
use media_sdk::{AudioStream, CallOptions, Error, Sdk, SdkBuilder};
use media_sdk_sim::{SimBuilder, Simulator, StreamPacing};

/// The stage variable of the test specs, and its value.
const STAGE_ENV: &str = "MEDIA_SDK_SECRETS_TEST_STAGE";
const STAGE: &str = "ci";
/// The keys the simulator knows; tests revoke the ones not issued yet.
const K1: &str = "sk-rotate-one-0001";
const K2: &str = "sk-rotate-two-0002";
const K3: &str = "sk-rotate-three-0003";
const ALL_KEYS: [&str; 3] = [K1, K2, K3];

/// moto, with the AWS variables the SDK's configuration chain reads pointing at it (set once,
/// before any client is built, the same for every test of this binary).
fn moto() -> &'static moto::MotoServer {
    static ENV: OnceLock<()> = OnceLock::new();
    let server = moto::shared();
    ENV.get_or_init(|| {
        // SAFETY: set once under the OnceLock, before any test of this binary builds a client
        // or reads these variables; every test gets the same values.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.endpoint());
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            std::env::set_var(STAGE_ENV, STAGE);
        }
    });
    server
}

/// A client of moto's Secrets Manager, for the test to write secrets.
fn secrets_client() -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(moto().endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto-test"))
        .build();
    Client::from_conf(config)
}

/// A secret name pattern unique to one test: `media-sdk/{stage}/openai-<n>`.
fn unique_pattern() -> &'static str {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Box::leak(format!("media-sdk/{{stage}}/openai-{}-{n}", std::process::id()).into_boxed_str())
}

/// The OpenAI spec with its keys in the secret `pattern` (field `api_keys`) and `budget`.
fn spec(pattern: &'static str, budget: Option<DailyBudget>) -> &'static ProviderSpec {
    let openai = &media_sdk::openai::PROVIDER;
    Box::leak(Box::new(ProviderSpec {
        keys: KeySource {
            secrets_manager: Some(SecretsManagerSource {
                secret: pattern,
                field: Some("api_keys"),
                stage_env: STAGE_ENV,
                override_env: None,
            }),
            daily_budget: budget,
            ..openai.keys
        },
        ..*openai
    }))
}

/// The secret's name for `pattern` in this stage.
fn secret_name(pattern: &str) -> String {
    pattern.replace("{stage}", STAGE)
}

async fn put_secret(pattern: &str, value: &str) {
    let client = secrets_client();
    let name = secret_name(pattern);
    let put = client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(value)
        .send()
        .await;
    if put.is_err() {
        client
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .expect("create the secret in moto");
    }
}

async fn put_keys(pattern: &str, keys: &[&str]) {
    put_secret(
        pattern,
        &serde_json::json!({ "api_keys": keys.join(",") }).to_string(),
    )
    .await;
}

/// The simulator, knowing every test key and accepting only `issued` ones, streaming in small
/// chunks.
async fn simulator(issued: &[&str]) -> Simulator {
    simulator_with(issued, |b| b).await
}

async fn simulator_with(
    issued: &[&str],
    configure: impl FnOnce(SimBuilder) -> SimBuilder,
) -> Simulator {
    let builder = Simulator::builder()
        .generated()
        .seed(3)
        .keys("openai", ALL_KEYS)
        .stream_pacing(
            "openai",
            StreamPacing {
                chunk_bytes: 256,
                interval: Duration::ZERO,
                total_bytes: None,
            },
        );
    let sim = configure(builder).start().await.expect("simulator starts");
    for key in ALL_KEYS.iter().filter(|k| !issued.contains(k)) {
        sim.revoke_key("openai", key);
    }
    sim
}

/// An SDK for `spec` on the simulator, reloading on demand only.
fn builder(spec: &'static ProviderSpec, sim: &Simulator) -> SdkBuilder {
    Sdk::builder()
        .providers(&[spec])
        .base_url("openai", sim.base_url("openai"))
        .key_reload_interval(None)
        .cooldown_sync_interval(None)
        .health_store(Arc::new(MemoryStore::new()))
}

/// A secret unique to the test holding `keys`, and the simulator issuing exactly those keys;
/// returns the secret's pattern and the simulator.
async fn issued(keys: &[&str]) -> (&'static str, Simulator) {
    let pattern = unique_pattern();
    put_keys(pattern, keys).await;
    (pattern, simulator(keys).await)
}

/// [`issued`], and an SDK with no budget whose first load read the secret.
async fn loaded(keys: &[&str]) -> (&'static str, Simulator, Sdk) {
    let (pattern, sim) = issued(keys).await;
    let sdk = builder(spec(pattern, None), &sim)
        .build_loaded()
        .await
        .unwrap();
    (pattern, sim, sdk)
}

/// `what` must finish long before this; it is a guard against a hang, not a wait for work.
async fn bounded<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after 20 s"))
}

async fn speak(sdk: &Sdk) -> Result<usize, Error> {
    let audio = sdk.openai()?.speech(SpeechRequest::new("rotate")).await?;
    Ok(audio.bytes.len())
}

/// Makes `calls` OpenAI speech calls, each charged `credits`; panics on a failed one.
async fn speak_charged(sdk: &Sdk, calls: usize, credits: u32) {
    let openai = sdk.openai().unwrap();
    let options = CallOptions::default().credits(credits);
    for _ in 0..calls {
        openai
            .speech_with(SpeechRequest::new("charged"), &options)
            .await
            .unwrap();
    }
}

fn keys_used(sim: &Simulator) -> Vec<String> {
    sim.requests_for("openai")
        .into_iter()
        .map(|r| r.key_fingerprint.unwrap_or_default())
        .collect()
}

fn fps(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| fingerprint(k)).collect()
}

/// Reads `stream` to its end; panics on an error.
async fn drain(mut stream: AudioStream) -> usize {
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.expect("the stream ends without error").len();
    }
    total
}

#[tokio::test]
async fn the_first_load_reads_the_stage_secret_before_the_first_call() {
    let (pattern, sim) = issued(&[K1, K2]).await;
    let sdk = bounded(
        "the first load",
        builder(spec(pattern, None), &sim).build_loaded(),
    )
    .await
    .unwrap();
    assert_eq!(
        sdk.provider("openai").unwrap().pool().fingerprints(),
        fps(&[K1, K2])
    );
    for _ in 0..4 {
        assert!(speak(&sdk).await.unwrap() > 0);
    }
    let used = keys_used(&sim);
    assert!(
        used.contains(&fingerprint(K1)) && used.contains(&fingerprint(K2)),
        "{used:?}"
    );
}

#[tokio::test]
async fn a_rotated_key_is_used_after_a_reload_without_a_failed_call() {
    let (pattern, sim, sdk) = loaded(&[K1]).await;
    let pool = sdk.provider("openai").unwrap().pool().clone();

    // Calls in flight on the old key, held by the simulator's gate.
    let gate = sim.gate_streams("openai");
    let openai = sdk.openai().unwrap();
    let mut in_flight = Vec::new();
    for _ in 0..3 {
        let stream = bounded(
            "a stream's headers",
            openai.speech_stream(SpeechRequest::new("in flight")),
        )
        .await
        .unwrap();
        in_flight.push(stream);
    }
    assert_eq!(pool.snapshot()[0].in_flight, 3);

    // Rotation: the provider issues K2, the secret is updated, the SDK reloads, then the
    // provider retires K1.
    sim.restore_key("openai", K2);
    put_keys(pattern, &[K2]).await;
    let report = sdk.reload_keys().await.unwrap();
    assert_eq!((report.added(), report.removed(), report.kept()), (1, 1, 0));
    assert_eq!(pool.fingerprints(), fps(&[K2]));
    sim.revoke_key("openai", K1);

    // New calls are not gated; the three in flight stay behind their gate.
    sim.ungate_streams("openai");
    for _ in 0..5 {
        assert!(speak(&sdk).await.unwrap() > 0, "a call after the rotation");
    }
    gate.open();
    for stream in in_flight {
        assert!(bounded("an in-flight stream", drain(stream)).await > 0);
    }
    let used = keys_used(&sim);
    assert_eq!(
        &used[..3],
        fps(&[K1, K1, K1]).as_slice(),
        "the streams used the old key"
    );
    assert_eq!(
        &used[3..],
        vec![fingerprint(K2); 5].as_slice(),
        "every later call the new one"
    );
    assert!(
        sim.requests_for("openai")
            .iter()
            .all(|r| r.status == Some(200)),
        "no request was refused: {:?}",
        sim.requests_for("openai")
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>()
    );
    assert_eq!(pool.snapshot()[0].in_flight, 0);
}

#[tokio::test]
async fn a_removed_key_drains_and_is_never_selected_again() {
    let (pattern, sim, sdk) = loaded(&[K1, K2]).await;
    let pool = sdk.provider("openai").unwrap().pool().clone();
    let gate = sim.gate_streams("openai");
    let stream = sdk
        .openai()
        .unwrap()
        .speech_stream(SpeechRequest::new("draining"))
        .await
        .unwrap();
    let held = keys_used(&sim)[0].clone();
    let (removed, remaining) = if held == fingerprint(K1) {
        (K1, K2)
    } else {
        (K2, K1)
    };

    put_keys(pattern, &[remaining]).await;
    let report = sdk.reload_keys().await.unwrap();
    assert_eq!((report.added(), report.removed(), report.kept()), (0, 1, 1));
    assert_eq!(pool.fingerprints(), fps(&[remaining]));
    sim.ungate_streams("openai");
    for _ in 0..4 {
        speak(&sdk).await.unwrap();
    }
    gate.open();
    assert!(drain(stream).await > 0, "the draining call finished");
    let used = keys_used(&sim);
    assert_eq!(used[0], fingerprint(removed));
    assert!(
        used[1..].iter().all(|k| *k == fingerprint(remaining)),
        "{used:?}"
    );
    assert!(pool.snapshot().iter().all(|k| k.in_flight == 0));
}

#[tokio::test]
async fn quarantine_stays_with_a_value_still_in_the_secret_and_a_new_value_starts_fresh() {
    let (pattern, sim, sdk) = loaded(&[K1, K2]).await;
    let pool = sdk.provider("openai").unwrap().pool().clone();
    pool.quarantine(&fingerprint(K1), "invalid_api_key");

    let report = sdk.reload_keys().await.unwrap();
    assert_eq!((report.added(), report.removed(), report.kept()), (0, 0, 2));
    assert!(matches!(
        pool.snapshot()[0].state,
        KeyState::Quarantined { .. }
    ));

    sim.restore_key("openai", K3);
    put_keys(pattern, &[K3, K2]).await;
    sdk.reload_keys().await.unwrap();
    let states: Vec<KeyState> = pool.snapshot().into_iter().map(|k| k.state).collect();
    assert_eq!(states, [KeyState::Available, KeyState::Available]);
    assert_eq!(pool.fingerprints(), fps(&[K3, K2]));
}

#[tokio::test]
async fn a_secret_that_disappears_keeps_the_pool_with_one_warning() {
    // `_sim` stays alive: the SDK calls it.
    let (pattern, _sim, sdk) = loaded(&[K1]).await;
    let (logs, _guard) = logs::capture_logs();

    secrets_client()
        .delete_secret()
        .secret_id(secret_name(pattern))
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        let error = sdk.reload_keys().await.unwrap_err();
        assert!(
            matches!(
                &error.failures[..],
                [("openai", KeySourceError::Missing { .. })]
            ),
            "{error:?}"
        );
    }
    assert_eq!(
        sdk.provider("openai").unwrap().pool().fingerprints(),
        fps(&[K1])
    );
    speak(&sdk).await.unwrap();
    assert_eq!(
        logs.count("cannot reload keys; keeping the current pool"),
        1,
        "{}",
        logs.text()
    );

    put_keys(pattern, &[K1]).await;
    sdk.reload_keys().await.unwrap();
    let text = logs.text();
    assert!(text.contains("key source readable again"), "{text}");
    assert!(!text.contains(K1), "a key in the logs: {text}");
}

#[tokio::test]
async fn a_malformed_or_empty_secret_keeps_the_pool() {
    // `_sim` stays alive: the SDK calls it.
    let (pattern, _sim, sdk) = loaded(&[K1]).await;
    let (logs, _guard) = logs::capture_logs();
    for (secret, expected) in [
        (
            format!("{K2} is not JSON"),
            "is malformed: not a JSON object",
        ),
        (
            format!(r#"{{"api_keys": 7, "old": "{K2}"}}"#),
            "field `api_keys` is a JSON number",
        ),
        (format!(r#"{{"other": "{K2}"}}"#), "no field `api_keys`"),
        (r#"{"api_keys": " , "}"#.to_owned(), "holds no usable key"),
    ] {
        put_secret(pattern, &secret).await;
        let error = sdk.reload_keys().await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains(expected), "{secret}: {text}");
        assert!(
            !text.contains(K2),
            "the secret's content in the error: {text}"
        );
        assert_eq!(
            sdk.provider("openai").unwrap().pool().fingerprints(),
            fps(&[K1])
        );
    }
    speak(&sdk).await.unwrap();
    let text = logs.text();
    assert!(
        !text.contains(K1) && !text.contains(K2),
        "a key in the logs: {text}"
    );
}

#[tokio::test]
async fn an_exhausted_daily_budget_sets_the_key_aside_until_the_next_utc_day() {
    let (pattern, sim) = issued(&[K1]).await;
    // 2026-11-30T12:00:00Z.
    let noon = UNIX_EPOCH + Duration::from_secs(1_796_040_000);
    let clock = ManualClock::new(noon);
    let sdk = builder(spec(pattern, Some(DailyBudget::Credits(5))), &sim)
        .clock(Arc::new(clock.clone()))
        .build_loaded()
        .await
        .unwrap();
    speak_charged(&sdk, 3, 2).await;
    let openai = sdk.openai().unwrap();
    let pool = sdk.provider("openai").unwrap().pool();
    let midnight = UNIX_EPOCH + Duration::from_secs(1_796_083_200);
    assert_eq!(
        pool.snapshot()[0].state,
        KeyState::SetAside { until: midnight }
    );
    assert_eq!(pool.snapshot()[0].spent_today.credits, 6);

    let error = openai.speech(SpeechRequest::new("over")).await.unwrap_err();
    assert!(
        matches!(&error, Error::KeysExhausted { reason, .. } if reason.contains("daily budget")),
        "{error:?}"
    );
    assert_eq!(
        sim.requests_for("openai").len(),
        3,
        "the set-aside key was not sent"
    );
    let alerts = sdk.key_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind, AlertKind::KeyBudget);
    assert_eq!((alerts[0].observed, alerts[0].threshold), (6.0, 5.0));
    assert!(
        alerts[0].description.contains(&fingerprint(K1)),
        "{}",
        alerts[0].description
    );

    // A reload keeps the key set aside: it is the same value.
    sdk.reload_keys().await.unwrap();
    assert!(
        openai
            .speech(SpeechRequest::new("still over"))
            .await
            .is_err()
    );

    clock.set(midnight);
    openai
        .speech(SpeechRequest::new("a new day"))
        .await
        .unwrap();
    assert_eq!(pool.snapshot()[0].state, KeyState::Available);
    assert_eq!(sdk.key_alerts().len(), 1, "one alert per key and day");
}

#[tokio::test]
async fn the_fleets_spending_is_summed_from_the_shared_store() {
    let (pattern, sim) = issued(&[K1, K2]).await;
    let store = Arc::new(MemoryStore::new());
    // The store's items carry real timestamps: the budget clock stands a minute later.
    let clock = ManualClock::new(SystemTime::now() + Duration::from_secs(60));
    let spec = spec(pattern, Some(DailyBudget::Calls(3)));
    let build = || {
        builder(spec, &sim)
            .health_store(store.clone())
            .clock(Arc::new(clock.clone()))
            .build_loaded()
    };
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    for _ in 0..4 {
        speak(&a).await.unwrap();
    }
    a.flush(Duration::from_secs(5)).await.unwrap();
    // Two calls per key in `a`: within budget there, and `b` has spent nothing itself.
    let b_pool = b.provider("openai").unwrap().pool();
    assert!(b_pool.snapshot().iter().all(|k| k.spent_today.calls == 0));
    assert_eq!(b.sync_key_budgets().await.unwrap(), 2);
    assert!(b_pool.snapshot().iter().all(|k| k.spent_today.calls == 2));
    speak(&b).await.unwrap();
    b.flush(Duration::from_secs(5)).await.unwrap();
    a.sync_key_budgets().await.unwrap();
    let set_aside: Vec<String> = a
        .provider("openai")
        .unwrap()
        .pool()
        .snapshot()
        .into_iter()
        .filter(|k| matches!(k.state, KeyState::SetAside { .. }))
        .map(|k| k.fingerprint)
        .collect();
    let b_key = keys_used(&sim)[4].clone();
    assert_eq!(
        set_aside,
        [b_key],
        "the key b used reached 3 calls in the fleet"
    );
    assert_eq!(a.key_alerts().len(), 1);
}

#[tokio::test]
async fn health_reports_usage_per_key() {
    let (pattern, sim) = issued(&[K1, K2]).await;
    let sdk = builder(spec(pattern, None), &sim)
        .health_cache_ttl(Duration::ZERO)
        .build_loaded()
        .await
        .unwrap();
    speak_charged(&sdk, 4, 3).await;
    sdk.flush(Duration::from_secs(5)).await.unwrap();
    let report = sdk.health().report("openai-tts").await.unwrap();
    let mut usage: Vec<(String, u64, u64, u64)> = report
        .keys
        .iter()
        .map(|k| (k.fingerprint.clone(), k.calls, k.successes, k.credits))
        .collect();
    usage.sort();
    let mut expected: Vec<(String, u64, u64, u64)> =
        fps(&[K1, K2]).into_iter().map(|fp| (fp, 2, 2, 6)).collect();
    expected.sort();
    assert_eq!(usage, expected);
}

/// An embedder's key source: hands out `keys` and counts its reads.
#[derive(Debug)]
struct CountingLoader {
    keys: std::sync::Mutex<Vec<String>>,
    reads: tokio::sync::watch::Sender<u32>,
}

impl CountingLoader {
    fn new(keys: &[&str]) -> Self {
        Self {
            keys: std::sync::Mutex::new(keys.iter().map(|k| (*k).to_owned()).collect()),
            reads: tokio::sync::watch::channel(0).0,
        }
    }

    fn set(&self, keys: &[&str]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| (*k).to_owned()).collect();
    }
}

impl KeyLoader for CountingLoader {
    fn describe(&self) -> String {
        "the test's loader".into()
    }

    fn load(&self) -> LoadFuture<'_> {
        let keys = self.keys.lock().unwrap().clone();
        self.reads.send_modify(|n| *n += 1);
        Box::pin(async move { Ok(keys) })
    }
}

#[tokio::test(start_paused = true)]
async fn the_background_reload_reads_on_its_interval_and_stops_with_the_sdk() {
    let loader = Arc::new(CountingLoader::new(&[K1]));
    let mut reads = loader.reads.subscribe();
    let sdk = Sdk::builder()
        .providers(&[&media_sdk::openai::PROVIDER])
        .key_loader("openai", loader.clone())
        .key_reload_interval(Some(Duration::from_secs(60)))
        .cooldown_sync_interval(None)
        .health_store(Arc::new(MemoryStore::new()))
        .build()
        .unwrap();
    let pool = sdk.provider("openai").unwrap().pool().clone();
    // On a current-thread runtime the read and its application happen in one poll of the
    // reload task: once the read is seen, the pool is updated.
    reads.wait_for(|n| *n == 1).await.unwrap();
    assert_eq!(pool.fingerprints(), fps(&[K1]), "read at start");
    let started = tokio::time::Instant::now();
    loader.set(&[K2]);
    reads.wait_for(|n| *n == 2).await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(60),
        "the next read one interval later"
    );
    assert_eq!(pool.fingerprints(), fps(&[K2]));

    drop(sdk);
    for _ in 0..100 {
        if Arc::strong_count(&loader) == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        Arc::strong_count(&loader),
        1,
        "the reload task ended with the Sdk"
    );
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(*reads.borrow(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_background_task_sums_the_fleets_spending_for_keys_from_any_source() {
    // Another process's three successful calls with K1, already in the shared store.
    let store = Arc::new(MemoryStore::new());
    let now = SystemTime::now();
    let items: Vec<HealthItem> = (0..3)
        .map(|i| {
            let metric = CallMetric {
                health_id: "openai-tts",
                provider: "openai",
                endpoint: "speech",
                latency_ms: 10,
                ttfb_ms: None,
                cancelled: false,
                success: true,
                status: Some(200),
                error_class: None,
                attempts: 1,
                key_fingerprint: Some(fingerprint(K1)),
                credits: 0,
                at: now,
            };
            HealthItem::Metric(MetricItem::from_call(
                &metric,
                format!("u{i}"),
                BUDGET_RETENTION,
            ))
        })
        .collect();
    assert!(store.write_batch(&items).await.unwrap().is_empty());
    let openai = &media_sdk::openai::PROVIDER;
    let spec: &'static ProviderSpec = Box::leak(Box::new(ProviderSpec {
        keys: KeySource {
            daily_budget: Some(DailyBudget::Calls(3)),
            ..openai.keys
        },
        ..*openai
    }));
    let sdk = Sdk::builder()
        .providers(&[spec])
        .keys("openai", [K1, K2])
        .key_reload_interval(Some(Duration::from_secs(60)))
        .cooldown_sync_interval(None)
        .clock(Arc::new(ManualClock::new(now + Duration::from_secs(60))))
        .health_store(store)
        .build()
        .unwrap();
    let pool = sdk.provider("openai").unwrap().pool().clone();
    let set_aside = || {
        pool.snapshot()
            .into_iter()
            .filter(|k| matches!(k.state, KeyState::SetAside { .. }))
            .map(|k| k.fingerprint)
            .collect::<Vec<_>>()
    };
    // The first sum runs at start, in the background.
    for _ in 0..100 {
        if !set_aside().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        set_aside(),
        fps(&[K1]),
        "explicit keys, budget from the store"
    );
    assert_eq!(sdk.key_alerts().len(), 1);
}
