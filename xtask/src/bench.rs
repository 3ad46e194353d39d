//! `cargo xtask bench`: measures every figure of `docs/BENCHMARKS.md` in one run, prints a
//! table (or one JSON object with `--json`) and rewrites the document with the machine it ran on.
//!
//! xtask does not depend on `media-sdk` (codegen must build even when the generated code does
//! not); the runtime figures come from `cargo run --release -p media-sdk --features bench --bin
//! media-sdk-bench`, the key-pool figures from `cargo bench -p media-sdk --bench key_pool`
//! (criterion's `estimates.json`), and the codegen figures from running this very binary's
//! `codegen` command on `providers.yaml` and on a generated 200-endpoint spec.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BenchOptions {
    /// Shorter runs (the whole suite in under two minutes once built).
    pub quick: bool,
    /// Print one JSON object instead of the table.
    pub json: bool,
}

/// Runs every benchmark, writes `docs/BENCHMARKS.md` and prints the results.
pub fn run(root: &Path, options: BenchOptions) -> Result<()> {
    let started = Instant::now();
    ensure_moto(root)?;
    build_runtime_bench(root)?;
    let suite_started = Instant::now();
    let runtime = run_runtime_bench(root, options.quick)?;
    let key_pool = run_key_pool_bench(root, options.quick)?;
    let codegen = run_codegen_bench(root, options.quick)?;
    let suite_secs = suite_started.elapsed().as_secs_f64();
    let machine = machine()?;
    let summary = summarize(&runtime, &key_pool, &codegen)?;
    let report = json!({
        "mode": if options.quick { "quick" } else { "full" },
        "machine": machine,
        "suite_seconds": suite_secs,
        "total_seconds": started.elapsed().as_secs_f64(),
        "summary": summary,
        "runtime": runtime,
        "key_pool": key_pool,
        "codegen": codegen,
    });
    let mut flat = summary.as_object().cloned().unwrap_or_default();
    for (k, v) in report.as_object().into_iter().flatten() {
        if k != "summary" {
            flat.insert(k.clone(), v.clone());
        }
    }
    let flat = Value::Object(flat);
    let doc = render_doc(&flat)?;
    std::fs::write(root.join("docs/BENCHMARKS.md"), &doc).context("write docs/BENCHMARKS.md")?;
    if options.json {
        println!("{flat}");
    } else {
        println!("{}", render_table(&flat)?);
        println!("written to docs/BENCHMARKS.md");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Prerequisites.

fn moto_path(root: &Path) -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/moto_server"))
}

/// Makes sure a `moto_server` exists: `MOTO_SERVER`, else `.venv` at the workspace root,
/// created with `python3 -m venv` and `pip install 'moto[dynamodb]' flask flask-cors`.
fn ensure_moto(root: &Path) -> Result<()> {
    if moto_path(root).is_file() {
        return Ok(());
    }
    if std::env::var_os("MOTO_SERVER").is_some() {
        bail!(
            "MOTO_SERVER points at {}, which is not a file",
            moto_path(root).display()
        );
    }
    eprintln!("bench: creating .venv with moto (DynamoDB-compatible server)");
    let venv = root.join(".venv");
    status(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    status(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "moto[dynamodb]",
        "flask",
        "flask-cors",
    ]))?;
    if !moto_path(root).is_file() {
        bail!("pip finished but {} is missing", moto_path(root).display());
    }
    Ok(())
}

