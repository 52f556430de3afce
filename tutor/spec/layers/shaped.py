"""What the layer kinds over feature maps share (convolution, pooling, flatten): the record of a layer whose
input and output are channels of 1-D or 2-D maps, stored flat in channel-major order (as torch flattens), and
the taps that tie each output position to the input positions it reads.

A 1-D map of length L is kept as a 2-D map of height 1, so one set of index arithmetic serves both; the spec
and every message speak of the shape the user wrote ((C, L) or (C, H, W)).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

import numpy as np

from .. import rules
from ..errors import SpecError
from ..values import MAX_WIDTH, _listed, _named_rule, _number, _show, _text
from .base import LayerContext
from .dense import Layer, _names


@dataclass(frozen=True)
class ShapedLayer(Layer):
    """A layer over feature maps. ``weights`` of a convolution are stored as the kernel matrix of the im2col
    view, one row per output channel and one column per (input channel, kernel row, kernel column); the spec and
    torch give them as out x in x kh x kw (x k for 1-D). ``biases`` has one entry per output channel."""

    in_shape: tuple[int, ...] = ()  # as written: (C, L) or (C, H, W)
    out_shape: tuple[int, ...] = ()
    kernel: tuple[int, int] = (1, 1)  # (kh, kw); 1-D: (1, k)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    @property
    def bias_count(self) -> int:
        """One bias per output channel (none without a bias)."""
        return self.biases.size if self.has_bias else 0

    @property
    def dims(self) -> int:
        return len(self.in_shape) - 1

    @property
    def out_channels(self) -> int:
        return self.out_shape[0]


def as_2d(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of a shape as written: a 1-D map (C, L) is (C, 1, L)."""
    return (shape[0], 1, shape[1]) if len(shape) == 2 else (shape[0], shape[1], shape[2])


@lru_cache(maxsize=256)
def taps(
    in_shape: tuple[int, ...], out_c: int, kernel, stride, padding, channels_mix: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (output position, kernel column, input position) that a window reads, in the order the sum is
    written (input channel, kernel row, kernel column); taps on the zero padding are left out (their input is 0).
    ``channels_mix``: a convolution (every input channel feeds every output channel) or a pooling (channel c
    reads channel c only). Returns (output index, output channel, kernel column, input index) arrays."""
    C, H, W = as_2d(in_shape)
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    outs, chans, cols, ins = [], [], [], []
    for o in range(out_c):
        for y in range(Ho):
            for x in range(Wo):
                p = (o * Ho + y) * Wo + x
                for c in range(C) if channels_mix else (o,):
                    for i in range(kh):
                        for j in range(kw):
                            yy, xx = y * sh + i - ph, x * sw + j - pw
                            if 0 <= yy < H and 0 <= xx < W:
                                outs.append(p)
                                chans.append(o)
                                cols.append((c * kh + i) * kw + j if channels_mix else i * kw + j)
                                ins.append((c * H + yy) * W + xx)
    return tuple(np.array(v, dtype=np.intp) for v in (outs, chans, cols, ins))  # type: ignore[return-value]


def layer_taps(layer: ShapedLayer, channels_mix: bool = True):
    return taps(layer.in_shape, layer.out_channels, layer.kernel, layer.stride, layer.padding, channels_mix)


def out_size(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def pair(raw: Mapping, key: str, dims: int, default: int | None, least: int, where: str) -> tuple[int, int]:
    """kernel_size, stride or padding: one whole number, or one per spatial dimension; as (h, w), 1-D as (1 or
    0, n)."""
    value = _listed(raw.get(key, default))
    values = value if isinstance(value, list) else [value] * dims
    if len(values) != dims or any(isinstance(v, bool) or not isinstance(v, int) or v < least for v in values):
        raise SpecError(
            f"{key} is a whole number >= {least}"
            + (f" or a list of {dims} of them" if dims > 1 else "")
            + f", got {_show(raw.get(key))}",
            f"{where}.{key}",
        )
    if dims == 1:
        return (0 if key == "padding" else 1, values[0])
    return (values[0], values[1])


def input_shape(ctx: LayerContext, what: str) -> tuple[int, ...]:
    """The shape this layer reads: the previous layer's output maps, or the inputs' ``shape``."""
    shape = ctx.in_shape
    if shape is None or len(shape) not in (2, 3):
        raise SpecError(
            f"a {what} layer reads feature maps: give [inputs] shape = [channels, length] or [channels, height, "
            "width], and put it before any dense or flatten layer",
            ctx.where,
        )
    return shape


def activation(raw: Mapping, where: str, default: str = "identity"):
    name, act, params = _named_rule(
        raw.get("activation", default), "activation", rules.ACTIVATIONS, rules.activation, f"{where}.activation"
    )
    if act.vector:
        raise SpecError(f"{name!r} is not element-wise; a feature map's activation acts on each value", where)
    return name, act, params


def position_names(prefix: str, li: int, shape: tuple[int, ...]) -> list[str]:
    """c2_1.3.2: layer 2's map 1 at row 3, column 2 (1-D: c2_1.2), counted from 1."""
    C, H, W = as_2d(shape)
    if len(shape) == 2:
        return [f"{prefix}{li + 1}_{c + 1}.{x + 1}" for c in range(C) for x in range(W)]
    return [f"{prefix}{li + 1}_{c + 1}.{y + 1}.{x + 1}" for c in range(C) for y in range(H) for x in range(W)]


def check_width(size: int, where: str) -> None:
    if size < 1:
        raise SpecError("the window does not fit: the output would be empty", where)
    if size > MAX_WIDTH:
        raise SpecError(f"{size} output values; a layer may have at most {MAX_WIDTH}", where)


def names(raw: Mapping, neurons: list[str], ctx: LayerContext, default_name: str) -> tuple:
    raw = dict(raw)
    raw.setdefault("name", default_name)
    raw["name"] = _text(raw["name"], f"{ctx.where}.name", limit=64)
    return _names(raw, neurons, len(neurons), ctx.is_output, ctx.li, ctx.where, ctx.notation)


def parameter_free(cls, raw: Mapping, ctx: LayerContext, neurons: list[str], default_name: str, **fields):
    """A layer of ``cls`` without weights or biases (pooling, flatten): each output is a function of its inputs
    alone, with the identity as its activation."""
    net_names, out_names, name = names(raw, neurons, ctx, default_name)
    n = len(neurons)
    return cls(
        neurons=tuple(neurons),
        activation="identity",
        activation_params={},
        weights=np.zeros((n, 0)),
        biases=np.zeros(0),
        shared_bias=False,
        weight_labels=((),) * n,
        bias_labels=(),
        net_names=tuple(net_names),
        out_names=tuple(out_names),
        name=name,
        weightless=True,
        has_bias=False,
        **fields,
    )


def tensor(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Nested lists of numbers of exactly ``shape`` (torch's layout), each checked with its place."""
    out = np.empty(shape)

    def fill(v: Any, idx: tuple[int, ...], place: str) -> None:
        depth = len(idx)
        if depth == len(shape):
            out[idx] = _number(v, place)
            return
        v = _listed(v, place)
        if not isinstance(v, list) or len(v) != shape[depth]:
            n = len(v) if isinstance(v, list) else _show(v)
            dims = " x ".join(str(s) for s in shape[depth:])
            raise SpecError(f"expected {shape[depth]} entries here (the weights are {dims}), got {n}", place)
        for k, item in enumerate(v):
            fill(item, (*idx, k), f"{place}[{k}]")

    fill(value, (), where)
    return out
