//! The entry point: [`Sdk`] holds one [`ProviderClient`] per provider, the health recorder and
//! the health monitor.
//!
//! ```no_run
//! # async fn demo() -> media_sdk::Result<()> {
//! use std::time::Duration;
//! use media_sdk::Sdk;
//! use media_sdk::openai::SpeechRequest;
//!
//! // Keys, base URLs and the health store all come from the environment.
//! let sdk = Sdk::from_env()?;
//! let audio = sdk.openai()?.speech(SpeechRequest::new("Hello")).await?;
//! // In a Lambda handler: deliver the health metrics before returning.
//! let _ = sdk.flush(Duration::from_secs(2)).await;
//! # let _ = audio; Ok(()) }
//! ```
//!
//! # Configuration
//!
//! - **Providers**: every generated provider ([`crate::PROVIDERS`]) unless
//!   [`SdkBuilder::providers`] says otherwise.
//! - **Keys** come from the environment (see [`crate::keys`]) unless given with
//!   [`SdkBuilder::keys`], or read from the AWS Secrets Manager secret the provider declares in
//!   `keys.source` (feature `secrets-manager`; the standard AWS configuration chain,
//!   `AWS_ENDPOINT_URL_SECRETS_MANAGER` for a local endpoint), or from an embedder's
//!   [`KeyLoader`] ([`SdkBuilder::key_loader`]).
//! - **Base URL**, in order: [`SdkBuilder::base_url`], the provider's `base_url_env` variable
//!   when set and non-empty, the spec's `base_url`.
//! - **Health store**: [`SdkBuilder::health_store`]; else DynamoDB when `CONFIG_TABLE` names a
//!   table (standard AWS configuration chain: credentials, region, `AWS_ENDPOINT_URL_DYNAMODB`
//!   then `AWS_ENDPOINT_URL`; time limits from `MEDIA_SDK_DYNAMO_TIMEOUT_MS`, see
//!   [`DynamoTimeouts`](crate::health::DynamoTimeouts)), else an in-process [`MemoryStore`].
//!   The DynamoDB client is created on first use, in the background, so [`SdkBuilder::build`]
//!   stays synchronous and never waits for AWS.
//! - **Store time limits.** Every store call the `Sdk` makes (metric batches, shared
//!   cool-downs, health reads) is bounded, so a store that stops answering costs counted drops
//!   and store errors, never a wedged background task, a hung health read or a slower
//!   provider call.
//! - **Telemetry**: a [`HealthRecorder`] on that store is always installed; any
//!   [`SdkBuilder::telemetry`] sink and, when enabled ([`SdkBuilder::emf`] or
//!   `MEDIA_SDK_EMF=1`), an [`EmfTelemetry`] on stdout receive every record too (a [`Fanout`]).
//!
//! # Background work
//!
//! The recorder's batching task and the cool-down sync task start on the Tokio runtime that
//! builds the `Sdk` (or, for an `Sdk` built outside a runtime, the one that makes its first
//! call). Neither is ever awaited on the request path.
//!
//! - **Shared key cool-downs.** When a key is rate limited the runtime reports a
//!   [`RateLimitEvent`]: the recorder's task publishes the
//!   cool-down to the store (a conditional write that only extends a cool-down). Every
//!   [`SdkBuilder::cooldown_sync_interval`] (1 s by default) the sync task reads each provider's
//!   active cool-downs and applies them to its key pool, so every process sharing the store
//!   skips a key another one found limited. [`Sdk::sync_cooldowns`] does the same on demand.
//! - **Key reload.** A pool read from a secret or a [`KeyLoader`] is read at start (the
//!   first read is in the background: use [`SdkBuilder::build_loaded`] to wait for it), then
//!   every `keys.reload_secs` ([`SdkBuilder::key_reload_interval`] overrides it), and on
//!   demand with [`Sdk::reload_keys`]. Keys that did not change keep their state, removed keys
//!   drain, and a failed or empty read keeps the pool (one WARN). With a `keys.daily_budget`
//!   (whatever the source), the fleet's spending per key is summed from the health store on the
//!   same interval ([`Sdk::sync_key_budgets`]); in between, this process counts its own calls.
//! - **Flushing.** [`Sdk::flush`] delivers every queued metric within a deadline. Call it before
//!   a Lambda handler returns: a frozen Lambda runs no background task.
//! - **Drop.** When the last clone of an `Sdk` (and of its provider clients) is dropped, the
//!   recorder's queue closes and its task writes what is left, then ends; the sync task stops
//!   at its next tick; the key reload tasks stop at once. This is best effort: it needs the
//!   runtime to keep running afterwards, which is not the case when `main` returns or a Lambda
//!   invocation ends, so call [`Sdk::flush`] there.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use crate::client::ProviderClient;
use crate::error::{Error, Result};
use crate::health::{
    Alert, CONFIG_TABLE_ENV, Clock, DEFAULT_CACHE_TTL, DEFAULT_NAMESPACE, EmfTelemetry, Fanout,
    FlushReport, FlushTimeout, HealthMonitor, HealthRecorder, HealthStore, MemoryStore,
    RecorderConfig, RecorderStats, StoreError, SystemClock,
};
use crate::keys::reload::{self, Reloader, SourceKind};
use crate::keys::{EnvLoader, KeyLoader, KeyPool, ReloadError, ReloadReport};
use crate::spec::ProviderSpec;
use crate::telemetry::{CallMetric, RateLimitEvent, Telemetry};

