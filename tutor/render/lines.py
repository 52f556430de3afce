"""One shown line of a walk-through: the FormulaWriter of an output and the strings of one quantity."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

from ..engine.steps import Quantity
from ..spec.memo import MISSING, ByIdentity
from .options import DEFAULT, Options, shown_digits

# a walk's shown decimals by (its quantities, digits, extra): a worksheet writes a walk per variant, so only the
# latest few are kept
_SETTLED = ByIdentity(bound=8)


def writer(
    walk: Any,
    mode: str,
    options: Options = DEFAULT,
    *,
    example: int | None = None,
    scientific: bool = False,
    decimals: dict[str, int] | None = None,
    refs: dict[str, str] | None = None,
):
    """The FormulaWriter of one output: ``mode`` "text", "tex" (pdflatex) or "web" (MathJax, MathML).

    ``walk`` is a Walkthrough or a TrainingWalk. ``example`` k writes the loss of one example of a batch as
    E⁽ᵏ⁾, so that its gradients read as the terms of the batch mean; ``scientific`` writes values too small
    for the shown decimals as 6.75·10⁻⁷ (an optimizer's state), unless they are rounded as printed.
    ``decimals``: each quantity's shown decimals, when a document shows the walk beside others (one printed
    form per value: see ``document_decimals``); by default the walk's own (tutor.engine.precision). ``refs``:
    each key's name in the document (an example's own key in a batch, ``out_h1[e2]``), read as a line's "ref".
    """
    from .notation import (
        _SUP,
        FormulaWriter,
        Name,
        Notation,
        Relabelling,
        layered,
        significant_figures,
        tex_name,
        text_name,
    )

    net = walk.network
    relabel = layered(net) if options.notation == "layered" else None
    if example is not None:
        E = net.notation["loss"]
        base = relabel.names[E] if relabel else Name(tex_name(E, "web" if mode == "web" else "latex"), text_name(E))
        names = dict(relabel.names) if relabel else {}
        names[E] = Name(
            "{" + base.tex + "}^{(" + str(example) + ")}", base.text + "⁽" + str(example).translate(_SUP) + "⁾"
        )
        relabel = Relabelling(names, *(() if relabel is None else (relabel.deltas, relabel.losses, relabel.neurons)))
    notation = Notation(
        walk.labels, net.notation["updated"], dialect="web" if mode == "web" else "latex", relabel=relabel
    )
    # ``scientific`` is kept for callers; every exact document writes its tiny values in scientific notation
    del scientific
    fixed = walk.conventions.rounding != "exact"
    small = None if fixed else ("text" if mode == "text" else "tex")
    given = frozenset(k for k, q in walk.quantities.items() if q.form is None)
    digits = shown_digits(walk, options)
    if fixed:  # as printed: every value at the decimals it was rounded to (a kind's own, or the digits)
        decimals = carried_decimals(walk) or None
    elif digits is None:
        decimals = None
    elif decimals is None:
        from ..engine.precision import BRIEF_EXTRA, EXTRA, shown_decimals

        extra = BRIEF_EXTRA if options.brief else EXTRA
        # a document's views (paths, matrices) write the same walk as its walk-through: settled once
        decimals = _SETTLED.get(walk.quantities, (digits, extra))
        if decimals is MISSING:
            decimals = _SETTLED.put(
                walk.quantities,
                shown_decimals(walk.quantities, digits, significant_figures(digits), extra),
                (digits, extra),
            )
    fw = FormulaWriter(notation, walk.values(), digits, small, fixed=fixed, given=given, decimals=decimals)
    fw.refs = refs or {}
    return fw


def carried_decimals(walk: Any) -> dict[str, int]:
    """Under as-printed rounding with decimals by kind (``[conventions.digits_of]``), each computed value's
    decimals, by key: what the engines rounded it to ({} when every value has the spec's digits)."""
    from ..spec.rounding import Rounder

    c = walk.conventions
    if c.rounding == "exact" or not getattr(c, "digits_of", ()):
        return {}
    R = Rounder(c.digits, dict(c.digits_of))
    return {k: R.of(q.kind).digits for k, q in walk.quantities.items() if q.form is not None}


def document_decimals(tw: Any, prep: Any, options: Options = DEFAULT) -> tuple[dict, list[dict], dict]:
    """One printed form per value in a training step's document: the decimals of every quantity settled
    once over the whole step (each example's lines, the batch's, the preparation's: ``walks.with_preparation``),
    then handed to the step's writer, to each example's (under its own keys) and to the preparation's.

    Returns (the step's decimals, each example's, the preparation's); None for as-printed rounding."""
    from ..engine.precision import shown_decimals
    from ..engine.walks import with_preparation
    from .notation import significant_figures

    digits = shown_digits(tw, options)
    if tw.conventions.rounding != "exact" or digits is None:
        return None, [None] * len(tw.examples), None
    flat = with_preparation(tw, prep)
    dec = shown_decimals(flat.quantities, digits, significant_figures(digits))
    return dec, [dec.under(refs) for refs in example_refs(tw)], dec


def example_refs(tw: Any) -> list[dict[str, str]]:
    """Each example's keys under their names in the step's document (``steps.flat_walk``'s naming)."""
    from ..engine.steps import SHARED_KINDS, example_key

    m = len(tw.examples)
    return [
        {key: key if q.kind in SHARED_KINDS else example_key(key, k, m) for key, q in w.quantities.items()}
        for k, w in enumerate(tw.examples)
    ]


def line_view(
    fw: Any,
    quantities: dict[str, Quantity],
    key: str,
    mode: str,
    escape: Callable[[str], str] = lambda s: s,
    limit: int | None = None,
) -> dict[str, Any] | None:
    """One shown quantity: its label, derivation, formula, numbers substituted and value, as strings."""
    if not key:
        return None
    quantity: Quantity = quantities[key]
    op, body = fw.derivative(quantity, mode)
    derivation = f"{op} {body}" if op else ""
    formula = fw.formula(quantity, mode)
    substituted = fw.substituted(quantity, mode)
    value = fw.value_of(key)
    # What follows "label =": each step once (a formula that is already a number is not repeated, nor a
    # negative number that only gained its parentheses: w = (-0.4) = -0.4).
    same = substituted in (value, f"({value})", r"\left(" + value + r"\right)")
    stages = [s for s in (derivation, formula if formula != substituted else "", "" if same else substituted) if s] + [
        value
    ]
    rounded = key in fw.rounded and not same
    if rounded:  # "numbers ≈ value": the shown numbers give the value only to within its last digit
        stages[-2:] = [stages[-2] + (" ≈ " if mode == "text" else r" \approx ") + value]
    return {
        "key": escape(key),
        "ref": fw.refs.get(key, key),  # the quantity's key in the document (tutor.engine.steps.example_key)
        "label": fw.line_label(key, mode),
        "derivation": derivation,
        "derivation_op": op,  # the derivation in two parts, the operator d/d(wrt) ...
        "derivation_body": body,  # ... and the bracketed expression, which quantities often share
        "wrt": fw.label(quantity.wrt, mode) if quantity.wrt else "",
        "formula": formula,
        "substituted": substituted,
        "value": value,
        "stages": stages,
        "rows": math_rows(stages, limit or MATH_ROW, label=fw.label(key, mode), head=len(op) + 1 if op else 0)
        if mode != "text"
        else [],
        "note": quantity.note,
        "rounded": rounded,
    }


# -- terminal text to a width ------------------------------------------------------------------------------

# Where a long line may break, best first: before "= " (the next stage of a calculation starts a line, as in the
# Markdown's aligned layout), before a binary operator, after a product's dot or a list's comma, at any space.
_BREAKS = (
    (3, re.compile(r" (?== )")),
    (2, re.compile(r" (?=[+\-⊙⊗×] )")),
    (2, re.compile(r"(?<=·)|(?<=, )")),
    (1, re.compile(r" ")),
)


_PROSE_BREAKS = ((1, re.compile(r" ")),)
_LISTING_BREAKS = ((2, re.compile(r"(?<=, )|(?<=; )")), (1, re.compile(r" ")))


def _break_at(line: str, start: int, width: int, prose: bool | str = False) -> int | None:
    """Where to break ``line`` so that its first part ends by column ``width``: the best kind of break point
    that leaves at least a third of the line's room filled, the rightmost of that kind (prose: any space)."""
    floor = start + max((width - start) // 3, 1)
    for _, pattern in _LISTING_BREAKS if prose == "listing" else _PROSE_BREAKS if prose else _BREAKS:
        spots = [m.start() for m in pattern.finditer(line, start, width + 1) if floor <= m.start() <= width]
        if spots:
            return max(spots)
    spots = [m.start() for m in _BREAKS[-1][1].finditer(line, start + 1)]
    return spots[0] if spots else None  # no break point within the width: the first one after it


def wrap_line(line: str, width: int) -> list[str]:
    """One line of terminal text broken to ``width`` columns: at operators and spaces, never inside a number,
    continued with a hanging indent (four columns deeper for a calculation, aligned for prose)."""
    line = line.rstrip()
    if len(line) <= width:
        return [line]
    indent = len(line) - len(line.lstrip(" "))
    # a sentence ends with a full stop or a colon, or has a semicolon; a calculation does not
    prose = "listing" if " <- " in line else line.endswith((".", ":")) or "; " in line or " = " not in line
    hang = indent + (0 if prose else 4)
    if hang > width // 2:
        hang = indent
    out = []
    rest = line
    start = indent
    while len(rest) > width:
        at = _break_at(rest, start, width, prose)
        if at is None or at <= start:
            break
        out.append(rest[:at].rstrip())
        rest = " " * hang + rest[at:].lstrip(" ")
        start = hang
    out.append(rest)
    return out


def wrap_text(text: str, width: int | None) -> str:
    """Terminal text with no trailing spaces and, given a ``width``, every line broken to fit it."""
    lines = text.split("\n")
    if width is None:
        return "\n".join(l.rstrip() for l in lines)
    return "\n".join(part for l in lines for part in wrap_line(l, width))


# -- long LaTeX stages into aligned rows --------------------------------------------------------------------

MATH_ROW = 90  # characters a row of a Markdown or PDF display holds before it breaks
BRIEF_ROW = 48  # ... and a row of the two-column PDF of --brief


_SIZING = re.compile(r"\\(?:left|right|biggl|biggr|bigl|bigr|mathrm|text|displaystyle)\b")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_UNSHOWN = re.compile(r"[{}^_\\\s]")


@lru_cache(maxsize=16384)
def visible_length(tex: str) -> int:
    """About how many characters a LaTeX math string shows: commands count as one, braces and scripts' marks
    as none."""
    s = _COMMAND.sub("x", _SIZING.sub("", tex))
    return len(_UNSHOWN.sub("", s)) + s.count(" ") // 2


# the space in front of " + " or " - " (a lookahead, so that " + - " yields both)
_OPERATOR = re.compile(r" (?=[+-] )")
# every opening bracket as <, every closing one as >, and a < or > of the formula itself as a blank
_BRACKETS = str.maketrans("{([})]<>", "<<<>>>  ")


def _top_level_ops(tex: str) -> list[int]:
    """Positions of " + " and " - " outside every group: braces, \\left( ... \\right) and plain parentheses
    (\\biggl[ ... \\biggr] may break, as aligned rows allow). The depth at each operator is counted from the
    brackets since the one before (str.count, in C): one pass over the string."""
    marks = tex.translate(_BRACKETS)
    bigg = r"\bigg" in tex
    depth, spots, last = 0, [], 0
    for m in _OPERATOR.finditer(tex):
        at = m.start()
        depth += marks.count("<", last, at) - marks.count(">", last, at)
        if bigg:  # their brackets do not count
            depth += tex.count(r"\biggr]", last, at) - tex.count(r"\biggl[", last, at)
        last = at
        if depth == 0:
            spots.append(at)
    return spots


def _piece_counts(tex: str, bounds: list[int]) -> list[tuple[int, int]]:
    """visible_length's two parts of each piece tex[bounds[k]:bounds[k + 1]]: the characters shown besides
    spaces, and the spaces. Each piece after the first starts with the space of its operator; that space is
    written as a mark while the whole string goes through visible_length's substitutions once (no command spans
    a space, so each piece is measured as if alone)."""
    if _MARK in tex:  # pragma: no cover - LaTeX of the tutor's never holds a control character
        return [_counts(tex[a:b]) for a, b in zip(bounds, bounds[1:])]
    marked = _MARK.join(tex[a + (k > 0) : b] for k, (a, b) in enumerate(zip(bounds, bounds[1:])))
    s = _COMMAND.sub("x", _SIZING.sub("", marked))
    shown = _UNSHOWN.sub("", s).split(_MARK)
    return [(len(v), p.count(" ") + (k > 0)) for k, (v, p) in enumerate(zip(shown, s.split(_MARK)))]


_MARK = "\x01"


def _counts(piece: str) -> tuple[int, int]:
    s = _COMMAND.sub("x", _SIZING.sub("", piece))
    return len(_UNSHOWN.sub("", s)), s.count(" ")


_LONG = 4  # a string this many times a row's length is split without measuring it whole first


@lru_cache(maxsize=64)
def _measured(tex: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """A long string's top-level operators and its pieces' counts (see split_math)."""
    ops = tuple(_top_level_ops(tex))
    return ops, tuple(_piece_counts(tex, [0, *ops, len(tex)]))


def _pieces_of(tex: str, head: int) -> tuple[list[int], list[tuple[int, int]]]:
    """The break points of ``tex`` and its pieces' counts. ``head``: tex is a derivative's operator, a space
    and its body (d/dw5 [the net input]), which many lines share; the body is measured once (``_measured``)
    where the operator adds no bracket or operator of its own, so that the body's breaks are the string's."""
    op, body = tex[: head - 1], tex[head:]
    if (
        head
        and tex[head - 1] == " "
        and r"\bigg" not in op
        and not body.startswith(("+ ", "- "))
        and not _top_level_ops(op + " x")
        and _balanced(op)
    ):
        ops, rest = _measured(body)
        bounds = [0, *(head + b for b in ops), len(tex)]
        return bounds, [_counts(tex[: bounds[1]]), *rest[1:]]
    bounds = [0, *_top_level_ops(tex), len(tex)]
    return bounds, _piece_counts(tex, bounds)


def _balanced(tex: str) -> bool:
    marks = tex.translate(_BRACKETS)
    return marks.count("<") == marks.count(">")


def split_math(tex: str, limit: int = MATH_ROW, head: int = 0) -> list[str]:
    """A stage longer than ``limit`` as chunks that break before a top-level + or -; each chunk after the first
    starts with its operator.

    The pieces between break points are measured once each: every break point is a space, which no command
    spans, so a chunk's visible_length is its pieces' shown characters plus half their spaces (linear time).
    ``head``: see _pieces_of."""
    if len(tex) <= limit:  # a string shows at most as many characters as it has
        return [tex]
    if len(tex) <= _LONG * limit:
        if visible_length(tex) <= limit:
            return [tex]
        bounds = [0, *_top_level_ops(tex), len(tex)]
        counts = _piece_counts(tex, bounds)
    else:  # surely too long: its pieces' counts add up to its visible_length, so the string is measured once
        bounds, counts = _pieces_of(tex, head)
        if sum(c[0] for c in counts) + sum(c[1] for c in counts) // 2 <= limit:
            return [tex]
    chunks, start, last = [], 0, 0  # indices into bounds
    shown = spaces = 0  # of the pieces from start up to the current spot
    for k in range(1, len(bounds) - 1):
        shown += counts[k - 1][0]
        spaces += counts[k - 1][1]
        if shown + spaces // 2 > limit and last > start:
            chunks.append(tex[bounds[start] : bounds[last]].strip())
            start = last
            shown, spaces = counts[start][0], counts[start][1]  # start == k - 1: one piece so far
        last = k
    rest = counts[start:]
    if sum(c[0] for c in rest) + sum(c[1] for c in rest) // 2 > limit and last > start:
        chunks.append(tex[bounds[start] : bounds[last]].strip())
        start = last
    chunks.append(tex[bounds[start] :].strip())
    return [c for c in chunks if c]


def math_rows(stages: list[str], limit: int = MATH_ROW, label: str = "", head: int = 0) -> list[dict[str, str]]:
    """The stages of a calculation as aligned rows, the Markdown's layout: the symbolic line, then "= numbers",
    then "= value" (joined to the row before when it fits); a long stage continues on rows of its own. Every
    row stays within ``limit`` shown characters where it can, counting the ``label`` in front of the first."""
    rows: list[dict[str, str]] = []
    room = max(limit - visible_length(label), limit // 2)
    for k, stage in enumerate(stages):
        last = k == len(stages) - 1
        used = visible_length(rows[-1]["text"]) + (limit - room if len(rows) == 1 else 0) if rows else 0
        if last and rows and used + visible_length(stage) + 3 <= limit:
            rows[-1] = {**rows[-1], "text": rows[-1]["text"] + " = " + stage}
            continue
        for j, chunk in enumerate(split_math(stage, room if not rows else limit, head if k == 0 else 0)):
            rows.append({"lead": "=" if j == 0 else "", "text": chunk})
    return rows
