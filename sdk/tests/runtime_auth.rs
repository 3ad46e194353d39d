//! Kling JWT signing and verification.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use media_sdk::auth::{kling_jwt, verify_kling_jwt};

const NOW: u64 = 1_700_000_000;

/// Computed independently (Python `hmac` + `base64.urlsafe_b64encode`, padding stripped).
const VECTOR: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
eyJpc3MiOiJhay10ZXN0IiwiZXhwIjoxNzAwMDAxODAwLCJuYmYiOjE2OTk5OTk5OTV9.\
tMljlG8Xy1G8AKj5WkEZRcRIADvbH0FP6wgzpwHAfs4";

fn part(token: &str, index: usize) -> serde_json::Value {
    let raw = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap()
}

#[test]
fn token_matches_an_independently_computed_vector() {
    assert_eq!(kling_jwt("ak-test", "sk-test", NOW, 1800), VECTOR);
}

#[test]
fn token_has_the_documented_header_and_claims() {
    let token = kling_jwt("ak-test", "sk-test", NOW, 1800);
    assert_eq!(token.matches('.').count(), 2);
    assert!(!token.contains('='), "no padding");
    assert_eq!(
        part(&token, 0),
        serde_json::json!({"alg": "HS256", "typ": "JWT"})
    );
    assert_eq!(
        part(&token, 1),
        serde_json::json!({"iss": "ak-test", "exp": NOW + 1800, "nbf": NOW - 5})
    );
    assert!(!token.contains("sk-test"));
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
    let longer = URL_SAFE_NO_PAD.encode(br#"{"iss":"ak-test","exp":1800000000,"nbf":1699999995}"#);
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
