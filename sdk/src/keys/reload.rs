//! Re-reading a pool's source while the SDK runs: one [`Reloader`] per pool with a
//! [`KeyLoader`], driven on an interval by a background task and on demand by
//! [`Sdk::reload_keys`](crate::Sdk::reload_keys); and the fleet's spending per key for daily
//! budgets, summed from the health store.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::health::{Clock, HealthStore, StoreError};

use super::budget::{Spent, utc_midnight};
use super::{KeyLoader, KeyPool, KeySourceError, PoolReload};

/// What one [`Sdk::reload_keys`](crate::Sdk::reload_keys) changed, per provider re-read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// One entry per pool whose source was read and applied.
    pub pools: Vec<PoolReload>,
}

impl ReloadReport {
    /// Keys added over every pool.
    pub fn added(&self) -> usize {
        self.pools.iter().map(|p| p.added).sum()
    }

    /// Keys removed (draining) over every pool.
    pub fn removed(&self) -> usize {
        self.pools.iter().map(|p| p.removed).sum()
    }

    /// Keys kept with their state over every pool.
    pub fn kept(&self) -> usize {
        self.pools.iter().map(|p| p.kept).sum()
    }
}

/// Some key sources could not be read: their pools were kept as they were; the others were
/// applied (`report`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(failures))]
pub struct ReloadError {
    /// Each provider whose source failed, with why.
    pub failures: Vec<(&'static str, KeySourceError)>,
    /// What the other sources changed.
    pub report: ReloadReport,
}

fn describe(failures: &[(&'static str, KeySourceError)]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|(provider, error)| format!("{provider}: {error}; its keys are kept"))
        .collect();
    parts.join("; ")
}

/// Which source a pool is read from, for the reload policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// The provider's environment variables: re-read on demand only; empty while the pool is
    /// empty is "not configured", not a failure.
    Env,
    /// A secret or an embedder's loader: re-read on the interval too.
    Live,
}

/// One pool and its source.
#[derive(Debug)]
pub(crate) struct Reloader {
    pub(crate) pool: KeyPool,
    loader: Arc<dyn KeyLoader>,
    pub(crate) kind: SourceKind,
    /// Reloads of this pool, one at a time, so an older read never lands after a newer one.
    serial: tokio::sync::Mutex<()>,
    /// Whether the last read failed (one WARN per failing streak).
    failing: AtomicBool,
}

impl Reloader {
    pub(crate) fn new(pool: KeyPool, loader: Arc<dyn KeyLoader>, kind: SourceKind) -> Self {
        Self {
            pool,
            loader,
            kind,
            serial: tokio::sync::Mutex::new(()),
            failing: AtomicBool::new(false),
        }
    }

    /// Reads the source and applies it. A failed or empty read keeps the pool and logs one
    /// WARN (fingerprints and source names only), then DEBUG until a read succeeds.
    pub(crate) async fn reload(&self) -> Result<Option<PoolReload>, KeySourceError> {
        let _serial = self.serial.lock().await;
        let provider = self.pool.provider();
        let read = self.loader.load().await;
        let result = match read {
            Ok(keys) if keys.is_empty() && self.kind == SourceKind::Env && self.pool.is_empty() => {
                Ok(None)
            }
            Ok(keys) if keys.is_empty() => Err(KeySourceError::Empty {
                source_name: self.loader.describe(),
            }),
            Ok(keys) => self.pool.replace_keys(keys).map(Some).map_err(|refused| {
                KeySourceError::Malformed {
                    source_name: self.loader.describe(),
                    reason: refused.to_string(),
                }
            }),
            Err(error) => Err(error),
        };
        match &result {
            Ok(Some(change)) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(provider, source = %self.loader.describe(), "key source readable again");
                }
                if change.added + change.removed > 0 {
                    tracing::info!(
                        provider,
                        source = %self.loader.describe(),
                        added = change.added,
                        removed = change.removed,
                        kept = change.kept,
                        keys = ?self.pool.fingerprints(),
                        "key pool reloaded"
                    );
                }
            }
            Ok(None) => {}
            Err(error) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                provider,
                %error,
                keys = self.pool.len(),
                "cannot reload keys; keeping the current pool"
            ),
            Err(error) => tracing::debug!(provider, %error, "cannot reload keys"),
        }
        result
    }
}

