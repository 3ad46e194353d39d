//! A provider-neutral facade over the spec's endpoints: text to speech, images, sound and
//! video, each with fallback across the providers that can serve the request.
//!
//! ```no_run
//! # async fn demo(sdk: &media_sdk::Sdk) -> Result<(), media_sdk::media::MediaError> {
//! use media_sdk::media::{ImageInput, TtsInput};
//!
//! let speech = sdk.media().tts(&TtsInput::new("Hello there", "alloy")).await?;
//! let mut input = ImageInput::new("A lighthouse at dawn", "dalle-3");
//! input.quality = Some("hd".into());
//! let image = sdk.media().image(&input).await?;
//! assert_eq!((image.model.as_str(), image.credits_used), ("dall-e-3", 20));
//! # let _ = speech; Ok(()) }
//! ```
//!
//! # Driven by the spec
//!
//! The facade names no provider. It interprets the capability table generated from the
//! `capabilities:` section of `providers.yaml` ([`CAPABILITIES`](crate::CAPABILITIES), or
//! [`MediaConfig::capabilities`]; see [`capability`] for what each field means): a provider
//! that joins a capability there joins the facade's fallback after `cargo xtask codegen`.
//!
//! For each request the facade:
//!
//! 1. **Picks the candidates**: the entries of the capability that can serve it. Text to
//!    speech: the entries that know the voice (the caller's names for the provider in
//!    [`MediaConfig::voice`], then the entry's `names`, any case, then its `listed` enum
//!    values, then anything shaped like its `ids`: prefix, length, ASCII letters, digits, `_`
//!    and `-`); none: [`MediaError::UnknownVoice`]. Images: the entries serving the model (by
//!    name or alias, any case); none: [`MediaError::UnknownModel`]. Video and sound: the same,
//!    or every entry's first model when no model is given. Providers the [`Sdk`] was built
//!    without are skipped ([`MediaError::NoCandidates`] when none is left).
//! 2. **Plans each request**, before any network call: a restricted option (`options` of the
//!    model) must take one of its values, compared as text (`10` and `"10"` alike), else
//!    [`MediaError::UnsupportedOption`] with the values allowed; the value is replaced by the
//!    JSON listed for it. The model's `request` is merged over the entry's template, whose
//!    `"{input}"` placeholders take the inputs' values; an absent input (or one at its
//!    default: a speed of 1.0) leaves its key out, and an object left empty goes too. The
//!    endpoint then checks the request like a typed call ([`DynEndpoint`](crate::dynamic)):
//!    a request it refuses ([`Error::Invalid`]) moves on to the next candidate, nothing sent.
//! 3. **Orders the candidates** by the capability's `fallback`: `fastest_healthy`, by
//!    [`HealthMonitor::health_order`](crate::health::HealthMonitor::health_order) over their
//!    health ids (the read bounded by [`MediaConfig::health_timeout`]; past it the declared
//!    order, with one WARN), or `in_order`, as declared.
//! 4. **Calls them in that order** until one succeeds; [`MediaError::AllProvidersFailed`]
//!    keeps every attempt's error. The result names the provider that served it.
//!
//! # Credits
//!
//! Text to speech costs the entry's `credits` per call. Images, sound and video cost the
//! model's `credits` per output item, or its `credits_by` for a given option value (DALL-E 3
//! `hd`: 20), times the items requested: **each model requests one item**, so a request costs
//! one item's credits. The cost is the result's `credits_used` and is recorded in the call's
//! metric ([`CallOptions::credits`]): on the call that serves, or for video on the status call
//! that finds the job done (its submit records none).
//!
//! # Results
//!
//! Media URLs come from the entry's `output` pointers: the first that finds any string wins,
//! at most 16 URLs; base64 data (`inline_type`) becomes a `data:` URL. An answer without any
//! is a failed attempt ([`Error::Decode`]). Outputs serialize in the media API's shapes, e.g.
//! `{"images":[{"url":...}],"model":"dall-e-3","credits_used":20}`.
//!
//! # Video
//!
//! A video takes minutes; [`Media::video_submit`] submits it and returns a [`VideoTicket`] at
//! once, and [`Media::video_status`] polls it once per call (see
//! [`ProviderClient::submit_job`](crate::ProviderClient::submit_job)). The ticket carries
//! the key's fingerprint, never the key, and is re-checked when it comes back; it is not
//! tamper-proof, so a service handing it to its clients should sign or encrypt it.

