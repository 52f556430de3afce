"""Renders a training run: the loss per epoch, the chosen steps walked through, the final state (text, JSON).

Reads the numeric run (tutor.training.Run) and the symbolic walk-throughs of the chosen steps; computes
nothing.
"""

from __future__ import annotations

import json
from typing import Any

from . import render, rules
from .spec import Network
from .steps import TrainingWalk, Walkthrough


def parse_show(text: str, total: int) -> set[int]:
    """``first,last,every:K`` (and plain step numbers) as the set of step numbers to walk through."""
    from .errors import TutorError

    chosen: set[int] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "first":
            chosen.add(1)
        elif part == "last":
            chosen.add(total)
        elif part == "none":
            continue
        elif part.startswith("every:") and part[6:].isdigit() and int(part[6:]) > 0:
            k = int(part[6:])
            chosen.update(range(k, total + 1, k))
        elif part.isdigit() and 1 <= int(part) <= total:
            chosen.add(int(part))
        else:
            raise TutorError(f"--show: {part!r} is not first, last, none, every:K or a step number from 1 to {total}")
    if len(chosen) > 200:
        raise TutorError(f"--show picks {len(chosen)} steps; at most 200 are walked through (use a larger every:K)")
    return chosen


def setup_text(net: Network) -> str:
    tr = net.training
    opt = rules.OPTIMIZERS[tr.optimizer]
    params = opt.params(tr.optimizer_params)
    parts = [f"optimizer {tr.optimizer}" + (f" ({', '.join(f'{k} {v:g}' for k, v in params.items())})" if params else "")]
    n = len(net.examples)
    size = net.batch_size()
    parts.append("one example a step" if size == 1 and n > 1 else
                 f"full batch of {n} example{'s' if n > 1 else ''}" if size == n else f"mini-batches of {size} of {n} examples")  # fmt: skip
    parts.append(f"learning rate {net.learning_rate:g}" + (f", decay {tr.decay:g} an epoch" if tr.decay else ""))
    if tr.regularization:
        parts.append(f"{tr.regularization.upper()} regularization, lambda {tr.reg_lambda:g}" + (" (biases too)" if tr.reg_biases else ""))
    if tr.dropout_layers:
        parts.append(f"dropout {tr.dropout_rate:g} on hidden layer{'s' if len(tr.dropout_layers) > 1 else ''} "
                     f"{', '.join(str(i + 1) for i in tr.dropout_layers)}" + (" (inverted)" if tr.dropout_inverted else ""))  # fmt: skip
    parts.append("biases updated" if net.update_biases else "biases not updated")
    return "; ".join(parts)


def _writer(labels, values, net: Network, digits: int):
    from .notation import FormulaWriter, Notation  # SymPy's printers: only when a step is shown

    return FormulaWriter(Notation(labels, net.notation["updated"]), values, digits)


def _example_view(walk: Walkthrough, index: int) -> dict[str, Any]:
    v = render.view(walk, "text")
    grads = []
    fw = render.writer(walk, "text")
    for p in walk.params:
        grads.append(_line(fw, walk.quantities, p.gradient))
    kept = {}
    for row in walk.forward:
        for n in row:
            if n.kept:
                kept[n.name] = _line(fw, walk.quantities, n.kept)
    for layer in v["forward"]:
        for n in layer["neurons"]:
            n["kept"] = kept.get(n["name"])
    drop = {}
    for row in walk.backward:
        for nb in row:
            if nb.dE_dkept:
                drop[nb.name] = (_line(fw, walk.quantities, nb.dE_dkept), _line(fw, walk.quantities, nb.dkept_dout))
    for layer in v["backward"]:
        for n in layer["neurons"]:
            n["dE_dkept"], n["dkept_dout"] = drop.get(n["name"], (None, None))
    return {"index": index, "forward": v["forward"], "loss_terms": v["loss_terms"], "loss": v["loss"],
            "backward": v["backward"], "gradients": grads}  # fmt: skip


def _line(fw, quantities, key: str) -> dict[str, str] | None:
    if not key:
        return None
    q = quantities[key]
    derivation = fw.differentiated(q, "text")
    if derivation and q.wrt:
        derivation = f"∂/∂{fw.label(q.wrt, 'text')} [ {derivation} ]"
    return {"key": key, "label": fw.label(key, "text"), "derivation": derivation,
            "wrt": fw.label(q.wrt, "text") if q.wrt else "", "formula": fw.formula(q, "text"),
            "substituted": fw.substituted(q, "text"), "value": fw.number(q.value)}  # fmt: skip


