"""How a spec's values are read: numbers, vectors, matrices, names and free text, each checked with its place,
and the size limits of a walk-through. The spec reader and every layer kind read their keys through these."""

from __future__ import annotations

import math
import re
import sys
from typing import Any, Mapping

import numpy as np

from .errors import SpecError

MAX_PARAMETERS = 2_000  # a walk-through of more is no longer something a person reads
MAX_WIDTH = 256
MAX_LABEL = 64


def _named_rule(raw: Any, kind: str, registry: Mapping, lookup, where: str):
    """A rule given by name, or as a table ``{ name = "...", <parameter> = <number> }``: (name, rule, params)."""
    if isinstance(raw, Mapping):
        name, given = raw.get("name"), {k: v for k, v in raw.items() if k != "name"}
    else:
        name, given = raw, {}
    if not isinstance(name, str):
        raise SpecError(f"give the {kind}'s name; allowed: {', '.join(registry)}", where)
    rule = lookup(name, where)
    params = {}
    for k, v in given.items():
        if k not in rule.defaults:
            raise SpecError(
                f"{kind} {name!r} takes no parameter {k!r}; allowed: {', '.join(rule.defaults) or 'none'}",
                f"{where}.{k}",
            )
        params[k] = _number(v, f"{where}.{k}")
    return name, rule, params


def _no_unknown(table: Mapping, allowed: set, where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            place = f"{where}: {prefix + '.' if prefix else ''}{key}"
            raise SpecError(f"unknown key; allowed here: {', '.join(sorted(allowed))}", place)


def _table(data: Mapping, key: str, where: str) -> Mapping:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise SpecError(f"missing [{key}] table", f"{where}: {key}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, (np.floating, np.integer)) and not isinstance(value, np.bool_):
        value = float(value) if isinstance(value, np.floating) else int(value)  # any float or integer dtype
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a number, got {_show(value)}", where)
    try:
        x = float(value)
    except OverflowError:  # a TOML integer has no size limit
        raise SpecError(f"{_show(value)} is too large; expected a finite number", where) from None
    if not math.isfinite(x):
        raise SpecError(f"expected a finite number, got {value!r}", where)
    return x


def _listed(value: Any, where: str = "") -> Any:
    """A NumPy array or a tuple as the list the TOML format would give (the Python API takes both)."""
    ma = sys.modules.get("numpy.ma")  # np.ma would import it (7 ms of every start); no masked array exists before
    if ma is not None and isinstance(value, ma.MaskedArray) and ma.getmaskarray(value).any():
        # tolist() would give None where an entry is masked, and np.asarray the hidden number under it
        raise SpecError("is a masked array with masked entries; give every value (e.g. np.ma.filled(a, value))", where)
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    return list(value) if isinstance(value, tuple) else value


def _vector(value: Any, where: str) -> np.ndarray:
    value = _listed(value, where)
    if not isinstance(value, list):
        raise SpecError(f"expected a list of numbers, got {_show(value)}", where)
    return np.array([_number(v, f"{where}[{i}]") for i, v in enumerate(value)], dtype=float)


def _matrix(value: Any, rows: int, cols: int, where: str) -> np.ndarray:
    value = _listed(value, where)
    if isinstance(value, list):
        value = [_listed(r, f"{where}[{j}]") for j, r in enumerate(value)]
    if not isinstance(value, list):
        raise SpecError(
            f"expected {rows} rows (one per neuron) of {cols} numbers (one per input), got {_show(value)}", where
        )
    if len(value) != rows:
        raise SpecError(
            f"expected {rows} rows (one per neuron) of {cols} numbers (one per input), got {len(value)} rows", where
        )
    out = np.empty((rows, cols))
    for j, row in enumerate(value):
        if not isinstance(row, list) or len(row) != cols:
            n = len(row) if isinstance(row, list) else _show(row)
            raise SpecError(f"expected {cols} numbers (one per input of the layer), got {n}", f"{where}[{j}]")
        for i, v in enumerate(row):
            out[j, i] = _number(v, f"{where}[{j}][{i}]")
    return out


def _count(value: Any, where: str) -> int:
    if not isinstance(value, list):
        raise SpecError(f"expected a list of names, got {_show(value)}", where)
    return len(value)


# C0 and C1 controls and the bidirectional embeddings, overrides and isolates: they reach a terminal raw (ESC c
# resets it), reorder what a reader sees, and make pdflatex fail. A newline and a tab are allowed in free text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z")
NAME_RULE = "a name starts with a letter and has only letters, digits, '_' and '.'"


def _text(value: Any, where: str, limit: int, label: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(f"expected a string, got {_show(value)}", where)
    if len(value) > limit:
        raise SpecError(f"at most {limit} characters, got {len(value)}", where)
    if label and not _NAME.match(value):
        raise SpecError(f"{_show(value)} is not allowed: {NAME_RULE} (at most {limit} characters)", where)
    return free_text(value, where, limit) if not label else value


def free_text(value: str, where: str, limit: int) -> str:
    """Free text a user wrote (a title, a description, a note), refused when it holds a control character or a
    bidirectional override (a newline and a tab are fine)."""
    if len(value) > limit:
        raise SpecError(f"at most {limit} characters, got {len(value)}", where)
    bad = _CONTROL.search(value)
    if bad:
        raise SpecError(
            f"control and bidirectional-override characters are not allowed (U+{ord(bad.group()):04X} at "
            f"character {bad.start() + 1})",
            where,
        )
    return value


def _labels(value: Any, n: int, where: str, default: list[str] | None = None) -> list[str]:
    if value is None:
        if default is None:
            raise SpecError(f"expected a list of {n} names", where)
        return list(default)
    if not isinstance(value, list) or len(value) != n:
        got = len(value) if isinstance(value, list) else _show(value)
        raise SpecError(f"expected a list of {n} names, got {got}", where)
    names = [_text(v, f"{where}[{i}]", limit=MAX_LABEL, label=True) for i, v in enumerate(value)]
    if len(set(names)) != len(names):
        dup = next(x for x in names if names.count(x) > 1)
        raise SpecError(f"the name {dup!r} appears twice; names must be unique", where)
    return names


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
