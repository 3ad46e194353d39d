//! The `media-sdk` command line (feature `cli`), run in-process: the simulated demo, `health`
//! (table and JSON), `alarms`, key selection and argument parsing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use media_sdk::dynamic::Output;
use media_sdk::health::{
    AlertKind, EmfTelemetry, HealthRecorder, HealthStore, MemoryStore, RecorderConfig,
};
use media_sdk::keys::fingerprint;
use media_sdk::spec::{AuthKind, AuthScheme, ProviderSpec, ResponseSpec};
use media_sdk::telemetry::{CallMetric, RateLimitEvent};
use media_sdk::{Audio, ENDPOINTS, PROVIDERS};
use media_sdk_cli::demo::{
    self, DEFAULT_CONCURRENCY, DEFAULT_LIVE_REQUESTS, DEFAULT_REQUESTS, DemoOptions, KeyOrigin,
    RequestMix, demo_keys, demo_specs, describe_output, live_keys, run_sim,
};
use media_sdk_cli::health::{HealthSnapshot, HealthVerdict};
use media_sdk_cli::{Cli, CliError, Command, StoreChoice, alarms, table};
use serde_json::Value;

#[path = "../../sdk/tests/support/moto.rs"]
mod moto;

fn health_ids() -> BTreeSet<&'static str> {
    PROVIDERS
        .iter()
        .flat_map(|p| p.endpoints.iter().map(|e| e.health_id))
        .collect()
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulated_demo_succeeds_with_rotations_retries_and_a_quarantine() {
    let openai_keys = ["sk-test-a", "sk-test-b", "sk-test-c"];
    let keys = demo_keys(
        PROVIDERS,
        lookup(&[("OPENAI_API_KEYS", &openai_keys.join(","))]),
    );
    let store: Arc<dyn HealthStore> = Arc::new(MemoryStore::new());
    let options = DemoOptions::new(40, 8);
    let report = run_sim(&options, &keys, store, StoreChoice::Memory)
        .await
        .expect("the demo runs");

    assert!(
        report.all_succeeded(),
        "failures: {:#?}\n{}",
        report.failures,
        report.render()
    );
    assert_eq!((report.requests, report.succeeded()), (40, 40));
    assert!(
        report.endpoints.iter().all(|e| e.requests > 0),
        "every endpoint was called: {:?}",
        report.endpoints
    );
    assert!(report.rate_limits > 0, "{}", report.render());
    assert!(report.rotations > 0, "{}", report.render());
    assert!(report.retried_calls > 0, "{}", report.render());

    // OpenAI's last key ran out of quota and was set aside; the sim accepted exactly the
    // environment's keys (the key table names their fingerprints).
    assert_eq!(report.quarantines.len(), 1, "{:?}", report.quarantines);
    assert_eq!(report.quarantines[0].provider, "openai");
    assert_eq!(report.quarantines[0].fingerprint, fingerprint("sk-test-c"));
    assert!(report.quarantines[0].reason.contains("insufficient_quota"));
    let openai: Vec<_> = report
        .keys
        .iter()
        .filter(|k| k.provider == "openai")
        .collect();
    let fingerprints: Vec<String> = openai_keys.iter().map(|k| fingerprint(k)).collect();
    assert_eq!(
        openai
            .iter()
            .map(|k| k.fingerprint.clone())
            .collect::<Vec<_>>(),
        fingerprints
    );
    // Every key the SDK holds was seen by the simulator, and the sim saw at least the 429s the
    // SDK reported (quota and busy answers are 429s too).
    let sim_429: u64 = report
        .keys
        .iter()
        .map(|k| k.sim.expect("simulated run").rate_limited)
        .sum();
    assert!(sim_429 >= report.rate_limits);
    let sim_ok: u64 = report.keys.iter().map(|k| k.sim.unwrap().ok).sum();
    assert!(sim_ok >= 40, "at least one 2xx per request");
    assert_eq!(
        report.keys.iter().map(|k| k.calls).sum::<u64>(),
        40,
        "every call finished on some key"
    );

    // Health: every health id has data, and the table lists each.
    let reported: BTreeSet<&str> = report
        .health
        .reports
        .iter()
        .map(|r| r.health_id.as_str())
        .collect();
    assert_eq!(reported, health_ids());
    assert!(
        report.health.no_data.is_empty(),
        "{:?}",
        report.health.no_data
    );
    assert_eq!(
        report
            .health
            .reports
            .iter()
            .map(|r| r.requests)
            .sum::<u64>(),
        40
    );
    let text = report.render();
    for id in health_ids() {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{id} missing from\n{text}"
        );
    }
    let header = text
        .lines()
        .find(|l| l.starts_with("HEALTH ID"))
        .expect("a health table");
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "HEALTH ID",
            "PROVIDER",
            "STATUS",
            "AVG MS",
            "P95 MS",
            "SUCCESS",
            "REQUESTS",
            "RATE LIMITS"
        ]
    );
    assert!(text.contains("OK: all 40 requests succeeded"), "{text}");
    assert!(
        text.contains("\nKEYS\nPROVIDER    KEY         CALLS  HTTP  2XX  429  5XX  OTHER  STATE\n")
    );
    assert!(text.contains("openai: 3 key(s) from OPENAI_API_KEYS"));
    assert!(text.contains("fal: 3 generated demo keys"));
    assert_eq!(report.recorder.dropped_full, 0);
    for key in openai_keys {
        assert!(!text.contains(key), "a key leaked into the report");
    }
}

