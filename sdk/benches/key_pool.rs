//! Key pool throughput: `KeyPool::select` plus dropping the lease (the release), on one thread
//! and on two threads sharing the pool.
//!
//! The path takes no lock: `select` loads the slot list from an `ArcSwap` and reads atomics
//! (cursor, cool-down, in-flight counter); the lease bumps and drops an in-flight counter and
//! an `Arc`. Two threads therefore contend only on cache lines, never on a mutex.
//!
//! The two-thread figure is the time per operation of the pair (wall time of both threads
//! divided by the operations of both), so `1e9 / ns` is the combined operations per second.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use media_sdk::keys::KeyPool;
use media_sdk::openai;

fn pool() -> KeyPool {
    KeyPool::from_keys(
        &openai::PROVIDER,
        (0..4).map(|i| format!("sk-bench-pool-{i:04}")),
    )
    .expect("a valid pool")
}

fn select_release(pool: &KeyPool) {
    let lease = pool.select().expect("a key is available");
    black_box(lease.fingerprint());
    drop(lease);
}

fn key_pool(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_pool");
    group.throughput(Throughput::Elements(1));

    let shared = pool();
    group.bench_function("select_release_1_thread", |b| {
        b.iter(|| select_release(&shared))
    });

    let shared = pool();
    group.bench_function("select_release_2_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(2);
            let barrier = Barrier::new(2);
            let elapsed = std::thread::scope(|scope| {
                let worker = scope.spawn(|| {
                    barrier.wait();
                    for _ in 0..per_thread {
                        select_release(&shared);
                    }
                });
                barrier.wait();
                let started = Instant::now();
                for _ in 0..per_thread {
                    select_release(&shared);
                }
                worker.join().expect("worker thread");
                started.elapsed()
            });
            // Both threads did `per_thread` operations: time per operation of the pair.
            let total_ops = per_thread * 2;
            Duration::from_nanos(
                u64::try_from(elapsed.as_nanos() * u128::from(iters) / u128::from(total_ops))
                    .unwrap_or(u64::MAX),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, key_pool);
criterion_main!(benches);
