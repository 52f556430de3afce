"""Networks from other tools (NumPy weight arrays, a PyTorch ``nn.Sequential``) and a check against torch autograd.

Every network is built through :func:`tutor.spec.from_mapping`, so a network from NumPy or PyTorch is
validated exactly like a spec file. PyTorch is optional and imported only by the functions that need it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from . import rules
from .errors import TutorError
from .spec import Network, from_mapping

LAYOUTS = ("out_in", "in_out")
LAYOUT_HELP = "'out_in' (W has one row per neuron: net = W @ a) or 'in_out' (one column per neuron: net = a @ W)"
# One-hot targets may be given as the true class's index, as torch's CrossEntropyLoss takes them.
_CLASS_INDEX_LOSSES = ("categorical_cross_entropy", "multiclass_hinge", "hinge")
FRAMEWORK_TOLERANCE = 1e-9


# -- input arrays -----------------------------------------------------------------------------------------


def _floats(value: Any, where: str, ndim: int) -> np.ndarray:
    """``value`` as a float64 array of ``ndim`` dimensions with finite entries, or a TutorError naming the place.

    Only numbers count: strings and booleans, which NumPy would convert, are refused as the spec refuses them.
    """
    if hasattr(value, "detach"):  # a torch tensor, which may require grad or live on another device
        value = value.detach().cpu().double().numpy()
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        raw = None
    if raw is None or raw.dtype.kind not in "iuf":
        shape = {0: "a number", 1: "a list of numbers", 2: "a 2-D array of numbers"}[ndim]
        raise TutorError(f"expected {shape}, got {_show(value)}", where)
    if raw.ndim != ndim:
        shape = {0: "a number", 1: "a 1-D array (a list of numbers)", 2: "a 2-D array"}[ndim]
        raise TutorError(f"expected {shape}, got an array of shape {raw.shape}", where)
    arr = raw.astype(float)
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        at = "".join(f"[{i}]" for i in bad[0])
        raise TutorError(f"expected finite numbers, got {float(arr[tuple(bad[0])])!r}", where + at)
    return arr


def _vector(value: Any, where: str) -> np.ndarray:
    """A 1-D vector; a (1, n) or (n, 1) array (a batch of one, a column) is taken as its n numbers."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    if isinstance(value, np.ndarray) and value.ndim == 2 and 1 in value.shape:
        value = value.reshape(-1)
    return _floats(value, where, 1)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_hot_or_vector(y: Any, size: int, loss: str, where: str) -> np.ndarray:
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool) and loss in _CLASS_INDEX_LOSSES:
        if not 0 <= int(y) < size:
            raise TutorError(f"class index {int(y)} is out of range for {size} output neurons (0 to {size - 1})", where)
        return np.eye(size)[int(y)]
    t = _vector(y, where)
    if t.size != size:
        hint = f", or the true class's index (0 to {size - 1})" if loss in _CLASS_INDEX_LOSSES else ""
        raise TutorError(f"{t.size} targets for {size} output neurons; give one per output neuron{hint}", where)
    return t


# -- from NumPy -------------------------------------------------------------------------------------------


