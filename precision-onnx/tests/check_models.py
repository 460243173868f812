"""Checks rewritten ONNX models the way their users will load them.

Usage: check_models.py ORIGINAL REWRITTEN [REWRITTEN...]

For each rewritten model: onnx.checker.check_model(full_check=True), then both models run in
ONNX Runtime (CPU) on the same seeded random inputs (shapes from the original's inputs; dynamic
dimensions are 1; bool inputs True). Prints one JSON object per rewritten model with the
largest absolute difference per output, the opset and the node count.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def feeds(path):
    model = onnx.load(path)
    inits = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(0)
    out = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        t = i.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if dtype == np.bool_:
            out[i.name] = np.ones(shape, dtype=np.bool_)
        elif np.issubdtype(dtype, np.floating):
            out[i.name] = rng.uniform(-1, 1, shape).astype(dtype)
        else:
            out[i.name] = rng.integers(0, 3, shape).astype(dtype)
    return out


def run(path, feed):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feed)))


def main():
    original, rewritten = sys.argv[1], sys.argv[2:]
    feed = feeds(original)
    reference = run(original, feed)
    for path in rewritten:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        got = run(path, feed)
        diffs = {}
        for name, ref in reference.items():
            if name not in got:
                diffs[name] = None
                continue
            a = np.asarray(got[name], dtype=np.float64)
            b = np.asarray(ref, dtype=np.float64)
            diffs[name] = float(np.max(np.abs(a - b))) if a.size else 0.0
        opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0]
        print(json.dumps({"model": path, "max_abs_diff": diffs, "opset": opset, "nodes": len(model.graph.node)}))


if __name__ == "__main__":
    main()
