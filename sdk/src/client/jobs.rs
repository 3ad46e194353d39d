//! Following a submitted job to its result: polls with the key that submitted it, within the
//! job's `timeout_ms`. One module per job flow ([`fal`], [`kling`]).

mod fal;
mod kling;

use std::time::Duration;

use bytes::Bytes;
use reqwest::Url;
use tokio::time::Instant;

use super::engine::{JobClock, JobTimeout, PollDecision, PollRetry};
use super::{
    Call, Delivered, NextKey, Prepared, ProviderClient, Receive, api_error, full_jitter, millis,
};
use crate::auth;
use crate::classify::{MESSAGE_LIMIT, shorten};
use crate::endpoint::ResponseBody;
use crate::error::{Error, Result};
use crate::keys::KeyLease;
use crate::spec::{JobFlow, JobSpec};

/// A job being followed: the key it belongs to, its id (once known) and its clock.
struct JobTracker {
    lease: KeyLease,
    id: String,
    started: Instant,
    clock: JobClock,
}

impl ProviderClient {
    /// Follows a submitted job to its result.
    pub(super) async fn follow_job(
        &self,
        call: &mut Call,
        job: JobSpec,
        submitted: Delivered,
    ) -> Result<ResponseBody> {
        let tracker = JobTracker {
            lease: submitted.lease,
            id: String::new(),
            started: Instant::now(),
            clock: JobClock {
                timeout: Duration::from_millis(job.timeout_ms),
                interval: Duration::from_millis(job.poll_interval_ms),
            },
        };
        match job.flow {
            JobFlow::FalQueue => fal::follow(self, call, tracker, &submitted.payload).await,
            JobFlow::KlingTask { poll_path } => {
                kling::follow(self, call, tracker, poll_path, &submitted.payload).await
            }
        }
    }

    /// One poll (GET with the job's key), tolerating rate limits and transient failures.
    async fn poll(
        &self,
        call: &mut Call,
        job: &JobTracker,
        url: &Url,
    ) -> Result<(Bytes, Option<String>)> {
        let spec = self.inner.spec;
        let (provider, endpoint) = (spec.id, call.endpoint.id);
        let request = Prepared {
            method: http::Method::GET,
            url: url.clone(),
            body: None,
            max_body: call.endpoint.body_limit(&spec.body_limits),
            receive: Receive::Whole,
        };
        let mut retry = PollRetry::new(spec.retry, spec.timeouts.request(), job.clock);
        loop {
            let timeout = retry
                .attempt_timeout(job.started.elapsed())
                .map_err(|JobTimeout| self.job_timeout(call, job))?;
            let header = auth::header(spec.auth, &job.lease, auth::unix_now())?;
            let (attempt, _) = self
                .exchange(call, &job.lease, &request, header, timeout)
                .await;
            let wait = match retry.decide(attempt, job.started.elapsed(), &mut full_jitter) {
                PollDecision::Done {
                    payload,
                    content_type,
                } => return Ok((payload, content_type)),
                PollDecision::WaitForKey { cooldown, then } => {
                    job.lease.cool_down(Instant::now() + cooldown);
                    self.record_rate_limit(call, &job.lease, cooldown, NextKey::Same);
                    then.map_err(|JobTimeout| self.job_timeout(call, job))?
                }
                PollDecision::RetrySameKeyAfter(wait) => wait,
                PollDecision::Reject(failure) => {
                    job.lease.quarantine(&failure.to_string());
                    return Err(api_error(call.endpoint, failure));
                }
                PollDecision::TimedOut => return Err(self.job_timeout(call, job)),
                PollDecision::Stop(stop) => return Err(self.stop_error(call, stop)),
            };
            tracing::info!(
                provider, endpoint, key = job.lease.fingerprint(), job_id = %job.id,
                delay_ms = millis(wait), failure = %retry.last(), "job poll failed, retrying with the same key"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits one poll interval, unless the job's time would run out first.
    async fn wait_poll(&self, call: &Call, job: &JobTracker) -> Result<()> {
        let interval = job
            .clock
            .next_poll(job.started.elapsed())
            .map_err(|JobTimeout| self.job_timeout(call, job))?;
        tokio::time::sleep(interval).await;
        Ok(())
    }

    fn job_failed(&self, call: &Call, job: &JobTracker, message: String) -> Error {
        Error::JobFailed {
            provider: call.provider.id,
            endpoint: call.endpoint.id,
            job_id: job.id.clone(),
            message: shorten(&job.lease.redact(&message), MESSAGE_LIMIT),
        }
    }

    fn job_timeout(&self, call: &Call, job: &JobTracker) -> Error {
        Error::JobTimeout {
            provider: call.provider.id,
            endpoint: call.endpoint.id,
            job_id: job.id.clone(),
            waited: job.started.elapsed(),
        }
    }
}

/// The [`Error::Decode`] of `call` for a job answer that cannot be read.
fn decode_error(call: &Call, message: String) -> Error {
    Error::Decode {
        provider: call.provider.id,
        endpoint: call.endpoint.id,
        source: crate::endpoint::DecodeError(message),
    }
}

/// The [`Error::UntrustedUrl`] of `call`.
fn untrusted(call: &Call, reason: String) -> Error {
    Error::UntrustedUrl {
        provider: call.provider.id,
        endpoint: call.endpoint.id,
        reason,
    }
}
