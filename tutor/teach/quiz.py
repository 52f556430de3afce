"""The quiz engine: one training step asked quantity by quantity and graded (pure logic; the CLI does the I/O).

The questions are the walk-through's own quantities (``tutor.engine.symbolic.explain_step``) in the order a person
computes them: forward values, loss, chain-rule factors, gradients, updates. Each answer is graded with
``tutor.teach.diagnose``: against the engine's value, against the value that follows from the student's own
earlier answers (carried-forward credit), and, when wrong, against the misconceptions of its derivation.

>>> from tutor import load
>>> quiz = Quiz(load("appendix-a"), digits=4)
>>> q = quiz.current
>>> q.label, q.shown
('s', '1.9400')
>>> quiz.respond("1.94").verdict, quiz.respond("h").kind, quiz.current.label
('correct', 'hint', 'Predicted')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..engine.steps import Walkthrough
from ..spec import rules
from ..spec.errors import TutorError
from ..spec.network import Network, free_text
from ..spec.resources import read_text
from ..spec.rounding import format_fixed
from .diagnose import MISCONCEPTIONS, Candidate, Tolerance, grade, parse_number

FORMAT = "backprop-tutor-quiz/1"
SECTIONS = ("forward", "loss", "factors", "gradients", "updates")
SECTION_TITLES = {
    "forward": "Forward pass",
    "loss": "Error",
    "factors": "Backward pass: chain-rule factors",
    "gradients": "Gradients",
    "updates": "Updates",
}
_SECTION_OF_KIND = {
    # feature scaling and initialization come before the forward pass, in its section
    "stat": "forward",
    "scaled": "forward",
    "init": "forward",
    "net": "forward",
    "out": "forward",
    "loss_term": "loss",
    "loss": "loss",
    "factor": "factors",
    "delta": "factors",
    "contribution": "factors",
    "sum": "factors",
    "gradient": "gradients",
    "update": "updates",
}
MAX_ANSWERS_BYTES = 1_000_000
_ENDINGS = {
    "completed": "Quiz completed.",
    "quit": "Quiz ended (quit).",
    "end of input": "Quiz ended at the end of the input.",
    "interrupted": "Quiz ended by Ctrl-C.",
}
COMMANDS = "h for a hint, s to skip, q to quit"
NUMBER_FORMS = "0.5933, .5933, 5.933e-1 or -0.0190"


@dataclass(frozen=True)
class Question:
    number: int
    key: str  # the quantity's stable key (as in the JSON output)
    section: str
    label: str  # how the walk-through writes it, in Unicode
    hint: str  # its formula in the other quantities' labels
    value: float  # the engine's value under the quiz's conventions
    shown: str  # the value as printed, to the quiz's decimals
    tolerance: float  # the absolute tolerance around the value


def questions(walk: Walkthrough, tolerance: Tolerance) -> list[Question]:
    """Every computed quantity of the step, in order, except constants and the forward pass after the update."""
    from ..render.notation import FormulaWriter, Notation

    net = walk.network
    fw = FormulaWriter(Notation(walk.labels, net.notation["updated"]), walk.values(), net.conventions.digits)
    keys = list(walk.quantities)
    end = keys.index(walk.forward_after[0][0].net) if walk.forward_after else len(keys)
    asked = [k for k in keys[:end] if _asked(walk, k)]
    rank = {s: i for i, s in enumerate(SECTIONS)}
    by_section = sorted(asked, key=lambda k: rank[_SECTION_OF_KIND[walk.quantities[k].kind]])
    # Section order is the classroom order; when a convention makes a step depend on a later section (hidden
    # deltas with updated weights), the computation order of the walk-through is kept instead.
    order = by_section if _respects_dependencies(walk, by_section) else asked
    out = []
    for n, key in enumerate(order, 1):
        q = walk.quantities[key]
        out.append(
            Question(
                n,
                key,
                _SECTION_OF_KIND[q.kind],
                fw.label(key, "text"),
                f"{fw.label(key, 'text')} = {fw.formula(q, 'text')}",
                q.value,
                format_fixed(q.value, net.conventions.digits),
                tolerance.unit(q.value),
            )
        )
    return out


def _asked(walk: Walkthrough, key: str) -> bool:
    q = walk.quantities[key]
    # A constant (dnet/db = 1) is shown, not asked; the softmax shortcut stands beside the delta it equals.
    return q.form is not None and q.kind in _SECTION_OF_KIND and bool(q.form.expr.free_symbols)


def _respects_dependencies(walk: Walkthrough, order: list[str]) -> bool:
    position = {k: i for i, k in enumerate(order)}

    def needs(k: str, before: int) -> bool:
        # Whether k (asked or computed from asked ones) is available before position `before`.
        if k in position:
            return position[k] < before
        q = walk.quantities[k]
        return q.form is None or all(needs(a, before) for a in q.args)

    for k in order:
        if not all(needs(a, position[k]) for a in walk.quantities[k].args):
            return False
    return True


@dataclass(frozen=True)
class Given:
    """A value of the network that the student is given."""

    key: str
    value: float
    kind: str  # "input" | "weight" | "bias" | "target" | "rate"
    source: str = ""  # for a weight, the input or neuron it comes from
    neuron: str = ""  # for a weight, bias or target, the neuron it belongs to


def givens(net: Network) -> list[tuple[str, list[Given]]]:
    """The network as a student needs it: inputs, each layer's weights and biases, targets, learning rate."""
    groups = [("Inputs", [Given(n, float(v), "input") for n, v in zip(net.input_names, net.inputs)])]
    sources = list(net.input_names)
    for li, layer in enumerate(net.layers):
        items = []
        for j, row in enumerate(layer.weight_labels):
            items += [
                Given(w, float(layer.weights[j, i]), "weight", sources[i], layer.neurons[j]) for i, w in enumerate(row)
            ]
            if not layer.shared_bias:
                items.append(Given(layer.bias_labels[j], float(layer.biases[j]), "bias", neuron=layer.neurons[j]))
        if layer.shared_bias:
            items.append(Given(layer.bias_labels[0], float(layer.biases[0]), "bias", neuron=", ".join(layer.neurons)))
        groups.append((f"Layer {li + 1} ({layer.name}, {layer.activation})", items))
        sources = list(layer.neurons)
    groups.append(
        (
            f"Targets (loss: {rules.LOSSES[net.loss].title})",
            [
                Given(t, float(v), "target", neuron=n)
                for t, v, n in zip(net.target_names(), net.targets, net.output_layer.neurons)
            ],
        )
    )
    groups.append(("Training", [Given("eta", net.learning_rate, "rate")]))
    return groups


