"""One example's walk-through (``explain_step``): the forward pass, the loss, every neuron's backward factors and
every parameter's gradient and update, each a local form bound to its quantities."""

from __future__ import annotations

import numpy as np

from ..spec.errors import GradientError, TutorError
from ..spec.layers import kind_of, require
from ..spec.network import Network
from .numeric import rounder_for
from .steps import (
    Label,
    NeuronBackward,
    NeuronForward,
    ParamStep,
    Walkthrough,
)
from .sym_batchnorm import _bn_backward, _bn_batch
from .sym_builder import (
    DROPOUT_SCALE,
    ETA,
    BatchContext,
    DropoutMasks,
    _batch_loss_labels,
    _Builder,
    batch_loss,
    bn_grad_keys,
)
from .sym_forms import (
    _key,
    act_form,
    act_skip_form,
    bn_dy_form,
    bn_xhat_form,
    bn_y_form,
    dact_form,
    dact_skip_form,
    difference_form,
    dkept_form,
    dnet_form,
    dot_form,
    dpass_form,
    input_gradient_form,
    layer_net_form,
    loss_forms,
    net_form,
    pass_form,
    product_form,
    softmax_form,
    softmax_jac_form,
    sum_form,
    update_form,
)
from .sym_preparation import _prepare


def batch_context(net: Network, masks=None) -> BatchContext:
    """The batch statistics and dE/dvar, dE/dmu of the first batch of ``net``'s examples (the one the
    example ``net.inputs`` belongs to, the first), for a walk-through of that example alone."""
    from dataclasses import replace

    from .training import batches

    first = batches(net)[0]
    if not any(np.array_equal(net.inputs, net.examples[k][0]) for k in first):
        raise TutorError(
            "this network normalizes over a batch (batch_norm): an example outside its batches has no batch "
            "statistics; 'backprop-tutor explain SPEC' walks through its training step over the batch"
        )
    ctx = BatchContext(len(first))

    def walks(forward_only: bool = False) -> list[Walkthrough]:
        return [
            explain_step(
                replace(net, inputs=net.examples[k][0], targets=net.examples[k][1]),
                bn=ctx,
                forward_only=forward_only,
                gradients_only=True,
                prepare=False,
                masks=masks,
            )
            for k in first
        ]

    _bn_batch(_Builder(net, rounder_for(net)), net, walks, ctx)
    return ctx


