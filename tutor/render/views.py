"""Renders the matrix view, the path view and the gradient magnitudes of one step in every format (reads tutor.views records only).

The matrices and vectors are written, not computed: each array of a ``views.MatrixLayer`` becomes a bracketed
list (text) or a ``bmatrix`` (LaTeX, for pdflatex, MathJax and latex2mathml alike), every number through the
walk-through's own FormulaWriter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.steps import Walkthrough
from ..engine.views import gradient_magnitudes, matrix_view, path_view
from .lines import writer
from .options import DEFAULT, Options

VIEWS = ("matrix", "paths", "magnitudes")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _text(fw, a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.ndim == 1:
        return "[" + ", ".join(fw.number(float(v)) for v in a) + "]"
    return "[" + ", ".join(_text(fw, row) for row in a) + "]"


def _tex(fw, a: np.ndarray, row: bool = False) -> str:
    """A bmatrix: a vector as a column (``row``: as a row, for a transposed vector), a matrix as it is."""
    a = np.asarray(a)
    if a.ndim == 1:
        cells = [fw.number(float(v)) for v in a]
        body = " & ".join(cells) if row else r" \\ ".join(cells)
    else:
        body = r" \\ ".join(" & ".join(fw.number(float(v)) for v in r) for r in a)
    return r"\begin{bmatrix} " + body + r" \end{bmatrix}"


def matrix(walk: Walkthrough, mode: str = "text", options: Options = DEFAULT) -> list[dict[str, Any]]:
    """BP1-BP4 of every layer with its operands written out: brackets in "text", bmatrix in "tex"/"web"."""
    fw = writer(walk, mode, options)
    tex = mode != "text"

    def arr(a, row: bool = False) -> str:
        if a is None:
            return ""
        return _tex(fw, a, row) if tex else _text(fw, a)

    out = []
    for l in matrix_view(walk):
        layer = walk.network.layers[l.layer - 1]
        sup = (lambda k: str(k)) if tex else (lambda k: str(k).translate(_SUP))
        out.append(
            {
                "layer": l.layer,
                "output": l.output,
                "sup": sup(l.layer),
                "prev_sup": sup(l.layer - 1),
                "next_sup": sup(l.layer + 1),
                "activation": layer.activation,
                "W": arr(l.W),
                "b": arr(l.b),
                "a_prev": arr(l.a_prev),
                "a_prev_row": arr(l.a_prev, True),
                "z": arr(l.z),
                "a": arr(l.a),
                "grad_a": arr(l.grad_a),
                "W_next_T": arr(l.W_next_T),
                "delta_next": arr(l.delta_next),
                "sigma_prime": arr(l.sigma_prime),
                "jacobian": arr(l.jacobian),
                "delta": arr(l.delta),
                "grad_b": arr(l.grad_b),
                "grad_W": arr(l.grad_W),
                "shared": layer.shared_bias,
            }
        )
        if tex:
            out[-1]["equations"] = _equations(out[-1])
    return out


def _equations(l: dict[str, Any]) -> list[dict[str, Any]]:
    """The layer's forward pass and BP1-BP4 as LaTeX math: each its left side and its stages (the symbols,
    the operands written out, the result), so that a wide one can take a line a stage."""
    L, P, N = l["sup"], l["prev_sup"], l["next_sup"]
    T = r"^{\mathsf{T}}"
    eqs = [
        ("", rf"z^{{{L}}}", [rf"W^{{{L}}} a^{{{P}}} + b^{{{L}}}", f"{l['W']} {l['a_prev']} + {l['b']}", l["z"]]),
        ("", rf"a^{{{L}}}", [rf"f(z^{{{L}}})", l["a"]]),
    ]
    if l["output"] and l["sigma_prime"]:
        eqs.append(
            (
                "BP1",
                rf"\delta^{{{L}}}",
                [rf"\nabla_{{a}} C \odot \sigma'(z^{{{L}}})", rf"{l['grad_a']} \odot {l['sigma_prime']}", l["delta"]],
            )
        )
    elif l["output"]:  # softmax: the Jacobian J_kj = d out_k / d net_j in place of sigma'
        eqs.append(("BP1", rf"\delta^{{{L}}}", [rf"J{T} \nabla_{{a}} C", f"{l['jacobian']} {l['grad_a']}", l["delta"]]))
    else:
        eqs.append(
            (
                "BP2",
                rf"\delta^{{{L}}}",
                [
                    rf"\bigl((W^{{{N}}}){T} \delta^{{{N}}}\bigr) \odot \sigma'(z^{{{L}}})",
                    rf"\bigl({l['W_next_T']} {l['delta_next']}\bigr) \odot {l['sigma_prime']}",
                    rf"{l['grad_a']} \odot {l['sigma_prime']}",
                    l["delta"],
                ],
            )
        )
    # one bias shared by the layer: its gradient is the sum of the layer's deltas
    sum_ = rf"\sum_{{j}} \delta^{{{L}}}_{{j}}" if l["shared"] else rf"\delta^{{{L}}}"
    eqs.append(("BP3", rf"\frac{{\partial C}}{{\partial b^{{{L}}}}}", [sum_, l["grad_b"]]))
    eqs.append(
        (
            "BP4",
            rf"\frac{{\partial C}}{{\partial W^{{{L}}}}}",
            [rf"\delta^{{{L}}} (a^{{{P}}}){T}", f"{l['delta']} {l['a_prev_row']}", l["grad_W"]],
        )
    )
    return [{"name": name, "lhs": lhs, "stages": stages} for name, lhs, stages in eqs]


def paths(walk: Walkthrough, mode: str = "text", options: Options = DEFAULT) -> list[dict[str, Any]]:
    """Every path from each parameter to the loss: its nodes, the factor on each edge, their product."""
    fw = writer(walk, mode, options)
    arrow, dot = (" → ", " · ") if mode == "text" else (r" \to ", r" \cdot ")

    def num(v: float) -> str:
        s = fw.number(v)
        if not s.startswith("-"):
            return s
        return f"({s})" if mode == "text" else r"\left(" + s + r"\right)"

    out = []
    for pp in path_view(walk):
        out.append(
            {
                "param": fw.label(pp.param, mode),
                "paths": [
                    {
                        "nodes": arrow.join(fw.label(n, mode) for n in p.nodes),
                        "edges": dot.join(fw.label(e, mode) for e in p.edges),
                        "numbers": dot.join(num(walk.value(e)) for e in p.edges),
                        "product": fw.number(p.product),
                    }
                    for p in pp.paths
                ],
                "total": fw.number(pp.total),
                "gradient_label": fw.label(pp.gradient, mode),
                "gradient": fw.number(walk.value(pp.gradient)),
            }
        )
    return out


def _sci(x: float, mode: str) -> str:
    """A magnitude in scientific notation, three significant digits: they span orders of magnitude."""
    mantissa, exponent = f"{x:.2e}".split("e")
    if x == 0:
        return "0"
    if mode == "text":
        return f"{mantissa}·10{str(int(exponent)).translate(str.maketrans('0123456789-', '⁰¹²³⁴⁵⁶⁷⁸⁹⁻'))}"
    return mantissa + r" \cdot 10^{" + str(int(exponent)) + "}"


def magnitudes(
    walk: Walkthrough, mode: str = "text", twin: Walkthrough | None = None, twin_name: str = ""
) -> dict[str, Any]:
    """The mean size of the deltas and weight gradients layer by layer, beside a twin network's when given."""
    rows = [
        {"layer": m.layer, "activation": m.activation, "delta": _sci(m.delta, mode), "gradient": _sci(m.gradient, mode)}
        for m in gradient_magnitudes(walk)
    ]
    if twin is not None:
        for row, m in zip(rows, gradient_magnitudes(twin)):
            row.update(
                twin_activation=m.activation, twin_delta=_sci(m.delta, mode), twin_gradient=_sci(m.gradient, mode)
            )
    # a residual network's twin is itself without the skips (the vanishing-gradient comparison of seed 002)
    skips = twin is not None and walk.network.has_skips and not twin.network.has_skips
    return {"rows": rows, "twin": twin_name if twin is not None else "", "layers": len(rows), "skipless": skips}


def data(
    walk: Walkthrough,
    views: tuple[str, ...] | list[str],
    mode: str,
    twin: Walkthrough | None = None,
    twin_name: str = "",
    *,
    options: Options = DEFAULT,
) -> dict[str, Any]:
    """What the walk-through templates' ``views`` block reads: each asked-for view, or None."""
    return {
        "matrix": matrix(walk, mode, options) if "matrix" in views else None,
        "paths": paths(walk, mode, options) if "paths" in views else None,
        "magnitudes": magnitudes(walk, mode, twin, twin_name) if "magnitudes" in views else None,
    }
