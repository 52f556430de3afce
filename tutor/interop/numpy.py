"""Networks from other tools (NumPy weight arrays, a PyTorch ``nn.Sequential``) and a check against torch autograd.

Every network is built through :func:`tutor.spec.from_mapping`, so a network from NumPy or PyTorch is
validated exactly like a spec file. PyTorch is optional and imported only by the functions that need it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..spec import rules
from ..spec.errors import TutorError
from ..spec.network import Network, from_mapping

LAYOUTS = ("out_in", "in_out")
LAYOUT_HELP = "'out_in' (W has one row per neuron: net = W @ a) or 'in_out' (one column per neuron: net = a @ W)"
# One-hot targets may be given as the true class's index, as torch's CrossEntropyLoss takes them.
_CLASS_INDEX_LOSSES = ("categorical_cross_entropy", "nll", "multiclass_hinge", "hinge")
FRAMEWORK_TOLERANCE = 1e-9


# -- input arrays -----------------------------------------------------------------------------------------


def _floats(value: Any, where: str, ndim: int) -> np.ndarray:
    """``value`` as a float64 array of ``ndim`` dimensions with finite entries, or a TutorError naming the place.

    Only numbers count: strings and booleans, which NumPy would convert, are refused as the spec refuses them.
    """
    if hasattr(value, "detach"):  # a torch tensor, which may require grad or live on another device
        value = value.detach().cpu().double().numpy()
    _refuse_masked(value, where)
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


def _refuse_masked(value: Any, where: str) -> None:
    """A masked array's hidden entries would be read as numbers (np.asarray drops the mask): refused."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.getmaskarray(value).any():
        at = "".join(f"[{i}]" for i in np.argwhere(np.ma.getmaskarray(value))[0])
        raise TutorError(
            "is a masked array with masked entries; give every value (e.g. np.ma.filled(a, value))", where + at
        )


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


def from_numpy(
    weights: Sequence[Any],
    biases: Sequence[Any] | None,
    x: Any,
    y: Any,
    *,
    activations: Any = "sigmoid",
    loss: str = "half_sse",
    learning_rate: float = 0.5,
    layout: str = "out_in",
    update_biases: bool | None = None,
    title: str = "NumPy network",
) -> Network:
    """A network from weight arrays, one per layer, and one training example ``x``, ``y``.

    ``layout`` says how each weight array is laid out: ``"out_in"`` (shape out x in, one row per neuron,
    ``net = W @ a``; the spec's and PyTorch's layout) or ``"in_out"`` (shape in x out, ``net = a @ W``, as in
    ``x @ W`` code). ``biases`` has one entry per layer: an array with one bias per neuron, a number (one
    bias shared by the layer, as in Mazur's network) or None (no bias: the layer's ``bias = false``);
    ``biases=None`` means no biases at all. Biases are updated (``update_biases`` overrides that).
    ``activations`` is one activation for every layer or a list with one per layer, each a name or a table
    such as ``{"name": "leaky_relu", "slope": 0.1}``. ``y`` may be the true class's index for the
    categorical cross-entropy and hinge losses.

    Mazur's network, with the weights of each layer as out x in arrays and one shared bias per layer:

    >>> import numpy as np
    >>> net = from_numpy([np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([[0.40, 0.45], [0.50, 0.55]])],
    ...                  [0.35, 0.60], x=[0.05, 0.10], y=[0.01, 0.99], activations="sigmoid",
    ...                  loss="half_sse", learning_rate=0.5)
    >>> from tutor.engine.symbolic import explain_step
    >>> round(explain_step(net).value("w2_11+"), 8)          # Mazur's w5+
    0.35891648
    >>> from_numpy([np.ones((2, 3))], None, x=[1.0, 2.0], y=[0.0, 1.0, 0.0], layout="in_out").shape
    (2, 3)
    """
    return _build(
        "from_numpy()",
        weights,
        biases,
        x,
        y,
        activations=activations,
        loss=loss,
        learning_rate=learning_rate,
        layout=layout,
        update_biases=update_biases,
        title=title,
    )


