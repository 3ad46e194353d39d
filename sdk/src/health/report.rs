//! Turning stored metrics into a [`HealthReport`].

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::spec::HealthRules;

use super::clock::{Clock, epoch_millis};
use super::store::{HealthStore, MetricItem, StoreError};

/// How far back rate-limit events count towards [`HealthReport::rate_limits`].
pub const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// The health of one health id over its window.
///
/// The rules, applied in this order (see [`HealthRules`]):
/// 1. fewer than `min_requests` requests in the window (or none at all): [`Unknown`](Self::Unknown);
/// 2. success rate below `down_success_rate_below`: [`Down`](Self::Down);
/// 3. success rate below `degraded_success_rate_below`, or average latency above
///    `degraded_avg_latency_ms_above`: [`Degraded`](Self::Degraded);
/// 4. otherwise [`Healthy`](Self::Healthy).
///
/// Comparisons are strict: a success rate exactly at a threshold, or an average latency exactly
/// at the limit, does not trip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatus {
    /// Enough requests, good success rate and latency.
    Healthy,
    /// Working, but failing or slow more than the rules allow.
    Degraded,
    /// Mostly failing.
    Down,
    /// Too few requests in the window to tell.
    Unknown,
}

impl ProviderStatus {
    /// Lower-case name: `healthy`, `degraded`, `down`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Healthy => "healthy",
            ProviderStatus::Degraded => "degraded",
            ProviderStatus::Down => "down",
            ProviderStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ProviderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Applies the [`ProviderStatus`] rules to `requests` calls of which `successes` succeeded, with
/// total latency `total_latency_ms`.
pub fn evaluate(
    rules: &HealthRules,
    requests: u64,
    successes: u64,
    total_latency_ms: u64,
) -> ProviderStatus {
    if requests == 0 || requests < rules.min_requests {
        return ProviderStatus::Unknown;
    }
    let success_rate = successes as f64 / requests as f64;
    let avg_latency_ms = total_latency_ms as f64 / requests as f64;
    if success_rate < rules.down_success_rate_below {
        ProviderStatus::Down
    } else if success_rate < rules.degraded_success_rate_below
        || avg_latency_ms > rules.degraded_avg_latency_ms_above as f64
    {
        ProviderStatus::Degraded
    } else {
        ProviderStatus::Healthy
    }
}

/// The health of one health id, as read back from the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// Health id, e.g. `"openai-tts"`.
    pub health_id: String,
    /// Provider id.
    pub provider: String,
    /// The status under the rules.
    pub status: ProviderStatus,
    /// Mean latency over the window; `None` without requests.
    pub avg_latency_ms: Option<f64>,
    /// 95th percentile latency (nearest rank); `None` without requests.
    pub p95_latency_ms: Option<u64>,
    /// Successful share of the requests (0..=1); `None` without requests.
    pub success_rate: Option<f64>,
    /// Requests in the window (streams cancelled by their caller left out).
    pub requests: u64,
    /// Rate-limit events of this health id in the last hour ([`RATE_LIMIT_WINDOW`]).
    pub rate_limits: u64,
    /// Rate-limit events of the whole provider (every health id) in the last hour: what the
    /// rate-limit alert counts, as the CloudWatch alarm does.
    pub provider_rate_limits: u64,
    /// The rolling window the metrics cover.
    #[serde(rename = "window_secs", serialize_with = "serialize_secs")]
    pub window: Duration,
    /// When the report was computed.
    #[serde(serialize_with = "serialize_time")]
    pub checked_at: SystemTime,
    /// Usage per key over the window (calls whose key is known, cancelled streams left out),
    /// by fingerprint: what each key costs, for cost control and `keys.daily_budget`.
    pub keys: Vec<KeyUsage>,
}

/// One key's usage over a report's window, summed from the metric items (every process
/// sharing the store: no extra store traffic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyUsage {
    /// The key's fingerprint.
    pub fingerprint: String,
    /// Calls it served.
    pub calls: u64,
    /// Of which succeeded.
    pub successes: u64,
    /// Credits of its calls (declared by the endpoint's capability; 0 when none is).
    pub credits: u64,
}

/// Sums `metrics` per key fingerprint (items without one and cancelled streams left out),
/// ordered by fingerprint.
pub fn key_usage<'a>(metrics: impl IntoIterator<Item = &'a MetricItem>) -> Vec<KeyUsage> {
    let mut by_key: std::collections::BTreeMap<&str, KeyUsage> = Default::default();
    for m in metrics.into_iter().filter(|m| !m.cancelled) {
        let Some(fp) = m.key_fingerprint.as_deref() else {
            continue;
        };
        let usage = by_key.entry(fp).or_insert_with(|| KeyUsage {
            fingerprint: fp.to_owned(),
            calls: 0,
            successes: 0,
            credits: 0,
        });
        usage.calls += 1;
        usage.successes += u64::from(m.success);
        usage.credits += u64::from(m.credits);
    }
    by_key.into_values().collect()
}

fn serialize_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn serialize_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

