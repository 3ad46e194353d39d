//! Key pools: several API keys per provider, spread across calls, cooled down on rate limits
//! and quarantined when unusable.
//!
//! A [`KeyPool`] is read from the provider's environment variables (see [`KeySource`]): the
//! plural variable (e.g. `OPENAI_API_KEYS`) holds a comma-separated list; when it is absent or
//! empty, the legacy single-key variable (e.g. `OPENAI_API_KEY`) is used. Keys are trimmed, empty
//! entries and duplicates dropped, order kept.
//!
//! Every key is in one of four states ([`KeyState`]): available, cooling down until an instant
//! (after a 429; it comes back by itself), set aside until the next UTC day (its
//! `keys.daily_budget` is spent, see [`KeyPool::record_success`]), or quarantined with a reason
//! (invalid key, exhausted quota; for as long as the key is configured). State lives in atomics
//! and `arc-swap`, so selecting and marking keys never takes a lock. Time is
//! [`tokio::time::Instant`], so tests drive cool-downs with tokio's paused clock; budget days
//! come from the pool's wall [`Clock`].
//!
//! # Live reload
//!
//! Keys can come from another [`KeyLoader`] than the environment (an AWS Secrets Manager secret
//! declared as `keys.source`, feature `secrets-manager`, or one of the embedder's) and be
//! re-read while calls run ([`KeyPool::replace_keys`]). Keys are identified by value: a key
//! still in the source keeps its state (cool-down, calls in flight, quarantine, pace, today's
//! spending), a new key starts fresh, a removed key drains (calls holding it finish; it is never
//! selected again). An empty read never empties a pool.
//!
//! Invariant: the secret of an [`ApiKey`] never leaves this crate except inside a request
//! header. Logs, errors, metrics and `Debug` output name a key by its [`fingerprint`].

mod budget;
pub(crate) mod reload;
#[cfg(feature = "secrets-manager")]
mod secrets;
mod source;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::health::{Alert, AlertKind, Clock};
use crate::pace::{Pace, PaceSnapshot};
pub use crate::secret::{ApiKey, fingerprint, redact_tokens};
use crate::spec::{AuthScheme, DailyBudget, KeyLimits, KeySource, ProviderSpec};
pub use budget::Spent;
use budget::{Charge, Usage};
pub use reload::{ReloadError, ReloadReport};
#[cfg(feature = "secrets-manager")]
pub use secrets::SecretsManagerLoader;
pub use source::{
    EnvLoader, KeyLoader, KeySourceError, LoadFuture, MAX_SECRET_BYTES, keys_from_secret,
};

/// Splits a comma-separated key list: entries are trimmed, empty entries and duplicates
/// dropped, first-seen order kept.
pub fn parse_key_list(raw: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if !keys.iter().any(|k| k == entry) {
            keys.push(entry.to_owned());
        }
    }
    keys
}

/// Why a configured key was kept out of its pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRejection {
    /// The key's fingerprint.
    pub fingerprint: String,
    /// Why it cannot be used.
    pub reason: &'static str,
}

impl fmt::Display for KeyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.fingerprint, self.reason)
    }
}

/// The state of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Can be selected.
    Available,
    /// Rate limited; available again at `until`.
    CoolingDown {
        /// When the key is back.
        until: Instant,
        /// Time left when the snapshot was taken.
        remaining: Duration,
    },
    /// Its daily budget is spent; available again at the next UTC midnight.
    SetAside {
        /// When the key is back (midnight UTC).
        until: SystemTime,
    },
    /// Unusable while the key is configured (a reload that drops and re-adds the same value
    /// keeps it quarantined only if it never left the pool).
    Quarantined {
        /// Why (provider code and message; never the key).
        reason: String,
    },
}

/// One key's state, named by fingerprint, as returned by [`KeyPool::snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySnapshot {
    /// The key's fingerprint.
    pub fingerprint: String,
    /// Its state.
    pub state: KeyState,
    /// Calls currently using it.
    pub in_flight: u32,
    /// What it spent today (UTC): counted only when the provider declares a daily budget.
    pub spent_today: Spent,
}

