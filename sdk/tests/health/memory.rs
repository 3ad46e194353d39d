//! Health with the embedded store, selection, alerts, the table, alarms and EMF: no server.

use crate::cases;
use crate::logs;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use media_sdk::Endpoint;
use media_sdk::health::{
    Alert, AlertKind, Clock, EmfTelemetry, Fanout, HealthError, HealthItem, HealthMonitor,
    HealthRecorder, HealthReport, HealthStore, KeyUsage, MemoryStore, MetricItem, ProviderStatus,
    RecorderConfig, alarms, alerts, check_provider_health, render_table,
};
use media_sdk::openai::{self, ImageRequest, SpeechRequest};
use media_sdk::spec::{AlertThresholds, EndpointSpec, HealthRules, ProviderSpec};
use media_sdk::telemetry::Telemetry;

use cases::{Counted, RULES, START_MS, at_ms, call, clock, leak, rate_limit};
use logs::Logs;

fn memory(clock: &media_sdk::health::ManualClock) -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new().with_clock(clock.clone()))
}

#[tokio::test]
async fn status_rules_hold_at_every_boundary_in_memory() {
    let clock = clock();
    cases::check_status_cases(memory(&clock), &clock, "memory").await;
}

#[test]
fn status_rules_table_without_a_store() {
    for case in cases::status_cases() {
        let requests = case.calls.len() as u64;
        let successes = case.calls.iter().filter(|c| c.1).count() as u64;
        let total: u64 = case.calls.iter().map(|c| c.0).sum();
        assert_eq!(
            media_sdk::health::evaluate(&RULES, requests, successes, total),
            case.expected,
            "{}",
            case.name
        );
    }
}

#[tokio::test]
async fn the_window_moves_with_the_clock() {
    let clock = clock();
    let store = memory(&clock);
    let id = leak("window");
    let window_start = START_MS - 300_000;
    let items: Vec<HealthItem> = [(window_start, 10), (window_start - 1, 20), (START_MS, 30)]
        .iter()
        .map(|&(at, latency)| {
            HealthItem::Metric(MetricItem::from_call(
                &call(id, at_ms(at), latency, true),
                format!("{latency:012x}"),
                Duration::from_secs(3_600),
            ))
        })
        .collect();
    store.write_batch(&items).await.expect("write");
    let report = check_provider_health(store.as_ref(), &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.requests, 2, "window start is inclusive: {report:?}");
    assert_eq!(report.avg_latency_ms, Some(20.0));

    clock.advance(Duration::from_millis(1));
    let report = check_provider_health(store.as_ref(), &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.requests, 1);
    assert_eq!(report.p95_latency_ms, Some(30));
    assert_eq!(report.checked_at, clock.now());
}

#[tokio::test]
async fn the_memory_store_drops_expired_items_on_write_and_caps_partitions() {
    let clock = clock();
    let store = MemoryStore::new()
        .with_clock(clock.clone())
        .with_max_items_per_partition(50);
    let id = leak("bounded");
    let batch = |from: u64, n: u64| -> Vec<HealthItem> {
        (from..from + n)
            .map(|i| {
                HealthItem::Metric(MetricItem::from_call(
                    &call(id, clock.now(), 5, true),
                    format!("{i:012x}"),
                    Duration::from_secs(10),
                ))
            })
            .collect()
    };
    for chunk in batch(0, 40).chunks(25) {
        store.write_batch(chunk).await.expect("write");
    }
    assert_eq!(store.len(), 40);
    clock.advance(Duration::from_secs(11));
    store.write_batch(&batch(100, 1)).await.expect("write");
    assert_eq!(store.len(), 1, "expired items dropped on write");
    for chunk in batch(200, 80).chunks(25) {
        store.write_batch(chunk).await.expect("write");
    }
    assert_eq!(store.len(), 50, "partition capped");
}

#[tokio::test]
async fn pages_of_the_memory_store_cover_the_window_newest_first() {
    let clock = clock();
    let store = Arc::new(
        MemoryStore::new()
            .with_clock(clock.clone())
            .with_page_size(4),
    );
    let id = leak("mem-paged");
    let items: Vec<HealthItem> = (0..10u64)
        .map(|i| {
            HealthItem::Metric(MetricItem::from_call(
                &call(id, at_ms(START_MS - 1_000 * i), i, true),
                format!("{i:012x}"),
                Duration::from_secs(300),
            ))
        })
        .collect();
    store.write_batch(&items).await.expect("write");
    let counted = Counted::new(store);
    let report = check_provider_health(&counted, &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.requests, 10);
    assert_eq!(counted.metric_queries(), 3);
}

