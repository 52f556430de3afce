"""Symbolic answers: a student's formula for a quantity of the walk, in the names the walk-through shows.

The formula is read by the graph specs' whitelist grammar (``tutor.spec.graph``: numbers, names, + - * /,
unary -, ** with a constant exponent, the registry's functions), never by ``eval`` or ``sympify``, and built
into a SymPy expression from the registry's own forms (``GRAPH_OPS``). The grading core
(``tutor.teach.grading.Grader.grade_formula``) decides on it:

- **right** when it agrees with the derived form at the walk's own values and at seeded random points of the
  given values other than the example's targets (every quantity recomputed from them by its derived form), so
  that a formula written through other quantities (``delta_o1*out_h1`` for ∂E_total/∂w5) counts as well as
  the expanded one; SymPy also confirms a short formula (``simplify`` of the difference is 0);
- otherwise the **classic slips** are looked for, each a perturbation of the derived form evaluated at the
  same points (``SLIPS``): σ′ written from the net input instead of the output, a missing factor or term, a
  wrong index (a sibling quantity: out_o2 for out_o1), a flipped sign, the chain's factors added.

>>> from tutor import load
>>> from tutor.teach.quiz import Quiz
>>> grader = Quiz(load("mazur")).grader
>>> grader.grade_formula("dE_total/dw5", "delta_o1*out_h1").credited
True
>>> grader.grade_formula("dout_o1/dnet_o1", "net_o1*(1 - net_o1)").slip
'sigma-prime-from-net'
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
import random
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..spec.errors import TutorError

MAX_FORMULA = 500  # characters of one typed formula
MAX_EXPONENT = 4  # |p| of a power: a formula of backpropagation needs squares, roots and inverse powers only
POINTS = 5  # random points besides the walk's own values
RELATIVE = 1e-9
MAX_SIMPLIFY = 60  # operations of a formula SymPy simplifies against the derived one (the evaluation decides)
MAX_SLIPS = 400  # perturbed forms tried on one wrong answer: the first are the likely ones
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_PYTHONISM = re.compile(r"#|(?<![A-Za-z0-9_.])(?:\d+_[\d_]*|0[xXoObB]\w*)")
_DELTA = re.compile(r"dE[A-Za-z0-9_]*/dnet_([A-Za-z0-9_]+?)(\[e([0-9]+)\])?\Z")
_BACKWARD_FREE = ("input", "param", "target", "rate", "net", "out", "loss_term", "loss", "batch", "xhat", "y")

SLIPS: dict[str, str] = {
    "sigma-prime-from-net": "the activation's derivative was written from the net input instead of the output",
    "missing-factor": "a factor of the chain rule is missing",
    "wrong-index": "a quantity of another neuron or weight was used (a wrong index)",
    "missing-term": "a term of the sum is missing (one path's contribution only)",
    "sign": "the sign is flipped",
    "added-chain": "the chain rule's factors were added instead of multiplied",
}


class FormulaError(TutorError):
    """A typed formula the grammar does not accept."""


def typed_name(key: str) -> str:
    """How a student types a quantity of the walk: its key where that is a name, else the key with '[eN]'
    as '_eN', 'm[w5]' as 'm_w5', 'dA/dB' as 'dA_dB' and 'w5+' as 'w5_new'."""
    name = key.replace("]", "").replace("[", "_").replace("/", "_").replace("+", "_new")
    return name if _IDENT.match(name) else ""


def names(walk) -> dict[str, str]:
    """Every typed name of the walk with the key it stands for; a delta also as delta_NEURON."""
    out: dict[str, str] = {}
    for key, q in walk.quantities.items():
        n = typed_name(key)
        if n and n not in out:
            out[n] = key
        m = _DELTA.match(key)
        if q.kind == "delta" and m:
            alias = f"delta_{m.group(1)}" + (f"_e{m.group(3)}" if m.group(3) else "")
            out.setdefault(alias, key)
    return out


def parse(text: str, known: Mapping[str, str]):
    """``text`` as a SymPy expression in the symbols of ``known`` (typed names), by the graph specs' grammar;
    a ``FormulaError`` of one line when it is not allowed."""
    import sympy as sp

    from ..spec.errors import SpecError
    from ..spec.graphrules import GRAPH_OPS

    where = "formula"
    text = str(text)
    if len(text) > MAX_FORMULA:
        raise FormulaError(f"a formula has at most {MAX_FORMULA} characters, got {len(text)}", where)
    # what Python's reader takes beyond the grammar's numbers (a comment, 1_000, 0x10): the self-check page's
    # reader does not, and a formula is judged alike in both
    odd = _PYTHONISM.search(text)
    if odd:
        why = "a formula has no comments" if odd.group(0) == "#" else "write numbers in decimals (0.5, 1e-3)"
        raise FormulaError(f"{odd.group(0)!r} is not allowed; {why}", where)
    seen = {n: n for n in known}
    try:
        nodes = _parser()("answer", text, where, seen, set(known), 0).run()
    except SpecError as exc:
        message = exc.message
        if "more than" in message and "nodes" in message:
            message = "the formula has more than 200 operations; write it shorter"
        if "undefined name" in message:  # the graph parser lists every defined name: too many here
            message = message.split(";")[0] + "; use the names the quiz shows (e.g. out_o1, delta_o1, w5)"
        raise FormulaError(message, where) from None
    built: dict[str, Any] = {n: sp.Symbol(n) for n in known}
    for node in nodes:
        if node.kind == "constant":
            built[node.name] = sp.Rational(repr(node.value)) if math.isfinite(node.value) else sp.nan
            continue
        if node.op == "pow" and abs(node.param) > MAX_EXPONENT:
            raise FormulaError(f"an exponent lies from -{MAX_EXPONENT} to {MAX_EXPONENT}, got {node.param:g}", where)
        built[node.name] = GRAPH_OPS[node.op].sym([built[i] for i in node.inputs], node.param)
    return built["answer"]


_FOLDS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _parser():
    """The graph specs' parser, which also takes arithmetic on numbers alone (``1/2``, ``3/2``): a formula
    writes its constants so, where a graph spec wants one number for one gate."""
    from ..spec.graph import _Parser

    class FormulaParser(_Parser):
        def walk(self, e, top=False):
            if isinstance(e, (ast.BinOp, ast.UnaryOp)):
                c = self.number(e)
                if c is not None:
                    return c
            return super().walk(e, top)

        def number(self, e) -> float | None:
            """``e`` as one number when it is arithmetic on numbers only, else None."""
            if isinstance(e, ast.Constant):
                ok = isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
                return float(e.value) if ok and abs(e.value) < 1e300 else None
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
                x = self.number(e.operand)
                return None if x is None else (-x if isinstance(e.op, ast.USub) else x)
            if not isinstance(e, ast.BinOp) or not isinstance(e.op, (ast.Pow, *_FOLDS)):
                return None
            a, b = self.number(e.left), self.number(e.right)
            if a is None or b is None:
                return None
            if isinstance(e.op, ast.Pow) and abs(b) > MAX_EXPONENT:
                raise self.fail(f"an exponent lies from -{MAX_EXPONENT} to {MAX_EXPONENT}, got {b:g}", e)
            try:
                x = a**b if isinstance(e.op, ast.Pow) else _FOLDS[type(e.op)](a, b)
            except (ArithmeticError, ValueError):
                raise self.fail("a division by zero or a power out of range", e) from None
            if not isinstance(x, float) or not math.isfinite(x):
                raise self.fail("the number is not a finite real number", e)
            return x

    return FormulaParser


# -- the walk at random points ------------------------------------------------------------------------------


def _given(q) -> bool:
    return q.form is None


def counts(walk) -> dict[str, float]:
    """The given values a form raises to a power (the step count t of Adam's bias correction): a formula
    writes them as their number (the grammar takes a constant exponent only), and they are not moved."""
    import sympy as sp

    out = {}
    for q in walk.quantities.values():
        if q.form is None:
            continue
        bound = dict(zip(q.form.placeholders, q.args))
        for p in q.form.expr.atoms(sp.Pow):
            for s in p.exp.free_symbols:
                a = bound.get(s)
                if a is not None and walk.quantities[a].form is None:
                    out[a] = walk.quantities[a].value
    return out


def points(walk, seed: int = 0, count: int = POINTS) -> list[dict[str, float]]:
    """The walk's own values, then ``count`` worlds whose given values are moved at random (seeded) and whose
    every computed quantity follows by its derived form: where formulas are told apart."""
    rng = random.Random(seed)
    base = walk.values()
    fixed = counts(walk)
    out = []
    for n in range(count + 1):  # the first: the given values as they are, every other value exact
        v: dict[str, float] = {}
        for key, q in walk.quantities.items():
            if _given(q):
                x = base[key]
                # the targets stay as given: p - y is ∂E/∂z of softmax with cross-entropy because the example's
                # targets sum to 1 (a formula is judged for this example, not for every target)
                if n == 0 or key in fixed or q.kind == "target":
                    v[key] = x
                else:
                    v[key] = x * rng.uniform(0.7, 1.3) if x != 0 else rng.uniform(0.05, 0.2)
        for key in walk.quantities:
            _compute(walk, key, v)
        out.append(v)
    return out


def _compute(walk, key: str, v: dict[str, float]) -> float:
    """``key``'s value in the world ``v`` by its derived form (the walk's order need not be the order of
    computation: a batch's statistics come after the examples' net inputs)."""
    stack = [key]
    while stack:
        k = stack[-1]
        if k in v:
            stack.pop()
            continue
        q = walk.quantities[k]
        missing = [a for a in q.args if a not in v]
        if missing:
            stack.extend(missing)
            continue
        try:  # a walk's forms carry their evaluators (the grading core's make_form gives a graph's theirs)
            v[k] = float(q.form.fn(*[v[a] for a in q.args]))
        except (ArithmeticError, ValueError, TypeError):
            v[k] = math.nan
        stack.pop()
    return v[key]


def evaluator(expr, known: Mapping[str, str]):
    """``expr`` as a float function of a world (names read through ``known``): SymPy's lambdify of the tree
    (generated from the SymPy expression the grammar built, never from the typed text); nan where a value is
    not a real number."""
    import sympy as sp

    from ..spec.graphrules import FLOAT_FUNCTIONS

    symbols = sorted(expr.free_symbols, key=str)
    fn = sp.lambdify(symbols, expr, modules=[FLOAT_FUNCTIONS, "math"])
    keys = [known[s.name] for s in symbols]

    def at(world: Mapping[str, float]) -> float:
        try:
            x = fn(*[world[k] for k in keys])
            return float(x) if not isinstance(x, complex) else math.nan
        except (ArithmeticError, ValueError, TypeError, KeyError):
            return math.nan

    return at


def agree(a: list[float], b: list[float]) -> bool:
    """Two formulas' values at the same points agree (every point where the reference is a number)."""
    used = 0
    for x, y in zip(a, b):
        if not math.isfinite(x):
            continue
        if not math.isfinite(y) or abs(x - y) > RELATIVE * max(1.0, abs(x)):
            return False
        used += 1
    return used > 0


