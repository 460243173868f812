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
