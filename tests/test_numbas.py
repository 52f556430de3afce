"""The Numbas export (``worksheet --numbas``): the exam's structure, its keys and tolerances against the sheet's
stated rule, carried-forward marking as the core decides it, escaping of hostile names, the CLI's refusals, and
the compiled SCORM package driven in headless Chromium.

Numbas is on no package index (PyPI, npm, Debian), so CI cannot install it: the tests that need its compiler or
its schema read a Numbas checkout from ``NUMBAS_HOME`` (``git clone https://github.com/numbas/Numbas``) and skip,
saying so, when it is unset, in every run, CI's included. This is the one documented exception to "a missing
tool fails under CI=true" (tests/conftest.py); .ci/run sets NUMBAS_HOME where a checkout exists. Every other
test reads the exam's JSON alone and runs always: the JME the exam holds is evaluated by ``_evaluate`` below, a
reader of exactly the expressions the export prints (numbers, its variables, + - * / ^, comparisons, the
functions JMEPrinter writes and the exam's own functions, read from their definitions), walking Python's AST,
and ``_numbas_credit`` marks a part as Numbas's adaptive marking does (the Chromium tests check it against the
compiled exam).
"""

from __future__ import annotations

import ast
import io
import itertools
import json
import math
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.spec import loads
from tutor.spec.errors import TutorError
from tutor.spec.rounding import Rounder, format_fixed, round_half_away
from tutor.teach import lms, numbas, randomnet
from tutor.teach.diagnose import Tolerance
from tutor.teach.grading import MISCONCEPTIONS, Grader, World
from tutor.teach.randomnet import HIDDEN_ACTIVATIONS, LOSSES, OUTPUT_ACTIVATIONS
from tutor.teach.worksheet import Variants, spec_variant

from .support import require_module
from .test_browser import browser  # noqa: F401, F811  (the offline headless Chromium of the browser tests)
from .test_escaping import SPEC, evil_names

NUMBAS_HOME = os.environ.get("NUMBAS_HOME")
# skipped under CI=true too (the documented exception, see above): no package index has Numbas
NEEDS_NUMBAS = (
    "NUMBAS_HOME is unset: Numbas's compiler and schema are on no package index (PyPI, npm, Debian), so CI cannot "
    "install them; set NUMBAS_HOME to a Numbas checkout to run this test"
)


@pytest.fixture(scope="module")
def variant():
    return Variants(1, 7).make(1)


@pytest.fixture(scope="module")
def made(variant):
    text = numbas.source([variant])
    return text, json.loads(text.split("\n", 1)[1])


# -- a reader of the JME the export prints -----------------------------------------------------------------------

_FUNCTIONS = {
    "precround": lambda x, d: round_half_away(x, int(d)),
    "siground": lambda x, f: float(f"{x:.{int(f)}g}"),  # Numbas: parseFloat(x.toPrecision(f))
    "sign": lambda x: float((x > 0) - (x < 0)),
    "floor": lambda x: float(math.floor(x)),
    "log": math.log10,  # JME's log is the decimal one
    "exp": math.exp,
    "ln": math.log,
    "tanh": math.tanh,
    "sqrt": math.sqrt,
    "abs": abs,
    "max": max,
    "min": min,
}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE = {
    ast.Gt: float.__gt__,
    ast.GtE: float.__ge__,
    ast.Lt: float.__lt__,
    ast.LtE: float.__le__,
    ast.Eq: float.__eq__,
}
# the export's variables (v<i>, raw<i>, key<i>, tol<i>, dp<i>), its own functions' parameters, the functions
JME_TOKEN = re.compile(
    r"\s*(?:(?:v|raw|key|tol|dp)\d+|[xds]\b|studentNumber|true|[0-9]+(?:\.[0-9]+)?|[-+*/^(),]|<=|>=|<>|[<>=]|"
    + "|".join([*_FUNCTIONS, *numbas.FUNCTIONS, "if"])
    + r"|and|or)"
)


