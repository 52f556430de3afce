"""Class worksheets: numbered random variants, each a student sheet, an answer key and the full walk-through
(Markdown, LaTeX, PDF), and the same questions for an LMS (Moodle XML Cloze or bank, GIFT, Canvas QTI). The
sheets go to a folder of their own (``students/``), apart from the keys, walk-throughs and the lecturer's files.

Variant ``k`` of ``--seed S`` is the random network of seed ``S + k - 1``: ``backprop-tutor quiz --random
--seed S+k-1`` (with the same options) asks exactly the boxes of its sheet. That command is printed on the
answer key only: its ``s`` key shows every answer.

The variants also make a Numbas exam (``numbas.py``), which marks each box on the student's earlier answers.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..engine.steps import MapWalk, Walkthrough
from ..spec.errors import TutorError
from . import randomnet, variantcode
from .diagnose import Tolerance
from .grading import rule_statement
from .quiz import (
    SECTION_TITLES,
    STEP_SECTIONS,
    Question,
    activations_by_layer,
    aim,
    drawing,
    givens,
    plain_value,
    questions,
    step_words,
)

MAX_COUNT = 1000
FORMATS = ("md", "tex")


@dataclass(frozen=True)
class Variant:
    number: int
    made: randomnet.RandomNetwork
    walk: Walkthrough
    questions: list[Question]  # the boxes, numbered from 1
    tolerance: Tolerance
    all_questions: tuple[Question, ...] = ()  # every quantity of the step, boxes or not
    spec: str = ""  # a sheet of a spec (worksheet --spec): its file or built-in example, instead of a seed
    training: bool = False  # the walk is a training step's (several examples, batch normalization, ...)
    start: Walkthrough | None = None  # for a training step: the network with its first example, to draw
    code: str = ""  # the opaque variant code students see instead of the seed (see variantcode)

    @property
    def quiz_command(self) -> str:
        """The terminal quiz that asks exactly these boxes."""
        blanks = "".join(f" --section {s}" for s in self.blanks)
        if self.spec:
            import shlex

            return f"backprop-tutor quiz {shlex.quote(self.spec)}{blanks}"
        return f"backprop-tutor quiz --random {self.made.command}{blanks}"

    @property
    def blanks(self) -> tuple[str, ...]:
        sections = tuple(dict.fromkeys(q.section for q in self.questions))
        every = tuple(dict.fromkeys(q.section for q in self.all_questions))
        return () if sections == every else sections

    @property
    def seed(self) -> int | None:
        return self.made.seed


@dataclass(frozen=True)
class SpecNetwork:
    """The network of a spec, in the place of a variant's random network."""

    network: Any
    seed: None = None


def spec_variant(net, spec: str, tolerance: Tolerance | None = None, blanks: tuple[str, ...] = ()) -> Variant:
    """The sheet of a network spec (``worksheet --spec``): the boxes ``backprop-tutor quiz SPEC`` asks, with
    the spec's digits rounded and carried as printed (as the sheet tells the student). A spec with several
    examples or other training settings asks its first training step (``tutor.engine.walks.step_walk``)."""
    from ..engine.walks import plain, step_walk

    net = net.with_conventions(rounding="as-printed")
    training = not plain(net)
    walk = step_walk(net)  # a plain step's walk-through, a training step's, or the walk by layers
    tolerance = tolerance or Tolerance("dp", net.conventions.digits)
    every = questions(walk, tolerance, training)
    boxes = aim(every, blanks, where="worksheet --blanks")
    start = drawing(net) if training else None
    return Variant(1, SpecNetwork(net), walk, boxes, tolerance, tuple(every), spec=spec, training=training, start=start)