/// Why [`KeyPool::select`] found no key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The pool is empty.
    NoKeys,
    /// Every usable key is cooling down; the earliest is back at `until`.
    CoolingDown {
        /// When the earliest key is back.
        until: Instant,
    },
    /// Every usable key is held back by its pace or at its concurrency limit: none refused a
    /// call, the SDK holds back so they will not. `until` is when the earliest pacing token
    /// is ready (`None` when only concurrency limits hold: a call finishing frees a key).
    Paced {
        /// When the earliest paced key has a token.
        until: Option<Instant>,
    },
    /// Every usable key has spent its daily budget; the first is back at `until` (midnight
    /// UTC).
    OverBudget {
        /// When the keys are back.
        until: SystemTime,
    },
    /// Every key is quarantined.
    Quarantined {
        /// The quarantine reason of one of the keys.
        reason: String,
    },
}

/// One key and its mutable state. Shared by the pool and the leases handed out.
pub(crate) struct KeySlot {
    key: ApiKey,
    /// Nanoseconds since the pool's epoch before which the key is cooling down.
    cool_until: AtomicU64,
    quarantine: OnceLock<Box<str>>,
    in_flight: AtomicU32,
    /// Local pacing (see [`crate::pace`]); only locked when `paced` is set.
    pace: Mutex<Pace>,
    /// Whether `pace` limits this key (declared or learned), so unpaced keys cost no lock.
    paced: AtomicBool,
    /// Today's spending against `keys.daily_budget`.
    usage: Usage,
}

impl KeySlot {
    fn new(key: ApiKey, limits: &KeyLimits) -> Self {
        let pace = Pace::new(limits, Instant::now());
        Self {
            key,
            cool_until: AtomicU64::new(0),
            quarantine: OnceLock::new(),
            in_flight: AtomicU32::new(0),
            paced: AtomicBool::new(pace.is_paced()),
            pace: Mutex::new(pace),
            usage: Usage::default(),
        }
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When this key's pacing gives its next token (`now` for an unpaced key).
    fn ready_at(&self, now: Instant) -> Instant {
        if self.paced.load(Ordering::Acquire) {
            self.pace().ready_at(now)
        } else {
            now
        }
    }

    /// Updates the pace with `update` and marks the key paced if it now is.
    fn update_pace(&self, update: impl FnOnce(&mut Pace)) {
        let mut pace = self.pace();
        update(&mut pace);
        self.paced.store(pace.is_paced(), Ordering::Release);
    }
}

#[derive(Clone, Copy)]
enum Origin {
    Env,
    Explicit,
}

// Aligned so that the `Arc`'s reference counts, bumped by every lease, share no cache line with
// the fields every selection reads.
#[repr(align(128))]
struct PoolInner {
    provider: &'static str,
    source: KeySource,
    auth: AuthScheme,
    origin: Origin,
    epoch: Instant,
    /// `retry.max_cooldown_ms`: no cool-down lasts longer.
    max_cooldown: Duration,
    /// The spec's declared limits of one key.
    limits: KeyLimits,
    /// Woken whenever a lease is released (a concurrency-limited key may be free).
    released: Notify,
    /// This process's share of every key (`f64` bits): 1 / the processes sharing the keys.
    share: AtomicU64,
    slots: ArcSwap<Vec<Arc<KeySlot>>>,
    rejected: ArcSwap<Vec<KeyRejection>>,
    /// Round-robin start, written by every selection: on its own cache line, so selecting
    /// does not evict the fields every caller reads (`slots`, `limits`, `epoch`).
    cursor: CacheLine<AtomicUsize>,
    /// Wall clock of budget days (the system clock unless [`KeyPool::set_clock`] was called).
    clock: OnceLock<Arc<dyn Clock>>,
    /// Budget alerts raised (one per key and day), oldest first, bounded.
    alerts: Mutex<Vec<Alert>>,
}

impl PoolInner {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn wall_now(&self) -> SystemTime {
        self.clock.get().map_or_else(SystemTime::now, |c| c.now())
    }

    fn find(&self, fingerprint: &str) -> Option<Arc<KeySlot>> {
        self.slots
            .load()
            .iter()
            .find(|s| s.key.fingerprint() == fingerprint)
            .cloned()
    }

    /// Cools `slot` until `until`, held at `max_cooldown` from now whoever asks (a provider's
    /// hint, another process's shared cool-down).
    fn cool_down(&self, slot: &KeySlot, until: Instant) {
        let until = until.min(Instant::now() + self.max_cooldown);
        slot.cool_until
            .fetch_max(self.nanos(until), Ordering::AcqRel);
    }