#[tokio::test]
async fn flush_delivers_everything_queued_in_batches_of_25() {
    let clock = clock();
    let store = memory(&clock);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let id = leak("flushed");
    for i in 0..510 {
        recorder.record_call(call(id, at_ms(START_MS - i), 10, true));
    }
    let report = recorder
        .flush(Duration::from_secs(10))
        .await
        .expect("flush");
    assert_eq!((report.written, report.dropped), (510, 0));
    assert_eq!(store.len(), 510);
    let stats = recorder.stats();
    assert_eq!(
        stats.batches, 21,
        "20 full batches and one of 10: {stats:?}"
    );
    assert_eq!(stats.pending(), 0);
    // Nothing queued: an immediate, empty flush.
    let empty = recorder.flush(Duration::from_secs(1)).await.expect("flush");
    assert_eq!((empty.written, empty.dropped), (0, 0));
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let clock = clock();
    let store = memory(&clock);
    let config = RecorderConfig {
        capacity: 10,
        ..RecorderConfig::default()
    };
    let recorder = HealthRecorder::spawn(store.clone(), config);
    let id = leak("full");
    // Single-threaded runtime: the task does not run during this loop.
    for i in 0..50 {
        recorder.record_call(call(id, at_ms(START_MS - i), 10, true));
    }
    let stats = recorder.stats();
    assert_eq!((stats.queued, stats.dropped_full), (10, 40));
    recorder
        .flush(Duration::from_secs(10))
        .await
        .expect("flush");
    assert_eq!(store.len(), 10);
    assert_eq!(recorder.stats().written, 10);
}

