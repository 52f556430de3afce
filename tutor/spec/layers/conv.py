"""The convolution layer kinds, ``conv1d`` and ``conv2d`` (as torch's nn.Conv1d and nn.Conv2d, which compute a
cross-correlation): channels in and out, kernel size, stride, zero padding and a bias per output channel, then an
element-wise activation. Weights are given in torch's layout, out x in x kh x kw (out x in x k for 1-D).

Each output position's net input is the sum over its receptive field: net[o, y, x] = sum over (c, i, j) of
w[o, c, i, j] a[c, y s + i - p, x s + j - p] + b[o], taps on the padding left out (their input is 0). Its
gradient to a kernel weight is the sum over every position that used the weight; the gradient to the input is
the full convolution of the deltas with the flipped kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from ..errors import SpecError
from ..values import MAX_PARAMETERS, _no_unknown, _vector
from .base import LayerContext, LayerKind
from .shaped import (
    ShapedLayer,
    activation,
    check_width,
    input_shape,
    layer_taps,
    names,
    out_size,
    pair,
    position_names,
    tensor,
)

KEYS = frozenset(
    {"name", "out_channels", "kernel_size", "stride", "padding", "weights", "biases", "bias", "activation"}
)


@dataclass(frozen=True)
class Conv2dLayer(ShapedLayer):
    kind: ClassVar[str] = "conv2d"


@dataclass(frozen=True)
class Conv1dLayer(ShapedLayer):
    kind: ClassVar[str] = "conv1d"


def _read(raw: Mapping, ctx: LayerContext, dims: int) -> ShapedLayer:
    where = ctx.where
    what = f"conv{dims}d"
    _no_unknown(raw, KEYS | {"kind"}, where, "")
    shape = input_shape(ctx, what)
    if len(shape) != dims + 1:
        raise SpecError(
            f"{what} reads {dims}-D maps; its input has shape {list(shape)} "
            f"(use conv{len(shape) - 1}d, or give [inputs] shape the right length)",
            where,
        )
    c_in = shape[0]
    oc = raw.get("out_channels")
    if isinstance(oc, bool) or not isinstance(oc, int) or oc < 1:
        raise SpecError("out_channels is a whole number >= 1 (the number of kernels)", f"{where}.out_channels")
    if "kernel_size" not in raw:
        raise SpecError("give the kernel_size", f"{where}.kernel_size")
    kernel = pair(raw, "kernel_size", dims, None, 1, where)
    stride = pair(raw, "stride", dims, 1, 1, where)
    padding = pair(raw, "padding", dims, 0, 0, where)
    spatial = shape[1:] if dims == 2 else (1, shape[1])
    ho = out_size(spatial[0], kernel[0], stride[0], padding[0])
    wo = out_size(spatial[1], kernel[1], stride[1], padding[1])
    out_shape = (oc, ho, wo) if dims == 2 else (oc, wo)
    check_width(oc * ho * wo, where)
    kshape = (oc, c_in, *kernel) if dims == 2 else (oc, c_in, kernel[1])
    count = ctx.total + int(np.prod(kshape)) + oc
    if count > MAX_PARAMETERS:
        raise SpecError(f"the network would have more than {MAX_PARAMETERS} parameters; use a smaller network", where)
    weights = tensor(raw.get("weights"), kshape, f"{where}.weights").reshape(oc, -1)
    if "bias" in raw and raw["bias"] is not False:
        raise SpecError("bias = false leaves the bias out; give one bias per output channel as biases", f"{where}.bias")
    has_bias = raw.get("bias", True) is not False
    if has_bias:
        biases = _vector(raw.get("biases", [0.0] * oc), f"{where}.biases")
        if biases.size != oc:
            raise SpecError(f"{biases.size} biases for {oc} output channels; give one per channel", f"{where}.biases")
    elif "biases" in raw:
        raise SpecError("biases names a bias, but bias = false says the layer has none", f"{where}.biases")
    else:
        biases = np.zeros(0)
    act_name, act, params = activation(raw, where)
    neurons = position_names("c", ctx.li, out_shape)
    net_names, out_names, name = names(raw, neurons, ctx, f"convolution {ctx.li + 1}")
    short = max(kshape) < 10
    rows = range(kernel[0])
    labels = [
        [
            _weight_label(ctx.li, (o, c, i, j) if dims == 2 else (o, c, j), short)
            for c in range(c_in)
            for i in rows
            for j in range(kernel[1])
        ]
        for o in range(oc)
    ]
    cls = Conv2dLayer if dims == 2 else Conv1dLayer
    return cls(
        neurons=tuple(neurons),
        activation=act_name,
        activation_params=act.params(params),
        weights=weights,
        biases=biases,
        shared_bias=False,
        weight_labels=tuple(tuple(r) for r in labels),
        bias_labels=tuple(f"b{ctx.li + 1}_{o + 1}" for o in range(oc)) if has_bias else (),
        net_names=tuple(net_names),
        out_names=tuple(out_names),
        name=name,
        has_bias=has_bias,
        in_shape=tuple(shape),
        out_shape=out_shape,
        kernel=kernel,
        stride=stride,
        padding=padding,
    )


def _weight_label(li: int, idx: tuple[int, ...], short: bool) -> str:
    """w1_1213: layer 1's kernel 1, input channel 2, row 1, column 3 (dotted when an index has two digits)."""
    sep = "" if short else "."
    return f"w{li + 1}_" + sep.join(str(k + 1) for k in idx)


