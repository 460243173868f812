//! Linear: grow the marked prefix or suffix of the markable layers one layer at a time.

use super::{
    Algorithm, Checker, Direction, Observer, SearchOptions, SearchOutcome, Stop, edge_set,
    first_passing, run_search,
};
use crate::{LayerSet, Oracle, SearchError};

/// The most checks [`linear`] makes over `c` candidate layers: `c + 1`.
#[must_use]
pub fn linear_budget(c: usize) -> usize {
    c + 1
}

/// Checks `n = 0, 1, 2, ..., C` marked layers (the first `n` markable layers going forward, the
/// last `n` going reverse) and answers with the first `n` that passes, after exactly
/// `answer + 1` checks; `None` after `C + 1` failed checks. A plan that fails to build is a
/// failed check. [`run_search`] with [`Algorithm::Linear`] and nothing else.
///
/// With `P` checks per round, each round checks the next `P` values of `n` at once; the
/// answer is the same.
pub fn linear(
    oracle: &mut dyn Oracle,
    direction: Direction,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    let options = SearchOptions { direction, ..SearchOptions::new(Algorithm::Linear) };
    run_search(oracle, &options, observer)
}

/// The linear search inside a search.
pub(crate) fn search(
    checker: &mut Checker<'_>,
    direction: Direction,
) -> Result<Option<LayerSet>, Stop> {
    let universe = checker.network().len();
    let cands = checker.candidates();
    let sets: Vec<LayerSet> =
        (0..=cands.len()).map(|n| edge_set(universe, &cands, direction, n)).collect();
    first_passing(checker, sets)
}
