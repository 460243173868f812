//! The backend contract (`precision_core::testing::contract`) through the fake TensorRT
//! (`backend_tensorrt::fake`), weakly typed (TensorRT 10, precision hints) and strongly typed
//! (TensorRT 11, the rewritten ONNX model), on the shared chain: identity weights and positive
//! inputs, so the float32 output is the input; mm1 and mm4 lose 0.5 and 0.3 in INT8, every
//! other layer 0.001.

mod common;

use std::path::PathBuf;

use backend_tensorrt::fake::{Fake, FakeConfig};
use backend_tensorrt::{TensorRtBackend, TensorRtConfig};
use common::{chain_model, feed, sensitive_config};
use precision_core::testing::contract::{ContractSubject, KnownAnswer, Unbuildable};
use precision_core::{
    Backend, Engine, NamedTensors, OutputSelection, Precision, PrecisionPlan, Tensor,
};

/// The TensorRT version `100_000 + ...` the fake claims decides the typing.
const WEAK: i32 = 101_600;
const STRONG: i32 = 110_100;

/// The chain, saved in a folder that lives as long as the subject, and the version the fake
/// claims.
struct Chain {
    dir: tempfile::TempDir,
    path: PathBuf,
    version: i32,
    /// The fakes the subject's backends run on, kept alive as long as the subject.
    fakes: std::sync::Mutex<Vec<Fake>>,
}

impl Chain {
    fn new(version: i32) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = chain_model(dir.path());
        Chain { dir, path, version, fakes: std::sync::Mutex::default() }
    }

    /// Makes a fake with `config` (at this subject's version) and opens `path` on it.
    fn open_on(
        &self,
        config: FakeConfig,
        path: &std::path::Path,
        lower: &[Precision],
    ) -> TensorRtBackend {
        let fake = Fake::new(FakeConfig { version: self.version, ..config });
        let config = TensorRtConfig { lower: lower.to_vec(), ..TensorRtConfig::default() };
        let backend =
            TensorRtBackend::open_with(fake.api(), path, config).expect("the fake opens the model");
        self.fakes.lock().expect("not poisoned").push(fake);
        backend
    }
}

impl ContractSubject for Chain {
    type Backend = TensorRtBackend;

    fn open(&self) -> TensorRtBackend {
        self.open_on(sensitive_config(), &self.path, &self.lower())
    }

    fn lower(&self) -> Vec<Precision> {
        vec![Precision::Int8]
    }

    fn calibrates(&self) -> bool {
        true
    }

    fn inputs(&self) -> Vec<NamedTensors> {
        vec![feed(0.0), feed(1.0)]
    }

    /// Identities and `Relu` on positive values: `y` is `x`.
    fn goldens(&self) -> Vec<NamedTensors> {
        self.inputs()
            .into_iter()
            .map(|mut f| {
                let x: Tensor = f.shift_remove("x").expect("x");
                let mut y = NamedTensors::new();
                y.insert("y".into(), x);
                y
            })
            .collect()
    }

    /// mm2 has no INT8 implementation.
    fn unbuildable(&self) -> Unbuildable<TensorRtBackend> {
        let mut config = sensitive_config();
        config.no_kernel.insert("mm2".into(), Precision::Int8);
        Unbuildable {
            backend: self.open_on(config, &self.path, &self.lower()),
            lower: self.lower(),
            refused: vec!["mm2".into()],
            fix: vec!["mm2".into()],
        }
    }

    fn known_answer(&self) -> KnownAnswer {
        KnownAnswer { atol: 0.05, answer: vec!["mm1".into(), "mm4".into()] }
    }

    /// Strongly typed plans are models; weakly typed ones are precision hints.
    fn exports(&self) -> bool {
        self.version == STRONG
    }

    /// The exported model opened as a model of its own and built as it is (float32 plan).
    fn run_exported(&self, model: &[u8], inputs: &[NamedTensors]) -> Option<Vec<NamedTensors>> {
        let path = self.dir.path().join("exported.onnx");
        std::fs::write(&path, model).expect("the exported model is written");
        let mut backend = self.open_on(sensitive_config(), &path, &[]);
        let plan = PrecisionPlan::float32(backend.network());
        let mut engine = backend.build(&plan, OutputSelection::NetworkOutputs).expect("a build");
        Some(inputs.iter().map(|feed| engine.infer(feed).expect("a run")).collect())
    }
}

mod weak {
    use super::{Chain, WEAK};

    precision_core::backend_contract!(Chain::new(WEAK));
}

mod strong {
    use super::{Chain, STRONG};

    precision_core::backend_contract!(Chain::new(STRONG));
}

#[test]
fn the_versions_give_the_typings() {
    use backend_tensorrt::Typing;
    assert_eq!(Chain::new(WEAK).open().typing(), Typing::Weak);
    assert_eq!(Chain::new(STRONG).open().typing(), Typing::Strong);
}
