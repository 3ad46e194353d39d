//! Credentials as each provider checks them, and the per-provider 401 / quota shapes.

use crate::sim_support;

use std::time::{Duration, SystemTime};

use media_sdk_sim::{KlingClaims, Outcome, Scripted, Simulator, sign_kling_jwt};
use serde_json::json;
use sim_support::*;

fn speech() -> SpeechRequest {
    SpeechRequest::new("Hello from the simulator.")
}

fn tts() -> ElevenTtsRequest {
    ElevenTtsRequest::new("21m00Tcm4TlvDq8ikWAM", "Hello.")
}

fn video() -> TextToVideoRequest {
    TextToVideoRequest {
        model_name: Some("kling-v1".into()),
        duration: Some("5".into()),
        ..TextToVideoRequest::new("A fox in the snow")
    }
}

fn flux() -> FluxProRequest {
    FluxProRequest::new("A lighthouse")
}

#[tokio::test]
async fn openai_accepts_configured_bearer_keys_and_refuses_others() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);

    let ok = openai.call(&speech(), OPENAI_KEYS[1]).await;
    assert_eq!(ok.status, 200);

    let bad = openai.call(&speech(), "sk-not-a-key").await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"]["code"], "invalid_api_key");
    assert_eq!(bad.json()["error"]["type"], "invalid_request_error");
    assert!(
        !bad.json().to_string().contains("sk-not-a-key"),
        "the key is not echoed"
    );

    // The key sent with fal's scheme instead of Bearer is no key at all for OpenAI.
    let response = openai
        .http
        .post(format!("{}/v1/audio/speech", openai.base))
        .header("authorization", format!("Key {}", OPENAI_KEYS[0]))
        .json(&speech())
        .send()
        .await
        .unwrap();
    let missing = Answer::read(response).await;
    assert_eq!(missing.status, 401);
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You didn't provide an API key")
    );
    assert_eq!(missing.json()["error"]["code"], json!(null));
}

#[tokio::test]
async fn fal_needs_the_key_scheme() {
    let sim = all_providers().start().await.unwrap();
    let fal = Caller::new(&sim, &FAL);
    assert_eq!(fal.call(&flux(), FAL_KEYS[0]).await.status, 200);

    let wrong = fal.call(&flux(), "fal-id-9:nope").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.json()["detail"].is_string());

    let response = fal
        .http
        .post(format!("{}/fal-ai/flux-pro/v1.1", fal.base))
        .bearer_auth(FAL_KEYS[0])
        .json(&flux())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        401,
        "Bearer is not fal's scheme"
    );
}

#[tokio::test]
async fn elevenlabs_reads_the_xi_api_key_header() {
    let sim = all_providers().start().await.unwrap();
    let eleven = Caller::new(&sim, &ELEVENLABS);
    assert_eq!(eleven.call(&tts(), ELEVEN_KEYS[0]).await.status, 200);

    let bad = eleven.call(&tts(), "xi-wrong").await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.json(),
        json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
    );

    let response = eleven
        .http
        .post(format!("{}/v1/text-to-speech/voice", eleven.base))
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    let missing = Answer::read(response).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["detail"]["status"], "needs_authorization");
}

