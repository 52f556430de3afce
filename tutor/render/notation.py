"""Formulas as text: SymPy's LaTeX and str printers, subclassed for the tutor's notation.

A quantity's formula is a local form in placeholders bound to quantity keys. The printers write each bound
placeholder as the quantity's label (``net_{h1}``, ``\\frac{\\partial E_{total}}{\\partial w_{5}}``) or, for the
substituted line, as the number used. User text never reaches the output unescaped: a label that is not a
plain identifier is printed as escaped text, in the LaTeX dialect of the output it goes to: ``latex`` for
pdflatex, ``web`` for MathJax, KaTeX (Markdown) and latex2mathml (HTML).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping

from sympy import Add, Symbol, preorder_traversal
from sympy.printing.latex import LatexPrinter, latex
from sympy.printing.str import StrPrinter

from ..engine.steps import Form, Label, Quantity
from ..spec.memo import MISSING, ByIdentity

_IDENT = re.compile(r"^([A-Za-z]+)(\d*)((?:_[A-Za-z0-9.]+)*)$")
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "rho", "sigma", "tau", "phi"}
# The optimizers' short names of Greek letters: eps is written epsilon.
_GREEK_ALIAS = {"eps": "epsilon"}
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    # OT1 fonts have other glyphs in these slots (|: an em dash, ": a closing quote, `: an opening quote).
    "|": r"\textbar{}",
    '"': r"{\ttfamily\char34}",
    "`": r"\`{}",
}
# Latin-1 and Latin Extended-A letters that pdflatex's default OT1 fonts cannot set (measured with
# texlive-latex-base); these and every character beyond U+017F are written as their code point instead.
_TEX_UNSET = set("«»ÐÞðþĄąĐđĘęĦħĮįĸĿŀŉŊŋŦŧŲųſ")
# In MathJax, KaTeX and latex2mathml alike, these read literally only as math commands outside \text{}; the
# commands also keep '$', '<', '&' and '|' out of a Markdown line, where they would end the math, open an
# HTML tag or split a table cell.
_WEB_SPECIAL = {
    "\\": r"\backslash ",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\hat{}",
    "~": r"\sim ",
    "<": r"\lt ",
    ">": r"\gt ",
    "|": r"\vert ",
    "`": r"\grave{}",
}
_TEXT_GREEK = {
    "eta": "η",
    "alpha": "α",
    "beta": "β",
    "lambda": "λ",
    "mu": "μ",
    "sigma": "σ",
    "delta": "δ",
    "rho": "ρ",
    "epsilon": "ε",
    "eps": "ε",
}
# A Greek name with a number, as the optimizers' hyperparameters are: beta1 -> β₁, eta0 -> η₀.
_TEXT_GREEK_INDEXED = re.compile(r"^([a-z]+)(\d+)$")
_SUP = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")
# Keys of a training step's own quantities: a name and what it belongs to, ``g[w5]``, ``E_total[e1]``.
_INDEXED = re.compile(r"^(.+)\[([^\[\]]+)\]$")
_EXAMPLE = re.compile(r"^e(\d+)$")
_TEXT_STATE = {"step": "Δ", "mhat": "m̂", "vhat": "v̂", "v_prev": "v⁽ᵗ⁻¹⁾", "m_prev": "m⁽ᵗ⁻¹⁾", "s_prev": "s⁽ᵗ⁻¹⁾"}
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


# Greek letters and the few math signs a spec's text uses, set as math in text mode (pdflatex's text fonts
# have none of them).
_TEX_UNICODE = {
    "α": r"\alpha",
    "β": r"\beta",
    "γ": r"\gamma",
    "δ": r"\delta",
    "ε": r"\varepsilon",
    "η": r"\eta",
    "θ": r"\theta",
    "λ": r"\lambda",
    "μ": r"\mu",
    "ρ": r"\rho",
    "σ": r"\sigma",
    "τ": r"\tau",
    "φ": r"\phi",
    "Σ": r"\Sigma",
    "∂": r"\partial",
    "−": "-",
    "·": r"\cdot",
    "√": r"\surd",
    "²": "^{2}",
    "³": "^{3}",
    "₁": "_{1}",
    "₂": "_{2}",
    "⊙": r"\odot",
    "→": r"\to",
    "≤": r"\le",
    "≥": r"\ge",
    "½": r"\tfrac{1}{2}",
}


def tex_escape(text: str) -> str:
    """Escape arbitrary text for LaTeX text mode (and so for ``\\text{...}`` inside math), for pdflatex.

    >>> print(tex_escape("50% of $x_1 ✓ α"))
    50\\% of \\$x\\_1 [U+2713] \\ensuremath{\\alpha}
    """
    out = []
    for c, after in zip(text, text[1:] + " "):
        if c in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[c])
        elif c == "\n":
            out.append(" ")
        elif c in _TEX_UNICODE:
            out.append(r"\ensuremath{" + _TEX_UNICODE[c] + "}")
        elif ord(c) > 0x17F or c in _TEX_UNSET:
            out.append(f"[U+{ord(c):04X}]")
        elif c == after and c in "-'":
            out.append(c + "{}")  # no ligature: "--" stays two hyphens, "''" two apostrophes
        else:
            out.append(c)
    return "".join(out)


def web_text(text: str) -> str:
    r"""Arbitrary text as LaTeX math that MathJax, KaTeX and latex2mathml all show literally.

    >>> print(web_text("a<b>_$"))
    \text{a}\lt \text{b}\gt \_\$
    """
    out, run = [], []
    for c in text.replace("\n", " "):
        if c in _WEB_SPECIAL:
            if run:
                out.append(r"\text{" + "".join(run) + "}")
                run = []
            out.append(_WEB_SPECIAL[c])
        else:
            run.append(c)
    if run:
        out.append(r"\text{" + "".join(run) + "}")
    return "".join(out)


def tex_text(text: str, dialect: str = "latex") -> str:
    """User text inside math, escaped for the dialect."""
    return web_text(text) if dialect == "web" else r"\text{" + tex_escape(text) + "}"


# Batch normalization's names: xhat_h1 is x̂ of h1, var_h1 its batch variance σ²
_TEX_BN = {"xhat": r"\hat{x}", "var": r"\sigma^{2}"}
_TEXT_BN = re.compile(r"^(mu|var|xhat|gamma|beta|eps)_([A-Za-z0-9_.]+)$")
_TEXT_BN_HEAD = {"mu": "μ", "var": "σ²", "xhat": "x̂", "gamma": "γ", "beta": "β", "eps": "ε"}


def _tex_word(word: str) -> str:
    if word in _TEX_BN:
        return _TEX_BN[word]
    word = _GREEK_ALIAS.get(word, word)
    if word in _GREEK:
        return "\\" + word
    return word if len(word) == 1 else r"\mathrm{" + word + "}"


@lru_cache(maxsize=16384)
def tex_name(text: str, dialect: str = "latex") -> str:
    r"""A name as LaTeX math: ``w5`` -> ``w_{5}``, ``net_h1_2`` -> ``\mathrm{net}_{h1,2}``, else escaped text.

    >>> print(tex_name("E_total"), tex_name("h1_in"), tex_name("eta"), tex_name("a$b"), tex_name("a$b", "web"))
    E_{\mathrm{total}} h_{1,\mathrm{in}} \eta \text{a\$b} \text{a}\$\text{b}
    """
    m = _IDENT.match(text)
    if not m:
        return tex_text(text, dialect)
    base, digits, subs = m.groups()
    parts = [digits] if digits else []
    for sub in subs.split("_")[1:]:
        parts.append(r"\mathrm{" + sub + "}" if sub.isalpha() and len(sub) > 1 else sub)
    head = _tex_word(base)
    return head + "_{" + ",".join(parts) + "}" if parts else head


def text_name(text: str) -> str:
    """A name for a terminal: Greek letters as letters (eta -> η, beta1 -> β₁), anything else as it is."""
    if text in _TEXT_GREEK:
        return _TEXT_GREEK[text]
    m = _TEXT_GREEK_INDEXED.match(text)
    if m and m.group(1) in _TEXT_GREEK:
        return _TEXT_GREEK[m.group(1)] + m.group(2).translate(_SUB)
    m = _TEXT_BN.match(text)
    if m:
        return _TEXT_BN_HEAD[m.group(1)] + "_" + m.group(2)
    return text


# -- the layered notation of BP1-BP4 -----------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """One label in both forms: LaTeX math and Unicode text."""

    tex: str
    text: str


def _indexed(base: str, sup: int | None, sub: tuple[int, ...]) -> Name:
    """``z`` with layer ``sup`` and indices ``sub``, printed by SymPy (LaTeX) and as Unicode scripts (text)."""
    # Indices of ten or more need a comma to stay readable: w^3_{1,10}, not w^3_{110}.
    joined = ("," if any(i > 9 for i in sub) else "").join(map(str, sub))
    name = base + (f"_{joined}" if sub else "") + (f"^{sup}" if sup is not None else "")
    head = text_name(base)
    text = head + (str(sup).translate(_SUP) if sup is not None else "") + joined.translate(_SUB)
    return Name(latex(Symbol(name)), text)


@dataclass(frozen=True)
class Relabelling:
    """Labels that replace the spec's own: every name's new form, the deltas, and the loss keys."""

    names: Mapping[str, Name] = field(default_factory=dict)
    deltas: Mapping[str, Name] = field(default_factory=dict)  # net key -> delta of that neuron
    losses: frozenset = frozenset()  # keys whose derivative by a net is a delta
    neurons: Mapping[str, Name] = field(default_factory=dict)  # neuron name -> its z (for "via")


def layered(net) -> Relabelling:
    """The z/a/delta notation of BP1-BP4 for a Network: layer 1 is the input layer, as in the seed notes.

    Neuron j of layer l has the net input z^l_j, the output a^l_j and the error delta^l_j = dC/dz^l_j; the
    weight w^l_jk joins neuron k of layer l-1 to it and b^l_j is its bias; targets are y_j, the loss C.
    """
    names: dict[str, Name] = {}
    deltas: dict[str, Name] = {}
    neurons: dict[str, Name] = {}
    for k, name in enumerate(net.input_names):
        names[name] = _indexed("a", 1, (k + 1,))
    for li, layer in enumerate(net.layers):
        l = li + 2
        for j in range(layer.size):
            z = _indexed("z", l, (j + 1,))
            names[layer.net_names[j]] = neurons[layer.neurons[j]] = z
            names[layer.out_names[j]] = _indexed("a", l, (j + 1,))
            deltas[layer.net_names[j]] = _indexed("delta", l, (j + 1,))
            for i, w in enumerate(layer.weight_labels[j]):
                names[w] = _indexed("w", l, (j + 1, i + 1))
            if layer.has_bias:
                names[layer.bias_labels[j]] = _indexed("b", l, () if layer.shared_bias else (j + 1,))
    for j, t in enumerate(net.target_names()):
        names[t] = _indexed("y", None, (j + 1,))
    terms = net.loss_term_names()
    for j, t in enumerate(terms):
        names[t] = _indexed("C", None, (j + 1,))
    names[net.notation["loss"]] = Name("C", "C")
    return Relabelling(names, deltas, frozenset((net.notation["loss"], *terms)), neurons)


class Notation:
    """Writes the labels of one walk-through: in LaTeX (of one dialect) and in plain Unicode text."""

    def __init__(
        self,
        labels: Mapping[str, Label],
        updated_pattern: str = "{param}+",
        eta: str = "eta",
        *,
        dialect: str = "latex",
        relabel: Relabelling | None = None,
    ):
        self.labels = labels
        self.updated_pattern = updated_pattern
        self.eta = eta
        self.dialect = dialect
        self.relabel = relabel or Relabelling()
        self._tex: dict[str, str] = {}
        self._text: dict[str, str] = {}

    def _recomputed(self, key: str) -> str | None:
        """For a quantity of the forward pass after the update (``net_h1+``), the key it recomputes."""
        prefix, _, suffix = self.updated_pattern.partition("{param}")
        if key.startswith(prefix) and key.endswith(suffix) and len(key) > len(prefix) + len(suffix):
            base = key[len(prefix) : len(key) - len(suffix)]
            if base in self.labels and self.labels[base].kind == "name":
                return base
        return None

    def _updated(self, base: str, mode: str) -> str:
        prefix, _, suffix = self.updated_pattern.partition("{param}")
        if mode == "text":
            return prefix + self.text(base) + suffix
        # the pattern's text around {param} becomes a superscript when it is a suffix
        if not prefix and suffix:
            if suffix == "+":
                sup = "+"
            elif suffix.isalnum():
                sup = r"\mathrm{" + suffix + "}"
            else:
                sup = tex_text(suffix, self.dialect)
            return "{" + self.tex(base) + "}^{" + sup + "}"
        return tex_name(self.updated_pattern.replace("{param}", base), self.dialect)

    def _indexed(self, base: str, index: str, mode: str) -> str:
        """A quantity of a training step named ``base[index]``: ``E[e2]`` is example 2's loss, E⁽²⁾;
        ``g[w5]`` the gradient the optimizer is given, ``mask[h1]`` a dropout mask entry: g(w5), mask(h1)."""
        example = _EXAMPLE.match(index)
        if example:
            k = example.group(1)
            if mode == "text":
                return self.text(base) + "⁽" + k.translate(_SUP) + "⁾"
            return "{" + self.tex(base) + "}^{(" + k + ")}"
        if mode == "text":
            return f"{self.text(base)}({self.text(index)})"
        # a neuron's name (mask[h1]) is not a quantity: written upright as a whole, like net_{h1}
        sub = self.tex(index) if index in self.labels or not index.isalnum() else r"\mathrm{" + index + "}"
        return "{" + self.tex(base) + "}_{" + sub + "}"

    def tex(self, key: str) -> str:
        out = self._tex.get(key)
        if out is None:
            out = self._tex[key] = self._write(key, "tex")
        return out

    def text(self, key: str) -> str:
        out = self._text.get(key)
        if out is None:
            out = self._text[key] = self._write(key, "text")
        return out

    def _write(self, key: str, mode: str) -> str:
        lab = self.labels.get(key)
        rl = self.relabel
        if lab is None or lab.kind == "name":
            if key in rl.names:
                return getattr(rl.names[key], mode)
            base = self._recomputed(key) if lab is not None else None
            if base is not None:
                return self._updated(base, mode)
            indexed = _INDEXED.match(key) if lab is not None else None
            if indexed:
                return self._indexed(*indexed.groups(), mode)
            return text_name(key) if mode == "text" else tex_name(key, self.dialect)
        if lab.kind == "partial":
            if lab.num in rl.losses and lab.den in rl.deltas:
                return getattr(rl.deltas[lab.den], mode)
            via = getattr(rl.neurons[lab.via], mode) if lab.via in rl.neurons else lab.via
            # a graph's gradient of its output is a total derivative (every path summed): d, beside the gates'
            # local partial derivatives, which may share numerator and denominator with it
            d = (
                ("d" if mode == "text" else r"\mathrm{d}")
                if lab.note == "total"
                else ("∂" if mode == "text" else r"\partial")
            )
            if mode == "text":
                out = f"{d}{self.text(lab.num)}/{d}{self.text(lab.den)}"
                return f"{out} (via {via})" if lab.via else out
            out = r"\frac{" + d + " " + self.tex(lab.num) + r"}{" + d + " " + self.tex(lab.den) + "}"
            if lab.via:
                if lab.via not in rl.neurons:
                    via = tex_name(lab.via, self.dialect)
                out = r"\left." + out + r"\right|_{" + tex_text("via ", self.dialect) + via + "}"
            return out
        if lab.kind == "share":  # an example's share of a batch mean: its value over N
            return f"{self.text(lab.base)}/N" if mode == "text" else r"\frac{" + self.tex(lab.base) + "}{N}"
        if lab.kind == "kept":  # an output after its dropout mask: out~
            return self.text(lab.base) + "~" if mode == "text" else r"\widetilde{" + self.tex(lab.base) + "}"
        if lab.kind == "state":  # an optimizer's line for one parameter: v(w5), mhat(w5), v_prev(w5)
            name = lab.num
            if mode == "text":
                return f"{_TEXT_STATE.get(name, name)}({self.text(lab.base)})"
            head = {
                "step": r"\Delta",
                "mhat": r"\hat{m}",
                "vhat": r"\hat{v}",
                "v_prev": r"v^{(t-1)}",
                "m_prev": r"m^{(t-1)}",
                "s_prev": r"s^{(t-1)}",
            }.get(name, tex_name(name, self.dialect))
            return head + r"_{" + self.tex(lab.base) + "}"
        return self._updated(lab.base, mode)


_LONE_E = re.compile(r"(?<![A-Za-z\\])e(?![A-Za-z])")  # a name "e" in printed LaTeX, not \exp or "net"


class Elision(Symbol):
    """The ⋯ that stands for the terms a long sum's derivative leaves out (``elided``)."""

    def __new__(cls):
        return Symbol.__new__(cls, "elided")


