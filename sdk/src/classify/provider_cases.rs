//! Classification of the real providers' responses, and reading rate-limit reset hints.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::classify::{Outcome, classify, parse_reset_duration, retry_after};
use crate::elevenlabs::PROVIDER as ELEVENLABS;
use crate::fal::PROVIDER as FAL;
use crate::kling::PROVIDER as KLING;
use crate::openai::PROVIDER as OPENAI;
use crate::spec::ProviderSpec;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

#[derive(Debug, PartialEq)]
enum Kind {
    Success,
    RateLimited,
    Quarantine,
    Busy,
    Transient,
    Fatal,
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

struct Case {
    name: &'static str,
    spec: &'static ProviderSpec,
    status: u16,
    body: &'static str,
    kind: Kind,
    code: Option<&'static str>,
    message: &'static str,
}

const fn case(
    name: &'static str,
    spec: &'static ProviderSpec,
    status: u16,
    body: &'static str,
    kind: Kind,
    code: Option<&'static str>,
    message: &'static str,
) -> Case {
    Case {
        name,
        spec,
        status,
        body,
        kind,
        code,
        message,
    }
}

#[test]
fn provider_error_bodies_are_classified_by_the_spec_rules() {
    use Kind::*;
    let cases = [
        case(
            "openai per-key rate limit rotates",
            &OPENAI,
            429,
            r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            RateLimited,
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests",
        ),
        case(
            "openai insufficient_quota arrives as 429 but quarantines",
            &OPENAI,
            429,
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            Quarantine,
            Some("insufficient_quota"),
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        case(
            "openai invalid key quarantines",
            &OPENAI,
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-proj-****abcd.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            Quarantine,
            Some("invalid_api_key"),
            "Incorrect API key provided: sk-proj-****abcd.",
        ),
        case(
            "openai null code falls back to type",
            &OPENAI,
            400,
            r#"{"error":{"message":"Invalid value for 'voice'.","type":"invalid_request_error","param":"voice","code":null}}"#,
            Fatal,
            Some("invalid_request_error"),
            "Invalid value for 'voice'.",
        ),
        case(
            "openai 500 is transient",
            &OPENAI,
            500,
            r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#,
            Transient,
            Some("server_error"),
            "The server had an error while processing your request.",
        ),
        case(
            "openai 503 without a JSON body",
            &OPENAI,
            503,
            "Service Unavailable",
            Transient,
            None,
            "Service Unavailable",
        ),
        case(
            "bare 429 without body",
            &OPENAI,
            429,
            "",
            RateLimited,
            None,
            "Too Many Requests",
        ),
        case(
            "404 without body is final",
            &OPENAI,
            404,
            "",
            Fatal,
            None,
            "Not Found",
        ),
        case(
            "403 quarantines",
            &OPENAI,
            403,
            r#"{"error":{"message":"Project does not have access","type":"invalid_request_error","param":null,"code":"unsupported_country_region_territory"}}"#,
            Quarantine,
            Some("unsupported_country_region_territory"),
            "Project does not have access",
        ),
        case(
            "fal validation error",
            &FAL,
            422,
            r#"{"detail":[{"loc":["body","prompt"],"msg":"field required","type":"value_error.missing"}]}"#,
            Fatal,
            Some("value_error.missing"),
            "field required",
        ),
        case(
            "fal 429 with a string detail",
            &FAL,
            429,
            r#"{"detail":"Rate limit exceeded"}"#,
            RateLimited,
            None,
            "Rate limit exceeded",
        ),
        case(
            "fal locked user",
            &FAL,
            403,
            r#"{"detail":"User is locked. Reason: Exhausted balance."}"#,
            Quarantine,
            None,
            "User is locked. Reason: Exhausted balance.",
        ),
        case(
            "fal credits code quarantines whatever the status",
            &FAL,
            400,
            r#"{"detail":{"status":"insufficient_credits","message":"Not enough credits"}}"#,
            Quarantine,
            Some("insufficient_credits"),
            "Not enough credits",
        ),
        case(
            "fal 502 is transient",
            &FAL,
            502,
            "<html>Bad Gateway</html>",
            Transient,
            None,
            "<html>Bad Gateway</html>",
        ),
        case(
            "kling 200 with code 1302 is a rate limit",
            &KLING,
            200,
            r#"{"code":1302,"message":"API request too fast, please slow down","request_id":"r-1"}"#,
            RateLimited,
            Some("1302"),
            "API request too fast, please slow down",
        ),
        case(
            "kling 429 concurrency limit",
            &KLING,
            429,
            r#"{"code":1303,"message":"Concurrency limit exceeded","request_id":"r-2"}"#,
            RateLimited,
            Some("1303"),
            "Concurrency limit exceeded",
        ),
        case(
            "kling auth failure",
            &KLING,
            401,
            r#"{"code":1004,"message":"Authorization is invalid","request_id":"r-3"}"#,
            Quarantine,
            Some("1004"),
            "Authorization is invalid",
        ),
        case(
            "kling balance exhausted even with HTTP 200",
            &KLING,
            200,
            r#"{"code":1102,"message":"Account balance not enough","request_id":"r-4"}"#,
            Quarantine,
            Some("1102"),
            "Account balance not enough",
        ),
        case(
            "kling 5000 is retryable",
            &KLING,
            500,
            r#"{"code":5000,"message":"Server internal error","request_id":"r-5"}"#,
            Transient,
            Some("5000"),
            "Server internal error",
        ),
        case(
            "kling 5001 in a 200 envelope is retryable",
            &KLING,
            200,
            r#"{"code":5001,"message":"Server temporarily unavailable","request_id":"r-6"}"#,
            Transient,
            Some("5001"),
            "Server temporarily unavailable",
        ),
        case(
            "kling parameter error is final",
            &KLING,
            400,
            r#"{"code":1201,"message":"Invalid request parameters","request_id":"r-7"}"#,
            Fatal,
            Some("1201"),
            "Invalid request parameters",
        ),
        case(
            "elevenlabs concurrency limit rotates",
            &ELEVENLABS,
            429,
            r#"{"detail":{"status":"too_many_concurrent_requests","message":"Too many concurrent requests"}}"#,
            RateLimited,
            Some("too_many_concurrent_requests"),
            "Too many concurrent requests",
        ),
        case(
            "elevenlabs system_busy backs off without blaming the key",
            &ELEVENLABS,
            429,
            r#"{"detail":{"status":"system_busy","message":"The system is experiencing heavy traffic"}}"#,
            Busy,
            Some("system_busy"),
            "The system is experiencing heavy traffic",
        ),
        case(
            "elevenlabs invalid key",
            &ELEVENLABS,
            401,
            r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#,
            Quarantine,
            Some("invalid_api_key"),
            "Invalid API key",
        ),
        case(
            "elevenlabs quota exceeded",
            &ELEVENLABS,
            401,
            r#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota"}}"#,
            Quarantine,
            Some("quota_exceeded"),
            "This request exceeds your quota",
        ),
        case(
            "elevenlabs validation error",
            &ELEVENLABS,
            422,
            r#"{"detail":[{"loc":["body","text"],"msg":"Field required","type":"missing"}]}"#,
            Fatal,
            Some("missing"),
            "Field required",
        ),
    ];
    for c in cases {
        let outcome = classify(
            c.spec,
            c.status,
            &HeaderMap::new(),
            &Bytes::from_static(c.body.as_bytes()),
            now(),
        );
        let (kind, failure) = match outcome {
            Outcome::Success(_) => (Kind::Success, None),
            Outcome::RateLimited { failure, .. } => (Kind::RateLimited, Some(failure)),
            Outcome::Quarantine(failure) => (Kind::Quarantine, Some(failure)),
            Outcome::Busy { failure, .. } => (Kind::Busy, Some(failure)),
            Outcome::Transient { failure, .. } => (Kind::Transient, Some(failure)),
            Outcome::Fatal(failure) => (Kind::Fatal, Some(failure)),
        };
        assert_eq!(kind, c.kind, "{}", c.name);
        let failure = failure.unwrap();
        assert_eq!(failure.status, c.status, "{}", c.name);
        assert_eq!(failure.code.as_deref(), c.code, "{}", c.name);
        assert_eq!(failure.message, c.message, "{}", c.name);
    }
}

#[test]
fn successes_pass_through_or_unwrap_the_envelope() {
    let audio = Bytes::from_static(b"ID3\x04\x00binary-mp3");
    assert_eq!(
        classify(&OPENAI, 200, &HeaderMap::new(), &audio, now()),
        Outcome::Success(audio.clone())
    );
    let submit = Bytes::from_static(
        br#"{"code":0,"message":"SUCCEED","request_id":"r-1","data":{"task_id":"t-1","task_status":"submitted"}}"#,
    );
    let Outcome::Success(payload) = classify(&KLING, 200, &HeaderMap::new(), &submit, now()) else {
        panic!("kling success");
    };
    let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"task_id": "t-1", "task_status": "submitted"})
    );
    // A provider with an envelope may still return a non-JSON body (a file): left as it is.
    assert_eq!(
        classify(&KLING, 200, &HeaderMap::new(), &audio, now()),
        Outcome::Success(audio)
    );
}

