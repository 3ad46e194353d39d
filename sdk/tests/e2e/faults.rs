//! The fault matrix, end to end over loopback: the simulator answers with each provider's real
//! failure shapes and the generated clients must rotate, cool down, quarantine, back off, give
//! up or report, exactly as the runtime's rules say. Every case checks the outcome, the
//! attempts the simulator saw, the keys used (by fingerprint), the pool's state, the telemetry,
//! and that the captured logs name keys only by fingerprint.

use crate::e2e_support;

use std::time::Duration;

use e2e_support::{
    ELEVEN_KEYS, Env, FAL_KEYS, KLING_KEYS, OPENAI_KEYS, QuickJob, assert_no_secrets, capture_logs,
    fast, fp, tuned,
};
use media_sdk::elevenlabs::{self, ElevenTtsRequest};
use media_sdk::fal::FluxProRequest;
use media_sdk::keys::{KeySnapshot, KeyState};
use media_sdk::kling::{self, TextToVideoRequest};
use media_sdk::openai::{self, SpeechRequest};
use media_sdk::{Audio, Error, Result};
use media_sdk_sim::{JobPace, Outcome, RateLimit, Scripted};

/// The pool state of `provider`'s key with fingerprint `fingerprint`.
fn state_of(env: &Env, provider: &str, fingerprint: &str) -> KeyState {
    let snapshot: Vec<KeySnapshot> = env.sdk.provider(provider).unwrap().pool().snapshot();
    snapshot
        .into_iter()
        .find(|k| k.fingerprint == fingerprint)
        .unwrap_or_else(|| panic!("no key {fingerprint} in the {provider} pool"))
        .state
}

fn cooling_for(state: &KeyState) -> Option<Duration> {
    match state {
        KeyState::CoolingDown { remaining, .. } => Some(*remaining),
        _ => None,
    }
}

/// What a case expects of the pool key that served the first request.
#[derive(Debug, Clone, Copy)]
enum FirstKey {
    /// Still available (not blamed).
    Available,
    /// Cooling down for at most this long, and more than this minus a second.
    Cooling(Duration),
    /// Quarantined.
    Quarantined,
}

struct Case {
    proves: &'static str,
    script: Vec<Scripted>,
    check: fn(&Result<Audio>) -> bool,
    /// Requests the simulator saw (attempts, hung ones included).
    requests: usize,
    /// Whether the second request used another key than the first.
    rotated: Option<bool>,
    first_key: FirstKey,
    /// Rate-limit events reported to telemetry.
    rate_limit_events: usize,
    /// The call metric: success, last status, attempts.
    metric: (bool, Option<u16>, u32),
    /// Substrings the captured logs must contain.
    logged: &'static [&'static str],
}

