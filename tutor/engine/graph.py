"""The graph engine: a computational graph's forward pass, its backward pass gate by gate, and the checks.

Forward, every gate's value comes from its operation's float function (``tutor.spec.graphrules``). Backward,
the output is seeded with 1 (or the given upstream gradient); for every edge the local derivative is SymPy's
derivative of the gate's form, derived once per kind of gate and evaluated at the gate's inputs, and
upstream × local is what flows down the edge. A node read by several gates sums what comes back along each
edge (micrograd's ``+=``). The records are Quantities (``tutor.engine.steps``), which the renderers print.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

from ..spec.errors import ComputeError
from ..spec.graph import Graph, Node
from ..spec.graphrules import FLOAT_FUNCTIONS, GRAPH_OPS
from . import formcache
from .steps import Form, Label, Quantity

FD_STEP = 1e-6  # relative step of the central difference
FD_TOLERANCE = 1e-5  # relative agreement of a gradient with its central difference (or 1e-7 absolute)
RATE = "eta"  # the key of the step size of an update


@dataclass
class Edge:
    """What flows back along one edge, from a gate to one of its inputs."""

    gate: str
    source: str  # the input node
    position: int
    local: str  # key of the local derivative d gate / d input
    contribution: str  # key of upstream × local (the input's gradient itself when it has one edge)


@dataclass
class Backward:
    """One node in the backward pass: its gradient (a seed, one edge's product or a sum), then, for a gate,
    the edges back to its inputs."""

    node: str
    gradient: str
    summed: list[str] = field(default_factory=list)  # the contributions summed, when there are several
    edges: list[Edge] = field(default_factory=list)
    pattern: str = ""  # the gate pattern, in words


@dataclass
class CheckRow:
    leaf: str
    gradient: float
    finite_difference: float | None  # None where the function cannot be evaluated around the leaf
    ok: bool  # agrees, or the central difference cannot judge it (``why``)
    why: str = ""  # why finite differences are unreliable here (a kink within h), where they disagree


@dataclass
class GraphWalk:
    """Everything a graph's walk-through shows."""

    graph: Graph
    quantities: dict[str, Quantity]
    labels: dict[str, Label]
    forward: list[str]  # every node's key, in graph order
    backward: list[Backward]  # the output first, the leaves last
    check: list[CheckRow]
    updates: list[str] = field(default_factory=list)  # the updated leaves' keys
    output_after: str = ""  # the output after the update
    estimates: list[tuple[str, str, str]] = field(default_factory=list)  # (leaf, nudged output, slope estimate)
    loss_name: str = ""  # the numerator of every gradient: the output, or L for a given upstream gradient

    def value(self, key: str) -> float:
        return self.quantities[key].value

    def values(self) -> dict[str, float]:
        return {k: q.value for k, q in self.quantities.items()}

    def gradients(self) -> dict[str, float]:
        """Every node's gradient by node name (constants have none)."""
        return {b.node: self.value(b.gradient) for b in self.backward}

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.check)


def grad_key(name: str) -> str:
    return f"grad[{name}]"


def updated_key(name: str) -> str:
    return f"{name}+"


# -- forms, derived once per kind of gate ------------------------------------------------------------------


@lru_cache(maxsize=None)
def _kind(op: str, arity: int, param: float | None):
    """The forward form of a gate in placeholders, its derivative by each placeholder and that derivative as a
    float function: SymPy differentiates each kind once (on a machine: the forms are kept between runs)."""
    forms = _kind_forms(op, arity, param)
    derivs = forms[1:]
    return forms[0].placeholders, forms[0].expr, tuple(f.expr for f in derivs), tuple(f.fn for f in derivs)


def _lambdified(expr, n: int) -> Form:
    import sympy as sp

    xs = tuple(sp.Symbol(f"_{k}", real=True) for k in range(n))
    return Form(expr, sp.lambdify(xs, expr, modules=[FLOAT_FUNCTIONS, "math"]), xs)


