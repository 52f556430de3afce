"""The graph spec: a scalar expression as leaves and named assignments, parsed by a small safe grammar.

A TOML file with a ``[graph]`` table gives the leaf values (``[graph.leaves]``), the assignments in order
(``[graph.assign]``, each ``name = "expression"``) and the ``output``. Expressions are read with Python's
``ast`` parser and a strict whitelist of node types (numbers, names, ``+ - * /``, unary minus, ``**`` with a
constant exponent, calls of the allowed functions); nothing a user wrote is ever evaluated. Every operation
becomes a named node: an assignment names its own, and the parser names the ones inside an expression
``<assignment>_1``, ``<assignment>_2``, ...
"""

from __future__ import annotations

import ast
import math
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from .errors import SpecError
from .graphrules import FUNCTIONS, GRAPH_OPS
from .kind import MAX_FILE_BYTES, is_graph  # noqa: F401 - part of this module's interface
from .kind import read as _read

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MAX_NODES = 200  # leaves, constants and gates together: a walk-through of more is not read by anyone
MAX_EXPRESSION = 2_000  # characters of one assignment
MAX_SOURCE = 500  # characters of free text, as in a network spec: title 200, description 2,000, source 500
MAX_NAME = 32
DIRECTIONS = ("descent", "ascent")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
NAME_RULE = "a node name starts with a letter and has only letters, digits and '_'"
_TOP_KEYS = {"title", "description", "source", "graph"}
_GRAPH_KEYS = {"leaves", "assign", "output", "upstream", "digits", "update", "estimate", "gradients"}
_UPDATE_KEYS = {"step", "direction"}
_ESTIMATE_KEYS = {"h", "kind"}
ESTIMATES = ("forward", "central")
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}


@dataclass(frozen=True)
class Node:
    """One node: a leaf (a given value), a constant of an expression, or a gate applied to earlier nodes."""

    name: str
    kind: str  # "leaf" | "constant" | "gate"
    value: float | None = None  # leaves and constants
    op: str = ""  # gates: a key of GRAPH_OPS
    inputs: tuple[str, ...] = ()
    param: float | None = None  # the constant exponent of a power
    assignment: str = ""  # the assignment it comes from ("" for a leaf)
    named: bool = False  # True when the user named it (a leaf or an assignment's own result)


@dataclass(frozen=True)
class Estimate:
    """A slope estimated by nudging each leaf by ``h``: forward (f(x + h) − f(x))/h or central
    (f(x + h) − f(x − h))/2h, as a lecture does it by hand, with the step it chooses."""

    h: float
    kind: str = "forward"


@dataclass(frozen=True)
class Update:
    step: float
    direction: str = "descent"
    leaves: tuple[str, ...] | None = None  # the leaves it moves (None: every leaf)


