"""Keras 3 interop: a ``keras.Sequential`` of ``Dense`` layers, compiled with a loss and an optimizer, checked
against the framework's own gradient.

Keras 3 runs on a backend; the torch backend (``KERAS_BACKEND=torch``) needs no TensorFlow, and its gradient is
torch autograd through Keras's own layers and loss. The check clones the model in float64 (the user's model is
float32 unless they chose otherwise) and compares the output, the loss and every gradient. Keras is imported
only by these functions, and only where the caller passes a Keras model (so it is already imported).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec.errors import TutorError
from ..spec.network import Network
from .torch import FrameworkCheck, FrameworkRow

# Keras's activation names -> the registry's (a table where Keras's default parameters differ from ours)
ACTIVATIONS = {
    "linear": "identity",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "gelu": "gelu",
    "silu": "silu",
    "swish": "silu",
    "elu": "elu",
    "softplus": "softplus",
    "leaky_relu": {"name": "leaky_relu", "slope": 0.2},  # Keras's default negative_slope
    "hard_tanh": "hardtanh",
}
LOSSES = {
    "mean_squared_error": ("mse", False),
    "categorical_crossentropy": ("categorical_cross_entropy", False),
    "sparse_categorical_crossentropy": ("categorical_cross_entropy", True),
    "binary_crossentropy": ("binary_cross_entropy", False),
}
_LOSS_ALIASES = {"mse": "mean_squared_error"}
# float32 rounds at 6e-8 relative; a gradient is a few products and sums away from it
FLOAT32_TOLERANCE = 1e-5


def is_keras_model(obj: Any) -> bool:
    """True for a Keras model; never imports Keras (a Keras object exists only once it is imported)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


@dataclass
class KerasSource:
    model: Any
    loss: Any  # the Keras loss (a name, a function or a Loss object)
    loss_name: str
    class_targets: bool
    implicit: str  # "softmax" | "sigmoid" | "" (from_logits=True)
    reduction: str


def _loss(loss: Any, last: str, where: str) -> tuple[str, bool, str, str]:
    """(tutor loss, class-index targets, implicit activation, reduction) of a Keras loss."""
    place = f"{where}: loss"
    if loss is None:
        raise TutorError("compile the model with a loss (model.compile(loss=..., optimizer=...))", place)
    if isinstance(loss, str):
        key, logits, red = _LOSS_ALIASES.get(loss, loss), False, "mean"
    elif callable(loss) and hasattr(loss, "get_config"):
        cfg = loss.get_config()
        key, logits = cfg.get("name", ""), bool(cfg.get("from_logits", False))
        if cfg.get("label_smoothing"):
            raise TutorError("label_smoothing is not read: the tutor's targets are the given ones", place)
        red = {"sum_over_batch_size": "mean", "sum": "sum"}.get(cfg.get("reduction", "sum_over_batch_size"))
        if red is None:
            raise TutorError(
                f"reduction {cfg.get('reduction')!r} is not read; use 'sum_over_batch_size' or 'sum'", place
            )
    else:
        key, logits, red = getattr(loss, "__name__", type(loss).__name__), False, "mean"
    if key not in LOSSES:
        raise TutorError(f"loss {key!r} is not read; supported: {', '.join(LOSSES)}", place)
    name, classes = LOSSES[key]
    implicit = ""
    if logits:
        if last != "identity":
            raise TutorError(f"from_logits=True needs a last Dense without activation, not {last}", place)
        implicit = "softmax" if name == "categorical_cross_entropy" else "sigmoid"
    elif name == "categorical_cross_entropy" and last != "softmax":
        raise TutorError(
            "categorical cross-entropy on probabilities needs a softmax output (or from_logits=True)", place
        )
    return name, classes, implicit, red