fn openai_cases() -> Vec<Case> {
    let rate_limited = |ms: u64| Scripted::RateLimited {
        retry_after: Some(Duration::from_millis(ms)),
    };
    vec![
        Case {
            proves: "a 429 with retry-after-ms cools the key for exactly the hint and rotates",
            script: vec![rate_limited(1500)],
            check: |r| r.is_ok(),
            requests: 2,
            rotated: Some(true),
            first_key: FirstKey::Cooling(Duration::from_millis(1500)),
            rate_limit_events: 1,
            metric: (true, Some(200), 2),
            logged: &["rate limited key, rotated to another key"],
        },
        Case {
            proves: "a 429 without any hint cools the key for the spec's default cool-down",
            script: vec![Scripted::RateLimited { retry_after: None }],
            check: |r| r.is_ok(),
            requests: 2,
            rotated: Some(true),
            first_key: FirstKey::Cooling(Duration::from_millis(
                openai::PROVIDER.retry.default_cooldown_ms,
            )),
            rate_limit_events: 1,
            metric: (true, Some(200), 2),
            logged: &["rotated to another key"],
        },
        Case {
            proves: "every key limited beyond max_wait fails fast with RateLimited",
            script: vec![
                rate_limited(30_000),
                rate_limited(30_000),
                rate_limited(30_000),
            ],
            check: |r| {
                matches!(r, Err(e @ Error::RateLimited { provider: "openai", retry_after })
                    if e.to_string().contains("rate limited, no alternate keys")
                        && *retry_after > Duration::from_secs(29))
            },
            requests: 3,
            rotated: Some(true),
            first_key: FirstKey::Cooling(Duration::from_secs(30)),
            rate_limit_events: 3,
            metric: (false, Some(429), 3),
            logged: &["rotated to another key", "rate limited, no alternate keys"],
        },
        Case {
            proves: "every key limited within max_wait: the call waits for the earliest and succeeds",
            script: vec![rate_limited(40), rate_limited(40), rate_limited(40)],
            check: |r| r.is_ok(),
            requests: 4,
            rotated: Some(true),
            first_key: FirstKey::Available,
            rate_limit_events: 3,
            metric: (true, Some(200), 4),
            logged: &["waiting for the next free key"],
        },
        Case {
            proves: "500, 502 and 503 are retried with backoff until success, keys not blamed",
            script: vec![
                Scripted::Status(500),
                Scripted::Status(502),
                Scripted::Status(503),
            ],
            check: |r| r.is_ok(),
            requests: 4,
            rotated: None,
            first_key: FirstKey::Available,
            rate_limit_events: 0,
            metric: (true, Some(200), 4),
            logged: &["transient failure, backing off"],
        },
        Case {
            proves: "persistent 503s exhaust max_attempts with RetriesExhausted",
            script: vec![Scripted::Status(503); 4],
            check: |r| {
                matches!(r, Err(Error::RetriesExhausted { attempts, last, .. })
                    if *attempts == openai::PROVIDER.retry.max_attempts && last.contains("503"))
            },
            requests: openai::PROVIDER.retry.max_attempts as usize,
            rotated: None,
            first_key: FirstKey::Available,
            rate_limit_events: 0,
            metric: (false, Some(503), openai::PROVIDER.retry.max_attempts),
            logged: &["call failed"],
        },
        Case {
            proves: "a 400 is final: Error::Api with the provider's message, not retried",
            script: vec![Scripted::Status(400)],
            check: |r| {
                matches!(r, Err(Error::Api { status: 400, message, .. })
                    if message == "Request failed with status 400.")
            },
            requests: 1,
            rotated: None,
            first_key: FirstKey::Available,
            rate_limit_events: 0,
            metric: (false, Some(400), 1),
            logged: &["call failed"],
        },
        Case {
            proves: "a request that hangs times out and is retried (retry_timeouts)",
            script: vec![Scripted::Hang],
            check: |r| r.is_ok(),
            requests: 2,
            rotated: None,
            first_key: FirstKey::Available,
            rate_limit_events: 0,
            metric: (true, Some(200), 2),
            logged: &["timeout"],
        },
        Case {
            proves: "a 200 with a truncated JSON body is a Decode error, not retried (the provider acted)",
            script: vec![Scripted::MalformedJson],
            check: |r| matches!(r, Err(Error::Decode { .. })),
            requests: 1,
            rotated: None,
            first_key: FirstKey::Available,
            rate_limit_events: 0,
            metric: (false, Some(200), 1),
            logged: &["call failed"],
        },
        Case {
            proves: "a 401 quarantines the key and the call moves on to the next key",
            script: vec![Scripted::InvalidKey],
            check: |r| r.is_ok(),
            requests: 2,
            rotated: Some(true),
            first_key: FirstKey::Quarantined,
            rate_limit_events: 0,
            metric: (true, Some(200), 2),
            logged: &["key rejected and quarantined, rotating"],
        },
        Case {
            proves: "OpenAI's 429 insufficient_quota quarantines the key instead of cooling it",
            script: vec![Scripted::QuotaExhausted],
            check: |r| r.is_ok(),
            requests: 2,
            rotated: Some(true),
            first_key: FirstKey::Quarantined,
            rate_limit_events: 0,
            metric: (true, Some(200), 2),
            logged: &["insufficient_quota"],
        },
        Case {
            proves: "every key quarantined gives KeysExhausted",
            script: vec![Scripted::InvalidKey; 3],
            check: |r| {
                matches!(
                    r,
                    Err(Error::KeysExhausted {
                        provider: "openai",
                        ..
                    })
                )
            },
            requests: 3,
            rotated: Some(true),
            first_key: FirstKey::Quarantined,
            rate_limit_events: 0,
            metric: (false, Some(401), 3),
            logged: &["key quarantined"],
        },
    ]
}

