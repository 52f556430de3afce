"""The gradient checker: symbolic engine vs numeric engine vs central finite differences.

``check_grads`` is the generic tool (in the spirit of autograd's ``test_util.check_grads``);
``gradient_check`` applies it to a network and returns the table a walk-through shows; ``engines_agree``
compares every quantity the two engines both compute, under the network's own conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..spec.network import Network
from . import numeric
from .steps import Walkthrough


def central_differences(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """(f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every coordinate i."""
    x = np.asarray(x, dtype=float)
    g = np.empty_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def differences(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6):
    """The central, forward and backward differences of ``f`` at ``x`` for every coordinate (the one-sided
    ones cost one more evaluation, f(x)): where ``f`` has a kink within ``eps`` they differ by the jump of its
    slope, where it is smooth by about ``eps`` times its curvature."""
    x = np.asarray(x, dtype=float)
    f0 = f(x)
    central, forward, backward = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        fu, fd = f(up), f(down)
        central[i] = (fu - fd) / (2 * eps)
        forward[i] = (fu - f0) / eps
        backward[i] = (f0 - fd) / eps
    return central, forward, backward


def check_grads(
    f: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> np.ndarray:
    """Assert that ``grad(x)`` matches central finite differences of ``f``; returns the differences.

    >>> import numpy as np
    >>> _ = check_grads(lambda v: float(np.sum(v ** 3)), lambda v: 3 * v ** 2, np.array([0.5, -1.0]))
    """
    fd = central_differences(f, x, eps)
    g = np.asarray(grad(x), dtype=float)
    bad = ~np.isclose(g, fd, rtol=rtol, atol=atol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AssertionError(f"gradient {i}: analytic {g[i]!r} vs finite differences {fd[i]!r}")
    return fd


@dataclass(frozen=True)
class Row:
    param: str
    symbolic: float
    numeric: float
    finite_difference: float
    forward_difference: float | None = None  # (f(x + h) - f(x)) / h, to tell a kink within h
    backward_difference: float | None = None  # (f(x) - f(x - h)) / h
    fine_difference: float | None = None  # the central difference with h/8, taken where the row disagrees
    fine_spread: float | None = None  # forward minus backward difference with h/8
    layer: int | None = None  # the layer of a weight or bias (None: an input's gradient)

    def rel(self, a: float, b: float) -> float:
        scale = max(abs(a), abs(b), 1e-12)
        return abs(a - b) / scale

    @property
    def symbolic_vs_numeric(self) -> float:
        return self.rel(self.symbolic, self.numeric)

    @property
    def vs_finite_difference(self) -> float:
        return abs(self.symbolic - self.finite_difference) / max(abs(self.finite_difference), 1e-3)


# How far below its shown precision the noise of a shown estimate must lie: a central difference is shown
# to a power of ten 1,000 times its rounding noise, so that no machine's last bits reach a shown digit.
FD_MARGIN = 1000.0
# Engines that agree closer than this are shown as agreeing "< 1e-12": their difference is float noise.
ENGINES_SHOWN = 1e-12


@dataclass(frozen=True)
class Report:
    """The gradient-check table: every parameter's gradient from both engines and from finite differences."""

    rows: list[Row]
    eps: float
    engine_tolerance: float = 1e-9
    fd_tolerance: float = 1e-5
    notes: list[str] = field(default_factory=list)
    # The absolute floor of the engine comparison, tied to the network's gradient scale: two engines that sum
    # the same terms of size S in another order differ by about 1e-16 S, so a true gradient of 1e-81 may come
    # out as +-2e-15 and is no disagreement.
    engine_floor: float = 0.0
    loss: float = 1.0  # the loss where the differences are taken: their rounding noise scales with it
    # (layer, neuron) of every unit whose net input sits exactly on a kink of its activation (ReLU at 0)
    kinks: tuple[tuple[int, str], ...] = ()

    @property
    def fd_quantum(self) -> float:
        """The place a finite-difference estimate is shown to: a power of ten FD_MARGIN times its noise.

        (f(x + h) - f(x - h)) / 2h carries the rounding of both losses, about 2^-52 |E| / h, and a
        truncation error of order h^2; both scale with quantities every machine computes alike, so the
        shown places are the same everywhere, and the digits shown are the ones the difference resolves.
        """
        noise = np.finfo(float).eps * max(abs(self.loss), 1e-300) / self.eps + self.eps**2
        return float(10.0 ** math.ceil(math.log10(FD_MARGIN * noise)))

    def fd_bound(self, row: Row) -> float:
        """The relative difference that finite differences can resolve for ``row``, as a power of ten."""
        return float(10.0 ** math.ceil(math.log10(self.fd_quantum / max(abs(row.finite_difference), 1e-3))))

    @property
    def ok(self) -> bool:
        """Both engines agree everywhere, and with the finite differences wherever those can judge."""
        return all(self.engines_agree(r) and (self.fd_agrees(r) or self.fd_unreliable(r)) for r in self.rows)

    def fd_agrees(self, r: Row) -> bool:
        """The gradient and the central difference agree: within the tolerance, or within the difference's
        own rounding noise (a hundredth of the place it is shown to), which a small gradient can fall under."""
        return r.vs_finite_difference <= self.fd_tolerance or abs(r.symbolic - r.finite_difference) <= (
            self.fd_quantum / 100
        )

    def fd_unreliable(self, r: Row) -> str:
        """Why the central difference cannot judge ``r`` ('' where it can, or where the row agrees).

        A wrong gradient misses the central difference by the same amount whatever the step. What finite
        differences themselves get wrong shrinks with the step, except at a kink: so the row is taken again
        with h/8 (``Row.fine_difference``). At a kink right at the point (a ReLU or ELU at 0, a hinge margin at
        0, a tie of a max) the forward and backward differences differ by the jump of the slope with either
        step; a kink farther than h/8 leaves the difference with h/8 agreeing; a slope that bends abruptly (a
        squared ReLU at 0) leaves an error that shrinks eightfold with the step."""
        if self.fd_agrees(r):
            return ""
        if not math.isfinite(r.finite_difference):
            return "the loss is not finite within h of this point"
        if None in (r.forward_difference, r.backward_difference, r.fine_spread, r.fine_difference):
            return ""
        on = [name for layer, name in self.kinks if r.layer is not None and r.layer <= layer]
        if on:  # a parameter before a unit on its kink: the gradient is a convention there
            one = len(on) == 1
            return (
                f"{', '.join(on[:3])}{' and others' if len(on) > 3 else ''} {'sits' if one else 'sit'} exactly "
                f"on the kink of {'its' if one else 'their'} activation (net input 0): there the gradient takes "
                "the activation's slope on one side, by convention, while the central difference measures the "
                "function around the point"
            )
        return kink_reason(
            r.symbolic,
            r.finite_difference,
            r.forward_difference,
            r.backward_difference,
            r.fine_difference,
            r.fine_spread,
            self.fd_tolerance,
            16 * self.fd_quantum / FD_MARGIN,  # the rounding noise of a one-sided difference with h/8
            self.eps,
        )

    def unreliable(self) -> list[tuple[str, str]]:
        """(parameter, reason) of every row where finite differences cannot judge the gradient."""
        return [(r.param, why) for r in self.rows if (why := self.fd_unreliable(r))]

    def engines_agree(self, r: Row) -> bool:
        diff = abs(r.symbolic - r.numeric)
        return diff <= max(self.engine_tolerance * max(abs(r.symbolic), abs(r.numeric)), self.engine_floor)


def gradient_check(net: Network, eps: float = 1e-6, walk: Walkthrough | None = None) -> Report:
    """Every gradient three ways, in exact arithmetic and the standard order (the true gradient).

    ``walk`` may pass a walk-through of ``net`` already computed in exactly those conventions.
    """
    from .symbolic import explain_step
    from .walks import walked_by_layers

    exact = net.with_conventions(rounding="exact", update_order="standard")
    c = net.conventions
    by_layers = walked_by_layers(net)  # convolution, pooling, recurrence: the walk by layers
    if walk is None or c.rounding != "exact" or c.update_order != "standard":
        if by_layers:
            from .sym_maps import explain_maps

            walk = explain_maps(exact)  # type: ignore[assignment]
        else:
            walk = explain_step(exact)
    theta, loss, grad = numeric.flat_loss(exact)
    fd, fwd, bwd = differences(loss, theta, eps)
    ng = grad(theta)
    params = _gradients_by_layers(exact) if by_layers else [(p.gradient, p.layer) for p in _params_in_flat_order(walk)]
    rows = [
        Row(key.split("/d", 1)[1], walk.value(key), float(n), float(f), float(a), float(b), layer=li)
        for (key, li), n, f, a, b in zip(params, ng, fd, fwd, bwd)
    ]
    if exact.layers[0].weightless and walk.input_gradients:
        # a network that starts from given scores: their gradients dE/dx are the result, checked the same way
        R = numeric.Rounder(None)
        fwd = numeric.forward(exact, R=R)
        gx = numeric.input_gradient(exact, fwd, numeric.backward(exact, fwd, R=R, updated_first=False)[0])
        fdx, fwx, bwx = differences(lambda x: numeric.forward(exact, x=x, R=R).loss, exact.inputs, eps)
        for name, key, n, f, a, b in zip(exact.input_names, walk.input_gradients, gx, fdx, fwx, bwx):
            rows.append(Row(name, walk.value(key), float(n), float(f), float(a), float(b)))
    rows = _refined(rows, loss, theta, eps)
    notes = []
    if net.conventions.rounding != "exact" or net.conventions.update_order != "standard":
        notes.append("checked in exact arithmetic and the standard order, where the gradient is the true one")
    return Report(
        rows,
        eps,
        notes=notes,
        engine_floor=ENGINE_FLOOR * gradient_scale(exact),
        loss=float(loss(theta)),
        kinks=units_on_a_kink(exact),
    )


def units_on_a_kink(net: Network) -> tuple[tuple[int, str], ...]:
    """(layer, neuron) of every unit whose net input is exactly where its activation's slope jumps (ReLU,
    leaky ReLU or ELU at 0): the activation's slope just below and just above the net input differ. There
    the gradient takes the activation's convention for the slope, which no difference quotient measures (two
    such units can even cancel into a smooth function whose slope the convention misses)."""
    with np.errstate(all="ignore"):
        fw = numeric.forward(net, R=numeric.Rounder(None))
    out = []
    for li, layer in enumerate(net.layers):
        rule, z = layer.rule, np.asarray(fw.nets[li], dtype=float)
        if layer.weightless or getattr(rule, "np_jacobian", None) is not None or rule.np_df is None:
            continue  # softmax and the like are smooth; a weightless layer has no parameters before it
        d = 1e-7 * np.maximum(1.0, np.abs(z))
        p = layer.activation_params
        with np.errstate(all="ignore"):
            lo = rule.np_df(z - d, rule.np_f(z - d, p), p)
            hi = rule.np_df(z + d, rule.np_f(z + d, p), p)
        jump = np.abs(np.asarray(hi) - np.asarray(lo)) > 1e-3 * np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1e-3)
        out += [(li, layer.neurons[j]) for j in np.flatnonzero(jump)]
    return tuple(out)


