//! Bisect and linear against fake oracles: budgets, directions, unmarkable layers, build
//! failures and errors.

mod search_common;

use precision_core::search::{bisect, bisect_budget, candidates, edge_set, linear, linear_budget};
use precision_core::{
    Algorithm, BackendError, Direction, LayerSet, NoObserver, Oracle, SearchError, SearchOptions,
    run_search,
};
use proptest::prelude::*;
use search_common::{
    Event, FailingOracle, NeededOracle, Recorder, ThresholdOracle, build_error, chain,
};

/// The smallest n whose edge set covers `needed`, or `None` when an unmarkable layer is needed.
fn true_minimum(cands: &[usize], needed: &[usize], direction: Direction) -> Option<usize> {
    let mut n = 0;
    for &layer in needed {
        let pos = cands.iter().position(|&c| c == layer)?;
        n = n.max(match direction {
            Direction::Forward => pos + 1,
            Direction::Reverse => cands.len() - pos,
        });
    }
    Some(n)
}

#[test]
fn budget_values() {
    let expected = [(0, 1), (1, 2), (2, 3), (3, 3), (4, 4), (7, 4), (8, 5), (64, 8), (10_000, 15)];
    for (c, budget) in expected {
        assert_eq!(bisect_budget(c), budget, "C = {c}");
    }
    assert_eq!(linear_budget(7), 8);
}

#[test]
fn bisect_exhaustive_thresholds_up_to_64() {
    for c in 0..=64 {
        let budget = bisect_budget(c);
        let mut most = 0;
        for threshold in 0..=c + 1 {
            for direction in [Direction::Forward, Direction::Reverse] {
                let mut oracle = ThresholdOracle { network: chain(c, &[]), threshold, calls: 0 };
                let mut rec = Recorder::default();
                let out = bisect(&mut oracle, direction, &mut rec).unwrap();
                let checks = out.checks.len();
                assert_eq!(checks, oracle.calls);
                assert!(checks <= budget, "C={c} t={threshold}: {checks} checks > {budget}");
                most = most.max(checks);
                assert_eq!(rec.budget(), Some(budget));
                rec.assert_well_numbered(checks);
                let cands = candidates(&oracle.network);
                let want = (threshold <= c).then(|| edge_set(c, &cands, direction, threshold));
                assert_eq!(out.answer, want, "C={c} t={threshold} {direction}");
                // The answer's size passed, and one fewer was seen to fail.
                if let Some(answer) = &out.answer {
                    assert!(out.checks.iter().any(|i| i.passed && &i.marked == answer));
                    if threshold > 0 {
                        assert!(
                            out.checks.iter().any(|i| !i.passed && i.marked.len() == threshold - 1)
                        );
                    }
                } else {
                    assert!(out.checks.iter().all(|i| !i.passed));
                    assert!(out.checks.iter().any(|i| i.marked.len() == c));
                }
                // The sentinel C + 1 is never checked, and no check repeats.
                let mut sizes: Vec<usize> = out.checks.iter().map(|i| i.marked.len()).collect();
                sizes.sort_unstable();
                sizes.dedup();
                assert_eq!(sizes.len(), checks);
            }
        }
        assert_eq!(most, budget, "the budget for C={c} is tight");
    }
}

/// `ceil(log2(x))`, computed independently of the library.
fn ceil_log2(x: usize) -> usize {
    let mut bits = 0;
    while (1usize << bits) < x {
        bits += 1;
    }
    bits
}

