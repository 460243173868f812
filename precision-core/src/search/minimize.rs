//! Pruning an answer to a 1-minimal set: every layer of the result is needed.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::{Checker, Direction, SearchOptions, Stop, sensitivity_order};
use crate::LayerSet;

/// How pruning removes the layers of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Prune {
    /// One layer at a time, in the removal order (at most one check per layer). Cheapest
    /// where most layers of the answer are needed (INT8, a ranking that is right).
    #[default]
    Single,
    /// In blocks, the largest untried block first, halving a block that cannot go (delta
    /// debugging's complement step; at most `2n - 1` checks for `n` layers). Finds far smaller
    /// answers where layer errors partly cancel (float16 rounding).
    Blocks,
}

impl Prune {
    /// The name as written on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Prune::Single => "single",
            Prune::Blocks => "blocks",
        }
    }
}

impl FromStr for Prune {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "single" => Ok(Prune::Single),
            "blocks" => Ok(Prune::Blocks),
            _ => Err(format!("invalid pruning '{s}' (expected single or blocks)")),
        }
    }
}

impl fmt::Display for Prune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most checks pruning an answer of `size` layers makes: one per layer one at a time, one
/// per node of the halving tree (`2 * size - 1`) in blocks.
#[must_use]
pub fn prune_budget(size: usize, prune: Prune) -> usize {
    match prune {
        Prune::Single => size,
        Prune::Blocks => (2 * size).saturating_sub(1),
    }
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

/// Prunes `answer` (a passing set) to a 1-minimal one with `strategy`, trying the layers in
/// `order` ([`prune_single`] or [`prune_blocks`]). Removals whose answer is already known cost
/// no check. The result passes; for an oracle that is monotone (marking more layers never
/// makes a passing plan fail), removing any single layer of it fails.
pub(crate) fn prune(
    checker: &mut Checker<'_>,
    answer: LayerSet,
    order: &[usize],
    strategy: Prune,
) -> Result<LayerSet, Stop> {
    checker.minimized_from = Some(checker.with_kept(answer.clone()).len());
    match strategy {
        Prune::Single => prune_single(checker, answer, order),
        Prune::Blocks => prune_blocks(checker, answer, order),
    }
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
/// larger set fails from every smaller one. At most `answer.len()` checks ([`prune_budget`]
/// with [`Prune::Single`]).
fn prune_single(
    checker: &mut Checker<'_>,
    answer: LayerSet,
    order: &[usize],
) -> Result<LayerSet, Stop> {
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

/// Prunes `answer` (a passing set) to a 1-minimal one by halving, the complement step of
/// delta debugging: `order` is cut into segments, starting with one segment of all of it.
/// The largest undecided segment (the first among equals) is tried: the plan marks the answer
/// without it (and without the segments already removed). If that passes, the segment is
/// removed for good; if it fails, the segment is cut in two halves, or, when it is one
/// layer, that layer is kept. Removals whose answer is already known (for example a shorter
/// head of ranked's ranking) cost no check.
///
/// Trying large blocks first finds much smaller answers than removing one layer at a time
/// where errors partly cancel (float16 rounding). The price is paid where most layers are
/// needed (INT8 with a good ranking): up to twice the checks of one-at-a-time removal.
///
/// With `P` checks per round, a round tries the next `P` segments along the path on which
/// every try fails; the first that passes (in that order) is taken and the tries after it
/// are made again from the new set, so the result is the same as with one check at a time.
///
/// The result passes. Each kept layer failed to be removed from a superset of the result, so
/// for an oracle that is monotone (marking more layers never makes a passing plan fail)
/// removing any single layer of the result fails. At most `2 * order.len() - 1` checks
/// ([`prune_budget`] with [`Prune::Blocks`]), times `P` with `P` checks per round.
fn prune_blocks(
    checker: &mut Checker<'_>,
    answer: LayerSet,
    order: &[usize],
) -> Result<LayerSet, Stop> {
    let order: Vec<usize> = order.iter().copied().filter(|&i| answer.contains(i)).collect();
    let jobs = checker.jobs();
    let mut current = answer;
    let mut segments = Segments::new(order.len());
    let without = |set: &LayerSet, segment: &Segment| {
        let mut smaller = set.clone();
        for &layer in &order[segment.start..segment.start + segment.len] {
            smaller.remove(layer);
        }
        smaller
    };
    loop {
        // Follow the path as far as earlier checks know it.
        let next = loop {
            let Some(k) = segments.largest() else { return Ok(current) };
            let smaller = without(&current, &segments.list[k]);
            match checker.known(&smaller) {
                Some(true) => {
                    current = smaller;
                    segments.removed(k);
                }
                Some(false) => segments.failed(k),
                None => break k,
            }
        };
        // The next tries along the path on which each fails; a try known to pass ends it.
        let mut ahead = segments.clone();
        let mut round = Vec::with_capacity(jobs);
        let mut k = next;
        loop {
            let smaller = without(&current, &ahead.list[k]);
            match checker.known(&smaller) {
                Some(true) => break,
                Some(false) => {}
                None => round.push(smaller),
            }
            ahead.failed(k);
            match ahead.largest() {
                Some(more) if round.len() < jobs => k = more,
                _ => break,
            }
        }
        checker.check_many(round)?;
    }
}

/// Where a segment of the removal order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not tried yet (or cut from a segment that failed).
    Open,
    /// Removed from the answer: the plan without it passed.
    Removed,
    /// A single layer whose removal failed: it stays.
    Kept,
}

/// A run of consecutive layers of the removal order.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    len: usize,
    state: State,
}

/// The segments of the removal order, in order.
#[derive(Debug, Clone)]
struct Segments {
    list: Vec<Segment>,
}

impl Segments {
    /// One open segment of `len` layers (none when `len` is 0).
    fn new(len: usize) -> Self {
        let list =
            if len == 0 { Vec::new() } else { vec![Segment { start: 0, len, state: State::Open }] };
        Segments { list }
    }

    /// Segment `k` was removed.
    fn removed(&mut self, k: usize) {
        self.list[k].state = State::Removed;
    }

    /// The largest open segment, the first among equals.
    fn largest(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (k, s) in self.list.iter().enumerate() {
            if s.state == State::Open && best.is_none_or(|b| s.len > self.list[b].len) {
                best = Some(k);
            }
        }
        best
    }

    /// Segment `k` could not be removed: a single layer stays, a longer segment is halved.
    fn failed(&mut self, k: usize) {
        let segment = self.list[k];
        if segment.len == 1 {
            self.list[k].state = State::Kept;
            return;
        }
        let half = segment.len / 2;
        self.list[k].len = half;
        let rest =
            Segment { start: segment.start + half, len: segment.len - half, state: State::Open };
        self.list.insert(k + 1, rest);
    }
}
