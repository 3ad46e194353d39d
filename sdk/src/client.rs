//! Executes endpoint calls for one provider: key pool, auth, retries, jobs, telemetry.
//!
//! # One call
//!
//! 1. The request is validated; an invalid request fails with [`Error::Invalid`] before any
//!    network call.
//! 2. A key is taken from the provider's [`KeyPool`] through its admission queue
//!    ([`crate::admission`]): the key with the fewest calls in flight among those that are
//!    not cooling down, under their concurrency limit and with a pacing token
//!    ([`crate::pace`]: declared `limits`, or learned from the provider's `x-ratelimit-*`
//!    headers and 429s). When none is free the call queues in arrival order and is handed the
//!    next free key, one waiter at a time; a call whose expected wait exceeds what it may wait
//!    (`retry.max_wait_ms`, its deadline) or that finds the queue full (`retry.max_queue`)
//!    fails at once with [`Error::RateLimited`] ("rate limited, no alternate keys"), counted
//!    by [`ProviderClient::shed_calls`] and not recorded as a provider failure. The key is
//!    presented as the spec's [`AuthScheme`](crate::spec::AuthScheme) says.
//! 3. The response is classified by [`classify`](crate::classify::classify) from the spec's
//!    error rules and envelope, and acted on:
//!    - **Rate limited** (HTTP 429 or a `rate_limited` code): the key cools down for the
//!      provider's reset hint (`retry-after-ms`, `retry-after`, `x-ratelimit-reset-*`) or
//!      `retry.default_cooldown_ms`, held between `retry.min_cooldown_ms` (a hint of zero, in
//!      the past or unreadable) and `retry.max_cooldown_ms` (`RetryPolicy::cooldown`); its
//!      pace learns from it; the call goes back to the front of the admission queue and gets
//!      the next free key (another key at once, or this one when it is back), within the same
//!      wait budget. Rate limits never use up `retry.max_attempts` (that budget is for
//!      transient failures).
//!    - **Quarantine** (HTTP 401/403 or a `quarantine` code such as OpenAI's
//!      `insufficient_quota`, which comes with HTTP 429): the key is set aside until the pool is
//!      reloaded and the call moves on to another key. No key left: [`Error::KeysExhausted`].
//!    - **Busy** (a `busy` code): the provider is overloaded for everyone; back off, keep the key.
//!    - **Transient** (HTTP 503, a status in `retry.retry_statuses`, a `retryable` code, a
//!      connection failure, a timeout when `retry.retry_timeouts`): exponential backoff with
//!      full jitter ([`crate::retry`]), at most `retry.max_attempts` attempts within
//!      `retry.deadline_ms`, then [`Error::RetriesExhausted`].
//!    - Anything else fails with [`Error::Api`] carrying the provider's status, code and message.
//!
//! **Only requests the provider did not act on are retried**: a 429 or 503 means the request
//! was refused, a connection failure means it never arrived, and the spec lists further statuses
//! and codes that are safe. Other failures (a 400, a 500 not listed) are reported, never
//! replayed, so a generation is not paid for twice. Once a **2xx**'s headers have arrived the
//! provider has acted: whatever happens to the body (a timeout, a reset, the body limit) is
//! reported ([`Error::Transport`], [`Error::BodyTooLarge`]) and never replayed. A timeout before
//! any answer is the one ambiguous case, and so is a connection closed before any answer (a
//! reset after the request was sent): both are retried only when the spec says
//! `retry_timeouts`.
//!
//! # Untrusted answers
//!
//! Bodies are read up to the endpoint's limit (`body_limits` in the spec, per response kind,
//! or the endpoint's `max_bytes`; error bodies up to `body_limits.error_bytes`), with memory
//! that never grows past it. Provider messages are redacted (the key, its halves, a token signed
//! from it, any JWT-shaped text) and then cut to [`MESSAGE_LIMIT`] characters. Path parameters
//! `.`, `..` and empty ones are refused before any network call.
//!
//! # Jobs
//!
//! Job endpoints submit once (with the retries above), then poll with **the same key** (a job
//! belongs to the account that submitted it): a 429 while polling waits for the key's cool-down
//! (or the poll interval) and asks again with that key; transient failures back off, up to
//! `retry.max_attempts` in a row. The job's `timeout_ms` bounds the polling
//! ([`Error::JobTimeout`]); a job the provider reports as failed gives [`Error::JobFailed`].
//!
//! - [`JobFlow::FalQueue`]: the submit answer gives `status_url` and `response_url`; the status
//!   is polled until `COMPLETED`, then the result is fetched. These URLs are followed only on the
//!   client's base-URL origin, or re-rooted onto it from one of the spec's `allowed_origins`
//!   (see [`resolve_provider_url`]); any other URL fails with [`Error::UntrustedUrl`], so
//!   credentials are never sent to a host the caller did not configure.
//! - [`JobFlow::KlingTask`]: the submit answer's `task_id` is polled at `poll_path` until
//!   `task_status` is `succeed` (the output is `task_result`) or `failed`.
//!
//! # Telemetry
//!
//! Every call that reached the key pool is reported once to [`Telemetry::record_call`], and
//! every rate-limited response to [`Telemetry::record_rate_limit`]. Invalid requests and calls
//! on an empty pool are not (they say nothing about the provider). `attempts` counts the HTTP
//! attempts of the request itself, not the polls of a job.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;
use url::Origin;