# A derivative's body with more terms than this is written short (``elided``).
ELIDE_ABOVE = 8
# (form, positions) -> its short form; a graph's forms are made per walk: a notebook's many walks are not all kept
_ELIDED = ByIdentity(bound=4096)


_TERMS = ByIdentity(bound=4096)  # form -> (placeholder position -> the terms that hold it)


def _terms_of(form: Form) -> dict[int, list[int]]:
    """Which terms of a sum hold each placeholder, by the placeholder's position (found once per form)."""
    terms = _TERMS.get(form)
    if terms is MISSING:
        where = {p: i for i, p in enumerate(form.placeholders)}
        terms = {}
        for k, t in enumerate(form.expr.args):
            for p in t.free_symbols:
                if p in where:
                    terms.setdefault(where[p], []).append(k)
        _TERMS.put(form, terms)
    return terms


def elided(form: Form, args: tuple, wrt: str) -> Form:
    """A long sum as a derivative's body writes it: its first two terms, every term that holds the placeholders
    of the argument ``wrt`` among ``args`` (the variable it is differentiated by), its last two, and ⋯ for each
    run left out.

    ∂net_o1/∂out_h2,5 = ∂/∂out_h2,5 [w1·out1 + w2·out2 + ⋯ + w5·out5 + ⋯ + w30·out30 + b·1] = w5, as a
    textbook writes it. The whole sum is its own line in the forward pass; written out again in each of the
    30 derivatives of a 30-input neuron, it made a walk-through grow as its parameters times its widest layer.
    A sum of at most ``ELIDE_ABOVE`` terms is written whole.
    """
    expr = form.expr
    if not expr.is_Add or len(expr.args) <= ELIDE_ABOVE:
        return form
    positions = _positions(args, wrt)
    short = _ELIDED.get(form, positions)
    if short is MISSING:
        terms = expr.args  # in the order they print (the printers keep an unevaluated sum's order)
        m = len(terms)
        keep = sorted({0, 1, m - 2, m - 1} | {k for i in positions for k in _terms_of(form).get(i, ())})
        shown, last = [], -1
        for k in keep:
            if k > last + 1:
                shown.append(Elision())
            shown.append(terms[k])
            last = k
        short = _ELIDED.put(form, Form(Add(*shown, evaluate=False), None, form.placeholders), positions)
    return short


