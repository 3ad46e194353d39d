use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "elevenlabs",
    id = "tts",
    health_id = "elevenlabs-tts",
    method = "POST",
    path = "/v1/tts/{voice_id}",
    response = "audio",
    stream(max_bytes = 10, max_bytes = 20),
)]
struct Request {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    voice_id: String,
    text: String,
}

fn main() {}
