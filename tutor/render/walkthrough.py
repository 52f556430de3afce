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
from ..spec.network import Network
from ..spec.rounding import format_fixed
from .lines import line_view, writer
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
        },
        "values": walk.values(),
        "quantities": [
            {"key": q.key, "kind": q.kind, "value": q.value, "layer": q.layer} for q in walk.quantities.values()
        ],
        "loss_before": walk.value(walk.loss),
        "loss_after": walk.value(walk.loss_after) if walk.loss_after else None,
    }
    if check is not None:
        doc["gradient_check"] = [
            {"param": r.param, "symbolic": r.symbolic, "numeric": r.numeric, "finite_difference": r.finite_difference}
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
            }
            for l in net.layers
        ],
        "loss": net.loss,
        "targets": dict(zip(net.target_names(), map(float, net.targets))),
        "learning_rate": net.learning_rate,
        "parameter_count": net.parameter_count,
    }


def final_state(net: Network, history: Any) -> dict[str, Any]:
    """The forward pass and every parameter after the last step of a --steps run."""
    outs = {name: float(v) for name, v in zip(net.output_layer.out_names, history.final.outs[-1])}
    params = net.parameter_values(history.W, history.b)
    return {"steps": len(history.loss_before), "outputs": outs, "loss": history.final.loss, "parameters": params}


# -- the view model the templates read ------------------------------------------------------------------


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

    def line(key: str) -> dict[str, Any] | None:
        return line_view(fw, q, key, mode, escape)

    def factors(keys: list[str]) -> list[dict[str, Any] | None]:
        """The derived factors that products multiply in: dnet_k/dout_j of a hidden neuron's paths."""
        return [line(a) for k in keys for a in q[k].args if q[a].kind == "factor"]

    def number(li: int) -> int:
        # Spec numbering counts weight layers from 1; the layered notation counts the input layer as 1.
        return li + 2 if layered else li + 1

    forward = [
        {
            "name": escape(net.layers[li].name),
            "number": number(li),
            "activation": net.layers[li].activation,
            "neurons": [
                {
                    "name": escape(n.name),
                    "j": j + 1,
                    "net": line(n.net),
                    "out": line(n.out),
                    "mask": line(n.mask),
                    "kept": line(n.kept),
                }
                for j, n in enumerate(row)
            ],
        }
        for li, row in enumerate(walk.forward)
    ]
    backward = []
    for row in walk.backward:
        li = row[0].layer
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
                        "jacobian": [line(k) for k in nb.jacobian],
                        "delta": line(nb.delta),
                        "simplified": line(nb.simplified),
                    }
                    for j, nb in enumerate(row)
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
                    }
                    for p in walk.params
                    if p.layer == li
                ],
            }
        )
    summary = []
    for p in walk.params:
        summary.append(
            {
                "label": fw.label(p.label, mode),
                "old": fw.number(q[p.label].value),
                "new": fw.number(q[p.update].value) if p.update else fw.number(q[p.label].value),
                "updated": bool(p.update),
            }
        )
    return {
        "title": escape(net.title),
        "description": escape(net.description),
        "source": escape(net.source),
        "conventions": escape(walk.conventions.describe()),
        "layered": layered,
        "digits": fw.digits,
        "learning_rate": fw.number(net.learning_rate),
        "eta": fw.label("eta", mode),
        "update_biases": net.update_biases,
        "forward": forward,
        "loss_terms": [line(t) for t in walk.loss_terms],
        "loss": line(walk.loss),
        "backward": backward,
        "summary": summary,
        "loss_after": line(walk.loss_after),
        "forward_after": [[{"name": escape(n.name), "out": line(n.out)} for n in row] for row in walk.forward_after],
        "check": _check_view(check, fw, mode, escape) if check is not None else None,
    }


def _bound(x: float, bound: float) -> str:
    """A relative difference at or below the resolvable ``bound`` as that bound; above it, its value (a real
    disagreement, which the check reports)."""
    return f"< {bound:.0e}" if x <= bound else f"{x:.1e}"


def _check_view(check: Any, fw, mode: str, escape: Callable[[str], str] = _same) -> dict[str, Any]:
    # Every shown figure is one that no machine's last bits can change: the gradients to 12 significant
    # digits, the finite differences to the place they resolve (check.fd_quantum), the relative
    # differences as the bound they fall under.
    decimals = max(0, -round(math.log10(check.fd_quantum)))
    return {
        "ok": check.ok,
        "eps": f"{check.eps:.0e}",
        "notes": [escape(n) for n in check.notes],
        "rows": [
            {
                "param": escape(r.param),
                "label": fw.label(r.param, mode),
                "text_label": fw.label(r.param, "text"),
                "symbolic": f"{r.symbolic:.12g}",
                "numeric": f"{r.numeric:.12g}",
                "finite_difference": format_fixed(r.finite_difference, decimals),
                "rel_engines": _bound(r.symbolic_vs_numeric, ENGINES_SHOWN),
                "rel_fd": _bound(r.vs_finite_difference, check.fd_bound(r)),
            }
            for r in check.rows
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
    from . import diagram

    mode = _MODES[fmt]
    fw = writer(walk, mode, options)
    layout = diagram.layout(walk, fw)
    if fmt == "text":
        figure = diagram.listing(layout, first=2 if options.notation == "layered" else 1)
    else:
        figure = diagram.picture(layout) if fmt == "tex" else diagram.svg(layout)
    if fmt == "html":
        from markupsafe import Markup

        figure = Markup(figure)  # built from escaped parts by diagram.svg
    v = view(walk, mode, check, history, escape=_ESCAPES[fmt], fw=fw, options=options)
    extra = NO_VIEWS
    if views:
        from . import views as viewreport

        extra = viewreport.data(walk, views, mode, *(twin[::-1] if twin else ()), options=options)
    return {"v": v, "history": _history_view(history), "diagram": figure, "views": extra}


def _render_format(fmt: str, walk: Walkthrough, check: Any, history: Any, views, twin, options: Options) -> str:
    data = context(fmt, walk, check, history, views, twin, options)
    return render_template(TEMPLATES[fmt], data, autoescape=fmt == "html", options=options)


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
