"""Step records: every computed quantity of a training step, as the engines hand them to the renderers.

A Quantity is one shown line: its stable key (also its SymPy symbol's name), its formula in other
quantities' symbols, the values substituted, and its value. Renderers read these records and never compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..spec.network import Conventions, Network


@dataclass(frozen=True)
class Form:
    """A local form derived once per kind: an expression in positional placeholders and its evaluator."""

    expr: Any  # sympy.Expr in placeholder symbols _0, _1, ...
    fn: Callable[..., float]
    placeholders: tuple


def placeholder_index(expr: Any, placeholders: tuple) -> int:
    """Where ``expr`` is among ``placeholders`` (the first), or -1: what ``tuple.index`` answers, with SymPy's
    slow ``==`` asked only of a placeholder whose (cached) hash is the same, since a form of a 256-input neuron
    has 513 placeholders and each of its 513 derivatives is looked up.

    >>> import sympy
    >>> P = tuple(sympy.Symbol(f"_{i}", real=True) for i in range(3))
    >>> placeholder_index(sympy.Symbol("_2", real=True), P), placeholder_index(P[0] + P[1], P)
    (2, -1)
    >>> placeholder_index(sympy.Symbol("_2"), P)  # another symbol of the same name (not real): not one of them
    -1
    """
    # _i is at position i in the engines' forms: asked first (a form's placeholders are distinct, being the
    # arguments of its evaluator, so the one found there is the first)
    name = getattr(expr, "name", "")
    if name[:1] == "_" and name[1:].isdigit():
        i = int(name[1:])
        if i < len(placeholders) and (placeholders[i] is expr or placeholders[i] == expr):
            return i
    h = hash(expr)
    for i, p in enumerate(placeholders):
        if p is expr or (hash(p) == h and p == expr):
            return i
    return -1


@dataclass(frozen=True)
class Label:
    """How a quantity is written: a plain name, a partial derivative, or an updated parameter."""

    kind: str  # "name" | "partial" | "updated" | "state" | "kept" | "share" (of a batch mean: base/N)
    text: str = ""  # for "name": the name as the spec gives it
    num: str = ""  # for "partial": key of the numerator, and of the denominator
    den: str = ""
    via: str = ""  # for a path contribution: the downstream neuron it goes through
    base: str = ""  # for "updated": the parameter's key
    note: str = ""  # e.g. "simplified", shown beside the derivative; "total": a graph's gradient of its output
    # (written d f/d x, the sum over every path, beside the gates' local derivatives written with ∂)


@dataclass
class Quantity:
    key: str
    kind: str  # input param target rate net out loss_term loss factor delta contribution sum gradient update
    value: float
    form: Form | None = None  # None for a given value
    args: tuple[str, ...] = ()  # keys bound to the form's placeholders, in order
    of_form: Form | None = None  # for a derivative: the expression that was differentiated ...
    of_args: tuple[str, ...] = ()
    wrt: str = ""  # ... and the key of the variable it was differentiated by
    note: str = ""
    layer: int | None = None
    index: int | None = None

    @property
    def formula(self):
        """The formula in the network's own symbols (SymPy)."""
        return _bind(self.form, self.args) if self.form is not None else None

    @property
    def differentiated(self):
        """For a derived factor, the expression it is the derivative of (SymPy)."""
        return _bind(self.of_form, self.of_args) if self.of_form is not None else None


def _bind(form: Form, keys: tuple[str, ...]):
    from .symbols import symbol

    return form.expr.xreplace({p: symbol(k) for p, k in zip(form.placeholders, keys)})


@dataclass
class NeuronForward:
    name: str
    net: str  # key of its net input
    out: str  # key of its output
    kept: str = ""  # with dropout: the output times its mask (what the next layer reads)
    mask: str = ""  # with dropout: the key of its mask entry (0 dropped, 1 kept)
    xhat: str = ""  # with batch normalization: (net - mu)/sqrt(var + eps), then y = gamma xhat + beta, out = f(y)
    y: str = ""

    @property
    def read(self) -> str:
        """The key the next layer reads."""
        return self.kept or self.out


