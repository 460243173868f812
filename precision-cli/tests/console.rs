//! What `precision` prints for people to read or paste, on mock networks whose layer names are
//! hostile: shell syntax, `,` `'` `:` `*` and spaces, `#2`, regular-expression characters,
//! terminal escape sequences and bidirectional overrides. The printed trtexec line pasted into
//! `sh` runs nothing and gives back exactly the names; ModelOpt's patterns match exactly their
//! layer under Python's `re.match`; ONNX Runtime's list reads back as the exact names; the
//! console carries no raw control character; the report keeps exact names. Also: `--mark`
//! forms, a closed or full standard output, NaN in goldens, and messages that must not mislead.
//!
//! Needs `PRECISION_PYTHON` (any Python 3.7+; `cargo xtask ci` sets it) for the checks against
//! Python's `re` and string literals; without it those tests fail and say so.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::{code, precision, s, text};

fn python() -> PathBuf {
    fixtures::env::python()
}

/// A TOML basic string holding exactly `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A chain of layers named `names`, each adding 0.05 of error in INT8 (constant noise): with
/// atol 0.03 every layer must be marked.
fn chain(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let mut spec = String::from(
        "name = \"hostile\"\nnoise = \"constant\"\n\n[[inputs]]\nname = \"x\"\nshape = [1, 4]\n",
    );
    for name in names {
        let _ = write!(
            spec,
            "\n[[layers]]\nname = {}\nop = \"Conv\"\nerror = {{ int8 = 0.05 }}\n",
            toml_str(name)
        );
    }
    let model = dir.join("hostile.toml");
    std::fs::write(&model, spec).unwrap();
    let golden = dir.join("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    (model, golden)
}

/// Every character a terminal would act on or hide: controls but `\n`, and bidi formatting.
fn raw_controls(console: &str) -> Vec<char> {
    console
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}')
                || matches!(c, '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        })
        .collect()
}

/// The words `sh` makes of `line` when it is pasted after a command.
fn pasted(line: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {line}"))
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "sh refused {line}: {}", String::from_utf8_lossy(&out.stderr));
    let words = String::from_utf8(out.stdout).unwrap();
    words.split_terminator('\0').map(str::to_owned).collect()
}

/// The value of a line `PREFIX...` of the console text.
fn line_after<'a>(console: &'a str, prefix: &str) -> &'a str {
    console
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{console}"))
}

/// trtexec's reading of a `--layerPrecisions` value: split at every `,`, then each item at its
/// last `:`.
fn trtexec_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.rsplit_once(':').expect("name:precision").0.to_owned())
        .collect()
}

