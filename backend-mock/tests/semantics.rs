//! The simulation's semantics checked by hand on small specs, against the independent
//! computation on random specs, plus determinism, input validation and build bookkeeping.

use std::time::{Duration, Instant};

use backend_mock::testing::{GenOptions, arb_spec, expected_check, to_toml};
use backend_mock::{MockBackend, values};
use ndarray::{ArrayD, IxDyn};
use precision_core::{
    Backend, BackendError, Engine, LayerSet, NamedTensors, OutputSelection, Precision,
    PrecisionPlan, Tensor,
};
use proptest::prelude::*;

const EVERY: OutputSelection = OutputSelection::EveryLayer;
const OUTPUTS: OutputSelection = OutputSelection::NetworkOutputs;

fn backend(text: &str) -> MockBackend {
    MockBackend::from_toml_str(text, "test").unwrap()
}

fn plan(
    backend: &MockBackend,
    lower: &[Precision],
    higher: Precision,
    marked: &[usize],
) -> PrecisionPlan {
    let network = backend.network();
    PrecisionPlan::new(network, lower.to_vec(), higher)
        .unwrap()
        .with_marked(LayerSet::from_indices(network.len(), marked.iter().copied()))
}

fn values_of(tensors: &NamedTensors, name: &str) -> Vec<f32> {
    tensors[name].as_f32().unwrap().iter().copied().collect()
}

/// Asserts that `actual` is exactly `golden + error` rounded to float32, element by element,
/// with `error(i)` giving the expected error of element `i`.
fn assert_errors(
    actual: &NamedTensors,
    golden: &NamedTensors,
    name: &str,
    error: impl Fn(usize) -> f64,
) {
    let a = values_of(actual, name);
    let g = values_of(golden, name);
    assert_eq!(a.len(), g.len(), "{name}");
    for (i, (&a, &g)) in a.iter().zip(&g).enumerate() {
        let want = (f64::from(g) + error(i)) as f32;
        assert_eq!(a, want, "{name}[{i}]: got {a}, want {g} + {}", error(i));
    }
}

const CHAIN: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [1, 4]
[[layers]]
name = "a"
error = { int8 = 0.1, fp16 = 0.01 }
[[layers]]
name = "b"
error = { int8 = 0.2, fp16 = 0.02 }
gain = 2.0
[[layers]]
name = "c"
error = { int8 = 0.05, fp16 = 0.005 }
gain = 0.5
"#;

#[test]
fn constant_noise_errors_add_up_with_gain() {
    let mut b = backend(CHAIN);
    let golden = b.golden_outputs(EVERY);
    assert_eq!(golden.keys().collect::<Vec<_>>(), ["a_out", "b_out", "c_out"]);

    let out = b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[]), EVERY).unwrap();
    assert_errors(&out, &golden, "a_out", |_| 0.1);
    assert_errors(&out, &golden, "b_out", |_| 2.0 * 0.1 + 0.2);
    assert_errors(&out, &golden, "c_out", |_| 0.5 * (2.0 * 0.1 + 0.2) + 0.05);

    // Marking b (float32) removes its own error but keeps what flows into it.
    let out = b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[1]), EVERY).unwrap();
    assert_errors(&out, &golden, "b_out", |_| 2.0 * 0.1);
    assert_errors(&out, &golden, "c_out", |_| 0.5 * (2.0 * 0.1) + 0.05);

    // Marked layers in float16 inject the fp16 amplitude; int8 and fp16 both enabled: the
    // lowest (int8) is used for the rest.
    let p = plan(&b, &[Precision::Float16, Precision::Int8], Precision::Float16, &[0, 2]);
    let out = b.run(&p, EVERY).unwrap();
    assert_errors(&out, &golden, "a_out", |_| 0.01);
    assert_errors(&out, &golden, "b_out", |_| 2.0 * 0.01 + 0.2);
    assert_errors(&out, &golden, "c_out", |_| 0.5 * (2.0 * 0.01 + 0.2) + 0.005);

    // Only fp16 enabled: everything runs in fp16.
    let out = b.run(&plan(&b, &[Precision::Float16], Precision::Float32, &[]), OUTPUTS).unwrap();
    assert_eq!(out.keys().collect::<Vec<_>>(), ["c_out"]);
    assert_errors(&out, &golden, "c_out", |_| 0.5 * (2.0 * 0.01 + 0.02) + 0.005);
}