def _evaluate(text: str, scope: dict[str, float], functions: dict | None = None) -> float:
    """The value of a JME expression as printed by the export (anything else fails the test); ``functions``: the
    question's own JME functions, evaluated from their definitions in the exam."""
    at = 0
    while at < len(text):  # only the tokens the export writes: no name from the spec
        m = JME_TOKEN.match(text, at)
        assert m, f"not a token of the export's JME at {text[at:]!r}"
        at = m.end()
    tree = ast.parse(text.replace("^", "**").replace("if(", "if_(").replace(" = ", " == "), mode="eval")

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant):
            return float(n.value)
        if isinstance(n, ast.Name):
            return True if n.id == "true" else scope[n.id]
        if isinstance(n, ast.BoolOp):
            values = [ev(v) for v in n.values]
            return all(values) if isinstance(n.op, ast.And) else any(values)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.BinOp):
            return _BINARY[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.Compare) and len(n.ops) == 1:
            return _COMPARE[type(n.ops[0])](float(ev(n.left)), float(ev(n.comparators[0])))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            name = n.func.id
            if name == "if_":  # lazy, as in JME: log(abs(0)) is not evaluated
                return ev(n.args[1]) if ev(n.args[0]) else ev(n.args[2])
            args = [ev(a) for a in n.args]
            if functions and name in functions:
                f = functions[name]
                return _evaluate(f["definition"], dict(zip((p for p, _ in f["parameters"]), args)), functions)
            return _FUNCTIONS[name](*args)
        raise AssertionError(f"unexpected JME: {ast.dump(n)}")

    return ev(tree)


def _values(q: dict, replaced: dict[str, float] | None = None) -> dict[str, float]:
    """Every variable of a question, in order, with some replaced by a student's answers (adaptive marking)."""
    scope: dict[str, float] = {}
    replaced = replaced or {}
    for name in q["ungrouped_variables"]:
        definition = q["variables"][name]["definition"]
        scope[name] = replaced[name] if name in replaced else _evaluate(definition, scope, q["functions"])
    return scope


def _range(part: dict, scope: dict[str, float], q: dict) -> tuple[float, float]:
    return _evaluate(part["minValue"], scope, q["functions"]), _evaluate(part["maxValue"], scope, q["functions"])


# -- always run: the exam's JSON -----------------------------------------------------------------------------


def test_the_exam_has_the_structure_numbas_reads(variant, made):
    text, exam = made
    assert text.startswith(numbas.VERSION_LINE + "\n")
    assert "<" not in text and ">" not in text.split("\n", 1)[1]  # no tag can close the compiler's script element
    assert numbas.source([variant]) == text  # deterministic
    (group,) = exam["question_groups"]
    (q,) = group["questions"]
    boxes = lms.boxes(variant)
    assert q["name"] == lms.variant_name(variant) and len(q["parts"]) == len(boxes) == 34
    assert set(q["variables"]) == set(q["ungrouped_variables"])
    for i, (part, box) in enumerate(zip(q["parts"], boxes)):
        assert part["type"] == "numberentry" and part["marks"] == 1
        assert part["variableReplacementStrategy"] == "originalfirst" and part["adaptiveMarkingPenalty"] == 0
        for r in part["variableReplacements"]:
            # only earlier boxes are carried into a box, each as its own part's answer
            j = int(r["part"][1:])
            assert j < i and r["variable"] == "v" + re.match(r"key(\d+) -", q["parts"][j]["minValue"]).group(1)
        assert [a["alternativeFeedbackMessage"] for a in part["alternatives"]] == [
            f"<p>{numbas.text(w.feedback)}</p>" for w in box.wrong
        ]
        assert all(a["marks"] == 0 for a in part["alternatives"])
    # the hidden layer's boxes are computed from the student's output-layer answers: replacements exist
    assert sum(bool(p["variableReplacements"]) for p in q["parts"]) >= 30
    assert exam["feedback"]["allowrevealanswer"] is False and exam["feedback"]["showadvicewhen"] == "inreview"


def _sheet_rule(raw: float, tolerance: Tolerance) -> tuple[float, float, int]:
    """The sheet's stated rule, written here from its statement: (key, unit, decimals): ``raw`` rounded half away
    from zero to the tolerance's decimals, or to its significant figures (counted on the rounded value: 0.0009996
    is 0.00100), right within one unit of that last place."""
    places = tolerance.places
    if tolerance.mode == "sf" and raw != 0:
        places = tolerance.places - 1 - math.floor(math.log10(abs(raw)))
        places = tolerance.places - 1 - math.floor(math.log10(abs(round_half_away(raw, places))))
    assert places >= 0
    return round_half_away(raw, places), 10.0**-places, places


# two seeds a rule in the default run; the slow set takes 30 random variants a rule
RULES = [(t, seed, ()) for t in ("4dp", "3sf", "3dp") for seed in (7, 11)] + [("4dp", 7, ("backward", "gradients"))]
RULES += [pytest.param(t, seed, (), marks=pytest.mark.slow) for t in ("4dp", "3sf") for seed in range(100, 130)]