pub mod capability;
mod plan;
mod video;

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use self::capability::{Capabilities, Capability, CapabilityKind, Entry, Fallback};
use self::plan::{Inputs, Planned};
pub use self::video::{VideoInput, VideoJob, VideoResult, VideoStatus, VideoTicket};
use crate::Audio;
use crate::client::{CallOptions, ProviderClient};
use crate::dynamic::Output;
use crate::endpoint::DecodeError;
use crate::error::Error;
use crate::sdk::Sdk;
use crate::stream::AudioStream;

/// Items a planned request asks for: every model requests one (see the module docs).
const ITEMS_PER_REQUEST: u32 = 1;

/// Result alias of the facade.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

/// Why a facade call failed. Its text never holds a key: provider errors are redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// No entry of the capability serves this model. Nothing was sent.
    #[error("unknown model `{model}`; expected one of {}", .known.join(", "))]
    UnknownModel {
        /// The model given.
        model: String,
        /// The models (and aliases) the capability serves.
        known: Vec<String>,
    },
    /// An option's value is not one the model accepts. Nothing was sent.
    #[error("{model}: unsupported {option} `{value}`; expected one of {}", .allowed.join(", "))]
    UnsupportedOption {
        /// The canonical model name.
        model: String,
        /// The option, e.g. `size`.
        option: String,
        /// The value given, as text.
        value: String,
        /// The values accepted.
        allowed: Vec<String>,
    },
    /// No text-to-speech entry knows this voice. Nothing was sent.
    #[error("no text-to-speech provider knows voice `{voice}`")]
    UnknownVoice {
        /// The voice given.
        voice: String,
    },
    /// The input was refused before any network call.
    #[error("invalid input: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
    /// Every candidate failed; the errors are in the order tried.
    #[error("every provider failed: {}", summary(.attempts))]
    AllProvidersFailed {
        /// `(provider id, error)` per candidate tried.
        attempts: Vec<(&'static str, Error)>,
    },
    /// No provider this `Sdk` is built with can serve the capability's request.
    #[error("no configured provider can serve this {capability} request", capability = kind_name(*.capability))]
    NoCandidates {
        /// The capability.
        capability: CapabilityKind,
    },
    /// A call to one provider failed (video status).
    #[error(transparent)]
    Provider(#[from] Error),
}

impl MediaError {
    /// Whether the caller's input is at fault (an HTTP 400): an unknown model or voice, an
    /// unsupported option, an invalid input, or a request every candidate refused before
    /// sending it.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            MediaError::UnknownModel { .. }
            | MediaError::UnsupportedOption { .. }
            | MediaError::UnknownVoice { .. }
            | MediaError::Invalid { .. } => true,
            MediaError::Provider(error) => matches!(error, Error::Invalid { .. }),
            MediaError::AllProvidersFailed { attempts } => {
                !attempts.is_empty()
                    && attempts
                        .iter()
                        .all(|(_, e)| matches!(e, Error::Invalid { .. }))
            }
            MediaError::NoCandidates { .. } => false,
        }
    }

    /// When to try again, when every attempt was rate limited (an HTTP 429 with
    /// `Retry-After`): the soonest any provider is back.
    pub fn retry_after(&self) -> Option<Duration> {
        let rate_limited = |error: &Error| match error {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        match self {
            MediaError::Provider(error) => rate_limited(error),
            MediaError::AllProvidersFailed { attempts } => attempts
                .iter()
                .map(|(_, e)| rate_limited(e))
                .collect::<Option<Vec<_>>>()
                .and_then(|waits| waits.into_iter().min()),
            _ => None,
        }
    }

    /// Whether no provider was available at all (an HTTP 503): none configured, or every one
    /// tried had no usable key or configuration ([`Error::NoKeys`], [`Error::KeysExhausted`],
    /// [`Error::NotConfigured`], [`Error::Config`]). Other provider failures are a 502.
    pub fn is_unavailable(&self) -> bool {
        let unavailable = |error: &Error| {
            matches!(
                error,
                Error::NoKeys { .. }
                    | Error::KeysExhausted { .. }
                    | Error::NotConfigured { .. }
                    | Error::Config(_)
            )
        };
        match self {
            MediaError::NoCandidates { .. } => true,
            MediaError::Provider(error) => unavailable(error),
            MediaError::AllProvidersFailed { attempts } => {
                !attempts.is_empty() && attempts.iter().all(|(_, e)| unavailable(e))
            }
            _ => false,
        }
    }
}

