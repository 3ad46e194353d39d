//! Jobs accepted by the simulated job endpoints (fal queue requests, Kling tasks).

use serde_json::Value;

use super::script::JobPace;

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    Succeed,
    Fail(String),
    Stall,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting, with this many jobs ahead.
    Queued(u32),
    Running,
    Succeeded,
    Failed(String),
    Cancelled,
}

impl Phase {
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed(_) | Phase::Cancelled)
    }
}

/// One accepted job.
#[derive(Debug, Clone)]
pub(crate) struct JobRecord {
    /// Index of the submitting route.
    pub route: usize,
    /// Fingerprint of the key that submitted it: only that key can see it.
    pub owner: String,
    /// fal: the owner/app prefix of the status and result URLs (`/fal-ai/flux-pro`).
    pub app_prefix: String,
    /// Status polls so far.
    pub polls: u32,
    pub fate: Fate,
    pub cancelled: bool,
    /// The result document.
    pub output: Value,
    /// Kling: the caller's own id, echoed in `task_info`.
    pub external_task_id: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: u64,
}

impl JobRecord {
    /// The phase after `self.polls` status polls.
    pub(crate) fn phase(&self, pace: JobPace) -> Phase {
        if self.cancelled {
            return Phase::Cancelled;
        }
        if self.polls <= pace.queued_polls {
            return Phase::Queued(pace.queued_polls - self.polls);
        }
        if self.polls <= pace.queued_polls.saturating_add(pace.running_polls) {
            return Phase::Running;
        }
        match &self.fate {
            Fate::Succeed => Phase::Succeeded,
            Fate::Fail(message) => Phase::Failed(message.clone()),
            Fate::Stall => Phase::Running,
        }
    }
}

/// The owner/app prefix of a fal app path: `/fal-ai/flux-pro/v1.1` gives `/fal-ai/flux-pro`.
pub(crate) fn fal_app_prefix(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').take(2).collect();
    format!("/{}", segments.join("/"))
}

/// A fal queue operation addressed by URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FalOp {
    Status,
    Result,
    Cancel,
}

/// Parses `/<owner>/<app>/requests/<id>[/status|/cancel]`.
pub(crate) fn parse_fal_url(method: &http::Method, path: &str) -> Option<(String, String, FalOp)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match segments.as_slice() {
        [owner, app, "requests", rest @ ..] => (format!("/{owner}/{app}"), rest),
        _ => return None,
    };
    let (id, op) = match (rest, method) {
        ([id], &http::Method::GET) => (id, FalOp::Result),
        ([id, "status"], &http::Method::GET) => (id, FalOp::Status),
        ([id, "cancel"], &http::Method::PUT) => (id, FalOp::Cancel),
        _ => return None,
    };
    (!id.is_empty()).then(|| (prefix, (*id).to_owned(), op))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(fate: Fate) -> JobRecord {
        JobRecord {
            route: 0,
            owner: "fp".into(),
            app_prefix: "/a/b".into(),
            polls: 0,
            fate,
            cancelled: false,
            output: Value::Null,
            external_task_id: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn phases_follow_the_pace() {
        let pace = JobPace {
            queued_polls: 2,
            running_polls: 1,
        };
        let mut j = job(Fate::Succeed);
        let mut seen = Vec::new();
        for _ in 0..5 {
            j.polls += 1;
            seen.push(j.phase(pace));
        }
        assert_eq!(
            seen,
            [
                Phase::Queued(1),
                Phase::Queued(0),
                Phase::Running,
                Phase::Succeeded,
                Phase::Succeeded
            ]
        );
    }

    #[test]
    fn stalled_jobs_never_finish_and_failed_jobs_fail() {
        let mut stalled = job(Fate::Stall);
        stalled.polls = 1000;
        assert_eq!(stalled.phase(JobPace::immediate()), Phase::Running);
        let mut failed = job(Fate::Fail("boom".into()));
        failed.polls = 1;
        assert_eq!(
            failed.phase(JobPace::immediate()),
            Phase::Failed("boom".into())
        );
    }

    #[test]
    fn fal_urls_use_owner_and_app_only() {
        assert_eq!(fal_app_prefix("/fal-ai/flux-pro/v1.1"), "/fal-ai/flux-pro");
        assert_eq!(
            fal_app_prefix("/fal-ai/stable-audio"),
            "/fal-ai/stable-audio"
        );
        let get = http::Method::GET;
        assert_eq!(
            parse_fal_url(&get, "/fal-ai/flux-pro/requests/abc/status"),
            Some(("/fal-ai/flux-pro".into(), "abc".into(), FalOp::Status))
        );
        assert_eq!(
            parse_fal_url(&get, "/fal-ai/flux-pro/requests/abc"),
            Some(("/fal-ai/flux-pro".into(), "abc".into(), FalOp::Result))
        );
        assert_eq!(
            parse_fal_url(&http::Method::PUT, "/fal-ai/flux-pro/requests/abc/cancel"),
            Some(("/fal-ai/flux-pro".into(), "abc".into(), FalOp::Cancel))
        );
        assert_eq!(
            parse_fal_url(&get, "/fal-ai/flux-pro/v1.1/requests/abc/status"),
            None
        );
        assert_eq!(
            parse_fal_url(&http::Method::POST, "/fal-ai/flux-pro/requests/abc"),
            None
        );
    }
}
