//! One check: build the plan, run each sample as its turn comes, compare with its goldens,
//! and combine the comparisons (worst over the samples, or averaged with `--check-average`).

use std::collections::HashMap;
use std::time::Instant;

use super::{
    CheckContext, CheckTiming, Evaluation, IsolatedMeasurement, OracleStats, SearchError,
    check_goldens_fit,
};
use crate::samples::{SampleTally, Samples, sample_errors};
use crate::{
    Backend, BackendError, Engine, ISOLATED_PREFIX, LayerSet, NamedTensors, Network,
    OutputComparison, OutputSelection, PrecisionPlan, combine_iterations, relative_error,
};

/// The float32 run with every layer output, made on first need, and the counter of such runs.
pub(super) struct Reference<'a> {
    pub(super) runs: &'a mut Option<Vec<NamedTensors>>,
    pub(super) stats: &'a mut OracleStats,
}

/// Builds, runs and compares `marked` (already validated and normalised) on `backend`, on
/// every sample or only those in `subset`, each read when its turn comes.
/// Layer outputs the goldens lack are compared with the float32 reference run, which is made
/// through `reference` when first needed (it must be given for any selection but
/// [`OutputSelection::NetworkOutputs`]). With `errors`, each sample's network-output errors
/// ([`sample_errors`]) are pushed to it.
pub(super) fn run_check<B: Backend>(
    backend: &mut B,
    context: &CheckContext,
    mut reference: Option<Reference<'_>>,
    marked: &LayerSet,
    selection: OutputSelection,
    subset: Option<&[usize]>,
    mut errors: Option<&mut Vec<Vec<f64>>>,
) -> Result<Evaluation, SearchError> {
    let start = Instant::now();
    let plan = context.base.with_marked(marked.clone());
    let samples = &context.samples;
    let count = subset.map_or(samples.len(), <[usize]>::len);
    let sample_at = |position: usize| subset.map_or(position, |s| s[position]);
    // The float32 reference is made before the plan's engine, when the goldens lack a layer
    // output: building it while that engine is alive would hold both at once (the largest
    // engines of a search, each with every layer output).
    if let Some(r) = reference.as_mut()
        && selection != OutputSelection::NetworkOutputs
        && r.runs.is_none()
        && goldens_lack_layer_outputs(backend.network(), samples, subset)?
    {
        r.stats.reference_builds += 1;
        *r.runs = Some(reference_run(backend, samples, subset)?);
    }
    let build_start = Instant::now();
    let mut engine = match backend.build(&plan, selection) {
        Ok(engine) => engine,
        Err(e) => {
            return Evaluation::failed_build(&e, start.elapsed()).ok_or_else(|| e.into());
        }
    };
    let build = build_start.elapsed();
    let mut first_run = None;
    let deviations = engine.plan_deviations();
    let output_names = backend.network().outputs.clone();
    let compare = context.compare;
    let config = &context.config;

    let mut per_sample: Vec<Vec<OutputComparison>> = Vec::with_capacity(count);
    let mut layers: Vec<OutputComparison> = Vec::new();
    let mut isolated: Vec<IsolatedMeasurement> = Vec::new();
    let mut tally = SampleTally::default();
    for position in 0..count {
        let i = sample_at(position);
        let mut produced = {
            let input = samples.inputs.get(i).map_err(SearchError::InvalidInput)?;
            let run_start = Instant::now();
            let produced = engine.infer(&input)?;
            first_run.get_or_insert_with(|| run_start.elapsed());
            produced
        };
        let mut network_outputs = NamedTensors::with_capacity(output_names.len());
        for name in &output_names {
            let tensor = produced.shift_remove(name).ok_or_else(|| {
                BackendError::Inference(format!(
                    "the {} engine returned no value for network output '{name}'",
                    backend.name()
                ))
            })?;
            network_outputs.insert(name.clone(), tensor);
        }
        let golden = samples.goldens.get(i).map_err(SearchError::InvalidInput)?;
        let golden: &NamedTensors = &golden;
        missing_outputs(backend.network(), i, golden)?;
        check_goldens_fit(i, &network_outputs, golden, config.check_shapes)?;
        let compared = compare(&network_outputs, golden, config)?;
        drop(network_outputs);
        tally.add(i, || samples.label(i), &compared);
        if let Some(errors) = errors.as_deref_mut() {
            errors.push(sample_errors(&compared));
        }
        if selection != OutputSelection::NetworkOutputs {
            let (isolated_values, produced): (NamedTensors, NamedTensors) =
                produced.into_iter().partition(|(name, _)| name.starts_with(ISOLATED_PREFIX));
            let (in_golden, rest): (NamedTensors, NamedTensors) =
                produced.into_iter().partition(|(name, _)| golden.contains_key(name));
            let needs_reference = !rest.is_empty()
                || isolated_values
                    .keys()
                    .any(|name| !golden.contains_key(&name[ISOLATED_PREFIX.len()..]));
            let reference = match reference.as_mut() {
                Some(r) if needs_reference => {
                    if r.runs.is_none() {
                        r.stats.reference_builds += 1;
                        *r.runs = Some(reference_run(backend, samples, subset)?);
                    }
                    r.runs.as_deref().and_then(|runs| runs.get(position))
                }
                _ => None,
            };
            let rest: NamedTensors = rest
                .into_iter()
                .filter(|(name, _)| reference.is_some_and(|r| r.contains_key(name)))
                .collect();
            let mut per_layer = compared.clone();
            per_layer.extend(compare(&in_golden, golden, config)?);
            if let Some(reference) = reference {
                per_layer.extend(compare(&rest, reference, config)?);
            }
            merge_worst(&mut layers, per_layer);
            let errors = isolated_errors(&isolated_values, golden, reference);
            merge_isolated(&mut isolated, errors);
        }
        per_sample.push(compared);
    }
    // The worst sample per output, or with --check-average the averaged metrics.
    let outputs = combine_iterations(per_sample, config);

    Ok(Evaluation {
        passed: outputs.iter().all(|c| c.passed),
        build_error: None,
        outputs,
        layer_outputs: (selection != OutputSelection::NetworkOutputs).then_some(layers),
        isolated: (selection == OutputSelection::Isolated).then_some(isolated),
        deviations,
        duration: start.elapsed(),
        reused: false,
        refused: Vec::new(),
        samples: Some(tally),
        command: None,
        timing: Some(CheckTiming { build, first_run: first_run.unwrap_or_default() }),
    })
}