# -- a session ----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What happened to one question."""

    question: Question
    text: str | None = None  # what the student typed (None: not answered)
    value: float | None = None
    verdict: str = "unanswered"  # correct | carried | wrong | skipped | unanswered
    expected: float | None = None  # the value that follows from the student's own earlier answers
    carried_from: tuple[str, ...] = ()
    diagnosis: Candidate | None = None
    hints: int = 0

    @property
    def credited(self) -> bool:
        return self.verdict in ("correct", "carried")


@dataclass(frozen=True)
class Feedback:
    """The quiz's reply to one line of input; ``message`` is what the student reads."""

    kind: str  # "graded" | "hint" | "invalid" | "skipped" | "quit" | "over"
    message: str
    answer: Answer | None = None

    @property
    def verdict(self) -> str:
        return self.answer.verdict if self.answer is not None and self.kind == "graded" else ""


class Quiz:
    """One training step of ``net`` as a sequence of questions; ``respond`` takes each line the student types.

    The reference values round every value to ``digits`` decimals and carry it forward (``rounding``
    "as-printed", the default, as on paper); the values of the other rounding are accepted too.
    """

    def __init__(
        self,
        net: Network,
        tolerance: Tolerance | None = None,
        *,
        digits: int | None = None,
        rounding: str | None = None,
        origin: Mapping[str, Any] | None = None,
    ):
        from ..engine.symbolic import explain_step

        training = getattr(net, "training", None)
        if training is not None and not training.plain:
            raise TutorError(
                f"the quiz asks one plain gradient-descent step; this spec trains with {training.optimizer} "
                "or with batches, decay, regularization or dropout: use 'explain' or 'train'",
                "quiz",
            )
        if len(getattr(net, "examples", ())) > 1:
            raise TutorError(
                f"the quiz asks one step on one example; this spec has {len(net.examples)} examples: "
                "use 'explain' or 'train'",
                "quiz",
            )
        digits = net.conventions.digits if digits is None else digits
        self.network = net.with_conventions(rounding=rounding or "as-printed", digits=digits)
        other = "exact" if self.network.conventions.rounding == "as-printed" else "as-printed"
        self.walk = explain_step(self.network)
        self.alternatives = (explain_step(self.network.with_conventions(rounding=other)).values(),)
        self.tolerance = tolerance or Tolerance("dp", digits)
        self.origin = dict(origin or {})
        self.questions = questions(self.walk, self.tolerance)
        self.answers = [Answer(q) for q in self.questions]
        self.position = 0
        self.ended = ""  # why the quiz is over: "completed", "quit", "end of input", "interrupted"

    @property
    def current(self) -> Question | None:
        return None if self.ended or self.position >= len(self.questions) else self.questions[self.position]

    def heading(self, q: Question) -> str:
        """The section title to show before ``q``, when it opens a section."""
        first = q.number == 1 or self.questions[q.number - 2].section != q.section
        return SECTION_TITLES[q.section] if first else ""

    def prompt(self, q: Question) -> str:
        return f"[{q.number}/{len(self.questions)}] {q.label} = "

    def end(self, why: str) -> None:
        if not self.ended:
            self.ended = why

    def known(self) -> dict[str, float]:
        """The student's values so far, by key."""
        return {a.question.key: a.value for a in self.answers if a.value is not None}

    def respond(self, text: str) -> Feedback:
        q = self.current
        if q is None:
            return Feedback("over", "The quiz is over.")
        a = self.answers[self.position]
        t = str(text).strip()
        command = t.lower()
        if command in ("h", "hint", "?"):
            a.hints += 1
            return Feedback("hint", f"Hint: {q.hint}", a)
        if command in ("s", "skip"):
            a.verdict = "skipped"
            self._advance()
            return Feedback("skipped", f"Skipped: {q.label} = {q.shown}.", a)
        if command in ("q", "quit", "exit"):
            self.end("quit")
            return Feedback("quit", "Quiz ended.")
        value = parse_number(t)
        if value is None:
            shown = t if len(t) <= 20 else t[:17] + "..."
            what = "Type a number" if not t else f"{shown!r} is not a number: type a number"
            return Feedback("invalid", f"{what} such as {NUMBER_FORMS}; or {COMMANDS}.")
        return Feedback("graded", self._grade(a, t, value), a)

    def _grade(self, a: Answer, text: str, value: float) -> str:
        q = a.question
        g = grade(self.walk, q.key, value, self.tolerance, self.known(), self.alternatives)
        a.text, a.value, a.verdict = text, value, g.verdict
        a.expected = g.expected if math.isfinite(g.expected) else None
        a.carried_from, a.diagnosis = g.carried_from, g.diagnosis
        self._advance()
        if g.verdict == "correct":
            return f"Right: {q.label} = {q.shown}."
        if g.verdict == "carried":
            earlier = ", ".join(f"{self._label(k)} = {self._given(k)}" for k in g.carried_from)
            return (
                f"Credited: {text} follows correctly from your earlier answer{'s' if len(g.carried_from) > 1 else ''} "
                f"{earlier}. (From the right values, {q.label} = {q.shown}.)"
            )
        msg = f"Not right: {q.label} = {q.shown}."
        if math.isfinite(g.expected) and not self.tolerance.accepts(g.expected, g.value):
            msg += f" From your own earlier answers it would be {self._fmt(g.expected)}."
        if g.diagnosis is not None:
            d = g.diagnosis
            msg += f" It looks like {d.description}: {d.detail}."
        return msg

    def _advance(self) -> None:
        self.position += 1
        if self.position >= len(self.questions):
            self.end("completed")

    def _label(self, key: str) -> str:
        return next((a.question.label for a in self.answers if a.question.key == key), key)

    def _given(self, key: str) -> str:
        return next((a.text or "" for a in self.answers if a.question.key == key), "")

    def _fmt(self, value: float) -> str:
        return format_fixed(value, self.network.conventions.digits) if abs(value) < 1e15 else f"{value:.4g}"

    # -- what is shown before and after ----------------------------------------------------------------

    def intro(self) -> list[str]:
        from ..render.notation import text_name

        net = self.network
        lines = [f"Backprop quiz: {net.title}"]
        if net.description:
            lines.append(net.description)
        if "seed" in self.origin:
            lines.append(
                f"Network seed {self.origin['seed']}: the same network again with {self.origin.get('command', '')}".rstrip()
            )
        for title, items in givens(net):
            parts = []
            for g in items:
                role = (
                    f" ({g.source} → {g.neuron})"
                    if g.kind == "weight"
                    else f" (bias of {g.neuron})"
                    if g.kind == "bias"
                    else ""
                )
                parts.append(f"{text_name(g.key)} = {_plain(g.value)}{role}")
            lines.append(f"  {title}: " + ", ".join(parts))
        layers = ", ".join(f"{l.activation}" for l in net.layers)
        lines.append(f"  Activations by layer: {layers}; loss: {net.loss_rule.summary}.")
        lines.append(f"  Biases are {'updated' if net.update_biases else 'not updated'}.")
        lines.append(f"Conventions: {net.conventions.describe()}.")
        lines.append(
            f"Grading {self.tolerance.describe()}; values computed without rounding count as right "
            "too, and an answer that follows correctly from one of your earlier mistakes is credited."
        )
        lines.append(f"{len(self.questions)} questions. Type each value ({NUMBER_FORMS}), or {COMMANDS}.")
        return lines

    def scores(self) -> list[dict[str, Any]]:
        rows = []
        for s in SECTIONS:
            mine = [a for a in self.answers if a.question.section == s]
            if mine:
                rows.append(
                    {
                        "section": s,
                        "title": SECTION_TITLES[s],
                        "credited": sum(a.credited for a in mine),
                        "carried": sum(a.verdict == "carried" for a in mine),
                        "total": len(mine),
                    }
                )
        return rows

    def summary(self) -> list[str]:
        rows = self.scores()
        width = max(len(r["title"]) for r in rows + [{"title": "Total"}])
        lines = ["Summary" + (f" (network seed {self.origin['seed']})" if "seed" in self.origin else "")]
        for r in rows:
            extra = f"   ({r['carried']} credited from an earlier mistake)" if r["carried"] else ""
            lines.append(f"  {r['title']:<{width}}  {r['credited']:>3}/{r['total']:<3}{extra}")
        credited, total = sum(r["credited"] for r in rows), sum(r["total"] for r in rows)
        counts = {v: sum(a.verdict == v for a in self.answers) for v in ("wrong", "skipped", "unanswered")}
        tail = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        lines.append(f"  {'Total':<{width}}  {credited:>3}/{total:<3}" + (f"   ({tail})" if tail else ""))
        seen = [a for a in self.answers if a.diagnosis is not None]
        if seen:
            lines.append("Misconceptions to look at:")
            for a in seen:
                lines.append(f"  question {a.question.number} ({a.question.label}): {a.diagnosis.description}")
        lines.append(_ENDINGS.get(self.ended, "Quiz not finished."))
        return [line.rstrip() for line in lines]

    def record(self) -> dict[str, Any]:
        """Everything about the session, for ``--results FILE`` (JSON)."""
        from ..render import network_summary

        c = self.network.conventions
        return {
            "format": FORMAT,
            "origin": self.origin,
            "network": network_summary(self.network),
            "conventions": {
                "rounding": c.rounding,
                "digits": c.digits,
                "update_order": c.update_order,
                "update_biases": self.network.update_biases,
            },
            "tolerance": {"policy": self.tolerance.code, "statement": self.tolerance.describe()},
            "ended": self.ended or "not finished",
            "questions": [_answer_record(a) for a in self.answers],
            "score": {
                "sections": self.scores(),
                "credited": sum(a.credited for a in self.answers),
                "total": len(self.answers),
            },
            "misconceptions": MISCONCEPTIONS,
        }