@dataclass
class NeuronBackward:
    """The error signal of one neuron: dE/dout (a sum over downstream neurons for a hidden one),
    dout/dnet (or the Jacobian entries for softmax), and the delta dE/dnet."""

    name: str
    layer: int
    dE_dout: str
    contributions: list[str] = field(default_factory=list)  # hidden neurons: one per downstream neuron
    dE_dkept: str = ""  # with dropout: the sum over downstream neurons, before the mask's factor
    dkept_dout: str = ""  # with dropout: mask * scale, derived from the kept output
    dout_dnet: str = ""
    jacobian: list[str] = field(default_factory=list)  # softmax: dE/dout_k * dout_k/dnet_j terms
    delta: str = ""
    simplified: str = ""  # softmax + cross-entropy: out - target
    # batch normalization: dout/dy = f'(y), dE/dy, dy/dxhat = gamma, dE/dxhat; the delta is then dE/dnet
    # through xhat, the batch's variance and its mean
    dout_dy: str = ""
    dE_dy: str = ""
    dy_dxhat: str = ""
    dE_dxhat: str = ""


@dataclass
class ParamStep:
    """One weight or bias: its chain-rule factors, the gradient, and the update."""

    label: str  # the parameter's key
    layer: int
    kind: str  # "weight" | "bias" | "gamma" | "beta" (batch normalization's scale and shift)
    neuron: str
    source: str  # the input or neuron it comes from ("1" for a bias)
    factors: list[str]  # keys of the factors multiplied (for a shared bias: one chain per neuron)
    gradient: str
    update: str  # key of the updated value ("" when not updated)
    chains: list[list[str]] = field(default_factory=list)  # shared bias: factors per neuron


@dataclass
class Walkthrough:
    """Everything one training step shows, in the order a person computes it."""

    network: Network
    conventions: Conventions
    quantities: dict[str, Quantity]
    labels: dict[str, Label]
    forward: list[list[NeuronForward]]
    loss_terms: list[str]
    loss: str
    backward: list[list[NeuronBackward]]  # output layer first
    params: list[ParamStep]
    loss_after: str
    forward_after: list[list[NeuronForward]]
    check: Any = None  # a gradcheck.Report, when asked for
    input_gradients: list[str] = field(default_factory=list)  # dE/dx of every input (x.grad), by input
    prep: Preparation | None = None  # feature scaling and drawn weights, before the forward pass

    def value(self, key: str) -> float:
        return _value(self.quantities, key)

    def values(self) -> dict[str, float]:
        """Every quantity by its stable key, in computation order."""
        return {k: q.value for k, q in self.quantities.items()}


@dataclass
class InitLayer:
    """A layer whose weights were drawn: fan-in, fan-out, the bound (uniform) or std (normal), the weights."""

    layer: int
    rule: str  # a rules.INITS name
    fan_in: str  # keys
    fan_out: str
    scale: str  # "bound[L1]" or "std[L1]"
    weights: list[list[str]]  # the drawn weights' keys, row by row


@dataclass
class Preparation:
    """What happens before the first forward pass: each input's statistics over the examples and every scaled
    input (seed 000's feature scaling and mean normalization), and the drawn weights (seed 002's Xavier/He)."""

    network: Network
    conventions: Conventions
    quantities: dict[str, Quantity]
    labels: dict[str, Label]
    scaling: str  # "" or a rules.SCALINGS name
    stats: list[list[str]]  # per input: the keys of its statistics
    examples: list[list[tuple[str, str]]]  # per example: (raw key, scaled key) per input
    validation: list[list[tuple[str, str]]]  # the same for the validation examples, with the examples' statistics
    init: list[InitLayer]

    def value(self, key: str) -> float:
        return self.quantities[key].value

    def values(self) -> dict[str, float]:
        return {k: q.value for k, q in self.quantities.items()}


