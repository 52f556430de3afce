"""The committed handouts of the worked examples are what the code makes now, and `backprop-tutor regenerate`
writes them (regenerate: `backprop-tutor regenerate`; check: `backprop-tutor regenerate --check`)."""

from __future__ import annotations

import shutil

import pytest

from tutor import handouts, render
from tutor.cli import main
from tutor.engine.symbolic import explain_step
from tutor.spec import load
from tutor.spec.resources import data_dir

from .conftest import pdf_pages, require_program, screenshot


def test_committed_handouts_are_up_to_date():
    stale = [str(h.path) for h in handouts.stale()]
    assert not stale, f"out of date: {stale}; run 'backprop-tutor regenerate' and commit the files"


def test_every_example_folder_has_all_four_handouts_and_its_claims_a_report():
    root = data_dir("worked_examples")
    folders = sorted(p.parent.name for p in root.glob("*/spec.toml"))
    assert handouts.names() == folders and len(folders) >= 12
    for name in folders:
        folder = root / name
        assert {p.name for p in folder.glob("walkthrough.*")} == {
            f"walkthrough.{x}" for x in ("md", "tex", "html", "pdf")
        }
        assert (folder / "check.md").is_file() == (folder / "claims.toml").is_file(), name
    assert {p.parent.name for p in root.glob("*/check.md")} == {
        "mazur",
        "appendix-a",
        "appendix-b",
        "python-printed",
        "graph-sigmoid-gates",
        "conv-maxpool-softmax",
        "conv1d-two-channels",
        "rnn-three-steps",
    }


def test_the_recipe_is_read_from_the_spec():
    from tutor.spec import load

    assert handouts.recipe(load("mazur")) == handouts.Recipe(False)
    assert handouts.recipe(load("vanishing-relu")) == handouts.Recipe(False, magnitudes=True)
    assert handouts.recipe(load("optimizer-adam")) == handouts.Recipe(True, epochs=2)  # one update an epoch
    assert handouts.recipe(load("minibatch")) == handouts.Recipe(True, epochs=1)  # two batches an epoch


def test_check_report_is_the_check_commands(capsys):
    assert main(["check", "appendix-b", "--format", "md"]) == 1
    report = next(h for h in handouts.handouts("appendix-b") if h.path.name == "check.md")
    assert report.text == capsys.readouterr().out
    assert main(["check", "graph-sigmoid-gates", "--format", "md"]) == 0  # a graph's report too
    report = next(h for h in handouts.handouts("graph-sigmoid-gates") if h.path.name == "check.md")
    assert report.text == capsys.readouterr().out


def test_renderings_do_not_depend_on_each_other():
    """Options are a value passed to each rendering: one rendered with other options changes no later one."""
    walk = explain_step(load("appendix-a"))
    before = render.render_markdown(walk)
    layered = render.render_markdown(walk, options=render.Options(notation="layered", digits=2))
    assert layered != before
    assert render.render_markdown(walk) == before
    assert [h.text for h in handouts.handouts("appendix-a")] == [h.text for h in handouts.handouts("appendix-a")]


def _one_example(tmp_path, monkeypatch) -> None:
    """A checkout of one worked example (regenerate writes into checkouts only), run from its examples folder."""
    (tmp_path / "tutor").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "backprop-tutor"\n', encoding="utf-8")
    examples = tmp_path / "worked_examples"
    (examples / "appendix-a").mkdir(parents=True)
    shutil.copy(data_dir("worked_examples") / "appendix-a" / "spec.toml", examples / "appendix-a")
    monkeypatch.setattr(handouts, "data_dir", lambda name: examples)
    monkeypatch.chdir(examples)


def test_check_exits_1_and_names_each_stale_file(tmp_path, monkeypatch, capsys):
    _one_example(tmp_path, monkeypatch)
    assert main(["regenerate", "--check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"out of date: appendix-a/walkthrough.{x}" for x in ("md", "tex", "html", "pdf")]
    assert not list(tmp_path.glob("worked_examples/appendix-a/walkthrough.*"))  # --check writes nothing


@pytest.mark.slow
def test_regenerate_writes_then_check_passes(tmp_path, monkeypatch, capsys):
    require_program("pdflatex")
    _one_example(tmp_path, monkeypatch)
    assert main(["regenerate"]) == 0
    assert main(["regenerate", "--check"]) == 0
    capsys.readouterr()
    md = tmp_path / "worked_examples" / "appendix-a" / "walkthrough.md"
    md.write_text(md.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    tex = tmp_path / "worked_examples" / "appendix-a" / "walkthrough.tex"
    tex.write_text(tex.read_text(encoding="utf-8").replace("Appendix A", "Appendix Z"), encoding="utf-8")
    assert main(["regenerate", "--check"]) == 1
    # The PDF still records the digest of the right .tex; only the edited files are stale.
    assert capsys.readouterr().out.splitlines() == [
        "out of date: appendix-a/walkthrough.md",
        "out of date: appendix-a/walkthrough.tex",
    ]
    assert main(["regenerate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "wrote: appendix-a/walkthrough.md",
        "wrote: appendix-a/walkthrough.tex",
    ]


def test_a_pdf_from_another_source_is_stale(tmp_path, monkeypatch):
    _one_example(tmp_path, monkeypatch)
    committed = data_dir("worked_examples")  # the real folder, not the monkeypatched one
    for h in handouts.handouts("appendix-a"):
        if not h.pdf:
            h.write()
    pdf = tmp_path / "worked_examples" / "appendix-a" / "walkthrough.pdf"
    pdf.write_bytes((committed / "appendix-b" / "walkthrough.pdf").read_bytes())
    assert [h.path.name for h in handouts.stale()] == ["walkthrough.pdf"]


# One handout of each kind in the default run (a plain step, a training run, a graph); the others in the slow set.
REPRESENTATIVES = ["mazur", "optimizer-adam", "graph-xyz"]


def _handout_names(representatives: bool) -> list[str]:
    names = handouts.names()
    assert set(REPRESENTATIVES) <= set(names)
    return [n for n in names if (n in REPRESENTATIVES) == representatives]


@pytest.mark.parametrize(
    "representatives",
    [pytest.param(True, id="one-of-each-kind"), pytest.param(False, id="the-rest", marks=pytest.mark.slow)],
)
def test_every_committed_latex_compiles_and_every_html_opens(tmp_path, representatives):
    """Each example's .tex compiles cleanly (two at a time) and turns into PNG pages (its first two: the 323
    pages of all of them took 8 s); each .html is screenshot."""
    from concurrent.futures import ThreadPoolExecutor

    require_program("pdflatex"), require_program("pdftoppm"), require_program("chromium")
    root = data_dir("worked_examples")
    names = _handout_names(representatives)

    def compile_one(name: str) -> int:
        folder = tmp_path / "tex" / name
        folder.mkdir(parents=True)
        return len(pdf_pages((root / name / "walkthrough.tex").read_text(encoding="utf-8"), folder, first=2))

    def open_one(name: str) -> None:
        (tmp_path / "html" / name).mkdir(parents=True)
        screenshot((root / name / "walkthrough.html").read_text(encoding="utf-8"), tmp_path / "html" / name)

    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time, as the machine has two cores
        pages = dict(zip(names, pool.map(compile_one, names)))
    for name in names:  # one after the other in the one browser (conftest.screenshot)
        open_one(name)
    assert all(n == 2 for n in pages.values()), pages  # two pages or more each
