//! The simulator over real HTTP on loopback: auth, faults, jobs, the request log, rate limits,
//! streamed audio, tracing and validation. One test binary for these suites (one link instead of one per file).

#[path = "../sim_support/mod.rs"]
mod sim_support;

mod auth;
mod faults;
mod jobs;
mod log;
mod rate_limit;
mod stream;
mod tracing_events;
mod validation;
