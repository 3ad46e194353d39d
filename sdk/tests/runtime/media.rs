//! The media facade over real HTTP against the simulator: text-to-speech fallback in health
//! order, image routing per model (body checked in the simulator's log), credits, refusals.

use crate::integ;

use std::time::Duration;

use media_sdk::Error;
use media_sdk::health::ProviderStatus;
use media_sdk::media::{ImageResult, Media, MediaConfig, MediaError, TtsProvider};
use media_sdk_sim::Outcome;
use serde_json::json;

use integ::{ELEVEN_KEYS, OPENAI_KEYS, calls, sdk_builder, sim_builder};

#[tokio::test]
async fn tts_falls_back_to_elevenlabs_and_then_prefers_it() {
    let sim = sim_builder().start().await.unwrap();
    let sdk = sdk_builder(&sim).build().unwrap();
    // Both healthy-or-unknown: the configured order puts OpenAI first.
    assert_eq!(
        sdk.media().tts_order().await,
        [TtsProvider::OpenAi, TtsProvider::ElevenLabs]
    );

    sim.revoke_key("openai", OPENAI_KEYS[0]);
    let audio = sdk.media().tts("Hello there", "alloy", 1.0).await.unwrap();
    assert!(!audio.bytes.is_empty());
    let log = sim.requests();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(
        (log[0].provider, log[0].outcome),
        ("openai", Outcome::Unauthorized)
    );
    assert_eq!(log[0].body.as_ref().unwrap()["voice"], "alloy");
    assert_eq!(
        (log[1].provider, log[1].outcome),
        ("elevenlabs", Outcome::Success)
    );
    // The facade voice is mapped to the default ElevenLabs voice id.
    assert_eq!(log[1].path, "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM");
    assert_eq!(log[1].body.as_ref().unwrap()["text"], "Hello there");

    sdk.flush(Duration::from_secs(5)).await.unwrap();
    let openai = sdk
        .health()
        .check_provider_health("openai-tts")
        .await
        .unwrap();
    let eleven = sdk
        .health()
        .check_provider_health("elevenlabs-tts")
        .await
        .unwrap();
    assert_eq!(openai.status, ProviderStatus::Down);
    assert_eq!(eleven.status, ProviderStatus::Healthy);
    assert_eq!(
        sdk.media().tts_order().await,
        [TtsProvider::ElevenLabs, TtsProvider::OpenAi]
    );

    // Now the healthy provider is tried first: OpenAI sees no further request.
    sim.restore_key("openai", OPENAI_KEYS[0]);
    sdk.media().tts("Again", "nova", 1.1).await.unwrap();
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].provider, "elevenlabs");
    assert_eq!(log[2].path, "/v1/text-to-speech/MF3mGyEYCl7XYWbV9V6O");
    assert_eq!(
        log[2].body.as_ref().unwrap()["voice_settings"],
        json!({"speed": 1.1})
    );
}

#[tokio::test]
async fn tts_reports_every_provider_error_when_all_fail() {
    let sim = sim_builder().start().await.unwrap();
    let sdk = sdk_builder(&sim).build().unwrap();
    sim.revoke_key("openai", OPENAI_KEYS[0]);
    sim.revoke_key("elevenlabs", ELEVEN_KEYS[0]);
    let error = sdk.media().tts("Hello", "echo", 1.0).await.unwrap_err();
    let MediaError::AllProvidersFailed { attempts } = &error else {
        panic!("expected AllProvidersFailed, got {error}");
    };
    let providers: Vec<_> = attempts.iter().map(|(p, _)| *p).collect();
    assert_eq!(providers, ["openai", "elevenlabs"]);
    assert!(
        attempts
            .iter()
            .all(|(_, e)| matches!(e, Error::KeysExhausted { .. })),
        "{error}"
    );
    let text = error.to_string();
    for key in OPENAI_KEYS.iter().chain(ELEVEN_KEYS) {
        assert!(!text.contains(key), "key leaked into {text}");
    }
}

#[tokio::test]
async fn tts_voice_mapping_is_configurable_and_unknown_voices_send_nothing() {
    let sim = sim_builder().start().await.unwrap();
    let config = MediaConfig::default()
        .tts_providers([TtsProvider::ElevenLabs])
        .elevenlabs_voice("narrator", "abcdefghij0123456789");
    let sdk = sdk_builder(&sim).build().unwrap();
    let media = Media::new(&sdk, &config);
    media
        .tts("Once upon a time", "Narrator", 1.0)
        .await
        .unwrap();
    let log = sim.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/v1/text-to-speech/abcdefghij0123456789");
    assert!(
        log[0]
            .body
            .as_ref()
            .unwrap()
            .get("voice_settings")
            .is_none()
    );

    let error = media.tts("Hi", "no such voice", 1.0).await.unwrap_err();
    assert!(
        matches!(&error, MediaError::UnknownVoice { voice } if voice == "no such voice"),
        "{error}"
    );
    assert_eq!(sim.requests().len(), 1, "nothing sent for an unknown voice");
}

