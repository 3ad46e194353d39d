//! Jobs, two ways, sharing one reading of each flow's answers ([`fal`], [`kling`]):
//!
//! - **Followed** ([`ProviderClient::call`] on a job endpoint): polls with the key that
//!   submitted the job, within the job's `timeout_ms`, until it ends.
//! - **Submitted, then asked about** ([`ProviderClient::submit_job`], then
//!   [`ProviderClient::job_status`] as often as the caller likes): for callers that cannot wait
//!   minutes in one request (a Lambda behind API Gateway). The submit returns a serializable
//!   [`JobTicket`]; each status call makes one status poll (and, once the job is done, fetches
//!   its result) with the key that submitted it, found again in the pool by fingerprint.
//!
//! A ticket comes back from whoever held it, so it is untrusted: [`ProviderClient::job_status`]
//! checks it names this endpoint, that its job id stays one path segment, and resolves its URLs
//! exactly as the follow path resolves the provider's (base origin, or re-rooted from an
//! allowed origin; anything else is [`Error::UntrustedUrl`]).

mod fal;
mod kling;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::Instrument;

use super::engine::{JobClock, JobTimeout, PollDecision, PollRetry};
use super::{
    Call, CallOptions, Delivered, NextKey, Prepared, ProviderClient, Receive, api_error,
    call_metric, full_jitter, millis,
};
use crate::auth;
use crate::classify::{MESSAGE_LIMIT, shorten};
use crate::endpoint::{Endpoint, ResponseBody, ValidationError};
use crate::error::{Error, Result};
use crate::keys::KeyLease;
use crate::spec::{EndpointSpec, JobFlow, JobSpec, ResponseSpec};

/// Longest job id a ticket may carry.
const MAX_TICKET_ID: usize = 256;
/// Longest URL a ticket may carry.
const MAX_TICKET_URL: usize = 2048;
/// Longest key fingerprint a ticket may carry.
const MAX_TICKET_KEY: usize = 64;

/// A job submitted with [`ProviderClient::submit_job`]: what [`ProviderClient::job_status`]
/// needs to poll it later, in another process if need be. Serializable; it holds the key's
/// fingerprint, never the key.
///
/// It is not tamper-proof: a service handing it to its clients should sign or encrypt it if
/// it must be sure to get back what it gave. [`ProviderClient::job_status`] re-checks
/// everything in it before using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTicket {
    provider: String,
    endpoint: String,
    id: String,
    key: String,
    /// fal: the status URL the submit answer gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_url: Option<String>,
    /// fal: the result URL the submit answer gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_url: Option<String>,
    /// Unix milliseconds of the submit.
    submitted_at_ms: u64,
}

impl JobTicket {
    /// The provider id.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The endpoint id.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The provider's job id (fal `request_id`, Kling `task_id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The fingerprint of the key that submitted the job.
    pub fn key_fingerprint(&self) -> &str {
        &self.key
    }

    /// When the job was submitted.
    pub fn submitted_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.submitted_at_ms)
    }

    /// Whether the ticket fits `endpoint` and its values are within bounds; what is wrong
    /// otherwise.
    fn check(&self, endpoint: &EndpointSpec) -> std::result::Result<(), String> {
        if self.provider != endpoint.provider || self.endpoint != endpoint.id {
            return Err(format!(
                "the ticket is for {}/{}, not {}/{}",
                shorten(&self.provider, 40),
                shorten(&self.endpoint, 40),
                endpoint.provider,
                endpoint.id
            ));
        }
        if self.id.is_empty() || self.id.len() > MAX_TICKET_ID {
            return Err(format!("job id of {} bytes", self.id.len()));
        }
        let key_ok = !self.key.is_empty()
            && self.key.len() <= MAX_TICKET_KEY
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            return Err("malformed key fingerprint".to_owned());
        }
        for url in [&self.status_url, &self.response_url].into_iter().flatten() {
            if url.len() > MAX_TICKET_URL {
                return Err(format!("URL of {} bytes", url.len()));
            }
        }
        Ok(())
    }
}

