//! Behaviour of the checked-in generated clients (`media_sdk::generated`): construction,
//! serde forms of open and custom enums, validation limits and rules, path and query
//! parameters, and the provider descriptors.

use media_sdk::Endpoint;
use media_sdk::Validate;
use media_sdk::spec::{AudioEvents, AuthScheme, JobFlow, ResponseSpec, StreamSpec};
use media_sdk::{PROVIDERS, elevenlabs, fal, kling, openai};
use serde_json::json;

use elevenlabs::{ElevenOutputFormat, ElevenTtsRequest, VoiceSettings};
use fal::{FalImageSize, FluxProRequest};
use openai::{ImageModel, ImageRequest, ImageSize, SpeechModel, SpeechRequest, Voice};

fn invalid(request: &impl Validate) -> (String, String) {
    let err = request.validate().expect_err("request is invalid");
    (err.field.to_owned(), err.message)
}

#[test]
fn requests_build_from_default_and_new() {
    let request = SpeechRequest {
        input: "hi".into(),
        voice: Voice::Nova,
        speed: Some(1.0),
        ..Default::default()
    };
    assert_eq!(
        request.model,
        SpeechModel::Tts1,
        "required field with a default"
    );
    assert_eq!(request.instructions, None);
    assert_eq!(
        serde_json::to_value(&request).expect("serialize"),
        json!({"model": "tts-1", "input": "hi", "voice": "nova", "speed": 1.0}),
        "absent optional fields are not sent"
    );
    assert_eq!(SpeechRequest::new("hi").voice, Voice::Alloy);
    assert_eq!(ImageRequest::new("a cat").prompt, "a cat");
    assert_eq!(
        ElevenTtsRequest::new("hello").voice_id,
        "21m00Tcm4TlvDq8ikWAM",
        "required path field with a default"
    );
}

#[test]
fn custom_enum_variants_serialize_as_their_object() {
    let voice = Voice::Custom {
        id: "voice_1234".into(),
    };
    assert_eq!(
        serde_json::to_value(&voice).expect("ser"),
        json!({"id": "voice_1234"})
    );
    assert_eq!(
        serde_json::from_value::<Voice>(json!({"id": "voice_1234"})).expect("de"),
        voice
    );
    assert_eq!(
        serde_json::from_value::<Voice>(json!("coral")).expect("de"),
        Voice::Coral
    );
    assert!(
        serde_json::from_value::<Voice>(json!("robot")).is_err(),
        "a closed enum refuses unknown strings"
    );
    let size = FalImageSize::Custom {
        width: 1792,
        height: 1024,
    };
    assert_eq!(
        serde_json::to_value(&size).expect("ser"),
        json!({"width": 1792, "height": 1024})
    );
    assert_eq!(
        serde_json::from_value::<FalImageSize>(json!({"width": 1792, "height": 1024})).expect("de"),
        size
    );
    assert_eq!(
        serde_json::to_value(FalImageSize::Landscape169).expect("ser"),
        json!("landscape_16_9")
    );
}

#[test]
fn open_enums_keep_unknown_values() {
    let model: SpeechModel = serde_json::from_value(json!("tts-9")).expect("de");
    assert_eq!(model, SpeechModel::Other("tts-9".into()));
    assert_eq!(model.as_str(), "tts-9");
    assert_eq!(serde_json::to_value(&model).expect("ser"), json!("tts-9"));
    let known: SpeechModel = serde_json::from_value(json!("gpt-4o-mini-tts")).expect("de");
    assert_eq!(known, SpeechModel::Gpt4oMiniTts);
}

