"""The operations of a computational graph, each with its SymPy form and its float function side by side.

Part of the one rule registry (``tutor.spec.rules`` re-exports ``GRAPH_OPS``): the graph engine derives each
operation's local derivatives from ``sym`` once per kind and evaluates the forward pass with ``f``, so the two
can only drift apart where the finite-difference and PyTorch checks would see it. ``domain`` names the inputs
an operation does not accept (a division by zero, the log of a non-positive number) before ``f`` runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

Floats = Sequence[float]


def _sp():
    import sympy

    return sympy


@dataclass(frozen=True)
class GraphOp:
    """One kind of gate.

    ``sym(xs, p)`` is its output as a SymPy expression of the input symbols ``xs`` (``p`` the constant
    exponent of a power, else None); ``f(xs, p)`` the same on floats; ``domain(xs, p)`` a sentence saying why
    the inputs are not allowed, or None. ``symbol`` is how the picture writes the gate; ``pattern`` names
    what the gate does to the gradient, where it has a name the courses use.
    """

    name: str
    arity: int  # 0: two or more (max, min)
    summary: str
    symbol: str
    sym: Callable[..., Any]
    f: Callable[[Floats, Any], float]
    domain: Callable[[Floats, Any], str | None] = lambda xs, p: None
    pattern: str = ""


def _sigmoid(x: float) -> float:
    # 1/(1 + e^-x) as written, but without overflow for a very negative x
    if x < -700:
        return math.exp(x)
    return 1.0 / (1.0 + math.exp(-x))


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _pow(x: float, p: float) -> float:
    try:
        return float(x**p)
    except OverflowError:
        return math.inf
    except ZeroDivisionError:
        return math.inf


def _pow_domain(xs: Floats, p: float) -> str | None:
    x = xs[0]
    if x == 0 and p < 0:
        return f"0 raised to the negative power {p:g} (a division by zero)"
    if x < 0 and not float(p).is_integer():
        return f"a negative number ({x:g}) raised to the non-integer power {p:g}"
    return None


def _sym_pow(xs, p):
    sp = _sp()
    exponent = sp.Integer(int(p)) if float(p).is_integer() else sp.Rational(str(p))
    return xs[0] ** exponent


def _fold(fn):
    def sym(xs, p):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out

    return sym


GRAPH_OPS: dict[str, GraphOp] = {
    o.name: o
    for o in [
        GraphOp(
            "add",
            2,
            "a + b",
            "+",
            lambda xs, p: xs[0] + xs[1],
            lambda xs, p: xs[0] + xs[1],
            pattern="add gate: it distributes the upstream gradient unchanged to every input (local derivative 1)",
        ),
        GraphOp(
            "sub",
            2,
            "a - b",
            "−",
            lambda xs, p: xs[0] - xs[1],
            lambda xs, p: xs[0] - xs[1],
            pattern="subtract gate: the upstream gradient goes to the first input, its negative to the second",
        ),
        GraphOp(
            "mul",
            2,
            "a * b",
            "×",
            lambda xs, p: xs[0] * xs[1],
            lambda xs, p: xs[0] * xs[1],
            pattern="multiply gate: it swaps the inputs, each input's local derivative is the other input's value",
        ),
        GraphOp(
            "div",
            2,
            "a / b",
            "÷",
            lambda xs, p: xs[0] / xs[1],
            lambda xs, p: xs[0] / xs[1],
            domain=lambda xs, p: "a division by zero" if xs[1] == 0 else None,
        ),
        GraphOp("neg", 1, "-a", "−x", lambda xs, p: -xs[0], lambda xs, p: -xs[0], pattern=""),
        GraphOp("pow", 1, "a ** c (c a constant)", "x^c", _sym_pow, lambda xs, p: _pow(xs[0], p), _pow_domain),
        GraphOp(
            "exp",
            1,
            "e^a",
            "exp",
            lambda xs, p: _sp().exp(xs[0]),
            lambda xs, p: _exp(xs[0]),
            pattern="exp gate: its local derivative is its own output",
        ),
        GraphOp(
            "log",
            1,
            "ln a (a > 0)",
            "log",
            lambda xs, p: _sp().log(xs[0]),
            lambda xs, p: math.log(xs[0]),
            lambda xs, p: f"the log of a non-positive number ({xs[0]:g})" if xs[0] <= 0 else None,
        ),
        GraphOp(
            "sqrt",
            1,
            "sqrt a (a >= 0)",
            "sqrt",
            lambda xs, p: _sp().sqrt(xs[0]),
            lambda xs, p: math.sqrt(xs[0]),
            lambda xs, p: f"the square root of a negative number ({xs[0]:g})" if xs[0] < 0 else None,
        ),
        GraphOp("abs", 1, "|a|", "abs", lambda xs, p: _sp().Abs(xs[0]), lambda xs, p: abs(xs[0])),
        GraphOp(
            "max",
            0,
            "max(a, b, ...)",
            "max",
            lambda xs, p: _sp().Max(*xs),
            lambda xs, p: max(xs),
            pattern="max gate: it routes the gradient to the larger input; the others get 0",
        ),
        GraphOp(
            "min",
            0,
            "min(a, b, ...)",
            "min",
            lambda xs, p: _sp().Min(*xs),
            lambda xs, p: min(xs),
            pattern="min gate: it routes the gradient to the smaller input; the others get 0",
        ),
        GraphOp(
            "sigmoid",
            1,
            "1 / (1 + e^-a)",
            "σ",
            lambda xs, p: 1 / (1 + _sp().exp(-xs[0])),
            lambda xs, p: _sigmoid(xs[0]),
            pattern="sigmoid gate: its local derivative is its own output times one minus its output",
        ),
        GraphOp(
            "tanh",
            1,
            "tanh a",
            "tanh",
            lambda xs, p: _sp().tanh(xs[0]),
            lambda xs, p: math.tanh(xs[0]),
            pattern="tanh gate: its local derivative is one minus its own output squared",
        ),
        GraphOp(
            "relu",
            1,
            "max(0, a)",
            "ReLU",
            lambda xs, p: _sp().Piecewise((xs[0], xs[0] > 0), (0, True)),
            lambda xs, p: xs[0] if xs[0] > 0 else 0.0,
            pattern="ReLU gate: it passes the gradient where its input is positive and blocks it elsewhere",
        ),
    ]
}

# The functions an expression may call, by the name it uses.
FUNCTIONS = ("exp", "log", "sqrt", "abs", "max", "min", "sigmoid", "tanh", "relu")


def heaviside(x: float, at_zero: float = 0.5) -> float:
    """SymPy's Heaviside on floats: the derivative of max and min, which splits a tie equally (as
    torch.maximum does)."""
    return 1.0 if x > 0 else (0.0 if x < 0 else at_zero)


def sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


# What a derivative SymPy derived may contain, on floats.
FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {"Heaviside": heaviside, "sign": sign, "exp": _exp}
