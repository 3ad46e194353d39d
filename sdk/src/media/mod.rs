//! A provider-neutral facade over the generated clients: text to speech with health-ordered
//! fallback, and images by model name.
//!
//! ```no_run
//! # async fn demo(sdk: &media_sdk::Sdk) -> Result<(), media_sdk::media::MediaError> {
//! let audio = sdk.media().tts("Hello there", "alloy", 1.0).await?;
//! let image = sdk.media().image("A lighthouse at dawn", "dall-e-3", Some("1792x1024"), Some("hd")).await?;
//! assert_eq!(image.credits_used, 20);
//! # let _ = audio; Ok(()) }
//! ```
//!
//! The facade records nothing itself: every attempt is a generated call, which reports its own
//! health metric.
//!
//! # Text to speech
//!
//! [`Media::tts`] tries the configured providers ([`MediaConfig::tts_providers`], default
//! OpenAI `speech` then ElevenLabs `text_to_speech`) in the order of
//! [`HealthMonitor::health_order`](crate::health::HealthMonitor::health_order) over their health
//! ids, and moves on to the next one when a provider fails. The health read is bounded by
//! [`MediaConfig::health_timeout`]; past it the configured order is used.
//!
//! The facade's voice is mapped per provider:
//!
//! - **OpenAI**: an entry of [`MediaConfig::openai_voices`], else the name itself when it is an
//!   OpenAI voice (`alloy`, `ash`, `ballad`, `coral`, `echo`, `fable`, `onyx`, `nova`, `sage`,
//!   `shimmer`, `verse`, `marin`, `cedar`), else the provider is skipped.
//! - **ElevenLabs**: an entry of [`MediaConfig::elevenlabs_voices`], else the default map
//!   below, else the voice itself when it looks like an ElevenLabs voice id (20 ASCII letters
//!   and digits), else the provider is skipped.
//!
//! | facade voice | ElevenLabs premade voice | id |
//! |---|---|---|
//! | `alloy`, `rachel` | Rachel | `21m00Tcm4TlvDq8ikWAM` |
//! | `ash`, `adam` | Adam | `pNInz6obpgDQGcFmaJgB` |
//! | `ballad`, `antoni` | Antoni | `ErXwobaYiN019PkySvjV` |
//! | `coral`, `bella` | Bella | `EXAVITQu4vr4xnSDxMaL` |
//! | `echo`, `josh` | Josh | `TxGEqnHWrfWFTfGW9XjX` |
//! | `fable`, `domi` | Domi | `AZnzlk1XvdvUeBnXmlld` |
//! | `onyx`, `arnold` | Arnold | `VR6AewLTigWG4xSOukaG` |
//! | `nova`, `elli` | Elli | `MF3mGyEYCl7XYWbV9V6O` |
//! | `sage`, `shimmer`, `sam` | Sam | `yoZ06aMxZJJ28mfd3POQ` |
//!
//! The speed goes to OpenAI's `speed` (0.25 to 4.0) and ElevenLabs' `voice_settings.speed`
//! (0.7 to 1.2; not sent at 1.0). A speed outside a provider's range fails that provider's
//! validation before any request, and the next provider is tried.
//!
//! # Images
//!
//! [`Media::image`] routes by model; an unknown model is refused before any network call.
//!
//! | model | provider / endpoint | size | quality | credits per image |
//! |---|---|---|---|---|
//! | `dall-e-3`, `dalle-3` | OpenAI `images` | `1024x1024`, `1792x1024`, `1024x1792` | `standard` (10), `hd` (20) | 10 / 20 |
//! | `gpt-image-1` | OpenAI `images` | `1024x1024`, `1536x1024`, `1024x1536`, `auto` | `low` (5), `medium` (10), `high` (20), `auto` (10) | by quality |
//! | `flux-pro` | fal `flux_pro` | presets (`square_hd`, `landscape_16_9`, ...) or `WxH` → `{width, height}` | ignored | 5 |
//!
//! The answer has the media API's shape: [`ImageResult`] `{ images: [{ url }], model,
//! credits_used }`. Images returned inline (`b64_json`) become `data:` URLs.

