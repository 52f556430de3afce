"""PyTorch interop: read an ``nn.Sequential`` of Linear layers and activations, and check the tutor against autograd."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..spec import rules
from ..spec.errors import TutorError
from ..spec.network import Network
from .numpy import FRAMEWORK_TOLERANCE, _build


def _torch():
    try:
        import torch
    except ImportError:
        raise TutorError(
            "PyTorch is not installed; install it (pip install torch) to read or check a torch model"
        ) from None
    return torch


SUPPORTED_TORCH = (
    "Linear",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softplus (beta=1, threshold=20)",
    "GELU (approximate='none')",
    "SiLU",
    "Hardtanh",
    "Identity",
    "Softmax (dim=-1, after the last Linear)",
    "LogSoftmax (dim=-1, after the last Linear, with loss 'nll')",
    "Dropout (after a hidden layer)",
    "BatchNorm1d (after a Linear: folded in eval mode, batch_norm in training mode)",
    "nested Sequential",
)
# What to change for a module the tutor cannot explain.
_HINTS = {
    "Conv1d": "a model over feature maps starts with its Conv, pooling or Flatten layers, then Linear layers",
    "Conv2d": "a model over feature maps starts with its Conv, pooling or Flatten layers, then Linear layers",
    "Flatten": "a model over feature maps starts with its Conv, pooling or Flatten layers, then Linear layers",
    "LayerNorm": "leave it out; BatchNorm1d in eval mode is read (folded into the Linear before it)",
}


@dataclass
class _Stage:
    """One tutor layer of a torch model: a Linear module and the activation module after it, if any."""

    index: int  # the Linear's position in the (flattened) Sequential
    linear: Any
    activation: Any = "identity"  # as the spec gives it: a name or a table
    act_index: int | None = None
    norm: Any = None  # a BatchNorm1d in eval mode after the Linear: folded into its weights and biases
    norm_index: int | None = None
    bn_train: Any = None  # a BatchNorm1d in training mode after the Linear: the layer's batch_norm
    dropout: Any = None  # an nn.Dropout after the layer's output
    dropout_index: int | None = None
    implicit_softmax: bool = False  # logits read with CrossEntropyLoss: softmax + cross-entropy, as PyTorch does

    def weights(self) -> np.ndarray:
        W = self.linear.weight.detach().cpu().double().numpy()
        if self.norm is None:
            return W
        return W * self._norm_scale()[:, None]

    def biases(self) -> np.ndarray | None:
        b = None if self.linear.bias is None else self.linear.bias.detach().cpu().double().numpy()
        if self.norm is None:
            return b
        n = self.norm
        mean = n.running_mean.detach().cpu().double().numpy()
        beta = n.bias.detach().cpu().double().numpy() if n.affine else 0.0
        return self._norm_scale() * ((0.0 if b is None else b) - mean) + beta

    def _norm_scale(self) -> np.ndarray:
        # eval-mode batch norm: y = gamma (z - running_mean) / sqrt(running_var + eps) + beta, a linear map
        n = self.norm
        var = n.running_var.detach().cpu().double().numpy()
        gamma = n.weight.detach().cpu().double().numpy() if n.affine else 1.0
        return gamma / np.sqrt(var + n.eps)


def _describe(module: Any) -> str:
    name = type(module).__name__
    if name == "Dropout":
        return f"Dropout(p={module.p:g})"
    if name == "BatchNorm1d":
        return f"BatchNorm1d({module.num_features})"
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
    if kind is nn.Identity:
        return None
    # the registry's rules without parameters, by the torch module that computes them (Sigmoid, GELU, ...)
    simple = {r.torch_name: name for name, r in rules.ACTIVATIONS.items() if r.torch_name and not r.defaults}
    if kind.__module__.startswith("torch.nn") and kind.__name__ in simple and kind.__name__ not in ("Softmax", "GELU"):
        return simple[kind.__name__]
    if kind is nn.GELU:
        if m.approximate != "none":
            raise TutorError(
                f"layer {i} (GELU(approximate={m.approximate!r})) is not supported: only the exact form, "
                "approximate='none' (x Phi(x), torch's default)",
                where,
            )
        return "gelu"
    if kind is nn.Hardtanh:
        return {"name": "hardtanh", "min_val": float(m.min_val), "max_val": float(m.max_val)}
    if kind is nn.LeakyReLU:
        return {"name": "leaky_relu", "slope": float(m.negative_slope)}
    if kind is nn.ELU:
        return {"name": "elu", "alpha": float(m.alpha)}
    if kind is nn.Softplus:
        if m.beta != 1 or not m.threshold > 0:
            raise TutorError(
                f"layer {i} (Softplus(beta={m.beta:g}, threshold={m.threshold:g})) is not supported: "
                "only the default beta=1 with a threshold > 0 (softplus = ln(1 + e^x), linear above the threshold)",
                where,
            )
        # torch is linear above its threshold (20 by default); the spec models that, or (20, 22) disagrees
        return {"name": "softplus", "threshold": float(m.threshold)}
    if kind in (nn.Softmax, nn.LogSoftmax):
        if m.dim not in (-1, 1):
            raise TutorError(
                f"layer {i} ({kind.__name__}(dim={m.dim})) is not supported: only a softmax over the features, dim=-1",
                where,
            )
        return "softmax" if kind is nn.Softmax else "log_softmax"
    hint = _HINTS.get(type(m).__name__)
    raise TutorError(
        f"layer {i} ({type(m).__name__}) is not supported; supported: {', '.join(SUPPORTED_TORCH)}"
        + (f"; {hint}" if hint else "; replace it by one of these or leave it out"),
        where,
    )


def _flat(model: Any) -> list[tuple[str, Any]]:
    """The modules of a Sequential in order, nested Sequentials opened: (position as "2" or "1.0", module)."""
    nn = _torch().nn
    out: list[tuple[str, Any]] = []
    for i, m in enumerate(model):
        if isinstance(m, nn.Sequential):
            out += [(f"{i}.{p}", sub) for p, sub in _flat(m)]
        else:
            out.append((str(i), m))
    return out


def flat_modules(model: Any) -> list[Any]:
    """The modules a torch model runs, one after the other (nested Sequentials opened)."""
    nn = _torch().nn
    return [model] if type(model) is nn.Linear else [m for _, m in _flat(model)]


def torch_stages(model: Any, where: str = "from_torch()") -> list[_Stage]:
    """The tutor layers of an ``nn.Sequential`` (or one ``nn.Linear``); unsupported modules are named."""
    torch = _torch()
    nn = torch.nn
    if type(model) is nn.Linear:
        modules = [model]
    elif isinstance(model, nn.Sequential):
        modules = list(model)
    else:
        raise TutorError(
            f"expected an nn.Sequential of Linear layers and activations, got {type(model).__name__}", where
        )
    positions = ["0"] if type(model) is nn.Linear else [p for p, _ in _flat(model)]
    if type(model) is not nn.Linear:
        modules = [m for _, m in _flat(model)]
    stages: list[_Stage] = []
    for k, m in enumerate(modules):
        i = positions[k]
        if type(m) is nn.Linear:
            if stages and m.in_features != stages[-1].linear.out_features:
                raise TutorError(
                    f"layer {i} ({_describe(m)}) takes {m.in_features} inputs, but layer "
                    f"{positions[stages[-1].index]} gives {stages[-1].linear.out_features}",
                    where,
                )
            stages.append(_Stage(k, m))
            continue
        if type(m) is nn.BatchNorm1d:
            if not stages or stages[-1].act_index is not None or stages[-1].norm is not None or stages[-1].bn_train:
                raise TutorError(
                    f"layer {i} ({_describe(m)}) must follow a Linear layer directly (before its activation)", where
                )
            if m.training:
                # training mode: the batch's own statistics, read as the layer's batch_norm (spec keys)
                if m.momentum is None:
                    raise TutorError(
                        f"layer {i} ({_describe(m)}) has momentum=None (a cumulative average of the batch "
                        "statistics); give it a number (PyTorch's default is 0.1)",
                        where,
                    )
                if not m.affine:
                    raise TutorError(
                        f"layer {i} ({_describe(m)}) has affine=False (no gamma and beta to learn); the tutor "
                        "trains gamma and beta: use affine=True, or call model.eval()",
                        where,
                    )
                stages[-1].bn_train = m
                continue
            if not m.track_running_stats:
                raise TutorError(
                    f"layer {i} ({_describe(m)}) is in training mode: the tutor reads batch normalization with its "
                    "running statistics; call model.eval() first (it is then folded into the Linear before it)",
                    where,
                )
            stages[-1].norm, stages[-1].norm_index = m, k
            continue
        if type(m) is nn.Dropout:
            if not stages:
                raise TutorError(f"layer {i} ({_describe(m)}) comes before the first Linear layer", where)
            if not m.training or m.p == 0:
                continue  # the identity in eval mode
            if stages[-1].dropout is not None:
                raise TutorError(f"layer {i} ({_describe(m)}) follows another Dropout; one per layer", where)
            stages[-1].dropout, stages[-1].dropout_index = m, k
            continue
        act = _torch_activation(m, i, where)
        if act is None:
            continue
        if not stages:
            raise TutorError(
                f"layer {i} ({_describe(m)}) comes before the first Linear layer; an activation follows a Linear layer",
                where,
            )
        if stages[-1].act_index is not None:
            prev = stages[-1].act_index
            raise TutorError(
                f"layer {i} ({_describe(m)}) follows another activation (layer {positions[prev]}, "
                f"{_describe(modules[prev])}); one activation per Linear layer is supported",
                where,
            )
        if stages[-1].dropout is not None:
            raise TutorError(f"layer {i} ({_describe(m)}) follows a Dropout; put Dropout after the activation", where)
        stages[-1].activation, stages[-1].act_index = act, k
    if not stages:
        raise TutorError("the model has no Linear layer", where)
    for s in stages:
        for name, t in (("weight", s.linear.weight), ("bias", s.linear.bias)):
            if t is not None and (t.is_meta or t.device.type == "meta"):
                raise TutorError(
                    f"layer {s.index} ({_describe(s.linear)}) has its {name} on the meta device (no values); "
                    "materialize the model first, e.g. model.to_empty(device='cpu') and set its parameters",
                    where,
                )
    for s in stages[:-1]:
        if s.activation in ("softmax", "log_softmax"):
            raise TutorError(
                f"layer {positions[s.act_index]} ({_describe(modules[s.act_index])}) is supported after the last "
                "Linear layer only",
                where,
            )
    if stages[-1].dropout is not None:
        raise TutorError(
            f"layer {positions[stages[-1].dropout_index]} (Dropout) follows the output layer; dropout is for hidden "
            "layers: leave it out or call model.eval()",
            where,
        )
    return stages


def from_torch(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: str = "half_sse",
    learning_rate: float = 0.5,
    title: str | None = None,
    dropout_mask: Any = None,
    h0: Any = None,
) -> Network:
    """A network from a PyTorch ``nn.Sequential`` of ``Linear`` layers and activations, with one example.

    The weights are read as float64 (``W`` of each ``nn.Linear`` is already out x in). Supported modules:
    Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus (beta=1, threshold=20), Identity, Softmax
    (dim=-1, after the last Linear), nested Sequentials (opened), Dropout (the identity in eval mode; in
    training mode give ``dropout_mask``, one row of 0/1 per Dropout, the neurons it keeps) and BatchNorm1d
    in eval mode (its running statistics folded into the Linear before it: W' = gamma W / sqrt(var + eps),
    b' = gamma (b - mean) / sqrt(var + eps) + beta) or in training mode (the layer's ``batch_norm``, with its
    gamma, beta, eps, momentum and running statistics: give ``x`` as a batch, one row per example, and ``y``
    with one row or class index per example). A Linear without an activation is linear (identity).
    ``loss`` is a tutor loss name: ``"mse"`` is ``nn.MSELoss()`` (the mean over the outputs), ``"half_sse"``
    is half the sum of squares, ``"binary_cross_entropy"`` is ``nn.BCELoss()``, and
    ``"categorical_cross_entropy"`` is ``nn.CrossEntropyLoss()`` on the logits: after a Softmax, or on a last
    Linear with no activation, which is then read as softmax with cross-entropy, as PyTorch computes it. A
    ``Linear(bias=False)`` becomes a layer without bias (``bias = false``: no bias anywhere); the biases there
    are are updated. PyTorch is imported only here.

    A Sequential that starts over feature maps (Conv1d/2d, MaxPool, AvgPool, Flatten) is read by
    ``torchmaps.from_torch_maps``; one that starts with an ``nn.RNN`` (one layer, one direction) followed by
    Linear layers is read as a model's forward reads it, the RNN's last state or every state feeding the first
    Linear (``torchmaps.from_torch_rnn``): ``x`` is the sequence, a row per time step, ``h0`` its initial state.

    Needs PyTorch (the example is skipped where it is not installed):

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    >>> net = from_torch(model, x=[0.5, -1.0], y=[0.25], loss="mse", learning_rate=0.1)
    >>> net.shape, [layer.activation for layer in net.layers]
    ((2, 2, 1), ['tanh', 'identity'])
    """
    where = "from_torch()"
    if isinstance(model, _torch().nn.Sequential):
        from .torchmaps import from_torch_maps, from_torch_rnn, has_maps, starts_recurrent

        modules = flat_modules(model)
        if starts_recurrent(modules):  # nn.RNN, then Linear layers: a model over a sequence
            return from_torch_rnn(
                modules,
                x,
                y,
                h0=h0,
                activation_of=_torch_activation,
                loss=loss,
                learning_rate=learning_rate,
                title=title,
                where=where,
            )
        if h0 is not None:
            raise TutorError("h0 is the initial state of a model that starts with nn.RNN", where)
        if has_maps(modules):  # Conv, pooling, Flatten: a model over feature maps
            return from_torch_maps(
                modules,
                x,
                y,
                activation_of=_torch_activation,
                loss=loss,
                learning_rate=learning_rate,
                title=title,
                where=where,
            )
    stages = torch_stages(model, where)
    if loss == "categorical_cross_entropy" and stages[-1].activation == "identity":
        stages[-1].activation, stages[-1].implicit_softmax = "softmax", True
    weights = [s.weights() for s in stages]
    biases = [s.biases() for s in stages]
    batch = None
    if any(s.bn_train is not None for s in stages):
        batch = _batch_of(x, y, where)
        x, y = batch[0]
    shape = "-".join(str(v) for v in [stages[0].linear.in_features] + [s.linear.out_features for s in stages])
    modules = flat_modules(model)
    description = "PyTorch modules: " + ", ".join(_describe(m) for m in modules)
    if stages[-1].implicit_softmax:
        description += "; logits with CrossEntropyLoss, read as softmax with cross-entropy"
    net = _build(
        where,
        weights,
        biases,
        x,
        y,
        activations=[s.activation for s in stages],
        loss=loss,
        learning_rate=learning_rate,
        layout="out_in",
        update_biases=None,
        title=title or f"PyTorch {type(model).__name__} {shape}",
        description=description[:2000],
        training=_dropout_training(stages, dropout_mask, where),
    )
    return net if batch is None else _batch_normalized(net, stages, batch, loss, where)


def _batch_of(x: Any, y: Any, where: str) -> list[tuple[Any, Any]]:
    """The rows of a batch (x: examples x inputs, y: one row or class index per example)."""
    X = x.detach().cpu().double().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)
    Y = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    if X.ndim != 2 or X.shape[0] < 2 or len(Y) != X.shape[0]:
        raise TutorError(
            "a BatchNorm1d in training mode normalizes over a batch: give x as a batch of at least two examples "
            "(one row each) and y with one row (or class index) per example",
            f"{where}: x",
        )
    return [(X[k], Y[k]) for k in range(X.shape[0])]


def _batch_normalized(net: Network, stages: list[_Stage], batch, loss: str, where: str) -> Network:
    """The network with the BatchNorm1d modules in training mode as batch_norm layers, on the whole batch."""
    from ..spec.network import from_mapping
    from .numpy import _one_hot_or_vector, to_mapping

    def arr(t: Any) -> list[float]:
        return t.detach().cpu().double().numpy().tolist()

    data = to_mapping(net)
    for entry, s in zip(data["layers"], stages):
        m = s.bn_train
        if m is None:
            continue
        n = m.num_features
        entry.update(
            batch_norm=True,
            gamma=arr(m.weight),
            beta=arr(m.bias),
            epsilon=float(m.eps),
            momentum=float(m.momentum),
            running_mean=arr(m.running_mean) if m.track_running_stats else [0.0] * n,
            running_var=arr(m.running_var) if m.track_running_stats else [1.0] * n,
        )
    out = net.output_layer.size
    data["inputs"].pop("values", None)
    data["loss"].pop("targets", None)
    data["examples"] = [
        {"inputs": [float(v) for v in xk], "targets": _one_hot_or_vector(yk, out, loss, f"{where}: y[{k}]").tolist()}
        for k, (xk, yk) in enumerate(batch)
    ]
    return from_mapping(data, where=where)


def _dropout_training(stages: list[_Stage], mask: Any, where: str) -> dict | None:
    """The spec's [training.dropout] for the Dropout modules in training mode, with the mask given."""
    dropped = [(li, s) for li, s in enumerate(stages) if s.dropout is not None]
    if not dropped:
        if mask is not None:
            raise TutorError("dropout_mask is for Dropout modules in training mode; the model has none", where)
        return None
    if mask is None:
        li, s = dropped[0]
        raise TutorError(
            f"the Dropout after Linear layer {li + 1} is in training mode, where PyTorch draws its own mask: call "
            "model.eval() (dropout is then the identity) or give dropout_mask=[[1, 0, ...]], one row of 0 "
            "(dropped) and 1 (kept) per Dropout",
            where,
        )
    rates = {float(s.dropout.p) for _, s in dropped}
    if len(rates) > 1:
        raise TutorError("every Dropout needs the same p (the tutor has one dropout rate)", where)
    if not isinstance(mask, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in mask):
        raise TutorError("dropout_mask needs one list of 0 and 1 per Dropout in training mode", where)
    rows = [[int(v) if float(v) in (0.0, 1.0) else v for v in r] for r in mask]
    return {"dropout": {"rate": rates.pop(), "layers": [li for li, _ in dropped], "mask": rows}}


