//! The seam between a call and the network: one HTTP exchange, its answer's status, headers
//! and body as a stream of chunks.
//!
//! Production sends through [`reqwest::Client`] ([`ReqwestTransport`]): its connection pool,
//! connect timeout and TLS as configured by the caller, the exchange's own timeout applied per
//! request. Unit tests script the answers instead (`Scripted`, test builds only), so a whole
//! call runs without a socket.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderMap, StatusCode};

/// A boxed future, as a [`Transport`] returns it.
pub(crate) type Sending<'a> =
    Pin<Box<dyn Future<Output = Result<Answer, TransportError>> + Send + 'a>>;

/// An answer's body, chunk by chunk; a network failure while reading ends it.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// Sends one HTTP request.
pub(crate) trait Transport: Send + Sync {
    /// Sends `request`, giving up after `timeout` (the whole exchange, body included). Resolves
    /// once the answer's headers are in; the body is read from [`Answer::body`].
    fn send(&self, request: Outgoing, timeout: Duration) -> Sending<'_>;

    /// Sends `request`, giving up when its answer's headers are not in after `timeout`; the
    /// body then has no time limit from the transport (a stream bounds it chunk by chunk).
    fn send_streaming(&self, request: Outgoing, timeout: Duration) -> Sending<'_>;
}

/// One request, ready to go out: the URL stays a parsed [`url::Url`], as reqwest takes it.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// HTTP method.
    pub method: http::Method,
    /// Where it goes.
    pub url: url::Url,
    /// Its headers (auth, content type).
    pub headers: HeaderMap,
    /// The JSON body, if any.
    pub body: Option<Bytes>,
}

/// An answer whose headers have arrived.
pub(crate) struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body's length as announced (`Content-Length`), if any.
    pub content_length: Option<u64>,
    /// The body.
    pub body: BodyStream,
}

/// How an exchange failed on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkErrorKind {
    /// The connection could not be made: the request never left.
    Connect,
    /// The connection could not be made in time: the request never left.
    ConnectTimeout,
    /// The exchange ran out of time (before or after the request was sent).
    Timeout,
    /// The connection closed after the request went out and before any answer.
    Closed,
    /// Anything else (a request that could not be built, a protocol error, a broken body).
    Other,
}

impl NetworkErrorKind {
    /// How log lines and errors name this kind of failure.
    pub(crate) fn label(self) -> &'static str {
        match self {
            NetworkErrorKind::Timeout | NetworkErrorKind::ConnectTimeout => "timeout",
            NetworkErrorKind::Connect => "connect error",
            NetworkErrorKind::Closed => "connection closed before an answer",
            NetworkErrorKind::Other => "network error",
        }
    }
}

/// A network failure: its kind and the transport's description (which may name the URL, never
/// a header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportError {
    /// What failed.
    pub kind: NetworkErrorKind,
    /// The transport's own description.
    pub message: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// [`Transport`] over a [`reqwest::Client`].
#[derive(Debug, Clone)]
pub(crate) struct ReqwestTransport(pub reqwest::Client);

impl Transport for ReqwestTransport {
    fn send(&self, request: Outgoing, timeout: Duration) -> Sending<'_> {
        Box::pin(async move {
            // One timer for the headers and then the body, held here rather than set as
            // reqwest's per-request timeout: that one is a request extension its retry layer
            // clones, and a further wrapper around the body; the bound is the same.
            // The exchange is polled before the timer: an answer that is in never pays for a
            // poll of the timer (the timer still fires at the deadline; a wake then finds the
            // exchange pending and the timer elapsed).
            let mut deadline = Box::pin(tokio::time::sleep(timeout));
            let response = tokio::select! {
                biased;
                sent = self.0.execute(reqwest_request(request)) => {
                    sent.map_err(|e| sending_error(&e))?
                }
                () = &mut deadline => return Err(timed_out(timeout)),
            };
            Ok(answer_of(
                response,
                Some(Deadline {
                    at: deadline,
                    timeout,
                }),
            ))
        })
    }

    fn send_streaming(&self, request: Outgoing, timeout: Duration) -> Sending<'_> {
        Box::pin(async move {
            // No per-request timeout: reqwest's would cover the body too and cut the stream.
            // The `Client` built by `SdkBuilder` has no total timeout either (connect only).
            let outgoing = reqwest_request(request);
            let response = tokio::time::timeout(timeout, self.0.execute(outgoing))
                .await
                .map_err(|_| timed_out(timeout))?
                .map_err(|e| sending_error(&e))?;
            Ok(answer_of(response, None))
        })
    }
}

fn reqwest_request(request: Outgoing) -> reqwest::Request {
    let mut outgoing = reqwest::Request::new(request.method, request.url);
    *outgoing.headers_mut() = request.headers;
    *outgoing.body_mut() = request.body.map(reqwest::Body::from);
    outgoing
}