pub mod capability;

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Audio;
use crate::client::ProviderClient;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::generated::elevenlabs::{ElevenTtsRequest, VoiceSettings};
use crate::generated::fal::{FalImageSize, FluxProRequest};
use crate::generated::openai::{
    ImageModel, ImageQuality, ImageRequest, ImageSize, SpeechRequest, Voice,
};
use crate::sdk::Sdk;
use crate::stream::AudioStream;

/// One provider's text-to-speech request.
enum TtsRequest {
    OpenAi(SpeechRequest),
    ElevenLabs(ElevenTtsRequest),
}

/// Result alias of the facade.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

/// Why a facade call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The image model is not one the facade routes. Nothing was sent.
    #[error("unknown image model `{model}`; expected one of {}", KNOWN_MODELS.join(", "))]
    UnknownModel {
        /// The model given.
        model: String,
    },
    /// An option does not fit the model. Nothing was sent.
    #[error("{model}: unsupported {option} `{value}`: {reason}")]
    UnsupportedOption {
        /// The canonical model name.
        model: &'static str,
        /// The option, e.g. `"size"`.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// No configured text-to-speech provider can speak with this voice. Nothing was sent.
    #[error("no configured text-to-speech provider knows voice `{voice}`")]
    UnknownVoice {
        /// The voice given.
        voice: String,
    },
    /// Every text-to-speech provider tried failed; the errors are in trial order.
    #[error("every text-to-speech provider failed: {}", summary(.attempts))]
    AllProvidersFailed {
        /// `(provider id, error)` per provider tried.
        attempts: Vec<(&'static str, Error)>,
    },
    /// The provider call failed.
    #[error(transparent)]
    Provider(#[from] Error),
}

fn summary(attempts: &[(&'static str, Error)]) -> String {
    attempts
        .iter()
        .map(|(provider, error)| format!("{provider}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Model names [`Media::image`] accepts.
pub const KNOWN_MODELS: &[&str] = &["dall-e-3", "dalle-3", "gpt-image-1", "flux-pro"];

/// A text-to-speech provider of the facade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TtsProvider {
    /// OpenAI `speech` (health id `openai-tts`).
    OpenAi,
    /// ElevenLabs `text_to_speech` (health id `elevenlabs-tts`).
    ElevenLabs,
}

impl TtsProvider {
    /// The provider id.
    pub fn provider_id(self) -> &'static str {
        match self {
            TtsProvider::OpenAi => <SpeechRequest as Endpoint>::SPEC.provider,
            TtsProvider::ElevenLabs => <ElevenTtsRequest as Endpoint>::SPEC.provider,
        }
    }

    /// The health id its calls are recorded under.
    pub fn health_id(self) -> &'static str {
        match self {
            TtsProvider::OpenAi => <SpeechRequest as Endpoint>::SPEC.health_id,
            TtsProvider::ElevenLabs => <ElevenTtsRequest as Endpoint>::SPEC.health_id,
        }
    }
}

/// Settings of the media facade, given to [`Media::new`] ([`Sdk::media`] uses the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    /// Text-to-speech providers to use; ties in health keep this order. Default: OpenAI,
    /// ElevenLabs.
    pub tts_providers: Vec<TtsProvider>,
    /// Facade voice → OpenAI voice name, consulted before the built-in names.
    pub openai_voices: HashMap<String, String>,
    /// Facade voice → ElevenLabs voice id, consulted before the default map.
    pub elevenlabs_voices: HashMap<String, String>,
    /// Longest wait for the health read that orders the providers.
    pub health_timeout: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            tts_providers: vec![TtsProvider::OpenAi, TtsProvider::ElevenLabs],
            openai_voices: HashMap::new(),
            elevenlabs_voices: HashMap::new(),
            health_timeout: Duration::from_millis(250),
        }
    }
}

impl MediaConfig {
    /// Maps facade voice `voice` to ElevenLabs voice id `voice_id`.
    pub fn elevenlabs_voice(
        mut self,
        voice: impl Into<String>,
        voice_id: impl Into<String>,
    ) -> Self {
        self.elevenlabs_voices
            .insert(voice.into().to_lowercase(), voice_id.into());
        self
    }

    /// Maps facade voice `voice` to OpenAI voice `openai_voice`.
    pub fn openai_voice(
        mut self,
        voice: impl Into<String>,
        openai_voice: impl Into<String>,
    ) -> Self {
        self.openai_voices
            .insert(voice.into().to_lowercase(), openai_voice.into());
        self
    }

    /// Uses `providers`, in this order on equal health.
    pub fn tts_providers(mut self, providers: impl IntoIterator<Item = TtsProvider>) -> Self {
        self.tts_providers = providers.into_iter().collect();
        self
    }

    /// The OpenAI voice for facade voice `voice`, if any.
    pub fn openai_voice_for(&self, voice: &str) -> Option<Voice> {
        let voice = voice.trim().to_lowercase();
        let name = self.openai_voices.get(&voice).unwrap_or(&voice);
        serde_json::from_value(serde_json::Value::String(name.clone())).ok()
    }

    /// The ElevenLabs voice id for facade voice `voice`, if any.
    pub fn elevenlabs_voice_for(&self, voice: &str) -> Option<String> {
        let key = voice.trim().to_lowercase();
        if let Some(id) = self.elevenlabs_voices.get(&key) {
            return Some(id.clone());
        }
        if let Some((_, id)) = DEFAULT_ELEVENLABS_VOICES
            .iter()
            .find(|(names, _)| names.contains(&key.as_str()))
        {
            return Some((*id).to_owned());
        }
        let raw = voice.trim();
        (raw.len() == 20 && raw.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| raw.to_owned())
    }
}

/// The default facade voice → ElevenLabs premade voice id map (see the module docs).
pub const DEFAULT_ELEVENLABS_VOICES: &[(&[&str], &str)] = &[
    (&["alloy", "rachel"], "21m00Tcm4TlvDq8ikWAM"),
    (&["ash", "adam"], "pNInz6obpgDQGcFmaJgB"),
    (&["ballad", "antoni"], "ErXwobaYiN019PkySvjV"),
    (&["coral", "bella"], "EXAVITQu4vr4xnSDxMaL"),
    (&["echo", "josh"], "TxGEqnHWrfWFTfGW9XjX"),
    (&["fable", "domi"], "AZnzlk1XvdvUeBnXmlld"),
    (&["onyx", "arnold"], "VR6AewLTigWG4xSOukaG"),
    (&["nova", "elli"], "MF3mGyEYCl7XYWbV9V6O"),
    (&["sage", "shimmer", "sam"], "yoZ06aMxZJJ28mfd3POQ"),
];

/// One generated image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// Where the image is (a `data:` URL for images returned inline).
    pub url: String,
}

