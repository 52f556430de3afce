"""The dense layer kind: a fully connected layer (weights, bias, activation), with its options batch normalization
and a residual connection (``skip``). Its spec keys and their validation, its SymPy local forms and its NumPy
forward and backward are here; the registry (``tutor/spec/layers/__init__.py``) hands them to the spec reader,
the engines and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Mapping

import numpy as np

from .. import rules
from ..errors import SpecError
from ..values import (
    MAX_LABEL,
    MAX_PARAMETERS,
    MAX_WIDTH,
    _count,
    _labels,
    _matrix,
    _named_rule,
    _no_unknown,
    _number,
    _show,
    _text,
    _vector,
)
from .base import LayerContext, LayerKind

KEYS = frozenset(
    {
        "name",
        "neurons",
        "size",
        "activation",
        "weights",
        "weight_labels",
        "bias",
        "biases",
        "bias_label",
        "bias_labels",
        "net_names",
        "out_names",
        "skip",
        "batch_norm",
        "gamma",
        "beta",
        "epsilon",
        "momentum",
        "running_mean",
        "running_var",
    }
)
BN_EPSILON = 1e-5  # torch.nn.BatchNorm1d's defaults
BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class Layer:
    """One fully connected layer: ``weights[j][i]`` joins input i of the layer to its neuron j."""

    kind: ClassVar[str] = "dense"

    neurons: tuple[str, ...]
    activation: str
    activation_params: Mapping[str, float]
    weights: np.ndarray
    biases: np.ndarray
    shared_bias: bool
    weight_labels: tuple[tuple[str, ...], ...]
    bias_labels: tuple[str, ...]  # one per neuron; all equal when the bias is shared
    net_names: tuple[str, ...]
    out_names: tuple[str, ...]
    name: str = ""
    skip: int | None = None  # residual connection: out = f(net) + the output of layers[skip] (same width)
    # ``weights = false``: no weights and no bias, net_j = the previous layer's value j (weights has 0 columns)
    weightless: bool = False
    # ``bias = false``: no bias at all (biases are zeros that are no parameter; bias_labels is empty)
    has_bias: bool = True
    # batch normalization (training mode) between net and the activation: y = gamma * xhat + beta, out = f(y)
    batch_norm: bool = False
    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None
    epsilon: float = BN_EPSILON
    momentum: float = BN_MOMENTUM  # running = (1 - momentum) * running + momentum * batch statistic
    running_mean: np.ndarray | None = None  # the running statistics before the step (0 and 1 as torch starts)
    running_var: np.ndarray | None = None

    @property
    def bias_count(self) -> int:
        """How many bias parameters the layer has: 0 without a bias, 1 when shared, else one per neuron."""
        return 0 if not self.has_bias else 1 if self.shared_bias else self.size

    @property
    def size(self) -> int:
        return len(self.neurons)

    def bn_names(self, what: str) -> tuple[str, ...]:
        """The per-neuron names of a batch normalization quantity: mu_h1, var_h1, xhat_h1, y_h1, gamma_h1, ..."""
        return tuple(f"{what}_{n}" for n in self.neurons)

    @property
    def rule(self) -> rules.Activation:
        return rules.ACTIVATIONS[self.activation]


def _skip(raw: Any, layer: Layer, li: int, earlier: list[Layer], where: str) -> Layer:
    """``skip = k``: a residual connection adding the output of layers[k] (an earlier layer of the same width)."""
    if not isinstance(raw, Mapping) or "skip" not in raw:
        return layer
    k = raw["skip"]
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < li:
        allowed = f"0 to {li - 1}" if li else "none: the first layer has no earlier layer"
        raise SpecError(f"skip names an earlier layer by index ({allowed}), got {_show(k)}", f"{where}.skip")
    if earlier[k].size != layer.size:
        raise SpecError(
            f"a skip adds outputs neuron by neuron: layers[{k}] has {earlier[k].size} neurons and this layer "
            f"{layer.size}; skip between layers of the same width",
            f"{where}.skip",
        )
    if layer.rule.vector:
        raise SpecError(
            f"a skip adds to each output on its own; {layer.activation!r} is not element-wise", f"{where}.skip"
        )
    return replace(layer, skip=k)


def _batch_norm(raw: Any, layer: Layer, where: str) -> Layer:
    """``batch_norm = true`` with ``gamma``/``beta`` per neuron (1 and 0), ``epsilon`` (1e-5), ``momentum`` (0.1)
    and the running statistics the step starts from (``running_mean`` 0, ``running_var`` 1), as BatchNorm1d."""
    keys = ("gamma", "beta", "epsilon", "momentum", "running_mean", "running_var")
    if not isinstance(raw, Mapping):
        return layer
    on = raw.get("batch_norm", False)
    if not isinstance(on, bool):
        raise SpecError(f"batch_norm must be true or false, got {_show(on)}", f"{where}.batch_norm")
    if not on:
        for k in keys:
            if k in raw:
                raise SpecError(f"{k} belongs to batch normalization: add batch_norm = true", f"{where}.{k}")
        return layer
    if layer.weightless:
        raise SpecError(
            "batch normalization normalizes a layer's net inputs; this layer has no weights (weights = false): "
            "normalize the layer before it",
            f"{where}.batch_norm",
        )
    if layer.rule.vector:
        raise SpecError(
            f"batch normalization feeds each neuron's activation on its own; {layer.activation!r} is not "
            "element-wise (normalize a hidden layer, or use another output activation)",
            f"{where}.batch_norm",
        )
    if layer.skip is not None:
        raise SpecError("batch normalization on a layer with a skip connection is not supported", f"{where}.skip")
    n = layer.size
    vec = {}
    for k, default in (("gamma", 1.0), ("beta", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
        if k in raw:
            v = _vector(raw[k], f"{where}.{k}")
            if v.size != n:
                raise SpecError(f"{v.size} values for {n} neurons; give one per neuron", f"{where}.{k}")
        else:
            v = np.full(n, default)
        vec[k] = v
    if np.any(vec["running_var"] < 0):
        raise SpecError("a running variance must be >= 0", f"{where}.running_var")
    eps = _number(raw.get("epsilon", BN_EPSILON), f"{where}.epsilon")
    if not eps > 0:
        raise SpecError(f"epsilon must be > 0 (it keeps the square root away from 0), got {eps!r}", f"{where}.epsilon")
    mom = _number(raw.get("momentum", BN_MOMENTUM), f"{where}.momentum")
    if not 0 <= mom <= 1:
        raise SpecError(f"momentum must be in [0, 1], got {mom!r}", f"{where}.momentum")
    return replace(layer, batch_norm=True, epsilon=eps, momentum=mom, **vec)


def read(raw: Mapping, ctx: LayerContext) -> Layer:
    """A dense [[layers]] table, validated: its neurons, activation, weights and bias (``_layer``), then its
    residual connection and batch normalization."""
    where = ctx.where
    _no_unknown(raw, KEYS | {"kind"}, where, "")
    layer = _layer(raw, ctx.li, ctx.hidden, ctx.fan_in, where, ctx.notation, ctx.total)
    layer = _skip(raw, layer, ctx.li, list(ctx.earlier), where)
    return _batch_norm(raw, layer, where)


def _layer(raw: Mapping, li: int, hidden: int, fan_in: int, where: str, notation, total: int) -> Layer:
    is_output = li == hidden
    if "neurons" in raw:
        size = _count(raw["neurons"], f"{where}.neurons")
        if "size" in raw and raw["size"] != size:
            raise SpecError(
                f"size = {_show(raw['size'])} but {size} neuron name(s) are given; give the names or the size, "
                "or make them agree",
                f"{where}.size",
            )
    elif "size" in raw:
        size = raw["size"]
        if isinstance(size, bool) or not isinstance(size, int):
            raise SpecError(f"size must be a whole number, got {size!r}", f"{where}.size")
    else:
        raise SpecError("give the layer's neurons (names) or its size", where)
    if size < 1:
        raise SpecError("a layer needs at least one neuron", f"{where}.neurons")
    if size > MAX_WIDTH:
        raise SpecError(f"{size} neurons; a layer may have at most {MAX_WIDTH}", f"{where}.neurons")
    count = total + (size * fan_in + size if raw.get("weights") is not False else 0)  # weightless: none
    if count > MAX_PARAMETERS:
        raise SpecError(
            f"the network would have more than {MAX_PARAMETERS} parameters (the limit for a "
            "walk-through); use a smaller network",
            where,
        )
    if is_output:
        default_names = [f"o{j + 1}" for j in range(size)]
    elif hidden == 1:
        default_names = [f"h{j + 1}" for j in range(size)]
    else:
        default_names = [f"h{li + 1}_{j + 1}" for j in range(size)]
    neurons = _labels(raw.get("neurons"), size, f"{where}.neurons", default=default_names)

    act_name, act, params = _named_rule(
        raw.get("activation"), "activation", rules.ACTIVATIONS, rules.activation, f"{where}.activation"
    )
    if act.vector and size < 2:
        raise SpecError("softmax needs at least two output neurons", f"{where}.activation")

    if raw.get("weights") is False:
        return _weightless(raw, act_name, act, params, neurons, size, fan_in, is_output, li, where, notation)
    if raw.get("weights") is True:
        raise SpecError(
            "weights = true is not a form: give the weights (one row per neuron), or weights = false for a layer "
            "without weights",
            f"{where}.weights",
        )
    weights = _matrix(raw.get("weights"), size, fan_in, f"{where}.weights")
    dw = [[_default_weight_label(li, j, i, size, fan_in) for i in range(fan_in)] for j in range(size)]
    wl = raw.get("weight_labels")
    if wl is None:
        weight_labels = dw
    else:
        if not isinstance(wl, list) or len(wl) != size:
            raise SpecError(
                f"weight_labels needs {size} rows (one per neuron) of {fan_in} labels", f"{where}.weight_labels"
            )
        weight_labels = [_labels(row, fan_in, f"{where}.weight_labels[{j}]") for j, row in enumerate(wl)]

    if "bias" in raw and "biases" in raw:
        raise SpecError("give either bias (one shared by the layer) or biases (one per neuron), not both", where)
    has_bias = True
    off = next((k for k in ("bias", "biases") if raw.get(k) is False), "")
    if off:  # bias = false: the layer has no bias at all
        for k in ("bias_label", "bias_labels"):
            if k in raw:
                raise SpecError(f"{k} names a bias, but {off} = false says the layer has none", f"{where}.{k}")
        biases, shared, bl, has_bias = np.zeros(size), False, [], False
    elif raw.get("bias") is True or raw.get("biases") is True:
        k = "bias" if "bias" in raw else "biases"
        raise SpecError(
            f"{k} = true is not a form: give the bias's value (a number), or {k} = false for a layer without bias",
            f"{where}.{k}",
        )
    elif "biases" in raw:
        biases = _vector(raw["biases"], f"{where}.biases")
        if biases.size != size:
            raise SpecError(f"{biases.size} biases for {size} neurons; give one per neuron", f"{where}.biases")
        shared = False
        bl = _labels(
            raw.get("bias_labels"),
            size,
            f"{where}.bias_labels",
            default=[_default_bias_label(li, j, size) for j in range(size)],
        )
        if "bias_label" in raw:
            raise SpecError("bias_label goes with a shared bias; use bias_labels with biases", f"{where}.bias_label")
    else:
        b = _number(raw.get("bias", 0.0), f"{where}.bias")
        biases = np.full(size, b)
        shared = True
        label = _text(raw.get("bias_label", f"b{li + 1}"), f"{where}.bias_label", limit=MAX_LABEL, label=True)
        bl = [label] * size
        if "bias_labels" in raw:
            raise SpecError(
                "bias_labels goes with biases (one per neuron); use bias_label with a shared bias",
                f"{where}.bias_labels",
            )

    net_names, out_names, name = _names(raw, neurons, size, is_output, li, where, notation)
    return Layer(
        neurons=tuple(neurons),
        activation=act_name,
        activation_params=act.params(params),
        weights=weights,
        biases=biases,
        shared_bias=shared,
        weight_labels=tuple(tuple(r) for r in weight_labels),
        bias_labels=tuple(bl),
        net_names=tuple(net_names),
        out_names=tuple(out_names),
        name=name,
        has_bias=has_bias,
    )


def _names(raw: Mapping, neurons, size: int, is_output: bool, li: int, where: str, notation) -> tuple:
    net_names = _labels(
        raw.get("net_names"),
        size,
        f"{where}.net_names",
        default=[notation["net"].replace("{neuron}", n) for n in neurons],
    )
    out_names = _labels(
        raw.get("out_names"),
        size,
        f"{where}.out_names",
        default=[notation["out"].replace("{neuron}", n) for n in neurons],
    )
    name = _text(raw.get("name", "output" if is_output else f"hidden {li + 1}"), f"{where}.name", limit=MAX_LABEL)
    return net_names, out_names, name


def _weightless(raw: Mapping, act_name, act, params, neurons, size, fan_in, is_output, li, where, notation) -> Layer:
    """``weights = false``: a layer of an activation alone (a softmax over given scores), whose net inputs ARE
    the previous layer's values (or the inputs), one to one: no weights, no bias, nothing to update."""
    if size != fan_in:
        raise SpecError(
            f"a layer without weights passes each of its {fan_in} input(s) to one neuron, so it needs {fan_in} "
            f"neuron(s), not {size}",
            f"{where}.neurons" if "neurons" in raw else f"{where}.size",
        )
    for k in ("weight_labels", "bias", "biases", "bias_label", "bias_labels", "skip"):
        if k in raw:
            raise SpecError(
                f"weights = false: the layer has no weights and no bias, so {k} has no meaning here; leave it out",
                f"{where}.{k}",
            )
    net_names, out_names, name = _names(raw, neurons, size, is_output, li, where, notation)
    return Layer(
        neurons=tuple(neurons),
        activation=act_name,
        activation_params=act.params(params),
        weights=np.zeros((size, 0)),
        biases=np.zeros(size),
        shared_bias=False,
        weight_labels=((),) * size,
        bias_labels=(),
        net_names=tuple(net_names),
        out_names=tuple(out_names),
        name=name,
        weightless=True,
        has_bias=False,
    )


