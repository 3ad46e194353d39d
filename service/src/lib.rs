//! The media API (crate `media-sdk-service`, not published): an HTTP service over the
//! [media facade](media_sdk::media) of an [`Sdk`](media_sdk::Sdk).
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /api/v1/media/tts` | `{text, voice, speed}` | the audio, streamed (`audio/mpeg`), with `X-Credits-Used` and `X-Provider` |
//! | `POST /api/v1/media/image` | `{prompt, model, size, quality}` | `{"images":[{"url"}],"model","credits_used"}` |
//! | `POST /api/v1/media/sound` | `{prompt, model?, duration?}` | `{"audio":[{"url"}],"model","credits_used"}` |
//! | `POST /api/v1/media/video` | `{prompt, model?, duration?, aspect_ratio?}` | `202 {"id","status":"pending"}` at once |
//! | `GET /api/v1/media/video/{id}` | | `{"id","status","model"}`, plus `videos` and `credits_used` once `succeeded`, `error` once `failed` |
//! | `GET /healthz` | | `{"status":"ok"}`, without a token |
//!
//! Every `/api` route needs `Authorization: Bearer <token>` with a token from the
//! [configuration](config). Errors are `{"error":{"code","message"}}` ([`ApiError`]): 400
//! refused input, 401 no valid token, 404 unknown route or job id, 405, 413 body over the
//! limit, 415 not JSON, 429 every key rate limited (`Retry-After`), 502 providers failed,
//! 503 no provider available, 504 the request's deadline passed.
//!
//! - [`router`] builds the routes; [`serve`] runs them on a listener (the `media-api`
//!   binary); `lambda` runs them on AWS Lambda (feature `lambda`, binary
//!   `media-api-lambda`).
//! - `sim` starts the simulator in-process with demo keys (feature `sim`, `media-api --sim`,
//!   `cargo xtask serve`).
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod config;
mod error;
mod facade;
mod jobs;
#[cfg(feature = "lambda")]
pub mod lambda;
mod routes;
#[cfg(feature = "sim")]
pub mod sim;

use std::future::Future;

pub use config::{ConfigError, ServiceConfig};
pub use error::ApiError;
pub use routes::{CREDITS_HEADER, PROVIDER_HEADER, router};

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
///
/// # Errors
///
/// When accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
