//! Reading and writing a `RunResults` file holding one 64M-element float32 output (256 MiB of
//! data, a 341 MiB JSON file). Throughput is reported against the tensor's size in bytes.
#![expect(missing_docs, reason = "criterion_group! generates an undocumented function")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use polygraphy_json::{
    IterationResult, NamedTensors, RunResults, RunnerResults, Tensor, read_run_results,
    write_run_results,
};

const ELEMENTS: usize = 64 << 20;

fn big_run() -> RunResults {
    let data: Vec<f32> = (0..ELEMENTS).map(|i| (i % 1000) as f32 * 0.001).collect();
    let tensor = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[64, 1024, 1024]), data).unwrap());
    let mut outputs = NamedTensors::new();
    outputs.insert("logits".to_owned(), tensor);
    let runner_name = "bench-runner".to_owned();
    RunResults {
        runners: vec![RunnerResults {
            name: runner_name.clone(),
            iterations: vec![IterationResult { outputs, runtime: 0.5, runner_name }],
        }],
    }
}

fn bench(c: &mut Criterion) {
    let run = big_run();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    let mut group = c.benchmark_group("run_results_64M_f32");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes((ELEMENTS * 4) as u64));
    group
        .bench_function("write", |b| b.iter(|| write_run_results(&path, black_box(&run)).unwrap()));
    write_run_results(&path, &run).unwrap();
    drop(run);
    group.bench_function("read", |b| b.iter(|| black_box(read_run_results(&path).unwrap())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
