"""A walk through feature maps (``explain_maps``): one training step of a network with convolution, pooling and
flatten layers before its dense layers, every quantity a local form bound to its own arguments.

The forms come from each layer kind (tutor/spec/layers/): a convolution's position is the dense neuron's sum over
its receptive field (kernel weights times the inputs under them, plus the channel's bias), a pooling window is the
max or the mean of its inputs, flatten passes its input on. Going back, every later quantity that read a value
contributes its delta times the derivative of its form by that value (SymPy's, of the one form per kind and
size), so a kernel weight's gradient is the sum over every position that used it and the gradient at a
convolution's input is the full convolution of the deltas with the flipped kernel. Max pooling passes each
window's delta to the input that won it.
"""

from __future__ import annotations

from ..spec.errors import SpecError
from ..spec.layers import kind_of, require
from ..spec.network import Network
from .numeric import rounder_for
from .steps import Label, MapLayer, MapWalk
from .sym_builder import ETA, _Builder
from .sym_forms import (
    _key,
    act_form,
    dact_form,
    dkind_form,
    dnet_form,
    dot_form,
    dpass_form,
    drnn_step_form,
    kind_form,
    loss_forms,
    net_form,
    pass_form,
    product_form,
    ratio_form,
    rnn_step_form,
    softmax_form,
    softmax_jac_form,
    sqrt_form,
    squares_form,
    sum_form,
    update_form,
    zero_form,
)


def _net_form(layer, n_args: int, n_in: int):
    """The form of one net input of ``layer`` with ``n_args`` arguments, and a function giving its derivative by
    the argument at a position."""
    if layer.kind == "dense":
        if layer.weightless:
            return pass_form(), lambda pos: dpass_form()
        return net_form(n_in, layer.has_bias), lambda pos: dnet_form(n_in, pos, layer.has_bias)
    if layer.kind in ("conv1d", "conv2d"):
        taps = (n_args - (1 if layer.has_bias else 0)) // 2
        return net_form(taps, layer.has_bias), lambda pos: dnet_form(taps, pos, layer.has_bias)
    if layer.kind == "flatten":
        return pass_form(), lambda pos: dpass_form()
    return kind_form(layer.kind, n_args), lambda pos: dkind_form(layer.kind, n_args, pos)


