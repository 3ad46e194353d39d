//! Error shapes of the real providers ("dialects"), so callers are tested against the bodies,
//! statuses and headers they will meet in production.

use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::JwtProblem;
use super::limits::{RateHeaders, go_duration};
use super::route::{Rejection, RejectionKind, Source};
use media_sdk::spec::{AuthScheme, ProviderSpec};

/// The error shapes a simulated provider answers with.
///
/// | | OpenAI | fal | Kling | ElevenLabs | Generic |
/// |---|---|---|---|---|---|
/// | body | `{"error":{message,type,param,code}}` | `{"detail": "..."}`, 422 `{"detail":[{loc,msg,type}]}` | `{"code","message","request_id"}` | `{"detail":{status,message}}`, 422 list | `{"error":{message,code}}` |
/// | bad key | 401 `invalid_api_key` | 401 | 401 code 1000–1004 | 401 `invalid_api_key` | 401 |
/// | quota | 429 `insufficient_quota` | 403 exhausted balance | 429 code 1102 | 401 `quota_exceeded` | 402 |
/// | rate limit | 429 `rate_limit_exceeded` + `retry-after`, `retry-after-ms`, `x-ratelimit-*` | 429 + `retry-after` | 429 code 1302 | 429 `too_many_concurrent_requests` | 429 + `retry-after` |
/// | busy | 503 | 503 | 503 code 5001 | 429 `system_busy` | 503 |
/// | invalid body | 400 `invalid_request_error` with `param` | 422 list | 400 code 1201 | 422 list | 400 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// OpenAI.
    OpenAi,
    /// fal.ai.
    Fal,
    /// Kling AI (a `code` envelope on every answer).
    Kling,
    /// ElevenLabs.
    ElevenLabs,
    /// A plain `{"error": {"message", "code"}}` shape for providers the simulator does not know.
    Generic,
}

impl Dialect {
    /// The dialect of a provider: by its id when it is one the simulator knows (`openai`,
    /// `fal`, `kling`, `elevenlabs`), else guessed from the spec's hints (a response envelope
    /// means Kling's shape, `/error/...` message pointers OpenAI's, `/detail/status` codes
    /// ElevenLabs', other `/detail` pointers or the `Key` scheme fal's).
    pub fn for_provider(spec: &ProviderSpec) -> Self {
        match spec.id {
            "openai" => return Dialect::OpenAi,
            "fal" => return Dialect::Fal,
            "kling" => return Dialect::Kling,
            "elevenlabs" => return Dialect::ElevenLabs,
            _ => {}
        }
        let points =
            |pointers: &[&str], prefix: &str| pointers.iter().any(|p| p.starts_with(prefix));
        if spec.envelope.is_some() || matches!(spec.auth, AuthScheme::KlingJwt { .. }) {
            Dialect::Kling
        } else if points(spec.errors.message, "/error") {
            Dialect::OpenAi
        } else if points(spec.errors.code, "/detail/status") {
            Dialect::ElevenLabs
        } else if points(spec.errors.message, "/detail") || spec.auth == AuthScheme::FalKey {
            Dialect::Fal
        } else {
            Dialect::Generic
        }
    }
}

/// An answer ready to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: "application/json".to_owned(),
            body: Bytes::from(body.to_string()),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A failure to render in a dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    MissingKey,
    InvalidKey,
    Jwt(JwtProblem),
    QuotaExhausted,
    /// `None`: no hint headers at all.
    RateLimited(Option<RateHeaders>),
    Busy,
    Invalid(Rejection, Source),
    BadJson(String),
    NotFound,
    JobNotFound,
    JobNotReady,
    JobFailed(String),
    JobCancelled,
    Server(u16),
    Status(u16),
}

/// What the rendering needs to know about the request.
pub(crate) struct Context<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub request_id: &'a str,
}

impl Failure {
    /// The failure's answer in `dialect`.
    pub(crate) fn render(&self, dialect: Dialect, cx: &Context<'_>) -> Reply {
        match dialect {
            Dialect::OpenAi => self.openai(cx),
            Dialect::Fal => self.fal(),
            Dialect::Kling => self.kling(cx),
            Dialect::ElevenLabs => self.elevenlabs(),
            Dialect::Generic => self.generic(),
        }
    }

