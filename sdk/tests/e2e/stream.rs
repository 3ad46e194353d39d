//! Streamed audio end to end over loopback HTTP: the generated `*_stream` methods and the media
//! facade against the simulator's paced, gated, cut and cancelled streams.
//!
//! Nothing waits on time: the simulator's [`StreamGate`](media_sdk_sim::StreamGate) releases
//! each chunk on the test's signal and [`Simulator::wait_for_log`](media_sdk_sim::Simulator)
//! waits for the simulator's side of a stream to end. The only timeouts bound waits that must
//! not hang (a stream that buffered internally would never yield its first chunk while the gate
//! holds the rest), so such a bug fails instead of hanging.

use crate::e2e_support;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use e2e_support::{ELEVEN_KEYS, Env, OPENAI_KEYS, Recorded, assert_no_secrets, fp};
use futures::StreamExt;
use media_sdk::elevenlabs::{ElevenOutputFormat, ElevenTtsRequest};
use media_sdk::media::TtsInput;
use media_sdk::openai::{SpeechModel, SpeechRequest, StreamFormat, Voice};
use media_sdk::telemetry::CallMetric;
use media_sdk::{AudioStream, Error, Sdk, StreamFailure};
use media_sdk_sim::{Outcome, RequestRecord, Scripted, StreamEnd, StreamPacing, StreamRecord};

/// Bytes of audio per chunk the simulator sends: small, so a short text is several chunks.
const CHUNK: usize = 256;

/// Paced in [`CHUNK`]s without delay, the same audio as the buffered answer.
fn small_chunks() -> StreamPacing {
    StreamPacing {
        chunk_bytes: CHUNK,
        interval: Duration::ZERO,
        total_bytes: None,
    }
}

/// The simulator with every provider streaming in [`CHUNK`]s, and the SDK pointed at it.
async fn env() -> Env {
    Env::with(&[], |b| {
        b.stream_pacing("openai", small_chunks())
            .stream_pacing("elevenlabs", small_chunks())
    })
    .await
}

/// `what` must finish long before this; it is a guard against a hang, not a wait for work.
async fn bounded<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after 10 s"))
}

/// Reads `stream` until `want` bytes in all have arrived (and no more).
async fn read_until(stream: &mut AudioStream, got: &mut Vec<u8>, want: usize) {
    while got.len() < want {
        let chunk = stream
            .next()
            .await
            .expect("more audio before the end")
            .expect("an audio chunk");
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), want, "no more than what the gate released");
}

