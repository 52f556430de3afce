"""The committed handouts of the worked examples are what the code makes now, and `backprop-tutor regenerate`
writes them (regenerate: `backprop-tutor regenerate`; check: `backprop-tutor regenerate --check`)."""

from __future__ import annotations

import shutil

import pytest

from tutor import handouts, render
from tutor.cli import main
from tutor.resources import data_dir

from .conftest import pdf_pages, require_program, screenshot


def test_committed_handouts_are_up_to_date():
    stale = [str(h.path) for h in handouts.stale()]
    assert not stale, f"out of date: {stale}; run 'backprop-tutor regenerate' and commit the files"


def test_every_published_example_has_all_four_handouts():
    for name in ("mazur", "appendix-a", "appendix-b"):
        folder = data_dir("worked_examples") / name
        assert {p.name for p in folder.glob("walkthrough.*")} == {f"walkthrough.{x}" for x in ("md", "tex", "html", "pdf")}


def test_handouts_do_not_depend_on_earlier_options(tmp_path):
    before = [h.text for h in handouts.handouts("appendix-a")]
    render.configure(notation="layered", digits=2)
    try:
        assert [h.text for h in handouts.handouts("appendix-a")] == before
        assert render.options().notation == "layered"  # and the caller's options are back
    finally:
        render.configure()


def _one_example(tmp_path, monkeypatch) -> None:
    (tmp_path / "appendix-a").mkdir()
    shutil.copy(data_dir("worked_examples") / "appendix-a" / "spec.toml", tmp_path / "appendix-a")
    monkeypatch.setattr(handouts, "data_dir", lambda name: tmp_path)
    monkeypatch.setattr(handouts, "EXAMPLES", ("appendix-a",))
    monkeypatch.chdir(tmp_path)


def test_check_exits_1_and_names_each_stale_file(tmp_path, monkeypatch, capsys):
    _one_example(tmp_path, monkeypatch)
    assert main(["regenerate", "--check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"out of date: appendix-a/walkthrough.{x}" for x in ("md", "tex", "html", "pdf")]
    assert not list(tmp_path.glob("appendix-a/walkthrough.*"))  # --check writes nothing


@pytest.mark.slow
def test_regenerate_writes_then_check_passes(tmp_path, monkeypatch, capsys):
    require_program("pdflatex")
    _one_example(tmp_path, monkeypatch)
    assert main(["regenerate"]) == 0
    assert main(["regenerate", "--check"]) == 0
    capsys.readouterr()
    md = tmp_path / "appendix-a" / "walkthrough.md"
    md.write_text(md.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    tex = tmp_path / "appendix-a" / "walkthrough.tex"
    tex.write_text(tex.read_text(encoding="utf-8").replace("Appendix A", "Appendix Z"), encoding="utf-8")
    assert main(["regenerate", "--check"]) == 1
    # The PDF still records the digest of the right .tex; only the edited files are stale.
    assert capsys.readouterr().out.splitlines() == ["out of date: appendix-a/walkthrough.md",
                                                    "out of date: appendix-a/walkthrough.tex"]  # fmt: skip
    assert main(["regenerate"]) == 0
    assert capsys.readouterr().out.splitlines() == ["wrote: appendix-a/walkthrough.md", "wrote: appendix-a/walkthrough.tex"]


def test_a_pdf_from_another_source_is_stale(tmp_path, monkeypatch):
    _one_example(tmp_path, monkeypatch)
    committed = data_dir("worked_examples")  # the real folder, not the monkeypatched one
    for h in handouts.handouts("appendix-a"):
        if not h.pdf:
            h.write()
    pdf = tmp_path / "appendix-a" / "walkthrough.pdf"
    pdf.write_bytes((committed / "appendix-b" / "walkthrough.pdf").read_bytes())
    assert [h.path.name for h in handouts.stale()] == ["walkthrough.pdf"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mazur", "appendix-a", "appendix-b"])
def test_committed_latex_compiles_and_html_opens(name, tmp_path):
    folder = data_dir("worked_examples") / name
    (tmp_path / "tex").mkdir()
    (tmp_path / "html").mkdir()
    pages = pdf_pages((folder / "walkthrough.tex").read_text(encoding="utf-8"), tmp_path / "tex")
    assert len(pages) >= 2
    screenshot((folder / "walkthrough.html").read_text(encoding="utf-8"), tmp_path / "html")
