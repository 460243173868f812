//! The chain network the tests of the backend through the fake share (`fake.rs`,
//! `contract.rs`): its model, the fake's INT8 errors for it, and its inputs.
// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use backend_tensorrt::fake::FakeConfig;
use fixtures::onnx::{node, save, shaped};
use ndarray::ArrayD;
use onnx_protobuf::GraphProto;
use precision_core::{NamedTensors, Tensor};
use precision_onnx::proto;

/// The width of the chain's tensors.
pub const WIDTH: usize = 8;
/// The number of `MatMul` + `Relu` blocks.
pub const BLOCKS: usize = 6;

/// `x[1,8]` → (`MatMul` `mm{i}` (identity weights) → `Relu` `relu{i}`) × 6 → `y`.
pub fn chain_model(dir: &Path) -> PathBuf {
    let mut g = GraphProto { name: "chain".into(), ..Default::default() };
    g.input.push(shaped("x", &[1, WIDTH as i64]));
    let mut prev = "x".to_owned();
    for i in 0..BLOCKS {
        let w: Vec<f32> =
            (0..WIDTH * WIDTH).map(|k| if k % (WIDTH + 1) == 0 { 1.0 } else { 0.0 }).collect();
        g.initializer.push(proto::f32_tensor(&format!("w{i}"), &[WIDTH as i64, WIDTH as i64], &w));
        let m = format!("m{i}");
        let out = if i + 1 == BLOCKS { "y".to_owned() } else { format!("r{i}") };
        g.node.push(node("MatMul", &format!("mm{i}"), &[&prev, &format!("w{i}")], &m));
        g.node.push(node("Relu", &format!("relu{i}"), &[&m], &out));
        prev = out;
    }
    g.output.push(shaped("y", &[1, WIDTH as i64]));
    save(g, dir, "chain.onnx")
}

/// mm1 and mm4 lose 0.5 and 0.3 in INT8; every other layer 0.001.
pub fn sensitive_config() -> FakeConfig {
    let mut int8_error = HashMap::new();
    for i in 0..BLOCKS {
        int8_error.insert(format!("mm{i}"), 0.001);
        int8_error.insert(format!("relu{i}"), 0.001);
    }
    int8_error.insert("mm1".into(), 0.5);
    int8_error.insert("mm4".into(), 0.3);
    FakeConfig { int8_error, ..FakeConfig::default() }
}

/// `x = seed + 0.25 k`.
pub fn feed(seed: f32) -> NamedTensors {
    let mut f = NamedTensors::new();
    let values: Vec<f32> = (0..WIDTH).map(|k| seed + k as f32 * 0.25).collect();
    f.insert("x".into(), Tensor::F32(ArrayD::from_shape_vec(vec![1, WIDTH], values).unwrap()));
    f
}
