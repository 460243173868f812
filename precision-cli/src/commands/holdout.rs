//! `--holdout-inputs` / `--holdout-golden`: after a search, its answer is checked once on data
//! the search never saw, and the console and report give the verdict.

use std::fmt::Write as _;

use precision_core::oracle::BackendOracle;
use precision_core::{Backend, CompareConfig, HoldoutReport, Network, Samples, SearchOutcome};

use crate::args::{DataArgs, SampleArgs};
use crate::console::errln;
use crate::{dataset, display};

/// The held-out samples, opened and checked before the search.
pub struct Holdout {
    samples: Samples,
    description: String,
}

/// Opens `--holdout-inputs` with `--holdout-golden` (every file read once and checked), or
/// `None` when not given.
pub fn open(
    network: &Network,
    args: &SampleArgs,
    data: &DataArgs,
) -> anyhow::Result<Option<Holdout>> {
    let (false, Some(golden)) = (args.holdout_inputs.is_empty(), &args.holdout_golden) else {
        return Ok(None);
    };
    let inputs = dataset::open_inputs(network, &args.holdout_inputs, data, "--holdout-inputs")?;
    let goldens = dataset::open_goldens(network, golden, &inputs, "--holdout-golden")?;
    if goldens.len() != inputs.sets.len() {
        anyhow::bail!(
            "--holdout-golden {} holds {} golden iteration(s) for {} held-out input(s): make \
             them from the same inputs with `precision run`",
            golden.display(),
            goldens.len(),
            inputs.sets.len()
        );
    }
    let description = inputs.description.clone();
    Ok(Some(Holdout { samples: Samples { inputs: inputs.sets, goldens }, description }))
}

/// Checks the answer of `outcome` on the held-out samples, by the tolerances as given (not
/// tightened by `--margin`), and prints the verdict; `None` when the search found no answer.
pub fn check<B: Backend>(
    oracle: &mut BackendOracle<B>,
    network: &Network,
    holdout: Holdout,
    outcome: &SearchOutcome,
) -> anyhow::Result<Option<HoldoutReport>> {
    let Some(answer) = &outcome.answer else {
        errln!("holdout: not checked, as the search found no answer");
        return Ok(None);
    };
    // The holdout asks whether the answer holds on new data by the user's own tolerances:
    // `--margin` tightens them for the search only (the answer's headroom says how far it is).
    let config = oracle.config().clone();
    let margined = config.margin != 1.0;
    if margined {
        oracle.set_config(CompareConfig { margin: 1.0, ..config.clone() });
    }
    let evaluation = oracle.check_on(answer, holdout.samples);
    if margined {
        oracle.set_config(config);
    }
    let evaluation = evaluation?;
    let passed = evaluation.passed && evaluation.build_error.is_none();
    let verdict = if passed { "PASSED" } else { "FAILED" };
    let tally = evaluation.samples.clone().unwrap_or_default();
    let mut line = format!(
        "holdout ({}): the answer ({}) {verdict}, {}/{} samples passed",
        crate::console::escape(&holdout.description),
        display::marked_summary(network, answer),
        tally.passed,
        tally.total
    );
    if let Some(error) = &evaluation.build_error {
        let _ = write!(line, " | build failed: {}", crate::console::escape(error));
    } else {
        let _ = write!(line, " | {}", display::outputs_summary(&evaluation.outputs));
    }
    for failure in &tally.failures {
        let _ = write!(
            line,
            "\n    sample {}: {}",
            crate::console::escape(&failure.label),
            display::outputs_summary(&failure.outputs)
        );
    }
    if tally.failed() > tally.failures.len() {
        let _ = write!(line, "\n    ... and {} more", tally.failed() - tally.failures.len());
    }
    errln!("{line}");
    Ok(Some(HoldoutReport { inputs: holdout.description, passed, check: evaluation }))
}
