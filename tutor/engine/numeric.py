"""The numeric engine: NumPy forward pass, backward pass (BP1-BP4) and update, with no SymPy at all.

Under the as-printed convention every value a walk-through shows is rounded at the same point as the
symbolic engine rounds it, so the two engines can be compared quantity by quantity in both conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..spec.errors import ComputeError, GradientError
from ..spec.layers import kind_of, require
from ..spec.network import Network
from ..spec.rounding import Rounder


@dataclass(frozen=True)
class Forward:
    nets: list[np.ndarray]
    outs: list[np.ndarray]
    terms: np.ndarray  # the loss terms (one per output for a separable loss)
    loss: float
    x: np.ndarray | None = None  # the example's inputs and targets
    t: np.ndarray | None = None
    masks: list[np.ndarray | None] | None = None  # dropout: mask * scale per layer (None: no dropout)
    kept: list[np.ndarray] | None = None  # the outputs after dropout (what the next layer reads)
    acts: list[np.ndarray] | None = None  # f(net) per layer: the output before a skip connection adds to it
    xhat: list[np.ndarray | None] | None = None  # batch normalization: (net - mu)/sqrt(var + eps) per layer
    ys: list[np.ndarray | None] | None = None  # batch normalization: gamma * xhat + beta, what f is applied to


@dataclass(frozen=True)
class Backward:
    dE_dout: list[np.ndarray]  # dE/da per layer (for hidden layers: the sum over downstream neurons)
    dE_dkept: list[np.ndarray | None]  # dropout layers: dE/d(a after dropout), before the mask is applied
    dout_dnet: list[np.ndarray | None]  # element-wise f'(net); None for softmax
    jacobians: list[np.ndarray | None]  # dout_k/dnet_j for softmax; None otherwise
    contributions: list[np.ndarray | None]  # hidden layers: [k, j] = delta_k * w_kj (downstream k)
    deltas: list[np.ndarray]  # dE/dnet per layer (BP1, BP2)
    grad_W: list[np.ndarray]  # BP4
    grad_b: list[np.ndarray]  # BP3: one entry per bias parameter (length 1 when shared)
    used_W: list[np.ndarray | None]  # the downstream weights each hidden layer's deltas were computed with
    dE_dy: list[np.ndarray | None] | None = None  # batch normalization: dE/dy = dE/dout * f'(y)
    dE_dxhat: list[np.ndarray | None] | None = None  # dE/dxhat = dE/dy * gamma; the delta is then dE/dx


@dataclass(frozen=True)
class Step:
    forward: Forward
    backward: Backward
    new_W: list[np.ndarray]
    new_b: list[np.ndarray]
    after: Forward

    @property
    def loss_before(self) -> float:
        return self.forward.loss

    @property
    def loss_after(self) -> float:
        return self.after.loss


def rounder_for(net: Network) -> Rounder:
    c = net.conventions
    return Rounder(c.digits, dict(c.digits_of)) if c.rounding == "as-printed" else Rounder(None)


def _weights(net: Network, W=None, b=None):
    W = [l.weights for l in net.layers] if W is None else W
    b = [l.biases for l in net.layers] if b is None else b
    return W, b


def forward(
    net: Network,
    W: Sequence[np.ndarray] | None = None,
    b: Sequence[np.ndarray] | None = None,
    x: np.ndarray | None = None,
    R: Rounder | None = None,
    t: np.ndarray | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    bn: Sequence[BatchStats | None] | None = None,
    stop: int | None = None,
) -> Forward:
    """Forward pass: net^l = W^l a^(l-1) + b^l, a^l = f(net^l) (times the dropout mask), then the loss.

    A batch-normalized layer reads its batch's statistics from ``bn`` (``batch_pass`` computes them):
    xhat = (net - mu)/sqrt(var + eps), y = gamma xhat + beta, a = f(y). ``stop``: only up to that layer's
    net inputs (what the statistics of the batch are computed from)."""
    R = R or rounder_for(net)
    W, b = _weights(net, W, b)
    x = net.inputs if x is None else x
    t = net.targets if t is None else t
    a = x
    nets, outs, kept, acts, xhats, ys = [], [], [], [], [], []
    for li, (layer, Wl, bl) in enumerate(zip(net.layers, W, b)):
        z = R.array(kind_of(layer).np_net(layer, Wl, bl, a), "net")  # dense: W a + b (weightless: net_j = a_j)
        nets.append(z)
        if li == stop:
            return Forward(nets, outs, np.array([]), math.nan, x, t)
        f_in = z
        if layer.batch_norm:
            st = bn[li] if bn is not None else None
            if st is None:
                raise ComputeError(f"layers[{li}] normalizes over a batch: compute it with batch_pass")
            xh = R.array((z - st.mu) / np.sqrt(st.var + layer.epsilon))
            f_in = R.array(st.gamma * xh + st.beta)
            xhats.append(xh)
            ys.append(f_in)
        else:
            xhats.append(None)
            ys.append(None)
        act = R.array(layer.rule.np_f(f_in, layer.activation_params), "out")
        out = act if layer.skip is None else R.array(act + kept[layer.skip], "out")
        acts.append(act)
        outs.append(out)
        a = out if masks is None or masks[li] is None else R.array(out * masks[li])
        kept.append(a)
    terms, loss = loss_terms(net, outs[-1], R, t)
    has_bn = bn is not None
    return Forward(
        nets,
        outs,
        terms,
        loss,
        x,
        t,
        list(masks) if masks is not None else None,
        kept,
        acts,
        xhats if has_bn else None,
        ys if has_bn else None,
    )


@dataclass(frozen=True)
class BatchStats:
    """One batch-normalized layer over a batch: the batch mean and (biased) variance of its net inputs, and the
    gamma and beta it scales and shifts with."""

    mu: np.ndarray
    var: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True)
class BatchBack:
    """The batch's part of batch normalization's backward pass (for the batch's summed loss): dE/dvar, dE/dmu."""

    dvar: np.ndarray
    dmu: np.ndarray
    m: int  # the examples in the batch


@dataclass(frozen=True)
class Batch:
    """Forward and backward passes of every example of a batch through a network with batch normalization."""

    forwards: list[Forward]
    backwards: list[Backward]
    stats: list[BatchStats | None]
    back: list[BatchBack | None]

    def grad_gamma(self, li: int) -> np.ndarray:
        """dE/dgamma of the batch's summed loss: the sum over examples of dE/dy * xhat."""
        return np.sum([bw.dE_dy[li] * fw.xhat[li] for fw, bw in zip(self.forwards, self.backwards)], axis=0)

    def grad_beta(self, li: int) -> np.ndarray:
        return np.sum([bw.dE_dy[li] for bw in self.backwards], axis=0)


def batch_stats(net: Network, nets: list[np.ndarray], li: int, gamma, beta, R: Rounder) -> BatchStats:
    """mu = (1/m) sum net, var = (1/m) sum (net - mu)^2 (biased, as in training), over the batch."""
    Z = np.array(nets)
    mu = R.array(Z.mean(axis=0))
    var = R.array(((Z - mu) ** 2).mean(axis=0))
    return BatchStats(mu, var, np.asarray(gamma, dtype=float), np.asarray(beta, dtype=float))


def batch_pass(
    net: Network,
    W,
    b,
    data: Sequence[tuple[np.ndarray, np.ndarray]],
    R: Rounder | None = None,
    masks: Sequence[Sequence[np.ndarray | None] | None] | None = None,
    bn_params: Sequence[Any] | None = None,
    forward_only: bool = False,
) -> Batch:
    """Forward and backward passes of a batch through batch-normalized layers: each layer's statistics once
    every example has reached it, and on the way back dE/dvar and dE/dmu once every example has brought its
    dE/dxhat (the per-layer order of Ioffe and Szegedy's algorithm)."""
    R = R or rounder_for(net)
    W, b = _weights(net, W, b)
    masks = masks if masks is not None else [None] * len(data)
    bn_params = bn_params if bn_params is not None else net.bn_state()
    L = len(net.layers)
    stats: list[BatchStats | None] = [None] * L
    norm = [li for li, l in enumerate(net.layers) if l.batch_norm]
    for li in norm:
        nets = [
            forward(net, W, b, x=x, t=t, R=R, masks=mk, bn=stats, stop=li).nets[li] for (x, t), mk in zip(data, masks)
        ]
        stats[li] = batch_stats(net, nets, li, bn_params[li][0], bn_params[li][1], R)
    fws = [forward(net, W, b, x=x, t=t, R=R, masks=mk, bn=stats) for (x, t), mk in zip(data, masks)]
    back: list[BatchBack | None] = [None] * L
    if forward_only:
        return Batch(fws, [], stats, back)
    m = len(data)
    for li in reversed(norm):
        bws = [backward(net, fw, W, b, R=R, bn=stats, bn_back=back, stop=li)[0] for fw in fws]
        layer, st = net.layers[li], stats[li]
        inv = 1.0 / np.sqrt(st.var + layer.epsilon)
        dxh = np.array([bw.dE_dxhat[li] for bw in bws])
        Z = np.array([fw.nets[li] for fw in fws])
        dvar = R.array((dxh * (Z - st.mu)).sum(axis=0) * (-0.5) * inv**3)
        dmu = R.array((dxh * -inv).sum(axis=0) + dvar * (-2.0 * (Z - st.mu)).sum(axis=0) / m)
        back[li] = BatchBack(dvar, dmu, m)
    bws = [backward(net, fw, W, b, R=R, bn=stats, bn_back=back)[0] for fw in fws]
    return Batch(fws, bws, stats, back)


def running_stats(layer, st: BatchStats, m: int, R: Rounder) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's running statistics after a training step: (1 - momentum) running + momentum batch, with the
    batch's unbiased variance var * m/(m - 1) for running_var."""
    k = layer.momentum
    mean = R.array((1 - k) * layer.running_mean + k * st.mu)
    var = R.array((1 - k) * layer.running_var + k * st.var * m / (m - 1))
    return mean, var


def loss_terms(net: Network, a: np.ndarray, R: Rounder, t: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    rule, p = net.loss_rule, net.loss_rule.params(net.loss_params)
    t = net.targets if t is None else t
    if rule.separable:
        terms = R.array(rule.np_terms(a, t, p), "loss_term")
    else:
        y = int(np.argmax(t))
        margins = a - a[y] + p["margin"]
        terms = R.array(np.maximum(0.0, np.delete(margins, y)), "loss_term")
    return terms, R(float(terms.sum()), "loss")


def backward(
    net: Network,
    fw: Forward,
    W=None,
    b=None,
    R: Rounder | None = None,
    updated_first: bool | None = None,
    bn: Sequence[BatchStats | None] | None = None,
    bn_back: Sequence[BatchBack | None] | None = None,
    stop: int | None = None,
) -> tuple[Backward, list[np.ndarray], list[np.ndarray]]:
    """Backward pass and update. Returns the record and the new weights and biases.

    With ``updated_first`` each layer is updated as soon as its gradient is known, and the deltas of the
    layer below are computed with the updated weights (Mazur's original program did this).
    """
    R = R or rounder_for(net)
    W, b = _weights(net, W, b)
    if updated_first is None:
        updated_first = net.conventions.update_order == "updated-first"
    L = len(net.layers)
    x = net.inputs if fw.x is None else fw.x
    t = net.targets if fw.t is None else fw.t
    kept = fw.kept if fw.kept is not None else fw.outs
    for li, layer in enumerate(net.layers):
        if not layer.rule.differentiable:
            raise GradientError(
                f"activation {layer.activation!r} of layers[{li}] has no usable derivative "
                "(it is a step); it can be used for the forward pass only"
            )
    lr = net.learning_rate
    rule = net.loss_rule
    p = rule.params(net.loss_params)
    dE_dout: list = [None] * L
    dE_dkept: list = [None] * L
    dout_dnet: list = [None] * L
    jacs: list = [None] * L
    contribs: list = [None] * L
    deltas: list = [None] * L
    gW: list = [None] * L
    gb: list = [None] * L
    used: list = [None] * L
    dys: list = [None] * L
    dxhs: list = [None] * L
    new_W = [w.copy() for w in W]
    new_b = [v.copy() for v in b]
    for li in range(L - 1, -1, -1):
        layer = net.layers[li]
        z, a = fw.nets[li], fw.outs[li]
        a_in = x if li == 0 else kept[li - 1]
        if li == L - 1:
            g = R.array(rule.np_grad(a, t, p), "factor")
        else:
            Wd = new_W[li + 1] if updated_first else W[li + 1]
            nxt = net.layers[li + 1]
            Wd = kind_of(nxt).np_input_jacobian(
                nxt, Wd, kept[li], b[li + 1]
            )  # d net_k/d a_j (weightless: 1 for k = j, else 0)
            used[li] = Wd
            c = R.array(deltas[li + 1][:, None] * Wd, "contribution")
            contribs[li] = c
            g = R.array(c.sum(axis=0), "sum") if c.shape[0] > 1 else c[0].copy()
            # residual connections from here: dout_l/dout_li = 1, so each adds dE/dout_l neuron by neuron
            for lj in range(li + 1, L):
                if net.layers[lj].skip == li:
                    g = R.array(g + dE_dout[lj], "sum")
            if fw.masks is not None and fw.masks[li] is not None:
                dE_dkept[li] = g
                g = R.array(g * fw.masks[li], "sum")
        dE_dout[li] = g
        if layer.rule.vector:
            J = R.array(layer.rule.np_jacobian(z, a, layer.activation_params), "factor")
            jacs[li] = J
            # Exact arithmetic: the softmax backward in the stable form (g - g.a) * a, as frameworks compute it;
            # g @ (diag(a) - a a^T) cancels a - a^2 and leaves errors of 1e-15 where the true delta is 1e-80.
            # As printed, the delta is the sum of the rounded products the walk-through shows.
            d = R.array(g @ J, "delta") if not R.exact else layer.rule.np_backward(g, z, a, layer.activation_params)
            gw = R.array(kind_of(layer).np_weight_grad(layer, d, a_in, W[li], b[li]), "gradient")
        elif layer.batch_norm:
            # out = f(y), y = gamma xhat + beta, xhat = (net - mu)/sqrt(var + eps): dE/dy, dE/dxhat, and
            # dE/dnet from the batch's dE/dvar and dE/dmu (every example's net enters mu and var)
            st = bn[li]
            s = R.array(layer.rule.np_df(fw.ys[li], fw.acts[li], layer.activation_params))
            dout_dnet[li] = s
            dys[li] = R.array(g * s)
            dxhs[li] = R.array(dys[li] * st.gamma)
            if li == stop:
                break
            bb = bn_back[li]
            d = R.array(dxhs[li] / np.sqrt(st.var + layer.epsilon) + bb.dvar * 2.0 * (z - st.mu) / bb.m + bb.dmu / bb.m)
            gw = R.array(kind_of(layer).np_weight_grad(layer, d, a_in, W[li], b[li]), "gradient")
        else:
            f_a = a if fw.acts is None else fw.acts[li]  # the derivative is f's, without the skip's term
            s = R.array(layer.rule.np_df(z, f_a, layer.activation_params), "factor")
            dout_dnet[li] = s
            gs = g * s
            d = R.array(gs, "delta")
            gw = R.array(kind_of(layer).np_weight_grad(layer, gs, a_in, W[li], b[li]), "gradient")
        deltas[li] = d
        gW[li] = gw
        gb[li] = kind_of(layer).np_bias_grad(layer, d, R.of("gradient"), a_in, W[li], b[li])
        if R.by_kind and kind_of(layer).name == "dense" and layer.has_bias and not layer.shared_bias:
            # a neuron's own bias: its gradient is the chain's product (as the weights'), rounded as a gradient,
            # not its delta rounded as a delta (one value when both kinds carry the same decimals)
            gb[li] = R.array(d if layer.rule.vector or layer.batch_norm else g * s, "gradient")
        new_W[li] = R.array(W[li] - lr * gw, "update")
        if net.update_biases and layer.has_bias:
            nb = (
                R.array(b[li][:1] - lr * gb[li], "update")
                if layer.shared_bias
                else R.array(b[li] - lr * gb[li], "update")
            )
            new_b[li] = np.full(layer.size, nb[0]) if layer.shared_bias else nb
    bw = Backward(dE_dout, dE_dkept, dout_dnet, jacs, contribs, deltas, gW, gb, used, dys, dxhs)
    return bw, new_W, new_b


def input_gradient(net: Network, fw: Forward, bw: Backward, W=None, b=None) -> np.ndarray:
    """dE/dx of every input (x.grad): the first layer's deltas back through its weights, or the deltas
    themselves where the first layer has none (net_i = x_i)."""
    first = net.layers[0]
    if first.weightless and first.kind == "dense":
        return bw.deltas[0].copy()
    W0 = first.weights if W is None else W[0]
    x = net.inputs if fw.x is None else fw.x
    # dense: W^T delta; a convolution: the deltas through its im2col matrix (the full convolution with the
    # flipped kernel); pooling: each window's share of its delta
    b0 = first.biases if b is None else b[0]
    return kind_of(first).np_input_jacobian(first, W0, x, b0).T @ bw.deltas[0]


def step(net: Network, W=None, b=None, R: Rounder | None = None) -> Step:
    """One complete training step: forward, backward, update, and the forward pass after it."""
    require(net, "numeric")
    R = R or rounder_for(net)
    fw = forward(net, W, b, R=R)
    bw, nW, nb = backward(net, fw, W, b, R=R)
    return Step(fw, bw, nW, nb, forward(net, nW, nb, R=R))


@dataclass(frozen=True)
class History:
    loss_before: list[float]  # the loss seen during step k, before its update
    loss_after: list[float]  # the loss after step k's update
    W: list[np.ndarray]
    b: list[np.ndarray]
    final: Forward


def train(net: Network, steps: int, progress: Callable[[int], None] | None = None) -> History:
    """Repeat the training step ``steps`` times on the spec's example."""
    require(net, "numeric")
    R = rounder_for(net)
    W, b = _weights(net)
    before, after = [], []
    fw = forward(net, W, b, R=R)
    for k in range(steps):
        bw, W, b = backward(net, fw, W, b, R=R)
        nxt = forward(net, W, b, R=R)
        if not (np.isfinite(nxt.loss) and all(np.all(np.isfinite(w)) for w in W)):
            raise ComputeError(
                f"training diverged at step {k + 1} (the loss or a weight is no longer a finite number); "
                "lower the learning rate"
            )
        before.append(fw.loss)
        after.append(nxt.loss)
        fw = nxt
        if progress is not None:
            progress(k + 1)
    return History(before, after, W, b, fw)


def flat_loss(net: Network) -> tuple[np.ndarray, Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray]]:
    """The parameters as one vector, the exact loss as a function of it, and its exact gradient.

    Order: for each layer, its weights row by row, then its biases (one entry when shared). Used by the
    gradient checker for central finite differences.
    """
    exact = Rounder(None)
    shapes = [(l.weights.shape, l.bias_count, l.shared_bias, l.size) for l in net.layers]

    def unpack(theta):
        W, b, pos = [], [], 0
        for shape, nb, shared, size in shapes:
            n = shape[0] * shape[1]
            W.append(theta[pos : pos + n].reshape(shape))
            pos += n
            bb = theta[pos : pos + nb]
            b.append(np.zeros(size) if nb == 0 else np.full(size, bb[0]) if shared else bb.copy())
            pos += nb
        return W, b

    theta0 = np.concatenate([np.concatenate([l.weights.ravel(), l.biases[: l.bias_count]]) for l in net.layers])

    def loss(theta):
        W, b = unpack(theta)
        return forward(net, W, b, R=exact).loss

    def grad(theta):
        W, b = unpack(theta)
        fw = forward(net, W, b, R=exact)
        bw, _, _ = backward(net, fw, W, b, R=exact, updated_first=False)
        return np.concatenate([np.concatenate([gw.ravel(), gb]) for gw, gb in zip(bw.grad_W, bw.grad_b)])

    return theta0, loss, grad


def flat_batch_loss(
    net: Network, batch: Sequence[int] | None = None
) -> tuple[np.ndarray, Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray]]:
    """``flat_loss`` for a batch through batch-normalized layers: the parameters (each layer's weights, biases,
    then gamma and beta) as one vector, the batch's mean loss in exact arithmetic, and its gradient by the
    batch pass, for the gradient checker's central differences."""
    exact = Rounder(None)
    batch = list(range(len(net.examples))) if batch is None else list(batch)
    data = [net.examples[k] for k in batch]
    m = len(data)
    base = net.bn_state()
    parts = []
    for l, s in zip(net.layers, base):
        parts += [l.weights.ravel(), l.biases[: l.bias_count]]
        if s is not None:
            parts += [s[0], s[1]]
    theta0 = np.concatenate(parts)

    def unpack(theta):
        W, b, bn, pos = [], [], [], 0
        for l, s in zip(net.layers, base):
            n = l.weights.size
            W.append(theta[pos : pos + n].reshape(l.weights.shape))
            pos += n
            nb = l.bias_count
            b.append(
                np.zeros(l.size)
                if nb == 0
                else np.full(l.size, theta[pos])
                if l.shared_bias
                else theta[pos : pos + nb].copy()
            )
            pos += nb
            if s is None:
                bn.append(None)
                continue
            bn.append((theta[pos : pos + l.size].copy(), theta[pos + l.size : pos + 2 * l.size].copy(), s[2], s[3]))
            pos += 2 * l.size
        return W, b, bn

    def loss(theta):
        W, b, bn = unpack(theta)
        B = batch_pass(net, W, b, data, exact, bn_params=bn, forward_only=True)
        return float(sum(f.loss for f in B.forwards) / m)

    def grad(theta):
        W, b, bn = unpack(theta)
        B = batch_pass(net, W, b, data, exact, bn_params=bn)
        out = []
        for li, l in enumerate(net.layers):
            out += [sum(bw.grad_W[li] for bw in B.backwards).ravel() / m, sum(bw.grad_b[li] for bw in B.backwards) / m]
            if l.batch_norm:
                out += [B.grad_gamma(li) / m, B.grad_beta(li) / m]
        return np.concatenate(out)

    return theta0, loss, grad
