//! Loading a model whose 200 weights (2 MB each, 400 MB in all) are external data in one
//! file, against loading the same model with the weights embedded, in the same run (target:
//! external within 2x of embedded). Throughput is reported against the weights' size.
#![expect(missing_docs, reason = "criterion_group! generates an undocumented function")]

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};
use precision_onnx::OnnxModel;
use precision_onnx::proto::{self, elem};
use protobuf::{EnumOrUnknown, Message, MessageField};

const TENSORS: usize = 200;
/// Float32 elements per tensor: 2 MB.
const ELEMENTS: usize = 500_000;
const BYTES: usize = TENSORS * ELEMENTS * 4;

/// Writes `external.onnx` + `weights.bin` and `embedded.onnx` into `dir`: `y = x + w0 + ... +
/// w199`, one `Add` per weight.
fn write_models(dir: &Path) -> (PathBuf, PathBuf) {
    let mut graph = GraphProto { name: "weights".into(), ..Default::default() };
    graph.input.push(proto::value_info("x", elem::FLOAT));
    graph.output.push(proto::value_info("y", elem::FLOAT));
    let mut external = graph.clone();
    let mut blob = std::io::BufWriter::new(std::fs::File::create(dir.join("weights.bin")).unwrap());
    let mut offset = 0;
    let mut last = "x".to_owned();
    for i in 0..TENSORS {
        let values: Vec<f32> = (0..ELEMENTS).map(|j| ((i * 7 + j) % 1000) as f32 * 1e-3).collect();
        let name = format!("w{i}");
        let t = proto::f32_tensor(&name, &[ELEMENTS as i64], &values);
        blob.write_all(&t.raw_data).unwrap();
        let mut e = t.clone();
        e.raw_data = Vec::new();
        e.data_location = EnumOrUnknown::new(DataLocation::EXTERNAL);
        let entry = |k: &str, v: String| StringStringEntryProto {
            key: k.into(),
            value: v,
            ..Default::default()
        };
        e.external_data = vec![
            entry("location", "weights.bin".into()),
            entry("offset", offset.to_string()),
            entry("length", t.raw_data.len().to_string()),
        ];
        offset += t.raw_data.len();
        graph.initializer.push(t);
        external.initializer.push(e);
        let out = if i + 1 == TENSORS { "y".to_owned() } else { format!("s{i}") };
        let add =
            proto::make_node("Add", String::new(), vec![last, name], vec![out.clone()], vec![]);
        graph.node.push(add.clone());
        external.node.push(add);
        last = out;
    }
    blob.into_inner().unwrap().sync_all().unwrap();
    let model = |g: GraphProto| ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { version: 13, ..Default::default() }],
        graph: MessageField::some(g),
        ..Default::default()
    };
    let paths = (dir.join("external.onnx"), dir.join("embedded.onnx"));
    std::fs::write(&paths.0, model(external).write_to_bytes().unwrap()).unwrap();
    std::fs::write(&paths.1, model(graph).write_to_bytes().unwrap()).unwrap();
    paths
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (external, embedded) = write_models(dir.path());
    let mut group = c.benchmark_group("onnx_load_200_tensors_400MB");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(BYTES as u64));
    group.bench_function("external_one_file", |b| {
        b.iter(|| black_box(OnnxModel::load(&external).unwrap()));
    });
    group.bench_function("embedded", |b| {
        b.iter(|| black_box(OnnxModel::load(&embedded).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
