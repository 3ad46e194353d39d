//! End to end, over real HTTP on loopback: every generated endpoint, called through its
//! generated client method, sends exactly the request the provider documents (method, path,
//! query, auth scheme, content type, JSON body) and decodes the simulator's answer into its
//! typed output. Invalid requests never leave the process.

use crate::e2e_support;

use e2e_support::{ELEVEN_KEYS, Env, FAL_KEYS, KLING_KEYS, OPENAI_KEYS, fp};
use media_sdk::Error;
use media_sdk::Sdk;
use media_sdk::elevenlabs::{ElevenModel, ElevenOutputFormat, ElevenTtsRequest};
use media_sdk::fal::{FalImageSize, FluxProRequest, StableAudioRequest};
use media_sdk::kling::{AspectRatio, KlingMode, KlingModel, TextToVideoRequest, VideoDuration};
use media_sdk::openai::{
    ImageModel, ImageQuality, ImageRequest, ImageSize, ImageStyle, SpeechFormat, SpeechModel,
    SpeechRequest, Voice,
};
use media_sdk_sim::{Operation, Outcome, RequestRecord};
use serde_json::json;

fn header<'a>(record: &'a RequestRecord, name: &str) -> Option<&'a str> {
    record
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Checks what every JSON call carries: the method, path, auth scheme, a key of the pool,
/// the JSON content type and the SDK's user agent.
fn assert_call(record: &RequestRecord, method: &str, path: &str, scheme: &str, keys: &[&str]) {
    assert_eq!(record.operation, Operation::Call, "{record:?}");
    assert_eq!(
        (record.method.as_str(), record.path.as_str()),
        (method, path)
    );
    assert_eq!(record.auth_scheme.as_deref(), Some(scheme), "auth scheme");
    let used = record.key_fingerprint.as_deref().expect("a key was used");
    assert!(
        keys.iter().any(|k| fp(k) == used),
        "the key is one of the pool's: {used}"
    );
    assert_eq!(header(record, "content-type"), Some("application/json"));
    assert!(
        header(record, "user-agent").is_some_and(|ua| ua.starts_with("media-sdk/")),
        "user agent: {:?}",
        header(record, "user-agent")
    );
    assert_eq!(
        (record.status, &record.outcome),
        (Some(200), &Outcome::Success)
    );
}

#[tokio::test]
async fn openai_speech_sends_the_documented_body_and_returns_audio() {
    let env = Env::start().await;
    let request = SpeechRequest {
        model: SpeechModel::Tts1,
        input: "こんにちは、世界！".into(),
        voice: Voice::Nova,
        speed: Some(1.0),
        ..SpeechRequest::default()
    };
    // The wire body, byte for byte (the runtime sends `serde_json::to_vec(request)`).
    assert_eq!(
        serde_json::to_string(&request).unwrap(),
        r#"{"model":"tts-1","input":"こんにちは、世界！","voice":"nova","speed":1.0}"#
    );

    let audio = env.sdk.openai().unwrap().speech(request).await.unwrap();
    assert_eq!(audio.content_type, "audio/mpeg");
    assert!(!audio.bytes.is_empty());

    let log = env.log("openai");
    assert_eq!(log.len(), 1, "one request, no retries: {log:?}");
    assert_call(&log[0], "POST", "/v1/audio/speech", "Bearer", &OPENAI_KEYS);
    assert_eq!(log[0].endpoint, Some("speech"));
    assert!(log[0].query.is_empty());
    assert_eq!(
        log[0].body,
        Some(json!({"model":"tts-1","input":"こんにちは、世界！","voice":"nova","speed":1.0}))
    );
}

