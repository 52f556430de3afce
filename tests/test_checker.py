"""The worked-solution checker: verdicts on the transcribed examples and on constructed claims."""

from __future__ import annotations

import json

import pytest

from tutor.cli import main
from tutor.engine.symbolic import explain_step
from tutor.spec import load
from tutor.spec.resources import data_dir
from tutor.teach import checker
from tutor.teach.checker import AGREES, ALONE, CARRIED, CONVENTION, DIFFERENT, ROUNDING, SLIP, WRONG, Claim

ok = (AGREES, "")
conv = (CONVENTION, "")

# Appendix B: the expected verdict of every transcribed claim, in file order, with what the diagnosis names.
APPENDIX_B = [
    ("out_out", "0.865", ok, []),
    ("E", "0.349", ok, []),
    ("dout_in/dW5", "0.618", ok, []),
    ("dE/dout_out", "0.835", ok, []),
    ("dout_out/dout_in", "0.23", (WRONG, ALONE), []),
    ("dout_in/dW6", "0.506", (WRONG, ROUNDING), []),
    ("dE/dW6", "0.097", (WRONG, CARRIED), ["dout_out/dout_in", "dout_in/dW6"]),
    ("h1_in", "0.48", ok, []),
    ("dh1_in/dW1", "0.1", ok, []),
    ("dout_in/dh1_out", "-0.2", ok, []),
    ("dh1_out/dh1_in", "0.236", ok, []),
    ("dE/dW1", "-0.001", (WRONG, CARRIED), ["dout_out/dout_in"]),
    ("dh1_in/dW2", "0.3", ok, []),
    ("dE/dW2", "-0.003", (WRONG, CARRIED), ["dout_out/dout_in"]),
    ("dout_in/dh2_out", "0.3", ok, []),
    ("h2_in", "0.022", ok, []),
    ("dh2_out/dh2_in", "0.25", ok, []),
    ("dh2_in/dW3", "0.62", (WRONG, DIFFERENT), ["W3"]),
    ("dE/dW3", "0.009", (WRONG, CARRIED), ["dout_out/dout_in", "dh2_in/dW3"]),
    ("dh2_in/dW4", "0.2", (WRONG, DIFFERENT), ["W4"]),
    ("dE/dW4", "0.003", (WRONG, CARRIED), ["dout_out/dout_in", "dh2_in/dW4"]),
    ("W1new", "0.50001", (WRONG, CARRIED), ["dE/dW1"]),
    ("W2new", "0.10003", (WRONG, CARRIED), ["dE/dW2"]),
    ("W3new", "0.61991", (WRONG, CARRIED), ["dE/dW3"]),
    ("W4new", "0.1997", (WRONG, SLIP), ["W4", "eta", "dE/dW4"]),
    ("dE/dW5", "0.618", (WRONG, DIFFERENT), ["dout_in/dW5"]),
    ("W5new", "-0.20618", (WRONG, CARRIED), ["dE/dW5"]),
    ("W6new", "0.29903", (WRONG, CARRIED), ["dE/dW6"]),
]


def builtin_report(name: str) -> checker.Report:
    net = load(name)
    claims = checker.load_claims(data_dir("worked_examples") / name / "claims.toml", explain_step(net).quantities)
    return checker.check(net, claims)


def test_appendix_b_flags_exactly_the_wrong_values_with_their_diagnosis():
    report = builtin_report("appendix-b")
    got = [(v.claim.quantity, v.claim.printed, (v.status, v.diagnosis), v.related) for v in report.verdicts]
    assert got == APPENDIX_B
    assert not report.ok


def test_appendix_b_explanations_name_the_reproduction():
    by = {v.claim.quantity: v for v in builtin_report("appendix-b").verdicts}
    assert "0.0971773" in by["dE/dW6"].explanation
    assert "0.19997" in by["W4new"].explanation and "factor of 10" in by["W4new"].explanation
    assert "in place of X1" in by["dh2_in/dW3"].explanation
    assert "single factor in place of the whole gradient" in by["dE/dW5"].explanation
    assert "rounded twice" in by["dout_in/dW6"].explanation and "0.5055" in by["dout_in/dW6"].explanation
    assert by["dout_out/dout_in"].correct_printed == "0.12"


def test_mazur_every_claim_holds_and_conventions_are_named():
    report = builtin_report("mazur")
    assert report.ok
    named = {(v.claim.quantity, v.claim.after_steps): v.convention for v in report.verdicts if v.status == CONVENTION}
    assert named.keys() == {
        ("dE_o2/dout_h1", None),
        ("E_total+", None),
        ("E_total", 10000),
        ("out_o1", 10000),
        ("out_o2", 10000),
    }
    assert named[("dE_o2/dout_h1", None)].startswith("as-printed rounding at 9 decimals")
    assert named[("E_total+", None)].startswith("update order updated-first")
    assert named[("out_o1", 10000)].startswith("update order updated-first")
    assert named[("E_total", 10000)].startswith("steps counted differently")
    assert all(v.status == AGREES for v in report.verdicts if (v.claim.quantity, v.claim.after_steps) not in named)


def test_appendix_a_every_claim_agrees():
    report = builtin_report("appendix-a")
    assert [v.status for v in report.verdicts] == [AGREES] * 10


# -- constructed claims: each diagnosis kind, and values that must not be diagnosed ---------------------


@pytest.fixture(scope="module")
def mazur():
    net = load("mazur")
    return net, explain_step(net)


def verdicts(mazur, *pairs):
    net, walk = mazur
    claims = [Claim(q, v, index=i) for i, (q, v) in enumerate(pairs)]
    return checker.check(net, claims).verdicts


