//! `cargo xtask bench`: run the criterion benchmarks and the baselines, print the figures.

use xshell::{Shell, cmd};

/// Flags for `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Extra arguments for criterion (after `--`), e.g. a benchmark name filter.
    #[arg(trailing_var_arg = true)]
    criterion: Vec<String>,
}

/// Runs every benchmark.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let extra = &args.criterion;
    crate::step("criterion benchmarks");
    cmd!(sh, "cargo bench --workspace -- {extra...}").run()?;
    Ok(())
}
