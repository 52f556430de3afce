"""Renders a training run: the loss per epoch, the chosen steps walked through, the final state (text, JSON, Markdown, LaTeX, HTML).

Reads the numeric run (tutor.engine.training.Run) and the symbolic walk-throughs of the chosen steps; computes
nothing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..engine.steps import TrainingWalk, Walkthrough, flat_walk
from ..spec import rules
from ..spec.network import Network
from . import walkthrough as render
from .lines import document_decimals, example_refs, line_view, wrap_text, writer
from .options import DEFAULT, Options
from .syllabus import bn_view, clip_view, run_view
from .templates import render_template


def parse_show(text: str, total: int) -> set[int]:
    """``first,last,every:K`` (and plain step numbers) as the set of step numbers to walk through."""
    from ..spec.errors import TutorError

    def whole(t: str) -> bool:  # ASCII digits, few enough for int(): isdigit() alone also takes '²' and '①'
        return t.isascii() and t.isdigit() and len(t) <= 12

    chosen: set[int] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "first":
            chosen.add(1)
        elif part == "last":
            chosen.add(total)
        elif part == "none":
            continue
        elif part.startswith("every:") and whole(part[6:]) and int(part[6:]) > 0:
            k = int(part[6:])
            chosen.update(range(k, total + 1, k))
        elif whole(part) and 1 <= int(part) <= total:
            chosen.add(int(part))
        else:
            raise TutorError(
                f"--show: {part[:40]!r} is not first, last, none, every:K or a step number from 1 to {total}"
            )
    if len(chosen) > 200:
        raise TutorError(f"--show picks {len(chosen)} steps; at most 200 are walked through (use a larger every:K)")
    return chosen


def _same(text: str) -> str:
    return text


def setup_text(net: Network, mode: str = "text", escape=_same) -> str:
    """How the network is trained, in words a student reads: the optimizer by its name with its
    hyperparameters as symbols (β₁ = 0.9), the batches, the learning rate, decay, regularization, dropout.

    ``mode`` "tex" writes the symbols as LaTeX math and ``escape``s the words; any other mode writes Unicode.
    """
    from .notation import tex_name, text_name

    def sym(name: str, value: float) -> str:
        mantissa, _, power = f"{value:g}".partition("e")
        if mode == "tex":
            shown = (
                mantissa if not power else ("" if mantissa == "1" else mantissa + r" \cdot ") + f"10^{{{int(power)}}}"
            )
            return "$" + tex_name(name) + " = " + shown + "$"
        sup = str(int(power)).translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")) if power else ""
        shown = mantissa if not power else ("" if mantissa == "1" else mantissa + "·") + "10" + sup
        return escape(f"{text_name(name)} = {shown}")

    tr = net.training
    opt = rules.OPTIMIZERS[tr.optimizer]
    params = opt.params(tr.optimizer_params)
    parts = [escape(opt.title) + (" (" + ", ".join(sym(k, v) for k, v in params.items()) + ")" if params else "")]
    n = len(net.examples)
    size = net.batch_size()
    parts.append(
        escape(
            "one example a step"
            if size == 1 and n > 1
            else f"full batch of {n} example{'s' if n > 1 else ''}"
            if size == n
            else f"mini-batches of {size} of {n} examples"
        )
    )
    if net.parameter_count == 0:  # a softmax over given scores: no rate, nothing updated
        parts.append(escape("no weights or biases, so nothing is updated"))
        return "; ".join(parts)
    parts.append(
        escape("learning rate ")
        + sym("eta", net.learning_rate)
        + (escape(f", decay {tr.decay:g} an epoch") if tr.decay else "")
    )
    if tr.regularization:
        parts.append(
            escape(f"{tr.regularization.upper()} regularization, ")
            + sym("lambda", tr.reg_lambda)
            + escape(" (biases too)" if tr.reg_biases else "")
        )
    if tr.dropout_layers:
        parts.append(
            escape(
                f"dropout {tr.dropout_rate:g} on hidden layer{'s' if len(tr.dropout_layers) > 1 else ''} "
                f"{', '.join(str(i + 1) for i in tr.dropout_layers)}" + (" (inverted)" if tr.dropout_inverted else "")
            )
        )
    if tr.reduction == "sum" and size > 1:
        parts.append(escape("the batch gradients summed"))
    for li, layer in enumerate(net.layers):
        if layer.batch_norm:
            parts.append(
                escape(f"batch normalization on layer {li + 1} ({layer.name}) in training mode, ")
                + sym("eps", layer.epsilon)
                + escape(f", momentum {layer.momentum:g}")
            )
    parts.append(escape("biases updated" if net.update_biases else "biases not updated"))
    return "; ".join(parts)


def _example_view(
    walk: Walkthrough,
    index: int,
    several: bool,
    mode: str,
    escape,
    options: Options,
    decimals=None,
    refs=None,
    labels: dict | None = None,
    computed: frozenset = frozenset(),
) -> dict[str, Any]:
    """One example of the batch walked through: the walk-through's own view, its loss written E⁽ᵏ⁾ in a batch;
    ``decimals`` its quantities' shown decimals, settled over the whole step (lines.document_decimals), and
    ``refs`` their keys in the step (lines.example_refs); ``labels`` collects each key's label by its ref;
    ``computed``: the refs the step computes (shown as computed wherever they are read)."""
    fw = writer(walk, mode, options, example=index if several else None, scientific=True, decimals=decimals, refs=refs)
    if computed:  # a value the step computes (the batch mean) is shown as computed, not as given, in every line
        fw.given = frozenset(k for k in fw.given if (refs or {}).get(k, k) not in computed)
    if labels is not None:  # the step's own lines name an example's derivatives as the example does
        labels.update({(refs or {}).get(k, k): fw.label(k, mode) for k in walk.quantities})
    # the training templates show every example's lines: --brief's tables and the words are the
    # walk-through's (a training document walks every line of a small batch)
    v = render.view(walk, mode, escape=escape, fw=fw, options=replace(options, brief=False))
    # per layer, each parameter's own factor dnet/dparam and its gradient: one group of lines a layer
    gradients = [[line for p in layer["params"] for line in p["local"] + [p["gradient"]]] for layer in v["backward"]]
    return {
        "index": index,
        "forward": v["forward"],
        "loss_terms": v["loss_terms"],
        "loss": v["loss"],
        "backward": v["backward"],
        "gradients": gradients,
        # dE/dx of this example's inputs (x.grad; "dinputs")
        "input_gradients": v.get("input_gradients") or [],
    }


def _given(line: dict[str, Any], text: str) -> dict[str, Any]:
    """A hyperparameter as given (eps 0.00000001), not rounded to the shown decimals: as every line reads it."""
    return {**line, "value": text, "stages": [text]}


def _step_view(tw: TrainingWalk, mode: str, escape, options: Options, prep: Any = None) -> dict[str, Any]:
    # one printed form per value: every writer of the step reads the decimals settled over the whole step
    decimals, per_example, _ = document_decimals(tw, prep, options)
    refs = example_refs(tw)
    fw = writer(tw, mode, options, scientific=True, decimals=decimals)
    q = tw.quantities
    exact = tw.conventions.rounding == "exact"

    def line(k: str) -> dict[str, Any] | None:
        return line_view(fw, q, k, mode, escape)

    m = len(tw.examples)
    labels: dict[str, str] = {}
    # a value computed anywhere in the step (a batch mean, an example's net input) is shown as computed in every
    # line that reads it, not as given (as-printed: with all its carried decimals)
    computed = frozenset(k for k, quantity in q.items() if quantity.form is not None) | {
        r[k] for w, r in zip(tw.examples, refs) for k, quantity in w.quantities.items() if quantity.form is not None
    }
    fw.given = frozenset(k for k in fw.given if k not in computed)
    examples = [
        _example_view(w, k + 1, m > 1, mode, escape, options, d, r, labels, computed)
        for w, k, d, r in zip(tw.examples, tw.batch, per_example, refs)
    ]
    # an example's derivative read by a batch line (dE/dxhat in dE/dvar) keeps the name its example gives it
    for k, quantity in q.items():
        if quantity.kind == "example" and tw.labels[k].kind == "partial" and k in labels:
            fw._labels[k, mode] = labels[k]
    bn = bn_view(tw, line, escape, fw.label(f"{tw.network.notation['loss']}_batch", mode))
    params = []
    for p in tw.params:
        params.append(
            {
                "label": fw.label(p.label, mode),
                "key": escape(p.label),
                "kind": p.kind,
                "mean": line(p.mean) if m > 1 else None,
                "reg": line(p.reg),
                "total": line(p.total) if p.reg else None,
                "clipped": line(p.clipped),
                "state": [line(k) for k in p.state_before],
                "lines": [line(k) for k in p.lines],
            }
        )
    # the learning rate after decay: eta0, decay and the epoch are given, eta computed from them
    rate = [line(k) for k in ("eta0", "decay", "epoch") if k in q] + [line(tw.lr)]
    hyper = [line(k) if exact or q[k].form is not None else _given(line(k), fw.value_of(k)) for k in tw.hyper]
    return {
        "number": tw.number,
        "epoch": tw.epoch + 1,
        "batch": [k + 1 for k in tw.batch],
        "several": m > 1,
        "lr": fw.number(tw.value(tw.lr)),
        "lr_label": fw.label(tw.lr, mode),
        "examples": examples,
        "parts": _parts(tw, examples, bn),
        "data_loss": line(tw.data_loss) if m > 1 else None,
        "reg_loss": line(tw.reg_loss),
        "loss": line(tw.loss) if tw.reg_loss else None,
        "rate": rate,
        "hyper": hyper,
        "params": params,
        # each example's share of the batch-mean gradient by the scores, delta/N (shown where nothing is updated)
        "shares": [line(k) for k, v in q.items() if v.kind == "share"],
        # each input's dE/dx summed over the batch's examples
        "input_gradients": [line(k) for k in tw.input_gradients],
        "clip": clip_view(tw, line),
        "bn": bn,
    }


def _parts(tw: TrainingWalk, examples: list[dict[str, Any]], bn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The step in the order a person computes it: every example's lines, or, where the examples wait for each
    other (batch normalization), every example's lines up to the batch statistics, the statistics, every
    example's lines that read them, and so on (steps.batch_phases). A part is {"examples": [...]} (each example
    with only that phase's lines, the others None) or {"bn": a layer's bn_view, "what": "stats" | "grads"}."""
    if not tw.batch_norm:
        return [{"examples": [_only(ex, {}, 0) for ex in examples]}]
    from ..engine.steps import batch_phases

    shown, groups = batch_phases(tw)
    parts: list[dict[str, Any]] = []
    done = 0
    for rank, index, what in groups + [(max((r for r, _, _ in groups), default=0) + 1, -1, "")]:
        for phase in range(done, rank):
            kept = [_only(ex, shown, phase) for ex in examples]
            kept = [ex for ex in kept if ex["has_lines"]]
            if kept:
                parts.append({"examples": kept})
        done = max(done, rank)
        if index >= 0:
            parts.append({"bn": bn[index], "what": what})
    return parts


