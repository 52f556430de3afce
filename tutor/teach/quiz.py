"""The quiz engine: one training step asked quantity by quantity and graded (pure logic; the CLI does the I/O).

The questions are the walk-through's own quantities (``tutor.engine.symbolic.explain_step``) in the order a person
computes them: forward values, loss, chain-rule factors, gradients, updates. A spec with several examples or
other training settings is asked its first training step, the one walk ``check`` checks
(``tutor.engine.walks.step_walk``): every example's values, batch normalization's statistics and gradients, the
batch means, clipping, the optimizer's state, the update steps and running statistics. Each answer is graded with
``tutor.teach.diagnose``: against the engine's value, against the value that follows from the student's own
earlier answers (carried-forward credit), and, when wrong, against the misconceptions of its derivation.

>>> from tutor import load
>>> quiz = Quiz(load("appendix-a"), digits=4)
>>> q = quiz.current
>>> q.label, q.shown
('s', '1.9400')
>>> quiz.respond("1.94").verdict, quiz.respond("h").kind, quiz.current.label
('correct', 'hint', 'Predicted')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ..engine.steps import Walkthrough
from ..spec import rules
from ..spec.errors import TutorError
from ..spec.memo import MISSING, ByIdentity
from ..spec.network import MAX_DIGITS, Network, free_text
from ..spec.resources import read_text
from ..spec.rounding import format_fixed
from .diagnose import Tolerance, parse_number
from .grading import (
    DEFAULT_HINT_COST,
    HINT_LEVELS,
    MISCONCEPTIONS,
    Candidate,
    Grade,
    Grader,
    World,
    graph_steps,
    hint_points,
)

if TYPE_CHECKING:
    from ..spec.graph import Graph

FORMAT = "backprop-tutor-quiz/1"
GRAPH_FORMAT = "backprop-tutor-graph-quiz/1"  # an earlier release's graph quiz results: still ours to overwrite
SECTIONS = ("forward", "error", "backward", "gradients", "updates")  # a plain step's sections, in order
# every section a step can have, in order: a training step may clip its gradients and keep optimizer state
STEP_SECTIONS = ("forward", "error", "backward", "gradients", "clipping", "optimizer", "updates")
SECTION_TITLES = {
    "forward": "Forward pass",
    "error": "Error",
    "backward": "Backward pass: chain-rule factors",
    "gradients": "Gradients",
    "clipping": "Gradient clipping",
    "optimizer": "Optimizer state",
    "updates": "Updates",
}
_SECTION_OF_KIND = {
    # feature scaling and initialization come before the forward pass, in its section
    "stat": "forward",
    "scaled": "forward",
    "init": "forward",
    "net": "forward",
    "out": "forward",
    "loss_term": "error",
    "loss": "error",
    "factor": "backward",
    "delta": "backward",
    "contribution": "backward",
    "sum": "backward",
    "gradient": "gradients",
    "update": "updates",
}
# A training step (several examples, batches, another optimizer, batch normalization, clipping, ...) asks
# these kinds too: batch normalization's x̂ and y in the forward pass, its gradients in the backward pass,
# dropout's kept outputs, the clipped gradients, the optimizer's state, the update steps and the running
# statistics. Its batch statistics ("batch") are μ, σ² (forward) and ∂E/∂σ², ∂E/∂μ (backward).
_TRAINING_SECTION_OF_KIND = {
    **_SECTION_OF_KIND,
    "xhat": "forward",
    "y": "forward",
    "kept": "forward",
    "bn_grad": "backward",
    "clip": "clipping",
    "state": "optimizer",
    "step": "updates",
    "running": "updates",
    "rate": "updates",  # the decayed learning rate (a given rate has no formula and is not asked)
}
GRAPH_SECTION_TITLES = {
    "forward": "Forward pass: every node's value",
    "backward": "Backward pass: every node's gradient",
}
_NOT_ASKED = ("share",)  # the per-example share of a batch-mean delta: a name for the checker, not shown
MAX_ANSWERS_BYTES = 1_000_000
MAX_TRIES = 9
_ENDINGS = {
    "completed": "Quiz completed.",
    "quit": "Quiz ended (quit).",
    "end of input": "Quiz ended at the end of the input.",
    "interrupted": "Quiz ended by Ctrl-C.",
}
COMMANDS = "h for a hint (again for more), s to skip, q to quit"
NUMBER_FORMS = "0.5933, .5933, 5.933e-1 or -0.0190"


@dataclass(frozen=True)
class Question:
    number: int
    key: str  # the quantity's stable key (as in the JSON output)
    section: str
    label: str  # how the walk-through writes it, in Unicode
    hint: str  # its formula in the other quantities' labels
    value: float  # the engine's value under the quiz's conventions
    shown: str  # the value as printed, to the quiz's decimals
    tolerance: float  # the absolute tolerance around the value
    copies: bool = False  # its value is one other value copied (dnet/dw = an input): left out unless asked
    layer: int | None = None  # 1-based layer it belongs to
    neurons: tuple[str, ...] = ()  # the neurons it belongs to
    param: str = ""  # the parameter whose gradient or update it is part of


def questions(walk: Walkthrough, tolerance: Tolerance, training: bool = False) -> list[Question]:
    """Every computed quantity of the step, in order, except constants and the forward pass after the update.

    ``training``: ``walk`` is a training step's flat walk (``tutor.engine.walks.step_walk``), whose quantities
    are ordered example by example: they are asked in the classroom's section order as far as the
    computation allows (each quantity after the ones it is computed from)."""
    from ..render.notation import FormulaWriter, Notation

    net = walk.network
    fw = FormulaWriter(Notation(walk.labels, net.notation["updated"]), walk.values(), net.conventions.digits)
    keys = list(walk.quantities)
    end = keys.index(walk.forward_after[0][0].net) if walk.forward_after else len(keys)  # (none by layers)
    section = {k: _section(walk, k, training) for k in keys[:end]}
    asked = [k for k in keys[:end] if section[k] and _asked(walk, k)]
    rank = {s: i for i, s in enumerate(STEP_SECTIONS)}
    by_section = sorted(asked, key=lambda k: rank[section[k]])
    # Section order is the classroom order; when a convention makes a step depend on a later section (hidden
    # deltas with updated weights), the computation order of the walk-through is kept instead.
    place = _training_places(walk) if training else _places(walk)
    if _respects_dependencies(walk, by_section):
        order = by_section
    elif training:
        order = _computation_order(walk, asked, section, place)
    else:
        order = asked
    labels = {key: fw.label(key, "text") for key in order}
    if training:
        labels = _distinct(walk, labels)
    out = []
    for n, key in enumerate(order, 1):
        q = walk.quantities[key]
        layer, neurons, param = place.get(key, (None, (), ""))
        out.append(
            Question(
                n,
                key,
                section[key],
                labels[key],
                f"{labels[key]} = {fw.formula(q, 'text')}",
                q.value,
                format_fixed(q.value, net.conventions.digits),
                tolerance.unit(q.value),
                copies=_copies(q),
                layer=layer,
                neurons=neurons,
                param=param,
            )
        )
    return out


def graph_questions(steps, tolerance: Tolerance, digits: int) -> list[Question]:
    """A graph's questions: every gate's value that reaches the output, in graph order, then every node's
    gradient from the output back (``--param NAME`` aims at one node's gradient)."""
    from ..engine.graph import grad_key
    from ..render.graph import writer

    walk = steps.walk
    fw = writer(walk, "text")
    reached = {b.node for b in walk.backward}
    keys = [n.name for n in steps.graph.gates if n.name in reached]
    keys += [b.gradient for b in walk.backward if b.node != steps.graph.output]
    out = []
    for number, key in enumerate(keys, 1):
        q = steps.quantities[key]
        node = key[5:-1] if key.startswith("grad[") else ""
        label = fw.label(key, "text")
        out.append(
            Question(
                number,
                grad_key(node) if node else key,
                "backward" if node else "forward",
                label,
                f"{label} = {fw.formula(q, 'text')}",
                q.value,
                format_fixed(q.value, digits),
                tolerance.unit(q.value),
                param=node,
            )
        )
    return out


def _section(walk: Walkthrough, key: str, training: bool) -> str:
    """The quiz section of a quantity ('' when it is not asked)."""
    q = walk.quantities[key]
    if not training:
        return _SECTION_OF_KIND.get(q.kind, "")
    if q.kind in _NOT_ASKED or (q.kind == "scaled" and "[v" in key):  # validation inputs: not in the step
        return ""
    if q.kind == "batch":  # μ and σ² in the forward pass, ∂E/∂σ² and ∂E/∂μ in the backward pass
        lab = walk.labels.get(key)
        return "backward" if lab is not None and lab.kind == "partial" else "forward"
    return _TRAINING_SECTION_OF_KIND.get(q.kind, "")


def _computation_order(walk: Walkthrough, asked: list[str], section: Mapping[str, str], place) -> list[str]:
    """The asked quantities with each after the asked ones it needs. At every turn the one available first in
    classroom order: the earliest section; in the forward pass the lowest layer, elsewhere the highest (the
    backward pass starts at the output); the earliest stage in its section (the longest chain of asked
    quantities of that section it is computed from); then the walk's order. So a batch is worked stage by
    stage for every example, as the mini-batch algorithm goes (every net input of a layer, then μ and σ²,
    every x̂, every y, ...; back from the output, ∂E/∂x̂ of every example, then ∂E/∂σ², ∂E/∂μ, ...)."""
    import heapq

    Q = walk.quantities
    position = {k: i for i, k in enumerate(asked)}
    rank = {s: i for i, s in enumerate(STEP_SECTIONS)}
    memo: dict[str, frozenset[str]] = {}

    def needs(k: str) -> frozenset[str]:
        # the asked quantities k is computed from, through quantities that are not asked
        if k not in memo:
            memo[k] = frozenset()  # a guard; the walk has no cycles
            found: set[str] = set()
            for a in Q[k].args:
                if a in position:
                    found.add(a)
                elif a in Q and Q[a].form is not None:
                    found |= needs(a)
            memo[k] = frozenset(found)
        return memo[k]

    waiting = {k: set(needs(k)) - {k} for k in asked}
    depth: dict[str, int] = {}

    def stage(k: str) -> int:
        if k not in depth:
            depth[k] = 0
            depth[k] = max((stage(a) + 1 for a in waiting[k] if section[a] == section[k]), default=0)
        return depth[k]

    top = len(walk.network.layers) + 1

    def priority(k: str) -> tuple[int, int, int, int]:
        layer = place.get(k, (None,))[0]
        if section[k] == "forward":
            lay = 0 if layer is None else layer
        else:
            lay = -(top if layer is None else layer)
        return (rank[section[k]], lay, stage(k), position[k])

    prio = {k: priority(k) for k in asked}  # before the waiting sets empty
    users: dict[str, list[str]] = {}
    for k, ns in waiting.items():
        for a in ns:
            users.setdefault(a, []).append(k)
    heap = [(prio[k], k) for k, ns in waiting.items() if not ns]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        k = heapq.heappop(heap)[-1]
        order.append(k)
        for u in users.get(k, ()):
            waiting[u].discard(k)
            if not waiting[u]:
                heapq.heappush(heap, (prio[u], u))
    return order if len(order) == len(asked) else asked


def _distinct(walk: Walkthrough, labels: dict[str, str]) -> dict[str, str]:
    """Labels that two questions would share (an example's gradient written ∂E_batch/∂w in every example)
    get their example's number."""
    from collections import Counter

    count = Counter(labels.values())
    out = dict(labels)
    for key, lab in labels.items():
        m = _EXAMPLE.search(key)
        if count[lab] > 1 and m:
            out[key] = f"{lab} (example {m.group(1)})"
    return out


_EXAMPLE = re.compile(r"\[e([0-9]+)\]")


def _training_places(walk: Walkthrough) -> dict[str, tuple[int | None, tuple[str, ...], str]]:
    """Each quantity's 1-based layer, neurons and parameter in a training step's walk, for aiming the quiz."""
    net = walk.network
    Q = walk.quantities
    owner: dict[str, tuple[int, tuple[str, ...]]] = {}  # each parameter's layer and neurons
    for li, layer in enumerate(net.layers):
        for j, row in enumerate(layer.weight_labels):
            for w in row:
                owner[w] = (li, (layer.neurons[j],))
        if layer.shared_bias:
            owner[layer.bias_labels[0]] = (li, tuple(layer.neurons))
        else:
            for j, b in enumerate(layer.bias_labels):
                owner[b] = (li, (layer.neurons[j],))
        if getattr(layer, "batch_norm", False):
            for word in ("gamma", "beta"):
                for j, g in enumerate(layer.bn_names(word)):
                    owner[g] = (li, (layer.neurons[j],))
    outputs = tuple(net.output_layer.neurons)

    def neuron(q) -> tuple[str, ...]:
        if q.layer is None or q.index is None or q.layer >= len(net.layers):
            return ()
        names = net.layers[q.layer].neurons
        return (names[q.index],) if q.index < len(names) else ()

    def param_of(key: str, q) -> str:
        lab = walk.labels.get(key)
        for p in (q.wrt, getattr(lab, "den", ""), getattr(lab, "base", "")):
            if p in owner:
                return p
        m = re.search(r"\[([^\]]+)\]$", key)
        return m.group(1) if m and m.group(1) in owner else ""

    out: dict[str, tuple[int | None, tuple[str, ...], str]] = {}
    for key, q in Q.items():
        if q.form is None:
            continue
        p = param_of(key, q)
        if p and q.kind in ("factor", "gradient", "clip", "state", "step", "update"):
            li, names = owner[p]
            out[key] = (li + 1, names, p)
        elif q.kind in ("loss", "loss_term"):
            out[key] = (len(net.layers), outputs, "")
        elif q.layer is not None:
            names = neuron(q)
            if q.kind == "factor" and q.wrt in Q and Q[q.wrt].kind == "out":
                names = tuple(dict.fromkeys(names + neuron(Q[q.wrt])))  # a weight's factor joins two neurons
            out[key] = (q.layer + 1, names, "")
    return out


def _copies(q) -> bool:
    import sympy as sp

    # The form is one of its arguments itself: dnet/dw = the input, dnet_k/dout_j = the weight.
    return q.form is not None and isinstance(q.form.expr, sp.Symbol)


def _places(walk: Walkthrough) -> dict[str, tuple[int | None, tuple[str, ...], str]]:
    """Each quantity's 1-based layer, neurons and parameter, for aiming the quiz."""
    net = walk.network
    Q = walk.quantities
    out: dict[str, tuple[int | None, tuple[str, ...], str]] = {}

    def neuron(q) -> tuple[str, ...]:
        if q.layer is None or q.index is None:
            return ()
        names = net.layers[q.layer].neurons
        # a map position or time step beyond the layer's outputs (a recurrent layer read at its last step only)
        return (names[q.index],) if q.index < len(names) else ()

    if not walk.params:  # the walk by layers: a gradient names its parameter, an update its base
        for key, q in Q.items():
            lab = walk.labels.get(key)
            param = ""
            if q.kind == "gradient" and lab is not None:
                param = lab.den
            elif q.kind == "update" and lab is not None:
                param = lab.base
            if q.layer is not None:
                out[key] = (q.layer + 1, () if param else neuron(q), param)
        out[walk.loss] = (len(net.layers), tuple(net.output_layer.neurons), "")
        return out

    for key, q in Q.items():
        if q.layer is None:
            continue
        names = neuron(q)
        if q.kind == "factor" and q.wrt and Q[q.wrt].kind == "out" and Q[q.wrt].layer is not None:
            names = tuple(dict.fromkeys(names + neuron(Q[q.wrt])))  # a weight's factor joins two neurons
        out[key] = (q.layer + 1, names, "")
    outputs = net.output_layer.neurons
    terms = list(walk.loss_terms)
    for i, t in enumerate(terms):
        out[t] = (len(net.layers), (outputs[i],) if len(terms) == len(outputs) else tuple(outputs), "")
    out[walk.loss] = (len(net.layers), tuple(outputs), "")
    for p in walk.params:
        mine = [f for f in p.factors if Q[f].wrt == p.label] + [p.gradient] + ([p.update] if p.update else [])
        for k in mine:
            out[k] = (p.layer + 1, tuple(p.neuron.split(", ")) if p.neuron else (), p.label)
    return out


def aim(
    qs: list[Question],
    sections: Sequence[str] | None = None,
    layer: int | None = None,
    neuron: str | None = None,
    param: str | None = None,
    everything: bool = False,
    where: str = "quiz",
) -> list[Question]:
    """The questions of ``qs`` in the chosen sections, layer, neuron and parameter, renumbered from 1;
    a question that only copies a value is left out unless ``everything``."""
    from dataclasses import replace

    for s in sections or ():
        if s not in STEP_SECTIONS:
            raise TutorError(f"no section {s!r}; allowed: {', '.join(STEP_SECTIONS)}", f"{where} --section")
    layers = sorted({q.layer for q in qs if q.layer is not None})
    graph = "has no layers or neurons (a graph spec: aim it with --section and --param NODE)"
    if layer is not None and not layers:
        raise TutorError(graph, f"{where} --layer")
    if layer is not None and layer not in layers:
        raise TutorError(f"no layer {layer}; the layers are {layers[0]} to {layers[-1]}", f"{where} --layer")
    names = list(dict.fromkeys(n for q in qs for n in q.neurons))
    if neuron is not None and not names:
        raise TutorError(graph, f"{where} --neuron")
    if neuron is not None and neuron not in names:
        raise TutorError(f"no neuron {neuron[:40]!r}; the neurons are {', '.join(names)}", f"{where} --neuron")
    params = list(dict.fromkeys(q.param for q in qs if q.param))
    if param is not None and param not in params:
        raise TutorError(f"no parameter {param[:40]!r}; the parameters are {', '.join(params)}", f"{where} --param")
    chosen = [
        q
        for q in qs
        if (everything or not q.copies)
        and (not sections or q.section in sections)
        and (layer is None or q.layer == layer)
        and (neuron is None or neuron in q.neurons)
        and (param is None or q.param == param)
    ]
    if not chosen:
        raise TutorError("no question is left with these choices; choose fewer restrictions", where)
    # a question already at its number is kept as it is: no copy of each for a worksheet variant
    return [q if q.number == n else replace(q, number=n) for n, q in enumerate(chosen, 1)]


# Whether a form has a free symbol, by form: every variant of a worksheet asks it of the same forms.
# bounded: a form made anew for each walk is not kept for ever
_VARIABLE = ByIdentity(bound=4096)  # form -> whether it has a free symbol


def _asked(walk: Walkthrough, key: str) -> bool:
    q = walk.quantities[key]
    # A constant (dnet/db = 1) is shown, not asked; the softmax shortcut stands beside the delta it equals.
    if q.form is None:
        return False
    hit = _VARIABLE.get(q.form)
    if hit is MISSING:
        hit = _VARIABLE.put(q.form, bool(q.form.expr.free_symbols))
    return hit


def _respects_dependencies(walk: Walkthrough, order: list[str]) -> bool:
    position = {k: i for i, k in enumerate(order)}

    def needs(k: str, before: int) -> bool:
        # Whether k (asked or computed from asked ones) is available before position `before`.
        if k in position:
            return position[k] < before
        q = walk.quantities[k]
        return q.form is None or all(needs(a, before) for a in q.args)

    for k in order:
        if not all(needs(a, position[k]) for a in walk.quantities[k].args):
            return False
    return True


@dataclass(frozen=True)
class Given:
    """A value of the network that the student is given."""

    key: str
    value: float
    kind: str  # "input" | "weight" | "bias" | "target" | "rate"
    source: str = ""  # for a weight, the input or neuron it comes from
    neuron: str = ""  # for a weight, bias or target, the neuron it belongs to
    label: str = ""  # how the walk writes it, in Unicode ('' for the key's own name)


def givens(net: Network, walk: Walkthrough | None = None) -> list[tuple[str, list[Given]]]:
    """The network as a student needs it: inputs, each layer's weights and biases, targets, learning rate.

    With a training step's ``walk``: every example of the batch (the raw inputs of a scaled spec), each
    layer's parameters (batch normalization's γ and β too), then the step's given values (learning rate,
    the optimizer's hyperparameters and state, clipping limit, batch normalization's ε, momentum and
    running statistics)."""
    if walk is not None:
        return _training_givens(net, walk)
    groups = [("Inputs", [Given(n, float(v), "input") for n, v in zip(net.input_names, net.inputs)])]
    sources = list(net.input_names)
    for li, layer in enumerate(net.layers):
        if layer.kind != "dense":  # kernels and recurrent weights are read at every position: no roles
            groups += _shared_givens(li, layer)
            sources = list(layer.neurons)
            continue
        items = []
        for j, row in enumerate(layer.weight_labels):
            items += [
                Given(w, float(layer.weights[j, i]), "weight", sources[i], layer.neurons[j]) for i, w in enumerate(row)
            ]
            if not layer.shared_bias and layer.has_bias:
                items.append(Given(layer.bias_labels[j], float(layer.biases[j]), "bias", neuron=layer.neurons[j]))
        if layer.shared_bias and layer.has_bias:
            items.append(Given(layer.bias_labels[0], float(layer.biases[0]), "bias", neuron=", ".join(layer.neurons)))
        if items:  # a layer without weights and biases gives nothing
            groups.append((f"Layer {li + 1} ({layer.name}, {layer.activation})", items))
        sources = list(layer.neurons)
    groups.append(
        (
            f"Targets (loss: {rules.LOSSES[net.loss].title})",
            [
                Given(t, float(v), "target", neuron=n)
                for t, v, n in zip(net.target_names(), net.targets, net.output_layer.neurons)
            ],
        )
    )
    if net.parameter_count:  # without weights and biases there is no update and no rate to give
        groups.append(("Training", [Given("eta", net.learning_rate, "rate")]))
    return groups


def layer_activation(layer) -> str:
    """The activation a layer applies: a recurrent layer's is its nonlinearity (its record's is the identity)."""
    return getattr(layer, "nonlinearity", layer.activation)


def activations_by_layer(net: Network) -> list[tuple[str, list[int], tuple[str, str]]]:
    """Each activation ``net`` applies, once, in the order of first use: its name, the layers (from 1) that
    apply it, and its formulas f and f' in LaTeX (``activation_formulas``), as a sheet and an LMS question state
    them beside the network."""
    from ..render.notation import activation_formulas

    found: dict[str, tuple[list[int], tuple[str, str]]] = {}
    for k, layer in enumerate(net.layers, 1):
        name = layer_activation(layer)
        if name not in found:
            found[name] = ([], activation_formulas(rules.ACTIVATIONS[name], layer.activation_params))
        found[name][0].append(k)
    return [(name, which, formulas) for name, (which, formulas) in found.items()]


def _shared_givens(li: int, layer) -> list[tuple[str, list[Given]]]:
    """A convolution's kernels and biases, or a recurrent layer's weights, biases and h0, without the roles of
    a dense weight (each is read at every position or time step); a pooling or flatten layer gives nothing."""
    items = [
        Given(w, float(layer.weights[j, i]), "weight")
        for j, row in enumerate(layer.weight_labels)
        for i, w in enumerate(row)
    ]
    if layer.has_bias:
        items += [Given(b, float(v), "bias") for b, v in zip(layer.bias_labels, layer.biases)]
    if layer.kind == "rnn":
        items += [Given(f"h{li + 1}_0.{j + 1}", float(v), "input") for j, v in enumerate(layer.h0)]
    return [(f"Layer {li + 1} ({layer.name}, {layer_activation(layer)})", items)] if items else []


def _training_givens(net: Network, walk: Walkthrough) -> list[tuple[str, list[Given]]]:
    from ..render.notation import FormulaWriter, Notation

    fw = FormulaWriter(Notation(walk.labels, net.notation["updated"]), walk.values(), net.conventions.digits)
    Q = walk.quantities

    def given(key: str, kind: str, **kw) -> Given:
        return Given(key, float(Q[key].value), kind, label=fw.label(key, "text"), **kw)

    examples: dict[int, list[Given]] = {}
    outputs = net.output_layer.neurons
    targets = net.target_names()
    for key, q in Q.items():
        if q.form is not None or q.kind not in ("input", "target"):
            continue
        m = _EXAMPLE.search(key)
        n = int(m.group(1)) if m else 1
        neuron = ""
        if q.kind == "target":
            base = key.split("[", 1)[0]
            neuron = outputs[targets.index(base)] if base in targets else ""
        examples.setdefault(n, []).append(given(key, q.kind, neuron=neuron))
    raw = any(k.endswith("]") and "_raw[" in k for k in Q)
    groups: list[tuple[str, list[Given]]] = []
    for n in sorted(examples):
        title = f"Example {n}" + (" (raw inputs, scaled below)" if raw else "") if len(examples) > 1 else "Example"
        groups.append((title, sorted(examples[n], key=lambda g: g.kind != "input")))
    sources = list(net.input_names)
    for li, layer in enumerate(net.layers):  # each layer's weights and biases, with their roles
        items = []
        for j, row in enumerate(layer.weight_labels):
            items += [
                given(w, "weight", source=sources[i], neuron=layer.neurons[j]) for i, w in enumerate(row) if w in Q
            ]
            if not layer.shared_bias and layer.has_bias and layer.bias_labels[j] in Q:
                items.append(given(layer.bias_labels[j], "bias", neuron=layer.neurons[j]))
        if layer.shared_bias and layer.has_bias and layer.bias_labels[0] in Q:
            items.append(given(layer.bias_labels[0], "bias", neuron=", ".join(layer.neurons)))
        sources = list(layer.neurons)
        if getattr(layer, "batch_norm", False):
            for j, n in enumerate(layer.neurons):
                items += [
                    given(layer.bn_names(w)[j], "scale" if w == "gamma" else "shift", neuron=n)
                    for w in ("gamma", "beta")
                    if layer.bn_names(w)[j] in Q
                ]
        if items:  # a layer without weights and biases gives nothing
            groups.append((f"Layer {li + 1} ({layer.name}, {layer.activation})", items))
    shown = {g.key for _, items in groups for g in items}
    rest = [
        given(k, q.kind)
        for k, q in Q.items()
        if q.form is None
        and k not in shown
        and q.kind in ("rate", "state", "mask", "given", "param")
        and (net.parameter_count or k != "eta")  # without weights there is no update and no rate to give
    ]
    if rest:
        groups.append((f"Training (loss: {rules.LOSSES[net.loss].title})", rest))
    return groups


def step_words(net: Network, walk: Walkthrough) -> str:
    """A training step in words: 'one training step on a batch of 3 examples, ...'."""
    tr = net.training
    m = len({x for k in walk.quantities for x in _EXAMPLE.findall(k)}) or 1
    opt = rules.OPTIMIZERS[tr.optimizer]
    parts = ["one training step on " + (f"a batch of {m} examples" if m > 1 else "one example")]
    if m > 1:
        parts.append("the gradients averaged over it" if tr.reduction != "sum" else "the gradients summed over it")
    parts.append(f"updated by {opt.title or opt.name}" if net.parameter_count else "no weights to update")
    if any(getattr(layer, "batch_norm", False) for layer in net.layers):
        parts.append("with batch normalization")
    if tr.clipped:
        parts.append("the gradients clipped by " + ("their global norm" if tr.clip_norm is not None else "value"))
    if tr.regularization and tr.reg_lambda:
        parts.append(f"{tr.regularization.upper()} regularization")
    if tr.decay:
        parts.append("a decayed learning rate")
    if tr.dropout_rate or tr.dropout_mask is not None:
        parts.append("dropout")
    if net.scaling:
        parts.append(f"inputs scaled first ({net.scaling})")
    words = ", ".join(parts)
    if tr.validation:
        words += " (early stopping watches the validation loss over epochs: see 'train')"
    return words


def drawing(net: Network) -> Walkthrough:
    """A training spec's network with its first example, to draw (as explain draws it); a scaled spec's with
    the raw inputs, since its scaled inputs are questions."""
    from dataclasses import replace

    import numpy as np

    from ..engine.symbolic import explain_step

    if net.scaling and net.raw_examples:
        net = replace(net, inputs=np.asarray(net.raw_examples[0][0], dtype=float))
    return explain_step(net, forward_only=True, prepare=False)


# -- a session ----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What happened to one question."""

    question: Question
    text: str | None = None  # what the student typed last (None: not answered)
    value: float | None = None
    verdict: str = "unanswered"  # correct | carried | wrong | skipped | unanswered
    expected: float | None = None  # the value that follows from the student's own earlier answers
    carried_from: tuple[str, ...] = ()
    diagnosis: Candidate | None = None
    hints: int = 0  # how many times a hint was asked for (the ladder's level is min(hints, HINT_LEVELS))
    attempts: list[str] = field(default_factory=list)  # every number typed, in order
    refused: tuple[str, ...] = ()  # earlier answers it follows from that earn no follow-on credit
    refused_why: str = ""
    untrusted: str = ""  # why this answer earns no follow-on credit itself ('' when it may)
    points: float = 0.0  # what it earns: 1 when credited, less the hints' cost; 0 otherwise

    @property
    def credited(self) -> bool:
        return self.verdict in ("correct", "carried")


@dataclass(frozen=True)
class Feedback:
    """The quiz's reply to one line of input; ``message`` is what the student reads (it may have several
    lines: the verdict first, then the labelled diagnosis, right value and value from the student's own answers)."""

    kind: str  # "graded" | "retry" | "hint" | "invalid" | "skipped" | "quit" | "over"
    message: str
    answer: Answer | None = None

    @property
    def verdict(self) -> str:
        return self.answer.verdict if self.answer is not None and self.kind == "graded" else ""


class Quiz:
    """One training step of ``net`` (or a graph's forward and backward pass) as a sequence of questions;
    ``respond`` takes each line the student types. Every answer is graded by the one grading core
    (``tutor.teach.grading.Grader``), which the self-check page's script mirrors.

    A plain step on one example is asked from its walk-through; any other network spec from its first training
    step (``self.training``), the walk ``check`` uses, in classroom order as far as the computation allows; a
    graph spec (``tutor.spec.graph.Graph``) its gates' values, then every node's gradient from the output back.

    The reference values round every value to ``digits`` decimals and carry it forward (``rounding``
    "as-printed", the default, as on paper), unless carried rounding moves a value by more than the tolerance
    from exact arithmetic: then its reference is the exact value. ``sections``, ``layer`` (1-based), ``neuron``
    and ``param`` aim the quiz at part of the step; questions that only copy a value are asked only with
    ``everything``. ``tries`` is how many answers a question takes before its right value is shown;
    ``hint_cost`` the share of a question's point each rung of the hint ladder costs.
    """

    def __init__(
        self,
        net: Network | Graph,
        tolerance: Tolerance | None = None,
        *,
        digits: int | None = None,
        rounding: str | None = None,
        origin: Mapping[str, Any] | None = None,
        sections: Sequence[str] | None = None,
        layer: int | None = None,
        neuron: str | None = None,
        param: str | None = None,
        everything: bool = False,
        tries: int = 2,
        hint_cost: float = DEFAULT_HINT_COST,
    ):
        from ..engine.walks import plain, step_walk
        from ..spec.kind import is_graph_object

        if isinstance(tries, bool) or not isinstance(tries, int) or not 1 <= tries <= MAX_TRIES:
            raise TutorError(f"must be a whole number from 1 to {MAX_TRIES}, got {tries!r}", "--tries")
        if isinstance(hint_cost, bool) or not isinstance(hint_cost, (int, float)) or not 0 <= hint_cost <= 1:
            raise TutorError(f"must be a number from 0 to 1, got {hint_cost!r}", "--hint-cost")
        self.graph = net if is_graph_object(net) else None
        if self.graph is not None:
            from dataclasses import replace

            from ..engine.graph import explain_graph

            digits = self.graph.digits if digits is None else digits
            if digits != self.graph.digits:  # the decimals shown and graded, as explain --digits shows them
                self.graph = replace(self.graph, digits=digits)
            self.network = None
            self.training = False
            self.walk = graph_steps(explain_graph(self.graph))
            exact = None
            carry = None
            rounding_used = "exact"
        else:
            digits = net.conventions.digits if digits is None else digits
            self.network = net.with_conventions(rounding=rounding or "as-printed", digits=digits)
            other = "exact" if self.network.conventions.rounding == "as-printed" else "as-printed"
            # one plain step on one example: its walk-through; any other spec: its first training step as
            # explain shows it and check checks it (every example's values, batch statistics, optimizer, ...)
            # (a plain step's walk is explain_step's, or the walk by layers for convolution, pooling, recurrence)
            self.training = not plain(self.network)
            self.walk = step_walk(self.network)
            rounding_used = self.network.conventions.rounding
            other_values = step_walk(self.network.with_conventions(rounding=other)).values()
            exact = other_values if rounding_used == "as-printed" else None
            carry = digits if rounding_used == "as-printed" else None
        self.alternatives = (exact,) if exact is not None else ()
        self.digits = digits
        self.tolerance = tolerance or Tolerance("dp", digits)
        self.origin = dict(origin or {})
        self.tries = tries
        self.hint_cost = float(hint_cost)
        self.settings = {
            "digits": digits,
            "rounding": rounding_used,
            "tolerance": self.tolerance.code,
            "sections": list(dict.fromkeys(sections or ())),
            "layer": layer,
            "neuron": neuron,
            "param": param,
            "all": bool(everything),
            "tries": tries,
            "hint_cost": self.hint_cost,
        }
        if self.graph is not None:
            self.all_questions = graph_questions(self.walk, self.tolerance, digits)
        else:
            self.all_questions = questions(self.walk, self.tolerance, self.training)
        aimed = aim(self.all_questions, sections, layer, neuron, param, everything)
        keys = [q.key for q in aimed]
        Q = self.walk.quantities
        # the computed values a question needs that are not asked are shown with it (a graph's local
        # derivatives are part of the work: not shown)
        given = [a for k in keys for a in Q[k].args if Q[a].form is not None and a not in set(keys)]
        given = given if self.graph is None else []
        labels = {q.key: q.label for q in self.all_questions}
        self.grader = Grader(
            self.walk,
            self.tolerance,
            exact=exact,
            asked=keys,
            given=dict.fromkeys(given),
            digits=carry,
            label=lambda k: labels.get(k) or self._notation().text(k),
        )
        from dataclasses import replace

        g = self.grader
        self.questions = [
            replace(
                q, value=g.reference(q.key), shown=format_fixed(g.reference(q.key), digits), tolerance=g.unit(q.key)
            )
            for q in aimed
        ]
        self.answers = [Answer(q) for q in self.questions]
        self.position = 0
        self.ended = ""  # why the quiz is over: "completed", "quit", "end of input", "interrupted"
        self.log: list[str] = []  # every line given to respond, to resume the session exactly
        self._asked = set(keys)

    def _notation(self):
        from ..render.notation import Notation

        if self.graph is not None:
            return Notation(self.walk.labels, "{param}+")
        return Notation(self.walk.labels, self.network.notation["updated"])

    @property
    def current(self) -> Question | None:
        return None if self.ended or self.position >= len(self.questions) else self.questions[self.position]

    def section_title(self, section: str) -> str:
        return (GRAPH_SECTION_TITLES if self.graph is not None else SECTION_TITLES)[section]

    def heading(self, q: Question) -> str:
        """The section title to show before ``q``, when it opens a section."""
        first = q.number == 1 or self.questions[q.number - 2].section != q.section
        return self.section_title(q.section) if first else ""

    def prompt(self, q: Question) -> str:
        return f"[{q.number}/{len(self.questions)}] {q.label} = "

    def context(self, q: Question) -> str:
        """The computed values ``q`` needs that the quiz does not ask (left out or aimed away), with their
        right values: what the student is given to work from."""
        from ..render.notation import FormulaWriter

        if self.graph is not None:
            return ""
        Q = self.walk.quantities
        fw = FormulaWriter(None, {}, self.digits)
        given = [
            f"{self._label(a)} = {fw.number(Q[a].value)}"
            for a in dict.fromkeys(Q[q.key].args)
            if Q[a].form is not None and a not in self._asked
        ]
        return f"Given: {', '.join(given)}" if given else ""

    def end(self, why: str) -> None:
        if not self.ended:
            self.ended = why

    def known(self) -> dict[str, float]:
        """The student's values so far, by key."""
        return {a.question.key: a.value for a in self.answers if a.value is not None}

    def untrusted(self) -> dict[str, str]:
        """The student's earlier answers that earn no follow-on credit, with why."""
        return {a.question.key: a.untrusted for a in self.answers if a.value is not None and a.untrusted}

    def respond(self, text: str) -> Feedback:
        q = self.current
        if q is None:
            return Feedback("over", "The quiz is over.")
        self.log.append(str(text))
        a = self.answers[self.position]
        t = str(text).strip()
        command = t.lower()
        if command in ("h", "hint", "?"):
            a.hints += 1
            return Feedback("hint", self.hint(q, a.hints), a)
        if command in ("s", "skip"):
            if a.value is None or a.verdict == "unanswered":
                a.verdict = "skipped"
            self._advance()
            return Feedback("skipped", f"Skipped. Right value: {q.label} = {q.shown}.", a)
        if command in ("q", "quit", "exit"):
            self.log.pop()  # a resumed session goes on instead
            self.end("quit")
            return Feedback("quit", "Quiz ended.")
        value = parse_number(t)
        if value is None:
            self.log.pop()  # nothing happened: a resumed session need not see it
            shown = t if len(t) <= 20 else t[:17] + "..."
            what = "Type a number" if not t else f"{shown!r} is not a number: type a number"
            return Feedback("invalid", f"{what} such as {NUMBER_FORMS}; or {COMMANDS}.", a)
        return self._grade(a, t, value)

    def hint(self, q: Question, level: int) -> str:
        """The hint ladder: 1 the formula, 2 the formula with the student's own numbers so far, 3 the worked
        line from the right values. Each rung costs ``hint_cost`` of the question's point."""
        from ..render.notation import FormulaWriter

        quantity = self.walk.quantities[q.key]
        notation = self._notation()
        level = min(level, HINT_LEVELS)
        cost = ""  # the cost is stated at the start, in each verdict and in the summary
        head = f"Hint {level} of {HINT_LEVELS}"
        if level == 1:
            return f"{head} (the formula{cost}): {q.hint}"
        if level == 2:
            world = World(self.walk, {**self.grader.given, **self.known()}, self.grader.round)
            fw = FormulaWriter(notation, {k: world.value(k) for k in quantity.args}, self.digits)
            mine = [k for k in dict.fromkeys(quantity.args) if k in world.known and k in self._asked]
            whose = "your own answers" if mine else "the values you have"
            return f"{head} (with {whose}{cost}): {q.hint} = {fw.substituted(quantity, 'text')}"
        fw = FormulaWriter(notation, self.walk.values(), self.digits)
        return f"{head} (worked from the right values{cost}): {q.hint} = {fw.substituted(quantity, 'text')} = {q.shown}"

    def _grade(self, a: Answer, text: str, value: float) -> Feedback:
        q = a.question
        known = self.known()
        g = self.grader.grade(q.key, value, text, known, self.untrusted())
        a.attempts.append(text)
        a.text, a.value, a.verdict = text, value, g.verdict
        a.expected = g.expected if math.isfinite(g.expected) else None
        a.carried_from, a.diagnosis = g.carried_from, g.diagnosis
        a.refused, a.refused_why = g.refused, g.refused_why
        a.points = hint_points(a.hints, self.hint_cost) if g.credited else 0.0
        if g.verdict == "correct" and not g.refused:
            a.untrusted = ""
        else:
            own = self.grader.implausible(q.key, value, text) if g.verdict == "wrong" else ""
            a.untrusted = own or g.refused_why or self.grader.trivialises(q.key, value, text, known)
        final = g.verdict != "wrong" or len(a.attempts) >= self.tries
        if final:
            self._advance()
        return Feedback("graded" if final else "retry", self._verdict(a, g, final), a)

    def _verdict(self, a: Answer, g: Grade, final: bool) -> str:
        """The reply to a graded answer: the verdict, then each finding on its own labelled line."""
        q = a.question
        text = a.text or ""
        hinted = f" Earns {_points(a.points)} of its point (hints taken)." if a.hints and self.hint_cost else ""
        if g.verdict == "correct":
            later = f" (at try {len(a.attempts)})" if len(a.attempts) > 1 else ""
            return f"Right: {q.label} = {q.shown}.{later}{hinted}"
        if g.verdict == "carried":
            n = len(g.carried_from)
            earlier = ", ".join(f"{self._label(k)} = {self._given(k)}" for k in g.carried_from)
            return (
                f"Credited: {text} follows correctly from your earlier answer{'s' if n > 1 else ''} {earlier}."
                f"{hinted}\n  Right value: {q.label} = {q.shown}."
            )
        lines = [f"Not right{' yet' if not final else ''}: you gave {text}."]
        if g.refused:
            if g.carried_from or g.refused != (q.key,):
                earlier = ", ".join(f"{self._label(k)} = {self._given(k)}" for k in g.refused)
                lines.append(
                    f"No follow-on credit: {text} follows from your earlier {earlier}, but {g.refused_why}, "
                    "so nothing computed from it is credited."
                )
            else:
                lines.append(f"No credit: {text} follows from the values carried so far, but {g.refused_why}.")
        elif g.diagnosis is not None:
            d = g.diagnosis
            lines.append(f"Diagnosis: {d.description} ({d.detail}).")
        if own := self.grader.implausible(q.key, a.value, text):
            lines.append(f"Impossible value: {own}.")
        if not final:
            left = self.tries - len(a.attempts)
            lines.append(f"Try again ({left} more {'try' if left == 1 else 'tries'}), h for a hint, or s to skip.")
            return "\n  ".join(lines)
        lines.append(f"Right value: {q.label} = {q.shown}.")
        known = self.known()
        if (
            a.expected is not None
            and not g.refused
            and not self.tolerance.accepts(a.expected, g.value)
            and self.grader.upstream_known(q.key, {k: v for k, v in known.items() if k != q.key})
        ):
            lines.append(f"Following from your own earlier answers: {q.label} = {self._fmt(a.expected)}.")
        return "\n  ".join(lines)

    def _advance(self) -> None:
        self.position += 1
        if self.position >= len(self.questions):
            self.end("completed")

    def _label(self, key: str) -> str:
        a = next((a for a in self.answers if a.question.key == key), None)
        return a.question.label if a is not None else self.grader.label(key)

    def _given(self, key: str) -> str:
        return next((a.text or "" for a in self.answers if a.question.key == key), "")

    def _fmt(self, value: float) -> str:
        return format_fixed(value, self.digits) if abs(value) < 1e15 else f"{value:.4g}"

    # -- what is shown before and after ----------------------------------------------------------------

    def rounding_warning(self) -> str:
        """A warning when carrying values at the quiz's decimals rounds a nonzero value to 0 and a value
        computed from it lands far from its exact value (Adam's v at 4 decimals: the step divides by √v̂):
        such a question's reference is its exact value, and the destroyed carried value is not accepted."""
        if not self.alternatives:
            return ""
        exact = self.alternatives[0]
        Q = self.walk.quantities
        zeros = {k for k, q in Q.items() if q.form is not None and q.value == 0 and exact.get(k, 0.0) != 0}
        if not zeros:
            return ""
        for k, q in Q.items():
            if k in zeros or not set(q.args) & zeros or k not in exact:
                continue
            right = exact[k]
            if abs(q.value - right) > max(1.0, 10 * abs(right)):  # far off, not a rounding difference
                roots, todo = [], [a for a in q.args if a in zeros]
                while todo:  # the zeros it comes from, back to the first one rounded away
                    a = todo.pop()
                    if a not in roots:
                        roots.append(a)
                        todo += [b for b in Q[a].args if b in zeros]
                first = min(roots, key=list(Q).index)
                digits = self.network.conventions.digits
                # enough decimals for three significant figures of every value rounded away
                need = max(-math.floor(math.log10(abs(exact[a]))) + 2 for a in roots)
                advice = (
                    f"give --digits {need} for this step, or --rounding exact"
                    if need <= MAX_DIGITS
                    else "give --rounding exact for this step"
                )
                return (
                    f"Warning: at {digits} decimals {self._label(first)} = {exact[first]:.3g} rounds to 0, and "
                    f"{self._label(k)}, computed from it, comes out {q.value:.4g} instead of {right:.4g}: such "
                    f"values are asked from exact arithmetic (their carried values are no reference); {advice}."
                )
        return ""

    def intro(self) -> list[str]:
        if self.graph is not None:
            return self._graph_intro()
        from ..render.notation import text_name

        net = self.network
        lines = [f"Backprop quiz: {net.title}"]
        if net.description:
            lines.append(net.description)
        if "seed" in self.origin:
            lines.append(
                f"Network seed {self.origin['seed']}: the same network again with {self.origin.get('command', '')}".rstrip()
            )
        if self.training:
            lines.append(f"  {self.step_description()}")
        for title, items in self.givens():
            parts = []
            for g in items:
                role = (
                    f" ({g.source} → {g.neuron})"
                    if g.kind == "weight" and g.neuron
                    else f" (bias of {g.neuron})"
                    if g.kind == "bias" and g.neuron
                    else ""
                )
                parts.append(f"{g.label or text_name(g.key)} = {_plain(g.value)}{role}")
            lines.append(f"  {title}: " + (", ".join(parts) or "no weights or biases (net input = the value it reads)"))
        layers = ", ".join(layer_activation(l) for l in net.layers)
        lines.append(f"  Activations by layer: {layers}; loss: {net.loss_rule.description}.")
        if net.parameter_count:
            lines.append(f"  Biases are {'updated' if net.update_biases else 'not updated'}.")
        else:
            lines.append("  No weights or biases: nothing is updated; the backward pass ends at the scores' gradients.")
        lines.append(f"Conventions: {net.conventions.describe()}.")
        warning = self.rounding_warning()
        if warning:
            lines.append(warning)
        lines.append(self._grading_line())
        aimed = self.aimed()
        left = sum(q.copies for q in self.all_questions) if not self.settings["all"] else 0
        if aimed:
            lines.append(f"Aimed at {aimed}; the values it needs that are not asked are given as you go.")
        if left:
            lines.append(
                f"{left} questions that only copy a value (such as ∂net/∂w = an input) are left out; --all asks them."
            )
        lines.append(self._count_line())
        return lines

    def _grading_line(self) -> str:
        exact = "values computed without rounding count as right too, and " if self.alternatives else ""
        return (
            f"Grading {self.tolerance.describe()}; {exact}an answer that follows correctly from one of your "
            "earlier mistakes is credited."
        )

    def _count_line(self) -> str:
        tries = f"{self.tries} tries a question" if self.tries > 1 else "one try a question"
        cost = (
            f" Each hint costs {_points(self.hint_cost)} of the question's point."
            if self.hint_cost
            else " Hints are free."
        )
        return f"{len(self.questions)} questions, {tries}. Type each value ({NUMBER_FORMS}), or {COMMANDS}.{cost}"

    def _graph_intro(self) -> list[str]:
        g = self.graph
        lines = [f"Backprop quiz: {g.title}"]
        if g.description:
            lines.append(g.description)
        lines.append("  Leaves: " + ", ".join(f"{n.name} = {n.value:g}" for n in g.leaves))
        lines.append("  Assignments: " + "; ".join(f"{k} = {v}" for k, v in g.expressions.items()))
        seed = f"the given upstream gradient {g.upstream:g}" if g.given_upstream else "1"
        lines.append(
            f"  The output {g.output} is seeded with {seed}; d{g.output}/dn below is the gradient of node n (every path summed)."
        )
        lines.append(self._grading_line())
        aimed = self.aimed()
        if aimed:
            lines.append(f"Aimed at {aimed}; the values it needs that are not asked are given as you go.")
        lines.append(self._count_line())
        return lines

    def givens(self) -> list[tuple[str, list[Given]]]:
        """What the student is given: the network, and for a training step every example of its batch and
        the step's given values; a graph's leaves."""
        if self.graph is not None:
            return [("Leaves", [Given(n.name, float(n.value), "input") for n in self.graph.leaves])]
        return givens(self.network, self.walk if self.training else None)

    def drawing(self) -> Walkthrough:
        """The walk to draw the network from: the step's own, or for a training step the network with its
        first example (as explain draws it)."""
        if not self.training:
            return self.walk
        return drawing(self.network)

    def step_description(self) -> str:
        """A training step in words: its batch, optimizer and what else it does."""
        return "The quiz asks " + step_words(self.network, self.walk) + "."

    def aimed(self) -> str:
        """What the quiz was aimed at, in words ('' for the whole step)."""
        s = self.settings
        parts = []
        if s["sections"]:
            parts.append("the " + " and ".join(self.section_title(x).lower() for x in s["sections"]))
        if s["layer"] is not None:
            parts.append(f"layer {s['layer']}")
        if s["neuron"] is not None:
            parts.append(f"neuron {s['neuron']}")
        if s["param"] is not None:
            parts.append(f"{'node' if self.graph is not None else 'parameter'} {s['param']}")
        return ", ".join(parts)

    def scores(self) -> list[dict[str, Any]]:
        rows = []
        for s in STEP_SECTIONS:
            mine = [a for a in self.answers if a.question.section == s]
            if mine:
                rows.append(
                    {
                        "section": s,
                        "title": self.section_title(s),
                        "credited": sum(a.credited for a in mine),
                        "carried": sum(a.verdict == "carried" for a in mine),
                        "total": len(mine),
                        "points": round(sum(a.points for a in mine), 6),
                    }
                )
        return rows

    def summary(self) -> list[str]:
        rows = self.scores()
        width = max(len(r["title"]) for r in rows + [{"title": "Total"}])
        lines = ["Summary" + (f" (network seed {self.origin['seed']})" if "seed" in self.origin else "")]
        for r in rows:
            extra = f"   ({r['carried']} credited from an earlier mistake)" if r["carried"] else ""
            lines.append(f"  {r['title']:<{width}}  {r['credited']:>3}/{r['total']:<3}{extra}")
        credited, total = sum(r["credited"] for r in rows), sum(r["total"] for r in rows)
        counts = {v: sum(a.verdict == v for a in self.answers) for v in ("wrong", "skipped", "unanswered")}
        tail = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        lines.append(f"  {'Total':<{width}}  {credited:>3}/{total:<3}" + (f"   ({tail})" if tail else ""))
        hinted = [a for a in self.answers if a.hints]
        if hinted:
            which = ", ".join(f"{a.question.number} ({min(a.hints, HINT_LEVELS)})" for a in hinted)
            lines.append(f"Hints taken: {sum(a.hints for a in hinted)}, on question (highest hint): {which}")
            if self.hint_cost:
                points = sum(a.points for a in self.answers)
                lost = sum(1.0 - a.points for a in self.answers if a.credited)
                lines.append(
                    f"Points: {_points(points)}/{total} (each hint costs {_points(self.hint_cost)} of its "
                    f"question's point: {_points(lost)} deducted for hints)"
                )
        retried = [a for a in self.answers if len(a.attempts) > 1 and a.credited]
        if retried:
            lines.append(f"Right at a later try: {', '.join(str(a.question.number) for a in retried)}")
        refused = [a for a in self.answers if a.refused]
        if refused:
            lines.append("No follow-on credit (from an impossible earlier value):")
            for a in refused:
                lines.append(f"  question {a.question.number} ({a.question.label}): {a.refused_why}")
        seen = [a for a in self.answers if a.diagnosis is not None]
        if seen:
            lines.append("Misconceptions to look at:")
            for a in seen:
                lines.append(f"  question {a.question.number} ({a.question.label}): {a.diagnosis.description}")
        lines.append(_ENDINGS.get(self.ended, "Quiz not finished."))
        return [line.rstrip() for line in lines]

    def summary_of_spec(self) -> dict[str, Any]:
        """What the results file records of the network (or graph), to check a resumed quiz against."""
        if self.graph is not None:
            g = self.graph
            return {
                "graph": g.title,
                "output": g.output,
                "leaves": {n.name: float(n.value) for n in g.leaves},
                "assignments": dict(g.expressions),
            }
        from ..render import network_summary

        return network_summary(self.network)

    def record(self) -> dict[str, Any]:
        """Everything about the session, for ``--results FILE`` (JSON)."""
        if self.graph is not None:
            conventions = {"rounding": "exact", "digits": self.digits}
        else:
            c = self.network.conventions
            conventions = {
                "rounding": c.rounding,
                "digits": c.digits,
                "update_order": c.update_order,
                "update_biases": self.network.update_biases,
            }
        return {
            "format": FORMAT,
            "origin": self.origin,
            "network": self.summary_of_spec(),
            "conventions": conventions,
            "tolerance": {"policy": self.tolerance.code, "statement": self.tolerance.describe()},
            "settings": dict(self.settings),
            "ended": self.ended or "not finished",
            "position": self.position,
            "questions": [_answer_record(a) for a in self.answers],
            "score": {
                "sections": self.scores(),
                "credited": sum(a.credited for a in self.answers),
                "total": len(self.answers),
                "hints": sum(a.hints for a in self.answers),
                "points": round(sum(a.points for a in self.answers), 6),
                "hint_cost": self.hint_cost,
            },
            "log": list(self.log),
            "misconceptions": MISCONCEPTIONS,
        }


def _points(x: float) -> str:
    """A share of points as people read it: 0.33, 1, 2.5."""
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _plain(value: float) -> str:
    return repr(float(value)).removesuffix(".0") if float(value).is_integer() else repr(float(value))


def _answer_record(a: Answer) -> dict[str, Any]:
    q = a.question
    d = a.diagnosis
    return {
        "number": q.number,
        "key": q.key,
        "section": q.section,
        "label": q.label,
        "value": q.value,
        "shown": q.shown,
        "tolerance": q.tolerance,
        "answer": a.text,
        "answer_value": a.value,
        "verdict": a.verdict,
        "credited": a.credited,
        "expected": a.expected,
        "carried_from": list(a.carried_from),
        "diagnosis": None
        if d is None
        else {
            "misconception": d.misconception,
            "description": d.description,
            "step": d.step,
            "detail": d.detail,
            "value": d.value,
        },
        "hints": a.hints,
        "attempts": list(a.attempts),
        "refused": list(a.refused),
        "refused_why": a.refused_why,
        "untrusted": a.untrusted,
    }


# -- saving and resuming ---------------------------------------------------------------------------------


def save_results(path: str | Path, quiz: Quiz) -> None:
    """Write ``quiz.record()`` to ``path`` atomically: a temporary file beside it, then ``os.replace``, so an
    interrupted write leaves the previous results whole. The one place results are written."""
    import json

    from ..spec.resources import write_file

    data = json.dumps(quiz.record(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_file(path, data, f"--results {path}")


def check_results_target(path: str | Path) -> None:
    """Refuse a --results file that is something else than a quiz's results: it would be overwritten."""
    import json

    p = Path(path)
    if not p.resolve().parent.is_dir():
        raise TutorError("its folder does not exist; give a file in an existing folder", f"--results {path}")
    if p.exists():
        if not p.is_file():
            raise TutorError("is not a regular file; give a file to write the results to", f"--results {path}")
        try:
            ok = p.stat().st_size < 50 * MAX_ANSWERS_BYTES
            # a network quiz's or a graph quiz's results: either may be written over by either quiz
            ok = ok and json.loads(p.read_text(encoding="utf-8")).get("format") in (FORMAT, GRAPH_FORMAT)
        except (OSError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise TutorError(
                "exists and is not a quiz's results file; it is left alone: give a new file name", f"--results {path}"
            )


def random_origin(made) -> dict[str, Any]:
    """How a random network came about, enough to make it again (for --resume)."""
    o = made.options
    return {
        "seed": made.seed,
        "command": f"backprop-tutor quiz --random {made.command}",
        "random": {
            "shape": "-".join(map(str, o.shape)),
            "activation": o.activation,
            "output_activation": o.output_activation,
            "loss": o.loss,
            "digits": o.digits,
            "nice": o.nice,
        },
    }


def load_results(path: str | Path) -> dict[str, Any]:
    import json

    where = f"--resume {path}"
    p = Path(path)
    try:
        if p.stat().st_size > 50 * MAX_ANSWERS_BYTES:
            raise TutorError("the file is too large for a quiz's results", where)
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TutorError(f"cannot read the file ({exc.strerror})", where) from None
    except (ValueError, UnicodeDecodeError):
        raise TutorError("is not a quiz's results file (not JSON); give the file --results wrote", where) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TutorError(f'is not a quiz\'s results file (no "format": "{FORMAT}")', where)
    for k, t in (("origin", dict), ("settings", dict), ("log", list), ("network", dict)):
        if not isinstance(doc.get(k), t):
            raise TutorError(f"has no {k!r} {'table' if t is dict else 'list'}; it cannot be resumed", where)
    if not all(isinstance(x, str) and len(x) <= 200 for x in doc["log"]) or len(doc["log"]) > 100_000:
        raise TutorError("its 'log' must be a list of the lines typed; it cannot be resumed", where)
    return doc


def resume(doc: Mapping[str, Any], where: str = "--resume") -> Quiz:
    """The quiz of a results file, at the point it stopped: the same network (made again from its seed or
    loaded again from its spec, and compared with the one recorded), the same settings, and every line typed
    replayed, so the credit is the same."""
    import json

    from ..spec import graph as graphspec
    from ..spec.network import load
    from . import randomnet

    origin, s = dict(doc["origin"]), doc["settings"]
    try:
        if "random" in origin:
            r = origin["random"]
            made = randomnet.make(
                int(origin["seed"]),
                randomnet.options(
                    **{k: r[k] for k in r if k not in ("digits", "nice")},
                    digits=int(r["digits"]),
                    nice=bool(r.get("nice", False)),
                ),
            )
            net = made.network
        elif "spec" in origin and graphspec.is_graph(str(origin["spec"])):
            net = graphspec.load(str(origin["spec"]))
        elif "spec" in origin:
            net = load(str(origin["spec"]))
        else:
            raise TutorError("does not say which network it was (no spec and no seed); it cannot be resumed", where)
        tolerance = Tolerance.parse(str(s["tolerance"]), option=f"{where}: settings.tolerance")
        quiz = Quiz(
            net,
            tolerance,
            digits=int(s["digits"]),
            rounding=str(s["rounding"]),
            origin=origin,
            sections=list(s["sections"]),
            layer=s["layer"],
            neuron=s["neuron"],
            param=s["param"],
            everything=bool(s["all"]),
            tries=int(s["tries"]),
            hint_cost=float(s.get("hint_cost", DEFAULT_HINT_COST)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TutorError(f"its settings are incomplete or changed ({exc}); it cannot be resumed", where) from None
    same = json.dumps(quiz.summary_of_spec(), sort_keys=True) == json.dumps(doc["network"], sort_keys=True)
    if not same:
        raise TutorError(
            f"the network of {origin.get('spec', 'seed ' + str(origin.get('seed')))} is not the one this quiz was "
            "taken on (the spec changed since); it cannot be resumed",
            where,
        )
    for line in doc["log"]:
        if quiz.current is None:
            break
        quiz.respond(line)
    return quiz


# -- a file of answers ------------------------------------------------------------------------------------

MAX_ANSWER_LINE = 200  # characters of one line of an answers file (a key and a number fit many times over)
_ANSWER = re.compile(r"\S+")  # one token: linear, nothing to backtrack
_QUESTION_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() also takes '²' and '①'


def _split_line(line: str) -> tuple[str | None, str] | None:
    """``ANSWER`` or ``KEY = ANSWER`` (the key may hold spaces, the answer may not); None when neither."""
    key, eq, answer = line.partition("=")
    if not eq:
        key, answer = None, line
    else:
        key = key.strip()
        if not key:
            return None
    answer = answer.strip()
    if not _ANSWER.fullmatch(answer):
        return None
    return key, answer


def read_answers(path: str | Path, quiz: Quiz, option: str = "--answers") -> dict[int, str]:
    """The answers of a file by question number: one a line, ``ANSWER`` or ``KEY = ANSWER`` (KEY a quantity
    key or question number), ``#`` comments; an answer without a key answers the question after the last."""
    where = f"{option} {path}"
    text = read_text(path, where, MAX_ANSWERS_BYTES)
    return parse_answers(text, quiz, where)


def parse_answers(text: str, quiz: Quiz, where: str = "answers") -> dict[int, str]:
    by_key = {q.key: q.number for q in quiz.questions}
    n = len(quiz.questions)
    out: dict[int, str] = {}
    last = 0
    text = text.removeprefix("\ufeff")  # a byte-order mark from a Windows editor
    for i, raw in enumerate(text.splitlines(), 1):
        if len(raw) > MAX_ANSWER_LINE:
            raise TutorError(f"line {i}: {len(raw)} characters; a line may have at most {MAX_ANSWER_LINE}", where)
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            free_text(line, f"{where}: line {i}", limit=MAX_ANSWER_LINE)
        except TutorError as exc:
            raise TutorError(exc.message, exc.where) from None
        parts = _split_line(line)
        if parts is None:
            raise TutorError(f"line {i}: expected ANSWER or KEY = ANSWER, got {line[:40]!r}", where)
        key, answer = parts
        if key is None:
            number = last + 1
        elif key in by_key:
            number = by_key[key]
        elif _QUESTION_NUMBER.fullmatch(key):
            number = int(key)
        else:
            raise TutorError(
                f"line {i}: no question {key[:40]!r}; use a question number from 1 to {n} or a "
                f"quantity key such as {quiz.questions[0].key!r}",
                where,
            )
        if not 1 <= number <= n:
            raise TutorError(f"line {i}: there are {n} questions, so no question {number}", where)
        if number in out:
            raise TutorError(f"line {i}: question {number} is answered twice", where)
        if answer.lower() not in ("s", "skip") and parse_number(answer) is None:
            raise TutorError(
                f"line {i}: {answer[:40]!r} is not a number; write a number such as {NUMBER_FORMS}, or s to skip", where
            )
        out[number] = answer
        last = number
    return out


def replay(quiz: Quiz, answers: Mapping[int, str]) -> Iterator[tuple[Question, str, Feedback]]:
    """Grade a file's answers in question order; questions before the last answered one and left out are skipped."""
    last = max(answers, default=0)
    while (q := quiz.current) is not None and q.number <= last:
        text = answers.get(q.number, "s")
        yield q, text, quiz.respond(text)
    quiz.end("completed" if quiz.current is None else "end of input")


def plain_value(x: float) -> str:
    """A given value as the shortest decimal that reads back as the same float."""
    import numpy as np

    return np.format_float_positional(float(x), trim="-")
