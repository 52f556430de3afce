"""Formulas as text: SymPy's LaTeX and str printers, subclassed for the tutor's notation.

A quantity's formula is a local form in placeholders bound to quantity keys. The printers write each bound
placeholder as the quantity's label (``net_{h1}``, ``\\frac{\\partial E_{total}}{\\partial w_{5}}``) or, for the
substituted line, as the number used. User text never reaches the output unescaped: a label that is not a
plain identifier is printed as escaped text.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from .steps import Label, Quantity

_IDENT = re.compile(r"^([A-Za-z]+)(\d*)(?:_([A-Za-z0-9.]+))?$")
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "sigma", "tau", "phi"}
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "^": r"\textasciicircum{}",
    "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", "<": r"\textless{}", ">": r"\textgreater{}",
}  # fmt: skip
_TEXT_GREEK = {"eta": "η", "alpha": "α", "beta": "β", "lambda": "λ", "mu": "μ", "sigma": "σ", "delta": "δ"}


def tex_escape(text: str) -> str:
    """Escape arbitrary text for LaTeX text mode (and so for ``\\text{...}`` inside math)."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)


def _tex_word(word: str) -> str:
    if word in _GREEK:
        return "\\" + word
    return word if len(word) == 1 else r"\mathrm{" + word + "}"


def tex_name(text: str) -> str:
    r"""A name as LaTeX math: ``w5`` -> ``w_{5}``, ``net_h1`` -> ``\mathrm{net}_{h1}``, else escaped text.

    >>> print(tex_name("E_total"), tex_name("h1_in"), tex_name("eta"), tex_name("a$b"))
    E_{\mathrm{total}} h_{1,\mathrm{in}} \eta \text{a\$b}
    """
    m = _IDENT.match(text)
    if not m:
        return r"\text{" + tex_escape(text) + "}"
    base, digits, sub = m.groups()
    parts = [digits] if digits else []
    if sub is not None:
        parts.append(r"\mathrm{" + sub + "}" if sub.isalpha() and len(sub) > 1 else sub)
    head = _tex_word(base)
    return head + "_{" + ",".join(parts) + "}" if parts else head


def text_name(text: str) -> str:
    return _TEXT_GREEK.get(text, text)


class Notation:
    """Writes the labels of one walk-through: in LaTeX and in plain Unicode text."""

    def __init__(self, labels: Mapping[str, Label], updated_pattern: str = "{param}+", eta: str = "eta"):
        self.labels = labels
        self.updated_pattern = updated_pattern
        self.eta = eta

    def tex(self, key: str) -> str:
        lab = self.labels.get(key)
        if lab is None or lab.kind == "name":
            return tex_name(key)
        if lab.kind == "partial":
            out = r"\frac{\partial " + self.tex(lab.num) + r"}{\partial " + self.tex(lab.den) + "}"
            if lab.via:
                out = r"\left." + out + r"\right|_{\text{via } " + tex_name(lab.via) + "}"
            return out
        # updated parameter: the pattern's text around {param} becomes a superscript when it is a suffix
        prefix, _, suffix = self.updated_pattern.partition("{param}")
        if not prefix and suffix and _IDENT.match(lab.base):
            sup = "+" if suffix == "+" else r"\mathrm{" + tex_escape(suffix) + "}" if suffix.isalnum() else r"\text{" + tex_escape(suffix) + "}"
            return "{" + tex_name(lab.base) + "}^{" + sup + "}"
        return tex_name(lab.text)

    def text(self, key: str) -> str:
        lab = self.labels.get(key)
        if lab is None or lab.kind == "name":
            return text_name(key)
        if lab.kind == "partial":
            out = f"∂{self.text(lab.num)}/∂{self.text(lab.den)}"
            return f"{out} (via {lab.via})" if lab.via else out
        return lab.text


class _TexFormPrinter(LatexPrinter):
    def __init__(self, names: Callable[[object], str | None]):
        super().__init__({"mul_symbol": "dot", "order": "none", "fold_short_frac": False})
        self._names = names

    def _print_Symbol(self, expr, style="plain"):
        name = self._names(expr)
        return name if name is not None else super()._print_Symbol(expr, style)


class _TextFormPrinter(StrPrinter):
    def __init__(self, names: Callable[[object], str | None]):
        super().__init__({"order": "none"})
        self._names = names

    def _print_Symbol(self, expr):
        name = self._names(expr)
        return name if name is not None else super()._print_Symbol(expr)


def _fmt_number(value: float, digits: int | None) -> str:
    from .rounding import format_fixed

    if digits is None:
        return repr(float(value))
    text = format_fixed(value, digits)
    # Trailing zeros say nothing a person would write: 0.40 -> 0.4, but keep one digit after the point.
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text = text[:-1]
    return text


class FormulaWriter:
    """Prints the formula, the substituted line and the derivation of quantities, in LaTeX or text."""

    def __init__(self, notation: Notation, values: Mapping[str, float], digits: int | None):
        self.notation = notation
        self.values = values
        self.digits = digits

    def number(self, value: float) -> str:
        return _fmt_number(value, self.digits)

    def _print(self, form, args, mode: str, substitute: bool) -> str:
        mapping = dict(zip(form.placeholders, args))
        tokens: dict[str, str] = {}

        def names(sym):
            key = mapping.get(sym)
            if key is None:
                return None
            if substitute:
                v = self.values[key]
                s = self.number(v)
                if v < 0 or s.startswith("-"):
                    s = r"\left(" + s + r"\right)" if mode == "tex" else f"({s})"
            else:
                s = self.notation.tex(key) if mode == "tex" else self.notation.text(key)
            if mode == "tex":
                return s
            # The str printer writes '*' for products; protect labels that contain '*' with tokens.
            tok = f"\ue000{len(tokens)}\ue001"
            tokens[tok] = s
            return tok

        if mode == "tex":
            return _TexFormPrinter(names).doprint(form.expr)
        out = _TextFormPrinter(names).doprint(form.expr)
        out = out.replace("**", "^").replace("*", "·")
        for tok, s in tokens.items():
            out = out.replace(tok, s)
        return out

    def formula(self, q: Quantity, mode: str = "tex") -> str:
        return self._print(q.form, q.args, mode, False) if q.form is not None else ""

    def substituted(self, q: Quantity, mode: str = "tex") -> str:
        return self._print(q.form, q.args, mode, True) if q.form is not None else ""

    def differentiated(self, q: Quantity, mode: str = "tex") -> str:
        return self._print(q.of_form, q.of_args, mode, False) if q.of_form is not None else ""

    def label(self, key: str, mode: str = "tex") -> str:
        return self.notation.tex(key) if mode == "tex" else self.notation.text(key)