def _positions(args: tuple, key: str) -> tuple[int, ...]:
    """Where ``key`` is among ``args`` (tuple.index, in C: a 30-input neuron's 61 arguments are searched for
    each of its derivatives)."""
    out, i = [], -1
    try:
        while True:
            i = args.index(key, i + 1)
            out.append(i)
    except ValueError:
        return tuple(out)


class _TexFormPrinter(LatexPrinter):
    def __init__(self, names: Callable[[object], str | None]):
        # ln, as every loss's header writes the natural logarithm
        super().__init__({"mul_symbol": "dot", "order": "none", "fold_short_frac": False, "ln_notation": True})
        self._names = names

    def _print_ExpBase(self, expr, exp=None):
        # a quantity named e (a graph's node) beside Euler's e: exp(e), never e^{e}
        arg = self._print(expr.args[0])
        if _LONE_E.search(arg):
            out = r"\exp\left(" + arg + r"\right)"
            return out if exp is None else r"\left(" + out + r"\right)^{" + exp + "}"
        return super()._print_ExpBase(expr, exp)

    def _print_Elision(self, expr):
        return r"\cdots"

    def _print_Heaviside(self, expr, exp=None):
        # step(x), as the text writes it (and the documents define it), not SymPy's theta
        return r"\operatorname{step}\left(" + self._print(expr.args[0]) + r"\right)"

    def _print_Symbol(self, expr, style="plain"):
        name = self._names(expr)
        return name if name is not None else super()._print_Symbol(expr, style)

    def _print_Pow(self, expr):
        # A derivative raised to a power: (dE/dw5)^2, not a fraction with a stray exponent.
        if expr.base.is_Symbol and expr.exp.is_Integer:
            base = self._print(expr.base)
            if r"\frac" in base:
                return r"\left(" + base + r"\right)^{" + self._print(expr.exp) + "}"
        return super()._print_Pow(expr)

    @staticmethod
    def derivative(var: str, body: str) -> tuple[str, str]:
        """SymPy's Derivative as printed, in two parts: the operator and the bracketed expression.

        Square brackets sized by hand rather than \\left[...\\right]: TeX can break a line inside them.
        """
        return r"\frac{\partial}{\partial " + var + "}", r"\biggl[" + body + r"\biggr]"