use crate::admission::{Admission, Refusal};
use crate::auth;
use crate::classify::{Failure, MESSAGE_LIMIT, Outcome, classify_with, shorten};
use crate::endpoint::{Endpoint, ResponseBody, ValidationError};
use crate::error::{Error, Result};
use crate::keys::{KeyLease, KeyPool};
use crate::retry::backoff_delay;
use crate::spec::{EndpointSpec, JobFlow, JobSpec, ProviderSpec, ResponseSpec};
use crate::telemetry::{CallMetric, RateLimitEvent, Telemetry};

/// Characters percent-encoded in a path parameter: everything but RFC 3986 unreserved ones.
const PATH_PARAM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Sends requests to one provider. Cheap to clone: clones share the pool, the HTTP client and
/// the telemetry sink.
#[derive(Clone)]
pub struct ProviderClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    spec: &'static ProviderSpec,
    pool: KeyPool,
    base_url: Url,
    /// The spec's `allowed_origins`, parsed.
    allowed_origins: Vec<Origin>,
    /// Why this provider cannot be called (an unusable base URL), if so: every call fails
    /// with this [`Error::Config`] message before any network call, other providers unaffected.
    unusable: Option<String>,
    /// Calls waiting for a key, in arrival order.
    admission: Admission,
    /// Calls shed by admission before any attempt (see [`ProviderClient::shed_calls`]).
    shed: AtomicU64,
    http: reqwest::Client,
    telemetry: Arc<dyn Telemetry>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("provider", &self.inner.spec.id)
            .field("base_url", &self.inner.base_url.as_str())
            .field("pool", &self.inner.pool)
            .finish()
    }
}

