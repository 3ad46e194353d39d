//! `media-sdk health`: the health of every health id, read from the configured store.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use serde::Serialize;

use media_sdk::PROVIDERS;
use media_sdk::health::{
    Alert, HealthMonitor, HealthReport, HealthStore, render_key_usage, render_table,
};
use media_sdk::spec::ProviderSpec;

use super::{CliError, StoreChoice};

/// Arguments of `media-sdk health`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Exit status: 0 healthy (no alert threshold crossed), 1 an alert threshold is crossed, \
2 no data (no health id has a request or a rate limit in its window, e.g. the wrong table, or \
memory without CONFIG_TABLE) or the store failed. The output says where it looked (`store`).")]
pub struct HealthArgs {
    /// Print one JSON document (where it looked, verdict, reports, alerts) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The one-word outcome of `media-sdk health`, and its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthVerdict {
    /// Data, and no alert threshold crossed: exit 0.
    Healthy,
    /// An alert threshold is crossed: exit 1.
    Alerts,
    /// No health id has a request or a rate limit in its window, so nothing could be judged:
    /// exit 2.
    NoData,
    /// The store could not be read: exit 2.
    StoreError,
}

impl HealthVerdict {
    /// 0 healthy, 1 alerts, 2 no data or store error.
    pub fn exit_code(self) -> u8 {
        match self {
            HealthVerdict::Healthy => 0,
            HealthVerdict::Alerts => 1,
            HealthVerdict::NoData | HealthVerdict::StoreError => 2,
        }
    }

    /// Lower-case words: `healthy`, `alerts`, `no data`, `store error`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthVerdict::Healthy => "healthy",
            HealthVerdict::Alerts => "alerts",
            HealthVerdict::NoData => "no data",
            HealthVerdict::StoreError => "store error",
        }
    }
}

/// Every health id's report and the alerts crossed, as printed by `media-sdk health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSnapshot {
    /// Where the metrics were read from.
    pub store: StoreChoice,
    /// The same, for people (see [`StoreChoice::describe`]).
    pub looked_in: String,
    /// The outcome: healthy, alerts or no data.
    pub verdict: HealthVerdict,
    /// Whether the verdict is healthy: data, and no alert threshold crossed.
    pub ok: bool,
    /// One report per health id, sorted by health id.
    pub reports: Vec<HealthReport>,
    /// Every alert threshold crossed: rate limits per provider, latency and success rate per
    /// health id.
    pub alerts: Vec<Alert>,
    /// Health ids without any request in their window (status `unknown`: no data).
    pub no_data: Vec<String>,
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
        let nothing = reports
            .iter()
            .all(|r| r.requests == 0 && r.provider_rate_limits == 0);
        let verdict = if !alerts.is_empty() {
            HealthVerdict::Alerts
        } else if nothing {
            HealthVerdict::NoData
        } else {
            HealthVerdict::Healthy
        };
        Ok(Self {
            looked_in: choice.describe(),
            store: choice,
            verdict,
            ok: verdict == HealthVerdict::Healthy,
            reports,
            alerts,
            no_data,
        })
    }

    /// The table (see [`render_table`]) with the alerts, the usage per key (see
    /// [`render_key_usage`]) and a note on health ids without data.
    pub fn render(&self) -> String {
        let mut out = render_table(&self.reports, &self.alerts);
        let usage = render_key_usage(&self.reports);
        if !usage.is_empty() {
            out.push('\n');
            out.push_str(&usage);
        }
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

/// Prints the health from the store `CONFIG_TABLE` selects and returns the verdict (its
/// [`exit_code`](HealthVerdict::exit_code) is the command's exit status). When the store fails,
/// `--json` still prints a document (`"verdict": "store_error"`, `"error"`) before the error is
/// returned.
pub async fn run(args: HealthArgs, out: &mut dyn Write) -> Result<HealthVerdict, CliError> {
    let choice = StoreChoice::from_env();
    let read = async {
        let store = choice.open(false).await?;
        HealthSnapshot::read(store, choice.clone(), PROVIDERS).await
    };
    let snapshot = match read.await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            let text = if args.json {
                let doc = serde_json::json!({
                    "store": choice,
                    "looked_in": choice.describe(),
                    "verdict": HealthVerdict::StoreError,
                    "ok": false,
                    "error": error.to_string(),
                });
                format!("{doc:#}\n")
            } else {
                format!("health from {}\n", choice.describe())
            };
            out.write_all(text.as_bytes())
                .map_err(CliError::io("stdout"))?;
            return Err(error);
        }
    };
    let text = if args.json {
        snapshot.to_json()
    } else {
        let mut text = format!(
            "health from {}\n\n{}",
            snapshot.looked_in,
            snapshot.render()
        );
        text.push_str(&match snapshot.verdict {
            HealthVerdict::NoData => format!(
                "\nverdict: no data: nothing recorded in {} within the health window; exit \
                 status 2\n",
                snapshot.looked_in
            ),
            verdict => format!(
                "\nverdict: {}; exit status {}\n",
                verdict.as_str(),
                verdict.exit_code()
            ),
        });
        text
    };
    out.write_all(text.as_bytes())
        .map_err(CliError::io("stdout"))?;
    Ok(snapshot.verdict)
}
