"""The walk-through of a computational graph in every format: JSON, terminal text, Markdown, LaTeX, HTML, PDF.

It reads a GraphWalk (``tutor.engine.graph``) only. Labels and formulas are printed by the same Notation
and FormulaWriter as a network's walk-through; node names follow a grammar of letters, digits and '_', and
every other string the spec's author wrote (title, description, source, the expressions as written) is
escaped for the format it goes to.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ..engine.graph import GraphWalk
from ..spec.graphrules import GRAPH_OPS
from .lines import line_view, wrap_text
from .notation import FormulaWriter, Notation, tex_name, text_name
from .options import DEFAULT, Options
from .pdf import compile_pdf
from .templates import md_escape, render_template, tex_escape_text

FORMATS = ("text", "json", "md", "tex", "html", "pdf")
TEMPLATES = {
    "text": "graph/graph.txt.j2",
    "md": "graph/graph.md.j2",
    "tex": "graph/graph.tex.j2",
    "html": "graph/graph.html.j2",
}
_MODES = {"text": "text", "tex": "tex", "md": "web", "html": "web"}
PICTURE_DIGITS = 4


def _same(s: str) -> str:
    return s


_ESCAPES: dict[str, Callable[[str], str]] = {"text": _same, "tex": tex_escape_text, "md": md_escape, "html": _same}
# How the picture names a gate in LaTeX (the registry's symbol is Unicode, for SVG and text).
_TEX_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": r"\times",
    "div": r"\div",
    "neg": r"-x",
    "exp": r"\exp",
    "log": r"\log",
    "sqrt": r"\sqrt{x}",
    "abs": r"\lvert x\rvert",
    "max": r"\max",
    "min": r"\min",
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "relu": r"\mathrm{ReLU}",
}


def writer(walk: GraphWalk, mode: str, options: Options = DEFAULT) -> FormulaWriter:
    notation = Notation(walk.labels, "{param}+", dialect="web" if mode == "web" else "latex")
    digits = options.digits if options.digits is not None else walk.graph.digits
    # each value with the decimals that make every line using it exact on a calculator (as a network's)
    from ..engine.precision import shown_decimals
    from .notation import significant_figures

    decimals = shown_decimals(walk.quantities, digits, significant_figures(digits))
    given = frozenset(k for k, q in walk.quantities.items() if q.form is None)
    return FormulaWriter(notation, walk.values(), digits, given=given, decimals=decimals)


def _symbol(node, mode: str) -> str:
    if node.op == "pow":
        c = f"{node.param:g}"
        return f"x^{c}" if mode == "text" else "x^{" + c + "}"
    return GRAPH_OPS[node.op].symbol if mode == "text" else _TEX_SYMBOLS[node.op]


def picture_nodes(walk: GraphWalk, fw: FormulaWriter, mode: str) -> list[dict]:
    """What each box of the picture says: name and gate, value, gradient (as the writer prints them)."""
    g = walk.graph
    grads = {b.node: b.gradient for b in walk.backward}
    tex = mode != "text"
    out = []
    q = walk.quantities

    def shown(key: str) -> str:
        # as the document's lines print it (one printed form a value) where the picture's digits are the
        # document's; a picture of a 9-digit document keeps PICTURE_DIGITS decimals, its own legible abbreviation
        return fw.value_of(key) if key in q else fw.number(walk.value(key))

    for n in g.nodes:
        value = shown(n.name)
        if n.kind == "constant":
            lines = [(f"${value}$", value)]
            name = lines[0]
        else:
            name_tex, name_text = fw.label(n.name, "tex"), fw.label(n.name, "text")
            head_tex = f"${name_tex}$" + (f" (${_symbol(n, 'tex')}$)" if n.kind == "gate" else "")
            head_text = name_text + (f" ({_symbol(n, 'text')})" if n.kind == "gate" else "")
            name = (f"${name_tex}$", name_text)
            lines = [(head_tex, head_text), (f"${value}$", value)]
            if n.name in grads:
                gv = shown(grads[n.name])
                lines.append((r"$\nabla\,{" + gv + "}$", "∇ " + gv))
        out.append(
            {
                "key": n.name,
                "kind": n.kind,
                "inputs": n.inputs,
                "lines": lines if tex else [(t, t) for _, t in lines],
                "name": name if tex else (name[1], name[1]),
                "output": n.name == g.output,
            }
        )
    return out


def view(walk: GraphWalk, fmt: str, options: Options = DEFAULT, fw: Any = None) -> dict[str, Any]:
    """Plain strings for the templates: every line's label, derivation, formula, numbers and value."""
    mode = _MODES[fmt]
    escape = _ESCAPES[fmt]
    fw = fw or writer(walk, mode, options)
    q = walk.quantities
    g = walk.graph

    def line(key: str):
        return line_view(fw, q, key, mode, escape)

    def label(key: str) -> str:
        return fw.label(key, mode)

    forward = []
    for n in g.nodes:
        if n.kind == "constant":
            continue
        forward.append(
            {
                "kind": n.kind,
                "line": line(n.name),
                "op": n.op,
                "expression": escape(g.expressions.get(n.name, "")) if n.named and n.kind == "gate" else "",
            }
        )
    backward = []
    for b in walk.backward:
        n = g.node(b.node)
        backward.append(
            {
                "node": label(b.node),
                "key": b.node,
                "kind": n.kind,
                "op": n.op,
                "gradient": line(b.gradient),
                "seed": b.node == g.output,
                "summed": [line(k) for k in b.summed],
                "fan_out": len(b.summed),
                "pattern": escape(b.pattern),
                "edges": [
                    {
                        "source": label(e.source),
                        "local": line(e.local),
                        "contribution": line(e.contribution),
                        "note": escape(q[e.local].note),
                    }
                    for e in b.edges
                ],
            }
        )
    table = [
        {"label": label(b.node), "value": fw.value_of(b.node), "gradient": fw.value_of(b.gradient)}
        for b in walk.backward
    ]
    check = [
        {
            "leaf": label(r.leaf),
            "gradient": f"{r.gradient:.10g}",
            "fd": "n/a" if r.finite_difference is None else f"{r.finite_difference:.10g}",
            "ok": r.ok,
            "why": r.why,
        }
        for r in walk.check
    ]
    update = None
    if walk.updates:
        u = g.update
        update = {
            "direction": u.direction,
            "rate": line(next(k for k, v in q.items() if v.kind == "rate")),
            "lines": [line(k) for k in walk.updates],
            "before": line(g.output),
            "after": label(walk.output_after),
            "after_value": fw.value_of(walk.output_after),
            # the editable page recomputes quantities only: it leaves out this difference of two of them
            "change": "" if hasattr(fw, "family") else fw.number(walk.value(walk.output_after) - walk.value(g.output)),
        }
    estimate = None
    if walk.estimates:  # the slope estimated by nudging each leaf, as the spec asks
        e = g.estimate
        estimate = {
            "kind": e.kind,
            "h": f"{e.h:g}",
            "rows": [
                {
                    "leaf": label(leaf),
                    "nudged": fw.number(walk.value(nk)),
                    "estimate": fw.number(walk.value(ek)),
                    "gradient": fw.number(walk.value(f"grad[{leaf}]")) if f"grad[{leaf}]" in q else "n/a",
                }
                for leaf, nk, ek in walk.estimates
            ],
        }
    seed = q[f"grad[{g.output}]"]
    import sympy as sp

    # max and min gates' local derivatives are steps: the documents say what step(u) is where one appears
    steps = any(v.form is not None and v.form.expr.has(sp.Heaviside) for v in q.values())
    return {
        "step_used": steps,
        "title": escape(g.title),
        "description": escape(g.description),
        "source": escape(g.source),
        "digits": fw.digits,
        "output": label(g.output),
        "loss": label(walk.loss_name),
        "given_upstream": g.given_upstream,
        "upstream": fw.number(seed.value),
        "forward": forward,
        "backward": backward,
        "table": table,
        "check": check,
        "check_ok": walk.ok,
        "estimate": estimate,
        "check_unreliable": any(r.why for r in walk.check),
        "leaf_update": update,
        "counts": {
            "leaves": len(g.leaves),
            "gates": len(g.gates),
            "constants": sum(1 for n in g.nodes if n.kind == "constant"),
        },
    }


