"""Results kept by the identity of the object they were worked out from: the one memo every layer uses.

Forms, walks and trainings are looked up by identity, not by value: SymPy's ``==`` on a 61-term sum, or the
repr of a training's arrays, would cost more than what is kept. An entry holds its object as well as the
result, so that no other object can take the object's id while the entry lives, and a hit is checked to be
the very object asked about.
"""

from __future__ import annotations

from typing import Any, Hashable

MISSING: Any = object()  # what ``get`` answers for an object it holds nothing for (a result may be None)


class ByIdentity:
    """A table of results by an object's identity and, optionally, a hashable rest of the key.

    ``bound``: past this many entries the table is emptied before the next is kept (a worksheet's variants each
    make their own walk, a notebook its own forms: they are not all kept for ever); None keeps every entry, for
    objects that live as long as the process anyway (the derived forms).

    >>> table = ByIdentity(bound=2)
    >>> form = ["a form"]
    >>> table.get(form, "tex") is MISSING
    True
    >>> table.put(form, "x^2", "tex")
    'x^2'
    >>> table.get(form, "tex"), table.get(["a form"], "tex") is MISSING
    ('x^2', True)
    """

    __slots__ = ("_table", "bound")

    def __init__(self, bound: int | None = None) -> None:
        self._table: dict[tuple[int, Hashable], tuple[Any, Any]] = {}
        self.bound = bound

    def get(self, obj: Any, rest: Hashable = ()) -> Any:
        """What was kept for ``obj`` (and ``rest``), or MISSING."""
        hit = self._table.get((id(obj), rest))
        return hit[1] if hit is not None and hit[0] is obj else MISSING

    def put(self, obj: Any, value: Any, rest: Hashable = ()) -> Any:
        """Keep ``value`` for ``obj`` (and ``rest``) and return it."""
        if self.bound is not None and len(self._table) >= self.bound:
            self._table.clear()
        self._table[id(obj), rest] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._table)
