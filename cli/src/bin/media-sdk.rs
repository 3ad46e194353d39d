//! `media-sdk`: the demo, health, alarm and table tools. Usually run through
//! `cargo xtask demo | health | alarms | table`; see [`media_sdk_cli`].

use std::process::ExitCode;

use clap::Parser;
use media_sdk_cli::{Cli, init_logging, run};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    run(Cli::parse()).await
}