class _TextFormPrinter(StrPrinter):
    def __init__(self, names: Callable[[object], str | None]):
        super().__init__({"order": "none"})
        self._names = names

    def _print_Symbol(self, expr):
        name = self._names(expr)
        return name if name is not None else super()._print_Symbol(expr)

    def _print_Elision(self, expr):
        return "⋯"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Piecewise(self, expr):
        # { x if net ≥ 0; 0.01·x otherwise }, as a textbook writes a case distinction, not SymPy's repr
        parts = []
        for value, cond in expr.args:
            if cond is True or getattr(cond, "is_Boolean", False) and bool(cond) is True:
                parts.append(f"{self._print(value)} otherwise")
            else:
                parts.append(f"{self._print(value)} if {self._print(cond)}")
        return "{ " + "; ".join(parts) + " }"

    def _print_Relational(self, expr):
        ops = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
        return f"{self._print(expr.lhs)} {ops.get(expr.rel_op, expr.rel_op)} {self._print(expr.rhs)}"

    def _print_Abs(self, expr):
        return "|" + self._print(expr.args[0]) + "|"

    def _print_Heaviside(self, expr):
        return "step(" + self._print(expr.args[0]) + ")"

    def _print_log(self, expr):
        return "ln(" + self._print(expr.args[0]) + ")"  # as every loss's header writes it

    def _print_sign(self, expr):
        return "sign(" + self._print(expr.args[0]) + ")"

    def _print_Float(self, expr):
        return f"{float(expr):g}"

    @staticmethod
    def derivative(var: str, body: str) -> tuple[str, str]:
        return f"∂/∂{var}", f"[ {body} ]"


