//! `--check CMD...`: an external command judges every check (Polygraphy `debug` semantics).
//! Mock networks (whose artifact is the plan as JSON) run everywhere; the ONNX case needs
//! `$PRECISION_PYTHON` (onnx and onnxruntime) and `$ORT_DYLIB_PATH`, as `cargo xtask ci` sets
//! them, and fails with what to do when they are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{CHAIN, code, env, s, text};
use fixtures::folder::TempFolder;

/// Runs `precision -q ARGS` (the check command takes the rest of the line, so `-q` goes
/// first).
fn precision(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precision")).arg("-q").args(args).output().expect("runs")
}

/// A temporary folder ([`TempFolder`]) that knows the chain network.
struct Work(TempFolder);

impl std::ops::Deref for Work {
    type Target = TempFolder;

    fn deref(&self) -> &TempFolder {
        &self.0
    }
}

impl Work {
    fn new() -> Self {
        Work(TempFolder::new())
    }

    /// The chain network.
    fn model(&self) -> String {
        std::fs::write(self.path("chain.toml"), CHAIN).unwrap();
        self.s("chain.toml")
    }

    /// The chain's goldens.
    fn golden(&self) -> String {
        let model = self.model();
        let out = precision(&["run", &model, "--save-outputs", &self.s("golden.json")]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        self.s("golden.json")
    }
}

fn run(args: &[&str]) -> (i32, String) {
    let out = precision(args);
    (code(&out), text(&out))
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn marked_names(report: &serde_json::Value) -> Vec<String> {
    report["marked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().into())
        .collect()
}

/// A script that passes exactly when `l5` is marked (read from `$PRECISION_MARKED`).
const NEEDS_L5: &str = r#"grep -qx l5 "$PRECISION_MARKED""#;

/// With --no-compare the command alone decides, and no goldens are needed: every search
/// finds the one layer the command wants, and each check in the report carries its verdict.
#[test]
fn no_compare_searches_find_what_the_command_wants() {
    let w = Work::new();
    let model = w.model();
    let check = w.script("needs-l5.sh", NEEDS_L5);
    for (search, expected) in [
        ("bisect", vec!["l5", "l6", "l7"]),
        ("linear", vec!["l5", "l6", "l7"]),
        ("ranked", vec!["l5"]),
        // Worst-first ranks by the output/input error ratio: `l0`, fed exact inputs, has an
        // infinite ratio and comes first.
        ("worst-first", vec!["l0", "l5"]),
    ] {
        let report_path = w.path(&format!("{search}.json"));
        let mut args = vec![search, &model, "--int8", "--no-journal"];
        let r = report_path.to_str().unwrap();
        args.extend(["--report", r]);
        if search == "worst-first" {
            args.extend(["--top", "1"]);
        }
        args.extend(["--no-compare", "--check", &check]);
        let (c, t) = run(&args);
        assert_eq!(c, 0, "{search}: {t}");
        let rep = report(&report_path);
        assert_eq!(marked_names(&rep), expected, "{search}: {t}");
        for it in rep["checks"].as_array().unwrap() {
            let command = &it["command"];
            assert!(command.is_object(), "{search}: a check without the command's verdict: {it}");
            assert_eq!(it["passed"], command["passed"], "{search}: {it}");
        }
    }
    // --golden, --auto-tolerance and comparator flags contradict --no-compare.
    let golden = w.golden();
    for extra in
        [vec!["--golden", golden.as_str()], vec!["--auto-tolerance", "2"], vec!["--atol", "0.1"]]
    {
        let mut args = vec!["bisect", &model, "--int8"];
        args.extend(&extra);
        args.extend(["--no-compare", "--check", &check]);
        let (c, t) = run(&args);
        assert_eq!(c, 2, "{extra:?}: {t}");
        assert!(t.contains("--no-compare") && t.contains(extra[0]), "{extra:?}: {t}");
    }
    // Without --no-compare the goldens are required.
    let (c, t) = run(&["bisect", &model, "--int8", "--check", &check]);
    assert_eq!(c, 2, "{t}");
    assert!(t.contains("--golden"), "{t}");
}

/// By default both decide: the comparison needs `l5` (atol), the command `l2`; the answer
/// has both, and plans the comparison fails are not given to the command.
#[test]
fn the_command_and_the_comparison_must_both_pass() {
    let w = Work::new();
    let model = w.model();
    let golden = w.golden();
    let check = w.script(
        "needs-l2.sh",
        r#"echo "$PRECISION_CHECK" >> "$(dirname "$0")/runs.log"; grep -qx l2 "$PRECISION_MARKED""#,
    );
    let r = w.s("r.json");
    let (c, t) = run(&[
        "ranked",
        &model,
        "--int8",
        "--golden",
        &golden,
        "--atol",
        "0.1",
        "--rtol",
        "0",
        "--report",
        &r,
        "--no-journal",
        "--check",
        &check,
    ]);
    assert_eq!(c, 0, "{t}");
    let rep = report(Path::new(&r));
    assert_eq!(marked_names(&rep), ["l2", "l5"], "{t}");
    let checks = rep["checks"].as_array().unwrap();
    let with_command = checks.iter().filter(|it| it["command"].is_object()).count();
    let runs = w.read("runs.log").lines().count();
    assert_eq!(runs, with_command, "one command run per check that carries its verdict");
    for it in checks {
        if it["command"].is_null() {
            assert_eq!(it["passed"], false, "only failed comparisons skip the command: {it}");
        }
    }
}

/// `precision check` with commands that pass, fail, crash, hang and take their time.
#[test]
fn check_reports_each_kind_of_ending() {
    let w = Work::new();
    let model = w.model();
    let check = |script: &str, extra: &[&str]| {
        let mut args = vec!["check", &model, "--int8", "--mark", "l5"];
        args.extend(extra);
        args.extend(["--no-compare", "--check", "sh", "-c", script]);
        run(&args)
    };
    let (c, t) = check("exit 0", &[]);
    assert_eq!(c, 0, "{t}");
    assert!(t.contains("command passed (exit code 0"), "{t}");
    let (c, t) = check("echo 'why it failed' >&2; exit 3", &[]);
    assert_eq!(c, 1, "{t}");
    assert!(t.contains("exit code 3") && t.contains("why it failed"), "{t}");
    let (c, t) = check("kill -SEGV $$", &[]);
    assert_eq!(c, 1, "{t}");
    assert!(t.contains("killed by signal 11"), "{t}");
    let (c, t) = check("sleep 1; exit 0", &["--check-timeout", "60s"]);
    assert_eq!(c, 0, "a slow command within its limit passes: {t}");
    // A hanging command with a grandchild: the limit kills both.
    let pid_file = w.s("grandchild.pid");
    let script = format!("sleep 300 & echo $! > '{pid_file}'; wait");
    let (c, t) = check(&script, &["--check-timeout", "1"]);
    assert_eq!(c, 1, "{t}");
    assert!(t.contains("timed out after 1s"), "{t}");
    let pid: i32 = w.read("grandchild.pid").trim().parse().unwrap();
    assert!(!running(pid), "the grandchild {pid} outlived the timeout");
}

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// `--fail-regex`, `--fail-code` and `--ignore-fail-code` as in Polygraphy.
#[test]
fn fail_codes_and_regexes() {
    let w = Work::new();
    let model = w.model();
    let check = |script: &str, flags: &[&str]| {
        let mut args = vec!["check", &model, "--int8"];
        args.extend(flags);
        args.extend(["--no-compare", "--check", "sh", "-c", script]);
        run(&args).0
    };
    // A regex alone decides, whatever the exit code.
    assert_eq!(check("echo 'accuracy dropped'; exit 0", &["--fail-regex", "dropped"]), 1);
    assert_eq!(check("echo fine; exit 1", &["--fail-regex", "dropped"]), 0);
    assert_eq!(check("echo 'x' >&2; echo 'NaN loss' >&2", &["--fail-regex", "a", "NaN"]), 1);
    // Fail codes: only those fail.
    assert_eq!(check("exit 4", &["--fail-code", "4"]), 1);
    assert_eq!(check("exit 1", &["--fail-code", "4", "5"]), 0);
    // Fail code and regex: both needed.
    assert_eq!(check("echo bad; exit 4", &["--fail-code", "4", "--fail-regex", "bad"]), 1);
    assert_eq!(check("echo good; exit 4", &["--fail-code", "4", "--fail-regex", "bad"]), 0);
    // Ignored codes pass.
    assert_eq!(check("exit 7", &["--ignore-fail-code", "7"]), 0);
    assert_eq!(check("exit 8", &["--ignore-fail-code", "7"]), 1);
    // The two code lists do not go together.
    assert_eq!(check("exit 0", &["--fail-code", "1", "--ignore-fail-code", "2"]), 2);
}

/// A command that cannot start is bad usage: exit 2 naming it, before any work, no report.
#[test]
fn a_command_that_cannot_start_is_bad_usage() {
    let w = Work::new();
    let model = w.model();
    let r = w.s("r.json");
    let not_executable = w.path("eval.sh");
    std::fs::write(&not_executable, "exit 0\n").unwrap();
    for (program, says) in [
        ("no-such-precision-check-program", "no program 'no-such-precision-check-program'"),
        (not_executable.to_str().unwrap(), "is not executable"),
    ] {
        let (c, t) =
            run(&["bisect", &model, "--int8", "--report", &r, "--no-compare", "--check", program]);
        assert_eq!(c, 2, "{t}");
        assert!(t.contains(says), "{t}");
        assert!(!Path::new(&r).exists(), "no report after bad usage");
        assert!(!w.path("r.journal.jsonl").exists(), "no journal after bad usage");
    }
}

/// `{engine}` names a TensorRT engine file: a backend that builds none refuses it as bad
/// usage before any work, saying what to use instead.
#[test]
fn an_engine_placeholder_is_refused_where_there_are_no_engines() {
    let w = Work::new();
    let model = w.model();
    let r = w.s("r.json");
    let search = ["bisect", &model, "--int8", "--report", &r];
    let check = ["check", &model, "--int8"];
    for command in [&search[..], &check[..]] {
        let mut args = command.to_vec();
        args.extend(["--no-compare", "--check", "true", "--loadEngine={engine}"]);
        let (c, t) = run(&args);
        assert_eq!(c, 2, "{t}");
        assert!(t.contains("{engine}") && t.contains("mock backend"), "{t}");
        assert!(t.contains("--backend tensorrt") && t.contains("{model}"), "{t}");
        assert!(!Path::new(&r).exists(), "no report after bad usage");
    }
}

/// `--metric-regex` puts a number from the output in the report (per check), the progress
/// lines and the HTML report.
#[test]
fn the_metric_reaches_the_report_lines_and_html() {
    let w = Work::new();
    let model = w.model();
    let check = w.script(
        "metric.sh",
        r#"if grep -qx l5 "$PRECISION_MARKED"; then echo "top1: 0.91"; else echo "top1: 0.42"; exit 1; fi"#,
    );
    let (r, html) = (w.s("r.json"), w.s("r.html"));
    let (c, t) = run(&[
        "bisect",
        &model,
        "--int8",
        "--report",
        &r,
        "--html",
        &html,
        "--no-journal",
        "--no-compare",
        "--metric-regex",
        r"top1: ([0-9.]+)",
        "--check",
        &check,
    ]);
    assert_eq!(c, 0, "{t}");
    let rep = report(Path::new(&r));
    for it in rep["checks"].as_array().unwrap() {
        let expected = if it["passed"] == true { 0.91 } else { 0.42 };
        assert_eq!(it["command"]["metric"].as_f64(), Some(expected), "{it}");
    }
    assert!(t.contains("metric 0.91") && t.contains("metric 0.42"), "{t}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<th class=\"num\">metric</th>") && page.contains("0.91"), "{page}");
}

/// With --jobs 2 two commands run at once, each on its own artifact: the first two checks
/// meet at a barrier (each waits, with a limit, for the other's token) and fail if alone.
#[test]
fn jobs_run_commands_in_parallel_on_their_own_artifacts() {
    let w = Work::new();
    let model = w.model();
    std::fs::create_dir(w.path("seen")).unwrap();
    let check = w.script(
        "barrier.sh",
        r#"seen="$(dirname "$0")/seen"
cp "$PRECISION_MODEL" "$seen/model-$PRECISION_CHECK.json"
cp "$PRECISION_MARKED" "$seen/marked-$PRECISION_CHECK.txt"
if [ "$PRECISION_CHECK" -le 2 ]; then
  touch "$seen/token-$PRECISION_CHECK"
  n=0
  while [ "$(ls "$seen" | grep -c '^token-')" -lt 2 ]; do
    n=$((n + 1)); [ "$n" -gt 600 ] && { echo "alone at the barrier" >&2; exit 9; }
    sleep 0.05
  done
fi
grep -qx l5 "$PRECISION_MARKED""#,
    );
    let r = w.s("r.json");
    let (c, t) = run(&[
        "bisect",
        &model,
        "--int8",
        "--jobs",
        "2",
        "--no-floor-check",
        "--report",
        &r,
        "--no-journal",
        "--no-compare",
        "--check",
        &check,
    ]);
    assert_eq!(c, 0, "{t}");
    let rep = report(Path::new(&r));
    let checks = rep["checks"].as_array().unwrap();
    assert_eq!(checks[0]["round"], checks[1]["round"], "the first two checks share a round");
    for it in &checks[..2] {
        assert_ne!(it["command"]["exit_code"], 9, "a command waited alone: {t}");
    }
    assert_eq!(marked_names(&rep), ["l5", "l6", "l7"], "{t}");
    // Each command saw the artifact of its own plan.
    for number in 1..=checks.len() {
        let model: serde_json::Value =
            serde_json::from_str(&w.read(&format!("seen/model-{number}.json"))).unwrap();
        let listed: Vec<String> =
            w.read(&format!("seen/marked-{number}.txt")).lines().map(str::to_owned).collect();
        let in_model: Vec<String> = model["marked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, in_model, "check {number}");
    }
    let mut sets: Vec<Vec<String>> = (1..=checks.len())
        .map(|n| w.read(&format!("seen/marked-{n}.txt")).lines().map(str::to_owned).collect())
        .collect();
    sets.sort();
    sets.dedup();
    assert_eq!(sets.len(), checks.len(), "every check had its own plan");
}

/// A resumed search answers from the journal without running the command again; another
/// command line refuses the journal.
#[test]
fn journal_resume_does_not_run_the_command() {
    let w = Work::new();
    let model = w.model();
    let check = w.script(
        "logged.sh",
        r#"echo "$PRECISION_CHECK" >> "$(dirname "$0")/runs.log"; grep -qx l5 "$PRECISION_MARKED""#,
    );
    let r = w.s("r.json");
    let args = ["bisect", &model, "--int8", "--report", &r, "--no-compare", "--check", &check];
    let (c, t) = run(&args);
    assert_eq!(c, 0, "{t}");
    let first = w.read("runs.log").lines().count();
    assert!(first >= 2, "{t}");
    let checks = report(Path::new(&r))["checks"].as_array().unwrap().len();
    assert_eq!(first, checks);
    let (c, t) = run(&args);
    assert_eq!(c, 0, "{t}");
    assert!(t.contains("resuming from"), "{t}");
    assert_eq!(w.read("runs.log").lines().count(), first, "the command ran again: {t}");
    let rep = report(Path::new(&r));
    assert!(rep["checks"].as_array().unwrap().iter().all(|it| it["reused"] == true));
    assert_eq!(marked_names(&rep), ["l5", "l6", "l7"]);
    // The command line is part of the journal's fingerprint.
    let mut other = args.to_vec();
    other.push("--an-argument");
    let (c, t) = run(&other);
    assert_eq!(c, 2, "{t}");
    assert!(t.contains("was written for another"), "{t}");
}

/// Artifacts are deleted after their command (the default folder with them), or kept in
/// --artifacts-dir with --keep-artifacts and named in the report.
#[test]
fn artifacts_are_deleted_or_kept() {
    let w = Work::new();
    let model = w.model();
    let check = w.script(
        "where.sh",
        r#"echo "$PRECISION_MODEL" >> "$(dirname "$0")/paths.log"; grep -qx l5 "$PRECISION_MARKED""#,
    );
    let base = ["bisect", &model, "--int8", "--no-journal", "--no-compare"];
    let (c, t) = run(&[&base[..], &["--check", &check]].concat());
    assert_eq!(c, 0, "{t}");
    let paths: Vec<PathBuf> = w.read("paths.log").lines().map(PathBuf::from).collect();
    assert!(!paths.is_empty());
    for p in &paths {
        assert!(!p.exists(), "{} was left behind", p.display());
        assert!(!p.parent().unwrap().exists(), "the temporary folder was left behind");
    }
    std::fs::remove_file(w.path("paths.log")).unwrap();

    let dir = w.s("artifacts");
    let (c, t) = run(&[&base[..], &["--artifacts-dir", &dir, "--check", &check]].concat());
    assert_eq!(c, 0, "{t}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "artifacts left in {dir}");
    std::fs::remove_file(w.path("paths.log")).unwrap();

    let r = w.s("r.json");
    let kept_dir = w.s("kept");
    let (c, t) =
        run(&[&base[..], &["--report", &r, "--artifacts-dir", &kept_dir, "--keep-artifacts"]]
            .concat()
            .into_iter()
            .chain(["--check", check.as_str()])
            .collect::<Vec<_>>());
    assert_eq!(c, 0, "{t}");
    let rep = report(Path::new(&r));
    for it in rep["checks"].as_array().unwrap() {
        let artifact = PathBuf::from(it["command"]["artifact"].as_str().unwrap());
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
        assert_eq!(plan["mock_plan"], 1);
        assert_eq!(
            plan["marked"].as_array().unwrap().len(),
            it["marked"].as_array().unwrap().len()
        );
        assert!(artifact.with_extension("marked.txt").exists());
    }
    // A kept folder is not reused: it must be new or empty.
    let (c, t) = run(&[&base[..], &["--artifacts-dir", &kept_dir, "--check", &check]].concat());
    assert_eq!(c, 2, "{t}");
    assert!(t.contains("--artifacts-dir") && t.contains("not empty"), "{t}");
}

/// ONNX Runtime: `{model}` is the mixed-precision ONNX model of the plan: onnx's checker
/// accepts it, ONNX Runtime loads it, and the marked layer computes in float32 while the
/// unmarked one runs in float16.
#[test]
fn onnx_model_artifact_is_loadable_with_the_marked_layer_in_float32() {
    let _ = env("ORT_DYLIB_PATH");
    let python = env("PRECISION_PYTHON");
    let w = Work::new();
    let model = w.path("two.onnx");
    let make = r#"
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
w1 = numpy_helper.from_array((np.arange(16, dtype=np.float32) / 7.0).reshape(4, 4), "W1")
w2 = numpy_helper.from_array((np.arange(16, dtype=np.float32) / 5.0).reshape(4, 4), "W2")
nodes = [
    helper.make_node("MatMul", ["x", "W1"], ["h"], name="mm1"),
    helper.make_node("Relu", ["h"], ["r"], name="relu"),
    helper.make_node("MatMul", ["r", "W2"], ["y"], name="mm2"),
]
graph = helper.make_graph(
    nodes, "two",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    [w1, w2])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, sys.argv[1])
"#;
    let out = Command::new(&python).arg("-c").arg(make).arg(&model).output().unwrap();
    assert!(out.status.success(), "writing the model failed: {}", text(&out));
    let checker = w.path("checker.py");
    std::fs::write(
        &checker,
        r#"
import sys
import onnx
import onnxruntime
path, marked, lowered = sys.argv[1], sys.argv[2], sys.argv[3]
model = onnx.load(path)
onnx.checker.check_model(model)
onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
inferred = onnx.shape_inference.infer_shapes(model)
types = {}
for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
    types[v.name] = v.type.tensor_type.elem_type
for t in inferred.graph.initializer:
    types[t.name] = t.data_type
def input_types(name):
    node = next(n for n in inferred.graph.node if n.name == name)
    return [types.get(i) for i in node.input]
assert all(t == onnx.TensorProto.FLOAT for t in input_types(marked)), (marked, input_types(marked))
assert all(t == onnx.TensorProto.FLOAT16 for t in input_types(lowered)), (lowered, input_types(lowered))
print("artifact ok")
"#,
    )
    .unwrap();
    let out = precision(&[
        "check",
        s(&model),
        "--fp16",
        "--mark",
        "mm2",
        "--no-compare",
        "--check",
        &python,
        s(&checker),
        "{model}",
        "mm2",
        "mm1",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("command passed"), "{}", text(&out));
}

/// Ctrl-C (SIGINT) while a command runs: the command is stopped, the artifacts in the default
/// temporary folder are removed, and precision ends by the signal, as without a command.
#[test]
fn ctrl_c_stops_the_running_command() {
    use std::os::unix::process::ExitStatusExt as _;
    let w = Work::new();
    let model = w.model();
    let check = w.script(
        "hang.sh",
        r#"here="$(dirname "$0")"
echo "$PRECISION_MODEL" > "$here/model.path"
echo $$ > "$here/cmd.pid.tmp" && mv "$here/cmd.pid.tmp" "$here/cmd.pid"
sleep 300"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_precision"))
        .args(["-q", "check", &model, "--int8", "--no-compare", "--check", &check])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A guard against hanging forever, not a measure of speed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !w.path("cmd.pid").exists() {
        assert!(std::time::Instant::now() < deadline, "the command did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let command: i32 = w.read("cmd.pid").trim().parse().unwrap();
    let precision_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(precision_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(2), "precision did not end by SIGINT: {status:?}");
    assert!(!running(command), "the command {command} outlived Ctrl-C");
    let artifact = PathBuf::from(w.read("model.path").trim());
    assert!(!artifact.exists() && !artifact.parent().unwrap().exists(), "artifacts were left");
}