/// The answer of [`Media::image`], in the media API's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageResult {
    /// The images.
    pub images: Vec<ImageUrl>,
    /// The canonical model name (`dall-e-3`, `gpt-image-1`, `flux-pro`).
    pub model: String,
    /// Credits charged (see the table in the module docs).
    pub credits_used: u32,
}

/// The facade over an [`Sdk`]: [`Sdk::media`] with the default [`MediaConfig`], or
/// [`Media::new`] with your own.
#[derive(Debug, Clone, Copy)]
pub struct Media<'a> {
    sdk: &'a Sdk,
    config: &'a MediaConfig,
}

/// A parsed image request, checked before any network call.
enum ImagePlan {
    OpenAi {
        model: &'static str,
        request: ImageRequest,
        credits: u32,
    },
    Flux {
        request: FluxProRequest,
        credits: u32,
    },
}

/// The settings [`Sdk::media`] uses.
static DEFAULT_CONFIG: std::sync::LazyLock<MediaConfig> =
    std::sync::LazyLock::new(MediaConfig::default);

impl Sdk {
    /// The media facade with the default [`MediaConfig`]: text to speech with fallback across
    /// providers, images by model name. [`Media::new`] takes other settings.
    pub fn media(&self) -> Media<'_> {
        Media::new(self, &DEFAULT_CONFIG)
    }
}

impl<'a> Media<'a> {
    /// The facade over `sdk` with `config`.
    pub fn new(sdk: &'a Sdk, config: &'a MediaConfig) -> Self {
        Self { sdk, config }
    }

