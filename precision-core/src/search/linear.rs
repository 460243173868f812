//! Linear: grow the marked prefix or suffix of the markable layers one layer at a time.

use super::{Algorithm, Checker, Direction, Observer, SearchOutcome, candidates, edge_set};
use crate::{Detail, Oracle, SearchError};

/// The most checks [`linear`] makes over `c` candidate layers: `c + 1`.
#[must_use]
pub fn linear_budget(c: usize) -> usize {
    c + 1
}

/// Checks `n = 0, 1, 2, ..., C` marked layers (the first `n` markable layers going forward, the
/// last `n` going reverse) and answers with the first `n` that passes, after exactly
/// `answer + 1` checks; `None` after `C + 1` failed checks. A plan that fails to build is a
/// failed check.
pub fn linear(
    oracle: &mut dyn Oracle,
    direction: Direction,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    let universe = oracle.network().len();
    let cands = candidates(oracle.network());
    let c = cands.len();
    let mut checker = Checker::start(oracle, observer, Algorithm::Linear, Some(linear_budget(c)));

    for n in 0..=c {
        let marked = edge_set(universe, &cands, direction, n);
        if checker.check(marked.clone(), Detail::NetworkOutputs)?.passed {
            return Ok(checker.finish(Algorithm::Linear, Some(direction), Some(marked)));
        }
    }
    Ok(checker.finish(Algorithm::Linear, Some(direction), None))
}