/// A default simulated run (made-up keys, default size, rate and seed) calls every endpoint of
/// the spec, each with its example request, and the health read back has numbers for every
/// health id. Endpoints come from `ENDPOINTS`, the calls from the run's own results, and the
/// health from the metrics the SDK recorded: no list of providers here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_default_simulated_run_calls_every_endpoint_and_fills_every_health_id() {
    let keys = demo_keys(PROVIDERS, |_| None);
    let store: Arc<dyn HealthStore> = Arc::new(MemoryStore::new());
    let options = DemoOptions::new(DEFAULT_REQUESTS, DEFAULT_CONCURRENCY);
    let report = run_sim(&options, &keys, store, StoreChoice::Memory)
        .await
        .expect("the demo runs");
    let text = report.render();
    assert!(report.all_succeeded(), "{text}");

    assert_eq!(report.endpoints.len(), ENDPOINTS.len());
    for endpoint in ENDPOINTS {
        let spec = endpoint.spec();
        let usage = report
            .endpoints
            .iter()
            .find(|e| e.provider == spec.provider && e.endpoint == spec.id)
            .unwrap_or_else(|| panic!("{}/{} not in the report", spec.provider, spec.id));
        assert!(usage.requests > 0, "{} never called\n{text}", usage.label());
        let output = usage.last_output.as_deref().unwrap_or_default();
        let expected = match spec.response {
            ResponseSpec::Audio { .. } => "bytes of audio/",
            ResponseSpec::Json => "JSON {",
            ResponseSpec::Job(_) => "job ",
        };
        assert!(output.contains(expected), "{}: {output}", usage.label());
        assert!(
            text.lines().any(|l| l.starts_with(&usage.label())),
            "{} missing from the ENDPOINTS table\n{text}",
            usage.label()
        );
    }
    assert_eq!(
        report.endpoints.iter().map(|e| e.requests).sum::<usize>(),
        DEFAULT_REQUESTS
    );
    // The scripted events happened: rotations, a call that waited for a key, a quarantine.
    assert!(report.rotations > 0, "{text}");
    assert!(
        report.rate_limits > report.rotations,
        "no call waited\n{text}"
    );
    assert_eq!(report.quarantines.len(), 1, "{text}");

    // Every health id has a row with data, and its request count is what its endpoints made.
    assert!(report.health.no_data.is_empty(), "{text}");
    for id in health_ids() {
        let row = report
            .health
            .reports
            .iter()
            .find(|r| r.health_id == id)
            .unwrap_or_else(|| panic!("no health row for {id}\n{text}"));
        let made: usize = report
            .endpoints
            .iter()
            .filter(|e| e.health_id == id)
            .map(|e| e.requests)
            .sum();
        assert_eq!(row.requests as usize, made, "{id}\n{text}");
        assert_eq!(row.success_rate, Some(1.0), "{id}\n{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not in the table\n{text}"));
        assert!(!line.contains("unknown"), "{line}");
    }
    assert!(!text.contains("no data"), "{text}");
}

#[test]
fn demo_keys_come_from_the_environment_or_are_made_up() {
    let keys = demo_keys(
        PROVIDERS,
        lookup(&[
            ("OPENAI_API_KEYS", " a, b ,a,"),
            ("FAL_KEY", "fal-single"),
            ("ELEVENLABS_API_KEYS", " "),
        ]),
    );
    let by_id = |id: &str| keys.iter().find(|k| k.provider == id).unwrap();
    assert_eq!(by_id("openai").keys, ["a", "b"]);
    assert_eq!(by_id("openai").origin, KeyOrigin::Env("OPENAI_API_KEYS"));
    assert_eq!(by_id("fal").keys, ["fal-single"]);
    assert_eq!(by_id("fal").origin, KeyOrigin::Env("FAL_KEY"));
    assert_eq!(
        by_id("kling").keys,
        [
            "kling-demo-access-1:demo-secret-1",
            "kling-demo-access-2:demo-secret-2"
        ]
    );
    assert_eq!(by_id("elevenlabs").origin, KeyOrigin::Generated);
    assert_eq!(by_id("elevenlabs").keys.len(), 3);
    let debug = format!("{keys:?}");
    assert!(!debug.contains("fal-single") && !debug.contains("demo-secret"));
    assert!(debug.contains(&fingerprint("fal-single")));

    let fakes = demo_keys(PROVIDERS, |_| None);
    assert_eq!(
        fakes[0].keys,
        [
            "sk-openai-demo-1",
            "sk-openai-demo-2",
            "sk-openai-demo-3",
            "sk-openai-demo-4"
        ]
    );
}

