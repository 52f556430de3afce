"""Renders the matrix view, the path view and the gradient magnitudes of one step in every format (reads tutor.views records only).

The matrices and vectors are written, not computed: each array of a ``views.MatrixLayer`` becomes a bracketed
list (text) or a ``bmatrix`` (LaTeX, for pdflatex, MathJax and latex2mathml alike), every number through the
walk-through's own FormulaWriter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.steps import Walkthrough
from ..engine.views import gradient_magnitudes, matrix_view, path_totals
from .lines import writer
from .notation import tex_escape
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


# Each layer's own f' in the matrix view: the name a student knows, not sigma' for every activation.
_FPRIME_TEX = {"sigmoid": r"\sigma'", "tanh": r"\tanh'", "relu": r"\mathrm{ReLU}'", "identity": r"\mathrm{id}'"}
_FPRIME_TEXT = {"sigmoid": "σ′", "tanh": "tanh′", "relu": "ReLU′", "identity": "id′"}


def fprime(activation: str, mode: str) -> str:
    """The derivative of an activation by its own name: σ′ for sigmoid, tanh′ for tanh, ReLU′ for relu."""
    if mode == "text":
        return _FPRIME_TEXT.get(activation, activation + "′")
    if activation in _FPRIME_TEX:
        return _FPRIME_TEX[activation]
    return r"\mathrm{" + tex_escape(activation).replace(r"\_", r"\text{\_}") + "}'"


def matrix(walk: Walkthrough, mode: str = "text", options: Options = DEFAULT) -> dict[str, Any]:
    """BP1-BP4 with their operands written out, in the order they are computed: the forward pass layer by
    layer, then BP1 at the output and BP2 layer by layer toward the input, each layer's BP3 and BP4 right
    after its delta. Brackets in "text", bmatrix in "tex"/"web"."""
    fw = writer(walk, mode, options)
    tex = mode != "text"

    def arr(a, row: bool = False) -> str:
        if a is None:
            return ""
        return _tex(fw, a, row) if tex else _text(fw, a)

    layers = []
    for l in matrix_view(walk):
        layer = walk.network.layers[l.layer - 1]
        sup = (lambda k: str(k)) if tex else (lambda k: str(k).translate(_SUP))
        d = {
            "layer": l.layer,
            "output": l.output,
            "sup": sup(l.layer),
            "prev_sup": sup(l.layer - 1),
            "next_sup": sup(l.layer + 1),
            "activation": layer.activation,
            "fprime": fprime(layer.activation, mode),
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
            "updated_bias": walk.network.update_biases,
            "weightless": layer.weightless,  # z = a of the layer before: no W, no b, no BP3 or BP4
            "has_bias": layer.has_bias,
            "next_weightless": l.layer < len(walk.network.layers) and walk.network.layers[l.layer].weightless,
        }
        layers.append(d)
    eqs = _tex_equations if tex else _text_equations
    forward = [
        {"layer": d["layer"], "output": d["output"], "activation": d["activation"], "equations": eqs(d, "forward")}
        for d in layers
    ]
    backward = [
        {"layer": d["layer"], "output": d["output"], "activation": d["activation"], "equations": eqs(d, "backward")}
        for d in reversed(layers)
    ]
    return {"forward": forward, "backward": backward}


def _eq(name: str, lhs: str, stages: list[str], note: str = "") -> dict[str, Any]:
    return {"name": name, "lhs": lhs, "stages": [s for s in stages if s], "note": note}


def _bias_note(l: dict[str, Any]) -> str:
    parts = []
    if l["shared"]:
        parts.append("one bias shared by the layer: the sum of its deltas")
    if not l["updated_bias"]:
        parts.append("the bias is not updated in this step")
    return "; ".join(parts)


def _tex_equations(l: dict[str, Any], part: str) -> list[dict[str, Any]]:
    """The layer's forward pass, or its BP1/BP2, BP3 and BP4, as LaTeX math: each its left side and its
    stages (the symbols, the operands written out, the result), so that a wide one can take a line a stage."""
    L, P, N = l["sup"], l["prev_sup"], l["next_sup"]
    T = r"^{\mathsf{T}}"
    fp = l["fprime"]
    if part == "forward":
        if l["weightless"]:
            z = _eq("", rf"z^{{{L}}}", [rf"a^{{{P}}}", l["z"]])
        elif not l["has_bias"]:
            z = _eq("", rf"z^{{{L}}}", [rf"W^{{{L}}} a^{{{P}}}", f"{l['W']} {l['a_prev']}", l["z"]])
        else:
            z = _eq(
                "", rf"z^{{{L}}}", [rf"W^{{{L}}} a^{{{P}}} + b^{{{L}}}", f"{l['W']} {l['a_prev']} + {l['b']}", l["z"]]
            )
        return [z, _eq("", rf"a^{{{L}}}", [rf"f(z^{{{L}}})", l["a"]])]
    eqs = []
    if l["output"] and l["sigma_prime"]:
        eqs.append(
            _eq(
                "BP1",
                rf"\delta^{{{L}}}",
                [rf"\nabla_{{a}} C \odot {fp}(z^{{{L}}})", rf"{l['grad_a']} \odot {l['sigma_prime']}", l["delta"]],
            )
        )
    elif l["output"]:  # softmax: the Jacobian J_kj = d out_k / d net_j in place of f'
        eqs.append(
            _eq("BP1", rf"\delta^{{{L}}}", [rf"J{T} \nabla_{{a}} C", f"{l['jacobian']} {l['grad_a']}", l["delta"]])
        )
    elif l["next_weightless"]:  # z of the next layer is this layer's a: its delta comes back unweighted
        eqs.append(
            _eq(
                "BP2",
                rf"\delta^{{{L}}}",
                [rf"\delta^{{{N}}} \odot {fp}(z^{{{L}}})", rf"{l['grad_a']} \odot {l['sigma_prime']}", l["delta"]],
            )
        )
    else:
        eqs.append(
            _eq(
                "BP2",
                rf"\delta^{{{L}}}",
                [
                    rf"\bigl((W^{{{N}}}){T} \delta^{{{N}}}\bigr) \odot {fp}(z^{{{L}}})",
                    rf"\left({l['W_next_T']} {l['delta_next']}\right) \odot {l['sigma_prime']}",
                    rf"{l['grad_a']} \odot {l['sigma_prime']}",
                    l["delta"],
                ],
            )
        )
    sum_ = rf"\sum_{{j}} \delta^{{{L}}}_{{j}}" if l["shared"] else rf"\delta^{{{L}}}"
    if l["weightless"]:
        return eqs
    if l["has_bias"]:
        eqs.append(_eq("BP3", rf"\frac{{\partial C}}{{\partial b^{{{L}}}}}", [sum_, l["grad_b"]], _bias_note(l)))
    eqs.append(
        _eq(
            "BP4",
            rf"\frac{{\partial C}}{{\partial W^{{{L}}}}}",
            [rf"\delta^{{{L}}} (a^{{{P}}}){T}", f"{l['delta']} {l['a_prev_row']}", l["grad_W"]],
        )
    )
    return eqs


def _text_equations(l: dict[str, Any], part: str) -> list[dict[str, Any]]:
    """The same equations for a terminal. A vector is written [..] as a column; the outer product of BP4 is
    written with ⊗, so that δ (a)ᵀ cannot be read as a dot product."""
    L, P, N = l["sup"], l["prev_sup"], l["next_sup"]
    fp = l["fprime"]
    if part == "forward":
        if l["weightless"]:
            z = _eq("", f"z{L}", [f"a{P}", l["z"]])
        elif not l["has_bias"]:
            z = _eq("", f"z{L}", [f"W{L} a{P}", f"{l['W']} {l['a_prev']}", l["z"]])
        else:
            z = _eq("", f"z{L}", [f"W{L} a{P} + b{L}", f"{l['W']} {l['a_prev']} + {l['b']}", l["z"]])
        return [z, _eq("", f"a{L}", [f"f(z{L})", l["a"]])]
    eqs = []
    if l["output"] and l["sigma_prime"]:
        eqs.append(_eq("BP1", f"δ{L}", [f"∇a C ⊙ {fp}(z{L})", f"{l['grad_a']} ⊙ {l['sigma_prime']}", l["delta"]]))
    elif l["output"]:
        eqs.append(_eq("BP1", f"δ{L}", ["Jᵀ ∇a C", f"{l['jacobian']}ᵀ {l['grad_a']}", l["delta"]]))
    elif l["next_weightless"]:
        eqs.append(_eq("BP2", f"δ{L}", [f"δ{N} ⊙ {fp}(z{L})", f"{l['grad_a']} ⊙ {l['sigma_prime']}", l["delta"]]))
    else:
        eqs.append(
            _eq(
                "BP2",
                f"δ{L}",
                [
                    f"((W{N})ᵀ δ{N}) ⊙ {fp}(z{L})",
                    f"({l['W_next_T']} {l['delta_next']}) ⊙ {l['sigma_prime']}",
                    f"{l['grad_a']} ⊙ {l['sigma_prime']}",
                    l["delta"],
                ],
            )
        )
    sum_ = f"Σⱼ δ{L}ⱼ" if l["shared"] else f"δ{L}"
    if l["weightless"]:
        return eqs
    if l["has_bias"]:
        eqs.append(_eq("BP3", f"∂C/∂b{L}", [sum_, l["grad_b"]], _bias_note(l)))
    eqs.append(_eq("BP4", f"∂C/∂W{L}", [f"δ{L} (a{P})ᵀ = δ{L} ⊗ a{P}", f"{l['delta']} ⊗ {l['a_prev']}", l["grad_W"]]))
    return eqs


# The path view lists at most this many paths in all (a 4-wide 6-layer network has about 100 000), and in
# --brief at most BRIEF_PATHS a parameter; past them it says how many it left out (its sums are over all).
MAX_SHOWN_PATHS = 200
BRIEF_PATHS = 2


def paths(walk: Walkthrough, mode: str = "text", options: Options = DEFAULT) -> list[dict[str, Any]]:
    """Every path from each parameter to the loss: its nodes, the factor on each edge, their product; past
    MAX_SHOWN_PATHS in all, shared out evenly between the layers (BRIEF_PATHS a parameter in --brief), only
    their number, the sums stay over all."""
    fw = writer(walk, mode, options)
    arrow, dot = (" → ", " · ") if mode == "text" else (r" \to ", r" \cdot ")

    def num(v: float) -> str:
        s = fw.number(v)
        if not s.startswith("-"):
            return s
        return f"({s})" if mode == "text" else r"\left(" + s + r"\right)"

    out = []
    views = path_totals(walk)  # counted and summed over all paths; only the listed ones are made
    # the listing is shared out layer by layer, so that every layer's parameters (the first layer's too, whose
    # paths are the most numerous) have paths listed; past its share a layer gives each count and sum only
    layer_of = {p.label: p.layer for p in walk.params}
    layers = sorted({layer_of.get(pp.param, -1) for pp in views})
    budget = _shares({li: sum(pp.count for pp in views if layer_of.get(pp.param, -1) == li) for li in layers})
    for pp in views:
        li = layer_of.get(pp.param, -1)
        listed = pp.first(min(budget[li], BRIEF_PATHS if options.brief else pp.count))
        budget[li] -= len(listed)
        out.append(
            {
                "param": fw.label(pp.param, mode),
                "layer": li,
                "count": pp.count,
                "more": pp.count - len(listed),
                "paths": [
                    {
                        "nodes": arrow.join(fw.label(n, mode) for n in p.nodes),
                        "edges": dot.join(fw.label(e, mode) for e in p.edges),
                        "numbers": dot.join(num(walk.value(e)) for e in p.edges),
                        "product": fw.number(p.product),
                    }
                    for p in listed
                ],
                "total": fw.number(pp.total),
                "gradient_label": fw.label(pp.gradient, mode),
                "gradient": fw.number(walk.value(pp.gradient)),
            }
        )
    return out


def _shares(totals: dict[int, int]) -> dict[int, int]:
    """MAX_SHOWN_PATHS shared out between the layers (``totals``: each layer's paths): evenly, and a layer with
    fewer paths than its share leaves the rest to the others."""
    budget, left, open_ = {}, MAX_SHOWN_PATHS, dict(totals)
    while open_:
        share = left // len(open_)
        small = {li: n for li, n in open_.items() if n <= share}
        if not small:
            budget.update(dict.fromkeys(open_, share))
            break
        for li, n in small.items():
            budget[li] = n
            left -= n
            del open_[li]
    return budget


def path_layers(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The path view summed up layer by layer, first layer first (``listed``: what ``paths`` gives): how many
    parameters, paths a parameter (fewest to most), paths in all, and how many of them are written out. Empty
    when every path is written out, as the listing itself then says all of it."""
    if not any(p["more"] for p in listed):
        return []
    rows: dict[int, dict[str, Any]] = {}
    for p in listed:
        r = rows.setdefault(p["layer"], {"layer": p["layer"] + 1, "first": p["param"], "counts": [], "listed": 0})
        r["last"] = p["param"]
        r["counts"].append(p["count"])
        r["listed"] += p["count"] - p["more"]
    out = []
    for li in sorted(rows):
        r = rows.pop(li)
        counts = r.pop("counts")
        low, high = min(counts), max(counts)
        each = str(low) if low == high else f"{low} to {high}"
        out.append(dict(r, parameters=len(counts), each=each, total=sum(counts)))
    return out


def _sci(x: float, mode: str) -> str:
    """A magnitude in scientific notation, three significant digits: they span orders of magnitude."""
    if x != x:  # NaN: a layer without weights has no weight gradient
        return "none" if mode == "text" else r"\text{none}"
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
    listed = paths(walk, mode, options) if "paths" in views else None
    return {
        "matrix": matrix(walk, mode, options) if "matrix" in views else None,
        "paths": listed,
        "path_layers": path_layers(listed) if listed else [],
        "magnitudes": magnitudes(walk, mode, twin, twin_name) if "magnitudes" in views else None,
    }
