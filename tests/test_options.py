"""Every option of every subcommand, read from the argparse parser itself, for each kind of spec (a network, a
training spec, a computational graph): the option is honoured (the output differs from the same command
without it) or refused with exit status 2 and one line. An option added to the parser without an entry in
OPTIONS below fails test_every_option_has_a_case, so none escapes the matrix."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pytest

from tutor.cli import _build_parser, main

ROOT = Path(__file__).resolve().parents[1]

# one spec of each kind; a few options need a spec whose setting they change (see SPEC_FOR)
KINDS = {"network": "mazur", "training": "optimizer-adam", "graph": "graph-xyz"}

# the subcommands that take a spec (positionally, or worksheet's --spec); the others have no spec kind
SPEC_COMMANDS = ("explain", "check", "train", "quiz", "worksheet")
NO_SPEC = {"examples": set(), "regenerate": {"--check", "--root"}, "report": {"--moodle-csv", "--output"}}

# the command without the option, per subcommand; SPEC stands for the kind's spec
BASE = {
    "explain": ["explain", "SPEC"],
    "check": ["check", "SPEC", "claims.toml"],
    "train": ["train", "SPEC"],
    "quiz": ["quiz", "SPEC"],  # answered on standard input (ANSWERS)
    "worksheet": ["worksheet", "--spec", "SPEC", "-o", "sheets"],
}
# the commands that refuse a kind of spec whole (one line, exit 2); every other base command must succeed
REFUSED_KINDS = {("train", "graph")}
ANSWERS = "0.4\n0.5\ns\n"

# (command, option) -> (arguments added to the base command, arguments the option itself adds)
OPTIONS: dict[tuple[str, str], tuple[list[str], list[str]]] = {
    ("explain", "--format"): ([], ["--format", "md"]),
    ("explain", "--output"): ([], ["-o", "out.txt"]),
    ("explain", "--interactive"): (["-o", "page.html"], ["--interactive"]),
    ("explain", "--self-check"): ([], ["--self-check"]),
    ("explain", "--symbolic"): (["--self-check"], ["--symbolic"]),
    ("explain", "--rounding"): ([], ["--rounding", "as-printed"]),
    ("explain", "--digits"): ([], ["--digits", "3"]),
    ("explain", "--digits-of"): ([], ["--rounding", "as-printed", "--digits-of", "out=2"]),
    ("explain", "--update-order"): ([], ["--update-order", "updated-first"]),
    ("explain", "--update-biases"): ([], ["--update-biases"]),
    ("explain", "--no-update-biases"): ([], ["--no-update-biases"]),
    ("explain", "--steps"): ([], ["--steps", "2"]),
    ("explain", "--forward-only"): ([], ["--forward-only"]),
    ("explain", "--no-check"): ([], ["--no-check"]),
    ("explain", "--template-dir"): ([], ["--template-dir", "tpl"]),
    ("explain", "--view"): ([], ["--view", "matrix"]),
    ("explain", "--of"): ([], ["--of", "OUTPUT"]),
    ("explain", "--upstream"): ([], ["--upstream", "2"]),
    ("explain", "--step"): ([], ["--step", "0.1"]),
    ("explain", "--ascent"): ([], ["--ascent"]),
    ("explain", "--ascent-on-inputs"): ([], ["--ascent-on-inputs"]),
    ("explain", "--notation"): ([], ["--notation", "layered"]),
    ("explain", "--width"): ([], ["--width", "60"]),
    ("explain", "--brief"): ([], ["--brief"]),
    ("explain", "--no-prose"): ([], ["--no-prose"]),
    ("check", "--format"): ([], ["--format", "md"]),
    ("check", "--output"): ([], ["-o", "out.txt"]),
    # a network spec's loss-free mode (--of with --step, --ascent, --ascent-on-inputs) needs claims of its own
    # and one plain step: tests/test_checker_every_number.py and test_checker_reads.py check it honoured; here,
    # without --of, the update options are refused for networks, and honoured by a graph spec's check
    ("check", "--of"): ([], ["--of", "OUTPUT"]),
    ("check", "--step"): ([], ["--step", "0.5"]),
    ("check", "--ascent"): ([], ["--ascent"]),
    ("check", "--ascent-on-inputs"): ([], ["--ascent-on-inputs"]),
    ("check", "--rounding"): ([], ["--rounding", "as-printed"]),
    ("check", "--digits"): ([], ["--digits", "3"]),
    ("check", "--digits-of"): ([], ["--rounding", "as-printed", "--digits-of", "out=2"]),
    ("check", "--update-order"): ([], ["--update-order", "updated-first"]),
    ("check", "--update-biases"): ([], ["--update-biases"]),
    ("check", "--no-update-biases"): ([], ["--no-update-biases"]),
    ("train", "--epochs"): ([], ["--epochs", "2"]),
    ("train", "--show"): ([], ["--show", "none"]),
    ("train", "--format"): ([], ["--format", "md"]),
    ("train", "--output"): ([], ["-o", "out.txt"]),
    ("train", "--plot"): ([], ["--plot", "curve.svg"]),
    ("train", "--rounding"): ([], ["--rounding", "as-printed"]),
    ("train", "--digits"): ([], ["--digits", "3"]),
    ("train", "--digits-of"): ([], ["--rounding", "as-printed", "--digits-of", "out=2"]),
    ("train", "--update-order"): ([], ["--update-order", "updated-first"]),
    ("train", "--update-biases"): ([], ["--update-biases"]),
    ("train", "--no-update-biases"): ([], ["--no-update-biases"]),
    ("train", "--width"): ([], ["--width", "60"]),
    ("train", "--brief"): ([], ["--brief"]),
    ("train", "--no-prose"): ([], ["--no-prose"]),
    ("quiz", "--random"): ([], ["--random"]),
    ("quiz", "--seed"): ([], ["--seed", "3"]),
    ("quiz", "--shape"): ([], ["--shape", "2-3-1"]),
    ("quiz", "--activation"): ([], ["--activation", "tanh"]),
    ("quiz", "--output-activation"): ([], ["--output-activation", "identity"]),
    ("quiz", "--loss"): ([], ["--loss", "mse"]),
    ("quiz", "--digits"): ([], ["--digits", "3"]),
    ("quiz", "--tolerance"): ([], ["--tolerance", "1sf"]),
    ("quiz", "--nice"): ([], ["--nice"]),
    ("quiz", "--rounding"): ([], ["--rounding", "exact"]),
    ("quiz", "--answers"): ([], ["--answers", "answers.txt"]),
    ("quiz", "--results"): ([], ["--results", "results.json"]),
    ("quiz", "--resume"): ([], ["--resume", "results.json"]),
    ("quiz", "--symbolic"): ([], ["--symbolic"]),
    ("quiz", "--section"): ([], ["--section", "backward"]),
    ("quiz", "--layer"): ([], ["--layer", "2"]),
    ("quiz", "--neuron"): ([], ["--neuron", "NEURON"]),
    ("quiz", "--param"): ([], ["--param", "PARAM"]),
    ("quiz", "--all"): ([], ["--all"]),
    ("quiz", "--tries"): ([], ["--tries", "1"]),
    ("quiz", "--hint-cost"): ([], ["--hint-cost", "0"]),
    ("worksheet", "--count"): ([], ["--count", "2"]),
    ("worksheet", "--seed"): ([], ["--seed", "3"]),
    ("worksheet", "--shape"): ([], ["--shape", "2-3-1"]),
    ("worksheet", "--activation"): ([], ["--activation", "tanh"]),
    ("worksheet", "--output-activation"): ([], ["--output-activation", "identity"]),
    ("worksheet", "--loss"): ([], ["--loss", "mse"]),
    ("worksheet", "--digits"): ([], ["--digits", "3"]),
    ("worksheet", "--tolerance"): ([], ["--tolerance", "1sf"]),
    ("worksheet", "--nice"): ([], ["--nice"]),
    ("worksheet", "--output"): ([], ["-o", "other"]),
    ("worksheet", "--format"): ([], ["--format", "tex"]),
    ("worksheet", "--pdf"): ([], ["--pdf"]),
    ("worksheet", "--moodle"): ([], ["--moodle", "bank.xml"]),
    ("worksheet", "--moodle-style"): ([], ["--moodle-style", "bank"]),
    ("worksheet", "--gift"): ([], ["--gift", "bank.gift"]),
    ("worksheet", "--qti"): ([], ["--qti", "canvas.zip"]),
    ("worksheet", "--numbas"): ([], ["--numbas", "exam.exam"]),
    ("worksheet", "--numbas-compiler"): ([], ["--numbas-compiler", "."]),
    ("worksheet", "--blanks"): ([], ["--blanks", "forward"]),
    ("worksheet", "--force"): ([], ["--force"]),
    ("worksheet", "--spec"): ([], ["--spec", "SPEC"]),
}

# names inside a kind's spec that an option's value refers to
NAMES = {
    "network": {"OUTPUT": "out_o1", "NEURON": "h1", "PARAM": "w5"},
    "training": {"OUTPUT": "out_o1", "NEURON": "h1", "PARAM": "w5"},
    "graph": {"OUTPUT": "q", "NEURON": "q", "PARAM": "x"},
}

# an option that sets what the kind's spec already says shows nothing new there: it is tried on a spec of the
# same kind that says otherwise (no built-in plain network updates its biases; optimizer-adam does)
SPEC_FOR = {
    ("network", "--no-update-biases"): "biases-updated.toml",
    ("training", "--update-biases"): "batchnorm-sigmoid",
}

# claims for `check`, one file per kind (the built-in mazur has its own and takes these too)
CLAIMS = {
    "network": '[[claim]]\nquantity = "out_o1"\nvalue = "0.7514"\n\n[[claim]]\nquantity = "E_total+"\nvalue = "0.2910"\n',
    "training": '[[claim]]\nquantity = "mhat[w5]"\nvalue = "0.0822"\n\n[[claim]]\nquantity = "out_o1"\nvalue = "0.5"\n'
    "after_steps = 1\n",
    # x+ is x after graph-xyz's own update (step 0.01), which --step and --ascent change
    "graph": '[[claim]]\nquantity = "q"\nvalue = "3"\n\n[[claim]]\nquantity = "grad[x]"\nvalue = "-4"\n'
    '\n[[claim]]\nquantity = "x+"\nvalue = "-1.96"\n',
}

TEMPLATES = {
    "text/walkthrough.txt.j2": "text/walkthrough.txt.j2",
    "training/train.txt.j2": "training/train.txt.j2",
    "graph/graph.txt.j2": "graph/graph.txt.j2",
    "markdown/walkthrough.md.j2": "markdown/walkthrough.md.j2",
}


def _flags(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def parser_options() -> dict[str, list[str]]:
    """Each subcommand's options, by their long flag, as the parser defines them."""
    parser = _build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: [_flags(a) for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
        for name, p in sub.choices.items()
    }


