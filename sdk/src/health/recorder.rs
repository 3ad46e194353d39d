//! Fire-and-forget recording: a bounded queue in front of a batching background task.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::spec::ProviderSpec;
use crate::telemetry::{CallMetric, RateLimitEvent};

use super::report::RATE_LIMIT_WINDOW;
use super::store::{
    DEFAULT_STORE_TIMEOUT, HealthItem, HealthStore, MAX_BATCH, MetricItem, RateLimitItem,
    StoreError, UniqueSuffix, bounded,
};

/// Settings of a [`HealthRecorder`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    /// Queue capacity; a record arriving at a full queue is dropped and counted.
    pub capacity: usize,
    /// Items per store write, at most [`MAX_BATCH`] (larger values are capped).
    pub batch_size: usize,
    /// How long the task waits for more items to fill a batch once it holds one. A
    /// [`HealthRecorder::flush`] cuts the wait short.
    pub linger: Duration,
    /// Store attempts per batch (errors and unprocessed items) before it is dropped.
    pub max_store_attempts: u32,
    /// First retry delay; doubled per attempt with jitter.
    pub retry_base_delay: Duration,
    /// Longest retry delay.
    pub retry_max_delay: Duration,
    /// How long metrics are kept (their `ttl`): the health window.
    pub metric_retention: Duration,
    /// How long rate-limit events are kept.
    pub rate_limit_retention: Duration,
    /// Publish each rate-limited key's cool-down to the store so other instances skip the key.
    pub share_cooldowns: bool,
    /// How long one store call (a batch write, a cool-down write) may take before it counts as
    /// a failed attempt ([`RecorderStats::store_timeouts`]). The backstop for stores without
    /// time limits of their own; default [`DEFAULT_STORE_TIMEOUT`].
    pub store_timeout: Duration,
}

/// How long metrics are kept when a provider declares a daily key budget: a UTC day and an
/// hour, so the day's items are all there when the fleet's spending is summed.
pub const BUDGET_RETENTION: Duration = Duration::from_secs(25 * 3600);

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            batch_size: MAX_BATCH,
            linger: Duration::from_millis(50),
            max_store_attempts: 4,
            retry_base_delay: Duration::from_millis(50),
            retry_max_delay: Duration::from_secs(2),
            metric_retention: Duration::from_secs(300),
            rate_limit_retention: RATE_LIMIT_WINDOW,
            share_cooldowns: true,
            store_timeout: DEFAULT_STORE_TIMEOUT,
        }
    }
}

impl RecorderConfig {
    /// Defaults, with metrics kept for the longest health window of `providers`, and for a
    /// UTC day plus an hour ([`BUDGET_RETENTION`]) when one of them declares a
    /// `keys.daily_budget` (the fleet's spending per key is summed from them).
    pub fn for_providers(providers: &[&ProviderSpec]) -> Self {
        let mut config = Self::default();
        if let Some(longest) = providers.iter().map(|p| p.health.window()).max() {
            config.metric_retention = longest;
        }
        if providers.iter().any(|p| p.keys.daily_budget.is_some()) {
            config.metric_retention = config.metric_retention.max(BUDGET_RETENTION);
        }
        config
    }
}

/// Counters of a [`HealthRecorder`], cumulative since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RecorderStats {
    /// Records accepted into the queue.
    pub queued: u64,
    /// Records the store accepted.
    pub written: u64,
    /// Records dropped because the queue was full.
    pub dropped_full: u64,
    /// Records dropped because the background task had stopped (its runtime shut down).
    pub dropped_closed: u64,
    /// Records dropped after the store failed `max_store_attempts` times.
    pub dropped_store_error: u64,
    /// Batches formed.
    pub batches: u64,
    /// Batch write requests made to the store, retries included.
    pub store_requests: u64,
    /// Batch write requests that got no answer in time (the store's own limit or
    /// [`RecorderConfig::store_timeout`]); each is a failed attempt.
    pub store_timeouts: u64,
    /// Key cool-downs the store took (conditional writes that won).
    pub cooldowns_published: u64,
    /// Key cool-down writes that failed.
    pub cooldown_errors: u64,
}

