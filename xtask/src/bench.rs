//! `cargo xtask bench`: run the criterion benchmarks and their baselines, print the figures.
//!
//! - comparator throughput on 64M-element float32 outputs, per statistic, against NumPy doing
//!   the same comparison the way Polygraphy does (same run, same machine);
//! - search overhead on a 10,000-layer mock (bisect, worst-first) and the heap kept per check;
//! - the mock backend and the Polygraphy JSON reader/writer;
//! - loading an ONNX model with 200 tensors of external data in one 400 MB file, against the
//!   same model with its weights embedded;
//! - the ONNX Runtime backend on real models: one check (rewrite, session, run, compare)
//!   against one plain inference and against Polygraphy doing the same check in Python,
//!   calibration, and a whole INT8 bisect;
//! - peak memory of `precision run` and of INT8 searches on a ResNet-50-sized model
//!   ([`crate::bench_memory`]);
//! - peak memory over a dataset of 1,000 samples against one sample ([`crate::bench_dataset`]);
//! - the latency of bisect's and ranked's INT8 and FP16 answers against float32 and every
//!   layer lowered, on CPU ([`crate::bench_latency`]);
//! - checks and layers kept with and without the FP16 pre-screen
//!   ([`crate::bench_prescreen`]);
//! - the smallest FP16 answers against onnxconverter-common's ([`crate::bench_anchor`]);
//! - two-level INT8 answers against three-level ones ([`crate::bench_levels`]).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use xshell::{Shell, cmd};

/// Flags for `cargo xtask bench`.
#[derive(clap::Args)]
#[expect(clippy::struct_excessive_bools, reason = "one flag per part the bench can run alone")]
pub struct Args {
    /// Skip the NumPy baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Run only the memory benchmark (peak memory of searches on a ResNet-50-sized model).
    #[arg(long, group = "only")]
    memory_only: bool,
    /// Also measure this `precision` binary in the memory benchmark (before/after tables).
    #[arg(long, value_name = "PATH")]
    baseline_bin: Option<std::path::PathBuf>,
    /// Run only the dataset benchmark (peak memory over 1,000 samples of 3x224x224).
    #[arg(long, group = "only")]
    dataset_only: bool,
    /// Checks per search in the memory benchmark (--max-checks).
    #[arg(long, value_name = "N", default_value_t = 16)]
    memory_checks: u64,
    /// Run only the latency benchmark (bisect's and ranked's answers against float32 and
    /// every layer lowered, INT8 and FP16, on CPU).
    #[arg(long, group = "only")]
    latency_only: bool,
    /// Run only the FP16 pre-screen benchmark (checks and layers kept with and without it).
    #[arg(long, group = "only")]
    prescreen_only: bool,
    /// Run only the anchor benchmark (the smallest FP16 answers: our searches against
    /// onnxconverter-common's `auto_convert_mixed_precision`).
    #[arg(long, group = "only")]
    anchor_only: bool,
    /// Run only the three-level benchmark (ranked --int8 --fp16 with and without
    /// --three-levels: layers in each precision, checks, latency).
    #[arg(long, group = "only")]
    levels_only: bool,
    /// Timed runs of each plan in the latency benchmark (--measure-latency).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    latency_runs: u32,
}

