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
        marks = [
            "z¹ =",
            "z² =",
            "BP1: δ² =",
            "BP3: ∂C/∂b² =",
            "BP4: ∂C/∂W² =",
            "BP2: δ¹ =",
            "BP3: ∂C/∂b¹",
            "BP4: ∂C/∂W¹",
        ]
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


# -- (3) every substituted line reproduces its shown result from its shown numbers ---------------------------

_SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _parse(shown: str) -> float:
    """A number as the text writer shows it: 0.0046004, -3, 6.75142312·10⁻⁶."""
    if "·10" in shown:
        mantissa, power = shown.split("·10")
        return float(mantissa) * 10.0 ** int(power.translate(_SUPER))
    return float(shown)


def _unit(shown: str) -> float:
    """One unit in the last shown place."""
    mantissa, _, power = shown.partition("·10")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0**-decimals * (10.0 ** int(power.translate(_SUPER)) if power else 1.0)


def _walks(name: str):
    """Every walk-through a built-in example's handout shows: the step, or each shown training step."""
    from tutor import handouts
    from tutor.engine import training
    from tutor.engine.symbolic import explain_training_step

    net = load(name)
    recipe = handouts.recipe(net)
    if not recipe.train:
        from tutor.engine.walks import step_walk

        return [step_walk(net)]  # the walk by layers for convolution, pooling and recurrence
    run = training.run(net, recipe.epochs, keep=lambda n: True)
    out = []
    for step in run.steps.values():
        tw = explain_training_step(net, step)
        out += [tw, *tw.examples]
    return out


def _examples() -> list[str]:
    from tutor.spec.resources import data_dir

    return sorted(p.parent.name for p in data_dir("worked_examples").glob("*/spec.toml"))


def _network_examples() -> list[str]:
    """The examples that are networks (a graph spec's walk-through is a graph's: tests/test_graph.py)."""
    from tutor.spec.resources import example_names

    return example_names("network")


def reproduce_failures(walk, digits: int | None = None) -> list[str]:
    """The lines whose result, recomputed from the numbers shown on them and rounded to the shown decimals, is
    off by more than one unit in the last shown place."""
    from tutor.render.lines import writer

    fw = writer(walk, "text", render.Options(digits=digits))
    bad = []
    for key, q in walk.quantities.items():
        if q.form is None:
            continue
        shown_args = [_parse(fw.value_of(a)) for a in q.args]
        shown = fw.value_of(key)
        again = float(q.form.fn(*shown_args))
        unit = _unit(shown)
        if abs(round(again / unit) * unit - _parse(shown)) > unit * (1 + 1e-6):
            bad.append(f"{key}: {fw.substituted(q, 'text')} = {shown}, recomputed {again!r}")
    return bad


@pytest.mark.parametrize("name", _network_examples())
def test_every_shown_line_reproduces_its_result(name):
    for walk in _walks(name):
        assert not reproduce_failures(walk), reproduce_failures(walk)[:5]


def test_reproduce_property_catches_too_few_figures():
    # the old writer's fixed decimals: Adam's v-hat = 0.000006751/(1 - 0.999^1) = 0.006751423 fails
    from tutor.render import notation

    walks = _walks("optimizer-adam")
    old = notation._fmt_number

    def fixed_decimals(value, digits, scientific=None, **kw):
        return old(value, digits, None, fixed=True, given=True)

    notation._fmt_number = fixed_decimals
    try:
        assert any(reproduce_failures(w) for w in walks)
    finally:
        notation._fmt_number = old


# -- (5) no internal names in what a student reads ------------------------------------------------------------

# registry keys, the lecture notes' file numbering, the seeds' ASCII formulas
INTERNAL = re.compile(
    r"seed \d{3}|network from seed|Numerical Example|eta/m|\bhalf_sse\b|\bmomentum_classic\b|"
    r"\bcategorical_cross_entropy\b|\bbinary_cross_entropy\b|optimizer (?:sgd|adam|adagrad|rmsprop|nesterov|momentum)\b|"
    r"with (?:adam|adagrad|rmsprop|nesterov)\b|\((?:sgd|adam|adagrad|rmsprop|nesterov)\)"
)


