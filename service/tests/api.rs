//! The media API end to end: the service on loopback over a real `Sdk` on the simulator,
//! called over HTTP.
#![cfg(feature = "sim")]

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use media_sdk_cli::demo::demo_specs;
use media_sdk_sim::{JobPace, Scripted};
use support::{IMAGE, OTHER_TOKEN, TTS, TestApi, config, image_request, specs_with_max_wait};

const VIDEO: &str = "/api/v1/media/video";

/// Scripts every key of `provider` to answer one 429 with `Retry-After: retry_after`.
fn rate_limit_every_key(api: &TestApi, provider: &str, retry_after: Duration) {
    let limited = api
        .keys_of(provider)
        .iter()
        .map(|key| {
            Scripted::RateLimited {
                retry_after: Some(retry_after),
            }
            .for_key(key)
        })
        .collect();
    api.sim.script(provider, limited);
}

#[tokio::test]
async fn tts_streams_the_audio_with_its_credits_and_provider() {
    let api = TestApi::start().await;
    let reply = api
        .post(
            TTS,
            json!({"text": "Hello there", "voice": "alloy", "speed": 1.0}),
        )
        .await;
    reply.assert_status(200);
    assert_eq!(reply.header("content-type"), Some("audio/mpeg"));
    assert_eq!(reply.header("x-credits-used"), Some("1"));
    let provider = reply.header("x-provider").expect("provider");
    assert!(["openai", "elevenlabs"].contains(&provider), "{provider}");
    assert!(!reply.body.is_empty());
    assert_eq!(api.sim.requests_for(provider).len(), 1);
}

#[tokio::test]
async fn tts_falls_back_when_the_first_provider_fails() {
    let api = TestApi::start().await;
    // OpenAI refuses every request (a 400 is final: no retry), so only a fallback answers.
    api.sim.script("openai", vec![Scripted::Status(400); 8]);
    let reply = api
        .post(TTS, json!({"text": "Hello there", "voice": "alloy"}))
        .await;
    reply.assert_status(200);
    assert_eq!(reply.header("x-provider"), Some("elevenlabs"));
    assert_eq!(reply.header("x-credits-used"), Some("1"));
    assert!(!reply.body.is_empty());
    assert!(
        !api.sim.requests_for("openai").is_empty(),
        "OpenAI was not tried first"
    );
}

/// Whether `entry` can speak with `voice` (its names, its listed values, or no voice rules).
fn knows(entry: &media_sdk::media::capability::Entry, voice: &str) -> bool {
    entry.voices.is_none_or(|voices| {
        voices.names.iter().any(|(name, _)| *name == voice) || voices.listed.contains(&voice)
    })
}

/// The "no Rust edit" check, written against the capability table rather than any provider:
/// with every other text-to-speech provider failing, the last declared candidate serves. `cargo
/// xtask test` also runs it on a copy of the workspace with a provider appended to
/// `providers.yaml` (then that provider is the last candidate).
#[tokio::test]
async fn last_tts_candidate_serves_when_every_other_tts_provider_fails() {
    let entries = media_sdk::CAPABILITIES.tts.entries;
    let last = entries
        .last()
        .expect("providers.yaml declares tts candidates");
    let provider = last.endpoint.spec().provider;
    let voice = ["alloy", "rachel"]
        .into_iter()
        .find(|v| knows(last, v))
        .or_else(|| last.voices.and_then(|v| v.listed.first().copied()))
        .or_else(|| last.voices.and_then(|v| v.names.first().map(|(n, _)| *n)))
        .expect("the last candidate knows some voice");
    let others: Vec<&str> = entries
        .iter()
        .map(|e| e.endpoint.spec().provider)
        .filter(|p| *p != provider)
        .collect();
    let api = TestApi::start().await;
    for other in &others {
        // A 400 is final (no retry, no rotation): only a fallback answers.
        api.sim.script(other, vec![Scripted::Status(400); 8]);
    }
    let reply = api
        .post(TTS, json!({"text": "Hello there", "voice": voice}))
        .await;
    reply.assert_status(200);
    assert_eq!(reply.header("x-provider"), Some(provider));
    assert!(!reply.body.is_empty());
    assert_eq!(api.sim.requests_for(provider).len(), 1);
    for entry in entries
        .iter()
        .filter(|e| e.endpoint.spec().provider != provider)
    {
        let other = entry.endpoint.spec().provider;
        if knows(entry, voice) {
            assert!(
                !api.sim.requests_for(other).is_empty(),
                "{other} was not tried before {provider}"
            );
        }
    }
}

