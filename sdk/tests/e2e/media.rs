//! The media facade over real HTTP against the simulator, driven by the spec's capability
//! table: text-to-speech fallback and voice routing, images by model with options and credits,
//! sound, video submitted then polled, refusals before any request, metrics with credits, and
//! the fallback order (`fastest_healthy` over a seeded health store, `in_order`).

use crate::e2e_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use e2e_support::{Env, OPENAI_KEYS, fast, keys_of, tuned};
use media_sdk::health::{
    HealthItem, HealthStore, MemoryStore, MetricItem, MetricPage, PageCursor, RateLimitItem,
    StoreFuture,
};
use media_sdk::media::capability::{Capabilities, Capability, Fallback};
use media_sdk::media::{
    ImageInput, Media, MediaConfig, MediaError, OptionValue, SoundInput, Speech, TtsInput,
    VideoInput, VideoStatus, VideoTicket,
};
use media_sdk::telemetry::CallMetric;
use media_sdk::{CAPABILITIES, Error, Sdk, elevenlabs, openai};
use media_sdk_sim::{JobPace, Operation, RequestRecord, Scripted};
use serde_json::{Value, json};

/// An environment whose providers back off in milliseconds.
async fn env() -> Env {
    let specs: Vec<_> = media_sdk::PROVIDERS.iter().map(|s| fast(s)).collect();
    Env::with(&specs, |b| b).await
}

fn bodies(log: &[RequestRecord]) -> Vec<(&str, Value)> {
    log.iter()
        .filter(|r| r.operation == Operation::Call)
        .map(|r| (r.path.as_str(), r.body.clone().unwrap_or(Value::Null)))
        .collect()
}

fn metrics_of(env: &Env, endpoint: &str) -> Vec<CallMetric> {
    env.telemetry
        .calls()
        .into_iter()
        .filter(|m| m.endpoint == endpoint)
        .collect()
}

fn tts(text: &str, voice: &str) -> TtsInput {
    TtsInput::new(text, voice)
}

/// Text-to-speech of `text` in `voice` through the environment's media facade.
async fn speak(env: &Env, text: &str, voice: &str) -> Result<Speech, MediaError> {
    env.sdk.media().tts(&tts(text, voice)).await
}

/// An image request for `model`, with `size` and `quality` when given.
fn image_input(prompt: &str, model: &str, size: Option<&str>, quality: Option<&str>) -> ImageInput {
    let mut input = ImageInput::new(prompt, model);
    input.size = size.map(str::to_owned);
    input.quality = quality.map(str::to_owned);
    input
}

#[tokio::test]
async fn tts_falls_back_when_the_first_provider_fails_with_server_errors() {
    let env = env().await;
    // Every attempt OpenAI's retry policy allows fails.
    env.sim.script("openai", vec![Scripted::Status(500); 4]);
    let speech = speak(&env, "Hello there", "alloy").await.unwrap();
    assert_eq!(speech.provider, "elevenlabs");
    assert_eq!(speech.credits_used, 1);
    assert!(speech.audio.bytes.starts_with(b"ID3"));

    let openai = env.log("openai");
    assert_eq!(openai.len(), 4, "{openai:#?}");
    assert!(openai.iter().all(|r| r.status == Some(500)));
    assert_eq!(
        openai[0].body,
        Some(json!({"model": "tts-1", "input": "Hello there", "voice": "alloy"})),
        "speed 1.0 is left out"
    );
    let eleven = env.log("elevenlabs");
    assert_eq!(eleven.len(), 1);
    // `alloy` is ElevenLabs' Rachel; the emptied voice_settings is left out.
    assert_eq!(eleven[0].path, "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM");
    assert_eq!(eleven[0].body, Some(json!({"text": "Hello there"})));

    // The failed call records no credits, the one that served its entry's.
    let failed = metrics_of(&env, "speech");
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].success, failed[0].credits), (false, 0));
    let served = metrics_of(&env, "text_to_speech");
    assert_eq!((served[0].success, served[0].credits), (true, 1));
}

