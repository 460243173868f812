//! The isolated-layer model on models built in code: which layers are copied, what the copies
//! read, and what is left out. (Its values are checked on ONNX Runtime in backend-onnxrt.)

mod common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use precision_core::{LayerSet, Precision, PrecisionPlan, isolated_name};
use precision_onnx::isolate::{ISOLATED_NODE_PREFIX, isolated_layers, isolated_model};
use precision_onnx::proto::elem;
use precision_onnx::rewrite::int8_activation_tensors;
use precision_onnx::{
    ActivationScales, Bf16Mode, LayerTable, OnnxModel, RewriteOptions, WeightCache,
    layer_precisions,
};

/// The isolated model of `model` lowered to `lower` with `marked` kept in float32, every
/// markable layer a candidate.
fn isolated(model: &OnnxModel, lower: &[Precision], marked: &[&str]) -> Option<OnnxModel> {
    let table = LayerTable::build(model);
    let net = table.network("m", model.input_infos_lenient(), model.output_names(), lower);
    let set = LayerSet::from_indices(
        net.len(),
        marked.iter().map(|m| net.layer_by_name(m).expect("layer").index),
    );
    let plan = if lower.is_empty() {
        PrecisionPlan::float32(&net)
    } else {
        PrecisionPlan::new(&net, lower.to_vec(), Precision::Float32).unwrap().with_marked(set)
    };
    let precisions = layer_precisions(&table, &net, &plan).unwrap();
    let scales: ActivationScales =
        int8_activation_tensors(model, &table).into_iter().map(|t| (t, 0.02)).collect();
    let candidates = net.layers.iter().filter(|l| l.is_markable()).map(|l| l.index);
    isolated_model(
        model,
        &table,
        &precisions,
        candidates,
        &scales,
        RewriteOptions { bf16: Bf16Mode::Emulated, ..RewriteOptions::default() },
        &mut WeightCache::default(),
    )
    .unwrap()
}

fn outputs(model: &OnnxModel) -> BTreeSet<String> {
    model.graph().output.iter().map(|o| o.name.clone()).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| isolated_name(n)).collect()
}

#[test]
fn int8_copies_read_the_float32_tensors_through_their_own_qdq() {
    let model = convnet_opset11();
    let iso = isolated(&model, &[Precision::Int8], &["fc"]).expect("layers to isolate");
    // Conv, GlobalAveragePool, MatMul (marked: left out) and Add are what INT8 lowers.
    assert_eq!(outputs(&iso), names(&["c", "p", "a"]));
    let g = iso.graph();
    let quantized: BTreeSet<&str> = g
        .node
        .iter()
        .filter(|n| n.op_type == "QuantizeLinear")
        .map(|n| n.input[0].as_str())
        .collect();
    assert_eq!(quantized, ["x", "r", "m"].into_iter().collect(), "the copies' float32 inputs");
    // Only the copies read dequantized values; the float32 nodes are untouched.
    let dequantized: HashSet<&str> = g
        .node
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear")
        .map(|n| n.output[0].as_str())
        .collect();
    for n in &g.node {
        if n.op_type == "DequantizeLinear" {
            continue;
        }
        let reads_dq = n.input.iter().any(|i| dequantized.contains(i.as_str()));
        let is_copy = n.name.starts_with(ISOLATED_NODE_PREFIX) && n.op_type != "QuantizeLinear";
        assert_eq!(reads_dq, is_copy, "node '{}' ({})", n.name, n.op_type);
    }
    let conv = g.node.iter().find(|n| n.name == "conv").unwrap();
    assert_eq!(conv.input, ["x", "conv.w", "conv.b"], "the float32 Conv keeps its weights");
    let copy = g.node.iter().find(|n| n.name == format!("{ISOLATED_NODE_PREFIX}conv")).unwrap();
    assert_eq!(copy.output, [isolated_name("c")]);
    assert!(copy.input[1].contains("__dequantized"), "per-channel int8 weights: {copy:?}");
}

