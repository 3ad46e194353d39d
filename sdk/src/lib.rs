//! # media-sdk
//!
//! Config-driven, rate-limit-aware clients for AI media providers: OpenAI (text to speech,
//! images), fal.ai (Flux Pro, Stable Audio), Kling AI (video) and ElevenLabs (text to speech).
//!
//! `providers.yaml` at the repository root describes every provider; `cargo xtask codegen`
//! turns it into the typed clients in [`generated`]. Every call made through them draws a key
//! from the provider's pool, rotates to another key on HTTP 429, backs off on transient
//! failures, and records a health metric without slowing the request.
#![deny(missing_docs)]

extern crate self as media_sdk;

pub mod admission;
pub mod auth;
pub mod classify;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod generated;
pub mod health;
pub mod keys;
pub mod media;
pub mod pace;
pub mod retry;
pub mod sdk;
#[cfg(feature = "sim")]
pub mod sim;
pub mod spec;
pub mod telemetry;

pub use endpoint::{Audio, Endpoint, Job, Validate, ValidationError};
pub use error::{Error, Result};
#[doc = include_str!("derive_endpoint.md")]
pub use media_sdk_macros::Endpoint;
