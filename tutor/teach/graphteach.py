"""The teaching tools on computational graphs: the quiz, the checker of claimed numbers and a worksheet.

Questions and claims use the graph's stable names: a node's name for its value, ``grad[q]`` for its
gradient (``df/dq`` is read as the same, with ``f`` the output). Grading reuses ``Tolerance``
(``tutor.teach.diagnose``); an answer that follows correctly from the student's own earlier answers is
credited (carried forward), and a wrong one is compared with what three misconceptions of graphs give: the
local derivative taken for the gradient (the upstream factor left out), one edge's contribution where a
fan-out sums several, and a max (min) gate's gradient sent to the other input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..engine.graph import GraphWalk, explain_graph, gate_value, grad_key, local_value
from ..spec.errors import SpecError, TutorError
from ..spec.graph import Graph
from ..spec.rounding import format_fixed
from .diagnose import Tolerance, parse_number
from .quiz import COMMANDS, NUMBER_FORMS, Answer, Feedback, Question

GRAPH_MISCONCEPTIONS = {
    "local_as_gradient": "the local derivative taken for the gradient (the upstream gradient not multiplied in)",
    "missing_fan_out_sum": "one edge's contribution only, where the node feeds several gates and they add up",
    "max_to_other_input": "a max or min gate's gradient sent to the input it did not pick",
}
SECTION_TITLES = {"forward": "Forward pass: every node's value", "backward": "Backward pass: every node's gradient"}


@dataclass(frozen=True)
class Diagnosis:
    misconception: str
    step: str
    detail: str
    value: float

    @property
    def description(self) -> str:
        return GRAPH_MISCONCEPTIONS[self.misconception]


def normalize_key(walk: GraphWalk, key: str) -> str | None:
    """A node name, ``grad[n]`` or ``dF/dn`` (F the output, or L for a given upstream gradient) as a key."""
    key = key.strip()
    g = walk.graph
    names = {n.name for n in g.nodes if n.kind != "constant"}
    if key in names:
        return key
    m = re.fullmatch(r"grad\[(\w+)\]", key)
    if m and m.group(1) in names:
        return grad_key(m.group(1))
    m = re.fullmatch(r"d(\w+)/d(\w+)", key)
    if m and m.group(1) in (g.output, walk.loss_name) and m.group(2) in names:
        return grad_key(m.group(2))
    return None


class World:
    """The graph under a student's own values: what each quantity would be from them."""

    def __init__(self, walk: GraphWalk, known: Mapping[str, float]):
        self.walk, self.known = walk, dict(known)
        self.graph = walk.graph
        self.consumers = self.graph.consumers()
        self.reached = {b.node for b in walk.backward}

    def value(self, key: str) -> float:
        return self.known.get(key, self.walk.value(key))

    def forward_values(self) -> dict[str, float]:
        return {n.name: self.value(n.name) for n in self.graph.nodes}

    def contributions(self, name: str) -> list[tuple[str, int, float, float]]:
        """(gate, position, upstream, local) of every edge from ``name`` back from a gate that reaches the output."""
        vals = self.forward_values()
        out = []
        for gate, k in self.consumers[name]:
            if gate in self.reached:
                out.append((gate, k, self.value(grad_key(gate)), local_value(self.graph.node(gate), k, vals)))
        return out

    def expected(self, key: str) -> float:
        """``key`` recomputed from the student's values of what it is made of."""
        if key.startswith("grad["):
            name = key[5:-1]
            if name == self.graph.output:
                return self.graph.upstream
            return sum(u * lo for _, _, u, lo in self.contributions(name))
        return gate_value(self.graph.node(key), self.forward_values())

    def inputs_of(self, key: str) -> list[str]:
        if key.startswith("grad["):
            name = key[5:-1]
            edges = self.contributions(name)
            # the upstream gradients, and the forward values the local derivatives are taken at
            return [grad_key(g) for g, _, _, _ in edges] + [
                i for g, _, _, _ in edges for i in self.graph.node(g).inputs
            ]
        return list(self.graph.node(key).inputs)

    def diagnose(self, key: str, answer: float, tolerance: Tolerance) -> Diagnosis | None:
        if not key.startswith("grad[") or key[5:-1] == self.graph.output:
            return None
        name = key[5:-1]
        edges = self.contributions(name)

        def near(v: float) -> bool:
            return math.isfinite(v) and tolerance.accepts(answer, v)

        locals_only = sum(lo for _, _, _, lo in edges)
        if any(abs(u - 1) > 1e-12 for _, _, u, _ in edges) and near(locals_only):
            gates = ", ".join(g for g, _, _, _ in edges)
            return Diagnosis("local_as_gradient", key, f"the local derivative of {gates} by {name} alone", locals_only)
        if len(edges) > 1:
            for g, _, u, lo in edges:
                if near(u * lo):
                    return Diagnosis(
                        "missing_fan_out_sum",
                        key,
                        f"{name} feeds {len(edges)} edges; only the one through {g} was counted",
                        u * lo,
                    )
        vals = self.forward_values()
        for g, _, u, lo in edges:
            gate = self.graph.node(g)
            if gate.op in ("max", "min"):
                swapped = sum(uu * ll for gg, _, uu, ll in edges if gg != g) + (u if lo == 0 else 0.0)
                if near(swapped) and not near(self.expected(key)):
                    pick = max if gate.op == "max" else min
                    winner = pick(gate.inputs, key=lambda i: vals[i])
                    return Diagnosis(
                        "max_to_other_input",
                        key,
                        f"{g} = {gate.op}(...) picks {winner}; its gradient went to {name} instead",
                        swapped,
                    )
        return None