def _build(
    where: str,
    weights: Sequence[Any],
    biases: Sequence[Any] | None,
    x: Any,
    y: Any,
    *,
    activations: Any,
    loss: str,
    learning_rate: float,
    layout: str,
    update_biases: bool | None,
    title: str,
    description: str = "",
    training: Mapping[str, Any] | None = None,
) -> Network:
    if layout not in LAYOUTS:
        raise TutorError(f"unknown layout {layout!r}; allowed: {LAYOUT_HELP}", f"{where}: layout")
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
        raise TutorError(
            "give a list of weight arrays, one per layer (the last one is the output layer)", f"{where}: weights"
        )
    n = len(weights)
    if not isinstance(loss, str):
        raise TutorError(f"give the loss as a name; allowed: {', '.join(rules.LOSSES)}", f"{where}: loss")
    rules.loss(loss, f"{where}: loss")
    inputs = _vector(x, f"{where}: x")
    if inputs.size == 0:
        raise TutorError("the network needs at least one input", f"{where}: x")

    if isinstance(biases, np.ndarray) and biases.ndim == 1 and biases.dtype.kind in "iuf":
        _refuse_masked(biases, f"{where}: biases")
        biases = [float(b) for b in biases]  # one number a layer: each layer's one shared bias
    if biases is None:
        bias_list: list[Any] = [None] * n
    elif isinstance(biases, np.ndarray):
        raise TutorError(
            f"a NumPy array of shape {biases.shape} is not one entry per layer; give a list of {n} entries, each an "
            "array with one bias per neuron, a number (one bias shared by the layer) or None",
            f"{where}: biases",
        )
    elif not isinstance(biases, Sequence) or len(biases) != n:
        raise TutorError(
            f"give one bias entry per layer ({n}): an array with one bias per neuron, a number "
            "(one bias shared by the layer) or None",
            f"{where}: biases",
        )
    else:
        bias_list = list(biases)

    if isinstance(activations, (str, Mapping)):
        acts = [activations] * n
    elif isinstance(activations, Sequence) and len(activations) == n:
        acts = list(activations)
    else:
        raise TutorError(
            f"give one activation for every layer, or a list with one per layer ({n})", f"{where}: activations"
        )

    layers = []
    fan_in, before = inputs.size, "x"
    for li, (w, b, act) in enumerate(zip(weights, bias_list, acts)):
        W = _floats(w, f"{where}: weights[{li}]", 2)
        W = _oriented(W, fan_in, layout, f"{where}: weights[{li}]", before)
        layer: dict[str, Any] = {
            "size": W.shape[0],
            "activation": _activation(act, f"{where}: activations[{li}]"),
            "weights": W.tolist(),
        }
        if b is None:
            layer["bias"] = False  # no bias at all, as a Linear(bias=False): nothing to differentiate or update
        elif np.ndim(b) == 0 and not hasattr(b, "detach"):
            layer["bias"] = float(_floats(b, f"{where}: biases[{li}]", 0))
        else:
            bv = _vector(b, f"{where}: biases[{li}]")
            if bv.size != W.shape[0]:
                raise TutorError(
                    f"{bv.size} biases for {W.shape[0]} neurons; give one per neuron, or one number "
                    "shared by the layer",
                    f"{where}: biases[{li}]",
                )
            layer["biases"] = bv.tolist()
        layers.append(layer)
        fan_in, before = W.shape[0], f"weights[{li}]"
    targets = _one_hot_or_vector(y, fan_in, loss, f"{where}: y")
    if update_biases is None:
        update_biases = True  # the biases there are (a layer given None has none) train, as in PyTorch
    mapping = {
        "title": title,
        "description": description,
        "inputs": {"values": inputs.tolist()},
        "layers": layers,
        "loss": {"name": loss, "targets": targets.tolist()},
        "training": {"learning_rate": learning_rate, "update_biases": bool(update_biases), **(training or {})},
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
    hint = (
        f"; it fits layout={other!r}" if W.size and (W.shape[0] if layout == "out_in" else W.shape[1]) == fan_in else ""
    )
    raise TutorError(
        f"shape {W.shape} does not fit: with layout={layout!r} it needs {fan_in} {axis}, one per input "
        f"of the layer ({gives} {fan_in}){hint}",
        where,
    )


def _activation(act: Any, where: str) -> Any:
    name = act.get("name") if isinstance(act, Mapping) else act
    if not isinstance(name, str):
        raise TutorError(
            f"give the activation as a name or a table with a name; allowed: {', '.join(rules.ACTIVATIONS)}", where
        )
    rules.activation(name, where)
    return dict(act) if isinstance(act, Mapping) else act


# -- a Network back to its mapping, to change its example ----------------------------------------------------


def batch_rows(x: Any, y: Any, class_targets: bool, outputs: int, where: str) -> tuple[list[np.ndarray], list[Any]]:
    """The examples of ``x`` (one vector, or a batch of shape (N, d) with one row per example, as a framework
    takes it) and ``y`` (one row, or class index when ``class_targets``, per example)."""
    X = x.detach().cpu().double().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)
    Y = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    if X.ndim == 1:
        return [X], [Y.item() if Y.ndim == 0 else Y]
    if X.ndim != 2 or X.shape[0] < 1:
        raise TutorError(f"x must be one example or a batch (one row per example), got shape {X.shape}", f"{where}: x")
    if Y.ndim == 0 or len(Y) != X.shape[0]:
        raise TutorError(f"y needs one row (or class index) per row of x ({X.shape[0]})", f"{where}: y")
    rows_y = [Y[k].item() if Y[k].ndim == 0 else Y[k] for k in range(X.shape[0])]
    if outputs == 1 and not class_targets:
        rows_y = [np.atleast_1d(v) for v in rows_y]
    return [X[k] for k in range(X.shape[0])], rows_y


