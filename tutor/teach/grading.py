"""The one grading core: every surface that grades a student's number (the quiz on network, training and graph
specs, and the self-check page's script) asks it, over the step records the engines produce.

A question is a quantity of a walk (its key, form, arguments and value). For each the core defines, once:

- the **reference** and the values that count as right: the value carried at the quiz's decimals, unless
  carried rounding moves it by more than the tolerance from exact arithmetic (then the exact value is the
  reference, and the carried one counts only while it is not destroyed: a value rounded to 0 that a later step
  divides by is never a reference nor accepted);
- the **tolerance**: one unit of the stated decimals or significant figures, but an answer closer to a
  quantity a student could confuse it with (another quantity of the same kind, e.g. ∂E/∂w3 beside ∂E/∂w1)
  than to the reference is not right;
- **carried-forward credit**: the value recomputed from the student's own earlier answers, through the
  arguments the form really uses only, with a **plausibility guard** on credited answers as on wrong ones:
  a value no network could produce, or one whose consequences leave nothing to compute (the outputs set to
  the targets make every gradient 0), earns no follow-on credit;
- **misconceptions** as named perturbations of the derivation (``Recipe``: a misconception, the step that
  goes wrong, a perturbed form over keys of the walk, or one value rounded early), evaluated in the student's
  world; a step the student answered (or was given) is never blamed;
- the **hint ladder** and its cost (``hint_points``).

``Grader.data`` writes the same definitions as data and SymPy-printed forms for the self-check page's script,
which runs the same decision (``templates/html/selfcheck.js``).

>>> from tutor import load
>>> from tutor.engine.symbolic import explain_step
>>> from tutor.teach.diagnose import Tolerance
>>> g = Grader(explain_step(load("mazur")), Tolerance("dp", 4))
>>> g.grade("net_h1", 0.3825, "0.3825").diagnosis.misconception
'transposed-weight'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..engine.steps import Form, Quantity
from ..spec.memo import MISSING, ByIdentity
from ..spec.rounding import Rounder, agrees_as_printed, format_fixed, printed_decimals, round_half_away
from .diagnose import MISCONCEPTIONS as _NETWORK_MISCONCEPTIONS
from .diagnose import Candidate as _Candidate
from .diagnose import Grade, Tolerance, _interval, _strip, _terms, _used, parse_number
from .diagnose import StudentWorld as World  # every quantity as it follows from the student's own values

MISCONCEPTIONS: dict[str, str] = {
    **_NETWORK_MISCONCEPTIONS,
    "transposed-weight": "a weight's indices were transposed (w_ij used for w_ji)",
    "added-chain": "the chain rule's factors were added instead of multiplied",
    "step-as-update": "the step η·g was given as the new weight instead of w − η·g",
    "neighbour-value": "a neighbouring quantity's value was given",
    "rounded-alone": "one intermediate value was rounded to fewer decimals and carried, the others not",
    "local-as-gradient": "the local derivative taken for the gradient (the upstream gradient not multiplied in)",
    "missing-fan-out-sum": "one edge's contribution only, where the node feeds several gates and they add up",
    "max-to-other-input": "a max or min gate's gradient was sent to the input it did not pick",
}

_GENERIC = ("added-chain", "neighbour-value", "rounded-alone")
MAX_DEPTH = 3  # how far below the asked quantity a mistake is looked for, through values the student did not give
NEIGHBOURS = 3  # questions before and after whose values a student may give by mistake
DEFAULT_HINT_COST = 1 / 3  # of a question's point, per rung of the hint ladder taken (the third shows the value)
HINT_LEVELS = 3


def hint_points(hints: int, cost: float) -> float:
    """What a credited answer earns after ``hints`` rungs of the ladder, each costing ``cost`` of its point."""
    return max(0.0, 1.0 - cost * min(hints, HINT_LEVELS))


class Candidate(_Candidate):
    """One misconception at one place (``step``: never a value the student answered), with the value the asked
    quantity would have with it; named from the core's ``MISCONCEPTIONS``."""

    @property
    def description(self) -> str:
        return MISCONCEPTIONS[self.misconception]


@dataclass(frozen=True)
class Recipe:
    """A misconception as a perturbation of the derivation: the value at ``at`` becomes ``form`` of ``args``
    (or ``args[0]`` rounded to ``round`` decimals), and the asked quantity follows from it. ``step`` is the
    quantity named as done wrong; a recipe applies only while the student has not given ``step``."""

    misconception: str
    step: str
    at: str
    detail: str
    form: Form | None
    args: tuple[str, ...]
    round: int | None = None


# -- the sheet's key: the stated rule, the key and its tolerance as one thing ----------------------------------