@dataclass
class ParamUpdate:
    """One parameter in a training step: the batch mean of its gradient, regularization, optimizer lines."""

    label: str
    layer: int
    kind: str  # "weight" | "bias"
    per_example: list[str]  # keys of each example's gradient (in the step's own quantities)
    mean: str  # the batch mean (the example's gradient itself when the batch has one example)
    reg: str  # the regularization gradient ("" without regularization)
    total: str  # what the optimizer is given
    lines: list[str]  # the optimizer's lines, in order; the last is the updated parameter
    state_before: list[str]  # the optimizer state the step starts from
    new: str
    clipped: str = ""  # with gradient clipping: the clipped gradient the optimizer is given instead of total


@dataclass
class ClipRecord:
    """Gradient clipping in a training step: the limit (and eps), the global norm and scale factor, each clipped
    gradient (one per updated parameter, in the order of TrainingWalk.params)."""

    by: str  # "norm" | "value"
    given: list[str]
    computed: list[str]
    clipped: list[str]


@dataclass
class BatchNormLayer:
    """Batch normalization of one layer over a step's batch: per neuron, the batch mean and variance (from
    the examples' net inputs), dE/dvar and dE/dmu (from the examples' dE/dxhat), and the running statistics
    before and after the step. Every example's xhat, y and dE/dx are in that example's walk-through."""

    layer: int
    neurons: list[str]
    given: list[str]  # epsilon and momentum
    nets: list[list[str]]  # per neuron: the examples' net inputs (keys of the step's copies)
    stats: list[list[str]]  # per neuron: mu, var
    dxhat: list[list[str]]  # per neuron: the examples' dE/dxhat
    grads: list[list[str]]  # per neuron: dE/dvar, dE/dmu
    running: list[list[str]]  # per neuron: running_mean, running_var before, then after


@dataclass
class TrainingWalk:
    """One training step over a batch: each example's walk-through, then the mean, regularization and update."""

    network: Network
    conventions: Conventions
    number: int  # 1-based step number
    epoch: int  # 0-based
    batch: list[int]  # example indices
    examples: list[Walkthrough]
    quantities: dict[str, Quantity]
    labels: dict[str, Label]
    params: list[ParamUpdate]
    data_loss: str
    reg_loss: str
    loss: str
    lr: str
    hyper: list[str]  # keys of the optimizer's hyperparameters and of t
    clip: ClipRecord | None = None
    batch_norm: list[BatchNormLayer] = field(default_factory=list)
    input_gradients: list[str] = field(default_factory=list)  # each input's dE/dx summed over the batch

    def value(self, key: str) -> float:
        return _value(self.quantities, key)

    def values(self) -> dict[str, float]:
        return {k: q.value for k, q in self.quantities.items()}


def _value(quantities, key: str) -> float:
    """A quantity's value by key; an unknown key is a one-line error with the close matches."""
    if isinstance(key, str) and key in quantities:
        return quantities[key].value
    import difflib

    from ..spec.errors import TutorError

    close = difflib.get_close_matches(str(key), list(quantities), n=4, cutoff=0.6) if isinstance(key, str) else []
    hint = f"; close matches: {', '.join(close)}" if close else "; see .values() for every key"
    raise TutorError(f"unknown quantity {str(key)[:60]!r}{hint}", "value()")


# Quantities every example of a batch shares (the parameters, the learning rate): they keep their names.
SHARED_KINDS = ("param", "rate", "batch")  # "batch": batch normalization's statistics and dE/dvar, dE/dmu


def example_key(key: str, position: int, batch_size: int) -> str:
    """The name of an example's own quantity in a batch: ``out_h1[e2]`` for the second example of the batch
    (the per-example gradients' own naming); with one example the name itself."""
    return key if batch_size == 1 else f"{key}[e{position + 1}]"


