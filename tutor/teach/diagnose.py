"""Grading of a student's numbers against a walk-through: tolerance, carried-forward credit and misconceptions.

The quiz uses it one answer at a time; the worked-solution checker can use it on a whole solution. Nothing
here is written per question: the mistakes are perturbations of the derivation itself, chosen by the kind
of each quantity and the kinds of the quantities it is computed from (``steps.Quantity``).

Public API
    ``Tolerance``     how close an answer must be: ``Tolerance.parse("4dp")``, ``.accepts(answer, value)``,
                      ``.unit(value)`` (the absolute tolerance), ``.describe()``.
    ``parse_number``  a number as people type it (``0.5933``, ``.5933``, ``5.933e-1``, ``-0.0190``), or None.
    ``StudentWorld``  every quantity as it follows from the student's own values (``known``): known values
                      as given, the others recomputed from them with the walk's rounding (carried forward).
    ``decide``        the grading decision on numbers only (answer, typed text, right values, the value from
                      the student's own answers, earlier answers, candidates, tolerance -> ``Grade``): the one
                      function a mirror of the quiz (the browser self-check) must reproduce.
    ``grade``         one answer -> ``Grade``: ``correct``, ``carried`` (right from the student's own earlier
                      mistake, credited) or ``wrong``, with the earlier mistakes and a diagnosis (``decide``
                      with its inputs computed from the walk-through).
    ``implausible``   why a value is one no network could produce ('' when possible): no follow-on credit.
    ``early_rounding`` the values that follow from earlier values rounded to fewer decimals.
    ``candidates``    every perturbed value of a quantity: one per misconception and place it can happen.
    ``diagnose``      the candidate that reproduces a wrong answer (the closest), or None.
    ``MISCONCEPTIONS`` the misconception ids and what each means.

>>> from tutor import load, explain_step
>>> walk = explain_step(load("mazur"))
>>> g = grade(walk, "dE_o1/dnet_o1", walk.value("dE_total/dout_o1"), Tolerance.parse("6dp"))  # no dout/dnet
>>> g.verdict, g.diagnosis.misconception
('wrong', 'dropped-activation-derivative')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, Mapping, Sequence

from ..engine.numeric import rounder_for
from ..engine.steps import Form, Walkthrough
from ..spec.errors import TutorError
from ..spec.rounding import Rounder, format_fixed

MISCONCEPTIONS: dict[str, str] = {
    "dropped-activation-derivative": "the activation's derivative ∂out/∂net was left out of the chain rule",
    "derivative-at-net": "the derivative's formula was evaluated at net instead of out (e.g. net(1 − net) for a sigmoid)",
    "flipped-error-sign": "the sign of the error was flipped: target − output instead of output − target",
    "forgot-half": "the ½ of the squared error was forgotten",
    "forgot-mean": "the mean (the 1/n of the loss) was forgotten",
    "missing-downstream-sum": "only one term was kept where the sum over downstream neurons (or outputs) is needed",
    "updated-weights-in-hidden-delta": "the already updated weight was used where the hidden delta needs the old one",
    "old-weights-in-hidden-delta": "the old weight was used although this convention updates the weights first",
    "wrong-input": "the wrong input was used for ∂net/∂w (another input of the same neuron)",
    "forgot-learning-rate": "the learning rate η was left out of the update",
    "gradient-added": "the gradient was added instead of subtracted (w + η·g)",
    "forgot-bias": "the bias was left out of the net input",
    "no-activation": "the activation function was not applied (out = net)",
    "too-few-decimals": "the answer was given to fewer decimals than asked",
    "rounded-too-early": "earlier values were rounded to fewer decimals than asked and carried forward",
}

# How far below the asked quantity a mistake is looked for, through quantities the student did not give.
MAX_DEPTH = 3

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: str) -> float | None:
    """The number in ``text`` as people type it, or None.

    >>> [parse_number(t) for t in ["0.5933", ".5933", "5.933e-1", "-0.0190", " +2 ", "0,25", "−0.5", "abc", "nan", "1e999"]]
    [0.5933, 0.5933, 0.5933, -0.019, 2.0, 0.25, -0.5, None, None, None]
    """
    t = str(text).strip().replace("\u2212", "-")
    if len(t) > 64:
        return None
    if "," in t and "." not in t and t.count(",") == 1:
        t = t.replace(",", ".")  # a decimal comma
    if not _NUMBER.fullmatch(t):
        return None
    v = float(t)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class Tolerance:
    """An answer is right when it is within one unit of the last decimal place (``dp``) or significant figure (``sf``).

    >>> t = Tolerance.parse("4dp")
    >>> t.accepts(0.5932, 0.593269992), t.accepts(0.5934, 0.593269992), t.unit(12.5)
    (True, False, 0.0001)
    >>> Tolerance.parse("3sf").unit(0.000438), Tolerance.parse("3sf").accepts(0.000437, 0.000438)
    (1e-06, True)
    """

    mode: str = "dp"  # "dp" | "sf"
    places: int = 4

    @classmethod
    def parse(cls, text: str | None, default_places: int = 4, option: str = "--tolerance") -> "Tolerance":
        if text is None:
            return cls("dp", default_places)
        m = re.fullmatch(r"\s*([0-9]{1,2})\s*(dp|sf)?\s*", str(text).lower())
        if not m:
            raise TutorError(
                f"expected decimal places like 4dp or significant figures like 3sf, got {str(text)[:30]!r}", option
            )
        places, mode = int(m.group(1)), m.group(2) or "dp"
        lo = 1 if mode == "sf" else 0
        if not lo <= places <= 12:
            raise TutorError(
                f"the number of {'significant figures' if mode == 'sf' else 'decimal places'} must be "
                f"from {lo} to 12, got {places}",
                option,
            )
        return cls(mode, places)

    def unit(self, value: float) -> float:
        """The absolute tolerance around ``value``."""
        if self.mode == "dp" or value == 0 or not math.isfinite(value):
            return 10.0**-self.places
        return 10.0 ** (math.floor(math.log10(abs(value))) - self.places + 1)

    def accepts(self, answer: float, value: float) -> bool:
        # The relative slack absorbs the binary representation of decimals: 0.5934 - 0.5933 > 0.0001 in floats.
        return abs(answer - value) <= self.unit(value) * (1 + 1e-9)

    @property
    def code(self) -> str:
        return f"{self.places}{self.mode}"

    def describe(self) -> str:
        if self.mode == "dp":
            return (
                f"to {self.places} decimal places: an answer within ±{10.0**-self.places:.{self.places}f} "
                "of the value is right"
            )
        return (
            f"to {self.places} significant figures: an answer within one unit of the {_ordinal(self.places)} "
            "significant figure of the value is right"
        )


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# -- the student's world: values carried forward from their own answers ----------------------------------------


class StudentWorld:
    """Every quantity of ``walk`` as it follows from the student's values ``known`` (carried forward).

    A known value is taken as the student gave it; a given one (input, weight, target, rate) from the spec;
    every other one is recomputed from its arguments' values in this world, rounded like the engine.
    """

    def __init__(self, walk: Walkthrough, known: Mapping[str, float] | None = None, rounder: Rounder | None = None):
        self.walk = walk
        self.known = dict(known or {})
        self.round = rounder or rounder_for(walk.network)
        self._memo: dict[str, float] = {}
        self._labels: Callable[[str], str] | None = None
        self._net_of = {n.out: n.net for row in walk.forward + walk.forward_after for n in row}

    def value(self, key: str) -> float:
        if key in self.known:
            return self.known[key]
        if key not in self._memo:
            q = self.walk.quantities[key]
            self._memo[key] = q.value if q.form is None else self.call(q.form.fn, [self.value(a) for a in q.args])
        return self._memo[key]

    def carried(self, key: str) -> float:
        """``key`` recomputed from its arguments' values in this world, even when the student gave it."""
        q = self.walk.quantities[key]
        return q.value if q.form is None else self.call(q.form.fn, [self.value(a) for a in q.args])

    def evaluate(self, key: str, overrides: Mapping[str, float]) -> float:
        """``key`` recomputed with some quantities replaced; the change flows through what the student did not give."""
        memo: dict[str, float] = {}

        def val(k: str, top: bool = False) -> float:
            if k in overrides:
                return overrides[k]
            if not top and k in self.known:
                return self.known[k]
            if k not in memo:
                q = self.walk.quantities[k]
                memo[k] = q.value if q.form is None else self.call(q.form.fn, [val(a) for a in q.args])
            return memo[k]

        return val(key, top=True)

    def upstream_mistakes(self, key: str, right: Callable[[str, float], bool]) -> list[str]:
        """The student's values that ``key`` is computed from (through values they did not give) that are wrong."""
        order = {k: i for i, k in enumerate(self.walk.quantities)}
        seen: set[str] = set()
        wrong: list[str] = []
        stack = list(self.walk.quantities[key].args)
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            if k in self.known:
                if not right(k, self.known[k]):
                    wrong.append(k)
            elif self.walk.quantities[k].form is not None:
                stack.extend(self.walk.quantities[k].args)
        return sorted(wrong, key=order.__getitem__)

    def upstream_known(self, key: str) -> list[str]:
        """The student's values that ``key`` is computed from, directly or through values they did not give."""
        order = {k: i for i, k in enumerate(self.walk.quantities)}
        seen: set[str] = set()
        found: list[str] = []
        stack = list(self.walk.quantities[key].args)
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            if k in self.known:
                found.append(k)
            elif self.walk.quantities[k].form is not None:
                stack.extend(self.walk.quantities[k].args)
        return sorted(found, key=order.__getitem__)

    def label(self, key: str) -> str:
        if self._labels is None:
            from ..render.notation import Notation

            self._labels = Notation(self.walk.labels, self.walk.network.notation["updated"]).text
        return self._labels(key)

    def number(self, value: float) -> str:
        return _show(value, self.walk)

    def net_of(self, out_key: str) -> str | None:
        return self._net_of.get(out_key)

    def call(self, fn: Callable[..., float], values: Sequence[float]) -> float:
        """``fn(*values)`` rounded like the engine."""
        # A student's value can leave a form's domain (the log of a negative output, exp of 1e300): such a
        # value follows from nothing, so it is NaN, which no tolerance accepts.
        try:
            v = float(fn(*values))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return math.nan
        if not math.isfinite(v):
            return math.nan
        # Decimal rounding runs out of precision near 1e24; a value that large is wrong at any rounding.
        return self.round(v) if abs(v) < 1e15 else v


