"""The worked-solution checker: every claimed number against the tutor's own computation, with a diagnosis.

A claim is a quantity (named as in the spec's notation, as ``explain --format json`` names it) and a value
exactly as printed. The checker walks what ``explain`` and ``train`` show for the spec (``step_walk``): the
plain step, or a training step with every example's values named per example, batch means,
regularization, the decayed learning rate, the optimizer's state and the update steps; what a training
document prints after an update (``after_extras``: every example by its number, the loss over every
example) and the gradient check's central differences are named too; ``after_steps`` claims are reached on
one training run per convention, trained as the spec says. A claim agrees when it is a correct rounding of
the computed value at its printed decimals (of the double, either neighbour at an exact tie, or of its
shortest decimal form). Otherwise it is compared under the other conventions (as-printed rounding, update
order, bias updates, summed batch gradients, momentum's velocity written the other way, float32
arithmetic, steps counted differently, each value carried at its printed precision); a convention that
does not apply to the spec is skipped and listed. A claim that holds under none is wrong, and the checker
looks for the most specific explanation that reproduces it: carried forward from earlier claimed values
(as printed, or held to more digits), a rounding artefact (of the value, or of every value before it), an
arithmetic slip, a known mistake (the quiz's misconceptions), a related quantity of the same step, or none
("wrong on its own").
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal, localcontext
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..engine import training
from ..engine.steps import Walkthrough
from ..engine.walks import plain, step_walk
from ..spec.errors import SpecError, TutorError
from ..spec.memo import MISSING, ByIdentity
from ..spec.network import MAX_FILE_BYTES, Network, free_text, parse_toml
from ..spec.resources import read_text
from ..spec.rounding import DIGIT_KINDS, agrees_as_printed, format_fixed, printed_decimals
from . import diagnose

MAX_CLAIMS = 5000
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z")

AGREES, CONVENTION, WRONG = "agrees", "holds under another convention", "wrong"
CARRIED, DIFFERENT, SLIP, ROUNDING, MISCONCEPTION, ALONE = (
    "carried forward",
    "different quantity",
    "arithmetic slip",
    "rounding artefact",
    "known mistake",
    "wrong on its own",
)


@dataclass(frozen=True)
class Claim:
    quantity: str
    printed: str
    note: str = ""
    after_steps: int | None = None
    index: int = 0

    @property
    def decimals(self) -> int:
        return printed_decimals(self.printed)

    @property
    def value(self) -> float:
        return float(self.printed)


@dataclass
class Verdict:
    claim: Claim
    status: str
    correct: float  # the value under the spec's own conventions
    convention: str = ""  # for CONVENTION: the convention it holds under
    diagnosis: str = ""  # for WRONG: one of the kinds; CARRIED also for a value carried as printed
    explanation: str = ""
    related: list[str] = field(default_factory=list)  # quantities the diagnosis names
    misconception: str = ""  # for MISCONCEPTION: its id in tutor.teach.diagnose.MISCONCEPTIONS

    @property
    def holds(self) -> bool:
        return self.status != WRONG

    @property
    def correct_printed(self) -> str:
        d = max(self.claim.decimals, 1)
        if abs(self.correct) < 10.0**-d:  # it would read 0.000: show its digits instead
            return f"{self.correct:.3g}"
        return format_fixed(self.correct, d)


@dataclass
class Report:
    network: Network
    verdicts: list[Verdict]
    tried: list[str] = field(default_factory=list)  # the other conventions tried, in order
    skipped: dict[str, str] = field(default_factory=dict)  # conventions not tried, with the reason

    @property
    def ok(self) -> bool:
        return all(v.holds for v in self.verdicts)


# -- claims files ---------------------------------------------------------------------------------------


def load_claims(path: str | Path, keys: Mapping[str, Any] | None = None) -> list[Claim]:
    """Read a claims file: ``[[claim]]`` tables with ``quantity``, ``value`` (a string, as printed) and an
    optional ``note`` and ``after_steps``. Unknown quantity names are refused with the close matches."""
    where = str(path)
    try:
        text = read_text(path, where, MAX_FILE_BYTES)
    except SpecError:
        raise
    except TutorError as exc:
        raise SpecError(exc.message, where) from None
    data = parse_toml(text, where)
    return parse_claims(data, where, keys)


def parse_claims(data: Mapping[str, Any], where: str, keys: Mapping[str, Any] | None = None) -> list[Claim]:
    for key in data:
        if key != "claim":
            raise SpecError("unknown key; a claims file holds [[claim]] tables", f"{where}: {key}")
    raw = data.get("claim")
    if not isinstance(raw, list) or not raw:
        raise SpecError("give at least one [[claim]] table with quantity and value", f"{where}: claim")
    if len(raw) > MAX_CLAIMS:
        raise SpecError(f"{len(raw)} claims; at most {MAX_CLAIMS}", f"{where}: claim")
    claims = []
    for i, c in enumerate(raw):
        w = f"{where}: claim[{i}]"
        if not isinstance(c, Mapping):
            raise SpecError("each [[claim]] must be a table", w)
        for key in c:
            if key not in ("quantity", "value", "note", "after_steps"):
                raise SpecError("unknown key; allowed: quantity, value, note, after_steps", f"{w}.{key}")
        q = c.get("quantity")
        if not isinstance(q, str):
            raise SpecError('give the quantity\'s name as a string, e.g. "out_h1" or "dE_total/dw5"', f"{w}.quantity")
        v = c.get("value")
        if not isinstance(v, str):
            raise SpecError(
                'give the value as a string, exactly as printed (e.g. "0.5933"), so its precision is kept', f"{w}.value"
            )
        v = v.strip()
        if not _NUMBER.match(v) or len(v) > MAX_VALUE_CHARS:
            raise SpecError(
                f'{v[:MAX_VALUE_CHARS]!r} is not a decimal number as printed (e.g. "-0.019049119", no exponent, at '
                f"most {MAX_VALUE_CHARS} characters)",
                f"{w}.value",
            )
        note = c.get("note", "")
        if not isinstance(note, str) or len(note) > 500:
            raise SpecError("the note must be a string of at most 500 characters", f"{w}.note")
        note = free_text(note, f"{w}.note", limit=500)
        steps = c.get("after_steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1_000_000):
            raise SpecError("after_steps must be a whole number from 1 to 1000000", f"{w}.after_steps")
        if keys is not None and q not in keys:
            close = difflib.get_close_matches(q, list(keys), n=4, cutoff=0.6)
            hint = (
                f"; close matches: {', '.join(close)}"
                if close
                else "; see 'backprop-tutor explain SPEC --format json' for every name"
            )
            raise SpecError(f"unknown quantity {q!r}{hint}", f"{w}.quantity")
        if v.startswith("."):
            v = "0" + v
        elif v.startswith("-."):
            v = "-0" + v[1:]
        claims.append(Claim(q, v.lstrip("+"), note, steps, i))
    return claims


# -- the walk a claim is checked against -----------------------------------------------------------------

# The training work a report may do for multi-step claims, over all conventions (the spec's own is always
# tried; other conventions only while they fit).
MAX_TRAINING_STEPS = 2_000_000
MAX_ROUNDED_STEPS = 20  # multi-step claims are tried with every value carried rounded up to this many steps
MAX_VALUE_CHARS = 40  # a claimed value as printed: a decimal of at most this many characters
_ULPS = 4  # claims printed with 15 or more significant digits agree within this many units in the last place
_UPDATE_KINDS = ("update", "state", "step")  # the lines of an update: a step's own results


def quantity_names(net: Network) -> dict[str, Any]:
    """Every quantity a claim can name for this spec: the keys of ``explain --format json``'s values, and
    what the training documents print after an update (``after_extras``)."""
    return {**after_extras(net), **step_walk(net).quantities}


def after_extras(net: Network) -> dict[str, tuple]:
    """The numbers a training document prints after an update, by name: every example's net inputs,
    outputs and loss by its number in the data set (``out_o1[ex3]``; ``[e3]`` is the 3rd example of a
    step's batch), the mean loss over every example (``E[all]``, with the regularization term) and over the
    validation examples (``E[validation]``); for one plain step, the gradient check's central differences
    (``central[w1]``). Without
    ``after_steps`` a claim names them at the start, before any update. (A batch-normalized network's
    forward pass needs its batch: not named.)"""
    out: dict[str, tuple] = {}
    if plain(net):  # the gradient check's central differences, by the parameter (or given input)
        names = [p for p in net.parameter_values([l.weights for l in net.layers], training.bias_params(net))]
        if net.layers[0].weightless:
            names += list(net.input_names)
        out.update({f"central[{p}]": ("central", p, None, None) for p in names})
    if net.has_batch_norm:
        return out
    loss = net.notation["loss"]
    out[f"{loss}[all]"] = ("all", None, None, None)
    if net.training.validation:
        out[f"{loss}[validation]"] = ("validation", None, None, None)
    if len(net.examples) > 1:
        for k in range(len(net.examples)):
            for li, layer in enumerate(net.layers):
                for j, (n, o) in enumerate(zip(layer.net_names, layer.out_names)):
                    out[f"{n}[ex{k + 1}]"] = ("net", k, li, j)
                    out[f"{o}[ex{k + 1}]"] = ("out", k, li, j)
            out[f"{loss}[ex{k + 1}]"] = ("loss", k, None, None)
    return out


def _extra_value(ctx: "_Context", net: Network, key: str, n: int) -> float | None:
    """An ``after_extras`` quantity after ``n`` updates, from the parameters the training run reached."""
    from ..engine import numeric

    what = after_extras(net).get(key)
    if what is None:
        return None
    if what[0] == "central":
        if n:
            return None
        rows = {r.param: r.finite_difference for r in ctx.gradient_check(net).rows}
        return rows.get(what[1])
    if n == 0:
        W, bp = [l.weights for l in net.layers], training.bias_params(net)
    else:
        st = ctx.run(net).steps.get(n)
        if st is None:
            return None
        W, bp = st.new_W, st.new_b
    R = numeric.rounder_for(net)
    kind, k, li, j = what
    if kind == "all":
        return training.dataset_loss(net, W, bp, R)
    if kind == "validation":
        return training.validation_loss(net, W, bp, R)
    x, t = net.examples[k]
    fw = numeric.forward(net, W, training.full_biases(net, bp), x=x, t=t, R=R)
    return float(fw.loss if kind == "loss" else (fw.nets if kind == "net" else fw.outs)[li][j])


class _Context:
    """The walks and training runs a report needs: one run per convention, shared by every claim."""

    def __init__(self, net: Network, claims: list[Claim], progress=None):
        self.net = net
        self.progress = progress
        self._walks: dict[tuple, Walkthrough] = {}
        self._runs: dict[tuple, training.Run] = {}
        multi = [c.after_steps for c in claims if c.after_steps is not None]
        self.max_steps = max(multi) + 1 if multi else 0
        self.keep = {n + d for n in multi for d in (-1, 0, 1) if n + d >= 1}
        self.budget = MAX_TRAINING_STEPS
        self.tried: list[str] = []
        self.skipped: dict[str, str] = {}
        self.float32_author = False
        self.by_kind: tuple[tuple[str, int], ...] = ()  # the decimals each kind of quantity is claimed at
        self._trainings = ByIdentity()  # a training -> its repr

    def _net_key(self, net: Network) -> tuple:
        """What a walk or a training run depends on beyond the network's numbers: its conventions and training.
        The training's repr is written once per Training (its arrays, validation examples, are slow to write)
        and kept with it, so that its id is not another's."""
        t = net.training
        known = self._trainings.get(t)
        if known is MISSING:
            known = self._trainings.put(t, repr(t))
        return (net.conventions, net.update_biases, known)

    def note(self, name: str, reason: str = "") -> None:
        if reason:
            self.skipped.setdefault(name, reason)
        elif name not in self.tried:
            self.tried.append(name)

    def gradient_check(self, net: Network):
        from ..engine.gradcheck import gradient_check

        key = ("gradient check", self._net_key(net))
        if key not in self._walks:
            self._walks[key] = gradient_check(net)
        return self._walks[key]

    def float32_error(self, net: Network) -> dict[str, float]:
        key = ("float32", self._net_key(net))
        if key not in self._walks:
            self._walks[key] = float32_error(self.walk(net))
        return self._walks[key]

    def walk(self, net: Network) -> Walkthrough:
        key = self._net_key(net)
        if key not in self._walks:
            self._walks[key] = step_walk(net)
        return self._walks[key]

    def affordable(self, net: Network) -> bool:
        return self._net_key(net) in self._runs or self.max_steps <= self.budget

    def run(self, net: Network) -> training.Run:
        key = self._net_key(net)
        if key not in self._runs:
            total = self.max_steps
            self.budget -= total
            tick = self.progress(total, "training step") if self.progress is not None else None
            self._runs[key] = training.run(net, 0, keep=self.keep.__contains__, total_steps=total, progress=tick)
        return self._runs[key]

    def walk_at(self, net: Network, n: int) -> Walkthrough:
        """The walk of step ``n`` (1-based) of the run trained as the spec says under ``net``'s conventions."""
        key = (self._net_key(net), n)
        if key not in self._walks:
            self._walks[key] = step_walk(net, self.run(net).steps[n])
        return self._walks[key]


def _value(ctx: _Context, net: Network, claim: Claim, steps_shift: int = 0) -> float | None:
    """The claimed quantity's value under ``net``'s conventions (None when it cannot be measured)."""
    walk = ctx.walk(net)
    if claim.quantity not in walk.quantities:
        n = 0 if claim.after_steps is None else claim.after_steps - steps_shift
        return _extra_value(ctx, net, claim.quantity, n) if n >= 0 else None
    if claim.after_steps is None:
        return walk.value(claim.quantity)
    n = claim.after_steps - steps_shift  # the updates done
    q = walk.quantities[claim.quantity]
    if q.kind == "param":  # a parameter after n updates
        if n < 1:
            return q.value if n == 0 else None
        st = ctx.run(net).steps[n]
        return net.parameter_values(st.new_W, st.new_b).get(claim.quantity)
    # an update's lines come with the n-th update; everything else is computed at the point after n updates
    at = n if q.kind in _UPDATE_KINDS else n + 1
    if at < 1:
        return None
    # (a last, smaller batch names its examples otherwise: such a quantity is not in that step)
    q = ctx.walk_at(net, at).quantities.get(claim.quantity)
    return None if q is None else q.value


# -- conventions ------------------------------------------------------------------------------------------


def _kind_decimals(ctx: _Context, net: Network, claims: list[Claim]) -> tuple[tuple[str, int], ...]:
    """The decimals a solution prints each kind of quantity with (``rounding.DIGIT_KINDS``: outputs, deltas,
    ...), the most common among its claims of that kind; () unless at least two kinds claimed twice or more
    differ, when carrying each kind at its own precision is a convention of its own."""
    from collections import Counter

    walk = ctx.walk(net)
    kind_of = {k: user for user, kinds in DIGIT_KINDS.items() for k in kinds}
    seen: dict[str, Counter] = {}
    for c in claims:
        q = walk.quantities.get(c.quantity)
        if q is None or q.form is None or q.kind not in kind_of or not 1 <= c.decimals <= 15:
            continue
        seen.setdefault(kind_of[q.kind], Counter())[c.decimals] += 1
    # a pattern, not a one-off: only kinds claimed at least twice say at what precision the author carries them
    # (a single rounded claim and what follows from it is the mixed-precision reading's, claim by claim)
    chosen = {k: n.most_common(1)[0][0] for k, n in seen.items() if sum(n.values()) >= 2}
    return tuple((k, chosen[k]) for k in DIGIT_KINDS if k in chosen) if len(set(chosen.values())) > 1 else ()


def _conventions(net: Network, claim: Claim, by_kind: tuple[tuple[str, int], ...] = ()) -> list[tuple[str, Any]]:
    """The other conventions to try, the most common first: (name, a network under it, or the reason it
    does not apply to this spec). ``by_kind``: the decimals the solution prints each kind of quantity with,
    when they differ (each kind then carried at its own, the rest at the largest)."""
    c = net.conventions
    out: list[tuple[str, Any]] = []

    def variant(name: str, make) -> None:
        try:
            out.append((name, make()))
        except TutorError as exc:  # a convention the spec refuses does not apply: it is skipped, never fatal
            out.append((name, exc.message))

    # Only the claim's own precision: a hand calculation carries what it prints. (Rounding at more
    # decimals and then at the printed ones is double rounding, which the diagnosis names as such.)
    # Nobody carries rounded figures by hand through thousands of steps: only a few steps are tried so.
    few = claim.after_steps is None or claim.after_steps <= MAX_ROUNDED_STEPS
    digits = [claim.decimals] if few and 1 <= claim.decimals <= 15 else []
    for d in digits:
        if not (c.rounding == "as-printed" and c.digits == d):
            variant(
                f"as-printed rounding at {d} decimals (every shown value rounded and carried forward)",
                lambda d=d: net.with_conventions(rounding="as-printed", digits=d),
            )
    if few and by_kind and not (c.rounding == "as-printed" and c.digits_of == by_kind):
        own = ", ".join(f"{k} at {d}" for k, d in by_kind)
        variant(
            f"as-printed rounding by kind of quantity ({own} decimals: each kind carried at the precision its "
            "claims are printed with)",
            lambda: net.with_conventions(
                rounding="as-printed", digits=max(d for _, d in by_kind), digits_of=dict(by_kind)
            ),
        )
    other = "updated-first" if c.update_order == "standard" else "standard"
    what = (
        "update order updated-first (hidden deltas use the already updated output-side weights)"
        if other == "updated-first"
        else "update order standard (hidden deltas use the old weights)"
    )
    bias_what = f"bias updates {'off' if net.update_biases else 'on'}"
    if net.parameter_count == 0:  # activations alone: no update whose order or biases could differ
        out += [(what, "the network has no weights or biases"), (bias_what, "the network has no weights or biases")]
    else:
        variant(what, lambda: net.with_conventions(update_order=other))
    order_applies = not isinstance(out[-1][1], str)
    if not any(l.has_bias and not l.weightless for l in net.layers):
        if net.parameter_count:
            out.append((bias_what, "the network has no biases"))
    else:
        variant(bias_what, lambda: net.with_conventions(update_biases=not net.update_biases))
    several = min(net.batch_size(), len(net.examples)) > 1
    if net.training.reduction == "mean":
        name = 'the batch gradient summed instead of averaged ([training] reduction = "sum")'
        if several:
            variant(name, lambda: replace(net, training=replace(net.training, reduction="sum")))
        else:
            out.append((name, "the batch has one example"))
    elif several:
        variant(
            'the batch gradient averaged instead of summed ([training] reduction = "mean")',
            lambda: replace(net, training=replace(net.training, reduction="mean")),
        )
    for d in digits if order_applies else []:
        variant(
            f"{what} with as-printed rounding at {d} decimals",
            lambda d=d: net.with_conventions(update_order=other, rounding="as-printed", digits=d),
        )
    return out


_PER_EXAMPLE = re.compile(r"\[e\d+\]\Z")
_VELOCITY = "momentum written v = βv − αg, w = w + v (the same iterates; the velocity is −α times this one)"
_CLASSIC = "momentum written v = μv + g, w = w − αv (the same iterates; the velocity is −1/α times this one)"


def _transformed(ctx: _Context, net: Network, claim: Claim) -> float | None:
    """Conventions that are a transformation of one value: the velocity of momentum written with the
    learning rate inside it."""
    walk = ctx.walk(net)
    q = walk.quantities.get(claim.quantity)
    lab = walk.labels.get(claim.quantity)
    if q is None or q.kind != "state" or lab is None or lab.num not in ("v", "v_prev"):
        return None
    if net.training.optimizer not in ("momentum", "momentum_classic", "momentum_velocity") or net.training.decay:
        return None
    v = _value(ctx, net, claim)
    if v is None:
        return None
    # the spec's velocity with the learning rate inside (momentum_velocity): the classic one is -v/alpha
    return -v / net.learning_rate if net.training.optimizer == "momentum_velocity" else -net.learning_rate * v


# -- checking -------------------------------------------------------------------------------------------


def _significant(printed: str) -> int:
    return len(printed.lstrip("+-").replace(".", "").lstrip("0"))


def reads_as(value: float, printed: str) -> bool:
    """Whether the computed ``value`` reads as ``printed``: a correct rounding of it at the printed decimals
    (``agrees_as_printed``), or, for 15 or more significant digits, within a few units in the last place of
    the double arithmetic itself."""
    if agrees_as_printed(value, printed):
        return True
    # at float64 resolution the last printed digit is below the arithmetic's own rounding: a few ulps
    if _significant(printed) >= 15 and math.isfinite(value):
        claimed = float(printed)
        return abs(value - claimed) <= _ULPS * math.ulp(max(abs(value), abs(claimed)))
    return False


def _agrees(value: float, claim: Claim) -> bool:
    return reads_as(value, claim.printed)


def check(net: Network, claims: list[Claim], progress=None) -> Report:
    """A verdict for every claim. ``progress(total, label)`` may return a callback for long training runs."""
    ctx = _Context(net, claims, progress)
    names = quantity_names(net)
    for c in claims:
        if c.quantity not in names:
            raise SpecError(f"unknown quantity {c.quantity!r}", f"claim[{c.index}].quantity")
    ctx.float32_author = any(_reveals_float32(ctx, net, c) for c in claims)
    ctx.by_kind = _kind_decimals(ctx, net, claims)
    verdicts = [_check_one(ctx, net, claim, claims) for claim in claims]
    return Report(net, verdicts, list(ctx.tried), dict(ctx.skipped))


def _check_one(ctx: _Context, net: Network, claim: Claim, claims: list[Claim]) -> Verdict:
    correct = _value(ctx, net, claim)
    if correct is None:
        raise SpecError(
            f"{claim.quantity!r} after {claim.after_steps} steps cannot be measured",
            f"claim[{claim.index}].after_steps",
        )
    if _agrees(correct, claim):
        return Verdict(claim, AGREES, correct)
    others = _conventions(net, claim, ctx.by_kind)
    for name, other in others:
        if isinstance(other, str):
            ctx.note(name, f"does not apply: {other}")
            continue
        if claim.after_steps is not None and not ctx.affordable(other):
            ctx.note(name, f"not tried for multi-step claims: more than {MAX_TRAINING_STEPS} training steps in all")
            continue
        try:
            v = _value(ctx, other, claim)
        except TutorError as exc:  # e.g. too coarse a rounding for a formula, or a diverging run
            ctx.note(name, f"cannot be computed under it: {exc.message}")
            continue
        ctx.note(name)
        if v is not None and _agrees(v, claim):
            return Verdict(claim, CONVENTION, correct, convention=name)
    # float32 digits: for a claim printed with more digits than a hand calculation carries, or any claim of a
    # solution whose long numbers show that its author computed in float32 (else a near-tie value printed
    # the other way is more likely a hand calculation's rounding slip, which the diagnosis names)
    f32 = ctx.float32_author or _significant(claim.printed) >= _FLOAT32_DIGITS
    if claim.after_steps is None and f32 and _float32_reads(ctx, net, claim, correct):
        ctx.note(FLOAT32)
        return Verdict(claim, CONVENTION, correct, convention=FLOAT32)
    v = _transformed(ctx, net, claim)
    if v is not None:
        name = _CLASSIC if net.training.optimizer == "momentum_velocity" else _VELOCITY
        ctx.note(name)
        if _agrees(v, claim):
            return Verdict(claim, CONVENTION, correct, convention=name)
    if claim.after_steps is not None:
        counted = (
            f"steps counted differently: the value seen during step {claim.after_steps}, "
            f"before its update ({claim.after_steps - 1} updates)"
        )
        for name, other in [("", net)] + others:
            if isinstance(other, str) or not ctx.affordable(other) or name in ctx.skipped:
                continue
            try:
                v = _value(ctx, other, claim, steps_shift=1)
            except TutorError:
                continue
            if v is not None and _agrees(v, claim):
                return Verdict(claim, CONVENTION, correct, convention=counted + (f"; {name}" if name else ""))
        ctx.note("steps counted differently")
        return Verdict(claim, WRONG, correct, diagnosis=ALONE, explanation="no convention or step count reproduces it")
    walk = ctx.walk(net)
    if claim.quantity not in walk.quantities:  # an example's value outside the step's walk: no derivation
        return Verdict(claim, WRONG, correct, diagnosis=ALONE, explanation="no convention reproduces it")
    ctx.note(_MIXED)
    return _diagnose(walk, claim, claims, correct)


FLOAT32 = (
    "float32 arithmetic (single precision, as PyTorch, TensorFlow and JAX compute by default: the digits beyond "
    "about the 7th significant one are the float's)"
)
_EPS32 = 2.0**-24  # float32's unit roundoff
_FLOAT32_SLACK = 4.0
_FLOAT32_DIGITS = 6  # significant digits from which a printed number shows float32's own  # the bound below is first-order; an elementary function may be off by an ulp or two


def float32_error(walk: Walkthrough) -> dict[str, float]:
    """For every quantity of ``walk``, a bound on how far a float32 computation of it can be from the exact
    value: the given numbers stored as float32, each step's own rounding (relative to the size of its terms,
    so that cancellation is covered) and the error of its arguments carried through its partial derivatives
    (taken by central differences)."""
    Q = walk.quantities
    err: dict[str, float] = {}

    def bound(key: str) -> float:
        if key in err:
            return err[key]
        q = Q[key]
        if q.form is None or not q.args:
            err[key] = _EPS32 * abs(q.value)
            return err[key]
        args = [Q[a].value for a in q.args]
        total = _EPS32 * abs(q.value)
        for i, a in enumerate(args):
            h = 1e-6 * max(abs(a), 1e-3)
            try:
                hi = float(q.form.fn(*args[:i], a + h, *args[i + 1 :]))
                lo = float(q.form.fn(*args[:i], a - h, *args[i + 1 :]))
                slope = abs(hi - lo) / (2 * h)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                slope = math.inf
            if not math.isfinite(slope):
                slope = 0.0 if a == 0 else math.inf
            total += slope * (bound(q.args[i]) + _EPS32 * abs(a))
        err[key] = total
        return total

    for key in Q:
        bound(key)
    return err


def _reveals_float32(ctx: _Context, net: Network, claim: Claim) -> bool:
    """A long claim that only float32 arithmetic reproduces: its author computed in float32."""
    if claim.after_steps is not None or _significant(claim.printed) < _FLOAT32_DIGITS:
        return False
    correct = _value(ctx, net, claim)
    return correct is not None and not _agrees(correct, claim) and _float32_reads(ctx, net, claim, correct)


def _float32_reads(ctx: _Context, net: Network, claim: Claim, correct: float) -> bool:
    """Whether the claim is what a float32 computation of the value prints (within the float32 bound)."""
    if not math.isfinite(correct) or claim.quantity not in ctx.walk(net).quantities:
        return False
    bound = _FLOAT32_SLACK * ctx.float32_error(net).get(claim.quantity, math.inf)
    if not math.isfinite(bound):
        return False
    half = 0.5 * 10.0**-claim.decimals
    if abs(claim.value - correct) > half + bound:
        return False
    # the printed digits are a float32's: a claim carrying more digits than a float32 has must be one
    return agrees_as_printed(float(np.float32(claim.value)), claim.printed)


_MIXED = "as-printed rounding at mixed precision (each claimed value carried at the precision it was printed with)"


# -- diagnosis ------------------------------------------------------------------------------------------


def _claimed_before(claims: list[Claim], claim: Claim) -> dict[str, Claim]:
    """For each quantity, the claim a reader had in front of them at this point: the latest one before
    this claim, else the first one after it."""
    out: dict[str, Claim] = {}
    for c in claims:
        if c.after_steps is not None or c.quantity == claim.quantity:
            continue
        if c.index < claim.index or c.quantity not in out:
            out[c.quantity] = c
    return out


def _recompute(
    walk: Walkthrough,
    key: str,
    claimed: Mapping[str, Claim],
    used: dict[str, Claim],
    top: bool = True,
    memo: dict | None = None,
) -> float:
    """The quantity recomputed from the claimed values of everything it depends on (exact arithmetic)."""
    memo = {} if memo is None else memo
    if not top and key in claimed:
        used[key] = claimed[key]
        return claimed[key].value
    if key in memo:
        return memo[key]
    q = walk.quantities[key]
    if q.form is None:
        value = q.value
    else:
        try:
            value = float(q.form.fn(*[_recompute(walk, a, claimed, used, False, memo) for a in q.args]))
        except (ValueError, ZeroDivisionError, OverflowError):
            value = math.nan
    memo[key] = value
    return value


def _carried(claim: Claim, correct: float, inputs: list[Claim], how: str) -> Verdict:
    """A wrong claim that follows from the earlier wrong claims ``inputs``, recomputed as ``how`` says."""
    names = ", ".join(f"{c.quantity} = {c.printed}" for c in inputs)
    return Verdict(
        claim,
        WRONG,
        correct,
        diagnosis=CARRIED,
        related=[c.quantity for c in inputs],
        explanation=f"follows from the claimed {names}: recomputed from the claimed values{how}",
    )


def _spread(walk: Walkthrough, key: str, claimed: Mapping[str, Claim], used: Mapping[str, Claim]) -> float:
    """How far the recomputed value moves when each claimed value it uses moves within half its last
    printed digit (first order, each on its own)."""
    base = _recompute(walk, key, claimed, {})
    total = 0.0
    for k, c in used.items():
        half = 0.5 * 10.0**-c.decimals
        moved = dict(claimed)
        worst = 0.0
        for sign in (1, -1):
            moved[k] = Claim(c.quantity, format_fixed(c.value + sign * half, c.decimals + 1), index=c.index)
            worst = max(worst, abs(_recompute(walk, key, moved, {}) - base))
        total += worst
    return total if math.isfinite(total) else 0.0


class _Truncate:
    """Cuts a value to ``digits`` decimals (toward zero), as a hand calculation that truncates does."""

    def __init__(self, digits: int):
        self.digits = digits

    def __call__(self, x: float) -> float:
        if not math.isfinite(x) or abs(x) >= 1e15:
            return x
        with localcontext() as c:
            c.prec = 60
            return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-self.digits), rounding=ROUND_DOWN))


