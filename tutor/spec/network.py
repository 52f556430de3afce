"""The network spec: the TOML format and the Python API, both validated into one immutable Network."""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import rules
from .errors import SpecError, TutorError
from .resources import check_path, example_names, example_path, read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MAX_PARAMETERS = 2_000  # a walk-through of more is no longer something a person reads
MAX_LAYERS = 16
MAX_WIDTH = 256
MAX_LABEL = 64
MAX_FILE_BYTES = 2_000_000
# The walk-through in full as an HTML page or a PDF, known from the network before any work: MathML takes
# about 50 KB a parameter (a 1-256-1 network's page is 43 MB, a 1-256-6 network's 232 MB, past MAX_OUTPUT_BYTES),
# and pdflatex needs minutes for the thousand pages of more. --brief and the other formats take every network.
MAX_HTML_PARAMETERS = 1_000
MAX_PDF_PARAMETERS = 800
MAX_VIEW_PARAMETERS = 1_000  # --view matrix, paths, magnitudes: every weight again, as matrices, paths, tables
MAX_OUTPUT_BYTES = 50_000_000  # a document no person reads to the end (a 1-256-6 network's HTML was 232 MB)
ROUNDINGS = ("exact", "as-printed")
UPDATE_ORDERS = ("standard", "updated-first")
MAX_DIGITS = 15

_TOP_KEYS = {
    "title",
    "description",
    "source",
    "inputs",
    "layers",
    "loss",
    "training",
    "conventions",
    "notation",
    "examples",
    "scaling",
    "init",
}
MAX_EXAMPLES = 100
_LAYER_KEYS = {
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
BN_EPSILON = 1e-5  # torch.nn.BatchNorm1d's defaults
BN_MOMENTUM = 0.1
_NOTATION_DEFAULTS = {
    "net": "net_{neuron}",
    "out": "out_{neuron}",
    "target": "target_{neuron}",
    "loss": "E_total",
    "loss_term": "E_{neuron}",
    "updated": "{param}+",
}


@dataclass(frozen=True)
class Conventions:
    """How a hand calculation is reproduced: rounding of every shown value, update order, bias updates."""

    rounding: str = "exact"
    digits: int = 9
    update_order: str = "standard"

    def describe(self) -> str:
        r = (
            "exact float64"
            if self.rounding == "exact"
            else f"as printed, every shown value rounded to {self.digits} decimals and carried forward"
        )
        o = (
            "hidden deltas use the old weights"
            if self.update_order == "standard"
            else "hidden deltas use the already updated output-side weights"
        )
        return f"{r}; {o}"


@dataclass(frozen=True)
class Training:
    """How training goes beyond one plain step: optimizer, batches, decay, regularization, dropout."""

    optimizer: str = "sgd"
    optimizer_params: Mapping[str, float] = field(default_factory=dict)
    batch: int | None = None  # examples per update; None: all of them (full batch)
    decay: float = 0.0  # alpha = alpha0 / (1 + decay * epoch), epochs counted from 0
    regularization: str = ""  # "" | "l1" | "l2"
    reg_lambda: float = 0.0
    reg_biases: bool = False
    dropout_rate: float = 0.0
    dropout_layers: tuple[int, ...] = ()
    dropout_inverted: bool = True
    dropout_seed: int = 0
    dropout_mask: tuple[tuple[float, ...], ...] | None = None  # one row per dropout layer, used every step
    reduction: str = "mean"  # a batch's gradients averaged ("mean", the seeds') or added up ("sum")
    clip_norm: float | None = None  # clip the gradient of all parameters together to this global L2 norm
    clip_value: float | None = None  # clip every gradient entry into [-clip_value, clip_value]
    # (inputs, targets), scaled as the examples; arrays, so left out of ==, which patience stands for
    validation: tuple[tuple[np.ndarray, np.ndarray], ...] = field(default=(), compare=False)
    raw_validation: tuple[tuple[np.ndarray, np.ndarray], ...] = field(default=(), compare=False)  # as given
    patience: int | None = None  # early stopping: epochs without a better validation loss before stopping

    @property
    def clipped(self) -> bool:
        return self.clip_norm is not None or self.clip_value is not None

    @property
    def plain(self) -> bool:
        """Plain gradient descent on one example at a time: Mazur's setting."""
        return (
            self.optimizer == "sgd"
            and not self.decay
            and not self.regularization
            and not self.dropout_rate
            and self.dropout_mask is None
            and not self.clipped
            and not self.validation
        )


@dataclass(frozen=True)
class Layer:
    """One fully connected layer: ``weights[j][i]`` joins input i of the layer to its neuron j."""

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


@dataclass(frozen=True)
class Network:
    """A small fully connected network with one training example and everything needed for one step."""

    input_names: tuple[str, ...]
    inputs: np.ndarray
    layers: tuple[Layer, ...]
    loss: str
    loss_params: Mapping[str, float]
    targets: np.ndarray
    learning_rate: float
    update_biases: bool = False
    conventions: Conventions = Conventions()
    notation: Mapping[str, str] = field(default_factory=lambda: dict(_NOTATION_DEFAULTS))
    title: str = "Network"
    description: str = ""
    source: str = ""
    name: str = ""
    training: Training = Training()
    examples: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # (inputs, targets); the first is inputs/targets
    scaling: str = ""  # "" or a rules.SCALINGS name: the examples' inputs are scaled ...
    raw_examples: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # ... from these, as the spec gives them
    init: str = ""  # "" or a rules.INITS name: the weights of the layers in init_layers were drawn
    init_seed: int = 0
    init_layers: tuple[int, ...] = ()

    def batch_size(self) -> int:
        n = max(len(self.examples), 1)
        return n if self.training.batch is None else min(self.training.batch, n)

    @property
    def loss_rule(self) -> rules.Loss:
        return rules.LOSSES[self.loss]

    @property
    def output_layer(self) -> Layer:
        return self.layers[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.input_names), *(l.size for l in self.layers))

    @property
    def parameter_count(self) -> int:
        return sum(l.weights.size + l.bias_count + 2 * l.size * l.batch_norm for l in self.layers)

    def target_names(self) -> tuple[str, ...]:
        return tuple(self.notation["target"].replace("{neuron}", n) for n in self.output_layer.neurons)

    def loss_term_names(self) -> tuple[str, ...]:
        return tuple(self.notation["loss_term"].replace("{neuron}", n) for n in self.output_layer.neurons)

    def updated_name(self, param: str) -> str:
        return self.notation["updated"].replace("{param}", param)

    def parameter_values(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> dict[str, float]:
        """Every weight and bias by its label, layer by layer. ``biases`` holds, per layer, one value per neuron
        or, for a shared bias, one value or more (all equal): the first is taken."""
        out: dict[str, float] = {}
        for layer, W, b in zip(self.layers, weights, biases):
            for j, row in enumerate(layer.weight_labels):
                for i, w in enumerate(row):
                    out[w] = float(W[j, i])
            labels = layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels
            labels = labels if layer.has_bias else ()
            out.update({label: float(v) for label, v in zip(labels, b)})
        return out

    def with_params(
        self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], bn: Sequence[Any] | None = None
    ) -> "Network":
        """The same network with new parameter values (as after a training step); ``bn`` per layer: None or
        (gamma, beta, running_mean, running_var) of a batch-normalized layer."""
        layers = tuple(
            replace(
                l,
                weights=np.array(w, dtype=float).reshape(l.weights.shape),
                biases=np.array(b, dtype=float) if l.has_bias else np.zeros(l.size),
            )
            for l, w, b in zip(self.layers, weights, biases)
        )
        if bn is not None:
            layers = tuple(
                l if s is None else replace(l, gamma=s[0].copy(), beta=s[1].copy(), running_mean=s[2], running_var=s[3])
                for l, s in zip(layers, bn)
            )
        return replace(self, layers=layers)

    @property
    def has_batch_norm(self) -> bool:
        return any(l.batch_norm for l in self.layers)

    def bn_state(self) -> list[Any]:
        """Per layer: None, or (gamma, beta, running_mean, running_var) of a batch-normalized layer (copies)."""
        return [
            (l.gamma.copy(), l.beta.copy(), l.running_mean.copy(), l.running_var.copy()) if l.batch_norm else None
            for l in self.layers
        ]

    @property
    def has_skips(self) -> bool:
        return any(l.skip is not None for l in self.layers)

    def without_skips(self) -> "Network":
        """The same network with its residual connections left out (for the magnitudes comparison)."""
        return replace(self, layers=tuple(replace(l, skip=None) for l in self.layers))

    def with_conventions(self, **changes: Any) -> "Network":
        """The same network under other conventions, validated like a spec's ``[conventions]`` table."""
        data = {
            "rounding": self.conventions.rounding,
            "digits": self.conventions.digits,
            "update_order": self.conventions.update_order,
        }
        data.update({k: v for k, v in changes.items() if v is not None and k != "update_biases"})
        conv = _conventions(data, "conventions")
        if conv.update_order == "updated-first" and not (self.training.plain and self.batch_size() == 1):
            raise SpecError(
                "updated-first is an order of plain gradient descent on one example at a time; this spec "
                "uses another optimizer, batches, decay, regularization or dropout",
                "--update-order",
            )
        update_biases = changes.get("update_biases")
        return replace(
            self, conventions=conv, update_biases=self.update_biases if update_biases is None else bool(update_biases)
        )


