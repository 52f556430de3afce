"""What a layer kind is: the record a kind's module fills in, and what its spec reader is told about the layer's
place in the network. The registry of kinds is ``tutor/spec/layers/__init__.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

# The surfaces a kind may be taken by ("symbolic": the neuron-by-neuron walk-through of explain_step and its
# documents; "maps": the layer-by-layer walk through feature maps, sym_maps.explain_maps). A kind lists those it reaches; every other one refuses a network with
# a layer of that kind (one line, exit 2) instead of reading it as something else.
SURFACES = ("numeric", "symbolic", "maps", "render", "quiz", "worksheet", "lms", "interactive", "interop")


@dataclass(frozen=True)
class LayerContext:
    """Where a [[layers]] table stands: its index, the number of hidden layers before the output layer, the width
    of its input, its place for error messages, the spec's notation, the parameters counted so far, and the
    layers read before it (a residual connection names one)."""

    li: int
    hidden: int
    fan_in: int
    where: str
    notation: Mapping[str, str]
    total: int
    earlier: tuple = ()
    in_shape: tuple[int, ...] | None = None  # the feature maps it reads ((C, L) or (C, H, W)), if any

    @property
    def is_output(self) -> bool:
        return self.li == self.hidden


@dataclass(frozen=True)
class LayerKind:
    """One kind of layer, said in one place.

    ``keys`` are the spec keys a table of this kind may have (besides ``kind``), ``read`` validates a table
    into the kind's layer record, ``parameters`` counts a read layer's parameters (the spec's limit adds them).
    The numeric engine's forward and backward are ``np_net`` (the net inputs from the layer's input),
    ``np_input_jacobian`` (d net / d input at the layer's input, which carries the next layer's deltas back),
    ``np_weight_grad`` (dE/dW from the deltas and the input, in the shape of the stored weights) and
    ``np_bias_grad`` (dE/db from the deltas, rounded by the given Rounder). ``sym_net`` gives the SymPy local form of one net input over
    positional placeholders (derived by the symbolic engine once per kind and shape), with the arguments it
    binds (``net_args``); ``write`` gives the spec keys that read a layer again. ``records`` names the step records a walk-through of the kind writes, ``template``
    the template part that writes them, and ``surfaces`` the surfaces (of ``SURFACES``) that take the kind.
    """

    name: str
    summary: str
    keys: frozenset[str]
    read: Callable[[Mapping, LayerContext], Any]
    parameters: Callable[[Any], int]
    np_net: Callable[[Any, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    np_input_jacobian: Callable[..., np.ndarray]  # (layer, W, a_in, b)
    np_weight_grad: Callable[..., np.ndarray]  # (layer, delta, a_in, W, b)
    np_bias_grad: Callable[..., np.ndarray]  # (layer, delta, R, a_in, W, b)
    sym_net: Callable[..., Any] | None = None  # None: no symbolic walk of the kind yet (its surfaces say so)
    net_args: Callable[..., list] | None = None
    records: tuple[str, ...] = ()
    template: str = ""
    surfaces: frozenset[str] = field(default_factory=lambda: frozenset(SURFACES))
    # the [[layers]] keys that read a layer of the kind again (interop's to_mapping); None: the dense keys
    write: Callable[[Any], dict] | None = None