def _dense(walk) -> bool:
    """Whether the walk has the dense rows that a student's world (diagnose.StudentWorld) perturbs and
    recomputes; a walk by layers (sym_maps: convolution, pooling, recurrence) has none yet."""
    return hasattr(walk, "forward")


def _truncated_before(walk: Walkthrough, key: str, claim: Claim) -> str:
    """The claim as every value before it truncated (cut, not rounded) to its decimals and carried forward."""
    d = claim.decimals
    if walk.quantities[key].form is None or not 1 <= d <= 12 or not _dense(walk):
        return ""
    value = diagnose.StudentWorld(walk, {}, _Truncate(d)).value(key)
    if math.isfinite(value) and _agrees(value, claim) and not _agrees(walk.value(key), claim):
        return (
            f"every value before it truncated to {d} decimals (cut, not rounded) and carried forward gives "
            f"{_fmt(value)}"
        )
    return ""


def _misconception(claim: Claim, correct: float, cand) -> Verdict:
    """A wrong claim that a known mistake (diagnose's candidate ``cand``) reproduces."""
    return Verdict(
        claim,
        WRONG,
        correct,
        diagnosis=MISCONCEPTION,
        related=[cand.step],
        explanation=f"{cand.description} ({cand.detail}): that gives {_fmt(cand.value)}",
        misconception=cand.misconception,
    )


