"""A step from given gradients (issue 28, item 5): ``[graph.gradients]`` of a graph spec gives each
parameter's gradient per example; they are averaged or summed and one update of the optimizer registry is
taken. Published solutions are reproduced claim by claim, the step is shown in every output format, every
line is claimable, and the two slips a solution makes here (summed for averaged, plain descent for the
optimizer) are named."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.engine.graph import explain_graph
from tutor.spec import graph as graphspec
from tutor.spec.rounding import agrees_as_printed
from tutor.spec.rules import OPTIMIZERS
from tutor.teach.checker import AGREES, WRONG

PUBLISHED = Path(__file__).parent / "data" / "published"
SOLUTIONS = ["minibatch-average", "momentum-velocity-given", "momentum-velocity-warm"]


def _run(args: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(args)
    return status, buf.getvalue()


@pytest.mark.parametrize("name", SOLUTIONS)
def test_published_steps_from_given_gradients_are_reproduced(name):
    folder = PUBLISHED / name
    status, out = _run(["check", str(folder / "spec.toml"), str(folder / "claims.toml"), "--format", "json"])
    rows = json.loads(out)["claims"]
    assert status == 0 and rows and all(r["verdict"] == AGREES for r in rows)


def test_the_averaged_gradient_below_a_tie_reads_either_way():
    # (-2.0 + 2.3)/2 is 0.1499999... as a double: Python prints 0.1 at one decimal, a hand calculation 0.2
    g2 = explain_graph(graphspec.load(PUBLISHED / "minibatch-average" / "spec.toml")).value("g_w2")
    assert f"{g2:.1f}" == "0.1" and agrees_as_printed(g2, "0.1") and agrees_as_printed(g2, "0.2")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_of_the_registry_agrees_with_its_numpy_step(name):
    opt = OPTIMIZERS[name]
    spec = {
        "graph": {
            "gradients": {
                "reduction": "sum",
                "optimizer": name,
                "learning_rate": 0.05,
                "t": 2,
                "given": {"w": [0.3, -0.1, 0.25]},
                "parameters": {"w": 0.7},
                "state": {"w": {s: 0.02 * (k + 1) for k, s in enumerate(opt.state)}},
            }
        }
    }
    walk = explain_graph(graphspec.from_mapping(spec))
    g = 0.3 - 0.1 + 0.25
    state = {s: 0.02 * (k + 1) for k, s in enumerate(opt.state)}
    new, _, shown = opt.np_step(0.7, g, state, 2, 0.05, opt.params())
    assert walk.value("g_w") == pytest.approx(g, rel=1e-15)
    assert walk.value("w_new") == pytest.approx(new, rel=1e-12)
    for line, value in shown.items():
        assert walk.value("w_new" if line == "w+" else f"{line}_w") == pytest.approx(value, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("fmt", ["text", "md", "tex", "html", "json"])
def test_the_step_is_shown_in_every_format(fmt):
    status, out = _run(["explain", str(PUBLISHED / "momentum-velocity-warm" / "spec.toml"), "--format", fmt])
    assert status == 0
    if fmt == "json":
        values = json.loads(out)["values"]
        assert values["w1_new"] == pytest.approx(-0.55) and values["step_w2"] == pytest.approx(0.45)
    else:
        shown = {"tex": "w_{1,\\mathrm{new}}", "html": "w1_new"}.get(fmt, "w1_new")
        assert shown in out.replace("\\_", "_") and "0.55" in out


def test_summed_for_averaged_and_plain_descent_for_the_optimizer_are_named(tmp_path):
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nquantity = "g_w1"\nvalue = "2.7"\n', encoding="utf-8")
    status, out = _run(["check", str(PUBLISHED / "minibatch-average" / "spec.toml"), str(claims), "-f", "json"])
    row = json.loads(out)["claims"][0]
    assert status == 1 and row["verdict"] == WRONG and "summed instead of averaged" in row["explanation"]
    claims.write_text('[[claim]]\nquantity = "w1_new"\nvalue = "-0.1"\n', encoding="utf-8")
    status, out = _run(["check", str(PUBLISHED / "momentum-velocity-warm" / "spec.toml"), str(claims), "-f", "json"])
    row = json.loads(out)["claims"][0]
    assert status == 1 and "plain gradient descent" in row["explanation"] and "momentum_velocity" in row["explanation"]


@pytest.mark.parametrize(
    "table,place,what",
    [
        ({"reduction": "median", "given": {"w": [1, 2]}}, "gradients.reduction", "allowed: mean, sum"),
        ({"given": {"w": [1, 2], "v": [1]}}, "gradients.given", "the same number each"),
        ({"given": {"w": [1, 2]}, "parameters": {"w": 1}}, "gradients", "learning_rate"),
        ({"given": {"w": 1}}, "gradients", "nothing to compute"),
        ({"given": {"w": [1, 2]}, "optimizer": "lion"}, "gradients.optimizer", "optimizer"),
        ({"given": {"w": 1}, "parameters": {"w": 1}, "learning_rate": 0.1, "hyper": {"mu": 0.9}}, "hyper.mu", "none"),
        ({"given": {"w": [1, "x"]}}, "gradients.given.w[1]", "expected a number"),
    ],
)
def test_bad_gradient_tables_are_one_line_errors(table, place, what):
    from tutor.spec.errors import SpecError

    with pytest.raises(SpecError) as info:
        graphspec.from_mapping({"graph": {"gradients": table}})
    assert place in info.value.where and what in info.value.message


def test_a_bad_gradient_table_on_the_command_line_is_one_line(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('[graph.gradients]\nreduction = "median"\n[graph.gradients.given]\nw = [1, 2]\n', encoding="utf-8")
    assert main(["explain", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("backprop-tutor: error:") and "allowed: mean, sum" in err
