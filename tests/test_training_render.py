"""Training steps and the matrix, path and magnitude views in Markdown, LaTeX, HTML and text: golden files, the
numeric engine's values at the shown precision, the loss curve, the command line, and LaTeX and HTML opened
as CI opens them.

Regenerate the golden files after an intended change of the output:
    python -m pytest tests/test_training_render.py --regen-golden
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tutor import render
from tutor.cli import main
from tutor.engine import training
from tutor.engine.symbolic import explain_step
from tutor.render import curve
from tutor.render.notation import _fmt_number
from tutor.render.training import documents
from tutor.spec import load, loads
from tutor.spec.rounding import agrees_as_printed, printed_decimals

from .conftest import pdf_pages, screenshot

GOLDEN = Path(__file__).parent / "golden"
EXT = {"text": "txt", "md": "md", "tex": "tex", "html": "html"}

# Mini-batches of two with L2 regularization, Adam, decay and a fixed dropout mask: every line a step shows.
EVERYTHING = """
title = "Mini-batches with L2, Adam, decay and dropout"
description = "Three examples in batches of two (the last batch has one); every training setting at once."
[inputs]
names = ["x1", "x2"]
[[examples]]
inputs = [0.1, 0.3]
targets = [0.03]
[[examples]]
inputs = [0.5, -0.2]
targets = [0.6]
[[examples]]
inputs = [-0.3, 0.8]
targets = [0.2]
[[layers]]
neurons = ["h1", "h2", "h3"]
activation = "sigmoid"
weights = [[0.5, 0.1], [0.62, 0.2], [-0.3, 0.4]]
biases = [0.4, -0.1, 0.2]
[[layers]]
neurons = ["o"]
activation = "sigmoid"
weights = [[-0.2, 0.3, 0.1]]
bias = 1.83
[loss]
name = "half_sse"
[training]
learning_rate = 0.5
update_biases = true
batch = 2
decay = 0.1
regularization = { kind = "l2", lambda = 0.01 }
optimizer = { name = "adam" }
dropout = { rate = 0.5, mask = [[1, 0, 1]] }
[conventions]
digits = 6
"""

_cache: dict = {}


def training_outputs(case: str) -> dict[str, str]:
    """Every format of a golden training case, as `backprop-tutor train` writes them."""
    if case not in _cache:
        net = loads(EVERYTHING, name=case)
        _cache[case] = documents(tuple(EXT), net, 2, {2, 3})[1]
    return _cache[case]


def views_outputs(case: str) -> dict[str, str]:
    """Mazur's step with the matrix, path and magnitude views, as `explain --view ...` writes it."""
    if case not in _cache:
        walk = explain_step(load("mazur"))
        fns = {
            "text": render.render_text,
            "md": render.render_markdown,
            "tex": render.render_latex,
            "html": render.render_html,
        }
        _cache[case] = {f: fn(walk, views=("matrix", "paths", "magnitudes")) for f, fn in fns.items()}
    return _cache[case]


CASES = {"train-everything": training_outputs, "views-mazur": views_outputs}


@pytest.mark.parametrize("fmt", EXT)
@pytest.mark.parametrize("case", CASES)
def test_golden(case, fmt, regen_golden):
    path = GOLDEN / case / fmt / f"walkthrough.{EXT[fmt]}"
    out = CASES[case](case)[fmt]
    if regen_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, encoding="utf-8", newline="")
        return
    assert path.is_file(), f"missing golden file {path}: run pytest tests/test_training_render.py --regen-golden"
    assert out == path.read_text(encoding="utf-8"), f"{path} differs; if intended: pytest {__file__} --regen-golden"


def test_same_input_gives_identical_output():
    net = loads(EVERYTHING)
    assert documents(tuple(EXT), net, 2, {2, 3})[1] == documents(tuple(EXT), net, 2, {2, 3})[1]


# -- the numbers shown are the numeric engine's -------------------------------------------------------------------


def shown(value: float, digits: int) -> str:
    """A value as the training handouts write it in LaTeX (small ones as a power of ten)."""
    return _fmt_number(value, digits, "tex")


_SHOWN = re.compile(r"(?<![\d.])(-?\d+(?:\.(\d+))?)(?: \\cdot 10\^\{(-?\d+)\})?")


def shows_value(text: str, value: float, digits: int) -> bool:
    """Whether ``text`` shows a number (fixed or 6.75 \\cdot 10^{-6}) within half a unit of its last place of
    ``value``, to at least ``digits`` decimals."""
    for m in _SHOWN.finditer(text):
        power = int(m.group(3) or 0)
        unit = 10.0 ** (power - len(m.group(2) or ""))
        if unit <= 10.0**-digits * (1 + 1e-9) and abs(float(m.group(1)) * 10.0**power - value) <= unit * 0.5001:
            return True
    return False