def test_carried_forward(mazur):
    net, walk = mazur
    g = 0.75 * walk.value("dout_o1/dnet_o1") * walk.value("dnet_o1/dw5")  # from a wrong dE/dout_o1 = 0.75
    v = verdicts(mazur, ("dE_total/dout_o1", "0.75"), ("dE_total/dw5", f"{g:.6f}"))[1]
    assert (v.status, v.diagnosis, v.related) == (WRONG, CARRIED, ["dE_total/dout_o1"])


def test_carried_forward_through_an_unclaimed_step(mazur):
    # a wrong out_o1 carried through dE/dout_o1 and dout_o1/dnet_o1 (neither claimed) into dE/dw5
    o = 0.76
    g = (o - 0.01) * o * (1 - o) * 0.5932699921071872
    v = verdicts(mazur, ("out_o1", "0.76"), ("dE_total/dw5", f"{g:.6f}"))[1]
    assert (v.status, v.diagnosis, v.related) == (WRONG, CARRIED, ["out_o1"])


def test_different_quantity(mazur):
    v = verdicts(mazur, ("dE_total/dw5", "0.593269992"))[0]
    assert (v.status, v.diagnosis) == (WRONG, DIFFERENT)
    assert v.related == ["dnet_o1/dw5"]  # the factor of this gradient, preferred over out_h1 with the same value
    v = verdicts(mazur, ("dnet_h1/dw1", "0.15"))[0]  # the weight in place of the input
    assert (v.diagnosis, v.related) == (DIFFERENT, ["w1"])


def test_arithmetic_slip(mazur):
    v = verdicts(mazur, ("dE_total/dw5", "0.082167041"), ("w5+", "0.358916480"))  # right: not a slip
    assert [x.status for x in v] == [AGREES, AGREES]
    v = verdicts(mazur, ("dE_total/dw5", "0.082167041"), ("w5+", "0.44108352"))[1]  # w + eta g
    assert (v.status, v.diagnosis) == (WRONG, SLIP) and "sign" in v.explanation
    v = verdicts(mazur, ("dE_total/dw5", "0.082167041"), ("w5+", "0.395891648"))[1]  # eta g ten times too small
    assert (v.diagnosis, "factor of 0.1" in v.explanation) == (SLIP, True)


def test_rounding_artefact(mazur):
    v = verdicts(mazur, ("out_h1", "0.5932"))[0]  # 0.59326999... truncated
    assert (v.status, v.diagnosis) == (WRONG, ROUNDING) and "truncated" in v.explanation


def test_wrong_on_its_own(mazur):
    v = verdicts(mazur, ("out_h1", "0.1234"))[0]
    assert (v.status, v.diagnosis) == (WRONG, ALONE)


def test_a_right_value_is_never_flagged(mazur):
    net, walk = mazur
    from tutor.spec.rounding import format_fixed

    for digits in (2, 4, 9):
        pairs = [(k, format_fixed(v, digits)) for k, v in walk.values().items()]
        assert all(x.status == AGREES for x in verdicts(mazur, *pairs)), digits


def test_agrees_at_printed_precision_only(mazur):
    v = verdicts(mazur, ("out_h1", "0.59"), ("out_h1", "0.5933"), ("out_h1", "0.59327"), ("out_h1", "0.593270"))
    assert [x.status for x in v] == [AGREES] * 4
    assert verdicts(mazur, ("out_h1", "0.59328"))[0].status == WRONG


# -- files and the command line -------------------------------------------------------------------------


def claims_file(tmp_path, text: str):
    p = tmp_path / "claims.toml"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_cli_exit_status_and_formats(tmp_path, capsys):
    assert main(["check", "mazur"]) == 0
    assert main(["check", "appendix-b"]) == 1
    capsys.readouterr()
    assert main(["check", "appendix-b", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {AGREES: 12, CONVENTION: 0, WRONG: 16}
    assert main(["check", "appendix-b", "--format", "md"]) == 1
    md = capsys.readouterr().out
    assert "| 25 | `W4new` | 0.1997 | **wrong** | 0.2000 | *arithmetic slip*" in md
    path = claims_file(tmp_path, '[[claim]]\nquantity = "w5+"\nvalue = "0.35891648"\nnote = "slide 12 <script>|"\n')
    assert main(["check", "mazur", path, "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "<script>" not in md and "&lt;script&gt;" in md


@pytest.mark.parametrize(
    "text,fragments",
    [
        (
            '[[claim]]\nquantity = "dE/dw5"\nvalue = "0.08"\n',
            ["claim[0].quantity", "unknown quantity 'dE/dw5'", "dE_total/dw5"],
        ),
        ('[[claim]]\nquantity = "w5+"\nvalue = 0.35891648\n', ["claim[0].value", "as a string"]),
        ('[[claim]]\nquantity = "w5+"\nvalue = "1e-3"\n', ["claim[0].value", "not a decimal number"]),
        ('[[claim]]\nquantity = "w5+"\nvalue = "0.3"\npage = 3\n', ["claim[0].page", "unknown key"]),
        ("[[claim]\n", ["malformed TOML"]),
        ('title = "x"\n', ["title", "[[claim]]"]),
        ('[[claim]]\nquantity = "dE_total/dw5"\nvalue = "0.1"\nafter_steps = 0\n', ["after_steps"]),
    ],
)
def test_bad_claims_files(tmp_path, capsys, text, fragments):
    rc = main(["check", "mazur", claims_file(tmp_path, text)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for f in fragments:
        assert f in err, (f, err)


def test_a_spec_without_claims_needs_a_claims_file(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text((data_dir("worked_examples") / "mazur" / "spec.toml").read_text())
    assert main(["check", str(spec)]) == 2
    assert "give a claims file" in capsys.readouterr().err
