//! Streamed audio over real HTTP: chunks released by a gate, server-sent events, ElevenLabs'
//! `/stream` path, streams cut or stalled mid-way, and refusals before the first byte.
//!
//! The routes are built by hand with a `stream:` descriptor, so these tests do not depend on
//! what `providers.yaml` declares.

use crate::sim_support;

use base64::Engine;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use media_sdk::spec::{AudioEvents, EndpointSpec, ResponseSpec, StreamSpec};
use media_sdk_sim::{
    RateLimit, RequestRecord, Scripted, SimRoute, Simulator, StreamEnd, StreamPacing, StreamRecord,
};
use serde_json::{Value, json};
use sim_support::*;
use std::time::Duration;

/// OpenAI's speech endpoint: streams on its own path, with server-sent events on request.
const OPENAI_STREAM: StreamSpec = StreamSpec {
    path: None,
    idle_timeout_ms: 10_000,
    max_bytes: 1 << 30,
    events: Some(AudioEvents {
        type_field: "type",
        delta: "speech.audio.delta",
        audio_field: "audio",
        done: "speech.audio.done",
    }),
};

/// ElevenLabs' text to speech: streams from a path of its own.
const ELEVEN_STREAM: StreamSpec = StreamSpec {
    path: Some("/v1/text-to-speech/{voice_id}/stream"),
    idle_timeout_ms: 10_000,
    max_bytes: 1 << 30,
    events: None,
};

/// `route` declared as streaming with `stream`.
fn streaming(route: SimRoute, stream: StreamSpec) -> SimRoute {
    let ResponseSpec::Audio { content_type, .. } = route.spec.response else {
        panic!("not an audio route");
    };
    SimRoute {
        spec: EndpointSpec {
            response: ResponseSpec::Audio {
                content_type,
                stream: Some(stream),
            },
            ..route.spec
        },
        ..route
    }
}

/// OpenAI with the generated speech request type (it knows `stream_format`), streaming.
fn openai_sim() -> media_sdk_sim::SimBuilder {
    let speech = SimRoute::of::<media_sdk::openai::SpeechRequest>(None);
    Simulator::builder()
        .provider(&OPENAI, vec![streaming(speech, OPENAI_STREAM)])
        .keys("openai", OPENAI_KEYS)
}

fn eleven_sim() -> media_sdk_sim::SimBuilder {
    let tts = SimRoute::of::<ElevenTtsRequest>(None);
    Simulator::builder()
        .provider(&ELEVENLABS, vec![streaming(tts, ELEVEN_STREAM)])
        .keys("elevenlabs", ELEVEN_KEYS)
}

fn pacing(chunk_bytes: usize, total_bytes: u64) -> StreamPacing {
    StreamPacing {
        chunk_bytes,
        interval: Duration::ZERO,
        total_bytes: Some(total_bytes),
    }
}

async fn post_speech(sim: &Simulator, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/audio/speech", sim.base_url("openai")))
        .bearer_auth(OPENAI_KEYS[0])
        .json(&body)
        .send()
        .await
        .expect("send")
}

fn speech(model: &str) -> Value {
    json!({"model": model, "input": "Streaming ahead.", "voice": "alloy"})
}

/// Reads from `body` until `want` bytes in all have arrived.
async fn read_until(
    body: &mut (impl futures::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    got: &mut Vec<u8>,
    want: usize,
) {
    while got.len() < want {
        let chunk = body.next().await.expect("more body").expect("a chunk");
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), want, "no more than what was released arrives");
}

/// Reads the rest of `body`: the bytes, and the error that ended it if one did.
async fn read_rest(
    body: &mut (impl futures::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    got: &mut Vec<u8>,
) -> Option<reqwest::Error> {
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => got.extend_from_slice(&chunk),
            Err(error) => return Some(error),
        }
    }
    None
}

fn stream_of(record: &RequestRecord) -> StreamRecord {
    record.stream.expect("a streamed answer")
}

