//! `cargo xtask test`: everything CI checks, in one command.
//!
//! 1. Installs the DynamoDB-compatible test server (moto, from PyPI) into `.venv/` when it is
//!    missing, and exports its path as `MOTO_SERVER` for the tests that start it.
//! 2. `cargo fmt --check`, `cargo clippy --all-targets -D warnings`, `cargo xtask codegen --check`,
//!    `cargo doc` with warnings denied, and every test in the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// PyPI requirements of the test server.
const MOTO_REQUIREMENTS: &[&str] = &["moto[dynamodb]>=5.1,<6", "flask", "flask-cors"];

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
    cargo(
        root,
        &[
            "doc",
            "-p",
            "media-sdk",
            "-p",
            "media-sdk-macros",
            "-p",
            "media-sdk-sim",
            "-p",
            "media-sdk-cli",
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
    println!("xtask test: all checks passed");
    Ok(())
}

/// Path of `moto_server` in the workspace venv, installing it when absent.
pub fn ensure_moto(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let server = venv.join("bin").join("moto_server");
    let python = venv.join("bin").join("python");
    let ready = server.exists()
        && Command::new(&python)
            .args(["-c", "import moto, flask, flask_cors"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ready {
        return Ok(server);
    }
    step("installing moto (DynamoDB-compatible test server) into .venv");
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
