//! Health store against a real DynamoDB-compatible server (moto) on loopback.
#![cfg(feature = "dynamodb")]

use crate::cases;
use crate::logs;
use crate::moto;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use media_sdk::health::{
    Clock, DynamoStore, HealthItem, HealthMonitor, HealthRecorder, HealthStore, MAX_BATCH,
    ManualClock, MetricItem, RecorderConfig, StoreError, check_provider_health,
};

use cases::{Counted, RULES, START_MS, at_ms, call, clock, leak, rate_limit};
use moto::{Item, n, s};

/// A fresh table on the shared server, with a store on `clock`.
async fn store_on(clock: &ManualClock) -> DynamoStore {
    let server = moto::shared();
    let table = moto::unique_table("health");
    let store = DynamoStore::new(moto::client(&server.endpoint()), table).with_clock(clock.clone());
    assert!(store.create_table_if_missing().await.expect("create table"));
    store
}

/// The seed query over every page.
async fn seed_query(store: &DynamoStore, health_id: &str) -> Vec<Item> {
    moto::seed_query_pages(store, health_id).await.concat()
}

#[tokio::test]
async fn create_table_is_idempotent_and_enables_ttl() {
    let clock = clock();
    let store = store_on(&clock).await;
    assert!(
        !store
            .create_table_if_missing()
            .await
            .expect("second create")
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe ttl");
    let description = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(description.attribute_name(), Some("ttl"));
    assert_eq!(
        description.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
}

#[tokio::test]
async fn seed_query_returns_exactly_what_the_recorder_wrote() {
    let clock = clock();
    let store = Arc::new(store_on(&clock).await);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let id = leak("seed-tts");
    let ok = call(id, at_ms(START_MS - 3_000), 120, true);
    let mut failed = call(id, at_ms(START_MS - 2_000), 900, false);
    failed.attempts = 3;
    failed.status = Some(503);
    failed.error_class = Some("retries_exhausted");
    let mut no_status = call(id, at_ms(START_MS - 1_000), 40, false);
    no_status.status = None;
    no_status.error_class = Some("transport");
    no_status.key_fingerprint = None;
    for metric in [&ok, &failed, &no_status] {
        recorder.record_call(metric.clone());
    }
    let flushed = recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    assert_eq!(flushed.written, 3);

    let items = seed_query(&store, id).await;
    assert_eq!(items.len(), 3, "{items:?}");
    // Newest first.
    let latencies: Vec<u64> = items.iter().map(|i| n(i, "latency_ms")).collect();
    assert_eq!(latencies, [40, 900, 120]);
    let expected = [
        (&no_status, START_MS - 1_000),
        (&failed, START_MS - 2_000),
        (&ok, START_MS - 3_000),
    ];
    for (item, (metric, at)) in items.iter().zip(expected) {
        assert_eq!(s(item, "pk"), "PROVIDER_HEALTH#seed-tts");
        let sk = s(item, "sk");
        assert!(sk.starts_with(&format!("METRIC#{at:013}#")), "{sk}");
        assert!(item["success"].as_bool().is_ok(), "success is BOOL");
        assert_eq!(*item["success"].as_bool().unwrap(), metric.success);
        assert_eq!(
            s(item, "timestamp"),
            humantime::format_rfc3339_millis(metric.at).to_string()
        );
        assert!(s(item, "timestamp").ends_with('Z') && s(item, "timestamp").contains('.'));
        assert_eq!(n(item, "ttl"), (at + 300_000).div_ceil(1000));
        assert_eq!(n(item, "attempts"), u64::from(metric.attempts));
        assert_eq!(s(item, "provider"), "acme");
        assert_eq!(s(item, "endpoint"), "speak");
        assert_eq!(
            item.get("status").map(|_| n(item, "status")),
            metric.status.map(u64::from)
        );
        assert_eq!(
            item.get("error_class").map(|_| s(item, "error_class")),
            metric.error_class
        );
        assert_eq!(
            item.get("key").map(|_| s(item, "key")),
            metric.key_fingerprint.as_deref()
        );
    }
    let first = &items[2];
    let mut names: Vec<&str> = first.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "attempts",
            "endpoint",
            "health_id",
            "key",
            "latency_ms",
            "pk",
            "provider",
            "sk",
            "status",
            "success",
            "timestamp",
            "ttl"
        ]
    );

    // The store's own reader sees the same.
    let page = store
        .query_metrics(id, at_ms(START_MS - 300_000), None)
        .await
        .expect("query");
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.items[0].latency_ms, 40);
    assert_eq!(page.items[2].key_fingerprint.as_deref(), Some("fp-1a2b3c"));
}