#[test]
fn field_limits_are_checked_and_name_the_field() {
    assert_eq!(
        invalid(&SpeechRequest::new("")),
        ("input".into(), "must not be empty".into())
    );
    let fast = SpeechRequest {
        speed: Some(9.0),
        ..SpeechRequest::new("hi")
    };
    assert_eq!(
        invalid(&fast),
        ("speed".into(), "must be between 0.25 and 4.0, got 9".into())
    );
    let custom = SpeechRequest {
        voice: Voice::Custom { id: String::new() },
        ..SpeechRequest::new("hi")
    };
    assert_eq!(
        invalid(&custom),
        ("voice.id".into(), "must not be empty".into())
    );
    let settings = ElevenTtsRequest {
        voice_settings: Some(VoiceSettings {
            speed: Some(2.0),
            ..Default::default()
        }),
        ..ElevenTtsRequest::new("hello")
    };
    assert_eq!(
        invalid(&settings),
        (
            "voice_settings.speed".into(),
            "must be between 0.7 and 1.2, got 2".into()
        )
    );
    let too_many = ElevenTtsRequest {
        previous_request_ids: Some(vec!["a".into(); 4]),
        ..ElevenTtsRequest::new("hello")
    };
    assert_eq!(
        invalid(&too_many),
        (
            "previous_request_ids".into(),
            "must have at most 3 items, got 4".into()
        )
    );
    let huge = FluxProRequest {
        image_size: Some(FalImageSize::Custom {
            width: 20000,
            height: 10,
        }),
        ..FluxProRequest::new("a lighthouse")
    };
    assert_eq!(
        invalid(&huge),
        (
            "image_size.width".into(),
            "must be between 1 and 14142, got 20000".into()
        )
    );
}

#[test]
fn lengths_count_characters_not_bytes() {
    // 1000 Japanese characters are 3000 bytes: within dall-e-2's 1000-character limit.
    let at_limit = ImageRequest::new("猫".repeat(1000));
    assert_eq!(Validate::validate(&at_limit), Ok(()));
    assert_eq!(
        invalid(&ImageRequest::new("猫".repeat(1001))),
        (
            "prompt".into(),
            "must be at most 1000 characters for dall-e-2, got 1001".into()
        )
    );
}

#[test]
fn model_rules_use_the_effective_model() {
    // No model given: the default dall-e-2 applies.
    let request = ImageRequest {
        size: Some(ImageSize::Landscape1792),
        ..ImageRequest::new("a cat")
    };
    assert_eq!(
        invalid(&request),
        (
            "size".into(),
            "size 1792x1024 is not available for dall-e-2; expected one of 256x256, 512x512, 1024x1024".into()
        )
    );
    let dalle3 = ImageRequest {
        model: Some(ImageModel::DallE3),
        ..request.clone()
    };
    assert_eq!(Validate::validate(&dalle3), Ok(()));
    let two = ImageRequest {
        n: Some(2),
        ..dalle3
    };
    assert_eq!(
        invalid(&two),
        ("n".into(), "must be at most 1 for dall-e-3, got 2".into())
    );
    let tts1 = SpeechRequest {
        instructions: Some("whisper".into()),
        ..SpeechRequest::new("hi")
    };
    assert_eq!(
        invalid(&tts1),
        ("instructions".into(), "is not supported by tts-1".into())
    );
    // An unknown (open) model skips the model rules.
    let other = ImageRequest {
        model: Some(ImageModel::Other("dall-e-9".into())),
        size: Some(ImageSize::Landscape1792),
        style: Some(openai::ImageStyle::Vivid),
        ..ImageRequest::new("a cat")
    };
    assert_eq!(Validate::validate(&other), Ok(()));
}

