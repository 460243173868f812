//! Execution providers on the CPU build of ONNX Runtime (`$PRECISION_MODELS`,
//! `$ORT_DYLIB_PATH`; `cargo xtask ci` sets both): the node placement read from ONNX Runtime's
//! own report, the refusal of a session whose nodes ran on CPU when only a GPU was allowed, the
//! refusal of GPU providers by a CPU-only build, and `--jobs` copies spread over a device list.
//! A test that needs a CUDA device is ignored ("not run: no CUDA device"), so it counts as
//! skipped, never as passed.

use std::path::PathBuf;

use backend_onnxrt::providers::{ExecutionSettings, Provider, ProviderKind, parse_providers};
use backend_onnxrt::{OnnxrtBackend, OnnxrtConfig};
use precision_core::{Backend, Engine, OutputSelection, Precision, PrecisionPlan};

fn model_path() -> PathBuf {
    let _ = fixtures::env::onnx_runtime();
    fixtures::env::model("ch_ppocr_mobile_v2.0_cls_mobile.onnx")
}

fn config(execution: ExecutionSettings, lower: &[Precision]) -> OnnxrtConfig {
    OnnxrtConfig {
        input_shapes: "x:[1,3,48,192]".parse().unwrap(),
        lower: lower.to_vec(),
        execution,
        ..OnnxrtConfig::default()
    }
}

fn recording_cpu() -> ExecutionSettings {
    ExecutionSettings { record_placement: true, ..ExecutionSettings::default() }
}

#[test]
fn the_node_placement_comes_from_onnx_runtime() {
    let mut backend = OnnxrtBackend::open(&model_path(), config(recording_cpu(), &[])).unwrap();
    let placement = backend.placement().expect("the float32 session's placement").clone();
    assert!(placement.is_known(), "{placement:?}");
    assert_eq!(placement.providers.len(), 1, "{placement:?}");
    assert_eq!(placement.providers[0].provider, "CPUExecutionProvider");
    assert!(placement.providers[0].count > 10, "{placement:?}");
    // Every plan's session records its own placement.
    let plan = PrecisionPlan::new(backend.network(), vec![Precision::Float16], Precision::Float32)
        .unwrap();
    backend.build(&plan, OutputSelection::NetworkOutputs).unwrap();
    let fp16 = backend.placement().unwrap();
    assert_eq!(fp16.providers[0].provider, "CPUExecutionProvider");
    assert!(fp16.providers[0].count > placement.providers[0].count, "Casts were added");
}

#[test]
fn nodes_on_cpu_are_refused_when_only_a_gpu_is_allowed() {
    let backend = OnnxrtBackend::open(&model_path(), config(recording_cpu(), &[])).unwrap();
    let placement = backend.placement().unwrap();
    let gpu_only = ExecutionSettings {
        providers: parse_providers(&["cuda"]).unwrap(),
        ..ExecutionSettings::default()
    };
    let err = placement.check(&gpu_only, backend.model()).unwrap_err();
    assert!(err.contains("fell back to CPU, which --providers cuda does not allow"), "{err}");
    assert!(err.contains("ran on CPUExecutionProvider"), "{err}");
    // With cpu listed, the same placement is fine.
    let with_cpu = ExecutionSettings {
        providers: parse_providers(&["cuda", "cpu"]).unwrap(),
        ..ExecutionSettings::default()
    };
    placement.check(&with_cpu, backend.model()).unwrap();
}

#[test]
fn a_split_placement_allows_only_shape_computations_on_cpu() {
    use backend_onnxrt::providers::Placement;
    let backend = OnnxrtBackend::open(&model_path(), config(recording_cpu(), &[])).unwrap();
    let model = backend.model();
    // A real float node and a real shape node of the model, as ONNX Runtime would list them.
    let conv = model.graph().node.iter().find(|n| n.op_type == "Conv").unwrap();
    let gpu_only = ExecutionSettings {
        providers: parse_providers(&["cuda"]).unwrap(),
        ..ExecutionSettings::default()
    };
    let lines = [
        " Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 40".to_owned(),
        " Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1".to_owned(),
        format!("  Conv ({})", conv.name),
    ];
    let placement = Placement::parse(lines.iter().map(String::as_str));
    let err = placement.check(&gpu_only, model).unwrap_err();
    assert!(
        err.contains(&format!("1 node(s) ran on CPUExecutionProvider: Conv ({})", conv.name)),
        "{err}"
    );
    // A node the model does not have (renamed by ONNX Runtime) is refused too.
    let unknown = Placement::parse([
        " Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 40",
        " Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1",
        "  Mul (fused_by_ort_0)",
    ]);
    assert!(unknown.check(&gpu_only, model).is_err());
    // No placement report at all is refused: nothing shows where the session ran.
    assert!(
        Placement::default().check(&gpu_only, model).unwrap_err().contains("no node placement")
    );
}

