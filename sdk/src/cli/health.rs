//! `media-sdk health`: the health of every health id, read from the configured store.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use crate::generated::PROVIDERS;
use crate::health::{Alert, HealthMonitor, HealthReport, HealthStore, render_table};
use crate::spec::ProviderSpec;

use super::{CliError, StoreChoice};

/// Arguments of `media-sdk health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Print one JSON document (store, reports, alerts) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Every health id's report and the alerts crossed, as printed by `media-sdk health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSnapshot {
    /// Where the metrics were read from.
    pub store: StoreChoice,
    /// One report per health id, sorted by health id.
    pub reports: Vec<HealthReport>,
    /// Every alert threshold crossed: rate limits per provider, latency and success rate per
    /// health id.
    pub alerts: Vec<Alert>,
    /// Health ids without any request in their window (status `unknown`: no data).
    pub no_data: Vec<String>,
    /// Whether no alert threshold is crossed.
    pub ok: bool,
}

impl HealthSnapshot {
    /// Reads every endpoint's health id of `providers` from `store` (labelled `choice`).
    pub async fn read(
        store: Arc<dyn HealthStore>,
        choice: StoreChoice,
        providers: &[&ProviderSpec],
    ) -> Result<Self, CliError> {
        let monitor = HealthMonitor::for_providers(store, providers);
        Self::from_monitor(&monitor, choice).await
    }

    /// Reads every health id `monitor` watches.
    pub async fn from_monitor(
        monitor: &HealthMonitor,
        choice: StoreChoice,
    ) -> Result<Self, CliError> {
        let reports = monitor.check_all().await?;
        let alerts = monitor.alerts_for(&reports);
        let no_data = reports
            .iter()
            .filter(|r| r.requests == 0)
            .map(|r| r.health_id.clone())
            .collect();
        Ok(Self {
            store: choice,
            ok: alerts.is_empty(),
            reports,
            alerts,
            no_data,
        })
    }

    /// The table (see [`render_table`]) with the alerts, and a note on health ids without data.
    pub fn render(&self) -> String {
        let mut out = render_table(&self.reports, &self.alerts);
        if self.alerts.is_empty() {
            out.push_str("\nno alert threshold crossed\n");
        }
        if !self.no_data.is_empty() {
            let window = self
                .reports
                .iter()
                .map(|r| r.window.as_secs())
                .max()
                .unwrap_or_default();
            out.push_str(&format!(
                "\nunknown: no data for {} (no request recorded in the last {window} s)\n",
                self.no_data.join(", ")
            ));
            if self.store == StoreChoice::Memory {
                out.push_str(
                    "note: without CONFIG_TABLE metrics live in the memory of the process that \
                     made the calls, so a fresh `health` process has none. Run `cargo xtask demo` \
                     to see a populated table, or set CONFIG_TABLE to read a DynamoDB table.\n",
                );
            }
        }
        out
    }

    /// The snapshot as one pretty JSON document ending with a newline.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_else(|error| {
            serde_json::json!({ "error": format!("cannot serialize the health snapshot: {error}") })
        });
        format!("{value:#}\n")
    }
}

/// Prints the health from the store `CONFIG_TABLE` selects. `Ok(false)` when an alert threshold
/// is crossed.
pub async fn run(args: HealthArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    let choice = StoreChoice::from_env();
    let store = choice.open(false).await?;
    let snapshot = HealthSnapshot::read(store, choice, PROVIDERS).await?;
    let text = if args.json {
        snapshot.to_json()
    } else {
        format!(
            "health from {}\n\n{}",
            snapshot.store.describe(),
            snapshot.render()
        )
    };
    out.write_all(text.as_bytes())
        .map_err(CliError::io("stdout"))?;
    Ok(snapshot.ok)
}