def explain_step(
    net: Network,
    *,
    forward_only: bool = False,
    masks: DropoutMasks | None = None,
    gradients_only: bool = False,
    input_gradients: bool | None = None,
    prepare: bool = True,
    bn: BatchContext | None = None,
) -> Walkthrough:
    """Compute one training step symbolically and record every shown quantity.

    >>> from tutor.spec import load
    >>> w = explain_step(load("mazur"))
    >>> round(w.value("dE_total/dw5"), 9), round(w.value("w5+"), 8)
    (0.082167041, 0.35891648)
    """
    require(net, "symbolic")
    R = rounder_for(net)
    if net.has_batch_norm and bn is None:
        bn = batch_context(net, masks=masks)
    b = _Builder(net, R, bn)
    L = len(net.layers)
    nt = net.notation
    E = nt["loss"]

    prep = _prepare(b, net) if prepare and (net.scaling or net.init_layers) else None
    for name, v in zip(net.input_names, net.inputs):
        b.given(name, "input", v)
    param_keys: list[tuple[list[list[str]], list[str]]] = []
    for li, layer in enumerate(net.layers):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                if w not in b.q:  # a drawn weight is given where it was drawn, before the forward pass
                    b.given(w, "param", layer.weights[j, i], layer=li, index=j)
        if layer.shared_bias:
            b.given(layer.bias_labels[0], "param", layer.biases[0], layer=li)
        else:
            for j, bl in enumerate(layer.bias_labels):
                b.given(bl, "param", layer.biases[j], layer=li, index=j)
        param_keys.append(([list(r) for r in layer.weight_labels], list(layer.bias_labels)))
        if layer.batch_norm:
            for j in range(layer.size):
                b.given(layer.bn_names("gamma")[j], "param", layer.gamma[j], layer=li, index=j)
                b.given(layer.bn_names("beta")[j], "param", layer.beta[j], layer=li, index=j)
            b.given(f"eps_L{li + 1}", "rate", layer.epsilon, layer=li)
            for j in range(layer.size):
                for what, placeholder in (("mu", 0.0), ("var", 1.0)):
                    key = layer.bn_names(what)[j]
                    b.given(key, "batch", bn.get(key, placeholder), layer=li, index=j)
                if not forward_only:
                    for key, what in zip(bn_grad_keys(net, li, j), ("var", "mu")):
                        b.given(key, "batch", bn.get(key, 0.0), layer=li, index=j)
                        b.labels[key] = Label("partial", num=batch_loss(net), den=layer.bn_names(what)[j])
    for name, v in zip(net.target_names(), net.targets):
        b.given(name, "target", v)
    if net.parameter_count:  # a network without weights and biases has no update, so no learning rate
        b.given(ETA, "rate", net.learning_rate)

    forward = _forward(b, net, param_keys, suffix=lambda k: k, masks=masks)
    terms, loss = _loss(b, net, forward, E, suffix=lambda k: k)

    backward: list[list[NeuronBackward]] = []
    params: list[ParamStep] = []
    loss_after = ""
    forward_after: list[list[NeuronForward]] = []
    if not forward_only:
        for li, layer in enumerate(net.layers):
            if not layer.rule.differentiable:
                raise GradientError(
                    f"activation {layer.activation!r} of layers[{li}] has no usable derivative "
                    "(it is a step); use it for the forward pass only (--forward-only)"
                )
        new_keys = [([row[:] for row in w], bl[:]) for w, bl in param_keys]
        updated_first = net.conventions.update_order == "updated-first"
        for li in range(L - 1, -1, -1):
            neurons = _neuron_backward(b, net, li, forward, backward, param_keys, new_keys, updated_first, E, terms)
            backward.append(neurons)
            params.extend(_param_steps(b, net, li, forward, neurons, param_keys, new_keys, E, not gradients_only))
        if not gradients_only and net.parameter_count:  # without parameters nothing changes: no "after"
            forward_after = _forward(b, net, new_keys, suffix=net.updated_name)
            _, loss_after = _loss(b, net, forward_after, E, suffix=net.updated_name)
    # dE/dx of every input (what frameworks keep in x.grad), after everything else so the other keys keep
    # their order: the first layer's deltas back through its (old) weights
    # (a training step's examples ask for them: input_gradients=True with gradients_only)
    want = not gradients_only if input_gradients is None else input_gradients
    inputs = [] if forward_only or not want else _input_gradients(b, net, backward[-1], param_keys, E)
    if net.has_batch_norm:
        _batch_loss_labels(b, net)

    return Walkthrough(
        net,
        net.conventions,
        b.q,
        b.labels,
        forward,
        terms,
        loss,
        backward,
        params,
        loss_after,
        forward_after,
        input_gradients=inputs,
        prep=prep,
    )


def _input_gradients(b: _Builder, net: Network, first: list[NeuronBackward], param_keys, E: str) -> list[str]:
    if net.layers[0].weightless:
        # net_i = x_i: dE/dx_i is the delta of neuron i itself (for softmax with cross-entropy, p_i - y_i)
        return [
            b.partial(E, name, "input_gradient", sum_form(1), [nb.delta]) for name, nb in zip(net.input_names, first)
        ]
    weights = param_keys[0][0]
    form = input_gradient_form(len(first))
    keys = []
    for i, name in enumerate(net.input_names):
        args = [k for j, nb in enumerate(first) for k in (weights[j][i], nb.delta)]
        keys.append(b.partial(E, name, "input_gradient", form, args))
    return keys


