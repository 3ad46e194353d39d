//! Bodies and parameters the real providers refuse, refused in each provider's shape; and the
//! success bodies of accepted requests.

use crate::sim_support;

use media_sdk_sim::{Dialect, Outcome, Simulator};
use serde_json::json;
use sim_support::*;

#[tokio::test]
async fn openai_refuses_with_400_and_names_the_param() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let key = OPENAI_KEYS[0];

    struct Case {
        proves: &'static str,
        body: &'static str,
        param: serde_json::Value,
    }
    let cases = [
        Case {
            proves: "a limit from validate()",
            body: r#"{"model":"tts-1","input":"hi","voice":"alloy","speed":9.0}"#,
            param: json!("speed"),
        },
        Case {
            proves: "a missing required field",
            body: r#"{"model":"tts-1","voice":"alloy"}"#,
            param: json!("input"),
        },
        Case {
            proves: "a field the endpoint does not have",
            body: r#"{"model":"tts-1","input":"hi","voice":"alloy","volume":11}"#,
            param: json!("volume"),
        },
        Case {
            proves: "a value outside the enum",
            body: r#"{"model":"tts-1","input":"hi","voice":"alloy","response_format":"midi"}"#,
            param: json!("response_format"),
        },
        Case {
            proves: "a body that is not JSON",
            body: r#"{"model": "tts-1", "#,
            param: json!(null),
        },
    ];
    for case in cases {
        let answer = openai.post_raw("/v1/audio/speech", case.body, key).await;
        assert_eq!(answer.status, 400, "{}", case.proves);
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{}", case.proves);
        assert_eq!(error["param"], case.param, "{}", case.proves);
        assert!(
            error["message"].as_str().unwrap().len() > 5,
            "{}",
            case.proves
        );
        assert!(
            error.get("code").is_some(),
            "{}: code is present (null)",
            case.proves
        );
    }
    assert!(sim.requests().iter().all(|r| r.outcome == Outcome::Invalid));
}

#[tokio::test]
async fn fal_and_elevenlabs_refuse_with_a_422_detail_list() {
    let sim = all_providers().start().await.unwrap();

    let fal = Caller::new(&sim, &FAL);
    let answer = fal
        .post_raw(
            "/fal-ai/flux-pro/v1.1",
            r#"{"prompt":"x","num_images":9}"#,
            FAL_KEYS[0],
        )
        .await;
    assert_eq!(answer.status, 422);
    let detail = &answer.json()["detail"][0];
    assert_eq!(detail["loc"], json!(["body", "num_images"]));
    assert_eq!(detail["type"], "value_error");
    assert!(detail["msg"].as_str().unwrap().contains("between 1 and 4"));

    let missing = fal
        .post_raw("/fal-ai/stable-audio", "{}", FAL_KEYS[0])
        .await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.json()["detail"][0],
        json!({"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"})
    );

    let eleven = Caller::new(&sim, &ELEVENLABS);
    let request = ElevenTtsRequest {
        output_format: Some("wav_96000".into()),
        ..ElevenTtsRequest::new("v1", "Hi")
    };
    let answer = eleven.call(&request, ELEVEN_KEYS[0]).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.json()["detail"][0]["loc"],
        json!(["query", "output_format"]),
        "query parameters are located in the query"
    );
}

#[tokio::test]
async fn kling_refuses_with_code_1201_in_its_envelope() {
    let sim = all_providers().start().await.unwrap();
    let kling = Caller::new(&sim, &KLING);
    let request = TextToVideoRequest {
        duration: Some("7".into()),
        ..TextToVideoRequest::new("A fox")
    };
    let answer = kling.call(&request, KLING_KEYS[0]).await;
    assert_eq!(answer.status, 400);
    let body = answer.json();
    assert_eq!(body["code"], 1201);
    assert!(body["message"].as_str().unwrap().contains("duration"));
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn query_strings_become_booleans_where_the_request_wants_them() {
    let sim = all_providers().start().await.unwrap();
    let eleven = Caller::new(&sim, &ELEVENLABS);
    let request = ElevenTtsRequest {
        output_format: Some("pcm_16000".into()),
        enable_logging: Some(false),
        model_id: Some("eleven_flash_v2_5".into()),
        ..ElevenTtsRequest::new("21m00Tcm4TlvDq8ikWAM", "Zero retention, please.")
    };
    let answer = eleven.call(&request, ELEVEN_KEYS[1]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("audio/pcm"));

    let record = &sim.requests()[0];
    assert_eq!(
        record.query,
        vec![
            ("output_format".to_owned(), "pcm_16000".to_owned()),
            ("enable_logging".to_owned(), "false".to_owned()),
        ]
    );
    assert_eq!(record.path, "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM");

    let response = eleven
        .http
        .post(format!(
            "{}/v1/text-to-speech/v?enable_logging=maybe",
            eleven.base
        ))
        .header("xi-api-key", ELEVEN_KEYS[1])
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    let refused = Answer::read(response).await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.json()["detail"][0]["loc"],
        json!(["query", "enable_logging"])
    );
}

