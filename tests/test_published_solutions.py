"""Every published worked solution the repository holds (tests/data/published/ and worked_examples/*/claims.toml),
checked as a whole (issue 28, acceptance): no claim a source printed correctly is called wrong (0 false alarms),
the claims found wrong are exactly the source's known errata (listed below, by data set) and the report names a
mechanism for each (carried forward, a rounding artefact, a slip, a different quantity, a known mistake), never
"wrong on its own" but for the one erratum listed below. The NNFS full-layer example is item 3's published test:
every sample's input gradients (dinputs), the summed weight and bias gradients and the updated parameters, 52
numbers; its single ReLU neuron is item 4's: the output after a step that moves the weights and the bias only."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.teach.checker import AGREES, WRONG

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "tests" / "data" / "published"
# options a data set is checked with (the loss-free mode's, as the source computed it)
EXTRA = {
    "hackers-guide-neuron": ["--of", "out_f", "--step", "0.01", "--ascent-on-inputs"],
    "nnfs-relu-neuron": ["--of", "out_y", "--step", "0.001"],
}
# the numbers each source prints wrong (the rest of every data set is right at its printed precision)
ERRATA = {
    "aiml-relu-sigmoid": {"out_o", "E_total"},  # the output cut after four decimals, and the loss from it
    "hackers-guide-neuron": {"out_f+"},  # 0.882550 cut after four decimals
    "appendix-b": {
        "dout_out/dout_in",
        "dout_in/dW6",
        "dE/dW6",
        "dE/dW1",
        "dE/dW2",
        "dh2_in/dW3",
        "dE/dW3",
        "dh2_in/dW4",
        "dE/dW4",
        "W1new",
        "W2new",
        "W3new",
        "W4new",
        "dE/dW5",
        "W5new",
        "W6new",
    },
}
# the errata no mechanism of the checker reproduces yet (quantity by data set), each with the reason
UNEXPLAINED = {
    # 0.23 is neither the output's sigma' (0.117) nor a rounding of a neighbour: the hidden neuron's own
    # sigma' 0.236 cut to two decimals is the likeliest reading, a combination the checker does not try
    "appendix-b": {"dout_out/dout_in"},
}


def _sets() -> list[tuple[str, Path, Path]]:
    out = [(d.name, d / "spec.toml", d / "claims.toml") for d in sorted(PUBLISHED.iterdir()) if d.is_dir()]
    out += [
        (f.name[: -len(".claims.toml")], f.with_name(f.name.replace(".claims", "")), f)
        for f in sorted(PUBLISHED.glob("*.claims.toml"))
    ]
    out += [
        (f.parent.name, f.parent / "spec.toml", f) for f in sorted((ROOT / "worked_examples").glob("*/claims.toml"))
    ]
    return out


SETS = _sets()


def _check(spec: Path, claims: Path, extra: list[str]) -> tuple[int, dict]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["check", str(spec), str(claims), *extra, "--format", "json"])
    return status, json.loads(buf.getvalue())


@pytest.mark.parametrize("name,spec,claims", SETS, ids=[s[0] for s in SETS])
def test_a_published_solution_is_read_as_its_author_computed_it(name, spec, claims):
    status, data = _check(spec, claims, EXTRA.get(name, []))
    rows = data["claims"]
    assert rows and status in (0, 1)
    assert len(rows) == len(tomllib.loads(claims.read_text(encoding="utf-8"))["claim"])
    wrong = [r for r in rows if r["verdict"] == WRONG]
    # the wrong claims are the source's errata, no more (no false alarm on a correct number) and no fewer
    assert {r["quantity"] for r in wrong} == ERRATA.get(name, set()), [
        (r["quantity"], r["printed"], r["explanation"]) for r in wrong
    ]
    for r in wrong:
        if r["quantity"] not in UNEXPLAINED.get(name, set()):
            assert r["diagnosis"] and "on its own" not in r["diagnosis"], (name, r["quantity"], r["explanation"])
    assert (status == 0) == (not wrong)


def test_the_published_counts():
    """The figures the issue reports: how many published numbers are reproduced, how many errata are named."""
    total = agree = errata = named = 0
    for name, spec, claims in SETS:
        _, data = _check(spec, claims, EXTRA.get(name, []))
        for r in data["claims"]:
            total += 1
            if r["verdict"] == WRONG:
                errata += 1
                named += "on its own" not in r["diagnosis"]
            else:
                agree += 1
    # measured: 267 published numbers, 248 reproduced (some under a named convention), 19 errata, 18 named
    assert total >= 267 and agree >= 248 and errata == sum(len(v) for v in ERRATA.values())
    assert named == errata - sum(len(v) for v in UNEXPLAINED.values())


def test_the_books_layer_example_dinputs_dweights_and_the_update(tmp_path):
    folder = PUBLISHED / "nnfs-layer-backward"
    status, data = _check(folder / "spec.toml", folder / "claims.toml", [])
    assert status == 0 and len(data["claims"]) == 52 and {r["verdict"] for r in data["claims"]} == {AGREES}
    # a sample's input gradient claimed as the batch's sum, and the batch gradient averaged instead of summed
    wrong = tmp_path / "claims.toml"
    wrong.write_text(
        '[[claim]]\nquantity = "dE_total/dx1[e1]"\nvalue = "3.47364"\n\n'
        '[[claim]]\nquantity = "dE_total/dw11"\nvalue = "6.8283"\n',
        encoding="utf-8",
    )
    status, data = _check(folder / "spec.toml", wrong, [])
    first, second = data["claims"]
    assert status == 1 and first["verdict"] == WRONG and "dE_total/dx1[sum]" in first["explanation"]
    assert second["verdict"] != WRONG and "averaged instead of summed" in second["convention"]


def test_the_books_single_neuron_steps_its_weights_and_bias_only(capsys):
    # issue 28, item 4: the book's output after the step, 5.985, needs the inputs left where they are (moving
    # them too, as an earlier loss-free mode did, gives 5.971)
    folder = PUBLISHED / "nnfs-relu-neuron"
    args = ["explain", str(folder / "spec.toml"), "--of", "out_y", "--step", "0.001", "--format", "json"]
    assert main(args) == 0
    values = json.loads(capsys.readouterr().out)["values"]
    assert not any(k.startswith("x") and k.endswith("+") for k in values)
    assert [f"{values[k]:.3f}" for k in ("w0+", "w1+", "w2+", "b+", "out_y+")] == [
        "-3.001",
        "-0.998",
        "1.997",
        "0.999",
        "5.985",
    ]
    status, data = _check(folder / "spec.toml", folder / "claims.toml", EXTRA["nnfs-relu-neuron"])
    assert status == 0 and len(data["claims"]) == 21 and {r["verdict"] for r in data["claims"]} == {AGREES}
