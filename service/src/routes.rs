//! The routes: authentication, JSON bodies, the per-request deadline, and one handler per
//! media kind.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use media_sdk::Sdk;
use media_sdk::media::Media;

use crate::config::ServiceConfig;
use crate::error::ApiError;
use crate::facade::{
    ImageInput, MediaError, SoundInput, TtsInput, VideoInput, VideoStatus, VideoTicket,
};
use crate::jobs::JobIds;

/// The header carrying the credits a text-to-speech answer cost.
pub const CREDITS_HEADER: &str = "x-credits-used";
/// The header naming the provider that spoke.
pub const PROVIDER_HEADER: &str = "x-provider";

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    sdk: Arc<Sdk>,
    config: Arc<ServiceConfig>,
    jobs: JobIds,
}

/// The latest instant a request may be answered, set by the platform (on Lambda, the
/// invocation's deadline less a margin); the configured deadline applies when it is sooner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerBy(pub(crate) Instant);

/// The authenticated caller: the fingerprint of the token presented.
#[derive(Debug, Clone)]
struct User(String);

/// An authenticated request: who asks, and by when the answer is due (the configured
/// deadline from the request's arrival, or the platform's [`AnswerBy`] when sooner).
struct Caller {
    user: String,
    start: Instant,
    until: Instant,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = parts
            .extensions
            .get::<User>()
            .ok_or_else(ApiError::unauthorized)?;
        let start = Instant::now();
        let mut until = start + state.config.request_deadline();
        if let Some(AnswerBy(platform)) = parts.extensions.get::<AnswerBy>() {
            until = until.min(*platform);
        }
        Ok(Self {
            user: user.0.clone(),
            start,
            until,
        })
    }
}

impl Caller {
    /// The facade, each call bounded by what is left of the caller's deadline (the SDK stops
    /// retrying and waiting for keys by then).
    fn media<'a>(&self, sdk: &'a Sdk) -> Media<'a> {
        sdk.media()
            .deadline(self.until.saturating_duration_since(Instant::now()))
    }

    /// `call` within the caller's deadline, its failure mapped to an [`ApiError`] and logged
    /// with the caller's fingerprint.
    async fn within<T>(
        &self,
        route: &'static str,
        call: impl Future<Output = Result<T, MediaError>>,
    ) -> Result<T, ApiError> {
        let deadline = || ApiError::deadline(self.until.saturating_duration_since(self.start));
        let error = match tokio::time::timeout_at(self.until, call).await {
            Ok(Ok(value)) => return Ok(value),
            // The SDK had the same deadline: a failure once it has passed is the deadline's
            // (its own error says "deadline reached" only in text).
            Ok(Err(error)) if Instant::now() >= self.until => {
                tracing::debug!(%error, "failed at the deadline");
                deadline()
            }
            Ok(Err(error)) => ApiError::from_media(&error),
            Err(_) => deadline(),
        };
        tracing::info!(
            user = %self.user, route, status = error.status().as_u16(), code = error.code(),
            "request failed"
        );
        Err(error)
    }
}

/// The API's router over `sdk`, configured by `config`.
pub fn router(sdk: Arc<Sdk>, config: &ServiceConfig) -> Router {
    let state = AppState {
        sdk,
        jobs: JobIds::new(*config.job_key()),
        config: Arc::new(config.clone()),
    };
    let api = Router::new()
        .route("/api/v1/media/tts", post(tts))
        .route("/api/v1/media/image", post(image))
        .route("/api/v1/media/sound", post(sound))
        .route("/api/v1/media/video", post(video_submit))
        .route("/api/v1/media/video/{id}", get(video_status))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body()))
        .with_state(state)
}

async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented.and_then(|token| state.config.authenticate(token)) {
        Some(fingerprint) => {
            let user = User(fingerprint.to_owned());
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        None => {
            tracing::info!(
                path = request.uri().path(),
                presented = presented.is_some(),
                "refused: no valid bearer token"
            );
            ApiError::unauthorized().into_response()
        }
    }
}

/// A JSON body whose refusal is an [`ApiError`] (400, 413 or 415).
struct ApiJson<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::from_rejection(&rejection)),
        }
    }
}

async fn tts(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<TtsInput>,
) -> Result<Response, ApiError> {
    let speech = caller
        .within("tts", caller.media(&state.sdk).tts_stream(&input))
        .await?;
    let content_type = speech
        .audio
        .content_type()
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .unwrap_or_else(|| HeaderValue::from_static("audio/mpeg"));
    tracing::info!(
        user = %caller.user, route = "tts", provider = speech.provider,
        credits = speech.credits_used, "speaking"
    );
    let mut response = Body::from_stream(speech.audio).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(CREDITS_HEADER, HeaderValue::from(speech.credits_used));
    headers.insert(PROVIDER_HEADER, HeaderValue::from_static(speech.provider));
    Ok(response)
}

async fn image(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ImageInput>,
) -> Result<Response, ApiError> {
    let result = caller
        .within("image", caller.media(&state.sdk).image(&input))
        .await?;
    Ok(Json(result).into_response())
}

async fn sound(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<SoundInput>,
) -> Result<Response, ApiError> {
    let result = caller
        .within("sound", caller.media(&state.sdk).sound(&input))
        .await?;
    Ok(Json(result).into_response())
}

async fn video_submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<VideoInput>,
) -> Result<Response, ApiError> {
    let job = caller
        .within("video", caller.media(&state.sdk).video_submit(&input))
        .await?;
    let id = state
        .jobs
        .sign(&caller.user, &job.ticket)
        .map_err(|error| {
            tracing::error!(%error, "cannot serialize a video ticket");
            ApiError::internal()
        })?;
    let body = json!({"id": id, "status": "pending"});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn video_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(ticket) = state.jobs.open::<VideoTicket>(&caller.user, &id) else {
        return Err(ApiError::not_found("no video job with this id"));
    };
    let status = caller
        .within(
            "video_status",
            caller.media(&state.sdk).video_status(&ticket),
        )
        .await?;
    Ok(Json(status_body(&id, ticket.model(), status)).into_response())
}

/// The answer of a poll: `{id, status, model}`, with `videos` and `credits_used` once
/// succeeded, `error` once failed.
fn status_body(id: &str, model: &str, status: VideoStatus) -> Value {
    match status {
        VideoStatus::Pending => json!({"id": id, "status": "pending", "model": model}),
        VideoStatus::Running => json!({"id": id, "status": "running", "model": model}),
        VideoStatus::Succeeded(result) => json!({
            "id": id,
            "status": "succeeded",
            "videos": result.videos,
            "model": result.model,
            "credits_used": result.credits_used,
        }),
        VideoStatus::Failed { message } => {
            json!({"id": id, "status": "failed", "model": model, "error": message})
        }
        // A status this service does not know yet: still in progress, as far as it can say.
        _ => json!({"id": id, "status": "running", "model": model}),
    }
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
