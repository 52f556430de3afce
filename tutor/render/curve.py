"""The loss curve of a training run drawn from its numbers, as inline SVG and as a LaTeX picture (no plotting library).

Both drawings come from one layout: the points scaled into a plot box (a logarithmic loss axis when the loss
spans more than two decades, as ``tutor.plot`` does), with the first, middle and last epoch and the lowest
and highest loss written on the axes. It computes positions and formats numbers only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 120.0, 60.0  # the plot box in millimetres (the LaTeX picture's unit; SVG scales it)
LEFT, BOTTOM, TOP, RIGHT = 18.0, 10.0, 9.0, 4.0  # room for the tick labels and the axis name
MAX_SEGMENTS = 240  # a longer run is drawn through every k-th epoch (and the last): the shape stays
PX = 4.5  # SVG pixels per millimetre


@dataclass(frozen=True)
class Curve:
    points: tuple[tuple[float, float], ...]  # (x, y) in millimetres, y upwards from the bottom
    x_ticks: tuple[tuple[float, str], ...]  # (x, label): epochs
    y_ticks: tuple[tuple[float, str], ...]  # (y, label): losses
    log: bool
    second: tuple[tuple[float, float], ...] = ()  # the validation loss, on the same axes (early stopping)
    # (x, label's y, label, label left of the line): the epoch early stopping restored
    mark: tuple[float, float, str, bool] | None = None


def _n(x: float) -> str:
    """A coordinate with two decimals and no "-0", so that output is identical from run to run."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _label(v: float) -> str:
    return f"{v:.4g}"


def _nice(lo: float, hi: float, log: bool) -> list[float]:
    """Round values between ``lo`` and ``hi`` (in axis units: log10 of the loss on a log axis) for the axis's
    inner ticks: each decade on a log axis, else steps of 1, 2 or 5 times a power of ten, about four of them."""
    if hi <= lo:
        return []
    if log:
        return [float(k) for k in range(math.ceil(lo), math.floor(hi) + 1)]
    raw = (hi - lo) / 4
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]


LABEL_MM = 1.6  # millimetres a character of the footnote-size label takes


def _clearance(height: float, span: tuple[float, float], curves) -> float:
    """How far ``height`` stays from every curve over the x range ``span`` (each curve a polyline)."""
    gap = math.inf
    for pts in curves:
        for (ax, ay), (bx, by) in zip(pts, pts[1:]):
            lo, hi = max(ax, span[0]), min(bx, span[1])
            if lo > hi or bx == ax:
                continue
            ys = [ay + (by - ay) * (t - ax) / (bx - ax) for t in (lo, hi)]
            if min(ys) <= height <= max(ys):
                return 0.0
            gap = min(gap, *(abs(height - v) for v in ys))
    return gap


TICK_GAP = 4.0  # millimetres between two loss labels on the axis (a label is about 3.5 mm high)