/// With the floor check (every candidate marked) passing, bisect does not check that plan
/// again and splits the `C + 1` possible answers: the floor and bisect together make at most
/// `ceil(log2(C + 1)) + 1` checks, the information bound plus the floor, and that bound is
/// reached. The budget the search states is that bound; no plan is checked twice.
#[test]
fn bisect_after_the_floor_check_meets_the_information_bound() {
    for c in 0..=64 {
        let bound = ceil_log2(c + 1) + 1;
        let mut most = 0;
        for threshold in 0..=c + 1 {
            for direction in [Direction::Forward, Direction::Reverse] {
                let mut oracle = ThresholdOracle { network: chain(c, &[]), threshold, calls: 0 };
                let mut rec = Recorder::default();
                let options = SearchOptions {
                    direction,
                    noise_floor: true,
                    ..SearchOptions::new(Algorithm::Bisect)
                };
                let out = run_search(&mut oracle, &options, &mut rec).unwrap();
                let checks = out.checks.len();
                assert_eq!(checks, oracle.calls);
                assert_eq!(rec.budget(), Some(bound), "C={c}");
                assert!(checks <= bound, "C={c} t={threshold}: {checks} checks > {bound}");
                most = most.max(checks);
                rec.assert_well_numbered(checks);
                let floor = out.noise_floor.as_ref().expect("the floor was checked");
                assert_eq!(floor.passed, threshold <= c);
                let cands = candidates(&oracle.network);
                let want = (threshold <= c).then(|| edge_set(c, &cands, direction, threshold));
                assert_eq!(out.answer, want, "C={c} t={threshold} {direction}");
                if threshold > c {
                    assert_eq!(checks, 1, "a failing floor stops the search");
                }
                let mut sizes: Vec<usize> = out.checks.iter().map(|i| i.marked.len()).collect();
                sizes.sort_unstable();
                sizes.dedup();
                assert_eq!(sizes.len(), checks, "no plan is checked twice: {sizes:?}");
            }
        }
        assert_eq!(most, bound, "the bound for C={c} is reached");
    }
    // The example of the issue: 7 markable layers take 4 checks, not 5.
    let mut oracle = ThresholdOracle { network: chain(7, &[]), threshold: 1, calls: 0 };
    let options = SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Bisect) };
    let out = run_search(&mut oracle, &options, &mut NoObserver).unwrap();
    assert!(out.checks.len() <= 4, "{} checks", out.checks.len());
}

/// Linear and worst-first do not check the plan the floor check answered either: linear
/// after a passing floor makes at most C checks more, and when only the full set passes it
/// takes the floor's answer.
#[test]
fn linear_after_the_floor_check_reuses_it() {
    for c in 1..=12 {
        for threshold in 0..=c {
            let mut oracle = ThresholdOracle { network: chain(c, &[]), threshold, calls: 0 };
            let mut rec = Recorder::default();
            let options =
                SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Linear) };
            let out = run_search(&mut oracle, &options, &mut rec).unwrap();
            assert_eq!(rec.budget(), Some(c + 1), "C={c}");
            // The floor, then n = 0..=threshold; n = C is the floor's plan.
            let expected = if threshold < c { threshold + 2 } else { c + 1 };
            assert_eq!(out.checks.len(), expected, "C={c} t={threshold}");
            assert_eq!(out.answer.map(|a| a.len()), Some(threshold));
        }
    }
}

#[test]
fn bisect_trace_matches_the_original_loop() {
    // C = 10, the last 3 layers needed: 0 fails, then ceil(11/2)=6 passes, 3 passes, 2 fails.
    let mut oracle = NeededOracle::new(chain(10, &[]), &[7]);
    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    let sizes: Vec<(usize, bool)> = out.checks.iter().map(|i| (i.marked.len(), i.passed)).collect();
    assert_eq!(sizes, vec![(0, false), (6, true), (3, true), (2, false)]);
    assert_eq!(out.answer.unwrap().to_vec(), vec![7, 8, 9]);
    assert_eq!(out.direction, Some(Direction::Reverse));
    assert_eq!(out.algorithm, Algorithm::Bisect);
}

#[test]
fn bisect_reports_known_good_not_last_tried() {
    // The original tool reported the last configuration tried (here 4 layers, which failed).
    // C = 8, 5 needed from the end: 0 F, 5 P, 3 F, 4 F -> answer 5.
    let mut oracle = NeededOracle::new(chain(8, &[]), &[3]);
    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    let last = out.checks.last().unwrap();
    assert!(!last.passed);
    assert_eq!(last.marked.len(), 4);
    assert_eq!(out.answer.unwrap().to_vec(), vec![3, 4, 5, 6, 7]);
}