#[tokio::test]
async fn tts_falls_back_on_rate_limits_and_reports_retry_after_when_all_are_limited() {
    let short_wait = |spec| {
        tuned(fast(spec), |retry, _| {
            retry.max_wait_ms = 50;
        })
    };
    let env = Env::with(
        &[
            short_wait(&openai::PROVIDER),
            short_wait(&elevenlabs::PROVIDER),
        ],
        |b| b,
    )
    .await;
    let limited = Scripted::RateLimited {
        retry_after: Some(Duration::from_secs(30)),
    };
    // Each OpenAI key is rate limited once: every key cools down, the call is shed.
    env.sim
        .script("openai", vec![limited.clone(); OPENAI_KEYS.len()]);
    let speech = speak(&env, "Rate limited", "nova").await.unwrap();
    assert_eq!(speech.provider, "elevenlabs");
    assert_eq!(env.log("openai").len(), OPENAI_KEYS.len());

    // Now ElevenLabs' keys too: every provider is rate limited.
    env.sim
        .script("elevenlabs", vec![limited; keys_of("elevenlabs").len()]);
    let error = speak(&env, "Rate limited", "nova").await.unwrap_err();
    let MediaError::AllProvidersFailed { attempts } = &error else {
        panic!("{error}");
    };
    let providers: Vec<_> = attempts.iter().map(|(p, _)| *p).collect();
    assert_eq!(providers, ["openai", "elevenlabs"]);
    let retry_after = error.retry_after().expect("every attempt was rate limited");
    // The providers' hint (30 s), held within their `max_cooldown_ms`.
    assert!(retry_after > Duration::from_secs(1), "{retry_after:?}");
    assert!(!error.is_invalid_input() && !error.is_unavailable());
    e2e_support::assert_no_secrets(&error.to_string(), "the error");
}

#[tokio::test]
async fn voices_route_to_the_providers_that_know_them() {
    let env = env().await;
    let media = env.sdk.media();

    // An OpenAI custom voice goes to OpenAI only, as {"id": ...}.
    let speech = media.tts(&tts("Custom", "voice_1234")).await.unwrap();
    assert_eq!(speech.provider, "openai");
    let openai = env.log("openai");
    assert_eq!(openai.len(), 1);
    assert_eq!(openai[0].status, Some(200), "the simulator accepts it");
    assert_eq!(
        openai[0].body.as_ref().unwrap()["voice"],
        json!({"id": "voice_1234"})
    );

    // An ElevenLabs name (any case) or voice id goes to ElevenLabs only.
    let speech = media.tts(&tts("Named", "Rachel")).await.unwrap();
    assert_eq!(speech.provider, "elevenlabs");
    let id = "pNInz6obpgDQGcFmaJgB";
    media.tts(&tts("By id", id)).await.unwrap();
    // A voice both know goes to the first in order, with its speed.
    let mut fast_nova = tts("Quick", "Nova");
    fast_nova.speed = 1.1;
    assert_eq!(media.tts(&fast_nova).await.unwrap().provider, "openai");
    let eleven = env.log("elevenlabs");
    let paths: Vec<_> = eleven.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM",
            "/v1/text-to-speech/pNInz6obpgDQGcFmaJgB"
        ]
    );
    let openai = env.log("openai");
    assert_eq!(
        openai[1].body,
        Some(json!({"model": "tts-1", "input": "Quick", "voice": "nova", "speed": 1.1}))
    );

    // The caller's own names, per provider.
    let config = MediaConfig::new().voice("elevenlabs", "Narrator", "abcdefghij0123456789");
    let custom = Media::new(&env.sdk, &config);
    assert_eq!(
        custom.tts(&tts("Once", "narrator")).await.unwrap().provider,
        "elevenlabs"
    );
    assert_eq!(
        env.log("elevenlabs").last().unwrap().path,
        "/v1/text-to-speech/abcdefghij0123456789"
    );
}

