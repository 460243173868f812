"""Writes two Polygraphy RunResults files, actual.json and reference.json, whose outputs are
random arrays chosen to probe the comparator's edges (NaN, inf, zeros, fp16, ints, bools,
scalars, mixed dtypes, shape mismatches). Used by precision-cli/tests/compare_conformance.rs.

Usage: python make_pairs.py OUT_DIR
"""
import sys

import numpy as np
from polygraphy.comparator import IterationResult, RunResults

rng = np.random.default_rng(20261127)
actual, reference = {}, {}


def add(name, a, r):
    actual[name] = a
    reference[name] = r


def noisy(shape, dtype, scale):
    r = rng.uniform(-2, 2, size=shape).astype(dtype)
    a = (r.astype(np.float64) + rng.normal(0, scale, size=shape)).astype(dtype)
    return a, r


for k, (shape, dtype, scale) in enumerate(
    [
        ((4, 8), np.float32, 1e-6),
        ((4, 8), np.float32, 1e-3),
        ((3, 5, 7), np.float32, 3e-2),
        ((64,), np.float32, 1e-4),
        ((2, 3), np.float16, 1e-3),
        ((16,), np.float16, 1e-2),
        ((5, 5), np.float64, 1e-4),
        ((1000,), np.float32, 5e-3),
    ]
):
    add(f"noise{k}", *noisy(shape, dtype, scale))

# exact match, and a scalar
r = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
add("exact", r.copy(), r)
add("scalar", np.array(1.5, dtype=np.float32), np.array(1.4999, dtype=np.float32))

# zeros in the reference (relative error uses an epsilon)
r = np.array([0.0, 0.0, 1.0, -1.0, 0.5], dtype=np.float32)
add("zeros_small", r + np.float32(1e-7), r)
add("zeros_big", r + np.float32(1e-2), r)
add("all_zero_match", np.zeros(6, np.float32), np.zeros(6, np.float32))

# NaN and infinities
r = rng.uniform(-1, 1, size=8).astype(np.float32)
a = r.copy()
a[3] = np.nan
add("nan_actual", a, r)
a = r.copy()
rr = r.copy()
a[2] = np.nan
rr[2] = np.nan
add("nan_both", a, rr)
a = r.copy()
rr = r.copy()
a[1] = rr[1] = np.inf
a[5] = rr[5] = -np.inf
add("inf_equal", a, rr)
a = r.copy()
rr = r.copy()
a[1] = np.inf
rr[1] = -np.inf
add("inf_opposite", a, rr)
a = r.copy()
a[0] = np.inf
add("inf_actual", a, r)

# integers and bools
for dtype in (np.int8, np.uint8, np.int32, np.int64):
    r = rng.integers(0, 100, size=(4, 4)).astype(dtype)
    a = r.copy()
    a[0, 0] = a[0, 0] + 1
    add(f"int_{np.dtype(dtype).name}", a, r)
    add(f"int_{np.dtype(dtype).name}_exact", r.copy(), r)
# mixed dtypes: fp16 result against an fp32 reference, and the other way round
r = rng.uniform(-1, 1, size=(8,)).astype(np.float32)
add("mixed_f16_f32", r.astype(np.float16), r)
add("mixed_f32_f16", r, r.astype(np.float16))
add("mixed_f64_f32", r.astype(np.float64) + 1e-6, r)

# shape mismatches: same volume (reshaped by --no-shape-check), extra unit dims
r = rng.uniform(-1, 1, size=(2, 3)).astype(np.float32)
add("shape_transposed_volume", (r + 1e-6).reshape(3, 2), r)
add("shape_extra_dim", (r + 1e-6).reshape(1, 2, 3), r)

# a large-magnitude output where only relative tolerance can pass
r = rng.uniform(1e3, 1e4, size=(32,)).astype(np.float32)
add("large_magnitude", r * np.float32(1.001), r)

# bools last: Polygraphy 0.53.6 crashes on `--check-error-stat quantile` for bool outputs
# (NumPy cannot subtract bools), which ends its comparison of the outputs after them.
r = rng.integers(0, 2, size=10).astype(bool)
a = r.copy()
a[4] = not a[4]
add("bool_one_flip", a, r)
add("bool_exact", r.copy(), r)

out_dir = sys.argv[1]
for name, outputs in (("actual", actual), ("reference", reference)):
    results = RunResults()
    results.add([outputs], runtime=0.0, runner_name=name)
    results.save(f"{out_dir}/{name}.json")

# Top-K-like index outputs for --compare indices (Polygraphy stops at a 0-d or float output).
idx_actual, idx_reference = {}, {}
for k, (shape, dtype) in enumerate([((10,), np.int64), ((3, 8), np.int32), ((2, 2, 6), np.int64),
                                     ((5,), np.int32), ((4, 7), np.int64), ((6,), np.float32)]):
    rows = int(np.prod(shape[:-1]))
    ref = np.stack([rng.permutation(shape[-1]) for _ in range(rows)]).reshape(shape).astype(dtype)
    act = ref.copy().reshape(rows, shape[-1])
    for row in act:
        for _ in range(k % 3):
            i = rng.integers(0, shape[-1] - 1)
            j = min(shape[-1] - 1, i + 1 + k % 2)
            row[i], row[j] = row[j].copy(), row[i].copy()
    if k == 4:
        act[0, 0] = 99  # a value the reference lacks
    idx_actual[f"topk{k}"] = act.reshape(shape)
    idx_reference[f"topk{k}"] = ref
for name, outputs in (("indices_actual", idx_actual), ("indices_reference", idx_reference)):
    results = RunResults()
    results.add([outputs], runtime=0.0, runner_name=name)
    results.save(f"{out_dir}/{name}.json")

# Three iterations of float outputs for --check-average.
multi = {"actual_multi": [], "reference_multi": []}
for _ in range(3):
    it_a, it_r = {}, {}
    for k, (shape, dtype, scale) in enumerate([((4, 8), np.float32, 1e-3), ((16,), np.float16, 1e-2),
                                               ((5, 5), np.float64, 1e-4), ((64,), np.float32, 0.3)]):
        it_a[f"avg{k}"], it_r[f"avg{k}"] = noisy(shape, dtype, scale)
    multi["actual_multi"].append(it_a)
    multi["reference_multi"].append(it_r)
for name, iterations in multi.items():
    results = RunResults()
    results.add(iterations, runtime=0.0, runner_name=name)
    results.save(f"{out_dir}/{name}.json")
print(len(actual))
