//! The CLI harness shared by integration tests: run the `precision` binary quietly and read
//! what it said and how it ended (`fixtures::cli`, with this crate's binary).

// Each test binary uses its own part of the harness.
#![allow(dead_code, unused_imports)]

use std::process::Output;

pub use fixtures::cli::{code, s, text};
pub use fixtures::env::required as env;

/// Runs `precision ARGS -q` and waits for it.
pub fn precision(args: &[&str]) -> Output {
    fixtures::cli::run_quiet(env!("CARGO_BIN_EXE_precision"), args)
}

/// [`precision`] for a test that needs ONNX Runtime (`$ORT_DYLIB_PATH`): fails saying how
/// to get it when it is missing.
pub fn precision_with_onnx_runtime(args: &[&str]) -> Output {
    let _ = fixtures::env::onnx_runtime();
    precision(args)
}

/// A generated chain with four sensitive layers, and its float32 goldens.
pub fn chain_with_goldens(
    w: &fixtures::folder::TempFolder,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<usize>) {
    let params = fixtures::Generated {
        topology: fixtures::Topology::Chain,
        layers: 60,
        sensitivity: fixtures::Sensitivity::Scattered(4),
        seed: 5,
    };
    let model = w.write("chain.toml", &fixtures::generate(&params));
    let golden = w.path("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    (model, golden, fixtures::sensitive_layers(60, params.sensitivity))
}

// In the generated chain every layer has gain 1 and constant noise: the output error is the sum
// of the errors of the layers that run in INT8. Quiet layers add 1e-4, sensitive ones 5e-2.
// With atol 0.03 and rtol 0, every sensitive layer must be marked and all 60 quiet errors fit.
pub const ATOL: &str = "0.03";

/// Asserts a clean usage error: exit 2, no panic, and every needle in the message.
pub fn assert_bad(out: &std::process::Output, needles: &[&str]) {
    let t = text(out);
    assert_eq!(code(out), 2, "expected exit 2, got {:?}: {t}", out.status.code());
    assert!(!t.contains("panicked"), "{t}");
    for n in needles {
        assert!(t.contains(n), "message lacks '{n}': {t}");
    }
}

/// Eight layers in a chain; only `l5` adds a large error in INT8.
pub const CHAIN: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [1, 8]
[[layers]]
name = "l0"
error = { int8 = 0.001 }
[[layers]]
name = "l1"
error = { int8 = 0.001 }
[[layers]]
name = "l2"
error = { int8 = 0.001 }
[[layers]]
name = "l3"
error = { int8 = 0.001 }
[[layers]]
name = "l4"
error = { int8 = 0.001 }
[[layers]]
name = "l5"
error = { int8 = 0.5 }
[[layers]]
name = "l6"
error = { int8 = 0.001 }
[[layers]]
name = "l7"
error = { int8 = 0.001 }
"#;
