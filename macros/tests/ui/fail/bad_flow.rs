use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Doc {}

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "openai",
    id = "speech",
    health_id = "openai-tts",
    method = "POST",
    path = "/v1/videos",
    response = "job",
    output = Doc,
    flow = "webhook",
)]
struct Request {
    prompt: String,
}

fn main() {}