@pytest.mark.parametrize("name", _examples())
def test_no_internal_names_in_any_output(name, capsys):
    from tutor import handouts
    from tutor.cli import main

    outputs = {h.path.name: h.text for h in handouts.handouts(name)}
    assert main(["explain", name]) == 0
    outputs["text"] = capsys.readouterr().out
    for where, text in outputs.items():
        found = INTERNAL.findall(text)
        assert not found, (where, found[:5])


def test_the_internal_names_check_can_fail():
    assert INTERNAL.search("Source: Matt Mazur (2015); seed 000, Numerical Example")
    assert INTERNAL.search("Training: optimizer adam (beta1 0.9)") and INTERNAL.search("loss half_sse")
    assert not INTERNAL.search("Training: Adam (β₁ = 0.9); loss: half the sum of squared errors")


# -- (6) order and placement -----------------------------------------------------------------------------------


def test_summary_runs_in_network_order():
    text = _text(load("mazur"))
    summary = text.split("Summary:")[1]
    rows = [l.split()[0] for l in summary.splitlines()[1:] if "->" in l]
    assert rows == ["w1", "w2", "w3", "w4", "b1", "w5", "w6", "w7", "w8", "b2"]


def test_softmax_outputs_come_after_every_net_of_their_layer():
    from .test_render import CASES

    for fmt, fn in (("text", render.render_text), ("md", render.render_markdown)):
        out = fn(explain_step(CASES["softmax-cce"][0]()))
        forward = out[out.index("orward pass") :]
        nets = [forward.index(k) for k in (("net_o3 =",) if fmt == "text" else (r"\mathrm{net}_{o3} &=",))]
        outs = [forward.index(k) for k in (("out_o1 =",) if fmt == "text" else (r"\mathrm{out}_{o1} &=",))]
        assert max(nets) < min(outs), fmt


@pytest.mark.parametrize("fmt", ["text", "md", "tex", "html"])
def test_a_bias_that_is_not_updated_is_said_so_where_its_gradient_is_derived(fmt):
    fn = {"text": render.render_text, "md": render.render_markdown, "tex": render.render_latex}.get(fmt)
    out = (fn or render.render_html)(explain_step(load("mazur")))
    backward = out[out.index("ackward pass") : out.index("ummary")]
    assert backward.count("This bias is not updated in this step") == 2


# -- (7) line breaking -----------------------------------------------------------------------------------------

NET_3442 = """
title = "A 3-4-4-2 network: tanh, ReLU, softmax"
description = "Three inputs, four tanh neurons, four ReLU neurons, two softmax outputs; categorical cross-entropy."
[inputs]
names = ["x1", "x2", "x3"]
values = [0.5, -0.3, 0.8]
[[layers]]
activation = "tanh"
size = 4
weights = [[0.1, -0.2, 0.3], [0.4, 0.1, -0.3], [-0.2, 0.5, 0.2], [0.3, 0.3, -0.1]]
biases = [0.05, -0.1, 0.0, 0.1]
[[layers]]
activation = "ACT"
size = 4
weights = [[0.2, -0.1, 0.4, 0.3], [-0.3, 0.2, 0.1, 0.5], [0.5, 0.4, -0.2, 0.1], [0.1, -0.4, 0.3, 0.2]]
biases = [0.1, 0.05, -0.05, 0.2]
[[layers]]
activation = "softmax"
size = 2
weights = [[0.3, -0.2, 0.5, 0.1], [-0.4, 0.3, 0.2, -0.1]]
biases = [0.0, 0.1]
[loss]
name = "categorical_cross_entropy"
targets = [1.0, 0.0]
[training]
learning_rate = 0.1
update_biases = true
[conventions]
digits = 6
"""


def net_3442(activation: str = "relu"):
    from tutor.spec import loads

    return loads(NET_3442.replace("ACT", activation), name="net-3442")


@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize("name", ["mazur", "appendix-b", "optimizer-adam", "minibatch", "3442"])
def test_no_text_line_is_wider_than_the_width(name, width, capsys):
    from tutor.cli import main

    spec = name
    if name == "3442":
        return _check_width(_text(net_3442(), views=("matrix", "paths"), width=width), width)
    views = ["--view", "matrix", "--view", "paths"] if name in ("mazur", "appendix-b") else []
    assert main(["explain", spec, "--width", str(width), *views]) == 0
    _check_width(capsys.readouterr().out, width)


