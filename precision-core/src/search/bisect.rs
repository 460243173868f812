//! Bisect: binary search for the shortest passing prefix or suffix of the markable layers.

use super::{
    Algorithm, Checker, Direction, Observer, SearchOptions, SearchOutcome, Stop, ceil_log2,
    edge_set, run_search, smallest_passing,
};
use crate::{LayerSet, Oracle, SearchError};

/// The most checks [`bisect`] makes over `c` candidate layers: `ceil(log2(c + 1)) + 1`.
#[must_use]
pub fn bisect_budget(c: usize) -> usize {
    ceil_log2(c + 1) + 1
}

/// The most rounds bisect makes over `c` candidate layers with `jobs` checks per round:
/// [`bisect_budget`] for one job, else `ceil(log_{jobs+1}(c + 1)) + 1`.
#[must_use]
pub fn bisect_rounds(c: usize, jobs: usize) -> usize {
    if jobs <= 1 {
        return bisect_budget(c);
    }
    let base = jobs + 1;
    let mut rounds = 0;
    let mut reach = 1usize;
    while reach < c + 1 {
        reach = reach.saturating_mul(base);
        rounds += 1;
    }
    rounds + 1
}

/// Finds the smallest `n` such that marking `n` markable layers (the first `n` going forward,
/// the last `n` going reverse) passes, by the original tool's bisection, with nothing else
/// (no floor check, no pruning): [`run_search`] with [`Algorithm::Bisect`].
///
/// The loop is Polygraphy's original one: `known_good = C + 1` (a sentinel meaning "even every
/// layer may not be enough"), `known_bad = 0`, `n = 0`; while `known_good != known_bad` and
/// `n != known_good`, check `n` (pass: `known_good = n`, fail or build failure:
/// `known_bad = n`) and move to `n = ceil((known_bad + known_good) / 2)`. Unlike the original,
/// the answer is the last *known-good* configuration, never a failing one that happened to be
/// tried last; `None` when no `n <= C` passed.
///
/// When an earlier check (the floor check) showed that `n = C` passes, `known_good` starts at
/// `C` and `n = 0` is not checked first: with a virtual `known_bad = -1` the search splits the
/// `C + 1` possible answers `0..=C` directly, in at most `ceil(log2(C + 1))` checks, so the
/// floor check and bisect together make at most `ceil(log2(C + 1)) + 1`, this same budget
/// (the proof below, with the gap `C + 1` from the start).
///
/// # Budget
///
/// At most `ceil(log2(C + 1)) + 1` checks ([`bisect_budget`]), whatever the oracle answers.
/// Proof: the first check is `n = 0`. If it passes, `known_good = known_bad = 0` and the loop
/// ends after one check. Otherwise the gap `g = known_good - known_bad` is at most `C + 1` and
/// every later check tries `n = known_bad + ceil(g / 2)`, which lies strictly between the
/// bounds as long as `g >= 2` (with `g = 1`, `n = known_good` and the loop ends without a
/// check; so the sentinel `C + 1` is never checked). A pass leaves a gap of `ceil(g / 2)`, a
/// fail one of `floor(g / 2) <= ceil(g / 2)`, and `floor(g / 2) >= 1`. With
/// `k = ceil(log2 g)` we have `g <= 2^k`, hence `ceil(g / 2) <= 2^(k-1)`: each check lowers
/// `ceil(log2 g)` by at least one, and the loop stops when it reaches 0 (`g = 1`). So after
/// the first check at most `ceil(log2(C + 1))` more follow. The bound is tight: when `n = 0`
/// fails and every `n >= 1` passes, every later check passes and each lowers `ceil(log2 g)`
/// by exactly one.
///
/// When the loop ends with `known_good <= C`, `known_good - 1 = known_bad` was checked and
/// failed (the first check covers `known_bad = 0`), so for an oracle that is monotone in `n`
/// the answer is the minimal passing `n`.
///
/// With `P` checks per round ([`crate::Oracle::jobs`]) the search is `(P+1)`-ary: see
/// [`bisect_rounds`].
pub fn bisect(
    oracle: &mut dyn Oracle,
    direction: Direction,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    let options = SearchOptions { direction, ..SearchOptions::new(Algorithm::Bisect) };
    run_search(oracle, &options, observer)
}

/// The bisection inside a search.
pub(crate) fn search(
    checker: &mut Checker<'_>,
    direction: Direction,
) -> Result<Option<LayerSet>, Stop> {
    let universe = checker.network().len();
    let cands = checker.candidates();
    let set_for = |n: usize| edge_set(universe, &cands, direction, n);
    let n = smallest_passing(checker, cands.len(), &set_for)?;
    Ok(n.map(set_for))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_shrink_with_more_jobs() {
        assert_eq!(bisect_rounds(1000, 1), 11);
        assert_eq!(bisect_rounds(1000, 3), 6); // 4^5 = 1024 >= 1001
        assert_eq!(bisect_rounds(0, 4), 1);
        assert_eq!(bisect_rounds(4, 4), 2);
    }
}
