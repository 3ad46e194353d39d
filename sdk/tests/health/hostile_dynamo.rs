//! A sick DynamoDB: an endpoint that accepts connections and never answers (a "black hole").
//! Nothing the SDK does may wedge on it: the recorder drops and counts what it cannot write and
//! resumes when the store answers again, flushes return by their deadline, and cool-down and
//! health reads fail with a one-line timeout error within their limit.
#![cfg(feature = "dynamodb")]

use crate::cases;
use crate::integ;
use crate::moto;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use media_sdk::health::{
    DynamoStore, DynamoTimeouts, HealthError, HealthMonitor, HealthRecorder, RecorderConfig,
    StoreError,
};
use media_sdk::openai::SpeechRequest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use cases::{RULES, START_MS, at_ms, call, leak};

/// Short DynamoDB limits, so a black-holed call ends in a fraction of a second.
const SHORT: DynamoTimeouts = DynamoTimeouts {
    connect: Duration::from_millis(100),
    read: Duration::from_millis(100),
    attempt: Duration::from_millis(100),
    operation: Duration::from_millis(250),
};

/// Limits so long that only the SDK's own guard can end a black-holed call within a test.
fn unbounded() -> DynamoTimeouts {
    DynamoTimeouts::within(Duration::from_secs(3600))
}

/// Scheduling allowance on top of a limit (2 cores, tests in parallel). A wedged call misses it
/// by seconds (the default limits) or forever.
const SLACK: Duration = Duration::from_millis(400);

/// A loopback stand-in for DynamoDB: every connection is accepted, then either held open and
/// never answered (the black hole, the initial mode) or, after [`forward_to`](Self::forward_to),
/// piped to a real server.
struct Hostile {
    addr: SocketAddr,
    target: watch::Sender<Option<SocketAddr>>,
    swallowed: Arc<AtomicUsize>,
}

impl Hostile {
    async fn black_hole() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (target, mode) = watch::channel(None::<SocketAddr>);
        let swallowed = Arc::new(AtomicUsize::new(0));
        let counter = swallowed.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let forward = *mode.borrow();
                match forward {
                    None => {
                        held.push(socket);
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(upstream) => {
                        tokio::spawn(async move {
                            if let Ok(mut upstream) = TcpStream::connect(upstream).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                            }
                        });
                    }
                }
            }
        });
        Self {
            addr,
            target,
            swallowed,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, new connections reach `endpoint` (`http://host:port`).
    fn forward_to(&self, endpoint: &str) {
        let addr = endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("a host:port endpoint");
        self.target.send_replace(Some(addr));
    }

    /// Connections accepted and never answered.
    fn swallowed(&self) -> usize {
        self.swallowed.load(Ordering::SeqCst)
    }

    /// A store on `table` behind this endpoint, bounded by `timeouts`.
    fn store(&self, table: &str, timeouts: DynamoTimeouts) -> DynamoStore {
        DynamoStore::new(moto::client(&self.endpoint()), table).with_timeouts(timeouts)
    }
}

/// A fresh table on the shared moto server, reached directly.
async fn moto_table() -> DynamoStore {
    let store = DynamoStore::new(
        moto::client(&moto::shared().endpoint()),
        moto::unique_table("hostile"),
    );
    assert!(store.create_table_if_missing().await.expect("create table"));
    store
}

fn assert_one_line(error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(
        !text.contains('\n') && text.len() <= 400,
        "error text is not one short line ({} bytes): {text}",
        text.len()
    );
}

fn assert_within(elapsed: Duration, limit: Duration, what: &str) {
    assert!(
        elapsed < limit + SLACK,
        "{what} took {elapsed:?}, limit {limit:?}"
    );
}

/// The recorder's settings for these tests: two store attempts, near-instant retries.
fn quick_recorder() -> RecorderConfig {
    RecorderConfig {
        max_store_attempts: 2,
        retry_base_delay: Duration::from_millis(1),
        retry_max_delay: Duration::from_millis(5),
        linger: Duration::from_millis(1),
        ..RecorderConfig::default()
    }
}

