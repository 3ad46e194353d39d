//! One provider's broken configuration fails that provider's calls only, with an error that
//! names the variable and the expected format; `strict` refuses to start instead. And no public
//! accessor panics: a provider the `Sdk` was built without is an error, not a panic.

use crate::integ;

use media_sdk::Error;
use media_sdk::Sdk;
use media_sdk::fal::{self, FluxProRequest};
use media_sdk::keys::fingerprint;
use media_sdk::kling::TextToVideoRequest;
use media_sdk::openai::SpeechRequest;

#[tokio::test]
async fn a_broken_provider_fails_only_its_own_calls() {
    let sim = integ::sim_builder().start().await.expect("simulator");
    // The seed's own example of a Kling key (no `access:secret` separator), and a fal base URL
    // that is not HTTP.
    let sdk = integ::sdk_builder(&sim)
        .keys("kling", ["kling-api-key-123"])
        .base_url("fal", "ftp://user:hunter2@fal.example/queue")
        .build()
        .expect("a broken provider does not stop the others");

    sdk.openai()
        .unwrap()
        .speech(SpeechRequest::new("still works"))
        .await
        .expect("OpenAI is unaffected");

    let kling = sdk
        .kling()
        .unwrap()
        .text_to_video(TextToVideoRequest::new("a cat"))
        .await
        .unwrap_err();
    let text = kling.to_string();
    assert!(
        matches!(
            kling,
            Error::NoKeys {
                provider: "kling",
                ..
            }
        ),
        "{text}"
    );
    for needed in [
        "KLING_API_KEYS",
        "access_key:secret_key",
        &fingerprint("kling-api-key-123"),
    ] {
        assert!(text.contains(needed), "{text} should name {needed}");
    }
    assert!(!text.contains("kling-api-key-123"), "{text}");

    let fal = sdk
        .fal()
        .unwrap()
        .flux_pro(FluxProRequest::new("a lighthouse"))
        .await
        .unwrap_err();
    let text = fal.to_string();
    assert!(matches!(fal, Error::Config(_)), "{text}");
    assert!(
        text.contains("SdkBuilder::base_url") && text.contains("http(s)://host"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(
        sdk.provider("fal").unwrap().unusable_reason(),
        Some(&*text.replace("configuration: ", ""))
    );

    assert!(sim.requests_for("kling").is_empty());
    assert!(sim.requests_for("fal").is_empty());
}

#[tokio::test]
async fn strict_refuses_to_start_with_a_broken_provider() {
    let sim = integ::sim_builder().start().await.expect("simulator");
    let error = integ::sdk_builder(&sim)
        .keys("kling", ["kling-api-key-123"])
        .strict(true)
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("access_key:secret_key"),
        "{error}"
    );

    let error = integ::sdk_builder(&sim)
        .base_url("fal", "not a url")
        .strict(true)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("fal: base URL"), "{error}");
}

#[test]
fn a_provider_left_out_is_an_error_not_a_panic() {
    let sdk = Sdk::builder()
        .providers(&[&fal::PROVIDER])
        .keys("fal", ["id:secret"])
        .build()
        .unwrap();
    assert!(sdk.fal().is_ok());
    for result in [
        sdk.openai().map(drop),
        sdk.kling().map(drop),
        sdk.elevenlabs().map(drop),
    ] {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::NotConfigured { .. }), "{error:?}");
        assert!(error.to_string().contains("not configured"), "{error}");
    }
}