def spec_files(v: Variant, formats: Iterable[str] = FORMATS) -> dict[str, str]:
    """The files of a spec's sheet: the student sheet, the answer key and the walk-through in each format
    (and the drawing the Markdown sheet shows)."""
    from ..render.training import documents

    out: dict[str, str] = {}
    formats = tuple(formats)
    if "md" in formats:
        out["diagram.svg"] = diagram_svg(v)
    for fmt in formats:
        out[f"sheet.{fmt}"] = sheet(v, fmt, key=False)
        out[f"key.{fmt}"] = sheet(v, fmt, key=True)
    if v.training:
        texts = documents(formats, v.made.network, 0, {1}, explain=True)[1]
    elif isinstance(v.walk, MapWalk):  # convolution, pooling, recurrence: the walk by layers
        from ..render import maps

        texts = {fmt: maps.render(v.walk, fmt) for fmt in formats}
    else:
        from ..render import render_latex, render_markdown

        texts = {fmt: {"md": render_markdown, "tex": render_latex}[fmt](v.walk) for fmt in formats}
    for fmt in formats:
        out[f"walkthrough.{fmt}"] = texts[fmt]
    return out


def check_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise TutorError(f"must be a whole number from 1 to {MAX_COUNT}, got {count!r}", "--count")
    return count


def parse_blanks(text: str | None) -> tuple[str, ...]:
    """``--blanks``: the sections whose quantities become boxes, comma-separated ("all", the default, for every
    one); the other quantities are printed with their values."""
    if text is None or text.strip() == "all":
        return ()
    parts = tuple(dict.fromkeys(p.strip() for p in str(text).split(",")))
    for p in parts:
        if p not in STEP_SECTIONS:
            raise TutorError(
                f"no section {p[:30]!r}; allowed: all or a comma list of {', '.join(STEP_SECTIONS)}", "--blanks"
            )
    return parts


@dataclass(frozen=True)
class Variants:
    """Variants 1..count, from the networks of seeds seed..seed+count-1: a recipe that makes variant ``k`` on
    its own, so that a worker process can make any of them (see ``write``). Iterating makes them in order."""

    count: int
    seed: int
    options: randomnet.Options = randomnet.Options()
    tolerance: Tolerance | None = None
    blanks: tuple[str, ...] = ()
    secret: str = field(default="", repr=False)  # the lecturer's key to the variant codes (see variantcode)

    def __post_init__(self) -> None:
        check_count(self.count)
        randomnet.check_seed(self.seed)
        if self.seed + self.count - 1 > randomnet.MAX_SEED:
            raise TutorError(
                f"variant {self.count} would need seed {self.seed + self.count - 1}; the largest is "
                f"{randomnet.MAX_SEED}",
                "--seed",
            )
        object.__setattr__(self, "options", self.options.validated())
        object.__setattr__(self, "tolerance", self.tolerance or Tolerance("dp", self.options.digits))

    def make(self, k: int) -> Variant:
        """Variant ``k`` (1..count)."""
        from ..engine.symbolic import explain_step

        made = randomnet.make(self.seed + k - 1, self.options)
        walk = explain_step(made.network)
        every = questions(walk, self.tolerance)
        boxes = aim(every, self.blanks, where="worksheet --blanks")
        code = variantcode.code(self.secret, made.seed) if self.secret else ""
        return Variant(k, made, walk, boxes, self.tolerance, tuple(every), code=code)

    def __iter__(self) -> Iterator[Variant]:
        return (self.make(k) for k in range(1, self.count + 1))


def variants(
    count: int,
    seed: int,
    options: randomnet.Options = randomnet.Options(),
    tolerance: Tolerance | None = None,
    blanks: tuple[str, ...] = (),
) -> Iterator[Variant]:
    """Variants 1..count, from the networks of seeds seed..seed+count-1; the quantities of the sections in
    ``blanks`` (all when empty) become boxes, except those that only copy a value."""
    yield from Variants(count, seed, options, tolerance, blanks)


# -- the sheets -----------------------------------------------------------------------------------------------


def sheet(v: Variant, fmt: str, key: bool = False, count: int | None = None) -> str:
    """The student sheet (the network and numbered blank answer boxes) or, with ``key``, its answer key: every
    box's formula, the numbers substituted and the value."""
    if fmt not in FORMATS:
        raise TutorError(f"unknown worksheet format {fmt!r}; allowed: {', '.join(FORMATS)}")
    from ..render.templates import shipped_template

    # the shipped templates' environment: compiled once and kept between runs (its bytecode cache)
    return shipped_template(f"worksheet/sheet.{fmt}.j2").render(**_context(v, fmt, key, count))


# The sheet and its key share everything but the key's own lines: the last variant's shared part, per format.
_SHARED: dict[tuple[int, str, int | None], tuple[Variant, dict[str, Any]]] = {}


