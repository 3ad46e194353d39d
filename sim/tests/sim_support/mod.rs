//! Shared by the `sim_*` tests: the generated provider descriptors under short names, request
//! types implementing `Endpoint` by hand (as `#[derive(Endpoint)]` would), and small HTTP helpers.
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use media_sdk::spec::{AuthScheme, EndpointSpec, ErrorRules, KeySource, ProviderSpec};
use media_sdk::{Audio, Endpoint, Job, Validate, ValidationError};
use media_sdk::{DecodeError, ResponseBody};
use media_sdk::{elevenlabs, fal, kling, openai};
use media_sdk_sim::{SimRoute, Simulator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[path = "../../../sdk/tests/support/logs.rs"]
mod logs;
pub use logs::{Logs, capture_logs};

// ---------------------------------------------------------------------------------------------
// Provider descriptors: the generated ones. The simulator reads only a provider's id, auth scheme
// and error pointers (for its dialect); the routes below serve the hand-written request types.

pub use media_sdk::elevenlabs::PROVIDER as ELEVENLABS;
pub use media_sdk::fal::PROVIDER as FAL;
pub use media_sdk::kling::PROVIDER as KLING;
pub use media_sdk::openai::PROVIDER as OPENAI;

/// A provider the simulator does not know by id: its dialect comes from the spec's hints.
pub static ACME: ProviderSpec = ProviderSpec {
    id: "acme",
    name: "Acme",
    base_url: "https://api.acme.example",
    base_url_env: "ACME_BASE_URL",
    auth: AuthScheme::Bearer,
    keys: KeySource {
        env: "ACME_KEYS",
        legacy_env: None,
        recommended_min: 2,
        recommended_max: 3,
        secrets_manager: None,
        reload_secs: 300,
        daily_budget: None,
    },
    errors: ErrorRules {
        message: &["/error/message"],
        code: &["/error/code"],
        rate_limited: &[],
        quarantine: &[],
        busy: &[],
        retryable: &[],
    },
    endpoints: &[],
    ..OPENAI
};

// ---------------------------------------------------------------------------------------------
// Request types, with `Endpoint` implemented by hand for the generated endpoint descriptors.
// They are kept rather than replaced by the generated request types on purpose: their loose field
// types (`String`, `Value`) let the tests send values the generated enums cannot express (a Kling
// duration of "7", an ElevenLabs output format "wav_96000"), and the simulator's refusals and
// their messages, which the `sim_*` tests assert on, come from these types' `validate`.

/// `Endpoint` for a hand-written request type with neither path nor query parameters, on the
/// descriptor of the generated request type `$generated`; `$decode` turns the body into `$output`.
macro_rules! body_only_endpoint {
    ($ty:ty, $output:ty, $generated:ty, $decode:expr) => {
        impl Endpoint for $ty {
            type Output = $output;
            const SPEC: EndpointSpec = <$generated as Endpoint>::SPEC;
            fn path_params(&self) -> Vec<(&'static str, String)> {
                Vec::new()
            }
            fn query_params(&self) -> Vec<(&'static str, String)> {
                Vec::new()
            }
            fn decode(body: ResponseBody) -> Result<$output, DecodeError> {
                ($decode)(body)
            }
        }
    };
}

fn check_len(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ValidationError::new(
            field,
            format!("length must be between {min} and {max}, got {len}"),
        ));
    }
    Ok(())
}

fn check_range(
    field: &'static str,
    value: Option<f64>,
    min: f64,
    max: f64,
) -> Result<(), ValidationError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(ValidationError::new(
            field,
            format!("must be between {min} and {max}, got {v}"),
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeechFormat {
    Mp3,
    Opus,
    Aac,
    Flac,
    Wav,
    Pcm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechRequest {
    pub model: String,
    pub input: String,
    pub voice: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<SpeechFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

impl SpeechRequest {
    pub fn new(input: &str) -> Self {
        Self {
            model: "tts-1".into(),
            input: input.into(),
            voice: "alloy".into(),
            response_format: None,
            speed: None,
        }
    }
}

impl Validate for SpeechRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("input", &self.input, 1, 4096)?;
        check_range("speed", self.speed, 0.25, 4.0)
    }
}

body_only_endpoint!(SpeechRequest, Audio, openai::SpeechRequest, |body| {
    Audio::from_body(body, "audio/mpeg")
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRequest {
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagesResponse {
    pub created: u64,
    pub data: Vec<Value>,
}

impl ImageRequest {
    /// A request with the given required fields; optional ones are `None`.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            model: None,
            n: None,
            size: None,
        }
    }
}

impl Validate for ImageRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("prompt", &self.prompt, 1, 32000)?;
        check_range("n", self.n.map(f64::from), 1.0, 10.0)
    }
}

body_only_endpoint!(
    ImageRequest,
    ImagesResponse,
    openai::ImageRequest,
    |body: ResponseBody| body.json()
);

pub const IMAGES_EXAMPLE: &str = r#"{"created": 1713833628, "data": [{"url": "https://oaidalleapiprodscus.blob.core.windows.net/private/img-1.png", "revised_prompt": "A cat in a hat, photorealistic."}]}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxProRequest {
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_images: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl FluxProRequest {
    /// A request with the given required fields; optional ones are `None`.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            image_size: None,
            num_images: None,
            seed: None,
        }
    }
}

