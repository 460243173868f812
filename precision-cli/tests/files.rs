//! End-to-end tests of output files: an output that is an input (or another output), however
//! spelled, is refused before any work; two searches never write one journal; new files get
//! the umask's mode and replaced ones keep theirs; an output that cannot be created is refused
//! before the first check; 250-byte file names work. All on mock networks.

mod common;
use common::{code, s, text};

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fixtures::{Generated, Sensitivity, Topology};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_precision"))
}

fn precision(args: &[&str]) -> Output {
    bin().args(args).arg("-q").output().expect("runs")
}

/// A temporary folder with a 60-layer chain, its goldens and inputs, and a search report.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    model: PathBuf,
    golden: PathBuf,
    inputs: PathBuf,
}

const ATOL: &str = "0.03";

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    fs::create_dir(dir.join("sub")).unwrap();
    let params = Generated {
        topology: Topology::Chain,
        layers: 60,
        sensitivity: Sensitivity::Scattered(4),
        seed: 5,
    };
    let model = dir.join("chain.toml");
    fs::write(&model, fixtures::generate(&params)).unwrap();
    let golden = dir.join("golden.json");
    let inputs = dir.join("inputs.json");
    let out =
        precision(&["run", s(&model), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    Setup { _tmp: tmp, dir, model, golden, inputs }
}

fn search_args<'a>(algorithm: &'a str, st: &'a Setup, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        algorithm,
        s(&st.model),
        "--golden",
        s(&st.golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
    ];
    args.extend_from_slice(extra);
    args
}

/// A file's bytes and modification time, to show it was not touched.
fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
    (fs::read(path).unwrap(), fs::metadata(path).unwrap().modified().unwrap())
}

/// Other names of `path` (in `st.dir`): `./name`, `sub/../name`, a symbolic link and a hard
/// link (made once, in `sub/`).
fn spellings(st: &Setup, path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().unwrap().to_str().unwrap();
    let link = st.dir.join("sub").join(format!("link-{name}"));
    let hard = st.dir.join("sub").join(format!("hard-{name}"));
    if !link.exists() {
        std::os::unix::fs::symlink(path, &link).unwrap();
        fs::hard_link(path, &hard).unwrap();
    }
    vec![path.to_owned(), st.dir.join(".").join(name), st.dir.join("sub/..").join(name), link, hard]
}

/// The command `args` must stop with exit code 2 before any work, naming both files, and
/// leave every file in `untouched` as it was.
fn refused(args: &[&str], needles: &[&str], untouched: &[&Path]) {
    let before: Vec<_> = untouched.iter().map(|p| snapshot(p)).collect();
    let out = precision(args);
    let t = text(&out);
    assert_eq!(code(&out), 2, "{args:?}: {t}");
    for needle in needles {
        assert!(t.contains(needle), "'{needle}' missing from {args:?}: {t}");
    }
    // Before any work: no check ran, no calibration, nothing written.
    assert!(!t.contains("checks") && !t.contains("written"), "{args:?}: {t}");
    for (path, was) in untouched.iter().zip(before) {
        assert_eq!(snapshot(path), was, "{} was touched by {args:?}", path.display());
    }
}