# -- the check against torch autograd ---------------------------------------------------------------------


@dataclass(frozen=True)
class FrameworkRow:
    """One quantity as the tutor computed it and as the framework did."""

    key: str
    kind: str  # "net" | "out" | "loss" | "gradient"
    tutor: float
    framework: float
    floor: float = 1e-12  # a value smaller than this is compared on this scale instead of its own

    @property
    def rel(self) -> float:
        return abs(self.tutor - self.framework) / max(abs(self.tutor), abs(self.framework), self.floor)


@dataclass(frozen=True)
class FrameworkCheck:
    """The walk-through's forward pass, loss and every gradient against another framework's (torch autograd)."""

    framework: str
    rows: list[FrameworkRow]
    tolerance: float = FRAMEWORK_TOLERANCE
    notes: list[str] = field(default_factory=list)
    subject: str = ""  # what was computed again, for the summary ("" : every net input, output, ... of the step)

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
    if (
        walk is None
        or walk.conventions.rounding != "exact"
        or walk.conventions.update_order != "standard"
        or not walk.params
    ):
        from ..engine.symbolic import DropoutMasks, explain_step

        tr = net.training
        masks = None
        if tr.dropout_mask is not None:  # the given mask, on the layers it was given for
            rows = dict(zip(tr.dropout_layers, tr.dropout_mask))
            scale = 1.0 / (1.0 - tr.dropout_rate) if tr.dropout_inverted else 1.0
            masks = DropoutMasks([np.array(rows[li]) if li in rows else None for li in range(len(net.layers))], scale)
        walk = explain_step(net.with_conventions(rounding="exact", update_order="standard"), masks=masks)
    notes = []
    if net.conventions.rounding != "exact" or net.conventions.update_order != "standard":
        notes.append("compared in exact arithmetic and the standard order, where the gradient is the true one")

    import copy

    m64 = copy.deepcopy(model).double().cpu()
    modules = flat_modules(m64)
    linears = [modules[s.index] for s in stages]
    for p in m64.parameters():
        p.grad = None
    nets, outs = [], []
    by_linear = {s.index: li for li, s in enumerate(stages)}
    by_norm = {s.norm_index: li for li, s in enumerate(stages) if s.norm_index is not None}
    by_act = {s.act_index: li for li, s in enumerate(stages) if s.act_index is not None}
    by_drop = {s.dropout_index: li for li, s in enumerate(stages) if s.dropout_index is not None}
    tr = net.training
    with torch.enable_grad():
        h = torch.tensor(net.inputs, dtype=torch.float64).unsqueeze(0)
        for i, m in enumerate(modules):
            if i in by_drop:  # the network's own mask in place of the one PyTorch would draw
                r = tr.dropout_layers.index(by_drop[i])
                keep = torch.tensor(tr.dropout_mask[r], dtype=torch.float64)
                h = h * keep / (1.0 - tr.dropout_rate) if tr.dropout_inverted else h * keep
                continue
            h = m(h)
            if i in by_linear:
                nets.append(h)
                outs.append(h)  # a Linear with no activation after it: out = net
            elif i in by_norm:  # batch norm folded into the Linear: the net input is its output
                nets[by_norm[i]] = outs[by_norm[i]] = h
            elif i in by_act:
                outs[by_act[i]] = h
        implicit = net.layers[-1].activation == "softmax" and stages[-1].activation == "identity"
        if implicit:
            outs[-1] = torch.softmax(nets[-1], dim=-1)
        loss = _torch_loss(torch, net, nets[-1], outs[-1], stages[-1].activation == "softmax" or implicit)
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
        if stages[li].norm is not None:
            notes.append(
                f"{p.label}: layer {li + 1} has a BatchNorm1d folded in; PyTorch's gradient is for the unfolded weights"
            )
            continue
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


