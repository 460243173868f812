//! Conformance with NumPy and Polygraphy 0.53.6 through `PRECISION_PYTHON`: our `.npy` bytes equal
//! `np.save`'s, and Polygraphy loads the files we write with the same names, shapes, dtypes and
//! values.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use half::bf16;
use ndarray::{ArrayD, IxDyn};
use polygraphy_json::{
    IterationResult, NamedTensors, RunResults, RunnerResults, Tensor, npy, write_inputs,
    write_run_results,
};
use serde_json::{Value, json};

/// Prints, for each .npy file given, whether `np.save` of what `np.load` read reproduces the
/// file's bytes, and the array's dtype, shape and values.
const NPY_SCRIPT: &str = r"
import io, json, sys
import numpy as np
out = []
for path in sys.argv[1:]:
    raw = open(path, 'rb').read()
    arr = np.load(io.BytesIO(raw), allow_pickle=False)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    out.append({'same_bytes': buf.getvalue() == raw, 'dtype': str(arr.dtype),
                'shape': list(arr.shape), 'values': arr.astype(np.float64).ravel().tolist()})
print(json.dumps(out))
";

/// Describes one tensor the way the Python scripts below do.
fn describe(t: &Tensor) -> Value {
    // NumPy has no bfloat16: we write it as float32.
    let dtype =
        if t.dtype() == polygraphy_json::DType::BF16 { "float32" } else { t.dtype().numpy_name() };
    json!({"dtype": dtype, "shape": t.shape(), "values": t.to_f64_vec()})
}

fn all_dtype_tensors() -> Vec<Tensor> {
    let mut tensors = Vec::new();
    for shape in [&[2, 3][..], &[], &[0], &[5], &[2, 0, 3], &[1, 3, 4, 2]] {
        tensors.extend(common::sample_tensors(shape));
    }
    tensors.push(common::bf16_tensor(&[3, 2]));
    tensors
}

#[test]
fn npy_bytes_equal_numpy_save() {
    let tmp = tempfile::tempdir().unwrap();
    let tensors = all_dtype_tensors();
    let mut paths = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let p = tmp.path().join(format!("{i}.npy"));
        std::fs::write(&p, npy::to_bytes(t)).unwrap();
        paths.push(p);
    }
    let args: Vec<&OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
    let report: Vec<Value> = serde_json::from_str(&common::run_python(NPY_SCRIPT, &args)).unwrap();
    assert_eq!(report.len(), tensors.len());
    for (t, r) in tensors.iter().zip(&report) {
        assert_eq!(r["same_bytes"], json!(true), "{:?} {:?}", t.dtype(), t.shape());
        let mut expected = describe(t);
        expected["same_bytes"] = json!(true);
        assert_eq!(r, &expected);
    }
}

#[test]
fn numpy_files_read_back() {
    // Arrays NumPy writes in forms we never write: Fortran order, big-endian, a version 2.0 header
    // and a version 3.0 (UTF-8) header.
    let script = r"
import io, sys
import numpy as np
from numpy.lib import format as fmt
d = sys.argv[1]
a = np.arange(12, dtype='>i4').reshape(3, 4)
np.save(d + '/fortran.npy', np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)))
np.save(d + '/big.npy', a)
for version in [(2, 0), (3, 0)]:
    with open(d + '/v%d.npy' % version[0], 'wb') as f:
        fmt.write_array(f, np.arange(6, dtype=np.float16).reshape(2, 3), version=version)