/// Where a job stands, as one [`ProviderClient::job_status`] poll found it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum JobState<T = ResponseBody> {
    /// Waiting to start (fal `IN_QUEUE`, Kling `submitted`).
    Queued,
    /// Running (fal `IN_PROGRESS`, Kling `processing`).
    Running,
    /// Finished: its result (for [`ProviderClient::job_status`], the body an
    /// [`Endpoint::decode`] takes).
    Done(T),
    /// The provider reports the job failed (redacted, shortened).
    Failed {
        /// Why, as the provider says.
        message: String,
    },
}

/// What a submit answer says about the new job.
struct Submitted {
    id: String,
    status_url: Option<String>,
    response_url: Option<String>,
}

/// A job being polled: the key it belongs to, its id (once known), its clock, and what a
/// refused key means.
struct JobTracker {
    lease: KeyLease,
    id: String,
    started: Instant,
    clock: JobClock,
    refused: WhenRefused,
}

/// What a poll refused for its key (HTTP 401/403, a quarantine code) does to the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenRefused {
    /// Quarantine it: the job came from this process, so the key is at fault.
    Quarantine,
    /// Only report it: the job came from a ticket, which anyone may have edited (another
    /// key's fingerprint on a job of ours must not quarantine that key).
    Report,
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
            refused: WhenRefused::Quarantine,
        };
        match job.flow {
            JobFlow::FalQueue => fal::follow(self, call, tracker, &submitted.payload).await,
            JobFlow::KlingTask { poll_path } => {
                kling::follow(self, call, tracker, poll_path, &submitted.payload).await
            }
        }
    }

    /// Submits `request` to its job endpoint and returns at once with a [`JobTicket`] to ask
    /// about the job later ([`job_status`](Self::job_status)), instead of following it as
    /// [`call`](Self::call) does. The submit itself is a call like any other (validation,
    /// keys, retries, one metric).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `E` is not a job endpoint; [`Error::Decode`] or
    /// [`Error::UntrustedUrl`] when the submit answer cannot be used; else as
    /// [`call`](Self::call).
    pub async fn submit_job<E: Endpoint>(&self, request: E) -> Result<JobTicket> {
        self.submit_job_with(request, &CallOptions::default()).await
    }

    /// [`submit_job`](Self::submit_job) with this call's own budgets and credits.
    ///
    /// # Errors
    ///
    /// As [`submit_job`](Self::submit_job).
    pub async fn submit_job_with<E: Endpoint>(
        &self,
        request: E,
        options: &CallOptions,
    ) -> Result<JobTicket> {
        let endpoint = &E::SPEC;
        let ResponseSpec::Job(job) = endpoint.response else {
            return Err(not_a_job(endpoint));
        };
        self.admissible(&request)?;
        let span = tracing::info_span!(
            "media_sdk.submit_job",
            provider = endpoint.provider,
            endpoint = endpoint.id
        );
        let mut call = Call::new(self.inner.spec, endpoint, options);
        let result = self.submit(&request, &mut call, job).instrument(span).await;
        self.finish(&call, result.as_ref().err());
        result
    }

    async fn submit<E: Endpoint>(
        &self,
        request: &E,
        call: &mut Call,
        job: JobSpec,
    ) -> Result<JobTicket> {
        let endpoint = call.endpoint;
        let prepared = self.prepare_whole(request, endpoint)?;
        let delivered = self.send(call, &prepared).await?;
        let submitted = match job.flow {
            JobFlow::FalQueue => fal::submitted(self, call, &delivered.payload)?,
            JobFlow::KlingTask { poll_path } => {
                kling::submitted(self, call, poll_path, &delivered.payload)?
            }
        };
        if submitted.id.len() > MAX_TICKET_ID {
            return Err(decode_error(
                call,
                format!("job id of {} bytes", submitted.id.len()),
            ));
        }
        let submitted_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(JobTicket {
            provider: endpoint.provider.to_owned(),
            endpoint: endpoint.id.to_owned(),
            id: submitted.id,
            key: delivered.lease.fingerprint().to_owned(),
            status_url: submitted.status_url,
            response_url: submitted.response_url,
            submitted_at_ms,
        })
    }

    /// Asks once where the job of `ticket` (from [`submit_job`](Self::submit_job) on
    /// `endpoint`) stands: one status poll with the key that submitted it, and once the job is
    /// done the fetch of its result. Rate limits and transient failures of the poll are
    /// retried with that key within the provider's `retry.deadline_ms`.
    ///
    /// A job that ends (done or failed) records one metric, its latency counted from the
    /// submit, and so does a poll that fails; a job still queued or running records none.
    /// A poll refused for its key (HTTP 401/403) does not quarantine the key: the ticket may
    /// have been edited to name it.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the ticket is not one of `endpoint`'s or is malformed (nothing
    /// sent); [`Error::UntrustedUrl`] when its URLs are off the allowed origins;
    /// [`Error::JobFailed`] when the key that submitted the job is no longer in the pool;
    /// [`Error::Config`] when `endpoint` is not a job endpoint of this provider; else the
    /// poll's failure.
    pub async fn job_status(
        &self,
        endpoint: &'static EndpointSpec,
        ticket: &JobTicket,
    ) -> Result<JobState> {
        self.job_status_with(endpoint, ticket, &CallOptions::default())
            .await
    }

    /// [`job_status`](Self::job_status) with this call's own budgets (`deadline` bounds the
    /// poll's retries) and the credits recorded when the job is found done.
    ///
    /// # Errors
    ///
    /// As [`job_status`](Self::job_status).
    pub async fn job_status_with(
        &self,
        endpoint: &'static EndpointSpec,
        ticket: &JobTicket,
        options: &CallOptions,
    ) -> Result<JobState> {
        let spec = self.inner.spec;
        if let Some(reason) = &self.inner.unusable {
            return Err(Error::Config(reason.clone()));
        }
        let ResponseSpec::Job(job) = endpoint.response else {
            return Err(not_a_job(endpoint));
        };
        if endpoint.provider != spec.id {
            return Err(Error::Config(format!(
                "{}/{} polled on the {} client",
                endpoint.provider, endpoint.id, spec.id
            )));
        }
        ticket.check(endpoint).map_err(|message| Error::Invalid {
            provider: endpoint.provider,
            endpoint: endpoint.id,
            source: ValidationError::new("ticket", message),
        })?;
        let lease = self
            .inner
            .pool
            .lease_of(&ticket.key)
            .ok_or_else(|| Error::JobFailed {
                provider: endpoint.provider,
                endpoint: endpoint.id,
                job_id: shorten(&ticket.id, 200),
                message: format!(
                    "the key that submitted the job ({}) was removed from the {} key pool; \
                     the job can no longer be polled",
                    ticket.key, spec.id
                ),
            })?;
        let mut call = Call::new(spec, endpoint, options);
        // The job's metric counts from the submit (at most the job's own time limit).
        let since_submit = SystemTime::now()
            .duration_since(ticket.submitted_at())
            .unwrap_or_default()
            .min(Duration::from_millis(job.timeout_ms));
        call.started = Instant::now()
            .checked_sub(since_submit)
            .unwrap_or_else(Instant::now);
        let tracker = JobTracker {
            lease,
            id: ticket.id.clone(),
            started: Instant::now(),
            clock: JobClock {
                timeout: options
                    .deadline
                    .unwrap_or(Duration::from_millis(spec.retry.deadline_ms)),
                interval: Duration::from_millis(job.poll_interval_ms),
            },
            refused: WhenRefused::Report,
        };
        let span = tracing::info_span!(
            "media_sdk.job_status",
            provider = endpoint.provider,
            endpoint = endpoint.id
        );
        let state = match job.flow {
            JobFlow::FalQueue => {
                fal::status(self, &mut call, &tracker, ticket)
                    .instrument(span)
                    .await
            }
            JobFlow::KlingTask { poll_path } => {
                kling::status(self, &mut call, &tracker, poll_path)
                    .instrument(span)
                    .await
            }
        };
        match &state {
            Ok(JobState::Queued | JobState::Running) => tracing::debug!(
                provider = spec.id,
                endpoint = endpoint.id,
                job_id = %tracker.id,
                "job not finished yet"
            ),
            Ok(JobState::Done(_)) => self.finish_job(&call, None),
            Ok(JobState::Failed { message }) => {
                let error = Error::JobFailed {
                    provider: spec.id,
                    endpoint: endpoint.id,
                    job_id: shorten(&tracker.id, 200),
                    message: message.clone(),
                };
                self.finish_job(&call, Some(&error));
            }
            // A failure before any request (a ticket URL refused) says nothing about the
            // provider: logged by the caller, not recorded.
            Err(error) if call.key.is_some() => self.finish_job(&call, Some(error)),
            Err(_) => {}
        }
        state
    }

    /// Records the end of a job found by a status call (no request attempts of its own).
    fn finish_job(&self, call: &Call, error: Option<&Error>) {
        let latency_ms = millis(call.started.elapsed());
        self.log_end(call, latency_ms, error);
        self.inner
            .telemetry
            .record_call(call_metric(call, latency_ms, error));
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
                    if job.refused == WhenRefused::Quarantine {
                        job.lease.quarantine(&failure.to_string());
                    }
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

    fn job_failed(&self, call: &Call, job: &JobTracker, message: &str) -> Error {
        Error::JobFailed {
            provider: call.provider.id,
            endpoint: call.endpoint.id,
            job_id: shorten(&job.id, 200),
            message: failure_text(job, message),
        }
    }

    fn job_timeout(&self, call: &Call, job: &JobTracker) -> Error {
        Error::JobTimeout {
            provider: call.provider.id,
            endpoint: call.endpoint.id,
            job_id: shorten(&job.id, 200),
            waited: job.started.elapsed(),
        }
    }
}