#[tokio::test]
async fn dropping_the_last_handle_writes_what_is_queued() {
    let clock = clock();
    let store = memory(&clock);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let clone = recorder.clone();
    let id = leak("dropped");
    for i in 0..30 {
        clone.record_call(call(id, at_ms(START_MS - i), 10, true));
    }
    drop(recorder);
    drop(clone);
    // Let the background task run: it drains the closed queue, then ends. It needs only turns
    // on this single-threaded runtime (the memory store answers at once), no wall-clock time.
    for _ in 0..100 {
        if store.len() == 30 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(store.len(), 30);
}

#[tokio::test]
async fn a_batch_s_worth_or_the_last_handle_cuts_the_linger_short() {
    // Records do not wake the task one by one; a full batch or a closed queue still does.
    let clock = clock();
    let store = memory(&clock);
    let config = RecorderConfig {
        linger: Duration::from_secs(3_600),
        ..RecorderConfig::default()
    };
    let recorder = HealthRecorder::spawn(store.clone(), config);
    let id = leak("lingering");
    let record = |i: u64| recorder.record_call(call(id, at_ms(START_MS - i), 10, true));
    // Turns of this single-threaded runtime, no wall-clock time: the linger never ends here.
    async fn settle(store: &MemoryStore, expected: usize) -> usize {
        for _ in 0..100 {
            if store.len() == expected {
                break;
            }
            tokio::task::yield_now().await;
        }
        store.len()
    }
    record(0);
    assert_eq!(
        settle(&store, 1).await,
        0,
        "the task lingers over its first record"
    );
    (1..25).for_each(record);
    assert_eq!(
        settle(&store, 25).await,
        25,
        "a full batch is written at once"
    );
    (25..28).for_each(record);
    assert_eq!(
        settle(&store, 28).await,
        25,
        "lingering over the next batch"
    );
    drop(recorder);
    assert_eq!(
        settle(&store, 28).await,
        28,
        "the closed queue is written at once"
    );
}

async fn seed(recorder: &HealthRecorder, id: &'static str, now: SystemTime, calls: &[(u64, bool)]) {
    for (i, (latency, success)) in calls.iter().enumerate() {
        recorder.record_call(call(
            id,
            now - Duration::from_millis(10 + i as u64),
            *latency,
            *success,
        ));
    }
}

fn monitor_for(
    store: Arc<dyn HealthStore>,
    clock: &media_sdk::health::ManualClock,
    ids: &[&str],
) -> HealthMonitor {
    ids.iter().fold(
        HealthMonitor::new(store).with_clock(clock.clone()),
        |monitor, id| monitor.with_health_id(id, "acme", RULES),
    )
}

#[tokio::test]
async fn selection_prefers_healthy_by_latency_then_degraded_and_orders_fallbacks() {
    let clock = clock();
    let store = memory(&clock);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let now = clock.now();
    let slow = leak("sel-slow");
    let fast = leak("sel-fast");
    let degraded_good = leak("sel-degraded-good");
    let degraded_bad = leak("sel-degraded-bad");
    let down = leak("sel-down");
    let unknown = leak("sel-unknown");
    seed(&recorder, slow, now, &[(300, true); 5]).await;
    seed(&recorder, fast, now, &[(100, true); 5]).await;
    seed(&recorder, degraded_good, now, &[(2000, true); 5]).await; // slow, all succeed
    seed(
        &recorder,
        degraded_bad,
        now,
        &[(50, true), (50, true), (50, true), (50, false), (50, false)],
    )
    .await;
    seed(&recorder, down, now, &[(50, false); 5]).await;
    seed(&recorder, unknown, now, &[(50, true); 2]).await; // below min_requests
    recorder
        .flush(Duration::from_secs(10))
        .await
        .expect("flush");
    let monitor = monitor_for(
        store,
        &clock,
        &[slow, fast, degraded_good, degraded_bad, down, unknown],
    );

    let all = [
        down,
        unknown,
        degraded_bad,
        slow,
        "not-registered",
        degraded_good,
        fast,
    ];
    assert_eq!(
        monitor.fastest_provider(&all).await.as_deref(),
        Some("sel-fast")
    );
    assert_eq!(
        monitor.health_order(&all).await,
        [
            "sel-fast",
            "sel-slow",
            "sel-degraded-good",
            "sel-degraded-bad",
            "sel-unknown",
            "not-registered",
            "sel-down"
        ]
    );
    assert_eq!(
        monitor
            .fastest_provider(&[down, degraded_bad, unknown, degraded_good])
            .await
            .as_deref(),
        Some("sel-degraded-good"),
        "no healthy candidate: the best degraded"
    );
    assert_eq!(monitor.fastest_provider(&[down, unknown]).await, None);
    assert_eq!(monitor.fastest_provider(&[]).await, None);
    assert!(matches!(
        monitor.report("not-registered").await,
        Err(HealthError::UnknownHealthId(id)) if id == "not-registered"
    ));
}

#[tokio::test]
async fn reports_are_cached_for_the_interval() {
    let clock = clock();
    let store = memory(&clock);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let a = leak("cache-a");
    let b = leak("cache-b");
    seed(&recorder, a, clock.now(), &[(100, true); 5]).await;
    seed(&recorder, b, clock.now(), &[(200, true); 5]).await;
    recorder
        .flush(Duration::from_secs(10))
        .await
        .expect("flush");
    let counted = Arc::new(Counted::new(store));
    let monitor =
        monitor_for(counted.clone(), &clock, &[a, b]).with_cache_ttl(Duration::from_secs(30));

    for _ in 0..20 {
        assert_eq!(
            monitor.fastest_provider(&[a, b]).await.as_deref(),
            Some("cache-a")
        );
    }
    assert_eq!(counted.metric_queries(), 2, "one read per health id");

    clock.advance(Duration::from_secs(29));
    monitor.fastest_provider(&[a, b]).await;
    assert_eq!(counted.metric_queries(), 2, "still fresh");

    // Health changes in the store; the cache expires; selection follows.
    seed(&recorder, a, clock.now(), &[(5_000, true); 20]).await;
    recorder
        .flush(Duration::from_secs(10))
        .await
        .expect("flush");
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        monitor.fastest_provider(&[a, b]).await.as_deref(),
        Some("cache-b")
    );
    assert_eq!(counted.metric_queries(), 4);

    // A fresh check always reads.
    monitor.check_provider_health(a).await.expect("fresh");
    assert_eq!(counted.metric_queries(), 5);
}

