//! The vocabulary of a media-sdk provider spec, named once and shared by the generator
//! (`xtask`), the derive (`media-sdk-macros`), the runtime (`media-sdk`) and the simulator
//! (`media-sdk-sim`):
//!
//! - [`PathTemplate`]: an endpoint path such as `/v1/text-to-speech/{voice_id}`, parsed once;
//!   rendered with each parameter percent-encoded as one path segment, and matched against a
//!   request path;
//! - the closed sets a spec chooses from: [`AuthKind`], [`Method`], [`ResponseKind`] and
//!   [`JobFlowKind`], each with [`FromStr`](std::str::FromStr), [`Display`](std::fmt::Display)
//!   and `as_str` in the spelling `providers.yaml` uses.
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
