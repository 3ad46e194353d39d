//! The request log and counters: what they hold and how keys are named in them.

use crate::sim_support;

use media_sdk_sim::{Operation, Outcome};
use serde_json::json;
use sim_support::*;

#[tokio::test]
async fn the_log_records_each_request_without_its_key() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let eleven = Caller::new(&sim, &ELEVENLABS);

    let response = openai
        .http
        .post(format!("{}/v1/audio/speech", openai.base))
        .bearer_auth(OPENAI_KEYS[0])
        .header("user-agent", "media-sdk-test/1")
        .header("idempotency-key", "abc-123")
        .json(&SpeechRequest::new("Log me."))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request = ElevenTtsRequest {
        output_format: Some("mp3_44100_128".into()),
        ..ElevenTtsRequest::new("voice-9", "Log me too.")
    };
    assert_eq!(eleven.call(&request, ELEVEN_KEYS[0]).await.status, 200);

    let log = sim.requests();
    assert_eq!(log.len(), 2);
    let first = &log[0];
    assert_eq!(first.seq, 0);
    assert_eq!((first.provider, first.endpoint), ("openai", Some("speech")));
    assert_eq!(first.operation, Operation::Call);
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/v1/audio/speech")
    );
    assert_eq!(first.auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(
        first.body,
        Some(json!({"model": "tts-1", "input": "Log me.", "voice": "alloy"}))
    );
    assert_eq!((first.status, first.outcome), (Some(200), Outcome::Success));
    let headers: Vec<&str> = first.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(headers.contains(&"content-type"));
    assert!(headers.contains(&"user-agent"));
    assert!(headers.contains(&"idempotency-key"));
    assert!(!headers.contains(&"authorization"));

    let fp = first.key_fingerprint.as_deref().unwrap();
    // The runtime's fingerprint, so the sim's log, the SDK's logs and its metrics agree.
    assert!(fp.starts_with("k_") && fp.len() == 10, "{fp}");
    assert!(fp[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fp, media_sdk::keys::fingerprint(OPENAI_KEYS[0]));

    let second = &log[1];
    assert_eq!(second.auth_scheme.as_deref(), Some("xi-api-key"));
    assert!(second.headers.iter().all(|(name, _)| name != "xi-api-key"));
    assert_eq!(
        second.query,
        vec![("output_format".into(), "mp3_44100_128".into())]
    );
    assert_ne!(second.key_fingerprint.as_deref(), Some(fp));

    assert_eq!(sim.requests_for("elevenlabs").len(), 1);
    assert_eq!(sim.stats().fingerprint("openai", fp).ok, 1);
    assert_eq!(sim.stats().provider("openai").requests, 1);
}

#[tokio::test]
async fn fingerprints_are_stable_per_key() {
    let sim = all_providers().start().await.unwrap();
    let kling = Caller::new(&sim, &KLING);
    let request = TextToVideoRequest::new("x");
    // A fresh token each time; the fingerprint names the pair, not the token.
    for key in [KLING_KEYS[0], KLING_KEYS[0], KLING_KEYS[1]] {
        assert_eq!(kling.call(&request, key).await.status, 200);
    }
    let fps: Vec<String> = sim
        .requests()
        .into_iter()
        .map(|r| r.key_fingerprint.unwrap())
        .collect();
    assert_eq!(fps[0], fps[1]);
    assert_ne!(fps[0], fps[2]);
    // As the runtime's pool names the key: the fingerprint of the whole `access:secret` pair.
    assert_eq!(fps[0], media_sdk::keys::fingerprint(KLING_KEYS[0]));
    assert_eq!(sim.stats().key("kling", KLING_KEYS[0]).ok, 2);
    assert_eq!(sim.stats().key("kling", KLING_KEYS[1]).ok, 1);
    let listed: Vec<_> = sim
        .stats()
        .keys()
        .map(|(p, f, s)| (p, f.to_owned(), s.ok))
        .collect();
    assert_eq!(listed.len(), 2);
}
