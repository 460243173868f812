//! The ranked search, `--minimize`, parallel checks, limits and the noise floor on simulated
//! networks with `noise = "constant"`, where marking more layers never makes a check fail (so
//! "1-minimal" is well defined and checkable).
//!
//! Every answer is re-checked with the independent computation of `backend_mock::testing`
//! (`expected_check`), not with the oracle that produced it.

use std::fmt::Write as _;

use backend_mock::testing::{
    GenOptions, arb_spec, atol_only, backend_oracle, expected_check, markable_layers, to_toml,
};
use backend_mock::{MockBackend, MockSpec};
use precision_core::oracle::BackendOracle;
use precision_core::search::{Limits, Prune, bisect_rounds, prune_budget, ranked_budget};
use precision_core::{
    Algorithm, Backend, Direction, LayerSet, NoObserver, Precision, SearchOptions, SearchOutcome,
    run_search,
};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}

fn backend(spec: &MockSpec) -> MockBackend {
    MockBackend::from_toml_str(&to_toml(spec), "generated").expect("generated specs are valid")
}

/// The real oracle: int8 lowered, float32 marked, `atol`, `rtol = 0`, `jobs` at once.
fn oracle(spec: &MockSpec, atol: f64, jobs: usize) -> BackendOracle<MockBackend> {
    let mut oracle =
        backend_oracle(spec, vec![Precision::Int8], Precision::Float32, atol_only(atol));
    assert_eq!(oracle.with_jobs(jobs, 1).expect("the mock copies itself"), jobs);
    oracle
}

fn run(spec: &MockSpec, atol: f64, jobs: usize, options: &SearchOptions) -> SearchOutcome {
    run_search(&mut oracle(spec, atol, jobs), options, &mut NoObserver).expect("the search runs")
}

fn passes(spec: &MockSpec, marked: &[usize], atol: f64) -> bool {
    expected_check(spec, Precision::Int8, Precision::Float32, marked, atol).passes
}

/// Whether `set` passes and removing any one of its layers fails (checked independently).
fn is_one_minimal(spec: &MockSpec, set: &LayerSet, atol: f64) -> Result<(), String> {
    let marked = set.to_vec();
    if !passes(spec, &marked, atol) {
        return Err(format!("the answer {marked:?} fails"));
    }
    for &layer in &marked {
        let without: Vec<usize> = marked.iter().copied().filter(|&i| i != layer).collect();
        if passes(spec, &without, atol) {
            return Err(format!("{marked:?} still passes without layer {layer}"));
        }
    }
    Ok(())
}

/// Random specs with constant noise, a few unmarkable layers and a few layers without an int8
/// implementation (so some plans fail to build).
fn specs(max_layers: usize) -> impl Strategy<Value = MockSpec> {
    arb_spec(GenOptions { max_layers, ..GenOptions::default() })
}

/// A tolerance between the error of marking everything and the error of marking nothing.
fn tolerance(spec: &MockSpec, t: f64) -> f64 {
    let all = markable_layers(spec);
    let low = expected_check(spec, Precision::Int8, Precision::Float32, &all, 0.0).max_absdiff;
    let high = expected_check(spec, Precision::Int8, Precision::Float32, &[], 0.0).max_absdiff;
    let (low, high) = (f64::from(low), f64::from(high));
    if high.is_finite() && low.is_finite() { low + t * (high - low) } else { 0.0 }
}

