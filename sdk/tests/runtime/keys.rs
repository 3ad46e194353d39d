//! Key pools: reading keys, fingerprints, selection, cool-downs, quarantine, reload, concurrency.

use crate::runtime_common;

use std::collections::HashMap;
use std::time::Duration;

use media_sdk::Error;
use media_sdk::keys::{ApiKey, KeyPool, KeyState, Unavailable, fingerprint, parse_key_list};
use runtime_common::{ELEVENLABS, KLING, OPENAI, capture_logs, env};
use tokio::time::Instant;

#[test]
fn key_list_is_trimmed_deduplicated_and_ordered() {
    let cases: &[(&str, &[&str])] = &[
        ("a,b,c", &["a", "b", "c"]),
        ("  sk-1 , sk-2 ,sk-3  ", &["sk-1", "sk-2", "sk-3"]),
        ("sk-2,sk-1,sk-2,sk-1", &["sk-2", "sk-1"]),
        ("sk-1,,, ,sk-2,", &["sk-1", "sk-2"]),
        ("", &[]),
        (" , ,", &[]),
        ("single", &["single"]),
    ];
    for (raw, expected) in cases {
        assert_eq!(parse_key_list(raw), *expected, "input {raw:?}");
    }
}

fn fingerprints(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| fingerprint(k)).collect()
}

#[test]
fn plural_variable_wins_over_legacy() {
    let pool = KeyPool::from_lookup(
        &OPENAI,
        env(&[
            ("OPENAI_API_KEYS", "sk-a, sk-b,sk-a,,sk-c"),
            ("OPENAI_API_KEY", "sk-legacy"),
        ]),
    )
    .unwrap();
    assert_eq!(pool.fingerprints(), fingerprints(&["sk-a", "sk-b", "sk-c"]));
}

#[test]
fn legacy_variable_is_used_when_plural_is_absent_or_empty() {
    for vars in [
        vec![("OPENAI_API_KEY", "  sk-legacy ")],
        vec![("OPENAI_API_KEYS", " , "), ("OPENAI_API_KEY", "sk-legacy")],
    ] {
        let pool = KeyPool::from_lookup(&OPENAI, env(&vars)).unwrap();
        assert_eq!(
            pool.fingerprints(),
            fingerprints(&["sk-legacy"]),
            "{vars:?}"
        );
    }
}

