//! Small things a new user reaches for in the first hour: saving audio, and the generated ids
//! as constants instead of strings typed by hand.

use media_sdk::Audio;
use media_sdk::Sdk;
use media_sdk::health::MemoryStore;
use media_sdk::{PROVIDERS, health_ids, provider_ids};

#[tokio::test]
async fn audio_saves_to_a_file_with_its_usual_extension() {
    let audio = Audio {
        bytes: bytes::Bytes::from_static(b"ID3\x04fake-mp3"),
        content_type: "audio/mpeg".into(),
    };
    assert_eq!(audio.extension(), Some("mp3"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(format!("hello.{}", audio.extension().unwrap()));
    audio.save(&path).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"ID3\x04fake-mp3");

    for (content_type, extension) in [
        ("audio/wav", Some("wav")),
        ("audio/ogg; codecs=opus", Some("ogg")),
        ("Audio/FLAC", Some("flac")),
        ("application/octet-stream", None),
    ] {
        let audio = Audio {
            bytes: bytes::Bytes::new(),
            content_type: content_type.into(),
        };
        assert_eq!(audio.extension(), extension, "{content_type}");
    }
}

#[test]
fn ids_are_exported_as_constants_matching_the_spec() {
    let health: Vec<&str> = PROVIDERS
        .iter()
        .flat_map(|p| p.endpoints.iter().map(|e| e.health_id))
        .collect();
    for id in [
        health_ids::OPENAI_TTS,
        health_ids::OPENAI_IMAGE,
        health_ids::FAL_FLUX,
        health_ids::KLING_VIDEO,
        health_ids::ELEVENLABS_TTS,
    ] {
        assert!(health.contains(&id), "{id} is a health id of the spec");
    }
    let ids: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        [
            provider_ids::OPENAI,
            provider_ids::FAL,
            provider_ids::KLING,
            provider_ids::ELEVENLABS
        ]
    );
    let sdk = Sdk::builder()
        .health_store(std::sync::Arc::new(MemoryStore::new()))
        .build()
        .unwrap();
    assert!(sdk.provider(provider_ids::KLING).is_some());
}