#[test]
fn float32_runs_return_the_goldens_exactly() {
    let mut b = backend(CHAIN);
    for selection in [OUTPUTS, EVERY] {
        let out = b.run(&PrecisionPlan::float32(b.network()), selection).unwrap();
        assert_eq!(out, b.golden_outputs(selection));
    }
    // Marking every layer in float32 also gives the goldens.
    let out = b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[0, 1, 2]), EVERY).unwrap();
    assert_eq!(out, b.golden_outputs(EVERY));
}

const DAG: &str = r#"
seed = 3
outputs = ["m_out", "m2_out", "s1", "s0"]
[[inputs]]
name = "x"
shape = [1, 4]
[[inputs]]
name = "y"
shape = [2]
[[layers]]
name = "p"
inputs = ["y"]
error = { int8 = 0.1 }
[[layers]]
name = "q"
inputs = ["x"]
error = { int8 = 0.3 }
[[layers]]
name = "m"
inputs = ["q_out", "p_out"]
gain = 1.5
[[layers]]
name = "m2"
inputs = ["p_out", "q_out"]
error = { int8 = 0.01 }
[[layers]]
name = "split"
inputs = ["m_out"]
outputs = ["s0", "s1"]
error = { int8 = 0.2 }
"#;

#[test]
fn branches_and_merges_use_index_modulo_length() {
    let mut b = backend(DAG);
    let golden = b.golden_outputs(EVERY);
    let out = b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[]), EVERY).unwrap();
    let u = |layer: &str, output: &str, i: usize| values::noise_value(3, layer, output, i);
    let e_p = |i: usize| 0.1 * u("p", "p_out", i);
    let e_q = |i: usize| 0.3 * u("q", "q_out", i);
    let e_m = |i: usize| 1.5 * (e_q(i) + e_p(i % 2)) + 0.0 * u("m", "m_out", i);
    assert_errors(&out, &golden, "p_out", e_p);
    assert_errors(&out, &golden, "q_out", e_q);
    assert_errors(&out, &golden, "m_out", e_m);
    // m2's first input has 2 elements, so its output has 2 elements.
    assert_eq!(out["m2_out"].shape(), &[2]);
    assert_errors(&out, &golden, "m2_out", |i| (e_p(i) + e_q(i % 4)) + 0.01 * u("m2", "m2_out", i));
    // A multi-output layer: each output has its own noise.
    assert_errors(&out, &golden, "s0", |i| e_m(i) + 0.2 * u("split", "s0", i));
    assert_errors(&out, &golden, "s1", |i| e_m(i) + 0.2 * u("split", "s1", i));
    assert_ne!(values_of(&out, "s0"), values_of(&out, "s1"));

    // Network outputs come in the spec's order.
    let net = b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[]), OUTPUTS).unwrap();
    assert_eq!(net.keys().collect::<Vec<_>>(), ["m_out", "m2_out", "s1", "s0"]);
    assert_eq!(net["s1"], out["s1"]);
    // Every layer output in layer order.
    assert_eq!(out.keys().collect::<Vec<_>>(), ["p_out", "q_out", "m_out", "m2_out", "s0", "s1"]);
    assert_eq!(b.output_names(EVERY), out.keys().cloned().collect::<Vec<_>>());
}

#[test]
fn uniform_noise_stays_within_the_amplitude() {
    let mut b = backend(
        "[[inputs]]\nname = \"x\"\nshape = [64]\n[[layers]]\nname = \"a\"\nerror = { int8 = 0.25 }\n",
    );
    let golden = values_of(&b.golden_outputs(OUTPUTS), "a_out");
    let out = values_of(
        &b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[]), OUTPUTS).unwrap(),
        "a_out",
    );
    let errors: Vec<f32> = out.iter().zip(&golden).map(|(a, g)| a - g).collect();
    assert!(errors.iter().all(|e| e.abs() <= 0.25 + 1e-6), "{errors:?}");
    assert!(errors.iter().any(|e| *e > 0.1) && errors.iter().any(|e| *e < -0.1), "{errors:?}");
}

#[test]
fn network_inputs_can_be_outputs() {
    let mut b = backend(
        "outputs = [\"a_out\", \"x\"]\n[[inputs]]\nname = \"x\"\nshape = [3]\n[[layers]]\nname = \"a\"\nerror = { int8 = 1 }\n",
    );
    assert_eq!(b.output_names(EVERY), ["a_out", "x"]);
    let out = b.run(&plan(&b, &[Precision::Int8], Precision::Float32, &[]), EVERY).unwrap();
    assert_eq!(out["x"], b.golden_outputs(OUTPUTS)["x"], "network inputs carry no error");
}