#[tokio::test]
async fn calls_ending_in_the_same_millisecond_get_distinct_sort_keys() {
    let clock = clock();
    let store = Arc::new(store_on(&clock).await);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let id = leak("same-ms");
    let at = at_ms(START_MS - 500);
    for latency in 0..60 {
        recorder.record_call(call(id, at, latency, true));
    }
    recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    let items = seed_query(&store, id).await;
    assert_eq!(items.len(), 60, "every call kept its own item");
    let sks: HashSet<&str> = items.iter().map(|i| s(i, "sk")).collect();
    assert_eq!(sks.len(), 60);
    let prefix = format!("METRIC#{:013}#", START_MS - 500);
    assert!(sks.iter().all(|sk| sk.starts_with(&prefix)), "{sks:?}");
    let latencies: HashSet<u64> = items.iter().map(|i| n(i, "latency_ms")).collect();
    assert_eq!(latencies.len(), 60);
}

#[tokio::test]
async fn a_thousand_metrics_take_forty_batch_writes_of_at_most_25() {
    let clock = clock();
    let server = moto::shared();
    let log = moto::RequestLog::default();
    let table = moto::unique_table("batches");
    let store =
        Arc::new(DynamoStore::new(log.client(&server.endpoint()), table).with_clock(clock.clone()));
    store.create_table_if_missing().await.expect("create table");
    let config = RecorderConfig {
        capacity: 2_000,
        ..RecorderConfig::default()
    };
    let recorder = HealthRecorder::spawn(store.clone(), config);
    let id = leak("batched");
    // The test runtime is single-threaded: all 1000 are queued before the task runs.
    for i in 0..1000u64 {
        recorder.record_call(call(
            id,
            at_ms(START_MS - 1 - i % 200_000),
            10 + i % 7,
            true,
        ));
    }
    let flushed = recorder
        .flush(Duration::from_secs(60))
        .await
        .expect("flush");
    assert_eq!(flushed.written, 1000);
    let sizes = log.batch_sizes();
    assert_eq!(log.count("BatchWriteItem"), 40, "sizes: {sizes:?}");
    assert!(sizes.iter().all(|&n| n <= MAX_BATCH), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1000);
    let stats = recorder.stats();
    assert_eq!(
        (stats.batches, stats.store_requests, stats.written),
        (40, 40, 1000)
    );

    let report = check_provider_health(store.as_ref(), &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.requests, 1000);
}

#[tokio::test]
async fn the_store_refuses_batches_over_25() {
    let clock = clock();
    let store = store_on(&clock).await;
    let id = leak("too-many");
    let items: Vec<HealthItem> = (0..26)
        .map(|i| {
            HealthItem::Metric(MetricItem::from_call(
                &call(id, at_ms(START_MS - 10), 5, true),
                format!("{i:012x}"),
                Duration::from_secs(300),
            ))
        })
        .collect();
    let err = store.write_batch(&items).await.expect_err("26 items");
    assert!(
        matches!(err, StoreError::BatchTooLarge { len: 26 }),
        "{err}"
    );
    let unprocessed = store.write_batch(&items[..25]).await.expect("25 items");
    assert!(unprocessed.is_empty());
    assert_eq!(seed_query(&store, id).await.len(), 25);
}

