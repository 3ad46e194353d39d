//! Quickstart: the whole SDK against the in-process simulator, no network or keys needed.
//!
//! Starts the simulator with every generated provider, builds an `Sdk` pointed at it, speaks a
//! sentence (falling back from OpenAI to ElevenLabs when OpenAI is down), draws two images and
//! prints the health table.
//!
//! Run it with `cargo run -p media-sdk --features sim --example quickstart`. Against the real
//! providers the setup is one line: `Sdk::from_env()?` with `OPENAI_API_KEYS` etc. set.

use std::time::Duration;

use media_sdk::Sdk;
use media_sdk::health::render_table;
use media_sdk::media::{ImageInput, TtsInput};
use media_sdk_sim::{JobPace, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1. A local simulator of every provider in providers.yaml.
    let mut sim = Simulator::builder().job_pace("fal", JobPace::immediate());
    for (spec, routes) in media_sdk_sim::providers::all() {
        sim = sim.provider(spec, routes);
    }
    let sim = sim.start().await?;

    // 2. The Sdk, pointed at it (in production: `Sdk::from_env()?`).
    let mut builder = Sdk::builder()
        .keys("openai", ["sk-demo-1", "sk-demo-2"])
        .keys("fal", ["fal-demo:secret"])
        .keys("kling", ["kling-access:kling-secret"])
        .keys("elevenlabs", ["xi-demo"])
        .health_cache_ttl(Duration::ZERO);
    for (provider, url) in sim.base_urls() {
        builder = builder.base_url(provider, url);
    }
    let sdk = builder.build()?;
    let media = sdk.media();

    // 3. Text to speech, in health order with fallback.
    let speech = media
        .tts(&TtsInput::new("Hello from the media SDK", "alloy"))
        .await?;
    let audio = &speech.audio;
    println!(
        "tts by {}: {} bytes of {}",
        speech.provider,
        audio.bytes.len(),
        audio.content_type
    );

    // OpenAI goes down: the same call is served by ElevenLabs.
    sim.revoke_key("openai", "sk-demo-1");
    sim.revoke_key("openai", "sk-demo-2");
    let speech = media.tts(&TtsInput::new("Still talking", "alloy")).await?;
    println!(
        "tts with OpenAI down, by {}: {} bytes",
        speech.provider,
        speech.audio.bytes.len()
    );

    // 4. Images by model name: DALL-E 3 on OpenAI is down now, Flux Pro on fal is not.
    let mut dalle = ImageInput::new("A lighthouse at dawn", "dall-e-3");
    dalle.size = Some("1792x1024".into());
    dalle.quality = Some("hd".into());
    match media.image(&dalle).await {
        Ok(image) => println!("dall-e-3: {}", serde_json::to_string(&image)?),
        Err(error) => println!("dall-e-3 failed: {error}"),
    }
    let mut flux = ImageInput::new("A lighthouse at dawn", "flux-pro");
    flux.size = Some("1792x1024".into());
    let image = media.image(&flux).await?;
    println!("flux-pro: {}", serde_json::to_string(&image)?);

    // 5. Health, read back from the store the calls were recorded in.
    sdk.flush(Duration::from_secs(5)).await?;
    let reports = sdk.health().check_all().await?;
    let alerts = sdk.health().alerts_for(&reports);
    println!("\n{}", render_table(&reports, &alerts));
    let order = sdk
        .health()
        .health_order(&["openai-tts", "elevenlabs-tts"])
        .await;
    println!("text-to-speech order now: {order:?}");
    println!("recorder: {:?}", sdk.recorder_stats());
    sim.shutdown().await;
    Ok(())
}
