"""Generates conformance cases for Polygraphy 0.53.6's other comparison functions.

Usage: python gen_metric_cases.py OUT_DIR

Covers `indices`, `l2`, `cosine_similarity`, `psnr`, `snr` on the random arrays of
gen_compare_cases.py (NaN, infinities, zeros, float16, integers, bools, mixed dtypes, shape
mismatches, large arrays) plus index-specific cases, each at Polygraphy's default threshold, at
the metric's own value and one float step to either side; and `--check-average` over several
iterations for every function that can average (simple with max/mean/median/quantile too).
Every verdict and value comes from Polygraphy's own comparison functions. Writes
OUT_DIR/manifest.json and the arrays as raw little-endian bytes, like gen_compare_cases.py.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_compare_cases as base  # noqa: E402  (silences Polygraphy's log as a side effect)

from polygraphy.comparator import (  # noqa: E402
    Comparator,
    CosineSimilarityCompareFunc,
    IndicesCompareFunc,
    IterationResult,
    L2CompareFunc,
    PsnrCompareFunc,
    RunResults,
    SimpleCompareFunc,
    SnrCompareFunc,
)

fstr = base.fstr

METRICS = {
    "l2": (L2CompareFunc, "l2_threshold", "l2_norm", 1e-5),
    "cosine_similarity": (
        CosineSimilarityCompareFunc,
        "cosine_similarity_threshold",
        "cosine_similarity",
        0.997,
    ),
    "psnr": (PsnrCompareFunc, "psnr_threshold", "psnr", 30.0),
    "snr": (SnrCompareFunc, "snr_threshold", "snr", 20.0),
}


def run_func(func, actual, golden):
    """Polygraphy's result for output 'out': (passed, result object or None, error)."""
    try:
        res = func(
            IterationResult({"out": actual.copy()}, runner_name="actual"),
            IterationResult({"out": golden.copy()}, runner_name="golden"),
        )["out"]
    except Exception as err:  # Polygraphy itself fails on this input.
        return None, None, f"{type(err).__name__}: {err}"
    if isinstance(res, (bool, np.bool_)):
        return bool(res), None, None
    return bool(res), res, None


def metric_checks(actual, golden, check_shapes):
    checks = []
    for name, (cls, arg, field, default) in METRICS.items():
        passed, res, err = run_func(cls(**{arg: default, "check_shapes": check_shapes}), actual, golden)
        thresholds = [default]
        value = None if res is None else getattr(res, field)
        if value is not None and np.isfinite(value):
            thresholds += [value, float(np.nextafter(value, -np.inf)), float(np.nextafter(value, np.inf))]
        for t in thresholds:
            passed, res, err = run_func(cls(**{arg: t, "check_shapes": check_shapes}), actual, golden)
            checks.append({
                "function": name,
                "threshold": fstr(t),
                "check_shapes": check_shapes,
                "passed": passed,
                "value": None if res is None else fstr(getattr(res, field)),
                "error": err,
            })
    return checks


def index_checks(actual, golden):
    checks = []
    for t in [0, 1, 2, 3, 5]:
        passed, _, err = run_func(IndicesCompareFunc(index_tolerance=t), actual, golden)
        checks.append({"function": "indices", "threshold": str(t), "check_shapes": True,
                       "passed": passed, "value": None, "error": err})
    return checks


def index_cases(gen):
    rng = gen.rng
    cases = []
    for shape in [(5,), (3, 6), (2, 2, 4), (0,), (4, 0), (1,), (8,)]:
        k = shape[-1]
        for dtype in ["int32", "int64", "float32", "float16", "uint8"]:
            g = np.stack([rng.permutation(k) for _ in range(int(np.prod(shape[:-1])))]) if k else \
                np.zeros(shape)
            g = g.reshape(shape).astype(dtype)
            a = g.copy()
            flat = a.reshape(-1, k) if k else a
            for row in (flat if k else []):
                # Swap some neighbours, move one value far, and sometimes lose a value.
                for _ in range(rng.integers(0, 3)):
                    i = rng.integers(0, k)
                    j = min(k - 1, i + int(rng.integers(1, 4)))
                    row[i], row[j] = row[j].copy(), row[i].copy()
                if rng.random() < 0.3:
                    row[rng.integers(0, k)] = 99
            cases.append((f"indices-{dtype}-{shape}", np.ascontiguousarray(a), g))
    # NaN, duplicates, mixed dtypes, a 0-d output, different shapes.
    cases.append(("indices-nan", np.array([0.0, np.nan, 2.0], "float32"),
                  np.array([0.0, np.nan, 2.0], "float32")))
    cases.append(("indices-dups", np.array([1, 1, 2, 3], "int32"), np.array([2, 1, 1, 3], "int32")))
    cases.append(("indices-mixed", np.array([2, 0, 1], "int64"), np.array([0.0, 1.0, 2.0], "float32")))
    cases.append(("indices-mixed-f16", np.array([3.5, 1, 2], "float16"),
                  np.array([1.0, 2.0, 3.5], "float64")))
    cases.append(("indices-0d", np.array(3, "int32"), np.array(3, "int32")))
    cases.append(("indices-shape", np.arange(6, dtype="int32"), np.arange(6, dtype="int32").reshape(2, 3)))
    cases.append(("indices-bool", np.array([True, False, True]), np.array([False, True, True])))
    return cases