#[tokio::test]
async fn unknown_voices_and_bad_inputs_are_refused_before_any_request() {
    let env = env().await;
    let media = env.sdk.media();
    for voice in ["no such voice", "voice_", "voice_a/b", "shortid", ""] {
        let error = media.tts(&tts("Hi", voice)).await.unwrap_err();
        assert!(
            matches!(&error, MediaError::UnknownVoice { voice: v } if v == voice),
            "{voice:?}: {error}"
        );
        assert!(error.is_invalid_input());
    }
    let error = media.tts(&tts("  ", "alloy")).await.unwrap_err();
    assert!(matches!(error, MediaError::Invalid { .. }), "{error}");
    let mut nan = tts("Hi", "alloy");
    nan.speed = f64::NAN;
    assert!(matches!(
        media.tts(&nan).await.unwrap_err(),
        MediaError::Invalid { .. }
    ));
    // A speed both endpoints refuse: each refuses it before sending, the facade moves on.
    let mut too_fast = tts("Hi", "alloy");
    too_fast.speed = 9.0;
    let error = media.tts(&too_fast).await.unwrap_err();
    let MediaError::AllProvidersFailed { attempts } = &error else {
        panic!("{error}");
    };
    assert_eq!(attempts.len(), 2);
    assert!(error.is_invalid_input(), "{error}");
    assert!(env.sim.requests().is_empty(), "{:#?}", env.sim.requests());
    assert!(env.telemetry.calls().is_empty(), "nothing recorded");
}