/// A provider's failure message as errors and [`JobState::Failed`] carry it: redacted, then
/// shortened.
fn failure_text(job: &JobTracker, message: &str) -> String {
    shorten(&job.lease.redact(message), MESSAGE_LIMIT)
}

/// The [`Error::Config`] of an endpoint that is not a job.
fn not_a_job(endpoint: &EndpointSpec) -> Error {
    Error::Config(format!(
        "{}/{} is not a job endpoint",
        endpoint.provider, endpoint.id
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::{fal, kling};

    fn ticket() -> JobTicket {
        JobTicket {
            provider: "kling".into(),
            endpoint: "text_to_video".into(),
            id: "task-1".into(),
            key: "k_0123abcd".into(),
            status_url: None,
            response_url: None,
            submitted_at_ms: 1,
        }
    }

    fn video() -> &'static EndpointSpec {
        &<kling::TextToVideoRequest as Endpoint>::SPEC
    }

    #[test]
    fn a_ticket_must_name_its_endpoint_and_stay_in_bounds() {
        assert_eq!(ticket().check(video()), Ok(()));
        let flux = &<fal::FluxProRequest as Endpoint>::SPEC;
        assert!(
            ticket()
                .check(flux)
                .unwrap_err()
                .contains("not fal/flux_pro")
        );
        type Spoil = fn(&mut JobTicket);
        let cases: [(&str, Spoil); 5] = [
            ("empty id", |t| t.id.clear()),
            ("long id", |t| t.id = "a".repeat(MAX_TICKET_ID + 1)),
            ("key with a slash", |t| t.key = "k_/..".into()),
            ("empty key", |t| t.key.clear()),
            ("long URL", |t| {
                t.status_url = Some(format!("https://x/{}", "a".repeat(MAX_TICKET_URL)));
            }),
        ];
        for (what, spoil) in cases {
            let mut t = ticket();
            spoil(&mut t);
            assert!(t.check(video()).is_err(), "{what}");
        }
    }

    #[test]
    fn tickets_round_trip_and_refuse_unknown_fields() {
        let t = JobTicket {
            status_url: Some("https://queue.fal.run/a/b/requests/x/status".into()),
            ..ticket()
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<JobTicket>(&json).unwrap(), t);
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["secret"] = "x".into();
        assert!(serde_json::from_value::<JobTicket>(value).is_err());
    }
}