def _numpy(keras: Any, variable: Any) -> np.ndarray:
    """A Keras variable's values as float64 (its backend's tensor read directly where it is torch's)."""
    value = getattr(variable, "value", variable)
    if hasattr(value, "detach"):
        return value.detach().cpu().double().numpy()
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _written(value: Any) -> float:
    """A hyper-parameter Keras keeps as a float32 (a variable, an array or a number) as the user wrote it: the
    shortest decimal that float32 reads back (0.1, not 0.10000000149011612)."""
    value = getattr(value, "value", value)  # a keras.Variable holds its backend's tensor
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return float(str(np.float32(np.asarray(value, dtype=np.float64).item())))


def _optimizer(opt: Any, where: str) -> tuple[float, dict[str, Any]]:
    place = f"{where}: optimizer"
    if opt is None:
        raise TutorError("compile the model with an optimizer (model.compile(loss=..., optimizer=...))", place)
    kind = type(opt).__name__
    if kind != "SGD":
        raise TutorError(
            f"Keras's {kind} is not read: its epsilon enters before the bias correction (torch's after), so the "
            "tutor's Adam and RMSProp are torch's forms; compile with keras.optimizers.SGD (momentum, nesterov) "
            "or explain a torch model",
            place,
        )
    if any(getattr(opt, k, None) for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm")):
        raise TutorError("SGD with weight_decay or clipping is not read; leave them out", place)
    lr, mu = _written(opt.learning_rate), _written(getattr(opt, "momentum", 0.0))
    training: dict[str, Any] = {"update_biases": True}
    if mu:
        training["optimizer"] = {
            "name": "nesterov" if getattr(opt, "nesterov", False) else "momentum_classic",
            "mu": mu,
        }
    return lr, training


def from_keras(model: Any, x: Any, y: Any, *, title: str | None = None, where: str = "from_keras()"):
    """The network of a compiled ``keras.Sequential`` of ``Dense`` layers on an example or a batch, with the
    loss and optimizer it was compiled with; returns (Network, KerasSource) for :func:`keras_check`."""
    import keras

    from .numpy import _build, batch_rows, with_batch

    dense = []
    for k, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.Dense):
            dense.append(layer)
        elif not isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout)):
            raise TutorError(
                f"layer {k} ({type(layer).__name__}) is not read; a keras.Sequential of Dense layers (Dropout is "
                "the identity when explaining)",
                where,
            )
    if not isinstance(model, keras.Sequential) or not dense:
        raise TutorError(f"expected a keras.Sequential of Dense layers, got {type(model).__name__}", where)
    acts = []
    for k, layer in enumerate(dense):
        name = layer.activation.__name__
        if name not in ACTIVATIONS:
            raise TutorError(
                f"Dense layer {k} has activation {name!r}; the tutor reads {', '.join(ACTIVATIONS)}", where
            )
        acts.append(ACTIVATIONS[name])
    last = acts[-1] if isinstance(acts[-1], str) else acts[-1]["name"]
    loss_name, classes, implicit, reduction = _loss(getattr(model, "loss", None), last, where)
    lr, training = _optimizer(getattr(model, "optimizer", None), where)
    if implicit:
        acts[-1] = implicit
    outputs = dense[-1].units
    xs, ys = batch_rows(x, y, classes, outputs, where)
    weights, biases = [], []
    for layer in dense:
        kernel, *bias = [_numpy(keras, w) for w in layer.weights]
        weights.append(kernel.T)  # Keras keeps in x out
        biases.append(bias[0] if bias else None)
    shape = "-".join(str(v) for v in [weights[0].shape[1]] + [w.shape[0] for w in weights])
    description = (
        f"Keras {keras.__version__} ({keras.backend.backend()} backend) Sequential: "
        + ", ".join(f"Dense({layer.units}, {layer.activation.__name__})" for layer in dense)
        + f"; loss {model.loss if isinstance(model.loss, str) else type(model.loss).__name__}"
        + f"; optimizer {type(model.optimizer).__name__}"
    )
    net = _build(
        where,
        weights,
        biases,
        xs[0],
        ys[0],
        activations=acts,
        loss=loss_name,
        learning_rate=lr,
        layout="out_in",
        update_biases=None,
        title=title or f"Keras {model.name} {shape}",
        description=description,
    )
    net = with_batch(net, xs, ys, training=training, reduction=reduction, where=where)
    return net, KerasSource(model, model.loss, loss_name, classes, implicit, reduction)


