"""micrograd interop: the graph a micrograd ``Value`` was built by, explained gate by gate and checked
against micrograd's own ``.grad`` of every node.

micrograd (``pip install micrograd``) records, for each Value, the Values it came from (``_prev``) and its
operation (``_op``: ``+``, ``*``, ``**k``, ``ReLU``; the lecture's version also ``tanh`` and ``exp``). Those
become the tutor's gates; every Value without parents is a leaf (micrograd wraps constants as Values too).
"""

from __future__ import annotations

from typing import Any

from ..spec.errors import TutorError
from ..spec.graph import MAX_NODES, Graph, Node

_OPS = {"+": "add", "*": "mul", "ReLU": "relu", "relu": "relu", "tanh": "tanh", "exp": "exp"}


def is_micrograd_value(obj: Any) -> bool:
    return type(obj).__name__ == "Value" and hasattr(obj, "_prev") and hasattr(obj, "_op") and hasattr(obj, "data")


def _order(root) -> list:
    """The Values that built ``root``, every one after the Values it came from (micrograd's own topological
    order, without recursion so that a long chain is fine)."""
    seen, order, stack = set(), [], [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        stack.append((v, True))
        # children in a fixed order: micrograd keeps them in a set (ordered by hash, i.e. by address); sorting
        # by what they hold makes the numbering the same from run to run unless two children tie
        for c in sorted(v._prev, key=_rank, reverse=True):
            stack.append((c, False))
    return order


def _rank(v) -> tuple:
    return (str(v._op), float(v.data), len(v._prev), id(v))


def to_graph(root, title: str = "A micrograd expression") -> tuple[Graph, dict[int, str]]:
    """The tutor's Graph of a micrograd Value, and each Value's node name by ``id``."""
    order = _order(root)
    if len(order) > MAX_NODES:
        raise TutorError(f"the expression has {len(order)} Values; the tutor explains at most {MAX_NODES}", "explain()")
    names: dict[int, str] = {}
    used: set[str] = set()
    nodes = []
    leaves = gates = 0
    for v in order:
        label = getattr(v, "label", "") or ""
        if not v._prev:
            leaves += 1
            name = label if label.isidentifier() and label not in used else f"v{leaves}"
            nodes.append(Node(name, "leaf", float(v.data), named=True))
        else:
            gates += 1
            name = label if label.isidentifier() and label not in used else f"n{gates}"
            op, param = _OPS.get(v._op), None
            if v._op.startswith("**"):
                op, param = "pow", float(v._op[2:])
            if op is None:
                raise TutorError(f"micrograd operation {v._op!r} is not known to the tutor", "explain()")
            kids = sorted(v._prev, key=_rank)
            if op in ("add", "mul") and len(kids) == 1:
                kids = kids * 2  # a + a: micrograd keeps the one child once
            nodes.append(Node(name, "gate", op=op, inputs=tuple(names[id(k)] for k in kids), param=param, named=True))
        names[id(v)] = name
        used.add(name)
    return Graph(nodes=tuple(nodes), output=names[id(root)], title=title), names


def explain_value(root, tolerance: float = 1e-9) -> tuple[Any, Any]:
    """The walk-through of the graph that built ``root`` (a GraphWalk) and the check of every node's gradient
    against micrograd's ``.grad`` (after ``root.backward()``; before it, micrograd's grads are 0: refused)."""
    from ..engine.graph import explain_graph
    from .torch import FrameworkCheck, FrameworkRow

    graph, names = to_graph(root)
    walk = explain_graph(graph)
    if float(root.grad) != 1.0:
        raise TutorError(
            "micrograd's gradients are not there yet: call v.backward() once before tutor.explain(v)", "explain()"
        )
    grads = walk.gradients()
    rows = [
        FrameworkRow(f"d{graph.output}/d{names[id(v)]}", "gradient", grads.get(names[id(v)], 0.0), float(v.grad), 1.0)
        for v in _order(root)
    ]
    check = FrameworkCheck(
        "micrograd's .grad", rows, tolerance, subject="Every node's gradient (micrograd sums in its own order)"
    )
    return walk, check