#[test]
fn float_copies_cast_their_inputs_and_subgraph_layers_are_left_out() {
    let model = branchy_opset13();
    let iso = isolated(&model, &[Precision::Float16], &[]).expect("layers to isolate");
    // Inside the If only the branches' layers are lowered; of the top level, only Tanh.
    assert_eq!(outputs(&iso), names(&["y"]));
    let g = iso.graph();
    let copies: Vec<_> = g.node.iter().filter(|n| n.op_type != "Cast").collect();
    let copy = copies.iter().find(|n| n.name.starts_with(ISOLATED_NODE_PREFIX)).unwrap();
    assert_eq!(copy.op_type, "Tanh");
    assert_eq!(copies.iter().filter(|n| n.name.starts_with(ISOLATED_NODE_PREFIX)).count(), 1);
    let cast = g.node.iter().find(|n| n.output.contains(&copy.input[0])).unwrap();
    assert_eq!((cast.op_type.as_str(), cast.input[0].as_str()), ("Cast", "b"));
    assert_eq!(cast.attribute[0].i, i64::from(elem::FLOAT16));
    let branch = g.node.iter().find(|n| n.op_type == "If").unwrap();
    let inner_ops: Vec<&str> = branch
        .attribute
        .iter()
        .flat_map(|a| a.g.iter().flat_map(|g| g.node.iter().map(|n| n.op_type.as_str())))
        .collect();
    assert!(!inner_ops.contains(&"Cast"), "the float32 model's branches stay float32");
}

#[test]
fn nothing_lowered_is_nothing_isolated() {
    let model = convnet_opset11();
    assert!(isolated(&model, &[], &[]).is_none());
    let every = ["conv", "gap", "fc", "bias"];
    assert!(isolated(&model, &[Precision::Int8], &every).is_none());
    let table = LayerTable::build(&model);
    let all_fp16 = vec![Precision::Float16; table.layers.len()];
    assert!(isolated_layers(&table, &all_fp16, [table.layers.len()]).is_empty(), "out of range");
    let branchy = LayerTable::build(&branchy_opset13());
    let all_fp16 = vec![Precision::Float16; branchy.layers.len()];
    let inner: Vec<usize> =
        (0..branchy.layers.len()).filter(|&i| !branchy.layers[i].graph.is_empty()).collect();
    assert_eq!(inner.len(), 3, "Mul, Relu, Sigmoid");
    assert!(isolated_layers(&branchy, &all_fp16, inner).is_empty(), "subgraph layers");
}

#[test]
fn a_name_already_taken_is_an_error_that_says_so() {
    let mut model = convnet_opset11();
    model.graph_mut().node.push(node("Identity", "taken", &["c"], &["isolated:c"], vec![]));
    let table = LayerTable::build(&model);
    let net = table.network("m", model.input_infos_lenient(), model.output_names(), &[]);
    let plan = PrecisionPlan::new(&net, vec![Precision::Int8], Precision::Float32).unwrap();
    let precisions = layer_precisions(&table, &net, &plan).unwrap();
    let scales: ActivationScales =
        int8_activation_tensors(&model, &table).into_iter().map(|t| (t, 0.02)).collect();
    let err = isolated_model(
        &model,
        &table,
        &precisions,
        0..table.layers.len(),
        &scales,
        RewriteOptions::default(),
        &mut WeightCache::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("'isolated:c'") && err.contains("'conv'"), "{err}");
}

#[test]
fn a_node_named_like_its_output_is_isolated() {
    // Exporters (PaddlePaddle's among them) often give a node its output tensor's name.
    let mut model = convnet_opset11();
    for node in &mut model.graph_mut().node {
        if let Some(first) = node.output.first() {
            node.name.clone_from(first);
        }
    }
    let iso = isolated(&model, &[Precision::Float16], &[]).expect("layers to isolate");
    let produced: HashSet<String> =
        iso.graph().node.iter().flat_map(|n| n.output.iter().cloned()).collect();
    for tensor in ["c", "m"] {
        assert!(outputs(&iso).contains(&isolated_name(tensor)), "{tensor}");
        assert!(produced.contains(&isolated_name(tensor)), "{tensor}");
    }
}
