//! The entry point: [`Sdk`] holds one [`ProviderClient`] per provider.
//!
//! ```no_run
//! # async fn demo() -> media_sdk::Result<()> {
//! use media_sdk::sdk::Sdk;
//! # static PROVIDERS: &[&media_sdk::spec::ProviderSpec] = &[];
//! let sdk = Sdk::builder()
//!     .providers(PROVIDERS)
//!     .keys("openai", ["sk-one", "sk-two"])
//!     .base_url("openai", "http://127.0.0.1:8080")
//!     .build()?;
//! let openai = sdk.provider("openai");
//! # Ok(()) }
//! ```
//!
//! Keys come from the environment (see [`crate::keys`]) unless given with
//! [`SdkBuilder::keys`]. The base URL is, in order: [`SdkBuilder::base_url`], the provider's
//! `base_url_env` variable when set and non-empty, the spec's `base_url`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::client::ProviderClient;
use crate::error::{Error, Result};
use crate::keys::KeyPool;
use crate::spec::ProviderSpec;
use crate::telemetry::{NoTelemetry, Telemetry};

/// All provider clients. Cheap to clone (shared state), so one instance can serve many tasks.
#[derive(Clone, Debug)]
pub struct Sdk {
    clients: Arc<[ProviderClient]>,
}

impl Sdk {
    /// A builder with defaults: no providers (until generated specs are wired in), keys and base
    /// URLs from the environment, no telemetry, a fresh HTTP client, lenient about missing keys.
    pub fn builder() -> SdkBuilder {
        SdkBuilder::default()
    }

    /// [`Sdk::builder`] with its defaults, built.
    pub fn from_env() -> Result<Self> {
        Self::builder().build()
    }

    /// The client for provider `id`, if configured.
    pub fn provider(&self, id: &str) -> Option<&ProviderClient> {
        self.clients.iter().find(|c| c.spec().id == id)
    }

    /// Every configured provider client, in the order given to the builder.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderClient> {
        self.clients.iter()
    }
}

/// Configures an [`Sdk`]. Obtained from [`Sdk::builder`].
#[derive(Default)]
pub struct SdkBuilder {
    providers: Vec<&'static ProviderSpec>,
    keys: HashMap<String, Vec<String>>,
    base_urls: HashMap<String, String>,
    telemetry: Option<Arc<dyn Telemetry>>,
    http: Option<reqwest::Client>,
    strict: bool,
}

impl std::fmt::Debug for SdkBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkBuilder")
            .field(
                "providers",
                &self.providers.iter().map(|p| p.id).collect::<Vec<_>>(),
            )
            .field("explicit_keys_for", &self.keys.keys().collect::<Vec<_>>())
            .field("base_urls", &self.base_urls)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl SdkBuilder {
    /// The providers to build clients for (usually `media_sdk::generated::PROVIDERS`).
    pub fn providers(mut self, providers: &[&'static ProviderSpec]) -> Self {
        self.providers = providers.to_vec();
        self
    }

    /// Uses these keys for provider `provider_id` instead of its environment variables.
    pub fn keys<I, K>(mut self, provider_id: &str, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.keys.insert(
            provider_id.to_owned(),
            keys.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Sends provider `provider_id`'s requests to `url` (a simulator, a proxy).
    pub fn base_url(mut self, provider_id: &str, url: impl Into<String>) -> Self {
        self.base_urls.insert(provider_id.to_owned(), url.into());
        self
    }

    /// Where call metrics and rate-limit events go.
    pub fn telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Uses this HTTP client (its own connect timeout applies) instead of a fresh one.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// When `true`, [`build`](Self::build) fails with [`Error::NoKeys`] for a provider without
    /// keys; when `false` (the default) that error comes at the provider's first call.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Builds the clients: reads keys and base URLs, creates the shared HTTP client.
    pub fn build(self) -> Result<Sdk> {
        let known = |id: &String| self.providers.iter().any(|p| p.id == id);
        if let Some(id) = self
            .keys
            .keys()
            .chain(self.base_urls.keys())
            .find(|id| !known(id))
        {
            return Err(Error::Config(format!("unknown provider `{id}`")));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                let connect_ms = self.providers.iter().map(|p| p.timeouts.connect_ms).max();
                let mut builder = reqwest::Client::builder()
                    .user_agent(concat!("media-sdk/", env!("CARGO_PKG_VERSION")));
                if let Some(ms) = connect_ms {
                    builder = builder.connect_timeout(Duration::from_millis(ms));
                }
                builder
                    .build()
                    .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?
            }
        };
        let telemetry = self.telemetry.unwrap_or_else(|| Arc::new(NoTelemetry));
        let mut clients = Vec::with_capacity(self.providers.len());
        for &spec in &self.providers {
            let pool = match self.keys.get(spec.id) {
                Some(keys) => KeyPool::from_keys(spec, keys.iter().cloned())?,
                None => KeyPool::from_env(spec)?,
            };
            if self.strict && pool.is_empty() {
                return Err(pool.no_keys_error());
            }
            let base_url = match self.base_urls.get(spec.id) {
                Some(url) => url.clone(),
                None => std::env::var(spec.base_url_env)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or_else(|| spec.base_url.to_owned()),
            };
            clients.push(ProviderClient::new(
                spec,
                pool,
                &base_url,
                http.clone(),
                telemetry.clone(),
            )?);
        }
        Ok(Sdk {
            clients: clients.into(),
        })
    }
}
