"""The worked examples' committed handouts, walkthrough.{md,tex,html,pdf} and check.md: regenerated, or checked against the code.

Every folder of worked_examples/ with a spec.toml gets handouts, made by a recipe read from its spec: a plain
step on one example is explained (with the gradient magnitudes layer by layer for a deep network, beside its
twin's), a spec with training settings is trained for two updates, both walked through, so that optimizer
state and batches carry over. A folder with a claims.toml also gets the checker's report, check.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import render
from .spec.resources import data_dir, write_file

TEXT_FORMATS = ("md", "tex", "html")
STEM = "walkthrough"
CHECK = "check.md"
SKIPLESS = "no skips"
DEEP = 3  # weight layers from which an explained example also shows the gradient magnitudes
EARLY_EPOCHS = 100  # an early-stopping example trains until patience runs out, at most this many epochs
SHOWN_STEPS = 2  # updates a training example walks through: the second starts from the first's state


@dataclass(frozen=True)
class Handout:
    """One file of one example: its path and what it must contain (the PDF: the .tex it was built from)."""

    path: Path
    text: str  # for the PDF, the LaTeX source

    @property
    def pdf(self) -> bool:
        return self.path.suffix == ".pdf"

    def current(self) -> bool:
        """Whether the committed file is what the code makes now."""
        if not self.path.is_file():
            return False
        if self.pdf:
            # PDF bytes depend on the TeX installation; the digest of the source they came from does not.
            return render.pdf_source_digest(self.path.read_bytes()) == render.source_digest(self.text)
        return self.path.read_text(encoding="utf-8") == self.text

    def write(self) -> None:
        # all or nothing (a temporary file renamed); bytes as they are keep "\n" on every platform
        write_file(self.path, render.compile_pdf(self.text) if self.pdf else self.text)


@dataclass(frozen=True)
class Recipe:
    """How an example's walk-through is made, decided from its spec."""

    train: bool  # True: train for ``epochs`` and walk through every update; False: explain one step
    epochs: int = 0
    magnitudes: bool = False  # explain: add the gradient magnitudes layer by layer
    early: bool = False  # early stopping: train up to EARLY_EPOCHS, walk through the first and the last update


def recipe(net) -> Recipe:
    """Plain one-example steps are explained; training settings (optimizer, batches, decay, regularization,
    dropout, several examples) are trained for the epochs that make SHOWN_STEPS updates."""
    from .engine.training import batches

    if net.training.plain and len(net.examples) == 1:
        return Recipe(False, magnitudes=len(net.layers) >= DEEP)
    if net.training.patience:
        return Recipe(True, epochs=EARLY_EPOCHS, early=True)
    return Recipe(True, epochs=math.ceil(SHOWN_STEPS / len(batches(net))))


def _root(root: Path | None) -> Path:
    return root or data_dir("worked_examples")


def checkout_examples(start: Path) -> Path:
    """The worked_examples/ folder of the repository checkout that ``start`` lies in (or is).

    Handouts are documents of the repository, so they are written into a checkout only: never inside an
    installed package, whose copy of the worked examples holds their specs and claims alone.
    """
    from .spec.errors import TutorError

    start = start.resolve()
    for folder in (start, *start.parents):
        project = folder / "pyproject.toml"
        if (folder / "worked_examples").is_dir() and (folder / "tutor").is_dir() and project.is_file():
            try:
                if 'name = "backprop-tutor"' in project.read_text(encoding="utf-8", errors="replace"):
                    return folder / "worked_examples"
            except OSError:
                continue
    raise TutorError(
        "regenerate writes the handouts of a checkout of the repository: run it inside one, or give --root DIR",
        str(start),
    )


def _load(name: str, root: Path | None):
    from .spec.network import load

    return load(name) if root is None else load(_root(root) / name / "spec.toml")


def twin(name: str, net, root: Path | None = None) -> str | None:
    """Another example with the same weights and biases and other activations (vanishing-sigmoid and
    vanishing-relu), whose gradient magnitudes are shown beside this one's; None if there is none."""
    import numpy as np

    def params(n):
        return [(l.weights, l.biases) for l in n.layers]

    for other in names(root):
        if other == name or _is_graph(other, root):
            continue
        o = _load(other, root)
        if o.shape != net.shape or [l.activation for l in o.layers] == [l.activation for l in net.layers]:
            continue
        if [l.skip for l in o.layers] != [l.skip for l in net.layers]:  # a residual twin is the net without skips
            continue
        if all(np.array_equal(a, b) for pa, pb in zip(params(o), params(net)) for a, b in zip(pa, pb)):
            return other
    return None


