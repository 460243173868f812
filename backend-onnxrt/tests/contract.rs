//! The backend contract (`precision_core::testing::contract`) on a tiny ONNX chain written
//! here, run by ONNX Runtime (`$ORT_DYLIB_PATH`; `cargo xtask ci` sets it):
//! `x[1,8]` → `MatMul` mm0 → `Relu` → `MatMul` mm1 → `Relu` → `MatMul` mm2 → `Celu` → `y`.
//!
//! mm0's weight is the identity with its last column zero, the others are identities, and the
//! inputs are small positive values but for `x[7] = 1000`: the float32 output is `x` with its
//! last element 0, exactly. In INT8 (max calibration) `x`'s scale is 1000/127, so every small
//! value quantizes to 0 at mm0: mm0 must stay in float32, and the rest then pass an absolute
//! tolerance of 0.05. `Celu` has no float16 version in ONNX, so the float16 plan with it
//! lowered cannot be built.

use std::path::PathBuf;

use backend_onnxrt::{CalibrationSettings, OnnxrtBackend, OnnxrtConfig};
use fixtures::onnx::{node, save, shaped};
use ndarray::ArrayD;
use onnx_protobuf::GraphProto;
use precision_core::calibration::CalibrationMethod;
use precision_core::testing::contract::{ContractSubject, KnownAnswer, Unbuildable};
use precision_core::{
    Backend, Engine, NamedTensors, OutputSelection, Precision, PrecisionPlan, Tensor,
};
use precision_onnx::proto;

const WIDTH: usize = 8;
/// The input element that sets `x`'s INT8 scale.
const OUTLIER: f32 = 1000.0;

/// The chain, saved in a folder that lives as long as the subject.
struct Chain {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Chain {
    fn new() -> Self {
        let _ = fixtures::env::onnx_runtime();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut g = GraphProto { name: "contract".into(), ..Default::default() };
        g.input.push(shaped("x", &[1, WIDTH as i64]));
        g.output.push(shaped("y", &[1, WIDTH as i64]));
        let mut previous = "x".to_owned();
        for i in 0..3 {
            let weight: Vec<f32> = (0..WIDTH * WIDTH)
                .map(|k| {
                    let (row, col) = (k / WIDTH, k % WIDTH);
                    let dropped = i == 0 && col == WIDTH - 1;
                    if row == col && !dropped { 1.0 } else { 0.0 }
                })
                .collect();
            let w = format!("w{i}");
            g.initializer.push(proto::f32_tensor(&w, &[WIDTH as i64, WIDTH as i64], &weight));
            let (m, r) = (format!("m{i}"), format!("r{i}"));
            g.node.push(node("MatMul", &format!("mm{i}"), &[&previous, &w], &m));
            if i < 2 {
                g.node.push(node("Relu", &format!("relu{i}"), &[&m], &r));
                previous = r;
            } else {
                g.node.push(node("Celu", "celu", &[&m], "y"));
            }
        }
        let path = save(g, dir.path(), "contract.onnx");
        Chain { dir, path }
    }

    fn open_lowering(&self, lower: &[Precision]) -> OnnxrtBackend {
        let config = OnnxrtConfig {
            lower: lower.to_vec(),
            calibration: CalibrationSettings { method: CalibrationMethod::Max, cache: None },
            ..OnnxrtConfig::default()
        };
        OnnxrtBackend::open(&self.path, config).expect("ONNX Runtime opens the chain")
    }
}

/// Sample `s`: `0.1 + 0.1 k + 0.05 s` for `k < 7`, and the outlier.
fn sample(s: usize) -> Vec<f32> {
    (0..WIDTH)
        .map(|k| if k == WIDTH - 1 { OUTLIER } else { 0.1 + 0.1 * k as f32 + 0.05 * s as f32 })
        .collect()
}

fn tensors(name: &str, values: Vec<f32>) -> NamedTensors {
    let mut f = NamedTensors::new();
    f.insert(name.into(), Tensor::F32(ArrayD::from_shape_vec(vec![1, WIDTH], values).unwrap()));
    f
}

impl ContractSubject for Chain {
    type Backend = OnnxrtBackend;

    fn open(&self) -> OnnxrtBackend {
        self.open_lowering(&self.lower())
    }

    fn lower(&self) -> Vec<Precision> {
        vec![Precision::Int8]
    }

    fn calibrates(&self) -> bool {
        true
    }

    fn inputs(&self) -> Vec<NamedTensors> {
        (0..2).map(|s| tensors("x", sample(s))).collect()
    }

    /// `x` through identities and positive `Relu`/`Celu`, its last element dropped by mm0.
    fn goldens(&self) -> Vec<NamedTensors> {
        (0..2)
            .map(|s| {
                let mut y = sample(s);
                y[WIDTH - 1] = 0.0;
                tensors("y", y)
            })
            .collect()
    }

    fn unbuildable(&self) -> Unbuildable<OnnxrtBackend> {
        Unbuildable {
            backend: self.open_lowering(&[Precision::Float16]),
            lower: vec![Precision::Float16],
            // ONNX Runtime's type error names no layer the way a missing kernel does.
            refused: Vec::new(),
            fix: vec!["celu".into()],
        }
    }

    fn known_answer(&self) -> KnownAnswer {
        KnownAnswer { atol: 0.05, answer: vec!["mm0".into()] }
    }

    fn exports(&self) -> bool {
        true
    }

    /// The exported model opened as a model of its own and run as it is (float32 plan).
    fn run_exported(&self, model: &[u8], inputs: &[NamedTensors]) -> Option<Vec<NamedTensors>> {
        let path = self.dir.path().join("exported.onnx");
        std::fs::write(&path, model).expect("the exported model is written");
        let mut backend = OnnxrtBackend::open(&path, OnnxrtConfig::default())
            .expect("ONNX Runtime opens the exported model");
        let plan = PrecisionPlan::float32(backend.network());
        let mut engine = backend.build(&plan, OutputSelection::NetworkOutputs).expect("a build");
        Some(inputs.iter().map(|feed| engine.infer(feed).expect("a run")).collect())
    }
}

#[test]
fn the_chain_is_what_the_items_assume() {
    let backend = Chain::new().open();
    let names: Vec<&str> = backend.network().layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["mm0", "relu0", "mm1", "relu1", "mm2", "celu"]);
    let celu = backend.network().layer_by_name("celu").unwrap();
    assert!(!celu.is_markable(), "INT8 does not apply to Celu: unmarkable under INT8 alone");
    let fp16 = Chain::new().open_lowering(&[Precision::Float16]);
    assert!(fp16.network().layer_by_name("celu").unwrap().is_markable());
}

precision_core::backend_contract!(Chain::new());