#[tokio::test]
async fn openai_fault_matrix() {
    for case in openai_cases() {
        let (logs, _guard) = capture_logs();
        let env = Env::with(&[fast(&openai::PROVIDER)], |b| b).await;
        env.sim.script("openai", case.script.clone());
        let proves = case.proves;

        let result = env
            .sdk
            .openai()
            .unwrap()
            .speech(SpeechRequest::new("Fault matrix"))
            .await;
        assert!((case.check)(&result), "{proves}: got {result:?}");
        assert_eq!(env.sim.pending_script("openai"), 0, "{proves}: script used");

        let log = env.log("openai");
        assert_eq!(log.len(), case.requests, "{proves}: attempts {log:#?}");
        let keys = env.keys_used("openai");
        let known: Vec<String> = OPENAI_KEYS.iter().map(|k| fp(k)).collect();
        assert!(
            keys.iter().all(|k| known.contains(k)),
            "{proves}: fingerprints agree between the SDK and the simulator: {keys:?}"
        );
        if let Some(rotated) = case.rotated {
            assert_eq!(keys[0] != keys[1], rotated, "{proves}: keys {keys:?}");
        }
        let first = state_of(&env, "openai", &keys[0]);
        match case.first_key {
            FirstKey::Available => {
                assert_eq!(first, KeyState::Available, "{proves}")
            }
            FirstKey::Quarantined => assert!(
                matches!(&first, KeyState::Quarantined { reason } if !reason.is_empty()),
                "{proves}: {first:?}"
            ),
            FirstKey::Cooling(hint) => {
                let left = cooling_for(&first).unwrap_or_else(|| panic!("{proves}: {first:?}"));
                assert!(
                    left <= hint && left > hint.saturating_sub(Duration::from_secs(1)),
                    "{proves}: cooling for {left:?}, hint {hint:?}"
                );
            }
        }

        let calls = env.telemetry.calls();
        assert_eq!(calls.len(), 1, "{proves}: one metric per call");
        let metric = &calls[0];
        assert_eq!(
            (metric.success, metric.status, metric.attempts),
            case.metric,
            "{proves}: {metric:?}"
        );
        assert_eq!(
            (metric.health_id, metric.provider, metric.endpoint),
            ("openai-tts", "openai", "speech")
        );
        assert_eq!(
            metric.key_fingerprint.as_deref(),
            keys.last().map(String::as_str),
            "{proves}: the metric names the key of the last attempt"
        );
        let events = env.telemetry.rate_limits();
        assert_eq!(events.len(), case.rate_limit_events, "{proves}: {events:?}");
        for (event, key) in events.iter().zip(&keys) {
            assert_eq!(&event.key_fingerprint, key, "{proves}");
            assert_eq!(event.health_id, "openai-tts");
        }

        let text = logs.text();
        for expected in case.logged {
            assert!(text.contains(expected), "{proves}: `{expected}` not logged");
        }
        assert_no_secrets(&text, proves);
        assert_no_secrets(&format!("{result:?}"), proves);
        if let Err(error) = &result {
            assert_no_secrets(&error.to_string(), proves);
        }
        assert_no_secrets(
            &format!("{:?}", env.sdk.provider("openai").unwrap()),
            proves,
        );
    }
}

#[tokio::test]
async fn a_connection_reset_before_any_answer_is_retried_like_a_timeout() {
    let (logs, _guard) = capture_logs();
    let env = Env::with(&[fast(&openai::PROVIDER)], |b| b).await;
    env.sim.script("openai", vec![Scripted::Reset]);
    let result = env
        .sdk
        .openai()
        .unwrap()
        .speech(SpeechRequest::new("reset"))
        .await;
    assert!(result.is_ok(), "{result:?}");
    let log = env.log("openai");
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].status, &log[0].outcome), (None, &Outcome::Reset));
    assert_eq!(env.telemetry.calls()[0].attempts, 2);
    assert!(logs.text().contains("connection closed before an answer"));
    assert_no_secrets(&logs.text(), "reset");

    // With `retry_timeouts: false` the ambiguous failure is reported, not replayed.
    let no_replay = tuned(&openai::PROVIDER, |retry, _| retry.retry_timeouts = false);
    let env = Env::with(&[no_replay], |b| b).await;
    env.sim.script("openai", vec![Scripted::Reset]);
    let error = env
        .sdk
        .openai()
        .unwrap()
        .speech(SpeechRequest::new("reset"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(env.log("openai").len(), 1);
}

#[tokio::test]
async fn fal_retry_after_in_seconds_sets_the_cool_down() {
    let (logs, _guard) = capture_logs();
    let env = Env::start().await;
    env.sim.script(
        "fal",
        vec![Scripted::RateLimited {
            retry_after: Some(Duration::from_millis(1200)),
        }],
    );
    let job = env
        .sdk
        .fal()
        .unwrap()
        .flux_pro(FluxProRequest::new("a lighthouse"))
        .await
        .unwrap();
    assert_eq!(job.output.images.len(), 1);
    let keys = env.keys_used("fal");
    // 429, then submit, status and result with the other key.
    assert_eq!(keys.len(), 4);
    assert_ne!(keys[0], keys[1]);
    assert!(keys[1..].iter().all(|k| *k == keys[1]));
    assert!(FAL_KEYS.iter().any(|k| fp(k) == keys[0]));
    // fal sends `retry-after: 2` (whole seconds, rounded up).
    let events = env.telemetry.rate_limits();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].cooldown, Duration::from_secs(2));
    assert!(events[0].rotated);
    let left = cooling_for(&state_of(&env, "fal", &keys[0])).unwrap();
    assert!(left > Duration::from_secs(1) && left <= Duration::from_secs(2));
    assert!(logs.text().contains("rotated to another key"));
    assert_no_secrets(&logs.text(), "fal retry-after");
}

