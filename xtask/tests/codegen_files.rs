//! Codegen against the file system: atomic, all-or-nothing writes, `--check`, stale file
//! removal, and the JSON Schema.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::CodegenPaths;
use xtask::output::Change;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

const SPEC: &str = include_str!("specs/params.yaml");

/// A scratch workspace with the `params.yaml` edge-case spec.
fn scratch() -> (tempfile::TempDir, CodegenPaths) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = CodegenPaths::defaults(dir.path());
    fs::write(&paths.spec, SPEC).expect("write spec");
    (dir, paths)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn writes_every_file_then_nothing_on_a_second_run() {
    let (_dir, paths) = scratch();
    let first = xtask::codegen(&paths, false).expect("codegen");
    assert!(
        first.iter().all(|c| matches!(c, Change::Create(_))),
        "{first:?}"
    );
    assert_eq!(
        listing(&paths.out),
        ["capabilities.rs", "mod.rs", "store.rs"]
    );
    assert!(paths.schema.is_file());

    let second = xtask::codegen(&paths, false).expect("codegen");
    assert!(
        second.is_empty(),
        "unchanged files are not rewritten: {second:?}"
    );
    // No temporary files are left behind.
    assert_eq!(
        listing(&paths.out),
        ["capabilities.rs", "mod.rs", "store.rs"]
    );
}

#[test]
fn a_broken_spec_writes_nothing() {
    let (_dir, paths) = scratch();
    xtask::codegen(&paths, false).expect("codegen");
    let before: Vec<(String, String)> = listing(&paths.out)
        .into_iter()
        .map(|n| {
            let content = fs::read_to_string(paths.out.join(&n)).expect("read");
            (n, content)
        })
        .collect();

    // Valid YAML for the first provider but an error further down: nothing may be written.
    let broken = SPEC
        .replace("request: GetItemRequest", "request: ItemRequestV2")
        .replace("method: PUT", "method: SEND");
    fs::write(&paths.spec, broken).expect("write spec");
    let err = xtask::codegen(&paths, false).expect_err("broken spec");
    let message = err.to_string();
    assert!(
        message.contains("providers.yaml:") && message.contains("unknown method \"SEND\""),
        "{message}"
    );
    let after: Vec<(String, String)> = listing(&paths.out)
        .into_iter()
        .map(|n| {
            let content = fs::read_to_string(paths.out.join(&n)).expect("read");
            (n, content)
        })
        .collect();
    assert_eq!(before, after);
}

#[test]
fn a_spec_that_is_not_utf8_writes_nothing_and_says_where() {
    let (dir, paths) = scratch();
    fs::write(&paths.spec, b"version: 1\nproviders:\n  caf\xE9: {}\n").expect("write spec");
    let err = xtask::codegen(&paths, false).expect_err("not UTF-8");
    assert_eq!(
        err.to_string(),
        "providers.yaml:3:6: invalid UTF-8 (byte 0xE9); the spec must be UTF-8 text"
    );
    assert!(!paths.out.exists());
    assert_eq!(listing(dir.path()), ["providers.yaml"]);
}

#[test]
fn a_broken_spec_in_an_empty_workspace_creates_nothing() {
    let (dir, paths) = scratch();
    fs::write(&paths.spec, "version: 1\nproviders: [").expect("write spec");
    assert!(xtask::codegen(&paths, false).is_err());
    assert!(!paths.out.exists());
    assert!(!paths.schema.exists());
    assert_eq!(listing(dir.path()), ["providers.yaml"]);
}

#[test]
fn check_names_stale_missing_and_extra_files_and_writes_nothing() {
    let (_dir, paths) = scratch();
    xtask::codegen(&paths, false).expect("codegen");
    fs::write(paths.out.join("store.rs"), "// edited by hand\n").expect("edit");
    fs::remove_file(paths.out.join("mod.rs")).expect("remove");
    fs::write(
        paths.out.join("gone.rs"),
        "// a provider removed from the spec\n",
    )
    .expect("extra");

    let changes = xtask::codegen(&paths, true).expect("check");
    let described: Vec<String> = changes.iter().map(|c| c.describe(&paths.root)).collect();
    assert_eq!(
        described,
        [
            "extra: sdk/src/generated/gone.rs",
            "missing: sdk/src/generated/mod.rs",
            "stale: sdk/src/generated/store.rs",
        ]
    );
    // Check mode changed nothing.
    assert_eq!(
        listing(&paths.out),
        ["capabilities.rs", "gone.rs", "store.rs"]
    );
    assert_eq!(
        fs::read_to_string(paths.out.join("store.rs")).expect("read"),
        "// edited by hand\n"
    );

    // A real run fixes all three, removing the stale provider file.
    xtask::codegen(&paths, false).expect("codegen");
    assert_eq!(
        listing(&paths.out),
        ["capabilities.rs", "mod.rs", "store.rs"]
    );
    assert!(xtask::codegen(&paths, true).expect("check").is_empty());
}

