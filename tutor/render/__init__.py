"""Renderers: computed step records become text, Markdown, LaTeX/PDF, HTML and JSON through Jinja2 templates.

One module per document (``walkthrough``, ``training``, ``check``, ``views``), beside what they share: the
frozen render ``options``, the ``templates`` environment and its escaping filters, the ``notation`` (SymPy's
printers), one shown ``lines`` of a formula, the network ``diagram``, the loss ``curve`` and ``pdf`` output.
Renderers read step records; they never compute a number of the network.
"""

from __future__ import annotations

from .options import DEFAULT, Options
from .pdf import compile_pdf, pdf_source_digest, source_digest
from .templates import md_escape
from .walkthrough import (
    FORMATS,
    network_summary,
    render_html,
    render_json,
    render_latex,
    render_markdown,
    render_pdf,
    render_text,
)

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
