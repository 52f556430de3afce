"""Renders the matrix view and the path view of one step for a terminal (reads tutor.views records only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import render
from .steps import Walkthrough
from .views import matrix_view, path_view

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _fmt(fw, a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.ndim == 1:
        return "[" + ", ".join(fw.number(float(v)) for v in a) + "]"
    return "[" + ", ".join(_fmt(fw, row) for row in a) + "]"


def matrix(walk: Walkthrough) -> list[dict[str, Any]]:
    fw = render.writer(walk, "text")
    out = []
    for l in matrix_view(walk):
        layer = walk.network.layers[l.layer - 1]
        out.append({
            "layer": l.layer, "output": l.output, "sup": str(l.layer).translate(_SUP),
            "prev_sup": str(l.layer - 1).translate(_SUP), "next_sup": str(l.layer + 1).translate(_SUP),
            "W": _fmt(fw, l.W), "b": _fmt(fw, l.b), "a_prev": _fmt(fw, l.a_prev), "z": _fmt(fw, l.z), "a": _fmt(fw, l.a),
            "grad_a": _fmt(fw, l.grad_a), "W_next_T": _fmt(fw, l.W_next_T) if l.W_next_T is not None else "",
            "delta_next": _fmt(fw, l.delta_next) if l.delta_next is not None else "",
            "sigma_prime": _fmt(fw, l.sigma_prime) if l.sigma_prime is not None else "",
            "jacobian": _fmt(fw, l.jacobian) if l.jacobian is not None else "",
            "delta": _fmt(fw, l.delta), "grad_b": _fmt(fw, l.grad_b), "grad_W": _fmt(fw, l.grad_W),
            "shared": layer.shared_bias,
        })  # fmt: skip
    return out


def paths(walk: Walkthrough) -> list[dict[str, Any]]:
    fw = render.writer(walk, "text")
    out = []
    for pp in path_view(walk):
        out.append({
            "param": fw.label(pp.param, "text"),
            "paths": [{"nodes": " → ".join(fw.label(n, "text") for n in p.nodes),
                       "edges": " · ".join(fw.label(e, "text") for e in p.edges),
                       "numbers": " · ".join(fw.number(walk.value(e)) for e in p.edges),
                       "product": fw.number(p.product)} for p in pp.paths],
            "total": fw.number(pp.total), "gradient_label": fw.label(pp.gradient, "text"),
            "gradient": fw.number(walk.value(pp.gradient)),
        })  # fmt: skip
    return out


def render_view_text(walk: Walkthrough, which: str) -> str:
    if which == "matrix":
        return render._render("views/matrix.txt.j2", {"m": matrix(walk)})
    return render._render("views/paths.txt.j2", {"ps": paths(walk)})
