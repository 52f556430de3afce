"""The numeric training loop: optimizers, batches, learning-rate decay, regularization and dropout (NumPy only).

One step takes a batch of examples, runs the forward and backward pass on each (BP1-BP4), averages their
gradients (the seeds' w - eta/m sum delta a^T), adds the regularization gradient, and lets the optimizer
update every parameter from its state. Plain gradient descent on one example is numeric.backward's own
update, which also knows Mazur's updated-first order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..spec import rules
from ..spec.errors import ComputeError
from ..spec.network import Network
from ..spec.rounding import Rounder
from . import numeric


@dataclass
class ExampleStep:
    index: int  # the example's position in the spec
    forward: numeric.Forward
    backward: numeric.Backward


CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by norm + 1e-6


@dataclass
class Clip:
    """Gradient clipping of one step: the gradients before, the global norm and scale factor (by norm), after."""

    by: str  # "norm" | "value"
    limit: float
    before_W: list[np.ndarray]
    before_b: list[np.ndarray]
    norm: float = 0.0  # by norm: sqrt of the sum of every clipped gradient's square
    scale: float = 1.0  # by norm: min(1, limit / (norm + CLIP_EPS))


def clip(net: Network, gW: list[np.ndarray], gb: list[np.ndarray], R: Rounder) -> tuple[Clip, list, list]:
    """Clip the gradients the optimizer is given (the biases' only when they are updated), as PyTorch's
    clip_grad_norm_ (one norm over all of them) and clip_grad_value_ do."""
    tr = net.training
    arrays = list(gW) + (list(gb) if net.update_biases else [])
    if tr.clip_norm is not None:
        norm = R(float(np.sqrt(sum(float((a * a).sum()) for a in arrays))))
        scale = R(min(1.0, tr.clip_norm / (norm + CLIP_EPS)))
        cW = [R.array(g * scale) for g in gW]
        cb = [R.array(g * scale) for g in gb] if net.update_biases else [g.copy() for g in gb]
        return Clip("norm", tr.clip_norm, gW, gb, norm, scale), cW, cb
    c = float(tr.clip_value)
    cW = [R.array(np.clip(g, -c, c)) for g in gW]
    cb = [R.array(np.clip(g, -c, c)) for g in gb] if net.update_biases else [g.copy() for g in gb]
    return Clip("value", c, gW, gb), cW, cb


@dataclass
class BNStep:
    """Batch normalization of one layer in a step: the batch's statistics and dE/dvar, dE/dmu (summed loss),
    gamma's and beta's gradients (the batch's reduction, as every gradient), their updates, the running
    statistics before and after."""

    stats: numeric.BatchStats
    back: numeric.BatchBack
    grad_gamma: np.ndarray
    grad_beta: np.ndarray
    new_gamma: np.ndarray
    new_beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    new_running_mean: np.ndarray
    new_running_var: np.ndarray


@dataclass
class Step:
    """Everything one update did, for the walk-through and the cross-checks."""

    number: int  # 1-based
    epoch: int  # 0-based
    batch: list[int]
    lr: float  # after decay
    examples: list[ExampleStep]
    W: list[np.ndarray]  # parameters before the step
    b: list[np.ndarray]  # bias parameters before: one entry when shared
    grad_W: list[np.ndarray]  # the batch mean of the data gradients
    grad_b: list[np.ndarray]
    reg_W: list[np.ndarray]  # the regularization gradient
    reg_b: list[np.ndarray]
    total_W: list[np.ndarray]  # what the optimizer was given
    total_b: list[np.ndarray]
    state: dict[tuple[str, int], dict[str, np.ndarray]]  # optimizer state before, by ("W"|"b", layer)
    lines: dict[tuple[str, int], dict[str, np.ndarray]]  # every line of the optimizer's update
    new_W: list[np.ndarray]
    new_b: list[np.ndarray]
    data_loss: float  # mean loss of the batch before the update
    reg_loss: float
    loss: float  # data_loss + reg_loss
    clip: Clip | None = None  # gradient clipping, when the spec asks for it: total_W/total_b are then clipped
    bn: list[BNStep | None] | None = None  # batch normalization per layer (None: the layer has none)
    bn_before: list | None = None  # per layer: (gamma, beta, running_mean, running_var) the step started from

    @property
    def bn_after(self) -> list | None:
        if self.bn is None:
            return None
        return [
            None if s is None else (s.new_gamma, s.new_beta, s.new_running_mean, s.new_running_var) for s in self.bn
        ]


@dataclass
class Run:
    steps: dict[int, Step]  # the steps that were kept, by number
    losses: list[float]  # every step's loss before its update
    epoch_loss: list[float]  # loss over every example: before training, then after each epoch
    W: list[np.ndarray]
    b: list[np.ndarray]  # bias parameters (one entry when shared)
    final: list[numeric.Forward] = field(default_factory=list)  # the forward pass of every example at the end
    steps_per_epoch: int = 1
    val_loss: list[float] = field(default_factory=list)  # validation loss: before training, then each epoch
    best_epoch: int | None = None  # early stopping: the epoch with the lowest validation loss (0: before training)
    stopped_epoch: int | None = None  # the epoch after which patience ran out (None: it never did)
    bn: list | None = None  # batch normalization's parameters and running statistics at the end, per layer


def bias_params(net: Network) -> list[np.ndarray]:
    return _params_of(net, [l.biases for l in net.layers])


def full_biases(net: Network, bp: list[np.ndarray]) -> list[np.ndarray]:
    return [
        np.zeros(l.size) if not l.has_bias else np.full(l.size, v[0]) if l.shared_bias else v
        for l, v in zip(net.layers, bp)
    ]


def batches(net: Network) -> list[list[int]]:
    """The batches of one epoch, in the spec's order (no shuffling: runs are reproducible)."""
    n, size = len(net.examples), net.batch_size()
    return [list(range(k, min(k + size, n))) for k in range(0, n, size)]


def learning_rate(net: Network, epoch: int) -> float:
    """alpha = alpha0 / (1 + decay * epoch), the seeds' decay; epochs counted from 0."""
    return net.learning_rate / (1.0 + net.training.decay * epoch)


class Masks:
    """Dropout masks (already scaled by 1/(1 - rate) when inverted), drawn in a fixed order from the seed."""

    def __init__(self, net: Network):
        tr = net.training
        self.net = net
        self.layers = tr.dropout_layers
        self.scale = 1.0 / (1.0 - tr.dropout_rate) if tr.dropout_inverted else 1.0
        self.rng = np.random.default_rng(tr.dropout_seed)

    @property
    def active(self) -> bool:
        return bool(self.layers)

    def draw(self) -> list[np.ndarray | None] | None:
        if not self.active:
            return None
        tr = self.net.training
        out: list[np.ndarray | None] = [None] * len(self.net.layers)
        for r, li in enumerate(self.layers):
            if tr.dropout_mask is not None:
                keep = np.array(tr.dropout_mask[r])
            else:
                keep = (self.rng.random(self.net.layers[li].size) >= tr.dropout_rate).astype(float)
            out[li] = keep * self.scale
        return out


def regularization(net: Network, W: list[np.ndarray], bp: list[np.ndarray], R: Rounder):
    """(loss term, gradients for W, gradients for the bias parameters): L1 lambda sum|w|, L2 lambda sum w^2."""
    tr = net.training
    lam = tr.reg_lambda
    zero_W = [np.zeros_like(w) for w in W]
    zero_b = [np.zeros_like(v) for v in bp]
    if not tr.regularization or lam == 0:
        return 0.0, zero_W, zero_b
    arrays = list(W) + (list(bp) if tr.reg_biases else [])
    if tr.regularization == "l1":
        loss = lam * sum(float(np.abs(a).sum()) for a in arrays)
        gw = [R.array(lam * np.sign(w)) for w in W]
        gb = [R.array(lam * np.sign(v)) for v in bp] if tr.reg_biases else zero_b
    else:
        loss = lam * sum(float((a * a).sum()) for a in arrays)
        gw = [R.array(2 * lam * w) for w in W]
        gb = [R.array(2 * lam * v) for v in bp] if tr.reg_biases else zero_b
    return R(loss), gw, gb


def dataset_loss(net: Network, W, bp, R: Rounder | None = None, bn=None) -> float:
    """The mean loss over every example (without dropout), plus the regularization term; with batch
    normalization each batch of the epoch normalized by its own statistics (training mode)."""
    R = R or numeric.rounder_for(net)
    b = full_biases(net, bp)
    if net.has_batch_norm:
        data = [fw.loss for fw in batch_forwards(net, W, b, R, bn)]
    else:
        data = [numeric.forward(net, W, b, x=x, t=t, R=R).loss for x, t in net.examples]
    mean = data[0] if len(data) == 1 else R(float(np.mean(data)))
    return R(mean + regularization(net, W, bp, R)[0])


def batch_forwards(net: Network, W, b, R: Rounder, bn=None) -> list[numeric.Forward]:
    """Every example's forward pass in training mode, each batch of the epoch normalized by its own statistics."""
    out = []
    for batch in batches(net):
        data = [net.examples[k] for k in batch]
        out.extend(numeric.batch_pass(net, W, b, data, R, bn_params=bn, forward_only=True).forwards)
    return out


def step(
    net: Network, W, bp, state, number: int, epoch: int, batch: list[int], masks: Masks, R: Rounder, bn=None
) -> Step:
    """One update on one batch; ``bn``: batch normalization's parameters and running statistics per layer."""
    opt = rules.OPTIMIZERS[net.training.optimizer]
    p = opt.params(net.training.optimizer_params)
    lr = learning_rate(net, epoch)
    b = full_biases(net, bp)
    exs = []
    if net.has_batch_norm:
        bn = net.bn_state() if bn is None else bn
        drawn = [masks.draw() for _ in batch]
        B = numeric.batch_pass(net, W, b, [net.examples[k] for k in batch], R, masks=drawn, bn_params=bn)
        exs = [ExampleStep(k, fw, bw) for k, fw, bw in zip(batch, B.forwards, B.backwards)]
    for k in batch if not net.has_batch_norm else ():
        x, t = net.examples[k]
        fw = numeric.forward(net, W, b, x=x, t=t, R=R, masks=masks.draw())
        bw, uW, ub = numeric.backward(net, fw, W, b, R=R)
        exs.append(ExampleStep(k, fw, bw))
    if net.conventions.update_order == "updated-first":
        # plain descent on one example (the spec checks it): backward already updated layer by layer
        nbp = _params_of(net, ub)
        fw0, bw0 = exs[0].forward, exs[0].backward
        lines = {
            ("W", li): {"step": R.array(lr * g, "update"), "w+": w} for li, (w, g) in enumerate(zip(uW, bw0.grad_W))
        }
        if net.update_biases:
            lines.update(
                {
                    ("b", li): {"step": R.array(lr * g, "update"), "w+": v}
                    for li, (v, g) in enumerate(zip(nbp, bw0.grad_b))
                }
            )
        zW, zb = [np.zeros_like(w) for w in W], [np.zeros_like(v) for v in bp]
        return Step(
            number,
            epoch,
            batch,
            lr,
            exs,
            [w.copy() for w in W],
            [v.copy() for v in bp],
            bw0.grad_W,
            bw0.grad_b,
            zW,
            zb,
            bw0.grad_W,
            bw0.grad_b,
            {},
            lines,
            uW,
            nbp,
            fw0.loss,
            0.0,
            fw0.loss,
        )
    m = len(exs)
    if m == 1:
        gW = [g.copy() for g in exs[0].backward.grad_W]
        gb = [g.copy() for g in exs[0].backward.grad_b]
        data_loss = exs[0].forward.loss
    else:
        # reduction "mean": the seeds' w - eta/m sum delta a^T; "sum": the batch's gradients added up
        div = 1 if net.training.reduction == "sum" else m
        gW = [R.array(sum(e.backward.grad_W[li] for e in exs) / div, "gradient") for li in range(len(W))]
        gb = [R.array(sum(e.backward.grad_b[li] for e in exs) / div, "gradient") for li in range(len(W))]
        data_loss = R(float(sum(e.forward.loss for e in exs) / div), "loss")
    reg_loss, rW, rb = regularization(net, W, bp, R)
    if net.training.regularization:
        tW = [R.array(g + r) for g, r in zip(gW, rW)]
        tb = [R.array(g + r) for g, r in zip(gb, rb)]
    else:
        tW, tb = gW, gb
    clipped = None
    if net.training.clipped:
        clipped, tW, tb = clip(net, tW, tb, R)
    new_W, new_b, lines, before = [], [], {}, {}
    for li in range(len(W)):
        for kind, w, g in (("W", W[li], tW[li]), ("b", bp[li], tb[li])):
            key = (kind, li)
            if kind == "b" and not net.update_biases:
                new_b.append(w.copy())
                continue
            st = state.setdefault(key, {s: np.zeros_like(w) for s in opt.state})
            before[key] = {s: v.copy() for s, v in st.items()}
            # as printed, every line is rounded as it is computed, and the rounded state is carried on
            nw, nst, shown = opt.np_step(w, g, st, number, R(lr), p, R.of("update").array)
            state[key] = nst
            lines[key] = shown
            (new_W if kind == "W" else new_b).append(shown["w+"])
    bn_steps = None
    if net.has_batch_norm:
        div = 1 if net.training.reduction == "sum" else m
        bn_steps = []
        for li, layer in enumerate(net.layers):
            if not layer.batch_norm:
                bn_steps.append(None)
                continue
            gamma, beta, rmean, rvar = bn[li]
            gg = R.array(B.grad_gamma(li) / div)
            gbeta = R.array(B.grad_beta(li) / div)
            new = {}
            for kind, w, g in (("gamma", gamma, gg), ("beta", beta, gbeta)):
                key = (kind, li)
                st = state.setdefault(key, {s: np.zeros_like(w) for s in opt.state})
                before[key] = {s: v.copy() for s, v in st.items()}
                _, nst, shown = opt.np_step(w, g, st, number, R(lr), p, R.of("update").array)
                state[key] = nst
                lines[key] = shown
                new[kind] = shown["w+"]
            lay = replace(layer, running_mean=rmean, running_var=rvar)
            nm, nv = numeric.running_stats(lay, B.stats[li], m, R)
            bn_steps.append(BNStep(B.stats[li], B.back[li], gg, gbeta, new["gamma"], new["beta"], rmean, rvar, nm, nv))
    return Step(
        number,
        epoch,
        batch,
        lr,
        exs,
        [w.copy() for w in W],
        [v.copy() for v in bp],
        gW,
        gb,
        rW,
        rb,
        tW,
        tb,
        before,
        lines,
        new_W,
        new_b,
        data_loss,
        reg_loss,
        R(data_loss + reg_loss),
        clipped,
        bn_steps,
        [None if v is None else tuple(a.copy() for a in v) for v in bn] if net.has_batch_norm else None,
    )


def eval_stats(net: Network, bn) -> list[numeric.BatchStats | None] | None:
    """Batch normalization in evaluation mode: the running statistics in place of a batch's."""
    if not net.has_batch_norm:
        return None
    bn = net.bn_state() if bn is None else bn
    return [None if v is None else numeric.BatchStats(v[2], v[3], v[0], v[1]) for v in bn]


def validation_loss(net: Network, W, bp, R: Rounder | None = None, bn=None) -> float:
    """The mean loss over the validation examples (no dropout, no regularization term; batch normalization in
    evaluation mode, with the running statistics)."""
    R = R or numeric.rounder_for(net)
    b = full_biases(net, bp)
    ev = eval_stats(net, bn)
    data = [numeric.forward(net, W, b, x=x, t=t, R=R, bn=ev).loss for x, t in net.training.validation]
    return data[0] if len(data) == 1 else R(float(np.mean(data)))


def run(
    net: Network,
    epochs: int,
    keep: Callable[[int], bool] = lambda n: False,
    progress: Callable[[int], None] | None = None,
    total_steps: int | None = None,
) -> Run:
    """Train for ``epochs`` epochs (or ``total_steps`` updates), keeping the records of the steps ``keep`` picks."""
    R = numeric.rounder_for(net)
    plan = batches(net)
    n_steps = total_steps if total_steps is not None else epochs * len(plan)
    if _lean(net):
        fast = _run_straight(net, n_steps, keep, progress, plan, R)
        return fast if fast is not None else _run_lean(net, n_steps, keep, progress, plan, R)
    W = [l.weights.copy() for l in net.layers]
    bp = bias_params(net)
    state: dict = {}
    masks = Masks(net)
    kept: dict[int, Step] = {}
    losses: list[float] = []
    bn = net.bn_state() if net.has_batch_norm else None
    epoch_loss = [dataset_loss(net, W, bp, R, bn)]
    tr = net.training
    val = [validation_loss(net, W, bp, R, bn)] if tr.validation else []
    best = (0, [w.copy() for w in W], [v.copy() for v in bp], bn)
    stopped = None
    number = 0
    epoch = 0
    while number < n_steps and stopped is None:
        for batch in plan:
            if number >= n_steps:
                break
            number += 1
            with np.errstate(all="ignore"):
                st = step(net, W, bp, state, number, epoch, batch, masks, R, bn)
            if not np.isfinite(st.loss) or not all(np.all(np.isfinite(w)) for w in st.new_W):
                raise ComputeError(
                    f"training diverged at step {number} (the loss or a weight is no longer a finite "
                    "number); lower the learning rate"
                )
            losses.append(st.loss)
            if keep(number):
                kept[number] = st
            W, bp = st.new_W, st.new_b
            bn = st.bn_after if bn is not None else None
            if progress is not None:
                progress(number)
        with np.errstate(all="ignore"):
            epoch_loss.append(dataset_loss(net, W, bp, R, bn))
        epoch += 1
        if tr.validation:
            with np.errstate(all="ignore"):
                val.append(validation_loss(net, W, bp, R, bn))
            if val[-1] < val[best[0]]:
                best = (epoch, [w.copy() for w in W], [v.copy() for v in bp], bn)
            elif tr.patience is not None and epoch - best[0] >= tr.patience:
                stopped = epoch
    best_epoch = None
    if tr.patience is not None and tr.validation:
        # early stopping restores the weights of the epoch with the lowest validation loss
        best_epoch, W, bp, bn = best
    b = full_biases(net, bp)
    final = _final_pass(net, W, b, R, number, bn)
    return Run(kept, losses, epoch_loss, W, bp, final, len(plan), val, best_epoch, stopped, bn)


def _lean(net: Network) -> bool:
    """Plain gradient descent on one example at a time, in exact arithmetic: Mazur's 10,000 rounds."""
    return (
        net.conventions.rounding == "exact"
        and net.training.plain
        and not net.training.dropout_layers
        and (net.batch_size() == 1)
    )


def _run_lean(net: Network, n_steps: int, keep, progress, plan, R: Rounder) -> Run:
    """The same arithmetic as ``step`` (one example, plain descent), without a step's records except where
    ``keep`` asks for them; with one example, the loss after an epoch is the next step's forward loss."""
    W = [l.weights.copy() for l in net.layers]
    b = [l.biases.copy() for l in net.layers]
    updated_first = net.conventions.update_order == "updated-first"
    single = len(net.examples) == 1
    kept: dict[int, Step] = {}
    losses: list[float] = []
    epoch_loss: list[float] = [] if single else [dataset_loss(net, W, _params_of(net, b), R)]
    masks = Masks(net)
    one = _plain_step(net, updated_first)
    number = epoch = 0
    with np.errstate(all="ignore"):
        while number < n_steps:
            for batch in plan:
                if number >= n_steps:
                    break
                number += 1
                x, t = net.examples[batch[0]]
                if keep(number):
                    st = step(net, W, _params_of(net, b), {}, number, epoch, batch, masks, R)
                    kept[number] = st
                    loss, W, b = st.loss, st.new_W, full_biases(net, st.new_b)
                else:
                    loss, W, b = one(W, b, x, t)
                if not math.isfinite(loss):  # a float: math is 20 times quicker than NumPy here
                    raise ComputeError(
                        f"training diverged at step {number} (the loss is no longer a finite number); "
                        "lower the learning rate"
                    )
                losses.append(loss)
                if single:
                    epoch_loss.append(loss)
                if progress is not None:
                    progress(number)
            if not single:
                epoch_loss.append(dataset_loss(net, W, _params_of(net, b), R))
            epoch += 1
        final = [numeric.forward(net, W, b, x=x, t=t, R=R) for x, t in net.examples]
    if single:
        epoch_loss.append(final[0].loss)
    return Run(kept, losses, epoch_loss, W, _params_of(net, b), final, len(plan))


def _plain_step(net: Network, updated_first: bool):
    """One exact plain-descent step on arrays, ``(W, b, x, t) -> (loss, new W, new b)``: the arithmetic of
    ``numeric.forward`` and ``numeric.backward`` without the records and the per-call work that a
    walk-through needs and a long run does not (the networks too large for the straight-line step)."""
    L = len(net.layers)
    lr = net.learning_rate
    # the caller ignores floating-point errors around the whole run (_run_lean)
    acts = [(l.rule.np_quiet or l.rule.np_f, l.rule.np_df, l.activation_params) for l in net.layers]
    loss_rule = net.loss_rule
    lp = loss_rule.params(net.loss_params)
    shared = [l.shared_bias for l in net.layers]
    sizes = [l.size for l in net.layers]
    update_biases = net.update_biases
    if (
        not loss_rule.separable
        or any(l.rule.vector or l.weightless or not l.has_bias or l.kind != "dense" for l in net.layers)
        or net.has_skips
    ):
        # softmax, the hinge losses and residual connections: the engine's own functions
        def general(W, b, x, t):
            fw = numeric.forward(net, W, b, x=x, t=t, R=Rounder(None))
            _, nW, nb = numeric.backward(net, fw, W, b, R=Rounder(None), updated_first=updated_first)
            return fw.loss, nW, nb

        return general
    np_terms, np_grad = loss_rule.np_terms, loss_rule.np_grad
    outer, subtract, multiply = np.multiply.outer, np.subtract, np.multiply
    backward = [(li, acts[li][1], acts[li][2], shared[li], sizes[li]) for li in range(L - 1, -1, -1)]

    def one(W, b, x, t):
        a, zs, outs = x, [], [x]
        for (f, _, p), Wl, bl in zip(acts, W, b):
            z = Wl @ a
            z += bl  # in place: the same floats as Wl @ a + bl, one array fewer
            a = f(z, p)
            zs.append(z)
            outs.append(a)
        loss = float(np_terms(a, t, lp).sum())
        new_W, new_b = list(W), list(b)
        g, d = np_grad(a, t, lp), None
        for li, df, p, shared_li, size in backward:
            if li < L - 1:
                # one matrix product, where the walk-through's engine sums each neuron's contributions in
                # order: the floats may differ in the last bits (the README states 1e-12), the time is a third
                g = (new_W[li + 1] if updated_first else W[li + 1]).T @ d
            d = g * df(zs[li], outs[li + 1], p)
            step_b = multiply(d, lr)
            # (η d) a_inᵀ where the general step has η (d a_inᵀ): one pass over the matrix fewer, and floats
            # that may differ in the last bit (the README's 1e-12)
            step_W = outer(step_b, outs[li])
            new_W[li] = subtract(W[li], step_W, out=step_W)
            if update_biases:
                if shared_li:
                    nb = b[li][:1] - lr * np.array([d.sum()])
                    new_b[li] = np.full(size, nb[0])
                else:
                    new_b[li] = subtract(b[li], step_b, out=step_b)
        return loss, new_W, new_b

    return one


def _run_straight(net: Network, n_steps: int, keep, progress, plan, R: Rounder) -> Run | None:
    """``_run_lean`` on plain floats through the network's generated straight-line step (floatcode), for
    networks small enough that NumPy's calls cost more than the arithmetic. None where that step does not
    apply or stops (a float overflow, a non-finite loss): the NumPy loop then runs from the start and
    reports the divergence exactly as it always does."""
    from . import floatcode

    if floatcode.why_not(net) is not None:
        return None
    program = floatcode.build(net)
    m = len(plan)
    W = [l.weights.copy() for l in net.layers]
    bp = _params_of(net, [l.biases for l in net.layers])
    P = floatcode.flat(net, W, bp)
    kept: dict[int, Step] = {}
    losses: list[float] = []
    try:
        epoch_loss: list[float] = [] if m == 1 else [program.dataset_loss(P)]
        kept_numbers = [k for k in range(1, n_steps + 1) if keep(k)]
        number = 0
        masks = Masks(net)
        while number < n_steps:
            # a chunk runs to the next kept step, the end of the epoch (several examples) or the end
            end = n_steps
            if kept_numbers and kept_numbers[0] <= end:
                end = kept_numbers[0] - 1
            if m > 1:
                end = min(end, (number // m + 1) * m)
            if end > number:
                stopped, P = program.steps(P, number + 1, end - number, losses)
                if stopped:
                    return None
                if progress is not None:
                    for k in range(number + 1, end + 1):
                        progress(k)
                number = end
            if kept_numbers and kept_numbers[0] == number + 1:
                kept_numbers.pop(0)
                number += 1
                W, bp = floatcode.unflat(net, P)
                with np.errstate(all="ignore"):
                    st = step(net, W, bp, {}, number, (number - 1) // m, plan[(number - 1) % m], masks, R)
                if not np.isfinite(st.loss):
                    return None
                kept[number] = st
                losses.append(st.loss)
                P = floatcode.flat(net, st.new_W, st.new_b)
                if progress is not None:
                    progress(number)
            if m > 1 and number % m == 0:
                epoch_loss.append(program.dataset_loss(P))
    except (ArithmeticError, ValueError):  # math.exp overflow, log of 0: the NumPy loop says "diverged"
        return None
    W, bp = floatcode.unflat(net, P)
    b = full_biases(net, bp)
    with np.errstate(all="ignore"):
        final = [numeric.forward(net, W, b, x=x, t=t, R=R) for x, t in net.examples]
    if not all(np.isfinite(f.loss) for f in final):
        return None
    if m == 1:
        epoch_loss = losses + [final[0].loss]
    return Run(kept, losses, epoch_loss, W, bp, final, m)


def _params_of(net: Network, b: list[np.ndarray]) -> list[np.ndarray]:
    # a layer without bias has no bias parameter: an empty array, which every update leaves as it is
    return [v[: l.bias_count].copy() for l, v in zip(net.layers, b)]


def _final_pass(net: Network, W, b, R, steps: int, bn=None) -> list[numeric.Forward]:
    """The forward pass of every example after the last step (with batch normalization: each batch by its own
    statistics, as the loss per epoch); a loss that is no longer finite is divergence."""
    with np.errstate(all="ignore"):
        if net.has_batch_norm:
            final = batch_forwards(net, W, b, R, bn)
        else:
            final = [numeric.forward(net, W, b, x=x, t=t, R=R) for x, t in net.examples]
    if not all(np.isfinite(f.loss) and np.all(np.isfinite(f.outs[-1])) for f in final):
        raise ComputeError(
            f"training diverged at step {steps} (the loss after it is no longer a finite number); "
            "lower the learning rate"
        )
    return final
