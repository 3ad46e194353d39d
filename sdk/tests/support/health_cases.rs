//! Shared fixtures for the health tests: metric builders and the status-rule cases run against
//! every store.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use media_sdk::health::{
    Clock, HealthItem, HealthRecorder, HealthStore, ManualClock, MetricPage, PageCursor,
    ProviderStatus, RateLimitItem, RecorderConfig, StoreFuture, check_provider_health,
};
use media_sdk::spec::HealthRules;
use media_sdk::telemetry::{CallMetric, RateLimitEvent};

/// 2025-01-01T00:00:00Z: tests run on a manual clock standing here.
pub const START_MS: u64 = 1_735_689_600_000;

/// A manual clock at [`START_MS`].
pub fn clock() -> ManualClock {
    ManualClock::at_millis(START_MS)
}

/// A `'static` copy of `s` (telemetry ids are `&'static str`; test ids are made at run time).
pub fn leak(s: impl Into<String>) -> &'static str {
    Box::leak(s.into().into_boxed_str())
}

/// A finished call.
pub fn call(health_id: &'static str, at: SystemTime, latency_ms: u64, success: bool) -> CallMetric {
    CallMetric {
        health_id,
        provider: "acme",
        endpoint: "speak",
        latency_ms,
        ttfb_ms: None,
        cancelled: false,
        success,
        status: Some(if success { 200 } else { 500 }),
        error_class: (!success).then_some("api"),
        attempts: 1,
        key_fingerprint: Some("fp-1a2b3c".to_owned()),
        credits: 0,
        at,
    }
}

/// A rate-limit event.
pub fn rate_limit(
    provider: &'static str,
    health_id: &'static str,
    key_fingerprint: &str,
    at: SystemTime,
    cooldown: Duration,
) -> RateLimitEvent {
    RateLimitEvent {
        provider,
        health_id,
        key_fingerprint: key_fingerprint.to_owned(),
        cooldown,
        rotated: true,
        at,
    }
}

/// Rules used by the status cases.
pub const RULES: HealthRules = HealthRules {
    window_secs: 300,
    min_requests: 4,
    degraded_success_rate_below: 0.95,
    degraded_avg_latency_ms_above: 1000,
    down_success_rate_below: 0.5,
};

/// One status-rule case: the calls in the window and the status they must give.
pub struct StatusCase {
    pub name: &'static str,
    /// `(latency_ms, success)` per call.
    pub calls: Vec<(u64, bool)>,
    pub expected: ProviderStatus,
}

fn calls(ok: usize, failed: usize, latency_ms: u64) -> Vec<(u64, bool)> {
    let mut out = vec![(latency_ms, true); ok];
    out.extend(vec![(latency_ms, false); failed]);
    out
}

/// Every boundary of the rules in [`RULES`].
pub fn status_cases() -> Vec<StatusCase> {
    use ProviderStatus::*;
    vec![
        StatusCase {
            name: "no requests is unknown",
            calls: vec![],
            expected: Unknown,
        },
        StatusCase {
            name: "below min_requests is unknown even if all fail",
            calls: calls(0, 3, 100),
            expected: Unknown,
        },
        StatusCase {
            name: "min_requests reached, all fast successes: healthy",
            calls: calls(4, 0, 100),
            expected: Healthy,
        },
        StatusCase {
            name: "success rate exactly at the degraded threshold: healthy",
            calls: calls(19, 1, 100),
            expected: Healthy,
        },
        StatusCase {
            name: "success rate just below the degraded threshold: degraded",
            calls: calls(17, 1, 100),
            expected: Degraded,
        },
        StatusCase {
            name: "success rate exactly at the down threshold: degraded",
            calls: calls(2, 2, 100),
            expected: Degraded,
        },
        StatusCase {
            name: "success rate just below the down threshold: down",
            calls: calls(4, 5, 100),
            expected: Down,
        },
        StatusCase {
            name: "average latency exactly at the limit: healthy",
            calls: calls(4, 0, 1000),
            expected: Healthy,
        },
        StatusCase {
            name: "average latency just above the limit: degraded",
            calls: vec![(1000, true), (1000, true), (1000, true), (1001, true)],
            expected: Degraded,
        },
        StatusCase {
            name: "down wins over slow",
            calls: calls(1, 4, 5000),
            expected: Down,
        },
    ]
}

/// Records every case through a [`HealthRecorder`] into `store` and checks the status read
/// back. `clock` must be the store's clock.
pub async fn check_status_cases(store: Arc<dyn HealthStore>, clock: &ManualClock, prefix: &str) {
    let recorder = HealthRecorder::spawn(store.clone(), RecorderConfig::default());
    let cases = status_cases();
    let now = clock.now();
    for (i, case) in cases.iter().enumerate() {
        let id = leak(format!("{prefix}-case-{i}"));
        for (j, (latency, success)) in case.calls.iter().enumerate() {
            let at = now - Duration::from_millis(1 + j as u64);
            recorder.record_call(call(id, at, *latency, *success));
        }
    }
    recorder
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let id = format!("{prefix}-case-{i}");
        let report = check_provider_health(store.as_ref(), clock, &id, "acme", &RULES)
            .await
            .expect("read health");
        if report.status != case.expected || report.requests != case.calls.len() as u64 {
            failures.push(format!(
                "{}: expected {} with {} requests, got {} with {} requests",
                case.name,
                case.expected,
                case.calls.len(),
                report.status,
                report.requests
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "status cases failed:\n{}",
        failures.join("\n")
    );
}

/// `ms` after the Unix epoch.
pub fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Counts store queries (a decorator over a real store).
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    metric_queries: AtomicU64,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            metric_queries: AtomicU64::new(0),
        }
    }

    /// `query_metrics` calls so far.
    pub fn metric_queries(&self) -> u64 {
        self.metric_queries.load(Ordering::SeqCst)
    }
}

impl<S: HealthStore> HealthStore for Counted<S> {
    fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
        self.inner.write_batch(items)
    }
    fn query_metrics<'a>(
        &'a self,
        health_id: &'a str,
        since: SystemTime,
        cursor: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage> {
        self.metric_queries.fetch_add(1, Ordering::SeqCst);
        self.inner.query_metrics(health_id, since, cursor)
    }
    fn query_rate_limits<'a>(
        &'a self,
        provider: &'a str,
        since: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>> {
        self.inner.query_rate_limits(provider, since)
    }
    fn publish_cooldown<'a>(
        &'a self,
        provider: &'a str,
        key: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, bool> {
        self.inner.publish_cooldown(provider, key, until)
    }
    fn active_cooldowns<'a>(
        &'a self,
        provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
        self.inner.active_cooldowns(provider)
    }
}