#[test]
fn build_failures_count_as_failed_checks() {
    // C = 8, anything from 2 layers passes, but the 5-layer plan fails to build:
    // 0 F, 5 build failure, 7 P, 6 P -> answer 6 after 4 checks.
    let mut oracle = NeededOracle::new(chain(8, &[]), &[6]);
    oracle.build_fails = |s| s.len() == 5;
    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    let sizes: Vec<(usize, bool)> = out.checks.iter().map(|i| (i.marked.len(), i.passed)).collect();
    assert_eq!(sizes, vec![(0, false), (5, false), (7, true), (6, true)]);
    assert!(out.checks[1].build_error.as_deref().unwrap().contains("constraints"));
    assert_eq!(out.answer.unwrap().len(), 6);

    let mut oracle = NeededOracle::new(chain(4, &[]), &[3]);
    oracle.build_fails = |s| s.len() == 1;
    let out = linear(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    assert_eq!(out.checks.len(), 3);
    assert_eq!(out.answer.unwrap().to_vec(), vec![2, 3]);
}

#[test]
fn build_errors_returned_as_errors_also_count_as_failed_checks() {
    let mut oracle = FailingOracle { network: chain(3, &[]), ok_calls: 0, error: build_error() };
    let out = linear(&mut oracle, Direction::Forward, &mut NoObserver).unwrap();
    assert_eq!(out.checks.len(), 4);
    assert!(out.answer.is_none());
    assert!(out.checks.iter().all(|i| i.build_error.as_deref() == Some("no kernel")));
}

#[test]
fn other_errors_stop_the_search() {
    let error = SearchError::Backend(BackendError::Inference("cuda out of memory".into()));
    for algorithm in [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst] {
        let mut oracle = FailingOracle {
            network: chain(5, &[]),
            // Worst-first cannot go on after a first check without layer outputs.
            ok_calls: usize::from(algorithm != Algorithm::WorstFirst),
            error: error.clone(),
        };
        let options = SearchOptions { algorithm, ..SearchOptions::default() };
        let got = run_search(&mut oracle, &options, &mut NoObserver);
        assert_eq!(got.unwrap_err(), error, "{algorithm}");
    }
}

#[test]
fn directions_and_unmarkable_layers() {
    // Layers 1 and 4 cannot be marked: the candidates are 0, 2, 3, 5.
    let net = chain(6, &[1, 4]);
    assert_eq!(candidates(&net), vec![0, 2, 3, 5]);
    for (direction, want) in [(Direction::Forward, vec![0, 2, 3]), (Direction::Reverse, vec![3, 5])]
    {
        for search in [bisect, linear] {
            let mut oracle = NeededOracle::new(net.clone(), &[3]);
            let mut rec = Recorder::default();
            let out = search(&mut oracle, direction, &mut rec).unwrap();
            assert_eq!(out.answer.unwrap().to_vec(), want, "{direction}");
            assert!(rec.notes().iter().any(|n| n.starts_with("2 of 6 layers cannot")));
        }
    }
    // A needed unmarkable layer can never be satisfied.
    let mut oracle = NeededOracle::new(net.clone(), &[4]);
    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    assert!(out.answer.is_none());
    assert_eq!(out.checks.last().unwrap().marked.to_vec(), vec![0, 2, 3, 5]);
    let out =
        linear(&mut NeededOracle::new(net, &[4]), Direction::Forward, &mut NoObserver).unwrap();
    assert!(out.answer.is_none());
    assert_eq!(out.checks.len(), 5);
}

#[test]
fn empty_network() {
    for search in [bisect, linear] {
        let mut oracle = NeededOracle::new(chain(0, &[]), &[]);
        let out = search(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
        assert_eq!(out.checks.len(), 1);
        assert_eq!(out.answer, Some(LayerSet::empty(0)));
        let mut oracle = NeededOracle::new(chain(0, &[]), &[]);
        oracle.build_fails = |_| true;
        let out = search(&mut oracle, Direction::Forward, &mut NoObserver).unwrap();
        assert_eq!(out.checks.len(), 1);
        assert_eq!(out.answer, None);
    }
}

#[test]
fn linear_uses_exactly_answer_plus_one_checks() {
    for needed in 0..6 {
        let mut oracle = NeededOracle::new(chain(6, &[]), &[needed]);
        let mut rec = Recorder::default();
        let out = linear(&mut oracle, Direction::Forward, &mut rec).unwrap();
        assert_eq!(out.checks.len(), needed + 2);
        assert_eq!(out.answer.unwrap().to_vec(), (0..=needed).collect::<Vec<_>>());
        assert_eq!(rec.budget(), Some(7));
        rec.assert_well_numbered(needed + 2);
    }
}

#[test]
fn ten_thousand_layers() {
    let net = chain(10_000, &[17, 9_000]);
    let mut oracle = NeededOracle::new(net.clone(), &[8_700]);
    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    assert!(out.checks.len() <= bisect_budget(9_998));
    // Candidates after 8_700: 1_299 layers, one of them (9_000) unmarkable.
    assert_eq!(out.answer.unwrap().len(), 1_299);

    let mut oracle = NeededOracle::new(net, &[40]);
    let out = linear(&mut oracle, Direction::Forward, &mut NoObserver).unwrap();
    assert_eq!(out.checks.len(), 41);
    assert_eq!(out.answer.unwrap().len(), 40);
}

#[test]
fn run_search_dispatches_with_defaults() {
    let options = SearchOptions::default();
    assert_eq!(options.algorithm, Algorithm::Bisect);
    assert_eq!(options.direction, Direction::Reverse);
    assert_eq!(options.top_k, 5);
    let mut oracle = NeededOracle::new(chain(4, &[]), &[2]);
    let mut rec = Recorder::default();
    let out = run_search(
        &mut oracle,
        &SearchOptions { algorithm: Algorithm::Linear, ..options },
        &mut rec,
    )
    .unwrap();
    assert_eq!(out.algorithm, Algorithm::Linear);
    assert_eq!(out.answer.unwrap().to_vec(), vec![2, 3]);
    assert_eq!(rec.events[0], Event::Started(Algorithm::Linear, Some(5)));
}

fn network_and_needed() -> impl Strategy<Value = (Vec<bool>, Vec<usize>, bool)> {
    (0_usize..120).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::bool::weighted(0.85), n),
            proptest::collection::vec(0..n.max(1), 0..4),
            any::<bool>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    /// Bisect and linear find the true minimal prefix or suffix, within budget; the answer
    /// passes when re-checked and one layer fewer fails.
    #[test]
    fn bisect_and_linear_find_the_minimum((markable, needed, forward) in network_and_needed()) {
        let n = markable.len();
        let unmarkable: Vec<usize> = (0..n).filter(|&i| !markable[i]).collect();
        let net = chain(n, &unmarkable);
        let needed: Vec<usize> = needed.into_iter().filter(|&i| i < n).collect();
        let direction = if forward { Direction::Forward } else { Direction::Reverse };
        let cands = candidates(&net);
        let want = true_minimum(&cands, &needed, direction);

        let mut oracle = NeededOracle::new(net.clone(), &needed);
        let out = bisect(&mut oracle, direction, &mut NoObserver).unwrap();
        prop_assert!(out.checks.len() <= bisect_budget(cands.len()));
        let bisect_answer = out.answer.clone();

        let mut oracle = NeededOracle::new(net.clone(), &needed);
        let out = linear(&mut oracle, direction, &mut NoObserver).unwrap();
        prop_assert_eq!(out.checks.len(), want.map_or(cands.len() + 1, |m| m + 1));
        prop_assert_eq!(&out.answer, &bisect_answer);

        let expected = want.map(|m| edge_set(n, &cands, direction, m));
        prop_assert_eq!(&bisect_answer, &expected);
        if let Some(m) = want {
            let mut checker = NeededOracle::new(net, &needed);
            let answer = bisect_answer.unwrap();
            prop_assert!(checker.evaluate(&answer, precision_core::OutputSelection::NetworkOutputs).unwrap().passed);
            if m > 0 {
                let shorter = edge_set(n, &cands, direction, m - 1);
                prop_assert!(!checker.evaluate(&shorter, precision_core::OutputSelection::NetworkOutputs).unwrap().passed);
            }
        }
    }

    /// Any monotone pass pattern (a threshold on the number marked) stays within budget:
    /// `ceil(log2(C + 1)) + 1` without the floor check, and the same including the floor
    /// check with it.
    #[test]
    fn bisect_monotone_patterns(c in 0_usize..300, t in 0_usize..302, floor in any::<bool>()) {
        let threshold = t.min(c + 1);
        let mut oracle = ThresholdOracle { network: chain(c, &[]), threshold, calls: 0 };
        let options = SearchOptions {
            direction: Direction::Forward,
            noise_floor: floor,
            ..SearchOptions::new(Algorithm::Bisect)
        };
        let out = run_search(&mut oracle, &options, &mut NoObserver).unwrap();
        prop_assert!(out.checks.len() <= bisect_budget(c));
        prop_assert!(out.checks.len() <= ceil_log2(c + 1) + 1);
        prop_assert_eq!(out.answer.map(|a| a.len()), (threshold <= c).then_some(threshold));
    }
}