impl ProviderClient {
    /// A client for `spec` sending to `base_url` with keys from `pool`. Usually built by
    /// [`SdkBuilder`](crate::sdk::SdkBuilder).
    pub fn new(
        spec: &'static ProviderSpec,
        pool: KeyPool,
        base_url: &str,
        http: reqwest::Client,
        telemetry: Arc<dyn Telemetry>,
    ) -> Result<Self> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let base_url = Url::parse(trimmed)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| Error::Config(format!("{}: invalid base URL `{trimmed}`", spec.id)))?;
        let allowed_origins = spec
            .allowed_origins
            .iter()
            .map(|o| {
                Url::parse(o).map(|u| u.origin()).map_err(|_| {
                    Error::Config(format!("{}: invalid allowed origin `{o}`", spec.id))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                spec,
                pool,
                base_url,
                allowed_origins,
                unusable: None,
                admission: Admission::new(spec.retry.max_queue as usize),
                shed: AtomicU64::new(0),
                http,
                telemetry,
            }),
        })
    }

    /// A client for `spec` whose every call fails with `Error::Config(reason)` before any
    /// network call: how an `Sdk` keeps one provider's broken configuration (an unusable base
    /// URL) from failing the others. Its base URL is the spec's default, never used.
    pub(crate) fn unusable(
        spec: &'static ProviderSpec,
        pool: KeyPool,
        http: reqwest::Client,
        telemetry: Arc<dyn Telemetry>,
        reason: String,
    ) -> Self {
        let base_url = Url::parse(spec.base_url)
            .unwrap_or_else(|_| Url::parse("http://unconfigured.invalid").expect("a valid URL"));
        Self {
            inner: Arc::new(ClientInner {
                spec,
                pool,
                base_url,
                allowed_origins: Vec::new(),
                unusable: Some(reason),
                admission: Admission::new(1),
                shed: AtomicU64::new(0),
                http,
                telemetry,
            }),
        }
    }

    /// Calls refused by admission before any attempt (queue full, or an expected wait longer
    /// than the call may wait): they failed fast with [`Error::RateLimited`], never reached
    /// the provider, and are not health failures.
    pub fn shed_calls(&self) -> u64 {
        self.inner.shed.load(Ordering::Relaxed)
    }

    /// Calls waiting for a key right now.
    pub fn waiting_calls(&self) -> usize {
        self.inner.admission.waiting()
    }

    /// Why this client cannot send anything (its configuration is broken), if so.
    pub fn unusable_reason(&self) -> Option<&str> {
        self.inner.unusable.as_deref()
    }

    /// The provider this client talks to.
    pub fn spec(&self) -> &'static ProviderSpec {
        self.inner.spec
    }

    /// The provider's key pool.
    pub fn pool(&self) -> &KeyPool {
        &self.inner.pool
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str().trim_end_matches('/')
    }

    /// Validates and sends `request`, returning its output (see the module docs for keys,
    /// retries and jobs).
    pub async fn call<E: Endpoint>(&self, request: E) -> Result<E::Output> {
        self.call_with(request, &CallOptions::default()).await
    }

    /// [`call`](Self::call) with this call's own budgets (a deadline, a longest wait for a
    /// key, attempts) instead of the spec's, e.g. a Lambda's remaining time as the deadline.
    pub async fn call_with<E: Endpoint>(
        &self,
        request: E,
        options: &CallOptions,
    ) -> Result<E::Output> {
        let endpoint = &E::SPEC;
        if let Some(reason) = &self.inner.unusable {
            return Err(Error::Config(reason.clone()));
        }
        request
            .validate()
            .and_then(|()| check_path_params(&request.path_params()))
            .map_err(|source| Error::Invalid {
                provider: endpoint.provider,
                endpoint: endpoint.id,
                source,
            })?;
        let span = tracing::info_span!(
            "media_sdk.call",
            provider = endpoint.provider,
            endpoint = endpoint.id
        );
        let mut call = Call::new(self.inner.spec, endpoint, options);
        let result = self.run(&request, &mut call).instrument(span).await;
        self.finish(&call, result.as_ref().err());
        result
    }

    async fn run<E: Endpoint>(&self, request: &E, call: &mut Call) -> Result<E::Output> {
        let endpoint = call.endpoint;
        let url = build_url(
            &self.inner.base_url,
            endpoint.path,
            &request.path_params(),
            &request.query_params(),
        )
        .map_err(|message| {
            Error::Config(format!("{}/{}: {message}", endpoint.provider, endpoint.id))
        })?;
        let method = endpoint.method.as_http();
        let body = if method == http::Method::GET || method == http::Method::DELETE {
            None
        } else {
            let json = serde_json::to_vec(request).map_err(|e| {
                Error::Config(format!(
                    "{}/{}: cannot serialize request: {e}",
                    endpoint.provider, endpoint.id
                ))
            })?;
            Some(Bytes::from(json))
        };
        let prepared = Prepared {
            method,
            url,
            body,
            max_body: endpoint.body_limit(&self.inner.spec.body_limits),
        };
        let reply = self.send(call, &prepared).await?;
        let body = match endpoint.response {
            ResponseSpec::Json | ResponseSpec::Audio { .. } => ResponseBody {
                bytes: reply.payload,
                content_type: reply.content_type,
                job_id: None,
            },
            ResponseSpec::Job(job) => self.follow_job(call, job, reply).await?,
        };
        E::decode(body).map_err(|source| Error::Decode {
            provider: endpoint.provider,
            endpoint: endpoint.id,
            source,
        })
    }

    fn finish(&self, call: &Call, error: Option<&Error>) {
        let latency_ms = millis(call.started.elapsed());
        let (provider, endpoint) = (call.provider.id, call.endpoint.id);
        let key = call.key.as_deref().unwrap_or("-");
        match error {
            None => tracing::info!(
                provider,
                endpoint,
                key,
                status = call.status,
                latency_ms,
                attempt = call.attempts,
                "call succeeded"
            ),
            Some(error) => tracing::warn!(
                provider, endpoint, key, status = call.status, latency_ms, attempt = call.attempts,
                class = error.class(), %error, "call failed"
            ),
        }
        // A call shed by admission (`RateLimited` before any attempt) never reached the
        // provider: counted (`shed_calls`) and logged, not a provider failure.
        let reached_provider =
            call.attempts > 0 || matches!(error, Some(Error::KeysExhausted { .. }));
        if reached_provider {
            self.inner.telemetry.record_call(CallMetric {
                health_id: call.endpoint.health_id,
                provider,
                endpoint,
                latency_ms,
                success: error.is_none(),
                status: call.status,
                error_class: error.map(Error::class),
                attempts: call.attempts,
                key_fingerprint: call.key.clone(),
                at: SystemTime::now(),
            });
        }
    }

    /// One HTTP exchange with `lease`'s key.
    async fn exchange(
        &self,
        call: &mut Call,
        lease: &KeyLease,
        req: &Prepared,
        timeout: Duration,
        counted: bool,
    ) -> Result<Reply> {
        let spec = self.inner.spec;
        let (name, value) = auth::header(spec.auth, lease, auth::unix_now())?;
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), req.url.clone())
            .header(name, value)
            .timeout(timeout);
        if let Some(body) = &req.body {
            builder = builder
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if counted {
            call.attempts += 1;
        }
        call.key = Some(lease.fingerprint().to_owned());
        let started = Instant::now();
        let reply = match builder.send().await {
            Err(error) => network_reply(spec, lease, &error),
            Ok(mut response) => {
                let status = response.status().as_u16();
                let headers = std::mem::take(response.headers_mut());
                let content_type = headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| shorten(v, 200));
                call.status = Some(status);
                let success = (200..300).contains(&status);
                match budget(&headers) {
                    Some((limit, remaining, reset)) => {
                        lease.observe_budget(limit, remaining, reset)
                    }
                    None if success => lease.observe_success(),
                    None => {}
                }
                // Once a 2xx's headers are here the provider has acted: whatever happens to the
                // body (a cap, a timeout, a reset), it is never replayed.
                let cap = if success {
                    req.max_body
                } else {
                    spec.body_limits.error_bytes
                };
                match read_body(&mut response, cap).await {
                    Body::Complete(body) => Reply::Response {
                        content_type,
                        outcome: classify_with(
                            spec,
                            status,
                            &headers,
                            &body,
                            SystemTime::now(),
                            &|text| lease.redact(text),
                        ),
                    },
                    Body::TooLarge { .. } if success => Reply::TooLarge { limit: cap },
                    Body::Failed { error, .. } if success => Reply::Network {
                        retryable: false,
                        message: lease.redact(&format!(
                            "{} after the provider answered HTTP {status}: {error}",
                            network_kind(&error)
                        )),
                    },
                    // An error answer cut short (by the cap or the network) is still classified
                    // by its status and what was read of its body.
                    Body::TooLarge { read } | Body::Failed { read, .. } => Reply::Response {
                        content_type,
                        outcome: classify_with(
                            spec,
                            status,
                            &headers,
                            &read,
                            SystemTime::now(),
                            &|text| lease.redact(text),
                        ),
                    },
                }
            }
        };
        tracing::debug!(
            provider = spec.id,
            endpoint = call.endpoint.id,
            key = lease.fingerprint(),
            status = call.status,
            latency_ms = millis(started.elapsed()),
            attempt = call.attempts,
            url = req.url.path(),
            "attempt finished"
        );
        Ok(reply)
    }

    /// Sends the request, rotating keys on rate limits and retrying transient failures.
    async fn send(&self, call: &mut Call, req: &Prepared) -> Result<Delivered> {
        let spec = self.inner.spec;
        let policy = &spec.retry;
        let pool = &self.inner.pool;
        let (provider, endpoint) = (spec.id, call.endpoint.id);
        let max_attempts = call.max_attempts;
        let mut counted = 0_u32;
        let mut retrying = false;
        let mut last = String::from("no attempt made");
        loop {
            let lease = self.admit(call, retrying).await?;
            let now = Instant::now();
            if now >= call.deadline {
                return Err(self.exhausted(call, format!("{last} (deadline reached)")));
            }
            let timeout = spec.timeouts.request().min(call.deadline - now);
            let (failure, retry_after) = match self
                .exchange(call, &lease, req, timeout, true)
                .await?
                .step(provider, call.endpoint)
            {
                Step::Success {
                    payload,
                    content_type,
                } => {
                    return Ok(Delivered {
                        payload,
                        content_type,
                        lease,
                    });
                }
                Step::RateLimited { failure, cooldown } => {
                    let cooldown = policy.cooldown(cooldown);
                    lease.cool_down(Instant::now() + cooldown);
                    lease.observe_rate_limited(cooldown);
                    let rotated = pool.has_available();
                    self.rate_limited(call, &lease, cooldown, rotated);
                    tracing::info!(
                        provider,
                        endpoint,
                        key = lease.fingerprint(),
                        status = failure.status,
                        cooldown_ms = millis(cooldown),
                        "{}",
                        if rotated {
                            "rate limited key, rotated to another key"
                        } else {
                            "rate limited key, waiting for the next free key"
                        }
                    );
                    // Back to the front of the queue: the next free key (this one after its
                    // cool-down, or another) is handed over by admission, paced, within the
                    // call's wait budget. Rate limits never use up attempts.
                    last = failure.to_string();
                    retrying = true;
                    continue;
                }
                Step::Quarantine(failure) => {
                    lease.quarantine(&failure.to_string());
                    tracing::warn!(
                        provider,
                        endpoint,
                        key = lease.fingerprint(),
                        status = failure.status,
                        code = failure.code.as_deref(),
                        "key rejected and quarantined, rotating"
                    );
                    last = failure.to_string();
                    retrying = true;
                    continue;
                }
                Step::Retry {
                    failure,
                    retry_after,
                } => (failure, retry_after),
                Step::Fail(error) => return Err(error),
            };
            drop(lease);
            counted += 1;
            last = failure;
            if counted >= max_attempts {
                return Err(self.exhausted(call, last));
            }
            let delay = policy
                .retry_delay(retry_after)
                .unwrap_or_else(|| backoff_delay(policy, counted - 1, &mut rand::rng()));
            if Instant::now() + delay >= call.deadline {
                return Err(self.exhausted(call, format!("{last} (deadline reached)")));
            }
            tracing::info!(
                provider, endpoint, attempt = call.attempts, delay_ms = millis(delay), failure = %last,
                "transient failure, backing off"
            );
            tokio::time::sleep(delay).await;
            retrying = true;
        }
    }

    /// A key for the next attempt of `call`, through the provider's admission queue: waits (in
    /// arrival order, `retry` first) within what is left of the call's `max_wait` and its
    /// deadline, or fails fast with [`Error::RateLimited`] when that cannot be met.
    async fn admit(&self, call: &mut Call, retry: bool) -> Result<KeyLease> {
        let pool = &self.inner.pool;
        let (provider, endpoint) = (call.provider.id, call.endpoint.id);
        let started = Instant::now();
        let left = call.max_wait.saturating_sub(call.rate_waited);
        let until = (started + left).min(call.deadline);
        let result = self.inner.admission.acquire(pool, until, retry).await;
        call.rate_waited += started.elapsed();
        match result {
            Ok(lease) => Ok(lease),
            Err(Refusal::Unavailable(unavailable)) => Err(pool.unavailable_error(unavailable)),
            Err(Refusal::Shed { expected, reason }) => {
                if call.attempts == 0 {
                    self.inner.shed.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(
                    provider,
                    endpoint,
                    retry_after_ms = millis(expected),
                    waiting = self.inner.admission.waiting(),
                    reason = ?reason,
                    "rate limited, no alternate keys"
                );
                Err(Error::RateLimited {
                    provider,
                    retry_after: expected,
                })
            }
        }
    }

    fn exhausted(&self, call: &Call, last: String) -> Error {
        Error::RetriesExhausted {
            provider: call.provider.id,
            endpoint: call.endpoint.id,
            attempts: call.attempts,
            last,
        }
    }

    fn rate_limited(&self, call: &Call, lease: &KeyLease, cooldown: Duration, rotated: bool) {
        self.inner.telemetry.record_rate_limit(RateLimitEvent {
            provider: call.provider.id,
            health_id: call.endpoint.health_id,
            key_fingerprint: lease.fingerprint().to_owned(),
            cooldown,
            rotated,
            at: SystemTime::now(),
        });
    }

    /// Follows a submitted job to its result.
    async fn follow_job(
        &self,
        call: &mut Call,
        job: JobSpec,
        submitted: Delivered,
    ) -> Result<ResponseBody> {
        let mut tracker = JobTracker {
            lease: submitted.lease,
            id: String::new(),
            started: Instant::now(),
            deadline: Instant::now() + Duration::from_millis(job.timeout_ms),
            interval: Duration::from_millis(job.poll_interval_ms),
        };
        let decode_error = |message: String| Error::Decode {
            provider: call.provider.id,
            endpoint: call.endpoint.id,
            source: crate::endpoint::DecodeError(message),
        };
        match job.flow {
            JobFlow::FalQueue => {
                let submit: FalSubmit = serde_json::from_slice(&submitted.payload)
                    .map_err(|e| decode_error(format!("queue submit answer: {e}")))?;
                tracker.id = shorten(&submit.request_id, 200);
                let status_url = self.follow_url(
                    call,
                    submit.status_url.as_deref(),
                    self.fal_app_url(call, &submit.request_id, "/status")?,
                )?;
                let mut response_url = submit.response_url;
                loop {
                    let (payload, _) = self.poll(call, &tracker, &status_url).await?;
                    let status: FalStatus = serde_json::from_slice(&payload)
                        .map_err(|e| decode_error(format!("queue status: {e}")))?;
                    if let Some(error) = status.error.filter(|e| !e.is_null()) {
                        return Err(self.job_failed(call, &tracker, json_text(&error)));
                    }
                    if status.response_url.is_some() {
                        response_url = status.response_url;
                    }
                    match status.status.as_str() {
                        "COMPLETED" => break,
                        "FAILED" | "ERROR" | "CANCELLED" | "CANCELED" => {
                            return Err(self.job_failed(
                                call,
                                &tracker,
                                format!("status {}", status.status),
                            ));
                        }
                        _ => self.wait_poll(call, &tracker).await?,
                    }
                }
                let response_url = self.follow_url(
                    call,
                    response_url.as_deref(),
                    self.fal_app_url(call, &submit.request_id, "")?,
                )?;
                let (bytes, content_type) = match self.poll(call, &tracker, &response_url).await {
                    Ok(result) => result,
                    Err(Error::Api {
                        status,
                        code,
                        message,
                        ..
                    }) => {
                        let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
                        return Err(self.job_failed(
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
            JobFlow::KlingTask { poll_path } => {
                let mut task: KlingTask = serde_json::from_slice(&submitted.payload)
                    .map_err(|e| decode_error(format!("task submit answer: {e}")))?;
                let task_id = task
                    .id()
                    .ok_or_else(|| decode_error("task submit answer has no task_id".into()))?;
                tracker.id = shorten(&task_id, 200);
                let url = build_url(
                    &self.inner.base_url,
                    poll_path,
                    &[("task_id", task_id)],
                    &[],
                )
                .map_err(|problem| untrusted(call, format!("task id: {problem}")))?;
                loop {
                    match task.task_status.as_deref() {
                        Some("succeed") => {
                            let result = task.task_result.unwrap_or(Value::Null);
                            let bytes =
                                Bytes::from(serde_json::to_vec(&result).unwrap_or_default());
                            return Ok(ResponseBody {
                                bytes,
                                content_type: Some("application/json".into()),
                                job_id: Some(tracker.id),
                            });
                        }
                        Some("failed") => {
                            let message =
                                task.task_status_msg.unwrap_or_else(|| "task failed".into());
                            return Err(self.job_failed(call, &tracker, message));
                        }
                        _ => {}
                    }
                    if task.task_status.is_some() {
                        self.wait_poll(call, &tracker).await?;
                    }
                    let (payload, _) = self.poll(call, &tracker, &url).await?;
                    task = serde_json::from_slice(&payload)
                        .map_err(|e| decode_error(format!("task status: {e}")))?;
                }
            }
        }
    }

    /// Where fal's queue keeps a request: the app id's first two path segments, `requests`, id
    /// (one path segment, whatever the provider put in it), plus `suffix`.
    fn fal_app_url(&self, call: &Call, request_id: &str, suffix: &str) -> Result<Url> {
        let app: Vec<&str> = call
            .endpoint
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .take(2)
            .collect();
        let template = format!("/{}/requests/{{request_id}}{suffix}", app.join("/"));
        build_url(
            &self.inner.base_url,
            &template,
            &[("request_id", request_id.to_owned())],
            &[],
        )
        .map_err(|problem| untrusted(call, format!("queue request id: {problem}")))
    }

    /// Resolves a URL given by the provider (see [`resolve_provider_url`]); `fallback` when the
    /// provider gave none.
    fn follow_url(&self, call: &Call, given: Option<&str>, fallback: Url) -> Result<Url> {
        let Some(given) = given else {
            return Ok(fallback);
        };
        let url = resolve_provider_url(&self.inner.base_url, &self.inner.allowed_origins, given)
            .map_err(|reason| untrusted(call, reason))?;
        if url.as_str() != given {
            tracing::debug!(
                provider = self.inner.spec.id,
                endpoint = call.endpoint.id,
                "job URL on an allowed origin, re-rooted on the base URL"
            );
        }
        Ok(url)
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
        };
        let mut failures = 0_u32;
        loop {
            let now = Instant::now();
            if now >= job.deadline {
                return Err(self.job_timeout(call, job));
            }
            let timeout = spec.timeouts.request().min(job.deadline - now);
            let (message, wait) = match self
                .exchange(call, &job.lease, &request, timeout, false)
                .await?
                .step(provider, call.endpoint)
            {
                Step::Success {
                    payload,
                    content_type,
                } => {
                    return Ok((payload, content_type));
                }
                Step::RateLimited { failure, cooldown } => {
                    let cooldown = spec.retry.cooldown(cooldown);
                    job.lease.cool_down(Instant::now() + cooldown);
                    self.rate_limited(call, &job.lease, cooldown, false);
                    (failure.to_string(), cooldown.max(job.interval))
                }
                Step::Quarantine(failure) => {
                    job.lease.quarantine(&failure.to_string());
                    return Err(api_error(call.endpoint, failure));
                }
                Step::Retry {
                    failure,
                    retry_after,
                } => {
                    failures += 1;
                    let delay = spec.retry.retry_delay(retry_after).unwrap_or_else(|| {
                        backoff_delay(&spec.retry, failures - 1, &mut rand::rng())
                    });
                    (failure, delay.max(job.interval))
                }
                Step::Fail(error) => return Err(error),
            };
            if failures >= spec.retry.max_attempts.max(1) {
                return Err(self.exhausted(call, message));
            }
            if Instant::now() + wait >= job.deadline {
                return Err(self.job_timeout(call, job));
            }
            tracing::info!(
                provider, endpoint, key = job.lease.fingerprint(), job_id = %job.id,
                delay_ms = millis(wait), failure = %message, "job poll failed, retrying with the same key"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn wait_poll(&self, call: &Call, job: &JobTracker) -> Result<()> {
        if Instant::now() + job.interval >= job.deadline {
            return Err(self.job_timeout(call, job));
        }
        tokio::time::sleep(job.interval).await;
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

/// One call's own budgets, overriding the spec's retry policy for that call only (see
/// [`ProviderClient::call_with`]). Every field left `None` keeps the spec's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The whole call's budget, waits and retries included (`retry.deadline_ms`). A Lambda
    /// passes its remaining time. A call that cannot get a key within it fails at once.
    pub deadline: Option<Duration>,
    /// Longest total wait for a key (`retry.max_wait_ms`).
    pub max_wait: Option<Duration>,
    /// Attempts for transient failures (`retry.max_attempts`).
    pub max_attempts: Option<u32>,
}

impl CallOptions {
    /// The spec's budgets.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this deadline for the whole call.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// With this longest wait for a key.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// With this many attempts for transient failures (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
}

/// Bookkeeping of one call, for logs and telemetry.
struct Call {
    provider: &'static ProviderSpec,
    endpoint: &'static EndpointSpec,
    started: Instant,
    deadline: Instant,
    attempts: u32,
    status: Option<u16>,
    key: Option<String>,
    /// Time spent waiting for a key (in the admission queue).
    rate_waited: Duration,
    /// Longest total wait for a key.
    max_wait: Duration,
    /// Attempts for transient failures.
    max_attempts: u32,
}

impl Call {
    fn new(
        provider: &'static ProviderSpec,
        endpoint: &'static EndpointSpec,
        options: &CallOptions,
    ) -> Self {
        let started = Instant::now();
        let retry = &provider.retry;
        Self {
            provider,
            endpoint,
            started,
            deadline: started
                + options
                    .deadline
                    .unwrap_or(Duration::from_millis(retry.deadline_ms)),
            attempts: 0,
            status: None,
            key: None,
            rate_waited: Duration::ZERO,
            max_wait: options
                .max_wait
                .unwrap_or(Duration::from_millis(retry.max_wait_ms)),
            max_attempts: options.max_attempts.unwrap_or(retry.max_attempts).max(1),
        }
    }
}

struct Prepared {
    method: http::Method,
    url: Url,
    body: Option<Bytes>,
    /// Most bytes read from a successful answer.
    max_body: u64,
}

/// A successful exchange and the key that made it.
struct Delivered {
    payload: Bytes,
    content_type: Option<String>,
    lease: KeyLease,
}

enum Reply {
    Response {
        content_type: Option<String>,
        outcome: Outcome,
    },
    Network {
        retryable: bool,
        message: String,
    },
    /// A successful answer larger than the body limit (reading stopped there).
    TooLarge {
        limit: u64,
    },
}

/// What one exchange means to a retry loop. Calls and job polls share this reading of a reply;
/// they differ in how they treat rate limits, rejected keys and the wait before a retry.
enum Step {
    /// A successful response: the payload (envelope removed) and its content type.
    Success {
        payload: Bytes,
        content_type: Option<String>,
    },
    /// The key is rate limited; `cooldown` is the provider's reset hint, if any.
    RateLimited {
        failure: Failure,
        cooldown: Option<Duration>,
    },
    /// The key was rejected (invalid, out of quota).
    Quarantine(Failure),
    /// Worth another attempt: the provider is busy, the failure was transient, or the request
    /// failed on the network in a retryable way. `retry_after` is the provider's hint, if any.
    Retry {
        failure: String,
        retry_after: Option<Duration>,
    },
    /// A final error: the provider's refusal, or a network failure not worth retrying.
    Fail(Error),
}

impl Reply {
    /// Reads this reply to `endpoint` of `provider` as a [`Step`].
    fn step(self, provider: &'static str, endpoint: &'static EndpointSpec) -> Step {
        match self {
            Reply::Response {
                content_type,
                outcome,
            } => match outcome {
                Outcome::Success(payload) => Step::Success {
                    payload,
                    content_type,
                },
                Outcome::RateLimited { failure, cooldown } => {
                    Step::RateLimited { failure, cooldown }
                }
                Outcome::Quarantine(failure) => Step::Quarantine(failure),
                Outcome::Busy {
                    failure,
                    retry_after,
                }
                | Outcome::Transient {
                    failure,
                    retry_after,
                } => Step::Retry {
                    failure: failure.to_string(),
                    retry_after,
                },
                Outcome::Fatal(failure) => Step::Fail(api_error(endpoint, failure)),
            },
            Reply::Network {
                retryable: true,
                message,
            } => Step::Retry {
                failure: message,
                retry_after: None,
            },
            Reply::Network {
                retryable: false,
                message,
            } => Step::Fail(Error::Transport {
                provider,
                endpoint: endpoint.id,
                message,
            }),
            Reply::TooLarge { limit } => Step::Fail(Error::BodyTooLarge {
                provider,
                endpoint: endpoint.id,
                limit,
            }),
        }
    }
}

struct JobTracker {
    lease: KeyLease,
    id: String,
    started: Instant,
    deadline: Instant,
    interval: Duration,
}

#[derive(Deserialize)]
struct FalSubmit {
    request_id: String,
    status_url: Option<String>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct FalStatus {
    status: String,
    #[serde(default)]
    error: Option<Value>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct KlingTask {
    task_id: Option<Value>,
    task_status: Option<String>,
    task_status_msg: Option<String>,
    task_result: Option<Value>,
}

impl KlingTask {
    fn id(&self) -> Option<String> {
        match self.task_id.as_ref()? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn json_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The provider's request budget from OpenAI-style headers: `x-ratelimit-limit-requests`,
/// `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests` (a Go duration), all three
/// present and readable.
fn budget(headers: &http::HeaderMap) -> Option<(u32, u32, Duration)> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let limit = text("x-ratelimit-limit-requests")?.parse().ok()?;
    let remaining = text("x-ratelimit-remaining-requests")?.parse().ok()?;
    let reset = crate::classify::parse_reset_duration(text("x-ratelimit-reset-requests")?)?;
    Some((limit, remaining, reset))
}

/// An exchange that failed before any answer arrived.
fn network_reply(spec: &ProviderSpec, lease: &KeyLease, error: &reqwest::Error) -> Reply {
    // Closed after the request went out but before any answer: as ambiguous as a timeout.
    let unanswered = error.is_request() && !error.is_builder();
    let retryable =
        error.is_connect() || ((error.is_timeout() || unanswered) && spec.retry.retry_timeouts);
    let kind = if unanswered && !error.is_timeout() && !error.is_connect() {
        "connection closed before an answer"
    } else {
        network_kind(error)
    };
    Reply::Network {
        retryable,
        message: lease.redact(&format!("{kind}: {error}")),
    }
}

fn network_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect error"
    } else {
        "network error"
    }
}

/// How reading a body ended.
enum Body {
    /// The whole body, within the cap.
    Complete(Bytes),
    /// The body is longer than the cap (by its `Content-Length` or by what arrived); `read` is
    /// what was read, at most the cap.
    TooLarge { read: Bytes },
    /// The network failed (timeout, reset) after `read`.
    Failed { read: Bytes, error: reqwest::Error },
}

/// Reads `response`'s body, keeping at most `cap` bytes in memory whatever the provider sends
/// or announces: a `Content-Length` above the cap stops at once, and the buffer never grows
/// past the cap.
async fn read_body(response: &mut reqwest::Response, cap: u64) -> Body {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let announced = response
        .content_length()
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if announced.is_some_and(|n| n > cap) {
        return Body::TooLarge { read: Bytes::new() };
    }
    // Trust an announced length only for the first allocation, and only up to a modest size.
    let mut buf: Vec<u8> = Vec::with_capacity(announced.unwrap_or(0).min(cap).min(1 << 20));
    loop {
        match response.chunk().await {
            Ok(None) => return Body::Complete(Bytes::from(buf)),
            Ok(Some(chunk)) => {
                let room = cap - buf.len();
                if chunk.len() > room {
                    buf.extend_from_slice(&chunk[..room]);
                    return Body::TooLarge {
                        read: Bytes::from(buf),
                    };
                }
                if buf.capacity() - buf.len() < chunk.len() {
                    // Grow geometrically, but never past the cap.
                    let target = (buf.capacity().max(8 << 10) * 2)
                        .max(buf.len() + chunk.len())
                        .min(cap);
                    buf.reserve_exact(target - buf.len());
                }
                buf.extend_from_slice(&chunk);
            }
            Err(error) => {
                return Body::Failed {
                    read: Bytes::from(buf),
                    error,
                };
            }
        }
    }
}

/// Checks the path parameters of a request: an empty value, `.` or `..` would change the
/// shape of the path (URL parsers resolve dot segments), so they are refused before any
/// network call.
fn check_path_params(
    params: &[(&'static str, String)],
) -> std::result::Result<(), ValidationError> {
    for (name, value) in params {
        if let Some(problem) = path_segment_problem(value) {
            return Err(ValidationError::new(name, problem));
        }
    }
    Ok(())
}

/// Why `value` cannot be one path segment, if so.
fn path_segment_problem(value: &str) -> Option<&'static str> {
    match value {
        "" => Some("must not be empty (it is a path segment)"),
        "." | ".." => Some("must not be `.` or `..` (it is a path segment)"),
        _ => None,
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

/// Resolves `given`, a URL the provider sent back (fal's `status_url`, `response_url`), against
/// the configured `base`, and decides whether it may be followed with the key attached:
///
/// - parsed in full first (backslashes, scheme-relative `//host`, dot segments and
///   percent-encoding resolved the way every HTTP client resolves them);
/// - a URL with user info, or a scheme other than `http`/`https`, is refused;
/// - a URL on `base`'s origin (scheme, host, port) is followed as it is;
/// - a URL on one of `allowed` (the spec's `allowed_origins`) is re-rooted onto `base`: its
///   path and query appended to `base`'s path, the host never taken from the given URL;
/// - anything else is refused.
///
/// The result is always on `base`'s origin. The error names the refused origin (shortened).
pub fn resolve_provider_url(
    base: &Url,
    allowed: &[Origin],
    given: &str,
) -> std::result::Result<Url, String> {
    let shown = |url: &Url| shorten(&url.origin().ascii_serialization(), 100);
    let url = base
        .join(given.trim())
        .map_err(|e| format!("`{}` is not a URL ({e})", shorten(given, 100)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme `{}` is not http(s)",
            shorten(url.scheme(), 20)
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("URL on {} carries user info", shown(&url)));
    }
    let resolved = if url.origin() == base.origin() {
        url
    } else if allowed.contains(&url.origin()) {
        let mut rerooted = base.clone();
        let prefix = base.path().trim_end_matches('/');
        rerooted.set_path(&format!("{prefix}{}", url.path()));
        rerooted.set_query(url.query());
        rerooted.set_fragment(None);
        rerooted
    } else {
        return Err(format!(
            "origin {} is neither the base URL's ({}) nor one of the provider's allowed_origins",
            shown(&url),
            base.origin().ascii_serialization()
        ));
    };
    if resolved.origin() != base.origin() {
        return Err(format!(
            "URL resolves to {}, off the base URL",
            shown(&resolved)
        ));
    }
    Ok(resolved)
}

fn api_error(endpoint: &EndpointSpec, failure: Failure) -> Error {
    Error::Api {
        provider: endpoint.provider,
        endpoint: endpoint.id,
        status: failure.status,
        code: failure.code,
        message: failure.message,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `base` + `template` with `{name}` placeholders replaced by percent-encoded `params`, then
/// `query` appended.
pub(crate) fn build_url(
    base: &Url,
    template: &str,
    params: &[(&str, String)],
    query: &[(&str, String)],
) -> std::result::Result<Url, String> {
    let mut path = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| format!("unclosed `{{` in path `{template}`"))?;
        let name = &rest[open + 1..close];
        let value = params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no value for path parameter `{name}`"))?;
        if let Some(problem) = path_segment_problem(value) {
            return Err(format!("path parameter `{name}` {problem}"));
        }
        path.push_str(&rest[..open]);
        path.extend(utf8_percent_encode(value, PATH_PARAM));
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    let base = base.as_str().trim_end_matches('/');
    let mut url = Url::parse(&format!("{base}{path}")).map_err(|e| format!("bad URL: {e}"))?;
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_are_percent_encoded_and_query_appended() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        let url = build_url(
            &base,
            "/v1/text-to-speech/{voice_id}/x",
            &[("voice_id", "a b/c?d".into())],
            &[
                ("output_format", "mp3_44100_128".into()),
                ("q", "x&y".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/prefix/v1/text-to-speech/a%20b%2Fc%3Fd/x?output_format=mp3_44100_128&q=x%26y"
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Strings a hostile provider might put in a URL: hosts, ports, slashes of both kinds,
        /// `@`, dots, percent-escapes and schemes, in any order.
        fn hostile_url() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                Just("http://".to_owned()),
                Just("https://".to_owned()),
                Just("//".to_owned()),
                Just("\\\\".to_owned()),
                Just("/".to_owned()),
                Just("\\".to_owned()),
                Just("@".to_owned()),
                Just(":".to_owned()),
                Just("..".to_owned()),
                Just("%2F".to_owned()),
                Just("%2e%2e".to_owned()),
                Just("127.0.0.1:9".to_owned()),
                Just("127.0.0.1:8".to_owned()),
                Just("evil.test".to_owned()),
                Just("queue.fal.run".to_owned()),
                Just("?x=1".to_owned()),
                Just("#f".to_owned()),
                "[a-z0-9.]{0,6}".prop_map(|s| s),
            ];
            proptest::collection::vec(part, 0..8).prop_map(|parts| parts.concat())
        }

        proptest! {
            #[test]
            fn a_resolved_provider_url_is_always_on_the_base_origin(given in hostile_url()) {
                let base = Url::parse("http://127.0.0.1:9/prefix").unwrap();
                let allowed = [Url::parse("https://queue.fal.run").unwrap().origin()];
                if let Ok(url) = resolve_provider_url(&base, &allowed, &given) {
                    prop_assert_eq!(url.origin(), base.origin(), "{} -> {}", given, url);
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                }
            }

            #[test]
            fn a_path_param_never_changes_the_path_shape(value in "\\PC{1,12}") {
                let base = Url::parse("http://127.0.0.1:9").unwrap();
                match build_url(&base, "/v1/items/{id}/x", &[("id", value.clone())], &[]) {
                    Ok(url) => {
                        prop_assert_eq!(url.origin(), base.origin());
                        let segments: Vec<&str> = url.path_segments().unwrap().collect();
                        prop_assert_eq!(segments.len(), 4, "{}", url);
                        prop_assert_eq!(segments[0], "v1");
                        prop_assert_eq!(segments[3], "x");
                    }
                    Err(_) => prop_assert!(value == "." || value == ".."),
                }
            }
        }
    }

    #[test]
    fn missing_or_empty_path_params_are_errors() {
        let base = Url::parse("http://127.0.0.1:9").unwrap();
        assert!(
            build_url(&base, "/v/{id}", &[], &[])
                .unwrap_err()
                .contains("`id`")
        );
        assert!(build_url(&base, "/v/{id}", &[("id", String::new())], &[]).is_err());
        assert!(build_url(&base, "/v/{id", &[("id", "x".into())], &[]).is_err());
    }
}
