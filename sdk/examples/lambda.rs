//! The shape of an AWS Lambda handler using the SDK: one `Sdk` shared by every invocation of
//! the execution environment, and `flush()` before each invocation returns (a frozen Lambda
//! runs no background task, so metrics still queued would wait for the next thaw, or be lost).
//!
//! In Lambda, configure with environment variables only: `OPENAI_API_KEYS`,
//! `ELEVENLABS_API_KEYS`, ..., `CONFIG_TABLE` (health metrics and shared key cool-downs in
//! DynamoDB) and `MEDIA_SDK_EMF=1` (CloudWatch metrics from the log lines). The handler below
//! is plain async Rust; wrap it with the `lambda_runtime` crate's `service_fn`.
//!
//! What to create first (the README's "Deploying" section has every command):
//! - the table `CONFIG_TABLE` names, which the SDK never creates: `cargo xtask table create
//!   --table <name>`, then `cargo xtask table check --table <name>` (or deploy
//!   `cargo xtask table cloudformation`);
//! - on the function's role, `dynamodb:BatchWriteItem`, `dynamodb:PutItem` and
//!   `dynamodb:Query` on that table ([`RUNTIME_ACTIONS`]), besides the basic execution role
//!   for the logs;
//! - optionally the alarms: `cargo xtask alarms --out alarms.json`.
//!
//! A missing table or permission never fails a request: the SDK logs one WARN naming the table
//! and the fix (then at most one a minute) and drops the metrics.
//!
//! Here the "invocations" run locally against the simulator:
//! `cargo run -p media-sdk --features sim --example lambda`.

use std::time::Duration;

use media_sdk::Sdk;
use media_sdk::health::table::RUNTIME_ACTIONS;
use media_sdk::media::{ImageInput, MediaError, TtsInput};
use media_sdk_sim::{JobPace, Simulator};
use serde_json::{Value, json};

/// Created once per execution environment (cold start), reused by every invocation.
static SDK: tokio::sync::OnceCell<Sdk> = tokio::sync::OnceCell::const_new();

/// How long an invocation may spend delivering health metrics before it returns.
const FLUSH_BUDGET: Duration = Duration::from_millis(500);

/// Keys from Secrets Manager are read before the first call (`from_env_loaded`).
async fn sdk() -> &'static Sdk {
    SDK.get_or_init(|| async { Sdk::from_env_loaded().await.expect("SDK configuration") })
        .await
}

/// One invocation: `{"kind": "tts", "text": ..., "voice": ..., "speed": ...}` or
/// `{"kind": "image", "prompt": ..., "model": ..., "size": ..., "quality": ...}` (the media
/// API's JSON shapes, plus `kind`).
async fn handler(mut event: Value) -> Result<Value, MediaError> {
    let sdk = sdk().await;
    let kind = event
        .as_object_mut()
        .and_then(|fields| fields.remove("kind"))
        .unwrap_or_default();
    let invalid = |e: serde_json::Error| MediaError::Invalid {
        message: e.to_string(),
    };
    let result = match kind.as_str() {
        Some("tts") => {
            let input: TtsInput = serde_json::from_value(event).map_err(invalid)?;
            sdk.media().tts(&input).await.map(|speech| {
                json!({
                    "provider": speech.provider,
                    "content_type": speech.audio.content_type,
                    "bytes": speech.audio.bytes.len(),
                    "credits_used": speech.credits_used,
                })
            })
        }
        _ => {
            let input: ImageInput = serde_json::from_value(event).map_err(invalid)?;
            sdk.media()
                .image(&input)
                .await
                .map(|image| serde_json::to_value(image).unwrap_or(Value::Null))
        }
    };
    // Deliver this invocation's metrics before returning, success or not.
    if let Err(timeout) = sdk.flush(FLUSH_BUDGET).await {
        eprintln!("health metrics still pending: {timeout}");
    }
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Local stand-in for the providers: point the environment-driven Sdk at the simulator.
    let mut sim = Simulator::builder().job_pace("fal", JobPace::immediate());
    for (spec, routes) in media_sdk_sim::providers::all() {
        sim = sim.provider(spec, routes);
    }
    let sim = sim.start().await?;
    let mut builder = Sdk::builder()
        .keys("openai", ["sk-lambda"])
        .keys("fal", ["fal-lambda:secret"])
        .keys("kling", ["kling-access:kling-secret"])
        .keys("elevenlabs", ["xi-lambda"]);
    for (provider, url) in sim.base_urls() {
        builder = builder.base_url(provider, url);
    }
    // In Lambda this is `Sdk::from_env_loaded()` inside `sdk()`; here it is preset for the
    // simulator.
    let _ = SDK.set(builder.build()?);

    let events = [
        json!({"kind": "tts", "text": "Hello from Lambda", "voice": "nova"}),
        json!({"kind": "image", "prompt": "A lighthouse", "model": "dalle-3", "size": "1792x1024", "quality": "hd"}),
        json!({"kind": "image", "prompt": "A lighthouse", "model": "flux-pro", "size": "square_hd"}),
        json!({"kind": "image", "prompt": "A lighthouse", "model": "midjourney"}),
    ];
    for event in events {
        match handler(event.clone()).await {
            Ok(answer) => println!("{event} -> {answer}"),
            Err(error) => println!("{event} -> error: {error}"),
        }
    }
    println!("recorder: {:?}", sdk().await.recorder_stats());
    println!(
        "in AWS: the role needs {} on the CONFIG_TABLE table",
        RUNTIME_ACTIONS.join(", ")
    );
    sim.shutdown().await;
    Ok(())
}
