//! End-to-end tests of the check journal: a repeated search builds nothing, a search killed
//! with SIGKILL resumes where it stopped, and a journal of another setup or a damaged one is
//! refused (exit code 2).

mod common;
use common::{code, precision, s, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The committed 200-layer chain with sensitive layers 25, 75, 125 and 175.
fn chain() -> PathBuf {
    fixtures::fixtures_dir().join("networks/generated/chain-200-scattered4.toml")
}

fn demo() -> PathBuf {
    fixtures::fixtures_dir().join("networks/demo.toml")
}

/// Float32 goldens of `model`, written into `dir`.
fn goldens(dir: &Path, model: &Path, name: &str) -> PathBuf {
    let golden = dir.join(name);
    let out = precision(&["run", s(model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    golden
}

// Quiet layers add 1e-4 of error in INT8, sensitive ones 5e-2: with atol 0.03 and rtol 0
// every sensitive layer must be marked.
fn search_args<'a>(
    algorithm: &'a str,
    model: &'a Path,
    golden: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args =
        vec![algorithm, s(model), "--golden", s(golden), "--int8", "--atol", "0.03", "--rtol", "0"];
    args.extend_from_slice(extra);
    args
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn report_checks(report: &serde_json::Value) -> &Vec<serde_json::Value> {
    report["checks"].as_array().unwrap()
}

fn reused(report: &serde_json::Value) -> usize {
    report_checks(report).iter().filter(|i| i["reused"] == true).count()
}

/// The complete records in a journal (lines after the header that end in a newline).
fn records(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.matches('\n').count().saturating_sub(1)
}

#[test]
fn journal_second_run_builds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let golden = goldens(dir.path(), &chain(), "golden.json");
    let (model, first, second) = (chain(), dir.path().join("r1.json"), dir.path().join("r2.json"));
    let journal = dir.path().join("checks.jsonl");
    let run = |report: &Path| {
        let extra = ["--journal", s(&journal), "--report", s(report)];
        let out = precision(&search_args("bisect", &model, &golden, &extra));
        assert_eq!(code(&out), 0, "{}", text(&out));
        out
    };
    let out = run(&first);
    assert!(!text(&out).contains("resuming"), "{}", text(&out));
    let r1 = report(&first);
    let checks = report_checks(&r1).len();
    assert!(checks >= 5, "{checks} checks");
    assert_eq!(reused(&r1), 0);
    assert_eq!(records(&journal), checks);

    let out = run(&second);
    let t = text(&out);
    assert!(
        t.contains(&format!("resuming from {}: {checks} checks already done", s(&journal))),
        "{t}"
    );
    let r2 = report(&second);
    assert_eq!(r2["marked"], r1["marked"]);
    assert_eq!(report_checks(&r2).len(), checks);
    assert_eq!(reused(&r2), checks, "every check must come from the journal");
    // Nothing new was recorded.
    assert_eq!(records(&journal), checks);
}

#[test]
fn journal_resumes_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let model = chain();
    let golden = goldens(dir.path(), &model, "golden.json");

    // The uninterrupted search, for reference.
    let whole = dir.path().join("whole.json");
    let out = precision(&search_args("linear", &model, &golden, &["--report", s(&whole)]));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let whole = report(&whole);
    let uninterrupted = report_checks(&whole).len();
    assert!(uninterrupted > 20, "{uninterrupted} checks");

    // A slow search, killed once it has recorded three checks.
    let resumed = dir.path().join("resumed.json");
    let journal = dir.path().join("resumed.journal.jsonl");
    let args = search_args(
        "linear",
        &model,
        &golden,
        &["--report", s(&resumed), "--mock-build-ms", "300"],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_precision"))
        .args(&args)
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while records(&journal) < 3 {
        assert!(Instant::now() < deadline, "the journal never reached 3 records");
        assert!(child.try_wait().unwrap().is_none(), "the search ended before it was killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!resumed.exists(), "a killed search writes no report");
    let done = records(&journal);
    assert!(done >= 3 && done < uninterrupted, "{done} records");
    // What a write torn by the kill would leave.
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"{\"marked\":[199,198],\"detail\":\"netw");
    std::fs::write(&journal, &bytes).unwrap();

    // Resume, fast this time (the build time does not change answers).
    let out = precision(&search_args("linear", &model, &golden, &["--report", s(&resumed)]));
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    let line = t.lines().find(|l| l.starts_with("resuming from")).unwrap_or_else(|| panic!("{t}"));
    assert_eq!(line, format!("resuming from {}: {done} checks already done", s(&journal)));
    assert!(t.contains("dropped the unfinished record"), "{t}");
    let resumed = report(&resumed);
    assert_eq!(resumed["marked"], whole["marked"]);
    assert_eq!(resumed["status"], "found");
    assert_eq!(report_checks(&resumed).len(), uninterrupted);
    assert_eq!(reused(&resumed), done);
    // Checks built over both runs: those recorded, at most one lost with the kill, and the
    // new ones of the second run.
    let built = done + 1 + (uninterrupted - reused(&resumed));
    assert!(built <= uninterrupted + 1, "{built} checks built, {uninterrupted} needed");
    assert_eq!(records(&journal), uninterrupted);
}

#[test]
fn journal_of_another_setup_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = chain();
    let golden = goldens(dir.path(), &model, "golden.json");
    let journal = dir.path().join("j.jsonl");
    let out = precision(&search_args("bisect", &model, &golden, &["--journal", s(&journal)]));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let before = std::fs::read(&journal).unwrap();

    let refused = |out: &Output| {
        let t = text(out);
        assert_eq!(code(out), 2, "{t}");
        for needle in [s(&journal), "was written for another model", "tolerances", "delete it"] {
            assert!(t.contains(needle), "'{needle}' missing from: {t}");
        }
        assert!(t.contains("--journal OTHER"), "{t}");
        assert_eq!(std::fs::read(&journal).unwrap(), before, "a refused journal is left as is");
    };
    // Another tolerance.
    let mut args = search_args("bisect", &model, &golden, &["--journal", s(&journal)]);
    args[6] = "0.04";
    refused(&precision(&args));
    // Another model.
    let demo = demo();
    let demo_golden = goldens(dir.path(), &demo, "demo-golden.json");
    refused(&precision(&search_args("linear", &demo, &demo_golden, &["--journal", s(&journal)])));
    // Other inputs.
    refused(&precision(&search_args(
        "bisect",
        &model,
        &golden,
        &["--journal", s(&journal), "--seed", "2"],
    )));
    // The same setup, another algorithm and build time: accepted.
    let out = precision(&search_args(
        "linear",
        &model,
        &golden,
        &["--journal", s(&journal), "--mock-build-ms", "1"],
    ));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("resuming from"), "{}", text(&out));
}

#[test]
fn journal_damaged_in_the_middle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = chain();
    let golden = goldens(dir.path(), &model, "golden.json");
    let journal = dir.path().join("j.jsonl");
    let args = search_args("bisect", &model, &golden, &["--journal", s(&journal)]);
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let original = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() >= 4, "{original}");
    lines[2] = "{\"marked\": [1, 2], \"detail\": \"netw";
    let damaged = lines.join("\n") + "\n";
    std::fs::write(&journal, &damaged).unwrap();
    let out = precision(&args);
    let t = text(&out);
    assert_eq!(code(&out), 2, "{t}");
    assert!(t.contains(&format!("journal {}, line 3", s(&journal))), "{t}");
    assert!(t.contains("delete it"), "{t}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), damaged);

    // A file that is no journal is refused and left alone (an input, such as the goldens,
    // is refused before that: tests/files.rs).
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "notes\n").unwrap();
    let out = precision(&search_args("bisect", &model, &golden, &["--journal", s(&other)]));
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("is not a precision journal"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "notes\n");
    let out = precision(&search_args("bisect", &model, &golden, &["--journal", s(&golden)]));
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("is the same file as --golden"), "{}", text(&out));
}

#[test]
fn journal_sits_next_to_the_report_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let model = chain();
    let golden = goldens(dir.path(), &model, "golden.json");
    let report = dir.path().join("r.json");
    let out = precision(&search_args("bisect", &model, &golden, &["--report", s(&report)]));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(dir.path().join("r.journal.jsonl").exists());

    let other = dir.path().join("o.json");
    let out = precision(&search_args(
        "bisect",
        &model,
        &golden,
        &["--report", s(&other), "--no-journal"],
    ));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!dir.path().join("o.journal.jsonl").exists());

    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    let out = precision(&search_args("worst-first", &model, &golden, &[]));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let after: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(before.len(), after.len(), "no journal without --report or --journal");

    let out = precision(&search_args(
        "bisect",
        &model,
        &golden,
        &["--journal", "x.jsonl", "--no-journal"],
    ));
    assert_eq!(code(&out), 2, "{}", text(&out));
}