def _plain(value: float) -> str:
    return repr(float(value)).removesuffix(".0") if float(value).is_integer() else repr(float(value))


def _answer_record(a: Answer) -> dict[str, Any]:
    q = a.question
    d = a.diagnosis
    return {
        "number": q.number,
        "key": q.key,
        "section": q.section,
        "label": q.label,
        "value": q.value,
        "shown": q.shown,
        "tolerance": q.tolerance,
        "answer": a.text,
        "answer_value": a.value,
        "verdict": a.verdict,
        "credited": a.credited,
        "expected": a.expected,
        "carried_from": list(a.carried_from),
        "diagnosis": None
        if d is None
        else {
            "misconception": d.misconception,
            "description": d.description,
            "step": d.step,
            "detail": d.detail,
            "value": d.value,
        },
        "hints": a.hints,
    }


# -- a file of answers ------------------------------------------------------------------------------------

MAX_ANSWER_LINE = 200  # characters of one line of an answers file (a key and a number fit many times over)
_ANSWER = re.compile(r"\S+")  # one token: linear, nothing to backtrack
_QUESTION_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() also takes '²' and '①'


def _split_line(line: str) -> tuple[str | None, str] | None:
    """``ANSWER`` or ``KEY = ANSWER`` (the key may hold spaces, the answer may not); None when neither."""
    key, eq, answer = line.partition("=")
    if not eq:
        key, answer = None, line
    else:
        key = key.strip()
        if not key:
            return None
    answer = answer.strip()
    if not _ANSWER.fullmatch(answer):
        return None
    return key, answer