#[tokio::test]
async fn images_route_by_model_with_option_maps_and_credits() {
    let env = env().await;
    let media = env.sdk.media();

    let hd = media
        .image(&image_input("A lighthouse", "dalle-3", None, Some("hd")))
        .await
        .unwrap();
    assert_eq!(hd.provider, "openai");
    assert_eq!(
        serde_json::to_value(&hd).unwrap(),
        json!({
            "images": [{"url": "https://oaidalleapiprodscus.blob.core.windows.net/private/img-1.png"}],
            "model": "dall-e-3",
            "credits_used": 20
        })
    );
    let standard = media
        .image(&image_input(
            "A lighthouse",
            "DALL-E-3",
            Some("1792x1024"),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(standard.credits_used, 10);
    let gpt = media
        .image(&image_input(
            "A lighthouse",
            "gpt-image-1",
            Some("1536x1024"),
            Some("low"),
        ))
        .await
        .unwrap();
    assert_eq!((gpt.model.as_str(), gpt.credits_used), ("gpt-image-1", 5));
    let flux = media
        .image(&image_input(
            "A lighthouse",
            "flux-pro",
            Some("1792x1024"),
            Some("hd"),
        ))
        .await
        .unwrap();
    assert_eq!(
        (flux.model.as_str(), flux.credits_used, flux.provider),
        ("flux-pro", 5, "fal")
    );
    assert_eq!(
        flux.images[0].url,
        "https://v3.fal.media/files/rabbit/flux-1.jpeg"
    );
    media
        .image(&image_input(
            "A lighthouse",
            "flux-pro",
            Some("1024x1024"),
            None,
        ))
        .await
        .unwrap();

    let openai = "/v1/images/generations";
    assert_eq!(
        bodies(&env.log("openai")),
        [
            (
                openai,
                json!({"prompt": "A lighthouse", "model": "dall-e-3", "n": 1, "quality": "hd"})
            ),
            (
                openai,
                json!({"prompt": "A lighthouse", "model": "dall-e-3", "n": 1, "size": "1792x1024"})
            ),
            (
                openai,
                json!({"prompt": "A lighthouse", "model": "gpt-image-1", "n": 1, "size": "1536x1024", "quality": "low"})
            ),
        ]
    );
    let fal = env.log("fal");
    assert_eq!(
        bodies(&fal),
        [
            (
                "/fal-ai/flux-pro/v1.1",
                json!({"prompt": "A lighthouse", "image_size": {"width": 1792, "height": 1024}})
            ),
            (
                "/fal-ai/flux-pro/v1.1",
                json!({"prompt": "A lighthouse", "image_size": "square_hd"})
            ),
        ],
        "sizes mapped to fal's; quality not sent"
    );
    // The metric of each call carries its credits.
    let credits: Vec<_> = metrics_of(&env, "images")
        .iter()
        .map(|m| m.credits)
        .collect();
    assert_eq!(credits, [20, 10, 5]);
    let credits: Vec<_> = metrics_of(&env, "flux_pro")
        .iter()
        .map(|m| m.credits)
        .collect();
    assert_eq!(credits, [5, 5]);
}

#[tokio::test]
async fn unknown_models_and_unsupported_options_are_refused_before_any_request() {
    let env = env().await;
    let media = env.sdk.media();
    let error = media
        .image(&ImageInput::new("A cat", "midjourney-v6"))
        .await
        .unwrap_err();
    let MediaError::UnknownModel { model, known } = &error else {
        panic!("{error}");
    };
    assert_eq!(model, "midjourney-v6");
    assert_eq!(known, &["dall-e-3", "dalle-3", "gpt-image-1", "flux-pro"]);
    assert_eq!(
        error.to_string(),
        "unknown model `midjourney-v6`; expected one of dall-e-3, dalle-3, gpt-image-1, flux-pro"
    );
    assert!(error.is_invalid_input());

    for (model, size, quality, option) in [
        ("dall-e-3", Some("512x512"), None, "size"),
        ("dall-e-3", None, Some("ultra"), "quality"),
        ("gpt-image-1", Some("1792x1024"), None, "size"),
        ("gpt-image-1", None, Some("hd"), "quality"),
        ("flux-pro", Some("big"), None, "size"),
    ] {
        let error = media
            .image(&image_input("A cat", model, size, quality))
            .await
            .unwrap_err();
        match &error {
            MediaError::UnsupportedOption {
                option: o, allowed, ..
            } => {
                assert_eq!(o, option, "{model}");
                assert!(!allowed.is_empty());
            }
            other => panic!("{model} {size:?} {quality:?}: {other}"),
        }
        assert!(error.is_invalid_input());
    }
    media
        .image(&ImageInput::new("A cat", "dall-e-3"))
        .await
        .unwrap();
    let seven = VideoInput {
        duration: Some(OptionValue::from(7)),
        ..VideoInput::new("A boat")
    };
    let error = media.video_submit(&seven).await.unwrap_err();
    assert!(
        matches!(&error, MediaError::UnsupportedOption { option, value, allowed, .. }
            if option == "duration" && value == "7" && allowed == &["5", "10"]),
        "{error}"
    );
    let video_calls: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.provider != "openai")
        .collect();
    assert!(video_calls.is_empty(), "{video_calls:#?}");
    assert_eq!(env.log("openai").len(), 1, "only the valid image was sent");
}

#[tokio::test]
async fn sound_by_default_model_with_its_duration() {
    let env = env().await;
    let sound = env
        .sdk
        .media()
        .sound(&SoundInput {
            prompt: "Rain on a tin roof".into(),
            model: None,
            duration: Some(10.0),
        })
        .await
        .unwrap();
    assert_eq!(
        (sound.model.as_str(), sound.credits_used),
        ("stable-audio", 2)
    );
    assert_eq!(sound.audio.len(), 1);
    assert!(sound.audio[0].url.starts_with("https://"), "{sound:?}");
    assert_eq!(
        bodies(&env.log("fal")),
        [(
            "/fal-ai/stable-audio",
            json!({"prompt": "Rain on a tin roof", "seconds_total": 10})
        )]
    );
    assert_eq!(metrics_of(&env, "stable_audio")[0].credits, 2);
}

/// A ticket as a client of the service would hand it back: through JSON.
fn round_trip(ticket: &VideoTicket) -> VideoTicket {
    serde_json::from_str(&serde_json::to_string(ticket).unwrap()).unwrap()
}

#[tokio::test]
async fn video_is_submitted_then_polled_until_done() {
    // Queued on the first poll, running on the second, done on the third.
    let env = Env::with(&[], |b| b.job_pace("kling", JobPace::default())).await;
    let media = env.sdk.media();
    let input = VideoInput {
        duration: Some(OptionValue::from("10")),
        aspect_ratio: Some("16:9".into()),
        ..VideoInput::new("A paper boat")
    };
    let job = media.video_submit(&input).await.unwrap();
    assert_eq!(job.model, "kling-v1", "the entry's first model");
    assert_eq!(job.ticket.credits(), 100, "credits_by duration 10");
    assert_eq!(job.ticket.provider(), "kling");
    let text = serde_json::to_string(&job).unwrap();
    e2e_support::assert_no_secrets(&text, "the ticket");
    assert!(
        text.contains(&e2e_support::fp(keys_of("kling")[0]))
            || text.contains(&e2e_support::fp(keys_of("kling")[1]))
    );
    let log = env.log("kling");
    assert_eq!(log.len(), 1, "submitted, not followed: {log:#?}");
    assert_eq!(
        log[0].body,
        Some(
            json!({"prompt": "A paper boat", "duration": "10", "aspect_ratio": "16:9", "model_name": "kling-v1"})
        )
    );

    let mut seen = Vec::new();
    let result = loop {
        match media.video_status(&round_trip(&job.ticket)).await.unwrap() {
            VideoStatus::Succeeded(result) => break result,
            other => seen.push(other),
        }
        assert!(seen.len() < 5, "{seen:?}");
    };
    assert_eq!(seen, [VideoStatus::Pending, VideoStatus::Running]);
    assert_eq!(
        (result.model.as_str(), result.credits_used, result.provider),
        ("kling-v1", 100, "kling")
    );
    assert_eq!(result.videos.len(), 1);
    assert!(result.videos[0].url.starts_with("https://"), "{result:?}");
    let status = serde_json::to_value(VideoStatus::Succeeded(result.clone())).unwrap();
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["credits_used"], 100);

    // Every poll used the key that submitted the job.
    let log = env.log("kling");
    assert_eq!(log.len(), 4);
    assert!(log[1..].iter().all(|r| r.operation == Operation::TaskPoll));
    assert!(
        log.iter()
            .all(|r| r.key_fingerprint == log[0].key_fingerprint)
    );
    // Credits are recorded once, by the status call that found the video done.
    let metrics = metrics_of(&env, "text_to_video");
    let credits: Vec<_> = metrics.iter().map(|m| (m.success, m.credits)).collect();
    assert_eq!(credits, [(true, 0), (true, 100)]);
}