def parameters(layer: ShapedLayer) -> int:
    return layer.weights.size + layer.biases.size


def np_net(layer: ShapedLayer, W: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Each position's sum over its receptive field (the taps in the written order), plus its channel's bias."""
    outs, chans, cols, ins = layer_taps(layer)
    z = np.zeros(layer.size)
    np.add.at(z, outs, W[chans, cols] * a[ins])
    if layer.has_bias:
        z += np.repeat(b, layer.size // layer.out_channels)
    return z


def np_input_jacobian(layer: ShapedLayer, W: np.ndarray, a_in: np.ndarray, *_) -> np.ndarray:
    """d net_p / d a_i: the kernel weight that joins input i to position p (the im2col matrix of the layer)."""
    outs, chans, cols, ins = layer_taps(layer)
    J = np.zeros((layer.size, a_in.size))
    np.add.at(J, (outs, ins), W[chans, cols])
    return J


def np_weight_grad(layer: ShapedLayer, delta: np.ndarray, a_in: np.ndarray, *_) -> np.ndarray:
    """dE/dw[o, c, i, j]: the sum, over every position p of map o, of delta_p times the input the weight met there."""
    outs, chans, cols, ins = layer_taps(layer)
    g = np.zeros(layer.weights.shape)
    np.add.at(g, (chans, cols), delta[outs] * a_in[ins])
    return g


def np_bias_grad(layer: ShapedLayer, delta: np.ndarray, R, *_) -> np.ndarray:
    """dE/db[o]: the sum of map o's deltas."""
    if not layer.has_bias:
        return np.zeros(0)
    return R.array(delta.reshape(layer.out_channels, -1).sum(axis=1))


def sym_net(P, n_taps: int, bias: bool = True):
    """One position's sum over its receptive field: the dense neuron's form over its taps (w, a) and the bias."""
    from .dense import sym_net as dense_sum

    return dense_sum(P, n_taps, bias)


def net_args(layer: ShapedLayer, p: int, wkeys, bkeys, a_keys) -> list:
    """The (weight, input) pairs of position p in the written order, then its channel's bias."""
    outs, chans, cols, ins = layer_taps(layer)
    sel = np.nonzero(outs == p)[0]
    o = p // (layer.size // layer.out_channels)
    args = [k for t in sel for k in (wkeys[o][cols[t]], a_keys[ins[t]])]
    return args + ([bkeys[o]] if layer.has_bias else [])


def write(layer: ShapedLayer) -> dict:
    """The [[layers]] keys that read ``layer`` again: the weights in torch's layout, out x in x kh x kw (x k)."""
    C = layer.in_shape[0]
    kernel = list(layer.kernel) if layer.dims == 2 else layer.kernel[1]
    shape = (layer.out_channels, C, *layer.kernel) if layer.dims == 2 else (layer.out_channels, C, layer.kernel[1])
    out: dict = {
        "kind": f"conv{layer.dims}d",
        "name": layer.name,
        "out_channels": layer.out_channels,
        "kernel_size": kernel,
        "stride": list(layer.stride) if layer.dims == 2 else layer.stride[1],
        "padding": list(layer.padding) if layer.dims == 2 else layer.padding[1],
        "weights": layer.weights.reshape(shape).tolist(),
        "activation": {"name": layer.activation, **dict(layer.activation_params)}
        if layer.activation_params
        else layer.activation,
    }
    out.update({"biases": layer.biases.tolist()} if layer.has_bias else {"bias": False})
    return out


def _kind(dims: int) -> LayerKind:
    return LayerKind(
        name=f"conv{dims}d",
        summary=f"{dims}-D convolution (torch's nn.Conv{dims}d): kernels over channels, stride, zero padding, bias",
        keys=KEYS,
        read=lambda raw, ctx: _read(raw, ctx, dims),
        parameters=parameters,
        np_net=np_net,
        np_input_jacobian=np_input_jacobian,
        np_weight_grad=np_weight_grad,
        np_bias_grad=np_bias_grad,
        sym_net=sym_net,
        net_args=net_args,
        records=("MapLayer",),
        template="maps",
        surfaces=frozenset({"numeric", "maps", "quiz", "worksheet", "lms", "interop"}),  # quiz and sheets by layers
        write=write,
    )


CONV1D = _kind(1)
CONV2D = _kind(2)
