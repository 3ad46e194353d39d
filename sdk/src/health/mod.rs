//! Health tracking: metrics in DynamoDB (or memory), health read back as a status, provider
//! selection and alerts.
//!
//! - The request path reports to a [`HealthRecorder`] (a [`Telemetry`](crate::telemetry::Telemetry)
//!   implementation) that only pushes into a bounded queue; a background task batches the
//!   records into a [`HealthStore`].
//! - [`store_from_env`] picks the store: [`DynamoStore`] when `CONFIG_TABLE` is set, else
//!   [`MemoryStore`].
//! - [`check_provider_health`] reads a health id's metrics over its window back into a
//!   [`HealthReport`] with a [`ProviderStatus`]; [`HealthMonitor`] caches reports and picks
//!   providers ([`HealthMonitor::fastest_provider`], [`HealthMonitor::health_order`]).
//! - [`alerts_for`] checks reports against [`AlertThresholds`](crate::spec::AlertThresholds)
//!   (rate limits per provider, latency and success rate per health id; [`alerts`] for one
//!   report);
//!   [`render_table`] prints reports for people; [`alarms::cloudformation`] exports the same
//!   thresholds as CloudWatch alarms over the [`EmfTelemetry`] metrics.
//! - Shared key cool-downs: the recorder publishes every rate-limited key's cool-down with a
//!   conditional write ([`HealthStore::publish_cooldown`]); other instances read them with
//!   [`HealthMonitor::sync_cooldowns`] (once) or [`spawn_cooldown_sync`] (periodically) and
//!   apply them to their key pools.
//!
//! - The DynamoDB table: [`table`] says what it must look like and which IAM actions the SDK
//!   uses, exports it as CloudFormation, and (feature `dynamodb`)
//!   [`DynamoStore::check_table`] / [`DynamoStore::ensure_table`] check and create it.
//!   Writes that fail because of the deployment (a missing table, a missing permission) log
//!   one WARN naming the fix, then at most one a minute.
//!
//! - Time limits: every store call the SDK makes is bounded ([`DEFAULT_STORE_TIMEOUT`], and
//!   for DynamoDB the client's own [`DynamoTimeouts`]), so a store that stops answering costs
//!   counted drops and [`StoreError::Timeout`]s, never a wedged background task or health read.
//!
//! Time is injected through [`Clock`] ([`SystemClock`], [`ManualClock`]) so windows, expiry and
//! cache intervals are testable without sleeping.

pub mod alarms;
mod alerts;
mod clock;
mod cooldowns;
#[cfg(feature = "dynamodb")]
mod dynamo;
mod emf;
mod memory;
mod monitor;
mod recorder;
mod report;
mod store;
pub mod table;

pub use alerts::{Alert, AlertKind, alerts, alerts_for, render_key_usage, render_table};
pub use clock::{Clock, ManualClock, SystemClock};
pub use cooldowns::spawn_cooldown_sync;
#[cfg(feature = "dynamodb")]
pub use dynamo::{DYNAMO_TIMEOUT_ENV, DynamoStore, DynamoTimeouts, TableSetup};
pub use emf::{DEFAULT_NAMESPACE, EmfTelemetry, Fanout};
pub use memory::{DEFAULT_MEMORY_MAX_ITEMS, DEFAULT_MEMORY_PAGE_SIZE, MemoryStore};
pub use monitor::{DEFAULT_CACHE_TTL, HealthError, HealthMonitor};
pub use recorder::{
    BUDGET_RETENTION, FlushReport, FlushTimeout, HealthRecorder, RecorderConfig, RecorderStats,
};
pub use report::{
    HealthReport, KeyUsage, ProviderStatus, RATE_LIMIT_WINDOW, check_provider_health, evaluate,
    key_usage,
};
pub use store::{
    CONFIG_TABLE_ENV, COOLDOWN_PK_PREFIX, DEFAULT_STORE_TIMEOUT, HealthItem, HealthStore,
    MAX_BATCH, METRIC_PK_PREFIX, METRIC_SK_PREFIX, MetricItem, MetricPage, PageCursor,
    RATE_LIMIT_PK_PREFIX, RATE_LIMIT_SK_PREFIX, RateLimitItem, StoreError, StoreFuture,
    store_from_env,
};