def test_every_option_has_a_case():
    options = parser_options()
    assert set(options) == set(SPEC_COMMANDS) | set(NO_SPEC)
    for command, flags in options.items():
        for flag in flags:
            known = flag in NO_SPEC.get(command, ()) or (command, flag) in OPTIONS
            assert known, f"{command} {flag}: add a case to tests/test_options.py OPTIONS"
    assert set(OPTIONS) == {(c, f) for c, fs in options.items() for f in fs if c in SPEC_COMMANDS}


def _cases():
    for command, flags in parser_options().items():
        if command in SPEC_COMMANDS:
            for flag in flags:
                for kind in KINDS:
                    yield pytest.param(command, flag, kind, id=f"{command}{flag}-{kind}", marks=_marks(flag))


def _marks(flag: str):
    return [pytest.mark.slow] if flag == "--pdf" else []


def _setup(folder, kind: str) -> None:
    (folder / "claims.toml").write_text(CLAIMS[kind], encoding="utf-8")
    mazur = (ROOT / "worked_examples" / "mazur" / "spec.toml").read_text(encoding="utf-8")
    assert "update_biases = false" in mazur
    (folder / "biases-updated.toml").write_text(mazur.replace("update_biases = false", "update_biases = true"))
    (folder / "answers.txt").write_text(ANSWERS, encoding="utf-8")
    for name in TEMPLATES:
        path = folder / "tpl" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            '{% extends "builtin/' + name + '" %}{% block header %}CHANGED BY THE TEMPLATE{% endblock %}',
            encoding="utf-8",
        )