def _show(value: float, walk: Walkthrough) -> str:
    from ..render.notation import FormulaWriter  # the walk-through's own way of printing a number

    if not abs(value) < 1e15:
        return f"{value:.6g}"
    return FormulaWriter(None, {}, walk.conventions.digits).number(value)


# -- grading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One misconception at one place: the value the asked quantity would have with it."""

    misconception: str  # an id of MISCONCEPTIONS
    step: str  # the key of the quantity whose computation goes wrong
    detail: str  # what exactly was done, in the walk's own labels
    value: float

    @property
    def description(self) -> str:
        return MISCONCEPTIONS[self.misconception]


@dataclass(frozen=True)
class Grade:
    verdict: str  # "correct" | "carried" | "wrong"
    value: float  # the engine's value
    expected: float  # the value that follows from the student's own earlier values
    carried_from: tuple[str, ...] = ()  # the earlier wrong values this answer follows from
    diagnosis: Candidate | None = None
    refused: tuple[str, ...] = ()  # earlier answers this one follows from that earn no follow-on credit
    refused_why: str = ""  # why, in words (e.g. "P = 1 is no sigmoid output: they lie strictly between 0 and 1")

    @property
    def credited(self) -> bool:
        return self.verdict in ("correct", "carried")


@dataclass(frozen=True)
class Earlier:
    """One of the student's earlier answers that the asked quantity is computed from."""

    key: str
    right: bool  # within the tolerance of the right value
    trusted: bool = True  # may earn follow-on credit: a value some network could produce, not following from one
    why: str = ""  # when not trusted: why, in words