#[test]
fn a_cpu_only_build_refuses_gpu_providers_naming_the_package() {
    for provider in ["cuda", "tensorrt", "cuda:1"] {
        let execution = ExecutionSettings {
            providers: parse_providers(&[provider]).unwrap(),
            ..ExecutionSettings::default()
        };
        let err = OnnxrtBackend::open(&model_path(), config(execution, &[])).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("is a build without the"), "{provider}: {text}");
        assert!(text.contains("`pip install onnxruntime-gpu`"), "{provider}: {text}");
    }
}

#[test]
fn copies_for_jobs_are_spread_over_the_device_list() {
    // A fake device list on CPU: the copies take devices in turn, as --jobs on several GPUs
    // does; no session here uses them (CPU), so this runs anywhere.
    let execution = ExecutionSettings { device_ids: vec![0, 1, 2], ..recording_cpu() };
    let backend = OnnxrtBackend::open(&model_path(), config(execution, &[])).unwrap();
    assert_eq!(backend.device(), Some(0));
    let copies: Vec<Option<u32>> =
        (0..4).map(|_| backend.try_clone(1).unwrap().unwrap().device()).collect();
    assert_eq!(copies, [Some(1), Some(2), Some(0), Some(1)]);
    // Each copy's description names its device.
    let cuda = ExecutionSettings {
        providers: vec![Provider { kind: ProviderKind::Cuda, device: None }],
        ..ExecutionSettings::default()
    };
    assert_eq!(
        cuda.describe(Some(2)),
        "cuda:2 (TF32 off, cuDNN algorithm search auto: default for float16 sessions of up to 8 \
         runs, else heuristic)"
    );
}

/// Runs only with `--ignored` on a machine with a CUDA device and onnxruntime-gpu
/// (`ORT_DYLIB_PATH`); libtest lists it as ignored (skipped) elsewhere, never as passed.
#[test]
#[ignore = "not run: no CUDA device here (run with --ignored on a GPU machine)"]
fn a_cuda_session_runs_on_the_gpu() {
    let execution = ExecutionSettings {
        providers: parse_providers(&["cuda"]).unwrap(),
        ..ExecutionSettings::default()
    };
    let mut backend = match OnnxrtBackend::open(&model_path(), config(execution, &[])) {
        Ok(b) => b,
        Err(e) => panic!("not run: no CUDA device ({e})"),
    };
    let placement = backend.placement().unwrap();
    assert!(placement.providers.iter().any(|p| p.provider == "CUDAExecutionProvider"));
    let plan = PrecisionPlan::float32(backend.network());
    let mut engine = backend.build(&plan, OutputSelection::NetworkOutputs).unwrap();
    let feed = backend_feed();
    engine.infer(&feed).unwrap();
}

fn backend_feed() -> precision_core::NamedTensors {
    use ndarray::ArrayD;
    let values: Vec<f32> = (0..3 * 48 * 192).map(|i| ((i * 37) % 255) as f32 / 255.0).collect();
    let mut f = precision_core::NamedTensors::new();
    f.insert(
        "x".into(),
        precision_core::Tensor::F32(ArrayD::from_shape_vec(vec![1, 3, 48, 192], values).unwrap()),
    );
    f
}

/// Under `--cudnn-algo auto` a float16 plan built for a check and again for a timing (many
/// runs) gets two sessions, one per algorithm search; a repeat under the same count reuses its
/// session.
#[test]
fn sessions_are_kept_per_algorithm_search() {
    let mut backend = OnnxrtBackend::open(
        &model_path(),
        config(ExecutionSettings::default(), &[Precision::Float16]),
    )
    .unwrap();
    let network = backend.network().clone();
    let fp16 = PrecisionPlan::new(&network, vec![Precision::Float16], Precision::Float32).unwrap();
    let float32 = PrecisionPlan::float32(&network);
    let start = backend.sessions_created();
    let count = |backend: &mut OnnxrtBackend, plan: &PrecisionPlan| {
        backend.build(plan, OutputSelection::NetworkOutputs).unwrap();
        backend.sessions_created() - start
    };
    assert_eq!(count(&mut backend, &fp16), 1);
    assert_eq!(count(&mut backend, &fp16), 1, "the same check reuses its session");
    assert_eq!(count(&mut backend, &float32), 2);
    backend.expect_samples(30);
    assert_eq!(count(&mut backend, &fp16), 3, "a timed float16 plan gets the heuristics");
    assert_eq!(count(&mut backend, &fp16), 3, "and keeps it for the next timing");
}