fn summary(attempts: &[(&'static str, Error)]) -> String {
    attempts
        .iter()
        .map(|(provider, error)| format!("{provider}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn kind_name(kind: CapabilityKind) -> &'static str {
    match kind {
        CapabilityKind::Tts => "text-to-speech",
        CapabilityKind::Image => "image",
        CapabilityKind::Video => "video",
        CapabilityKind::Sound => "sound",
    }
}

fn default_speed() -> f64 {
    1.0
}

/// A text-to-speech request (the media API's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsInput {
    /// What to say.
    pub text: String,
    /// A voice name (`alloy`, `rachel`, ...), or a provider's voice id.
    pub voice: String,
    /// Playback speed; 1.0 (the default) is normal and is not sent.
    #[serde(default = "default_speed")]
    pub speed: f64,
}

impl TtsInput {
    /// `text` in `voice` at normal speed.
    pub fn new(text: impl Into<String>, voice: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: voice.into(),
            speed: 1.0,
        }
    }
}

/// An image request (the media API's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    /// What to draw.
    pub prompt: String,
    /// The model, by name or alias (`dall-e-3`, `dalle-3`, `flux-pro`, ...).
    pub model: String,
    /// The size, as the model lists it (`1024x1024`, ...).
    #[serde(default)]
    pub size: Option<String>,
    /// The quality, as the model lists it (`standard`, `hd`, ...).
    #[serde(default)]
    pub quality: Option<String>,
}

impl ImageInput {
    /// `prompt` with `model`, default size and quality.
    pub fn new(prompt: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            model: model.into(),
            size: None,
            quality: None,
        }
    }
}

/// A sound or music request (the media API's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoundInput {
    /// What to hear.
    pub prompt: String,
    /// The model; absent: each entry's first model.
    #[serde(default)]
    pub model: Option<String>,
    /// Length in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
}

/// An option value given as a string or a number; compared as text against a model's
/// `options` (`10` and `"10"` alike), sent as given when the model does not restrict it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    /// A string.
    Text(String),
    /// A number.
    Number(serde_json::Number),
}

impl OptionValue {
    fn to_json(&self) -> Value {
        match self {
            OptionValue::Text(text) => Value::String(text.clone()),
            OptionValue::Number(number) => Value::Number(number.clone()),
        }
    }
}

impl From<&str> for OptionValue {
    fn from(text: &str) -> Self {
        OptionValue::Text(text.to_owned())
    }
}

impl From<u32> for OptionValue {
    fn from(number: u32) -> Self {
        OptionValue::Number(number.into())
    }
}

/// One media URL (a `data:` URL for media returned inline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaUrl {
    /// Where the media is.
    pub url: String,
}

/// Speech from [`Media::tts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speech {
    /// The audio.
    pub audio: Audio,
    /// The provider that spoke.
    pub provider: &'static str,
    /// Credits charged.
    pub credits_used: u32,
}

/// Speech as it arrives, from [`Media::tts_stream`].
#[derive(Debug)]
pub struct SpeechStream {
    /// The audio stream.
    pub audio: AudioStream,
    /// The provider that speaks.
    pub provider: &'static str,
    /// Credits charged (recorded when the stream completes).
    pub credits_used: u32,
}