def _step_view(tw: TrainingWalk, digits: int) -> dict[str, Any]:
    net = tw.network
    fw = _writer(tw.labels, tw.values(), net, digits)
    q = tw.quantities

    def line(k):
        return _line(fw, q, k)

    m = len(tw.examples)
    params = []
    for p in tw.params:
        params.append({"label": p.label, "mean": line(p.mean) if m > 1 else None, "reg": line(p.reg),
                       "total": line(p.total) if p.reg else None, "lines": [line(k) for k in p.lines]})  # fmt: skip
    hyper = [line(k) for k in ([tw.lr] + tw.hyper) if k]
    for h in hyper:  # a hyperparameter is given, not computed: show it as given (eps 1e-08 is not 0.000000)
        if tw.quantities[h["key"]].form is None:
            h["value"] = f"{tw.value(h['key']):g}"
    return {
        "number": tw.number, "epoch": tw.epoch + 1, "batch": [k + 1 for k in tw.batch], "lr": fw.number(tw.value(tw.lr)),
        "examples": [_example_view(w, k + 1) for w, k in zip(tw.examples, tw.batch)],
        "data_loss": line(tw.data_loss) if m > 1 else None, "reg_loss": line(tw.reg_loss),
        "loss": line(tw.loss) if tw.reg_loss else None, "hyper": hyper, "params": params,
    }  # fmt: skip


def view(net: Network, run, walks: list[TrainingWalk], epochs: int) -> dict[str, Any]:
    from .rounding import format_fixed

    digits = net.conventions.digits

    def fmt(x: float) -> str:
        # losses shrink by orders of magnitude: keep `digits` decimals past the first significant one
        import math

        extra = max(0, -math.floor(math.log10(abs(x))) - 1) if x else 0
        return format_fixed(x, min(digits + extra, 15))

    n = len(run.epoch_loss)
    rows = sorted({0, 1, 2, 3, n - 1} | set(range(0, n, max(1, (n - 1) // 20))))
    final = []
    for k, fwd in enumerate(run.final):
        outs = [{"name": name, "value": fmt(float(v))} for name, v in zip(net.output_layer.out_names, fwd.outs[-1])]
        final.append({"index": k + 1, "outputs": outs, "loss": fmt(fwd.loss)})
    params = []
    for layer, W, bp in zip(net.layers, run.W, run.b):
        for j, row in enumerate(layer.weight_labels):
            params += [{"name": w, "value": fmt(float(W[j, i]))} for i, w in enumerate(row)]
        labels = layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels
        params += [{"name": b, "value": fmt(float(v))} for b, v in zip(labels, bp)]
    return {
        "title": net.title, "setup": setup_text(net), "conventions": net.conventions.describe(), "digits": digits,
        "epochs": epochs, "steps": len(run.losses), "steps_per_epoch": run.steps_per_epoch,
        "regularized": bool(net.training.regularization), "optimizer": net.training.optimizer,
        "table": [{"epoch": str(e), "loss": fmt(run.epoch_loss[e])} for e in rows if e < n],
        "shown": [_step_view(tw, digits) for tw in walks],
        "final": final, "params": params,
        "last_loss_before": fmt(run.losses[-1]) if run.losses else "", "final_loss": fmt(run.epoch_loss[-1]),
    }  # fmt: skip


def render_train_text(net: Network, run, walks: list[TrainingWalk], epochs: int) -> str:
    return render._render("training/train.txt.j2", {"t": view(net, run, walks, epochs)})


def render_train_json(net: Network, run, walks: list[TrainingWalk], epochs: int) -> str:
    """The whole history: every step's loss, the loss per epoch, the final state, the chosen steps' values."""
    final = []
    for k, fwd in enumerate(run.final):
        final.append({"example": k + 1, "outputs": dict(zip(net.output_layer.out_names, map(float, fwd.outs[-1]))),
                      "loss": fwd.loss})  # fmt: skip
    params: dict[str, float] = {}
    for layer, W, bp in zip(net.layers, run.W, run.b):
        for j, row in enumerate(layer.weight_labels):
            params.update({w: float(W[j, i]) for i, w in enumerate(row)})
        labels = layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels
        params.update({b: float(v) for b, v in zip(labels, bp)})
    doc = {
        "format": "backprop-tutor-train/1",
        "network": render.network_summary(net),
        "training": setup_text(net),
        "conventions": {"rounding": net.conventions.rounding, "digits": net.conventions.digits,
                        "update_order": net.conventions.update_order},
        "epochs": epochs,
        "steps_per_epoch": run.steps_per_epoch,
        "loss_per_step": run.losses,
        "loss_per_epoch": run.epoch_loss,
        "final": {"examples": final, "parameters": params, "loss": run.epoch_loss[-1]},
        "shown_steps": [{"step": tw.number, "epoch": tw.epoch + 1, "batch": [k + 1 for k in tw.batch],
                         "values": tw.values(), "examples": [w.values() for w in tw.examples]} for tw in walks],
    }  # fmt: skip
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
