//! `cargo xtask ci`: exactly what CI runs, cheapest checks first.

use xshell::{Shell, cmd};

/// Flags for `cargo xtask ci`.
#[derive(clap::Args)]
pub struct Args {
    /// Skip fmt, clippy and the bindings check (only run the tests).
    #[arg(long)]
    tests_only: bool,
}

/// Builds the workspace with the toolchain its `rust-version` names, so the declared minimum
/// stays true; skipped (with how to enable it) when rustup has no such toolchain, since CI
/// does not install extra toolchains.
fn check_rust_version(sh: &Shell) -> anyhow::Result<()> {
    let manifest = sh.read_file(crate::project_root().join("Cargo.toml"))?;
    let version = manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("rust-version"))
        .and_then(|rest| rest.split('"').nth(1))
        .ok_or_else(|| anyhow::anyhow!("the workspace Cargo.toml declares no rust-version"))?
        .to_owned();
    crate::step(&format!("cargo +{version} check (the declared rust-version)"));
    let toolchains = cmd!(sh, "rustup toolchain list").quiet().read().unwrap_or_default();
    if !toolchains.lines().any(|t| t.starts_with(&format!("{version}-"))) {
        println!(
            "skipped: no Rust {version} toolchain; `rustup toolchain install {version}` makes \
             this step check that the workspace still builds with its declared rust-version"
        );
        return Ok(());
    }
    let toolchain = format!("+{version}");
    cmd!(sh, "cargo {toolchain} check --workspace --all-targets --locked").run()?;
    Ok(())
}

/// Runs fmt --check, clippy with -D warnings on all targets, the rust-version check, the FFI
/// bindings check, every test, the fixtures check, and the README's demo (`cargo xtask demo`)
/// end to end.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    if !args.tests_only {
        crate::step("cargo fmt --check");
        cmd!(sh, "cargo fmt --all -- --check").run()?;
        crate::step("cargo clippy (all targets, -D warnings)");
        cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?;
        check_rust_version(sh)?;
    }
    let python = crate::python::ensure_venv(sh)?;
    if !args.tests_only {
        crate::step("FFI bindings are up to date (bindgen)");
        let cuda_include = crate::codegen::venv_cuda_include().ok_or_else(|| {
            anyhow::anyhow!(
                "the Python venv has no CUDA runtime headers (nvidia/cu13/include); delete it \
                 so that xtask makes it again from xtask/python-requirements.txt"
            )
        })?;
        crate::codegen::check(Some(&cuda_include))?;
    }
    let models = crate::models::ensure(sh)?;
    let onnxruntime = crate::python::onnxruntime_library(sh, &python)?;
    let _python = sh.push_env("PRECISION_PYTHON", &python);
    let _models = sh.push_env("PRECISION_MODELS", &models);
    let _onnxruntime = sh.push_env("ORT_DYLIB_PATH", &onnxruntime);
    crate::step("tests");
    if cmd!(sh, "cargo nextest --version").quiet().ignore_stdout().run().is_ok() {
        // nextest does not run doctests; run them first so that nextest's summary is the
        // last test-runner line of the log.
        cmd!(sh, "cargo test --workspace --locked --doc").run()?;
        cmd!(sh, "cargo nextest run --workspace --locked --no-fail-fast").run()?;
    } else {
        cmd!(sh, "cargo test --workspace --locked --no-fail-fast").run()?;
    }
    crate::step("fixtures are up to date");
    crate::fixtures_task::run(sh, &crate::fixtures_task::Args { check: true, force: false })?;
    crate::step("the README's demo runs end to end (cargo xtask demo)");
    crate::demo::run_real(sh, "ranked")?;
    eprintln!("\nci: all checks passed");
    Ok(())
}