@dataclass(frozen=True)
class Graph:
    """A validated graph: its nodes in an order where every input comes first, and its output."""

    nodes: tuple[Node, ...]
    output: str
    upstream: float = 1.0
    given_upstream: bool = False
    digits: int = 4
    update: Update | None = None
    estimate: Estimate | None = None
    title: str = "Computational graph"
    description: str = ""
    source: str = ""
    name: str = ""
    expressions: Mapping[str, str] = field(default_factory=dict)  # assignment -> its text, as written
    reduction: str = ""  # [graph.gradients]: "mean" or "sum" of the examples' gradients ("" without one)
    optimizer: str = ""  # [graph.gradients]: the optimizer of its update ("" without parameters)

    def node(self, name: str) -> Node:
        return self._index[name]

    @cached_property
    def _index(self) -> dict[str, Node]:
        # built once per graph (a frozen dataclass keeps it in its __dict__): node() is called for every edge
        return {n.name: n for n in self.nodes}

    @property
    def leaves(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "leaf")

    @property
    def gates(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "gate")

    def consumers(self) -> dict[str, list[tuple[str, int]]]:
        """For every node, the (gate, input position) pairs that read it, in graph order."""
        out: dict[str, list[tuple[str, int]]] = {n.name: [] for n in self.nodes}
        for n in self.gates:
            for k, i in enumerate(n.inputs):
                out[i].append((n.name, k))
        return out

    def with_options(
        self,
        output: str | None = None,
        upstream: float | None = None,
        step: float | None = None,
        direction: str | None = None,
        where: str = "",
        moving: tuple[str, ...] | None = None,
    ) -> "Graph":
        """The same graph with another output, upstream gradient or update, validated as the spec's keys are;
        ``moving``: the leaves the update moves (default: every leaf)."""
        from dataclasses import replace

        out = self
        if output is not None:
            names = [n.name for n in self.nodes if n.kind == "gate" and n.named]
            if output not in names:
                raise SpecError(
                    f"{output!r:.40} is not an assignment of the graph; give one of: {', '.join(names)}",
                    where or "--of",
                )
            out = replace(out, output=output)
        if upstream is not None:
            out = replace(out, upstream=_number(upstream, where or "--upstream"), given_upstream=True)
        if step is not None or direction is not None:
            old = self.update or Update(0.0)
            s = old.step if step is None else _number(step, where or "--step")
            if s <= 0:
                raise SpecError(f"the step size must be positive, got {s:g}", where or "--step")
            d = direction or old.direction
            if d not in DIRECTIONS:
                raise SpecError(f"{d!r:.40} is not allowed; allowed: descent, ascent", where or "--direction")
            out = replace(out, update=Update(s, d, moving if moving is not None else old.leaves))
        return out

    def with_leaves(self, values: Mapping[str, float]) -> "Graph":
        from dataclasses import replace

        nodes = tuple(replace(n, value=float(values[n.name])) if n.name in values else n for n in self.nodes)
        return replace(self, nodes=nodes)


# ----------------------------------------------------------------------------------------------------
# Loading


def load(spec: str | Path) -> Graph:
    data, where, name = _read(spec)
    return from_mapping(data, where=where, name=name)


def loads(text: str, where: str = "<graph>") -> Graph:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"malformed TOML: {exc}", where) from None
    return from_mapping(data, where=where)


def graph(assign: Mapping[str, str], leaves: Mapping[str, float], output: str | None = None, **rest: Any) -> Graph:
    """A graph built in Python with the TOML format's keys.

    >>> g = graph({"q": "x + y", "f": "q * z"}, {"x": -2, "y": 5, "z": -4})
    >>> [n.name for n in g.nodes], g.output
    (['x', 'y', 'z', 'q', 'f'], 'f')
    """
    table = {"assign": dict(assign), "leaves": dict(leaves), **({"output": output} if output else {})}
    top = {k: rest.pop(k) for k in ("title", "description", "source") if k in rest}
    table.update(rest)
    return from_mapping({**top, "graph": table}, where="graph()")


def _text(value: Any, where: str, limit: int) -> str:
    """Free text and expressions: the network spec's one check (C0 and C1 controls, bidirectional overrides)."""
    if not isinstance(value, str):
        raise SpecError(f"expected a string, got {value!r:.40}", where)
    from .network import free_text

    return free_text(value, where, limit)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a number, got {value!r:.40}", where)
    try:
        x = float(value)
    except OverflowError:
        raise SpecError("too large; expected a finite number", where) from None
    if not math.isfinite(x):
        raise SpecError(f"expected a finite number, got {value!r}", where)
    return x


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME:
        raise SpecError(f"{name!r:.40} is not allowed: {NAME_RULE} (at most {MAX_NAME} characters)", where)
    if name in FUNCTIONS:
        raise SpecError(f"{name!r} is the name of a function; choose another name", where)
    return name


def _no_unknown(table: Mapping, allowed: set, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"unknown key; allowed here: {', '.join(sorted(allowed))}", f"{where}.{key}")