def _fmt(x: float) -> str:
    return f"{x + 0.0:.9g}"  # + 0.0: a negative zero (0 times a negative factor) is shown as 0


def _related(walk: Walkthrough, key: str) -> set[str]:
    """The quantities a claim could plausibly have been confused with: its own inputs and theirs, the
    symbols of the expression it differentiates, the quantities computed from it and their other inputs,
    and the quantities of the same neuron or parameter."""
    Q = walk.quantities
    q = Q[key]
    out = set(q.args) | set(q.of_args) | ({q.wrt} if q.wrt else set())
    for a in q.args:
        out.update(Q[a].args)
    for k, other in Q.items():
        if key in other.args:
            out.add(k)
            out.update(other.args)
        elif q.index is not None and other.layer == q.layer and other.index == q.index:
            out.add(k)
    out.discard(key)
    return out


def _diagnose(walk: Walkthrough, claim: Claim, claims: list[Claim], correct: float) -> Verdict:
    key = claim.quantity
    q = walk.quantities[key]
    claimed = _claimed_before(claims, claim)

    # 1. carried forward: this step recomputed from earlier claimed values gives the claim. When every one
    # of those values is right at its printed precision, it is the as-printed rounding of a hand
    # calculation (each value carried as printed), which holds; otherwise it inherits their mistakes.
    used: dict[str, Claim] = {}
    again = _recompute(walk, key, claimed, used)
    if q.form is not None and used and _agrees(again, claim):
        wrong_inputs = [c for k, c in used.items() if not _agrees(walk.value(k), c)]
        shown = wrong_inputs or list(used.values())
        names = ", ".join(f"{c.quantity} = {c.printed}" for c in shown)
        if not wrong_inputs:
            return Verdict(
                claim,
                CONVENTION,
                correct,
                convention=f"{_MIXED}: computed from the rounded claimed values {names} it is {_fmt(again)}, "
                f"which reads {claim.printed}",
                diagnosis=CARRIED,
                related=[c.quantity for c in shown],
            )
        return _carried(claim, correct, shown, f" it is {_fmt(again)}, which reads {claim.printed}")

    # 1b. carried forward from earlier wrong values that the author held to more digits than printed: the
    # claim lies within what the claimed values give anywhere within their last printed digit
    if q.form is not None and used:
        wrong_inputs = [c for k, c in used.items() if not _agrees(walk.value(k), c)]
        spread = _spread(walk, key, claimed, used)
        if wrong_inputs and abs(again - claim.value) <= 0.5 * 10.0**-claim.decimals + spread:
            held = f", each anywhere within its last printed digit, it is {_fmt(again)} ± {_fmt(spread)}"
            return _carried(claim, correct, wrong_inputs, f"{held}, which covers {claim.printed}")

    # 2. a rounding artefact: truncation, or rounding twice (rounded too early), of the value itself or of
    # every value before it
    art = _rounding_artefact(correct, claim) or _truncated_before(walk, key, claim)
    if art:
        return Verdict(claim, WRONG, correct, diagnosis=ROUNDING, explanation=art)

    # 3. an arithmetic slip: the printed inputs of this step are all known, the operation on them is off
    if q.form is not None and q.kind in ("update", "gradient", "delta", "contribution", "sum", "loss", "net"):
        inputs = {a: claimed[a].value if a in claimed else walk.value(a) for a in q.args}
        right = float(q.form.fn(*[inputs[a] for a in q.args]))
        slip = _slip(walk, q, inputs, claim, claimed)
        if slip:
            printed = ", ".join(f"{a} = {_fmt(inputs[a])}" for a in q.args)
            return Verdict(
                claim,
                WRONG,
                correct,
                diagnosis=SLIP,
                related=list(q.args),
                explanation=f"the inputs {printed} give {_fmt(right)}; {claim.printed} is {slip}",
            )

    # 3b. softmax computed as a plain normalisation of the scores, z_j / sum_k z_k (no exponentials)
    linear = _softmax_as_linear(walk, q, claimed)
    if linear is not None and _agrees(linear[1], claim):
        return Verdict(
            claim,
            WRONG,
            correct,
            diagnosis=MISCONCEPTION,
            related=list(q.args),
            explanation=f"softmax computed as a plain normalisation without the exponentials ({linear[0]}): that "
            f"gives {_fmt(linear[1])}",
            misconception=SOFTMAX_AS_LINEAR,
        )

    # 4. a known misconception (the quiz's): the derivation perturbed where the mistake can happen
    known = {k: c.value for k, c in claimed.items()}
    cand = None
    if _dense(walk):
        try:
            cand = diagnose.diagnose(walk, key, claim.value, diagnose.Tolerance("dp", min(claim.decimals, 12)), known)
        except (TutorError, KeyError, ValueError, ZeroDivisionError, OverflowError):
            cand = None
    if cand is not None and _agrees(cand.value, claim):
        return _misconception(claim, correct, cand)

    # 5. a different quantity related to this one: prefer the step's own inputs, then exact equality
    candidates = []
    own = set(q.args) | set(q.of_args)
    for other_key in _related(walk, key):
        other = walk.quantities[other_key]
        if not _agrees(other.value, claim):
            continue
        exact = format_fixed(other.value, 12) == format_fixed(claim.value, 12)
        candidates.append((other_key not in own, not exact, other_key))
    if candidates:
        _, _, other_key = min(candidates)
        return Verdict(
            claim, WRONG, correct, diagnosis=DIFFERENT, related=[other_key], explanation=_relation(walk, key, other_key)
        )

    if cand is not None:  # within one unit of the last place: named, less surely
        return _misconception(claim, correct, cand)
    return Verdict(
        claim,
        WRONG,
        correct,
        diagnosis=ALONE,
        explanation="no earlier claim, related quantity, slip, known mistake or rounding reproduces it",
    )