def batch_gradient_check(net: Network, eps: float = 1e-6) -> Report:
    """``gradient_check`` for a network with batch normalization, over its first batch in exact arithmetic: the
    gradient of the batch's mean loss with respect to every weight, bias, gamma and beta from the symbolic
    walk of the first training step, from the numeric batch pass, and from central differences."""
    from .steps import flat_walk
    from .symbolic import explain_training_step
    from .training import batches, run

    exact = net.with_conventions(rounding="exact")
    first = batches(exact)[0]
    step = run(exact, 0, keep=lambda n: n == 1, total_steps=1).steps[1]
    values = flat_walk(explain_training_step(exact, step)).values()
    E, m = net.notation["loss"], len(first)
    theta, loss, grad = numeric.flat_batch_loss(exact, first)
    fd, fwd, bwd = differences(loss, theta, eps)
    ng = grad(theta)
    labels = []
    for layer in exact.layers:
        labels += [w for row in layer.weight_labels for w in row]
        labels += list(layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels)
        if layer.batch_norm:
            labels += list(layer.bn_names("gamma")) + list(layer.bn_names("beta"))

    def symbolic(label: str) -> float:
        key = f"d{E}/d{label}"
        if key in values:  # the batch mean the update uses
            return values[key]
        # a bias that is not updated has no mean in the step: the mean of the examples' gradients
        return sum(values[f"{key}[e{k + 1}]"] for k in range(m)) / m

    rows = [
        Row(lab, symbolic(lab), float(n), float(f), float(a), float(b))
        for lab, n, f, a, b in zip(labels, ng, fd, fwd, bwd)
    ]
    rows = _refined(rows, loss, theta, eps)
    return Report(
        rows, eps, notes=["over the first batch, in exact arithmetic"], engine_floor=1e-15, loss=float(loss(theta))
    )


