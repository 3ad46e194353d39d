//! The vocabulary of a media-sdk provider spec, named once and shared by the generator
//! (`xtask`), the derive (`media-sdk-macros`), the runtime (`media-sdk`) and the simulator
//! (`media-sdk-sim`):
//!
//! - [`PathTemplate`]: an endpoint path such as `/v1/text-to-speech/{voice_id}`, parsed once;
//!   rendered with each parameter percent-encoded as one path segment, and matched against a
//!   request path;
//! - the closed sets a spec chooses from: [`AuthKind`], [`Method`], [`ResponseKind`] and
//!   [`JobFlowKind`], each with [`FromStr`](std::str::FromStr), [`Display`](std::fmt::Display)
//!   and `as_str` in the spelling `providers.yaml` uses;
//! - the defaults a spec and a derived request type share, such as
//!   [`DEFAULT_STREAM_IDLE_TIMEOUT_MS`].
//!
//! Features: `serde` (`Serialize`/`Deserialize` of the kinds), `schemars` (their JSON Schema),
//! `http` (`Method::as_http`).
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod kinds;
mod path;

pub use kinds::{AuthKind, JobFlowKind, Method, ResponseKind, UnknownKind};
pub use path::{
    PathTemplate, RenderError, Segment, TemplateError, TemplateErrorKind, segment_problem,
};

/// Default longest wait for the next chunk of a streamed answer (`stream.idle_timeout_ms`):
/// ten seconds.
pub const DEFAULT_STREAM_IDLE_TIMEOUT_MS: u64 = 10_000;
/// Default most bytes of audio one stream may deliver (`stream.max_bytes`): 512 MiB.
pub const DEFAULT_STREAM_MAX_BYTES: u64 = 512 << 20;
