//! Search overhead: a full bisect and a full worst-first on a 10,000-layer mock network with
//! zero simulated build time, and the heap a search keeps per check.
//!
//! The memory figures come from a counting global allocator and are printed as one JSON line
//! (`search_memory`) that `cargo xtask bench` reads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use backend_mock::MockBackend;
use criterion::{BatchSize, Criterion, criterion_main};
use fixtures::{Generated, Sensitivity, Topology};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, CompareConfig, Direction, NoObserver, OutputSelection, PerOutput,
    Precision, PrecisionPlan, SearchOptions, SearchOutcome, run_search,
};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const LAYERS: usize = 10_000;

fn spec() -> String {
    fixtures::generate(&Generated {
        topology: Topology::Chain,
        layers: LAYERS,
        sensitivity: Sensitivity::Scattered(8),
        seed: 11,
    })
}

/// A fresh oracle over the 10,000-layer chain (INT8 under float32, rtol 0).
///
/// The chain's output error is 8 x 0.05 (sensitive layers) + 10,000 x 1e-4 (quiet ones) = 1.4.
/// With atol 1.0 the sensitive layers decide the answer; with atol 0.1 worst-first must also
/// mark ~9,000 quiet layers, one check per `top_k` of them (a stress case for the log).
fn oracle(text: &str, atol: f64) -> BackendOracle<MockBackend> {
    let backend = MockBackend::from_toml_str(text, "chain").expect("the generated spec is valid");
    let inputs = backend.default_inputs();
    let golden = backend.golden_outputs(OutputSelection::NetworkOutputs);
    let plan = PrecisionPlan::new(backend.network(), vec![Precision::Int8], Precision::Float32)
        .expect("valid plan");
    let config = CompareConfig {
        atol: PerOutput::uniform(atol),
        rtol: PerOutput::uniform(0.0),
        ..CompareConfig::default()
    };
    BackendOracle::new(backend, plan, vec![inputs], vec![golden], config).expect("goldens fit")
}

fn search(
    oracle: &mut BackendOracle<MockBackend>,
    algorithm: Algorithm,
    top_k: usize,
) -> SearchOutcome {
    let options = SearchOptions {
        algorithm,
        direction: Direction::Reverse,
        top_k,
        ..SearchOptions::default()
    };
    run_search(oracle, &options, &mut NoObserver).expect("the search runs")
}

fn bench(c: &mut Criterion) {
    let text = spec();
    let mut group = c.benchmark_group("search_10000_layers");
    group.sample_size(10);
    for (name, algorithm) in [("bisect", Algorithm::Bisect), ("worst_first", Algorithm::WorstFirst)]
    {
        group.bench_function(name, |b| {
            b.iter_batched(
                || oracle(&text, 1.0),
                |mut o| black_box(search(&mut o, algorithm, 5)),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
    memory(&text);
}

/// Heap kept by a long search: worst-first with --top 1 makes hundreds of checks; what it
/// keeps beyond the oracle's fixed state should be its log of checks and cache only.
fn memory(text: &str) {
    for (label, algorithm, top_k) in
        [("bisect", Algorithm::Bisect, 5), ("worst_first_top1", Algorithm::WorstFirst, 1)]
    {
        let mut o = oracle(text, 0.1);
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let outcome = search(&mut o, algorithm, top_k);
        let after = LIVE.load(Ordering::Relaxed);
        let peak = PEAK.load(Ordering::Relaxed);
        assert!(outcome.answer.is_some(), "the {label} search finds an answer");
        let checks = outcome.checks.len();
        let log_bytes: usize = outcome
            .checks
            .iter()
            .map(|it| {
                std::mem::size_of_val(it)
                    + it.marked.universe().div_ceil(8)
                    + it.outputs.len() * 128
            })
            .sum();
        let retained = after.saturating_sub(before);
        println!(
            "{{\"bench\":\"search_memory\",\"search\":\"{label}\",\"layers\":{LAYERS},\"checks\":{checks},\
             \"retained_bytes\":{retained},\"retained_per_check\":{},\"log_bytes_estimate\":{log_bytes},\
             \"peak_above_start\":{}}}",
            retained / checks.max(1),
            peak.saturating_sub(before)
        );
        drop(o);
    }
}

/// The benchmark group (in a private module: the macro's function has no doc comment).
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