#[tokio::test]
async fn a_failed_video_is_reported_and_tampered_tickets_are_refused() {
    let env = Env::with(&[], |b| b).await;
    let media = env.sdk.media();
    env.sim.script(
        "kling",
        vec![Scripted::JobFails {
            message: "content policy".into(),
        }],
    );
    let job = media
        .video_submit(&VideoInput::new("A boat"))
        .await
        .unwrap();
    assert_eq!(
        media.video_status(&job.ticket).await.unwrap(),
        VideoStatus::Failed {
            message: "content policy".into()
        }
    );
    let failed = metrics_of(&env, "text_to_video");
    assert_eq!(failed.last().unwrap().error_class, Some("job_failed"));

    let tampered = |edit: &dyn Fn(&mut Value)| {
        let mut value = serde_json::to_value(&job.ticket).unwrap();
        edit(&mut value);
        serde_json::from_value::<VideoTicket>(value).unwrap()
    };
    let before = env.sim.requests().len();
    type Edit<'a> = &'a dyn Fn(&mut Value);
    type Expected = fn(&MediaError) -> bool;
    let cases: [(&str, Edit, Expected); 5] = [
        (
            "another endpoint",
            &|t| t["job"]["endpoint"] = json!("flux_pro"),
            |e| matches!(e, MediaError::Invalid { .. }),
        ),
        ("free credits", &|t| t["credits"] = json!(0), |e| {
            matches!(e, MediaError::Invalid { .. })
        }),
        ("unknown model", &|t| t["model"] = json!("kling-v9"), |e| {
            matches!(e, MediaError::Invalid { .. })
        }),
        ("a dot id", &|t| t["job"]["id"] = json!(".."), |e| {
            matches!(e, MediaError::Provider(Error::UntrustedUrl { .. }))
        }),
        (
            "a key not in the pool",
            &|t| t["job"]["key"] = json!("k_00000000"),
            |e| matches!(e, MediaError::Provider(Error::JobFailed { message, .. }) if message.contains("removed")),
        ),
    ];
    for (what, edit, expected) in cases {
        let error = media.video_status(&tampered(edit)).await.unwrap_err();
        assert!(expected(&error), "{what}: {error:?}");
    }
    assert_eq!(env.sim.requests().len(), before, "nothing sent for them");
}