#[test]
fn path_and_query_fields_stay_out_of_the_body() {
    let request = ElevenTtsRequest {
        voice_id: "voice-7".into(),
        output_format: Some(ElevenOutputFormat::Pcm16000),
        ..ElevenTtsRequest::new("hello")
    };
    assert_eq!(request.path_params(), [("voice_id", "voice-7".to_owned())]);
    assert_eq!(
        request.query_params(),
        [("output_format", "pcm_16000".to_owned())]
    );
    assert_eq!(
        serde_json::to_value(&request).expect("ser"),
        json!({"text": "hello"})
    );
    // The simulator rebuilds the full request from path + query + body.
    let rebuilt: ElevenTtsRequest = serde_json::from_value(json!({
        "voice_id": "voice-7", "output_format": "pcm_16000", "text": "hello"
    }))
    .expect("de");
    assert_eq!(rebuilt, request);
    assert!(
        serde_json::from_value::<ElevenTtsRequest>(
            json!({"voice_id": "v", "text": "t", "colour": 1})
        )
        .is_err(),
        "unknown request fields are refused"
    );
}

#[test]
fn examples_decode_into_their_output_types() {
    use media_sdk_sim::providers;
    let images: openai::ImagesResponse =
        serde_json::from_str(providers::openai::IMAGES_EXAMPLE).expect("images");
    assert_eq!(images.created, 1713833628);
    let flux: fal::FluxProOutput =
        serde_json::from_str(providers::fal::FLUX_PRO_EXAMPLE).expect("flux");
    assert_eq!(flux.images[0].width, Some(1024));
    let audio: fal::StableAudioOutput =
        serde_json::from_str(providers::fal::STABLE_AUDIO_EXAMPLE).expect("audio");
    assert_eq!(audio.audio_file.file_name.as_deref(), Some("audio.wav"));
    let video: kling::VideoTaskResult =
        serde_json::from_str(providers::kling::TEXT_TO_VIDEO_EXAMPLE).expect("video");
    assert_eq!(video.videos[0].duration.as_deref(), Some("5.1"));
    // Responses accept fields the spec does not list.
    let extra: openai::ImagesResponse =
        serde_json::from_value(json!({"created": 1, "data": [], "new_field": true}))
            .expect("lenient");
    assert!(extra.data.is_empty());
}

#[test]
fn streaming_endpoints_carry_their_stream_in_the_descriptor() {
    // OpenAI streams from the speech path itself, and decodes server-sent events.
    assert_eq!(
        SpeechRequest::SPEC.response,
        ResponseSpec::Audio {
            content_type: "audio/mpeg",
            stream: Some(StreamSpec {
                path: None,
                idle_timeout_ms: 10_000,
                max_bytes: 512 << 20,
                events: Some(AudioEvents {
                    type_field: "type",
                    delta: "speech.audio.delta",
                    audio_field: "audio",
                    done: "speech.audio.done",
                }),
            }),
        }
    );
    // ElevenLabs streams from a path of its own, with the same placeholder; the simulator
    // serves it from this descriptor.
    assert_eq!(
        ElevenTtsRequest::SPEC.response,
        ResponseSpec::Audio {
            content_type: "audio/mpeg",
            stream: Some(StreamSpec {
                path: Some("/v1/text-to-speech/{voice_id}/stream"),
                idle_timeout_ms: 10_000,
                max_bytes: 512 << 20,
                events: None,
            }),
        }
    );
    let descriptor = elevenlabs::PROVIDER
        .endpoint("text_to_speech")
        .expect("endpoint");
    assert_eq!(descriptor.response, ElevenTtsRequest::SPEC.response);
}

/// The derive's defaults for a bare `stream` are the spec's (`defaults.stream` left out), so a
/// hand-written request streams under the same bounds as a generated one.
#[test]
fn a_bare_derive_stream_takes_the_spec_defaults() {
    #[derive(serde::Serialize, Endpoint)]
    #[endpoint(
        provider = "p",
        id = "s",
        health_id = "p-s",
        method = "POST",
        path = "/s"
    )]
    #[endpoint(response = "audio", stream)]
    struct Bare {}
    impl Validate for Bare {}

    let ResponseSpec::Audio {
        stream: Some(stream),
        ..
    } = Bare::SPEC.response
    else {
        panic!("a streaming audio endpoint: {:?}", Bare::SPEC.response);
    };
    assert_eq!(
        (stream.idle_timeout_ms, stream.max_bytes),
        (
            xtask::spec::DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            xtask::spec::DEFAULT_STREAM_MAX_BYTES
        )
    );
    assert_eq!((stream.path, stream.events), (None, None));
}

