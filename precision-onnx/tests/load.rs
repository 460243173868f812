//! Loading ONNX models: corrupt and truncated files, external data, opsets, input shapes; and
//! (proptest) that no byte string makes loading, layer listing or rewriting panic.

mod common;

use std::path::Path;

use common::*;
use onnx_protobuf::StringStringEntryProto;
use onnx_protobuf::tensor_proto::DataLocation;
use precision_core::{Precision, PrecisionPlan};
use precision_onnx::rewrite::layer_precisions;
use precision_onnx::{
    ActivationScales, InputShapes, LayerTable, OnnxError, OnnxModel, RewriteOptions, rewrite,
};
use proptest::prelude::*;
use protobuf::{EnumOrUnknown, Message};

fn bytes_of(model: &OnnxModel) -> Vec<u8> {
    model.to_bytes().unwrap()
}

fn load(bytes: &[u8]) -> Result<OnnxModel, OnnxError> {
    OnnxModel::from_bytes(bytes, Path::new("model.onnx"), Path::new("."))
}

/// Everything a search does with a model, short of running it; must never panic.
fn exercise(model: &OnnxModel) {
    let table = LayerTable::build(model);
    let _ = model.input_infos();
    let net = table.network(
        "m",
        model.input_infos_lenient(),
        model.output_names(),
        &[Precision::Float16],
    );
    if let Ok(plan) = PrecisionPlan::new(&net, vec![Precision::Float16], Precision::Float32)
        && let Ok(p) = layer_precisions(&table, &net, &plan)
    {
        let _ = rewrite(model, &table, &p, &ActivationScales::new(), RewriteOptions::default());
    }
    // INT8 (per-channel weights, and the opset upgrade for older models).
    let net =
        table.network("m", model.input_infos_lenient(), model.output_names(), &[Precision::Int8]);
    let scales: ActivationScales = precision_onnx::rewrite::int8_activation_tensors(model, &table)
        .into_iter()
        .map(|t| (t, 0.1))
        .collect();
    if let Ok(plan) = PrecisionPlan::new(&net, vec![Precision::Int8], Precision::Float32)
        && let Ok(p) = layer_precisions(&table, &net, &plan)
    {
        let _ = rewrite(model, &table, &p, &scales, RewriteOptions::default());
    }
}

#[test]
fn garbage_and_truncated_files_are_decode_errors() {
    let err = load(b"this is not a model").unwrap_err();
    assert!(matches!(err, OnnxError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("model.onnx is not a valid ONNX model"), "{err}");
    let bytes = bytes_of(&convnet_opset11());
    let mut decode_errors = 0;
    for len in 0..bytes.len() {
        match load(&bytes[..len]) {
            Err(OnnxError::Decode { .. }) => decode_errors += 1,
            Err(_) => {}
            Ok(m) => exercise(&m),
        }
    }
    assert!(decode_errors > bytes.len() / 2, "most truncations are reported as corrupt");
}

#[test]
fn a_model_without_graph_is_refused() {
    let mut m = convnet_opset11();
    m.proto.graph = protobuf::MessageField::none();
    let bytes = m.proto.write_to_bytes().unwrap();
    let err = load(&bytes).unwrap_err();
    assert!(err.to_string().contains("holds no graph"), "{err}");
}

#[test]
fn opsets_below_11_are_refused_with_a_way_out() {
    let mut m = convnet_opset11();
    m.set_opset(9);
    let err = load(&bytes_of(&m)).unwrap_err();
    assert!(err.to_string().contains("opset 9"), "{err}");
    assert!(err.to_string().contains("version_converter"), "{err}");
}

#[test]
fn external_data_is_read_from_beside_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = convnet_opset11();
    let w = m.graph().initializer[0].clone();
    std::fs::write(dir.path().join("weights.bin"), [vec![0u8; 16], w.raw_data.clone()].concat())
        .unwrap();
    let t = &mut m.graph_mut().initializer[0];
    t.raw_data.clear();
    t.data_location = EnumOrUnknown::new(DataLocation::EXTERNAL);
    let entry = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
        ..Default::default()
    };
    t.external_data = vec![
        entry("location", "weights.bin".into()),
        entry("offset", "16".into()),
        entry("length", w.raw_data.len().to_string()),
    ];
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, m.proto.write_to_bytes().unwrap()).unwrap();
    let loaded = OnnxModel::load(&path).unwrap();
    assert_eq!(loaded.graph().initializer[0].raw_data, w.raw_data);

    std::fs::remove_file(dir.path().join("weights.bin")).unwrap();
    let err = OnnxModel::load(&path).unwrap_err().to_string();
    assert!(err.contains("weights.bin") && err.contains("conv.w"), "{err}");

    m.graph_mut().initializer[0].external_data[0].value = "../escape.bin".into();
    std::fs::write(&path, m.proto.write_to_bytes().unwrap()).unwrap();
    let err = OnnxModel::load(&path).unwrap_err().to_string();
    assert!(err.contains("relative path inside the model's folder"), "{err}");
}