/// A chain of `layers` layers with `sensitive` of them (chosen by `seed`) losing far more in
/// int8 than the others; every tenth layer cannot be marked (and loses nothing).
fn scattered_chain(layers: usize, sensitive: usize, seed: u64) -> MockSpec {
    let mut text = format!(
        "name = \"chain\"\nseed = {seed}\nnoise = \"constant\"\n[[inputs]]\nname = \"x\"\nshape = [1, 32]\n"
    );
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < sensitive.min(layers * 9 / 10) {
        let i = (next() % layers as u64) as usize;
        if i % 10 != 9 && !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    for i in 0..layers {
        let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
        let (amp, markable) = if i % 10 == 9 {
            (0.0, false)
        } else if chosen.contains(&i) {
            (0.02 + 0.08 * unit, true)
        } else {
            (1e-4 + 9e-4 * unit, true)
        };
        let _ = write!(
            text,
            "[[layers]]\nname = \"l{i}\"\nerror = {{ int8 = {amp} }}\nmarkable = {markable}\n"
        );
    }
    backend_mock::MockBackend::from_toml_str(&text, "chain").expect("valid chain").spec().clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Ranked: the answer passes, is 1-minimal, marks only markable layers and stays within
    /// the budget it states; with nothing found, even every markable layer fails.
    #[test]
    fn ranked_answers_are_one_minimal_within_budget(
        spec in specs(150),
        t in 0.0f64..=1.0,
        floor in any::<bool>(),
        blocks in any::<bool>(),
    ) {
        let atol = tolerance(&spec, t);
        let markable = markable_layers(&spec);
        let c = markable.len();
        let prune = if blocks { Prune::Blocks } else { Prune::Single };
        let options = SearchOptions { noise_floor: floor, prune, ..SearchOptions::new(Algorithm::Ranked) };
        let outcome = run(&spec, atol, 1, &options);
        let markable_set = LayerSet::from_indices(spec.layers.len(), markable.iter().copied());
        for check in &outcome.checks {
            prop_assert!(check.marked.is_subset(&markable_set));
        }
        prop_assert_eq!(outcome.budget, Some(usize::from(floor) + ranked_budget(c, c, prune)));
        match &outcome.answer {
            Some(answer) => {
                if let Err(why) = is_one_minimal(&spec, answer, atol) {
                    return Err(TestCaseError::fail(why));
                }
                let k = outcome.minimized_from.unwrap_or(answer.len());
                prop_assert!(
                    outcome.checks.len() <= usize::from(floor) + ranked_budget(c, k, prune),
                    "{} checks, budget {} (c = {c}, k = {k}, {prune})",
                    outcome.checks.len(), usize::from(floor) + ranked_budget(c, k, prune)
                );
            }
            None => prop_assert!(!passes(&spec, &markable, atol)),
        }
    }

    /// `--minimize` turns the answers of bisect, linear and worst-first into 1-minimal subsets
    /// of themselves, within the search budget plus the pruning's (one check per answer layer
    /// one at a time, `2n - 1` in blocks).
    #[test]
    fn minimize_prunes_every_search_to_one_minimal(
        spec in specs(120),
        t in 0.0f64..=1.0,
        which in 0usize..4,
        blocks in any::<bool>(),
    ) {
        let atol = tolerance(&spec, t);
        let prune = if blocks { Prune::Blocks } else { Prune::Single };
        let (algorithm, direction) = [
            (Algorithm::Bisect, Direction::Reverse),
            (Algorithm::Bisect, Direction::Forward),
            (Algorithm::Linear, Direction::Reverse),
            (Algorithm::WorstFirst, Direction::Reverse),
        ][which];
        let plain = SearchOptions { direction, top_k: 3, prune, ..SearchOptions::new(algorithm) };
        let Ok(original) = run_search(&mut oracle(&spec, atol, 1), &plain, &mut NoObserver) else {
            return Ok(()); // worst-first cannot rank when the unmarked plan does not build
        };
        let minimized = run(&spec, atol, 1, &SearchOptions { minimize: true, ..plain.clone() });
        match (&original.answer, &minimized.answer) {
            (Some(big), Some(small)) => {
                prop_assert!(small.is_subset(big));
                prop_assert_eq!(minimized.minimized_from, Some(big.len()));
                if let Err(why) = is_one_minimal(&spec, small, atol) {
                    return Err(TestCaseError::fail(why));
                }
                prop_assert!(
                    minimized.checks.len() <= original.checks.len() + prune_budget(big.len(), prune)
                );
            }
            (None, None) => {}
            other => prop_assert!(false, "answers differ: {:?}", other),
        }
    }

    /// With P checks per round every search (pruning one at a time or in blocks) gives the
    /// answer it gives with one, and bisect
    /// needs at most ceil(log_{P+1}(C + 1)) + 1 rounds.
    #[test]
    fn parallel_checks_give_the_same_answers_in_fewer_rounds(
        spec in specs(200),
        t in 0.0f64..=1.0,
        jobs in 2usize..=4,
        which in 0usize..4,
        blocks in any::<bool>(),
    ) {
        let atol = tolerance(&spec, t);
        let c = markable_layers(&spec).len();
        let algorithm = [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked][which];
        let prune = if blocks { Prune::Blocks } else { Prune::Single };
        let options = SearchOptions { top_k: 4, minimize: algorithm == Algorithm::Bisect, prune, ..SearchOptions::new(algorithm) };
        let Ok(one) = run_search(&mut oracle(&spec, atol, 1), &options, &mut NoObserver) else {
            return Ok(());
        };
        let many = run(&spec, atol, jobs, &options);
        prop_assert_eq!(&many.answer, &one.answer, "{} with {} jobs", algorithm, jobs);
        prop_assert!(many.rounds() <= one.rounds());
        if algorithm == Algorithm::Bisect {
            let plain = SearchOptions::new(Algorithm::Bisect);
            let bisect = run(&spec, atol, jobs, &plain);
            prop_assert!(
                bisect.rounds() <= bisect_rounds(c, jobs),
                "{} rounds over {c} layers with {jobs} jobs", bisect.rounds()
            );
            // With the floor check, the floor's round included: still at most
            // ceil(log_{P+1}(C + 1)) + 1 rounds (the floor's plan is never checked again),
            // within the stated budget, and the same answer.
            let floor = SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Bisect) };
            let with_floor = run(&spec, atol, jobs, &floor);
            prop_assert!(
                with_floor.rounds() <= bisect_rounds(c, jobs),
                "{} rounds with the floor over {c} layers with {jobs} jobs", with_floor.rounds()
            );
            prop_assert!(with_floor.checks.len() <= with_floor.budget.unwrap_or(0));
            prop_assert_eq!(&with_floor.answer, &bisect.answer);
            let mut seen: Vec<&LayerSet> = with_floor.checks.iter().map(|i| &i.marked).collect();
            seen.sort_by_key(|s| s.to_vec());
            seen.dedup();
            prop_assert_eq!(seen.len(), with_floor.checks.len(), "a plan was checked twice");
        }
    }

    /// Exhaustively over the thresholds of small chains, bisect with the floor check and `P`
    /// checks per round makes at most ceil(log_{P+1}(C + 1)) + 1 rounds, floor included.
    #[test]
    fn bisect_rounds_with_the_floor_on_small_chains(
        layers in 1usize..40,
        jobs in 1usize..=4,
    ) {
        for threshold in 0..=layers {
            let spec = threshold_chain(layers, threshold);
            let floor = SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Bisect) };
            let outcome = run(&spec, 0.5, jobs, &floor);
            prop_assert!(
                outcome.rounds() <= bisect_rounds(layers, jobs),
                "{} rounds over {layers} layers with {jobs} jobs (threshold {threshold})",
                outcome.rounds()
            );
            let want = LayerSet::from_indices(layers, layers - threshold..layers);
            prop_assert_eq!(outcome.answer, Some(want));
        }
    }

    /// `--max-checks N` builds at most N checks, and its answer (the smallest passing set
    /// seen) passes; a search that finishes within N is complete.
    #[test]
    fn max_checks_gives_an_anytime_answer(
        spec in specs(150),
        t in 0.0f64..=1.0,
        max in 1usize..12,
        which in 0usize..3,
    ) {
        let atol = tolerance(&spec, t);
        let algorithm = [Algorithm::Bisect, Algorithm::Linear, Algorithm::Ranked][which];
        let limits = Limits { max_checks: Some(max), time_budget: None };
        let options = SearchOptions { noise_floor: true, limits, ..SearchOptions::new(algorithm) };
        let outcome = run(&spec, atol, 1, &options);
        prop_assert!(outcome.checks.len() <= max);
        prop_assert_eq!(outcome.complete, outcome.stop_reason.is_none());
        if let Some(answer) = &outcome.answer {
            prop_assert!(passes(&spec, &answer.to_vec(), atol));
        }
        if !outcome.complete {
            prop_assert_eq!(outcome.checks.len(), max);
        }
    }

    /// On chains whose sensitive layers are scattered, ranked never marks more than bisect
    /// and stays within ceil(log2(L + 1)) + |S| + 2 checks.
    #[test]
    fn ranked_beats_bisect_on_scattered_chains(
        layers in 20usize..300,
        sensitive in 1usize..8,
        seed in any::<u64>(),
        t in 0.05f64..0.9,
    ) {
        let spec = scattered_chain(layers, sensitive, seed);
        let atol = tolerance(&spec, t);
        let floor = SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Ranked) };
        let ranked = run(&spec, atol, 1, &floor);
        let bisect = run(&spec, atol, 1, &SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Bisect) });
        let (Some(r), Some(b)) = (&ranked.answer, &bisect.answer) else {
            prop_assert_eq!(ranked.answer.is_some(), bisect.answer.is_some());
            return Ok(());
        };
        prop_assert!(r.len() <= b.len(), "ranked {} layers, bisect {}", r.len(), b.len());
        let bound = (usize::BITS - layers.leading_zeros()) as usize + r.len() + 2;
        prop_assert!(ranked.checks.len() <= bound, "{} checks > {bound}", ranked.checks.len());
    }
}