/// Made-up keys take the shape of every auth kind, whichever provider has it: a signed JWT
/// needs an `access:secret` pair, a `Key` header an `id:secret` pair, and every key names its
/// provider.
#[test]
fn made_up_keys_fit_every_auth_kind() {
    fn pair(key: &str) -> bool {
        key.split_once(':')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains(':'))
    }
    let schemes = [
        AuthScheme::Bearer,
        AuthScheme::Header { header: "x-key" },
        AuthScheme::FalKey,
        AuthScheme::KlingJwt { ttl_secs: 60 },
    ];
    let kinds: BTreeSet<AuthKind> = schemes.iter().map(|s| s.kind()).collect();
    assert_eq!(kinds.len(), AuthKind::ALL.len(), "one case per auth kind");
    for auth in schemes {
        let spec: &'static ProviderSpec = Box::leak(Box::new(ProviderSpec {
            id: "newcomer",
            auth,
            ..*PROVIDERS[0]
        }));
        let pools = demo_keys(&[spec], |_| None);
        assert_eq!(pools[0].origin, KeyOrigin::Generated);
        assert!(pools[0].keys.len() >= 2, "{auth:?}");
        for key in &pools[0].keys {
            let shaped = match auth.kind() {
                AuthKind::Bearer => key.starts_with("sk-") && !key.contains(':'),
                AuthKind::Header => !key.contains(':'),
                AuthKind::FalKey | AuthKind::KlingJwt => pair(key),
            };
            assert!(shaped, "{auth:?}: {key}");
            assert!(key.contains("newcomer"), "{auth:?}: {key}");
        }
    }
}

/// The scripted events go by pool size, not by provider: the quarantine to the first pool of
/// three keys or more, the wait for every key to the smallest other pool.
#[test]
fn scripted_events_follow_the_pools() {
    for env in [vec![], vec![("OPENAI_API_KEYS", "a,b")]] {
        let keys = demo_keys(PROVIDERS, lookup(&env));
        let target = demo::quarantine_target(&keys);
        let first_big = keys.iter().find(|p| p.keys.len() >= 3).map(|p| p.provider);
        assert_eq!(target, first_big, "{keys:?}");
        let waits = demo::wait_target(&keys, target).expect("a pool to wait on");
        assert_ne!(Some(waits), target);
        let smallest = keys
            .iter()
            .filter(|p| Some(p.provider) != target)
            .map(|p| p.keys.len())
            .min();
        let len = keys
            .iter()
            .find(|p| p.provider == waits)
            .map(|p| p.keys.len());
        assert_eq!(len, smallest, "{keys:?}");
    }
}