def _run(argv: list[str], folder, monkeypatch) -> tuple[int, str, str, dict]:
    """Run the CLI in ``folder``: its status, standard output and error, and every file it wrote."""
    before = {p for p in folder.rglob("*")}
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "stdin", io.StringIO(ANSWERS))
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        status = main(argv)
    finally:
        monkeypatch.undo()
    written = {}
    for p in sorted(folder.rglob("*")):
        if p not in before and p.is_file():
            written[str(p.relative_to(folder))] = p.read_bytes()
            p.unlink()
    for p in sorted(folder.rglob("*"), reverse=True):
        if p not in before and p.is_dir():
            p.rmdir()
    return status, out.getvalue(), err.getvalue(), written


_BASE_RUNS: dict[tuple, tuple] = {}


def _argv(words: list[str], spec: str, kind: str) -> list[str]:
    names = {"SPEC": spec, **NAMES[kind]}
    return [names.get(w, w) for w in words]


@pytest.mark.parametrize("command,flag,kind", list(_cases()))
def test_each_option_is_honoured_or_refused(command, flag, kind, tmp_path, monkeypatch):
    _setup(tmp_path, kind)
    spec = SPEC_FOR.get((kind, flag), KINDS[kind])
    extra, option = OPTIONS[(command, flag)]
    base = _argv(BASE[command] + extra, spec, kind)
    if flag == "--spec":  # worksheet's spec option is the base itself: without it, random variants
        base = [w for w in base if w not in ("--spec", spec)]
        option = [flag, spec]
    if command == "check" and spec == "batchnorm-sigmoid":
        claim = '[[claim]]\nquantity = "out_o1[e1]"\nvalue = "0.5"\nafter_steps = 1\n'
        (tmp_path / "claims.toml").write_text(claim, encoding="utf-8")
    key = (tuple(base), kind)
    if key not in _BASE_RUNS:  # the same base command for many options: run it once
        _BASE_RUNS[key] = _run(base, tmp_path, monkeypatch)
    want = _BASE_RUNS[key]
    if (command, kind) in REFUSED_KINDS:
        assert want[0] == 2 and want[2].count("\n") == 1, want
    elif flag != "--spec":
        assert want[0] in (0, 1), f"{' '.join(base)} failed: {want[2][:300]!r}"
    got = _run(base + _argv(option, spec, kind), tmp_path, monkeypatch)
    status, out, err, written = got
    shown = f"{' '.join(base + option)}: status {status}, stderr {err[:300]!r}"
    if status == 2:
        lines = err.strip().split("\n")
        assert len(lines) == 1 and lines[0].startswith("backprop-tutor: error: "), shown
        assert "Traceback" not in err and not written, shown
        return
    assert status in (0, 1), shown
    assert want[0] in (0, 1), f"{' '.join(base)} failed ({want[2][:300]!r}) while {shown}"
    assert (out, written) != (want[1], want[3]), f"{shown}: the option changed nothing (silently ignored)"


