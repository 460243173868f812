//! `precision compare` and Polygraphy 0.53.6 (`polygraphy run --load-outputs A B`) must make
//! the same pass/fail decision for every output, under every check-error-stat
//! (`precision_compare_agrees_with_polygraphy`), and under every other comparison function,
//! alone, combined and with `--check-average`, printing the same metric values to the
//! precision Polygraphy prints (`metric_functions_agree_with_polygraphy`).
//!
//! Needs `PRECISION_PYTHON`: a python with polygraphy 0.53.6 and numpy (`cargo xtask ci` sets
//! it up). Without it this test fails and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    match std::env::var_os("PRECISION_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "PRECISION_PYTHON is not set: set it to a python with polygraphy 0.53.6 and numpy, \
             or run `cargo xtask ci`, which creates that venv"
        ),
    }
}

/// Per-output verdicts from Polygraphy's log lines `PASSED | Output: 'name' | ...`.
fn polygraphy_verdicts(log: &str) -> BTreeMap<String, bool> {
    let mut verdicts = BTreeMap::new();
    for line in log.lines() {
        let line =
            line.trim_start_matches(|c: char| c == '[' || c.is_ascii_uppercase() || c == ']');
        let line = line.trim();
        for (prefix, passed) in [("PASSED | Output: ", true), ("FAILED | Output: ", false)] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let quote = rest.chars().next().unwrap_or('\'');
                let name: String = rest[1..].chars().take_while(|&c| c != quote).collect();
                verdicts.insert(name, passed);
            }
        }
    }
    verdicts
}