_PLAIN_DECIMAL = re.compile(r"\s*[+-]?\d*\.(\d+)\s*")


def decide(
    answer: float,
    text: str,
    right: Sequence[float],
    expected: float,
    earlier: Sequence[Earlier],
    candidates: Sequence[Sequence[Candidate]],
    tolerance: Tolerance,
) -> Grade:
    """The grading decision, on numbers only: the one function the quiz, the worksheets and any mirror of
    them (the browser self-check) must agree on.

    ``answer`` is the student's number and ``text`` how they typed it; ``right`` the values that count as
    right (the reference value first, then e.g. the exact-arithmetic one); ``expected`` the value that follows
    from the student's own earlier answers (NaN when none does); ``earlier`` the student's earlier answers the
    quantity is computed from; ``candidates`` the misconceptions' values in groups, the preferred group first
    (computed from the student's own values, then from the right ones, then from values rounded too early).

    1. Within ``tolerance`` of a right value: **correct**.
    2. Within ``tolerance`` of ``expected``: **correct** when no earlier answer is wrong; else **carried**
       (credited) when every wrong earlier answer is trusted; else **wrong**, with the untrusted ones in
       ``refused`` and why in ``refused_why`` (an impossible earlier value earns no follow-on credit).
    3. Otherwise **wrong**, with a diagnosis: too few decimals when the answer has fewer decimals than a
       ``dp`` tolerance asks for and agrees with the right value at its own decimals; else the candidate
       within tolerance of the answer (and not of a right or expected value) that is closest, from the
       first group that has one.
    """
    reference = right[0]
    if any(tolerance.accepts(answer, r) for r in right):
        return Grade("correct", reference, expected)
    if math.isfinite(expected) and tolerance.accepts(answer, expected):
        wrong = tuple(e for e in earlier if not e.right)
        if not wrong:
            return Grade("correct", reference, expected)
        untrusted = tuple(e for e in wrong if not e.trusted)
        keys = tuple(e.key for e in wrong)
        if not untrusted:
            return Grade("carried", reference, expected, keys)
        why = "; ".join(dict.fromkeys(e.why for e in untrusted))
        return Grade("wrong", reference, expected, keys, refused=tuple(e.key for e in untrusted), refused_why=why)
    m = _PLAIN_DECIMAL.fullmatch(text or "")
    if m and tolerance.mode == "dp" and len(m.group(1)) < tolerance.places:
        from ..spec.rounding import agrees_as_printed  # the checker's reading of a number at its printed decimals

        given = len(m.group(1))
        if any(agrees_as_printed(r, text.strip()) for r in right):
            detail = (
                f"{text.strip()} has {given} decimal{'s' if given != 1 else ''} where {tolerance.places} are asked "
                f"for: {format_fixed(reference, tolerance.places)}"
            )
            return Grade("wrong", reference, expected, diagnosis=Candidate("too-few-decimals", "", detail, reference))
    baseline = [*right, expected] if math.isfinite(expected) else list(right)
    for group in candidates:
        hits = [
            c
            for c in group
            if tolerance.accepts(answer, c.value) and not any(tolerance.accepts(c.value, b) for b in baseline)
        ]
        if hits:
            return Grade("wrong", reference, expected, diagnosis=min(hits, key=lambda c: abs(c.value - answer)))
    return Grade("wrong", reference, expected)