def figure(walk: GraphWalk, fmt: str, options: Options = DEFAULT, fw: Any = None) -> str:
    """The picture in the form ``fmt`` shows: text grid, LaTeX picture, or inline SVG (``fw``: the picture's
    writer, ``picture_writer``'s)."""
    from . import graphpicture

    mode = _MODES[fmt]
    fw = fw or picture_writer(walk, mode, options)
    p = graphpicture.layout(picture_nodes(walk, fw, mode))
    if fmt == "text":
        return graphpicture.text(p, options.width or graphpicture.TEXT_COLUMNS)
    if fmt == "tex":
        return graphpicture.picture(p)
    return graphpicture.svg(p, "The computational graph: every node with its value and gradient")


def context(walk: GraphWalk, fmt: str, options: Options = DEFAULT, compare=None, hooks=None) -> dict[str, Any]:
    """The template's data; ``compare`` holds (node, through the gates, collapsed) gradients computed by the
    engines (a network's sigmoid neurons: the gates against the network walk-through's out (1 - out)).
    ``hooks``: the writers of the editable page, for the lines and for the picture (``interactive.hook_writer``)."""
    from . import graphpicture

    fig = figure(walk, fmt, options, fw=hooks[1] if hooks else None)
    # a picture too large to be legible on a PDF page is listed instead (graphpicture.tex_listing)
    listed = fmt == "tex" and fig.startswith(graphpicture.LISTED)
    if fmt == "html":
        from markupsafe import Markup

        fig = Markup(fig)  # built from escaped parts by graphpicture.svg
    v = view(walk, fmt, options, fw=hooks[0] if hooks else None)
    fw = writer(walk, _MODES[fmt], options)
    v["compare"] = [
        {"label": fw.label(n, _MODES[fmt]), "gates": fw.number(a), "collapsed": fw.number(b)}
        for n, a, b in compare or ()
    ]
    return {"v": v, "picture": fig, "listed": listed}


