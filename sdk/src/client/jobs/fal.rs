//! fal's queue: the submit answer names the request; its status is polled until `COMPLETED`,
//! then its result is fetched. URLs fal hands back (or a ticket carries) are followed only on
//! the base URL's origin (or re-rooted onto it from an allowed origin).

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::{JobState, JobTicket, JobTracker, Submitted, decode_error, failure_text, untrusted};
use crate::classify::shorten;
use crate::client::url::{build_url, resolve_provider_url};
use crate::client::{Call, ProviderClient};
use crate::endpoint::ResponseBody;
use crate::error::{Error, Result};

/// The answer to a queue submit.
#[derive(Deserialize)]
struct FalSubmit {
    request_id: String,
    status_url: Option<String>,
    response_url: Option<String>,
}

/// The answer to a status poll.
#[derive(Deserialize)]
struct FalStatus {
    status: String,
    #[serde(default)]
    error: Option<Value>,
    response_url: Option<String>,
}

/// What one status answer says.
enum Progress {
    Queued,
    Running,
    Completed,
    Failed(String),
}

/// Reads a submit answer; its URLs are checked now (and again wherever they are followed).
pub(super) fn submitted(client: &ProviderClient, call: &Call, payload: &[u8]) -> Result<Submitted> {
    let submit = read_submit(call, payload)?;
    status_url(
        client,
        call,
        &submit.request_id,
        submit.status_url.as_deref(),
    )?;
    result_url(
        client,
        call,
        &submit.request_id,
        submit.response_url.as_deref(),
    )?;
    Ok(Submitted {
        id: submit.request_id,
        status_url: submit.status_url,
        response_url: submit.response_url,
    })
}

fn read_submit(call: &Call, payload: &[u8]) -> Result<FalSubmit> {
    serde_json::from_slice(payload)
        .map_err(|e| decode_error(call, format!("queue submit answer: {e}")))
}

/// Reads a status answer: the progress, and the result URL when it gives one.
fn read_status(call: &Call, payload: &[u8]) -> Result<(Progress, Option<String>)> {
    let status: FalStatus = serde_json::from_slice(payload)
        .map_err(|e| decode_error(call, format!("queue status: {e}")))?;
    let progress = if let Some(error) = status.error.filter(|e| !e.is_null()) {
        Progress::Failed(json_text(&error))
    } else {
        match status.status.as_str() {
            "COMPLETED" => Progress::Completed,
            "FAILED" | "ERROR" | "CANCELLED" | "CANCELED" => {
                Progress::Failed(format!("status {}", shorten(&status.status, 40)))
            }
            "IN_QUEUE" => Progress::Queued,
            _ => Progress::Running,
        }
    };
    Ok((progress, status.response_url))
}

/// Follows a queue request from its submit answer `submitted` to its result.
pub(super) async fn follow(
    client: &ProviderClient,
    call: &mut Call,
    mut tracker: JobTracker,
    submitted: &[u8],
) -> Result<ResponseBody> {
    let submit = read_submit(call, submitted)?;
    tracker.id = shorten(&submit.request_id, 200);
    let status_url = status_url(
        client,
        call,
        &submit.request_id,
        submit.status_url.as_deref(),
    )?;
    let mut response_url = submit.response_url;
    loop {
        let (payload, _) = client.poll(call, &tracker, &status_url).await?;
        let (progress, given) = read_status(call, &payload)?;
        if given.is_some() {
            response_url = given;
        }
        match progress {
            Progress::Completed => break,
            Progress::Failed(message) => return Err(client.job_failed(call, &tracker, &message)),
            Progress::Queued | Progress::Running => client.wait_poll(call, &tracker).await?,
        }
    }
    let response_url = result_url(client, call, &submit.request_id, response_url.as_deref())?;
    fetch_result(client, call, &tracker, &response_url)
        .await?
        .map_err(|message| client.job_failed(call, &tracker, &message))
}

/// One status poll of the request `ticket` names (checked by the caller), and its result
/// once it is completed.
pub(super) async fn status(
    client: &ProviderClient,
    call: &mut Call,
    tracker: &JobTracker,
    ticket: &JobTicket,
) -> Result<JobState> {
    let id = &ticket.id;
    let url = status_url(client, call, id, ticket.status_url.as_deref())?;
    let (payload, _) = client.poll(call, tracker, &url).await?;
    let (progress, given) = read_status(call, &payload)?;
    Ok(match progress {
        Progress::Queued => JobState::Queued,
        Progress::Running => JobState::Running,
        Progress::Failed(message) => JobState::Failed {
            message: failure_text(tracker, &message),
        },
        Progress::Completed => {
            let given = given.as_deref().or(ticket.response_url.as_deref());
            let url = result_url(client, call, id, given)?;
            match fetch_result(client, call, tracker, &url).await? {
                Ok(body) => JobState::Done(body),
                Err(message) => JobState::Failed {
                    message: failure_text(tracker, &message),
                },
            }
        }
    })
}

/// Fetches a completed request's result; an error answer is the job's failure (its text).
async fn fetch_result(
    client: &ProviderClient,
    call: &mut Call,
    tracker: &JobTracker,
    url: &Url,
) -> Result<std::result::Result<ResponseBody, String>> {
    match client.poll(call, tracker, url).await {
        Ok((bytes, content_type)) => Ok(Ok(ResponseBody {
            bytes,
            content_type,
            job_id: Some(tracker.id.clone()),
        })),
        Err(Error::Api {
            status,
            code,
            message,
            ..
        }) => {
            let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
            Ok(Err(format!("HTTP {status}{code}: {message}")))
        }
        Err(other) => Err(other),
    }
}

/// The status URL of `request_id`: the one given (resolved), else the queue's own. The id
/// must make one path segment either way.
fn status_url(
    client: &ProviderClient,
    call: &Call,
    request_id: &str,
    given: Option<&str>,
) -> Result<Url> {
    let own = app_url(client, call, request_id, "/status")?;
    given.map_or(Ok(own), |given| follow_url(client, call, given))
}

/// The result URL of `request_id`: the one given (resolved), else the queue's own.
fn result_url(
    client: &ProviderClient,
    call: &Call,
    request_id: &str,
    given: Option<&str>,
) -> Result<Url> {
    let own = app_url(client, call, request_id, "")?;
    given.map_or(Ok(own), |given| follow_url(client, call, given))
}

/// Where fal's queue keeps a request: the app id's first two path segments, `requests`, id
/// (one path segment, whatever the provider put in it), plus `suffix`.
fn app_url(client: &ProviderClient, call: &Call, request_id: &str, suffix: &str) -> Result<Url> {
    let app: Vec<&str> = call
        .endpoint
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .take(2)
        .collect();
    let template = format!("/{}/requests/{{request_id}}{suffix}", app.join("/"));
    build_url(
        &client.inner.base_url,
        &template,
        &[("request_id", request_id.to_owned())],
        &[],
    )
    .map_err(|problem| untrusted(call, format!("queue request id: {problem}")))
}

/// Resolves a URL given by the provider (see [`resolve_provider_url`]).
fn follow_url(client: &ProviderClient, call: &Call, given: &str) -> Result<Url> {
    let inner = &client.inner;
    let url = resolve_provider_url(&inner.base_url, &inner.allowed_origins, given)
        .map_err(|reason| untrusted(call, reason))?;
    if url.as_str() != given {
        tracing::debug!(
            provider = inner.spec.id,
            endpoint = call.endpoint.id,
            "job URL on an allowed origin, re-rooted on the base URL"
        );
    }
    Ok(url)
}

/// A JSON value as text: a string as it is, anything else as JSON.
fn json_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}