";
    let tmp = tempfile::tempdir().unwrap();
    common::run_python(script, &[tmp.path().as_os_str()]);
    let read = |name: &str| npy::read(&std::fs::read(tmp.path().join(name)).unwrap()).unwrap();
    let f = read("fortran.npy");
    assert_eq!(f.shape(), &[3, 4]);
    assert_eq!(f.to_f64_vec(), (0..12).map(f64::from).collect::<Vec<_>>());
    let b = read("big.npy");
    assert_eq!(b.dtype(), polygraphy_json::DType::I32);
    assert_eq!(b.to_f64_vec(), (0..12).map(f64::from).collect::<Vec<_>>());
    for v in ["v2.npy", "v3.npy"] {
        let t = read(v);
        assert_eq!((t.dtype(), t.shape()), (polygraphy_json::DType::F16, &[2, 3][..]));
        assert_eq!(t.to_f64_vec(), (0..6).map(f64::from).collect::<Vec<_>>());
    }
}

fn feed(tensors: &[(&str, Tensor)]) -> NamedTensors {
    tensors.iter().map(|(n, t)| ((*n).to_owned(), t.clone())).collect()
}

fn sample_run(name_suffix: &str, scale: f32) -> RunResults {
    let out = |k: usize| {
        Tensor::F32(
            ArrayD::from_shape_vec(
                IxDyn(&[1, 4]),
                (0..4).map(|i| (i + k) as f32 * scale).collect(),
            )
            .unwrap(),
        )
    };
    let ids = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![7, -1, 1 << 40]).unwrap());
    let mask = Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[2]), vec![true, false]).unwrap());
    let half = common::sample_tensors(&[2, 2])[1].clone();
    let runner = |name: &str, iterations: usize| RunnerResults {
        name: format!("{name}{name_suffix}"),
        iterations: (0..iterations)
            .map(|k| IterationResult {
                outputs: feed(&[
                    ("logits/scale:0", out(k)),
                    ("ids", ids.clone()),
                    ("mask", mask.clone()),
                    ("half", half.clone()),
                    ("scalar", Tensor::F64(ArrayD::from_elem(IxDyn(&[]), 2.5))),
                    ("bf", Tensor::BF16(ArrayD::from_elem(IxDyn(&[2]), bf16::from_f32(0.75)))),
                ]),
                runtime: 0.001_234 * (k + 1) as f64,
                runner_name: format!("{name}{name_suffix}"),
            })
            .collect(),
    };
    RunResults { runners: vec![runner("onnxrt-runner-N0-ünï", 2), runner("trt-runner-N0", 1)] }
}

/// Prints a `RunResults` loaded by Polygraphy (a file, or a directory through `load_streaming`).
const RUN_RESULTS_SCRIPT: &str = r"
import json, os, sys
import numpy as np
from polygraphy.comparator import RunResults
path = sys.argv[1]
if os.path.isdir(path):
    results = RunResults.concat(RunResults.load_streaming(path))
else:
    results = RunResults.load(path)
out = []
for name, iters in results.items():
    its = []
    for it in iters:
        its.append({'runtime': it.runtime, 'runner_name': it.runner_name,
                    'outputs': [[k, {'dtype': str(v.dtype), 'shape': list(v.shape),
                                     'values': np.asarray(v).astype(np.float64).ravel().tolist()}]
                                for k, v in it.items()]})
    out.append({'name': name, 'iterations': its})
print(json.dumps(out))
";

