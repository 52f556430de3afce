"""Each kind of quantity at the precision a hand calculation prints it with (issue 28, item 8):
``[conventions.digits_of]`` / ``--digits-of`` carry outputs, deltas, gradients ... at their own decimals under
as-printed rounding, both engines round each kind where they compute it, every value is shown at the decimals
it was carried with, and ``check`` names the convention when a solution's claims follow it."""

from __future__ import annotations

import contextlib
import io
import json
import math
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tutor.cli import main
from tutor.engine.gradcheck import engines_agree
from tutor.engine.symbolic import explain_step
from tutor.spec import load
from tutor.spec.errors import SpecError
from tutor.teach import checker
from tutor.teach.checker import AGREES, CONVENTION, WRONG

OWN = {"out": 4, "delta": 5}  # outputs at 4 decimals, deltas at 5, the rest at 6


def _r(x: float, d: int) -> float:
    """Round half away from zero on the decimal digits, as by hand (independent of the tutor's Rounder)."""
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def hand_mazur() -> dict[str, float]:
    """Mazur's network computed by hand with outputs carried at 4 decimals, deltas at 5 and every other value
    at 6: each value rounded as soon as it is written down, and the rounded value used from then on."""
    r4, r5, r6 = (lambda x: _r(x, 4)), (lambda x: _r(x, 5)), (lambda x: _r(x, 6))
    i1, i2, eta = 0.05, 0.10, 0.5
    v: dict[str, float] = {}
    v["net_h1"] = r6(0.15 * i1 + 0.20 * i2 + 0.35)
    v["net_h2"] = r6(0.25 * i1 + 0.30 * i2 + 0.35)
    v["out_h1"], v["out_h2"] = r4(_sigmoid(v["net_h1"])), r4(_sigmoid(v["net_h2"]))
    v["net_o1"] = r6(0.40 * v["out_h1"] + 0.45 * v["out_h2"] + 0.60)
    v["net_o2"] = r6(0.50 * v["out_h1"] + 0.55 * v["out_h2"] + 0.60)
    v["out_o1"], v["out_o2"] = r4(_sigmoid(v["net_o1"])), r4(_sigmoid(v["net_o2"]))
    v["E_o1"] = r6((0.01 - v["out_o1"]) ** 2 / 2)
    v["E_o2"] = r6((0.99 - v["out_o2"]) ** 2 / 2)
    v["E_total"] = r6(v["E_o1"] + v["E_o2"])
    dout = {k: r6(v[f"out_{k}"] - t) for k, t in (("o1", 0.01), ("o2", 0.99))}
    slope = {k: r6(v[f"out_{k}"] * (1 - v[f"out_{k}"])) for k in ("o1", "o2", "h1", "h2")}
    v["dE_o1/dnet_o1"] = r5(dout["o1"] * slope["o1"])
    v["dE_o2/dnet_o2"] = r5(dout["o2"] * slope["o2"])
    # a weight's gradient is the chain's product (its factors as written), rounded as a gradient
    v["dE_total/dw5"] = r6(dout["o1"] * slope["o1"] * v["out_h1"])
    v["dE_total/dw6"] = r6(dout["o1"] * slope["o1"] * v["out_h2"])
    v["w5+"] = r6(0.40 - eta * v["dE_total/dw5"])
    v["w6+"] = r6(0.45 - eta * v["dE_total/dw6"])
    # h1 reads both outputs' deltas through the old weights w5 and w7
    c1, c2 = r6(v["dE_o1/dnet_o1"] * 0.40), r6(v["dE_o2/dnet_o2"] * 0.50)
    v["dE_total/dout_h1"] = r6(c1 + c2)
    v["dE_total/dnet_h1"] = r5(v["dE_total/dout_h1"] * slope["h1"])
    v["dE_total/dw1"] = r6(v["dE_total/dout_h1"] * slope["h1"] * i1)
    v["w1+"] = r6(0.15 - eta * v["dE_total/dw1"])
    return v


def _net():
    return load("mazur").with_conventions(rounding="as-printed", digits=6, digits_of=OWN)


def test_the_walk_is_the_hand_calculation_value_for_value():
    walk = explain_step(_net())
    hand = hand_mazur()
    assert {k: walk.value(k) for k in hand} == hand
    assert engines_agree(walk) == []


