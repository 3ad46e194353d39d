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
use serde::Serialize;
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::secret::{ApiKey, CachedHeader, CachedToken};
use crate::spec::AuthScheme;

/// The JOSE header of every Kling token.
const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// `nbf` is set this many seconds in the past, to tolerate clock skew.
const NBF_SKEW_SECS: u64 = 5;
/// A cached token is replaced this long before it expires (at most half its lifetime).
const REFRESH_MARGIN_SECS: u64 = 300;

#[derive(Serialize)]
struct Claims {
    iss: String,
    exp: u64,
    nbf: u64,
}

/// Signs a Kling API token: HS256 over `{"alg":"HS256","typ":"JWT"}` and
/// `{"iss": access, "exp": now_unix + ttl_secs, "nbf": now_unix - 5}`, base64url without padding.
pub(crate) fn kling_jwt(access: &str, secret: &str, now_unix: u64, ttl_secs: u64) -> String {
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

fn hmac(secret: &str, input: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(input.as_bytes());
    mac
}

/// Why `key` can never be presented under `scheme`, if so: checked once when the pool is
/// loaded, so an unusable key is reported at start-up instead of failing the calls that draw it.
pub(crate) fn unusable(scheme: AuthScheme, key: &ApiKey) -> Option<&'static str> {
    let valid = |value: String| HeaderValue::from_str(&value).is_ok();
    let fits = match scheme {
        AuthScheme::Bearer => valid(format!("Bearer {}", key.secret())),
        AuthScheme::FalKey => valid(format!("Key {}", key.secret())),
        AuthScheme::Header { .. } => valid(key.secret().to_owned()),
        AuthScheme::KlingJwt { .. } => {
            if key.pair().is_none() {
                return Some("not an `access_key:secret_key` pair, as JWT auth needs");
            }
            true
        }
    };
    (!fits).then_some("contains characters not allowed in an HTTP header (control byte, newline)")
}

/// Seconds since the Unix epoch, by the system clock.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The header carrying the leased key under `scheme`, valued at `now_unix` (for JWTs).
///
/// Under a fixed scheme (everything but a JWT) the header is built once per key and cached on
/// it: the hot path clones it (a reference count) instead of formatting and validating it.
pub(crate) fn header(
    scheme: AuthScheme,
    key: &ApiKey,
    now_unix: u64,
) -> Result<(HeaderName, HeaderValue)> {
    if matches!(scheme, AuthScheme::KlingJwt { .. }) {
        return build_header(scheme, key, now_unix);
    }
    if let Some(cached) = key.header().get()
        && cached.scheme == scheme
    {
        return Ok((cached.name.clone(), cached.value.clone()));
    }
    let (name, value) = build_header(scheme, key, now_unix)?;
    let _ = key.header().set(CachedHeader {
        scheme,
        name: name.clone(),
        value: value.clone(),
    });
    Ok((name, value))
}

