"""A machine without the optional packages collects and passes the suite: no module that pytest imports
(`--doctest-modules` imports every .py under tests/ and tutor/) imports one of them when it is loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# not installed by `pip install -e '.[test]'`: torch and Keras; the package itself needs none of its extras
OPTIONAL = {
    "tests": {"torch", "keras", "tensorflow"},
    "tutor": {"torch", "keras", "tensorflow", "micrograd", "matplotlib"},
}


def _loaded_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """The modules a file imports while it is loaded: its top-level statements, not functions' bodies, and not
    inside a try (whose except handles a missing package)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.If) and not _type_checking(node):
            found += _loaded_imports(ast.Module(body=node.body + node.orelse, type_ignores=[]))
    return found


def _type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test) or "__main__" in ast.unparse(node.test)


@pytest.mark.parametrize("folder", sorted(OPTIONAL))
def test_no_module_imports_an_optional_package_when_loaded(folder):
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        bad += [
            f"{path.relative_to(ROOT)}:{line} imports {name}"
            for line, name in _loaded_imports(tree)
            if name in OPTIONAL[folder]
        ]
    assert not bad, bad


def test_the_check_finds_a_module_level_import():
    tree = ast.parse("import json\nimport torch\nif True:\n    from keras import layers\ndef f():\n    import torch\n")
    assert [n for _, n in _loaded_imports(tree)] == ["json", "torch", "keras"]
