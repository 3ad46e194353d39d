//! Presenting a key to a provider, by [`AuthScheme`].
//!
//! - [`AuthScheme::Bearer`]: `Authorization: Bearer <key>`.
//! - [`AuthScheme::Header`]: `<header>: <key>`.
//! - [`AuthScheme::FalKey`]: `Authorization: Key <key>`.
//! - [`AuthScheme::KlingJwt`]: `Authorization: Bearer <jwt>`, where the JWT is signed HS256 with
//!   the secret half of an `access:secret` key; claims `iss` (access key), `exp` (now + ttl) and
//!   `nbf` (now - 5 s). A token is cached per key and re-signed about five minutes before it
//!   expires; the cache is an `arc-swap` cell on the key, so reading it takes no lock.
//!
//! Header values are marked sensitive so `http`'s `Debug` output hides them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::keys::KeyLease;
use crate::spec::AuthScheme;

/// The JOSE header of every Kling token.
const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// `nbf` is set this many seconds in the past, to tolerate clock skew.
const NBF_SKEW_SECS: u64 = 5;
/// A cached token is replaced this long before it expires (at most half its lifetime).
const REFRESH_MARGIN_SECS: u64 = 300;

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    exp: u64,
    nbf: u64,
}

/// Signs a Kling API token: HS256 over `{"alg":"HS256","typ":"JWT"}` and
/// `{"iss": access, "exp": now_unix + ttl_secs, "nbf": now_unix - 5}`, base64url without padding.
pub fn kling_jwt(access: &str, secret: &str, now_unix: u64, ttl_secs: u64) -> String {
    let claims = Claims {
        iss: access.to_owned(),
        exp: now_unix.saturating_add(ttl_secs),
        nbf: now_unix.saturating_sub(NBF_SKEW_SECS),
    };
    let claims = serde_json::to_vec(&claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(JWT_HEADER),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = URL_SAFE_NO_PAD.encode(hmac(secret, &signing_input).finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks a Kling API token as the provider would: HS256 header, signature under `secret`,
/// `iss == access`, `nbf <= now_unix < exp`. The error says what is wrong (never the secret).
pub fn verify_kling_jwt(
    token: &str,
    access: &str,
    secret: &str,
    now_unix: u64,
) -> std::result::Result<(), String> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token: expected three dot-separated parts".into());
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("malformed token {what}: {e}"))
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| format!("malformed token header: {e}"))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err("unsupported token algorithm: expected HS256".into());
    }
    let signature = decode(signature, "signature")?;
    let signing_input = &token[..token.rfind('.').unwrap_or(0)];
    hmac(secret, signing_input)
        .verify_slice(&signature)
        .map_err(|_| "bad token signature".to_owned())?;
    let claims: Claims = serde_json::from_slice(&decode(claims, "claims")?)
        .map_err(|e| format!("malformed token claims: {e}"))?;
    if claims.iss != access {
        return Err("token issuer is not this access key".into());
    }
    if now_unix < claims.nbf {
        return Err(format!("token not valid before {}", claims.nbf));
    }
    if now_unix >= claims.exp {
        return Err(format!("token expired at {}", claims.exp));
    }
    Ok(())
}

fn hmac(secret: &str, input: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(input.as_bytes());
    mac
}

/// A signed token cached on a key.
pub(crate) struct CachedToken {
    value: String,
    issued_unix: u64,
    refresh_unix: u64,
}

/// Seconds since the Unix epoch, by the system clock.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The header carrying the leased key under `scheme`, valued at `now_unix` (for JWTs).
pub(crate) fn header(
    scheme: AuthScheme,
    lease: &KeyLease,
    now_unix: u64,
) -> Result<(HeaderName, HeaderValue)> {
    let key = lease.key();
    let (name, value) = match scheme {
        AuthScheme::Bearer => (
            http::header::AUTHORIZATION,
            format!("Bearer {}", key.secret()),
        ),
        AuthScheme::FalKey => (http::header::AUTHORIZATION, format!("Key {}", key.secret())),
        AuthScheme::Header { header } => {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| Error::Config(format!("invalid auth header name `{header}`")))?;
            (name, key.secret().to_owned())
        }
        AuthScheme::KlingJwt { ttl_secs } => (
            http::header::AUTHORIZATION,
            format!("Bearer {}", cached_jwt(lease, ttl_secs, now_unix)?),
        ),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        Error::Config(format!(
            "key {} contains characters not allowed in an HTTP header",
            key.fingerprint()
        ))
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn cached_jwt(lease: &KeyLease, ttl_secs: u64, now_unix: u64) -> Result<String> {
    let cell = &lease.slot().token;
    if let Some(token) = cell.load().as_ref()
        && now_unix >= token.issued_unix
        && now_unix < token.refresh_unix
    {
        return Ok(token.value.clone());
    }
    let Some((access, secret)) = lease.key().pair() else {
        return Err(Error::Config(format!(
            "key {} is not an `access_key:secret_key` pair, as JWT auth needs",
            lease.fingerprint()
        )));
    };
    let value = kling_jwt(access, secret, now_unix, ttl_secs);
    let margin = REFRESH_MARGIN_SECS.min(ttl_secs / 2);
    cell.store(Some(Arc::new(CachedToken {
        value: value.clone(),
        issued_unix: now_unix,
        refresh_unix: now_unix.saturating_add(ttl_secs - margin),
    })));
    Ok(value)
}
