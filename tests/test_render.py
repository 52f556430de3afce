"""The walk-through handouts: golden files per case and format, the published Mazur numbers in every format,
the layered notation, template overrides, determinism, and LaTeX and HTML opened as CI opens them.

Regenerate the golden files after an intended change of the output:
    python -m pytest tests/test_render.py --regen-golden
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tutor import render
from tutor.engine.gradcheck import gradient_check
from tutor.engine.symbolic import explain_step
from tutor.render.lines import writer
from tutor.spec import load, loads
from tutor.spec.errors import TutorError

from .conftest import at_printed, decimals, pdf_pages, screenshot

GOLDEN = Path(__file__).parent / "golden"
FORMATS = {"text": "txt", "md": "md", "tex": "tex", "html": "html"}
RENDERERS = {
    "text": render.render_text,
    "md": render.render_markdown,
    "tex": render.render_latex,
    "html": render.render_html,
}

SOFTMAX = """
title = "Softmax with categorical cross-entropy"
description = "Two inputs, two tanh hidden neurons, three softmax outputs; the true class is the second."
[inputs]
names = ["x1", "x2"]
values = [0.6, -0.4]
[[layers]]
neurons = ["h1", "h2"]
activation = "tanh"
weights = [[0.2, -0.3], [0.4, 0.1]]
biases = [0.05, -0.05]
[[layers]]
neurons = ["o1", "o2", "o3"]
activation = "softmax"
weights = [[0.3, -0.2], [0.5, 0.4], [-0.1, 0.2]]
biases = [0.0, 0.1, -0.1]
[loss]
name = "categorical_cross_entropy"
targets = [0.0, 1.0, 0.0]
[training]
learning_rate = 0.1
update_biases = true
[conventions]
digits = 6
"""

DEEP = """
title = "Two hidden layers: tanh, then ReLU"
description = "Three inputs, a tanh layer of three, a ReLU layer of two, one linear output; mean squared error."
[inputs]
names = ["x1", "x2", "x3"]
values = [1.0, 0.5, -0.5]
[[layers]]
activation = "tanh"
size = 3
weights = [[0.1, 0.2, -0.1], [-0.3, 0.1, 0.2], [0.25, -0.15, 0.05]]
biases = [0.01, 0.02, 0.03]
[[layers]]
activation = "relu"
size = 2
weights = [[0.4, -0.2, 0.3], [-0.5, 0.1, 0.2]]
biases = [0.1, 0.2]
[[layers]]
activation = "identity"
size = 1
weights = [[0.7, -0.4]]
bias = 0.05
[loss]
name = "mse"
targets = [0.5]
[training]
learning_rate = 0.05
update_biases = true
[conventions]
digits = 6
"""

# case -> (network, notation)
CASES = {
    "mazur": (lambda: load("mazur"), "spec"),
    "appendix-a": (lambda: load("appendix-a"), "spec"),
    "appendix-b": (lambda: load("appendix-b"), "spec"),
    "softmax-cce": (lambda: loads(SOFTMAX, name="softmax-cce"), "spec"),
    "deep-tanh-relu": (lambda: loads(DEEP, name="deep-tanh-relu"), "spec"),
    "mazur-layered": (lambda: load("mazur"), "layered"),
    "softmax-scores": (lambda: load("softmax-scores"), "spec"),  # weights = false: a softmax over given scores
}

_cache: dict = {}


def rendered(case: str, fmt: str) -> str:
    """The walk-through of a golden case, as ``backprop-tutor explain`` writes it (with the gradient check)."""
    key = (case, fmt)
    if key not in _cache:
        make, notation = CASES[case]
        net = make()
        options = render.Options(notation=notation)
        _cache[key] = RENDERERS[fmt](explain_step(net), check=gradient_check(net), options=options)
    return _cache[key]


def render_net(net, fmt: str, check: bool = False, **options) -> str:
    return RENDERERS[fmt](
        explain_step(net), check=gradient_check(net) if check else None, options=render.Options(**options)
    )


# -- golden files: every case in every format ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_golden(case, fmt, regen_golden):
    path = GOLDEN / case / fmt / f"walkthrough.{FORMATS[fmt]}"
    out = rendered(case, fmt)
    if regen_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, encoding="utf-8", newline="")
        return
    assert path.is_file(), f"missing golden file {path}: run pytest tests/test_render.py --regen-golden"
    expected = path.read_text(encoding="utf-8")
    assert out == expected, f"{path} differs; if the change is intended: pytest tests/test_render.py --regen-golden"


def test_same_input_gives_identical_output():
    net = loads(SOFTMAX)
    for fmt in RENDERERS:
        assert render_net(net, fmt, check=True) == render_net(net, fmt, check=True)


# -- the published Mazur numbers, at their printed precision -----------------------------------------------------

MAZUR_PUBLISHED = [
    ("net_h1", "0.3775"),
    ("out_h1", "0.593269992"),
    ("out_h2", "0.596884378"),
    ("net_o1", "1.105905967"),
    ("out_o1", "0.75136507"),
    ("out_o2", "0.772928465"),
    ("E_o1", "0.274811083"),
    ("E_o2", "0.023560026"),
    ("E_total", "0.298371109"),
    ("dE_total/dout_o1", "0.74136507"),
    ("dout_o1/dnet_o1", "0.186815602"),
    ("dnet_o1/dw5", "0.593269992"),
    ("dE_total/dw5", "0.082167041"),
    ("w5+", "0.35891648"),
    ("w6+", "0.408666186"),
    ("w7+", "0.511301270"),
    ("w8+", "0.561370121"),
    ("dE_o1/dnet_o1", "0.138498562"),
    ("dE_o1/dout_h1", "0.055399425"),
    ("dE_total/dout_h1", "0.036350306"),
    ("dout_h1/dnet_h1", "0.241300709"),
    ("dnet_h1/dw1", "0.05"),
    ("dE_total/dw1", "0.000438568"),
    ("w1+", "0.149780716"),
    ("w2+", "0.19956143"),
    ("w3+", "0.24975114"),
    ("w4+", "0.29950229"),
]


def stripped(printed: str) -> str:
    """A number without its trailing zeros after the point (0.511301270 -> 0.51130127)."""
    return printed.rstrip("0").rstrip(".") if "." in printed else printed


_NUMBER = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?(?![\d.]*\d)")


def _plain(text: str, fmt: str) -> str:
    """The text with MathML's number tokens as plain numbers (a minus sign of its own joined to its number)."""
    if fmt == "html":
        text = re.sub(r"<mo>(?:&#x02212;|−)</mo>\s*<mn>", "<mn>-", text)
        text = re.sub(r"</?mn>", " ", text).replace("&#x02212;", "-")
    return text.replace("−", "-")