#[tokio::test]
async fn openai_speech_defaults_custom_voice_and_format() {
    let env = Env::start().await;
    // Defaults only: model and voice are required on the wire and take the spec's defaults;
    // every `None` is left out.
    let audio = env
        .sdk
        .openai()
        .unwrap()
        .speech(SpeechRequest::new("Hello"))
        .await
        .unwrap();
    assert_eq!(audio.content_type, "audio/mpeg");

    let custom = SpeechRequest {
        model: SpeechModel::Gpt4oMiniTts,
        input: "Hello again".into(),
        voice: Voice::Custom {
            id: "voice_1234".into(),
        },
        instructions: Some("Whisper.".into()),
        response_format: Some(SpeechFormat::Wav),
        ..SpeechRequest::default()
    };
    let audio = env.sdk.openai().unwrap().speech(custom).await.unwrap();
    assert_eq!(audio.content_type, "audio/wav", "the format picks the type");
    assert_eq!(&audio.bytes[..4], b"RIFF");

    let log = env.log("openai");
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].body,
        Some(json!({"model": "tts-1", "input": "Hello", "voice": "alloy"}))
    );
    assert_eq!(
        log[1].body,
        Some(json!({
            "model": "gpt-4o-mini-tts",
            "input": "Hello again",
            "voice": {"id": "voice_1234"},
            "instructions": "Whisper.",
            "response_format": "wav"
        }))
    );
    // Two calls, spread over two keys (fewest in flight, round robin on ties).
    assert_ne!(log[0].key_fingerprint, log[1].key_fingerprint);
}

#[tokio::test]
async fn openai_images_minimal_and_full_requests_decode_the_response() {
    let env = Env::start().await;
    let minimal = env
        .sdk
        .openai()
        .unwrap()
        .images(ImageRequest::new("A cat in a hat"))
        .await
        .unwrap();
    assert_eq!(minimal.data.len(), 1);

    let full = ImageRequest {
        prompt: "A lighthouse at dawn".into(),
        model: Some(ImageModel::DallE3),
        n: Some(1),
        size: Some(ImageSize::Landscape1792),
        quality: Some(ImageQuality::Hd),
        style: Some(ImageStyle::Vivid),
        user: Some("user-42".into()),
        ..ImageRequest::default()
    };
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let images = env.sdk.openai().unwrap().images(full).await.unwrap();
    assert!(
        u64::try_from(images.created).unwrap() >= before,
        "created is now"
    );
    assert_eq!(images.data.len(), 1);
    let image = &images.data[0];
    assert!(
        image
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    );
    assert!(image.revised_prompt.is_some());

    let log = env.log("openai");
    assert_eq!(log.len(), 2);
    for record in &log {
        assert_call(
            record,
            "POST",
            "/v1/images/generations",
            "Bearer",
            &OPENAI_KEYS,
        );
        assert_eq!(record.endpoint, Some("images"));
    }
    assert_eq!(log[0].body, Some(json!({"prompt": "A cat in a hat"})));
    assert_eq!(
        log[1].body,
        Some(json!({
            "prompt": "A lighthouse at dawn",
            "model": "dall-e-3",
            "n": 1,
            "size": "1792x1024",
            "quality": "hd",
            "style": "vivid",
            "user": "user-42"
        }))
    );
}

#[tokio::test]
async fn fal_flux_pro_is_submitted_polled_and_fetched_on_the_app_root() {
    let env = Env::start().await;
    let request = FluxProRequest {
        prompt: "A lighthouse at dawn".into(),
        image_size: Some(FalImageSize::Landscape169),
        seed: Some(42),
        num_images: Some(2),
        enable_safety_checker: Some(true),
        ..FluxProRequest::default()
    };
    let job = env.sdk.fal().unwrap().flux_pro(request).await.unwrap();
    assert_eq!(job.output.images.len(), 2, "num_images is honoured");
    assert_eq!(job.output.seed, Some(42));
    assert!(job.output.images[0].url.starts_with("https://"));
    assert_eq!(job.output.prompt.as_deref(), Some("A lighthouse at dawn"));

    let log = env.log("fal");
    assert_eq!(log.len(), 3, "submit, status, result: {log:?}");
    assert_call(&log[0], "POST", "/fal-ai/flux-pro/v1.1", "Key", &FAL_KEYS);
    assert_eq!(
        log[0].body,
        Some(json!({
            "prompt": "A lighthouse at dawn",
            "image_size": "landscape_16_9",
            "seed": 42,
            "num_images": 2,
            "enable_safety_checker": true
        }))
    );
    // The queue lives on the app's first two path segments: `/fal-ai/flux-pro`, without the
    // `/v1.1` sub-path.
    let root = format!("/fal-ai/flux-pro/requests/{}", job.id);
    assert_eq!(
        (
            log[1].operation,
            log[1].method.as_str(),
            log[1].path.as_str()
        ),
        (
            Operation::JobStatus,
            "GET",
            format!("{root}/status").as_str()
        )
    );
    assert_eq!(
        (
            log[2].operation,
            log[2].method.as_str(),
            log[2].path.as_str()
        ),
        (Operation::JobResult, "GET", root.as_str())
    );
    for record in &log[1..] {
        assert_eq!(record.auth_scheme.as_deref(), Some("Key"));
        assert_eq!(record.body, None, "polls have no body");
        assert_eq!(record.endpoint, Some("flux_pro"));
        assert_eq!(record.status, Some(200));
    }
    assert!(
        log.iter()
            .all(|r| r.key_fingerprint == log[0].key_fingerprint),
        "the job is followed with the key that submitted it"
    );
}

