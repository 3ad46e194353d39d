//! Reading keys and base URLs from the process environment. One test in its own binary: it
//! sets environment variables, which no other thread of this process may read meanwhile.

mod runtime_common;

use media_sdk::Error;
use media_sdk::Sdk;
use media_sdk::keys::{KeyPool, KeyState, fingerprint};
use media_sdk::spec::{KeySource, ProviderSpec};
use runtime_common::OPENAI;

static ENV_PROVIDER: ProviderSpec = ProviderSpec {
    id: "envtest",
    base_url: "https://api.example.invalid",
    base_url_env: "MEDIA_SDK_RUNTIME_TEST_BASE_URL",
    keys: KeySource {
        env: "MEDIA_SDK_RUNTIME_TEST_KEYS",
        legacy_env: Some("MEDIA_SDK_RUNTIME_TEST_KEY"),
        recommended_min: 1,
        recommended_max: 3,
        ..OPENAI.keys
    },
    ..OPENAI
};

fn set(name: &str, value: Option<&str>) {
    // SAFETY: this test binary runs this single test; no other thread reads the environment.
    unsafe {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
}

fn build(strict: bool) -> media_sdk::Result<Sdk> {
    Sdk::builder()
        .providers(&[&ENV_PROVIDER])
        .strict(strict)
        .build()
}

#[test]
fn keys_and_base_url_come_from_the_environment() {
    let (plural, legacy, base) = (
        ENV_PROVIDER.keys.env,
        ENV_PROVIDER.keys.legacy_env.unwrap(),
        ENV_PROVIDER.base_url_env,
    );
    set(plural, None);
    set(legacy, None);
    set(base, None);

    // Nothing set: lenient build, strict failure naming both variables.
    let sdk = build(false).unwrap();
    let client = sdk.provider("envtest").unwrap();
    assert!(client.pool().is_empty());
    assert_eq!(client.base_url(), "https://api.example.invalid");
    let error = build(true).unwrap_err();
    assert!(matches!(error, Error::NoKeys { .. }));
    assert_eq!(
        error.to_string(),
        "no keys configured for envtest: set MEDIA_SDK_RUNTIME_TEST_KEYS or MEDIA_SDK_RUNTIME_TEST_KEY"
    );

    // Legacy only, then the plural variable wins.
    set(legacy, Some(" sk-legacy "));
    assert_eq!(
        KeyPool::from_env(&ENV_PROVIDER).unwrap().fingerprints(),
        [fingerprint("sk-legacy")]
    );
    set(plural, Some("sk-1, sk-2,sk-1"));
    let sdk = build(true).unwrap();
    let pool = sdk.provider("envtest").unwrap().pool().clone();
    assert_eq!(
        pool.fingerprints(),
        [fingerprint("sk-1"), fingerprint("sk-2")]
    );

    // Explicit keys override the environment.
    let explicit = Sdk::builder()
        .providers(&[&ENV_PROVIDER])
        .keys("envtest", ["sk-explicit"])
        .build()
        .unwrap();
    assert_eq!(
        explicit.provider("envtest").unwrap().pool().fingerprints(),
        [fingerprint("sk-explicit")]
    );

    // reload() re-reads the environment; a key still there stays quarantined, a new one is
    // available.
    pool.quarantine(&fingerprint("sk-1"), "invalid");
    set(plural, Some("sk-1,sk-3"));
    pool.reload().unwrap();
    assert_eq!(
        pool.fingerprints(),
        [fingerprint("sk-1"), fingerprint("sk-3")]
    );
    let states: Vec<KeyState> = pool.snapshot().into_iter().map(|k| k.state).collect();
    assert!(
        matches!(states[0], KeyState::Quarantined { .. }),
        "{states:?}"
    );
    assert_eq!(states[1], KeyState::Available);

    // Base URL: the builder beats the variable, which beats the spec; blank is ignored.
    set(base, Some("   "));
    assert_eq!(
        build(false)
            .unwrap()
            .provider("envtest")
            .unwrap()
            .base_url(),
        "https://api.example.invalid"
    );
    set(base, Some("http://127.0.0.1:4010/"));
    assert_eq!(
        build(false)
            .unwrap()
            .provider("envtest")
            .unwrap()
            .base_url(),
        "http://127.0.0.1:4010"
    );
    let overridden = Sdk::builder()
        .providers(&[&ENV_PROVIDER])
        .base_url("envtest", "http://127.0.0.1:5020")
        .build()
        .unwrap();
    assert_eq!(
        overridden.provider("envtest").unwrap().base_url(),
        "http://127.0.0.1:5020"
    );

    set(plural, None);
    set(legacy, None);
    set(base, None);
}
