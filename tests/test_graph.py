"""Computational graphs: the spec's grammar, the engine against PyTorch and finite differences, the
picture's layout, every format, and the bad input of graph specs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.engine.graph import evaluate, explain_graph
from tutor.render import graphpicture
from tutor.render.graph import picture_nodes, render, writer
from tutor.spec import graph as graphspec
from tutor.spec.resources import example_names

from .conftest import at_printed, pdf_pages, screenshot
from .support import recording, require_module

EXAMPLES = example_names("graph")
TORCH = json.loads((Path(__file__).parent / "data" / "graph_torch.json").read_text(encoding="utf-8"))


def test_the_four_examples_are_built_in():
    assert {"graph-xyz", "graph-sigmoid-gates", "graph-max-twice", "graph-micrograd-tanh"} <= set(EXAMPLES)
    assert set(TORCH) == set(EXAMPLES), "record again: python tests/record_graph_torch.py"


# -- numbers --------------------------------------------------------------------------------------------


def test_xyz_at_the_notes_values():
    w = explain_graph(graphspec.load("graph-xyz"))
    assert (w.value("q"), w.value("f")) == (3.0, -12.0)
    assert w.gradients() == {"f": 1.0, "q": -4.0, "z": 3.0, "x": -4.0, "y": -4.0}
    assert w.value("local[f/q]") == -4.0 and w.value("local[q/x]") == 1.0
    # the update: x+ = x - 0.01 * grad
    assert w.value("x+") == pytest.approx(-1.96) and w.value("z+") == pytest.approx(-4.03)
    assert w.value("f+") == pytest.approx((-1.96 + 5.04) * -4.03)


def test_sigmoid_neuron_gates_give_the_collapsed_derivative():
    w = explain_graph(graphspec.load("graph-sigmoid-gates"))
    s = w.value("f")
    assert at_printed(s, "0.73")
    # what reaches the add gate d is sigma'(d) = sigma (1 - sigma), however many gates came between
    assert w.gradients()["d"] == pytest.approx(s * (1 - s), rel=1e-14)
    for leaf, printed in {"w0": "-0.20", "x0": "0.39", "w1": "-0.39", "x1": "-0.59", "w2": "0.20"}.items():
        assert at_printed(w.gradients()[leaf], printed), leaf


def test_max_gate_routes_and_fan_out_sums():
    w = explain_graph(graphspec.load("graph-max-twice"))
    g = w.gradients()
    assert g["z"] == 0.0 and g["m_1"] == g["m"] == 3.0
    x = next(b for b in w.backward if b.node == "x")
    assert len(x.summed) == 2 and g["x"] == sum(w.value(k) for k in x.summed) == 12.0
    m = next(b for b in w.backward if b.node == "m")
    assert "larger input, m_1" in m.pattern


def test_micrograd_neuron():
    w = explain_graph(graphspec.load("graph-micrograd-tanh"))
    assert at_printed(w.value("o"), "0.7071")
    g = w.gradients()
    assert [round(g[k], 12) for k in ("x1", "w1", "x2", "w2", "n")] == [-1.5, 1.0, 0.5, 0.0, 0.5]


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_value_and_gradient_matches_recorded_torch(name):
    w = explain_graph(graphspec.load(name))
    rec = TORCH[name]
    values = {n.name: w.value(n.name) for n in w.graph.nodes}
    assert values.keys() == rec["values"].keys()
    for k, v in rec["values"].items():
        assert values[k] == pytest.approx(v, rel=1e-12, abs=1e-14), k
    grads = w.gradients()
    assert grads.keys() == {k for k in rec["gradients"] if w.graph.node(k).kind != "constant"} | (
        grads.keys() - rec["gradients"].keys()
    )
    for k, v in grads.items():
        assert v == pytest.approx(rec["gradients"][k], rel=1e-12, abs=1e-14), k


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_value_and_gradient_matches_live_torch(name):
    require_module("torch")  # a failure in CI, not a skip
    live = recording(Path(__file__).parent / "record_graph_torch.py").torch_values(graphspec.load(name))
    w = explain_graph(graphspec.load(name))
    for k, v in w.gradients().items():
        assert v == pytest.approx(live["gradients"][k], rel=1e-12, abs=1e-14), k


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_gradient_matches_its_own_central_difference(name):
    """An independent central difference here (step 1e-5), besides the engine's own check rows."""
    g = graphspec.load(name)
    w = explain_graph(g)
    base = {n.name: n.value for n in g.leaves}
    for leaf in g.leaves:
        h = 1e-5
        hi = evaluate(g, {**base, leaf.name: base[leaf.name] + h})[g.output]
        lo = evaluate(g, {**base, leaf.name: base[leaf.name] - h})[g.output]
        assert w.gradients()[leaf.name] == pytest.approx((hi - lo) / (2 * h), rel=1e-6, abs=1e-8), leaf.name
    assert w.ok and len(w.check) == len(g.leaves)


