"""The worked examples' committed handouts, walkthrough.{md,tex,html,pdf}: regenerated, or checked against the code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import render
from .resources import data_dir

TEXT_FORMATS = {"md": render.render_markdown, "tex": render.render_latex, "html": render.render_html}
STEM = "walkthrough"
# The examples whose handouts are committed: the published worked examples the tutor reproduces.
EXAMPLES = ("mazur", "appendix-a", "appendix-b")


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
        if self.pdf:
            self.path.write_bytes(render.compile_pdf(self.text))
        else:
            # newline="" keeps "\n" on every platform, so the files compare equal everywhere
            self.path.write_text(self.text, encoding="utf-8", newline="")


def handouts(name: str, root: Path | None = None) -> list[Handout]:
    """Every handout of the example ``name``: its own conventions, the spec notation, the gradient check."""
    from .gradcheck import gradient_check
    from .spec import load
    from .symbolic import explain_step

    folder = (root or data_dir("worked_examples")) / name
    net = load(name) if root is None else load(folder / "spec.toml")
    walk = explain_step(net)
    check = gradient_check(net)
    # The handouts never depend on what a command line asked for before (--notation, --template-dir).
    with render.configured():
        texts = {fmt: fn(walk, check=check) for fmt, fn in TEXT_FORMATS.items()}
    out = [Handout(folder / f"{STEM}.{fmt}", text) for fmt, text in texts.items()]
    out.append(Handout(folder / f"{STEM}.pdf", texts["tex"]))
    return out


def names(root: Path | None = None) -> list[str]:
    """The examples with handouts: EXAMPLES, or under another ``root`` every folder with a spec.toml."""
    if root is None:
        return list(EXAMPLES)
    return sorted(p.parent.name for p in Path(root).glob("*/spec.toml"))


def stale(root: Path | None = None) -> list[Handout]:
    """The handouts whose committed file is missing or out of date."""
    return [h for name in names(root) for h in handouts(name, root) if not h.current()]


def regenerate(root: Path | None = None) -> list[Handout]:
    """Write every handout that is out of date (the PDFs with pdflatex); return those written."""
    todo = stale(root)
    for h in todo:
        h.write()
    return todo
