"""The Python side of `cargo xtask bench` for the ONNX Runtime backend.

For each model the Rust bench wrote to DIR (<tag>.f32.onnx, <tag>.int8.onnx, <tag>.fp16.onnx,
<tag>.inputs.json), times what Polygraphy does for one check, in the same run on the same
machine: in-process (session creation + run + Polygraphy's comparison, as `polygraphy run
--onnxrt` does after start-up) and as the command itself (`polygraphy run ... --onnxrt`, wall
time, start-up included). Prints one JSON object.

Usage: ort_baseline.py DIR TAG [TAG...]
"""
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from polygraphy.comparator import CompareFunc
from polygraphy.comparator.struct import IterationResult
from polygraphy.json import load_json


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    folder, tags = sys.argv[1], sys.argv[2:]
    polygraphy = os.path.join(os.path.dirname(sys.executable), "polygraphy")
    result = {}
    for tag in tags:
        feed = load_json(os.path.join(folder, f"{tag}.inputs.json"))[0]
        f32 = os.path.join(folder, f"{tag}.f32.onnx")
        sess = ort.InferenceSession(f32, providers=["CPUExecutionProvider"])
        golden = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
        compare = CompareFunc.simple()  # what `polygraphy run` uses by default
        figures = {
            "inference_f32": median_time(lambda: sess.run(None, feed), 50),
            "session_and_inference_f32": median_time(
                lambda: ort.InferenceSession(f32, providers=["CPUExecutionProvider"]).run(None, feed), 10
            ),
        }
        for prec in ["int8", "fp16"]:
            path = os.path.join(folder, f"{tag}.{prec}.onnx")

            def check():
                s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                out = dict(zip([o.name for o in s.get_outputs()], s.run(None, feed)))
                # The comparison's report is not what is timed: keep it off the console.
                with contextlib.redirect_stdout(io.StringIO()):
                    compare(IterationResult(out, runner_name="a"), IterationResult(golden, runner_name="b"))

            figures[f"check_{prec}"] = median_time(check, 10)
            inputs = os.path.join(folder, f"{tag}.inputs.json")
            figures[f"polygraphy_run_cli_{prec}"] = median_time(
                lambda: subprocess.run(
                    [polygraphy, "run", path, "--onnxrt", "--load-inputs", inputs],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
                3,
            )
        result[tag] = figures
    print(json.dumps(result))


if __name__ == "__main__":
    main()
