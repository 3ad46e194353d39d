//! The storage seam: item types, the [`HealthStore`] trait and store selection from the
//! environment.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use crate::telemetry::{CallMetric, RateLimitEvent};

use super::clock::{duration_millis, epoch_millis, from_epoch_millis};

/// Partition-key prefix of metric items: `PROVIDER_HEALTH#<health id>`.
pub const METRIC_PK_PREFIX: &str = "PROVIDER_HEALTH#";
/// Sort-key prefix of metric items: `METRIC#<13-digit epoch millis>#<suffix>`.
pub const METRIC_SK_PREFIX: &str = "METRIC#";
/// Partition-key prefix of rate-limit events: `PROVIDER_RATE_LIMIT#<provider>`.
pub const RATE_LIMIT_PK_PREFIX: &str = "PROVIDER_RATE_LIMIT#";
/// Sort-key prefix of rate-limit events: `EVENT#<13-digit epoch millis>#<suffix>`.
pub const RATE_LIMIT_SK_PREFIX: &str = "EVENT#";
/// Partition-key prefix of shared key cool-downs: `KEY_COOLDOWN#<provider>`, sort key = the
/// key's fingerprint.
pub const COOLDOWN_PK_PREFIX: &str = "KEY_COOLDOWN#";
/// The most items one [`HealthStore::write_batch`] call takes (DynamoDB's `BatchWriteItem`
/// limit).
pub const MAX_BATCH: usize = 25;
/// The environment variable naming the DynamoDB table; when unset the memory store is used.
pub const CONFIG_TABLE_ENV: &str = "CONFIG_TABLE";
/// How long the SDK waits for any one [`HealthStore`] call (a batch write, a health read, a
/// cool-down read or write) before giving up with [`StoreError::Timeout`]: the backstop that
/// keeps a store without timeouts of its own from wedging the recorder, the cool-down sync or a
/// health read. Longer than [`DynamoStore`](super::DynamoStore)'s own operation timeout, so a
/// DynamoDB call normally ends with DynamoDB's error first.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// One finished call as stored: `pk = PROVIDER_HEALTH#<health_id>`,
/// `sk = METRIC#<13-digit epoch millis>#<unique>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricItem {
    /// Health id, e.g. `"openai-tts"`.
    pub health_id: String,
    /// Provider id.
    pub provider: String,
    /// Endpoint id.
    pub endpoint: String,
    /// When the call finished, in epoch milliseconds.
    pub at_ms: u64,
    /// Suffix making the sort key unique when two calls end in the same millisecond.
    pub unique: String,
    /// Wall time of the call (for a stream, until it ended).
    pub latency_ms: u64,
    /// For a stream: time to its first audio byte, if one arrived (the `ttfb_ms` attribute,
    /// absent for buffered calls and in items written before streams existed).
    pub ttfb_ms: Option<u64>,
    /// Whether the caller got a result (for a stream: it completed).
    pub success: bool,
    /// A stream the caller dropped before its end (the `cancelled` attribute; absent reads as
    /// `false`): neither a success nor a failure, left out of health reports.
    pub cancelled: bool,
    /// Last HTTP status, if any.
    pub status: Option<u16>,
    /// Error class on failure.
    pub error_class: Option<String>,
    /// HTTP attempts made.
    pub attempts: u32,
    /// Fingerprint of the key that served the last attempt (never the key).
    pub key_fingerprint: Option<String>,
    /// Credits the call cost (the `credits` attribute, written when non-zero; absent reads as
    /// 0): its capability's credits on success, 0 on failure.
    pub credits: u32,
    /// Expiry (the `ttl` attribute), in epoch seconds.
    pub ttl: u64,
}

