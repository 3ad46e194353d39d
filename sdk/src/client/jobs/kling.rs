//! Kling's tasks: the submit answer's `task_id` is polled at the flow's `poll_path` until
//! `task_status` is `succeed` (the output is `task_result`) or `failed`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::{JobTracker, decode_error, untrusted};
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

impl KlingTask {
    /// The task id, a non-empty string or a number.
    fn id(&self) -> Option<String> {
        match self.task_id.as_ref()? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// Follows a task from its submit answer `submitted` to its result.
pub(super) async fn follow(
    client: &ProviderClient,
    call: &mut Call,
    mut tracker: JobTracker,
    poll_path: &str,
    submitted: &[u8],
) -> Result<ResponseBody> {
    let mut task: KlingTask = serde_json::from_slice(submitted)
        .map_err(|e| decode_error(call, format!("task submit answer: {e}")))?;
    let task_id = task
        .id()
        .ok_or_else(|| decode_error(call, "task submit answer has no task_id".into()))?;
    tracker.id = shorten(&task_id, 200);
    let url = build_url(
        &client.inner.base_url,
        poll_path,
        &[("task_id", task_id)],
        &[],
    )
    .map_err(|problem| untrusted(call, format!("task id: {problem}")))?;
    loop {
        match task.task_status.as_deref() {
            Some("succeed") => {
                let result = task.task_result.unwrap_or(Value::Null);
                let bytes = Bytes::from(serde_json::to_vec(&result).unwrap_or_default());
                return Ok(ResponseBody {
                    bytes,
                    content_type: Some("application/json".into()),
                    job_id: Some(tracker.id),
                });
            }
            Some("failed") => {
                let message = task.task_status_msg.unwrap_or_else(|| "task failed".into());
                return Err(client.job_failed(call, &tracker, message));
            }
            _ => {}
        }
        if task.task_status.is_some() {
            client.wait_poll(call, &tracker).await?;
        }
        let (payload, _) = client.poll(call, &tracker, &url).await?;
        task = serde_json::from_slice(&payload)
            .map_err(|e| decode_error(call, format!("task status: {e}")))?;
    }
}
