//! Every generated client end to end against the simulator over loopback HTTP: requests, faults,
//! concurrency, streamed audio, the media facade.
//!
//! One test binary for these suites (one link instead of one per file).

#[path = "../e2e_support/mod.rs"]
mod e2e_support;

mod concurrency;
mod faults;
mod media;
mod requests;
mod stream;