def from_numpy(weights: Sequence[Any], biases: Sequence[Any] | None, x: Any, y: Any, *,
               activations: Any = "sigmoid", loss: str = "half_sse", learning_rate: float = 0.5,
               layout: str = "out_in", update_biases: bool | None = None, title: str = "NumPy network") -> Network:  # fmt: skip
    """A network from weight arrays, one per layer, and one training example ``x``, ``y``.

    ``layout`` says how each weight array is laid out: ``"out_in"`` (shape out x in, one row per neuron,
    ``net = W @ a``; the spec's and PyTorch's layout) or ``"in_out"`` (shape in x out, ``net = a @ W``, as in
    ``x @ W`` code). ``biases`` has one entry per layer: an array with one bias per neuron, a number (one
    bias shared by the layer, as in Mazur's network) or None (no bias: a fixed 0); ``biases=None`` means no
    biases at all. Biases are updated when every layer has its own (``update_biases`` overrides that).
    ``activations`` is one activation for every layer or a list with one per layer, each a name or a table
    such as ``{"name": "leaky_relu", "slope": 0.1}``. ``y`` may be the true class's index for the
    categorical cross-entropy and hinge losses.

    Mazur's network, with the weights of each layer as out x in arrays and one shared bias per layer:

    >>> import numpy as np
    >>> net = from_numpy([np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([[0.40, 0.45], [0.50, 0.55]])],
    ...                  [0.35, 0.60], x=[0.05, 0.10], y=[0.01, 0.99], activations="sigmoid",
    ...                  loss="half_sse", learning_rate=0.5)
    >>> from tutor.symbolic import explain_step
    >>> round(explain_step(net).value("w2_11+"), 8)          # Mazur's w5+
    0.35891648
    >>> from_numpy([np.ones((2, 3))], None, x=[1.0, 2.0], y=[0.0, 1.0, 0.0], layout="in_out").shape
    (2, 3)
    """
    return _build("from_numpy()", weights, biases, x, y, activations=activations, loss=loss,
                  learning_rate=learning_rate, layout=layout, update_biases=update_biases, title=title)  # fmt: skip


def _build(where: str, weights: Sequence[Any], biases: Sequence[Any] | None, x: Any, y: Any, *, activations: Any,
           loss: str, learning_rate: float, layout: str, update_biases: bool | None, title: str,
           description: str = "") -> Network:  # fmt: skip
    if layout not in LAYOUTS:
        raise TutorError(f"unknown layout {layout!r}; allowed: {LAYOUT_HELP}", f"{where}: layout")
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
        raise TutorError("give a list of weight arrays, one per layer (the last one is the output layer)", f"{where}: weights")
    n = len(weights)
    if not isinstance(loss, str):
        raise TutorError(f"give the loss as a name; allowed: {', '.join(rules.LOSSES)}", f"{where}: loss")
    rules.loss(loss, f"{where}: loss")
    inputs = _vector(x, f"{where}: x")
    if inputs.size == 0:
        raise TutorError("the network needs at least one input", f"{where}: x")

    if biases is None:
        bias_list: list[Any] = [None] * n
    elif isinstance(biases, np.ndarray) or not isinstance(biases, Sequence) or len(biases) != n:
        raise TutorError(f"give one bias entry per layer ({n}): an array with one bias per neuron, a number "
                         "(one bias shared by the layer) or None", f"{where}: biases")  # fmt: skip
    else:
        bias_list = list(biases)

    if isinstance(activations, (str, Mapping)):
        acts = [activations] * n
    elif isinstance(activations, Sequence) and len(activations) == n:
        acts = list(activations)
    else:
        raise TutorError(f"give one activation for every layer, or a list with one per layer ({n})", f"{where}: activations")

    layers = []
    fan_in, before = inputs.size, "x"
    for li, (w, b, act) in enumerate(zip(weights, bias_list, acts)):
        W = _floats(w, f"{where}: weights[{li}]", 2)
        W = _oriented(W, fan_in, layout, f"{where}: weights[{li}]", before)
        layer: dict[str, Any] = {"size": W.shape[0], "activation": _activation(act, f"{where}: activations[{li}]"),
                                 "weights": W.tolist()}  # fmt: skip
        if b is None:
            layer["bias"] = 0.0
        elif np.ndim(b) == 0 and not hasattr(b, "detach"):
            layer["bias"] = float(_floats(b, f"{where}: biases[{li}]", 0))
        else:
            bv = _vector(b, f"{where}: biases[{li}]")
            if bv.size != W.shape[0]:
                raise TutorError(f"{bv.size} biases for {W.shape[0]} neurons; give one per neuron, or one number "
                                 "shared by the layer", f"{where}: biases[{li}]")  # fmt: skip
            layer["biases"] = bv.tolist()
        layers.append(layer)
        fan_in, before = W.shape[0], f"weights[{li}]"
    targets = _one_hot_or_vector(y, fan_in, loss, f"{where}: y")
    if update_biases is None:
        update_biases = all(b is not None for b in bias_list)
    mapping = {
        "title": title,
        "description": description,
        "inputs": {"values": inputs.tolist()},
        "layers": layers,
        "loss": {"name": loss, "targets": targets.tolist()},
        "training": {"learning_rate": learning_rate, "update_biases": bool(update_biases)},
    }
    return from_mapping(mapping, where=where)


