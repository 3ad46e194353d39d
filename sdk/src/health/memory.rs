//! The embedded store: everything in process memory, bounded by expiry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::clock::{Clock, SharedClock, SystemClock, epoch_millis, from_epoch_millis};
use super::store::{
    HealthItem, HealthStore, METRIC_SK_PREFIX, MetricItem, MetricPage, PageCursor, RateLimitItem,
    StoreFuture,
};

/// Default number of metrics per [`MemoryStore`] query page.
pub const DEFAULT_MEMORY_PAGE_SIZE: usize = 1000;
/// Default cap on items kept per partition (health id or provider).
pub const DEFAULT_MEMORY_MAX_ITEMS: usize = 100_000;

/// An in-process [`HealthStore`], the default when no DynamoDB table is configured.
///
/// Memory stays bounded: every write drops the partition's items whose `ttl` has passed (the
/// `ttl` is the write time plus the window), and a partition never holds more than
/// `max_items_per_partition` items (the oldest go first).
#[derive(Debug)]
pub struct MemoryStore {
    clock: SharedClock,
    page_size: usize,
    max_items: usize,
    state: Mutex<State>,
}

/// An item's place in its partition: its time, then its unique suffix. The order of the
/// `sk` strings (`…#<13-digit millis>#<suffix>`), without formatting one per write.
type SortKey = (u64, String);

/// The first place at or after `since_ms`.
fn first_key_at(since_ms: u64) -> SortKey {
    (since_ms, String::new())
}

#[derive(Debug, Default)]
struct State {
    /// By health id, then sort key.
    metrics: HashMap<String, BTreeMap<SortKey, MetricItem>>,
    /// By provider, then sort key.
    rate_limits: HashMap<String, BTreeMap<SortKey, RateLimitItem>>,
    /// By provider, then fingerprint: until, in epoch millis.
    cooldowns: HashMap<String, HashMap<String, u64>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            page_size: DEFAULT_MEMORY_PAGE_SIZE,
            max_items: DEFAULT_MEMORY_MAX_ITEMS,
            state: Mutex::new(State::default()),
        }
    }

    /// Uses `clock` for expiry.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Metrics per query page (at least 1).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Cap on items kept per partition (at least 1).
    pub fn with_max_items_per_partition(mut self, max: usize) -> Self {
        self.max_items = max.max(1);
        self
    }

    /// Items currently held (metrics plus rate-limit events), expired or not.
    pub fn len(&self) -> usize {
        let state = self.lock();
        state.metrics.values().map(BTreeMap::len).sum::<usize>()
            + state.rate_limits.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Whether the store holds no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent (each operation
        // is a plain insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `partitions[id]`, made on first use (the id is copied only then).
fn partition<'m, T>(
    partitions: &'m mut HashMap<String, BTreeMap<SortKey, T>>,
    id: &str,
) -> &'m mut BTreeMap<SortKey, T> {
    if !partitions.contains_key(id) {
        partitions.insert(id.to_owned(), BTreeMap::new());
    }
    partitions.get_mut(id).expect("inserted above")
}

/// The place of the metric whose sort key is `sk` (`METRIC#<13-digit millis>#<suffix>`).
fn metric_sort_key(sk: &str) -> Option<SortKey> {
    let (millis, unique) = sk.strip_prefix(METRIC_SK_PREFIX)?.split_once('#')?;
    Some((millis.parse().ok()?, unique.to_owned()))
}

/// Drops expired items from the front (oldest) of a partition and caps its size.
fn prune<T>(items: &mut BTreeMap<SortKey, T>, max: usize, expired: impl Fn(&T) -> bool) {
    while let Some(entry) = items.first_entry() {
        if expired(entry.get()) || items.len() > max {
            items.pop_first();
        } else {
            break;
        }
    }
}