    fn quarantine(&self, slot: &KeySlot, reason: &str) -> bool {
        let first = slot.quarantine.set(reason.into()).is_ok();
        if first {
            tracing::warn!(
                provider = self.provider,
                key = %slot.key.fingerprint(),
                reason,
                "key quarantined"
            );
        }
        first
    }
}

/// The keys of one provider. Cheap to clone (shared state).
#[derive(Clone)]
pub struct KeyPool {
    inner: Arc<PoolInner>,
}

impl fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPool")
            .field("provider", &self.inner.provider)
            .field("keys", &self.snapshot())
            .field("rejected", &self.inner.rejected.load())
            .finish()
    }
}

impl KeyPool {
    /// Reads the pool from the process environment (see the module docs).
    pub fn from_env(spec: &ProviderSpec) -> Result<Self> {
        Self::from_lookup(spec, |name| std::env::var(name).ok())
    }

    /// Reads the pool through `lookup` (an environment variable reader), for tests and embedders.
    pub fn from_lookup(
        spec: &ProviderSpec,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let keys = keys_from_lookup(&spec.keys, lookup);
        Self::build(spec, keys, Origin::Env)
    }

    /// A pool of the given keys (trimmed, empty entries and duplicates dropped), ignoring the
    /// environment.
    pub fn from_keys<I, K>(spec: &ProviderSpec, keys: I) -> Result<Self>
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        let mut list: Vec<String> = Vec::new();
        for key in keys {
            let key: String = key.into();
            let key = key.trim();
            if !key.is_empty() && !list.iter().any(|k| k == key) {
                list.push(key.to_owned());
            }
        }
        Self::build(spec, list, Origin::Explicit)
    }

    fn build(spec: &ProviderSpec, keys: Vec<String>, origin: Origin) -> Result<Self> {
        let (slots, rejected) = make_slots(spec.id, &spec.keys, spec.auth, &spec.key_limits, keys);
        let min = usize::try_from(spec.keys.recommended_min).unwrap_or(usize::MAX);
        if !slots.is_empty() && slots.len() < min {
            tracing::warn!(
                provider = spec.id,
                keys = slots.len(),
                recommended_min = spec.keys.recommended_min,
                "key pool is smaller than recommended; rate limits will fail calls sooner"
            );
        }
        Ok(Self {
            inner: Arc::new(PoolInner {
                provider: spec.id,
                source: spec.keys,
                auth: spec.auth,
                origin,
                epoch: Instant::now(),
                max_cooldown: Duration::from_millis(spec.retry.max_cooldown_ms),
                limits: spec.key_limits,
                released: Notify::new(),
                share: AtomicU64::new(1.0_f64.to_bits()),
                slots: ArcSwap::from_pointee(slots),
                rejected: ArcSwap::from_pointee(rejected),
                cursor: CacheLine(AtomicUsize::new(0)),
                clock: OnceLock::new(),
                alerts: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Configured keys that were refused at load (not usable in an HTTP header, or not an
    /// `access:secret` pair where the auth scheme needs one), by fingerprint. They are not in
    /// the pool; each was logged once at WARN.
    pub fn rejected(&self) -> Vec<KeyRejection> {
        self.inner.rejected.load().as_ref().clone()
    }

    /// The provider id.
    pub fn provider(&self) -> &'static str {
        self.inner.provider
    }

    /// Number of keys, whatever their state.
    pub fn len(&self) -> usize {
        self.inner.slots.load().len()
    }

    /// Whether the pool has no key at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fingerprints of the keys, in pool order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.inner
            .slots
            .load()
            .iter()
            .map(|s| s.key.fingerprint().to_owned())
            .collect()
    }

    /// Picks a key for one call: among the available keys, the one with the fewest calls in
    /// flight, scanning from a start index that advances on every call (round-robin on ties).
    /// A key is available when it is not quarantined, not cooling down, under its declared
    /// concurrency limit and has a pacing token (declared `limits`, the provider's
    /// `x-ratelimit-*` budget, or learned from 429s; taking the key takes the token). O(keys); lock-free for keys that are not paced. The key counts as in flight
    /// until the lease is dropped.
    pub fn select(&self) -> std::result::Result<KeyLease, Unavailable> {
        // A paced key may lose its token to a concurrent caller between the scan and the take;
        // scan again then (bounded: each retry means another caller got a key).
        for _ in 0..8 {
            match self.scan() {
                Scan::Found(slot) => {
                    if slot.paced.load(Ordering::Acquire) && !slot.pace().try_take(Instant::now()) {
                        continue;
                    }
                    return Ok(KeyLease::new(self.inner.clone(), slot));
                }
                Scan::None(unavailable) => return Err(unavailable),
            }
        }
        // Lost every race: tokens are being taken right now; look again at once.
        Err(Unavailable::Paced {
            until: Some(Instant::now()),
        })
    }

    /// Whether [`select`](Self::select) could give a key now, without taking one.
    pub(crate) fn select_peek(&self) -> std::result::Result<(), Unavailable> {
        match self.scan() {
            Scan::Found(_) => Ok(()),
            Scan::None(unavailable) => Err(unavailable),
        }
    }

    fn scan(&self) -> Scan {
        let slots = self.inner.slots.load();
        let n = slots.len();
        if n == 0 {
            return Scan::None(Unavailable::NoKeys);
        }
        let start = self.inner.cursor.0.fetch_add(1, Ordering::Relaxed) % n;
        let now_instant = Instant::now();
        let now = self.inner.nanos(now_instant);
        let concurrent = self.inner.limits.concurrent;
        let mut best: Option<(&Arc<KeySlot>, u32)> = None;
        let mut earliest: Option<u64> = None;
        let mut paced: Option<Option<Instant>> = None;
        let mut reason: Option<&str> = None;
        let mut wall: Option<SystemTime> = None;
        let mut over_budget = false;
        for offset in 0..n {
            let slot = &slots[(start + offset) % n];
            if let Some(r) = slot.quarantine.get() {
                reason.get_or_insert(r);
                continue;
            }
            if slot.usage.ever_set_aside()
                && slot
                    .usage
                    .is_set_aside(*wall.get_or_insert_with(|| self.inner.wall_now()))
            {
                over_budget = true;
                continue;
            }
            let until = slot.cool_until.load(Ordering::Acquire);
            if until > now {
                earliest = Some(earliest.map_or(until, |e| e.min(until)));
                continue;
            }
            let in_flight = slot.in_flight.load(Ordering::Relaxed);
            if concurrent.is_some_and(|c| in_flight >= c) {
                paced.get_or_insert(None);
                continue;
            }
            let ready = slot.ready_at(now_instant);
            if ready > now_instant {
                let soonest = paced.flatten().map_or(ready, |p| p.min(ready));
                paced = Some(Some(soonest));
                continue;
            }
            if best.is_none_or(|(_, b)| in_flight < b) {
                best = Some((slot, in_flight));
                if in_flight == 0 {
                    break;
                }
            }
        }
        Scan::None(match (best, paced, earliest) {
            (Some((slot, _)), _, _) => return Scan::Found(slot.clone()),
            (None, Some(until), cooling) => Unavailable::Paced {
                // A cooling key may come back before the next pacing token.
                until: match (until, cooling.map(|c| self.inner.instant(c))) {
                    (Some(p), Some(c)) => Some(p.min(c)),
                    (p, c) => p.or(c),
                },
            },
            (None, None, Some(until)) => Unavailable::CoolingDown {
                until: self.inner.instant(until),
            },
            (None, None, None) if over_budget => Unavailable::OverBudget {
                until: budget::next_utc_midnight(wall.unwrap_or_else(|| self.inner.wall_now())),
            },
            (None, None, None) => Unavailable::Quarantined {
                reason: reason.unwrap_or("quarantined").to_owned(),
            },
        })
    }

    /// Resolves when a lease of this pool is released (a key at its concurrency limit may be
    /// free again). Only wakes futures that are already waiting.
    pub(crate) fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.released.notified()
    }

    /// Sets this process's share of every key: `1 / processes` when the keys are shared by
    /// that many processes (learned through the health store, see `Sdk::sync_cooldowns`), 1
    /// when alone. Every key's pace (declared or learned) is slowed to the share.
    pub fn set_share(&self, share: f64) {
        self.inner.share.store(share.to_bits(), Ordering::Relaxed);
        for slot in self.inner.slots.load().iter() {
            slot.update_pace(|p| p.set_share(share));
        }
    }

    /// This process's share of the keys (see [`set_share`](Self::set_share)).
    pub fn share(&self) -> f64 {
        f64::from_bits(self.inner.share.load(Ordering::Relaxed))
    }

    /// Calls per second the paced keys of this pool take together (unpaced keys add nothing),
    /// for admission's wait estimates. Allocates nothing.
    pub(crate) fn paced_rate(&self) -> f64 {
        self.inner
            .slots
            .load()
            .iter()
            .filter(|s| s.paced.load(Ordering::Acquire))
            .filter_map(|s| s.pace().snapshot().rate_per_sec)
            .sum()
    }

    /// The pace of every key, by fingerprint (for sharing and display).
    pub fn paces(&self) -> Vec<(String, PaceSnapshot)> {
        self.inner
            .slots
            .load()
            .iter()
            .map(|s| (s.key.fingerprint().to_owned(), s.pace().snapshot()))
            .collect()
    }

    /// Whether some key could be selected right now.
    pub fn has_available(&self) -> bool {
        let now = self.inner.nanos(Instant::now());
        self.inner.slots.load().iter().any(|s| {
            s.quarantine.get().is_none()
                && s.cool_until.load(Ordering::Acquire) <= now
                && !(s.usage.ever_set_aside() && s.usage.is_set_aside(self.inner.wall_now()))
        })
    }

    /// The error a call reports when [`select`](Self::select) fails with `unavailable`.
    pub fn unavailable_error(&self, unavailable: Unavailable) -> Error {
        match unavailable {
            Unavailable::NoKeys => self.no_keys_error(),
            Unavailable::CoolingDown { until } => Error::RateLimited {
                provider: self.inner.provider,
                retry_after: until.saturating_duration_since(Instant::now()),
            },
            Unavailable::Paced { until } => Error::RateLimited {
                provider: self.inner.provider,
                retry_after: until.map_or(Duration::ZERO, |u| {
                    u.saturating_duration_since(Instant::now())
                }),
            },
            Unavailable::Quarantined { reason } => Error::KeysExhausted {
                provider: self.inner.provider,
                reason,
            },
            Unavailable::OverBudget { until } => Error::KeysExhausted {
                provider: self.inner.provider,
                reason: format!(
                    "every key has spent its daily budget; back at {}",
                    humantime::format_rfc3339_seconds(until)
                ),
            },
        }
    }

    /// The [`Error::NoKeys`] for this provider.
    pub fn no_keys_error(&self) -> Error {
        Error::NoKeys {
            provider: self.inner.provider,
            env: self.inner.source.env,
            legacy_env: self.inner.source.legacy_env,
            secret: self.inner.source.secrets_manager.map(|s| s.secret),
            rejected: self
                .inner
                .rejected
                .load()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// Cools the key with this fingerprint down until `until` (a later cool-down already in place
    /// is kept), held at the provider's `retry.max_cooldown_ms` from now. Used for cool-downs
    /// learnt from other processes. Returns whether the key exists.
    pub fn cool_down(&self, fingerprint: &str, until: Instant) -> bool {
        match self.inner.find(fingerprint) {
            Some(slot) => {
                self.inner.cool_down(&slot, until);
                true
            }
            None => false,
        }
    }

    /// A lease on the key with this fingerprint, whatever its state (a submitted job belongs
    /// to its key and is polled with it); `None` when the pool has no such key (it was
    /// removed by a reload).
    pub(crate) fn lease_of(&self, fingerprint: &str) -> Option<KeyLease> {
        let slot = self.inner.find(fingerprint)?;
        Some(KeyLease::new(self.inner.clone(), slot))
    }

    /// Quarantines the key with this fingerprint. Returns whether the key exists.
    pub fn quarantine(&self, fingerprint: &str, reason: &str) -> bool {
        match self.inner.find(fingerprint) {
            Some(slot) => {
                self.inner.quarantine(&slot, reason);
                true
            }
            None => false,
        }
    }

    /// The state of every key, in pool order.
    pub fn snapshot(&self) -> Vec<KeySnapshot> {
        let now = Instant::now();
        let now_nanos = self.inner.nanos(now);
        let wall = self.inner.wall_now();
        self.inner
            .slots
            .load()
            .iter()
            .map(|slot| {
                let until = slot.cool_until.load(Ordering::Acquire);
                let state = if let Some(reason) = slot.quarantine.get() {
                    KeyState::Quarantined {
                        reason: reason.to_string(),
                    }
                } else if slot.usage.is_set_aside(wall) {
                    KeyState::SetAside {
                        until: budget::next_utc_midnight(wall),
                    }
                } else if until > now_nanos {
                    let until = self.inner.instant(until);
                    KeyState::CoolingDown {
                        until,
                        remaining: until.saturating_duration_since(now),
                    }
                } else {
                    KeyState::Available
                };
                KeySnapshot {
                    fingerprint: slot.key.fingerprint().to_owned(),
                    state,
                    in_flight: slot.in_flight.load(Ordering::Relaxed),
                    spent_today: slot.usage.spent(wall),
                }
            })
            .collect()
    }

    /// Re-reads the keys from the environment for a pool made by [`from_env`](Self::from_env)
    /// or [`from_lookup`](Self::from_lookup) (an explicit pool keeps its keys) and applies them
    /// with [`replace_keys`](Self::replace_keys): unchanged keys keep their state, quarantine
    /// included. Variables without a key leave the pool as it is.
    pub fn reload(&self) -> Result<()> {
        self.reload_from_lookup(|name| std::env::var(name).ok())
    }

    /// [`reload`](Self::reload), reading environment variables through `lookup`.
    pub fn reload_from_lookup(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Origin::Env = self.inner.origin {
            let keys = keys_from_lookup(&self.inner.source, lookup);
            if let Err(refused) = self.replace_keys(keys) {
                tracing::warn!(
                    provider = self.inner.provider,
                    env = self.inner.source.env,
                    %refused,
                    "key reload kept the current pool"
                );
            }
        }
        Ok(())
    }

    /// Replaces the pool's keys with `keys` (trimmed, empty entries and duplicates dropped),
    /// identified by value: a key already in the pool keeps its slot and all of its state
    /// (cool-down, calls in flight, quarantine, pace, today's spending); a new key starts
    /// fresh; a key no longer listed is never selected again, and the calls holding it finish
    /// and release it normally. Keys unusable with the auth scheme are rejected as at load.
    ///
    /// A list without a usable key is refused and the pool kept: a reload never empties a
    /// pool.
    pub fn replace_keys<I, K>(&self, keys: I) -> std::result::Result<PoolReload, ReloadRefused>
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        let list = parse_key_list(
            &keys
                .into_iter()
                .map(Into::into)
                .collect::<Vec<String>>()
                .join(","),
        );
        let old = self.inner.slots.load_full();
        let mut slots = Vec::with_capacity(list.len());
        let mut rejected = Vec::new();
        let mut kept = 0;
        for secret in list {
            let fp = fingerprint(&secret);
            if let Some(previous) = old
                .iter()
                .find(|s| s.key.fingerprint() == fp && same_secret(s.key.secret(), &secret))
            {
                kept += 1;
                slots.push(previous.clone());
                continue;
            }
            let (mut fresh, mut refused) = make_slots(
                self.inner.provider,
                &self.inner.source,
                self.inner.auth,
                &self.inner.limits,
                vec![secret],
            );
            rejected.append(&mut refused);
            slots.append(&mut fresh);
        }
        if slots.is_empty() {
            return Err(ReloadRefused {
                rejected: rejected.len(),
            });
        }
        let added = slots.len() - kept;
        let removed = old.len() - kept;
        let share = self.share();
        for slot in &slots[..] {
            if !old.iter().any(|o| Arc::ptr_eq(o, slot)) {
                slot.update_pace(|p| p.set_share(share));
            }
        }
        for gone in old
            .iter()
            .filter(|o| !slots.iter().any(|s| Arc::ptr_eq(s, o)))
        {
            tracing::info!(
                provider = self.inner.provider,
                key = gone.key.fingerprint(),
                in_flight = gone.in_flight.load(Ordering::Relaxed),
                "key removed from the pool; its calls in flight finish"
            );
        }
        self.inner.slots.store(Arc::new(slots));
        self.inner.rejected.store(Arc::new(rejected));
        // A removed key may have held the concurrency limit's waiters.
        self.inner.released.notify_waiters();
        Ok(PoolReload {
            provider: self.inner.provider,
            added,
            removed,
            kept,
        })
    }

    /// Uses `clock` for budget days instead of the system clock. Only the first call counts
    /// (the `Sdk` sets it at build, see `SdkBuilder::clock`).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        let _ = self.inner.clock.set(clock);
    }

    /// The provider's daily budget per key, if declared.
    pub fn daily_budget(&self) -> Option<DailyBudget> {
        self.inner.source.daily_budget
    }

    /// Counts a successful call of `credits` by the key with this fingerprint against its daily
    /// budget (when the provider declares one). When the call uses the budget up, the key is
    /// set aside until the next UTC midnight and one [`Alert`] is raised (see
    /// [`budget_alerts`](Self::budget_alerts)) and logged at WARN.
    pub fn record_success(&self, fingerprint: &str, credits: u32) {
        let Some(budget) = self.inner.source.daily_budget else {
            return;
        };
        if let Some(slot) = self.inner.find(fingerprint) {
            let charge = slot
                .usage
                .charge(Some(budget), u64::from(credits), self.inner.wall_now());
            self.on_charge(&slot, budget, charge);
        }
    }

    /// Raises what the key with this fingerprint spent today to `fleet` (the sum over every
    /// process, read from the health store), setting it aside if that is over budget.
    pub fn observe_fleet_usage(&self, fingerprint: &str, fleet: Spent) {
        let Some(budget) = self.inner.source.daily_budget else {
            return;
        };
        if let Some(slot) = self.inner.find(fingerprint) {
            let charge = slot
                .usage
                .observe_fleet(Some(budget), fleet, self.inner.wall_now());
            self.on_charge(&slot, budget, charge);
        }
    }

    fn on_charge(&self, slot: &KeySlot, budget: DailyBudget, charge: Charge) {
        let Charge::Exhausted { spent, until } = charge else {
            return;
        };
        let (observed, threshold) = spent.measure(budget);
        let unit = match budget {
            DailyBudget::Credits(_) => "credits",
            _ => "calls",
        };
        let until_text = humantime::format_rfc3339_seconds(until).to_string();
        tracing::warn!(
            provider = self.inner.provider,
            key = slot.key.fingerprint(),
            spent = observed,
            budget = threshold,
            unit,
            until = %until_text,
            "key spent its daily budget; set aside until the next UTC day"
        );
        let alert = Alert {
            health_id: None,
            provider: self.inner.provider.to_owned(),
            kind: AlertKind::KeyBudget,
            observed: observed as f64,
            threshold: threshold as f64,
            by_health_id: Default::default(),
            description: format!(
                "{}: key {} spent its daily budget ({observed} of {threshold} {unit}); set \
                 aside until {until_text}",
                self.inner.provider,
                slot.key.fingerprint()
            ),
        };
        let mut alerts = self
            .inner
            .alerts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if alerts.len() >= MAX_ALERTS {
            alerts.remove(0);
        }
        alerts.push(alert);
    }

    /// The budget alerts raised so far (one per key and UTC day, the latest
    /// [`MAX_ALERTS`]), oldest first.
    pub fn budget_alerts(&self) -> Vec<Alert> {
        self.inner
            .alerts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Most budget alerts a pool keeps.
pub const MAX_ALERTS: usize = 100;

/// What one [`KeyPool::replace_keys`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolReload {
    /// The provider.
    pub provider: &'static str,
    /// Keys that were not in the pool.
    pub added: usize,
    /// Keys no longer in the source (they drain).
    pub removed: usize,
    /// Keys still in the source, state kept.
    pub kept: usize,
}

/// Why [`KeyPool::replace_keys`] kept the current pool: the new list had no usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the new key list has no usable key ({rejected} rejected); the current pool is kept")]
pub struct ReloadRefused {
    /// Keys of the list refused as unusable with the provider's auth scheme.
    pub rejected: usize,
}

/// Constant-time equality of two secrets of the same length (the length is not secret: the
/// fingerprints already matched).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn keys_from_lookup(source: &KeySource, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let plural = lookup(source.env)
        .map(|raw| parse_key_list(&raw))
        .unwrap_or_default();
    if !plural.is_empty() {
        return plural;
    }
    source
        .legacy_env
        .and_then(lookup)
        .map(|raw| raw.trim().to_owned())
        .filter(|k| !k.is_empty())
        .into_iter()
        .collect()
}

/// Splits `keys` into usable slots and rejections; each rejection is logged at WARN by
/// fingerprint (never the key).
fn make_slots(
    provider: &str,
    source: &KeySource,
    auth: AuthScheme,
    limits: &KeyLimits,
    keys: Vec<String>,
) -> (Vec<Arc<KeySlot>>, Vec<KeyRejection>) {
    let mut slots = Vec::with_capacity(keys.len());
    let mut rejected = Vec::new();
    for secret in keys {
        let key = ApiKey::new(secret);
        match crate::auth::unusable(auth, &key) {
            None => slots.push(Arc::new(KeySlot::new(key, limits))),
            Some(reason) => {
                tracing::warn!(
                    provider,
                    key = key.fingerprint(),
                    env = source.env,
                    reason,
                    "key rejected at load and kept out of the pool"
                );
                rejected.push(KeyRejection {
                    fingerprint: key.fingerprint().to_owned(),
                    reason,
                });
            }
        }
    }
    (slots, rejected)
}

/// A key selected for one call. Counts as in flight until dropped; marks its key on rate limits
/// and quarantine.
pub struct KeyLease {
    pool: Arc<PoolInner>,
    slot: Arc<KeySlot>,
}

impl KeyLease {
    fn new(pool: Arc<PoolInner>, slot: Arc<KeySlot>) -> Self {
        slot.in_flight.fetch_add(1, Ordering::Relaxed);
        Self { pool, slot }
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        self.slot.key.fingerprint()
    }

    /// `text` with the key, its halves, the token signed from it and any JWT-shaped token
    /// replaced (see [`ApiKey::redact`]).
    pub(crate) fn redact(&self, text: &str) -> String {
        self.slot.key.redact(text)
    }

    /// Cools the key down until `until` (a later cool-down already in place is kept), held at
    /// the provider's `retry.max_cooldown_ms` from now.
    pub fn cool_down(&self, until: Instant) {
        self.pool.cool_down(&self.slot, until);
    }

    /// Quarantines the key; returns `false` if it already was.
    pub fn quarantine(&self, reason: &str) -> bool {
        self.pool.quarantine(&self.slot, reason)
    }

    /// The provider's request budget for this key, from its `x-ratelimit-*` headers: `limit`
    /// requests, `remaining` left, full again in `reset`; calls are paced to
    /// spend it evenly.
    pub fn observe_budget(&self, limit: u32, remaining: u32, reset: Duration) {
        let reset = reset.min(self.pool.max_cooldown);
        self.slot
            .update_pace(|p| p.observe_budget(limit, remaining, reset, Instant::now()));
    }

    /// A 429 whose next token is `hint` away: the key's pace learns from it.
    pub fn observe_rate_limited(&self, hint: Duration) {
        let hint = hint.min(self.pool.max_cooldown);
        self.slot
            .update_pace(|p| p.observe_rate_limited(hint, Instant::now()));
    }

    /// A success without budget headers: a learned pace recovers a little.
    pub fn observe_success(&self) {
        if self.slot.paced.load(Ordering::Acquire) {
            self.slot.update_pace(Pace::observe_success);
        }
    }
}

/// A lease derefs to its key, so it can be presented (`auth`) and redacted like one.
impl std::ops::Deref for KeyLease {
    type Target = ApiKey;

    fn deref(&self) -> &ApiKey {
        &self.slot.key
    }
}

impl Drop for KeyLease {
    fn drop(&mut self) {
        self.slot.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.pool.limits.concurrent.is_some() {
            self.pool.released.notify_waiters();
        }
    }
}

/// A value alone on its cache line(s) (128 bytes: two lines on x86's adjacent-line prefetch).
#[repr(align(128))]
struct CacheLine<T>(T);

/// What one scan of the pool found.
enum Scan {
    Found(Arc<KeySlot>),
    None(Unavailable),
}

impl fmt::Debug for KeyLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLease")
            .field("provider", &self.pool.provider)
            .field("key", &self.slot.key.fingerprint())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_the_key_and_each_half_of_a_pair() {
        let key = ApiKey::new("sk-live-abcdef123456");
        let fp = key.fingerprint().to_owned();
        assert_eq!(
            key.redact("Incorrect API key provided: sk-live-abcdef123456."),
            format!("Incorrect API key provided: {fp}.")
        );
        let pair = ApiKey::new("access-AAAA:secret-BBBB");
        let fp = pair.fingerprint().to_owned();
        assert_eq!(
            pair.redact("issuer access-AAAA, signed with secret-BBBB"),
            format!("issuer {fp}, signed with {fp}")
        );
        let short = ApiKey::new("a");
        assert_eq!(
            short.redact("a banana"),
            "a banana",
            "too short to be a real key"
        );
    }
}