def with_batch(
    net: Network,
    xs: Sequence[Any],
    ys: Sequence[Any],
    *,
    skips: Sequence[int | None] = (),
    training: Mapping[str, Any] | None = None,
    reduction: str = "mean",
    where: str,
) -> Network:
    """``net`` (built on the first example) on every example of a batch (``xs``, ``ys``: one row, or class index,
    each), with residual connections (``skips``: an earlier layer's index per layer, or None) and the given
    ``[training]`` keys; ``reduction="sum"`` adds up a batch's gradients."""
    from ..spec.network import from_mapping

    data = to_mapping(net)
    for entry, k in zip(data["layers"], skips):
        if k is not None:
            entry["skip"] = k
    if len(xs) > 1:
        outputs = net.output_layer.size
        data["inputs"].pop("values", None)
        data["loss"].pop("targets", None)
        data["examples"] = [
            {
                "inputs": [float(v) for v in xk],
                "targets": _one_hot_or_vector(yk, outputs, net.loss, f"{where}: y[{k}]").tolist(),
            }
            for k, (xk, yk) in enumerate(zip(xs, ys))
        ]
    table = dict(data.get("training", {}))
    table.update(training or {})
    if reduction == "sum" and len(xs) > 1:
        table["reduction"] = "sum"
    data["training"] = table
    return from_mapping(data, where=where)


