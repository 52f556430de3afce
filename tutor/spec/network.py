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
from .layers import LayerContext, kind_of, lookup
from .layers.dense import BN_EPSILON, BN_MOMENTUM, Layer  # noqa: F401 - re-exported: the spec's one home of Layer
from .resources import check_path, example_names, example_path, read_text
from .values import (
    _NAME,
    MAX_LABEL,
    MAX_PARAMETERS,
    MAX_WIDTH,
    NAME_RULE,
    _count,
    _labels,
    _named_rule,
    _no_unknown,
    _number,
    _show,
    _table,
    _text,
    _vector,
    free_text,  # noqa: F401 - re-exported: the checker and the quiz read free text through it
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MAX_LAYERS = 16
MAX_FILE_BYTES = 2_000_000  # spec.kind reads graph specs at the same limit
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
    # as-printed only: kinds of quantity (rounding.DIGIT_KINDS) carried at their own decimals, as (kind, digits)
    digits_of: tuple[tuple[str, int], ...] = ()

    def describe_rounding(self) -> str:
        if self.rounding == "exact":
            return "exact float64"
        if not self.digits_of:
            return f"as printed, every shown value rounded to {self.digits} decimals and carried forward"
        own = ", ".join(f"{k} at {d}" for k, d in self.digits_of)
        return f"as printed, every shown value rounded ({own}, the rest at {self.digits} decimals) and carried forward"

    def describe(self) -> str:
        r = self.describe_rounding()
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
    loss_free: bool = False  # no [loss] table: only the gradient of one output (explain/check --of) applies

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
        return sum(kind_of(l).parameters(l) for l in self.layers)

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
            "digits_of": dict(self.conventions.digits_of),
        }
        if changes.get("rounding") == "exact" and "digits_of" not in changes:
            data["digits_of"] = {}  # decimals of their own belong to as-printed rounding only
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
    _no_unknown(inputs, {"names", "values", "shape"}, where, "inputs")
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

    in_shape = _input_shape(inputs, values.size, f"{where}: inputs.shape")

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
        drawn = isinstance(raw, Mapping) and "weights" not in raw and bool(init_name) and "kind" not in raw
        if drawn:
            raw = _drawn_layer(raw, li, fan_in, init_name, init_seed, lw)
            init_layers.append(li)
        if not isinstance(raw, Mapping):
            raise SpecError("each [[layers]] entry must be a table", lw)
        kind = lookup(raw.get("kind", "dense"), f"{lw}.kind")
        layer = kind.read(raw, LayerContext(li, hidden, fan_in, lw, notation, total, tuple(layers), in_shape))
        total += kind.parameters(layer)
        layers.append(layer)
        fan_in = layer.size
        in_shape = getattr(layer, "out_shape", None)  # feature maps go on to the next layer; a vector does not
    for li, layer in enumerate(layers[:-1]):
        if layer.rule.output_only:
            raise SpecError(
                f"{layer.activation!r} is allowed on the output layer only", f"{where}: layers[{li}].activation"
            )

    # without a [loss] table the spec is for the loss-free mode (the gradient of one output, --of OUTPUT): its
    # placeholder loss and zero targets are never shown, and the commands that need a loss refuse it
    loss_free = "loss" not in data and raw_examples is None
    loss_t = {"name": "half_sse", "targets": [0.0] * layers[-1].size} if loss_free else _table(data, "loss", where)
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
    if "learning_rate" not in training and not no_params and not loss_free:
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
        loss_free=loss_free,
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
        if k == "wd" and not x >= 0:
            raise SpecError(f"wd must be >= 0, got {x!r}", f"{where}.optimizer.{k}")
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


def _conventions(raw: Any, where: str) -> Conventions:
    if not isinstance(raw, Mapping):
        raise SpecError("[conventions] must be a table", where)
    _no_unknown(raw, {"rounding", "digits", "update_order", "digits_of"}, where, "")
    rounding = raw.get("rounding", "exact")
    if rounding not in ROUNDINGS:
        raise SpecError(f"rounding {rounding!r} is not one of {', '.join(ROUNDINGS)}", f"{where}.rounding")
    digits = raw.get("digits", 9)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= MAX_DIGITS:
        raise SpecError(f"digits must be a whole number from 1 to {MAX_DIGITS}, got {digits!r}", f"{where}.digits")
    order = raw.get("update_order", "standard")
    if order not in UPDATE_ORDERS:
        raise SpecError(f"update_order {order!r} is not one of {', '.join(UPDATE_ORDERS)}", f"{where}.update_order")
    return Conventions(
        rounding=rounding,
        digits=digits,
        update_order=order,
        digits_of=_digits_of(raw.get("digits_of", {}), rounding, where),
    )


def _digits_of(raw: Any, rounding: str, where: str) -> tuple[tuple[str, int], ...]:
    """``[conventions.digits_of]``: kinds of quantity carried at their own decimals under as-printed rounding
    (``out = 4, delta = 5``), as a hand calculation prints and carries them."""
    from .rounding import DIGIT_KINDS

    if not isinstance(raw, Mapping):
        raise SpecError(
            "expected a table of decimals by kind, e.g. [conventions.digits_of] out = 4", f"{where}.digits_of"
        )
    if raw and rounding != "as-printed":
        raise SpecError('decimals by kind need rounding = "as-printed"', f"{where}.digits_of")
    out = []
    for kind, d in raw.items():
        if kind not in DIGIT_KINDS:
            raise SpecError(f"unknown kind; allowed: {', '.join(DIGIT_KINDS)}", f"{where}.digits_of.{kind}")
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DIGITS:
            raise SpecError(
                f"digits must be a whole number from 1 to {MAX_DIGITS}, got {d!r:.40}", f"{where}.digits_of.{kind}"
            )
        out.append((kind, d))
    return tuple(sorted(out, key=lambda kd: list(DIGIT_KINDS).index(kd[0])))


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
    if lrule.needs_output and out.activation != lrule.needs_output:
        raise SpecError(
            f"loss {lrule.name!r} takes the outputs of a {lrule.needs_output} output layer, not {out.activation!r}",
            f"{where}.name",
        )
    if out.activation == "log_softmax" and lrule.name != "nll":
        raise SpecError(
            f"a log_softmax output gives log-probabilities, which loss 'nll' takes, not {lrule.name!r}", f"{where}.name"
        )
    if lrule.output_range is not None and out.activation not in ("sigmoid", "softmax"):
        raise SpecError(
            f"loss {lrule.name!r} needs outputs in ({lrule.output_range[0]:g}, {lrule.output_range[1]:g}); "
            f"use a sigmoid or softmax output layer, not {out.activation!r}",
            f"{where}.name",
        )


def _input_shape(inputs: Mapping, n: int, where: str) -> tuple[int, ...] | None:
    """[inputs] shape = [channels, length] or [channels, height, width]: the values are feature maps, channel by
    channel and row by row (as torch flattens them), for the convolution and pooling layers."""
    if "shape" not in inputs:
        return None
    shape = inputs["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) not in (2, 3)
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
    ):
        raise SpecError("shape is [channels, length] or [channels, height, width], whole numbers >= 1", where)
    if math.prod(shape) != n:
        raise SpecError(f"shape {shape} holds {math.prod(shape)} values, but {n} inputs are given", where)
    return tuple(shape)


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