def kink_reason(
    g: float, fd: float, fwd: float, bwd: float, fine: float, fine_spread: float, tol: float, noise: float, eps: float
) -> str:
    """Why a central difference ``fd`` that misses the gradient ``g`` cannot judge it ('' where it can): at a
    kink right at the point (the forward and backward differences ``fwd`` and ``bwd`` differ by a jump that does
    not shrink from h to h/8, ``fine_spread``), at a kink farther than h/8 (the central difference with h/8,
    ``fine``, agrees), or where the slope bends abruptly (the miss shrinks eightfold with the step). A wrong
    gradient misses by the same amount whatever the step, and stays a disagreement."""
    spread = abs(fwd - bwd)
    coarse_miss, fine_miss = fd - g, fine - g
    sides = f"its slope is {_g(bwd)} on one side and {_g(fwd)} on the other"
    # a jump of the slope is large next to the gradients (a smooth point's spread is h times its curvature)
    jump = spread > max(10 * noise, 100 * tol * max(abs(fd), 1e-3))
    if jump and abs(fine_spread) > spread / 4:
        return f"the function has a kink at this point (a ReLU or ELU at 0, a hinge margin at 0, a tie): {sides}"
    if abs(fine_miss) <= max(tol * max(abs(fine), 1e-3), noise):
        return (
            f"the central difference changes with its step (a kink or a sharp bend within h = {eps:.0e}; "
            f"{sides}): with h/8 it is {_g(fine)}, which agrees with the gradient {_g(g)}"
        )
    if coarse_miss * fine_miss > 0 and abs(coarse_miss) / 16 <= abs(fine_miss) <= abs(coarse_miss) / 4:
        if abs(coarse_miss) > 10 * noise:
            return (
                "the slope bends abruptly here (a squared ReLU at 0): the central difference misses the gradient "
                f"by {_g(abs(coarse_miss))} with h and by {_g(abs(fine_miss))} with h/8, in step with h"
            )
    return ""


