//! The runtime through its public API: the client, key pools, the derive, conveniences, provider
//! isolation (the media facade is tested in `e2e/media.rs`).
//!
//! One test binary for these suites (one link instead of one per file).

#[path = "../support/integ.rs"]
mod integ;
#[path = "../runtime_common/mod.rs"]
mod runtime_common;

mod client;
mod conveniences;
mod derive_endpoint;
mod isolation;
mod keys;