def test_each_kind_is_shown_at_its_own_decimals(capsys):
    assert main(["explain", "mazur", "--rounding", "as-printed", "--digits", "6", "--digits-of", "out=4,delta=5"]) == 0
    out = capsys.readouterr().out
    assert "out at 4, delta at 5, the rest at 6 decimals" in out
    assert "= 0.5933\n" in out and "= 1.105925\n" in out  # out_h1 at 4, net_o1 at 6 from the rounded outputs
    assert "0.741400·0.186798 = 0.13849\n" in out  # the delta at 5 from its factors at 6
    assert main(["explain", "mazur", "-f", "json", "--rounding", "as-printed", "--digits-of", "out=4"]) == 0
    assert json.loads(capsys.readouterr().out)["conventions"]["digits_of"] == {"out": 4}


def test_the_spec_key_reads_as_the_option(tmp_path, capsys):
    from tutor.spec.resources import example_path

    text = example_path("mazur").read_text(encoding="utf-8").replace('rounding = "exact"', 'rounding = "as-printed"')
    text = text.replace("digits = 9", "digits = 6") + "\n[conventions.digits_of]\nout = 4\ndelta = 5\n"
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    assert load(str(spec)).conventions == _net().conventions
    assert main(["explain", str(spec), "-f", "json"]) == 0
    values = json.loads(capsys.readouterr().out)["values"]
    assert values["out_o1"] == hand_mazur()["out_o1"] and values["w1+"] == hand_mazur()["w1+"]


def test_a_solution_carried_at_its_own_decimals_by_kind_is_named():
    hand = hand_mazur()
    decimals = {"out_": 4, "dE_o": 5, "dE_total/dnet": 5}
    claims = []
    for k, v in hand.items():
        d = next((d for p, d in decimals.items() if k.startswith(p)), 6)
        claims.append({"quantity": k, "value": f"{v:.{d}f}"})
    net = load("mazur")
    parsed = checker.parse_claims({"claim": claims}, "claims", checker.quantity_names(net))
    report = checker.check(net, parsed)
    verdicts = {v.claim.quantity: v for v in report.verdicts}
    assert not [k for k, v in verdicts.items() if v.status == WRONG]
    # exact arithmetic reads net_o1 = 1.105906 and E_o1 = 0.274811: the outputs carried at 4 decimals move them
    for key in ("net_o1", "E_o1", "dE_total/dw6"):
        assert verdicts[key].status == CONVENTION and "by kind of quantity" in verdicts[key].convention
        assert "out at 4" in verdicts[key].convention and "delta at 5" in verdicts[key].convention
    assert verdicts["out_h1"].status == AGREES


def test_a_solution_at_one_precision_is_not_read_by_kind():
    walk = explain_step(load("mazur"))
    claims = [{"quantity": k, "value": f"{walk.value(k):.4f}"} for k in ("out_o1", "dE_o1/dnet_o1", "w5+")]
    net = load("mazur")
    report = checker.check(net, checker.parse_claims({"claim": claims}, "c", checker.quantity_names(net)))
    assert all(v.status == AGREES for v in report.verdicts)
    assert not any("by kind" in t for t in report.tried)


@pytest.mark.parametrize(
    "table,place,what",
    [
        ({"rounding": "exact", "digits_of": {"out": 4}}, "digits_of", "as-printed"),
        ({"rounding": "as-printed", "digits_of": {"outs": 4}}, "digits_of.outs", "allowed: net, out"),
        ({"rounding": "as-printed", "digits_of": {"out": 0}}, "digits_of.out", "from 1 to"),
        ({"rounding": "as-printed", "digits_of": 4}, "digits_of", "a table of decimals by kind"),
    ],
)
def test_bad_decimals_by_kind_are_refused(table, place, what):
    from tutor.spec.network import _conventions

    with pytest.raises(SpecError) as info:
        _conventions(table, "conventions")
    assert info.value.where.endswith(place) and what in info.value.message


@pytest.mark.parametrize(
    "argv,what",
    [
        (["--digits-of", "out=4"], "add --rounding as-printed"),
        (["--rounding", "as-printed", "--digits-of", "out:4"], "KIND=D pairs"),
        (["--rounding", "as-printed", "--digits-of", "weights=4"], "KIND=D pairs"),
    ],
)
def test_bad_digits_of_options_are_one_line_errors(argv, what):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["explain", "mazur", *argv]) == 2
    line = err.getvalue().strip()
    assert "\n" not in line and line.startswith("backprop-tutor: error: --digits-of") and what in line
