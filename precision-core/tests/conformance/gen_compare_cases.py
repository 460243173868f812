"""Generates comparator conformance cases and Polygraphy's verdicts on them.

Usage: python gen_compare_cases.py OUT_DIR

Writes OUT_DIR/manifest.json and OUT_DIR/<n>.bin (raw little-endian, C-order array data).
Every verdict and tolerance comes from Polygraphy's own `CompareFunc.simple()` applied to two
`IterationResult`s (actual first, golden second). Floats are written as strings ("NaN", "inf",
"-inf" or Python's round-tripping repr) so the manifest stays strict JSON.
The seed is fixed: the same Polygraphy and NumPy give the same manifest.
"""

import json
import math
import os
import sys
import warnings

import numpy as np
from polygraphy.comparator import CompareFunc, IterationResult
from polygraphy.comparator import util as comp_util
from polygraphy.logger import G_LOGGER

G_LOGGER.module_severity = G_LOGGER.CRITICAL
warnings.simplefilter("ignore")
# Polygraphy formats statistics, histograms and percentiles of both differences for its log on
# every comparison, after the verdict is made; with the log silenced that is wasted time, so the
# logging helper is replaced. Nothing that decides the verdict or the tolerances is touched.
comp_util.log_output_stats = lambda *args, **kwargs: None

SEED = 20261127
STATS = [
    ("elemwise", None),
    ("max", None),
    ("mean", None),
    ("median", None),
    ("quantile", 0.99),
    ("quantile", 0.5),
    ("quantile", 0.0),
    ("quantile", 1.0),
]
FIXED_TOLS = [(1e-5, 1e-5), (0.0, 0.0), (1e-3, 0.0), (0.0, 1e-2), (0.1, 0.1)]


def fstr(v):
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def required(result, stat):
    key = "max" if stat == "elemwise" else stat
    return getattr(result, f"{key}_absdiff"), getattr(result, f"{key}_reldiff")


def polygraphy_check(actual, golden, stat, q, atol, rtol, ice, check_shapes):
    kwargs = dict(
        check_shapes=check_shapes,
        atol=atol,
        rtol=rtol,
        check_error_stat=stat,
        infinities_compare_equal=ice,
    )
    if q is not None:
        kwargs["error_quantile"] = q
    func = CompareFunc.simple(**kwargs)
    try:
        res = func(
            IterationResult({"out": actual.copy()}, runner_name="actual"),
            IterationResult({"out": golden.copy()}, runner_name="golden"),
        )["out"]
    except Exception as err:  # Polygraphy itself fails on this input.
        return {"passed": None, "error": f"{type(err).__name__}: {err}"}
    if isinstance(res, bool) or isinstance(res, np.bool_):
        return {"passed": bool(res), "required_atol": None, "required_rtol": None}
    ra, rr = required(res, stat)
    return {"passed": bool(res), "required_atol": fstr(ra), "required_rtol": fstr(rr)}