def from_mapping(data: Mapping[str, Any], where: str = "<graph>", name: str = "") -> Graph:
    """Validate a mapping shaped like the TOML format; every error names its key."""
    if not isinstance(data, Mapping):
        raise SpecError("a graph spec must be a table of keys", where)
    for key in data:
        if key not in _TOP_KEYS:
            raise SpecError(f"unknown key; allowed here: {', '.join(sorted(_TOP_KEYS))}", f"{where}: {key}")
    g = data.get("graph")
    if not isinstance(g, Mapping):
        raise SpecError("expected a [graph] table with [graph.leaves] and [graph.assign]", f"{where}: graph")
    place = f"{where}: graph"
    _no_unknown(g, _GRAPH_KEYS, place)
    stepped = "gradients" in g  # a step from given gradients: its leaves and assignments are written out
    leaves_raw = g.get("leaves", {} if stepped else None)
    if not isinstance(leaves_raw, Mapping) or not (leaves_raw or stepped):
        raise SpecError("expected a table of leaf values, e.g. [graph.leaves] x = -2.0", f"{place}.leaves")
    assign_raw = g.get("assign", {} if stepped else None)
    if not isinstance(assign_raw, Mapping) or not (assign_raw or stepped):
        raise SpecError('expected a table of assignments in order, e.g. [graph.assign] q = "x + y"', f"{place}.assign")
    summary, reduction, opt = "", "", ""
    if stepped:
        from .gradstep import expand

        more_leaves, more_assign, summary = expand(g["gradients"], f"{place}.gradients", _check_name)
        reduction = g["gradients"].get("reduction", "mean")
        opt = g["gradients"].get("optimizer", "sgd") if g["gradients"].get("parameters") else ""
        for key in more_leaves.keys() & set(leaves_raw) | more_assign.keys() & (set(leaves_raw) | set(assign_raw)):
            raise SpecError(f"the name {key!r} is also given by [graph.gradients]; rename it", f"{place}.leaves")
        leaves_raw = {**leaves_raw, **more_leaves}
        assign_raw = {**assign_raw, **more_assign}
        if not assign_raw:
            raise SpecError(
                "nothing to compute: give the gradients of two or more examples, or the parameters to update",
                f"{place}.gradients",
            )

    nodes: list[Node] = []
    seen: dict[str, str] = {}  # name -> where it was defined
    for leaf, value in leaves_raw.items():
        _check_name(leaf, f"{place}.leaves.{leaf}")
        nodes.append(Node(leaf, "leaf", _number(value, f"{place}.leaves.{leaf}"), named=True))
        seen[leaf] = "leaves"
    taken = set(seen) | set(assign_raw)
    expressions: dict[str, str] = {}
    for target, text in assign_raw.items():
        at = f"{place}.assign.{target}"
        _check_name(target, at)
        if target in seen:
            raise SpecError(
                f"the name {target!r} is assigned twice (also in {seen[target]}); every node has one name", at
            )
        text = _text(text, at, MAX_EXPRESSION)
        expressions[target] = text
        nodes += _Parser(target, text, at, seen, taken, len(nodes)).run()
        seen[target] = f"assign.{target}"
    output = g.get("output", next(reversed(list(assign_raw))))
    if not isinstance(output, str) or output not in seen:
        raise SpecError(f"{output!r:.40} is not a node; give one of: {', '.join(seen)}", f"{place}.output")
    if output in leaves_raw:
        raise SpecError("the output must be an assignment, not a leaf", f"{place}.output")
    used = {i for n in nodes for i in n.inputs}
    given = "upstream" in g
    upstream = _number(g["upstream"], f"{place}.upstream") if given else 1.0
    digits = g.get("digits", 4)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
        raise SpecError(f"expected a whole number of decimals from 1 to 15, got {digits!r:.40}", f"{place}.digits")
    update = None
    u = _subtable(g, "update", _UPDATE_KEYS, 'step = 0.01, direction = "descent"', "step", "the step size", place)
    if u is not None:
        step = _number(u["step"], f"{place}.update.step")
        if step <= 0:
            raise SpecError(f"the step size must be positive, got {step:g}", f"{place}.update.step")
        direction = u.get("direction", "descent")
        if direction not in DIRECTIONS:
            raise SpecError(f"{direction!r:.40} is not allowed; allowed: descent, ascent", f"{place}.update.direction")
        update = Update(step, direction)
    estimate = None
    e = _subtable(g, "estimate", _ESTIMATE_KEYS, 'h = 0.0001, kind = "forward"', "h", "the nudge, a number > 0", place)
    if e is not None:
        h = _number(e["h"], f"{place}.estimate.h")
        if not 0 < h <= 1:
            raise SpecError(f"the nudge h must be in (0, 1], got {h:g}", f"{place}.estimate.h")
        kind = e.get("kind", "forward")
        if kind not in ESTIMATES:
            raise SpecError(f"{kind!r:.40} is not allowed; allowed: forward, central", f"{place}.estimate.kind")
        estimate = Estimate(h, kind)
    # Assignments nothing reads, other than the output, are kept: a student may want to see them.
    del used
    meta = {
        "description": _text(data.get("description", summary), f"{where}: description", 2000),
        "source": _text(data.get("source", ""), f"{where}: source", MAX_SOURCE),
    }
    return Graph(
        nodes=tuple(nodes),
        output=output,
        upstream=upstream,
        given_upstream=given,
        digits=digits,
        update=update,
        estimate=estimate,
        title=_text(data.get("title", "Computational graph"), f"{where}: title", 200),
        name=name,
        expressions=expressions,
        reduction=reduction,
        optimizer=opt,
        **meta,
    )


