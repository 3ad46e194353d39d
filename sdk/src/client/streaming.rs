//! The body of a streaming audio answer after its 2xx headers: chunks handed to the caller as
//! they arrive, bounded by the stream's idle timeout and its cap, decoded from server-sent
//! events when the provider sends them, and one metric when the stream ends, fails or is
//! dropped.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use super::sse::{SseEvent, SseReader};
use super::transport::BodyStream;
use super::{Call, ProviderClient, millis};
use crate::error::{Error, Result, StreamFailure};
use crate::keys::KeyLease;
use crate::spec::{AudioEvents, StreamSpec};

/// Most bytes of one server-sent event (its lines included): far above a real audio delta
/// (OpenAI's are a few KiB of base64), small enough to bound memory.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// How a stream ended, for its one metric.
pub(super) enum StreamEnd<'a> {
    /// The provider sent everything.
    Completed,
    /// It failed (after or before its headers).
    Failed(&'a Error),
    /// The caller dropped it before its end.
    Cancelled,
}

/// The audio of one open stream: owns the key's lease and the HTTP body, both released when
/// the stream ends or is dropped (dropping the body cancels the request).
pub(super) struct AudioFlow {
    client: ProviderClient,
    call: Call,
    /// `None` once the stream has ended (the key is released then).
    lease: Option<KeyLease>,
    body: Option<BodyStream>,
    /// The server-sent events reader, when the answer is an event stream.
    events: Option<EventAudio>,
    /// Audio decoded and not yet handed over.
    pending: VecDeque<Bytes>,
    /// The stream's limits.
    idle_timeout: Duration,
    max_bytes: u64,
    /// Most bytes read off the wire (the cap for raw audio; room for base64 with events).
    max_wire_bytes: u64,
    /// The announced length of a raw body, to end as soon as it is all in.
    content_length: Option<u64>,
    /// Silence allowed before the next chunk; armed when the caller asks for one.
    idle: Pin<Box<Sleep>>,
    waiting: bool,
    /// Audio bytes handed to the caller, and bytes read off the wire.
    delivered: u64,
    wire: u64,
    /// Time from the call's start to the first audio byte.
    ttfb: Option<Duration>,
    /// The metric was recorded (exactly once, by the first of end, failure or drop).
    recorded: bool,
}

/// Audio carried by server-sent events.
struct EventAudio {
    reader: SseReader,
    names: AudioEvents,
    /// Events read from the last chunk, reused.
    scratch: Vec<SseEvent>,
    /// The `done` event arrived.
    done: bool,
}

impl EventAudio {
    fn new(names: AudioEvents) -> Self {
        Self {
            reader: SseReader::new(MAX_EVENT_BYTES),
            names,
            scratch: Vec::new(),
            done: false,
        }
    }

    /// Reads `chunk` of the event stream, handing the audio of every delta event to `audio`,
    /// until the `done` event (whatever follows it is ignored).
    fn feed(
        &mut self,
        chunk: &[u8],
        mut audio: impl FnMut(Bytes),
    ) -> std::result::Result<(), (StreamFailure, String)> {
        if self.done {
            return Ok(());
        }
        self.reader
            .feed(chunk, &mut self.scratch)
            .map_err(|e| (StreamFailure::BadEvent, e.to_string()))?;
        for event in self.scratch.drain(..) {
            match audio_of(&event, &self.names)? {
                EventAudioItem::Audio(bytes) if !bytes.is_empty() => audio(bytes),
                EventAudioItem::Done => {
                    self.done = true;
                    break;
                }
                EventAudioItem::Audio(_) | EventAudioItem::Other => {}
            }
        }
        Ok(())
    }
}

impl AudioFlow {
    /// The flow of an answer whose headers `call` received with `lease`; `event_stream` when
    /// its content type is `text/event-stream`.
    pub(super) fn new(
        client: ProviderClient,
        call: Call,
        lease: KeyLease,
        body: BodyStream,
        spec: &StreamSpec,
        event_stream: bool,
        content_length: Option<u64>,
    ) -> Self {
        let events = spec.events.filter(|_| event_stream).map(EventAudio::new);
        let idle_timeout = Duration::from_millis(spec.idle_timeout_ms);
        let max_wire_bytes = if events.is_some() {
            // Base64 is 4/3 of the audio, plus each event's JSON and framing.
            spec.max_bytes
                .saturating_mul(2)
                .saturating_add(MAX_EVENT_BYTES as u64)
        } else {
            spec.max_bytes
        };
        Self {
            client,
            call,
            lease: Some(lease),
            body: Some(body),
            content_length: content_length.filter(|_| events.is_none()),
            events,
            pending: VecDeque::new(),
            idle_timeout,
            max_bytes: spec.max_bytes,
            max_wire_bytes,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            waiting: false,
            delivered: 0,
            wire: 0,
            ttfb: None,
            recorded: false,
        }
    }

    fn error(&self, failure: StreamFailure, message: String) -> Error {
        let message = match &self.lease {
            Some(lease) => lease.redact(&message),
            None => message,
        };
        Error::Stream {
            provider: self.call.provider.id,
            endpoint: self.call.endpoint.id,
            failure,
            received_bytes: self.delivered,
            message,
        }
    }

    /// Ends the stream: records its metric, releases the key and drops the body.
    fn end(&mut self, how: StreamEnd<'_>) {
        if !self.recorded {
            self.recorded = true;
            self.client.finish_stream(&self.call, self.ttfb, how);
        }
        self.body = None;
        self.lease = None;
    }

