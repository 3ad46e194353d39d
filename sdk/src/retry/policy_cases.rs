//! Backoff: exponential caps and full jitter.

use std::time::Duration;

use crate::retry::{backoff_cap, full_jitter};
use crate::spec::RetryPolicy;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The retry policy every provider of `providers.yaml` shares (the spec's defaults).
const RETRY: RetryPolicy = crate::openai::PROVIDER.retry;

#[test]
fn cap_doubles_from_base_up_to_max_delay() {
    let caps: Vec<u64> = (0..8)
        .map(|n| backoff_cap(&RETRY, n).as_millis() as u64)
        .collect();
    assert_eq!(caps, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    assert_eq!(backoff_cap(&RETRY, 63), Duration::from_millis(5000));
    assert_eq!(
        backoff_cap(&RETRY, u32::MAX),
        Duration::from_millis(5000),
        "no overflow"
    );
}

#[test]
fn delays_are_full_jitter_within_the_cap() {
    let mut rng = StdRng::seed_from_u64(7);
    for retry in 0..8 {
        let cap = backoff_cap(&RETRY, retry);
        let samples: Vec<Duration> = (0..2000)
            .map(|_| full_jitter(backoff_cap(&RETRY, retry), &mut rng))
            .collect();
        assert!(samples.iter().all(|d| *d <= cap), "retry {retry}");
        let max = samples.iter().max().unwrap();
        let min = samples.iter().min().unwrap();
        assert!(
            *max >= cap.mul_f64(0.95),
            "retry {retry}: spans up to the cap, got {max:?}"
        );
        assert!(
            *min <= cap.mul_f64(0.05),
            "retry {retry}: spans down to zero, got {min:?}"
        );
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        let half = cap / 2;
        assert!(
            mean > half.mul_f64(0.9) && mean < half.mul_f64(1.1),
            "retry {retry}: uniform, mean {mean:?} vs {half:?}"
        );
    }
}

#[test]
fn same_seed_same_delays_and_zero_base_means_no_wait() {
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..6)
            .map(|n| full_jitter(backoff_cap(&RETRY, n), &mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
    let zero = RetryPolicy {
        base_delay_ms: 0,
        ..RETRY
    };
    let mut rng = StdRng::seed_from_u64(1);
    assert!((0..10).all(|n| full_jitter(backoff_cap(&zero, n), &mut rng).is_zero()));
}