    /// The configured text-to-speech providers in the order [`tts`](Self::tts) tries them now:
    /// by health, or in configured order when health cannot be read in time.
    pub async fn tts_order(&self) -> Vec<TtsProvider> {
        let configured = &self.config.tts_providers;
        let ids: Vec<&str> = configured.iter().map(|p| p.health_id()).collect();
        let order = tokio::time::timeout(
            self.config.health_timeout,
            self.sdk.health().health_order(&ids),
        )
        .await;
        match order {
            Ok(order) => order
                .iter()
                .filter_map(|id| configured.iter().copied().find(|p| p.health_id() == id))
                .collect(),
            Err(_) => {
                tracing::warn!(
                    timeout_ms =
                        u64::try_from(self.config.health_timeout.as_millis()).unwrap_or(u64::MAX),
                    "health read too slow; text to speech uses the configured order"
                );
                configured.clone()
            }
        }
    }

    /// Speaks `text` with `voice` at `speed` (1.0 is normal), on the healthiest configured
    /// provider that can, falling back to the next one on failure.
    pub async fn tts(&self, text: &str, voice: &str, speed: f64) -> Result<Audio> {
        self.with_fallback(text, voice, speed, async |client, request| match request {
            TtsRequest::OpenAi(request) => client.call(request).await,
            TtsRequest::ElevenLabs(request) => client.call(request).await,
        })
        .await
    }

    /// [`tts`](Self::tts) as a stream: the audio arrives chunk by chunk (see
    /// [`AudioStream`]). Providers are tried in the same order, falling back to the next one
    /// only before the first byte (a failure before the stream is returned); once it is
    /// returned, a failure ends the stream with [`Error::Stream`] and nothing is replayed.
    pub async fn tts_stream(&self, text: &str, voice: &str, speed: f64) -> Result<AudioStream> {
        self.with_fallback(text, voice, speed, async |client, request| match request {
            TtsRequest::OpenAi(request) => client.stream(request).await,
            TtsRequest::ElevenLabs(request) => client.stream(request).await,
        })
        .await
    }

    /// Runs `speak` on each configured provider that knows `voice`, in health order, until one
    /// succeeds.
    async fn with_fallback<T>(
        &self,
        text: &str,
        voice: &str,
        speed: f64,
        speak: impl AsyncFn(&ProviderClient, TtsRequest) -> std::result::Result<T, Error>,
    ) -> Result<T> {
        let mut attempts = Vec::new();
        let mut tried_any = false;
        for provider in self.tts_order().await {
            let Some(client) = self.sdk.provider(provider.provider_id()) else {
                continue;
            };
            let Some(request) = self.tts_request(provider, text, voice, speed) else {
                continue;
            };
            tried_any = true;
            match speak(client, request).await {
                Ok(output) => {
                    tracing::debug!(
                        provider = provider.provider_id(),
                        failed_before = attempts.len(),
                        "text to speech served"
                    );
                    return Ok(output);
                }
                Err(error) => {
                    tracing::info!(
                        provider = provider.provider_id(), class = error.class(), %error,
                        "text to speech failed; trying the next provider"
                    );
                    attempts.push((provider.provider_id(), error));
                }
            }
        }
        if tried_any {
            Err(MediaError::AllProvidersFailed { attempts })
        } else {
            Err(MediaError::UnknownVoice {
                voice: voice.to_owned(),
            })
        }
    }

    /// `provider`'s request for `text` in `voice` at `speed`; `None` when it does not know
    /// the voice.
    fn tts_request(
        &self,
        provider: TtsProvider,
        text: &str,
        voice: &str,
        speed: f64,
    ) -> Option<TtsRequest> {
        match provider {
            TtsProvider::OpenAi => {
                let voice = self.config.openai_voice_for(voice)?;
                Some(TtsRequest::OpenAi(SpeechRequest {
                    input: text.to_owned(),
                    voice,
                    speed: (speed != 1.0).then_some(speed),
                    ..SpeechRequest::default()
                }))
            }
            TtsProvider::ElevenLabs => {
                let voice_id = self.config.elevenlabs_voice_for(voice)?;
                let mut request = ElevenTtsRequest::new(text);
                request.voice_id = voice_id;
                if speed != 1.0 {
                    request.voice_settings = Some(VoiceSettings {
                        speed: Some(speed),
                        ..VoiceSettings::default()
                    });
                }
                Some(TtsRequest::ElevenLabs(request))
            }
        }
    }