def _oriented(W: np.ndarray, fan_in: int, layout: str, where: str, before: str) -> np.ndarray:
    """W as out x in; a shape that fits only the other layout says so."""
    cols = W.shape[1] if layout == "out_in" else W.shape[0]
    if cols == fan_in and W.size:
        return W if layout == "out_in" else W.T
    axis = "columns" if layout == "out_in" else "rows"
    gives = "x gives" if before == "x" else f"{before} gives"
    other = "in_out" if layout == "out_in" else "out_in"
    hint = f"; it fits layout={other!r}" if W.size and (W.shape[0] if layout == "out_in" else W.shape[1]) == fan_in else ""
    raise TutorError(f"shape {W.shape} does not fit: with layout={layout!r} it needs {fan_in} {axis}, one per input "
                     f"of the layer ({gives} {fan_in}){hint}", where)  # fmt: skip


def _activation(act: Any, where: str) -> Any:
    name = act.get("name") if isinstance(act, Mapping) else act
    if not isinstance(name, str):
        raise TutorError(f"give the activation as a name or a table with a name; allowed: {', '.join(rules.ACTIVATIONS)}", where)
    rules.activation(name, where)
    return dict(act) if isinstance(act, Mapping) else act


# -- a Network back to its mapping, to change its example ----------------------------------------------------


def to_mapping(net: Network) -> dict[str, Any]:
    """The keys of the spec format that build ``net`` again (``tutor.spec.from_mapping(to_mapping(net))``).

    >>> from tutor.spec import from_mapping, load
    >>> net = load("mazur")
    >>> again = from_mapping(to_mapping(net))
    >>> again.layers[1].weight_labels == net.layers[1].weight_labels, again.targets.tolist()
    (True, [0.01, 0.99])
    """
    layers = []
    for layer in net.layers:
        params = dict(layer.activation_params)
        entry: dict[str, Any] = {
            "name": layer.name,
            "neurons": list(layer.neurons),
            "activation": {"name": layer.activation, **params} if params else layer.activation,
            "weights": layer.weights.tolist(),
            "weight_labels": [list(r) for r in layer.weight_labels],
            "net_names": list(layer.net_names),
            "out_names": list(layer.out_names),
        }
        if layer.shared_bias:
            entry.update(bias=float(layer.biases[0]), bias_label=layer.bias_labels[0])
        else:
            entry.update(biases=layer.biases.tolist(), bias_labels=list(layer.bias_labels))
        layers.append(entry)
    c = net.conventions
    data: dict[str, Any] = {
        "title": net.title,
        "description": net.description,
        "source": net.source,
        "inputs": {"names": list(net.input_names)},
        "layers": layers,
        "loss": {"name": net.loss, **dict(net.loss_params)},
        "training": {"learning_rate": net.learning_rate, "update_biases": net.update_biases,
                     **_training_mapping(net.training)},  # fmt: skip
        "conventions": {"rounding": c.rounding, "digits": c.digits, "update_order": c.update_order},
        "notation": dict(net.notation),
    }
    if len(net.examples) > 1:
        data["examples"] = [{"inputs": x.tolist(), "targets": t.tolist()} for x, t in net.examples]
    else:
        data["inputs"]["values"] = net.inputs.tolist()
        data["loss"]["targets"] = net.targets.tolist()
    return data