#[test]
fn live_refuses_clearly_without_keys() {
    let error = live_keys(PROVIDERS, |_| None).unwrap_err();
    let CliError::MissingKeys(missing) = &error else {
        panic!("unexpected error {error:?}");
    };
    assert_eq!(missing.len(), PROVIDERS.len());
    let message = error.to_string();
    for var in [
        "OPENAI_API_KEYS",
        "FAL_KEYS",
        "KLING_API_KEYS",
        "ELEVENLABS_API_KEYS",
    ] {
        assert!(message.contains(var), "{message}");
    }

    let partial = live_keys(
        PROVIDERS,
        lookup(&[
            ("OPENAI_API_KEY", "sk-1"),
            ("FAL_KEYS", "f1,f2"),
            ("ELEVENLABS_API_KEYS", "e1"),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        partial.to_string(),
        "--live calls the real providers and needs keys for every one of them; missing: \
         Kling AI (KLING_API_KEYS, or KLING_API_KEY)"
    );
    let all = live_keys(
        PROVIDERS,
        lookup(&[
            ("OPENAI_API_KEY", "sk-1"),
            ("FAL_KEYS", "f1,f2"),
            ("ELEVENLABS_API_KEYS", "e1"),
            ("KLING_API_KEYS", "ak:sk"),
        ]),
    )
    .unwrap();
    assert_eq!(all.len(), 4);
}

#[test]
fn demo_specs_only_speed_up_the_waits() {
    for (fast, real) in demo_specs().iter().zip(PROVIDERS) {
        assert_eq!(fast.id, real.id);
        assert_eq!(fast.endpoints, real.endpoints);
        assert_eq!(fast.errors, real.errors);
        assert_eq!(fast.retry.max_attempts, real.retry.max_attempts);
        assert_eq!(fast.retry.max_wait_ms, real.retry.max_wait_ms);
        assert!(fast.retry.default_cooldown_ms <= fast.retry.max_wait_ms);
        assert!(fast.retry.base_delay_ms <= real.retry.base_delay_ms);
    }
    // Leaked once: the same statics on every call.
    assert!(std::ptr::eq(demo_specs()[0], demo_specs()[0]));
}

#[test]
fn sim_plans_keep_every_wait_within_the_spec() {
    let mix = RequestMix::of_spec().unwrap();
    for spec in demo_specs() {
        for keys in 1..=5 {
            let rate = DemoOptions::new(1, 1).rate * mix.share(spec.id);
            let plan = demo::sim_plan(spec, keys, rate);
            // Capacity beyond the arrivals: the keys together refill faster than requests come.
            assert!(plan.rate_limit.refill_per_sec * keys as f64 > 2.0 * rate);
            assert!(plan.rate_limit.capacity >= 1);
            // A key is back within max_wait_ms, so waiting beats failing.
            let refill_ms = 1000.0 / plan.rate_limit.refill_per_sec;
            assert!(refill_ms <= spec.retry.max_wait_ms as f64, "{}", spec.id);
            assert!(plan.faults.error_rate.powi(spec.retry.max_attempts as i32) < 1e-4);
            assert_eq!(plan.faults.reset_rate, 0.0);
        }
    }
}

#[test]
fn arrivals_are_seeded_increasing_and_at_the_rate() {
    let options = DemoOptions {
        requests: 2000,
        ..DemoOptions::new(2000, 8)
    };
    let arrivals = options.arrivals();
    assert_eq!(arrivals, options.arrivals(), "same seed, same schedule");
    assert_eq!(arrivals[0], Duration::ZERO);
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
    let rate = arrivals.len() as f64 / arrivals.last().unwrap().as_secs_f64();
    assert!((rate - options.rate).abs() < options.rate * 0.1, "{rate}");
    let other = DemoOptions { seed: 8, ..options };
    assert_ne!(arrivals, other.arrivals());
}

/// The first requests call every endpoint once (a default live run is exactly that); a cycle
/// calls each endpoint twice, long jobs once, and the providers take turns.
#[test]
fn the_request_mix_covers_every_endpoint_from_the_first_cycle() {
    let mix = RequestMix::of_spec().unwrap();
    let key = |i: usize| {
        let spec = mix.endpoint(i).spec();
        (spec.provider, spec.id)
    };
    let all: BTreeSet<_> = ENDPOINTS
        .iter()
        .map(|e| (e.spec().provider, e.spec().id))
        .collect();
    assert_eq!(DEFAULT_LIVE_REQUESTS, ENDPOINTS.len());
    let first: BTreeSet<_> = (0..DEFAULT_LIVE_REQUESTS).map(key).collect();
    assert_eq!(first, all, "one request per endpoint covers every endpoint");

    for endpoint in ENDPOINTS {
        let spec = endpoint.spec();
        let times = mix
            .cycle()
            .iter()
            .filter(|e| std::ptr::eq(e.spec(), spec))
            .count();
        let long = matches!(
            spec.response,
            ResponseSpec::Job(job) if job.poll_interval_ms >= demo::LONG_JOB_POLL_MS
        );
        assert_eq!(
            times,
            if long { 1 } else { 2 },
            "{}/{}",
            spec.provider,
            spec.id
        );
    }
    let shares: f64 = PROVIDERS.iter().map(|p| mix.share(p.id)).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    // The providers take turns: the first requests go to as many providers as there are.
    let providers: BTreeSet<&str> = ENDPOINTS.iter().map(|e| e.spec().provider).collect();
    let opening: BTreeSet<&str> = (0..providers.len()).map(|i| key(i).0).collect();
    assert_eq!(opening, providers);
}

/// What the report says of an answer is short whatever the provider sends.
#[test]
fn outputs_are_described_in_bounded_lines() {
    let audio = Output::Audio(Audio {
        bytes: vec![0; 1234].into(),
        content_type: "audio/mpeg".into(),
    });
    assert_eq!(describe_output(&audio), "1234 bytes of audio/mpeg");
    let json = Output::Json(serde_json::json!({"created": 1, "data": [{"url": "u"}]}));
    assert_eq!(describe_output(&json), "JSON {created, data[1]}");

    let mut huge = serde_json::Map::new();
    for i in 0..1000 {
        huge.insert(format!("{}{i}", "field".repeat(100)), Value::Null);
    }
    let job = Output::Job {
        id: "x".repeat(100_000),
        output: Value::Object(huge),
    };
    let line = describe_output(&job);
    assert!(line.chars().count() < 400, "{} chars", line.chars().count());
    assert!(line.starts_with("job xxxx") && line.contains('…'), "{line}");
}

#[tokio::test]
async fn bad_sizes_are_refused() {
    let store: Arc<dyn HealthStore> = Arc::new(MemoryStore::new());
    let keys = demo_keys(PROVIDERS, |_| None);
    for (options, flag) in [
        (DemoOptions::new(0, 8), "--requests"),
        (DemoOptions::new(5, 0), "--concurrency"),
        (
            DemoOptions {
                rate: 0.0,
                ..DemoOptions::new(5, 1)
            },
            "--rate",
        ),
    ] {
        let error = run_sim(&options, &keys, store.clone(), StoreChoice::Memory)
            .await
            .unwrap_err();
        assert!(error.to_string().contains(flag), "{error}");
    }
}

#[tokio::test]
async fn health_of_an_empty_store_is_unknown_no_data() {
    let store: Arc<dyn HealthStore> = Arc::new(MemoryStore::new());
    let snapshot = HealthSnapshot::read(store, StoreChoice::Memory, PROVIDERS)
        .await
        .unwrap();
    assert!(!snapshot.ok, "nothing to read is not healthy");
    assert_eq!(snapshot.verdict, HealthVerdict::NoData);
    assert_eq!(snapshot.verdict.exit_code(), 2);
    assert_eq!(
        snapshot
            .no_data
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        health_ids()
    );
    assert_eq!(
        snapshot.render(),
        "\
HEALTH ID         PROVIDER    STATUS   AVG MS  P95 MS  SUCCESS  REQUESTS  RATE LIMITS
elevenlabs-tts    elevenlabs  unknown       -       -        -         0            0
fal-flux          fal         unknown       -       -        -         0            0
fal-stable-audio  fal         unknown       -       -        -         0            0
kling-video       kling       unknown       -       -        -         0            0
openai-image      openai      unknown       -       -        -         0            0
openai-tts        openai      unknown       -       -        -         0            0

no alert threshold crossed

unknown: no data for elevenlabs-tts, fal-flux, fal-stable-audio, kling-video, openai-image, \
openai-tts (no request recorded in the last 300 s)
note: without CONFIG_TABLE metrics live in the memory of the process that made the calls, so \
a fresh `health` process has none. Run `cargo xtask demo` to see a populated table, or set \
CONFIG_TABLE to read a DynamoDB table.
"
    );

    let json: Value = serde_json::from_str(&snapshot.to_json()).unwrap();
    assert_eq!(json["store"]["kind"], "memory");
    assert_eq!(json["verdict"], "no_data");
    assert_eq!(json["ok"], false);
    assert!(
        json["looked_in"]
            .as_str()
            .unwrap()
            .starts_with("the memory of this process"),
        "{json}"
    );
    assert_eq!(json["alerts"].as_array().unwrap().len(), 0);
    let reports = json["reports"].as_array().unwrap();
    assert_eq!(reports.len(), health_ids().len());
    assert!(reports.iter().all(|r| r["status"] == "unknown"));
    assert!(reports.iter().all(|r| r["avg_latency_ms"].is_null()));
}

fn metric(
    health_id: &'static str,
    provider: &'static str,
    latency_ms: u64,
    ok: bool,
) -> CallMetric {
    CallMetric {
        health_id,
        provider,
        endpoint: "x",
        latency_ms,
        ttfb_ms: None,
        cancelled: false,
        success: ok,
        status: Some(if ok { 200 } else { 500 }),
        error_class: (!ok).then_some("retries_exhausted"),
        attempts: 1,
        key_fingerprint: Some("k_00000000".into()),
        credits: 0,
        at: SystemTime::now(),
    }
}

#[tokio::test]
async fn health_lists_crossed_alerts_and_fails() {
    let store: Arc<dyn HealthStore> = Arc::new(MemoryStore::new());
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::for_providers(PROVIDERS));
    for i in 0..10 {
        recorder.record_call(metric("openai-tts", "openai", 100, i < 6));
        recorder.record_call(metric("fal-flux", "fal", 9000, true));
    }
    for _ in 0..11 {
        recorder.record_rate_limit(RateLimitEvent {
            provider: "kling",
            health_id: "kling-video",
            key_fingerprint: "k_00000000".into(),
            cooldown: Duration::from_secs(1),
            rotated: true,
            at: SystemTime::now(),
        });
    }
    recorder.flush(Duration::from_secs(10)).await.unwrap();

    let snapshot = HealthSnapshot::read(store, StoreChoice::Memory, PROVIDERS)
        .await
        .unwrap();
    assert!(!snapshot.ok);
    assert_eq!(snapshot.verdict, HealthVerdict::Alerts);
    let crossed: BTreeSet<(String, String)> = snapshot
        .alerts
        .iter()
        .map(|a| {
            let kind = serde_json::to_value(a.kind).unwrap();
            let scope = a.health_id.clone().unwrap_or_else(|| a.provider.clone());
            (scope, kind.as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        crossed,
        [
            ("fal-flux", "latency"),
            ("kling", "rate_limits"),
            ("openai-tts", "success_rate"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .into_iter()
        .collect()
    );
    let text = snapshot.render();
    let table = text.split("\nunknown: no data").next().unwrap();
    assert_eq!(
        table,
        "\
HEALTH ID         PROVIDER    STATUS    AVG MS  P95 MS  SUCCESS  REQUESTS  RATE LIMITS
elevenlabs-tts    elevenlabs  unknown        -       -        -         0            0
fal-flux          fal         degraded    9000    9000   100.0%        10            0
fal-stable-audio  fal         unknown        -       -        -         0            0
kling-video       kling       unknown        -       -        -         0           11
openai-image      openai      unknown        -       -        -         0            0
openai-tts        openai      degraded     100     100    60.0%        10            0

ALERTS
! fal-flux (fal): average latency 9000 ms over 300 s (threshold 5000 ms)
! kling: 11 rate limits in the last hour (threshold 10; kling-video 11)
! openai-tts (openai): success rate 60.0% over 300 s (threshold 90.0%)

KEY USAGE
PROVIDER  HEALTH ID   KEY         CALLS  SUCCESSES  CREDITS
fal       fal-flux    k_00000000     10         10        0
openai    openai-tts  k_00000000     10          6        0
"
    );
    assert!(text.ends_with(
        "unknown: no data for elevenlabs-tts, fal-stable-audio, kling-video, openai-image \
         (no request recorded in the last 300 s)\nnote: without CONFIG_TABLE metrics live in the \
         memory of the process that made the calls, so a fresh `health` process has none. Run \
         `cargo xtask demo` to see a populated table, or set CONFIG_TABLE to read a DynamoDB \
         table.\n"
    ));

    let json: Value = serde_json::from_str(&snapshot.to_json()).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["alerts"].as_array().unwrap().len(), 3);
    let tts = json["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["health_id"] == "openai-tts")
        .unwrap();
    assert_eq!(tts["status"], "degraded");
    assert_eq!(tts["requests"], 10);
    assert_eq!(tts["success_rate"], 0.6);
}

#[test]
fn alarms_have_one_alarm_per_threshold_per_health_id() {
    let template: Value = serde_json::from_str(&alarms::template(PROVIDERS, "DemoNs")).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    assert_eq!(resources.len(), 2 * health_ids().len() + PROVIDERS.len());
    for provider in PROVIDERS {
        for endpoint in provider.endpoints {
            let id = endpoint.health_id;
            for (suffix, threshold) in [
                ("latency", provider.alerts.avg_latency_ms as f64),
                ("success-rate", provider.alerts.success_rate),
            ] {
                let name = format!("DemoNs-{id}-{suffix}");
                let alarm = resources
                    .values()
                    .find(|r| r["Properties"]["AlarmName"] == name.as_str())
                    .unwrap_or_else(|| panic!("no alarm {name}"));
                assert_eq!(alarm["Properties"]["Namespace"], "DemoNs");
                assert_eq!(alarm["Properties"]["Threshold"].as_f64(), Some(threshold));
                assert_eq!(
                    alarm["Properties"]["Dimensions"][0]["Value"],
                    Value::from(id)
                );
            }
        }
        let name = format!("DemoNs-{}-rate-limits", provider.id);
        assert!(
            resources
                .values()
                .any(|r| r["Properties"]["AlarmName"] == name.as_str()),
            "{name}"
        );
    }
}

#[test]
fn alarms_write_to_a_file_or_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alarms.json");
    let args = alarms::AlarmsArgs {
        namespace: "MediaSdk".into(),
        out: Some(path.clone()),
    };
    let mut out = Vec::new();
    assert!(alarms::run(&args, &mut out).unwrap());
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, alarms::template(PROVIDERS, "MediaSdk"));
    let expected = 2 * health_ids().len() + PROVIDERS.len();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "wrote {expected} CloudWatch alarms (namespace MediaSdk) to {}\n",
            path.display()
        )
    );

    let mut out = Vec::new();
    let args = alarms::AlarmsArgs {
        namespace: "MediaSdk".into(),
        out: None,
    };
    alarms::run(&args, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), written);

    let empty = alarms::AlarmsArgs {
        namespace: " ".into(),
        out: None,
    };
    assert!(matches!(
        alarms::run(&empty, &mut Vec::new()),
        Err(CliError::Usage(_))
    ));
}