#[test]
fn no_keys_fails_at_first_use_naming_both_variables() {
    let pool = KeyPool::from_lookup(&OPENAI, env(&[("OPENAI_API_KEY", "  ")])).unwrap();
    assert!(pool.is_empty());
    let unavailable = pool.select().unwrap_err();
    assert_eq!(unavailable, Unavailable::NoKeys);
    let error = pool.unavailable_error(unavailable);
    assert!(matches!(
        error,
        Error::NoKeys {
            provider: "openai",
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "no keys configured for openai: set OPENAI_API_KEYS or OPENAI_API_KEY"
    );
}

#[test]
fn kling_keys_must_be_access_secret_pairs() {
    let pool = KeyPool::from_lookup(
        &KLING,
        env(&[("KLING_API_KEYS", "ak-one:sk-one, ak-two : sk-two")]),
    )
    .unwrap();
    assert_eq!(pool.len(), 2);

    for bad in [
        "plainkey-without-colon",
        ":secret-only",
        "access-only:",
        "  :  ",
    ] {
        let list = format!("ak-one:sk-one,{bad}");
        // Kept out of the pool (the good key stays usable), reported by fingerprint.
        let pool = KeyPool::from_lookup(&KLING, env(&[("KLING_API_KEYS", &list)])).unwrap();
        assert_eq!(pool.fingerprints(), vec![fingerprint("ak-one:sk-one")]);
        let rejected = pool.rejected();
        assert_eq!(rejected.len(), 1, "{bad}");
        let text = rejected[0].to_string();
        assert!(text.contains("access_key:secret_key"), "{text}");
        let trimmed = bad.trim();
        if !trimmed.is_empty() {
            assert_eq!(
                rejected[0].fingerprint,
                fingerprint(trimmed),
                "names the key"
            );
        }
        // Alone in the pool, it leaves no key: the call's error says why.
        let alone = KeyPool::from_lookup(&KLING, env(&[("KLING_API_KEYS", bad)])).unwrap();
        let error = alone.no_keys_error();
        let text = error.to_string();
        if !trimmed.is_empty() {
            assert!(matches!(error, Error::NoKeys { .. }), "{text}");
            assert!(text.contains("access_key:secret_key"), "{text}");
        }
        for part in trimmed.split(':').filter(|p| p.len() > 2) {
            assert!(!text.contains(part), "leaks {part:?}: {text}");
        }
    }
    // The same string is a fine key for a provider with another auth scheme.
    assert!(KeyPool::from_keys(&OPENAI, ["plainkey-without-colon"]).is_ok());
}

#[test]
fn fingerprint_is_short_hex_and_reveals_nothing_of_the_key() {
    let long = "sk-proj-".to_owned() + &"Zq9Wx".repeat(40);
    let keys = [
        "",
        "x",
        "k_",
        "sk",
        "sk-proj-RRtuvWXYZ0123",
        "ak-PQRS:sk-TUVW",
        "key_id:key_secret",
        long.as_str(),
    ];
    let mut seen = HashMap::new();
    for key in keys {
        let fp = fingerprint(key);
        assert_eq!(fp.len(), 10, "{fp}");
        assert!(fp.starts_with("k_"));
        assert!(
            fp[2..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(fp, fingerprint(key), "stable");
        assert_eq!(ApiKey::new(key).fingerprint(), fp);
        if key.len() >= 3 {
            assert!(!fp.contains(key));
            let chars: Vec<char> = key.chars().collect();
            for window in chars.windows(4) {
                let window: String = window.iter().collect();
                assert!(!fp.contains(&window), "{fp} contains {window:?} of the key");
            }
        }
        assert!(
            seen.insert(fp, key).is_none(),
            "distinct keys, distinct fingerprints"
        );
    }
}

#[test]
fn selection_spreads_load_round_robin() {
    let pool = KeyPool::from_keys(&OPENAI, ["sk-1", "sk-2", "sk-3"]).unwrap();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..300 {
        let lease = pool.select().unwrap();
        *counts.entry(lease.fingerprint().to_owned()).or_default() += 1;
    }
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&c| c == 100), "{counts:?}");
}

#[test]
fn selection_prefers_keys_with_fewer_calls_in_flight() {
    let pool = KeyPool::from_keys(&OPENAI, ["sk-1", "sk-2", "sk-3"]).unwrap();
    let a = pool.select().unwrap();
    let b = pool.select().unwrap();
    let c = pool.select().unwrap();
    let mut distinct = vec![a.fingerprint(), b.fingerprint(), c.fingerprint()];
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "three concurrent calls use three keys");
    assert!(pool.snapshot().iter().all(|k| k.in_flight == 1));

    let freed = b.fingerprint().to_owned();
    drop(b);
    for _ in 0..3 {
        let d = pool.select().unwrap();
        assert_eq!(d.fingerprint(), freed, "the only idle key is chosen");
    }
    drop((a, c));
    assert!(
        pool.snapshot().iter().all(|k| k.in_flight == 0),
        "leases release on drop"
    );
}

#[tokio::test(start_paused = true)]
async fn cooled_down_keys_are_skipped_and_come_back_by_themselves() {
    let pool = KeyPool::from_keys(&OPENAI, ["sk-1", "sk-2"]).unwrap();
    let [fp1, fp2] = [fingerprint("sk-1"), fingerprint("sk-2")];
    let start = Instant::now();
    assert!(pool.cool_down(&fp1, start + Duration::from_secs(10)));
    for _ in 0..5 {
        assert_eq!(pool.select().unwrap().fingerprint(), fp2);
    }
    assert!(matches!(
        pool.snapshot()[0].state,
        KeyState::CoolingDown { remaining, .. } if remaining == Duration::from_secs(10)
    ));

    pool.select()
        .unwrap()
        .cool_down(start + Duration::from_secs(30));
    assert_eq!(
        pool.select().unwrap_err(),
        Unavailable::CoolingDown {
            until: start + Duration::from_secs(10)
        }
    );
    let error = pool.unavailable_error(pool.select().unwrap_err());
    assert!(
        matches!(error, Error::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(10))
    );
    assert!(
        error
            .to_string()
            .contains("rate limited, no alternate keys")
    );

    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert!(pool.select().is_err(), "not back before its instant");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(pool.select().unwrap().fingerprint(), fp1);
    assert!(pool.has_available());

    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(
        pool.snapshot()
            .iter()
            .all(|k| k.state == KeyState::Available)
    );
}

#[tokio::test(start_paused = true)]
async fn a_shorter_cool_down_does_not_shorten_a_longer_one() {
    let pool = KeyPool::from_keys(&OPENAI, ["sk-1"]).unwrap();
    let fp = fingerprint("sk-1");
    let start = Instant::now();
    pool.cool_down(&fp, start + Duration::from_secs(10));
    pool.cool_down(&fp, start + Duration::from_secs(5));
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(pool.select().is_err());
    assert!(
        !pool.cool_down("k_00000000", start + Duration::from_secs(5)),
        "unknown key"
    );
}

#[test]
fn quarantined_keys_are_skipped_logged_once_and_exhaust_the_pool() {
    let (logs, _guard) = capture_logs();
    let pool = KeyPool::from_keys(&ELEVENLABS, ["xi-key-one", "xi-key-two"]).unwrap();
    let lease = pool.select().unwrap();
    let first = lease.fingerprint().to_owned();
    assert!(lease.quarantine("HTTP 401 (invalid_api_key): Invalid API key"));
    assert!(!lease.quarantine("again"), "second quarantine is a no-op");
    drop(lease);
    assert_eq!(logs.count("key quarantined"), 1);
    assert!(logs.text().contains(&first));

    for _ in 0..4 {
        assert_ne!(pool.select().unwrap().fingerprint(), first);
    }
    let other = fingerprint("xi-key-two");
    let other = if other == first {
        fingerprint("xi-key-one")
    } else {
        other
    };
    assert!(pool.quarantine(&other, "HTTP 401 (quota_exceeded): quota"));
    let unavailable = pool.select().unwrap_err();
    assert!(matches!(unavailable, Unavailable::Quarantined { .. }));
    let error = pool.unavailable_error(unavailable);
    assert!(matches!(
        error,
        Error::KeysExhausted {
            provider: "elevenlabs",
            ..
        }
    ));
    assert!(error.to_string().contains("quarantined"));
    let text = logs.text();
    assert!(
        !text.contains("xi-key-one") && !text.contains("xi-key-two"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_quarantines_and_cool_downs_of_unchanged_keys() {
    let lookup = env(&[("OPENAI_API_KEYS", "sk-1,sk-2")]);
    let pool = KeyPool::from_lookup(&OPENAI, &lookup).unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    pool.quarantine(&fingerprint("sk-1"), "invalid");
    pool.cool_down(&fingerprint("sk-2"), until);
    assert!(pool.select().is_err());

    pool.reload_from_lookup(&lookup).unwrap();
    let states: Vec<KeyState> = pool.snapshot().into_iter().map(|k| k.state).collect();
    assert!(
        matches!(states[0], KeyState::Quarantined { .. }),
        "{states:?}"
    );
    assert!(matches!(states[1], KeyState::CoolingDown { until: u, .. } if u == until));

    pool.reload_from_lookup(env(&[("OPENAI_API_KEYS", "sk-3")]))
        .unwrap();
    assert_eq!(pool.fingerprints(), vec![fingerprint("sk-3")]);
    pool.reload_from_lookup(env(&[])).unwrap();
    assert_eq!(
        pool.fingerprints(),
        vec![fingerprint("sk-3")],
        "an empty read never empties the pool"
    );

    let explicit = KeyPool::from_keys(&OPENAI, ["sk-9"]).unwrap();
    explicit.quarantine(&fingerprint("sk-9"), "invalid");
    explicit
        .reload_from_lookup(env(&[("OPENAI_API_KEYS", "sk-other")]))
        .unwrap();
    assert_eq!(
        explicit.fingerprints(),
        vec![fingerprint("sk-9")],
        "explicit keys stay"
    );
    assert!(
        explicit.select().is_err(),
        "a key that stays keeps its quarantine"
    );
}

#[test]
fn a_pool_below_the_recommended_size_warns_once() {
    let (logs, _guard) = capture_logs();
    KeyPool::from_keys(&OPENAI, ["sk-1"]).unwrap();
    assert_eq!(logs.count("smaller than recommended"), 1);
    assert_eq!(logs.count(" WARN "), 1);
    KeyPool::from_keys(&OPENAI, ["sk-1", "sk-2", "sk-3"]).unwrap();
    KeyPool::from_keys(&OPENAI, Vec::<String>::new()).unwrap();
    assert_eq!(logs.count("smaller than recommended"), 1);
}

#[test]
fn debug_output_never_contains_a_key() {
    let secrets = ["sk-live-SECRETVALUE1", "sk-live-SECRETVALUE2"];
    let pool = KeyPool::from_keys(&OPENAI, secrets).unwrap();
    let lease = pool.select().unwrap();
    lease.quarantine("HTTP 401 (invalid_api_key): Incorrect API key provided");
    let kling = KeyPool::from_keys(&KLING, ["ak-ACCESSVALUE:sk-SECRETVALUE3"]).unwrap();
    let rendered = [
        format!("{:?}", ApiKey::new(secrets[0])),
        format!("{pool:?}"),
        format!("{lease:?}"),
        format!("{:?}", pool.snapshot()),
        format!("{kling:?}"),
        format!("{:?}", pool.unavailable_error(Unavailable::NoKeys)),
        format!(
            "{:?}",
            KeyPool::from_keys(&KLING, ["no-pair-SECRETVALUE4"])
                .unwrap()
                .no_keys_error()
        ),
    ];
    for text in &rendered {
        assert!(!text.contains("SECRETVALUE"), "{text}");
        assert!(!text.contains("ACCESSVALUE"), "{text}");
    }
    assert!(rendered[0].contains(&fingerprint(secrets[0])));
    assert!(rendered[1].contains(&fingerprint(secrets[1])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_selection_and_marking_lose_no_key() {
    let keys: Vec<String> = (0..5).map(|i| format!("sk-concurrent-{i}")).collect();
    let pool = KeyPool::from_keys(&OPENAI, keys.clone()).unwrap();
    let tasks = 32;
    let rounds = 500;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let mut picked = 0_usize;
            let mut refused = 0_usize;
            for round in 0..rounds {
                match pool.select() {
                    Ok(lease) => {
                        picked += 1;
                        if (task + round) % 7 == 0 {
                            // Cool-downs that have already passed or pass at once: they race
                            // with selection but never take a key out for good.
                            lease.cool_down(
                                Instant::now() + Duration::from_micros((round % 3) as u64),
                            );
                        }
                        if round % 50 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    Err(Unavailable::CoolingDown { .. }) => refused += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
                if task == 0 && round % 100 == 0 {
                    pool.reload().unwrap();
                }
            }
            (picked, refused)
        }));
    }
    let mut total = 0;
    for handle in handles {
        let (picked, refused) = handle.await.unwrap();
        total += picked + refused;
    }
    assert_eq!(total, tasks * rounds);
    let snapshot = pool.snapshot();
    assert_eq!(snapshot.len(), 5);
    let fps: Vec<String> = keys.iter().map(|k| fingerprint(k)).collect();
    assert_eq!(
        snapshot
            .iter()
            .map(|k| k.fingerprint.clone())
            .collect::<Vec<_>>(),
        fps
    );
    assert!(snapshot.iter().all(|k| k.in_flight == 0), "{snapshot:?}");
    assert!(snapshot.iter().all(|k| match k.state {
        KeyState::Available => true,
        KeyState::CoolingDown { remaining, .. } => remaining <= Duration::from_micros(2),
        _ => false,
    }));
}