def render(walk: GraphWalk, fmt: str, options: Options = DEFAULT, compare=None) -> str | bytes:
    """The walk-through in ``fmt`` (text, json, md, tex, html: a string; pdf: bytes)."""
    if fmt == "json":
        return render_json(walk, compare)
    if fmt == "pdf":
        return compile_pdf(render(walk, "tex", options, compare))
    data = context(walk, fmt, options, compare)
    out = render_template(TEMPLATES[fmt], data, autoescape=fmt == "html", options=options)
    return wrap_text(out, options.width) if fmt == "text" else out


def picture_writer(walk: GraphWalk, mode: str, options: Options = DEFAULT) -> FormulaWriter:
    """The picture's writer: its boxes keep at most PICTURE_DIGITS decimals, so that a larger graph stays
    legible."""
    from dataclasses import replace

    fw = writer(walk, mode, options)
    return writer(walk, mode, replace(options, digits=min(fw.digits, PICTURE_DIGITS)))


def render_interactive(walk: GraphWalk, options: Options = DEFAULT) -> str:
    """The HTML walk-through with step controls (``html/interactive.js``, as a network's): one calculation at
    a time, in one self-contained offline file whose policy runs only its own scripts; editable as a
    network's (``interactive.render_interactive``): each leaf (and the update's step) is a field, every value
    and gradient follows, and training repeats the update of the leaves."""
    from markupsafe import Markup

    from .interactive import SCRIPT, edit_data, fill_hooks, hook_writer, policy, script_json, static_script

    normal = writer(walk, "web", options)
    hooks = hook_writer(walk, normal)
    picture = hook_writer(walk, picture_writer(walk, "web", options), family="7")
    data = context(walk, "html", options, hooks=(hooks, picture))
    script = static_script(SCRIPT)
    fw = writer(walk, "text", options)
    steps = {k: {"t": fw.label(k, "text")} for k in walk.quantities}  # what the controls name each step by
    leaves = [(k[:-1], k) for k in walk.updates]  # each updated leaf x+ carries into x
    rerun = [(walk.output_after, walk.graph.output, leaves)] if walk.output_after else []
    data.update(edit_data(walk, normal, lambda k: fw.label(k, "text"), leaves, rerun=rerun, loss=walk.graph.output))
    data.update(step_hooks=True, steps_json=Markup(script_json(steps)), script=Markup(script))
    data["csp"] = policy(script, data["edit_script"])
    html = render_template("graph/interactive.html.j2", data, autoescape=True, options=options)
    return fill_hooks(html, hooks, picture)


def render_json(walk: GraphWalk, compare=None) -> str:
    """Every value, local derivative and gradient under its stable key, in full precision."""
    g = walk.graph
    doc = {
        "format": "backprop-tutor-graph/1",
        "title": g.title,
        "output": g.output,
        "upstream": g.upstream,
        "nodes": [
            {
                "name": n.name,
                "kind": n.kind,
                "op": n.op or None,
                "inputs": list(n.inputs),
                "param": n.param,
                "value": walk.value(n.name),
                "gradient": walk.gradients().get(n.name),
            }
            for n in g.nodes
        ],
        "values": walk.values(),
        "gradients": walk.gradients(),
        "edges": [
            {
                "gate": e.gate,
                "input": e.source,
                "local": e.local,
                "local_value": walk.value(e.local),
                "contribution": e.contribution,
                "contribution_value": walk.value(e.contribution),
            }
            for b in walk.backward
            for e in b.edges
        ],
        "gradient_check": [
            {
                "leaf": r.leaf,
                "gradient": r.gradient,
                "finite_difference": r.finite_difference,
                "ok": r.ok,
                **({"finite_differences_unreliable": r.why} if r.why else {}),
            }
            for r in walk.check
        ],
        "update": None
        if not walk.updates
        else {
            "step": g.update.step,
            "direction": g.update.direction,
            "leaves": {k[:-1]: walk.value(k) for k in walk.updates},
            "output_after": walk.value(walk.output_after),
        },
    }
    if compare:
        doc["gates_vs_collapsed"] = [{"node": n, "gates": a, "collapsed": b} for n, a, b in compare]
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


__all__ = ["render", "render_json", "view", "figure", "picture_nodes", "tex_name", "text_name"]