def _is_graph(name: str, root: Path | None) -> bool:
    from .spec.graph import is_graph

    return is_graph(_root(root) / name / "spec.toml")


def _graph_texts(name: str, root: Path | None) -> dict[str, str]:
    """A graph spec's walk-through: forward, backward edge by edge, the check and its update, if any."""
    from .engine.graph import explain_graph
    from .render.graph import render
    from .spec.graph import load

    walk = explain_graph(load(_root(root) / name / "spec.toml"))
    return {fmt: render(walk, fmt) for fmt in TEXT_FORMATS}


def handouts(name: str, root: Path | None = None) -> list[Handout]:
    """Every handout of the example ``name``, made by its recipe under its own conventions and notation."""
    folder = _root(root) / name
    if _is_graph(name, root):
        texts = _graph_texts(name, root)
        out = [Handout(folder / f"{STEM}.{fmt}", texts[fmt]) for fmt in TEXT_FORMATS]
        out.append(Handout(folder / f"{STEM}.pdf", texts["tex"]))
        if (folder / "claims.toml").is_file():
            out.append(Handout(folder / CHECK, _graph_check_report(folder)))
        return out
    net = _load(name, root)
    how = recipe(net)
    texts = _training_texts(net, how) if how.train else _explained_texts(name, net, how, root)
    out = [Handout(folder / f"{STEM}.{fmt}", texts[fmt]) for fmt in TEXT_FORMATS]
    out.append(Handout(folder / f"{STEM}.pdf", texts["tex"]))
    if (folder / "claims.toml").is_file():
        out.append(Handout(folder / CHECK, _check_report(net, folder / "claims.toml")))
    return out


def _explained_texts(name: str, net, how: Recipe, root: Path | None) -> dict[str, str]:
    from .engine.gradcheck import gradient_check
    from .engine.symbolic import explain_step
    from .engine.walks import walked_by_layers

    if walked_by_layers(net):  # convolution, pooling, flatten, recurrence: the walk by layers
        from .engine.sym_maps import explain_maps
        from .render import maps

        walk = explain_maps(net)
        return {fmt: maps.render(walk, fmt) for fmt in TEXT_FORMATS}  # type: ignore[misc]
    walk = explain_step(net)
    check = gradient_check(net)
    views, pair = (), None
    if how.magnitudes:
        views = ("magnitudes",)
        other = twin(name, net, root)
        pair = (other, explain_step(_load(other, root))) if other else None
        if net.has_skips:  # a residual network beside itself without the skips
            pair = (SKIPLESS, explain_step(net.without_skips()))
    renderers = {"md": render.render_markdown, "tex": render.render_latex, "html": render.render_html}
    return {fmt: renderers[fmt](walk, check=check, views=views, twin=pair) for fmt in TEXT_FORMATS}


def _training_texts(net, how: Recipe) -> dict[str, str]:
    from .engine.training import batches
    from .render.training import documents

    total = how.epochs * len(batches(net))
    if how.early:
        from .engine.training import run

        stopped = len(run(net, how.epochs).losses)  # the numeric run alone, to know the last update taken
        return documents(TEXT_FORMATS, net, how.epochs, {1, stopped})[1]
    return documents(TEXT_FORMATS, net, how.epochs, set(range(1, total + 1)))[1]


def _check_report(net, claims: Path) -> str:
    """The checker's Markdown report on the example's transcribed claims, as `check SPEC --format md` writes it."""
    from .render.check import render_check
    from .teach import checker

    report = checker.check(net, checker.load_claims(claims, checker.quantity_names(net)))
    return render_check(checker.report_data(report), "md")


def _graph_check_report(folder: Path) -> str:
    """The checker's Markdown report on a graph example's transcribed claims, as `check` writes it."""
    from .render.check import render_check
    from .spec.graph import load
    from .teach import graphcheck

    claims = folder / "claims.toml"
    data = graphcheck.check_claims(load(folder / "spec.toml"), graphcheck.load_claims(str(claims)), "claims.toml")
    return render_check(data, "md")


def names(root: Path | None = None) -> list[str]:
    """The examples with handouts: every folder of the worked examples (or of ``root``) with a spec.toml."""
    return sorted(p.parent.name for p in _root(root).glob("*/spec.toml"))


def stale(root: Path | None = None) -> list[Handout]:
    """The handouts whose committed file is missing or out of date."""
    return [h for name in names(root) for h in handouts(name, root) if not h.current()]


def regenerate(root: Path | None = None) -> list[Handout]:
    """Write every handout that is out of date (the PDFs with pdflatex); return those written."""
    todo = stale(root)
    for h in todo:
        h.write()
    return todo
