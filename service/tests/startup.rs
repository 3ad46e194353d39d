//! The `media-api` binary refuses to start without user tokens, saying what to set.

use std::process::Command;

#[test]
fn media_api_refuses_to_start_without_tokens() {
    let output = Command::new(env!("CARGO_BIN_EXE_media-api"))
        .args(["--addr", "127.0.0.1:0"])
        .env_remove("MEDIA_API_TOKENS")
        .output()
        .expect("media-api runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no user tokens configured"), "{stderr}");
    assert!(stderr.contains("MEDIA_API_TOKENS"), "{stderr}");
    assert!(output.stdout.is_empty(), "it must not listen: {output:?}");
}