def _subtable(g: Mapping, key: str, keys: set, example: str, needed: str, what: str, place: str) -> Mapping | None:
    """An optional [graph.KEY] table: None when absent, else checked for its keys and its one needed key."""
    if key not in g:
        return None
    t = g[key]
    if not isinstance(t, Mapping):
        raise SpecError(f"expected a table: [graph.{key}] {example}", f"{place}.{key}")
    _no_unknown(t, keys, f"{place}.{key}")
    if needed not in t:
        raise SpecError(f"missing key {needed!r} ({what})", f"{place}.{key}")
    return t


class _Parser:
    """One assignment's expression as gates: a whitelist walk over Python's syntax tree."""

    def __init__(self, target: str, text: str, where: str, seen: Mapping[str, str], taken: set, count: int):
        self.target, self.text, self.where = target, text, where
        self.seen, self.taken = seen, taken
        self.count = count
        self.nodes: list[Node] = []
        self.k = 0

    def fail(self, message: str, node: ast.AST | None = None) -> SpecError:
        col = f" at column {node.col_offset + 1}" if node is not None and hasattr(node, "col_offset") else ""
        return SpecError(f"{message}{col} of {self.text!r:.80}", self.where)

    def run(self) -> list[Node]:
        if not self.text.strip():
            raise SpecError("the expression is empty", self.where)
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            col = f" at column {exc.offset}" if exc.offset else ""
            raise SpecError(f"syntax error{col} of {self.text.strip()!r:.80}: {exc.msg}", self.where) from None
        except (RecursionError, MemoryError, ValueError):
            raise SpecError("the expression is nested too deeply", self.where) from None
        try:
            top = self.walk(tree.body, top=True)
        except RecursionError:
            raise SpecError("the expression is nested too deeply", self.where) from None
        if top != self.target:
            # "f = x" or "f = 2": the assignment is a copy; a gate of its own keeps every node a computation
            src = self.constant(top) if isinstance(top, float) else top
            self.add(
                Node(
                    self.target, "gate", op="mul", inputs=(src, self.constant(1.0)), assignment=self.target, named=True
                )
            )
        return self.nodes

    def fresh(self) -> str:
        while True:
            self.k += 1
            name = f"{self.target}_{self.k}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def add(self, node: Node) -> str:
        if self.count + len(self.nodes) + 1 > MAX_NODES:
            raise SpecError(
                f"the graph has more than {MAX_NODES} nodes (leaves, constants and gates); split the calculation",
                self.where,
            )
        self.nodes.append(node)
        return node.name

    def constant(self, value: float) -> str:
        return self.add(Node(self.fresh(), "constant", value, assignment=self.target))

    def gate(self, op: str, inputs: list, top: bool, param: float | None = None) -> str:
        ins = tuple(self.constant(i) if isinstance(i, float) else i for i in inputs)
        name = self.target if top else self.fresh()
        return self.add(Node(name, "gate", op=op, inputs=ins, param=param, assignment=self.target, named=top))

    def walk(self, e: ast.AST, top: bool = False):
        """A node's name, or a float for a constant (folded into the gate that reads it)."""
        if isinstance(e, ast.Constant):
            if isinstance(e.value, bool) or not isinstance(e.value, (int, float)):
                raise self.fail(f"{e.value!r:.20} is not a number", e)
            try:
                v = float(e.value)
            except OverflowError:
                v = math.inf
            if not math.isfinite(v):
                raise self.fail("the number is not finite", e)
            return v
        if isinstance(e, ast.Name):
            if e.id in self.seen:
                return e.id
            if e.id == self.target:
                raise self.fail(f"{e.id!r} uses itself (a cycle)", e)
            if e.id in self.taken:
                raise self.fail(
                    f"{e.id!r} is assigned later; a node may only read names defined before it (no cycles)", e
                )
            if e.id in FUNCTIONS:
                raise self.fail(f"{e.id!r} is a function; call it, e.g. {e.id}(x)", e)
            raise self.fail(f"undefined name {e.id!r}; defined so far: {', '.join(self.seen) or 'none'}", e)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            if isinstance(e.op, ast.UAdd):
                return self.walk(e.operand, top)
            inner = self.walk(e.operand)
            if isinstance(inner, float):
                return -inner
            return self.gate("neg", [inner], top)
        if isinstance(e, ast.BinOp) and type(e.op) in _BINOPS:
            a, b = self.walk(e.left), self.walk(e.right)
            if isinstance(a, float) and isinstance(b, float):
                raise self.fail("an operation of two numbers; write its result as one number", e)
            return self.gate(_BINOPS[type(e.op)], [a, b], top)
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Pow):
            base, exponent = self.walk(e.left), self.walk(e.right)
            if not isinstance(exponent, float):
                raise self.fail(
                    "the exponent of ** must be a constant number (for a variable one use exp(b * log(a)))", e
                )
            if isinstance(base, float):
                raise self.fail("a power of two numbers; write its result as one number", e)
            return self.gate("pow", [base], top, param=exponent)
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.BitXor):
            raise self.fail("'^' is not a power here; write a ** 2", e)
        if isinstance(e, ast.Call):
            fn = e.func.id if isinstance(e.func, ast.Name) else None
            if fn not in FUNCTIONS:
                shown = fn if fn else ast.unparse(e.func)[:20]
                raise self.fail(f"unknown function {shown!r}; allowed: {', '.join(FUNCTIONS)}", e)
            if e.keywords:
                raise self.fail(f"{fn}() takes no keyword arguments", e)
            args = [self.walk(a) for a in e.args]
            op = GRAPH_OPS[fn]
            if op.arity == 0 and len(args) < 2:
                raise self.fail(f"{fn}() takes two or more arguments, got {len(args)}", e)
            if op.arity and len(args) != op.arity:
                raise self.fail(f"{fn}() takes {op.arity} argument, got {len(args)}", e)
            if all(isinstance(a, float) for a in args):
                raise self.fail(f"{fn}() of numbers only; write its result as one number", e)
            return self.gate(fn, args, top)
        what = {
            ast.Compare: "a comparison",
            ast.BoolOp: "'and'/'or'",
            ast.Attribute: "an attribute",
            ast.Subscript: "indexing",
            ast.Lambda: "a lambda",
            ast.IfExp: "'if'",
        }.get(type(e), type(e).__name__)
        raise self.fail(
            f"{what} is not allowed; allowed: numbers, names, + - * /, unary -, ** with a constant "
            f"exponent, {', '.join(FUNCTIONS)}",
            e,
        )


