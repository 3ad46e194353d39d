//! The media capabilities of the spec (`capabilities:` in `providers.yaml`), as data.
//!
//! Generated into [`CAPABILITIES`](crate::CAPABILITIES) by `cargo xtask codegen`; the facade
//! ([`Media`](super::Media)) interprets them. Nothing here names a provider.
//!
//! JSON templates (`request` fields) are JSON objects stored as text. A string value that is
//! exactly `"{name}"` is a placeholder for the unified input `name` (see [`CapabilityKind`]
//! for each capability's inputs); it is replaced by the input's JSON value, or the key is left
//! out when the input is absent or equal to its default, and an object left empty is left out
//! too.

use crate::dynamic::DynEndpoint;

/// The four media capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CapabilityKind {
    /// Text to speech. Inputs: `text`, `voice`, `speed` (default 1.0). Output: audio.
    Tts,
    /// Image. Inputs: `prompt`, `model`, `size`, `quality`. Output: image URLs.
    Image,
    /// Video (a job). Inputs: `prompt`, `model`, `duration`, `aspect_ratio`. Output: video URLs.
    Video,
    /// Sound or music. Inputs: `prompt`, `model`, `duration`. Output: audio URLs.
    Sound,
}

/// How the candidates of a request are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fallback {
    /// Fastest healthy first, by the health monitor (ties keep the declared order); the next
    /// one on failure. The default.
    FastestHealthy,
    /// The declared order; the next one on failure.
    InOrder,
}

/// Every capability of the spec.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// Text to speech.
    pub tts: Capability,
    /// Images.
    pub image: Capability,
    /// Video.
    pub video: Capability,
    /// Sound and music.
    pub sound: Capability,
}

impl Capabilities {
    /// The capability of `kind`.
    pub fn get(&self, kind: CapabilityKind) -> &Capability {
        match kind {
            CapabilityKind::Tts => &self.tts,
            CapabilityKind::Image => &self.image,
            CapabilityKind::Video => &self.video,
            CapabilityKind::Sound => &self.sound,
        }
    }
}

/// One capability: its candidates in preference order and how they are ordered per request.
#[derive(Debug, Clone, Copy)]
pub struct Capability {
    /// Which capability.
    pub kind: CapabilityKind,
    /// How candidates are ordered.
    pub fallback: Fallback,
    /// The candidate endpoints, in declared preference order.
    pub entries: &'static [Entry],
}

/// One candidate endpoint of a capability.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The endpoint called.
    pub endpoint: &'static DynEndpoint,
    /// JSON object template of the endpoint's request (see the module docs).
    pub request: &'static str,
    /// Credits per call (text to speech) or per output item (image, video, sound) when the
    /// model does not say otherwise. Default 1.
    pub credits: u32,
    /// How the unified `voice` becomes this endpoint's voice (text to speech only).
    pub voices: Option<Voices>,
    /// The models this entry serves (image, video, sound), in declared order; the first is
    /// the entry's default model. Empty for text to speech.
    pub models: &'static [Model],
    /// Where the output's URLs are, tried in order: the first that finds any string wins
    /// (e.g. `/data/*/url`, then `/data/*/b64_json` as `image/png`). Empty for text to speech.
    pub output: &'static [OutputPath],
}

/// Where an output's media are in the endpoint's JSON answer.
#[derive(Debug, Clone, Copy)]
pub struct OutputPath {
    /// A JSON pointer; a `*` segment walks every element of an array.
    pub pointer: &'static str,
    /// `None`: the strings found are URLs. `Some(media type)`: they are base64 data, returned
    /// as `data:<media type>;base64,...` URLs.
    pub inline_type: Option<&'static str>,
}

/// How the unified voice maps onto one endpoint's voice field.
#[derive(Debug, Clone, Copy)]
pub struct Voices {
    /// Facade voice (lowercase) → the field's JSON value, checked first.
    pub names: &'static [(&'static str, &'static str)],
    /// Values of the field's enum that pass as themselves (empty: none).
    pub listed: &'static [&'static str],
    /// Voices that look like this provider's voice ids pass through.
    pub ids: Option<VoiceIds>,
}

/// What a provider voice id looks like, and how it is sent.
#[derive(Debug, Clone, Copy)]
pub struct VoiceIds {
    /// Required prefix (`""`: none).
    pub prefix: &'static str,
    /// Exact length in bytes, when fixed.
    pub length: Option<usize>,
    /// JSON template of the field's value with `"{voice}"` placeholders, e.g. `{"id":"{voice}"}`.
    pub template: &'static str,
}

/// One model an entry serves.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The canonical name, returned in answers (e.g. `dall-e-3`).
    pub name: &'static str,
    /// Other accepted names (e.g. `dalle-3`).
    pub aliases: &'static [&'static str],
    /// JSON object merged over the entry's request template (e.g. `{"model":"dall-e-3"}`).
    pub request: &'static str,
    /// Restricted options: `(option, accepted values)`. An option listed here must be one of
    /// its values (compared as strings); each value maps to the JSON sent for it. Options not
    /// listed pass as given and are checked by the endpoint.
    pub options: &'static [(&'static str, &'static [(&'static str, &'static str)])],
    /// Credits per output item.
    pub credits: u32,
    /// Credits per output item by option value, e.g. `("quality", "hd", 20)`; overrides
    /// [`credits`](Self::credits).
    pub credits_by: &'static [(&'static str, &'static str, u32)],
}