#[tokio::test]
async fn memory_cooldowns_keep_the_latest_until() {
    let clock = clock();
    let store = memory(&clock);
    let now = clock.now();
    assert!(
        store
            .publish_cooldown("acme", "fp-1", now + Duration::from_secs(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .publish_cooldown("acme", "fp-1", now + Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .publish_cooldown("acme", "fp-1", now + Duration::from_secs(15))
            .await
            .unwrap()
    );
    assert_eq!(
        store.active_cooldowns("acme").await.unwrap(),
        [("fp-1".to_owned(), now + Duration::from_secs(15))]
    );
    clock.advance(Duration::from_secs(15));
    assert!(store.active_cooldowns("acme").await.unwrap().is_empty());
}

fn report(rate_limits: u64, avg: Option<f64>, success: Option<f64>, requests: u64) -> HealthReport {
    HealthReport {
        health_id: "openai-tts".into(),
        provider: "openai".into(),
        status: ProviderStatus::Healthy,
        avg_latency_ms: avg,
        p95_latency_ms: avg.map(|a| a as u64 + 50),
        success_rate: success,
        requests,
        rate_limits,
        provider_rate_limits: rate_limits,
        window: Duration::from_secs(300),
        checked_at: at_ms(START_MS),
        keys: Vec::new(),
    }
}

const THRESHOLDS: AlertThresholds = AlertThresholds {
    rate_limits_per_hour: 10,
    avg_latency_ms: 5000,
    success_rate: 0.90,
};

#[test]
fn alerts_fire_strictly_past_each_threshold() {
    let at_limits = report(10, Some(5000.0), Some(0.90), 10);
    assert!(
        alerts(&at_limits, &THRESHOLDS).is_empty(),
        "at the thresholds: no alert"
    );

    let past = report(11, Some(5000.5), Some(0.895), 200);
    let fired = alerts(&past, &THRESHOLDS);
    let kinds: Vec<AlertKind> = fired.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AlertKind::RateLimits,
            AlertKind::Latency,
            AlertKind::SuccessRate
        ]
    );
    let lines: Vec<String> = fired.iter().map(Alert::to_string).collect();
    assert_eq!(
        lines,
        [
            "openai: 11 rate limits in the last hour (threshold 10; openai-tts 11)",
            "openai-tts (openai): average latency 5000 ms over 300 s (threshold 5000 ms)",
            "openai-tts (openai): success rate 89.5% over 300 s (threshold 90.0%)",
        ]
    );
    assert_eq!((fired[2].observed, fired[2].threshold), (0.895, 0.90));

    let no_requests = report(0, None, None, 0);
    assert!(alerts(&no_requests, &THRESHOLDS).is_empty());
}

#[test]
fn the_table_is_aligned_with_alerts_below() {
    let mut quiet = report(0, None, None, 0);
    quiet.health_id = "elevenlabs-tts".into();
    quiet.provider = "elevenlabs".into();
    quiet.status = ProviderStatus::Unknown;
    let mut busy = report(12, Some(6123.4), Some(0.875), 1234);
    busy.status = ProviderStatus::Degraded;
    busy.p95_latency_ms = Some(15000);
    let fired = alerts(&busy, &THRESHOLDS);
    let table = render_table(&[busy, quiet], &fired);
    let expected = "\
HEALTH ID       PROVIDER    STATUS    AVG MS  P95 MS  SUCCESS  REQUESTS  RATE LIMITS
openai-tts      openai      degraded    6123   15000    87.5%      1234           12
elevenlabs-tts  elevenlabs  unknown        -       -        -         0            0

ALERTS
! openai: 12 rate limits in the last hour (threshold 10; openai-tts 12)
! openai-tts (openai): average latency 6123 ms over 300 s (threshold 5000 ms)
! openai-tts (openai): success rate 87.5% over 300 s (threshold 90.0%)
";
    assert_eq!(table, expected);
    assert_eq!(
        render_table(&[], &[]),
        "HEALTH ID  PROVIDER  STATUS  AVG MS  P95 MS  SUCCESS  REQUESTS  RATE LIMITS\n"
    );
}

#[test]
fn reports_serialize_for_json_output() {
    let report = HealthReport {
        keys: vec![KeyUsage {
            fingerprint: "k_0123abcd".into(),
            calls: 8,
            successes: 8,
            credits: 16,
        }],
        ..report(3, Some(120.5), Some(1.0), 8)
    };
    let value = serde_json::to_value(report).expect("json");
    assert_eq!(
        value,
        serde_json::json!({
            "health_id": "openai-tts",
            "provider": "openai",
            "status": "healthy",
            "avg_latency_ms": 120.5,
            "p95_latency_ms": 170,
            "success_rate": 1.0,
            "requests": 8,
            "rate_limits": 3,
            "provider_rate_limits": 3,
            "window_secs": 300,
            "checked_at": "2025-01-01T00:00:00.000Z",
            "keys": [
                { "fingerprint": "k_0123abcd", "calls": 8, "successes": 8, "credits": 16 }
            ],
        })
    );
}

#[test]
fn p95_is_the_nearest_rank() {
    let id = leak("p95");
    let metrics: Vec<MetricItem> = (1..=40u64)
        .map(|latency| {
            MetricItem::from_call(
                &call(id, at_ms(START_MS), latency, true),
                format!("{latency}"),
                Duration::from_secs(300),
            )
        })
        .collect();
    let report = HealthReport::from_metrics(id, "acme", &RULES, &metrics, 0, at_ms(START_MS));
    assert_eq!(report.p95_latency_ms, Some(38), "rank ceil(0.95 * 40) = 38");
    assert_eq!(report.avg_latency_ms, Some(20.5));
    let one = HealthReport::from_metrics(id, "acme", &RULES, &metrics[..1], 0, at_ms(START_MS));
    assert_eq!(one.p95_latency_ms, Some(1));
}

/// OpenAI's two endpoints plus a second one sharing the `openai-tts` health id: alarms are per
/// health id, not per endpoint.
static ENDPOINTS: [EndpointSpec; 3] = [
    <SpeechRequest as Endpoint>::SPEC,
    <ImageRequest as Endpoint>::SPEC,
    EndpointSpec {
        id: "speech_hd",
        ..<SpeechRequest as Endpoint>::SPEC
    },
];

/// OpenAI with a 270 s health window (not a whole minute) and this file's alert thresholds.
static OPENAI: ProviderSpec = ProviderSpec {
    health: HealthRules {
        window_secs: 270,
        ..openai::PROVIDER.health
    },
    alerts: THRESHOLDS,
    endpoints: &ENDPOINTS,
    ..openai::PROVIDER
};

#[test]
fn alarms_cover_every_health_id_and_threshold() {
    let template = alarms::cloudformation(&[&OPENAI], "MediaSdk");
    assert_eq!(template["AWSTemplateFormatVersion"], "2010-09-09");
    let resources = template["Resources"].as_object().expect("resources");
    let mut names: Vec<&str> = resources.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "OpenaiImageLatencyAlarm",
            "OpenaiImageSuccessRateAlarm",
            "OpenaiRateLimitAlarm",
            "OpenaiTtsLatencyAlarm",
            "OpenaiTtsSuccessRateAlarm",
        ]
    );
    assert!(
        resources
            .values()
            .all(|r| r["Type"] == "AWS::CloudWatch::Alarm")
    );
    assert!(
        resources
            .values()
            .all(|r| r["Properties"]["Namespace"] == "MediaSdk")
    );
    assert!(
        resources
            .values()
            .all(|r| r["Properties"]["TreatMissingData"] == "notBreaching")
    );

    let latency = &resources["OpenaiTtsLatencyAlarm"]["Properties"];
    assert_eq!(latency["MetricName"], "Latency");
    assert_eq!(
        latency["Dimensions"],
        serde_json::json!([{"Name": "HealthId", "Value": "openai-tts"}])
    );
    assert_eq!(latency["Statistic"], "Average");
    assert_eq!(latency["Threshold"], 5000);
    assert_eq!(latency["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        latency["Period"], 300,
        "the 270 s window rounded up to a whole minute"
    );

    let success = &resources["OpenaiImageSuccessRateAlarm"]["Properties"];
    assert_eq!(success["MetricName"], "Success");
    assert_eq!(success["Threshold"], 0.9);
    assert_eq!(success["ComparisonOperator"], "LessThanThreshold");

    let limits = &resources["OpenaiRateLimitAlarm"]["Properties"];
    assert_eq!(limits["MetricName"], "RateLimited");
    assert_eq!(
        limits["Dimensions"],
        serde_json::json!([{"Name": "Provider", "Value": "openai"}])
    );
    assert_eq!(
        (limits["Statistic"].as_str(), limits["Period"].as_u64()),
        (Some("Sum"), Some(3600))
    );
    assert_eq!(limits["Threshold"], 10);
    assert_eq!(
        limits["AlarmActions"],
        serde_json::json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(template["Parameters"]["AlarmTopicArn"]["Default"], "");
}

/// The EMF documents written to `out`, one JSON document per line.
fn lines(out: &Logs) -> Vec<serde_json::Value> {
    String::from_utf8(out.bytes())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect()
}

#[test]
fn emf_lines_feed_the_alarms_and_fanout_reaches_every_sink() {
    let out = Logs::default();
    let second = Logs::default();
    let fanout = Fanout::default()
        .with(EmfTelemetry::new("MediaSdk", out.clone()))
        .with(EmfTelemetry::new("Other", second.clone()));
    let id = leak("openai-tts");
    let mut failed = call(id, at_ms(START_MS), 812, false);
    failed.provider = "openai";
    fanout.record_call(failed);
    fanout.record_rate_limit(rate_limit(
        "openai",
        id,
        "fp-9f8e",
        at_ms(START_MS + 1),
        Duration::from_secs(20),
    ));

    let second_lines = lines(&second);
    let lines = lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        serde_json::json!({
            "_aws": {
                "Timestamp": START_MS,
                "CloudWatchMetrics": [{
                    "Namespace": "MediaSdk",
                    "Dimensions": [["HealthId"], ["Provider"]],
                    "Metrics": [
                        {"Name": "Latency", "Unit": "Milliseconds"},
                        {"Name": "Success", "Unit": "Count"}
                    ]
                }]
            },
            "HealthId": "openai-tts",
            "Provider": "openai",
            "Endpoint": "speak",
            "Latency": 812,
            "Success": 0,
            "Attempts": 1,
            "Status": 500,
            "ErrorClass": "api",
            "KeyFingerprint": "fp-1a2b3c"
        })
    );
    let limited = &lines[1];
    assert_eq!(
        limited["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        serde_json::json!([{"Name": "RateLimited", "Unit": "Count"}])
    );
    assert_eq!(
        (
            limited["RateLimited"].as_u64(),
            limited["Provider"].as_str()
        ),
        (Some(1), Some("openai"))
    );
    assert_eq!(limited["KeyFingerprint"], "fp-9f8e");
    assert_eq!(limited["CooldownMs"], 20_000);

    // Every metric and dimension an alarm reads appears in the lines.
    let template = alarms::cloudformation(&[&OPENAI], "MediaSdk");
    for alarm in template["Resources"].as_object().unwrap().values() {
        let metric = alarm["Properties"]["MetricName"].as_str().unwrap();
        let dimension = alarm["Properties"]["Dimensions"][0]["Name"]
            .as_str()
            .unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l.get(metric).is_some() && l.get(dimension).is_some()),
            "no EMF line carries {metric} with {dimension}"
        );
    }

    assert_eq!(
        second_lines.len(),
        2,
        "the second sink got both records too"
    );
}

#[tokio::test]
async fn cooldown_sync_applies_shared_cooldowns_per_provider() {
    let clock = clock();
    let store = memory(&clock);
    let until = clock.now() + Duration::from_secs(30);
    store.publish_cooldown("acme", "fp-1", until).await.unwrap();
    store
        .publish_cooldown("other", "fp-2", until)
        .await
        .unwrap();
    store
        .publish_cooldown("ignored", "fp-3", until)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = media_sdk::health::spawn_cooldown_sync(
        store,
        vec!["acme".into(), "other".into()],
        Duration::from_secs(3600),
        move |provider, fp, until| {
            let _ = tx.send((provider.to_owned(), fp.to_owned(), until));
        },
    );
    // The first sync runs at once; the next would be an hour later.
    let first = rx.recv().await.expect("first cool-down");
    let second = rx.recv().await.expect("second cool-down");
    assert_eq!(first, ("acme".to_owned(), "fp-1".to_owned(), until));
    assert_eq!(second, ("other".to_owned(), "fp-2".to_owned(), until));
    task.abort();
    assert!(rx.recv().await.is_none(), "nothing else was applied");
}