impl MetricItem {
    /// The stored form of `metric`, kept for `retention` (the `ttl` attribute).
    pub fn from_call(metric: &CallMetric, unique: String, retention: Duration) -> Self {
        let at_ms = epoch_millis(metric.at);
        Self {
            health_id: metric.health_id.to_owned(),
            provider: metric.provider.to_owned(),
            endpoint: metric.endpoint.to_owned(),
            at_ms,
            unique,
            latency_ms: metric.latency_ms,
            ttfb_ms: metric.ttfb_ms,
            success: metric.success,
            cancelled: metric.cancelled,
            status: metric.status,
            error_class: metric.error_class.map(str::to_owned),
            attempts: metric.attempts,
            key_fingerprint: metric.key_fingerprint.clone(),
            credits: metric.credits,
            ttl: ttl_after(at_ms, retention),
        }
    }

    /// The partition key.
    pub fn pk(&self) -> String {
        metric_pk(&self.health_id)
    }

    /// The sort key: sorts by time, then by the unique suffix.
    pub fn sk(&self) -> String {
        format!("{METRIC_SK_PREFIX}{:013}#{}", self.at_ms, self.unique)
    }

    /// The `timestamp` attribute: ISO-8601 UTC with milliseconds.
    pub fn timestamp(&self) -> String {
        iso_millis(self.at_ms)
    }

    /// When the call finished.
    pub fn at(&self) -> SystemTime {
        from_epoch_millis(self.at_ms)
    }

    /// Whether the `ttl` has passed at `now` (DynamoDB deletes such items late, so readers
    /// skip them).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        ttl_passed(self.ttl, now)
    }
}

/// One rate-limit event as stored: `pk = PROVIDER_RATE_LIMIT#<provider>`,
/// `sk = EVENT#<13-digit epoch millis>#<unique>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitItem {
    /// Provider id.
    pub provider: String,
    /// Health id of the endpoint that saw it.
    pub health_id: String,
    /// Fingerprint of the limited key.
    pub key_fingerprint: String,
    /// How long the key cools down, in milliseconds.
    pub cooldown_ms: u64,
    /// Whether the call moved on to another key.
    pub rotated: bool,
    /// When it happened, in epoch milliseconds.
    pub at_ms: u64,
    /// Sort-key suffix.
    pub unique: String,
    /// Expiry (the `ttl` attribute), in epoch seconds.
    pub ttl: u64,
}

impl RateLimitItem {
    /// The stored form of `event`, kept for `retention`.
    pub fn from_event(event: &RateLimitEvent, unique: String, retention: Duration) -> Self {
        let at_ms = epoch_millis(event.at);
        Self {
            provider: event.provider.to_owned(),
            health_id: event.health_id.to_owned(),
            key_fingerprint: event.key_fingerprint.clone(),
            cooldown_ms: duration_millis(event.cooldown),
            rotated: event.rotated,
            at_ms,
            unique,
            ttl: ttl_after(at_ms, retention),
        }
    }

    /// The partition key.
    pub fn pk(&self) -> String {
        rate_limit_pk(&self.provider)
    }

    /// The sort key.
    pub fn sk(&self) -> String {
        format!("{RATE_LIMIT_SK_PREFIX}{:013}#{}", self.at_ms, self.unique)
    }

    /// The `timestamp` attribute.
    pub fn timestamp(&self) -> String {
        iso_millis(self.at_ms)
    }

    /// Until when the key cools down.
    pub fn cooldown_until(&self) -> SystemTime {
        from_epoch_millis(self.at_ms.saturating_add(self.cooldown_ms))
    }

    /// Whether the `ttl` has passed at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        ttl_passed(self.ttl, now)
    }
}

/// An item written by [`HealthStore::write_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthItem {
    /// A call metric.
    Metric(MetricItem),
    /// A rate-limit event.
    RateLimit(RateLimitItem),
}

impl HealthItem {
    /// The partition key.
    pub fn pk(&self) -> String {
        match self {
            HealthItem::Metric(m) => m.pk(),
            HealthItem::RateLimit(r) => r.pk(),
        }
    }

    /// The sort key.
    pub fn sk(&self) -> String {
        match self {
            HealthItem::Metric(m) => m.sk(),
            HealthItem::RateLimit(r) => r.sk(),
        }
    }

