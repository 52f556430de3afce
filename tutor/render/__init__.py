"""Renderers: computed step records become text, Markdown, LaTeX/PDF, HTML and JSON through Jinja2 templates.

One module per document (``walkthrough``, ``training``, ``check``, ``views``), beside what they share: the
frozen render ``options``, the ``templates`` environment and its escaping filters, the ``notation`` (SymPy's
printers), one shown ``lines`` of a formula, the network ``diagram``, the loss ``curve`` and ``pdf`` output.
Renderers read step records; they never compute a number of the network.
"""

from __future__ import annotations

import importlib
import importlib.util

# Each name's module, imported on first use: the quiz writes its formulas with ``render.notation`` and needs
# neither the templates, the walk-through's document nor the gradient check its renderer imports.
_WHERE = {
    "DEFAULT": "options",
    "Options": "options",
    "compile_pdf": "pdf",
    "pdf_source_digest": "pdf",
    "source_digest": "pdf",
    "md_escape": "templates",
    "FORMATS": "walkthrough",
    "network_summary": "walkthrough",
    "render_html": "walkthrough",
    "render_json": "walkthrough",
    "render_latex": "walkthrough",
    "render_markdown": "walkthrough",
    "render_pdf": "walkthrough",
    "render_text": "walkthrough",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # a submodule, as after an eager import
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT",
    "FORMATS",
    "Options",
    "compile_pdf",
    "md_escape",
    "network_summary",
    "pdf_source_digest",
    "render_html",
    "render_json",
    "render_latex",
    "render_markdown",
    "render_pdf",
    "render_text",
    "source_digest",
]
