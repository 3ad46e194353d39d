//! `media-sdk alarms`: the alert thresholds as CloudWatch alarms (a CloudFormation template).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

use media_sdk::PROVIDERS;
use media_sdk::health::{DEFAULT_NAMESPACE, alarms::cloudformation};
use media_sdk::spec::ProviderSpec;

use super::CliError;

/// Arguments of `media-sdk alarms`.
#[derive(Debug, Clone, Args)]
pub struct AlarmsArgs {
    /// CloudWatch namespace of the EMF metrics the alarms read.
    #[arg(long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Write the template to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The template for `providers` in `namespace`, as pretty JSON ending with a newline.
pub fn template(providers: &[&ProviderSpec], namespace: &str) -> String {
    let template: Value = cloudformation(providers, namespace);
    format!("{template:#}\n")
}

/// Writes the template of every generated provider to `--out` or `out`. Always `Ok(true)`
/// unless writing fails.
pub fn run(args: &AlarmsArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    if args.namespace.trim().is_empty() {
        return Err(CliError::Usage("--namespace must not be empty".into()));
    }
    let text = template(PROVIDERS, &args.namespace);
    super::write_document(&text, args.out.as_deref(), out, |path| {
        let alarms = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|t| t["Resources"].as_object().map(|r| r.len()))
            .unwrap_or(0);
        format!(
            "wrote {alarms} CloudWatch alarms (namespace {}) to {path}",
            args.namespace
        )
    })?;
    Ok(true)
}
