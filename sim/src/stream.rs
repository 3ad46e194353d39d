//! Streamed audio answers: paced chunks produced as they are sent (never the whole body in
//! memory), a gate the test holds, and streams that are cut or stall mid-way.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::audio::Synth;
use super::log::{StreamEnd, StreamRecord};
use media_sdk::spec::AudioEvents;

/// How the simulator paces a streamed audio answer (see
/// [`SimBuilder::stream_pacing`](super::SimBuilder::stream_pacing)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPacing {
    /// Bytes of audio per chunk (per event with server-sent events). At least 1.
    pub chunk_bytes: usize,
    /// Time between the starts of two chunks; the first chunk goes out at once.
    pub interval: Duration,
    /// Bytes of audio in all; `None`: the same audio as the buffered answer to the request.
    pub total_bytes: Option<u64>,
}

impl Default for StreamPacing {
    /// 16 KiB chunks without delay, the buffered answer's audio.
    fn default() -> Self {
        Self {
            chunk_bytes: 16 * 1024,
            interval: Duration::ZERO,
            total_bytes: None,
        }
    }
}

impl StreamPacing {
    /// `total_bytes` of audio in `chunk_bytes` chunks spread evenly over `duration` (the last
    /// chunk starts at `duration`).
    pub fn over(total_bytes: u64, chunk_bytes: usize, duration: Duration) -> Self {
        let chunk_bytes = chunk_bytes.max(1);
        let chunks = total_bytes.div_ceil(chunk_bytes as u64).max(2);
        let steps = u32::try_from(chunks - 1).unwrap_or(u32::MAX);
        Self {
            chunk_bytes,
            interval: duration / steps,
            total_bytes: Some(total_bytes),
        }
    }
}

/// A gate on the chunks of streamed answers, held by the test (see
/// [`Simulator::gate_streams`](super::Simulator::gate_streams)): every chunk of audio waits for
/// a permit, so a test decides when each one is sent, without timing. Headers are not gated,
/// nor the closing event of server-sent events.
///
/// Clones share the same permits. Dropping every handle does not open the gate; call
/// [`open`](Self::open).
#[derive(Debug, Clone)]
pub struct StreamGate {
    permits: Arc<Semaphore>,
}

impl StreamGate {
    pub(crate) fn new() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(0)),
        }
    }

    /// Lets `chunks` more chunks through, across the streams behind this gate.
    pub fn release(&self, chunks: usize) {
        self.permits.add_permits(chunks);
    }

    /// Lets every chunk through from now on.
    pub fn open(&self) {
        self.permits.close();
    }

    /// Waits for a permit (at once once the gate is open).
    async fn pass(&self) {
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
        }
    }
}

/// Where a planned stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlannedEnd {
    /// All the audio, then the end of the body.
    Complete,
    /// The connection is closed abruptly after this many body bytes.
    CutAfter(u64),
    /// Nothing more is sent after this many body bytes.
    StallAfter(u64),
}

/// Server-sent events wrapping the audio (OpenAI's `stream_format: sse`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Events {
    pub names: AudioEvents,
    /// Tokens of the request's text, reported in the closing event's usage.
    pub input_tokens: u64,
}

/// A streamed answer's body, decided with the answer.
#[derive(Debug)]
pub(crate) struct StreamPlan {
    pub synth: Synth,
    pub audio_bytes: u64,
    pub chunk_bytes: usize,
    pub interval: Duration,
    pub events: Option<Events>,
    pub end: PlannedEnd,
    pub gate: Option<StreamGate>,
}

impl StreamPlan {
    /// The content type of the answer: the audio's, or `text/event-stream`.
    pub(crate) fn content_type<'a>(&self, audio: &'a str) -> &'a str {
        match self.events {
            Some(_) => "text/event-stream",
            None => audio,
        }
    }
}

/// The body stream ended abruptly by the simulator.
#[derive(Debug)]
pub(crate) struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream cut by the simulator")
    }
}

impl std::error::Error for Cut {}

/// Told of the stream's progress: bytes sent so far and how it stands.
pub(crate) type Progress = Box<dyn FnMut(StreamRecord) + Send>;

/// Produces a planned body one chunk at a time, as the connection asks for it.
pub(crate) struct Streamer {
    plan: StreamPlan,
    progress: Progress,
    shutdown: watch::Receiver<bool>,
    /// Body bytes handed out.
    sent: u64,
    /// Audio bytes produced.
    audio_sent: u64,
    chunks: u32,
    started: Option<Instant>,
    done_event_sent: bool,
    /// `Streaming` until the stream ends one way or another.
    state: StreamEnd,
}

