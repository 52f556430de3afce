"""One walk for any network spec: what ``explain`` shows of its first step, as one ``Walkthrough``.

The checker checks claims against it and the quiz and worksheets ask its quantities: the plain step's
walk-through for one example and plain gradient descent, or a training step's (``steps.flat_walk``: each
example's values named per example, then batch means, regularization, the decayed learning rate, optimizer
state, update steps and updates), with what happens before the first forward pass (input statistics and
scaled inputs, drawn weights).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..spec.network import Network
from .steps import Preparation, TrainingWalk, Walkthrough, flat_walk
from .symbolic import explain_preparation, explain_step, explain_training_step

if TYPE_CHECKING:
    from .training import Step


def plain(net: Network) -> bool:
    """Whether the spec's step is one plain gradient-descent step on one example (``explain_step``'s walk)."""
    return net.training.plain and len(net.examples) == 1


def walked_by_layers(net: Network) -> bool:
    """Whether the network has layers that only the layer-by-layer walk (sym_maps) takes."""
    from ..spec.layers import kind_of

    kinds = [kind_of(layer) for layer in net.layers]
    return any("symbolic" not in k.surfaces for k in kinds) and all("maps" in k.surfaces for k in kinds)


def step_walk(net: Network, record: Step | None = None) -> Walkthrough:
    """What ``explain`` shows for the spec, as one walk: the plain step's walk-through, or a training step's
    (each example's values named per example, then batch means, regularization, decayed learning rate,
    optimizer state, update steps and updates). ``record``: the numeric run's step to walk (default: step 1)."""
    if plain(net) and walked_by_layers(net):  # convolution, pooling, flatten, recurrence: the layer-by-layer walk
        from .sym_maps import explain_maps

        if record is None:
            return explain_maps(net)  # type: ignore[return-value]
        from . import training  # the numeric run: not imported where the plain step is walked

        return explain_maps(net.with_params(record.W, training.full_biases(net, record.b)))  # type: ignore[return-value]
    if plain(net):
        if record is None:
            return explain_step(net)
        from . import training

        return explain_step(net.with_params(record.W, training.full_biases(net, record.b)))
    from . import training

    if record is None:
        record = training.run(net, 0, keep=lambda n: n == 1, total_steps=1).steps[1]
    tw = explain_training_step(net, record)
    # what happens before the first forward pass: statistics, scaled inputs
    return with_preparation(tw, explain_preparation(net) if net.scaling or net.init_layers else None)


def with_preparation(tw: TrainingWalk, prep: Preparation | None) -> Walkthrough:
    """A training step as one walk (``flat_walk``) with what happens before the first forward pass: a first
    batch's inputs are the scaled inputs, computed from the raw inputs and their statistics."""
    walk = flat_walk(tw)
    if prep is None:
        return walk
    first_batch = tw.number == 1 and list(tw.batch) == list(range(len(tw.batch)))
    Q = walk.quantities
    for k, q in prep.quantities.items():
        if k not in Q:
            Q[k] = q
            walk.labels.setdefault(k, prep.labels[k])
        elif q.kind == "scaled" and Q[k].kind == "input" and first_batch:
            Q[k] = replace(Q[k], kind="scaled", form=q.form, args=q.args, index=q.index)
    return walk


@dataclass
class PageStep:
    """A training spec's step as the editable page shows and recomputes it: the example's walk-through over the
    step's quantities (each parameter's new value is the optimizer's last line), the optimizer's other lines,
    and what a step carries into the next: (given, the quantity it starts the next step from) for each
    parameter and optimizer state, and the step counter ``t`` (Adam's bias correction)."""

    walk: Walkthrough
    lines: list[str]
    carry: list[tuple[str, str]]
    counter: str
    optimizer: str


def page_refusal(net: Network) -> str:
    """Why a spec's step cannot be recomputed in the page from its givens alone ("" when it can): every step
    must be the same walk over one example with the previous step's parameters and state."""
    tr = net.training
    if len(net.examples) != 1:
        return "recomputes one example's step; this spec trains on several examples"
    for why, given in (
        ("dropout draws new masks every step", tr.dropout_rate),
        ("decay changes the learning rate every epoch", tr.decay),
        ("batch normalization", net.has_batch_norm),
        ("feature scaling", net.scaling),
        ("early stopping reads validation examples", tr.validation or tr.patience),
    ):
        if given:
            return f"recomputes one example's step from its givens; this spec uses {why}"
    return ""


def page_step(net: Network) -> PageStep:
    """The first training step of a one-example spec (``page_refusal`` is ""), laid out for the editable page."""
    from . import training

    record = training.run(net, 0, keep=lambda n: n == 1, total_steps=1).steps[1]
    tw = explain_training_step(net, record)
    flat = flat_walk(tw)
    new = {p.label: p.new for p in tw.params}
    example = tw.examples[0]
    params = [replace(p, update=new.get(p.label, "")) for p in example.params]
    walk = replace(example, quantities=flat.quantities, labels=flat.labels, params=params, loss_after="")
    lines: list[str] = []
    if tw.clip is not None:
        lines += [*tw.clip.computed]
    for p in tw.params:
        lines += [k for k in (p.reg, p.total if p.total != p.mean else "", p.clipped) if k]
        lines += p.lines[:-1]
    carry = [(p.label, p.new) for p in tw.params]
    for p in tw.params:
        for before in p.state_before:
            after = before.replace("_prev[", "[", 1)
            if after in flat.quantities:
                carry.append((before, after))
    counter = "t" if "t" in flat.quantities and flat.quantities["t"].form is None else ""
    return PageStep(walk, list(dict.fromkeys(lines)), carry, counter, net.training.optimizer)
