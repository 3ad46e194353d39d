//! Where a pool's keys are read from: a [`KeyLoader`] (environment variables, an AWS Secrets
//! Manager secret, or one of the embedder's), and the parsing of what it holds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::spec::KeySource;

use super::{keys_from_lookup, parse_key_list};

/// A boxed future returned by [`KeyLoader::load`].
pub type LoadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<String>, KeySourceError>> + Send + 'a>>;

/// Reads a provider's current keys. The `Sdk` calls it at start-up, on every reload interval
/// and on [`Sdk::reload_keys`](crate::Sdk::reload_keys); the pool then keeps the state of the
/// keys that did not change.
pub trait KeyLoader: Send + Sync + fmt::Debug {
    /// Where the keys come from, for logs and errors (e.g. `secret media-sdk/prod/openai`);
    /// never a key.
    fn describe(&self) -> String;

    /// The keys, in order (duplicates and empty entries may be left in: the pool drops them).
    fn load(&self) -> LoadFuture<'_>;
}

/// Why a key source could not be read. Never holds a key or the secret's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The source names something that does not exist (a deleted secret).
    #[error("{source_name} does not exist")]
    Missing {
        /// The source (see [`KeyLoader::describe`]).
        source_name: String,
    },
    /// The source holds something that is not a key list.
    #[error("{source_name} is malformed: {reason}")]
    Malformed {
        /// The source.
        source_name: String,
        /// What is wrong (a shape, a position; never the content).
        reason: String,
    },
    /// The source holds no usable key.
    #[error("{source_name} holds no usable key")]
    Empty {
        /// The source.
        source_name: String,
    },
    /// The source could not be reached or refused access.
    #[error("cannot read {source_name}: {message}")]
    Unreachable {
        /// The source.
        source_name: String,
        /// The service's error.
        message: String,
    },
    /// The source is misconfigured (a missing stage variable, a missing feature).
    #[error("key source configuration: {0}")]
    Config(String),
}

/// Keys from the provider's environment variables (see [`crate::keys`]): the default source.
#[derive(Debug, Clone, Copy)]
pub struct EnvLoader {
    source: KeySource,
}

impl EnvLoader {
    /// The loader of `source`'s variables.
    pub fn new(source: KeySource) -> Self {
        Self { source }
    }
}

impl KeyLoader for EnvLoader {
    fn describe(&self) -> String {
        match self.source.legacy_env {
            Some(legacy) => format!("environment variables {} / {legacy}", self.source.env),
            None => format!("environment variable {}", self.source.env),
        }
    }

    fn load(&self) -> LoadFuture<'_> {
        let keys = keys_from_lookup(&self.source, |name| std::env::var(name).ok());
        Box::pin(async move { Ok(keys) })
    }
}

/// Most bytes of a secret that are parsed (Secrets Manager's own limit is 64 KiB).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The keys in a secret's string: with `field`, the JSON object's field (a comma-separated
/// string or an array of strings); without, the whole string, comma-separated.
pub fn keys_from_secret(
    source_name: &str,
    secret: &str,
    field: Option<&str>,
) -> Result<Vec<String>, KeySourceError> {
    let malformed = |reason: String| KeySourceError::Malformed {
        source_name: source_name.to_owned(),
        reason,
    };
    if secret.len() > MAX_SECRET_BYTES {
        return Err(malformed(format!(
            "{} bytes, more than the {MAX_SECRET_BYTES} read",
            secret.len()
        )));
    }
    let keys = match field {
        None => parse_key_list(secret),
        Some(field) => {
            // serde_json's syntax errors name a line and column, never the content.
            let value: serde_json::Value = serde_json::from_str(secret)
                .map_err(|e| malformed(format!("not a JSON object ({e})")))?;
            let object = value
                .as_object()
                .ok_or_else(|| malformed(format!("a JSON {}, not an object", kind(&value))))?;
            match object.get(field) {
                None => return Err(malformed(format!("no field `{field}`"))),
                Some(serde_json::Value::String(list)) => parse_key_list(list),
                Some(serde_json::Value::Array(items)) => {
                    let mut list = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let key = item.as_str().ok_or_else(|| {
                            malformed(format!(
                                "field `{field}` item {i} is a JSON {}, not a string",
                                kind(item)
                            ))
                        })?;
                        list.push(key);
                    }
                    parse_key_list(&list.join(","))
                }
                Some(other) => {
                    return Err(malformed(format!(
                        "field `{field}` is a JSON {}; expected a string or an array of strings",
                        kind(other)
                    )));
                }
            }
        }
    };
    if keys.is_empty() {
        return Err(KeySourceError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    Ok(keys)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_layouts_and_their_errors() {
        let ok = |secret: &str, field| keys_from_secret("s", secret, field).unwrap();
        assert_eq!(ok(" a, b ,a,", None), ["a", "b"]);
        assert_eq!(ok(r#"{"api_keys":"a,b"}"#, Some("api_keys")), ["a", "b"]);
        assert_eq!(
            ok(r#"{"api_keys":["a","b,c"]}"#, Some("api_keys")),
            ["a", "b", "c"]
        );
        assert_eq!(ok(r#"{"k":"ak:sk"}"#, Some("k")), ["ak:sk"]);
        let err = |secret: &str, field| keys_from_secret("s", secret, field).unwrap_err();
        for (secret, field, message) in [
            (
                "sk-secret-value",
                Some("k"),
                "s is malformed: not a JSON object",
            ),
            (
                r#"["sk-secret-value"]"#,
                Some("k"),
                "a JSON array, not an object",
            ),
            (r#"{"other":"sk-secret-value"}"#, Some("k"), "no field `k`"),
            (r#"{"k":7}"#, Some("k"), "field `k` is a JSON number"),
            (
                r#"{"k":["sk-secret-value",1]}"#,
                Some("k"),
                "item 1 is a JSON number",
            ),
        ] {
            let text = err(secret, field).to_string();
            assert!(text.contains(message), "{secret}: {text}");
            assert!(!text.contains("sk-secret"), "the content leaked: {text}");
        }
        assert_eq!(
            err(" , ", None),
            KeySourceError::Empty {
                source_name: "s".into()
            }
        );
        assert!(matches!(
            err(r#"{"k":""}"#, Some("k")),
            KeySourceError::Empty { .. }
        ));
    }
}