def _grade(walk: GraphWalk, key: str, answer: float, tolerance: Tolerance, known: Mapping[str, float]):
    """(verdict, expected from the student's values, earlier wrong values it follows from, diagnosis)."""
    world = World(walk, {k: v for k, v in known.items() if k != key})
    value = walk.value(key)
    expected = world.expected(key)
    if tolerance.accepts(answer, value):
        return "correct", expected, (), None
    if math.isfinite(expected) and tolerance.accepts(answer, expected):
        wrong = tuple(k for k in world.inputs_of(key) if k in known and not tolerance.accepts(known[k], walk.value(k)))
        if wrong:
            return "carried", expected, wrong, None
    return "wrong", expected, (), world.diagnose(key, answer, tolerance)


# -- the quiz -------------------------------------------------------------------------------------------------


class GraphQuiz:
    """A graph's forward values, then its gradients from the output back, one question at a time; the same
    interface as ``tutor.teach.quiz.Quiz`` (``respond`` takes each line the student types)."""

    def __init__(self, graph: Graph, tolerance: Tolerance | None = None, origin: Mapping[str, Any] | None = None):
        self.graph = graph
        self.walk = explain_graph(graph)
        self.tolerance = tolerance or Tolerance("dp", graph.digits)
        self.origin = dict(origin or {})
        from ..render.graph import writer

        fw = writer(self.walk, "text")
        q = self.walk.quantities
        keys = [n.name for n in graph.gates if n.name in {b.node for b in self.walk.backward}]
        keys += [b.gradient for b in self.walk.backward if b.node != graph.output]
        self.questions = []
        for number, key in enumerate(keys, 1):
            quantity = q[key]
            self.questions.append(
                Question(
                    number,
                    grad_key(key[5:-1]) if key.startswith("grad[") else key,
                    "backward" if key.startswith("grad[") else "forward",
                    fw.label(key, "text"),
                    f"{fw.label(key, 'text')} = {fw.formula(quantity, 'text')}",
                    quantity.value,
                    format_fixed(quantity.value, graph.digits),
                    self.tolerance.unit(quantity.value),
                )
            )
        self.answers = [Answer(q) for q in self.questions]
        self.position = 0
        self.ended = ""

    @property
    def current(self) -> Question | None:
        return None if self.ended or self.position >= len(self.questions) else self.questions[self.position]

    def heading(self, q: Question) -> str:
        first = q.number == 1 or self.questions[q.number - 2].section != q.section
        return SECTION_TITLES[q.section] if first else ""

    def prompt(self, q: Question) -> str:
        return f"[{q.number}/{len(self.questions)}] {q.label} = "

    def end(self, why: str) -> None:
        if not self.ended:
            self.ended = why

    def known(self) -> dict[str, float]:
        return {a.question.key: a.value for a in self.answers if a.value is not None}

    def respond(self, text: str) -> Feedback:
        q = self.current
        if q is None:
            return Feedback("over", "The quiz is over.")
        a = self.answers[self.position]
        t = str(text).strip()
        if t.lower() in ("h", "hint", "?"):
            a.hints += 1
            return Feedback("hint", f"Hint: {q.hint}", a)
        if t.lower() in ("s", "skip"):
            a.verdict = "skipped"
            self._advance()
            return Feedback("skipped", f"Skipped: {q.label} = {q.shown}.", a)
        if t.lower() in ("q", "quit", "exit"):
            self.end("quit")
            return Feedback("quit", "Quiz ended.")
        value = parse_number(t)
        if value is None:
            return Feedback("invalid", f"Type a number such as {NUMBER_FORMS}; or {COMMANDS}.")
        verdict, expected, carried, diagnosis = _grade(self.walk, q.key, value, self.tolerance, self.known())
        a.text, a.value, a.verdict = t, value, verdict
        a.expected = expected if math.isfinite(expected) else None
        a.carried_from, a.diagnosis = carried, diagnosis
        self._advance()
        if verdict == "correct":
            return Feedback("graded", f"Right: {q.label} = {q.shown}.", a)
        if verdict == "carried":
            earlier = ", ".join(f"{self._label(k)} = {self._text(k)}" for k in carried)
            return Feedback(
                "graded",
                f"Credited: {t} follows correctly from your earlier answer(s) {earlier}. "
                f"(From the right values, {q.label} = {q.shown}.)",
                a,
            )
        msg = f"Not right: {q.label} = {q.shown}."
        if a.expected is not None and not self.tolerance.accepts(expected, q.value):
            msg += f" From your own earlier answers it would be {format_fixed(expected, self.graph.digits)}."
        if diagnosis is not None:
            msg += f" It looks like {diagnosis.description}: {diagnosis.detail}."
        return Feedback("graded", msg, a)

    def _advance(self) -> None:
        self.position += 1
        if self.position >= len(self.questions):
            self.end("completed")

    def _label(self, key: str) -> str:
        return next((a.question.label for a in self.answers if a.question.key == key), key)

    def _text(self, key: str) -> str:
        return next((a.text or "" for a in self.answers if a.question.key == key), "")

    def intro(self) -> list[str]:
        g = self.graph
        lines = [f"Backprop quiz: {g.title}"]
        if g.description:
            lines.append(g.description)
        lines.append("  Leaves: " + ", ".join(f"{n.name} = {n.value:g}" for n in g.leaves))
        lines.append("  Assignments: " + "; ".join(f"{k} = {v}" for k, v in g.expressions.items()))
        seed = f"the given upstream gradient {g.upstream:g}" if g.given_upstream else "1"
        lines.append(f"  The output {g.output} is seeded with {seed}; ∂/∂n below is the gradient of node n.")
        lines.append(
            f"Grading {self.tolerance.describe()}; an answer that follows from your earlier mistakes is credited."
        )
        lines.append(f"{len(self.questions)} questions. Type each value ({NUMBER_FORMS}), or {COMMANDS}.")
        return lines

    def scores(self) -> list[dict[str, Any]]:
        rows = []
        for s, title in SECTION_TITLES.items():
            mine = [a for a in self.answers if a.question.section == s]
            if mine:
                rows.append(
                    {
                        "section": s,
                        "title": title,
                        "credited": sum(a.credited for a in mine),
                        "carried": sum(a.verdict == "carried" for a in mine),
                        "total": len(mine),
                    }
                )
        return rows

    def summary(self) -> list[str]:
        rows = self.scores()
        width = max(len(r["title"]) for r in rows)
        lines = ["Summary"]
        for r in rows:
            extra = f"   ({r['carried']} credited from an earlier mistake)" if r["carried"] else ""
            lines.append(f"  {r['title']:<{width}}  {r['credited']:>3}/{r['total']:<3}{extra}")
        credited = sum(r["credited"] for r in rows)
        lines.append(f"  {'Total':<{width}}  {credited:>3}/{sum(r['total'] for r in rows):<3}")
        seen = [a for a in self.answers if a.diagnosis is not None]
        if seen:
            lines.append("Misconceptions to look at:")
            lines += [f"  question {a.question.number} ({a.question.label}): {a.diagnosis.description}" for a in seen]
        lines.append(
            "Quiz completed." if self.ended == "completed" else f"Quiz ended ({self.ended or 'not finished'})."
        )
        return lines

    def record(self) -> dict[str, Any]:
        return {
            "format": "backprop-tutor-graph-quiz/1",
            "origin": self.origin,
            "graph": self.graph.title,
            "tolerance": {"policy": self.tolerance.code, "statement": self.tolerance.describe()},
            "ended": self.ended or "not finished",
            "questions": [
                {
                    "number": a.question.number,
                    "key": a.question.key,
                    "label": a.question.label,
                    "value": a.question.value,
                    "answer": a.text,
                    "verdict": a.verdict,
                    "expected": a.expected,
                    "carried_from": list(a.carried_from),
                    "diagnosis": None
                    if a.diagnosis is None
                    else {"misconception": a.diagnosis.misconception, "detail": a.diagnosis.detail},
                }
                for a in self.answers
            ],
            "score": {"credited": sum(a.credited for a in self.answers), "total": len(self.answers)},
            "misconceptions": GRAPH_MISCONCEPTIONS,
        }


