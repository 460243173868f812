//! Worst-first: mark the layers that add the most error first, `top_k` more per check.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{
    Algorithm, Checker, Observer, SearchOptions, SearchOutcome, Stop, first_passing, run_search,
};
use crate::{LayerSet, Network, Oracle, OutputComparison, OutputSelection, SearchError};

/// The most checks [`worst_first`] makes over `c` markable layers: one with nothing marked,
/// then `ceil(c / top_k)` growing sets.
#[must_use]
pub fn worst_first_budget(c: usize, top_k: usize) -> usize {
    1 + c.div_ceil(top_k.max(1))
}

/// How much error one layer adds, measured with nothing marked.
///
/// In JSON, non-finite numbers are strings ([`crate::json_float`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LayerSensitivity {
    /// The layer's index.
    pub index: usize,
    /// The layer's isolated error: its output error when its inputs are the float32 values
    /// ([`crate::IsolatedMeasurement`]), where the backend can measure it.
    #[serde(serialize_with = "serialize_optional_float")]
    pub isolated: Option<f64>,
    /// The largest error of the tensors the layer reads (0 for network inputs and tensors
    /// without a comparison; NaN counts as infinity).
    #[serde(with = "crate::json_float")]
    pub in_err: f64,
    /// The largest error of the tensors the layer writes (NaN counts as infinity).
    #[serde(with = "crate::json_float")]
    pub out_err: f64,
    /// `out_err / in_err`, never NaN: infinity when the layer turns exact inputs into a wrong
    /// output, 0 when its output is exact, 1 when an infinite error passes through.
    #[serde(with = "crate::json_float")]
    pub ratio: f64,
}

#[expect(clippy::ref_option, reason = "serde's serialize_with passes &Option")]
fn serialize_optional_float<S: serde::Serializer>(
    value: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(x) => crate::json_float::serialize(x, serializer),
        None => serializer.serialize_none(),
    }
}

/// How many of the worst layers the ranking note names.
pub(crate) const NOTED_LAYERS: usize = 10;

/// A ratio for a note: `inf` or three decimals.
fn describe_ratio(ratio: f64) -> String {
    if ratio.is_infinite() { "inf".to_owned() } else { format!("{ratio:.3}") }
}

/// Treats NaN as the worst possible error.
fn error_of(value: f64) -> f64 {
    if value.is_nan() { f64::INFINITY } else { value }
}

/// The error a layer adds, as a ratio that is never NaN.
fn added_ratio(out_err: f64, in_err: f64) -> f64 {
    if in_err == 0.0 {
        if out_err > 0.0 { f64::INFINITY } else { 0.0 }
    } else if in_err.is_infinite() && out_err.is_infinite() {
        // An infinite error that passes through is not added here; the layer that made it
        // infinite has an infinite ratio and ranks first.
        1.0
    } else {
        out_err / in_err
    }
}