    fn openai(&self, cx: &Context<'_>) -> Reply {
        let error = |status: u16,
                     message: &str,
                     kind: &str,
                     param: Option<&str>,
                     code: Option<&str>| {
            Reply::json(
                status,
                &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
            )
        };
        let invalid_key = || {
            error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            )
        };
        match self {
            Failure::MissingKey => error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
                None,
            ),
            Failure::InvalidKey | Failure::Jwt(_) => invalid_key(),
            Failure::QuotaExhausted => error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
            Failure::RateLimited(hint) => {
                let message = match hint {
                    Some(h) => format!(
                        "Rate limit reached for requests per min (RPM): Limit {}, Used {}, Requested 1. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                        h.limit,
                        h.limit.saturating_sub(h.remaining),
                        go_duration(h.retry_after.unwrap_or(h.reset)),
                    ),
                    None => "Rate limit reached for requests. Please try again later.".to_owned(),
                };
                let reply = error(429, &message, "requests", None, Some("rate_limit_exceeded"));
                match hint {
                    Some(h) => {
                        let reply = openai_rate_headers(reply, h);
                        match h.retry_after {
                            Some(wait) => reply
                                .header("retry-after", retry_after_secs(wait))
                                .header("retry-after-ms", wait.as_millis().max(1).to_string()),
                            None => reply,
                        }
                    }
                    None => reply,
                }
            }
            Failure::Busy => error(
                503,
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
                None,
            ),
            Failure::Invalid(rejection, _) => error(
                400,
                &rejection.to_string(),
                "invalid_request_error",
                rejection.field.as_deref(),
                None,
            ),
            Failure::BadJson(detail) => error(
                400,
                &format!(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.) {detail}"
                ),
                "invalid_request_error",
                None,
                None,
            ),
            Failure::NotFound | Failure::JobNotFound => error(
                404,
                &format!("Invalid URL ({} {})", cx.method, cx.path),
                "invalid_request_error",
                None,
                None,
            ),
            Failure::JobNotReady => error(
                409,
                "The job is not finished.",
                "invalid_request_error",
                None,
                None,
            ),
            Failure::JobFailed(message) => error(500, message, "server_error", None, None),
            Failure::JobCancelled => error(
                409,
                "The job was cancelled.",
                "invalid_request_error",
                None,
                None,
            ),
            Failure::Server(status) => {
                let message = match status {
                    502 => "Bad gateway.",
                    503 => "The server is overloaded or not ready yet.",
                    _ => "The server had an error while processing your request. Sorry about that!",
                };
                error(*status, message, "server_error", None, None)
            }
            Failure::Status(401) => invalid_key(),
            Failure::Status(429) => Failure::RateLimited(None).openai(cx),
            Failure::Status(status) => error(
                *status,
                &format!("Request failed with status {status}."),
                "invalid_request_error",
                None,
                None,
            ),
        }
    }

    fn fal(&self) -> Reply {
        let detail = |status: u16, message: &str| Reply::json(status, &json!({"detail": message}));
        let typed_error = |status: u16, message: &str, error_type: &str| {
            Reply::json(
                status,
                &json!({"detail": message, "error_type": error_type}),
            )
            .header("x-fal-error-type", error_type)
        };
        match self {
            Failure::MissingKey => detail(
                401,
                "Missing authorization header: expected `Authorization: Key <key>`",
            ),
            Failure::InvalidKey | Failure::Jwt(_) | Failure::Status(401) => {
                detail(401, "Invalid authentication credentials")
            }
            Failure::QuotaExhausted => detail(
                403,
                "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.",
            ),
            Failure::RateLimited(hint) => {
                let reply = detail(429, "Rate limit exceeded, please retry later");
                match hint.and_then(|h| h.retry_after) {
                    Some(wait) => reply.header("retry-after", retry_after_secs(wait)),
                    None => reply,
                }
            }
            Failure::Busy => typed_error(
                503,
                "No runner could be allocated to handle the request",
                "runner_scheduling_failure",
            ),
            Failure::Invalid(rejection, source) => validation_list(rejection, *source),
            Failure::BadJson(message) => Reply::json(
                422,
                &json!({"detail": [{"loc": ["body"], "msg": format!("Invalid JSON: {message}"), "type": "json_invalid"}]}),
            ),
            Failure::NotFound => detail(404, "Not Found"),
            Failure::JobNotFound => detail(404, "Request not found"),
            Failure::JobNotReady => detail(400, "Request is still in progress"),
            Failure::JobFailed(message) => typed_error(500, message, "runner_server_error"),
            Failure::JobCancelled => typed_error(499, "Request was cancelled", "client_cancelled"),
            Failure::Server(status) => {
                let error_type = match status {
                    502 => "runner_incomplete_response",
                    503 => "runner_connection_error",
                    504 => "request_timeout",
                    _ => "internal_error",
                };
                typed_error(*status, "Internal server error", error_type)
            }
            Failure::Status(429) => Failure::RateLimited(None).fal(),
            Failure::Status(status) => {
                detail(*status, &format!("Request failed with status {status}"))
            }
        }
    }

    fn kling(&self, cx: &Context<'_>) -> Reply {
        let error = |status: u16, code: u32, message: &str| {
            Reply::json(
                status,
                &json!({"code": code, "message": message, "request_id": cx.request_id}),
            )
        };
        match self {
            Failure::MissingKey => error(401, 1001, "Authorization is empty"),
            Failure::InvalidKey | Failure::Status(401) => error(401, 1000, "Authentication failed"),
            Failure::Jwt(problem) => match problem {
                JwtProblem::Malformed | JwtProblem::BadSignature => {
                    error(401, 1002, "Authorization is invalid")
                }
                JwtProblem::UnknownIssuer => error(401, 1000, "Authentication failed"),
                JwtProblem::NotYetValid => error(401, 1003, "Authorization is not yet valid"),
                JwtProblem::Expired => error(401, 1004, "Authorization has expired"),
            },
            Failure::QuotaExhausted => error(429, 1102, "Resource pack depleted or expired"),
            Failure::RateLimited(_) | Failure::Status(429) => {
                error(429, 1302, "API request too frequent, please slow down")
            }
            Failure::Busy => error(
                503,
                5001,
                "Server temporarily unavailable, usually due to maintenance",
            ),
            Failure::Invalid(rejection, _) => error(
                400,
                1201,
                &format!("Invalid request parameters: {rejection}"),
            ),
            Failure::BadJson(message) => {
                error(400, 1200, &format!("Invalid request parameters: {message}"))
            }
            Failure::NotFound | Failure::JobNotFound => {
                error(404, 1203, "Requested resource does not exist")
            }
            Failure::JobNotReady | Failure::JobCancelled => {
                error(400, 1200, "Task is not finished")
            }
            Failure::JobFailed(message) => error(500, 5000, message),
            Failure::Server(status) => match status {
                503 => error(
                    503,
                    5001,
                    "Server temporarily unavailable, usually due to maintenance",
                ),
                504 => error(
                    504,
                    5002,
                    "Server internal timeout, usually due to a backlog",
                ),
                _ => error(*status, 5000, "Server internal error"),
            },
            Failure::Status(status) => {
                let code = match status {
                    403 => 1103,
                    404 => 1203,
                    500..=599 => 5000,
                    _ => 1200,
                };
                error(
                    *status,
                    code,
                    &format!("Request failed with status {status}"),
                )
            }
        }
    }

    fn elevenlabs(&self) -> Reply {
        let detail = |status: u16, code: &str, message: &str| {
            Reply::json(
                status,
                &json!({"detail": {"status": code, "message": message}}),
            )
        };
        match self {
            Failure::MissingKey => detail(
                401,
                "needs_authorization",
                "Neither authorization header nor xi-api-key received, please provide one.",
            ),
            Failure::InvalidKey | Failure::Jwt(_) | Failure::Status(401) => {
                detail(401, "invalid_api_key", "Invalid API key")
            }
            Failure::QuotaExhausted => detail(
                401,
                "quota_exceeded",
                "This request exceeds your quota. You have 0 credits remaining, while more are required for this request.",
            ),
            Failure::RateLimited(_) | Failure::Status(429) => detail(
                429,
                "too_many_concurrent_requests",
                "Too many concurrent requests. Your current subscription allows a limited number of concurrent requests; try again shortly or upgrade.",
            ),
            Failure::Busy => detail(
                429,
                "system_busy",
                "We're experiencing a heavy volume of requests. Please try again later.",
            ),
            Failure::Invalid(rejection, source) => validation_list(rejection, *source),
            Failure::BadJson(message) => Reply::json(
                422,
                &json!({"detail": [{"loc": ["body"], "msg": format!("Invalid JSON: {message}"), "type": "json_invalid"}]}),
            ),
            Failure::NotFound | Failure::JobNotFound => {
                Reply::json(404, &json!({"detail": "Not Found"}))
            }
            Failure::JobNotReady | Failure::JobCancelled => {
                detail(400, "not_ready", "The request is not finished.")
            }
            Failure::JobFailed(message) => detail(500, "internal_server_error", message),
            Failure::Server(503) => detail(
                503,
                "service_unavailable",
                "Service temporarily unavailable.",
            ),
            Failure::Server(status) => detail(
                *status,
                "internal_server_error",
                "An internal server error occurred.",
            ),
            Failure::Status(status) => detail(
                *status,
                "error",
                &format!("Request failed with status {status}"),
            ),
        }
    }

    fn generic(&self) -> Reply {
        let error = |status: u16, code: &str, message: &str| {
            Reply::json(
                status,
                &json!({"error": {"message": message, "code": code}}),
            )
        };
        match self {
            Failure::MissingKey => error(401, "missing_key", "No credential was sent."),
            Failure::InvalidKey | Failure::Jwt(_) | Failure::Status(401) => {
                error(401, "invalid_key", "The key was refused.")
            }
            Failure::QuotaExhausted => {
                error(402, "quota_exhausted", "The key's quota is exhausted.")
            }
            Failure::RateLimited(hint) => {
                let reply = error(429, "rate_limited", "Rate limit exceeded.");
                match hint.and_then(|h| h.retry_after) {
                    Some(wait) => reply.header("retry-after", retry_after_secs(wait)),
                    None => reply,
                }
            }
            Failure::Status(429) => error(429, "rate_limited", "Rate limit exceeded."),
            Failure::Busy => error(503, "busy", "The service is overloaded."),
            Failure::Invalid(rejection, _) => error(400, "invalid_request", &rejection.to_string()),
            Failure::BadJson(message) => error(400, "invalid_json", message),
            Failure::NotFound | Failure::JobNotFound => error(404, "not_found", "Not found."),
            Failure::JobNotReady | Failure::JobCancelled => {
                error(409, "not_ready", "The job is not finished.")
            }
            Failure::JobFailed(message) => error(500, "job_failed", message),
            Failure::Server(status) => error(*status, "server_error", "Internal server error."),
            Failure::Status(status) => error(
                *status,
                "error",
                &format!("Request failed with status {status}"),
            ),
        }
    }
}