/// Reads the rest of `stream`: the bytes, and the error that ended it if one did.
async fn read_rest(stream: &mut AudioStream, got: &mut Vec<u8>) -> Option<Error> {
    while let Some(chunk) = stream.next().await {
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

/// Keys the `provider` pool has in flight.
fn in_flight(sdk: &Sdk, provider: &str) -> u32 {
    sdk.provider(provider)
        .unwrap()
        .pool()
        .snapshot()
        .iter()
        .map(|k| k.in_flight)
        .sum()
}

/// The one call metric recorded for `endpoint`.
fn only_metric(telemetry: &Recorded, endpoint: &str) -> CallMetric {
    let metrics: Vec<CallMetric> = telemetry
        .calls()
        .into_iter()
        .filter(|m| m.endpoint == endpoint)
        .collect();
    assert_eq!(metrics.len(), 1, "one metric for {endpoint}: {metrics:?}");
    metrics.into_iter().next().unwrap()
}

/// An OpenAI speech stream of `text` opened behind a gate, and its first chunk, read once the
/// gate released it.
async fn gated_first_chunk(env: &Env, text: &str) -> (AudioStream, Vec<u8>) {
    let gate = env.sim.gate_streams("openai");
    let mut stream = bounded(
        "the headers",
        env.sdk.openai().unwrap().speech_stream(speech(text)),
    )
    .await
    .unwrap();
    gate.release(1);
    let mut got = Vec::new();
    bounded("the first chunk", read_until(&mut stream, &mut got, CHUNK)).await;
    (stream, got)
}

fn speech(text: &str) -> SpeechRequest {
    SpeechRequest {
        voice: Voice::Nova,
        ..SpeechRequest::new(text)
    }
}

#[tokio::test]
async fn openai_speech_stream_hands_over_the_first_chunk_before_the_rest_is_released() {
    let env = env().await;
    let openai = env.sdk.openai().unwrap();
    let request = speech("The first bytes arrive before the rest is even produced.");
    // OpenAI streams on the speech path itself, so the buffered answer comes from the same
    // (deterministic) stream; taken before the gate is set.
    let buffered = openai.speech(request.clone()).await.unwrap();
    assert!(
        buffered.bytes.len() > 3 * CHUNK,
        "several chunks: {}",
        buffered.bytes.len()
    );

    let gate = env.sim.gate_streams("openai");
    // Headers are not gated: the stream opens before any audio is released.
    let mut stream = bounded("the headers", openai.speech_stream(request))
        .await
        .unwrap();
    assert_eq!(stream.content_type(), Some("audio/mpeg"));
    assert_eq!(
        in_flight(&env.sdk, "openai"),
        1,
        "the open stream holds its key"
    );

    gate.release(1);
    let mut got = Vec::new();
    bounded("the first chunk", read_until(&mut stream, &mut got, CHUNK)).await;
    assert!(got.starts_with(b"ID3"), "the audio's header comes first");
    // The caller holds the first chunk while the simulator has not produced the second.
    assert_eq!(
        stream_of(&env.log("openai")[1]),
        StreamRecord {
            bytes_sent: CHUNK as u64,
            end: StreamEnd::Streaming
        }
    );
    assert!(
        futures::poll!(stream.next()).is_pending(),
        "nothing more until the gate releases it"
    );

    gate.release(1);
    bounded(
        "the second chunk",
        read_until(&mut stream, &mut got, 2 * CHUNK),
    )
    .await;
    assert_eq!(
        stream_of(&env.log("openai")[1]).bytes_sent,
        2 * CHUNK as u64
    );

    gate.open();
    let error = bounded("the rest", read_rest(&mut stream, &mut got)).await;
    assert!(error.is_none(), "the stream completes: {error:?}");
    assert_eq!(got, buffered.bytes, "the same audio as the buffered call");
    assert!(stream.next().await.is_none(), "the stream stays ended");
    assert_eq!(
        in_flight(&env.sdk, "openai"),
        0,
        "the key is released at the end"
    );

    let log = env.log("openai");
    assert_eq!(log.len(), 2, "one buffered call, one stream: {log:?}");
    assert_eq!(
        (log[1].path.as_str(), log[1].status),
        ("/v1/audio/speech", Some(200))
    );
    assert_eq!(
        stream_of(&log[1]),
        StreamRecord {
            bytes_sent: buffered.bytes.len() as u64,
            end: StreamEnd::Completed
        }
    );

    let buffered_metric = env
        .telemetry
        .calls()
        .into_iter()
        .find(|m| m.endpoint == "speech" && m.ttfb_ms.is_none())
        .expect("the buffered call's metric");
    assert!(buffered_metric.success && !buffered_metric.cancelled);
    let metrics = env.telemetry.calls();
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    let streamed = metrics
        .iter()
        .find(|m| m.ttfb_ms.is_some())
        .expect("the stream's metric");
    assert!(
        streamed.success,
        "a completed stream is a success: {streamed:?}"
    );
    assert!(!streamed.cancelled);
    assert_eq!(
        (
            streamed.health_id,
            streamed.status,
            streamed.attempts,
            streamed.error_class
        ),
        ("openai-tts", Some(200), 1, None)
    );
    assert!(streamed.ttfb_ms <= Some(streamed.latency_ms));
    assert_eq!(streamed.key_fingerprint, log[1].key_fingerprint);
}

#[tokio::test]
async fn openai_server_sent_events_reach_the_caller_as_decoded_audio() {
    let env = env().await;
    let openai = env.sdk.openai().unwrap();
    let text = "Events on the wire, audio in the caller's hands.";
    let request = SpeechRequest {
        model: SpeechModel::Gpt4oMiniTts,
        stream_format: Some(StreamFormat::Sse),
        ..speech(text)
    };

    let gate = env.sim.gate_streams("openai");
    let mut stream = bounded("the headers", openai.speech_stream(request))
        .await
        .unwrap();
    assert_eq!(
        stream.content_type(),
        Some("audio/mpeg"),
        "the endpoint's audio type, not text/event-stream"
    );
    // One event's audio is decoded and handed over as soon as the event is in.
    gate.release(1);
    let mut got = Vec::new();
    bounded("the first event", read_until(&mut stream, &mut got, CHUNK)).await;
    assert!(got.starts_with(b"ID3"), "decoded audio, not event text");
    let first_event = stream_of(&env.log("openai")[0]);
    assert_eq!(first_event.end, StreamEnd::Streaming);
    assert!(
        first_event.bytes_sent > CHUNK as u64,
        "the event (base64 in JSON) is larger than its audio"
    );

    gate.open();
    let error = bounded("the rest", read_rest(&mut stream, &mut got)).await;
    assert!(error.is_none(), "the done event ends the stream: {error:?}");
    assert!(
        !got.windows(5).any(|w| w == b"data:") && !got.windows(6).any(|w| w == b"speech"),
        "no event text in the audio"
    );

    // The simulator's audio length depends only on the format and the text's length: the
    // same as a raw stream of the same text.
    let raw = openai
        .speech(SpeechRequest {
            model: SpeechModel::Gpt4oMiniTts,
            ..speech(text)
        })
        .await
        .unwrap();
    assert_eq!(got.len(), raw.bytes.len());

    let log = env.log("openai");
    assert_eq!(log[0].body.as_ref().unwrap()["stream_format"], "sse");
    let wire = stream_of(&log[0]);
    assert_eq!(wire.end, StreamEnd::Completed);
    assert!(
        wire.bytes_sent > got.len() as u64,
        "events on the wire: {wire:?}"
    );
    let metric = env
        .telemetry
        .calls()
        .into_iter()
        .find(|m| m.ttfb_ms.is_some())
        .expect("the stream's metric");
    assert!(metric.success && !metric.cancelled, "{metric:?}");
}

#[tokio::test]
async fn elevenlabs_text_to_speech_stream_uses_the_stream_path() {
    let env = env().await;
    let eleven = env.sdk.elevenlabs().unwrap();
    let request = ElevenTtsRequest {
        voice_id: "pNInz6obpgDQGcFmaJgB".into(),
        output_format: Some(ElevenOutputFormat::Mp344100128),
        ..ElevenTtsRequest::new("Streamed from a path of its own.")
    };
    let buffered = eleven.text_to_speech(request.clone()).await.unwrap();

    let mut stream = bounded("the headers", eleven.text_to_speech_stream(request))
        .await
        .unwrap();
    assert_eq!(stream.content_type(), Some("audio/mpeg"));
    let mut got = Vec::new();
    let error = bounded("the audio", read_rest(&mut stream, &mut got)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(got, buffered.bytes, "the same audio as the buffered call");

    let log = env.log("elevenlabs");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].path, "/v1/text-to-speech/pNInz6obpgDQGcFmaJgB");
    assert_eq!(log[0].stream, None, "the buffered call is not streamed");
    assert_eq!(log[1].method, "POST");
    assert_eq!(
        log[1].path,
        "/v1/text-to-speech/pNInz6obpgDQGcFmaJgB/stream"
    );
    assert_eq!(log[1].endpoint, Some("text_to_speech"));
    assert_eq!(
        log[1].query,
        vec![("output_format".to_owned(), "mp3_44100_128".to_owned())]
    );
    assert_eq!(log[1].auth_scheme.as_deref(), Some("xi-api-key"));
    assert_eq!(
        log[1].body.as_ref().unwrap()["text"],
        "Streamed from a path of its own."
    );
    assert!(
        ELEVEN_KEYS
            .iter()
            .any(|k| log[1].key_fingerprint.as_deref() == Some(fp(k).as_str()))
    );
    assert_eq!(
        stream_of(&log[1]),
        StreamRecord {
            bytes_sent: got.len() as u64,
            end: StreamEnd::Completed
        }
    );
    // Both calls report under the endpoint; the stream's metric is the one with a first byte.
    let metrics = env.telemetry.calls();
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    let streamed = metrics
        .iter()
        .find(|m| m.ttfb_ms.is_some())
        .expect("the stream's metric");
    assert_eq!(
        (streamed.health_id, streamed.success, streamed.cancelled),
        ("elevenlabs-tts", true, false)
    );
}

/// An SDK on `env`'s simulator with only the first two OpenAI keys.
fn two_key_sdk(env: &Env, telemetry: Arc<Recorded>) -> Sdk {
    Sdk::builder()
        .providers(&[&media_sdk::openai::PROVIDER])
        .telemetry(telemetry)
        .keys("openai", OPENAI_KEYS[..2].iter().copied())
        .base_url("openai", env.sim.base_url("openai"))
        .build()
        .expect("sdk builds")
}

#[tokio::test]
async fn a_rate_limit_before_the_first_byte_rotates_to_the_other_key() {
    let env = env().await;
    let telemetry = Arc::new(Recorded::default());
    let sdk = two_key_sdk(&env, telemetry.clone());
    // The first request, whichever key it uses, is rate limited.
    env.sim.script(
        "openai",
        vec![Scripted::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        }],
    );

    let mut stream = bounded(
        "the headers",
        sdk.openai().unwrap().speech_stream(speech("Rotate.")),
    )
    .await
    .expect("the 429 is handled before the stream is returned");
    let mut got = Vec::new();
    let error = bounded("the audio", read_rest(&mut stream, &mut got)).await;
    assert!(error.is_none(), "the caller never sees the 429: {error:?}");
    assert!(got.starts_with(b"ID3"));

    let log = env.log("openai");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (log[0].status, log[0].outcome, log[0].stream),
        (Some(429), Outcome::RateLimited, None)
    );
    assert_eq!(log[1].status, Some(200));
    assert_eq!(stream_of(&log[1]).end, StreamEnd::Completed);
    let (first, second) = (
        log[0].key_fingerprint.clone(),
        log[1].key_fingerprint.clone(),
    );
    assert_ne!(first, second, "rotated to the other key");
    let pool: Vec<String> = OPENAI_KEYS[..2].iter().map(|k| fp(k)).collect();
    assert!(pool.contains(first.as_ref().unwrap()) && pool.contains(second.as_ref().unwrap()));

    let events = telemetry.rate_limits();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(Some(&events[0].key_fingerprint), first.as_ref());
    assert_eq!(events[0].health_id, "openai-tts");
    assert!(events[0].cooldown > Duration::from_secs(29));

    let metric = only_metric(&telemetry, "speech");
    assert!(metric.success && !metric.cancelled, "{metric:?}");
    assert_eq!((metric.attempts, metric.status), (2, Some(200)));
    assert_eq!(metric.key_fingerprint, second);
    assert!(metric.ttfb_ms.is_some());
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_in_an_interrupted_error_and_is_not_replayed() {
    let env = env().await;
    env.sim.script(
        "openai",
        vec![Scripted::CutStream {
            after_bytes: CHUNK as u64,
        }],
    );
    let (mut stream, got) = gated_first_chunk(&env, "Cut short, never replayed.").await;
    assert!(got.starts_with(b"ID3"));
    // The cut needs no permit: it follows the first chunk.
    let error = bounded("the cut", stream.next())
        .await
        .expect("an error, not the end")
        .expect_err("the cut is an error");
    assert!(
        matches!(
            error,
            Error::Stream {
                provider: "openai",
                endpoint: "speech",
                failure: StreamFailure::Interrupted,
                received_bytes,
                ..
            } if received_bytes == CHUNK as u64
        ),
        "{error:?}"
    );
    assert_eq!(error.class(), "stream_interrupted");
    assert_no_secrets(&error.to_string(), "the stream error");
    assert_no_secrets(&format!("{error:?}"), "the stream error's Debug");
    assert!(stream.next().await.is_none(), "nothing after the error");
    assert_eq!(in_flight(&env.sdk, "openai"), 0, "the key is released");

    let log = env.log("openai");
    assert_eq!(log.len(), 1, "exactly one request, no replay: {log:?}");
    assert_eq!(
        stream_of(&log[0]),
        StreamRecord {
            bytes_sent: CHUNK as u64,
            end: StreamEnd::Cut
        }
    );
    let metric = only_metric(&env.telemetry, "speech");
    assert!(!metric.success && !metric.cancelled, "{metric:?}");
    assert_eq!(metric.error_class, Some("stream_interrupted"));
    assert_eq!((metric.attempts, metric.status), (1, Some(200)));
    assert!(metric.ttfb_ms.is_some(), "the first byte arrived");
}