#[tokio::test]
async fn fal_stable_audio_returns_the_audio_file() {
    let env = Env::start().await;
    let request = StableAudioRequest {
        prompt: "Rain on a tin roof".into(),
        seconds_total: Some(10),
        ..StableAudioRequest::default()
    };
    let job = env.sdk.fal().unwrap().stable_audio(request).await.unwrap();
    assert_eq!(
        job.output.audio_file.content_type.as_deref(),
        Some("audio/wav")
    );
    assert!(job.output.audio_file.url.ends_with(".wav"));

    let log = env.log("fal");
    assert_eq!(log.len(), 3);
    assert_call(&log[0], "POST", "/fal-ai/stable-audio", "Key", &FAL_KEYS);
    assert_eq!(
        log[0].body,
        Some(json!({"prompt": "Rain on a tin roof", "seconds_total": 10}))
    );
    let root = format!("/fal-ai/stable-audio/requests/{}", job.id);
    assert_eq!(log[1].path, format!("{root}/status"));
    assert_eq!(log[2].path, root);
}

#[tokio::test]
async fn kling_text_to_video_signs_a_jwt_and_polls_the_task() {
    let env = Env::start().await;
    let request = TextToVideoRequest {
        model_name: Some(KlingModel::KlingV16),
        prompt: "A red fox running through snow".into(),
        negative_prompt: Some("blurry".into()),
        cfg_scale: Some(0.5),
        mode: Some(KlingMode::Pro),
        aspect_ratio: Some(AspectRatio::Landscape),
        duration: Some(VideoDuration::Seconds5),
        external_task_id: Some("order-77".into()),
        ..TextToVideoRequest::default()
    };
    let job = env
        .sdk
        .kling()
        .unwrap()
        .text_to_video(request)
        .await
        .unwrap();
    assert!(!job.id.is_empty());
    assert_eq!(job.output.videos.len(), 1);
    assert!(job.output.videos[0].url.ends_with(".mp4"));
    assert_eq!(job.output.videos[0].duration.as_deref(), Some("5.1"));

    let log = env.log("kling");
    assert_eq!(log.len(), 2, "submit then one poll: {log:?}");
    // The simulator accepted the token only after checking its HS256 signature with the
    // pair's secret, its issuer and its times (the runtime's own verifier).
    assert_call(
        &log[0],
        "POST",
        "/v1/videos/text2video",
        "Bearer",
        &KLING_KEYS,
    );
    assert_eq!(
        log[0].body,
        Some(json!({
            "model_name": "kling-v1-6",
            "prompt": "A red fox running through snow",
            "negative_prompt": "blurry",
            "cfg_scale": 0.5,
            "mode": "pro",
            "aspect_ratio": "16:9",
            "duration": "5",
            "external_task_id": "order-77"
        }))
    );
    assert_eq!(
        (
            log[1].operation,
            log[1].method.as_str(),
            log[1].path.as_str()
        ),
        (
            Operation::TaskPoll,
            "GET",
            format!("/v1/videos/text2video/{}", job.id).as_str()
        )
    );
    assert_eq!(log[1].auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(log[1].key_fingerprint, log[0].key_fingerprint);
}

#[tokio::test]
async fn kling_tokens_signed_with_the_wrong_secret_are_refused() {
    let env = Env::start().await;
    // The right access key with a wrong secret: the signature does not verify.
    let sdk = Sdk::builder()
        .providers(media_sdk::PROVIDERS)
        .keys("kling", ["ak-e2e-access-one:not-the-secret"])
        .base_url("kling", env.sim.base_url("kling"))
        .build()
        .unwrap();
    let error = sdk
        .kling()
        .unwrap()
        .text_to_video(TextToVideoRequest::new("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::KeysExhausted {
                provider: "kling",
                ..
            }
        ),
        "{error:?}"
    );
    let log = env.log("kling");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].status, &log[0].outcome),
        (Some(401), &Outcome::Unauthorized)
    );
    assert!(!error.to_string().contains("not-the-secret"), "{error}");
}

