"""How many decimals each shown quantity needs so that every line, recomputed on a calculator from the numbers
it shows and rounded to the decimals its result is shown with, gives exactly its shown result.

A line ``r = f(x1, ..., xn)`` is shown with r to ``d_r`` decimals and each argument to its own decimals. The
line is checked as a student checks it: f of the shown arguments, rounded to ``d_r`` decimals, must read as
the shown r. While it does not, the argument whose rounding moves the result most (its rounding error times
the line's slope in it) gets one more decimal; a result that lies within a hair of a rounding tie gets one
more decimal itself first. Quantities are visited from the last computed to the first, so an argument's
decimals are settled by every line that uses it before its own line is checked; passes repeat until no line
changes (a decimal more for an argument can, rarely, move another line's recomputation off its result).

An argument gets at most ``EXTRA`` decimals beyond its own (``BRIEF_EXTRA`` in a brief document), and no
more than float64's 15 figures. A line
that no decimals within those bounds make reproduce is reported, so that the documents mark it ``≈`` (and say
why) rather than claim an ``=`` a calculator would refute.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .steps import Quantity, placeholder_index

# float64 holds about 15 significant digits: no number is shown with more than this many
MAX_FIGURES = 15
# a value "is" its short decimal form when it differs from it by float noise only (0.3925 computed as
# 0.39250000000000007): it is shown short, and a line reading it reads the short form
NOISE = 1e-14
# how close to a rounding tie (in units of its last shown place) a result may lie before it gets a decimal
# more itself: closer, its arguments would need many more figures to land on the right side
TIE_MARGIN = 0.02
# float64's own error in a recomputed line, relative: a few units in the last place
ULPS = 2e-15
PASSES = 8
# at most this many decimals beyond a quantity's own (``base_decimals``) for the lines that read it: past it a
# line whose operands would need more figures is marked rounded instead (a sum of 30 products at 4 decimals
# would otherwise show each product to 15)
EXTRA = 6
# a brief document (--brief, for large networks) tabulates every value: at most this many, so that its tables
# stay short; more of its long sums are written with ≈
BRIEF_EXTRA = 2
# a line of at least this many arguments takes its slopes in one NumPy call (``_slopes``); a shorter one pays
# less for them one by one
VECTOR_SLOPES = 8


def magnitude(value: float) -> int:
    return math.floor(math.log10(abs(value))) if value else 0


def base_decimals(value: float, digits: int, figures: int) -> int:
    """``digits`` decimals, and at least ``figures`` significant figures for a small value."""
    return max(digits, figures - 1 - magnitude(value)) if value else digits


def short_form(value: float, decimals: int) -> float | None:
    """``value`` as the number it is shown as when that number holds it (up to float noise), else None."""
    r = round(value, decimals)
    return r if abs(r - value) <= NOISE * abs(value) else None


def shown_value(value: float, decimals: int) -> float:
    """The number a reader sees for ``value`` at ``decimals`` decimals (rounding half away from zero, as
    the shown strings do; a value within float noise of its short form is that form)."""
    if decimals > 20 or not math.isfinite(value):
        return value
    short = short_form(value, decimals)
    if short is not None:
        return short
    scaled = abs(value) * 10.0**decimals
    if abs(scaled - math.floor(scaled) - 0.5) < 1e-6:  # a near tie: the shown string's own rule decides
        from ..spec.rounding import format_fixed

        return float(format_fixed(value, decimals))
    return math.copysign(math.floor(scaled + 0.5), value) / 10.0**decimals


def reproduces(recomputed: float, value: float, decimals: int, shown: float | None = None) -> bool:
    """Whether ``recomputed``, rounded to ``decimals`` decimals, reads as ``value`` shown so (``shown``: that
    shown number, when the caller has it)."""
    if not math.isfinite(recomputed):
        return recomputed == value
    if shown is None:
        shown = shown_value(value, decimals)
    # the rounding interval of the shown number, less a margin for float64's own error in f (at 15 figures
    # float64 cannot tell more: a result equal to its shown form up to float noise reproduces)
    noise = ULPS * abs(shown)
    return abs(recomputed - shown) <= max(0.5 * 10.0**-decimals - noise, noise)


def _error(value: float, shown: float) -> float:
    """How far the ``shown`` number of ``value`` is from it (0 for float noise: the shown form is the value)."""
    err = abs(value - shown)
    return err if err > NOISE * abs(value) else 0.0


def _alias(q: Quantity) -> str:
    """The key a line only names (its form is one of its placeholders), or ''."""
    if not getattr(q.form.expr, "is_Symbol", False):
        return ""
    i = placeholder_index(q.form.expr, q.form.placeholders)
    return q.args[i] if 0 <= i < len(q.args) else ""


def _slope(fn, args: list[float], i: int) -> float:
    """|df/dx_i| by a central difference (the forms are smooth where they are evaluated, or piecewise
    linear, where a difference gives the slope of the piece)."""
    x = args[i]
    h = 1e-6 * max(abs(x), 1e-6)
    up, down = list(args), list(args)
    up[i], down[i] = x + h, x - h
    try:
        return abs(float(fn(*up)) - float(fn(*down))) / (2 * h)
    except (ArithmeticError, ValueError):
        return 0.0


def _slopes(fn, args: list[float]) -> list[float]:
    """``_slope`` of every argument, in one call of an elementwise evaluator (``sym_forms._elementwise``): lane
    2i holds the arguments with x_i + h, lane 2i + 1 with x_i - h, so each lane is the float evaluation
    ``_slope`` makes, and the slopes are the same numbers (a 61-argument net input took 122 evaluations of 61
    terms each)."""
    x = np.array(args, dtype=float)
    n = len(x)
    h = 1e-6 * np.maximum(np.abs(x), 1e-6)
    lanes = np.repeat(x[:, None], 2 * n, axis=1)  # row i: argument i in every lane
    at = np.arange(n)
    lanes[at, 2 * at] = x + h
    lanes[at, 2 * at + 1] = x - h
    with np.errstate(all="ignore"):
        out = np.asarray(fn(*lanes), dtype=float)
        return (np.abs(out[0::2] - out[1::2]) / (2 * h)).tolist()


_EVALUATORS: dict = {}


def _evaluator(form):
    """A form's evaluator: its own, or (a graph's forms are kept symbolic only) its expression lambdified once
    per distinct expression."""
    if form.fn is not None:
        return form.fn
    key = (form.expr, form.placeholders)
    if key not in _EVALUATORS:
        import sympy as sp

        from ..spec.graphrules import FLOAT_FUNCTIONS

        _EVALUATORS[key] = sp.lambdify(form.placeholders, form.expr, modules=[FLOAT_FUNCTIONS, "math"])
    return _EVALUATORS[key]


def _used(form, n: int) -> tuple[int, ...] | range:
    """The positions of the ``n`` arguments a form's expression uses (its evaluator reads no others); all of
    them for a form given by its evaluator alone."""
    if form.expr is None or len(form.placeholders) != n:
        return range(n)
    free = form.expr.free_symbols
    return tuple(i for i, p in enumerate(form.placeholders) if p in free)


def _call(fn, args: list[float]) -> float:
    try:
        return float(fn(*args))
    except (ArithmeticError, ValueError):
        return math.nan


def settle(
    quantities: Mapping[str, Quantity], digits: int, figures: int, extra: int = EXTRA
) -> tuple[dict[str, int], set[str]]:
    """The decimals each quantity is shown with, and the keys of the lines that still do not reproduce.

    Every quantity gets at least ``digits`` decimals (and ``figures`` significant figures), more where a line
    that uses it needs them to reproduce from its shown numbers, up to ``extra`` more.
    """
    values = {k: q.value for k, q in quantities.items()}
    dec = {k: base_decimals(v, digits, figures) for k, v in values.items()}
    cur = {k: shown_value(v, dec[k]) for k, v in values.items()}  # each quantity's shown number
    lines = [k for k in reversed(list(quantities)) if quantities[k].form is not None and quantities[k].args]
    # a line that only names another quantity (dnet/dw5 = out_h1) shows its number as that quantity does
    named = {k: a for k in lines for a in [_alias(quantities[k])] if a}
    aliases = [(k, a) for k, a in named.items() if values[k] == values[a]]
    slopes: dict[str, list[float]] = {}
    # Which lines read each quantity's shown number: a line whose check passed stays passed until one of them,
    # or its own result's decimals, moves ("good" holds those), so a pass checks only what moved. Only the
    # arguments its form's expression uses count: a factor dnet/dw = out keeps all of the net's 61 arguments
    # but reads one, and every line's every argument would make this quadratic in a layer's width.
    readers: dict[str, list[str]] = {}
    used: dict[tuple, tuple[int, ...] | range] = {}  # by form (the forms outlive this call)
    for key in lines:
        q = quantities[key]
        at = (id(q.form), len(q.args))
        if at not in used:
            used[at] = _used(q.form, len(q.args))
        for i in used[at]:
            readers.setdefault(q.args[i], []).append(key)
    good: set[str] = set()
    bumps = 0

    def more(key: str) -> None:
        nonlocal bumps
        bumps += 1
        dec[key] += 1
        cur[key] = shown_value(values[key], dec[key])
        good.discard(key)
        good.difference_update(readers.get(key, ()))

    def ok(key: str) -> bool:
        if key in named:  # its form is one of its arguments: what it evaluates to, without the other 60
            recomputed = cur[named[key]]
        else:
            q = quantities[key]
            recomputed = _call(_evaluator(q.form), [cur[a] for a in q.args])
        if reproduces(recomputed, values[key], dec[key], cur[key]):
            good.add(key)
            return True
        return False

    for _ in range(PASSES):
        changed = False
        for k, a in aliases:
            while dec[k] != dec[a]:
                more(k if dec[k] < dec[a] else a)
                changed = True
        for key in lines:
            if key in good or ok(key):
                continue
            before = bumps
            q = quantities[key]
            unit = 10.0 ** -dec[key]
            caps = [
                min(MAX_FIGURES - 1 - magnitude(values[a]), base_decimals(values[a], digits, figures) + extra)
                for a in q.args
            ]
            if abs(abs(values[key] - cur[key]) - 0.5 * unit) < TIE_MARGIN * unit:
                if dec[key] < MAX_FIGURES - 1 - magnitude(values[key]):
                    more(key)
                    changed = True
                    if ok(key):
                        continue
            args = [values[a] for a in q.args]
            if key not in slopes:
                fn = _evaluator(q.form)
                if getattr(fn, "elementwise", False) and len(args) >= VECTOR_SLOPES:
                    slopes[key] = _slopes(fn, args)
                else:
                    slopes[key] = [_slope(fn, args, i) for i in range(len(args))]
            s = slopes[key]

            def share(i: int, a: str, s=s, args=args, caps=caps) -> float:
                return s[i] * _error(args[i], cur[a]) if math.isfinite(s[i]) and dec[a] < caps[i] else 0.0

            shares = [share(i, a) for i, a in enumerate(q.args)]
            at: dict[str, list[int]] = {}
            for i, a in enumerate(q.args):
                at.setdefault(a, []).append(i)
            while True:
                worst = max(range(len(shares)), key=shares.__getitem__)
                if shares[worst] == 0.0:
                    break
                bumped = q.args[worst]
                more(bumped)
                if ok(key):
                    break
                # only the bumped argument's shares moved (a 256-input sum is not measured again whole)
                for i in at[bumped]:
                    shares[i] = share(i, bumped)
            changed = changed or bumps != before
        if not changed:
            break
    # the last pass may have moved a line that an earlier pass settled: the report is of the final decimals
    return dec, {k for k in lines if k not in good and not ok(k)}


class Decimals(dict):
    """Each quantity's shown decimals (key -> decimals), and ``rounded``: the keys of the lines that no shown
    figures within ``EXTRA`` make reproduce, which the documents write with ``≈`` instead of ``=``."""

    rounded: frozenset = frozenset()

    def under(self, refs: Mapping[str, str]) -> "Decimals":
        """The same decimals under other keys (``refs``: key -> this mapping's key), an example's in a batch."""
        out = Decimals({key: self[ref] for key, ref in refs.items()})
        out.rounded = frozenset(key for key, ref in refs.items() if ref in self.rounded)
        return out


def shown_decimals(quantities: Mapping[str, Quantity], digits: int, figures: int, extra: int = EXTRA) -> Decimals:
    """The decimals each quantity is shown with, and the lines shown rounded (``settle``)."""
    dec, failing = settle(quantities, digits, figures, extra)
    out = Decimals(dec)
    out.rounded = frozenset(failing)
    return out
