"""NumPy baseline for benches/compare.rs: Polygraphy's simple comparison on 64M float32 elements.

Does what Polygraphy's SimpleCompareFunc does per output (absdiff, reldiff with the epsilon on
zeros, the elemwise mismatch mask and `any`, max and mean of both, and the median or quantile
when that statistic is checked), timing each statistic mode, and prints a JSON object
{"elements": N, "bytes": B, "modes": {mode: {"seconds": s, "gb_per_s": x}}} where B counts both
input arrays, as the Rust bench does. Usage: python numpy_compare_baseline.py [--repeat N]
"""

import argparse
import json
import time

import numpy as np

LEN = 64 << 20
EPSILON = 2.220446049250313e-16


def compare(out0, out1, stat, atol=1e-5, rtol=1e-5, quantile=0.99):
    absdiff = np.abs(out0 - out1)
    out1_with_eps = out1.copy()
    out1_with_eps[out1_with_eps == 0] += EPSILON
    reldiff = absdiff / np.abs(out1_with_eps)
    max_abs, max_rel = np.amax(absdiff), np.amax(reldiff)
    mean_abs = np.mean(absdiff, dtype=np.float32)
    mean_rel = np.mean(reldiff, dtype=np.float32)
    if stat == "elemwise":
        mismatches = (np.greater(absdiff, np.array(atol)) | np.isnan(absdiff)) & (
            np.greater(reldiff, np.array(rtol)) | np.isnan(reldiff)
        )
        return not bool(np.any(mismatches))
    values = {
        "max": (max_abs, max_rel),
        "mean": (mean_abs, mean_rel),
        "median": (np.median(absdiff), np.median(reldiff)) if stat == "median" else None,
        "quantile": (np.quantile(absdiff, quantile), np.quantile(reldiff, quantile))
        if stat == "quantile"
        else None,
    }[stat]
    fails = lambda v, tol: np.isnan(v) or v > tol
    return not (fails(values[0], atol) and fails(values[1], rtol))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    golden = (rng.random(LEN, dtype=np.float32) * 2 - 1).reshape(64, 1024, 1024)
    actual = golden + ((rng.random(LEN, dtype=np.float32) - 0.5) * 1e-5).reshape(golden.shape)
    nbytes = actual.nbytes + golden.nbytes
    modes = {}
    for stat in ["elemwise", "max", "mean", "median", "quantile"]:
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            compare(actual, golden, stat)
            best = min(best, time.perf_counter() - start)
        modes[stat] = {"seconds": best, "gb_per_s": nbytes / best / 1e9}
    print(json.dumps({"elements": LEN, "bytes": nbytes, "modes": modes}))


if __name__ == "__main__":
    main()
