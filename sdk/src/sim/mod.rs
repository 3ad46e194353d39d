//! A local simulator of the providers, for offline tests and demos (feature `sim`).
//!
//! [`Simulator`] runs a real HTTP server on loopback, one listener per provider, serving the
//! endpoints described by [`SimRoute`]s (generated per provider as
//! `generated::<provider>::sim_routes()`). Point a client at [`Simulator::base_url`] and it
//! meets what it would meet in production:
//!
//! - **Auth** as each provider checks it: `Authorization: Bearer` (OpenAI), `Authorization: Key`
//!   (fal), a header such as `xi-api-key` (ElevenLabs), or an HS256 JWT whose signature, issuer,
//!   `exp` and `nbf` are verified against the configured `access:secret` pairs (Kling).
//! - **Validation**: the body, path and query are rebuilt into the request type and checked as
//!   the generated client would; refusals come back as the provider's 400/422.
//! - **Rate limits**: a token bucket per key, answered with the provider's real 429 shape and
//!   headers.
//! - **Errors in each provider's dialect** (see [`Dialect`] for the table).
//! - **Jobs**: fal's queue (`status_url`, `response_url`, `cancel_url`, with the rule that an
//!   app with a sub-path gets URLs on its first two segments) and Kling tasks, progressing with
//!   each poll ([`JobPace`]), owned by the key that submitted them.
//! - **Faults**: random ([`Faults`], from a seeded generator) or exact ([`Scripted`]).
//! - **A request log** ([`Simulator::requests`]) and per-key counters ([`Simulator::stats`]).
//!   Keys never appear in either: only fingerprints, the same as the runtime's
//!   ([`crate::keys::fingerprint`], `k_` and 8 hex digits; for Kling, of the `access:secret` pair).
//!
//! # Example
//!
//! ```no_run
//! use media_sdk::sim::{RateLimit, Scripted, Simulator};
//! use media_sdk::generated::openai;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::builder()
//!     .provider(&openai::PROVIDER, openai::sim_routes())
//!     .keys("openai", ["sk-a", "sk-b"])
//!     .rate_limit("openai", RateLimit::fixed(2)) // two requests per key, then 429
//!     .seed(7)
//!     .start()
//!     .await?;
//! // The next request made with sk-a is refused as out of quota.
//! sim.script("openai", vec![Scripted::QuotaExhausted.for_key("sk-a")]);
//! // Point the SDK at the simulator, e.g. through OPENAI_BASE_URL.
//! let base = sim.base_url("openai");
//! # let _ = base;
//! assert_eq!(sim.stats().key("openai", "sk-a").ok, 0);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Order of checks
//!
//! For each request: route (unknown → 404), credential (→ 401), the first applicable
//! [`Scripted`] entry, quota ([`Simulator::exhaust_quota`]), the key's token bucket (endpoint
//! calls only; job polls are free), random [`Faults`], then validation and the answer.

mod audio;
mod auth;
mod dialect;
mod jobs;
mod limits;
mod log;
mod provider;
mod route;
mod script;
mod server;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use auth::{KlingClaims, kling_token, sign_kling_jwt};
pub use dialect::Dialect;
pub use limits::{Clock, ManualClock, MonotonicClock, RateLimit};
pub use log::{KeyStats, Operation, Outcome, RECORDED_HEADERS, RequestRecord, SimStats};
pub use route::{Rejection, RejectionKind, SimRoute};
pub use script::{Faults, JobPace, Scripted};

use crate::spec::ProviderSpec;
use provider::{ProviderConfig, ProviderSim};
use server::Shared;

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A loopback listener could not be bound.
    #[error("cannot bind a listener for `{provider}`: {source}")]
    Bind {
        /// Provider id.
        provider: &'static str,
        /// The bind failure.
        #[source]
        source: std::io::Error,
    },
    /// A setting names a provider that was not added with [`SimBuilder::provider`].
    #[error("`{setting}` names provider `{provider}`, which was not added with `provider()`")]
    UnknownProvider {
        /// The provider id given.
        provider: String,
        /// The builder method, e.g. `"keys"`.
        setting: &'static str,
    },
    /// The same provider was added twice.
    #[error("provider `{0}` was added twice")]
    DuplicateProvider(&'static str),
    /// A route belongs to another provider than the one it was added with.
    #[error("route `{provider}/{endpoint}` was added to provider `{added_to}`")]
    ForeignRoute {
        /// The route's provider.
        provider: &'static str,
        /// The route's endpoint.
        endpoint: &'static str,
        /// The provider it was added to.
        added_to: &'static str,
    },
    /// A route's example is not JSON.
    #[error("example of `{provider}/{endpoint}` is not JSON: {message}")]
    BadExample {
        /// Provider id.
        provider: &'static str,
        /// Endpoint id.
        endpoint: &'static str,
        /// The parse error.
        message: String,
    },
    /// A key does not fit the provider's auth scheme (Kling keys are `access:secret`).
    #[error("{0}")]
    BadKey(String),
}

