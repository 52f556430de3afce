"""Renderers: turn a computed Walkthrough into JSON, terminal text, Markdown, LaTeX, HTML and PDF.

Renderers only read step records. Each output has one ``render_<format>`` function; ``configure`` sets the
options they share. Templates live in the top-level ``templates/`` folder (shipped inside the wheel) and can
be overridden block by block from ``--template-dir``. The view model escapes the spec author's text for the
format it goes to, so that templates print its strings as they are (HTML is autoescaped instead).
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from .errors import TutorError
from .rounding import format_fixed
from .spec import Network
from .steps import Quantity, Walkthrough

FORMATS = ("text", "json", "md", "tex", "html", "pdf")
# The template of each format, under the template folders; an override keeps the same relative path.
TEMPLATES = {
    "text": "text/walkthrough.txt.j2",
    "md": "markdown/walkthrough.md.j2",
    "tex": "latex/walkthrough.tex.j2",
    "html": "html/walkthrough.html.j2",
}


@dataclass(frozen=True)
class Options:
    template_dir: Path | None = None
    digits: int | None = None  # shown decimals; None: the spec's conventions.digits
    notation: str = "spec"  # "spec" | "layered"


_options = Options()


def configure(*, template_dir: str | Path | None = None, digits: int | None = None, notation: str = "spec") -> None:
    """Set the options every renderer uses (keyword-only, like pdoc's ``render.configure``)."""
    global _options
    if template_dir is not None and not Path(template_dir).is_dir():
        raise TutorError("--template-dir must be a folder of templates", str(template_dir))
    _options = Options(Path(template_dir) if template_dir else None, digits, notation)
    _environment.cache_clear()


def options() -> Options:
    return _options


@contextmanager
def configured(*, template_dir: str | Path | None = None, digits: int | None = None, notation: str = "spec"):
    """Render with these options inside the ``with`` block, and with the previous ones after it."""
    global _options
    saved = _options
    configure(template_dir=template_dir, digits=digits, notation=notation)
    try:
        yield
    finally:
        _options = saved
        _environment.cache_clear()


def shown_digits(walk: Walkthrough) -> int:
    """Under as-printed the carried values are shown exactly; otherwise --digits or the spec's digits."""
    c = walk.conventions
    if c.rounding == "as-printed":
        return c.digits
    return _options.digits if _options.digits is not None else c.digits


# -- JSON ---------------------------------------------------------------------------------------------


def render_json(walk: Walkthrough, history: Any = None, check: Any = None) -> str:
    """Every computed quantity under its stable key (documented in the README), as JSON."""
    net = walk.network
    doc: dict[str, Any] = {
        "format": "backprop-tutor/1",
        "network": network_summary(net),
        "conventions": {
            "rounding": walk.conventions.rounding,
            "digits": walk.conventions.digits,
            "update_order": walk.conventions.update_order,
            "update_biases": net.update_biases,
        },
        "values": walk.values(),
        "quantities": [
            {"key": q.key, "kind": q.kind, "value": q.value, "layer": q.layer}
            for q in walk.quantities.values()
        ],
        "loss_before": walk.value(walk.loss),
        "loss_after": walk.value(walk.loss_after) if walk.loss_after else None,
    }
    if check is not None:
        doc["gradient_check"] = [
            {"param": r.param, "symbolic": r.symbolic, "numeric": r.numeric, "finite_difference": r.finite_difference}
            for r in check.rows
        ]
    if history is not None:
        doc["history"] = [
            {"step": k + 1, "loss_before": b, "loss_after": a}
            for k, (b, a) in enumerate(zip(history.loss_before, history.loss_after))
        ]
        doc["final"] = final_state(net, history)
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def network_summary(net: Network) -> dict[str, Any]:
    return {
        "title": net.title,
        "name": net.name,
        "shape": list(net.shape),
        "inputs": dict(zip(net.input_names, map(float, net.inputs))),
        "layers": [
            {"neurons": list(l.neurons), "activation": l.activation, "activation_params": dict(l.activation_params),
             "shared_bias": l.shared_bias}
            for l in net.layers
        ],
        "loss": net.loss,
        "targets": dict(zip(net.target_names(), map(float, net.targets))),
        "learning_rate": net.learning_rate,
        "parameter_count": net.parameter_count,
    }


def final_state(net: Network, history: Any) -> dict[str, Any]:
    """The forward pass and every parameter after the last step of a --steps run."""
    outs = {name: float(v) for name, v in zip(net.output_layer.out_names, history.final.outs[-1])}
    params = net.parameter_values(history.W, history.b)
    return {"steps": len(history.loss_before), "outputs": outs, "loss": history.final.loss, "parameters": params}


# -- the view model the templates read ------------------------------------------------------------------


def writer(walk: Any, mode: str, *, example: int | None = None, scientific: bool = False):
    """The FormulaWriter of one output: ``mode`` "text", "tex" (pdflatex) or "web" (MathJax, MathML).

    ``walk`` is a Walkthrough or a TrainingWalk. ``example`` k writes the loss of one example of a batch as
    E⁽ᵏ⁾, so that its gradients read as the terms of the batch mean; ``scientific`` writes values too small
    for the shown decimals as 6.75·10⁻⁷ (an optimizer's state), unless they are rounded as printed.
    """
    from .notation import _SUP, FormulaWriter, Name, Notation, Relabelling, layered, tex_name, text_name

    net = walk.network
    relabel = layered(net) if _options.notation == "layered" else None
    if example is not None:
        E = net.notation["loss"]
        base = relabel.names[E] if relabel else Name(tex_name(E, "web" if mode == "web" else "latex"), text_name(E))
        names = dict(relabel.names) if relabel else {}
        names[E] = Name("{" + base.tex + "}^{(" + str(example) + ")}", base.text + "⁽" + str(example).translate(_SUP) + "⁾")
        relabel = Relabelling(names, *(() if relabel is None else (relabel.deltas, relabel.losses, relabel.neurons)))
    notation = Notation(walk.labels, net.notation["updated"], dialect="web" if mode == "web" else "latex",
                        relabel=relabel)  # fmt: skip
    small = ("text" if mode == "text" else "tex") if scientific and walk.conventions.rounding == "exact" else None
    return FormulaWriter(notation, walk.values(), shown_digits(walk), small)


def line_view(fw: Any, quantities: dict[str, Quantity], key: str, mode: str,
              escape: Callable[[str], str] = lambda s: s) -> dict[str, Any] | None:  # fmt: skip
    """One shown quantity: its label, derivation, formula, numbers substituted and value, as strings."""
    if not key:
        return None
    quantity: Quantity = quantities[key]
    op, body = fw.derivative(quantity, mode)
    derivation = f"{op} {body}" if op else ""
    formula = fw.formula(quantity, mode)
    substituted = fw.substituted(quantity, mode)
    value = fw.number(quantity.value)
    # What follows "label =": each step once (a formula that is already a number is not repeated, nor a
    # negative number that only gained its parentheses: w = (-0.4) = -0.4).
    same = substituted in (value, f"({value})", r"\left(" + value + r"\right)")
    stages = [s for s in (derivation, formula if formula != substituted else "",
                          "" if same else substituted) if s] + [value]  # fmt: skip
    return {
        "key": escape(key),
        "label": fw.label(key, mode),
        "derivation": derivation,
        "derivation_op": op,  # the derivation in two parts, the operator d/d(wrt) ...
        "derivation_body": body,  # ... and the bracketed expression, which quantities often share
        "wrt": fw.label(quantity.wrt, mode) if quantity.wrt else "",
        "formula": formula,
        "substituted": substituted,
        "value": value,
        "stages": stages,
        "note": quantity.note,
    }


def _same(text: str) -> str:
    return text


def view(walk: Walkthrough, mode: str, check: Any = None, history: Any = None, *,
         escape: Callable[[str], str] = _same, fw: Any = None) -> dict[str, Any]:  # fmt: skip
    """Plain strings for the templates: every line's label, derivation, formula, numbers and value.

    ``mode`` is "tex" (LaTeX math for pdflatex), "web" (LaTeX math for MathJax and latex2mathml) or "text"
    (Unicode for a terminal). ``escape`` is applied to every string the spec's author wrote (titles, names,
    keys), so that a template may print any value as it is; math strings are escaped by the notation.
    """
    net = walk.network
    fw = fw or writer(walk, mode)
    q = walk.quantities
    layered = _options.notation == "layered"

    def line(key: str) -> dict[str, Any] | None:
        return line_view(fw, q, key, mode, escape)

    def factors(keys: list[str]) -> list[dict[str, Any] | None]:
        """The derived factors that products multiply in: dnet_k/dout_j of a hidden neuron's paths."""
        return [line(a) for k in keys for a in q[k].args if q[a].kind == "factor"]

    def number(li: int) -> int:
        # Spec numbering counts weight layers from 1; the layered notation counts the input layer as 1.
        return li + 2 if layered else li + 1

    forward = [
        {"name": escape(net.layers[li].name), "number": number(li), "activation": net.layers[li].activation,
         "neurons": [{"name": escape(n.name), "j": j + 1, "net": line(n.net), "out": line(n.out),
                      "mask": line(n.mask), "kept": line(n.kept)}
                     for j, n in enumerate(row)]}
        for li, row in enumerate(walk.forward)
    ]  # fmt: skip
    backward = []
    for row in walk.backward:
        li = row[0].layer
        backward.append({
            "name": escape(net.layers[li].name),
            "layer": li,
            "number": number(li),
            "activation": net.layers[li].activation,
            "neurons": [
                {
                    "name": escape(nb.name),
                    "j": j + 1,
                    "factors": factors(nb.contributions or [nb.dE_dkept or nb.dE_dout]) if li < len(net.layers) - 1 else [],
                    "dE_dout": line(nb.dE_dout),
                    "contributions": [line(c) for c in nb.contributions],
                    # with dropout: dE/dout~ (the sum over downstream neurons) and dout~/dout = mask·scale
                    "dE_dkept": line(nb.dE_dkept),
                    "dkept_dout": line(nb.dkept_dout),
                    "dout_dnet": line(nb.dout_dnet),
                    "jacobian": [line(k) for k in nb.jacobian],
                    "delta": line(nb.delta),
                    "simplified": line(nb.simplified),
                }
                for j, nb in enumerate(row)
            ],
            "params": [
                {
                    "label": fw.label(p.label, mode),
                    "key": escape(p.label),
                    "kind": p.kind,
                    "neuron": escape(p.neuron),
                    # the one factor this parameter adds to its neuron's chain: dnet/dparam
                    "local": [line(p.factors[-1])] if p.factors else [line(c[-1]) for c in p.chains],
                    "gradient": line(p.gradient),
                    "new_value": line(p.update),
                }
                for p in walk.params
                if p.layer == li
            ],
        })
    summary = []
    for p in walk.params:
        summary.append({
            "label": fw.label(p.label, mode),
            "old": fw.number(q[p.label].value),
            "new": fw.number(q[p.update].value) if p.update else fw.number(q[p.label].value),
            "updated": bool(p.update),
        })
    return {
        "title": escape(net.title),
        "description": escape(net.description),
        "source": escape(net.source),
        "conventions": escape(walk.conventions.describe()),
        "layered": layered,
        "digits": fw.digits,
        "learning_rate": fw.number(net.learning_rate),
        "eta": fw.label("eta", mode),
        "update_biases": net.update_biases,
        "forward": forward,
        "loss_terms": [line(t) for t in walk.loss_terms],
        "loss": line(walk.loss),
        "backward": backward,
        "summary": summary,
        "loss_after": line(walk.loss_after),
        "forward_after": [[{"name": escape(n.name), "out": line(n.out)} for n in row] for row in walk.forward_after],
        "check": _check_view(check, fw, mode, escape) if check is not None else None,
    }


def _rel(x: float) -> str:
    # Below 1e-13 a relative difference is float noise that differs between machines; say so, not its digits.
    return "< 1e-13" if x < 1e-13 else f"{x:.1e}"


def _check_view(check: Any, fw, mode: str, escape: Callable[[str], str] = _same) -> dict[str, Any]:
    # 12 significant digits show the agreement and stay the same across libm versions, unlike repr().
    return {
        "ok": check.ok,
        "eps": f"{check.eps:.0e}",
        "notes": [escape(n) for n in check.notes],
        "rows": [
            {"param": escape(r.param), "label": fw.label(r.param, mode), "text_label": fw.label(r.param, "text"),
             "symbolic": f"{r.symbolic:.12g}", "numeric": f"{r.numeric:.12g}",
             "finite_difference": f"{r.finite_difference:.9g}",
             "rel_engines": _rel(r.symbolic_vs_numeric), "rel_fd": _rel(r.vs_finite_difference)}
            for r in check.rows
        ],
    }  # fmt: skip


def _history_view(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    n = len(history.loss_before)
    picks = sorted({0, 1, 9, 99, 999, 9999, n - 1} & set(range(n)))
    return {
        "steps": n,
        "rows": [{"step": k + 1, "before": repr(history.loss_before[k]), "after": repr(history.loss_after[k])} for k in picks],
        "final_loss": repr(history.final.loss),
        "final_outputs": [repr(float(v)) for v in history.final.outs[-1]],
    }


# -- escaping of the spec author's text, per output format ----------------------------------------------------

_MD_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;"}
_MD_PUNCT = set("\\`*_[]{}#|~^!")
_MD_LINE_START = re.compile(r"^(?:([-+=])|(\d+)([.)]))")


def md_escape(text: str) -> str:
    r"""Text for a Markdown line: no HTML, no math, no emphasis, links, lists or headings of its own.

    '$' becomes an entity, not '\$': GitHub would still pair an escaped dollar with a math delimiter.

    >>> print(md_escape("- a_b <i>$5</i> {{ 7*7 }}"), md_escape("1. x"))
    \- a\_b &lt;i&gt;&#36;5&lt;/i&gt; \{\{ 7\*7 \}\} 1\. x
    """
    flat = " ".join(text.split()) if "\n" in text else text.strip()
    out = "".join(_MD_HTML.get(c) or ("\\" + c if c in _MD_PUNCT else c) for c in flat)
    return _MD_LINE_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), out)