# A number in parentheses of its own inside a function's: negative, or in scientific notation.
_TEX_DOUBLE = re.compile(r"\\left\(\\left\((-?[0-9.]+(?: \\cdot 10\^\{-?\d+\})?)\\right\) ?\\right\)")
# A square root's own bar already holds a number in scientific notation: sqrt(1.9·10⁻⁷), not sqrt((1.9·10⁻⁷)).
_TEX_SQRT = re.compile(r"\\sqrt\{\\left\((-?[0-9.]+ \\cdot 10\^\{-?\d+\})\\right\)\}")
_TEXT_DOUBLE = re.compile(r"\(\((-?[0-9.]+(?:·10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?)\)\)")


_SIZED_PAIR = re.compile(r"\\left\(((?:(?!\\left|\\right|\\frac).)*?)\\right\)")


def _plain_parens(tex: str) -> str:
    r"""``\left( ... \right)`` around nothing taller than a line as plain parentheses, inner pairs first:
    pdflatex cannot break a line inside a sized pair, and a long sum in one (lambda (w1^2 + ... + w9^2))
    would stick out of the page.

    >>> print(_plain_parens(r"\left(\left(-0.2\right)^{2} + \frac{1}{\left(2\right)}\right)"))
    \left((-0.2)^{2} + \frac{1}{(2)}\right)
    """
    while True:
        out = _SIZED_PAIR.sub(r"(\1)", tex)
        if out == tex:
            return out
        tex = out


# Below this magnitude an exact value is written in scientific notation: 6.751423·10⁻⁶, not 0.000006751423.
SCIENTIFIC_BELOW = 1e-4


def significant_figures(digits: int) -> int:
    """The fewest significant figures an exact value keeps however small it is (a value still gets ``digits``
    decimals, and more where a line that uses it needs them: tutor.engine.precision)."""
    return min(digits, 3)