def _training_mapping(t: Any) -> dict[str, Any]:
    """The ``[training]`` keys beyond the learning rate: only those that differ from plain gradient descent."""
    out: dict[str, Any] = {}
    if t.optimizer != "sgd" or t.optimizer_params:
        out["optimizer"] = {"name": t.optimizer, **dict(t.optimizer_params)}
    if t.batch is not None:
        out["batch"] = t.batch
    if t.decay:
        out["decay"] = t.decay
    if t.regularization:
        out["regularization"] = {"kind": t.regularization, "lambda": t.reg_lambda, "biases": t.reg_biases}
    if t.dropout_rate or t.dropout_mask is not None:
        out["dropout"] = {"rate": t.dropout_rate, "layers": list(t.dropout_layers), "inverted": t.dropout_inverted,
                          "seed": t.dropout_seed}  # fmt: skip
        if t.dropout_mask is not None:
            out["dropout"]["mask"] = [[int(v) for v in row] for row in t.dropout_mask]
    return out


def with_example(net: Network, x: Any = None, y: Any = None, *, loss: str | None = None,
                 learning_rate: float | None = None, where: str = "with_example()") -> Network:  # fmt: skip
    """The same network with other inputs ``x``, targets ``y``, loss or learning rate, validated again.

    >>> from tutor.spec import load
    >>> with_example(load("mazur"), x=[1.0, 0.0]).inputs.tolist()
    [1.0, 0.0]
    """
    data = to_mapping(net)
    if x is not None or y is not None:
        # The given example replaces the spec's examples: the step is explained on it alone.
        data.pop("examples", None)
        data["inputs"]["values"] = net.inputs.tolist()
        data["loss"]["targets"] = net.targets.tolist()
    if x is not None:
        values = _vector(x, f"{where}: x")
        if values.size != len(net.input_names):
            raise TutorError(f"{values.size} inputs for a network with {len(net.input_names)} "
                             f"({', '.join(net.input_names)})", f"{where}: x")  # fmt: skip
        data["inputs"]["values"] = values.tolist()
    if loss is not None:
        if not isinstance(loss, str):
            raise TutorError(f"give the loss as a name; allowed: {', '.join(rules.LOSSES)}", f"{where}: loss")
        rules.loss(loss, f"{where}: loss")
        data["loss"] = {"name": loss, **{k: v for k, v in data["loss"].items() if k == "targets"}}
    if y is not None:
        data["loss"]["targets"] = _one_hot_or_vector(y, net.output_layer.size, data["loss"]["name"], f"{where}: y").tolist()
    if learning_rate is not None:
        data["training"]["learning_rate"] = learning_rate
    return from_mapping(data, where=where, name=net.name)


# -- from PyTorch -----------------------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError:
        raise TutorError("PyTorch is not installed; install it (pip install torch) to read or check a torch model") from None
    return torch


SUPPORTED_TORCH = ("Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus (beta=1, threshold=20)",
                   "Identity", "Softmax (dim=-1, after the last Linear)")  # fmt: skip


@dataclass
class _Stage:
    """One tutor layer of a torch model: a Linear module and the activation module after it, if any."""

    index: int  # the Linear's position in the Sequential
    linear: Any
    activation: Any = "identity"  # as the spec gives it: a name or a table
    act_index: int | None = None


def _describe(module: Any) -> str:
    name = type(module).__name__
    if name == "Linear":
        return f"Linear({module.in_features}, {module.out_features}{'' if module.bias is not None else ', bias=False'})"
    if name == "LeakyReLU":
        return f"LeakyReLU({module.negative_slope:g})"
    if name == "ELU":
        return f"ELU({module.alpha:g})"
    return name


def _torch_activation(m: Any, i: int, where: str) -> Any:
    """The spec activation of a supported torch activation module; None for nn.Identity."""
    nn = _torch().nn
    kind = type(m)
    simple = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu"}
    if kind in simple:
        return simple[kind]
    if kind is nn.Identity:
        return None
    if kind is nn.LeakyReLU:
        return {"name": "leaky_relu", "slope": float(m.negative_slope)}
    if kind is nn.ELU:
        return {"name": "elu", "alpha": float(m.alpha)}
    if kind is nn.Softplus:
        if m.beta != 1 or m.threshold != 20:
            raise TutorError(f"layer {i} (Softplus(beta={m.beta:g}, threshold={m.threshold:g})) is not supported: "
                             "only the default beta=1, threshold=20 (softplus = ln(1 + e^x))", where)  # fmt: skip
        return "softplus"
    if kind is nn.Softmax:
        if m.dim not in (-1, 1):
            raise TutorError(f"layer {i} (Softmax(dim={m.dim})) is not supported: only a softmax over the features, "
                             "dim=-1", where)  # fmt: skip
        return "softmax"
    raise TutorError(f"layer {i} ({type(m).__name__}) is not supported; supported: {', '.join(SUPPORTED_TORCH)}", where)