def test_upstream_gradient_scales_every_gradient():
    g = graphspec.load("graph-xyz")
    w1, w3 = explain_graph(g), explain_graph(g.with_options(upstream=3.0))
    for k, v in w1.gradients().items():
        assert w3.gradients()[k] == 3 * v
    assert w3.loss_name == "L" and w3.ok


def test_every_operation_against_torch():
    torch = pytest.importorskip("torch")
    g = graphspec.graph(
        {
            "a": "sqrt(x) + log(y) - abs(z) / 2",
            "b": "sigmoid(a) * tanh(x - y) + relu(z + 5) ** 3",
            "c": "min(a, b) + max(-b, 0.5 * x) + exp(-x) + x ** -1.5",
            "f": "c * a / (1 + b ** 2)",
        },
        {"x": 1.3, "y": 0.7, "z": -2.1},
    )
    w = explain_graph(g)
    x, y, z = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.3, 0.7, -2.1))
    a = torch.sqrt(x) + torch.log(y) - torch.abs(z) / 2
    b = torch.sigmoid(a) * torch.tanh(x - y) + torch.relu(z + 5) ** 3
    c = torch.minimum(a, b) + torch.maximum(-b, 0.5 * x) + torch.exp(-x) + x**-1.5
    f = c * a / (1 + b**2)
    f.backward()
    assert w.value("f") == pytest.approx(float(f.detach()), rel=1e-13)
    for name, t in (("x", x), ("y", y), ("z", z)):
        assert w.gradients()[name] == pytest.approx(float(t.grad), rel=1e-12), name


def test_stable_keys():
    w = explain_graph(graphspec.graph({"f": "(x + y) * x"}, {"x": 2, "y": 3}))
    keys = set(w.values())
    assert {"x", "y", "f_1", "f", "grad[f]", "grad[f_1]", "grad[x]", "grad[y]", "local[f/f_1]", "local[f/x]"} <= keys
    assert {"grad[x@f]", "grad[x@f_1]"} <= keys  # x feeds two gates: one contribution each, summed


def test_a_variable_read_twice_by_one_gate():
    w = explain_graph(graphspec.graph({"f": "x * x"}, {"x": 3}))
    assert w.gradients()["x"] == 6.0
    assert {"local[f/x]", "local[f/x.2]", "grad[x@f]", "grad[x@f.2]"} <= set(w.values())


# -- the picture ------------------------------------------------------------------------------------------


def _pictures():
    big = graphspec.graph(
        {
            "a": "x * y + z",
            "b": "a * x - y",
            "c": "max(a, b) + tanh(z * w)",
            "d": "c * a + b * x",
            "e": "sigmoid(d) + exp(-c) * w",
            "f": "e * x + d / (1 + y * y)",
        },
        {"x": 0.5, "y": -1.5, "z": 2.0, "w": 0.25},
    )
    out = [graphspec.load(n) for n in EXAMPLES] + [big]
    return out


def _network_pictures():
    from tutor.spec import load
    from tutor.spec.graph import from_network

    return [from_network(load(n)) for n in ("appendix-a", "appendix-b", "mazur")]


