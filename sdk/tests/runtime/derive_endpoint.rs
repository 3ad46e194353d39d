//! `#[derive(Endpoint)]` on hand-written request types: the emitted `SPEC`, path and query
//! parameters, the JSON body, decoding for each response kind, and validation.

use bytes::Bytes;
use media_sdk::spec::{EndpointSpec, JobFlow, JobSpec, Method, ResponseSpec};
use media_sdk::{Audio, Endpoint, Job, Validate, ValidationError};
use media_sdk::{DecodeError, ResponseBody};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum OutputFormat {
    #[serde(rename = "mp3_44100_128")]
    Mp3High,
    #[serde(rename = "pcm_16000")]
    Pcm16k,
}

/// Audio endpoint with a path parameter and three kinds of query parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Endpoint)]
#[serde(deny_unknown_fields)]
#[endpoint(
    provider = "elevenlabs",
    id = "text_to_speech",
    health_id = "elevenlabs-tts",
    method = "post",
    path = "/v1/text-to-speech/{voice_id}",
    response = "audio",
    content_type = "audio/mpeg"
)]
struct TtsRequest {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    voice_id: String,
    #[endpoint(query)]
    #[serde(skip_serializing, default)]
    output_format: Option<OutputFormat>,
    #[endpoint(query)]
    #[serde(skip_serializing, default)]
    enable_logging: Option<bool>,
    #[endpoint(query)]
    #[serde(skip_serializing, default, rename = "latency")]
    optimize_streaming_latency: Option<u8>,
    text: String,
}

impl Validate for TtsRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.text.is_empty() {
            return Err(ValidationError::new("text", "must not be empty"));
        }
        Ok(())
    }
}

fn tts() -> TtsRequest {
    TtsRequest {
        voice_id: "voice 1".into(),
        output_format: Some(OutputFormat::Pcm16k),
        enable_logging: Some(false),
        optimize_streaming_latency: Some(3),
        text: "hello".into(),
    }
}

/// JSON endpoint without path or query parameters, in a module to exercise a type path.
mod images {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct ImagesResponse {
        pub created: u64,
        pub data: Vec<Image>,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct Image {
        pub url: String,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, media_sdk::Endpoint)]
    #[endpoint(
        provider = "openai",
        id = "images",
        health_id = "openai-images",
        method = "POST",
        path = "/v1/images/generations",
        response = "json",
        output = super::images::ImagesResponse
    )]
    pub struct ImagesRequest {
        pub prompt: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub n: Option<u8>,
    }

    impl media_sdk::Validate for ImagesRequest {}
}
use images::{ImagesRequest, ImagesResponse};

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct FluxOutput {
    images: Vec<images::Image>,
    seed: u64,
}

/// fal queue job with defaults for the poll interval and timeout; split attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Endpoint)]
#[endpoint(provider = "fal", id = "flux_pro", health_id = "fal-flux-pro")]
#[endpoint(method = "POST", path = "/fal-ai/flux-pro/v1.1")]
#[endpoint(response = "job", flow = "fal_queue", output = FluxOutput)]
struct FluxRequest {
    prompt: String,
}

impl Validate for FluxRequest {}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct VideoResult {
    videos: Vec<Video>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Video {
    id: String,
    url: String,
}

/// Kling task job with every job key set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "kling",
    id = "text_to_video",
    health_id = "kling-video",
    method = "POST",
    path = "/v1/videos/text2video",
    response = "job",
    output = VideoResult,
    flow = "kling_task",
    poll_path = "/v1/videos/text2video/{task_id}",
    poll_interval_ms = 2000,
    timeout_ms = 900_000,
)]
struct VideoRequest {
    prompt: String,
    duration: String,
}

impl Validate for VideoRequest {}

/// GET endpoint whose only parameter is in the query; its body is empty (`{}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "openai",
    id = "model",
    health_id = "openai-models",
    method = "Get",
    path = "/v1/models/{model}",
    response = "json",
    output = serde_json::Value,
    max_body_bytes = 4096
)]
struct ModelRequest {
    #[endpoint(path)]
    #[serde(skip)]
    model: String,
    #[endpoint(query)]
    #[serde(skip)]
    r#type: Option<String>,
}

impl Validate for ModelRequest {}

fn body(bytes: &'static [u8], content_type: Option<&str>, job_id: Option<&str>) -> ResponseBody {
    ResponseBody {
        bytes: Bytes::from_static(bytes),
        content_type: content_type.map(str::to_owned),
        job_id: job_id.map(str::to_owned),
    }
}

#[test]
fn audio_spec_has_every_key_and_normalises_the_method() {
    assert_eq!(
        TtsRequest::SPEC,
        EndpointSpec {
            provider: "elevenlabs",
            id: "text_to_speech",
            health_id: "elevenlabs-tts",
            method: Method::Post,
            path: "/v1/text-to-speech/{voice_id}",
            response: ResponseSpec::Audio {
                content_type: "audio/mpeg",
                stream: None,
            },
            max_body_bytes: None,
        }
    );
    assert_eq!(ModelRequest::SPEC.method, Method::Get);
    assert_eq!(ModelRequest::SPEC.max_body_bytes, Some(4096));
}

#[test]
fn json_spec_has_no_job() {
    assert_eq!(ImagesRequest::SPEC.response, ResponseSpec::Json);
    assert_eq!(ImagesRequest::SPEC.path, "/v1/images/generations");
    assert_eq!(ImagesRequest::SPEC.health_id, "openai-images");
}

#[test]
fn fal_queue_job_uses_default_interval_and_timeout() {
    assert_eq!(FluxRequest::SPEC.provider, "fal");
    assert_eq!(
        FluxRequest::SPEC.response,
        ResponseSpec::Job(JobSpec {
            flow: JobFlow::FalQueue,
            poll_interval_ms: 1000,
            timeout_ms: 600_000,
        })
    );
}