def _context(v: Variant, fmt: str, key: bool, count: int | None) -> dict[str, Any]:
    entry = _SHARED.get((id(v), fmt, count))
    if entry is None or entry[0] is not v:
        if len(_SHARED) > 8:
            _SHARED.clear()
        entry = _SHARED[id(v), fmt, count] = (v, _shared_context(v, fmt, count))
    # the practice command asks (and with 's' shows) every answer: it goes on the key only
    return {**entry[1], "key": key, "command": _code(v.quiz_command, fmt) if key else ""}


def _code(s: str, fmt: str) -> str:
    from ..render.notation import tex_escape

    if fmt != "md":
        return r"\texttt{" + tex_escape(s) + "}"
    # a code span shows its text as it is (a file name's '<' or '$' too); its fence is one backtick longer
    # than any run of them inside, so a name with a backtick cannot end it
    fence = "`" * (max((len(r) for r in re.findall("`+", s)), default=0) + 1)
    return f"{fence} {s} {fence}" if "`" in s else f"`{s}`"


def _shared_context(v: Variant, fmt: str, count: int | None) -> dict[str, Any]:
    from ..render.notation import FormulaWriter, Notation, tex_escape
    from ..render.templates import md_escape

    net, walk = v.made.network, v.walk
    notation = Notation(walk.labels, net.notation["updated"], dialect="web" if fmt == "md" else "latex")
    writer = FormulaWriter(notation, walk.values(), net.conventions.digits)
    if fmt == "md":
        # A '|' would end a Markdown table cell; \vert is the same bar to MathJax and KaTeX.
        def label(k: str) -> str:
            return notation.tex(k).replace("|", r"\vert ")

        def text(s: str) -> str:
            # a spec's title and file name reach the sheet: no HTML, math or emphasis of their own
            return md_escape(s)
    else:
        label = notation.tex

        def text(s: str) -> str:
            return tex_escape(s).replace("±", r"$\pm$")

    def role(g) -> str:
        if g.kind in ("weight", "bias") and not g.neuron:  # a kernel's or a recurrent layer's: read everywhere
            return g.kind
        if g.kind == "weight":
            return f"${label(g.source)} \\to {label(g.neuron)}$"
        if g.kind in ("bias", "target"):
            return f"{g.kind} of ${label(g.neuron)}$"
        if g.kind in ("scale", "shift"):
            return f"{'scale' if g.kind == 'scale' else 'shift'} of ${label(g.neuron)}$"
        return {"input": "input", "rate": "learning rate" if g.key == "eta" else "given", "state": "state before"}.get(
            g.kind, "given"
        )

    boxes = {q.key: q.number for q in v.questions}
    every = list(v.all_questions or v.questions)
    last = max(i for i, q in enumerate(every) if q.key in boxes)
    answers = _answers(v)
    approx = " ≈ " if fmt == "md" else r" \approx "
    sections = []
    for i, q in enumerate(every):
        if q.key not in boxes and i > last:
            continue  # after the last box nothing is needed, and its values would give earlier boxes away
        if not sections or sections[-1]["name"] != q.section:
            sections.append({"name": q.section, "title": text(SECTION_TITLES[q.section]), "questions": []})
        quantity = walk.quantities[q.key]
        substituted = writer.substituted(quantity, "tex")
        sections[-1]["questions"].append(
            {
                "number": boxes.get(q.key, ""),
                "box": q.key in boxes,
                "label": label(q.key),
                "formula": writer.formula(quantity, "tex"),
                "substituted": "" if substituted == writer.number(q.value) else substituted,
                # the carried value, and the answer when the tolerance rounds it otherwise (3sf): the key states
                # the same key as every export
                "value": q.shown + (approx + answers[q.key] if q.key in answers else ""),
                # a value that only copies another is written as what it copies: its number could be a box's
                "copies": q.copies,
            }
        )
    for s in sections:
        s["boxes"] = sum(q["box"] for q in s["questions"])
    from ..render import diagram

    def drawing():
        if v.start is not None:  # the drawing of a training step: the network with its first example
            start = v.start
            return diagram.layout(
                start,
                FormulaWriter(
                    Notation(start.labels, net.notation["updated"], dialect=notation.dialect),
                    start.values(),
                    net.conventions.digits,
                ),
            )
        return diagram.layout(walk, writer)

    def picture() -> str:
        if isinstance(walk, MapWalk):  # the given feature maps and kernels as grids
            from ..render.maps import given_grids_tex

            return given_grids_tex(walk)
        return diagram.picture(drawing())

    activations = [
        {
            "name": text(name),
            "layers": text(("layers " if len(which) > 1 else "layer ") + ", ".join(map(str, which))),
            "f": f,
            "df": df,
        }
        for name, which, (f, df) in activations_by_layer(net)
    ]
    loss_lines = [f"{label(walk.loss)} = {writer.formula(walk.quantities[walk.loss], 'tex')}"]
    loss_lines += [f"{label(t)} = {writer.formula(walk.quantities[t], 'tex')}" for t in walk.loss_terms]
    if v.training:  # the first example's own loss, beside the batch's
        first = [k for k, q in walk.quantities.items() if q.kind in ("loss", "loss_term") and k.endswith("[e1]")]
        loss_lines += [f"{label(k)} = {writer.formula(walk.quantities[k], 'tex')}" for k in first]
    if v.spec:
        title = f"Backpropagation worksheet: {net.title}"
        source = f"Spec {v.spec}."
        what = "one training step" if not v.training else step_words(net, walk)
        description = f"A {'-'.join(map(str, net.shape))} network, {what}."
    else:
        title = f"Backpropagation worksheet, variant {v.number}" + (f" of {count}" if count else "")
        # never the seed, from which the key can be made again: the code, which only the lecturer can map back
        source = f"Variant code {v.code}." if v.code else ""
        description = f"A {'-'.join(map(str, net.shape))} network, one training step."
    return {
        "title": text(title),
        "seed": v.seed,
        "source": text(source),
        "description": text(description),
        # Markdown links the SVG file written beside it (diagram_svg); LaTeX draws the picture itself
        "diagram": "diagram.svg" if fmt == "md" else picture(),
        "givens": [
            {
                "title": text(t.split(" (loss")[0]),
                "rows": [{"role": role(g), "label": label(g.key), "value": plain_value(g.value)} for g in items],
            }
            for t, items in givens(net, walk if v.training else None)
        ],
        "activations": activations,
        "loss_title": text(net.loss_rule.title or net.loss),
        "loss": loss_lines,
        "updates": text("Biases are updated too." if net.update_biases else "Biases are not updated."),
        # the rule the key and every LMS export follow (the grading core's statement of it)
        "conventions": text(rule_statement(v.tolerance, net.conventions.digits)),
        "grading": text("Hidden deltas use the old weights."),
        "sections": sections,
        "count": len(v.questions),
    }