#[tokio::test]
async fn status_rules_hold_at_every_boundary_on_dynamodb() {
    let clock = clock();
    let store: Arc<dyn HealthStore> = Arc::new(store_on(&clock).await);
    cases::check_status_cases(store, &clock, "dynamo").await;
}

#[tokio::test]
async fn reads_skip_items_outside_the_window_or_past_their_ttl() {
    let clock = clock();
    let store = store_on(&clock).await;
    let id = leak("windowed");
    let item = |at: u64, latency: u64, retention_secs: u64| {
        HealthItem::Metric(MetricItem::from_call(
            &call(id, at_ms(at), latency, true),
            format!("{latency:012x}"),
            Duration::from_secs(retention_secs),
        ))
    };
    let window_start = START_MS - 300_000;
    store
        .write_batch(&[
            item(START_MS - 1_000, 1, 300),   // counted
            item(window_start, 2, 300),       // exactly at the window start: counted
            item(window_start - 1, 3, 3_600), // 1 ms too old (ttl alive): skipped
            item(START_MS - 20_000, 4, 10),   // in the window but ttl passed: skipped
            item(START_MS - 10_000, 5, 10),   // ttl exactly now: still counted
        ])
        .await
        .expect("write");
    let report = check_provider_health(&store, &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.requests, 3, "{report:?}");
    assert_eq!(report.avg_latency_ms, Some((1 + 2 + 5) as f64 / 3.0));
    // The raw table still holds all five: DynamoDB deletes expired items late.
    assert_eq!(seed_query(&store, id).await.len(), 5);

    clock.advance(Duration::from_millis(1_001));
    let later = check_provider_health(&store, &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(later.requests, 1, "only the newest item is left: {later:?}");
}

#[tokio::test]
async fn reads_follow_every_page_and_stop_at_the_window() {
    let clock = clock();
    let store = store_on(&clock).await.with_page_size(7);
    let id = leak("paged");
    let mut items = Vec::new();
    for i in 0..60u64 {
        items.push(HealthItem::Metric(MetricItem::from_call(
            &call(id, at_ms(START_MS - 1_000 * (i + 1)), 100 + i, true),
            format!("{i:012x}"),
            Duration::from_secs(3_600),
        )));
    }
    // 40 more, older than the window (kept alive by their ttl).
    for i in 0..40u64 {
        items.push(HealthItem::Metric(MetricItem::from_call(
            &call(id, at_ms(START_MS - 400_000 - 1_000 * i), 9_999, false),
            format!("old{i:09x}"),
            Duration::from_secs(3_600),
        )));
    }
    for chunk in items.chunks(MAX_BATCH) {
        assert!(store.write_batch(chunk).await.expect("write").is_empty());
    }

    // Pages come newest first, without gaps or repeats.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .query_metrics(id, at_ms(START_MS - 300_000), cursor)
            .await
            .expect("page");
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(MetricItem::sk));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 60);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first"
    );

    let counted = Counted::new(store);
    let report = check_provider_health(&counted, &clock, id, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.requests, 60);
    assert_eq!(report.status, media_sdk::health::ProviderStatus::Healthy);
    let queries = counted.metric_queries();
    // 60 items at 7 per page: 9 pages, maybe one more to see the end; never the 15 pages that
    // reading the 40 older items too would take.
    assert!((9..=10).contains(&queries), "{queries} queries");
}