/// The environment variable that turns on CloudWatch EMF lines on stdout (`1` or `true`).
pub const EMF_ENV: &str = "MEDIA_SDK_EMF";

/// Default interval of the background cool-down sync.
pub const DEFAULT_COOLDOWN_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// All provider clients, the health recorder and the health monitor. Cheap to clone (shared
/// state), so one instance can serve many tasks.
#[derive(Clone)]
pub struct Sdk {
    inner: Arc<SdkInner>,
}

struct SdkInner {
    clients: Vec<ProviderClient>,
    monitor: Arc<HealthMonitor>,
    telemetry: Arc<SdkTelemetry>,
    /// Held only here: the sync task stops when it can no longer upgrade its weak handle.
    _alive: Arc<()>,
    /// Held only here: dropping it stops the key reload tasks at once.
    _shutdown: tokio::sync::watch::Sender<()>,
}

impl fmt::Debug for Sdk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sdk")
            .field("clients", &self.inner.clients)
            .field("store", self.inner.monitor.store())
            .field("recorder", &self.recorder_stats())
            .finish_non_exhaustive()
    }
}

impl Sdk {
    /// The client for provider `id`, if configured.
    pub fn provider(&self, id: &str) -> Option<&ProviderClient> {
        self.inner.clients.iter().find(|c| c.spec().id == id)
    }