def flat_walk(tw: TrainingWalk) -> Walkthrough:
    """One training step as one Walkthrough: each example's quantities named per example (``example_key``),
    then the step's own (batch means, regularization, decayed rate, optimizer state, update steps, updates).

    Whatever kinds of quantity the engines produce flow through: only the shared kinds keep their names.
    """
    m = len(tw.examples)
    q: dict[str, Quantity] = {}
    labels: dict[str, Label] = {}
    forward: list[list[NeuronForward]] = []
    for k, w in enumerate(tw.examples):
        local = {key: key if w.quantities[key].kind in SHARED_KINDS else example_key(key, k, m) for key in w.quantities}

        def r(key: str, local: dict[str, str] = local) -> str:
            return local.get(key, key)

        for key, quantity in w.quantities.items():
            new = r(key)
            if new in q:  # a shared quantity, already there from the first example
                continue
            q[new] = replace(
                quantity,
                key=new,
                args=tuple(map(r, quantity.args)),
                of_args=tuple(map(r, quantity.of_args)),
                wrt=r(quantity.wrt) if quantity.wrt else "",
            )
            lab = w.labels[key]
            labels[new] = replace(
                lab,
                text=new if lab.kind == "name" else (r(lab.text) if lab.text else ""),
                num=r(lab.num) if lab.num else "",
                den=r(lab.den) if lab.den else "",
                via=r(lab.via) if lab.via else "",
                base=r(lab.base) if lab.base else "",
            )
        for row in w.forward:
            forward.append(
                [
                    replace(
                        n,
                        net=r(n.net),
                        out=r(n.out),
                        kept=r(n.kept) if n.kept else "",
                        mask=r(n.mask) if n.mask else "",
                        xhat=r(n.xhat) if n.xhat else "",
                        y=r(n.y) if n.y else "",
                    )
                    for n in row
                ]
            )
    for key, quantity in tw.quantities.items():
        # the step's copies of the examples' values ("example") and of the parameters stay the examples' own
        if key in q and quantity.kind in ("example", "param"):
            continue
        q[key] = quantity
        labels[key] = tw.labels[key]
    return Walkthrough(tw.network, tw.conventions, q, labels, forward, [], tw.loss, [], [], "", [])


def batch_phases(tw: TrainingWalk) -> tuple[dict[str, int], list[tuple[int, int, str]]]:
    """The order a person computes a training step in when its examples wait for each other (batch
    normalization): every example's lines up to a batch statistic, the statistic, then every example's lines
    that read it, and so on.

    Each batch-wide group (a normalized layer's mean and variance, its dE/dvar and dE/dmu) gets a rank: one more
    than the highest phase of the example lines it reads; an example's line is in the phase of the highest
    rank it reads (directly or through its other arguments), and is shown in that phase or a later one, as late
    as the earliest line that reads it. Returns the phase each example's line is shown in (keys as
    ``flat_walk`` names them; 0 for every line of a step without batch statistics) and the groups as
    (rank, record index, "stats" | "grads"), by rank: a group of rank r is shown after the example lines of
    phase r - 1."""
    walk = flat_walk(tw)
    q = walk.quantities
    group: dict[str, tuple[int, str]] = {}
    for i, rec in enumerate(tw.batch_norm):
        for keys in rec.stats:
            group.update({k: (i, "stats") for k in keys})
        for keys in rec.grads:
            group.update({k: (i, "grads") for k in keys})
    phase: dict[str, int] = {}
    rank: dict[tuple[int, str], int] = {}

    def rank_of(g: tuple[int, str]) -> int:
        if g not in rank:
            rank[g] = 0  # a group reading itself (the variance reads the mean) does not raise its own rank
            members = [k for k, h in group.items() if h == g]
            rank[g] = 1 + max((phase_of(a) for k in members for a in q[k].args if group.get(a) != g), default=0)
        return rank[g]

    def phase_of(key: str) -> int:
        if key in group:
            return rank_of(group[key])
        if key not in phase:
            phase[key] = 0
            if key in q:
                phase[key] = max((phase_of(a) for a in q[key].args), default=0)
        return phase[key]

    # Where a line is shown: not before its phase, and as late as the earliest line that reads it (a local
    # factor dnet/dw = x beside the gradient it multiplies), but before a batch group that reads it.
    own = {key for k, w in enumerate(tw.examples) for key in _example_keys(w, k, len(tw.examples))}
    users: dict[str, list[str]] = {}
    for key, quantity in q.items():
        for a in quantity.args:
            users.setdefault(a, []).append(key)
    shown: dict[str, int] = {}

    def shown_of(key: str) -> float:
        if key in group:
            return rank_of(group[key]) - 1
        if key not in own:
            return float("inf")  # a line of the step's own (a batch mean, an update): after every example
        if key not in shown:
            shown[key] = phase_of(key)
            later = min((shown_of(u) for u in users.get(key, ())), default=float("inf"))
            shown[key] = max(phase_of(key), int(later) if later != float("inf") else phase_of(key))
        return shown[key]

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(q) + 1000))  # a deep network's chain of arguments
    try:
        for key in q:
            phase_of(key)
        for key in own:
            shown_of(key)
        groups = sorted((rank_of(g), g[0], g[1]) for g in set(group.values()))
    finally:
        sys.setrecursionlimit(limit)
    return shown, groups