/// Runs every benchmark and prints a summary with ratios against the baselines.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    if args.memory_only {
        return memory(sh, args);
    }
    if args.dataset_only {
        return dataset(sh);
    }
    if args.latency_only {
        return latency(sh, args);
    }
    if args.prescreen_only {
        return prescreen(sh);
    }
    if args.anchor_only {
        return anchor(sh);
    }
    if args.levels_only {
        return levels(sh, args);
    }
    crate::step("criterion: comparator (64M float32 elements per output)");
    cmd!(sh, "cargo bench --package precision-core --bench compare").run()?;
    crate::step("criterion: mock backend and search overhead (10,000 layers)");
    let mock_out = cmd!(sh, "cargo bench --package backend-mock").read()?;
    println!("{mock_out}");
    crate::step("criterion: Polygraphy JSON read/write");
    cmd!(sh, "cargo bench --package polygraphy-json").run()?;
    crate::step("criterion: ONNX loading, 200 tensors of external data in one 400 MB file");
    cmd!(sh, "cargo bench --package precision-onnx --bench load").run()?;

    crate::step("criterion: ONNX Runtime backend on real models");
    let python = crate::python::ensure_venv(sh)?;
    let models = crate::models::ensure(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    {
        let _m = sh.push_env("PRECISION_MODELS", &models);
        let _o = sh.push_env("ORT_DYLIB_PATH", &onnxruntime);
        cmd!(sh, "cargo bench --package backend-onnxrt --bench check").run()?;
    }
    let ort_baseline = if args.no_baseline {
        None
    } else {
        crate::step("baseline: Polygraphy/ONNX Runtime in Python doing the same checks");
        let script = crate::project_root().join("backend-onnxrt/benches/ort_baseline.py");
        let dir = crate::project_root().join("target/bench-onnxrt");
        let out = cmd!(sh, "{python} {script} {dir} orientation ppocr_cls")
            .read()
            .context("the ONNX Runtime baseline failed")?;
        Some(serde_json::from_str::<Value>(out.lines().last().unwrap_or_default())?)
    };

    let numpy = if args.no_baseline {
        None
    } else {
        crate::step("baseline: NumPy doing Polygraphy's comparison");
        let python = crate::python::ensure_venv(sh)?;
        let script = crate::project_root().join("precision-core/benches/numpy_compare_baseline.py");
        // OPENBLAS_CORETYPE/L2_SIZE are set on some machines for old OpenBLAS builds; they
        // slow a current NumPy, so the baseline runs without them (this command only).
        let out = cmd!(sh, "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE {python} {script}")
            .read()
            .context("the NumPy baseline failed")?;
        Some(serde_json::from_str::<Value>(out.lines().last().unwrap_or_default())?)
    };

    let criterion = crate::project_root().join("target/criterion");
    let results = collect(&criterion)?;
    println!("\n=== summary (mean of criterion's samples) ===");
    println!("{:<52} {:>12} {:>12}", "benchmark", "time", "throughput");
    for (id, r) in &results {
        let tput = r.bytes.map_or_else(String::new, |b| format!("{:.2} GB/s", b / r.mean_ns));
        println!("{id:<52} {:>12} {tput:>12}", human_time(r.mean_ns));
    }

    println!("\n=== comparator vs NumPy (Polygraphy's comparator is NumPy), target >= 3x ===");
    println!("{:<10} {:>14} {:>14} {:>8}", "stat", "precision", "numpy", "ratio");
    for stat in ["elemwise", "max", "mean", "median", "quantile"] {
        let ours = results.get(&format!("compare_f32_64M/{stat}"));
        let theirs = numpy.as_ref().and_then(|n| n["modes"][stat]["gb_per_s"].as_f64());
        let ours_gbs = ours.and_then(|r| r.bytes.map(|b| b / r.mean_ns));
        println!(
            "{stat:<10} {:>14} {:>14} {:>8}",
            ours_gbs.map_or("-".into(), |g| format!("{g:.2} GB/s")),
            theirs.map_or("-".into(), |g| format!("{g:.2} GB/s")),
            match (ours_gbs, theirs) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.1}x", a / b),
                _ => "-".into(),
            }
        );
    }

    onnxrt_tables(&results, ort_baseline.as_ref());
    onnx_load_table(&results);

    println!("\n=== search overhead, 10,000-layer mock, zero build time; target < 1 s ===");
    for name in ["bisect", "worst_first"] {
        if let Some(r) = results.get(&format!("search_10000_layers/{name}")) {
            println!("{name:<12} {}", human_time(r.mean_ns));
        }
    }
    println!("\n=== heap kept by a search (the check log and the oracle's cache) ===");
    for line in mock_out.lines().filter(|l| l.contains("\"search_memory\"")) {
        let v: Value = serde_json::from_str(line)?;
        println!(
            "{:<18} {:>6} checks, retained {:>10} bytes = {:>6} bytes/check (log entries ~{} bytes/check), peak +{} bytes",
            v["search"].as_str().unwrap_or("?"),
            v["checks"],
            v["retained_bytes"],
            v["retained_per_check"],
            v["log_bytes_estimate"].as_u64().unwrap_or(0)
                / v["checks"].as_u64().unwrap_or(1).max(1),
            v["peak_above_start"],
        );
    }
    memory(sh, args)?;
    dataset(sh)?;
    latency(sh, args)?;
    prescreen(sh)?;
    anchor(sh)?;
    levels(sh, args)
}

/// The latency benchmark (see [`crate::bench_latency`]).
fn latency(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    crate::bench_latency::run(sh, &onnxruntime, args.latency_runs)
}

/// The FP16 pre-screen benchmark (see [`crate::bench_prescreen`]).
fn prescreen(sh: &Shell) -> anyhow::Result<()> {
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    crate::bench_prescreen::run(sh, &python, &onnxruntime)
}

/// The three-level benchmark (see [`crate::bench_levels`]).
fn levels(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    crate::bench_levels::run(sh, &onnxruntime, args.latency_runs)
}

/// The anchor benchmark (see [`crate::bench_anchor`]).
fn anchor(sh: &Shell) -> anyhow::Result<()> {
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    crate::bench_anchor::run(sh, &python, &onnxruntime)
}

/// The dataset benchmark (see [`crate::bench_dataset`]).
fn dataset(sh: &Shell) -> anyhow::Result<()> {
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    crate::bench_dataset::run(sh, &python, &onnxruntime)
}

