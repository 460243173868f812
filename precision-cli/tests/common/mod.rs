//! The CLI harness shared by integration tests: run the `precision` binary quietly and read
//! what it said and how it ended.

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::path::Path;
use std::process::{Command, Output};

/// Runs `precision ARGS -q` and waits for it.
pub fn precision(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precision")).args(args).arg("-q").output().expect("runs")
}

/// Standard output followed by standard error.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The exit code (a test fails when the process was killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