def _answers(v: Variant) -> dict[str, str]:
    """The boxes whose answer, by the tolerance's rounding, is not their carried value as shown (--tolerance
    3sf, or other decimals): the grading core's key of each."""
    digits = v.made.network.conventions.digits
    if v.tolerance.mode == "dp" and v.tolerance.places == digits:
        return {}
    from .grading import Grader

    grader = Grader(v.walk, v.tolerance, asked=[q.key for q in v.questions], digits=digits)
    out = {}
    for q in v.questions:
        key = grader.sheet_key(q.key).shown
        if key != q.shown:
            out[q.key] = key
    return out


def diagram_svg(v: Variant) -> str:
    from dataclasses import replace

    from .lms import diagram_svg as svg

    return svg(replace(v, walk=v.start) if v.start is not None else v)


# -- files ----------------------------------------------------------------------------------------------------


MANIFEST = ".backprop-tutor-worksheet.json"  # what the last run wrote here: only those files are overwritten


STUDENTS = "students"  # the folder a lecturer hands out whole: the sheets and their drawings, nothing else


def student_file(name: str) -> bool:
    """Whether a variant's file goes to the students' folder: a sheet (any format) and the drawing it links."""
    return name.startswith("sheet.") or name == "diagram.svg"


def planned_files(count: int, formats: Iterable[str], pdf: bool) -> dict[str, list[str]]:
    """Every file a run writes, by folder (relative to the output folder): ``variant-NN/`` the lecturer's (the
    answer key, the walk-through, the spec, the self-check page, which grades and so holds every answer) and
    ``students/variant-NN/`` the student's sheet with its drawing."""
    width = max(2, len(str(count)))
    names = ["spec.toml"]
    formats = tuple(formats)
    if "md" in formats:
        names.append("diagram.svg")  # the key links it too
    for fmt in formats:
        if fmt == "html":
            names.append("selfcheck.html")
            continue
        names += [f"sheet.{fmt}", f"key.{fmt}", f"walkthrough.{fmt}"]
        if pdf and fmt == "tex":
            names += ["sheet.pdf", "key.pdf", "walkthrough.pdf"]
    plan = {}
    for k in range(1, count + 1):
        folder = f"variant-{k:0{width}d}"
        plan[folder] = [n for n in names if not n.startswith("sheet.")]
        students = [n for n in names if student_file(n)]
        if any(n.startswith("sheet.") for n in students):
            plan[f"{STUDENTS}/{folder}"] = students
    return plan