/// A chain of `layers` layers where the first `layers - threshold` add no error and each of
/// the last `threshold` adds 0.6 in INT8, so with atol 0.5 every one of them must be marked:
/// the reverse answer is the last `threshold` layers. `noise = "constant"`, gain 1.
fn threshold_chain(layers: usize, threshold: usize) -> MockSpec {
    let mut text = String::from("noise = \"constant\"\n[[inputs]]\nname = \"x\"\nshape = [2]\n");
    for i in 0..layers {
        let _ = write!(text, "[[layers]]\nname = \"l{i}\"\n");
        if i + threshold >= layers {
            let _ = writeln!(text, "error = {{ int8 = 0.6 }}");
        }
    }
    MockSpec::from_toml_str(&text, "threshold").expect("a valid chain")
}

/// A network whose unmarkable layer alone exceeds the tolerance: one check (the floor) and a
/// clear "no configuration can pass", with the tolerance it would need.
#[test]
fn a_failing_noise_floor_stops_the_search_at_once() {
    let text = "name = \"floor\"\nnoise = \"constant\"\n[[inputs]]\nname = \"x\"\nshape = [1, 8]\n\
        [[layers]]\nname = \"a\"\nerror = { int8 = 0.01 }\n\
        [[layers]]\nname = \"b\"\nerror = { int8 = 0.5 }\nmarkable = false\n";
    let spec = MockBackend::from_toml_str(text, "floor").unwrap().spec().clone();
    for algorithm in
        [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked]
    {
        let options = SearchOptions { noise_floor: true, ..SearchOptions::new(algorithm) };
        let outcome = run(&spec, 0.1, 1, &options);
        assert_eq!(outcome.answer, None, "{algorithm}");
        assert_eq!(outcome.checks.len(), 1, "{algorithm}");
        let floor = outcome.noise_floor.expect("the floor was checked");
        assert!(!floor.passed);
        assert!((floor.outputs[0].required_atol - 0.5).abs() < 1e-6, "{:?}", floor.outputs);
    }
}

