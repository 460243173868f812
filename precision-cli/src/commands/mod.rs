//! One module per subcommand.

mod check;
mod compare;
mod export;
mod holdout;
mod layers;
mod run;
mod search;
mod verify;

use anyhow::Context;
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, DataReport, NamedTensors, Network, Precision, PrecisionPlan, Samples,
};

use crate::Verdict;
use crate::args::{CheckSetup, Cli, Command, PrecisionArgs};
use crate::console::errln;
use crate::dataset;

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
    backend: B,
    setup: &CheckSetup,
) -> anyhow::Result<(Network, PrecisionPlan, BackendOracle<B>)> {
    let (network, plan, oracle, _) = oracle_with_data(backend, setup)?;
    Ok((network, plan, oracle))
}

/// [`oracle_for`], also saying what data it checks with and what calibration ran on. A
/// dataset on disk stays there: checks read its samples one at a time.
fn oracle_with_data<B: Backend>(
    mut backend: B,
    setup: &CheckSetup,
) -> anyhow::Result<(Network, PrecisionPlan, BackendOracle<B>, DataReport)> {
    let network = backend.network().clone();
    let plan = base_plan(&network, &setup.precision)?;
    let config = setup.compare.config()?;
    let inputs =
        dataset::open_inputs(&network, &setup.data.load_inputs, &setup.data, "--load-inputs")?;
    let calibration = calibrate_for(&mut backend, &plan.lower, &network, &setup.data, &inputs)?;
    let goldens = dataset::open_goldens(&network, &setup.golden, &inputs, "--golden")?;
    let data = DataReport {
        inputs: inputs.description.clone(),
        samples: inputs.sets.len(),
        calibration,
        ..DataReport::default()
    };
    let samples = Samples { inputs: inputs.sets, goldens };
    let oracle =
        BackendOracle::with_samples(backend, plan.clone(), samples, config).with_context(|| {
            format!("golden outputs in {} do not fit the model", setup.golden.display())
        })?;
    Ok((network, plan, oracle, data))
}

/// Calibrates `backend` when `lower` includes INT8, on `--calibration-inputs` or else the
/// check inputs; returns what it calibrated on (`None`: no INT8).
fn calibrate_for<B: Backend>(
    backend: &mut B,
    lower: &[Precision],
    network: &Network,
    data: &crate::args::DataArgs,
    check_inputs: &dataset::Loaded,
) -> anyhow::Result<Option<String>> {
    if !lower.contains(&Precision::Int8) {
        return Ok(None);
    }
    let (feeds, described) = dataset::calibration_feeds(network, data, check_inputs)?;
    errln!("INT8 calibration data: {}", crate::console::escape(&described));
    calibrate_if_int8(backend, lower, &feeds)?;
    Ok(Some(described))
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