def explain_maps(net: Network) -> MapWalk:
    """Compute one training step of ``net`` symbolically, layer by layer, and record every shown quantity."""
    require(net, "maps")
    if net.conventions.update_order == "updated-first":
        raise SpecError(
            "the walk by layers computes every delta with the weights before the update; updated-first is not "
            "written for it yet (leave it out)",
            "update_order",
        )
    b = _Builder(net, rounder_for(net))
    E = net.notation["loss"]
    for name, v in zip(net.input_names, net.inputs):
        b.given(name, "input", v)
    for li, layer in enumerate(net.layers):
        for o, row in enumerate(layer.weight_labels):
            for q, lab in enumerate(row):
                b.given(lab, "param", layer.weights[o, q], layer=li, index=o)
        labels = layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels
        for o, lab in enumerate(labels if layer.has_bias else ()):
            b.given(lab, "param", layer.biases[o], layer=li, index=o)
    b.given(ETA, "rate", net.learning_rate)
    for name, v in zip(net.target_names(), net.targets):
        b.given(name, "target", v)

    # forward
    records: list[MapLayer] = []
    derivs: list = []  # per layer: the derivative function of each position's form
    a_keys = list(net.input_names)
    for li, layer in enumerate(net.layers):
        if layer.kind == "rnn":
            rec, dforms = _rnn_forward(b, layer, li, a_keys)
            records.append(rec)
            derivs.append(dforms)
            a_keys = rec.outs
            continue
        kind = kind_of(layer)
        bkeys = layer.bias_labels if layer.has_bias else ()
        if layer.shared_bias and layer.has_bias:
            bkeys = (layer.bias_labels[0],) * layer.size
        nets, dforms = [], []
        for j in range(layer.size):
            args = kind.net_args(layer, j, layer.weight_labels, bkeys, a_keys)
            form, dform = _net_form(layer, len(args), len(a_keys))
            nets.append(b.add(layer.net_names[j], "net", form, args, layer=li, index=j))
            dforms.append(dform)
        pk = _key(layer.activation_params)
        if layer.rule.vector:
            outs = [
                b.add(layer.out_names[j], "out", softmax_form(layer.size, j, layer.activation), nets, layer=li, index=j)
                for j in range(layer.size)
            ]
        elif layer.activation == "identity" and layer.kind != "dense":
            outs = list(nets)  # a pooling window or a flattened value is its own output
        else:
            outs = [
                b.add(layer.out_names[j], "out", act_form(layer.activation, pk), [nets[j]], layer=li, index=j)
                for j in range(layer.size)
            ]
        rec = MapLayer(li, layer.kind, nets, outs)
        if layer.kind == "max_pool":
            for k in nets:
                args = b.q[k].args
                vals = [b.q[a].value for a in args]
                rec.winners.append(args[vals.index(max(vals))])
        records.append(rec)
        derivs.append(dforms)
        a_keys = outs

    # the loss
    out_keys = records[-1].outs
    n = len(out_keys)
    y = int(net.targets.argmax())
    _, total_form, grad_forms = loss_forms(net.loss, n, _key(net.loss_rule.params(net.loss_params)), y)
    largs = out_keys + list(net.target_names())
    loss = b.add(E, "loss", total_form, largs)

    # backward, from the output layer
    L = len(net.layers)
    for li in range(L - 1, -1, -1):
        layer, rec = net.layers[li], records[li]
        if li == L - 1:
            rec.dE_dout = [
                b.partial(
                    E,
                    k,
                    "factor",
                    grad_forms[j],
                    largs,
                    of_form=total_form,
                    of_args=tuple(largs),
                    wrt=k,
                    layer=li,
                    index=j,
                )
                for j, k in enumerate(out_keys)
            ]
        elif layer.kind == "rnn":
            _rnn_backward(b, E, layer, rec, records[li + 1], derivs[li + 1], derivs[li], li)
            _parameters(b, E, net, layer, rec, li)
            continue
        else:
            rec.dE_dout = _back(b, E, rec.outs, records[li + 1], derivs[li + 1], li)
        rec.deltas = _deltas(b, E, layer, rec, li)
        _parameters(b, E, net, layer, rec, li)
    input_gradients = _back(b, E, list(net.input_names), records[0], derivs[0], None, kind="input_gradient")
    return MapWalk(net, b.q, b.labels, records, loss, input_gradients)


def _readers(b: _Builder, keys: list[str], below: MapLayer) -> dict[str, list[tuple[int, int]]]:
    """For each of ``keys``: the (position, argument place) of every net input of ``below`` that reads it."""
    readers: dict[str, list[tuple[int, int]]] = {k: [] for k in keys}
    for p, nk in enumerate(below.nets):
        for pos, a in enumerate(b.q[nk].args):
            if a in readers:
                readers[a].append((p, pos))
    return readers


def _pairs(b: _Builder, a: str, readers, below: MapLayer, dforms) -> list[str]:
    """(delta, d net/d a) of every net input of ``below`` that read ``a``: its delta times the derivative of its
    form by ``a`` (max pooling: only the windows ``a`` won)."""
    pairs = []
    for p, pos in readers.get(a, []):
        if below.winners and below.winners[p] != a:
            continue  # max pooling: a window's delta goes to its winner alone
        nk = below.nets[p]
        q = b.q[nk]
        f = b.partial(
            nk, a, "factor", dforms[p](pos), q.args, of_form=q.form, of_args=q.args, wrt=a, layer=below.layer, index=p
        )
        pairs += [below.deltas[p], f]
    return pairs


