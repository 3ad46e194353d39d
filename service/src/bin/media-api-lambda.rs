//! `media-api-lambda`: the media API on AWS Lambda. Configuration from the environment
//! (`MEDIA_API_TOKENS`, provider keys, ...; see the crate docs); answers streamed unless
//! `MEDIA_API_LAMBDA_MODE=buffered`.

use std::process::ExitCode;
use std::sync::Arc;

use media_sdk::Sdk;
use media_sdk_service::{ServiceConfig, lambda, router};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let config = match ServiceConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "media-api-lambda refuses to start");
            return ExitCode::FAILURE;
        }
    };
    // Keys from Secrets Manager are read before the first invocation.
    let sdk = match Sdk::from_env_loaded().await {
        Ok(sdk) => Arc::new(sdk),
        Err(error) => {
            tracing::error!(%error, "media-api-lambda cannot configure the SDK");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        tokens = ?config.token_fingerprints(),
        job_secret = ?config.job_secret_origin(),
        "media-api-lambda ready"
    );
    let app = lambda::LambdaApp::new(router(sdk.clone(), &config), sdk);
    let buffered =
        std::env::var(lambda::MODE_ENV).is_ok_and(|mode| mode.eq_ignore_ascii_case("buffered"));
    let result = if buffered {
        lambda::run_buffered(app).await
    } else {
        lambda::run_streaming(app).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "lambda runtime failed");
            ExitCode::FAILURE
        }
    }
}