    /// Every configured provider client, in the order given to the builder.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderClient> {
        self.inner.clients.iter()
    }

    /// Health reads and provider selection over the SDK's store, watching every endpoint of
    /// the configured providers.
    pub fn health(&self) -> &HealthMonitor {
        &self.inner.monitor
    }

    /// The store health metrics and shared cool-downs go to.
    pub fn health_store(&self) -> &Arc<dyn HealthStore> {
        self.inner.monitor.store()
    }

    /// Delivers every health record queued so far (written, or dropped after the recorder's
    /// bounded store retries) within `deadline`. Returns at once when nothing was recorded yet.
    pub async fn flush(&self, deadline: Duration) -> Result<FlushReport, FlushTimeout> {
        match self.inner.telemetry.recorder() {
            Some(recorder) => recorder.flush(deadline).await,
            None => Ok(FlushReport {
                written: 0,
                dropped: 0,
                waited: Duration::ZERO,
            }),
        }
    }

    /// The health recorder's counters (all zero before the recorder started).
    pub fn recorder_stats(&self) -> RecorderStats {
        let telemetry = &self.inner.telemetry;
        let mut stats = telemetry
            .background
            .get()
            .map(|b| b.recorder.stats())
            .unwrap_or_default();
        stats.dropped_closed += telemetry.dropped_no_runtime.load(Ordering::Relaxed);
        stats
    }

    /// Reads every provider's shared key cool-downs from the store now and applies them to the
    /// key pools. Returns how many cool-downs were applied to a key of this `Sdk`.
    ///
    /// The same read counts the processes sharing the keys (each announces itself there every
    /// few seconds), and every key's pace is set to this process's share of it
    /// ([`KeyPool::set_share`]), so N processes together pace a key at its rate, not N times it.
    pub async fn sync_cooldowns(&self) -> Result<usize, StoreError> {
        let telemetry = &self.inner.telemetry;
        sync_pools(&self.inner.monitor, &telemetry.pools, &telemetry.member).await
    }

    /// Re-reads every pool's key source now (a secret, an embedder's [`KeyLoader`], the
    /// environment; not pools given explicit keys) and applies it: unchanged keys keep their
    /// state (cool-downs, calls in flight, quarantine), new keys start fresh, removed keys drain.
    /// A source that cannot be read keeps its pool (one WARN) and is listed in the error,
    /// whose `report` says what the other sources changed.
    pub async fn reload_keys(&self) -> Result<ReloadReport, ReloadError> {
        reload::reload_all(&self.inner.telemetry.reloaders).await
    }

    /// Sums what every process spent today (UTC) per key, from the health store's metric
    /// items, for the providers with a `keys.daily_budget`, and sets aside the keys over it.
    /// The reload task does this after each read; returns how many keys had spending.
    pub async fn sync_key_budgets(&self) -> Result<usize, StoreError> {
        let telemetry = &self.inner.telemetry;
        let mut seen = 0;
        for (pool, health_ids) in &telemetry.budgets {
            seen += reload::sync_fleet_usage(
                telemetry.store.as_ref(),
                telemetry.clock.as_ref(),
                pool,
                health_ids,
            )
            .await?;
        }
        Ok(seen)
    }

    /// The key budget alerts raised so far by every pool (one per key and UTC day; see
    /// [`KeyPool::budget_alerts`]).
    pub fn key_alerts(&self) -> Vec<Alert> {
        self.inner
            .telemetry
            .pools
            .iter()
            .flat_map(KeyPool::budget_alerts)
            .collect()
    }
}

/// Sort-key prefix of a process's heartbeat in a provider's cool-down partition.
pub const MEMBER_PREFIX: &str = "member#";
/// How often a process renews its heartbeat.
const MEMBER_HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a heartbeat counts: a process gone for this long no longer takes a share.
const MEMBER_TTL: Duration = Duration::from_secs(15);