impl Validate for FluxProRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("prompt", &self.prompt, 1, usize::MAX)?;
        check_range("num_images", self.num_images.map(f64::from), 1.0, 4.0)
    }
}

body_only_endpoint!(
    FluxProRequest,
    Job<Value>,
    fal::FluxProRequest,
    Job::from_body
);

pub const FLUX_EXAMPLE: &str = r#"{"images": [{"url": "https://v3.fal.media/files/rabbit/flux-1.jpeg", "width": 1024, "height": 768, "content_type": "image/jpeg"}], "seed": 42, "has_nsfw_concepts": [false], "timings": {"inference": 2.1}, "prompt": "A lighthouse at dawn"}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StableAudioRequest {
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_total: Option<u32>,
}

impl StableAudioRequest {
    /// A request with the given required fields; optional ones are `None`.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            seconds_total: None,
        }
    }
}

impl Validate for StableAudioRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("prompt", &self.prompt, 1, usize::MAX)?;
        check_range(
            "seconds_total",
            self.seconds_total.map(f64::from),
            1.0,
            47.0,
        )
    }
}

body_only_endpoint!(
    StableAudioRequest,
    Job<Value>,
    fal::StableAudioRequest,
    Job::from_body
);

pub const STABLE_AUDIO_EXAMPLE: &str = r#"{"audio_file": {"url": "https://v3.fal.media/files/zebra/audio.wav", "content_type": "audio/wav", "file_name": "audio.wav", "file_size": 2646044}}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextToVideoRequest {
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

impl TextToVideoRequest {
    /// A request with the given required fields; optional ones are `None`.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            model_name: None,
            duration: None,
            cfg_scale: None,
            external_task_id: None,
        }
    }
}

impl Validate for TextToVideoRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("prompt", &self.prompt, 1, 2500)?;
        check_range("cfg_scale", self.cfg_scale, 0.0, 1.0)?;
        match self.duration.as_deref() {
            None | Some("5") | Some("10") => Ok(()),
            Some(other) => Err(ValidationError::new(
                "duration",
                format!("must be \"5\" or \"10\", got {other:?}"),
            )),
        }
    }
}

body_only_endpoint!(
    TextToVideoRequest,
    Job<Value>,
    kling::TextToVideoRequest,
    Job::from_body
);

pub const VIDEO_EXAMPLE: &str = r#"{"videos": [{"id": "860533486925324353", "url": "https://cdn.klingai.com/bs2/upload-kling-api/video.mp4", "duration": "5.1"}]}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElevenTtsRequest {
    #[serde(skip_serializing)]
    pub voice_id: String,
    #[serde(skip_serializing, default)]
    pub output_format: Option<String>,
    #[serde(skip_serializing, default)]
    pub enable_logging: Option<bool>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl ElevenTtsRequest {
    /// A request with the given required fields; optional ones are `None`.
    pub fn new(voice_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            voice_id: voice_id.into(),
            output_format: None,
            enable_logging: None,
            text: text.into(),
            model_id: None,
        }
    }
}

impl Validate for ElevenTtsRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("voice_id", &self.voice_id, 1, usize::MAX)?;
        check_len("text", &self.text, 1, 40000)?;
        match self.output_format.as_deref() {
            None => Ok(()),
            Some(f)
                if ["mp3_", "pcm_", "opus_", "ulaw_", "alaw_"]
                    .iter()
                    .any(|p| f.starts_with(p)) =>
            {
                Ok(())
            }
            Some(other) => Err(ValidationError::new(
                "output_format",
                format!("unknown output format {other:?}"),
            )),
        }
    }
}