# ----------------------------------------------------------------------------------------------------
# Loading.


def load(spec: str | Path) -> Network:
    """Load a network from a TOML file path or the name of a built-in example (``mazur``, ...)."""
    if not isinstance(spec, (str, Path)):
        raise SpecError(
            f"expected a file path or the name of a built-in example (a string), got {type(spec).__name__}", "load()"
        )
    where = str(spec) or "''"
    path = check_path(spec, where)
    try:
        is_file = path.is_file()
    except OSError as exc:
        raise SpecError(f"cannot read the file ({exc.strerror})", where) from None
    if not is_file:
        builtin = example_path(str(spec)) if re.fullmatch(r"[a-z0-9-]+", str(spec)) else None
        if builtin is None and path.is_dir():
            raise SpecError("is a folder; give a spec file (TOML) or the name of a built-in example", where)
        if builtin is None and path.exists():
            raise SpecError("is not a regular file; give a spec file (TOML)", where)
        if builtin is None:
            raise SpecError(
                f"no such file or built-in example; built-in examples: {', '.join(example_names('all'))}", where
            )
        path = builtin
        name = str(spec)
    else:
        name = ""
    try:
        text = read_text(path, where, MAX_FILE_BYTES)
    except SpecError:
        raise
    except TutorError as exc:
        raise SpecError(
            exc.message + (f" (networks are limited to {MAX_PARAMETERS} parameters)" if "bytes" in exc.message else ""),
            where,
        ) from None
    return loads(text, where=where, name=name)


MAX_TOML_DEPTH = 32  # tables and arrays nested deeper than any spec or claims file needs