/// Per-output verdicts from `precision compare` lines `iteration 0 | PASSED | name: ...`.
fn our_verdicts(stdout: &str) -> BTreeMap<String, bool> {
    let mut verdicts = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with("iteration ")) {
        let parts: Vec<&str> = line.split(" | ").collect();
        let name = parts[2].rsplit_once(": ").map_or(parts[2], |(n, _)| n);
        let name = name.split(": ").next().unwrap_or(name);
        verdicts.insert(name.to_owned(), parts[1] == "PASSED");
    }
    verdicts
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("command runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn precision_compare_agrees_with_polygraphy() {
    let python = python();
    let polygraphy = python.parent().expect("python is in a bin folder").join("polygraphy");
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/make_pairs.py");
    let (code, out, err) = run(Command::new(&python).arg(&script).arg(dir.path()));
    assert_eq!(code, 0, "make_pairs.py failed:\n{err}");
    let num_outputs: usize = out
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .parse()
        .expect("make_pairs.py prints the output count");
    let actual = dir.path().join("actual.json");
    let reference = dir.path().join("reference.json");

    let mut configs: Vec<Vec<String>> = Vec::new();
    for stat in ["elemwise", "max", "mean", "median", "quantile"] {
        for (atol, rtol) in [("1e-5", "1e-5"), ("1e-2", "0"), ("0", "1e-2"), ("0.05", "0.05")] {
            configs.push(
                ["--atol", atol, "--rtol", rtol, "--check-error-stat", stat]
                    .map(String::from)
                    .to_vec(),
            );
        }
    }
    for extra in [
        vec!["--check-error-stat", "quantile", "--error-quantile", "0.5", "--atol", "1e-3"],
        vec!["--infinities-compare-equal"],
        vec!["--infinities-compare-equal", "--check-error-stat", "max"],
        vec!["--no-shape-check", "--atol", "1e-4"],
        vec!["--atol", "1e-5", "noise1:1e-2", "--rtol", "0", "large_magnitude:2e-3"],
        vec!["--check-error-stat", "max", "noise2:mean", "--atol", "1e-2"],
    ] {
        configs.push(extra.into_iter().map(String::from).collect());
    }

    let mut disagreements = Vec::new();
    let mut compared = 0;
    for config in &configs {
        let (_, log_out, log_err) = run(Command::new(&polygraphy)
            .arg("run")
            .arg("--load-outputs")
            .arg(&actual)
            .arg(&reference)
            .args(config));
        let theirs = polygraphy_verdicts(&format!("{log_out}\n{log_err}"));
        // Polygraphy crashes on the quantile statistic of bool outputs (the last two).
        let crashes_on_bools = config.iter().any(|c| c == "quantile");
        let expected = if crashes_on_bools { num_outputs - 2 } else { num_outputs };
        assert!(
            theirs.len() >= expected,
            "polygraphy gave {} of {expected} verdicts for {config:?}:\n{log_out}{log_err}",
            theirs.len()
        );
        let (code, out, err) = run(Command::new(env!("CARGO_BIN_EXE_precision"))
            .arg("compare")
            .arg(&actual)
            .arg(&reference)
            .args(config));
        assert!(code == 0 || code == 1, "precision compare exited {code} for {config:?}:\n{err}");
        let ours = our_verdicts(&out);
        assert_eq!(
            code == 0,
            ours.values().all(|&p| p),
            "exit code matches verdicts for {config:?}"
        );
        for (name, their_pass) in &theirs {
            compared += 1;
            match ours.get(name) {
                Some(our_pass) if our_pass == their_pass => {}
                other => disagreements.push(format!(
                    "{config:?} {name}: polygraphy {}, precision {:?}",
                    if *their_pass { "PASSED" } else { "FAILED" },
                    other.map(|p| if *p { "PASSED" } else { "FAILED" })
                )),
            }
        }
    }
    eprintln!("compared {compared} (config, output) verdicts over {} configs", configs.len());
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Polygraphy's labels of the single-number metrics and ours.
const METRIC_LABELS: [(&str, &str); 4] = [
    ("L2 Norm", "l2"),
    ("Cosine Similarity", "cosine similarity"),
    ("PSNR", "psnr"),
    ("SNR", "snr"),
];

/// What Polygraphy's log says per output: the verdict (every function must pass) and each
/// metric's printed value, by our label.
#[derive(Debug, Default)]
struct Logged {
    passed: bool,
    /// Whether a verdict line was seen (Polygraphy stops at an output it cannot compare).
    decided: bool,
    values: BTreeMap<&'static str, f64>,
}

/// Parses Polygraphy's log of `run --load-outputs` with any `--compare` functions: per
/// output, from the per-iteration lines (`Comparing Output: 'x'` and the verdict lines under
/// it) or, with `--check-average`, from the summary (`x | PASSED:` and the metric lines).
fn polygraphy_log(log: &str) -> BTreeMap<String, Logged> {
    let mut outputs: BTreeMap<String, Logged> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut average = false;
    for raw in log.lines() {
        let line = raw.trim_start_matches(|c: char| c == '[' || c.is_ascii_uppercase() || c == ']');
        let line = line.trim();
        if line.starts_with("Accuracy Summary") {
            average = true;
            current = None;
            continue;
        }
        if let Some(rest) = line.split("Comparing Output: '").nth(1) {
            let name: String = rest.chars().take_while(|&c| c != '\'').collect();
            if !average {
                outputs.entry(name.clone()).or_insert(Logged { passed: true, ..Logged::default() });
            }
            current = Some(name);
            continue;
        }
        if average {
            for (suffix, passed) in [(" | PASSED:", true), (" | FAILED:", false)] {
                if let Some(name) = line.strip_suffix(suffix) {
                    outputs.insert(
                        name.to_owned(),
                        Logged { passed, decided: true, ..Logged::default() },
                    );
                    current = Some(name.to_owned());
                }
            }
        }
        let Some(name) = current.clone() else { continue };
        let entry = outputs.entry(name).or_insert(Logged { passed: true, ..Logged::default() });
        for (theirs, ours) in METRIC_LABELS {
            if let Some(rest) = line.strip_prefix(&format!("{theirs}: ")) {
                let value = rest.split_whitespace().next().unwrap_or("");
                entry.values.insert(ours, value.parse().unwrap_or(f64::NAN));
                entry.decided = true;
                if !average && line.ends_with("| FAILED") {
                    entry.passed = false;
                }
            }
        }
        if !average
            && (line.starts_with("FAILED | Difference exceeds index tolerance")
                || line.starts_with("FAILED | Value:")
                || line.starts_with("FAILED | Output:"))
        {
            entry.passed = false;
            entry.decided = true;
        }
        if !average
            && (line.starts_with("PASSED | Difference is within index tolerance")
                || line.starts_with("PASSED | Output:"))
        {
            entry.decided = true;
        }
    }
    outputs.retain(|_, logged| logged.decided);
    outputs
}

/// Per output, from `precision compare` lines `iteration 0 | PASSED | name: ok, l2 V (<= T)`
/// (or `average | ...` with `--check-average`): the verdict and each metric's value.
fn our_log(stdout: &str, average: bool) -> BTreeMap<String, Logged> {
    let prefix = if average { "average | " } else { "iteration " };
    let mut outputs = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with(prefix)) {
        let parts: Vec<&str> = line.split(" | ").collect();
        let summary = parts[2];
        let name = summary.split(": ").next().unwrap_or(summary).to_owned();
        let mut logged =
            Logged { passed: parts[1] == "PASSED", decided: true, ..Logged::default() };
        for (_, ours) in METRIC_LABELS {
            for piece in summary.split(", ") {
                if let Some(value) = piece.strip_prefix(&format!("{ours} ")) {
                    let value = value.split_whitespace().next().unwrap_or("");
                    logged.values.insert(ours, value.parse().unwrap_or(f64::NAN));
                }
            }
        }
        outputs.insert(name, logged);
    }
    outputs
}

