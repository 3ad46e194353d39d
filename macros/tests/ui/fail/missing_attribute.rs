use media_sdk::Endpoint;
use serde::Serialize;

#[derive(Serialize, Endpoint)]
struct Request {
    text: String,
}

fn main() {}