def _forward(b: _Builder, net: Network, param_keys, suffix, masks=None) -> list[list[NeuronForward]]:
    layers_out: list[list[NeuronForward]] = []
    a_keys = list(net.input_names)
    for li, layer in enumerate(net.layers):
        wkeys, bkeys = param_keys[li]
        n_in = len(a_keys)
        row: list[NeuronForward] = []
        for j in range(layer.size):
            args = kind_of(layer).net_args(layer, j, wkeys, bkeys, a_keys)
            nk = b.add(suffix(layer.net_names[j]), "net", layer_net_form(layer, n_in), args, layer=li, index=j)
            row.append(NeuronForward(layer.neurons[j], nk, ""))
        net_keys = [r.net for r in row]
        if layer.batch_norm:
            eps = f"eps_L{li + 1}"
            for j, r in enumerate(row):
                mu, var, gamma, beta = (layer.bn_names(w)[j] for w in ("mu", "var", "gamma", "beta"))
                r.xhat = b.add(
                    suffix(layer.bn_names("xhat")[j]), "xhat", bn_xhat_form(), [r.net, mu, var, eps], layer=li, index=j
                )
                r.y = b.add(suffix(layer.bn_names("y")[j]), "y", bn_y_form(), [gamma, r.xhat, beta], layer=li, index=j)
        for j, r in enumerate(row):
            if layer.rule.vector:
                form, args = softmax_form(layer.size, j, layer.activation), net_keys
            elif layer.batch_norm:
                form, args = act_form(layer.activation, _key(layer.activation_params)), [r.y]
            elif layer.skip is not None:  # residual: out = f(net) + the earlier layer's output
                form = act_skip_form(layer.activation, _key(layer.activation_params))
                args = [r.net, layers_out[layer.skip][j].read]
            else:
                form, args = act_form(layer.activation, _key(layer.activation_params)), [r.net]
            r.out = b.add(suffix(layer.out_names[j]), "out", form, args, layer=li, index=j)
        if masks is not None and masks[li] is not None:
            if DROPOUT_SCALE not in b.q:
                b.given(DROPOUT_SCALE, "rate", masks.scale)
            for j, r in enumerate(row):
                r.mask = b.given(f"mask[{r.name}]", "mask", masks[li][j], layer=li, index=j)
                r.kept = b.add(
                    f"{r.out}[kept]",
                    "kept",
                    product_form(3),
                    [r.out, r.mask, DROPOUT_SCALE],
                    Label("kept", base=r.out, text=f"{r.out}[kept]"),
                    layer=li,
                    index=j,
                )
        layers_out.append(row)
        a_keys = [r.read for r in row]
    return layers_out


def _loss_setup(net: Network, forward):
    out_keys = [r.out for r in forward[-1]]
    n = len(out_keys)
    y = int(net.targets.argmax())
    term_forms, total_form, grad_forms = loss_forms(net.loss, n, _key(net.loss_rule.params(net.loss_params)), y)
    args = out_keys + list(net.target_names())
    return out_keys, n, y, term_forms, total_form, grad_forms, args


def _loss(b: _Builder, net: Network, forward, E: str, suffix) -> tuple[list[str], str]:
    out_keys, n, y, term_forms, total_form, _, args = _loss_setup(net, forward)
    names = list(net.loss_term_names())
    if net.loss_rule.separable:
        term_names = names
    else:  # hinge: one term per wrong class
        term_names = [names[j] for j in range(n) if j != y]
    if len(term_forms) == 1:
        return [], b.add(suffix(E), "loss", total_form, args)
    terms = [b.add(suffix(t), "loss_term", f, args) for t, f in zip(term_names, term_forms)]
    return terms, b.add(suffix(E), "loss", sum_form(len(terms)), terms)