#[tokio::test]
async fn rate_limit_events_count_per_health_id_over_the_last_hour() {
    let clock = clock();
    let store = Arc::new(store_on(&clock).await);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let tts = leak("rl-tts");
    let image = leak("rl-image");
    for i in 0..12u64 {
        recorder.record_rate_limit(rate_limit(
            "acme",
            tts,
            "fp-a",
            at_ms(START_MS - 1_000 * i),
            Duration::from_secs(20),
        ));
    }
    recorder.record_rate_limit(rate_limit(
        "acme",
        image,
        "fp-b",
        at_ms(START_MS - 5),
        Duration::from_secs(20),
    ));
    // Older than an hour: not counted.
    recorder.record_rate_limit(rate_limit(
        "acme",
        tts,
        "fp-a",
        at_ms(START_MS - 3_601_000),
        Duration::from_secs(20),
    ));
    recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");

    let report = check_provider_health(store.as_ref(), &clock, tts, "acme", &RULES)
        .await
        .expect("report");
    assert_eq!(report.rate_limits, 12);
    let events = store
        .query_rate_limits("acme", at_ms(START_MS - 3_600_000))
        .await
        .expect("events");
    assert_eq!(events.len(), 13);
    assert!(
        events.windows(2).all(|w| w[0].at_ms >= w[1].at_ms),
        "newest first"
    );
    let raw = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
        .expression_attribute_values(":pk", AttributeValue::S("PROVIDER_RATE_LIMIT#acme".into()))
        .expression_attribute_values(":sk", AttributeValue::S("EVENT#".into()))
        .send()
        .await
        .expect("raw query");
    assert_eq!(raw.items().len(), 14);
    for item in raw.items() {
        let sk = s(item, "sk");
        let at: u64 = sk["EVENT#".len().."EVENT#".len() + 13]
            .parse()
            .expect("millis in sk");
        assert_eq!(
            n(item, "ttl"),
            (at + 3_600_000).div_ceil(1000),
            "kept one hour: {item:?}"
        );
        assert_eq!(n(item, "cooldown_ms"), 20_000);
        assert_eq!(item["rotated"].as_bool(), Ok(&true));
        assert!(["fp-a", "fp-b"].contains(&s(item, "key")));
        assert_eq!(
            s(item, "timestamp"),
            humantime::format_rfc3339_millis(at_ms(at)).to_string()
        );
    }
}

#[tokio::test]
async fn shared_cooldowns_keep_the_latest_until_across_instances() {
    let clock = clock();
    let store_a = store_on(&clock).await;
    // A second instance: its own client, same table.
    let store_b = DynamoStore::new(moto::client(&moto::shared().endpoint()), store_a.table())
        .with_clock(clock.clone());
    let now = clock.now();
    let later = now + Duration::from_secs(10);

    assert!(
        store_a
            .publish_cooldown("acme", "fp-1", later)
            .await
            .expect("first")
    );
    assert!(
        !store_a
            .publish_cooldown("acme", "fp-1", now + Duration::from_secs(5))
            .await
            .expect("earlier"),
        "an earlier until must not overwrite"
    );
    assert!(
        !store_b
            .publish_cooldown("acme", "fp-1", later)
            .await
            .expect("same")
    );
    assert_eq!(
        store_b.active_cooldowns("acme").await.expect("b"),
        [("fp-1".to_owned(), later)]
    );

    let latest = now + Duration::from_secs(20);
    assert!(
        store_b
            .publish_cooldown("acme", "fp-1", latest)
            .await
            .expect("later")
    );
    assert!(
        store_b
            .publish_cooldown("acme", "fp-2", now + Duration::from_secs(3))
            .await
            .expect("fp-2")
    );
    assert!(
        store_b
            .publish_cooldown("other", "fp-9", latest)
            .await
            .expect("other provider")
    );
    assert_eq!(
        store_a.active_cooldowns("acme").await.expect("a"),
        [
            ("fp-1".to_owned(), latest),
            ("fp-2".to_owned(), now + Duration::from_secs(3))
        ]
    );

    // Finished cool-downs disappear from the list (the item stays until its ttl).
    clock.advance(Duration::from_secs(3));
    assert_eq!(
        store_a.active_cooldowns("acme").await.expect("a"),
        [("fp-1".to_owned(), latest)]
    );
    // A finished cool-down can be replaced by a new one.
    assert!(
        store_a
            .publish_cooldown("acme", "fp-2", clock.now() + Duration::from_secs(1))
            .await
            .expect("renew")
    );
}

