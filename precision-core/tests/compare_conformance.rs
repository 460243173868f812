//! Conformance of [`compare_tensors`] with Polygraphy 0.53.6's own comparison functions.
//!
//! `verdicts_match_polygraphy` covers `simple`; `metric_verdicts_match_polygraphy` covers
//! `indices`, `l2`, `cosine_similarity`, `psnr`, `snr` and `--check-average`
//! (`tests/conformance/gen_metric_cases.py`, the same random arrays plus index cases and
//! multi-iteration cases): the same verdict on every check and the same metric values (within
//! 1e-12 relative; Polygraphy prints 5 significant digits). The one exception: PSNR/SNR
//! verdicts at a threshold within 1e-14 (relative) of the value, where NumPy's SIMD log10 and
//! the platform's may round differently, are compared by value only.
//!
//! `tests/conformance/gen_compare_cases.py` (run with `$PRECISION_PYTHON`) generates
//! deterministic random cases, asks Polygraphy's `CompareFunc.simple()` for its verdict and
//! required tolerances under many settings, and writes the arrays as raw little-endian bytes plus
//! a JSON manifest. This test runs our comparator on the same arrays and settings and requires the
//! same verdict on every check, and the same required tolerances (within 1e-6 relative).

use std::path::{Path, PathBuf};
use std::process::Command;

use half::f16;
use ndarray::{ArrayD, IxDyn};
use precision_core::{
    CompareConfig, CompareFunc, ErrorStat, OutputComparison, PerOutput, Tensor, combine_iterations,
    compare_tensors,
};
use serde_json::Value;

/// The directory holding the generated cases, removed on drop if this test made it.
struct ScratchDir(PathBuf, bool);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn python() -> String {
    match std::env::var("PRECISION_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "set PRECISION_PYTHON to a python with polygraphy and numpy, or run `cargo xtask ci`"
        ),
    }
}

/// Generates the cases, or (to iterate quickly) reuses the directory named by
/// `PRECISION_COMPARE_CASES` if it already holds a manifest written by the script.
fn generate() -> ScratchDir {
    generate_with("gen_compare_cases.py", "PRECISION_COMPARE_CASES")
}