# -- the suffix of -o FILE chooses the format --------------------------------------------------------------------

SUFFIX_STARTS = {".html": b"<!DOCTYPE html>", ".md": b"# ", ".json": b"{", ".tex": b"\\documentclass", ".txt": b"Mazur"}


@pytest.mark.parametrize("suffix", list(SUFFIX_STARTS))
def test_the_suffix_of_the_output_file_chooses_its_format(suffix, tmp_path, monkeypatch):
    status, out, err, written = _run(["explain", "mazur", "-o", f"m{suffix}"], tmp_path, monkeypatch)
    assert (status, out, err) == (0, "", "")
    data = written[f"m{suffix}"]
    assert data.lstrip().startswith(SUFFIX_STARTS[suffix]), data[:80]
    # the same document as --format asks for
    fmt = {".txt": "text"}.get(suffix, suffix[1:])
    assert _run(["explain", "mazur", "--format", fmt], tmp_path, monkeypatch)[1].encode() == data


def test_a_pdf_suffix_writes_a_pdf(tmp_path, monkeypatch):
    from .conftest import require_program

    require_program("pdflatex")
    status, _, err, written = _run(["explain", "appendix-a", "-o", "a.pdf"], tmp_path, monkeypatch)
    assert status == 0, err
    assert written["a.pdf"].startswith(b"%PDF")