#[test]
fn arguments_parse() {
    let cli = Cli::try_parse_from(["media-sdk", "demo"]).unwrap();
    let Command::Demo(args) = cli.command else {
        panic!("not demo");
    };
    assert_eq!(
        (args.requests, args.concurrency, args.rate, args.live),
        (None, 8, 15.0, false)
    );
    let cli = Cli::try_parse_from([
        "media-sdk",
        "demo",
        "--requests",
        "12",
        "--concurrency",
        "3",
        "--rate",
        "40",
        "--seed",
        "9",
        "--live",
    ])
    .unwrap();
    let Command::Demo(args) = cli.command else {
        panic!("not demo");
    };
    assert_eq!(
        (
            args.requests,
            args.concurrency,
            args.rate,
            args.seed,
            args.live
        ),
        (Some(12), 3, 40.0, 9, true)
    );
    let cli = Cli::try_parse_from(["media-sdk", "health", "--json"]).unwrap();
    assert!(matches!(cli.command, Command::Health(h) if h.json));
    let cli = Cli::try_parse_from(["media-sdk", "alarms", "--namespace", "X", "--out", "a.json"])
        .unwrap();
    assert!(
        matches!(cli.command, Command::Alarms(a) if a.namespace == "X" && a.out.as_deref() == Some(std::path::Path::new("a.json")))
    );
    let cli = Cli::try_parse_from(["media-sdk", "alarms"]).unwrap();
    assert!(
        matches!(cli.command, Command::Alarms(a) if a.namespace == "MediaSdk" && a.out.is_none())
    );
    assert!(Cli::try_parse_from(["media-sdk", "demo", "--requests", "x"]).is_err());
    let cli = Cli::try_parse_from(["media-sdk", "table", "check", "--table", "t"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Table(table::TableArgs {
            action: table::TableAction::Check(table::TableName { table: Some(t) })
        }) if t == "t"
    ));
    assert!(Cli::try_parse_from(["media-sdk", "table"]).is_err());
}