def keras_check(net: Network, source: KerasSource, record: Any) -> FrameworkCheck:
    """The first step's output, batch loss and every gradient against Keras's own on a float64 clone of the model:
    torch autograd through Keras's layers and loss under the torch backend."""
    import keras

    backend = keras.backend.backend()
    if backend != "torch":
        raise TutorError(
            f"the check runs Keras's gradient under the torch backend; this Keras runs on {backend}: set "
            "KERAS_BACKEND=torch before importing keras, or pass check=False",
            "keras_check()",
        )
    import torch

    examples = [net.examples[k] for k in record.batch]
    X = torch.tensor(np.array([x for x, _ in examples]), dtype=torch.float64)
    T = np.array([t for _, t in examples])
    Y = torch.tensor(T.argmax(axis=1) if source.class_targets else T, dtype=torch.float64)
    before = keras.config.floatx()
    # the clone's input layer and a Loss object compute in floatx: float64 for the check, then as it was
    keras.config.set_floatx("float64")
    try:
        model = source.model
        config = model.get_config()
        for layer in config["layers"]:
            layer["config"]["dtype"] = "float64"
        clone = keras.Sequential.from_config(config)
        clone.build((None, len(net.input_names)))
        clone.set_weights([_numpy(keras, w) for w in model.weights])
        if isinstance(source.loss, str):
            loss_fn = keras.losses.get(source.loss)
        elif hasattr(source.loss, "get_config") and hasattr(type(source.loss), "from_config"):
            loss_fn = type(source.loss).from_config({**source.loss.get_config(), "dtype": "float64"})
        else:
            loss_fn = source.loss
        with torch.enable_grad():
            out = clone(X, training=False)
            value = loss_fn(Y, out)
            if value.ndim:  # a loss function gives each example's loss; the compiled loss reduces over the batch
                value = value.sum() if source.reduction == "sum" else value.mean()
            value.backward()
    finally:
        keras.config.set_floatx(before)
    rows = []
    first = record.examples[0].forward
    probs = out[0].detach()
    if source.implicit == "softmax":
        probs = torch.softmax(probs, dim=-1)
    elif source.implicit == "sigmoid":
        probs = torch.sigmoid(probs)
    for j, n in enumerate(net.output_layer.neurons):
        rows.append(FrameworkRow(f"out_{n}", "out", float(first.outs[-1][j]), float(probs[j])))
    rows.append(FrameworkRow("E (the batch's)", "loss", float(record.data_loss), float(value.detach())))
    dense = [layer for layer in clone.layers if isinstance(layer, keras.layers.Dense)]
    for li, (layer, spec_layer) in enumerate(zip(dense, net.layers)):
        gk = layer.kernel.value.grad
        for j, row in enumerate(spec_layer.weight_labels):
            for i, w in enumerate(row):
                rows.append(FrameworkRow(f"dE/d{w}", "gradient", float(record.grad_W[li][j, i]), float(gk[i, j])))
        if layer.use_bias:
            gb = layer.bias.value.grad
            for j, b in enumerate(spec_layer.bias_labels):
                rows.append(FrameworkRow(f"dE/d{b}", "gradient", float(record.grad_b[li][j]), float(gb[j])))
    used = ", ".join(str(k + 1) for k in record.batch)
    return FrameworkCheck(
        f"Keras {keras.__version__} (torch {torch.__version__} backend) autograd",
        rows,
        FLOAT32_TOLERANCE,
        notes=[
            f"Keras's own loss and gradient on example{'s' if len(record.batch) > 1 else ''} {used}, on a float64 "
            "clone of the model; Keras 3 still multiplies matrices in float32 (its type promotion turns float64 "
            "into float32), so the two agree to float32's precision"
        ],
        subject="The output, the batch loss and every gradient of this step",
    )