def _fmt_number(
    value: float,
    digits: int | None,
    scientific: str | None = None,
    *,
    fixed: bool = False,
    given: bool = False,
    decimals: int | None = None,
) -> str:
    """``value`` as a person reads it: enough significant figures that a line substituted with shown numbers
    reproduces its shown result, one way of writing at every magnitude, never ``-0``.

    An exact value is shown to ``digits`` decimals and at least ``significant_figures(digits)`` significant
    figures, so that a tiny one does not read 0, or to ``decimals`` when a line
    that uses it needs more (tutor.engine.precision); below SCIENTIFIC_BELOW it is written ``6.751423·10⁻⁶``
    (``scientific`` "text") or with ``\\cdot 10^{-6}`` (any other ``scientific``; None: never). A value that the
    shown figures hold exactly loses its trailing zeros (0.4, 1), any other keeps them: they say how precise it
    is. Under ``fixed`` (as-printed rounding) every carried value has exactly ``digits`` decimals and is shown
    so; only a ``given`` value (a spec's weight, input, target) is written as short as it is exact.

    >>> _fmt_number(0.000438567734474, 9), _fmt_number(0.4, 9), _fmt_number(0.0046004, 5), _fmt_number(1.0, 6)
    ('0.000438568', '0.4', '0.00460', '1')
    >>> _fmt_number(6.751423123e-06, 9, "text"), _fmt_number(1e-08, 6, "tex"), _fmt_number(-0.0046, 5, fixed=True)
    ('6.751·10⁻⁶', '1 \\\\cdot 10^{-8}', '-0.00460')
    """
    # a worksheet shows the same values in its sheet, its key and its walk-through: each is written once
    return _fmt_float(float(value), digits, scientific, fixed, given, decimals)


@lru_cache(maxsize=65536)
def _fmt_float(
    value: float, digits: int | None, scientific: str | None, fixed: bool, given: bool, decimals: int | None
) -> str:
    from ..spec.rounding import format_fixed

    if digits is None:
        return repr(float(value))
    if value == 0:
        return "0"  # also -0.0: never a signed zero
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if fixed:
        text = format_fixed(value, digits)
        if given and text.lstrip("-").strip("0.") == "":
            # a given value too small for the decimals is written as the spec gives it, however many decimals
            # that takes (eps 0.00000001 at 4 digits, not 0: the lines compute with it)
            for places in range(digits, 21):
                exact = format_fixed(value, places)
                if float(exact) == value:
                    text = exact
                    break
        if given and "." in text:
            short = text.rstrip("0").rstrip(".")
            if float(short) == value:
                text = short
        return "0" if text.lstrip("-").strip("0.") == "" else text
    from ..engine.precision import NOISE, base_decimals, magnitude

    if decimals is None:
        decimals = base_decimals(value, digits, significant_figures(digits))
    if scientific and abs(value) < SCIENTIFIC_BELOW:
        figures = max(decimals + magnitude(value) + 1, 1)
        mantissa, exponent = f"{value:.{figures - 1}e}".split("e")
        if abs(float(mantissa + "e" + exponent) - value) <= NOISE * abs(value) and "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        power = int(exponent)
        if scientific == "text":
            return f"{mantissa}·10{str(power).translate(_SUP)}"
        return mantissa + r" \cdot 10^{" + str(power) + "}"
    text = format_fixed(value, decimals)
    if "." in text:
        short = text.rstrip("0").rstrip(".")
        # a value its short form holds up to float noise (0.3925 computed as 0.39250000000000007) is that form
        if abs(float(short) - value) <= NOISE * abs(value):
            text = short
    return text


def _scientific(number: str) -> bool:
    return "10^{" in number or "·10" in number


_TEX_TEMPLATES = ByIdentity()  # form -> its LaTeX with tokens: forms live for the process
_TEXT_TEMPLATES = ByIdentity()  # form -> the pieces of its text with tokens
# (form, (mode, substituted, dialect, strings)) -> printed; bounded: a long worksheet run's numbers are each
# printed once
_PRINTED = ByIdentity(bound=200_000)


def _text_template(form) -> tuple:
    """The form in text, printed once with a token per placeholder (see FormulaWriter._tex_from_template), as
    its ``_pieces``."""
    template = _TEXT_TEMPLATES.get(form)
    if template is MISSING:
        tokens = {p: f"\ue000{i}\ue001" for i, p in enumerate(form.placeholders)}
        text = _TextFormPrinter(tokens.get).doprint(form.expr).replace("**", "^").replace("*", "·")
        template = _TEXT_TEMPLATES.put(form, _pieces(text))
    return template


def _fill_text(pieces: tuple, strings: tuple) -> str:
    """``_fill`` for text: a string with a '/' before a power is bracketed, (∂E/∂w5)^2, not ∂E/∂w5^2."""
    out = [pieces[0]]
    for k in range(1, len(pieces), 2):
        i, after = pieces[k], pieces[k + 1]
        t = strings[i] if i < len(strings) else None
        if t is None:
            t = f"\ue000{i}\ue001"
        elif "/" in t and after.startswith("^"):
            t = f"({t})"
        out.append(t)
        out.append(after)
    return "".join(out)


_TOKEN = re.compile("\ue000(\\d+)\ue001")


def _pieces(template: str) -> tuple:
    """A template as its text between tokens and the tokens' placeholder numbers, alternately."""
    parts = _TOKEN.split(template)
    return tuple(int(p) if k % 2 else p for k, p in enumerate(parts))


def _fill(pieces: tuple, strings: tuple) -> str:
    """The template with each token replaced by its placeholder's string (a token whose string is None stays):
    one join, where replacing token after token would scan a long sum's template once a placeholder."""
    out = [pieces[0]]
    for k in range(1, len(pieces), 2):
        i = pieces[k]
        t = strings[i] if i < len(strings) else None
        out.append(f"\ue000{i}\ue001" if t is None else t)
        out.append(pieces[k + 1])
    return "".join(out)


