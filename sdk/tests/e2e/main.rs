//! Every generated client end to end against the simulator over loopback HTTP: requests, faults,
//! concurrency, streamed audio.
//!
//! One test binary for these suites (one link instead of one per file).

#[path = "../e2e_support/mod.rs"]
mod e2e_support;

mod concurrency;
mod faults;
mod requests;
mod stream;