impl Streamer {
    pub(crate) fn new(
        plan: StreamPlan,
        progress: Progress,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            plan,
            progress,
            shutdown,
            sent: 0,
            audio_sent: 0,
            chunks: 0,
            started: None,
            done_event_sent: false,
            state: StreamEnd::Streaming,
        }
    }

    /// The body as a stream of chunks; an `Err` makes the server drop the connection.
    pub(crate) fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<Bytes, Cut>> + Send + 'static {
        futures::stream::unfold(self, |mut streamer| async move {
            let item = streamer.next().await?;
            Some((item, streamer))
        })
    }

    fn report(&mut self, state: StreamEnd) {
        self.state = state;
        (self.progress)(StreamRecord {
            bytes_sent: self.sent,
            end: state,
        });
    }

    async fn shut_down(&mut self) {
        // The sender lives as long as the simulator; an error means it is gone.
        let _ = self.shutdown.wait_for(|down| *down).await;
    }

    async fn next(&mut self) -> Option<Result<Bytes, Cut>> {
        if self.state != StreamEnd::Streaming {
            return None;
        }
        let limit = match self.plan.end {
            PlannedEnd::Complete => None,
            PlannedEnd::CutAfter(n) | PlannedEnd::StallAfter(n) => Some(n),
        };
        if let Some(limit) = limit
            && self.sent >= limit
        {
            if let PlannedEnd::StallAfter(_) = self.plan.end {
                self.report(StreamEnd::Stalled);
                self.shut_down().await;
            } else {
                // Pending once first, so the connection flushes what was sent before it is
                // closed (hyper drops unflushed bytes with the connection).
                tokio::task::yield_now().await;
                self.report(StreamEnd::Cut);
            }
            return Some(Err(Cut));
        }
        let mut piece = if self.audio_sent < self.plan.audio_bytes {
            if let Some(gate) = self.plan.gate.clone() {
                tokio::select! {
                    () = gate.pass() => {}
                    () = self.shut_down() => {
                        self.report(StreamEnd::Cancelled);
                        return Some(Err(Cut));
                    }
                }
            }
            self.pace().await;
            self.audio_chunk()
        } else if let (Some(events), false) = (self.plan.events, self.done_event_sent) {
            self.done_event_sent = true;
            let usage = json!({
                "input_tokens": events.input_tokens,
                "output_tokens": self.audio_sent.div_ceil(1024),
                "total_tokens": events.input_tokens + self.audio_sent.div_ceil(1024),
            });
            let mut event = serde_json::Map::new();
            event.insert(events.names.type_field.to_owned(), events.names.done.into());
            event.insert("usage".to_owned(), usage);
            sse(&serde_json::Value::Object(event))
        } else {
            self.report(StreamEnd::Completed);
            return None;
        };
        if let Some(limit) = limit {
            let room = usize::try_from(limit - self.sent).unwrap_or(usize::MAX);
            piece.truncate(room);
        }
        self.sent += piece.len() as u64;
        self.report(StreamEnd::Streaming);
        Some(Ok(Bytes::from(piece)))
    }

    /// Waits until chunk number `chunks` is due: the first at once, then one per interval.
    async fn pace(&mut self) {
        let started = *self.started.get_or_insert_with(Instant::now);
        if !self.plan.interval.is_zero() && self.chunks > 0 {
            tokio::time::sleep_until(started + self.plan.interval * self.chunks).await;
        }
        self.chunks += 1;
    }

    /// The next chunk of audio, raw or as a delta event.
    fn audio_chunk(&mut self) -> Vec<u8> {
        let remaining = self.plan.audio_bytes - self.audio_sent;
        let len = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(self.plan.chunk_bytes.max(1));
        let mut audio = Vec::with_capacity(len);
        self.plan.synth.fill(&mut audio, len);
        self.audio_sent += len as u64;
        match self.plan.events {
            None => audio,
            Some(events) => {
                let mut event = serde_json::Map::new();
                event.insert(
                    events.names.type_field.to_owned(),
                    events.names.delta.into(),
                );
                event.insert(
                    events.names.audio_field.to_owned(),
                    base64::engine::general_purpose::STANDARD
                        .encode(&audio)
                        .into(),
                );
                sse(&serde_json::Value::Object(event))
            }
        }
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        // The connection went away before the end: the client cancelled.
        if self.state == StreamEnd::Streaming {
            self.report(StreamEnd::Cancelled);
        }
    }
}

/// One server-sent event carrying `data`.
fn sse(data: &serde_json::Value) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_spreads_the_chunks_over_the_duration() {
        let pacing = StreamPacing::over(1 << 20, 16 * 1024, Duration::from_secs(2));
        assert_eq!(pacing.total_bytes, Some(1 << 20));
        // 64 chunks, 63 intervals.
        assert_eq!(pacing.interval, Duration::from_secs(2) / 63);
        assert_eq!(StreamPacing::over(10, 0, Duration::ZERO).chunk_bytes, 1);
    }
}
