//! `cargo xtask serve`: the media API on the simulator, on a local address.
//!
//! Builds `media-api` (crate `media-sdk-service`) with visible progress, prints the URL, a
//! sample user token and curl lines for every route, then runs
//! `cargo run -p media-sdk-service --bin media-api -- --sim --addr <addr>` with
//! `MEDIA_API_TOKENS` set to that token (or to the caller's `MEDIA_API_TOKENS`, which is then
//! not printed). Stops with Ctrl-C.

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// The variable `media-api` reads its user tokens from.
const TOKENS_ENV: &str = "MEDIA_API_TOKENS";

/// A fresh token for this run: 64 random bits, from the standard library's hasher seeds.
fn sample_token() -> String {
    format!(
        "demo-{:016x}",
        RandomState::new().hash_one(SystemTime::now())
    )
}

/// The `cargo` arguments that run the service on the simulator at `addr`.
pub fn cargo_args(addr: SocketAddr) -> Vec<OsString> {
    [
        "run",
        "--quiet",
        "--package",
        "media-sdk-service",
        "--bin",
        "media-api",
        "--",
        "--sim",
        "--addr",
    ]
    .into_iter()
    .map(OsString::from)
    .chain([OsString::from(addr.to_string())])
    .collect()
}

/// What to try once the service listens at `base` and accepts `token`.
pub fn usage(base: &str, token: &str) -> String {
    let auth = format!("-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json'");
    [
        format!("media API on the simulator: {base}"),
        format!("user token: {token}"),
        String::new(),
        format!(
            "curl -sS -D - -o hello.mp3 {auth} -d '{{\"text\":\"Hello there\",\"voice\":\"alloy\",\"speed\":1.0}}' {base}/api/v1/media/tts"
        ),
        format!(
            "curl -sS {auth} -d '{{\"prompt\":\"A lighthouse at dawn\",\"model\":\"dall-e-3\",\"size\":\"1792x1024\",\"quality\":\"hd\"}}' {base}/api/v1/media/image"
        ),
        format!(
            "curl -sS {auth} -d '{{\"prompt\":\"A fox in the snow\",\"model\":\"kling-v1\",\"duration\":5}}' {base}/api/v1/media/video"
        ),
        format!("curl -sS {auth} {base}/api/v1/media/video/<id from the line above>   # pending, running, succeeded"),
        format!("curl -sS {base}/healthz"),
        String::new(),
    ]
    .join("\n")
}

/// Builds and runs the service on the simulator at `addr` from the workspace `root`, returning
/// its exit status.
pub fn run(root: &Path, addr: SocketAddr) -> ExitCode {
    let build = [
        "build",
        "--package",
        "media-sdk-service",
        "--bin",
        "media-api",
    ];
    if let Err(error) = xtask::build::cargo_build(root, "media-api (media-sdk-service)", &build) {
        eprintln!("{error:#}");
        return ExitCode::FAILURE;
    }
    let base = format!("http://{addr}");
    let configured = std::env::var(TOKENS_ENV)
        .ok()
        .filter(|tokens| !tokens.trim().is_empty());
    let token = match &configured {
        Some(tokens) => tokens.clone(),
        None => {
            let token = sample_token();
            println!("{}", usage(&base, &token));
            token
        }
    };
    if configured.is_some() {
        println!("{}", usage(&base, "<a token from MEDIA_API_TOKENS>"));
    }
    // Ctrl-C stops the server: a normal end.
    xtask::build::run_cargo(
        root,
        cargo_args(addr),
        &[(TOKENS_ENV, token.as_str())],
        ExitCode::SUCCESS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_media_api_on_the_simulator_at_the_address() {
        let args = cargo_args("127.0.0.1:9000".parse().unwrap());
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "run",
                "--quiet",
                "--package",
                "media-sdk-service",
                "--bin",
                "media-api",
                "--",
                "--sim",
                "--addr",
                "127.0.0.1:9000"
            ]
        );
    }

    #[test]
    fn usage_names_every_route_with_the_token() {
        let text = usage("http://127.0.0.1:8787", "demo-abc");
        for route in [
            "/api/v1/media/tts",
            "/api/v1/media/image",
            "/api/v1/media/video",
            "/healthz",
        ] {
            assert!(
                text.contains(&format!("http://127.0.0.1:8787{route}")),
                "{route}"
            );
        }
        assert!(text.contains("Authorization: Bearer demo-abc"));
        assert_ne!(sample_token(), sample_token());
    }
}
