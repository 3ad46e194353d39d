use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "elevenlabs",
    id = "speech",
    health_id = "elevenlabs-tts",
    method = "POST",
    path = "/v1/text-to-speech/{voice_id",
    response = "audio",
)]
struct Request {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    voice_id: String,
}

fn main() {}