# -- rendering ------------------------------------------------------------------------------------------


def _tex_escape(text: str) -> str:
    from .notation import tex_escape

    return tex_escape(text)


_MODES = {"text": "text", "tex": "tex", "md": "web", "html": "web"}
_ESCAPES: dict[str, Callable[[str], str]] = {"text": _same, "tex": _tex_escape, "md": md_escape, "html": _same}


NO_VIEWS = {"matrix": None, "paths": None, "magnitudes": None}


def context(fmt: str, walk: Walkthrough, check: Any = None, history: Any = None, views: tuple[str, ...] = (),
            twin: tuple[str, Walkthrough] | None = None) -> dict[str, Any]:  # fmt: skip
    """What the template of ``fmt`` reads: the view model ``v``, the ``history``, the ``diagram`` and the
    ``views`` asked for (matrix, paths, magnitudes; the magnitudes beside a ``twin`` (name, walk) if given)."""
    from . import diagram

    mode = _MODES[fmt]
    fw = writer(walk, mode)
    layout = diagram.layout(walk, fw)
    if fmt == "text":
        figure = diagram.listing(layout, first=2 if _options.notation == "layered" else 1)
    else:
        figure = diagram.picture(layout) if fmt == "tex" else diagram.svg(layout)
    if fmt == "html":
        from markupsafe import Markup

        figure = Markup(figure)  # built from escaped parts by diagram.svg
    v = view(walk, mode, check, history, escape=_ESCAPES[fmt], fw=fw)
    extra = NO_VIEWS
    if views:
        from . import viewreport

        extra = viewreport.data(walk, views, mode, *(twin[::-1] if twin else ()))
    return {"v": v, "history": _history_view(history), "diagram": figure, "views": extra}