/// Asks Python what the ModelOpt patterns match among `candidates`, what `re.escape` makes of
/// `names`, and what the ONNX Runtime list literal reads as.
fn python_reading(
    dir: &Path,
    patterns: &[String],
    candidates: &[String],
    names: &[&str],
    ort_list: &str,
) -> serde_json::Value {
    let input = dir.join("python-input.json");
    let data = serde_json::json!({
        "patterns": patterns, "candidates": candidates, "names": names, "ort": ort_list,
    });
    std::fs::write(&input, data.to_string()).unwrap();
    let script = r#"
import ast, json, re, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
print(json.dumps({
    "matches": [[c for c in d["candidates"] if re.match(p, c)] for p in d["patterns"]],
    "re_escape": [re.escape(n) + r"\Z" for n in d["names"]],
    "ort": ast.literal_eval(d["ort"]),
}))
"#;
    let out = Command::new(python()).arg("-c").arg(script).arg(&input).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn bisect(model: &Path, golden: &Path, extra: &[&str]) -> Output {
    let mut args =
        vec!["bisect", s(model), "--golden", s(golden), "--int8", "--atol", "0.03", "--rtol", "0"];
    args.extend_from_slice(extra);
    precision(&args)
}

#[test]
fn pasted_answers_give_back_exactly_the_names_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let m = s(&marker);
    let subst = format!("fc$(touch${{IFS}}{m})");
    let backtick = format!("`touch {m}`");
    let names = [
        subst.as_str(),
        backtick.as_str(),
        "a,b",
        "it's",
        "c:0",
        " spaced ",
        "#2",
        "Conv.1",
        "Conv.10",
        "*",
        "x;y|z&w>v",
        "-dash",
        "$HOME",
        "ünï 名前",
    ];
    let (model, golden) = chain(dir.path(), &names);
    let report = dir.path().join("r.json");
    let out = bisect(&model, &golden, &["--report", s(&report)]);
    let console = text(&out);
    assert_eq!(code(&out), 0, "{console}");
    assert!(raw_controls(&console).is_empty(), "{console}");

    // trtexec: three shell words; the layers trtexec can name, exactly; the others warned about.
    let words = pasted(line_after(&console, "trtexec: "));
    assert!(!marker.exists(), "pasting the trtexec line ran a command");
    assert_eq!(words.len(), 3, "{words:?}");
    assert_eq!(words[0], "--precisionConstraints=obey");
    let unnamed = ["a,b", "it's", "*"];
    let nameable: Vec<&str> = names.iter().copied().filter(|n| !unnamed.contains(n)).collect();
    let precisions = words[1].strip_prefix("--layerPrecisions=").expect("one word");
    assert_eq!(trtexec_names(precisions), nameable);
    assert!(precisions.split(',').all(|item| item.ends_with(":fp32")));
    let types = words[2].strip_prefix("--layerOutputTypes=").expect("one word");
    assert_eq!(trtexec_names(types), nameable);
    let warning = line_after(&console, "warning: trtexec's --layerPrecisions/--layerOutputTypes ");
    assert!(warning.contains("cannot name 3 of the marked layers"), "{warning}");
    for quoted in ["'a,b' (#2", "'it's' (#3", "'*' (#9"] {
        assert!(warning.contains(quoted), "{quoted} in {warning}");
    }

    // ModelOpt: one pattern per layer, each matching exactly its layer under re.match.
    let patterns = pasted(line_after(
        &console,
        "ModelOpt (regular expressions for re.match): --nodes_to_exclude ",
    ));
    assert!(!marker.exists(), "pasting the ModelOpt line ran a command");
    assert_eq!(patterns.len(), names.len());
    let ort = line_after(&console, "ONNX Runtime quantize_static (exact names): nodes_to_exclude=");
    let mut candidates: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    candidates
        .extend(["Conv.1\n", "Conv.1x", "ConvX1", "Conv.11", "a,bc", "c:00"].map(String::from));
    let python = python_reading(dir.path(), &patterns, &candidates, &names, ort);
    for (k, name) in names.iter().enumerate() {
        assert_eq!(python["matches"][k], serde_json::json!([name]), "pattern {}", patterns[k]);
        assert_eq!(python["re_escape"][k], patterns[k].as_str(), "{name}");
    }
    assert_eq!(python["ort"], serde_json::json!(names));

    // The report keeps the exact names.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["nodes_to_exclude"], serde_json::json!(names));
    assert_eq!(json["modelopt_nodes_to_exclude"], serde_json::json!(patterns));
    assert_eq!(json["trtexec_cannot_name"], serde_json::json!(unnamed));
    assert_eq!(json["trtexec_layer_precisions"], precisions);
    let marked: Vec<&str> =
        json["marked"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(marked, names);
}

#[test]
fn control_characters_never_reach_the_console_raw() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "clear\u{1b}[2J\u{1b}[H",
        "title\u{1b}]0;pwned\u{7}",
        "bidi\u{202e}fdp.exe",
        "isolate\u{2066}x\u{2069}",
        "line\nforged: PASSED",
        "c1\u{9b}31m",
        "tab\tcr\r",
        "plain",
    ];
    let (model, golden) = chain(dir.path(), &names);
    let report = dir.path().join("r.json");
    let html = dir.path().join("r.html");
    let searched = bisect(&model, &golden, &["--report", s(&report), "--html", s(&html)]);
    assert_eq!(code(&searched), 0, "{}", text(&searched));
    let layers = precision(&["layers", s(&model)]);
    assert_eq!(code(&layers), 0, "{}", text(&layers));
    let checked = precision(&[
        "check",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        "0.03",
        "--rtol",
        "0",
        "--mark-index",
        "0-3",
    ]);
    assert_eq!(code(&checked), 1, "{}", text(&checked));
    let unknown =
        precision(&["check", s(&model), "--golden", s(&golden), "--mark", "nope\u{1b}[2J"]);
    assert_eq!(code(&unknown), 2, "{}", text(&unknown));
    let json_layers = precision(&["layers", s(&model), "--json"]);
    assert_eq!(code(&json_layers), 0, "{}", text(&json_layers));
    let listed: serde_json::Value = serde_json::from_slice(&json_layers.stdout).unwrap();
    let listed: Vec<&str> =
        listed.as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(listed, names, "the JSON listing keeps exact names");
    for out in [&searched, &layers, &json_layers, &checked, &unknown] {
        let console = text(out);
        assert_eq!(raw_controls(&console), Vec::<char>::new(), "{console}");
    }
    let console = text(&searched);
    assert!(console.contains(r"clear\x1b[2J\x1b[H (#0)"), "{console}");
    assert!(console.contains(r"bidi\u{202e}fdp.exe"), "{console}");
    assert!(console.contains(r"line\x0aforged: PASSED (#4)"), "{console}");
    assert!(console.contains("note: 7 marked layer names hold control"), "{console}");
    assert!(!console.lines().any(|l| l.starts_with("forged")), "{console}");
    assert!(text(&layers).contains(r"title\x1b]0;pwned\x07"), "{}", text(&layers));
    assert!(text(&unknown).contains(r"no layer named 'nope\x1b[2J'"), "{}", text(&unknown));

    // ModelOpt's and ONNX Runtime's values stay exact through the escapes they use.
    let patterns = pasted(line_after(
        &console,
        "ModelOpt (regular expressions for re.match): --nodes_to_exclude ",
    ));
    let ort = line_after(&console, "ONNX Runtime quantize_static (exact names): nodes_to_exclude=");
    let candidates: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let python = python_reading(dir.path(), &patterns, &candidates, &names, ort);
    for (k, name) in names.iter().enumerate() {
        assert_eq!(python["matches"][k], serde_json::json!([name]), "pattern {}", patterns[k]);
    }
    assert_eq!(python["ort"], serde_json::json!(names));

    // Reports keep the exact names (JSON escapes them; the HTML page shows them as text).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["nodes_to_exclude"], serde_json::json!(names));
    assert!(std::fs::read_to_string(&html).unwrap().contains("bidi\u{202e}fdp.exe"));
}

