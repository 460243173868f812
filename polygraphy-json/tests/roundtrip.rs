//! Round trips of every dtype (scalars and empty arrays included), both file forms, and atomic
//! writing.

mod common;

use ndarray::{ArrayD, IxDyn};
use polygraphy_json::{
    DType, Error, IterationResult, NamedTensors, RunResults, RunnerResults, Tensor,
    inputs_from_reader, inputs_to_writer, npy, read_inputs, read_run_results,
    run_results_from_reader, run_results_to_writer, write_inputs, write_run_results,
};

fn shapes() -> Vec<Vec<usize>> {
    vec![vec![], vec![0], vec![1], vec![7], vec![2, 3], vec![3, 0, 2], vec![1, 2, 3, 4]]
}

#[test]
fn npy_round_trips_every_dtype_and_shape() {
    for shape in shapes() {
        for t in common::sample_tensors(&shape) {
            let bytes = npy::to_bytes(&t);
            assert_eq!(bytes.iter().position(|&b| b == b'\n').map(|i| (i + 1) % 64), Some(0));
            assert_eq!(npy::read(&bytes).unwrap(), t, "{:?} {shape:?}", t.dtype());
            assert_eq!(npy::read_from(&bytes[..]).unwrap(), t);
            let mut written = Vec::new();
            npy::write(&mut written, &t).unwrap();
            assert_eq!(written, bytes);
        }
    }
}

#[test]
fn bf16_is_written_as_float32_losslessly() {
    let t = common::bf16_tensor(&[2, 3]);
    let back = npy::read(&npy::to_bytes(&t)).unwrap();
    assert_eq!(back.dtype(), DType::F32);
    assert_eq!(back.shape(), t.shape());
    assert_eq!(back.to_f64_vec(), t.to_f64_vec());
}

#[test]
fn non_contiguous_arrays_are_written_in_c_order() {
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|v| v as f32).collect()).unwrap();
    let transposed = Tensor::F32(a.t().to_owned().into_dyn());
    let view_order = Tensor::F32(a.clone().reversed_axes());
    let back = npy::read(&npy::to_bytes(&view_order)).unwrap();
    assert_eq!(back, transposed);
    assert_eq!(back.to_f64_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
}

fn run_of_all_dtypes() -> RunResults {
    let mut outputs = NamedTensors::new();
    for (i, shape) in shapes().iter().enumerate() {
        for t in common::sample_tensors(shape) {
            outputs.insert(format!("out{i}/{}:\"q\"\\ü", t.dtype()), t);
        }
    }
    let it = |runtime: f64| IterationResult {
        outputs: outputs.clone(),
        runtime,
        runner_name: "r1".into(),
    };
    RunResults {
        runners: vec![
            RunnerResults { name: "r1".into(), iterations: vec![it(0.5), it(1e-7), it(3.0)] },
            RunnerResults { name: "r2 \u{1F600}".into(), iterations: vec![it(f64::NAN)] },
            RunnerResults { name: "empty".into(), iterations: vec![] },
        ],
    }
}

/// Equality that treats NaN runtimes as equal.
fn assert_same_run(a: &RunResults, b: &RunResults) {
    assert_eq!(a.runners.len(), b.runners.len());
    for (x, y) in a.runners.iter().zip(&b.runners) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.iterations.len(), y.iterations.len(), "{}", x.name);
        for (i, j) in x.iterations.iter().zip(&y.iterations) {
            assert_eq!(i.outputs, j.outputs);
            assert_eq!(i.runner_name, j.runner_name);
            assert!(i.runtime == j.runtime || (i.runtime.is_nan() && j.runtime.is_nan()));
        }
    }
}

#[test]
fn run_results_round_trip_through_memory_and_files() {
    let run = run_of_all_dtypes();
    let mut buf = Vec::new();
    run_results_to_writer(&mut buf, &run).unwrap();
    assert_same_run(&run_results_from_reader(&buf[..]).unwrap(), &run);

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("out.json");
    write_run_results(&file, &run).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), buf);
    assert_same_run(&read_run_results(&file).unwrap(), &run);
}

