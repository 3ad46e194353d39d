//! Admission as a component, without sockets and on tokio's paused clock: waiters are served
//! one at a time in arrival order, at the pace of the keys; a call that cannot be served in
//! time is shed at once; the queue is bounded; declared and learned limits keep a provider's
//! bucket from refusing calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::admission::{Admission, QueuePlace, Refusal, ShedReason};
use crate::keys::KeyPool;
use crate::openai;
use crate::spec::{KeyLimits, ProviderSpec};
use tokio::time::Instant;

fn spec(limits: KeyLimits) -> &'static ProviderSpec {
    Box::leak(Box::new(ProviderSpec {
        key_limits: limits,
        ..openai::PROVIDER
    }))
}

fn declared(rpm: u32, burst: u32) -> KeyLimits {
    KeyLimits {
        requests_per_minute: Some(rpm),
        burst: Some(burst),
        concurrent: None,
    }
}

/// The provider's side: a token bucket per key (capacity, refill per second), kept exact in
/// nanoseconds as the simulator keeps it. `take` answers Ok, or Err with the time until the
/// next token (a 429's hint).
#[derive(Clone)]
struct Provider {
    /// Per key: when its bucket is full again.
    full_at: Arc<Mutex<Vec<Instant>>>,
    interval: Duration,
    capacity: u32,
}

impl Provider {
    fn new(keys: usize, capacity: u32, per_sec: u32) -> Self {
        Self {
            full_at: Arc::new(Mutex::new(vec![Instant::now(); keys])),
            interval: Duration::from_secs(1) / per_sec,
            capacity,
        }
    }

    fn take(&self, key: usize) -> Result<(), Duration> {
        let mut full_at = self.full_at.lock().unwrap();
        let now = Instant::now();
        let burst = self.interval * self.capacity;
        let needed = full_at[key].max(now) + self.interval;
        if needed - now > burst {
            Err(needed - now - burst)
        } else {
            full_at[key] = needed;
            Ok(())
        }
    }
}