#[test]
fn config_table_selects_dynamodb() {
    assert_eq!(StoreChoice::from_lookup(|_| None), StoreChoice::Memory);
    assert_eq!(
        StoreChoice::from_lookup(lookup(&[("CONFIG_TABLE", "  ")])),
        StoreChoice::Memory
    );
    assert_eq!(
        StoreChoice::from_lookup(lookup(&[("CONFIG_TABLE", "media-health")])),
        StoreChoice::DynamoDb {
            table: "media-health".into(),
            endpoint: None,
            region: None,
        }
    );
    let local = StoreChoice::from_lookup(lookup(&[
        ("CONFIG_TABLE", "media-health"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
    ]));
    assert_eq!(
        local.describe(),
        "DynamoDB table media-health at http://127.0.0.1:8000 (region eu-west-1)"
    );
    assert_eq!(
        serde_json::to_value(&local).unwrap(),
        serde_json::json!({
            "kind": "dynamodb",
            "table": "media-health",
            "endpoint": "http://127.0.0.1:8000",
            "region": "eu-west-1",
        })
    );
}

fn rate_limit(provider: &'static str, health_id: &'static str) -> RateLimitEvent {
    RateLimitEvent {
        provider,
        health_id,
        key_fingerprint: "k_00000000".into(),
        cooldown: Duration::from_secs(1),
        rotated: true,
        at: SystemTime::now(),
    }
}

/// OpenAI's threshold is 10 an hour: 6 on speech and 5 on images cross it together, neither
/// alone.
const SPLIT_RATE_LIMITS: [(&str, usize); 2] = [("openai-tts", 6), ("openai-image", 5)];

#[tokio::test]
async fn the_rate_limit_alert_counts_the_provider_across_its_health_ids() {
    let openai = PROVIDERS.iter().find(|p| p.id == "openai").unwrap();
    assert_eq!(openai.alerts.rate_limits_per_hour, 10);
    let store: Arc<dyn HealthStore> = Arc::new(MemoryStore::new());
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::for_providers(PROVIDERS));
    for (health_id, count) in SPLIT_RATE_LIMITS {
        let health_id: &'static str = health_id;
        for _ in 0..count {
            recorder.record_rate_limit(rate_limit("openai", health_id));
        }
    }
    recorder.flush(Duration::from_secs(10)).await.unwrap();

    let snapshot = HealthSnapshot::read(store, StoreChoice::Memory, PROVIDERS)
        .await
        .unwrap();
    let per_id: Vec<(&str, u64)> = snapshot
        .reports
        .iter()
        .filter(|r| r.provider == "openai")
        .map(|r| (r.health_id.as_str(), r.rate_limits))
        .collect();
    assert_eq!(per_id, [("openai-image", 5), ("openai-tts", 6)]);
    assert_eq!(snapshot.alerts.len(), 1, "{:#?}", snapshot.alerts);
    let alert = &snapshot.alerts[0];
    assert_eq!(alert.kind, AlertKind::RateLimits);
    assert_eq!(
        (alert.provider.as_str(), alert.health_id.as_deref()),
        ("openai", None)
    );
    assert_eq!((alert.observed, alert.threshold), (11.0, 10.0));
    assert_eq!(
        alert.by_health_id,
        [("openai-image".to_owned(), 5), ("openai-tts".to_owned(), 6)].into()
    );
    assert_eq!(
        alert.description,
        "openai: 11 rate limits in the last hour (threshold 10; openai-image 5, openai-tts 6)"
    );
    assert_eq!(snapshot.verdict, HealthVerdict::Alerts);
    let json: Value = serde_json::from_str(&snapshot.to_json()).unwrap();
    assert_eq!(json["alerts"][0]["health_id"], Value::Null);
    assert_eq!(json["alerts"][0]["by_health_id"]["openai-tts"], 6);
}