#[test]
fn cli_check_fails_naming_each_file_and_the_fix() {
    let (_dir, paths) = scratch();
    let run = |check: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("codegen");
        if check {
            cmd.arg("--check");
        }
        cmd.arg("--spec")
            .arg(&paths.spec)
            .arg("--out")
            .arg(&paths.out)
            .arg("--sim")
            .arg(&paths.sim)
            .arg("--schema")
            .arg(&paths.schema);
        cmd.output().expect("run xtask")
    };
    let out = run(true);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Paths outside the workspace are shown in full.
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        format!("missing: {}", paths.schema.display()),
        format!("missing: {}", paths.out.join("capabilities.rs").display()),
        format!("missing: {}", paths.out.join("mod.rs").display()),
        format!("missing: {}", paths.out.join("store.rs").display()),
        format!("missing: {}", paths.sim.display()),
        "generated files are out of date: run `cargo xtask codegen`".to_owned(),
    ];
    assert_eq!(lines, expected, "{stderr}");
    assert!(!paths.out.exists(), "--check wrote files");

    assert!(run(false).status.success());
    let out = run(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_reports_spec_errors_as_file_line_column_lines() {
    let (_dir, paths) = scratch();
    fs::write(
        &paths.spec,
        // Two blocks (a misspelt kind stops its provider's block at the first problem).
        SPEC.replace("auth: { kind: fal_key }", "auth: { kind: carrier }")
            .replace("window_secs: 60", "window_secs: soon"),
    )
    .expect("write spec");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["codegen", "--spec"])
        .arg(&paths.spec)
        .arg("--out")
        .arg(&paths.out)
        .arg("--sim")
        .arg(&paths.sim)
        .arg("--schema")
        .arg(&paths.schema)
        .output()
        .expect("run xtask");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    let spec = paths.spec.display();
    assert_eq!(
        lines,
        [
            format!(
                "{spec}:18:18: defaults.health.window_secs: expected an unsigned integer, found \"soon\""
            ),
            format!(
                "{spec}:28:19: providers.store.auth.kind: unknown auth kind \"carrier\"; expected one of bearer, header, fal_key, kling_jwt"
            ),
        ]
    );
}

#[test]
fn the_schema_is_what_codegen_writes_and_describes_the_model() {
    let schema_text = fs::read_to_string(root().join("docs/providers.schema.json"))
        .expect("the schema is checked in");
    assert_eq!(schema_text, xtask::schema::schema_json());
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("valid JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let mut top: Vec<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    top.sort_unstable();
    assert_eq!(top, ["capabilities", "defaults", "providers", "version"]);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, ["version", "defaults", "providers"]);
    assert_eq!(schema["additionalProperties"], false);
    // The closed sets (the kinds of `media-sdk-spec`) are enumerated for editors.
    let defs = &schema["$defs"];
    assert_eq!(
        defs["Auth"]["properties"]["kind"]["$ref"],
        "#/$defs/AuthKind"
    );
    let consts = |def: &serde_json::Value| -> Vec<String> {
        def["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .map(|v| v["const"].as_str().expect("const").to_owned())
            .collect()
    };
    assert_eq!(
        consts(&defs["AuthKind"]),
        ["bearer", "header", "fal_key", "kling_jwt"]
    );
    assert_eq!(
        defs["Endpoint"]["properties"]["method"]["$ref"],
        "#/$defs/Method"
    );
    assert_eq!(
        defs["Method"]["enum"],
        serde_json::json!(["GET", "POST", "PUT", "DELETE", "PATCH"])
    );
    assert_eq!(consts(&defs["ResponseKind"]), ["json", "audio", "job"]);
    assert_eq!(consts(&defs["JobFlowKind"]), ["fal_queue", "kling_task"]);
    assert_eq!(
        consts(&defs["FallbackPolicy"]),
        ["fastest_healthy", "in_order"]
    );
    // An output is a pointer or `{ pointer, inline }`; example requests and templates are any
    // JSON.
    assert_eq!(defs["OutputSpec"]["oneOf"][0]["type"], "string");
    assert_eq!(
        defs["OutputSpec"]["oneOf"][1]["required"],
        serde_json::json!(["pointer"])
    );
    assert!(
        defs["Endpoint"]["properties"]["example_request"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("required fields' defaults"))
    );
    // Every provider key of the real spec is a property of the Provider definition.
    let provider_props = defs["Provider"]["properties"]
        .as_object()
        .expect("Provider");
    let spec = std::fs::read_to_string(root().join("providers.yaml")).expect("spec");
    let parsed = xtask::load_spec("providers.yaml", &spec).expect("valid");
    assert!(!parsed.providers.is_empty());
    for key in [
        "name",
        "description",
        "client",
        "base_url",
        "base_url_env",
        "auth",
        "keys",
        "envelope",
        "errors",
        "timeouts",
        "retry",
        "health",
        "alerts",
        "endpoints",
    ] {
        assert!(provider_props.contains_key(key), "Provider.{key} missing");
    }
}

#[test]
fn providers_yaml_points_editors_at_the_schema() {
    let spec = fs::read_to_string(root().join("providers.yaml")).expect("spec");
    assert!(
        spec.starts_with("# yaml-language-server: $schema=./docs/providers.schema.json"),
        "first line of providers.yaml"
    );
}