@pytest.mark.parametrize(
    "argv,words",
    [
        (["explain", "mazur", "--format", "md", "-o", "m.tex"], ["--format md", "-o m.tex", ".tex", "--format tex"]),
        (["train", "mazur", "-f", "json", "-o", "t.html"], ["--format json", "-o t.html"]),
        (["check", "mazur", "-o", "c.pdf"], ["-o c.pdf", "text, md, json", ".pdf"]),
    ],
)
def test_a_suffix_that_contradicts_the_format_is_refused(argv, words, tmp_path, monkeypatch):
    status, out, err, written = _run(argv, tmp_path, monkeypatch)
    assert status == 2 and not out and not written
    assert err.count("\n") == 1 and err.startswith("backprop-tutor: error: ")
    for w in words:
        assert w in err, (w, err)


def test_another_suffix_is_text_unless_format_says_otherwise(tmp_path, monkeypatch):
    text = _run(["explain", "mazur", "-o", "m.out"], tmp_path, monkeypatch)[3]["m.out"]
    assert text.startswith(b"Mazur's 2-2-2 network\n")
    md = _run(["explain", "mazur", "-f", "md", "-o", "m.out"], tmp_path, monkeypatch)[3]["m.out"]
    assert md.startswith(b"# ")


# -- report: no spec; each option honoured (the report changes) or refused on one line -----------------------------

REPORT_OPTIONS = {
    # the base names the results only; with the export the same report holds its attempts too
    "--moodle-csv": (["-o", "r.md"], ["--moodle-csv", "responses.csv"]),
    # the suffix chooses the format: an HTML page instead of Markdown, and a suffix it does not write refused
    "--output": (["-o", "r.md"], ["-o", "r.html"]),
}


def test_every_report_option_has_a_case():
    assert set(REPORT_OPTIONS) == set(parser_options()["report"]) == NO_SPEC["report"]


@pytest.mark.parametrize("flag", sorted(REPORT_OPTIONS))
def test_each_report_option_is_honoured_or_refused(flag, tmp_path, monkeypatch):
    from .test_report import simulate

    results = [str(p.relative_to(tmp_path)) for p in simulate(tmp_path / "results", students=2)]
    (tmp_path / "responses.csv").write_text(
        "Response 1,Right answer 1\npart 1: 0.5; part 2: 0.25,part 1: 0.5; part 2: 0.2500\n", encoding="utf-8"
    )
    base, option = REPORT_OPTIONS[flag]
    want = _run(["report", *results, *base], tmp_path, monkeypatch)
    assert want[0] == 0, want[2]
    got = _run(["report", *results, *base, *option], tmp_path, monkeypatch)
    assert got[0] == 0 and (got[1], got[3]) != (want[1], want[3]), got[2]
    refused = _run(["report", *results, "-o", "r.txt"], tmp_path, monkeypatch)
    assert refused[0] == 2 and refused[2].count("\n") == 1 and not refused[3]