#[test]
fn an_output_that_is_an_input_is_refused_however_spelled() {
    let st = setup();
    let report = st.dir.join("r.json");
    let out = precision(&search_args("bisect", &st, &["--report", s(&report), "--no-journal"]));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let untouched = [st.model.as_path(), &st.golden, &st.inputs, &report];
    let load = ["--load-inputs", s(&st.inputs)];
    // (input role in the message, the input)
    let inputs =
        [("the model", &st.model), ("--golden", &st.golden), ("--load-inputs", &st.inputs)];
    for (input_role, input) in inputs {
        for other in spellings(&st, input) {
            let o = s(&other);
            let same = format!("is the same file as {input_role} {}", s(input));
            // Every search output, the journal among them, on every search.
            for (flag, role) in [
                ("--report", "--report"),
                ("--html", "--html"),
                ("--save-model", "--save-model"),
                ("--journal", "the journal"),
            ] {
                let mut args = search_args("bisect", &st, &[flag, o]);
                args.extend(load);
                refused(&args, &[&format!("{role} {o}"), &same], &untouched);
            }
            let mut args = search_args("linear", &st, &["--report", o]);
            args.extend(load);
            refused(&args, &[&same], &untouched);
            let mut args = search_args("check", &st, &["--save-model", o]);
            args.extend(load);
            refused(&args, &[&format!("--save-model {o}"), &same], &untouched);
            if input_role != "--golden" {
                for flag in ["--save-outputs", "--save-inputs"] {
                    let args = ["run", s(&st.model), "--load-inputs", s(&st.inputs), flag, o];
                    refused(&args, &[&format!("{flag} {o}"), &same], &untouched);
                }
            }
            if input_role != "--golden" {
                let args =
                    ["export", s(&st.model), "--report", s(&report), "-o", o, load[0], load[1]];
                refused(&args, &[&format!("--output {o}"), &same], &untouched);
            }
        }
    }
    // export's report is an input too.
    for other in spellings(&st, &report) {
        let args = ["export", s(&st.model), "--report", s(&report), "-o", s(&other)];
        refused(&args, &["is the same file as --report"], &untouched);
    }
}

#[test]
fn two_outputs_that_are_one_file_are_refused() {
    let st = setup();
    let d = &st.dir;
    let r = d.join("r.json");
    let dotted = d.join(".").join("r.json");
    let journal = d.join("r.journal.jsonl");
    let cases: Vec<Vec<&str>> = vec![
        vec!["--report", s(&r), "--html", s(&dotted)],
        vec!["--report", s(&r), "--save-model", s(&dotted)],
        vec!["--html", s(&r), "--save-model", s(&dotted)],
        // The journal compared by identity, not by the text of its path.
        vec!["--journal", s(&dotted), "--report", s(&r)],
        // The default journal next to the report, written as well by --html.
        vec!["--report", s(&r), "--html", s(&journal)],
    ];
    for case in cases {
        refused(
            &search_args("bisect", &st, &case),
            &["are the same file", "different paths"],
            &[&st.golden],
        );
        assert!(!r.exists() && !journal.exists());
    }
    let args = ["run", s(&st.model), "--save-outputs", s(&r), "--save-inputs", s(&dotted)];
    refused(&args, &["--save-outputs", "--save-inputs", "are the same file"], &[&st.model]);
    // Once it exists, through a link as well.
    fs::write(&r, "{}").unwrap();
    std::os::unix::fs::symlink(&r, d.join("sub/link.json")).unwrap();
    let link = d.join("sub/link.json");
    let args = search_args("bisect", &st, &["--report", s(&r), "--html", s(&link)]);
    refused(&args, &["are the same file"], &[&r]);
}

/// The complete records in a journal (lines after the header that end in a newline), each
/// checked to be JSON.
fn records(path: &Path) -> usize {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = text.matches('\n').count();
    for line in text.lines().take(complete) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("journal line is not JSON ({e}): {line}"));
    }
    complete.saturating_sub(1)
}

fn spawn(args: &[&str]) -> Child {
    bin().args(args).arg("-q").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn report_checks(report: &Path) -> Vec<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(&fs::read(report).unwrap()).unwrap();
    value["checks"].as_array().unwrap().clone()
}

fn reused(report: &Path) -> usize {
    report_checks(report).iter().filter(|i| i["reused"] == true).count()
}