/// This process as a member of the fleet sharing the keys through the health store.
struct Member {
    /// `member#<random>`: stored like a cool-down of a key nobody has.
    id: String,
    last_heartbeat: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Member {
    fn new() -> Self {
        Self {
            id: format!("{MEMBER_PREFIX}{:016x}", rand::random::<u64>()),
            last_heartbeat: std::sync::Mutex::new(None),
        }
    }

    /// Whether a heartbeat is due now (and marks it sent).
    fn due(&self) -> bool {
        let mut last = self
            .last_heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < MEMBER_HEARTBEAT) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Announces `member` (when due), then applies every active shared cool-down to the matching
/// key of `pools` and sets each pool's share to one over the processes announced for its
/// provider. The heartbeat is stored in the cool-down partition itself, so counting the fleet
/// costs no read beyond the cool-down sync.
async fn sync_pools(
    monitor: &HealthMonitor,
    pools: &[KeyPool],
    member: &Member,
) -> Result<usize, StoreError> {
    if member.due() {
        // A store that cannot take the heartbeat cannot be read either: fail at once (one
        // time limit, not two).
        let until = SystemTime::now() + MEMBER_TTL;
        for pool in pools {
            monitor
                .publish_cooldown(pool.provider(), &member.id, until)
                .await?;
        }
    }
    let mut applied = 0;
    for pool in pools {
        let mut members = 0_usize;
        let mut seen_self = false;
        monitor
            .sync_cooldowns(pool.provider(), |fingerprint, until| {
                if fingerprint.starts_with(MEMBER_PREFIX) {
                    members += 1;
                    seen_self |= fingerprint == member.id;
                    return;
                }
                // Convert the wall-clock end into the pool's monotonic clock.
                let Ok(remaining) = until.duration_since(SystemTime::now()) else {
                    return;
                };
                if pool.cool_down(fingerprint, tokio::time::Instant::now() + remaining) {
                    tracing::debug!(
                        provider = pool.provider(),
                        key = fingerprint,
                        remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
                        "applied a shared key cool-down"
                    );
                    applied += 1;
                }
            })
            .await?;
        let processes = members + usize::from(!seen_self);
        let share = 1.0 / processes as f64;
        if (pool.share() - share).abs() > f64::EPSILON {
            tracing::info!(
                provider = pool.provider(),
                processes,
                "key pool shared with other processes; pacing to this process's share"
            );
            pool.set_share(share);
        }
    }
    Ok(applied)
}

/// The telemetry every client of an [`Sdk`] reports to: the health recorder (started lazily on
/// a Tokio runtime) plus the user's sinks.
struct SdkTelemetry {
    background: OnceLock<Background>,
    store: Arc<dyn HealthStore>,
    monitor: Weak<HealthMonitor>,
    recorder_config: RecorderConfig,
    sync_interval: Option<Duration>,
    pools: Vec<KeyPool>,
    member: Arc<Member>,
    alive: Weak<()>,
    extra: Fanout,
    dropped_no_runtime: AtomicU64,
    /// Pools with a key source to re-read.
    reloaders: Vec<Arc<Reloader>>,
    /// The background work of the pools (live sources, budgets), started with the recorder.
    pool_tasks: Vec<reload::PoolTask>,
    /// Closed when the `Sdk` is dropped.
    shutdown: tokio::sync::watch::Receiver<()>,
    /// Wall clock of budget days.
    clock: Arc<dyn Clock>,
    /// Pools with a daily key budget, with their provider's health ids.
    budgets: Vec<(KeyPool, Vec<&'static str>)>,
}

struct Background {
    recorder: HealthRecorder,
}

impl SdkTelemetry {
    /// The recorder, started on the current Tokio runtime if it has not started yet; `None`
    /// outside a runtime before it started.
    fn recorder(&self) -> Option<&HealthRecorder> {
        if let Some(background) = self.background.get() {
            return Some(&background.recorder);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let background = self.background.get_or_init(|| self.start(&runtime));
        Some(&background.recorder)
    }

    fn start(&self, runtime: &tokio::runtime::Handle) -> Background {
        let recorder =
            HealthRecorder::spawn_on(self.store.clone(), self.recorder_config.clone(), runtime);
        if let (Some(interval), Some(monitor)) = (self.sync_interval, self.monitor.upgrade()) {
            runtime.spawn(sync_loop(
                monitor,
                self.pools.clone(),
                self.member.clone(),
                interval,
                self.alive.clone(),
            ));
        }
        for task in &self.pool_tasks {
            runtime.spawn(reload::run(task.clone(), self.shutdown.clone()));
        }
        tracing::debug!(store = ?self.store, "health recorder started");
        Background { recorder }
    }
}

impl Telemetry for SdkTelemetry {
    fn record_call(&self, metric: CallMetric) {
        if metric.success
            && let Some(fingerprint) = &metric.key_fingerprint
            && let Some((pool, _)) = self
                .budgets
                .iter()
                .find(|(pool, _)| pool.provider() == metric.provider)
        {
            pool.record_success(fingerprint, metric.credits);
        }
        // The metric is copied only when another sink wants it too.
        let extra = (!self.extra.is_empty()).then(|| metric.clone());
        match self.recorder() {
            Some(recorder) => recorder.record_call(metric),
            None => {
                self.dropped_no_runtime.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(metric) = extra {
            self.extra.record_call(metric);
        }
    }

    fn record_rate_limit(&self, event: RateLimitEvent) {
        match self.recorder() {
            Some(recorder) => recorder.record_rate_limit(event.clone()),
            None => {
                self.dropped_no_runtime.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.extra.record_rate_limit(event);
    }
}

async fn sync_loop(
    monitor: Arc<HealthMonitor>,
    pools: Vec<KeyPool>,
    member: Arc<Member>,
    interval: Duration,
    alive: Weak<()>,
) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        match sync_pools(&monitor, &pools, &member).await {
            Ok(_) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot read shared key cool-downs; retrying every tick");
            }
            Err(error) => tracing::debug!(%error, "cannot read shared key cool-downs"),
        }
    }
    tracing::debug!("cool-down sync stopped: the Sdk was dropped");
}

/// Configures an [`Sdk`]. Obtained from [`Sdk::builder`].
pub struct SdkBuilder {
    providers: Vec<&'static ProviderSpec>,
    keys: HashMap<String, Vec<String>>,
    base_urls: HashMap<String, String>,
    telemetry: Option<Arc<dyn Telemetry>>,
    http: Option<reqwest::Client>,
    strict: bool,
    health_store: Option<Arc<dyn HealthStore>>,
    recorder_config: Option<RecorderConfig>,
    emf: Option<bool>,
    sync_interval: Option<Duration>,
    health_cache_ttl: Duration,
    loaders: HashMap<String, Arc<dyn KeyLoader>>,
    reload_interval: Option<Option<Duration>>,
    clock: Option<Arc<dyn Clock>>,
}

impl SdkBuilder {
    /// A builder for `providers` with defaults: keys and base URLs from the environment, the
    /// health store from the environment, lenient about missing keys. [`Sdk::builder`] is this
    /// for every generated provider.
    pub fn new(providers: &[&'static ProviderSpec]) -> Self {
        Self {
            providers: providers.to_vec(),
            keys: HashMap::new(),
            base_urls: HashMap::new(),
            telemetry: None,
            http: None,
            strict: false,
            health_store: None,
            recorder_config: None,
            emf: None,
            sync_interval: Some(DEFAULT_COOLDOWN_SYNC_INTERVAL),
            health_cache_ttl: DEFAULT_CACHE_TTL,
            loaders: HashMap::new(),
            reload_interval: None,
            clock: None,
        }
    }
}

impl fmt::Debug for SdkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkBuilder")
            .field(
                "providers",
                &self.providers.iter().map(|p| p.id).collect::<Vec<_>>(),
            )
            .field("explicit_keys_for", &self.keys.keys().collect::<Vec<_>>())
            .field("key_loaders", &self.loaders)
            .field("base_urls", &self.base_urls)
            .field("strict", &self.strict)
            .field("health_store", &self.health_store)
            .field("emf", &self.emf)
            .field("sync_interval", &self.sync_interval)
            .finish_non_exhaustive()
    }
}

impl SdkBuilder {
    /// The providers to build clients for, replacing those given to [`new`](Self::new). The
    /// generated accessors such as [`Sdk::openai`] return [`Error::NotConfigured`] for a
    /// provider left out.
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

    /// Reads provider `provider_id`'s keys through `loader` (at start, every reload interval and
    /// on [`Sdk::reload_keys`]) instead of its environment variables or declared secret.
    pub fn key_loader(mut self, provider_id: &str, loader: Arc<dyn KeyLoader>) -> Self {
        self.loaders.insert(provider_id.to_owned(), loader);
        self
    }

    /// How often key sources (secrets, [`KeyLoader`]s) are re-read in the background, and the
    /// fleet's spending summed for daily budgets, replacing each provider's `keys.reload_secs`;
    /// `None` turns the background reads off, the first one included ([`Sdk::reload_keys`],
    /// [`Sdk::sync_key_budgets`] and [`build_loaded`](Self::build_loaded) still read).
    pub fn key_reload_interval(mut self, interval: Option<Duration>) -> Self {
        self.reload_interval = Some(interval);
        self
    }

    /// The wall clock of key budget days (default: the system clock), for tests.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// [`build`](Self::build), then reads every key source once ([`Sdk::reload_keys`]) so the
    /// first calls find their keys: for a Lambda's cold start. A source that cannot be read is
    /// logged and leaves its provider without keys; with [`strict`](Self::strict) it fails the
    /// build instead.
    pub async fn build_loaded(self) -> Result<Sdk> {
        let strict = self.strict;
        let sdk = self.build()?;
        match sdk.reload_keys().await {
            Err(error) if strict => Err(Error::Config(error.to_string())),
            _ => Ok(sdk),
        }
    }

    /// Sends provider `provider_id`'s requests to `url` (a simulator, a proxy).
    pub fn base_url(mut self, provider_id: &str, url: impl Into<String>) -> Self {
        self.base_urls.insert(provider_id.to_owned(), url.into());
        self
    }

    /// A further sink for call metrics and rate-limit events, next to the health recorder.
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

    /// Records health metrics and shares key cool-downs through `store` instead of the store
    /// chosen by the environment.
    pub fn health_store(mut self, store: Arc<dyn HealthStore>) -> Self {
        self.health_store = Some(store);
        self
    }

    /// Settings of the health recorder (default: [`RecorderConfig::for_providers`]).
    pub fn recorder_config(mut self, config: RecorderConfig) -> Self {
        self.recorder_config = Some(config);
        self
    }

    /// Writes a CloudWatch EMF line to stdout per call and rate-limit event (default: on when
    /// `MEDIA_SDK_EMF` is `1` or `true`).
    pub fn emf(mut self, enabled: bool) -> Self {
        self.emf = Some(enabled);
        self
    }

    /// How often the background task applies shared key cool-downs to the key pools; `None`
    /// turns the task off ([`Sdk::sync_cooldowns`] still works). Default: 1 s.
    pub fn cooldown_sync_interval(mut self, interval: Option<Duration>) -> Self {
        self.sync_interval = interval;
        self
    }

    /// How long [`Sdk::health`] reuses a health report (default:
    /// [`DEFAULT_CACHE_TTL`]; zero: every read goes to the store).
    pub fn health_cache_ttl(mut self, ttl: Duration) -> Self {
        self.health_cache_ttl = ttl;
        self
    }

    /// Builds the clients: reads keys and base URLs, creates the shared HTTP client, picks the
    /// health store. Inside a Tokio runtime it also starts the background tasks (otherwise
    /// they start with the first call).
    pub fn build(self) -> Result<Sdk> {
        let known = |id: &String| self.providers.iter().any(|p| p.id == id);
        if let Some(id) = self
            .keys
            .keys()
            .chain(self.base_urls.keys())
            .chain(self.loaders.keys())
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
        let clock = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
        let mut pools = Vec::with_capacity(self.providers.len());
        let mut reloaders = Vec::new();
        // Per pool: its live source, and the interval of its background work.
        let mut background = Vec::with_capacity(self.providers.len());
        for &spec in &self.providers {
            let interval = self
                .reload_interval
                .unwrap_or(Some(Duration::from_secs(spec.keys.reload_secs)));
            let (pool, source) = match self.keys.get(spec.id) {
                Some(keys) => (KeyPool::from_keys(spec, keys.iter().cloned())?, None),
                None => match self.loaders.get(spec.id) {
                    Some(loader) => (
                        KeyPool::from_keys(spec, Vec::<String>::new())?,
                        Some((loader.clone(), SourceKind::Live)),
                    ),
                    None => match spec.keys.secrets_manager {
                        Some(_) => match secret_loader(spec) {
                            Ok(loader) => (
                                KeyPool::from_keys(spec, Vec::<String>::new())?,
                                Some((loader, SourceKind::Live)),
                            ),
                            Err(reason) if self.strict => return Err(Error::Config(reason)),
                            Err(reason) => {
                                tracing::warn!(provider = spec.id, %reason, "provider has no key source");
                                (KeyPool::from_keys(spec, Vec::<String>::new())?, None)
                            }
                        },
                        None => (
                            KeyPool::from_env(spec)?,
                            Some((
                                Arc::new(EnvLoader::new(spec.keys)) as Arc<dyn KeyLoader>,
                                SourceKind::Env,
                            )),
                        ),
                    },
                },
            };
            pool.set_clock(clock.clone());
            // A live source is read after the build: its pool starts empty.
            let mut live = None;
            if let Some((loader, kind)) = source {
                let reloader = Arc::new(Reloader::new(pool.clone(), loader, kind));
                if kind == SourceKind::Live {
                    live = Some(reloader.clone());
                }
                reloaders.push(reloader);
            }
            let rejected = pool.rejected();
            if self.strict && !rejected.is_empty() {
                let list: Vec<String> = rejected.iter().map(ToString::to_string).collect();
                return Err(Error::Config(format!(
                    "{}: {} rejected at load: {}",
                    spec.id,
                    if list.len() == 1 { "1 key" } else { "keys" },
                    list.join("; ")
                )));
            }
            if self.strict && pool.is_empty() && live.is_none() {
                return Err(pool.no_keys_error());
            }
            pools.push(pool);
            background.push((live, interval));
        }

        let store = match self.health_store {
            Some(store) => store,
            None => store_from_env()?,
        };
        let monitor = Arc::new(
            HealthMonitor::for_providers(store.clone(), &self.providers)
                .with_cache_ttl(self.health_cache_ttl),
        );
        let emf = self.emf.unwrap_or_else(|| {
            std::env::var(EMF_ENV)
                .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "True"))
                .unwrap_or(false)
        });
        let mut extra = Fanout::default();
        if let Some(user) = self.telemetry {
            extra = Fanout::new(vec![user]);
        }
        if emf {
            extra = extra.with(EmfTelemetry::stdout(DEFAULT_NAMESPACE));
        }
        let alive = Arc::new(());
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(());
        let mut budgets = Vec::new();
        let mut pool_tasks = Vec::new();
        for ((spec, pool), (live, interval)) in self.providers.iter().zip(&pools).zip(background) {
            let budget = spec.keys.daily_budget.map(|_| {
                let mut health_ids: Vec<&'static str> =
                    spec.endpoints.iter().map(|e| e.health_id).collect();
                health_ids.sort_unstable();
                health_ids.dedup();
                budgets.push((pool.clone(), health_ids.clone()));
                reload::FleetBudget {
                    store: store.clone(),
                    clock: clock.clone(),
                    health_ids,
                }
            });
            if let Some(interval) = interval
                && (live.is_some() || budget.is_some())
            {
                pool_tasks.push(reload::PoolTask {
                    pool: pool.clone(),
                    reloader: live,
                    budget,
                    interval,
                });
            }
        }
        let telemetry = Arc::new(SdkTelemetry {
            background: OnceLock::new(),
            store,
            monitor: Arc::downgrade(&monitor),
            recorder_config: self
                .recorder_config
                .unwrap_or_else(|| RecorderConfig::for_providers(&self.providers)),
            sync_interval: self.sync_interval,
            pools: pools.clone(),
            member: Arc::new(Member::new()),
            alive: Arc::downgrade(&alive),
            extra,
            dropped_no_runtime: AtomicU64::new(0),
            reloaders,
            pool_tasks,
            shutdown: shutdown_rx,
            clock,
            budgets,
        });

        let mut clients = Vec::with_capacity(self.providers.len());
        for (&spec, pool) in self.providers.iter().zip(pools) {
            let (base_url, source) = match self.base_urls.get(spec.id) {
                Some(url) => (url.clone(), "SdkBuilder::base_url".to_owned()),
                None => match std::env::var(spec.base_url_env)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                {
                    Some(url) => (url, spec.base_url_env.to_owned()),
                    None => (spec.base_url.to_owned(), "providers.yaml".to_owned()),
                },
            };
            let telemetry = telemetry.clone() as Arc<dyn Telemetry>;
            match ProviderClient::new(
                spec,
                pool.clone(),
                &base_url,
                http.clone(),
                telemetry.clone(),
            ) {
                Ok(client) => clients.push(client),
                Err(_) => {
                    // One provider's broken base URL fails that provider's calls only (or the
                    // whole build with `strict`).
                    let reason = format!(
                        "{}: base URL `{}` from {source} is not usable; expected \
                         http(s)://host[:port][/path]",
                        spec.id,
                        shown_url(&base_url)
                    );
                    if self.strict {
                        return Err(Error::Config(reason));
                    }
                    tracing::warn!(provider = spec.id, %reason, "provider disabled");
                    clients.push(ProviderClient::unusable(
                        spec,
                        pool,
                        http.clone(),
                        telemetry,
                        reason,
                    ));
                }
            }
        }
        // Start the background tasks now when a runtime is at hand.
        let _ = telemetry.recorder();
        Ok(Sdk {
            inner: Arc::new(SdkInner {
                clients,
                monitor,
                telemetry,
                _alive: alive,
                _shutdown: shutdown,
            }),
        })
    }
}

/// The loader of the secret `spec` declares (feature `secrets-manager`), or why there is none.
#[cfg(feature = "secrets-manager")]
fn secret_loader(spec: &ProviderSpec) -> std::result::Result<Arc<dyn KeyLoader>, String> {
    let source = spec
        .keys
        .secrets_manager
        .as_ref()
        .ok_or_else(|| format!("{}: no keys.source declared", spec.id))?;
    crate::keys::SecretsManagerLoader::from_env(source)
        .map(|loader| Arc::new(loader) as Arc<dyn KeyLoader>)
        .map_err(|e| format!("{}: {e}", spec.id))
}

#[cfg(not(feature = "secrets-manager"))]
fn secret_loader(spec: &ProviderSpec) -> std::result::Result<Arc<dyn KeyLoader>, String> {
    Err(format!(
        "{}: keys.source is an AWS Secrets Manager secret but media-sdk was built without the \
         `secrets-manager` feature",
        spec.id
    ))
}

/// `url` for an error message: trimmed, shortened, any `user:password@` masked.
fn shown_url(url: &str) -> String {
    let url = crate::classify::shorten(url.trim(), 100);
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url.as_str()));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !scheme.is_empty() => format!("{scheme}://***@{}", &rest[at + 1..]),
        Some(at) => format!("***@{}", &rest[at + 1..]),
        None => url.clone(),
    }
}