def _render_format(fmt: str, walk: Walkthrough, check: Any, history: Any, views=(), twin=None) -> str:
    return _render(TEMPLATES[fmt], context(fmt, walk, check, history, views, twin), autoescape=fmt == "html")


def render_text(walk: Walkthrough, check: Any = None, history: Any = None, views: tuple[str, ...] = (),
                twin: tuple[str, Walkthrough] | None = None) -> str:  # fmt: skip
    """A walk-through for a terminal: Unicode, no LaTeX."""
    return _render_format("text", walk, check, history, views, twin)


def render_markdown(walk: Walkthrough, check: Any = None, history: Any = None, views: tuple[str, ...] = (),
                    twin: tuple[str, Walkthrough] | None = None) -> str:  # fmt: skip
    """A walk-through for GitHub and Jupyter: math in $...$ and $$...$$, the network as inline SVG."""
    return _render_format("md", walk, check, history, views, twin)


def render_latex(walk: Walkthrough, check: Any = None, history: Any = None, views: tuple[str, ...] = (),
                 twin: tuple[str, Walkthrough] | None = None) -> str:  # fmt: skip
    """A standalone LaTeX document that pdflatex compiles with texlive-latex-base alone."""
    return _render_format("tex", walk, check, history, views, twin)


def render_html(walk: Walkthrough, check: Any = None, history: Any = None, views: tuple[str, ...] = (),
                twin: tuple[str, Walkthrough] | None = None) -> str:  # fmt: skip
    """One self-contained HTML file: MathML math, inline SVG and CSS, no script and no network access."""
    return _render_format("html", walk, check, history, views, twin)


