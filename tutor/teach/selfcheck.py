"""The self-check page: the quiz's questions as answer boxes in one offline HTML page that grades them itself.

Everything the page decides comes from the Python quiz (``tutor.teach.quiz``): the questions in order, the
tolerance, the reference values and those of the other rounding, and the misconceptions of each question
(``diagnose.candidates``) with their values. The page recomputes only what depends on the student's own
answers, the carried-forward values, and it does so with formulas that SymPy's JavaScript printer
(``sympy.jscode``, ``tutor.render.jscode``) writes from the derivation's own local forms; each is checked against a grammar of
numbers, placeholders ``_0, _1, ...`` and ``Math`` functions before it is written into the script. The spec's
text reaches the page only escaped in HTML, or as JSON data inside ``<script type="application/json">``.

The page is one fragment (``fragment``): a ``div`` with a generated id whose style rules and script are scoped
to it, so that it also works as a notebook cell's output; ``page`` wraps it in a document whose
Content-Security-Policy allows nothing from outside and only this script (by its hash).

The page's decision is the grading core's (``tutor.teach.grading``), run on the core's own data: the same
verdicts and diagnoses as the terminal quiz for the same answers (``root.btGrade`` grades a list of answers for
checking the two against each other), with tries and the hint ladder at the quiz's cost.

Its formula mode (``page(quiz, symbolic=True)``, ``explain SPEC --self-check --symbolic``) asks what
``quiz --symbolic`` asks: each formula typed in the shown names. The page reads it with the graph specs'
grammar rebuilt as a parser in the script (numbers, names, + - * / **, the registry's functions; never
``eval``), computes it with the grammar's operations printed by SymPy's JavaScript printer, and decides as
``formulas.FormulaGrading.grade`` does, on its data (``formula_data``): the right values at the walk's values
and its seeded random points, the negation, then each classic slip's values in the core's order.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ..engine.steps import Form, MapWalk
from ..render.interactive import ROUNDING_SCRIPT, policy, script_json, static_script
from ..render.jscode import javascript
from ..render.templates import render_template
from ..spec import rules
from .formulas import typed_name
from .grading import MISCONCEPTIONS
from .quiz import SECTION_TITLES, Quiz, layer_activation, plain_value

TEMPLATE = "html/selfcheck.html.j2"
SCRIPT = "html/selfcheck.js"
FORMULA_SCRIPT = "html/formulacheck.js"


def data(quiz: Quiz) -> tuple[dict[str, Any], list[str]]:
    """The page's grading data (JSON) and its formulas (JavaScript functions, by position): the grading core's
    definitions for every question (``tutor.teach.grading.Grader``), which the page's script runs as the quiz
    does: the values that count as right, the confusable values, the plausibility guard, the recipes of the
    misconceptions (perturbed forms printed by SymPy's JavaScript printer) and the values rounded too early."""
    g = quiz.grader
    walk = quiz.walk
    keys = list(walk.quantities)
    index = {k: i for i, k in enumerate(keys)}
    forms: dict[Form, int] = {}

    def form(f: Form | None) -> int:
        return -1 if f is None else forms.setdefault(f, len(forms))

    quantities = []
    for k in keys:
        q = walk.quantities[k]
        quantities.append([form(q.form), [index[a] for a in q.args], q.value, [index[a] for a in g.uses(k)]])
    asked = []
    for question in quiz.questions:
        k = question.key
        lo, hi, lo_open, hi_open, what = g.guard(k)
        recipes = [
            [r.misconception, index[r.step], index[r.at], r.detail, form(r.form), [index[a] for a in r.args], r.round]
            for r in g.recipes(k)
        ]
        early = [[c.misconception, c.detail, c.value] for c in g.early(k)]
        asked.append(
            {
                "q": index[k],
                "n": question.number,
                "label": question.label,
                "shown": question.shown,
                "rights": g.rights(k),
                "near": g.near(k),
                "guard": [_bound(lo), _bound(hi), lo_open, hi_open, what],
                "down": [index[d] for d in g.downstream(k)],
                "recipes": recipes,
                "early": early,
                "hint": question.hint,
            }
        )
    tol = quiz.tolerance
    return (
        {
            "tolerance": {"mode": tol.mode, "places": tol.places},
            "digits": g.digits,  # the rounding of carried values; None: exact
            "shown_digits": quiz.digits,
            "tries": quiz.tries,
            "hint_cost": quiz.hint_cost,
            "given": [index[k] for k in g.given],
            "quantities": quantities,
            "questions": asked,
            "misconceptions": MISCONCEPTIONS,
        },
        [javascript(f) for f in forms],
    )


def _ops_js() -> dict[str, str]:
    """The formula grammar's operations (``GRAPH_OPS``: + - * / unary -, ** and the functions) as JavaScript
    functions printed by SymPy's printer from the registry's own forms; ** takes its exponent as ``_1``."""
    import sympy as sp

    from ..spec.graphrules import FUNCTIONS, GRAPH_OPS

    x = sp.symbols("_0 _1")
    out = {}
    for op in ("add", "sub", "mul", "div", "neg", *FUNCTIONS):
        arity = GRAPH_OPS[op].arity or 2  # max and min: two at a time, folded by the page
        out[op] = javascript(Form(GRAPH_OPS[op].sym(list(x[:arity]), None), None, x[:arity]))
    out["pow"] = javascript(Form(sp.Pow(x[0], x[1]), None, x))
    return out


def _twelve(x: float) -> float | None:
    """A slip's value to 12 significant figures (the grade compares to 1e-9): a smaller page, the same decision."""
    return float(f"{x:.12g}") if math.isfinite(x) else None


def formula_data(quiz: Quiz) -> dict[str, Any]:
    """The formula mode's data: the typed names and their values at every point (the walk's own, then the
    seeded random ones), and for each asked formula its right values there and every slip the grading core
    tries, with its values (``FormulaGrading.table``)."""
    from ..spec.graph import MAX_NODES
    from ..spec.graphrules import FUNCTIONS
    from . import formulas
    from .symquiz import FormulaQuiz

    fq = FormulaQuiz(quiz)
    F = quiz.grader.formulas
    names = sorted(F.known)
    asked = []
    for n, q in enumerate(fq.questions, 1):
        right, slips = F.table(q.key)
        asked.append(
            {
                "n": n,
                "name": formulas.typed_name(q.key),
                "reference": fq.reference(q.key),
                "uses": sorted(map(str, F.reference(q.key).free_symbols)),
                "right": [x if math.isfinite(x) else None for x in right],
                "slips": [[slip, detail, [_twelve(x) for x in theirs]] for slip, detail, theirs in slips],
            }
        )
    return {
        "names": names,
        "worlds": [[w[F.known[n]] if math.isfinite(w[F.known[n]]) else None for n in names] for w in F.worlds],
        "questions": asked,
        "slips": formulas.SLIPS,
        "functions": list(FUNCTIONS),
        "tries": quiz.tries,
        "limits": {
            "chars": formulas.MAX_FORMULA,
            "exponent": formulas.MAX_EXPONENT,
            "nodes": MAX_NODES,
            "relative": formulas.RELATIVE,
        },
    }


def _share(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _bound(x: float | None) -> float | None:
    """A guard's bound as JSON: an infinite one is no bound."""
    return None if x is None or not math.isfinite(x) else x


def _prefix(payload: str, code: str) -> str:
    """A generated id for the page's root: the same network gives the same page, byte for byte."""
    return "bt-sc-" + hashlib.sha256((payload + code).encode("utf-8")).hexdigest()[:12]


def script_text(root: str, formulas: list[str]) -> str:
    """The page's one script: its root's id and its formulas (both generated), then the fixed grader."""
    head = f'var BT_ROOT = "{root}";\nvar BT_F = [\n' + ",\n".join(formulas) + "\n];\n"
    return "(function () {\n" + head + static_script(ROUNDING_SCRIPT) + static_script(SCRIPT) + "})();\n"


def formula_script(root: str, ops: dict[str, str]) -> str:
    """The formula mode's one script: its root's id and the grammar's operations (generated), then the fixed
    reader and grader."""
    head = f'var BT_ROOT = "{root}";\nvar BT_OPS = {{\n' + ",\n".join(f"{k}: {v}" for k, v in ops.items()) + "\n};\n"
    return "(function () {\n" + head + static_script(FORMULA_SCRIPT) + "})();\n"


def _context(quiz: Quiz, standalone: bool, symbolic: bool = False) -> dict[str, Any]:
    from markupsafe import Markup

    from ..render import diagram
    from ..render.lines import line_view, writer
    from ..render.notation import text_name

    if quiz.graph is not None:
        return _graph_context(quiz, standalone)
    walk = quiz.walk
    net = quiz.network
    fw = writer(walk, "web")
    if symbolic:
        from .symquiz import FormulaQuiz

        payload = formula_data(quiz)
        ops = _ops_js()
        payload_json = script_json(payload)
        root = _prefix(payload_json, "\n".join(ops.values()))
        script = formula_script(root, ops)
        asked = [(n, q) for n, q in enumerate(FormulaQuiz(quiz).questions, 1)]
    else:
        payload, formulas = data(quiz)
        payload_json = script_json(payload)
        root = _prefix(payload_json, "\n".join(formulas))
        script = script_text(root, formulas)
        asked = [(q.number, q) for q in quiz.questions]
    if isinstance(walk, MapWalk):  # feature maps and kernels as grids of their given numbers
        from ..render.maps import given_grids_html

        picture = given_grids_html(walk)
    else:
        drawn = quiz.drawing()
        picture = diagram.svg(diagram.layout(drawn, fw if drawn is walk else writer(drawn, "web")))
    sections = []
    for number, q in asked:
        if not sections or sections[-1]["name"] != q.section:
            sections.append({"name": q.section, "title": SECTION_TITLES[q.section], "questions": []})
        sections[-1]["questions"].append(
            {
                "number": number,
                "label": fw.label(q.key, "web"),
                "typed": typed_name(q.key),
                "line": line_view(fw, walk.quantities, q.key, "web"),
            }
        )
    role = {"input": "input", "rate": "learning rate"}
    return {
        "standalone": standalone,
        "root": root,
        "title": net.title,
        "description": net.description,
        "conventions": net.conventions.describe(),
        "grading": quiz.tolerance.describe(),
        "tries": quiz.tries,
        "hint_cost": _hint_words(quiz),
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
                        if g.kind == "weight" and g.neuron
                        else f"{g.kind} of {g.neuron}"
                        if g.kind in ("bias", "target", "scale", "shift") and g.neuron
                        else g.kind
                        if g.kind in ("weight", "bias")
                        else role.get(g.kind, g.kind)
                        if g.kind != "rate" or g.key == "eta"
                        else "given",
                    }
                    for g in items
                ],
            }
            for title, items in quiz.givens()
        ],
        "graph": False,
        "assignments": [],
        "activations": [f"{layer_activation(l)}: {rules.ACTIVATIONS[layer_activation(l)].summary}" for l in net.layers],
        "loss": net.loss_rule.description,
        "diagram": Markup(picture),  # built from escaped parts by diagram.svg or maps.given_grids_html
        "sections": sections,
        "count": len(asked),
        "symbolic": symbolic,
        "functions": ", ".join(payload["functions"]) if symbolic else "",
        "data_json": Markup(payload_json),
        "script": Markup(script),
        "csp": policy(script),
    }


