//! Every file Polygraphy 0.53.6 wrote in `fixtures/polygraphy/samples` (`cargo xtask
//! fixtures` runs `fixtures/polygraphy/generate.py` with the venv's Polygraphy) loads with the
//! expected contents.

mod common;

use polygraphy_json::{DType, IterationResult, NamedTensors, read_inputs, read_run_results};

const OUTPUT: &str = "save_infer_model/scale_0.tmp_1";

/// The weights of the sample model's `MatMul` (`WEIGHTS` in `generate.py`).
const WEIGHTS: [[f64; 2]; 3] = [[1.5, -0.5], [-1.0, 2.0], [0.25, 0.75]];

/// What the sample model computes: softmax(mean of each channel of `x` times `WEIGHTS`).
fn expected_outputs(feed: &NamedTensors) -> Vec<f64> {
    let x = &feed["x"];
    assert_eq!((x.dtype(), x.shape()), (DType::F32, &[1, 3, 48, 192][..]));
    let values = x.to_f64_vec();
    let per_channel = values.len() / 3;
    let means: Vec<f64> =
        values.chunks(per_channel).map(|c| c.iter().sum::<f64>() / per_channel as f64).collect();
    let logits: Vec<f64> =
        (0..2).map(|j| (0..3).map(|i| means[i] * WEIGHTS[i][j]).sum::<f64>()).collect();
    let top = logits[0].max(logits[1]);
    let exp: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
    exp.iter().map(|e| e / exp.iter().sum::<f64>()).collect()
}

/// One iteration as `polygraphy run --onnxrt` writes it: the runner's name, a measured
/// runtime, and the model's output, a softmax over two classes; computed from `feed` when the
/// iteration ran on it (later iterations draw new inputs, which only the first is saved of).
fn assert_iteration(it: &IterationResult, runner: &str, feed: Option<&NamedTensors>) {
    assert_eq!(it.runner_name, runner);
    assert!(it.runtime > 0.0 && it.runtime < 60.0, "runtime {}", it.runtime);
    assert_eq!(it.outputs.keys().collect::<Vec<_>>(), [OUTPUT]);
    let t = &it.outputs[OUTPUT];
    assert_eq!((t.dtype(), t.shape()), (DType::F32, &[1, 2][..]));
    let got = t.to_f64_vec();
    assert!(got.iter().all(|p| (0.0..1.0).contains(p)), "{got:?}");
    assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{got:?}");
    if let Some(feed) = feed {
        let want = expected_outputs(feed);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "outputs {got:?}, expected {want:?}");
        }
    }
}

fn sample_inputs() -> NamedTensors {
    let mut inputs = read_inputs(common::samples_dir().join("inputs.json")).unwrap();
    assert_eq!(inputs.len(), 1);
    inputs.remove(0)
}

fn assert_runner_name(name: &str) {
    // Polygraphy names the runner `onnxrt-runner-N0-MM/DD/YY-HH:MM:SS`.
    let stamp = name.strip_prefix("onnxrt-runner-N0-").unwrap_or_else(|| panic!("{name}"));
    assert_eq!(stamp.len(), "11/25/26-18:33:20".len(), "{name}");
}

#[test]
fn outputs_file_loads() {
    let r = read_run_results(common::samples_dir().join("outputs.json")).unwrap();
    assert_eq!(r.runners.len(), 1);
    let runner = &r.runners[0];
    assert_runner_name(&runner.name);
    assert_eq!(runner.iterations.len(), 1);
    assert_iteration(&runner.iterations[0], &runner.name, Some(&sample_inputs()));
}

#[test]
fn two_iteration_outputs_file_loads() {
    let r = read_run_results(common::samples_dir().join("outputs_2iter.json")).unwrap();
    assert_eq!(r.runners.len(), 1);
    assert_runner_name(&r.runners[0].name);
    assert_eq!(r.runners[0].iterations.len(), 2);
    // The default data loader (seed 1) draws the first iteration's inputs as in the
    // one-iteration run, and new ones for the second.
    let its = &r.runners[0].iterations;
    assert_iteration(&its[0], &r.runners[0].name, Some(&sample_inputs()));
    assert_iteration(&its[1], &r.runners[0].name, None);
    assert_ne!(its[0].outputs, its[1].outputs);
}