def _refined(rows: list[Row], loss: Callable[[np.ndarray], float], theta: np.ndarray, eps: float) -> list[Row]:
    """Each parameter row that disagrees with its central difference gets the differences with h/8, which
    tell a kink (their spread stays) from a smooth point (it shrinks eightfold). Rows beyond ``theta`` (the
    input gradients of a weightless first layer) are left as they are."""
    from dataclasses import replace

    out = list(rows)
    f0 = None
    for i, r in enumerate(rows[: theta.size]):
        if r.vs_finite_difference <= 1e-5:
            continue
        f0 = loss(theta) if f0 is None else f0
        up, down = theta.copy(), theta.copy()
        up[i] += eps / 8
        down[i] -= eps / 8
        fu, fd = loss(up), loss(down)
        out[i] = replace(r, fine_difference=(fu - fd) / (eps / 4), fine_spread=((fu - f0) - (f0 - fd)) / (eps / 8))
    return out


def _g(x: float) -> str:
    """A one-sided difference in a reason: four significant figures, which its noise cannot reach."""
    return f"{x + 0.0:.4g}"


ENGINE_FLOOR = 1e-12  # relative to the gradient scale: float64 rounding of sums of terms that size, with room


def gradient_scale(net: Network) -> float:
    """The size of the terms the gradients are sums of: the largest |dE/dout|, |delta|, |gradient| in the
    network and |input or output| they are multiplied by (at least 1e-300)."""
    with np.errstate(all="ignore"):
        fw = numeric.forward(net, R=numeric.Rounder(None))
        bw, _, _ = numeric.backward(net, fw, R=numeric.Rounder(None))
    arrays = [*bw.dE_dout, *bw.deltas, *bw.grad_W, *bw.grad_b]
    g = max((float(np.max(np.abs(a))) for a in arrays if a is not None and np.size(a)), default=0.0)
    x = max([float(np.max(np.abs(net.inputs)))] + [float(np.max(np.abs(o))) for o in fw.outs] + [1.0])
    scale = g * x
    return scale if np.isfinite(scale) and scale > 1e-300 else 1e-300


def _gradients_by_layers(net: Network) -> list[tuple[str, int]]:
    """(gradient key, layer) of every parameter of a network walked by layers, in numeric.flat_loss order: each
    layer's weights row by row (a kernel matrix's rows), then its biases."""
    E = net.notation["loss"]
    out = []
    for li, layer in enumerate(net.layers):
        labels = [lab for row in layer.weight_labels for lab in row] + list(layer.bias_labels[: layer.bias_count])
        out += [(f"d{E}/d{lab}", li) for lab in labels]
    return out


