//! The backend on a real model (`$PRECISION_MODELS`, `$ORT_DYLIB_PATH`; `cargo xtask ci` sets
//! both): sessions reused for repeated plans, calibration once, every-layer outputs in every
//! precision, and INT8 plans that differ from float32 by a bounded amount.

use std::path::PathBuf;

use backend_onnxrt::{OnnxrtBackend, OnnxrtConfig};
use ndarray::ArrayD;
use precision_core::{
    Backend, Engine, LayerSet, NamedTensors, OutputSelection, Precision, PrecisionPlan, Tensor,
};

fn model_path() -> PathBuf {
    let _ = fixtures::env::onnx_runtime();
    fixtures::env::model("ch_ppocr_mobile_v2.0_cls_mobile.onnx")
}

fn open(lower: &[Precision]) -> OnnxrtBackend {
    let config = OnnxrtConfig {
        input_shapes: "x:[1,3,48,192]".parse().unwrap(),
        lower: lower.to_vec(),
        ..OnnxrtConfig::default()
    };
    OnnxrtBackend::open(&model_path(), config).unwrap()
}

fn feed() -> NamedTensors {
    let values: Vec<f32> = (0..3 * 48 * 192).map(|i| ((i * 37) % 255) as f32 / 255.0).collect();
    let mut f = NamedTensors::new();
    f.insert("x".into(), Tensor::F32(ArrayD::from_shape_vec(vec![1, 3, 48, 192], values).unwrap()));
    f
}

#[test]
fn repeated_plans_reuse_their_session_and_calibration_runs_once() {
    let mut backend = open(&[Precision::Int8]);
    let at_open = backend.sessions_created();
    assert!(backend.calibrate(&[feed()]).unwrap().is_some());
    assert!(backend.calibrate(&[feed()]).unwrap().is_none(), "calibration runs once");
    let scales = backend.scales().unwrap().clone();
    assert_eq!(scales.len(), backend.int8_tensors().len());
    assert!(scales.values().all(|s| s.is_finite() && *s > 0.0));

    let plan =
        PrecisionPlan::new(backend.network(), vec![Precision::Int8], Precision::Float32).unwrap();
    let before = backend.sessions_created();
    let a = backend.build(&plan, OutputSelection::NetworkOutputs).unwrap().infer(&feed()).unwrap();
    let b = backend.build(&plan, OutputSelection::NetworkOutputs).unwrap().infer(&feed()).unwrap();
    assert_eq!(backend.sessions_created(), before + 1, "the second build reused the session");
    assert_eq!(a, b);
    assert!(at_open >= 1, "opening checks that ONNX Runtime loads the model");
}

#[test]
fn int8_and_fp16_plans_stay_near_float32_and_marking_everything_is_float32() {
    let mut backend = open(&[Precision::Int8, Precision::Float16]);
    backend.calibrate(&[feed()]).unwrap();
    let net = backend.network().clone();
    let golden = backend
        .build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs)
        .unwrap()
        .infer(&feed())
        .unwrap();
    let base =
        PrecisionPlan::new(&net, vec![Precision::Int8, Precision::Float16], Precision::Float32)
            .unwrap();
    let lowered =
        backend.build(&base, OutputSelection::NetworkOutputs).unwrap().infer(&feed()).unwrap();
    let all = LayerSet::from_indices(
        net.len(),
        net.layers.iter().filter(|l| l.is_markable()).map(|l| l.index),
    );
    let marked = backend
        .build(&base.with_marked(all), OutputSelection::NetworkOutputs)
        .unwrap()
        .infer(&feed())
        .unwrap();
    let diff = |x: &NamedTensors| {
        let (a, b) = (x[0].as_f32().unwrap(), golden[0].as_f32().unwrap());
        a.iter().zip(b.iter()).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max)
    };
    assert!(diff(&lowered) > 0.0, "INT8 changes the outputs");
    assert!(diff(&lowered) < 0.5, "but not wildly: {}", diff(&lowered));
    assert_eq!(diff(&marked), 0.0, "every layer marked is the float32 model");
}

#[test]
fn every_layer_outputs_in_every_precision() {
    for lower in [vec![Precision::Float16], vec![Precision::Int8], vec![Precision::BFloat16]] {
        let mut backend = open(&lower);
        backend.calibrate(&[feed()]).unwrap();
        let net = backend.network().clone();
        let plan = PrecisionPlan::new(&net, lower.clone(), Precision::Float32).unwrap();
        let out =
            backend.build(&plan, OutputSelection::EveryLayer).unwrap().infer(&feed()).unwrap();
        let expected: usize = backend.layers().layers.iter().map(|l| l.float_outputs.len()).sum();
        assert_eq!(out.len(), expected, "{lower:?}: one output per float layer output");
        for l in net.layers.iter().filter(|l| l.is_markable()) {
            for o in &l.outputs {
                assert!(out.contains_key(o), "{lower:?}: layer {} output {o} missing", l.name);
            }
        }
    }
}

#[test]
fn several_samples_per_check_turn_the_cpu_arena_on_and_change_no_output() {
    let mut plain = open(&[Precision::Int8]);
    plain.calibrate(&[feed()]).unwrap();
    let mut streaming = open(&[Precision::Int8]);
    streaming.calibrate(&[feed()]).unwrap();
    streaming.expect_samples(1);
    assert!(!streaming.execution().cpu_arena, "one sample: no arena to hold between checks");
    streaming.expect_samples(1000);
    assert!(streaming.execution().cpu_arena, "a dataset: buffers reused from sample to sample");

    let plan =
        PrecisionPlan::new(plain.network(), vec![Precision::Int8], Precision::Float32).unwrap();
    let want = plain.build(&plan, OutputSelection::NetworkOutputs).unwrap().infer(&feed()).unwrap();
    let mut engine = streaming.build(&plan, OutputSelection::NetworkOutputs).unwrap();
    for _ in 0..3 {
        assert_eq!(engine.infer(&feed()).unwrap(), want, "the arena changes no output");
    }
}