/// Runs the generator `script` into a scratch directory, or reuses the directory named by the
/// environment variable `reuse` if it already holds a manifest.
fn generate_with(script: &str, reuse: &str) -> ScratchDir {
    if let Ok(dir) = std::env::var(reuse) {
        let dir = PathBuf::from(dir);
        if dir.join("manifest.json").is_file() {
            return ScratchDir(dir, false);
        }
    }
    let dir = std::env::temp_dir().join(format!(
        "precision-compare-conformance-{}-{}",
        script.trim_end_matches(".py"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let scratch = ScratchDir(dir, true);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance").join(script);
    let py = python();
    let out = Command::new(&py)
        .arg(&script)
        .arg(&scratch.0)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py} (PRECISION_PYTHON): {e}"));
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    scratch
}

fn parse_f64(v: &Value) -> Option<f64> {
    v.as_str().map(|s| s.parse::<f64>().unwrap_or_else(|e| panic!("bad float {s:?}: {e}")))
}

fn read_tensor(dir: &Path, desc: &Value) -> Tensor {
    let dtype = desc["dtype"].as_str().expect("dtype");
    let shape: Vec<usize> = desc["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| usize::try_from(d.as_u64().expect("dim")).expect("dim fits"))
        .collect();
    let bytes = std::fs::read(dir.join(desc["file"].as_str().expect("file"))).expect("array file");
    let shape = IxDyn(&shape);
    macro_rules! decode {
        ($t:ty, $n:expr, $conv:expr) => {{
            let v: Vec<$t> = bytes.chunks_exact($n).map(|c| $conv(c.try_into().unwrap())).collect();
            ArrayD::from_shape_vec(shape, v).expect("shape matches data").into()
        }};
    }
    match dtype {
        "float32" => decode!(f32, 4, f32::from_le_bytes),
        "float16" => decode!(f16, 2, |b| f16::from_bits(u16::from_le_bytes(b))),
        "float64" => decode!(f64, 8, f64::from_le_bytes),
        "int8" => decode!(i8, 1, i8::from_le_bytes),
        "uint8" => decode!(u8, 1, u8::from_le_bytes),
        "int32" => decode!(i32, 4, i32::from_le_bytes),
        "int64" => decode!(i64, 8, i64::from_le_bytes),
        "bool" => decode!(bool, 1, |b: [u8; 1]| b[0] != 0),
        other => panic!("unexpected dtype {other}"),
    }
}

/// Whether two required tolerances agree: both NaN, equal, or within 1e-6 relative.
fn tolerance_matches(ours: f64, theirs: f64) -> bool {
    (ours.is_nan() && theirs.is_nan())
        || ours == theirs
        || ((ours - theirs).abs() <= 1e-6 * theirs.abs().max(ours.abs()))
}

#[test]
fn verdicts_match_polygraphy() {
    let scratch = generate();
    let dir = &scratch.0;
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    let (mut checks, mut agreed, mut polygraphy_errors, mut tolerances_compared) = (0, 0, 0, 0);
    let (mut passes, mut failures) = (0, 0);
    let mut disagreements = Vec::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let actual = read_tensor(dir, &case["actual"]);
        let golden = read_tensor(dir, &case["golden"]);
        for check in case["checks"].as_array().expect("checks") {
            checks += 1;
            let stat: ErrorStat = check["stat"].as_str().expect("stat").parse().expect("stat");
            let config = CompareConfig {
                atol: PerOutput::uniform(parse_f64(&check["atol"]).expect("atol")),
                rtol: PerOutput::uniform(parse_f64(&check["rtol"]).expect("rtol")),
                check_error_stat: PerOutput::uniform(stat),
                error_quantile: PerOutput::uniform(parse_f64(&check["quantile"]).expect("q")),
                infinities_compare_equal: check["infinities_compare_equal"].as_bool().expect("ice"),
                check_shapes: check["check_shapes"].as_bool().expect("check_shapes"),
                ..CompareConfig::default()
            };
            let ours = compare_tensors("out", &actual, &golden, &config);
            let label = format!(
                "{name} [{stat} q={} atol={} rtol={} ice={} check_shapes={}]",
                check["quantile"].as_str().unwrap_or("-"),
                check["atol"].as_str().unwrap_or("-"),
                check["rtol"].as_str().unwrap_or("-"),
                config.infinities_compare_equal,
                config.check_shapes
            );
            let Some(expected) = check["passed"].as_bool() else {
                // Polygraphy itself raised (shapes of different sizes without the shape check,
                // quantiles of bool differences): we must report a failure, not pass.
                polygraphy_errors += 1;
                let polygraphy_error = check["error"].as_str().unwrap_or("");
                let quantile_of_bools = polygraphy_error.contains("bool");
                if ours.passed && !quantile_of_bools {
                    disagreements.push(format!(
                        "{label}: Polygraphy raised ({polygraphy_error}) but we passed"
                    ));
                } else {
                    agreed += 1;
                }
                continue;
            };
            if expected {
                passes += 1;
            } else {
                failures += 1;
            }
            let mut problems = Vec::new();
            if ours.passed != expected {
                problems.push(format!("verdict ours={} polygraphy={expected}", ours.passed));
            }
            for (what, ours_v, theirs) in [
                ("required_atol", ours.required_atol, &check["required_atol"]),
                ("required_rtol", ours.required_rtol, &check["required_rtol"]),
            ] {
                match parse_f64(theirs) {
                    Some(t) => {
                        tolerances_compared += 1;
                        if !tolerance_matches(ours_v, t) {
                            problems.push(format!("{what} ours={ours_v:e} polygraphy={t:e}"));
                        }
                    }
                    // Polygraphy returned a bare `False` (shape mismatch): no statistics.
                    None if ours.mismatch.is_none() => {
                        problems.push(format!("{what}: Polygraphy refused to compare, we did not"));
                    }
                    None => {}
                }
            }
            if problems.is_empty() {
                agreed += 1;
            } else {
                disagreements.push(format!("{label}: {}", problems.join("; ")));
            }
        }
    }
    for d in &disagreements {
        eprintln!("DISAGREE {d}");
    }
    let cases = manifest["cases"].as_array().map_or(0, Vec::len);
    eprintln!(
        "compare conformance: {cases} cases, {checks} checks ({passes} pass, {failures} fail, \
         {polygraphy_errors} where Polygraphy raised), {agreed} agreed, {} disagreed, \
         {tolerances_compared} required tolerances compared",
        disagreements.len()
    );
    assert!(checks >= 2000, "expected at least 2000 checks, got {checks}");
    assert!(passes > 0 && failures > 0, "the cases must exercise both verdicts");
    assert!(disagreements.is_empty(), "{} checks disagree with Polygraphy", disagreements.len());
}

/// Whether two metric values agree: both NaN, equal (infinities included), or within 1e-12
/// relative.
fn value_matches(ours: f64, theirs: f64) -> bool {
    (ours.is_nan() && theirs.is_nan())
        || ours == theirs
        || ((ours - theirs).abs() <= 1e-12 * theirs.abs().max(ours.abs()))
}

/// The settings of one metric check: the function alone, with its threshold.
fn metric_config(check: &Value) -> CompareConfig {
    let function = check["function"].as_str().expect("function");
    let mut config = CompareConfig {
        functions: CompareFunc::parse_list(function).expect("known function"),
        check_shapes: check["check_shapes"].as_bool().unwrap_or(true),
        ..CompareConfig::default()
    };
    let threshold = &check["threshold"];
    match function {
        "indices" => {
            config.index_tolerance =
                PerOutput::uniform(threshold.as_str().expect("t").parse().expect("integer"));
        }
        "l2" => config.l2_threshold = PerOutput::uniform(parse_f64(threshold).expect("t")),
        "cosine_similarity" => {
            config.cosine_similarity_threshold =
                PerOutput::uniform(parse_f64(threshold).expect("t"));
        }
        "psnr" => config.psnr_threshold = PerOutput::uniform(parse_f64(threshold).expect("t")),
        "snr" => config.snr_threshold = PerOutput::uniform(parse_f64(threshold).expect("t")),
        "simple" => {
            config.check_error_stat =
                PerOutput::uniform(check["stat"].as_str().expect("stat").parse().expect("stat"));
            config.atol = PerOutput::uniform(parse_f64(&check["atol"]).expect("atol"));
            config.rtol = PerOutput::uniform(parse_f64(&check["rtol"]).expect("rtol"));
        }
        other => panic!("unexpected function {other}"),
    }
    config
}

/// Compares one of our results with Polygraphy's check; returns the problems found.
fn judge(ours: &OutputComparison, check: &Value, tallies: &mut [usize; 4]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(expected) = check["passed"].as_bool() else {
        // Polygraphy itself raised (bool subtraction, a 0-d indices output, sizes that cannot be
        // matched): we must fail, saying why.
        tallies[2] += 1;
        if ours.passed || ours.mismatch.is_none() {
            problems.push(format!(
                "Polygraphy raised ({}) but we {}",
                check["error"].as_str().unwrap_or(""),
                if ours.passed { "passed" } else { "failed without saying why" }
            ));
        }
        return problems;
    };
    tallies[usize::from(!expected)] += 1;
    // PSNR and SNR go through log10, and NumPy's (SIMD) log10 may differ from the platform's in
    // the last bits: at a threshold within a few ulp of the value the verdicts can differ while
    // the values agree (checked below). Such knife-edge thresholds are counted, not judged.
    let function = check["function"].as_str().unwrap_or("");
    let knife_edge = matches!(function, "psnr" | "snr")
        && match (parse_f64(&check["value"]), parse_f64(&check["threshold"])) {
            (Some(v), Some(t)) => v.is_finite() && (v - t).abs() <= 1e-14 * v.abs().max(1.0),
            _ => false,
        };
    if knife_edge {
        tallies[3] += 1;
    } else if ours.passed != expected {
        problems.push(format!("verdict ours={} polygraphy={expected}", ours.passed));
    }
    let metric = &ours.metrics[0];
    match parse_f64(&check["value"]) {
        Some(theirs) if !value_matches(metric.value, theirs) => {
            problems.push(format!("value ours={:e} polygraphy={theirs:e}", metric.value));
        }
        // A bare False (shapes differ): no value, and we must say why we failed.
        None if check["function"] != "indices" && ours.mismatch.is_none() => {
            problems.push("Polygraphy refused to compare, we did not".to_owned());
        }
        Some(_) | None => {}
    }
    if let Some(theirs) = parse_f64(&check["rel_value"]) {
        let rel = metric.relative.map_or(f64::NAN, |r| r.value);
        if !value_matches(rel, theirs) {
            problems.push(format!("relative value ours={rel:e} polygraphy={theirs:e}"));
        }
    }
    problems
}

#[test]
fn metric_verdicts_match_polygraphy() {
    let scratch = generate_with("gen_metric_cases.py", "PRECISION_METRIC_CASES");
    let dir = &scratch.0;
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    let mut tallies = [0usize; 4];
    let mut per_function = std::collections::BTreeMap::<String, usize>::default();
    let mut disagreements = Vec::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let actual = read_tensor(dir, &case["actual"]);
        let golden = read_tensor(dir, &case["golden"]);
        for check in case["checks"].as_array().expect("checks") {
            let config = metric_config(check);
            *per_function
                .entry(check["function"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
            let ours = compare_tensors("out", &actual, &golden, &config);
            for p in judge(&ours, check, &mut tallies) {
                disagreements.push(format!("{name} [{check}]: {p}"));
            }
        }
    }
    let mut averaged = 0;
    for case in manifest["average_cases"].as_array().expect("average_cases") {
        let name = case["name"].as_str().expect("name");
        let iterations: Vec<(Tensor, Tensor)> = case["iterations"]
            .as_array()
            .expect("iterations")
            .iter()
            .map(|it| (read_tensor(dir, &it["actual"]), read_tensor(dir, &it["golden"])))
            .collect();
        for check in case["checks"].as_array().expect("checks") {
            averaged += 1;
            let config = CompareConfig { check_average: true, ..metric_config(check) };
            let per_iteration = iterations
                .iter()
                .map(|(a, g)| vec![compare_tensors("out", a, g, &config)])
                .collect();
            let ours = combine_iterations(per_iteration, &config).remove(0);
            for p in judge(&ours, check, &mut tallies) {
                disagreements.push(format!("{name} (averaged) [{check}]: {p}"));
            }
        }
    }
    for d in &disagreements {
        eprintln!("DISAGREE {d}");
    }
    eprintln!(
        "metric conformance: {} pass, {} fail, {} where Polygraphy raised ({averaged} averaged, \
         {} PSNR/SNR thresholds within 1e-14 of the value compared by value only); per function \
         {per_function:?}; {} disagreed",
        tallies[0],
        tallies[1],
        tallies[2],
        tallies[3],
        disagreements.len()
    );
    assert!(tallies[0] > 500 && tallies[1] > 500, "the cases must exercise both verdicts");
    assert!(averaged >= 500, "expected at least 500 averaged checks, got {averaged}");
    for f in ["indices", "l2", "cosine_similarity", "psnr", "snr"] {
        assert!(per_function.get(f).copied().unwrap_or(0) >= 300, "too few {f} checks");
    }
    assert!(disagreements.is_empty(), "{} checks disagree with Polygraphy", disagreements.len());
}