/// Configures and starts a [`Simulator`]. Settings naming a provider may come before or after
/// the provider is added; [`start`](Self::start) checks them.
#[derive(Default)]
pub struct SimBuilder {
    providers: Vec<(&'static ProviderSpec, Vec<SimRoute>)>,
    configs: HashMap<String, ProviderConfig>,
    touched: Vec<(String, &'static str)>,
    seed: u64,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for SimBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBuilder")
            .field(
                "providers",
                &self.providers.iter().map(|(p, _)| p.id).collect::<Vec<_>>(),
            )
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SimBuilder {
    fn config(&mut self, provider: &str, setting: &'static str) -> &mut ProviderConfig {
        self.touched.push((provider.to_owned(), setting));
        self.configs.entry(provider.to_owned()).or_default()
    }

    /// Serves `provider` with `routes` on its own loopback listener.
    pub fn provider(mut self, provider: &'static ProviderSpec, routes: Vec<SimRoute>) -> Self {
        self.providers.push((provider, routes));
        self
    }

    /// Serves every provider of the spec with its generated routes
    /// ([`crate::generated::sim_routes`]), each on its own listener.
    pub fn generated(mut self) -> Self {
        self.providers.extend(crate::generated::sim_routes());
        self
    }

    /// The only keys `provider` accepts (any key is accepted when this is not set). For Kling
    /// each key is an `access_key:secret_key` pair; tokens must be signed with the secret.
    pub fn keys<K: Into<String>>(
        mut self,
        provider: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        self.config(provider, "keys").keys = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    /// A token bucket per key of `provider`.
    pub fn rate_limit(mut self, provider: &str, limit: RateLimit) -> Self {
        self.config(provider, "rate_limit").rate_limit = Some(limit);
        self
    }

    /// Random faults for `provider` (none by default).
    pub fn faults(mut self, provider: &str, faults: Faults) -> Self {
        self.config(provider, "faults").faults = faults;
        self
    }

    /// How many polls jobs of `provider` take ([`JobPace::default`] otherwise).
    pub fn job_pace(mut self, provider: &str, pace: JobPace) -> Self {
        self.config(provider, "job_pace").pace = pace;
        self
    }

    /// Overrides the error dialect chosen by [`Dialect::for_provider`].
    pub fn dialect(mut self, provider: &str, dialect: Dialect) -> Self {
        self.config(provider, "dialect").dialect = Some(dialect);
        self
    }

    /// Seeds the generator behind random faults and ids (0 by default). The same seed and the
    /// same sequence of requests give the same answers.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The clock the token buckets read ([`MonotonicClock`] by default).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Binds one listener per provider on `127.0.0.1:0` and starts serving.
    pub async fn start(mut self) -> Result<Simulator, SimError> {
        for (provider, setting) in &self.touched {
            if !self.providers.iter().any(|(p, _)| p.id == provider) {
                return Err(SimError::UnknownProvider {
                    provider: provider.clone(),
                    setting,
                });
            }
        }
        let mut providers = Vec::with_capacity(self.providers.len());
        let mut listeners = Vec::with_capacity(self.providers.len());
        for (spec, routes) in std::mem::take(&mut self.providers) {
            if providers.iter().any(|p: &ProviderSim| p.spec.id == spec.id) {
                return Err(SimError::DuplicateProvider(spec.id));
            }
            for route in &routes {
                if route.spec.provider != spec.id {
                    return Err(SimError::ForeignRoute {
                        provider: route.spec.provider,
                        endpoint: route.spec.id,
                        added_to: spec.id,
                    });
                }
                if let Some(example) = route.example
                    && let Err(error) = serde_json::from_str::<serde_json::Value>(example)
                {
                    return Err(SimError::BadExample {
                        provider: spec.id,
                        endpoint: route.spec.id,
                        message: error.to_string(),
                    });
                }
            }
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|source| SimError::Bind {
                    provider: spec.id,
                    source,
                })?;
            let addr = listener.local_addr().map_err(|source| SimError::Bind {
                provider: spec.id,
                source,
            })?;
            let config = self.configs.remove(spec.id).unwrap_or_default();
            let provider =
                ProviderSim::new(spec, routes, config, format!("http://{addr}"), self.seed)
                    .map_err(|bad| SimError::BadKey(bad.0))?;
            providers.push(provider);
            listeners.push(listener);
        }
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::default()));
        let shared = Arc::new(Shared::new(providers, clock));
        let accept_loops = listeners
            .into_iter()
            .enumerate()
            .map(|(index, listener)| {
                tokio::spawn(server::accept_loop(listener, shared.clone(), index))
            })
            .collect();
        for provider in &shared.providers {
            tracing::info!(provider = provider.spec.id, base_url = %provider.base_url, "simulator listening");
        }
        Ok(Simulator {
            shared,
            accept_loops,
        })
    }
}

/// A running simulator. Dropping it (or [`shutdown`](Self::shutdown)) closes every listener
/// and connection, including hanging ones.
///
/// Methods taking a provider id panic when the simulator does not serve that provider: that
/// is a mistake in the test, not a condition to handle.
pub struct Simulator {
    shared: Arc<Shared>,
    accept_loops: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("providers", &self.base_urls())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A builder with no providers, seed 0 and real time.
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    fn sim(&self, provider: &str) -> &ProviderSim {
        self.shared
            .provider(provider)
            .unwrap_or_else(|| panic!("the simulator does not serve provider `{provider}`"))
    }