@pytest.mark.parametrize("mode", ["text", "tex", "web"])
def test_no_two_node_boxes_overlap_and_no_edge_crosses_a_node(mode):
    for g in _pictures() + _network_pictures():
        w = explain_graph(g)
        p = graphpicture.layout(picture_nodes(w, writer(w, mode), mode))
        assert graphpicture.overlaps(p) == []
        assert graphpicture.crossings(p) == []
        # every wire runs left to right, between neighbouring columns piece by piece
        for wire in p.wires:
            pts = p.points(wire)
            assert all(x2 >= x1 for (x1, _), (x2, _) in zip(pts, pts[1:]))


def test_the_picture_fits_the_page_and_the_terminal():
    for g in _pictures()[:-1]:  # the built-in examples
        w = explain_graph(g)
        p = graphpicture.layout(picture_nodes(w, writer(w, "tex"), "tex"))
        # readable at print size: the boxes' 9 pt text (\small) shrunk to the page stays >= 8 pt, drawn
        assert graphpicture.legible(p) and 9 * graphpicture.scale(p) >= 8, (g.title, p.width)
        assert r"\begin{picture}" in graphpicture.picture(p)
        pic = graphpicture.text(graphpicture.layout(picture_nodes(w, writer(w, "text"), "text")))
        assert max(map(len, pic.splitlines())) <= 100


def test_text_picture_shows_every_node_with_value_and_gradient():
    w = explain_graph(graphspec.load("graph-xyz"))
    pic = graphpicture.text(graphpicture.layout(picture_nodes(w, writer(w, "text"), "text")))
    for line in ("| q (+) |", "| ∇ -4  |", "| f (×) |", "| -12   |", "| ∇ 1   |"):
        assert line in pic
    assert pic.count(">") == 4  # one arrow per wire: x and y into q, q and z into f


# -- every format -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "md", "tex", "html", "json"])
def test_every_format_shows_forward_backward_check(fmt):
    w = explain_graph(graphspec.load("graph-max-twice"))
    out = render(w, fmt)
    if fmt == "json":
        doc = json.loads(out)
        assert doc["gradients"]["x"] == 12.0 and doc["update"]["direction"] == "ascent"
        assert {e["contribution"] for e in doc["edges"]} >= {"grad[x@f]", "grad[x@m_1]"}
        return
    assert "18" in out and "12" in out
    assert "routes the gradient to the larger input" in out
    assert "+=" in out


