"""The ``rnn`` layer kind: an Elman recurrent layer as torch's nn.RNN (one layer, unbatched), unrolled over the
input's time steps: h_t = f(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh), f tanh or ReLU, from h_0 (zeros unless
given). The layer's inputs are the sequence, time step by time step (``input_size`` values each); its outputs are
the last hidden state (``outputs = "last"``, many-to-one) or every hidden state, time step by time step
(``"all"``, many-to-many), for the dense layers after it.

Weights as torch names them: ``weight_ih`` (hidden x input), ``weight_hh`` (hidden x hidden), ``bias_ih`` and
``bias_hh`` (one each per hidden unit; ``bias = false`` for none). Stored as one matrix [W_ih | W_hh] per layer
and the biases [b_ih, b_hh]. Back-propagation through time: each step's delta is dE/dh_t (from the outputs and
from step t + 1 through W_hh) times f'; the shared weights' gradients are the sums over the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import numpy as np

from ..errors import SpecError
from ..values import MAX_PARAMETERS, MAX_WIDTH, _matrix, _no_unknown, _vector
from .base import LayerContext, LayerKind
from .dense import Layer, _names

KEYS = frozenset(
    {
        "name",
        "input_size",
        "hidden_size",
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
        "bias",
        "nonlinearity",
        "h0",
        "outputs",
    }
)


@dataclass(frozen=True)
class RnnLayer(Layer):
    kind: ClassVar[str] = "rnn"

    input_size: int = 1
    hidden_size: int = 1
    steps: int = 1
    outputs: str = "last"  # "last" (many-to-one) or "all" (many-to-many)
    nonlinearity: str = "tanh"
    h0: tuple[float, ...] = ()

    @property
    def bias_count(self) -> int:
        return self.biases.size if self.has_bias else 0


def read(raw: Mapping, ctx: LayerContext) -> RnnLayer:
    where = ctx.where
    _no_unknown(raw, KEYS | {"kind"}, where, "")
    n = raw.get("input_size")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or ctx.fan_in % n:
        raise SpecError(
            f"input_size is the number of values per time step, a whole number that divides the {ctx.fan_in} "
            "inputs of the layer",
            f"{where}.input_size",
        )
    H = raw.get("hidden_size")
    if isinstance(H, bool) or not isinstance(H, int) or not 1 <= H <= MAX_WIDTH:
        raise SpecError(f"hidden_size is a whole number from 1 to {MAX_WIDTH}", f"{where}.hidden_size")
    T = ctx.fan_in // n
    outputs = raw.get("outputs", "last")
    if outputs not in ("last", "all"):
        raise SpecError('outputs is "last" (many-to-one) or "all" (many-to-many)', f"{where}.outputs")
    if outputs == "all" and T * H > MAX_WIDTH:
        raise SpecError(f"{T * H} outputs; a layer may have at most {MAX_WIDTH}", f"{where}.outputs")
    nonlinearity = raw.get("nonlinearity", "tanh")
    if nonlinearity not in ("tanh", "relu"):
        raise SpecError('nonlinearity is "tanh" or "relu" (as torch\'s nn.RNN)', f"{where}.nonlinearity")
    has_bias = raw.get("bias", True) is not False
    if "bias" in raw and raw["bias"] is not False:
        raise SpecError("bias = false leaves both biases out; give bias_ih and bias_hh otherwise", f"{where}.bias")
    if ctx.total + H * (n + H) + 2 * H * has_bias > MAX_PARAMETERS:
        raise SpecError(f"the network would have more than {MAX_PARAMETERS} parameters; use a smaller network", where)
    W_ih = _matrix(raw.get("weight_ih"), H, n, f"{where}.weight_ih")
    W_hh = _matrix(raw.get("weight_hh"), H, H, f"{where}.weight_hh")
    biases = np.zeros(0)
    if has_bias:
        parts = []
        for key in ("bias_ih", "bias_hh"):
            v = _vector(raw.get(key, [0.0] * H), f"{where}.{key}")
            if v.size != H:
                raise SpecError(f"{v.size} values for {H} hidden units; give one per unit", f"{where}.{key}")
            parts.append(v)
        biases = np.concatenate(parts)
    else:
        for key in ("bias_ih", "bias_hh"):
            if key in raw:
                raise SpecError(f"{key} names a bias, but bias = false says the layer has none", f"{where}.{key}")
    h0 = _vector(raw.get("h0", [0.0] * H), f"{where}.h0")
    if h0.size != H:
        raise SpecError(f"{h0.size} values for {H} hidden units; give one per unit", f"{where}.h0")
    if ctx.is_output:
        raise SpecError("a recurrent layer feeds the dense layers after it: add an output layer", where)
    L = ctx.li + 1
    times = range(T) if outputs == "all" else (T - 1,)
    neurons = [f"h{L}_{t + 1}.{j + 1}" for t in times for j in range(H)]
    # the hidden states keep their names in every document: h1_3.2 is unit 2 at step 3, z1_3.2 its sum
    raw_names = {"name": f"recurrent {L}", **raw, "out_names": neurons}
    raw_names["net_names"] = [f"z{L}_{t + 1}.{j + 1}" for t in times for j in range(H)]
    net_names, out_names, name = _names(raw_names, neurons, len(neurons), ctx.is_output, ctx.li, where, ctx.notation)
    labels = [
        [f"wx{L}_{j + 1}.{i + 1}" for i in range(n)] + [f"wh{L}_{j + 1}.{k + 1}" for k in range(H)] for j in range(H)
    ]
    bias_labels = [f"bx{L}_{j + 1}" for j in range(H)] + [f"bh{L}_{j + 1}" for j in range(H)] if has_bias else []
    return RnnLayer(
        neurons=tuple(neurons),
        activation="identity",
        activation_params={},
        weights=np.hstack([W_ih, W_hh]),
        biases=biases,
        shared_bias=False,
        weight_labels=tuple(tuple(r) for r in labels),
        bias_labels=tuple(bias_labels),
        net_names=tuple(net_names),
        out_names=tuple(out_names),
        name=name,
        has_bias=has_bias,
        input_size=n,
        hidden_size=H,
        steps=T,
        outputs=outputs,
        nonlinearity=nonlinearity,
        h0=tuple(float(v) for v in h0),
    )


def parameters(layer: RnnLayer) -> int:
    return layer.weights.size + layer.bias_count


def _split(layer: RnnLayer, W: np.ndarray, b: np.ndarray):
    n, H = layer.input_size, layer.hidden_size
    bias = b[:H] + b[H:] if layer.has_bias else np.zeros(H)
    return W[:, :n], W[:, n:], bias


def unroll(layer: RnnLayer, W: np.ndarray, b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pre-activations (T x H) and the hidden states h_0..h_T ((T + 1) x H) over the sequence ``a``."""
    W_ih, W_hh, bias = _split(layer, W, b)
    x = a.reshape(layer.steps, layer.input_size)
    h = np.zeros((layer.steps + 1, layer.hidden_size))
    h[0] = layer.h0
    pre = np.zeros((layer.steps, layer.hidden_size))
    for t in range(layer.steps):
        pre[t] = W_ih @ x[t] + W_hh @ h[t] + bias
        h[t + 1] = np.tanh(pre[t]) if layer.nonlinearity == "tanh" else np.maximum(pre[t], 0.0)
    return pre, h


