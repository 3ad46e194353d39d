//! The service on loopback over a real `Sdk` on the simulator, and a client that checks every
//! answer for secrets.

#![allow(dead_code)] // each test file uses its own part

use std::sync::Arc;

use reqwest::header::HeaderMap;
use serde_json::Value;

use media_sdk::spec::ProviderSpec;
use media_sdk_cli::demo::demo_specs;
use media_sdk_service::sim::{SimSdk, start_with};
use media_sdk_service::{ServiceConfig, router, serve};
use media_sdk_sim::{SimBuilder, Simulator};

/// The token the tests authenticate with.
pub const TOKEN: &str = "user-token-alpha-0123456789";
/// A second configured token (another user).
pub const OTHER_TOKEN: &str = "user-token-beta-9876543210";

/// The text-to-speech route.
pub const TTS: &str = "/api/v1/media/tts";
/// The image route.
pub const IMAGE: &str = "/api/v1/media/image";

/// The smallest valid image request: prompt "x", model `dall-e-3`.
pub fn image_request() -> Value {
    serde_json::json!({"prompt": "x", "model": "dall-e-3"})
}

/// The demo's specs with `max_wait_ms` cut to `max_wait_ms`, so a call finding every key
/// cooling down fails fast instead of waiting.
pub fn specs_with_max_wait(max_wait_ms: u64) -> &'static [&'static ProviderSpec] {
    let specs: Vec<&'static ProviderSpec> = demo_specs()
        .iter()
        .map(|spec| {
            let mut fast = **spec;
            fast.retry.max_wait_ms = max_wait_ms;
            &*Box::leak(Box::new(fast))
        })
        .collect();
    Box::leak(specs.into_boxed_slice())
}

/// The configuration the tests use unless they say otherwise.
pub fn config() -> ServiceConfig {
    ServiceConfig::new([TOKEN, OTHER_TOKEN]).expect("tokens")
}

/// A running service.
pub struct TestApi {
    pub base: String,
    pub sim: Simulator,
    /// Every secret that must never appear in an answer: provider keys (and their halves),
    /// user tokens.
    secrets: Vec<String>,
    /// Each provider's made-up keys.
    pub keys: Vec<(&'static str, Vec<String>)>,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// Asserts the status is `status`, showing the body when it is not.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of a JSON error answer, after checking its shape.
    pub fn error_code(&self) -> String {
        let body = self.json();
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("not an error: {body}"));
        assert_eq!(error.len(), 2, "{body}");
        assert!(error["message"].is_string(), "{body}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{body}"
        );
        error["code"].as_str().expect("code").to_owned()
    }
}

impl TestApi {
    pub async fn start() -> Self {
        Self::start_with(demo_specs(), |sim| sim, config()).await
    }

    pub async fn start_with(
        specs: &'static [&'static ProviderSpec],
        configure: impl FnOnce(SimBuilder) -> SimBuilder,
        config: ServiceConfig,
    ) -> Self {
        let SimSdk { sim, sdk, keys } = start_with(specs, configure).await.expect("sim starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(Arc::new(sdk), &config);
        tokio::spawn(serve(listener, app, async {
            let _ = rx.await;
        }));
        let mut secrets = vec![TOKEN.to_owned(), OTHER_TOKEN.to_owned()];
        for pool in &keys {
            for key in &pool.keys {
                secrets.push(key.clone());
                secrets.extend(
                    key.split(':')
                        .filter(|half| half.len() >= 8)
                        .map(str::to_owned),
                );
            }
        }
        Self {
            base,
            sim,
            secrets,
            keys: keys.iter().map(|p| (p.provider, p.keys.clone())).collect(),
            client: reqwest::Client::new(),
            shutdown: Some(tx),
        }
    }

    pub fn keys_of(&self, provider: &str) -> Vec<String> {
        self.keys
            .iter()
            .find(|(id, _)| *id == provider)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_default()
    }

    /// A request to `path` with the test token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::POST, path).json(&body))
            .await
    }

    /// Posts `body` as it is, declared as `content_type`, with the test token.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// Sends `request` and reads the answer whole, failing when it holds a secret.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the service answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body").to_vec();
        self.assert_no_secret(&headers, &body);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn assert_no_secret(&self, headers: &HeaderMap, body: &[u8]) {
        let text = String::from_utf8_lossy(body);
        for secret in &self.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in the body: {text}"
            );
            for (name, value) in headers {
                let value = String::from_utf8_lossy(value.as_bytes());
                assert!(
                    !value.contains(secret.as_str()),
                    "a secret in header {name}"
                );
            }
        }
    }
}
