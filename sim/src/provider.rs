//! One simulated provider: its keys, buckets, script, faults and jobs, and the decision of how
//! to answer each request. Everything here is synchronous; the server does the I/O.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::audio;
use super::auth::{self, JwtProblem, Presented, UnverifiedJwt, fingerprint};
use super::dialect::{Context, Dialect, Failure, Reply, openai_rate_headers};
use super::jobs::{FalOp, Fate, JobRecord, Phase, fal_app_prefix, parse_fal_url};
use super::limits::{RateHeaders, RateLimit, TokenBucket};
use super::log::{Operation, Outcome};
use super::route::{
    Param, Rejection, RejectionKind, RoutePaths, SimRoute, Source, rebuild_and_check,
};
use super::script::{Faults, JobPace, RequestKind, Scripted};
use super::stream::{Events, PlannedEnd, StreamGate, StreamPacing, StreamPlan};
use media_sdk::spec::{AuthScheme, JobFlow, JobFlowKind, ProviderSpec, ResponseSpec};

/// A request as received.
#[derive(Debug)]
pub(crate) struct SimRequest {
    pub method: http::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// How to answer, and what to log about it.
#[derive(Debug)]
pub(crate) struct Decision {
    pub endpoint: Option<&'static str>,
    pub operation: Operation,
    pub key_fingerprint: Option<String>,
    pub auth_scheme: Option<String>,
    pub outcome: Outcome,
    pub action: Action,
}

/// What the server does with the connection.
#[derive(Debug)]
pub(crate) enum Action {
    Reply(Reply),
    /// The reply's status and headers, then a body produced as it is sent.
    Stream(Reply, Box<StreamPlan>),
    Reset,
    Hang,
}

/// A configured key. Its `Debug` shows only the fingerprint.
struct KeyEntry {
    key: String,
    fingerprint: String,
    /// Kling: the access and secret halves.
    pair: Option<(String, String)>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Per-provider settings given at start.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderConfig {
    pub keys: Option<Vec<String>>,
    pub rate_limit: Option<RateLimit>,
    pub faults: Faults,
    pub pace: JobPace,
    pub dialect: Option<Dialect>,
    pub stream_pacing: StreamPacing,
}

#[derive(Debug)]
struct State {
    /// `None`: any key is accepted.
    keys: Option<Vec<KeyEntry>>,
    revoked: HashSet<String>,
    exhausted: HashSet<String>,
    rate_limit: Option<RateLimit>,
    buckets: HashMap<String, TokenBucket>,
    faults: Faults,
    pace: JobPace,
    script: VecDeque<Scripted>,
    stream_pacing: StreamPacing,
    gate: Option<StreamGate>,
    jobs: HashMap<String, JobRecord>,
    fault_rng: StdRng,
    id_rng: StdRng,
}

/// The key a request was made with.
struct Identity {
    fingerprint: String,
}

/// How an audio answer is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The whole body at once, with its length.
    Buffered,
    /// Chunked as it is produced.
    Stream,
}

/// Where a request is going.
enum Target {
    Call {
        route: usize,
        params: Vec<(String, String)>,
        delivery: Delivery,
    },
    Fal {
        prefix: String,
        id: String,
        op: FalOp,
    },
    KlingPoll {
        route: usize,
        task_id: String,
    },
    Unknown,
}

pub(crate) struct ProviderSim {
    pub spec: &'static ProviderSpec,
    pub dialect: Dialect,
    pub routes: Vec<SimRoute>,
    /// The parsed paths of `routes`, by the same index.
    paths: Vec<RoutePaths>,
    pub base_url: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for ProviderSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSim")
            .field("provider", &self.spec.id)
            .field("dialect", &self.dialect)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Why a key setting was refused at start.
pub(crate) struct BadKey(pub String);

impl ProviderSim {
    pub(crate) fn new(
        spec: &'static ProviderSpec,
        routes: Vec<(SimRoute, RoutePaths)>,
        config: ProviderConfig,
        base_url: String,
        seed: u64,
    ) -> Result<Self, BadKey> {
        let kling = matches!(spec.auth, AuthScheme::KlingJwt { .. });
        let keys = match config.keys {
            None => None,
            Some(keys) => Some(
                keys.into_iter()
                    .enumerate()
                    .map(|(i, key)| {
                        let pair = if kling {
                            let (access, secret) = key.split_once(':').ok_or_else(|| {
                                BadKey(format!(
                                    "key #{i} of `{}` is not `access_key:secret_key`",
                                    spec.id
                                ))
                            })?;
                            Some((access.to_owned(), secret.to_owned()))
                        } else {
                            None
                        };
                        Ok(KeyEntry {
                            fingerprint: fingerprint(&key),
                            key,
                            pair,
                        })
                    })
                    .collect::<Result<Vec<_>, BadKey>>()?,
            ),
        };
        let seed = seed ^ provider_seed(spec.id);
        let (routes, paths) = routes.into_iter().unzip();
        Ok(Self {
            spec,
            dialect: config
                .dialect
                .unwrap_or_else(|| Dialect::for_provider(spec)),
            routes,
            paths,
            base_url,
            state: Mutex::new(State {
                keys,
                revoked: HashSet::new(),
                exhausted: HashSet::new(),
                rate_limit: config.rate_limit,
                buckets: HashMap::new(),
                faults: config.faults,
                pace: config.pace,
                script: VecDeque::new(),
                stream_pacing: config.stream_pacing,
                gate: None,
                jobs: HashMap::new(),
                fault_rng: StdRng::seed_from_u64(seed),
                id_rng: StdRng::seed_from_u64(seed.rotate_left(17) ^ 0x5eed),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn latency(&self) -> Duration {
        self.state().faults.latency
    }

    pub(crate) fn script(&self, entries: Vec<Scripted>) {
        self.state().script.extend(entries);
    }

    pub(crate) fn pending_script(&self) -> usize {
        self.state().script.len()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut state = self.state();
        state.rate_limit = limit;
        state.buckets.clear();
    }

    pub(crate) fn set_job_pace(&self, pace: JobPace) {
        self.state().pace = pace;
    }

    pub(crate) fn set_stream_pacing(&self, pacing: StreamPacing) {
        self.state().stream_pacing = pacing;
    }

    pub(crate) fn set_gate(&self, gate: Option<StreamGate>) {
        self.state().gate = gate;
    }

    pub(crate) fn revoke(&self, key: &str) {
        self.state().revoked.insert(fingerprint(key));
    }

    pub(crate) fn exhaust(&self, key: &str) {
        self.state().exhausted.insert(fingerprint(key));
    }

    pub(crate) fn restore(&self, key: &str) {
        let fp = fingerprint(key);
        let mut state = self.state();
        state.revoked.remove(&fp);
        state.exhausted.remove(&fp);
    }

    /// Decides the answer to `request`.
    pub(crate) fn decide(&self, request: &SimRequest, now: Duration, wall: SystemTime) -> Decision {
        let mut state = self.state();
        let request_id = state.uuid();
        let cx = Context {
            method: request.method.as_str(),
            path: &request.path,
            request_id: &request_id,
        };
        let target = self.target(request);
        let (operation, endpoint) = match &target {
            Target::Call { route, .. } => (Operation::Call, Some(self.routes[*route].spec.id)),
            Target::Fal { prefix, id, op } => {
                let endpoint = state
                    .jobs
                    .get(id)
                    .filter(|job| &job.app_prefix == prefix)
                    .map(|job| self.routes[job.route].spec.id);
                let operation = match op {
                    FalOp::Status => Operation::JobStatus,
                    FalOp::Result => Operation::JobResult,
                    FalOp::Cancel => Operation::JobCancel,
                };
                (operation, endpoint)
            }
            Target::KlingPoll { route, .. } => {
                (Operation::TaskPoll, Some(self.routes[*route].spec.id))
            }
            Target::Unknown => (Operation::Unknown, None),
        };
        let (presented, auth_scheme) = auth::presented(self.spec.auth, &request.headers);
        let mut decision = Decision {
            endpoint,
            operation,
            key_fingerprint: None,
            auth_scheme,
            outcome: Outcome::Success,
            action: Action::Reset,
        };
        let fail = |mut decision: Decision, failure: Failure| {
            decision.outcome = outcome_of(&failure);
            decision.action = Action::Reply(self.finish(failure.render(self.dialect, &cx), &cx));
            decision
        };

        let identity = state.identify(self.spec.auth, &presented, auth::unix_secs(wall));
        if let Target::Unknown = target {
            decision.key_fingerprint = match identity {
                Ok(identity) => Some(identity.fingerprint),
                Err((_, fp)) => fp,
            };
            return fail(decision, Failure::NotFound);
        }
        let identity = match identity {
            Ok(identity) => identity,
            Err((failure, fp)) => {
                decision.key_fingerprint = fp;
                return fail(decision, failure);
            }
        };
        let fp = identity.fingerprint;
        decision.key_fingerprint = Some(fp.clone());

        let kind = match &target {
            Target::Call { route, .. }
                if matches!(self.routes[*route].spec.response, ResponseSpec::Job(_)) =>
            {
                RequestKind::JobSubmit
            }
            Target::Call {
                delivery: Delivery::Stream,
                ..
            } => RequestKind::Stream,
            _ => RequestKind::Other,
        };
        let mut fate = None;
        let mut stream_end = PlannedEnd::Complete;
        if let Some(entry) = state.take_script(&fp, kind) {
            let capacity = state.rate_limit.map_or(1, |l| l.capacity);
            match effect_of(&entry, capacity) {
                Effect::Proceed(scripted_fate) => fate = scripted_fate,
                Effect::EndStream(end) => stream_end = end,
                Effect::Drop(outcome, action) => {
                    decision.outcome = outcome;
                    decision.action = action;
                    return decision;
                }
                Effect::Fail(failure) => return fail(decision, failure),
            }
        }

        if state.exhausted.contains(&fp) {
            return fail(decision, Failure::QuotaExhausted);
        }

        // The per-key request budget applies to endpoint calls; job polls are not counted.
        let mut budget = None;
        if let (Target::Call { .. }, Some(limit)) = (&target, state.rate_limit) {
            let bucket = state
                .buckets
                .entry(fp.clone())
                .or_insert_with(|| TokenBucket::new(limit));
            match bucket.try_take(now) {
                Ok(headers) => budget = Some(headers),
                Err(headers) => return fail(decision, Failure::RateLimited(Some(headers))),
            }
        }

        let faults = state.faults;
        let draw: f64 = state.fault_rng.random();
        let mut threshold = faults.error_rate;
        if draw < threshold {
            let status = [500, 502, 503][state.fault_rng.random_range(0..3)];
            return fail(decision, Failure::Server(status));
        }
        threshold += faults.reset_rate;
        if draw < threshold {
            decision.outcome = Outcome::Reset;
            decision.action = Action::Reset;
            return decision;
        }
        threshold += faults.timeout_rate;
        if draw < threshold {
            decision.outcome = Outcome::Hang;
            decision.action = Action::Hang;
            return decision;
        }
        threshold += faults.malformed_rate;
        if draw < threshold {
            decision.outcome = Outcome::Malformed;
            decision.action = Action::Reply(malformed());
            return decision;
        }

        let mut plan = None;
        let answer = match target {
            Target::Call {
                route,
                params,
                delivery,
            } => {
                let fate = fate.unwrap_or_else(|| state.draw_fate());
                let call = Call {
                    route,
                    path_params: params,
                    request,
                    owner: &fp,
                    fate,
                    wall,
                    delivery,
                    stream_end,
                };
                self.call(&mut state, call, &cx)
                    .map(|(reply, outcome, stream)| {
                        plan = stream;
                        (reply, outcome)
                    })
            }
            Target::Fal { prefix, id, op } => self.fal_op(&mut state, &prefix, &id, op, &fp, wall),
            Target::KlingPoll { route, task_id } => {
                self.kling_poll(&mut state, route, &task_id, &fp, wall, &cx)
            }
            Target::Unknown => Err(Failure::NotFound),
        };
        match answer {
            Ok((reply, outcome)) => {
                let reply = match (self.dialect, budget) {
                    (Dialect::OpenAi, Some(headers)) => openai_rate_headers(reply, &headers),
                    _ => reply,
                };
                let reply = self.finish(reply, &cx);
                decision.outcome = outcome;
                decision.action = match plan {
                    Some(plan) => Action::Stream(reply, Box::new(plan)),
                    None => Action::Reply(reply),
                };
                decision
            }
            Err(failure) => fail(decision, failure),
        }
    }

    /// Headers every answer of the provider carries.
    fn finish(&self, reply: Reply, cx: &Context<'_>) -> Reply {
        match self.dialect {
            Dialect::OpenAi => reply.header(
                "x-request-id",
                format!("req_{}", cx.request_id.replace('-', "")),
            ),
            Dialect::ElevenLabs => reply.header("request-id", cx.request_id.to_owned()),
            Dialect::Fal => reply.header("x-fal-request-id", cx.request_id.to_owned()),
            _ => reply,
        }
    }

    fn target(&self, request: &SimRequest) -> Target {
        const TASK_ID: Option<&str> = JobFlowKind::KlingTask.poll_param();
        let method = &request.method;
        for (i, (route, paths)) in self.routes.iter().zip(&self.paths).enumerate() {
            if route.spec.method.as_http() != method {
                continue;
            }
            // An audio endpoint that streams without a path of its own streams on its path.
            let streams_natively = matches!(
                route.spec.response,
                ResponseSpec::Audio { stream: Some(stream), .. } if stream.path.is_none()
            );
            let matched = match paths.path.matches(&request.path) {
                Some(captures) if streams_natively => Some((captures, Delivery::Stream)),
                Some(captures) => Some((captures, Delivery::Buffered)),
                None => paths
                    .stream
                    .as_ref()
                    .and_then(|stream| stream.matches(&request.path))
                    .map(|captures| (captures, Delivery::Stream)),
            };
            if let Some((captures, delivery)) = matched {
                let params = captures
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect();
                return Target::Call {
                    route: i,
                    params,
                    delivery,
                };
            }
        }
        let has_fal_queue = self.routes.iter().any(
            |r| matches!(r.spec.response, ResponseSpec::Job(job) if job.flow == JobFlow::FalQueue),
        );
        if has_fal_queue && let Some((prefix, id, op)) = parse_fal_url(method, &request.path) {
            return Target::Fal { prefix, id, op };
        }
        if method == http::Method::GET {
            for (i, paths) in self.paths.iter().enumerate() {
                if let Some(poll) = &paths.poll
                    && let Some(captures) = poll.matches(&request.path)
                    && let Some((_, task_id)) = captures
                        .into_iter()
                        .find(|(name, _)| Some(*name) == TASK_ID)
                {
                    return Target::KlingPoll { route: i, task_id };
                }
            }
        }
        Target::Unknown
    }

    fn call(
        &self,
        state: &mut State,
        call: Call<'_>,
        cx: &Context<'_>,
    ) -> Result<(Reply, Outcome, Option<StreamPlan>), Failure> {
        let Call {
            route: route_index,
            path_params,
            request,
            owner,
            fate,
            wall,
            delivery,
            stream_end,
        } = call;
        let route = &self.routes[route_index];
        let body = if request.body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&request.body) {
                Ok(Value::Object(body)) => body,
                Ok(_) => {
                    let rejection = Rejection {
                        field: None,
                        kind: RejectionKind::Type,
                        message: "the body must be a JSON object".to_owned(),
                    };
                    return Err(Failure::Invalid(rejection, Source::Body));
                }
                Err(error) => return Err(Failure::BadJson(error.to_string())),
            }
        };
        let params: Vec<Param> = path_params
            .into_iter()
            .map(|(name, value)| Param {
                name,
                value,
                source: Source::Path,
            })
            .chain(request.query.iter().map(|(name, value)| Param {
                name: name.clone(),
                value: value.clone(),
                source: Source::Query,
            }))
            .collect();
        let accepted = rebuild_and_check(route.check, body, &params)
            .map_err(|(rejection, source)| Failure::Invalid(rejection, source))?;

        let now_ms = unix_millis(wall);
        match route.spec.response {
            ResponseSpec::Json => {
                let output = adapt_example(route.example, &accepted, now_ms / 1000);
                Ok((self.success_json(output, cx), Outcome::Success, None))
            }
            ResponseSpec::Audio {
                content_type,
                stream,
            } => {
                let format = ["response_format", "output_format"]
                    .iter()
                    .find_map(|name| accepted.get(*name).and_then(Value::as_str));
                let content_type = format
                    .and_then(audio::content_type_for)
                    .unwrap_or(content_type);
                let text_len = ["input", "text"]
                    .iter()
                    .find_map(|name| accepted.get(*name).and_then(Value::as_str))
                    .map_or(0, |text| text.chars().count());
                let seed = audio::fnv1a(accepted.to_string().as_bytes());
                let units = 2 + text_len / 20;
                if delivery == Delivery::Buffered {
                    let bytes = audio::synthesize(content_type, seed, units);
                    let reply = Reply {
                        status: 200,
                        headers: Vec::new(),
                        content_type: content_type.to_owned(),
                        body: Bytes::from(bytes),
                    };
                    return Ok((reply, Outcome::Success, None));
                }
                let pacing = state.stream_pacing;
                let audio_bytes = pacing
                    .total_bytes
                    .unwrap_or_else(|| audio::buffered_len(content_type, units));
                // Server-sent events when asked for and the endpoint declares them.
                let events = stream.and_then(|s| s.events).filter(|_| {
                    accepted.get("stream_format").and_then(Value::as_str) == Some("sse")
                });
                let plan = StreamPlan {
                    synth: audio::Synth::new(content_type, seed, audio_bytes),
                    audio_bytes,
                    chunk_bytes: pacing.chunk_bytes.max(1),
                    interval: pacing.interval,
                    events: events.map(|names| Events {
                        names,
                        input_tokens: (text_len as u64).div_ceil(4),
                    }),
                    end: stream_end,
                    gate: state.gate.clone(),
                };
                let reply = Reply {
                    status: 200,
                    headers: Vec::new(),
                    content_type: plan.content_type(content_type).to_owned(),
                    body: Bytes::new(),
                };
                Ok((reply, Outcome::Success, Some(plan)))
            }
            ResponseSpec::Job(job) => {
                let output = adapt_example(route.example, &accepted, now_ms / 1000);
                let record = JobRecord {
                    route: route_index,
                    owner: owner.to_owned(),
                    app_prefix: fal_app_prefix(route.spec.path),
                    polls: 0,
                    fate,
                    cancelled: false,
                    output,
                    external_task_id: accepted
                        .get("external_task_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    created_at_ms: now_ms,
                    updated_at_ms: now_ms,
                };
                match job.flow {
                    JobFlow::FalQueue => {
                        let id = state.uuid();
                        let urls = self.fal_urls(&record.app_prefix, &id);
                        let body = json!({
                            "status": "IN_QUEUE",
                            "request_id": id,
                            "response_url": urls.response,
                            "status_url": urls.status,
                            "cancel_url": urls.cancel,
                            "queue_position": state.pace.queued_polls,
                        });
                        state.jobs.insert(id, record);
                        Ok((Reply::json(200, &body), Outcome::Success, None))
                    }
                    JobFlow::KlingTask { .. } => {
                        let id = state.task_id();
                        let data = kling_task_data(&id, &record, &Phase::Queued(0));
                        state.jobs.insert(id, record);
                        Ok((self.success_json(data, cx), Outcome::Success, None))
                    }
                    // A job flow this simulator does not implement: answered as a server error.
                    _ => Err(Failure::Server(501)),
                }
            }
        }
    }

    fn fal_urls(&self, prefix: &str, id: &str) -> FalUrls {
        let response = format!("{}{prefix}/requests/{id}", self.base_url);
        FalUrls {
            status: format!("{response}/status"),
            cancel: format!("{response}/cancel"),
            response,
        }
    }

    fn fal_op(
        &self,
        state: &mut State,
        prefix: &str,
        id: &str,
        op: FalOp,
        owner: &str,
        wall: SystemTime,
    ) -> Result<(Reply, Outcome), Failure> {
        let pace = state.pace;
        // Another account's request, or the wrong app, is indistinguishable from none.
        let Some(job) = state
            .jobs
            .get_mut(id)
            .filter(|job| job.owner == owner && job.app_prefix == prefix)
        else {
            return match op {
                FalOp::Cancel => Ok((
                    Reply::json(404, &json!({"status": "NOT_FOUND"})),
                    Outcome::NotFound,
                )),
                _ => Err(Failure::JobNotFound),
            };
        };
        let urls = self.fal_urls(prefix, id);
        match op {
            FalOp::Status => {
                if !job.phase(pace).is_final() {
                    job.polls += 1;
                    job.updated_at_ms = unix_millis(wall);
                }
                let (status, mut body) = match job.phase(pace) {
                    Phase::Queued(position) => (
                        202,
                        json!({"status": "IN_QUEUE", "queue_position": position}),
                    ),
                    Phase::Running => (202, json!({"status": "IN_PROGRESS", "logs": []})),
                    Phase::Succeeded => (
                        200,
                        json!({"status": "COMPLETED", "logs": [], "metrics": {"inference_time": 1.25}}),
                    ),
                    Phase::Failed(message) => (
                        200,
                        json!({"status": "COMPLETED", "logs": [], "error": message, "error_type": "runner_server_error"}),
                    ),
                    Phase::Cancelled => (
                        200,
                        json!({"status": "COMPLETED", "logs": [], "error": "Request was cancelled", "error_type": "client_cancelled"}),
                    ),
                };
                body["request_id"] = id.into();
                body["response_url"] = urls.response.into();
                Ok((Reply::json(status, &body), Outcome::Success))
            }
            FalOp::Result => match job.phase(pace) {
                Phase::Succeeded => Ok((Reply::json(200, &job.output), Outcome::Success)),
                Phase::Failed(message) => Err(Failure::JobFailed(message)),
                Phase::Cancelled => Err(Failure::JobCancelled),
                Phase::Queued(_) | Phase::Running => Err(Failure::JobNotReady),
            },
            FalOp::Cancel => {
                let phase = job.phase(pace);
                if matches!(phase, Phase::Succeeded | Phase::Failed(_)) {
                    Ok((
                        Reply::json(400, &json!({"status": "ALREADY_COMPLETED"})),
                        Outcome::NotReady,
                    ))
                } else {
                    job.cancelled = true;
                    job.updated_at_ms = unix_millis(wall);
                    Ok((
                        Reply::json(202, &json!({"status": "CANCELLATION_REQUESTED"})),
                        Outcome::Success,
                    ))
                }
            }
        }
    }

    fn kling_poll(
        &self,
        state: &mut State,
        route: usize,
        task_id: &str,
        owner: &str,
        wall: SystemTime,
        cx: &Context<'_>,
    ) -> Result<(Reply, Outcome), Failure> {
        let pace = state.pace;
        let Some(job) = state
            .jobs
            .get_mut(task_id)
            .filter(|job| job.owner == owner && job.route == route)
        else {
            return Err(Failure::JobNotFound);
        };
        if !job.phase(pace).is_final() {
            job.polls += 1;
            job.updated_at_ms = unix_millis(wall);
        }
        let data = kling_task_data(task_id, job, &job.phase(pace));
        Ok((self.success_json(data, cx), Outcome::Success))
    }

    /// A 200 JSON answer, in the provider's envelope when it has one.
    fn success_json(&self, data: Value, cx: &Context<'_>) -> Reply {
        let Some(envelope) = self.spec.envelope else {
            return Reply::json(200, &data);
        };
        let key = |pointer: &'static str, fallback: &'static str| {
            pointer
                .strip_prefix('/')
                .filter(|k| !k.is_empty() && !k.contains('/'))
                .unwrap_or(fallback)
                .to_owned()
        };
        let mut body = Map::new();
        body.insert(key(envelope.code, "code"), envelope.ok.into());
        body.insert(key(envelope.message, "message"), "SUCCEED".into());
        body.insert("request_id".to_owned(), cx.request_id.into());
        body.insert(key(envelope.data, "data"), data);
        Reply::json(200, &Value::Object(body))
    }
}

/// An endpoint call that passed keys, limits and faults.
struct Call<'a> {
    route: usize,
    path_params: Vec<(String, String)>,
    request: &'a SimRequest,
    owner: &'a str,
    fate: Fate,
    wall: SystemTime,
    delivery: Delivery,
    /// Where a streamed answer ends.
    stream_end: PlannedEnd,
}

/// What a scripted entry does to the request that takes it.
enum Effect {
    /// Handle normally, with this job fate if it is a job submission.
    Proceed(Option<Fate>),
    /// Handle normally, and end the streamed answer so.
    EndStream(PlannedEnd),
    /// Do not answer normally: reset, hang, or a malformed body.
    Drop(Outcome, Action),
    /// Answer with this error.
    Fail(Failure),
}

fn effect_of(entry: &Scripted, capacity: u32) -> Effect {
    match entry.outcome() {
        Scripted::Pass | Scripted::ForKey { .. } => Effect::Proceed(None),
        Scripted::JobFails { message } => Effect::Proceed(Some(Fate::Fail(message.clone()))),
        Scripted::JobNeverFinishes => Effect::Proceed(Some(Fate::Stall)),
        Scripted::CutStream { after_bytes } => {
            Effect::EndStream(PlannedEnd::CutAfter(*after_bytes))
        }
        Scripted::StallStream { after_bytes } => {
            Effect::EndStream(PlannedEnd::StallAfter(*after_bytes))
        }
        Scripted::Reset => Effect::Drop(Outcome::Reset, Action::Reset),
        Scripted::Hang => Effect::Drop(Outcome::Hang, Action::Hang),
        Scripted::MalformedJson => Effect::Drop(Outcome::Malformed, Action::Reply(malformed())),
        Scripted::RateLimited { retry_after } => {
            Effect::Fail(Failure::RateLimited(retry_after.map(|wait| RateHeaders {
                limit: capacity,
                remaining: 0,
                reset: wait,
                retry_after: Some(wait),
            })))
        }
        Scripted::Busy => Effect::Fail(Failure::Busy),
        Scripted::InvalidKey => Effect::Fail(Failure::InvalidKey),
        Scripted::QuotaExhausted => Effect::Fail(Failure::QuotaExhausted),
        Scripted::Status(status @ 500..=599) => Effect::Fail(Failure::Server(*status)),
        Scripted::Status(status) => Effect::Fail(Failure::Status(*status)),
    }
}

struct FalUrls {
    response: String,
    status: String,
    cancel: String,
}

impl State {
    fn identify(
        &self,
        scheme: AuthScheme,
        presented: &Presented,
        now: i64,
    ) -> Result<Identity, (Failure, Option<String>)> {
        let credential = match presented {
            Presented::Missing => return Err((Failure::MissingKey, None)),
            Presented::Credential(credential) => credential,
        };
        let fp = match scheme {
            AuthScheme::KlingJwt { .. } => {
                let jwt = UnverifiedJwt::parse(credential)
                    .map_err(|problem| (Failure::Jwt(problem), None))?;
                match &self.keys {
                    // Any key is accepted: no secret to check the signature against.
                    None => {
                        let fp = fingerprint(&jwt.claims.iss);
                        jwt.check_times(now)
                            .map_err(|problem| (Failure::Jwt(problem), Some(fp.clone())))?;
                        fp
                    }
                    Some(keys) => {
                        let entry = keys
                            .iter()
                            .find(|k| {
                                k.pair
                                    .as_ref()
                                    .is_some_and(|(access, _)| *access == jwt.claims.iss)
                            })
                            .ok_or((Failure::Jwt(JwtProblem::UnknownIssuer), None))?;
                        let (access, secret) = entry.pair.as_ref().expect("Kling keys are pairs");
                        // The runtime's own verifier, so the simulator and the SDK agree on
                        // what a valid token is.
                        let now = u64::try_from(now).unwrap_or(0);
                        auth::check_kling_jwt(credential, access, secret, now).map_err(
                            |rejection| {
                                (
                                    Failure::Jwt(JwtProblem::from(rejection)),
                                    Some(entry.fingerprint.clone()),
                                )
                            },
                        )?;
                        entry.fingerprint.clone()
                    }
                }
            }
            _ => {
                let fp = fingerprint(credential);
                if let Some(keys) = &self.keys
                    && !keys.iter().any(|k| k.key == *credential)
                {
                    return Err((Failure::InvalidKey, Some(fp)));
                }
                fp
            }
        };
        if self.revoked.contains(&fp) {
            return Err((Failure::InvalidKey, Some(fp)));
        }
        Ok(Identity { fingerprint: fp })
    }

    fn take_script(&mut self, fp: &str, kind: RequestKind) -> Option<Scripted> {
        let index = self
            .script
            .iter()
            .position(|entry| entry.applies(fp, kind))?;
        self.script.remove(index)
    }

    fn draw_fate(&mut self) -> Fate {
        let draw: f64 = self.fault_rng.random();
        if draw < self.faults.job_failure_rate {
            Fate::Fail("Simulated job failure".to_owned())
        } else if draw < self.faults.job_failure_rate + self.faults.job_stall_rate {
            Fate::Stall
        } else {
            Fate::Succeed
        }
    }

    /// A UUID v4 drawn from the seeded generator.
    fn uuid(&mut self) -> String {
        let v: u128 = self.id_rng.random();
        let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let hex = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// A Kling-style numeric task id.
    fn task_id(&mut self) -> String {
        self.id_rng
            .random_range(100_000_000_000_000_000u64..1_000_000_000_000_000_000)
            .to_string()
    }
}

fn kling_task_data(task_id: &str, job: &JobRecord, phase: &Phase) -> Value {
    let (status, message) = match phase {
        Phase::Queued(_) => ("submitted", String::new()),
        Phase::Running => ("processing", String::new()),
        Phase::Succeeded => ("succeed", String::new()),
        Phase::Failed(message) => ("failed", message.clone()),
        Phase::Cancelled => ("failed", "Task was cancelled".to_owned()),
    };
    let mut data = json!({
        "task_id": task_id,
        "task_status": status,
        "task_status_msg": message,
        "task_info": {"external_task_id": job.external_task_id},
        "created_at": job.created_at_ms,
        "updated_at": job.updated_at_ms,
    });
    if *phase == Phase::Succeeded {
        data["task_result"] = job.output.clone();
    }
    data
}

/// The route's example adapted to the request: `created` set to now, `data` / `images` resized to
/// `n` / `num_images`, `prompt` and `seed` echoed.
fn adapt_example(example: Option<&str>, request: &Value, now_secs: u64) -> Value {
    let mut output = example
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_else(|| json!({}));
    let Some(object) = output.as_object_mut() else {
        return output;
    };
    if object.get("created").is_some_and(Value::is_number) {
        object.insert("created".to_owned(), now_secs.into());
    }
    let resize = |object: &mut Map<String, Value>, field: &str, count: Option<u64>| {
        let (Some(count), Some(Value::Array(items))) = (count, object.get_mut(field)) else {
            return;
        };
        if items.is_empty() || count == 0 || count > 100 {
            return;
        }
        let template = items.clone();
        *items = template
            .iter()
            .cycle()
            .take(count as usize)
            .cloned()
            .collect();
    };
    let n = request.get("n").and_then(Value::as_u64);
    resize(object, "data", n);
    let num_images = request.get("num_images").and_then(Value::as_u64);
    resize(object, "images", num_images);
    resize(object, "has_nsfw_concepts", num_images);
    for echoed in ["prompt", "seed"] {
        if let (true, Some(value)) = (object.contains_key(echoed), request.get(echoed)) {
            object.insert(echoed.to_owned(), value.clone());
        }
    }
    output
}

fn malformed() -> Reply {
    Reply {
        status: 200,
        headers: Vec::new(),
        content_type: "application/json".to_owned(),
        body: Bytes::from_static(br#"{"id": "sim", "data": [{"url": "https://"#),
    }
}

fn outcome_of(failure: &Failure) -> Outcome {
    match failure {
        Failure::MissingKey | Failure::InvalidKey | Failure::Jwt(_) => Outcome::Unauthorized,
        Failure::QuotaExhausted => Outcome::QuotaExhausted,
        Failure::RateLimited(_) => Outcome::RateLimited,
        Failure::Busy => Outcome::Busy,
        Failure::Invalid(..) | Failure::BadJson(_) => Outcome::Invalid,
        Failure::NotFound | Failure::JobNotFound => Outcome::NotFound,
        Failure::JobNotReady => Outcome::NotReady,
        Failure::JobFailed(_) | Failure::JobCancelled => Outcome::JobFailed,
        Failure::Server(_) => Outcome::ServerError,
        Failure::Status(status) => match status {
            401 => Outcome::Unauthorized,
            429 => Outcome::RateLimited,
            404 => Outcome::NotFound,
            400 | 422 => Outcome::Invalid,
            500..=599 => Outcome::ServerError,
            _ => Outcome::OtherError,
        },
    }
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Mixes the provider id into the seed so providers draw independent sequences.
fn provider_seed(id: &str) -> u64 {
    audio::fnv1a(id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_adapt_to_the_request() {
        let example = r#"{"created": 1, "data": [{"url": "a"}], "prompt": "old"}"#;
        let request = json!({"n": 3, "prompt": "new"});
        let output = adapt_example(Some(example), &request, 1234);
        assert_eq!(output["created"], 1234);
        assert_eq!(output["data"].as_array().unwrap().len(), 3);
        assert_eq!(output["prompt"], "new");
        assert_eq!(adapt_example(None, &request, 0), json!({}));
    }
}
