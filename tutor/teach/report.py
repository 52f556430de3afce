"""The class report: students' quiz results files (``quiz --results``) and a Moodle quiz's responses export (CSV)
aggregated into the questions most missed and the misconceptions most named, over the class, per question and
per variant, as Markdown or an HTML page (with its Content-Security-Policy and an inline SVG bar chart).

A results file gives, for each question asked, whether it was credited and the misconception the grading core
named (``diagnosis``). Moodle's Responses report gives each attempt's response and, when "Right answer" is shown,
the right answer of each question (a Cloze question's parts as ``part 1: 0.5933; part 2: ...``): a response is
missed when it is empty or further than one unit of the right answer's last decimal from it, the tolerance every
export of ``worksheet`` states (the grading core's ``sheet_key``). Moodle does not export the feedback shown, so
the misconceptions come from the results files.

A question is its box number (a Cloze part, a numerical question's slot, a quiz question's number): the boxes of
a worksheet variant and the questions of the quiz that practises it are numbered alike. A variant is the
network a student answered: a quiz's spec or seed, or the variant a Moodle question text names.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ..spec.errors import TutorError
from .grading import MISCONCEPTIONS
from .quiz import FORMAT, GRAPH_FORMAT, MAX_ANSWERS_BYTES

FORMATS = {".md": "md", ".html": "html"}
MAX_FILE_BYTES = 50 * MAX_ANSWERS_BYTES  # a results file, as quiz --resume reads it; a Moodle export as well
CHART_BARS = 15  # the most missed questions drawn in the chart
TOP = 3  # misconceptions listed beside a question or a variant
_RESPONSE = re.compile(r"Response ([0-9]{1,4})")
_RIGHT = re.compile(r"Right answer ([0-9]{1,4})")
_QUESTION = re.compile(r"Question ([0-9]{1,4})")
_PART = re.compile(r"(?:^|;\s*)part ([0-9]{1,4}): ?([^;]*)")
_VARIANT = re.compile(r"Variant ([0-9]{1,4})(?: \(code ([A-Z0-9]{4}-[A-Z0-9]{4})\))?")


@dataclass(frozen=True)
class Response:
    """One answer of one student to one question."""

    student: str  # where it came from (a results file, a row of the Moodle export)
    variant: str
    number: int  # the box number
    label: str  # the quantity, when the source names it ("" for Moodle)
    missed: bool
    misconception: str = ""  # the grading core's id of the misconception named, if any


# -- reading -------------------------------------------------------------------------------------------------------


def _read(path: str | Path, where: str) -> str:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise TutorError(f"is larger than {MAX_FILE_BYTES:,} bytes; give one quiz's results or one export", where)
        return p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TutorError(f"cannot read the file ({exc.strerror or exc})", where) from None
    except UnicodeDecodeError:
        raise TutorError("is not UTF-8 text", where) from None


def results_responses(path: str | Path) -> list[Response]:
    """The answers of one ``quiz --results`` file; anything else is a one-line refusal naming the file."""
    where = str(path)
    try:
        doc = json.loads(_read(path, where))
    except ValueError:
        raise TutorError("is not a quiz's results file (not JSON); give the file quiz --results wrote", where) from None
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, GRAPH_FORMAT):
        raise TutorError(f'is not a quiz\'s results file (no "format": "{FORMAT}")', where)
    questions = doc.get("questions")
    if not isinstance(questions, list):
        raise TutorError("has no 'questions' list; give the file quiz --results wrote", where)
    variant = _variant_of(doc.get("origin"))
    out = []
    for i, q in enumerate(questions, 1):
        bad = f"its question {i} is not a quiz's answer record (number, label, credited, diagnosis)"
        if not isinstance(q, dict):
            raise TutorError(bad, where)
        number, label, credited, d = q.get("number"), q.get("label"), q.get("credited"), q.get("diagnosis")
        if (
            isinstance(number, bool)
            or not isinstance(number, int)
            or not 1 <= number <= 100_000
            or not isinstance(label, str)
            or not isinstance(credited, bool)
            or not (d is None or isinstance(d, dict) and isinstance(d.get("misconception"), str))
        ):
            raise TutorError(bad, where)
        named = d["misconception"] if d is not None and not credited else ""
        if named and named not in MISCONCEPTIONS:
            raise TutorError(f"its question {i} names no misconception this tutor knows ({named[:40]!r})", where)
        out.append(Response(where, variant, number, label[:80], not credited, named))
    return out


def _variant_of(origin: Any) -> str:
    if not isinstance(origin, dict):
        return "unknown network"
    if "spec" in origin:
        return f"spec {str(origin['spec'])[:60]}"
    if isinstance(origin.get("seed"), int):
        return f"seed {origin['seed']}"
    return "unknown network"


def moodle_responses(path: str | Path) -> list[Response]:
    """The responses of a Moodle quiz's Responses report downloaded as CSV, with "Right answer" shown: a response
    is missed when empty or further than one unit of the right answer's last decimal from it."""
    where = f"--moodle-csv {path}"
    rows = list(csv.reader(io.StringIO(_read(path, where))))
    header = rows[0] if rows else []
    responses = {int(m.group(1)): i for i, h in enumerate(header) if (m := _RESPONSE.fullmatch(h.strip()))}
    rights = {int(m.group(1)): i for i, h in enumerate(header) if (m := _RIGHT.fullmatch(h.strip()))}
    texts = {int(m.group(1)): i for i, h in enumerate(header) if (m := _QUESTION.fullmatch(h.strip()))}
    if not responses or set(rights) != set(responses):
        raise TutorError(
            "is not a Moodle Responses report with its right answers: its header needs 'Response 1' and "
            "'Right answer 1' columns (Quiz, Results, Responses: show Response and Right answer, download as CSV)",
            where,
        )
    out = []
    for r, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            if not any(c.strip() for c in row):
                continue
            raise TutorError(f"row {r} has {len(row)} columns, the header {len(header)}", where)
        if all(row[i].strip() in ("", "-") for i in responses.values()):
            continue  # an attempt never answered, or a summary row
        for slot in sorted(responses):
            right, given = row[rights[slot]], row[responses[slot]]
            variant = _moodle_variant(row[texts[slot]] if slot in texts else "")
            keys = _parts(right)
            answers = _parts(given)
            single = list(keys) == [0]
            for part, key in keys.items():
                number = slot if single else part
                missed = not _within(answers.get(part, ""), key)
                out.append(Response(f"{where} row {r}", variant, number, "", missed))
    return out


