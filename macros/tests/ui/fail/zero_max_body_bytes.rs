use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "openai",
    id = "speech",
    health_id = "openai-tts",
    method = "POST",
    path = "/v1/audio/speech",
    response = "audio",
    max_body_bytes = 0,
)]
struct Request {
    text: String,
}

fn main() {}
