use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Doc {}

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "openai",
    id = "images",
    health_id = "openai-image",
    method = "POST",
    path = "/v1/images",
    response = "json",
    output = Doc,
    stream,
)]
struct Request {
    prompt: String,
}

fn main() {}