def _moodle_variant(text: str) -> str:
    m = _VARIANT.search(text)
    if m:
        return f"variant {m.group(1)}" + (f" ({m.group(2)})" if m.group(2) else "")
    return "Moodle quiz"


def _parts(summary: str) -> dict[int, str]:
    """A Cloze response summary's parts by number (``part 1: 0.5; part 2: ...``), or {0: the whole} for one."""
    found = {int(m.group(1)): m.group(2).strip() for m in _PART.finditer(summary)}
    return found or {0: summary.strip()}


def _number(text: str) -> Decimal | None:
    t = text.strip().replace("\u2212", "-")
    if not re.fullmatch(r"[-+]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][-+]?[0-9]{1,3})?", t):
        return None
    try:
        return Decimal(t.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def _within(answer: str, key: str) -> bool:
    """Right within one unit of the key's last decimal (the exports' tolerance), as Moodle's nominal tolerance
    reads it; a key that is not a number (an LMS's own question) counts an identical answer as right."""
    k, a = _number(key), _number(answer)
    if k is None:
        return answer.strip() == key.strip() and bool(key.strip())
    if a is None:
        return False
    unit = Decimal(1).scaleb(k.as_tuple().exponent if isinstance(k.as_tuple().exponent, int) else 0)
    return abs(a - k) <= unit * (1 + Decimal("1e-9"))


# -- aggregating ---------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    answers: int = 0
    missed: int = 0
    named: Counter = field(default_factory=Counter)

    def add(self, r: Response) -> None:
        self.answers += 1
        self.missed += r.missed
        if r.misconception:
            self.named[r.misconception] += 1

    @property
    def share(self) -> float:
        return self.missed / self.answers if self.answers else 0.0


@dataclass(frozen=True)
class Report:
    students: int
    sources: tuple[str, ...]
    total: Tally
    questions: list[tuple[int, str, Tally]]  # (number, label, tally), most missed first
    variants: list[tuple[str, int, Tally, list[tuple[int, str, Tally]]]]  # (variant, students, tally, questions)
    misconceptions: list[tuple[str, int, list[tuple[int, int]]]]  # (id, times, [(question, times)]), most first


def aggregate(responses: Iterable[Response], sources: Iterable[str] = ()) -> Report:
    responses = list(responses)
    total = Tally()
    by_question: dict[int, Tally] = defaultdict(Tally)
    labels: dict[int, Counter] = defaultdict(Counter)
    by_variant: dict[str, Tally] = defaultdict(Tally)
    variant_questions: dict[str, dict[int, Tally]] = defaultdict(lambda: defaultdict(Tally))
    variant_students: dict[str, set[str]] = defaultdict(set)
    where: dict[str, Counter] = defaultdict(Counter)
    for r in responses:
        total.add(r)
        by_question[r.number].add(r)
        if r.label:
            labels[r.number][r.label] += 1
        by_variant[r.variant].add(r)
        variant_questions[r.variant][r.number].add(r)
        variant_students[r.variant].add(r.student)
        if r.misconception:
            where[r.misconception][r.number] += 1

    def label(n: int) -> str:
        return labels[n].most_common(1)[0][0] if labels[n] else f"box {n}"

    def ranked(tallies: dict[int, Tally]) -> list[tuple[int, str, Tally]]:
        return sorted(((n, label(n), t) for n, t in tallies.items()), key=lambda x: (-x[2].share, -x[2].missed, x[0]))

    variants = sorted(by_variant, key=lambda v: (-by_variant[v].share, v))
    return Report(
        students=len({r.student for r in responses}),
        sources=tuple(sources),
        total=total,
        questions=ranked(by_question),
        variants=[(v, len(variant_students[v]), by_variant[v], ranked(variant_questions[v])) for v in variants],
        misconceptions=[
            (m, total.named[m], sorted(where[m].items(), key=lambda x: (-x[1], x[0]))[:TOP])
            for m, _ in sorted(total.named.items(), key=lambda x: (-x[1], x[0]))
        ],
    )


def build(results: Iterable[str | Path], moodle_csv: str | Path | None = None) -> Report:
    responses: list[Response] = []
    sources = []
    for path in results:
        responses += results_responses(path)
        sources.append(str(path))
    if moodle_csv is not None:
        responses += moodle_responses(moodle_csv)
        sources.append(str(moodle_csv))
    if not responses:
        raise TutorError("hold no answered question; give students' quiz --results files or a Moodle export", "report")
    return aggregate(responses, sources)


# -- writing -------------------------------------------------------------------------------------------------------


def _percent(x: float) -> str:
    return f"{100 * x:.0f} %"


def _context(report: Report) -> dict[str, Any]:
    """What both templates show: the tables' rows and the chart's bars (their geometry in the SVG's units)."""

    def named(t: Tally) -> list[tuple[str, int]]:
        return [(MISCONCEPTIONS[m], n) for m, n in sorted(t.named.items(), key=lambda x: (-x[1], x[0]))[:TOP]]

    def rows(questions) -> list[dict[str, Any]]:
        return [
            {
                "number": n,
                "label": label,
                "answers": t.answers,
                "missed": t.missed,
                "share": _percent(t.share),
                "bar": "█" * round(20 * t.share),
                "named": named(t),
            }
            for n, label, t in questions
        ]

    shares = [(f"{n}. {label}", t.share, _percent(t.share)) for n, label, t in report.questions[:CHART_BARS]]
    most = max((n for _, n, _ in report.misconceptions), default=1)
    named_bars = [(MISCONCEPTIONS[m], n / most, str(n)) for m, n, _ in report.misconceptions[:CHART_BARS]]
    return {
        "students": report.students,
        "sources": len(report.sources),
        "answers": report.total.answers,
        "missed": report.total.missed,
        "share": _percent(report.total.share),
        "questions": rows(report.questions),
        "variants": [
            {
                "name": v,
                "students": s,
                "answers": t.answers,
                "missed": t.missed,
                "share": _percent(t.share),
                "worst": rows(qs[:1])[0] if qs else None,
                "named": named(t),
            }
            for v, s, t, qs in report.variants
        ],
        "misconceptions": [
            {"name": MISCONCEPTIONS[m], "id": m, "times": n, "where": [f"{q} (×{k})" for q, k in places]}
            for m, n, places in report.misconceptions
        ],
        "chart": _chart(shares, "Share of answers missed, per question, most missed first", 190),
        "named_chart": _chart(named_bars, "Times each misconception was named, most named first", 420),
    }


def _chart(items: list[tuple[str, float, str]], title: str, left: int) -> dict[str, Any]:
    """A horizontal bar chart's geometry in SVG units: a bar a (label, length from 0 to 1, value shown)."""
    bar_height, gap, width = 18, 6, 360
    bars = [
        {
            "y": i * (bar_height + gap),
            "text_y": i * (bar_height + gap) + 13,
            "width": round(width * length, 1),
            "label": label if len(label) <= left // 6 else label[: left // 6 - 1] + "…",
            "value": value,
            "value_x": left + round(width * length, 1) + 6,
        }
        for i, (label, length, value) in enumerate(items)
    ]
    return {
        "title": title,
        "bars": bars,
        "left": left,
        "width": left + width + 60,
        "height": max(1, len(bars)) * (bar_height + gap),
        "bar_height": bar_height,
    }


@lru_cache(maxsize=None)
def _environment(fmt: str):
    import jinja2

    from ..render.templates import md_escape
    from ..spec.resources import data_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=fmt == "html",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape
    return env


def render(report: Report, fmt: str) -> str:
    """The report as Markdown (``md``) or an HTML page (``html``): every string from a file is escaped."""
    return _environment(fmt).get_template(f"report/report.{fmt}.j2").render(**_context(report))


def format_of(output: str) -> str:
    """The format an output file's suffix chooses."""
    fmt = FORMATS.get(Path(output).suffix.lower())
    if fmt is None:
        raise TutorError("the suffix chooses the format: give a file ending in .md or .html", f"-o {output}")
    return fmt
