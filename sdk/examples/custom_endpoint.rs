//! Binding an endpoint that `providers.yaml` does not describe yet, with `#[derive(Endpoint)]`.
//!
//! The two request types below target OpenAI's moderation and model-lookup APIs. Once bound,
//! they go through the same runtime as generated endpoints (key pool, 429 rotation, retries,
//! health metrics):
//!
//! ```ignore
//! let result = sdk.provider("openai").unwrap().call(request).await?;
//! ```
//!
//! This example makes no network call: it prints what the derive produced and validates a
//! request. Run it with `cargo run -p media-sdk --example custom_endpoint`.

use media_sdk::{Endpoint, Validate, ValidationError};
use serde::{Deserialize, Serialize};

/// `POST /v1/moderations`: classifies text against OpenAI's usage policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Endpoint)]
#[serde(deny_unknown_fields)]
#[endpoint(
    provider = "openai",
    id = "moderations",
    health_id = "openai-moderations",
    method = "POST",
    path = "/v1/moderations",
    response = "json",
    output = ModerationResponse
)]
pub struct ModerationRequest {
    /// The text to classify.
    pub input: String,
    /// The moderation model, e.g. `omni-moderation-latest`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<String>,
}

impl Validate for ModerationRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.input.trim().is_empty() {
            return Err(ValidationError::new("input", "must not be empty"));
        }
        Ok(())
    }
}

/// The moderation verdicts, one per input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModerationResponse {
    /// Request id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// One result per input.
    pub results: Vec<ModerationResult>,
}

/// One verdict.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModerationResult {
    /// Whether any category was flagged.
    pub flagged: bool,
}

/// `GET /v1/models/{model}`: one model's metadata. The model id travels in the path, so it is
/// left out of the (empty) body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "openai",
    id = "model",
    health_id = "openai-models",
    method = "GET",
    path = "/v1/models/{model}",
    response = "json",
    output = Model
)]
pub struct ModelRequest {
    /// The model id, e.g. `gpt-4o-mini-tts`.
    #[endpoint(path)]
    #[serde(skip_serializing)]
    pub model: String,
}

impl Validate for ModelRequest {}

/// A model's metadata.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Model {
    /// Model id.
    pub id: String,
    /// Owning organisation.
    pub owned_by: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for spec in [ModerationRequest::SPEC, ModelRequest::SPEC] {
        println!(
            "{}/{}: {:?} {} -> {:?} (health id {})",
            spec.provider, spec.id, spec.method, spec.path, spec.response, spec.health_id
        );
    }

    let lookup = ModelRequest {
        model: "gpt-4o-mini-tts".into(),
    };
    println!(
        "model lookup: path params {:?}, body {}",
        lookup.path_params(),
        serde_json::to_string(&lookup)?
    );

    let request = ModerationRequest {
        input: "A calm voice reading a bedtime story.".into(),
        model: Some("omni-moderation-latest".into()),
    };
    Validate::validate(&request)?;
    println!("moderation body: {}", serde_json::to_string(&request)?);

    let empty = ModerationRequest {
        input: "  ".into(),
        model: None,
    };
    match Validate::validate(&empty) {
        Err(error) => println!("rejected before any network call: {error}"),
        Ok(()) => return Err("an empty input must not validate".into()),
    }
    Ok(())
}