#[tokio::test]
async fn a_fal_ticket_off_the_allowed_origins_is_refused() {
    let env = Env::with(&[], |b| b).await;
    let fal = env.sdk.provider("fal").unwrap();
    let flux = media_sdk::ENDPOINTS
        .iter()
        .find(|e| e.spec().id == "flux_pro")
        .unwrap();
    let ticket = flux
        .submit(fal, json!({"prompt": "A lighthouse"}), &Default::default())
        .await
        .unwrap();
    let done = flux
        .status(fal, &ticket, &Default::default())
        .await
        .unwrap();
    assert!(
        matches!(
            done,
            media_sdk::dynamic::JobState::Done(media_sdk::dynamic::Output::Job { .. })
        ),
        "{done:?}"
    );
    let mut value = serde_json::to_value(&ticket).unwrap();
    value["status_url"] = json!("https://evil.example/fal-ai/flux-pro/requests/x/status");
    let forged: media_sdk::dynamic::JobTicket = serde_json::from_value(value).unwrap();
    let before = env.sim.requests().len();
    let error = flux
        .status(fal, &forged, &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UntrustedUrl { .. }), "{error:?}");
    assert_eq!(env.sim.requests().len(), before);
}

/// Writes `count` successes of `latency_ms` for `health_id` into the Sdk's store.
async fn seed(sdk: &Sdk, health_id: &'static str, provider: &'static str, latency_ms: u64) {
    let items: Vec<HealthItem> = (0..20)
        .map(|i| {
            let metric = CallMetric {
                health_id,
                provider,
                endpoint: "seeded",
                latency_ms,
                ttfb_ms: None,
                success: true,
                cancelled: false,
                status: Some(200),
                error_class: None,
                attempts: 1,
                key_fingerprint: None,
                credits: 0,
                at: SystemTime::now(),
            };
            HealthItem::Metric(MetricItem::from_call(
                &metric,
                format!("seed-{health_id}-{i}"),
                Duration::from_secs(3_600),
            ))
        })
        .collect();
    let left = sdk.health_store().write_batch(&items).await.unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn fastest_healthy_follows_the_health_store_and_in_order_does_not() {
    let env = env().await;
    seed(&env.sdk, "openai-tts", "openai", 900).await;
    seed(&env.sdk, "elevenlabs-tts", "elevenlabs", 100).await;

    let fastest = speak(&env, "Hi", "alloy").await.unwrap();
    assert_eq!(fastest.provider, "elevenlabs", "the faster healthy one");

    let in_order: &'static Capabilities = Box::leak(Box::new(Capabilities {
        tts: Capability {
            fallback: Fallback::InOrder,
            ..CAPABILITIES.tts
        },
        ..CAPABILITIES
    }));
    let config = MediaConfig::new().capabilities(in_order);
    let declared = Media::new(&env.sdk, &config)
        .tts(&tts("Hi", "alloy"))
        .await
        .unwrap();
    assert_eq!(declared.provider, "openai", "the declared order");
    assert_eq!(env.log("openai").len(), 1);
    assert_eq!(env.log("elevenlabs").len(), 1);
}