@pytest.mark.parametrize("tolerance, seed, blanks", RULES)
def test_keys_and_tolerances_follow_the_sheets_rule(tolerance, seed, blanks):
    """Each part's range, evaluated as Numbas would from the exam's own variables and functions, is the key a
    student gets by following the sheet's stated rule from the rounded values shown before the box, give or take
    one unit of its last place: the key as typed and an exact tie's other neighbour are right, two units off
    is not (with --blanks, the values before the boxes are given numbers). At 4 dp the key is the one every LMS
    export gives (``lms.boxes``)."""
    rule = Tolerance.parse(tolerance)
    variant = Variants(1, seed, tolerance=rule, blanks=blanks).make(1)
    q = numbas.question(variant)
    walk = variant.walk
    scope = _values(q)
    for part, box in zip(q["parts"], lms.boxes(variant)):
        quantity = walk.quantities[box.key]
        raw = quantity.form.fn(*[walk.value(a) for a in quantity.args])  # the rounded values shown before
        key, unit, places = _sheet_rule(raw, rule)
        lo, hi = _range(part, scope, q)
        assert (lo + hi) / 2 == pytest.approx(key, abs=unit * 1e-6), (box.key, raw)
        assert (hi - lo) / 2 == pytest.approx(unit * numbas.SLACK, rel=1e-6)
        typed = format_fixed(key, places)
        assert all(lo <= x <= hi for x in (float(typed), key - unit, key + unit)), (box.key, typed, lo, hi)
        assert not any(lo <= x <= hi for x in (key - 2 * unit, key + 2 * unit))
        if tolerance == "4dp":
            assert typed == box.shown and key == pytest.approx(box.value, abs=1e-12)
        for alt, w in zip(part["alternatives"], box.wrong):
            assert (_evaluate(alt["minValue"], {}) + _evaluate(alt["maxValue"], {})) / 2 == pytest.approx(w.value)
            assert MISCONCEPTIONS[w.misconception] in alt["alternativeFeedbackMessage"]


def _combinations() -> list:
    """Every hidden activation, output activation and loss a random variant can have: a sample that names each
    once in the default run, every valid combination in the slow set."""
    out = []
    for h, o, loss in itertools.product(HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, LOSSES):
        try:
            randomnet.options("2-2-2", h, o, loss, 4)
        except TutorError:
            continue
        if (o, loss) == ("sigmoid", "categorical_cross_entropy"):  # randomnet draws no such network in 5000 tries
            continue
        out.append((h, o, loss))
    named: list[tuple[str, str, str]] = []
    for c in sorted(out, key=lambda c: (c[1], c[2]) == ("sigmoid", "half_sse")):  # the default pair last
        if any(x not in {n[i] for n in named} for i, x in enumerate(c)):  # names one not named yet
            named.append(c)
    assert all({n[i] for n in named} == {c[i] for c in out} for i in range(3))
    return [c if c in named else pytest.param(*c, marks=pytest.mark.slow) for c in out]


@pytest.mark.parametrize("hidden, output, loss", _combinations())
def test_every_activation_and_loss_is_exported(hidden, output, loss):
    """Every form a random variant's walk holds prints in JME, the guard's infinite bounds (a relu output's) are
    left out, and every key the exam computes is the sheet's rule of the values before it."""
    options = randomnet.options("2-2-2", hidden, output, loss, 4)
    variant = Variants(1, 5, options=options).make(1)
    q = numbas.question(variant)
    scope = _values(q)
    walk = variant.walk
    for part, box in zip(q["parts"], lms.boxes(variant)):
        quantity = walk.quantities[box.key]
        key, unit, places = _sheet_rule(quantity.form.fn(*[walk.value(a) for a in quantity.args]), variant.tolerance)
        lo, hi = _range(part, scope, q)
        assert (lo + hi) / 2 == pytest.approx(key, abs=unit * 1e-6) and box.shown == format_fixed(key, places)
        assert "inf" not in part["adaptiveMarkingUseCondition"]


