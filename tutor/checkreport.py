"""Renders the worked-solution checker's report as text, Markdown or JSON (reads report data only)."""

from __future__ import annotations

import html
import json
from typing import Any

from . import render


def md_escape(text: str) -> str:
    """Escape free text for Markdown prose and table cells: no HTML, emphasis, math, links or pipes."""
    out = html.escape(str(text), quote=False)
    for c in "\\`*_{}[]()#+!|$~":
        out = out.replace(c, "\\" + c)
    return out.replace("\n", " ")


def render_check(data: dict[str, Any], fmt: str) -> str:
    """The checker's report (``tutor.checker.report_data``) as ``text``, ``md`` or ``json``."""
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    template = {"text": "checker/report.txt.j2", "md": "checker/report.md.j2"}[fmt]
    env = render._environment(False)
    env.filters.setdefault("md_escape", md_escape)
    return render._render(template, {"r": data})