def torch_stages(model: Any, where: str = "from_torch()") -> list[_Stage]:
    """The tutor layers of an ``nn.Sequential`` (or one ``nn.Linear``); unsupported modules are named."""
    torch = _torch()
    nn = torch.nn
    if type(model) is nn.Linear:
        modules = [model]
    elif isinstance(model, nn.Sequential):
        modules = list(model)
    else:
        raise TutorError(f"expected an nn.Sequential of Linear layers and activations, got {type(model).__name__}", where)
    stages: list[_Stage] = []
    for i, m in enumerate(modules):
        if type(m) is nn.Linear:
            if stages and m.in_features != stages[-1].linear.out_features:
                raise TutorError(f"layer {i} ({_describe(m)}) takes {m.in_features} inputs, but layer "
                                 f"{stages[-1].index} gives {stages[-1].linear.out_features}", where)  # fmt: skip
            stages.append(_Stage(i, m))
            continue
        act = _torch_activation(m, i, where)
        if act is None:
            continue
        if not stages:
            raise TutorError(f"layer {i} ({_describe(m)}) comes before the first Linear layer; an activation "
                             "follows a Linear layer", where)  # fmt: skip
        if stages[-1].act_index is not None:
            prev = stages[-1].act_index
            raise TutorError(f"layer {i} ({_describe(m)}) follows another activation (layer {prev}, "
                             f"{_describe(modules[prev])}); one activation per Linear layer is supported", where)  # fmt: skip
        stages[-1].activation, stages[-1].act_index = act, i
    if not stages:
        raise TutorError("the model has no Linear layer", where)
    for s in stages[:-1]:
        if s.activation == "softmax":
            raise TutorError(f"layer {s.act_index} (Softmax) is supported after the last Linear layer only", where)
    return stages


def from_torch(model: Any, x: Any, y: Any, *, loss: str = "half_sse", learning_rate: float = 0.5,
               title: str | None = None) -> Network:  # fmt: skip
    """A network from a PyTorch ``nn.Sequential`` of ``Linear`` layers and activations, with one example.

    The weights are read as float64 (``W`` of each ``nn.Linear`` is already out x in). Supported modules:
    Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus (beta=1, threshold=20), Identity and Softmax
    (dim=-1, after the last Linear); a Linear without an activation is linear (identity). ``loss`` is a tutor
    loss name: ``"mse"`` is ``nn.MSELoss()`` (the mean over the outputs), ``"half_sse"`` is half the sum of
    squares, ``"binary_cross_entropy"`` is ``nn.BCELoss()``, and ``"categorical_cross_entropy"`` after a
    Softmax is ``nn.CrossEntropyLoss()`` on the logits before it. A Linear without bias gets a fixed zero
    bias; biases are updated when every Linear has its own. PyTorch is imported only here.

    Needs PyTorch (the example is skipped where it is not installed):

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    >>> net = from_torch(model, x=[0.5, -1.0], y=[0.25], loss="mse", learning_rate=0.1)
    >>> net.shape, [layer.activation for layer in net.layers]
    ((2, 2, 1), ['tanh', 'identity'])
    """
    where = "from_torch()"
    stages = torch_stages(model, where)
    weights = [s.linear.weight.detach().cpu().double().numpy() for s in stages]
    biases = [None if s.linear.bias is None else s.linear.bias.detach().cpu().double().numpy() for s in stages]
    shape = "-".join(str(v) for v in [stages[0].linear.in_features] + [s.linear.out_features for s in stages])
    modules = [model] if type(model) is _torch().nn.Linear else list(model)
    description = "PyTorch modules: " + ", ".join(_describe(m) for m in modules)
    return _build(where, weights, biases, x, y, activations=[s.activation for s in stages], loss=loss,
                  learning_rate=learning_rate, layout="out_in", update_biases=None,
                  title=title or f"PyTorch {type(model).__name__} {shape}", description=description[:2000])  # fmt: skip