def _check_width(text: str, width: int) -> None:
    lines = text.split("\n")
    assert all(len(l) <= width for l in lines), [l for l in lines if len(l) > width][:3]
    assert all(l == l.rstrip() for l in lines)
    # never inside a number: no line starts with a digit continuing one that ends with a digit or point
    for a, b in zip(lines, lines[1:]):
        assert not (re.search(r"[\d.]$", a) and re.match(r"^\s*[\d.]", b) and b.startswith("  ")), (a, b)
    # indent levels differ by at least two columns
    indents = sorted({len(l) - len(l.lstrip(" ")) for l in lines if l.strip()})
    assert all(b - a >= 2 for a, b in zip(indents, indents[1:])), indents


def test_wrap_breaks_at_operators_with_a_hanging_indent():
    from tutor.render.lines import wrap_line

    line = "      net_o1 = w5·out_h1 + w6·out_h2 + b2·1 = 0.4·0.593269992 + 0.45·0.596884378 + 0.6·1 = 1.105905967"
    parts = wrap_line(line, 60)
    assert len(parts) > 1 and all(len(p) <= 60 for p in parts)
    assert all(p.startswith("          ") for p in parts[1:])
    assert "".join(p.strip() + " " for p in parts).split() == line.split()


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "binary_step"])
def test_no_raw_sympy_repr_in_text(activation):
    net = net_3442(activation)
    from tutor.render.lines import writer

    walk = explain_step(net, forward_only=activation == "binary_step")
    text = render.render_text(walk)
    assert not re.search(r"Piecewise\(|Abs\(|Heaviside\(|sign\(\(|\bTrue\b|>=|<=", text), activation
    assert writer(walk, "text")  # the text writer is the one the quiz and the worksheets use


def test_markdown_display_lines_break_into_aligned_rows():
    from tutor.render.lines import visible_length

    md = render.render_markdown(explain_step(net_3442()))
    rows = [l for l in md.split("\n") if "&" in l and "bmatrix" not in l]
    assert rows and max(visible_length(l) for l in rows) <= 100, max(rows, key=visible_length)
    assert r"&\qquad + " in md  # a long sum continues on an indented row


def test_pdf_uses_the_markdown_layout():
    tex = render.render_latex(explain_step(load("mazur")))
    assert r"\calc{\mathrm{net}_{h1} &= w_{1} \cdot i_{1} + w_{2} \cdot i_{2} + b_{1} \cdot 1 \\ &= 0.15" in tex


# -- (8) words, once per kind, where the kind first occurs ------------------------------------------------------

PROSE_MARKS = {
    "forward": "Each neuron adds up its inputs",
    "factor": "A chain-rule factor",
    "delta": "The derivative of the error by a neuron",
    "sum": "output feeds every neuron of the next layer",
    "old": "The weights used here are the old ones",
    "update": "The update moves the weight",
}


@pytest.mark.parametrize("fmt", ["text", "md", "tex", "html"])
def test_each_kind_of_step_is_explained_once_where_it_first_occurs(fmt):
    fn = {"text": render.render_text, "md": render.render_markdown, "tex": render.render_latex}.get(fmt)
    walk = explain_step(load("mazur"))
    out = (fn or render.render_html)(walk)
    for kind, mark in PROSE_MARKS.items():
        assert out.count(mark) == 1, (kind, fmt)
    # where: the forward words before the first net input, the sum before the first hidden neuron's lines
    first_net = {"text": "net_", "html": "Neuron h1"}.get(fmt, "net}_{h1}")
    assert out.index(PROSE_MARKS["forward"]) < out.index(first_net)
    backward = out[out.index("ackward pass") :]
    assert backward.index(PROSE_MARKS["factor"]) < backward.index("Neuron o1")
    assert backward.index(PROSE_MARKS["sum"]) < backward.index("Neuron h1")
    assert backward.index(PROSE_MARKS["update"]) < backward.index("Weight")
    bare = (fn or render.render_html)(walk, options=render.Options(prose=False))
    assert not any(mark in bare for mark in PROSE_MARKS.values())


