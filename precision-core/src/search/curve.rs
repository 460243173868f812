//! The trade-off curve of the ranked search (`--curve`): the error of the plans that mark the
//! kept layers and the `n` most sensitive ones, for a few `n` from none to every candidate,
//! so a user can see what each further layer kept in the higher precision buys and pick
//! another point than the answer (`precision export --keep K`).

use serde::Serialize;

use super::{Check, Checker, Stop};
use crate::{LayerSet, OutputComparison};

/// How many heads of the ranking the curve measures at most (besides the answer): four up
/// to the shortest passing head and three beyond it, with both ends.
pub const CURVE_POINTS: usize = 8;

/// One point of the trade-off curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvePoint {
    /// How many layers the plan marks in all (kept ones included): the x of the curve.
    pub layers: usize,
    /// How many of them are the head of the ranking (`None` for the pruned answer, which is
    /// not a head).
    pub head: Option<usize>,
    /// Whether the plan passed.
    pub passed: bool,
    /// The worst output's error over its tolerance (the inverse of the headroom): at most 1
    /// passes; infinite when the plan failed to build or an output cannot be compared.
    #[serde(with = "crate::json_float")]
    pub error_ratio: f64,
    /// The largest absolute difference over the outputs.
    #[serde(with = "crate::json_float")]
    pub max_absdiff: f64,
    /// Whether this is the search's answer.
    pub answer: bool,
    /// The 1-based number of the check that measured it, in the search's checks.
    pub check: usize,
    /// The plan's speed, when timed (`--curve` with `--measure-latency`; set by the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<crate::latency::Timing>,
}

/// The head lengths the curve measures among `0..=c`, given that the shortest passing head
/// has `k` layers: `0`, quarters up to `k`, `k`, thirds beyond it, and `c`; in order, without
/// repeats.
#[must_use]
pub fn curve_heads(c: usize, k: usize) -> Vec<usize> {
    let k = k.min(c);
    let mut heads: Vec<usize> = (0..=4).map(|q| k * q / 4).collect();
    heads.extend((1..=3).map(|t| k + (c - k) * t / 3));
    heads.sort_unstable();
    heads.dedup();
    heads
}

/// Measures the curve over `ranking` (most sensitive first, without the kept layers; its
/// first `refused` layers are in every plan that builds), whose shortest passing head has
/// `k` layers, and adds the answer's point. Heads already checked by the search cost nothing;
/// the others are checked (counted, logged) a round at a time. When a limit stops that, the
/// curve holds the points measured so far and the observer is told.
pub(crate) fn measure(
    checker: &mut Checker<'_>,
    ranking: &[usize],
    refused: usize,
    k: usize,
    answer: &LayerSet,
) -> Result<Vec<CurvePoint>, Stop> {
    let universe = checker.network().len();
    let refused = refused.min(k);
    let heads: Vec<usize> = curve_heads(ranking.len() - refused, k - refused)
        .into_iter()
        .map(|n| refused + n)
        .collect();
    let sets: Vec<LayerSet> = heads
        .iter()
        .map(|&n| checker.with_kept(LayerSet::from_indices(universe, ranking[..n].iter().copied())))
        .collect();
    let unknown: Vec<LayerSet> =
        sets.iter().filter(|s| checker.known(s).is_none()).cloned().collect();
    if !unknown.is_empty() {
        checker.budget_changed(checker.checks.len() + unknown.len());
    }
    for round in unknown.chunks(checker.jobs()) {
        match checker.check_many(round.to_vec()) {
            Ok(_) => {}
            Err(Stop::Budget(reason)) => {
                checker.note(&format!("the trade-off curve was cut short: {reason}"));
                break;
            }
            Err(stop) => return Err(stop),
        }
    }
    let mut points: Vec<CurvePoint> = heads
        .iter()
        .zip(&sets)
        .filter_map(|(&n, set)| point(&checker.checks, set, Some(n), answer))
        .collect();
    // The answer, unless it is one of the heads.
    if !points.iter().any(|p| p.answer)
        && let Some(p) = point(&checker.checks, answer, None, answer)
    {
        points.push(p);
    }
    points.sort_by_key(|p| (p.layers, p.head.is_some()));
    Ok(points)
}

/// The point of the last check of `set`, if it was checked for its network outputs.
fn point(
    checks: &[Check],
    set: &LayerSet,
    head: Option<usize>,
    answer: &LayerSet,
) -> Option<CurvePoint> {
    let (i, check) = checks.iter().enumerate().rev().find(|(_, c)| &c.marked == set)?;
    Some(CurvePoint {
        layers: set.len(),
        head,
        passed: check.passed,
        error_ratio: error_ratio(check),
        max_absdiff: check.outputs.iter().map(|o| o.max_absdiff).fold(0.0, worse),
        answer: set == answer,
        check: i + 1,
        latency: None,
    })
}

/// The worst output's error over its tolerance: `1 / headroom`.
fn error_ratio(check: &Check) -> f64 {
    if check.build_error.is_some() || check.outputs.is_empty() {
        return f64::INFINITY;
    }
    check.outputs.iter().map(|o: &OutputComparison| 1.0 / o.headroom).fold(0.0, worse)
}

/// The larger, NaN counting as the largest.
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_cover_both_sides_of_the_answer() {
        assert_eq!(curve_heads(100, 20), vec![0, 5, 10, 15, 20, 46, 73, 100]);
        assert_eq!(curve_heads(3, 1), vec![0, 1, 2, 3]);
        assert_eq!(curve_heads(0, 0), vec![0]);
        assert!(curve_heads(1000, 1000).len() <= CURVE_POINTS);
        for c in 0..40 {
            for k in 0..=c {
                let heads = curve_heads(c, k);
                assert!(heads.len() <= CURVE_POINTS && heads.contains(&k) && heads.contains(&c));
                assert!(heads.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
}