SOFTMAX_AS_LINEAR = "softmax-as-linear-normalisation"


def _softmax_as_linear(walk: Walkthrough, q, claimed: Mapping[str, Claim]) -> tuple[str, float] | None:
    """(how, value) of a softmax output computed as z_j / sum_k z_k from the (claimed) scores, or None."""
    if q.kind != "out" or q.layer is None or walk.network.layers[q.layer].activation != "softmax":
        return None
    scores = [claimed[a].value if a in claimed else walk.value(a) for a in q.args]
    total = sum(scores)
    j = q.index
    if j is None or j >= len(scores) or not total:
        return None
    return f"{q.args[j]}/({' + '.join(q.args)})", scores[j] / total


def _relation(walk: Walkthrough, key: str, other_key: str) -> str:
    q, other = walk.quantities[key], walk.quantities[other_key]
    v = _fmt(other.value)
    if other_key in q.args and q.kind == "gradient":
        return f"equals {other_key} = {v}, a single factor in place of the whole gradient"
    if other_key in q.of_args and q.wrt:
        kind = {"param": "the weight", "input": "the input", "out": "the output"}.get(other.kind, "the quantity")
        instead = ""
        if q.form is not None:
            syms = [a for a, p in zip(q.args, q.form.placeholders) if p in q.form.expr.free_symbols]
            if syms:
                instead = f" in place of {', '.join(syms)}"
        return (
            f"equals {kind} {other_key} = {v}{instead}: a symbol of the differentiated expression, not its derivative"
        )
    if other_key in q.args:
        return f"equals {other_key} = {v}, an input of its own step"
    return f"equals {other_key} = {v}, a neighbouring quantity of the same step"