# -- checking claimed numbers -------------------------------------------------------------------------------


def check_claims(graph: Graph, claims: list[Mapping[str, Any]], where: str) -> dict[str, Any]:
    """Every claimed number against the engine, at its printed precision, as the checker's report data
    (``tutor.render.check.render_check`` prints it). A claim that follows from earlier wrong claims is marked
    as carried forward; a wrong one names the misconception that gives it, where one does."""
    from ..teach.checker import AGREES, CONVENTION, WRONG

    walk = explain_graph(graph)
    rows = []
    known: dict[str, float] = {}
    parsed = []
    for i, c in enumerate(claims):
        at = f"{where}: claim[{i}]"
        if not isinstance(c, Mapping) or "quantity" not in c or "value" not in c:
            raise SpecError('expected a table with quantity = "..." and value = "..." (a string, as printed)', at)
        key = normalize_key(walk, str(c["quantity"]))
        if key is None:
            names = ", ".join(n.name for n in graph.nodes if n.kind != "constant")
            raise SpecError(
                f"unknown quantity {str(c['quantity'])[:40]!r}; give a node name ({names}), grad[NAME] or d{graph.output}/dNAME",
                at,
            )
        printed = c["value"]
        if not isinstance(printed, str) or parse_number(printed) is None:
            raise SpecError(f'expected the value as printed, a string such as "0.5933", got {printed!r:.40}', at)
        parsed.append((i, c, key, printed, parse_number(printed)))
        known[key] = parse_number(printed)
    wrong_claims: set[str] = set()
    for i, c, key, printed, value in parsed:
        places = len(printed.split(".")[1]) if "." in printed else 0
        tol = Tolerance("dp", min(places, 12))
        true = walk.value(key)
        agrees = format_fixed(true, places) == printed
        world = World(walk, {k: v for k, v in known.items() if k != key})
        expected = world.expected(key)
        carried = tuple(k for k in dict.fromkeys(world.inputs_of(key)) if k in wrong_claims)
        # at printed precision: the claim reads as the value rounded to its decimals
        carried_ok = (
            not agrees and bool(carried) and math.isfinite(expected) and format_fixed(expected, places) == printed
        )
        status = AGREES if agrees else (CONVENTION if carried_ok else WRONG)
        diagnosis = None if status != WRONG else world.diagnose(key, value, tol)
        if not agrees:
            wrong_claims.add(key)
        rows.append(
            {
                "index": i,
                "quantity": str(c["quantity"]),
                "printed": printed,
                "note": str(c.get("note", "")),
                "after_steps": 0,
                "verdict": status,
                "correct": true,
                "correct_printed": format_fixed(true, places),
                "convention": f"carried forward from the claimed {', '.join(carried)}" if status == CONVENTION else "",
                "diagnosis": diagnosis.description if diagnosis else ("" if agrees else "an arithmetic slip"),
                "explanation": diagnosis.detail
                if diagnosis
                else ("" if agrees else f"from the claimed values it would be {format_fixed(expected, places)}"),
                "related": list(carried),
            }
        )
    counts = {s: sum(1 for r in rows if r["verdict"] == s) for s in (AGREES, CONVENTION, WRONG)}
    return {
        "format": "backprop-tutor-check/1",
        "network": graph.title,
        "conventions": "exact float64; a claim agrees when it reads the same at its printed decimals",
        "ok": counts[WRONG] == 0,
        "counts": counts,
        "claims": rows,
        # a graph has one convention: the report's lists of others tried and skipped are empty
        "conventions_tried": [],
        "conventions_skipped": [],
    }


