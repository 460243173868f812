"""A task metric for `precision --check`: top-1 agreement of a model with float32 on a dataset.

Runs MODEL (the mixed-precision ONNX model precision writes for a check, `{model}`) with ONNX
Runtime on every `.npz` sample of SAMPLES (arrays named after the model's inputs) and compares
its top-1 class with the float32 model's, recorded once with `--write-reference`. Prints

    top1_agreement: 0.9583 (23/24 samples)
    min_top1_margin: 0.1234

and exits 0 when the agreement is at least --min-agreement, 1 when it is below, 2 on bad
usage. Only the first output is used (the class scores, [N, classes]).

Usage:
    top1_agreement.py MODEL SAMPLES --write-reference REF.json   # once, on the float32 model
    top1_agreement.py MODEL SAMPLES --reference REF.json [--min-agreement 1.0]
"""

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime


def scores(model: str, samples: str) -> dict:
    """The class scores of every sample, by file name, in sorted order."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = sorted(n for n in os.listdir(samples) if n.endswith(".npz"))
    if not names:
        raise SystemExit(f"top1_agreement: no .npz samples in {samples}")
    out = {}
    for name in names:
        with np.load(os.path.join(samples, name)) as sample:
            feeds = {i.name: sample[i.name] for i in session.get_inputs()}
        out[name] = session.run(None, feeds)[0].reshape(-1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("samples")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--reference", help="float32 top-1 classes written by --write-reference")
    group.add_argument("--write-reference", help="record MODEL's top-1 classes here")
    parser.add_argument("--min-agreement", type=float, default=1.0)
    args = parser.parse_args()

    result = scores(args.model, args.samples)
    if args.write_reference:
        classes = {name: int(np.argmax(s)) for name, s in result.items()}
        with open(args.write_reference, "w") as f:
            json.dump(classes, f, indent=1, sort_keys=True)
        print(f"reference top-1 classes of {len(classes)} samples written to {args.write_reference}")
        return 0

    with open(args.reference) as f:
        reference = json.load(f)
    missing = sorted(set(reference) ^ set(result))
    if missing:
        print(f"top1_agreement: samples and reference differ: {missing[:5]}", file=sys.stderr)
        return 2
    agree = 0
    margins = []
    for name, s in result.items():
        want = reference[name]
        top = int(np.argmax(s))
        agree += top == want
        # How far the reference class is above the best other class (negative: it lost).
        others = np.delete(s, want)
        margins.append(float(s[want] - others.max()))
    agreement = agree / len(result)
    print(f"top1_agreement: {agreement:.4f} ({agree}/{len(result)} samples)")
    print(f"min_top1_margin: {min(margins):.4f}")
    return 0 if agreement >= args.min_agreement else 1


if __name__ == "__main__":
    sys.exit(main())