def _special(strings: tuple) -> bool:
    """Whether a string may need the printer itself: a power's base with '^' gets braces, e (see _print_ExpBase)."""
    return any(t is not None and ("^" in t or t == "e") for t in strings)


_POW_BASES = ByIdentity()  # form -> the indices of its placeholders that are a power's base


def _needs_printer(form, strings: tuple) -> bool:
    """Whether ``strings`` change how ``form`` prints, beyond going in where its placeholders are: a power's base
    is bracketed by what its string holds ('^', a fraction: see _print_Pow), and e wherever it is (see
    _print_ExpBase). A string with '^' elsewhere, such as a small number in scientific notation as a factor of a
    product, goes in as it is."""
    bases = _POW_BASES.get(form)
    if bases is MISSING:
        index = {p: i for i, p in enumerate(form.placeholders)}
        bases = _POW_BASES.put(
            form, frozenset(index[n.base] for n in preorder_traversal(form.expr) if n.is_Pow and n.base in index)
        )
    return any(t is not None and (t == "e" or i in bases) for i, t in enumerate(strings))


class FormulaWriter:
    """Prints the formula, the substituted line and the derivation of quantities, in LaTeX or text.

    ``mode`` is "text" for Unicode, anything else for LaTeX in the notation's dialect.
    """

    def __init__(
        self,
        notation: Notation,
        values: Mapping[str, float],
        digits: int | None,
        scientific: str | None = None,
        *,
        fixed: bool = False,
        given: frozenset = frozenset(),
        decimals: Mapping[str, int] | None = None,
    ):
        self.notation = notation
        self.values = values
        self.digits = digits
        self.scientific = scientific  # "text" | "tex": how numbers too small for the decimals are written
        self.fixed = fixed  # as-printed rounding: every carried value has exactly ``digits`` decimals
        self.given = given  # keys of the values a spec gives (weights, inputs, targets, rates)
        self.decimals = decimals or {}  # key -> the decimals its lines need (tutor.engine.precision)
        self._printed = ByIdentity()  # (form, (args, mode, substitute)) -> printed, for this writer's life
        self._shown: dict[str, str] = {}  # key -> its shown number: a value is read by many lines
        self._operands: dict[tuple[str, bool], str] = {}
        self._labels: dict[tuple, str] = {}
        self._strings: dict[tuple, tuple] = {}  # (args, mode, substitute, n) -> (placeholders' strings, _special)
        self.refs: Mapping[str, str] = {}  # key -> its key in the document (an example's own in a batch)
        # the lines whose shown numbers give their value only to within its last digit, written with ≈
        self.rounded: frozenset = getattr(decimals, "rounded", frozenset())

    def line_label(self, key: str, mode: str = "tex") -> str:
        """The label in front of the line that shows ``key`` (the one place a shown line's label is made)."""
        return self.label(key, mode)

    def number(self, value: float, given: bool = False) -> str:
        return _fmt_number(value, self.digits, self.scientific, fixed=self.fixed, given=given)

    def value_of(self, key: str) -> str:
        """The shown number of the quantity ``key``."""
        out = self._shown.get(key)
        if out is None:
            own = self.decimals.get(key)
            out = self._shown[key] = _fmt_number(
                self.values[key],
                own if self.fixed and own is not None else self.digits,  # as printed: a kind's own decimals
                self.scientific,
                fixed=self.fixed,
                given=key in self.given,
                decimals=None if self.fixed else own,
            )
        return out

    def _print(self, form, args, mode: str, substitute: bool) -> str:
        # Many quantities print the same form with the same arguments (a neuron's net input is the body
        # of the derivative by each of its weights): each distinct print is done once.
        cache_key = (args, mode, substitute)
        out = self._printed.get(form, cache_key)
        if out is MISSING:
            out = self._printed.put(form, self._print_form(form, args, mode, substitute), cache_key)
        return out

    def _tex_from_template(self, form, strings: tuple, special: bool | None = None) -> str:
        """The form printed once with a token per placeholder, then each token replaced by its string:
        printing depends on the expression, not on what a symbol is called, except that a power's base
        containing '^' gets braces; such strings take the printer itself (``special``: whether any does, when
        the caller knows)."""
        if special is None:
            special = _special(strings)
        if special and _needs_printer(form, strings):
            return _TexFormPrinter(dict(zip(form.placeholders, strings)).get).doprint(form.expr)
        template = _TEX_TEMPLATES.get(form)
        if template is MISSING:
            tokens = {p: f"\ue000{i}\ue001" for i, p in enumerate(form.placeholders)}
            template = _TEX_TEMPLATES.put(form, _pieces(_TexFormPrinter(tokens.get).doprint(form.expr)))
        return _fill(template, strings)

    def _operand(self, key: str, tex: bool) -> str:
        """The shown number of ``key`` as an operand: in parentheses when negative or a power of ten."""
        out = self._operands.get((key, tex))
        if out is None:
            v, s = self.values[key], self.value_of(key)
            if v < 0 or s.startswith("-") or _scientific(s):
                s = r"\left(" + s + r"\right)" if tex else f"({s})"
            out = self._operands[key, tex] = s
        return out

    def _print_form(self, form, args, mode: str, substitute: bool) -> str:
        tex = mode != "text"
        # each placeholder's string, in order (the arguments are the placeholders' keys, in their order); made
        # once per arguments: the 513 derivatives d net/d w of a 256-input neuron all read its 513 arguments
        n = len(form.placeholders)
        known = self._strings.get((args, mode, substitute, n))
        if known is None:
            if substitute:
                strings = tuple(self._operand(k, tex) for k in args[:n])
            else:
                strings = tuple(self.label(k, mode) for k in args[:n])
            strings += (None,) * (n - len(strings))
            known = self._strings[args, mode, substitute, n] = (strings, tex and _special(strings))
        strings, special = known
        # The same form with the same strings prints the same: a worksheet's sheet, key and walk-through, and
        # every variant's formulas (their labels are alike), print each once in a process.
        dialect = self.notation.dialect if tex else ""
        cache_key = (mode, substitute, dialect, strings)
        hit = _PRINTED.get(form, cache_key)
        if hit is not MISSING:
            return hit
        if tex:
            out = self._tex_from_template(form, strings, special)
            # A function's own parentheses already hold a negative argument: tanh(-0.33), not tanh((-0.33)).
            out = _TEX_DOUBLE.sub(r"\\left(\1\\right)", out) if substitute else out
            out = _TEX_SQRT.sub(r"\\sqrt{\1}", out) if substitute else out
            out = _plain_parens(out) if dialect == "latex" else out
        else:
            # Labels may contain '*', which the str printer writes for products: they go in after printing.
            out = _fill_text(_text_template(form), strings)
            out = _TEXT_DOUBLE.sub(r"(\1)", out) if substitute else out
        return _PRINTED.put(form, out, cache_key)

    def formula(self, q: Quantity, mode: str = "tex") -> str:
        return self._print(q.form, q.args, mode, False) if q.form is not None else ""

    def substituted(self, q: Quantity, mode: str = "tex") -> str:
        return self._print(q.form, q.args, mode, True) if q.form is not None else ""

    def derivative(self, q: Quantity, mode: str = "tex") -> tuple[str, str]:
        """The derivative before it is taken, d/d(wrt) [the expression], as (operator, bracketed expression)."""
        if q.of_form is None:
            return "", ""
        printer = _TextFormPrinter if mode == "text" else _TexFormPrinter
        form = elided(q.of_form, q.of_args, q.wrt)
        return printer.derivative(self.label(q.wrt, mode), self._print(form, q.of_args, mode, False))

    def differentiated(self, q: Quantity, mode: str = "tex") -> str:
        op, body = self.derivative(q, mode)
        return f"{op} {body}" if op else ""

    def label(self, key: str, mode: str = "tex") -> str:
        out = self._labels.get((key, mode))
        if out is None:
            out = self._labels[key, mode] = self.notation.text(key) if mode == "text" else self.notation.tex(key)
        return out


