"""Formulas of the derivation as JavaScript functions, printed by SymPy's JavaScript code printer.

Every scripted page (the self-check's grader, the editable walk-through) computes with these and only these:
each form is printed by ``sympy.jscode`` and checked against a grammar of numbers, placeholders ``_0, _1, ...``
and ``Math`` functions before it is written into a page's script, so that nothing of a spec is ever code.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..engine.steps import Form
from ..spec.errors import TutorError

# What a generated formula may contain: numbers, placeholders, Math functions, operators, a conditional.
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9.]*")
_ALLOWED_WORD = re.compile(r"_\d+|Math\.[a-z0-9]+|Math\.(?:E|PI)|Number\.(?:POSITIVE|NEGATIVE)_INFINITY")
_ALLOWED_CHARS = re.compile(r"[\sA-Za-z0-9_.+\-*/(),?:<>=!&|]*")


@lru_cache(maxsize=None)
def javascript(form: Form, where: str = "self-check") -> str:
    """The form as a JavaScript function of its placeholders, printed by SymPy's code printer.

    >>> from tutor.engine.symbolic import act_form, dact_form
    >>> javascript(act_form("sigmoid", ()))
    'function (_0) { return 1/(1 + Math.exp(-_0)); }'
    >>> javascript(dact_form("relu", ()))
    'function (_0, _1) { return ((_0 > 0) ? (1) : (0)); }'
    """
    import sympy as sp

    # The engines take the step's derivative at 0 as 0 (as NumPy's x > 0); SymPy's Heaviside(0) is 1/2.
    expr = form.expr.replace(sp.Heaviside, lambda x, *h: sp.Piecewise((1, x > 0), (0, True)))
    try:
        code = " ".join(sp.jscode(expr).split())
    except NotImplementedError:  # a function JavaScript's Math lacks (erf, in GELU's forms)
        names = sorted({type(f).__name__ for f in expr.atoms(sp.Function)})
        page = "the self-check page cannot grade" if where == "self-check" else "the page cannot compute"
        raise TutorError(f"{page} this network: JavaScript has no {', '.join(names)}", where) from None
    code = code.replace("( ", "(").replace(" )", ")")
    check_code(code, where)
    return f"function ({', '.join(p.name for p in form.placeholders)}) {{ return {code}; }}"


def check_code(code: str, where: str = "self-check") -> None:
    """A generated formula must be numbers, placeholders and Math functions only (never text of a spec)."""
    words = _WORD.findall(_NUMBER.sub("0", code))
    bad = [w for w in words if not _ALLOWED_WORD.fullmatch(w)]
    if bad or not _ALLOWED_CHARS.fullmatch(code) or "</" in code or "//" in code or "/*" in code:
        raise TutorError(f"cannot write a formula of the derivation as JavaScript: {code[:60]!r}", where)
