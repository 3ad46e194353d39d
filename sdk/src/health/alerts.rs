//! Alert thresholds applied to reports, and the plain-text health table.
//!
//! Each alert has one scope, the same here and in the CloudWatch alarms of
//! [`alarms::cloudformation`](super::alarms::cloudformation):
//!
//! | alert | scope | measure | fires when |
//! |---|---|---|---|
//! | [`AlertKind::RateLimits`] | provider (all its health ids; per-id counts as detail) | rate-limit events in the last hour | > `alerts.rate_limits_per_hour` |
//! | [`AlertKind::Latency`] | health id | average latency over the health window | > `alerts.avg_latency_ms` |
//! | [`AlertKind::SuccessRate`] | health id | success rate over the health window | < `alerts.success_rate` |
//! | [`AlertKind::KeyBudget`] | key (fingerprint in the description) | what the key spent today (UTC) | ≥ `keys.daily_budget` |

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::spec::AlertThresholds;

use super::report::HealthReport;

/// Which threshold an [`Alert`] crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// More rate-limit events of one provider (all its health ids together) in the last hour
    /// than allowed.
    RateLimits,
    /// Average latency of one health id over the window above the limit.
    Latency,
    /// Success rate of one health id over the window below the limit.
    SuccessRate,
    /// One key spent its `keys.daily_budget` (credits or calls) and is set aside until the next
    /// UTC day; raised by the key pool, once per key and day
    /// ([`KeyPool::budget_alerts`](crate::keys::KeyPool::budget_alerts)).
    KeyBudget,
}

/// A crossed alert threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The health id, for alerts scoped to one ([`AlertKind::Latency`],
    /// [`AlertKind::SuccessRate`]); `None` for provider-wide alerts ([`AlertKind::RateLimits`]).
    pub health_id: Option<String>,
    /// Provider id.
    pub provider: String,
    /// The threshold crossed.
    pub kind: AlertKind,
    /// The observed value (events per hour, milliseconds, or a rate in 0..=1).
    pub observed: f64,
    /// The threshold, in the same unit.
    pub threshold: f64,
    /// For provider-wide alerts, each health id's share of `observed` (ids with none left
    /// out); empty otherwise.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_health_id: BTreeMap<String, u64>,
    /// One line for people, e.g.
    /// `openai: 12 rate limits in the last hour (threshold 10; openai-image 5, openai-tts 7)`.
    pub description: String,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// The alerts of one report under `thresholds` (comparisons are strict): average latency above
/// `avg_latency_ms` and success rate below `success_rate` for its health id (both need at least
/// one request in the window), and its provider's rate-limit events in the last hour
/// ([`HealthReport::provider_rate_limits`]) above `rate_limits_per_hour`.
///
/// Over several reports, use [`alerts_for`]: it raises each provider's rate-limit alert once,
/// with every health id's share.
pub fn alerts(report: &HealthReport, thresholds: &AlertThresholds) -> Vec<Alert> {
    let mut out = Vec::new();
    if let Some(alert) = rate_limit_alert(std::slice::from_ref(report), thresholds) {
        out.push(alert);
    }
    out.extend(window_alerts(report, thresholds));
    out
}

/// The alerts of `reports`, each under the thresholds `thresholds_of` gives it (none: no
/// alert): per health id, latency and success rate; per provider, one rate-limit alert over all
/// of its reports. In report order, a provider's rate-limit alert before the alerts of its
/// first report.
pub fn alerts_for(
    reports: &[HealthReport],
    thresholds_of: impl Fn(&HealthReport) -> Option<AlertThresholds>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut providers_seen: Vec<&str> = Vec::new();
    for report in reports {
        let Some(thresholds) = thresholds_of(report) else {
            continue;
        };
        if !providers_seen.contains(&report.provider.as_str()) {
            providers_seen.push(&report.provider);
            let same: Vec<HealthReport> = reports
                .iter()
                .filter(|r| r.provider == report.provider)
                .cloned()
                .collect();
            out.extend(rate_limit_alert(&same, &thresholds));
        }
        out.extend(window_alerts(report, &thresholds));
    }
    out
}

/// The provider-wide rate-limit alert over `reports` (all of one provider).
fn rate_limit_alert(reports: &[HealthReport], thresholds: &AlertThresholds) -> Option<Alert> {
    let first = reports.first()?;
    // Every report counts the provider's events; the latest read has seen the most.
    let observed = reports
        .iter()
        .map(|r| r.provider_rate_limits.max(r.rate_limits))
        .max()
        .unwrap_or_default();
    let threshold = thresholds.rate_limits_per_hour;
    if observed <= u64::from(threshold) {
        return None;
    }
    let by_health_id: BTreeMap<String, u64> = reports
        .iter()
        .filter(|r| r.rate_limits > 0)
        .map(|r| (r.health_id.clone(), r.rate_limits))
        .collect();
    let shares = by_health_id
        .iter()
        .map(|(id, n)| format!("{id} {n}"))
        .collect::<Vec<_>>();
    let detail = if shares.is_empty() {
        String::new()
    } else {
        format!("; {}", shares.join(", "))
    };
    Some(Alert {
        health_id: None,
        provider: first.provider.clone(),
        kind: AlertKind::RateLimits,
        observed: observed as f64,
        threshold: f64::from(threshold),
        by_health_id,
        description: format!(
            "{}: {observed} rate limits in the last hour (threshold {threshold}{detail})",
            first.provider
        ),
    })
}