def _read_manifest(root: Path) -> set[str]:
    import json

    path = root / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and not path.is_symlink() else {}
    except (OSError, ValueError):
        data = {}
    files = data.get("files", []) if isinstance(data, dict) else []
    return {f for f in files if isinstance(f, str)}


def _export_entry(root: Path, option: str, path: str | Path) -> str:
    """The manifest's line of an export file ("moodle:", "gift:" or "qti:" and its path relative to the folder,
    so that the same run in another folder writes the same bytes)."""
    return f"{option.lstrip('-')}:" + os.path.relpath(Path(path).resolve(), root.resolve())


def check_outputs(
    root: Path, plan: dict[str, list[str]], exports: dict[str, str | Path | None] | str | Path | None, force: bool
) -> tuple[set[str], list[str]]:
    """Refuse, before anything is written, what would overwrite a file this tool did not write (unless
    ``force``), write through a symlink, or land in a missing folder; an export file (``--moodle``, ``--gift``,
    ``--qti``) may be neither a file of the variants, the manifest, nor another export of the same run.
    Returns the old manifest and the stale variant folders of an earlier run to remove."""
    if not isinstance(exports, dict):  # the Moodle file alone, as earlier callers give it
        exports = {"--moodle": exports}
    if root.is_symlink() and not root.is_dir():
        raise TutorError("is a symbolic link that leads nowhere; give a folder", f"-o {root}")
    if root.exists() and not root.is_dir():
        raise TutorError("exists and is not a folder; give a folder for the worksheets", f"-o {root}")
    ours = _read_manifest(root) if root.is_dir() else set()
    hint = "; give an empty folder, or --force to overwrite"
    ups: set[str] = set()
    for folder, names in plan.items():
        d = root / folder
        if "/" in folder and folder.rsplit("/", 1)[0] not in ups:  # students/variant-NN: the students' folder
            ups.add(folder.rsplit("/", 1)[0])  # itself is checked as well (once)
            up = root / folder.rsplit("/", 1)[0]
            if up.is_symlink():
                raise TutorError(
                    "is a symbolic link; the worksheet writes real folders only, not through links", str(up)
                )
            if up.exists() and not up.is_dir():
                raise TutorError("exists and is not a folder" + hint, str(up))
        if d.is_symlink():
            raise TutorError("is a symbolic link; the worksheet writes real folders only, not through links", str(d))
        if not d.exists():
            continue  # a folder still to be made holds none of the files
        if not d.is_dir():
            raise TutorError("exists and is not a folder" + hint, str(d))
        for name in names:
            f = d / name
            if f.is_symlink():
                raise TutorError("is a symbolic link; the worksheet does not write through links", str(f))
            if f.exists() and f"{folder}/{name}" not in ours and not force:
                raise TutorError("exists and was not written by backprop-tutor worksheet" + hint, str(f))
    # no folder or file of the plan is a link (refused above): each resolves to its place under the resolved root
    real = root.resolve()
    ours_files = {real / folder / name: f"{folder}/{name}" for folder, names in plan.items() for name in names}
    ours_files[real / MANIFEST] = MANIFEST
    taken: dict[Path, str] = {}
    for option, path in exports.items():
        if path is None:
            continue
        m = Path(path)
        place = f"{option} {_short(str(m))}"
        r = m.resolve()
        if r in ours_files:
            raise TutorError(f"is one of the files the worksheet writes ({ours_files[r]})", place)
        if r in taken:
            raise TutorError(f"is also given to {taken[r]}; give each export its own file", place)
        taken[r] = option
        if not m.parent.is_dir() and m.parent.resolve() != root.resolve():  # the output folder is made first
            raise TutorError("its folder does not exist; give a file in an existing folder", place)
        if m.is_dir():
            raise TutorError("is a folder; give a file name for the questions", place)
        if m.is_symlink():
            raise TutorError("is a symbolic link; the worksheet does not write through links", place)
        rel = _export_entry(root, option, m).split(":", 1)[1]
        # an export of an earlier run
        earlier = any(f"{kind}:{rel}" in ours for kind in ("moodle", "gift", "qti", "numbas"))
        if m.exists() and not force and not earlier:
            raise TutorError(
                "exists and was not written by backprop-tutor worksheet; give another file, or --force to overwrite",
                place,
            )
    stale = sorted({f.rsplit("/", 1)[0] for f in ours if "/" in f} - set(plan))
    stale = [f for f in stale if re.fullmatch(rf"(?:{STUDENTS}/)?variant-[0-9]+", f)]
    return ours, stale


