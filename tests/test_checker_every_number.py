"""Every number explain prints, claimed (issue 28): for every built-in example (network, training, graph)
and every output format, each printed number is found under a name the checker accepts, and ``check``
agrees with all of them. A number no name reaches is "not claimable"; a claim found WRONG is a false alarm.

The names are matched to a printed number by closeness alone (within one unit of its last printed place), so
the checker's own reading (a correct rounding of the computed value) is what decides agreement."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from tutor.cli import _ONE_WALK as ONE_WALK
from tutor.cli import main
from tutor.render.check import render_check
from tutor.spec import graph as graphspec
from tutor.spec.resources import example_names

FORMATS = ("text", "md", "tex", "html", "json")
SAMPLE = ("mazur", "minibatch", "graph-sigmoid-gates")

_SUPER = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
_TOKEN = re.compile(r"(?<![\w.^{])[-−]?\d+\.\d+(?:e[+-]?\d+)?(?![\d.])")


def _cli(args: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(args)
    return status, buf.getvalue()


def _without_subscripts(doc: str) -> str:
    """An HTML page with each MathML subscript emptied: a subscript is a quantity's label (the position 1.2.1 of
    a feature map, the time step 2.1 of a recurrent state), never a value."""

    def empty(m: re.Match) -> str:
        math = ET.fromstring(m.group(0))
        for node in math.iter():
            if node.tag.rpartition("}")[2] in ("msub", "msubsup") and len(node) > 1:
                node[1].clear()
        return ET.tostring(math, encoding="unicode")

    return re.sub(r"<math\b.*?</math>", empty, doc, flags=re.S)


def numbers(doc: str, fmt: str) -> list[str]:
    """Every decimal number a document prints, as a plain decimal string with its printed digits (the
    drawings' coordinates and the style sheet are layout, not numbers of the calculation; a subscript is a
    label; a citation's "section 16.3" names a place in a book)."""
    doc = re.sub(r"<svg.*?</svg>|<style.*?</style>", " ", doc, flags=re.S)
    doc = re.sub(r"\b(?:section|chapter|figure|table|equation|page)s? \d+(?:\.\d+)+", " ", doc, flags=re.I)
    doc = re.sub(r"_\{[^{}=]*\}", " ", doc)  # LaTeX (md, tex): z_{1,2.1}
    doc = re.sub(r"\\begin\{(tikzpicture|picture)\}.*?\\end\{\1\}", " ", doc, flags=re.S)
    doc = re.sub(r"\d+(\.\d+)?\s*(em|ex|pt|cm|mm|in|\\textwidth|\\linewidth)\b", " ", doc)
    if fmt == "json":  # numbers in JSON are values, each under its key
        doc = re.sub(r'"format": "[^"]*"', " ", doc)
    if fmt == "html":
        doc = re.sub(
            r"<mn>((?:&#x02212;)?[\d.]+)</mn><mo>&#x000B7;</mo><msup><mn>10</mn><mrow><mn>(&#x02212;)?(\d+)</mn>"
            r"</mrow></msup>",
            lambda m: f"{m.group(1).replace('&#x02212;', '-')}e{'-' if m.group(2) else ''}{m.group(3)}",
            doc,
        )
        doc = html.unescape(re.sub(r"<[^>]+>", " ", _without_subscripts(doc)))
    doc = re.sub(r"([\d.]+) ?\\cdot 10\^\{(-?\d+)\}", r"\1e\2", doc)  # LaTeX
    doc = re.sub(r"([\d.]+)·10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: f"{m.group(1)}e{m.group(2).translate(_SUPER)}", doc)
    out = []
    for t in _TOKEN.findall(doc.replace("−", "-")):
        d = Decimal(t)
        out.append(f"{d:f}" if "e" in t else t)
    return out


def claimable(name: str, extra: tuple[str, ...] = ()) -> list[tuple[str, float, int | None]]:
    """(name, value, after_steps) of every number the checker can be asked about for this example (with
    ``extra``: the loss-free mode's options, --of OUTPUT ...)."""
    from tutor.engine.graph import explain_graph
    from tutor.teach.graphcheck import with_check_values as _with_check_values

    rows: list[tuple[str, float, int | None]] = []
    if graphspec.is_graph(name):
        walk = _with_check_values(explain_graph(graphspec.load(name)))
        return [(k, q.value, None) for k, q in walk.quantities.items()]
    if extra:  # the loss-free mode: the network's graph, as explain and check build it
        import argparse

        from tutor.cli import _network_graph_spec
        from tutor.spec.network import load as load_spec

        it = iter(extra)
        opts = {"of": None, "step": None, "ascent": False, "ascent_on_inputs": False, "upstream": None}
        for flag in it:
            key = flag.lstrip("-").replace("-", "_")
            opts[key] = (
                True if key in ("ascent", "ascent_on_inputs") else (float(next(it)) if key == "step" else next(it))
            )
        g = _network_graph_spec(argparse.Namespace(**opts), load_spec(name))
        walk = _with_check_values(explain_graph(g))
        return [(k, q.value, None) for k, q in walk.quantities.items()]
    from tutor.spec import load
    from tutor.teach import checker

    net = load(name)
    walk = checker.step_walk(net)
    rows += [(k, q.value, None) for k, q in walk.quantities.items()]
    # what a training document prints after the shown update: the forward pass and the parameters
    later = [k for k, q in walk.quantities.items() if q.kind in ("net", "out", "loss", "param")]
    claims = [checker.Claim(k, "0", after_steps=s) for k in checker.after_extras(net) for s in (None, 1)]
    claims += [checker.Claim(k, "0", after_steps=1) for k in later]
    ctx = checker._Context(net, claims)
    for c in claims:
        v = checker._value(ctx, net, c)
        if v is not None:
            rows.append((c.quantity, v, c.after_steps))
    return rows


def claimable_after(name: str, total: int) -> list[tuple[str, float, int | None]]:
    """What ``train NAME`` prints over ``total`` updates: every quantity of every step's walk (the forward
    pass of step n + 1 is after n updates; step n's update lines are its own), and what is printed after
    each update (every example by its number, the loss over every example), each under its after_steps."""
    from tutor.spec import load
    from tutor.teach import checker

    net = load(name)
    walk = checker.step_walk(net)
    rows = claimable(name)
    claims = []
    for n in range(1, total + 1):
        claims += [checker.Claim(k, "0", after_steps=n) for k in walk.quantities]
        claims += [checker.Claim(k, "0", after_steps=n) for k in checker.after_extras(net)]
    ctx = checker._Context(net, claims)
    for c in claims:
        try:
            v = checker._value(ctx, net, c)
        except KeyError:  # a later batch names its examples otherwise
            v = None
        if v is not None:
            rows.append((c.quantity, v, c.after_steps))
    return rows


def claim_form(token: str) -> str:
    """The printed number as a claims file can state it: a decimal of at most ``MAX_VALUE_CHARS`` characters. A
    JSON document's full repr of a tiny value (9.860761315262648e-32, the loss after a step that fits the
    target) is longer as a decimal: it is claimed rounded to the most decimals the file holds."""
    from decimal import ROUND_HALF_EVEN

    from tutor.teach.checker import MAX_VALUE_CHARS

    if len(token) <= MAX_VALUE_CHARS:
        return token
    d = Decimal(token)
    places = MAX_VALUE_CHARS - len(token.lstrip("-").split(".")[0]) - 1 - token.startswith("-")
    return f"{d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def _match(token: str, rows) -> tuple[str, float, int | None] | None:
    unit = 10.0 ** -len(token.split(".")[1]) if "." in token else 1.0
    t = float(token)
    unit = max(unit, 4 * math.ulp(t))  # a 17-digit repr: the arithmetic's last bits
    best = None
    for key, v, steps in rows:
        for sign in (1, -1):  # a number after a minus sign as an operator: exp(-0.3775)
            gap = abs(sign * v - t)
            if gap <= unit and (best is None or gap < best[0]):
                best = (gap, (key, sign * v, steps), sign)
    if best is None:
        return None
    key, v, steps = best[1]
    return (key, best[2], steps)


def _refused(args: list[str]) -> str:
    """The CLI's own refusal of ``args``: exit 2 and one line on stderr, naming what is refused; its text."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status, doc = _cli(args)
    lines = err.getvalue().splitlines()
    assert (status, doc, len(lines)) == (2, "", 1), (args, status, err.getvalue())
    assert lines[0].startswith("backprop-tutor: error: "), lines
    return lines[0]


def _every_number(
    name: str, fmt: str, tmp_path: Path, extra: tuple[str, ...] = (), train: int = 0, show: str = "every:1"
) -> None:
    if train:  # train NAME --epochs 1: every step of the epoch shown (or, --show none, what follows it)
        from tutor.engine.training import batches
        from tutor.spec import load

        total = len(batches(load(name)))
        rows = claimable_after(name, total)
        status, doc = _cli(["train", name, "--epochs", "1", "--show", show, "--format", fmt])
    else:
        rows = claimable(name, extra)
        status, doc = _cli(["explain", name, *extra, "--format", fmt])
    assert status == 0
    tokens = numbers(doc, fmt)
    assert tokens
    missing, claims = [], []
    for token in dict.fromkeys(claim_form(t) for t in tokens):
        m = _match(token, rows)
        if m is None:
            missing.append(token)
            continue
        key, sign, steps = m
        printed = token if sign == 1 else (token[1:] if token.startswith("-") else "-" + token)
        claim = {"quantity": key, "value": printed}
        if steps is not None:
            claim["after_steps"] = steps
        claims.append(claim)
    assert not missing, f"{name} {fmt}: not claimable: {missing[:10]}"
    path = tmp_path / f"{Path(name).stem}-{fmt}.toml"
    path.write_text(
        "".join(
            f'[[claim]]\nquantity = "{c["quantity"]}"\nvalue = "{c["value"]}"\n'
            + (f"after_steps = {c['after_steps']}\n" if "after_steps" in c else "")
            for c in claims
        )
    )
    status, report = _cli(["check", name, str(path), *extra, "--format", "json"])
    data = json.loads(report)
    wrong = [(c["quantity"], c["printed"], c["correct"]) for c in data["claims"] if c["verdict"] == "wrong"]
    assert not wrong, f"{name} {fmt}: false alarms: {wrong[:10]}"
    assert status == 0, (name, fmt)
    # The text and Markdown reports render the same data (check's status is the report's, whatever the format:
    # cli.cmd_check), so they are rendered from it rather than checked twice more
    for out in ("text", "md"):
        shown = render_check(data, out)
        assert all(c["printed"] in shown for c in data["claims"]), (name, fmt, out)


@pytest.mark.parametrize("name", SAMPLE)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_printed_number_is_claimable_and_agrees(name, fmt, tmp_path):
    _every_number(name, fmt, tmp_path)


HACKERS_GUIDE = str(Path(__file__).parent / "data" / "published" / "hackers-guide-neuron" / "spec.toml")
NNFS_NEURON = str(Path(__file__).parent / "data" / "published" / "nnfs-relu-neuron" / "spec.toml")
LOSS_FREE = [
    ("mazur", ("--of", "out_o1", "--step", "0.5")),
    (HACKERS_GUIDE, ("--of", "out_f", "--step", "0.01", "--ascent-on-inputs")),
    (NNFS_NEURON, ("--of", "out_y", "--step", "0.001")),
]


@pytest.mark.parametrize("name,extra", LOSS_FREE, ids=["mazur-of-o1", "neuron-ascent-on-inputs", "relu-neuron-descent"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_number_of_the_loss_free_mode_is_claimable_and_agrees(name, extra, fmt, tmp_path):
    _every_number(name, fmt, tmp_path, extra)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_number_train_prints_is_claimable_and_agrees(fmt, tmp_path):
    _every_number("minibatch", fmt, tmp_path, train=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in example_names("all") if n not in SAMPLE])
def test_every_printed_number_of_every_example(name, tmp_path):
    for fmt in FORMATS:
        _every_number(name, fmt, tmp_path)


def _by_layers(name: str) -> bool:
    from tutor.engine.walks import walked_by_layers
    from tutor.spec import load

    return walked_by_layers(load(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in example_names() if not graphspec.is_graph(n)])
def test_every_number_train_prints_of_every_example(name, tmp_path):
    if not _by_layers(name):
        for fmt in FORMATS:
            _every_number(name, fmt, tmp_path, train=1)
        return
    # a network walked by layers (convolution, pooling, recurrence): train shows no steps (the CLI refuses it)
    # and writes text or JSON only; what it does print, the run's losses and parameters, is claimed
    for fmt in FORMATS:
        line = _refused(["train", name, "--epochs", "1", "--show", "every:1", "--format", fmt])
        assert line.startswith("backprop-tutor: error: --show: "), line
    for fmt in ("md", "tex", "html"):
        line = _refused(["train", name, "--epochs", "1", "--show", "none", "--format", fmt])
        assert line.startswith("backprop-tutor: error: --format: "), line
    for fmt in ("text", "json"):
        _every_number(name, fmt, tmp_path, train=1, show="none")


GRADIENT_STEP = str(Path(__file__).parent / "data" / "published" / "momentum-velocity-warm" / "spec.toml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_number_of_a_step_from_given_gradients_is_claimable_and_agrees(fmt, tmp_path):
    _every_number(GRADIENT_STEP, fmt, tmp_path)


NNFS_LAYER = str(Path(__file__).parent / "data" / "published" / "nnfs-layer-backward" / "spec.toml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_number_of_a_summed_batch_with_input_gradients_is_claimable_and_agrees(fmt, tmp_path):
    _every_number(NNFS_LAYER, fmt, tmp_path)


def _loss_free_cases() -> list[tuple[str, tuple[str, ...]]]:
    """Every built-in network example the loss-free mode reads (one plain step on one example, gates for every
    activation), each with its last output and a step, once plain and once moving the inputs too."""
    from tutor.spec import load

    cases = []
    for name in example_names():
        if graphspec.is_graph(name):
            continue
        net = load(name)
        if not (net.training.plain and len(net.examples) == 1) or net.layers[-1].activation == "softmax":
            continue
        out = net.layers[-1].out_names[-1]
        cases += [(name, ("--of", out, "--step", "0.1")), (name, ("--of", out, "--step", "0.1", "--ascent-on-inputs"))]
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("name,extra", _loss_free_cases(), ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_every_number_of_the_loss_free_mode_of_every_example(name, extra, tmp_path):
    if _by_layers(name):  # one walk-through so far: explain and check refuse --of up front, in one line
        claims = tmp_path / "claims.toml"
        claims.write_text('[[claim]]\nquantity = "out_o1"\nvalue = "0.5"\n')
        for args in (["explain", name, *extra], ["check", name, str(claims), *extra]):
            line = _refused(args)
            assert line.startswith("backprop-tutor: error: --of: "), line
        return
    for fmt in FORMATS:
        _every_number(name, fmt, tmp_path, extra)


def test_the_loss_free_mode_refuses_a_network_walked_by_layers_in_one_line(tmp_path):
    """explain and check --of refuse conv1d-two-channels alike, up front (check once named a graph node instead)."""
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nquantity = "out_o1"\nvalue = "0.5"\n')
    for args in (["explain", "conv1d-two-channels"], ["check", "conv1d-two-channels", str(claims)]):
        line = _refused([*args, "--of", "out_o1", "--step", "0.1"])
        assert line == f"backprop-tutor: error: --of: {ONE_WALK}", line