/// The store chosen by the environment (see the module docs), without waiting for AWS.
fn store_from_env() -> Result<Arc<dyn HealthStore>> {
    let table = std::env::var(CONFIG_TABLE_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    match table {
        None => Ok(Arc::new(MemoryStore::new())),
        Some(table) => dynamo_from_env(table),
    }
}

#[cfg(feature = "dynamodb")]
fn dynamo_from_env(table: String) -> Result<Arc<dyn HealthStore>> {
    let timeouts = crate::health::DynamoTimeouts::from_env().map_err(|e| match e {
        // Without StoreError's own "health store configuration:" prefix.
        StoreError::Config(message) => Error::Config(message),
        other => Error::Config(other.to_string()),
    })?;
    tracing::debug!(table = %table, ?timeouts, "health metrics go to DynamoDB");
    Ok(Arc::new(deferred::DeferredDynamo::new(table, timeouts)))
}

#[cfg(not(feature = "dynamodb"))]
fn dynamo_from_env(table: String) -> Result<Arc<dyn HealthStore>> {
    Err(Error::Config(format!(
        "{CONFIG_TABLE_ENV}={table} is set but media-sdk was built without the `dynamodb` feature"
    )))
}

#[cfg(feature = "dynamodb")]
mod deferred {
    //! A DynamoDB store whose client is created from the environment on first use.

    use std::time::SystemTime;

    use tokio::sync::OnceCell;

    use crate::health::{
        DynamoStore, DynamoTimeouts, HealthItem, HealthStore, MetricPage, PageCursor,
        RateLimitItem, StoreFuture,
    };

    /// [`DynamoStore::from_env`] on first use (loading the AWS configuration is async), with the
    /// time limits read when the `Sdk` was built.
    #[derive(Debug)]
    pub(super) struct DeferredDynamo {
        table: String,
        timeouts: DynamoTimeouts,
        store: OnceCell<DynamoStore>,
    }

    impl DeferredDynamo {
        pub(super) fn new(table: String, timeouts: DynamoTimeouts) -> Self {
            Self {
                table,
                timeouts,
                store: OnceCell::new(),
            }
        }

        async fn get(&self) -> &DynamoStore {
            self.store
                .get_or_init(|| DynamoStore::from_env_with(self.table.clone(), self.timeouts))
                .await
        }
    }

    impl HealthStore for DeferredDynamo {
        fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
            Box::pin(async move { self.get().await.write_batch(items).await })
        }

        fn query_metrics<'a>(
            &'a self,
            health_id: &'a str,
            since: SystemTime,
            cursor: Option<PageCursor>,
        ) -> StoreFuture<'a, MetricPage> {
            Box::pin(async move {
                self.get()
                    .await
                    .query_metrics(health_id, since, cursor)
                    .await
            })
        }

        fn query_rate_limits<'a>(
            &'a self,
            provider: &'a str,
            since: SystemTime,
        ) -> StoreFuture<'a, Vec<RateLimitItem>> {
            Box::pin(async move { self.get().await.query_rate_limits(provider, since).await })
        }

        fn publish_cooldown<'a>(
            &'a self,
            provider: &'a str,
            key_fingerprint: &'a str,
            until: SystemTime,
        ) -> StoreFuture<'a, bool> {
            Box::pin(async move {
                self.get()
                    .await
                    .publish_cooldown(provider, key_fingerprint, until)
                    .await
            })
        }

        fn active_cooldowns<'a>(
            &'a self,
            provider: &'a str,
        ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
            Box::pin(async move { self.get().await.active_cooldowns(provider).await })
        }
    }
}
