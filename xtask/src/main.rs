//! Project automation, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! Each task is one module. Tasks shell out to cargo and Python with `xshell`, print what they
//! run, and fail with a message that says what to do.

mod bench;
mod bench_anchor;
mod bench_dataset;
mod bench_latency;
mod bench_levels;
mod bench_memory;
mod bench_prescreen;
mod check_shim;
mod ci;
mod codegen;
mod demo;
mod fixtures_task;
mod gpu_check;
mod gpu_smoke;
mod models;
mod python;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// Project automation for the `precision` workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run everything CI runs: fmt --check, clippy -D warnings, the declared rust-version
    /// (when that toolchain is installed), the bindings check, the whole test suite (the tidy
    /// checks among them).
    Ci(ci::Args),
    /// Run the main job end to end: an INT8 ranked search and bisect on a real model, real
    /// images and a top-1 check command (`--mock`: the embedded simulated network).
    Demo(demo::Args),
    /// Run the benchmarks and print the figures with their baselines.
    Bench(bench::Args),
    /// Regenerate (or with --check, verify) the generated fixture files: the mock networks
    /// and the Polygraphy samples (written by the venv's Polygraphy).
    Fixtures(fixtures_task::Args),
    /// Regenerate (or with --check, verify) the checked-in FFI bindings.
    Codegen(codegen::Args),
    /// Validate a TensorRT installation: build with --features tensorrt, run and bisect a
    /// model with TensorRT in both typings.
    GpuSmoke(gpu_smoke::Args),
    /// Stage the GPU suite for a bare GPU machine (stripped binary, models, inputs, CPU
    /// goldens, onnxruntime-gpu in parts) and, with --run, run it: JSON and a Markdown table.
    GpuCheck(gpu_check::Args),
    /// Download the trained ONNX models the tests use into the cache (checked by SHA-256).
    FetchModels,
    /// Compile the TensorRT shim against a set of TensorRT headers (no TensorRT or GPU needed).
    CheckTensorrtShim(check_shim::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sh = xshell::Shell::new()?;
    sh.change_dir(project_root());
    match cli.task {
        Task::Ci(args) => ci::run(&sh, &args),
        Task::Demo(args) => demo::run(&sh, &args),
        Task::Bench(args) => bench::run(&sh, &args),
        Task::Fixtures(args) => fixtures_task::run(&sh, &args),
        Task::Codegen(args) => codegen::run(&args),
        Task::GpuSmoke(args) => gpu_smoke::run(&sh, &args),
        Task::GpuCheck(args) => gpu_check::run(&sh, &args),
        Task::FetchModels => models::run(&sh),
        Task::CheckTensorrtShim(args) => check_shim::run(&sh, &args),
    }
}

/// The workspace root (the parent of this crate's folder).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

/// Prints a step header so long task output is easy to scan.
fn step(title: &str) {
    eprintln!("\n==> {title}");
}
