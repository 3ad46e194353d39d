//! `media-sdk table create | check | cloudformation`: the DynamoDB health table.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use media_sdk::health::table::{DEFAULT_TABLE_NAME, cloudformation};

use super::{CliError, StoreChoice};

/// Arguments of `media-sdk table`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
The table: keys pk (S, HASH) and sk (S, RANGE), TTL on `ttl`, on-demand billing. The SDK uses \
dynamodb:BatchWriteItem, dynamodb:Query and dynamodb:PutItem on it; `create` and `check` also \
use DescribeTable, DescribeTimeToLive, CreateTable and UpdateTimeToLive. \
AWS_ENDPOINT_URL_DYNAMODB points at a local DynamoDB.")]
pub struct TableArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TableAction,
}

/// The `table` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum TableAction {
    /// Create the table if it is missing (on-demand billing, TTL on `ttl`), enable TTL on an
    /// existing table without it, then check it. Idempotent. Exit 1 when the check finds a
    /// problem.
    Create(TableName),
    /// Check the key schema, TTL on `ttl`, and a write + query round trip with these
    /// credentials; print what is wrong and how to fix it. Exit 1 on a problem, 2 when the
    /// table cannot be described.
    Check(TableName),
    /// Print a CloudFormation template with the table and an IAM managed policy granting the
    /// SDK's actions on it.
    Cloudformation(TableTemplateArgs),
}

/// The table to act on.
#[derive(Debug, Clone, Args)]
pub struct TableName {
    /// The table (default: CONFIG_TABLE).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
}

/// Arguments of `media-sdk table cloudformation`.
#[derive(Debug, Clone, Args)]
pub struct TableTemplateArgs {
    /// Default of the template's TableName parameter (default: CONFIG_TABLE, else
    /// media-sdk-health).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Write the template to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The template for `table`, as pretty JSON ending with a newline.
pub fn template(table: &str) -> String {
    format!("{:#}\n", cloudformation(table))
}

fn config_table() -> Option<String> {
    std::env::var(media_sdk::health::CONFIG_TABLE_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Runs `action`, printing to `out`. `Ok(false)` when the table has a problem.
pub async fn run(args: TableArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    match args.action {
        TableAction::Create(name) => create(&resolve(name)?, out).await,
        TableAction::Check(name) => check(&resolve(name)?, out).await,
        TableAction::Cloudformation(args) => {
            let table = args
                .table
                .or_else(config_table)
                .unwrap_or_else(|| DEFAULT_TABLE_NAME.to_owned());
            let text = template(&table);
            super::write_document(&text, args.out.as_deref(), out, |path| {
                format!("wrote the health table `{table}` and its IAM policy to {path}")
            })?;
            Ok(true)
        }
    }
}

/// `--table`, else `CONFIG_TABLE`, as a store choice with the endpoint and region of the
/// environment.
fn resolve(name: TableName) -> Result<StoreChoice, CliError> {
    let table = name.table.or_else(config_table).ok_or_else(|| {
        CliError::Usage(format!(
            "no table: pass --table NAME or set CONFIG_TABLE (e.g. --table {DEFAULT_TABLE_NAME})"
        ))
    })?;
    Ok(StoreChoice::dynamo_from_lookup(table, |name| {
        std::env::var(name).ok()
    }))
}

async fn store(choice: &StoreChoice) -> Result<media_sdk::health::DynamoStore, CliError> {
    let StoreChoice::DynamoDb { table, .. } = choice else {
        return Err(CliError::Usage(
            "the table commands need a DynamoDB table".into(),
        ));
    };
    let timeouts = media_sdk::health::DynamoTimeouts::from_env()?;
    Ok(media_sdk::health::DynamoStore::from_env_with(table.clone(), timeouts).await)
}

async fn create(choice: &StoreChoice, out: &mut dyn Write) -> Result<bool, CliError> {
    let store = store(choice).await?;
    let setup = store.ensure_table().await?;
    let table = store.table();
    let done = match (setup.created, setup.enabled_ttl) {
        (true, _) => format!("created table {table} (on-demand billing, TTL on `ttl`)"),
        (false, true) => format!("table {table} exists; enabled TTL on `ttl`"),
        (false, false) => format!("table {table} exists; nothing to change"),
    };
    writeln!(out, "{}\n{done}", choice.describe()).map_err(CliError::io("stdout"))?;
    report(&store, out).await
}

async fn check(choice: &StoreChoice, out: &mut dyn Write) -> Result<bool, CliError> {
    let store = store(choice).await?;
    writeln!(out, "{}", choice.describe()).map_err(CliError::io("stdout"))?;
    report(&store, out).await
}

async fn report(
    store: &media_sdk::health::DynamoStore,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let check = store.check_table().await?;
    let verdict = if check.is_ok() {
        "the table is ready: set CONFIG_TABLE to it".to_owned()
    } else {
        let problems = check.findings.iter().filter(|f| !f.is_ok()).count();
        format!("{problems} problem(s): see the fixes above")
    };
    writeln!(out, "{check}{verdict}").map_err(CliError::io("stdout"))?;
    Ok(check.is_ok())
}
