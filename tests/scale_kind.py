"""A layer kind written only for the tests, to show what adding a kind takes: this module and one entry in
``tutor.spec.layers.LAYER_KINDS`` (the tests put it there with monkeypatch).

``kind = "scale"``: each neuron scales the input of its own position, net_j = s_j a_j + b_j, then its activation.
It reuses the dense layer's record (a subclass naming its kind) so that the numeric engine's loop reads it as
any layer; the symbolic engine and the documents do not take it, and refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from tutor.spec import rules
from tutor.spec.errors import SpecError
from tutor.spec.layers.base import LayerContext, LayerKind
from tutor.spec.layers.dense import Layer
from tutor.spec.values import _named_rule, _no_unknown, _vector

KEYS = frozenset({"scales", "biases", "activation"})


@dataclass(frozen=True)
class ScaleLayer(Layer):
    kind: ClassVar[str] = "scale"


def read(raw: Mapping, ctx: LayerContext) -> ScaleLayer:
    _no_unknown(raw, KEYS | {"kind"}, ctx.where, "")
    scales = _vector(raw.get("scales"), f"{ctx.where}.scales")
    if scales.size != ctx.fan_in:
        raise SpecError(f"one scale per input: {ctx.fan_in}, got {scales.size}", f"{ctx.where}.scales")
    biases = _vector(raw.get("biases", [0.0] * scales.size), f"{ctx.where}.biases")
    name, act, params = _named_rule(
        raw.get("activation"), "activation", rules.ACTIVATIONS, rules.activation, f"{ctx.where}.activation"
    )
    n = scales.size
    neurons = tuple(f"s{ctx.li + 1}_{j + 1}" for j in range(n))
    return ScaleLayer(
        neurons=neurons,
        activation=name,
        activation_params=act.params(params),
        weights=scales[:, None],
        biases=biases,
        shared_bias=False,
        weight_labels=tuple((f"s{ctx.li + 1}_{j + 1}",) for j in range(n)),
        bias_labels=tuple(f"c{ctx.li + 1}_{j + 1}" for j in range(n)),
        net_names=tuple(f"net_{m}" for m in neurons),
        out_names=tuple(f"out_{m}" for m in neurons),
    )


KIND = LayerKind(
    name="scale",
    summary="each neuron scales its own input: net_j = s_j a_j + b_j",
    keys=KEYS,
    read=read,
    parameters=lambda layer: 2 * layer.size,
    np_net=lambda layer, W, b, a: W[:, 0] * a + b,
    np_input_jacobian=lambda layer, W, a_in, *_: np.diag(W[:, 0]),
    np_weight_grad=lambda layer, delta, a_in, *_: (delta * a_in)[:, None],
    np_bias_grad=lambda layer, delta, R, *_: delta.copy(),
    sym_net=lambda P: P[0] * P[1] + P[2],
    net_args=lambda layer, j, wkeys, bkeys, a_keys: [wkeys[j][0], a_keys[j], bkeys[j]],
    surfaces=frozenset({"numeric"}),
)