def average_checks(iterations):
    """Polygraphy's --check-average verdicts (Comparator.compare_accuracy) over the iterations."""
    results = RunResults()
    results.add([{"out": a.copy()} for a, _ in iterations], runner_name="actual")
    results.add([{"out": g.copy()} for _, g in iterations], runner_name="golden")
    funcs = []
    for stat in ["max", "mean", "median", "quantile"]:
        funcs.append(("simple", stat, SimpleCompareFunc, {"check_error_stat": stat}))
    for name, (cls, arg, field, default) in METRICS.items():
        funcs.append((name, None, cls, {}))
    checks = []
    for name, stat, cls, kwargs in funcs:
        def averaged(extra):
            func = cls(**kwargs, **extra)
            try:
                acc = Comparator.compare_accuracy(results, compare_func=func, check_average=True)
                res = acc[0].average_results(("actual", "golden"))["out"]
            except Exception as err:
                return None, None, f"{type(err).__name__}: {err}"
            return bool(res), res, None

        if name == "simple":
            _, res, err = averaged({"atol": 1e-5, "rtol": 1e-5})
            pairs = [(1e-5, 1e-5), (0.0, 0.0)]
            if res is not None:
                va = getattr(res, f"{stat}_absdiff")
                vr = getattr(res, f"{stat}_reldiff")
                for v, other in [(va, "rtol"), (vr, "atol")]:
                    if v is not None and np.isfinite(v) and v >= 0:
                        for t in [v, float(np.nextafter(v, 0.0))]:
                            pairs.append((t, 0.0) if other == "rtol" else (0.0, t))
            for atol, rtol in pairs:
                passed, res, err = averaged({"atol": atol, "rtol": rtol})
                checks.append({
                    "function": "simple", "stat": stat, "atol": fstr(atol), "rtol": fstr(rtol),
                    "passed": passed, "error": err,
                    "value": None if res is None else fstr(getattr(res, f"{stat}_absdiff")),
                    "rel_value": None if res is None else fstr(getattr(res, f"{stat}_reldiff")),
                })
        else:
            _, arg, field, default = METRICS[name]
            _, res, err = averaged({arg: default})
            thresholds = [default]
            value = None if res is None else getattr(res, field)
            if value is not None and np.isfinite(value):
                thresholds += [value, float(np.nextafter(value, -np.inf)),
                               float(np.nextafter(value, np.inf))]
            for t in thresholds:
                passed, res, err = averaged({arg: t})
                checks.append({"function": name, "threshold": fstr(t), "passed": passed,
                               "error": err,
                               "value": None if res is None else fstr(getattr(res, field))})
    return checks


def average_cases(gen):
    cases = []
    for dt in ["float32", "float16", "float64", "int32"]:
        for shape in [(7,), (3, 5), (130,)]:
            for noise in [1e-4, 1e-2]:
                iterations = [base.make_pair(gen, dt, dt, shape, noise, []) for _ in range(3)]
                cases.append((f"avg-{dt}-{shape}-{noise}", iterations))
    # One iteration with NaN, one exact (infinite PSNR/SNR).
    its = [base.make_pair(gen, "float32", "float32", (9,), 1e-3, []) for _ in range(2)]
    nan_a = its[0][0].copy()
    nan_a[0] = np.nan
    cases.append(("avg-nan", [(nan_a, its[0][1]), its[1]]))
    g = gen.floats((9,), "float32")
    cases.append(("avg-exact", [(g.copy(), g), its[1]]))
    return cases


def write_array(out, n, role, arr):
    arr = np.asarray(arr, order="C")  # keeps 0-d arrays 0-d, unlike ascontiguousarray
    path = f"{n}-{role}.bin"
    arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(out, path))
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), "file": path}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_metric_cases.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen = base.Gen()
    manifest = {"seed": base.SEED, "numpy": np.__version__, "cases": [], "average_cases": []}
    n = 0
    for name, actual, golden, check_shapes in base.build_cases(gen):
        checks = metric_checks(actual, golden, check_shapes)
        if actual.dtype.kind in "iub" and golden.dtype.kind in "iub" and actual.ndim >= 1:
            checks += index_checks(actual, golden)
        manifest["cases"].append({"name": name, "actual": write_array(out, n, "actual", actual),
                                  "golden": write_array(out, n, "golden", golden),
                                  "checks": checks})
        n += 1
    for name, actual, golden in index_cases(gen):
        manifest["cases"].append({"name": name, "actual": write_array(out, n, "actual", actual),
                                  "golden": write_array(out, n, "golden", golden),
                                  "checks": index_checks(actual, golden)})
        n += 1
    for name, iterations in average_cases(gen):
        its = []
        for a, g in iterations:
            its.append({"actual": write_array(out, n, "actual", a),
                        "golden": write_array(out, n, "golden", g)})
            n += 1
        manifest["average_cases"].append({"name": name, "iterations": its,
                                          "checks": average_checks(iterations)})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    total = sum(len(c["checks"]) for c in manifest["cases"])
    avg = sum(len(c["checks"]) for c in manifest["average_cases"])
    print(f"wrote {len(manifest['cases'])} cases with {total} checks and "
          f"{len(manifest['average_cases'])} averaged cases with {avg} checks to {out}")


if __name__ == "__main__":
    main()
