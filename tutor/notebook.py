"""The objects a notebook displays: an explained training step and a checked solution, each rendered on demand.

Jupyter shows an object through its ``_repr_html_``, ``_repr_markdown_`` and ``_repr_latex_`` methods;
these call the renderers of :mod:`tutor.render` only when asked, so building the objects never loads Jinja2.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Callable

from .engine.steps import Walkthrough
from .spec.errors import TutorError
from .spec.resources import write_file


class Explanation:
    """One training step of a network with every calculation, its gradient check and, for a model from another
    framework, the check of every gradient against that framework.

    Made by :func:`tutor.explain`. ``values`` holds every quantity by its stable key (as in the JSON output);
    ``to_markdown()``, ``to_latex()``, ``to_html()``, ``to_text()`` and ``to_json()`` render it, and
    ``save(path)`` writes the format its suffix names.

    >>> import tutor
    >>> e = tutor.explain("mazur")
    >>> round(e.values["w5+"], 8), e.ok
    (0.35891648, True)
    >>> e
    <Explanation of Mazur's 2-2-2 network (2-2-2): E_total 0.298371109 -> 0.291027774; gradient check ok>
    """

    def __init__(self, walk: Walkthrough, check: Any = None, framework_check: Any = None):
        self.walk = walk
        self.check = check  # a tutor.engine.gradcheck.Report, or None
        self.framework_check = framework_check  # a tutor.interop.FrameworkCheck, or None
        self._cache: dict[tuple, Any] = {}

    @property
    def network(self):
        return self.walk.network

    @property
    def values(self) -> dict[str, float]:
        """Every quantity of the step by its stable key, in the order computed."""
        return self.walk.values()

    def value(self, key: str) -> float:
        """One quantity by its stable key, e.g. ``"dE_total/dw5"``; an unknown key names the close matches."""
        try:
            return self.walk.value(key)
        except KeyError:
            import difflib

            close = difflib.get_close_matches(key, list(self.walk.quantities), n=4, cutoff=0.6)
            hint = f"; close matches: {', '.join(close)}" if close else "; see .values for every key"
            raise TutorError(f"unknown quantity {key!r}{hint}") from None

    @property
    def ok(self) -> bool:
        """True when the gradient check and the framework check (where there is one) agree."""
        return all(c.ok for c in (self.check, self.framework_check) if c is not None)

    # -- rendering -------------------------------------------------------------------------------------

    def _rendered(self, fmt: str) -> str:
        from . import render

        key = fmt
        if key not in self._cache:
            fn = {
                "md": render.render_markdown,
                "tex": render.render_latex,
                "html": render.render_html,
                "text": render.render_text,
            }[fmt]
            self._cache[key] = _with_framework_section(fmt, fn(self.walk, check=self.check), self.framework_check)
        return self._cache[key]

    def to_markdown(self) -> str:
        """The walk-through in Markdown with $...$ math (GitHub, Jupyter)."""
        return self._rendered("md")

    def to_latex(self) -> str:
        """The walk-through as a standalone LaTeX document (pdflatex)."""
        return self._rendered("tex")

    def to_html(self) -> str:
        """The walk-through as one self-contained HTML page with MathML math."""
        return self._rendered("html")

    def to_text(self) -> str:
        """The walk-through for a terminal."""
        return self._rendered("text")

    def to_json(self) -> str:
        """Every quantity, the gradient check and the framework check, as JSON."""
        from . import render

        doc = json.loads(render.render_json(self.walk, check=self.check))
        return _json_with_framework(doc, self.framework_check)

    def to_pdf(self) -> bytes:
        """The LaTeX walk-through compiled by pdflatex."""
        from .render import compile_pdf

        return compile_pdf(self.to_latex())

    def save(self, path: str | Path) -> Path:
        """Write the format the suffix names: .md, .tex, .html, .pdf, .json or .txt; returns the path."""
        return _save(
            path,
            {
                ".md": self.to_markdown,
                ".tex": self.to_latex,
                ".html": self.to_html,
                ".pdf": self.to_pdf,
                ".json": self.to_json,
                ".txt": self.to_text,
            },
        )

    def _repr_markdown_(self) -> str:
        # A notebook's own headings come first: the explanation's start two levels lower (# -> ###).
        return markdown_fragment(self.to_markdown())

    def _repr_html_(self) -> str:
        # A notebook output is part of the notebook's page: the document's styles are scoped to the output and
        # its headings start two levels lower (<h1> -> <h3>).
        return html_fragment(self.to_html())

    def _repr_latex_(self) -> str:
        # nbconvert pastes text/latex into its own document (LaTeX/PDF export): the body, not a second document.
        return latex_fragment(self.to_latex())

    def __repr__(self) -> str:
        w, net = self.walk, self.network
        shape = "-".join(map(str, net.shape))
        text = f"<Explanation of {net.title} ({shape}): {w.loss} {w.value(w.loss):.9g}"
        if w.loss_after:
            text += f" -> {w.value(w.loss_after):.9g}"
        if self.check is not None:
            text += f"; gradient check {'ok' if self.check.ok else 'FAILED'}"
        text += _framework_summary(self.framework_check)
        return text + ">"


class TrainingExplanation(Explanation):
    """The first training step of a network that trains on a batch, with another optimizer, decay,
    regularization, dropout, clipping or batch normalization: what ``backprop-tutor explain SPEC`` shows for
    it. ``values`` names every example's quantities per example (``out_h1[e2]``), then the step's own (batch
    means, optimizer state, update steps, updates), as ``check`` and the quiz name them.

    >>> import tutor
    >>> e = tutor.explain("minibatch")
    >>> round(e.values["W5new"], 6), e.ok
    (-0.220094, True)
    >>> e
    <Explanation of Mini-batches of two (2-2-1): training step 1 on examples 1, 2 of 4; 124 quantities>
    """

    def __init__(self, network, walk: Walkthrough, record: Any, framework_check: Any = None):
        super().__init__(walk, None, framework_check)
        self._network = network
        self.record = record  # the numeric engine's step (tutor.engine.training.Step)

    @property
    def network(self):
        return self._network

    def _rendered(self, fmt: str) -> str:
        from .render.training import documents

        if fmt not in self._cache:
            document = documents((fmt,), self._network, 0, {1}, explain=True)[1][fmt]
            self._cache[fmt] = (
                document if fmt == "json" else _with_framework_section(fmt, document, self.framework_check)
            )
        return self._cache[fmt]

    def to_json(self) -> str:
        """The training step's document as JSON (``backprop-tutor explain SPEC --format json``)."""
        return _json_with_framework(json.loads(self._rendered("json")), self.framework_check)

    def __repr__(self) -> str:
        net = self._network
        shape = "-".join(map(str, net.shape))
        batch = ", ".join(str(k + 1) for k in self.record.batch)
        text = (
            f"<Explanation of {net.title} ({shape}): training step 1 on example{'s' if len(self.record.batch) > 1 else ''} "
            f"{batch} of {len(net.examples)}; {len(self.walk.quantities)} quantities"
        )
        text += _framework_summary(self.framework_check)
        return text + ">"