def _sum_of(b: _Builder, E: str, a: str, kind: str, pairs: list[str], **tags) -> str:
    """dE/da as the sum of its (delta, factor) pairs; 0 where nothing read ``a``."""
    if not pairs:
        return b.partial(E, a, kind, zero_form(), [], **tags)
    return b.partial(E, a, kind, dot_form(len(pairs) // 2), pairs, **tags)


def _back(b: _Builder, E: str, keys: list[str], below: MapLayer, dforms, li, kind: str = "sum") -> list[str]:
    """dE/d(value) of each of ``keys``: the sum, over every net input of the next layer that read it, of that
    net input's delta times the derivative of its form by the value."""
    readers = _readers(b, keys, below)
    return [_sum_of(b, E, a, kind, _pairs(b, a, readers, below, dforms), layer=li, index=j) for j, a in enumerate(keys)]


def _deltas(b: _Builder, E: str, layer, rec: MapLayer, li: int) -> list[str]:
    """dE/dnet of each position: dE/dout times f'(net) (through the softmax's Jacobian for a softmax layer)."""
    if rec.outs == rec.nets:
        return list(rec.dE_dout)
    pk = _key(layer.activation_params)
    if layer.rule.vector:
        n = layer.size
        deltas = []
        for j in range(n):
            pairs = []
            for k in range(n):
                jk = b.partial(
                    rec.outs[k],
                    rec.nets[j],
                    "factor",
                    softmax_jac_form(n, k, j, layer.activation),
                    rec.outs,
                    of_form=softmax_form(n, k, layer.activation),
                    of_args=tuple(rec.nets),
                    wrt=rec.nets[j],
                    layer=li,
                    index=j,
                )
                pairs += [rec.dE_dout[k], jk]
            deltas.append(b.partial(E, rec.nets[j], "delta", dot_form(n), pairs, layer=li, index=j))
        return deltas
    rows = zip(rec.nets, rec.outs, rec.dE_dout)
    return [_delta(b, E, layer.activation, pk, nk, ok, g, li, j) for j, (nk, ok, g) in enumerate(rows)]


def _delta(b: _Builder, E: str, activation: str, pk: tuple, nk: str, ok: str, g: str, li: int, j: int) -> str:
    """dE/dnet = dE/dout times dout/dnet, the activation's derivative (SymPy's, written in net and out)."""
    f = b.partial(
        ok,
        nk,
        "factor",
        dact_form(activation, pk),
        [nk, ok],
        of_form=act_form(activation, pk),
        of_args=(nk,),
        wrt=nk,
        layer=li,
        index=j,
    )
    return b.partial(E, nk, "delta", product_form(2), [g, f], layer=li, index=j)


def _parameters(b: _Builder, E: str, net: Network, layer, rec: MapLayer, li: int) -> None:
    """Each weight's gradient: the sum, over every net input that used it, of that delta times the input it met
    there (dnet/dw); each bias's: the sum of the deltas it was added to. Then the update w - eta dE/dw."""
    params = {lab for row in layer.weight_labels for lab in row}
    biases = set(layer.bias_labels) if layer.has_bias else set()
    uses: dict[str, list[str]] = {}
    for p, nk in enumerate(rec.nets):
        args = b.q[nk].args
        for pos, a in enumerate(args):
            if a in params:
                uses.setdefault(a, []).extend([rec.deltas[p], args[pos + 1]])
            elif a in biases:
                uses.setdefault(a, []).append(rec.deltas[p])
    for lab in [lab for row in layer.weight_labels for lab in row] + list(dict.fromkeys(biases and layer.bias_labels)):
        terms = uses.get(lab, [])
        if lab in params:
            g = b.partial(E, lab, "gradient", dot_form(len(terms) // 2), terms, layer=li)
        else:
            g = b.partial(E, lab, "gradient", sum_form(len(terms)), terms, layer=li)
        rec.grads[lab] = g
        if lab in params or net.update_biases:
            rec.updates[lab] = b.add(
                f"{lab}+", "update", update_form(), [lab, ETA, g], Label("updated", base=lab), layer=li
            )


# -- a recurrent layer, unrolled over its time steps -------------------------------------------------------


def _rnn_keys(layer, li: int):
    L = li + 1
    return (lambda t, j: f"z{L}_{t + 1}.{j + 1}"), (lambda t, j: f"h{L}_{t + 1}.{j + 1}")


def _rnn_forward(b: _Builder, layer, li: int, a_keys: list[str]):
    """Each step t: z_t = W_ih x_t + W_hh h_(t-1) + b_ih + b_hh unit by unit (one form per layer shape), then
    h_t = f(z_t); h_0 is given. The outputs are the last step's states, or every step's."""
    n, H, T = layer.input_size, layer.hidden_size, layer.steps
    z, h = _rnn_keys(layer, li)
    form = rnn_step_form(n + H, layer.has_bias)
    prev = [b.given(f"h{li + 1}_0.{j + 1}", "input", layer.h0[j], layer=li, index=j) for j in range(H)]
    nets, states = [], []
    for t in range(T):
        x_t = a_keys[t * n : (t + 1) * n]
        row = []
        for j in range(H):
            w = layer.weight_labels[j]
            args = [k for i in range(n) for k in (w[i], x_t[i])] + [k for k in range(H) for k in (w[n + k], prev[k])]
            if layer.has_bias:
                args += [layer.bias_labels[j], layer.bias_labels[H + j]]
            nets.append(b.add(z(t, j), "net", form, args, layer=li, index=t * H + j))
            row.append(b.add(h(t, j), "out", act_form(layer.nonlinearity, ()), [nets[-1]], layer=li, index=t * H + j))
        states += row
        prev = row
    outs = states if layer.outputs == "all" else states[-H:]
    dform = lambda pos: drnn_step_form(n + H, layer.has_bias, pos)  # noqa: E731
    return MapLayer(li, "rnn", nets, outs, states=states), [dform] * len(nets)


def _rnn_backward(b: _Builder, E: str, layer, rec: MapLayer, below: MapLayer, dforms_below, dforms, li: int) -> None:
    """Back-propagation through time, from the last step: dE/dh_t gathers the next layer's deltas (where h_t is an
    output) and step t + 1's deltas through W_hh; the step's delta is that times f'(z_t). Each step's delta size
    ||delta_t|| and its ratio to step t + 1's show where the gradient shrinks or grows going back in time."""
    H, T = layer.hidden_size, layer.steps
    z, h = _rnn_keys(layer, li)
    readers = _readers(b, rec.outs, below)
    deltas: list[str] = [""] * (T * H)
    dE_dh: list[str] = [""] * (T * H)
    for t in range(T - 1, -1, -1):
        for j in range(H):
            hk = h(t, j)
            pairs = _pairs(b, hk, readers, below, dforms_below)
            if t + 1 < T:
                for k in range(H):
                    nk = z(t + 1, k)
                    q = b.q[nk]
                    pos = q.args.index(hk)
                    f = b.partial(nk, hk, "factor", dforms[0](pos), q.args, of_form=q.form, of_args=q.args, wrt=hk)
                    pairs += [deltas[(t + 1) * H + k], f]
            g = _sum_of(b, E, hk, "sum", pairs, layer=li, index=t * H + j)
            dE_dh[t * H + j] = g
            deltas[t * H + j] = _delta(b, E, layer.nonlinearity, (), z(t, j), hk, g, li, t * H + j)
    rec.dE_dout, rec.deltas = dE_dh, deltas
    for t in range(T):
        step = deltas[t * H : (t + 1) * H]
        s = b.add(f"S_delta{li + 1}_{t + 1}", "sum", squares_form(H), step, layer=li)
        rec.step_norms.append(b.add(f"norm_delta{li + 1}_{t + 1}", "sum", sqrt_form(), [s], layer=li))
    for t in range(T - 1):
        if b.q[rec.step_norms[t + 1]].value != 0:
            rec.step_ratios.append(
                b.add(
                    f"ratio_delta{li + 1}_{t + 1}",
                    "sum",
                    ratio_form(),
                    [rec.step_norms[t], rec.step_norms[t + 1]],
                    layer=li,
                )
            )