impl RecorderStats {
    /// Records accepted but neither written nor dropped yet (queued or in flight).
    pub fn pending(&self) -> u64 {
        self.queued
            .saturating_sub(self.written)
            .saturating_sub(self.dropped_store_error)
    }
}

/// What a successful [`HealthRecorder::flush`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Records written while flushing.
    pub written: u64,
    /// Records dropped after store errors while flushing.
    pub dropped: u64,
    /// How long the flush took.
    pub waited: Duration,
}

/// A [`HealthRecorder::flush`] ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("health flush gave up after {waited:?} with {pending} records still pending")]
pub struct FlushTimeout {
    /// Records neither written nor dropped when the deadline passed.
    pub pending: u64,
    /// How long the flush waited.
    pub waited: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    written: AtomicU64,
    dropped_full: AtomicU64,
    dropped_closed: AtomicU64,
    dropped_store_error: AtomicU64,
    batches: AtomicU64,
    store_requests: AtomicU64,
    store_timeouts: AtomicU64,
    cooldowns_published: AtomicU64,
    cooldown_errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RecorderStats {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        RecorderStats {
            queued: get(&self.queued),
            written: get(&self.written),
            dropped_full: get(&self.dropped_full),
            dropped_closed: get(&self.dropped_closed),
            dropped_store_error: get(&self.dropped_store_error),
            batches: get(&self.batches),
            store_requests: get(&self.store_requests),
            store_timeouts: get(&self.store_timeouts),
            cooldowns_published: get(&self.cooldowns_published),
            cooldown_errors: get(&self.cooldown_errors),
        }
    }
}

fn bump(counter: &AtomicU64, by: u64) -> u64 {
    counter.fetch_add(by, Ordering::SeqCst) + by
}

enum Entry {
    /// A call metric, turned into a [`MetricItem`] by the background task (so the caller's
    /// path does no formatting or string allocation).
    Call(CallMetric),
    /// A rate-limit event, turned into a [`RateLimitItem`] by the background task.
    RateLimit(RateLimitEvent),
    /// Everything queued before this marker is handled before it is answered.
    Flush(oneshot::Sender<()>),
}

/// Records call metrics and rate-limit events into a [`HealthStore`] without ever blocking the
/// caller.
///
/// [`record_call`](Self::record_call) and [`record_rate_limit`](Self::record_rate_limit) only
/// `try_send` into a bounded queue; a full queue drops the record and counts it
/// ([`RecorderStats::dropped_full`]). A background task takes records in batches of at most
/// [`MAX_BATCH`] (one `BatchWriteItem` each), retries unprocessed items and store errors
/// with backoff up to [`RecorderConfig::max_store_attempts`], then drops and counts the rest.
/// During a store outage memory stays bounded by the queue capacity plus one batch.
///
/// A store that stops answering cannot wedge the task: each store call is bounded by
/// [`RecorderConfig::store_timeout`] (and a [`DynamoStore`](super::DynamoStore) by its own
/// [`DynamoTimeouts`](super::DynamoTimeouts)); a call that runs out of time is a failed
/// attempt, and the next batch tries the store again, so recording resumes when it answers.
///
/// Clones share the queue. When the last clone is dropped the queue closes and the task writes
/// what is left, then ends, as long as its Tokio runtime keeps running. **In AWS Lambda** the
/// runtime is frozen as soon as the handler returns, so call [`flush`](Self::flush) before
/// returning instead of relying on drop.
#[derive(Clone)]
pub struct HealthRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Entry>,
    /// Declared after `tx`: dropped once the queue is closed.
    nudge: Nudge,
    /// Records per batch ([`RecorderConfig::batch_size`], capped).
    batch_size: usize,
    counters: Arc<Counters>,
    config: RecorderConfig,
}

/// Wakes the background task from its linger before it ends: a batch's worth is queued, a
/// flush is, or the queue is closed (when the last handle drops it, after its `tx`). Records
/// do not wake the task one by one: that wake was most of what recording cost a call.
struct Nudge(Arc<Notify>);

impl Nudge {
    fn wake(&self) {
        self.0.notify_one();
    }
}

impl Drop for Nudge {
    fn drop(&mut self) {
        self.wake();
    }
}