def _neuron_backward(b, net, li, forward, backward, param_keys, new_keys, updated_first, E, terms):
    layer = net.layers[li]
    L = len(net.layers)
    row = forward[li]
    out: list[NeuronBackward] = []
    rule = layer.rule
    is_output = li == L - 1
    mazur_names = net.loss_rule.separable and not rule.vector and len(terms) > 1
    if is_output:
        out_keys, n, y, _, total_form, grad_forms, largs = _loss_setup(net, forward)
        for j, r in enumerate(row):
            g = b.partial(
                E,
                r.out,
                "factor",
                grad_forms[j],
                largs,
                of_form=total_form,
                of_args=tuple(largs),
                wrt=r.out,
                layer=li,
                index=j,
            )
            out.append(NeuronBackward(r.name, li, g))
    else:
        below = forward[li + 1]
        n_in = len(row)
        down = backward[-1]
        down_layer = net.layers[li + 1]
        down_mazur = (li + 1 == L - 1) and net.loss_rule.separable and not down_layer.rule.vector and len(terms) > 1
        wkeys_old, _ = param_keys[li + 1]
        wkeys_new, _ = new_keys[li + 1]
        skips = [lj for lj in range(li + 1, L) if net.layers[lj].skip == li]
        single = (len(below) == 1 or down_layer.weightless) and not skips
        for j, r in enumerate(row):
            contribs = []
            a = r.read  # what the next layer reads: the output, or the output after dropout
            for k, (dr, dn) in enumerate(zip(below, down)):
                nargs = b.q[dr.net].args
                down_net = None if down_layer.weightless else net_form(n_in, down_layer.has_bias)
                if down_layer.weightless:
                    if k != j:  # net_k = a_k reads no other output: its path from here is 0
                        continue
                    f = b.partial(
                        dr.net,
                        a,
                        "factor",
                        dpass_form(),
                        nargs,
                        of_form=pass_form(),
                        of_args=nargs,
                        wrt=a,
                        layer=li + 1,
                        index=k,
                    )
                elif updated_first:
                    f = b.partial(
                        dr.net,
                        a,
                        "factor",
                        sum_form(1),
                        [wkeys_new[k][j]],
                        note="updated",
                        of_form=down_net,
                        of_args=nargs,
                        wrt=a,
                        layer=li + 1,
                        index=k,
                    )
                else:
                    f = b.partial(
                        dr.net,
                        a,
                        "factor",
                        dnet_form(n_in, 2 * j + 1, down_layer.has_bias),
                        nargs,
                        of_form=down_net,
                        of_args=nargs,
                        wrt=a,
                        layer=li + 1,
                        index=k,
                    )
                if single:
                    contribs.append((dn.delta, f))
                    continue
                if down_mazur:
                    key = b.partial(terms[k], a, "contribution", product_form(2), [dn.delta, f], layer=li, index=j)
                else:
                    key = b.partial(
                        E, a, "contribution", product_form(2), [dn.delta, f], via=dr.name, layer=li, index=j
                    )
                contribs.append(key)
            for lj in skips:  # the second route: the skip from here to layers[lj], where dout_lj/dout = 1
                sr = forward[lj][j]
                sn = backward[L - 1 - lj][j]
                pk2 = _key(net.layers[lj].activation_params)
                sargs = tuple(b.q[sr.out].args)
                f = b.partial(
                    sr.out,
                    a,
                    "factor",
                    dact_skip_form(net.layers[lj].activation, pk2, 1),
                    sargs,
                    of_form=act_skip_form(net.layers[lj].activation, pk2),
                    of_args=sargs,
                    wrt=a,
                    layer=lj,
                    index=j,
                )
                key = b.partial(
                    E, a, "contribution", product_form(2), [sn.dE_dout, f], via=f"skip.{sr.name}", layer=li, index=j
                )
                contribs.append(key)
            if single:
                g = b.partial(E, a, "sum", product_form(2), list(contribs[0]), layer=li, index=j)
                nb = NeuronBackward(r.name, li, g)
            else:
                g = b.partial(E, a, "sum", sum_form(len(contribs)), contribs, layer=li, index=j)
                nb = NeuronBackward(r.name, li, g, contributions=contribs)
            if r.kept:
                nb.dE_dkept = g
                nb.dkept_dout = b.partial(
                    r.kept,
                    r.out,
                    "factor",
                    dkept_form(),
                    [r.out, r.mask, DROPOUT_SCALE],
                    of_form=product_form(3),
                    of_args=(r.out, r.mask, DROPOUT_SCALE),
                    wrt=r.out,
                    layer=li,
                    index=j,
                )
                nb.dE_dout = b.partial(E, r.out, "sum", product_form(2), [g, nb.dkept_dout], layer=li, index=j)
            out.append(nb)
    # dout/dnet and the delta dE/dnet
    if rule.vector:
        n = layer.size
        out_keys = [r.out for r in row]
        net_keys = [r.net for r in row]
        for j, nb in enumerate(out):
            pairs = []
            for k in range(n):
                jk = b.partial(
                    out_keys[k],
                    net_keys[j],
                    "factor",
                    softmax_jac_form(n, k, j, layer.activation),
                    out_keys,
                    of_form=softmax_form(n, k, layer.activation),
                    of_args=tuple(net_keys),
                    wrt=net_keys[j],
                    layer=li,
                    index=j,
                )
                nb.jacobian.append(jk)
                pairs += [out[k].dE_dout, jk]
            nb.delta = b.partial(E, net_keys[j], "delta", dot_form(n), pairs, layer=li, index=j)
            if net.loss == "categorical_cross_entropy" and layer.activation == "softmax":
                nb.simplified = b.partial(
                    E,
                    net_keys[j],
                    "simplification",
                    difference_form(),
                    [out_keys[j], net.target_names()[j]],
                    note="simplified",
                    layer=li,
                    index=j,
                )
    else:
        pk = _key(layer.activation_params)
        for j, (r, nb) in enumerate(zip(row, out)):
            if layer.batch_norm:
                _bn_backward(b, net, li, j, r, nb, E)
                continue
            if layer.skip is not None:
                # out = f(net) + skip: the derivative by net is SymPy's of f alone, written in net
                skip_args = tuple(b.q[r.out].args)
                nb.dout_dnet = b.partial(
                    r.out,
                    r.net,
                    "factor",
                    dact_skip_form(layer.activation, pk, 0),
                    skip_args,
                    of_form=act_skip_form(layer.activation, pk),
                    of_args=skip_args,
                    wrt=r.net,
                    layer=li,
                    index=j,
                )
                num = E
                nb.delta = b.partial(
                    num, r.net, "delta", product_form(2), [nb.dE_dout, nb.dout_dnet], layer=li, index=j
                )
                continue
            nb.dout_dnet = b.partial(
                r.out,
                r.net,
                "factor",
                dact_form(layer.activation, pk),
                [r.net, r.out],
                of_form=act_form(layer.activation, pk),
                of_args=(r.net,),
                wrt=r.net,
                layer=li,
                index=j,
            )
            num = terms[j] if (is_output and mazur_names) else E
            nb.delta = b.partial(num, r.net, "delta", product_form(2), [nb.dE_dout, nb.dout_dnet], layer=li, index=j)
    return out


