//! The Lambda entry in-process: API Gateway events (REST v1 and HTTP API v2), built here as
//! JSON, turned into requests by `lambda_http` as its runtime does, handled by the same router
//! over a real `Sdk` on the simulator.
#![cfg(all(feature = "lambda", feature = "sim"))]

mod support;

use std::sync::Arc;

use axum::body::to_bytes;
use serde_json::{Value, json};

use media_sdk_cli::demo::demo_specs;
use media_sdk_service::sim::{SimSdk, start_with};
use media_sdk_service::{lambda, router};
use support::{IMAGE, TOKEN, TTS, config, image_request};

/// An event's headers: JSON content, the API's host and, given a token, its bearer
/// authorization; `[content_type, host, authorization]` name them as the event format spells them.
fn event_headers([content_type, host, authorization]: [&str; 3], token: Option<&str>) -> Value {
    let mut headers =
        json!({content_type: "application/json", host: "abc.execute-api.eu-west-1.amazonaws.com"});
    if let Some(token) = token {
        headers[authorization] = json!(format!("Bearer {token}"));
    }
    headers
}

/// A REST API (v1) proxy event.
fn rest_v1_event(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let headers = event_headers(["Content-Type", "Host", "Authorization"], token);
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "test"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "abc",
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1_700_000_000_000_i64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// An HTTP API (v2) event.
fn http_v2_event(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let headers = event_headers(["content-type", "host", "authorization"], token);
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2024:13:40:52 +0000",
            "timeEpoch": 1_710_078_052_000_i64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

type Event = fn(&str, &str, Option<&str>, Option<Value>) -> Value;
const EVENTS: [(&str, Event); 2] = [("REST v1", rest_v1_event), ("HTTP API v2", http_v2_event)];

/// Both answer modes of the Lambda entry.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Streaming,
    Buffered,
}

/// Invokes `app` with `event` in both modes; both must answer the same. Every SDK metric of
/// the invocation is written when it ends.
async fn invoke(app: &Lambda, event: Value) -> (u16, http::HeaderMap, Vec<u8>) {
    let mut answers = Vec::new();
    for mode in [Mode::Streaming, Mode::Buffered] {
        let request =
            lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
        let response = match mode {
            Mode::Streaming => app.app.streaming(request).await,
            Mode::Buffered => app.app.buffered(request).await,
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body")
            .to_vec();
        let stats = app.sdk.recorder_stats();
        assert_eq!(
            stats.written, stats.queued,
            "{mode:?}: metrics not flushed: {stats:?}"
        );
        answers.push((status, headers, body));
    }
    let buffered = answers.pop().unwrap();
    let streamed = answers.pop().unwrap();
    assert_eq!(streamed.0, buffered.0, "status differs between modes");
    assert_eq!(
        streamed.1.get("content-type"),
        buffered.1.get("content-type")
    );
    buffered
}

struct Lambda {
    app: lambda::LambdaApp,
    sdk: Arc<media_sdk::Sdk>,
    sim: media_sdk_sim::Simulator,
}

async fn app() -> Lambda {
    let SimSdk { sim, sdk, .. } = start_with(demo_specs(), |sim| sim).await.expect("sim");
    let sdk = Arc::new(sdk);
    let app = lambda::LambdaApp::new(router(sdk.clone(), &config()), sdk.clone());
    Lambda { app, sdk, sim }
}

#[tokio::test]
async fn image_through_api_gateway_events() {
    let app = app().await;
    for (kind, event) in EVENTS {
        let body = json!({"prompt": "A lighthouse", "model": "dall-e-3", "quality": "hd"});
        let (status, headers, bytes) =
            invoke(&app, event("POST", IMAGE, Some(TOKEN), Some(body))).await;
        assert_eq!(status, 200, "{kind}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["content-type"], "application/json", "{kind}");
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        let url = answer["images"][0]["url"].as_str().expect("url").to_owned();
        assert_eq!(
            answer,
            json!({"images": [{"url": url}], "model": "dall-e-3", "credits_used": 20}),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn unauthenticated_events_are_401_and_health_is_open() {
    let app = app().await;
    for (kind, event) in EVENTS {
        let body = image_request();
        let (status, headers, bytes) = invoke(&app, event("POST", IMAGE, None, Some(body))).await;
        assert_eq!(status, 401, "{kind}");
        assert_eq!(headers["www-authenticate"], "Bearer", "{kind}");
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["error"]["code"], "unauthorized", "{kind}");
        let (status, _, bytes) = invoke(&app, event("GET", "/healthz", None, None)).await;
        assert_eq!(status, 200, "{kind}");
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).unwrap(),
            json!({"status": "ok"})
        );
    }
    assert!(app.sim.requests().is_empty());
}

#[tokio::test]
async fn tts_through_api_gateway_events_is_audio() {
    let app = app().await;
    for (kind, event) in EVENTS {
        let body = json!({"text": "Hello there", "voice": "alloy"});
        let (status, headers, bytes) =
            invoke(&app, event("POST", TTS, Some(TOKEN), Some(body))).await;
        assert_eq!(status, 200, "{kind}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["content-type"], "audio/mpeg", "{kind}");
        assert_eq!(headers["x-credits-used"], "1", "{kind}");
        assert!(!bytes.is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn the_invocation_deadline_bounds_a_request() {
    use lambda_http::RequestExt;
    use media_sdk_sim::Scripted;

    let app = app().await;
    app.sim.script("openai", vec![Scripted::Hang]);
    let body = image_request();
    let event = http_v2_event("POST", IMAGE, Some(TOKEN), Some(body));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // 1.5 s left in the invocation; the configured deadline (25 s) is far longer.
    let mut context = lambda_http::Context::default();
    context.deadline = now_ms + 1500;
    let request = lambda_http::request::from_str(&event.to_string())
        .unwrap()
        .with_lambda_context(context);
    let started = std::time::Instant::now();
    let response = app.app.buffered(request).await;
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "answered after {:?}, not by the invocation's deadline",
        started.elapsed()
    );
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(answer["error"]["code"], "deadline_exceeded");
}