def _carried_answers(variant, slip_box: int, slip: float) -> list[tuple[float, str, str]]:
    """A student who slips in one box and then computes every later box right from their own answers: (answer,
    typed, the core's verdict) per box, graded as the quiz grades them (an implausible answer, or one refused
    for being built on one, earns no follow-on credit)."""
    boxes = lms.boxes(variant)
    walk = variant.walk
    grader = Grader(walk, variant.tolerance, asked=[b.key for b in boxes], digits=4)
    known: dict[str, float] = {}
    untrusted: dict[str, str] = {}
    out = []
    for b in boxes:
        if b.number == slip_box:
            value = slip
        else:
            value = round_half_away(World(walk, known, Rounder(4)).carried(b.key), 4)
        typed = format_fixed(value, 4)
        g = grader.grade(b.key, float(typed), typed, known=known, untrusted=untrusted)
        if g.verdict != "correct" or g.refused:  # as the quiz keeps it (quiz.Quiz._grade)
            own = grader.implausible(b.key, value, typed) if g.verdict == "wrong" else ""
            why = own or g.refused_why or grader.trivialises(b.key, value, typed, known)
            if why:
                untrusted[b.key] = why
        out.append((value, typed, g.verdict))
        known[b.key] = float(typed)
    return out


def _numbas_credit(q: dict, i: int, typed: list[float]) -> float:
    """Part ``i``'s credit as Numbas's adaptive marking gives it (strategy "originalfirst", no penalty): right
    within its range on the question's own variables, else on them with the earlier parts' variables replaced by
    the student's answers to those parts whose use condition holds."""
    part = q["parts"][i]
    lo, hi = _range(part, _values(q), q)
    if lo <= typed[i] <= hi:
        return 1.0
    replaced = {}
    for r in part["variableReplacements"]:
        j = int(r["part"][1:])
        if _evaluate(q["parts"][j]["adaptiveMarkingUseCondition"], {"studentNumber": typed[j]}):
            replaced[r["variable"]] = typed[j]
    if not replaced:
        return 0.0
    lo, hi = _range(part, _values(q, replaced), q)
    return float(lo <= typed[i] <= hi)


def test_carried_forward_marks_as_the_core_does(variant, made):
    """A slip in box 1 (net_h1), then every later box computed right from the student's own answers: each part
    marked as Numbas marks it (its variables replaced by the earlier answers) earns exactly what the core's verdict
    gives: box 1 nothing, every later box its mark, most of them as carried forward."""
    q = made[1]["question_groups"][0]["questions"][0]
    answers = _carried_answers(variant, 1, 0.1234)
    assert answers[0][2] == "wrong"
    assert sum(a[2] == "carried" for a in answers) >= 20, answers  # most of the step follows from net_h1
    typed = [float(t) for _, t, _ in answers]
    credits = [_numbas_credit(q, i, typed) for i in range(len(answers))]
    assert credits == [1.0 if verdict in ("correct", "carried") else 0.0 for _, _, verdict in answers]
    assert credits[0] == 0.0 and sum(credits) == len(answers) - 1
    # an implausible slip (a sigmoid output of 1.3, box 3) is not carried: the boxes computed from it directly
    # earn nothing, in the core and in Numbas (whose use condition is the core's guard)
    out_h1 = next(b for b in lms.boxes(variant) if b.key == "out_h1")
    answers = _carried_answers(variant, out_h1.number, 1.3)
    typed = [float(t) for _, t, _ in answers]
    j = out_h1.number - 1
    uses = {
        i: r["variable"] for i, p in enumerate(q["parts"]) for r in p["variableReplacements"] if r["part"] == f"p{j}"
    }
    assert uses and all(answers[i][2] == "wrong" and _numbas_credit(q, i, typed) == 0 for i in uses)
    # with 1.3 carried they would be right: the guard is what refuses them
    assert all(_in_range(q, i, {v: 1.3}, typed[i]) for i, v in uses.items())


def _in_range(q: dict, i: int, replaced: dict[str, float], answer: float) -> bool:
    lo, hi = _range(q["parts"][i], _values(q, replaced), q)
    return lo <= answer <= hi


def test_an_implausible_answer_is_not_carried(variant, made):
    """The core's plausibility guard as Numbas's use condition: a sigmoid output outside (0, 1) is not used."""
    parts = made[1]["question_groups"][0]["questions"][0]["parts"]
    out_h1 = next(p for p, b in zip(parts, lms.boxes(variant)) if b.key == "out_h1")
    assert out_h1["adaptiveMarkingUseCondition"] == (
        "studentNumber > 0 and studentNumber < 1 and abs(studentNumber) <= 36.7 and abs(studentNumber) >= 0.00367"
    )


