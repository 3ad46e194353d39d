//! The simulator in-process with demo keys, for `media-api --sim` and `cargo xtask serve`.
//!
//! The keys and the faster retry clock are the demo's ([`demo_keys`], [`demo_specs`] from
//! `media-sdk-cli`), so the service on the simulator behaves as `cargo xtask demo` does,
//! without the demo's rate limits and faults: every provider answers.

use std::sync::Arc;

use media_sdk::Sdk;
use media_sdk::health::MemoryStore;
use media_sdk_cli::demo::{ProviderKeys, demo_keys, demo_specs};
use media_sdk_sim::{SimBuilder, SimError, Simulator};

/// A running simulator and an [`Sdk`] pointed at it.
#[derive(Debug)]
pub struct SimSdk {
    /// The simulator (stops when dropped).
    pub sim: Simulator,
    /// The SDK, every provider on the simulator, health in memory.
    pub sdk: Sdk,
    /// The made-up keys of each provider.
    pub keys: Vec<ProviderKeys>,
}

/// Why the simulated set-up could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimStartError {
    /// The simulator did not start.
    #[error("cannot start the simulator: {0}")]
    Sim(#[from] SimError),
    /// The SDK could not be built.
    #[error(transparent)]
    Sdk(#[from] media_sdk::Error),
}

/// Starts every generated provider on the simulator with made-up keys (never the keys in the
/// environment) and builds an [`Sdk`] on it.
///
/// # Errors
///
/// [`SimStartError`] when the simulator or the SDK cannot start.
pub async fn start() -> Result<SimSdk, SimStartError> {
    start_with(demo_specs(), |builder| builder).await
}

/// [`start`] with `specs` for the SDK (e.g. tighter retry budgets) and `configure` applied to
/// the simulator (rate limits, faults, job pace) before it starts.
///
/// # Errors
///
/// As [`start`].
pub async fn start_with(
    specs: &'static [&'static media_sdk::spec::ProviderSpec],
    configure: impl FnOnce(SimBuilder) -> SimBuilder,
) -> Result<SimSdk, SimStartError> {
    let keys = demo_keys(specs, |_| None);
    let mut builder = Simulator::builder().generated();
    for pool in &keys {
        builder = builder.keys(pool.provider, pool.keys.clone());
    }
    let sim = configure(builder).start().await?;
    let mut sdk = Sdk::builder()
        .providers(specs)
        .health_store(Arc::new(MemoryStore::new()));
    for pool in &keys {
        sdk = sdk
            .keys(pool.provider, pool.keys.clone())
            .base_url(pool.provider, sim.base_url(pool.provider));
    }
    let sdk = sdk.build()?;
    Ok(SimSdk { sim, sdk, keys })
}