const UNSUPPORTED: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [2]
[[layers]]
name = "a"
error = { int8 = 0.1 }
[[layers]]
name = "tricky"
unsupported = ["int8", "fp16"]
[[layers]]
name = "c"
"#;

#[test]
fn unsupported_precisions_fail_the_build() {
    let mut b = backend(UNSUPPORTED);
    let err =
        b.build(&plan(&b, &[Precision::Int8], Precision::Float32, &[0]), OUTPUTS).unwrap_err();
    assert!(err.is_build_failure(), "{err:?}");
    let message = err.to_string();
    for part in ["build failed", "layer 'tricky'", "no implementation in int8"] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    // Marked to float32 it builds.
    b.build(&plan(&b, &[Precision::Int8], Precision::Float32, &[1]), OUTPUTS).unwrap();
    // Marked to float16, which it also lacks, it fails.
    let err =
        b.build(&plan(&b, &[Precision::Int8], Precision::Float16, &[1]), OUTPUTS).unwrap_err();
    assert!(err.to_string().contains("no implementation in float16"), "{err}");
    // bfloat16 is fine.
    b.build(&plan(&b, &[Precision::BFloat16], Precision::Float32, &[]), OUTPUTS).unwrap();
    assert_eq!(b.builds(), 4, "failed builds are counted too");
}

#[test]
fn unmarkable_layers_run_low_even_when_marked() {
    let text = CHAIN.replace("gain = 2.0", "gain = 2.0\nmarkable = false");
    let mut b = backend(&text);
    let golden = b.golden_outputs(EVERY);
    let p = plan(&b, &[Precision::Int8], Precision::Float32, &[1]);
    let mut engine = b.build(&p, EVERY).unwrap();
    let out = engine.infer(&b.default_inputs()).unwrap();
    assert_errors(&out, &golden, "b_out", |_| 2.0 * 0.1 + 0.2);
    let deviations = engine.plan_deviations();
    assert_eq!(deviations.len(), 1, "{deviations:?}");
    assert!(
        deviations[0].contains("layer 'b'") && deviations[0].contains("int8"),
        "{deviations:?}"
    );
    assert!(!b.network().layers[1].is_markable());
    // Marking a markable layer reports no deviation.
    let engine = b.build(&plan(&b, &[Precision::Int8], Precision::Float32, &[0]), EVERY).unwrap();
    assert!(engine.plan_deviations().is_empty());
}

#[test]
fn values_are_deterministic_in_the_seed() {
    let run = |seed: u64| {
        let text = format!("seed = {seed}\n{}", DAG.replace("seed = 3\n", ""));
        let mut b = backend(&text);
        let p = plan(&b, &[Precision::Int8], Precision::Float32, &[1]);
        (b.golden_outputs(EVERY), b.run(&p, EVERY).unwrap(), b.run(&p, EVERY).unwrap())
    };
    let (g1, o1, again) = run(5);
    assert_eq!(o1, again, "two runs of one plan agree");
    let (g2, o2, _) = run(5);
    assert_eq!((g1.clone(), o1.clone()), (g2, o2), "two backends of one spec agree");
    let (g3, o3, _) = run(6);
    for name in g1.keys() {
        assert_ne!(g1[name], g3[name], "{name}: another seed gives other goldens");
        assert_ne!(o1[name], o3[name], "{name}: another seed gives other outputs");
    }
    // Golden values have magnitude in [0.5, 1.5].
    for t in g1.values() {
        assert!(t.as_f32().unwrap().iter().all(|v| (0.5..=1.5).contains(&v.abs())));
    }
}