#[test]
fn long_unstructured_bodies_are_truncated() {
    let body = Bytes::from("x".repeat(1000));
    let Outcome::Fatal(failure) = classify(&OPENAI, 418, &HeaderMap::new(), &body, now()) else {
        panic!("418 is final");
    };
    assert_eq!(failure.message.chars().count(), 301);
    assert!(failure.message.ends_with('…'));
}

#[test]
fn rate_limit_reset_hints_from_every_header_form() {
    let in_30s = httpdate::fmt_http_date(now() + Duration::from_secs(30));
    let past = httpdate::fmt_http_date(now() - Duration::from_secs(30));
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<Duration>);
    let cases: Vec<Case> = vec![
        ("no headers: caller uses the default", vec![], None),
        (
            "retry-after-ms",
            vec![("retry-after-ms", "1500")],
            Some(ms(1500)),
        ),
        (
            "fractional retry-after-ms",
            vec![("retry-after-ms", "20.5")],
            Some(Duration::from_micros(20500)),
        ),
        (
            "retry-after seconds",
            vec![("retry-after", "7")],
            Some(s(7)),
        ),
        (
            "retry-after zero",
            vec![("retry-after", "0")],
            Some(Duration::ZERO),
        ),
        (
            "retry-after fractional seconds",
            vec![("retry-after", "1.5")],
            Some(ms(1500)),
        ),
        (
            "retry-after HTTP date",
            vec![("retry-after", &in_30s)],
            Some(s(30)),
        ),
        (
            "retry-after date in the past",
            vec![("retry-after", &past)],
            Some(Duration::ZERO),
        ),
        (
            "retry-after-ms wins over retry-after",
            vec![("retry-after", "9"), ("retry-after-ms", "250")],
            Some(ms(250)),
        ),
        (
            "retry-after wins over resets",
            vec![("retry-after", "3"), ("x-ratelimit-reset-requests", "1m")],
            Some(s(3)),
        ),
        (
            "negative retry-after: an unusable hint (the floor applies)",
            vec![("retry-after", "-3")],
            Some(Duration::ZERO),
        ),
        (
            "garbage retry-after: an unusable hint (the floor applies)",
            vec![("retry-after", "soon")],
            Some(Duration::ZERO),
        ),
        (
            "absurd retry-after held at MAX_HINT",
            vec![("retry-after", "1e400")],
            Some(crate::classify::MAX_HINT),
        ),
        (
            "reset requests",
            vec![
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-remaining-requests", "0"),
            ],
            Some(s(1)),
        ),
        (
            "reset tokens",
            vec![("x-ratelimit-reset-tokens", "20ms")],
            Some(ms(20)),
        ),
        (
            "the exhausted limit's reset counts",
            vec![
                ("x-ratelimit-reset-requests", "6m0s"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-tokens", "20ms"),
                ("x-ratelimit-remaining-tokens", "1000"),
            ],
            Some(s(360)),
        ),
        (
            "both exhausted: the longer",
            vec![
                ("x-ratelimit-reset-requests", "1m30.5s"),
                ("x-ratelimit-reset-tokens", "2s"),
            ],
            Some(ms(90_500)),
        ),
        (
            "neither exhausted: the shorter",
            vec![
                ("x-ratelimit-reset-requests", "3s"),
                ("x-ratelimit-remaining-requests", "5"),
                ("x-ratelimit-reset-tokens", "1s"),
                ("x-ratelimit-remaining-tokens", "10"),
            ],
            Some(s(1)),
        ),
        (
            "malformed reset ignored",
            vec![("x-ratelimit-reset-requests", "later")],
            None,
        ),
    ];
    for (name, pairs, expected) in cases {
        assert_eq!(retry_after(&headers(&pairs), now()), expected, "{name}");
    }
}

