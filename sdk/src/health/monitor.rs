//! Cached health reads for provider selection and fallback ordering.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::spec::{AlertThresholds, HealthRules, ProviderSpec};

use super::alerts::{Alert, alerts, alerts_for};
use super::clock::{Clock, SharedClock, SystemClock};
use super::report::{HealthReport, ProviderStatus, check_provider_health};
use super::store::{DEFAULT_STORE_TIMEOUT, HealthStore, StoreError, bounded};

/// Default time a [`HealthMonitor`] reuses a report.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// Why a health read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// The monitor has no rules for this health id.
    #[error("unknown health id `{0}`")]
    UnknownHealthId(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
struct Target {
    provider: String,
    rules: HealthRules,
    alerts: Option<AlertThresholds>,
}

/// Reads health reports through a cache and picks providers by health.
///
/// Each health id has its provider and [`HealthRules`] (registered from the provider specs or
/// one by one). Reports are reused for the cache interval (measured on the injected clock), so
/// selecting a provider on every request does not query the store every time. Two concurrent
/// misses may both query; the later result wins.
///
/// Every store read is bounded by the monitor's store timeout ([`DEFAULT_STORE_TIMEOUT`] unless
/// [`with_store_timeout`](Self::with_store_timeout) says otherwise): a store that stops
/// answering gives [`StoreError::Timeout`], never a hang.
#[derive(Debug)]
pub struct HealthMonitor {
    store: Arc<dyn HealthStore>,
    clock: SharedClock,
    cache_ttl: Duration,
    store_timeout: Duration,
    targets: HashMap<String, Target>,
    cache: Mutex<HashMap<String, HealthReport>>,
}

impl HealthMonitor {
    /// A monitor over `store` with no health ids yet, the system clock and a
    /// [`DEFAULT_CACHE_TTL`] cache.
    pub fn new(store: Arc<dyn HealthStore>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            cache_ttl: DEFAULT_CACHE_TTL,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            targets: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A monitor watching every endpoint's health id of `providers`, with each provider's rules
    /// and alert thresholds.
    pub fn for_providers(store: Arc<dyn HealthStore>, providers: &[&ProviderSpec]) -> Self {
        let mut monitor = Self::new(store);
        for provider in providers {
            for endpoint in provider.endpoints {
                monitor.targets.insert(
                    endpoint.health_id.to_owned(),
                    Target {
                        provider: provider.id.to_owned(),
                        rules: provider.health,
                        alerts: Some(provider.alerts),
                    },
                );
            }
        }
        monitor
    }

    /// Watches `health_id` of `provider` under `rules` (replacing earlier rules).
    pub fn with_health_id(mut self, health_id: &str, provider: &str, rules: HealthRules) -> Self {
        let alerts = self.targets.get(health_id).and_then(|t| t.alerts);
        self.targets.insert(
            health_id.to_owned(),
            Target {
                provider: provider.to_owned(),
                rules,
                alerts,
            },
        );
        self
    }

    /// Uses `clock` for windows and the cache.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reuses a report for `ttl` (zero: never cached).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Gives up on a health read or a cool-down read after `limit` with
    /// [`StoreError::Timeout`] (default [`DEFAULT_STORE_TIMEOUT`]). A health read's pages
    /// share the limit.
    pub fn with_store_timeout(mut self, limit: Duration) -> Self {
        self.store_timeout = limit;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn HealthStore> {
        &self.store
    }

    /// Watched health ids, sorted.
    pub fn health_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.targets.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// A fresh report for `health_id`, read from the store (and cached).
    pub async fn check_provider_health(
        &self,
        health_id: &str,
    ) -> Result<HealthReport, HealthError> {
        let target = self
            .targets
            .get(health_id)
            .ok_or_else(|| HealthError::UnknownHealthId(health_id.to_owned()))?;
        let read = check_provider_health(
            self.store.as_ref(),
            self.clock.as_ref(),
            health_id,
            &target.provider,
            &target.rules,
        );
        let report = bounded("health read", self.store_timeout, read).await?;
        self.lock_cache()
            .insert(health_id.to_owned(), report.clone());
        Ok(report)
    }

    /// The report for `health_id`, from the cache while it is younger than the cache interval.
    pub async fn report(&self, health_id: &str) -> Result<HealthReport, HealthError> {
        if let Some(cached) = self.cached(health_id) {
            return Ok(cached);
        }
        self.check_provider_health(health_id).await
    }

    /// Fresh reports for every watched health id, sorted by health id.
    pub async fn check_all(&self) -> Result<Vec<HealthReport>, HealthError> {
        let mut reports = Vec::with_capacity(self.targets.len());
        for id in self.health_ids() {
            reports.push(self.check_provider_health(id).await?);
        }
        Ok(reports)
    }

    /// The alerts `report` raises under its provider's thresholds (none when the monitor has no
    /// thresholds for it); see [`alerts`]. Over several reports use
    /// [`alerts_for`](Self::alerts_for), which raises a provider's rate-limit alert once.
    pub fn alerts(&self, report: &HealthReport) -> Vec<Alert> {
        self.thresholds(report)
            .map(|thresholds| alerts(report, &thresholds))
            .unwrap_or_default()
    }

    /// The alerts `reports` raise under their providers' thresholds: rate limits per provider,
    /// latency and success rate per health id (see [`alerts_for`](super::alerts_for)).
    pub fn alerts_for(&self, reports: &[HealthReport]) -> Vec<Alert> {
        alerts_for(reports, |report| self.thresholds(report))
    }

    fn thresholds(&self, report: &HealthReport) -> Option<AlertThresholds> {
        self.targets.get(&report.health_id).and_then(|t| t.alerts)
    }

    /// The healthy candidate (a health id) with the lowest average latency; else the best
    /// degraded one (highest success rate, then lowest latency); else `None`. Ties keep the
    /// candidates' order. Candidates that cannot be read count as unknown.
    pub async fn fastest_provider(&self, candidates: &[&str]) -> Option<String> {
        let order = self.ranked(candidates).await;
        order
            .into_iter()
            .find(|(_, status)| {
                matches!(status, ProviderStatus::Healthy | ProviderStatus::Degraded)
            })
            .map(|(id, _)| id)
    }

    /// Every candidate in fallback order: healthy by average latency, then degraded (best
    /// first), then unknown (in the given order), then down (highest success rate first).
    pub async fn health_order(&self, candidates: &[&str]) -> Vec<String> {
        self.ranked(candidates)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// Reads `provider`'s shared key cool-downs and hands each to `apply` (fingerprint, until),
    /// e.g. `|fp, until| pool.cool_down(fp, until)`. Returns how many were applied.
    pub async fn sync_cooldowns(
        &self,
        provider: &str,
        mut apply: impl FnMut(&str, SystemTime),
    ) -> Result<usize, StoreError> {
        let read = self.store.active_cooldowns(provider);
        let active = bounded("active_cooldowns", self.store_timeout, read).await?;
        for (fingerprint, until) in &active {
            apply(fingerprint, *until);
        }
        Ok(active.len())
    }

    /// Writes `until` for `entry` in `provider`'s cool-down partition (a key's cool-down, or a
    /// process's heartbeat), bounded like every store call.
    pub async fn publish_cooldown(
        &self,
        provider: &str,
        entry: &str,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        let write = self.store.publish_cooldown(provider, entry, until);
        bounded("publish_cooldown", self.store_timeout, write).await
    }

    async fn ranked(&self, candidates: &[&str]) -> Vec<(String, ProviderStatus)> {
        let mut rows: Vec<(usize, String, Option<HealthReport>)> = Vec::new();
        for (index, id) in candidates.iter().enumerate() {
            let report = match self.report(id).await {
                Ok(report) => Some(report),
                Err(error) => {
                    tracing::warn!(health_id = %id, %error, "health unavailable; ranking as unknown");
                    None
                }
            };
            rows.push((index, (*id).to_owned(), report));
        }
        rows.sort_by(|a, b| compare(&a.2, &b.2).then(a.0.cmp(&b.0)));
        rows.into_iter()
            .map(|(_, id, report)| {
                let status = report.map_or(ProviderStatus::Unknown, |r| r.status);
                (id, status)
            })
            .collect()
    }

    fn cached(&self, health_id: &str) -> Option<HealthReport> {
        let now = self.clock.now();
        let cache = self.lock_cache();
        let report = cache.get(health_id)?;
        let age = now.duration_since(report.checked_at).ok()?;
        (age < self.cache_ttl).then(|| report.clone())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, HealthReport>> {
        // The cache only holds finished reports; a poisoned lock still holds valid data.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn tier(status: ProviderStatus) -> u8 {
    match status {
        ProviderStatus::Healthy => 0,
        ProviderStatus::Degraded => 1,
        ProviderStatus::Unknown => 2,
        ProviderStatus::Down => 3,
    }
}

fn compare(a: &Option<HealthReport>, b: &Option<HealthReport>) -> Ordering {
    let status =
        |r: &Option<HealthReport>| r.as_ref().map_or(ProviderStatus::Unknown, |r| r.status);
    let (sa, sb) = (status(a), status(b));
    tier(sa).cmp(&tier(sb)).then_with(|| match (a, b, sa) {
        (Some(a), Some(b), ProviderStatus::Healthy) => by_latency(a, b),
        (Some(a), Some(b), ProviderStatus::Degraded | ProviderStatus::Down) => {
            by_success(a, b).then_with(|| by_latency(a, b))
        }
        _ => Ordering::Equal,
    })
}

fn by_latency(a: &HealthReport, b: &HealthReport) -> Ordering {
    let latency = |r: &HealthReport| r.avg_latency_ms.unwrap_or(f64::INFINITY);
    latency(a).total_cmp(&latency(b))
}

/// Higher success rate first.
fn by_success(a: &HealthReport, b: &HealthReport) -> Ordering {
    let rate = |r: &HealthReport| r.success_rate.unwrap_or(0.0);
    rate(b).total_cmp(&rate(a))
}
