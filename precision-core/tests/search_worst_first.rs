//! Worst-first against fake oracles: graph-following ranking, zero and NaN errors,
//! multi-output layers, unmarkable layers, budgets and errors.

mod search_common;

use precision_core::search::{candidates, rank_layers, worst_first, worst_first_budget};
use precision_core::{Algorithm, LayerSet, NoObserver, OutputSelection, SearchError};
use proptest::prelude::*;
use search_common::{Event, NeededOracle, Recorder, chain, cmp, dag};

/// x -> A -> a -> C -> c --\
/// x -> B -> b -> D -> d ---> E -> e
fn branching() -> (precision_core::Network, Vec<precision_core::OutputComparison>) {
    let net = dag(
        &[
            ("A", &["x"], &["a"]),
            ("B", &["x"], &["b"]),
            ("C", &["a"], &["c"]),
            ("D", &["b"], &["d"]),
            ("E", &["c", "d"], &["e"]),
        ],
        &["e"],
    );
    let errors = vec![
        cmp("a", 0.1, false),
        cmp("b", 0.0, true),
        cmp("c", 0.1, false),
        cmp("d", 5.0, false),
        cmp("e", 5.0, false),
    ];
    (net, errors)
}

fn order(ranked: &[precision_core::search::LayerSensitivity]) -> Vec<usize> {
    ranked.iter().map(|r| r.index).collect()
}

#[test]
fn ranking_follows_the_graph_not_the_layer_order() {
    let (net, errors) = branching();
    let ranked = rank_layers(&net, &errors);
    // D turns exact input b into error 5 and A exact x into 0.1 (both infinite ratios, larger
    // out_err first); E and C pass their input error through (ratio 1); B adds nothing.
    assert_eq!(order(&ranked), vec![3, 0, 4, 2, 1]);
    assert_eq!(ranked[0].in_err, 0.0);
    assert_eq!(ranked[0].ratio, f64::INFINITY);
    let e = ranked.iter().find(|r| r.index == 4).unwrap();
    assert_eq!((e.in_err, e.out_err, e.ratio), (5.0, 5.0, 1.0));
    let b = ranked.iter().find(|r| r.index == 1).unwrap();
    assert_eq!((b.in_err, b.out_err, b.ratio), (0.0, 0.0, 0.0));
}

#[test]
fn multi_output_layers_with_zero_and_nan_errors() {
    // Z makes z exactly; S writes s1 and s2 (NaN); Q reads s2; P reads s1; R reads p and q.
    let net = dag(
        &[
            ("Z", &["x"], &["z"]),
            ("S", &["x"], &["s1", "s2"]),
            ("Q", &["s2"], &["q"]),
            ("P", &["s1"], &["p"]),
            ("R", &["p", "q"], &["r"]),
        ],
        &["r", "z"],
    );
    let errors = [
        cmp("z", 0.0, true),
        cmp("s1", 0.2, false),
        cmp("s2", f64::NAN, false),
        cmp("q", f64::NAN, false),
        cmp("p", 0.4, false),
        cmp("r", 1.0, false),
    ];
    let ranked = rank_layers(&net, &errors);
    assert!(ranked.iter().all(|r| !r.ratio.is_nan()));
    // S: NaN output from exact input (inf); P: 0.4 / 0.2 = 2; Q: NaN through (1);
    // R: finite from an infinite input (0, out 1); Z: nothing (0, out 0).
    assert_eq!(order(&ranked), vec![1, 3, 2, 4, 0]);
    let ratio = |i: usize| ranked.iter().find(|r| r.index == i).unwrap().ratio;
    assert_eq!(ratio(1), f64::INFINITY);
    assert!((ratio(3) - 2.0).abs() < 1e-12);
    assert_eq!(ratio(2), 1.0);
    assert_eq!(ratio(4), 0.0);
    assert_eq!(ranked.iter().find(|r| r.index == 1).unwrap().out_err, f64::INFINITY);
}