/// The memory benchmark (see [`crate::bench_memory`]).
fn memory(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    crate::bench_memory::run(
        sh,
        &python,
        &onnxruntime,
        args.baseline_bin.as_deref(),
        args.memory_checks,
    )
}

/// The ONNX Runtime tables: a check against plain inference (target: within 3x of one
/// inference plus session creation) and against Polygraphy doing the same in Python.
fn onnxrt_tables(results: &BTreeMap<String, Figures>, baseline: Option<&Value>) {
    let ms = |id: String| results.get(&id).map(|r| r.mean_ns / 1e6);
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_owned(),
    };
    println!("\n=== ONNX Runtime backend: one check vs plain inference (same run) ===");
    println!(
        "{:<12} {:>11} {:>13} {:>12} {:>12} {:>14} {:>14}",
        "model",
        "inference",
        "session+inf",
        "check int8",
        "check fp16",
        "int8/(sess+inf)",
        "fp16/(sess+inf)"
    );
    for tag in ["orientation", "ppocr_cls"] {
        let inf = ms(format!("onnxrt_{tag}/inference_f32"));
        let sess = ms(format!("onnxrt_{tag}/session_and_inference_f32"));
        let int8 = ms(format!("onnxrt_{tag}/check_int8_half_marked"));
        let fp16 = ms(format!("onnxrt_{tag}/check_fp16_half_marked"));
        println!(
            "{tag:<12} {:>11} {:>13} {:>12} {:>12} {:>14} {:>14}",
            fmt(inf),
            fmt(sess),
            fmt(int8),
            fmt(fp16),
            ratio(int8, sess),
            ratio(fp16, sess)
        );
    }
    println!("\n=== ONNX Runtime backend vs Polygraphy (Python), same checks, same run ===");
    println!(
        "{:<12} {:<6} {:>10} {:>16} {:>8} {:>18} {:>8}",
        "model", "plan", "ours", "python in-proc", "ratio", "polygraphy run", "ratio"
    );
    for tag in ["orientation", "ppocr_cls"] {
        for prec in ["int8", "fp16"] {
            let ours = ms(format!("onnxrt_{tag}/check_{prec}_half_marked"));
            let py =
                baseline.and_then(|b| b[tag][format!("check_{prec}")].as_f64()).map(|s| s * 1e3);
            let cli = baseline
                .and_then(|b| b[tag][format!("polygraphy_run_cli_{prec}")].as_f64())
                .map(|s| s * 1e3);
            println!(
                "{tag:<12} {prec:<6} {:>10} {:>16} {:>8} {:>18} {:>8}",
                fmt(ours),
                fmt(py),
                ratio(py, ours),
                fmt(cli),
                ratio(cli, ours)
            );
        }
    }
    println!("\n=== calibration (entropy, 1 batch; once per search) and a whole INT8 bisect ===");
    for tag in ["orientation", "ppocr_cls"] {
        println!(
            "{tag:<12} calibration {:>10}   bisect (calibration + all checks) {:>10}",
            fmt(ms(format!("onnxrt_{tag}/calibrate_entropy_1_batch"))),
            fmt(ms(format!("onnxrt_{tag}/bisect_int8_search")))
        );
    }
}

/// Loading 200 external-data tensors from one 400 MB file against loading the same weights
/// embedded in the model (same run); target: within 2x.
fn onnx_load_table(results: &BTreeMap<String, Figures>) {
    let get = |name: &str| results.get(&format!("onnx_load_200_tensors_400MB/{name}"));
    let (Some(external), Some(embedded)) = (get("external_one_file"), get("embedded")) else {
        return;
    };
    println!(
        "\n=== ONNX loading: 200 tensors of external data in one 400 MB file; target <= 2x ==="
    );
    println!(
        "external {}   embedded {}   external/embedded {:.2}x",
        human_time(external.mean_ns),
        human_time(embedded.mean_ns),
        external.mean_ns / embedded.mean_ns
    );
}

/// One benchmark's figures.
struct Figures {
    mean_ns: f64,
    bytes: Option<f64>,
}

/// Reads `<group>/<bench>/new/{estimates,benchmark}.json` under criterion's output folder.
fn collect(dir: &Path) -> anyhow::Result<BTreeMap<String, Figures>> {
    let mut results = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let estimates = path.join("new/estimates.json");
            let benchmark = path.join("new/benchmark.json");
            if estimates.exists() && benchmark.exists() {
                let e: Value = serde_json::from_slice(&std::fs::read(&estimates)?)?;
                let b: Value = serde_json::from_slice(&std::fs::read(&benchmark)?)?;
                let id = b["full_id"].as_str().unwrap_or_default().to_owned();
                let mean_ns = e["mean"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
                let bytes = b["throughput"]["Bytes"].as_f64();
                results.insert(id, Figures { mean_ns, bytes });
            } else if path.file_name().is_some_and(|n| n != "report" && n != "new" && n != "base") {
                stack.push(path);
            }
        }
    }
    Ok(results)
}

fn human_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
