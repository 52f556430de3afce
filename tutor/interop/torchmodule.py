"""PyTorch as a student writes it: an ``nn.Module`` class traced by ``torch.fx``, loss and optimizer objects, batches.

``torch.fx`` (PyTorch's own symbolic tracer) records what ``forward`` does as a graph of calls. A forward that
is a chain of ``nn.Linear`` layers, each followed by at most one activation (a module, a ``torch.`` or an
``F.`` function), with ``+`` adding an earlier layer's output (a residual connection), is the tutor's layered
network; the check then runs the user's own traced forward. ``torch.cat`` feeding a layer, or anything else
that is not layered, becomes a computational graph of scalar gates (one leaf per weight). What fx cannot trace
(control flow on a tensor's value, an unknown function) is refused with one line naming the operation and the
line of ``forward``.

A loss object (``nn.MSELoss``, ``nn.CrossEntropyLoss``, ``nn.BCEWithLogitsLoss``, ``nn.BCELoss``,
``nn.NLLLoss`` after ``LogSoftmax``) gives the tutor's loss and reduction; an optimizer object (``SGD`` with
momentum, Nesterov and weight decay, ``Adam``, ``AdamW``, ``RMSprop``) its rule and hyper-parameters, read
from ``param_groups``. The check then runs the user's optimizer class on a float64 copy of the model and
compares its ``step()`` with the tutor's updated parameters. torch is imported only by these functions.
"""

from __future__ import annotations

import copy
import inspect
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spec.errors import TutorError
from ..spec.network import Network
from .torch import FrameworkCheck, FrameworkRow, _describe, _Stage, _torch, _torch_activation