def layout(losses: list[float], second: list[float] | None = None, mark: int | None = None) -> Curve | None:
    """The curve of ``losses`` (one a epoch, from epoch 0), or None when there is nothing to draw; ``second``
    (the validation loss of the same epochs) shares its axes; ``mark``: the epoch early stopping restored."""
    n = len(losses)
    both = list(losses) + list(second or [])
    if n < 2 or not all(math.isfinite(v) for v in both):
        return None
    positive = [v for v in both if v > 0]
    log = len(positive) == len(both) and max(positive) / min(positive) > 100
    f = math.log10 if log else (lambda v: v)
    lo, hi = min(map(f, both)), max(map(f, both))
    span = hi - lo or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    step = max(1, math.ceil((n - 1) / MAX_SEGMENTS))
    picks = sorted(set(range(0, n, step)) | {n - 1})

    def x(e: int) -> float:
        return LEFT + plot_w * e / (n - 1)

    def y(v: float) -> float:
        return BOTTOM + plot_h * (f(v) - lo) / span

    points = tuple((x(e), y(losses[e])) for e in picks)
    other = tuple((x(e), y(second[e])) for e in picks if e < len(second)) if second else ()
    ticks = sorted({0, (n - 1) // 2, n - 1})
    low, high = min(both), max(both)
    y_ticks = ((y(low), _label(low)),) if low == high else ((y(low), _label(low)), (y(high), _label(high)))
    # round values between the lowest and the highest loss, where they leave room for the labels at the ends
    inner = []
    for t in _nice(lo, hi, log):
        at = BOTTOM + plot_h * (t - lo) / span
        if all(abs(at - other) >= TICK_GAP for other, _ in y_ticks + tuple(inner)):
            inner.append((at, _label(10.0**t if log else t)))
    y_ticks = tuple(sorted(y_ticks + tuple(inner)))
    marked = None
    if mark is not None and 0 <= mark < n:
        # its label beside the dotted line, at the height farthest from both curves over the label's length
        # (at the restored epoch the validation curve is at its lowest, where a label at the foot sat on it)
        label = f"epoch {mark} restored"
        width = LABEL_MM * len(label)
        mx = x(mark)
        span = (mx + 1, mx + 1 + width) if mx + 1 + width <= LEFT + plot_w else (mx - 1 - width, mx - 1)
        heights = [BOTTOM + 2 + (plot_h - 4) * k / 8 for k in range(8, -1, -1)]  # the top first, at a tie
        label_y = max(heights, key=lambda v: _clearance(v, span, [points, other]))
        marked = (mx, label_y, label, span[0] < mx)
    return Curve(points, tuple((x(e), str(e)) for e in ticks), y_ticks, log, other, marked)


def svg(losses: list[float], second: list[float] | None = None, mark: int | None = None) -> str:
    """Inline SVG of the curve (no blank line, so that Markdown keeps it one HTML block); "" if none. The
    validation loss ``second`` is dashed; the epoch ``mark`` (early stopping's) has a dotted line."""
    c = layout(losses, second, mark)
    if c is None:
        return ""

    def p(v: float) -> str:
        return _n(v * PX)

    def up(v: float) -> str:  # SVG's y runs downwards
        return _n((HEIGHT - v) * PX)

    w, h = p(WIDTH), p(HEIGHT)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, BOTTOM, HEIGHT - TOP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'style="max-width:100%;height:auto" font-family="serif" font-size="13" role="img" '
        'aria-label="The loss per epoch">',
        f'<polyline points="{p(x0)},{up(y1)} {p(x0)},{up(y0)} {p(x1)},{up(y0)}" fill="none" stroke="#000"/>',
        '<polyline points="'
        + " ".join(f"{p(a)},{up(b)}" for a, b in c.points)
        + '" fill="none" stroke="#1f4e79" stroke-width="2"/>',
    ]
    if c.second:
        out.append(
            '<polyline points="'
            + " ".join(f"{p(a)},{up(b)}" for a, b in c.second)
            + '" fill="none" stroke="#b35900" stroke-width="2" stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{p(x1)}" y="{up(HEIGHT - 1.5)}" text-anchor="end" dominant-baseline="hanging">'
            "training (solid), validation (dashed)</text>"
        )
    if c.mark is not None:
        mx, my, label, left = c.mark
        out.append(
            f'<line x1="{p(mx)}" y1="{up(y0)}" x2="{p(mx)}" y2="{up(y1)}" stroke="#555" stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{p(mx - 1 if left else mx + 1)}" y="{up(my)}" text-anchor="{"end" if left else "start"}" '
            f'dominant-baseline="central" font-size="11">{label}</text>'
        )
    for x, label in c.x_ticks:
        out.append(f'<line x1="{p(x)}" y1="{up(y0)}" x2="{p(x)}" y2="{up(y0 - 1.2)}" stroke="#000"/>')
        out.append(f'<text x="{p(x)}" y="{up(y0 - 4.5)}" text-anchor="middle">{label}</text>')
    for y, label in c.y_ticks:
        out.append(f'<line x1="{p(x0)}" y1="{up(y)}" x2="{p(x0 - 1.2)}" y2="{up(y)}" stroke="#000"/>')
        out.append(f'<text x="{p(x0 - 2)}" y="{up(y)}" text-anchor="end" dominant-baseline="central">{label}</text>')
    axis = "loss (log scale)" if c.log else "loss"
    out.append(f'<text x="{p((x0 + x1) / 2)}" y="{up(1.5)}" text-anchor="middle">epoch</text>')
    out.append(
        f'<text x="{p(LEFT)}" y="{up(HEIGHT - 1.5)}" text-anchor="middle" dominant-baseline="hanging">{axis}</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def picture(losses: list[float], second: list[float] | None = None, mark: int | None = None) -> str:
    """The curve as a LaTeX2e picture (kernel commands only: segments are straight \\qbezier curves); "" if none.
    The validation loss ``second`` is dotted; the epoch ``mark`` (early stopping's) has a dotted line."""
    c = layout(losses, second, mark)
    if c is None:
        return ""
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, BOTTOM, HEIGHT - TOP

    def at(x: float, y: float) -> str:
        return f"({_n(x)},{_n(y)})"

    def segment(a: tuple[float, float], b: tuple[float, float]) -> str:
        # The kernel's \qbezier is a row of dots, as many as \qbeziermax allows unless told: ten a
        # millimetre keep a long segment solid.
        dots = math.ceil(10 * math.hypot(b[0] - a[0], b[1] - a[1])) + 2
        return rf"\qbezier[{dots}]{at(*a)}{at((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)}{at(*b)}"

    out = [
        r"\begin{center}",
        r"\setlength{\unitlength}{1mm}",
        rf"\begin{{picture}}({_n(WIDTH)},{_n(HEIGHT)})",
        rf"\put{at(x0, y0)}{{\line(1,0){{{_n(x1 - x0)}}}}}",
        rf"\put{at(x0, y0)}{{\line(0,1){{{_n(y1 - y0)}}}}}",
        r"\thicklines",
    ]
    out += [segment(a, b) for a, b in zip(c.points, c.points[1:])]
    out.append(r"\thinlines")
    if c.second:
        # dotted: a dot a millimetre
        for a, b in zip(c.second, c.second[1:]):
            dots = math.ceil(math.hypot(b[0] - a[0], b[1] - a[1])) + 1
            out.append(rf"\qbezier[{dots}]{at(*a)}{at((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)}{at(*b)}")
        out.append(rf"\put{at(x1, HEIGHT - 3.5)}{{\makebox(0,0)[r]{{\small training (solid), validation (dotted)}}}}")
    if c.mark is not None:
        mx, my, label, left = c.mark
        out.append(rf"\qbezier[{math.ceil(y1 - y0)}]{at(mx, y0)}{at(mx, (y0 + y1) / 2)}{at(mx, y1)}")
        side = "r" if left else "l"
        out.append(rf"\put{at(mx - 1 if left else mx + 1, my)}{{\makebox(0,0)[{side}]{{\footnotesize {label}}}}}")
    for x, label in c.x_ticks:
        out.append(rf"\put{at(x, y0)}{{\line(0,-1){{1.2}}}}")
        out.append(rf"\put{at(x, y0 - 4)}{{\makebox(0,0){{\small {label}}}}}")
    for y, label in c.y_ticks:
        out.append(rf"\put{at(x0, y)}{{\line(-1,0){{1.2}}}}")
        out.append(rf"\put{at(x0 - 2, y)}{{\makebox(0,0)[r]{{\small {label}}}}}")
    out.append(rf"\put{at((x0 + x1) / 2, 1.5)}{{\makebox(0,0){{\small epoch}}}}")
    out.append(rf"\put{at(LEFT, HEIGHT - 3.5)}{{\makebox(0,0){{\small {'loss (log scale)' if c.log else 'loss'}}}}}")
    out += [r"\end{picture}", r"\end{center}"]
    return "\n".join(out)
