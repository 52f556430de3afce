"""A training step's walk-through (``explain_training_step``): each example's walk, batch means,
regularization, the decayed learning rate, clipping, the optimizer's lines and the updates."""

from __future__ import annotations

import numpy as np

from ..spec import rules
from ..spec.layers import require
from ..spec.network import Network
from .numeric import rounder_for
from .steps import (
    Label,
    TrainingWalk,
    Walkthrough,
)
from .sym_batchnorm import _bn_batch, _bn_running
from .sym_builder import ETA, BatchContext, DropoutMasks, _Builder, batch_loss
from .sym_example import explain_step
from .sym_forms import (
    clip_scale_form,
    clip_value_form,
    decay_form,
    mean_form,
    optimizer_forms,
    product_form,
    reg_grad_form,
    reg_loss_form,
    share_form,
    sqrt_form,
    squares_form,
    sum_form,
)


def explain_training_step(net: Network, step) -> TrainingWalk:
    """Walk through one step of a training run (a ``training.Step``): the symbolic engine recomputes it from
    the parameters, optimizer state, batch and dropout masks the step started from."""
    require(net, "symbolic")
    from dataclasses import replace

    from . import training
    from .steps import ParamUpdate

    R = rounder_for(net)
    tr = net.training
    E = net.notation["loss"]
    full_b = training.full_biases(net, step.b)
    base = net.with_params(step.W, full_b)
    masks_scale = 1.0 / (1.0 - tr.dropout_rate) if tr.dropout_inverted and tr.dropout_rate else 1.0
    if step.bn_before is not None:
        base = base.with_params(step.W, full_b, step.bn_before)
    ctx = BatchContext(len(step.examples)) if net.has_batch_norm else None

    def walks(forward_only: bool = False) -> list[Walkthrough]:
        out = []
        for ex in step.examples:
            x, t = net.examples[ex.index]
            ex_net = replace(base, inputs=x, targets=t)
            masks = None
            if ex.forward.masks is not None:
                masks = DropoutMasks(
                    [None if m is None else np.where(m != 0, 1.0, 0.0) for m in ex.forward.masks], masks_scale
                )
            out.append(
                explain_step(
                    ex_net,
                    masks=masks,
                    gradients_only=True,
                    prepare=False,
                    bn=ctx,
                    forward_only=forward_only,
                    # dE/dx of each example (x.grad, "dinputs"); under batch normalization the examples are
                    # coupled below the normalized layer and the single-example formula does not hold
                    input_gradients=not net.has_batch_norm,
                )
            )
        return out

    b = _Builder(net, R)
    bn_layers = _bn_batch(b, base, walks, ctx) if ctx is not None else []
    examples = walks()
    m = len(examples)
    first = examples[0]
    # the parameters, as given leaves
    for p in first.params:
        if p.label not in b.q:
            b.given(p.label, "param", first.value(p.label), layer=p.layer)
    tw_batch = list(step.batch)
    loss_refs = []
    for k, w in enumerate(examples):
        key = E if m == 1 else f"{E}[e{k + 1}]"
        loss_refs.append(b.given(key, "example", w.value(w.loss)))
        if m > 1:
            b.labels[key] = Label("name", text=f"{E} (example {tw_batch[k] + 1})")
    reduce = sum_form(m) if tr.reduction == "sum" else mean_form(m)
    data_loss = loss_refs[0] if m == 1 else b.add(E, "loss", reduce, loss_refs)
    reg_loss = ""
    loss = data_loss
    if tr.regularization and tr.reg_lambda:
        b.given("lambda", "rate", tr.reg_lambda)
        regd = [p.label for p in first.params if p.kind == "weight" or (tr.reg_biases and p.kind == "bias")]
        reg_loss = b.add("R", "loss", reg_loss_form(tr.regularization, len(regd)), ["lambda", *regd])
        loss = b.add("J", "loss", sum_form(2), [data_loss, reg_loss])
    # the learning rate after decay, the step number and the optimizer's hyperparameters
    if tr.decay:
        b.given("eta0", "rate", net.learning_rate)
        b.given("decay", "rate", tr.decay)
        b.given("epoch", "rate", step.epoch)
        b.add(ETA, "rate", decay_form(), ["eta0", "decay", "epoch"])
    else:
        b.given(ETA, "rate", net.learning_rate)
    opt = rules.OPTIMIZERS[tr.optimizer]
    hyper = []
    for k, v in opt.params(tr.optimizer_params).items():
        hyper.append(b.given(k, "rate", v))
    forms, names = optimizer_forms(tr.optimizer)
    if "t" in names:
        hyper.append(b.given("t", "rate", step.number))

    if m > 1 and tr.reduction != "sum":
        # each example's share of the batch-mean gradient with respect to the output layer's net inputs
        # (the scores): delta / N, e.g. (p - y)/N under softmax with cross-entropy, named dE/dnet_o1[e2]/N
        for k, w in enumerate(examples):
            for nb, nf in zip(w.backward[0], w.forward[-1]):
                ref = b.given(f"{nb.delta}[e{k + 1}]", "example", w.value(nb.delta))
                b.labels[ref] = Label("partial", num=loss_refs[k], den=nf.net)  # example k's delta, dE^(k)/dnet
                b.add(f"{ref}/N", "share", share_form(m), [ref], Label("share", base=ref, text=f"{ref}/N"))
    updates = []
    gathered = []
    for p in first.params:
        if p.kind == "bias" and not net.update_biases:
            continue
        refs = []
        for k, w in enumerate(examples):
            key = p.gradient if m == 1 else f"{p.gradient}[e{k + 1}]"
            refs.append(b.given(key, "example", w.value(p.gradient), layer=p.layer))
            # example k's gradient is the derivative of its own loss E[ek], written E^(k); under batch
            # normalization, at and below a normalized layer, example k's term of the batch's summed loss's
            if m > 1 and w.labels[p.gradient].num == batch_loss(net):
                b.labels[key] = Label("partial", num=batch_loss(net), den=f"{p.label}[e{k + 1}]")
                b.labels.setdefault(f"{p.label}[e{k + 1}]", Label("name", text=f"{p.label}[e{k + 1}]"))
            else:
                b.labels[key] = Label("partial", num=E if m == 1 else loss_refs[k], den=p.label)
        mean = (
            refs[0]
            if m == 1
            else b.add(p.gradient, "gradient", reduce, refs, Label("partial", num=E, den=p.label), layer=p.layer)
        )
        reg = ""
        total = mean
        if tr.regularization and tr.reg_lambda and (p.kind == "weight" or (tr.reg_biases and p.kind == "bias")):
            reg = b.add(
                f"dR/d{p.label}",
                "gradient",
                reg_grad_form(tr.regularization),
                ["lambda", p.label],
                Label("partial", num="R", den=p.label),
                layer=p.layer,
            )
            total = b.add(f"g[{p.label}]", "gradient", sum_form(2), [mean, reg], layer=p.layer)
        gathered.append((p, refs, mean, reg, total))
    clip = _clip(b, net, [g[4] for g in gathered], [g[0] for g in gathered]) if tr.clipped else None
    for idx, (p, refs, mean, reg, total) in enumerate(gathered):
        clipped = ""
        if clip is not None:
            clipped = clip.clipped[idx]
            total_for_opt = clipped
        else:
            total_for_opt = total
        key_of: dict[str, str] = {"w": p.label, "g": total_for_opt, "lr": ETA, "t": "t"}
        key_of.update({h: h for h in opt.defaults})
        state_before = []
        li, kind = p.layer, {"weight": "W", "bias": "b"}.get(p.kind, p.kind)
        for s_name in opt.state:
            prev = _state_value(net, step, li, kind, p, s_name)
            key_of[f"{s_name}_prev"] = b.given(f"{s_name}_prev[{p.label}]", "state", prev, layer=li)
            b.labels[key_of[f"{s_name}_prev"]] = Label("state", base=p.label, num=f"{s_name}_prev")
            state_before.append(key_of[f"{s_name}_prev"])
        lines = []
        for line, form, used in forms:
            target = net.updated_name(p.label) if line == "w+" else f"{line}[{p.label}]"
            args = [key_of[n] for n in used]
            key_of[line] = target
            label = (
                Label("updated", base=p.label, text=target)
                if line == "w+"
                else Label("state", base=p.label, text=target, num=line)
            )
            qkind = {"w+": "update", "step": "step"}.get(line, "state")
            lines.append(b.add(target, qkind, form, args, label, layer=li))
        updates.append(
            ParamUpdate(p.label, li, p.kind, refs, mean, reg, total, lines, state_before, lines[-1], clipped=clipped)
        )
    # every input's gradient summed over the batch (each example's own dE/dx is in its walk)
    summed_inputs = []
    if m > 1 and first.input_gradients:
        for i, name in enumerate(net.input_names):
            refs = [
                b.given(f"{examples[k].input_gradients[i]}[e{k + 1}]", "example", w.value(w.input_gradients[i]))
                for k, w in enumerate(examples)
            ]
            for k, ref in enumerate(refs):
                b.labels[ref] = Label("partial", num=loss_refs[k], den=f"{name}[e{k + 1}]")
                b.labels.setdefault(f"{name}[e{k + 1}]", Label("name", text=f"{name}[e{k + 1}]"))
            key = f"{first.input_gradients[i]}[sum]"
            summed_inputs.append(b.add(key, "input_gradient", sum_form(m), refs, Label("name", text=key)))
    return TrainingWalk(
        net,
        net.conventions,
        step.number,
        step.epoch,
        list(step.batch),
        examples,
        b.q,
        b.labels,
        updates,
        data_loss,
        reg_loss,
        loss,
        ETA,
        hyper,
        clip=clip,
        batch_norm=_bn_running(b, base, bn_layers),
        input_gradients=summed_inputs,
    )