def reads_as(shown: str, printed: str) -> bool:
    """Whether a shown number, rounded to the printed decimals, is the printed number (the tutor shows at
    least as many figures as a line needs: 0.0004385677 reads as the published 0.000438568)."""
    if decimals(shown) < decimals(stripped(printed)):
        return False
    return at_printed(float(shown), printed) or at_printed(float(shown), stripped(printed))


def shows(text: str, printed: str, fmt: str) -> bool:
    """Whether ``text`` shows a number (a whole number, not part of a longer one) that reads as ``printed``."""
    return any(reads_as(m.group(0), printed) for m in _NUMBER.finditer(_plain(text, fmt)))


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_mazur_shows_every_published_number_at_its_printed_precision(fmt):
    mazur = load("mazur")
    by_digits: dict[int, list[tuple[str, str]]] = {}
    for key, printed in MAZUR_PUBLISHED:
        by_digits.setdefault(decimals(printed), []).append((key, printed))
    for digits, items in by_digits.items():
        net = mazur.with_conventions(digits=digits)
        out = render_net(net, fmt)
        labels = writer(explain_step(net), "text").notation
        for key, printed in items:
            assert shows(out, printed, fmt), f"{key} = {printed} not shown at {digits} decimals ({fmt})"
            if fmt == "text":  # ... and on its own line: "label = formula = numbers = value"
                line = re.compile(rf"^\s*{re.escape(labels.text(key))} = (?:.* = )?(-?[\d.]+)$", re.M)
                assert any(reads_as(m.group(1), printed) for m in line.finditer(out)), f"no line for {key} = {printed}"


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_mazur_conventions_reproduce_the_last_two_published_numbers(fmt):
    mazur = load("mazur")
    exact = render_net(mazur, fmt)
    as_printed = render_net(mazur.with_conventions(rounding="as-printed", digits=9), fmt)
    assert shows(exact, "-0.019049118", fmt) and not shows(exact, "-0.019049119", fmt)
    assert shows(as_printed, "-0.019049119", fmt)
    updated_first = render_net(mazur.with_conventions(update_order="updated-first"), fmt)
    assert shows(exact, "0.291027774", fmt) and not shows(exact, "0.291027924", fmt)
    assert shows(updated_first, "0.291027924", fmt)