# ----------------------------------------------------------------------------------------------------
# A network as its computational graph


_ACTIVATION_TEXT = {
    "identity": "{x}",
    "sigmoid": "sigmoid({x})",
    "tanh": "tanh({x})",
    "relu": "relu({x})",
}
_SIGMOID_GATES = "1 / (1 + exp(-{x}))"


def from_network(net, output: str | None = None, gates: bool = True) -> Graph:
    """The computational graph of a Network's forward pass and loss, with the network's own names.

    Leaves are the inputs, every weight and bias and the targets; every neuron's net input and output is an
    assignment, and the loss (or, with ``output``, the chosen output neuron: the loss-free mode, upstream 1)
    is the graph's output. With ``gates`` a sigmoid is written as its gates, 1 / (1 + exp(-net)), so that the
    walk-through shows what its collapsed derivative out (1 - out) sums up.
    """
    where = "--view graph"
    for layer in net.layers:
        if layer.activation not in _ACTIVATION_TEXT:
            raise SpecError(
                f"the activation {layer.activation!r} has no gates here; allowed: {', '.join(_ACTIVATION_TEXT)}", where
            )
    if net.loss not in ("half_sse", "mse", "binary_cross_entropy", "categorical_cross_entropy") and output is None:
        raise SpecError(f"the loss {net.loss!r} has no gates here; give --of an output instead", where)

    # every input, weight and bias is a leaf: past the limit the graph is refused for its size before any name
    # is read (the limit network's 'w1_1.1' was refused as a name)
    leaves_needed = len(net.input_names) + net.parameter_count
    if leaves_needed > MAX_NODES:
        raise SpecError(
            f"the network's graph would have more than {MAX_NODES} nodes ({leaves_needed} inputs, weights and biases"
            " alone); its walk-through, --brief for a large one, shows every value",
            where,
        )

    def ok(name: str) -> str:
        if not _NAME.match(name) or name in FUNCTIONS:
            raise SpecError(f"the name {name!r} cannot be a graph node ({NAME_RULE})", where)
        return name

    leaves: dict[str, float] = {}
    for n, v in zip(net.input_names, net.inputs):
        leaves[ok(n)] = float(v)
    assign: dict[str, str] = {}
    prev = list(net.input_names)
    for layer in net.layers:
        for j in range(layer.size):
            for i, w in enumerate(layer.weight_labels[j]):
                leaves[ok(w)] = float(layer.weights[j, i])
            bias = [layer.bias_labels[j]] if layer.has_bias else []
            for k in bias:
                leaves[ok(k)] = float(layer.biases[j])
            # without weights the net input is the value itself; without bias the sum has no last term
            terms = [prev[j]] if layer.weightless else [f"{w} * {x}" for w, x in zip(layer.weight_labels[j], prev)]
            terms += bias
            assign[ok(layer.net_names[j])] = " + ".join(terms)
            pattern = (
                _SIGMOID_GATES if (gates and layer.activation == "sigmoid") else _ACTIVATION_TEXT[layer.activation]
            )
            assign[ok(layer.out_names[j])] = pattern.format(x=layer.net_names[j])
        prev = list(layer.out_names)
    if output is not None:
        if output not in net.output_layer.out_names:
            raise SpecError(
                f"{output!r:.40} is not an output of the network; give one of: {', '.join(net.output_layer.out_names)}",
                "--of",
            )
        out_name = output
    else:
        targets = net.target_names()
        for t, v in zip(targets, net.targets):
            leaves[ok(t)] = float(v)
        outs = net.output_layer.out_names
        n = len(outs)
        if net.loss == "half_sse":
            terms = [f"0.5 * ({t} - {o}) ** 2" for t, o in zip(targets, outs)]
        elif net.loss == "mse":
            terms = [f"({t} - {o}) ** 2 / {n}" for t, o in zip(targets, outs)]
        elif net.loss == "binary_cross_entropy":
            terms = [f"-({t} * log({o}) + (1 - {t}) * log(1 - {o})) / {n}" for t, o in zip(targets, outs)]
        else:
            terms = [f"-({t} * log({o}))" for t, o in zip(targets, outs)]
        out_name = ok(net.notation["loss"])
        assign[out_name] = " + ".join(terms)
    return from_mapping(
        {
            "title": f"{net.title}: the computational graph",
            "description": "Every weight, bias, input and target is a leaf; every net input and output a node."
            + (" The sigmoid is written as its gates, 1 / (1 + exp(-net))." if gates else ""),
            "graph": {"leaves": leaves, "assign": assign, "output": out_name, "digits": net.conventions.digits},
        },
        where=where,
    )
