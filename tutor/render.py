"""Renderers: turn a computed Walkthrough into JSON, terminal text, Markdown, LaTeX, HTML and PDF.

Renderers only read step records. Each output has one ``render_<format>`` function; ``configure`` sets the
options they share. Templates live in the top-level ``templates/`` folder (shipped inside the wheel) and can
be overridden block by block from ``--template-dir``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .rounding import format_fixed
from .spec import Network
from .steps import Quantity, Walkthrough

FORMATS = ("text", "json", "md", "tex", "html", "pdf")


@dataclass(frozen=True)
class Options:
    template_dir: Path | None = None
    digits: int | None = None  # shown decimals; None: the spec's conventions.digits
    notation: str = "spec"  # "spec" | "layered"


_options = Options()


def configure(*, template_dir: str | Path | None = None, digits: int | None = None, notation: str = "spec") -> None:
    """Set the options every renderer uses (keyword-only, like pdoc's ``render.configure``)."""
    global _options
    _options = Options(Path(template_dir) if template_dir else None, digits, notation)
    _environment.cache_clear()


def options() -> Options:
    return _options


def shown_digits(walk: Walkthrough) -> int:
    """Under as-printed the carried values are shown exactly; otherwise --digits or the spec's digits."""
    c = walk.conventions
    if c.rounding == "as-printed":
        return c.digits
    return _options.digits if _options.digits is not None else c.digits


# -- JSON ---------------------------------------------------------------------------------------------


def render_json(walk: Walkthrough, history: Any = None, check: Any = None) -> str:
    """Every computed quantity under its stable key (documented in the README), as JSON."""
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
            {"key": q.key, "kind": q.kind, "value": q.value, "layer": q.layer}
            for q in walk.quantities.values()
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
            {"neurons": list(l.neurons), "activation": l.activation, "activation_params": dict(l.activation_params),
             "shared_bias": l.shared_bias}
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
    params: dict[str, float] = {}
    for layer, W, b in zip(net.layers, history.W, history.b):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                params[w] = float(W[j, i])
        if layer.shared_bias:
            params[layer.bias_labels[0]] = float(b[0])
        else:
            for j, bl in enumerate(layer.bias_labels):
                params[bl] = float(b[j])
    return {"steps": len(history.loss_before), "outputs": outs, "loss": history.final.loss, "parameters": params}


# -- the view model the templates read ------------------------------------------------------------------


def view(walk: Walkthrough, mode: str, check: Any = None, history: Any = None) -> dict[str, Any]:
    """Plain strings for the templates: every line's label, derivation, formula, numbers and value.

    ``mode`` is "tex" (LaTeX math, used by Markdown, LaTeX and HTML) or "text" (Unicode for a terminal).
    """
    from .notation import FormulaWriter, Notation

    net = walk.network
    digits = shown_digits(walk)
    notation = Notation(walk.labels, net.notation["updated"])
    fw = FormulaWriter(notation, walk.values(), digits)
    q = walk.quantities

    def line(key: str) -> dict[str, str] | None:
        if not key:
            return None
        quantity: Quantity = q[key]
        return {
            "key": key,
            "label": fw.label(key, mode),
            "derivation": fw.differentiated(quantity, mode),
            "wrt": fw.label(quantity.wrt, mode) if quantity.wrt else "",
            "formula": fw.formula(quantity, mode),
            "substituted": fw.substituted(quantity, mode),
            "value": fw.number(quantity.value),
            "note": quantity.note,
        }

    forward = [
        {"name": net.layers[li].name, "neurons": [{"name": n.name, "net": line(n.net), "out": line(n.out)} for n in row]}
        for li, row in enumerate(walk.forward)
    ]
    backward = []
    for row in walk.backward:
        li = row[0].layer
        backward.append({
            "name": net.layers[li].name,
            "layer": li,
            "activation": net.layers[li].activation,
            "neurons": [
                {
                    "name": nb.name,
                    "dE_dout": line(nb.dE_dout),
                    "contributions": [line(c) for c in nb.contributions],
                    "dout_dnet": line(nb.dout_dnet),
                    "jacobian": [line(k) for k in nb.jacobian],
                    "delta": line(nb.delta),
                    "simplified": line(nb.simplified),
                }
                for nb in row
            ],
            "params": [
                {
                    "label": fw.label(p.label, mode),
                    "key": p.label,
                    "kind": p.kind,
                    "neuron": p.neuron,
                    # the one factor this parameter adds to its neuron's chain: dnet/dparam
                    "local": [line(p.factors[-1])] if p.factors else [line(c[-1]) for c in p.chains],
                    "gradient": line(p.gradient),
                    "new_value": line(p.update),
                }
                for p in walk.params
                if p.layer == li
            ],
        })
    summary = []
    for p in walk.params:
        summary.append({
            "label": fw.label(p.label, mode),
            "old": fw.number(q[p.label].value),
            "new": fw.number(q[p.update].value) if p.update else fw.number(q[p.label].value),
            "updated": bool(p.update),
        })
    return {
        "title": net.title,
        "description": net.description,
        "source": net.source,
        "conventions": walk.conventions.describe(),
        "digits": digits,
        "learning_rate": fw.number(net.learning_rate),
        "eta": fw.label("eta", mode),
        "update_biases": net.update_biases,
        "forward": forward,
        "loss_terms": [line(t) for t in walk.loss_terms],
        "loss": line(walk.loss),
        "backward": backward,
        "summary": summary,
        "loss_after": line(walk.loss_after),
        "forward_after": [[{"name": n.name, "out": line(n.out)} for n in row] for row in walk.forward_after],
        "check": _check_view(check, fw) if check is not None else None,
    }


def _check_view(check: Any, fw) -> dict[str, Any]:
    def sci(x: float) -> str:
        return f"{x:.3e}"

    return {
        "ok": check.ok,
        "eps": sci(check.eps),
        "notes": list(check.notes),
        "rows": [
            {"param": r.param, "label": fw.label(r.param, "tex"), "text_label": fw.label(r.param, "text"),
             "symbolic": repr(r.symbolic), "numeric": repr(r.numeric), "finite_difference": f"{r.finite_difference:.12g}",
             "rel_engines": sci(r.symbolic_vs_numeric), "rel_fd": sci(r.vs_finite_difference)}
            for r in check.rows
        ],
    }


# -- Jinja2 -------------------------------------------------------------------------------------------

from functools import lru_cache  # noqa: E402


@lru_cache(maxsize=None)
def _environment(autoescape: bool):
    import jinja2

    from .resources import data_dir

    builtin = jinja2.FileSystemLoader(str(data_dir("templates")))
    loaders: list[jinja2.BaseLoader] = []
    if _options.template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(_options.template_dir)))
    loaders.append(builtin)
    # "builtin/..." always names the shipped template, so an override can extend it block by block.
    loader = jinja2.PrefixLoader({"builtin": builtin}, delimiter="/")
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([loader, *loaders]),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fixed"] = format_fixed
    return env


def _render(template: str, context: dict[str, Any], autoescape: bool = False) -> str:
    from .errors import TutorError
    import jinja2

    try:
        return _environment(autoescape).get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TutorError(f"template {exc.name!r} not found in the template folders") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TutorError(f"template syntax error at line {exc.lineno}: {exc.message}", exc.filename or template) from None
    except jinja2.UndefinedError as exc:
        raise TutorError(f"template uses an undefined value: {exc.message}", template) from None


def render_text(walk: Walkthrough, check: Any = None, history: Any = None) -> str:
    """A walk-through for a terminal: Unicode, no LaTeX."""
    return _render("text/walkthrough.txt.j2", {"v": view(walk, "text", check, history), "history": _history_view(history)})


def _history_view(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    n = len(history.loss_before)
    picks = sorted({0, 1, 9, 99, 999, 9999, n - 1} & set(range(n)))
    return {
        "steps": n,
        "rows": [{"step": k + 1, "before": repr(history.loss_before[k]), "after": repr(history.loss_after[k])} for k in picks],
        "final_loss": repr(history.final.loss),
        "final_outputs": [repr(float(v)) for v in history.final.outs[-1]],
    }
