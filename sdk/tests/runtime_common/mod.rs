//! Shared by the `runtime_*` tests: the generated provider descriptors under short names, and
//! small helpers (a fake environment, captured logs, recorded telemetry, a closed port).
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub use media_sdk::elevenlabs::PROVIDER as ELEVENLABS;
pub use media_sdk::fal::PROVIDER as FAL;
pub use media_sdk::kling::PROVIDER as KLING;
pub use media_sdk::openai::PROVIDER as OPENAI;
use media_sdk::spec::RetryPolicy;

#[path = "../support/logs.rs"]
mod logs;
pub use logs::{Logs, capture_logs};
#[path = "../support/recorded.rs"]
mod recorded;
pub use recorded::Recorded;

/// The retry policy every provider of `providers.yaml` shares (the spec's defaults).
pub const RETRY: RetryPolicy = OPENAI.retry;

/// A lookup over fixed `(name, value)` pairs, standing in for the process environment.
pub fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A loopback address nothing listens on (bound, then released).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
