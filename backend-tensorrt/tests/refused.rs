//! Layers TensorRT's builder refuses, through the fake: a build error that names layers with
//! no implementation in their precision is `BackendError::Refused` with exactly those layers
//! (weakly and strongly typed, INT8 and FP16); worst-first and ranked start from the plan
//! with them marked and say so; an error naming no layer of the network stays a plain build
//! failure, and worst-first then stops with a clear message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use backend_tensorrt::fake::{Fake, FakeConfig};
use backend_tensorrt::{TensorRtBackend, TensorRtConfig, Typing};
use ndarray::ArrayD;
use onnx_protobuf::GraphProto;
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, BackendError, CompareConfig, LayerSet, NamedTensors, Observer,
    OutputSelection, PerOutput, Precision, PrecisionPlan, SearchError, SearchOptions, Tensor,
    run_search,
};
use precision_onnx::proto::{self, elem};

const WIDTH: usize = 4;
const BLOCKS: usize = 6;

/// `x[1,4]` → `MatMul` `mm0` … `mm5` (identity weights) → `y`.
fn matmul_chain(dir: &Path) -> PathBuf {
    let mut g = GraphProto { name: "matmuls".into(), ..Default::default() };
    g.input.push(proto::value_info("x", elem::FLOAT));
    let identity: Vec<f32> =
        (0..WIDTH * WIDTH).map(|k| if k % (WIDTH + 1) == 0 { 1.0 } else { 0.0 }).collect();
    let mut prev = "x".to_owned();
    for i in 0..BLOCKS {
        let w = format!("w{i}");
        g.initializer.push(proto::f32_tensor(&w, &[WIDTH as i64, WIDTH as i64], &identity));
        let out = if i + 1 == BLOCKS { "y".to_owned() } else { format!("t{i}") };
        g.node.push(proto::make_node(
            "MatMul",
            format!("mm{i}"),
            vec![prev, w],
            vec![out.clone()],
            vec![],
        ));
        prev = out;
    }
    g.output.push(proto::value_info("y", elem::FLOAT));
    fixtures::onnx::save(g, dir, "matmuls.onnx")
}

/// mm1 loses 0.5 in INT8, every other layer 0.001; `no_kernel` lists the refused layers.
fn config(no_kernel: &[(&str, Precision)]) -> FakeConfig {
    let mut int8_error: HashMap<String, f32> =
        (0..BLOCKS).map(|i| (format!("mm{i}"), 0.001)).collect();
    int8_error.insert("mm1".into(), 0.5);
    let no_kernel = no_kernel.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect();
    FakeConfig { int8_error, no_kernel, ..FakeConfig::default() }
}

fn feed(seed: f32) -> NamedTensors {
    let mut f = NamedTensors::new();
    let values: Vec<f32> = (0..WIDTH).map(|k| seed + k as f32 * 0.25).collect();
    f.insert("x".into(), Tensor::F32(ArrayD::from_shape_vec(vec![1, WIDTH], values).unwrap()));
    f
}

fn open(fake: &Fake, path: &Path, lower: Precision, typing: Typing) -> TensorRtBackend {
    let config = TensorRtConfig {
        lower: vec![lower],
        typing: Some(typing),
        input_shapes: "x:[1,4]".parse().unwrap(),
        ..TensorRtConfig::default()
    };
    TensorRtBackend::open_with(fake.api(), path, config).expect("the fake opens the chain")
}

fn index(backend: &TensorRtBackend, name: &str) -> usize {
    backend.network().layer_by_name(name).unwrap_or_else(|| panic!("layer {name}")).index
}

fn plan(backend: &TensorRtBackend, lower: Precision, marked: &[&str]) -> PrecisionPlan {
    let net = backend.network();
    let base = PrecisionPlan::new(net, vec![lower], Precision::Float32).unwrap();
    base.with_marked(LayerSet::from_indices(net.len(), marked.iter().map(|n| index(backend, n))))
}

/// Builds `marked` and returns the build error, if any.
fn build(backend: &mut TensorRtBackend, lower: Precision, marked: &[&str]) -> Option<BackendError> {
    backend.build(&plan(backend, lower, marked), OutputSelection::NetworkOutputs).err()
}

/// The two input iterations of every check.
fn inputs() -> Vec<NamedTensors> {
    vec![feed(0.0), feed(1.0)]
}

#[test]
fn a_layer_without_an_implementation_is_a_refused_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = matmul_chain(dir.path());
    let cases = [
        (Typing::Weak, Precision::Int8),
        (Typing::Weak, Precision::Float16),
        (Typing::Strong, Precision::Int8),
    ];
    for (typing, lower) in cases {
        // TensorRT names the first layer it cannot implement; marking it moves on to the next.
        let f = Fake::new(config(&[("mm2", lower), ("mm4", lower)]));
        let mut backend = open(&f, &path, lower, typing);
        if lower == Precision::Int8 {
            backend.calibrate(&inputs()).unwrap();
        }
        let what = format!("{typing:?} {lower}");
        let err = build(&mut backend, lower, &[]).expect("nothing marked fails");
        assert_eq!(err.refused_layers(), [index(&backend, "mm2")], "{what}: {err}");
        assert!(err.is_build_failure(), "{what}");
        let text = err.to_string();
        assert!(text.contains("Could not find any implementation for node mm2"), "{what}: {text}");
        let err = build(&mut backend, lower, &["mm2"]).expect("mm4 is still lowered");
        assert_eq!(err.refused_layers(), [index(&backend, "mm4")], "{what}: {err}");
        assert!(build(&mut backend, lower, &["mm2", "mm4"]).is_none(), "{what}: both marked build");
    }
    // A layer refused in one precision builds in another.
    let f = Fake::new(config(&[("mm2", Precision::Float16)]));
    let mut backend = open(&f, &path, Precision::Int8, Typing::Weak);
    backend.calibrate(&inputs()).unwrap();
    assert_eq!(build(&mut backend, Precision::Int8, &[]), None);
}