class Gen:
    def __init__(self):
        self.rng = np.random.default_rng(SEED)

    def floats(self, shape, dtype, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(dtype)

    def ints(self, shape, dtype, lo, hi):
        return self.rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)

    def sprinkle(self, golden, actual, kinds):
        """Puts special values at random positions of float arrays."""
        if golden.size == 0:
            return
        g = golden.reshape(-1)
        a = actual.reshape(-1)
        for kind in kinds:
            idx = self.rng.integers(0, g.size, size=max(1, g.size // 10))
            if kind == "zero_golden" and g.dtype.kind == "f":
                g[idx] = 0
            elif kind == "exact":
                a[idx] = g[idx].astype(a.dtype)
            elif kind == "nan" and a.dtype.kind == "f":
                a[idx[:1]] = np.nan
            elif kind == "nan_golden" and g.dtype.kind == "f":
                g[idx[:1]] = np.nan
            elif kind == "inf_both" and a.dtype.kind == "f" and g.dtype.kind == "f":
                sign = np.where(self.rng.random(idx.size) < 0.5, -1.0, 1.0)
                a[idx] = sign * np.inf
                g[idx] = sign * np.inf
            elif kind == "inf_actual" and a.dtype.kind == "f":
                a[idx[:1]] = np.inf
            elif kind == "inf_opposite" and a.dtype.kind == "f" and g.dtype.kind == "f":
                a[idx[:1]] = np.inf
                g[idx[:1]] = -np.inf
            elif kind == "neg_zero" and g.dtype.kind == "f":
                g[idx] = -0.0
                a[idx] = 0.0


def make_pair(gen, adt, gdt, shape, noise, specials, gshape=None):
    """An actual/golden pair: golden values, actual = golden + noise, then special values."""
    gshape = shape if gshape is None else gshape
    adt, gdt = np.dtype(adt), np.dtype(gdt)

    def base(dt, shp):
        if dt.kind == "f":
            return gen.floats(shp, dt, 2.0)
        if dt.kind == "b":
            return gen.rng.random(shp) < 0.5
        if dt.kind == "u":
            return gen.ints(shp, dt, 0, 255)
        info = np.iinfo(dt)
        return gen.ints(shp, dt, max(info.min, -100), min(info.max, 100))

    golden = base(gdt, gshape)
    if adt.kind == "b":
        actual = golden.astype(bool) if golden.dtype.kind == "b" else gen.rng.random(shape) < 0.5
        if golden.dtype.kind == "b":
            flip = gen.rng.random(shape) < noise
            actual = np.logical_xor(actual.reshape(shape), flip)
    elif adt.kind == "f":
        g64 = golden.astype(np.float64).reshape(-1)[: int(np.prod(shape))]
        g64 = np.resize(g64, int(np.prod(shape))).reshape(shape)
        actual = (g64 + gen.rng.standard_normal(shape) * noise).astype(adt)
    else:
        g64 = np.resize(golden.astype(np.int64).reshape(-1), int(np.prod(shape))).reshape(shape)
        delta = gen.rng.integers(-1, 1, size=shape, endpoint=True) * (gen.rng.random(shape) < noise)
        info = np.iinfo(adt)
        actual = np.clip(g64 + delta, info.min, info.max).astype(adt)
    actual = np.asarray(actual, dtype=adt).reshape(shape)
    golden = np.ascontiguousarray(golden)
    actual = np.ascontiguousarray(actual)
    if golden.shape == actual.shape:
        gen.sprinkle(golden, actual, specials)
    return actual, golden


def build_cases(gen):
    cases = []
    shapes = [(), (0,), (7,), (3, 5), (2, 3, 4), (130,), (1000,)]
    floats = ["float32", "float16", "float64"]
    ints = ["int8", "int32", "int64", "uint8"]
    special_sets = [[], ["zero_golden", "exact"], ["nan"], ["inf_both"], ["inf_both", "nan_golden"],
                    ["inf_opposite", "zero_golden"], ["inf_actual"], ["neg_zero", "exact"]]
    # Same dtype, every shape, floats with several noise levels and special values.
    for dt in floats:
        for shape in shapes:
            for noise, specials in [(1e-6, []), (1e-4, special_sets[gen.rng.integers(1, 8)]),
                                    (1e-2, special_sets[gen.rng.integers(0, 8)])]:
                cases.append((f"{dt}-{shape}-{noise}-{'+'.join(specials)}",
                              *make_pair(gen, dt, dt, shape, noise, specials), True))
    for dt in ints + ["bool"]:
        for shape in [(), (0,), (7,), (3, 5), (1000,)]:
            cases.append((f"{dt}-{shape}", *make_pair(gen, dt, dt, shape, 0.3, []), True))
    # Integer extremes: wrapping subtraction and abs.
    for dt, vals in [("int32", [2**31 - 1, -(2**31), 0, 5]), ("int64", [2**63 - 1, -(2**63), 0, 7]),
                     ("int8", [127, -128, 0, 1]), ("uint8", [255, 0, 3, 4])]:
        a = np.array(vals, dtype=dt)
        g = np.array(vals[::-1], dtype=dt)
        cases.append((f"{dt}-extremes", a, g, True))
        cases.append((f"{dt}-extremes-zero-golden", a, np.zeros_like(a), True))
    # Every special value against every other, float32 and float16.
    specials = [0.0, -0.0, 1.0, -1.0, 1e-5, 2.0, np.inf, -np.inf, np.nan, 65504.0, 1e-8]
    a = np.array([x for x in specials for _ in specials], dtype=np.float64)
    g = np.array([y for _ in specials for y in specials], dtype=np.float64)
    for adt, gdt in [("float32", "float32"), ("float16", "float16"), ("float64", "float64"),
                     ("float32", "float64"), ("float16", "float32"), ("float64", "float16")]:
        cases.append((f"specials-{adt}-{gdt}", a.astype(adt), g.astype(gdt), True))
    # Near-tolerance values: differences within a few ulps of 1e-5 and 1e-3, and relative 1e-2.
    for dt in floats:
        g = gen.floats((200,), dt, 1.0)
        steps = np.arange(-100, 100, dtype=np.float64)
        for tol in [1e-5, 1e-3]:
            a = (g.astype(np.float64) + tol * (1 + steps * 1e-7)).astype(dt)
            cases.append((f"near-abs-{tol}-{dt}", a, g.copy(), True))
        a = (g.astype(np.float64) * (1 + 1e-2 * (1 + steps * 1e-7))).astype(dt)
        cases.append((f"near-rel-{dt}", a, g.copy(), True))
    # Mixed dtypes between actual and golden.
    mixed = [("float32", "float16"), ("float16", "float32"), ("float32", "float64"),
             ("float64", "float32"), ("float32", "int32"), ("int8", "float32"),
             ("int32", "int64"), ("uint8", "int8"), ("bool", "float32"), ("float32", "bool"),
             ("bool", "int32"), ("float16", "float64"), ("int64", "float16"), ("float16", "int8"),
             ("int8", "bool"), ("float64", "int64"), ("uint8", "float16"), ("int32", "uint8")]
    for adt, gdt in mixed:
        for shape, specials in [((5, 4), ["zero_golden", "exact"]), ((300,), ["nan"]),
                                ((9000,), ["inf_both"]), ((0,), [])]:
            cases.append((f"mixed-{adt}-{gdt}-{shape}",
                          *make_pair(gen, adt, gdt, shape, 1e-3, specials), True))
    # Shape mismatches, compared with and without the shape check.
    for ashape, gshape in [((2, 3), (3, 2)), ((6,), (2, 3)), ((2, 3), (7,)), ((2, 2, 3), (3, 2, 2)),
                           ((1,), ()), ((), (1, 1)), ((4, 3, 2), (2, 4, 3)), ((0, 3), (3, 0)),
                           ((2, 6), (3, 4)), ((3, 1, 2), (2, 3))]:
        for dt in ["float32", "float16"]:
            a = gen.floats(ashape, dt)
            g = gen.floats(gshape, dt)
            if a.size == g.size:
                # Make some of them equal after Polygraphy's matching so both verdicts occur.
                g = np.ascontiguousarray(g)
            for check in [True, False]:
                cases.append((f"shape-{ashape}-{gshape}-{dt}-check{check}", a, g, check))
        # A transposed copy: equal once permuted, different if merely reshaped.
        if len(ashape) == len(gshape) and sorted(ashape) == sorted(gshape) and ashape != gshape:
            g = gen.floats(gshape, "float32")
            perm, used = [], set()
            for d in ashape:
                ax = next(i for i, x in enumerate(gshape) if x == d and i not in used)
                used.add(ax)
                perm.append(ax)
            a = np.ascontiguousarray(np.transpose(g, perm))
            cases.append((f"shape-permuted-{ashape}-{gshape}", a, g, False))
    # Beyond one cast buffer and several pairwise blocks.
    for adt, gdt in [("float32", "float32"), ("float16", "float16"), ("float64", "float64"),
                     ("int32", "int32")]:
        cases.append((f"{adt}-{gdt}-20000",
                      *make_pair(gen, adt, gdt, (20000,), 1e-4, ["zero_golden"]), True))
    # Large arrays: the parallel path and NumPy's float32 pairwise summation at scale.
    big = gen.floats((1 << 20) + 37, "float32", 1.0)
    cases.append(("big-f32", (big + gen.floats(big.shape, "float32", 1e-5)).astype(np.float32),
                  big, True))
    cases.append(("big-f64-f32", (big + gen.floats(big.shape, "float64", 1e-5)), big, True))
    return cases


def checks_for(actual, golden, check_shapes, big, infinities, light):
    """The checks of one case; `light` cases (mixed dtypes, shapes) get fewer settings."""
    checks = []
    if big:
        stats, fixed = [("elemwise", None), ("mean", None), ("quantile", 0.99)], [(1e-5, 1e-5)]
    elif light:
        stats, fixed = STATS[:5], FIXED_TOLS[:2]
    else:
        stats, fixed = STATS, FIXED_TOLS
    for stat, q in stats:
        tols = list(fixed)
        # Tolerances at the edge of this case's required tolerances.
        base = polygraphy_check(actual, golden, stat, q, 1e-5, 1e-5, False, check_shapes)
        ra = base.get("required_atol")
        rr = base.get("required_rtol")
        for value, other in [(ra, "rtol"), (rr, "atol")]:
            if value is None:
                continue
            v = float(value)
            if not math.isfinite(v) or v < 0:
                continue
            for t in {v, np.nextafter(v, 0.0), v * (1 + 1e-9)}:
                t = float(t)
                tols.append((t, 0.0) if other == "rtol" else (0.0, t))
        for atol, rtol in tols:
            for ice in ([False, True] if infinities else [False]):
                verdict = polygraphy_check(actual, golden, stat, q, atol, rtol, ice, check_shapes)
                checks.append({
                    "stat": stat,
                    "quantile": fstr(q if q is not None else 0.99),
                    "atol": fstr(atol),
                    "rtol": fstr(rtol),
                    "infinities_compare_equal": ice,
                    "check_shapes": check_shapes,
                    **verdict,
                })
    return checks


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_compare_cases.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen = Gen()
    manifest = {"seed": SEED, "numpy": np.__version__, "cases": []}
    for n, (name, actual, golden, check_shapes) in enumerate(build_cases(gen)):
        arrays = {}
        for role, arr in [("actual", actual), ("golden", golden)]:
            arr = np.ascontiguousarray(arr)
            path = f"{n}-{role}.bin"
            arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(out, path))
            arrays[role] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "file": path}
        manifest["cases"].append({
            "name": name,
            **arrays,
            "checks": checks_for(actual, golden, check_shapes, big=name.startswith("big"),
                                 infinities=bool(np.isinf(actual.astype(np.float64)).any()),
                                 light=name.startswith(("mixed", "shape"))),
        })
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    total = sum(len(c["checks"]) for c in manifest["cases"])
    print(f"wrote {len(manifest['cases'])} cases, {total} checks to {out}")


if __name__ == "__main__":
    main()
