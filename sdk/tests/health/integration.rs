//! An `Sdk` recording health into DynamoDB (moto on loopback) while calling the simulator
//! through the generated clients: the seed schema, provider selection, and a store outage.
#![cfg(feature = "dynamodb")]

use crate::integ;
use crate::moto;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use media_sdk::elevenlabs::ElevenTtsRequest;
use media_sdk::health::{DynamoStore, ProviderStatus, RecorderConfig};
use media_sdk::keys::fingerprint;
use media_sdk::openai::SpeechRequest;
use media_sdk_sim::Faults;

use integ::{ELEVEN_KEYS, FAL_KEYS, KLING_KEYS, OPENAI_KEYS, sdk_builder_with_store, sim_builder};
use moto::{Item, n, s};

async fn fresh_store(client: aws_sdk_dynamodb::Client) -> DynamoStore {
    let store = DynamoStore::new(client, moto::unique_table("integ"));
    assert!(store.create_table_if_missing().await.expect("create table"));
    store
}

/// The seed query, which must fit one page.
async fn seed_query(store: &DynamoStore, health_id: &str) -> Vec<Item> {
    let mut pages = moto::seed_query_pages(store, health_id).await;
    assert_eq!(pages.len(), 1, "one page expected");
    pages.remove(0)
}

fn text_of(value: &AttributeValue) -> String {
    format!("{value:?}")
}

#[tokio::test]
async fn every_generated_call_lands_in_dynamodb_in_the_seed_schema() {
    let server = moto::shared();
    let store = fresh_store(moto::client(&server.endpoint())).await;
    let sim = sim_builder().start().await.unwrap();
    let sdk = sdk_builder_with_store(&sim, Arc::new(store.clone()))
        .build()
        .unwrap();

    let started = SystemTime::now();
    for text in ["one", "two", "three"] {
        sdk.openai()
            .unwrap()
            .speech(SpeechRequest::new(text))
            .await
            .unwrap();
    }
    sdk.elevenlabs()
        .unwrap()
        .text_to_speech(ElevenTtsRequest::new("four"))
        .await
        .unwrap();
    let report = sdk.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(report.written, 4);
    let stats = sdk.recorder_stats();
    assert_eq!((stats.queued, stats.written), (4, 4));

    let items = seed_query(&store, "openai-tts").await;
    assert_eq!(items.len(), 3, "one item per call: {items:#?}");
    let sks: Vec<&str> = items.iter().map(|i| s(i, "sk")).collect();
    let mut newest_first = sks.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sks, newest_first, "newest first");
    let started_ms = started.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    for item in &items {
        assert_eq!(s(item, "pk"), "PROVIDER_HEALTH#openai-tts");
        assert!(s(item, "sk").starts_with("METRIC#"));
        assert!(n(item, "latency_ms") < 10_000);
        assert!(item["success"].as_bool().unwrap());
        let timestamp = humantime::parse_rfc3339(s(item, "timestamp")).expect("ISO-8601");
        assert!(timestamp >= started - Duration::from_millis(1));
        // The ttl is the health window (300 s) after the call, in epoch seconds.
        let ttl = n(item, "ttl");
        assert!(
            ttl >= started_ms / 1000 + 299 && ttl <= started_ms / 1000 + 400,
            "{ttl}"
        );
        assert_eq!(s(item, "key"), fingerprint(OPENAI_KEYS[0]));
    }
    assert_eq!(seed_query(&store, "elevenlabs-tts").await.len(), 1);

    // No key anywhere in the table.
    let scan = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(scan.items().len(), 4);
    for item in scan.items() {
        for value in item.values() {
            let text = text_of(value);
            for key in OPENAI_KEYS
                .iter()
                .chain(ELEVEN_KEYS)
                .chain(FAL_KEYS)
                .chain(KLING_KEYS)
            {
                assert!(!text.contains(key), "key in stored item: {item:?}");
            }
        }
    }
}