def grade(
    walk: Walkthrough,
    key: str,
    answer: float,
    tolerance: Tolerance,
    known: Mapping[str, float] | None = None,
    alternatives: Sequence[Mapping[str, float]] = (),
    text: str | None = None,
    untrusted: Mapping[str, str] | None = None,
) -> Grade:
    """Grade ``answer`` for quantity ``key`` given the student's other values ``known``: the inputs of
    ``decide`` computed from the walk-through.

    ``alternatives`` are other value sets that count as right too (e.g. the exact-arithmetic values when
    the walk rounds as printed); ``text`` is the answer as typed (for the decimals given); ``untrusted``
    the earlier answers that earn no follow-on credit, with why (see ``implausible``).
    """
    world = StudentWorld(walk, {k: v for k, v in (known or {}).items() if k != key})

    def right(k: str, v: float) -> bool:
        return tolerance.accepts(v, walk.value(k)) or any(
            k in alt and tolerance.accepts(v, alt[k]) for alt in alternatives
        )

    rights = [walk.value(key)] + [alt[key] for alt in alternatives if key in alt]
    expected = world.carried(key)
    untrusted = untrusted or {}
    earlier = [
        Earlier(k, right(k, world.known[k]), k not in untrusted, untrusted.get(k, ""))
        for k in world.upstream_known(key)
    ]
    # The misconceptions are only worked out when the answer is neither right nor carried (they cost time).
    lazy = _LazyCandidates(walk, key, world, tolerance)
    g = decide(answer, text if text is not None else repr(answer), rights, expected, earlier, lazy, tolerance)
    return g