def _graph_context(quiz: Quiz, standalone: bool) -> dict[str, Any]:
    """A graph's page: its leaves and assignments instead of a network's diagram (the graph's picture would
    show every value asked), every gate's value and every node's gradient as boxes."""
    from markupsafe import Markup

    from ..render.graph import writer
    from ..render.lines import line_view

    g = quiz.graph
    walk = quiz.walk.walk
    payload, formulas = data(quiz)
    payload_json = script_json(payload)
    root = _prefix(payload_json, "\n".join(formulas))
    script = script_text(root, formulas)
    fw = writer(walk, "web")
    sections = []
    for q in quiz.questions:
        if not sections or sections[-1]["name"] != q.section:
            sections.append({"name": q.section, "title": quiz.section_title(q.section), "questions": []})
        sections[-1]["questions"].append(
            {"number": q.number, "label": fw.label(q.key, "web"), "line": line_view(fw, walk.quantities, q.key, "web")}
        )
    seed = f"the given upstream gradient {g.upstream:g}" if g.given_upstream else "1"
    return {
        "standalone": standalone,
        "root": root,
        "title": g.title,
        "description": g.description,
        "conventions": f"exact arithmetic; the output {g.output} is seeded with {seed}",
        "grading": quiz.tolerance.describe(),
        "tries": quiz.tries,
        "hint_cost": _hint_words(quiz),
        "digits": quiz.digits,
        "origin": quiz.origin,
        "graph": True,
        "symbolic": False,
        "givens": [
            {
                "title": "Leaves",
                "rows": [
                    {"label": fw.label(n.name, "web"), "value": plain_value(n.value), "role": "leaf"} for n in g.leaves
                ],
            }
        ],
        "assignments": [f"{k} = {v}" for k, v in g.expressions.items()],
        "activations": [],
        "loss": "",
        "diagram": "",
        "sections": sections,
        "count": len(quiz.questions),
        "data_json": Markup(payload_json),
        "script": Markup(script),
        "csp": policy(script),
    }


def _hint_words(quiz: Quiz) -> str:
    if not quiz.hint_cost:
        return "Hints are free."
    return (
        "The Hint button climbs a ladder (the formula, your own values, the worked line); each rung, and opening "
        f"the worked line, costs {_share(quiz.hint_cost)} of the question's point."
    )


def fragment(quiz: Quiz) -> str:
    """The self-check as one ``div`` with its scoped style and script: a notebook cell's HTML output."""
    return render_template(TEMPLATE, _context(quiz, False), autoescape=True)


def page(quiz: Quiz, symbolic: bool = False) -> str:
    """The self-check as one self-contained offline HTML file; ``symbolic``: its formula mode (a network's)."""
    return render_template(TEMPLATE, _context(quiz, True, symbolic), autoescape=True)