class GraphExplanation(Explanation):
    """A computational graph's walk-through (a graph spec, a one-line expression, a micrograd ``Value``, a traced
    model that is not layered), with its finite-difference check and, where it came from a framework, the
    check of every gradient against that framework. The same methods as :class:`Explanation`.

    >>> import tutor
    >>> g = tutor.explain("f = (x + y) * z", x=-2, y=5, z=-4)
    >>> g
    <GraphExplanation of f = (x + y) * z: f -12 at x = -2, y = 5, z = -4; gradient check ok>
    >>> g.gradients["x"], g.value("f")
    (-4.0, -12.0)
    """

    def __init__(self, walk: Any, framework_check: Any = None):
        super().__init__(walk, None, framework_check)

    @property
    def network(self):
        return self.walk.graph

    @property
    def graph(self):
        return self.walk.graph

    @property
    def gradients(self) -> dict[str, float]:
        """Every node's gradient by its name."""
        return self.walk.gradients()

    @property
    def ok(self) -> bool:
        return self.walk.ok and (self.framework_check is None or self.framework_check.ok)

    def _rendered(self, fmt: str) -> str:
        from .render.graph import render

        if fmt not in self._cache:
            self._cache[fmt] = _with_framework_section(fmt, str(render(self.walk, fmt)), self.framework_check)
        return self._cache[fmt]

    def to_json(self) -> str:
        """Every value, local derivative and gradient, and the framework check, as JSON."""
        from .render.graph import render_json

        return _json_with_framework(json.loads(render_json(self.walk)), self.framework_check)

    def to_pdf(self) -> bytes:
        from .render.graph import render

        if self.framework_check is None:
            return render(self.walk, "pdf")
        from .render import compile_pdf

        return compile_pdf(self.to_latex())

    def __repr__(self) -> str:
        g = self.walk.graph
        leaves = [n for n in g.nodes if n.kind == "leaf"]
        shown = ", ".join(f"{n.name} = {self.walk.value(n.name):.9g}" for n in leaves[:3])
        more = f" and {len(leaves) - 3} more leaves" if len(leaves) > 3 else ""
        text = f"<GraphExplanation of {g.title}: {g.output} {self.walk.value(g.output):.9g} at {shown}{more}"
        text += f"; gradient check {'ok' if self.walk.ok else 'FAILED'}"
        return text + _framework_summary(self.framework_check) + ">"

    def __str__(self) -> str:
        return self.to_text()


