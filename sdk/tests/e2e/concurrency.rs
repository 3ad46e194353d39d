//! Many concurrent calls over real HTTP through the generated clients, with seeded random
//! 429s (short hints, so some key always comes back within `max_wait`) and 5xx faults: no call
//! is lost, none fails while capacity remains, and the load spreads across the keys.

use crate::e2e_support;

use std::collections::HashMap;
use std::time::Duration;

use e2e_support::{ELEVEN_KEYS, Env, OPENAI_KEYS, fast, fp};
use futures::StreamExt;
use media_sdk::elevenlabs::{self, ElevenTtsRequest};
use media_sdk::fal::FluxProRequest;
use media_sdk::openai::{self, SpeechRequest};
use media_sdk_sim::{Faults, Scripted};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CALLS: usize = 200;
const IN_FLIGHT: usize = 24;

/// A seeded sequence of outcomes for the next requests: about one in five is a 429 with a hint
/// of 1-3 ms, the rest pass. Returns the script and its number of 429s.
fn random_rate_limits(seed: u64, len: usize) -> (Vec<Scripted>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let script: Vec<Scripted> = (0..len)
        .map(|_| {
            if rng.random_bool(0.2) {
                Scripted::RateLimited {
                    retry_after: Some(Duration::from_millis(rng.random_range(1..=3))),
                }
            } else {
                Scripted::Pass
            }
        })
        .collect();
    let limited = script
        .iter()
        .filter(|s| matches!(s, Scripted::RateLimited { .. }))
        .count();
    (script, limited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_over_three_keys_survive_random_429s_and_5xx() {
    let env = Env::with(&[fast(&openai::PROVIDER)], |b| {
        b.seed(11).faults(
            "openai",
            Faults {
                error_rate: 0.05,
                ..Faults::none()
            },
        )
    })
    .await;
    let (script, limited) = random_rate_limits(42, CALLS);
    assert!(
        limited > 20,
        "the seed gives a fair number of 429s: {limited}"
    );
    env.sim.script("openai", script);

    let openai = env.sdk.openai().unwrap();
    let results: Vec<_> = futures::stream::iter(0..CALLS)
        .map(|i| async move {
            (
                i,
                openai
                    .speech(SpeechRequest::new(format!("concurrent call {i}")))
                    .await,
            )
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;

    // None lost, none failed.
    assert_eq!(results.len(), CALLS);
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "failed while capacity remained: {failed:?}"
    );

    // Every call reached the provider and succeeded exactly once.
    let log = env.log("openai");
    let mut served: HashMap<String, usize> = HashMap::new();
    for record in log.iter().filter(|r| r.status == Some(200)) {
        let input = record.body.as_ref().unwrap()["input"]
            .as_str()
            .unwrap()
            .to_owned();
        *served.entry(input).or_default() += 1;
    }
    assert_eq!(served.len(), CALLS);
    assert!(served.values().all(|&n| n == 1), "no call served twice");

    // Every refusal was retried: successes + 429s + 5xx make up the whole log.
    let rate_limited = log.iter().filter(|r| r.status == Some(429)).count();
    let server_errors = log
        .iter()
        .filter(|r| r.status.is_some_and(|s| s >= 500))
        .count();
    assert_eq!(rate_limited, limited, "every scripted 429 was met");
    assert!(server_errors > 0, "the seeded faults produced 5xx");
    assert_eq!(log.len(), CALLS + rate_limited + server_errors);

    // Telemetry: one metric per call, one event per 429.
    let calls = env.telemetry.calls();
    assert_eq!(calls.len(), CALLS);
    assert!(calls.iter().all(|m| m.success && m.status == Some(200)));
    let attempts: u32 = calls.iter().map(|m| m.attempts).sum();
    assert_eq!(attempts as usize, log.len(), "attempts add up to the log");
    assert_eq!(env.telemetry.rate_limits().len(), rate_limited);

    // The load spreads: every key served a fair share of the successes.
    let stats = env.sim.stats();
    for key in OPENAI_KEYS {
        let ok = stats.fingerprint("openai", &fp(key)).ok as usize;
        assert!(
            ok >= CALLS / 3 * 6 / 10,
            "key {} served {ok} of {CALLS}",
            fp(key)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_to_several_providers_do_not_interfere() {
    let env = Env::with(
        &[fast(&openai::PROVIDER), fast(&elevenlabs::PROVIDER)],
        |b| {
            b.seed(3).faults(
                "elevenlabs",
                Faults {
                    error_rate: 0.1,
                    ..Faults::none()
                },
            )
        },
    )
    .await;
    // As many entries as OpenAI calls, so the whole script is consumed.
    let (script, limited) = random_rate_limits(7, 30);
    env.sim.script("openai", script);

    let sdk = &env.sdk;
    let results: Vec<bool> = futures::stream::iter(0..90)
        .map(|i| async move {
            match i % 3 {
                0 => sdk
                    .elevenlabs()
                    .unwrap()
                    .text_to_speech(ElevenTtsRequest::new(format!("tts {i}")))
                    .await
                    .is_ok(),
                1 => sdk
                    .fal()
                    .unwrap()
                    .flux_pro(FluxProRequest::new(format!("image {i}")))
                    .await
                    .is_ok_and(|job| job.output.prompt == Some(format!("image {i}"))),
                _ => sdk
                    .openai()
                    .unwrap()
                    .speech(SpeechRequest::new(format!("speech {i}")))
                    .await
                    .is_ok(),
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(results.len(), 90);
    assert!(results.iter().all(|ok| *ok), "every call succeeded");

    let openai_log = env.log("openai");
    assert_eq!(
        openai_log.iter().filter(|r| r.status == Some(429)).count(),
        limited
    );
    assert_eq!(openai_log.len(), 30 + limited);
    let eleven = env.log("elevenlabs");
    let retried = eleven.iter().filter(|r| r.status != Some(200)).count();
    assert_eq!(eleven.len(), 30 + retried);
    let stats = env.sim.stats();
    for key in ELEVEN_KEYS {
        assert!(stats.fingerprint("elevenlabs", &fp(key)).ok >= 8);
    }
    // fal jobs: submit, status and result, each job followed with its own key.
    let fal = env.log("fal");
    assert_eq!(fal.len(), 90);
    assert_eq!(env.telemetry.calls().len(), 90);
    assert_eq!(env.telemetry.rate_limits().len(), limited);
}