#[test]
fn marks_top_k_more_per_check() {
    let (net, errors) = branching();
    let mut oracle = NeededOracle::new(net, &[2]);
    oracle.layer_outputs = Some(errors);
    let mut rec = Recorder::default();
    let out = worst_first(&mut oracle, 2, &mut rec).unwrap();
    let sets: Vec<Vec<usize>> = out.checks.iter().map(|i| i.marked.to_vec()).collect();
    assert_eq!(sets, vec![vec![], vec![0, 3], vec![0, 2, 3, 4]]);
    let details: Vec<OutputSelection> = oracle.calls.iter().map(|(_, d)| *d).collect();
    assert_eq!(
        details,
        vec![
            OutputSelection::EveryLayer,
            OutputSelection::NetworkOutputs,
            OutputSelection::NetworkOutputs
        ]
    );
    assert_eq!(out.answer.unwrap().to_vec(), vec![0, 2, 3, 4]);
    assert_eq!(out.algorithm, Algorithm::WorstFirst);
    assert_eq!(out.direction, None);
    assert_eq!(rec.events[0], Event::Started(Algorithm::WorstFirst, Some(4)));
    rec.assert_well_numbered(3);
    assert!(rec.notes().contains(
        &"layers adding the most error (output/input error ratio): 'D' (inf), 'A' (inf), \
          'E' (1.000), 'C' (1.000), 'B' (0.000)"
    ));
}

#[test]
fn passing_first_check_answers_the_empty_set() {
    let (net, errors) = branching();
    let mut oracle = NeededOracle::new(net, &[]);
    oracle.layer_outputs = Some(errors);
    let out = worst_first(&mut oracle, 5, &mut NoObserver).unwrap();
    assert_eq!(out.checks.len(), 1);
    assert_eq!(out.answer, Some(LayerSet::empty(5)));
}

#[test]
fn unmarkable_layers_are_never_marked_but_carry_error() {
    // Layer 2 cannot be marked and adds a huge error; its consumer 3 then sees a big input error.
    let net = chain(6, &[2]);
    let errors: Vec<_> = [0.1, 0.1, 100.0, 100.0, 300.0, 300.0]
        .iter()
        .enumerate()
        .map(|(i, &e)| cmp(&format!("t{i}"), e, false))
        .collect();
    let ranked = rank_layers(&net, &errors);
    // t0 from x: inf; t4 = 3 x t3: 3; the rest pass error through (1), larger out_err first.
    assert_eq!(order(&ranked), vec![0, 4, 5, 3, 1]);
    let mut oracle = NeededOracle::new(net.clone(), &[5, 1]);
    oracle.layer_outputs = Some(errors.clone());
    let out = worst_first(&mut oracle, 2, &mut NoObserver).unwrap();
    assert_eq!(out.answer.unwrap().to_vec(), vec![0, 1, 3, 4, 5]);
    assert_eq!(out.checks.len(), 4);

    // Needing the unmarkable layer: every markable layer gets marked, then None.
    let mut oracle = NeededOracle::new(net, &[2]);
    oracle.layer_outputs = Some(errors);
    let out = worst_first(&mut oracle, 2, &mut NoObserver).unwrap();
    assert!(out.answer.is_none());
    assert_eq!(out.checks.len(), 1 + 3);
    assert_eq!(out.checks.last().unwrap().marked.to_vec(), vec![0, 1, 3, 4, 5]);
}

#[test]
fn top_k_larger_than_the_network() {
    let net = chain(3, &[]);
    let errors: Vec<_> = (0..3).map(|i| cmp(&format!("t{i}"), 1.0, false)).collect();
    let mut oracle = NeededOracle::new(net, &[1]);
    oracle.layer_outputs = Some(errors);
    let mut rec = Recorder::default();
    let out = worst_first(&mut oracle, 10, &mut rec).unwrap();
    assert_eq!(rec.budget(), Some(2));
    assert_eq!(out.checks.len(), 2);
    assert_eq!(out.answer.unwrap().to_vec(), vec![0, 1, 2]);
}