def bptt(layer: RnnLayer, W: np.ndarray, b: np.ndarray, a: np.ndarray, g_out: np.ndarray):
    """Back-propagation through time of dE/d(outputs) ``g_out``: (dE/dx, dE/d[W_ih | W_hh], dE/db of one of the two
    biases, each step's delta)."""
    W_ih, W_hh, _ = _split(layer, W, b)
    pre, h = unroll(layer, W, b, a)
    T, H = layer.steps, layer.hidden_size
    x = a.reshape(T, layer.input_size)
    g_h = np.zeros((T, H))
    if layer.outputs == "all":
        g_h += g_out.reshape(T, H)
    else:
        g_h[T - 1] += g_out
    dx, dW, db = np.zeros((T, layer.input_size)), np.zeros(W.shape), np.zeros(H)
    deltas = np.zeros((T, H))
    carry = np.zeros(H)
    for t in range(T - 1, -1, -1):
        dh = g_h[t] + carry
        fprime = 1.0 - h[t + 1] ** 2 if layer.nonlinearity == "tanh" else (pre[t] > 0).astype(float)
        d = dh * fprime
        deltas[t] = d
        dW[:, : layer.input_size] += np.outer(d, x[t])
        dW[:, layer.input_size :] += np.outer(d, h[t])
        db += d
        dx[t] = W_ih.T @ d
        carry = W_hh.T @ d
    return dx.reshape(-1), dW, db, deltas


