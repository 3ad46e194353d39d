//! `store_from_env` picks DynamoDB when `CONFIG_TABLE` is set and reaches it through the
//! standard AWS configuration chain, honouring `AWS_ENDPOINT_URL_DYNAMODB`.
//!
//! This binary holds a single test because it changes the process environment; it does so
//! before starting any runtime or thread.
#![cfg(feature = "dynamodb")]

#[path = "support/health_cases.rs"]
mod cases;
#[path = "support/moto.rs"]
mod moto;

use std::time::{Duration, SystemTime};

use media_sdk::health::{
    DynamoStore, HealthItem, HealthStore, MetricItem, check_provider_health, store_from_env,
};

#[test]
fn store_from_env_follows_config_table_and_the_aws_chain() {
    let server = moto::MotoServer::start();
    let table = moto::unique_table("from-env");
    // SAFETY: single-threaded at this point: this binary has one test, and no runtime or
    // thread has been started yet.
    unsafe {
        std::env::remove_var("AWS_ENDPOINT_URL");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint());
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/media-sdk-test/config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/media-sdk-test/credentials",
        );
        std::env::set_var("CONFIG_TABLE", &table);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let explicit = DynamoStore::new(moto::client(&server.endpoint()), &table);
        explicit
            .create_table_if_missing()
            .await
            .expect("create table");

        let store = store_from_env().await.expect("store from env");
        assert!(format!("{store:?}").starts_with("DynamoStore"), "{store:?}");
        let id = cases::leak("env-tts");
        let now = SystemTime::now();
        let item = HealthItem::Metric(MetricItem::from_call(
            &cases::call(id, now, 77, true),
            "000000000001".into(),
            Duration::from_secs(300),
        ));
        store
            .write_batch(&[item])
            .await
            .expect("write through the env-configured store");
        // The item is on the moto server: read it with the explicitly configured client.
        let report = check_provider_health(
            &explicit,
            &media_sdk::health::SystemClock,
            id,
            "acme",
            &cases::RULES,
        )
        .await
        .expect("report");
        assert_eq!((report.requests, report.avg_latency_ms), (1, Some(77.0)));
    });

    // SAFETY: as above; the runtime is idle and this test is the only one.
    unsafe {
        std::env::remove_var("CONFIG_TABLE");
    }
    runtime.block_on(async {
        let store = store_from_env().await.expect("memory store");
        assert!(format!("{store:?}").starts_with("MemoryStore"), "{store:?}");
    });
}
