"""The self-check page's formula mode (``explain SPEC --self-check --symbolic``), driven in headless Chromium:
the page reads a typed formula by the graph grammar rebuilt in its script and decides as the Python grading
core does (``Grader.grade_formula``), compared case by case (right spellings, each named slip, hostile input);
it loads nothing but its own file and logs no console error; a student's session in the boxes reads as the
terminal's ``quiz --symbolic``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from tutor import load
from tutor.cli import main
from tutor.teach import selfcheck
from tutor.teach.formulas import FormulaError, typed_name
from tutor.teach.quiz import Quiz
from tutor.teach.symquiz import FormulaQuiz

from .test_browser import all_css, browser, by_css, open_page  # noqa: F401 (browser: the fixture)
from .test_symbolic_answers import HOSTILE, RIGHT, SLIPPED

SLOW = pytest.mark.slow


@lru_cache(maxsize=None)
def formula_quiz(spec: str) -> FormulaQuiz:
    return FormulaQuiz(Quiz(load(spec)))


def number_of(spec: str, key: str) -> int:
    return [q.key for q in formula_quiz(spec).questions].index(key) + 1


def page_verdict(driver, n: int, text: str) -> dict:
    root = by_css(driver, ".bt-selfcheck")
    return driver.execute_script("return arguments[0].btFormula(arguments[1], arguments[2]);", root, n, text)


def python_verdict(spec: str, key: str, text: str) -> dict:
    try:
        g = formula_quiz(spec).grader.grade_formula(key, text)
    except FormulaError as exc:
        return {"verdict": "invalid", "error": str(exc)}
    out = {"verdict": g.verdict}
    if g.slip:
        out.update(slip=g.slip, detail=g.detail)
    return out


def agrees(driver, spec: str, key: str, text: str) -> None:
    """The page's decision on ``text`` is the grading core's: the verdict, the slip and its detail; a
    refusal is one line on both sides."""
    mine, core = page_verdict(driver, number_of(spec, key), text), python_verdict(spec, key, text)
    if core["verdict"] == "invalid":
        assert mine["verdict"] == "invalid", (key, text, mine)
        assert mine["error"].startswith("formula: ") and "\n" not in mine["error"] and len(mine["error"]) < 300
        return
    assert mine == core, (key, text, mine, core)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    made = {}

    def page(spec: str):
        if spec not in made:
            path = tmp_path_factory.mktemp("formulas") / f"{spec}.html"
            assert main(["explain", spec, "--self-check", "--symbolic", "-o", str(path)]) == 0
            made[spec] = path
        return made[spec]

    return page


def _cases(spec: str):
    keys = {q.key for q in formula_quiz(spec).questions}
    right = [(k, t) for s, k, t in RIGHT if s == spec and k in keys]
    slipped = [(k, t) for s, k, t, _, _ in SLIPPED if s == spec and k in keys]
    return right, slipped


@SLOW
def test_the_page_decides_as_the_grading_core_on_mazur(browser, pages):  # noqa: F811
    """Mazur's cases of the terminal's tests (each right spelling, each named slip, the hostile inputs) and
    every asked formula typed back and negated: the page's verdict, slip and detail are the core's."""
    open_page(browser, pages("mazur"))  # one request (the file), no console error, no CSP violation
    right, slipped = _cases("mazur")
    assert len(right) >= 10 and len(slipped) >= 10
    for key, text in right + slipped:
        agrees(browser, "mazur", key, text)
    for text, _ in HOSTILE:
        agrees(browser, "mazur", "dout_o1/dnet_o1", text)
    named = {page_verdict(browser, number_of("mazur", k), t).get("slip") for k, t in slipped}
    assert {"sigma-prime-from-net", "missing-factor", "wrong-index", "sign", "missing-term", "added-chain"} <= named
    fq = formula_quiz("mazur")
    for n, q in list(enumerate(fq.questions, 1))[::2]:  # every other one: the slow set has more kinds
        ref = fq.reference(q.key)
        assert page_verdict(browser, n, ref) == {"verdict": "correct"}, (q.key, ref)
        assert page_verdict(browser, n, f"-({ref})")["slip"] == "sign", (q.key, ref)
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, problems


@pytest.mark.parametrize("spec", [pytest.param(s, marks=SLOW) for s in ("optimizer-adam", "softmax-scores")])
def test_the_page_decides_as_the_grading_core_on_other_factor_kinds(browser, pages, spec):  # noqa: F811
    """An optimizer's states and steps, softmax with cross-entropy: the terminal's cases, and a sample of the
    asked formulas typed back, expanded and negated."""
    import sympy as sp

    open_page(browser, pages(spec))
    right, slipped = _cases(spec)
    assert right
    for key, text in right + slipped:
        agrees(browser, spec, key, text)
    fq = formula_quiz(spec)
    for q in fq.questions[::3]:
        ref = fq.grader.formulas.reference(q.key)
        for text in (str(ref), str(sp.expand(ref)), f"-({ref})", str(ref).replace("1", "2", 1)):
            if len(text) <= 480:
                agrees(browser, spec, q.key, text)


def test_a_session_in_the_boxes_reads_as_the_terminal_quiz(browser, pages):  # noqa: F811
    """Typed into the boxes: a sign slip, then the right form; σ′ from the net, twice (the formula is then
    shown); a refusal; a hint. The page's words are the terminal's (FormulaQuiz.respond) and the score too."""
    from selenium.webdriver.common.keys import Keys

    open_page(browser, pages("mazur"))
    fq = formula_quiz("mazur")
    terminal = FormulaQuiz(Quiz(load("mazur")))
    n1, n2, n3 = (number_of("mazur", k) for k in ("dE_total/dout_o1", "dout_o1/dnet_o1", "dE_o1/dnet_o1"))

    def respond(n, text):  # the terminal's words for question n
        terminal.position = n - 1
        return terminal.respond(text).message

    def type_into(n, text):
        field = by_css(browser, f'input.bt-formula[data-q="{n}"]')
        field.clear()
        field.send_keys(text + Keys.ENTER)
        return by_css(browser, f'output[data-q="{n}"]').text

    assert type_into(n1, "target_o1 - out_o1") == respond(n1, "target_o1 - out_o1")
    said = type_into(n1, "out_o1 - target_o1")
    assert said == respond(n1, "out_o1 - target_o1").replace(
        " (SymPy: its difference to the derived form simplifies to 0)", ""
    )
    assert said == f"Right: dE_total_dout_o1 = {fq.reference('dE_total/dout_o1')}"
    assert type_into(n2, "net_o1*(1 - net_o1)") == respond(n2, "net_o1*(1 - net_o1)")
    assert type_into(n2, "net_o1 - net_o1**2") == respond(n2, "net_o1 - net_o1**2")
    assert type_into(n3, "__import__('os')").startswith("Not read: formula: unknown function '__import__'")
    by_css(browser, f'button.bt-hint-button[data-q="{n3}"]').click()
    hint = by_css(browser, f'span.bt-hint[data-q="{n3}"]').text
    assert hint == "Hint: it is written with dE_total_dout_o1, dout_o1_dnet_o1."
    score = by_css(browser, ".bt-score").text
    assert score == f"Score: 1 of {len(fq.questions)} formulas right. To revise: dout_o1_dnet_o1."
    assert by_css(browser, f'output[data-q="{n2}"]').get_attribute("data-slip") == "sigma-prime-from-net"
    # the default run's sample of the page's decisions against the core's (the slow set has all the cases)
    for key, text in [
        ("dE_total/dw5", "delta_o1*out_h1"),
        ("dE_total/dw5", "delta_o2*out_h1"),
        ("dE_total/dout_h1", "delta_o1*w5"),
        ("dE_o1/dnet_o1", "dE_total_dout_o1 + dout_o1_dnet_o1"),
        ("dE_total/dw5", "(out_o1 - target_o1)*out_h1"),
        ("w5+", "w5 - eta*delta_o1*out_h1"),
        ("dout_o1/dnet_o1", "out_o1**99999"),
    ]:
        agrees(browser, "mazur", key, text)


def test_the_page_carries_no_code_of_the_spec_and_only_printed_operations():
    """The formula mode's script: the fixed reader and the grammar's operations printed by SymPy (no eval, no
    Function), under a policy naming exactly that script; the boxes are the formula quiz's questions."""
    from tutor.render.interactive import script_hash

    quiz = Quiz(load("mazur"))
    html = selfcheck.page(quiz, symbolic=True)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1 and f"script-src {script_hash(scripts[0])};" in html.replace("&#39;", "'")
    assert "eval(" not in scripts[0] and "Function(" not in scripts[0]
    assert "sigmoid: function (_0) { return 1/(1 + Math.exp(-_0)); }" in scripts[0]
    assert "pow: function (_0, _1) { return Math.pow(_0, _1); }" in scripts[0]
    fq = FormulaQuiz(quiz)
    boxes = re.findall(r'<input type="text" class="bt-formula" id="[^"]+" data-q="(\d+)"', html)
    assert boxes == [str(n) for n in range(1, len(fq.questions) + 1)]
    assert all(f"typed <code>{typed_name(q.key)}</code>" in html for q in fq.questions)
    assert "Show the worked line" not in html  # the worked line would give the formula away
    assert selfcheck.page(quiz, symbolic=True) == html  # deterministic


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["mazur", "--symbolic", "-o", "x.html"], "give --self-check too"),
        (["graph-xyz", "--self-check", "--symbolic", "-o", "x.html"], "a graph spec's self-check asks values"),
        (["mazur", "--self-check", "--symbolic", "--rounding", "exact", "-o", "x.html"], "leave out --rounding"),
    ],
)
def test_what_the_formula_mode_cannot_honour_is_refused(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("backprop-tutor: error: --symbolic: ") and fragment in err
    assert not (tmp_path / "x.html").exists()


def random_formula(rng, names: list[str], depth: int = 3) -> str:
    """A formula of the grammar (and a few of its refusals: a variable exponent, a huge one, a bad name)."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice([*names, *names, "1", "2", "0.5", "1e-3", ".5"])
    pick = rng.random()
    a = random_formula(rng, names, depth - 1)
    if pick < 0.45:
        b = random_formula(rng, names, depth - 1)
        return f"({a} {rng.choice('+-*/')} {b})" if rng.random() < 0.6 else f"{a} {rng.choice('+-*/')} {b}"
    if pick < 0.6:
        return f"-{a}" if rng.random() < 0.5 else f"+({a})"
    if pick < 0.75:
        exponent = rng.choice(["2", "-1", "0.5", "(1/2)", "-2", "3", "5", "x1", "2**2"])
        return f"({a})**{exponent}"
    fn = rng.choice(["exp", "log", "sqrt", "abs", "sigmoid", "tanh", "relu", "max", "min", "foo"])
    if fn in ("max", "min"):
        return f"{fn}({a}, {random_formula(rng, names, depth - 1)})"
    return f"{fn}({a})"


@pytest.mark.parametrize("count", [pytest.param(40, id="40"), pytest.param(400, id="400", marks=SLOW)])
def test_random_formulas_are_decided_alike(browser, pages, count):  # noqa: F811
    """Seeded random formulas of the grammar, and right forms with one character cut out: the page's
    verdict and slip are the grading core's for each (a refusal on both sides)."""
    import random

    open_page(browser, pages("mazur"))
    rng = random.Random(33)
    fq = formula_quiz("mazur")
    keys = ["dout_o1/dnet_o1", "dE_total/dw5", "dE_total/dout_h1", "w5+", "E_o1"]
    for k in range(count):
        key = keys[k % len(keys)]
        names = sorted(map(str, fq.grader.formulas.expanded(key).free_symbols))
        names += sorted(map(str, fq.grader.formulas.reference(key).free_symbols))
        if k % 4 == 3:  # a right form with one character cut
            ref = fq.reference(key)
            i = rng.randrange(len(ref))
            text = ref[:i] + ref[i + 1 :]
        else:
            text = random_formula(rng, names)
        agrees(browser, "mazur", key, text)
