"""Class worksheets: numbered random variants, each a student sheet, an answer key and the full walk-through
(Markdown, LaTeX, PDF), and the same questions as a Moodle XML question bank.

Variant ``k`` of ``--seed S`` is the random network of seed ``S + k - 1``: ``backprop-tutor quiz --random
--seed S+k-1`` (with the same options) asks exactly the questions of its sheet.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..engine.steps import Walkthrough
from ..spec.errors import TutorError
from . import randomnet
from .diagnose import Tolerance
from .quiz import SECTION_TITLES, Question, givens, plain_value, questions

MAX_COUNT = 1000
FORMATS = ("md", "tex")


@dataclass(frozen=True)
class Variant:
    number: int
    made: randomnet.RandomNetwork
    walk: Walkthrough
    questions: list[Question]
    tolerance: Tolerance

    @property
    def seed(self) -> int:
        return self.made.seed


def check_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise TutorError(f"must be a whole number from 1 to {MAX_COUNT}, got {count!r}", "--count")
    return count


def variants(
    count: int, seed: int, options: randomnet.Options = randomnet.Options(), tolerance: Tolerance | None = None
) -> Iterator[Variant]:
    """Variants 1..count, from the networks of seeds seed..seed+count-1."""
    from ..engine.symbolic import explain_step

    check_count(count)
    randomnet.check_seed(seed)
    if seed + count - 1 > randomnet.MAX_SEED:
        raise TutorError(
            f"variant {count} would need seed {seed + count - 1}; the largest is {randomnet.MAX_SEED}", "--seed"
        )
    options = options.validated()
    tol = tolerance or Tolerance("dp", options.digits)
    for k in range(count):
        made = randomnet.make(seed + k, options)
        walk = explain_step(made.network)
        yield Variant(k + 1, made, walk, questions(walk, tol), tol)


# -- the sheets -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _environment():
    import jinja2

    from ..spec.resources import data_dir

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def sheet(v: Variant, fmt: str, key: bool = False, count: int | None = None) -> str:
    """The student sheet (the network and numbered blank answer boxes) or, with ``key``, its answer key: every
    box's formula, the numbers substituted and the value."""
    if fmt not in FORMATS:
        raise TutorError(f"unknown worksheet format {fmt!r}; allowed: {', '.join(FORMATS)}")
    return _environment().get_template(f"worksheet/sheet.{fmt}.j2").render(**_context(v, fmt, key, count))


def _context(v: Variant, fmt: str, key: bool, count: int | None) -> dict[str, Any]:
    from ..render.notation import FormulaWriter, Notation, tex_escape

    net, walk = v.made.network, v.walk
    notation = Notation(walk.labels, net.notation["updated"], dialect="web" if fmt == "md" else "latex")
    writer = FormulaWriter(notation, walk.values(), net.conventions.digits)
    if fmt == "md":
        # A '|' would end a Markdown table cell; \vert is the same bar to MathJax and KaTeX.
        def label(k: str) -> str:
            return notation.tex(k).replace("|", r"\vert ")

        def text(s: str) -> str:
            return s

        def code(s: str) -> str:
            return f"`{s}`"
    else:
        label = notation.tex

        def text(s: str) -> str:
            return tex_escape(s).replace("±", r"$\pm$")

        def code(s: str) -> str:
            return r"\texttt{" + tex_escape(s) + "}"

    def role(g) -> str:
        if g.kind == "weight":
            return f"${label(g.source)} \\to {label(g.neuron)}$"
        if g.kind in ("bias", "target"):
            return f"{g.kind} of ${label(g.neuron)}$"
        return {"input": "input", "rate": "learning rate"}[g.kind]

    sections = []
    for q in v.questions:
        if not sections or sections[-1]["name"] != q.section:
            sections.append({"name": q.section, "title": text(SECTION_TITLES[q.section]), "questions": []})
        quantity = walk.quantities[q.key]
        substituted = writer.substituted(quantity, "tex")
        sections[-1]["questions"].append(
            {
                "number": q.number,
                "label": label(q.key),
                "formula": writer.formula(quantity, "tex"),
                "substituted": "" if substituted == writer.number(q.value) else substituted,
                "value": q.shown,
            }
        )
    rule = {l.activation: l.rule.summary for l in net.layers}
    return {
        "key": key,
        "title": text(f"Backpropagation worksheet, variant {v.number}" + (f" of {count}" if count else "")),
        "seed": v.seed,
        "command": code(f"backprop-tutor quiz --random {v.made.command}"),
        "description": text(net.description),
        "givens": [
            {
                "title": text(t),
                "rows": [{"role": role(g), "label": label(g.key), "value": plain_value(g.value)} for g in items],
            }
            for t, items in givens(net)
        ],
        "activations": [code(f"{name}: {summary}") for name, summary in rule.items()],
        "loss": code(f"{net.loss}: {net.loss_rule.summary}"),
        "updates": text("Biases are updated too." if net.update_biases else "Biases are not updated."),
        "conventions": text(
            f"Round every value you compute to {net.conventions.digits} decimals and use the rounded "
            "value from then on; hidden deltas use the old weights."
        ),
        "grading": text(f"Answers are graded {v.tolerance.describe()}."),
        "sections": sections,
        "count": len(v.questions),
    }


