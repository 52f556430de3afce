"""The interactive HTML walk-through: the static page plus next/previous controls that reveal one calculation a step.

The page is the HTML walk-through (``html/walkthrough.html.j2``) extended by ``html/interactive.html.j2``: every
calculation carries its quantity's key (``data-key``), the diagram its nodes' and edges' positions
(``data-node``/``data-edge``), and a JSON table says which nodes and edges each quantity is about. The script
is a fixed file (``html/interactive.js``) allowed by its SHA-256 hash in the page's Content-Security-Policy;
nothing of the spec is ever code, only data. Without JavaScript the page is the whole walk-through.

It also holds what every scripted page shares: ``script_json`` (data that cannot end its script element) and
``policy`` (the Content-Security-Policy that lets exactly the page's own scripts run).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from ..engine.steps import Walkthrough
from ..spec.resources import data_dir
from .options import DEFAULT, Options
from .templates import render_template

TEMPLATE = "html/interactive.html.j2"
SCRIPT = "html/interactive.js"


def script_json(data: Any) -> str:
    """``data`` as JSON for a ``<script type="application/json">`` element: '<', '>' and '&' as \\u escapes,
    so that no string of a spec can close the element or open a comment.

    >>> script_json({"k": "</script><b>&"})
    '{"k": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script: 'sha256-<base64 digest>'."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def policy(*scripts: str) -> str:
    """A Content-Security-Policy that loads nothing from anywhere and runs only ``scripts`` (by their hashes)."""
    hashes = " ".join(script_hash(s) for s in scripts) or "'none'"
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def static_script(name: str) -> str:
    """A script shipped with the templates (never overridden: the page's policy allows exactly this text)."""
    return (data_dir("templates") / name).read_text(encoding="utf-8")