def torch_batch_check(net: Network, model: Any, record: Any) -> FrameworkCheck | None:
    """The first training step's batch loss and gradients (``record``, the numeric engine's step) against
    PyTorch autograd in float64: the model on the step's examples in its own mode (a BatchNorm1d in training
    mode normalizes over them), the loss averaged over the batch, or summed under ``reduction = "sum"``.
    None where PyTorch would draw what the tutor is given (a Dropout in training mode) or has no such loss.
    """
    torch = _torch()
    where = "torch_batch_check()"
    stages = torch_stages(model, where)
    if any(s.dropout is not None for s in stages) or net.loss in ("multiclass_hinge", "hinge"):
        return None
    import copy

    m64 = copy.deepcopy(model).double().cpu()
    modules, originals = flat_modules(m64), flat_modules(model)
    by_linear = {s.index: li for li, s in enumerate(stages)}
    examples = [net.examples[k] for k in record.batch]
    X = torch.tensor(np.array([x for x, _ in examples]), dtype=torch.float64)
    T = torch.tensor(np.array([t for _, t in examples]), dtype=torch.float64)
    for p in m64.parameters():
        p.grad = None
    logits = None
    with torch.enable_grad():
        h = X
        for i, m in enumerate(modules):
            h = m(h)
            if i in by_linear and by_linear[i] == len(stages) - 1:
                logits = h
        out = h
        softmax_output = net.layers[-1].activation == "softmax"
        if softmax_output and stages[-1].activation == "identity":  # logits read with CrossEntropyLoss
            out = torch.softmax(logits, dim=-1)
        per_example = _torch_example_losses(torch, net.loss, logits, out, T, softmax_output)
        loss = per_example.sum() if net.training.reduction == "sum" else per_example.mean()
        loss.backward()

    rows = [FrameworkRow("E (the batch's)", "loss", record.data_loss, float(loss.detach()))]
    for li, (s, layer) in enumerate(zip(stages, net.layers)):
        lin = modules[s.index]
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                rows.append(
                    FrameworkRow(f"dE/d{w}", "gradient", float(record.grad_W[li][j, i]), float(lin.weight.grad[j, i]))
                )
        if layer.has_bias and lin.bias is not None:
            if layer.shared_bias:  # one bias shared by the layer: the sum over its neurons
                g = float(lin.bias.grad.sum())
                rows.append(FrameworkRow(f"dE/d{layer.bias_labels[0]}", "gradient", float(record.grad_b[li][0]), g))
            else:
                for j, b in enumerate(layer.bias_labels):
                    rows.append(
                        FrameworkRow(f"dE/d{b}", "gradient", float(record.grad_b[li][j]), float(lin.bias.grad[j]))
                    )
        if s.bn_train is not None and record.bn is not None and record.bn[li] is not None:
            bn = modules[next(k for k, m in enumerate(originals) if m is s.bn_train)]
            for what, grads, mine in (
                ("gamma", bn.weight.grad, record.bn[li].grad_gamma),
                ("beta", bn.bias.grad, record.bn[li].grad_beta),
            ):
                for j, n in enumerate(layer.neurons):
                    rows.append(FrameworkRow(f"dE/d{what}_{n}", "gradient", float(mine[j]), float(grads[j])))
    # A gradient that is zero up to rounding (a bias before batch normalization: beta absorbs it) is compared
    # on the scale of the largest gradient, as the engines compare theirs.
    scale = max((max(abs(r.tutor), abs(r.framework)) for r in rows if r.kind == "gradient"), default=1e-12)
    rows = [replace(r, floor=max(scale, 1e-12)) if r.kind == "gradient" else r for r in rows]
    notes = [f"the batch's gradients of training step 1, over examples {', '.join(str(k + 1) for k in record.batch)}"]
    if any(layer.batch_norm and layer.has_bias for layer in net.layers):
        notes.append(
            "a gradient that is zero up to rounding (a bias before batch normalization) is compared on the "
            "scale of the largest gradient"
        )
    return FrameworkCheck(f"PyTorch {torch.__version__} autograd, float64", rows, notes=notes)