/// How close ranked gets to the true minimum on small chains, found by brute force over every
/// subset of the markable layers. Prints the distribution; asserts ranked is never below the
/// minimum (that would be a wrong answer) and is on average within 10% of it.
#[test]
fn ranked_is_close_to_the_true_minimum_on_small_chains() {
    let mut ratios = Vec::new();
    let mut exact = 0;
    for seed in 0..120u64 {
        let layers = 6 + (seed % 9) as usize; // 6..14 layers, every tenth unmarkable
        let spec = scattered_chain(layers, 1 + (seed % 4) as usize, seed);
        let atol = tolerance(&spec, 0.1 + 0.8 * ((seed * 37 % 100) as f64 / 100.0));
        let markable = markable_layers(&spec);
        let outcome = run(&spec, atol, 1, &SearchOptions::new(Algorithm::Ranked));
        let Some(answer) = outcome.answer else {
            assert!(!passes(&spec, &markable, atol));
            continue;
        };
        let minimum = (0u32..1 << markable.len())
            .filter(|mask| {
                let subset: Vec<usize> = markable
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| mask & (1 << bit) != 0)
                    .map(|(_, &layer)| layer)
                    .collect();
                passes(&spec, &subset, atol)
            })
            .map(u32::count_ones)
            .min()
            .expect("marking everything passes when ranked found an answer")
            as usize;
        assert!(answer.len() >= minimum, "seed {seed}: below the minimum");
        exact += usize::from(answer.len() == minimum);
        ratios.push(if minimum == 0 { 1.0 } else { answer.len() as f64 / minimum as f64 });
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let worst = ratios.iter().copied().fold(1.0, f64::max);
    eprintln!(
        "ranked vs brute-force minimum on {} small chains: {exact} exact, mean |S|/min {mean:.3}, worst {worst:.2}",
        ratios.len()
    );
    assert!(mean <= 1.1, "mean ratio {mean}");
}

