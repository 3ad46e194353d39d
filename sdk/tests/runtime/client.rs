//! The call path without a provider: validation, pool states, connection failures, telemetry,
//! builder errors. Provider behaviour over HTTP is covered against the simulator.

use crate::runtime_common;

use std::sync::Arc;
use std::time::Duration;

use media_sdk::Error;
use media_sdk::Sdk;
use media_sdk::openai::SpeechRequest;
use media_sdk::spec::{ProviderSpec, RetryPolicy};
use runtime_common::{OPENAI, RETRY, Recorded, capture_logs, closed_port_url};
use tokio::time::Instant;

/// A provider like OpenAI whose backoff is a millisecond, for tests that really retry.
static FAST: ProviderSpec = ProviderSpec {
    retry: RetryPolicy {
        base_delay_ms: 1,
        max_delay_ms: 2,
        ..RETRY
    },
    ..OPENAI
};

fn speak() -> SpeechRequest {
    SpeechRequest::new("Hello")
}

fn sdk(spec: &'static ProviderSpec, keys: &[&str], telemetry: Arc<Recorded>) -> Sdk {
    Sdk::builder()
        .providers(&[spec])
        .keys(spec.id, keys.iter().copied())
        .base_url(spec.id, closed_port_url())
        .telemetry(telemetry)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_invalid_request_fails_before_any_network_call() {
    let telemetry = Arc::new(Recorded::default());
    let sdk = sdk(&OPENAI, &[], telemetry.clone());
    let error = sdk
        .provider("openai")
        .unwrap()
        .call(SpeechRequest::new(""))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Invalid {
                provider: "openai",
                endpoint: "speech",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "openai/speech: invalid `input`: must not be empty"
    );
    assert!(
        telemetry.calls.lock().unwrap().is_empty(),
        "says nothing about the provider"
    );
}

#[tokio::test]
async fn missing_keys_fail_at_the_first_call_unless_strict() {
    let telemetry = Arc::new(Recorded::default());
    let sdk = sdk(&OPENAI, &[], telemetry.clone());
    let error = sdk
        .provider("openai")
        .unwrap()
        .call(speak())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no keys configured for openai: set OPENAI_API_KEYS or OPENAI_API_KEY"
    );
    assert!(telemetry.calls.lock().unwrap().is_empty());

    let strict = Sdk::builder()
        .providers(&[&OPENAI])
        .keys("openai", Vec::<String>::new())
        .strict(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            strict,
            Error::NoKeys {
                provider: "openai",
                ..
            }
        ),
        "{strict}"
    );
}

#[test]
fn builder_rejects_unknown_providers_and_bad_base_urls() {
    let unknown = Sdk::builder()
        .providers(&[&OPENAI])
        .keys("nope", ["k"])
        .build()
        .unwrap_err();
    assert!(
        matches!(&unknown, Error::Config(m) if m.contains("unknown provider `nope`")),
        "{unknown}"
    );
    let unknown = Sdk::builder()
        .providers(&[])
        .base_url("openai", "http://x")
        .build()
        .unwrap_err();
    assert!(matches!(unknown, Error::Config(_)));
    for bad in ["not a url", "ftp://example.com", "http://"] {
        // Strict: refused at start-up.
        let error = Sdk::builder()
            .providers(&[&OPENAI])
            .keys("openai", ["sk-1"])
            .base_url("openai", bad)
            .strict(true)
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, Error::Config(m) if m.contains("base URL") && m.contains("SdkBuilder::base_url")),
            "{bad}: {error}"
        );
        // Lenient: the provider is built unusable; its calls say why.
        let sdk = Sdk::builder()
            .providers(&[&OPENAI])
            .keys("openai", ["sk-1"])
            .base_url("openai", bad)
            .build()
            .unwrap();
        let reason = sdk.provider("openai").unwrap().unusable_reason().unwrap();
        assert!(reason.contains("is not usable"), "{bad}: {reason}");
    }
    let sdk = Sdk::builder()
        .providers(&[&OPENAI])
        .keys("openai", ["sk-1"])
        .base_url("openai", "http://127.0.0.1:8080/prefix/")
        .build()
        .unwrap();
    assert_eq!(
        sdk.provider("openai").unwrap().base_url(),
        "http://127.0.0.1:8080/prefix"
    );
    assert!(sdk.provider("fal").is_none());
}