/// FastAPI/pydantic-style 422 body (fal, ElevenLabs).
fn validation_list(rejection: &Rejection, source: Source) -> Reply {
    let mut loc = vec![Value::from(source.as_str())];
    if let Some(field) = &rejection.field {
        loc.extend(field.split('.').map(|part| match part.parse::<u64>() {
            Ok(index) => Value::from(index),
            Err(_) => Value::from(part),
        }));
    }
    let (kind, msg) = match rejection.kind {
        RejectionKind::Missing => ("missing", "Field required".to_owned()),
        RejectionKind::Unknown => (
            "extra_forbidden",
            "Extra inputs are not permitted".to_owned(),
        ),
        RejectionKind::Type => ("type_error", rejection.message.clone()),
        _ => ("value_error", rejection.message.clone()),
    };
    Reply::json(
        422,
        &json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]}),
    )
}

/// `retry-after` in whole seconds, rounded up (at least 1).
fn retry_after_secs(wait: std::time::Duration) -> String {
    wait.as_millis().div_ceil(1000).max(1).to_string()
}

/// Adds OpenAI's request-budget headers.
pub(crate) fn openai_rate_headers(reply: Reply, h: &RateHeaders) -> Reply {
    reply
        .header("x-ratelimit-limit-requests", h.limit.to_string())
        .header("x-ratelimit-remaining-requests", h.remaining.to_string())
        .header("x-ratelimit-reset-requests", go_duration(h.reset))
}