/// Sends a Kling request with a hand-made token.
async fn kling_with_token(kling: &Caller, token: &str) -> Answer {
    let response = kling
        .http
        .post(format!("{}/v1/videos/text2video", kling.base))
        .bearer_auth(token)
        .json(&video())
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

#[tokio::test]
async fn kling_verifies_the_jwt_signature_issuer_and_times() {
    let sim = all_providers().start().await.unwrap();
    let kling = Caller::new(&sim, &KLING);
    let now = SystemTime::now();
    let ttl = Duration::from_secs(1800);
    let fresh = KlingClaims::new("ak-one", now, ttl);

    struct Case {
        proves: &'static str,
        token: String,
        status: u16,
        code: i64,
    }
    let cases = [
        Case {
            proves: "a token signed with the pair's secret is accepted",
            token: sign_kling_jwt(&fresh, "sk-one-secret"),
            status: 200,
            code: 0,
        },
        Case {
            proves: "a token signed with another secret is refused as invalid",
            token: sign_kling_jwt(&fresh, "sk-two-secret"),
            status: 401,
            code: 1002,
        },
        Case {
            proves: "an unknown issuer is refused",
            token: sign_kling_jwt(&KlingClaims::new("ak-nobody", now, ttl), "sk-one-secret"),
            status: 401,
            code: 1000,
        },
        Case {
            proves: "an expired token is refused",
            token: sign_kling_jwt(
                &KlingClaims {
                    exp: fresh.nbf - 60,
                    nbf: fresh.nbf - 1860,
                    ..fresh.clone()
                },
                "sk-one-secret",
            ),
            status: 401,
            code: 1004,
        },
        Case {
            proves: "a token not valid yet is refused",
            token: sign_kling_jwt(
                &KlingClaims {
                    nbf: fresh.exp - 10,
                    ..fresh.clone()
                },
                "sk-one-secret",
            ),
            status: 401,
            code: 1003,
        },
        Case {
            proves: "a raw pool key is not a token",
            token: KLING_KEYS[0].to_owned(),
            status: 401,
            code: 1002,
        },
    ];
    for case in cases {
        let answer = kling_with_token(&kling, &case.token).await;
        assert_eq!(answer.status, case.status, "{}", case.proves);
        assert_eq!(answer.json()["code"], case.code, "{}", case.proves);
        assert!(answer.json()["request_id"].is_string(), "{}", case.proves);
    }

    let response = kling
        .http
        .post(format!("{}/v1/videos/text2video", kling.base))
        .json(&video())
        .send()
        .await
        .unwrap();
    let empty = Answer::read(response).await;
    assert_eq!(
        (empty.status, empty.json()["code"].as_i64()),
        (401, Some(1001))
    );

    // The signature failure is attributed to the issuer's key, the unknown issuer to none.
    let log = sim.requests_for("kling");
    let fp_of_one = log[0].key_fingerprint.clone().unwrap();
    assert_eq!(log[1].key_fingerprint.as_deref(), Some(fp_of_one.as_str()));
    assert_eq!(log[2].key_fingerprint, None);
    assert!(log[1..].iter().all(|r| r.outcome == Outcome::Unauthorized));
}

#[tokio::test]
async fn revoked_keys_are_refused_until_restored() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    let kling = Caller::new(&sim, &KLING);

    sim.revoke_key("openai", OPENAI_KEYS[0]);
    sim.revoke_key("kling", KLING_KEYS[0]);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 401);
    assert_eq!(
        openai.call(&speech(), OPENAI_KEYS[1]).await.status,
        200,
        "other keys unaffected"
    );
    let refused = kling.call(&video(), KLING_KEYS[0]).await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_i64()),
        (401, Some(1000))
    );

    sim.restore_key("openai", OPENAI_KEYS[0]);
    assert_eq!(openai.call(&speech(), OPENAI_KEYS[0]).await.status, 200);
}

#[tokio::test]
async fn exhausted_quota_has_each_providers_shape() {
    let sim = all_providers().start().await.unwrap();
    sim.exhaust_quota("openai", OPENAI_KEYS[0]);
    sim.exhaust_quota("fal", FAL_KEYS[0]);
    sim.exhaust_quota("kling", KLING_KEYS[0]);
    sim.exhaust_quota("elevenlabs", ELEVEN_KEYS[0]);

    let openai = Caller::new(&sim, &OPENAI)
        .call(&speech(), OPENAI_KEYS[0])
        .await;
    assert_eq!(openai.status, 429);
    assert_eq!(openai.json()["error"]["code"], "insufficient_quota");
    assert_eq!(openai.json()["error"]["type"], "insufficient_quota");
    assert!(
        openai.header("retry-after").is_none(),
        "quota is not a rate limit"
    );

    let fal = Caller::new(&sim, &FAL).call(&flux(), FAL_KEYS[0]).await;
    assert_eq!(fal.status, 403);
    assert!(
        fal.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Exhausted balance")
    );

    let kling = Caller::new(&sim, &KLING)
        .call(&video(), KLING_KEYS[0])
        .await;
    assert_eq!(
        (kling.status, kling.json()["code"].as_i64()),
        (429, Some(1102))
    );

    let eleven = Caller::new(&sim, &ELEVENLABS)
        .call(&tts(), ELEVEN_KEYS[0])
        .await;
    assert_eq!(eleven.status, 401);
    assert_eq!(eleven.json()["detail"]["status"], "quota_exceeded");

    // The other key of each provider still works.
    assert_eq!(
        Caller::new(&sim, &OPENAI)
            .call(&speech(), OPENAI_KEYS[1])
            .await
            .status,
        200
    );
    let outcomes: Vec<Outcome> = sim.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::QuotaExhausted)
            .count(),
        4
    );
}

