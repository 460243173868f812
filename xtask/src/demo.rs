//! `cargo xtask demo`: the main job on the embedded demo network, end to end.

use anyhow::Context;
use xshell::{Shell, cmd};

/// Flags for `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The search algorithm to demonstrate.
    #[arg(long, default_value = "bisect")]
    algorithm: String,
    /// Simulated engine build time per check, in milliseconds (so the progress bar shows).
    #[arg(long, default_value_t = 250)]
    build_ms: u64,
}

/// Writes the demo network, makes goldens with `precision run`, then runs the search.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    // What a search on a real model needs (the ONNX Runtime backend and the cached models),
    // set up now so that switching the demo to a real model only changes the model path.
    let python = crate::python::ensure_venv(sh)?;
    let models = crate::models::ensure(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    let _onnxruntime = sh.push_env("ORT_DYLIB_PATH", &onnxruntime);
    eprintln!("ONNX Runtime: {}\nmodels: {}", onnxruntime.display(), models.display());

    let dir = crate::project_root().join("target/demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = dir.join("demo.toml");
    std::fs::write(&model, fixtures::DEMO_NETWORK)?;
    let golden = dir.join("golden.json");
    let inputs = dir.join("inputs.json");
    let report = dir.join("report.json");

    crate::step("building the precision CLI");
    cmd!(sh, "cargo build --quiet --package precision-cli").run()?;
    let precision = crate::project_root().join("target/debug/precision");

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