impl HealthReport {
    /// The report for `metrics` (already restricted to the window) and `rate_limits` events
    /// (counted for the provider too: set [`provider_rate_limits`](Self::provider_rate_limits)
    /// when the provider has other health ids).
    pub fn from_metrics(
        health_id: &str,
        provider: &str,
        rules: &HealthRules,
        metrics: &[MetricItem],
        rate_limits: u64,
        checked_at: SystemTime,
    ) -> Self {
        // A stream the caller cancelled says nothing about the provider: neither a success
        // nor a failure, and its time is the caller's.
        let counted = || metrics.iter().filter(|m| !m.cancelled);
        let requests = counted().count() as u64;
        let successes = counted().filter(|m| m.success).count() as u64;
        let total_latency: u64 = counted().map(|m| m.latency_ms).sum();
        let status = evaluate(rules, requests, successes, total_latency);
        let (avg, p95, rate) = if requests == 0 {
            (None, None, None)
        } else {
            let mut latencies: Vec<u64> = counted().map(|m| m.latency_ms).collect();
            latencies.sort_unstable();
            // Nearest rank: the smallest value with at least 95% of the values at or below it.
            let rank = (latencies.len() * 95).div_ceil(100).max(1);
            (
                Some(total_latency as f64 / requests as f64),
                Some(latencies[rank - 1]),
                Some(successes as f64 / requests as f64),
            )
        };
        Self {
            health_id: health_id.to_owned(),
            provider: provider.to_owned(),
            status,
            avg_latency_ms: avg,
            p95_latency_ms: p95,
            success_rate: rate,
            requests,
            rate_limits,
            provider_rate_limits: rate_limits,
            window: rules.window(),
            checked_at,
            keys: key_usage(metrics),
        }
    }
}

/// Reads `health_id`'s metrics over the window of `rules` (every page of
/// `pk = PROVIDER_HEALTH#<id> AND begins_with(sk, "METRIC#")`, newest first, skipping expired
/// items) and its provider's rate-limit events of the last hour (this health id's in
/// [`HealthReport::rate_limits`], all of them in [`HealthReport::provider_rate_limits`]), and
/// applies the rules.
pub async fn check_provider_health(
    store: &dyn HealthStore,
    clock: &dyn Clock,
    health_id: &str,
    provider: &str,
    rules: &HealthRules,
) -> Result<HealthReport, StoreError> {
    let now = clock.now();
    let now_ms = epoch_millis(now);
    let since = now
        .checked_sub(rules.window())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let since_ms = epoch_millis(since);
    let mut metrics = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.query_metrics(health_id, since, cursor).await?;
        metrics.extend(
            page.items
                .into_iter()
                .filter(|m| m.at_ms >= since_ms && m.at_ms <= now_ms && !m.is_expired(now)),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let rate_since = now
        .checked_sub(RATE_LIMIT_WINDOW)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let events: Vec<_> = store
        .query_rate_limits(provider, rate_since)
        .await?
        .into_iter()
        .filter(|r| r.at_ms <= now_ms && !r.is_expired(now))
        .collect();
    let rate_limits = events.iter().filter(|r| r.health_id == health_id).count() as u64;
    let provider_rate_limits = events.len() as u64;
    tracing::debug!(
        health_id,
        provider,
        requests = metrics.len(),
        rate_limits,
        provider_rate_limits,
        "read provider health"
    );
    Ok(HealthReport {
        provider_rate_limits,
        ..HealthReport::from_metrics(health_id, provider, rules, &metrics, rate_limits, now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(latency_ms: u64, success: bool, cancelled: bool) -> MetricItem {
        MetricItem {
            health_id: "openai-tts".into(),
            provider: "openai".into(),
            endpoint: "speech".into(),
            at_ms: 1_000,
            unique: "u".into(),
            latency_ms,
            ttfb_ms: Some(10),
            success,
            cancelled,
            status: Some(200),
            error_class: None,
            attempts: 1,
            key_fingerprint: None,
            credits: 0,
            ttl: 0,
        }
    }

    #[test]
    fn cancelled_streams_count_neither_as_requests_nor_as_failures() {
        let rules = HealthRules {
            window_secs: 300,
            min_requests: 1,
            degraded_success_rate_below: 0.9,
            degraded_avg_latency_ms_above: 5_000,
            down_success_rate_below: 0.5,
        };
        let metrics = [
            item(100, true, false),
            item(300, true, false),
            item(60_000, false, true),
            item(60_000, false, true),
        ];
        let report = HealthReport::from_metrics(
            "openai-tts",
            "openai",
            &rules,
            &metrics,
            0,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(report.requests, 2);
        assert_eq!(report.success_rate, Some(1.0));
        assert_eq!(report.avg_latency_ms, Some(200.0));
        assert_eq!(report.p95_latency_ms, Some(300));
        assert_eq!(report.status, ProviderStatus::Healthy);
        assert!(report.keys.is_empty(), "no item names a key");
    }

    #[test]
    fn usage_is_summed_per_key_fingerprint() {
        let by = |fp: &str, success: bool, credits: u32, cancelled: bool| MetricItem {
            key_fingerprint: Some(fp.into()),
            credits,
            ..item(10, success, cancelled)
        };
        let metrics = [
            by("k_b", true, 20, false),
            by("k_a", true, 1, false),
            by("k_b", false, 0, false),
            by("k_b", true, 20, false),
            by("k_a", false, 0, true),
            item(10, true, false),
        ];
        let usage = |fingerprint: &str, calls, successes, credits| KeyUsage {
            fingerprint: fingerprint.into(),
            calls,
            successes,
            credits,
        };
        assert_eq!(
            key_usage(&metrics),
            [usage("k_a", 1, 1, 1), usage("k_b", 3, 2, 40)]
        );
    }
}
