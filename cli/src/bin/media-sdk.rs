//! `media-sdk`: the demo, health and alarm tools (feature `cli`). Usually run through
//! `cargo xtask demo | health | alarms`; see [`media_sdk_cli`].

use std::process::ExitCode;

use clap::Parser;
use media_sdk_cli::{Cli, init_logging, run};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    run(Cli::parse()).await
}