/// Notes the search sends.
#[derive(Default)]
struct Notes(Vec<String>);

impl Observer for Notes {
    fn note(&mut self, message: &str) {
        self.0.push(message.to_owned());
    }
}

/// An INT8 search oracle with tolerance 0.05. The goldens are the float32 outputs, which
/// the fake computes as the input itself (no error anywhere in float32), so no float32
/// engine is needed for them.
fn oracle(mut backend: TensorRtBackend) -> BackendOracle<TensorRtBackend> {
    let inputs = inputs();
    backend.calibrate(&inputs).unwrap();
    let net = backend.network().clone();
    let goldens =
        inputs.iter().map(|i| [("y".to_owned(), i["x"].clone())].into_iter().collect()).collect();
    let base = PrecisionPlan::new(&net, vec![Precision::Int8], Precision::Float32).unwrap();
    let compare = CompareConfig {
        atol: PerOutput::uniform(0.05),
        rtol: PerOutput::uniform(0.0),
        ..CompareConfig::default()
    };
    BackendOracle::new(backend, base, inputs, goldens, compare).unwrap()
}

#[test]
fn worst_first_and_ranked_start_from_the_plan_with_the_refused_layers_marked() {
    let dir = tempfile::tempdir().unwrap();
    let path = matmul_chain(dir.path());
    for typing in [Typing::Weak, Typing::Strong] {
        for algorithm in [Algorithm::WorstFirst, Algorithm::Ranked] {
            let what = format!("{typing:?} {algorithm:?}");
            let f = Fake::new(config(&[("mm2", Precision::Int8), ("mm4", Precision::Int8)]));
            let backend = open(&f, &path, Precision::Int8, typing);
            let (mm1, mm2, mm4) =
                (index(&backend, "mm1"), index(&backend, "mm2"), index(&backend, "mm4"));
            let mut oracle = oracle(backend);
            let mut notes = Notes::default();
            let options = SearchOptions { top_k: 1, ..SearchOptions::new(algorithm) };
            let outcome = run_search(&mut oracle, &options, &mut notes).unwrap();
            assert_eq!(outcome.refused, [mm2, mm4], "{what}");
            // The refused layers and the sensitive one (worst-first may add others first).
            let answer = outcome.answer.expect("an answer");
            assert!([mm1, mm2, mm4].iter().all(|&i| answer.contains(i)), "{what}: {answer:?}");
            let said = |needles: &[&str]| {
                notes.0.iter().any(|n| needles.iter().all(|needle| n.contains(needle)))
            };
            assert!(
                said(&["the plan with nothing marked failed to build", "'mm2'", "exactly those"]),
                "{what}: {:?}",
                notes.0
            );
            assert!(said(&["that plan failed to build", "'mm4'"]), "{what}: {:?}", notes.0);
            // Every check after the refused plan builds keeps both marked.
            let checked: Vec<&LayerSet> = outcome.checks.iter().map(|i| &i.marked).collect();
            let start = checked
                .iter()
                .position(|m| m.to_vec() == [mm2, mm4])
                .unwrap_or_else(|| panic!("{what}: the refused plan was checked"));
            assert!(checked[start..].iter().all(|m| m.contains(mm2) && m.contains(mm4)), "{what}");
        }
    }
}

#[test]
fn an_error_naming_no_layer_of_the_network_stays_a_plain_build_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = matmul_chain(dir.path());
    for text in [
        // Layers this network does not have, and names that only contain a layer's name.
        "[optimizer.cpp::computeCosts::3869] Error Code 10: Internal Error (Could not find any \
         implementation for node {ForeignNode[/decoder/Reshape...mm22]}.)",
        "Error Code 10: Internal Error (Could not find any implementation for node mm2_q.)",
        // Another error entirely, that mentions a layer.
        "Error Code 2: Internal Error (Assertion engine != nullptr failed. ) after mm2",
    ] {
        let f = Fake::new(FakeConfig { build_error: Some(text.to_owned()), ..config(&[]) });
        let mut backend = open(&f, &path, Precision::Int8, Typing::Weak);
        backend.calibrate(&inputs()).unwrap();
        let err = build(&mut backend, Precision::Int8, &[]).expect("the build fails");
        assert_eq!(err, BackendError::Build(text.to_owned()), "{text}");
        // Worst-first cannot start and says why.
        let mut oracle = oracle(backend);
        let options = SearchOptions::new(Algorithm::WorstFirst);
        let err = run_search(&mut oracle, &options, &mut Notes::default()).unwrap_err();
        assert!(matches!(err, SearchError::Unsupported(_)), "{text}: {err}");
        let message = err.to_string();
        assert!(message.contains("failed to build") && message.contains(text), "{message}");
    }
}