    /// Whether the `ttl` has passed at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        match self {
            HealthItem::Metric(m) => m.is_expired(now),
            HealthItem::RateLimit(r) => r.is_expired(now),
        }
    }
}

/// Where the next page of a metric query starts (the last sort key read). Opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(pub(crate) String);

/// One page of metrics, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPage {
    /// Unexpired metrics at or after the query's `since`, newest first.
    pub items: Vec<MetricItem>,
    /// Where the next page starts; `None` when no older in-window items remain.
    pub next: Option<PageCursor>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A DynamoDB request failed.
    #[error("DynamoDB {operation} on table {table}: {message}")]
    Dynamo {
        /// The operation, e.g. `"BatchWriteItem"`.
        operation: &'static str,
        /// The table.
        table: String,
        /// The SDK's error with its context.
        message: String,
    },
    /// The table does not exist (DynamoDB's `ResourceNotFoundException`).
    #[error(
        "health table `{table}` does not exist ({operation}): run `cargo xtask table create \
         --table {table}` or see the README's \"Deploying\" section"
    )]
    TableMissing {
        /// The operation, e.g. `"BatchWriteItem"`.
        operation: &'static str,
        /// The table.
        table: String,
    },
    /// The caller's IAM identity may not do `action` on the table (DynamoDB's
    /// `AccessDeniedException`).
    #[error(
        "access denied to health table `{table}`: allow `{action}` on it (the README's \
         \"Deploying\" section has the IAM policy): {message}"
    )]
    AccessDenied {
        /// The IAM action that was refused, e.g. `"dynamodb:BatchWriteItem"`.
        action: String,
        /// The table.
        table: String,
        /// DynamoDB's message, on one line and shortened.
        message: String,
    },
    /// A stored item lacks an attribute or has the wrong type.
    #[error("table {table}: item {pk}/{sk}: attribute `{attribute}`: {problem}")]
    Corrupt {
        /// The table.
        table: String,
        /// Partition key of the item.
        pk: String,
        /// Sort key of the item.
        sk: String,
        /// The attribute.
        attribute: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// More than [`MAX_BATCH`] items were passed to one `write_batch`.
    #[error("batch of {len} items exceeds the limit of {MAX_BATCH}")]
    BatchTooLarge {
        /// Items passed.
        len: usize,
    },
    /// The store is misconfigured.
    #[error("health store configuration: {0}")]
    Config(String),
    /// A store call got no answer in time: the store's own timeouts (for [`DynamoStore`], its
    /// [`DynamoTimeouts`]) or the SDK's guard around every store call ([`DEFAULT_STORE_TIMEOUT`],
    /// [`RecorderConfig::store_timeout`](super::RecorderConfig::store_timeout),
    /// [`HealthMonitor::with_store_timeout`](super::HealthMonitor::with_store_timeout)).
    ///
    /// [`DynamoStore`]: super::DynamoStore
    /// [`DynamoTimeouts`]: super::DynamoTimeouts
    #[error("health store {operation} got no answer within {limit:?}")]
    Timeout {
        /// What was asked, e.g. `"BatchWriteItem"` or `"write_batch"`.
        operation: &'static str,
        /// The limit that ran out.
        limit: Duration,
    },
}

impl StoreError {
    /// Whether the store did not answer in time ([`StoreError::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, StoreError::Timeout { .. })
    }

    /// Whether retrying cannot help until someone changes the deployment: a missing table or
    /// a missing IAM permission. The recorder drops such a batch at once instead of retrying.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            StoreError::TableMissing { .. } | StoreError::AccessDenied { .. }
        )
    }

    /// The table the failure concerns, when there is one.
    pub fn table(&self) -> Option<&str> {
        match self {
            StoreError::Dynamo { table, .. }
            | StoreError::TableMissing { table, .. }
            | StoreError::AccessDenied { table, .. }
            | StoreError::Corrupt { table, .. } => Some(table),
            _ => None,
        }
    }
}