def test_adam_markdown_shows_the_numeric_state_and_weights_of_both_steps():
    net = load("optimizer-adam")
    md = documents(("md",), net, 2, {1, 2})[1]["md"]
    run = training.run(net, 2, keep=lambda n: True)
    digits = net.conventions.digits
    steps = md.split("## Step ")
    assert len(steps) == 3  # the header, step 1, step 2
    for number in (1, 2):
        step, text = run.steps[number], steps[number]
        for li, layer in enumerate(net.layers):
            for j, row in enumerate(layer.weight_labels):
                for i, w in enumerate(row):
                    label = f"w_{{{w[1:]}}}"
                    lines = step.lines[("W", li)]
                    for name, head in (("m", "m"), ("v", "v"), ("mhat", r"\hat{m}"), ("vhat", r"\hat{v}")):
                        expected = f"{head}_{{{label}}} &= " if name in ("m", "v") else f"{head}_{{{label}}} &= "
                        assert expected in text, (number, w, name)
                        assert shows_value(text, float(lines[name][j, i]), digits), (number, w, name)
                    assert shows_value(text, float(step.new_W[li][j, i]), digits), (number, w)
    # the state carries over: step 2 starts from step 1's m and v
    m1 = float(run.steps[1].lines[("W", 1)]["m"][0, 0])
    carried = steps[2].split(r"m^{(t-1)}_{w_{5}} &= ")[1].split("\n")[0]
    assert shows_value(carried, m1, digits)


def test_minibatch_handout_shows_each_examples_gradient_then_their_mean():
    net = load("minibatch")
    md = documents(("md",), net, 1, {1, 2})[1]["md"]
    run = training.run(net, 1, keep=lambda n: True)
    digits = net.conventions.digits
    for number, first in ((1, 1), (2, 3)):
        text = md.split("## Step ")[number]
        step = run.steps[number]
        w5 = [float(e.backward.grad_W[1][0, 0]) for e in step.examples]
        mean = float(step.grad_W[1][0, 0])
        printed = []
        for k, g in enumerate(w5):  # each example's gradient, in its own section ...
            section = text.split(f"### Example {first + k}")[1].split("###")[0]
            label = rf"\frac{{\partial {{E}}^{{({first + k})}}}}{{\partial W_{{5}}}} &= "
            assert label in section
            # shown to at least the spec's decimals (more where the batch mean's line needs them)
            calc = re.split(r"\\\\\[6pt\]|\\end\{aligned\}", section[section.index(label) :])[0]
            value = re.findall(r" = (-?[0-9.]+)", calc)[-1]
            assert agrees_as_printed(g, value) and printed_decimals(value) >= digits
            printed.append(value)
        # ... then the mean of the batch, with both numbers substituted as the examples show them
        numbers = " + ".join(p if not p.startswith("-") else rf"\left({p}\right)" for p in printed)
        assert rf"&= \frac{{{numbers}}}{{2}} = {shown(mean, digits)}" in text


def test_regularization_decay_and_dropout_lines():
    md = training_outputs("train-everything")["md"]
    text = training_outputs("train-everything")["text"]
    assert r"\frac{\partial R}{\partial w_{2,11}} &= 2 \cdot \lambda \cdot w_{2,11}" in md  # dR/dw = 2 lambda w
    assert r"\eta &= \frac{\eta_{0}}{1 + \mathrm{decay} \cdot \mathrm{epoch}}" in md
    assert r"\widetilde{\mathrm{out}_{h1}} &= \mathrm{out}_{h1} \cdot {\mathrm{mask}}_{\mathrm{h1}} \cdot" in md
    assert "J = E_total + R = " in text
    assert "∂out_h2~/∂out_h2 = ∂/∂out_h2 [ out_h2·mask(h2)·dropout_scale ] = mask(h2)·dropout_scale = 0·2 = 0" in text
    assert "η = η₀/(decay·epoch + 1) = 0.5/(0.1·1 + 1) = 0.454545" in text or "η = η₀/(1 + decay·epoch)" in text
    assert "v⁽ᵗ⁻¹⁾(w2_11) = " in text and "m̂(w2_11) = m(w2_11)/(1 - β₁^t)" in text
    # the last batch of an epoch has one example: no mean, its gradient is the batch's
    step2 = text.split("Step 2 ")[1].split("Step 3 ")[0]
    assert "Example 3" in step2 and "E_total⁽" not in step2 and "The batch" not in step2
    step3 = text.split("Step 3 ")[1]
    assert "(epoch 2; examples 1, 2; learning rate 0.454545)" in step3 and "E_total⁽²⁾" in step3


def test_l1_regularization_shows_lambda_sign():
    spec = EVERYTHING.replace('kind = "l2"', 'kind = "l1"')
    md = documents(("md",), loads(spec), 1, {1})[1]["md"]
    assert r"\frac{\partial R}{\partial w_{2,11}} &= \lambda \cdot \operatorname{sign}{\left(w_{2,11} \right)}" in md


