//! The HTTP side: one loopback listener per provider, hyper's HTTP/1 connection handling, the
//! request log, resets and hangs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::limits::Clock;
use super::log::{RECORDED_HEADERS, RequestRecord, StreamEnd, StreamRecord};
use super::provider::{Action, Decision, ProviderSim, SimRequest};
use super::stream::Streamer;

/// Largest request body read; larger bodies get the connection reset.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// State shared by every listener of one simulator.
#[derive(Debug)]
pub(crate) struct Shared {
    pub providers: Vec<ProviderSim>,
    pub clock: Arc<dyn Clock>,
    log: Mutex<Vec<RequestRecord>>,
    log_len: watch::Sender<usize>,
    /// Bumped on every change to the log, streams' progress included.
    log_version: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(providers: Vec<ProviderSim>, clock: Arc<dyn Clock>) -> Self {
        Self {
            providers,
            clock,
            log: Mutex::new(Vec::new()),
            log_len: watch::Sender::new(0),
            log_version: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        }
    }

    pub(crate) fn provider(&self, id: &str) -> Option<&ProviderSim> {
        self.providers.iter().find(|p| p.spec.id == id)
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) async fn wait_for_requests(&self, count: usize) {
        let mut len = self.log_len.subscribe();
        // The sender lives as long as `self`, so this only ends when the count is reached.
        let _ = len.wait_for(|len| *len >= count).await;
    }

    /// Waits until `done` holds for the request log.
    pub(crate) async fn wait_for_log(&self, done: impl Fn(&[RequestRecord]) -> bool) {
        let mut version = self.log_version.subscribe();
        loop {
            // Marks the current version seen before reading, so no change is missed.
            version.borrow_and_update();
            if done(&self.requests()) {
                return;
            }
            if version.changed().await.is_err() {
                return;
            }
        }
    }

    /// Records the progress of the streamed answer to request `seq`.
    fn record_stream(&self, seq: usize, progress: StreamRecord) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = log.get_mut(seq) {
            record.stream = Some(progress);
        }
        drop(log);
        self.log_version.send_modify(|v| *v += 1);
    }

    pub(crate) fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Logs a request; returns its position in the log.
    fn record(&self, provider: &'static str, request: &SimRequest, decision: &Decision) -> usize {
        let (status, stream) = match &decision.action {
            Action::Reply(reply) => (Some(reply.status), None),
            Action::Stream(reply, _) => (
                Some(reply.status),
                Some(StreamRecord {
                    bytes_sent: 0,
                    end: StreamEnd::Streaming,
                }),
            ),
            Action::Reset | Action::Hang => (None, None),
        };
        tracing::debug!(
            provider,
            endpoint = decision.endpoint,
            method = %request.method,
            path = %request.path,
            key = decision.key_fingerprint.as_deref(),
            status,
            outcome = ?decision.outcome,
            "simulated request"
        );
        let headers = request
            .headers
            .iter()
            .filter(|(name, _)| RECORDED_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let record = RequestRecord {
            seq: log.len() as u64,
            provider,
            endpoint: decision.endpoint,
            operation: decision.operation,
            method: request.method.to_string(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers,
            auth_scheme: decision.auth_scheme.clone(),
            body: serde_json::from_slice(&request.body).ok(),
            key_fingerprint: decision.key_fingerprint.clone(),
            status,
            outcome: decision.outcome,
            stream,
        };
        let seq = log.len();
        log.push(record);
        self.log_len.send_replace(log.len());
        drop(log);
        self.log_version.send_modify(|v| *v += 1);
        seq
    }
}

/// Accepts connections for provider `index` until the simulator shuts down; dropping the
/// connection set on exit aborts every open connection.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, index: usize) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|down| *down) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone(), index));
                }
                Err(error) => tracing::warn!(%error, "simulator accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Marker error making hyper drop the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the simulator")
    }
}

impl std::error::Error for Dropped {}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, index: usize) {
    let _ = stream.set_nodelay(true);
    // A second handle on the socket lets a reset close it with SO_LINGER 0, which sends a TCP
    // RST instead of an orderly FIN.
    let (stream, twin) = match twin_handles(stream) {
        Ok(handles) => handles,
        Err(error) => {
            tracing::warn!(%error, "simulator could not set up a connection");
            return;
        }
    };
    let reset = Arc::new(AtomicBool::new(false));
    let service = {
        let reset = reset.clone();
        service_fn(move |request| handle(shared.clone(), index, reset.clone(), request))
    };
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if reset.load(Ordering::SeqCst) {
        let _ = TcpSocket::from_std_stream(twin).set_zero_linger();
    }
}

fn twin_handles(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let twin = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, twin))
}

async fn handle(
    shared: Arc<Shared>,
    index: usize,
    reset: Arc<AtomicBool>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let provider = &shared.providers[index];
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await else {
        reset.store(true, Ordering::SeqCst);
        return Err(Dropped);
    };
    let query = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let request = SimRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query,
        headers: parts.headers,
        body,
    };
    let latency = provider.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let decision = provider.decide(&request, shared.clock.now(), SystemTime::now());
    let seq = shared.record(provider.spec.id, &request, &decision);
    match decision.action {
        Action::Reply(reply) => {
            let mut response = Response::builder()
                .status(reply.status)
                .header(http::header::CONTENT_TYPE, reply.content_type);
            for (name, value) in reply.headers {
                response = response.header(name, value);
            }
            Ok(response
                .body(Body::from(reply.body))
                .unwrap_or_else(|_| Response::new(Body::empty())))
        }
        Action::Stream(reply, plan) => {
            let mut response = Response::builder()
                .status(reply.status)
                .header(http::header::CONTENT_TYPE, reply.content_type);
            for (name, value) in reply.headers {
                response = response.header(name, value);
            }
            // A cut closes the connection with a FIN after the bytes sent (not a reset, which
            // would make the client's kernel discard what it has not read yet): the client
            // reads an incomplete chunked body.
            let progress = {
                let shared = shared.clone();
                Box::new(move |progress: StreamRecord| shared.record_stream(seq, progress))
            };
            let streamer = Streamer::new(*plan, progress, shared.shutdown.subscribe());
            // No length: hyper sends the body chunked, each piece as it is produced.
            Ok(response
                .body(Body::from_stream(streamer.into_stream()))
                .unwrap_or_else(|_| Response::new(Body::empty())))
        }
        Action::Reset => {
            reset.store(true, Ordering::SeqCst);
            Err(Dropped)
        }
        Action::Hang => {
            let mut shutdown = shared.shutdown.subscribe();
            let _ = shutdown.wait_for(|down| *down).await;
            Err(Dropped)
        }
    }
}
