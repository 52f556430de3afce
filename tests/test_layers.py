"""The package layout is the data flow: spec -> engine -> render -> teach -> interop -> the top-level modules.

Every import inside ``tutor`` (those at the top of a module and those inside functions alike) may point to
its own layer or one below it, never up; and the modules import one another without a cycle. The engines
never import Jinja2, and the numeric engine never imports SymPy.
"""

from __future__ import annotations

import ast
from pathlib import Path

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
