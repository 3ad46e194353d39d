//! Scripted outcomes and seeded random faults.

use crate::sim_support;

use std::time::{Duration, Instant};

use media_sdk_sim::{Faults, Outcome, Scripted, Simulator};
use sim_support::*;

fn speech() -> SpeechRequest {
    SpeechRequest::new("Faults ahead.")
}

fn openai_sim() -> media_sdk_sim::SimBuilder {
    Simulator::builder()
        .provider(&OPENAI, openai_routes())
        .provider(&KLING, kling_routes())
        .keys("openai", OPENAI_KEYS)
        .keys("kling", KLING_KEYS)
}

#[tokio::test]
async fn scripted_statuses_come_in_order_in_the_dialect() {
    let sim = openai_sim().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script(
        "openai",
        vec![
            Scripted::Status(500),
            Scripted::Pass,
            Scripted::Status(503),
            Scripted::Status(418),
        ],
    );
    let first = openai.call(&speech(), OPENAI_KEYS[0]).await;
    assert_eq!(first.status, 500);
    assert_eq!(first.json()["error"]["type"], "server_error");
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 503);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 418);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);

    let outcomes: Vec<Outcome> = sim.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::ServerError,
            Outcome::Success,
            Outcome::ServerError,
            Outcome::OtherError,
            Outcome::Success
        ]
    );
    let stats = sim.stats().key("openai", OPENAI_KEYS[0]);
    assert_eq!(
        (stats.ok, stats.server_errors, stats.client_errors),
        (2, 2, 1)
    );

    // Kling's 5xx keep the envelope.
    sim.script("kling", vec![Scripted::Status(503)]);
    let kling = Caller::new(&sim, &KLING)
        .post_raw("/v1/videos/text2video", r#"{"prompt":"x"}"#, KLING_KEYS[0])
        .await;
    assert_eq!(
        (kling.status, kling.json()["code"].as_i64()),
        (503, Some(5001))
    );
}

#[tokio::test]
async fn a_reset_closes_the_connection_without_an_answer() {
    let sim = openai_sim().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script("openai", vec![Scripted::Reset]);
    let url = format!("{}/v1/audio/speech", openai.base);
    let error = openai
        .http
        .post(&url)
        .bearer_auth(OPENAI_KEYS[0])
        .json(&speech())
        .send()
        .await
        .expect_err("no answer");
    assert!(!error.is_timeout(), "{error}");
    assert_eq!(
        openai.call(&speech(), OPENAI_KEYS[0]).await.status,
        200,
        "the next one is served"
    );
    let first = &sim.requests()[0];
    assert_eq!((first.status, first.outcome), (None, Outcome::Reset));
    assert_eq!(sim.stats().key("openai", OPENAI_KEYS[0]).dropped, 1);
}

#[tokio::test]
async fn a_hang_lasts_until_the_client_gives_up() {
    let sim = openai_sim().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script("openai", vec![Scripted::Hang]);
    let error = openai
        .http
        .post(format!("{}/v1/audio/speech", openai.base))
        .bearer_auth(OPENAI_KEYS[0])
        .timeout(Duration::from_millis(200))
        .json(&speech())
        .send()
        .await
        .expect_err("never answered");
    assert!(error.is_timeout(), "{error}");
    assert_eq!(sim.requests()[0].outcome, Outcome::Hang);
}

#[tokio::test]
async fn a_hanging_request_ends_when_the_simulator_shuts_down() {
    let sim = openai_sim().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script("openai", vec![Scripted::Hang]);
    let pending = tokio::spawn(
        openai
            .http
            .post(format!("{}/v1/audio/speech", openai.base))
            .bearer_auth(OPENAI_KEYS[0])
            .json(&speech())
            .send(),
    );
    sim.wait_for_requests(1).await;
    assert_eq!(sim.requests()[0].outcome, Outcome::Hang);
    sim.shutdown().await;
    let result = pending.await.unwrap();
    assert!(result.is_err(), "closed without an answer");
}

#[tokio::test]
async fn malformed_json_is_a_200_that_does_not_parse() {
    let sim = openai_sim().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script("openai", vec![Scripted::MalformedJson]);
    let request = ImageRequest::new("x");
    let answer = openai.call(&request, OPENAI_KEYS[0]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<serde_json::Value>(&answer.bytes).is_err());
    assert_eq!(sim.requests()[0].outcome, Outcome::Malformed);
}

/// The statuses of `count` requests against a simulator with `faults` and `seed`.
async fn statuses(faults: Faults, seed: u64, count: usize) -> Vec<u16> {
    let sim = openai_sim()
        .faults("openai", faults)
        .seed(seed)
        .start()
        .await
        .unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(openai.call(&speech(), OPENAI_KEYS[0]).await.status);
    }
    out
}

#[tokio::test]
async fn random_faults_are_reproducible_from_the_seed() {
    let faults = Faults {
        error_rate: 0.5,
        ..Faults::none()
    };
    let a = statuses(faults, 42, 24).await;
    let b = statuses(faults, 42, 24).await;
    let c = statuses(faults, 43, 24).await;
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, c, "another seed, other faults");
    assert!(a.iter().all(|s| [200, 500, 502, 503].contains(s)));
    assert!(a.contains(&200) && a.iter().any(|s| *s >= 500));

    let always = statuses(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        1,
        6,
    )
    .await;
    assert!(
        always.iter().all(|s| [500, 502, 503].contains(s)),
        "{always:?}"
    );
}

#[tokio::test]
async fn faults_change_at_run_time_and_latency_delays_answers() {
    let sim = openai_sim().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.set_faults(
        "openai",
        Faults {
            reset_rate: 1.0,
            ..Faults::none()
        },
    );
    let reset = openai
        .http
        .post(format!("{}/v1/audio/speech", openai.base))
        .bearer_auth(OPENAI_KEYS[0])
        .json(&speech())
        .send()
        .await;
    assert!(reset.is_err());

    let latency = Duration::from_millis(40);
    sim.set_faults(
        "openai",
        Faults {
            latency,
            ..Faults::none()
        },
    );
    let started = Instant::now();
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
    assert!(started.elapsed() >= latency);
}
