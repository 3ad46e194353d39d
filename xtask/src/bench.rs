//! `cargo xtask bench`: measures every figure of `docs/BENCHMARKS.md` in one run, prints a
//! table (or one JSON object with `--json`) and rewrites the document with the machine it ran on.
//!
//! xtask does not depend on `media-sdk` (codegen must build even when the generated code does
//! not); the runtime figures come from `cargo run --release -p media-sdk-cli --bin
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

fn runtime_bench_args() -> [&'static str; 5] {
    [
        "--release",
        "-p",
        "media-sdk-cli",
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
// Runtime figures (overhead, overload, fleet, health, stream).

fn run_runtime_bench(root: &Path, quick: bool) -> Result<Value> {
    eprintln!("bench: runtime figures (overhead, overload, fleet, health writes, streaming)");
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
    let mut fragment = String::from(
        "providers:\n  big:\n    name: Big\n    client: Big\n    description: A synthetic provider for codegen timing.\n    base_url: https://big.invalid\n    base_url_env: BIG_BASE_URL\n    auth:\n      kind: bearer\n    keys:\n      env: BIG_API_KEYS\n      recommended_pool: { min: 1, max: 5 }\n    errors:\n      message: [/error/message]\n      code: [/error/code]\n    endpoints:\n",
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
        fragment.push_str(&copy);
        fragment.push('\n');
    }
    // At the end of `providers:`, before the `capabilities:` section.
    let spec = crate::fixture::append(providers_yaml, &fragment)
        .map_err(|e| anyhow::anyhow!("cannot add the synthetic provider: {e}"))?;
    Ok(spec)
}

fn time_codegen(root: &Path, spec: &Path, runs: usize, scratch: &Path) -> Result<Value> {
    let exe = std::env::current_exe().context("locate the xtask binary")?;
    let mut times = Vec::with_capacity(runs);
    let mut files = 0;
    for run in 0..runs {
        let out = scratch.join(format!("gen-{run}"));
        let schema = scratch.join(format!("schema-{run}.json"));
        let sim = scratch.join(format!("sim-providers-{run}.rs"));
        let started = Instant::now();
        let output = Command::new(&exe)
            .current_dir(root)
            .arg("codegen")
            .arg("--spec")
            .arg(spec)
            .arg("--out")
            .arg(&out)
            // Every output in the scratch directory: nothing checked in is touched.
            .arg("--sim")
            .arg(&sim)
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
    let l = "/overload";
    let f = "/fleet";
    let h = "/health";
    let s = "/stream";
    Ok(json!({
        "overhead_median_ratio": num(runtime, &format!("{o}/median_ratio"))?,
        "overhead_median_us": num(runtime, &format!("{o}/median_added_us"))?,
        "overhead_paired_median_us": num(runtime, &format!("{o}/paired_median_added_us"))?,
        "sdk_discarding_store_median_us": num(runtime, &format!("{o}/sdk_discarding_store_median_us"))?,
        "sdk_median_us": num(runtime, &format!("{o}/sdk_median_us"))?,
        "sdk_p99_us": num(runtime, &format!("{o}/sdk_p99_us"))?,
        "bare_median_us": num(runtime, &format!("{o}/bare_median_us"))?,
        "bare_p99_us": num(runtime, &format!("{o}/bare_p99_us"))?,
        "under_capacity_errors": num(runtime, &format!("{l}/under_capacity/failures"))?,
        "overload_requests_per_success": num(runtime, &format!("{l}/overload/requests_per_success"))?,
        "overload_goodput_fraction": num(runtime, &format!("{l}/overload/goodput_fraction"))?,
        "overload_success_p99_ms": num(runtime, &format!("{l}/overload/success_p99_ms"))?,
        "overload_failure_p99_ms": num(runtime, &format!("{l}/overload/failure_p99_ms"))?,
        "overload_max_wait_ms": num(runtime, &format!("{l}/max_wait_ms"))?,
        "naive_requests_per_success": num(runtime, &format!("{l}/naive/requests_per_success"))?,
        "naive_goodput_fraction": num(runtime, &format!("{l}/naive/goodput_fraction"))?,
        "naive_caller_errors": num(runtime, &format!("{l}/naive/failures"))?,
        "fleet_requests_per_success": num(runtime, &format!("{f}/table/requests_per_success"))?,
        "fleet_requests_per_success_no_table": num(runtime, &format!("{f}/no_table/requests_per_success"))?,
        "key_pool_ops_per_sec_1_thread": num(key_pool, "/one_thread/ops_per_sec")?,
        "key_pool_ops_per_sec_2_threads": num(key_pool, "/two_threads/ops_per_sec")?,
        "ddb_requests_per_1000": num(runtime, &format!("{h}/ddb_requests_per_1000"))?,
        "outage_rss_growth_bytes": num(runtime, &format!("{h}/outage_rss_growth_bytes"))?,
        "outage_queue_bound_bytes": num(runtime, &format!("{h}/queue_bound_bytes"))?,
        "tts_stream_ttfb_ms": num(runtime, &format!("{s}/tts_stream_ttfb_ms"))?,
        "tts_buffered_ms": num(runtime, &format!("{s}/tts_buffered_ms"))?,
        "tts_stream_peak_rss_mib": num(runtime, &format!("{s}/tts_stream_peak_rss_mib"))?,
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
    let ddb = num(r, "/ddb_requests_per_1000")?;
    let rss = num(r, "/outage_rss_growth_bytes")?;
    let bound = num(r, "/outage_queue_bound_bytes")?;
    let rt = "/runtime";
    let l = |p: &str| num(r, &format!("{rt}/overload/{p}"));
    let f = |p: &str| num(r, &format!("{rt}/fleet/{p}"));
    let pct = |f: f64| format!("{:.1}%", f * 100.0);
    let mib = |b: f64| format!("{:.2} MiB", b / (1024.0 * 1024.0));
    let outage = num(r, &format!("{rt}/health/outage_seconds"))?;
    let c = l("capacity_per_sec")?;
    let window = l("window_seconds")?;
    let max_wait = num(r, "/overload_max_wait_ms")?;
    let under_errors = num(r, "/under_capacity_errors")?;
    let over_rps = num(r, "/overload_requests_per_success")?;
    let over_goodput = num(r, "/overload_goodput_fraction")?;
    let success_p99 = num(r, "/overload_success_p99_ms")?;
    let failure_p99 = num(r, "/overload_failure_p99_ms")?;
    let successes = l("overload/successes")?;
    let fleet_rps = num(r, "/fleet_requests_per_success")?;
    let ttfb = num(r, "/tts_stream_ttfb_ms")?;
    let buffered = num(r, "/tts_buffered_ms")?;
    let stream_rss = num(r, "/tts_stream_peak_rss_mib")?;
    let st = |p: &str| num(r, &format!("{rt}/stream/{p}"));
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
            "Overhead: median, SDK with a discarding health store".into(),
            format!("{:.1} µs", num(r, "/sdk_discarding_store_median_us")?),
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
                "Under capacity: caller errors ({} keys × {}/s, C = {c}/s; 0.75 C offered, {window} s)",
                l("keys")?,
                l("per_key_rate")?
            ),
            format!(
                "{under_errors} of {} calls ({} 429s seen by the simulator)",
                l("under_capacity/offered")?,
                l("under_capacity/sim_rate_limited")?
            ),
            "0".into(),
            verdict(under_errors == 0.0).into(),
        ],
        [
            format!("Overload: requests per success (1.5 C offered, {window} s)"),
            format!(
                "{over_rps:.2} ({} requests, {successes} successes, {} 429s)",
                l("overload/sim_requests")?,
                l("overload/sim_rate_limited")?
            ),
            "≤ 1.10".into(),
            verdict(over_rps <= 1.10).into(),
        ],
        [
            "Overload: goodput".into(),
            format!(
                "{} of C × window ({} successes within the window)",
                pct(over_goodput),
                l("overload/successes_in_window")?
            ),
            "≥ 95%".into(),
            verdict(over_goodput >= 0.95).into(),
        ],
        [
            "Overload: p99 latency of a success".into(),
            format!(
                "{success_p99:.0} ms (median {} ms)",
                l("overload/success_p50_ms")?
            ),
            format!("≤ max_wait_ms + 500 = {:.0} ms", max_wait + 500.0),
            verdict(successes > 0.0 && success_p99 <= max_wait + 500.0).into(),
        ],
        [
            "Overload: p99 time to fail (shed)".into(),
            format!(
                "{failure_p99:.0} ms ({} failures, {} unfinished at the cap)",
                l("overload/failures")?,
                l("overload/unfinished")?
            ),
            format!("≤ max_wait_ms = {max_wait:.0} ms"),
            verdict(failure_p99 <= max_wait).into(),
        ],
        [
            "Overload: naive rotation (bare reqwest), same arrivals".into(),
            format!(
                "{:.2} requests per success, {} goodput, {} caller errors",
                num(r, "/naive_requests_per_success")?,
                pct(num(r, "/naive_goodput_fraction")?),
                num(r, "/naive_caller_errors")?
            ),
            "(baseline)".into(),
            "-".into(),
        ],
        [
            format!(
                "Fleet: requests per success, {} processes, one DynamoDB table (1.5 C together)",
                f("processes")?
            ),
            format!(
                "{fleet_rps:.2} ({} requests, {} successes)",
                f("table/sim_requests")?,
                f("table/successes")?
            ),
            "≤ 1.25".into(),
            verdict(fleet_rps <= 1.25).into(),
        ],
        [
            "Fleet: requests per success, no table".into(),
            format!(
                "{:.2} ({} requests, {} successes)",
                num(r, "/fleet_requests_per_success_no_table")?,
                f("no_table/sim_requests")?,
                f("no_table/successes")?
            ),
            "(baseline)".into(),
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
                "TTS streaming: first byte vs buffered ({:.0} KiB paced over {:.0} ms)",
                st("paced_bytes")? / 1024.0,
                st("paced_over_ms")?
            ),
            format!(
                "{ttfb:.1} ms vs {buffered:.0} ms (whole stream {:.0} ms)",
                st("tts_stream_total_ms")?
            ),
            "first byte ≤ 1/10 of buffered".into(),
            verdict(ttfb * 10.0 <= buffered).into(),
        ],
        [
            format!(
                "TTS streaming: peak RSS above baseline, {:.0} MiB consumed chunk by chunk",
                st("long_stream_bytes")? / (1024.0 * 1024.0)
            ),
            format!(
                "{stream_rss:.1} MiB ({:.1} s, {} chunks)",
                st("long_stream_seconds")?,
                st("long_stream_chunks")?
            ),
            "< 50 MiB".into(),
            verdict(stream_rss < 50.0).into(),
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

Run `cargo xtask bench` (about 5 minutes after the release build) or `cargo xtask bench --quick`
(under two minutes); `--json` prints one JSON object instead of the table. The machine is usually
shared, so absolute times move between runs; the side-by-side comparisons are what the targets
are about.

1. **Overhead** (`media-sdk-bench`, release profile: fat LTO and one codegen unit, as a
   deployed Lambda binary is built; without LTO the SDK's share reads 4-5 µs higher). The
   simulator serves OpenAI on loopback with no faults and no rate limits. Each iteration makes
   one `sdk.openai()?.speech(..)` call (key pool, auth header, retry wrapper, response
   classification, a `HealthRecorder` on a `MemoryStore` as telemetry) and the same request
   with bare `reqwest` (same body serialized per request, same `Authorization` header, same
   `reqwest::Client`, so the same kept-alive connections).
   Each variant runs in blocks of 8 calls whose first call is not measured, so every measured
   call follows a call of its own kind: what one variant leaves running behind it (a connection
   still on its way back to the pool, a background task) is never timed against another. The
   order of the blocks rotates every round so drift cancels. (An earlier version alternated
   single calls: bare `reqwest` then always followed an SDK call and paid about 4 µs of its
   after-effects, which flattered the ratio.) Reported: both medians and p99s, the ratio of
   medians, the difference of medians and the median of the differences of the k-th calls of a
   round's SDK and bare blocks.
   A third variant, the same SDK whose health store discards every write (the recorder still
   runs), is in the same rotation to show the memory store's share. No `tracing` subscriber is
   installed (as in a service that logs at `info` without this crate's target, events are
   filtered at their call sites).
2. **Overload** (issue \"Overload without retry storms\"). Every run uses the OpenAI spec as
   shipped (`openai::PROVIDER` generated from `providers.yaml`: retry policy, `max_wait_ms`,
   no declared key limits), a fresh simulator whose 3 keys each have a token bucket of
   capacity 5 refilled at 20/s, so the capacity is C = 60 calls/s, and open-loop Poisson
   arrivals (exponential gaps from a seeded generator: a new task at each arrival whatever
   earlier calls are doing). A run offers for its window (20 s, 5 s quick), stops offering at
   the window's end, then waits for the calls in flight at most twice the success target
   (2 × (`max_wait_ms` + 500 ms)); calls still running then are cancelled and counted as
   failures, with their time from arrival to that cap. Latencies run from the scheduled
   arrival. Requests and 429s are the simulator's own count (its request log).
   - **Under capacity**: 0.75 × C = 45 calls/s. Figure: caller errors (failed or unfinished
     calls). Target 0.
   - **Overload**: 1.5 × C = 90 calls/s. **Requests per success**: the requests the simulator
     saw (429s included) divided by the calls that succeeded, drain included; target ≤ 1.10
     (few requests wasted on 429s: no retry storm). **Goodput**: successes that finished
     within the window divided by C × window; target ≥ 95% (shedding must not leave keys
     idle; the buckets' initial burst lets it exceed 100% slightly on short windows).
     **p99 latency of a success**; target ≤ `max_wait_ms` + 500 ms (a call admitted waits no
     longer than the spec allows, plus the request). **p99 time to fail**: how long a caller
     the SDK sheds waits for its error; target ≤ `max_wait_ms` (fail fast rather than late).
   - **Naive rotation** over bare `reqwest`, same arrivals as the overload run: one current
     key, on a 429 mark it exhausted and move to the next, and when all are marked, fail the
     call and clear the marks. A baseline, no target.
3. **Fleet**. The same 3 keys and buckets, shared by 4 processes (`media-sdk-bench` runs
   itself as `fleet-worker` children, each with its own `Sdk` built like a service's, the
   health store from the environment) offering 1.5 × C together (22.5 calls/s each, Poisson,
   seeds of their own), started together after each reports ready, with the same window and
   drain cap. With **one DynamoDB table** (moto; `CONFIG_TABLE` and
   `AWS_ENDPOINT_URL_DYNAMODB` set for the children, so the SDK shares key cool-downs through
   it) the requests the simulator saw divided by the successes of all processes has the
   target ≤ 1.25; **without the table** (each process alone) it is reported as the baseline.
4. **Key pool** (`cargo bench -p media-sdk --bench key_pool`, criterion). `KeyPool::select`
   plus dropping the lease, on one thread, and on two threads sharing one pool (time per
   operation of the pair). The path takes no lock: an `ArcSwap` load of the slot list and
   atomics (cursor, cool-down, in-flight count).
5. **Health writes**. `media-sdk-bench` starts `moto_server` (`MOTO_SERVER`, else
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
6. **Streaming audio** (`media-sdk-bench --only stream`). The simulator serves OpenAI's
   `speech` streaming natively on its path, paced: about 1 MiB (1,048,576 bytes) in 16 KiB
   chunks spread over 2 s (`StreamPacing::over`), the first chunk at once. Each run (7, 3
   quick) makes one streaming call (`ProviderClient::stream`, what the generated
   `speech_stream` calls) and reads it to the end, then one buffered `speech` call of the same
   audio. **`tts_stream_ttfb_ms`**: from the call to the first chunk in the caller's hands
   (median); **`tts_buffered_ms`**: the buffered call's whole time (median), which waits for
   the last chunk; target: the first byte in at most a tenth of that. **`tts_stream_peak_rss_mib`**:
   `media-sdk-bench` runs itself as a `stream-rss-worker` child (the simulator stays in the
   parent, so its memory is not counted) that builds an `Sdk`, warms up with the first chunks of
   one stream, reads its `VmRSS` as the baseline, resets its peak (`/proc/self/clear_refs`),
   consumes a 200 MiB stream in 64 KiB chunks (each dropped at once; the request raises the
   stream's byte cap for this figure only) and reports `VmHWM` (or the largest `VmRSS`
   sampled when the peak cannot be reset) minus the baseline; target < 50 MiB. The simulator
   produces each chunk when the connection asks for it, so neither side ever holds the whole
   body.
7. **Codegen**. The `xtask codegen` binary is run on `providers.yaml` and on a spec with every
   provider of `providers.yaml` plus one with 200 copies of OpenAI's `speech` endpoint (renamed
   ids and types), writing into a temporary directory; the median wall time of several runs.
";

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's output with the fields the summary and the table read (values made up).
    fn sample_run(overload_rps: f64, fleet_rps: f64) -> Value {
        let run = |rps: f64, failures: u64| {
            json!({
                "offered": 1800, "successes": 1200, "successes_in_window": 1150,
                "failures": failures, "unfinished": 3, "sim_requests": 1320,
                "sim_rate_limited": 120, "requests_per_success": rps,
                "goodput_fraction": 0.96, "success_p50_ms": 400, "success_p99_ms": 2300,
                "failure_p50_ms": 900, "failure_p99_ms": 1900,
            })
        };
        let runtime = json!({
            "overhead": {
                "median_ratio": 1.02, "median_added_us": 2.0, "paired_median_added_us": 2.0,
                "sdk_discarding_store_median_us": 100.0, "sdk_median_us": 101.0,
                "sdk_p99_us": 300.0, "bare_median_us": 99.0, "bare_p99_us": 250.0,
            },
            "overload": {
                "keys": 3, "per_key_rate": 20.0, "capacity_per_sec": 60.0,
                "window_seconds": 20.0, "max_wait_ms": 2000,
                "under_capacity": run(1.0, 0),
                "overload": run(overload_rps, 600),
                "naive": run(3.0, 600),
            },
            "fleet": {
                "processes": 4, "table": run(fleet_rps, 600), "no_table": run(4.0, 600),
            },
            "health": {
                "ddb_requests_per_1000": 40.0, "outage_rss_growth_bytes": 0,
                "queue_bound_bytes": 3_440_000, "outage_seconds": 60,
                "outage_metrics_per_sec": 2000, "outage_dropped_full": 10,
            },
            "stream": {
                "paced_bytes": 1_048_576, "paced_over_ms": 2000,
                "tts_stream_ttfb_ms": 2.5, "tts_stream_total_ms": 2010.0,
                "tts_buffered_ms": 2005.0, "long_stream_bytes": 209_715_200,
                "long_stream_chunks": 3200, "long_stream_seconds": 1.5,
                "tts_stream_peak_rss_mib": 4.0,
            },
        });
        let key_pool = json!({
            "one_thread": { "ns_per_op": 75.0, "ops_per_sec": 13e6 },
            "two_threads": { "ns_per_op": 140.0, "ops_per_sec": 7e6 },
        });
        let codegen = json!({
            "providers_yaml": { "median_ms": 50.0 }, "providers_yaml_endpoints": 6,
            "large": { "median_ms": 1100.0 }, "large_endpoints": 206,
        });
        let mut flat = summarize(&runtime, &key_pool, &codegen)
            .expect("summarized")
            .as_object()
            .cloned()
            .expect("an object");
        flat.insert("runtime".into(), runtime);
        flat.insert("key_pool".into(), key_pool);
        flat.insert("codegen".into(), codegen);
        Value::Object(flat)
    }

    fn verdict_of(rows: &[[String; 4]], figure: &str) -> String {
        rows.iter()
            .find(|row| row[0].starts_with(figure))
            .unwrap_or_else(|| panic!("no row `{figure}`"))[3]
            .clone()
    }

    #[test]
    fn the_overload_rows_judge_each_figure_against_its_target() {
        let met = rows(&sample_run(1.10, 1.25)).expect("rendered");
        for figure in [
            "Under capacity",
            "Overload: requests per success",
            "Overload: goodput",
            "Overload: p99 latency of a success",
            "Overload: p99 time to fail",
            "Fleet: requests per success, 4 processes",
        ] {
            assert_eq!(verdict_of(&met, figure), "met", "{figure}");
        }
        let storm = rows(&sample_run(6.9, 1.3)).expect("rendered");
        assert_eq!(
            verdict_of(&storm, "Overload: requests per success"),
            "MISSED"
        );
        assert_eq!(
            verdict_of(&storm, "Fleet: requests per success, 4"),
            "MISSED"
        );
        assert_eq!(verdict_of(&storm, "Fleet: requests per success, no"), "-");
        assert_eq!(verdict_of(&met, "TTS streaming: first byte"), "met");
        assert_eq!(verdict_of(&met, "TTS streaming: peak RSS"), "met");
    }

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