#[tokio::test]
async fn the_recorder_shares_rate_limited_keys_with_other_instances() {
    let clock = clock();
    let store = Arc::new(store_on(&clock).await);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let id = leak("shared-tts");
    let now = clock.now();
    recorder.record_rate_limit(rate_limit(
        "acme",
        id,
        "fp-hot",
        now,
        Duration::from_secs(30),
    ));
    recorder.record_rate_limit(rate_limit(
        "acme",
        id,
        "fp-hot",
        now - Duration::from_secs(1),
        Duration::from_secs(20),
    ));
    recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    assert_eq!(recorder.stats().cooldowns_published, 1);

    let other = Arc::new(
        DynamoStore::new(moto::client(&moto::shared().endpoint()), store.table())
            .with_clock(clock.clone()),
    );
    let monitor = HealthMonitor::new(other).with_clock(clock.clone());
    let mut applied = Vec::new();
    let count = monitor
        .sync_cooldowns("acme", |fp, until| applied.push((fp.to_owned(), until)))
        .await
        .expect("sync");
    assert_eq!(count, 1);
    assert_eq!(
        applied,
        [("fp-hot".to_owned(), now + Duration::from_secs(30))]
    );
}

#[tokio::test]
async fn selection_reads_dynamodb_through_the_cache() {
    let clock = clock();
    let store = Arc::new(store_on(&clock).await);
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let fast = leak("sel-fast");
    let slow = leak("sel-slow");
    for i in 0..5 {
        recorder.record_call(call(
            fast,
            clock.now() - Duration::from_secs(i + 1),
            100,
            true,
        ));
        recorder.record_call(call(
            slow,
            clock.now() - Duration::from_secs(i + 1),
            400,
            true,
        ));
    }
    recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    let monitor = HealthMonitor::new(store)
        .with_clock(clock.clone())
        .with_health_id(fast, "acme", RULES)
        .with_health_id(slow, "acme", RULES);
    assert_eq!(
        monitor.fastest_provider(&[slow, fast]).await.as_deref(),
        Some("sel-fast")
    );
    assert_eq!(
        monitor.health_order(&[slow, fast]).await,
        ["sel-fast", "sel-slow"]
    );
}

#[tokio::test]
async fn a_missing_table_warns_once_naming_the_table_and_the_fix() {
    let (logs, _guard) = logs::capture_logs();
    let table = moto::unique_table("never-created");
    let store = Arc::new(DynamoStore::new(
        moto::client(&moto::shared().endpoint()),
        table.clone(),
    ));
    let recorder = HealthRecorder::spawn(
        store,
        RecorderConfig {
            linger: Duration::from_millis(1),
            ..RecorderConfig::default()
        },
    );
    let id = leak("absent-tts");
    const CALLS: u64 = 100;
    for i in 0..CALLS {
        recorder.record_call(call(id, at_ms(START_MS + i), 100, true));
        if i % 10 == 0 {
            recorder.record_rate_limit(rate_limit(
                "acme",
                id,
                "fp-1",
                at_ms(START_MS + i),
                Duration::from_secs(5),
            ));
        }
    }
    let flushed = recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    let stats = recorder.stats();
    assert_eq!(flushed.written, 0);
    assert_eq!(
        stats.dropped_store_error,
        CALLS + 10,
        "every record dropped, counted"
    );
    assert_eq!(
        stats.store_requests, stats.batches,
        "a missing table is not retried"
    );
    assert!(stats.batches > 1 && stats.cooldown_errors > 0, "{stats:?}");

    let text = logs.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one WARN for many failed writes:\n{text}"
    );
    assert!(
        warnings[0].contains(&format!(
            "health table `{table}` does not exist (BatchWriteItem): run `cargo xtask table \
             create --table {table}`"
        )),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("suppressed=0"), "{}", warnings[0]);
}