def test_no_prose_on_the_command_line(capsys):
    from tutor.cli import main

    assert main(["explain", "mazur", "--no-prose", "--no-check"]) == 0
    assert "A chain-rule factor" not in capsys.readouterr().out
    assert main(["explain", "mazur", "--no-check"]) == 0
    assert "A chain-rule factor" in capsys.readouterr().out


# -- (9) --brief and the path view's caps ----------------------------------------------------------------------


def test_brief_walks_the_first_neuron_and_weight_and_tabulates_the_rest():
    net = net_3442()
    full, brief = _text(net), _text(net, brief=True)
    assert full.count("Neuron ") == 10 and brief.count("Neuron ") == 3
    assert brief.count("    Weight ") == 3 and brief.count("    Bias ") == 3
    # every other value is still there, in the tables
    walk = explain_step(net)
    from tutor.render.lines import writer

    fw = writer(walk, "text", render.Options(brief=True))  # a brief document's own decimals
    for p in walk.params:
        assert fw.value_of(p.update) in brief, p.label
    for row in walk.backward:
        for nb in row:
            assert fw.value_of(nb.delta) in brief, nb.name


def test_brief_pdf_of_a_3442_network_is_about_six_pages(tmp_path):
    from .conftest import pdf_pages

    pages = pdf_pages(render.render_latex(explain_step(net_3442()), options=render.Options(brief=True)), tmp_path)
    assert len(pages) <= 7, len(pages)  # every line exact to its shown decimals takes a page more than 6


def test_brief_walks_the_first_input_gradient_and_tabulates_the_others():
    """At the limit (20 inputs into 30 neurons) every input's gradient, a 30-term sum, took a page: --brief
    walks the first and tabulates the others, with their values as the brief document prints them."""
    from tutor.render.lines import writer

    net = net_3442()
    walk = explain_step(net)
    full, brief = _text(net), _text(net, brief=True)
    keys = list(walk.input_gradients)
    assert len(keys) == 3
    assert full.count("      ∂E_total/∂x") == 3 and brief.count("      ∂E_total/∂x") == 1
    fw = writer(walk, "text", render.Options(brief=True))
    table = brief.split("what frameworks keep in x.grad)")[1].split("\n\n")[0].splitlines()
    rows = [line.split() for line in table if line.startswith("    x")]
    assert rows == [["x2", fw.value_of(keys[1])], ["x3", fw.value_of(keys[2])]]
    assert float(rows[0][1]) == pytest.approx(walk.value(keys[1]), abs=1e-6)


def test_a_calculation_taller_than_a_page_breaks_across_pages(tmp_path):
    """A 1-80-1 network: dE/dx1 sums 80 terms, a row for each two; set as one box it ran off the page's foot
    (pdflatex: Overfull \\vbox). A calculation of more than LONG_CALC rows is a display that breaks."""
    import subprocess

    from .conftest import require_program
    from .test_limits import network_spec

    pdflatex = require_program("pdflatex")
    spec = network_spec(tmp_path / "n.toml", [1, 80, 1])
    from tutor.spec import load

    tex = render.render_latex(explain_step(load(str(spec))))
    assert tex.count("\\calclong{") >= 2 and "\\calclong{\\frac{\\partial E_{\\mathrm{total}}}{\\partial x_{1}}" in tex
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    proc = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "doc.tex"], cwd=tmp_path, capture_output=True, timeout=120
    )
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0 and "Overfull \\vbox" not in log


def test_path_view_lists_a_fixed_number_of_paths_and_says_how_many_it_left_out():
    from tutor.render import views

    walk = explain_step(net_3442())
    listed = views.paths(walk, "text")
    assert sum(len(p["paths"]) for p in listed) <= views.MAX_SHOWN_PATHS
    assert all(p["more"] == p["count"] - len(p["paths"]) for p in listed) and any(p["more"] for p in listed)
    text = _text(net_3442(), views=("paths",))
    assert "more paths not listed; the sum below is over all 16" in text
    brief = views.paths(walk, "text", render.Options(brief=True))
    assert all(len(p["paths"]) <= views.BRIEF_PATHS for p in brief)


