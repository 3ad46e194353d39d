//! CloudWatch Embedded Metric Format telemetry, and fan-out to several telemetry sinks.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::telemetry::{CallMetric, RateLimitEvent, Telemetry};

use super::clock::epoch_millis;

/// Default CloudWatch namespace of the EMF metrics.
pub const DEFAULT_NAMESPACE: &str = "MediaSdk";

/// Writes one CloudWatch [Embedded Metric Format] JSON line per call and per rate-limit event.
///
/// In Lambda (or anywhere stdout goes to CloudWatch Logs) the lines become metrics without any
/// API call. Each line carries the dimensions `HealthId` and `Provider` (two dimension sets, so
/// each metric is available per health id and per provider) and the metrics `Latency`
/// (Milliseconds) and `Success` (Count, 0 or 1) for calls, or `RateLimited` (Count, 1) for
/// rate-limit events; the alarms of [`super::alarms::cloudformation`] read them.
///
/// A line is one small synchronous write under a lock; give it a buffered or line-oriented
/// writer (stdout is line-buffered).
///
/// [Embedded Metric Format]: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
pub struct EmfTelemetry {
    namespace: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for EmfTelemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmfTelemetry")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl EmfTelemetry {
    /// EMF lines in `namespace` to stdout.
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::new(namespace, std::io::stdout())
    }

    /// EMF lines in `namespace` to `out`.
    pub fn new(namespace: impl Into<String>, out: impl Write + Send + 'static) -> Self {
        Self {
            namespace: namespace.into(),
            out: Mutex::new(Box::new(out)),
        }
    }

    /// The EMF document for one call.
    pub fn call_line(&self, metric: &CallMetric) -> Value {
        // A stream cancelled by its caller is logged but feeds neither the latency nor the
        // success metric (the alarms average those): it says nothing about the provider.
        let metrics = if metric.cancelled {
            json!([])
        } else {
            json!([
                {"Name": "Latency", "Unit": "Milliseconds"},
                {"Name": "Success", "Unit": "Count"},
            ])
        };
        let mut line = json!({
            "_aws": {
                "Timestamp": epoch_millis(metric.at),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["HealthId"], ["Provider"]],
                    "Metrics": metrics,
                }],
            },
            "HealthId": metric.health_id,
            "Provider": metric.provider,
            "Endpoint": metric.endpoint,
            "Attempts": metric.attempts,
        });
        if metric.cancelled {
            line["Cancelled"] = json!(true);
            line["DurationMs"] = json!(metric.latency_ms);
        } else {
            line["Latency"] = json!(metric.latency_ms);
            line["Success"] = json!(u8::from(metric.success));
        }
        if let Some(ttfb) = metric.ttfb_ms {
            line["TtfbMs"] = json!(ttfb);
        }
        if let Some(status) = metric.status {
            line["Status"] = json!(status);
        }
        if let Some(class) = metric.error_class {
            line["ErrorClass"] = json!(class);
        }
        if let Some(fp) = &metric.key_fingerprint {
            line["KeyFingerprint"] = json!(fp);
        }
        line
    }

    /// The EMF document for one rate-limit event.
    pub fn rate_limit_line(&self, event: &RateLimitEvent) -> Value {
        json!({
            "_aws": {
                "Timestamp": epoch_millis(event.at),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["HealthId"], ["Provider"]],
                    "Metrics": [{"Name": "RateLimited", "Unit": "Count"}],
                }],
            },
            "HealthId": event.health_id,
            "Provider": event.provider,
            "RateLimited": 1,
            "KeyFingerprint": event.key_fingerprint,
            "CooldownMs": u64::try_from(event.cooldown.as_millis()).unwrap_or(u64::MAX),
            "Rotated": event.rotated,
        })
    }

    fn emit(&self, line: &Value) {
        let mut text = line.to_string();
        text.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            tracing::debug!(%error, "could not write EMF line");
        }
    }
}

impl Telemetry for EmfTelemetry {
    fn record_call(&self, metric: CallMetric) {
        self.emit(&self.call_line(&metric));
    }

    fn record_rate_limit(&self, event: RateLimitEvent) {
        self.emit(&self.rate_limit_line(&event));
    }
}

/// Sends every record to several telemetry sinks in turn (e.g. a
/// [`HealthRecorder`](super::HealthRecorder) and an [`EmfTelemetry`]).
#[derive(Clone, Default)]
pub struct Fanout {
    sinks: Vec<Arc<dyn Telemetry>>,
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl Fanout {
    /// A fan-out over `sinks`.
    pub fn new(sinks: Vec<Arc<dyn Telemetry>>) -> Self {
        Self { sinks }
    }

    /// Adds a sink.
    pub fn with(mut self, sink: impl Telemetry) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Whether it has no sink (records sent to it go nowhere).
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

impl Telemetry for Fanout {
    fn record_call(&self, metric: CallMetric) {
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                sink.record_call(metric.clone());
            }
            last.record_call(metric);
        }
    }

    fn record_rate_limit(&self, event: RateLimitEvent) {
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                sink.record_rate_limit(event.clone());
            }
            last.record_rate_limit(event);
        }
    }
}
