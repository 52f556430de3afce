"""The spec: what a network is, read from TOML or Python and validated, with the rule registry it names.

``network`` holds the format and its validator; ``rules`` the registry of activations, losses and
optimizers (each SymPy form beside its NumPy function); ``rounding`` the printed-precision arithmetic;
``errors`` the one-line errors; ``resources`` the shipped templates and worked examples.
"""

from __future__ import annotations

from .network import (
    MAX_EXAMPLES,
    MAX_FILE_BYTES,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MAX_WIDTH,
    Conventions,
    Layer,
    Network,
    Training,
    from_mapping,
    load,
    network,
)


def loads(text: str, where: str = "<spec>", name: str = ""):
    """TOML text as a validated Network, or as a Graph where it is a graph spec (it has a [graph] table).

    >>> loads('[graph]\\nleaves = { x = 2.0 }\\nassign = { f = "x * x" }').output
    'f'
    """
    from .graph import from_mapping as graph_from_mapping
    from .network import parse_toml

    data = parse_toml(text, where)
    if isinstance(data.get("graph"), dict):
        return graph_from_mapping(data, where=where, name=name)
    return from_mapping(data, where=where, name=name)


__all__ = [
    "MAX_EXAMPLES",
    "MAX_FILE_BYTES",
    "MAX_LAYERS",
    "MAX_PARAMETERS",
    "MAX_WIDTH",
    "Conventions",
    "Layer",
    "Network",
    "Training",
    "from_mapping",
    "load",
    "loads",
    "network",
]