#[tokio::test]
async fn recorder_drops_a_black_holed_batch_then_resumes_when_the_store_answers() {
    let direct = moto_table().await;
    let hostile = Hostile::black_hole().await;
    let store = Arc::new(hostile.store(direct.table(), SHORT));
    let recorder = HealthRecorder::spawn(store, quick_recorder());
    let id = leak("hostile-tts");

    let started = Instant::now();
    for i in 0..10 {
        recorder.record_call(call(id, at_ms(START_MS + i), 50, true));
    }
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "callers wait"
    );

    // Flush returns by its deadline while the write hangs.
    let deadline = Duration::from_millis(100);
    let started = Instant::now();
    let timeout = recorder
        .flush(deadline)
        .await
        .expect_err("nothing can be written yet");
    assert_within(started.elapsed(), deadline, "flush");
    assert!(timeout.waited >= deadline, "{timeout:?}");
    assert_eq!(timeout.pending, 10);

    // Each attempt ends at DynamoDB's operation limit; after two the batch is dropped, counted.
    recorder
        .flush(Duration::from_secs(5))
        .await
        .expect("the black-holed batch is given up within its attempts");
    let stats = recorder.stats();
    assert_eq!(
        (stats.written, stats.dropped_store_error, stats.pending()),
        (0, 10, 0),
        "{stats:?}"
    );
    assert_eq!(
        (stats.store_requests, stats.store_timeouts),
        (2, 2),
        "{stats:?}"
    );
    assert!(hostile.swallowed() >= 1, "the store was tried");

    // The store answers again: new metrics are written.
    hostile.forward_to(&moto::shared().endpoint());
    for i in 0..5 {
        recorder.record_call(call(id, at_ms(START_MS + 1_000 + i), 60, true));
    }
    let report = recorder
        .flush(Duration::from_secs(5))
        .await
        .expect("flush once the store answers");
    assert_eq!((report.written, report.dropped), (5, 0));
    let mut stored: Vec<u64> = moto::seed_query_pages(&direct, id)
        .await
        .concat()
        .iter()
        .map(|item| moto::n(item, "latency_ms"))
        .collect();
    stored.sort_unstable();
    assert_eq!(
        stored,
        vec![60; 5],
        "only the metrics recorded after recovery"
    );
}

#[tokio::test]
async fn recorder_store_timeout_bounds_a_store_without_limits_of_its_own() {
    let hostile = Hostile::black_hole().await;
    let store = Arc::new(hostile.store("never-answers", unbounded()));
    let limit = Duration::from_millis(100);
    let config = RecorderConfig {
        store_timeout: limit,
        ..quick_recorder()
    };
    let recorder = HealthRecorder::spawn(store, config);
    let id = leak("guarded-tts");
    for i in 0..3 {
        recorder.record_call(call(id, at_ms(START_MS + i), 50, true));
    }
    let started = Instant::now();
    recorder
        .flush(Duration::from_secs(5))
        .await
        .expect("the guard ends each attempt");
    assert_within(started.elapsed(), limit * 2, "two guarded attempts");
    let stats = recorder.stats();
    assert_eq!(
        (stats.store_timeouts, stats.dropped_store_error),
        (2, 3),
        "{stats:?}"
    );
}