class _LazyCandidates:
    """The candidate groups of ``decide``, computed when first iterated."""

    def __init__(self, walk: Walkthrough, key: str, world: StudentWorld, tolerance: Tolerance):
        self.args = (walk, key, world, tolerance)

    def __iter__(self):
        walk, key, world, tolerance = self.args
        yield candidates(walk, key, world=world)
        if world.known:
            yield candidates(walk, key, world=StudentWorld(walk, {k: v for k, v in walk.values().items() if k != key}))
        yield early_rounding(walk, key, tolerance)

    def __len__(self) -> int:  # pragma: no cover - Sequence protocol
        return 3


def early_rounding(walk: Walkthrough, key: str, tolerance: Tolerance) -> list[Candidate]:
    """``key`` computed with every earlier value rounded to fewer decimals than asked and carried forward
    (the checker's "as-printed rounding at fewer decimals"), one candidate per number of decimals."""
    from ..spec.rounding import Rounder

    if tolerance.mode != "dp" or walk.quantities[key].form is None:
        return []
    q = walk.quantities[key]
    final = rounder_for(walk.network)
    out = []
    for d in range(tolerance.places - 1, 0, -1):
        early = StudentWorld(walk, {}, Rounder(d))
        # the values before it rounded early and carried; the answer itself worked out and rounded as asked
        value = StudentWorld(walk, {}, final).call(q.form.fn, [early.value(a) for a in q.args])
        shown = format_fixed(walk.value(key), tolerance.places)
        if math.isfinite(value):
            detail = (
                f"the values before it rounded to {d} decimal{'s' if d != 1 else ''} give "
                f"{format_fixed(value, tolerance.places)} instead of {shown}; keep {tolerance.places} decimals "
                "until the end"
            )
            out.append(Candidate("rounded-too-early", key, detail, value))
    return out


def implausible(walk: Walkthrough, key: str, value: float, tolerance: Tolerance) -> str:
    """Why ``value`` for ``key`` is one no network could produce, or '' when it is possible.

    A layer's output outside its activation's range (a sigmoid output of 1), a probability outside [0, 1],
    a negative loss, a sigmoid's or tanh's derivative outside its range, or a value two orders of magnitude
    away from the right one (0 for a clearly non-zero gradient).
    """
    from ..render.notation import text_name

    q = walk.quantities[key]
    net = walk.network
    label = StudentWorld(walk).label(key)
    shown = _plain_number(value)
    right = walk.value(key)
    unit = tolerance.unit(right)
    if q.kind == "out" and q.layer is not None:
        layer = net.layers[q.layer]
        rule = layer.rule
        lo_hi = getattr(rule, "output_range", None)
        if lo_hi is not None:
            lo, hi = lo_hi
            closed = getattr(rule, "output_closed", False)
            # a right value that prints as the bound (a saturated sigmoid at 4 decimals) makes the bound possible
            lo_ok = closed or abs(right - lo) <= unit
            hi_ok = closed or abs(right - hi) <= unit
            if value < lo or value > hi or (value == lo and not lo_ok) or (value == hi and not hi_ok):
                what = getattr(rule, "output_meaning", "") or f"a {text_name(layer.activation)} output"
                return f"{label} = {shown} is not {what}: {_interval(lo, hi, closed)}"
    if q.kind in ("loss", "loss_term") and value < 0:
        return f"{label} = {shown} is negative, and {net.loss_rule.name} cannot be"
    if q.kind == "factor" and q.wrt and walk.quantities[q.wrt].kind == "net" and q.layer is not None:
        act = net.layers[q.layer].activation
        bounds = {"sigmoid": (0.0, 0.25), "tanh": (0.0, 1.0)}.get(act)
        if bounds is not None and not (bounds[0] < value <= bounds[1] + unit):
            return f"{label} = {shown} is no {act} derivative: they lie in (0, {_plain_number(bounds[1])}]"
    scale = max(abs(right), 10 * unit)
    if abs(value) > 100 * scale:
        return f"{label} = {shown} is more than a hundred times the size it can have here"
    if abs(right) >= 100 * unit and abs(value) < abs(right) / 100:
        return f"{label} = {shown} is less than a hundredth of the size it has here"
    return ""