/// Images from [`Media::image`]: `{"images":[{"url":...}],"model":...,"credits_used":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageResult {
    /// The images.
    pub images: Vec<MediaUrl>,
    /// The canonical model name (`dall-e-3` for `dalle-3`).
    pub model: String,
    /// Credits charged.
    pub credits_used: u32,
    /// The provider that drew them (not serialized).
    #[serde(skip)]
    pub provider: &'static str,
}

/// Sound from [`Media::sound`]: `{"audio":[{"url":...}],"model":...,"credits_used":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoundResult {
    /// The audio files.
    pub audio: Vec<MediaUrl>,
    /// The canonical model name.
    pub model: String,
    /// Credits charged.
    pub credits_used: u32,
    /// The provider that made it (not serialized).
    #[serde(skip)]
    pub provider: &'static str,
}

/// Settings of the facade, given to [`Media::new`] ([`Sdk::media`] uses the defaults).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MediaConfig {
    /// Longest wait for the health read that orders `fastest_healthy` candidates (default
    /// 250 ms); past it the declared order is used.
    pub health_timeout: Duration,
    /// The capability table (default: the spec's, [`CAPABILITIES`](crate::CAPABILITIES)).
    pub capabilities: &'static Capabilities,
    /// Extra voice names per provider id: voice (lowercase) → the JSON value sent for it,
    /// consulted before the table's own.
    pub voices: HashMap<String, HashMap<String, Value>>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            health_timeout: Duration::from_millis(250),
            capabilities: &crate::CAPABILITIES,
            voices: HashMap::new(),
        }
    }
}

impl MediaConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this capability table instead of the spec's.
    pub fn capabilities(mut self, capabilities: &'static Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// With this bound on the health read.
    pub fn health_timeout(mut self, timeout: Duration) -> Self {
        self.health_timeout = timeout;
        self
    }

    /// Facade voice `voice` (any case) sends `value` to `provider`'s text-to-speech endpoint,
    /// e.g. `.voice("elevenlabs", "narrator", "abcdefghij0123456789")`.
    pub fn voice(
        mut self,
        provider: impl Into<String>,
        voice: impl Into<String>,
        value: impl Into<Value>,
    ) -> Self {
        self.voices
            .entry(provider.into())
            .or_default()
            .insert(voice.into().trim().to_lowercase(), value.into());
        self
    }
}

/// The settings [`Sdk::media`] uses.
static DEFAULT_CONFIG: std::sync::LazyLock<MediaConfig> =
    std::sync::LazyLock::new(MediaConfig::default);

impl Sdk {
    /// The media facade with the default [`MediaConfig`]; [`Media::new`] takes other settings.
    pub fn media(&self) -> Media<'_> {
        Media::new(self, &DEFAULT_CONFIG)
    }
}

/// The facade over an [`Sdk`]: [`Sdk::media`], or [`Media::new`] with your own settings.
#[derive(Debug, Clone, Copy)]
pub struct Media<'a> {
    sdk: &'a Sdk,
    config: &'a MediaConfig,
    /// Each request's whole budget, fallback included.
    deadline: Option<Duration>,
}

/// One entry able to serve a request, with the request planned for it.
struct Candidate<'a> {
    entry: &'static Entry,
    client: &'a ProviderClient,
    request: Value,
    /// Credits of the whole request.
    credits: u32,
    /// The canonical model name (`""` for text to speech).
    model: &'static str,
}

impl Candidate<'_> {
    fn provider(&self) -> &'static str {
        self.entry.endpoint.spec().provider
    }

    fn options(&self, until: Option<Instant>) -> CallOptions {
        call_options(self.credits, until)
    }
}

impl<'a> Media<'a> {
    /// The facade over `sdk` with `config`.
    pub fn new(sdk: &'a Sdk, config: &'a MediaConfig) -> Self {
        Self {
            sdk,
            config,
            deadline: None,
        }
    }

    /// This facade with each request bounded by `budget` in all, fallback included: every
    /// candidate's call gets what is left of it as its deadline
    /// ([`CallOptions::deadline`]), e.g. a Lambda's remaining time. Without it, each call
    /// has its provider's `retry.deadline_ms`.
    pub fn deadline(mut self, budget: Duration) -> Self {
        self.deadline = Some(budget);
        self
    }

