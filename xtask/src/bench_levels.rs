//! The three-level benchmark of `cargo xtask bench`: ranked with `--int8 --fp16` answering in
//! two levels (marked layers in float32, the rest in int8) against `--three-levels` (the
//! second level moves what it can of the first answer to float16): layers in each precision,
//! checks, and the answer's latency on CPU against float32, measured in the same process.
//!
//! The tolerances are a quarter and a sixteenth of the error with every layer in INT8, on one
//! generated input.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use xshell::{Shell, cmd};

/// Runs both searches on each model and prints the table.
pub fn run(sh: &Shell, onnxruntime: &Path, runs: u32) -> anyhow::Result<()> {
    let (bin, models, dir) = crate::bench_latency::prepare(sh, "levels", "bench-levels")?;
    let _o = sh.push_env("ORT_DYLIB_PATH", onnxruntime);
    let runs = runs.to_string();
    let mut rows = Vec::new();
    for (file, shape) in crate::bench_latency::MODELS {
        let model = models.join(file);
        let stem = file.trim_end_matches(".onnx");
        crate::step(&format!("levels: {stem}: float32 goldens of one generated input"));
        let sample = crate::bench_latency::sample_data(sh, &bin, &model, shape, &dir, stem)?;
        let args = sample.args();
        let data = args.as_slice();
        // With --int8 --fp16 nothing marked is all-INT8, as with --int8 alone.
        let quarter: f64 = crate::bench_latency::quarter_of_the_floor(sh, &bin, data, "--int8")?
            .parse()
            .context("the tolerance is a number")?;
        // A quarter of the all-INT8 error, and a sixteenth, where float16 is not always enough.
        for (share, levels) in [(4, false), (4, true), (16, false), (16, true)] {
            let atol = (quarter * 4.0 / f64::from(share)).to_string();
            let report = dir.join(format!("{stem}.{share}.{levels}.json"));
            crate::step(&format!(
                "levels: {stem}: ranked --int8 --fp16{} --atol {atol}",
                if levels { " --three-levels" } else { "" }
            ));
            let start = std::time::Instant::now();
            let out = cmd!(sh, "{bin} ranked {data...} --int8 --fp16 --atol {atol} --rtol 0")
                .args(["--measure-latency", &runs, "--no-journal", "-q", "--report"])
                .arg(&report)
                .args(levels.then_some("--three-levels"))
                .ignore_status()
                .output()?;
            let seconds = start.elapsed().as_secs_f64();
            let report = crate::bench_latency::search_report(
                &out,
                &format!("precision ranked on {stem}"),
                &report,
            )?;
            rows.push(row(&format!("{stem} | 1/{share}"), levels, &report, seconds));
        }
    }
    println!(
        "\n=== two levels against three: ranked --int8 --fp16, without and with --three-levels \
         (tolerance a share of the all-INT8 error, one generated input; latency: median of \
         {runs} runs on CPU, ONNX Runtime) ===\n"
    );
    println!(
        "| model | tolerance | answer | float32 layers | float16 layers | int8 layers | checks | time | \
         answer ms | float32 ms | speedup over float32 |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// One table row from a report.
fn row(stem: &str, levels: bool, report: &Value, seconds: f64) -> String {
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    let layers = report["num_layers"].as_u64().unwrap_or(0) as usize;
    let three = &report["three_levels"];
    let (higher, middle, checks) = if levels && three.is_object() {
        let checks = report["evaluations"].as_u64().unwrap_or(0)
            + three["evaluations"].as_u64().unwrap_or(0);
        (count(&three["higher"]), count(&three["middle"]), checks.to_string())
    } else {
        (count(&report["marked"]), 0, report["evaluations"].to_string())
    };
    let latency = &report["latency"];
    let ms = |plan: &str| {
        latency[plan]["median_ms"].as_f64().map_or("-".to_owned(), |m| format!("{m:.3}"))
    };
    let speedup =
        latency["speedup_over_float32"].as_f64().map_or("-".to_owned(), |s| format!("{s:.2}x"));
    format!(
        "| {stem} | {} | {higher} | {middle} | {} | {checks} | {seconds:.1} s | {} | {} | {speedup} |",
        if levels { "three levels" } else { "two levels" },
        layers - higher - middle,
        ms("answer"),
        ms("float32"),
    )
}
