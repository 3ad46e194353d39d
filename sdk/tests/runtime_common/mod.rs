//! Provider descriptors for the runtime tests, copied by hand from `providers.yaml` (keys, auth,
//! retry, error rules, envelope), so these tests do not depend on the generated code.
#![allow(dead_code)]

use media_sdk::spec::*;

pub const TIMEOUTS: Timeouts = Timeouts {
    connect_ms: 5000,
    request_ms: 60000,
};

pub const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay_ms: 200,
    max_delay_ms: 5000,
    deadline_ms: 120000,
    default_cooldown_ms: 20000,
    max_wait_ms: 2000,
    retry_statuses: &[500, 502, 503, 504],
    retry_timeouts: true,
};

pub const HEALTH: HealthRules = HealthRules {
    window_secs: 300,
    min_requests: 1,
    degraded_success_rate_below: 0.95,
    degraded_avg_latency_ms_above: 5000,
    down_success_rate_below: 0.5,
};

pub const ALERTS: AlertThresholds = AlertThresholds {
    rate_limits_per_hour: 10,
    avg_latency_ms: 5000,
    success_rate: 0.90,
};

pub static OPENAI: ProviderSpec = ProviderSpec {
    id: "openai",
    name: "OpenAI",
    base_url: "https://api.openai.com",
    base_url_env: "OPENAI_BASE_URL",
    auth: AuthScheme::Bearer,
    keys: KeySource {
        env: "OPENAI_API_KEYS",
        legacy_env: Some("OPENAI_API_KEY"),
        recommended_min: 3,
        recommended_max: 5,
    },
    timeouts: TIMEOUTS,
    retry: RETRY,
    errors: ErrorRules {
        message: &["/error/message"],
        code: &["/error/code", "/error/type"],
        rate_limited: &["rate_limit_exceeded"],
        quarantine: &[
            "insufficient_quota",
            "invalid_api_key",
            "account_deactivated",
            "billing_hard_limit_reached",
        ],
        busy: &[],
        retryable: &[],
    },
    envelope: None,
    health: HEALTH,
    alerts: ALERTS,
    endpoints: &[SPEECH],
};

pub const SPEECH: EndpointSpec = EndpointSpec {
    provider: "openai",
    id: "speech",
    health_id: "openai-tts",
    method: Method::Post,
    path: "/v1/audio/speech",
    response: ResponseSpec::Audio {
        content_type: "audio/mpeg",
    },
};

pub static FAL: ProviderSpec = ProviderSpec {
    id: "fal",
    name: "fal.ai",
    base_url: "https://queue.fal.run",
    base_url_env: "FAL_BASE_URL",
    auth: AuthScheme::FalKey,
    keys: KeySource {
        env: "FAL_KEYS",
        legacy_env: Some("FAL_KEY"),
        recommended_min: 2,
        recommended_max: 3,
    },
    timeouts: TIMEOUTS,
    retry: RETRY,
    errors: ErrorRules {
        message: &["/detail/0/msg", "/detail/message", "/detail"],
        code: &["/detail/0/type", "/detail/status"],
        rate_limited: &[],
        quarantine: &["insufficient_credits", "user_locked"],
        busy: &[],
        retryable: &[],
    },
    envelope: None,
    health: HEALTH,
    alerts: ALERTS,
    endpoints: &[],
};

pub static KLING: ProviderSpec = ProviderSpec {
    id: "kling",
    name: "Kling AI",
    base_url: "https://api.klingai.com",
    base_url_env: "KLING_BASE_URL",
    auth: AuthScheme::KlingJwt { ttl_secs: 1800 },
    keys: KeySource {
        env: "KLING_API_KEYS",
        legacy_env: Some("KLING_API_KEY"),
        recommended_min: 2,
        recommended_max: 2,
    },
    timeouts: TIMEOUTS,
    retry: RETRY,
    errors: ErrorRules {
        message: &["/message"],
        code: &["/code"],
        rate_limited: &["1302", "1303"],
        quarantine: &["1000", "1001", "1002", "1003", "1004", "1102"],
        busy: &[],
        retryable: &["5000", "5001"],
    },
    envelope: Some(Envelope {
        code: "/code",
        ok: 0,
        message: "/message",
        data: "/data",
    }),
    health: HEALTH,
    alerts: ALERTS,
    endpoints: &[],
};

pub static ELEVENLABS: ProviderSpec = ProviderSpec {
    id: "elevenlabs",
    name: "ElevenLabs",
    base_url: "https://api.elevenlabs.io",
    base_url_env: "ELEVENLABS_BASE_URL",
    auth: AuthScheme::Header {
        header: "xi-api-key",
    },
    keys: KeySource {
        env: "ELEVENLABS_API_KEYS",
        legacy_env: Some("ELEVENLABS_API_KEY"),
        recommended_min: 2,
        recommended_max: 3,
    },
    timeouts: TIMEOUTS,
    retry: RETRY,
    errors: ErrorRules {
        message: &["/detail/message", "/detail/0/msg", "/detail"],
        code: &["/detail/status", "/detail/0/type"],
        rate_limited: &["too_many_concurrent_requests"],
        quarantine: &["invalid_api_key", "quota_exceeded"],
        busy: &["system_busy"],
        retryable: &[],
    },
    envelope: None,
    health: HEALTH,
    alerts: ALERTS,
    endpoints: &[],
};

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