    /// When the budget of a request starting now ends.
    fn until(&self) -> Option<Instant> {
        self.deadline.map(|budget| Instant::now() + budget)
    }

    /// Speaks `input.text` in `input.voice`, on the first candidate that succeeds (see the
    /// module docs for the voice mapping and the order).
    ///
    /// # Errors
    ///
    /// [`MediaError::Invalid`] (empty text, a speed that is not a positive number),
    /// [`MediaError::UnknownVoice`], [`MediaError::NoCandidates`] before any network call;
    /// [`MediaError::AllProvidersFailed`] when every candidate failed.
    pub async fn tts(&self, input: &TtsInput) -> Result<Speech> {
        let until = self.until();
        let candidates = self.tts_candidates(input)?;
        let candidates = self.order(&self.config.capabilities.tts, candidates).await;
        let mut attempts = Attempts::default();
        for c in candidates {
            let error = match c
                .entry
                .endpoint
                .call(c.client, c.request.clone(), &c.options(until))
                .await
            {
                Ok(Output::Audio(audio)) => {
                    attempts.served(&c);
                    return Ok(Speech {
                        audio,
                        provider: c.provider(),
                        credits_used: c.credits,
                    });
                }
                Ok(_) => unexpected(&c, "audio"),
                Err(error) => error,
            };
            attempts.failed(&c, error);
        }
        Err(attempts.into_error())
    }

    /// [`tts`](Self::tts) as a stream: the audio arrives chunk by chunk from candidates whose
    /// endpoint streams; a candidate that does not stream is called buffered and its audio
    /// handed over as one chunk, so it still takes part in fallback. The next candidate is
    /// tried only before the first byte (a failure before the stream is returned); once it is
    /// returned, a failure ends the stream with [`Error::Stream`] and nothing is replayed.
    ///
    /// # Errors
    ///
    /// As [`tts`](Self::tts).
    pub async fn tts_stream(&self, input: &TtsInput) -> Result<SpeechStream> {
        let until = self.until();
        let candidates = self.tts_candidates(input)?;
        let candidates = self.order(&self.config.capabilities.tts, candidates).await;
        let mut attempts = Attempts::default();
        for c in candidates {
            let endpoint = c.entry.endpoint;
            let options = c.options(until);
            let opened = if endpoint.streams() {
                endpoint.stream(c.client, c.request.clone(), &options).await
            } else {
                match endpoint.call(c.client, c.request.clone(), &options).await {
                    Ok(Output::Audio(audio)) => Ok(AudioStream::whole(audio)),
                    Ok(_) => Err(unexpected(&c, "audio")),
                    Err(error) => Err(error),
                }
            };
            match opened {
                Ok(audio) => {
                    attempts.served(&c);
                    return Ok(SpeechStream {
                        audio,
                        provider: c.provider(),
                        credits_used: c.credits,
                    });
                }
                Err(error) => attempts.failed(&c, error),
            }
        }
        Err(attempts.into_error())
    }

    /// Draws `input.prompt` with `input.model` (see the module docs for options and credits).
    ///
    /// # Errors
    ///
    /// [`MediaError::Invalid`], [`MediaError::UnknownModel`],
    /// [`MediaError::UnsupportedOption`], [`MediaError::NoCandidates`] before any network call;
    /// [`MediaError::AllProvidersFailed`] when every candidate failed.
    pub async fn image(&self, input: &ImageInput) -> Result<ImageResult> {
        non_empty("prompt", &input.prompt)?;
        let inputs = Inputs::new()
            .with("prompt", Some(Value::String(input.prompt.clone())))
            .with("size", input.size.clone().map(Value::String))
            .with("quality", input.quality.clone().map(Value::String));
        let capability = &self.config.capabilities.image;
        let candidates = self.media_candidates(capability, Some(&input.model), &inputs)?;
        let (images, served) = self.call_for_urls(capability, candidates).await?;
        Ok(ImageResult {
            images,
            model: served.model.to_owned(),
            credits_used: served.credits,
            provider: served.provider(),
        })
    }

