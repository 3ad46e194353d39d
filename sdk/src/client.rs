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
//! # Streams
//!
//! [`ProviderClient::stream`] sends a streaming audio endpoint's request (at its
//! [`StreamSpec::path`] when it has one) through the same admission, rotation and retry loop,
//! up to a 2xx's headers; the request timeout covers only the wait for them. The body is then
//! handed to the caller as an [`AudioStream`], chunk by chunk: bounded by the stream's idle
//! timeout (silence while the caller waits) and its `max_bytes`, decoded from server-sent
//! events when the answer is `text/event-stream` and the spec names its `events`. Any failure
//! after the headers ends the stream with [`Error::Stream`] and is never replayed. The stream
//! holds its key until it ends; dropping it cancels the request and releases the key. Its one
//! metric carries the time to the first byte; a stream dropped before its end is recorded as
//! cancelled, which is no provider failure.
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
//!
//! # Layout
//!
//! This file holds the effects: admission, sending, sleeping, logging and telemetry. The
//! decisions between them are pure functions in `engine` (tested without a server); the one
//! HTTP exchange goes through the `transport` seam (reqwest in production, scripted answers in
//! unit tests); `jobs` follows fal queue requests and Kling tasks; `url` renders paths and
//! vets URLs given by providers.
//!
//! [`MESSAGE_LIMIT`]: crate::classify::MESSAGE_LIMIT
//! [`JobFlow::FalQueue`]: crate::spec::JobFlow::FalQueue
//! [`JobFlow::KlingTask`]: crate::spec::JobFlow::KlingTask

mod engine;
mod jobs;
mod sse;
mod streaming;
mod transport;
mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderName, HeaderValue};
use reqwest::Url;
use tokio::time::Instant;
use tracing::Instrument;

use self::engine::{Attempt, CallDecision, CallRetry, Stop};
pub use self::jobs::{JobState, JobTicket};
use self::streaming::{AudioFlow, StreamEnd};
use self::transport::{Answer, Outgoing, ReqwestTransport, Transport};
pub(crate) use self::url::build_url;
use self::url::check_path_params;
pub use self::url::resolve_provider_url;
use crate::admission::{Admission, QueuePlace, Refusal};
use crate::auth;
use crate::classify::{Failure, classify_with, shorten};
use crate::endpoint::{Audio, DecodeError, Endpoint, ResponseBody};
use crate::error::{Error, Result, StreamFailure};
use crate::keys::{KeyLease, KeyPool};
use crate::spec::{EndpointSpec, ProviderSpec, ResponseSpec, StreamSpec};
use crate::stream::AudioStream;
use crate::telemetry::{CallMetric, RateLimitEvent, Telemetry};

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
    /// The URL of each endpoint whose path has no placeholder, built once: most calls clone
    /// it instead of rendering a path onto the base. A provider has a handful of endpoints, so
    /// a scan of short paths beats hashing one.
    fixed_urls: Vec<(&'static str, Url)>,
    /// The spec's `allowed_origins`, parsed.
    allowed_origins: Vec<::url::Origin>,
    /// Why this provider cannot be called (an unusable base URL), if so: every call fails
    /// with this [`Error::Config`] message before any network call, other providers unaffected.
    unusable: Option<String>,
    /// Calls waiting for a key, in arrival order.
    admission: Admission,
    /// Calls shed by admission before any attempt (see [`ProviderClient::shed_calls`]).
    shed: AtomicU64,
    transport: Arc<dyn Transport>,
    telemetry: Arc<dyn Telemetry>,
}

