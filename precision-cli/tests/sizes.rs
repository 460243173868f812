//! Sizes that users choose (`--input-shapes`, shapes declared by models and mock specs) and
//! value ranges (`--val-range`) past what a machine or a type can hold: every one is a clear
//! error with exit code 2, naming the memory needed, never a panic or an abort, and no output
//! file is written.
//!
//! The ONNX cases need `$PRECISION_PYTHON` (onnx, to write the test model) and
//! `$ORT_DYLIB_PATH`; `cargo xtask ci` sets both, and a missing one fails the test with what to
//! do.

mod common;
use common::{env, precision, s, text};

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `precision run MODEL ARGS --save-outputs O --save-inputs I` and checks that it fails
/// with exit code 2, a message holding every `expect`, no panic, and neither file written.
fn refused(model: &Path, args: &[&str], expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (outputs, inputs) = (dir.path().join("out.json"), dir.path().join("in.json"));
    let mut all = vec!["run", s(model)];
    all.extend(args);
    all.extend(["--save-outputs", s(&outputs), "--save-inputs", s(&inputs)]);
    let out = precision(&all);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all:?}: {msg}");
    assert!(!msg.contains("panicked") && !msg.contains("memory allocation"), "{msg}");
    for e in expect {
        assert!(msg.contains(e), "{all:?}: expected '{e}' in: {msg}");
    }
    assert!(!outputs.exists() && !inputs.exists(), "{all:?} wrote a file");
}

/// A model with a float32 input `x` [N, 4], a float64 input `d` [N] and an int64 input `i`
/// [N] (N dynamic), whose output adds them up.
fn onnx_model(dir: &Path) -> PathBuf {
    let path = dir.join("dynamic.onnx");
    let script = "import onnx, sys\nfrom onnx import helper as h, TensorProto as T\n\
        nodes = [h.make_node('ReduceSum', ['x'], ['s'], name='sum', keepdims=0),\n\
                 h.make_node('Cast', ['s'], ['s64'], name='cast', to=T.DOUBLE),\n\
                 h.make_node('Add', ['s64', 'd'], ['y'], name='add')]\n\
        g = h.make_graph(nodes, 'g',\n\
            [h.make_tensor_value_info('x', T.FLOAT, ['N', 4]),\n\
             h.make_tensor_value_info('d', T.DOUBLE, ['N']),\n\
             h.make_tensor_value_info('i', T.INT64, ['N'])],\n\
            [h.make_tensor_value_info('y', T.DOUBLE, ['N'])])\n\
        m = h.make_model(g, opset_imports=[h.make_opsetid('', 11)])\n\
        m.ir_version = 7\n\
        onnx.checker.check_model(m)\n\
        onnx.save(m, sys.argv[1])";
    let out = Command::new(env("PRECISION_PYTHON")).args(["-c", script, s(&path)]).output();
    let out = out.expect("PRECISION_PYTHON runs");
    assert!(out.status.success(), "{}", text(&out));
    path
}

#[test]
fn onnx_input_shapes_past_any_memory_are_refused() {
    let _ = env("ORT_DYLIB_PATH");
    let dir = tempfile::tempdir().unwrap();
    let m = onnx_model(dir.path());
    let shapes = |x: &str, n: &str| {
        ["--input-shapes".to_owned(), format!("x:[{x}]"), format!("d:[{n}]"), format!("i:[{n}]")]
    };
    // Products that overflow (with or without a zero dimension): refused while parsing.
    for (x, n) in [
        ("99999999999,99999999999", "1"),
        ("9223372036854775807,4", "9223372036854775807"),
        ("0,9223372036854775807,9223372036854775807", "1"),
    ] {
        let v = shapes(x, n);
        refused(
            &m,
            &v.iter().map(String::as_str).collect::<Vec<_>>(),
            &["more elements than any machine can hold", "use a smaller batch/shape"],
        );
    }
    let v = shapes("18446744073709551615,4", "1");
    refused(&m, &v.iter().map(String::as_str).collect::<Vec<_>>(), &["not a non-negative integer"]);
    // Shapes that an array can have but no machine can hold: the memory they need is named.
    let v = shapes("1000000000000,4", "1000000000000");
    refused(
        &m,
        &v.iter().map(String::as_str).collect::<Vec<_>>(),
        &[
            "the input shapes need 29.1 TiB",
            "x: [1000000000000, 4] float32 = 14.6 TiB",
            "d: [1000000000000] float64 = 7.3 TiB",
            "i: [1000000000000] int64 = 7.3 TiB",
            "available; use a smaller batch/shape",
        ],
    );
    // Several iterations multiply it.
    let v = shapes("100000000000,4", "1");
    let mut list: Vec<&str> = v.iter().map(String::as_str).collect();
    list.extend(["--iterations", "4"]);
    refused(&m, &list, &["need 5.8 TiB", "times 4 iterations"]);
}

