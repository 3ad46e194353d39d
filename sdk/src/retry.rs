//! Backoff for transient failures: exponential with full jitter.
//!
//! The n-th retry (counting from 0) waits a uniformly random delay in
//! `0..=min(max_delay, base * 2^n)` ("full jitter"), which spreads retries of many clients
//! instead of synchronising them. See [`crate::client`] for which failures are retried at all.

use std::time::Duration;

use rand::Rng;

use crate::spec::RetryPolicy;

/// The upper bound of the delay before retry `retry` (0-based): `min(max_delay, base * 2^retry)`.
pub(crate) fn backoff_cap(policy: &RetryPolicy, retry: u32) -> Duration {
    let factor = 1_u64.checked_shl(retry.min(63)).unwrap_or(u64::MAX);
    let cap = policy
        .base_delay_ms
        .saturating_mul(factor)
        .min(policy.max_delay_ms);
    Duration::from_millis(cap)
}

/// Full jitter: a delay drawn uniformly from `0..=cap` in milliseconds (the delay before retry
/// `n` is `full_jitter(backoff_cap(policy, n), rng)`).
pub(crate) fn full_jitter<R: Rng + ?Sized>(cap: Duration, rng: &mut R) -> Duration {
    let cap = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=cap))
}

/// Backoff caps and full jitter.
#[cfg(test)]
mod policy_cases;