@dataclass(frozen=True)
class FormulaGrade:
    verdict: str  # "correct" | "wrong"
    reference: str  # the derived form in typed names
    slip: str = ""  # an id of SLIPS
    detail: str = ""
    symbolic: bool = False  # SymPy showed the difference to the derived form is 0

    @property
    def credited(self) -> bool:
        return self.verdict == "correct"

    @property
    def description(self) -> str:
        return SLIPS[self.slip] if self.slip else ""


def _spelled(expr) -> bool:
    """Whether a derived form is written in the grammar's terms as SymPy prints it: sums, products, powers,
    exp, log and tanh (not min, max or a step's Piecewise: their SymPy names differ or the grammar lacks them)."""
    import sympy as sp

    allowed = (sp.Add, sp.Mul, sp.Pow, sp.Symbol, sp.Number, sp.exp, sp.log, sp.tanh)
    return all(isinstance(e, allowed) for e in sp.preorder_traversal(expr))


_INDEX = re.compile(r"([A-Za-z]+)[0-9]+\Z")
_ACTIVATION_DERIVATIVE = re.compile(r"dout_[A-Za-z0-9_]+/d(net|y)_")


class FormulaGrading:
    """The walk's derived forms in typed names, the random points, and the decision on a typed formula."""

    def __init__(self, walk, seed: int = 0):
        self.walk = walk
        self.counts = counts(walk)
        self.known = {n: k for n, k in names(walk).items() if k not in self.counts}
        self.worlds = points(walk, seed)
        self._references: dict[str, Any] = {}
        self._keys: dict[tuple[str, int], list[str]] = {}
        self._siblings: dict[str, list[str]] = {}
        groups: dict[tuple, list[str]] = {}
        for n, key in self.known.items():
            groups.setdefault((walk.quantities[key].kind, re.sub(r"[0-9]+", "#", n)), []).append(n)
        for group in groups.values():
            for n in group:
                self._siblings[n] = [m for m in group if m != n and self.known[m] != self.known[n]]

    def askable(self, key: str) -> bool:
        """A quantity whose derived form is more than a copy of one value, in names a student can type."""
        q = self.walk.quantities[key]
        if q.form is None or not q.form.expr.free_symbols:
            return False
        if q.form.expr in q.form.placeholders:
            return False
        # a step's derivative (ReLU's Piecewise, Heaviside, sign) has no spelling in the grammar
        if not _spelled(q.form.expr):
            return False
        return all(typed_name(a) or a in self.counts for a in q.args)

    def reference(self, key: str):
        # the walk is fixed: a key's form, and the keys a form is written through, are made once
        cached = self._references.get(key)
        if cached is None:
            cached = self._references[key] = self._reference(key)
        return cached

    def _reference(self, key: str):
        import sympy as sp

        q = self.walk.quantities[key]
        bound = {
            p: (sp.Integer(round(self.counts[a])) if a in self.counts else sp.Symbol(typed_name(a)))
            for p, a in zip(q.form.placeholders, q.args)
        }
        return q.form.expr.xreplace(bound)

    def _derived(self, key: str) -> bool:
        q = self.walk.quantities[key]
        return q.form is not None and ("/" in key or q.kind not in _BACKWARD_FREE)

    def expanded(self, key: str, override: Mapping[str, Any] | None = None, depth: int = 8):
        """The derived form with every backward quantity in it replaced by its own form (``override``: a
        quantity's form replaced by another expression), down to the forward pass and the given values."""
        expr = override[key] if override and key in override else self.reference(key)
        if depth == 0:
            return expr
        subs = {}
        for s in expr.free_symbols:
            k = self.known.get(s.name)
            if k is not None and k != key and self._derived(k):
                subs[s] = self.expanded(k, override, depth - 1)
        return expr.xreplace(subs) if subs else expr

    def _keys_in(self, key: str, depth: int = 8) -> list[str]:
        if (key, depth) not in self._keys:
            self._keys[key, depth] = self._keys_of(key, depth)
        return list(self._keys[key, depth])

    def _keys_of(self, key: str, depth: int) -> list[str]:
        out = [key]
        if depth:
            for s in sorted(self.reference(key).free_symbols, key=str):
                k = self.known.get(s.name)
                if k is not None and k != key and self._derived(k):
                    out += [x for x in self._keys_in(k, depth - 1) if x not in out]
        return out

    def values(self, expr) -> list[float]:
        at = evaluator(expr, self.known)
        return [at(w) for w in self.worlds]

    def grade(self, key: str, text: str) -> FormulaGrade:
        import sympy as sp

        student = parse(text, self.known)
        ref = self.reference(key)
        shown = str(ref)
        mine = self.values(student)
        right = [w[key] for w in self.worlds]
        if agree(right, mine):
            symbolic = False
            if sp.count_ops(student) <= MAX_SIMPLIFY:
                symbolic = sp.simplify(student - ref) == 0
                full = self.expanded(key)
                if not symbolic and full != ref and sp.count_ops(full) <= MAX_SIMPLIFY:
                    symbolic = sp.simplify(student - full) == 0
            return FormulaGrade("correct", shown, symbolic=symbolic)
        if agree([-x for x in right], mine):
            return FormulaGrade("wrong", shown, "sign", "every term negated")
        for slip, detail, at in itertools.islice(self.slips(key), MAX_SLIPS):
            theirs = [at(w) for w in self.worlds]
            if agree(theirs, mine) and not agree(right, theirs):
                return FormulaGrade("wrong", shown, slip, detail)
        return FormulaGrade("wrong", shown)

    def table(self, key: str) -> tuple[list[float], list[tuple[str, str, list[float]]]]:
        """``grade``'s data on ``key`` for a page that grades without SymPy: the right values at the points and
        every slip ``grade`` would try, in its order, with its values (the ones the right form also has left
        out, as ``grade`` never names them; of two slips with the same values only the first can be named)."""
        right = [w[key] for w in self.worlds]
        out, seen = [], set()
        for slip, detail, at in itertools.islice(self.slips(key), MAX_SLIPS):
            theirs = [at(w) for w in self.worlds]
            mark = tuple(x if math.isfinite(x) else None for x in theirs)
            if mark not in seen and not agree(right, theirs):
                seen.add(mark)
                out.append((slip, detail, theirs))
        return right, out

    def _overridden(self, key: str, k: str, at):
        """``key``'s value in a world where ``k`` is computed by ``at`` (a world -> float) instead of its own
        form, every quantity between them recomputed by its derived form."""
        chain = set(self._keys_in(key))
        Q = self.walk.quantities

        def value_in(world):
            memo: dict[str, float] = {k: at(world)}

            def ev(x: str) -> float:
                if x in memo:
                    return memo[x]
                if x not in chain:
                    return world[x]
                q = Q[x]
                try:
                    memo[x] = float(q.form.fn(*[ev(a) for a in q.args]))
                except (ArithmeticError, ValueError, TypeError):
                    memo[x] = math.nan
                return memo[x]

            return ev(key)

        return value_in

    def _index_swaps(self, form):
        """Renamings of ``form``'s names with one index (o1, h2, w5: a name part of letters then digits) read
        as a sibling index in every name that has it, where the renamed name exists."""
        parts = {s.name: s.name.split("_") for s in form.free_symbols}
        tokens = sorted({p for ps in parts.values() for p in ps if _INDEX.match(p)})
        every = sorted({p for n in self.known for p in n.split("_") if _INDEX.match(p)})
        for a in tokens:
            letters = _INDEX.match(a).group(1)
            for b in every:
                if b == a or _INDEX.match(b).group(1) != letters:
                    continue
                rename = {}
                for n, ps in parts.items():
                    if a in ps:
                        m = "_".join(b if p == a else p for p in ps)
                        if m in self.known:
                            rename[n] = m
                if rename:
                    yield a, b, rename

    def slips(self, key: str):
        """Each classic slip on ``key``'s derived form, as (slip, detail, a world -> float), most telling
        first; a slip inside a quantity the form is written through is followed through the derived forms."""
        import sympy as sp

        keys = self._keys_in(key)
        forms = [self.reference(key)]
        full = self.expanded(key)
        if full != forms[0]:
            forms.append(full)
        ev = [evaluator(f, self.known) for f in forms]
        Q = self.walk.quantities
        for k in keys:
            if _ACTIVATION_DERIVATIVE.match(k) and Q[k].kind == "factor":
                outs = [a for a in Q[k].args if Q[a].kind == "out"]
                ins = [a for a in Q[k].args if Q[a].kind != "out"]
                if not (len(outs) == 1 and len(ins) == 1):
                    # softmax's ∂out_o1/∂net_o1 is written through every output and no net input: the names
                    # the key itself pairs (out_o1 over net_o1) are the ones a slip swaps
                    outs, ins = [k[1 : k.index("/")]], [k[k.index("/") + 2 :]]
                    if k.endswith("]") and "[" not in outs[0]:
                        outs[0] += k[k.rindex("[") :]
                if outs[0] in Q and ins[0] in Q:
                    o, i = typed_name(outs[0]), typed_name(ins[0])
                    wrong = evaluator(self.reference(k).xreplace({sp.Symbol(o): sp.Symbol(i)}), self.known)
                    detail = f"{typed_name(k)} written with {i} where {o} belongs"
                    yield "sigma-prime-from-net", detail, self._overridden(key, k, wrong)
        for k in keys[1:]:
            yield "missing-factor", f"without {typed_name(k)}", self._overridden(key, k, lambda w: 1.0)
        for f, at in zip(forms, ev):
            if isinstance(f, sp.Mul):
                for a in f.args:
                    if not a.is_number:
                        part = evaluator(a, self.known)
                        yield "missing-factor", f"without the factor {a}", _ratio(at, part)
        for a, b, rename in self._index_swaps(forms[-1]):
            yield "wrong-index", f"{b} where {a} belongs", _renamed(ev[-1], rename, self.known)
        for k in keys[1:]:
            for t in self._siblings.get(typed_name(k), ()):
                other = self.known[t]
                yield "wrong-index", f"{t} where {typed_name(k)} belongs", self._overridden(key, k, _read(other))
        for f in forms:
            if isinstance(f, sp.Add):
                for a in f.args:
                    if not a.is_number:
                        yield "missing-term", f"without the term {f - a}", evaluator(a, self.known)
        for f, at in reversed(list(zip(forms, ev))):  # the forward pass's names first: the ones a student writes
            for s in sorted(f.free_symbols, key=str):
                for t in self._siblings.get(s.name, ()):
                    yield "wrong-index", f"{t} where {s} belongs", _renamed(at, {s.name: t}, self.known)
        for f in forms:
            if isinstance(f, sp.Add):
                for a in f.args:
                    yield "sign", f"{-a} where {a} belongs", evaluator(f - 2 * a, self.known)
        for f in forms:
            if isinstance(f, sp.Mul) and len([a for a in f.args if not a.is_number]) > 1:
                yield "added-chain", "the factors added", evaluator(sp.Add(*f.args), self.known)


def _ratio(at, part):
    def value_in(w):
        d = part(w)
        return at(w) / d if d else math.nan

    return value_in


def _read(key: str):
    return lambda w: w[key]


def _renamed(at, rename: Mapping[str, str], known: Mapping[str, str]):
    """``at`` with the names of ``rename`` read as the names they map to."""
    swap = {known[n]: known[m] for n, m in rename.items()}

    def value_in(w):
        return at(_Reading(w, swap))

    return value_in


class _Reading(dict):
    """A world whose keys in ``swap`` read another key's value."""

    def __init__(self, world, swap):
        super().__init__()
        self.world, self.swap = world, swap

    def __getitem__(self, key):
        return self.world[self.swap.get(key, key)]