#[test]
fn directory_form_round_trips_and_splits_iterations() {
    let run = run_of_all_dtypes();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outs");
    write_run_results(&dir, &run).unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3);
    // Iteration 2 exists only for runner r1.
    let third = read_run_results(dir.join("0000000002.json")).unwrap();
    assert_eq!(third.runners.len(), 1);
    assert_eq!(third.runners[0].name, "r1");
    // Reading the directory joins runners by name; a runner without iterations is not stored.
    let back = read_run_results(&dir).unwrap();
    let mut expected = run.clone();
    expected.runners.pop();
    assert_same_run(&back, &expected);
    // An existing empty directory may be written into; a non-empty one is refused.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write_run_results(&empty, &run).unwrap();
    let err = write_run_results(&empty, &run).unwrap_err();
    assert!(matches!(err, Error::Destination { .. }), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn inputs_round_trip_in_both_forms() {
    let feeds: Vec<NamedTensors> = shapes()
        .iter()
        .map(|shape| {
            common::sample_tensors(shape)
                .into_iter()
                .map(|t| (format!("in_{}", t.dtype()), t))
                .collect()
        })
        .collect();
    let mut buf = Vec::new();
    inputs_to_writer(&mut buf, &feeds).unwrap();
    assert_eq!(inputs_from_reader(&buf[..]).unwrap(), feeds);
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(tmp.path().join("in.json"), &feeds).unwrap();
    assert_eq!(read_inputs(tmp.path().join("in.json")).unwrap(), feeds);
    write_inputs(tmp.path().join("in_dir"), &feeds).unwrap();
    assert_eq!(std::fs::read_dir(tmp.path().join("in_dir")).unwrap().count(), feeds.len());
    assert_eq!(read_inputs(tmp.path().join("in_dir")).unwrap(), feeds);
    // Empty lists and empty feeds are valid.
    let mut buf = Vec::new();
    inputs_to_writer(&mut buf, &[]).unwrap();
    assert_eq!(buf, b"[]");
    assert!(inputs_from_reader(&buf[..]).unwrap().is_empty());
    let mut buf = Vec::new();
    inputs_to_writer(&mut buf, &[NamedTensors::new()]).unwrap();
    assert_eq!(buf, b"[\n    {}\n]");
    assert_eq!(inputs_from_reader(&buf[..]).unwrap(), vec![NamedTensors::new()]);
}

#[test]
fn legacy_forms_are_read() {
    let t = Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1, -2]).unwrap());
    let npy_bytes = npy::to_bytes(&t);
    // The payload as a latin-1 string: each byte becomes the character with that code point.
    let latin1: String = npy_bytes.iter().map(|&b| char::from(b)).collect();
    let legacy_ndarray = serde_json::json!({
        "__polygraphy_encoded_ndarray": "polygraphy_serialized_json_type",
        "array": latin1,
    });
    let doc = serde_json::json!({
        "__polygraphy_encoded_RunResults": "polygraphy_serialized_json_type",
        "lst": [["old", [{
            "__polygraphy_encoded_IterationResult": "polygraphy_serialized_json_type",
            "outputs": {
                "lazy": {"polygraphy_class": "LazyNumpyArray", "values": legacy_ndarray.clone()},
                "plain": legacy_ndarray,
            },
            "runtime": null,
        }]]],
    });
    let run = run_results_from_reader(doc.to_string().as_bytes()).unwrap();
    let it = &run.runners[0].iterations[0];
    assert_eq!(it.outputs["lazy"], t);
    assert_eq!(it.outputs["plain"], t);
    assert!(it.runtime.is_nan());
    assert_eq!(it.runner_name, "custom_runner");
}

#[test]
fn failed_writes_leave_no_file_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out.json");
    std::fs::write(&target, "previous contents").unwrap();
    // An empty run cannot be written: the old file stays as it was, and no temporary is left.
    let err = write_run_results(&target, &RunResults::default()).unwrap_err();
    assert!(matches!(err, Error::EmptyRunResults { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous contents");
    // A destination whose directory does not exist fails before anything is written.
    let missing = tmp.path().join("no/such/dir/out.json");
    assert!(matches!(write_inputs(&missing, &[]).unwrap_err(), Error::Io { .. }));
    // A directory form over an existing file is refused, and the file is kept.
    let file = tmp.path().join("outs");
    std::fs::write(&file, "x").unwrap();
    let err = write_inputs(&file, &[NamedTensors::new()]).unwrap_err();
    assert!(err.to_string().contains("a file exists there"), "{err}");
    let left: Vec<_> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[cfg(unix)]
#[test]
fn written_files_are_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(tmp.path().join("a.json"), &[]).unwrap();
    let mode = std::fs::metadata(tmp.path().join("a.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn escaped_slashes_read_the_same() {
    // `\/` is a valid JSON spelling of `/`; some writers use it, also inside base64 payloads.
    let run = run_of_all_dtypes();
    let mut buf = Vec::new();
    run_results_to_writer(&mut buf, &run).unwrap();
    let escaped = String::from_utf8(buf).unwrap().replace('/', "\\/");
    assert!(escaped.contains("\\/"));
    assert_same_run(&run_results_from_reader(escaped.as_bytes()).unwrap(), &run);
}