impl fmt::Debug for HealthRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRecorder")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let stats = self.counters.snapshot();
        tracing::debug!(
            pending = stats.pending(),
            written = stats.written,
            dropped_full = stats.dropped_full,
            dropped_store_error = stats.dropped_store_error,
            "last health recorder handle dropped; the background task writes what is pending"
        );
    }
}

impl HealthRecorder {
    /// Starts the background task on the current Tokio runtime.
    ///
    /// # Panics
    /// Outside a Tokio runtime; use [`spawn_on`](Self::spawn_on) there.
    pub fn spawn(store: Arc<dyn HealthStore>, config: RecorderConfig) -> Self {
        Self::spawn_on(store, config, &tokio::runtime::Handle::current())
    }

    /// Starts the background task on `runtime`.
    pub fn spawn_on(
        store: Arc<dyn HealthStore>,
        config: RecorderConfig,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let nudge = Arc::new(Notify::new());
        let worker = Worker {
            store,
            nudge: nudge.clone(),
            counters: counters.clone(),
            suffix: UniqueSuffix::new(),
            config: config.clone(),
            failures: std::sync::Mutex::new(FailureLog::default()),
        };
        runtime.spawn(worker.run(rx));
        Self {
            inner: Arc::new(Inner {
                tx,
                nudge: Nudge(nudge),
                batch_size: config.batch_size.clamp(1, MAX_BATCH),
                counters,
                config,
            }),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> RecorderStats {
        self.inner.counters.snapshot()
    }

    /// The settings.
    pub fn config(&self) -> &RecorderConfig {
        &self.inner.config
    }

    /// Delivers every record queued before this call (written, or dropped after the bounded
    /// store retries) within `deadline`. Call it before a Lambda handler returns.
    ///
    /// Always returns by `deadline`, even while a store write hangs: what is still pending
    /// then is reported in [`FlushTimeout`] and stays queued for the background task.
    pub async fn flush(&self, deadline: Duration) -> Result<FlushReport, FlushTimeout> {
        let started = Instant::now();
        let before = self.stats();
        let (done_tx, done_rx) = oneshot::channel();
        let delivered = tokio::time::timeout(deadline, async {
            self.inner.tx.send(Entry::Flush(done_tx)).await.ok()?;
            self.inner.nudge.wake();
            done_rx.await.ok()
        })
        .await;
        let after = self.stats();
        match delivered {
            Ok(Some(())) => Ok(FlushReport {
                written: after.written - before.written,
                dropped: after.dropped_store_error - before.dropped_store_error,
                waited: started.elapsed(),
            }),
            _ => {
                let timeout = FlushTimeout {
                    pending: after.pending(),
                    waited: started.elapsed(),
                };
                tracing::warn!(
                    pending = timeout.pending,
                    waited_ms = timeout.waited.as_millis() as u64,
                    "health flush timed out"
                );
                Err(timeout)
            }
        }
    }

    fn enqueue(&self, entry: Entry) {
        let counters = &self.inner.counters;
        match self.inner.tx.try_send(entry) {
            Ok(()) => {
                bump(&counters.queued, 1);
                // The task holds the first record of its batch while it lingers.
                let queued = self.inner.tx.max_capacity() - self.inner.tx.capacity();
                if queued + 1 >= self.inner.batch_size {
                    self.inner.nudge.wake();
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = bump(&counters.dropped_full, 1);
                if dropped == 1 || dropped.is_multiple_of(1000) {
                    tracing::warn!(
                        dropped_full = dropped,
                        capacity = self.inner.config.capacity,
                        "health queue full; dropping metrics"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                let dropped = bump(&counters.dropped_closed, 1);
                if dropped == 1 {
                    tracing::warn!("health recorder task stopped; dropping metrics");
                }
            }
        }
    }
}

/// Recording. A `HealthRecorder` is deliberately not a [`Telemetry`](crate::telemetry::Telemetry)
/// sink: an [`Sdk`](crate::Sdk) installs the one recorder of its health store itself, and
/// the sinks given to [`SdkBuilder::telemetry`](crate::SdkBuilder::telemetry) are
/// additive observers that never write to the store. A recorder cannot be handed to an `Sdk` as
/// a second writer, so no call is ever stored twice.
impl HealthRecorder {
    /// Queues one call's metric (never blocks; a full queue drops and counts).
    pub fn record_call(&self, metric: CallMetric) {
        self.enqueue(Entry::Call(metric));
    }

    /// Queues one rate-limit event (never blocks; a full queue drops and counts).
    pub fn record_rate_limit(&self, event: RateLimitEvent) {
        self.enqueue(Entry::RateLimit(event));
    }
}

/// At most one store-failure WARN per this interval; the failures in between are counted and
/// reported with the next WARN.
pub(crate) const STORE_WARN_INTERVAL: Duration = Duration::from_secs(60);

/// Which store failures get a WARN: the first at once, then at most one per
/// [`STORE_WARN_INTERVAL`], carrying the number of failures suppressed since the last one.
/// A pure decision on the instant it is given, so it is tested without waiting a minute.
#[derive(Debug, Default)]
struct FailureLog {
    last_warned: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl FailureLog {
    /// A failure at `now`: `Some(suppressed since the last WARN)` when this one is logged.
    fn failed(&mut self, now: tokio::time::Instant) -> Option<u64> {
        let due = self
            .last_warned
            .is_none_or(|last| now.saturating_duration_since(last) >= STORE_WARN_INTERVAL);
        if due {
            self.last_warned = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

struct Worker {
    store: Arc<dyn HealthStore>,
    /// See [`Nudge`].
    nudge: Arc<Notify>,
    counters: Arc<Counters>,
    suffix: UniqueSuffix,
    config: RecorderConfig,
    failures: std::sync::Mutex<FailureLog>,
}

impl Worker {
    /// The stored form of a queued record.
    fn item(&self, entry: Entry) -> Result<HealthItem, oneshot::Sender<()>> {
        match entry {
            Entry::Call(metric) => Ok(HealthItem::Metric(MetricItem::from_call(
                &metric,
                self.suffix.next(),
                self.config.metric_retention,
            ))),
            Entry::RateLimit(event) => Ok(HealthItem::RateLimit(RateLimitItem::from_event(
                &event,
                self.suffix.next(),
                self.config.rate_limit_retention,
            ))),
            Entry::Flush(done) => Err(done),
        }
    }

    async fn run(self, mut rx: mpsc::Receiver<Entry>) {
        let size = self.config.batch_size.clamp(1, MAX_BATCH);
        let mut batch: Vec<HealthItem> = Vec::with_capacity(size);
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(first) = rx.recv().await {
            match self.item(first) {
                Ok(item) => batch.push(item),
                Err(done) => flushes.push(done),
            }
            let linger = tokio::time::sleep(self.config.linger);
            tokio::pin!(linger);
            let mut lingered = false;
            while flushes.is_empty() && !batch.is_empty() && batch.len() < size {
                let next = match rx.try_recv() {
                    Ok(entry) => Some(entry),
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                    Err(mpsc::error::TryRecvError::Empty) if lingered => None,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        // Woken by a nudge or the end of the linger, not by each record; then
                        // what is queued is taken.
                        tokio::select! {
                            () = self.nudge.notified() => {}
                            () = &mut linger => lingered = true,
                        }
                        continue;
                    }
                };
                match next.map(|entry| self.item(entry)) {
                    Some(Ok(item)) => batch.push(item),
                    Some(Err(done)) => flushes.push(done),
                    None => break,
                }
            }
            if !batch.is_empty() {
                self.write(&batch).await;
                if self.config.share_cooldowns {
                    self.publish_cooldowns(&batch).await;
                }
                batch.clear();
            }
            for done in flushes.drain(..) {
                // The flusher may have given up already.
                let _ = done.send(());
            }
        }
        tracing::debug!("health recorder task finished: queue closed and drained");
    }

    async fn write(&self, batch: &[HealthItem]) {
        bump(&self.counters.batches, 1);
        let mut pending: Cow<'_, [HealthItem]> = Cow::Borrowed(batch);
        let mut attempt = 0;
        loop {
            attempt += 1;
            bump(&self.counters.store_requests, 1);
            let limit = self.config.store_timeout;
            match bounded("write_batch", limit, self.store.write_batch(&pending)).await {
                Ok(unprocessed) => {
                    let written = pending.len() - unprocessed.len();
                    bump(&self.counters.written, written as u64);
                    if unprocessed.is_empty() {
                        return;
                    }
                    tracing::debug!(
                        unprocessed = unprocessed.len(),
                        attempt,
                        "store left health items unprocessed"
                    );
                    pending = Cow::Owned(unprocessed);
                }
                Err(error) => {
                    if error.is_timeout() {
                        bump(&self.counters.store_timeouts, 1);
                    }
                    tracing::debug!(%error, attempt, items = pending.len(), "health batch write failed");
                    // A missing table or permission does not heal between retries.
                    if attempt >= self.config.max_store_attempts || error.needs_operator() {
                        bump(&self.counters.dropped_store_error, pending.len() as u64);
                        self.store_failed(Some(&error), "health metrics dropped", pending.len());
                        return;
                    }
                }
            }
            if attempt >= self.config.max_store_attempts {
                // Only unprocessed items get here: every attempt was throttled.
                bump(&self.counters.dropped_store_error, pending.len() as u64);
                self.store_failed(None, "health metrics dropped", pending.len());
                return;
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Logs a failed store write (`error`, or `None` when the store left items unprocessed
    /// through every attempt): one WARN naming the failure (and so the table and the fix) at
    /// the first, then at most one per [`STORE_WARN_INTERVAL`] with the count of failures
    /// suppressed in between; the rest at DEBUG.
    fn store_failed(&self, error: Option<&StoreError>, what: &'static str, items: usize) {
        let now = tokio::time::Instant::now();
        let decision = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(now);
        let Some(suppressed) = decision else {
            tracing::debug!(error = error.map(tracing::field::display), items, "{what}");
            return;
        };
        let Some(error) = error else {
            tracing::warn!(
                items,
                suppressed,
                attempts = self.config.max_store_attempts,
                "{what}: the store left them unprocessed (throttled) on every attempt"
            );
            return;
        };
        match error.table().filter(|_| !error.needs_operator()) {
            // The error itself says what to do; else point at the table check.
            Some(table) => tracing::warn!(
                %error,
                items,
                suppressed,
                diagnose = %format_args!("cargo xtask table check --table {table}"),
                "{what}: the health store failed"
            ),
            None => tracing::warn!(%error, items, suppressed, "{what}: the health store failed"),
        }
    }

    /// Exponential backoff with equal jitter: half the delay fixed, half random.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.retry_base_delay;
        let exp = base
            .checked_mul(1u32 << attempt.saturating_sub(1).min(16))
            .unwrap_or(self.config.retry_max_delay)
            .min(self.config.retry_max_delay);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    async fn publish_cooldowns(&self, batch: &[HealthItem]) {
        let mut latest: HashMap<(&str, &str), SystemTime> = HashMap::new();
        for item in batch {
            if let HealthItem::RateLimit(event) = item {
                let until = event.cooldown_until();
                latest
                    .entry((event.provider.as_str(), event.key_fingerprint.as_str()))
                    .and_modify(|u| *u = (*u).max(until))
                    .or_insert(until);
            }
        }
        for ((provider, key), until) in latest {
            let limit = self.config.store_timeout;
            let publish = self.store.publish_cooldown(provider, key, until);
            match bounded("publish_cooldown", limit, publish).await {
                Ok(true) => {
                    bump(&self.counters.cooldowns_published, 1);
                }
                Ok(false) => {}
                Err(error) => {
                    bump(&self.counters.cooldown_errors, 1);
                    tracing::debug!(%error, provider, key, "could not share key cool-down");
                    self.store_failed(Some(&error), "key cool-down not shared", 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_warn_first_then_once_a_minute_with_the_count_suppressed() {
        let start = tokio::time::Instant::now();
        let mut log = FailureLog::default();
        let at = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(log.failed(at(0)), Some(0), "the first failure warns");
        for secs in [0, 1, 30, 59] {
            assert_eq!(log.failed(at(secs)), None, "within the minute: {secs}");
        }
        assert_eq!(
            log.failed(at(60)),
            Some(4),
            "a minute later, with the count"
        );
        assert_eq!(log.failed(at(61)), None);
        assert_eq!(log.failed(at(600)), Some(1));
        assert_eq!(log.failed(at(600)), None);
    }
}
