//! # media-sdk
//!
//! Config-driven, rate-limit-aware clients for AI media providers: OpenAI (text to speech,
//! images), fal.ai (Flux Pro, Stable Audio), Kling AI (video) and ElevenLabs (text to speech).
//!
//! `providers.yaml` at the repository root describes every provider; `cargo xtask codegen`
//! turns it into the typed clients, one module per provider ([`openai`], [`fal`], [`kling`],
//! [`elevenlabs`]) with its client ([`OpenAi`], ...) reached from [`Sdk`]. Every call made
//! through them draws a key from the provider's pool, rotates to another key on HTTP 429, backs
//! off on transient failures, and records a health metric without slowing the request; audio
//! endpoints that declare a stream also hand their audio over as it arrives ([`AudioStream`]).
#![deny(missing_docs)]
#![warn(unreachable_pub)]

extern crate self as media_sdk;

mod admission;
mod auth;
mod classify;
mod client;
pub mod dynamic;
mod endpoint;
mod error;
mod generated;
pub mod health;
pub mod keys;
#[cfg(test)]
mod layering;
pub mod media;
mod pace;
mod retry;
mod sdk;
mod secret;
pub mod spec;
mod stream;
pub mod telemetry;

pub use client::{CallOptions, ProviderClient, resolve_provider_url};
pub use endpoint::{Audio, DecodeError, Endpoint, Job, ResponseBody, Validate, ValidationError};
pub use error::{Error, Result, StreamFailure};
pub use generated::*;
#[doc = include_str!("derive_endpoint.md")]
pub use media_sdk_macros::Endpoint;
pub use sdk::{DEFAULT_COOLDOWN_SYNC_INTERVAL, EMF_ENV, MEMBER_PREFIX, Sdk, SdkBuilder};
pub use stream::AudioStream;

// The runtime (`sdk`) knows no provider; the generated ones are its default.
impl Sdk {
    /// A builder with defaults: every generated provider ([`PROVIDERS`]), keys and base URLs
    /// from the environment, the health store from the environment, lenient about missing keys.
    pub fn builder() -> SdkBuilder {
        SdkBuilder::new(PROVIDERS)
    }

    /// [`Sdk::builder`] with its defaults, built: everything from the environment.
    ///
    /// # Errors
    ///
    /// As [`SdkBuilder::build`].
    pub fn from_env() -> Result<Self> {
        Self::builder().build()
    }

    /// [`Sdk::from_env`], then every key source read once
    /// ([`SdkBuilder::build_loaded`]): keys declared in AWS Secrets Manager are in the pools
    /// before the first call. What a Lambda's cold start should use.
    ///
    /// # Errors
    ///
    /// As [`SdkBuilder::build_loaded`].
    pub async fn from_env_loaded() -> Result<Self> {
        Self::builder().build_loaded().await
    }
}

/// Support for `#[derive(Endpoint)]`'s expansion. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::endpoint::{decode_json, param_value};
}