/// The URL of each of `spec`'s endpoints whose path has no `{param}`, on `base_url`.
fn fixed_urls(spec: &'static ProviderSpec, base_url: &Url) -> Vec<(&'static str, Url)> {
    spec.endpoints
        .iter()
        .filter(|e| !e.path.contains('{'))
        .filter_map(|e| Some((e.path, build_url(base_url, e.path, &[], &[]).ok()?)))
        .collect()
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
        Self::with_transport(
            spec,
            pool,
            base_url,
            Arc::new(ReqwestTransport(http)),
            telemetry,
        )
    }

    /// [`new`](Self::new) sending through `transport`.
    fn with_transport(
        spec: &'static ProviderSpec,
        pool: KeyPool,
        base_url: &str,
        transport: Arc<dyn Transport>,
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
        let fixed_urls = fixed_urls(spec, &base_url);
        Ok(Self {
            inner: Arc::new(ClientInner {
                spec,
                pool,
                base_url,
                fixed_urls,
                allowed_origins,
                unusable: None,
                admission: Admission::new(spec.retry.max_queue as usize),
                shed: AtomicU64::new(0),
                transport,
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
                fixed_urls: Vec::new(),
                allowed_origins: Vec::new(),
                unusable: Some(reason),
                admission: Admission::new(1),
                shed: AtomicU64::new(0),
                transport: Arc::new(ReqwestTransport(http)),
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
    pub fn call<E: Endpoint>(&self, request: E) -> impl Future<Output = Result<E::Output>> {
        self.call_owned(request, CallOptions::default())
    }

    /// [`call`](Self::call) with this call's own budgets (a deadline, a longest wait for a
    /// key, attempts) instead of the spec's, e.g. a Lambda's remaining time as the deadline.
    pub fn call_with<E: Endpoint>(
        &self,
        request: E,
        options: &CallOptions,
    ) -> impl Future<Output = Result<E::Output>> {
        self.call_owned(request, *options)
    }

    /// [`call_with`](Self::call_with) with the options by value: the one future both return.
    async fn call_owned<E: Endpoint>(&self, request: E, options: CallOptions) -> Result<E::Output> {
        let endpoint = &E::SPEC;
        self.admissible(&request)?;
        let span = tracing::info_span!(
            "media_sdk.call",
            provider = endpoint.provider,
            endpoint = endpoint.id
        );
        let mut call = Call::new(self.inner.spec, endpoint, &options);
        // The call's steps are awaited here, not in a nested future of their own; the span
        // covers the exchanges and a job's polls, where every event but the last is logged.
        // (No `?` from here on: every outcome goes through `finish`.)
        let delivered = match self.prepare_whole(&request, endpoint) {
            Ok(prepared) => {
                self.send(&mut call, &prepared)
                    .instrument(span.clone())
                    .await
            }
            Err(error) => Err(error),
        };
        let body = match delivered {
            Ok(reply) => match endpoint.response {
                // Boxed: a job's polling state would otherwise be carried by every call.
                ResponseSpec::Job(job) => {
                    Box::pin(self.follow_job(&mut call, job, reply).instrument(span)).await
                }
                response => buffered_body(endpoint, response, reply),
            },
            Err(error) => Err(error),
        };
        let result = body.and_then(|body| {
            E::decode(body).map_err(|source| Error::Decode {
                provider: endpoint.provider,
                endpoint: endpoint.id,
                source,
            })
        });
        self.finish(&call, result.as_ref().err());
        result
    }

    /// Whether `request` may be sent at all: this client is usable and the request is valid
    /// (its limits and its path parameters). Checked before any key is drawn.
    fn admissible<E: Endpoint>(&self, request: &E) -> Result<()> {
        if let Some(reason) = &self.inner.unusable {
            return Err(Error::Config(reason.clone()));
        }
        request
            .validate()
            .and_then(|()| check_path_params(&request.path_params()))
            .map_err(|source| Error::Invalid {
                provider: E::SPEC.provider,
                endpoint: E::SPEC.id,
                source,
            })
    }

    /// Sends `request` to the endpoint's streaming variant and returns its audio as it arrives
    /// (see [`AudioStream`]).
    pub async fn stream<E: Endpoint<Output = Audio>>(&self, request: E) -> Result<AudioStream> {
        self.stream_with(request, &CallOptions::default()).await
    }

    /// [`stream`](Self::stream) with this call's own budgets.
    pub async fn stream_with<E: Endpoint<Output = Audio>>(
        &self,
        request: E,
        options: &CallOptions,
    ) -> Result<AudioStream> {
        let endpoint = &E::SPEC;
        let ResponseSpec::Audio {
            content_type: default_type,
            stream: Some(stream),
        } = endpoint.response
        else {
            return Err(Error::Config(format!(
                "{}/{}: the endpoint does not stream (no `stream` in providers.yaml)",
                endpoint.provider, endpoint.id
            )));
        };
        self.admissible(&request)?;
        let span = tracing::info_span!(
            "media_sdk.stream",
            provider = endpoint.provider,
            endpoint = endpoint.id
        );
        let mut call = Call::new(self.inner.spec, endpoint, options);
        let opened = self
            .open(&request, &mut call, &stream)
            .instrument(span)
            .await;
        let delivered = match opened {
            Ok(delivered) => delivered,
            Err(error) => {
                self.finish(&call, Some(&error));
                return Err(error);
            }
        };
        let Delivered {
            content_type,
            lease,
            open: Some(answer),
            ..
        } = delivered
        else {
            let error = Error::Transport {
                provider: endpoint.provider,
                endpoint: endpoint.id,
                message: "the answer's body was read instead of streamed".to_owned(),
            };
            self.finish(&call, Some(&error));
            return Err(error);
        };
        if let Some(announced) = answer.content_length.filter(|&n| n > stream.max_bytes) {
            let error = Error::Stream {
                provider: endpoint.provider,
                endpoint: endpoint.id,
                failure: StreamFailure::TooLarge,
                received_bytes: 0,
                message: format!(
                    "the provider announced {announced} bytes, more than {}",
                    stream.max_bytes
                ),
            };
            self.finish(&call, Some(&error));
            return Err(error);
        }
        let event_stream = content_type
            .as_deref()
            .is_some_and(|t| is_event_stream(t) && stream.events.is_some());
        let audio_type = if event_stream {
            default_type.to_owned()
        } else {
            content_type.unwrap_or_else(|| default_type.to_owned())
        };
        let flow = AudioFlow::new(
            self.clone(),
            call,
            lease,
            answer.body,
            &stream,
            event_stream,
            answer.content_length,
        );
        Ok(AudioStream::new(Some(audio_type), flow))
    }

    /// Sends a streaming request until a 2xx's headers are in (keys, rotation, retries as for
    /// a buffered call).
    async fn open<E: Endpoint>(
        &self,
        request: &E,
        call: &mut Call,
        stream: &StreamSpec,
    ) -> Result<Delivered> {
        let endpoint = call.endpoint;
        let path = stream.path.unwrap_or(endpoint.path);
        let prepared = self.prepare(request, endpoint, path, Receive::Headers, stream.max_bytes)?;
        self.send(call, &prepared).await
    }

    /// `request` ready to send to `path` with any key.
    fn prepare<E: Endpoint>(
        &self,
        request: &E,
        endpoint: &'static EndpointSpec,
        path: &str,
        receive: Receive,
        max_body: u64,
    ) -> Result<Prepared> {
        let query = request.query_params();
        let fixed = self.inner.fixed_urls.iter().find(|(p, _)| *p == path);
        let url = match fixed {
            Some((_, url)) if query.is_empty() => url.clone(),
            _ => build_url(&self.inner.base_url, path, &request.path_params(), &query).map_err(
                |message| {
                    Error::Config(format!("{}/{}: {message}", endpoint.provider, endpoint.id))
                },
            )?,
        };
        let method = endpoint.method.as_http();
        let body = if !endpoint.method.sends_body() {
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
        Ok(Prepared {
            method,
            url,
            body,
            max_body,
            receive,
        })
    }

    /// `request` ready to send to its endpoint's own path, its answer read whole up to the
    /// endpoint's body limit: a buffered call, or a job's submission.
    fn prepare_whole<E: Endpoint>(
        &self,
        request: &E,
        endpoint: &'static EndpointSpec,
    ) -> Result<Prepared> {
        self.prepare(
            request,
            endpoint,
            endpoint.path,
            Receive::Whole,
            endpoint.body_limit(&self.inner.spec.body_limits),
        )
    }

    fn finish(&self, call: &Call, error: Option<&Error>) {
        let latency_ms = millis(call.started.elapsed());
        self.log_end(call, latency_ms, error);
        // A call shed by admission (`RateLimited` before any attempt) never reached the
        // provider: counted (`shed_calls`) and logged, not a provider failure.
        let reached_provider =
            call.attempts > 0 || matches!(error, Some(Error::KeysExhausted { .. }));
        if reached_provider {
            self.inner
                .telemetry
                .record_call(call_metric(call, latency_ms, error));
        }
    }

    /// Records the end of a stream that was opened (its headers arrived): once, with its time
    /// to first byte; a cancelled one is neither a success nor a failure.
    fn finish_stream(&self, call: &Call, ttfb: Option<Duration>, end: StreamEnd<'_>) {
        let latency_ms = millis(call.started.elapsed());
        let ttfb_ms = ttfb.map(millis);
        let error = match end {
            StreamEnd::Completed => None,
            StreamEnd::Failed(error) => Some(error),
            StreamEnd::Cancelled => {
                let key = call.key.as_deref().unwrap_or("-");
                tracing::info!(
                    provider = call.provider.id,
                    endpoint = call.endpoint.id,
                    key,
                    latency_ms,
                    ttfb_ms,
                    attempt = call.attempts,
                    "stream cancelled by the caller"
                );
                None
            }
        };
        if !matches!(end, StreamEnd::Cancelled) {
            self.log_end(call, latency_ms, error);
        }
        self.inner.telemetry.record_call(CallMetric {
            ttfb_ms,
            success: matches!(end, StreamEnd::Completed),
            cancelled: matches!(end, StreamEnd::Cancelled),
            credits: if matches!(end, StreamEnd::Completed) {
                call.credits
            } else {
                0
            },
            ..call_metric(call, latency_ms, error)
        });
    }

    fn log_end(&self, call: &Call, latency_ms: u64, error: Option<&Error>) {
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
    }

    /// One HTTP exchange with `lease`'s key, presented as `auth`, read and classified. The
    /// caller counts the attempt (a call does, a job poll does not).
    async fn exchange(
        &self,
        call: &mut Call,
        lease: &KeyLease,
        req: &Prepared,
        auth: (HeaderName, HeaderValue),
        timeout: Duration,
    ) -> (Attempt, Option<Answer>) {
        let spec = self.inner.spec;
        call.key = Some(lease.fingerprint().to_owned());
        let started = Instant::now();
        let transport = &self.inner.transport;
        let sent = match req.receive {
            Receive::Whole => transport.send(req.outgoing(auth), timeout).await,
            Receive::Headers => transport.send_streaming(req.outgoing(auth), timeout).await,
        };
        let (attempt, open) = match sent {
            Err(error) => (
                Attempt::Unanswered {
                    kind: error.kind,
                    message: lease.redact(&format!("{}: {error}", error.kind.label())),
                },
                None,
            ),
            // The head and the classification are sync: only the body's reading is awaited.
            Ok(mut answer) => match self.answer_head(call, lease, req, &mut answer) {
                Head::Open { content_type } => (Attempt::Opened { content_type }, Some(answer)),
                Head::Read(head) => {
                    let body = read_body(&mut answer, head.cap).await;
                    (self.read_attempt(lease, head, body), None)
                }
            },
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
        (attempt, open)
    }

    /// What an answer's headers say, before its body is read: a 2xx whose body goes to the
    /// caller as a stream is handed back unread; otherwise how much of the body to read.
    fn answer_head(
        &self,
        call: &mut Call,
        lease: &KeyLease,
        req: &Prepared,
        answer: &mut Answer,
    ) -> Head {
        let spec = self.inner.spec;
        let status = answer.status.as_u16();
        let headers = std::mem::take(&mut answer.headers);
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| shorten(v, 200));
        call.status = Some(status);
        let success = (200..300).contains(&status);
        match budget(&headers) {
            Some((limit, remaining, reset)) => lease.observe_budget(limit, remaining, reset),
            None if success => lease.observe_success(),
            None => {}
        }
        if success && matches!(req.receive, Receive::Headers) {
            return Head::Open { content_type };
        }
        // Once a 2xx's headers are here the provider has acted: whatever happens to the body
        // (a cap, a timeout, a reset), it is never replayed.
        let cap = if success {
            req.max_body
        } else {
            spec.body_limits.error_bytes
        };
        Head::Read(ReadHead {
            status,
            success,
            headers,
            content_type,
            cap,
        })
    }

    /// The attempt an answer makes, its headers in `head` and its body read.
    fn read_attempt(&self, lease: &KeyLease, head: ReadHead, body: Body) -> Attempt {
        let spec = self.inner.spec;
        let ReadHead {
            status,
            success,
            headers,
            content_type,
            cap,
        } = head;
        let classify = |body: &Bytes| {
            classify_with(spec, status, &headers, body, SystemTime::now(), &|text| {
                lease.redact(text)
            })
        };
        match body {
            Body::Complete(body) => Attempt::Answered {
                outcome: classify(&body),
                content_type,
            },
            Body::TooLarge { .. } if success => Attempt::TooLarge { limit: cap },
            Body::Failed { error, .. } if success => Attempt::Interrupted {
                message: lease.redact(&format!(
                    "{} after the provider answered HTTP {status}: {error}",
                    error.kind.label()
                )),
            },
            // An error answer cut short (by the cap or the network) is still classified by its
            // status and what was read of its body.
            Body::TooLarge { read } | Body::Failed { read, .. } => Attempt::Answered {
                outcome: classify(&read),
                content_type,
            },
        }
    }

    /// Sends the request, rotating keys on rate limits and retrying transient failures.
    async fn send(&self, call: &mut Call, req: &Prepared) -> Result<Delivered> {
        let spec = self.inner.spec;
        let pool = &self.inner.pool;
        let (provider, endpoint) = (spec.id, call.endpoint.id);
        let mut place = QueuePlace::Arrival;
        loop {
            // A free key with nobody waiting is taken without entering the queue's future.
            let lease = match self.inner.admission.try_acquire(pool) {
                Some(lease) => lease,
                None => self.admit(call, place).await?,
            };
            place = QueuePlace::Front;
            let timeout = call
                .retry
                .attempt_timeout(call.started.elapsed())
                .map_err(|stop| self.stop_error(call, stop))?;
            let header = auth::header(spec.auth, &lease, auth::unix_now())?;
            call.attempts += 1;
            let (attempt, open) = self.exchange(call, &lease, req, header, timeout).await;
            match call
                .retry
                .decide(attempt, call.started.elapsed(), &mut full_jitter)
            {
                CallDecision::Done {
                    payload,
                    content_type,
                } => {
                    return Ok(Delivered {
                        payload,
                        content_type,
                        lease,
                        open: None,
                    });
                }
                CallDecision::Opened { content_type } => {
                    return Ok(Delivered {
                        payload: Bytes::new(),
                        content_type,
                        lease,
                        open,
                    });
                }
                CallDecision::Rotate { cooldown, failure } => {
                    lease.cool_down(Instant::now() + cooldown);
                    lease.observe_rate_limited(cooldown);
                    let next = if pool.has_available() {
                        NextKey::Another
                    } else {
                        NextKey::NextFree
                    };
                    self.record_rate_limit(call, &lease, cooldown, next);
                    tracing::info!(
                        provider,
                        endpoint,
                        key = lease.fingerprint(),
                        status = failure.status,
                        cooldown_ms = millis(cooldown),
                        "{}",
                        match next {
                            NextKey::Another => "rate limited key, rotated to another key",
                            NextKey::NextFree | NextKey::Same =>
                                "rate limited key, waiting for the next free key",
                        }
                    );
                    // Back to the front of the queue: the next free key (this one after its
                    // cool-down, or another) is handed over by admission, paced, within the
                    // call's wait budget.
                }
                CallDecision::Quarantine(failure) => {
                    lease.quarantine(&failure.to_string());
                    tracing::warn!(
                        provider,
                        endpoint,
                        key = lease.fingerprint(),
                        status = failure.status,
                        code = failure.code.as_deref(),
                        "key rejected and quarantined, rotating"
                    );
                }
                CallDecision::Backoff { delay } => {
                    drop(lease);
                    tracing::info!(
                        provider, endpoint, attempt = call.attempts, delay_ms = millis(delay),
                        failure = %call.retry.last(), "transient failure, backing off"
                    );
                    tokio::time::sleep(delay).await;
                }
                CallDecision::Stop(stop) => return Err(self.stop_error(call, stop)),
            }
        }
    }

    /// A key for the next attempt of `call`, through the provider's admission queue: waits (in
    /// arrival order, or at the front for a call already served once) within what is left of
    /// the call's `max_wait` and its deadline, or fails fast with [`Error::RateLimited`] when
    /// that cannot be met.
    async fn admit(&self, call: &mut Call, place: QueuePlace) -> Result<KeyLease> {
        let pool = &self.inner.pool;
        let (provider, endpoint) = (call.provider.id, call.endpoint.id);
        let started = Instant::now();
        let until = call.started
            + call
                .retry
                .wait_for_key_until(started.duration_since(call.started));
        let result = self.inner.admission.acquire(pool, until, place).await;
        call.retry.waited_for_key(started.elapsed());
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

    /// The error `stop` ends `call` with.
    fn stop_error(&self, call: &Call, stop: Stop) -> Error {
        let (provider, endpoint) = (call.provider.id, call.endpoint.id);
        let exhausted = |last| Error::RetriesExhausted {
            provider,
            endpoint,
            attempts: call.attempts,
            last,
        };
        match stop {
            Stop::Refused(failure) => api_error(call.endpoint, failure),
            Stop::Network(message) => Error::Transport {
                provider,
                endpoint,
                message,
            },
            Stop::TooLarge { limit } => Error::BodyTooLarge {
                provider,
                endpoint,
                limit,
            },
            Stop::AttemptsExhausted { last } => exhausted(last),
            Stop::DeadlineReached { last } => exhausted(format!("{last} (deadline reached)")),
        }
    }

    fn record_rate_limit(&self, call: &Call, lease: &KeyLease, cooldown: Duration, next: NextKey) {
        self.inner.telemetry.record_rate_limit(RateLimitEvent {
            provider: call.provider.id,
            health_id: call.endpoint.health_id,
            key_fingerprint: lease.fingerprint().to_owned(),
            cooldown,
            rotated: matches!(next, NextKey::Another),
            at: SystemTime::now(),
        });
    }
}

/// Which key a rate-limited call goes on with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextKey {
    /// Another key is free: the call rotates to it at once.
    Another,
    /// No key is free: the call waits for the next one.
    NextFree,
    /// A job poll keeps the key that owns the job.
    Same,
}

/// Full jitter from the thread's random generator (see [`crate::retry::full_jitter`]).
fn full_jitter(cap: Duration) -> Duration {
    crate::retry::full_jitter(cap, &mut rand::rng())
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
    /// Credits the call costs when it succeeds (declared by the media capabilities), recorded
    /// in its metric for per-key usage and budgets. `None`: 0.
    pub credits: Option<u32>,
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

    /// Costing this many credits when it succeeds (recorded in the call's metric).
    pub fn credits(mut self, credits: u32) -> Self {
        self.credits = Some(credits);
        self
    }
}

/// Bookkeeping of one call, for logs and telemetry, and its retry state.
struct Call {
    provider: &'static ProviderSpec,
    endpoint: &'static EndpointSpec,
    started: Instant,
    /// HTTP attempts of the request itself (rate-limited ones included, job polls not).
    attempts: u32,
    status: Option<u16>,
    key: Option<String>,
    /// Credits the call costs when it succeeds.
    credits: u32,
    /// Budgets and what the call has used of them.
    retry: CallRetry,
}

impl Call {
    fn new(
        provider: &'static ProviderSpec,
        endpoint: &'static EndpointSpec,
        options: &CallOptions,
    ) -> Self {
        let retry = &provider.retry;
        Self {
            provider,
            endpoint,
            started: Instant::now(),
            attempts: 0,
            status: None,
            key: None,
            credits: options.credits.unwrap_or(0),
            retry: CallRetry::new(
                *retry,
                provider.timeouts.request(),
                options
                    .deadline
                    .unwrap_or(Duration::from_millis(retry.deadline_ms)),
                options
                    .max_wait
                    .unwrap_or(Duration::from_millis(retry.max_wait_ms)),
                options.max_attempts.unwrap_or(retry.max_attempts),
            ),
        }
    }
}

/// A request ready to send with any key.
struct Prepared {
    method: http::Method,
    url: Url,
    body: Option<Bytes>,
    /// Most bytes read from a successful answer.
    max_body: u64,
    /// How much of a successful answer an attempt reads.
    receive: Receive,
}

/// How much of a successful (2xx) answer an attempt reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receive {
    /// The whole body, up to the cap, within the request timeout (buffered calls).
    Whole,
    /// The headers only, within the request timeout; the body goes to the caller unread.
    Headers,
}

impl Prepared {
    /// This request with `auth` attached, for the transport.
    fn outgoing(&self, (name, value): (HeaderName, HeaderValue)) -> Outgoing {
        // Room for what reqwest adds (user agent, accept) as well, so the map never regrows.
        let mut headers = http::HeaderMap::with_capacity(6);
        headers.insert(name, value);
        if self.body.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Outgoing {
            method: self.method.clone(),
            url: self.url.clone(),
            headers,
            body: self.body.clone(),
        }
    }
}

/// A successful exchange and the key that made it.
struct Delivered {
    payload: Bytes,
    content_type: Option<String>,
    lease: KeyLease,
    /// The unread answer of a stream ([`Receive::Headers`]).
    open: Option<Answer>,
}

/// Whether `content_type` is `text/event-stream` (parameters aside).
fn is_event_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// The metric of `call`, ended after `latency_ms` with `error` (a buffered call's: no time to
/// first byte, never cancelled).
fn call_metric(call: &Call, latency_ms: u64, error: Option<&Error>) -> CallMetric {
    CallMetric {
        health_id: call.endpoint.health_id,
        provider: call.provider.id,
        endpoint: call.endpoint.id,
        latency_ms,
        ttfb_ms: None,
        success: error.is_none(),
        cancelled: false,
        status: call.status,
        error_class: error.map(Error::class),
        attempts: call.attempts,
        key_fingerprint: call.key.clone(),
        credits: if error.is_none() { call.credits } else { 0 },
        at: SystemTime::now(),
    }
}

/// The provider's request budget from OpenAI-style headers: `x-ratelimit-limit-requests`,
/// `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests` (a Go duration), all three
/// present and readable.
fn budget(headers: &http::HeaderMap) -> Option<(u32, u32, Duration)> {
    // Names made once, not parsed from text on every answer.
    const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
    const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
    const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
    let text = |name: &HeaderName| headers.get(name)?.to_str().ok().map(str::trim);
    let limit = text(&LIMIT)?.parse().ok()?;
    let remaining = text(&REMAINING)?.parse().ok()?;
    let reset = crate::classify::parse_reset_duration(text(&RESET)?)?;
    Some((limit, remaining, reset))
}

/// How reading a body ended.
enum Body {
    /// The whole body, within the cap.
    Complete(Bytes),
    /// The body is longer than the cap (by its `Content-Length` or by what arrived); `read` is
    /// what was read, at most the cap.
    TooLarge { read: Bytes },
    /// The network failed (timeout, reset) after `read`.
    Failed {
        read: Bytes,
        error: transport::TransportError,
    },
}

/// The body of a buffered call's answer `reply` (a `response` that is not a job): the payload
/// as it came, or for audio sent as server-sent events (OpenAI's `stream_format: sse` on the
/// buffered path) the audio, never the event text.
fn buffered_body(
    endpoint: &EndpointSpec,
    response: ResponseSpec,
    reply: Delivered,
) -> Result<ResponseBody> {
    match response {
        ResponseSpec::Audio {
            content_type,
            stream:
                Some(StreamSpec {
                    events: Some(names),
                    ..
                }),
        } if reply.content_type.as_deref().is_some_and(is_event_stream) => {
            let bytes = streaming::event_body_audio(&reply.payload, &names).map_err(|message| {
                Error::Decode {
                    provider: endpoint.provider,
                    endpoint: endpoint.id,
                    source: DecodeError(message),
                }
            })?;
            Ok(ResponseBody {
                bytes,
                content_type: Some(content_type.to_owned()),
                job_id: None,
            })
        }
        _ => Ok(ResponseBody {
            bytes: reply.payload,
            content_type: reply.content_type,
            job_id: None,
        }),
    }
}

/// What an answer's headers say (see [`ProviderClient::answer_head`]).
enum Head {
    /// A 2xx whose body goes to the caller as a stream, unread.
    Open {
        /// The answer's content type.
        content_type: Option<String>,
    },
    /// The body is to be read, up to `cap` bytes, then classified.
    Read(ReadHead),
}

/// An answer's head, kept while its body is read.
struct ReadHead {
    status: u16,
    success: bool,
    headers: http::HeaderMap,
    content_type: Option<String>,
    /// How much of the body to read: the endpoint's limit for a 2xx, the error limit otherwise.
    cap: u64,
}

/// Reads `answer`'s body, keeping at most `cap` bytes in memory whatever the provider sends
/// or announces: a `Content-Length` above the cap stops at once, and the buffer never grows
/// past the cap.
async fn read_body(answer: &mut Answer, cap: u64) -> Body {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let announced = answer
        .content_length
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if announced.is_some_and(|n| n > cap) {
        return Body::TooLarge { read: Bytes::new() };
    }
    let mut read = Gathered::new(announced, cap);
    loop {
        match answer.body.next().await {
            None => return Body::Complete(read.into_bytes()),
            Some(Ok(chunk)) => {
                if !read.push(chunk) {
                    return Body::TooLarge {
                        read: read.into_bytes(),
                    };
                }
            }
            Some(Err(error)) => {
                return Body::Failed {
                    read: read.into_bytes(),
                    error,
                };
            }
        }
    }
}

/// The chunks of a body read so far, at most `cap` bytes. A body that arrives in one chunk
/// (the usual case) is kept as it came, without a copy; from a second chunk on they are
/// gathered in one buffer that grows geometrically but never past the cap.
struct Gathered {
    cap: usize,
    /// The announced length, trusted only for the buffer's first allocation, and only up to a
    /// modest size.
    announced: Option<usize>,
    first: Bytes,
    /// The whole body so far, once a second chunk has arrived.
    buf: Option<Vec<u8>>,
}

impl Gathered {
    fn new(announced: Option<usize>, cap: usize) -> Self {
        Self {
            cap,
            announced,
            first: Bytes::new(),
            buf: None,
        }
    }

    fn len(&self) -> usize {
        self.buf.as_ref().map_or(self.first.len(), Vec::len)
    }

    /// Adds `chunk`, or what of it fits under the cap: `false` when it did not all fit.
    fn push(&mut self, mut chunk: Bytes) -> bool {
        let room = self.cap - self.len();
        let over = chunk.len() > room;
        if over {
            // Only the bytes under the cap are kept, not the rest of the chunk's allocation.
            chunk = Bytes::copy_from_slice(&chunk[..room]);
        }
        if self.buf.is_none() && self.first.is_empty() {
            self.first = chunk;
        } else if !chunk.is_empty() {
            let first = &self.first;
            let (cap, announced) = (self.cap, self.announced);
            let buf = self.buf.get_or_insert_with(|| {
                let initial = announced.unwrap_or(0).min(cap).min(1 << 20);
                let mut buf = Vec::with_capacity(initial.max(first.len()));
                buf.extend_from_slice(first);
                buf
            });
            if buf.capacity() - buf.len() < chunk.len() {
                // Grow geometrically, but never past the cap.
                let target = (buf.capacity().max(8 << 10) * 2)
                    .max(buf.len() + chunk.len())
                    .min(cap);
                buf.reserve_exact(target - buf.len());
            }
            buf.extend_from_slice(&chunk);
        }
        !over
    }

    fn into_bytes(self) -> Bytes {
        match self.buf {
            Some(buf) => Bytes::from(buf),
            None => self.first,
        }
    }
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

#[cfg(test)]
mod tests {
    //! Whole calls through [`ProviderClient::call`] against scripted answers: no server, no
    //! socket.

    use std::sync::Mutex;

    use super::transport::Scripted;
    use super::*;
    use crate::client::transport::NetworkErrorKind;
    use crate::generated::{kling, openai};
    use crate::telemetry::{CallMetric, RateLimitEvent};

    /// Telemetry that keeps everything, to look at.
    #[derive(Default)]
    struct Kept {
        calls: Mutex<Vec<CallMetric>>,
        rate_limits: Mutex<Vec<RateLimitEvent>>,
    }

    impl Telemetry for Kept {
        fn record_call(&self, metric: CallMetric) {
            self.calls.lock().unwrap().push(metric);
        }
        fn record_rate_limit(&self, event: RateLimitEvent) {
            self.rate_limits.lock().unwrap().push(event);
        }
    }

    fn client(
        spec: &'static ProviderSpec,
        keys: &[&str],
        script: Scripted,
    ) -> (ProviderClient, Arc<Scripted>, Arc<Kept>) {
        let script = Arc::new(script);
        let kept = Arc::new(Kept::default());
        let pool = KeyPool::from_keys(spec, keys.iter().copied()).unwrap();
        let client = ProviderClient::with_transport(
            spec,
            pool,
            "http://provider.test",
            script.clone(),
            kept.clone(),
        )
        .unwrap();
        (client, script, kept)
    }

    fn speech() -> openai::SpeechRequest {
        openai::SpeechRequest::new("hello")
    }

    fn authorization(sent: &transport::Sent) -> String {
        sent.headers[http::header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_key_rotates_to_another_key_at_once() {
        let script = Scripted::new()
            .answer(
                429,
                &[("retry-after-ms", "5000")],
                r#"{"error":{"message":"slow down"}}"#,
            )
            .answer(200, &[("content-type", "audio/mpeg")], "ID3 audio");
        let (client, script, kept) = client(&openai::PROVIDER, &["sk-key-a", "sk-key-b"], script);
        let audio = client.call(speech()).await.unwrap();
        assert_eq!(&audio.bytes[..], b"ID3 audio");
        let sent = script.sent();
        assert_eq!(sent.len(), 2);
        assert_ne!(
            authorization(&sent[0]),
            authorization(&sent[1]),
            "another key"
        );
        assert_eq!(sent[0].method, http::Method::POST);
        assert_eq!(sent[0].uri, "http://provider.test/v1/audio/speech");
        let retry = &openai::PROVIDER.retry;
        let request_ms = openai::PROVIDER.timeouts.request_ms.min(retry.deadline_ms);
        assert_eq!(sent[0].timeout, Duration::from_millis(request_ms));
        let rate_limits = kept.rate_limits.lock().unwrap();
        assert_eq!(rate_limits.len(), 1);
        assert!(rate_limits[0].rotated);
        assert_eq!(rate_limits[0].cooldown, Duration::from_millis(5_000));
        let calls = kept.calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        assert!(calls[0].success);
        assert_eq!(calls[0].attempts, 2);
        assert_eq!(calls[0].status, Some(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_503_is_retried_after_a_backoff() {
        let script = Scripted::new()
            .answer(503, &[], "overloaded")
            .answer(200, &[], "audio");
        let (client, script, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let started = Instant::now();
        let audio = client.call(speech()).await.unwrap();
        assert_eq!(&audio.bytes[..], b"audio");
        assert_eq!(script.sent().len(), 2);
        // Full jitter under the first backoff bound (base_delay_ms).
        assert!(started.elapsed() <= Duration::from_millis(openai::PROVIDER.retry.base_delay_ms));
        assert_eq!(kept.calls.lock().unwrap()[0].attempts, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_stop_after_max_attempts() {
        let mut script = Scripted::new();
        for _ in 0..10 {
            script = script.answer(503, &[], "overloaded");
        }
        let (client, script, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let error = client.call(speech()).await.unwrap_err();
        let attempts = openai::PROVIDER.retry.max_attempts;
        assert!(
            matches!(&error, Error::RetriesExhausted { attempts: a, last, .. }
                if *a == attempts && last.starts_with("HTTP 503")),
            "{error:?}"
        );
        assert_eq!(script.sent().len(), attempts as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_over_the_cap_is_reported_and_never_replayed() {
        let too_long = (openai::PROVIDER.body_limits.audio_bytes + 1).to_string();
        let script = Scripted::new()
            .answer(200, &[("content-length", &too_long)], "")
            .answer(200, &[], "audio");
        let (client, script, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let error = client.call(speech()).await.unwrap_err();
        assert!(
            matches!(error, Error::BodyTooLarge { limit, .. }
                if limit == openai::PROVIDER.body_limits.audio_bytes),
            "{error:?}"
        );
        assert_eq!(script.sent().len(), 1);
    }

    #[test]
    fn a_body_is_gathered_up_to_its_cap_and_one_chunk_is_kept_as_it_came() {
        let chunk = Bytes::from_static(b"ID3 whole");
        let mut one = Gathered::new(None, 64);
        assert!(one.push(chunk.clone()));
        assert_eq!(one.into_bytes().as_ptr(), chunk.as_ptr(), "no copy");

        let mut many = Gathered::new(Some(9), 64);
        for part in ["ID3", " ", "parts"] {
            assert!(many.push(Bytes::from(part)));
        }
        assert_eq!(&many.into_bytes()[..], b"ID3 parts");

        let mut over = Gathered::new(None, 5);
        assert!(over.push(Bytes::from("ID3")));
        assert!(!over.push(Bytes::from(" parts")));
        assert_eq!(&over.into_bytes()[..], b"ID3 p");

        let mut first_over = Gathered::new(None, 3);
        assert!(!first_over.push(Bytes::from("ID3 parts")));
        assert_eq!(&first_over.into_bytes()[..], b"ID3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_2xx_body_broken_by_the_network_is_reported_and_never_replayed() {
        let script = Scripted::new()
            .broken_answer(200, &["ID3 par"], NetworkErrorKind::Timeout)
            .answer(200, &[], "audio");
        let (client, script, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let error = client.call(speech()).await.unwrap_err();
        assert!(
            matches!(&error, Error::Transport { message, .. }
                if message.starts_with("timeout after the provider answered HTTP 200")),
            "{error:?}"
        );
        assert_eq!(script.sent().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn network_failures_before_an_answer_are_retried_and_named_by_kind() {
        let script = Scripted::new()
            .fail(NetworkErrorKind::Connect)
            .fail(NetworkErrorKind::Closed)
            .broken_answer(503, &["{\"error\""], NetworkErrorKind::Other)
            .fail(NetworkErrorKind::Other);
        let (client, script, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let error = client.call(speech()).await.unwrap_err();
        // Connect errors are always retried, a closed connection with `retry_timeouts`, an
        // error answer cut short is still a 503; anything else stops.
        assert!(
            matches!(&error, Error::Transport { message, .. } if message.starts_with("network error: ")),
            "{error:?}"
        );
        assert_eq!(script.sent().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_key_is_quarantined_and_the_call_moves_on() {
        let script = Scripted::new()
            .answer(401, &[], r#"{"error":{"message":"bad key"}}"#)
            .answer(200, &[], "audio");
        let (client, script, _) = client(&openai::PROVIDER, &["sk-key-a", "sk-key-b"], script);
        client.call(speech()).await.unwrap();
        let sent = script.sent();
        assert_ne!(authorization(&sent[0]), authorization(&sent[1]));
        let quarantined = client
            .pool()
            .snapshot()
            .into_iter()
            .filter(|k| matches!(k.state, crate::keys::KeyState::Quarantined { .. }))
            .count();
        assert_eq!(quarantined, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_kling_envelope_error_is_an_api_error_with_its_code() {
        let script = Scripted::new().answer(
            200,
            &[("content-type", "application/json")],
            r#"{"code":1201,"message":"invalid prompt","data":null}"#,
        );
        let (client, _, _) = client(&kling::PROVIDER, &["access:secret"], script);
        let error = client
            .call(kling::TextToVideoRequest::new("a cat"))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Api { status: 200, code: Some(code), message, .. }
                if code == "1201" && message == "invalid prompt"),
            "{error:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kling_task_is_polled_with_the_same_key_until_it_succeeds() {
        let envelope = |data: &str| format!(r#"{{"code":0,"message":"ok","data":{data}}}"#);
        let script = Scripted::new()
            .answer(
                200,
                &[],
                &envelope(r#"{"task_id":"t-1","task_status":"submitted"}"#),
            )
            .answer(200, &[], r#"{"code":5000,"message":"try again","data":null}"#)
            .answer(
                200,
                &[],
                &envelope(r#"{"task_id":"t-1","task_status":"processing"}"#),
            )
            .answer(
                200,
                &[],
                &envelope(
                    r#"{"task_id":"t-1","task_status":"succeed","task_result":{"videos":[{"id":"v","url":"https://cdn.test/v.mp4"}]}}"#,
                ),
            );
        let (client, script, kept) = client(&kling::PROVIDER, &["access:secret", "a2:s2"], script);
        let job = client
            .call(kling::TextToVideoRequest::new("a cat"))
            .await
            .unwrap();
        assert_eq!(job.id, "t-1");
        assert_eq!(job.output.videos[0].url, "https://cdn.test/v.mp4");
        let sent = script.sent();
        assert_eq!(sent.len(), 4);
        assert!(sent[1..].iter().all(|s| s.method == http::Method::GET
            && s.uri == "http://provider.test/v1/videos/text2video/t-1"));
        assert!(sent[1..].iter().all(|s| s.body.is_none()));
        // Polls are not attempts of the request.
        assert_eq!(kept.calls.lock().unwrap()[0].attempts, 1);
    }

    // ---- streams ----

    use serde::Serialize;

    use crate::endpoint::{DecodeError, Validate, ValidationError};
    use crate::spec::AudioEvents;

    const EVENTS: AudioEvents = AudioEvents {
        type_field: "type",
        delta: "speech.audio.delta",
        audio_field: "audio",
        done: "speech.audio.done",
    };

    const STREAM: StreamSpec = StreamSpec {
        path: Some("/v1/audio/speech/stream"),
        idle_timeout_ms: 2_000,
        max_bytes: 64,
        events: Some(EVENTS),
    };

    /// OpenAI's speech request on a descriptor of the test's choosing: streaming (with
    /// [`STREAM`]) or not; the runtime only reads `SPEC`.
    #[derive(Serialize)]
    #[serde(transparent)]
    struct Speech<const STREAMS: bool>(openai::SpeechRequest);

    type StreamedSpeech = Speech<true>;

    impl<const STREAMS: bool> Validate for Speech<STREAMS> {
        fn validate(&self) -> std::result::Result<(), ValidationError> {
            self.0.validate()
        }
    }

    impl<const STREAMS: bool> Endpoint for Speech<STREAMS> {
        type Output = Audio;
        const SPEC: EndpointSpec = EndpointSpec {
            response: ResponseSpec::Audio {
                content_type: "audio/mpeg",
                stream: if STREAMS { Some(STREAM) } else { None },
            },
            ..<openai::SpeechRequest as Endpoint>::SPEC
        };
        fn path_params(&self) -> Vec<(&'static str, String)> {
            self.0.path_params()
        }
        fn query_params(&self) -> Vec<(&'static str, String)> {
            self.0.query_params()
        }
        fn decode(body: ResponseBody) -> std::result::Result<Audio, DecodeError> {
            openai::SpeechRequest::decode(body)
        }
    }

    fn streamed() -> StreamedSpeech {
        Speech(speech())
    }

    fn in_flight(client: &ProviderClient) -> u32 {
        client.pool().snapshot().iter().map(|k| k.in_flight).sum()
    }

    /// The next item, which must be ready without any further chunk from the provider.
    async fn next_now(stream: &mut AudioStream) -> Option<Result<Bytes>> {
        match futures::poll!(stream.next()) {
            std::task::Poll::Ready(item) => item,
            std::task::Poll::Pending => panic!("the stream is waiting"),
        }
    }

    fn one_metric(kept: &Kept) -> CallMetric {
        let calls = kept.calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls[0].clone()
    }

    #[tokio::test(start_paused = true)]
    async fn each_chunk_reaches_the_caller_before_the_next_is_released() {
        let (script, gate) = Scripted::new().gated_answer(200, &[("content-type", "audio/mpeg")]);
        let (client, script, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let mut stream = client.stream(streamed()).await.unwrap();
        assert_eq!(stream.content_type(), Some("audio/mpeg"));
        assert!(
            futures::poll!(stream.next()).is_pending(),
            "nothing released yet"
        );
        gate.release("ID3 first");
        assert_eq!(
            &next_now(&mut stream).await.unwrap().unwrap()[..],
            b"ID3 first"
        );
        assert!(
            futures::poll!(stream.next()).is_pending(),
            "the rest is held"
        );
        assert!(kept.calls.lock().unwrap().is_empty(), "not ended yet");
        assert_eq!(in_flight(&client), 1, "the stream holds the key");
        gate.release("second");
        assert_eq!(
            &next_now(&mut stream).await.unwrap().unwrap()[..],
            b"second"
        );
        gate.finish();
        assert!(next_now(&mut stream).await.is_none());
        assert_eq!(in_flight(&client), 0);
        let sent = script.sent();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].streaming, "the timeout covers the headers only");
        assert_eq!(sent[0].uri, "http://provider.test/v1/audio/speech/stream");
        let metric = one_metric(&kept);
        assert!(metric.success && !metric.cancelled, "{metric:?}");
        assert_eq!(metric.ttfb_ms, Some(0));
        assert_eq!(metric.status, Some(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_before_the_first_byte_rotates_keys() {
        let (script, gate) = Scripted::new()
            .answer(
                429,
                &[("retry-after-ms", "5000")],
                r#"{"error":{"message":"slow"}}"#,
            )
            .gated_answer(200, &[]);
        let (client, script, kept) = client(&openai::PROVIDER, &["sk-key-a", "sk-key-b"], script);
        let mut stream = client.stream(streamed()).await.unwrap();
        assert_eq!(
            stream.content_type(),
            Some("audio/mpeg"),
            "the spec's default"
        );
        gate.release("audio");
        gate.finish();
        let chunks: Vec<_> = stream.by_ref().collect().await;
        assert_eq!(chunks.len(), 1);
        let sent = script.sent();
        assert_eq!(sent.len(), 2);
        assert_ne!(authorization(&sent[0]), authorization(&sent[1]));
        assert_eq!(kept.rate_limits.lock().unwrap().len(), 1);
        let metric = one_metric(&kept);
        assert!(metric.success);
        assert_eq!(metric.attempts, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_answer_before_the_first_byte_is_an_api_error() {
        let script = Scripted::new().answer(400, &[], r#"{"error":{"message":"bad voice"}}"#);
        let (client, _, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let error = client.stream(streamed()).await.unwrap_err();
        assert!(
            matches!(&error, Error::Api { status: 400, message, .. } if message == "bad voice"),
            "{error:?}"
        );
        let metric = one_metric(&kept);
        assert!(!metric.success && !metric.cancelled);
        assert_eq!(metric.error_class, Some("api"));
        assert_eq!(in_flight(&client), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_mid_stream_is_a_typed_error_and_never_replayed() {
        let (script, gate) = Scripted::new().gated_answer(200, &[]);
        let script = script.answer(200, &[], "replayed audio");
        let (client, script, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let mut stream = client.stream(streamed()).await.unwrap();
        gate.release("ID3 par");
        assert!(stream.next().await.unwrap().is_ok());
        gate.cut(NetworkErrorKind::Other);
        let error = stream.next().await.unwrap().unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Stream {
                    failure: StreamFailure::Interrupted,
                    received_bytes: 7,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(error.class(), "stream_interrupted");
        assert!(stream.next().await.is_none(), "the stream is over");
        assert_eq!(script.sent().len(), 1, "no replay");
        assert_eq!(in_flight(&client), 0);
        let metric = one_metric(&kept);
        assert!(!metric.success && !metric.cancelled);
        assert_eq!(metric.error_class, Some("stream_interrupted"));
        assert_eq!(metric.ttfb_ms, Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_provider_fails_the_stream_after_the_idle_timeout() {
        let (script, gate) = Scripted::new().gated_answer(200, &[]);
        let (client, _, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let mut stream = client.stream(streamed()).await.unwrap();
        gate.release("a");
        assert!(stream.next().await.unwrap().is_ok());
        // A caller busy for longer than the idle timeout is not the provider's silence.
        tokio::time::sleep(Duration::from_millis(STREAM.idle_timeout_ms * 3)).await;
        gate.release("b");
        assert!(stream.next().await.unwrap().is_ok());
        let waiting = Instant::now();
        let error = stream.next().await.unwrap().unwrap_err();
        assert_eq!(
            waiting.elapsed(),
            Duration::from_millis(STREAM.idle_timeout_ms)
        );
        assert!(
            matches!(
                &error,
                Error::Stream {
                    failure: StreamFailure::Idle,
                    received_bytes: 2,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(gate.reader_gone(), "the request is dropped");
        assert_eq!(one_metric(&kept).error_class, Some("stream_idle"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_over_its_cap_fails_and_an_announced_one_never_opens() {
        let (script, gate) = Scripted::new().gated_answer(200, &[]);
        let (capped, _, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let mut stream = capped.stream(streamed()).await.unwrap();
        gate.release(vec![b'a'; 40]);
        assert!(stream.next().await.unwrap().is_ok());
        gate.release(vec![b'b'; 40]);
        let error = stream.next().await.unwrap().unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Stream {
                    failure: StreamFailure::TooLarge,
                    received_bytes: 40,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(one_metric(&kept).error_class, Some("stream_too_large"));

        let too_long = (STREAM.max_bytes + 1).to_string();
        let (script, _gate) = Scripted::new().gated_answer(200, &[("content-length", &too_long)]);
        let (announced, _, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let error = announced.stream(streamed()).await.unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Stream {
                    failure: StreamFailure::TooLarge,
                    received_bytes: 0,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(in_flight(&announced), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_stream_cancels_the_request_releases_the_key_and_is_no_failure() {
        let (script, gate) = Scripted::new().gated_answer(200, &[]);
        let (client, _, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let mut stream = client.stream(streamed()).await.unwrap();
        gate.release("ID3");
        assert!(stream.next().await.unwrap().is_ok());
        assert!(!gate.reader_gone());
        drop(stream);
        assert!(gate.reader_gone(), "the HTTP request is cancelled");
        assert_eq!(in_flight(&client), 0, "the key is released");
        let metric = one_metric(&kept);
        assert!(metric.cancelled && !metric.success, "{metric:?}");
        assert_eq!(metric.error_class, None);
        assert_eq!(metric.ttfb_ms, Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn server_sent_events_are_decoded_to_audio() {
        let (script, gate) =
            Scripted::new().gated_answer(200, &[("content-type", "text/event-stream")]);
        let (client, _, kept) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let mut stream = client.stream(streamed()).await.unwrap();
        assert_eq!(stream.content_type(), Some("audio/mpeg"));
        // "ID3" and "audio" in base64, split mid-event, with a comment and CRLF.
        gate.release(": keep-alive\r\n\r\ndata: {\"type\":\"speech.audio.delta\",\"au");
        assert!(futures::poll!(stream.next()).is_pending(), "half an event");
        gate.release("dio\":\"SUQz\"}\r\n\r\n");
        assert_eq!(&next_now(&mut stream).await.unwrap().unwrap()[..], b"ID3");
        gate.release(
            "event: x\ndata: {\"type\":\"speech.audio.delta\",\"audio\":\"YXVkaW8=\"}\n\n",
        );
        assert_eq!(&next_now(&mut stream).await.unwrap().unwrap()[..], b"audio");
        gate.release("data: {\"type\":\"speech.audio.done\",\"usage\":{\"total_tokens\":3}}\n\n");
        assert!(
            next_now(&mut stream).await.is_none(),
            "ends at the done event"
        );
        assert!(one_metric(&kept).success);
        assert!(gate.reader_gone());
    }

    #[tokio::test(start_paused = true)]
    async fn a_buffered_call_answered_with_events_returns_their_audio() {
        let events = concat!(
            "data: {\"type\":\"speech.audio.delta\",\"audio\":\"SUQz\"}\n\n",
            "data: {\"type\":\"speech.audio.delta\",\"audio\":\"YXVkaW8=\"}\n\n",
            "data: {\"type\":\"speech.audio.done\"}\n\n",
        );
        let first_event = &events[..events.find("\n\n").unwrap() + 2];
        let script = Scripted::new()
            .answer(200, &[("content-type", "text/event-stream")], events)
            .answer(200, &[("content-type", "text/event-stream")], first_event);
        let (client, _, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
        let audio = client.call(streamed()).await.unwrap();
        assert_eq!(&audio.bytes[..], b"ID3audio");
        assert_eq!(audio.content_type, "audio/mpeg");
        let error = client.call(streamed()).await.unwrap_err();
        assert!(
            matches!(&error, Error::Decode { source, .. } if source.0.contains("ended without")),
            "{error:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn malformed_or_unfinished_events_end_the_stream() {
        let cases: [(&str, bool, StreamFailure); 4] = [
            ("data: not json\n\n", false, StreamFailure::BadEvent),
            (
                "data: {\"type\":\"speech.audio.delta\",\"audio\":\"%%%\"}\n\n",
                false,
                StreamFailure::BadEvent,
            ),
            (
                "data: {\"type\":\"speech.audio.delta\"}\n\n",
                false,
                StreamFailure::BadEvent,
            ),
            (
                "data: {\"type\":\"speech.audio.delta\",\"audio\":\"SUQz\"}\n\n",
                true,
                StreamFailure::Interrupted,
            ),
        ];
        for (events, audio_first, expected) in cases {
            let (script, gate) = Scripted::new()
                .gated_answer(200, &[("content-type", "text/event-stream; charset=utf-8")]);
            let (client, _, _) = client(&openai::PROVIDER, &["sk-key-a"], script);
            let mut stream = client.stream(streamed()).await.unwrap();
            gate.release(events);
            gate.finish();
            if audio_first {
                assert!(stream.next().await.unwrap().is_ok());
            }
            let error = stream.next().await.unwrap().unwrap_err();
            assert!(
                matches!(&error, Error::Stream { failure, .. } if *failure == expected),
                "{events:?}: {error:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_without_a_stream_descriptor_is_a_config_error() {
        let (client, script, kept) = client(&openai::PROVIDER, &["sk-key-a"], Scripted::new());
        let error = client.stream(Speech::<false>(speech())).await.unwrap_err();
        assert!(
            matches!(&error, Error::Config(m) if m.contains("does not stream")),
            "{error:?}"
        );
        assert!(script.sent().is_empty());
        assert!(kept.calls.lock().unwrap().is_empty());
    }
}