    /// The base URL of `provider`'s listener, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self, provider: &str) -> String {
        self.sim(provider).base_url.clone()
    }

    /// `(provider id, base URL)` for every provider.
    pub fn base_urls(&self) -> Vec<(&'static str, String)> {
        self.shared
            .providers
            .iter()
            .map(|p| (p.spec.id, p.base_url.clone()))
            .collect()
    }

    /// `(base URL variable, base URL)` for every provider, e.g. `("OPENAI_BASE_URL",
    /// "http://127.0.0.1:40123")`: the environment that points the SDK at the simulator.
    pub fn env_overrides(&self) -> Vec<(&'static str, String)> {
        self.shared
            .providers
            .iter()
            .map(|p| (p.spec.base_url_env, p.base_url.clone()))
            .collect()
    }

    /// The dialect `provider` answers in.
    pub fn dialect(&self, provider: &str) -> Dialect {
        self.sim(provider).dialect
    }

    /// Every request so far, in arrival order (recorded when the answer is decided; a hanging
    /// request is recorded when it starts hanging).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// The requests to `provider` so far.
    pub fn requests_for(&self, provider: &str) -> Vec<RequestRecord> {
        let _ = self.sim(provider);
        self.shared
            .requests()
            .into_iter()
            .filter(|r| r.provider == provider)
            .collect()
    }

    /// Counters per provider and key over the request log.
    pub fn stats(&self) -> SimStats {
        SimStats::from_log(&self.shared.requests())
    }

    /// Waits until at least `count` requests have been recorded: a way to synchronise with a
    /// request that hangs or runs in another task, without sleeping.
    pub async fn wait_for_requests(&self, count: usize) {
        self.shared.wait_for_requests(count).await;
    }

    /// Queues exact outcomes for the next requests to `provider` (see [`Scripted`]).
    pub fn script(&self, provider: &str, entries: Vec<Scripted>) {
        self.sim(provider).script(entries);
    }

    /// Scripted entries not yet taken.
    pub fn pending_script(&self, provider: &str) -> usize {
        self.sim(provider).pending_script()
    }

    /// Replaces `provider`'s random faults.
    pub fn set_faults(&self, provider: &str, faults: Faults) {
        self.sim(provider).set_faults(faults);
    }

    /// Replaces `provider`'s per-key rate limit (`None`: unlimited); every bucket starts full.
    pub fn set_rate_limit(&self, provider: &str, limit: Option<RateLimit>) {
        self.sim(provider).set_rate_limit(limit);
    }

    /// Replaces how many polls `provider`'s jobs take (applies to existing jobs too).
    pub fn set_job_pace(&self, provider: &str, pace: JobPace) {
        self.sim(provider).set_job_pace(pace);
    }

    /// From now on `key` is refused as invalid (HTTP 401), until [`restore_key`](Self::restore_key).
    pub fn revoke_key(&self, provider: &str, key: &str) {
        self.sim(provider).revoke(key);
    }

    /// From now on requests with `key` are refused as out of quota, until
    /// [`restore_key`](Self::restore_key).
    pub fn exhaust_quota(&self, provider: &str, key: &str) {
        self.sim(provider).exhaust(key);
    }

    /// Undoes [`revoke_key`](Self::revoke_key) and [`exhaust_quota`](Self::exhaust_quota).
    pub fn restore_key(&self, provider: &str, key: &str) {
        self.sim(provider).restore(key);
    }

    /// Stops the listeners and closes every connection.
    pub async fn shutdown(mut self) {
        self.shared.shut_down();
        for task in std::mem::take(&mut self.accept_loops) {
            let _ = task.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.shut_down();
        for task in &self.accept_loops {
            task.abort();
        }
    }
}