def to_mapping(net: Network) -> dict[str, Any]:
    """The keys of the spec format that build ``net`` again (``tutor.spec.from_mapping(to_mapping(net))``).

    >>> from tutor.spec import from_mapping, load
    >>> net = load("mazur")
    >>> again = from_mapping(to_mapping(net))
    >>> again.layers[1].weight_labels == net.layers[1].weight_labels, again.targets.tolist()
    (True, [0.01, 0.99])
    """
    from ..spec.layers import kind_of

    layers = []
    for li, layer in enumerate(net.layers):
        if kind_of(layer).write is not None:  # a kind with its own keys (convolution, pooling, recurrence)
            layers.append(kind_of(layer).write(layer))
            continue
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
        if layer.weightless:
            entry.update(weights=False)
            del entry["weight_labels"]
        elif not layer.has_bias:
            entry.update(bias=False)
        elif layer.shared_bias:
            entry.update(bias=float(layer.biases[0]), bias_label=layer.bias_labels[0])
        else:
            entry.update(biases=layer.biases.tolist(), bias_labels=list(layer.bias_labels))
        if layer.skip is not None:
            entry["skip"] = layer.skip
        if layer.batch_norm:
            entry.update(
                batch_norm=True,
                gamma=layer.gamma.tolist(),
                beta=layer.beta.tolist(),
                epsilon=layer.epsilon,
                momentum=layer.momentum,
                running_mean=layer.running_mean.tolist(),
                running_var=layer.running_var.tolist(),
            )
        if li in net.init_layers:  # drawn again from the same seed: the same weights
            del entry["weights"]
        layers.append(entry)
    c = net.conventions
    data: dict[str, Any] = {
        "title": net.title,
        "description": net.description,
        "source": net.source,
        "inputs": {"names": list(net.input_names)},
        "layers": layers,
        "loss": {"name": net.loss, **dict(net.loss_params)},
        "training": {
            "learning_rate": net.learning_rate,
            "update_biases": net.update_biases,
            **_training_mapping(net.training),
        },
        "conventions": {"rounding": c.rounding, "digits": c.digits, "update_order": c.update_order},
        "notation": dict(net.notation),
    }
    if getattr(net.layers[0], "in_shape", ()):  # feature maps: their shape as [inputs] says it
        data["inputs"]["shape"] = list(net.layers[0].in_shape)
    if net.init:
        data["init"] = {"name": net.init, "seed": net.init_seed}
    if net.scaling:
        data["scaling"] = net.scaling
    given = net.raw_examples if net.scaling else net.examples  # scaled again from the inputs as given
    if len(given) > 1:
        data["examples"] = [{"inputs": x.tolist(), "targets": t.tolist()} for x, t in given]
    else:
        data["inputs"]["values"] = given[0][0].tolist()
        data["loss"]["targets"] = net.targets.tolist()
    return data


def _training_mapping(t: Any) -> dict[str, Any]:
    """The ``[training]`` keys beyond the learning rate: only those that differ from plain gradient descent."""
    out: dict[str, Any] = {}
    if t.optimizer != "sgd" or t.optimizer_params:
        out["optimizer"] = {"name": t.optimizer, **dict(t.optimizer_params)}
    if t.batch is not None:
        out["batch"] = t.batch
    if t.reduction != "mean":
        out["reduction"] = t.reduction
    if t.decay:
        out["decay"] = t.decay
    if t.regularization:
        out["regularization"] = {"kind": t.regularization, "lambda": t.reg_lambda, "biases": t.reg_biases}
    if t.dropout_rate or t.dropout_mask is not None:
        out["dropout"] = {
            "rate": t.dropout_rate,
            "layers": list(t.dropout_layers),
            "inverted": t.dropout_inverted,
            "seed": t.dropout_seed,
        }
        if t.dropout_mask is not None:
            out["dropout"]["mask"] = [[int(v) for v in row] for row in t.dropout_mask]
    for key in ("clip_norm", "clip_value", "patience"):
        if getattr(t, key) is not None:
            out[key] = getattr(t, key)
    if t.raw_validation:
        out["validation"] = [{"inputs": x.tolist(), "targets": y.tolist()} for x, y in t.raw_validation]
    return out


def with_example(
    net: Network,
    x: Any = None,
    y: Any = None,
    *,
    loss: str | None = None,
    learning_rate: float | None = None,
    where: str = "with_example()",
) -> Network:
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
            raise TutorError(
                f"{values.size} inputs for a network with {len(net.input_names)} ({', '.join(net.input_names)})",
                f"{where}: x",
            )
        data["inputs"]["values"] = values.tolist()
    if loss is not None:
        if not isinstance(loss, str):
            raise TutorError(f"give the loss as a name; allowed: {', '.join(rules.LOSSES)}", f"{where}: loss")
        rules.loss(loss, f"{where}: loss")
        data["loss"] = {"name": loss, **{k: v for k, v in data["loss"].items() if k == "targets"}}
    if y is not None:
        data["loss"]["targets"] = _one_hot_or_vector(
            y, net.output_layer.size, data["loss"]["name"], f"{where}: y"
        ).tolist()
    if learning_rate is not None:
        data["training"]["learning_rate"] = learning_rate
    return from_mapping(data, where=where, name=net.name)