#[tokio::test(start_paused = true)]
async fn every_key_cooling_down_beyond_max_wait_fails_fast_without_a_request() {
    let (logs, _guard) = capture_logs();
    let telemetry = Arc::new(Recorded::default());
    let sdk = sdk(&OPENAI, &["sk-a", "sk-b"], telemetry.clone());
    let client = sdk.provider("openai").unwrap();
    let now = Instant::now();
    for fp in client.pool().fingerprints() {
        client.pool().cool_down(&fp, now + Duration::from_secs(30));
    }
    let error = client.call(speak()).await.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { provider: "openai", retry_after } if retry_after == Duration::from_secs(30)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("rate limited, no alternate keys")
    );
    assert_eq!(Instant::now(), now, "did not wait");
    assert!(logs.text().contains("rate limited, no alternate keys"));
    // Shed before any attempt: counted, logged, not a provider failure in health.
    assert!(telemetry.calls.lock().unwrap().is_empty());
    assert_eq!(client.shed_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_key_back_within_max_wait_is_waited_for() {
    let telemetry = Arc::new(Recorded::default());
    let sdk = sdk(&FAST, &["sk-a"], telemetry.clone());
    let client = sdk.provider("openai").unwrap();
    let start = Instant::now();
    let fp = &client.pool().fingerprints()[0];
    client
        .pool()
        .cool_down(fp, start + Duration::from_millis(1500));
    let error = client.call(speak()).await.unwrap_err();
    assert!(
        Instant::now() >= start + Duration::from_millis(1500),
        "waited for the key"
    );
    // Nothing listens at the base URL: once the key is back, the request is attempted and fails.
    assert!(
        matches!(error, Error::RetriesExhausted { attempts: 4, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn every_key_quarantined_reports_keys_exhausted() {
    let telemetry = Arc::new(Recorded::default());
    let sdk = sdk(&OPENAI, &["sk-a", "sk-b"], telemetry.clone());
    let client = sdk.provider("openai").unwrap();
    for fp in client.pool().fingerprints() {
        client
            .pool()
            .quarantine(&fp, "HTTP 429 (insufficient_quota): quota");
    }
    let error = client.call(speak()).await.unwrap_err();
    assert!(
        matches!(&error, Error::KeysExhausted { provider: "openai", reason } if reason.contains("insufficient_quota")),
        "{error}"
    );
    assert_eq!(
        telemetry.calls.lock().unwrap()[0].error_class,
        Some("keys_exhausted")
    );
}

#[tokio::test]
async fn connection_failures_are_retried_up_to_max_attempts() {
    let (logs, _guard) = capture_logs();
    let telemetry = Arc::new(Recorded::default());
    let sdk = sdk(
        &FAST,
        &["sk-conn-SECRET-1", "sk-conn-SECRET-2"],
        telemetry.clone(),
    );
    let client = sdk.provider("openai").unwrap();
    let error = client.call(speak()).await.unwrap_err();
    let Error::RetriesExhausted { attempts, last, .. } = &error else {
        panic!("expected RetriesExhausted, got {error}");
    };
    assert_eq!(*attempts, 4);
    assert!(last.contains("connect"), "{last}");
    let calls = telemetry.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    let metric = &calls[0];
    assert_eq!(
        (metric.success, metric.attempts, metric.status),
        (false, 4, None)
    );
    assert_eq!(metric.error_class, Some("retries_exhausted"));
    assert!(
        client
            .pool()
            .fingerprints()
            .contains(metric.key_fingerprint.as_ref().unwrap())
    );
    assert!(client.pool().snapshot().iter().all(|k| k.in_flight == 0));
    assert_eq!(logs.count("transient failure, backing off"), 3);
    let text = logs.text() + &format!("{error:?} {metric:?}");
    assert!(
        !text.contains("SECRET"),
        "no key in logs, errors or metrics"
    );
}

#[test]
fn sdk_is_a_cheap_shared_handle() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Sdk>();
    shareable::<media_sdk::ProviderClient>();
    shareable::<media_sdk::keys::KeyPool>();

    let sdk = Sdk::builder()
        .providers(&[&OPENAI])
        .keys("openai", ["sk-shared-SECRET"])
        .build()
        .unwrap();
    let clone = sdk.clone();
    let fp = sdk.provider("openai").unwrap().pool().fingerprints()[0].clone();
    clone
        .provider("openai")
        .unwrap()
        .pool()
        .quarantine(&fp, "test");
    assert!(
        sdk.provider("openai").unwrap().pool().select().is_err(),
        "clones share pools"
    );
    let debug = format!("{sdk:?}");
    assert!(debug.contains(&fp) && !debug.contains("SECRET"), "{debug}");
}