def np_net(layer: RnnLayer, W: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    _, h = unroll(layer, W, b, a)
    return h[1:].reshape(-1).copy() if layer.outputs == "all" else h[-1].copy()


def np_input_jacobian(layer: RnnLayer, W: np.ndarray, a_in: np.ndarray, b: np.ndarray) -> np.ndarray:
    """d output_p / d input_i, one back-propagation through time per output."""
    J = np.zeros((layer.size, a_in.size))
    for p in range(layer.size):
        e = np.zeros(layer.size)
        e[p] = 1.0
        J[p] = bptt(layer, W, b, a_in, e)[0]
    return J


def np_weight_grad(layer: RnnLayer, delta: np.ndarray, a_in: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return bptt(layer, W, b, a_in, delta)[1]


def np_bias_grad(layer: RnnLayer, delta: np.ndarray, R, a_in: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Both biases get the sum over the steps of the deltas (they enter each step's sum alike)."""
    if not layer.has_bias:
        return np.zeros(0)
    db = bptt(layer, W, b, a_in, delta)[2]
    return R.array(np.concatenate([db, db]))


def sym_step(P, n_pairs: int, bias: bool = True):
    """One step's sum: the (weight, value) pairs of x_t and h_(t-1), then b_ih * 1 and b_hh * 1 (unevaluated)."""
    import sympy as sp

    from .dense import sym_net as dense_sum

    total = dense_sum(P, n_pairs, False)
    if not bias:
        return total
    ones = [sp.Mul(P[2 * n_pairs + k], sp.Integer(1), evaluate=False) for k in range(2)]
    return sp.Add(*total.args, *ones, evaluate=False) if n_pairs > 1 else sp.Add(total, *ones, evaluate=False)


def write(layer: RnnLayer) -> dict:
    """The [[layers]] keys that read ``layer`` again, in torch's names."""
    n, H = layer.input_size, layer.hidden_size
    out: dict = {
        "kind": "rnn",
        "name": layer.name,
        "input_size": n,
        "hidden_size": H,
        "weight_ih": layer.weights[:, :n].tolist(),
        "weight_hh": layer.weights[:, n:].tolist(),
        "nonlinearity": layer.nonlinearity,
        "h0": list(layer.h0),
        "outputs": layer.outputs,
    }
    out.update(
        {"bias_ih": layer.biases[:H].tolist(), "bias_hh": layer.biases[H:].tolist()}
        if layer.has_bias
        else {"bias": False}
    )
    return out


KIND = LayerKind(
    name="rnn",
    summary="Elman recurrent layer (torch's nn.RNN), unrolled: h_t = f(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)",
    keys=KEYS,
    read=read,
    parameters=parameters,
    np_net=np_net,
    np_input_jacobian=np_input_jacobian,
    np_weight_grad=np_weight_grad,
    np_bias_grad=np_bias_grad,
    sym_net=sym_step,
    records=("MapLayer",),
    template="maps",
    surfaces=frozenset({"numeric", "maps", "quiz", "worksheet", "lms", "interop"}),  # quiz and sheets by layers
    write=write,
)