#[tokio::test]
async fn sound_answers_its_urls_model_and_credits() {
    let api = TestApi::start().await;
    let reply = api
        .post(
            "/api/v1/media/sound",
            json!({"prompt": "Rain on a tin roof", "duration": 10}),
        )
        .await;
    reply.assert_status(200);
    let body = reply.json();
    let url = body["audio"][0]["url"].as_str().expect("url").to_owned();
    assert_eq!(
        body,
        json!({"audio": [{"url": url}], "model": "stable-audio", "credits_used": 2})
    );
}

#[tokio::test]
async fn image_answers_exactly_the_api_shape() {
    let api = TestApi::start().await;
    let reply = api
        .post(
            IMAGE,
            json!({"prompt": "A lighthouse at dawn", "model": "dall-e-3", "size": "1792x1024", "quality": "hd"}),
        )
        .await;
    reply.assert_status(200);
    let body = reply.json();
    let url = body["images"][0]["url"].as_str().expect("url").to_owned();
    assert!(!url.is_empty());
    assert_eq!(
        body,
        json!({"images": [{"url": url}], "model": "dall-e-3", "credits_used": 20})
    );
    let alias = api
        .post(IMAGE, json!({"prompt": "A lighthouse", "model": "dalle-3"}))
        .await
        .json();
    assert_eq!(alias["model"], "dall-e-3");
    assert_eq!(alias["credits_used"], 10);
}

/// Submits a video and returns its id, checking the 202 answer's exact shape.
async fn submit_video(api: &TestApi) -> String {
    let reply = api
        .post(
            VIDEO,
            json!({"prompt": "A fox in the snow", "model": "kling-v1", "duration": 5}),
        )
        .await;
    reply.assert_status(202);
    let body = reply.json();
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(body, json!({"id": id, "status": "pending"}));
    id
}

#[tokio::test]
async fn video_is_submitted_then_polled_to_success() {
    // One poll queued, one running, finished on the third: the simulator's pacing counts
    // polls, not time.
    let api = TestApi::start_with(
        demo_specs(),
        |sim| {
            sim.job_pace(
                "kling",
                JobPace {
                    queued_polls: 1,
                    running_polls: 1,
                },
            )
        },
        config(),
    )
    .await;
    let id = submit_video(&api).await;
    let path = format!("{VIDEO}/{id}");
    let first = api.get(&path).await;
    first.assert_status(200);
    assert_eq!(
        first.json(),
        json!({"id": id, "status": "pending", "model": "kling-v1"})
    );
    let second = api.get(&path).await.json();
    assert_eq!(
        second,
        json!({"id": id, "status": "running", "model": "kling-v1"})
    );
    let done = api.get(&path).await.json();
    let url = done["videos"][0]["url"]
        .as_str()
        .expect("video url")
        .to_owned();
    assert_eq!(
        done,
        json!({"id": id, "status": "succeeded", "videos": [{"url": url}], "model": "kling-v1", "credits_used": 50})
    );
}

#[tokio::test]
async fn a_failed_video_job_reports_its_error() {
    let api = TestApi::start_with(
        demo_specs(),
        |sim| sim.job_pace("kling", JobPace::immediate()),
        config(),
    )
    .await;
    api.sim.script(
        "kling",
        vec![Scripted::JobFails {
            message: "content refused".into(),
        }],
    );
    let id = submit_video(&api).await;
    let body = api.get(&format!("{VIDEO}/{id}")).await.json();
    assert_eq!(body["status"], "failed", "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("content refused"),
        "{body}"
    );
    assert!(body.get("videos").is_none() && body.get("credits_used").is_none());
}