/// Awaits `call`, giving up with [`StoreError::Timeout`] after `limit` (the unanswered call is
/// dropped, which cancels it).
pub(crate) async fn bounded<T>(
    operation: &'static str,
    limit: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(StoreError::Timeout { operation, limit }))
}

/// A boxed future returned by [`HealthStore`] methods (keeps the trait object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Persistence of health metrics, rate-limit events and shared key cool-downs.
///
/// Readers never see expired items: every query skips items whose `ttl` has passed at the
/// store's clock, because DynamoDB deletes expired items up to days late.
pub trait HealthStore: Send + Sync + fmt::Debug + 'static {
    /// Writes at most [`MAX_BATCH`] items in one request. Returns the items the store did not
    /// process (DynamoDB's `UnprocessedItems`); the caller retries them.
    fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>>;

    /// One page of `health_id`'s unexpired metrics at or after `since`, newest first.
    /// Pass the previous page's [`MetricPage::next`] to continue.
    fn query_metrics<'a>(
        &'a self,
        health_id: &'a str,
        since: SystemTime,
        cursor: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage>;

    /// Every unexpired rate-limit event of `provider` at or after `since`, newest first.
    fn query_rate_limits<'a>(
        &'a self,
        provider: &'a str,
        since: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>>;

    /// Shares "key `key_fingerprint` of `provider` cools down until `until`" with every
    /// instance using the store. A conditional write: it only replaces a cool-down ending
    /// earlier. Returns whether it was written.
    fn publish_cooldown<'a>(
        &'a self,
        provider: &'a str,
        key_fingerprint: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, bool>;

    /// Cool-downs of `provider` still running at the store's clock: `(fingerprint, until)`.
    fn active_cooldowns<'a>(
        &'a self,
        provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>>;
}

/// A shared store is a store (so `Arc<dyn HealthStore>` can be handed wherever a store goes).
impl<S: HealthStore + ?Sized> HealthStore for Arc<S> {
    fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
        (**self).write_batch(items)
    }

    fn query_metrics<'a>(
        &'a self,
        health_id: &'a str,
        since: SystemTime,
        cursor: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage> {
        (**self).query_metrics(health_id, since, cursor)
    }

    fn query_rate_limits<'a>(
        &'a self,
        provider: &'a str,
        since: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>> {
        (**self).query_rate_limits(provider, since)
    }

    fn publish_cooldown<'a>(
        &'a self,
        provider: &'a str,
        key_fingerprint: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, bool> {
        (**self).publish_cooldown(provider, key_fingerprint, until)
    }

    fn active_cooldowns<'a>(
        &'a self,
        provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
        (**self).active_cooldowns(provider)
    }
}

/// The store selected by the environment: DynamoDB when `CONFIG_TABLE` names a table (with the
/// standard AWS configuration chain: credentials, region, `AWS_ENDPOINT_URL_DYNAMODB` /
/// `AWS_ENDPOINT_URL`; time limits from `MEDIA_SDK_DYNAMO_TIMEOUT_MS`), else an in-memory store.
///
/// Fails with [`StoreError::Config`] when `CONFIG_TABLE` is set but the crate was built without
/// the `dynamodb` feature, or when `MEDIA_SDK_DYNAMO_TIMEOUT_MS` is not a positive number.
pub async fn store_from_env() -> Result<Arc<dyn HealthStore>, StoreError> {
    let table = std::env::var(CONFIG_TABLE_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty());
    match table {
        None => {
            tracing::debug!("CONFIG_TABLE not set: health metrics stay in memory");
            Ok(Arc::new(super::MemoryStore::new()))
        }
        Some(table) => dynamo_from_env(table).await,
    }
}

impl dyn HealthStore {
    /// Same as [`store_from_env`]: `<dyn HealthStore>::from_env().await`.
    pub async fn from_env() -> Result<Arc<dyn HealthStore>, StoreError> {
        store_from_env().await
    }
}

