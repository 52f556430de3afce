"""The benchmark: the tutor's main jobs as ratios to the import floor, and training per step against plain loops.

Whole processes: every command is run several times in one session and its median taken, interleaved
with the floor (``python -c "import sympy, numpy, jinja2"``) so that a busy machine slows both alike; one
extra run of each command under a small wrapper reads its peak memory (the largest resident set).
Training per step: in this process, the tutor's training loop against a plain Python loop over floats and
a plain NumPy loop, both written below, on the same networks and the same steps. Run it from the
repository root after installing the package:

    python benchmarks/run.py [--repeat 7] [--quick]

It prints one table of medians, ratios and targets, the exponent of the explain time against the number
of parameters (12 parameters up to the spec's limit of 2,000), and the per-step table.
"""

from __future__ import annotations

import argparse
import math
import os
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
# As a user runs it: compiled modules are cached (a shell may have turned that off for development).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
# The peak resident set of one command, read by the parent of the command's process.
PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def random_spec(shape: list[int], seed: int, learning_rate: float = 0.5) -> str:
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
        f"learning_rate = {learning_rate}",
        "",
    ]
    return "\n".join(lines)


def parameters(shape: list[int]) -> int:
    return sum(shape[i] * shape[i + 1] + shape[i + 1] for i in range(len(shape) - 1))


# Near the largest network a spec allows (MAX_PARAMETERS = 2,000): 1,870 parameters in 3 layers.
LARGEST = [20, 30, 30, 10]


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # quiz at end of input with unanswered questions exits 1
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return elapsed


