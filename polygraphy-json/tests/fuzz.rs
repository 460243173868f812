//! Property tests: the parsers never panic on arbitrary, truncated or mutated input, and random
//! tensors round-trip. Case counts stay moderate by default; raise `PROPTEST_CASES` for a long run.

mod common;

use half::f16;
use ndarray::{ArrayD, IxDyn};
use polygraphy_json::{
    IterationResult, NamedTensors, RunResults, RunnerResults, Tensor, inputs_from_reader,
    inputs_to_writer, npy, run_results_from_reader, run_results_to_writer,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // `ProptestConfig::default()` reads PROPTEST_CASES; cap our default at 64.
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 64;
    }
    c
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 0..4)
}

/// A strategy for tensors of one element type: `$elem` values mapped by `$conv` into `$variant`.
macro_rules! typed {
    ($shape:expr, $elem:ty, $variant:ident, $conv:expr) => {{
        let shape: Vec<usize> = $shape;
        let n: usize = shape.iter().product();
        prop::collection::vec(any::<$elem>(), n).prop_map(move |v| {
            let data = v.into_iter().map($conv).collect();
            Tensor::$variant(ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap())
        })
    }};
}

fn tensor() -> impl Strategy<Value = Tensor> {
    shape().prop_flat_map(|s| {
        prop_oneof![
            typed!(s.clone(), f32, F32, |v| v),
            typed!(s.clone(), u16, F16, f16::from_bits),
            typed!(s.clone(), f64, F64, |v| v),
            typed!(s.clone(), i8, I8, |v| v),
            typed!(s.clone(), u8, U8, |v| v),
            typed!(s.clone(), i32, I32, |v| v),
            typed!(s.clone(), i64, I64, |v| v),
            typed!(s.clone(), bool, Bool, |v| v),
        ]
    })
}

/// Bitwise equality (NaN payloads included), which `PartialEq` on floats does not give.
fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype() && a.shape() == b.shape() && npy::to_bytes(a) == npy::to_bytes(b)
}

fn named(tensors: Vec<Tensor>) -> NamedTensors {
    tensors.into_iter().enumerate().map(|(i, t)| (format!("t{i}:\u{e9}/\"x\""), t)).collect()
}

fn run_results() -> impl Strategy<Value = RunResults> {
    let iteration = (prop::collection::vec(tensor(), 0..3), any::<f64>(), "[a-z\\-/: ]{0,12}")
        .prop_map(|(ts, runtime, runner_name)| IterationResult {
            outputs: named(ts),
            runtime,
            runner_name,
        });
    let runner = ("\\PC{0,10}", prop::collection::vec(iteration, 0..3))
        .prop_map(|(name, iterations)| RunnerResults { name, iterations });
    prop::collection::vec(runner, 1..3).prop_map(|runners| RunResults { runners })
}

fn same_run(a: &RunResults, b: &RunResults) -> bool {
    a.runners.len() == b.runners.len()
        && a.runners.iter().zip(&b.runners).all(|(x, y)| {
            x.name == y.name
                && x.iterations.len() == y.iterations.len()
                && x.iterations.iter().zip(&y.iterations).all(|(i, j)| {
                    i.runner_name == j.runner_name
                        && (i.runtime == j.runtime
                            || (!i.runtime.is_finite() && j.runtime.is_nan()))
                        && i.outputs.len() == j.outputs.len()
                        && i.outputs
                            .iter()
                            .zip(&j.outputs)
                            .all(|((n, t), (m, u))| n == m && same_bits(t, u))
                })
        })
}

fn valid_outputs_json() -> Vec<u8> {
    std::fs::read(common::samples_dir().join("outputs.json")).unwrap()
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    for &(pos, val) in edits {
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = val;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn npy_round_trips(t in tensor()) {
        let bytes = npy::to_bytes(&t);
        let back = npy::read(&bytes).unwrap();
        prop_assert!(same_bits(&back, &t));
        prop_assert!(same_bits(&npy::read_from(&bytes[..]).unwrap(), &t));
    }

    #[test]
    fn npy_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = npy::read(&bytes);
        let mut with_magic = b"\x93NUMPY\x01\x00".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = npy::read(&with_magic);
        let _ = npy::read_from(&with_magic[..]);
    }

    #[test]
    fn npy_truncations_and_mutations_are_errors_or_valid(
        t in tensor(),
        cut in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let bytes = npy::to_bytes(&t);
        let cut = cut.index(bytes.len());
        prop_assert!(npy::read(&bytes[..cut]).is_err());
        prop_assert!(npy::read_from(&bytes[..cut]).is_err());
        // A mutation may keep the file valid (say, a changed data byte); it must never panic.
        let _ = npy::read(&mutate(bytes, &edits));
    }

    #[test]
    fn run_results_round_trip(run in run_results()) {
        let mut buf = Vec::new();
        run_results_to_writer(&mut buf, &run).unwrap();
        let back = run_results_from_reader(&buf[..]).unwrap();
        prop_assert!(same_run(&run, &back));
    }

    #[test]
    fn inputs_round_trip(feeds in prop::collection::vec(prop::collection::vec(tensor(), 0..3), 0..3)) {
        let feeds: Vec<NamedTensors> = feeds.into_iter().map(named).collect();
        let mut buf = Vec::new();
        inputs_to_writer(&mut buf, &feeds).unwrap();
        let back = inputs_from_reader(&buf[..]).unwrap();
        prop_assert_eq!(back.len(), feeds.len());
        for (a, b) in back.iter().zip(&feeds) {
            prop_assert!(a.len() == b.len() && a.iter().zip(b).all(|((n, t), (m, u))| n == m && same_bits(t, u)));
        }
    }

    #[test]
    fn json_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(run_results_from_reader(&bytes[..]).is_err());
        let _ = inputs_from_reader(&bytes[..]);
    }

    #[test]
    fn json_truncations_are_errors(cut in any::<prop::sample::Index>()) {
        let bytes = valid_outputs_json();
        let cut = cut.index(bytes.len());
        prop_assert!(run_results_from_reader(&bytes[..cut]).is_err());
        prop_assert!(inputs_from_reader(&bytes[..cut]).is_err());
    }

    #[test]
    fn json_mutations_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let _ = run_results_from_reader(&mutate(valid_outputs_json(), &edits)[..]);
        let inputs = std::fs::read(common::samples_dir().join("inputs.json")).unwrap();
        let _ = inputs_from_reader(&mutate(inputs[..2000].to_vec(), &edits)[..]);
    }

    #[test]
    fn mutated_payloads_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        // Mutations inside the decoded .npy bytes, re-encoded as valid base64.
        use base64::Engine as _;
        let t = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![1.0, 2.0]).unwrap());
        let bytes = mutate(npy::to_bytes(&t), &edits);
        let payload = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let doc = format!(
            r#"[{{"x": {{"array": "{payload}", "polygraphy_class": "ndarray"}}}}]"#
        );
        let _ = inputs_from_reader(doc.as_bytes());
    }
}
