//! `cargo xtask <command>`: project automation. Each command is a thin front over the
//! `xtask` library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod demo;
mod serve;
mod test_cmd;

/// Project automation for media-sdk.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate sdk/src/generated and docs/providers.schema.json from providers.yaml.
    Codegen(CodegenArgs),
    /// Run every check CI runs: install the test DynamoDB server (moto) if needed, then fmt,
    /// clippy, codegen --check, cargo package of the publishable crates, rustdoc and all tests.
    Test,
    /// Run every provider against a local simulator (no keys, no AWS account): rate limits,
    /// faults, key rotation, retries, then the health table and alerts. `--help` for flags.
    #[command(disable_help_flag = true)]
    Demo(PassThrough),
    /// Print the health of every provider from the configured store (`--json` for scripts).
    #[command(disable_help_flag = true)]
    Health(PassThrough),
    /// Print CloudWatch alarms for the alert thresholds as CloudFormation JSON.
    #[command(disable_help_flag = true)]
    Alarms(PassThrough),
    /// The DynamoDB health table: `create`, `check` or `cloudformation` [--table NAME].
    #[command(disable_help_flag = true)]
    Table(PassThrough),
    /// Measure overhead, overload, fleet, key pool, health writes and codegen; write docs/BENCHMARKS.md.
    Bench(BenchArgs),
    /// Run the media API on the simulator (no keys): prints the URL, a user token and curl lines.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: std::net::SocketAddr,
}

/// Arguments handed to `media-sdk <verb>` as they are.
#[derive(Debug, Args)]
struct PassThrough {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Shorter runs: the whole suite in under two minutes once built.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CodegenArgs {
    /// Write nothing; fail if any generated file is missing, stale or extra.
    #[arg(long)]
    check: bool,
    /// The spec, relative to the workspace root.
    #[arg(long, value_name = "FILE", default_value = "providers.yaml")]
    spec: PathBuf,
    /// The generated module directory, relative to the workspace root.
    #[arg(long, value_name = "DIR", default_value = "sdk/src/generated")]
    out: PathBuf,
    /// The simulator's generated routes, relative to the workspace root.
    #[arg(long, value_name = "FILE", default_value = "sim/src/providers.rs")]
    sim: PathBuf,
    /// The JSON Schema output, relative to the workspace root.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "docs/providers.schema.json"
    )]
    schema: PathBuf,
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Codegen(args) => codegen(args),
        Command::Test => match test_cmd::run(&workspace_root()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("xtask test: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::Demo(pass) => demo::delegate(&workspace_root(), "demo", &pass.args),
        Command::Health(pass) => demo::delegate(&workspace_root(), "health", &pass.args),
        Command::Alarms(pass) => demo::delegate(&workspace_root(), "alarms", &pass.args),
        Command::Table(pass) => demo::delegate(&workspace_root(), "table", &pass.args),
        Command::Serve(args) => serve::run(&workspace_root(), args.addr),
        Command::Bench(args) => {
            let options = xtask::bench::BenchOptions {
                quick: args.quick,
                json: args.json,
            };
            match xtask::bench::run(&workspace_root(), options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("bench failed: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn codegen(args: CodegenArgs) -> ExitCode {
    let root = workspace_root();
    let paths = xtask::CodegenPaths {
        spec: root.join(&args.spec),
        out: root.join(&args.out),
        sim: root.join(&args.sim),
        schema: root.join(&args.schema),
        root,
    };
    match xtask::codegen(&paths, args.check) {
        Ok(changes) if args.check && !changes.is_empty() => {
            for change in &changes {
                eprintln!("{}", change.describe(&paths.root));
            }
            eprintln!("generated files are out of date: run `cargo xtask codegen`");
            ExitCode::FAILURE
        }
        Ok(_) if args.check => {
            println!("generated files are up to date");
            ExitCode::SUCCESS
        }
        Ok(changes) => {
            for change in &changes {
                let verb = match change {
                    xtask::output::Change::Create(_) => "created",
                    xtask::output::Change::Update(_) => "updated",
                    xtask::output::Change::Remove(_) => "removed",
                };
                let path = change.path();
                let shown = path.strip_prefix(&paths.root).unwrap_or(path);
                println!("{verb} {}", shown.display());
            }
            if changes.is_empty() {
                println!("generated files are up to date");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegated_verbs_pass_their_arguments_through() {
        let cli = Cli::try_parse_from(["cargo xtask", "table", "check", "--table", "t", "--help"])
            .expect("parses");
        let Command::Table(pass) = cli.command else {
            panic!("not table: {cli:?}");
        };
        assert_eq!(pass.args, ["check", "--table", "t", "--help"]);
    }
}