_ACTIVATION_FORMULAS = ByIdentity()  # (rule, its parameters) -> the two formulas


def activation_formulas(rule, params: Mapping[str, float] | None = None) -> tuple[str, str]:
    """An activation's formula and its derivative's, in LaTeX, printed from the rule's own SymPy forms:
    (``f(x) = ...``, ``f'(x) = ...``); the derivative is '' for one without a usable derivative."""
    p = rule.params(params)
    key = tuple(sorted(p.items()))
    hit = _ACTIVATION_FORMULAS.get(rule, key)
    if hit is MISSING:  # printed once a process: every variant of a worksheet shows them
        hit = _ACTIVATION_FORMULAS.put(rule, _activation_formulas(rule, p), key)
    return hit


def _activation_formulas(rule, p: Mapping[str, float]) -> tuple[str, str]:
    import sympy as sp

    x = sp.Symbol("x")
    names = {x: "x"}
    printer = _TexFormPrinter(names.get)
    if rule.vector:
        k, j, n = sp.symbols("k j n", integer=True, positive=True)
        xs = sp.IndexedBase("x")
        fk, fj = sp.Symbol("f_k"), sp.Symbol("f_j")
        delta = sp.KroneckerDelta(k, j)
        if rule.name == "log_softmax":  # the log-probabilities; the Jacobian through the probability e^(f_j)
            f = xs[k] - sp.log(sp.Sum(sp.exp(xs[j]), (j, 1, n)))
            df = delta - sp.exp(fj)
        else:
            f = sp.exp(xs[k]) / sp.Sum(sp.exp(xs[j]), (j, 1, n))
            df = fk * (delta - fj)
        return (
            "f(x)_k = " + printer.doprint(f),
            r"\frac{\partial f_k}{\partial x_j} = " + _TexFormPrinter({}.get).doprint(df),
        )
    fx = sp.Symbol("f(x)")
    f = printer.doprint(rule.sym(x, p))
    if rule.sym_deriv is None or not rule.differentiable:
        return f"f(x) = {f}", ""
    d = rule.sym_deriv(x, fx, p)
    return f"f(x) = {f}", "f'(x) = " + _TexFormPrinter({x: "x", fx: "f(x)"}.get).doprint(d)