#[tokio::test]
async fn elevenlabs_tts_encodes_the_voice_in_the_path_and_the_format_in_the_query() {
    let env = Env::start().await;
    let request = ElevenTtsRequest {
        voice_id: "my voice/é".into(),
        output_format: Some(ElevenOutputFormat::Pcm16000),
        enable_logging: Some(false),
        text: "Bonjour à tous".into(),
        model_id: Some(ElevenModel::ElevenFlashV25),
        seed: Some(7),
        ..ElevenTtsRequest::default()
    };
    let audio = env
        .sdk
        .elevenlabs()
        .unwrap()
        .text_to_speech(request)
        .await
        .unwrap();
    assert_eq!(audio.content_type, "audio/pcm");
    assert!(!audio.bytes.is_empty());
    let default_voice = env
        .sdk
        .elevenlabs()
        .unwrap()
        .text_to_speech(ElevenTtsRequest::new("Hello"))
        .await
        .unwrap();
    assert_eq!(default_voice.content_type, "audio/mpeg");

    let log = env.log("elevenlabs");
    assert_eq!(log.len(), 2);
    assert_call(
        &log[0],
        "POST",
        "/v1/text-to-speech/my%20voice%2F%C3%A9",
        "xi-api-key",
        &ELEVEN_KEYS,
    );
    assert_eq!(
        log[0].query,
        [
            ("output_format".to_owned(), "pcm_16000".to_owned()),
            ("enable_logging".to_owned(), "false".to_owned())
        ]
    );
    // Path and query fields are not in the body.
    assert_eq!(
        log[0].body,
        Some(json!({"text": "Bonjour à tous", "model_id": "eleven_flash_v2_5", "seed": 7}))
    );
    assert_call(
        &log[1],
        "POST",
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM",
        "xi-api-key",
        &ELEVEN_KEYS,
    );
    assert!(log[1].query.is_empty(), "None query fields are left out");
    assert_eq!(log[1].body, Some(json!({"text": "Hello"})));
}

#[tokio::test]
async fn invalid_requests_fail_before_any_network_call() {
    let env = Env::start().await;
    let openai = env.sdk.openai().unwrap();
    let cases: Vec<(&str, &str, Result<(), Error>)> = vec![
        (
            "speed out of 0.25..=4",
            "speed",
            openai
                .speech(SpeechRequest {
                    speed: Some(9.0),
                    ..SpeechRequest::new("fast")
                })
                .await
                .map(drop),
        ),
        (
            "input over 4096 characters",
            "input",
            openai
                .speech(SpeechRequest::new("x".repeat(5000)))
                .await
                .map(drop),
        ),
        (
            "dall-e-3 has no 256x256",
            "size",
            openai
                .images(ImageRequest {
                    model: Some(ImageModel::DallE3),
                    size: Some(ImageSize::S256),
                    ..ImageRequest::new("tiny")
                })
                .await
                .map(drop),
        ),
        (
            "empty prompt",
            "prompt",
            env.sdk
                .fal()
                .unwrap()
                .flux_pro(FluxProRequest::new(""))
                .await
                .map(drop),
        ),
        (
            "empty Kling prompt",
            "prompt",
            env.sdk
                .kling()
                .unwrap()
                .text_to_video(TextToVideoRequest::new(""))
                .await
                .map(drop),
        ),
        (
            "empty voice id",
            "voice_id",
            env.sdk
                .elevenlabs()
                .unwrap()
                .text_to_speech(ElevenTtsRequest {
                    voice_id: String::new(),
                    ..ElevenTtsRequest::new("hi")
                })
                .await
                .map(drop),
        ),
    ];
    for (proves, field, result) in cases {
        match result {
            Err(Error::Invalid { source, .. }) => assert_eq!(source.field, field, "{proves}"),
            other => panic!("{proves}: expected Error::Invalid, got {other:?}"),
        }
    }
    assert!(
        env.sim.requests().is_empty(),
        "no request reached the provider: {:?}",
        env.sim.requests()
    );
    assert!(
        env.telemetry.calls().is_empty(),
        "invalid requests say nothing about the provider's health"
    );
}
