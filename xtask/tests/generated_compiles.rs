//! The generated code compiles, warnings denied: the clients and simulator routes of every
//! edge-case spec (`tests/specs/*.yaml`) and of `providers.yaml`, rendered fresh, in one
//! scratch workspace checked by one `cargo check` (as progenitor does).
//!
//! The scratch workspace holds a copy of `sdk/` and one of `sim/`: manifests rebuilt from
//! `cargo metadata` (path dependencies absolute, the workspace's profiles and lock file, so
//! dependencies are shared with the workspace's own builds), `src/` copied, then
//!
//! - `sdk/src/generated/` and `sim/src/providers.rs` replaced by what the generator renders now
//!   for `providers.yaml` with the provider of `tests/fixtures/appended_tts_provider.yaml`
//!   appended (a superset of the real spec: every real provider and capability, plus one TTS
//!   provider added by YAML alone; the runtime uses those types; the checked-in copies are
//!   `checked_in_output_is_up_to_date`'s concern, and `cargo check` of the workspace compiles
//!   them),
//! - each edge-case spec's client modules under `media_sdk::edge_cases::<spec>`, its providers
//!   re-exported at the root where its simulator routes look for them
//!   (`media_sdk::<provider>::<Request>`), and its routes under
//!   `media_sdk_sim::edge_cases::<spec>`,
//! - `#![deny(warnings)]` on every generated module, and only there: no `RUSTFLAGS`, so the
//!   shared dependencies keep their fingerprints.
//!
//! It lives at a stable path in the target directory (`CARGO_TARGET_TMPDIR`) and a file is only
//! rewritten when its content changes: a second run costs cargo's freshness check, and repeated
//! runs do not pile up artifacts in the shared target directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value as Json;

/// The packages copied into the scratch workspace, and the directory each is copied to.
const COPIED: [(&str, &str); 2] = [("media-sdk", "sdk"), ("media-sdk-sim", "sim")];

/// Added to every generated module compiled here: a warning in generated code is a failure.
const DENY_WARNINGS: &str = "#![deny(warnings)]\n";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