@formcache.deriver(_lambdified)
def _kind_forms(op: str, arity: int, param: float | None) -> tuple[Form, ...]:
    """The gate's form, then its derivative by each placeholder, each with its float function."""
    import sympy as sp

    xs = tuple(sp.Symbol(f"_{k}", real=True) for k in range(arity))
    expr = GRAPH_OPS[op].sym(list(xs), param)
    return (_lambdified(expr, arity), *(_lambdified(sp.diff(expr, x), arity) for x in xs))


def _number(value: float):
    """A constant of an expression inside a form: an integer as SymPy's, else a symbol printed as written."""
    import sympy as sp

    if float(value).is_integer() and abs(value) < 1e15:
        return sp.Integer(int(value))
    sym = sp.Symbol(repr(abs(value)), positive=True)
    return -sym if value < 0 else sym


def _display(graph: Graph, node: Node, expr):
    """A gate's form with its constants written in, over the placeholders of its other inputs."""
    xs, _, _, _ = _kind(node.op, len(node.inputs), node.param)
    subs = {}
    kept, args = [], []
    for x, name in zip(xs, node.inputs):
        src = graph.node(name)
        if src.kind == "constant":
            subs[x] = _number(src.value)
        else:
            kept.append(x)
            args.append(name)
    return Form(expr.xreplace(subs) if subs else expr, None, tuple(kept)), tuple(args)


# -- the forward pass ---------------------------------------------------------------------------------------


def _where(graph: Graph, node: Node) -> str:
    if not node.assignment:  # a graph built in Python (micrograd, a network): its nodes have no assignment
        return f"node {node.name}"
    text = graph.expressions.get(node.assignment, "")
    return f"graph.assign.{node.assignment}" + (f" ({text})" if text and len(text) <= 60 else "")


def _finite_gradient(graph: Graph, value: float, what: str, node: Node) -> float:
    """A gradient that overflows is blamed on the seed when one was given (every gradient is a multiple of
    it), else on the gate whose local derivative made it too large."""
    if math.isfinite(value):
        return value
    if graph.given_upstream or graph.upstream != 1.0:
        raise ComputeError(
            f"the gradient {what} overflows ({value}) with the upstream gradient {graph.upstream:g}; "
            "give a smaller upstream gradient",
            "upstream",
        )
    raise ComputeError(f"the gradient {what} overflows ({value})", _where(graph, node))


