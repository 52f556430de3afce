"""The benchmark: whole-process times of the tutor's main jobs, each as a ratio to the import floor.

Every command is run several times in one session and its median taken, interleaved with the floor
(``python -c "import sympy, numpy, jinja2"``) so that a busy machine slows both alike. Run it from the
repository root after installing the package:

    python benchmarks/run.py [--repeat 7] [--quick]

It prints a table of medians, ratios and targets, and the exponent of the explain time against the number
of parameters (12, 148 and 552 parameters), fitted on log-log axes.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PY = sys.executable
CLI = [PY, "-m", "tutor"]


def random_spec(shape: list[int], seed: int) -> str:
    """A seeded random network of the given shape, values with two decimals (tanh hidden, sigmoid out)."""
    rng = np.random.default_rng(seed)
    lines = ["[inputs]", f"values = {rng.uniform(-1, 1, shape[0]).round(2).tolist()}", ""]
    for layer in range(1, len(shape)):
        act = "sigmoid" if layer == len(shape) - 1 else "tanh"
        lines += [
            "[[layers]]",
            f"size = {shape[layer]}",
            f'activation = "{act}"',
            f"weights = {rng.uniform(-1, 1, (shape[layer], shape[layer - 1])).round(2).tolist()}",
            f"biases = {rng.uniform(-1, 1, shape[layer]).round(2).tolist()}",
            "",
        ]
    lines += [
        "[loss]",
        'name = "half_sse"',
        f"targets = {rng.uniform(0, 1, shape[-1]).round(2).tolist()}",
        "",
        "[training]",
        "learning_rate = 0.5",
        "",
    ]
    return "\n".join(lines)


def parameters(shape: list[int]) -> int:
    return sum(shape[i] * shape[i + 1] + shape[i + 1] for i in range(len(shape) - 1))


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per command (the median is reported)")
    ap.add_argument("--quick", action="store_true", help="3 runs each and no worksheet job (a smoke test)")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    work = Path(tempfile.mkdtemp(prefix="backprop-bench-"))
    try:
        shapes = {"4-8-8-4": [4, 8, 8, 4], "8-16-16-8": [8, 16, 16, 8]}
        for name, shape in shapes.items():
            (work / f"{name}.toml").write_text(random_spec(shape, seed=sum(shape)))
        floor = [PY, "-c", "import sympy, numpy, jinja2"]
        jobs = [
            ("explain mazur, Markdown", CLI + ["explain", "mazur", "--format", "md", "-o", "out.md"], 1.3),
            ("explain mazur, JSON", CLI + ["explain", "mazur", "--format", "json", "-o", "out.json"], None),
            ("explain 4-8-8-4, Markdown", CLI + ["explain", "4-8-8-4.toml", "--format", "md", "-o", "out.md"], 1.6),
            ("explain 4-8-8-4, JSON", CLI + ["explain", "4-8-8-4.toml", "--format", "json", "-o", "out.json"], None),
            ("explain 8-16-16-8, Markdown", CLI + ["explain", "8-16-16-8.toml", "--format", "md", "-o", "out.md"], 3.0),
            (
                "explain 8-16-16-8, JSON",
                CLI + ["explain", "8-16-16-8.toml", "--format", "json", "-o", "out.json"],
                None,
            ),
            (
                "train mazur, 10,000 epochs",
                CLI + ["train", "mazur", "--epochs", "10000", "--show", "none", "-o", "out.txt"],
                1.5,
            ),
        ]
        if not args.quick:
            jobs.append(
                (
                    "worksheet, 100 variants",
                    CLI
                    + [
                        "worksheet",
                        "--count",
                        "100",
                        "--seed",
                        "1",
                        "--shape",
                        "2-2-1",
                        "--format",
                        "md",
                        "-o",
                        "sheets",
                    ],
                    10.0,
                )
            )
        floor_times: list[float] = []
        times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
        for _ in range(repeat):  # interleaved: every round runs the floor and each job once
            floor_times.append(timed(floor, work))
            for name, cmd, _ in jobs:
                times[name].append(timed(cmd, work))
                if (work / "sheets").exists():
                    shutil.rmtree(work / "sheets")
        f = statistics.median(floor_times)
        print(f"Python {sys.version.split()[0]}, {repeat} runs each, medians; floor = import sympy, numpy, jinja2")
        print(f"{'command':<30} {'median s':>9} {'ratio':>7} {'target':>7}")
        print(f"{'floor':<30} {f:>9.3f} {1.0:>7.2f} {'':>7}")
        for name, _, target in jobs:
            m = statistics.median(times[name])
            ratio = m / f
            mark = "" if target is None else (f"<= {target:g}" + ("" if ratio <= target else " MISSED"))
            print(f"{name:<30} {m:>9.3f} {ratio:>7.2f} {mark:>7}")
        counts = [12, parameters(shapes["4-8-8-4"]), parameters(shapes["8-16-16-8"])]
        md = [
            statistics.median(times[n])
            for n in ("explain mazur, Markdown", "explain 4-8-8-4, Markdown", "explain 8-16-16-8, Markdown")
        ]
        slope = np.polyfit(np.log(counts), np.log(md), 1)[0]
        above = [max(t - f, 1e-3) for t in md]
        slope_above = np.polyfit(np.log(counts), np.log(above), 1)[0]
        print(
            f"explain (Markdown) time ~ parameters^{slope:.2f} over {counts[0]}..{counts[-1]} parameters "
            f"({'sub-linear' if slope < 1 else 'NOT sub-linear'}); the part above the floor ~ parameters^{slope_above:.2f}"
        )
        return 0 if math.isfinite(slope) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