# -- tracing forward ------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A traced model as the tutor's network: each layer's Linear (by the module's qualified name), its
    activation, skip, and the fx nodes holding its net input and output; ``implicit`` is the activation the
    loss object applies itself (softmax for CrossEntropyLoss, sigmoid for BCEWithLogitsLoss)."""

    gm: Any  # the torch.fx.GraphModule
    stages: list[_Stage]
    names: list[str]  # qualified name of each stage's Linear
    skips: list[int | None]
    net_nodes: list[str]
    out_nodes: list[str]
    log_softmax: bool = False  # the last layer ends with LogSoftmax (for NLLLoss)
    implicit: str = ""
    calls: list[str] = field(default_factory=list)  # what forward does, for the description


class NotLayered(Exception):
    """The traced forward is not a layered network (the reason); it may still be a computational graph."""


def _line(model: Any, node: Any = None, tb: Any = None) -> str:
    """ "line N of Net.forward: <code>" for an fx node (its recorded stack) or a traceback."""
    cls = type(model)
    try:
        file = inspect.getsourcefile(cls.forward)
    except TypeError:
        file = None
    frames: list[tuple[str, int, str]] = []
    stack = _stack_trace(model, node) if node is not None else None
    if stack:
        for f, n, name, code in re.findall(r'File "(.+?)", line (\d+), in (\S+)\n\s*(.*)', stack):
            if name == "forward":
                frames.append((f, int(n), code))
    if tb is not None:
        import traceback

        for fr in traceback.extract_tb(tb):
            if fr.name == "forward":
                frames.append((fr.filename, fr.lineno or 0, fr.line or ""))
    own = [fr for fr in frames if file is None or fr[0] == file] or frames
    if not own:
        return f"{cls.__name__}.forward"
    _, n, code = own[-1]
    return f"line {n} of {cls.__name__}.forward: {code.strip()[:80]}"


def _stack_trace(model: Any, node: Any) -> str | None:
    """Where in the user's code an fx node was made: traced again with stack traces (recording them costs
    seconds the first time, so only a refusal pays for it)."""
    if getattr(node, "stack_trace", None):
        return node.stack_trace
    torch = _torch()
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception:  # it traced once already; a second failure leaves the line out
        return None
    return next((n.stack_trace for n in graph.nodes if n.name == node.name), None)


def trace(model: Any, where: str) -> Any:
    """The fx GraphModule of ``model``; what fx cannot trace is one line naming the operation and the line."""
    torch = _torch()
    tracer = torch.fx.Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, ... from inside the user's forward
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise TutorError(f"torch.fx cannot trace {_line(model, tb=exc.__traceback__)} ({reason})", where) from None
    return torch.fx.GraphModule(tracer.root, graph)


def _function_activation(torch: Any, node: Any, i: str, where: str) -> Any:
    """The spec activation of an activation called as a function (F.relu, torch.tanh, x.sigmoid()); None for
    something that is not one."""
    F = torch.nn.functional
    nn = torch.nn
    target = node.target
    kwargs = dict(node.kwargs)
    args = list(node.args[1:])
    by_function = {
        F.relu: nn.ReLU,
        torch.relu: nn.ReLU,
        torch.sigmoid: nn.Sigmoid,
        F.sigmoid: nn.Sigmoid,
        torch.tanh: nn.Tanh,
        F.tanh: nn.Tanh,
        F.silu: nn.SiLU,
        F.gelu: nn.GELU,
        F.leaky_relu: nn.LeakyReLU,
        F.elu: nn.ELU,
        F.softplus: nn.Softplus,
        F.hardtanh: nn.Hardtanh,
        F.softmax: nn.Softmax,
        torch.softmax: nn.Softmax,
        F.log_softmax: nn.LogSoftmax,
        torch.log_softmax: nn.LogSoftmax,
    }
    by_method = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softmax": nn.Softmax}
    if node.op == "call_method":
        make = by_method.get(target)
    else:
        make = by_function.get(target)
    if make is None:
        return None
    kwargs.pop("inplace", None)
    if make in (nn.Softmax, nn.LogSoftmax):
        dim = kwargs.pop("dim", args[0] if args else None)
        kwargs.pop("dtype", None)
        return make(dim=dim)
    names = {
        nn.LeakyReLU: ("negative_slope",),
        nn.ELU: ("alpha",),
        nn.Softplus: ("beta", "threshold"),
        nn.Hardtanh: ("min_val", "max_val"),
    }.get(make, ())
    given = dict(zip(names, args))
    given.update({k: v for k, v in kwargs.items() if k in names or k == "approximate"})
    if any(not isinstance(v, (int, float, str)) for v in given.values()):
        raise NotLayered(f"{i}: an activation's parameter computed in forward")
    return make(**given)


def _act_name(act: Any) -> str:
    return act if isinstance(act, str) else act["name"]


def plan(model: Any, where: str) -> Plan:
    """The model's traced forward as layers; NotLayered (with the reason) where it is not a layered network."""
    torch = _torch()
    nn = torch.nn
    gm = trace(model, where)
    value: dict[str, tuple] = {}  # fx node name -> ("x",) | ("net", li) | ("out", li)
    stages: list[_Stage] = []
    names: list[str] = []
    skips: list[int | None] = []
    net_nodes: list[str] = []
    out_nodes: list[str] = []
    calls: list[str] = []
    done: list[bool] = []  # the layer's output is final (after a skip): no activation may follow
    log_softmax = False
    inputs = 0

    def arg(node: Any, k: int = 0) -> tuple:
        a = node.args[k] if len(node.args) > k else None
        if not isinstance(a, torch.fx.Node) or a.name not in value:
            raise NotLayered(f"{_line(model, node)}: an input that is not the model's input or a layer's output")
        return value[a.name]

    def activate(node: Any, act: Any, label: str) -> None:
        v = arg(node)
        if act is None:  # nn.Identity
            value[node.name] = v
            return
        li = len(stages) - 1
        if v[0] != "net" or v[1] != li or stages[li].act_index is not None or done[li]:
            raise NotLayered(f"{_line(model, node)}: {label} is applied to something other than a Linear's output")
        stages[li].activation, stages[li].act_index = act, len(calls)
        value[node.name] = ("out", li)
        out_nodes[li] = node.name

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            inputs += 1
            if inputs > 1:
                raise TutorError(f"{type(model).__name__}.forward takes more than one input ({node.name})", where)
            value[node.name] = ("x",)
            continue
        if node.op == "output":
            v = arg(node)
            if v[0] == "x" or v[1] != len(stages) - 1:
                raise NotLayered("forward returns something other than the last layer's output")
            continue
        if node.op == "get_attr":
            raise NotLayered(f"{_line(model, node)}: forward reads the parameter {node.target} directly")
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            label = f"{node.target} ({_describe(m)})"
            calls.append(label)
            if type(m) is nn.Linear:
                if node.target in names:
                    raise TutorError(
                        f"{_line(model, node)}: {node.target} is called twice; the tutor's layers have weights of "
                        "their own (give each layer its own nn.Linear)",
                        where,
                    )
                v = arg(node)
                li = len(stages)
                follows = v == ("x",) if li == 0 else (v[0] in ("out", "net") and v[1] == li - 1)
                if not follows:
                    raise NotLayered(f"{_line(model, node)}: {node.target} does not take the previous layer's output")
                if li > 0 and stages[-1].act_index is None and v[0] == "net":
                    out_nodes[-1] = net_nodes[-1]  # a Linear without activation: its output is its net input
                stages.append(_Stage(li, m))
                names.append(node.target)
                skips.append(None)
                net_nodes.append(node.name)
                out_nodes.append(node.name)
                done.append(False)
                value[node.name] = ("net", li)
                continue
            if type(m) is nn.Dropout:
                if m.training and m.p > 0:
                    raise TutorError(
                        f"{node.target} (Dropout) is in training mode, where PyTorch draws its own mask: call "
                        "model.eval(), or give the model as an nn.Sequential with dropout_mask",
                        where,
                    )
                value[node.name] = arg(node)
                continue
            if type(m) is nn.LogSoftmax:
                activate(node, _torch_activation(m, node.target, where), label)
                log_softmax = True
                continue
            if type(m) is nn.BatchNorm1d:
                raise TutorError(
                    f"{node.target} (BatchNorm1d) in a module class: give the model as an nn.Sequential "
                    "(batch normalization is read there, in eval and in training mode)",
                    where,
                )
            activate(node, _torch_activation(m, node.target, where), label)
            continue
        # call_function / call_method
        if node.target in (operator.add, torch.add) or (node.op == "call_method" and node.target == "add"):
            calls.append("+")
            a, b = arg(node, 0), arg(node, 1)
            li = len(stages) - 1
            mine = [v for v in (a, b) if v[0] in ("out", "net") and v[1] == li]
            other = [v for v in (a, b) if v not in mine] or mine[1:]
            if len(mine) != 1 or len(other) != 1 or other[0][0] != "out" or done[li] or node.kwargs:
                raise NotLayered(
                    f"{_line(model, node)}: this + is not a residual connection from an earlier layer's output"
                )
            k = other[0][1]
            if stages[k].linear.out_features != stages[li].linear.out_features:
                raise NotLayered(f"{_line(model, node)}: a skip between layers of different widths")
            skips[li], done[li] = k, True
            value[node.name] = ("out", li)
            out_nodes[li] = node.name
            continue
        if node.target is torch.cat:
            raise NotLayered(f"{_line(model, node)}: torch.cat joins two tensors into a layer's input")
        act = _function_activation(torch, node, str(len(calls)), where)
        if act is None:
            what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
            raise TutorError(
                f"{_line(model, node)}: the operation {what!s} is not read by the tutor (it reads nn.Linear, "
                "activations as modules or torch./F. functions, + for a skip and torch.cat into a layer)",
                where,
            )
        label = type(act).__name__
        calls.append(f"x.{node.target}()" if node.op == "call_method" else f"{node.target.__name__}()")
        log_softmax = log_softmax or type(act) is nn.LogSoftmax
        activate(node, _torch_activation(act, calls[-1], where), label)
    if not stages:
        raise TutorError("the model has no Linear layer", where)
    for li, s in enumerate(stages[:-1]):
        if _act_name(s.activation) in ("softmax", "log_softmax"):
            raise NotLayered(f"layer {li + 1} ends with a softmax; the tutor has it after the last Linear only")
    if log_softmax and skips[-1] is not None:
        raise NotLayered("LogSoftmax with a skip")
    return Plan(gm, stages, names, skips, net_nodes, out_nodes, log_softmax, calls=calls)


