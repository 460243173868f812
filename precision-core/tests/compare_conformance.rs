//! Conformance of [`compare_tensors`] with Polygraphy 0.53.6's own comparator.
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
use precision_core::{CompareConfig, ErrorStat, PerOutput, Tensor, compare_tensors};
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
    if let Ok(dir) = std::env::var("PRECISION_COMPARE_CASES") {
        let dir = PathBuf::from(dir);
        if dir.join("manifest.json").is_file() {
            return ScratchDir(dir, false);
        }
    }
    let dir =
        std::env::temp_dir().join(format!("precision-compare-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scratch = ScratchDir(dir, true);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/gen_compare_cases.py");
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