#[tokio::test]
async fn providers_the_sdk_lacks_are_skipped() {
    let sim = media_sdk_sim::Simulator::builder()
        .generated()
        .keys("elevenlabs", keys_of("elevenlabs").iter().copied())
        .start()
        .await
        .unwrap();
    let sdk = Sdk::builder()
        .providers(&[&elevenlabs::PROVIDER])
        .keys("elevenlabs", keys_of("elevenlabs").iter().copied())
        .base_url("elevenlabs", sim.base_url("elevenlabs"))
        .build()
        .unwrap();
    let speech = sdk.media().tts(&tts("Hi", "alloy")).await.unwrap();
    assert_eq!(speech.provider, "elevenlabs");
    let error = sdk
        .media()
        .image(&ImageInput::new("A cat", "dall-e-3"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, MediaError::NoCandidates { .. }),
        "{error:?}"
    );
    assert!(error.is_unavailable());
    let error = sdk.media().tts(&tts("Hi", "voice_1234")).await.unwrap_err();
    assert!(
        matches!(error, MediaError::NoCandidates { .. }),
        "{error:?}"
    );
    assert_eq!(sim.requests().len(), 1);
}

/// A store whose reads never answer (writes go to memory).
#[derive(Debug, Default)]
struct SilentReads(MemoryStore);

impl HealthStore for SilentReads {
    fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
        self.0.write_batch(items)
    }

    fn query_metrics<'a>(
        &'a self,
        _: &'a str,
        _: SystemTime,
        _: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage> {
        Box::pin(std::future::pending())
    }

    fn query_rate_limits<'a>(
        &'a self,
        _: &'a str,
        _: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>> {
        Box::pin(std::future::pending())
    }

    fn publish_cooldown<'a>(
        &'a self,
        provider: &'a str,
        key_fingerprint: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, bool> {
        self.0.publish_cooldown(provider, key_fingerprint, until)
    }

    fn active_cooldowns<'a>(
        &'a self,
        provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
        self.0.active_cooldowns(provider)
    }
}

#[tokio::test]
async fn a_health_read_past_its_bound_keeps_the_declared_order_with_one_warning() {
    let (logs, _guard) = e2e_support::capture_logs();
    let env = env().await;
    let mut builder = Sdk::builder().health_store(Arc::new(SilentReads::default()));
    for spec in media_sdk::PROVIDERS {
        builder = builder
            .keys(spec.id, keys_of(spec.id).iter().copied())
            .base_url(spec.id, env.sim.base_url(spec.id));
    }
    let sdk = builder.build().unwrap();
    // Short, so the test waits little; the store never answers anyway.
    let config = MediaConfig::new().health_timeout(Duration::from_millis(20));
    let speech = Media::new(&sdk, &config)
        .tts(&tts("Hi", "alloy"))
        .await
        .unwrap();
    assert_eq!(speech.provider, "openai", "the declared order");
    assert_eq!(logs.count("health read too slow"), 1, "{}", logs.text());
    // A capability with one candidate reads no health at all.
    Media::new(&sdk, &config)
        .tts(&tts("Hi", "voice_1234"))
        .await
        .unwrap();
    assert_eq!(logs.count("health read too slow"), 1);
}

