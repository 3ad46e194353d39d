//! The "no Rust edit" check of `cargo xtask test`: a provider appended to `providers.yaml` (with
//! a text-to-speech capability entry) is generated, built, called by the demo, and serves the
//! media API's `POST /api/v1/media/tts` when every other text-to-speech provider fails.
//!
//! The workspace's sources are copied to `target/appended-provider/`, the fixture
//! `xtask/tests/fixtures/appended_tts_provider.yaml` is spliced into the copy's
//! `providers.yaml` ([`crate::fixture::append`]), and `cargo xtask codegen` runs there. Nothing
//! else of the copy is touched: every Rust file is the workspace's own. The copy builds in the
//! workspace's target directory, so only its own crates are compiled again.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{CodegenPaths, codegen, fixture};

/// The fixture, relative to the workspace root.
pub const FIXTURE: &str = "xtask/tests/fixtures/appended_tts_provider.yaml";
/// The appended provider's id (the fixture's).
pub const PROVIDER: &str = "echovox";

/// Entries of the workspace root never copied: build output, VCS data, the test venv.
const SKIPPED: &[&str] = &["target", ".git", ".venv"];

/// Runs the check from the workspace root `root`.
pub fn run(root: &Path) -> Result<()> {
    let copy = root.join("target").join("appended-provider");
    if copy.exists() {
        std::fs::remove_dir_all(&copy)
            .with_context(|| format!("cannot clear {}", copy.display()))?;
    }
    copy_tree(root, &copy, true)?;

    let fragment = read(&root.join(FIXTURE))?;
    let spec_path = copy.join("providers.yaml");
    let spec = read(&spec_path)?;
    let appended = fixture::append(&spec, &fragment)
        .map_err(|e| anyhow::anyhow!("{FIXTURE} does not splice into providers.yaml: {e}"))?;
    std::fs::write(&spec_path, appended)
        .with_context(|| format!("cannot write {}", spec_path.display()))?;
    codegen(&CodegenPaths::defaults(&copy), false)
        .map_err(|e| anyhow::anyhow!("codegen of the appended spec failed:\n{e}"))?;

    let target = root.join("target");
    let demo = output(
        cargo(&copy, &target)
            .args([
                "run",
                "--quiet",
                "-p",
                "media-sdk-cli",
                "--bin",
                "media-sdk",
                "--",
            ])
            .args(["demo", "--requests", "40"]),
        "the demo on the appended spec",
    )?;
    println!("    {}", check_demo(&demo)?.trim());
    output(
        cargo(&copy, &target).args([
            "test",
            "--quiet",
            "-p",
            "media-sdk-service",
            "--test",
            "api",
            "--",
            "last_tts_candidate",
        ]),
        "the media API's fallback test on the appended spec",
    )?;
    println!("appended provider `{PROVIDER}`: generated, built, called by the demo, serving tts");
    Ok(())
}

/// The row of the appended provider's endpoint in the demo's ENDPOINTS table (`<provider>
/// <endpoint> <health id> <requests> <failed> <last output>`), with requests made and none
/// failed; that row.
fn check_demo(report: &str) -> Result<&str> {
    let row = report
        .lines()
        .skip_while(|l| l.trim() != "ENDPOINTS")
        .take_while(|l| !l.trim().is_empty())
        .find(|l| l.split_whitespace().next() == Some(PROVIDER))
        .with_context(|| format!("the demo's endpoint table has no `{PROVIDER}` row:\n{report}"))?;
    let columns: Vec<&str> = row.split_whitespace().collect();
    let number = |i: usize| columns.get(i).and_then(|c| c.parse::<u64>().ok());
    match (number(3), number(4)) {
        (Some(requests), Some(0)) if requests > 0 => Ok(row),
        _ => bail!("the demo did not call `{PROVIDER}` successfully:\n{row}\n\n{report}"),
    }
}

fn cargo(dir: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).env("CARGO_TARGET_DIR", target);
    cmd
}

/// Runs `cmd`; its stdout on success, else an error with both streams.
fn output(cmd: &mut Command, what: &str) -> Result<String> {
    println!("==> {what}");
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Copies `from` into `to` (created), skipping [`SKIPPED`] at the top level and any nested
/// `target` directory.
fn copy_tree(from: &Path, to: &Path, top: bool) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let skipped = if top {
            SKIPPED.iter().any(|s| name == *s)
        } else {
            name == "target"
        };
        if skipped {
            continue;
        }
        let kind = entry.file_type()?;
        let dest = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest, false)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_row_with_calls_and_no_failures_passes() {
        let row = "echovox speech  echovox-tts  3  0  1291 bytes of audio/mpeg";
        assert_eq!(check_demo(&format!("ENDPOINTS\n{row}\n")).unwrap(), row);
        let table = |row: &str| format!("KEYS\necho k_1 1 1 0\n\nENDPOINTS\n{row}\n\nSUMMARY\n");
        assert!(check_demo(&table("openai speech  openai-tts  12  0  audio")).is_err());
        assert!(check_demo(&table("echovox speech  echovox-tts  0  0  -")).is_err());
        assert!(check_demo(&table("echovox speech  echovox-tts  3  1  -")).is_err());
        // A row of another table (the keys) does not count.
        let keys_only =
            "echovox  echovox-tts  k_7c304e09  1  1  0\n\nENDPOINTS\nopenai speech x 1 0\n";
        assert!(check_demo(keys_only).is_err());
    }

    #[test]
    fn the_copy_leaves_out_build_output_and_vcs_data() {
        let from = tempfile::tempdir().unwrap();
        for dir in ["target/debug", ".git", "sdk/src", "sdk/target"] {
            std::fs::create_dir_all(from.path().join(dir)).unwrap();
        }
        std::fs::write(from.path().join("sdk/src/lib.rs"), "//! x").unwrap();
        std::fs::write(from.path().join("sdk/target/junk"), "x").unwrap();
        std::fs::write(from.path().join("Cargo.toml"), "[workspace]").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), to.path(), true).unwrap();
        assert!(to.path().join("Cargo.toml").is_file());
        assert!(to.path().join("sdk/src/lib.rs").is_file());
        assert!(!to.path().join("target").exists());
        assert!(!to.path().join(".git").exists());
        assert!(!to.path().join("sdk/target").exists());
    }
}