#[tokio::test]
async fn without_configured_keys_any_key_is_accepted() {
    let sim = Simulator::builder()
        .provider(&OPENAI, openai_routes())
        .start()
        .await
        .unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    assert_eq!(openai.call(&speech(), "sk-anything").await.status, 200);
    sim.revoke_key("openai", "sk-anything");
    assert_eq!(openai.call(&speech(), "sk-anything").await.status, 401);
}

#[tokio::test]
async fn scripted_invalid_key_targets_one_key() {
    let sim = all_providers().start().await.unwrap();
    let openai = Caller::new(&sim, &OPENAI);
    sim.script("openai", vec![Scripted::InvalidKey.for_key(OPENAI_KEYS[0])]);
    assert_eq!(
        openai.call(&speech(), OPENAI_KEYS[1]).await.status,
        200,
        "not the target"
    );
    assert_eq!(sim.pending_script("openai"), 1);
    let refused = openai.call(&speech(), OPENAI_KEYS[0]).await;
    assert_eq!(refused.json()["error"]["code"], "invalid_api_key");
    assert_eq!(sim.pending_script("openai"), 0);
    assert_eq!(
        openai.call(&speech(), OPENAI_KEYS[0]).await.status,
        200,
        "once only"
    );
}

/// The verifier: the validity window, tampering and wrong credentials.
mod verifier {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use media_sdk_sim::{KlingClaims, sign_kling_jwt, verify_kling_jwt};

    const NOW: u64 = 1_700_000_000;

    fn kling_jwt(access: &str, secret: &str, now: u64, ttl: u64) -> String {
        let now = i64::try_from(now).unwrap();
        let ttl = i64::try_from(ttl).unwrap();
        sign_kling_jwt(
            &KlingClaims {
                iss: access.into(),
                exp: now + ttl,
                nbf: now - 5,
            },
            secret,
        )
    }

    #[test]
    fn verification_accepts_the_validity_window_only() {
        let token = kling_jwt("ak-test", "sk-test", NOW, 1800);
        let cases: &[(u64, Option<&str>)] = &[
            (NOW, None),
            (NOW - 5, None),
            (NOW + 1799, None),
            (NOW - 6, Some("not valid before")),
            (NOW + 1800, Some("expired")),
            (NOW + 100_000, Some("expired")),
        ];
        for (now, expected) in cases {
            let result = verify_kling_jwt(&token, "ak-test", "sk-test", *now);
            match expected {
                None => assert_eq!(result, Ok(()), "at {now}"),
                Some(text) => assert!(result.unwrap_err().contains(text), "at {now}"),
            }
        }
    }

    #[test]
    fn verification_rejects_tampering_and_wrong_credentials() {
        let token = kling_jwt("ak-test", "sk-test", NOW, 1800);
        let [header, _, signature] =
            <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).unwrap();
        let longer =
            URL_SAFE_NO_PAD.encode(br#"{"iss":"ak-test","exp":1800000000,"nbf":1699999995}"#);
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = token.split('.').nth(1).unwrap();
        let mut altered = token.clone().into_bytes();
        let at = altered.len() - 10;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "extended expiry",
                format!("{header}.{longer}.{signature}"),
                "sk-test",
                "bad token signature",
            ),
            (
                "wrong secret",
                token.clone(),
                "sk-other",
                "bad token signature",
            ),
            (
                "alg none",
                format!("{none_header}.{claims}."),
                "sk-test",
                "algorithm",
            ),
            (
                "two parts",
                format!("{header}.{claims}"),
                "sk-test",
                "malformed",
            ),
            ("four parts", format!("{token}.x"), "sk-test", "malformed"),
            (
                "bad base64",
                format!("{header}.{claims}.***"),
                "sk-test",
                "malformed",
            ),
            (
                "altered signature",
                altered,
                "sk-test",
                "bad token signature",
            ),
        ];
        for (name, token, secret, expected) in cases {
            let error = verify_kling_jwt(&token, "ak-test", secret, NOW).unwrap_err();
            assert!(error.contains(expected), "{name}: {error}");
            assert!(!error.contains("sk-test"), "{name}: {error}");
        }
        let error = verify_kling_jwt(&token, "ak-other", "sk-test", NOW).unwrap_err();
        assert!(error.contains("issuer"), "{error}");
    }
}
