"""Record PyTorch autograd's values and gradients of every built-in graph example (float64) as test data.

Needs torch. Run from the repository root after adding or changing a graph example:
    python tests/record_graph_torch.py
tests/test_graph.py compares the graph engine with tests/data/graph_torch.json always, and with live torch
when it is importable. The graph is rebuilt gate by gate with torch's own functions: nothing of the tutor's
engine (SymPy forms, float functions) is used, only the parsed spec's list of gates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "tests" / "data" / "graph_torch.json"


def torch_values(graph) -> dict:
    import torch

    ops = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "neg": lambda a: -a,
        "exp": torch.exp,
        "log": torch.log,
        "sqrt": torch.sqrt,
        "abs": torch.abs,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
    }
    t: dict = {}
    for n in graph.nodes:
        if n.kind != "gate":
            t[n.name] = torch.tensor(float(n.value), dtype=torch.float64, requires_grad=n.kind == "leaf")
            continue
        xs = [t[i] for i in n.inputs]
        if n.op == "pow":
            v = xs[0] ** n.param
        elif n.op in ("max", "min"):
            v = xs[0]
            for x in xs[1:]:
                v = torch.maximum(v, x) if n.op == "max" else torch.minimum(v, x)
        else:
            v = ops[n.op](*xs)
        v.retain_grad()
        t[n.name] = v
    out = t[graph.output]
    out.backward(torch.tensor(float(graph.upstream), dtype=torch.float64))
    return {
        "torch": torch.__version__,
        "values": {k: float(v.detach()) for k, v in t.items()},
        "gradients": {k: float(v.grad) for k, v in t.items() if v.grad is not None},
    }


def main() -> None:
    from tutor.spec import graph as graphspec
    from tutor.spec.resources import example_names

    data = {name: torch_values(graphspec.load(name)) for name in example_names("graph")}
    OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {', '.join(data)}")


if __name__ == "__main__":
    main()