def render_pdf(walk: Walkthrough, check: Any = None, history: Any = None, views: tuple[str, ...] = (),
               twin: tuple[str, Walkthrough] | None = None) -> bytes:  # fmt: skip
    """The LaTeX walk-through compiled by pdflatex, as PDF bytes."""
    return compile_pdf(render_latex(walk, check, history, views, twin))


# -- MathML for HTML -------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def mathml(tex: str, display: bool = False):
    """LaTeX math (web dialect) as MathML markup; each distinct string is converted once."""
    try:
        from latex2mathml.converter import convert
    except ImportError:
        raise TutorError("the HTML format needs latex2mathml; install it with: pip install latex2mathml") from None
    from markupsafe import Markup

    # latex2mathml builds the tree with ElementTree, which escapes every text node: the output is safe HTML.
    return Markup(convert(r"\displaystyle " + tex if display else tex, display="inline"))


# -- PDF ---------------------------------------------------------------------------------------------------

PDF_SOURCE_KEY = "BackpropTutorSource"
_PDF_SOURCE = re.compile(rb"/" + PDF_SOURCE_KEY.encode() + rb" *\(sha256:([0-9a-f]{64})\)")


def source_digest(tex: str) -> str:
    import hashlib

    return hashlib.sha256(tex.encode("utf-8")).hexdigest()


