//! Per-key token buckets and each provider's 429 shape and headers.

use crate::sim_support;

use std::time::Duration;

use media_sdk_sim::{ManualClock, Outcome, RateLimit, Scripted};
use serde_json::json;
use sim_support::*;

fn speech() -> SpeechRequest {
    SpeechRequest::new("Rate me.")
}

#[tokio::test]
async fn openai_429_carries_retry_after_and_ratelimit_headers() {
    let clock = ManualClock::new();
    let sim = all_providers()
        .rate_limit("openai", RateLimit::new(2, 50.0)) // one token every 20 ms
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let key = OPENAI_KEYS[0];

    let first = openai.call(&speech(), key).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("1"));
    assert_eq!(first.header("x-ratelimit-reset-requests"), Some("20ms"));
    assert_eq!(openai.call(&speech(), key).await.status, 200);

    let limited = openai.call(&speech(), key).await;
    assert_eq!(limited.status, 429);
    let error = &limited.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["type"], "requests");
    assert_eq!(error["param"], json!(null));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit reached")
    );
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("retry-after-ms"), Some("20"));
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(limited.header("x-ratelimit-reset-requests"), Some("40ms"));

    // Buckets are per key.
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[1]).await.status, 200);

    // 19 ms later the token is not back yet; at 20 ms it is.
    clock.advance(Duration::from_millis(19));
    assert_eq!(openai.call(&speech(), key).await.status, 429);
    clock.advance(Duration::from_millis(1));
    assert_eq!(openai.call(&speech(), key).await.status, 200);

    let stats = sim.stats().key("openai", key);
    assert_eq!((stats.ok, stats.rate_limited, stats.requests), (3, 2, 5));
    assert_eq!(sim.stats().key("openai", OPENAI_KEYS[1]).ok, 1);
}

#[tokio::test]
async fn each_dialect_has_its_own_429() {
    let sim = all_providers()
        .rate_limit("fal", RateLimit::fixed(0))
        .rate_limit("kling", RateLimit::fixed(0))
        .rate_limit("elevenlabs", RateLimit::fixed(0))
        .start()
        .await
        .unwrap();

    let fal = Caller::new(&sim, &FAL)
        .call(&FluxProRequest::new("x"), FAL_KEYS[0])
        .await;
    assert_eq!(fal.status, 429);
    assert!(fal.json()["detail"].is_string());
    assert_eq!(
        fal.header("retry-after"),
        Some("60"),
        "a bucket that never refills"
    );
    assert!(fal.header("x-ratelimit-limit-requests").is_none());

    let kling = Caller::new(&sim, &KLING)
        .call(&TextToVideoRequest::new("x"), KLING_KEYS[0])
        .await;
    assert_eq!(
        (kling.status, kling.json()["code"].as_i64()),
        (429, Some(1302))
    );
    assert!(kling.header("retry-after").is_none());

    let eleven = Caller::new(&sim, &ELEVENLABS)
        .call(&ElevenTtsRequest::new("v", "x"), ELEVEN_KEYS[0])
        .await;
    assert_eq!(eleven.status, 429);
    assert_eq!(
        eleven.json()["detail"]["status"],
        "too_many_concurrent_requests"
    );
    assert!(eleven.header("retry-after").is_none());

    assert!(
        sim.requests()
            .iter()
            .all(|r| r.outcome == Outcome::RateLimited)
    );
}

#[tokio::test]
async fn scripted_rate_limits_with_and_without_a_hint() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script(
        "openai",
        vec![
            Scripted::RateLimited {
                retry_after: Some(Duration::from_millis(1500)),
            },
            Scripted::RateLimited { retry_after: None },
            Scripted::Status(429),
        ],
    );

    let hinted = openai.call(&speech(), OPENAI_KEYS[0]).await;
    assert_eq!(hinted.status, 429);
    assert_eq!(hinted.header("retry-after"), Some("2"));
    assert_eq!(hinted.header("retry-after-ms"), Some("1500"));
    assert_eq!(hinted.header("x-ratelimit-reset-requests"), Some("1.5s"));

    for _ in 0..2 {
        let bare = openai.call(&speech(), OPENAI_KEYS[0]).await;
        assert_eq!(bare.status, 429);
        assert_eq!(bare.json()["error"]["code"], "rate_limit_exceeded");
        for header in [
            "retry-after",
            "retry-after-ms",
            "x-ratelimit-reset-requests",
        ] {
            assert!(bare.header(header).is_none(), "{header} must be absent");
        }
    }
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
}

#[tokio::test]
async fn busy_is_provider_wide_and_differs_from_a_key_limit() {
    let sim = all_providers().start().await.unwrap();
    sim.script("elevenlabs", vec![Scripted::Busy]);
    sim.script("openai", vec![Scripted::Busy]);
    let eleven = Caller::new(&sim, &ELEVENLABS)
        .call(&ElevenTtsRequest::new("v", "x"), ELEVEN_KEYS[1])
        .await;
    assert_eq!(eleven.status, 429);
    assert_eq!(eleven.json()["detail"]["status"], "system_busy");
    let openai = Caller::new(&sim, &OPENAI)
        .call(&speech(), OPENAI_KEYS[0])
        .await;
    assert_eq!(openai.status, 503);
    assert_eq!(openai.json()["error"]["type"], "server_error");
}

#[tokio::test]
async fn rate_limits_can_change_at_run_time() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
    assert!(
        openai
            .call(&speech(), OPENAI_KEYS[0])
            .await
            .header("x-ratelimit-limit-requests")
            .is_none(),
        "no bucket, no budget headers"
    );
    sim.set_rate_limit("openai", Some(RateLimit::fixed(1)));
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 429);
    sim.set_rate_limit("openai", None);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
}