class _folder_lock:
    """An exclusive lock on the output folder (made when missing) for one run; another run that holds it makes
    this one a one-line refusal. Without ``fcntl`` (Windows) nothing is locked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd: int | None = None
        self.made = False

    def __enter__(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        if self.root.is_symlink() or (self.root.exists() and not self.root.is_dir()):
            if not self.root.is_dir():
                return  # check_outputs says what is wrong with it
        try:
            if not self.root.exists():
                self.root.mkdir(parents=True)
                self.made = True
            self.fd = os.open(self.root, os.O_RDONLY)
        except OSError as exc:
            raise TutorError(
                f"cannot make or open the folder ({exc.strerror})", f"-o {_short(str(self.root))}"
            ) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            self._tidy()
            raise TutorError(
                "another backprop-tutor worksheet is writing into this folder; run again when it has ended",
                f"-o {_short(str(self.root))}",
            ) from None

    def __exit__(self, kind, exc, tb) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
        if kind is not None:
            self._tidy()

    def _tidy(self) -> None:
        if self.made:  # a refused run leaves no empty folder of its own behind
            try:
                self.root.rmdir()
            except OSError:
                pass


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def write(
    directory: str | Path,
    items: Iterable[Variant],
    count: int,
    formats: Iterable[str] = FORMATS,
    pdf: bool = False,
    moodle: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    force: bool = False,
    moodle_style: str = "cloze",
    gift: str | Path | None = None,
    qti: str | Path | None = None,
    numbas: str | Path | None = None,
    numbas_compiler: Path | None = None,
) -> list[Path]:
    """Write every variant under ``directory``: ``students/variant-NN/`` holds the student sheet (in every format
    of ``formats``) and its drawing, a folder to hand out whole; ``variant-NN/`` the answer key, the full
    walk-through and ``spec.toml``, to explain or quiz it again, and for the format "html" the self-check page
    ``selfcheck.html`` (which grades, so holds every answer). The lecturer's secret and codes' map are 0600.

    Every output path is checked first (see ``check_outputs``); a manifest in the folder lists what was written,
    so a later run may overwrite those files and removes the variant folders it no longer writes. The folder is
    locked while the run writes: a second run into it at the same time is refused, not mixed in."""
    root = Path(directory)
    if pdf:
        _pdflatex()
    formats = tuple(formats)
    plan = planned_files(count, formats, pdf)
    with _folder_lock(root):
        return _write_locked(
            root,
            items,
            count,
            formats,
            pdf,
            plan,
            {"--moodle": moodle, "--gift": gift, "--qti": qti, "--numbas": numbas},
            progress,
            force,
            moodle_style,
            numbas_compiler,
        )


def _write_locked(
    root, items, count, formats, pdf, plan, exports, progress, force, moodle_style, numbas_compiler=None
) -> list[Path]:
    import json

    from ..spec.resources import write_file

    moodle, gift, qti, numbas = exports["--moodle"], exports["--gift"], exports["--qti"], exports["--numbas"]
    lecturer = _lecturer_files(root, items)
    if lecturer:  # the codes' map, and the secret when this run made it: in the output folder itself
        plan = {**plan, ".": list(lecturer)}
    ours, stale = check_outputs(root, plan, exports, force)
    width = max(2, len(str(count)))
    written: list[Path] = []
    listed = [f"{folder}/{name}" for folder, names in plan.items() for name in names]
    if lecturer and variantcode.SECRET_FILE not in lecturer:  # kept from an earlier run: still the lecturer's
        listed.append(f"./{variantcode.SECRET_FILE}")
    listed += [_export_entry(root, option, path) for option, path in exports.items() if path is not None]

    def manifest(files) -> None:
        write_file(root / MANIFEST, json.dumps({"tool": "backprop-tutor worksheet", "files": files}, indent=1) + "\n")

    asked = (("moodle", moodle, moodle_style), ("gift", gift, ""), ("qti", qti, ""), ("numbas", numbas, ""))
    exports = {name: style for name, path, style in asked if path is not None}
    shares: list[dict[str, Any]] = []
    made: set[str] = set()  # the folders made (or found) so far
    try:
        started = False
        for number, files, share in _made(items, formats, count, exports):
            folder = f"variant-{number:0{width}d}"
            if not started:  # a run that stops half-way still knows these files are its own
                manifest(sorted(ours | set(listed)))
                started = True
            for name, content in files.items():
                # the sheet in the students' folder only; its drawing in both (the key links it too)
                for place in (f"{STUDENTS}/{folder}", folder):
                    if name in plan.get(place, ()):
                        if place not in made:
                            (root / place).mkdir(parents=True, exist_ok=True)
                            made.add(place)
                        write_file(root / place / name, content)
                        written.append(root / place / name)
            shares.append(share)
            if progress is not None:
                progress(number)
        for name, content in lecturer.items():  # the secret and the codes' map: the lecturer's alone
            write_file(root / name, content, private=True)
            written.append(root / name)
        if lecturer and variantcode.SECRET_FILE not in lecturer:
            os.chmod(root / variantcode.SECRET_FILE, 0o600)  # one kept from an earlier run: private as well
        # each export put together from the variants' shares, which were made beside their files
        if moodle is not None:
            from .moodle import moodle_document

            write_file(Path(moodle), moodle_document((s["moodle"] for s in shares), moodle_style))
            written.append(Path(moodle))
        if gift is not None:
            from .gift import gift_document

            write_file(Path(gift), gift_document(s["gift"] for s in shares))
            written.append(Path(gift))
        if qti is not None:
            from .qti import package_of

            write_file(Path(qti), package_of(s["qti"] for s in shares))
            written.append(Path(qti))
        if numbas is not None:
            from .numbas import document

            write_file(Path(numbas), document([s["numbas"] for s in shares], Path(numbas), numbas_compiler))
            written.append(Path(numbas))
    except OSError as exc:
        raise TutorError(f"cannot write the file ({exc.strerror})", exc.filename or str(root)) from None
    if pdf:
        written += compile_all([p for p in written if p.suffix == ".tex"])
    for folder in stale:  # an earlier run's variants beyond this count: only the files it wrote
        d = root / folder
        if d.is_symlink() or not d.is_dir():
            continue
        for f in [x for x in ours if x.startswith(folder + "/") and ".." not in x.split("/")]:
            p = root / f
            if p.is_file() or p.is_symlink():
                p.unlink()
        try:
            d.rmdir()
        except OSError:
            pass  # the user put something of their own there: keep it
    if stale and (root / STUDENTS).is_dir() and not any((root / STUDENTS).iterdir()):
        (root / STUDENTS).rmdir()  # this run wrote no sheets (--format html): no empty students' folder is left
    manifest(listed)
    return written


def _lecturer_files(root: Path, items: Iterable[Variant]) -> dict[str, str]:
    """The files that map the variant codes back to seeds: the codes' table, and the secret when the output
    folder does not hold it yet (an existing one is read, never written again)."""
    if not isinstance(items, Variants) or not items.secret:
        return {}
    rows = []
    for k in range(1, items.count + 1):
        seed = items.seed + k - 1
        blanks = "".join(f" --section {b}" for b in items.blanks)
        command = f"backprop-tutor quiz --random --seed {seed} {items.options.describe()}{blanks}"
        rows.append((k, variantcode.code(items.secret, seed), seed, command))
    out = {variantcode.CODES_FILE: variantcode.codes_csv(rows)}
    if variantcode.read_secret(root) != items.secret:
        out[variantcode.SECRET_FILE] = items.secret + "\n"
    return out


def files(v: Variant, formats: Iterable[str], count: int | None) -> dict[str, str]:
    """The files of one variant's folder, by name."""
    from ..render import render_latex, render_markdown

    handout = {"md": render_markdown, "tex": render_latex}
    out = {"spec.toml": randomnet.to_toml(v.made.spec)}
    if "md" in formats:
        out["diagram.svg"] = diagram_svg(v)
    for fmt in formats:
        if fmt == "html":  # the questions as answer boxes that the page grades itself, offline
            out["selfcheck.html"] = self_check(v)
            continue
        out[f"sheet.{fmt}"] = sheet(v, fmt, key=False, count=count)
        out[f"key.{fmt}"] = sheet(v, fmt, key=True, count=count)
        # the key gives each numbered box its formula, numbers and value; this is the step's handout
        out[f"walkthrough.{fmt}"] = handout[fmt](v.walk)
    return out