/// Ranks the markable layers of `network` by the error they add, worst first.
///
/// Follows the graph, not the layer order: a layer's `out_err` is the largest `max_absdiff` of
/// its outputs and its `in_err` the largest of its inputs, looked up by tensor name in
/// `comparisons` (a tensor compared twice counts with its larger error). Ties rank the larger
/// `out_err` first, then the lower index. Unmarkable layers are left out.
#[must_use]
pub fn rank_layers<'a>(
    network: &Network,
    comparisons: impl IntoIterator<Item = &'a OutputComparison>,
) -> Vec<LayerSensitivity> {
    let mut errors: HashMap<&str, f64> = HashMap::new();
    for c in comparisons {
        let e = error_of(c.max_absdiff);
        errors.entry(c.name.as_str()).and_modify(|old| *old = old.max(e)).or_insert(e);
    }
    let worst = |tensors: &[String]| {
        tensors.iter().filter_map(|t| errors.get(t.as_str())).fold(0.0_f64, |acc, &e| acc.max(e))
    };
    let mut ranked: Vec<LayerSensitivity> = network
        .layers
        .iter()
        .filter(|l| l.is_markable())
        .map(|l| {
            let in_err = worst(&l.inputs);
            let out_err = worst(&l.outputs);
            LayerSensitivity {
                index: l.index,
                isolated: None,
                in_err,
                out_err,
                ratio: added_ratio(out_err, in_err),
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.ratio
            .total_cmp(&a.ratio)
            .then(b.out_err.total_cmp(&a.out_err))
            .then(a.index.cmp(&b.index))
    });
    ranked
}

/// Worst-first: one check with nothing marked and every layer output compared; if it passes
/// the answer is the empty set. Otherwise the markable layers are ranked by the error they add
/// ([`rank_layers`]) and check `k` (k = 1, 2, ...) marks the `k * top_k` worst, until one
/// passes (the answer) or every markable layer is marked and it still fails (`None`).
/// [`run_search`] with [`Algorithm::WorstFirst`] and nothing else.
///
/// When the plan with nothing marked fails to build and the builder names the layers it
/// refused (a layer with no lower-precision implementation, [`crate::BackendError::Refused`]),
/// the search starts from the plan with exactly those layers marked (and tells the observer),
/// ranks the other layers with it and adds them to it; the outcome lists the refused layers
/// ([`SearchOutcome::refused`]). That costs one more check per failed start plan.
///
/// `top_k` must be at least 1. The oracle must return layer outputs for
/// [`OutputSelection::EveryLayer`]; [`SearchError::Unsupported`] otherwise.
pub fn worst_first(
    oracle: &mut dyn Oracle,
    top_k: usize,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    let options = SearchOptions { top_k, ..SearchOptions::new(Algorithm::WorstFirst) };
    run_search(oracle, &options, observer)
}

/// Measures every layer's propagated error with nothing marked, with `detail`
/// ([`OutputSelection::EveryLayer`] or [`OutputSelection::Isolated`]). Returns whether the measured plan
/// passed and the ranking (worst first) of the markable layers it does not mark, or an error
/// when the backend could not measure it.
///
/// When the plan with nothing marked fails to build and the builder names the layers it
/// refused ([`crate::BackendError::Refused`]), those layers are marked and the plan checked
/// again, until it builds; the layers marked that way are [`Checker::refused`] and are left
/// out of the ranking. When the builder names no layer, or only ones already marked or that
/// cannot be marked, the search stops with [`SearchError::Unsupported`].
pub(crate) fn measure(
    checker: &mut Checker<'_>,
    detail: OutputSelection,
) -> Result<(bool, Vec<LayerSensitivity>), Stop> {
    let measured = measure_layers(checker, detail);
    // Every later check compares network outputs only: the oracle may free the float32 run
    // of every layer output and the sessions kept for layer outputs.
    checker.layer_outputs_done();
    measured
}

/// [`measure`], up to freeing what layer outputs needed.
fn measure_layers(
    checker: &mut Checker<'_>,
    detail: OutputSelection,
) -> Result<(bool, Vec<LayerSensitivity>), Stop> {
    let first = loop {
        let first = checker.check(checker.refused.clone(), detail)?;
        if first.passed || first.layer_outputs.is_some() {
            break first;
        }
        let Some(build_error) = checker.last_build_error().map(str::to_owned) else {
            return Err(Stop::Failed(SearchError::Unsupported(
                "the backend cannot return every layer's output, which is needed to rank \
                 layers; use bisect or linear instead"
                    .into(),
            )));
        };
        mark_refused(checker, &first.refused, &build_error)?;
    };
    let Some(layer_outputs) = first.layer_outputs else {
        return Ok((true, Vec::new()));
    };
    let network = checker.network();
    let first_outputs = checker.last_outputs();
    let mut ranked = rank_layers(network, layer_outputs.iter().chain(first_outputs));
    ranked.retain(|r| !checker.refused.contains(r.index) && !checker.kept.contains(r.index));
    if let Some(isolated) = first.isolated {
        let errors: HashMap<&str, f64> =
            isolated.iter().map(|e| (e.name.as_str(), error_of(e.error))).collect();
        for r in &mut ranked {
            r.isolated = network.layers[r.index]
                .outputs
                .iter()
                .filter_map(|t| errors.get(t.as_str()).copied())
                .reduce(f64::max);
        }
    }
    let compared: HashSet<&str> =
        layer_outputs.iter().chain(first_outputs).map(|c| c.name.as_str()).collect();
    let markable = ranked.len();
    let unmeasured = network
        .layers
        .iter()
        .filter(|l| l.is_markable() && !checker.refused.contains(l.index))
        .filter(|l| !checker.kept.contains(l.index))
        .filter(|l| !l.outputs.iter().any(|t| compared.contains(t.as_str())))
        .count();
    drop(compared);
    if unmeasured > 0 {
        checker.note(&format!(
            "{unmeasured} of {markable} markable layers have no compared output; they rank as \
             adding no error"
        ));
    }
    let mut by_index = ranked.clone();
    by_index.sort_by_key(|r| r.index);
    checker.sensitivity = by_index;
    Ok((first.passed, ranked))
}

/// Marks the layers the builder refused (`refused`, from the failed build of the plan
/// [`Checker::refused`] marks, with `build_error`), or stops the search when that cannot help:
/// no layer named, a layer out of range or that cannot be marked, or only layers already
/// marked.
fn mark_refused(
    checker: &mut Checker<'_>,
    refused: &[usize],
    build_error: &str,
) -> Result<(), Stop> {
    let network = checker.network();
    let (start, plan) = if checker.refused.is_empty() {
        ("the plan with nothing marked", "the plan with nothing marked")
    } else {
        ("that plan", "a plan with only the layers the builder refuses marked")
    };
    let stop = |why: String| {
        Stop::Failed(SearchError::Unsupported(format!(
            "measuring each layer's error needs {plan} to build, but it failed to build \
             ({build_error}){why}; use bisect or linear instead"
        )))
    };
    if refused.is_empty() {
        return Err(stop(String::new()));
    }
    let name = |i: usize| format!("'{}'", network.layers[i].name);
    if let Some(&beyond) = refused.iter().find(|&&i| i >= network.len()) {
        return Err(stop(format!(
            " and the backend named layer {beyond}, beyond the network's {} layers",
            network.len()
        )));
    }
    let stuck: Vec<String> =
        refused.iter().filter(|&&i| !network.layers[i].is_markable()).map(|&i| name(i)).collect();
    if !stuck.is_empty() {
        return Err(stop(format!(
            ", and the builder refuses {} in the lower precision, which cannot be marked",
            stuck.join(", ")
        )));
    }
    let new: Vec<usize> =
        refused.iter().copied().filter(|&i| !checker.refused.contains(i)).collect();
    if new.is_empty() {
        return Err(stop(", even with the layers the builder refused marked".to_owned()));
    }
    let names: Vec<String> = new.iter().map(|&i| name(i)).collect();
    let message = format!(
        "{start} failed to build: the builder refuses {} in the lower precision ({build_error}); \
         starting from the plan with {} and ranking the rest",
        names.join(", "),
        if checker.refused.is_empty() { "exactly those marked" } else { "those marked too" }
    );
    for i in new {
        checker.refused.insert(i);
    }
    checker.note(&message);
    // One more check than stated: the plan with the refused layers marked. The growing
    // sets after it cover fewer layers, so the rest of the budget still holds.
    if let Some(budget) = checker.budget {
        checker.budget_changed(budget + 1);
    }
    Ok(())
}

/// The worst-first search inside a search.
pub(crate) fn search(checker: &mut Checker<'_>, top_k: usize) -> Result<Option<LayerSet>, Stop> {
    let universe = checker.network().len();
    if checker.known(&LayerSet::empty(universe)) == Some(true) {
        // The floor check of a network without markable layers already passed.
        return Ok(Some(LayerSet::empty(universe)));
    }
    let (passed, ranked) = measure(checker, OutputSelection::EveryLayer)?;
    let start = checker.refused.clone();
    if passed {
        return Ok(Some(start));
    }
    let network = checker.network();
    let worst: Vec<String> = ranked
        .iter()
        .take(NOTED_LAYERS)
        .map(|r| format!("'{}' ({})", network.layers[r.index].name, describe_ratio(r.ratio)))
        .collect();
    if !worst.is_empty() {
        checker.note(&format!(
            "layers adding the most error (output/input error ratio): {}",
            worst.join(", ")
        ));
    }
    let order: Vec<usize> = ranked.iter().map(|r| r.index).collect();
    drop(ranked);
    let counts = (1..=order.len().div_ceil(top_k)).map(|k| (k * top_k).min(order.len()));
    first_passing(
        checker,
        counts.map(|count| {
            LayerSet::from_indices(universe, start.iter().chain(order[..count].iter().copied()))
        }),
    )
}