def parse_toml(text: str, where: str) -> dict:
    """TOML text parsed by the safe standard parser, with the failures it lets through (deep nesting, a huge
    integer) turned into one-line errors; a leading byte-order mark is accepted."""
    if not isinstance(text, str):
        raise SpecError(f"expected TOML text (a string), got {type(text).__name__}", where)
    text = text.removeprefix("\ufeff")
    depth = _nesting(text)
    if depth > MAX_TOML_DEPTH:
        raise SpecError(f"tables or arrays nested {depth} deep; at most {MAX_TOML_DEPTH}", where)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"malformed TOML: {exc}", where) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise SpecError(f"a number is too long ({str(exc).split(':')[0]}); expected a finite number", where) from None
    except RecursionError:
        raise SpecError(f"tables or arrays nested too deep; at most {MAX_TOML_DEPTH}", where) from None


def _nesting(text: str) -> int:
    """An upper bound of the bracket nesting of TOML text (brackets inside strings count too: harmless)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


def loads(text: str, where: str = "<spec>", name: str = "") -> Network:
    """Parse TOML text (with the safe standard parser) into a validated Network."""
    return from_mapping(parse_toml(text, where), where=where, name=name)


def network(**spec: Any) -> Network:
    """Build a Network in Python with the same keys as the TOML format.

    >>> net = network(inputs={"names": ["x1"], "values": [1.0]},
    ...               layers=[{"neurons": ["o1"], "activation": "sigmoid", "weights": [[0.5]], "bias": 0.0}],
    ...               loss={"name": "half_sse", "targets": [1.0]}, training={"learning_rate": 0.1})
    >>> net.shape
    (1, 1)
    """
    return from_mapping(spec, where="network()")


def from_mapping(data: Mapping[str, Any], where: str = "<spec>", name: str = "") -> Network:
    """Validate a mapping shaped like the TOML format; every error names its key path."""
    if not isinstance(data, Mapping):
        raise SpecError("a spec must be a table of keys", where)
    if "graph" in data:
        raise SpecError(
            "is a graph spec (it has a [graph] table); this needs a network spec ('explain', 'quiz' and 'check' "
            "take graph specs)",
            where,
        )
    _no_unknown(data, _TOP_KEYS, where, "")
    title = _text(data.get("title", name or "Network"), f"{where}: title", limit=200)
    description = _text(data.get("description", ""), f"{where}: description", limit=2000)
    source = _text(data.get("source", ""), f"{where}: source", limit=500)

    notation = _notation(data.get("notation", {}), f"{where}: notation")

    inputs = _table(data, "inputs", where)
    _no_unknown(inputs, {"names", "values"}, where, "inputs")
    raw_examples = data.get("examples")
    if raw_examples is not None:
        if "values" in inputs:
            raise SpecError(
                "give the input values either in [inputs] or in [[examples]], not both", f"{where}: inputs.values"
            )
        if not isinstance(raw_examples, list) or not raw_examples:
            raise SpecError("[[examples]] needs at least one table with inputs and targets", f"{where}: examples")
        if len(raw_examples) > MAX_EXAMPLES:
            raise SpecError(f"{len(raw_examples)} examples; at most {MAX_EXAMPLES}", f"{where}: examples")
        first = raw_examples[0]
        values = _vector(first.get("inputs") if isinstance(first, Mapping) else None, f"{where}: examples[0].inputs")
    else:
        values = _vector(inputs.get("values"), f"{where}: inputs.values")
    if values.size == 0:
        raise SpecError("the network needs at least one input", f"{where}: inputs.values")
    input_names = _labels(
        inputs.get("names"), values.size, f"{where}: inputs.names", default=[f"x{i + 1}" for i in range(values.size)]
    )

    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError("give at least one [[layers]] table (the last one is the output layer)", f"{where}: layers")
    if len(raw_layers) > MAX_LAYERS:
        raise SpecError(f"{len(raw_layers)} layers; at most {MAX_LAYERS} are allowed", f"{where}: layers")
    hidden = len(raw_layers) - 1
    layers: list[Layer] = []
    fan_in = values.size
    total = 0
    init_name, init_seed = _init(data.get("init"), f"{where}: init")
    init_layers = []
    for li, raw in enumerate(raw_layers):
        lw = f"{where}: layers[{li}]"
        drawn = isinstance(raw, Mapping) and "weights" not in raw and bool(init_name)
        if drawn:
            raw = _drawn_layer(raw, li, fan_in, init_name, init_seed, lw)
            init_layers.append(li)
        layer = _layer(raw, li, hidden, fan_in, lw, notation, total)
        layer = _skip(raw, layer, li, layers, lw)
        layer = _batch_norm(raw, layer, lw)
        total += layer.weights.size + layer.bias_count + 2 * layer.size * layer.batch_norm
        layers.append(layer)
        fan_in = layer.size
    for li, layer in enumerate(layers[:-1]):
        if layer.rule.output_only:
            raise SpecError(
                f"{layer.activation!r} is allowed on the output layer only", f"{where}: layers[{li}].activation"
            )

    loss_t = _table(data, "loss", where)
    _no_unknown(loss_t, {"name", "targets", "margin"}, where, "loss")
    loss_name = loss_t.get("name")
    if not isinstance(loss_name, str):
        raise SpecError(f"give the loss name as a string; allowed: {', '.join(rules.LOSSES)}", f"{where}: loss.name")
    lrule = rules.loss(loss_name, f"{where}: loss.name")
    loss_params = {}
    if "margin" in loss_t:
        if "margin" not in lrule.defaults:
            raise SpecError(f"loss {loss_name!r} takes no margin", f"{where}: loss.margin")
        loss_params["margin"] = _number(loss_t["margin"], f"{where}: loss.margin")
    out_size = layers[-1].size
    if raw_examples is not None:
        if "targets" in loss_t:
            raise SpecError("give the targets either in [loss] or in [[examples]], not both", f"{where}: loss.targets")
        examples = []
        for k, ex in enumerate(raw_examples):
            ew = f"{where}: examples[{k}]"
            if not isinstance(ex, Mapping):
                raise SpecError("each [[examples]] entry must be a table with inputs and targets", ew)
            _no_unknown(ex, {"inputs", "targets"}, where, f"examples[{k}]")
            x = _vector(ex.get("inputs"), f"{ew}.inputs")
            if x.size != values.size:
                raise SpecError(f"{x.size} inputs; every example needs {values.size}", f"{ew}.inputs")
            t = _vector(ex.get("targets"), f"{ew}.targets")
            if t.size != out_size:
                raise SpecError(
                    f"{t.size} targets for {out_size} output neurons; give one per output neuron", f"{ew}.targets"
                )
            _check_loss_fit(lrule, t, layers[-1], f"{where}: loss", f"{ew}.targets")
            examples.append((x, t))
        targets = examples[0][1]
    else:
        targets = _vector(loss_t.get("targets"), f"{where}: loss.targets")
        if targets.size != out_size:
            raise SpecError(
                f"{targets.size} targets for {out_size} output neurons; give one per output neuron",
                f"{where}: loss.targets",
            )
        _check_loss_fit(lrule, targets, layers[-1], f"{where}: loss")
        examples = [(values, targets)]

    scaling = _scaling_name(data.get("scaling"), f"{where}: scaling")
    given_examples = tuple(examples)
    if scaling:
        examples = _scaled(scaling, examples, input_names, raw_examples is not None, where)
        values, targets = examples[0]

    training = data.get("training", {})
    if not isinstance(training, Mapping):
        raise SpecError("[training] must be a table", f"{where}: training")
    _no_unknown(
        training,
        {
            "learning_rate",
            "update_biases",
            "optimizer",
            "batch",
            "decay",
            "regularization",
            "dropout",
            "reduction",
            "clip_norm",
            "clip_value",
            "validation",
            "patience",
        },
        where,
        "training",
    )
    no_params = all(l.weights.size + l.bias_count == 0 for l in layers)
    if "learning_rate" not in training and not no_params:
        raise SpecError("give the learning rate, a number > 0", f"{where}: training.learning_rate")
    # a network without weights and biases (a softmax over given scores) has nothing to update: no rate needed
    lr = _number(training.get("learning_rate", 1.0), f"{where}: training.learning_rate")
    if lr <= 0:
        raise SpecError(f"the learning rate must be > 0, got {lr!r}", f"{where}: training.learning_rate")
    update_biases = training.get("update_biases", False)
    if not isinstance(update_biases, bool):
        raise SpecError("update_biases must be true or false", f"{where}: training.update_biases")

    conv = _conventions(data.get("conventions", {}), f"{where}: conventions")
    train = _training(training, f"{where}: training", len(layers) - 1, [l.size for l in layers])
    _check_skip_dropout(layers, train, f"{where}: training.dropout.layers")
    train = _clipping(train, training, f"{where}: training")
    train = _early_stopping(
        train, training, f"{where}: training", values.size, lrule, layers[-1], scaling, given_examples
    )
    _check_batch_norm(layers, train, len(examples), where)
    if conv.update_order == "updated-first" and not (train.plain and (train.batch == 1 or len(examples) == 1)):
        raise SpecError(
            "updated-first is an order of plain gradient descent on one example at a time; it does not "
            "combine with another optimizer, batches, decay, regularization or dropout",
            f"{where}: conventions.update_order",
        )

    net = Network(
        input_names=tuple(input_names),
        inputs=values,
        layers=tuple(layers),
        loss=loss_name,
        loss_params=loss_params,
        targets=targets,
        learning_rate=lr,
        update_biases=update_biases,
        conventions=conv,
        notation=notation,
        title=title,
        description=description,
        source=source,
        name=name,
        training=train,
        examples=tuple(examples),
        scaling=scaling,
        raw_examples=given_examples if scaling else (),
        init=init_name,
        init_seed=init_seed,
        init_layers=tuple(init_layers),
    )
    _check_unique_names(net, where)
    return net


def _training(raw: Mapping, where: str, hidden: int, sizes: list[int]) -> Training:
    from . import rules

    name, rule, params = _named_rule(
        raw.get("optimizer", "sgd"), "optimizer", rules.OPTIMIZERS, rules.optimizer, f"{where}.optimizer"
    )
    for k, x in params.items():
        if k in ("beta", "mu", "beta1", "beta2", "rho") and not 0 <= x < 1:
            raise SpecError(f"{k} must be in [0, 1), got {x!r}", f"{where}.optimizer.{k}")
        if k == "eps" and not x > 0:
            raise SpecError(f"eps must be > 0, got {x!r}", f"{where}.optimizer.{k}")
    batch = raw.get("batch", "full")
    if batch == "full":
        batch = None
    elif batch == "sgd":
        batch = 1
    elif isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f'batch must be "full", "sgd" or a whole number >= 1, got {_show(batch)}', f"{where}.batch")
    reduction = raw.get("reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise SpecError(
            f'reduction must be "mean" (the batch\'s gradients averaged) or "sum" (added up), got {_show(reduction)}',
            f"{where}.reduction",
        )
    decay = _number(raw.get("decay", 0.0), f"{where}.decay")
    if decay < 0:
        raise SpecError(f"decay must be >= 0, got {decay!r}", f"{where}.decay")
    reg = raw.get("regularization", {})
    if not isinstance(reg, Mapping):
        raise SpecError('regularization must be a table: { kind = "l2", lambda = 0.01 }', f"{where}.regularization")
    _no_unknown(reg, {"kind", "lambda", "biases"}, where.split(": ")[0], where.split(": ")[-1] + ".regularization")
    kind = reg.get("kind", "")
    if reg and kind not in ("l1", "l2"):
        raise SpecError(f'kind must be "l1" or "l2", got {_show(kind)}', f"{where}.regularization.kind")
    lam = _number(reg.get("lambda", 0.0), f"{where}.regularization.lambda")
    if lam < 0:
        raise SpecError(f"lambda must be >= 0, got {lam!r}", f"{where}.regularization.lambda")
    reg_biases = reg.get("biases", False)
    if not isinstance(reg_biases, bool):
        raise SpecError("biases must be true or false", f"{where}.regularization.biases")
    drop = raw.get("dropout", {})
    if not isinstance(drop, Mapping):
        raise SpecError("dropout must be a table: { rate = 0.5 }", f"{where}.dropout")
    _no_unknown(
        drop, {"rate", "layers", "inverted", "seed", "mask"}, where.split(": ")[0], where.split(": ")[-1] + ".dropout"
    )
    rate = _number(drop.get("rate", 0.0), f"{where}.dropout.rate")
    if not 0 <= rate < 1:
        raise SpecError(f"rate must be in [0, 1), got {rate!r}", f"{where}.dropout.rate")
    layers = drop.get("layers", list(range(hidden)))
    if not isinstance(layers, list) or any(
        isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < hidden for i in layers
    ):
        raise SpecError(f"layers must list hidden layers by index, 0 to {hidden - 1}", f"{where}.dropout.layers")
    if drop and hidden == 0:
        raise SpecError("dropout needs a hidden layer", f"{where}.dropout")
    inverted = drop.get("inverted", True)
    if not isinstance(inverted, bool):
        raise SpecError("inverted must be true or false", f"{where}.dropout.inverted")
    seed = drop.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise SpecError("seed must be a whole number from 0 to 2^32 - 1", f"{where}.dropout.seed")
    mask = drop.get("mask")
    if mask is not None:
        if not isinstance(mask, list) or len(mask) != len(layers):
            raise SpecError(f"mask needs one row per dropout layer ({len(layers)})", f"{where}.dropout.mask")
        rows = []
        for r, (li, row) in enumerate(zip(layers, mask)):
            if (
                not isinstance(row, list)
                or len(row) != sizes[li]
                or any(v not in (0, 1) or isinstance(v, bool) for v in row)
            ):
                raise SpecError(
                    f"row {r} needs {sizes[li]} entries, each 0 (dropped) or 1 (kept)", f"{where}.dropout.mask[{r}]"
                )
            rows.append(tuple(float(v) for v in row))
        mask = tuple(rows)
        if not rate:
            raise SpecError(
                "a mask needs the rate it was drawn with (for the inverted scaling 1/(1 - rate))",
                f"{where}.dropout.rate",
            )
    return Training(
        name,
        params,
        batch,
        decay,
        kind,
        lam,
        reg_biases,
        rate,
        tuple(layers) if (rate or mask) else (),
        inverted,
        seed,
        mask,
        reduction,
    )


# -- the rest of the syllabus (seeds 000 and 002): initialization, feature scaling, clipping, early stopping ----


def _init(raw: Any, where: str) -> tuple[str, int]:
    """``init = "he_normal"`` or ``init = { name = "he_normal", seed = 7 }``: (name, seed); ("", 0) without."""
    if raw is None:
        return "", 0
    if isinstance(raw, Mapping):
        _no_unknown(raw, {"name", "seed"}, where, "")
        name, seed = raw.get("name"), raw.get("seed", 0)
    else:
        name, seed = raw, 0
    if not isinstance(name, str):
        raise SpecError(f"give the initialization's name; allowed: {', '.join(rules.INITS)}", where)
    rules.init(name, where)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise SpecError(f"seed must be a whole number from 0 to 2^32 - 1, got {_show(seed)}", f"{where}.seed")
    return name, seed


def _drawn_layer(raw: Mapping, li: int, fan_in: int, name: str, seed: int, where: str) -> dict:
    """The layer's table with the weights the initialization draws (fan-out = the layer's neurons)."""
    if "neurons" in raw:
        size = _count(raw["neurons"], f"{where}.neurons")
    else:
        size = raw.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_WIDTH:
            raise SpecError(f"give the layer's neurons (names) or its size (1 to {MAX_WIDTH})", where)
    if size * fan_in > MAX_PARAMETERS:
        raise SpecError(f"{size * fan_in} weights; a network may have at most {MAX_PARAMETERS} parameters", where)
    _, weights = rules.init_np(rules.INITS[name], fan_in, max(size, 1), (seed, li))
    return {**raw, "weights": weights.tolist()}


def _scaling_name(raw: Any, where: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise SpecError(f"give the scaling's name; allowed: {', '.join(rules.SCALINGS)}", where)
    rules.scaling(raw, where)
    return raw


def _scaled(name: str, examples, input_names, from_examples: bool, where: str):
    """The examples with their inputs scaled over all examples; a constant input cannot be scaled."""
    rule = rules.SCALINGS[name]
    X = np.array([x for x, _ in examples])
    stats, scaled = rules.scale_np(rule, X)
    divisor = stats["std"] if rule.divisor == "std" else stats["max"] - stats["min"]
    place = f"{where}: examples" if from_examples else f"{where}: inputs.values"
    for i, d in enumerate(divisor):
        if not d > 0:
            what = "standard deviation" if rule.divisor == "std" else "range max - min"
            raise SpecError(
                f"input {input_names[i]} has the same value in every example ({_show(float(X[0, i]))}), so its "
                f"{what} is 0 and {name} would divide by 0; give examples where it varies, or leave out scaling",
                f"{place}[*].inputs[{i}]" if from_examples else f"{place}[{i}]",
            )
    return [(scaled[k], t) for k, (_, t) in enumerate(examples)]


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


def _check_batch_norm(layers: list[Layer], train: Training, n_examples: int, where: str) -> None:
    """Batch normalization needs at least two examples in every batch (the variance of one is 0)."""
    first = next((li for li, l in enumerate(layers) if l.batch_norm), None)
    if first is None:
        return
    place = f"{where}: layers[{first}].batch_norm"
    if train.clipped:
        raise SpecError(
            "gradient clipping of a batch-normalized network is not supported (gamma and beta would need "
            "clipping too); leave out clip_norm/clip_value",
            place,
        )
    if n_examples < 2:
        raise SpecError(
            "batch normalization needs a batch of at least two examples (the variance of one example is 0); "
            "give several [[examples]]",
            place,
        )
    size = n_examples if train.batch is None else min(train.batch, n_examples)
    if size < 2 or n_examples % size == 1:
        raise SpecError(
            f"batch normalization needs at least two examples in every batch; batch = {size} over {n_examples} "
            "examples leaves a batch of one",
            f"{where}: training.batch",
        )


def _check_skip_dropout(layers: list[Layer], train: Training, where: str) -> None:
    for layer in layers:
        if layer.skip is not None and layer.skip in train.dropout_layers:
            raise SpecError(f"layers[{layer.skip}] feeds a skip connection; dropout on it is not supported", where)


def _clipping(train: Training, raw: Mapping, where: str) -> Training:
    out = {}
    for key in ("clip_norm", "clip_value"):
        if key in raw:
            c = _number(raw[key], f"{where}.{key}")
            if not c > 0:
                raise SpecError(f"{key} must be > 0 (the largest allowed gradient), got {c!r}", f"{where}.{key}")
            out[key] = c
    if len(out) == 2:
        raise SpecError("clip by the global norm or by value, not both", f"{where}.clip_value")
    return replace(train, **out)


def _early_stopping(
    train: Training, raw: Mapping, where: str, n_in: int, lrule, out_layer: Layer, scaling: str, examples
) -> Training:
    """``validation = [{ inputs = [...], targets = [...] }, ...]`` and ``patience = N``: scaled with the
    training examples' statistics, as a validation set must be."""
    val = raw.get("validation")
    patience = raw.get("patience")
    if patience is not None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise SpecError(
                f"patience must be a whole number >= 1 (epochs), got {_show(patience)}", f"{where}.patience"
            )
        if val is None:
            raise SpecError(
                "patience counts epochs without a better validation loss: give validation examples too "
                "(validation = [{ inputs = [...], targets = [...] }])",
                f"{where}.patience",
            )
    if val is None:
        return train
    if not isinstance(val, list) or not val:
        raise SpecError("validation needs at least one table with inputs and targets", f"{where}.validation")
    if len(val) > MAX_EXAMPLES:
        raise SpecError(f"{len(val)} validation examples; at most {MAX_EXAMPLES}", f"{where}.validation")
    rows = []
    for k, ex in enumerate(val):
        ew = f"{where}.validation[{k}]"
        if not isinstance(ex, Mapping):
            raise SpecError("each validation example must be a table with inputs and targets", ew)
        _no_unknown(ex, {"inputs", "targets"}, where, f"validation[{k}]")
        x = _vector(ex.get("inputs"), f"{ew}.inputs")
        if x.size != n_in:
            raise SpecError(f"{x.size} inputs; every example needs {n_in}", f"{ew}.inputs")
        t = _vector(ex.get("targets"), f"{ew}.targets")
        if t.size != out_layer.size:
            raise SpecError(f"{t.size} targets for {out_layer.size} output neurons", f"{ew}.targets")
        _check_loss_fit(lrule, t, out_layer, where, f"{ew}.targets")
        rows.append((x, t))
    scaled = rows
    if scaling:
        rule = rules.SCALINGS[scaling]
        stats, _ = rules.scale_np(rule, np.array([x for x, _ in examples]))
        scaled = [(rule.np(x, stats), t) for x, t in rows]
    return replace(train, validation=tuple(scaled), raw_validation=tuple(rows), patience=patience)