def highlights(walk: Walkthrough, d: Any) -> dict[str, dict[str, Any]]:
    """For every shown quantity: the diagram's nodes ``n`` and edges ``e`` it is about, the edges and nodes of
    the path ``pe``/``pn`` from a parameter to the loss (for a gradient), and its label ``t`` in text.

    ``d`` is the diagram's layout (``diagram.layout``); nodes and edges are named by their positions in it.
    """
    from .notation import Notation

    net = walk.network
    labels = Notation(walk.labels, net.notation["updated"]).text
    node = {n.key: k for k, n in enumerate(d.nodes) if n.kind != "bias"}
    edges_of: dict[str, list[int]] = {}
    between: dict[tuple[str, str], list[int]] = {}
    incoming: dict[str, list[int]] = {}
    outgoing: dict[str, list[int]] = {}
    for k, e in enumerate(d.edges):
        edges_of.setdefault(e.key, []).append(k)
        incoming.setdefault(e.target.key, []).append(k)
        if e.source.kind != "bias":
            between.setdefault((e.source.key, e.target.key), []).append(k)
            outgoing.setdefault(e.source.key, []).append(k)
    bias_nodes = {n.key: [] for n in d.nodes if n.kind == "bias"}
    for k, n in enumerate(d.nodes):
        if n.kind == "bias":
            bias_nodes[n.key].append(k)
    # Which neuron (or input) a quantity key names: its net input, output, kept output.
    neuron_of: dict[str, str] = dict(zip(net.input_names, net.input_names))
    for row in walk.forward:
        for f in row:
            for key in (f.net, f.out, f.kept, f.mask):
                if key:
                    neuron_of[key] = f.name
    for row in walk.backward:
        for b in row:
            for key in (b.dE_dout, b.dE_dkept, b.dkept_dout, b.dout_dnet, b.delta, b.simplified, *b.jacobian):
                if key:
                    neuron_of[key] = b.name
    for t, name in zip(net.target_names(), net.output_layer.neurons):
        neuron_of[t] = name
    terms = list(walk.loss_terms)
    for t, name in zip(terms, net.output_layer.neurons):
        neuron_of[t] = name
    outputs = list(net.output_layer.neurons)
    params = {p.label: p for p in walk.params}
    updated = {p.update: p for p in walk.params if p.update}
    gradients = {p.gradient: p for p in walk.params}

    def downstream(start: str) -> tuple[list[int], list[int]]:
        """Every edge and neuron on the paths from ``start`` to the loss."""
        seen, stack, es = {start}, [start], []
        while stack:
            s = stack.pop()
            for k in outgoing.get(s, []):
                es.append(k)
                t = d.edges[k].target.key
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return sorted(es), sorted(node[s] for s in seen if s in node)

    def params_in(key: str) -> list[str]:
        """The parameters a quantity is about: itself, the one it updates, the one its label differentiates by."""
        lab = walk.labels.get(key)
        found = [k for k in (key, lab.den if lab else "", lab.base if lab else "") if k in params]
        if key in updated:
            found.append(updated[key].label)
        return list(dict.fromkeys(found))

    out: dict[str, dict[str, Any]] = {}
    for key, q in walk.quantities.items():
        if q.form is None and q.kind not in ("param",):
            continue
        lab = walk.labels.get(key)
        names: list[str] = []
        for k in (key, lab.num if lab else "", lab.den if lab else "", *(q.args if q.kind == "loss_term" else ())):
            if k in neuron_of:
                names.append(neuron_of[k])
        if lab is not None and lab.via:
            names.append(lab.via)
        if q.kind == "loss":
            names += outputs
        names = list(dict.fromkeys(names))
        es: list[int] = []
        ns = [node[n] for n in names if n in node]
        if q.kind == "net" and names:
            es += incoming.get(names[0], [])
            ns += [i for e in incoming.get(names[0], []) for i in bias_nodes.get(d.edges[e].source.key, [])]
        if q.kind == "sum" and names:  # dE/dout of a hidden neuron: the sum over its downstream neurons
            es += outgoing.get(names[0], [])
            ns += [node[d.edges[e].target.key] for e in outgoing.get(names[0], [])]
        for a in names:  # two neurons of adjacent layers: the edge between them (dnet_o/dout_h, a path's term)
            for b in names:
                es += between.get((a, b), [])
        for p in params_in(key):
            es += edges_of.get(p, [])
            ns += bias_nodes.get(p, [])
            # the weight's two ends: what it multiplies (dnet/dw is that value) and the neuron it feeds
            ns += [node.get(d.edges[k].source.key, -1) for k in edges_of.get(p, [])]
            ns.append(node.get(params[p].neuron, -1))
        entry: dict[str, Any] = {"t": labels(key), "n": sorted(set(i for i in ns if i >= 0)), "e": sorted(set(es))}
        if key in gradients:
            p = gradients[key]
            targets = [p.neuron] if p.neuron in node else [n for n in p.neuron.split(", ") if n in node]
            pe: set[int] = set()
            pn: set[int] = set()
            for t in targets:
                e2, n2 = downstream(t)
                pe.update(e2)
                pn.update(n2)
            entry["pe"], entry["pn"] = sorted(pe), sorted(pn)
        elif q.kind == "loss" and outputs:
            entry["pn"] = sorted(node[n] for n in outputs if n in node)
        out[key] = entry
    return out


def render_interactive(walk: Walkthrough, check: Any = None, history: Any = None, options: Options = DEFAULT) -> str:
    """The HTML walk-through with step controls: one self-contained offline file (see the module docstring)."""
    from markupsafe import Markup

    from . import diagram
    from .lines import writer
    from .walkthrough import context

    data = context("html", walk, check, history, options=options)
    layout = diagram.layout(walk, writer(walk, "web", options))
    data["diagram"] = Markup(diagram.svg(layout, hooks=True))  # built from escaped parts by diagram.svg
    script = static_script(SCRIPT)
    data.update(
        step_hooks=True,
        steps_json=Markup(script_json(highlights(walk, layout) if layout.drawable else {})),
        script=Markup(script),
        csp=policy(script),
    )
    return render_template(TEMPLATE, data, autoescape=True, options=options)