/// `kept` drawn from the markable layers by `bits`.
fn kept_from(spec: &MockSpec, bits: u64) -> Vec<usize> {
    markable_layers(spec).into_iter().filter(|&i| bits >> (i % 64) & 1 == 1).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Layers kept from the start (the FP16 pre-screen's) are in every check and in the
    /// answer; the answer passes; the searches that prune leave nothing else removable; and
    /// no search makes more checks than the budget it states for the layers left to choose.
    #[test]
    fn kept_layers_are_in_every_check_and_every_answer(
        spec in specs(100),
        t in 0.0f64..=1.0,
        bits in any::<u64>(),
        which in 0usize..5,
        jobs in 1usize..=3,
    ) {
        let atol = tolerance(&spec, t);
        let kept = kept_from(&spec, bits & bits.rotate_left(7)); // about a quarter
        let algorithm = [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked, Algorithm::Bisect][which];
        let options = SearchOptions {
            kept: kept.clone(),
            minimize: which == 4,
            noise_floor: true,
            top_k: 3,
            ..SearchOptions::new(algorithm)
        };
        let Ok(outcome) = run_search(&mut oracle(&spec, atol, jobs), &options, &mut NoObserver) else {
            return Ok(()); // worst-first cannot rank when its start plan does not build
        };
        let kept_set = LayerSet::from_indices(spec.layers.len(), kept.iter().copied());
        prop_assert_eq!(&outcome.kept, &kept);
        for check in &outcome.checks {
            prop_assert!(kept_set.is_subset(&check.marked), "{:?} lacks {:?}", check.marked, kept);
        }
        let budget = precision_core::search::search_budget(&options, &backend(&spec).network().clone(), jobs);
        prop_assert_eq!(outcome.budget, budget);
        match &outcome.answer {
            Some(answer) => {
                prop_assert!(kept_set.is_subset(answer));
                prop_assert!(passes(&spec, &answer.to_vec(), atol), "the answer fails");
                if algorithm == Algorithm::Ranked || options.minimize {
                    for layer in answer.iter().filter(|&i| !kept_set.contains(i)) {
                        let mut without = answer.clone();
                        without.remove(layer);
                        prop_assert!(!passes(&spec, &without.to_vec(), atol), "{layer} is removable");
                    }
                }
            }
            None => prop_assert!(!passes(&spec, &markable_layers(&spec), atol)),
        }
        if let Some(budget) = budget {
            // One more check per layer the builder refused (worst-first's restart).
            prop_assert!(outcome.checks.len() <= budget + outcome.refused.len());
        }
    }
}

#[test]
fn a_kept_layer_must_exist_and_be_markable() {
    let spec = scattered_chain(20, 3, 1);
    let atol = tolerance(&spec, 0.5);
    for (kept, says) in [(vec![25], "the network has 20 layers"), (vec![9], "cannot be marked")] {
        let options = SearchOptions { kept, ..SearchOptions::new(Algorithm::Bisect) };
        let err = run_search(&mut oracle(&spec, atol, 1), &options, &mut NoObserver).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// `--curve`: the points are heads of the ranking (plus the answer), each the verdict and
    /// error of a logged check; heads pass from the shortest passing one on (constant noise
    /// is monotone); the answer and budget are those of ranked without the curve plus at
    /// most CURVE_POINTS checks.
    #[test]
    fn the_curve_is_made_of_logged_heads_and_leaves_the_answer_alone(
        spec in specs(120),
        t in 0.0f64..=1.0,
        jobs in 1usize..=3,
        bits in any::<u64>(),
    ) {
        let atol = tolerance(&spec, t);
        let kept = kept_from(&spec, bits & bits.rotate_left(5) & bits.rotate_left(11));
        let plain = SearchOptions { kept, noise_floor: true, ..SearchOptions::new(Algorithm::Ranked) };
        let Ok(without) = run_search(&mut oracle(&spec, atol, jobs), &plain, &mut NoObserver) else {
            return Ok(());
        };
        let options = SearchOptions { curve: true, ..plain.clone() };
        let with = run(&spec, atol, jobs, &options);
        prop_assert_eq!(&with.answer, &without.answer);
        prop_assert!(with.checks.len() <= without.checks.len() + precision_core::search::CURVE_POINTS);
        prop_assert!(with.budget.unwrap() >= with.checks.len());
        let Some(answer) = &with.answer else {
            prop_assert!(with.curve.is_empty());
            return Ok(());
        };
        if with.ranking.is_empty() || with.curve.is_empty() {
            // Nothing marked passed at once: there is no head to trade off.
            prop_assert!(with.curve.is_empty());
            return Ok(());
        }
        prop_assert_eq!(with.curve.iter().filter(|p| p.answer).count(), 1);
        prop_assert!(with.curve.windows(2).all(|w| w[0].layers <= w[1].layers));
        let kept_len = with.kept.len();
        let mut shortest_passing: Option<usize> = None;
        for p in &with.curve {
            let check = &with.checks[p.check - 1];
            prop_assert_eq!(check.marked.len(), p.layers);
            prop_assert_eq!(check.passed, p.passed);
            prop_assert_eq!(p.passed, p.error_ratio <= 1.0 || p.error_ratio.is_nan() && p.passed);
            if let Some(n) = p.head {
                prop_assert_eq!(p.layers, n + kept_len);
                let head: Vec<usize> = with.ranking[..n].to_vec();
                prop_assert!(head.iter().all(|&i| check.marked.contains(i)));
                if p.passed { shortest_passing = Some(shortest_passing.map_or(n, |s| s.min(n))); }
            } else {
                prop_assert_eq!(&check.marked, answer);
            }
        }
        if let Some(s) = shortest_passing {
            for p in with.curve.iter().filter(|p| p.head.is_some_and(|n| n >= s)) {
                prop_assert!(p.passed, "head {:?} after a passing head {} fails", p.head, s);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// `--group`: a search over groups checks and answers whole groups; the answer passes;
    /// ranked's answer loses no group without failing; and grouping each layer alone (names
    /// without '/' under name-prefix:1) gives exactly the search over layers.
    #[test]
    fn grouped_searches_answer_in_whole_groups(
        spec in specs(100),
        t in 0.0f64..=1.0,
        which in 0usize..4,
        by_op in any::<bool>(),
        bits in any::<u64>(),
    ) {
        use precision_core::group::{GroupedOracle, Grouping};
        let atol = tolerance(&spec, t);
        let algorithm = [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked][which];
        let options = SearchOptions { top_k: 2, noise_floor: true, ..SearchOptions::new(algorithm) };
        let grouping = if by_op { Grouping::OpType } else { Grouping::NamePrefix(1) };
        let n = spec.layers.len();
        let mut inner = oracle(&spec, atol, 1);
        let kept = kept_from(&spec, bits & bits.rotate_left(9) & bits.rotate_left(17));
        let always = LayerSet::from_indices(n, kept.iter().copied());
        let mut grouped = GroupedOracle::new(&mut inner, grouping, always.clone());
        let groups = grouped.groups().to_vec();
        let Ok(outcome) = run_search(&mut grouped, &options, &mut NoObserver) else {
            return Ok(());
        };
        let (outcome, report) = grouped.expand_outcome(grouping, outcome);
        let whole = |set: &LayerSet| {
            groups.iter().all(|g| {
                let inside = g.layers.iter().filter(|&&i| set.contains(i)).count();
                inside == 0 || inside == g.layers.len()
            })
        };
        for check in &outcome.checks {
            prop_assert!(whole(&check.marked), "{:?} splits a group", check.marked);
            prop_assert!(always.is_subset(&check.marked), "{:?} lacks the kept layers", check.marked);
        }
        prop_assert_eq!(&outcome.kept, &kept);
        match &outcome.answer {
            Some(answer) => {
                prop_assert!(passes(&spec, &answer.to_vec(), atol));
                let named: usize = report.groups.iter().filter(|g| g.marked).map(|g| g.layers.len()).sum();
                prop_assert_eq!(named + kept.len(), answer.len());
                prop_assert_eq!(report.answer.len(), report.groups.iter().filter(|g| g.marked).count());
                if algorithm == Algorithm::Ranked {
                    for g in report.groups.iter().filter(|g| g.marked) {
                        let without: Vec<usize> = answer.iter().filter(|i| !g.layers.contains(i)).collect();
                        prop_assert!(!passes(&spec, &without, atol), "group {} is removable", g.name);
                    }
                }
            }
            None => prop_assert!(!passes(&spec, &markable_layers(&spec), atol)),
        }
        if !by_op && spec.layers.iter().all(|l| !l.name.contains('/')) {
            let plain = run(&spec, atol, 1, &SearchOptions { kept: kept.clone(), ..options.clone() });
            prop_assert_eq!(&outcome.answer, &plain.answer);
            prop_assert_eq!(outcome.checks.len(), plain.checks.len());
        }
    }
}