impl Endpoint for ElevenTtsRequest {
    type Output = Audio;
    const SPEC: EndpointSpec = <elevenlabs::ElevenTtsRequest as Endpoint>::SPEC;
    fn path_params(&self) -> Vec<(&'static str, String)> {
        vec![("voice_id", self.voice_id.clone())]
    }
    fn query_params(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(v) = &self.output_format {
            query.push(("output_format", v.clone()));
        }
        if let Some(v) = self.enable_logging {
            query.push(("enable_logging", v.to_string()));
        }
        query
    }
    fn decode(body: ResponseBody) -> Result<Audio, DecodeError> {
        Audio::from_body(body, "audio/mpeg")
    }
}

// ---------------------------------------------------------------------------------------------
// Routes and helpers.

pub fn openai_routes() -> Vec<SimRoute> {
    vec![
        SimRoute::of::<SpeechRequest>(None),
        SimRoute::of::<ImageRequest>(Some(IMAGES_EXAMPLE)),
    ]
}

pub fn fal_routes() -> Vec<SimRoute> {
    vec![
        SimRoute::of::<FluxProRequest>(Some(FLUX_EXAMPLE)),
        SimRoute::of::<StableAudioRequest>(Some(STABLE_AUDIO_EXAMPLE)),
    ]
}

pub fn kling_routes() -> Vec<SimRoute> {
    vec![SimRoute::of::<TextToVideoRequest>(Some(VIDEO_EXAMPLE))]
}

pub fn elevenlabs_routes() -> Vec<SimRoute> {
    vec![SimRoute::of::<ElevenTtsRequest>(None)]
}

pub const OPENAI_KEYS: [&str; 2] = ["sk-test-alpha-0001", "sk-test-bravo-0002"];
pub const FAL_KEYS: [&str; 2] = ["fal-id-1:fal-secret-1", "fal-id-2:fal-secret-2"];
pub const KLING_KEYS: [&str; 2] = ["ak-one:sk-one-secret", "ak-two:sk-two-secret"];
pub const ELEVEN_KEYS: [&str; 2] = ["xi-key-one-111", "xi-key-two-222"];

/// Every provider, with two keys each.
pub fn all_providers() -> media_sdk_sim::SimBuilder {
    Simulator::builder()
        .provider(&OPENAI, openai_routes())
        .provider(&FAL, fal_routes())
        .provider(&KLING, kling_routes())
        .provider(&ELEVENLABS, elevenlabs_routes())
        .keys("openai", OPENAI_KEYS)
        .keys("fal", FAL_KEYS)
        .keys("kling", KLING_KEYS)
        .keys("elevenlabs", ELEVEN_KEYS)
}

/// A response read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: bytes::Bytes,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.expect("body"),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` the way the runtime would for its provider's auth scheme.
pub struct Caller {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: AuthScheme,
}

impl Caller {
    pub fn new(sim: &Simulator, provider: &ProviderSpec) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sim.base_url(provider.id),
            auth: provider.auth,
        }
    }

    /// Attaches `key` as the scheme wants (for Kling, a fresh token from the pair).
    pub fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
        key: &str,
    ) -> reqwest::RequestBuilder {
        match self.auth {
            AuthScheme::Bearer => builder.bearer_auth(key),
            AuthScheme::FalKey => builder.header("authorization", format!("Key {key}")),
            AuthScheme::Header { header } => builder.header(header, key),
            AuthScheme::KlingJwt { .. } => builder.bearer_auth(media_sdk_sim::kling_token(key)),
            _ => panic!("unknown scheme"),
        }
    }

    /// Calls the endpoint of `E` with `request`, built as the runtime builds it.
    pub async fn call<E: Endpoint>(&self, request: &E, key: &str) -> Answer {
        let mut path = E::SPEC.path.to_owned();
        for (name, value) in request.path_params() {
            path = path.replace(&format!("{{{name}}}"), &value);
        }
        let url = format!("{}{}", self.base, path);
        let builder = self
            .http
            .request(E::SPEC.method.as_http(), url)
            .query(&request.query_params())
            .json(request);
        let response = self.authorize(builder, key).send().await.expect("send");
        Answer::read(response).await
    }

    /// Sends a raw JSON body to `path`.
    pub async fn post_raw(&self, path: &str, body: &str, key: &str) -> Answer {
        let builder = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        let response = self.authorize(builder, key).send().await.expect("send");
        Answer::read(response).await
    }

    /// `GET` (or `PUT`) an absolute URL, as job polling does.
    pub async fn fetch(&self, method: reqwest::Method, url: &str, key: &str) -> Answer {
        let builder = self.http.request(method, url);
        let response = self.authorize(builder, key).send().await.expect("send");
        Answer::read(response).await
    }
}