fn status(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command.status().with_context(|| format!("run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn runtime_bench_args() -> [&'static str; 7] {
    [
        "--release",
        "-p",
        "media-sdk",
        "--features",
        "bench",
        "--bin",
        "media-sdk-bench",
    ]
}

fn build_runtime_bench(root: &Path) -> Result<()> {
    let mut args = vec!["build"];
    args.extend(runtime_bench_args());
    crate::build::cargo_build(root, "media-sdk-bench (release)", &args)
}

// ---------------------------------------------------------------------------------------------
// Runtime figures (overhead, goodput, health).

fn run_runtime_bench(root: &Path, quick: bool) -> Result<Value> {
    eprintln!("bench: runtime figures (overhead, goodput, health writes)");
    let mut command = cargo();
    command
        .current_dir(root)
        .arg("run")
        .arg("--quiet")
        .args(runtime_bench_args())
        .arg("--")
        .stderr(Stdio::inherit());
    if quick {
        command.arg("--quick");
    }
    let output = command.output().context("run media-sdk-bench")?;
    if !output.status.success() {
        bail!("media-sdk-bench failed: {}", output.status);
    }
    serde_json::from_slice(&output.stdout).context("media-sdk-bench output is not JSON")
}

// ---------------------------------------------------------------------------------------------
// Key pool (criterion).

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn run_key_pool_bench(root: &Path, quick: bool) -> Result<Value> {
    eprintln!("bench: key pool (criterion)");
    crate::build::cargo_build(
        root,
        "the key_pool benchmark (bench profile)",
        &[
            "bench",
            "--no-run",
            "-p",
            "media-sdk",
            "--bench",
            "key_pool",
        ],
    )?;
    let mut command = cargo();
    command
        .current_dir(root)
        .args([
            "bench",
            "--quiet",
            "-p",
            "media-sdk",
            "--bench",
            "key_pool",
            "--",
        ])
        .stdout(Stdio::null());
    if quick {
        command.args(["--warm-up-time", "1", "--measurement-time", "2"]);
    }
    status(&mut command)?;
    let dir = target_dir(root).join("criterion/key_pool");
    let mut out = serde_json::Map::new();
    for (name, id) in [
        ("one_thread", "select_release_1_thread"),
        ("two_threads", "select_release_2_threads"),
    ] {
        let path = dir.join(id).join("new/estimates.json");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let estimates: Value = serde_json::from_str(&text)?;
        let ns = estimates["median"]["point_estimate"]
            .as_f64()
            .with_context(|| format!("no median in {}", path.display()))?;
        out.insert(
            name.into(),
            json!({ "ns_per_op": ns, "ops_per_sec": 1e9 / ns }),
        );
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------------------------
// Codegen timings.

/// A spec with every provider of `providers.yaml` plus a provider `big` holding `count` copies
/// of OpenAI's `speech` endpoint (renamed ids, paths, health ids, request and enum types).
pub fn large_spec(providers_yaml: &str, count: usize) -> Result<String> {
    let start = providers_yaml
        .find("\n      speech:\n")
        .context("providers.yaml has no openai speech endpoint")?
        + 1;
    let end = start
        + providers_yaml[start..]
            .find("\n      images:\n")
            .context("providers.yaml has no openai images endpoint after speech")?
        + 1;
    let block = providers_yaml[start..end].trim_end();
    let mut spec = providers_yaml.trim_end().to_owned();
    spec.push_str(
        "\n\n  big:\n    name: Big\n    client: Big\n    description: A synthetic provider for codegen timing.\n    base_url: https://big.invalid\n    base_url_env: BIG_BASE_URL\n    auth:\n      kind: bearer\n    keys:\n      env: BIG_API_KEYS\n      recommended_pool: { min: 1, max: 5 }\n    errors:\n      message: [/error/message]\n      code: [/error/code]\n    endpoints:\n",
    );
    for n in 0..count {
        let copy = block
            .replace("      speech:", &format!("      speech_{n}:"))
            .replace("health_id: openai-tts", &format!("health_id: big-{n}"))
            .replace("path: /v1/audio/speech", &format!("path: /v1/e{n}/speech"))
            .replace("SpeechRequest", &format!("Speech{n}Request"))
            .replace("name: SpeechModel", &format!("name: SpeechModel{n}"))
            .replace("name: Voice", &format!("name: Voice{n}"))
            .replace("name: SpeechFormat", &format!("name: SpeechFormat{n}"))
            .replace("name: StreamFormat", &format!("name: StreamFormat{n}"));
        spec.push_str(&copy);
        spec.push('\n');
    }
    Ok(spec)
}

fn time_codegen(root: &Path, spec: &Path, runs: usize, scratch: &Path) -> Result<Value> {
    let exe = std::env::current_exe().context("locate the xtask binary")?;
    let mut times = Vec::with_capacity(runs);
    let mut files = 0;
    for run in 0..runs {
        let out = scratch.join(format!("gen-{run}"));
        let schema = scratch.join(format!("schema-{run}.json"));
        let started = Instant::now();
        let output = Command::new(&exe)
            .current_dir(root)
            .arg("codegen")
            .arg("--spec")
            .arg(spec)
            .arg("--out")
            .arg(&out)
            .arg("--schema")
            .arg(&schema)
            .output()
            .context("run xtask codegen")?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            bail!(
                "codegen of {} failed:\n{}",
                spec.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        files = std::fs::read_dir(&out)?.count();
        times.push(elapsed);
    }
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    Ok(json!({
        "runs": runs,
        "median_ms": ms(times[times.len() / 2]),
        "min_ms": ms(times[0]),
        "max_ms": ms(times[times.len() - 1]),
        "files": files,
    }))
}

fn run_codegen_bench(root: &Path, quick: bool) -> Result<Value> {
    eprintln!("bench: codegen (providers.yaml and a 200-endpoint spec)");
    let runs = if quick { 3 } else { 7 };
    let scratch = tempfile::tempdir()?;
    let providers = root.join("providers.yaml");
    let text = std::fs::read_to_string(&providers)?;
    let endpoints = text.matches("\n        health_id:").count();
    let big = scratch.path().join("big.yaml");
    let big_text = large_spec(&text, 200)?;
    std::fs::write(&big, &big_text)?;
    let real = time_codegen(root, &providers, runs, scratch.path())?;
    let large = time_codegen(root, &big, runs, scratch.path())?;
    Ok(json!({
        "providers_yaml": real,
        "providers_yaml_endpoints": endpoints,
        "large": large,
        "large_endpoints": big_text.matches("\n        health_id:").count(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Machine, summary, table, document.

fn machine() -> Result<Value> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    Ok(json!({ "cpu": cpu, "cores": cores, "rustc": rustc, "date": date }))
}

fn get(value: &Value, pointer: &str) -> Result<Value> {
    value
        .pointer(pointer)
        .cloned()
        .with_context(|| format!("benchmark output lacks {pointer}"))
}

fn num(value: &Value, pointer: &str) -> Result<f64> {
    get(value, pointer)?
        .as_f64()
        .with_context(|| format!("{pointer} is not a number"))
}

/// The headline figures, under the names `--json` promises.
fn summarize(runtime: &Value, key_pool: &Value, codegen: &Value) -> Result<Value> {
    let o = "/overhead";
    let g = "/goodput";
    let h = "/health";
    Ok(json!({
        "overhead_median_ratio": num(runtime, &format!("{o}/median_ratio"))?,
        "overhead_median_us": num(runtime, &format!("{o}/median_added_us"))?,
        "overhead_paired_median_us": num(runtime, &format!("{o}/paired_median_added_us"))?,
        "sdk_no_telemetry_median_us": num(runtime, &format!("{o}/sdk_no_telemetry_median_us"))?,
        "sdk_median_us": num(runtime, &format!("{o}/sdk_median_us"))?,
        "sdk_p99_us": num(runtime, &format!("{o}/sdk_p99_us"))?,
        "bare_median_us": num(runtime, &format!("{o}/bare_median_us"))?,
        "bare_p99_us": num(runtime, &format!("{o}/bare_p99_us"))?,
        "goodput_fraction": num(runtime, &format!("{g}/sdk/goodput_fraction"))?,
        "caller_errors": num(runtime, &format!("{g}/sdk/caller_errors"))?,
        "naive_goodput_fraction": num(runtime, &format!("{g}/naive/goodput_fraction"))?,
        "naive_caller_errors": num(runtime, &format!("{g}/naive/caller_errors"))?,
        "single_key_goodput_fraction": num(runtime, &format!("{g}/single_key/goodput_fraction"))?,
        "single_key_caller_errors": num(runtime, &format!("{g}/single_key/caller_errors"))?,
        "key_pool_ops_per_sec_1_thread": num(key_pool, "/one_thread/ops_per_sec")?,
        "key_pool_ops_per_sec_2_threads": num(key_pool, "/two_threads/ops_per_sec")?,
        "ddb_requests_per_1000": num(runtime, &format!("{h}/ddb_requests_per_1000"))?,
        "outage_rss_growth_bytes": num(runtime, &format!("{h}/outage_rss_growth_bytes"))?,
        "outage_queue_bound_bytes": num(runtime, &format!("{h}/queue_bound_bytes"))?,
        "codegen_providers_yaml_ms": num(codegen, "/providers_yaml/median_ms")?,
        "codegen_200_endpoints_ms": num(codegen, "/large/median_ms")?,
    }))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// `(figure, value, target, verdict)` rows.
fn rows(r: &Value) -> Result<Vec<[String; 4]>> {
    let ratio = num(r, "/overhead_median_ratio")?;
    let added = num(r, "/overhead_median_us")?;
    let goodput = num(r, "/goodput_fraction")?;
    let errors = num(r, "/caller_errors")?;
    let ddb = num(r, "/ddb_requests_per_1000")?;
    let rss = num(r, "/outage_rss_growth_bytes")?;
    let bound = num(r, "/outage_queue_bound_bytes")?;
    let rt = "/runtime";
    let g = |p: &str| num(r, &format!("{rt}/goodput/{p}"));
    let pct = |f: f64| format!("{:.1}%", f * 100.0);
    let mib = |b: f64| format!("{:.2} MiB", b / (1024.0 * 1024.0));
    let outage = num(r, &format!("{rt}/health/outage_seconds"))?;
    Ok(vec![
        [
            "Overhead: median, SDK vs bare reqwest".into(),
            format!(
                "{:.1} µs vs {:.1} µs (×{ratio:.3}, +{added:.1} µs; paired +{:.1} µs)",
                num(r, "/sdk_median_us")?,
                num(r, "/bare_median_us")?,
                num(r, "/overhead_paired_median_us")?
            ),
            "≤ ×1.05 and < 50 µs".into(),
            verdict(ratio <= 1.05 && added < 50.0).into(),
        ],
        [
            "Overhead: median, SDK without telemetry".into(),
            format!("{:.1} µs", num(r, "/sdk_no_telemetry_median_us")?),
            "(attribution)".into(),
            "-".into(),
        ],
        [
            "Overhead: p99, SDK vs bare reqwest".into(),
            format!(
                "{:.1} µs vs {:.1} µs",
                num(r, "/sdk_p99_us")?,
                num(r, "/bare_p99_us")?
            ),
            "(reported)".into(),
            "-".into(),
        ],
        [
            format!(
                "Goodput, SDK ({} keys × {}/s, offered {}/s, {} s)",
                g("keys")?,
                g("per_key_rate")?,
                g("offered_rate")?,
                g("seconds")?
            ),
            format!(
                "{} of capacity, {errors} caller errors, {} still waiting at the end",
                pct(goodput),
                g("sdk/pending_at_end")?
            ),
            "≥ 95%, 0 errors".into(),
            verdict(goodput >= 0.95 && errors == 0.0).into(),
        ],
        [
            "Goodput, naive rotation (bare reqwest)".into(),
            format!(
                "{} of capacity, {} caller errors",
                pct(num(r, "/naive_goodput_fraction")?),
                num(r, "/naive_caller_errors")?
            ),
            "(baseline)".into(),
            "-".into(),
        ],
        [
            "Goodput, SDK with a single key".into(),
            format!(
                "{} of the 3-key capacity, {} caller errors",
                pct(num(r, "/single_key_goodput_fraction")?),
                num(r, "/single_key_caller_errors")?
            ),
            "(baseline)".into(),
            "-".into(),
        ],
        [
            "Goodput, SDK, 1-token buckets".into(),
            format!(
                "{} of capacity, {} caller errors",
                pct(g("sdk_bucket_1/goodput_fraction")?),
                g("sdk_bucket_1/caller_errors")?
            ),
            "(harshest case)".into(),
            "-".into(),
        ],
        [
            "Key pool select+release, 1 thread / 2 threads".into(),
            format!(
                "{:.1} M/s / {:.1} M/s ({:.0} ns / {:.0} ns per op)",
                num(r, "/key_pool_ops_per_sec_1_thread")? / 1e6,
                num(r, "/key_pool_ops_per_sec_2_threads")? / 1e6,
                num(r, "/key_pool/one_thread/ns_per_op")?,
                num(r, "/key_pool/two_threads/ns_per_op")?
            ),
            "lock-free".into(),
            "-".into(),
        ],
        [
            "Health: DynamoDB requests per 1,000 calls".into(),
            format!("{ddb:.0}"),
            "≤ 50".into(),
            verdict(ddb <= 50.0).into(),
        ],
        [
            format!("Health: RSS growth after {outage:.0} s of DynamoDB outage"),
            format!(
                "{} ({} metrics/s; {} dropped, queue full)",
                mib(rss),
                num(r, &format!("{rt}/health/outage_metrics_per_sec"))?,
                num(r, &format!("{rt}/health/outage_dropped_full"))?
            ),
            format!("≤ queue bound {}", mib(bound)),
            verdict(rss <= bound).into(),
        ],
        [
            format!(
                "Codegen: providers.yaml ({} endpoints)",
                num(r, "/codegen/providers_yaml_endpoints")?
            ),
            format!("{:.0} ms", num(r, "/codegen_providers_yaml_ms")?),
            "(reported)".into(),
            "-".into(),
        ],
        [
            format!("Codegen: {} endpoints", num(r, "/codegen/large_endpoints")?),
            format!("{:.0} ms", num(r, "/codegen_200_endpoints_ms")?),
            "(reported)".into(),
            "-".into(),
        ],
    ])
}

fn render_table(r: &Value) -> Result<String> {
    let rows = rows(r)?;
    let header = ["Figure", "Measured", "Target", "Verdict"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w - cell.chars().count();
            s.push_str(cell);
            s.extend(std::iter::repeat_n(' ', pad));
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header);
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line([&rule[0], &rule[1], &rule[2], &rule[3]]));
    for row in &rows {
        out.push('\n');
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    Ok(out)
}

fn render_doc(r: &Value) -> Result<String> {
    let m = get(r, "/machine")?;
    let text = |p: &str| {
        m.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    };
    let mut doc = String::new();
    writeln!(doc, "# Benchmarks")?;
    writeln!(doc)?;
    writeln!(
        doc,
        "Generated by `cargo xtask bench{}` — do not edit by hand; rerun it. Every figure below comes from the same run.",
        if r["mode"] == "quick" { " --quick" } else { "" }
    )?;
    writeln!(doc)?;
    writeln!(doc, "| Machine | |")?;
    writeln!(doc, "|---|---|")?;
    writeln!(doc, "| CPU | {} |", text("/cpu"))?;
    writeln!(doc, "| Cores | {} |", m["cores"])?;
    writeln!(doc, "| rustc | {} |", text("/rustc"))?;
    writeln!(doc, "| Date | {} |", text("/date"))?;
    writeln!(
        doc,
        "| Mode | {} (suite {:.0} s after the build) |",
        r["mode"].as_str().unwrap_or("?"),
        num(r, "/suite_seconds")?
    )?;
    writeln!(doc)?;
    writeln!(doc, "## Results")?;
    writeln!(doc)?;
    writeln!(doc, "| Figure | Measured | Target | Verdict |")?;
    writeln!(doc, "|---|---|---|---|")?;
    for row in rows(r)? {
        writeln!(doc, "| {} | {} | {} | {} |", row[0], row[1], row[2], row[3])?;
    }
    writeln!(doc)?;
    doc.push_str(METHOD);
    writeln!(doc)?;
    writeln!(doc, "## Raw results")?;
    writeln!(doc)?;
    writeln!(doc, "```json")?;
    writeln!(doc, "{}", serde_json::to_string_pretty(r)?)?;
    writeln!(doc, "```")?;
    Ok(doc)
}

const METHOD: &str = "## How each figure is measured

Run `cargo xtask bench` (about 3 minutes after the release build) or `cargo xtask bench --quick`
(under two minutes); `--json` prints one JSON object instead of the table. The machine is usually
shared, so absolute times move between runs; the side-by-side comparisons are what the targets
are about.

1. **Overhead** (`media-sdk-bench`, release). The simulator serves OpenAI on loopback with no
   faults and no rate limits. Each iteration makes one `sdk.openai()?.speech(..)` call (key pool,
   auth header, retry wrapper, response classification, a `HealthRecorder` on a `MemoryStore`
   as telemetry) and the same request with bare `reqwest` (same body serialized per request,
   same `Authorization` header, same `reqwest::Client`, so the same kept-alive connection);
   the order alternates every iteration so drift cancels. Reported: both medians and p99s,
   the ratio of medians, the difference of medians and the median of the per-pair differences.
   A third variant, the SDK without telemetry, runs in the same rotation to show the
   recorder's share. No `tracing` subscriber is installed (as in a service that logs at `info` without this
   crate's target, events are filtered at their call sites).
2. **Goodput under rate limits**. The simulator limits each of 3 keys with a token bucket
   (capacity 5, refill 20/s); callers offer 1.5 × 3 × 20 = 90 calls/s, open loop (a new task
   per tick whatever earlier calls are doing), for 10 s (4 s quick). Goodput is the successes
   that finished within the run divided by what the simulator admits over it
   (keys × (bucket + rate × seconds)); calls still waiting at the end are reported, not counted
   as errors. Three schemes: **the SDK** with the OpenAI spec copied (`Box::leak` of a
   modified `ProviderSpec`, since specs are `&'static`) with `max_wait_ms` and `deadline_ms`
   ten times the run and `max_attempts` 1000, so a caller queued behind a saturated pool waits
   for the next token instead of failing fast (the shipped spec waits at most 2 s and counts a
   429 with no other key free as an attempt); **naive rotation** over bare `reqwest`: one
   current key, on a 429 mark it exhausted and move to the next, and when all are marked, fail
   the call and clear the marks; **a single key** through the SDK (same patient spec), as a
   fraction of the 3-key capacity. The SDK is run once more with 1-token buckets, where any
   delay between a refill and the next request (timer granularity, wake-ups) is capacity lost.
3. **Key pool** (`cargo bench -p media-sdk --bench key_pool`, criterion). `KeyPool::select`
   plus dropping the lease, on one thread, and on two threads sharing one pool (time per
   operation of the pair). The path takes no lock: an `ArcSwap` load of the slot list and
   atomics (cursor, cool-down, in-flight count).
4. **Health writes**. `media-sdk-bench` starts `moto_server` (`MOTO_SERVER`, else
   `.venv/bin/moto_server`; `cargo xtask bench` creates the venv when missing), makes 1,000
   SDK calls (8 concurrent callers) against the simulator with a `HealthRecorder` on a
   `DynamoStore` as telemetry, flushes, and counts the recorder's `store_requests`
   (`BatchWriteItem` calls, retries included; the AWS SDK's own retries are off so that
   is the wire count). Then, on a fresh recorder, it feeds 2,000 metrics/s straight into
   `record_call` (the SDK's per-call hook; driving it directly keeps the simulator's request log
   out of the process's memory), lets the queue drain, reads RSS from `/proc/self/statm`, kills
   moto, keeps the load on for 60 s (10 s quick) and reads RSS again. The bound is the queue
   capacity times one queued item, estimated from above as a `HealthItem` plus its strings (the queue holds the smaller `CallMetric`; items are built by the background task).
   RSS is process-wide: memory freed by the earlier figures is reused first, so the growth can
   read 0 (the peak is in the raw results).
5. **Codegen**. The `xtask codegen` binary is run on `providers.yaml` and on a spec with every
   provider of `providers.yaml` plus one with 200 copies of OpenAI's `speech` endpoint (renamed
   ids and types), writing into a temporary directory; the median wall time of several runs.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_spec_is_valid_and_has_every_copy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("providers.yaml")).expect("readable");
        let spec = large_spec(&text, 200).expect("built");
        let rendered = crate::render("big.yaml", &spec).unwrap_or_else(|e| panic!("{e}"));
        let big = rendered
            .files
            .iter()
            .find(|f| f.name == "big.rs")
            .expect("a module for the big provider");
        assert!(big.content.contains("pub struct Speech0Request"));
        assert!(big.content.contains("pub struct Speech199Request"));
        assert!(!big.content.contains("pub struct Speech200Request"));
    }
}
