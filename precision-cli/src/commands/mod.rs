//! One module per subcommand.

mod check;
mod compare;
mod export;
mod layers;
mod run;
mod search;
mod verify;

use anyhow::Context;
use precision_core::oracle::BackendOracle;
use precision_core::{Algorithm, Backend, NamedTensors, Network, Precision, PrecisionPlan};

use crate::Verdict;
use crate::args::{CheckSetup, Cli, Command, PrecisionArgs};
use crate::console::errln;
use crate::{golden, inputs};

/// Runs the subcommand.
pub fn dispatch(cli: &Cli) -> anyhow::Result<Verdict> {
    match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Bisect(args) => search::run(args, Algorithm::Bisect, cli.quiet),
        Command::Linear(args) => search::run(args, Algorithm::Linear, cli.quiet),
        Command::WorstFirst(args) => search::run(args, Algorithm::WorstFirst, cli.quiet),
        Command::Ranked(args) => search::run(args, Algorithm::Ranked, cli.quiet),
        Command::Check(args) => check::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Layers(args) => layers::run(args),
        Command::Export(args) => export::run(args),
        Command::Verify(args) => verify::run(args),
    }
}

/// The base plan (nothing marked) for the precision flags.
fn base_plan(network: &Network, precision: &PrecisionArgs) -> anyhow::Result<PrecisionPlan> {
    Ok(PrecisionPlan::new(network, precision.lower(), precision.precision)?)
}

/// The oracle for `setup` over `backend`: the base plan, inputs and goldens, checked.
fn oracle_for<B: Backend>(
    mut backend: B,
    setup: &CheckSetup,
) -> anyhow::Result<(Network, PrecisionPlan, BackendOracle<B>)> {
    let network = backend.network().clone();
    let plan = base_plan(&network, &setup.precision)?;
    let config = setup.compare.config()?;
    let feeds = inputs::obtain(&network, &setup.data)?;
    calibrate_if_int8(&mut backend, &plan.lower, &feeds)?;
    let goldens = golden::load(&setup.golden)?;
    golden::refuse_nan(&goldens, &network.outputs, &setup.golden)?;
    let oracle =
        BackendOracle::new(backend, plan.clone(), feeds, goldens, config).with_context(|| {
            format!("golden outputs in {} do not fit the model", setup.golden.display())
        })?;
    Ok((network, plan, oracle))
}

/// Calibrates `backend` on `feeds` when `lower` includes INT8 (once per command).
fn calibrate_if_int8<B: Backend>(
    backend: &mut B,
    lower: &[Precision],
    feeds: &[NamedTensors],
) -> anyhow::Result<()> {
    if lower.contains(&Precision::Int8) {
        if let Some(message) = backend.calibrate(feeds).context("INT8 calibration failed")? {
            errln!("{message}");
        }
    }
    Ok(())
}

/// Writes the model `backend` makes for `plan` to `path` (atomically).
fn save_model<B: Backend>(
    backend: &B,
    plan: &PrecisionPlan,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let bytes = backend.export_model(plan).context("cannot write the model")?;
    crate::write::atomically(path, &bytes)?;
    errln!("mixed-precision model written to {}", path.display());
    Ok(())
}