impl HealthStore for MemoryStore {
    fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
        let now = self.clock.now();
        let mut state = self.lock();
        for item in items {
            match item {
                HealthItem::Metric(m) => {
                    let part = partition(&mut state.metrics, &m.health_id);
                    part.insert((m.at_ms, m.unique.clone()), m.clone());
                    prune(part, self.max_items, |i| i.is_expired(now));
                }
                HealthItem::RateLimit(r) => {
                    let part = partition(&mut state.rate_limits, &r.provider);
                    part.insert((r.at_ms, r.unique.clone()), r.clone());
                    prune(part, self.max_items, |i| i.is_expired(now));
                }
            }
        }
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn query_metrics<'a>(
        &'a self,
        health_id: &'a str,
        since: SystemTime,
        cursor: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage> {
        let now = self.clock.now();
        let floor = first_key_at(epoch_millis(since));
        let state = self.lock();
        let page = match state.metrics.get(health_id) {
            None => MetricPage {
                items: Vec::new(),
                next: None,
            },
            Some(part) => {
                let upper = match &cursor {
                    // A cursor this store did not make, or one from before `since`, reads as
                    // "nothing older".
                    Some(PageCursor(sk)) => std::ops::Bound::Excluded(
                        metric_sort_key(sk)
                            .filter(|key| *key > floor)
                            .unwrap_or_else(|| floor.clone()),
                    ),
                    None => std::ops::Bound::Unbounded,
                };
                let mut iter = part
                    .range((std::ops::Bound::Included(floor), upper))
                    .rev()
                    .map(|(_, item)| item)
                    .filter(|item| !item.is_expired(now));
                let items: Vec<MetricItem> = iter.by_ref().take(self.page_size).cloned().collect();
                let next = if items.len() == self.page_size && iter.next().is_some() {
                    items.last().map(|last| PageCursor(last.sk()))
                } else {
                    None
                };
                MetricPage { items, next }
            }
        };
        Box::pin(std::future::ready(Ok(page)))
    }

    fn query_rate_limits<'a>(
        &'a self,
        provider: &'a str,
        since: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>> {
        let now = self.clock.now();
        let floor = first_key_at(epoch_millis(since));
        let state = self.lock();
        let items = state
            .rate_limits
            .get(provider)
            .map(|part| {
                part.range(floor..)
                    .rev()
                    .map(|(_, item)| item)
                    .filter(|item| !item.is_expired(now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(items)))
    }

    fn publish_cooldown<'a>(
        &'a self,
        provider: &'a str,
        key_fingerprint: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, bool> {
        let now_ms = epoch_millis(self.clock.now());
        let until_ms = epoch_millis(until);
        let mut state = self.lock();
        let part = state.cooldowns.entry(provider.to_owned()).or_default();
        part.retain(|_, until| *until > now_ms);
        let written = match part.get_mut(key_fingerprint) {
            Some(existing) if *existing >= until_ms => false,
            Some(existing) => {
                *existing = until_ms;
                true
            }
            None => {
                part.insert(key_fingerprint.to_owned(), until_ms);
                true
            }
        };
        Box::pin(std::future::ready(Ok(written)))
    }

    fn active_cooldowns<'a>(
        &'a self,
        provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
        let now_ms = epoch_millis(self.clock.now());
        let state = self.lock();
        let mut active: Vec<(String, SystemTime)> = state
            .cooldowns
            .get(provider)
            .map(|part| {
                part.iter()
                    .filter(|(_, until)| **until > now_ms)
                    .map(|(fp, until)| (fp.clone(), from_epoch_millis(*until)))
                    .collect()
            })
            .unwrap_or_default();
        active.sort();
        Box::pin(std::future::ready(Ok(active)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_like_the_sort_key_strings_they_stand_for() {
        let items = [
            (1_700_000_000_000, "abc0de000002"),
            (1_700_000_000_000, "abc0de000010"),
            (1_700_000_000_001, "000000000000"),
            (999, "ffffffffffff"),
        ];
        let sk = |(at_ms, unique): (u64, &str)| format!("{METRIC_SK_PREFIX}{at_ms:013}#{unique}");
        let mut by_string: Vec<_> = items.iter().map(|i| sk(*i)).collect();
        by_string.sort();
        let mut by_key: Vec<SortKey> = items.iter().map(|(t, u)| (*t, (*u).to_owned())).collect();
        by_key.sort();
        let back: Vec<String> = by_key.iter().map(|(t, u)| sk((*t, u))).collect();
        assert_eq!(back, by_string);
        // A page cursor (the last sort key read) comes back to the same place.
        for key in &by_key {
            assert_eq!(metric_sort_key(&sk((key.0, &key.1))).as_ref(), Some(key));
        }
        assert_eq!(metric_sort_key("EVENT#0000000000999#x"), None);
        // A floor sorts before every item of its millisecond.
        assert!(first_key_at(1_700_000_000_000) < by_key[1]);
        assert!(first_key_at(1_700_000_000_001) > by_key[2]);
    }
}