#[test]
fn generated_code_of_every_spec_compiles_without_warnings() {
    let root = root();
    // `<target>/tmp`: the target directory this test was built in, which the scratch workspace
    // shares (`CARGO_TARGET_DIR` or `build.target-dir` if set, else `<workspace>/target`).
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp
        .parent()
        .expect("CARGO_TARGET_TMPDIR is in the target directory");
    let scratch = tmp.join("codegen-check");
    fs::create_dir_all(&scratch).expect("create the scratch directory");
    // Two runs at once (two `cargo test`s sharing a target directory) take turns.
    let lock = fs::File::create(scratch.with_extension("lock")).expect("create the lock file");
    lock.lock().expect("lock the scratch workspace");

    let files = scratch_files(&root);
    sync(&scratch, &files).expect("write the scratch workspace");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let output = Command::new(cargo)
        .current_dir(&scratch)
        .env("CARGO_TARGET_DIR", target)
        .args(["check", "--workspace", "--color", "never"])
        .output()
        .expect("run cargo check");
    eprintln!(
        "cargo check of {} took {:?}",
        scratch.display(),
        started.elapsed()
    );
    assert!(
        output.status.success(),
        "the generated code does not compile (scratch workspace {}):\n{}",
        scratch.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file of the scratch workspace, by path relative to it.
fn scratch_files(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let workspace = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let workspace: toml::Table = workspace.parse().expect("Cargo.toml is TOML");
    files.insert(PathBuf::from("Cargo.toml"), workspace_manifest(&workspace));
    files.insert(
        PathBuf::from("Cargo.lock"),
        fs::read_to_string(root.join("Cargo.lock")).expect("read Cargo.lock"),
    );

    let metadata = metadata(root);
    for (name, dir) in COPIED {
        let package = metadata["packages"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("`cargo metadata` lists {name}"));
        files.insert(
            Path::new(dir).join("Cargo.toml"),
            package_manifest(package, root),
        );
        copy_sources(
            &root.join(dir).join("src"),
            &Path::new(dir).join("src"),
            &mut files,
        );
    }
    // What the generator renders now replaces the checked-in output.
    files.retain(|path, _| {
        !path.starts_with("sdk/src/generated") && path != Path::new("sim/src/providers.rs")
    });

    let real = {
        let spec = fs::read_to_string(root.join("providers.yaml")).expect("read providers.yaml");
        let fragment =
            fs::read_to_string(root.join("xtask/tests/fixtures/appended_tts_provider.yaml"))
                .expect("read the appended provider fixture");
        let spec = xtask::fixture::append(&spec, &fragment)
            .unwrap_or_else(|e| panic!("append the fixture provider: {e}"));
        xtask::render("providers.yaml", &spec)
            .unwrap_or_else(|e| panic!("providers.yaml with the appended provider is valid:\n{e}"))
    };
    for file in real.files {
        let content = match file.name.as_str() {
            "mod.rs" => format!("{DENY_WARNINGS}{}", file.content),
            _ => file.content,
        };
        files.insert(Path::new("sdk/src/generated").join(file.name), content);
    }
    files.insert(
        PathBuf::from("sim/src/providers.rs"),
        format!("{DENY_WARNINGS}{}", real.sim.content),
    );

    edge_cases(root, &mut files);
    files
}

/// Adds the edge-case specs: `media_sdk::edge_cases::<spec>` and
/// `media_sdk_sim::edge_cases::<spec>`, each provider re-exported at `media_sdk`'s root.
fn edge_cases(root: &Path, files: &mut BTreeMap<PathBuf, String>) {
    let specs = root.join("xtask/tests/specs");
    let mut names: Vec<String> = fs::read_dir(&specs)
        .expect("list the edge-case specs")
        .map(|entry| entry.expect("directory entry").file_name())
        .filter_map(|name| name.to_str()?.strip_suffix(".yaml").map(str::to_owned))
        .collect();
    names.sort();

    let doc = "//! The generated code of xtask's edge-case specs (`xtask/tests/specs`), one module per spec.\n";
    let mut sdk_mod = format!("{doc}{DENY_WARNINGS}\n");
    let mut sim_mod = sdk_mod.clone();
    let mut reexports = String::new();
    let mut providers = BTreeMap::<String, String>::new();
    for spec in &names {
        let rendered = render(&specs.join(format!("{spec}.yaml")), &format!("{spec}.yaml"));
        for file in rendered.files {
            if let Some(provider) = file
                .name
                .strip_suffix(".rs")
                .filter(|&m| m != "mod" && m != "capabilities")
            {
                if let Some(other) = providers.insert(provider.to_owned(), spec.clone()) {
                    panic!("provider `{provider}` is in both {other}.yaml and {spec}.yaml");
                }
                let real = Path::new("sdk/src/generated").join(&file.name);
                assert!(
                    !files.contains_key(&real),
                    "provider `{provider}` of {spec}.yaml is also in providers.yaml"
                );
                reexports.push_str(&format!("pub use edge_cases::{spec}::{provider};\n"));
            }
            files.insert(
                Path::new("sdk/src/edge_cases").join(spec).join(file.name),
                file.content,
            );
        }
        files.insert(
            Path::new("sim/src/edge_cases").join(format!("{spec}.rs")),
            rendered.sim.content,
        );
        sdk_mod.push_str(&format!("pub mod {spec};\n"));
        sim_mod.push_str(&format!("pub mod {spec};\n"));
    }
    files.insert(PathBuf::from("sdk/src/edge_cases.rs"), sdk_mod);
    files.insert(PathBuf::from("sim/src/edge_cases.rs"), sim_mod);

    let added = "\n// Added by xtask/tests/generated_compiles.rs.\npub mod edge_cases;\n";
    let sdk_lib = files
        .get_mut(Path::new("sdk/src/lib.rs"))
        .expect("sdk has a lib.rs");
    sdk_lib.push_str(added);
    sdk_lib.push_str(&reexports);
    files
        .get_mut(Path::new("sim/src/lib.rs"))
        .expect("sim has a lib.rs")
        .push_str(added);
}

fn render(spec: &Path, name: &str) -> xtask::Rendered {
    let text = fs::read_to_string(spec).unwrap_or_else(|e| panic!("read {name}: {e}"));
    xtask::render(name, &text).unwrap_or_else(|e| panic!("{name} is valid:\n{e}"))
}

fn metadata(root: &Path) -> Json {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// The scratch workspace's manifest: its members, and the workspace's resolver and profiles
/// (a different profile would build every dependency a second time).
fn workspace_manifest(workspace: &toml::Table) -> String {
    let mut table = toml::Table::new();
    let mut members = toml::Table::new();
    members.insert(
        "members".into(),
        toml::Value::Array(COPIED.iter().map(|(_, dir)| (*dir).into()).collect()),
    );
    if let Some(resolver) = workspace.get("workspace").and_then(|w| w.get("resolver")) {
        members.insert("resolver".into(), resolver.clone());
    }
    table.insert("workspace".into(), members.into());
    if let Some(profile) = workspace.get("profile") {
        table.insert("profile".into(), profile.clone());
    }
    toml::to_string(&table).expect("serialize the workspace manifest")
}

/// A copied package's manifest, from its `cargo metadata` entry: the library and its normal
/// and build dependencies (no tests, examples or benches are copied), path dependencies made
/// absolute or pointed at the other copy.
///
/// A copy is named `<name>-codegen-check` (its library keeps its name): cargo then never takes
/// a copy's artifacts for the workspace package's, whatever the profiles and features.
fn package_manifest(package: &Json, root: &Path) -> String {
    let text = |v: &Json| v.as_str().expect("a string").to_owned();
    let name = text(&package["name"]);
    let mut manifest = toml::Table::new();
    let mut meta = toml::Table::new();
    meta.insert("name".into(), copy_name(&name).into());
    meta.insert("version".into(), text(&package["version"]).into());
    meta.insert("edition".into(), text(&package["edition"]).into());
    meta.insert("publish".into(), false.into());
    manifest.insert("package".into(), meta.into());
    let mut lib = toml::Table::new();
    lib.insert("name".into(), name.replace('-', "_").into());
    manifest.insert("lib".into(), lib.into());

    let features: toml::Table = package["features"]
        .as_object()
        .expect("features")
        .iter()
        .map(|(name, enables)| {
            let enables = enables.as_array().expect("a list").iter().map(text);
            let enables = enables.map(toml::Value::from).collect();
            (name.clone(), toml::Value::Array(enables))
        })
        .collect();
    manifest.insert("features".into(), features.into());

    for dep in package["dependencies"].as_array().expect("dependencies") {
        let section = match dep["kind"].as_str() {
            None => "dependencies",
            Some("build") => "build-dependencies",
            Some(_) => continue,
        };
        let name = text(&dep["name"]);
        let key = dep["rename"].as_str().unwrap_or(&name).to_owned();
        let mut spec = toml::Table::new();
        let copy = COPIED
            .iter()
            .find(|(_, dir)| dep["path"].as_str() == root.join(dir).to_str());
        match (copy, dep["path"].as_str()) {
            (Some((_, dir)), _) => {
                spec.insert("path".into(), format!("../{dir}").into());
                spec.insert("package".into(), copy_name(&name).into());
            }
            (None, Some(path)) => {
                spec.insert("path".into(), path.into());
            }
            (None, None) => {
                spec.insert("version".into(), text(&dep["req"]).into());
            }
        }
        if key != name && copy.is_none() {
            spec.insert("package".into(), name.into());
        }
        if dep["uses_default_features"] == false {
            spec.insert("default-features".into(), false.into());
        }
        let features = dep["features"].as_array().expect("features");
        if !features.is_empty() {
            let features = features.iter().map(|f| text(f).into()).collect();
            spec.insert("features".into(), toml::Value::Array(features));
        }
        if dep["optional"] == true {
            spec.insert("optional".into(), true.into());
        }
        let mut place = &mut manifest;
        if let Some(target) = dep["target"].as_str() {
            place = table_at(table_at(place, "target"), target);
        }
        table_at(place, section).insert(key, spec.into());
    }
    toml::to_string(&manifest).expect("serialize the package manifest")
}

fn copy_name(name: &str) -> String {
    format!("{name}-codegen-check")
}

fn table_at<'a>(table: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    table
        .entry(key)
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .expect("a table")
}

/// Adds every file under `from` to `files`, under `to`.
fn copy_sources(from: &Path, to: &Path, files: &mut BTreeMap<PathBuf, String>) {
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("list {}: {e}", from.display())) {
        let entry = entry.expect("directory entry");
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_sources(&path, &dest, files);
        } else {
            let content = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            files.insert(dest, content);
        }
    }
}

/// Makes `dir` hold exactly `files`, writing only the files whose content changed so cargo sees
/// the others as fresh. (Cargo trims the copied `Cargo.lock` to the scratch workspace on every
/// run; that file is in no fingerprint.)
fn sync(dir: &Path, files: &BTreeMap<PathBuf, String>) -> io::Result<()> {
    let mut existing = BTreeSet::new();
    list(dir, Path::new(""), &mut existing)?;
    for stale in existing.iter().filter(|p| !files.contains_key(*p)) {
        fs::remove_file(dir.join(stale))?;
    }
    for (path, content) in files {
        let path = dir.join(path);
        if fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            fs::create_dir_all(path.parent().expect("a file has a parent"))?;
            fs::write(&path, content)?;
        }
    }
    Ok(())
}

/// Every file under `dir`, relative to the scratch root.
fn list(dir: &Path, rel: &Path, out: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            list(&entry.path(), &rel, out)?;
        } else {
            out.insert(rel);
        }
    }
    Ok(())
}
