//! Ranked: rank the layers by the error each adds, find the shortest passing head of the
//! ranking, then prune it to a 1-minimal set.

use std::cmp::Ordering;

use super::minimize::{Prune, prune};
use super::worst_first::{NOTED_LAYERS, measure};
use super::{Checker, LayerSensitivity, Stop, ceil_log2, smallest_passing};
use crate::{LayerSet, OutputSelection};

/// The most checks [`ranked`] makes over `c` markable layers when the shortest passing head of
/// the ranking has `k` layers: one sensitivity pass, at most `ceil(log2(c + 1))` checks to
/// find `k` (the empty set is known from the sensitivity pass), and the pruning of the `k`
/// ([`prune_after_head`]). Before `k` is known the budget is stated with `k = c`.
#[must_use]
pub fn ranked_budget(c: usize, k: usize, prune: Prune) -> usize {
    1 + ceil_log2(c + 1) + prune_after_head(k, prune)
}

/// The most checks pruning the shortest passing head of `k` layers makes: `k - 1` one at a
/// time (removing the least sensitive gives the head of `k - 1`, known to fail), `2k - 2` in
/// blocks (the nodes of the halving tree but its root, removing all `k`: the empty set).
#[must_use]
pub fn prune_after_head(k: usize, prune: Prune) -> usize {
    match prune {
        Prune::Single => k.saturating_sub(1),
        Prune::Blocks => (2 * k).saturating_sub(2),
    }
}

/// The ranked search, for library users: [`super::run_search`] with
/// [`super::Algorithm::Ranked`].
///
/// 1. One sensitivity check with nothing marked ([`OutputSelection::Isolated`]): each markable
///    layer's isolated error where the backend can measure it, else the propagated error
///    ratio of worst-first, computed along the graph ([`super::rank_layers`]). If the empty
///    plan passes, the answer is empty.
/// 2. Binary search for the smallest `k` such that marking the `k` most sensitive layers
///    passes ([`sensitivity_order`]).
/// 3. Pruning to a 1-minimal set ([`SearchOptions::prune`](super::SearchOptions::prune)):
///    the `k` layers, least sensitive first, are removed one at a time if the check still
///    passes without them, or in blocks halved until single layers are kept.
///
/// If the plan with nothing marked cannot be built and the builder names the layers it
/// refused, they are marked and measured as worst-first does, and they head the ranking.
/// Otherwise (so nothing can be measured), the layers are taken in reverse topological order,
/// as bisect's default direction does, and the user is told.
pub fn ranked(
    oracle: &mut dyn crate::Oracle,
    observer: &mut dyn super::Observer,
) -> Result<super::SearchOutcome, crate::SearchError> {
    super::run_search(oracle, &super::SearchOptions::new(super::Algorithm::Ranked), observer)
}

/// The order in which the ranked search marks layers, most sensitive first: layers with an
/// isolated error by that error (NaN and infinity first), then layers without one; ties by
/// the propagated ratio, then the output error, then the lower index.
#[must_use]
pub fn sensitivity_order(sensitivity: &[LayerSensitivity]) -> Vec<usize> {
    let mut sorted: Vec<&LayerSensitivity> = sensitivity.iter().collect();
    let isolated =
        |s: &LayerSensitivity| s.isolated.map(|e| if e.is_nan() { f64::INFINITY } else { e });
    sorted.sort_by(|a, b| {
        match (isolated(a), isolated(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then(b.ratio.total_cmp(&a.ratio))
        .then(b.out_err.total_cmp(&a.out_err))
        .then(a.index.cmp(&b.index))
    });
    sorted.into_iter().map(|s| s.index).collect()
}

/// The ranked search inside a search.
pub(crate) fn search(checker: &mut Checker<'_>, strategy: Prune) -> Result<Option<LayerSet>, Stop> {
    let universe = checker.network().len();
    let cands = checker.candidates();
    let c = cands.len();
    let order: Vec<usize> = match measure(checker, OutputSelection::Isolated) {
        Ok((true, _)) => return Ok(Some(checker.refused.clone())),
        Ok((false, _)) => {
            let order = sensitivity_order(&checker.sensitivity);
            note_ranking(checker, &order);
            // Layers the builder refused in the lower precision come first: every head
            // without them fails to build.
            checker.refused.iter().chain(order).collect()
        }
        Err(Stop::Failed(crate::SearchError::Unsupported(why))) => {
            checker.note(&format!(
                "cannot measure the layers' errors ({why}); ranking them in reverse \
                 topological order instead"
            ));
            let refused = &checker.refused;
            refused
                .iter()
                .chain(cands.iter().rev().copied().filter(|&i| !refused.contains(i)))
                .collect()
        }
        Err(stop) => return Err(stop),
    };
    let head =
        |n: usize| LayerSet::from_indices(universe, order[..n.min(order.len())].iter().copied());
    // Heads without every refused layer do not build; the head of exactly those was checked.
    let r = checker.refused.len();
    let Some(k) = smallest_passing(checker, c - r, &|m| head(r + m))?.map(|m| r + m) else {
        return Ok(None);
    };
    checker.ranking.clone_from(&order);
    checker.shortest_head = Some(k);
    let remaining = prune_after_head(k - r, strategy);
    checker.note(&format!(
        "the {k} most sensitive layers pass; pruning them takes at most {remaining} more checks"
    ));
    // With P checks per round a removal may cost a round of P checks (see `prune`).
    checker.budget_changed(checker.checks.len() + remaining * checker.jobs());
    let least_sensitive_first: Vec<usize> = order[r..k].iter().rev().copied().collect();
    prune(checker, head(k), &least_sensitive_first, strategy).map(Some)
}

/// Names the most sensitive layers for the user.
fn note_ranking(checker: &mut Checker<'_>, order: &[usize]) {
    let by_index: std::collections::HashMap<usize, &LayerSensitivity> =
        checker.sensitivity.iter().map(|s| (s.index, s)).collect();
    let network = checker.network();
    let isolated = checker.sensitivity.iter().filter(|s| s.isolated.is_some()).count();
    let names: Vec<String> = order
        .iter()
        .take(NOTED_LAYERS)
        .map(|&i| {
            let value = by_index.get(&i).map_or(String::new(), |s| match s.isolated {
                Some(e) => format!(" ({e:.2e})"),
                None => format!(" (ratio {:.3})", s.ratio),
            });
            format!("'{}'{value}", network.layers[i].name)
        })
        .collect();
    let how = if isolated > 0 {
        format!("isolated error, measured for {isolated} of {} layers", by_index.len())
    } else {
        "propagated error ratio; the backend cannot isolate layers".to_owned()
    };
    let message = format!("most sensitive layers ({how}): {}", names.join(", "));
    checker.note(&message);
}