#[tokio::test]
async fn tampered_foreign_or_malformed_job_ids_are_404_without_a_poll() {
    let api = TestApi::start().await;
    let id = submit_video(&api).await;
    let before = api.sim.requests_for("kling").len();

    let (payload, tag) = id.split_once('.').expect("payload.tag");
    let mut claim: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claim["model"] = json!("kling-v2-master");
    let forged = format!(
        "{}.{tag}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claim).unwrap())
    );
    for bad in [forged.as_str(), "garbage", "a.b", &id[..id.len() - 2]] {
        let reply = api.get(&format!("{VIDEO}/{bad}")).await;
        assert_eq!(reply.status, 404, "{bad}");
        assert_eq!(reply.error_code(), "not_found");
    }
    // Another user's token: the id is not theirs.
    let foreign = api
        .send(
            reqwest::Client::new()
                .get(format!("{}{VIDEO}/{id}", api.base))
                .bearer_auth(OTHER_TOKEN),
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        api.sim.requests_for("kling").len(),
        before,
        "a bad id was polled"
    );
    // The genuine id still polls.
    assert_eq!(api.get(&format!("{VIDEO}/{id}")).await.status, 200);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let api = TestApi::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}{IMAGE}", api.base);
    let body = image_request();
    let cases = [
        ("no header", client.post(&url).json(&body)),
        (
            "wrong token",
            client.post(&url).bearer_auth("nope").json(&body),
        ),
        (
            "basic scheme",
            client
                .post(&url)
                .header("authorization", format!("Basic {}", support::TOKEN))
                .json(&body),
        ),
    ];
    for (case, request) in cases {
        let reply = api.send(request).await;
        assert_eq!(reply.status, 401, "{case}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{case}");
        assert_eq!(reply.error_code(), "unauthorized", "{case}");
    }
    assert!(api.sim.requests().is_empty());
    // The health check needs no token.
    let health = api.send(client.get(format!("{}/healthz", api.base))).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn refused_input_is_400_before_any_provider_call() {
    let api = TestApi::start().await;
    let cases: [(&str, &str, Value); 7] = [
        (
            "unknown field",
            TTS,
            json!({"text": "hi", "voice": "alloy", "pitch": 2}),
        ),
        ("missing field", TTS, json!({"voice": "alloy"})),
        (
            "unknown voice",
            TTS,
            json!({"text": "hi", "voice": "nobody-at-all"}),
        ),
        (
            "unknown model",
            IMAGE,
            json!({"prompt": "x", "model": "dall-e-9"}),
        ),
        (
            "unsupported size",
            IMAGE,
            json!({"prompt": "x", "model": "dall-e-3", "size": "7x7"}),
        ),
        (
            "unsupported quality",
            IMAGE,
            json!({"prompt": "x", "model": "dall-e-3", "quality": "ultra"}),
        ),
        (
            "unsupported duration",
            VIDEO,
            json!({"prompt": "x", "model": "kling-v1", "duration": 7}),
        ),
    ];
    for (case, path, body) in cases {
        let reply = api.post(path, body).await;
        assert_eq!(
            reply.status,
            400,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), "invalid_request", "{case}");
    }
    let syntax = api
        .post_raw(IMAGE, "application/json", "{\"prompt\": ")
        .await;
    assert_eq!(syntax.status, 400);
    assert_eq!(syntax.error_code(), "invalid_request");
    let unknown = api
        .post(IMAGE, json!({"prompt": "x", "model": "dall-e-9"}))
        .await
        .json();
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dall-e-3"),
        "the known models are listed: {unknown}"
    );
    assert!(
        api.sim.requests().is_empty(),
        "a refused request reached a provider"
    );
}