def _interval(lo: float, hi: float, closed: bool) -> str:
    a = "[" if closed and math.isfinite(lo) else "("
    b = "]" if closed and math.isfinite(hi) else ")"
    ends = ", ".join("∞" if x == math.inf else "−∞" if x == -math.inf else _plain_number(x) for x in (lo, hi))
    return f"they lie in {a}{ends}{b}"


def _plain_number(x: float) -> str:
    return f"{x:.10g}"


def diagnose(
    walk: Walkthrough, key: str, answer: float, tolerance: Tolerance, known: Mapping[str, float] | None = None
) -> Candidate | None:
    """The misconception that reproduces ``answer``: first from the student's own values, then from the right ones."""
    worlds = [StudentWorld(walk, known)]
    if known:
        worlds.append(StudentWorld(walk, {k: v for k, v in walk.values().items() if k != key}))
    for world in worlds:
        baseline = (walk.value(key), world.carried(key))
        hits = [
            c
            for c in candidates(walk, key, world=world)
            if tolerance.accepts(answer, c.value) and not any(tolerance.accepts(c.value, b) for b in baseline)
        ]
        if hits:
            return min(hits, key=lambda c: abs(c.value - answer))
    return None


def candidates(
    walk: Walkthrough, key: str, known: Mapping[str, float] | None = None, world: StudentWorld | None = None
) -> list[Candidate]:
    """Every misconception that can affect ``key``, at its own step or below it, with the value it gives.

    Below means: the quantities ``key`` is computed from (always), and further down through those the
    student did not give, up to ``MAX_DEPTH`` steps.
    """
    world = world or StudentWorld(walk, known)
    out: list[Candidate] = []
    for step in _steps(walk, key, world.known):
        for mis, detail, v in _perturbations(world, step, asked=step == key):
            value = v if step == key else world.evaluate(key, {step: v})
            if math.isfinite(value):
                out.append(Candidate(mis, step, detail, value))
    return out


def _steps(walk: Walkthrough, key: str, known: Mapping[str, float]) -> Iterator[str]:
    seen = {key}
    frontier = [key]
    yield key
    for depth in range(MAX_DEPTH):
        nxt = []
        for k in frontier:
            if depth > 0 and k in known:
                continue  # the student gave it: a mistake below it is theirs to have made earlier
            for a in walk.quantities[k].args:
                if a not in seen and walk.quantities[a].form is not None:
                    seen.add(a)
                    nxt.append(a)
                    yield a
        frontier = nxt


# -- the perturbations, by the kind of a step ------------------------------------------------------------------