def _update_parts(walk: Walkthrough, q, inputs: Mapping[str, float], claimed: Mapping[str, Claim]):
    """(the old parameter, the update step) of an update, whatever the optimizer: from the claimed values,
    then from the exact ones (a slip multiplies the rounding of a claimed step too)."""
    by_kind = {walk.quantities[a].kind: a for a in q.args}
    if len(q.args) == 3 and set(by_kind) == {"param", "rate", "gradient"}:  # plain descent: w - eta g
        w, eta, g = by_kind["param"], by_kind["rate"], by_kind["gradient"]
        return [(inputs[w], inputs[eta] * inputs[g]), (walk.value(w), walk.value(eta) * walk.value(g))]
    base = walk.labels[q.key].base if q.key in walk.labels else ""
    step = f"step[{base}]"
    if base not in inputs or step not in walk.quantities:
        return []
    return [
        (inputs[base], claimed[step].value if step in claimed else walk.value(step)),
        (walk.value(base), walk.value(step)),
    ]


def _slip(walk: Walkthrough, q, inputs: Mapping[str, float], claim: Claim, claimed: Mapping[str, Claim]) -> str:
    """A named slip in the step's last operation that reproduces the claim, or ''."""
    values = [inputs[a] for a in q.args]
    if q.kind == "update":
        for w, step in _update_parts(walk, q, inputs, claimed):
            for power in (10, 100, 0.1, 0.01):
                if _agrees(w - step * power, claim):
                    return (
                        f"{_fmt(w)} - {_fmt(step * power)}: the update step {_fmt(step)} off by a factor of "
                        f"{power:g} (a decimal-place slip)"
                    )
            if _agrees(w + step, claim):
                return f"{_fmt(w)} + {_fmt(step)}: the sign of the step flipped (w + step)"
        opt = walk.network.training.optimizer
        base = walk.labels[q.key].base if q.key in walk.labels else ""
        if opt != "sgd" and base in walk.quantities and "eta" in walk.quantities:
            E = walk.network.notation["loss"]
            grads = [f"g[{base}]"] + [
                k
                for k, lab in walk.labels.items()
                if lab.kind == "partial" and lab.den == base and lab.num == E and not _PER_EXAMPLE.search(k)
            ]
            for g in (k for k in grads if k in walk.quantities):
                plain = walk.value(base) - walk.value("eta") * walk.value(g)
                if _agrees(plain, claim):
                    return (
                        f"{_fmt(walk.value(base))} - {_fmt(walk.value('eta'))}·{_fmt(walk.value(g))}: plain gradient "
                        f"descent (w - eta g) instead of the spec's optimizer {opt}"
                    )
        by_kind = {walk.quantities[a].kind: a for a in q.args}
        if len(q.args) == 3 and set(by_kind) == {"param", "rate", "gradient"}:  # plain descent: w - eta g
            w, eta, key = inputs[by_kind["param"]], inputs[by_kind["rate"]], by_kind["gradient"]
            if _agrees(w - inputs[key], claim):
                return "w - g: the learning rate left out"
            g = walk.quantities[key]
            # a batch's gradient: one example's own instead
            if g.form is not None and len(g.args) > 1 and all(_PER_EXAMPLE.search(a) for a in g.args):
                for k, a in enumerate(g.args):
                    if _agrees(w - eta * walk.value(a), claim):
                        return (
                            f"{_fmt(w)} - {_fmt(eta)}·{_fmt(walk.value(a))}: the update with example "
                            f"{k + 1}'s own gradient {a} alone instead of the batch's"
                        )
        return ""
    if q.kind in ("gradient", "delta", "contribution") and q.form is not None and q.form.expr.is_Mul:
        prod = 1.0
        for v in values:
            prod *= v
        for power in (10, 100, 0.1, 0.01):
            if _agrees(prod * power, claim):
                return f"the product off by a factor of {power:g} (a decimal-place slip)"
        if _agrees(-prod, claim):
            return "the product with its sign flipped"
        for i in range(len(values)):
            rest = 1.0
            for j, v in enumerate(values):
                if j != i:
                    rest *= v
            if len(values) > 1 and _agrees(rest, claim):
                return f"the product with factor {i + 1} ({q.args[i]}) left out"
        return ""
    right = float(q.form.fn(*values))
    for power in (10, 100, 0.1, 0.01):
        if right and _agrees(right * power, claim):
            return f"{_fmt(right)} off by a factor of {power:g} (a decimal-place slip)"
    if q.form is not None and q.form.expr.is_Add and q.kind == "sum":
        total = sum(values)
        for i in range(len(values)):
            if len(values) > 1 and _agrees(total - 2 * values[i], claim):
                return f"the sum with the sign of term {i + 1} flipped"
    return ""


