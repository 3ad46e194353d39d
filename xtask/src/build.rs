//! Building the workspace's binaries with visible progress and a quiet warm run.
//!
//! The verbs that run `media-sdk` binaries build them first through [`cargo_build`]: cargo
//! runs with `--quiet --message-format=json-render-diagnostics`, so an up-to-date build prints
//! nothing, while a build that compiles something says what it builds, that the first run takes
//! minutes, and shows a spinner with the crates compiled so far. Compiler diagnostics are still
//! rendered to stderr.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// Runs `cargo <args>` (a `build`, or a `bench`/`test` with `--no-run`) from `root`.
/// `what` names the result in the progress line, e.g. `media-sdk (cli)`.
pub fn cargo_build(root: &Path, what: &str, args: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut child = Command::new(&cargo)
        .current_dir(root)
        .args(args)
        .args(["--quiet", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("run cargo {}", args.join(" ")))?;
    let started = Instant::now();
    let mut progress: Option<ProgressBar> = None;
    let mut compiled = 0usize;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Some(name) = compiled_crate(&line) else {
                continue;
            };
            compiled += 1;
            let bar = progress.get_or_insert_with(|| {
                eprintln!("building {what} (the first run takes a few minutes)…");
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
            bar.set_message(format!("{compiled} crates compiled, last: {name}"));
        }
    }
    let status = child.wait().context("wait for cargo")?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
        eprintln!(
            "built {what}: {compiled} crates in {:.0?}",
            Duration::from_secs(started.elapsed().as_secs())
        );
    }
    if !status.success() {
        bail!(
            "building {what} failed (cargo {}): {status}",
            args.join(" ")
        );
    }
    Ok(())
}

/// The crate name of a `compiler-artifact` message for a unit cargo actually compiled (not a
/// fresh one).
fn compiled_crate(line: &str) -> Option<String> {
    let message: Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || message["fresh"] != false {
        return None;
    }
    message["target"]["name"].as_str().map(str::to_owned)
}

/// Runs `cargo <args>` (with `envs`) from the workspace `root`, its output on the terminal, and
/// returns its exit status for the verb to pass on: `on_signal` when it was stopped by a signal
/// (a server stopped with Ctrl-C ends normally, a batch job does not), 2 when cargo could not
/// be started.
pub fn run_cargo(
    root: &Path,
    args: impl IntoIterator<Item = OsString>,
    envs: &[(&str, &str)],
    on_signal: ExitCode,
) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status();
    match status {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => on_signal,
        },
        Err(error) => {
            eprintln!("cannot run {}: {error}", Path::new(&cargo).display());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_units_cargo_compiled_count() {
        let compiled = r#"{"reason":"compiler-artifact","target":{"name":"serde"},"fresh":false}"#;
        let fresh = r#"{"reason":"compiler-artifact","target":{"name":"serde"},"fresh":true}"#;
        let finished = r#"{"reason":"build-finished","success":true}"#;
        assert_eq!(compiled_crate(compiled).as_deref(), Some("serde"));
        assert_eq!(compiled_crate(fresh), None);
        assert_eq!(compiled_crate(finished), None);
        assert_eq!(compiled_crate("not json"), None);
    }
}