def _params_in_flat_order(walk: Walkthrough):
    """The ParamSteps in numeric.flat_loss order: layer by layer, weights row by row, then biases."""
    by_layer: dict[int, list] = {}
    for p in walk.params:
        by_layer.setdefault(p.layer, []).append(p)
    out = []
    for li in sorted(by_layer):
        ps = by_layer[li]
        out += [p for p in ps if p.kind == "weight"] + [p for p in ps if p.kind == "bias"]
    return out


def numeric_values(walk: Walkthrough, recorded: Any = None) -> dict[str, float]:
    """The numeric engine's value for every key of the walk-through that it also computes.

    ``recorded``: an example's (forward, backward) from a numeric batch pass (batch normalization couples
    the examples of a batch, so one example's walk is compared with its part of the batch's passes)."""
    net = walk.network
    masks = None
    if any(n.mask for row in walk.forward for n in row):
        scale = walk.value("dropout_scale")
        masks = [np.array([walk.value(n.mask) * scale for n in row]) if row[0].mask else None for row in walk.forward]
    R = numeric.rounder_for(net)
    if recorded is not None:
        fw, bw = recorded
        new_W, new_b, after = None, None, None
    else:
        fw = numeric.forward(net, R=R, masks=masks)
        bw, new_W, new_b = numeric.backward(net, fw, R=R)
        after = numeric.forward(net, new_W, new_b, R=R)
    out: dict[str, float] = {}
    for li, row in enumerate(walk.forward):
        for j, n in enumerate(row):
            out[n.net] = fw.nets[li][j]
            out[n.out] = fw.outs[li][j]
            if n.kept:
                out[n.kept] = fw.kept[li][j]
            if n.xhat:
                out[n.xhat] = fw.xhat[li][j]
                out[n.y] = fw.ys[li][j]
    for k, t in enumerate(walk.loss_terms):
        out[t] = fw.terms[k]
    out[walk.loss] = fw.loss
    for row in walk.backward:
        for j, nb in enumerate(row):
            li = nb.layer
            out[nb.dE_dout] = bw.dE_dout[li][j]
            out[nb.delta] = bw.deltas[li][j]
            if nb.dE_dkept:
                out[nb.dE_dkept] = bw.dE_dkept[li][j]
            if nb.dout_dnet:
                out[nb.dout_dnet] = bw.dout_dnet[li][j]
            if nb.dE_dy:
                out[nb.dout_dy] = bw.dout_dnet[li][j]  # f'(y), kept where f'(net) is without normalization
                out[nb.dE_dy] = bw.dE_dy[li][j]
                out[nb.dE_dxhat] = bw.dE_dxhat[li][j]
            if nb.contributions:
                # downstream neuron k's contribution is row k (a layer without weights: only k = j reads
                # this output); the skips' contributions after them are not in that matrix
                ks = [j] if walk.network.layers[li + 1].weightless else range(bw.contributions[li].shape[0])
                for k, c in zip(ks, nb.contributions):
                    out[c] = bw.contributions[li][k, j]
    wpos: dict[int, int] = {}
    for p in walk.params:
        li = p.layer
        if p.kind == "weight":
            pos = wpos.get(li, 0)
            wpos[li] = pos + 1
            j, i = divmod(pos, net.layers[li].weights.shape[1])
            out[p.gradient] = bw.grad_W[li][j, i]
            if p.update:
                out[p.update] = new_W[li][j, i]
        elif p.kind in ("gamma", "beta"):  # this example's share: dE/dy * xhat, dE/dy
            j = net.layers[li].neurons.index(p.neuron)
            out[p.gradient] = bw.dE_dy[li][j] * (fw.xhat[li][j] if p.kind == "gamma" else 1.0)
        else:
            layer = net.layers[li]
            j = 0 if layer.shared_bias else layer.neurons.index(p.neuron)
            out[p.gradient] = bw.grad_b[li][j]
            if p.update:
                out[p.update] = new_b[li][j]
    if walk.loss_after and after is not None:
        out[walk.loss_after] = after.loss
    if net.layers[0].weightless and walk.input_gradients:
        out.update(zip(walk.input_gradients, numeric.input_gradient(net, fw, bw)))
    return {k: float(v) for k, v in out.items()}