#[tokio::test]
async fn images_route_by_model_with_sizes_and_credits() {
    let sim = sim_builder().start().await.unwrap();
    let sdk = sdk_builder(&sim).build().unwrap();
    let media = sdk.media();

    let hd = media
        .image("A lighthouse", "dalle-3", Some("1792x1024"), Some("hd"))
        .await
        .unwrap();
    assert_eq!(hd.model, "dall-e-3");
    assert_eq!(hd.credits_used, 20);
    assert_eq!(
        hd.images[0].url,
        "https://oaidalleapiprodscus.blob.core.windows.net/private/img-1.png"
    );
    let standard = media
        .image("A lighthouse", "dall-e-3", None, None)
        .await
        .unwrap();
    assert_eq!(standard.credits_used, 10);
    let gpt = media
        .image(
            "A lighthouse",
            "gpt-image-1",
            Some("1536x1024"),
            Some("low"),
        )
        .await
        .unwrap();
    assert_eq!((gpt.model.as_str(), gpt.credits_used), ("gpt-image-1", 5));
    let flux = media
        .image("A lighthouse", "flux-pro", Some("1792x1024"), Some("hd"))
        .await
        .unwrap();
    assert_eq!((flux.model.as_str(), flux.credits_used), ("flux-pro", 5));
    assert_eq!(
        flux.images[0].url,
        "https://v3.fal.media/files/rabbit/flux-1.jpeg"
    );
    let preset = media
        .image("A lighthouse", "flux-pro", Some("square_hd"), None)
        .await
        .unwrap();
    assert_eq!(preset.images.len(), 1);

    let log = sim.requests();
    let calls = calls(&log);
    let bodies: Vec<_> = calls
        .iter()
        .map(|r| (r.provider, r.path.as_str(), r.body.clone().unwrap()))
        .collect();
    assert_eq!(bodies.len(), 5, "{bodies:#?}");
    let openai = "/v1/images/generations";
    assert_eq!(
        bodies[0],
        (
            "openai",
            openai,
            json!({"prompt": "A lighthouse", "model": "dall-e-3", "n": 1, "size": "1792x1024", "quality": "hd"})
        )
    );
    assert_eq!(
        bodies[1],
        (
            "openai",
            openai,
            json!({"prompt": "A lighthouse", "model": "dall-e-3", "n": 1})
        )
    );
    assert_eq!(
        bodies[2],
        (
            "openai",
            openai,
            json!({"prompt": "A lighthouse", "model": "gpt-image-1", "n": 1, "size": "1536x1024", "quality": "low"})
        )
    );
    assert_eq!(
        bodies[3],
        (
            "fal",
            "/fal-ai/flux-pro/v1.1",
            json!({"prompt": "A lighthouse", "image_size": {"width": 1792, "height": 1024}})
        )
    );
    assert_eq!(
        bodies[4].2,
        json!({"prompt": "A lighthouse", "image_size": "square_hd"})
    );
}

#[test]
fn image_result_has_the_media_api_shape() {
    let result = ImageResult {
        images: vec![media_sdk::media::ImageUrl {
            url: "https://example.com/a.png".into(),
        }],
        model: "dall-e-3".into(),
        credits_used: 20,
    };
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        json!({"images": [{"url": "https://example.com/a.png"}], "model": "dall-e-3", "credits_used": 20})
    );
}

#[tokio::test]
async fn unknown_models_and_bad_options_are_refused_before_any_request() {
    let sim = sim_builder().start().await.unwrap();
    let sdk = sdk_builder(&sim).build().unwrap();
    let media = sdk.media();
    let error = media
        .image("A cat", "midjourney-v6", None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, MediaError::UnknownModel { model } if model == "midjourney-v6"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "unknown image model `midjourney-v6`; expected one of dall-e-3, dalle-3, gpt-image-1, flux-pro"
    );
    for (model, size, quality) in [
        ("dall-e-3", Some("512x512"), None),
        ("dall-e-3", None, Some("ultra")),
        ("gpt-image-1", Some("1792x1024"), None),
        ("gpt-image-1", None, Some("hd")),
        ("flux-pro", Some("big"), None),
    ] {
        let error = media
            .image("A cat", model, size, quality)
            .await
            .unwrap_err();
        assert!(
            matches!(error, MediaError::UnsupportedOption { .. }),
            "{model} {size:?} {quality:?}: {error}"
        );
    }
    assert!(sim.requests().is_empty(), "{:#?}", sim.requests());
    assert_eq!(sdk.recorder_stats().queued, 0, "nothing recorded either");
}