def test_digits_sets_what_is_shown():
    mazur = load("mazur")
    assert "1/(1 + exp(-0.3775)) = 0.59327" in render_net(mazur, "text", digits=4)
    three = render_net(mazur.with_conventions(digits=3), "text")
    # 0.3775 is exact; out_h1 gets the decimals the lines that read it need to reproduce
    assert "out_h1 = 1/(1 + exp(-net_h1)) = 1/(1 + exp(-0.3775)) = 0.59327" in three
    assert "∂E_total/∂net_h1 = ∂E_total/∂out_h1·∂out_h1/∂net_h1 = 0.03635·0.2413 = 0.00877" in three


# -- content and notation ---------------------------------------------------------------------------------------------


def test_every_section_in_order():
    md = rendered("mazur", "md")
    heads = ["## The network", "## Forward pass", "## Error", "## Backward pass", "## Gradient check", "## Summary"]
    positions = [md.index(h) for h in heads]
    assert positions == sorted(positions)
    assert "<svg" in md.split("## Forward pass")[0]
    for label in ("w_{1}", "w_{8}", "b_{1}", "b_{2}"):  # the diagram and the summary name every parameter
        assert f"${label}$ |" in md
    tex = rendered("mazur", "tex")
    assert r"\begin{picture}" in tex and "tikz" not in tex.lower()
    for name in ("w1 = 0.15", "w8 = 0.55", "b1 = 0.35", "b2 = 0.6", "target_o2 = 0.99"):
        assert f">{name}</text>" in rendered("mazur", "html")


def test_hidden_neuron_shows_the_sum_over_downstream_neurons():
    text = rendered("mazur", "text")
    assert "∂net_o1/∂out_h1 = ∂/∂out_h1 [ w5·out_h1 + w6·out_h2 + b2·1 ] = w5 = 0.4" in text
    assert "∂E_total/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1 = 0.0553994247 + (-0.0190491183) = 0.0363503064" in text
    md = rendered("mazur", "md")
    assert r"\frac{\partial \mathrm{net}_{o1}}{\partial w_{5}} &= \frac{\partial}{\partial w_{5}} \biggl[" in md
    assert r"{w_{5}}^{+} &= w_{5} - \eta \cdot \frac{\partial E_{\mathrm{total}}}{\partial w_{5}}" in md


def test_softmax_shows_the_jacobian_and_its_simplification():
    text = rendered("softmax-cce", "text")
    assert (
        "∂out_o1/∂net_o2 = ∂/∂net_o2 [ exp(net_o1)/(exp(net_o1) + exp(net_o2) + exp(net_o3)) ] = -out_o1·out_o2" in text
    )
    assert "Jacobian route simplifies to out - target" in text
    assert "Jacobian route simplifies to" in rendered("softmax-cce", "html")


def test_layered_notation_relabels_the_same_numbers():
    spec_text, layered_text = rendered("mazur", "text"), rendered("mazur-layered", "text")
    assert "z²₁ = w²₁₁·a¹₁ + w²₁₂·a¹₂ + b²·1 = 0.15·0.05 + 0.2·0.1 + 0.35·1 = 0.3775" in layered_text
    assert "δ³₁ = ∂C/∂a³₁·∂a³₁/∂z³₁ = 0.7413650696·0.1868156018 = 0.13849856163" in layered_text
    assert "C = C₁ + C₂" in layered_text
    number = re.compile(r"-?\d+\.\d+")
    body = lambda t: t.split("1. Forward pass")[1]  # noqa: E731 - the header explains the notation
    assert number.findall(body(spec_text)) == number.findall(body(layered_text))
    md = rendered("mazur-layered", "md")
    for label in (r"z^{2}_{1}", r"a^{3}_{2}", r"\delta^{3}_{1}", r"w^{3}_{12}", r"{w^{2}_{11}}^{+}", r"y_{1}"):
        assert label in md
    md = render_net(load("mazur"), "md", notation="layered", prose=False)  # the words say "net input"
    assert "net" not in md.split("## Forward pass")[1].split("## Gradient check")[0]


def test_renderers_never_compute():
    """Templates print strings of the view model: no numeric filters, no division or remainder of values."""
    for path in (Path(render.__file__).parent.parent.parent / "templates").glob("*/*.j2"):
        text = path.read_text(encoding="utf-8")
        for expr in re.findall(r"\{\{(.*?)\}\}", text, re.S):
            code = re.sub(r'"[^"]*"|\'[^\']*\'', '""', expr)  # string literals hold static text, not values
            assert not re.search(r"\|\s*(round|sum|float|int|abs|fixed)\b|[/%]", code), (path.name, expr)


# -- template overrides ---------------------------------------------------------------------------------------------


