//! No key ever appears in the request log, the counters, `Debug` output or the simulator's
//! tracing events. (Alone in its binary: the tracing subscriber is scoped to this test's thread,
//! and tracing caches callsite interest across threads.)

use crate::sim_support;

use media_sdk_sim::{RateLimit, Scripted};
use sim_support::*;

/// Every secret the tests use, including Kling's halves.
fn secrets() -> Vec<String> {
    let mut all: Vec<String> = OPENAI_KEYS
        .iter()
        .chain(&FAL_KEYS)
        .chain(&KLING_KEYS)
        .chain(&ELEVEN_KEYS)
        .map(|k| k.to_string())
        .collect();
    for pair in FAL_KEYS.iter().chain(&KLING_KEYS) {
        let (_, secret) = pair.split_once(':').unwrap();
        all.push(secret.to_owned());
    }
    all
}

fn assert_no_secret(text: &str, what: &str) {
    for secret in secrets() {
        assert!(!text.contains(&secret), "{what} contains a key: {text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_key_in_debug_output_or_tracing() {
    let (captured, _guard) = capture_logs();

    let builder = all_providers().rate_limit("openai", RateLimit::fixed(1));
    assert_no_secret(&format!("{builder:?}"), "SimBuilder Debug");
    let sim = builder.start().await.unwrap();
    let scripted = Scripted::Status(500).for_key(FAL_KEYS[0]);
    assert_no_secret(&format!("{scripted:?}"), "Scripted Debug");
    sim.script("fal", vec![scripted]);

    let openai = Caller::new(&sim, &OPENAI);
    let fal = Caller::new(&sim, &FAL);
    let kling = Caller::new(&sim, &KLING);
    for key in OPENAI_KEYS {
        openai.call(&SpeechRequest::new("a"), key).await;
        openai.call(&SpeechRequest::new("b"), key).await; // 429
    }
    openai
        .call(&SpeechRequest::new("c"), "sk-unknown-key-zzz")
        .await;
    let flux = FluxProRequest::new("x");
    fal.call(&flux, FAL_KEYS[0]).await;
    let submitted = fal.call(&flux, FAL_KEYS[1]).await.json();
    fal.fetch(
        reqwest::Method::GET,
        submitted["status_url"].as_str().unwrap(),
        FAL_KEYS[1],
    )
    .await;
    let video = TextToVideoRequest::new("x");
    let token = media_sdk_sim::kling_token(KLING_KEYS[0]);
    let response = kling
        .http
        .post(format!("{}/v1/videos/text2video", kling.base))
        .bearer_auth(&token)
        .json(&video)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let log = sim.requests();
    assert_eq!(log.len(), 9);
    let debug = format!("{log:?} {:?} {sim:?}", sim.stats());
    assert_no_secret(&debug, "log, stats and simulator Debug");
    assert!(!debug.contains(&token), "the Kling token is not recorded");
    assert!(!debug.contains("sk-unknown-key-zzz"), "nor a refused key");

    let traced = String::from_utf8(captured.bytes()).unwrap();
    assert!(
        traced.contains("simulated request"),
        "events were captured: {traced}"
    );
    assert_no_secret(&traced, "tracing output");
    assert!(!traced.contains(&token));
}