# From this many variants on, worker processes make them side by side (forked: they start with every module the
# parent has imported, so a worker costs no import); the files are the same bytes in the same order either way.
PARALLEL_FROM = 16


def workers() -> int:
    """How many processes make variants: the cores this process may use, at most 4; 1 where fork is missing."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def export_share(v: Variant, exports: dict[str, str]) -> dict[str, Any]:
    """One variant's share of each LMS export asked for (``exports``: "moodle" with its style, "gift", "qti",
    "numbas"), made where the variant is, so that worker processes make the exports' parts beside the files."""
    out: dict[str, Any] = {}
    if "moodle" in exports:
        from .moodle import moodle_part

        out["moodle"] = moodle_part(v, style=exports["moodle"])
    if "gift" in exports:
        from .gift import gift_part

        out["gift"] = gift_part(v)
    if "qti" in exports:
        from .qti import qti_part

        out["qti"] = qti_part(v)
    if "numbas" in exports:
        from .numbas import question

        out["numbas"] = question(v)
    return out


def _made(
    items: Iterable[Variant], formats: tuple[str, ...], count: int, exports: dict[str, str]
) -> Iterator[tuple[int, dict[str, str], dict[str, Any]]]:
    """(number, files, its share of the LMS exports) for every variant, in order."""
    n = workers()
    if isinstance(items, Variants) and n > 1 and items.count >= PARALLEL_FROM:
        import gc
        import multiprocessing

        # The first variant is made here: the workers are forked with what it warmed up (SymPy's caches, the
        # derived forms, the compiled templates) instead of each warming up itself, and with the collector's
        # objects frozen so that it does not copy every page of the parent into each worker.
        yield _variant_files(items, formats, count, exports, 1)
        gc.freeze()
        pool = multiprocessing.get_context("fork").Pool(n, initializer=_worker_signals)
        try:
            work = partial(_variant_files, items, formats, count, exports)
            rest = range(2, items.count + 1)
            yield from pool.imap(work, rest, chunksize=max(1, min(8, len(rest) // (4 * n))))
            pool.close()
        finally:
            pool.terminate()  # Ctrl-C here (the workers ignore it) or an error: no worker outlives the run
            pool.join()
            gc.unfreeze()
        return
    for v in items:
        yield v.number, files(v, formats, count), export_share(v, exports)


def _worker_signals() -> None:
    """A worker ignores Ctrl-C (the parent ends the pool) and dies at SIGTERM as a plain process does: the
    handler the command line installs for SIGTERM is the parent's, forked along."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _variant_files(
    items: Variants, formats: tuple[str, ...], count: int, exports: dict[str, str], k: int
) -> tuple[int, dict[str, str], dict[str, Any]]:
    v = items.make(k)
    return k, files(v, formats, count), export_share(v, exports)


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
    from ..spec.resources import write_file

    out = Path(tex).with_suffix(".pdf")
    write_file(out, pdf)
    return out