fn build_header(
    scheme: AuthScheme,
    key: &ApiKey,
    now_unix: u64,
) -> Result<(HeaderName, HeaderValue)> {
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
            format!("Bearer {}", cached_jwt(key, ttl_secs, now_unix)?),
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

fn cached_jwt(key: &ApiKey, ttl_secs: u64, now_unix: u64) -> Result<String> {
    let cell = key.token();
    if let Some(token) = cell.load().as_ref()
        && now_unix >= token.issued_unix
        && now_unix < token.refresh_unix
    {
        return Ok(token.value.clone());
    }
    let Some((access, secret)) = key.pair() else {
        return Err(Error::Config(format!(
            "key {} is not an `access_key:secret_key` pair, as JWT auth needs",
            key.fingerprint()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::kling::PROVIDER as KLING;
    use crate::keys::{KeyLease, KeyPool};
    use crate::spec::*;

    #[test]
    fn a_fixed_scheme_header_is_built_once_per_key_and_kept_per_scheme() {
        let key = ApiKey::new("sk-cache-test-0001");
        let (name, value) = header(AuthScheme::Bearer, &key, 0).unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert_eq!(value, "Bearer sk-cache-test-0001");
        assert!(value.is_sensitive());
        assert!(key.header().get().is_some(), "cached on the key");
        // A clone shares the cache; another scheme is built for itself, not served the cached one.
        let clone = key.clone();
        assert_eq!(header(AuthScheme::Bearer, &clone, 0).unwrap().1, value);
        let (name, value) = header(
            AuthScheme::Header {
                header: "xi-api-key",
            },
            &clone,
            0,
        )
        .unwrap();
        assert_eq!(name.as_str(), "xi-api-key");
        assert_eq!(value, "sk-cache-test-0001");
        assert_eq!(
            header(AuthScheme::FalKey, &clone, 0).unwrap().1,
            "Key sk-cache-test-0001"
        );
    }

    fn token(lease: &KeyLease, now: u64) -> String {
        let (name, value) = header(KLING.auth, lease, now).unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert!(value.is_sensitive());
        value
            .to_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_owned()
    }

    #[test]
    fn jwt_is_cached_per_key_until_five_minutes_before_expiry() {
        let pool = KeyPool::from_keys(&KLING, ["ak-1:sk-1", "ak-2:sk-2"]).unwrap();
        let first = pool.select().unwrap();
        let second = pool.select().unwrap();
        let t0 = 1_700_000_000;
        let a = token(&first, t0);
        assert_eq!(a, kling_jwt("ak-1", "sk-1", t0, 1800), "signed at t0");
        assert_eq!(token(&first, t0 + 1), a, "reused");
        assert_eq!(token(&first, t0 + 1499), a, "reused until exp - 300 s");
        let b = token(&second, t0 + 1);
        assert_ne!(a, b, "one token per key");
        assert_eq!(b, kling_jwt("ak-2", "sk-2", t0 + 1, 1800));

        let refreshed = token(&first, t0 + 1500);
        assert_ne!(refreshed, a, "re-signed 5 minutes before expiry");
        assert_eq!(refreshed, kling_jwt("ak-1", "sk-1", t0 + 1500, 1800));
        assert_eq!(token(&first, t0 + 1600), refreshed);

        let back = token(&first, t0 + 100);
        assert_ne!(back, refreshed, "clock went back before issue: re-signed");
        assert_eq!(back, kling_jwt("ak-1", "sk-1", t0 + 100, 1800));
    }

    #[test]
    fn static_schemes_put_the_key_where_the_spec_says() {
        for (auth, name, value) in [
            (AuthScheme::Bearer, "authorization", "Bearer secret-value"),
            (AuthScheme::FalKey, "authorization", "Key secret-value"),
            (
                AuthScheme::Header {
                    header: "xi-api-key",
                },
                "xi-api-key",
                "secret-value",
            ),
        ] {
            let spec: &'static ProviderSpec = Box::leak(Box::new(ProviderSpec { auth, ..KLING }));
            let pool = KeyPool::from_keys(spec, ["secret-value"]).unwrap();
            let (n, v) = header(auth, &pool.select().unwrap(), 0).unwrap();
            assert_eq!((n.as_str(), v.to_str().unwrap()), (name, value));
            assert!(v.is_sensitive());
            assert!(!format!("{v:?}").contains("secret-value"));
        }
    }

    #[test]
    fn keys_unfit_for_their_scheme_are_found_before_any_call() {
        for (auth, key, unfit) in [
            (AuthScheme::Bearer, "bad\u{7f}key-material", true),
            (AuthScheme::Bearer, "bad\nkey-material", true),
            (AuthScheme::FalKey, "id:bad\rsecret", true),
            (
                AuthScheme::Header {
                    header: "xi-api-key",
                },
                "ok-key-material",
                false,
            ),
            (
                AuthScheme::KlingJwt { ttl_secs: 1800 },
                "no-separator-here",
                true,
            ),
            (
                AuthScheme::KlingJwt { ttl_secs: 1800 },
                "access:secret",
                false,
            ),
        ] {
            let reason = unusable(auth, &ApiKey::new(key));
            assert_eq!(reason.is_some(), unfit, "{auth:?} {key:?}: {reason:?}");
            assert!(!reason.unwrap_or_default().contains("material"));
        }
    }
}

/// Kling JWT signing against an independent vector.
#[cfg(test)]
mod jwt_cases;