/// Refuses a golden set that lacks some network output.
pub(super) fn missing_outputs(
    network: &Network,
    iteration: usize,
    golden: &NamedTensors,
) -> Result<(), SearchError> {
    let missing: Vec<String> =
        network.outputs.iter().filter(|o| !golden.contains_key(o.as_str())).cloned().collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SearchError::MissingGoldenOutputs { iteration, missing })
    }
}

/// The isolated error of each `isolated:T` tensor against the float32 value of `T` (from the
/// goldens if they hold it, else the float32 reference run).
fn isolated_errors(
    isolated: &NamedTensors,
    golden: &NamedTensors,
    reference: Option<&NamedTensors>,
) -> Vec<IsolatedMeasurement> {
    isolated
        .iter()
        .filter_map(|(name, value)| {
            let tensor = &name[ISOLATED_PREFIX.len()..];
            let float32 = golden.get(tensor).or_else(|| reference.and_then(|r| r.get(tensor)))?;
            let error = relative_error(value, float32).unwrap_or(f64::INFINITY);
            Some(IsolatedMeasurement { name: tensor.to_owned(), error })
        })
        .collect()
}

/// Keeps the worst isolated error per tensor over the input iterations (NaN counts as worst).
fn merge_isolated(acc: &mut Vec<IsolatedMeasurement>, next: Vec<IsolatedMeasurement>) {
    if acc.is_empty() {
        *acc = next;
        return;
    }
    let index: HashMap<String, usize> =
        acc.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
    for e in next {
        match index.get(&e.name) {
            Some(&i) => acc[i].error = worse(acc[i].error, e.error),
            None => acc.push(e),
        }
    }
}

/// Whether some golden set (of `subset`, or all) lacks the output of a layer (so that layer
/// outputs need the float32 reference run).
fn goldens_lack_layer_outputs(
    network: &Network,
    samples: &Samples,
    subset: Option<&[usize]>,
) -> Result<bool, SearchError> {
    let count = subset.map_or(samples.len(), <[usize]>::len);
    for position in 0..count {
        let i = subset.map_or(position, |s| s[position]);
        let golden = samples.goldens.get(i).map_err(SearchError::InvalidInput)?;
        if network.layers.iter().flat_map(|l| &l.outputs).any(|name| !golden.contains_key(name)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Builds the float32 plan with every layer output and runs every sample (of `subset`, or
/// all) on it.
fn reference_run<B: Backend>(
    backend: &mut B,
    samples: &Samples,
    subset: Option<&[usize]>,
) -> Result<Vec<NamedTensors>, SearchError> {
    let plan = PrecisionPlan::float32(backend.network());
    let mut engine =
        backend.build(&plan, OutputSelection::EveryLayer).map_err(SearchError::Reference)?;
    let count = subset.map_or(samples.len(), <[usize]>::len);
    (0..count)
        .map(|position| {
            let i = subset.map_or(position, |s| s[position]);
            let input = samples.inputs.get(i).map_err(SearchError::InvalidInput)?;
            engine.infer(&input).map_err(SearchError::Reference)
        })
        .collect()
}

/// The larger of two errors, NaN being the largest.
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Merges the comparisons of another input iteration into `acc`, per output name, keeping the
/// worst: an output passes only if it passed every time, and each statistic is the largest
/// seen (NaN wins). Outputs new to `acc` are appended.
pub fn merge_worst(acc: &mut Vec<OutputComparison>, next: Vec<OutputComparison>) {
    if acc.is_empty() {
        *acc = next;
        return;
    }
    let index: HashMap<String, usize> =
        acc.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
    for c in next {
        match index.get(&c.name) {
            Some(&i) => acc[i].absorb_worse(c),
            None => acc.push(c),
        }
    }
}