/// No answer's headers arrived in time.
fn timed_out(timeout: Duration) -> TransportError {
    TransportError {
        kind: NetworkErrorKind::Timeout,
        message: format!("no answer within {} ms", timeout.as_millis()),
    }
}

/// When a buffered exchange's time runs out, its body included.
struct Deadline {
    at: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

fn answer_of(mut response: reqwest::Response, deadline: Option<Deadline>) -> Answer {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let content_length = response.content_length();
    let chunks = response
        .bytes_stream()
        .map(|chunk| chunk.map_err(|error| reading_error(&error)));
    let body: BodyStream = match deadline {
        None => Box::pin(chunks),
        Some(mut deadline) => {
            // The deadline is checked before each chunk (a clock read); once past it the body
            // ends with a timeout. The timer itself is polled, to be woken at the deadline,
            // only when no chunk is ready.
            let mut chunks = chunks;
            let mut expired = false;
            Box::pin(futures::stream::poll_fn(move |cx| {
                use std::task::Poll;
                if expired {
                    return Poll::Ready(None);
                }
                let timeout = || {
                    Poll::Ready(Some(Err(TransportError {
                        kind: NetworkErrorKind::Timeout,
                        message: format!(
                            "the body did not arrive within {} ms",
                            deadline.timeout.as_millis()
                        ),
                    })))
                };
                if tokio::time::Instant::now() >= deadline.at.deadline() {
                    expired = true;
                    return timeout();
                }
                match chunks.poll_next_unpin(cx) {
                    Poll::Pending if deadline.at.as_mut().poll(cx).is_ready() => {
                        expired = true;
                        timeout()
                    }
                    polled => polled,
                }
            }))
        }
    };
    Answer {
        status,
        headers,
        content_length,
        body,
    }
}

/// A failure before any answer arrived.
fn sending_error(error: &reqwest::Error) -> TransportError {
    network_error(error, Phase::Sending)
}

/// A failure while reading a body.
fn reading_error(error: &reqwest::Error) -> TransportError {
    network_error(error, Phase::Reading)
}

/// When a network failure happened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the answer's headers.
    Sending,
    /// While reading the answer's body.
    Reading,
}

fn network_error(error: &reqwest::Error, phase: Phase) -> TransportError {
    let kind = match (error.is_connect(), error.is_timeout()) {
        (true, true) => NetworkErrorKind::ConnectTimeout,
        (true, false) => NetworkErrorKind::Connect,
        (false, true) => NetworkErrorKind::Timeout,
        // Closed after the request went out but before any answer.
        (false, false) if phase == Phase::Sending && error.is_request() && !error.is_builder() => {
            NetworkErrorKind::Closed
        }
        (false, false) => NetworkErrorKind::Other,
    };
    TransportError {
        kind,
        message: error.to_string(),
    }
}

#[cfg(test)]
pub(crate) use scripted::{Scripted, Sent};

#[cfg(test)]
mod scripted {
    //! A [`Transport`] that plays back canned answers in order, for tests without sockets.

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use futures::channel::mpsc;

    use super::*;

