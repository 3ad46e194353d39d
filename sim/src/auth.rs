//! Credentials as the providers check them: bearer tokens, fal's `Key` scheme, header keys and
//! Kling's HS256 JWTs; plus a token signer for tests and the key fingerprint.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use media_sdk::spec::AuthScheme;

/// A short, stable name for a key, the same the runtime logs and reports
/// ([`media_sdk::keys::fingerprint`]): for Kling, of the whole `access:secret` pair. Safe to log.
pub(crate) use media_sdk::keys::fingerprint;

/// The claims of a Kling API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KlingClaims {
    /// The access key.
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Not valid before, seconds since the Unix epoch.
    pub nbf: i64,
}

impl KlingClaims {
    /// Claims as Kling's documentation prescribes: `exp = now + ttl`, `nbf = now - 5 s`.
    pub fn new(access_key: &str, now: SystemTime, ttl: Duration) -> Self {
        let now = unix_secs(now);
        Self {
            iss: access_key.to_owned(),
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            nbf: now - 5,
        }
    }
}

/// Signs `claims` as an HS256 JWT with header `{"alg":"HS256","typ":"JWT"}`, keyed by the
/// secret key. Use it to hand-craft tokens (expired, wrong issuer, wrong secret) in tests.
pub fn sign_kling_jwt(claims: &KlingClaims, secret_key: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(claims).expect("claims are plain strings and integers"));
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(hs256(secret_key, &signing_input));
    format!("{signing_input}.{signature}")
}

/// A token valid for the next 30 minutes for a Kling pool key `access_key:secret_key`.
///
/// # Panics
/// When `key_pair` has no `:`.
pub fn kling_token(key_pair: &str) -> String {
    let (access, secret) = key_pair
        .split_once(':')
        .expect("a Kling key is `access_key:secret_key`");
    let claims = KlingClaims::new(access, SystemTime::now(), Duration::from_secs(1800));
    sign_kling_jwt(&claims, secret)
}

/// The claims the verifier reads (`exp`/`nbf` as Kling checks them: unsigned seconds).
#[derive(Deserialize)]
struct TokenClaims {
    iss: String,
    exp: u64,
    nbf: u64,
}

/// Checks a Kling API token as the provider would: HS256 header, signature under `secret`,
/// `iss == access`, `nbf <= now_unix < exp`. The error says what is wrong (never the secret).
pub fn verify_kling_jwt(
    token: &str,
    access: &str,
    secret: &str,
    now_unix: u64,
) -> std::result::Result<(), String> {
    check_kling_jwt(token, access, secret, now_unix).map_err(|rejection| rejection.to_string())
}

/// Why [`check_kling_jwt`] refused a token. Its `Display` is [`verify_kling_jwt`]'s message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejection {
    /// Not three base64url parts, or a header or claims that are not the expected JSON (the
    /// whole message).
    #[error("{0}")]
    Malformed(String),
    /// The header names another algorithm than HS256.
    #[error("unsupported token algorithm: expected HS256")]
    Algorithm,
    /// The signature does not match the secret.
    #[error("bad token signature")]
    BadSignature,
    /// `iss` is another access key.
    #[error("token issuer is not this access key")]
    WrongIssuer,
    /// `nbf` (the value) is still in the future.
    #[error("token not valid before {0}")]
    NotYetValid(u64),
    /// `exp` (the value) has passed.
    #[error("token expired at {0}")]
    Expired(u64),
}

/// [`verify_kling_jwt`] with a typed refusal (mapped to Kling's error codes when answering).
pub fn check_kling_jwt(
    token: &str,
    access: &str,
    secret: &str,
    now_unix: u64,
) -> std::result::Result<(), JwtRejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtRejection::Malformed(
            "malformed token: expected three dot-separated parts".into(),
        ));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| JwtRejection::Malformed(format!("malformed token {what}: {e}")))
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| JwtRejection::Malformed(format!("malformed token header: {e}")))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtRejection::Algorithm);
    }
    let signature = decode(signature, "signature")?;
    let signing_input = &token[..token.rfind('.').unwrap_or(0)];
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| JwtRejection::BadSignature)?;
    let claims: TokenClaims = serde_json::from_slice(&decode(claims, "claims")?)
        .map_err(|e| JwtRejection::Malformed(format!("malformed token claims: {e}")))?;
    if claims.iss != access {
        return Err(JwtRejection::WrongIssuer);
    }
    if now_unix < claims.nbf {
        return Err(JwtRejection::NotYetValid(claims.nbf));
    }
    if now_unix >= claims.exp {
        return Err(JwtRejection::Expired(claims.exp));
    }
    Ok(())
}

fn hs256(secret: &str, input: &str) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Why a Kling token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtProblem {
    /// Not three base64url parts, bad JSON, or not HS256.
    Malformed,
    /// The signature does not match the issuer's secret.
    BadSignature,
    /// `iss` names no known access key.
    UnknownIssuer,
    /// `nbf` is in the future.
    NotYetValid,
    /// `exp` has passed.
    Expired,
}