def _framework_summary(fc: Any) -> str:
    """The framework check in a repr: "; PyTorch 2.13.0+cpu: max. rel. difference 3.3e-16", or nothing."""
    if fc is None:
        return ""
    return f"; {fc.framework.split(' autograd')[0]}: max. rel. difference {fc.max_rel:.1e}{'' if fc.ok else ' FAILED'}"


def _json_with_framework(doc: dict, fc: Any) -> str:
    if fc is not None:
        doc["framework_check"] = {
            "framework": fc.framework,
            "tolerance": fc.tolerance,
            "max_rel": fc.max_rel,
            "ok": fc.ok,
            "notes": fc.notes,
            "rows": [
                {"key": r.key, "kind": r.kind, "tutor": r.tutor, "framework": r.framework, "rel": r.rel}
                for r in fc.rows
            ],
        }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


class CheckReport:
    """The verdict on every claimed number of a worked solution, as ``backprop-tutor check`` prints it.

    Made by :func:`tutor.check`; ``ok``, ``verdicts`` (``tutor.teach.checker.Verdict``), ``data`` (plain data),
    ``to_text()``, ``to_markdown()``, ``to_json()`` and ``save(path)`` (.txt, .md or .json).

    >>> import tutor
    >>> r = tutor.check("mazur", {"w5+": "0.35891648", "E_total": "0.2893"})
    >>> r.ok, [v.status for v in r.verdicts]
    (False, ['agrees', 'wrong'])
    """

    def __init__(self, report: Any):
        self.report = report  # a tutor.teach.checker.Report

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def verdicts(self) -> list:
        return self.report.verdicts

    @property
    def data(self) -> dict[str, Any]:
        from .teach.checker import report_data

        return report_data(self.report)

    def _render(self, fmt: str) -> str:
        from .render.check import render_check

        return render_check(self.data, fmt)

    def to_text(self) -> str:
        return self._render("text")

    def to_markdown(self) -> str:
        return self._render("md")

    def to_json(self) -> str:
        return self._render("json")

    def save(self, path: str | Path) -> Path:
        """Write the format the suffix names: .md, .json or .txt; returns the path."""
        return _save(path, {".md": self.to_markdown, ".json": self.to_json, ".txt": self.to_text})

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        counts = self.data["counts"]
        parts = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"<CheckReport of {self.report.network.title}: {len(self.verdicts)} claims: {parts}>"


class SelfCheck:
    """A self-check page of a quiz (``tutor.teach.quiz.Quiz``): an answer box for every quantity, graded in the
    page with the quiz's tolerance, carried-forward credit and misconceptions (see ``tutor.teach.selfcheck``).

    In a notebook it shows as the cell's output (its script and styles scoped to it); ``save("x.html")`` writes
    the standalone offline page. Made by :func:`tutor.self_check`.

    >>> import tutor
    >>> sc = tutor.self_check("mazur")
    >>> sc
    <SelfCheck of Mazur's 2-2-2 network: 45 answer boxes>
    >>> "<script>" in sc._repr_html_(), sc.to_html().startswith("<!DOCTYPE html>")
    (True, True)
    """

    def __init__(self, quiz: Any):
        self.quiz = quiz

    def to_html(self) -> str:
        """The standalone page, with a Content-Security-Policy that loads nothing and runs only its script."""
        from .teach.selfcheck import page

        return page(self.quiz)

    def _repr_html_(self) -> str:
        from .teach.selfcheck import fragment

        return fragment(self.quiz)

    def save(self, path: str | Path) -> Path:
        """Write the standalone page (the suffix must be .html); returns the path."""
        return _save(path, {".html": self.to_html})

    def __repr__(self) -> str:
        return f"<SelfCheck of {self.quiz.network.title}: {len(self.quiz.questions)} answer boxes>"


