use media_sdk::{Endpoint, Validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct Document {
    pub id: String,
}

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "p",
    id = "speech",
    health_id = "p-speech",
    method = "PUT",
    path = "/v1/{voice}/speech",
    response = "audio"
)]
pub struct Speech {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    pub voice: String,
    #[endpoint(query)]
    #[serde(skip)]
    pub format: Option<String>,
    pub text: String,
}
impl Validate for Speech {}

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(provider = "p", id = "doc", health_id = "p-doc", method = "delete")]
#[endpoint(path = "/v1/docs/{doc_id}", response = "json", output = Document)]
pub struct DeleteDoc {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    #[serde(rename = "doc_id")]
    pub id: u64,
}
impl Validate for DeleteDoc {}

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "p",
    id = "job",
    health_id = "p-job",
    method = "PATCH",
    path = "/v1/jobs",
    response = "job",
    output = Vec<Document>,
    flow = "kling_task",
    poll_path = "/v1/jobs/{task_id}",
    poll_interval_ms = 250,
)]
pub struct StartJob {}
impl Validate for StartJob {}

#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(provider = "p", id = "q", health_id = "p-q", method = "GET", path = "/q")]
#[endpoint(response = "job", output = Document, flow = "fal_queue", timeout_ms = 5)]
pub struct Queue {
    #[endpoint(query)]
    #[serde(skip_serializing)]
    pub limit: u32,
}
impl Validate for Queue {}

fn main() {
    let _: Option<media_sdk::Audio> = None::<<Speech as Endpoint>::Output>;
    let _: Option<Document> = None::<<DeleteDoc as Endpoint>::Output>;
    let _: Option<media_sdk::Job<Vec<Document>>> = None::<<StartJob as Endpoint>::Output>;
    let _: Option<media_sdk::Job<Document>> = None::<<Queue as Endpoint>::Output>;
    assert_eq!(DeleteDoc { id: 7 }.path_params(), [("doc_id", "7".to_owned())]);
    assert_eq!(Queue { limit: 2 }.query_params(), [("limit", "2".to_owned())]);
}
