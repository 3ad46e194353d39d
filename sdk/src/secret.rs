//! The secret material of one key: [`ApiKey`], its [`fingerprint`], the token derived from it,
//! and redaction of all of them from provider text.
//!
//! Invariant: the secret of an [`ApiKey`] never leaves this crate except inside a request
//! header. Logs, errors, metrics and `Debug` output name a key by its [`fingerprint`].

use std::fmt;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use sha2::{Digest, Sha256};

/// A short, stable, non-reversible name for a key: `k_` followed by the first 8 hex digits of
/// the key's SHA-256. Safe to log; works for keys of any length, including empty ones.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(10);
    out.push_str("k_");
    for byte in &digest[..4] {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// An API key. Its `Debug` output is its fingerprint; there is no `Display`.
#[derive(Clone)]
pub struct ApiKey {
    secret: Box<str>,
    fingerprint: String,
    /// Auth material derived from the key (a signed JWT), cached by `auth`.
    token: Arc<ArcSwapOption<CachedToken>>,
    /// The request header presenting the key under a fixed scheme, built once by `auth`.
    header: Arc<OnceLock<CachedHeader>>,
}

impl ApiKey {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        let secret: String = secret.into();
        let fingerprint = fingerprint(&secret);
        Self {
            secret: secret.into_boxed_str(),
            fingerprint,
            token: Arc::default(),
            header: Arc::default(),
        }
    }

    /// The key's fingerprint (see [`fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The secret, for building a request header. Crate-private by design.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// The `(access, secret)` halves of an `access:secret` pair, both trimmed and non-empty.
    pub(crate) fn pair(&self) -> Option<(&str, &str)> {
        let (access, secret) = self.secret.split_once(':')?;
        let (access, secret) = (access.trim(), secret.trim());
        (!access.is_empty() && !secret.is_empty()).then_some((access, secret))
    }

    /// The cell holding the header built from this key under a fixed scheme, shared by its
    /// clones.
    pub(crate) fn header(&self) -> &OnceLock<CachedHeader> {
        &self.header
    }

    /// The cell holding the token signed from this key (Kling's JWT), shared by its clones.
    pub(crate) fn token(&self) -> &ArcSwapOption<CachedToken> {
        &self.token
    }

    /// Replaces every occurrence of this key (and of each half of a pair), of the token signed
    /// from it and of that token's signature in `text` by the fingerprint, and every JWT-shaped
    /// token by `[redacted token]` (see [`redact_tokens`]). Fragments shorter than 6 characters
    /// are left alone: they are not real keys and replacing them would mangle ordinary words.
    pub(crate) fn redact(&self, text: &str) -> String {
        let token = self.token.load();
        let mut fragments: Vec<&str> = Vec::with_capacity(5);
        if let Some(token) = token.as_ref() {
            let value = token.value();
            fragments.push(value);
            fragments.push(value.rsplit('.').next().unwrap_or_default());
        }
        let mut out = text.to_owned();
        fragments.push(self.secret());
        if let Some((access, secret)) = self.pair() {
            fragments.push(access);
            fragments.push(secret);
        }
        for fragment in fragments {
            if fragment.len() >= 6 && out.contains(fragment) {
                out = out.replace(fragment, &self.fingerprint);
            }
        }
        redact_tokens(&out)
    }
}

/// Replaces every JWT-shaped token in `text` by `[redacted token]`: `eyJ` (the base64url of
/// `{"`) followed by at least 13 more base64url characters or dots, whether or not the token is
/// whole (a message cut short may end inside one). A provider that echoes the bearer token it
/// was sent must not get it, or the access key inside its claims, into a log line or an error.
pub fn redact_tokens(text: &str) -> String {
    fn token_char(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
    }
    if !text.contains("eyJ") {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("eyJ") {
        let start = search + found;
        let mut end = start;
        while end < bytes.len() && token_char(bytes[end]) {
            end += 1;
        }
        if end - start >= 16 {
            out.push_str(&text[copied..start]);
            out.push_str("[redacted token]");
            copied = end;
        }
        search = end.max(start + 3);
    }
    out.push_str(&text[copied..]);
    out
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiKey").field(&self.fingerprint).finish()
    }
}

/// A request header presenting a key, cached on the key with the scheme it was built for (see
/// `auth`). The value is marked sensitive, so its `Debug` shows no key.
pub(crate) struct CachedHeader {
    pub(crate) scheme: crate::spec::AuthScheme,
    pub(crate) name: http::HeaderName,
    pub(crate) value: http::HeaderValue,
}

/// A signed token cached on a key (see `auth`).
pub(crate) struct CachedToken {
    pub(crate) value: String,
    pub(crate) issued_unix: u64,
    pub(crate) refresh_unix: u64,
}

impl CachedToken {
    /// The signed token.
    pub(crate) fn value(&self) -> &str {
        &self.value
    }
}
