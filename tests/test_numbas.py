"""The Numbas export (``worksheet --numbas``): the exam's structure, its values and tolerances against the grading
core's, carried-forward marking as the core decides it, escaping of hostile names, the CLI's refusals, and the
compiled SCORM package driven in headless Chromium.

Numbas is on no package index (PyPI, npm, Debian), so CI cannot install it: the tests that need its compiler or
its schema read a Numbas checkout from ``NUMBAS_HOME`` (``git clone https://github.com/numbas/Numbas``) and skip,
saying so, when it is unset, in every run, CI's included. This is the one documented exception to "a missing tool
fails under CI=true" (tests/conftest.py): .ci/run sets NUMBAS_HOME where a checkout exists. Every other test reads the exam's JSON alone and runs
always; the JME the exam holds is evaluated by ``_evaluate`` below, a reader of exactly the expressions the
export prints (numbers, variables, + - * / ^, the functions JMEPrinter writes), walking Python's AST of them.
"""

from __future__ import annotations

import ast
import io
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
from tutor.spec.rounding import Rounder, format_fixed, round_half_away
from tutor.teach import lms, numbas
from tutor.teach.grading import MISCONCEPTIONS, Grader, World
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
    "precround": round_half_away,
    "exp": math.exp,
    "ln": math.log,
    "tanh": math.tanh,
    "sqrt": math.sqrt,
    "abs": abs,
    "max": max,
    "min": min,
    "if": lambda c, a, b: a if c else b,
}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE = {ast.Gt: float.__gt__, ast.GtE: float.__ge__, ast.Lt: float.__lt__, ast.LtE: float.__le__}
JME_TOKEN = re.compile(
    r"\s*(?:v\d+|[0-9]+(?:\.[0-9]+)?|[-+*/^(),]|<=|>=|<>|[<>=]|" + "|".join(_FUNCTIONS) + r"|and|or)"
)


def _evaluate(text: str, scope: dict[str, float]) -> float:
    """The value of a JME expression as printed by the export (anything else fails the test)."""
    at = 0
    while at < len(text):  # only the tokens JMEPrinter writes: no name but v1, v2, ... and the known functions
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
            return scope[n.id]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.BinOp):
            return _BINARY[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.Compare) and len(n.ops) == 1:
            return _COMPARE[type(n.ops[0])](ev(n.left), ev(n.comparators[0]))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            fn = _FUNCTIONS[n.func.id.rstrip("_")]
            args = [ev(a) for a in n.args]
            return fn(args[0], int(args[1])) if fn is round_half_away else fn(*args)
        raise AssertionError(f"unexpected JME: {ast.dump(n)}")

    return ev(tree)


def _values(q: dict, replaced: dict[str, float] | None = None) -> dict[str, float]:
    """Every variable of a question, in order, with some replaced by a student's answers (adaptive marking)."""
    scope: dict[str, float] = {}
    for name in q["ungrouped_variables"]:
        scope[name] = (replaced or {}).get(name, None) or _evaluate(q["variables"][name]["definition"], scope)
    return scope


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
            assert j < i and r["variable"] == re.match(r"(v\d+) -", q["parts"][j]["minValue"]).group(1)
        assert [a["alternativeFeedbackMessage"] for a in part["alternatives"]] == [
            f"<p>{numbas.text(w.feedback)}</p>" for w in box.wrong
        ]
        assert all(a["marks"] == 0 for a in part["alternatives"])
    # the hidden layer's boxes are computed from the student's output-layer answers: replacements exist
    assert sum(bool(p["variableReplacements"]) for p in q["parts"]) >= 30
    assert exam["feedback"]["allowrevealanswer"] is False and exam["feedback"]["showadvicewhen"] == "inreview"


def test_keys_and_tolerances_are_the_grading_cores(variant, made):
    q = made[1]["question_groups"][0]["questions"][0]
    scope = _values(q)
    for part, box in zip(q["parts"], lms.boxes(variant)):
        lo, hi = _evaluate(part["minValue"], scope), _evaluate(part["maxValue"], scope)
        # the key and the tolerance, with the slack the core's Tolerance.accepts allows
        assert (lo + hi) / 2 == pytest.approx(box.value, abs=1e-12)
        assert (hi - lo) / 2 == pytest.approx(box.tolerance * numbas.SLACK, rel=1e-9)
        assert format_fixed((lo + hi) / 2, 4) == box.shown
        for alt, w in zip(part["alternatives"], box.wrong):
            assert (_evaluate(alt["minValue"], {}) + _evaluate(alt["maxValue"], {})) / 2 == pytest.approx(w.value)
            assert MISCONCEPTIONS[w.misconception] in alt["alternativeFeedbackMessage"]


def _carried_answers(variant, slip_box: int, slip: float) -> list[tuple[float, str, str]]:
    """A student who slips in one box and then computes every later box right from their own answers: (answer,
    typed, the core's verdict) per box."""
    boxes = lms.boxes(variant)
    walk = variant.walk
    grader = Grader(walk, variant.tolerance, asked=[b.key for b in boxes], digits=4)
    known: dict[str, float] = {}
    out = []
    for b in boxes:
        if b.number == slip_box:
            value = slip
        else:
            value = round_half_away(World(walk, known, Rounder(4)).carried(b.key), 4)
        typed = format_fixed(value, 4)
        out.append((value, typed, grader.grade(b.key, float(typed), typed, known=known).verdict))
        known[b.key] = float(typed)
    return out