#[tokio::test]
async fn audio_answers_look_like_the_requested_format() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let mp3 = openai
        .call(&SpeechRequest::new("Hello there."), OPENAI_KEYS[0])
        .await;
    assert_eq!(mp3.header("content-type"), Some("audio/mpeg"));
    assert!(mp3.bytes.starts_with(b"ID3"));
    let frame = mp3.bytes.windows(2).position(|w| w == [0xFF, 0xFB]);
    assert!(frame.is_some(), "an MPEG frame header follows the tag");

    let again = openai
        .call(&SpeechRequest::new("Hello there."), OPENAI_KEYS[1])
        .await;
    assert_eq!(again.bytes, mp3.bytes, "same input, same bytes");

    for (format, content_type, magic) in [
        (SpeechFormat::Wav, "audio/wav", &b"RIFF"[..]),
        (SpeechFormat::Flac, "audio/flac", b"fLaC"),
        (SpeechFormat::Opus, "audio/opus", b"OggS"),
        (SpeechFormat::Aac, "audio/aac", &[0xFF, 0xF1]),
    ] {
        let request = SpeechRequest {
            response_format: Some(format),
            ..SpeechRequest::new("Hello there.")
        };
        let answer = openai.call(&request, OPENAI_KEYS[0]).await;
        assert_eq!(answer.header("content-type"), Some(content_type));
        assert!(answer.bytes.starts_with(magic), "{content_type}");
    }
}

#[tokio::test]
async fn image_examples_follow_n_and_the_clock() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let request = ImageRequest {
        model: Some("dall-e-2".into()),
        n: Some(3),
        ..ImageRequest::new("A cat in a hat")
    };
    let answer = openai.call(&request, OPENAI_KEYS[0]).await;
    assert_eq!(answer.status, 200);
    let images: ImagesResponse = serde_json::from_slice(&answer.bytes).unwrap();
    assert_eq!(images.data.len(), 3);
    assert!(
        images.created > 1_713_833_628,
        "created is now, not the example's"
    );
    assert!(answer.header("x-request-id").unwrap().starts_with("req_"));
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_dialect() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let answer = openai.post_raw("/v1/nothing", "{}", OPENAI_KEYS[0]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.json()["error"]["message"],
        "Invalid URL (POST /v1/nothing)"
    );

    let kling = Caller::new(&sim, &KLING);
    let answer = kling
        .post_raw("/v1/videos/image2video", "{}", KLING_KEYS[0])
        .await;
    assert_eq!(
        (answer.status, answer.json()["code"].as_i64()),
        (404, Some(1203))
    );
    assert_eq!(sim.requests()[1].outcome, Outcome::NotFound);
}

#[tokio::test]
async fn dialects_come_from_the_id_or_the_spec_hints() {
    let sim = all_providers()
        .provider(&ACME, Vec::new())
        .start()
        .await
        .unwrap();
    assert_eq!(sim.dialect("openai"), Dialect::OpenAi);
    assert_eq!(sim.dialect("fal"), Dialect::Fal);
    assert_eq!(sim.dialect("kling"), Dialect::Kling);
    assert_eq!(sim.dialect("elevenlabs"), Dialect::ElevenLabs);
    assert_eq!(
        sim.dialect("acme"),
        Dialect::OpenAi,
        "`/error/message` pointers"
    );

    let overridden = Simulator::builder()
        .provider(&ACME, Vec::new())
        .dialect("acme", Dialect::Generic)
        .start()
        .await
        .unwrap();
    let acme = Caller::new(&overridden, &ACME);
    let answer = acme.post_raw("/v1/x", "{}", "k").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn start_refuses_inconsistent_settings() {
    let unknown = Simulator::builder()
        .provider(&OPENAI, openai_routes())
        .keys("fal", FAL_KEYS)
        .start()
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("`fal`"), "{unknown}");

    let foreign = Simulator::builder()
        .provider(&OPENAI, fal_routes())
        .start()
        .await
        .unwrap_err();
    assert!(foreign.to_string().contains("fal/flux_pro"), "{foreign}");

    let bad_pair = Simulator::builder()
        .provider(&KLING, kling_routes())
        .keys("kling", ["no-colon"])
        .start()
        .await
        .unwrap_err();
    assert!(
        bad_pair.to_string().contains("access_key:secret_key"),
        "{bad_pair}"
    );
    assert!(
        !bad_pair.to_string().contains("no-colon"),
        "the key is not echoed"
    );

    // A hand-built route whose path is not a template is refused at start, not left unmatched.
    let mut routes = openai_routes();
    routes[0].spec.path = "/v1/audio/{speech";
    let bad_path = Simulator::builder()
        .provider(&OPENAI, routes)
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        bad_path.to_string(),
        format!(
            "path of `openai/{}` has a `{{` at position 11 that is never closed",
            openai_routes()[0].spec.id
        )
    );
}