def test_template_dir_overrides_one_block(tmp_path, capsys):
    from tutor.cli import main

    (tmp_path / "markdown").mkdir()
    (tmp_path / "markdown" / "walkthrough.md.j2").write_text(
        '{% extends "builtin/markdown/walkthrough.md.j2" %}\n'
        "{% block header %}# Homework 3: {{ v.title }}\n\nShow your own numbers first.\n{% endblock %}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.md"
    assert main(["explain", "mazur", "-f", "md", "--template-dir", str(tmp_path), "-o", str(out)]) == 0
    md = out.read_text(encoding="utf-8")
    assert md.startswith("# Homework 3: Mazur's 2-2-2 network\n\nShow your own numbers first.\n")
    assert "**Conventions:**" not in md  # the replaced block
    assert md.split("## The network", 1)[1] == rendered("mazur", "md").split("## The network", 1)[1]


def test_a_missing_template_value_is_an_error(tmp_path):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "walkthrough.txt.j2").write_text("{{ v.no_such_value }}\n", encoding="utf-8")
    with pytest.raises(TutorError, match="undefined"):
        render.render_text(explain_step(load("mazur")), options=render.Options(template_dir=tmp_path))


# -- PDF -----------------------------------------------------------------------------------------------------------


def test_pdf_without_pdflatex_names_the_program(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(TutorError, match=r"pdflatex not found; install texlive-latex-base"):
        render.render_pdf(explain_step(load("appendix-a")))


@pytest.mark.slow
def test_pdf_is_reproducible_and_records_its_source():
    from .conftest import require_program

    require_program("pdflatex")
    tex = rendered("appendix-a", "tex")
    first, second = render.compile_pdf(tex), render.compile_pdf(tex)
    assert first.startswith(b"%PDF") and first == second
    assert render.pdf_source_digest(first) == render.source_digest(tex)


# -- opened as CI opens them -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", ["softmax-cce", "deep-tanh-relu", "mazur-layered"])
def test_latex_compiles_cleanly_and_converts_to_png(case, tmp_path):
    assert pdf_pages(rendered(case, "tex"), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["softmax-cce", "deep-tanh-relu", "mazur-layered"])
def test_html_opens_in_chromium(case, tmp_path):
    html = rendered(case, "html")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/", "")
    screenshot(html, tmp_path)


def test_a_long_sums_derivative_is_written_short_around_its_variable():
    """d net/d w of a 12-input neuron: the bracket holds the sum's first two terms, the term with the variable,
    its last two and a ⋯ for each run left out, in every mode; a sum of at most ELIDE_ABOVE terms (Mazur's)
    is written whole. The whole sum is the neuron's own line in the forward pass."""
    from tutor.render import notation
    from tutor.render.lines import line_view

    from .test_teaching_order import _random_spec

    walk = explain_step(loads(_random_spec([12, 12, 6], seed=3)))
    q = walk.quantities
    text, tex = writer(walk, "text"), writer(walk, "web")
    line = line_view(text, q, "dnet_o1/dw2_1.5", "text")
    assert line["derivation"] == (
        "∂/∂w2_1.5 [ w2_1.1·out_h1 + w2_1.2·out_h2 + ⋯ + w2_1.5·out_h5 + ⋯ + w2_1.12·out_h12 + b2_1·1 ]"
    )
    assert line["formula"] == "out_h5" and line["value"] == text.value_of("out_h5")
    # the first and the last terms need no ⋯ of their own; LaTeX writes \cdots
    assert line_view(text, q, "dnet_o1/dw2_1.1", "text")["derivation"].count("⋯") == 1
    assert line_view(text, q, "dnet_o1/db2_1", "text")["derivation"].count("⋯") == 1
    body = line_view(tex, q, "dnet_o1/dw2_1.5", "web")["derivation_body"]
    assert body == (
        r"\biggl[w_{2,1.1} \cdot \mathrm{out}_{h1} + w_{2,1.2} \cdot \mathrm{out}_{h2} + \cdots + w_{2,1.5} \cdot "
        r"\mathrm{out}_{h5} + \cdots + w_{2,1.12} \cdot \mathrm{out}_{h12} + b_{2,1} \cdot 1\biggr]"
    )
    # the forward pass's line has the whole sum, and a short sum's derivative is whole
    assert line_view(text, q, "net_o1", "text")["formula"].count(" + ") == 12
    mazur = explain_step(load("mazur"))
    assert notation.ELIDE_ABOVE >= 3
    assert "⋯" not in line_view(writer(mazur, "text"), mazur.quantities, "dnet_o1/dw5", "text")["derivation"]