#[test]
fn provider_descriptors_follow_the_spec() {
    let ids: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
    assert_eq!(ids, ["openai", "fal", "kling", "elevenlabs"]);
    assert_eq!(openai::PROVIDER.auth, AuthScheme::Bearer);
    assert_eq!(openai::PROVIDER.keys.recommended_min, 3);
    assert_eq!(
        elevenlabs::PROVIDER.auth,
        AuthScheme::Header {
            header: "xi-api-key"
        }
    );
    assert_eq!(
        kling::PROVIDER.auth,
        AuthScheme::KlingJwt { ttl_secs: 1800 }
    );
    assert_eq!(kling::PROVIDER.envelope.map(|e| e.data), Some("/data"));
    assert_eq!(elevenlabs::PROVIDER.errors.busy, ["system_busy"]);
    assert_eq!(fal::PROVIDER.retry.retry_statuses, [500, 502, 503, 504]);
    let endpoints: Vec<(&str, &str)> = PROVIDERS
        .iter()
        .flat_map(|p| p.endpoints.iter().map(|e| (e.provider, e.id)))
        .collect();
    assert_eq!(
        endpoints,
        [
            ("openai", "speech"),
            ("openai", "images"),
            ("fal", "flux_pro"),
            ("fal", "stable_audio"),
            ("kling", "text_to_video"),
            ("elevenlabs", "text_to_speech"),
        ]
    );
    let video = kling::PROVIDER.endpoint("text_to_video").expect("endpoint");
    match video.response {
        ResponseSpec::Job(job) => {
            assert_eq!(
                job.flow,
                JobFlow::KlingTask {
                    poll_path: "/v1/videos/text2video/{task_id}"
                }
            );
            assert_eq!((job.poll_interval_ms, job.timeout_ms), (2000, 900000));
        }
        other => panic!("expected a job, got {other:?}"),
    }
    assert_eq!(
        <FluxProRequest as Endpoint>::SPEC,
        *fal::PROVIDER.endpoint("flux_pro").expect("endpoint")
    );
}

/// What codegen's checks of `example_request` promise: each example request of
/// `media_sdk::ENDPOINTS` decodes into its endpoint's request type and passes its limits and
/// rules, as `DynEndpoint::call` will need.
#[test]
fn every_example_request_decodes_into_its_request_type_and_validates() {
    fn check<E: serde::de::DeserializeOwned + Validate + Endpoint>() -> String {
        let id = format!("{}.{}", E::SPEC.provider, E::SPEC.id);
        let endpoint = media_sdk::ENDPOINTS
            .iter()
            .find(|e| e.spec().provider == E::SPEC.provider && e.spec().id == E::SPEC.id)
            .unwrap_or_else(|| panic!("{id} is in ENDPOINTS"));
        let request: E = serde_json::from_value(endpoint.example_request())
            .unwrap_or_else(|e| panic!("the example request of {id} decodes: {e}"));
        if let Err(e) = request.validate() {
            panic!("the example request of {id} is valid: {e:?}");
        }
        id
    }
    let checked = [
        check::<SpeechRequest>(),
        check::<ImageRequest>(),
        check::<FluxProRequest>(),
        check::<fal::StableAudioRequest>(),
        check::<kling::TextToVideoRequest>(),
        check::<ElevenTtsRequest>(),
    ];
    // Every endpoint of the spec is covered, in spec order.
    let all: Vec<String> = media_sdk::ENDPOINTS
        .iter()
        .map(|e| format!("{}.{}", e.spec().provider, e.spec().id))
        .collect();
    assert_eq!(all, checked);
}