def _named_rule(raw: Any, kind: str, registry: Mapping, lookup, where: str):
    """A rule given by name, or as a table ``{ name = "...", <parameter> = <number> }``: (name, rule, params)."""
    if isinstance(raw, Mapping):
        name, given = raw.get("name"), {k: v for k, v in raw.items() if k != "name"}
    else:
        name, given = raw, {}
    if not isinstance(name, str):
        raise SpecError(f"give the {kind}'s name; allowed: {', '.join(registry)}", where)
    rule = lookup(name, where)
    params = {}
    for k, v in given.items():
        if k not in rule.defaults:
            raise SpecError(
                f"{kind} {name!r} takes no parameter {k!r}; allowed: {', '.join(rule.defaults) or 'none'}",
                f"{where}.{k}",
            )
        params[k] = _number(v, f"{where}.{k}")
    return name, rule, params


def _conventions(raw: Any, where: str) -> Conventions:
    if not isinstance(raw, Mapping):
        raise SpecError("[conventions] must be a table", where)
    _no_unknown(raw, {"rounding", "digits", "update_order"}, where, "")
    rounding = raw.get("rounding", "exact")
    if rounding not in ROUNDINGS:
        raise SpecError(f"rounding {rounding!r} is not one of {', '.join(ROUNDINGS)}", f"{where}.rounding")
    digits = raw.get("digits", 9)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= MAX_DIGITS:
        raise SpecError(f"digits must be a whole number from 1 to {MAX_DIGITS}, got {digits!r}", f"{where}.digits")
    order = raw.get("update_order", "standard")
    if order not in UPDATE_ORDERS:
        raise SpecError(f"update_order {order!r} is not one of {', '.join(UPDATE_ORDERS)}", f"{where}.update_order")
    return Conventions(rounding=rounding, digits=digits, update_order=order)