#[tokio::test]
async fn a_poll_refused_for_its_key_never_quarantines_the_key() {
    let env = Env::with(&[], |b| b.job_pace("kling", JobPace::default())).await;
    let media = env.sdk.media();
    let job = media
        .video_submit(&VideoInput::new("A boat"))
        .await
        .unwrap();
    let owner = job.ticket.job().key_fingerprint().to_owned();
    let [one, two] = [0, 1].map(|i| keys_of("kling")[i]);
    let (owner_key, other_key) = if e2e_support::fp(one) == owner {
        (one, two)
    } else {
        (two, one)
    };
    let quarantined = || {
        env.sdk
            .provider("kling")
            .unwrap()
            .pool()
            .snapshot()
            .into_iter()
            .filter(|k| matches!(k.state, media_sdk::keys::KeyState::Quarantined { .. }))
            .count()
    };

    // The ticket edited to name our other key: the provider knows no such job for it.
    let mut value = serde_json::to_value(&job.ticket).unwrap();
    value["job"]["key"] = json!(e2e_support::fp(other_key));
    let edited: VideoTicket = serde_json::from_value(value).unwrap();
    let error = media.video_status(&edited).await.unwrap_err();
    assert!(
        matches!(&error, MediaError::Provider(Error::Api { status: 404, .. })),
        "{error:?}"
    );

    // The owner's key refused (HTTP 401): reported, not quarantined.
    env.sim.revoke_key("kling", owner_key);
    let error = media.video_status(&job.ticket).await.unwrap_err();
    assert!(
        matches!(&error, MediaError::Provider(Error::Api { status: 401, .. })),
        "{error:?}"
    );
    assert_eq!(quarantined(), 0);
    env.sim.restore_key("kling", owner_key);
    assert_eq!(
        media.video_status(&job.ticket).await.unwrap(),
        VideoStatus::Pending
    );
}

#[tokio::test]
async fn a_request_budget_bounds_every_candidate() {
    let env = env().await;
    let spent = env
        .sdk
        .media()
        .deadline(Duration::ZERO)
        .tts(&tts("Hi", "alloy"))
        .await
        .unwrap_err();
    let MediaError::AllProvidersFailed { attempts } = &spent else {
        panic!("{spent}");
    };
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts
            .iter()
            .all(|(_, e)| e.to_string().contains("deadline reached")),
        "{spent}"
    );
    assert!(
        env.sim.requests().is_empty(),
        "nothing sent past the budget"
    );
    let speech = env
        .sdk
        .media()
        .deadline(Duration::from_secs(60))
        .tts(&tts("Hi", "alloy"))
        .await
        .unwrap();
    assert_eq!(speech.provider, "openai");
}

#[tokio::test]
async fn a_tts_candidate_that_does_not_stream_still_serves_a_stream_in_one_chunk() {
    use futures::StreamExt as _;
    use media_sdk::dynamic::DynEndpoint;
    use media_sdk::media::capability::Entry;

    static BUFFERED_SPEECH: DynEndpoint =
        DynEndpoint::audio::<openai::SpeechRequest>(r#"{"input":"x"}"#, false);
    let openai_entry = CAPABILITIES
        .tts
        .entries
        .iter()
        .find(|e| e.endpoint.spec().provider == "openai")
        .expect("an OpenAI tts entry");
    let entries: &'static [Entry] = Box::leak(Box::new([Entry {
        endpoint: &BUFFERED_SPEECH,
        ..*openai_entry
    }]));
    let buffered: &'static Capabilities = Box::leak(Box::new(Capabilities {
        tts: Capability {
            entries,
            ..CAPABILITIES.tts
        },
        ..CAPABILITIES
    }));
    let env = env().await;
    let config = MediaConfig::new().capabilities(buffered);
    let speech = Media::new(&env.sdk, &config)
        .tts_stream(&tts("Hello there", "alloy"))
        .await
        .unwrap();
    assert_eq!(speech.provider, "openai");
    let chunks: Vec<_> = speech.audio.collect().await;
    assert_eq!(chunks.len(), 1, "the buffered answer is one chunk");
    assert!(!chunks[0].as_ref().unwrap().is_empty());
    let log = env.log("openai");
    assert_eq!(log.len(), 1);
    assert!(!log[0].path.ends_with("/stream"), "{}", log[0].path);
}