def _example_keys(w: Walkthrough, position: int, batch_size: int) -> list[str]:
    return [k if q.kind in SHARED_KINDS else example_key(k, position, batch_size) for k, q in w.quantities.items()]


@dataclass
class MapLayer:
    """One layer of a walk through feature maps (``sym_maps.explain_maps``), by quantity key: each position's
    net input and output, dE/dout and delta; for max pooling the input that won each window; each parameter's
    gradient (a sum over the positions that used it) and update."""

    layer: int
    kind: str
    nets: list[str]
    outs: list[str]  # the nets themselves where the layer has no activation to apply (identity)
    dE_dout: list[str] = field(default_factory=list)
    deltas: list[str] = field(default_factory=list)
    winners: list[str] = field(default_factory=list)  # max pooling: the key of each window's largest input
    grads: dict[str, str] = field(default_factory=dict)  # parameter key -> dE/dparameter
    updates: dict[str, str] = field(default_factory=dict)  # parameter key -> its value after the step
    # a recurrent layer: per time step, the size of its deltas ||delta_t|| and its ratio to step t + 1's
    states: list[str] = field(default_factory=list)  # every step's hidden states h_t (outs: those read on)
    step_norms: list[str] = field(default_factory=list)
    step_ratios: list[str] = field(default_factory=list)


@dataclass
class MapWalk:
    """A training step through convolution, pooling, flatten and dense layers, every quantity a local form bound
    to its arguments (as a Walkthrough), grouped by layer."""

    network: Network
    quantities: dict[str, Quantity]
    labels: dict[str, Label]
    layers: list[MapLayer]
    loss: str
    input_gradients: list[str]

    @property
    def conventions(self) -> Conventions:
        return self.network.conventions

    # What the readers of a Walkthrough (the grader, the quiz) also ask of a walk: each position's net input
    # and output as a neuron of the forward pass (a pooling window or a flattened value is its own output);
    # a walk by layers has no forward pass after the update, no loss terms and no per-parameter records.
    @property
    def forward(self) -> list[list[NeuronForward]]:
        return [[NeuronForward(o, n, o) for n, o in zip(rec.nets, rec.outs) if n != o] for rec in self.layers]

    @property
    def forward_after(self) -> list[list[NeuronForward]]:
        return []

    @property
    def loss_after(self) -> str:
        return ""

    @property
    def loss_terms(self) -> list[str]:
        return []

    @property
    def params(self) -> list[ParamStep]:
        return []

    def value(self, key: str) -> float:
        return _value(self.quantities, key)

    def values(self) -> dict[str, float]:
        return {k: q.value for k, q in self.quantities.items()}
