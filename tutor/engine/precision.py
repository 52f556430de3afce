"""How many decimals each shown quantity needs so that every line, recomputed from its shown numbers and
rounded to the shown decimals, gives its shown result to within one unit of its last place.

A line ``r = f(x1, ..., xn)`` is shown with r to ``d_r`` decimals; an argument shown to ``d_x`` decimals is
off by its rounding error, which moves r by ``|df/dx|`` times that. Arguments get decimals until the result,
recomputed from the shown numbers and rounded to ``d_r`` decimals, is at most one unit of its last place off. Quantities are visited from the last computed to
the first, so an argument's decimals are settled by every line that uses it before its own arguments are.
"""

from __future__ import annotations

import math
from typing import Mapping

from .steps import Quantity

# float64 holds about 15 significant digits: no number is shown with more than this many
MAX_FIGURES = 15


def magnitude(value: float) -> int:
    return math.floor(math.log10(abs(value))) if value else 0


def base_decimals(value: float, digits: int, figures: int) -> int:
    """``digits`` decimals, and at least ``figures`` significant figures for a small value."""
    return max(digits, figures - 1 - magnitude(value)) if value else digits


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


def _error(value: float, decimals: int) -> float:
    """How far ``value`` is from itself written with ``decimals`` decimals."""
    if decimals > 20:
        return 0.0
    return abs(value - float(f"{value:.{decimals}f}"))


def shown_decimals(quantities: Mapping[str, Quantity], digits: int, figures: int) -> dict[str, int]:
    """The decimals each quantity is shown with: at least ``digits`` (and ``figures`` significant figures),
    more where a line that uses it needs them to be recomputed from its shown numbers.

    For each line the rounding errors of its shown arguments, each times the slope of the line in it, must
    stay within 1.4 units of the result's last place less the result's own rounding (so that the line
    recomputed from its shown numbers and rounded to the shown decimals is at most one unit off); while they do not,
    the argument that moves the result most gets one more decimal. Actual errors are used, not their bounds,
    so a deep chain of products does not gain a decimal a layer.
    """
    dec = {k: base_decimals(q.value, digits, figures) for k, q in quantities.items()}
    known: dict[tuple[float, int], float] = {}  # _error by (value, decimals): a value is read by many lines

    def error(value: float, decimals: int) -> float:
        e = known.get((value, decimals))
        if e is None:
            e = known[value, decimals] = _error(value, decimals)
        return e

    for key in reversed(list(quantities)):
        q = quantities[key]
        if q.form is None or not q.args:
            continue
        unit = 10.0 ** -dec[key]
        # recomputed and rounded to the shown decimals, the result is then at most one unit off the shown one
        budget = 1.4 * unit - _error(q.value, dec[key])
        values = [quantities[a].value for a in q.args]
        # An argument's share is its slope times its rounding error; a slope (two evaluations of the line) is
        # taken only for an argument with an error below its cap, where the share can be more than 0, and
        # each error is recomputed only when its argument gains a decimal.
        slopes: list[float | None] = [None] * len(values)
        caps: list[int | None] = [None] * len(values)
        errors = [error(v, dec[a]) for v, a in zip(values, q.args)]
        while True:
            shares = []
            for i, (err, a) in enumerate(zip(errors, q.args)):
                if err == 0.0:
                    shares.append(0.0)  # what slope x 0 is, and what a non-finite slope gives
                    continue
                cap = caps[i]
                if cap is None:
                    cap = caps[i] = MAX_FIGURES - 1 - magnitude(values[i])
                if dec[a] >= cap:
                    shares.append(0.0)
                    continue
                s = slopes[i]
                if s is None:
                    s = slopes[i] = _slope(q.form.fn, values, i)
                shares.append(s * err if math.isfinite(s) else 0.0)
            total = sum(shares)
            if total <= budget or total == 0:
                break
            worst = max(range(len(shares)), key=shares.__getitem__)
            grown = q.args[worst]
            dec[grown] += 1
            errors = [error(v, dec[a]) if a == grown else e for v, a, e in zip(values, q.args, errors)]
    # a line that only names another quantity (dnet/dw5 = out_h1) shows its number as that quantity does
    for key, q in quantities.items():
        if len(q.args) == 1 and q.form is not None and q.value == quantities[q.args[0]].value:
            dec[key] = dec[q.args[0]]
    return dec