    /// Makes the sound or music `input.prompt` describes.
    ///
    /// # Errors
    ///
    /// As [`image`](Self::image).
    pub async fn sound(&self, input: &SoundInput) -> Result<SoundResult> {
        non_empty("prompt", &input.prompt)?;
        let duration = match input.duration {
            Some(seconds) if !(seconds.is_finite() && seconds > 0.0) => {
                return Err(MediaError::Invalid {
                    message: "duration must be a positive number of seconds".to_owned(),
                });
            }
            duration => duration.and_then(plan::number),
        };
        let inputs = Inputs::new()
            .with("prompt", Some(Value::String(input.prompt.clone())))
            .with("duration", duration);
        let capability = &self.config.capabilities.sound;
        let candidates = self.media_candidates(capability, input.model.as_deref(), &inputs)?;
        let (audio, served) = self.call_for_urls(capability, candidates).await?;
        Ok(SoundResult {
            audio,
            model: served.model.to_owned(),
            credits_used: served.credits,
            provider: served.provider(),
        })
    }

    /// The text-to-speech candidates for `input`.
    fn tts_candidates(&self, input: &TtsInput) -> Result<Vec<Candidate<'a>>> {
        non_empty("text", &input.text)?;
        if !(input.speed.is_finite() && input.speed > 0.0) {
            return Err(MediaError::Invalid {
                message: format!("speed must be a positive number, got {}", input.speed),
            });
        }
        let speed = (input.speed != 1.0)
            .then(|| plan::number(input.speed))
            .flatten();
        let inputs = Inputs::new()
            .with("text", Some(Value::String(input.text.clone())))
            .with("speed", speed);
        let mut known = false;
        let mut candidates = Vec::new();
        for entry in self.config.capabilities.tts.entries {
            let provider = entry.endpoint.spec().provider;
            let extra = self.config.voices.get(provider);
            let Some(voice) = plan::resolve_voice(entry, extra, &input.voice)? else {
                continue;
            };
            known = true;
            let Some(client) = self.sdk.provider(provider) else {
                continue;
            };
            candidates.push(Candidate {
                entry,
                client,
                request: plan::tts_request(entry, &inputs, voice)?,
                credits: entry.credits,
                model: "",
            });
        }
        if !known {
            return Err(MediaError::UnknownVoice {
                voice: input.voice.clone(),
            });
        }
        if candidates.is_empty() {
            return Err(MediaError::NoCandidates {
                capability: CapabilityKind::Tts,
            });
        }
        Ok(candidates)
    }

    /// The candidates of `capability` for `model` (absent: each entry's first model), every
    /// request planned (options checked) before any network call.
    fn media_candidates(
        &self,
        capability: &'static Capability,
        model: Option<&str>,
        inputs: &Inputs,
    ) -> Result<Vec<Candidate<'a>>> {
        let serving: Vec<_> = capability
            .entries
            .iter()
            .filter_map(|entry| {
                let found = match model {
                    Some(name) => plan::find_model(entry, name),
                    None => entry.models.first(),
                };
                found.map(|m| (entry, m))
            })
            .collect();
        if serving.is_empty() {
            return Err(match model {
                Some(name) => MediaError::UnknownModel {
                    model: name.to_owned(),
                    known: plan::known_models(capability.entries),
                },
                None => MediaError::NoCandidates {
                    capability: capability.kind,
                },
            });
        }
        let mut refusal = None;
        let mut candidates = Vec::new();
        for (entry, model) in serving {
            let Planned { request, credits } = match plan::plan(entry, model, inputs) {
                Ok(planned) => planned,
                Err(refused @ MediaError::UnsupportedOption { .. }) => {
                    refusal.get_or_insert(refused);
                    continue;
                }
                Err(other) => return Err(other),
            };
            let Some(client) = self.sdk.provider(entry.endpoint.spec().provider) else {
                continue;
            };
            candidates.push(Candidate {
                entry,
                client,
                request,
                credits: credits.saturating_mul(ITEMS_PER_REQUEST),
                model: model.name,
            });
        }
        if candidates.is_empty() {
            return Err(refusal.unwrap_or(MediaError::NoCandidates {
                capability: capability.kind,
            }));
        }
        Ok(candidates)
    }

    /// Calls `candidates` in `capability`'s order until one answers with media URLs.
    async fn call_for_urls(
        &self,
        capability: &Capability,
        candidates: Vec<Candidate<'a>>,
    ) -> Result<(Vec<MediaUrl>, Candidate<'a>)> {
        let until = self.until();
        let candidates = self.order(capability, candidates).await;
        let mut attempts = Attempts::default();
        for c in candidates {
            let answer = c
                .entry
                .endpoint
                .call(c.client, c.request.clone(), &c.options(until))
                .await;
            match answer.and_then(|output| media_urls(c.entry, &output)) {
                Ok(urls) => {
                    attempts.served(&c);
                    return Ok((urls, c));
                }
                Err(error) => attempts.failed(&c, error),
            }
        }
        Err(attempts.into_error())
    }

    /// `candidates` in the order `capability` says.
    async fn order(
        &self,
        capability: &Capability,
        candidates: Vec<Candidate<'a>>,
    ) -> Vec<Candidate<'a>> {
        let health_id = |c: &Candidate<'_>| c.entry.endpoint.spec().health_id;
        let mut ids: Vec<&str> = Vec::new();
        for candidate in &candidates {
            if !ids.contains(&health_id(candidate)) {
                ids.push(health_id(candidate));
            }
        }
        if capability.fallback == Fallback::InOrder || ids.len() < 2 {
            return candidates;
        }
        let read = tokio::time::timeout(
            self.config.health_timeout,
            self.sdk.health().health_order(&ids),
        )
        .await;
        let Ok(order) = read else {
            tracing::warn!(
                capability = kind_name(capability.kind),
                timeout_ms =
                    u64::try_from(self.config.health_timeout.as_millis()).unwrap_or(u64::MAX),
                "health read too slow; the candidates keep their declared order"
            );
            return candidates;
        };
        let mut rest = candidates;
        let mut ordered = Vec::with_capacity(rest.len());
        for id in &order {
            let (first, others): (Vec<_>, Vec<_>) =
                rest.into_iter().partition(|c| health_id(c) == id);
            ordered.extend(first);
            rest = others;
        }
        ordered.extend(rest);
        ordered
    }
}