# -- files ----------------------------------------------------------------------------------------------------


def write(
    directory: str | Path,
    items: Iterable[Variant],
    count: int,
    formats: Iterable[str] = FORMATS,
    pdf: bool = False,
    moodle: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write every variant under ``directory``: ``variant-NN/`` holds the student sheet, the answer key, the full
    walk-through (each in every format of ``formats``) and ``spec.toml``, to explain or quiz it again; the
    format "html" is the self-check page ``selfcheck.html`` instead."""
    from ..render import render_latex, render_markdown

    handout = {"md": render_markdown, "tex": render_latex}
    root = Path(directory)
    if pdf:
        _pdflatex()
    if root.exists() and not root.is_dir():
        raise TutorError("exists and is not a folder; give a folder for the worksheets", f"-o {root}")
    formats = tuple(formats)
    width = max(2, len(str(count)))
    written: list[Path] = []
    kept: list[Variant] = []
    try:
        for v in items:
            folder = root / f"variant-{v.number:0{width}d}"
            folder.mkdir(parents=True, exist_ok=True)
            files = {"spec.toml": randomnet.to_toml(v.made.spec)}
            for fmt in formats:
                if fmt == "html":  # the questions as answer boxes that the page grades itself, offline
                    files["selfcheck.html"] = self_check(v)
                    continue
                files[f"sheet.{fmt}"] = sheet(v, fmt, key=False, count=count)
                files[f"key.{fmt}"] = sheet(v, fmt, key=True, count=count)
                # the key gives each numbered box its formula, numbers and value; this is the step's handout
                files[f"walkthrough.{fmt}"] = handout[fmt](v.walk)
            for name, content in files.items():
                (folder / name).write_text(content, encoding="utf-8")
                written.append(folder / name)
            if moodle is not None:
                kept.append(v)
            if progress is not None:
                progress(v.number)
        if moodle is not None:
            from .moodle import moodle_xml

            Path(moodle).write_bytes(moodle_xml(kept))
            written.append(Path(moodle))
    except OSError as exc:
        raise TutorError(f"cannot write the file ({exc.strerror})", exc.filename or str(root)) from None
    if pdf:
        written += compile_all([p for p in written if p.suffix == ".tex"])
    return written


def self_check(v: Variant) -> str:
    """The variant's self-check page: the questions of ``quiz --random --seed`` as answer boxes, graded offline."""
    from .quiz import Quiz
    from .selfcheck import page

    origin = {"seed": v.seed, "command": f"backprop-tutor quiz --random {v.made.command}"}
    return page(Quiz(v.made.network, v.tolerance, origin=origin))


def compile_all(paths: list[Path], workers: int | None = None) -> list[Path]:
    """pdflatex on every file, a few at a time (each run is one process on one core)."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPool(workers) as pool:
        return pool.map(compile_pdf, paths)


def _pdflatex() -> None:
    if shutil.which("pdflatex") is None:
        raise TutorError("pdflatex is not installed (Debian: apt-get install texlive-latex-base)", "--pdf")


def compile_pdf(tex: Path) -> Path:
    """The PDF of ``tex``, written beside it (pdflatex runs in a temporary folder: no auxiliary files here)."""
    from ..render import compile_pdf as pdflatex

    try:
        pdf = pdflatex(Path(tex).read_text(encoding="utf-8"))
    except TutorError as exc:
        raise TutorError(exc.message, str(tex)) from None
    out = Path(tex).with_suffix(".pdf")
    out.write_bytes(pdf)
    return out