fn describe_run(r: &RunResults) -> Value {
    Value::Array(
        r.runners
            .iter()
            .map(|runner| {
                json!({"name": runner.name, "iterations": runner.iterations.iter().map(|it| json!({
                    "runtime": it.runtime,
                    "runner_name": it.runner_name,
                    "outputs": it.outputs.iter().map(|(k, v)| json!([k, describe(v)])).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()})
            })
            .collect(),
    )
}

/// Runs a script that prints JSON on its last line (Polygraphy may log before it).
fn python_view(script: &str, path: &Path) -> Value {
    let out = common::run_python(script, &[path.as_os_str()]);
    let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python printed no JSON ({e}):\n{out}"))
}

#[test]
fn polygraphy_loads_our_run_results() {
    let tmp = tempfile::tempdir().unwrap();
    let run = sample_run("", 0.5);
    let file = tmp.path().join("outputs.json");
    write_run_results(&file, &run).unwrap();
    assert_eq!(python_view(RUN_RESULTS_SCRIPT, &file), describe_run(&run));

    // The directory form: one file per iteration, the second holding only the runner that has a
    // second iteration; Polygraphy's streaming reader joins them back into the same run.
    let dir = tmp.path().join("outputs_dir");
    write_run_results(&dir, &run).unwrap();
    assert!(dir.join("0000000000.json").is_file() && dir.join("0000000001.json").is_file());
    assert_eq!(python_view(RUN_RESULTS_SCRIPT, &dir), describe_run(&run));
}

/// Prints inputs loaded by Polygraphy (a file with `load_json`, a directory with its streaming
/// iteration helpers).
const INPUTS_SCRIPT: &str = r"
import json, os, sys
import numpy as np
from polygraphy.json import load_json
from polygraphy.json.serde import iterate_from_files, iterate_json_list
path = sys.argv[1]
if os.path.isdir(path):
    feeds = list(iterate_from_files(path, iterate_json_list))
else:
    feeds = load_json(path)
print(json.dumps([[[k, {'dtype': str(v.dtype), 'shape': list(v.shape),
                        'values': v.astype(np.float64).ravel().tolist()}] for k, v in f.items()]
                  for f in feeds]))
";

#[test]
fn polygraphy_loads_our_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let tensors = common::sample_tensors(&[2, 3]);
    let inputs = vec![
        feed(&[
            ("x", tensors[0].clone()),
            ("ids:0", tensors[6].clone()),
            ("flag", tensors[7].clone()),
        ]),
        feed(&[
            ("x", tensors[1].clone()),
            ("ids:0", tensors[5].clone()),
            ("flag", tensors[7].clone()),
        ]),
    ];
    let expected = Value::Array(
        inputs
            .iter()
            .map(|f| Value::Array(f.iter().map(|(k, v)| json!([k, describe(v)])).collect()))
            .collect(),
    );
    let file = tmp.path().join("inputs.json");
    write_inputs(&file, &inputs).unwrap();
    assert_eq!(python_view(INPUTS_SCRIPT, &file), expected);
    let dir = tmp.path().join("inputs_dir");
    write_inputs(&dir, &inputs).unwrap();
    assert_eq!(python_view(INPUTS_SCRIPT, &dir), expected);
}

fn polygraphy_cli() -> std::path::PathBuf {
    let python = common::python();
    python.parent().expect("PRECISION_PYTHON has a parent directory").join("polygraphy")
}

#[test]
fn polygraphy_cli_compares_our_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours.json");
    let ours2 = tmp.path().join("ours2.json");
    // One runner each, so the CLI compares exactly these two.
    let mut a = sample_run("-a", 0.5);
    a.runners.truncate(1);
    let mut b = sample_run("-b", 0.5);
    b.runners.truncate(1);
    write_run_results(&ours, &a).unwrap();
    write_run_results(&ours2, &b).unwrap();
    let status = |x: &Path, y: &Path| {
        let out = Command::new(polygraphy_cli())
            .arg("run")
            .arg("--load-outputs")
            .arg(x)
            .arg(y)
            .output()
            .expect("could not start the polygraphy CLI next to PRECISION_PYTHON");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, log) = status(&ours, &ours2);
    assert!(ok, "polygraphy run --load-outputs failed on identical outputs:\n{log}");
    assert!(log.contains("PASSED"), "{log}");

    // Different values must make the comparison fail, so the check above compared real data.
    let mut c = sample_run("-c", 0.75);
    c.runners.truncate(1);
    let ours3 = tmp.path().join("ours3.json");
    write_run_results(&ours3, &c).unwrap();
    let (ok, log) = status(&ours, &ours3);
    assert!(!ok, "polygraphy accepted different outputs:\n{log}");
    assert!(log.contains("FAILED"), "{log}");
}
