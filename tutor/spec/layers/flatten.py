"""The ``flatten`` layer kind (torch's nn.Flatten): the feature maps read as one vector, channel by channel and
row by row, for the dense layers after them. The values are stored in that order already, so each output is its
input (net_k = a_k) and each gradient passes back unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from ..values import _no_unknown
from .base import LayerContext, LayerKind
from .shaped import ShapedLayer, input_shape, parameter_free

KEYS = frozenset({"name"})


@dataclass(frozen=True)
class FlattenLayer(ShapedLayer):
    kind: ClassVar[str] = "flatten"


def read(raw: Mapping, ctx: LayerContext) -> FlattenLayer:
    _no_unknown(raw, KEYS | {"kind"}, ctx.where, "")
    shape = input_shape(ctx, "flatten")
    n = ctx.fan_in
    neurons = [f"f{ctx.li + 1}_{k + 1}" for k in range(n)]
    return parameter_free(
        FlattenLayer, raw, ctx, neurons, f"flatten {ctx.li + 1}", in_shape=tuple(shape), out_shape=(n,)
    )


def _sym_pass(P, n: int = 1):
    return P[0]


KIND = LayerKind(
    name="flatten",
    summary="the feature maps as one vector (channel-major), for the dense layers after them",
    keys=KEYS,
    read=read,
    parameters=lambda layer: 0,
    np_net=lambda layer, W, b, a: a.copy(),
    np_input_jacobian=lambda layer, W, a_in, *_: np.eye(a_in.size),
    np_weight_grad=lambda layer, delta, a_in, *_: np.zeros((layer.size, 0)),
    np_bias_grad=lambda layer, delta, R, *_: np.zeros(0),
    sym_net=_sym_pass,
    net_args=lambda layer, p, wkeys, bkeys, a_keys: [a_keys[p]],
    records=("MapLayer",),
    template="maps",
    surfaces=frozenset({"numeric", "maps", "quiz", "worksheet", "lms", "interop"}),  # quiz and sheets by layers
    write=lambda layer: {"kind": "flatten", "name": layer.name},
)