def _html_fields(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("statement", "advice", "prompt", "alternativeFeedbackMessage", "intro") and isinstance(v, str):
                yield v
            else:
                yield from _html_fields(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _html_fields(v)


def test_hostile_names_reach_numbas_as_text():
    html5lib = require_module("html5lib")

    v = spec_variant(evil_names(loads(SPEC)), "evil")
    text = numbas.source([v])
    exam = json.loads(text.split("\n", 1)[1])
    assert "<" not in text.split("\n", 1)[1]
    fields = list(_html_fields(exam))
    assert len(fields) > 10
    seen_math = False
    for field in fields:
        root = html5lib.parseFragment(field, treebuilder="etree", namespaceHTMLElements=False)
        assert not any(e.tag in ("script", "style", "iframe") for e in root.iter())
        for e in root.iter():
            for t in (e.text, e.tail):
                if not t:
                    continue
                seen_math |= "\\(" in t
                outside = re.sub(r"\\\(.*?\\\)", "", t, flags=re.S)
                # Numbas substitutes {...} in text and MathJax starts formulas at $ and \(
                assert not set(outside) & set("{}$\\"), (field[:200], outside)
    assert seen_math
    q = exam["question_groups"][0]["questions"][0]
    for p in q["parts"]:
        for jme in (p["minValue"], p["maxValue"], p["displayAnswer"]):
            assert re.fullmatch(r"key\d+ [-+] tol\d+\*1\.000000001|dpformat\(key\d+, \d+\)", jme), jme
    for d in q["variables"].values():  # no name from the spec reaches JME: every one is parsed by _evaluate
        assert re.fullmatch(r"(v|raw|key|tol|dp)\d+", d["name"])
    _values(q)


def test_text_escaping_keeps_formulas():
    assert numbas.text("a{b}$c\\") == r"a\(\{\)b\(\}\)\(\$\)c\(\backslash\)"
    assert numbas.content(r"use \(w_{1}\) {x}") == r"use \(w_{1}\) \(\{\)x\(\}\)"


def test_jme_printer_refuses_what_jme_cannot_say():
    import sympy as sp

    from tutor.spec.errors import TutorError

    x = sp.Symbol("x")
    printed = numbas.jme(sp.Max(x, 0) + sp.log(x) ** 2, {x: "v1"})
    assert printed == "(ln(v1))^(2) + max(0, v1)"
    assert _evaluate(printed, {"v1": 2.0}) == pytest.approx(math.log(2) ** 2 + 2)
    assert numbas.jme(sp.Piecewise((x, x > 0), (0.01 * x, True)), {x: "v1"}) == "if((v1 > 0), v1, 0.01*v1)"
    assert _evaluate("if((v1 > 0), v1, 0.01*v1)", {"v1": -2.0}) == pytest.approx(-0.02)
    with pytest.raises(TutorError, match="erf"):
        numbas.jme(sp.erf(x), {x: "v1"})


# -- the command line --------------------------------------------------------------------------------------------


def test_the_cli_writes_the_exam_and_says_how_to_compile(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NUMBAS_HOME", raising=False)
    out = tmp_path / "exam.exam"
    args = ["worksheet", "--count", "2", "--seed", "3", "--format", "md", "-o", str(tmp_path / "ws")]
    assert main([*args, "--numbas", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"and {out} (to compile it into a SCORM zip with Numbas's compiler" in printed
    assert f"-o {out.with_suffix('.zip')} {out})" in printed
    exam = json.loads(out.read_text(encoding="utf-8").split("\n", 1)[1])
    (group,) = exam["question_groups"]
    assert len(group["questions"]) == 2 and group["pickingStrategy"] == "random-subset"
    # the variants by their opaque codes, never their seeds
    assert all(re.fullmatch(r"Variant [12] \(code [A-Z2-9]{4}-[A-Z2-9]{4}\)", q["name"]) for q in group["questions"])
    assert "seed" not in out.read_text(encoding="utf-8").lower()
    first = out.read_bytes()
    assert main([*args, "--numbas", str(out)]) == 0  # the same run again: the same bytes, its own file rewritten
    assert out.read_bytes() == first


def test_the_cli_compiles_the_scorm_zip_byte_identical(tmp_path, capsys, monkeypatch):
    """Needs NUMBAS_HOME. ``--numbas FILE.zip`` runs Numbas's compiler: a SCORM package, the same bytes each run
    (the compiler's own build time and file dates are replaced)."""
    monkeypatch.setenv("NUMBAS_HOME", str(_numbas_home()))
    out = tmp_path / "exam.zip"
    args = ["worksheet", "--count", "2", "--seed", "3", "--format", "md", "-o", str(tmp_path / "ws")]
    assert main([*args, "--numbas", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(f"and {out}")  # nothing to compile by hand
    first = out.read_bytes()
    with zipfile.ZipFile(out) as z:
        assert "imsmanifest.xml" in z.namelist() and "build_time=" in z.read("index.html").decode("utf-8")
    assert main([*args, "--numbas", str(out)]) == 0
    assert out.read_bytes() == first


def test_the_cli_keeps_a_users_file(tmp_path, capsys):
    """The exam goes through the worksheet's guarded writer: a file it did not write is refused and kept."""
    mine = tmp_path / "mine.exam"
    mine.write_text("precious\n", encoding="utf-8")
    assert main(["worksheet", "--count", "1", "-o", str(tmp_path / "ws"), "--numbas", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("backprop-tutor: error: --numbas") and "was not written by backprop-tutor" in err
    assert mine.read_text(encoding="utf-8") == "precious\n" and not (tmp_path / "ws").exists()


@pytest.mark.parametrize(
    "extra, place, what",
    [
        (["--numbas", "exam.zip"], "--numbas exam.zip", "needs Numbas's compiler"),
        (["--numbas", "exam.txt"], "--numbas exam.txt", "ends in .exam"),
        (["--numbas-compiler", "."], "--numbas-compiler", "give it with --numbas FILE.zip"),
        (["--numbas", "exam.exam", "--numbas-compiler", "."], "--numbas-compiler", "give it with --numbas FILE.zip"),
        (["--numbas", "exam.zip", "--numbas-compiler", "."], "--numbas-compiler", "holds no bin/numbas.py"),
    ],
)
def test_the_cli_refuses_what_it_cannot_write(tmp_path, capsys, monkeypatch, extra, place, what):
    monkeypatch.delenv("NUMBAS_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["worksheet", "-o", "ws", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"backprop-tutor: error: {place}: ") and what in err and "\n" not in err
    assert not (tmp_path / "ws").exists()


# -- with a Numbas checkout ----------------------------------------------------------------------------------


def _numbas_home() -> Path:
    if not NUMBAS_HOME:
        pytest.skip(NEEDS_NUMBAS)
    return Path(NUMBAS_HOME)


def test_the_exam_validates_against_numbas_schema(made):
    """Needs NUMBAS_HOME (a Numbas checkout): its exam schema, the newest of schema/exam_schema*.json."""
    jsonschema = require_module("jsonschema")
    schemas = sorted(
        (_numbas_home() / "schema").glob("exam_schema*.json"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)] or [0],
    )
    schema = json.loads(schemas[-1].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(made[1])
    # the schema's parts are an anyOf without a required type: check each part against its own kind too
    part_kinds = {k["properties"]["type"].get("const"): k for k in schema["$defs"]["part"]["anyOf"]}
    assert set(part_kinds["numberentry"]["properties"]) >= {"minValue", "maxValue", "displayAnswer", "notationStyles"}


# A stand-in for MathJax, written by this test: the compiled exam loads MathJax from a CDN, which the offline
# browser cannot reach; with it the formulas stay as typed and every request is a file of the exam's folder.
MATHJAX_STUB = """(function () {
  var c = window.MathJax || {};
  window.MathJax = c;
  c.config = c;
  c.typesetPromise = function () { return Promise.resolve(); };
  c.typesetClear = function () {};
  c.startup = c.startup || {};
  c.startup.promise = Promise.resolve();
})();
"""

SHOTS = Path("/work/shots")


@pytest.fixture(scope="module")
def numbas_home() -> Path:
    return _numbas_home()


def _compiled(variants, home: Path, tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    """The variants' exam compiled by Numbas's own compiler into the SCORM zip, unpacked: its page, and the
    folders the page may load files from (its own, and the stand-in for MathJax)."""
    mathjax = tmp_path / "mathjax"
    mathjax.mkdir()
    (mathjax / "tex-svg.js").write_text(MATHJAX_STUB, encoding="utf-8")
    data = numbas.compile_scorm(numbas.source(variants), home, ["--mathjax-4-url", mathjax.as_uri()])
    folder = tmp_path / "exam"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {"imsmanifest.xml", "index.html", "imscp_v1p1.xsd"} <= set(z.namelist())
        manifest = z.read("imsmanifest.xml").decode("utf-8")
        assert "<schema>ADL SCORM</schema>" in manifest and 'href="index.html"' in manifest  # a SCORM 2004 package
        z.extractall(folder)
    return folder / "index.html", (folder.as_uri() + "/", mathjax.as_uri() + "/")


@pytest.mark.slow
def test_the_compiled_scorm_exam_marks_carried_forward_in_chromium(numbas_home, browser, variant, made, tmp_path):  # noqa: F811
    """Needs NUMBAS_HOME (Numbas's compiler; skipped without it, in CI too: Numbas is on no package index),
    Selenium, Chromium and chromedriver. The exam is compiled by Numbas's own compiler into the SCORM zip and
    opened from its files with the network off: right answers earn every mark, a slip in box 1 costs box 1 only
    (the later boxes, computed from the slip, are marked on it), an implausible slip is not carried, and a
    misconception's value shows its name."""
    page, allowed = _compiled([variant], numbas_home, tmp_path)
    boxes = lms.boxes(variant)
    q = made[1]["question_groups"][0]["questions"][0]

    _open(browser, page, allowed)
    _answer(browser, [b.shown for b in boxes])
    assert _credits(browser) == [1.0] * len(boxes)
    assert _total(browser) == f"{len(boxes)}/{len(boxes)}"
    _shoot(browser, "numbas-right-answers.png", 0)

    slip = _carried_answers(variant, 1, 0.1234)
    _open(browser, page, allowed)
    _answer_through_the_page(browser, [typed for _, typed, _ in slip])
    credits = _credits(browser)
    # the core's verdicts, box by box: box 1 wrong, every later one credited (most of them as carried)
    assert credits == [1.0 if verdict in ("correct", "carried") else 0.0 for _, _, verdict in slip]
    assert credits[0] == 0.0 and sum(credits) == len(boxes) - 1  # one slip costs one box
    # Numbas marked on the student's earlier answers exactly where the core carries forward
    adaptive = browser.execute_script(
        "return document.querySelector('numbas-exam').exam.currentQuestion.parts.map(p => !!p.adaptiveMarkingUsed)"
    )
    assert all(a for a, (_, _, verdict) in zip(adaptive, slip) if verdict == "carried")
    # a box right as typed is marked on the right values (originalfirst), without the student's
    assert not any(a for a, b, (value, _, _) in zip(adaptive, boxes, slip) if abs(value - b.value) < b.tolerance)
    _shoot(browser, "numbas-carried-forward.png", adaptive.index(True))

    # out_h1 = 1.3 (box 3), no sigmoid's output, then every box computed from it: the page marks each box as
    # test_carried_forward_marks_as_the_core_does reads the exam, and the boxes computed from 1.3 earn nothing
    out_h1 = next(b for b in boxes if b.key == "out_h1")
    implausible = _carried_answers(variant, out_h1.number, 1.3)
    typed = [float(t) for _, t, _ in implausible]
    _open(browser, page, allowed)
    _answer_through_the_page(browser, [t for _, t, _ in implausible])
    credits = _credits(browser)
    assert credits == [_numbas_credit(q, i, typed) for i in range(len(boxes))]
    uses = [
        i
        for i, p in enumerate(q["parts"])
        if any(r["part"] == f"p{out_h1.number - 1}" for r in p["variableReplacements"])
    ]
    assert uses and not any(credits[i] for i in uses)

    wrong = boxes[1].wrong[0]  # net_h2 without its bias
    assert wrong.misconception == "forgot-bias"
    _open(browser, page, allowed)
    _answer_through_the_page(browser, [boxes[0].shown, wrong.shown])
    assert _credits(browser)[:2] == [1.0, 0.0]
    assert MISCONCEPTIONS["forgot-bias"] in _feedback(browser, 1)
    _shoot(browser, "numbas-misconception.png", 1)


@pytest.mark.slow
def test_the_compiled_exam_keeps_the_sheets_rule_at_3sf_in_chromium(numbas_home, browser, tmp_path):  # noqa: F811
    """Needs NUMBAS_HOME, Selenium, Chromium and chromedriver. An exam of two variants at --tolerance 3sf gives the
    student one of them; the student gives each box to 3 significant figures by the sheet's rule, from the rounded
    values shown before it, every third box one unit of its last figure off (an exact tie's other neighbour):
    every box earns its mark in the compiled exam, but the last, typed two units off."""
    rule = Tolerance.parse("3sf")
    variants = list(Variants(2, 11, tolerance=rule))
    page, allowed = _compiled(variants, numbas_home, tmp_path)
    _open(browser, page, allowed)
    name = browser.execute_script("return document.querySelector('numbas-exam').exam.currentQuestion.name")
    (variant,) = [v for v in variants if lms.variant_name(v) == name]
    walk = variant.walk
    boxes = lms.boxes(variant)
    typed = []
    for i, b in enumerate(boxes):
        quantity = walk.quantities[b.key]
        key, unit, places = _sheet_rule(quantity.form.fn(*[walk.value(a) for a in quantity.args]), rule)
        off = 2 if i == len(boxes) - 1 else 1 if i % 3 == 2 else 0  # the last box (an update) two units off
        typed.append(format_fixed(key + off * unit, places))
    _answer(browser, typed)
    assert _credits(browser) == [1.0] * (len(typed) - 1) + [0.0], (name, typed)
    _shoot(browser, "numbas-3sf.png", 2)


def _shadow(driver, css: str):
    return driver.execute_script(
        "return document.querySelector('numbas-exam').shadowRoot.querySelector(arguments[0])", css
    )


def _open(driver, page: Path, allowed: tuple[str, ...]) -> None:
    """Open the exam afresh (nothing of an earlier attempt kept) and wait for its first box. An earlier attempt
    lives in the storage of the file pages, which Chromium gives every file:// page alike, and the exam saves it
    as it is left: it is cleared from a blank page beside the exam, which is then loaded once."""
    blank = page.parent / "blank.html"
    if not blank.exists():
        blank.write_text("<!DOCTYPE html><title>blank</title>", encoding="utf-8")
    driver.get(blank.as_uri())
    driver.execute_script("localStorage.clear(); sessionStorage.clear()")
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get(page.as_uri())
    # the first box can be in the page before the exam has made its question current: wait for both (a loaded
    # machine showed the gap, and exam.currentQuestion was still undefined), for up to a minute
    deadline = time.monotonic() + 60
    while not driver.execute_script(
        "const e = document.querySelector('numbas-exam'); return !!(e && e.shadowRoot && "
        "e.shadowRoot.querySelector('#q0p0-input') && e.exam && e.exam.currentQuestion)"
    ):
        if time.monotonic() > deadline:
            raise AssertionError("the exam did not start")
        time.sleep(0.05)
    requests = [
        m["params"]["request"]["url"]
        for m in (json.loads(e["message"])["message"] for e in driver.get_log("performance"))
        if m["method"] == "Network.requestWillBeSent"
    ]
    assert requests and all(u.startswith(allowed + ("data:",)) for u in requests), requests


def _answer(driver, typed: list[str]) -> None:
    """Type each answer into its box and save it, in order, as a student does."""
    from selenium.common.exceptions import ElementNotInteractableException

    for i, t in enumerate(typed):
        field = _shadow(driver, f"#q0p{i}-input")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        for _ in range(100):  # the page enables the box once its question has been shown
            try:
                field.clear()
                field.send_keys(t)
                break
            except ElementNotInteractableException:
                time.sleep(0.05)
        _shadow(driver, f'section[data-part-path="p{i}"] button.submitPart').click()


def _answer_through_the_page(driver, typed: list[str]) -> None:
    """Each answer put into its box and submitted, in order, by the page's own code: the box's value, as typing
    sets it (the part display's ``studentAnswer``), then what the box's Submit button calls
    (``Numbas.controls.submitPart``). The same marking as ``_answer`` without a browser round trip per key: the
    first attempt of a test types as a student does, later attempts use this."""
    driver.execute_script(
        "const q = document.querySelector('numbas-exam').exam.currentQuestion;"
        "arguments[0].forEach((t, i) => { const p = q.parts[i]; p.display.studentAnswer(t); Numbas.controls.submitPart(p); });",
        typed,
    )


def _credits(driver) -> list[float]:
    return driver.execute_script(
        "return document.querySelector('numbas-exam').exam.currentQuestion.parts.map(p => p.credit)"
    )


def _total(driver) -> str:
    """The exam's total as the page shows it (the score of the question list's one question)."""
    score = driver.execute_script("const ex = document.querySelector('numbas-exam').exam; return [ex.score, ex.mark]")
    return f"{score[0]:g}/{score[1]:g}"


def _feedback(driver, i: int) -> str:
    """The feedback messages the page shows under box ``i + 1``."""
    return _shadow(driver, f'section[data-part-path="p{i}"] .feedbackMessages').get_attribute("textContent")


def _shoot(driver, name: str, i: int) -> None:
    """A screenshot of box ``i + 1`` and its feedback, under /work/shots when that folder exists (to look at)."""
    if SHOTS.is_dir():
        driver.execute_script("arguments[0].scrollIntoView()", _shadow(driver, f'section[data-part-path="p{i}"]'))
        driver.save_screenshot(str(SHOTS / name))
