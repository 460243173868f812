//! One module per subcommand.

mod check;
mod compare;
mod export;
mod holdout;
mod layers;
mod run;
mod search;
mod verify;

use std::num::NonZeroUsize;

use anyhow::{Context, bail};
use precision_core::latency::{Latency, LatencySettings};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, DataReport, LayerSet, NamedTensors, Network, Precision, PrecisionPlan,
    Samples, TensorSets,
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
    refuse_engine_placeholder(&backend, setup)?;
    let plan = base_plan(&network, &setup.precision)?;
    let config = setup.compare.config()?;
    let inputs =
        dataset::open_inputs(&network, &setup.data.load_inputs, &setup.data, "--load-inputs")?;
    let calibration = calibrate_for(&mut backend, &plan.lower, &network, &setup.data, &inputs)?;
    let (goldens, golden_name) = match &setup.golden {
        Some(path) => (
            dataset::open_goldens(&network, path, &inputs, "--golden")?,
            path.display().to_string(),
        ),
        // --no-compare: the command decides; layer errors (worst-first, ranked) are measured
        // against the backend's own float32 run, which stands in for the goldens (held in
        // memory: network outputs only).
        None => (
            Box::new(float32_outputs(&mut backend, inputs.sets.as_ref())?) as Box<dyn TensorSets>,
            "the float32 run".to_owned(),
        ),
    };
    let data = DataReport {
        inputs: inputs.description.clone(),
        samples: inputs.sets.len(),
        calibration,
        ..DataReport::default()
    };
    let samples = Samples { inputs: inputs.sets, goldens };
    let oracle = BackendOracle::with_samples(backend, plan.clone(), samples, config)
        .with_context(|| format!("golden outputs in {golden_name} do not fit the model"))?;
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

/// The network outputs of the float32 plan on every input sample.
fn float32_outputs<B: Backend>(
    backend: &mut B,
    feeds: &dyn TensorSets,
) -> anyhow::Result<Vec<NamedTensors>> {
    let plan = PrecisionPlan::float32(backend.network());
    let context = "the float32 run that stands in for goldens with --no-compare failed";
    let mut engine =
        backend.build(&plan, precision_core::OutputSelection::NetworkOutputs).context(context)?;
    (0..feeds.len())
        .map(|i| {
            let feed = feeds.get(i).map_err(anyhow::Error::msg)?;
            precision_core::Engine::infer(&mut engine, &feed).context(context)
        })
        .collect()
}

/// The oracle every search and `check` ask: `oracle` with the check command of `setup`, if
/// any (`jobs` commands at once).
fn with_check_command<B: Backend>(
    mut oracle: BackendOracle<B>,
    setup: &CheckSetup,
    jobs: usize,
) -> anyhow::Result<crate::check_command::CommandOracle<B>> {
    use crate::check_command::{CheckCommand, CommandOracle};
    let Some(command) = CheckCommand::from_args(&setup.command)? else {
        return Ok(CommandOracle::plain(oracle));
    };
    if command.uses_engine() {
        oracle.keep_latest_engines();
    }
    let args = &setup.command;
    CommandOracle::new(
        oracle,
        command,
        !args.no_compare,
        jobs,
        args.artifacts_dir.as_deref(),
        args.keep_artifacts,
    )
}

/// How many checks `command` runs at once (`--jobs`; 1 for commands without it).
pub fn jobs(command: &crate::args::Command) -> usize {
    use crate::args::Command;
    match command {
        Command::Bisect(a) | Command::Linear(a) | Command::WorstFirst(a) | Command::Ranked(a) => {
            a.jobs as usize
        }
        _ => 1,
    }
}

/// Refuses a check command that names `{engine}` on a backend without engine files (before
/// calibration or any other work).
fn refuse_engine_placeholder<B: Backend>(backend: &B, setup: &CheckSetup) -> anyhow::Result<()> {
    use crate::check_command::{ENGINE_PLACEHOLDER, MODEL_PLACEHOLDER, names_engine};
    if names_engine(&setup.command.check) && !backend.engine_files() {
        bail!(
            "--check: {ENGINE_PLACEHOLDER} is a TensorRT engine file, and the {} backend builds \
             none: use --backend tensorrt, or {MODEL_PLACEHOLDER} (the mixed-precision ONNX \
             model) and build the engine in the command (`trtexec --onnx={MODEL_PLACEHOLDER} \
             --stronglyTyped --saveEngine=...`)",
            backend.name()
        );
    }
    Ok(())
}

/// Says which command judges the checks and where their artifacts go.
fn announce_check_command<B: Backend>(oracle: &crate::check_command::CommandOracle<B>) {
    if let (Some(command), Some(dir)) = (oracle.command_line(), oracle.artifacts_dir()) {
        errln!("check command: {command} (artifacts in {})", dir.display());
    }
}

/// Refuses check-command flags that contradict each other or the rest of `setup` (before any
/// work); `auto_tolerance`: whether `--auto-tolerance` was given.
fn check_command_flags(setup: &CheckSetup, auto_tolerance: bool) -> anyhow::Result<()> {
    let command = crate::check_command::CheckCommand::from_args(&setup.command)?;
    if command.is_some() && setup.command.no_compare {
        let c = &setup.compare;
        crate::check_command::refuse_with_no_compare(&[
            ("--golden", setup.golden.is_some()),
            ("--auto-tolerance", auto_tolerance),
            ("--atol", !c.atol.is_empty()),
            ("--rtol", !c.rtol.is_empty()),
            ("--check-error-stat", !c.check_error_stat.is_empty()),
            ("--error-quantile", !c.error_quantile.is_empty()),
            ("--infinities-compare-equal", c.infinities_compare_equal),
            ("--no-shape-check", c.no_shape_check),
        ])?;
    }
    Ok(())
}

/// Calibrates `backend` on `feeds` when `lower` includes INT8 (once per command).
fn calibrate_if_int8<B: Backend>(
    backend: &mut B,
    lower: &[Precision],
    feeds: &[NamedTensors],
) -> anyhow::Result<()> {
    if lower.contains(&Precision::Int8)
        && let Some(message) = backend.calibrate(feeds).context("INT8 calibration failed")?
    {
        errln!("{message}");
    }
    Ok(())
}

/// Times the plan marking `answer` against float32 and every markable layer lowered, `runs`
/// timed runs of each (searches' `--measure-latency`, `verify`), and prints the figures. The
/// answer stands without its timing: a plan that does not build or run here (the
/// nothing-marked plan may not) is reported on stderr, prefixed with `what`, and gives `None`.
fn time_answer<B: Backend>(
    oracle: &mut BackendOracle<B>,
    answer: &LayerSet,
    runs: NonZeroUsize,
    what: &str,
) -> anyhow::Result<Option<Latency>> {
    let settings = LatencySettings { runs: runs.get(), ..LatencySettings::default() };
    match oracle.measure_latency(answer, settings) {
        Ok(latency) => {
            crate::console::out(&crate::display::latency(&latency))?;
            Ok(Some(latency))
        }
        Err(e) => {
            errln!("{what}: cannot time the answer: {e}");
            Ok(None)
        }
    }
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