/// What CloudWatch computes for `alarm` from EMF `lines`: the metric summed over the lines that
/// publish it under exactly the alarm's dimension names with its values (the alarm's period
/// covers them all), then compared with its threshold.
fn alarm_fires(alarm: &Value, lines: &[Value]) -> bool {
    let props = &alarm["Properties"];
    assert_eq!(props["Statistic"], "Sum", "this evaluator sums");
    let metric = props["MetricName"].as_str().unwrap();
    let dimensions: Vec<(&str, &str)> = props["Dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["Name"].as_str().unwrap(), d["Value"].as_str().unwrap()))
        .collect();
    let names: BTreeSet<&str> = dimensions.iter().map(|(n, _)| *n).collect();
    let sum: f64 = lines
        .iter()
        .filter(|line| {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            directive["Namespace"] == props["Namespace"]
                && directive["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["Name"] == metric)
                && directive["Dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|set| {
                        let set: BTreeSet<&str> = set
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|n| n.as_str().unwrap())
                            .collect();
                        set == names
                    })
                && dimensions.iter().all(|(n, v)| line[*n] == *v)
        })
        .map(|line| line[metric].as_f64().unwrap())
        .sum();
    let threshold = props["Threshold"].as_f64().unwrap();
    match props["ComparisonOperator"].as_str().unwrap() {
        "GreaterThanThreshold" => sum > threshold,
        other => panic!("unexpected operator {other}"),
    }
}

