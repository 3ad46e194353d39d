//! What the service logs: user tokens and provider keys by fingerprint only. In a test binary
//! of its own: the log subscriber is the thread's, and tracing's callsite cache is shared by
//! every test of a process.
#![cfg(feature = "sim")]

// The SDK tests' log capture, shared by path: the service has no test-support crate to put it in.
#[path = "../../sdk/tests/support/logs.rs"]
mod logs;
mod support;

use serde_json::json;

use logs::capture_logs;
use media_sdk_sim::Scripted;
use support::{IMAGE, OTHER_TOKEN, TTS, TestApi, image_request};

#[tokio::test(flavor = "current_thread")]
async fn logs_name_tokens_and_keys_by_fingerprint_only() {
    // One thread: the service's tasks log to this test's subscriber.
    let (logs, _guard) = capture_logs();

    let api = TestApi::start().await;
    api.sim
        .script("openai", vec![Scripted::InvalidKey, Scripted::Status(400)]);
    api.post(IMAGE, image_request()).await;
    api.post(TTS, json!({"text": "hi", "voice": "alloy"})).await;
    let wrong = api
        .send(
            reqwest::Client::new()
                .post(format!("{}{IMAGE}", api.base))
                .bearer_auth("a-wrong-token-that-must-not-be-logged")
                .json(&json!({})),
        )
        .await;
    assert_eq!(wrong.status, 401);

    let text = String::from_utf8(logs.bytes()).unwrap();
    assert!(
        text.contains("request failed"),
        "the failures were logged: {text}"
    );
    assert!(text.contains(&media_sdk::keys::fingerprint(support::TOKEN)));
    let mut secrets = vec![
        support::TOKEN.to_owned(),
        OTHER_TOKEN.to_owned(),
        "a-wrong-token-that-must-not-be-logged".to_owned(),
    ];
    secrets.extend(api.keys.iter().flat_map(|(_, keys)| keys.clone()));
    for secret in secrets {
        assert!(!text.contains(&secret), "{secret} logged");
    }
}