def load_claims(path: str, where: str | None = None) -> list[Mapping[str, Any]]:
    import sys
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    where = where or str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TutorError(f"cannot read the claims file ({exc})", where) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"malformed TOML: {exc}", where) from None
    claims = data.get("claim")
    if not isinstance(claims, list) or not claims:
        raise SpecError("expected [[claim]] tables with quantity and value", where)
    return claims


# -- a worksheet ------------------------------------------------------------------------------------------------


def worksheet(graph: Graph) -> dict[str, str]:
    """A student sheet (blanks for every node's value and gradient) and its answer key, in Markdown."""
    qz = GraphQuiz(graph)
    head = [f"# {graph.title}", "", "Leaves: " + ", ".join(f"{n.name} = {n.value:g}" for n in graph.leaves), ""]
    head += [f"- `{k} = {v}`" for k, v in graph.expressions.items()]
    head += ["", f"Give every value to {graph.digits} decimals; `grad[n]` is the gradient of {graph.output} by n.", ""]
    sheet = head + [f"{q.number}. `{q.key}` = ______" for q in qz.questions]
    key = head + [f"{q.number}. `{q.key}` = {q.shown}" for q in qz.questions]
    return {"sheet.md": "\n".join(sheet) + "\n", "key.md": "\n".join(key) + "\n"}