    /// One canned answer.
    pub(crate) enum Canned {
        Answer {
            status: u16,
            headers: Vec<(&'static str, String)>,
            /// Chunks of the body, then optionally a network failure.
            chunks: Vec<Bytes>,
            broken: Option<NetworkErrorKind>,
        },
        /// An answer whose body chunks are released one by one through a [`Gate`].
        Gated {
            status: u16,
            headers: Vec<(&'static str, String)>,
            body: mpsc::UnboundedReceiver<Result<Bytes, TransportError>>,
        },
        Fail(NetworkErrorKind),
    }

    /// Releases the body of a gated answer chunk by chunk, on the test's signal. Dropping it
    /// (or [`finish`](Self::finish)) ends the body cleanly.
    #[derive(Debug, Clone)]
    pub(crate) struct Gate(mpsc::UnboundedSender<Result<Bytes, TransportError>>);

    impl Gate {
        /// Releases one chunk of the body (ignored once the reader is gone).
        pub(crate) fn release(&self, chunk: impl Into<Bytes>) {
            let _ = self.0.unbounded_send(Ok(chunk.into()));
        }

        /// Breaks the body with a network failure of `kind`.
        pub(crate) fn cut(&self, kind: NetworkErrorKind) {
            let _ = self.0.unbounded_send(Err(TransportError {
                kind,
                message: format!("scripted {} while reading", kind.label()),
            }));
        }

        /// Ends the body cleanly.
        pub(crate) fn finish(self) {
            self.0.close_channel();
        }

        /// Whether the reader of the body is gone (the request was cancelled or finished).
        pub(crate) fn reader_gone(&self) -> bool {
            self.0.is_closed()
        }
    }

    /// What a [`Scripted`] transport was asked to send.
    #[derive(Debug, Clone)]
    pub(crate) struct Sent {
        pub method: http::Method,
        pub uri: String,
        pub headers: HeaderMap,
        pub body: Option<Bytes>,
        pub timeout: Duration,
        /// Sent with [`Transport::send_streaming`] (the timeout covers the headers only).
        pub streaming: bool,
    }

    /// Plays back canned answers in order and records every request; out of answers, it fails
    /// the exchange (`Other`).
    #[derive(Default)]
    pub(crate) struct Scripted {
        answers: Mutex<VecDeque<Canned>>,
        sent: Mutex<Vec<Sent>>,
    }

    impl Scripted {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        /// Then an answer with `status`, `headers` and `body` in one chunk.
        pub(crate) fn answer(
            self,
            status: u16,
            headers: &[(&'static str, &str)],
            body: &str,
        ) -> Self {
            self.push(Canned::Answer {
                status,
                headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
                chunks: vec![Bytes::from(body.to_owned())],
                broken: None,
            })
        }

        /// Then an answer with `status` whose body is `chunks`, then breaks with `kind`.
        pub(crate) fn broken_answer(
            self,
            status: u16,
            chunks: &[&str],
            kind: NetworkErrorKind,
        ) -> Self {
            self.push(Canned::Answer {
                status,
                headers: Vec::new(),
                chunks: chunks
                    .iter()
                    .map(|c| Bytes::from((*c).to_owned()))
                    .collect(),
                broken: Some(kind),
            })
        }

        /// Then an answer with `status` and `headers` whose body is released through the
        /// returned [`Gate`].
        pub(crate) fn gated_answer(
            self,
            status: u16,
            headers: &[(&'static str, &str)],
        ) -> (Self, Gate) {
            let (tx, rx) = mpsc::unbounded();
            let this = self.push(Canned::Gated {
                status,
                headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
                body: rx,
            });
            (this, Gate(tx))
        }

        /// Then a network failure before any answer.
        pub(crate) fn fail(self, kind: NetworkErrorKind) -> Self {
            self.push(Canned::Fail(kind))
        }

        fn push(self, canned: Canned) -> Self {
            self.answers.lock().unwrap().push_back(canned);
            self
        }

        /// Every request sent so far.
        pub(crate) fn sent(&self) -> Vec<Sent> {
            self.sent.lock().unwrap().clone()
        }
    }

    impl Transport for Scripted {
        fn send(&self, request: Outgoing, timeout: Duration) -> Sending<'_> {
            self.play(request, timeout, false)
        }

        fn send_streaming(&self, request: Outgoing, timeout: Duration) -> Sending<'_> {
            self.play(request, timeout, true)
        }
    }

    fn header_map(headers: Vec<(&'static str, String)>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(name, value.parse().expect("a header value"));
        }
        map
    }

    impl Scripted {
        fn play(&self, request: Outgoing, timeout: Duration, streaming: bool) -> Sending<'_> {
            self.sent.lock().unwrap().push(Sent {
                method: request.method,
                uri: request.url.to_string(),
                headers: request.headers,
                body: request.body,
                timeout,
                streaming,
            });
            let next = self.answers.lock().unwrap().pop_front();
            Box::pin(async move {
                match next {
                    None => Err(TransportError {
                        kind: NetworkErrorKind::Other,
                        message: "script ran out of answers".into(),
                    }),
                    Some(Canned::Fail(kind)) => Err(TransportError {
                        kind,
                        message: format!("scripted {}", kind.label()),
                    }),
                    Some(Canned::Answer {
                        status,
                        headers,
                        chunks,
                        broken,
                    }) => {
                        let map = header_map(headers);
                        let content_length = map
                            .get(http::header::CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok()?.parse().ok());
                        let items = chunks.into_iter().map(Ok).chain(broken.map(|kind| {
                            Err(TransportError {
                                kind,
                                message: format!("scripted {} while reading", kind.label()),
                            })
                        }));
                        Ok(Answer {
                            status: StatusCode::from_u16(status).expect("a status"),
                            headers: map,
                            content_length,
                            body: Box::pin(futures::stream::iter(items.collect::<Vec<_>>())),
                        })
                    }
                    Some(Canned::Gated {
                        status,
                        headers,
                        body,
                    }) => {
                        let headers = header_map(headers);
                        let content_length = headers
                            .get(http::header::CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok()?.parse().ok());
                        Ok(Answer {
                            status: StatusCode::from_u16(status).expect("a status"),
                            headers,
                            content_length,
                            body: Box::pin(body),
                        })
                    }
                }
            })
        }
    }
}
