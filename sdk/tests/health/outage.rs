//! The recorder during a DynamoDB outage: callers never wait, drops are counted, memory stays
//! bounded, and flush reports what it could not deliver.
#![cfg(feature = "dynamodb")]

use crate::cases;
use crate::moto;

use std::sync::Arc;
use std::time::{Duration, Instant};

use media_sdk::health::{DynamoStore, HealthRecorder, MAX_BATCH, RecorderConfig};

use cases::{START_MS, at_ms, call, leak};

#[tokio::test]
async fn killing_the_server_under_load_never_blocks_callers_and_counts_every_drop() {
    let mut server = moto::MotoServer::start();
    let table = moto::unique_table("outage");
    let store = Arc::new(DynamoStore::new(
        moto::client_without_retries(&server.endpoint()),
        table,
    ));
    store.create_table_if_missing().await.expect("create table");
    let capacity = 200;
    let config = RecorderConfig {
        capacity,
        max_store_attempts: 3,
        retry_base_delay: Duration::from_millis(1),
        retry_max_delay: Duration::from_millis(5),
        ..RecorderConfig::default()
    };
    let recorder = HealthRecorder::spawn(store, config);
    let id = leak("outage-tts");
    for i in 0..100 {
        recorder.record_call(call(id, at_ms(START_MS + i), 50, true));
    }
    let healthy = recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush while up");
    assert_eq!(healthy.written, 100);

    server.stop();

    // 5000 calls while the store is gone. The test runtime is single-threaded, so the
    // background task cannot drain between them: exactly `capacity` fit, the rest are dropped.
    let mut slowest = Duration::ZERO;
    for i in 0..5_000 {
        let started = Instant::now();
        recorder.record_call(call(id, at_ms(START_MS + 1_000 + i), 50, i % 2 == 0));
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(50),
        "record_call took {slowest:?}"
    );
    let stats = recorder.stats();
    assert_eq!(stats.queued, 100 + capacity as u64);
    assert_eq!(stats.dropped_full, 5_000 - capacity as u64);
    assert!(
        stats.pending() <= (capacity + MAX_BATCH) as u64,
        "memory bounded by the queue: {stats:?}"
    );

    // Flush gives every queued record its bounded retries, then drops and counts it.
    let flushed = recorder
        .flush(Duration::from_secs(60))
        .await
        .expect("flush during outage");
    assert_eq!((flushed.written, flushed.dropped), (0, capacity as u64));
    let stats = recorder.stats();
    assert_eq!(stats.dropped_store_error, capacity as u64);
    assert_eq!(stats.written, 100);
    assert_eq!(stats.pending(), 0);
    let batches_in_outage = stats.batches - 4;
    assert_eq!(batches_in_outage, (capacity / MAX_BATCH) as u64);
    assert_eq!(
        stats.store_requests,
        4 + batches_in_outage * 3,
        "3 attempts per failed batch"
    );

    // Still accepting (and not blocking) after the outage.
    recorder.record_call(call(id, at_ms(START_MS + 9_999), 50, true));
    assert_eq!(recorder.stats().queued, 100 + capacity as u64 + 1);
}

#[tokio::test]
async fn flush_reports_what_is_left_when_the_store_hangs() {
    // A "DynamoDB" that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let (hold_tx, mut hold_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            // Keep the socket open, unanswered.
            let _ = hold_tx.send(socket);
        }
    });
    let store = Arc::new(DynamoStore::new(
        moto::client_without_retries(&endpoint),
        "hung",
    ));
    let recorder = HealthRecorder::spawn(store, RecorderConfig::default());
    let id = leak("hung-tts");
    for i in 0..30 {
        recorder.record_call(call(id, at_ms(START_MS + i), 50, true));
    }
    let timeout = recorder
        .flush(Duration::from_millis(300))
        .await
        .expect_err("nothing can be delivered");
    assert_eq!(timeout.pending, 30);
    assert!(timeout.waited >= Duration::from_millis(300));
    assert!(
        hold_rx.recv().await.is_some(),
        "the recorder did try to write"
    );
    // The caller still is not blocked.
    recorder.record_call(call(id, at_ms(START_MS + 99), 50, true));
    assert_eq!(recorder.stats().queued, 31);
}
