//! A telemetry sink that keeps what it is given, to assert on the runtime's reports.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Mutex;

use media_sdk::telemetry::{CallMetric, RateLimitEvent, Telemetry};

/// Keeps every call metric and rate-limit event, in the order reported.
#[derive(Debug, Default)]
pub struct Recorded {
    pub calls: Mutex<Vec<CallMetric>>,
    pub rate_limits: Mutex<Vec<RateLimitEvent>>,
}

impl Recorded {
    /// The call metrics so far.
    pub fn calls(&self) -> Vec<CallMetric> {
        self.calls.lock().unwrap().clone()
    }

    /// The rate-limit events so far.
    pub fn rate_limits(&self) -> Vec<RateLimitEvent> {
        self.rate_limits.lock().unwrap().clone()
    }
}

impl Telemetry for Recorded {
    fn record_call(&self, metric: CallMetric) {
        self.calls.lock().unwrap().push(metric);
    }

    fn record_rate_limit(&self, event: RateLimitEvent) {
        self.rate_limits.lock().unwrap().push(event);
    }
}
