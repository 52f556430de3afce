"""The self-check page: the quiz's questions as answer boxes in one offline HTML page that grades them itself.

Everything the page decides comes from the Python quiz (``tutor.teach.quiz``): the questions in order, the
tolerance, the reference values and those of the other rounding, and the misconceptions of each question
(``diagnose.candidates``) with their values. The page recomputes only what depends on the student's own
answers, the carried-forward values, and it does so with formulas that SymPy's JavaScript printer
(``sympy.jscode``) writes from the derivation's own local forms; each is checked against a grammar of
numbers, placeholders ``_0, _1, ...`` and ``Math`` functions before it is written into the script. The spec's
text reaches the page only escaped in HTML, or as JSON data inside ``<script type="application/json">``.

The page is one fragment (``fragment``): a ``div`` with a generated id whose style rules and script are scoped
to it, so that it also works as a notebook cell's output; ``page`` wraps it in a document whose
Content-Security-Policy allows nothing from outside and only this script (by its hash).

Known difference from the terminal quiz: after an earlier wrong answer the quiz looks for a misconception in
values carried forward from the student's own answers; the page knows the misconceptions' values only as the
tutor computed them from right earlier answers, so it names a misconception only when the answer matches one
of those (the verdict itself, right, credited or wrong, is the quiz's in every case).
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from typing import Any

from ..engine.steps import Form
from ..render.interactive import policy, script_json, static_script
from ..render.templates import render_template
from ..spec.errors import TutorError
from .diagnose import StudentWorld, candidates
from .quiz import SECTION_TITLES, Quiz, plain_value

TEMPLATE = "html/selfcheck.html.j2"
SCRIPT = "html/selfcheck.js"

# What a generated formula may contain: numbers, placeholders, Math functions, operators, a conditional.
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9.]*")
_ALLOWED_WORD = re.compile(r"_\d+|Math\.[a-z0-9]+|Math\.(?:E|PI)|Number\.(?:POSITIVE|NEGATIVE)_INFINITY")
_ALLOWED_CHARS = re.compile(r"[\sA-Za-z0-9_.+\-*/(),?:<>=!&|]*")


@lru_cache(maxsize=None)
def javascript(form: Form) -> str:
    """The form as a JavaScript function of its placeholders, printed by SymPy's code printer.

    >>> from tutor.engine.symbolic import act_form, dact_form
    >>> javascript(act_form("sigmoid", ()))
    'function (_0) { return 1/(1 + Math.exp(-_0)); }'
    >>> javascript(dact_form("relu", ()))
    'function (_0, _1) { return ((_0 > 0) ? (1) : (0)); }'
    """
    import sympy as sp

    # The engines take the step's derivative at 0 as 0 (as NumPy's x > 0); SymPy's Heaviside(0) is 1/2.
    expr = form.expr.replace(sp.Heaviside, lambda x, *h: sp.Piecewise((1, x > 0), (0, True)))
    try:
        code = " ".join(sp.jscode(expr).split())
    except NotImplementedError:  # a function JavaScript's Math lacks (erf, in GELU's forms)
        names = sorted({type(f).__name__ for f in expr.atoms(sp.Function)})
        raise TutorError(
            f"the self-check page cannot grade this network: JavaScript has no {', '.join(names)}", "self-check"
        ) from None
    code = code.replace("( ", "(").replace(" )", ")")
    _check_code(code)
    return f"function ({', '.join(p.name for p in form.placeholders)}) {{ return {code}; }}"


def _check_code(code: str) -> None:
    """A generated formula must be numbers, placeholders and Math functions only (never text of a spec)."""
    words = _WORD.findall(_NUMBER.sub("0", code))
    bad = [w for w in words if not _ALLOWED_WORD.fullmatch(w)]
    if bad or not _ALLOWED_CHARS.fullmatch(code) or "</" in code or "//" in code or "/*" in code:
        raise TutorError(f"cannot write a formula of the derivation as JavaScript: {code[:60]!r}", "self-check")


def data(quiz: Quiz) -> tuple[dict[str, Any], list[str]]:
    """The page's grading data (JSON) and its formulas (JavaScript functions, by position)."""
    walk = quiz.walk
    keys = list(walk.quantities)
    index = {k: i for i, k in enumerate(keys)}
    alt = quiz.alternatives[0] if quiz.alternatives else {}
    forms: dict[Form, int] = {}
    quantities = []
    for k in keys:
        q = walk.quantities[k]
        f = -1
        if q.form is not None:
            f = forms.setdefault(q.form, len(forms))
        quantities.append([f, [index[a] for a in q.args], q.value, alt.get(k, q.value)])
    c = quiz.network.conventions
    digits = c.digits if c.rounding == "as-printed" else None
    asked = []
    right_so_far: dict[str, float] = {}
    for question in quiz.questions:
        # The misconceptions as the quiz finds them for a student whose earlier answers are the shown values.
        world = StudentWorld(walk, dict(right_so_far))
        baseline = (question.value, world.carried(question.key))
        seen = set()
        cands = []
        for cand in candidates(walk, question.key, world=world):
            if any(quiz.tolerance.accepts(cand.value, b) for b in baseline) or not math.isfinite(cand.value):
                continue
            sig = (cand.misconception, cand.step, cand.value)
            if sig in seen:
                continue
            seen.add(sig)
            cands.append({"m": cand.misconception, "d": cand.description, "t": cand.detail, "v": cand.value})
        asked.append(
            {
                "q": index[question.key],
                "n": question.number,
                "label": question.label,
                "shown": question.shown,
                "c": cands,
            }
        )
        right_so_far[question.key] = float(question.shown)
    tol = quiz.tolerance
    return (
        {
            "tolerance": {"mode": tol.mode, "places": tol.places},
            "digits": digits,  # the rounding of carried values; None: exact
            "shown_digits": c.digits,
            "quantities": quantities,
            "questions": asked,
        },
        [javascript(f) for f in forms],
    )