def test_cli_explain_graph(capsys, tmp_path):
    assert main(["explain", "graph-xyz"]) == 0
    out = capsys.readouterr().out
    assert "df/dx = df/dq·∂q/∂x = (-4)·1 = -4" in out  # total gradients d, local derivatives ∂
    assert main(["explain", "graph-xyz", "--of", "q", "--step", "0.5", "--ascent", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["output"] == "q" and doc["update"]["leaves"] == {"x": -1.5, "y": 5.5}
    assert main(["explain", "graph-xyz", "--upstream", "2", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["gradients"]["x"] == -8.0


@pytest.mark.slow
def test_pdf_compiles_and_has_pages(tmp_path):
    w = explain_graph(graphspec.load("graph-sigmoid-gates"))
    pages = pdf_pages(render(w, "tex"), tmp_path)
    assert len(pages) >= 2


@pytest.mark.slow
def test_html_opens_in_chromium(tmp_path):
    w = explain_graph(graphspec.load("graph-sigmoid-gates"))
    html = render(w, "html")
    assert html.count("<rect") == len(w.graph.nodes)
    screenshot(html, tmp_path)


def test_names_and_text_are_escaped_in_every_format():
    g = graphspec.graph(
        {"f_x": "a_b * 2"},
        {"a_b": 1.5},
        title=r"\input{/etc/passwd} <script>alert(1)</script> $x$ \write18{rm}",
        description="*bold* _i_ # {{ 7*7 }}",
    )
    w = explain_graph(g)
    tex = render(w, "tex")
    assert r"\input{" not in tex and r"\write18{" not in tex
    html = render(w, "html")
    assert "<script>" not in html
    md = render(w, "md")
    assert "<script>" not in md and "{{ 7*7 }}" not in md and "$x$" not in md


# -- bad input ------------------------------------------------------------------------------------------------

BAD = [
    ('f = "x + * y"', "graph.assign.f: syntax error at column 5"),
    ('f = "foo(x)"', "graph.assign.f: unknown function 'foo'; allowed: exp, log, sqrt, abs, max, min, sigmoid"),
    ('f = "x + w"', "graph.assign.f: undefined name 'w'"),
    ('f = "g + x"\ng = "f * 2"', "graph.assign.f: 'g' is assigned later"),
    ('f = "f + x"', "graph.assign.f: 'f' uses itself (a cycle)"),
    ('x = "y * 2"', "graph.assign.x: the name 'x' is assigned twice"),
    ('f = "x / (y - 2)"', "graph.assign.f (x / (y - 2)): node f (a / b) meets a division by zero"),
    ('f = "log(x - y)"', "graph.assign.f (log(x - y)): node f (ln a (a > 0)) meets the log of a non-positive"),
    ('f = "sqrt(x - y)"', "graph.assign.f (sqrt(x - y)): node f (sqrt a (a >= 0)) meets the square root of a negative"),
    ('f = "exp(1000 * x)"', "graph.assign.f (exp(1000 * x)): node f (e^a) is not finite"),
    ('f = "x ** y"', "graph.assign.f: the exponent of ** must be a constant number"),
    ('f = "x ^ 2"', "graph.assign.f: '^' is not a power here"),
    ('f = "x.real"', "graph.assign.f: an attribute is not allowed"),
    ('f = "__import__(1)"', "graph.assign.f: unknown function '__import__'"),
    ('f = "max(x)"', "graph.assign.f: max() takes two or more arguments"),
    ('f = ""', "graph.assign.f: the expression is empty"),
    ('exp = "x * 2"', "graph.assign.exp: 'exp' is the name of a function"),
]


@pytest.mark.parametrize("assign, message", BAD)
def test_bad_graph(tmp_path, capsys, assign, message):
    spec = tmp_path / "g.toml"
    spec.write_text(f"[graph]\n[graph.leaves]\nx = 1.0\ny = 2.0\n[graph.assign]\n{assign}\n", encoding="utf-8")
    assert main(["explain", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err


@pytest.mark.parametrize(
    "body, message",
    [
        ('[graph.leaves]\nx = inf\n[graph.assign]\nf = "x"', "graph.leaves.x: expected a finite number, got inf"),
        ('[graph.leaves]\nx = nan\n[graph.assign]\nf = "x"', "graph.leaves.x: expected a finite number"),
        ('[graph.leaves]\nx = "a"\n[graph.assign]\nf = "x"', "graph.leaves.x: expected a number"),
        ('[graph.assign]\nf = "1"', "graph.leaves: expected a table of leaf values"),
        ('[graph.leaves]\nx = 1\n[graph.assign]\nf = "x"\n[graph.update]\nstep = -1', "the step size must be positive"),
        ('output = "zz"\n[graph.leaves]\nx = 1\n[graph.assign]\nf = "x"', "graph.output: 'zz' is not a node"),
        ('colour = 1\n[graph.leaves]\nx = 1\n[graph.assign]\nf = "x"', "graph.colour: unknown key"),
        ('[graph.leaves]\n"a b" = 1\n[graph.assign]\nf = "x"', "is not allowed: a node name starts with a letter"),
    ],
)
def test_bad_graph_keys(tmp_path, capsys, body, message):
    spec = tmp_path / "g.toml"
    spec.write_text("[graph]\n" + body + "\n", encoding="utf-8")
    assert main(["explain", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_graph_past_the_node_limit(tmp_path, capsys):
    lines = ['n0 = "x * 1.5"'] + [f'n{k} = "n{k - 1} + x"' for k in range(1, graphspec.MAX_NODES)]
    spec = tmp_path / "g.toml"
    spec.write_text("[graph]\n[graph.leaves]\nx = 1.0\n[graph.assign]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert main(["explain", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"more than {graphspec.MAX_NODES} nodes" in err and err.count("\n") == 1


def test_deeply_nested_expression(tmp_path, capsys):
    spec = tmp_path / "g.toml"
    spec.write_text('[graph]\n[graph.leaves]\nx = 1.0\n[graph.assign]\nf = "' + "(" * 300 + "x" + ")" * 300 + '"\n')
    assert main(["explain", str(spec)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_network_flags_on_a_graph_spec(capsys):
    assert main(["explain", "graph-xyz", "--view", "matrix"]) == 2
    assert "--view is for network specs" in capsys.readouterr().err
    assert main(["explain", "graph-xyz", "--of", "x"]) == 2
    assert "'x' is not an assignment" in capsys.readouterr().err


def test_expression_text_is_never_evaluated(tmp_path, capsys):
    marker = tmp_path / "pwned"
    spec = tmp_path / "g.toml"
    spec.write_text(
        f"[graph]\n[graph.leaves]\nx = 1.0\n[graph.assign]\nf = \"open({str(marker)!r}, 'w')\"\n", encoding="utf-8"
    )
    assert main(["explain", str(spec)]) == 2
    assert not marker.exists()
    assert re.search(r"unknown function 'open'", capsys.readouterr().err)
    assert math.isfinite(1.0)


# -- networks as graphs, micrograd --------------------------------------------------------------------------


def test_network_view_graph_gates_agree_with_collapsed_sigmoid(capsys):
    assert main(["explain", "mazur", "--view", "graph", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["gates_vs_collapsed"]
    assert len(rows) == 4
    for r in rows:
        assert r["gates"] == pytest.approx(r["collapsed"], rel=1e-12)
    g = doc["gradients"]
    assert at_printed(g["w5"], "0.082167041") and at_printed(g["w1"], "0.000438568")
    # dE/dx: the gradient of the loss with respect to every input, as x.grad
    assert {"i1", "i2"} <= g.keys()


def test_network_inputs_gradient_against_torch():
    torch = pytest.importorskip("torch")
    from tutor.spec import load
    from tutor.spec.graph import from_network

    net = load("mazur")
    w = explain_graph(from_network(net))
    x = torch.tensor(net.inputs, dtype=torch.float64, requires_grad=True)
    a = x
    for layer in net.layers:
        a = torch.sigmoid(torch.tensor(layer.weights) @ a + torch.tensor(layer.biases))
    E = 0.5 * ((torch.tensor(net.targets) - a) ** 2).sum()
    E.backward()
    for k, name in enumerate(net.input_names):
        assert w.gradients()[name] == pytest.approx(float(x.grad[k]), rel=1e-12)


def test_network_loss_free_mode(capsys):
    assert main(["explain", "mazur", "--of", "out_o1", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["output"] == "out_o1" and doc["upstream"] == 1.0 and "E_total" not in doc["values"]
    assert main(["explain", "mazur", "--of", "nope"]) == 2
    assert "not an output of the network" in capsys.readouterr().err


def test_micrograd_value_explained_and_checked():
    from .support import require_module

    engine = require_module("micrograd.engine", "micrograd")
    import tutor

    Value = engine.Value
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    r = tutor.explain(g)
    rows = r.framework_check.rows
    assert r.ok and len(rows) > 30 and r.framework_check.max_rel <= 1e-12
    assert r.values[r.walk.graph.output] == pytest.approx(24.7041, abs=5e-5)  # micrograd's README
    grads = {row.framework for row in rows}
    assert any(abs(v - 138.8338) < 5e-5 for v in grads) and any(abs(v - 645.5773) < 5e-5 for v in grads)
    assert "micrograd's .grad" in str(r) and "micrograd's .grad" in r.to_markdown()
    assert len(repr(r)) < 200 and repr(r).startswith("<GraphExplanation of A micrograd expression: ")


def test_micrograd_before_backward_is_an_error():
    from .support import assert_error_starts, require_module

    engine = require_module("micrograd.engine", "micrograd")
    import tutor

    v = engine.Value(2.0) * engine.Value(3.0)
    assert_error_starts(lambda: tutor.explain(v), "explain(): micrograd's gradients are not there yet")


# -- teaching tools ---------------------------------------------------------------------------------------------


def test_graph_quiz_carries_forward_and_names_misconceptions(tmp_path, capsys):
    from tutor.teach.quiz import Quiz

    qz = Quiz(graphspec.load("graph-xyz"), tries=1)
    assert [q.key for q in qz.questions] == ["q", "f", "grad[q]", "grad[z]", "grad[y]", "grad[x]"]
    assert qz.respond("4").answer.verdict == "wrong"  # q
    assert qz.respond("-16").answer.verdict == "carried"  # f = q z from the student's q
    assert qz.respond("-4").answer.verdict == "correct"
    assert qz.respond("4").answer.verdict == "carried"  # grad[z] = q from the student's q = 4
    assert qz.respond("-4").answer.verdict == "correct"
    a = qz.respond("1").answer  # grad[x]: the local derivative 1 without the upstream -4
    assert a.verdict == "wrong" and a.diagnosis.misconception == "local-as-gradient"
    answers = tmp_path / "a.txt"
    answers.write_text("m_1 = 6\nm = 6\nf = 18\ngrad[m] = 3\ngrad[m_1] = 3\ngrad[z] = 3\ngrad[y] = 9\ngrad[x] = 6\n")
    results = tmp_path / "r.json"
    assert main(["quiz", "graph-max-twice", "--answers", str(answers), "--results", str(results)]) == 0
    rec = json.loads(results.read_text())
    found = {q["key"]: (q["diagnosis"] or {}).get("misconception") for q in rec["questions"]}
    assert found["grad[z]"] == "max-to-other-input" and found["grad[x]"] == "missing-fan-out-sum"
    assert (rec["score"]["credited"], rec["score"]["total"]) == (6, 8)


def test_graph_check_claims(tmp_path, capsys):
    claims = tmp_path / "c.toml"
    claims.write_text(
        '[[claim]]\nquantity = "q"\nvalue = "4"\n'
        '[[claim]]\nquantity = "f"\nvalue = "-16"\n'
        '[[claim]]\nquantity = "df/dx"\nvalue = "-4"\n'
        '[[claim]]\nquantity = "grad[y]"\nvalue = "1"\n'
    )
    assert main(["check", "graph-xyz", str(claims), "-f", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)["claims"]
    assert [r["verdict"] for r in rows] == ["wrong", "holds under another convention", "agrees", "wrong"]
    assert "carried forward from the claimed q" in rows[1]["convention"]
    assert rows[3]["diagnosis"].startswith("the local derivative taken for the gradient")
    bad = tmp_path / "b.toml"
    bad.write_text('[[claim]]\nquantity = "nope"\nvalue = "1"\n')
    assert main(["check", "graph-xyz", str(bad)]) == 2
    assert "unknown quantity 'nope'" in capsys.readouterr().err


def test_graph_worksheet(tmp_path, capsys):
    out = tmp_path / "ws"
    assert main(["worksheet", "--spec", "graph-max-twice", "-o", str(out)]) == 0
    sheet, key = (out / "sheet.md").read_text(), (out / "key.md").read_text()
    assert "`grad[x]` = ______" in sheet and "`grad[x]` = 12.0000" in key
    assert main(["worksheet", "--spec", "graph-max-twice", "-o", str(out)]) == 2  # nothing overwritten


def test_network_walkthrough_has_dE_dx_of_every_input(capsys):
    """The network walk-through's own section and JSON key, against torch and the graph engine."""
    torch = pytest.importorskip("torch")
    from tutor.engine.symbolic import explain_step
    from tutor.spec import load
    from tutor.spec.graph import from_network

    for name in ("mazur", "appendix-b", "vanishing-relu"):
        net = load(name)
        walk = explain_step(net)
        assert [walk.labels[k].den for k in walk.input_gradients] == list(net.input_names)
        graph = explain_graph(from_network(net)).gradients()
        x = torch.tensor(net.inputs, dtype=torch.float64, requires_grad=True)
        a = x
        for layer in net.layers:
            z = torch.tensor(layer.weights) @ a + torch.tensor(layer.biases)
            a = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh, "identity": lambda t: t}[
                layer.activation
            ](z)
        E = 0.5 * ((torch.tensor(net.targets) - a) ** 2).sum()
        if net.loss == "mse":
            E = ((torch.tensor(net.targets) - a) ** 2).mean()
        E.backward()
        for k, key in enumerate(walk.input_gradients):
            assert walk.value(key) == pytest.approx(float(x.grad[k]), rel=1e-10, abs=1e-15), (name, key)
            assert walk.value(key) == pytest.approx(graph[net.input_names[k]], rel=1e-10, abs=1e-15)
    assert main(["explain", "mazur", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert at_printed(doc["input_gradients"]["i1"], "0.003804267")
    assert main(["explain", "mazur"]) == 0
    assert "∂E_total/∂i1 = w1·∂E_total/∂net_h1 + w3·∂E_total/∂net_h2" in capsys.readouterr().out


def test_examples_lists_the_graphs_and_output_is_deterministic(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    for name in EXAMPLES:
        assert re.search(rf"^{name} +graph, \d+ gates", out, re.M), name
    for fmt in ("text", "md", "tex", "html", "json"):
        a = render(explain_graph(graphspec.load("graph-sigmoid-gates")), fmt)
        b = render(explain_graph(graphspec.load("graph-sigmoid-gates")), fmt)
        assert a == b, fmt


def test_a_graph_spec_given_to_a_network_command(capsys):
    assert main(["train", "graph-xyz"]) == 2
    assert "is a graph spec" in capsys.readouterr().err


def test_notebook_explain_of_a_graph_spec():
    import tutor

    e = tutor.explain("graph-xyz")
    assert e.ok and e.gradients["x"] == -4.0 and e.values["f"] == -12.0
    assert "<svg" in e._repr_html_() and "$$" in e._repr_markdown_()
    assert "Node q" in str(e)


def test_a_graph_too_large_for_the_page_is_listed_never_turned_or_shrunk_below_8_pt(tmp_path):
    """Mazur's network as its graph (61 cm wide at print size): a table of its columns, nodes and what each
    reads, at the document's size; the picture is neither turned nor shrunk; the check's columns are math
    (a minus sign, not a hyphen)."""
    from tutor.spec import load

    g = graphspec.from_network(load("mazur"))
    w = explain_graph(g)
    p = graphpicture.layout(picture_nodes(w, writer(w, "tex"), "tex"))
    assert not graphpicture.legible(p) and 9 * graphpicture.scale(p) < 8
    out = tmp_path / "g.tex"
    assert main(["explain", "mazur", "--view", "graph", "-o", str(out)]) == 0
    tex = out.read_text(encoding="utf-8")
    assert r"\rotatebox{90}" not in tex and r"\begin{picture}" not in tex and graphpicture.LISTED in tex
    assert r"2 & $\mathrm{net}_{h1,1}$ ($\times$) & $w_{1}$, $i_{1}$ \\" in tex
    assert "Left to right, every node" not in tex  # the picture's legend goes with the picture
    assert r"$w_{7}$ & $-0.02260254048$ & $-0.02260254048$ & agree" in tex


@pytest.mark.parametrize("argv", [["mazur", "--view", "graph"], ["graph-micrograd-tanh"]])
def test_a_graph_document_honours_width(argv, tmp_path):
    out = tmp_path / "g.txt"
    assert main(["explain", *argv, "--width", "60", "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert max(map(len, lines)) <= 60
    wide = tmp_path / "w.txt"
    assert main(["explain", *argv, "-o", str(wide)]) == 0
    assert max(map(len, wide.read_text(encoding="utf-8").splitlines())) > 60


def test_a_network_too_large_for_a_graph_is_refused_for_its_size(tmp_path, capsys):
    """20-30-30-10 (1,870 parameters): refused for its size before any name is read (its 'w1_1.1' was refused
    as a node name, which says nothing about what to do)."""
    from .test_limits import network_spec

    spec = network_spec(tmp_path / "limit.toml", [20, 30, 30, 10], shared_bias=False)
    assert main(["explain", str(spec), "--view", "graph", "-f", "pdf", "-o", str(tmp_path / "g.pdf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "backprop-tutor: error: --view graph: the network's graph would have more than 200 nodes (1890 inputs,"
        " weights and biases alone); its walk-through, --brief for a large one, shows every value"
    ]
    assert not (tmp_path / "g.pdf").exists()
