//! The facade calls the service makes, and how their failures are answered.

use std::time::Duration;

pub(crate) use media_sdk::media::{
    ImageInput, MediaError, SoundInput, TtsInput, VideoInput, VideoStatus, VideoTicket,
};

/// How a facade failure is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The input was refused before any network call: 400.
    InvalidInput,
    /// Every attempt was rate limited; the earliest key is back after this: 429.
    RateLimited(Duration),
    /// No provider could be asked (none configured, no keys, every key quarantined): 503.
    Unavailable,
    /// Providers were asked and failed: 502.
    ProviderFailed,
}

/// How `error` is answered, by the facade's own classification.
pub(crate) fn classify(error: &MediaError) -> Failure {
    if error.is_invalid_input() {
        Failure::InvalidInput
    } else if let Some(wait) = error.retry_after() {
        Failure::RateLimited(wait)
    } else if error.is_unavailable() {
        Failure::Unavailable
    } else {
        Failure::ProviderFailed
    }
}
