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
    loads,
    network,
)

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
