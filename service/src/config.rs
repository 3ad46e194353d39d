//! The service's configuration: user tokens, the job-id secret, the body limit and the
//! per-request deadline, from the environment or built in code.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MEDIA_API_TOKENS` | comma-separated bearer tokens clients send | none: the service refuses to start |
//! | `MEDIA_API_JOB_SECRET` | key signing video job ids (at least 32 bytes) | derived from the tokens |
//! | `MEDIA_API_BODY_LIMIT` | largest request body, in bytes | 65536 (64 KiB) |
//! | `MEDIA_API_DEADLINE_MS` | deadline of one request, provider calls included | 25000 |

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use media_sdk::keys::fingerprint;

/// The variable holding the user tokens.
pub const TOKENS_ENV: &str = "MEDIA_API_TOKENS";
/// The variable holding the job-id secret.
pub const JOB_SECRET_ENV: &str = "MEDIA_API_JOB_SECRET";
/// The variable holding the body limit in bytes.
pub const BODY_LIMIT_ENV: &str = "MEDIA_API_BODY_LIMIT";
/// The variable holding the per-request deadline in milliseconds.
pub const DEADLINE_ENV: &str = "MEDIA_API_DEADLINE_MS";

/// Largest request body when none is configured: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Deadline of one request when none is configured: 25 s, below API Gateway's 29 s
/// integration timeout, so a buffered route answers with the service's own JSON error first.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(25);
/// Shortest accepted `MEDIA_API_JOB_SECRET`, in bytes.
pub const MIN_JOB_SECRET_LEN: usize = 32;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No user token is configured.
    #[error(
        "no user tokens configured: set {TOKENS_ENV}=token1,token2 (the bearer tokens clients \
         send); the media API does not start without them"
    )]
    NoTokens,
    /// The job-id secret is too short.
    #[error("{JOB_SECRET_ENV} must be at least {MIN_JOB_SECRET_LEN} bytes (it has {len})")]
    WeakJobSecret {
        /// Its length in bytes.
        len: usize,
    },
    /// A numeric setting is not a positive whole number.
    #[error("{var} must be a positive whole number, got `{value}`")]
    NotANumber {
        /// The variable.
        var: &'static str,
        /// The value found.
        value: String,
    },
}

/// One configured user token: kept as its SHA-256 digest (for a constant-time comparison of
/// equal-length values) and its fingerprint (for logs). The token itself is not kept.
#[derive(Clone)]
pub(crate) struct UserToken {
    digest: [u8; 32],
    fingerprint: String,
}

impl UserToken {
    fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
            fingerprint: fingerprint(token),
        }
    }
}

/// Where the job-id secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSecretOrigin {
    /// Set explicitly ([`JOB_SECRET_ENV`] or [`ServiceConfig::job_secret`]).
    Configured,
    /// Derived from the user tokens: every instance with the same tokens derives the same
    /// secret, and changing the tokens invalidates the job ids handed out before.
    DerivedFromTokens,
}

/// The service's configuration. Its `Debug` output shows token fingerprints, never tokens
/// or the job secret.
#[derive(Clone)]
pub struct ServiceConfig {
    tokens: Vec<UserToken>,
    job_secret: [u8; 32],
    job_secret_origin: JobSecretOrigin,
    body_limit: usize,
    deadline: Duration,
}

