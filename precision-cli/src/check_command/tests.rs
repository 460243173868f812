//! Unit tests of the check command's rules and of running one command.

use std::time::{Duration, Instant};

use super::process::{self, Ending, Finished};
use super::*;

fn args(check: &[&str]) -> CheckCommandArgs {
    CheckCommandArgs {
        check: check.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

fn command(configure: impl FnOnce(&mut CheckCommandArgs)) -> CheckCommand {
    let mut a = args(&["true"]);
    configure(&mut a);
    CheckCommand::from_args(&a).unwrap().unwrap()
}

fn finished(ending: Ending, stdout: &str, stderr: &str) -> Finished {
    Finished {
        ending,
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
        duration: Duration::ZERO,
    }
}

/// Polygraphy's `is_status_success`, case by case: (fail codes, ignore codes, regexes,
/// exit code, output, expected pass).
#[test]
fn verdicts_follow_polygraphy() {
    type Case = (&'static [i32], &'static [i32], &'static [&'static str], i32, &'static str, bool);
    let cases: &[Case] = &[
        // Plain: 0 passes, anything else fails.
        (&[], &[], &[], 0, "", true),
        (&[], &[], &[], 1, "", false),
        // Ignored codes pass, whatever the output.
        (&[], &[3], &[], 3, "", true),
        (&[], &[3], &["bad"], 3, "bad", true),
        (&[], &[3], &[], 4, "", false),
        // Fail codes: only those fail; any other code passes.
        (&[2], &[], &[], 2, "", false),
        (&[2], &[], &[], 1, "", true),
        (&[2], &[], &[], 0, "", true),
        // A regex alone decides, whatever the code.
        (&[], &[], &["ERROR"], 0, "an ERROR here", false),
        (&[], &[], &["ERROR"], 1, "all fine", true),
        (&[], &[], &["ERROR", "nan"], 0, "loss nan", false),
        // Fail codes and regexes: a failure needs both.
        (&[2], &[], &["ERROR"], 2, "ERROR", false),
        (&[2], &[], &["ERROR"], 2, "fine", true),
        (&[2], &[], &["ERROR"], 1, "ERROR", true),
        // A signal is the code -signal.
        (&[-11], &[], &[], -11, "", false),
        (&[], &[-11], &[], -11, "", true),
    ];
    for &(fail, ignore, regexes, code, output, expected) in cases {
        let c = command(|a| {
            a.fail_code = fail.to_vec();
            a.ignore_fail_code = ignore.to_vec();
            a.fail_regex = regexes.iter().map(|r| (*r).to_owned()).collect();
        });
        let ending = if code < 0 { Ending::Signaled(-code) } else { Ending::Exited(code) };
        // The regexes see stdout and stderr.
        for (stdout, stderr) in [(output, ""), ("", output)] {
            let run = finished(ending, stdout, stderr);
            assert_eq!(
                c.passed(&run),
                expected,
                "fail {fail:?} ignore {ignore:?} regex {regexes:?} code {code} output {output:?}"
            );
        }
    }
    // A timeout never passes, even with its code ignored.
    let c = command(|a| a.ignore_fail_code = vec![0, 1, -9, -15]);
    assert!(!c.passed(&finished(Ending::TimedOut(Duration::from_secs(1)), "", "")));
}

#[test]
fn the_metric_is_the_last_match_on_stdout_then_stderr() {
    let c = command(|a| a.metric_regex = Some(r"top1: ([0-9.eE+-]+)".to_owned()));
    let run = finished(Ending::Exited(0), "top1: 0.5\nepoch 2\ntop1: 0.912\n", "top1: 0.1");
    assert_eq!(c.metric(&run), Some(0.912));
    let run = finished(Ending::Exited(0), "nothing", "top1: 0.25\n");
    assert_eq!(c.metric(&run), Some(0.25));
    assert_eq!(c.metric(&finished(Ending::Exited(0), "top1: n/a", "")), None);
    // Without a group, the whole match.
    let c = command(|a| a.metric_regex = Some(r"[0-9]+\.[0-9]+".to_owned()));
    assert_eq!(c.metric(&finished(Ending::Exited(1), "acc 0.75 then 0.8", "")), Some(0.8));
    // Not a finite number: no metric.
    let c = command(|a| a.metric_regex = Some(r"x=(\S+)".to_owned()));
    assert_eq!(c.metric(&finished(Ending::Exited(0), "x=nan", "")), None);
    assert_eq!(command(|_| {}).metric(&finished(Ending::Exited(0), "x=1", "")), None);
}

#[test]
fn bad_settings_are_refused_with_the_flag() {
    let err = |a: CheckCommandArgs| CheckCommand::from_args(&a).unwrap_err().to_string();
    let mut a = args(&[]);
    a.fail_code = vec![1];
    a.keep_artifacts = true;
    let e = err(a);
    assert!(e.contains("--fail-code, --keep-artifacts") && e.contains("--check CMD"), "{e}");
    assert!(err(args(&["no-such-program-precision-test"])).contains("no program"));
    assert!(err(args(&["./no/such/file"])).contains("cannot run"));
    assert!(err(args(&["/"])).contains("is a folder"));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("eval.sh");
    std::fs::write(&script, "exit 0\n").unwrap();
    let e = err(args(&[script.to_str().unwrap()]));
    assert!(e.contains("not executable") && e.contains("sh "), "{e}");
    let mut a = args(&["true"]);
    a.fail_regex = vec!["(".to_owned()];
    assert!(err(a).contains("--fail-regex '('"));
    let mut a = args(&["true"]);
    a.metric_regex = Some("[".to_owned());
    assert!(err(a).contains("--metric-regex"));
    let mut a = args(&["true"]);
    a.keep_artifacts = true;
    assert!(err(a).contains("--artifacts-dir"));
    // `{engine}` is refused later, by backends without engine files.
    let engine = CheckCommand::from_args(&args(&["true", "--loadEngine={engine}"])).unwrap();
    let engine = engine.unwrap();
    assert!(engine.uses_engine() && !engine.uses_model());
    assert!(CheckCommand::from_args(&args(&[])).unwrap().is_none());
}

#[test]
fn placeholders_and_identity() {
    let c = CheckCommand::from_args(&args(&["true", "--model={model}", "{model}", "x"]))
        .unwrap()
        .unwrap();
    let written = |model: Option<&str>, engine: Option<&str>| super::Written {
        model: model.map(std::path::PathBuf::from),
        engine: engine.map(std::path::PathBuf::from),
        marked: "/a/check-0001.marked.txt".into(),
    };
    assert_eq!(
        c.argv_for(&written(Some("/a/check-0001.onnx"), None)),
        ["true", "--model=/a/check-0001.onnx", "/a/check-0001.onnx", "x"]
    );
    assert!(c.uses_model() && !c.uses_engine());
    let both = CheckCommand::from_args(&args(&["true", "{model}", "--loadEngine={engine}"]))
        .unwrap()
        .unwrap();
    assert!(both.uses_model() && both.uses_engine());
    assert_eq!(
        both.argv_for(&written(Some("/a/c.onnx"), Some("/a/c.engine"))),
        ["true", "/a/c.onnx", "--loadEngine=/a/c.engine"]
    );
    // Neither placeholder: the command reads PRECISION_MODEL, so the model is written.
    let neither = CheckCommand::from_args(&args(&["true"])).unwrap().unwrap();
    assert!(neither.uses_model() && !neither.uses_engine());
    let other = command(|a| a.check.push("y".to_owned()));
    assert_ne!(c.identity(true), other.identity(true));
    assert_ne!(c.identity(true), c.identity(false));
    let timed = command(|a| a.check_timeout = Some(Duration::from_secs(3)));
    assert_ne!(command(|_| {}).identity(true), timed.identity(true));
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

#[test]
fn a_run_reports_code_output_and_environment() {
    let env = [("PRECISION_CHECK", std::ffi::OsString::from("7"))];
    let run =
        process::run(&sh("echo out $PRECISION_CHECK; echo err >&2; exit 3"), &env, None).unwrap();
    assert_eq!(run.ending, Ending::Exited(3));
    assert_eq!(run.stdout, b"out 7\n");
    assert_eq!(run.stderr, b"err\n");
    let run = process::run(&sh("kill -SEGV $$"), &[], None).unwrap();
    assert_eq!(run.ending, Ending::Signaled(11));
    let missing = process::run(&["/no/such/program".to_owned()], &[], None);
    assert!(matches!(missing, Err(process::RunError::Start(_))));
}

/// A timeout kills the command's whole group: a grandchild that would outlive it (and hold its
/// output pipe open) is gone too, and the run ends soon after the limit.
#[test]
fn a_timeout_kills_the_group_with_grandchildren() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > '{}'; wait", pid_file.display());
    let start = Instant::now();
    let run = process::run(&sh(&script), &[], Some(Duration::from_millis(300))).unwrap();
    assert!(matches!(run.ending, Ending::TimedOut(_)), "{:?}", run.ending);
    // The limit plus the grace period, with room for a slow machine; never the 300 s sleep.
    assert!(start.elapsed() < Duration::from_secs(60), "{:?}", start.elapsed());
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(!running(pid), "the grandchild {pid} survived the timeout");
}

/// Whether process `pid` exists and is no zombie (a killed orphan may wait for a reaper).
pub(super) fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name in parentheses.
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}
