"""Seeded random networks for quizzes and worksheets: small, well-conditioned, every given value with one or two decimals.

>>> net = generate(7)
>>> net.shape, net.conventions.rounding, net.conventions.digits
((2, 2, 1), 'as-printed', 4)
>>> generate(7).layers[0].weights.tolist() == net.layers[0].weights.tolist()
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine import numeric
from ..spec import rules
from ..spec.errors import SpecError, TutorError
from ..spec.network import Network, from_mapping

MAX_SEED = 2**32 - 1
MIN_SIZES, MAX_SIZES, MAX_NEURONS = 2, 8, 10
MIN_DIGITS, MAX_DIGITS = 2, 9
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity")
OUTPUT_ACTIVATIONS = ("sigmoid", "tanh", "identity", "softplus", "softmax")
LOSSES = ("half_sse", "mse", "binary_cross_entropy", "categorical_cross_entropy")
# 1.0 is left out: with it, forgetting the learning rate would give the right update.
LEARNING_RATES = (0.1, 0.2, 0.25, 0.3, 0.5)
NICE_RATES = (0.1, 0.5)
_KINKED = ("relu", "leaky_relu", "elu")
# Draws before giving up: a draw of the largest shape costs about 2 ms, so a hopeless set of options ends in
# about 10 s. The budget counts draws, not seconds, so a seed gives the same network on any machine;
# MAX_SECONDS is only the safety net of a very slow one.
MAX_ATTEMPTS = 5_000
MAX_SECONDS = 25.0
STRICT_PARAMETERS = 40  # up to this many weights and biases, every delta and gradient must be clearly non-zero


@dataclass(frozen=True)
class Options:
    """How the random network is shaped; every field is a command-line option of the same name."""

    shape: tuple[int, ...] = (2, 2, 1)
    activation: str = "sigmoid"  # the hidden layers'
    output_activation: str = "sigmoid"
    loss: str = "half_sse"
    digits: int = 4  # every shown value is rounded to this many decimals and carried forward
    nice: bool = False  # hand-computable: one-decimal weights and biases, inputs 0.5, 1, -1 ..., a simple rate

    def validated(self) -> "Options":
        _choice(self.activation, HIDDEN_ACTIVATIONS, "--activation")
        _choice(self.output_activation, OUTPUT_ACTIVATIONS, "--output-activation")
        _choice(self.loss, LOSSES, "--loss")
        outputs = self.shape[-1]
        if self.output_activation == "softmax" and outputs < 2:
            raise TutorError(
                "softmax needs at least two output neurons (the last size of --shape)", "--output-activation"
            )
        bounded = rules.LOSSES[self.loss].output_range is not None
        if bounded and self.output_activation not in ("sigmoid", "softmax"):
            raise TutorError(
                f"loss {self.loss!r} needs outputs in (0, 1): use --output-activation sigmoid or softmax, "
                f"not {self.output_activation!r}",
                "--loss",
            )
        if self.nice and self.shape[0] > len(NICE_INPUTS):
            raise TutorError(
                f"--nice draws the inputs from {len(NICE_INPUTS)} simple values; give at most that many inputs",
                "--shape",
            )
        if (
            isinstance(self.digits, bool)
            or not isinstance(self.digits, int)
            or not MIN_DIGITS <= self.digits <= MAX_DIGITS
        ):
            raise TutorError(
                f"must be a whole number from {MIN_DIGITS} to {MAX_DIGITS}, got {self.digits!r}", "--digits"
            )
        return self

    def describe(self) -> str:
        shape = "-".join(map(str, self.shape))
        return (
            f"--shape {shape} --activation {self.activation} --output-activation {self.output_activation} "
            f"--loss {self.loss} --digits {self.digits}" + (" --nice" if self.nice else "")
        )


def options(
    shape: str | None = None,
    activation: str | None = None,
    output_activation: str | None = None,
    loss: str | None = None,
    digits: int | None = None,
    nice: bool = False,
) -> Options:
    """Options from the command line's strings; None keeps the default."""
    d = Options()
    return Options(
        parse_shape(shape) if shape is not None else d.shape,
        activation or d.activation,
        output_activation or d.output_activation,
        loss or d.loss,
        d.digits if digits is None else digits,
        bool(nice),
    ).validated()


def new_seed() -> int:
    """A fresh seed, for a random network nobody asked to reproduce (it is shown, so it can be)."""
    import secrets

    return secrets.randbelow(MAX_SEED + 1)


