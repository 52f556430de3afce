"""One shown line of a walk-through: the FormulaWriter of an output and the strings of one quantity."""

from __future__ import annotations

from typing import Any, Callable

from ..engine.steps import Quantity
from .options import DEFAULT, Options, shown_digits


def writer(walk: Any, mode: str, options: Options = DEFAULT, *, example: int | None = None, scientific: bool = False):
    """The FormulaWriter of one output: ``mode`` "text", "tex" (pdflatex) or "web" (MathJax, MathML).

    ``walk`` is a Walkthrough or a TrainingWalk. ``example`` k writes the loss of one example of a batch as
    E⁽ᵏ⁾, so that its gradients read as the terms of the batch mean; ``scientific`` writes values too small
    for the shown decimals as 6.75·10⁻⁷ (an optimizer's state), unless they are rounded as printed.
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
    decimals = None
    if not fixed and digits is not None:
        from ..engine.precision import shown_decimals

        decimals = shown_decimals(walk.quantities, digits, significant_figures(digits))
    return FormulaWriter(notation, walk.values(), digits, small, fixed=fixed, given=given, decimals=decimals)


def line_view(
    fw: Any, quantities: dict[str, Quantity], key: str, mode: str, escape: Callable[[str], str] = lambda s: s
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
    return {
        "key": escape(key),
        "label": fw.label(key, mode),
        "derivation": derivation,
        "derivation_op": op,  # the derivation in two parts, the operator d/d(wrt) ...
        "derivation_body": body,  # ... and the bracketed expression, which quantities often share
        "wrt": fw.label(quantity.wrt, mode) if quantity.wrt else "",
        "formula": formula,
        "substituted": substituted,
        "value": value,
        "stages": stages,
        "note": quantity.note,
    }