#[tokio::test]
async fn the_first_chunk_arrives_before_the_gate_releases_the_second() {
    let sim = openai_sim()
        .stream_pacing("openai", pacing(1000, 3500))
        .start()
        .await
        .unwrap();
    let gate = sim.gate_streams("openai");
    // Headers are not gated: the answer starts before any audio is released.
    let response = post_speech(&sim, speech("tts-1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    assert!(response.headers().get("content-length").is_none());
    assert!(response.headers().contains_key("x-request-id"));
    let mut body = response.bytes_stream();
    let mut got = Vec::new();

    gate.release(1);
    read_until(&mut body, &mut got, 1000).await;
    assert!(got.starts_with(b"ID3"), "the audio starts with its header");
    // The second chunk has not even been produced: the gate holds it.
    assert_eq!(
        stream_of(&sim.requests()[0]),
        StreamRecord {
            bytes_sent: 1000,
            end: StreamEnd::Streaming
        }
    );

    gate.release(1);
    read_until(&mut body, &mut got, 2000).await;
    gate.open();
    assert!(read_rest(&mut body, &mut got).await.is_none());
    assert_eq!(got.len(), 3500);
    assert_eq!(
        stream_of(&sim.requests()[0]),
        StreamRecord {
            bytes_sent: 3500,
            end: StreamEnd::Completed
        }
    );
    let record = &sim.requests()[0];
    assert_eq!(record.status, Some(200));
    assert_eq!(
        record.key_fingerprint.as_deref(),
        Some(media_sdk::keys::fingerprint(OPENAI_KEYS[0]).as_str())
    );
}

#[tokio::test]
async fn paced_chunks_follow_the_interval() {
    let sim = openai_sim()
        .stream_pacing(
            "openai",
            StreamPacing::over(4000, 1000, Duration::from_millis(60)),
        )
        .start()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let bytes = post_speech(&sim, speech("tts-1"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len(), 4000);
    // Three intervals of 20 ms between four chunks: a lower bound only.
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn server_sent_events_carry_base64_audio_then_usage() {
    let sim = openai_sim()
        .stream_pacing("openai", pacing(1000, 2500))
        .start()
        .await
        .unwrap();
    let mut request = speech("gpt-4o-mini-tts");
    request["stream_format"] = "sse".into();
    let response = post_speech(&sim, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();

    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let data = event.strip_prefix("data: ").expect("a data line");
            serde_json::from_str(data).expect("JSON data")
        })
        .collect();
    assert_eq!(events.len(), 4, "three deltas and done: {text}");
    let mut audio = Vec::new();
    for delta in &events[..3] {
        assert_eq!(delta["type"], "speech.audio.delta");
        let chunk = base64::engine::general_purpose::STANDARD
            .decode(delta["audio"].as_str().unwrap())
            .unwrap();
        audio.extend_from_slice(&chunk);
    }
    assert_eq!(audio.len(), 2500);
    assert!(audio.starts_with(b"ID3"));
    let done = &events[3];
    assert_eq!(done["type"], "speech.audio.done");
    let usage = &done["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap())
    );
    assert_eq!(
        stream_of(&sim.requests()[0]).bytes_sent,
        text.len() as u64,
        "the log counts the bytes of the event stream"
    );

    // Without `stream_format: sse` the same endpoint streams the audio bytes; with a model that
    // cannot stream events the request is refused before anything is streamed.
    let raw = post_speech(&sim, speech("gpt-4o-mini-tts")).await;
    assert_eq!(raw.headers()["content-type"], "audio/mpeg");
    let raw = raw.bytes().await.unwrap();
    assert_eq!(raw.len(), audio.len());
    assert!(raw.starts_with(b"ID3"));
    let mut refused = speech("tts-1");
    refused["stream_format"] = "sse".into();
    let refused = post_speech(&sim, refused).await;
    assert_eq!(refused.status(), 400);
    assert!(sim.requests()[2].stream.is_none());
}

#[tokio::test]
async fn elevenlabs_streams_from_its_stream_path_with_the_same_checks() {
    let sim = eleven_sim().start().await.unwrap();
    let client = reqwest::Client::new();
    let base = sim.base_url("elevenlabs");
    let send = |path: &str, key: Option<&str>, body: Value| {
        let mut request = client
            .post(format!("{base}{path}"))
            .query(&[("output_format", "mp3_44100_128")])
            .json(&body);
        if let Some(key) = key {
            request = request.header("xi-api-key", key);
        }
        request.send()
    };
    let body = json!({"text": "Hello from the stream path."});

    let buffered = send(
        "/v1/text-to-speech/voice-1",
        Some(ELEVEN_KEYS[0]),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(buffered.status(), 200);
    assert!(buffered.headers().contains_key("content-length"));
    let buffered = buffered.bytes().await.unwrap();

    let streamed = send(
        "/v1/text-to-speech/voice-1/stream",
        Some(ELEVEN_KEYS[0]),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(streamed.status(), 200);
    assert_eq!(streamed.headers()["transfer-encoding"], "chunked");
    assert_eq!(streamed.headers()["content-type"], "audio/mpeg");
    assert!(streamed.headers().contains_key("request-id"));
    // Unpaced, the stream carries the buffered answer's audio.
    assert_eq!(streamed.bytes().await.unwrap(), buffered);

    // Auth and validation as on the buffered path, in ElevenLabs' dialect.
    let anonymous = send("/v1/text-to-speech/voice-1/stream", None, body.clone())
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let invalid = send(
        "/v1/text-to-speech/voice-1/stream",
        Some(ELEVEN_KEYS[0]),
        json!({"text": ""}),
    )
    .await
    .unwrap();
    assert_eq!(invalid.status(), 422);
    assert!(invalid.json::<Value>().await.unwrap()["detail"].is_array());

    let log = sim.requests();
    assert_eq!(log[0].stream, None, "the buffered path does not stream");
    assert_eq!(
        log[1].endpoint,
        Some(<ElevenTtsRequest as media_sdk::Endpoint>::SPEC.id)
    );
    assert_eq!(stream_of(&log[1]).end, StreamEnd::Completed);
    assert_eq!(stream_of(&log[1]).bytes_sent, buffered.len() as u64);
    assert!(log[2..].iter().all(|r| r.stream.is_none()));
}

#[tokio::test]
async fn a_cut_stream_ends_in_a_body_error() {
    let sim = eleven_sim()
        .stream_pacing("elevenlabs", pacing(1000, 5000))
        .start()
        .await
        .unwrap();
    sim.script(
        "elevenlabs",
        vec![Scripted::CutStream { after_bytes: 1500 }],
    );
    let client = reqwest::Client::new();
    let base = sim.base_url("elevenlabs");
    // A buffered call does not take the entry: it applies to streamed answers only.
    let buffered = client
        .post(format!("{base}/v1/text-to-speech/voice-1"))
        .header("xi-api-key", ELEVEN_KEYS[0])
        .json(&json!({"text": "Buffered."}))
        .send()
        .await
        .unwrap();
    assert_eq!(buffered.status(), 200);
    assert_eq!(sim.pending_script("elevenlabs"), 1);

    let streamed = client
        .post(format!("{base}/v1/text-to-speech/voice-1/stream"))
        .header("xi-api-key", ELEVEN_KEYS[0])
        .json(&json!({"text": "Cut short."}))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200, "the cut comes after the headers");
    let mut body = streamed.bytes_stream();
    let mut got = Vec::new();
    let error = read_rest(&mut body, &mut got)
        .await
        .expect("the body ends in an error, not as complete");
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert_eq!(got.len(), 1500);
    assert_eq!(
        stream_of(&sim.requests()[1]),
        StreamRecord {
            bytes_sent: 1500,
            end: StreamEnd::Cut
        }
    );
}

#[tokio::test]
async fn a_stalled_stream_sends_nothing_more_until_shutdown() {
    let sim = openai_sim()
        .stream_pacing("openai", pacing(1000, 5000))
        .start()
        .await
        .unwrap();
    sim.script("openai", vec![Scripted::StallStream { after_bytes: 1000 }]);
    let response = post_speech(&sim, speech("tts-1")).await;
    let mut body = response.bytes_stream();
    let mut got = Vec::new();
    read_until(&mut body, &mut got, 1000).await;
    sim.wait_for_log(|log| log[0].stream.is_some_and(|s| s.end == StreamEnd::Stalled))
        .await;
    assert!(
        body.next().now_or_never().is_none(),
        "nothing follows the stall"
    );
    assert_eq!(stream_of(&sim.requests()[0]).bytes_sent, 1000);

    sim.shutdown().await;
    let error = read_rest(&mut body, &mut got).await;
    assert!(error.is_some(), "the stalled body never completes");
    assert_eq!(got.len(), 1000);
}

#[tokio::test]
async fn rate_limits_and_errors_come_before_any_audio() {
    let sim = openai_sim()
        .rate_limit("openai", RateLimit::fixed(1))
        .start()
        .await
        .unwrap();
    sim.script(
        "openai",
        vec![Scripted::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        }],
    );
    let gate = sim.gate_streams("openai");
    let limited = post_speech(&sim, speech("tts-1")).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_eq!(limited.headers()["content-type"], "application/json");
    assert!(limited.headers().contains_key("content-length"));
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");

    // The bucket's one token: streamed (through the gate), then the bucket's own 429.
    gate.open();
    let ok = post_speech(&sim, speech("tts-1")).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().contains_key("x-ratelimit-remaining-requests"));
    ok.bytes().await.unwrap();
    let limited = post_speech(&sim, speech("tts-1")).await;
    assert_eq!(limited.status(), 429);

    let log = sim.requests();
    assert_eq!(log[0].stream, None);
    assert_eq!(stream_of(&log[1]).end, StreamEnd::Completed);
    assert_eq!(log[2].stream, None);
    assert_eq!(sim.stats().key("openai", OPENAI_KEYS[0]).rate_limited, 2);
}

#[tokio::test]
async fn a_client_that_goes_away_is_recorded_as_cancelled() {
    let sim = openai_sim()
        .stream_pacing("openai", pacing(1000, 5000))
        .start()
        .await
        .unwrap();
    let gate = sim.gate_streams("openai");
    gate.release(1);
    let response = post_speech(&sim, speech("tts-1")).await;
    let mut body = response.bytes_stream();
    read_until(&mut body, &mut Vec::new(), 1000).await;
    drop(body);
    sim.wait_for_log(|log| log[0].stream.is_some_and(|s| s.end != StreamEnd::Streaming))
        .await;
    assert_eq!(
        stream_of(&sim.requests()[0]),
        StreamRecord {
            bytes_sent: 1000,
            end: StreamEnd::Cancelled
        }
    );
}

#[tokio::test]
async fn a_long_stream_is_produced_as_it_is_read() {
    // 16 MiB at 64 KiB a chunk: read and dropped chunk by chunk by the client; the simulator
    // produces each chunk when the connection asks for it.
    let total: u64 = 16 << 20;
    let sim = openai_sim()
        .stream_pacing("openai", pacing(64 << 10, total))
        .start()
        .await
        .unwrap();
    let response = post_speech(&sim, speech("tts-1")).await;
    let mut body = response.bytes_stream();
    let mut read = 0u64;
    while let Some(chunk) = body.next().await {
        read += chunk.unwrap().len() as u64;
    }
    assert_eq!(read, total);
    assert_eq!(stream_of(&sim.requests()[0]).end, StreamEnd::Completed);
}
