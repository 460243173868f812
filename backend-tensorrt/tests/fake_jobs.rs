//! Parallel checks (`--jobs`) on the TensorRT backend, through the fake: copies of the backend
//! build at once, give the same answer, and number their saved engines apart; engines kept for
//! a check command are handed over from the copy that built them.

mod common;

use std::collections::HashMap;
use std::path::Path;

use backend_tensorrt::fake::{Fake, FakeConfig};
use backend_tensorrt::{TensorRtBackend, TensorRtConfig};
use ndarray::ArrayD;
use onnx_protobuf::GraphProto;
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, CompareConfig, Engine, NamedTensors, NoObserver, OutputSelection,
    PerOutput, Precision, PrecisionPlan, SearchOptions, Tensor, run_search,
};
use precision_onnx::proto::{self, elem};

const LAYERS: usize = 24;

/// `x` → 24 `Relu` nodes `r0..r23` → `y`; r5 and r17 lose 0.4 in INT8, the others 0.001.
fn relu_chain(dir: &Path) -> (std::path::PathBuf, FakeConfig) {
    let mut g = GraphProto { name: "relus".into(), ..Default::default() };
    g.input.push(proto::value_info("x", elem::FLOAT));
    let mut int8_error = HashMap::new();
    for i in 0..LAYERS {
        let input = if i == 0 { "x".to_owned() } else { format!("t{}", i - 1) };
        let output = if i + 1 == LAYERS { "y".to_owned() } else { format!("t{i}") };
        g.node.push(proto::make_node("Relu", format!("r{i}"), vec![input], vec![output], vec![]));
        int8_error.insert(format!("r{i}"), if i == 5 || i == 17 { 0.4 } else { 0.001 });
    }
    g.output.push(proto::value_info("y", elem::FLOAT));
    let path = fixtures::onnx::save(g, dir, "relus.onnx");
    (path, FakeConfig { int8_error, ..FakeConfig::default() })
}

fn feed(seed: f32) -> NamedTensors {
    let mut f = NamedTensors::new();
    let values: Vec<f32> = (0..4).map(|k| seed + k as f32).collect();
    f.insert("x".into(), Tensor::F32(ArrayD::from_shape_vec(vec![1, 4], values).unwrap()));
    f
}

/// The chain at `path` on fake `f`, INT8 calibrated, saving engines into `engines`, as an
/// oracle over two inputs whose goldens are the backend's own float32 outputs.
fn calibrated_oracle(
    f: &Fake,
    path: &Path,
    engines: std::path::PathBuf,
    compare: CompareConfig,
) -> BackendOracle<TensorRtBackend> {
    let config = TensorRtConfig {
        lower: vec![Precision::Int8],
        input_shapes: "x:[1,4]".parse().unwrap(),
        save_engines: Some(engines),
        ..TensorRtConfig::default()
    };
    let mut backend = TensorRtBackend::open_with(f.api(), path, config).unwrap();
    let inputs = vec![feed(0.0), feed(2.0)];
    backend.calibrate(&inputs).unwrap();
    let net = backend.network().clone();
    let mut reference =
        backend.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
    let goldens = inputs.iter().map(|i| reference.infer(i).unwrap()).collect();
    drop(reference);
    let base = PrecisionPlan::new(&net, vec![Precision::Int8], Precision::Float32).unwrap();
    BackendOracle::new(backend, base, inputs, goldens, compare).unwrap()
}

#[test]
fn parallel_checks_on_copies_give_the_same_answer_in_fewer_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let (path, config) = relu_chain(dir.path());
    let engines = dir.path().join("engines");
    let f = Fake::new(config);
    let mut answers = Vec::new();
    for jobs in [1, 3] {
        let compare = CompareConfig {
            atol: PerOutput::uniform(0.1),
            rtol: PerOutput::uniform(0.0),
            ..CompareConfig::default()
        };
        let mut oracle = calibrated_oracle(&f, &path, engines.join(jobs.to_string()), compare);
        let net = oracle.backend().network().clone();
        assert_eq!(oracle.with_jobs(jobs, 1).unwrap(), jobs, "the backend copies itself");
        let options = SearchOptions { minimize: true, ..SearchOptions::new(Algorithm::Bisect) };
        let outcome = run_search(&mut oracle, &options, &mut NoObserver).unwrap();
        let names: Vec<String> =
            outcome.answer.as_ref().unwrap().iter().map(|i| net.layers[i].name.clone()).collect();
        let checks = outcome.checks.len();
        let rounds = outcome.rounds();
        if jobs > 1 {
            assert!(rounds < checks, "{jobs} jobs: {rounds} rounds for {checks} checks");
        }
        // Every engine any copy built was saved under a name of its own.
        let saved = std::fs::read_dir(engines.join(jobs.to_string())).unwrap().count();
        assert_eq!(saved, checks + 1, "{jobs} jobs: the reference build and one per check");
        answers.push(names);
    }
    assert_eq!(answers[0], ["r5", "r17"]);
    assert_eq!(answers[0], answers[1]);
    let s = f.stats();
    assert_eq!((s.live_buffers, s.live_streams), (0, 0), "{s:?}");
}

/// A check command's `{engine}`: with engines kept, the oracle hands over the engine each
/// check built, on whichever copy built it, byte for byte what `--save-engine` wrote and with
/// no second build; an engine is handed over once, so asking again builds it anew.
#[test]
fn kept_engines_are_handed_over_without_a_second_build() {
    use precision_core::{LayerSet, Oracle as _, OutputSelection};
    let dir = tempfile::tempdir().unwrap();
    let (path, config) = relu_chain(dir.path());
    let engines = dir.path().join("engines");
    let f = Fake::new(config);
    let mut oracle = calibrated_oracle(&f, &path, engines.clone(), CompareConfig::default());
    assert!(oracle.backend().engine_files(), "TensorRT plans have engine files");
    let net = oracle.backend().network().clone();
    assert_eq!(oracle.with_jobs(2, 1).unwrap(), 2, "the backend copies itself");
    let sets = [LayerSet::from_indices(net.len(), [5]), LayerSet::from_indices(net.len(), [17])];
    let before = f.stats().builds;
    oracle.keep_latest_engines();
    oracle.evaluate_batch(&sets, OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().builds, before + 2, "one build per plan, on the two copies at once");
    let mut saved: Vec<_> = std::fs::read_dir(&engines)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    saved.sort();
    let mut handed: Vec<Vec<u8>> =
        sets.iter().map(|set| oracle.export_engine(set).unwrap().expect("an engine")).collect();
    assert_eq!(f.stats().builds, before + 2, "handed over without building again");
    let first = handed[0].clone();
    handed.sort();
    assert_eq!(&handed, &saved[saved.len() - 2..], "exactly the engines the checks built");
    let again = oracle.export_engine(&sets[0]).unwrap().expect("an engine");
    assert_eq!(f.stats().builds, before + 3, "handed over once: asked again, it is built anew");
    assert_eq!(again.len(), first.len());
}
