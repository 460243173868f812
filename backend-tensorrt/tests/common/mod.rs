//! Helpers shared by the tests that run the backend through the fake.

use std::path::{Path, PathBuf};

use onnx_protobuf::{GraphProto, ModelProto, OperatorSetIdProto};
use precision_onnx::OnnxModel;

/// Saves `graph` as an opset-13 model `name` in `dir`.
pub fn save_model(graph: GraphProto, dir: &Path, name: &str) -> PathBuf {
    let mut m = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
            ..Default::default()
        }],
        ..Default::default()
    };
    *m.graph.mut_or_insert_default() = graph;
    let path = dir.join(name);
    OnnxModel { proto: m }.save(&path).unwrap();
    path
}