#[tokio::test]
async fn dropping_the_stream_cancels_it_and_releases_the_key() {
    let env = env().await;
    let (stream, _) = gated_first_chunk(&env, "Dropped after the first chunk.").await;
    assert_eq!(in_flight(&env.sdk, "openai"), 1);

    drop(stream);
    assert_eq!(
        in_flight(&env.sdk, "openai"),
        0,
        "the drop releases the key at once"
    );
    bounded(
        "the simulator sees the cancel",
        env.sim.wait_for_log(|log| {
            log.first()
                .and_then(|r| r.stream)
                .is_some_and(|s| s.end != StreamEnd::Streaming)
        }),
    )
    .await;
    assert_eq!(
        stream_of(&env.log("openai")[0]),
        StreamRecord {
            bytes_sent: CHUNK as u64,
            end: StreamEnd::Cancelled
        }
    );

    let metric = only_metric(&env.telemetry, "speech");
    assert!(metric.cancelled, "{metric:?}");
    assert!(!metric.success);
    assert_eq!(
        metric.error_class, None,
        "a cancel is not a provider failure"
    );
    assert!(metric.ttfb_ms.is_some());
    // The health report leaves cancelled streams out.
    bounded("the health flush", env.sdk.flush(Duration::from_secs(5)))
        .await
        .expect("flushed");
    let report = env.sdk.health().report("openai-tts").await.unwrap();
    assert_eq!(report.requests, 0, "{report:?}");
    assert_eq!(report.success_rate, None);
}

