//! The `media-sdk` command line (crate `media-sdk-cli`, not published), run by
//! `cargo xtask demo | health | alarms | table`.
//!
//! - [`demo`]: calls every endpoint of the spec (`ENDPOINTS`, each with its example request)
//!   against the local [simulator](media_sdk_sim) (or, with `--live`, the real providers) under
//!   concurrency, then prints the health table, the alerts crossed, what each endpoint answered
//!   and a summary of rotations, retries, quarantines and per-key usage.
//! - [`health`]: prints the health of every health id from the configured store.
//! - [`alarms`]: prints the CloudWatch alarms of the alert thresholds as CloudFormation JSON.
//! - [`table`]: creates and checks the DynamoDB health table, or prints it (with the IAM policy
//!   the SDK needs) as CloudFormation JSON.
//!
//! The work is done by library functions returning reports, so tests run it in-process; the
//! `media-sdk` binary only parses arguments and prints.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod alarms;
pub mod demo;
pub mod health;
pub mod table;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use media_sdk::health::{HealthStore, MemoryStore, StoreError};

/// `media-sdk`: the demo, health and alarm tools of media-sdk.
#[derive(Debug, Parser)]
#[command(name = "media-sdk", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call every endpoint of the spec with its example request against a local simulator with
    /// rate limits and faults, then show the health table, alerts, rotations, retries and
    /// per-key usage.
    Demo(demo::DemoArgs),
    /// Print the health of every provider and health id from the configured store.
    Health(health::HealthArgs),
    /// Print CloudWatch alarms for the alert thresholds as a CloudFormation template.
    Alarms(alarms::AlarmsArgs),
    /// Create or check the DynamoDB health table, or print it as a CloudFormation template.
    Table(table::TableArgs),
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The SDK could not be configured.
    #[error(transparent)]
    Sdk(#[from] media_sdk::Error),
    /// The simulator could not start.
    #[error("cannot start the simulator: {0}")]
    Sim(#[from] media_sdk_sim::SimError),
    /// The health store failed.
    #[error("health store: {0}")]
    Store(#[from] StoreError),
    /// Reading health failed.
    #[error("health: {0}")]
    Health(#[from] media_sdk::health::HealthError),
    /// `--live` without keys for some providers.
    #[error(
        "--live calls the real providers and needs keys for every one of them; missing: {}",
        .0.join("; ")
    )]
    MissingKeys(Vec<String>),
    /// An argument is out of range.
    #[error("{0}")]
    Usage(String),
    /// Writing output failed.
    #[error("cannot write {what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// Writes a generated document (`alarms`, `table cloudformation`) to `path`, then says so on
/// `out` with `wrote` (given the path shown), or writes it to `out` when there is no path.
fn write_document(
    text: &str,
    path: Option<&std::path::Path>,
    out: &mut dyn Write,
    wrote: impl FnOnce(std::path::Display<'_>) -> String,
) -> Result<(), CliError> {
    match path {
        Some(path) => {
            std::fs::write(path, text).map_err(CliError::io(path.display().to_string()))?;
            writeln!(out, "{}", wrote(path.display())).map_err(CliError::io("stdout"))
        }
        None => out
            .write_all(text.as_bytes())
            .map_err(CliError::io("stdout")),
    }
}

/// Where health metrics are kept: the choice `CONFIG_TABLE` makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoreChoice {
    /// In this process's memory (lost when it exits; another process's metrics are not there).
    Memory,
    /// A DynamoDB table.
    DynamoDb {
        /// The table name.
        table: String,
        /// The endpoint from `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`; `None`: AWS's
        /// own endpoint for the region.
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// The region from `AWS_REGION` or `AWS_DEFAULT_REGION`; `None`: the AWS profile's.
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
}

impl StoreChoice {
    /// DynamoDB when `CONFIG_TABLE` names a table, else memory.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        match set(&lookup, media_sdk::health::CONFIG_TABLE_ENV) {
            Some(table) => Self::dynamo_from_lookup(table, lookup),
            None => StoreChoice::Memory,
        }
    }

    /// DynamoDB table `table`, with the endpoint and region `lookup` gives.
    pub fn dynamo_from_lookup(table: String, lookup: impl Fn(&str) -> Option<String>) -> Self {
        StoreChoice::DynamoDb {
            table,
            endpoint: set(&lookup, "AWS_ENDPOINT_URL_DYNAMODB")
                .or_else(|| set(&lookup, "AWS_ENDPOINT_URL")),
            region: set(&lookup, "AWS_REGION").or_else(|| set(&lookup, "AWS_DEFAULT_REGION")),
        }
    }

    /// One line for people saying where metrics are read and written, e.g.
    /// `DynamoDB table media-health at http://127.0.0.1:8000 (region us-east-1)`.
    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Memory => "the memory of this process (CONFIG_TABLE is not set; metrics \
                                    recorded by other processes are not visible here)"
                .to_owned(),
            StoreChoice::DynamoDb {
                table,
                endpoint,
                region,
            } => {
                let at = match endpoint {
                    Some(endpoint) => format!(" at {endpoint}"),
                    None => String::new(),
                };
                let region = match region {
                    Some(region) => format!("region {region}"),
                    None => "region from the AWS profile".to_owned(),
                };
                format!("DynamoDB table {table}{at} ({region})")
            }
        }
    }

    /// Opens the store; with `create`, a missing DynamoDB table is created first.
    pub async fn open(&self, create: bool) -> Result<Arc<dyn HealthStore>, CliError> {
        match self {
            StoreChoice::Memory => Ok(Arc::new(MemoryStore::new())),
            StoreChoice::DynamoDb { table, .. } => open_dynamo(table, create).await,
        }
    }
}

/// `lookup(name)`, trimmed, when set and not blank.
fn set(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

async fn open_dynamo(table: &str, create: bool) -> Result<Arc<dyn HealthStore>, CliError> {
    let timeouts = media_sdk::health::DynamoTimeouts::from_env()?;
    let store = media_sdk::health::DynamoStore::from_env_with(table.to_owned(), timeouts).await;
    if create && store.create_table_if_missing().await? {
        tracing::info!(table, "created the health table");
    }
    Ok(Arc::new(store))
}

/// Runs `cli`, printing to stdout (progress to stderr). Exit status: 0 on success, 1 when the
/// command ran but found a problem (a failed demo request, an alert crossed, a table problem),
/// 2 on an error; `health` also exits 2 when there is no data
/// ([`HealthVerdict`](health::HealthVerdict)).
pub async fn run(cli: Cli) -> ExitCode {
    let mut stdout = std::io::stdout();
    let passed = |ok: bool| if ok { 0 } else { 1 };
    let result = match cli.command {
        Command::Demo(args) => demo::run(args, &mut stdout).await.map(passed),
        Command::Health(args) => health::run(args, &mut stdout)
            .await
            .map(health::HealthVerdict::exit_code),
        Command::Alarms(args) => alarms::run(&args, &mut stdout).map(passed),
        Command::Table(args) => table::run(args, &mut stdout).await.map(passed),
    };
    let _ = stdout.flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Installs a stderr log subscriber: `RUST_LOG` when set, else errors only (the commands print
/// their own reports).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
