"""SymPy symbols for quantity keys and the placeholders of local forms (imports SymPy: symbolic side only)."""

from __future__ import annotations

from functools import lru_cache

import sympy


@lru_cache(maxsize=None)
def symbol(key: str) -> sympy.Symbol:
    """The symbol of a quantity; its name is the key, never parsed (user text is not sympified)."""
    return sympy.Symbol(key, real=True)


@lru_cache(maxsize=None)
def placeholders(n: int) -> tuple[sympy.Symbol, ...]:
    return tuple(sympy.Symbol(f"_{i}", real=True) for i in range(n))