/// The latency and success-rate alerts of one health id.
fn window_alerts(report: &HealthReport, thresholds: &AlertThresholds) -> Vec<Alert> {
    let who = format!("{} ({})", report.health_id, report.provider);
    let window = report.window.as_secs();
    let mut out = Vec::new();
    let mut push = |kind, observed: f64, threshold: f64, description: String| {
        out.push(Alert {
            health_id: Some(report.health_id.clone()),
            provider: report.provider.clone(),
            kind,
            observed,
            threshold,
            by_health_id: BTreeMap::new(),
            description,
        });
    };
    if let Some(avg) = report.avg_latency_ms
        && avg > thresholds.avg_latency_ms as f64
    {
        push(
            AlertKind::Latency,
            avg,
            thresholds.avg_latency_ms as f64,
            format!(
                "{who}: average latency {avg:.0} ms over {window} s (threshold {} ms)",
                thresholds.avg_latency_ms
            ),
        );
    }
    if let Some(rate) = report.success_rate
        && rate < thresholds.success_rate
    {
        push(
            AlertKind::SuccessRate,
            rate,
            thresholds.success_rate,
            format!(
                "{who}: success rate {:.1}% over {window} s (threshold {:.1}%)",
                rate * 100.0,
                thresholds.success_rate * 100.0
            ),
        );
    }
    out
}

/// A plain, aligned text table of `reports` (one row each), followed by the `alerts`, if any:
///
/// ```text
/// HEALTH ID   PROVIDER  STATUS   AVG MS  P95 MS  SUCCESS  REQUESTS  RATE LIMITS
/// openai-tts  openai    healthy     120     180   100.0%        42            0
///
/// ALERTS
/// ! openai: 12 rate limits in the last hour (threshold 10; openai-tts 12)
/// ```
///
/// Missing values (no requests) show as `-`.
pub fn render_table(reports: &[HealthReport], alerts: &[Alert]) -> String {
    const HEADERS: [&str; 8] = [
        "HEALTH ID",
        "PROVIDER",
        "STATUS",
        "AVG MS",
        "P95 MS",
        "SUCCESS",
        "REQUESTS",
        "RATE LIMITS",
    ];
    // The first three columns are text (left-aligned), the rest numbers (right-aligned).
    const TEXT_COLUMNS: usize = 3;
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.health_id.clone(),
                r.provider.clone(),
                r.status.to_string(),
                r.avg_latency_ms
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}")),
                r.p95_latency_ms
                    .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                r.success_rate
                    .map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0)),
                r.requests.to_string(),
                r.rate_limits.to_string(),
            ]
        })
        .collect();
    let mut out = columns(&HEADERS, &rows, TEXT_COLUMNS);
    if !alerts.is_empty() {
        out.push_str("\nALERTS\n");
        for alert in alerts {
            out.push_str("! ");
            out.push_str(&alert.description);
            out.push('\n');
        }
    }
    out
}

/// Per-key usage over each report's window (see [`HealthReport::keys`]), one row per provider,
/// health id and key fingerprint; empty when no call names a key.
///
/// ```text
/// KEY USAGE
/// PROVIDER  HEALTH ID   KEY         CALLS  SUCCESSES  CREDITS
/// openai    openai-tts  k_1a2b3c4d     12         12       12
/// ```
pub fn render_key_usage(reports: &[HealthReport]) -> String {
    const HEADERS: [&str; 6] = [
        "PROVIDER",
        "HEALTH ID",
        "KEY",
        "CALLS",
        "SUCCESSES",
        "CREDITS",
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .flat_map(|r| {
            r.keys.iter().map(|k| {
                vec![
                    r.provider.clone(),
                    r.health_id.clone(),
                    k.fingerprint.clone(),
                    k.calls.to_string(),
                    k.successes.to_string(),
                    k.credits.to_string(),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("KEY USAGE\n{}", columns(&HEADERS, &rows, 3))
}

/// `headers` and `rows` in aligned columns two spaces apart: the first `text_columns`
/// left-aligned, the rest (numbers) right-aligned; trailing spaces trimmed.
fn columns(headers: &[&str], rows: &[Vec<String>], text_columns: usize) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            let width = *width;
            if i > 0 {
                out.push_str("  ");
            }
            if i < text_columns {
                out.push_str(&format!("{cell:<width$}"));
            } else {
                out.push_str(&format!("{cell:>width$}"));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}