def pdf_source_digest(pdf: bytes) -> str | None:
    """The SHA-256 of the .tex a PDF of compile_pdf was built from (kept in its document information)."""
    m = _PDF_SOURCE.search(pdf)
    return m.group(1).decode() if m else None


def compile_pdf(tex: str, timeout: float = 120) -> bytes:
    """Run pdflatex on ``tex`` in a temporary folder (again while it asks for a rerun); return the PDF.

    The PDF records the SHA-256 of ``tex`` in its document information, and its dates are fixed, so the
    same ``tex`` gives the same bytes on the same TeX installation.
    """
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("pdflatex")
    if exe is None:
        raise TutorError("pdflatex not found; install texlive-latex-base")
    # Fixed dates make the output reproducible; openin/openout "p" keep TeX inside its folder and its own
    # trees even if an escaped string ever let a command through; shell escape is off.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "openin_any": "p", "openout_any": "p"}
    cmd = [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "-jobname=walkthrough",
           r"\pdfinfo{/" + PDF_SOURCE_KEY + " (sha256:" + source_digest(tex) + r")}\input{walkthrough.tex}"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="backprop-tutor-") as tmp:
        folder = Path(tmp)
        (folder / "walkthrough.tex").write_text(tex, encoding="utf-8")
        for _ in range(3):
            try:
                proc = subprocess.run(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                      timeout=timeout)  # fmt: skip
            except subprocess.TimeoutExpired:
                raise TutorError(f"pdflatex took more than {timeout:g} seconds") from None
            log_path = folder / "walkthrough.log"
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
            if proc.returncode != 0:
                errors = [l for l in log.splitlines() if l.startswith("!")]
                raise TutorError("pdflatex failed: " + (errors[0][1:].strip() if errors else f"exit status {proc.returncode}"))
            # longtable and hyperref settle in a second run; they say "Rerun" until they have.
            if "Rerun" not in log:
                break
        return (folder / "walkthrough.pdf").read_bytes()


# -- Jinja2 -------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _environment(autoescape: bool):
    import jinja2

    from .resources import data_dir

    builtin = jinja2.FileSystemLoader(str(data_dir("templates")))
    loaders: list[jinja2.BaseLoader] = []
    if _options.template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(_options.template_dir)))
    loaders.append(builtin)
    # "builtin/..." always names the shipped template, so an override can extend it block by block.
    loader = jinja2.PrefixLoader({"builtin": builtin}, delimiter="/")
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([loader, *loaders]),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fixed"] = format_fixed
    env.filters["mathml"] = mathml
    env.filters["tex"] = _tex_escape
    env.filters["md_escape"] = md_escape
    return env


def _bytecode_cache():
    """Compiled templates kept between runs, which saves a run most of its template time.

    Jinja2 keys each entry by the template's name and checks its source, so an edited or overriding
    template is compiled afresh; a cache folder that cannot be written only costs the compile.
    """
    import jinja2

    class _Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError):
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    if os.environ.get("BACKPROP_TUTOR_NO_CACHE"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(root) / "backprop-tutor" / f"jinja2-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _Cache(str(folder))


def _render(template: str, context: dict[str, Any], autoescape: bool = False) -> str:
    import jinja2

    try:
        return _environment(autoescape).get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TutorError(f"template {exc.name!r} not found in the template folders") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TutorError(f"template syntax error at line {exc.lineno}: {exc.message}", exc.filename or template) from None
    except jinja2.UndefinedError as exc:
        raise TutorError(f"template uses an undefined value: {exc.message}", template) from None
    except TutorError:
        raise
    except UnicodeDecodeError:
        raise TutorError("a template is not UTF-8 text", template) from None
    except Exception as exc:  # an override may fail in any way at render time: it is the user's input
        raise TutorError(f"the template failed: {type(exc).__name__}: {exc}", template) from None
