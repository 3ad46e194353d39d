//! Applying the key cool-downs other instances shared through the store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::store::{DEFAULT_STORE_TIMEOUT, HealthStore, bounded};

/// Every `interval`, reads each provider's active shared cool-downs from `store` and calls
/// `apply(provider, key_fingerprint, until)` for each, e.g.
/// `|provider, fp, until| sdk.key_pool(provider).cool_down(fp, until)`.
///
/// The first read happens at once. Each read is bounded by [`DEFAULT_STORE_TIMEOUT`]; store
/// errors and timeouts are logged and retried at the next tick. The task runs until the returned
/// handle is aborted or its runtime shuts down.
pub fn spawn_cooldown_sync(
    store: Arc<dyn HealthStore>,
    providers: Vec<String>,
    interval: Duration,
    apply: impl Fn(&str, &str, SystemTime) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            for provider in &providers {
                let read = store.active_cooldowns(provider);
                match bounded("active_cooldowns", DEFAULT_STORE_TIMEOUT, read).await {
                    Ok(active) => {
                        for (fingerprint, until) in &active {
                            apply(provider, fingerprint, *until);
                        }
                        if !active.is_empty() {
                            tracing::debug!(
                                provider = %provider,
                                keys = active.len(),
                                "applied shared key cool-downs"
                            );
                        }
                    }
                    Err(error) => {
                        tracing::warn!(provider = %provider, %error, "could not read shared key cool-downs");
                    }
                }
            }
        }
    })
}