#[tokio::test]
async fn openai_request_budgets_are_learned_from_headers_so_no_429_is_drawn() {
    // One request per key, never refilled. Every answer carries OpenAI's `x-ratelimit-*`
    // budget (limit 1, remaining 0, reset 60 s): the SDK paces each key from it, so the fourth
    // call is shed at once, before any request, instead of drawing three 429s.
    let (logs, _guard) = capture_logs();
    let env = Env::with(&[], |b| b.rate_limit("openai", RateLimit::fixed(1))).await;
    for i in 0..3 {
        env.sdk
            .openai()
            .unwrap()
            .speech(SpeechRequest::new(format!("call {i}")))
            .await
            .unwrap();
    }
    let mut served = env.keys_used("openai");
    served.sort();
    let mut all: Vec<String> = OPENAI_KEYS.iter().map(|k| fp(k)).collect();
    all.sort();
    assert_eq!(served, all, "three calls, one per key");

    let error = env
        .sdk
        .openai()
        .unwrap()
        .speech(SpeechRequest::new("one too many"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::RateLimited { retry_after, .. } if *retry_after > Duration::from_secs(55)),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("rate limited, no alternate keys")
    );
    assert_eq!(
        env.log("openai").len(),
        3,
        "no request for the shed call, no 429"
    );
    let client = env.sdk.provider("openai").unwrap();
    assert_eq!(client.shed_calls(), 1);
    for (key, pace) in client.pool().paces() {
        let rate = pace.rate_per_sec.expect("paced from the headers");
        assert!((rate - 1.0 / 60.0).abs() < 1e-3, "{key}: {rate}");
        assert_eq!(pace.burst, 1);
    }
    assert!(env.telemetry.rate_limits().is_empty());
    assert_eq!(
        env.telemetry.calls().len(),
        3,
        "a shed call is not a provider failure"
    );
    assert!(logs.text().contains("rate limited, no alternate keys"));
    assert_no_secrets(&logs.text(), "budgets");
}

#[tokio::test]
async fn elevenlabs_system_busy_backs_off_without_blaming_the_key() {
    let (logs, _guard) = capture_logs();
    let env = Env::with(&[fast(&elevenlabs::PROVIDER)], |b| b).await;
    env.sim.script("elevenlabs", vec![Scripted::Busy]);
    let audio = env
        .sdk
        .elevenlabs()
        .unwrap()
        .text_to_speech(ElevenTtsRequest::new("busy"))
        .await
        .unwrap();
    assert_eq!(audio.content_type, "audio/mpeg");
    let log = env.log("elevenlabs");
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].status, &log[0].outcome),
        (Some(429), &Outcome::Busy)
    );
    // HTTP 429, yet `system_busy` is the provider's problem: no key cools down.
    for key in ELEVEN_KEYS {
        assert_eq!(state_of(&env, "elevenlabs", &fp(key)), KeyState::Available);
    }
    assert!(env.telemetry.rate_limits().is_empty());
    assert_eq!(env.telemetry.calls()[0].attempts, 2);
    let text = logs.text();
    assert!(text.contains("transient failure, backing off"));
    assert!(!text.contains("rotated to another key"));
    assert_no_secrets(&text, "busy");
}

