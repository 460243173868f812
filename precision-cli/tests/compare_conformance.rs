//! `precision compare` and Polygraphy 0.53.6 (`polygraphy run --load-outputs A B`) must make
//! the same pass/fail decision for every output, under every check-error-stat.
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
