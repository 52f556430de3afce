"""Which kind of spec a file or built-in example is (a network or a computational graph), read without
importing the graph reader: every command asks this first, and most specs are networks."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from .errors import SpecError, TutorError
from .resources import example_names, example_path, read_text

MAX_FILE_BYTES = 2_000_000  # of any spec file, a graph's as a network's (network.MAX_FILE_BYTES)


def read(spec: str | Path) -> tuple[dict, str, str]:
    """The TOML table of a spec file or built-in example, with the place to name in errors and its name."""
    path = Path(spec)
    name = ""
    if not path.is_file():
        builtin = example_path(str(spec)) if re.fullmatch(r"[a-z0-9-]+", str(spec)) else None
        if builtin is None:
            raise SpecError(
                f"no such file or built-in example; built-in examples: {', '.join(example_names('all'))}", str(spec)
            )
        path, name = builtin, str(spec)
    where = str(spec)
    try:
        text = read_text(path, where, MAX_FILE_BYTES)  # a byte-order mark is fine
    except SpecError:
        raise
    except TutorError as exc:
        raise SpecError(exc.message, where) from None
    from .network import parse_toml  # the one TOML reader: deep nesting and huge integers are one-line errors

    return parse_toml(text, where), where, name


def is_graph(spec: str | Path) -> bool:
    """Whether ``spec`` (a file or a built-in example) is a graph spec: its TOML has a ``graph`` key (a
    ``graph`` that is not a table is the graph loader's error to report). Anything unreadable is left to the
    network loader, whose messages name the problem."""
    try:
        data, _, _ = read(spec)
    except SpecError:
        return False
    return "graph" in data


def is_graph_object(obj: Any) -> bool:
    """Whether ``obj`` is a read graph spec (``tutor.spec.graph.Graph``), without importing the graph reader for
    a network: no Graph exists before its module was imported."""
    module = sys.modules.get(f"{__package__}.graph")
    return module is not None and isinstance(obj, module.Graph)
