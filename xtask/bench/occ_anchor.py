"""onnxconverter-common's auto_convert_mixed_precision on one model, for `cargo xtask bench
--anchor-only`: the float16 conversion that keeps the fewest nodes in float32 which that tool
finds, with its own criterion (np.allclose with rtol 0 and the given atol) on one input.

Usage: occ_anchor.py MODEL INPUTS_JSON ATOL
Prints one JSON line: {"kept": [node names], "runs": N, "seconds": S} or {"error": "..."}.
`runs` counts the runs of a converted model (every attempt and the final validation), not the
float32 reference run.
"""

import base64
import contextlib
import io
import json
import sys
import time
import warnings

import numpy as np
import onnx
from onnxconverter_common import auto_mixed_precision as amp


def load_inputs(path):
    """The first feed of a Polygraphy JSON inputs file."""
    with open(path) as f:
        feed = json.load(f)[0]
    return {k: np.load(io.BytesIO(base64.b64decode(v["array"]))) for k, v in feed.items()}


def main():
    model_path, inputs_path, atol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    feed = load_inputs(inputs_path)
    model = onnx.load(model_path)
    runs = [0]
    run_model = amp.get_tensor_values_using_ort

    def counting(model, feed_dict, output_names=None, sess_options=None):
        if output_names is None:
            runs[0] += 1
        return run_model(model, feed_dict, output_names, sess_options)

    amp.get_tensor_values_using_ort = counting
    log = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(log), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            amp.auto_convert_mixed_precision(model, feed, rtol=0, atol=atol, keep_io_types=False)
    except Exception as e:  # the tool's own failure is the result
        print(json.dumps({"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}))
        return
    seconds = time.perf_counter() - start
    # The tool prints the nodes it kept in float32 as its last decision: "Done: [...]".
    done = [line for line in log.getvalue().splitlines() if line.startswith("Done: ")]
    kept = json.loads(done[-1][len("Done: "):].replace("'", '"'))
    print(json.dumps({"kept": kept, "runs": runs[0] - 1, "seconds": seconds}))


if __name__ == "__main__":
    main()
