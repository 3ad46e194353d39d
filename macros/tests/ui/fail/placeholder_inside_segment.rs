use media_sdk::Endpoint;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "p",
    id = "doc",
    health_id = "p-doc",
    method = "GET",
    path = "/v1/docs/{doc_id}.json",
    response = "json",
    output = Document,
)]
struct Request {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    doc_id: String,
}

#[derive(Deserialize)]
struct Document {}

fn main() {}