def test_carried_forward_marks_as_the_core_does(variant, made):
    """A slip in box 1 (net_h1) replaced in every later box's variables gives the value the core carries forward,
    and each such answer is one the core credits as carried."""
    q = made[1]["question_groups"][0]["questions"][0]
    answers = _carried_answers(variant, 1, 0.1234)
    assert answers[0][2] == "wrong"
    carried = [i for i, a in enumerate(answers) if a[2] == "carried"]
    assert len(carried) >= 20, answers  # most of the step follows from net_h1
    parts = q["parts"]
    for i in carried:
        replaced = {r["variable"]: answers[int(r["part"][1:])][0] for r in parts[i]["variableReplacements"]}
        scope = _values(q, replaced)
        lo, hi = _evaluate(parts[i]["minValue"], scope), _evaluate(parts[i]["maxValue"], scope)
        assert lo <= answers[i][0] <= hi, (i, answers[i], lo, hi)
        right = _values(q)
        assert not _evaluate(parts[i]["minValue"], right) <= answers[i][0] <= _evaluate(parts[i]["maxValue"], right)


def test_an_implausible_answer_is_not_carried(variant, made):
    """The core's plausibility guard as Numbas's use condition: a sigmoid output outside (0, 1) is not used."""
    parts = made[1]["question_groups"][0]["questions"][0]["parts"]
    out_h1 = next(p for p, b in zip(parts, lms.boxes(variant)) if b.key == "out_h1")
    assert out_h1["adaptiveMarkingUseCondition"] == "studentNumber > 0 and studentNumber < 1"


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
            assert re.fullmatch(r"(dpformat\()?v\d+( [-+] [0-9.e-]+)?(, \d+\))?", jme), jme
    for d in q["variables"].values():  # no name from the spec reaches JME: every one is parsed by _evaluate
        assert re.fullmatch(r"v\d+", d["name"])
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
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("compile it into a SCORM zip with Numbas's compiler") and str(out) in printed[-1]
    exam = json.loads(out.read_text(encoding="utf-8").split("\n", 1)[1])
    (group,) = exam["question_groups"]
    assert len(group["questions"]) == 2 and group["pickingStrategy"] == "random-subset"
    # the variants by their opaque codes, never their seeds
    assert all(re.fullmatch(r"Variant [12] \(code [A-Z2-9]{4}-[A-Z2-9]{4}\)", q["name"]) for q in group["questions"])
    first = out.read_bytes()
    assert main([*args, "--numbas", str(out)]) == 0  # the same run again: the same bytes, its own file rewritten
    assert out.read_bytes() == first


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


@pytest.mark.slow
def test_the_compiled_scorm_exam_marks_carried_forward_in_chromium(numbas_home, browser, variant, tmp_path):  # noqa: F811
    """Needs NUMBAS_HOME (Numbas's compiler; skipped without it, in CI too: Numbas is on no package index),
    Selenium, Chromium and chromedriver. The exam is compiled by Numbas's own compiler into the SCORM zip and
    opened from its files with the network off: right answers earn every mark, a slip in box 1 costs box 1 only
    (the later boxes, computed from the slip, are marked on it), and a misconception's value shows its name."""
    mathjax = tmp_path / "mathjax"
    mathjax.mkdir()
    (mathjax / "tex-svg.js").write_text(MATHJAX_STUB, encoding="utf-8")
    data = numbas.compile_scorm(numbas.source([variant]), numbas_home, ["--mathjax-4-url", mathjax.as_uri()])
    folder = tmp_path / "exam"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {"imsmanifest.xml", "index.html", "imscp_v1p1.xsd"} <= set(z.namelist())
        manifest = z.read("imsmanifest.xml").decode("utf-8")
        assert "<schema>ADL SCORM</schema>" in manifest and 'href="index.html"' in manifest  # a SCORM 2004 package
        z.extractall(folder)
    page = folder / "index.html"
    allowed = (folder.as_uri() + "/", mathjax.as_uri() + "/")
    boxes = lms.boxes(variant)

    _open(browser, page, allowed)
    _answer(browser, [b.shown for b in boxes])
    assert _credits(browser) == [1.0] * len(boxes)
    assert _total(browser) == f"{len(boxes)}/{len(boxes)}"
    _shoot(browser, "numbas-right-answers.png", 0)

    slip = _carried_answers(variant, 1, 0.1234)
    _open(browser, page, allowed)
    _answer(browser, [typed for _, typed, _ in slip])
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

    wrong = boxes[1].wrong[0]  # net_h2 without its bias
    assert wrong.misconception == "forgot-bias"
    _open(browser, page, allowed)
    _answer(browser, [boxes[0].shown, wrong.shown])
    assert _credits(browser)[:2] == [1.0, 0.0]
    assert MISCONCEPTIONS["forgot-bias"] in _feedback(browser, 1)
    _shoot(browser, "numbas-misconception.png", 1)


def _shadow(driver, css: str):
    return driver.execute_script(
        "return document.querySelector('numbas-exam').shadowRoot.querySelector(arguments[0])", css
    )


def _open(driver, page: Path, allowed: tuple[str, ...]) -> None:
    """Open the exam afresh (nothing of an earlier attempt kept) and wait for its first box."""
    driver.get("about:blank")
    driver.get_log("performance")  # drop what an earlier page logged
    driver.get(page.as_uri())
    driver.execute_script("localStorage.clear(); sessionStorage.clear()")
    driver.refresh()
    for _ in range(200):
        if driver.execute_script(
            "const e = document.querySelector('numbas-exam'); return !!(e && e.shadowRoot && "
            "e.shadowRoot.querySelector('#q0p0-input'))"
        ):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the exam did not start")
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
