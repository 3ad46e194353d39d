//! The facade calls the service makes, and how their failures map to HTTP.
//!
//! INTERIM: until the capability facade (`media_sdk::media::{TtsInput, .., VideoTicket}`,
//! `Media::tts_stream(&TtsInput)`, ...) is merged, this module declares its input and output
//! types as the brief gives them and adapts the current hand-written facade. Once merged, the
//! types are re-exported from `media_sdk::media` and the functions call `sdk.media()`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use media_sdk::AudioStream;
use media_sdk::{Error, Sdk};

pub(crate) use media_sdk::media::{ImageResult, MediaError};

/// `POST /api/v1/media/tts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TtsInput {
    pub(crate) text: String,
    pub(crate) voice: String,
    #[serde(default = "normal_speed")]
    pub(crate) speed: f64,
}

fn normal_speed() -> f64 {
    1.0
}

/// `POST /api/v1/media/image`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImageInput {
    pub(crate) prompt: String,
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) size: Option<String>,
    #[serde(default)]
    pub(crate) quality: Option<String>,
}

/// A string or a number option.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // INTERIM: read by the capability facade
pub(crate) enum OptionValue {
    Text(String),
    Number(serde_json::Number),
}

/// `POST /api/v1/media/video`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // INTERIM: read by the capability facade
pub(crate) struct VideoInput {
    pub(crate) prompt: String,
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) duration: Option<OptionValue>,
    #[serde(default)]
    pub(crate) aspect_ratio: Option<String>,
}

/// A speech stream and who speaks it.
pub(crate) struct SpeechStream {
    pub(crate) audio: AudioStream,
    pub(crate) provider: &'static str,
    pub(crate) credits_used: u32,
}

/// One media URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MediaUrl {
    pub(crate) url: String,
}

/// What polling a job needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VideoTicket(serde_json::Value);

/// A submitted video job.
pub(crate) struct VideoJob {
    pub(crate) ticket: VideoTicket,
    pub(crate) model: String,
}

/// A finished video.
pub(crate) struct VideoResult {
    pub(crate) videos: Vec<MediaUrl>,
    pub(crate) model: String,
    pub(crate) credits_used: u32,
}

/// Where a video job is.
pub(crate) enum VideoStatus {
    #[allow(dead_code)] // INTERIM
    Pending,
    #[allow(dead_code)] // INTERIM
    Running,
    #[allow(dead_code)] // INTERIM
    Succeeded(VideoResult),
    #[allow(dead_code)] // INTERIM
    Failed { message: String },
}

pub(crate) async fn tts_stream(sdk: &Sdk, input: &TtsInput) -> Result<SpeechStream, MediaError> {
    let audio = sdk
        .media()
        .tts_stream(&input.text, &input.voice, input.speed)
        .await?;
    Ok(SpeechStream {
        audio,
        provider: "unknown",
        credits_used: 1,
    })
}

pub(crate) async fn image(sdk: &Sdk, input: &ImageInput) -> Result<ImageResult, MediaError> {
    sdk.media()
        .image(
            &input.prompt,
            &input.model,
            input.size.as_deref(),
            input.quality.as_deref(),
        )
        .await
}

pub(crate) async fn video_submit(_sdk: &Sdk, _input: &VideoInput) -> Result<VideoJob, MediaError> {
    Err(MediaError::Provider(Error::Config(
        "video needs the capability facade".into(),
    )))
}

pub(crate) async fn video_status(
    _sdk: &Sdk,
    _ticket: &VideoTicket,
) -> Result<VideoStatus, MediaError> {
    Err(MediaError::Provider(Error::Config(
        "video needs the capability facade".into(),
    )))
}

/// How a facade failure is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The input was refused before any network call: 400.
    InvalidInput,
    /// Every attempt was rate limited; the earliest key is back after this: 429.
    RateLimited(Duration),
    /// No provider could be asked (not configured, no keys, every key quarantined): 503.
    Unavailable,
    /// Providers were asked and failed: 502.
    ProviderFailed,
}

pub(crate) fn classify(error: &MediaError) -> Failure {
    match error {
        MediaError::UnknownModel { .. }
        | MediaError::UnsupportedOption { .. }
        | MediaError::UnknownVoice { .. }
        | MediaError::Provider(Error::Invalid { .. }) => Failure::InvalidInput,
        MediaError::Provider(error) => classify_attempts(std::iter::once(error)),
        MediaError::AllProvidersFailed { attempts } => {
            classify_attempts(attempts.iter().map(|(_, e)| e))
        }
        _ => Failure::ProviderFailed,
    }
}

/// Every attempt rate limited: 429 after the earliest; every attempt unavailable: 503; else 502.
fn classify_attempts<'a>(errors: impl Iterator<Item = &'a Error>) -> Failure {
    let mut earliest: Option<Duration> = None;
    let mut all_limited = true;
    let mut all_unavailable = true;
    let mut any = false;
    for error in errors {
        any = true;
        match error {
            Error::RateLimited { retry_after, .. } => {
                all_unavailable = false;
                earliest = Some(earliest.map_or(*retry_after, |e| e.min(*retry_after)));
            }
            Error::NotConfigured { .. } | Error::NoKeys { .. } | Error::KeysExhausted { .. } => {
                all_limited = false;
            }
            _ => {
                all_limited = false;
                all_unavailable = false;
            }
        }
    }
    match (any, all_limited, earliest, all_unavailable) {
        (false, ..) => Failure::Unavailable,
        (true, true, Some(wait), _) => Failure::RateLimited(wait),
        (true, _, _, true) => Failure::Unavailable,
        _ => Failure::ProviderFailed,
    }
}
