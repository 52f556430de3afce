"""The registry of layer kinds: one module per kind says its spec keys and validation, its SymPy local forms,
its NumPy forward and backward, its step records and the template part that writes them; the spec reader, both
engines and the renderers look a layer's kind up here. A new kind is its module and one line in ``LAYER_KINDS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

from ..errors import SpecError
from .base import SURFACES, LayerContext, LayerKind


class _Kinds(MutableMapping):
    """The kinds by name, each kind's module imported when the kind is first looked up: a dense network (every
    built-in example) never pays for the convolution, pooling and recurrence modules' classes at start-up."""

    def __init__(self, where: dict[str, tuple[str, str]]) -> None:
        self._where = dict(where)  # name -> (module under this package, attribute), until first looked up
        self._kinds: dict[str, LayerKind] = {}

    def __getitem__(self, name: str) -> LayerKind:
        if name not in self._kinds:
            module, attr = self._where[name]  # KeyError for an unknown kind, as a dict says it
            self._kinds[name] = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        return self._kinds[name]

    def __setitem__(self, name: str, kind: LayerKind) -> None:
        self._where.setdefault(name, ("", ""))
        self._kinds[name] = kind

    def __delitem__(self, name: str) -> None:
        del self._where[name]
        self._kinds.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where


LAYER_KINDS: MutableMapping[str, LayerKind] = _Kinds(
    {
        "dense": ("dense", "KIND"),
        "conv1d": ("conv", "CONV1D"),
        "conv2d": ("conv", "CONV2D"),
        "max_pool": ("pool", "MAX_POOL"),
        "avg_pool": ("pool", "AVG_POOL"),
        "flatten": ("flatten", "KIND"),
        "rnn": ("rnn", "KIND"),
    }
)

DEFAULT_KIND = "dense"

__all__ = ["LAYER_KINDS", "SURFACES", "LayerContext", "LayerKind", "kind_of", "lookup", "require"]


def lookup(name: Any, where: str) -> LayerKind:
    """The kind a [[layers]] table names with ``kind = "..."``, or a one-line error naming those there are."""
    if not isinstance(name, str) or name not in LAYER_KINDS:
        shown = repr(name) if isinstance(name, str) else "a " + type(name).__name__
        raise SpecError(f"kind {shown[:40]} is not a layer kind; allowed: {', '.join(LAYER_KINDS)}", where)
    return LAYER_KINDS[name]


def kind_of(layer: Any) -> LayerKind:
    """The kind of a read layer (its record says its kind's name)."""
    return LAYER_KINDS[layer.kind]


def require(net: Any, surface: str) -> None:
    """Refuse a network with a layer whose kind ``surface`` does not take yet, naming the first such layer."""
    for li, layer in enumerate(net.layers):
        kind = kind_of(layer)
        if surface not in kind.surfaces:
            takes = ", ".join(s for s in SURFACES if s in kind.surfaces) or "none"
            raise SpecError(
                f"a {kind.name} layer is not supported by {surface} yet (it is taken by: {takes})",
                f"layers[{li}].kind",
            )
