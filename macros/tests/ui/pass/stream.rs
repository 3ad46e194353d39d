use media_sdk::spec::{AudioEvents, ResponseSpec, StreamSpec};
use media_sdk::{Endpoint, Validate};
use serde::{Deserialize, Serialize};

// `stream` alone: the endpoint's own path, the default limits.
#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(
    provider = "p",
    id = "speech",
    health_id = "p-speech",
    method = "POST",
    path = "/v1/speech",
    response = "audio",
    content_type = "audio/mpeg",
    stream,
)]
pub struct Speech {
    pub text: String,
}
impl Validate for Speech {}

// Every stream key, split over two attributes.
#[derive(Serialize, Deserialize, Endpoint)]
#[endpoint(provider = "p", id = "tts", health_id = "p-tts", method = "POST")]
#[endpoint(
    path = "/v1/tts/{voice_id}",
    response = "audio",
    stream(
        path = "/v1/tts/{voice_id}/stream",
        idle_timeout_ms = 2500,
        max_bytes = 1048576,
        events(type_field = "type", delta = "audio.delta", audio_field = "audio", done = "audio.done"),
    ),
)]
pub struct Tts {
    #[endpoint(path)]
    #[serde(skip_serializing)]
    pub voice_id: String,
    pub text: String,
}
impl Validate for Tts {}

fn main() {
    assert_eq!(
        Speech::SPEC.response,
        ResponseSpec::Audio {
            content_type: "audio/mpeg",
            stream: Some(StreamSpec {
                path: None,
                idle_timeout_ms: 10_000,
                max_bytes: 512 << 20,
                events: None,
            }),
        }
    );
    assert_eq!(
        Tts::SPEC.response,
        ResponseSpec::Audio {
            content_type: "application/octet-stream",
            stream: Some(StreamSpec {
                path: Some("/v1/tts/{voice_id}/stream"),
                idle_timeout_ms: 2500,
                max_bytes: 1 << 20,
                events: Some(AudioEvents {
                    type_field: "type",
                    delta: "audio.delta",
                    audio_field: "audio",
                    done: "audio.done",
                }),
            }),
        }
    );
    let _: Option<media_sdk::Audio> = None::<<Tts as Endpoint>::Output>;
}