# -- loss objects ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossSpec:
    """A loss as the tutor reads it: its rule, the batch reduction, the activation the loss object applies to
    the logits itself, and the object (None for a loss given by name)."""

    name: str
    reduction: str = "mean"
    implicit: str = ""  # "softmax" (CrossEntropyLoss) | "sigmoid" (BCEWithLogitsLoss) | ""
    obj: Any = None
    class_targets: bool = False  # CrossEntropyLoss and NLLLoss take class indices
    label: str = ""


LOSS_OBJECTS = ("MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "BCELoss", "NLLLoss (after LogSoftmax)")


def read_loss(obj: Any, p: Plan, where: str) -> LossSpec:
    """The tutor's loss for a loss name or a torch loss object, with the model's last activation."""
    torch = _torch()
    nn = torch.nn
    last = _act_name(p.stages[-1].activation)
    outputs = p.stages[-1].linear.out_features
    if isinstance(obj, str):
        if p.log_softmax and obj != "nll":
            raise TutorError("the model ends with LogSoftmax: give loss=nn.NLLLoss() or 'nll'", f"{where}: loss")
        implicit = "softmax" if obj == "categorical_cross_entropy" and last == "identity" else ""
        return LossSpec(obj, implicit=implicit, label=obj)
    if not isinstance(obj, nn.Module):
        raise TutorError(
            f"give the loss as a name or a torch loss object ({', '.join(LOSS_OBJECTS)}), got {type(obj).__name__}",
            f"{where}: loss",
        )
    kind = type(obj).__name__
    red = getattr(obj, "reduction", "mean")
    label = f"{kind}(reduction={red!r})"
    if red not in ("mean", "sum"):
        raise TutorError(f"{label}: the tutor reads reduction='mean' or 'sum' (one loss per batch)", f"{where}: loss")
    for attr in ("weight", "pos_weight"):
        if getattr(obj, attr, None) is not None:
            raise TutorError(f"{kind} with {attr}: the tutor's losses weigh every class alike", f"{where}: loss")
    if getattr(obj, "label_smoothing", 0.0):
        raise TutorError(f"{kind} with label_smoothing: the tutor's targets are the given ones", f"{where}: loss")
    if p.log_softmax and type(obj) is not nn.NLLLoss:
        raise TutorError(f"the model ends with LogSoftmax, which goes with nn.NLLLoss(), not {kind}", f"{where}: loss")

    def needs(act: str, what: str) -> None:
        if last != act:
            raise TutorError(f"{kind} {what}; the model's last layer ends with {last}", f"{where}: loss")

    def one_output_for_sum(rule: str) -> None:
        if red == "sum" and outputs > 1:
            raise TutorError(
                f"{label} over {outputs} outputs adds them up, but the tutor's {rule} averages over the outputs; "
                "use reduction='mean' or one output",
                f"{where}: loss",
            )

    if type(obj) is nn.MSELoss:
        one_output_for_sum("mean squared error")
        return LossSpec("mse", red, "", obj, False, label)
    if type(obj) is nn.CrossEntropyLoss:
        needs("identity", "takes logits (it applies softmax itself): leave the Softmax out of the model")
        return LossSpec("categorical_cross_entropy", red, "softmax", obj, True, label)
    if type(obj) is nn.NLLLoss:
        if not p.log_softmax:
            raise TutorError("NLLLoss takes log-probabilities: end the model with nn.LogSoftmax(dim=-1)", where)
        return LossSpec("nll", red, "", obj, True, label)
    if type(obj) is nn.BCEWithLogitsLoss:
        needs("identity", "takes logits (it applies the sigmoid itself): leave the Sigmoid out of the model")
        one_output_for_sum("binary cross-entropy")
        return LossSpec("binary_cross_entropy", red, "sigmoid", obj, False, label)
    if type(obj) is nn.BCELoss:
        needs("sigmoid", "takes probabilities: end the model with nn.Sigmoid()")
        one_output_for_sum("binary cross-entropy")
        return LossSpec("binary_cross_entropy", red, "", obj, False, label)
    raise TutorError(f"loss {kind} is not read by the tutor; supported: {', '.join(LOSS_OBJECTS)}", f"{where}: loss")


def loss_name(obj: Any, where: str) -> str:
    """The tutor's loss name of a loss object with the mean reduction (for the nn.Sequential reading, which
    takes a name): MSELoss, BCELoss and CrossEntropyLoss on the logits."""
    if isinstance(obj, str):
        return obj
    names = {"MSELoss": "mse", "BCELoss": "binary_cross_entropy", "CrossEntropyLoss": "categorical_cross_entropy"}
    kind = type(obj).__name__
    plain = getattr(obj, "reduction", "mean") == "mean" and getattr(obj, "weight", None) is None
    if kind not in names or not plain or getattr(obj, "label_smoothing", 0.0):
        raise TutorError(
            f"with a BatchNorm1d in training mode the loss is one of {', '.join(names)} with reduction='mean' "
            f"(or a loss name), not {kind}",
            f"{where}: loss",
        )
    return names[kind]


# -- optimizer objects ----------------------------------------------------------------------------------------

OPTIMIZER_OBJECTS = ("SGD (momentum, nesterov, weight_decay)", "Adam", "AdamW", "RMSprop")


def read_optimizer(opt: Any, model: Any, where: str) -> tuple[float, dict[str, Any]]:
    """(learning rate, the spec's [training] keys) of a torch optimizer over the model's parameters."""
    torch = _torch()
    place = f"{where}: optimizer"
    if not isinstance(opt, torch.optim.Optimizer):
        raise TutorError(
            f"give a torch.optim optimizer ({', '.join(OPTIMIZER_OBJECTS)}), got {type(opt).__name__}", place
        )
    kind = type(opt).__name__
    if kind not in ("SGD", "Adam", "AdamW", "RMSprop"):
        raise TutorError(f"optimizer {kind} is not read by the tutor; supported: {', '.join(OPTIMIZER_OBJECTS)}", place)
    groups = opt.param_groups
    hyper = [{k: v for k, v in g.items() if k != "params"} for g in groups]
    if any(h != hyper[0] for h in hyper[1:]):
        raise TutorError(f"{kind} has parameter groups with different hyper-parameters; the tutor has one", place)
    given = {id(t) for g in groups for t in g["params"]}
    own = {id(t) for t in model.parameters() if t.requires_grad}
    if given != own:
        raise TutorError(
            f"{kind} does not hold exactly the model's parameters: make it with optimizer(model.parameters(), ...)",
            place,
        )
    if any(opt.state.get(t) for g in groups for t in g["params"]):
        raise TutorError(
            f"{kind} has taken steps already (its state is not zero): explain the first step with a fresh optimizer",
            place,
        )
    h = hyper[0]
    if h.get("maximize"):
        raise TutorError(f"{kind}(maximize=True) ascends; the tutor explains descent", place)
    lr = float(h["lr"])
    wd = float(h.get("weight_decay", 0.0))
    training: dict[str, Any] = {"update_biases": True}
    if kind == "SGD":
        mu = float(h.get("momentum", 0.0))
        if mu and float(h.get("dampening", 0.0)):
            raise TutorError("SGD with dampening is not read (torch skips it on the first step); use 0", place)
        if not mu:
            training["optimizer"] = "sgd"
        else:
            training["optimizer"] = {"name": "nesterov" if h.get("nesterov") else "momentum_classic", "mu": mu}
    elif kind in ("Adam", "AdamW"):
        if h.get("amsgrad"):
            raise TutorError(f"{kind}(amsgrad=True) is not read; the tutor's Adam has no running maximum", place)
        b1, b2 = (float(b) for b in h["betas"])
        rule = {"name": "adam", "beta1": b1, "beta2": b2, "eps": float(h["eps"])}
        if kind == "AdamW" or h.get("decoupled_weight_decay"):
            rule.update(name="adamw", wd=wd)
            wd = 0.0  # decoupled: part of the update, not of the gradient
        training["optimizer"] = rule
    elif kind == "RMSprop":
        if float(h.get("momentum", 0.0)) or h.get("centered"):
            raise TutorError("RMSprop with momentum or centered=True is not read; use the defaults", place)
        training["optimizer"] = {"name": "rmsprop", "rho": float(h["alpha"]), "eps": float(h["eps"])}
    else:
        raise TutorError(f"optimizer {kind} is not read by the tutor; supported: {', '.join(OPTIMIZER_OBJECTS)}", place)
    if wd:
        # torch adds wd w to every parameter's gradient: the tutor's L2 term lambda sum w^2 with lambda = wd/2
        training["regularization"] = {"kind": "l2", "lambda": wd / 2, "biases": True}
    return lr, training


# -- the network ----------------------------------------------------------------------------------------------


@dataclass
class ModuleSource:
    """What a network read from a module was made of: its plan, loss and optimizer (for the check)."""

    model: Any
    plan: Plan
    loss: LossSpec
    optimizer: Any = None


def from_module(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: Any = "half_sse",
    optimizer: Any = None,
    learning_rate: float | None = None,
    title: str | None = None,
    where: str = "from_torch()",
) -> tuple[Network, ModuleSource]:
    """The network of a traced model on an example or a batch, with the loss and optimizer objects read."""
    from .numpy import _build, batch_rows, with_batch

    nn = _torch().nn
    # one Linear is a network of one layer: traced inside a Sequential, whose parameters are its own
    p = plan(nn.Sequential(model) if type(model) is nn.Linear else model, where)
    # NotLayered: the caller explains it as a computational graph (to_graph)
    spec = read_loss(loss, p, where)
    lr, training = (learning_rate if learning_rate is not None else 0.5), {}
    if optimizer is not None:
        lr, training = read_optimizer(optimizer, model, where)
        if learning_rate is not None and learning_rate != lr:
            raise TutorError(
                f"learning_rate={learning_rate:g} differs from the optimizer's lr={lr:g}; give one", f"{where}"
            )
    activations = [s.activation for s in p.stages]
    if spec.implicit:
        activations[-1] = spec.implicit
    outputs = p.stages[-1].linear.out_features
    xs, ys = batch_rows(x, y, spec.class_targets, outputs, where)
    shape = "-".join(str(v) for v in [p.stages[0].linear.in_features] + [s.linear.out_features for s in p.stages])
    parts = [f"PyTorch {type(model).__name__}, traced by torch.fx: " + ", ".join(p.calls)]
    if spec.obj is not None:
        parts.append(f"loss {spec.label}")
    if spec.implicit:
        parts.append(f"the logits read as {spec.implicit} with the loss, as {type(spec.obj).__name__} computes it")
    if optimizer is not None:
        parts.append(f"optimizer {type(optimizer).__name__}")
    net = _build(
        where,
        [s.weights() for s in p.stages],
        [s.biases() for s in p.stages],
        xs[0],
        ys[0],
        activations=activations,
        loss=spec.name,
        learning_rate=lr,
        layout="out_in",
        update_biases=None,
        title=title or f"PyTorch {type(model).__name__} {shape}",
        description="; ".join(parts)[:2000],
    )
    net = with_batch(net, xs, ys, skips=p.skips, training=training, reduction=spec.reduction, where=where)
    return net, ModuleSource(model, p, spec, optimizer)


# -- the check against the user's own forward, loss and optimizer ---------------------------------------------


def module_check(net: Network, source: ModuleSource, record: Any) -> FrameworkCheck:
    """The first training step (``record``, the numeric engine's) against the user's traced forward in float64:
    every layer's net input and output on the first example, the batch loss by the user's loss object, every
    gradient by autograd, and every updated parameter by the user's optimizer class's ``step()`` (plain SGD at
    the network's learning rate where no optimizer was given)."""
    torch = _torch()
    p, spec = source.plan, source.loss
    gm = copy.deepcopy(p.gm).double()
    for t in gm.parameters():
        t.grad = None
    examples = [net.examples[k] for k in record.batch]
    X = torch.tensor(np.array([x for x, _ in examples]), dtype=torch.float64)
    T = torch.tensor(np.array([t for _, t in examples]), dtype=torch.float64)
    env: dict[str, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            env[n.name] = result = super().run_node(n)
            return result

    with torch.enable_grad():
        out = Recorder(gm).run(X)
        if spec.obj is not None:
            fn = copy.deepcopy(spec.obj)
            target = T.argmax(dim=1) if spec.class_targets else T
            loss = fn(out, target)
        else:
            from .torch import _torch_example_losses

            probs = out
            if spec.implicit == "softmax":
                probs = torch.softmax(out, dim=-1)
            per = _torch_example_losses(torch, spec.name, out, probs, T, spec.implicit == "softmax")
            loss = per.sum() if net.training.reduction == "sum" else per.mean()
        loss.backward()

    rows: list[FrameworkRow] = []
    first = record.examples[0].forward
    for li, layer in enumerate(net.layers):
        nets = env[p.net_nodes[li]][0].detach()
        outs = env[p.out_nodes[li]][0].detach()
        if li == len(net.layers) - 1 and spec.implicit:
            outs = torch.softmax(outs, dim=-1) if spec.implicit == "softmax" else torch.sigmoid(outs)
        for j, n in enumerate(layer.neurons):
            rows.append(FrameworkRow(f"net_{n}", "net", float(first.nets[li][j]), float(nets[j])))
            rows.append(FrameworkRow(f"out_{n}", "out", float(first.outs[li][j]), float(outs[j])))
    rows.append(FrameworkRow("E (the batch's)", "loss", float(record.data_loss), float(loss.detach())))
    linears = [gm.get_submodule(name) for name in p.names]
    for li, (layer, lin) in enumerate(zip(net.layers, linears)):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                rows.append(
                    FrameworkRow(f"dE/d{w}", "gradient", float(record.grad_W[li][j, i]), float(lin.weight.grad[j, i]))
                )
        if lin.bias is not None:
            for j, b in enumerate(layer.bias_labels):
                rows.append(FrameworkRow(f"dE/d{b}", "gradient", float(record.grad_b[li][j]), float(lin.bias.grad[j])))
    # one step of the user's optimizer class, with its own hyper-parameters, on the float64 copy
    if source.optimizer is not None:
        opt = source.optimizer
        accepted = inspect.signature(type(opt).__init__).parameters
        hyper = {k: v for k, v in opt.param_groups[0].items() if k != "params" and k in accepted}
        step = type(opt)(gm.parameters(), **hyper)
        what = f"{type(opt).__name__}.step()"
    else:
        step = torch.optim.SGD(gm.parameters(), lr=net.learning_rate)
        what = "torch.optim.SGD.step()"
    step.step()
    for li, (layer, lin) in enumerate(zip(net.layers, linears)):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                rows.append(
                    FrameworkRow(f"{w}+", "update", float(record.new_W[li][j, i]), float(lin.weight[j, i].detach()))
                )
        if lin.bias is not None and net.update_biases:
            for j, b in enumerate(layer.bias_labels):
                rows.append(FrameworkRow(f"{b}+", "update", float(record.new_b[li][j]), float(lin.bias[j].detach())))
    notes = [
        f"the user's forward traced by torch.fx, run in float64 on example{'s' if len(record.batch) > 1 else ''} "
        f"{', '.join(str(k + 1) for k in record.batch)}; the step by {what} on a float64 copy of the model"
    ]
    if net.training.regularization:
        notes.append("the tutor's loss adds the L2 term of the weight decay; torch's loss leaves it out")
    return FrameworkCheck(
        f"PyTorch {torch.__version__} autograd, float64",
        rows,
        notes=notes,
        subject="Every net input and output of the first example, the batch loss, every gradient and every "
        "updated parameter of this step",
    )


# -- a traced model that is not layered, as a computational graph ----------------------------------------------

GRAPH_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "identity": ""}


def to_graph(model: Any, x: Any, y: Any, *, loss: Any = "half_sse", why: str = "", where: str = "explain()"):
    """A traced model on one example as a computational graph of scalar gates, every weight and bias a leaf,
    ending in the loss; and the check of every leaf's gradient against autograd through the user's forward.
    For a forward that is not a layered network (torch.cat into a layer, a skip from the input): Linear,
    ReLU/Tanh/Sigmoid (modules or functions), + and torch.cat, with MSELoss, CrossEntropyLoss,
    BCEWithLogitsLoss or a loss name. Returns (Graph, FrameworkCheck)."""
    torch = _torch()
    nn = torch.nn
    from ..spec import graph as graphspec

    place = f"{where}: {type(model).__name__}"
    if why:
        place += f" (not a layered network: {why})"
    X = x.detach().cpu().double().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)
    if X.ndim == 2 and X.shape[0] == 1:
        X = X[0]
    if X.ndim != 1:
        raise TutorError("a computational graph takes one example: give x as one vector", place)
    gm = trace(model, where)
    leaves: dict[str, float] = {}
    assign: dict[str, str] = {}
    vec: dict[str, list[str]] = {}
    weights: dict[str, tuple[str, int, int | None]] = {}  # leaf -> (module name, row, column or None: a bias)

    layers: list[str] = []  # the Linear modules' names, in the order forward calls them

    def name(base: str) -> str:
        return re.sub(r"\W", "_", base)[:28]

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            vec[node.name] = [name(f"{node.name}{i + 1}") for i in range(X.size)]
            leaves.update({n: float(v) for n, v in zip(vec[node.name], X)})
            continue
        if node.op == "output":
            out = vec[node.args[0].name]
            continue
        ins = [vec[a.name] for a in node.args if isinstance(a, torch.fx.Node)]
        if node.op == "call_module" and type(gm.get_submodule(node.target)) is nn.Linear:
            lin = gm.get_submodule(node.target)
            if node.target in layers:
                raise TutorError(f"{_line(model, node)}: {node.target} is called twice (shared weights)", place)
            layers.append(node.target)
            L = len(layers)  # the Linear modules numbered in the order forward calls them: w2_1_3 is fc3's
            W = lin.weight.detach().double().numpy()
            b = None if lin.bias is None else lin.bias.detach().double().numpy()
            rows = []
            for j in range(W.shape[0]):
                terms = []
                for i, xi in enumerate(ins[0]):
                    w = f"w{L}_{j + 1}_{i + 1}"
                    leaves[w], weights[w] = float(W[j, i]), (node.target, j, i)
                    terms.append(f"{w} * {xi}")
                if b is not None:
                    bn = f"b{L}_{j + 1}"
                    leaves[bn], weights[bn] = float(b[j]), (node.target, j, None)
                    terms.append(bn)
                rows.append(f"net{L}_{j + 1}")
                assign[rows[-1]] = " + ".join(terms)
            vec[node.name] = rows
            continue
        if node.target in (operator.add, torch.add) and len(ins) == 2:
            vec[node.name] = [name(f"{node.name}_{j + 1}") for j in range(len(ins[0]))]
            assign.update({n: f"{a} + {c}" for n, a, c in zip(vec[node.name], *ins)})
            continue
        if node.target is torch.cat:
            vec[node.name] = [v for part in node.args[0] for v in vec[part.name]]
            continue
        act = None
        if node.op == "call_module":
            act = _torch_activation(gm.get_submodule(node.target), node.target, where)
        else:
            made = _function_activation(torch, node, node.name, where)
            act = None if made is None else _torch_activation(made, node.name, where)
        gate = GRAPH_ACTIVATIONS.get(act if isinstance(act, str) else "", None) if act is not None else ""
        if gate is None or (act is None and node.op != "call_module"):
            raise TutorError(
                f"{_line(model, node)}: a computational graph has relu, tanh and sigmoid gates, +, Linear and "
                "torch.cat; this operation is none of them",
                place,
            )
        vec[node.name] = [name(f"{node.name}_{j + 1}") for j in range(len(ins[0]))]
        assign.update({n: (f"{gate}({a})" if gate else a) for n, a in zip(vec[node.name], ins[0])})
    kind = type(loss).__name__ if not isinstance(loss, str) else loss
    T = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    k = len(out)
    if kind in ("CrossEntropyLoss", "categorical_cross_entropy"):
        cls = int(T.reshape(-1)[0]) if T.size == 1 else int(np.argmax(T))
        assign["E"] = f"log({' + '.join(f'exp({o})' for o in out)}) - {out[cls]}"
        target = torch.tensor([cls])
    else:
        t = [float(v) for v in T.reshape(-1)]
        if len(t) != k:
            raise TutorError(f"{len(t)} targets for {k} outputs", f"{where}: y")
        target = torch.tensor([t], dtype=torch.float64)
        if kind in ("MSELoss", "mse", "half_sse"):
            total = " + ".join(f"({o} - {tv!r})**2" for o, tv in zip(out, t))
            assign["E"] = f"({total}) / {k}" if kind != "half_sse" else f"0.5 * ({total})"
        elif kind == "BCEWithLogitsLoss":
            terms = [f"{tv!r} * log(sigmoid({o})) + {1 - tv!r} * log(1 - sigmoid({o}))" for o, tv in zip(out, t)]
            assign["E"] = f"-({' + '.join(terms)}) / {k}"
        else:
            raise TutorError(
                f"a computational graph ends in MSELoss, CrossEntropyLoss, BCEWithLogitsLoss or half_sse, not {kind}",
                f"{where}: loss",
            )
    if not isinstance(loss, str) and getattr(loss, "reduction", "mean") not in ("mean", "sum"):
        raise TutorError("the loss's reduction must be 'mean' or 'sum'", f"{where}: loss")
    graph = graphspec.from_mapping(
        {
            "title": f"PyTorch {type(model).__name__} as a computational graph",
            "description": "; ".join(
                [
                    "traced by torch.fx",
                    *([why] if why else []),
                    "layers " + ", ".join(f"{k + 1}: {m}" for k, m in enumerate(layers)),
                ]
            ),
            "graph": {"leaves": leaves, "assign": assign, "output": "E"},
        },
        where=place,
    )
    return graph, _graph_check(graph, model, X, target, loss, kind, weights)


