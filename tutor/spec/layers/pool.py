"""The pooling layer kinds, ``max_pool`` and ``avg_pool`` (torch's nn.MaxPool1d/2d and nn.AvgPool1d/2d without
padding): each channel's windows of kernel_size, moved by stride (the kernel size unless given), each reduced to
its largest value or its mean. No parameters. Max pooling's gradient goes to the input that won its window
(the first of equal values, in reading order), average pooling's in equal shares to the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from ..errors import SpecError
from ..values import _no_unknown
from .base import LayerContext, LayerKind
from .shaped import (
    ShapedLayer,
    as_2d,
    check_width,
    input_shape,
    layer_taps,
    out_size,
    pair,
    parameter_free,
    position_names,
)

KEYS = frozenset({"name", "kernel_size", "stride"})


@dataclass(frozen=True)
class MaxPoolLayer(ShapedLayer):
    kind: ClassVar[str] = "max_pool"


@dataclass(frozen=True)
class AvgPoolLayer(ShapedLayer):
    kind: ClassVar[str] = "avg_pool"


def _read(raw: Mapping, ctx: LayerContext, cls) -> ShapedLayer:
    where = ctx.where
    _no_unknown(raw, KEYS | {"kind"}, where, "")
    shape = input_shape(ctx, cls.kind)
    dims = len(shape) - 1
    if "kernel_size" not in raw:
        raise SpecError("give the kernel_size (the window)", f"{where}.kernel_size")
    kernel = pair(raw, "kernel_size", dims, None, 1, where)
    stride = pair(raw, "stride", dims, None, 1, where) if "stride" in raw else kernel
    C, H, W = as_2d(shape)
    ho, wo = out_size(H, kernel[0], stride[0], 0), out_size(W, kernel[1], stride[1], 0)
    check_width(C * ho * wo, where)
    out_shape = (C, ho, wo) if dims == 2 else (C, wo)
    neurons = position_names("p", ctx.li, out_shape)
    name = f"{cls.kind.replace('_', ' ')}ing {ctx.li + 1}"
    fields = {"in_shape": tuple(shape), "out_shape": out_shape, "kernel": kernel, "stride": stride}
    return parameter_free(cls, raw, ctx, neurons, name, **fields)


def windows(layer: ShapedLayer) -> tuple[np.ndarray, np.ndarray]:
    """(output index, input index) of every window member, in reading order."""
    outs, _, _, ins = layer_taps(layer, channels_mix=False)
    return outs, ins


def winners(layer: ShapedLayer, a_in: np.ndarray) -> np.ndarray:
    """For each output position, the input index that holds its window's largest value (the first of equals)."""
    outs, ins = windows(layer)
    won = np.full(layer.size, -1)
    for p, i in zip(outs, ins):
        if won[p] < 0 or a_in[i] > a_in[won[p]]:
            won[p] = i
    return won


def _max_net(layer, W, b, a):
    return a[winners(layer, a)]


def _max_jacobian(layer, W, a_in, *_):
    J = np.zeros((layer.size, a_in.size))
    J[np.arange(layer.size), winners(layer, a_in)] = 1.0
    return J


def _avg_net(layer, W, b, a):
    outs, ins = windows(layer)
    z = np.zeros(layer.size)
    np.add.at(z, outs, a[ins])
    return z / (layer.kernel[0] * layer.kernel[1])


def _avg_jacobian(layer, W, a_in, *_):
    outs, ins = windows(layer)
    J = np.zeros((layer.size, a_in.size))
    J[outs, ins] = 1.0 / (layer.kernel[0] * layer.kernel[1])
    return J


def _no_weights(layer, delta, a_in, *_):
    return np.zeros((layer.size, 0))


def _no_bias(layer, delta, R, *_):
    return np.zeros(0)


def _sym_max(P, n: int):
    import sympy as sp

    return sp.Max(*P[:n], evaluate=False)


def _sym_avg(P, n: int):
    import sympy as sp

    return sp.Mul(sp.Rational(1, n), sp.Add(*P[:n], evaluate=False), evaluate=False)


def _net_args(layer, p, wkeys, bkeys, a_keys):
    outs, ins = windows(layer)
    return [a_keys[i] for i in ins[outs == p]]


def _write(layer: ShapedLayer) -> dict:
    """The [[layers]] keys that read ``layer`` again."""
    two = layer.dims == 2
    return {
        "kind": layer.kind,
        "name": layer.name,
        "kernel_size": list(layer.kernel) if two else layer.kernel[1],
        "stride": list(layer.stride) if two else layer.stride[1],
    }


def _kind(cls, net, jacobian, sym, summary: str) -> LayerKind:
    return LayerKind(
        name=cls.kind,
        summary=summary,
        keys=KEYS,
        read=lambda raw, ctx: _read(raw, ctx, cls),
        parameters=lambda layer: 0,
        np_net=net,
        np_input_jacobian=jacobian,
        np_weight_grad=_no_weights,
        np_bias_grad=_no_bias,
        sym_net=sym,
        net_args=_net_args,
        records=("MapLayer",),
        template="maps",
        surfaces=frozenset({"numeric", "maps", "quiz", "worksheet", "lms", "interop"}),  # quiz and sheets by layers
        write=_write,
    )


MAX_POOL = _kind(MaxPoolLayer, _max_net, _max_jacobian, _sym_max, "max pooling: each window's largest value")
AVG_POOL = _kind(AvgPoolLayer, _avg_net, _avg_jacobian, _sym_avg, "average pooling: each window's mean")