@dataclass(frozen=True)
class SheetKey:
    """A box's key as every export and the worksheet key state it: ``shown`` is what a student gets by following
    the sheet's rule (the box's formula over the rounded values shown before it, then the answer's rounding),
    right within ``tolerance``, one unit of its last decimal (an exact tie's other neighbour is one unit away:
    both are right)."""

    value: float
    shown: str
    tolerance: float

    def accepts(self, answer: float) -> bool:
        return abs(answer - self.value) <= self.tolerance * (1 + 1e-9)


def sheet_key(raw: float, tolerance: Tolerance) -> SheetKey:
    """The key of a box whose formula gives ``raw`` from the rounded values before it: ``raw`` rounded (half away
    from zero) to the tolerance's decimals or significant figures, and one unit of that last place.

    >>> sheet_key(0.00465, Tolerance("dp", 4))
    SheetKey(value=0.0047, shown='0.0047', tolerance=0.0001)
    >>> sheet_key(-0.0077812, Tolerance("sf", 3)), sheet_key(0.76797, Tolerance("sf", 3)).shown
    (SheetKey(value=-0.00778, shown='-0.00778', tolerance=1e-05), '0.768')
    >>> sheet_key(0.0009996, Tolerance("sf", 3)).shown, sheet_key(1234.5, Tolerance("sf", 3)).shown
    ('0.00100', '1230')
    """
    if tolerance.mode == "dp" or raw == 0 or not math.isfinite(raw):
        places = tolerance.places
    else:
        places = tolerance.places - 1 - math.floor(math.log10(abs(raw)))
        first = round_half_away(raw, places) if places >= 0 else _round_whole(raw, -places)
        places = tolerance.places - 1 - math.floor(math.log10(abs(first)))  # 0.0009996 became 0.00100
    value = round_half_away(raw, places) if places >= 0 else _round_whole(raw, -places)
    shown = format_fixed(value, places) if places >= 0 else str(int(value))
    return SheetKey(float(shown) if math.isfinite(value) else value, shown, 10.0**-places)


def _round_whole(x: float, tens: int) -> float:
    """``x`` to a multiple of 10**tens, half away from zero (3 significant figures of 1234.5: 1230)."""
    return round_half_away(x / 10.0**tens, 0) * 10.0**tens


def rule_statement(tolerance: Tolerance, digits: int) -> str:
    """The sheet's rule as every export states it: how values are carried, what an answer is, and its tolerance.

    >>> rule_statement(Tolerance("sf", 3), 4).split("; ", 1)[1]
    'give each answer to 3 significant figures; it is right within one unit of its last figure.'
    """
    carry = f"Round every value you compute to {digits} decimals and use the rounded value from then on"
    if tolerance.mode == "dp" and tolerance.places == digits:
        unit = f"{10.0**-digits:.{digits}f}"
        answer = f"each answer is that rounded value, right within one unit of its last decimal (±{unit})"
    elif tolerance.mode == "dp":
        answer = (
            f"give each answer to {tolerance.places} decimals; it is right within one unit of its last decimal "
            f"(±{10.0**-tolerance.places:.{tolerance.places}f})"
        )
    else:
        answer = (
            f"give each answer to {tolerance.places} significant figures; it is right within one unit of its last "
            "figure"
        )
    return f"{carry}; {answer}."


# -- forms that evaluate ------------------------------------------------------------------------------------


# The loss's derivative without its constant, by form and placeholder: every variant of a worksheet asks it
# of the same loss form, and SymPy's diff is most of what the misconceptions of a box cost.
# bounded: a form made anew for each walk is not kept for ever
_STRIPPED = ByIdentity(bound=1024)  # (form, (args, wrt)) -> the derivative, or None


def _stripped_derivative(form: Form, args: tuple, wrt: str):
    """The derivative of ``form`` (of ``args``) without its constant factor (``_strip``) by the placeholder of
    the argument ``wrt``, or None when the form has no such factor."""
    import sympy as sp

    d = _STRIPPED.get(form, (args, wrt))
    if d is MISSING:
        s = _strip(form.expr)
        d = _STRIPPED.put(form, None if s is None else sp.diff(s, form.placeholders[args.index(wrt)]), (args, wrt))
    return d


@lru_cache(maxsize=None)
def make_form(expr, placeholders: tuple, half: bool = True) -> Form:
    """A form whose evaluator is SymPy's lambdify of ``expr`` (numbers written as symbols read as floats;
    Heaviside at 0 as the graph engine takes it, an equal share, or with ``half=False`` as the network engines
    take a step's derivative at its kink, 0)."""
    import sympy as sp

    from ..spec.graphrules import FLOAT_FUNCTIONS

    expr = _evaluable(expr, placeholders, half)
    fn = sp.lambdify(placeholders, expr, modules=[FLOAT_FUNCTIONS, "math"])
    return Form(expr, fn, placeholders)


