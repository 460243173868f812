//! The memory benchmark of `cargo xtask bench`: peak resident memory of the release
//! `precision` binary on a ResNet-50-sized model (25.5M parameters, random weights), for
//! `run` (the float32 goldens), one INT8 check, and INT8 searches (bisect, ranked, each also
//! with `--jobs 2`), with the time per check. Target: a whole search peaks at most 1.5x
//! `precision run` on the same model (plus one session per extra `--jobs` worker).
//!
//! Peaks are the kernel's maximum resident set size of each process (`peak_rss.py`: getrusage
//! of the child, as `/usr/bin/time -v` reports it). `--baseline-bin` measures a second binary
//! (for example one built from the main branch) in the same run, for a before/after table.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

/// One measured command.
struct Measured {
    name: String,
    peak_kib: u64,
    wall_s: f64,
    /// Checks built (searches only, from the report).
    checks: Option<u64>,
}

/// Builds the release binary, writes the model if missing, and measures `ours` (and
/// `baseline`, when given); prints one table per binary.
pub fn run(
    sh: &Shell,
    python: &Path,
    onnxruntime: &Path,
    baseline: Option<&Path>,
    max_checks: u64,
) -> anyhow::Result<()> {
    crate::step("memory: release build of precision");
    cmd!(sh, "cargo build --release --package precision-cli").run()?;
    let root = crate::project_root();
    let ours = root.join("target/release/precision");
    let dir = root.join("target/bench-memory");
    std::fs::create_dir_all(&dir)?;
    let model = dir.join("resnet50_random.onnx");
    if !model.exists() {
        crate::step("memory: writing the ResNet-50-sized model (random weights)");
        let script = root.join("backend-onnxrt/benches/resnet50_model.py");
        cmd!(sh, "{python} {script} {model}")
            .run()
            .context("writing the benchmark model failed")?;
    }
    let _o = sh.push_env("ORT_DYLIB_PATH", onnxruntime);
    let mut tables = vec![("this tree", measure(sh, python, &ours, &model, &dir, max_checks)?)];
    if let Some(bin) = baseline {
        let rows = measure(sh, python, bin, &model, &dir.join("baseline"), max_checks)?;
        tables.push(("baseline (--baseline-bin)", rows));
    }
    print_tables(&tables, &model);
    Ok(())
}

/// Runs every command of the benchmark with `bin`, its files under `dir`.
fn measure(
    sh: &Shell,
    python: &Path,
    bin: &Path,
    model: &Path,
    dir: &Path,
    max_checks: u64,
) -> anyhow::Result<Vec<Measured>> {
    if !bin.exists() {
        bail!("{} does not exist", bin.display());
    }
    crate::step(&format!("memory: measuring {}", bin.display()));
    std::fs::create_dir_all(dir)?;
    let inputs = dir.join("inputs.json");
    let golden = dir.join("golden.json");
    let stdout = dir.join("stdout.txt");
    let mut rows = Vec::new();
    let run_args: Vec<String> = vec![
        "run".into(),
        model.display().to_string(),
        "--save-inputs".into(),
        inputs.display().to_string(),
        "--save-outputs".into(),
        golden.display().to_string(),
    ];
    rows.push(peak(sh, python, bin, "run (float32 goldens)", &run_args, &stdout)?);

    let data = [
        "--int8".to_owned(),
        "--golden".to_owned(),
        golden.display().to_string(),
        "--load-inputs".to_owned(),
        inputs.display().to_string(),
    ];
    let mut check_args = vec!["check".to_owned(), model.display().to_string()];
    check_args.extend(data.iter().cloned());
    check_args.extend(["--atol".into(), "0".into(), "--rtol".into(), "0".into()]);
    rows.push(peak(sh, python, bin, "check --int8 (nothing marked)", &check_args, &stdout)?);
    // The tolerance: a quarter of the error with nothing marked, so that the searches mark
    // layers and run a realistic number of checks.
    let floor = needed_atol(&std::fs::read_to_string(&stdout)?)?;
    let atol = format!("{}", floor / 4.0);

    for (name, command, jobs) in [
        ("bisect --int8", "bisect", "1"),
        ("bisect --int8 --jobs 2", "bisect", "2"),
        ("ranked --int8", "ranked", "1"),
        ("ranked --int8 --jobs 2", "ranked", "2"),
    ] {
        let report = dir.join(format!("{command}-{jobs}.json"));
        let mut args = vec![command.to_owned(), model.display().to_string()];
        args.extend(data.iter().cloned());
        args.extend([
            "--atol".into(),
            atol.clone(),
            "--rtol".into(),
            "0".into(),
            "--max-checks".into(),
            max_checks.to_string(),
            "--jobs".into(),
            jobs.into(),
            "--no-journal".into(),
            "--report".into(),
            report.display().to_string(),
        ]);
        let mut row = peak(sh, python, bin, name, &args, &stdout)?;
        let report: Value = serde_json::from_slice(
            &std::fs::read(&report).with_context(|| format!("reading {}", report.display()))?,
        )?;
        row.checks = report["evaluations"].as_u64();
        rows.push(row);
    }
    Ok(rows)
}