def _layer(raw: Any, li: int, hidden: int, fan_in: int, where: str, notation, total: int) -> Layer:
    if not isinstance(raw, Mapping):
        raise SpecError("each [[layers]] entry must be a table", where)
    _no_unknown(raw, _LAYER_KEYS, where, "")
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


def _check_loss_fit(lrule: rules.Loss, targets: np.ndarray, out: Layer, where: str, twhere: str = "") -> None:
    twhere = twhere or f"{where}.targets"
    if lrule.needs_one_hot:
        ok = np.all((targets == 0) | (targets == 1)) and targets.sum() == 1
        if not ok:
            raise SpecError(f"loss {lrule.name!r} needs one-hot targets (one 1, the rest 0)", twhere)
        if targets.size < 2:
            raise SpecError(
                f"loss {lrule.name!r} compares the true class's score with the others': use at least two output "
                "neurons (one per class)",
                f"{where}.name",
            )
        if lrule.name == "hinge" and targets.size != 2:
            raise SpecError(
                "the hinge loss max(0, 1 + s_c - s) compares two scores: use two output neurons, "
                "or multiclass_hinge for more",
                f"{where}.name",
            )
    if lrule.target_range is not None:
        lo, hi = lrule.target_range
        if np.any(targets < lo) or np.any(targets > hi):
            raise SpecError(f"loss {lrule.name!r} needs targets in [{lo:g}, {hi:g}]", twhere)
    if lrule.output_range is not None and out.activation not in ("sigmoid", "softmax"):
        raise SpecError(
            f"loss {lrule.name!r} needs outputs in ({lrule.output_range[0]:g}, {lrule.output_range[1]:g}); "
            f"use a sigmoid or softmax output layer, not {out.activation!r}",
            f"{where}.name",
        )


