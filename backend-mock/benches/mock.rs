//! Benchmarks of the mock backend: one build + inference of a 10,000-layer chain.

use std::hint::black_box;

use backend_mock::{ErrorAmplitudes, InputSpec, LayerSpec, MockBackend, MockSpec, Noise};
use criterion::{Criterion, criterion_main};
use precision_core::{Backend, Engine, LayerSet, OutputSelection, Precision, PrecisionPlan};

/// A chain of `n` layers over a `[1, 8]` input, every layer with int8 and fp16 error.
fn chain(n: usize) -> MockSpec {
    let layers = (0..n)
        .map(|i| LayerSpec {
            name: format!("layer{i}"),
            op: "Mock".into(),
            inputs: vec![if i == 0 { "x".into() } else { format!("layer{}_out", i - 1) }],
            outputs: vec![format!("layer{i}_out")],
            error: ErrorAmplitudes { int8: 1e-3, fp16: 1e-5, ..ErrorAmplitudes::default() },
            gain: 1.0,
            markable: true,
            unsupported: Vec::new(),
        })
        .collect();
    MockSpec {
        name: "chain".into(),
        seed: 0,
        noise: Noise::Uniform,
        inputs: vec![InputSpec { name: "x".into(), shape: vec![1, 8] }],
        outputs: vec![format!("layer{}_out", n - 1)],
        layers,
    }
}

fn bench(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut backend = MockBackend::from_spec(chain(N)).expect("the chain spec is valid");
    let inputs = backend.default_inputs();
    let plan = PrecisionPlan::new(backend.network(), vec![Precision::Int8], Precision::Float32)
        .expect("int8 under float32 is a valid plan")
        .with_marked(LayerSet::from_indices(N, (0..N).step_by(3)));
    c.bench_function("chain_10000/build_infer_network_outputs", |b| {
        b.iter(|| {
            let mut engine =
                backend.build(black_box(&plan), OutputSelection::NetworkOutputs).expect("builds");
            black_box(engine.infer(&inputs).expect("runs"))
        });
    });
    c.bench_function("chain_10000/build_infer_every_layer", |b| {
        b.iter(|| {
            let mut engine =
                backend.build(black_box(&plan), OutputSelection::EveryLayer).expect("builds");
            black_box(engine.infer(&inputs).expect("runs"))
        });
    });
    c.bench_function("chain_10000/construct", |b| {
        b.iter(|| MockBackend::from_spec(black_box(chain(N))).expect("valid"));
    });
}

/// The benchmark group (in a private module: the macro's function has no doc comment).
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