#[tokio::test]
async fn sdk_calls_flush_and_reads_stay_bounded_while_dynamodb_is_a_black_hole() {
    let hostile = Hostile::black_hole().await;
    let store = Arc::new(hostile.store("never-answers", SHORT));
    let sim = integ::sim_builder().start().await.expect("simulator");
    let sdk = integ::sdk_builder_with_store(&sim, store)
        .recorder_config(quick_recorder())
        .build()
        .expect("sdk");

    for text in ["one", "two", "three"] {
        let started = Instant::now();
        sdk.openai()
            .unwrap()
            .speech(SpeechRequest::new(text))
            .await
            .expect("a metrics outage never fails a call");
        assert!(
            started.elapsed() < SHORT.operation,
            "the call waited for the store: {:?}",
            started.elapsed()
        );
    }

    let deadline = Duration::from_millis(100);
    let started = Instant::now();
    let timeout = sdk
        .flush(deadline)
        .await
        .expect_err("the store never answers");
    assert_within(started.elapsed(), deadline, "Sdk::flush");
    assert_eq!(timeout.pending, 3);

    let started = Instant::now();
    let error = sdk
        .sync_cooldowns()
        .await
        .expect_err("no cool-downs readable");
    assert_within(started.elapsed(), SHORT.operation, "Sdk::sync_cooldowns");
    assert!(error.is_timeout(), "{error}");
    assert_one_line(&error);

    let started = Instant::now();
    let error = sdk
        .health()
        .check_provider_health("openai-tts")
        .await
        .expect_err("no health readable");
    assert_within(started.elapsed(), SHORT.operation, "check_provider_health");
    assert!(
        matches!(&error, HealthError::Store(e) if e.is_timeout()),
        "{error}"
    );
    assert_one_line(&error);
}

/// A store read against the black hole, bounded by DynamoDB's own limits or the monitor's guard.
struct ReadCase {
    name: &'static str,
    store: DynamoTimeouts,
    guard: Option<Duration>,
    /// The limit the error names.
    limit: Duration,
}

#[tokio::test]
async fn store_reads_against_a_black_hole_fail_within_their_limit() {
    let cases = [
        ReadCase {
            name: "DynamoDB's operation timeout ends the read",
            store: SHORT,
            guard: None,
            limit: SHORT.operation,
        },
        ReadCase {
            name: "the monitor's guard ends a read the store would not",
            store: unbounded(),
            guard: Some(Duration::from_millis(150)),
            limit: Duration::from_millis(150),
        },
    ];
    let hostile = Hostile::black_hole().await;
    for case in cases {
        let store = Arc::new(hostile.store("never-answers", case.store));
        let mut monitor = HealthMonitor::new(store).with_health_id("acme-tts", "acme", RULES);
        if let Some(guard) = case.guard {
            monitor = monitor.with_store_timeout(guard);
        }

        let started = Instant::now();
        let error = monitor
            .sync_cooldowns("acme", |_, _| {})
            .await
            .expect_err(case.name);
        assert_within(started.elapsed(), case.limit, case.name);
        assert!(
            matches!(error, StoreError::Timeout { limit, .. } if limit == case.limit),
            "{}: {error:?}",
            case.name
        );
        assert_one_line(&error);

        let started = Instant::now();
        let error = monitor
            .check_provider_health("acme-tts")
            .await
            .expect_err(case.name);
        assert_within(started.elapsed(), case.limit, case.name);
        assert!(
            matches!(&error, HealthError::Store(StoreError::Timeout { limit, .. }) if *limit == case.limit),
            "{}: {error:?}",
            case.name
        );
        assert_one_line(&error);
    }
}

#[tokio::test]
async fn a_dynamodb_error_displays_on_one_line_without_the_sdk_debug_dump() {
    let hostile = Hostile::black_hole().await;
    hostile.forward_to(&moto::shared().endpoint());
    // The default limits: moto's first answer can take longer than SHORT allows.
    let store = Arc::new(hostile.store("no-such-table", DynamoTimeouts::default()));
    let monitor = HealthMonitor::new(store);
    let error = monitor
        .sync_cooldowns("acme", |_, _| {})
        .await
        .expect_err("the table does not exist");
    assert!(
        matches!(
            &error,
            StoreError::TableMissing {
                operation: "Query",
                table,
            } if table == "no-such-table"
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("run `cargo xtask table create --table no-such-table`"),
        "{error}"
    );
    assert_one_line(&error);
}