# -- the check against torch autograd ---------------------------------------------------------------------


@dataclass(frozen=True)
class FrameworkRow:
    """One quantity as the tutor computed it and as the framework did."""

    key: str
    kind: str  # "net" | "out" | "loss" | "gradient"
    tutor: float
    framework: float

    @property
    def rel(self) -> float:
        return abs(self.tutor - self.framework) / max(abs(self.tutor), abs(self.framework), 1e-12)


@dataclass(frozen=True)
class FrameworkCheck:
    """The walk-through's forward pass, loss and every gradient against another framework's (torch autograd)."""

    framework: str
    rows: list[FrameworkRow]
    tolerance: float = FRAMEWORK_TOLERANCE
    notes: list[str] = field(default_factory=list)

    @property
    def max_rel(self) -> float:
        return max((r.rel for r in self.rows), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_rel <= self.tolerance

    def gradients(self) -> list[FrameworkRow]:
        return [r for r in self.rows if r.kind == "gradient"]


def torch_gradient_check(net: Network, model: Any, walk: Any = None) -> FrameworkCheck:
    """Every gradient, the outputs and the loss of ``net``'s step against PyTorch autograd in float64.

    ``model`` must be the network ``net`` was made from (same layers, activations and parameter values, as
    :func:`from_torch` reads them). The step is compared in exact arithmetic and the standard update order,
    where the gradient is the true one; ``walk`` is reused when it is such a walk-through.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ELU(), torch.nn.Linear(3, 1), torch.nn.Sigmoid())
    >>> net = from_torch(model, x=[0.3, 0.7], y=[1.0], loss="binary_cross_entropy")
    >>> report = torch_gradient_check(net, model)
    >>> report.ok, len(report.gradients()) == net.parameter_count
    (True, True)
    """
    torch = _torch()
    where = "torch_gradient_check()"
    stages = torch_stages(model, where)
    _same_network(net, stages, where)
    if walk is None or walk.conventions.rounding != "exact" or walk.conventions.update_order != "standard" or not walk.params:
        from .symbolic import explain_step

        walk = explain_step(net.with_conventions(rounding="exact", update_order="standard"))
    notes = []
    if net.conventions.rounding != "exact" or net.conventions.update_order != "standard":
        notes.append("compared in exact arithmetic and the standard order, where the gradient is the true one")

    import copy

    m64 = copy.deepcopy(model).double().cpu()
    modules = [m64] if type(m64) is torch.nn.Linear else list(m64)
    linears = [modules[s.index] for s in stages]
    for p in m64.parameters():
        p.grad = None
    nets, outs = [], []
    by_linear = {s.index: li for li, s in enumerate(stages)}
    by_act = {s.act_index: li for li, s in enumerate(stages) if s.act_index is not None}
    with torch.enable_grad():
        h = torch.tensor(net.inputs, dtype=torch.float64).unsqueeze(0)
        for i, m in enumerate(modules):
            h = m(h)
            if i in by_linear:
                nets.append(h)
                outs.append(h)  # a Linear with no activation after it: out = net
            elif i in by_act:
                outs[by_act[i]] = h
        loss = _torch_loss(torch, net, nets[-1], outs[-1], stages[-1].activation == "softmax")
        loss.backward()

    rows: list[FrameworkRow] = []
    for li, row in enumerate(walk.forward):
        for j, n in enumerate(row):
            rows.append(FrameworkRow(n.net, "net", walk.value(n.net), float(nets[li][0, j].detach())))
            rows.append(FrameworkRow(n.out, "out", walk.value(n.out), float(outs[li][0, j].detach())))
    rows.append(FrameworkRow(walk.loss, "loss", walk.value(walk.loss), float(loss.detach())))
    where_is = _parameter_places(net)
    for p in walk.params:
        li, j, i = where_is[p.label]
        lin = linears[li]
        if i is not None:
            g = float(lin.weight.grad[j, i])
        elif lin.bias is None:
            notes.append(f"{p.label} is a fixed zero bias (the Linear layer has none): PyTorch has no gradient for it")
            continue
        elif j is None:  # one bias shared by the layer: the sum over its neurons
            g = float(lin.bias.grad.sum())
        else:
            g = float(lin.bias.grad[j])
        rows.append(FrameworkRow(p.gradient, "gradient", walk.value(p.gradient), g))
    return FrameworkCheck(f"PyTorch {torch.__version__} autograd, float64", rows, notes=notes)


def _parameter_places(net: Network) -> dict[str, tuple[int, int | None, int | None]]:
    """Each parameter's (layer, neuron, input); neuron None for a shared bias, input None for a bias."""
    out: dict[str, tuple[int, int | None, int | None]] = {}
    for li, layer in enumerate(net.layers):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                out[w] = (li, j, i)
        for j, b in enumerate(layer.bias_labels):
            out[b] = (li, None if layer.shared_bias else j, None)
    return out


def _same_network(net: Network, stages: list[_Stage], where: str) -> None:
    """The model must be the network: same layers, activations and parameters (as float64)."""
    if len(stages) != len(net.layers):
        raise TutorError(f"the model has {len(stages)} Linear layers, the network {len(net.layers)}", where)
    for li, (s, layer) in enumerate(zip(stages, net.layers)):
        act = s.activation if isinstance(s.activation, str) else s.activation["name"]
        params = {} if isinstance(s.activation, str) else {k: v for k, v in s.activation.items() if k != "name"}
        if act != layer.activation or any(layer.activation_params.get(k) != v for k, v in params.items()):
            raise TutorError(f"layer {s.index} of the model is followed by {act!r} {params or ''}, but layers[{li}] of "
                             f"the network uses {layer.activation!r} {dict(layer.activation_params) or ''}", where)  # fmt: skip
        W = s.linear.weight.detach().cpu().double().numpy()
        if W.shape != layer.weights.shape or not np.array_equal(W, layer.weights):
            raise TutorError(f"the weights of layer {s.index} ({_describe(s.linear)}) differ from layers[{li}] of the "
                             "network; make the network with from_torch(model, ...) or build the model in float64 "
                             "with the network's values", where)  # fmt: skip
        b = np.zeros(layer.size) if s.linear.bias is None else s.linear.bias.detach().cpu().double().numpy()
        if not np.array_equal(b, layer.biases):
            raise TutorError(f"the biases of layer {s.index} ({_describe(s.linear)}) differ from layers[{li}] of the "
                             "network", where)  # fmt: skip


def _torch_loss(torch: Any, net: Network, logits: Any, out: Any, softmax_output: bool):
    """The network's loss on a batch of one, with torch's own functions where they mean the same."""
    F = torch.nn.functional
    t = torch.tensor(net.targets, dtype=torch.float64).unsqueeze(0)
    name = net.loss
    if name == "half_sse":
        return 0.5 * ((t - out) ** 2).sum()
    if name == "mse":
        return F.mse_loss(out, t)  # the mean over the outputs: a batch of one
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy(out, t)
    if name == "categorical_cross_entropy":
        # After a softmax, torch's own cross-entropy on the logits (probability targets); otherwise -sum t ln o.
        return F.cross_entropy(logits, t) if softmax_output else -(t * torch.log(out)).sum()
    if name in ("multiclass_hinge", "hinge"):
        margin = net.loss_rule.params(net.loss_params)["margin"]
        cls = torch.tensor([int(np.argmax(net.targets))])
        # multi_margin_loss divides by the number of classes; the tutor's hinge is the plain sum.
        return F.multi_margin_loss(out, cls, margin=margin, reduction="sum") * out.shape[1]
    raise TutorError(f"loss {name!r} has no PyTorch counterpart here", where="torch_gradient_check()")  # pragma: no cover


def is_torch_module(obj: Any) -> bool:
    """True for a torch ``nn.Module``; never imports torch (an object of torch exists only once it is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


