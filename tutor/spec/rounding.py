"""Rounding as a person computing by hand does it: to D decimals, half away from zero, on the printed digits."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache

import numpy as np

# Enough precision for any float at 15 decimals (1e308 has 309 digits): quantize never overflows.
_WIDE = Context(prec=400)
_TIE_ULPS = 4  # a value this many ulps from a decimal tie reads as either neighbour


@lru_cache(maxsize=None)
def _quantum(digits: int) -> Decimal:
    return Decimal(1).scaleb(-digits)


def _decimal(x: float) -> Decimal:
    """The decimal number a float stands for: its shortest repr, cut to the 15 significant figures float64
    holds (0.3 - 0.5*0.000995425 is computed as 0.29950228749999996; on paper it is 0.2995022875)."""
    text = repr(float(x))
    digits = text.split("e")[0].replace("-", "").replace(".", "").lstrip("0")
    return Decimal(text if len(digits) <= 15 else f"{x:.15g}")


def round_half_away(x: float, digits: int) -> float:
    """Round ``x`` to ``digits`` decimals, ties away from zero.

    The float's shortest repr is rounded, not its binary expansion: 0.3775 (stored as 0.37749999...)
    rounds to 0.378 at three decimals, as it does on paper; so does a result that float arithmetic left a hair
    below a tie (``_decimal``).

    >>> round_half_away(0.3775, 3), round_half_away(-0.0190491183, 9), round_half_away(2.5, 0)
    (0.378, -0.019049118, 3.0)
    >>> round_half_away(0.3 - 0.5 * 0.000995425, 9)
    0.299502288
    """
    x = float(x)
    if not abs(x) < 2.0**53:  # already a whole number (or not finite): nothing to round
        return x
    return float(_decimal(x).quantize(_quantum(digits), rounding=ROUND_HALF_UP, context=_WIDE))


def format_fixed(x: float, digits: int) -> str:
    """``x`` with exactly ``digits`` decimals, rounded half away from zero (no "-0.000")."""
    if not math.isfinite(x):
        return repr(float(x))
    d = Decimal(repr(float(x))).quantize(_quantum(digits), rounding=ROUND_HALF_UP, context=_WIDE)
    if d == 0:
        d = abs(d)
    return f"{d:.{digits}f}"


# The kinds of quantity a hand calculation may print at their own precision (``[conventions.digits_of]``),
# each with the engines' kinds of quantity it covers: the forward pass, the loss, the chain rule's factors
# (dE/dout, f', a hidden neuron's contributions and their sum), the deltas, the gradients and the update (the
# new parameters, the update step, the optimizer's state).
DIGIT_KINDS: dict[str, tuple[str, ...]] = {
    "net": ("net",),
    "out": ("out",),
    "loss": ("loss_term", "loss"),
    "factor": ("factor", "contribution", "sum"),
    "delta": ("delta",),
    "gradient": ("gradient",),
    "update": ("update", "step", "state"),
}


class Rounder:
    """Applies a convention to every shown value: identity for exact arithmetic, rounding for as-printed.

    ``by_kind`` gives some kinds of quantity their own decimals (``DIGIT_KINDS``: outputs at 4, deltas at 5),
    as a hand calculation carries each value at the precision it printed it with; every other value is rounded
    to ``digits``.

    >>> R = Rounder(9, {"out": 4, "delta": 5})
    >>> R(0.593269992, "out"), R(0.1384985623, "delta"), R(0.1384985623), R.of("out")(0.596884378)
    (0.5933, 0.1385, 0.138498562, 0.5969)
    """

    def __init__(self, digits: int | None, by_kind: dict[str, int] | None = None):
        self.digits = digits
        self.by_kind = dict(by_kind or {})
        self._kinds = {k: d for user, d in self.by_kind.items() for k in DIGIT_KINDS.get(user, (user,))}

    @property
    def exact(self) -> bool:
        return self.digits is None and not self._kinds

    def of(self, kind: str | None) -> "Rounder":
        """The rounder of one kind of quantity (``self`` when that kind has no decimals of its own)."""
        if kind is None or kind not in self._kinds:
            return self if not self._kinds else Rounder(self.digits)
        return Rounder(self._kinds[kind])

    def __call__(self, x: float, kind: str | None = None) -> float:
        digits = self._kinds.get(kind, self.digits) if kind is not None else self.digits
        return x if digits is None else round_half_away(x, digits)

    def array(self, a: np.ndarray, kind: str | None = None) -> np.ndarray:
        """Element-wise ``round_half_away``, vectorised.

        Scaling by 10**digits and adding a half agrees with the decimal rule except within a hair of a tie
        (0.3775 is 377.49999... scaled) or beyond 2**52 after scaling; those few elements take the exact
        decimal path.
        """
        if kind is not None and kind in self._kinds:
            return self.of(kind).array(a)
        if self.digits is None:
            return a
        x = np.asarray(a, dtype=float)
        scale = 10.0**self.digits
        with np.errstate(over="ignore", invalid="ignore"):
            s = np.abs(x) * scale
            frac = s - np.floor(s)
            out = np.copysign(np.floor(s + 0.5), x) / scale
        slow = (np.abs(frac - 0.5) < np.maximum(1e-6, 1024 * np.spacing(s))) | (s >= 2.0**52)
        if slow.any():
            idx = np.flatnonzero(slow.ravel())
            flat = out.ravel()
            xf = x.ravel()
            for i in idx:
                flat[i] = round_half_away(float(xf[i]), self.digits)
            out = flat.reshape(x.shape)
        return out + 0.0  # no negative zeros


def printed_decimals(printed: str) -> int:
    """How many decimals a number is printed with (``"0.390"`` has 3)."""
    return len(printed.split(".")[1]) if "." in printed else 0


def agrees_as_printed(value: float, printed: str) -> bool:
    """Whether ``value`` reads as ``printed`` at the decimals ``printed`` has: 0.3895 agrees with "0.39".

    A printed number agrees when it is a correct rounding of the double itself (what Python, NumPy and R
    print; either neighbour when the double lies half-way, or within a few ulps of it, as a decimal tie
    computed in binary does) or of the double's shortest decimal form (what a hand calculation rounds half
    away from zero): -0.825 is stored as -0.82499999..., so both "-0.82" and "-0.83" read it, 0.125 (exact
    in binary) reads as "0.12" or "0.13", and (2.3 - 2.0)/2 = 0.1499999999999999 as "0.1" or "0.2".

    >>> [agrees_as_printed(-0.825, p) for p in ("-0.82", "-0.83", "-0.84")]
    [True, True, False]
    >>> agrees_as_printed((2.3 - 2.0) / 2, "0.2"), agrees_as_printed(0.1499, "0.2")
    (True, False)
    >>> agrees_as_printed(0.125, "0.12"), agrees_as_printed(0.3895, "0.39"), agrees_as_printed(0.38, "0.39")
    (True, True, False)
    """
    if not math.isfinite(value):
        return False
    d = printed_decimals(printed)
    claimed = Decimal(printed)
    # a few ulps of slack: a decimal tie computed in binary lands an ulp or two to either side of it
    half = _quantum(d) / 2 + Decimal(_TIE_ULPS * math.ulp(value))
    with localcontext(_WIDE):  # exact: a double's binary expansion has at most ~1100 digits
        return abs(Decimal(value) - claimed) <= half or abs(Decimal(repr(float(value))) - claimed) <= half