#[tokio::test]
async fn fastest_provider_follows_real_latency_and_failures() {
    let server = moto::shared();
    let store = fresh_store(moto::client(&server.endpoint())).await;
    let sim = sim_builder()
        .faults(
            "openai",
            Faults {
                latency: Duration::from_millis(120),
                ..Faults::none()
            },
        )
        .start()
        .await
        .unwrap();
    let sdk = sdk_builder_with_store(&sim, Arc::new(store))
        .build()
        .unwrap();
    for _ in 0..2 {
        sdk.openai()
            .unwrap()
            .speech(SpeechRequest::new("hi"))
            .await
            .unwrap();
        sdk.elevenlabs()
            .unwrap()
            .text_to_speech(ElevenTtsRequest::new("hi"))
            .await
            .unwrap();
    }
    sdk.flush(Duration::from_secs(10)).await.unwrap();
    let health = sdk.health();
    let openai = health.check_provider_health("openai-tts").await.unwrap();
    let eleven = health
        .check_provider_health("elevenlabs-tts")
        .await
        .unwrap();
    assert_eq!((openai.requests, eleven.requests), (2, 2));
    assert!(openai.avg_latency_ms.unwrap() >= 120.0, "{openai:?}");
    assert!(eleven.avg_latency_ms.unwrap() < 120.0, "{eleven:?}");
    for candidates in [
        ["openai-tts", "elevenlabs-tts"],
        ["elevenlabs-tts", "openai-tts"],
    ] {
        assert_eq!(
            health.fastest_provider(&candidates).await.as_deref(),
            Some("elevenlabs-tts"),
            "{candidates:?}"
        );
    }

    // The fast provider starts failing: the slow but healthy one wins.
    sim.revoke_key("elevenlabs", ELEVEN_KEYS[0]);
    for _ in 0..3 {
        sdk.elevenlabs()
            .unwrap()
            .text_to_speech(ElevenTtsRequest::new("hi"))
            .await
            .unwrap_err();
    }
    sdk.flush(Duration::from_secs(10)).await.unwrap();
    let eleven = health
        .check_provider_health("elevenlabs-tts")
        .await
        .unwrap();
    assert_eq!(eleven.status, ProviderStatus::Down, "{eleven:?}");
    assert_eq!(
        health
            .fastest_provider(&["elevenlabs-tts", "openai-tts"])
            .await
            .as_deref(),
        Some("openai-tts")
    );
}

#[tokio::test]
async fn a_store_outage_never_fails_or_blocks_a_call() {
    let mut server = moto::MotoServer::start();
    let store = fresh_store(moto::client_without_retries(&server.endpoint())).await;
    let sim = sim_builder().start().await.unwrap();
    let config = RecorderConfig {
        max_store_attempts: 2,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(20),
        ..RecorderConfig::default()
    };
    let sdk = sdk_builder_with_store(&sim, Arc::new(store.clone()))
        .recorder_config(config)
        .build()
        .unwrap();
    sdk.openai()
        .unwrap()
        .speech(SpeechRequest::new("before"))
        .await
        .unwrap();
    assert_eq!(sdk.flush(Duration::from_secs(10)).await.unwrap().written, 1);

    server.stop();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        sdk.openai()
            .unwrap()
            .speech(SpeechRequest::new(format!("during {i}")))
            .await
            .expect("a call succeeds while the store is down");
        slowest = slowest.max(started.elapsed());
    }
    // Each call is a loopback round trip; a call waiting for the store would take at least the
    // recorder's retries.
    assert!(slowest < Duration::from_secs(1), "slowest call {slowest:?}");
    let report = sdk.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!((report.written, report.dropped), (0, 20));
    let stats = sdk.recorder_stats();
    assert_eq!(
        (stats.queued, stats.written, stats.dropped_store_error),
        (21, 1, 20)
    );
    assert_eq!(sim.stats().key("openai", OPENAI_KEYS[0]).ok, 21);
}
