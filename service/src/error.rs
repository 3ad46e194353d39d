//! The service's JSON errors: `{"error":{"code":"...","message":"..."}}` with the status the
//! code stands for.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::facade::{Failure, MediaError, classify};

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthorized` (with `WWW-Authenticate: Bearer`).
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this path",
        )
    }

    /// 504 `deadline_exceeded`: the request's deadline passed before an answer.
    pub fn deadline(deadline: Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline_exceeded",
            format!("no provider answered within the {deadline:?} deadline"),
        )
    }

    /// 502 `response_too_large`: the answer does not fit a buffered Lambda response.
    pub fn too_large_for_lambda() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "response_too_large",
            "the answer is larger than a buffered Lambda response allows; use response streaming",
        )
    }

    /// 500 `internal`, with a message that says nothing of the cause (logged apart).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request could not be handled",
        )
    }

    /// The error for a facade failure: refused input 400, every attempt rate limited 429
    /// with `Retry-After`, no provider available 503, provider failures 502. The message is
    /// the facade's, whose provider parts are the SDK's redacted messages.
    pub fn from_media(error: &MediaError) -> Self {
        let message = error.to_string();
        match classify(error) {
            Failure::InvalidInput => Self::invalid(message),
            Failure::RateLimited(wait) => Self {
                retry_after: Some(retry_after_secs(wait)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            Failure::Unavailable => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            Failure::ProviderFailed => {
                Self::new(StatusCode::BAD_GATEWAY, "provider_error", message)
            }
        }
    }

    /// The error for a refused JSON body: too large 413, wrong content type 415, anything
    /// else (syntax, shape, unknown field) 400.
    pub fn from_rejection(rejection: &JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the limit",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON (Content-Type: application/json)",
            ),
            _ => Self::invalid(rejection.body_text()),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code, e.g. `invalid_request`.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(300)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
