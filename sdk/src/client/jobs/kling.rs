//! Kling's tasks: the submit answer's `task_id` is polled at the flow's `poll_path` until
//! `task_status` is `succeed` (the output is `task_result`) or `failed`.

use bytes::Bytes;
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::{JobState, JobTracker, Submitted, decode_error, failure_text, untrusted};
use crate::classify::shorten;
use crate::client::url::build_url;
use crate::client::{Call, ProviderClient};
use crate::endpoint::ResponseBody;
use crate::error::Result;

/// A task as the submit answer and every status answer describe it (inside the envelope).
#[derive(Deserialize)]
struct KlingTask {
    task_id: Option<Value>,
    task_status: Option<String>,
    task_status_msg: Option<String>,
    task_result: Option<Value>,
}

/// Where a task stands.
enum Phase {
    /// No status yet, or `submitted`.
    Queued,
    /// `processing`, or a status this client does not know (still polled).
    Running,
    /// `succeed`, with the task's result document.
    Succeeded(Value),
    /// `failed`, with Kling's message.
    Failed(String),
}

impl KlingTask {
    /// The task id, a non-empty string or a number.
    fn id(&self) -> Option<String> {
        match self.task_id.as_ref()? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn phase(self) -> Phase {
        match self.task_status.as_deref() {
            Some("succeed") => Phase::Succeeded(self.task_result.unwrap_or(Value::Null)),
            Some("failed") => Phase::Failed(
                self.task_status_msg
                    .unwrap_or_else(|| "task failed".to_owned()),
            ),
            None | Some("submitted") => Phase::Queued,
            Some(_) => Phase::Running,
        }
    }
}

fn read_task(call: &Call, payload: &[u8], what: &str) -> Result<KlingTask> {
    serde_json::from_slice(payload).map_err(|e| decode_error(call, format!("{what}: {e}")))
}

/// Where the task `task_id` is polled (the id one path segment).
fn poll_url(client: &ProviderClient, call: &Call, poll_path: &str, task_id: &str) -> Result<Url> {
    build_url(
        &client.inner.base_url,
        poll_path,
        &[("task_id", task_id.to_owned())],
        &[],
    )
    .map_err(|problem| untrusted(call, format!("task id: {problem}")))
}

/// The result document as the body [`crate::Endpoint::decode`] takes.
fn result_body(result: &Value, job_id: String) -> ResponseBody {
    ResponseBody {
        bytes: Bytes::from(serde_json::to_vec(result).unwrap_or_default()),
        content_type: Some("application/json".into()),
        job_id: Some(job_id),
    }
}

/// Reads a submit answer (its task id checked to make one path segment).
pub(super) fn submitted(
    client: &ProviderClient,
    call: &Call,
    poll_path: &str,
    payload: &[u8],
) -> Result<Submitted> {
    let task = read_task(call, payload, "task submit answer")?;
    let id = task
        .id()
        .ok_or_else(|| decode_error(call, "task submit answer has no task_id".into()))?;
    poll_url(client, call, poll_path, &id)?;
    Ok(Submitted {
        id,
        status_url: None,
        response_url: None,
    })
}

/// Follows a task from its submit answer `submitted` to its result.
pub(super) async fn follow(
    client: &ProviderClient,
    call: &mut Call,
    mut tracker: JobTracker,
    poll_path: &str,
    submitted: &[u8],
) -> Result<ResponseBody> {
    let mut task = read_task(call, submitted, "task submit answer")?;
    let task_id = task
        .id()
        .ok_or_else(|| decode_error(call, "task submit answer has no task_id".into()))?;
    tracker.id = shorten(&task_id, 200);
    let url = poll_url(client, call, poll_path, &task_id)?;
    loop {
        // A submit answer without a status is polled at once; otherwise after an interval.
        let answered = task.task_status.is_some();
        match task.phase() {
            Phase::Succeeded(result) => return Ok(result_body(&result, tracker.id)),
            Phase::Failed(message) => return Err(client.job_failed(call, &tracker, &message)),
            Phase::Queued | Phase::Running => {}
        }
        if answered {
            client.wait_poll(call, &tracker).await?;
        }
        let (payload, _) = client.poll(call, &tracker, &url).await?;
        task = read_task(call, &payload, "task status")?;
    }
}

/// One poll of the task `tracker` names.
pub(super) async fn status(
    client: &ProviderClient,
    call: &mut Call,
    tracker: &JobTracker,
    poll_path: &str,
) -> Result<JobState> {
    let url = poll_url(client, call, poll_path, &tracker.id)?;
    let (payload, _) = client.poll(call, tracker, &url).await?;
    Ok(match read_task(call, &payload, "task status")?.phase() {
        Phase::Queued => JobState::Queued,
        Phase::Running => JobState::Running,
        Phase::Succeeded(result) => JobState::Done(result_body(&result, tracker.id.clone())),
        Phase::Failed(message) => JobState::Failed {
            message: failure_text(tracker, &message),
        },
    })
}
