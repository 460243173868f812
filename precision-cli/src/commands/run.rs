//! `precision run`: run a model and save goldens.

use std::time::Instant;

use anyhow::{Context, bail};
use polygraphy_json::{IterationResult, RunResults, RunnerResults};
use precision_core::{Backend, Engine, OutputSelection, PrecisionPlan};

use crate::Verdict;
use crate::args::RunArgs;
use crate::backends::{self, with_backend};
use crate::console::errln;
use crate::{dataset, display};

mod per_sample;

/// Runs the model on every input iteration and saves what was asked.
pub fn run(args: &RunArgs) -> anyhow::Result<Verdict> {
    let mut files = precision_files::CommandFiles::new();
    crate::write::model_files(&mut files, &args.model, &args.precision.lower());
    crate::write::data_files(&mut files, &args.data);
    for (role, path) in
        [("--save-outputs", &args.save_outputs), ("--save-inputs", &args.save_inputs)]
    {
        if let Some(path) = path {
            crate::write::polygraphy_output(&mut files, role, path);
        }
    }
    crate::write::check(&files)?;
    let opened = backends::open(&args.model, &args.precision.lower())?;
    with_backend!(opened, b => run_with(b, args))
}

fn run_with<B: Backend>(mut backend: B, args: &RunArgs) -> anyhow::Result<Verdict> {
    let network = backend.network().clone();
    let plan = if args.precision.lower().is_empty() {
        PrecisionPlan::float32(&network)
    } else {
        super::base_plan(&network, &args.precision)?
    };
    let selection = if args.mark_all {
        if !backend.capabilities().every_layer_output {
            bail!("the {} backend cannot return every layer's output (--mark-all)", backend.name());
        }
        OutputSelection::EveryLayer
    } else {
        OutputSelection::NetworkOutputs
    };
    let data = &args.data;
    let inputs = dataset::open_inputs(&network, &data.load_inputs, data, "--load-inputs")?;
    super::calibrate_for(&mut backend, &plan.lower, &network, data, &inputs)?;
    let mut engine = backend.build(&plan, selection).context("building the engine failed")?;
    let runner_name = format!("{}-runner-N0", backend.name());
    // A dataset's goldens go to a folder of per-sample .npz files as the samples run; other
    // outputs are gathered for one RunResults.
    let mut per_sample = match &args.save_outputs {
        Some(path) if inputs.files.is_some() && path.extension().is_none() => {
            Some(per_sample::GoldenFolder::create(path)?)
        }
        _ => None,
    };
    let gather = args.save_outputs.is_some() && per_sample.is_none();
    let mut iterations = Vec::new();
    for i in 0..inputs.sets.len() {
        let feed = inputs.sets.get(i).map_err(anyhow::Error::msg)?;
        let start = Instant::now();
        let outputs = engine.infer(&feed).with_context(|| format!("inference on iteration {i}"))?;
        if let Some(folder) = per_sample.as_mut() {
            folder.add(&dataset::sample_name(&inputs, i), &outputs)?;
        }
        if gather || i == 0 {
            iterations.push(IterationResult {
                outputs,
                runtime: start.elapsed().as_secs_f64(),
                runner_name: runner_name.clone(),
            });
        }
    }
    let precisions =
        if plan.lower.is_empty() { "float32".to_owned() } else { plan.lowest().to_string() };
    errln!(
        "ran {} on the {} backend in {precisions}, {} iteration(s)",
        crate::console::escape(&network.name),
        backend.name(),
        inputs.sets.len()
    );
    for (name, tensor) in &iterations[0].outputs {
        let values = tensor.to_f64_vec();
        let (lo, hi, mean) = stats(&values);
        errln!(
            "  {}: {} {:?} | min {} max {} mean {}",
            crate::console::escape(name),
            tensor.dtype(),
            tensor.shape(),
            display::number(lo),
            display::number(hi),
            display::number(mean)
        );
    }
    if let Some(path) = &args.save_inputs {
        let feeds = inputs.load_all()?;
        polygraphy_json::write_inputs(path, &feeds)
            .with_context(|| format!("cannot save inputs to {}", path.display()))?;
        errln!("saved inputs to {}", path.display());
    }
    if let Some(folder) = per_sample {
        let path = folder.commit()?;
        errln!("saved outputs of {} samples to {}", inputs.sets.len(), path.display());
    } else if let Some(path) = &args.save_outputs {
        let results = RunResults { runners: vec![RunnerResults { name: runner_name, iterations }] };
        polygraphy_json::write_run_results(path, &results)
            .with_context(|| format!("cannot save outputs to {}", path.display()))?;
        errln!("saved outputs to {}", path.display());
    }
    Ok(Verdict::Success)
}

fn stats(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi, values.iter().sum::<f64>() / values.len() as f64)
}
