//! The `BackendOracle` over sample sources: samples read on demand, per-sample tallies,
//! `--ranking-samples` and the holdout check.

mod search_common;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use precision_core::oracle::BackendOracle;
use precision_core::{
    CompareConfig, LayerSet, NamedTensors, Oracle, OutputSelection, Precision, PrecisionPlan,
    Samples, TensorSets,
};
use search_common::backend::{FakeBackend, feed, max_absdiff_compare, scalar};
use search_common::chain;

/// Feeds `x` made when asked for, recording which were asked for.
struct Generated {
    xs: Vec<f32>,
    asked: Arc<Mutex<Vec<usize>>>,
}

impl TensorSets for Generated {
    fn len(&self) -> usize {
        self.xs.len()
    }

    fn get(&self, index: usize) -> Result<Cow<'_, NamedTensors>, String> {
        self.asked.lock().unwrap().push(index);
        let x = *self.xs.get(index).ok_or("no such sample")?;
        if x.is_nan() {
            return Err(format!("sample file s{index}.npz: array 'x' is unreadable"));
        }
        Ok(Cow::Owned(feed(x)))
    }

    fn label(&self, index: usize) -> String {
        format!("s{index}.npz")
    }
}

/// Goldens of the float32 run on `xs` (network outputs only), with `bump` added to the golden
/// of the samples listed.
fn goldens(backend: &FakeBackend, xs: &[f32], bump: &[usize]) -> Vec<NamedTensors> {
    let inputs: Vec<NamedTensors> = xs.iter().map(|&x| feed(x)).collect();
    backend
        .float32_run(&inputs)
        .into_iter()
        .enumerate()
        .map(|(i, run)| {
            backend
                .network
                .outputs
                .iter()
                .map(|o| {
                    let mut v = run[o.as_str()].as_f32().unwrap().iter().sum::<f32>();
                    if bump.contains(&i) {
                        v += 1.0;
                    }
                    (o.clone(), scalar(v))
                })
                .collect()
        })
        .collect()
}

fn oracle(errors: &[f32], xs: &[f32], bump: &[usize]) -> BackendOracle<FakeBackend> {
    oracle_asked(errors, xs, bump).0
}

/// The oracle, and the list of the input samples it asked for.
fn oracle_asked(
    errors: &[f32],
    xs: &[f32],
    bump: &[usize],
) -> (BackendOracle<FakeBackend>, Arc<Mutex<Vec<usize>>>) {
    let backend = FakeBackend::new(chain(errors.len(), &[]), errors);
    let goldens = goldens(&backend, xs, bump);
    let plan =
        PrecisionPlan::new(&backend.network, vec![Precision::Int8], Precision::Float32).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let inputs = Generated { xs: xs.to_vec(), asked: Arc::clone(&asked) };
    let samples = Samples { inputs: Box::new(inputs), goldens: Box::new(goldens) };
    let oracle = BackendOracle::with_samples(backend, plan, samples, CompareConfig::default())
        .unwrap()
        .with_compare_fn(max_absdiff_compare);
    (oracle, asked)
}

fn set(universe: usize, indices: &[usize]) -> LayerSet {
    LayerSet::from_indices(universe, indices.iter().copied())
}