#[test]
fn validates_inputs() {
    let mut b = backend(DAG);
    let mut engine = b.build(&PrecisionPlan::float32(b.network()), OUTPUTS).unwrap();
    let good = b.default_inputs();
    assert_eq!(good.keys().collect::<Vec<_>>(), ["x", "y"]);
    assert_eq!(good["x"].shape(), &[1, 4]);
    engine.infer(&good).unwrap();
    // Input values are ignored.
    let mut other = good.clone();
    other.insert("x".into(), Tensor::F32(ArrayD::zeros(IxDyn(&[1, 4]))));
    assert_eq!(engine.infer(&other).unwrap(), engine.infer(&good).unwrap());

    let check = |inputs: &NamedTensors, parts: &[&str], engine: &mut backend_mock::MockEngine| {
        let err = engine.infer(inputs).unwrap_err();
        assert!(matches!(err, BackendError::Input(_)), "{err:?}");
        let message = err.to_string();
        for part in parts {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    };
    let mut missing = good.clone();
    missing.shift_remove("y");
    check(&missing, &["missing input 'y'", "'x' [1, 4]"], &mut engine);
    let mut extra = good.clone();
    extra.insert("z".into(), good["y"].clone());
    check(&extra, &["unexpected input 'z'"], &mut engine);
    let mut wrong_shape = good.clone();
    wrong_shape.insert("x".into(), Tensor::F32(ArrayD::zeros(IxDyn(&[4]))));
    check(&wrong_shape, &["input 'x'", "shape [4]", "expects [1, 4]"], &mut engine);
    let mut wrong_dtype = good.clone();
    wrong_dtype.insert("y".into(), Tensor::F64(ArrayD::zeros(IxDyn(&[2]))));
    check(&wrong_dtype, &["input 'y'", "float64", "expects float32"], &mut engine);
}

#[test]
fn counts_builds_and_simulates_build_time() {
    let b = backend(CHAIN).with_build_delay(Duration::from_millis(20));
    let counter = b.build_counter();
    let mut clone = b.clone();
    let p = plan(&b, &[Precision::Int8], Precision::Float32, &[]);
    let start = Instant::now();
    clone.build(&p, OUTPUTS).unwrap();
    clone.build(&p, EVERY).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert_eq!((b.builds(), counter.get(), clone.builds()), (2, 2, 2));
}

#[test]
fn rejects_marks_beyond_the_network() {
    let mut b = backend(CHAIN);
    let p = PrecisionPlan::new(b.network(), vec![Precision::Int8], Precision::Float32)
        .unwrap()
        .with_marked(LayerSet::from_indices(10, [7]));
    let err = b.build(&p, OUTPUTS).unwrap_err();
    assert!(matches!(err, BackendError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("layer 7"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
    ))]

    /// On random constant-noise specs, the backend's output errors are what the independent
    /// computation predicts, for random marked sets and precisions.
    #[test]
    fn backend_matches_the_independent_computation(
        spec in arb_spec(GenOptions { max_layers: 120, ..GenOptions::default() }),
        marks in proptest::collection::vec(any::<bool>(), 120),
        lowest in prop_oneof![Just(Precision::Int8), Just(Precision::Fp8), Just(Precision::Float16)],
        higher_fp16 in any::<bool>(),
    ) {
        let higher = if higher_fp16 && lowest.rank() < 2 { Precision::Float16 } else { Precision::Float32 };
        let mut b = MockBackend::from_toml_str(&to_toml(&spec), "generated").unwrap();
        let marked: Vec<usize> = (0..spec.layers.len()).filter(|&i| marks[i]).collect();
        let p = plan(&b, &[lowest], higher, &marked);
        let want = expected_check(&spec, lowest, higher, &marked, 0.0);
        match b.run(&p, OUTPUTS) {
            Err(e) => {
                prop_assert!(e.is_build_failure(), "{}", e);
                prop_assert!(!want.builds, "the backend failed to build: {}", e);
                // The error names every layer that runs in a precision it lacks.
                let precisions = backend_mock::testing::layer_precisions(&spec, lowest, higher, &marked);
                let refused: Vec<usize> = (0..spec.layers.len())
                    .filter(|&i| spec.layers[i].unsupported.contains(&precisions[i]))
                    .collect();
                prop_assert_eq!(e.refused_layers(), refused.as_slice());
            }
            Ok(out) => {
                prop_assert!(want.builds, "the backend built a plan with an unsupported layer");
                let golden = b.golden_outputs(OUTPUTS);
                let mut max = 0.0f32;
                for (name, t) in &out {
                    for (a, g) in t.as_f32().unwrap().iter().zip(golden[name].as_f32().unwrap()) {
                        let d = (a - g).abs();
                        if d.is_nan() || d > max { max = d; }
                    }
                }
                prop_assert_eq!(max.to_bits(), want.max_absdiff.to_bits(), "{} vs {}", max, want.max_absdiff);
            }
        }
    }

    /// A float32 plan returns the goldens exactly, whatever the noise.
    #[test]
    fn float32_plans_return_goldens(spec in arb_spec(GenOptions { max_layers: 60, noise: None, ..GenOptions::default() })) {
        let mut b = MockBackend::from_spec(spec).unwrap();
        let out = b.run(&PrecisionPlan::float32(b.network()), EVERY);
        // A layer unsupported in float32 cannot appear: generated specs list only int8.
        prop_assert_eq!(out.unwrap(), b.golden_outputs(EVERY));
    }
}