# -- (4) HTML: a negative number is one token; fences grow with matrices ---------------------------------------


def test_html_negative_numbers_are_one_token_and_matrix_brackets_stretch():
    html = render.render_html(explain_step(load("mazur")), views=("matrix",))
    assert "<mn>&#x02212;0.217071535</mn>" in html
    # no minus operator right after "=", an opening fence or a product dot
    assert not re.search(
        r"(<mo>&#x0003D;</mo>|form=\"prefix\">&#x00028;</mo>|<mo>&#x000B7;</mo>)<mo>&#x02212;</mo>", html
    )
    assert '<mo stretchy="true" fence="true" form="prefix">&#x0005B;</mo><mtable>' in html


# -- (10) a notebook fragment's headings start lower -----------------------------------------------------------


def test_notebook_fragments_start_at_a_lower_heading_level():
    import tutor

    e = tutor.explain("mazur")
    md = e._repr_markdown_()
    assert not re.search(r"^#{1,2} ", md, re.M) and re.search(r"^### Mazur", md, re.M)
    html = e._repr_html_()
    assert "<h1" not in html and "<h2" not in html and "<h3>Mazur" in html
    assert e.to_markdown().startswith("# ")  # the standalone document keeps its own levels


# -- (2) the diagram: labels apart, off the crossings; a weight table in every format ---------------------------


def _network(sizes: tuple[int, ...]):
    import random

    from tutor.spec import from_mapping

    rng = random.Random(sum(sizes))
    layers = [
        {
            "activation": "sigmoid",
            "size": n,
            "weights": [[round(rng.uniform(-0.9, 0.9), 2) for _ in range(m)] for _ in range(n)],
            "biases": [round(rng.uniform(-0.5, 0.5), 2) for _ in range(n)],
        }
        for m, n in zip(sizes, sizes[1:])
    ]
    return from_mapping(
        {
            "title": "t",
            "inputs": {"names": [f"x{k + 1}" for k in range(sizes[0])], "values": [0.1] * sizes[0]},
            "layers": layers,
            "loss": {"name": "half_sse", "targets": [0.5] * sizes[-1]},
            "training": {"learning_rate": 0.5},
        }
    )


@pytest.mark.parametrize(
    "sizes", [(2, 2, 2), (2, 2, 1), (3, 4, 4, 2), (2, 3, 3, 1), (4, 4, 4, 4, 4, 4, 2), (8, 8, 8), (24, 16, 1), (1,) * 7]
)
def test_no_two_label_boxes_of_the_diagram_intersect(sizes):
    from tutor.render import diagram
    from tutor.render.lines import writer

    walk = explain_step(_network(sizes), forward_only=True)
    d = diagram.layout(walk, writer(walk, "web"))
    boxes = []
    for e in d.edges:
        if e.label is not None and e.drawn:
            boxes.append(("weight", diagram._box(*diagram._label_at(e), e.label.text)))
    for n in d.nodes:
        if n.kind == "bias":
            boxes.append(("bias", diagram._box(n.x + diagram.SMALL + 0.12, n.y, n.note.text, "start")))
    weights = [b for k, b in boxes if k == "weight"]
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            assert diagram._overlap(boxes[a][1], boxes[b][1]) == 0, (sizes, boxes[a], boxes[b])
    # no weight label on the crossing of two edges
    by_gap: dict = {}
    for e in d.edges:
        if e.source.kind != "bias":
            by_gap.setdefault(e.target.layer, []).append(e)
    for gap in by_gap.values():
        for x, y in diagram.crossings(gap):
            assert not any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in weights), (sizes, x, y)
    # at full size in print: a picture wider than the page has no weight labels to shrink
    assert d.width <= diagram.TEXT_WIDTH + 1e-9 or not weights


@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_every_format_carries_the_weight_table(fmt):
    fn = {"md": render.render_markdown, "tex": render.render_latex, "html": render.render_html}[fmt]
    out = fn(explain_step(load("mazur")))
    section = out[out.index("The weights and biases") :]
    for label in ("w_{1} = 0.15", "w_{8} = 0.55", "b_{2} = 0.6") if fmt != "html" else ("0.15", "0.55"):
        assert label in section[:6000], (fmt, label)
