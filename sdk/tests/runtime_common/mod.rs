//! Shared by the `runtime_*` tests: the generated provider descriptors under short names, and
//! small helpers (a fake environment, captured logs, recorded telemetry, a closed port).
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub use media_sdk::generated::elevenlabs::PROVIDER as ELEVENLABS;
pub use media_sdk::generated::fal::PROVIDER as FAL;
pub use media_sdk::generated::kling::PROVIDER as KLING;
pub use media_sdk::generated::openai::PROVIDER as OPENAI;
use media_sdk::spec::RetryPolicy;

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

/// Log lines captured from `tracing` while a guard from [`capture_logs`] is alive.
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every event (all levels) on this thread until the guard is dropped.
pub fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// A telemetry sink that keeps what it is given, to assert on the runtime's reports.
#[derive(Default)]
pub struct Recorded {
    pub calls: std::sync::Mutex<Vec<media_sdk::telemetry::CallMetric>>,
    pub rate_limits: std::sync::Mutex<Vec<media_sdk::telemetry::RateLimitEvent>>,
}

impl media_sdk::telemetry::Telemetry for Recorded {
    fn record_call(&self, metric: media_sdk::telemetry::CallMetric) {
        self.calls.lock().unwrap().push(metric);
    }
    fn record_rate_limit(&self, event: media_sdk::telemetry::RateLimitEvent) {
        self.rate_limits.lock().unwrap().push(event);
    }
}

/// A loopback address nothing listens on (bound, then released).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