    fn fail(&mut self, failure: StreamFailure, message: String) -> Poll<Option<Result<Bytes>>> {
        let error = self.error(failure, message);
        self.pending.clear();
        self.end(StreamEnd::Failed(&error));
        Poll::Ready(Some(Err(error)))
    }

    /// Takes in one chunk of the body: straight audio, or events to decode.
    fn take_in(&mut self, chunk: Bytes) -> std::result::Result<(), (StreamFailure, String)> {
        self.wire += chunk.len() as u64;
        if self.wire > self.max_wire_bytes {
            return Err((
                StreamFailure::TooLarge,
                format!("more than {} bytes", self.max_wire_bytes),
            ));
        }
        match &mut self.events {
            Some(events) => events.feed(&chunk, |audio| self.pending.push_back(audio)),
            None => {
                if !chunk.is_empty() {
                    self.pending.push_back(chunk);
                }
                Ok(())
            }
        }
    }

    /// Whether everything the provider will send is in.
    fn all_in(&self) -> bool {
        match &self.events {
            Some(events) => events.done,
            None => self.content_length.is_some_and(|n| self.wire >= n),
        }
    }

    /// Hands over the next pending chunk, within the cap.
    fn hand_over(&mut self) -> Option<Poll<Option<Result<Bytes>>>> {
        let chunk = self.pending.pop_front()?;
        self.delivered += chunk.len() as u64;
        if self.delivered > self.max_bytes {
            self.delivered -= chunk.len() as u64;
            let message = format!("more than {} bytes of audio", self.max_bytes);
            return Some(self.fail(StreamFailure::TooLarge, message));
        }
        if self.ttfb.is_none() {
            self.ttfb = Some(self.call.started.elapsed());
        }
        self.waiting = false;
        if self.pending.is_empty() && self.all_in() {
            self.end(StreamEnd::Completed);
        }
        Some(Poll::Ready(Some(Ok(chunk))))
    }
}

/// The audio of a whole `text/event-stream` body read by a buffered call (OpenAI answers
/// `stream_format: sse` with events on the buffered path too): the delta events' audio, joined,
/// up to the `done` event, which must come.
pub(super) fn event_body_audio(
    body: &[u8],
    names: &AudioEvents,
) -> std::result::Result<Bytes, String> {
    let mut events = EventAudio::new(*names);
    let mut audio = Vec::new();
    // A last event without its blank line still counts.
    for part in [body, b"\n\n"] {
        events
            .feed(part, |bytes| audio.extend_from_slice(&bytes))
            .map_err(|(_, message)| message)?;
    }
    if events.done {
        Ok(Bytes::from(audio))
    } else {
        Err(format!("the events ended without `{}`", names.done))
    }
}

enum EventAudioItem {
    Audio(Bytes),
    Done,
    Other,
}

/// What one event carries: base64 audio in a delta event, the end, or nothing of interest
/// (an event type the stream does not name).
fn audio_of(
    event: &SseEvent,
    names: &AudioEvents,
) -> std::result::Result<EventAudioItem, (StreamFailure, String)> {
    let bad = |what: String| (StreamFailure::BadEvent, what);
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&event.data)
        .map_err(|e| bad(format!("event data is not a JSON object: {e}")))?;
    let Some(kind) = object.get(names.type_field).and_then(|v| v.as_str()) else {
        return Err(bad(format!(
            "event without a `{}` string",
            names.type_field
        )));
    };
    if kind == names.done {
        return Ok(EventAudioItem::Done);
    }
    if kind != names.delta {
        return Ok(EventAudioItem::Other);
    }
    let Some(audio) = object.get(names.audio_field).and_then(|v| v.as_str()) else {
        return Err(bad(format!(
            "`{}` event without a `{}` string",
            names.delta, names.audio_field
        )));
    };
    base64::engine::general_purpose::STANDARD
        .decode(audio)
        .map(|bytes| EventAudioItem::Audio(Bytes::from(bytes)))
        .map_err(|e| bad(format!("`{}` is not base64: {e}", names.audio_field)))
}

impl Stream for AudioFlow {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(ready) = this.hand_over() {
            return ready;
        }
        if this.recorded {
            return Poll::Ready(None);
        }
        if !this.waiting {
            // The provider's silence counts while the caller waits, not while it is busy.
            this.waiting = true;
            let deadline = Instant::now() + this.idle_timeout;
            this.idle.as_mut().reset(deadline);
        }
        loop {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            match body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let deadline = Instant::now() + this.idle_timeout;
                    this.idle.as_mut().reset(deadline);
                    if let Err((failure, message)) = this.take_in(chunk) {
                        return this.fail(failure, message);
                    }
                    if let Some(ready) = this.hand_over() {
                        return ready;
                    }
                    if this.all_in() {
                        this.end(StreamEnd::Completed);
                        return Poll::Ready(None);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    let message = format!("{}: {error}", error.kind.label());
                    return this.fail(StreamFailure::Interrupted, message);
                }
                Poll::Ready(None) => {
                    if this.events.as_ref().is_some_and(|e| !e.done) {
                        let message = "the stream ended before its final event".to_owned();
                        return this.fail(StreamFailure::Interrupted, message);
                    }
                    this.end(StreamEnd::Completed);
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        let message = format!("no data for {} ms", millis(this.idle_timeout));
                        return this.fail(StreamFailure::Idle, message);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for AudioFlow {
    fn drop(&mut self) {
        if !self.recorded {
            self.end(StreamEnd::Cancelled);
        }
    }
}
