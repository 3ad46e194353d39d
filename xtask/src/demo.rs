//! `cargo xtask demo | health | alarms | table`: thin fronts over the `media-sdk` binary.
//!
//! xtask does not depend on media-sdk or media-sdk-cli (codegen must build even when the generated code does
//! not), so these verbs build the binary with visible progress ([`xtask::build`]), then run
//! `cargo run -p media-sdk-cli --bin media-sdk -- <verb> <args>` in the debug
//! profile, passing arguments through and returning its exit status.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// The `cargo` arguments that run `media-sdk <verb> <args>`.
pub fn cargo_args(verb: &str, args: &[String]) -> Vec<OsString> {
    let mut out: Vec<OsString> = [
        "run",
        "--quiet",
        "--package",
        "media-sdk-cli",
        "--bin",
        "media-sdk",
        "--",
        verb,
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    out.extend(args.iter().map(OsString::from));
    out
}

/// Runs `media-sdk <verb> <args>` from the workspace `root` through cargo and returns its exit
/// status (1 when it was killed by a signal, 2 when cargo could not be started).
pub fn delegate(root: &Path, verb: &str, args: &[String]) -> ExitCode {
    let build = ["build", "--package", "media-sdk-cli", "--bin", "media-sdk"];
    if let Err(error) = xtask::build::cargo_build(root, "media-sdk (media-sdk-cli)", &build) {
        eprintln!("{error:#}");
        return ExitCode::FAILURE;
    }
    xtask::build::run_cargo(root, cargo_args(verb, args), &[], ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_pass_through_after_the_verb() {
        let args = cargo_args("demo", &["--requests".into(), "10".into()]);
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "run",
                "--quiet",
                "--package",
                "media-sdk-cli",
                "--bin",
                "media-sdk",
                "--",
                "demo",
                "--requests",
                "10"
            ]
        );
    }
}