    /// Generates an image of `prompt` with `model` (see the module docs for models, sizes,
    /// qualities and credits). Unknown models and unsupported options are refused before any
    /// network call.
    pub async fn image(
        &self,
        prompt: &str,
        model: &str,
        size: Option<&str>,
        quality: Option<&str>,
    ) -> Result<ImageResult> {
        match plan_image(prompt, model, size, quality)? {
            ImagePlan::OpenAi {
                model,
                request,
                credits,
            } => {
                let response = self.sdk.openai()?.images(request).await?;
                let images = response
                    .data
                    .into_iter()
                    .filter_map(|d| {
                        d.url
                            .or_else(|| d.b64_json.map(|b| format!("data:image/png;base64,{b}")))
                    })
                    .map(|url| ImageUrl { url })
                    .collect::<Vec<_>>();
                Ok(ImageResult {
                    credits_used: credits * count(images.len()),
                    images,
                    model: model.to_owned(),
                })
            }
            ImagePlan::Flux { request, credits } => {
                let output = self.sdk.fal()?.flux_pro(request).await?;
                let images = output
                    .output
                    .images
                    .into_iter()
                    .map(|i| ImageUrl { url: i.url })
                    .collect::<Vec<_>>();
                Ok(ImageResult {
                    credits_used: credits * count(images.len()),
                    images,
                    model: "flux-pro".to_owned(),
                })
            }
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

fn parse_wire<T: for<'de> Deserialize<'de>>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

fn plan_image(
    prompt: &str,
    model: &str,
    size: Option<&str>,
    quality: Option<&str>,
) -> Result<ImagePlan> {
    let normalized = model.trim().to_lowercase();
    let unsupported = |model: &'static str, option: &'static str, value: &str, reason: &str| {
        MediaError::UnsupportedOption {
            model,
            option,
            value: value.to_owned(),
            reason: reason.to_owned(),
        }
    };
    match normalized.as_str() {
        "dall-e-3" | "dalle-3" => {
            let name = "dall-e-3";
            let mut request = ImageRequest::new(prompt);
            request.model = Some(ImageModel::DallE3);
            request.n = Some(1);
            if let Some(size) = size {
                let parsed: ImageSize = parse_wire(size)
                    .filter(|s| {
                        matches!(
                            s,
                            ImageSize::S1024 | ImageSize::Landscape1792 | ImageSize::Portrait1792
                        )
                    })
                    .ok_or_else(|| {
                        unsupported(name, "size", size, "one of 1024x1024, 1792x1024, 1024x1792")
                    })?;
                request.size = Some(parsed);
            }
            let credits = match quality.map(str::trim) {
                None | Some("standard") => {
                    request.quality = quality.map(|_| ImageQuality::Standard);
                    10
                }
                Some("hd") => {
                    request.quality = Some(ImageQuality::Hd);
                    20
                }
                Some(other) => return Err(unsupported(name, "quality", other, "standard or hd")),
            };
            Ok(ImagePlan::OpenAi {
                model: name,
                request,
                credits,
            })
        }
        "gpt-image-1" => {
            let name = "gpt-image-1";
            let mut request = ImageRequest::new(prompt);
            request.model = Some(ImageModel::GptImage1);
            request.n = Some(1);
            if let Some(size) = size {
                let parsed: ImageSize = parse_wire(size)
                    .filter(|s| {
                        matches!(
                            s,
                            ImageSize::S1024
                                | ImageSize::Landscape1536
                                | ImageSize::Portrait1536
                                | ImageSize::Auto
                        )
                    })
                    .ok_or_else(|| {
                        unsupported(
                            name,
                            "size",
                            size,
                            "one of 1024x1024, 1536x1024, 1024x1536, auto",
                        )
                    })?;
                request.size = Some(parsed);
            }
            let (parsed, credits) = match quality.map(str::trim) {
                None => (None, 10),
                Some("auto") => (Some(ImageQuality::Auto), 10),
                Some("low") => (Some(ImageQuality::Low), 5),
                Some("medium") => (Some(ImageQuality::Medium), 10),
                Some("high") => (Some(ImageQuality::High), 20),
                Some(other) => {
                    return Err(unsupported(
                        name,
                        "quality",
                        other,
                        "one of low, medium, high, auto",
                    ));
                }
            };
            request.quality = parsed;
            Ok(ImagePlan::OpenAi {
                model: name,
                request,
                credits,
            })
        }
        "flux-pro" => {
            let name = "flux-pro";
            let mut request = FluxProRequest::new(prompt);
            if let Some(size) = size {
                let size = size.trim();
                let parsed = match size.split_once(['x', 'X']) {
                    Some((w, h)) => match (w.trim().parse(), h.trim().parse()) {
                        (Ok(width), Ok(height)) => Some(FalImageSize::Custom { width, height }),
                        _ => None,
                    },
                    None => parse_wire(size),
                };
                request.image_size = Some(parsed.ok_or_else(|| {
                    unsupported(
                        name,
                        "size",
                        size,
                        "WIDTHxHEIGHT or a preset (square_hd, square, portrait_4_3, \
                         portrait_16_9, landscape_4_3, landscape_16_9)",
                    )
                })?);
            }
            Ok(ImagePlan::Flux {
                request,
                credits: 5,
            })
        }
        _ => Err(MediaError::UnknownModel {
            model: model.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facade's futures can be spawned (compiles or not; never called).
    fn futures_are_send(media: &Media<'_>) {
        fn send<T: Send>(_: T) {}
        send(media.tts("hi", "alloy", 1.0));
        send(media.tts_stream("hi", "alloy", 1.0));
    }

    #[test]
    fn facade_futures_are_send() {
        let _ = futures_are_send;
    }

    #[test]
    fn voices_map_per_provider() {
        let config = MediaConfig::default().elevenlabs_voice("narrator", "abcdefghij0123456789");
        assert_eq!(config.openai_voice_for("Nova"), Some(Voice::Nova));
        assert_eq!(config.openai_voice_for("rachel"), None);
        assert_eq!(
            config.elevenlabs_voice_for("alloy").as_deref(),
            Some("21m00Tcm4TlvDq8ikWAM")
        );
        assert_eq!(
            config.elevenlabs_voice_for("Narrator").as_deref(),
            Some("abcdefghij0123456789")
        );
        assert_eq!(
            config
                .elevenlabs_voice_for("pNInz6obpgDQGcFmaJgB")
                .as_deref(),
            Some("pNInz6obpgDQGcFmaJgB")
        );
        assert_eq!(config.elevenlabs_voice_for("no such voice"), None);
        let custom = MediaConfig::default().openai_voice("narrator", "onyx");
        assert_eq!(custom.openai_voice_for("narrator"), Some(Voice::Onyx));
    }

    #[test]
    fn image_plans_check_models_and_options() {
        let credits = |model, quality| match plan_image("p", model, None, quality) {
            Ok(ImagePlan::OpenAi { credits, .. } | ImagePlan::Flux { credits, .. }) => credits,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(credits("dalle-3", Some("hd")), 20);
        assert_eq!(credits("dall-e-3", None), 10);
        assert_eq!(credits("gpt-image-1", Some("low")), 5);
        assert_eq!(credits("gpt-image-1", Some("high")), 20);
        assert_eq!(credits("flux-pro", None), 5);
        assert!(matches!(
            plan_image("p", "midjourney", None, None),
            Err(MediaError::UnknownModel { .. })
        ));
        assert!(matches!(
            plan_image("p", "dall-e-3", Some("1536x1024"), None),
            Err(MediaError::UnsupportedOption { option: "size", .. })
        ));
        assert!(matches!(
            plan_image("p", "flux-pro", Some("huge"), None),
            Err(MediaError::UnsupportedOption { option: "size", .. })
        ));
        match plan_image("p", "flux-pro", Some("1792x1024"), None) {
            Ok(ImagePlan::Flux { request, .. }) => assert_eq!(
                request.image_size,
                Some(FalImageSize::Custom {
                    width: 1792,
                    height: 1024
                })
            ),
            _ => panic!("flux plan expected"),
        }
    }
}