#[test]
fn two_searches_never_share_a_journal() {
    let st = setup();
    let journal = st.dir.join("j.jsonl");
    let (r1, r2, r3) = (st.dir.join("r1.json"), st.dir.join("r2.json"), st.dir.join("r3.json"));
    let slow = ["--journal", s(&journal), "--mock-build-ms", "100"];

    // The first search, slow; the lock is held from its start.
    let mut extra = slow.to_vec();
    extra.extend(["--report", s(&r1)]);
    let mut first = spawn(&search_args("linear", &st, &extra));
    let deadline = Instant::now() + Duration::from_secs(120);
    while records(&journal) < 2 {
        assert!(Instant::now() < deadline, "the first search never recorded 2 checks");
        assert!(first.try_wait().unwrap().is_none(), "the first search ended too soon");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A second one on the same journal stops at once, saying who holds it.
    let out = precision(&search_args("linear", &st, &["--journal", s(&journal)]));
    let t = text(&out);
    assert_eq!(code(&out), 2, "{t}");
    let busy = format!(
        "the journal {} is in use by another precision process (pid {})",
        s(&journal),
        first.id()
    );
    assert!(t.contains(&busy), "{t}");
    assert!(t.contains("--wait-lock") && t.contains("another --journal/--report"), "{t}");
    // The same through another spelling of the path.
    let dotted = st.dir.join(".").join("j.jsonl");
    let out = precision(&search_args("linear", &st, &["--journal", s(&dotted)]));
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("is in use by another precision process"), "{}", text(&out));
    // A report in use is refused too, even without a journal.
    let out = precision(&search_args("linear", &st, &["--report", s(&r1), "--no-journal"]));
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains(&format!("--report {} is in use", s(&r1))), "{}", text(&out));
    assert!(first.try_wait().unwrap().is_none(), "the first search must still be running");

    // With --wait-lock, a second one waits, says so once, and then reuses every check.
    let mut extra = slow.to_vec();
    extra.extend(["--report", s(&r2), "--wait-lock"]);
    let second = spawn(&search_args("linear", &st, &extra));
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0, "{}", text(&first));
    let second = second.wait_with_output().unwrap();
    let t = text(&second);
    assert_eq!(code(&second), 0, "{t}");
    assert_eq!(t.matches("waiting for it to finish").count(), 1, "{t}");
    let checks = report_checks(&r1).len();
    assert!(checks > 10, "{checks} checks");
    assert_eq!(records(&journal), checks, "every check of the first search is recorded once");
    assert_eq!(reused(&r2), checks, "the second search reuses them all");
    assert_eq!(records(&journal), checks);

    // Two starting at the same moment on a new journal: neither fails, nothing is lost.
    let fresh = st.dir.join("fresh.jsonl");
    let both: Vec<Child> = [&r3, &r2]
        .iter()
        .map(|r| {
            let extra = ["--journal", s(&fresh), "--mock-build-ms", "20", "--report", s(r)];
            let mut extra = extra.to_vec();
            extra.push("--wait-lock");
            spawn(&search_args("linear", &st, &extra))
        })
        .collect();
    for child in both {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    assert_eq!(records(&fresh), checks);
    assert_eq!(reused(&r2) + reused(&r3), checks, "one built every check, the other reused them");
    // No lock file is left behind.
    let left: Vec<String> = fs::read_dir(&st.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".precision-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Runs the binary under `umask`.
fn with_umask(umask: &str, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_precision"))
        .args(args)
        .arg("-q")
        .output()
        .unwrap()
}

#[test]
fn new_outputs_get_the_umask_mode_and_replaced_ones_keep_theirs() {
    let st = setup();
    for (umask, file, folder) in
        [("022", 0o644, 0o755), ("077", 0o600, 0o700), ("002", 0o664, 0o775)]
    {
        let sub = st.dir.join(format!("u{umask}"));
        fs::create_dir(&sub).unwrap();
        let (r, h, j) = (sub.join("r.json"), sub.join("r.html"), sub.join("j.jsonl"));
        let args = ["--report", s(&r), "--html", s(&h), "--journal", s(&j)];
        let out = with_umask(umask, &search_args("bisect", &st, &args));
        assert_eq!(code(&out), 0, "{}", text(&out));
        for path in [&r, &h, &j] {
            assert_eq!(mode(path), file, "{} under umask {umask}", path.display());
        }
        let (one, many) = (sub.join("g.json"), sub.join("g"));
        let args = ["run", s(&st.model), "--save-outputs", s(&one), "--save-inputs", s(&many)];
        let out = with_umask(umask, &args);
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert_eq!(mode(&one), file, "umask {umask}");
        assert_eq!(mode(&many), folder, "umask {umask}");
        assert_eq!(mode(&many.join("0000000000.json")), file, "umask {umask}");
    }
    // A replaced report keeps its mode, whatever the umask.
    let r = st.dir.join("u022/r.json");
    for keep in [0o644, 0o640, 0o666] {
        fs::set_permissions(&r, fs::Permissions::from_mode(keep)).unwrap();
        let out =
            with_umask("077", &search_args("bisect", &st, &["--report", s(&r), "--no-journal"]));
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert_eq!(mode(&r), keep);
    }
}

#[test]
fn an_output_that_cannot_be_created_is_refused_before_the_first_check() {
    let st = setup();
    let d = &st.dir;
    let missing = d.join("no/such/dir/r.json");
    let file_as_folder = st.model.join("r.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // /proc refuses new files even to root, whom permission bits do not stop.
        (vec!["--report", "/proc/r.json"], "cannot create files in the folder /proc"),
        (vec!["--html", "/proc/r.html"], "cannot create files in the folder /proc"),
        (vec!["--journal", "/proc/j.jsonl"], "cannot create files in the folder /proc"),
        (vec!["--save-model", "/proc/m.onnx"], "cannot create files in the folder /proc"),
        (vec!["--report", s(&missing)], "does not exist"),
        (vec!["--html", s(&file_as_folder)], "is not a folder"),
        (vec!["--report", s(d)], "it is a folder"),
        (vec!["--report", "/dev/null"], "not a regular file"),
    ];
    for (extra, needle) in cases {
        // Slow checks: had one started, the test would notice the time (and the output).
        let mut extra = extra.clone();
        extra.extend(["--mock-build-ms", "60000"]);
        refused(&search_args("bisect", &st, &extra), &["cannot write", needle], &[&st.golden]);
    }
    refused(&["run", s(&st.model), "--save-outputs", "/proc/g.json"], &["/proc"], &[]);
    refused(&["run", s(&st.model), "--save-outputs", "/proc/g"], &["/proc"], &[]);
    let args = search_args("check", &st, &["--save-model", "/proc/m.onnx"]);
    refused(&args, &["--save-model"], &[]);
    // A folder output over a non-empty folder.
    fs::write(d.join("sub/x"), "x").unwrap();
    let sub = d.join("sub");
    let args = ["run", s(&st.model), "--save-outputs", s(&sub)];
    refused(&args, &["not empty"], &[]);
}

#[test]
fn the_longest_file_names_work() {
    let st = setup();
    let dir = &st.dir;
    let name = |ext: &str| dir.join("n".repeat(255 - ext.len()) + ext);
    let (report, html, journal) = (name(".json"), name(".html"), name(".jsonl"));
    let args = search_args(
        "bisect",
        &st,
        &["--report", s(&report), "--html", s(&html), "--journal", s(&journal)],
    );
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(report.is_file() && html.is_file() && journal.is_file());
    let (outputs, inputs) = (dir.join("g".repeat(250) + ".json"), dir.join("i".repeat(255)));
    let args = ["run", s(&st.model), "--save-outputs", s(&outputs), "--save-inputs", s(&inputs)];
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(outputs.is_file() && inputs.is_dir());
    // One byte more is refused before any work, naming the fix; so is a default journal
    // whose name (next to the report) would be too long.
    let long = dir.join("x".repeat(256));
    let args = search_args("bisect", &st, &["--report", s(&long)]);
    refused(&args, &["256 bytes long", "shorter name"], &[]);
    let report = dir.join("r".repeat(250) + ".json");
    let args = search_args("bisect", &st, &["--report", s(&report)]);
    refused(&args, &["the default journal", "--journal FILE or --no-journal"], &[]);
    let args = search_args("bisect", &st, &["--report", s(&report), "--no-journal"]);
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // No temporary file is left anywhere.
    for entry in fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name();
        assert!(!file.to_string_lossy().starts_with(".precision-"), "{file:?}");
    }
}

/// The folders engines are added to (`--save-engine` of the TensorRT backend,
/// `--trt-engine-cache` of ONNX Runtime's TensorRT provider) are checked before any work like
/// every other output: a folder no file can be created in (/proc refuses even root), one that
/// could not be created, a file there, or an input, is refused with exit 2 and nothing is
/// touched. A folder holding engines of earlier runs, or a new one, is accepted (and the
/// command goes on to open the backend).
#[test]
fn engine_folders_are_checked_before_any_work() {
    let st = setup();
    let d = &st.dir;
    let file = d.join("notes.txt");
    fs::write(&file, "x").unwrap();
    let old = d.join("engines");
    fs::create_dir(&old).unwrap();
    fs::write(old.join("check-0001.engine"), "old engine").unwrap();
    let under_file = st.model.join("engines");
    let nested_under_file = file.join("a/b");
    let cases: Vec<(&str, &str, &Path)> = vec![
        ("--save-engine", "cannot create the folder in /proc", Path::new("/proc/engines")),
        ("--save-engine", "cannot create files in it", Path::new("/proc")),
        ("--save-engine", "it exists and is not a folder", file.as_path()),
        ("--save-engine", "is not a folder, so the folder cannot be created", under_file.as_path()),
        (
            "--save-engine",
            "is not a folder, so the folder cannot be created",
            nested_under_file.as_path(),
        ),
        ("--save-engine", "is the same file as the model", st.model.as_path()),
        ("--save-engine", "is the same file as --golden", st.golden.as_path()),
        ("--trt-engine-cache", "cannot create the folder in /proc", Path::new("/proc/cache")),
    ];
    for (flag, needle, path) in cases {
        let backend: &[&str] = if flag == "--save-engine" {
            &["--backend", "tensorrt"]
        } else {
            &["--backend", "onnxrt", "--providers", "tensorrt"]
        };
        let mut extra = vec![flag, s(path), "--mock-build-ms", "60000"];
        extra.extend_from_slice(backend);
        let needles = [format!("cannot write {flag} {}", path.display()), needle.to_owned()];
        let needles: Vec<&str> = if needle.contains("same file") {
            vec![flag, needle]
        } else {
            needles.iter().map(String::as_str).collect()
        };
        let untouched: [&Path; 3] = [&st.golden, &st.model, &file];
        refused(&search_args("bisect", &st, &extra), &needles, &untouched);
        if path == st.golden {
            continue; // `run` reads no goldens.
        }
        let mut run = vec!["run", s(&st.model), flag, s(path)];
        run.extend_from_slice(backend);
        refused(&run, &needles, &untouched);
    }
    assert!(!under_file.exists() && !d.join("new").exists());
    // Accepted: the folder of earlier engines (kept as it is) and a new nested folder (not
    // created by the check). Past the check, this binary's lack of TensorRT stops the command.
    for path in [old.clone(), d.join("new/engines")] {
        let args =
            search_args("bisect", &st, &["--save-engine", s(&path), "--backend", "tensorrt"]);
        let out = precision(&args);
        let t = text(&out);
        assert!(!t.contains("cannot write"), "{}: {t}", path.display());
        if !cfg!(feature = "tensorrt") {
            assert_eq!(code(&out), 2, "{t}");
            assert!(t.contains("TensorRT was not found when this binary was built"), "{t}");
        }
    }
    assert_eq!(fs::read_to_string(old.join("check-0001.engine")).unwrap(), "old engine");
    assert_eq!(fs::read_dir(&old).unwrap().count(), 1, "the probe leaves nothing behind");
    assert!(!d.join("new").exists(), "the check creates no folder");
}
