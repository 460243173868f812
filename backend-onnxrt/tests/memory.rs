//! What the backend keeps in memory: the kept sessions stay within their byte budget (by
//! count and bytes, never by timing), a session too large for the budget is not kept, and
//! copies made for `--jobs` share the model, the layer table and the converted weights
//! instead of copying them. Needs ONNX Runtime (`$ORT_DYLIB_PATH`; `cargo xtask ci` sets it).

use std::path::Path;

use backend_onnxrt::{OnnxrtBackend, OnnxrtConfig};
use fixtures::onnx::{model, node};
use fixtures::seeded::values;
use ndarray::ArrayD;
use onnx_protobuf::GraphProto;
use precision_core::{
    Backend, Engine, LayerSet, NamedTensors, OutputSelection, Precision, PrecisionPlan, Tensor,
};
use precision_onnx::OnnxModel;
use precision_onnx::proto::{self, elem};

/// x[1,8,12,12] → four Conv (16 channels, 3x3, no padding) + Relu pairs →
/// `GlobalAveragePool` → Flatten → Gemm (y[1,10]): weights large enough that a session's size
/// is mostly its weights.
fn chain() -> OnnxModel {
    let mut g = GraphProto { name: "chain".into(), ..Default::default() };
    g.input.push(proto::value_info("x", elem::FLOAT));
    g.output.push(proto::value_info("y", elem::FLOAT));
    let mut input = "x".to_owned();
    let mut channels: i64 = 8;
    for i in 0..4u32 {
        let (weight, bias) = (format!("conv{i}.w"), format!("conv{i}.b"));
        g.initializer.push(proto::f32_tensor(
            &weight,
            &[16, channels, 3, 3],
            &values(usize::try_from(16 * 9 * channels).unwrap(), i),
        ));
        g.initializer.push(proto::f32_tensor(&bias, &[16], &values(16, 100 + i)));
        let (conv, relu) = (format!("c{i}"), format!("r{i}"));
        g.node.push(node("Conv", &format!("conv{i}"), &[&input, &weight, &bias], &conv));
        g.node.push(node("Relu", &format!("relu{i}"), &[&conv], &relu));
        input = relu;
        channels = 16;
    }
    g.initializer.push(proto::f32_tensor("fc.w", &[10, 16], &values(160, 7)));
    g.initializer.push(proto::f32_tensor("fc.b", &[10], &values(10, 8)));
    g.node.push(node("GlobalAveragePool", "gap", &[&input], "p"));
    g.node.push(node("Flatten", "flat", &["p"], "f"));
    let mut fc = node("Gemm", "fc", &["f", "fc.w", "fc.b"], "y");
    fc.attribute.push(proto::make_attr_int("transB", 1));
    g.node.push(fc);
    model(g)
}

fn feed() -> NamedTensors {
    let mut f = NamedTensors::new();
    let dims = vec![1, 8, 12, 12];
    let data = values(8 * 144, 11);
    f.insert("x".into(), Tensor::F32(ArrayD::from_shape_vec(dims, data).unwrap()));
    f
}

const LOWER: [Precision; 2] = [Precision::Int8, Precision::Float16];

/// The chain opened with `keep_sessions` and `keep_bytes`, calibrated.
fn open(dir: &Path, keep_sessions: usize, keep_bytes: Option<usize>) -> OnnxrtBackend {
    let _ = fixtures::env::onnx_runtime();
    let path = dir.join("chain.onnx");
    chain().save(&path).unwrap();
    let config = OnnxrtConfig {
        input_shapes: "x:[1,8,12,12]".parse().unwrap(),
        lower: LOWER.to_vec(),
        keep_sessions,
        keep_bytes,
        ..OnnxrtConfig::default()
    };
    let mut backend = OnnxrtBackend::open(&path, config).unwrap();
    backend.calibrate(&[feed()]).unwrap();
    backend
}

/// Plans of every kind of session: float32, the lowered base plan, the first two markable
/// layers marked one at a time, under every output selection.
fn plans(backend: &OnnxrtBackend) -> Vec<(PrecisionPlan, OutputSelection)> {
    let net = backend.network();
    let base = PrecisionPlan::new(net, LOWER.to_vec(), Precision::Float32).unwrap();
    let mut plans = vec![PrecisionPlan::float32(net), base.clone()];
    plans.extend(
        net.layers
            .iter()
            .filter(|l| l.is_markable())
            .take(2)
            .map(|l| base.with_marked(LayerSet::from_indices(net.len(), [l.index]))),
    );
    let selections =
        [OutputSelection::NetworkOutputs, OutputSelection::EveryLayer, OutputSelection::Isolated];
    selections.iter().flat_map(|&s| plans.iter().map(move |p| (p.clone(), s))).collect()
}

fn run(backend: &mut OnnxrtBackend, plan: &PrecisionPlan, s: OutputSelection) -> NamedTensors {
    backend.build(plan, s).unwrap().infer(&feed()).unwrap()
}