#[test]
fn directory_form_outputs_load_as_one_run() {
    let dir = common::samples_dir().join("outputs_dir_mode");
    let r = read_run_results(&dir).unwrap();
    assert_eq!(r.runners.len(), 1);
    assert_runner_name(&r.runners[0].name);
    assert_eq!(r.runners[0].iterations.len(), 2);
    // The same outputs as the single-file run (only the runner's time and runtimes differ).
    let single = read_run_results(common::samples_dir().join("outputs_2iter.json")).unwrap();
    for (i, (a, b)) in r.runners[0].iterations.iter().zip(&single.runners[0].iterations).enumerate()
    {
        assert_eq!(a.outputs, b.outputs);
        let inputs = sample_inputs();
        assert_iteration(a, &r.runners[0].name, (i == 0).then_some(&inputs));
    }
    // And each file alone is a one-iteration run.
    let first = read_run_results(dir.join("0000000000.json")).unwrap();
    assert_eq!(first.runners[0].iterations, r.runners[0].iterations[..1]);
}

#[test]
fn inputs_file_loads() {
    let inputs = read_inputs(common::samples_dir().join("inputs.json")).unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].keys().collect::<Vec<_>>(), ["x"]);
    let x = &inputs[0]["x"];
    assert_eq!((x.dtype(), x.shape()), (DType::F32, &[1, 3, 48, 192][..]));
    // Polygraphy's default data loader draws uniformly from [0, 1].
    let v = x.to_f64_vec();
    assert!(v.iter().all(|&e| (0.0..=1.0).contains(&e)));
    assert!(v.iter().any(|&e| e > 0.5) && v.iter().any(|&e| e < 0.5));
}

#[test]
fn every_sample_file_loads() {
    let mut loaded = 0;
    let mut stack = vec![common::samples_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("inputs") {
                assert!(!read_inputs(&path).unwrap().is_empty(), "{name}");
            } else {
                assert!(!read_run_results(&path).unwrap().runners.is_empty(), "{name}");
            }
            loaded += 1;
        }
    }
    assert_eq!(loaded, 5);
}

/// Writing what we read reproduces Polygraphy's files byte for byte (layout, key order, floats).
#[test]
fn rewriting_samples_reproduces_their_bytes() {
    let samples = common::samples_dir();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["outputs.json", "outputs_2iter.json"] {
        let r = read_run_results(samples.join(name)).unwrap();
        let out = tmp.path().join(name);
        polygraphy_json::write_run_results(&out, &r).unwrap();
        same_text(&out, &samples.join(name));
    }
    let inputs = read_inputs(samples.join("inputs.json")).unwrap();
    let out = tmp.path().join("inputs.json");
    polygraphy_json::write_inputs(&out, &inputs).unwrap();
    same_text(&out, &samples.join("inputs.json"));

    let r = read_run_results(samples.join("outputs_dir_mode")).unwrap();
    let out = tmp.path().join("outputs_dir_mode");
    polygraphy_json::write_run_results(&out, &r).unwrap();
    for file in ["0000000000.json", "0000000001.json"] {
        same_text(&out.join(file), &samples.join("outputs_dir_mode").join(file));
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
}

fn same_text(ours: &std::path::Path, theirs: &std::path::Path) {
    let a = std::fs::read_to_string(ours).unwrap();
    let b = std::fs::read_to_string(theirs).unwrap();
    if let Some(i) = a.bytes().zip(b.bytes()).position(|(x, y)| x != y) {
        let lo = i.saturating_sub(60);
        panic!(
            "{} differs from {} at byte {i}:\nours:   {:?}\ntheirs: {:?}",
            ours.display(),
            theirs.display(),
            &a[lo..(i + 40).min(a.len())],
            &b[lo..(i + 40).min(b.len())]
        );
    }
    assert_eq!(a.len(), b.len(), "{} has a different length", ours.display());
}
