"""What the symbolic walks share: the builder that names and evaluates quantities, the batch context of batch
normalization, and the names every walk uses (the learning rate, the dropout scale)."""

from __future__ import annotations

import math

from ..spec.errors import ComputeError, SpecError
from ..spec.network import Network
from ..spec.rounding import Rounder
from .steps import (
    Form,
    Label,
    Quantity,
)

ETA = "eta"


DROPOUT_SCALE = "dropout_scale"


class DropoutMasks(list):
    """Per layer, the 0/1 keep mask of one example (None where no dropout), and the scale 1/(1 - rate)."""

    def __init__(self, masks, scale: float):
        super().__init__(masks)
        self.scale = scale


class _Builder:
    def __init__(self, net: Network, R: Rounder, bn: BatchContext | None = None):
        self.net, self.R = net, R
        self.q: dict[str, Quantity] = {}
        self.labels: dict[str, Label] = {}
        self.bn = bn

    def _claim(self, key: str, label: Label) -> None:
        if key in self.q:
            raise SpecError(
                f"the name {key!r} would stand for two different quantities; rename one of them", "notation"
            )
        self.labels[key] = label

    def given(self, key: str, kind: str, value: float, **tags) -> str:
        self._claim(key, Label("name", text=key))
        self.q[key] = Quantity(key, kind, float(value), **tags)
        return key

    def add(self, key: str, kind: str, form: Form, args, label: Label | None = None, **extra) -> str:
        args = tuple(args)
        self._claim(key, label or Label("name", text=key))
        try:
            value = self.R(float(form.fn(*[self.q[a].value for a in args])), kind)
            if not math.isfinite(value):
                raise OverflowError("not a finite number")
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ComputeError(
                f"{key} cannot be computed ({exc}): a value left the range where its formula is defined "
                "(an output saturated at 0 or 1, a huge weight or input, too coarse a rounding, or a "
                "diverging training); use smaller values or more digits"
            ) from None
        self.q[key] = Quantity(key, kind, value, form=form, args=args, **extra)
        return key

    def partial(self, num: str, den: str, kind: str, form: Form, args, via: str = "", note: str = "", **extra) -> str:
        # A note ("updated") says how a factor was evaluated, not which quantity it is: it stays out of the
        # key, except for the simplified softmax delta, which stands beside the Jacobian one.
        key = f"d{num}/d{den}" + (f"[{via}]" if via else "") + ("[simplified]" if note == "simplified" else "")
        return self.add(
            key, kind, form, args, Label("partial", num=num, den=den, via=via, note=note), note=note, **extra
        )


class BatchContext:
    """What one example's walk-through reads from its batch under batch normalization: the batch size and, by
    key, the batch's statistics and dE/dvar, dE/dmu (computed over the batch by explain_training_step). Until a
    value is known its placeholder stands in (mu 0, var 1, gradients 0): the walk that computes it reads only
    what comes before it."""

    def __init__(self, m: int):
        self.m = m
        self.values: dict[str, float] = {}

    def get(self, key: str, placeholder: float) -> float:
        return self.values.get(key, placeholder)


def batch_loss(net: Network) -> str:
    """The name of a batch's summed loss E⁽¹⁾ + ... + E⁽ᵐ⁾: what batch normalization's backward pass differentiates
    once the examples are coupled (the step's mean then divides by m, as for every gradient)."""
    return f"{net.notation['loss']}_batch"


def _batch_loss_labels(b: _Builder, net: Network) -> None:
    """Every derivative that reads dE/dvar or dE/dmu (a batch-normalized layer's dE/dnet and all below it) is one of
    the batch's summed loss: its label says so, so that no example's walk writes it as its own loss's."""
    E, EB = net.notation["loss"], batch_loss(net)
    tainted = {k for k, q in b.q.items() if q.kind == "batch" and b.labels[k].kind == "partial"}
    for key, q in b.q.items():
        if key in tainted or any(a in tainted for a in q.args):
            tainted.add(key)
            lab = b.labels[key]
            if lab.kind == "partial" and lab.num == E:
                b.labels[key] = Label("partial", num=EB, den=lab.den, via=lab.via, note=lab.note)


def bn_grad_keys(net: Network, li: int, j: int) -> tuple[str, str]:
    """The keys of dE/dvar and dE/dmu of a batch-normalized neuron."""
    E = net.notation["loss"]
    layer = net.layers[li]
    return f"d{E}/d{layer.bn_names('var')[j]}", f"d{E}/d{layer.bn_names('mu')[j]}"