def _only(ex: dict[str, Any], shown: dict[str, int], phase: int) -> dict[str, Any]:
    """An example's view with only the lines shown in ``phase`` (the others None), and which sections have any."""

    def keep(node):
        if isinstance(node, dict):
            if "ref" in node and "stages" in node:  # a shown line
                return node if shown.get(node["ref"], 0) == phase else None
            return {k: keep(v) for k, v in node.items()}
        if isinstance(node, list):
            return [keep(v) for v in node]
        return node

    out = keep(ex)

    def any_line(node) -> bool:
        if isinstance(node, dict):
            return ("ref" in node and "stages" in node) or any(any_line(v) for v in node.values())
        if isinstance(node, list):
            return any(any_line(v) for v in node)
        return False

    out["has_forward"] = any_line(out["forward"])
    out["has_error"] = any_line(out["loss_terms"]) or any_line(out["loss"])
    out["has_backward"] = any_line(out["backward"])
    out["has_gradients"] = any_line(out["gradients"])
    out["has_input_gradients"] = any_line(out.get("input_gradients"))
    out["has_lines"] = (
        out["has_forward"]
        or out["has_error"]
        or out["has_backward"]
        or out["has_gradients"]
        or out["has_input_gradients"]
    )
    return out


def _fmt(x: float, digits: int) -> str:
    """A loss or a final value: ``digits`` decimals past its first significant one (losses shrink by decades)."""
    import math

    from ..spec.rounding import format_fixed

    extra = max(0, -math.floor(math.log10(abs(x))) - 1) if x else 0
    return format_fixed(x, min(digits + extra, 15))