def _check_unique_names(net: Network, where: str) -> None:
    seen: dict[str, str] = {}

    def add(name: str, what: str) -> None:
        if name in seen and not (what.startswith("the bias") and seen[name] == what):
            raise SpecError(
                f"the name {name!r} is used for both {seen[name]} and {what}; every name must be unique", where
            )
        seen[name] = what

    for n in net.input_names:
        add(n, f"input {n}")
    for li, layer in enumerate(net.layers):
        for j in range(len(layer.neurons)):
            add(layer.net_names[j], f"the net input of layers[{li}].neurons[{j}]")
            add(layer.out_names[j], f"the output of layers[{li}].neurons[{j}]")
        if layer.batch_norm:
            for what in ("mu", "var", "xhat", "y", "gamma", "beta", "running_mean", "running_var"):
                for j, n in enumerate(layer.bn_names(what)):
                    add(n, f"the batch normalization's {what} of layers[{li}].neurons[{j}]")
            add(f"eps_L{li + 1}", f"the epsilon of layers[{li}]")
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                add(w, f"weight layers[{li}].weights[{j}][{i}]")
        if layer.shared_bias:
            add(layer.bias_labels[0], f"the bias of layers[{li}]")
        else:
            for j, b in enumerate(layer.bias_labels):
                add(b, f"bias layers[{li}].biases[{j}]")
    for n in net.target_names():
        add(n, f"target {n}")
    add(net.notation["loss"], "the loss")
    add("eta", "the learning rate (eta is reserved)")
    if net.loss_rule.separable:
        for n in net.loss_term_names():
            add(n, f"loss term {n}")


