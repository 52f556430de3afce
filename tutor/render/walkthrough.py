"""The walk-through document: a computed Walkthrough as JSON, terminal text, Markdown, LaTeX, HTML and PDF.

Renderers only read step records. Each output has one ``render_<format>`` function, which takes the frozen
``Options`` of the rendering. The view model escapes the spec author's text for the format it goes to, so
that templates print its strings as they are (HTML is autoescaped instead).
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from ..engine.gradcheck import ENGINES_SHOWN
from ..engine.steps import Walkthrough
from ..spec.memo import MISSING, ByIdentity
from ..spec.network import Network
from ..spec.rounding import format_fixed
from .lines import BRIEF_ROW, MATH_ROW, line_view, visible_length, wrap_text, writer
from .options import DEFAULT, Options
from .pdf import compile_pdf
from .templates import md_escape, render_template, tex_escape_text

FORMATS = ("text", "json", "md", "tex", "html", "pdf")
# The template of each format, under the template folders; an override keeps the same relative path.
TEMPLATES = {
    "text": "text/walkthrough.txt.j2",
    "md": "markdown/walkthrough.md.j2",
    "tex": "latex/walkthrough.tex.j2",
    "html": "html/walkthrough.html.j2",
}


# -- JSON ---------------------------------------------------------------------------------------------


def json_history_bytes(steps: int) -> int:
    """A lower bound of the bytes the JSON document's "history" takes for ``steps`` steps (each a step number
    and two losses, a loss at least as long as "0.0"), known before a step is trained."""
    entry = len(json.dumps([{"step": 0, "loss_before": 0.0, "loss_after": 0.0}], indent=2)) - 4  # without [ ]
    digits = sum(d * (min(steps, 10**d - 1) - 10 ** (d - 1) + 1) for d in range(1, len(str(steps)) + 1))
    return steps * (entry + 1) + digits - steps  # the "0" counted once a step; "," and "\n" between entries


def render_json(walk: Walkthrough, history: Any = None, check: Any = None, options: Options = DEFAULT) -> str:
    """Every computed quantity under its stable key (documented in the README), as JSON, in full precision
    (``options`` choose templates and shown digits, which JSON does not have)."""
    net = walk.network
    doc: dict[str, Any] = {
        "format": "backprop-tutor/1",
        "network": network_summary(net),
        "conventions": {
            "rounding": walk.conventions.rounding,
            "digits": walk.conventions.digits,
            "update_order": walk.conventions.update_order,
            "update_biases": net.update_biases,
            **({"digits_of": dict(walk.conventions.digits_of)} if walk.conventions.digits_of else {}),
        },
        "values": walk.values(),
        "quantities": [
            {"key": q.key, "kind": q.kind, "value": q.value, "layer": q.layer} for q in walk.quantities.values()
        ],
        "loss_before": walk.value(walk.loss),
        "loss_after": walk.value(walk.loss_after) if walk.loss_after else None,
        # dE/dx of every input by the input's name (x.grad)
        "input_gradients": {n: walk.value(k) for n, k in zip(net.input_names, walk.input_gradients)},
    }
    if check is not None:
        doc["gradient_check"] = [
            {
                "param": r.param,
                "symbolic": r.symbolic,
                "numeric": r.numeric,
                "finite_difference": r.finite_difference,
                **({"finite_differences_unreliable": why} if (why := check.fd_unreliable(r)) else {}),
            }
            for r in check.rows
        ]
    if history is not None:
        doc["history"] = [
            {"step": k + 1, "loss_before": b, "loss_after": a}
            for k, (b, a) in enumerate(zip(history.loss_before, history.loss_after))
        ]
        doc["final"] = final_state(net, history)
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def network_summary(net: Network) -> dict[str, Any]:
    return {
        "title": net.title,
        "name": net.name,
        "shape": list(net.shape),
        "inputs": dict(zip(net.input_names, map(float, net.inputs))),
        "layers": [
            {
                "neurons": list(l.neurons),
                "activation": l.activation,
                "activation_params": dict(l.activation_params),
                "shared_bias": l.shared_bias,
                "weights": not l.weightless,  # false: net_j is the value j the layer reads (weights = false)
                "bias": l.has_bias,  # false: the layer has no bias (bias = false)
            }
            for l in net.layers
        ],
        "loss": net.loss,
        "targets": dict(zip(net.target_names(), map(float, net.targets))),
        "learning_rate": net.learning_rate if net.parameter_count else None,  # nothing to update: no rate
        "parameter_count": net.parameter_count,
    }


def final_state(net: Network, history: Any) -> dict[str, Any]:
    """The forward pass and every parameter after the last step of a --steps run."""
    outs = {name: float(v) for name, v in zip(net.output_layer.out_names, history.final.outs[-1])}
    params = net.parameter_values(history.W, history.b)
    return {"steps": len(history.loss_before), "outputs": outs, "loss": history.final.loss, "parameters": params}


# -- the view model the templates read ------------------------------------------------------------------


# characters of math a row of a footnotesize table holds across the page (17 cm): a weight table wider than
# this is split into parts by columns (see "chunk" in view)
TABLE_ROW = 120


def _same(text: str) -> str:
    return text


def view(
    walk: Walkthrough,
    mode: str,
    check: Any = None,
    history: Any = None,
    *,
    escape: Callable[[str], str] = _same,
    fw: Any = None,
    options: Options = DEFAULT,
) -> dict[str, Any]:
    """Plain strings for the templates: every line's label, derivation, formula, numbers and value.

    ``mode`` is "tex" (LaTeX math for pdflatex), "web" (LaTeX math for MathJax and latex2mathml) or "text"
    (Unicode for a terminal). ``escape`` is applied to every string the spec's author wrote (titles, names,
    keys), so that a template may print any value as it is; math strings are escaped by the notation.
    """
    net = walk.network
    fw = fw or writer(walk, mode, options)
    q = walk.quantities
    layered = options.notation == "layered"

    row_limit = BRIEF_ROW if options.brief and mode == "tex" else MATH_ROW

    def line(key: str) -> dict[str, Any] | None:
        return line_view(fw, q, key, mode, escape, row_limit)

    def factors(keys: list[str]) -> list[dict[str, Any] | None]:
        """The derived factors that products multiply in: dnet_k/dout_j of a hidden neuron's paths."""
        return [line(a) for k in keys for a in q[k].args if q[a].kind == "factor"]

    def number(li: int) -> int:
        # Spec numbering counts weight layers from 1; the layered notation counts the input layer as 1.
        return li + 2 if layered else li + 1

    def forward_neurons(li: int, row) -> list[dict[str, Any]]:
        neurons = [
            {
                "name": escape(n.name),
                "j": j + 1,
                "net": line(n.net),
                # batch normalization: xhat and y between the net input and the output
                "xhat": line(n.xhat),
                "y": line(n.y),
                "out": line(n.out),
                "mask": line(n.mask),
                "kept": line(n.kept),
            }
            for j, n in enumerate(row)
        ]
        if not net.layers[li].rule.vector:
            return neurons
        # a softmax output reads every net input of its layer: all of them first, then the outputs
        nets = [{**n, "name": n["name"] + " (net input)", "out": None, "mask": None, "kept": None} for n in neurons]
        kind = net.layers[li].activation.replace("_", "-")  # log-softmax: the heading is not escaped again
        outs = [{**n, "name": n["name"] + f" ({kind} output)", "net": None} for n in neurons]
        return nets + outs

    brief = options.brief

    def value(key: str) -> str:
        return fw.value_of(key) if key else ""

    def table(header: list[str], rows: list[list[str]], math: bool = False) -> dict[str, Any] | None:
        """The values --brief tabulates; ``math``: the first column is a parameter's label (math)."""
        return {"header": [escape(h) for h in header], "rows": rows, "math": math} if rows else None

    def first_only(row) -> bool:
        """--brief keeps a row's first neuron, by name: with distinct plain names that is row[0] alone, whose
        lines are then the only ones worked out (a 256-neuron layer's others are tabulated values)."""
        names = [escape(n.name) for n in row]
        return len(set(names)) == len(names) and not any(" (" in n for n in names)

    forward = []
    for li, row in enumerate(walk.forward):
        cut = brief and len(row) > 1 and first_only(row)
        neurons = forward_neurons(li, row[:1] if cut else row)
        rest = None
        if brief and len(row) > 1:
            neurons = [n for n in neurons if n["name"].split(" (")[0] == escape(row[0].name)]
            rest = table(
                ["neuron", "net input", "output"],
                [[escape(n.name), value(n.net), value(n.out)] for n in row[1:]],
            )
        forward.append(
            {
                "name": escape(net.layers[li].name),
                "number": number(li),
                "activation": net.layers[li].activation,
                "neurons": neurons,
                "rest": rest,
            }
        )

    def brief_params(li: int) -> list:
        """--brief's shown parameters of a layer (its first weight and first bias), the rest only tabulated."""
        params = [p for p in walk.params if p.layer == li]
        if not brief:
            return params
        return [p for p in params if p.kind == "weight"][:1] + [p for p in params if p.kind == "bias"][:1]

    backward = []
    for row in walk.backward:
        li = row[0].layer
        # --brief keeps the first neuron of a row (a softmax's Jacobian reads them all: built whole)
        shown_row = row[:1] if brief and len(row) > 1 and not any(nb.jacobian for nb in row) else row
        shown_params = brief_params(li)
        backward.append(
            {
                "name": escape(net.layers[li].name),
                "layer": li,
                "number": number(li),
                "activation": net.layers[li].activation,
                "neurons": [
                    {
                        "name": escape(nb.name),
                        "j": j + 1,
                        "factors": factors(nb.contributions or [nb.dE_dkept or nb.dE_dout])
                        if li < len(net.layers) - 1
                        else [],
                        "dE_dout": line(nb.dE_dout),
                        "contributions": [line(c) for c in nb.contributions],
                        # with dropout: dE/dout~ (the sum over downstream neurons) and dout~/dout = mask·scale
                        "dE_dkept": line(nb.dE_dkept),
                        "dkept_dout": line(nb.dkept_dout),
                        "dout_dnet": line(nb.dout_dnet),
                        # batch normalization: back through f(y), y = gamma xhat + beta, then to net
                        "bn": [line(k) for k in (nb.dout_dy, nb.dE_dy, nb.dy_dxhat, nb.dE_dxhat) if k],
                        "jacobian": [line(k) for k in nb.jacobian],
                        "delta": line(nb.delta),
                        "simplified": line(nb.simplified),
                    }
                    for j, nb in enumerate(shown_row)
                ],
                "params": [
                    {
                        "label": fw.label(p.label, mode),
                        "key": escape(p.label),
                        "kind": p.kind,
                        "neuron": escape(p.neuron),
                        # the one factor this parameter adds to its neuron's chain: dnet/dparam
                        "local": [line(p.factors[-1])] if p.factors else [line(c[-1]) for c in p.chains],
                        "gradient": line(p.gradient),
                        "new_value": line(p.update),
                        # a bias that is not updated: said where its gradient is derived, not only in the summary
                        "held": not p.update,
                    }
                    for p in shown_params
                ],
            }
        )
    for layer in backward:
        neurons = layer["neurons"]
        if any(n["jacobian"] for n in neurons) and len(neurons) > 1:
            # softmax: every output's dE/dout enters each delta (the Jacobian's row), so all of them come first,
            # in the first neuron's block, before its Jacobian entries
            neurons[0]["jacobian"] = [n["dE_dout"] for n in neurons[1:]] + neurons[0]["jacobian"]
            for n in neurons[1:]:
                n["dE_dout"] = None
    if brief:
        for layer in backward:
            row = next(r for r in walk.backward if r[0].layer == layer["layer"])
            if len(row) > 1:
                layer["neurons"] = layer["neurons"][:1]
                layer["rest"] = table(
                    ["neuron", "dE/d out", "d out/d net", "delta"],
                    [[escape(nb.name), value(nb.dE_dout), value(nb.dout_dnet), value(nb.delta)] for nb in row[1:]],
                )
            shown = brief_params(layer["layer"])  # layer["params"] holds their lines already
            others = [p for p in walk.params if p.layer == layer["layer"] and not any(p is q for q in shown)]
            layer["param_rest"] = table(
                ["parameter", "gradient", "new value"],
                [
                    [fw.label(p.label, mode), value(p.gradient), value(p.update) if p.update else "not updated"]
                    for p in others
                ],
                math=True,
            )
    for layer in backward:
        layer.setdefault("rest", None)
        layer.setdefault("param_rest", None)
    prose = _prose(walk, forward, backward, options, escape)
    # every weight and bias in a table per layer (row = neuron, column = input): GitHub strips the inline SVG,
    # and a crowded picture leaves its labels out
    weights = []
    sources = list(net.input_names)
    for li, layer in enumerate(net.layers):
        if layer.weightless:  # no weights and no bias: no table (the forward pass says net = its input)
            sources = list(layer.neurons)
            continue
        bias = [layer.bias_labels[0 if layer.shared_bias else j] for j in range(layer.size)] if layer.has_bias else []
        weights.append(
            {
                "number": number(li),
                "name": escape(layer.name),
                "columns": [escape(c) for c in sources] + (["bias"] if bias else []),
                "rows": [
                    {
                        "neuron": escape(layer.neurons[j]),
                        "cells": [
                            f"{fw.label(k, mode)} = {fw.value_of(k)}"
                            for k in (*layer.weight_labels[j], *([bias[j]] if bias else []))
                        ],
                    }
                    for j in range(layer.size)
                ],
            }
        )
        # a page holds this many columns at the table's own size (8 pt): a wider table is split into parts
        # of as many columns, each a table of its own, never shrunk below legibility
        widest = max(visible_length(c) for r in weights[-1]["rows"] for c in r["cells"])
        weights[-1]["chunk"] = max(1, TABLE_ROW // (widest + 4))
        sources = list(layer.neurons)
    summary = []
    # in the network's order (first layer first), not the order backpropagation reaches them
    for p in sorted(walk.params, key=lambda p: p.layer):
        summary.append(
            {
                "label": fw.label(p.label, mode),
                "old": fw.value_of(p.label),
                "new": fw.value_of(p.update) if p.update else fw.value_of(p.label),
                "updated": bool(p.update),
            }
        )
    inputs = list(getattr(walk, "input_gradients", ()))
    # --brief walks the first input's gradient and tabulates the others (at 20 inputs of a 30-neuron layer,
    # each a 30-term sum, they took 21 pages)
    input_rest = None
    if brief and len(inputs) > 1:
        pairs = list(zip(net.input_names, inputs))[1:]
        input_rest = table(["input", "gradient of the loss"], [[fw.label(n, mode), value(k)] for n, k in pairs], True)
    return {
        "input_gradients": [line(k) for k in inputs],
        "input_lines": [line(k) for k in (inputs[:1] if input_rest else inputs)],
        "input_rest": input_rest,
        "title": escape(net.title),
        "description": escape(net.description),
        "source": escape(net.source),
        "loss_rule": loss_rule(net),
        "loss_legend": _loss_legend(walk, fw, mode),
        "conventions": escape(walk.conventions.describe()),
        "precision": precision_text(walk.conventions, fw.digits),
        "layered": layered,
        "digits": fw.digits,
        "learning_rate": fw.number(net.learning_rate),
        "eta": fw.label("eta", mode),
        "update_biases": net.update_biases,
        # a network of activations alone (a softmax over given scores): no parameter, no update, no rate
        "no_params": net.parameter_count == 0,
        "first_weightless": net.layers[0].weightless,  # dE/dx is then the first layer's delta itself
        "forward": forward,
        "weights": weights,
        "prose": prose,
        "brief": brief,
        "loss_terms": [line(t) for t in walk.loss_terms],
        "loss": line(walk.loss),
        "backward": backward,
        "summary": summary,
        "loss_after": line(walk.loss_after),
        "forward_after": [[{"name": escape(n.name), "out": line(n.out)} for n in row] for row in walk.forward_after],
        "check": _check_view(check, fw, mode, escape) if check is not None else None,
    }


def _prose(walk: Walkthrough, forward, backward, options: Options, escape) -> dict[str, str]:
    """Each kind of step's explanation, keyed by where it first occurs: the forward pass, the error, the first
    output neuron (chain-rule factor, delta), the first hidden neuron (sum over downstream neurons, old
    weights), the first update. Shown once; none with --no-prose."""
    from .prose import EXPLAIN

    out = dict.fromkeys(("forward", "loss", "brief", "output", "hidden", "updating", "no_params"), "")
    net = walk.network
    # said even without prose: a reader must learn why no update follows
    out["no_params"] = EXPLAIN["no_params"] if net.parameter_count == 0 and backward else ""
    if not options.prose:
        return {k: escape(v) for k, v in out.items()}
    if all(l.weightless for l in net.layers):
        out.update(forward=EXPLAIN["weightless"], loss=EXPLAIN["loss"])
    elif any(l.weightless for l in net.layers):
        out.update(forward=EXPLAIN["forward"] + " " + EXPLAIN["weightless"], loss=EXPLAIN["loss"])
    else:
        out.update(forward=EXPLAIN["forward"], loss=EXPLAIN["loss"])
    if options.brief:
        out["brief"] = EXPLAIN["brief"]
    if backward:
        # without weights the delta's second sentence (every weight into the neuron shares it) has no object
        delta = EXPLAIN["delta"] if net.parameter_count else EXPLAIN["delta"].split(". ")[0] + "."
        out["output"] = EXPLAIN["factor"] + " " + delta
        if len(backward) > 1:
            old = "old" if walk.conventions.update_order == "standard" else "old-updated"
            out["hidden"] = EXPLAIN["sum"] + " " + EXPLAIN[old]
        if any(p["new_value"] for layer in backward for p in layer["params"]):
            out["updating"] = EXPLAIN["update"]
    return {k: escape(v) for k, v in out.items()}


def precision_text(conventions: Any, digits: int | None) -> str:
    """What the shown figures mean, in a sentence for the header."""
    if digits is None:
        return "Values are shown in full precision"
    if conventions.rounding != "exact":
        return f"Values are shown to {digits} decimals, as they are carried"
    return (
        f"Values are shown to at least {digits} decimals, and to more where a line needs them so that it "
        "can be recomputed from the numbers it shows"
    )


def loss_rule(net: Network) -> dict[str, str]:
    """The loss by its name and formula (Unicode and LaTeX), as a student reads it."""
    from ..spec import rules

    rule = rules.LOSSES[net.loss]
    return {"title": rule.title, "formula": rule.formula, "tex": rule.tex}


def _loss_legend(walk: Walkthrough, fw, mode: str) -> dict[str, str] | None:
    """What the loss header's t_k and o_k are called in the body, where the spec names them otherwise
    (softmax-scores: y_c1 and p1), so that one notation reads through the document."""
    targets = [k for k, q in walk.quantities.items() if q.kind == "target"]
    outputs = [n.out for n in walk.forward[-1]] if walk.forward else []
    if not targets or all(k.startswith("target") for k in targets) and all(k.startswith("out") for k in outputs):
        return None
    return {
        "targets": ", ".join(fw.label(k, mode) for k in targets),
        "outputs": ", ".join(fw.label(k, mode) for k in outputs),
    }


def _bound(x: float, bound: float) -> str:
    """A relative difference at or below the resolvable ``bound`` as that bound; above it, its value (a real
    disagreement, which the check reports)."""
    return f"< {bound:.0e}" if x <= bound else f"{x:.1e}"


def _column(values: list[float], figures: int = 12) -> list[str]:
    """A table column in one notation: fixed, or scientific for all when one value is below 1e-4; never -0."""
    scientific = any(0 < abs(v) < 1e-4 for v in values)
    out = []
    for v in values:
        v = v + 0.0  # -0.0 + 0.0 is 0.0
        if v == 0:
            out.append("0")
        else:
            out.append(f"{v:.{figures - 1}e}" if scientific else f"{v:.{figures}g}")
    return out


def _check_view(check: Any, fw, mode: str, escape: Callable[[str], str] = _same) -> dict[str, Any]:
    # Every shown figure is one that no machine's last bits can change: the gradients to 12 significant
    # digits, the finite differences to the place they resolve (check.fd_quantum), the relative
    # differences as the bound they fall under.
    symbolic = _column([r.symbolic for r in check.rows])
    numeric = _column([r.numeric for r in check.rows])
    decimals = max(0, -round(math.log10(check.fd_quantum)))
    why = [check.fd_unreliable(r) for r in check.rows]
    return {
        "same": symbolic == numeric,  # the engines print alike: one column for both in narrow text
        "ok": check.ok,
        "eps": f"{check.eps:.0e}",
        "notes": [escape(n) for n in check.notes],
        "rows": [
            {
                "param": escape(r.param),
                "label": fw.label(r.param, mode),
                "text_label": fw.label(r.param, "text"),
                "symbolic": symbolic[k],
                "numeric": numeric[k],
                "finite_difference": format_fixed(r.finite_difference, decimals),
                "rel_engines": _bound(r.symbolic_vs_numeric, ENGINES_SHOWN)
                if abs(r.symbolic - r.numeric) > check.engine_floor
                else f"< {ENGINES_SHOWN:.0e}",
                "rel_fd": "unreliable" if why[k] else _bound(r.vs_finite_difference, check.fd_bound(r)),
            }
            for k, r in enumerate(check.rows)
        ],
        # where the loss has a kink or a sharp bend within h, the central difference cannot judge a gradient
        "unreliable": [
            {"label": fw.label(r.param, mode), "text_label": fw.label(r.param, "text"), "reason": escape(why[k])}
            for k, r in enumerate(check.rows)
            if why[k]
        ],
    }


def _history_view(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    n = len(history.loss_before)
    picks = sorted({0, 1, 9, 99, 999, 9999, n - 1} & set(range(n)))
    return {
        "steps": n,
        "rows": [
            {"step": k + 1, "before": repr(history.loss_before[k]), "after": repr(history.loss_after[k])} for k in picks
        ],
        "final_loss": repr(history.final.loss),
        "final_outputs": [repr(float(v)) for v in history.final.outs[-1]],
    }


_MODES = {"text": "text", "tex": "tex", "md": "web", "html": "web"}
_ESCAPES: dict[str, Callable[[str], str]] = {"text": _same, "tex": tex_escape_text, "md": md_escape, "html": _same}


NO_VIEWS = {"matrix": None, "paths": None, "magnitudes": None}


def context(
    fmt: str,
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    views: tuple[str, ...] = (),
    twin: tuple[str, Walkthrough] | None = None,
    options: Options = DEFAULT,
) -> dict[str, Any]:
    """What the template of ``fmt`` reads: the view model ``v``, the ``history``, the ``diagram`` and the
    ``views`` asked for (matrix, paths, magnitudes; the magnitudes beside a ``twin`` (name, walk) if given)."""
    mode = _MODES[fmt]
    fw = writer(walk, mode, options)
    figure = drawing(walk, fmt, options, fw)
    if fmt == "html":
        from markupsafe import Markup

        figure = Markup(figure)  # built from escaped parts by diagram.svg
    v = view(walk, mode, check, history, escape=_ESCAPES[fmt], fw=fw, options=options)
    extra = NO_VIEWS
    if views:
        from . import views as viewreport

        extra = viewreport.data(walk, views, mode, *(twin[::-1] if twin else ()), options=options)
    from .syllabus import prep_view

    prep = prep_view(walk.prep, mode, _ESCAPES[fmt], options)
    return {"v": v, "history": _history_view(history), "diagram": figure, "views": extra, "prep": prep}


# The latest walks' drawings: a worksheet's variant draws its network for its own file (diagram.svg, the LMS
# exports) and in its walk-through, the same layout; laying it out is most of what drawing costs.
_DRAWINGS = ByIdentity(bound=8)  # (walk, fmt, options) -> drawing: a worksheet draws a walk per variant


def drawing(walk: Walkthrough, fmt: str, options: Options = DEFAULT, fw: Any = None) -> str:
    """The network as the walk-through of ``fmt`` draws it: an SVG (Markdown, HTML), a TikZ picture (LaTeX) or
    a listing (text), with the walk-through's labels and given values. ``fw``: the walk-through's writer, when
    the caller has it."""
    from . import diagram

    hit = _DRAWINGS.get(walk, (fmt, options))
    if hit is not MISSING:
        return hit
    layout = diagram.layout(walk, fw or writer(walk, _MODES[fmt], options))
    if fmt == "text":
        out = diagram.listing(layout, first=2 if options.notation == "layered" else 1)
    else:
        out = diagram.picture(layout) if fmt == "tex" else diagram.svg(layout)
    return _DRAWINGS.put(walk, out, (fmt, options))


def _render_format(fmt: str, walk: Walkthrough, check: Any, history: Any, views, twin, options: Options) -> str:
    data = context(fmt, walk, check, history, views, twin, options)
    out = render_template(TEMPLATES[fmt], data, autoescape=fmt == "html", options=options)
    return wrap_text(out, options.width) if fmt == "text" else out


def render_text(
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    views: tuple[str, ...] = (),
    twin: tuple[str, Walkthrough] | None = None,
    options: Options = DEFAULT,
) -> str:
    """A walk-through for a terminal: Unicode, no LaTeX."""
    return _render_format("text", walk, check, history, views, twin, options)


def render_markdown(
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    views: tuple[str, ...] = (),
    twin: tuple[str, Walkthrough] | None = None,
    options: Options = DEFAULT,
) -> str:
    """A walk-through for GitHub and Jupyter: math in $...$ and $$...$$, the network as inline SVG."""
    return _render_format("md", walk, check, history, views, twin, options)


def render_latex(
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    views: tuple[str, ...] = (),
    twin: tuple[str, Walkthrough] | None = None,
    options: Options = DEFAULT,
) -> str:
    """A standalone LaTeX document that pdflatex compiles with texlive-latex-base alone."""
    return _render_format("tex", walk, check, history, views, twin, options)


def render_html(
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    views: tuple[str, ...] = (),
    twin: tuple[str, Walkthrough] | None = None,
    options: Options = DEFAULT,
) -> str:
    """One self-contained HTML file: MathML math, inline SVG and CSS, no script and no network access."""
    return _render_format("html", walk, check, history, views, twin, options)


def render_pdf(
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    views: tuple[str, ...] = (),
    twin: tuple[str, Walkthrough] | None = None,
    options: Options = DEFAULT,
) -> bytes:
    """The LaTeX walk-through compiled by pdflatex, as PDF bytes."""
    return compile_pdf(render_latex(walk, check, history, views, twin, options))