/// Whether our value agrees with the one Polygraphy printed (5 significant digits or more).
fn printed_value_matches(ours: f64, theirs: f64) -> bool {
    (ours.is_nan() && theirs.is_nan())
        || ours == theirs
        || (ours - theirs).abs() <= 1e-4 * theirs.abs().max(ours.abs())
}

#[test]
fn metric_functions_agree_with_polygraphy() {
    let python = python();
    let polygraphy = python.parent().expect("python is in a bin folder").join("polygraphy");
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/make_pairs.py");
    let (code, _, err) = run(Command::new(&python).arg(&script).arg(dir.path()));
    assert_eq!(code, 0, "make_pairs.py failed:\n{err}");
    let file = |name: &str| dir.path().join(format!("{name}.json"));
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("actual", "reference", vec!["--compare", "cosine_similarity"]),
        (
            "actual",
            "reference",
            vec![
                "--compare",
                "cosine_similarity",
                "--cosine-similarity-threshold",
                "0.99999",
                "noise2:0.9",
            ],
        ),
        ("actual", "reference", vec!["--compare", "l2"]),
        ("actual", "reference", vec!["--compare", "l2", "--l2-tolerance", "1e-2", "noise7:0.5"]),
        ("actual", "reference", vec!["--compare", "psnr"]),
        ("actual", "reference", vec!["--compare", "psnr", "--psnr-threshold", "60"]),
        ("actual", "reference", vec!["--compare", "snr", "--snr-tolerance", "45"]),
        ("actual", "reference", vec!["--compare", "distance_metrics", "--l2-threshold", "1e-3"]),
        ("actual", "reference", vec!["--compare", "quality_metrics"]),
        ("actual", "reference", vec!["--compare", "simple", "cosine_similarity", "--atol", "1e-3"]),
        ("actual", "reference", vec!["--compare", "cosine_similarity", "--no-shape-check"]),
        ("indices_actual", "indices_reference", vec!["--compare", "indices"]),
        (
            "indices_actual",
            "indices_reference",
            vec!["--compare", "indices", "--index-tolerance", "1"],
        ),
        (
            "indices_actual",
            "indices_reference",
            vec!["--compare", "indices", "--index-tolerance", "2", "topk1:0"],
        ),
        (
            "indices_actual",
            "indices_reference",
            vec!["--compare", "indices", "--index-tolerance", "6"],
        ),
        (
            "actual_multi",
            "reference_multi",
            vec!["--compare", "distance_metrics", "--check-average"],
        ),
        (
            "actual_multi",
            "reference_multi",
            vec!["--compare", "quality_metrics", "--check-average", "--psnr-tolerance", "40"],
        ),
        (
            "actual_multi",
            "reference_multi",
            vec!["--check-average", "--check-error-stat", "mean", "--atol", "1e-3"],
        ),
        (
            "actual_multi",
            "reference_multi",
            vec![
                "--check-average",
                "--check-error-stat",
                "max",
                "--atol",
                "1e-2",
                "--compare",
                "simple",
                "cosine_similarity",
            ],
        ),
        ("actual_multi", "reference_multi", vec!["--compare", "l2", "--l2-tolerance", "1e-2"]),
    ];
    let (mut verdicts, mut values) = (0, 0);
    let mut disagreements = Vec::new();
    for (actual, reference, config) in &cases {
        let average = config.contains(&"--check-average");
        let (_, log_out, log_err) = run(Command::new(&polygraphy)
            .arg("run")
            .arg("--load-outputs")
            .arg(file(actual))
            .arg(file(reference))
            .args(config));
        let theirs = polygraphy_log(&format!("{log_out}\n{log_err}"));
        assert!(
            theirs.len() >= 4,
            "polygraphy gave {} verdicts for {config:?}:\n{log_out}{log_err}",
            theirs.len()
        );
        let (code, out, err) = run(Command::new(env!("CARGO_BIN_EXE_precision"))
            .arg("compare")
            .arg(file(actual))
            .arg(file(reference))
            .args(config));
        assert!(code == 0 || code == 1, "precision compare exited {code} for {config:?}:\n{err}");
        let ours = our_log(&out, average);
        for (name, their) in &theirs {
            verdicts += 1;
            let Some(our) = ours.get(name) else {
                disagreements.push(format!("{config:?} {name}: no verdict of ours:\n{out}"));
                continue;
            };
            if our.passed != their.passed {
                disagreements.push(format!(
                    "{config:?} {name}: polygraphy {}, precision {}",
                    their.passed, our.passed
                ));
            }
            for (label, theirs_v) in &their.values {
                values += 1;
                match our.values.get(label) {
                    Some(v) if printed_value_matches(*v, *theirs_v) => {}
                    other => disagreements.push(format!(
                        "{config:?} {name} {label}: polygraphy {theirs_v}, precision {other:?}"
                    )),
                }
            }
        }
    }
    eprintln!(
        "compared {verdicts} verdicts and {values} metric values over {} configs",
        cases.len()
    );
    assert!(values >= 100, "expected at least 100 metric values, got {values}");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn perceptual_metrics_and_bad_combinations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/make_pairs.py");
    let (code, _, err) = run(Command::new(&python).arg(&script).arg(dir.path()));
    assert_eq!(code, 0, "make_pairs.py failed:\n{err}");
    let a = dir.path().join("actual.json");
    let r = dir.path().join("reference.json");
    for (args, expected) in [
        (vec!["--compare", "perceptual_metrics"], "needs torch"),
        (vec!["--compare", "lpips"], "unknown comparison function"),
        (vec!["--check-average"], "elemwise"),
        (vec!["--check-average", "--compare", "indices"], "indices"),
        (vec!["--index-tolerance", "1.5", "--compare", "indices"], "non-negative whole number"),
        (vec!["--compare", "l2", "--l2-tolerance", "x"], "--l2-tolerance"),
    ] {
        let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_precision"))
            .arg("compare")
            .arg(&a)
            .arg(&r)
            .args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