#[test]
fn mark_forms_name_exactly_the_layers_meant() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["a", "b", "a,b", " spaced ", "#1", "it's", "c:0", "Conv.1", "Conv.10", "d"];
    let (model, golden) = chain(dir.path(), &names);
    let check = |extra: &[&str]| {
        let mut args = vec!["check", s(&model), "--golden", s(&golden), "--int8"];
        args.extend_from_slice(&["--atol", "0.03", "--rtol", "0"]);
        args.extend_from_slice(extra);
        precision(&args)
    };
    let marked = |out: &Output| {
        let t = text(out);
        let line = t.lines().next().unwrap_or_default().to_owned();
        line.split_once(" with ").map(|(_, rest)| rest.to_owned()).unwrap_or(line)
    };

    // --mark-file: one exact name per line (CRLF endings and empty lines allowed).
    let file = dir.path().join("marks.txt");
    std::fs::write(&file, "a,b\r\n spaced \n\n#1\nit's\nc:0\nConv.1\n").unwrap();
    let out = check(&["--mark-file", s(&file)]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(marked(&out).starts_with("6 marked: #2-#7 in float32"), "{}", text(&out));
    std::fs::write(&file, names.join("\n")).unwrap();
    let out = check(&["--mark-file", s(&file)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(marked(&out).starts_with("10 marked: #0-#9"), "{}", text(&out));

    // A value that is exactly a layer's name is that layer; repeated --mark adds up.
    let out = check(&["--mark", "it's", "--mark", "c:0,Conv.1", "--mark", "Conv.10"]);
    let expected = "4 marked: it's (#5), c:0 (#6), Conv.1 (#7), Conv.10 (#8)";
    assert!(marked(&out).starts_with(expected), "{}", text(&out));
    let out = check(&["--mark", "Conv.1"]);
    assert!(marked(&out).starts_with("1 marked: Conv.1 (#7)"), "{}", text(&out));
    // The old list form still works for plain names, with spaces trimmed.
    let out = check(&["--mark", "a, d"]);
    assert!(marked(&out).starts_with("2 marked: a (#0), d (#9)"), "{}", text(&out));

    // Ambiguous values are refused, each with the way out.
    let out = check(&["--mark", "a,b"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("is ambiguous") && text(&out).contains("--mark-file"));
    let out = check(&["--mark", "#1"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--mark-index 1"), "{}", text(&out));
    // Index syntax: --mark-index, and #N where no layer has that name.
    let out = check(&["--mark-index", "1,3-4"]);
    assert!(marked(&out).starts_with("3 marked: b (#1),  spaced  (#3), #1 (#4)"), "{}", text(&out));
    let out = check(&["--mark", "#9"]);
    assert!(marked(&out).starts_with("1 marked: d (#9)"), "{}", text(&out));

    // Unknown names and bad indices: exit 2, a hint, nothing checked.
    let out = check(&["--mark", "Conv.100"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("no layer named 'Conv.100'"), "{}", text(&out));
    assert!(text(&out).contains("did you mean 'Conv.10' (#8)?"), "{}", text(&out));
    let out = check(&["--mark", "spaced"]);
    assert!(text(&out).contains("only --mark-file or --mark-index can name"), "{}", text(&out));
    std::fs::write(&file, "a\nspaced\n").unwrap();
    let out = check(&["--mark-file", s(&file)]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("line 2: no layer named 'spaced'"), "{}", text(&out));
    for bad in ["10", "x", "4-2", "-1", "1-"] {
        let out = check(&[&format!("--mark-index={bad}")]);
        assert_eq!(code(&out), 2, "{bad}: {}", text(&out));
        assert!(text(&out).starts_with("error: --mark-index"), "{bad}: {}", text(&out));
    }
    let out = check(&["--mark-file", s(&dir.path().join("missing.txt"))]);
    assert_eq!(code(&out), 2);
    assert_eq!(text(&out).matches("os error 2").count(), 1, "{}", text(&out));
}

/// A network whose `layers` table is far larger than a pipe's buffer.
fn big_network(dir: &Path) -> PathBuf {
    let names: Vec<String> = (0..4000).map(|i| format!("block{}/conv{}", i / 10, i % 10)).collect();
    let mut spec = String::from("[[inputs]]\nname = \"x\"\nshape = [1, 2]\n");
    for name in &names {
        let _ = write!(spec, "\n[[layers]]\nname = \"{name}\"\n");
    }
    let model = dir.join("big.toml");
    std::fs::write(&model, spec).unwrap();
    model
}

#[test]
fn a_closed_stdout_is_a_normal_end_and_a_full_one_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = big_network(dir.path());
    // `precision layers M | head -1`: read one line, close the pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_precision"))
        .args(["layers", s(&model)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("index"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");

    // A search whose reader went away still finishes its work: the report is written.
    let (model, golden) = chain(dir.path(), &["p", "q"]);
    let report = dir.path().join("r.json");
    let child = Command::new(env!("CARGO_BIN_EXE_precision"))
        .args(["bisect", s(&model), "--golden", s(&golden), "--int8", "--atol", "0.03"])
        .args(["--rtol", "0", "--report", s(&report), "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.exists());

    // /dev/full: one clear error, exit 2, no panic.
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_precision"))
            .args(["layers", s(&dir.path().join("hostile.toml"))])
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.matches("cannot write to standard output").count(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    } else {
        panic!("/dev/full is missing: this test needs Linux's /dev/full");
    }
}

#[test]
fn nan_in_goldens_is_named_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (model, golden) = chain(dir.path(), &["p", "q"]);
    let mut results = polygraphy_json::read_run_results(&golden).unwrap();
    let outputs = &mut results.runners[0].iterations[0].outputs;
    let (name, tensor) = outputs.iter_mut().next().unwrap();
    let name = name.clone();
    let precision_core::Tensor::F32(array) = tensor else { panic!("float32 goldens") };
    array[[0, 2]] = f32::NAN;
    array[[0, 3]] = f32::NAN;
    polygraphy_json::write_run_results(&golden, &results).unwrap();
    for command in ["bisect", "check"] {
        let out = precision(&[command, s(&model), "--golden", s(&golden), "--int8"]);
        let t = text(&out);
        assert_eq!(code(&out), 2, "{t}");
        assert!(
            t.contains(&format!("the golden output '{name}' in {} holds 2 NaN values", s(&golden))),
            "{t}"
        );
        assert!(t.contains("the first at index [0, 2] of shape [1, 4]"), "{t}");
        assert!(!t.contains("--auto-tolerance"), "{t}");
    }
}

#[test]
fn a_budget_stop_mentions_the_journal_only_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("l{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (model, golden) = chain(dir.path(), &names);
    let out = bisect(&model, &golden, &["--max-checks", "2", "--no-journal"]);
    let t = text(&out);
    assert!(t.contains("Stopped early (--max-checks 2 reached)"), "{t}");
    assert!(!t.contains("continue from the journal"), "{t}");
    assert!(t.contains("No journal recorded these checks"), "{t}");
    let report = dir.path().join("r.json");
    let out = bisect(&model, &golden, &["--max-checks", "2", "--report", s(&report)]);
    assert!(text(&out).contains("continue from the journal"), "{}", text(&out));
}

/// `--time-budget` stops the search between checks, whatever the machine's speed: a budget of
/// zero before any check, and a budget the mock's simulated build time (a sleep of at least
/// that long per check) spends within a known number of checks.
#[test]
fn a_time_budget_stops_the_search_between_checks() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("l{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (model, golden) = chain(dir.path(), &names);
    let report = |name: &str, extra: &[&str], exit: i32| {
        let path = dir.path().join(name);
        let mut args = vec!["--no-journal", "--report", s(&path)];
        args.extend_from_slice(extra);
        let out = bisect(&model, &golden, &args);
        assert_eq!(code(&out), exit, "{}", text(&out));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        (text(&out), json)
    };
    // No check ran, so no configuration passed: the search failed.
    let (t, json) = report("zero.json", &["--time-budget", "0"], 1);
    assert!(t.contains("Stopped early (--time-budget of 0s spent"), "{t}");
    assert_eq!((json["complete"].as_bool(), json["evaluations"].as_u64()), (Some(false), Some(0)));
    // Each check sleeps at least 200 ms, so after 3 checks at least 0.6 s are spent and no 4th
    // check starts under a 0.5 s budget (a slower machine only stops sooner). Unlimited, the
    // same search takes more checks (the --max-checks 2 test above stops it early too).
    let (t, json) = report("spent.json", &["--time-budget", "0.5", "--mock-build-ms", "200"], 0);
    assert!(t.contains("Stopped early (--time-budget of 0s spent"), "{t}");
    assert_eq!(json["complete"], false, "{t}");
    let checks = json["evaluations"].as_u64().unwrap();
    assert!((1..=3).contains(&checks), "{checks} checks under a 0.5 s budget at 200 ms each");
    let (_, full) = report("full.json", &[], 0);
    assert!(full["evaluations"].as_u64().unwrap() > 3, "the search needs more than 3 checks");
}

#[test]
fn os_errors_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let (model, golden) = chain(dir.path(), &["p", "q"]);
    let missing = dir.path().join("missing");
    let m = s(&missing);
    let cases: Vec<Vec<&str>> = vec![
        vec!["layers", "missing-model.toml"],
        vec!["layers", "missing-model.onnx"],
        vec!["bisect", s(&model), "--golden", m, "--int8"],
        vec!["bisect", s(&model), "--golden", s(&golden), "--int8", "--load-inputs", m],
        vec!["compare", m, s(&golden)],
        vec!["run", s(&model), "--save-outputs", "/nonexistent-folder/out.json"],
        vec!["bisect", s(&model), "--golden", s(&golden), "--report", "/nonexistent-folder/r.json"],
    ];
    for args in cases {
        let out = precision(&args);
        let t = text(&out);
        assert_eq!(code(&out), 2, "{args:?}: {t}");
        let errors: Vec<&str> = t.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {t}");
        for os in ["os error", "No such file or directory"] {
            assert!(t.matches(os).count() <= 1, "{args:?} says '{os}' twice: {t}");
        }
    }
}
