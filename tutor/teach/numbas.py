"""The Numbas export: worksheet variants as a Numbas exam, whose adaptive marking grades a later box on the
student's own earlier answers (carried forward), packaged as the SCORM zip that Moodle, Canvas and Blackboard
import when Numbas's compiler is at hand.

Each variant is one question: its statement is the network (diagram, wiring, given values, formulas, the rounding
rule), each box one number-entry part. Every quantity of the step is a question variable whose definition is its
derivation's form printed in Numbas's expression language (JME) by ``JMEPrinter`` and rounded to the sheet's
decimals as the grading core rounds (``handround``: half away from zero), as the sheet tells the student to carry
values. A box's key and tolerance are the sheet's stated rule (see ``definitions``): its form over the carried
values, rounded to the tolerance's decimals or significant figures, right within one unit of that last place.
When an answer is not right, Numbas marks it again with the variables of the earlier boxes it is computed from
(the core's ``upstream_known``) replaced by the student's answers to them (``variableReplacements``, strategy
"originalfirst", no penalty), so one slip costs one box, as in the terminal quiz. An earlier answer no network
could produce (the core's plausibility guard, ``Grader.implausible``) is not carried; unlike the quiz, a box
computed from such an answer is not itself refused as a source for the boxes after it. The values the grading
core's misconceptions give are 0-mark alternative answers whose message names the mistake (``lms.boxes``).

Numbas is not on PyPI: ``source`` writes the exam in the JSON form its editor and compiler read (a ``.exam``
file); ``compile_scorm`` runs the compiler of a Numbas checkout (``NUMBAS_HOME`` or ``--numbas-compiler``) on it.

Escaping: no text a user wrote reaches JME (the variables are named ``v1``, ``raw1``, ``key1``, ... by the walk's
order and numbers are printed by ``plain_value``). In HTML, Numbas substitutes ``{expression}`` in text and MathJax reads
``$`` and ``\\(``; so outside the formulas every ``{``, ``}``, ``$`` and backslash is written as a formula of its
own (``\\(\\{\\)``, shown as the character itself), where neither substitutes anything; labels reach the formulas
LaTeX-escaped by the notation, and ElementTree escapes the HTML.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from sympy.printing.str import StrPrinter

from ..spec.errors import TutorError
from . import lms
from .grading import Grader
from .quiz import plain_value

if TYPE_CHECKING:
    from .worksheet import Variant

# The first line of an exam file: the last migration of the exam format that this export writes (Numbas's
# compiler migrates older files up to its own from this name; bin/examparser/migrations.py).
VERSION_LINE = "// Numbas version: finer_feedback_settings"
TITLE = "Backpropagation worksheet"
SUFFIXES = (".exam", ".zip")
# The slack ``Tolerance.accepts`` allows for decimals stored in binary (0.5934 - 0.5933 > 0.0001 in floats).
SLACK = 1 + 1e-9


# -- JME --------------------------------------------------------------------------------------------------------


class JMEPrinter(StrPrinter):
    """SymPy expressions in Numbas's JME: the symbols by the names given, powers with ``^``, ``ln`` for the
    natural logarithm, ``if(c, a, b)`` for a case distinction; a function JME has no counterpart for is refused
    (``TutorError``)."""

    _FUNCTIONS = {"exp": "exp", "log": "ln", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "sqrt": "sqrt"}
    _FUNCTIONS |= {"Abs": "abs", "sign": "sign", "atan": "arctan", "sin": "sin", "cos": "cos"}

    def __init__(self, names: dict):
        super().__init__({"order": "none"})
        self._names = names

    def _print_Symbol(self, expr):
        name = self._names.get(expr)
        if name is not None:
            return name
        try:  # a number written as a symbol in a derived form (see grading._evaluable)
            return self._number(float(expr.name))
        except ValueError:
            raise TutorError(f"the form uses {expr.name!r}, which the exam does not define", "--numbas") from None

    def _number(self, x: float) -> str:
        if not math.isfinite(x):
            raise TutorError(f"the form holds the number {x}, which JME cannot write", "--numbas")
        s = plain_value(x)
        return f"({s})" if x < 0 else s

    def _print_Float(self, expr):
        return self._number(float(expr))

    def _print_Integer(self, expr):
        return f"({expr.p})" if expr.p < 0 else str(expr.p)

    def _print_Rational(self, expr):
        return f"({expr.p}/{expr.q})"

    def _print_Exp1(self, expr):
        return "e"

    def _print_Pi(self, expr):
        return "pi"

    def _print_Pow(self, expr, rational=False):
        import sympy as sp

        base, e = expr.args
        if e == sp.S.Half:
            return f"sqrt({self._print(base)})"
        if e == -1:
            return f"1/({self._print(base)})"
        return f"({self._print(base)})^({self._print(e)})"

    def _print_Function(self, expr):
        name = self._FUNCTIONS.get(type(expr).__name__)
        if name is None:
            raise TutorError(f"the function {type(expr).__name__} has no counterpart in Numbas's JME", "--numbas")
        return f"{name}(" + ", ".join(self._print(a) for a in expr.args) + ")"

    _print_exp = _print_log = _print_tanh = _print_sinh = _print_cosh = _print_Abs = _print_Function
    _print_sign = _print_atan = _print_sin = _print_cos = _print_Function

    def _print_MinMaxBase(self, expr):
        name = "max" if type(expr).__name__ == "Max" else "min"
        args = [self._print(a) for a in expr.args]
        out = args[0]
        for a in args[1:]:  # JME's max and min take two numbers
            out = f"{name}({out}, {a})"
        return out

    _print_Max = _print_Min = _print_MinMaxBase

    def _print_Piecewise(self, expr):
        import sympy as sp

        *cases, (last, cond) = expr.args
        out = self._print(last) if cond in (True, sp.true) else f"if({self._print(cond)}, {self._print(last)}, nan)"
        for value, c in reversed(cases):
            out = f"if({self._print(c)}, {self._print(value)}, {out})"
        return out

    def _print_Relational(self, expr):
        op = {"==": "=", "!=": "<>"}.get(expr.rel_op, expr.rel_op)
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_BooleanTrue(self, expr):
        return "true"

    def _print_BooleanFalse(self, expr):
        return "false"

    def emptyPrinter(self, expr):
        raise TutorError(f"{type(expr).__name__} has no counterpart in Numbas's JME", "--numbas")


def jme(expr, names: dict) -> str:
    """``expr`` in JME, its symbols named by ``names`` (SymPy symbol -> JME name)."""
    return JMEPrinter(names).doprint(expr)


# -- text for Numbas's HTML ---------------------------------------------------------------------------------

_MATH = re.compile(r"(\\\(.*?\\\))", re.S)
_SPECIAL = {"{": r"\(\{\)", "}": r"\(\}\)", "$": r"\(\$\)", "\\": r"\(\backslash\)"}


def text(s: str) -> str:
    """Text outside the formulas as Numbas shows it literally: ``{``, ``}``, ``$`` and ``\\`` each a formula of its
    own (Numbas substitutes variables into braces in text, MathJax starts formulas at ``$`` and ``\\(``)."""
    return "".join(_SPECIAL.get(c, c) for c in s)


def content(s: str) -> str:
    """Text that holds formulas in ``\\( \\)`` (written by the tutor, labels LaTeX-escaped): the text between
    them as ``text``."""
    return "".join(part if i % 2 else text(part) for i, part in enumerate(_MATH.split(s)))


def html(element: ET.Element) -> str:
    """An element as XHTML (Numbas's runtime reads content as XML), every text outside formulas as ``content``."""
    for e in element.iter():
        if e.text:
            e.text = content(e.text)
        if e.tail:
            e.tail = content(e.tail)
    return ET.tostring(element, encoding="unicode", method="xml")


# -- the exam ---------------------------------------------------------------------------------------------------


def _variable(i: int) -> str:
    return f"v{i + 1}"


# The question's JME functions (name -> parameters, definition). ``handround`` is the grading core's rounding
# (``round_half_away``): the value's 15 significant figures rounded half away from zero, to ``d`` decimals, or
# for a negative ``d`` to a multiple of 10^-d (Numbas's own precround rounds a negative tie towards zero).
# ``sfplaces`` is the number of decimals that shows ``x`` to ``s`` significant figures.
FUNCTIONS = {
    "handround": (
        ("x", "d"),
        "if(d >= 0, sign(x)*precround(siground(abs(x), 15), d), "
        "sign(x)*precround(siground(abs(x)/10^(-d), 15), 0)*10^(-d))",
    ),
    "sfplaces": (("x", "s"), "if(x = 0, s, s - 1 - floor(log(abs(x))))"),
}


def _functions() -> dict:
    return {
        name: {"parameters": [[a, "number"] for a in params], "type": "number", "language": "jme", "definition": d}
        for name, (params, d) in FUNCTIONS.items()
    }


def _given(v: Variant) -> set[str]:
    """The computed quantities the sheet gives as numbers (with --blanks, the sections that are not boxes)."""
    boxes = {q.key for q in v.questions}
    return {q.key for q in (v.all_questions or v.questions) if q.key not in boxes and not q.copies}


def _needed(v: Variant) -> dict[str, None]:
    """The quantities the boxes are computed from (through quantities the sheet does not give), in the walk's
    order, the boxes included."""
    walk = v.walk
    boxes = {q.key for q in v.questions}
    shown = _given(v)
    needed: set[str] = set()

    def need(k: str) -> None:
        if k in needed:
            return
        q = walk.quantities[k]
        if q.form is not None and k not in shown:
            for a in q.args:
                need(a)
        needed.add(k)

    for k in boxes:
        need(k)
    return dict.fromkeys(k for k in walk.quantities if k in needed)


def definitions(v: Variant) -> dict[str, str]:
    """The question's variables, by JME name, in an order that defines each before its use. ``v<i>`` is the i-th
    quantity of the walk as the sheet carries it: a given value (and a computed one the sheet gives) as its
    number, a computed one as its form of the other variables, rounded to the sheet's decimals. A box has
    ``raw<i>`` too, its form over the carried values before rounding, and ``key<i>`` and ``tol<i>``, its key and
    tolerance by the sheet's stated rule (the grading core's: ``raw`` rounded half away from zero to the
    tolerance's decimals or significant figures, right within one unit of that last place; ``dp<i>`` holds the
    decimals of a key to significant figures). Numbas recomputes every variable after it replaces a box's
    ``v<i>`` by the student's answer (adaptive marking), so a later key follows the student's own values."""
    walk = v.walk
    digits = v.made.network.conventions.digits
    tol = v.tolerance
    names = {k: _variable(i) for i, k in enumerate(walk.quantities)}
    boxes = {q.key for q in v.questions}
    shown = _given(v)
    out: dict[str, str] = {}
    for k in _needed(v):
        q = walk.quantities[k]
        name = names[k]
        if q.form is None or k in shown:
            out[name] = plain_value(q.value)
            continue
        body = jme(q.form.expr, {p: names[a] for p, a in zip(q.form.placeholders, q.args)})
        carried = body if digits is None else f"handround({body}, {digits})"
        if k not in boxes:
            out[name] = carried
            continue
        n = name[1:]
        out[f"raw{n}"] = body
        out[name] = carried if digits is None else f"handround(raw{n}, {digits})"
        if tol.mode == "dp":
            out[f"key{n}"] = name if tol.places == digits else f"handround(raw{n}, {tol.places})"
            out[f"tol{n}"] = plain_value(10.0**-tol.places)
        else:  # the decimals of the first rounding's significant figures (0.0009996 becomes 0.00100)
            out[f"dp{n}"] = f"sfplaces(handround(raw{n}, sfplaces(raw{n}, {tol.places})), {tol.places})"
            out[f"key{n}"] = f"handround(raw{n}, dp{n})"
            out[f"tol{n}"] = f"10^(-dp{n})"
    return out


def _use_condition(grader: Grader, key: str) -> str:
    """The grading core's plausibility guard of ``key`` (``Grader.implausible``: its range, and sizes from a
    hundredth to a hundred times the right one) as a condition on the student's number: an answer outside it (a
    sigmoid output of 1.3) is not carried into later boxes."""
    lo, hi, lo_open, hi_open, _ = grader.guard(key)
    most, least = grader.size_bounds(key)
    terms = []
    if lo is not None and math.isfinite(lo):  # a relu output's range is [0, inf)
        terms.append(f"studentNumber {'>' if lo_open else '>='} {_num(lo)}")
    if hi is not None and math.isfinite(hi):
        terms.append(f"studentNumber {'<' if hi_open else '<='} {_num(hi)}")
    terms.append(f"abs(studentNumber) <= {_num(most)}")
    if least > 0:
        terms.append(f"abs(studentNumber) >= {_num(least)}")
    return " and ".join(terms)


def _number_part(prompt: str, lo: str, hi: str) -> dict:
    return {
        "type": "numberentry",
        "prompt": prompt,
        "marks": 1,
        "minValue": lo,
        "maxValue": hi,
        "correctAnswerFraction": False,
        "allowFractions": False,
        "mustBeReduced": False,
        "mustBeReducedPC": 0,
        "precisionType": "none",
        "precision": 0,
        "precisionPartialCredit": 0,
        "strictPrecision": False,
        "showPrecisionHint": False,
        "showFractionHint": False,
        "notationStyles": ["plain", "en"],
        "correctAnswerStyle": "plain",
        "showCorrectAnswer": True,
        "showFeedbackIcon": True,
        "scripts": {},
        "variableReplacements": [],
        "variableReplacementStrategy": "originalfirst",
        "adaptiveMarkingPenalty": 0,
        "customMarkingAlgorithm": "",
        "extendBaseMarkingAlgorithm": True,
        "unitTests": [],
    }


def question(v: Variant) -> dict:
    """One variant as a Numbas question: the network as its statement, a number-entry part a box."""
    walk = v.walk
    defs = definitions(v)
    names = {k: _variable(i) for i, k in enumerate(walk.quantities)}
    boxes = lms.boxes(v)
    digits = v.made.network.conventions.digits
    grader = Grader(walk, v.tolerance, asked=[b.key for b in boxes], digits=digits)
    part_of = {b.key: f"p{i}" for i, b in enumerate(boxes)}
    # what the student gives or is given before a box: the core's upstream_known stops there
    before: dict[str, None] = dict.fromkeys(_given(v))
    slack = plain_value(SLACK)
    parts = []
    for b in boxes:
        n = names[b.key][1:]
        prompt = html(_p(f"Box {b.number} of {len(boxes)}: compute \\({b.tex}\\)."))
        part = _number_part(prompt, f"key{n} - tol{n}*{slack}", f"key{n} + tol{n}*{slack}")
        shown_places = str(v.tolerance.places) if v.tolerance.mode == "dp" else f"max(dp{n}, 0)"
        part["displayAnswer"] = f"dpformat(key{n}, {shown_places})"
        # the earlier boxes the key is computed from, through quantities the sheet does not give (the core's)
        part["variableReplacements"] = [
            {"variable": names[d], "part": part_of[d], "must_go_first": False}
            for d in grader.upstream_known(b.key, before)
            if d in part_of
        ]
        before[b.key] = None
        # every part states its condition: Numbas's runtime takes a missing one for "0", which is no condition
        part["adaptiveMarkingUseCondition"] = _use_condition(grader, b.key)
        part["adaptiveMarkingNotUsedMessage"] = "no network gives this value here"
        # a misconception: an alternative answer worth no marks whose message names the mistake
        part["alternatives"] = [
            {
                "type": "numberentry",
                "marks": 0,
                "minValue": _num(w.value - b.tolerance * SLACK),
                "maxValue": _num(w.value + b.tolerance * SLACK),
                "notationStyles": ["plain", "en"],
                "alternativeFeedbackMessage": html(_p(w.feedback)),
                "useAlternativeFeedback": False,
            }
            for w in b.wrong
        ]
        parts.append(part)
    statement = lms.network_html(v)
    statement.insert(1, _diagram(v))
    advice = ET.Element("div")
    for b in boxes:
        ET.SubElement(advice, "p").text = f"Box {b.number}: \\({b.worked}\\)"
    return {
        "name": lms.variant_name(v),
        "tags": [],
        "metadata": {"description": "", "licence": "None specified"},
        "statement": html(statement),
        "advice": html(advice),
        "rulesets": {},
        "extensions": [],
        "builtin_constants": {"e": True, "pi,\u03c0": True, "i": False},
        "constants": [],
        "variables": {
            name: {
                "name": name,
                "group": "Ungrouped variables",
                "definition": d,
                "description": "",
                "templateType": "anything",
                "can_override": False,
            }
            for name, d in defs.items()
        },
        "variablesTest": {"condition": "", "maxRuns": 100},
        "ungrouped_variables": list(defs),
        "variable_groups": [],
        "functions": _functions(),
        "preamble": {"js": "", "css": ""},
        "parts": parts,
        "partsMode": "all",
        "maxMarks": 0,
        "objectives": [],
        "penalties": [],
        "objectiveVisibility": "always",
        "penaltyVisibility": "always",
    }


def _num(x: float) -> str:
    return JMEPrinter({})._number(x)


def _p(*sentences: str) -> ET.Element:
    p = ET.Element("p")
    p.text = " ".join(sentences)
    return p


def _diagram(v: Variant) -> ET.Element:
    """The network's drawing as an image of the statement (a data URI: the exam needs no other file)."""
    p = ET.Element("p")
    data = base64.b64encode(lms.diagram_svg(v).encode("utf-8")).decode("ascii")
    ET.SubElement(
        p,
        "img",
        src=f"data:image/svg+xml;base64,{data}",
        alt="Diagram of the network: inputs on the left, each weight on its edge, biases below the neurons",
        style="max-width: 100%",
    )
    return p


def exam(variants: Iterable[Variant], title: str = TITLE) -> dict:
    """The exam: one question a variant, each student given one of them at random, answers marked as they are
    submitted, the worked lines shown in review."""
    return exam_of([question(v) for v in variants], title)


def exam_of(questions: list[dict], title: str = TITLE) -> dict:
    """The exam of the variants' questions (made in a worksheet's worker processes), in order."""
    return {
        "name": title,
        "metadata": {"description": "", "licence": "None specified"},
        "duration": 0,
        "percentPass": 0,
        "showQuestionGroupNames": False,
        "showstudentname": True,
        "shuffleQuestionGroups": False,
        "allowPrinting": True,
        "question_groups": [
            {
                "name": "Variants",
                "pickingStrategy": "random-subset" if len(questions) > 1 else "all-ordered",
                "pickQuestions": 1,
                "questions": questions,
            }
        ],
        "navigation": {
            "allowregen": False,
            "reverse": True,
            "browse": True,
            "allowsteps": True,
            "showfrontpage": False,
            "showresultspage": "oncompletion",
            "navigatemode": "sequence",
            "onleave": {"action": "none", "message": ""},
            "preventleave": False,
            "typeendtoleave": False,
            "startpassword": "",
            "autoSubmit": True,
            "allowAttemptDownload": False,
            "downloadEncryptionKey": "",
        },
        "timing": {
            "allowPause": True,
            "timeout": {"action": "none", "message": ""},
            "timedwarning": {"action": "none", "message": ""},
        },
        "feedback": {
            "showactualmarkwhen": "always",
            "showtotalmarkwhen": "always",
            "showanswerstatewhen": "always",
            "showpartfeedbackmessageswhen": "always",
            "enterreviewmodeimmediately": True,
            "showexpectedanswerswhen": "inreview",
            "showadvicewhen": "inreview",
            "allowrevealanswer": False,
            "advicethreshold": 0,
            "intro": html(
                _p(
                    "Work through the boxes in order. A box is marked on your own earlier answers too: a slip in one "
                    "box costs that box only."
                )
            ),
            "end_message": "",
            "reviewshowscore": True,
            "reviewshowfeedback": True,
            "reviewshowexpectedanswer": True,
            "reviewshowadvice": True,
            "feedbackmessages": [],
        },
        "diagnostic": {"knowledge_graph": {"topics": [], "learning_objectives": []}, "script": "diagnosys"},
        "contributors": [],
        "extensions": [],
        "custom_part_types": [],
        "resources": [],
    }


def source(variants: Iterable[Variant], title: str = TITLE) -> str:
    """The exam as a ``.exam`` file (see ``source_of``)."""
    return source_of([question(v) for v in variants], title)


def source_of(questions: list[dict], title: str = TITLE) -> str:
    """The ``.exam`` file of the questions: the version line, then the exam as JSON (keys sorted: the same
    variants give the same bytes). ``<``, ``>`` and ``&`` are written as JSON escapes: the compiler puts the
    source in a script element of the exam's page, which no text in it may close."""
    body = json.dumps(exam_of(questions, title), indent=1, sort_keys=True, ensure_ascii=False)
    for c in "<>&":
        body = body.replace(c, f"\\u{ord(c):04x}")
    return VERSION_LINE + "\n" + body + "\n"


# -- the compiler -----------------------------------------------------------------------------------------------


def compiler(explicit: str | Path | None = None) -> Path | None:
    """The Numbas checkout to compile with: ``explicit`` (``--numbas-compiler``), else ``NUMBAS_HOME``, else None.
    A folder without ``bin/numbas.py`` is refused."""
    given = explicit if explicit is not None else os.environ.get("NUMBAS_HOME") or None
    if given is None:
        return None
    home = Path(given)
    place = "--numbas-compiler" if explicit is not None else "NUMBAS_HOME"
    if not (home / "bin" / "numbas.py").is_file():
        raise TutorError(f"{_short(str(home))} holds no bin/numbas.py; give a Numbas checkout", place)
    return home


def compile_command(home: Path | str, exam_file: Path | str, output: Path | str) -> list[str]:
    """Numbas's compiler on ``exam_file``: a SCORM package (``-s``) as one zip (``-z``) at ``output``."""
    home = Path(home)
    return [sys.executable, str(home / "bin" / "numbas.py"), "-p", str(home), "-s", "-z", "-o", str(output)] + [
        str(exam_file)
    ]


def written(exam_file: Path | str) -> str:
    """How the CLI names the file ``--numbas`` wrote: a SCORM zip as it is, an exam's source with how to compile
    it into the zip."""
    if str(exam_file).lower().endswith(".zip"):
        return str(exam_file)
    out = Path(exam_file).with_suffix(".zip")
    return (
        f"{exam_file} (to compile it into a SCORM zip with Numbas's compiler, github.com/numbas/Numbas: "
        f"python NUMBAS_HOME/bin/numbas.py -p NUMBAS_HOME -s -z -o {out} {exam_file})"
    )


def compile_scorm(exam_source: str, home: Path, extra: Iterable[str] = ()) -> bytes:
    """The SCORM zip Numbas's compiler makes of ``exam_source`` (``extra``: more options for the compiler, e.g.
    ``--mathjax-4-url``)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "exam.exam"
        src.write_text(exam_source, encoding="utf-8")
        out = Path(tmp) / "exam.zip"
        cmd = compile_command(home, src, out)
        cmd[-1:-1] = list(extra)
        try:
            run = subprocess.run(cmd, cwd=home, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TutorError(f"Numbas's compiler did not run ({exc})", "--numbas") from None
        if run.returncode != 0 or not out.is_file():
            said = " ".join((run.stderr or run.stdout).split())[-200:]
            raise TutorError(f"Numbas's compiler failed: {said}", "--numbas")
        return reproducible(out.read_bytes(), exam_source)


_BUILD_TIME = re.compile(rb"build_time=[0-9.]+")


def reproducible(package: bytes, exam_source: str) -> bytes:
    """The compiler's zip made byte-identical for the same exam: its files in name order, each dated 1980-01-01,
    and the build time the compiler writes into its pages (a query string that makes browsers load a new build's
    scripts afresh) replaced by a digest of the exam's source, which serves the same end."""
    import hashlib
    import io
    import zipfile

    stamp = b"build_time=" + hashlib.sha256(exam_source.encode("utf-8")).hexdigest()[:16].encode("ascii")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in sorted(src.namelist()):
            data = src.read(name)
            if name.endswith((".html", ".js", ".css")):
                data = _BUILD_TIME.sub(stamp, data)
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    return out.getvalue()


def document(questions: list[dict], path: Path, home: Path | None, title: str = TITLE) -> str | bytes:
    """What ``--numbas PATH`` holds: the exam's source for a .exam file, the SCORM zip compiled by the Numbas
    checkout ``home`` for a .zip file."""
    text = source_of(questions, title)
    if path.suffix.lower() != ".zip":
        return text
    check_target(path, home)
    return compile_scorm(text, home)


def check_target(path: str | Path, home: Path | None) -> None:
    """Refuse, before any work, an output Numbas cannot be written to: a suffix other than .exam or .zip, or a zip
    without a compiler to make it."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise TutorError("ends in .exam (the exam's source) or .zip (the SCORM package)", f"--numbas {_short(str(p))}")
    if p.suffix.lower() == ".zip" and home is None:
        raise TutorError(
            "a SCORM zip needs Numbas's compiler: set NUMBAS_HOME to a Numbas checkout or give --numbas-compiler "
            "DIR, or write the exam's source to a .exam file",
            f"--numbas {_short(str(p))}",
        )


def _short(s: str) -> str:
    return s if len(s) <= 60 else s[:57] + "..."
