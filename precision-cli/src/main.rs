//! `precision`: find the layers of a network that must stay in higher precision (float32 or
//! float16) for its INT8/FP16 build to match golden outputs.
//!
//! Exit codes: 0 found or passed; 1 not found or failed; 2 bad usage or bad input.

mod args;
mod backends;
mod commands;
mod display;
mod golden;
mod html;
mod inputs;
mod journal;
mod memory;
mod progress;
mod write;

use std::process::ExitCode;

use clap::Parser;

/// What a command concluded, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Found, or passed: exit 0.
    Success,
    /// Not found, or failed: exit 1.
    Failure,
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::dispatch(&cli) {
        Ok(Verdict::Success) => ExitCode::SUCCESS,
        Ok(Verdict::Failure) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
