//! Throughput of the comparator on 64M-element float32 outputs, one benchmark per statistic.
//!
//! `benches/numpy_compare_baseline.py` times NumPy doing the same work the way Polygraphy does;
//! `cargo xtask bench` reports the ratio.
#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use precision_core::{CompareConfig, ErrorStat, PerOutput, Tensor, compare_tensors};

/// Elements per array (64M float32: 256 MiB each).
const LEN: usize = 64 << 20;

/// A small deterministic generator (xorshift64*), mapped to [0, 1).
fn uniform(state: &mut u64) -> f32 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
}

fn inputs() -> (Tensor, Tensor) {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let golden: Vec<f32> = (0..LEN).map(|_| uniform(&mut state) * 2.0 - 1.0).collect();
    let actual: Vec<f32> = golden.iter().map(|&g| g + (uniform(&mut state) - 0.5) * 1e-5).collect();
    let shape = IxDyn(&[64, 1024, 1024]);
    (
        ArrayD::from_shape_vec(shape.clone(), actual).expect("shape fits").into(),
        ArrayD::from_shape_vec(shape, golden).expect("shape fits").into(),
    )
}

fn bench(c: &mut Criterion) {
    let (actual, golden) = inputs();
    let mut group = c.benchmark_group("compare_f32_64M");
    group.throughput(Throughput::Bytes((actual.size_in_bytes() + golden.size_in_bytes()) as u64));
    group.sample_size(10);
    for stat in [
        ErrorStat::Elemwise,
        ErrorStat::Max,
        ErrorStat::Mean,
        ErrorStat::Median,
        ErrorStat::Quantile,
    ] {
        let config = CompareConfig {
            check_error_stat: PerOutput::uniform(stat),
            ..CompareConfig::default()
        };
        group.bench_function(stat.name(), |b| {
            b.iter(|| compare_tensors("out", black_box(&actual), black_box(&golden), &config));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