def _param_steps(b, net, li, forward, neurons, param_keys, new_keys, E, updates: bool = True) -> list[ParamStep]:
    layer = net.layers[li]
    row = forward[li]
    a_keys = list(net.input_names) if li == 0 else [r.read for r in forward[li - 1]]
    n_in = len(a_keys)
    wkeys, bkeys = param_keys[li]
    steps: list[ParamStep] = []
    if layer.weightless:  # no weights and no bias: nothing to differentiate or update
        return steps
    nform = net_form(n_in, layer.has_bias)

    def chain(j: int, dnet_key: str) -> list[str]:
        nb = neurons[j]
        if layer.rule.vector or layer.batch_norm:
            return [nb.delta, dnet_key]
        return [nb.dE_dout, nb.dout_dnet, dnet_key]

    def update(param: str, grad: str) -> str:
        if not updates:
            return ""
        # the update step itself, named (as an optimizer's "step" line) so that it can be shown and checked
        b.add(
            f"step[{param}]",
            "step",
            product_form(2),
            [ETA, grad],
            layer=li,
            label=Label("state", base=param, text=f"step[{param}]", num="step"),
        )
        return b.add(
            net.updated_name(param),
            "update",
            update_form(),
            [param, ETA, grad],
            layer=li,
            label=Label("updated", base=param, text=net.updated_name(param)),
        )

    for j, r in enumerate(row):
        nargs = b.q[r.net].args
        for i in range(n_in):
            w = wkeys[j][i]
            d = b.partial(
                r.net,
                w,
                "factor",
                dnet_form(n_in, 2 * i, layer.has_bias),
                nargs,
                of_form=nform,
                of_args=nargs,
                wrt=w,
                layer=li,
                index=j,
            )
            factors = chain(j, d)
            g = b.partial(E, w, "gradient", product_form(len(factors)), factors, layer=li, index=j)
            new = update(w, g)
            new_keys[li][0][j][i] = new or w
            steps.append(ParamStep(w, li, "weight", r.name, a_keys[i], factors, g, new))
    if not layer.has_bias:  # bias = false: no bias step (batch normalization's gamma and beta still follow)
        pass
    elif layer.shared_bias:
        bias = bkeys[0]
        chains, pairs = [], []
        for j, r in enumerate(row):
            nargs = b.q[r.net].args
            d = b.partial(
                r.net,
                bias,
                "factor",
                dnet_form(n_in, 2 * n_in),
                nargs,
                of_form=nform,
                of_args=nargs,
                wrt=bias,
                layer=li,
                index=j,
            )
            chains.append([neurons[j].delta, d])
            pairs += [neurons[j].delta, d]
        g = b.partial(E, bias, "gradient", dot_form(layer.size), pairs, layer=li)
        new = update(bias, g) if net.update_biases else ""
        if new:
            new_keys[li][1][:] = [new] * layer.size
        steps.append(ParamStep(bias, li, "bias", ", ".join(layer.neurons), "1", [], g, new, chains=chains))
    else:
        for j, r in enumerate(row):
            bias = bkeys[j]
            nargs = b.q[r.net].args
            d = b.partial(
                r.net,
                bias,
                "factor",
                dnet_form(n_in, 2 * n_in),
                nargs,
                of_form=nform,
                of_args=nargs,
                wrt=bias,
                layer=li,
                index=j,
            )
            factors = chain(j, d)
            g = b.partial(E, bias, "gradient", product_form(len(factors)), factors, layer=li, index=j)
            new = update(bias, g) if net.update_biases else ""
            if new:
                new_keys[li][1][j] = new
            steps.append(ParamStep(bias, li, "bias", r.name, "1", factors, g, new))
    if layer.batch_norm:
        # this example's share of gamma's and beta's gradients: dE/dy times dy/dgamma = xhat, dy/dbeta = 1
        for j, r in enumerate(row):
            nb = neurons[j]
            yargs = (layer.bn_names("gamma")[j], r.xhat, layer.bn_names("beta")[j])
            for what, pos in (("gamma", 0), ("beta", 2)):
                label = yargs[pos]
                d = b.partial(
                    r.y, label, "factor", bn_dy_form(pos), yargs, of_form=bn_y_form(), of_args=yargs, wrt=label,
                    layer=li, index=j,
                )  # fmt: skip
                g = b.partial(E, label, "gradient", product_form(2), [nb.dE_dy, d], layer=li, index=j)
                new = update(label, g)
                steps.append(
                    ParamStep(label, li, what, r.name, r.xhat if what == "gamma" else "1", [nb.dE_dy, d], g, new)
                )
    return steps
