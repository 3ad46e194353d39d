use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "openai",
    id = "speech",
    health_id = "openai-tts",
    method = "POST",
    path = "/v1/voices/{voice_id}",
    response = "audio",
)]
struct Request {
    #[endpoint(path, query)]
    #[serde(skip_serializing)]
    voice_id: String,
    text: String,
}

fn main() {}