def view(
    net: Network,
    run,
    walks: list[TrainingWalk],
    epochs: int,
    mode: str = "text",
    escape=render._same,
    *,
    explain: bool = False,
    figure: Any = "",
    curve: Any = "",
    options: Options = DEFAULT,
    prep: Any = None,
) -> dict[str, Any]:
    """What the training templates read. ``mode`` "text", "tex" or "web" as for render.view; ``explain``: the
    one step of ``explain``, not a run; ``figure`` the network drawn, ``curve`` the loss per epoch drawn."""
    digits = net.conventions.digits
    n = len(run.epoch_loss)
    final_epoch = run.best_epoch if run.best_epoch is not None else n - 1
    final_steps = len(run.losses) if run.best_epoch is None else run.best_epoch * run.steps_per_epoch
    rows = sorted({0, 1, 2, 3, n - 1} | set(range(0, n, max(1, (n - 1) // 20))))
    from .notation import tex_name

    def entry(name: str, value: float) -> dict[str, str]:
        # a LaTeX table sets the name and the number as math (a subscript, a minus sign, not a hyphen)
        label = tex_name(name, "web" if mode == "web" else "latex") if mode != "text" else name
        return {"name": escape(name), "label": label, "value": _fmt(float(value), digits)}

    final = []
    for k, fwd in enumerate(run.final):
        outs = [entry(name, v) for name, v in zip(net.output_layer.out_names, fwd.outs[-1])]
        final.append({"index": k + 1, "outputs": outs, "loss": _fmt(fwd.loss, digits)})
    params = [entry(name, v) for name, v in net.parameter_values(run.W, run.b).items()]
    for layer, state in zip(net.layers, getattr(run, "bn", None) or ()):
        if state is not None:  # batch normalization: gamma, beta and the running statistics for inference
            for what, arr in zip(("gamma", "beta", "running_mean", "running_var"), state):
                params += [entry(n, v) for n, v in zip(layer.bn_names(what), arr)]
    return {
        "title": escape(net.title),
        "description": escape(net.description),
        "source": escape(net.source),
        "setup": setup_text(net, mode, escape),
        "conventions": escape(net.conventions.describe()),
        "loss_rule": render.loss_rule(net),
        "precision": render.precision_text(net.conventions, digits),
        "fixed": net.conventions.rounding != "exact",
        "digits": digits,
        "explain": explain,
        "epochs": epochs,
        "steps": len(run.losses),
        "steps_per_epoch": run.steps_per_epoch,
        "examples": len(net.examples),
        "regularized": bool(net.training.regularization),
        "optimizer": escape(rules.OPTIMIZERS[net.training.optimizer].title),
        "figure": figure,
        "curve": curve,
        "table": [
            {
                "epoch": str(e),
                "loss": _fmt(run.epoch_loss[e], digits),
                "val": _fmt(run.val_loss[e], digits) if e < len(run.val_loss) else "",
            }
            for e in rows
            if e < n
        ],
        "early": run_view(net, run, lambda x: _fmt(x, digits)),
        "shown": [_step_view(tw, mode, escape, options, prep) for tw in walks],
        "final": final,
        "params": params,
        # early stopping restores an earlier epoch's weights: the final state is the state after its updates
        "final_steps": final_steps,
        "last_loss_before": _fmt(run.losses[final_steps - 1], digits) if final_steps else "",
        "final_loss": _fmt(run.epoch_loss[final_epoch], digits),
    }


TRAIN_TEMPLATES = {
    "text": "training/train.txt.j2",
    "md": "training/train.md.j2",
    "tex": "training/train.tex.j2",
    "html": "training/train.html.j2",
}


def render_train(
    fmt: str,
    net: Network,
    run,
    walks: list[TrainingWalk],
    epochs: int,
    *,
    explain: bool = False,
    start: Walkthrough | None = None,
    prep: Any = None,
    options: Options = DEFAULT,
) -> str:
    """A training run (or, with ``explain``, its one step) as text, Markdown, LaTeX or HTML.

    ``start`` is the walk-through of the network before training (forward pass only), for the drawing of
    the network with its first example; the loss curve is drawn from the run's loss per epoch.
    """
    from . import curve

    mode = render._MODES[fmt]
    figure = curve_drawn = ""
    if start is not None and fmt != "text":
        from . import diagram

        layout = diagram.layout(start, writer(start, mode, options))
        figure = diagram.picture(layout) if fmt == "tex" else diagram.svg(layout)
    if not explain and fmt != "text":
        val = run.val_loss or None
        mark = getattr(run, "best_epoch", None) if val else None  # early stopping: the restored epoch
        draw = curve.picture if fmt == "tex" else curve.svg
        curve_drawn = draw(run.epoch_loss, val, mark)
    if fmt == "html":
        from markupsafe import Markup

        # both drawn from escaped parts (diagram.svg) or from numbers only (curve.svg)
        figure, curve_drawn = Markup(figure), Markup(curve_drawn)
    t = view(
        net,
        run,
        walks,
        epochs,
        mode,
        render._ESCAPES[fmt],
        explain=explain,
        figure=figure,
        curve=curve_drawn,
        options=options,
        prep=prep,
    )
    from .syllabus import prep_view

    # the preparation's lines read as the first shown step's do (its scaled inputs are that step's inputs)
    decimals = document_decimals(walks[0], prep, options)[2] if walks and prep is not None else None
    data = {"t": t, "prep": prep_view(prep, mode, render._ESCAPES[fmt], options, decimals)}
    out = render_template(TRAIN_TEMPLATES[fmt], data, autoescape=fmt == "html", options=options)
    return wrap_text(out, options.width) if fmt == "text" else out


def render_train_text(
    net: Network, run, walks: list[TrainingWalk], epochs: int, *, explain: bool = False, options: Options = DEFAULT
) -> str:
    return render_train("text", net, run, walks, epochs, explain=explain, options=options)


def documents(
    formats: tuple[str, ...],
    net: Network,
    epochs: int,
    shown: set[int],
    *,
    explain: bool = False,
    progress=None,
    options: Options = DEFAULT,
) -> tuple[Any, dict[str, str]]:
    """Train (``explain``: one step) and render the run in each of ``formats``, the steps ``shown`` walked through.

    The one place where ``train``, ``explain`` of a training spec and the worked examples' handouts run the
    engines for a training document: the numeric run, then the symbolic walk-through of each shown step.
    """
    from ..engine import training

    if explain:
        run = training.run(net, 0, keep=lambda n: n == 1, total_steps=1)
    else:
        run = training.run(net, epochs, keep=shown.__contains__, progress=progress)
    drawn = [f for f in formats if f not in ("text", "json")]
    walks, start = [], None
    if shown or drawn:  # SymPy is loaded only when a step is walked through or the network drawn
        from ..engine.symbolic import explain_step, explain_training_step

        # a step after early stopping stopped the run was never taken
        walks = [explain_training_step(net, run.steps[n]) for n in sorted(shown) if n in run.steps]
        start = explain_step(net, forward_only=True, prepare=False) if drawn else None
    prep = None
    if net.scaling or net.init_layers:
        from ..engine.symbolic import explain_preparation

        prep = explain_preparation(net)
    out = {}
    for fmt in formats:
        if fmt == "json":
            out[fmt] = render_train_json(net, run, walks, epochs)
        else:
            out[fmt] = render_train(
                fmt, net, run, walks, epochs, explain=explain, start=start, prep=prep, options=options
            )
    return run, out


def render_train_json(net: Network, run, walks: list[TrainingWalk], epochs: int) -> str:
    """The whole history: every step's loss, the loss per epoch, the final state, the chosen steps' values."""
    final = []
    for k, fwd in enumerate(run.final):
        final.append(
            {
                "example": k + 1,
                "outputs": dict(zip(net.output_layer.out_names, map(float, fwd.outs[-1]))),
                "loss": fwd.loss,
            }
        )
    params = net.parameter_values(run.W, run.b)
    for layer, state in zip(net.layers, getattr(run, "bn", None) or ()):
        if state is not None:
            for what, arr in zip(("gamma", "beta", "running_mean", "running_var"), state):
                params.update({n: float(v) for n, v in zip(layer.bn_names(what), arr)})
    doc = {
        "format": "backprop-tutor-train/1",
        "network": render.network_summary(net),
        "training": setup_text(net),
        "conventions": {
            "rounding": net.conventions.rounding,
            "digits": net.conventions.digits,
            "update_order": net.conventions.update_order,
            **({"digits_of": dict(net.conventions.digits_of)} if net.conventions.digits_of else {}),
        },
        "epochs": epochs,
        "steps_per_epoch": run.steps_per_epoch,
        "loss_per_step": run.losses,
        "loss_per_epoch": run.epoch_loss,
        "final": {"examples": final, "parameters": params, "loss": run.epoch_loss[-1]},
        "validation_loss_per_epoch": run.val_loss,
        "early_stopping": {
            "patience": net.training.patience,
            "best_epoch": run.best_epoch,
            "stopped_epoch": run.stopped_epoch,
        }
        if net.training.patience
        else None,
        "shown_steps": [
            {
                "step": tw.number,
                "epoch": tw.epoch + 1,
                "batch": [k + 1 for k in tw.batch],
                # every quantity under the name the checker knows it by (each example's own named per example)
                "values": flat_walk(tw).values(),
                "examples": [w.values() for w in tw.examples],
            }
            for tw in walks
        ],
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