#[tokio::test]
async fn the_media_facade_streams_text_to_speech() {
    let env = env().await;
    let stream = bounded(
        "the headers",
        env.sdk
            .media()
            .tts_stream(&TtsInput::new("The facade streams too.", "alloy")),
    )
    .await
    .unwrap();
    assert_eq!(stream.provider, "openai");
    let mut stream = stream.audio;
    assert_eq!(stream.content_type(), Some("audio/mpeg"));
    let mut got = Vec::new();
    let error = bounded("the audio", read_rest(&mut stream, &mut got)).await;
    assert!(error.is_none(), "{error:?}");
    assert!(got.starts_with(b"ID3"));

    let log = env.log("openai");
    assert_eq!(log.len(), 1, "OpenAI first: {log:?}");
    assert_eq!(log[0].body.as_ref().unwrap()["voice"], "alloy");
    assert_eq!(
        stream_of(&log[0]),
        StreamRecord {
            bytes_sent: got.len() as u64,
            end: StreamEnd::Completed
        }
    );
    assert!(env.log("elevenlabs").is_empty());
}

#[tokio::test]
async fn the_media_facade_falls_back_to_elevenlabs_before_the_first_byte() {
    let env = env().await;
    // A final error from OpenAI before any audio: not retried, the facade moves on.
    env.sim.script("openai", vec![Scripted::Status(400)]);
    let stream = bounded(
        "the headers",
        env.sdk
            .media()
            .tts_stream(&TtsInput::new("Falling back.", "alloy")),
    )
    .await
    .unwrap();
    assert_eq!(stream.provider, "elevenlabs");
    let mut stream = stream.audio;
    let mut got = Vec::new();
    let error = bounded("the audio", read_rest(&mut stream, &mut got)).await;
    assert!(error.is_none(), "{error:?}");
    assert!(got.starts_with(b"ID3"));

    let openai = env.log("openai");
    assert_eq!(openai.len(), 1, "{openai:?}");
    assert_eq!((openai[0].status, openai[0].stream), (Some(400), None));
    let eleven = env.log("elevenlabs");
    assert_eq!(eleven.len(), 1, "{eleven:?}");
    // `alloy` maps to ElevenLabs' Rachel.
    assert_eq!(
        eleven[0].path,
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream"
    );
    assert_eq!(
        stream_of(&eleven[0]),
        StreamRecord {
            bytes_sent: got.len() as u64,
            end: StreamEnd::Completed
        }
    );
    let failed = only_metric(&env.telemetry, "speech");
    assert_eq!(
        (
            failed.success,
            failed.status,
            failed.error_class,
            failed.ttfb_ms
        ),
        (false, Some(400), Some("api"), None)
    );
    let served = only_metric(&env.telemetry, "text_to_speech");
    assert!(served.success && served.ttfb_ms.is_some(), "{served:?}");
}
