//! The SDK against a hostile provider: everything a provider (or a proxy, a poisoned DNS entry, a
//! buggy regional endpoint) sends back is untrusted. Each case runs the generated clients over
//! real HTTP against a raw loopback server that misbehaves on purpose, and asserts the typed
//! outcome, the requests each listener saw (a second listener on another port stands for
//! "another host" and must see no connection), and that no key or token reaches the logs.
//!
//! Peak memory is measured in a child process (this test binary re-run on one ignored probe
//! test), never in the shared test process. Timeouts and waits are configured in milliseconds.

mod hostile_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile_support::{Answer, Hostile};
use media_sdk::Sdk;
use media_sdk::elevenlabs::{self, ElevenTtsRequest};
use media_sdk::fal::{self, FluxProRequest};
use media_sdk::health::MemoryStore;
use media_sdk::keys::{KeyPool, KeyState, fingerprint};
use media_sdk::kling::{self, TextToVideoRequest};
use media_sdk::openai::{self, ImageRequest, SpeechRequest};
use media_sdk::spec::ProviderSpec;
use media_sdk::{Audio, Endpoint, Error};
use media_sdk_sim::providers::fal::FLUX_PRO_EXAMPLE;

#[path = "support/logs.rs"]
mod logs;
use logs::capture_logs;

const OPENAI_KEYS: [&str; 2] = ["sk-hostile-openai-key-one", "sk-hostile-openai-key-two"];
const FAL_KEY: &str = "fal-hostile-id:fal-hostile-secret";
const KLING_KEY: &str = "ak-hostile-access:sk-hostile-secret";
const ELEVEN_KEY: &str = "xi-hostile-eleven-key";

/// Panics when `text` holds any key, half of a pair, or a JWT.
fn assert_clean(text: &str, what: &str) {
    for secret in OPENAI_KEYS
        .iter()
        .chain([&FAL_KEY, &KLING_KEY, &ELEVEN_KEY])
        .flat_map(|k| {
            let mut parts = vec![*k];
            if let Some((a, b)) = k.split_once(':') {
                parts.extend([a, b]);
            }
            parts
        })
    {
        assert!(!text.contains(secret), "{what} leaks a key: {text}");
    }
    assert!(!text.contains("eyJ"), "{what} leaks a token: {text}");
}

/// `spec` changed by `tune`, leaked for the `'static` the SDK needs.
fn tuned(
    spec: &'static ProviderSpec,
    tune: impl FnOnce(&mut ProviderSpec),
) -> &'static ProviderSpec {
    let mut copy = *spec;
    tune(&mut copy);
    Box::leak(Box::new(copy))
}