def _clip(b: _Builder, net: Network, totals: list[str], params: list):
    from .steps import ClipRecord
    from .training import CLIP_EPS

    tr = net.training
    if tr.clip_norm is not None:
        given = [b.given("clip_norm", "rate", tr.clip_norm), b.given("clip_eps", "rate", CLIP_EPS)]
        squares = b.add("sumsq[g]", "clip", squares_form(len(totals)), totals)
        norm = b.add("norm[g]", "clip", sqrt_form(), [squares])
        scale = b.add("clip_scale", "clip", clip_scale_form(), ["clip_norm", norm, "clip_eps"])
        clipped = [
            b.add(f"g_clip[{p.label}]", "clip", product_form(2), [g, scale], layer=p.layer)
            for g, p in zip(totals, params)
        ]
        return ClipRecord("norm", given, [squares, norm, scale], clipped)
    given = [b.given("clip_value", "rate", tr.clip_value)]
    clipped = [
        b.add(f"g_clip[{p.label}]", "clip", clip_value_form(), [g, "clip_value"], layer=p.layer)
        for g, p in zip(totals, params)
    ]
    return ClipRecord("value", given, [], clipped)


def _state_value(net: Network, step, li: int, kind: str, p, s_name: str) -> float:
    """The optimizer state of one parameter before the step, read from the numeric run's record."""
    arr = step.state.get((kind, li), {}).get(s_name)
    if arr is None:
        return 0.0
    layer = net.layers[li]
    if kind in ("gamma", "beta"):
        return float(arr[layer.bn_names(kind).index(p.label)])
    if kind == "W":
        for j, row in enumerate(layer.weight_labels):
            if p.label in row:
                return float(arr[j, row.index(p.label)])
    return float(arr[0 if layer.shared_bias else layer.bias_labels.index(p.label)])


# -- before the forward pass: feature scaling (seed 000) and drawn weights (seed 002) -------------------------