def _prefix(payload: str, code: str) -> str:
    """A generated id for the page's root: the same network gives the same page, byte for byte."""
    return "bt-sc-" + hashlib.sha256((payload + code).encode("utf-8")).hexdigest()[:12]


def script_text(root: str, formulas: list[str]) -> str:
    """The page's one script: its root's id and its formulas (both generated), then the fixed grader."""
    head = f'var BT_ROOT = "{root}";\nvar BT_F = [\n' + ",\n".join(formulas) + "\n];\n"
    return "(function () {\n" + head + static_script(SCRIPT) + "})();\n"


def _context(quiz: Quiz, standalone: bool) -> dict[str, Any]:
    from markupsafe import Markup

    from ..render import diagram
    from ..render.lines import line_view, writer
    from ..render.notation import text_name

    walk = quiz.walk
    net = quiz.network
    payload, formulas = data(quiz)
    payload_json = script_json(payload)
    root = _prefix(payload_json, "\n".join(formulas))
    script = script_text(root, formulas)
    fw = writer(walk, "web")
    drawn = quiz.drawing()
    layout = diagram.layout(drawn, fw if drawn is walk else writer(drawn, "web"))
    sections = []
    for q in quiz.questions:
        if not sections or sections[-1]["name"] != q.section:
            sections.append({"name": q.section, "title": SECTION_TITLES[q.section], "questions": []})
        sections[-1]["questions"].append(
            {"number": q.number, "label": fw.label(q.key, "web"), "line": line_view(fw, walk.quantities, q.key, "web")}
        )
    role = {"input": "input", "rate": "learning rate"}
    return {
        "standalone": standalone,
        "root": root,
        "title": net.title,
        "description": net.description,
        "conventions": net.conventions.describe(),
        "grading": quiz.tolerance.describe(),
        "digits": net.conventions.digits,
        "origin": quiz.origin,
        "givens": [
            {
                "title": title,
                "rows": [
                    {
                        "label": fw.label(g.key, "web") if g.key in walk.labels else text_name(g.key),
                        "value": plain_value(g.value),
                        "role": f"{g.source} → {g.neuron}"
                        if g.kind == "weight"
                        else f"{g.kind} of {g.neuron}"
                        if g.kind in ("bias", "target", "scale", "shift")
                        else role.get(g.kind, g.kind)
                        if g.kind != "rate" or g.key == "eta"
                        else "given",
                    }
                    for g in items
                ],
            }
            for title, items in quiz.givens()
        ],
        "activations": [f"{l.activation}: {l.rule.summary}" for l in net.layers],
        "loss": net.loss_rule.description,
        "diagram": Markup(diagram.svg(layout)),  # built from escaped parts by diagram.svg
        "sections": sections,
        "count": len(quiz.questions),
        "data_json": Markup(payload_json),
        "script": Markup(script),
        "csp": policy(script),
    }


def fragment(quiz: Quiz) -> str:
    """The self-check as one ``div`` with its scoped style and script: a notebook cell's HTML output."""
    return render_template(TEMPLATE, _context(quiz, False), autoescape=True)


def page(quiz: Quiz) -> str:
    """The self-check as one self-contained offline HTML file."""
    return render_template(TEMPLATE, _context(quiz, True), autoescape=True)