#[test]
fn kling_task_job_carries_poll_path_and_timings() {
    assert_eq!(
        VideoRequest::SPEC.response,
        ResponseSpec::Job(JobSpec {
            flow: JobFlow::KlingTask {
                poll_path: "/v1/videos/text2video/{task_id}"
            },
            poll_interval_ms: 2000,
            timeout_ms: 900_000,
        })
    );
}

#[test]
fn path_params_are_rendered_unencoded() {
    assert_eq!(tts().path_params(), [("voice_id", "voice 1".to_owned())]);
}

#[test]
fn query_params_use_wire_names_and_json_spelling() {
    assert_eq!(
        tts().query_params(),
        [
            ("output_format", "pcm_16000".to_owned()),
            ("enable_logging", "false".to_owned()),
            ("latency", "3".to_owned()),
        ]
    );
    let other = TtsRequest {
        output_format: Some(OutputFormat::Mp3High),
        ..tts()
    };
    assert_eq!(
        other.query_params()[0],
        ("output_format", "mp3_44100_128".to_owned())
    );
}

#[test]
fn absent_query_params_are_left_out() {
    let request = TtsRequest {
        output_format: None,
        enable_logging: None,
        ..tts()
    };
    assert_eq!(request.query_params(), [("latency", "3".to_owned())]);
    let request = TtsRequest {
        optimize_streaming_latency: None,
        ..request
    };
    assert!(request.query_params().is_empty());
}

#[test]
fn raw_identifiers_are_named_without_the_prefix() {
    let request = ModelRequest {
        model: "tts-1".into(),
        r#type: Some("audio".into()),
    };
    assert_eq!(request.path_params(), [("model", "tts-1".to_owned())]);
    assert_eq!(request.query_params(), [("type", "audio".to_owned())]);
}

#[test]
fn endpoints_without_params_return_none() {
    let request = ImagesRequest {
        prompt: "a cat".into(),
        n: None,
    };
    assert!(request.path_params().is_empty());
    assert!(request.query_params().is_empty());
}

#[test]
fn body_leaves_out_path_and_query_fields() {
    let body = serde_json::to_value(tts()).unwrap();
    assert_eq!(body, serde_json::json!({ "text": "hello" }));
    let model = ModelRequest {
        model: "tts-1".into(),
        r#type: None,
    };
    assert_eq!(serde_json::to_value(model).unwrap(), serde_json::json!({}));
}

#[test]
fn full_request_is_rebuilt_from_path_query_and_body() {
    // What the simulator does: merge path + query into the body object and deserialize.
    let expected = tts();
    let mut object = serde_json::to_value(&expected).unwrap();
    let map = object.as_object_mut().unwrap();
    map.insert("voice_id".into(), "voice 1".into());
    map.insert("output_format".into(), "pcm_16000".into());
    map.insert("enable_logging".into(), false.into());
    map.insert("latency".into(), 3.into());
    let rebuilt: TtsRequest = serde_json::from_value(object).unwrap();
    assert_eq!(rebuilt, expected);
}

#[test]
fn audio_decode_uses_the_response_content_type_or_the_default() {
    let audio = TtsRequest::decode(body(b"ID3", Some("audio/wav"), None)).unwrap();
    assert_eq!(audio.content_type, "audio/wav");
    let audio: Audio = TtsRequest::decode(body(b"ID3", None, None)).unwrap();
    assert_eq!(audio.content_type, "audio/mpeg");
    assert_eq!(&audio.bytes[..], b"ID3");
    let error = TtsRequest::decode(body(b"{}", Some("application/json"), None)).unwrap_err();
    assert!(error.0.contains("expected audio"), "{error}");
}

#[test]
fn json_decode_builds_the_output_type() {
    let decoded: ImagesResponse = ImagesRequest::decode(body(
        br#"{"created": 7, "data": [{"url": "https://x/y.png"}]}"#,
        Some("application/json"),
        None,
    ))
    .unwrap();
    assert_eq!(decoded.created, 7);
    assert_eq!(decoded.data[0].url, "https://x/y.png");
    let error: DecodeError =
        ImagesRequest::decode(body(br#"{"created": 7}"#, None, None)).unwrap_err();
    assert!(error.0.contains("data"), "{error}");
}

#[test]
fn job_decode_keeps_the_job_id() {
    let job: Job<FluxOutput> = FluxRequest::decode(body(
        br#"{"images": [{"url": "https://fal/a.jpg"}], "seed": 42}"#,
        None,
        Some("req-123"),
    ))
    .unwrap();
    assert_eq!(job.id, "req-123");
    assert_eq!(job.output.seed, 42);

    let job = VideoRequest::decode(body(
        br#"{"videos": [{"id": "v1", "url": "https://kling/v1.mp4", "duration": "5"}]}"#,
        None,
        Some("task-9"),
    ))
    .unwrap();
    assert_eq!(job.id, "task-9");
    assert_eq!(
        job.output.videos,
        [Video {
            id: "v1".into(),
            url: "https://kling/v1.mp4".into()
        }]
    );
}

#[test]
fn endpoints_are_validated_through_their_validate_impl() {
    fn check<E: Endpoint>(request: &E) -> Result<(), ValidationError> {
        request.validate()
    }
    assert_eq!(check(&tts()), Ok(()));
    let empty = TtsRequest {
        text: String::new(),
        ..tts()
    };
    assert_eq!(
        check(&empty),
        Err(ValidationError::new("text", "must not be empty"))
    );
    let video = VideoRequest {
        prompt: "a cat".into(),
        duration: "5".into(),
    };
    assert_eq!(check(&video), Ok(()));
}