/// The atol that the output of a failing `precision check` says the first output needs.
pub fn needed_atol(text: &str) -> anyhow::Result<f64> {
    text.split("needs atol ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("no 'needs atol' in the output of `precision check`:\n{text}"))
}

/// Runs `bin args` under `peak_rss.py`; a search that stops on its check budget exits 1 (no
/// passing plan), which is fine here; anything else fails the benchmark.
fn peak(
    sh: &Shell,
    python: &Path,
    bin: &Path,
    name: &str,
    args: &[String],
    stdout: &PathBuf,
) -> anyhow::Result<Measured> {
    let script = crate::project_root().join("backend-onnxrt/benches/peak_rss.py");
    eprintln!("memory: {name}");
    let out = cmd!(sh, "{python} {script} {stdout} {bin} {args...}").quiet().read()?;
    let v: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .with_context(|| format!("peak_rss.py printed no JSON: {out}"))?;
    let rc = v["rc"].as_i64().unwrap_or(-1);
    if rc != 0 && rc != 1 {
        bail!("`precision {}` exited with {rc}", args.join(" "));
    }
    Ok(Measured {
        name: name.to_owned(),
        peak_kib: v["peak_kib"].as_u64().unwrap_or(0),
        wall_s: v["wall_s"].as_f64().unwrap_or(f64::NAN),
        checks: None,
    })
}

fn print_tables(tables: &[(&str, Vec<Measured>)], model: &Path) {
    let model_mb = std::fs::metadata(model).map_or(0.0, |m| m.len() as f64 / 1e6);
    for (title, rows) in tables {
        println!(
            "\n=== peak memory, ResNet-50-sized model ({model_mb:.0} MB), {title}; target: \
             search <= 1.5x run (+1 session per extra job) ==="
        );
        println!(
            "{:<32} {:>10} {:>8} {:>9} {:>7} {:>10} {:>8}",
            "command", "peak", "x run", "x model", "checks", "wall", "wall/chk"
        );
        let run_kib = rows.first().map_or(0, |r| r.peak_kib);
        for r in rows {
            let mb = r.peak_kib as f64 * 1024.0 / 1e6;
            let per_check = r
                .checks
                .filter(|&c| c > 0)
                .map_or("-".to_owned(), |c| format!("{:.2}", r.wall_s / c as f64));
            println!(
                "{:<32} {:>7.0} MB {:>7.2}x {:>8.1}x {:>7} {:>8.1} s {:>8}",
                r.name,
                mb,
                r.peak_kib as f64 / run_kib.max(1) as f64,
                mb / model_mb.max(1e-9),
                r.checks.map_or("-".to_owned(), |c| c.to_string()),
                r.wall_s,
                per_check
            );
        }
    }
}
