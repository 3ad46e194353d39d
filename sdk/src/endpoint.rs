//! The contract between a request type and the runtime.
//!
//! Request types implement [`Endpoint`] through `#[derive(Endpoint)]` (re-exported from
//! `media-sdk-macros`), and [`Validate`] by hand or from generated code. The runtime takes any
//! `Endpoint` and handles keys, auth, retries, jobs and health.

use bytes::Bytes;
use serde::Serialize;

use crate::spec::EndpointSpec;

/// A request that can be sent to a provider endpoint.
///
/// Implemented by `#[derive(Endpoint)]`; see [`macro@crate::Endpoint`] for the attributes. The serialized
/// form of the value (with path and query fields skipped) is the JSON body. Its limits are
/// checked through its [`Validate`] impl before any network call.
pub trait Endpoint: Validate + Serialize + Send + Sync {
    /// What a successful call returns: [`Audio`], a JSON document type, or [`Job<T>`].
    type Output: Send + 'static;

    /// The endpoint's static description.
    const SPEC: EndpointSpec;

    /// Values of the path parameters, by name (unencoded).
    fn path_params(&self) -> Vec<(&'static str, String)>;

    /// Query parameters, by name; absent optional values are left out.
    fn query_params(&self) -> Vec<(&'static str, String)>;

    /// Turns the final response body into the output.
    fn decode(body: ResponseBody) -> Result<Self::Output, DecodeError>;
}

/// Checks a request against its limits before it is sent.
pub trait Validate {
    /// `Ok(())` when the request is within every limit of its endpoint.
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// A request field outside its limits, found before any network call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {message}")]
pub struct ValidationError {
    /// The offending field (wire name), e.g. `"speed"`.
    pub field: &'static str,
    /// What is wrong, e.g. `"must be between 0.25 and 4, got 9"`.
    pub message: String,
}

impl ValidationError {
    /// A new error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A response body that could not be turned into the endpoint's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode response: {0}")]
pub struct DecodeError(pub String);

/// The final body of a successful exchange, handed to [`Endpoint::decode`].
#[derive(Debug, Clone)]
pub struct ResponseBody {
    /// Raw bytes (for JSON endpoints, the payload after any envelope was removed).
    pub bytes: Bytes,
    /// The response's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// For jobs, the provider's job id.
    pub job_id: Option<String>,
}

impl ResponseBody {
    /// Decodes the body as JSON into `T` (what [`Endpoint::decode`] of a JSON endpoint does).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, DecodeError> {
        decode_json(self)
    }
}

/// Binary audio returned by a text-to-speech endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Audio {
    /// The encoded audio.
    pub bytes: Bytes,
    /// Its content type, e.g. `audio/mpeg`.
    pub content_type: String,
}

impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audio")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Audio {
    /// Writes the audio to `path` (created, or truncated if it exists).
    pub async fn save(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        tokio::fs::write(path, &self.bytes).await
    }

    /// The usual file extension of the audio's content type (`mp3` for `audio/mpeg`, `wav`,
    /// `ogg`, ...), without the dot; `None` for a type it does not know.
    pub fn extension(&self) -> Option<&'static str> {
        let essence = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Some(match essence.as_str() {
            "audio/mpeg" | "audio/mp3" => "mp3",
            "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
            "audio/ogg" | "audio/opus" => "ogg",
            "audio/aac" => "aac",
            "audio/flac" | "audio/x-flac" => "flac",
            "audio/pcm" | "audio/l16" => "pcm",
            "audio/basic" | "audio/mulaw" | "audio/x-mulaw" => "ulaw",
            "audio/webm" => "webm",
            _ => return None,
        })
    }

    /// Builds the output of an audio endpoint; `default_content_type` is used when the response
    /// carries none.
    pub fn from_body(body: ResponseBody, default_content_type: &str) -> Result<Self, DecodeError> {
        if body.bytes.is_empty() {
            return Err(DecodeError("empty audio body".into()));
        }
        let content_type = body
            .content_type
            .unwrap_or_else(|| default_content_type.to_owned());
        if content_type.starts_with("application/json") {
            return Err(DecodeError(format!("expected audio, got {content_type}")));
        }
        Ok(Self {
            bytes: body.bytes,
            content_type,
        })
    }
}

/// A finished asynchronous job (fal queue request, Kling task).
#[derive(Debug, Clone, PartialEq)]
pub struct Job<T> {
    /// The provider's id for the job (fal `request_id`, Kling `task_id`).
    pub id: String,
    /// The job's result.
    pub output: T,
}

impl<T: serde::de::DeserializeOwned> Job<T> {
    /// Decodes a finished job's result document.
    pub fn from_body(body: ResponseBody) -> Result<Self, DecodeError> {
        let output = decode_json(&body)?;
        Ok(Self {
            id: body.job_id.unwrap_or_default(),
            output,
        })
    }
}

/// Decodes a JSON body, with the serde path of the failure in the message.
pub fn decode_json<T: serde::de::DeserializeOwned>(body: &ResponseBody) -> Result<T, DecodeError> {
    serde_json::from_slice(&body.bytes).map_err(|e| DecodeError(e.to_string()))
}

/// Renders a path or query value from its serde form: strings as-is, numbers and booleans in
/// their JSON spelling; `None` (null) gives `None`. Used by `#[derive(Endpoint)]`.
#[doc(hidden)]
pub fn param_value<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}