#[test]
fn empty_network() {
    let mut oracle = NeededOracle::new(chain(0, &[]), &[]);
    oracle.layer_outputs = Some(vec![]);
    let out = worst_first(&mut oracle, 5, &mut NoObserver).unwrap();
    assert_eq!((out.checks.len(), out.answer), (1, Some(LayerSet::empty(0))));

    // Nothing to mark and the first check fails: no answer after one check.
    let mut oracle = NeededOracle::new(chain(0, &[]), &[0]);
    oracle.layer_outputs = Some(vec![]);
    let mut rec = Recorder::default();
    let out = worst_first(&mut oracle, 5, &mut rec).unwrap();
    assert_eq!((out.checks.len(), out.answer), (1, None));
    assert_eq!(rec.budget(), Some(1));
}

#[test]
fn rejects_top_k_zero() {
    let mut oracle = NeededOracle::new(chain(3, &[]), &[]);
    let err = worst_first(&mut oracle, 0, &mut NoObserver).unwrap_err();
    assert!(matches!(err, SearchError::InvalidOption(_)));
    assert!(err.to_string().contains("--top"), "{err}");
    assert!(oracle.calls.is_empty());
}

#[test]
fn needs_layer_outputs() {
    let mut oracle = NeededOracle::new(chain(3, &[]), &[1]);
    let err = worst_first(&mut oracle, 5, &mut NoObserver).unwrap_err();
    assert!(matches!(err, SearchError::Unsupported(_)));
    assert!(err.to_string().contains("cannot return every layer's output"), "{err}");

    let mut oracle = NeededOracle::new(chain(3, &[]), &[1]);
    oracle.layer_outputs = Some(vec![]);
    oracle.build_fails = |s| s.is_empty();
    let err = worst_first(&mut oracle, 5, &mut NoObserver).unwrap_err();
    assert!(err.to_string().contains("failed to build"), "{err}");
}

#[test]
fn notes_layers_without_compared_outputs() {
    let net = chain(4, &[]);
    let mut oracle = NeededOracle::new(net, &[1]);
    // t3 is the network output and comes through the evaluation's outputs.
    oracle.layer_outputs = Some(vec![cmp("t0", 1.0, false)]);
    let mut rec = Recorder::default();
    let out = worst_first(&mut oracle, 1, &mut rec).unwrap();
    assert!(rec.notes().iter().any(|n| n.starts_with("2 of 4 markable layers have no compared")));
    // L0 (t0: error 1 from x) and L3 (the failing network output t3, error 1, from the
    // unmeasured t2) both add infinite ratios with equal out_err: lower index first. The
    // unmeasured L1 and L2 come last.
    assert_eq!(out.checks[1].marked.to_vec(), vec![0]);
    assert_eq!(out.checks[2].marked.to_vec(), vec![0, 3]);
    assert_eq!(out.answer.unwrap().to_vec(), vec![0, 1, 3]);
}

#[test]
fn ten_thousand_layers() {
    let n = 10_000;
    let errors: Vec<_> = (0..n).map(|i| cmp(&format!("t{i}"), 1.0 + i as f64, false)).collect();
    let mut oracle = NeededOracle::new(chain(n, &[]), &[5_000]);
    oracle.layer_outputs = Some(errors);
    let mut rec = Recorder::default();
    let out = worst_first(&mut oracle, 5, &mut rec).unwrap();
    assert_eq!(rec.budget(), Some(2_001));
    // Ratios (i + 1) / i fall with i, so layers rank in index order: 5_001 layers needed.
    assert_eq!(out.checks.len(), 1 + 1_001);
    assert_eq!(out.answer.unwrap().len(), 5_005);
}