def _evaluable(expr, placeholders, half: bool):
    import sympy as sp

    subs = {}
    for s in expr.free_symbols - set(placeholders):
        try:
            subs[s] = sp.Float(float(s.name))
        except ValueError:
            pass
    expr = expr.xreplace(subs) if subs else expr
    at_zero = sp.Rational(1, 2) if half else sp.Integer(0)
    return expr.replace(sp.Heaviside, lambda x, *h: sp.Piecewise((1, x > 0), (at_zero, sp.Eq(x, 0)), (0, True)))


# -- a graph's walk as the core reads it ----------------------------------------------------------------------


@dataclass
class GraphSteps:
    """A graph's walk-through with evaluating forms: what the grading core and the quiz read of it."""

    graph: Any
    walk: Any  # the GraphWalk
    quantities: dict[str, Quantity]
    labels: dict
    network: Any = None
    forward: tuple = ()
    forward_after: tuple = ()

    def value(self, key: str) -> float:
        return self.quantities[key].value

    def values(self) -> dict[str, float]:
        return {k: q.value for k, q in self.quantities.items()}


def graph_steps(walk) -> GraphSteps:
    from dataclasses import replace

    q = {}
    for k, x in walk.quantities.items():
        if x.form is not None and x.form.fn is None:
            x = replace(x, form=make_form(x.form.expr, x.form.placeholders))
        q[k] = x
    return GraphSteps(walk.graph, walk, q, walk.labels)


# -- the core --------------------------------------------------------------------------------------------------


