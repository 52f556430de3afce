"""``quiz --symbolic``: the chain rule itself practised, one formula a question, graded by the one grading core.

A ``FormulaQuiz`` asks the formulas of a step's backward pass, error and updates (the questions of a
``tutor.teach.quiz.Quiz``, aimed as it is aimed, whose derived form is more than a copy of one value and
spelled in the grammar) in the names the walk-through shows, typed as names (``tutor.teach.formulas``:
``out_o1``, ``delta_o1``, ``dE_total_dout_o1``, ``m_w5``, ``w5_new``). ``Grader.grade_formula`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .formulas import FormulaError, typed_name
from .quiz import COMMANDS, Quiz


@dataclass
class FormulaAnswer:
    key: str
    label: str
    tries: int = 0
    hints: int = 0
    verdict: str = "unanswered"  # "correct" | "wrong" | "shown" | "skipped" | "unanswered"
    texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FormulaFeedback:
    kind: str  # "graded" | "retry" | "hint" | "invalid" | "skipped" | "quit" | "over"
    message: str


class FormulaQuiz:
    """The formulas of ``quiz``'s questions, asked in its order."""

    def __init__(self, quiz: Quiz):
        self.quiz = quiz
        self.grader = quiz.grader
        self.questions = [q for q in quiz.questions if q.section != "forward" and self.grader.formulas.askable(q.key)]
        self.answers = [FormulaAnswer(q.key, q.label) for q in self.questions]
        self.position = 0
        self.ended = ""

    @property
    def current(self):
        return None if self.ended or self.position >= len(self.questions) else self.questions[self.position]

    def heading(self, q) -> str:
        i = self.questions.index(q)
        return self.quiz.section_title(q.section) if i == 0 or self.questions[i - 1].section != q.section else ""

    def context(self, q) -> str:
        return ""

    def prompt(self, q) -> str:
        return f"[{self.questions.index(q) + 1}/{len(self.questions)}] {q.label} = "

    def end(self, why: str) -> None:
        if not self.ended:
            self.ended = why

    def intro(self) -> list[str]:
        return [
            f"{self.quiz.step_description()}",
            f"Type each quantity's formula ({len(self.questions)} formulas) in the names of the walk-through: a "
            "plain name as shown (out_o1, net_h1, target_o1, w5, eta), a derivative as dA_dB (dE_total_dout_o1 "
            "for ∂E_total/∂out_o1), a delta also as delta_o1, an example's value with _e1, an updated value as "
            "w5_new. Allowed: + - * / **, numbers, exp, log, sqrt, tanh, sigmoid. Any equivalent form counts.",
            f"Commands: {COMMANDS}. Each question takes {self.quiz.tries} answer(s) before its formula is shown.",
        ]

    def reference(self, key: str) -> str:
        return str(self.grader.formulas.reference(key))

    def respond(self, text: str) -> FormulaFeedback:
        q = self.current
        if q is None:
            return FormulaFeedback("over", "The quiz is over.")
        a = self.answers[self.position]
        t = str(text).strip()
        command = t.lower()
        if command in ("h", "hint", "?"):
            a.hints += 1
            if a.hints == 1:
                names = self.grader.formulas.reference(q.key).free_symbols
                return FormulaFeedback("hint", f"Hint: it is written with {', '.join(sorted(map(str, names)))}.")
            a.verdict = "shown"
            self._advance()
            return FormulaFeedback("skipped", f"The formula: {typed_name(q.key)} = {self.reference(q.key)}")
        if command in ("s", "skip"):
            a.verdict = "skipped"
            self._advance()
            return FormulaFeedback("skipped", f"Skipped. The formula: {typed_name(q.key)} = {self.reference(q.key)}")
        if command in ("q", "quit", "exit"):
            self.end("quit")
            return FormulaFeedback("quit", "Quiz ended.")
        if not t:
            return FormulaFeedback("invalid", f"Type a formula such as out_o1*(1 - out_o1); or {COMMANDS}.")
        try:
            g = self.grader.grade_formula(q.key, t)
        except FormulaError as exc:
            return FormulaFeedback("invalid", f"Not read: {exc}")
        a.tries += 1
        a.texts.append(t)
        if g.credited:
            a.verdict = "correct"
            self._advance()
            how = " (SymPy: its difference to the derived form simplifies to 0)" if g.symbolic else ""
            return FormulaFeedback("graded", f"Right{how}: {typed_name(q.key)} = {g.reference}")
        lines = ["Not right."]
        if g.slip:
            lines.append(f"Diagnosis: {g.description} ({g.detail}).")
        if a.tries >= self.quiz.tries:
            a.verdict = "wrong"
            self._advance()
            lines.append(f"The formula: {typed_name(q.key)} = {g.reference}")
            return FormulaFeedback("graded", " ".join(lines))
        lines.append("Try again.")
        return FormulaFeedback("retry", " ".join(lines))

    def _advance(self) -> None:
        self.position += 1
        if self.position >= len(self.questions):
            self.end("completed")

    def summary(self) -> list[str]:
        right = sum(a.verdict == "correct" for a in self.answers)
        out = [f"Score: {right} of {len(self.questions)} formulas right."]
        slips = [a for a in self.answers if a.verdict == "wrong"]
        if slips:
            out.append("To revise: " + ", ".join(a.label for a in slips) + ".")
        return out