def read_answers(path: str | Path, quiz: Quiz, option: str = "--answers") -> dict[int, str]:
    """The answers of a file by question number: one a line, ``ANSWER`` or ``KEY = ANSWER`` (KEY a quantity
    key or question number), ``#`` comments; an answer without a key answers the question after the last."""
    where = f"{option} {path}"
    text = read_text(path, where, MAX_ANSWERS_BYTES)
    return parse_answers(text, quiz, where)


def parse_answers(text: str, quiz: Quiz, where: str = "answers") -> dict[int, str]:
    by_key = {q.key: q.number for q in quiz.questions}
    n = len(quiz.questions)
    out: dict[int, str] = {}
    last = 0
    text = text.removeprefix("\ufeff")  # a byte-order mark from a Windows editor
    for i, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_ANSWER_LINE:
            raise TutorError(f"line {i}: {len(raw)} characters; a line may have at most {MAX_ANSWER_LINE}", where)
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            free_text(line, f"{where}: line {i}", limit=MAX_ANSWER_LINE)
        except TutorError as exc:
            raise TutorError(exc.message, exc.where) from None
        parts = _split_line(line)
        if parts is None:
            raise TutorError(f"line {i}: expected ANSWER or KEY = ANSWER, got {line[:40]!r}", where)
        key, answer = parts
        if key is None:
            number = last + 1
        elif key in by_key:
            number = by_key[key]
        elif _QUESTION_NUMBER.fullmatch(key):
            number = int(key)
        else:
            raise TutorError(
                f"line {i}: no question {key[:40]!r}; use a question number from 1 to {n} or a "
                f"quantity key such as {quiz.questions[0].key!r}",
                where,
            )
        if not 1 <= number <= n:
            raise TutorError(f"line {i}: there are {n} questions, so no question {number}", where)
        if number in out:
            raise TutorError(f"line {i}: question {number} is answered twice", where)
        if answer.lower() not in ("s", "skip") and parse_number(answer) is None:
            raise TutorError(
                f"line {i}: {answer[:40]!r} is not a number; write a number such as {NUMBER_FORMS}, or s to skip", where
            )
        out[number] = answer
        last = number
    return out


def replay(quiz: Quiz, answers: Mapping[int, str]) -> Iterator[tuple[Question, str, Feedback]]:
    """Grade a file's answers in question order; questions before the last answered one and left out are skipped."""
    last = max(answers, default=0)
    while (q := quiz.current) is not None and q.number <= last:
        text = answers.get(q.number, "s")
        yield q, text, quiz.respond(text)
    quiz.end("completed" if quiz.current is None else "end of input")


def plain_value(x: float) -> str:
    """A given value as the shortest decimal that reads back as the same float."""
    import numpy as np

    return np.format_float_positional(float(x), trim="-")
