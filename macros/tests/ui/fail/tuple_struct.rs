use media_sdk::Endpoint;
use serde::Serialize;

#[derive(Serialize, Endpoint)]
#[endpoint(provider = "p", id = "t", health_id = "p-t", method = "GET", path = "/t", response = "audio")]
struct Request(String);

fn main() {}