/// A random DAG: each layer reads one or two earlier tensors (or x) and writes one or two.
fn random_dag() -> impl Strategy<Value = (precision_core::Network, Vec<f64>, Vec<usize>, usize)> {
    (0_usize..40).prop_flat_map(|n| {
        (
            proptest::collection::vec((any::<u16>(), any::<u16>(), 1_usize..3, any::<bool>()), n),
            proptest::collection::vec(
                prop_oneof![Just(0.0), 0.0_f64..10.0, Just(f64::NAN), Just(f64::INFINITY)],
                2 * n,
            ),
            proptest::collection::vec(0..n.max(1), 0..4),
            1_usize..8,
        )
            .prop_map(move |(shape, errors, needed, top_k)| {
                let mut tensors = vec!["x".to_owned()];
                let mut layers = Vec::new();
                for (i, &(a, b, outs, markable)) in shape.iter().enumerate() {
                    let mut inputs = vec![tensors[a as usize % tensors.len()].clone()];
                    let second = tensors[b as usize % tensors.len()].clone();
                    if !inputs.contains(&second) {
                        inputs.push(second);
                    }
                    let outputs: Vec<String> = (0..outs).map(|o| format!("t{i}_{o}")).collect();
                    tensors.extend(outputs.iter().cloned());
                    let mut layer =
                        precision_core::Layer::new(i, format!("L{i}"), "Op", inputs, outputs);
                    if !markable && i % 3 == 0 {
                        layer.unmarkable_reason = Some("int8 only".into());
                    }
                    layers.push(layer);
                }
                let net = precision_core::Network {
                    name: "random".into(),
                    inputs: vec![precision_core::TensorInfo::fixed(
                        "x",
                        precision_core::DType::F32,
                        &[1],
                    )],
                    outputs: vec![tensors.last().cloned().unwrap_or_else(|| "x".into())],
                    layers,
                };
                (net, errors, needed.into_iter().filter(|&i| i < n).collect(), top_k)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    /// Worst-first marks growing prefixes of the ranking, never an unmarkable layer, within
    /// budget, and answers iff the needed layers can all be marked.
    #[test]
    fn worst_first_marks_ranked_prefixes((net, errors, needed, top_k) in random_dag()) {
        let names: Vec<String> = net.layers.iter().flat_map(|l| l.outputs.clone()).collect();
        let comparisons: Vec<_> =
            names.iter().zip(&errors).map(|(n, &e)| cmp(n, e, false)).collect();
        let c = candidates(&net).len();
        let mut oracle = NeededOracle::new(net.clone(), &needed);
        oracle.layer_outputs = Some(comparisons.clone());
        let out = worst_first(&mut oracle, top_k, &mut NoObserver).unwrap();
        prop_assert!(out.checks.len() <= worst_first_budget(c, top_k));

        // The search ranks with the first check's layer and network output comparisons.
        let ranked = rank_layers(&net, comparisons.iter().chain(&out.checks[0].outputs));
        prop_assert!(ranked.iter().all(|r| !r.ratio.is_nan()));
        let mut ranked_indices = order(&ranked);
        ranked_indices.sort_unstable();
        prop_assert_eq!(&ranked_indices, &candidates(&net));
        let ranking = order(&ranked);
        for (k, check) in out.checks.iter().enumerate() {
            let count = (k * top_k).min(c);
            let want = LayerSet::from_indices(net.len(), ranking[..count].iter().copied());
            prop_assert_eq!(&check.marked, &want);
        }
        let satisfiable = needed.iter().all(|&i| net.layers[i].is_markable());
        prop_assert_eq!(out.answer.is_some(), satisfiable);
        if let Some(answer) = out.answer {
            prop_assert!(oracle.passes(&answer));
        }
    }
}

/// An oracle over a chain whose builder refuses, in the lower precision, the layers `refuse`
/// gives for a plan (naming them in the build error), and otherwise passes iff every
/// `needed` layer is marked; a layer output's error counts the needed layers left unmarked
/// up to it.
struct Refusing {
    network: precision_core::Network,
    refuse: fn(&LayerSet) -> Vec<usize>,
    needed: Vec<usize>,
    calls: Vec<LayerSet>,
}

impl precision_core::Oracle for Refusing {
    fn network(&self) -> &precision_core::Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<precision_core::Evaluation, SearchError> {
        self.calls.push(marked.clone());
        let refused = (self.refuse)(marked);
        if !refused.is_empty() {
            let text = format!("no int8 implementation for layers {refused:?}");
            return Ok(precision_core::Evaluation {
                refused,
                ..precision_core::Evaluation::build_failure(text, std::time::Duration::ZERO)
            });
        }
        let mut unmarked = 0.0;
        let mut layers = Vec::new();
        for i in 0..self.network.len() {
            if self.needed.contains(&i) && !marked.contains(i) {
                unmarked += 1.0;
            }
            layers.push(cmp(&format!("t{i}"), unmarked, unmarked == 0.0));
        }
        let passed = unmarked == 0.0;
        let mut evaluation =
            precision_core::Evaluation::build_failure(String::new(), std::time::Duration::ZERO);
        evaluation.build_error = None;
        evaluation.passed = passed;
        evaluation.outputs = vec![layers.last().cloned().expect("a layer")];
        evaluation.layer_outputs = (detail != OutputSelection::NetworkOutputs).then_some(layers);
        Ok(evaluation)
    }
}

fn refusing(refuse: fn(&LayerSet) -> Vec<usize>, unmarkable: &[usize]) -> Refusing {
    Refusing { network: chain(6, unmarkable), refuse, needed: vec![2], calls: Vec::new() }
}

/// When the plan with nothing marked fails to build and the builder names the layers it
/// refuses (one at a time here, as ONNX Runtime does), worst-first marks them, checks again,
/// says so, ranks the other layers and adds them to the refused ones; the refused layers
/// are in the outcome.
#[test]
fn worst_first_starts_from_the_layers_the_builder_refuses() {
    fn one_at_a_time(marked: &LayerSet) -> Vec<usize> {
        [1, 4].into_iter().find(|&i| !marked.contains(i)).into_iter().collect()
    }
    let mut oracle = refusing(one_at_a_time, &[]);
    let mut rec = Recorder::default();
    let out = worst_first(&mut oracle, 1, &mut rec).unwrap();
    assert_eq!(out.refused, vec![1, 4]);
    assert_eq!(out.answer.map(|a| a.to_vec()), Some(vec![1, 2, 4]));
    let calls: Vec<Vec<usize>> = oracle.calls.iter().map(LayerSet::to_vec).collect();
    assert_eq!(calls, vec![vec![], vec![1], vec![1, 4], vec![1, 2, 4]]);
    let notes = rec.notes();
    assert!(
        notes.iter().any(|n| n.contains("the plan with nothing marked failed to build")
            && n.contains("'L1'")
            && n.contains("exactly those marked")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("that plan failed to build")
            && n.contains("'L4'")
            && n.contains("those marked too")),
        "{notes:?}"
    );
    // The ranking leaves the refused layers out.
    assert!(out.sensitivity.iter().all(|s| s.index != 1 && s.index != 4));
    // Ranked starts from them too and never tries to remove them.
    let mut oracle = refusing(one_at_a_time, &[]);
    let options = precision_core::SearchOptions::new(Algorithm::Ranked);
    let out = precision_core::run_search(&mut oracle, &options, &mut NoObserver).unwrap();
    assert_eq!(out.refused, vec![1, 4]);
    assert_eq!(out.answer.map(|a| a.to_vec()), Some(vec![1, 2, 4]));
    for call in &oracle.calls[3..] {
        assert!(call.contains(1) && call.contains(4), "{call:?}");
    }
}

/// When marking the refused layers cannot help, the search stops with a clear error: the
/// builder names a layer that cannot be marked, one beyond the network, one that is already
/// marked, or none at all.
#[test]
fn worst_first_stops_clearly_when_refused_layers_cannot_be_marked() {
    fn always_one(_: &LayerSet) -> Vec<usize> {
        vec![1]
    }
    fn beyond(_: &LayerSet) -> Vec<usize> {
        vec![99]
    }
    for (refuse, unmarkable, needle) in [
        (
            always_one as fn(&LayerSet) -> Vec<usize>,
            &[1][..],
            "refuses 'L1' in the lower precision, which cannot be marked",
        ),
        (beyond, &[][..], "beyond the network's 6 layers"),
        (always_one, &[][..], "even with the layers the builder refused marked"),
    ] {
        let mut oracle = refusing(refuse, unmarkable);
        let err = worst_first(&mut oracle, 1, &mut NoObserver).unwrap_err();
        let SearchError::Unsupported(message) = &err else { panic!("{err:?}") };
        assert!(message.contains(needle), "{message}");
        assert!(message.contains("use bisect or linear instead"), "{message}");
    }
}
