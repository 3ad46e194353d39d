//! Kling JWT signing against an independently computed vector (the provider side, verification,
//! is the simulator's: `media_sdk_sim::verify_kling_jwt`).

use crate::auth::kling_jwt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
