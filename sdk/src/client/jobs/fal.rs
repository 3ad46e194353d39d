//! fal's queue: the submit answer names the request; its status is polled until `COMPLETED`,
//! then its result is fetched. URLs fal hands back are followed only on the base URL's origin
//! (or re-rooted onto it from an allowed origin).

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::{JobTracker, decode_error, untrusted};
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

/// Follows a queue request from its submit answer `submitted` to its result.
pub(super) async fn follow(
    client: &ProviderClient,
    call: &mut Call,
    mut tracker: JobTracker,
    submitted: &[u8],
) -> Result<ResponseBody> {
    let submit: FalSubmit = serde_json::from_slice(submitted)
        .map_err(|e| decode_error(call, format!("queue submit answer: {e}")))?;
    tracker.id = shorten(&submit.request_id, 200);
    let status_url = follow_url(
        client,
        call,
        submit.status_url.as_deref(),
        app_url(client, call, &submit.request_id, "/status")?,
    )?;
    let mut response_url = submit.response_url;
    loop {
        let (payload, _) = client.poll(call, &tracker, &status_url).await?;
        let status: FalStatus = serde_json::from_slice(&payload)
            .map_err(|e| decode_error(call, format!("queue status: {e}")))?;
        if let Some(error) = status.error.filter(|e| !e.is_null()) {
            return Err(client.job_failed(call, &tracker, json_text(&error)));
        }
        if status.response_url.is_some() {
            response_url = status.response_url;
        }
        match status.status.as_str() {
            "COMPLETED" => break,
            "FAILED" | "ERROR" | "CANCELLED" | "CANCELED" => {
                return Err(client.job_failed(call, &tracker, format!("status {}", status.status)));
            }
            _ => client.wait_poll(call, &tracker).await?,
        }
    }
    let response_url = follow_url(
        client,
        call,
        response_url.as_deref(),
        app_url(client, call, &submit.request_id, "")?,
    )?;
    let (bytes, content_type) = match client.poll(call, &tracker, &response_url).await {
        Ok(result) => result,
        Err(Error::Api {
            status,
            code,
            message,
            ..
        }) => {
            let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
            return Err(client.job_failed(
                call,
                &tracker,
                format!("HTTP {status}{code}: {message}"),
            ));
        }
        Err(other) => return Err(other),
    };
    Ok(ResponseBody {
        bytes,
        content_type,
        job_id: Some(tracker.id),
    })
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

/// Resolves a URL given by the provider (see [`resolve_provider_url`]); `fallback` when the
/// provider gave none.
fn follow_url(
    client: &ProviderClient,
    call: &Call,
    given: Option<&str>,
    fallback: Url,
) -> Result<Url> {
    let Some(given) = given else {
        return Ok(fallback);
    };
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
