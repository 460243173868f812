//! Search quality on generated mock networks: for chains, residual stacks and transformer-like
//! blocks of 50 to 5,000 layers with scattered or clustered sensitive layers, the checks each
//! search needs and the layers it marks. Counts, not timings: every figure is deterministic.
//!
//! Every search starts with the noise-floor check, as the `precision` command does. The
//! tolerance makes exactly the sensitive layers necessary: it is the output error with only
//! the sensitive layers marked plus half the smallest error one sensitive layer adds.
//!
//! Prints a table and one JSON line per network (`search_quality`) for `cargo xtask bench`.

use backend_mock::MockBackend;
use fixtures::{Generated, Sensitivity, Topology};
use precision_core::oracle::BackendOracle;
use precision_core::search::candidates;
use precision_core::{
    Algorithm, Backend, CompareConfig, LayerSet, NoObserver, Oracle, OutputSelection, PerOutput,
    Precision, PrecisionPlan, SearchOptions, SearchOutcome, run_search,
};

/// An oracle over `text` with `atol` (rtol 0), INT8 under float32, `jobs` checks at once.
fn oracle(text: &str, atol: f64, jobs: usize) -> BackendOracle<MockBackend> {
    let backend = MockBackend::from_toml_str(text, "generated").expect("valid generated network");
    let inputs = backend.default_inputs();
    let golden = backend.golden_outputs(OutputSelection::NetworkOutputs);
    let plan = PrecisionPlan::new(backend.network(), vec![Precision::Int8], Precision::Float32)
        .expect("valid plan");
    let config = CompareConfig {
        atol: PerOutput::uniform(atol),
        rtol: PerOutput::uniform(0.0),
        ..CompareConfig::default()
    };
    let mut oracle =
        BackendOracle::new(backend, plan, vec![inputs], vec![golden], config).expect("goldens fit");
    oracle.with_jobs(jobs, 1).expect("the mock copies itself");
    oracle
}

/// The largest output error of `marked`.
fn error_of(o: &mut BackendOracle<MockBackend>, marked: &LayerSet) -> f64 {
    let evaluation =
        o.evaluate(marked, OutputSelection::NetworkOutputs).expect("the mock evaluates");
    evaluation.outputs.iter().map(|c| c.max_absdiff).fold(0.0, f64::max)
}

/// The tolerance under which exactly the sensitive layers must be marked.
fn tolerance(text: &str, universe: usize, sensitive: &[usize]) -> f64 {
    let mut o = oracle(text, f64::INFINITY, 1);
    let all = LayerSet::from_indices(universe, sensitive.iter().copied());
    let base = error_of(&mut o, &all);
    let smallest_step = sensitive
        .iter()
        .map(|&s| {
            let mut without = all.clone();
            without.remove(s);
            error_of(&mut o, &without) - base
        })
        .fold(f64::INFINITY, f64::min);
    base + smallest_step / 2.0
}

fn run(text: &str, atol: f64, jobs: usize, algorithm: Algorithm) -> SearchOutcome {
    let options = SearchOptions { noise_floor: true, ..SearchOptions::new(algorithm) };
    run_search(&mut oracle(text, atol, jobs), &options, &mut NoObserver).expect("the search runs")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; there are none to list.
    }
    println!(
        "{:<28} {:>5} {:>3} | {:>13} {:>13} {:>13} {:>13} | {:>6} {:>9} | {:>6}",
        "network",
        "L",
        "S",
        "bisect",
        "linear",
        "worst-first",
        "ranked",
        "ratio",
        "rk bound",
        "rnd P=4"
    );
    println!("{:<52} (each: checks/marked)", "");
    for topology in [Topology::Chain, Topology::Residual, Topology::TransformerLike] {
        for layers in [50, 500, 5000] {
            for sensitivity in [Sensitivity::Scattered(8), Sensitivity::Clustered(8)] {
                let params = Generated { topology, layers, sensitivity, seed: 3 };
                let text = fixtures::generate(&params);
                let network = MockBackend::from_toml_str(&text, "g").expect("valid");
                let universe = network.network().len();
                let markable = candidates(network.network()).len();
                let sensitive = fixtures::sensitive_layers(universe, sensitivity);
                let atol = tolerance(&text, universe, &sensitive);
                let mut cells = Vec::new();
                let mut json = Vec::new();
                let mut marked = std::collections::HashMap::new();
                for algorithm in
                    [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked]
                {
                    let outcome = run(&text, atol, 1, algorithm);
                    let n = outcome.answer.as_ref().map_or(0, LayerSet::len);
                    let checks = outcome.checks.len();
                    marked.insert(algorithm, n);
                    cells.push(format!("{checks:>6}/{n:<6}"));
                    json.push(format!(
                        "\"{}\":{{\"checks\":{checks},\"marked\":{n},\"found\":{}}}",
                        algorithm.name(),
                        outcome.answer.is_some()
                    ));
                }
                let ranked_marked = marked[&Algorithm::Ranked].max(1);
                let ratio = marked[&Algorithm::Bisect] as f64 / ranked_marked as f64;
                let bound = (usize::BITS - universe.leading_zeros()) as usize
                    + marked[&Algorithm::Ranked]
                    + 2;
                let parallel = run(&text, atol, 4, Algorithm::Ranked);
                println!(
                    "{:<28} {:>5} {:>3} | {} | {:>6.1} {:>9} | {:>6}",
                    params.id(),
                    universe,
                    sensitive.len(),
                    cells.join(" "),
                    ratio,
                    bound,
                    parallel.rounds()
                );
                println!(
                    "{{\"bench\":\"search_quality\",\"network\":\"{}\",\"layers\":{universe},\
                     \"markable\":{markable},\"sensitive\":{},\"clustered\":{},{},\
                     \"bisect_over_ranked\":{ratio},\"ranked_check_bound\":{bound},\
                     \"ranked_rounds_jobs4\":{}}}",
                    params.id(),
                    sensitive.len(),
                    matches!(sensitivity, Sensitivity::Clustered(_)),
                    json.join(","),
                    parallel.rounds()
                );
            }
        }
    }
}