impl From<JwtRejection> for JwtProblem {
    fn from(rejection: JwtRejection) -> Self {
        match rejection {
            JwtRejection::Malformed(_) | JwtRejection::Algorithm => JwtProblem::Malformed,
            JwtRejection::BadSignature => JwtProblem::BadSignature,
            JwtRejection::WrongIssuer => JwtProblem::UnknownIssuer,
            JwtRejection::NotYetValid(_) => JwtProblem::NotYetValid,
            JwtRejection::Expired(_) => JwtProblem::Expired,
        }
    }
}

/// A decoded, not yet verified token: its claims name the key (and so the secret) to verify
/// it with ([`check_kling_jwt`]).
pub(crate) struct UnverifiedJwt {
    pub claims: KlingClaims,
}

impl UnverifiedJwt {
    pub(crate) fn parse(token: &str) -> Result<Self, JwtProblem> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtProblem::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JwtProblem::Malformed)
        };
        #[derive(Deserialize)]
        struct Header {
            alg: String,
        }
        let header: Header =
            serde_json::from_slice(&decode(header)?).map_err(|_| JwtProblem::Malformed)?;
        if header.alg != "HS256" {
            return Err(JwtProblem::Malformed);
        }
        let claims: KlingClaims =
            serde_json::from_slice(&decode(payload)?).map_err(|_| JwtProblem::Malformed)?;
        decode(signature)?;
        Ok(Self { claims })
    }

    /// Checks `nbf` and `exp` against `now` (Unix seconds).
    pub(crate) fn check_times(&self, now: i64) -> Result<(), JwtProblem> {
        if self.claims.nbf > now {
            Err(JwtProblem::NotYetValid)
        } else if self.claims.exp <= now {
            Err(JwtProblem::Expired)
        } else {
            Ok(())
        }
    }
}

/// What a request presented as its credential, before it is checked.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    /// No credential in the place the scheme expects.
    Missing,
    /// The credential (an API key, or a JWT for Kling).
    Credential(String),
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presented::Missing => f.write_str("Missing"),
            Presented::Credential(_) => f.write_str("Credential(<redacted>)"),
        }
    }
}

/// Reads the credential the scheme expects. Returns it with a label of how it was sent
/// (`"Bearer"`, `"Key"`, or the header name) for the request log.
pub(crate) fn presented(
    scheme: AuthScheme,
    headers: &http::HeaderMap,
) -> (Presented, Option<String>) {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let label = authorization.map(|v| v.split_once(' ').map_or(v, |(scheme, _)| scheme).to_owned());
    let with_prefix = |prefix: &str| {
        authorization
            .and_then(|v| v.strip_prefix(prefix))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map_or(Presented::Missing, |k| Presented::Credential(k.to_owned()))
    };
    match scheme {
        AuthScheme::Bearer | AuthScheme::KlingJwt { .. } => (with_prefix("Bearer "), label),
        AuthScheme::FalKey => (with_prefix("Key "), label),
        AuthScheme::Header { header } => {
            let value = headers
                .get(header)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|k| !k.is_empty());
            match value {
                Some(key) => (
                    Presented::Credential(key.to_owned()),
                    Some(header.to_owned()),
                ),
                None => (Presented::Missing, label),
            }
        }
        // A scheme this simulator does not know: nothing it could check was presented.
        _ => (Presented::Missing, label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_token_verifies_with_its_secret_only() {
        let claims = KlingClaims::new("ak", SystemTime::now(), Duration::from_secs(1800));
        let token = sign_kling_jwt(&claims, "sk");
        let jwt = UnverifiedJwt::parse(&token).unwrap();
        assert_eq!(jwt.claims, claims);
        let now = u64::try_from(unix_secs(SystemTime::now())).unwrap();
        assert_eq!(check_kling_jwt(&token, "ak", "sk", now), Ok(()));
        assert_eq!(
            check_kling_jwt(&token, "ak", "other", now).map_err(JwtProblem::from),
            Err(JwtProblem::BadSignature)
        );
        assert_eq!(jwt.check_times(unix_secs(SystemTime::now())), Ok(()));
    }

    #[test]
    fn times_are_checked() {
        let claims = KlingClaims {
            iss: "ak".into(),
            exp: 100,
            nbf: 50,
        };
        let jwt = UnverifiedJwt::parse(&sign_kling_jwt(&claims, "sk")).unwrap();
        assert_eq!(jwt.check_times(49), Err(JwtProblem::NotYetValid));
        assert_eq!(jwt.check_times(99), Ok(()));
        assert_eq!(jwt.check_times(100), Err(JwtProblem::Expired));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in ["", "a.b", "a.b.c.d", "!!.e30.sig", "e30.e30.c2ln"] {
            assert_eq!(
                UnverifiedJwt::parse(token).err(),
                Some(JwtProblem::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn fingerprint_is_the_runtime_fingerprint() {
        let fp = fingerprint("sk-secret");
        assert_eq!(fp, media_sdk::keys::fingerprint("sk-secret"));
        assert_ne!(fp, fingerprint("sk-secret2"));
        assert!(!fp.contains("secret"));
    }
}