#[test]
fn a_429_carries_its_reset_hint() {
    let hint = headers(&[("retry-after", "12")]);
    let Outcome::RateLimited { cooldown, .. } = classify(&OPENAI, 429, &hint, &Bytes::new(), now())
    else {
        panic!("429 is a rate limit");
    };
    assert_eq!(cooldown, Some(Duration::from_secs(12)));
    let Outcome::RateLimited { cooldown, .. } =
        classify(&FAL, 429, &HeaderMap::new(), &Bytes::new(), now())
    else {
        panic!("429 is a rate limit");
    };
    assert_eq!(
        cooldown, None,
        "no hint: the spec's default_cooldown_ms applies"
    );
}

#[test]
fn openai_duration_strings() {
    let ms = Duration::from_millis;
    let cases: &[(&str, Option<Duration>)] = &[
        ("1s", Some(ms(1000))),
        ("6m0s", Some(ms(360_000))),
        ("20ms", Some(ms(20))),
        ("1m30.5s", Some(ms(90_500))),
        ("1h2m3s", Some(ms(3_723_000))),
        ("500us", Some(Duration::from_micros(500))),
        ("250ns", Some(Duration::from_nanos(250))),
        ("0s", Some(Duration::ZERO)),
        ("2.5", Some(ms(2500))),
        (" 7s ", Some(ms(7000))),
        ("", None),
        ("s", None),
        ("5x", None),
        ("1.2.3s", None),
        ("-1s", None),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_reset_duration(text), *expected, "{text:?}");
    }
}
