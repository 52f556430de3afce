"""What a lecturer checks before handing a handout out unchanged (issue 14): the matrix view reads backward,
shown numbers reproduce their lines, no internal names, lines fit the width, prose once per kind, a brief mode."""

from __future__ import annotations

import re

import pytest

from tutor import render
from tutor.engine.symbolic import explain_step
from tutor.spec import load


def _text(net, **options) -> str:
    return render.render_text(explain_step(net), views=options.pop("views", ()), options=render.Options(**options))


# -- (1) the matrix view reads backward ----------------------------------------------------------------------


def _order(text: str, marks: list[str]) -> list[int]:
    return [text.index(m) for m in marks]


@pytest.mark.parametrize("fmt", ["text", "md", "tex"])
def test_matrix_view_runs_forward_then_backward(fmt):
    walk = explain_step(load("appendix-b"))
    fn = {"text": render.render_text, "md": render.render_markdown, "tex": render.render_latex}[fmt]
    out = fn(walk, views=("matrix",))
    out = out[out.index("Matrix view") :]
    if fmt == "text":
        marks = ["z¹ =", "z² =", "BP1: δ² =", "BP3: ∂C/∂b² =", "BP4: ∂C/∂W² =", "BP2: δ¹ =", "BP3: ∂C/∂b¹", "BP4: ∂C/∂W¹"]
    else:
        marks = ["z^{1}", "z^{2}", r"\delta^{2}", r"\partial b^{2}}", r"\partial W^{2}}", r"\delta^{1}"]
        marks += [r"\partial b^{1}}", r"\partial W^{1}}"]
    positions = _order(out, marks)
    assert positions == sorted(positions), list(zip(marks, positions))


def test_matrix_view_names_each_layers_own_derivative():
    from .test_render import CASES

    net = CASES["deep-tanh-relu"][0]()
    out = _text(net, views=("matrix",))
    view = out[out.index("Matrix view") :]
    assert "ReLU′(z²)" in view and "tanh′(z¹)" in view and "σ′" not in view
    md = render.render_markdown(explain_step(net), views=("matrix",))
    assert r"\tanh'(z^{1})" in md and r"\mathrm{ReLU}'(z^{2})" in md and r"\sigma'" not in md


def test_matrix_view_writes_the_outer_product_as_one():
    view = _text(load("mazur"), views=("matrix",))
    bp4 = [l for l in view.splitlines() if l.strip().startswith("BP4:")]
    assert bp4 and all("⊗" in l and "]ᵀ" not in l for l in bp4)