def _save(path: str | Path, writers: dict[str, Callable[[], str | bytes]]) -> Path:
    p = Path(path)
    writer = writers.get(p.suffix.lower())
    if writer is None:
        raise TutorError(f"unknown suffix {p.suffix!r}; allowed: {', '.join(writers)}", str(path))
    write_file(p, writer())
    return p


# -- fragments of the standalone documents, for a notebook's page --------------------------------------------

SCOPE = "backprop-tutor"
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")


def scope_css(css: str, scope: str = "." + SCOPE) -> str:
    """Flat CSS rules with every selector limited to ``scope`` (``body`` and ``html`` become the scope itself).

    >>> print(scope_css("body { margin: 0 } h1, .calc { color: red }"))
    .backprop-tutor { margin: 0 }
    .backprop-tutor h1, .backprop-tutor .calc { color: red }
    """
    rules = []
    for selectors, body in _RULE.findall(css):
        scoped = []
        for sel in (s.strip() for s in selectors.split(",")):
            head, _, rest = sel.partition(" ")
            scoped.append(f"{scope} {rest}".strip() if head in ("html", "body", ":root") else f"{scope} {sel}")
        rules.append(f"{', '.join(scoped)} {{{body}}}")
    return "\n".join(rules)


FRAGMENT_SHIFT = 2  # heading levels a notebook fragment starts below the document's own


def markdown_fragment(document: str, shift: int = FRAGMENT_SHIFT) -> str:
    r"""A Markdown document with every ATX heading ``shift`` levels lower (at most level 6); fenced code and
    display math are left alone.

    >>> print(markdown_fragment("# Title\n\n## Part\n$$\n# not a heading\n$$"))
    ### Title
    <BLANKLINE>
    #### Part
    $$
    # not a heading
    $$
    """
    out, fenced = [], False
    for line in document.split("\n"):
        if line.startswith(("```", "$$")):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            level = len(line) - len(line.lstrip("#"))
            line = "#" * min(level + shift, 6) + line[level:]
        out.append(line)
    return "\n".join(out)


def _shift_headings(html: str, shift: int = FRAGMENT_SHIFT) -> str:
    return re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + shift, 6)}", html)


def html_fragment(document: str) -> str:
    """The body of an HTML document in a ``<div class="backprop-tutor">``, its head's styles scoped to the div.

    >>> html_fragment("<html><head><style>p { margin: 0 }</style></head><body><p>x</p></body></html>")
    '<div class="backprop-tutor">\\n<style>\\n.backprop-tutor p { margin: 0 }\\n</style>\\n<p>x</p></div>'
    """
    body = _BODY.search(document)
    if body is None:
        return document
    head = document[: body.start()]
    styles = "\n".join(scope_css(s) for s in _STYLE.findall(head))
    return f'<div class="{SCOPE}">\n<style>\n{styles}\n</style>\n{_shift_headings(body.group(1))}</div>'


def latex_fragment(document: str) -> str:
    r"""The body of a LaTeX document, after the commands its preamble defines (as \providecommand).

    >>> print(latex_fragment("\\documentclass{article}\n\\newcommand{\\calc}[1]{$#1$}\n"
    ...                      "\\begin{document}\n\\calc{x}\n\\end{document}\n"))
    \providecommand{\calc}[1]{$#1$}
    <BLANKLINE>
    \calc{x}
    <BLANKLINE>
    """
    if "\\begin{document}" not in document:
        return document
    preamble, body = document.split("\\begin{document}", 1)
    body = body.rsplit("\\end{document}", 1)[0]
    macros = [
        line.replace("\\newcommand", "\\providecommand", 1)
        for line in preamble.splitlines()
        if line.startswith("\\newcommand")
    ]
    return "\n".join(macros) + "\n" + body


# -- the framework check as a section of each format ----------------------------------------------------------


def _number(x: float) -> str:
    return f"{x + 0.0:.12g}"  # + 0.0: a negative zero (a gradient through a closed ReLU) prints as 0


def _rel(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}".replace(".0e", "e").replace("e-0", "e-")


def _summary(fc: Any) -> str:
    verdict = "agrees" if fc.ok else "DISAGREES"
    subject = getattr(fc, "subject", "") or "Every net input, output, the loss and every gradient of this step"
    return (
        f"{subject}, computed again by {fc.framework}: "
        f"the largest relative difference is {_rel(fc.max_rel)} (tolerance {_rel(fc.tolerance)}): {verdict}."
    )


