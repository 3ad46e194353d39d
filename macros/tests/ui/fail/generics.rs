use media_sdk::Endpoint;
use serde::Serialize;

#[derive(Serialize, Endpoint)]
#[endpoint(provider = "p", id = "g", health_id = "p-g", method = "GET", path = "/g", response = "audio")]
struct Request<T> {
    value: T,
}

fn main() {}