# -- the loss curve ---------------------------------------------------------------------------------------------------


def test_curve_is_drawn_from_the_numbers():
    losses = [0.3, 0.2, 0.15, 0.12]
    svg, pic = curve.svg(losses), curve.picture(losses)
    assert svg.startswith("<svg") and "\n\n" not in svg and svg == curve.svg(list(losses))
    assert pic.count(r"\qbezier") == 3 and r"\begin{picture}" in pic
    assert ">0.3<" in svg and ">0.12<" in svg and "log scale" not in svg
    assert curve.svg([0.3]) == "" and curve.picture([]) == ""
    assert "loss (log scale)" in curve.picture([1.0, 0.1, 0.001])  # more than two decades
    long = curve.picture([1 / (k + 1) for k in range(10_001)])
    assert long.count(r"\qbezier") <= curve.MAX_SEGMENTS + 1


def test_train_handout_draws_the_curve_in_every_format():
    out = training_outputs("train-everything")
    assert out["md"].count("<svg") == 2 and out["html"].count("<svg") == 2  # the network and the curve
    assert r"\begin{picture}" in out["tex"] and "tikz" not in out["tex"].lower() and "pgfplots" not in out["tex"]


# -- the views ---------------------------------------------------------------------------------------------------------


def test_views_in_every_format():
    out = views_outputs("views-mazur")
    walk = explain_step(load("mazur"))
    w1 = _fmt_number(walk.value("dE_total/dw1"), 9)
    for fmt in ("md", "tex"):
        assert r"\bigl((W^{2})^{\mathsf{T}} \delta^{2}\bigr) \odot \sigma'(z^{1})" in out[fmt]
        assert r"\begin{bmatrix} 0.4 & 0.5 \\ 0.45 & 0.55 \end{bmatrix}" in out[fmt]  # (W2)^T
        assert (
            rf"\text{{sum over the paths}} = {w1}, \quad \frac{{\partial E_{{\mathrm{{total}}}}}}{{\partial w_{{1}}}} = {w1}"
            in out[fmt]
        )
    assert "<mtable>" in out["html"] and out["html"].count("sum over the paths") == 10
    assert "Gradient magnitudes layer by layer" in out["md"] and "8.83 \\cdot 10^{-2}" in out["md"]


def test_vanishing_handouts_show_the_magnitudes_beside_the_twin():
    from tutor import handouts

    assert handouts.twin("vanishing-sigmoid", load("vanishing-sigmoid")) == "vanishing-relu"
    assert handouts.twin("mazur", load("mazur")) is None
    md = next(h.text for h in handouts.handouts("vanishing-sigmoid") if h.path.name == "walkthrough.md")
    table = md.split("## Gradient magnitudes layer by layer")[1]
    assert "vanishing-relu" in table and table.count("| sigmoid |") == 7 and table.count("| relu |") == 5


def test_view_magnitudes_on_the_command_line(capsys):
    assert main(["explain", "vanishing-sigmoid", "--no-check", "--view", "magnitudes"]) == 0
    out = capsys.readouterr().out
    assert "Gradient magnitudes layer by layer" in out and "    1       sigmoid      9.14·10⁻⁵" in out


# -- the command line -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["md", "html", "tex"])
def test_explain_and_train_a_training_spec_in_every_format(fmt, tmp_path, capsys):
    assert main(["explain", "optimizer-rmsprop", "--format", fmt]) == 0
    one = capsys.readouterr().out
    assert "Step 1" in one and "Step 2" not in one and "before the step" in one
    assert main(["train", "minibatch", "--epochs", "2", "--show", "last", "--format", fmt]) == 0
    run = capsys.readouterr().out
    assert "Step 4" in run and "Step 1:" not in run and "Loss per epoch" in run


@pytest.mark.slow
def test_train_and_explain_write_pdfs(tmp_path):
    from .conftest import require_program

    require_program("pdflatex")
    for cmd in (["explain", "optimizer-nesterov"], ["train", "optimizer-momentum", "--epochs", "3"]):
        out = tmp_path / f"{cmd[0]}.pdf"
        assert main([*cmd, "--format", "pdf", "-o", str(out)]) == 0
        assert out.read_bytes().startswith(b"%PDF")
    assert main(["train", "mazur", "--format", "pdf"]) == 2  # a PDF needs -o


# -- opened as CI opens them -------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_latex_compiles_and_html_opens(case, tmp_path):
    out = CASES[case](case)
    (tmp_path / "tex").mkdir()
    (tmp_path / "html").mkdir()
    assert pdf_pages(out["tex"], tmp_path / "tex")
    assert "<script" not in out["html"] and not re.search(r"\b(src|href)=", out["html"])
    screenshot(out["html"], tmp_path / "html")
