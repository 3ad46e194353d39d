//! `cargo xtask test`: everything CI checks, in one command.
//!
//! 1. Installs the DynamoDB- and Secrets Manager-compatible test server (moto, from PyPI) into
//!    `.venv/` when it is missing, and exports its path as `MOTO_SERVER` for the tests that start it.
//! 2. `cargo fmt --check`, `cargo clippy --all-targets -D warnings`, `cargo xtask codegen --check`,
//!    `cargo package` of every crate meant for crates.io, `cargo doc` with warnings denied, and
//!    every test in the workspace.
//! 3. The "no Rust edit" check ([`xtask::appended`]): a provider appended to a copy of
//!    `providers.yaml` is generated, built, called by the demo and serves the media API's
//!    text to speech when the other providers fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// PyPI requirements of the test server.
const MOTO_REQUIREMENTS: &[&str] = &[
    "moto[dynamodb,secretsmanager]>=5.1,<6",
    "flask",
    "flask-cors",
];

/// Runs the whole check suite from the workspace root.
pub fn run(root: &Path) -> Result<()> {
    let moto = ensure_moto(root)?;
    cargo(root, &["fmt", "--all", "--check"], &[])?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    step("cargo xtask codegen --check");
    let xtask = std::env::current_exe().context("cannot locate the xtask binary")?;
    run_cmd(
        Command::new(xtask)
            .current_dir(root)
            .args(["codegen", "--check"]),
    )?;
    package(root)?;
    cargo(
        root,
        &[
            "doc",
            "-p",
            "media-sdk-spec",
            "-p",
            "media-sdk",
            "-p",
            "media-sdk-macros",
            "-p",
            "media-sdk-sim",
            "-p",
            "media-sdk-cli",
            "-p",
            "media-sdk-service",
            "--no-deps",
            "--all-features",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    let moto = moto.to_string_lossy().into_owned();
    cargo(
        root,
        &["test", "--workspace", "--all-features"],
        &[("MOTO_SERVER", moto.as_str())],
    )?;
    step("a provider appended to providers.yaml, with no Rust edit");
    xtask::appended::run(root)?;
    println!("xtask test: all checks passed");
    Ok(())
}

/// `cargo package` of every publishable crate, together, so the ones that depend on each other
/// resolve through cargo's local registry of the packages being made.
///
/// `--no-verify`: verifying builds each package once more outside the workspace, where the
/// workspace's profiles do not apply, so the whole dependency tree is compiled a second time
/// (about 5 minutes on two cores from a clean target directory, against seconds for packaging
/// alone). The same sources are built, linted, documented and tested by the other steps.
/// `--allow-dirty`: CI clones are clean, local runs seldom are.
fn package(root: &Path) -> Result<()> {
    let packages = publishable(&metadata(root)?);
    if packages.is_empty() {
        bail!("no crate of the workspace is publishable");
    }
    let mut args = vec!["package", "--no-verify", "--allow-dirty"];
    for name in &packages {
        args.extend(["-p", name.as_str()]);
    }
    cargo(root, &args, &[])
}

/// `cargo metadata` of the workspace's own packages.
fn metadata(root: &Path) -> Result<Value> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("cargo metadata printed no JSON")
}

/// The packages of `cargo metadata` meant for a registry: `publish` absent (any registry) or a
/// list of registries, not `publish = false` (an empty list).
fn publishable(metadata: &Value) -> Vec<String> {
    let packages = metadata["packages"].as_array().map(Vec::as_slice);
    packages
        .unwrap_or_default()
        .iter()
        .filter(|p| match &p["publish"] {
            Value::Null => true,
            Value::Array(registries) => !registries.is_empty(),
            _ => false,
        })
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

/// Path of `moto_server` in the workspace venv, installing it when absent.
pub fn ensure_moto(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let server = venv.join("bin").join("moto_server");
    let python = venv.join("bin").join("python");
    let ready = server.exists()
        && Command::new(&python)
            .args([
                "-c",
                "import moto, moto.secretsmanager.responses, flask, flask_cors",
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ready {
        return Ok(server);
    }
    step("installing moto (DynamoDB and Secrets Manager test server) into .venv");
    run_cmd(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    run_cmd(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(MOTO_REQUIREMENTS),
    )?;
    if !server.exists() {
        bail!("pip installed moto but {} is missing", server.display());
    }
    Ok(server)
}

fn cargo(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    step(&format!("cargo {}", args.join(" ")));
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_cmd(&mut cmd)
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn step(what: &str) {
    println!("\n==> {what}");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::publishable;

    #[test]
    fn publishable_packages_are_those_without_publish_false() {
        let metadata = json!({ "packages": [
            { "name": "any-registry", "publish": null },
            { "name": "not-published", "publish": [] },
            { "name": "crates-io-only", "publish": ["crates-io"] },
        ]});
        assert_eq!(publishable(&metadata), ["any-registry", "crates-io-only"]);
    }

    #[test]
    fn the_workspace_publishes_its_libraries_only() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace");
        let names = publishable(&super::metadata(root).expect("cargo metadata"));
        for library in ["media-sdk", "media-sdk-macros", "media-sdk-sim"] {
            assert!(names.iter().any(|n| n == library), "{library}: {names:?}");
        }
        for tool in ["media-sdk-cli", "media-sdk-service", "xtask"] {
            assert!(!names.iter().any(|n| n == tool), "{tool}: {names:?}");
        }
    }
}