/// A call's options: its credits, and what is left of the request's budget.
fn call_options(credits: u32, until: Option<Instant>) -> CallOptions {
    let options = CallOptions::new().credits(credits);
    match until {
        Some(until) => options.deadline(until.saturating_duration_since(Instant::now())),
        None => options,
    }
}

/// The failed attempts of one request, in the order tried.
#[derive(Default)]
struct Attempts(Vec<(&'static str, Error)>);

impl Attempts {
    fn served(&self, candidate: &Candidate<'_>) {
        let spec = candidate.entry.endpoint.spec();
        tracing::debug!(
            provider = spec.provider,
            endpoint = spec.id,
            failed_before = self.0.len(),
            "media request served"
        );
    }

    fn failed(&mut self, candidate: &Candidate<'_>, error: Error) {
        let spec = candidate.entry.endpoint.spec();
        tracing::info!(
            provider = spec.provider, endpoint = spec.id, class = error.class(), %error,
            "media request failed on this provider; trying the next one"
        );
        self.0.push((spec.provider, error));
    }

    fn into_error(self) -> MediaError {
        MediaError::AllProvidersFailed { attempts: self.0 }
    }
}

/// The media URLs of `entry`'s answer `output`, or an [`Error::Decode`] when it has none.
fn media_urls(entry: &Entry, output: &Output) -> std::result::Result<Vec<MediaUrl>, Error> {
    let spec = entry.endpoint.spec();
    let document = match output {
        Output::Json(document)
        | Output::Job {
            output: document, ..
        } => document,
        Output::Audio(_) => &Value::Null,
    };
    let urls = plan::extract_urls(document, entry.output);
    if urls.is_empty() {
        let pointers: Vec<&str> = entry.output.iter().map(|p| p.pointer).collect();
        return Err(Error::Decode {
            provider: spec.provider,
            endpoint: spec.id,
            source: DecodeError(format!(
                "no media URL in the answer (looked at {})",
                pointers.join(", ")
            )),
        });
    }
    Ok(urls.into_iter().map(|url| MediaUrl { url }).collect())
}

/// The [`Error::Decode`] of an answer of the wrong kind.
fn unexpected(candidate: &Candidate<'_>, expected: &str) -> Error {
    let spec = candidate.entry.endpoint.spec();
    Error::Decode {
        provider: spec.provider,
        endpoint: spec.id,
        source: DecodeError(format!("expected {expected} from this endpoint")),
    }
}

/// [`MediaError::Invalid`] when `value` is blank.
fn non_empty(name: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(MediaError::Invalid {
            message: format!("{name} must not be empty"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facade's futures can be spawned (compiles or not; never called).
    fn futures_are_send(media: &Media<'_>, ticket: &VideoTicket) {
        fn send<T: Send>(_: T) {}
        let tts = TtsInput::new("hi", "alloy");
        send(media.tts(&tts));
        send(media.tts_stream(&tts));
        send(media.image(&ImageInput::new("p", "dall-e-3")));
        send(media.sound(&SoundInput {
            prompt: "p".into(),
            model: None,
            duration: None,
        }));
        send(media.video_submit(&VideoInput::new("p")));
        send(media.video_status(ticket));
    }

    #[test]
    fn facade_futures_are_send() {
        let _ = futures_are_send;
    }

    #[test]
    fn inputs_have_the_api_shapes() {
        let tts: TtsInput =
            serde_json::from_value(serde_json::json!({"text": "hi", "voice": "alloy"})).unwrap();
        assert_eq!(tts.speed, 1.0);
        assert!(
            serde_json::from_value::<TtsInput>(
                serde_json::json!({"text": "hi", "voice": "a", "pitch": 2})
            )
            .is_err()
        );
        let video: VideoInput =
            serde_json::from_value(serde_json::json!({"prompt": "p", "duration": 10})).unwrap();
        assert_eq!(video.duration, Some(OptionValue::from(10)));
        let video: VideoInput =
            serde_json::from_value(serde_json::json!({"prompt": "p", "duration": "10"})).unwrap();
        assert_eq!(video.duration, Some(OptionValue::from("10")));
    }

    #[test]
    fn errors_classify_for_the_service() {
        let invalid = || Error::Invalid {
            provider: "p",
            endpoint: "e",
            source: crate::ValidationError::new("speed", "too fast"),
        };
        let limited = |ms| Error::RateLimited {
            provider: "p",
            retry_after: Duration::from_millis(ms),
        };
        let all = |errors: Vec<Error>| MediaError::AllProvidersFailed {
            attempts: errors.into_iter().map(|e| ("p", e)).collect(),
        };
        assert!(all(vec![invalid(), invalid()]).is_invalid_input());
        assert!(!all(vec![invalid(), limited(1)]).is_invalid_input());
        assert_eq!(
            all(vec![limited(300), limited(200)]).retry_after(),
            Some(Duration::from_millis(200))
        );
        assert_eq!(all(vec![limited(300), invalid()]).retry_after(), None);
        assert!(all(vec![Error::not_configured("p"), Error::Config("x".into())]).is_unavailable());
        assert!(!all(vec![Error::not_configured("p"), limited(1)]).is_unavailable());
        let none = MediaError::NoCandidates {
            capability: CapabilityKind::Video,
        };
        assert!(none.is_unavailable() && !none.is_invalid_input());
        assert_eq!(
            none.to_string(),
            "no configured provider can serve this video request"
        );
        let refused = MediaError::UnsupportedOption {
            model: "m".into(),
            option: "size".into(),
            value: "9".into(),
            allowed: vec!["1".into(), "2".into()],
        };
        assert!(refused.is_invalid_input());
        assert_eq!(
            refused.to_string(),
            "m: unsupported size `9`; expected one of 1, 2"
        );
    }
}
