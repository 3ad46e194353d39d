//! The service on AWS Lambda (feature `lambda`): the same [`router`](crate::router) behind
//! `lambda_http`.
//!
//! [`run_streaming`] answers through Lambda response streaming, so the first audio bytes of
//! `POST /api/v1/media/tts` leave before the provider has finished speaking; it needs a
//! Function URL with `InvokeMode: RESPONSE_STREAM` or an API Gateway REST integration with
//! response streaming. [`run_buffered`] answers whole responses, for a buffered API Gateway
//! integration (REST v1 or HTTP API v2): the audio then leaves only once complete, and API
//! Gateway's 29 s integration timeout applies (keep `MEDIA_API_DEADLINE_MS` below it).

use axum::Router;
use axum::body::Body;
use http::{Response, Uri};
use lambda_http::request::RequestContext;
use lambda_http::tower::ServiceExt;
use lambda_http::{RequestExt, service_fn};

/// Which Lambda answer mode `media-api-lambda` uses: `MEDIA_API_LAMBDA_MODE=buffered` or
/// `streaming` (the default).
pub const MODE_ENV: &str = "MEDIA_API_LAMBDA_MODE";

/// Runs `router` on the Lambda runtime with streamed responses.
///
/// # Errors
///
/// When the Lambda runtime fails.
pub async fn run_streaming(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run_with_streaming_response(service_fn(move |request| {
        let router = router.clone();
        async move { Ok::<_, lambda_http::Error>(handle(router, request).await) }
    }))
    .await
}

/// Runs `router` on the Lambda runtime with buffered responses.
///
/// # Errors
///
/// When the Lambda runtime fails.
pub async fn run_buffered(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request| {
        let router = router.clone();
        async move { Ok::<_, lambda_http::Error>(handle(router, request).await) }
    }))
    .await
}

/// Handles one request `lambda_http` made from an API Gateway event, as the runtime does:
/// for tests and for embedding the router in another handler.
///
/// `lambda_http` puts the API Gateway stage in front of the path (`/prod/api/v1/...`) unless
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; it is taken off here, so the routes are
/// the same behind any stage, a custom domain or a Function URL.
pub async fn handle(router: Router, mut request: lambda_http::Request) -> Response<Body> {
    if let Some(uri) = without_stage(&request) {
        *request.uri_mut() = uri;
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