#[test]
fn dynamic_inputs_need_input_shapes() {
    let mut m = convnet_opset11();
    // Make the batch and spatial dimensions symbolic.
    let input = &mut m.graph_mut().input[0];
    if let Some(onnx_protobuf::type_proto::Value::TensorType(t)) =
        input.type_.as_mut().unwrap().value.as_mut()
    {
        let dims = &mut t.shape.as_mut().unwrap().dim;
        dims[0].value =
            Some(onnx_protobuf::tensor_shape_proto::dimension::Value::DimParam("N".into()));
        dims[2].value = None;
    }
    let err = m.input_infos().unwrap_err().to_string();
    assert!(err.contains("input 'x' has dynamic dimensions [N,3,?,8]"), "{err}");
    assert!(err.contains("--input-shapes x:[1,3,1,8]"), "{err}");

    let mut fixed = m.clone();
    fixed.set_input_shapes(&"x:[2,3,8,8]".parse::<InputShapes>().unwrap()).unwrap();
    assert_eq!(fixed.input_infos().unwrap()[0].static_shape(), Some(vec![2, 3, 8, 8]));

    let err = m.clone().set_input_shapes(&"y:[1]".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("no input 'y'") && err.contains('x'), "{err}");
    let err = m.clone().set_input_shapes(&"x:[1,3,8]".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("4 dimensions"), "{err}");
    let err = m.clone().set_input_shapes(&"x:[1,4,8,8]".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("size 3 in dimension 1"), "{err}");
}

#[test]
fn save_is_atomic_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let m = branchy_opset13();
    let path = save(&m, dir.path(), "b.onnx");
    let back = OnnxModel::load(&path).unwrap();
    assert_eq!(back.proto, m.proto);
    let err = m.save(&dir.path().join("missing/b.onnx")).unwrap_err();
    assert!(matches!(err, OnnxError::Write { .. }));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = load(&bytes) {
            exercise(&m);
        }
    }

    #[test]
    fn mutated_models_never_panic(flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = bytes_of(&convnet_opset11());
        for (i, b) in flips {
            let k = i.index(bytes.len());
            bytes[k] ^= b;
        }
        if let Ok(m) = load(&bytes) {
            exercise(&m);
        }
        let mut bytes = bytes_of(&branchy_opset13());
        let k = bytes.len() / 2;
        bytes[k] ^= 0x55;
        if let Ok(m) = load(&bytes) {
            exercise(&m);
        }
    }
}

#[test]
fn unsorted_graphs_are_sorted_and_cycles_refused() {
    let sorted = convnet_opset11();
    let order = |m: &OnnxModel| m.graph().node.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    let mut shuffled = sorted.clone();
    shuffled.graph_mut().node.reverse();
    let loaded = load(&bytes_of(&shuffled)).unwrap();
    let names = order(&loaded);
    // Every node after the producers of its inputs.
    let position = |name: &str| names.iter().position(|n| n == name).unwrap();
    for node in &loaded.graph().node {
        for input in &node.input {
            if let Some(p) = loaded.graph().node.iter().find(|n| n.output.contains(input)) {
                assert!(
                    position(&p.name) < position(&node.name),
                    "{} before {}",
                    p.name,
                    node.name
                );
            }
        }
    }
    // A sorted file keeps its order.
    assert_eq!(order(&load(&bytes_of(&sorted)).unwrap()), order(&sorted));
    // The If node of the branchy model reads x inside its branches: it stays after x's producer
    // even when listed first.
    let mut branchy = branchy_opset13();
    branchy.graph_mut().node.reverse();
    let loaded = load(&bytes_of(&branchy)).unwrap();
    let ops: Vec<&str> = loaded.graph().node.iter().map(|n| n.op_type.as_str()).collect();
    assert!(ops.iter().position(|o| *o == "If") < ops.iter().position(|o| *o == "Tanh"), "{ops:?}");

    let mut cyclic = sorted.clone();
    cyclic.graph_mut().node[0].input[0] = "y".into();
    let err = load(&bytes_of(&cyclic)).unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
}