/// Re-reads every reloader's source; failures are collected, the rest applied.
pub(crate) async fn reload_all(reloaders: &[Arc<Reloader>]) -> Result<ReloadReport, ReloadError> {
    let mut report = ReloadReport::default();
    let mut failures = Vec::new();
    for reloader in reloaders {
        match reloader.reload().await {
            Ok(Some(change)) => report.pools.push(change),
            Ok(None) => {}
            Err(error) => failures.push((reloader.pool.provider(), error)),
        }
    }
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(ReloadError { failures, report })
    }
}

/// Where a pool with a daily budget reads the fleet's spending.
#[derive(Debug, Clone)]
pub(crate) struct FleetBudget {
    pub(crate) store: Arc<dyn HealthStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The provider's health ids (every endpoint's metrics count).
    pub(crate) health_ids: Vec<&'static str>,
}

/// The background work of one pool, every `interval` from the start: re-reading its live
/// source, then summing the fleet's spending when it has a daily budget.
#[derive(Debug, Clone)]
pub(crate) struct PoolTask {
    pub(crate) pool: KeyPool,
    /// The pool's live source (a secret, an embedder's loader); `None`: nothing to re-read.
    pub(crate) reloader: Option<Arc<Reloader>>,
    /// Where to sum the fleet's spending; `None`: no budget.
    pub(crate) budget: Option<FleetBudget>,
    pub(crate) interval: Duration,
}

/// Runs `task` at once, then every interval, until `shutdown` is closed (the `Sdk` was
/// dropped).
pub(crate) async fn run(task: PoolTask, mut shutdown: tokio::sync::watch::Receiver<()>) {
    let provider = task.pool.provider();
    let mut ticker = tokio::time::interval(task.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => break,
        }
        if let Some(reloader) = &task.reloader {
            // Errors were logged by the reloader.
            let _ = reloader.reload().await;
        }
        if let Some(budget) = &task.budget
            && let Err(error) = sync_fleet_usage(
                budget.store.as_ref(),
                budget.clock.as_ref(),
                &task.pool,
                &budget.health_ids,
            )
            .await
        {
            tracing::debug!(provider, %error, "cannot sum the fleet's key spending");
        }
    }
    tracing::debug!(provider, "key reload stopped: the Sdk was dropped");
}

/// Sums today's (UTC) successful calls and credits per key over `health_ids` from `store`
/// (every process's metric items) and raises each key's spending in `pool` to it. Returns the
/// number of keys seen.
pub(crate) async fn sync_fleet_usage(
    store: &dyn HealthStore,
    clock: &dyn Clock,
    pool: &KeyPool,
    health_ids: &[&'static str],
) -> Result<usize, StoreError> {
    let now = clock.now();
    let since = utc_midnight(now);
    let mut spent: HashMap<String, Spent> = HashMap::new();
    for &health_id in health_ids {
        let mut cursor = None;
        loop {
            let page = store.query_metrics(health_id, since, cursor).await?;
            for item in page
                .items
                .iter()
                .filter(|m| m.success && m.at() >= since && m.at() <= now && !m.is_expired(now))
            {
                if let Some(fp) = &item.key_fingerprint {
                    let entry = spent.entry(fp.clone()).or_default();
                    entry.calls += 1;
                    entry.credits += u64::from(item.credits);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    for (fingerprint, fleet) in &spent {
        pool.observe_fleet_usage(fingerprint, *fleet);
    }
    Ok(spent.len())
}
