"""The interactive HTML walk-through: the static page plus next/previous controls that reveal one calculation a step.

The page is the HTML walk-through (``html/walkthrough.html.j2``) extended by ``html/interactive.html.j2``: every
calculation carries its quantity's key (``data-key``), the diagram its nodes' and edges' positions
(``data-node``/``data-edge``), and a JSON table says which nodes and edges each quantity is about. The script
is a fixed file (``html/interactive.js``) allowed by its SHA-256 hash in the page's Content-Security-Policy;
nothing of the spec is ever code, only data. Without JavaScript the page is the whole walk-through.

It also holds what every scripted page shares: ``script_json`` (data that cannot end its script element) and
``policy`` (the Content-Security-Policy that lets exactly the page's own scripts run).

The page is editable (``editable``): every given value (input, weight, bias, target, learning rate, optimizer
state) is an input field, and a second script recomputes every line from it with the derivation's own forms,
printed by SymPy's JavaScript printer (``tutor.render.jscode``) as functions of the page's script, evaluated in
the walk's computation order by a small generic evaluator (``html/editable.js``). Each shown number of a line is
an element that names its quantity (``data-q``): a writer that prints stand-ins for the numbers
(``_HookWriter``) makes the page, and the stand-ins become those elements, filled with the document's own
strings; the script writes edited values at the document's precision. The same script trains in the page: it
carries each step's updated parameters (and optimizer state) into the next step's givens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from ..engine.steps import Walkthrough
from ..spec.resources import data_dir
from .options import DEFAULT, Options
from .templates import render_template

TEMPLATE = "html/interactive.html.j2"
SCRIPT = "html/interactive.js"
EDIT_SCRIPT = "html/editable.js"
ROUNDING_SCRIPT = "html/rounding.js"  # the decimal writing both scripted pages share


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


def render_interactive(
    walk: Walkthrough,
    check: Any = None,
    history: Any = None,
    options: Options = DEFAULT,
    *,
    extra: list[str] | None = None,
    evaluated: Any = None,
    carry: list[tuple[str, str]] | None = None,
    counter: str = "",
    extra_title: str = "",
) -> str:
    """The HTML walk-through with step controls, editable: one self-contained offline file (see the module
    docstring).

    A training spec's step is shown as its example's walk-through (``walk``) and ``extra`` lines (the
    optimizer's), computed from the quantities of ``evaluated`` (the step as one walk, ``steps.flat_walk``);
    ``carry`` pairs each given (a parameter, an optimizer state) with the quantity the next step starts it
    from, and ``counter`` names the step number a step adds one to. By default a plain step's: each updated
    parameter carries into its parameter."""
    from markupsafe import Markup

    from . import diagram
    from .lines import line_view, writer
    from .notation import Notation
    from .walkthrough import context

    evaluated = evaluated or walk
    if carry is None:
        carry = [(p.label, p.update) for p in walk.params if p.update]
    normal = writer(evaluated, "web", options)
    hooks = hook_writer(evaluated, normal)
    data = context("html", walk, check, history, options=options)
    from .walkthrough import _ESCAPES, view

    data["v"] = view(walk, "web", check, history, escape=_ESCAPES["html"], fw=hooks, options=options)
    rate = _rate_key(evaluated)
    if rate is not None:  # a network without weights (softmax over given scores) has no rate to show
        data["v"]["learning_rate"] = hooks.value_of(rate)
    layout = diagram.layout(walk, hooks)
    data["diagram"] = Markup(diagram.svg(layout, hooks=True))  # built from escaped parts by diagram.svg
    data["extra_lines"] = [line_view(hooks, evaluated.quantities, k, "web", _ESCAPES["html"]) for k in extra or ()]
    data["extra_title"] = extra_title
    script = static_script(SCRIPT)
    steps = highlights(walk, layout) if layout.drawable else {}  # by the nodes and edges, whatever labels they have
    text = Notation(evaluated.labels, walk.network.notation["updated"]).text
    data.update(edit_data(evaluated, normal, text, carry, counter))
    data.update(step_hooks=True, steps_json=Markup(script_json(steps)), script=Markup(script))
    data["csp"] = policy(script, data["edit_script"])
    html = render_template(TEMPLATE, data, autoescape=True, options=options)
    return fill_hooks(html, hooks)


def edit_data(
    walk: Any, fw: Any, text: Any, carry: list[tuple[str, str]], counter: str = "", rerun: Any = None, loss: str = ""
) -> dict[str, Any]:
    """What a template's editable panel reads (``html/editpanel.html.j2``): the given values' fields, the data
    and the script (its formulas generated); the page's policy must name the script."""
    from markupsafe import Markup

    payload, formulas = editable(walk, fw, carry, counter, rerun, loss)
    index = {k: i for i, k in enumerate(walk.quantities)}
    givens = [
        {"q": index[k], "label": text(k), "value": repr(q.value)}
        for k, q in walk.quantities.items()
        if q.form is None and q.kind in EDITABLE_KINDS
    ]
    return {
        "givens": givens,
        "edit_json": Markup(script_json(payload)),
        "edit_script": Markup(edit_script_text(formulas)),
    }


def _rate_key(walk: Any) -> str | None:
    from ..engine.sym_builder import ETA

    rates = [k for k, q in walk.quantities.items() if q.kind == "rate"]
    return ETA if ETA in walk.quantities else (rates[0] if rates else None)


# -- the editable page ---------------------------------------------------------------------------------------

# Stand-ins for shown numbers while the page is made: a value ("90908" and the quantity's position in six
# digits), an operand of a substituted line ("90909"...), which is written in parentheses when negative, or a
# value of a picture with its own digits ("90907"...). latex2mathml keeps each as one <mn>; no number the tutor
# prints has eleven digits before its point.
_STAND_IN = re.compile(r"9090([789])(\d{6})")
_MN_STAND_IN = re.compile(r"<mn>((?:&#x02212;)?)9090([789])(\d{6})</mn>")
_SVG = re.compile(r"<svg\b.*?</svg>", re.S)
EDITABLE_KINDS = ("input", "param", "target", "rate", "state", "leaf")


class _HookWriter:
    """A FormulaWriter (``lines.writer``) whose numbers are stand-ins naming their quantity: a value as
    "90908" + its position (``family`` "8"; a picture's "7"), an operand as "90909" + its position. A line whose
    form is its one argument (dnet/dout = w) substitutes its own value, as the document drops that repeated
    stage."""

    def __init__(self, base: Any, quantities: dict[str, Any], family: str = "8"):
        self.base = base
        self.quantities = quantities
        self.index = {k: i for i, k in enumerate(quantities)}
        self.family = family

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def value_of(self, key: str) -> str:
        if key not in self.index:
            return self.base.value_of(key)
        return f"9090{self.family}{self.index[key]:06d}"

    def _operand(self, key: str, tex: bool) -> str:
        if key not in self.index:
            return self.base._operand(key, tex)
        return f"90909{self.index[key]:06d}"

    def _print(self, form: Any, args: Any, mode: str, substitute: bool) -> str:
        return type(self.base)._print_form(self, form, args, mode, substitute)

    def formula(self, q: Any, mode: str = "tex") -> str:
        return self._print(q.form, q.args, mode, False) if q.form is not None else ""

    def substituted(self, q: Any, mode: str = "tex") -> str:
        if q.form is None:
            return ""
        if q.form.expr == q.form.placeholders[0] and q.key in self.index:
            return self.value_of(q.key)
        return self._print(q.form, q.args, mode, True)

    def derivative(self, q: Any, mode: str = "tex") -> tuple[str, str]:
        return type(self.base).derivative(self, q, mode)

    def differentiated(self, q: Any, mode: str = "tex") -> str:
        return type(self.base).differentiated(self, q, mode)


def hook_writer(walk: Any, fw: Any, family: str = "8") -> _HookWriter:
    """``fw`` printing stand-ins for the numbers of ``walk``'s quantities (see ``fill_hooks``)."""
    return _HookWriter(fw, walk.quantities, family)


def fill_hooks(html: str, hooks: _HookWriter, picture: _HookWriter | None = None) -> str:
    """The page with every stand-in replaced by an element that names its quantity (``data-q``, its position;
    ``data-o``: an operand; ``data-d``: a picture's digits), holding the document's own string for it: MathML in
    math, a tspan in a picture, a span elsewhere."""
    from .templates import mathml

    keys = list(hooks.index)
    writers = {"8": hooks.base, "9": hooks.base, "7": (picture or hooks).base}

    def shown(kind: str, i: int, tex: bool) -> str:
        key = keys[i]
        return writers[kind]._operand(key, tex) if kind == "9" else writers[kind].value_of(key)

    def attrs(kind: str, i: int) -> str:
        extra = " data-o" if kind == "9" else f' data-d="{writers[kind].digits}"' if kind == "7" else ""
        return f'class="bt-v" data-q="{i}"{extra}'

    def math(m: re.Match) -> str:
        sign, kind, i = m.group(1), m.group(2), int(m.group(3))
        inner = re.sub(r"^<math[^>]*>(?:<mrow>)?|(?:</mrow>)?</math>$", "", str(mathml(shown(kind, i, True))))
        hook = f"<mrow {attrs(kind, i)}>{inner}</mrow>"
        return f"<mo>{sign}</mo>{hook}" if sign else hook

    def plain(tag: str):
        def fill(m: re.Match) -> str:
            kind, i = m.group(1), int(m.group(2))
            text = writers[kind].value_of(keys[i]).replace("-", "\u2212")
            return f"<{tag} {attrs(kind, i)}>{text}</{tag}>"

        return fill

    html = _MN_STAND_IN.sub(math, html)
    html = _SVG.sub(lambda m: _STAND_IN.sub(plain("tspan"), m.group()), html)
    return _STAND_IN.sub(plain("span"), html)


def editable(
    walk: Any, fw: Any, carry: list[tuple[str, str]], counter: str = "", rerun: Any = None, loss: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """The editable page's data (JSON) and its formulas (JavaScript functions by position, printed by SymPy):
    every quantity as [form, argument positions, value] in computation order, the positions of the givens a
    student may edit, how each value is written (the document's decimals), the rounding of carried values, the
    loss, and what a training step carries into the next."""
    from ..engine.precision import base_decimals
    from .jscode import javascript
    from .notation import significant_figures

    keys = list(walk.quantities)
    index = {k: i for i, k in enumerate(keys)}
    forms: dict[Any, int] = {}
    rows = []
    for k in keys:
        q = walk.quantities[k]
        f = -1 if q.form is None else forms.setdefault(q.form, len(forms))
        rows.append([f, [index[a] for a in q.args], q.value])
    digits = fw.digits
    figures = significant_figures(digits) if digits is not None else None
    decimals = {
        i: fw.decimals.get(k, base_decimals(walk.quantities[k].value, digits, figures))
        for i, k in enumerate(keys)
        if digits is not None and not fw.fixed
    }
    loss = loss or getattr(walk, "loss", "")  # what the training panel draws (a graph's: its output)
    conventions = getattr(walk, "conventions", None)
    payload = {
        "q": rows,
        "edit": [index[k] for k, q in walk.quantities.items() if q.form is None and q.kind in EDITABLE_KINDS],
        "given": [index[k] for k, q in walk.quantities.items() if q.form is None],
        "digits": digits,
        "fixed": bool(fw.fixed),
        "carried": conventions.digits if conventions is not None and conventions.rounding != "exact" else None,
        "scientific": fw.scientific is not None,
        "figures": figures,
        "decimals": decimals,
        "loss": index.get(loss, -1),
        "loss_name": "loss" if loss == getattr(walk, "loss", "") else "output",
        "carry": [[index[a], index[b]] for a, b in carry if a in index and b in index],
        "counter": index.get(counter, -1),
        # a value computed by running the forward pass again with some givens replaced (a graph's output after
        # its update): [its position, the output's, [[given, replacement], ...]]
        "rerun": [[index[a], index[o], [[index[g], index[r]] for g, r in pairs]] for a, o, pairs in rerun or ()],
    }
    return payload, [javascript(f, "interactive") for f in forms]


def edit_script_text(formulas: list[str]) -> str:
    """The editable page's script: the derivation's forms (generated), then the fixed evaluator."""
    head = "var BT_F = [\n" + ",\n".join(formulas) + "\n];\n"
    return "(function () {\n" + head + static_script(ROUNDING_SCRIPT) + static_script(EDIT_SCRIPT) + "})();\n"
