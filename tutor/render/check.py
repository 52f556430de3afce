"""Renders the worked-solution checker's report as text, Markdown or JSON (reads report data only)."""

from __future__ import annotations

import json
from typing import Any

from .options import DEFAULT, Options
from .templates import render_template


def render_check(data: dict[str, Any], fmt: str, options: Options = DEFAULT) -> str:
    """The checker's report (``tutor.teach.checker.report_data``) as ``text``, ``md`` or ``json``."""
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    template = {"text": "checker/report.txt.j2", "md": "checker/report.md.j2"}[fmt]
    return render_template(template, {"r": data}, options=options)