def engines_agree(walk: Walkthrough, rtol: float = 1e-9) -> list[tuple[str, float, float]]:
    """The quantities on which the engines disagree (an empty list when they agree).

    Exact arithmetic: within ``rtol`` relative. As printed: within one unit of the last printed decimal,
    since a last-bit difference between two float evaluations can tip a rounding either way.
    """
    return _disagreements(walk.values(), numeric_values(walk), walk.conventions, rtol)


def _disagreements(symbolic: dict[str, float], numeric_: dict[str, float], conv, rtol: float):
    """The keys whose two values differ by more than ``rtol`` relative, or, as printed, by more than one unit of
    the last printed decimal."""
    unit = 10.0**-conv.digits if conv.rounding == "as-printed" else 0.0
    # the absolute floor follows the size of the network's values (see Report.engine_floor)
    sizes = [abs(v) for v in numeric_.values() if np.isfinite(v)]
    floor = max(1e-15, ENGINE_FLOOR * max(sizes, default=0.0))
    bad = []
    for key, nv in numeric_.items():
        sv = symbolic[key]
        if abs(sv - nv) > max(rtol * max(abs(sv), abs(nv)), floor, unit * 1.000001):
            bad.append((key, sv, nv))
    return bad


def training_values(tw, step) -> dict[str, float]:
    """The numeric run's value for every aggregate key of a training step's walk-through."""
    out: dict[str, float] = {}
    net = tw.network
    if tw.data_loss in tw.quantities and tw.quantities[tw.data_loss].kind == "loss":
        out[tw.data_loss] = step.data_loss
    if tw.reg_loss:
        out[tw.reg_loss] = step.reg_loss
        out[tw.loss] = step.loss
    for rec in getattr(tw, "batch_norm", ()):
        bn = step.bn[rec.layer]
        for j in range(len(rec.neurons)):
            for key, arr in zip(rec.stats[j] + rec.grads[j], (bn.stats.mu, bn.stats.var, bn.back.dvar, bn.back.dmu)):
                out[key] = arr[j]
            out[rec.running[j][2]] = bn.new_running_mean[j]
            out[rec.running[j][3]] = bn.new_running_var[j]
    for p in tw.params:
        li = p.layer
        layer = net.layers[li]
        if p.kind in ("gamma", "beta"):
            j = layer.bn_names(p.kind).index(p.label)
            pos = (j,)
            g = step.bn[li].grad_gamma if p.kind == "gamma" else step.bn[li].grad_beta
            if p.mean not in p.per_example:
                out[p.mean] = g[j]
            lines = step.lines[(p.kind, li)]
            for key in p.lines:
                q = tw.quantities[key]
                name = "w+" if q.kind == "update" else tw.labels[key].num
                out[key] = lines[name][pos]
            continue
        if p.kind == "weight":
            j = next(j for j, row in enumerate(layer.weight_labels) if p.label in row)
            pos: tuple = (j, layer.weight_labels[j].index(p.label))
            kind, g, r, t = "W", step.grad_W, step.reg_W, step.total_W
        else:
            pos = (0 if layer.shared_bias else layer.bias_labels.index(p.label),)
            kind, g, r, t = "b", step.grad_b, step.reg_b, step.total_b
        if p.mean not in p.per_example:
            out[p.mean] = g[li][pos]
        if p.reg:
            out[p.reg] = r[li][pos]
            out[p.total] = t[li][pos]
        lines = step.lines[(kind, li)]
        for key in p.lines:
            q = tw.quantities[key]
            name = "w+" if q.kind == "update" else tw.labels[key].num
            out[key] = lines[name][pos]
    return {k: float(v) for k, v in out.items()}


def training_engines_agree(tw, step, rtol: float = 1e-9) -> list[tuple[str, float, float]]:
    """Where the symbolic walk-through of a training step and the numeric run disagree (empty: they agree)."""
    bad = []
    for k, w in enumerate(tw.examples):
        recorded = None
        if tw.network.has_batch_norm:
            recorded = (step.examples[k].forward, step.examples[k].backward)
        found = _disagreements(w.values(), numeric_values(w, recorded), w.conventions, rtol)
        bad += [(f"example: {key}", a, b) for key, a, b in found]
    return bad + _disagreements(tw.values(), training_values(tw, step), tw.conventions, rtol)
