"""``from_torch`` for models over feature maps: an ``nn.Sequential`` of Conv1d/Conv2d, MaxPool1d/2d, AvgPool1d/2d,
Flatten, Linear layers and activations, read into a network of the conv1d/conv2d, max_pool, avg_pool, flatten and
dense layer kinds (tutor/spec/layers/) with one example. The input's shape comes from ``x``: (C, L) or (C, H, W),
or a batch of one. PyTorch is imported by the caller (tutor.interop.torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec.errors import TutorError
from ..spec.network import Network, from_mapping

MAP_MODULES = ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "Flatten")


def has_maps(modules: list[Any]) -> bool:
    """Whether a flattened Sequential starts over feature maps (a Conv, pooling or Flatten first): then this
    reader takes it."""
    return bool(modules) and type(modules[0]).__name__ in MAP_MODULES


def _pair(value: Any) -> list[int] | int:
    return list(value) if isinstance(value, tuple) else value


def _refuse(i: int, m: Any, what: str, where: str) -> None:
    raise TutorError(f"layer {i} ({type(m).__name__}) is not supported with {what}", where)


def from_torch_maps(
    modules: list[Any],
    x: Any,
    y: Any,
    *,
    activation_of,
    loss: str,
    learning_rate: float,
    title: str | None,
    where: str,
) -> Network:
    """The network of ``modules`` (a flattened Sequential); ``activation_of(module, i, where)`` reads an activation
    module as tutor.interop.torch does."""
    xs = np.asarray(x.detach().cpu().double().numpy() if hasattr(x, "detach") else x, dtype=float)
    dims = 1 if type(modules[0]).__name__.endswith("1d") else 2
    if xs.ndim == dims + 2 and xs.shape[0] == 1:  # a batch of one example
        xs = xs[0]
    if xs.ndim != dims + 1:
        shape = "channels x length" if dims == 1 else "channels x height x width"
        raise TutorError(f"x has shape {list(xs.shape)}; give one example as {shape}", where)
    layers: list[dict] = []
    for i, m in enumerate(modules):
        name = type(m).__name__
        if name in ("Conv1d", "Conv2d"):
            if m.groups != 1 or any(d != 1 for d in np.atleast_1d(m.dilation)):
                _refuse(i, m, "groups or dilation (each kernel reads every input channel, dilation 1)", where)
            if isinstance(m.padding, str) or m.padding_mode != "zeros":
                _refuse(i, m, f"padding={m.padding!r}, padding_mode={m.padding_mode!r} (only numbers, zeros)", where)
            layer = {
                "kind": name.lower(),
                "out_channels": int(m.out_channels),
                "kernel_size": _pair(m.kernel_size),
                "stride": _pair(m.stride),
                "padding": _pair(m.padding),
                "weights": m.weight.detach().cpu().double().tolist(),
            }
            if m.bias is None:
                layer["bias"] = False
            else:
                layer["biases"] = m.bias.detach().cpu().double().tolist()
            layers.append(layer)
        elif name in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
            if any(p != 0 for p in np.atleast_1d(m.padding)) or m.ceil_mode:
                _refuse(i, m, "padding or ceil_mode (windows inside the map only)", where)
            if name.startswith("Max") and (any(d != 1 for d in np.atleast_1d(m.dilation)) or m.return_indices):
                _refuse(i, m, "dilation or return_indices", where)
            if name.startswith("Avg") and getattr(m, "divisor_override", None):
                _refuse(i, m, "divisor_override", where)
            layer = {"kind": "max_pool" if name.startswith("Max") else "avg_pool", "kernel_size": _pair(m.kernel_size)}
            if m.stride is not None:
                layer["stride"] = _pair(m.stride)
            layers.append(layer)
        elif name == "Flatten":
            if m.start_dim != 1 or m.end_dim != -1:
                _refuse(i, m, f"start_dim={m.start_dim}, end_dim={m.end_dim} (only the default 1, -1)", where)
            layers.append({"kind": "flatten"})
        elif name == "Linear":
            layers.append(_linear(m))
        else:
            act = activation_of(m, i, where)
            if (
                not layers
                or "activation" in layers[-1]
                or layers[-1].get("kind") in ("max_pool", "avg_pool", "flatten")
            ):
                raise TutorError(f"layer {i} ({name}) must follow a Conv or Linear layer directly", where)
            if act is not None:
                layers[-1]["activation"] = act
    if not layers or "kind" in layers[-1]:
        raise TutorError("the model must end with a Linear layer (and its activation)", where)
    for layer in layers:
        if "kind" not in layer:
            layer.setdefault("activation", "identity")
    inputs = {"shape": list(xs.shape), "values": xs.reshape(-1).tolist()}
    title = title or f"PyTorch Sequential over {'×'.join(str(s) for s in xs.shape)} maps"
    return _network(title, modules, inputs, layers, y, loss, learning_rate, where)


def _linear(m: Any) -> dict[str, Any]:
    """A dense layer of an nn.Linear (its weight is out x in already)."""
    layer: dict[str, Any] = {"size": int(m.out_features), "weights": m.weight.detach().cpu().double().tolist()}
    if m.bias is None:
        layer["bias"] = False
    else:
        layer["biases"] = m.bias.detach().cpu().double().tolist()
    return layer


def _network(
    title: str, modules: list[Any], inputs: dict, layers: list[dict], y: Any, loss: str, lr: float, where: str
):
    """The network of the layers read: CrossEntropyLoss on a last Linear's logits is softmax with cross-entropy,
    a class index is its one-hot target row."""
    if loss == "categorical_cross_entropy" and layers[-1]["activation"] == "identity":
        layers[-1]["activation"] = "softmax"  # CrossEntropyLoss on the logits
    n_out = len(layers[-1]["weights"])
    ys = np.asarray(y.detach().cpu().double().numpy() if hasattr(y, "detach") else y, dtype=float).reshape(-1)
    if loss == "categorical_cross_entropy" and ys.size == 1 and n_out > 1:
        ys = np.eye(n_out)[int(ys[0])]
    spec = {
        "title": title,
        "description": "PyTorch modules: " + ", ".join(type(m).__name__ for m in modules),
        "inputs": inputs,
        "layers": layers,
        "loss": {"name": loss, "targets": ys.tolist()},
        "training": {"learning_rate": lr, "update_biases": True},
    }
    return from_mapping(spec, where=where)


def starts_recurrent(modules: list[Any]) -> bool:
    """Whether a flattened Sequential starts with an nn.RNN: then ``from_torch_rnn`` reads it."""
    return bool(modules) and type(modules[0]).__name__ == "RNN"


def from_torch_rnn(
    modules: list[Any],
    x: Any,
    y: Any,
    *,
    h0: Any,
    activation_of,
    loss: str,
    learning_rate: float,
    title: str | None,
    where: str,
) -> Network:
    """The network of an nn.RNN followed by Linear layers and activations (a flattened Sequential, read as a
    model's forward reads it: the RNN's output sequence feeds the first Linear, its last hidden state when that
    Linear reads ``hidden_size`` values (many-to-one), every state, time step by time step, when it reads
    steps x ``hidden_size`` (many-to-many)). ``x`` is the sequence, one row per time step (or a batch of one);
    ``h0`` the initial hidden state (zeros unless given, as torch)."""
    rnn = modules[0]
    if rnn.num_layers != 1 or rnn.bidirectional or getattr(rnn, "proj_size", 0):
        _refuse(0, rnn, "num_layers, bidirectional or proj_size (one layer, one direction)", where)
    n, H = int(rnn.input_size), int(rnn.hidden_size)
    xs = np.asarray(x.detach().cpu().double().numpy() if hasattr(x, "detach") else x, dtype=float)
    if xs.ndim == 3 and (xs.shape[0] if rnn.batch_first else xs.shape[1]) == 1:  # a batch of one sequence
        xs = xs[0] if rnn.batch_first else xs[:, 0]
    if xs.ndim != 2 or xs.shape[1] != n:
        raise TutorError(f"x has shape {list(xs.shape)}; give one sequence as steps x {n} (input_size)", where)
    T = xs.shape[0]
    layer: dict[str, Any] = {
        "kind": "rnn",
        "input_size": n,
        "hidden_size": H,
        "nonlinearity": rnn.nonlinearity,
        "weight_ih": rnn.weight_ih_l0.detach().cpu().double().tolist(),
        "weight_hh": rnn.weight_hh_l0.detach().cpu().double().tolist(),
    }
    if rnn.bias:
        layer["bias_ih"] = rnn.bias_ih_l0.detach().cpu().double().tolist()
        layer["bias_hh"] = rnn.bias_hh_l0.detach().cpu().double().tolist()
    else:
        layer["bias"] = False
    if h0 is not None:
        h = np.asarray(h0.detach().cpu().double().numpy() if hasattr(h0, "detach") else h0, dtype=float)
        layer["h0"] = h.reshape(-1).tolist()
    first = modules[1] if len(modules) > 1 else None
    if first is None or type(first).__name__ != "Linear":
        raise TutorError("layer 1 after the RNN must be a Linear layer (reading its last state or every state)", where)
    reads = int(first.in_features)
    if reads not in (H, T * H):
        raise TutorError(
            f"layer 1 (Linear) reads {reads} values; the RNN gives {H} (its last state) or {T * H} (every state)",
            where,
        )
    layer["outputs"] = "last" if reads == H else "all"
    layers: list[dict] = [layer]
    for i, m in enumerate(modules[1:], 1):
        if type(m).__name__ == "Linear":
            layers.append(_linear(m))
            continue
        act = activation_of(m, i, where)
        if len(layers) == 1 or "activation" in layers[-1]:
            raise TutorError(f"layer {i} ({type(m).__name__}) must follow a Linear layer directly", where)
        if act is not None:
            layers[-1]["activation"] = act
    for dense in layers[1:]:
        dense.setdefault("activation", "identity")
    inputs = {"values": xs.reshape(-1).tolist()}
    return _network(title or f"PyTorch RNN over {T} steps", modules, inputs, layers, y, loss, learning_rate, where)