#[test]
fn value_ranges_past_a_type_or_not_finite_are_refused() {
    let _ = env("ORT_DYLIB_PATH");
    let dir = tempfile::tempdir().unwrap();
    let m = onnx_model(dir.path());
    let shapes = ["--input-shapes", "x:[2,4]", "d:[2]", "i:[2]"];
    for (range, expect) in [
        ("[-1e308,1e308]", "beyond the finite float32 values of input 'x'"),
        ("x:[0,1e39]", "beyond the finite float32 values of input 'x'"),
        ("[0,inf]", "not a finite number"),
        ("d:[nan,0]", "not a finite number"),
        ("[1,0]", "give MIN <= MAX"),
    ] {
        let mut args = shapes.to_vec();
        args.extend(["--val-range", range]);
        refused(&m, &args, &[expect]);
    }
    // A float64 input takes the widest finite range, an int64 input saturates: the run works
    // and the values saved are finite and spread over the range.
    let inputs = dir.path().join("inputs.json");
    let args: Vec<&str> = vec![
        "run",
        s(&m),
        "--save-inputs",
        s(&inputs),
        "--input-shapes",
        "x:[1000,4]",
        "d:[1000]",
        "i:[1000]",
        "--val-range",
        "d:[-1e308,1e308]",
        "i:[-1e308,1e308]",
    ];
    let out = precision(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let feeds = polygraphy_json::read_inputs(&inputs).unwrap();
    let d = feeds[0]["d"].to_f64_vec();
    assert!(d.iter().all(|v| v.is_finite() && v.abs() <= 1e308), "{d:?}");
    assert!(d.iter().any(|&v| v < -1e307) && d.iter().any(|&v| v > 1e307), "{d:?}");
    let i = feeds[0]["i"].to_f64_vec();
    assert!(i.iter().any(|&v| v < -1e18) && i.iter().any(|&v| v > 1e18), "{i:?}");
}

fn mock(dir: &Path, inputs: &str, layers: usize) -> PathBuf {
    use std::fmt::Write as _;
    let mut spec = inputs.to_owned();
    for l in 0..layers {
        writeln!(spec, "\n[[layers]]\nname = \"l{l}\"").unwrap();
    }
    let path = dir.join("big.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn mock_shapes_past_any_memory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = |shape: &str| format!("[[inputs]]\nname = \"x\"\nshape = {shape}\n");
    // One input past what an array can have.
    refused(
        &mock(d, &input("[18446744073709551615, 3]"), 1),
        &[],
        &[
            "network input 'x' has more elements than any machine can hold",
            "[18446744073709551615, 3]",
        ],
    );
    refused(&mock(d, &input("[4294967296, 4294967296]"), 1), &[], &["network input 'x'"]);
    // Inputs that fit alone, but not with every layer output of their shape.
    refused(
        &mock(d, &input("[1152921504606846976]"), 8),
        &[],
        &["the network's tensors have more elements than any machine can hold", "9 tensors"],
    );
    // A batch no machine holds: the memory the shapes need is named.
    refused(
        &mock(d, &input("[10000000, 3, 224, 224]"), 1),
        &[],
        &[
            "the shapes of mock network",
            "need 65.7 TiB",
            "3010560000000 values in 2 tensors of the inputs' shapes x: [10000000, 3, 224, 224]",
            "available; use smaller input shapes",
        ],
    );
    // The same answers from `layers` and the searches, which open the network the same way.
    let out = precision(&["layers", s(&mock(d, &input("[10000000, 3, 224, 224]"), 1))]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("need 65.7 TiB"), "{}", text(&out));
}
