//! What the service logs: user tokens and provider keys by fingerprint only. In a test binary
//! of its own: the log subscriber is the thread's, and tracing's callsite cache is shared by
//! every test of a process.
#![cfg(feature = "sim")]

mod support;

use serde_json::json;

use media_sdk_sim::Scripted;
use support::{OTHER_TOKEN, TestApi};

const TTS: &str = "/api/v1/media/tts";
const IMAGE: &str = "/api/v1/media/image";

/// A `Write` collecting log lines for one test.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_name_tokens_and_keys_by_fingerprint_only() {
    // One thread: the service's tasks log to this test's subscriber.
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let api = TestApi::start().await;
    api.sim
        .script("openai", vec![Scripted::InvalidKey, Scripted::Status(400)]);
    api.post(IMAGE, json!({"prompt": "x", "model": "dall-e-3"}))
        .await;
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

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
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