#[tokio::test]
async fn kling_code_1302_rotates_to_the_other_pair_and_polls_with_it() {
    let (logs, _guard) = capture_logs();
    let env = Env::start().await;
    env.sim
        .script("kling", vec![Scripted::RateLimited { retry_after: None }]);
    let request: QuickJob<TextToVideoRequest, 5, 5_000> =
        QuickJob(TextToVideoRequest::new("a fox"));
    let job = env
        .sdk
        .provider("kling")
        .unwrap()
        .call(request)
        .await
        .unwrap();
    assert_eq!(job.output.videos.len(), 1);
    let log = env.log("kling");
    assert_eq!(log.len(), 3, "429, submit, poll: {log:#?}");
    assert_eq!(log[0].status, Some(429));
    let keys = env.keys_used("kling");
    // Fingerprints of the whole `access:secret` pair, as the runtime's pool names keys.
    let pairs: Vec<String> = KLING_KEYS.iter().map(|k| fp(k)).collect();
    assert!(keys.iter().all(|k| pairs.contains(k)), "{keys:?}");
    assert_ne!(keys[0], keys[1]);
    assert_eq!(
        keys[1], keys[2],
        "the task is polled with the key that submitted it"
    );
    let events = env.telemetry.rate_limits();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].cooldown,
        Duration::from_millis(kling::PROVIDER.retry.default_cooldown_ms),
        "1302 carries no hint"
    );
    assert_eq!(events[0].key_fingerprint, keys[0]);
    assert!(cooling_for(&state_of(&env, "kling", &keys[0])).is_some());
    assert_no_secrets(&logs.text(), "kling 1302");
}

#[tokio::test]
async fn a_failed_fal_job_is_job_failed() {
    let (logs, _guard) = capture_logs();
    let env = Env::start().await;
    env.sim.script(
        "fal",
        vec![Scripted::JobFails {
            message: "NSFW content detected".into(),
        }],
    );
    let error = env
        .sdk
        .fal()
        .unwrap()
        .flux_pro(FluxProRequest::new("x"))
        .await
        .unwrap_err();
    match &error {
        Error::JobFailed {
            provider: "fal",
            endpoint: "flux_pro",
            job_id,
            message,
        } => {
            assert!(!job_id.is_empty());
            assert_eq!(message, "NSFW content detected");
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    let calls = env.telemetry.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].success, calls[0].error_class, calls[0].attempts),
        (false, Some("job_failed"), 1),
        "attempts count the submission, not the polls"
    );
    assert_no_secrets(&logs.text(), "job failed");
}

#[tokio::test]
async fn a_job_that_never_finishes_times_out_polling_with_the_submitting_key() {
    let (logs, _guard) = capture_logs();
    let env = Env::start().await;
    env.sim.script("fal", vec![Scripted::JobNeverFinishes]);
    let request: QuickJob<FluxProRequest, 10, 150> = QuickJob(FluxProRequest::new("x"));
    let error = env
        .sdk
        .provider("fal")
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::JobTimeout { provider: "fal", waited, .. } if *waited >= Duration::from_millis(100)),
        "{error:?}"
    );
    let log = env.log("fal");
    assert!(log.len() >= 3, "submit and several polls: {log:#?}");
    assert!(log[1..].iter().all(|r| r.path.ends_with("/status")));
    let keys = env.keys_used("fal");
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_eq!(env.telemetry.calls()[0].error_class, Some("job_timeout"));
    assert_no_secrets(&logs.text(), "job timeout");
}

#[tokio::test]
async fn a_rate_limited_poll_waits_and_asks_again_with_the_same_key() {
    let (logs, _guard) = capture_logs();
    let env = Env::with(&[], |b| {
        b.job_pace(
            "fal",
            JobPace {
                queued_polls: 1,
                running_polls: 1,
            },
        )
    })
    .await;
    // The submission passes; the first status poll is refused with a short hint.
    env.sim.script(
        "fal",
        vec![
            Scripted::Pass,
            Scripted::RateLimited {
                retry_after: Some(Duration::from_millis(20)),
            },
        ],
    );
    let request: QuickJob<FluxProRequest, 5, 10_000> = QuickJob(FluxProRequest::new("x"));
    let job = env
        .sdk
        .provider("fal")
        .unwrap()
        .call(request)
        .await
        .unwrap();
    assert_eq!(job.output.images.len(), 1);
    let log = env.log("fal");
    let statuses: Vec<Option<u16>> = log.iter().map(|r| r.status).collect();
    // submit, 429 on the poll, queued, running, completed, result.
    assert_eq!(
        statuses,
        [
            Some(200),
            Some(429),
            Some(202),
            Some(202),
            Some(200),
            Some(200)
        ]
    );
    let keys = env.keys_used("fal");
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "a job belongs to the submitting account, even when its key is limited: {keys:?}"
    );
    let events = env.telemetry.rate_limits();
    assert_eq!(events.len(), 1);
    assert!(!events[0].rotated);
    assert_eq!(env.telemetry.calls()[0].attempts, 1);
    assert!(
        logs.text()
            .contains("job poll failed, retrying with the same key")
    );
    assert_no_secrets(&logs.text(), "poll 429");
}