def _notation(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise SpecError("[notation] must be a table", where)
    _no_unknown(raw, set(_NOTATION_DEFAULTS), where, "")
    out = dict(_NOTATION_DEFAULTS)
    for key, value in raw.items():
        # A pattern without its placeholder is fine for one neuron ("desired"); for more, the names
        # collide and the uniqueness check reports it.
        text = _text(value, f"{where}.{key}", limit=MAX_LABEL)
        allowed = {"updated": "{param}", "loss": None}.get(key, "{neuron}")
        for ph in ("{neuron}", "{param}"):
            if ph in text and ph != allowed:
                raise SpecError(
                    f"{ph} has no meaning in this pattern" + (f"; use {allowed}" if allowed else ""), f"{where}.{key}"
                )
        if key == "updated" and text == "{param}":
            raise SpecError(
                "the updated name must differ from the parameter's: add a suffix or prefix, e.g. '{param}+'",
                f"{where}.{key}",
            )
        filled = text.replace("{neuron}", "n").replace("{param}", "p")
        if key == "updated" and filled.endswith("+"):
            filled = filled[:-1]  # w5+ is Mazur's name for the updated w5
        if "{param}" not in text and key == "updated":
            raise SpecError("the pattern must contain {param}, e.g. '{param}+' or '{param}new'", f"{where}.{key}")
        if not _NAME.match(filled if filled[:1].isalpha() else "x" + filled):
            raise SpecError(
                f"{_show(text)} is not allowed: {NAME_RULE}, with {{neuron}} or {{param}} where "
                "the neuron's or parameter's name goes",
                f"{where}.{key}",
            )
        out[key] = text
    return out


# ----------------------------------------------------------------------------------------------------
# Value checkers: every one names the place and says what is allowed.


def _no_unknown(table: Mapping, allowed: set, where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            place = f"{where}: {prefix + '.' if prefix else ''}{key}"
            raise SpecError(f"unknown key; allowed here: {', '.join(sorted(allowed))}", place)


def _table(data: Mapping, key: str, where: str) -> Mapping:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise SpecError(f"missing [{key}] table", f"{where}: {key}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, (np.floating, np.integer)) and not isinstance(value, np.bool_):
        value = float(value) if isinstance(value, np.floating) else int(value)  # any float or integer dtype
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a number, got {_show(value)}", where)
    try:
        x = float(value)
    except OverflowError:  # a TOML integer has no size limit
        raise SpecError(f"{_show(value)} is too large; expected a finite number", where) from None
    if not math.isfinite(x):
        raise SpecError(f"expected a finite number, got {value!r}", where)
    return x


def _listed(value: Any, where: str = "") -> Any:
    """A NumPy array or a tuple as the list the TOML format would give (the Python API takes both)."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.getmaskarray(value).any():
        # tolist() would give None where an entry is masked, and np.asarray the hidden number under it
        raise SpecError("is a masked array with masked entries; give every value (e.g. np.ma.filled(a, value))", where)
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    return list(value) if isinstance(value, tuple) else value


def _vector(value: Any, where: str) -> np.ndarray:
    value = _listed(value, where)
    if not isinstance(value, list):
        raise SpecError(f"expected a list of numbers, got {_show(value)}", where)
    return np.array([_number(v, f"{where}[{i}]") for i, v in enumerate(value)], dtype=float)


def _matrix(value: Any, rows: int, cols: int, where: str) -> np.ndarray:
    value = _listed(value, where)
    if isinstance(value, list):
        value = [_listed(r, f"{where}[{j}]") for j, r in enumerate(value)]
    if not isinstance(value, list):
        raise SpecError(
            f"expected {rows} rows (one per neuron) of {cols} numbers (one per input), got {_show(value)}", where
        )
    if len(value) != rows:
        raise SpecError(
            f"expected {rows} rows (one per neuron) of {cols} numbers (one per input), got {len(value)} rows", where
        )
    out = np.empty((rows, cols))
    for j, row in enumerate(value):
        if not isinstance(row, list) or len(row) != cols:
            n = len(row) if isinstance(row, list) else _show(row)
            raise SpecError(f"expected {cols} numbers (one per input of the layer), got {n}", f"{where}[{j}]")
        for i, v in enumerate(row):
            out[j, i] = _number(v, f"{where}[{j}][{i}]")
    return out


def _count(value: Any, where: str) -> int:
    if not isinstance(value, list):
        raise SpecError(f"expected a list of names, got {_show(value)}", where)
    return len(value)


# C0 and C1 controls and the bidirectional embeddings, overrides and isolates: they reach a terminal raw (ESC c
# resets it), reorder what a reader sees, and make pdflatex fail. A newline and a tab are allowed in free text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z")
NAME_RULE = "a name starts with a letter and has only letters, digits, '_' and '.'"


def _text(value: Any, where: str, limit: int, label: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(f"expected a string, got {_show(value)}", where)
    if len(value) > limit:
        raise SpecError(f"at most {limit} characters, got {len(value)}", where)
    if label and not _NAME.match(value):
        raise SpecError(f"{_show(value)} is not allowed: {NAME_RULE} (at most {limit} characters)", where)
    return free_text(value, where, limit) if not label else value


def free_text(value: str, where: str, limit: int) -> str:
    """Free text a user wrote (a title, a description, a note), refused when it holds a control character or a
    bidirectional override (a newline and a tab are fine)."""
    if len(value) > limit:
        raise SpecError(f"at most {limit} characters, got {len(value)}", where)
    bad = _CONTROL.search(value)
    if bad:
        raise SpecError(
            f"control and bidirectional-override characters are not allowed (U+{ord(bad.group()):04X} at "
            f"character {bad.start() + 1})",
            where,
        )
    return value


def _labels(value: Any, n: int, where: str, default: list[str] | None = None) -> list[str]:
    if value is None:
        if default is None:
            raise SpecError(f"expected a list of {n} names", where)
        return list(default)
    if not isinstance(value, list) or len(value) != n:
        got = len(value) if isinstance(value, list) else _show(value)
        raise SpecError(f"expected a list of {n} names, got {got}", where)
    names = [_text(v, f"{where}[{i}]", limit=MAX_LABEL, label=True) for i, v in enumerate(value)]
    if len(set(names)) != len(names):
        dup = next(x for x in names if names.count(x) > 1)
        raise SpecError(f"the name {dup!r} appears twice; names must be unique", where)
    return names


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