def framework_section(fc: Any, fmt: str) -> str:
    """The framework check as a section of a ``md``, ``html``, ``tex`` or ``text`` walk-through."""
    title = "Cross-check against " + fc.framework
    rows = [(r.key, _number(r.tutor), _number(r.framework), _rel(r.rel)) for r in fc.rows]
    head = ("quantity", "tutor", fc.framework.split(" ")[0], "rel. difference")
    notes = list(fc.notes)
    if fmt == "md":
        from .render import md_escape

        lines = [
            f"## {md_escape(title)}",
            "",
            md_escape(_summary(fc)),
            "",
            "| " + " | ".join(head) + " |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| `{k}` | {a} | {b} | {r} |" for k, a, b, r in rows]
        lines += [""] + [f"*{md_escape(n)}*" for n in notes]
        return "\n".join(lines) + "\n"
    if fmt == "html":
        e = html.escape
        cells = "".join(
            f'<tr><td><code>{e(k)}</code></td><td class="num">{a}</td><td class="num">{b}</td>'
            f'<td class="num">{r}</td></tr>\n'
            for k, a, b, r in rows
        )
        heads = "".join(f"<th>{e(h)}</th>" for h in head)
        extra = "".join(f"<p><em>{e(n)}</em></p>\n" for n in notes)
        return (
            f'<section class="framework-check">\n<h2>{e(title)}</h2>\n<p>{e(_summary(fc))}</p>\n'
            f'<div class="table"><table>\n<tr>{heads}</tr>\n{cells}</table></div>\n{extra}</section>\n'
        )
    if fmt == "tex":
        from .render.notation import tex_escape

        body = "".join(f"\\texttt{{{tex_escape(k)}}} & ${a}$ & ${b}$ & {r} \\\\\n" for k, a, b, r in rows)
        extra = "".join(f"\\textit{{{tex_escape(n)}}}\\par\n" for n in notes)
        return (
            f"\\section{{{tex_escape(title)}}}\n{tex_escape(_summary(fc))}\n\n"
            "\\begin{longtable}{lrrr}\n" + " & ".join(tex_escape(h) for h in head) + " \\\\\n\\hline\n"
            f"{body}\\end{{longtable}}\n{extra}"
        )
    width = max(len(k) for k, *_ in rows) if rows else 8
    lines = [title, "  " + _summary(fc), "    " + "  ".join(h.ljust(w) for h, w in zip(head, (width, 22, 22, 10)))]
    lines += ["    " + "  ".join((k.ljust(width), a.ljust(22), b.ljust(22), r)) for k, a, b, r in rows]
    lines += ["  " + n for n in notes]
    return "\n".join(lines) + "\n"


def _with_framework_section(fmt: str, document: str, fc: Any) -> str:
    """``document`` with the framework check inserted where its format ends its content."""
    if fc is None:
        return document
    section = framework_section(fc, fmt)
    end = {"html": ("</main>", "</body>"), "tex": ("\\end{document}",)}.get(fmt, ())
    for marker in end:
        at = document.rfind(marker)
        if at >= 0:
            return document[:at] + section + document[at:]
    return document.rstrip("\n") + "\n\n" + section


class LayerWalkExplanation(Explanation):
    """The step of a network with convolution, pooling, flatten or recurrent layers, walked layer by layer
    (:func:`tutor.engine.sym_maps.explain_maps`); ``ok`` says whether every gradient agrees with the numeric
    engine (which tests/test_conv.py and tests/test_rnn.py hold to torch's)."""

    def __init__(self, walk: Any, agrees: bool):
        super().__init__(walk)
        self.agrees = agrees

    @property
    def ok(self) -> bool:
        return self.agrees

    def _rendered(self, fmt: str) -> str:
        from .render.maps import render

        if fmt not in self._cache:
            self._cache[fmt] = render(self.walk, fmt)
        return self._cache[fmt]

    def to_json(self) -> str:
        raise TutorError("JSON of a network with feature maps or recurrence is not written yet: use .values")

    def to_pdf(self) -> bytes:
        from .render.maps import render

        return render(self.walk, "pdf")  # type: ignore[return-value]

    def __repr__(self) -> str:
        w, net = self.walk, self.network
        kinds = ", ".join(dict.fromkeys(layer.kind for layer in net.layers))
        return (
            f"<Explanation of {net.title} ({kinds}): {w.loss} {w.value(w.loss):.9g}; "
            f"engines {'agree' if self.agrees else 'DISAGREE'}>"
        )
