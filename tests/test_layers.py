"""The package layout is the data flow: spec -> engine -> render -> teach -> interop -> the top-level modules.

Every import inside ``tutor`` (those at the top of a module and those inside functions alike) may point to
its own layer or one below it, never up; and the modules import one another without a cycle. The engines
never import Jinja2, and the numeric engine never imports SymPy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tutor"

# Lowest first. A module may import from its own layer and from any layer before it.
LAYERS = [
    "tutor.spec",
    "tutor.engine",
    "tutor.render",
    "tutor.teach",
    "tutor.interop",
    ("tutor.notebook", "tutor.handouts"),
    "tutor.api",
    ("tutor.cli", "tutor.__main__"),
]

# What a module of a layer must not import at all, wherever the import stands.
FORBIDDEN = {
    "tutor.engine": ("jinja2", "markupsafe"),
    "tutor.engine.numeric": ("sympy",),
    "tutor.engine.training": ("sympy",),
    "tutor.spec": ("jinja2", "markupsafe"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str) -> list[tuple[str, int]]:
    """Every module that module ``name`` (at ``path``) imports, absolute, with its line; relative imports are
    resolved, and imports for type checkers only (under ``if TYPE_CHECKING:``) are left out."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # "from . import numeric" imports a module too
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def layer_of(name: str) -> int | None:
    for index, layer in enumerate(LAYERS):
        for prefix in (layer,) if isinstance(layer, str) else layer:
            if name == prefix or name.startswith(prefix + "."):
                return index
    return None


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def known(name: str, mods: dict[str, Path]) -> str | None:
    """The tutor module that an imported name refers to (a name inside a module counts as that module)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name if name and name != "tutor" else None


def test_every_module_has_a_layer():
    unplaced = [m for m in modules() if m != "tutor" and layer_of(m) is None]
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"


def upward_imports(mods: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in mods.items():
        own = layer_of(name)
        for target, line in imports(path, name):
            target = known(target, mods)
            if target is None or own is None:
                continue
            if layer_of(target) > own:
                bad.append(f"{path.name}:{line}: {name} imports {target}, a later layer")
    return bad


def test_imports_point_down_the_flow():
    bad = upward_imports(modules())
    assert not bad, "\n".join(bad)


def test_the_layer_rule_catches_an_engine_importing_a_renderer(tmp_path):
    """The check itself can fail: an engine module that imports a renderer is reported."""
    mods = modules()
    scratch = tmp_path / "tutor" / "engine" / "scratch.py"
    scratch.parent.mkdir(parents=True)
    scratch.write_text("from ..render import walkthrough\n", encoding="utf-8")
    bad = upward_imports({**mods, "tutor.engine.scratch": scratch})
    assert any("tutor.engine.scratch imports tutor.render.walkthrough" in b for b in bad)


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_forbidden_imports(prefix):
    mods = modules()
    bad = []
    for name, path in mods.items():
        if name == prefix or name.startswith(prefix + "."):
            for target, line in imports(path, name):
                if target.split(".")[0] in FORBIDDEN[prefix]:
                    bad.append(f"{name}:{line} imports {target}")
    assert not bad, bad


def test_no_import_cycles():
    mods = modules()
    graph = {
        name: sorted({m for t, _ in imports(path, name) if (m := known(t, mods)) and m != name})
        for name, path in mods.items()
    }
    # A package's __init__ re-exports its modules: an edge into the package is an edge to what it re-exports,
    # so only edges between modules (not into a package's own __init__ from inside it) can close a cycle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node)


# -- layer kinds: one module per kind, one registration ------------------------------------------------------

SCALED = """
[inputs]
values = [0.5, -1.5]
[[layers]]
kind = "scale"
scales = [2.0, -0.5]
biases = [0.1, 0.2]
activation = "tanh"
[[layers]]
neurons = ["o1"]
activation = "sigmoid"
weights = [[0.7, -0.3]]
bias = 0.05
[loss]
name = "mse"
targets = [1.0]
[training]
learning_rate = 0.5
"""


def test_every_kind_is_its_module_in_the_registry():
    """Each registered kind is defined by its own module under tutor/spec/layers/, named as registered, and
    names only known surfaces; dense takes every surface."""
    import importlib

    from tutor.spec.layers import LAYER_KINDS, SURFACES

    for name, kind in LAYER_KINDS.items():
        assert kind.name == name
        module = importlib.import_module(kind.read.__module__)
        assert module.__name__.startswith("tutor.spec.layers.") and kind in vars(module).values()
        assert kind.surfaces <= set(SURFACES)
    assert LAYER_KINDS["dense"].surfaces == set(SURFACES)


def test_the_reader_takes_a_kinds_keys_and_refuses_an_unknown_kind():
    from tutor.spec import loads
    from tutor.spec.errors import SpecError
    from tutor.spec.layers import LAYER_KINDS

    with pytest.raises(SpecError) as e:
        loads(SCALED)
    assert (
        str(e.value)
        == "<spec>: layers[0].kind: kind 'scale' is not a layer kind; allowed: dense, conv1d, conv2d, max_pool, avg_pool, flatten, rnn"
    )
    with pytest.raises(SpecError) as e:
        loads(SCALED.replace('kind = "scale"', 'kind = "dense"'))
    # the message lists the dense kind's own keys, and 'kind'
    assert "unknown key; allowed here: " + ", ".join(sorted(LAYER_KINDS["dense"].keys | {"kind"})) in str(e.value)


def test_a_new_kind_is_one_module_plus_one_registration(monkeypatch):
    """tests/scale_kind.py and one entry in LAYER_KINDS: the spec reader reads it, the numeric engine steps through
    it (its gradients agree with central differences of the loss), and the surfaces it does not name refuse it."""
    from tests import scale_kind
    from tutor.engine import numeric
    from tutor.engine.symbolic import explain_step
    from tutor.spec import loads
    from tutor.spec.errors import SpecError
    from tutor.spec.layers import LAYER_KINDS

    monkeypatch.setitem(LAYER_KINDS, "scale", scale_kind.KIND)
    net = loads(SCALED)
    assert type(net.layers[0]) is scale_kind.ScaleLayer and net.layers[1].kind == "dense"
    with pytest.raises(SpecError, match=r"unknown key; allowed here: activation, biases, kind, scales"):
        loads(SCALED.replace("biases =", "bias ="))

    st = numeric.step(net)
    fw = st.forward
    s, c, a = net.layers[0].weights[:, 0], net.layers[0].biases, np.tanh(np.array([1.0, 0.75]) + [0.1, 0.2])
    assert np.allclose(fw.nets[0], s * net.inputs + c, rtol=0, atol=1e-15)
    assert np.allclose(fw.outs[0], a, rtol=0, atol=1e-15)

    def loss(W0, b0):
        return numeric.forward(net, [W0, net.layers[1].weights], [b0, net.layers[1].biases]).loss

    h = 1e-6
    W0, b0 = net.layers[0].weights, net.layers[0].biases
    for j in range(2):
        dW, db = np.zeros_like(W0), np.zeros_like(b0)
        dW[j, 0], db[j] = h, h
        fd_w = (loss(W0 + dW, b0) - loss(W0 - dW, b0)) / (2 * h)
        fd_b = (loss(W0, b0 + db) - loss(W0, b0 - db)) / (2 * h)
        assert st.backward.grad_W[0][j, 0] == pytest.approx(fd_w, rel=1e-7)
        assert st.backward.grad_b[0][j] == pytest.approx(fd_b, rel=1e-7)
        assert abs(st.backward.grad_W[0][j, 0]) > 1e-3  # a real gradient, not a vacuous 0 = 0

    with pytest.raises(SpecError) as e:
        explain_step(net)
    assert str(e.value) == "layers[0].kind: a scale layer is not supported by symbolic yet (it is taken by: numeric)"


def test_the_cli_refuses_a_kind_a_surface_does_not_take(monkeypatch, tmp_path, capsys):
    from tests import scale_kind
    from tutor.cli import main
    from tutor.spec.layers import LAYER_KINDS

    monkeypatch.setitem(LAYER_KINDS, "scale", scale_kind.KIND)
    spec = tmp_path / "scaled.toml"
    spec.write_text(SCALED, encoding="utf-8")
    for argv in (["explain", str(spec)], ["quiz", str(spec), "--answers", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            "backprop-tutor: error: layers[0].kind: a scale layer is not supported by symbolic yet "
            "(it is taken by: numeric)"
        ], argv