def _perturbations(world: StudentWorld, key: str, asked: bool) -> Iterator[tuple[str, str, float]]:
    """(misconception, detail, wrong value of ``key``) for every mistake its derivation admits."""
    walk = world.walk
    Q = walk.quantities
    q = Q[key]
    args = [world.value(a) for a in q.args]
    kinds = [Q[a].kind for a in q.args]
    lab, num = world.label, world.number

    def ev(values: Sequence[float]) -> float:
        return world.call(q.form.fn, values)

    wrt = Q[q.wrt].kind if q.wrt else ""
    if q.kind == "factor" and wrt == "net":  # dout/dnet: an activation's derivative
        at_net = [
            world.value(world.net_of(a)) if k == "out" and world.net_of(a) else v
            for a, k, v in zip(q.args, kinds, args)
        ]
        yield "derivative-at-net", f"{lab(key)} evaluated at {lab(q.wrt)} instead of at the output", ev(at_net)
        if not asked:
            same = world.net_of(walk.labels[key].num) == q.wrt
            yield "dropped-activation-derivative", f"{lab(key)} left out", 1.0 if same else 0.0
    elif q.kind == "factor" and wrt == "out" and any(Q[a].kind == "target" for a in q.of_args):  # dE/dout
        yield "flipped-error-sign", f"{lab(key)} with the sign flipped", -world.value(key)
        fn = _stripped_derivative(q.of_form, q.of_args.index(q.wrt))
        if fn is not None:
            mis, what = _constant(walk)
            yield mis, f"{lab(key)} without {what}", world.call(fn, [world.value(a) for a in q.of_args])
    elif q.kind == "factor" and wrt in ("param", "update"):  # dnet/dw: the input the weight multiplies
        right = [q.args[i] for i in _used(q.form)]
        for a, k in zip(q.of_args, [Q[a].kind for a in q.of_args]):
            if k in ("input", "out") and a not in right:
                yield (
                    "wrong-input",
                    f"{lab(a)} used instead of {', '.join(map(lab, right))} for {lab(key)}",
                    world.value(a),
                )
    elif q.kind == "factor" and wrt == "out":  # dnet_k/dout_j: the weight from j to k
        swapped, names = [], []
        used = _used(q.form)
        for i, (a, k, v) in enumerate(zip(q.args, kinds, args)):
            new = walk.network.updated_name(a) if k == "param" else Q[a].args[0] if k == "update" else None
            if i in used and new is not None and new in Q:
                swapped.append(world.value(new))
                names.append((a, new))
            else:
                swapped.append(v)
        if names:
            mis = "old-weights-in-hidden-delta" if kinds[0] == "update" else "updated-weights-in-hidden-delta"
            pairs = ", ".join(f"{lab(new)} instead of {lab(a)}" for a, new in names)
            yield mis, f"{pairs} in {lab(key)}", ev(swapped)
    if q.kind in ("loss", "loss_term") and any(k == "target" for k in kinds):
        fn = _stripped(q.form)
        if fn is not None:
            mis, what = _constant(walk)
            yield mis, f"{lab(key)} without {what}", world.call(fn, args)
    if q.kind in ("sum", "loss", "gradient", "delta"):
        for fn, first in _terms(q.form):
            yield "missing-downstream-sum", f"only {lab(q.args[first])} kept of {lab(key)}", world.call(fn, args)
    if q.kind == "update" and "rate" in kinds:
        eta = kinds.index("rate")
        yield (
            "forgot-learning-rate",
            f"{lab(key)} without {lab(q.args[eta])}",
            ev([1.0 if i == eta else v for i, v in enumerate(args)]),
        )
        yield "gradient-added", f"{lab(key)} with + η·gradient", ev([-v if i == eta else v for i, v in enumerate(args)])
    if q.kind == "net" and kinds and kinds[-1] == "param":
        yield "forgot-bias", f"{lab(key)} without the bias {lab(q.args[-1])}", ev(args[:-1] + [0.0])
    if q.kind == "out" and len(args) == 1:
        yield "no-activation", f"{lab(key)} taken as {lab(q.args[0])} = {num(args[0])}", args[0]


def _constant(walk: Walkthrough) -> tuple[str, str]:
    """Which constant factor of the loss a student forgets: the ½ of half_sse, else the mean's 1/n."""
    return ("forgot-half", "the ½") if walk.network.loss == "half_sse" else ("forgot-mean", "the 1/n of the mean")


def _strip(expr):
    """The loss expression without its constant fractions (½, 1/n), keeping their sign; None when it has none."""
    import sympy as sp

    terms, changed = [], False
    for t in sp.Add.make_args(expr):
        c, rest = t.as_coeff_Mul()
        if c.is_Rational and not c.is_Integer:
            changed = True
            terms.append(sp.sign(c) * rest)
        else:
            terms.append(t)
    return sp.Add(*terms) if changed else None


@lru_cache(maxsize=None)
def _stripped(form: Form):
    import sympy as sp

    s = _strip(form.expr)
    return None if s is None else sp.lambdify(form.placeholders, s, "math")


@lru_cache(maxsize=None)
def _stripped_derivative(form: Form, position: int):
    import sympy as sp

    s = _strip(form.expr)
    return None if s is None else sp.lambdify(form.placeholders, sp.diff(s, form.placeholders[position]), "math")


@lru_cache(maxsize=None)
def _used(form: Form) -> frozenset[int]:
    """The positions of the arguments a form really uses (a derivative keeps only some of them)."""
    free = form.expr.free_symbols
    return frozenset(i for i, p in enumerate(form.placeholders) if p in free)


@lru_cache(maxsize=None)
def _terms(form: Form) -> tuple[tuple[Callable[..., float], int], ...]:
    """Each top-level term of a sum form alone (with the position of its first argument), for "only one kept"."""
    import sympy as sp

    if not isinstance(form.expr, sp.Add):
        return ()
    out = []
    index = {p: i for i, p in enumerate(form.placeholders)}
    for t in form.expr.args:
        used = sorted(index[s] for s in t.free_symbols if s in index)
        if used:
            out.append((sp.lambdify(form.placeholders, t, "math"), used[0]))
    return tuple(out) if len(out) > 1 else ()