def _rounding_artefact(correct: float, claim: Claim) -> str:
    return rounding_artefact(correct, claim.printed)


def rounding_artefact(correct: float, printed: str) -> str:
    """How ``printed`` comes from ``correct`` by a rounding slip (truncated, or rounded twice), or ''."""
    d = printed_decimals(printed)
    exact = Decimal(repr(correct))
    with localcontext() as ctx:  # a claim may print more decimals than the default 28 digits hold
        ctx.prec = max(ctx.prec, d + 400)
        truncated = exact.quantize(Decimal(1).scaleb(-d), rounding=ROUND_DOWN)
    if f"{truncated:.{d}f}" == format_fixed(float(printed), d):
        return f"{_fmt(correct)} truncated to {d} decimals instead of rounded"
    for extra in (1, 2):
        first = format_fixed(correct, d + extra)
        if format_fixed(float(first), d) == format_fixed(float(printed), d):
            return f"{_fmt(correct)} rounded twice, the first time too early: first to {d + extra} decimals ({first}), then to {d}"
    return ""


# -- output ----------------------------------------------------------------------------------------------


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain data (for JSON and the templates)."""
    rows = []
    for v in report.verdicts:
        rows.append(
            {
                "index": v.claim.index,
                "quantity": v.claim.quantity,
                "printed": v.claim.printed,
                "note": v.claim.note,
                "after_steps": v.claim.after_steps,
                "verdict": v.status,
                "correct": v.correct,
                "correct_printed": v.correct_printed,
                "convention": v.convention,
                "diagnosis": v.diagnosis,
                "explanation": v.explanation,
                "related": v.related,
                "misconception": v.misconception,
            }
        )
    net = report.network
    counts = {s: sum(1 for v in report.verdicts if v.status == s) for s in (AGREES, CONVENTION, WRONG)}
    return {
        "format": "backprop-tutor-check/1",
        "network": net.title,
        "conventions": net.conventions.describe(),
        "ok": report.ok,
        "counts": counts,
        "conventions_tried": report.tried,
        "conventions_skipped": [{"convention": k, "reason": r} for k, r in report.skipped.items()],
        "claims": rows,
    }
