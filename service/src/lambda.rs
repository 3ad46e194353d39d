//! The service on AWS Lambda (feature `lambda`): the same [`router`](crate::router) behind
//! `lambda_http`.
//!
//! [`run_streaming`] answers through Lambda response streaming, so the first audio bytes of
//! `POST /api/v1/media/tts` leave before the provider has finished speaking; it needs a
//! Function URL with `InvokeMode: RESPONSE_STREAM` or an API Gateway REST integration with
//! response streaming enabled. [`run_buffered`] answers whole responses, for a buffered API
//! Gateway integration (REST v1 or HTTP API v2): the audio then leaves only once complete,
//! and API Gateway's 29 s integration timeout applies (keep `MEDIA_API_DEADLINE_MS` below it).
//!
//! Either way the SDK's health metrics are flushed before the invocation ends (a frozen
//! Lambda runs no background task): after the whole body when buffered, after the last chunk
//! when streamed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use bytes::Bytes;
use futures::StreamExt;
use http::{Response, Uri};
use lambda_http::request::RequestContext;
use lambda_http::tower::ServiceExt;
use lambda_http::{RequestExt, service_fn};

use media_sdk::Sdk;

use crate::ApiError;
use crate::routes::AnswerBy;

/// Which Lambda answer mode `media-api-lambda` uses: `MEDIA_API_LAMBDA_MODE=buffered` or
/// `streaming` (the default).
pub const MODE_ENV: &str = "MEDIA_API_LAMBDA_MODE";
/// Longest wait for the metric flush at the end of an invocation.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(2);
/// Time kept back from the invocation's deadline to send the answer: a request still waiting
/// on a provider then is answered 504 by the service rather than cut by Lambda.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// Largest buffered answer: Lambda's limit on a buffered response payload (6 MB).
pub const MAX_BUFFERED_BODY: usize = 6 * 1024 * 1024;

/// The router and the `Sdk` whose metrics each invocation flushes.
#[derive(Clone)]
pub struct LambdaApp {
    router: Router,
    sdk: Arc<Sdk>,
}

impl LambdaApp {
    /// `router` (built over `sdk`) on Lambda.
    pub fn new(router: Router, sdk: Arc<Sdk>) -> Self {
        Self { router, sdk }
    }

    /// Answers one request, streamed: the body is the router's, followed by a flush of the
    /// SDK's metrics once its last chunk has left.
    pub async fn streaming(&self, request: lambda_http::Request) -> Response<Body> {
        let response = route(self.router.clone(), request).await;
        let sdk = self.sdk.clone();
        let flush = futures::stream::once(async move {
            flush_metrics(&sdk).await;
        })
        .filter_map(|()| async { None::<Result<Bytes, axum::Error>> });
        response.map(|body| Body::from_stream(body.into_data_stream().chain(flush)))
    }

    /// Answers one request, buffered: the whole body is read (at most
    /// [`MAX_BUFFERED_BODY`]; beyond, a 502 JSON error), then the SDK's metrics are flushed.
    pub async fn buffered(&self, request: lambda_http::Request) -> Response<Body> {
        let (parts, body) = route(self.router.clone(), request).await.into_parts();
        let response = match to_bytes(body, MAX_BUFFERED_BODY).await {
            Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
            Err(error) => {
                tracing::warn!(%error, "answer too large or cut for a buffered Lambda response");
                axum::response::IntoResponse::into_response(ApiError::too_large_for_lambda())
            }
        };
        flush_metrics(&self.sdk).await;
        response
    }
}

async fn flush_metrics(sdk: &Sdk) {
    if let Err(error) = sdk.flush(FLUSH_DEADLINE).await {
        tracing::warn!(%error, "health metrics not flushed before the invocation ended");
    }
}

/// Runs `app` on the Lambda runtime with streamed responses.
///
/// # Errors
///
/// When the Lambda runtime fails.
pub async fn run_streaming(app: LambdaApp) -> Result<(), lambda_http::Error> {
    lambda_http::run_with_streaming_response(service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, lambda_http::Error>(app.streaming(request).await) }
    }))
    .await
}

/// Runs `app` on the Lambda runtime with buffered responses.
///
/// # Errors
///
/// When the Lambda runtime fails.
pub async fn run_buffered(app: LambdaApp) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request| {
        let app = app.clone();
        async move { Ok::<_, lambda_http::Error>(app.buffered(request).await) }
    }))
    .await
}

/// `request` through `router`, the API Gateway stage taken off its path first.
///
/// `lambda_http` puts the API Gateway stage in front of the path (`/prod/api/v1/...`) unless
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; it is taken off here, so the routes are the
/// same behind any stage, a custom domain or a Function URL.
///
/// The invocation's deadline, less [`ANSWER_MARGIN`], bounds the request (when sooner than the
/// configured deadline).
async fn route(router: Router, mut request: lambda_http::Request) -> Response<Body> {
    if let Some(uri) = without_stage(&request) {
        *request.uri_mut() = uri;
    }
    if let Some(context) = request.lambda_context_ref() {
        let remaining = context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(ANSWER_MARGIN);
        let answer_by = AnswerBy(tokio::time::Instant::now() + remaining);
        request.extensions_mut().insert(answer_by);
    }
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The request's URI without the `/{stage}` prefix of an API Gateway stage, when it has one.
fn without_stage(request: &lambda_http::Request) -> Option<Uri> {
    let stage = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.stage.as_deref()?,
        RequestContext::ApiGatewayV2(context) => context.stage.as_deref()?,
        _ => return None,
    };
    if stage.is_empty() || stage == "$default" {
        return None;
    }
    let uri = request.uri();
    let rest = uri.path().strip_prefix('/')?.strip_prefix(stage)?;
    let path = match rest {
        "" => "/",
        rest if rest.starts_with('/') => rest,
        _ => return None,
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}
