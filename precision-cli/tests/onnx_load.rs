//! Loading ONNX models through the CLI: external data that leaves the model's folder, files
//! cut at a field boundary, generated layer names beside real ones. Models are written by the
//! `onnx` package of `$PRECISION_PYTHON`; the CLI loads ONNX Runtime from `$ORT_DYLIB_PATH`.
//! `cargo xtask ci` sets both; a missing one fails the test with what to do.

mod common;
use common::{env, precision_with_onnx_runtime, s, text};

use std::path::Path;
use std::process::Command;

/// Runs `script` with `$PRECISION_PYTHON`, `sys.argv[1]` being `path`.
fn python(script: &str, path: &Path) {
    let out = Command::new(env("PRECISION_PYTHON"))
        .args(["-c", script, s(path)])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", text(&out));
}

/// Exit code 2, every piece of `expect` in the message, no panic, none of `not_written`.
fn fails_cleanly(args: &[&str], expect: &[&str], not_written: &[&Path]) -> String {
    let out = precision_with_onnx_runtime(args);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {msg}");
    assert!(!msg.contains("panicked"), "{msg}");
    for e in expect {
        assert!(msg.contains(e), "expected '{e}' in: {msg}");
    }
    for p in not_written {
        assert!(!p.exists(), "{} was written", p.display());
    }
    msg
}

/// `x [1,4] -> MatMul(W) -> Relu -> y`, W (64 bytes) saved as external data in `w.bin`.
const EXTERNAL_MODEL: &str = "import onnx, sys, numpy as np\n\
from onnx import helper as h, TensorProto as T, numpy_helper as nh\n\
w = nh.from_array(np.arange(16, dtype=np.float32).reshape(4, 4) / 16, 'W')\n\
g = h.make_graph([h.make_node('MatMul', ['x', 'W'], ['m'], name='mm'), \
h.make_node('Relu', ['m'], ['y'], name='relu')], 'g', \
[h.make_tensor_value_info('x', T.FLOAT, [1, 4])], [h.make_tensor_value_info('y', T.FLOAT, [1, 4])], [w])\n\
m = h.make_model(g, opset_imports=[h.make_opsetid('', 17)])\n\
onnx.save_model(m, sys.argv[1], save_as_external_data=True, all_tensors_to_one_file=True, \
location='w.bin', size_threshold=0)";

#[cfg(unix)]
#[test]
fn external_data_through_a_link_out_of_the_folder_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("passwd");
    std::fs::write(&secret, format!("root:x:0:0:{}\n", "#".repeat(200))).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    python(EXTERNAL_MODEL, &model);
    let golden = dir.path().join("golden.json");
    let inputs = dir.path().join("inputs.json");
    // The model as written works.
    let good = dir.path().join("good.json");
    let out = precision_with_onnx_runtime(&["run", s(&model), "--save-outputs", s(&good)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Its data file replaced by a link to a file outside the folder.
    std::fs::remove_file(dir.path().join("w.bin")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("w.bin")).unwrap();
    let expect = ["tensor 'W'", "external data 'w.bin'", "outside the model's folder"];
    let msg = fails_cleanly(
        &["run", s(&model), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)],
        &expect,
        &[&golden, &inputs],
    );
    assert!(!msg.contains("root:x"), "{msg}");
    fails_cleanly(&["layers", s(&model)], &expect, &[]);
    let saved = dir.path().join("saved.onnx");
    let report = dir.path().join("report.json");
    fails_cleanly(
        &[
            "bisect",
            s(&model),
            "--fp16",
            "--golden",
            s(&good),
            "--report",
            s(&report),
            "--save-model",
            s(&saved),
        ],
        &expect,
        &[&saved, &report],
    );

    // A FIFO in its place: refused at once, not waited on.
    std::fs::remove_file(dir.path().join("w.bin")).unwrap();
    let out = Command::new("mkfifo").arg(dir.path().join("w.bin")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    fails_cleanly(&["layers", s(&model)], &["tensor 'W'", "FIFO"], &[]);
}

#[test]
fn a_file_cut_after_its_graph_looks_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("whole.onnx");
    let script = "import onnx, sys\nfrom onnx import helper as h, TensorProto as T\n\
        g = h.make_graph([h.make_node('Relu', ['x'], ['y'], name='relu')], 'g', \
        [h.make_tensor_value_info('x', T.FLOAT, [1, 4])], [h.make_tensor_value_info('y', T.FLOAT, [1, 4])])\n\
        m = h.make_model(g, opset_imports=[h.make_opsetid('', 17)])\n\
        onnx.save(m, sys.argv[1])\n\
        m.ClearField('opset_import'); m.ClearField('metadata_props')\n\
        open(sys.argv[1] + '.cut', 'wb').write(m.SerializeToString())";
    python(script, &model);
    let whole = std::fs::read(&model).unwrap();
    let cut = std::fs::read(dir.path().join("whole.onnx.cut")).unwrap();
    assert!(whole.starts_with(&cut) && cut.len() < whole.len(), "onnx writes the graph first");
    let path = dir.path().join("cut.onnx");
    std::fs::write(&path, &cut).unwrap();
    let msg = fails_cleanly(&["layers", s(&path)], &["cut.onnx", "looks truncated"], &[]);
    assert!(!msg.contains("opset 1"), "{msg}");
    // Cut inside its last field, the opset import: after the domain (which still decodes,
    // without a version) and inside the version.
    assert!(whole.ends_with(&[0x0a, 0x00, 0x10, 17]), "the opset import comes last");
    std::fs::write(&path, &whole[..whole.len() - 2]).unwrap();
    let msg = fails_cleanly(&["layers", s(&path)], &["cut.onnx", "looks truncated"], &[]);
    assert!(msg.contains("ends inside its opset_import"), "{msg}");
    assert!(!msg.contains("opset 0") && !msg.contains("opset 1"), "{msg}");
    std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
    let msg = fails_cleanly(&["layers", s(&path)], &["cut.onnx", "truncated"], &[]);
    assert!(!msg.contains("opset 0") && !msg.contains("opset 1"), "{msg}");
}

#[test]
fn real_layer_names_win_over_generated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("names.onnx");
    // Node 0 is unnamed (generated name Relu_0); node 1 is really called Relu_0.
    let script = "import onnx, sys\nfrom onnx import helper as h, TensorProto as T\n\
        g = h.make_graph([h.make_node('Relu', ['x'], ['a']), h.make_node('Relu', ['a'], ['b'], name='Relu_0'), \
        h.make_node('Sigmoid', ['b'], ['y'])], 'g', \
        [h.make_tensor_value_info('x', T.FLOAT, [1, 4])], [h.make_tensor_value_info('y', T.FLOAT, [1, 4])])\n\
        onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)]), sys.argv[1])";
    python(script, &model);
    let out = precision_with_onnx_runtime(&["layers", s(&model), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let layers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        layers.as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names[1], "Relu_0", "{names:?}");
    assert_ne!(names[0], "Relu_0", "{names:?}");
    assert_eq!(names[2], "Sigmoid_2", "{names:?}");
}