/// Millisecond backoff, short request timeout, small body caps.
fn quick(spec: &'static ProviderSpec) -> &'static ProviderSpec {
    tuned(spec, |s| {
        s.retry.base_delay_ms = 1;
        s.retry.max_delay_ms = 4;
        s.timeouts.request_ms = 2000;
        s.body_limits.json_bytes = 64 << 10;
        s.body_limits.audio_bytes = 256 << 10;
        s.body_limits.error_bytes = 4 << 10;
    })
}

fn sdk(spec: &'static ProviderSpec, keys: &[&str], base: &str) -> Sdk {
    Sdk::builder()
        .providers(&[spec])
        .keys(spec.id, keys.iter().copied())
        .base_url(spec.id, base)
        .health_store(Arc::new(MemoryStore::new()))
        .cooldown_sync_interval(None)
        .build()
        .expect("sdk builds")
}

fn speech() -> SpeechRequest {
    SpeechRequest::new("hello")
}

/// One OpenAI speech call through a fresh `Sdk` (the suite's two OpenAI keys) sent to `server`.
async fn speak(spec: &'static ProviderSpec, server: &Hostile) -> media_sdk::Result<Audio> {
    sdk(spec, &OPENAI_KEYS, &server.url())
        .provider("openai")
        .unwrap()
        .call(speech())
        .await
}

fn flux() -> FluxProRequest {
    FluxProRequest::new("a lighthouse")
}

// ---------------------------------------------------------------------------------------------
// 1. URLs from the provider never lead the key to another host.

/// A fal queue server whose submit answer carries `status_url` (built from the server's and the
/// foreign listener's authorities); status is COMPLETED at once, the result is the example.
async fn fal_with_status_url(
    status_url: impl Fn(&str) -> String + Send + Sync + 'static,
) -> Hostile {
    Hostile::start(move |_, seen| match seen.method.as_str() {
        "POST" => {
            let me = seen.header("host").unwrap_or_default().to_owned();
            let url = status_url(&me);
            Answer::json(
                200,
                serde_json::json!({
                    "request_id": "req-1",
                    "status_url": url,
                    "response_url": format!("http://{me}/fal-ai/flux-pro/requests/req-1"),
                })
                .to_string(),
            )
        }
        _ if seen.target.ends_with("/status") => Answer::json(200, r#"{"status":"COMPLETED"}"#),
        _ => Answer::json(200, FLUX_PRO_EXAMPLE),
    })
    .await
}

#[tokio::test]
async fn provider_urls_are_followed_only_on_the_configured_origin() {
    let foreign = Hostile::foreign().await;
    let far = foreign.authority();
    // (URL given as status_url, whether it is refused, what the base server must have seen)
    let cases: Vec<(String, bool, Option<&str>)> = vec![
        (format!("http://{far}/steal/status"), true, None),
        (format!("//{far}/steal/status"), true, None),
        (format!("http:\\\\{far}\\steal\\status"), true, None),
        (format!("http://BASE@{far}/steal/status"), true, None),
        (
            "http://user:pw@BASE/fal-ai/flux-pro/requests/req-1/status".into(),
            true,
            None,
        ),
        ("file:///etc/passwd".into(), true, None),
        ("javascript:alert(1)".into(), true, None),
        (format!("https://queue.fal.run.{far}/status"), true, None),
        // On the base origin: followed there, whatever the path looks like.
        (
            format!("http://BASE//{far}/steal/status"),
            false,
            Some("//127.0.0.1"),
        ),
        (
            format!("http://BASE/%2F%2F{far}/steal/status"),
            false,
            Some("/%2F%2F127.0.0.1"),
        ),
        // fal's own origin: re-rooted onto the configured base, never onto a host in the path.
        (
            "https://queue.fal.run/fal-ai/flux-pro/requests/req-1/status".into(),
            false,
            Some("/fal-ai/flux-pro/requests/req-1/status"),
        ),
        (
            format!("https://queue.fal.run//{far}/steal/status"),
            false,
            Some("//127.0.0.1"),
        ),
    ];
    let (logs, _guard) = capture_logs();
    for (given, refused, base_saw) in cases {
        let given_for_server = given.clone();
        let server = fal_with_status_url(move |me| given_for_server.replace("BASE", me)).await;
        let sdk = sdk(quick(&fal::PROVIDER), &[FAL_KEY], &server.url());
        let result = sdk.provider("fal").unwrap().call(flux()).await;
        if refused {
            let error = result.expect_err(&given);
            assert!(
                matches!(
                    &error,
                    Error::UntrustedUrl {
                        provider: "fal",
                        ..
                    }
                ),
                "{given}: {error:?}"
            );
            assert_eq!(server.seen().len(), 1, "{given}: only the submit was sent");
        } else {
            let output = result.unwrap_or_else(|e| panic!("{given}: {e}"));
            assert!(!output.output.images.is_empty());
            let status = &server.seen()[1];
            assert_eq!(status.method, "GET");
            assert!(
                status.target.starts_with(base_saw.unwrap()),
                "{given}: base saw {}",
                status.target
            );
            assert_eq!(
                status.header("authorization"),
                Some(&*format!("Key {FAL_KEY}"))
            );
        }
        assert_eq!(
            foreign.connections(),
            0,
            "{given}: the foreign host was contacted"
        );
    }
    assert_clean(&logs.text(), "logs");
}

#[tokio::test]
async fn a_foreign_response_url_in_the_status_answer_is_refused() {
    let foreign = Hostile::foreign().await;
    let far = foreign.authority();
    let far_in_answer = far.clone();
    let server = Hostile::start(move |_, seen| {
        let far = &far_in_answer;
        let me = seen.header("host").unwrap_or_default();
        match seen.method.as_str() {
            "POST" => fal_submit(me),
            _ => Answer::json(
                200,
                serde_json::json!({
                    "status": "COMPLETED",
                    "response_url": format!("https://queue.fal.run@{far}/result"),
                })
                .to_string(),
            ),
        }
    })
    .await;
    let sdk = sdk(quick(&fal::PROVIDER), &[FAL_KEY], &server.url());
    let error = sdk.provider("fal").unwrap().call(flux()).await.unwrap_err();
    assert!(matches!(error, Error::UntrustedUrl { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&far),
        "names the origin: {error}"
    );
    assert_eq!(server.seen().len(), 2);
    assert_eq!(foreign.connections(), 0);
}

#[tokio::test]
async fn ids_from_the_provider_stay_one_path_segment() {
    for (id, refused) in [("..", true), (".", true), ("", true), ("a/../../b", false)] {
        let id_owned = id.to_owned();
        // No status_url: the SDK builds the queue URL from the request id.
        let server = Hostile::start(move |_, seen| match seen.method.as_str() {
            "POST" => Answer::json(
                200,
                serde_json::json!({ "request_id": id_owned }).to_string(),
            ),
            _ if seen.target.ends_with("/status") => Answer::json(200, r#"{"status":"COMPLETED"}"#),
            _ => Answer::json(200, FLUX_PRO_EXAMPLE),
        })
        .await;
        let sdk = sdk(quick(&fal::PROVIDER), &[FAL_KEY], &server.url());
        let result = sdk.provider("fal").unwrap().call(flux()).await;
        if refused {
            assert!(
                matches!(result, Err(Error::UntrustedUrl { .. })),
                "{id:?}: {result:?}"
            );
            assert_eq!(server.seen().len(), 1, "{id:?}: nothing followed");
        } else {
            result.unwrap();
            assert_eq!(
                server.seen()[1].target,
                "/fal-ai/flux-pro/requests/a%2F..%2F..%2Fb/status"
            );
        }
    }

    // Kling's task id, the same way.
    let server = Hostile::start(|_, _| {
        Answer::json(
            200,
            r#"{"code":0,"message":"ok","data":{"task_id":"..","task_status":"submitted"}}"#,
        )
    })
    .await;
    let sdk = sdk(quick(&kling::PROVIDER), &[KLING_KEY], &server.url());
    let error = sdk
        .provider("kling")
        .unwrap()
        .call(TextToVideoRequest::new("a cat"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UntrustedUrl { .. }), "{error:?}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn dot_and_empty_path_params_are_refused_before_any_request() {
    let server = Hostile::start(|_, _| Answer::audio(b"ID3")).await;
    let sdk = sdk(quick(&elevenlabs::PROVIDER), &[ELEVEN_KEY], &server.url());
    for voice in ["..", ".", ""] {
        let error = sdk
            .provider("elevenlabs")
            .unwrap()
            .call(ElevenTtsRequest {
                voice_id: voice.into(),
                ..ElevenTtsRequest::new("hello")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Invalid { source, .. } if source.field == "voice_id"),
            "{voice:?}: {error:?}"
        );
    }
    assert_eq!(server.connections(), 0);
    sdk.provider("elevenlabs")
        .unwrap()
        .call(ElevenTtsRequest {
            voice_id: "..voice".into(),
            ..ElevenTtsRequest::new("hello")
        })
        .await
        .expect("dots inside an id are data");
    assert_eq!(
        server.seen()[0].target.split('?').next(),
        Some("/v1/text-to-speech/..voice")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Bodies are bounded; a provider that acted is never replayed.

#[tokio::test]
async fn oversized_success_bodies_fail_with_the_cap_and_are_not_retried() {
    let spec = quick(&openai::PROVIDER);
    let cases: Vec<(&str, Answer, u64)> = vec![
        (
            "2 GB Content-Length audio",
            Answer::Endless {
                status: 200,
                content_length: Some(2 << 30),
                chunk: vec![0; 64 << 10],
            },
            spec.body_limits.audio_bytes,
        ),
        (
            "endless chunked audio",
            Answer::Endless {
                status: 200,
                content_length: None,
                chunk: vec![0; 16 << 10],
            },
            spec.body_limits.audio_bytes,
        ),
    ];
    for (name, answer, limit) in cases {
        let server = first_then_audio(answer).await;
        let error = speak(spec, &server).await.unwrap_err();
        assert!(
            matches!(error, Error::BodyTooLarge { limit: l, .. } if l == limit),
            "{name}: {error:?}"
        );
        assert_eq!(server.seen().len(), 1, "{name}: not retried");
    }

    // A JSON endpoint, with the limit the spec gives it (`response.max_bytes`).
    let server = Hostile::start(|_, _| Answer::Endless {
        status: 200,
        content_length: None,
        chunk: br#"{"data":["#.repeat(1000),
    })
    .await;
    let sdk = sdk(spec, &OPENAI_KEYS, &server.url());
    let error = sdk
        .provider("openai")
        .unwrap()
        .call(ImageRequest::new("a cat"))
        .await
        .unwrap_err();
    let expected = <ImageRequest as Endpoint>::SPEC.body_limit(&spec.body_limits);
    assert!(
        matches!(error, Error::BodyTooLarge { limit, .. } if limit == expected),
        "{error:?}"
    );
    assert_eq!(server.seen().len(), 1);
}

/// fal's answer to a queue submission made to the server at `me` (`host:port`): the request id
/// and a status URL on that same server.
fn fal_submit(me: &str) -> Answer {
    Answer::json(
        200,
        serde_json::json!({
            "request_id": "req-1",
            "status_url": format!("http://{me}/fal-ai/flux-pro/requests/req-1/status"),
        })
        .to_string(),
    )
}

/// A fal queue server whose submit answer points at its own status URL, and whose status
/// poll answers with an endless JSON body made of `chunk` repeated.
async fn fal_with_endless_status(chunk: Vec<u8>) -> Hostile {
    Hostile::start(move |_, seen| {
        let me = seen.header("host").unwrap_or_default();
        match seen.method.as_str() {
            "POST" => fal_submit(me),
            _ => Answer::Endless {
                status: 200,
                content_length: None,
                chunk: chunk.clone(),
            },
        }
    })
    .await
}

/// A server answering its first request with `first`, every later one with a short audio body.
async fn first_then_audio(first: Answer) -> Hostile {
    let first = std::sync::Mutex::new(Some(first));
    Hostile::start(move |_, _| {
        first
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| Answer::audio(b"ID3"))
    })
    .await
}

#[tokio::test]
async fn an_endless_job_status_poll_stops_at_the_json_cap() {
    let server = fal_with_endless_status(br#"{"status":"IN_PROGRESS","logs":["#.repeat(500)).await;
    let spec = quick(&fal::PROVIDER);
    let sdk = sdk(spec, &[FAL_KEY], &server.url());
    let error = sdk.provider("fal").unwrap().call(flux()).await.unwrap_err();
    assert!(
        matches!(error, Error::BodyTooLarge { limit, .. } if limit == spec.body_limits.json_bytes),
        "{error:?}"
    );
    assert_eq!(server.seen().len(), 2, "one submit, one poll, no replay");
}

#[tokio::test]
async fn a_failure_after_a_2xx_arrived_is_never_replayed() {
    let spec = tuned(quick(&openai::PROVIDER), |s| {
        s.timeouts.request_ms = 300;
        s.retry.retry_timeouts = true;
    });
    let cases: Vec<(&str, Answer)> = vec![
        (
            "slow drip past the request timeout",
            Answer::Drip {
                total: 1000,
                every: Duration::from_millis(20),
            },
        ),
        (
            "reset mid-body",
            Answer::Cut {
                announced: 100_000,
                sent: 1000,
            },
        ),
        (
            "Content-Length lie (announces more than it sends)",
            Answer::Cut {
                announced: 200_000,
                sent: 10,
            },
        ),
    ];
    let (logs, _guard) = capture_logs();
    for (name, answer) in cases {
        let server = first_then_audio(answer).await;
        let error = speak(spec, &server).await.unwrap_err();
        assert!(
            matches!(&error, Error::Transport { message, .. } if message.contains("after the provider answered HTTP 200")),
            "{name}: {error:?}"
        );
        assert_eq!(server.seen().len(), 1, "{name}: replayed");
    }

    // The contrast: a timeout before any answer is retried (the spec says retry_timeouts).
    let server = Hostile::start(|n, _| {
        if n == 0 {
            Answer::Hang
        } else {
            Answer::audio(b"ID3")
        }
    })
    .await;
    speak(spec, &server).await.unwrap();
    assert_eq!(server.seen().len(), 2);
    assert_clean(&logs.text(), "logs");
}

#[tokio::test]
async fn huge_error_bodies_and_messages_are_cut_in_errors_and_logs() {
    let huge_message = format!(
        r#"{{"error":{{"message":"{}","type":"server_error"}}}}"#,
        "x".repeat(5 << 20)
    );
    let message_in_cap = format!(
        r#"{{"error":{{"message":"{}","type":"invalid_request_error"}}}}"#,
        "y".repeat(3000)
    );
    let spec = tuned(quick(&openai::PROVIDER), |s| {
        s.body_limits.error_bytes = 8 << 10
    });
    let (logs, _guard) = capture_logs();

    // 5 MB of error message on every attempt of a retried 500.
    let server = Hostile::start(move |_, _| Answer::json(500, huge_message.clone())).await;
    let error = speak(spec, &server).await.unwrap_err();
    assert!(matches!(error, Error::RetriesExhausted { .. }), "{error:?}");
    assert_eq!(server.seen().len() as u32, spec.retry.max_attempts);
    assert!(
        error.to_string().len() < 1000,
        "{} bytes",
        error.to_string().len()
    );

    // A long message inside the error cap: kept to a sane length too.
    let server = Hostile::start(move |_, _| Answer::json(400, message_in_cap.clone())).await;
    let error = speak(spec, &server).await.unwrap_err();
    let Error::Api { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        message.chars().count() <= 301,
        "{} chars",
        message.chars().count()
    );
    assert!(message.ends_with('…'));

    let logged = logs.text();
    assert!(logged.len() < 32 << 10, "{} bytes of logs", logged.len());
}

// ---------------------------------------------------------------------------------------------
// 3. Cool-downs have a ceiling and a floor; an exhausted pool fails fast.

#[tokio::test]
async fn reset_hints_are_capped_and_floored() {
    let spec = quick(&openai::PROVIDER);
    let (min, max, default) = (
        Duration::from_millis(spec.retry.min_cooldown_ms),
        Duration::from_millis(spec.retry.max_cooldown_ms),
        Duration::from_millis(spec.retry.default_cooldown_ms),
    );
    let cases: &[(&str, &str, Duration)] = &[
        ("retry-after", "0", min),
        ("retry-after", "-5", min),
        ("retry-after", "abc", min),
        ("retry-after", "NaN", min),
        ("retry-after", "1e400", max),
        ("retry-after", "999999999", max),
        ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", min),
        ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT", max),
        ("retry-after-ms", "0", min),
        ("retry-after-ms", "1e30", max),
        ("retry-after", "7", Duration::from_secs(7)),
        ("x-ratelimit-reset-requests", "99999h", max),
        ("x-ratelimit-reset-requests", "garbage", default),
    ];
    for &(header, value, expected) in cases {
        let server = Hostile::start(move |n, _| {
            if n == 0 {
                Answer::rate_limited(&[(header, value)])
            } else {
                Answer::audio(b"ID3")
            }
        })
        .await;
        let sdk = sdk(spec, &OPENAI_KEYS, &server.url());
        let client = sdk.provider("openai").unwrap();
        client.call(speech()).await.unwrap();
        let first = fingerprint(
            server.seen()[0]
                .header("authorization")
                .unwrap()
                .trim_start_matches("Bearer "),
        );
        let state = client
            .pool()
            .snapshot()
            .into_iter()
            .find(|k| k.fingerprint == first)
            .unwrap()
            .state;
        let KeyState::CoolingDown { remaining, .. } = state else {
            panic!("{header}: {value}: {state:?}")
        };
        assert!(
            remaining <= expected && remaining + Duration::from_secs(1) > expected,
            "{header}: {value}: cooling {remaining:?}, expected {expected:?}"
        );
    }
}

#[tokio::test]
async fn a_zero_hint_on_every_key_fails_fast_without_hammering() {
    let spec = tuned(quick(&openai::PROVIDER), |s| {
        s.retry.max_wait_ms = 300;
        s.retry.min_cooldown_ms = 50;
        s.retry.base_delay_ms = 20;
        s.retry.max_delay_ms = 100;
    });
    for hint in ["0", "Wed, 21 Oct 2015 07:28:00 GMT", "abc"] {
        let server =
            Hostile::start(move |_, _| Answer::rate_limited(&[("retry-after", hint)])).await;
        let started = Instant::now();
        let error = speak(spec, &server).await.unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(error, Error::RateLimited { .. }),
            "{hint}: {error:?}"
        );
        assert!(took < Duration::from_secs(2), "{hint}: took {took:?}");
        let requests = server.seen().len();
        // Two keys, a 50 ms floor and a 300 ms budget: a handful of requests, not ~50.
        assert!((2..=16).contains(&requests), "{hint}: {requests} requests");
    }
}

#[tokio::test]
async fn shared_cool_downs_are_capped_when_published_and_when_applied() {
    let spec = quick(&openai::PROVIDER);
    let store = Arc::new(MemoryStore::new());
    let server = Hostile::start(|n, _| {
        if n == 0 {
            Answer::rate_limited(&[("retry-after", "999999999")])
        } else {
            Answer::audio(b"ID3")
        }
    })
    .await;
    let build = || {
        Sdk::builder()
            .providers(&[spec])
            .keys("openai", OPENAI_KEYS)
            .base_url("openai", server.url())
            .health_store(store.clone())
            .cooldown_sync_interval(None)
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    a.provider("openai").unwrap().call(speech()).await.unwrap();
    a.flush(Duration::from_secs(5)).await.unwrap();
    let max = Duration::from_millis(spec.retry.max_cooldown_ms);
    let published = media_sdk::health::HealthStore::active_cooldowns(&*store, "openai")
        .await
        .unwrap();
    assert_eq!(published.len(), 1);
    let until = published[0].1;
    assert!(
        until <= std::time::SystemTime::now() + max,
        "published beyond the ceiling: {until:?}"
    );

    // A forged entry from "another process" far in the future is held at the ceiling too.
    media_sdk::health::HealthStore::publish_cooldown(
        &*store,
        "openai",
        &fingerprint(OPENAI_KEYS[1]),
        std::time::SystemTime::now() + Duration::from_secs(3_000_000_000),
    )
    .await
    .unwrap();
    assert_eq!(b.sync_cooldowns().await.unwrap(), 2);
    for key in b.provider("openai").unwrap().pool().snapshot() {
        let KeyState::CoolingDown { remaining, .. } = key.state else {
            panic!("{key:?}")
        };
        assert!(remaining <= max, "{remaining:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Keys that cannot be sent are refused at load; tokens are redacted.

#[test]
fn unsendable_keys_are_kept_out_of_the_pool_and_reported_by_fingerprint() {
    let (logs, _guard) = capture_logs();
    let good = "sk-good-key-000001";
    let bad = [
        "sk-bad\nkey-000002",
        "sk-bad\u{7f}key-000003",
        "sk-bad\rkey-000004",
    ];
    let keys = [good, bad[0], bad[1], bad[2]];
    let pool = KeyPool::from_keys(&openai::PROVIDER, keys).unwrap();
    assert_eq!(pool.fingerprints(), vec![fingerprint(good)]);
    let rejected: Vec<String> = pool.rejected().into_iter().map(|r| r.fingerprint).collect();
    assert_eq!(rejected, bad.map(fingerprint).to_vec());
    for _ in 0..10 {
        assert_eq!(pool.select().unwrap().fingerprint(), fingerprint(good));
    }
    let text = logs.text();
    for key in bad {
        assert!(text.contains(&fingerprint(key)), "{text}");
        assert!(!text.contains("key-00000"), "{text}");
    }

    // Strict mode refuses to start, naming the fingerprints only.
    let error = Sdk::builder()
        .providers(&[&openai::PROVIDER])
        .keys("openai", keys)
        .health_store(Arc::new(MemoryStore::new()))
        .strict(true)
        .build()
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&fingerprint(bad[0])), "{text}");
    assert!(!text.contains("key-00000"), "{text}");

    // A Kling key that is not a pair: out of the pool, and the call says why.
    let pool = KeyPool::from_keys(&kling::PROVIDER, ["kling-api-key-123"]).unwrap();
    assert!(pool.is_empty());
    let text = pool.no_keys_error().to_string();
    assert!(
        text.contains("access_key:secret_key") && text.contains(&fingerprint("kling-api-key-123")),
        "{text}"
    );
}

#[tokio::test]
async fn an_echoed_kling_token_is_redacted_everywhere() {
    // The provider echoes the Authorization header it was sent in each error body.
    let echo = |status: u16, code: u32| {
        move |_: usize, seen: &hostile_support::Seen| {
            let token = seen.header("authorization").unwrap_or_default().to_owned();
            Answer::json(
                status,
                serde_json::json!({
                    "code": code,
                    "message": format!("bad credentials: {token} (token {})", token.trim_start_matches("Bearer ")),
                })
                .to_string(),
            )
        }
    };
    let (logs, _guard) = capture_logs();
    for (status, code) in [(401, 1000), (400, 1201), (429, 1302)] {
        let server = Hostile::start(echo(status, code)).await;
        let spec = tuned(quick(&kling::PROVIDER), |s| {
            s.retry.default_cooldown_ms = 60_000
        });
        let sdk = sdk(spec, &[KLING_KEY], &server.url());
        let client = sdk.provider("kling").unwrap();
        let error = client
            .call(TextToVideoRequest::new("a cat"))
            .await
            .unwrap_err();
        assert!(
            server.seen()[0]
                .header("authorization")
                .unwrap()
                .contains("eyJ")
        );
        assert_clean(&error.to_string(), "error");
        assert_clean(&format!("{error:?}"), "Debug");
        for key in client.pool().snapshot() {
            assert_clean(&format!("{key:?}"), "pool snapshot");
        }
        sdk.flush(Duration::from_secs(5)).await.unwrap();
        let recorded = sdk
            .health()
            .check_provider_health("kling-video")
            .await
            .unwrap();
        assert_clean(&format!("{recorded:?}"), "health");
    }
    assert_clean(&logs.text(), "logs");
}

// ---------------------------------------------------------------------------------------------
// 5. Memory stays flat for any body size (measured in a child process).

/// Runs this binary's `memory_probe` in a child process against `url` and returns its peak RSS
/// in KiB, after checking the probe's outcome.
async fn probe(case: &str, url: &str) -> u64 {
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "memory_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOSTILE_PROBE_CASE", case)
        .env("HOSTILE_PROBE_URL", url)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{case}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("probe: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("{case}: no probe line in {stdout}"));
    assert!(line.contains("class=body_too_large"), "{case}: {line}");
    line.split("vmhwm_kb=")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{case}: {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_and_huge_bodies_keep_peak_memory_under_100_mb() {
    let endless_audio = Hostile::start(|_, _| Answer::Endless {
        status: 200,
        content_length: None,
        chunk: vec![0; 64 << 10],
    })
    .await;
    let huge_audio = Hostile::start(|_, _| Answer::Endless {
        status: 200,
        content_length: Some(2 << 30),
        chunk: vec![0; 64 << 10],
    })
    .await;
    let endless_status =
        fal_with_endless_status(br#"{"status":"IN_PROGRESS","logs":["#.repeat(2000)).await;
    for (case, server) in [
        ("speech", &endless_audio),
        ("speech", &huge_audio),
        ("flux", &endless_status),
    ] {
        let peak_kb = probe(case, &server.url()).await;
        assert!(peak_kb < 100 * 1024, "{case}: peak RSS {peak_kb} KiB");
    }
}

/// The child side of [`endless_and_huge_bodies_keep_peak_memory_under_100_mb`]: one call with
/// the shipped spec (its default body limits), then the outcome and this process's peak RSS.
#[tokio::test]
#[ignore = "run in a child process by endless_and_huge_bodies_keep_peak_memory_under_100_mb"]
async fn memory_probe() {
    let (Ok(case), Ok(url)) = (
        std::env::var("HOSTILE_PROBE_CASE"),
        std::env::var("HOSTILE_PROBE_URL"),
    ) else {
        return;
    };
    let result = match case.as_str() {
        "speech" => {
            let sdk = sdk(&openai::PROVIDER, &OPENAI_KEYS, &url);
            sdk.provider("openai")
                .unwrap()
                .call(speech())
                .await
                .map(drop)
        }
        "flux" => {
            let sdk = sdk(&fal::PROVIDER, &[FAL_KEY], &url);
            sdk.provider("fal").unwrap().call(flux()).await.map(drop)
        }
        other => panic!("unknown probe case {other}"),
    };
    let class = result.err().map_or("ok", |e| e.class());
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
        .unwrap();
    println!("probe: class={class} vmhwm_kb={peak}");
}