#[test]
fn each_check_reads_every_sample_in_order_and_tallies_them() {
    // Layer 0 errs by 0.06 % of x: 0.0006 at x = 1 passes 1e-3, 0.0018 at x = 3 fails.
    let mut oracle = oracle(&[0.0006, 0.0, 0.0], &[1.0, 3.0, 0.5, 2.0], &[]);
    let eval = oracle.evaluate(&set(3, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert!(!eval.passed);
    let tally = eval.samples.as_ref().expect("a tally");
    assert_eq!((tally.total, tally.passed, tally.failed()), (4, 2, 2));
    let failed: Vec<(usize, &str)> =
        tally.failures.iter().map(|f| (f.index, f.label.as_str())).collect();
    assert_eq!(failed, vec![(1, "s1.npz"), (3, "s3.npz")]);
    assert!(tally.failures.iter().all(|f| f.outputs.len() == 1 && !f.outputs[0].passed));
    assert!((tally.failures[0].outputs[0].max_absdiff - 0.0018).abs() < 1e-6);
    let eval = oracle.evaluate(&set(3, &[0]), OutputSelection::NetworkOutputs).unwrap();
    assert!(eval.passed);
    assert_eq!(eval.samples.unwrap().passed, 4);
}

#[test]
fn a_sample_whose_golden_is_off_fails_alone_and_is_named() {
    let mut oracle = oracle(&[0.0, 0.0], &[1.0, 2.0, 3.0], &[2]);
    let eval = oracle.evaluate(&set(2, &[0, 1]), OutputSelection::NetworkOutputs).unwrap();
    assert!(!eval.passed);
    let tally = eval.samples.unwrap();
    assert_eq!((tally.total, tally.passed), (3, 2));
    assert_eq!(tally.failures[0].label, "s2.npz");
}

#[test]
fn an_unreadable_sample_stops_the_check_with_its_name() {
    let mut oracle = oracle(&[0.0, 0.0], &[1.0, f32::NAN], &[]);
    let err = oracle.evaluate(&set(2, &[]), OutputSelection::NetworkOutputs).unwrap_err();
    assert!(err.to_string().contains("s1.npz: array 'x'"), "{err}");
}

#[test]
fn ranking_samples_measure_layer_outputs_on_the_samples_that_err_most() {
    let xs = [1.0, 5.0, 2.0, 4.0, 3.0];
    let errors = [0.001, 0.0, 0.0];
    // Every sample: the worst layer error is that of x = 5.
    let mut all = oracle(&errors, &xs, &[]);
    let every = all.evaluate(&set(3, &[]), OutputSelection::EveryLayer).unwrap();
    assert_eq!(all.ranking(), None);
    let worst_all = every.layer_outputs.unwrap()[0].max_absdiff;
    assert!((worst_all - 0.005).abs() < 1e-6, "{worst_all}");

    // Two ranking samples: x = 5 and x = 4 (indices 1 and 3) err most with nothing marked.
    let (ranked, asked) = oracle_asked(&errors, &xs, &[]);
    let mut ranked = ranked.with_ranking_samples(2);
    let every = ranked.evaluate(&set(3, &[1]), OutputSelection::EveryLayer).unwrap();
    assert_eq!(ranked.ranking(), Some(&[1, 3][..]));
    // Read in turn: every sample to rank them, the two for the float32 reference and the
    // measurement, then every sample again to decide whether the plan passes.
    assert_eq!(*asked.lock().unwrap(), [0, 1, 2, 3, 4, 1, 3, 1, 3, 0, 1, 2, 3, 4]);
    assert_eq!(every.samples.as_ref().unwrap().total, 5);
    assert!(!every.passed);
    // The nothing-marked check over every sample was made and cached for the search.
    let before = ranked.stats().evaluated;
    let nothing = ranked.evaluate(&set(3, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(ranked.stats().evaluated, before, "answered from the cache");
    assert_eq!(nothing.samples.unwrap().total, 5);

    // Where the samples err least, the measurement is smaller: sample choice changes it.
    let mild = [1.0, 0.2, 0.1, 0.3];
    let mut one = oracle(&errors, &mild, &[]).with_ranking_samples(1);
    let every = one.evaluate(&set(3, &[]), OutputSelection::EveryLayer).unwrap();
    assert_eq!(one.ranking(), Some(&[0][..]));
    assert!((every.layer_outputs.unwrap()[0].max_absdiff - 0.001).abs() < 1e-6);
    // Network-output checks still run every sample.
    let net = one.evaluate(&set(3, &[2]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(net.samples.unwrap().total, 4);
}

#[test]
fn the_holdout_check_runs_other_samples_uncached() {
    let mut oracle = oracle(&[0.0006, 0.0], &[1.0], &[]);
    let backend = FakeBackend::new(chain(2, &[]), &[0.0006, 0.0]);
    let pass = Samples::in_memory(vec![feed(1.0)], goldens(&backend, &[1.0], &[]));
    let eval = oracle.check_on(&set(2, &[]), pass).unwrap();
    assert!(eval.passed, "{eval:?}");
    let fail = Samples::in_memory(vec![feed(1.0), feed(4.0)], goldens(&backend, &[1.0, 4.0], &[]));
    let eval = oracle.check_on(&set(2, &[]), fail).unwrap();
    assert!(!eval.passed);
    assert_eq!(eval.samples.as_ref().unwrap().failures[0].index, 1);
    let ok = oracle
        .check_on(
            &set(2, &[0]),
            Samples::in_memory(vec![feed(4.0)], goldens(&backend, &[4.0], &[])),
        )
        .unwrap();
    assert!(ok.passed);
    assert_eq!(oracle.stats().cached, 0);
}
