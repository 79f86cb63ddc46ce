#!/usr/bin/env python3
"""Time ONNX Runtime on the inputs the criterion benches use (never run by CI).

- orientation CNN on fixtures/orientation/input.npy, f32 [1, 3, 224, 224];
- MiniLM int8 at batch 1, seq 128 (common.BENCH_IDS_FORMULA).

Each model runs at intra_op_num_threads 1 and 2 (inter_op 1, sequential execution,
default graph optimizations): 20 warm-up runs, then N timed runs of session.run
(perf_counter around each call). Prints a markdown table; writes JSON with every
setting and the summary statistics to --json FILE (or stdout with --json -).

Usage: python3 scripts/bench_ort.py [--orientation PATH] [--minilm PATH]
       [--input fixtures/orientation/input.npy] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import common

REPO_ROOT = Path(__file__).resolve().parent.parent
THREADS = (1, 2)
WARMUP = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_model_args(parser, [common.ORIENTATION, common.MINILM])
    parser.add_argument(
        "--input", type=Path, default=REPO_ROOT / "fixtures" / "orientation" / "input.npy"
    )
    parser.add_argument("--runs-cnn", type=int, default=200)
    parser.add_argument("--runs-minilm", type=int, default=100)
    parser.add_argument("--json", help="write the results as JSON to FILE ('-' = stdout)")
    return parser.parse_args()


def cpu_model() -> str:
    """lscpu's model name, else platform.processor()."""
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in listing.stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def time_runs(session, feeds: dict[str, np.ndarray], runs: int) -> dict:
    """Warm up, then time `runs` calls; milliseconds."""
    outputs = [o.name for o in session.get_outputs()]
    for _ in range(WARMUP):
        session.run(outputs, feeds)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(outputs, feeds)
        samples.append((time.perf_counter() - start) * 1e3)
    return {
        "runs": runs,
        "median_ms": statistics.median(samples),
        "mean_ms": statistics.fmean(samples),
        "min_ms": min(samples),
        "stdev_ms": statistics.stdev(samples),
    }


def bench(name: str, path: Path, feeds: dict, input_desc: str, runs: int) -> list[dict]:
    rows = []
    for threads in THREADS:
        session = common.ort_session(path, intra_op_threads=threads)
        stats = time_runs(session, feeds, runs)
        rows.append({"model": name, "input": input_desc, "intra_op_threads": threads, **stats})
        print(f"{name} intra_op={threads}: median {stats['median_ms']:.3f} ms", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | input | intra-op threads | runs | median ms | mean ms | min ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['intra_op_threads']} | {r['runs']} | "
            f"{r['median_ms']:.3f} | {r['mean_ms']:.3f} | {r['min_ms']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    common.verified(common.ORIENTATION, args.orientation)
    common.verified(common.MINILM, args.minilm)
    image = np.load(args.input)
    if image.shape != (1, 3, 224, 224) or image.dtype != np.float32:
        raise SystemExit(f"{args.input}: expected f32 [1, 3, 224, 224], got {image.dtype} {image.shape}")
    rows = bench(
        "orientation",
        args.orientation,
        {"x": image},
        "f32 [1,3,224,224] fixtures/orientation/input.npy",
        args.runs_cnn,
    )
    rows += bench(
        "minilm_int8",
        args.minilm,
        common.bench_minilm_inputs(),
        f"i64 [1,{common.BENCH_SEQ_LEN}] bench ids",
        args.runs_minilm,
    )
    machine = f"{cpu_model()}, {os.cpu_count()} logical CPUs"
    print(f"ONNX Runtime {ort.__version__} on {machine}\n")
    print(markdown(rows))
    report = {
        "onnxruntime": ort.__version__,
        "machine": machine,
        "session": "CPUExecutionProvider, inter_op_num_threads 1, ORT_SEQUENTIAL, "
        "default graph optimizations (ORT_ENABLE_ALL)",
        "warmup_runs": WARMUP,
        "timing": "time.perf_counter() around each session.run, milliseconds",
        "minilm_inputs": common.BENCH_IDS_FORMULA,
        "results": rows,
    }
    if args.json == "-":
        print(json.dumps(report, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