def _default_weight_label(li: int, j: int, i: int, size: int, fan_in: int) -> str:
    if size < 10 and fan_in < 10:
        return f"w{li + 1}_{j + 1}{i + 1}"
    return f"w{li + 1}_{j + 1}.{i + 1}"


def _default_bias_label(li: int, j: int, size: int) -> str:
    return f"b{li + 1}_{j + 1}"


def parameters(layer: Layer) -> int:
    """The weights, the biases (one when shared), and gamma and beta of a batch-normalized layer."""
    return layer.weights.size + layer.bias_count + 2 * layer.size * layer.batch_norm


# -- the numeric forward and backward ---------------------------------------------------------------------


def np_net(layer: Layer, W: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """net = W a + b; without weights (``weights = false``) net_j = a_j."""
    return a.copy() if layer.weightless else W @ a + b


def np_input_jacobian(layer: Layer, W: np.ndarray, a_in: np.ndarray, *_) -> np.ndarray:
    """d net_k / d a_j: the weights, or the identity where the layer has none (net_k = a_k)."""
    return np.eye(layer.size) if layer.weightless else W


def np_weight_grad(layer: Layer, delta: np.ndarray, a_in: np.ndarray, *_) -> np.ndarray:
    """dE/dw_ji = delta_j a_i (none without weights)."""
    return np.zeros((layer.size, 0)) if layer.weightless else delta[:, None] * a_in[None, :]


def np_bias_grad(layer: Layer, delta: np.ndarray, R, *_) -> np.ndarray:
    """dE/db_j = delta_j; a shared bias gathers every neuron's delta; none without a bias."""
    if not layer.has_bias:
        return np.zeros(0)  # no bias parameter: nothing to differentiate or update
    return R.array(np.array([delta.sum()])) if layer.shared_bias else delta.copy()


# -- the SymPy local forms ----------------------------------------------------------------------------------


def sym_net(P, n_in: int, bias: bool = True):
    """net = w_1 a_1 + ... + w_n a_n + b * 1 over placeholders (w_1, a_1, ..., w_n, a_n, b), in the source's
    order (unevaluated, so it prints as written); without ``bias`` the same sum without its last term."""
    import sympy as sp  # only the symbolic engine calls this: reading a spec does not import SymPy

    terms = [sp.Mul(P[2 * i], P[2 * i + 1], evaluate=False) for i in range(n_in)]
    if bias:
        terms.append(sp.Mul(P[2 * n_in], sp.Integer(1), evaluate=False))
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


def net_args(layer: Layer, j: int, wkeys, bkeys, a_keys) -> list:
    """The quantities sym_net of neuron j binds, in its placeholders' order."""
    if layer.weightless:
        return [a_keys[j]]
    return [k for i in range(len(a_keys)) for k in (wkeys[j][i], a_keys[i])] + ([bkeys[j]] if layer.has_bias else [])


KIND = LayerKind(
    name="dense",
    summary="fully connected: net = W a + b, out = f(net), with batch normalization and residual connections",
    keys=KEYS,
    read=read,
    parameters=parameters,
    np_net=np_net,
    np_input_jacobian=np_input_jacobian,
    np_weight_grad=np_weight_grad,
    np_bias_grad=np_bias_grad,
    sym_net=sym_net,
    net_args=net_args,
    records=("NeuronForward", "NeuronBackward", "ParamStep", "BatchNormLayer"),
    template="walkthrough",
)
