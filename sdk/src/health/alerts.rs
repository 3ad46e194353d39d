//! Alert thresholds applied to reports, and the plain-text health table.

use std::fmt;

use serde::Serialize;

use crate::spec::AlertThresholds;

use super::report::HealthReport;

/// Which threshold an [`Alert`] crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// More rate-limit events in the last hour than allowed.
    RateLimits,
    /// Average latency over the window above the limit.
    Latency,
    /// Success rate over the window below the limit.
    SuccessRate,
}

/// A crossed alert threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Health id.
    pub health_id: String,
    /// Provider id.
    pub provider: String,
    /// The threshold crossed.
    pub kind: AlertKind,
    /// The observed value (events per hour, milliseconds, or a rate in 0..=1).
    pub observed: f64,
    /// The threshold, in the same unit.
    pub threshold: f64,
    /// One line for people, e.g.
    /// `openai-tts (openai): 12 rate limits in the last hour (threshold 10)`.
    pub description: String,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// The alerts `report` raises under `thresholds` (comparisons are strict):
/// rate limits in the last hour above `rate_limits_per_hour`, average latency above
/// `avg_latency_ms`, success rate below `success_rate`. Latency and success rate need at least
/// one request in the window.
pub fn alerts(report: &HealthReport, thresholds: &AlertThresholds) -> Vec<Alert> {
    let who = format!("{} ({})", report.health_id, report.provider);
    let window = report.window.as_secs();
    let mut out = Vec::new();
    let mut push = |kind, observed: f64, threshold: f64, description: String| {
        out.push(Alert {
            health_id: report.health_id.clone(),
            provider: report.provider.clone(),
            kind,
            observed,
            threshold,
            description,
        });
    };
    if report.rate_limits > u64::from(thresholds.rate_limits_per_hour) {
        push(
            AlertKind::RateLimits,
            report.rate_limits as f64,
            f64::from(thresholds.rate_limits_per_hour),
            format!(
                "{who}: {} rate limits in the last hour (threshold {})",
                report.rate_limits, thresholds.rate_limits_per_hour
            ),
        );
    }
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
/// ! openai-tts (openai): 12 rate limits in the last hour (threshold 10)
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
    let rows: Vec<[String; 8]> = reports
        .iter()
        .map(|r| {
            [
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
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            if i < TEXT_COLUMNS {
                out.push_str(&format!("{cell:<width$}"));
            } else {
                out.push_str(&format!("{cell:>width$}"));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&HEADERS);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
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
