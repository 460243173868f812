#!/usr/bin/env bash
# On the GPU machine: unpacks ONNX Runtime for GPUs from the staged parts (once) and runs the
# suite of `cargo xtask gpu-check`, writing results.json, results.md and suite.log.
# Usage: run.sh STAGED OUT [suite.py run flags, e.g. --only MODEL:fp16,MODEL:float32 --jobs 4]
#   STAGED  the folder gpu-check staged (stage/ with bin, models, data, scripts; ort/ parts)
#   OUT     where the results go (results accumulate there across runs)
set -uo pipefail
staged=${1:?staged folder}; out=${2:?output folder}; shift 2
# shellcheck source=/dev/null
source "$staged/ort/assemble.sh" "$staged/ort" "${ORT_SITE:-/root/ortgpu}" || exit 1
chmod +x "$staged/stage/bin/precision"
mkdir -p "$out"
python3 "$staged/stage/suite.py" run "$staged/stage" "$out" "$@"