#[cfg(feature = "dynamodb")]
async fn dynamo_from_env(table: String) -> Result<Arc<dyn HealthStore>, StoreError> {
    let timeouts = super::DynamoTimeouts::from_env()?;
    tracing::debug!(table = %table, ?timeouts, "health metrics go to DynamoDB");
    Ok(Arc::new(
        super::DynamoStore::from_env_with(table, timeouts).await,
    ))
}

#[cfg(not(feature = "dynamodb"))]
async fn dynamo_from_env(table: String) -> Result<Arc<dyn HealthStore>, StoreError> {
    Err(StoreError::Config(format!(
        "CONFIG_TABLE={table} is set but media-sdk was built without the `dynamodb` feature"
    )))
}

/// Generates sort-key suffixes unique across processes: a random per-generator instance id and
/// a sequence number, as 12 hex digits.
#[derive(Debug)]
pub(crate) struct UniqueSuffix {
    instance: u32,
    seq: AtomicU32,
}

impl UniqueSuffix {
    pub(crate) fn new() -> Self {
        Self {
            instance: rand::random::<u32>() & 0x00ff_ffff,
            seq: AtomicU32::new(0),
        }
    }

    pub(crate) fn next(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        // `{:06x}{:06x}` of the instance and the sequence, without the formatter: one per
        // recorded item.
        let both = (u64::from(self.instance) << 24) | u64::from(seq);
        (0..12)
            .rev()
            .map(|digit| char::from(HEX[((both >> (4 * digit)) & 0xf) as usize]))
            .collect()
    }
}

pub(crate) fn metric_pk(health_id: &str) -> String {
    format!("{METRIC_PK_PREFIX}{health_id}")
}

pub(crate) fn rate_limit_pk(provider: &str) -> String {
    format!("{RATE_LIMIT_PK_PREFIX}{provider}")
}

#[cfg(feature = "dynamodb")]
pub(crate) fn cooldown_pk(provider: &str) -> String {
    format!("{COOLDOWN_PK_PREFIX}{provider}")
}

/// The smallest sort key of a metric at or after `since_ms`.
pub(crate) fn metric_sk_floor(since_ms: u64) -> String {
    format!("{METRIC_SK_PREFIX}{since_ms:013}")
}

/// The smallest sort key of a rate-limit event at or after `since_ms`.
pub(crate) fn rate_limit_sk_floor(since_ms: u64) -> String {
    format!("{RATE_LIMIT_SK_PREFIX}{since_ms:013}")
}

/// `ttl` for an item written at `at_ms` and kept for `retention`: rounded up to whole seconds so
/// an item never expires before it leaves its window.
pub(crate) fn ttl_after(at_ms: u64, retention: Duration) -> u64 {
    at_ms
        .saturating_add(duration_millis(retention))
        .div_ceil(1000)
}

/// An item counts while `now <= ttl`.
pub(crate) fn ttl_passed(ttl: u64, now: SystemTime) -> bool {
    ttl.saturating_mul(1000) < epoch_millis(now)
}

/// The smallest `ttl` still alive at `now` (for DynamoDB filter expressions).
#[cfg(feature = "dynamodb")]
pub(crate) fn min_live_ttl(now: SystemTime) -> u64 {
    epoch_millis(now).div_ceil(1000)
}

pub(crate) fn iso_millis(ms: u64) -> String {
    humantime::format_rfc3339_millis(from_epoch_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_the_instance_then_the_sequence_in_twelve_hex_digits() {
        let suffix = UniqueSuffix {
            instance: 0x00ab_c0de,
            seq: AtomicU32::new(0x00ff_fffe),
        };
        assert_eq!(suffix.next(), "abc0defffffe");
        assert_eq!(suffix.next(), "abc0deffffff");
        // The sequence wraps within its six digits.
        assert_eq!(suffix.next(), "abc0de000000");
        let random = UniqueSuffix::new();
        let seq = random.seq.load(Ordering::Relaxed);
        assert_eq!(random.next(), format!("{:06x}{:06x}", random.instance, seq));
    }
}