def _torch_example_losses(torch: Any, name: str, logits: Any, out: Any, t: Any, softmax_output: bool):
    """Each example's loss (one row of ``out`` each), with torch's own functions where they mean the same."""
    F = torch.nn.functional
    if name == "half_sse":
        return 0.5 * ((t - out) ** 2).sum(dim=1)
    if name == "mse":
        return ((t - out) ** 2).mean(dim=1)
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy(out, t, reduction="none").mean(dim=1)
    if name == "categorical_cross_entropy":
        return F.cross_entropy(logits, t, reduction="none") if softmax_output else -(t * torch.log(out)).sum(dim=1)
    if name == "nll":  # out holds log-probabilities (a LogSoftmax): F.nll_loss for one-hot targets, any t here
        return -(t * out).sum(dim=1)
    raise TutorError(f"loss {name!r} has no PyTorch counterpart here", where="torch_batch_check()")  # pragma: no cover


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
        if (
            act == "identity"
            and li == len(stages) - 1
            and layer.activation == "softmax"
            and net.loss == ("categorical_cross_entropy")
        ):
            act = "softmax"  # logits with CrossEntropyLoss
        params = {} if isinstance(s.activation, str) else {k: v for k, v in s.activation.items() if k != "name"}
        if act != layer.activation or any(layer.activation_params.get(k) != v for k, v in params.items()):
            raise TutorError(
                f"layer {s.index} of the model is followed by {act!r} {params or ''}, but layers[{li}] of "
                f"the network uses {layer.activation!r} {dict(layer.activation_params) or ''}",
                where,
            )
        W = s.weights()
        if W.shape != layer.weights.shape or not np.array_equal(W, layer.weights):
            raise TutorError(
                f"the weights of layer {s.index} ({_describe(s.linear)}) differ from layers[{li}] of the "
                "network; make the network with from_torch(model, ...) or build the model in float64 "
                "with the network's values",
                where,
            )
        b = s.biases()
        b = np.zeros(layer.size) if b is None else b
        if not np.array_equal(b, layer.biases):
            raise TutorError(
                f"the biases of layer {s.index} ({_describe(s.linear)}) differ from layers[{li}] of the network", where
            )


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
    if name == "nll":  # out holds log-probabilities (a LogSoftmax): F.nll_loss for one-hot targets, any t here
        return -(t * out).sum()
    if name in ("multiclass_hinge", "hinge"):
        margin = net.loss_rule.params(net.loss_params)["margin"]
        cls = torch.tensor([int(np.argmax(net.targets))])
        # multi_margin_loss divides by the number of classes; the tutor's hinge is the plain sum.
        return F.multi_margin_loss(out, cls, margin=margin, reduction="sum") * out.shape[1]
    raise TutorError(
        f"loss {name!r} has no PyTorch counterpart here", where="torch_gradient_check()"
    )  # pragma: no cover


def is_torch_module(obj: Any) -> bool:
    """True for a torch ``nn.Module``; never imports torch (an object of torch exists only once it is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)
