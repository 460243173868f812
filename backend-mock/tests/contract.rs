//! The backend contract (`precision_core::testing::contract`) on a mock network: four layers
//! with INT8 errors that add up, two of them too large for the tolerance, and one layer the
//! spec cannot build in float16.

use backend_mock::MockBackend;
use precision_core::testing::contract::{ContractSubject, KnownAnswer, Unbuildable};
use precision_core::{Backend, NamedTensors, OutputSelection, Precision};

/// `a` and `c` add 0.01 in INT8, `b` 0.5 and `d` 0.3; `c` has no float16 implementation.
const NETWORK: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [1, 4]
[[layers]]
name = "a"
error = { int8 = 0.01, fp16 = 0.001 }
[[layers]]
name = "b"
error = { int8 = 0.5, fp16 = 0.001 }
[[layers]]
name = "c"
error = { int8 = 0.01 }
unsupported = ["fp16"]
[[layers]]
name = "d"
error = { int8 = 0.3, fp16 = 0.001 }
"#;

struct Mock;

impl ContractSubject for Mock {
    type Backend = MockBackend;

    fn open(&self) -> MockBackend {
        MockBackend::from_toml_str(NETWORK, "contract").expect("the contract network parses")
    }

    fn lower(&self) -> Vec<Precision> {
        vec![Precision::Int8]
    }

    fn calibrates(&self) -> bool {
        false
    }

    fn inputs(&self) -> Vec<NamedTensors> {
        vec![self.open().default_inputs()]
    }

    /// The mock's golden values (`values.rs`): what every float32 run must return.
    fn goldens(&self) -> Vec<NamedTensors> {
        vec![self.open().golden_outputs(OutputSelection::NetworkOutputs)]
    }

    fn unbuildable(&self) -> Unbuildable<MockBackend> {
        Unbuildable {
            backend: self.open(),
            lower: vec![Precision::Float16],
            refused: vec!["c".into()],
            fix: vec!["c".into()],
        }
    }

    /// 0.5 and 0.3 are each over 0.1; the other two layers together add 0.02.
    fn known_answer(&self) -> KnownAnswer {
        KnownAnswer { atol: 0.1, answer: vec!["b".into(), "d".into()] }
    }

    /// The mock writes a JSON description of the plan, not a runnable model.
    fn exports(&self) -> bool {
        true
    }
}

#[test]
fn the_contract_network_is_what_the_items_assume() {
    let backend = Mock.open();
    let names: Vec<&str> = backend.network().layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert!(backend.network().layers.iter().all(precision_core::Layer::is_markable));
}

precision_core::backend_contract!(Mock);