#[tokio::test]
async fn body_limit_content_type_and_unknown_routes_answer_json() {
    let api = TestApi::start_with(demo_specs(), |sim| sim, config().body_limit(1024)).await;
    let big = api
        .post(
            IMAGE,
            json!({"prompt": "x".repeat(2048), "model": "dall-e-3"}),
        )
        .await;
    assert_eq!(big.status, 413);
    assert_eq!(big.error_code(), "payload_too_large");
    let text = api.post_raw(IMAGE, "text/plain", "{}").await;
    assert_eq!(text.status, 415);
    assert_eq!(text.error_code(), "unsupported_media_type");
    let missing = api.get("/api/v1/media/nothing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    let wrong_method = api.get(TTS).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
    assert!(api.sim.requests().is_empty());
}

#[tokio::test]
async fn every_key_rate_limited_is_429_with_retry_after() {
    // Each OpenAI key answers 429 for 3 s; the SDK may wait at most 50 ms for a key.
    let api = TestApi::start_with(specs_with_max_wait(50), |sim| sim, config()).await;
    rate_limit_every_key(&api, "openai", Duration::from_secs(3));
    let reply = api.post(IMAGE, image_request()).await;
    reply.assert_status(429);
    assert_eq!(reply.error_code(), "rate_limited");
    let retry_after: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn provider_failures_are_502() {
    let api = TestApi::start().await;
    // A final error from the only provider of the model.
    api.sim.script("openai", vec![Scripted::Status(400)]);
    let reply = api.post(IMAGE, image_request()).await;
    reply.assert_status(502);
    assert_eq!(reply.error_code(), "provider_error");
    // Every text-to-speech provider failing is 502 too.
    api.sim.script("openai", vec![Scripted::Status(400); 4]);
    api.sim.script("elevenlabs", vec![Scripted::Status(400); 4]);
    let tts = api.post(TTS, json!({"text": "hi", "voice": "alloy"})).await;
    tts.assert_status(502);
    assert_eq!(tts.error_code(), "provider_error");
}

#[tokio::test]
async fn no_provider_available_is_503() {
    let api = TestApi::start().await;
    // Every OpenAI key refused as invalid: quarantined, and the next call has none left.
    let invalid = api
        .keys_of("openai")
        .iter()
        .map(|key| Scripted::InvalidKey.for_key(key))
        .collect();
    api.sim.script("openai", invalid);
    let first = api.post(IMAGE, image_request()).await;
    assert!(
        [502, 503].contains(&first.status),
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let before = api.sim.requests_for("openai").len();
    let reply = api.post(IMAGE, image_request()).await;
    reply.assert_status(503);
    assert_eq!(reply.error_code(), "unavailable");
    assert_eq!(api.sim.requests_for("openai").len(), before);
}

#[tokio::test]
async fn a_request_past_its_deadline_is_504() {
    let api = TestApi::start_with(
        demo_specs(),
        |sim| sim,
        config().deadline(Duration::from_millis(200)),
    )
    .await;
    api.sim.script("openai", vec![Scripted::Hang]);
    let reply = api.post(IMAGE, image_request()).await;
    reply.assert_status(504);
    assert_eq!(reply.error_code(), "deadline_exceeded");
}

#[tokio::test]
async fn the_deadline_reaches_the_sdk_so_a_key_wait_beyond_it_is_429_at_once() {
    // The spec lets a call wait 30 s for a key; the request's deadline is 1 s. Every key is
    // limited for 5 s: the SDK, told the deadline, refuses at once (429 with Retry-After)
    // instead of waiting into a 504.
    let api = TestApi::start_with(
        specs_with_max_wait(30_000),
        |sim| sim,
        config().deadline(Duration::from_secs(1)),
    )
    .await;
    rate_limit_every_key(&api, "openai", Duration::from_secs(5));
    let reply = api.post(IMAGE, image_request()).await;
    reply.assert_status(429);
    assert_eq!(reply.error_code(), "rate_limited");
    assert!(reply.header("retry-after").is_some());
}