#[test]
fn the_rate_limit_alarm_counts_the_provider_across_its_health_ids() {
    let emf = EmfTelemetry::new("MediaSdk", std::io::sink());
    let lines: Vec<Value> = SPLIT_RATE_LIMITS
        .iter()
        .flat_map(|&(health_id, count)| {
            let health_id: &'static str = health_id;
            (0..count).map(move |_| rate_limit("openai", health_id))
        })
        .map(|event| emf.rate_limit_line(&event))
        .collect();
    let template: Value = serde_json::from_str(&alarms::template(PROVIDERS, "MediaSdk")).unwrap();
    let rate_alarms: Vec<&Value> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Properties"]["MetricName"] == "RateLimited")
        .collect();
    assert_eq!(
        rate_alarms.len(),
        PROVIDERS.len(),
        "one per provider, none per id"
    );
    let openai = rate_alarms
        .iter()
        .find(|a| a["Properties"]["AlarmName"] == "MediaSdk-openai-rate-limits")
        .unwrap();
    assert_eq!(openai["Properties"]["Period"], 3600);
    assert!(alarm_fires(openai, &lines), "11 events of openai cross 10");
    // Either health id alone stays under it.
    for (health_id, _) in SPLIT_RATE_LIMITS {
        let alone: Vec<Value> = lines
            .iter()
            .filter(|l| l["HealthId"] == health_id)
            .cloned()
            .collect();
        assert!(!alarm_fires(openai, &alone), "{health_id} alone");
    }
}

/// Runs the `media-sdk` binary with `args` and a clean health environment plus `env`.
fn media_sdk(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_media-sdk"));
    command.args(args);
    for var in [
        "CONFIG_TABLE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("run media-sdk");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn health_without_data_exits_2_and_says_where_it_looked() {
    let (code, stdout, stderr) = media_sdk(&["health", "--json"], &[]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["verdict"], "no_data");
    assert_eq!(json["ok"], false);
    assert_eq!(json["store"]["kind"], "memory");
    assert!(
        json["looked_in"]
            .as_str()
            .unwrap()
            .contains("memory of this process"),
        "{json}"
    );

    let (code, stdout, _) = media_sdk(&["health"], &[]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.starts_with("health from the memory of this process"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "verdict: no data: nothing recorded in the memory of this process (CONFIG_TABLE is \
             not set; metrics recorded by other processes are not visible here) within the \
             health window; exit status 2\n"
        ),
        "{stdout}"
    );

    let (code, help, _) = media_sdk(&["health", "--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(
        help.contains("Exit status: 0 healthy") && help.contains("2 no data"),
        "{help}"
    );
}

/// With a DynamoDB table, a demo of N calls stores exactly N metrics and one event per rate
/// limit: the Sdk's recorder is the one writer of its store (the demo's own counters only
/// observe). Counted at the store, with a plain scan (no de-duplication).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_on_dynamodb_stores_exactly_one_metric_per_call() {
    let server = moto::shared();
    let table = moto::unique_table("demo-count");
    let client = moto::client(&server.endpoint());
    let store = media_sdk::health::DynamoStore::new(client.clone(), table.clone());
    store.create_table_if_missing().await.expect("table");
    let keys = demo_keys(PROVIDERS, lookup(&[]));
    let options = DemoOptions::new(24, 6);
    let report = run_sim(&options, &keys, Arc::new(store), StoreChoice::Memory)
        .await
        .expect("the demo runs");
    assert!(report.all_succeeded(), "{}", report.render());

    let mut metrics = 0;
    let mut events = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).unwrap();
            metrics += usize::from(sk.starts_with("METRIC#"));
            events += u64::from(sk.starts_with("EVENT#"));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(metrics, 24, "one METRIC# item per call");
    assert_eq!(events, report.rate_limits, "one EVENT# item per rate limit");
    assert_eq!(report.recorder.written as usize, metrics + events as usize);
}

/// Made-up demo keys differ across providers (no two providers share a fingerprint in the
/// KEYS table), also with some providers' keys from the environment.
#[test]
fn made_up_demo_keys_are_distinct_across_providers() {
    for env in [
        vec![],
        vec![("OPENAI_API_KEYS", "sk-env-1,sk-env-2,sk-env-3")],
    ] {
        let keys = demo_keys(PROVIDERS, lookup(&env));
        let mut seen = BTreeSet::new();
        for pool in &keys {
            for key in &pool.keys {
                assert!(
                    seen.insert(fingerprint(key)),
                    "{} reuses a key of another provider: {}",
                    pool.provider,
                    fingerprint(key)
                );
            }
        }
    }
}
