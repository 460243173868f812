//! Small ONNX models built in code for the tests.

#![allow(dead_code)]

use std::path::Path;

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorShapeProto, ValueInfoProto,
};
use precision_onnx::OnnxModel;
use precision_onnx::proto::{self, elem};
use protobuf::{EnumOrUnknown, MessageField};

/// A float tensor value info with a fixed shape.
pub fn input(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    let mut info = proto::value_info(name, elem_type);
    if let Some(onnx_protobuf::type_proto::Value::TensorType(t)) =
        info.type_.as_mut().and_then(|t| t.value.as_mut())
    {
        t.shape = MessageField::some(TensorShapeProto {
            dim: dims
                .iter()
                .map(|&d| Dimension {
                    value: Some(dimension::Value::DimValue(d)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
    }
    info
}

/// A node.
pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    proto::make_node(
        op,
        name.to_owned(),
        inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs.iter().map(|s| (*s).to_owned()).collect(),
        attrs,
    )
}

/// An integer-list attribute.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        type_: EnumOrUnknown::new(AttributeType::INTS),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A graph attribute.
pub fn graph_attr(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        type_: EnumOrUnknown::new(AttributeType::GRAPH),
        g: MessageField::some(g),
        ..Default::default()
    }
}

/// A `Constant` node holding a float tensor.
pub fn constant(name: &str, output: &str, dims: &[i64], values: &[f32]) -> NodeProto {
    let t = proto::f32_tensor("", dims, values);
    let attr = AttributeProto {
        name: "value".into(),
        type_: EnumOrUnknown::new(AttributeType::TENSOR),
        t: MessageField::some(t),
        ..Default::default()
    };
    node("Constant", name, &[], &[output], vec![attr])
}

/// Deterministic pseudo-random values in [-1, 1).
pub use fixtures::seeded::values;

/// A model around `graph`.
pub fn model(graph: GraphProto, opset: i64) -> OnnxModel {
    let proto = ModelProto {
        ir_version: if opset >= 13 { 8 } else { 6 },
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
            ..Default::default()
        }],
        producer_name: "precision-tests".into(),
        graph: MessageField::some(graph),
        metadata_props: vec![StringStringEntryProto {
            key: "character".into(),
            value: "a b c".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    OnnxModel { proto }
}

/// Opset 11: `Conv` (initializer weights) → `Relu` → `GlobalAveragePool` → `Flatten` → `MatMul`
/// (weights in a `Constant` node) → `Add` → `Unsqueeze`/`Squeeze` (axes attributes) →
/// `Softmax` (axis 1).
pub fn convnet_opset11() -> OnnxModel {
    let mut g = GraphProto { name: "convnet".into(), ..Default::default() };
    g.input.push(input("x", elem::FLOAT, &[1, 3, 8, 8]));
    g.output.push(input("y", elem::FLOAT, &[1, 5]));
    g.initializer.push(proto::f32_tensor("conv.w", &[4, 3, 3, 3], &values(108, 1)));
    g.initializer.push(proto::f32_tensor("conv.b", &[4], &values(4, 2)));
    g.node.push(node(
        "Conv",
        "conv",
        &["x", "conv.w", "conv.b"],
        &["c"],
        vec![ints("pads", &[1, 1, 1, 1])],
    ));
    g.node.push(node("Relu", "", &["c"], &["r"], vec![]));
    g.node.push(node("GlobalAveragePool", "gap", &["r"], &["p"], vec![]));
    g.node.push(node("Flatten", "flat", &["p"], &["f"], vec![]));
    g.node.push(constant("wconst", "fc.w", &[4, 5], &values(20, 3)));
    g.node.push(node("MatMul", "fc", &["f", "fc.w"], &["m"], vec![]));
    g.node.push(constant("bconst", "fc.b", &[5], &values(5, 4)));
    g.node.push(node("Add", "bias", &["m", "fc.b"], &["a"], vec![]));
    g.node.push(node("Unsqueeze", "unsq", &["a"], &["u"], vec![ints("axes", &[2])]));
    g.node.push(node("Squeeze", "sq", &["u"], &["s"], vec![ints("axes", &[2])]));
    g.node.push(node("Softmax", "softmax", &["s"], &["y"], vec![proto::make_attr_int("axis", 1)]));
    model(g, 11)
}

/// Opset 13: an `If` on a bool input; then: x*2 → Relu, else: Sigmoid; then Tanh. Shape
/// arithmetic (Shape → Cast) feeds nothing float.
pub fn branchy_opset13() -> OnnxModel {
    let mut then_g = GraphProto { name: "then".into(), ..Default::default() };
    then_g.initializer.push(proto::f32_tensor("two", &[], &[2.0]));
    then_g.node.push(node("Mul", "", &["x", "two"], &["t1"], vec![]));
    then_g.node.push(node("Relu", "", &["t1"], &["t2"], vec![]));
    then_g.output.push(proto::value_info("t2", elem::FLOAT));
    let mut else_g = GraphProto { name: "else".into(), ..Default::default() };
    else_g.node.push(node("Sigmoid", "", &["x"], &["e1"], vec![]));
    else_g.output.push(proto::value_info("e1", elem::FLOAT));

    let mut g = GraphProto { name: "branchy".into(), ..Default::default() };
    g.input.push(input("x", elem::FLOAT, &[2, 3]));
    g.input.push(input("cond", elem::BOOL, &[]));
    g.output.push(input("y", elem::FLOAT, &[2, 3]));
    g.output.push(input("n", elem::INT64, &[2]));
    g.node.push(node("Shape", "", &["x"], &["shape"], vec![]));
    g.node.push(node("Identity", "", &["shape"], &["n"], vec![]));
    g.node.push(node(
        "If",
        "branch",
        &["cond"],
        &["b"],
        vec![graph_attr("then_branch", then_g), graph_attr("else_branch", else_g)],
    ));
    g.node.push(node("Tanh", "", &["b"], &["y"], vec![]));
    model(g, 13)
}

/// Writes `model` to `dir/name`.
pub fn save(model: &OnnxModel, dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    model.save(&path).expect("write model");
    path
}

/// Opset 13: a `Loop` of 3 iterations carrying `v` (from `x`): `v = Relu(v * 1.5 - 1)`.
pub fn loop_opset13() -> OnnxModel {
    let mut body = GraphProto { name: "body".into(), ..Default::default() };
    body.input.push(input("i", elem::INT64, &[]));
    body.input.push(input("cond_in", elem::BOOL, &[]));
    body.input.push(proto::value_info("v_in", elem::FLOAT));
    body.initializer.push(proto::f32_tensor("k", &[], &[1.5]));
    body.initializer.push(proto::f32_tensor("one", &[], &[1.0]));
    body.node.push(node("Identity", "", &["cond_in"], &["cond_out"], vec![]));
    body.node.push(node("Mul", "scale", &["v_in", "k"], &["m"], vec![]));
    body.node.push(node("Sub", "shift", &["m", "one"], &["s"], vec![]));
    body.node.push(node("Relu", "act", &["s"], &["v_out"], vec![]));
    body.output.push(proto::value_info("cond_out", elem::BOOL));
    body.output.push(proto::value_info("v_out", elem::FLOAT));

    let mut g = GraphProto { name: "looped".into(), ..Default::default() };
    g.input.push(input("x", elem::FLOAT, &[2, 3]));
    g.output.push(input("y", elem::FLOAT, &[2, 3]));
    g.initializer.push(proto::i64_tensor("trips", &[], &[3]));
    g.initializer.push(onnx_protobuf::TensorProto {
        name: "go".into(),
        data_type: elem::BOOL,
        raw_data: vec![1],
        ..Default::default()
    });
    g.node.push(node(
        "Loop",
        "loop",
        &["trips", "go", "x"],
        &["y"],
        vec![graph_attr("body", body)],
    ));
    model(g, 13)
}
