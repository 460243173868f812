//! The journal's fingerprint covers what each backend says decides its answers
//! (`Backend::answer_identity`): a journal written under one answer-changing setting is
//! refused under another (exit 2, the file untouched), and reused under the same settings or
//! settings that change no answer. Mock networks run everywhere; the ONNX Runtime cases need
//! `$PRECISION_PYTHON` (onnx, to write a model with external data) and `$ORT_DYLIB_PATH`, as
//! `cargo xtask ci` sets them, and fail with what to do when they are missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{code, env, precision, s, text};

/// Asserts that `out` refused `journal` as another setup's, leaving it as it was (`before`).
fn assert_refused(out: &Output, journal: &Path, before: &[u8], what: &str) {
    let t = text(out);
    assert_eq!(code(out), 2, "{what}: {t}");
    assert!(t.contains("was written for another"), "{what}: {t}");
    assert_eq!(std::fs::read(journal).unwrap(), before, "{what}: a refused journal is left as is");
}

/// Asserts that `out` resumed from the journal.
fn assert_resumed(out: &Output, what: &str) {
    let t = text(out);
    assert_eq!(code(out), 0, "{what}: {t}");
    assert!(t.contains("resuming from"), "{what}: {t}");
}

const MOCK: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [1, 8]
[[layers]]
name = "a"
error = { int8 = 0.001 }
[[layers]]
name = "b"
error = { int8 = 0.5 }
[[layers]]
name = "c"
error = { int8 = 0.002 }
"#;

/// The mock network file decides answers (error amplitudes, build failures, noise): editing
/// any of them refuses the journal, while a comment or `--mock-build-ms` does not.
#[test]
fn mock_spec_changes_refuse_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("net.toml");
    std::fs::write(&model, MOCK).unwrap();
    let golden = dir.path().join("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let journal = dir.path().join("j.jsonl");
    let search = || {
        precision(&[
            "bisect",
            s(&model),
            "--golden",
            s(&golden),
            "--int8",
            "--atol",
            "0.01",
            "--rtol",
            "0",
            "--journal",
            s(&journal),
        ])
    };
    let out = search();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let before = std::fs::read(&journal).unwrap();
    for (what, edited) in [
        ("an error amplitude", MOCK.replace("int8 = 0.5", "int8 = 0.4")),
        ("a build failure", MOCK.replace("name = \"c\"", "name = \"c\"\nunsupported = [\"fp16\"]")),
        ("the noise", MOCK.replace("noise = \"constant\"", "noise = \"uniform\"")),
        ("a gain", MOCK.replace("name = \"c\"", "name = \"c\"\ngain = 1.5")),
    ] {
        std::fs::write(&model, &edited).unwrap();
        assert_refused(&search(), &journal, &before, what);
    }
    // A comment changes no answer; neither does the simulated build time.
    std::fs::write(&model, format!("# a comment\n{MOCK}")).unwrap();
    assert_resumed(&search(), "a comment");
    let out = precision(&[
        "linear",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        "0.01",
        "--rtol",
        "0",
        "--journal",
        s(&journal),
        "--mock-build-ms",
        "1",
    ]);
    assert_resumed(&out, "--mock-build-ms");
}

/// Writes `x[1,4] -> MatMul(W) -> y` with `W` (4x4) in the external data file `w.bin`.
fn external_model(dir: &Path) -> PathBuf {
    let python = env("PRECISION_PYTHON");
    let path = dir.join("ext.onnx");
    let script = r#"
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array((np.arange(16, dtype=np.float32) / 7.0).reshape(4, 4), "W")
node = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
relu = helper.make_node("Relu", ["y"], ["z"], name="relu")
graph = helper.make_graph(
    [node, relu], "ext",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])],
    [w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save_model(model, sys.argv[1], save_as_external_data=True, all_tensors_to_one_file=True,
                location="w.bin", size_threshold=0)
"#;
    let out = Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap_or_else(|e| {
        panic!("cannot run {python} ($PRECISION_PYTHON): {e}; run `cargo xtask ci`")
    });
    assert!(out.status.success(), "writing the model failed: {}", text(&out));
    assert!(dir.join("w.bin").is_file(), "onnx wrote no external data file");
    path
}

/// ONNX Runtime: the external weights are part of the answer identity (rewriting `w.bin`
/// with the `.onnx` file untouched refuses the journal); with INT8 the calibration method
/// is too; the same files and settings resume.
#[test]
fn onnxrt_external_data_and_calibration_refuse_the_journal() {
    let _ = env("ORT_DYLIB_PATH");
    let dir = tempfile::tempdir().unwrap();
    let model = external_model(dir.path());
    let weights = dir.path().join("w.bin");
    let golden = dir.path().join("golden.json");
    let inputs = dir.path().join("inputs.json");
    let out =
        precision(&["run", s(&model), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let journal = dir.path().join("j.jsonl");
    let search = |calibration: &str| {
        precision(&[
            "bisect",
            s(&model),
            "--golden",
            s(&golden),
            "--load-inputs",
            s(&inputs),
            "--int8",
            "--atol",
            "1e-2",
            "--rtol",
            "0",
            "--calibration",
            calibration,
            "--journal",
            s(&journal),
        ])
    };
    let out = search("entropy");
    assert!(matches!(code(&out), 0 | 1), "{}", text(&out));
    let before = std::fs::read(&journal).unwrap();
    assert_resumed(&search("entropy"), "the same model and settings");
    let before_again = std::fs::read(&journal).unwrap();
    assert_eq!(before_again, before, "a resumed search with nothing new to check appends nothing");
    assert_refused(&search("max"), &journal, &before, "another calibration method");

    // Other weights in the external file, same length, the .onnx file untouched.
    let onnx_before = std::fs::read(&model).unwrap();
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[0..4].copy_from_slice(&0.25f32.to_le_bytes());
    std::fs::write(&weights, &bytes).unwrap();
    assert_eq!(std::fs::read(&model).unwrap(), onnx_before);
    assert_refused(&search("entropy"), &journal, &before, "rewritten external weights");
}

/// The model's external data files are inputs of every command: an output that is one of them
/// (by any spelling) is refused before any work, and the file is left as it was.
#[test]
fn outputs_never_replace_the_models_external_data() {
    let _ = env("ORT_DYLIB_PATH");
    let dir = tempfile::tempdir().unwrap();
    let model = external_model(dir.path());
    let weights = dir.path().join("w.bin");
    let before = std::fs::read(&weights).unwrap();
    let golden = dir.path().join("golden.json");
    let inputs = dir.path().join("inputs.json");
    let out =
        precision(&["run", s(&model), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let dotted = dir.path().join(".").join("w.bin");
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", s(&model), "--save-outputs", s(&weights)],
        vec!["run", s(&model), "--save-inputs", s(&dotted)],
        vec![
            "check",
            s(&model),
            "--golden",
            s(&golden),
            "--load-inputs",
            s(&inputs),
            "--fp16",
            "--save-model",
            s(&weights),
        ],
        vec![
            "bisect",
            s(&model),
            "--golden",
            s(&golden),
            "--load-inputs",
            s(&inputs),
            "--fp16",
            "--report",
            s(&dotted),
        ],
    ];
    for args in cases {
        let out = precision(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        assert!(text(&out).contains("external data"), "{args:?}: {}", text(&out));
        assert_eq!(std::fs::read(&weights).unwrap(), before, "{args:?} changed w.bin");
    }
}