impl fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("tokens", &self.token_fingerprints())
            .field("job_secret", &self.job_secret_origin)
            .field("body_limit", &self.body_limit)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl ServiceConfig {
    /// A configuration accepting `tokens` (blank entries ignored), with the job secret derived
    /// from them and the default limits.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoTokens`] when no token is left.
    pub fn new<T: AsRef<str>>(tokens: impl IntoIterator<Item = T>) -> Result<Self, ConfigError> {
        let mut raw: Vec<String> = tokens
            .into_iter()
            .map(|t| t.as_ref().trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if raw.is_empty() {
            return Err(ConfigError::NoTokens);
        }
        raw.sort();
        raw.dedup();
        Ok(Self {
            tokens: raw.iter().map(|t| UserToken::new(t)).collect(),
            job_secret: derive_job_secret(&raw),
            job_secret_origin: JobSecretOrigin::DerivedFromTokens,
            body_limit: DEFAULT_BODY_LIMIT,
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// The configuration from the process environment (see the module docs).
    ///
    /// # Errors
    ///
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// The configuration from the variables `lookup` answers (see the module docs).
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoTokens`] without tokens, [`ConfigError::WeakJobSecret`] for a short
    /// secret, [`ConfigError::NotANumber`] for a bad limit or deadline.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let tokens = lookup(TOKENS_ENV).unwrap_or_default();
        let mut config = Self::new(tokens.split(','))?;
        if let Some(secret) = lookup(JOB_SECRET_ENV).filter(|s| !s.trim().is_empty()) {
            config = config.job_secret(secret.trim().as_bytes())?;
        }
        if let Some(limit) = number(&lookup, BODY_LIMIT_ENV)? {
            config = config.body_limit(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        if let Some(ms) = number(&lookup, DEADLINE_ENV)? {
            config = config.deadline(Duration::from_millis(ms));
        }
        Ok(config)
    }

    /// Signs job ids with `secret` instead of the one derived from the tokens.
    ///
    /// # Errors
    ///
    /// [`ConfigError::WeakJobSecret`] when it is shorter than [`MIN_JOB_SECRET_LEN`] bytes.
    pub fn job_secret(mut self, secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_JOB_SECRET_LEN {
            return Err(ConfigError::WeakJobSecret { len: secret.len() });
        }
        self.job_secret = Sha256::digest(secret).into();
        self.job_secret_origin = JobSecretOrigin::Configured;
        Ok(self)
    }

    /// With this largest request body, in bytes.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// With this deadline for one request.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The largest request body, in bytes.
    pub fn max_body(&self) -> usize {
        self.body_limit
    }

    /// The deadline of one request.
    pub fn request_deadline(&self) -> Duration {
        self.deadline
    }

    /// Where the job-id secret came from.
    pub fn job_secret_origin(&self) -> JobSecretOrigin {
        self.job_secret_origin
    }

    /// Fingerprints of the configured tokens, for logs.
    pub fn token_fingerprints(&self) -> Vec<String> {
        self.tokens.iter().map(|t| t.fingerprint.clone()).collect()
    }

    /// The fingerprint of the configured token equal to `presented`, if any. Every configured
    /// token is compared, each in constant time, whatever matches.
    pub(crate) fn authenticate(&self, presented: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for token in &self.tokens {
            if constant_time_eq(&token.digest, &digest) {
                found = Some(token.fingerprint.as_str());
            }
        }
        found
    }

    pub(crate) fn job_key(&self) -> &[u8; 32] {
        &self.job_secret
    }
}

/// Whether `a == b`, looking at every byte whatever differs.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The job secret of a token set: HMAC-SHA256 over the sorted tokens, so every instance
/// configured with the same tokens derives the same key.
fn derive_job_secret(sorted_tokens: &[String]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"media-api job ids v1").expect("any key length");
    for token in sorted_tokens {
        mac.update(token.as_bytes());
        mac.update(b"\n");
    }
    mac.finalize().into_bytes().into()
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = lookup(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ConfigError::NotANumber { var, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |var| vars.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    }

    #[test]
    fn no_tokens_is_refused_with_the_variable_to_set() {
        for vars in [&[][..], &[(TOKENS_ENV, " , ,")][..]] {
            let error = ServiceConfig::from_lookup(lookup(vars)).unwrap_err();
            assert!(matches!(error, ConfigError::NoTokens), "{error}");
            assert!(error.to_string().contains(TOKENS_ENV), "{error}");
        }
    }

    #[test]
    fn tokens_authenticate_to_their_fingerprint_and_nothing_else() {
        let config =
            ServiceConfig::from_lookup(lookup(&[(TOKENS_ENV, "alpha-token, beta-token")])).unwrap();
        assert_eq!(
            config.authenticate("beta-token"),
            Some(fingerprint("beta-token").as_str())
        );
        assert_eq!(config.authenticate("beta-toke"), None);
        assert_eq!(config.authenticate(""), None);
        let debug = format!("{config:?}");
        assert!(!debug.contains("alpha-token") && !debug.contains("beta-token"));
    }

    #[test]
    fn derived_secret_depends_on_the_token_set_not_its_order() {
        let a = ServiceConfig::new(["t1", "t2"]).unwrap();
        let b = ServiceConfig::new(["t2", "t1"]).unwrap();
        let c = ServiceConfig::new(["t1", "t3"]).unwrap();
        assert_eq!(a.job_key(), b.job_key());
        assert_ne!(a.job_key(), c.job_key());
        assert_eq!(a.job_secret_origin(), JobSecretOrigin::DerivedFromTokens);
    }

    #[test]
    fn explicit_secret_limits_and_deadline_are_read() {
        let secret = "s".repeat(MIN_JOB_SECRET_LEN);
        let config = ServiceConfig::from_lookup(lookup(&[
            (TOKENS_ENV, "t1"),
            (JOB_SECRET_ENV, &secret),
            (BODY_LIMIT_ENV, "1024"),
            (DEADLINE_ENV, "1500"),
        ]))
        .unwrap();
        assert_eq!(config.job_secret_origin(), JobSecretOrigin::Configured);
        assert_eq!(config.max_body(), 1024);
        assert_eq!(config.request_deadline(), Duration::from_millis(1500));
        let short =
            ServiceConfig::from_lookup(lookup(&[(TOKENS_ENV, "t1"), (JOB_SECRET_ENV, "x")]));
        assert!(matches!(short, Err(ConfigError::WeakJobSecret { len: 1 })));
        let bad = ServiceConfig::from_lookup(lookup(&[(TOKENS_ENV, "t1"), (DEADLINE_ENV, "soon")]));
        assert!(matches!(bad, Err(ConfigError::NotANumber { .. })));
    }
}