def evaluate(graph: Graph, leaves: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every node's value; a gate outside its domain or a value that is not finite is a ComputeError."""
    values: dict[str, float] = {}
    for n in graph.nodes:
        if n.kind != "gate":
            values[n.name] = float(leaves[n.name]) if leaves and n.name in leaves else float(n.value)
            continue
        op = GRAPH_OPS[n.op]
        xs = [values[i] for i in n.inputs]
        problem = op.domain(xs, n.param)
        if problem:
            raise ComputeError(f"node {n.name} ({op.summary}) meets {problem}", _where(graph, n))
        try:
            v = float(op.f(xs, n.param))
        except (OverflowError, ValueError, ZeroDivisionError):
            v = math.nan
        if not math.isfinite(v):
            raise ComputeError(
                f"node {n.name} ({op.summary}) is not finite ({v}); its inputs are {', '.join(f'{x:g}' for x in xs)}",
                _where(graph, n),
            )
        values[n.name] = v
    return values


# -- the walk-through ---------------------------------------------------------------------------------------


def explain_graph(graph: Graph) -> GraphWalk:
    """Forward pass, backward pass edge by edge, the central-difference check and the update, as records."""
    values = evaluate(graph)
    q: dict[str, Quantity] = {}
    labels: dict[str, Label] = {}
    forward: list[str] = []
    displays = {}
    for n in graph.nodes:
        labels[n.name] = Label("name", text=n.name)
        if n.kind != "gate":
            q[n.name] = Quantity(n.name, n.kind, values[n.name])
        else:
            _, expr, _, _ = _kind(n.op, len(n.inputs), n.param)
            form, args = displays[n.name] = _display(graph, n, expr)
            q[n.name] = Quantity(n.name, "gate", values[n.name], form=form, args=args, note=n.op)
        forward.append(n.name)

    loss = graph.output
    if graph.given_upstream:
        loss = "L" if "L" not in labels else "L_out"
    consumers = graph.consumers()
    # Each node's edges back from the gates that read it; constants take no gradient.
    reachable = _ancestors(graph)
    incoming = {
        n.name: [(g, k) for g, k in consumers[n.name] if g in reachable] for n in graph.nodes if n.kind != "constant"
    }
    backward: list[Backward] = []
    contributions: dict[str, list[str]] = {name: [] for name in incoming}

    def add(quantity: Quantity, label: Label) -> str:
        q[quantity.key] = quantity
        labels[quantity.key] = label
        return quantity.key

    import sympy as sp

    up, lo = sp.symbols("_0 _1", real=True)
    product = Form(up * lo, None, (up, lo))

    gkey = add(
        Quantity(grad_key(graph.output), "seed", float(graph.upstream), note="seed"),
        Label("partial", num=loss, den=graph.output, note="total"),
    )
    grads = {graph.output: gkey}
    for n in reversed(graph.nodes):
        if n.kind == "constant" or n.name not in reachable:
            continue
        if n.name != graph.output:
            keys = contributions[n.name]
            if not keys:
                continue  # nothing downstream of the output reads it
            if len(keys) == 1:
                grads[n.name] = keys[0]
                step = Backward(n.name, keys[0])
            else:
                xs = tuple(sp.Symbol(f"_{k}", real=True) for k in range(len(keys)))
                total = _finite_gradient(graph, sum(q[k].value for k in keys), f"of {loss} by {n.name}", n)
                gk = add(
                    Quantity(
                        grad_key(n.name),
                        "sum",
                        total,
                        form=Form(sp.Add(*xs, evaluate=False), None, tuple(xs)),
                        args=tuple(keys),
                    ),
                    Label("partial", num=loss, den=n.name, note="total"),
                )
                grads[n.name] = gk
                step = Backward(n.name, gk, summed=list(keys))
        else:
            step = Backward(n.name, gkey)
        backward.append(step)
        if n.kind != "gate":
            continue
        op = GRAPH_OPS[n.op]
        xs, expr, derivs, fns = _kind(n.op, len(n.inputs), n.param)
        ins = [values[i] for i in n.inputs]
        form, args = displays[n.name]
        upstream = q[grads[n.name]].value
        repeated = {i for i in n.inputs if n.inputs.count(i) > 1}
        for k, src in enumerate(n.inputs):
            if graph.node(src).kind == "constant":
                continue
            suffix = f".{n.inputs[:k].count(src) + 1}" if src in repeated and n.inputs[:k].count(src) else ""
            try:
                local_value = float(fns[k](*ins))
            except (ZeroDivisionError, ValueError, OverflowError):
                local_value = math.nan
            if not math.isfinite(local_value):
                raise ComputeError(
                    f"the local derivative of {n.name} by {src} is not finite at {', '.join(f'{v:g}' for v in ins)}",
                    _where(graph, n),
                )
            dform, dargs = _display(graph, n, derivs[k])
            lkey = add(
                Quantity(
                    f"local[{n.name}/{src}{suffix}]",
                    "local",
                    local_value,
                    form=dform,
                    args=dargs,
                    of_form=None if src in repeated else form,
                    of_args=args,
                    wrt=src,
                    note=f"input {k + 1}" if src in repeated else "",
                ),
                Label("partial", num=n.name, den=src),
            )
            value = _finite_gradient(graph, upstream * local_value, f"of {loss} by {src} through {n.name}", n)
            several = len(incoming[src]) > 1
            ckey = f"grad[{src}@{n.name}{suffix}]" if several else grad_key(src)
            label = Label("partial", num=loss, den=src, via=n.name if several else "", note="total")
            add(
                Quantity(
                    ckey, "contribution" if several else "gradient", value, form=product, args=(grads[n.name], lkey)
                ),
                label,
            )
            contributions[src].append(ckey)
            step.edges.append(Edge(n.name, src, k, lkey, ckey))
        step.pattern = _pattern(graph, n, op, values)

    walk = GraphWalk(graph, q, labels, forward, backward, check=[], loss_name=loss)
    walk.check = _central_differences(graph, walk)
    if graph.estimate is not None:
        _estimates(graph, walk)
    if graph.update is not None:
        _update(graph, walk)
    return walk


def _ancestors(graph: Graph) -> set[str]:
    """The output and every node it depends on."""
    out = {graph.output}
    for n in reversed(graph.nodes):
        if n.name in out:
            out.update(n.inputs)
    return out


def _pattern(graph: Graph, n: Node, op, values: Mapping[str, float]) -> str:
    if not op.pattern:
        return ""
    if n.op in ("max", "min"):
        pick = max if n.op == "max" else min
        best = pick(values[i] for i in n.inputs)
        winners = [i for i in n.inputs if values[i] == best]
        shown = [i if graph.node(i).kind != "constant" else f"the constant {values[i]:g}" for i in winners]
        if len(winners) > 1:
            return f"{n.op} gate: its inputs tie ({', '.join(shown)}); each gets an equal share of the gradient"
        word = "larger" if n.op == "max" else "smaller"
        return f"{n.op} gate: it routes the gradient to the {word} input, {shown[0]}; the others get 0"
    if n.op == "relu":
        passes = values[n.inputs[0]] > 0
        return op.pattern + ("; here it passes" if passes else "; here it blocks")
    return op.pattern


def _central_differences(graph: Graph, walk: GraphWalk) -> list[CheckRow]:
    """Every leaf's gradient against (f(x + h) - f(x - h)) / 2h, times the upstream gradient."""
    rows = []
    base = {n.name: float(n.value) for n in graph.leaves}
    for leaf in graph.leaves:
        key = grad_key(leaf.name)
        if key not in walk.quantities:
            continue
        g = walk.value(key)
        h = FD_STEP * max(1.0, abs(base[leaf.name]))
        try:
            hi = evaluate(graph, {**base, leaf.name: base[leaf.name] + h})[graph.output]
            lo = evaluate(graph, {**base, leaf.name: base[leaf.name] - h})[graph.output]
            fd = graph.upstream * (hi - lo) / (2 * h)
        except ComputeError:
            fd = None
        if fd is not None and not math.isfinite(fd):
            fd = None
        ok = fd is not None and abs(g - fd) <= max(FD_TOLERANCE * max(abs(g), abs(fd)), 1e-7)
        why = "" if ok or fd is None else _kink(graph, base, leaf.name, h, g, fd)
        rows.append(CheckRow(leaf.name, g, fd, ok or bool(why), why))
    return rows


def _estimates(graph: Graph, walk: GraphWalk) -> None:
    """Each leaf's slope estimated as the spec asks: the output with the leaf nudged by h (``nudged[x]``), and
    the forward (or central) difference quotient times the upstream gradient (``estimate[x]``)."""
    e = graph.estimate
    base = {n.name: float(n.value) for n in graph.leaves}
    f0 = walk.value(graph.output)
    for leaf in graph.leaves:
        try:
            up = evaluate(graph, {**base, leaf.name: base[leaf.name] + e.h})[graph.output]
            if e.kind == "forward":
                slope = (up - f0) / e.h
            else:
                down = evaluate(graph, {**base, leaf.name: base[leaf.name] - e.h})[graph.output]
                slope = (up - down) / (2 * e.h)
        except ComputeError:
            continue
        nk, ek = f"nudged[{leaf.name}]", f"estimate[{leaf.name}]"
        walk.quantities[nk] = Quantity(nk, "nudged", up)
        walk.labels[nk] = Label("name", text=nk)
        walk.quantities[ek] = Quantity(ek, "estimate", graph.upstream * slope)
        walk.labels[ek] = Label("name", text=ek)
        walk.estimates.append((leaf.name, nk, ek))


def _kink(graph: Graph, base: dict[str, float], leaf: str, h: float, g: float, fd: float) -> str:
    """Why the central difference of ``leaf`` cannot judge its gradient (a kink, such as ReLU at 0 or a tie of
    max, within h), from the one-sided differences with h and h/8; '' for a real disagreement."""
    from .gradcheck import kink_reason

    def f(dx: float) -> float:
        return graph.upstream * evaluate(graph, {**base, leaf: base[leaf] + dx})[graph.output]

    try:
        f0, up, down, up8, down8 = f(0.0), f(h), f(-h), f(h / 8), f(-h / 8)
    except ComputeError:
        return ""
    noise = 1e3 * 2.0**-52 * max(abs(f0), abs(up), abs(down), 1e-300) / h
    fine, spread8 = (up8 - down8) / (h / 4), ((up8 - f0) - (f0 - down8)) / (h / 8)
    return kink_reason(g, fd, (up - f0) / h, (f0 - down) / h, fine, spread8, FD_TOLERANCE, noise, h)


def _update(graph: Graph, walk: GraphWalk) -> None:
    """One step on every leaf: x+ = x - eta * grad (descent) or x + eta * grad (ascent); the new output."""
    import sympy as sp

    u = graph.update
    rate = RATE if RATE not in walk.labels else "eta_step"
    walk.quantities[rate] = Quantity(rate, "rate", u.step)
    walk.labels[rate] = Label("name", text=rate)
    x, eta, g = sp.symbols("_0 _1 _2", real=True)
    form = Form(x - eta * g if u.direction == "descent" else x + eta * g, None, (x, eta, g))
    new = {}
    for leaf in graph.leaves:
        key = grad_key(leaf.name)
        if key not in walk.quantities or (u.leaves is not None and leaf.name not in u.leaves):
            continue
        value = walk.value(leaf.name) + (-1 if u.direction == "descent" else 1) * u.step * walk.value(key)
        if not math.isfinite(value):
            raise ComputeError(
                f"the updated {leaf.name} overflows ({value}); give a smaller step or upstream gradient", "update step"
            )
        k = updated_key(leaf.name)
        walk.quantities[k] = Quantity(k, "update", value, form=form, args=(leaf.name, rate, key))
        walk.labels[k] = Label("updated", base=leaf.name)
        walk.updates.append(k)
        new[leaf.name] = value
    try:
        after = evaluate(graph, {**{n.name: n.value for n in graph.leaves}, **new})
    except ComputeError as exc:  # the update left the domain: the step is to blame, not the node
        raise ComputeError(f"after the update, {exc.message}; give a smaller step", "update step") from None
    k = updated_key(graph.output)
    walk.quantities[k] = Quantity(k, "output_after", after[graph.output])
    walk.labels[k] = Label("updated", base=graph.output)
    walk.output_after = k


# -- a gate on other numbers: what the teaching tools recompute from a student's own values -----------------


def gate_value(node: Node, values: Mapping[str, float]) -> float:
    """The gate's value from ``values`` of its inputs (nan where it is not defined)."""
    op = GRAPH_OPS[node.op]
    xs = [values[i] for i in node.inputs]
    if op.domain(xs, node.param):
        return math.nan
    try:
        return float(op.f(xs, node.param))
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.nan


def local_value(node: Node, position: int, values: Mapping[str, float]) -> float:
    """The local derivative of the gate by its input ``position`` at ``values`` (SymPy's, once per kind)."""
    _, _, _, fns = _kind(node.op, len(node.inputs), node.param)
    try:
        return float(fns[position](*[values[i] for i in node.inputs]))
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.nan
