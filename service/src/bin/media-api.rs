//! `media-api`: the media API on a local address, on the providers configured in the
//! environment or, with `--sim`, on the simulator started in-process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use media_sdk::Sdk;
use media_sdk_service::config::JobSecretOrigin;
use media_sdk_service::{ServiceConfig, router, serve};

/// The media API over HTTP. User tokens come from MEDIA_API_TOKENS (required).
#[derive(Debug, Parser)]
#[command(name = "media-api", version, about)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// Serve from the provider simulator started in-process, with made-up keys.
    #[arg(long)]
    sim: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("media-api: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = ServiceConfig::from_env().map_err(|e| e.to_string())?;
    let (sdk, _sim) = sdk(args.sim).await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("media API listening on http://{addr}");
    println!(
        "user tokens (fingerprints): {}",
        config.token_fingerprints().join(", ")
    );
    if config.job_secret_origin() == JobSecretOrigin::DerivedFromTokens {
        println!(
            "video job ids are signed with a secret derived from the tokens \
             (set MEDIA_API_JOB_SECRET to keep them valid across token changes)"
        );
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, router(Arc::new(sdk), &config), shutdown)
        .await
        .map_err(|e| format!("server failed: {e}"))
}

#[cfg(feature = "sim")]
async fn sdk(sim: bool) -> Result<(Sdk, Option<media_sdk_sim::Simulator>), String> {
    if sim {
        let started = media_sdk_service::sim::start()
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "providers on the simulator: {}",
            started
                .sim
                .base_urls()
                .iter()
                .map(|(id, url)| format!("{id} {url}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok((started.sdk, Some(started.sim)));
    }
    Ok((
        Sdk::from_env_loaded().await.map_err(|e| e.to_string())?,
        None,
    ))
}

#[cfg(not(feature = "sim"))]
async fn sdk(sim: bool) -> Result<(Sdk, Option<()>), String> {
    if sim {
        return Err("--sim needs the `sim` feature (on by default)".into());
    }
    Ok((
        Sdk::from_env_loaded().await.map_err(|e| e.to_string())?,
        None,
    ))
}
