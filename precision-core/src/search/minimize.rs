//! Pruning an answer to a 1-minimal set: every layer of the result is needed.

use super::{Checker, Direction, SearchOptions, Stop, sensitivity_order};
use crate::LayerSet;

/// The most checks pruning an answer of `size` layers makes: one per layer.
#[must_use]
pub fn prune_budget(size: usize) -> usize {
    size
}

/// The order in which [`prune`] tries to remove the layers of `answer`: least sensitive first
/// when the search measured sensitivities; otherwise starting at the boundary that bisect and
/// linear grew from (for a reverse search the earliest layer of the suffix, whose removal
/// gives the next shorter suffix, already known to fail). Layers the builder refused in the
/// lower precision ([`Checker::refused`]) are never tried: without them the plan does not
/// build.
pub(crate) fn removal_order(
    checker: &Checker<'_>,
    answer: &LayerSet,
    options: &SearchOptions,
) -> Vec<usize> {
    let mut order = removal_order_of_all(checker, answer, options);
    order.retain(|&i| !checker.refused.contains(i) && !checker.kept.contains(i));
    order
}

fn removal_order_of_all(
    checker: &Checker<'_>,
    answer: &LayerSet,
    options: &SearchOptions,
) -> Vec<usize> {
    if !checker.sensitivity.is_empty() {
        // Least sensitive first; layers of the answer without a measurement go first of all.
        let mut measured = LayerSet::empty(answer.universe());
        let ranked: Vec<usize> = sensitivity_order(&checker.sensitivity)
            .into_iter()
            .rev()
            .filter(|&i| answer.contains(i))
            .inspect(|&i| measured.insert(i))
            .collect();
        let mut order: Vec<usize> = answer.iter().filter(|&i| !measured.contains(i)).collect();
        order.extend(ranked);
        return order;
    }
    let mut order: Vec<usize> = answer.iter().collect();
    if options.direction == Direction::Forward {
        order.reverse();
    }
    order
}

/// Prunes `answer` (a passing set) to a 1-minimal one: tries removing each layer once, in
/// `order`, and keeps it removed when the smaller set still passes. Removals whose answer is
/// already known (for example the next shorter prefix that bisect saw fail) cost no check.
///
/// With `P` checks per round, a round tries the next `P` removals from the current set at
/// once; the first that passes (in `order`) is taken and the removals after it are tried
/// again from the new set, so the result is the same as trying them one at a time.
///
/// The result passes. For an oracle that is monotone (marking more layers never makes a
/// passing plan fail), removing any single layer of it fails: a removal that failed from a
/// larger set fails from every smaller one. At most `answer.len()` checks ([`prune_budget`]).
pub(crate) fn prune(
    checker: &mut Checker<'_>,
    answer: LayerSet,
    order: &[usize],
) -> Result<LayerSet, Stop> {
    checker.minimized_from = Some(checker.with_kept(answer.clone()).len());
    let jobs = checker.jobs();
    let mut current = answer;
    let mut i = 0;
    while i < order.len() {
        let without = |set: &LayerSet, layer: usize| {
            let mut smaller = set.clone();
            smaller.remove(layer);
            smaller
        };
        let next = without(&current, order[i]);
        if let Some(passed) = checker.known(&next) {
            if passed {
                current = next;
            }
            i += 1;
            continue;
        }
        let mut round = vec![next];
        while round.len() < jobs && i + round.len() < order.len() {
            let candidate = without(&current, order[i + round.len()]);
            if checker.known(&candidate).is_some() {
                break;
            }
            round.push(candidate);
        }
        let tried = round.len();
        let results = checker.check_many(round.clone())?;
        match results.iter().position(|&passed| passed) {
            Some(t) => {
                current = round.swap_remove(t);
                i += t + 1;
            }
            None => i += tried,
        }
    }
    Ok(current)
}
