//! Shared setup of the integration tests: the simulator serving every generated provider, and
//! an `Sdk` pointed at it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use media_sdk::health::{HealthStore, MemoryStore};
use media_sdk::{Sdk, SdkBuilder};
use media_sdk_sim::{JobPace, RequestRecord, SimBuilder, Simulator};

pub const OPENAI_KEYS: &[&str] = &["sk-integ-openai-1"];
pub const FAL_KEYS: &[&str] = &["fal-integ-1:secret"];
pub const KLING_KEYS: &[&str] = &["kling-access-1:kling-secret-1"];
pub const ELEVEN_KEYS: &[&str] = &["xi-integ-1"];

/// Every generated provider with its routes and the keys above; fal jobs finish on the first
/// poll.
pub fn sim_builder() -> SimBuilder {
    let mut builder = Simulator::builder();
    for (spec, routes) in media_sdk_sim::providers::all() {
        builder = builder.provider(spec, routes);
    }
    builder
        .keys("openai", OPENAI_KEYS.iter().copied())
        .keys("fal", FAL_KEYS.iter().copied())
        .keys("kling", KLING_KEYS.iter().copied())
        .keys("elevenlabs", ELEVEN_KEYS.iter().copied())
        .job_pace("fal", JobPace::immediate())
}

/// An `Sdk` builder sending every provider to `sim` with the keys above, a fresh memory store,
/// uncached health reads and no background cool-down sync.
pub fn sdk_builder(sim: &Simulator) -> SdkBuilder {
    sdk_builder_with_store(sim, Arc::new(MemoryStore::new()))
}

/// [`sdk_builder`] over `store`.
pub fn sdk_builder_with_store(sim: &Simulator, store: Arc<dyn HealthStore>) -> SdkBuilder {
    let mut builder = Sdk::builder()
        .health_store(store)
        .health_cache_ttl(Duration::ZERO)
        .cooldown_sync_interval(None)
        .emf(false)
        .keys("openai", OPENAI_KEYS.iter().copied())
        .keys("fal", FAL_KEYS.iter().copied())
        .keys("kling", KLING_KEYS.iter().copied())
        .keys("elevenlabs", ELEVEN_KEYS.iter().copied());
    for (provider, url) in sim.base_urls() {
        builder = builder.base_url(provider, url);
    }
    builder
}

/// The simulator's name for a key: the same fingerprint the SDK uses.
pub fn sim_fingerprint(key: &str) -> String {
    media_sdk::keys::fingerprint(key)
}

/// The endpoint calls (not job polls) in `records`.
pub fn calls(records: &[RequestRecord]) -> Vec<&RequestRecord> {
    records
        .iter()
        .filter(|r| r.operation == media_sdk_sim::Operation::Call)
        .collect()
}