def _choice(value: str, allowed: tuple[str, ...], option: str) -> None:
    if value not in allowed:
        import difflib  # only for a misspelt name: not imported on every run

        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TutorError(f"{value!r} is not allowed{hint}; allowed: {', '.join(allowed)}", option)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"2-2-1"`` -> ``(2, 2, 1)``: the input size, the hidden sizes, the output size.

    >>> parse_shape("3-2-2")
    (3, 2, 2)
    """
    parts = str(text).strip().split("-")
    allowed = (
        f"sizes joined by '-', like 2-2-1: {MIN_SIZES} to {MAX_SIZES} whole numbers from 1 to "
        f"{MAX_NEURONS} (inputs, hidden layers, outputs)"
    )
    if not MIN_SIZES <= len(parts) <= MAX_SIZES or not all(re.fullmatch(r"[0-9]{1,2}", p) for p in parts):
        raise TutorError(f"expected {allowed}; got {str(text)[:40]!r}", "--shape")
    sizes = tuple(int(p) for p in parts)
    if not all(1 <= s <= MAX_NEURONS for s in sizes):
        raise TutorError(f"expected {allowed}; got {text!r}", "--shape")
    return sizes


def check_seed(seed: Any, option: str = "--seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise TutorError(f"must be a whole number from 0 to {MAX_SEED}, got {seed!r}", option)
    return seed


@dataclass(frozen=True)
class RandomNetwork:
    """A generated network, the spec it was built from (TOML keys), and how to make it again."""

    seed: int
    options: Options
    spec: dict[str, Any] = field(repr=False)
    network: Network = field(repr=False)

    @property
    def command(self) -> str:
        return f"--seed {self.seed} {self.options.describe()}"


def generate(seed: int, options: Options = Options()) -> Network:
    """The network of ``seed``: the same seed and options always give the same network."""
    return make(seed, options).network


def make(seed: int, options: Options = Options()) -> RandomNetwork:
    """Draw networks from ``numpy.random.default_rng(seed)`` until one is well conditioned."""
    check_seed(seed)
    options = options.validated()
    rng = np.random.default_rng(seed)
    import time

    deadline = time.monotonic() + MAX_SECONDS
    for attempt in range(MAX_ATTEMPTS):
        if attempt % 100 == 99 and time.monotonic() > deadline:
            raise TutorError(
                f"no well-conditioned network with these options in {MAX_SECONDS:g} s ({attempt + 1} draws); "
                "try another --shape or --activation",
                "--seed",
            )
        spec = _draw(rng, seed, options)
        try:
            net = from_mapping(spec, where=f"random network (seed {seed})")
        except SpecError:  # pragma: no cover - a draw always fits the spec format; kept as a safety net
            continue
        if well_conditioned(net):
            return RandomNetwork(seed, options, spec, net)
    raise TutorError(
        f"no well-conditioned network with these options after {MAX_ATTEMPTS} draws; "
        "try another --shape or --activation",
        "--seed",
    )


def _number(rng: np.random.Generator, lo: float, hi: float, min_abs: float = 0.0, nice: bool = False) -> float:
    """A value in [lo, hi] with one or two decimals (one when ``nice``), drawn as an integer so that its repr
    has no float noise."""
    while True:
        scale = 10 if nice else 10 ** int(rng.integers(1, 3))
        v = int(rng.integers(math.ceil(lo * scale), math.floor(hi * scale) + 1)) / scale
        if abs(v) >= min_abs:
            return v


NICE_INPUTS = (1.0, -1.0, 0.5, -0.5, 2.0, 0.2, -0.2)


def _distinct(
    rng: np.random.Generator, n: int, lo: float, hi: float, min_abs: float, nice: bool = False
) -> list[float]:
    # Distinct values, so that "the wrong input used" gives a different number than the right one.
    out: list[float] = []
    while len(out) < n:
        v = float(rng.choice(NICE_INPUTS)) if nice else _number(rng, lo, hi, min_abs)
        if all(abs(v - u) >= 0.05 for u in out):
            out.append(v)
    return out


def _targets(rng: np.random.Generator, o: Options) -> list[float]:
    n = o.shape[-1]
    if o.output_activation == "softmax" or o.loss == "categorical_cross_entropy":
        hot = int(rng.integers(n))
        return [1.0 if k == hot else 0.0 for k in range(n)]
    if o.loss == "binary_cross_entropy":
        return [float(rng.integers(2)) for _ in range(n)]
    lo, hi = {"sigmoid": (0.05, 0.95), "tanh": (-0.9, 0.9), "softplus": (0.1, 1.5)}.get(
        o.output_activation, (-1.0, 1.0)
    )
    return [_number(rng, lo, hi, nice=o.nice) for _ in range(n)]


def _draw(rng: np.random.Generator, seed: int, o: Options) -> dict[str, Any]:
    sizes = o.shape
    inputs = [f"x{i + 1}" for i in range(sizes[0])]
    layers = []
    w_count = b_count = 0
    for li in range(1, len(sizes)):
        rows, cols = sizes[li], sizes[li - 1]
        weights = [[_number(rng, -1.0, 1.0, 0.1, o.nice) for _ in range(cols)] for _ in range(rows)]
        # Mazur's numbering: w1, w2, ... row by row, layer after layer; one bias per neuron, b1, b2, ...
        labels = [[f"w{w_count + j * cols + i + 1}" for i in range(cols)] for j in range(rows)]
        w_count += rows * cols
        output = li == len(sizes) - 1
        layers.append(
            {
                "activation": o.output_activation if output else o.activation,
                "size": rows,
                "weights": weights,
                "weight_labels": labels,
                "biases": [_number(rng, -0.5, 0.5, 0.05, o.nice) for _ in range(rows)],
                "bias_labels": [f"b{b_count + j + 1}" for j in range(rows)],
            }
        )
        b_count += rows
    shape = "-".join(map(str, sizes))
    return {
        "title": f"Random {shape} network, seed {seed}",
        "description": (
            f"{shape}: {o.activation} hidden layers, {o.output_activation} output, "
            f"{rules.LOSSES[o.loss].title}; every value rounded to {o.digits} decimals and carried forward."
        ),
        "source": f"backprop-tutor random network: --seed {seed} {o.describe()}",
        "inputs": {"names": inputs, "values": _distinct(rng, sizes[0], -1.0, 1.0, 0.1, o.nice)},
        "layers": layers,
        "loss": {"name": o.loss, "targets": _targets(rng, o)},
        "training": {
            "learning_rate": float(rng.choice(NICE_RATES if o.nice else LEARNING_RATES)),
            "update_biases": True,
        },
        "conventions": {"rounding": "as-printed", "digits": o.digits, "update_order": "standard"},
    }


def well_conditioned(net: Network) -> bool:
    """No kink, saturation or vanishing step: every value a student computes is clearly away from trouble.

    The pre-activations of ReLU-like layers stay 0.05 or more away from the kink (and ReLU neurons are
    alive), sigmoid, softmax and tanh outputs are not saturated, the inputs of every layer differ from each
    other, and every delta and weight gradient is at least five units of the last shown decimal, so that
    the misconceptions give visibly different numbers.
    In a network of more than ``STRICT_PARAMETERS`` weights and biases (beyond hand work)
    a third of the deltas and gradients may print as zero, as a deep network's gradients vanish.
    """
    exact = net.with_conventions(rounding="exact")
    st = numeric.step(exact)
    fw, bw = st.forward, st.backward
    unit = 10.0**-net.conventions.digits
    # In a network beyond what is worked by hand (more than STRICT_PARAMETERS), one small gradient among a
    # hundred is no reason to draw again, and a deep sigmoid network's gradients do vanish: there a third of
    # the deltas and gradients may print as zero, and a layer's inputs need only be 5 units apart.
    strict = sum(l.weights.size + l.biases.size for l in net.layers) <= STRICT_PARAMETERS
    small = total = 0
    for li, layer in enumerate(net.layers):
        z, a = fw.nets[li], fw.outs[li]
        act = layer.activation
        if act in _KINKED and np.any(np.abs(z) < 0.05):
            return False
        if act == "relu" and np.any(z <= 0):
            return False
        if act in ("sigmoid", "softmax") and np.any((a < 0.05) | (a > 0.95)):
            return False
        if act == "tanh" and np.any(np.abs(a) > 0.9):
            return False
        if np.any(np.abs(z) > 4):
            return False
        a_in = net.inputs if li == 0 else fw.outs[li - 1]
        apart = (20 if strict else 5) * unit
        if a_in.size > 1 and np.min(np.abs(a_in[:, None] - a_in[None, :]) + np.eye(a_in.size)) < apart:
            return False
        if strict:
            if np.any(np.abs(bw.deltas[li]) < 5 * unit) or np.any(np.abs(bw.grad_W[li]) < 5 * unit):
                return False
        else:
            small += int(np.sum(np.abs(bw.deltas[li]) < unit) + np.sum(np.abs(bw.grad_W[li]) < unit))
            total += bw.deltas[li].size + bw.grad_W[li].size
    if small > total // 3:
        return False
    return bool(fw.loss > 10 * unit and np.all(np.isfinite(fw.outs[-1])))


def to_toml(spec: dict[str, Any]) -> str:
    """The spec as a TOML file that ``spec.load`` reads back into the same network.

    Only the shapes ``_draw`` produces are written: strings, numbers, booleans, lists and one level of tables.
    """
    lines: list[str] = []
    for key in ("title", "description", "source"):
        lines.append(f"{key} = {_toml_value(spec[key])}")
    for table in ("inputs",):
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in spec[table].items()]
    for layer in spec["layers"]:
        lines += ["", "[[layers]]"] + [f"{k} = {_toml_value(v)}" for k, v in layer.items()]
    for table in ("loss", "training", "conventions"):
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in spec[table].items()]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"