#[test]
fn kept_sessions_never_exceed_the_byte_budget_and_the_default_is_the_model_size() {
    let dir = tempfile::tempdir().unwrap();
    let model_size = chain().to_bytes().unwrap().len();
    let mut unbounded = open(dir.path(), usize::MAX, Some(usize::MAX));
    assert_eq!(open(dir.path(), 8, None).session_budget(), model_size);

    // The size of each plan's sessions, as the cache counts them, with nothing dropped.
    let mut sizes = Vec::new();
    let at_start = unbounded.sessions_created();
    for (plan, s) in plans(&unbounded) {
        let before = unbounded.sessions_kept().1;
        run(&mut unbounded, &plan, s);
        sizes.push(unbounded.sessions_kept().1 - before);
    }
    let total: usize = sizes.iter().sum();
    assert_eq!(unbounded.sessions_kept().0, unbounded.sessions_created() - at_start, "all kept");

    // Budgets from less than one session to about half of all: whatever is built, the kept
    // sessions stay within the budget and the count limit, and the results do not change.
    let largest = *sizes.iter().max().unwrap();
    for budget in [1, largest - 1, model_size, total / 2] {
        for keep in [1, 8] {
            let mut backend = open(dir.path(), keep, Some(budget));
            assert_eq!(backend.session_budget(), budget);
            for (plan, s) in plans(&backend) {
                let outputs = run(&mut backend, &plan, s);
                assert_eq!(outputs, run(&mut unbounded, &plan, s), "same results whatever is kept");
                let (count, bytes) = backend.sessions_kept();
                assert!(bytes <= budget, "{bytes} bytes kept for a budget of {budget}");
                assert!(count <= keep, "{count} sessions kept, at most {keep} allowed");
            }
            let kept = backend.sessions_kept().0;
            if budget < sizes.iter().copied().filter(|&s| s > 0).min().unwrap() {
                assert_eq!(kept, 0, "nothing fits a budget of {budget} bytes");
            } else if budget >= largest {
                assert!(kept >= 1, "a budget of {budget} bytes keeps the last session");
            }
        }
    }
}

#[test]
fn a_session_larger_than_the_budget_is_rebuilt_and_one_that_fits_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut tiny = open(dir.path(), 8, Some(1));
    let plan = PrecisionPlan::float32(tiny.network());
    let first = run(&mut tiny, &plan, OutputSelection::NetworkOutputs);
    let created = tiny.sessions_created();
    assert_eq!(run(&mut tiny, &plan, OutputSelection::NetworkOutputs), first);
    assert_eq!(tiny.sessions_created(), created + 1, "not kept, so built again");
    assert_eq!(tiny.sessions_kept(), (0, 0));

    let mut fits = open(dir.path(), 8, None);
    run(&mut fits, &plan, OutputSelection::NetworkOutputs);
    let created = fits.sessions_created();
    assert_eq!(run(&mut fits, &plan, OutputSelection::NetworkOutputs), first);
    assert_eq!(fits.sessions_created(), created, "kept within the model-size budget, reused");
    assert_eq!(fits.sessions_kept().0, 1);
}

/// Once a search has measured its layers, the sessions kept for layer outputs (every-layer
/// and isolated) are dropped; those of network outputs stay and are reused.
#[test]
fn sessions_for_layer_outputs_are_dropped_once_layers_are_measured() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = open(dir.path(), usize::MAX, Some(usize::MAX));
    let all = plans(&backend);
    for (plan, s) in &all {
        run(&mut backend, plan, *s);
    }
    let network_outputs = all.iter().filter(|(_, s)| *s == OutputSelection::NetworkOutputs);
    let (kept, _) = backend.sessions_kept();
    assert!(kept > network_outputs.clone().count(), "{kept} sessions kept before");
    backend.layer_outputs_done();
    assert_eq!(backend.sessions_kept().0, network_outputs.clone().count());
    let created = backend.sessions_created();
    for (plan, s) in network_outputs {
        run(&mut backend, plan, *s);
    }
    assert_eq!(backend.sessions_created(), created, "network-output sessions are reused");
}

#[test]
fn copies_share_the_model_the_layer_table_and_the_converted_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = open(dir.path(), 8, None);
    let net = backend.network().clone();
    let base = PrecisionPlan::new(&net, LOWER.to_vec(), Precision::Float32).unwrap();
    let expected = run(&mut backend, &base, OutputSelection::NetworkOutputs);
    let converted = backend.weight_cache().len();
    assert!(converted > 0, "the INT8 plan quantized weights");

    let mut copy = backend.try_clone(1).unwrap().expect("onnxrt copies itself");
    assert!(std::ptr::eq(copy.model(), backend.model()), "the model is shared, not copied");
    assert!(std::ptr::eq(copy.layers(), backend.layers()), "the layer table is shared");
    assert_eq!(copy.weight_cache().shared_with(backend.weight_cache()), converted);
    assert_eq!(copy.session_budget(), 0, "copies keep no sessions");

    // The copy answers as the original, and what it converts later is its own.
    assert_eq!(run(&mut copy, &base, OutputSelection::NetworkOutputs), expected);
    let fp16 = PrecisionPlan::new(&net, vec![Precision::Float16], Precision::Float32).unwrap();
    run(&mut copy, &fp16, OutputSelection::NetworkOutputs);
    assert!(copy.weight_cache().len() > converted);
    assert_eq!(copy.weight_cache().shared_with(backend.weight_cache()), converted);
    assert_eq!(backend.weight_cache().len(), converted, "the original is unchanged");
    assert_eq!(copy.sessions_kept(), (0, 0));
}