/// A caller waiting (until `until`) for a key of `pool`, in a task of its own.
fn waiter(
    pool: &KeyPool,
    admission: &Arc<Admission>,
    until: Instant,
) -> tokio::task::JoinHandle<Result<(), Refusal>> {
    let (pool, admission) = (pool.clone(), admission.clone());
    tokio::spawn(async move {
        admission
            .acquire(&pool, until, QueuePlace::Arrival)
            .await
            .map(drop)
    })
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_one_at_a_time_in_arrival_order_at_the_keys_pace() {
    // One key declared at 10 per second, burst 1; ten callers arrive together.
    let pool = KeyPool::from_keys(spec(declared(600, 1)), ["sk-one"]).unwrap();
    let admission = Arc::new(Admission::new(64));
    let provider = Provider::new(1, 1, 10);
    let start = Instant::now();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (pool, admission, served, provider) = (
            pool.clone(),
            admission.clone(),
            served.clone(),
            provider.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let lease = admission
                .acquire(&pool, start + Duration::from_secs(5), QueuePlace::Arrival)
                .await
                .expect("served within its budget");
            let refused = provider.take(0).is_err();
            served.lock().unwrap().push((i, start.elapsed(), refused));
            drop(lease);
        }));
        // Arrival order: each task reaches the queue before the next is spawned.
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let served = served.lock().unwrap();
    let order: Vec<usize> = served.iter().map(|(i, _, _)| *i).collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>(), "arrival order");
    for (n, (_, at, refused)) in served.iter().enumerate() {
        assert!(!refused, "call {n} drew a 429");
        assert_eq!(*at, Duration::from_millis(100) * n as u32, "call {n}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_that_cannot_be_served_in_time_is_shed_at_once() {
    let pool = KeyPool::from_keys(spec(KeyLimits::default()), ["sk-one", "sk-two"]).unwrap();
    for fp in pool.fingerprints() {
        pool.cool_down(&fp, Instant::now() + Duration::from_secs(10));
    }
    let admission = Admission::new(64);
    let start = Instant::now();
    let refusal = admission
        .acquire(&pool, start + Duration::from_secs(2), QueuePlace::Arrival)
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "did not wait");
    let Refusal::Shed { expected, reason } = refusal else {
        panic!("{refusal:?}")
    };
    assert_eq!(reason, ShedReason::WaitTooLong);
    assert_eq!(expected, Duration::from_secs(10));
    assert_eq!(admission.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_queue_is_bounded_and_callers_ahead_count() {
    // One key at 1 per second: the n-th waiter expects about n seconds.
    let pool = KeyPool::from_keys(spec(declared(60, 1)), ["sk-one"]).unwrap();
    let _first = pool.select().unwrap();
    let admission = Arc::new(Admission::new(3));
    let start = Instant::now();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(waiter(&pool, &admission, start + Duration::from_secs(60)));
        tokio::task::yield_now().await;
    }
    assert_eq!(admission.waiting(), 3);
    let full = admission
        .acquire(&pool, start + Duration::from_secs(60), QueuePlace::Arrival)
        .await
        .unwrap_err();
    assert!(
        matches!(
            full,
            Refusal::Shed {
                reason: ShedReason::QueueFull,
                ..
            }
        ),
        "{full:?}"
    );
    // A fresh queue with the same pool: three ahead at 1/s do not fit in a 2 s budget.
    let admission2 = Admission::new(16);
    let too_long = admission
        .acquire(&pool, start + Duration::from_secs(2), QueuePlace::Arrival)
        .await
        .unwrap_err();
    assert!(matches!(too_long, Refusal::Shed { .. }), "{too_long:?}");
    drop(admission2);
    for task in waiting {
        task.await.unwrap().expect("served");
    }
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_goes_away_hands_the_head_on() {
    let pool = KeyPool::from_keys(spec(declared(60, 1)), ["sk-one"]).unwrap();
    let _first = pool.select().unwrap();
    let admission = Arc::new(Admission::new(8));
    let start = Instant::now();
    let head = { waiter(&pool, &admission, start + Duration::from_secs(60)) };
    tokio::task::yield_now().await;
    let next = { waiter(&pool, &admission, start + Duration::from_secs(60)) };
    tokio::task::yield_now().await;
    assert_eq!(admission.waiting(), 2);
    head.abort();
    assert!(head.await.unwrap_err().is_cancelled());
    assert_eq!(admission.waiting(), 1);
    next.await
        .unwrap()
        .expect("the next caller became the head and was served");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

/// Offers `calls` calls over `keys` keys at `per_sec`, each taking a key through admission
/// and then the provider's bucket; a 429 teaches the key's pace and the call tries again.
/// Returns (successes, 429s, shed).
async fn drive(
    pool: &KeyPool,
    provider: &Provider,
    calls: usize,
    per_sec: f64,
    budget: Duration,
) -> (usize, usize, usize) {
    let admission = Arc::new(Admission::new(256));
    let fingerprints = pool.fingerprints();
    let counts = Arc::new(Mutex::new((0, 0, 0)));
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let (pool, admission, provider, counts, fingerprints) = (
            pool.clone(),
            admission.clone(),
            provider.clone(),
            counts.clone(),
            fingerprints.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let until = Instant::now() + budget;
            let mut place = QueuePlace::Arrival;
            loop {
                match admission.acquire(&pool, until, place).await {
                    Err(_) => {
                        counts.lock().unwrap().2 += 1;
                        return;
                    }
                    Ok(lease) => {
                        let key = fingerprints
                            .iter()
                            .position(|f| f == lease.fingerprint())
                            .unwrap();
                        match provider.take(key) {
                            Ok(()) => {
                                lease.observe_success();
                                counts.lock().unwrap().0 += 1;
                                return;
                            }
                            Err(hint) => {
                                // As the client does: the policy holds the hint in bounds.
                                counts.lock().unwrap().1 += 1;
                                let cooldown = openai::PROVIDER.retry.cooldown(Some(hint));
                                lease.cool_down(Instant::now() + cooldown);
                                lease.observe_rate_limited(cooldown);
                                place = QueuePlace::Front;
                            }
                        }
                    }
                }
            }
        }));
        tokio::time::sleep(Duration::from_secs_f64(1.0 / per_sec)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    *counts.lock().unwrap()
}

#[tokio::test(start_paused = true)]
async fn declared_limits_cost_no_429_at_their_rate() {
    // Three keys declared at the provider's real limit (20/s, burst 5); 600 calls offered at
    // 1.5 times the capacity: the SDK holds back instead of drawing 429s.
    let keys = ["sk-a", "sk-b", "sk-c"];
    let pool = KeyPool::from_keys(spec(declared(1200, 5)), keys).unwrap();
    let provider = Provider::new(3, 5, 20);
    let (ok, limited, shed) = drive(&pool, &provider, 600, 90.0, Duration::from_secs(2)).await;
    assert_eq!(limited, 0, "no 429 at all");
    assert_eq!(ok + shed, 600, "every call ends");
    assert!(ok >= 390, "served about the capacity: {ok}");
}

#[tokio::test(start_paused = true)]
async fn learned_limits_keep_429s_rare_under_overload() {
    // Nothing declared: the pace is learned from the 429s' hints.
    let keys = ["sk-a", "sk-b", "sk-c"];
    let pool = KeyPool::from_keys(spec(KeyLimits::default()), keys).unwrap();
    let provider = Provider::new(3, 5, 20);
    let (ok, limited, shed) = drive(&pool, &provider, 600, 90.0, Duration::from_secs(2)).await;
    assert_eq!(ok + shed, 600, "every call ends");
    let per_success = (ok + limited) as f64 / ok as f64;
    assert!(per_success <= 1.10, "{limited} 429s for {ok} successes");
    assert!(ok >= 370, "served close to the capacity: {ok}");
}

#[tokio::test(start_paused = true)]
async fn the_fast_path_takes_a_free_key_only_when_nobody_waits() {
    // One key, one call in flight at a time: free, taken at once; held, the fast path declines
    // (and `acquire` queues); with a caller queued, a freed key is not taken past it.
    let limits = KeyLimits {
        concurrent: Some(1),
        ..KeyLimits::default()
    };
    let pool = KeyPool::from_keys(spec(limits), ["sk-one"]).unwrap();
    let admission = Arc::new(Admission::new(8));
    let first = admission
        .try_acquire(&pool)
        .expect("a free key, nobody waiting");
    assert!(
        admission.try_acquire(&pool).is_none(),
        "the only key is held"
    );

    let queued = tokio::spawn({
        let (pool, admission) = (pool.clone(), admission.clone());
        async move {
            admission
                .acquire(
                    &pool,
                    Instant::now() + Duration::from_secs(5),
                    QueuePlace::Arrival,
                )
                .await
        }
    });
    while admission.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    drop(first);
    assert!(
        admission.try_acquire(&pool).is_none(),
        "a freed key goes to the caller already waiting"
    );
    assert!(queued.await.unwrap().is_ok(), "the waiter is served");
}