class Grader:
    """The grading of one walk's questions: references, tolerances, guards, recipes and the decision.

    ``walk`` is a network step's walk-through, a training step's flat walk or ``graph_steps`` of a graph;
    ``exact`` the exact-arithmetic values when the walk carries rounded values (None: the walk is exact);
    ``asked`` the question keys in order; ``given`` the computed values shown to the student (not asked).
    """

    def __init__(
        self,
        walk,
        tolerance: Tolerance,
        exact: Mapping[str, float] | None = None,
        asked: Sequence[str] = (),
        given: Iterable[str] = (),
        digits: int | None = None,
        label: Callable[[str], str] | None = None,
    ):
        self.walk = walk
        self.tolerance = tolerance
        self.graph = isinstance(walk, GraphSteps)
        self.digits = digits  # the rounding of carried values (None: exact)
        self.round = Rounder(digits)
        self.values = walk.values()
        self.exact = dict(exact) if exact is not None else dict(self.values)
        self.asked = list(asked) or [k for k, q in walk.quantities.items() if q.form is not None]
        self.position = {k: i for i, k in enumerate(self.asked)}
        self.given = {k: self.values[k] for k in given}
        self._label = label or (lambda k: k)
        self._recipes: dict[str, list[Recipe]] = {}
        self._rights: dict[str, list[float]] = {}
        self._near: dict[str, list[float]] = {}
        self._uses: dict[str, tuple[str, ...]] = {}
        self._guards: dict[str, tuple] = {}
        self._early: dict[str, list[Candidate]] = {}
        self._reach: dict[str, frozenset[str]] = {}
        self._net_of = {n.out: n.net for row in list(walk.forward) + list(walk.forward_after) for n in row}
        self._formulas = None

    def label(self, key: str) -> str:
        return self._label(key)

    def fmt(self, value: float) -> str:
        places = self.tolerance.places if self.tolerance.mode == "dp" else max(self.digits or 4, 4)
        return format_fixed(value, places) if abs(value) < 1e15 else f"{value:.4g}"

    # -- what is right ----------------------------------------------------------------------------------

    def destroyed(self, key: str) -> bool:
        """Whether carried rounding destroys ``key``: its carried value is far from the exact one (not a
        rounding difference: another sign, or ten times off)."""
        v, x = self.values[key], self.exact.get(key, self.values[key])
        if self.tolerance.accepts(v, x):
            return False
        flipped = (v > 0) != (x > 0) and abs(v - x) > 10 * self.tolerance.unit(x)
        return flipped or abs(v - x) > max(1.0, 10 * abs(x))

    def rights(self, key: str) -> list[float]:
        """The values that count as right, the reference first: the carried value while it is within the
        tolerance of the exact one, else the exact value (then the carried one only while not destroyed)."""
        if key not in self._rights:
            v, x = self.values[key], self.exact.get(key, self.values[key])
            if self.tolerance.accepts(v, x):
                out = [v] if v == x else [v, x]
            elif self.destroyed(key):
                out = [x]
            else:
                out = [x, v]
            self._rights[key] = out
        return self._rights[key]

    def reference(self, key: str) -> float:
        return self.rights(key)[0]

    def sheet_key(self, key: str) -> SheetKey:
        """The key an export and the worksheet key give ``key``: its formula over the carried (rounded, shown)
        values of its arguments, rounded as the answer's tolerance says (``sheet_key``)."""
        q = self.walk.quantities[key]
        raw = q.form.fn(*[self.values[a] for a in q.args]) if q.form is not None else self.values[key]
        return sheet_key(float(raw), self.tolerance)

    def unit(self, key: str) -> float:
        return self.tolerance.unit(self.reference(key))

    def near(self, key: str) -> list[float]:
        """The right values of the quantities a student could confuse ``key`` with (the other quantities of
        its kind) that lie within two units of it: an answer closer to one of them is not right."""
        if key not in self._near:
            kind = self.walk.quantities[key].kind
            r, u = self.reference(key), self.unit(key)
            out = []
            for k, q in self.walk.quantities.items():
                if k == key or q.kind != kind or q.form is None or k not in self.position:
                    continue
                v = self.reference(k)
                if u * 0.5 < abs(v - r) <= 2 * u * (1 + 1e-9) and v not in out:
                    out.append(v)
            self._near[key] = out
        return self._near[key]

    def within(self, answer: float, value: float, near: Sequence[float] = ()) -> bool:
        return self.tolerance.accepts(answer, value) and not any(abs(answer - c) < abs(answer - value) for c in near)

    def is_right(self, key: str, answer: float) -> bool:
        near = self.near(key)
        return any(self.within(answer, r, near) for r in self.rights(key))

    # -- what a quantity depends on -------------------------------------------------------------------

    def uses(self, key: str) -> tuple[str, ...]:
        """The arguments the form of ``key`` really uses (a loss term reads one output, not all)."""
        if key not in self._uses:
            q = self.walk.quantities[key]
            if q.form is None:
                self._uses[key] = ()
            else:
                used = _used(q.form)
                self._uses[key] = tuple(dict.fromkeys(a for i, a in enumerate(q.args) if i in used))
        return self._uses[key]

    def upstream_known(self, key: str, known: Mapping[str, float]) -> list[str]:
        """The student's values ``key`` is computed from, through values they did not give."""
        seen: set[str] = set()
        found: list[str] = []
        stack = list(self.uses(key))
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            if k in known:
                found.append(k)
            elif self.walk.quantities[k].form is not None:
                stack.extend(self.uses(k))
        order = {k: i for i, k in enumerate(self.walk.quantities)}
        return sorted(found, key=order.__getitem__)

    def downstream(self, key: str) -> list[str]:
        """The asked quantities after ``key`` computed from it (through the arguments their forms use)."""
        out = []
        for k in self.asked[self.position.get(key, -1) + 1 :]:
            if key in self._reaches(k):
                out.append(k)
        return out

    def _reaches(self, key: str) -> frozenset[str]:
        hit = self._reach.get(key)
        if hit is None:
            found: set[str] = set()
            for a in self.uses(key):
                found.add(a)
                if self.walk.quantities[a].form is not None:
                    found |= self._reaches(a)
            hit = self._reach[key] = frozenset(found)
        return hit

    # -- the plausibility guard -----------------------------------------------------------------------

    def guard(self, key: str) -> tuple:
        """(lo, hi, lo_open, hi_open, what): the range a value of ``key`` must lie in (None: any)."""
        if key not in self._guards:
            self._guards[key] = self._guard(key)
        return self._guards[key]

    def _guard(self, key: str) -> tuple:
        from ..render.notation import text_name

        q = self.walk.quantities[key]
        net = self.walk.network
        none = (None, None, False, False, "")
        if net is None:
            return none
        right = self.reference(key)
        unit = self.unit(key)
        if q.kind == "out" and q.layer is not None and q.layer < len(net.layers):
            layer = net.layers[q.layer]
            rule = layer.rule
            lo_hi = getattr(rule, "output_range", None)
            if lo_hi is not None:
                lo, hi = lo_hi
                closed = getattr(rule, "output_closed", False)
                what = getattr(rule, "output_meaning", "") or f"a {text_name(layer.activation)} output"
                # a right value that prints as the bound (a saturated sigmoid) makes the bound possible
                lo_open = not (closed or abs(right - lo) <= unit)
                hi_open = not (closed or abs(right - hi) <= unit)
                return (lo, hi, lo_open, hi_open, f"{what}: {_interval(lo, hi, closed)}")
        if q.kind in ("loss", "loss_term"):
            return (0.0, None, False, False, f"negative, and {net.loss_rule.name} cannot be")
        if q.kind == "factor" and q.wrt and self.walk.quantities[q.wrt].kind == "net" and q.layer is not None:
            act = net.layers[q.layer].activation
            bound = {"sigmoid": 0.25, "tanh": 1.0}.get(act)
            if bound is not None:
                return (0.0, bound + unit, True, False, f"no {act} derivative: they lie in (0, {bound:g}]")
        return none

    def implausible(self, key: str, value: float, shown: str | None = None) -> str:
        """Why ``value`` for ``key`` is one no network could produce here, or '' when it is possible."""
        shown = shown if shown is not None else f"{value:.10g}"
        name = f"{self.label(key)} = {shown}"
        if not math.isfinite(value):
            return f"{name} is not a number any step can produce"
        lo, hi, lo_open, hi_open, what = self.guard(key)
        bad = (lo is not None and (value < lo or (value == lo and lo_open))) or (
            hi is not None and (value > hi or (value == hi and hi_open))
        )
        if bad:
            return f"{name} is {what}" if what.startswith(("negative", "no ")) else f"{name} is not {what}"
        most, least = self.size_bounds(key)
        if abs(value) > most:
            return f"{name} is more than a hundred times the size it can have here"
        if abs(value) < least:
            return f"{name} is less than a hundredth of the size it has here"
        return ""

    def size_bounds(self, key: str) -> tuple[float, float]:
        """(most, least): the sizes |value| of ``key`` past which a value is implausible (a hundred times the
        right one, a hundredth of it; 0 when the right value is within a hundred units of 0)."""
        right, unit = self.reference(key), self.unit(key)
        return 100 * max(abs(right), 10 * unit), abs(right) / 100 if abs(right) >= 100 * unit else 0.0

    def trivialises(self, key: str, value: float, text: str, known: Mapping[str, float]) -> str:
        """Why the student's ``value`` of ``key`` earns no follow-on credit because of what it leads to: a later
        quantity computed from it that no network could produce (outputs at the targets make every gradient
        0), or ''."""
        world = World(self.walk, {**self.given, **known, key: value}, self.round)
        for d in self.downstream(key):
            if d in known:
                continue
            e = world.value(d)
            why = self.implausible(d, e, self.fmt(e) if math.isfinite(e) else "undefined")
            if why:
                return f"with {self.label(key)} = {text}, {why}"
        return ""

    # -- misconceptions -------------------------------------------------------------------------------

    def steps(self, key: str, known: Mapping[str, float] | Iterable[str] = ()) -> list[str]:
        """The quantities whose computation may have gone wrong: ``key`` and, down to ``MAX_DEPTH``, the computed
        ones it is made from that the student did not give (nor was given)."""
        known = set(known)
        out = [key]
        seen = {key}
        frontier = [key]
        for _ in range(MAX_DEPTH):
            nxt = []
            for k in frontier:
                for a in self.walk.quantities[k].args:
                    if a in seen or a in known or self.walk.quantities[a].form is None:
                        continue
                    seen.add(a)
                    out.append(a)
                    if a not in self.given:  # a value shown to the student: its own step may go wrong, not below
                        nxt.append(a)
            frontier = nxt
        return out

    def recipes(self, key: str) -> list[Recipe]:
        """Every recipe that can give a wrong value of ``key``: at its own step, below it, and the values of
        its neighbours and of its arguments rounded alone."""
        if key not in self._recipes:
            out: list[Recipe] = []
            for step in self.steps(key):
                out += self._perturbations(step, asked=step == key)
            out += self._rounded_alone(key) + self._neighbours(key)
            # the generic mistakes come after the ones of the derivation: on a tie, the specific name wins
            self._recipes[key] = sorted(out, key=lambda r: r.misconception in _GENERIC)
        return self._recipes[key]

    def candidates(self, key: str, world: World, allowed: set[str]) -> list[Candidate]:
        out = []
        for r in self.recipes(key):
            if r.step not in allowed:
                continue
            v = self.apply(r, world)
            if r.round is not None and v == world.value(r.args[0]):
                continue  # already at those decimals: nothing was rounded
            value = v if r.at == key else world.evaluate(key, {r.at: v})
            if math.isfinite(value):
                out.append(Candidate(r.misconception, r.step, r.detail, value))
        return out

    def apply(self, r: Recipe, world: World) -> float:
        if r.round is not None:
            v = world.value(r.args[0])
            return Rounder(r.round)(v) if abs(v) < 1e15 else v
        return world.call(r.form.fn, [world.value(a) for a in r.args])

    def early(self, key: str) -> list[Candidate]:
        """``key`` with every earlier value rounded to fewer decimals than asked and carried forward (static)."""
        if key not in self._early:
            out = []
            q = self.walk.quantities[key]
            if self.tolerance.mode == "dp" and q.form is not None:
                for d in range(self.tolerance.places - 1, 0, -1):
                    early = World(self.walk, {}, Rounder(d))
                    value = World(self.walk, {}, self.round).call(q.form.fn, [early.value(a) for a in q.args])
                    if math.isfinite(value):
                        places = self.tolerance.places
                        detail = (
                            f"the values before it rounded to {d} decimal{'s' if d != 1 else ''} give "
                            f"{format_fixed(value, places)} instead of {format_fixed(self.reference(key), places)}; "
                            f"keep {places} decimals until the end"
                        )
                        out.append(Candidate("rounded-too-early", key, detail, value))
            self._early[key] = out
        return self._early[key]

    # -- the decision ---------------------------------------------------------------------------------

    def grade(
        self,
        key: str,
        answer: float,
        text: str | None = None,
        known: Mapping[str, float] | None = None,
        untrusted: Mapping[str, str] | None = None,
    ) -> Grade:
        """Grade ``answer`` (typed as ``text``) for ``key`` given the student's earlier values ``known`` and
        those of them that earn no follow-on credit (``untrusted``, with why).

        1. Within the tolerance of a right value (and not closer to a quantity it could be confused with):
           **correct**.
        2. Within the tolerance of the value that follows from the student's own earlier values: unless that
           value is implausible (no follow-on credit for a chain that leads nowhere), **correct** when no earlier
           value it uses is wrong, **carried** when every wrong one is trusted, else **wrong** (refused).
        3. Otherwise **wrong**, diagnosed: too few decimals; else the closest misconception (computed from the
           student's values, then from right ones, then from values rounded too early), never one at a step the
           student gave.
        """
        text = text if text is not None else repr(answer)
        known = {k: v for k, v in (known or {}).items() if k != key}
        untrusted = untrusted or {}
        mine = {**self.given, **known}
        world = World(self.walk, mine, self.round)
        reference = self.reference(key)
        expected = world.carried(key)
        if self.is_right(key, answer):
            return Grade("correct", reference, expected)
        if math.isfinite(expected) and self.within(answer, expected, self.near(key)):
            wrong = tuple(k for k in self.upstream_known(key, known) if not self.is_right(k, known[k]))
            bad = tuple(k for k in wrong if k in untrusted)
            if bad:
                why = "; ".join(dict.fromkeys(untrusted[k] for k in bad))
                return Grade("wrong", reference, expected, wrong, refused=bad, refused_why=why)
            own = self.implausible(key, expected, self.fmt(expected))
            if own:  # a chain that leads nowhere is not credited as work
                return Grade("wrong", reference, expected, wrong, refused=wrong or (key,), refused_why=own)
            return Grade("carried" if wrong else "correct", reference, expected, wrong)
        few = self.too_few_decimals(key, text)
        if few is not None:
            return Grade("wrong", reference, expected, diagnosis=few)
        baseline = [*self.rights(key)] + ([expected] if math.isfinite(expected) else [])
        allowed = set(self.steps(key, known))
        right_world = World(self.walk, {**self.given, **{k: self.values[k] for k in known}}, self.round)
        groups = [lambda: self.candidates(key, world, allowed)]
        if known:
            groups.append(lambda: self.candidates(key, right_world, allowed))
        groups.append(lambda: self.early(key))
        for group in groups:
            hits = [
                c
                for c in group()
                if self._matches(answer, text, c.value)
                and not any(self.tolerance.accepts(c.value, b) for b in baseline)
            ]
            if hits:
                return Grade("wrong", reference, expected, diagnosis=min(hits, key=lambda c: abs(c.value - answer)))
        return Grade("wrong", reference, expected)

    @property
    def formulas(self):
        """The walk's derived forms for typed formulas (``tutor.teach.formulas``), made on first use."""
        from .formulas import FormulaGrading

        if self._formulas is None:
            self._formulas = FormulaGrading(self.walk)
        return self._formulas

    def grade_formula(self, key: str, text: str):
        """A typed formula for ``key`` (``quiz --symbolic``): right when it is equivalent to the derived form,
        else the symbolic slip it shows (``formulas.SLIPS``), if one does; the formula is read by the graph
        specs' grammar, and what the grammar refuses raises ``FormulaError`` (one line)."""
        return self.formulas.grade(key, text)

    def _matches(self, answer: float, text: str, value: float) -> bool:
        if self.tolerance.accepts(answer, value):
            return True
        # a misconception's value typed to fewer decimals, at least two (0.59 for out_h1 = 0.5933)
        t = text.strip()
        return (
            self.tolerance.mode == "dp"
            and "." in t
            and "e" not in t.lower()
            and 2 <= printed_decimals(t) < self.tolerance.places
            and abs(value) < 1e15
            and agrees_as_printed(value, t)
        )

    def too_few_decimals(self, key: str, text: str) -> Candidate | None:
        t = text.strip()
        if self.tolerance.mode != "dp" or "." not in t or "e" in t.lower() or parse_number(t) is None:
            return None
        given = printed_decimals(t)
        if given >= self.tolerance.places or not any(agrees_as_printed(r, t) for r in self.rights(key)):
            return None
        detail = (
            f"{t} has {given} decimal{'s' if given != 1 else ''} where {self.tolerance.places} are asked for: "
            f"{format_fixed(self.reference(key), self.tolerance.places)}"
        )
        return Candidate("too-few-decimals", key, detail, self.reference(key))

    def _named(self, keys: Sequence[str], known: Mapping[str, float]) -> str:
        return ", ".join(f"{self.label(k)} = {known[k]:.10g}" for k in keys)

    # -- the perturbations of one step ---------------------------------------------------------------

    def _perturbations(self, key: str, asked: bool) -> list[Recipe]:
        import sympy as sp

        Q = self.walk.quantities
        q = Q[key]
        if q.form is None:
            return []
        lab = self.label
        kinds = [Q[a].kind for a in q.args]
        ph = q.form.placeholders
        expr = q.form.expr
        out: list[Recipe] = []

        def add(mis: str, detail: str, e, args: Sequence[str] | None = None, placeholders=None) -> None:
            form = make_form(sp.sympify(e), tuple(placeholders if placeholders is not None else ph), self.graph)
            out.append(Recipe(mis, key, key, detail, form, tuple(args if args is not None else q.args)))

        wrt = Q[q.wrt].kind if q.wrt else ""
        if self.graph:
            self._graph_perturbations(key, add)
            return out
        if q.kind == "factor" and wrt == "net":  # dout/dnet: an activation's derivative
            at_net = [self._net_of.get(a, a) if k == "out" else a for a, k in zip(q.args, kinds)]
            if at_net != list(q.args):
                add("derivative-at-net", f"{lab(key)} evaluated at {lab(q.wrt)} instead of at the output", expr, at_net)
        elif q.kind == "factor" and wrt == "out" and any(Q[a].kind == "target" for a in q.of_args):  # dE/dout
            add("flipped-error-sign", f"{lab(key)} with the sign flipped", -expr)
            d = _stripped_derivative(q.of_form, q.of_args, q.wrt)
            if d is not None:
                mis, what = self._constant()
                add(mis, f"{lab(key)} without {what}", d, q.of_args, q.of_form.placeholders)
        elif q.kind == "factor" and wrt in ("param", "update"):  # dnet/dw: the input the weight multiplies
            right = [q.args[i] for i in _used(q.form)]
            x = sp.Symbol("_0", real=True)
            for a in q.of_args:
                if Q[a].kind in ("input", "out") and a not in right:
                    detail = f"{lab(a)} used instead of {', '.join(map(lab, right))} for {lab(key)}"
                    add("wrong-input", detail, x, (a,), (x,))
        elif q.kind == "factor" and wrt == "out":  # dnet_k/dout_j: the weight from j to k
            used = _used(q.form)
            swapped, names = list(q.args), []
            for i, (a, k) in enumerate(zip(q.args, kinds)):
                new = self.walk.network.updated_name(a) if k == "param" else Q[a].args[0] if k == "update" else None
                if i in used and new is not None and new in Q:
                    swapped[i] = new
                    names.append((a, new))
            if names:
                mis = "old-weights-in-hidden-delta" if kinds[0] == "update" else "updated-weights-in-hidden-delta"
                add(
                    mis, ", ".join(f"{lab(n)} instead of {lab(a)}" for a, n in names) + f" in {lab(key)}", expr, swapped
                )
        if q.kind in ("loss", "loss_term") and "target" in kinds:
            s = _strip(expr)
            if s is not None:
                mis, what = self._constant()
                add(mis, f"{lab(key)} without {what}", s)
        dropped = [i for i, a in enumerate(q.args) if self._is_activation_derivative(a)]
        if isinstance(expr, sp.Mul) and dropped:
            for i in dropped:
                detail = f"{lab(q.args[i])} left out of {lab(key)}"
                add("dropped-activation-derivative", detail, expr.xreplace({ph[i]: 1}))
        if q.kind in ("sum", "loss", "gradient", "delta"):
            for t, first in _term_exprs(q.form):
                add("missing-downstream-sum", f"only {lab(q.args[first])} kept of {lab(key)}", t)
        if isinstance(expr, sp.Mul) and len(expr.args) >= 2 and all(a in ph for a in expr.args):
            add("added-chain", f"the factors of {lab(key)} added", sp.Add(*expr.args))
        if q.kind == "update" and "rate" in kinds:
            eta = ph[kinds.index("rate")]
            add(
                "forgot-learning-rate",
                f"{lab(key)} without {lab(q.args[kinds.index('rate')])}",
                expr.xreplace({eta: 1}),
            )
            add("gradient-added", f"{lab(key)} with + η·gradient", expr.xreplace({eta: -eta}))
            if kinds[0] == "param":
                add("step-as-update", f"η·∂E/∂{lab(q.args[0])} given as {lab(key)}", ph[0] - expr)
        if q.kind == "net" and kinds and kinds[-1] == "param":
            add("forgot-bias", f"{lab(key)} without the bias {lab(q.args[-1])}", expr.xreplace({ph[-1]: 0}))
        if q.kind == "net":
            out += self._transposed(key)
        if q.kind == "out" and len(q.args) == 1:
            x = sp.Symbol("_0", real=True)
            add("no-activation", f"{lab(key)} taken as {lab(q.args[0])}", x, (q.args[0],), (x,))
        return out

    def _is_activation_derivative(self, key: str) -> bool:
        q = self.walk.quantities[key]
        return q.kind == "factor" and bool(q.wrt) and self.walk.quantities[q.wrt].kind == "net"

    def _graph_perturbations(self, key: str, add) -> None:
        import sympy as sp

        Q = self.walk.quantities
        q = Q[key]
        ph = q.form.placeholders
        expr = q.form.expr
        lab = self.label
        if q.kind in ("gradient", "contribution") and len(q.args) == 2:  # upstream × local
            add("local-as-gradient", f"the local derivative {lab(q.args[1])} alone", ph[1])
        if q.kind == "sum":
            for t, first in _term_exprs(q.form):
                add("missing-fan-out-sum", f"only the edge through {lab(q.args[first])} counted", t)
        if q.kind == "local" and q.key.startswith("local["):
            gate = q.key[6:].split("/", 1)[0]
            if gate in Q and Q[gate].note in ("max", "min"):
                add("max-to-other-input", f"{gate} = {Q[gate].note}(...): its gradient sent to {lab(q.wrt)}", 1 - expr)
        if isinstance(expr, sp.Mul) and len(expr.args) >= 2 and all(a in ph for a in expr.args):
            add("added-chain", f"the factors of {lab(key)} added", sp.Add(*expr.args))

    def _transposed(self, key: str) -> list[Recipe]:
        """net = Σ w·x with one weight's indices transposed (w3 used for w2), and with all of them."""
        net = self.walk.network
        q = self.walk.quantities[key]
        where = {}
        for layer in net.layers:
            for j, row in enumerate(layer.weight_labels):
                for i, w in enumerate(row):
                    where[w] = (layer, j, i)
        out = []
        swaps = []
        for n, a in enumerate(q.args):
            if a not in where:
                continue
            layer, j, i = where[a]
            rows = layer.weight_labels
            if i < len(rows) and j < len(rows[i]) and rows[i][j] != a and rows[i][j] in self.walk.quantities:
                swaps.append((n, a, rows[i][j]))
        for n, a, b in swaps:
            args = list(q.args)
            args[n] = b
            detail = f"{self.label(b)} used for {self.label(a)} in {self.label(key)}"
            out.append(Recipe("transposed-weight", key, key, detail, q.form, tuple(args)))
        if len(swaps) > 1:
            args = list(q.args)
            for n, _, b in swaps:
                args[n] = b
            detail = f"every weight of {self.label(key)} with its indices transposed"
            out.append(Recipe("transposed-weight", key, key, detail, q.form, tuple(args)))
        return out

    def _rounded_alone(self, key: str) -> list[Recipe]:
        if self.tolerance.mode != "dp":
            return []
        q = self.walk.quantities[key]
        out = []
        for a in self.uses(key):
            if self.walk.quantities[a].form is None:
                continue
            for d in range(self.tolerance.places - 1, 0, -1):
                detail = f"{self.label(a)} rounded to {d} decimal{'s' if d != 1 else ''} alone in {self.label(key)}"
                out.append(Recipe("rounded-alone", key, a, detail, None, (a,), round=d))
        return out if q.form is not None else []

    def _neighbours(self, key: str) -> list[Recipe]:
        import sympy as sp

        p = self.position.get(key)
        if p is None:
            return []
        x = sp.Symbol("_0", real=True)
        out = []
        for k in self.asked[max(0, p - NEIGHBOURS) : p + NEIGHBOURS + 1]:
            if k != key:
                detail = f"the value of {self.label(k)} given for {self.label(key)}"
                out.append(Recipe("neighbour-value", key, key, detail, make_form(x, (x,)), (k,)))
        return out

    def _constant(self) -> tuple[str, str]:
        return (
            ("forgot-half", "the ½") if self.walk.network.loss == "half_sse" else ("forgot-mean", "the 1/n of the mean")
        )


def _term_exprs(form: Form):
    """Each top-level term of a sum form (with the position of its first argument), as expressions."""
    import sympy as sp

    if not isinstance(form.expr, sp.Add) or not _terms(form):
        return []
    index = {p: i for i, p in enumerate(form.placeholders)}
    out = []
    for t in form.expr.args:
        used = sorted(index[s] for s in t.free_symbols if s in index)
        if used:
            out.append((t, used[0]))
    return out