def peak_mb(cmd: list[str], cwd: Path) -> float:
    out = subprocess.run([PY, "-c", PEAK, *cmd], cwd=cwd, env=ENV, capture_output=True, text=True)
    try:
        return int(out.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux
    except ValueError:
        return float("nan")


# -- training per step: the tutor against plain loops written here ---------------------------------------------


def _act(name: str):
    if name == "sigmoid":
        return (lambda z: 1.0 / (1.0 + math.exp(-z))), (lambda a: a * (1.0 - a))
    if name == "tanh":
        return math.tanh, (lambda a: 1.0 - a * a)
    raise ValueError(name)


def plain_float_loop(net, steps: int) -> float:
    """Plain descent on the network's example with lists of floats: nested loops, no NumPy; the loss of every
    step is kept, as the tutor keeps it. Seconds."""
    W = [l.weights.tolist() for l in net.layers]
    shared = [l.shared_bias for l in net.layers]
    b = [[float(l.biases[0])] if s else l.biases.tolist() for l, s in zip(net.layers, shared)]
    acts = [_act(l.activation) for l in net.layers]
    x, t = net.examples[0][0].tolist(), net.examples[0][1].tolist()
    lr, update_b = net.learning_rate, net.update_biases
    L = len(W)
    losses: list[float] = []
    start = time.perf_counter()
    for _ in range(steps):
        outs = [x]
        a = x
        for li in range(L):
            f = acts[li][0]
            bl, s = b[li], shared[li]
            a = [f(sum(wj[i] * a[i] for i in range(len(a))) + (bl[0] if s else bl[j])) for j, wj in enumerate(W[li])]
            outs.append(a)
        losses.append(sum(0.5 * (tk - ak) ** 2 for ak, tk in zip(a, t)))
        g = [ak - tk for ak, tk in zip(a, t)]
        for li in range(L - 1, -1, -1):
            df = acts[li][1]
            d = [gj * df(aj) for gj, aj in zip(g, outs[li + 1])]
            a_in = outs[li]
            if li:
                g = [sum(d[k] * W[li][k][i] for k in range(len(d))) for i in range(len(a_in))]
            W[li] = [[w - lr * (dj * ai) for w, ai in zip(row, a_in)] for row, dj in zip(W[li], d)]
            if update_b:
                b[li] = [b[li][0] - lr * sum(d)] if shared[li] else [v - lr * dj for v, dj in zip(b[li], d)]
    return time.perf_counter() - start


def plain_numpy_loop(net, steps: int) -> float:
    """Plain descent with NumPy arrays: a matrix product per layer forward, outer products backward; the loss
    of every step is kept. Seconds."""
    W = [l.weights.copy() for l in net.layers]
    b = [l.biases.copy() for l in net.layers]
    names = [l.activation for l in net.layers]
    x, t = net.examples[0]
    lr, update_b = net.learning_rate, net.update_biases
    L = len(W)
    losses: list[float] = []
    start = time.perf_counter()
    for _ in range(steps):
        outs = [x]
        a = x
        for li in range(L):
            z = W[li] @ a + b[li]
            a = 1.0 / (1.0 + np.exp(-z)) if names[li] == "sigmoid" else np.tanh(z)
            outs.append(a)
        losses.append(float(0.5 * np.sum((t - a) ** 2)))
        g = a - t
        for li in range(L - 1, -1, -1):
            a = outs[li + 1]
            d = g * (a * (1.0 - a) if names[li] == "sigmoid" else 1.0 - a * a)
            if li:
                g = W[li].T @ d
            W[li] = W[li] - lr * np.outer(d, outs[li])
            if update_b:
                b[li] = b[li] - lr * d
    return time.perf_counter() - start


# explain mazur in one fresh process, phase by phase: what the time above the floor is spent on
PHASES = """
import sys, time
T = time.perf_counter
t0 = T()
import sympy, numpy, jinja2
t1 = T()
from tutor import render
from tutor.engine.gradcheck import gradient_check
from tutor.engine.symbolic import explain_step
from tutor.spec import load
import tutor.cli
t2 = T()
sympy.Symbol("x") + 1
t3 = T()
net = load("mazur")
walk = explain_step(net)
check = gradient_check(net, walk=walk)
t4 = T()
render.render_markdown(walk, check=check, options=render.Options())
t5 = T()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
"""
PHASE_NAMES = (
    "floor's imports",
    "the tutor's imports",
    "SymPy's first sum",
    "the step (SymPy, NumPy, check)",
    "Markdown",
)


def explain_phases(repeat: int, cwd: Path) -> list[float]:
    """Medians, in seconds, of each phase of PHASES over ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([PY, "-c", PHASES], cwd=cwd, env=ENV, capture_output=True, text=True, check=True)
        runs.append([float(x) for x in out.stdout.split()])
    return [statistics.median(r[i] for r in runs) for i in range(len(PHASE_NAMES))]


def per_step(repeat: int) -> list[tuple[str, float, float, float]]:
    """(network, tutor µs a step, plain float loop µs, plain NumPy loop µs), medians of ``repeat`` runs."""
    from tutor.engine import training
    from tutor.spec import load, loads

    # steps enough that one timing of each network takes about 0.03 to 0.1 s: a steady state, not a start-up
    nets = [
        ("Mazur 2-2-2 (12 parameters)", load("mazur"), 20_000),
        ("4-8-8-4 (148 parameters)", loads(random_spec([4, 8, 8, 4], 24, 0.05)), 2_000),
        (
            f"{'-'.join(map(str, LARGEST))} ({parameters(LARGEST)}, the spec's limit)",
            loads(random_spec(LARGEST, 90, 0.01)),
            2_000,
        ),
    ]
    rows = []
    for name, net, steps in nets:
        tutor_t, float_t, numpy_t = [], [], []
        for _ in range(repeat):
            start = time.perf_counter()
            training.run(net, steps)
            tutor_t.append(time.perf_counter() - start)
            float_t.append(plain_float_loop(net, steps))
            numpy_t.append(plain_numpy_loop(net, steps))
        rows.append((name, *(1e6 * statistics.median(ts) / steps for ts in (tutor_t, float_t, numpy_t))))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per command (the median is reported)")
    ap.add_argument("--quick", action="store_true", help="3 runs each and no worksheet job (a smoke test)")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    work = Path(tempfile.mkdtemp(prefix="backprop-bench-"))
    try:
        shapes = {"4-8-8-4": [4, 8, 8, 4], "8-16-16-8": [8, 16, 16, 8], "-".join(map(str, LARGEST)): LARGEST}
        for name, shape in shapes.items():
            (work / f"{name}.toml").write_text(random_spec(shape, seed=sum(shape)))
        largest = "-".join(map(str, LARGEST))
        # Mazur's three published claims after 10,000 rounds: each holds only under another convention (update
        # order, steps counted), so the checker trains under several, one run per convention shared by all three
        (work / "multi-step.toml").write_text(
            "".join(
                f'[[claim]]\nquantity = "{q}"\nvalue = "{v}"\nafter_steps = 10000\n'
                for q, v in (("E_total", "0.0000351085"), ("out_o1", "0.015912196"), ("out_o2", "0.984065734"))
            )
        )
        floor = [PY, "-c", "import sympy, numpy, jinja2"]
        jobs = [
            # what the floor leaves out and every use of SymPy pays: the first sum imports sympy.tensor and
            # sympy.combinatorics (SymPy's Add.flatten does so lazily)
            ("floor + SymPy's first sum", floor[:2] + [floor[2] + "; sympy.Symbol('x') + 1"], None),
            ("explain mazur, Markdown", CLI + ["explain", "mazur", "--format", "md", "-o", "out.md"], 1.15),
            ("explain mazur, JSON", CLI + ["explain", "mazur", "--format", "json", "-o", "out.json"], None),
            ("explain 4-8-8-4, Markdown", CLI + ["explain", "4-8-8-4.toml", "--format", "md", "-o", "out.md"], None),
            (
                "explain 8-16-16-8, Markdown",
                CLI + ["explain", "8-16-16-8.toml", "--format", "md", "-o", "out.md"],
                None,
            ),
            (
                f"explain {largest}, Markdown",
                CLI + ["explain", f"{largest}.toml", "--format", "md", "-o", "out.md"],
                None,
            ),
            ("quiz mazur, to its first question", CLI + ["quiz", "mazur"], 1.15),
            (
                "check mazur, 3 claims @10,000",
                CLI + ["check", "mazur", "multi-step.toml", "-o", "check.txt"],
                None,
            ),
            (
                "train mazur, 10,000 epochs",
                CLI + ["train", "mazur", "--epochs", "10000", "--show", "none", "-o", "o.txt"],
                None,
            ),
            (
                "train mazur, 100,000 epochs",
                CLI + ["train", "mazur", "--epochs", "100000", "--show", "none", "-o", "o.txt"],
                2.0,
            ),
            (
                f"train {largest}, 1,000 epochs",
                CLI + ["train", f"{largest}.toml", "--epochs", "1000", "--show", "none", "-o", "o.txt"],
                None,
            ),
        ]
        if not args.quick:
            sheets = [
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
            ]
            jobs.append(("worksheet, 100 variants", CLI + sheets, 3.0))
        for _, cmd, _ in jobs:  # one warm-up round: compiled modules and templates are cached as for a user
            timed(cmd, work)
            shutil.rmtree(work / "sheets", ignore_errors=True)
        floor_times: list[float] = []
        times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
        for _ in range(repeat):  # interleaved: every round runs the floor and each job once
            floor_times.append(timed(floor, work))
            for name, cmd, _ in jobs:
                times[name].append(timed(cmd, work))
                shutil.rmtree(work / "sheets", ignore_errors=True)
        peaks = {name: peak_mb(cmd, work) for name, cmd, _ in jobs}
        shutil.rmtree(work / "sheets", ignore_errors=True)
        peaks["floor"] = peak_mb(floor, work)
        f = statistics.median(floor_times)
        print(f"Python {sys.version.split()[0]}, {repeat} runs each, medians; floor = import sympy, numpy, jinja2")
        print(f"{'command':<36} {'median s':>9} {'ratio':>7} {'target':>9} {'peak MB':>8}")
        print(f"{'floor':<36} {f:>9.3f} {1.0:>7.2f} {'':>9} {peaks['floor']:>8.0f}")
        for name, _, target in jobs:
            m = statistics.median(times[name])
            ratio = m / f
            mark = "" if target is None else (f"<= {target:g}" + ("" if ratio <= target else " MISSED"))
            print(f"{name:<36} {m:>9.3f} {ratio:>7.2f} {mark:>9} {peaks[name]:>8.0f}")
        counts = [12, parameters(shapes["4-8-8-4"]), parameters(shapes["8-16-16-8"]), parameters(LARGEST)]
        md = [
            statistics.median(times[n])
            for n in (
                "explain mazur, Markdown",
                "explain 4-8-8-4, Markdown",
                "explain 8-16-16-8, Markdown",
                f"explain {largest}, Markdown",
            )
        ]
        slope = np.polyfit(np.log(counts), np.log(md), 1)[0]
        above = [max(t - f, 1e-3) for t in md]
        slope_above = np.polyfit(np.log(counts), np.log(above), 1)[0]
        print(
            f"explain (Markdown) time ~ parameters^{slope:.2f} over {counts[0]}..{counts[-1]} parameters "
            f"({'sub-linear' if slope < 1 else 'NOT sub-linear'}); the part above the floor ~ parameters^{slope_above:.2f}"
        )
        print()
        print("explain mazur in one process, milliseconds (medians of fresh processes)")
        for name, t in zip(PHASE_NAMES, explain_phases(repeat, work)):
            print(f"  {name:<34} {1e3 * t:>7.1f}")
        print()
        print("training, microseconds a step (medians; the same network and steps in each column)")
        print(f"{'network':<40} {'tutor':>9} {'float loop':>11} {'NumPy loop':>11}  target")
        for i, (name, tutor_us, float_us, numpy_us) in enumerate(per_step(repeat)):
            if i == 0:
                target = "<= 10 µs" + ("" if tutor_us <= 10 else " MISSED")
            elif i == 2:
                target = "<= NumPy loop" + ("" if tutor_us <= numpy_us else " MISSED")
            else:
                target = ""
            print(f"{name:<40} {tutor_us:>9.1f} {float_us:>11.1f} {numpy_us:>11.1f}  {target}")
        return 0 if math.isfinite(slope) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