def _graph_check(graph: Any, model: Any, X: np.ndarray, target: Any, loss: Any, kind: str, weights: dict):
    """Every leaf's gradient (weights, biases, inputs) and the loss against autograd through the user's forward."""
    from ..engine.graph import explain_graph

    torch = _torch()
    F = torch.nn.functional
    m = copy.deepcopy(model).double()
    for t in m.parameters():
        t.grad = None
    x = torch.tensor(X, dtype=torch.float64).unsqueeze(0).requires_grad_(True)
    with torch.enable_grad():
        out = m(x)
        if not isinstance(loss, str):
            value = copy.deepcopy(loss)(out, target)
        elif kind == "categorical_cross_entropy":
            value = F.cross_entropy(out, target)
        elif kind == "mse":
            value = F.mse_loss(out, target)
        else:
            value = 0.5 * ((out - target) ** 2).sum()
        value.backward()
    walk = explain_graph(graph)
    grads = walk.gradients()
    rows = [FrameworkRow("E", "loss", walk.value("E"), float(value.detach()))]
    for leaf, (module, j, i) in weights.items():
        p = m.get_submodule(module)
        grad = p.weight.grad if i is not None else p.bias.grad
        # a parameter forward computes with but the loss never reaches has no .grad: its gradient is 0
        g = 0.0 if grad is None else float(grad[j, i] if i is not None else grad[j])
        rows.append(FrameworkRow(f"dE/d{leaf}", "gradient", grads.get(leaf, 0.0), g))
    inputs = [n.name for n in graph.nodes if n.kind == "leaf" and n.name not in weights]
    for i, leaf in enumerate(inputs):
        rows.append(FrameworkRow(f"dE/d{leaf}", "gradient", grads.get(leaf, 0.0), float(x.grad[0, i])))
    return FrameworkCheck(
        f"PyTorch {torch.__version__} autograd, float64",
        rows,
        subject="The loss and every leaf's gradient (weights, biases, inputs), through the model's own forward",
    )
