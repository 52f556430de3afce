"""Worksheets: reproducible variants whose answer keys carry the engine's numbers, LaTeX that compiles, and a
Moodle XML bank with one numerical question per quantity."""

from __future__ import annotations

import csv
import math
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.engine.gradcheck import numeric_values
from tutor.engine.symbolic import explain_step
from tutor.render import render_markdown
from tutor.spec import load
from tutor.spec.rounding import format_fixed
from tutor.teach import variantcode, worksheet
from tutor.teach.diagnose import Tolerance
from tutor.teach.quiz import Quiz, aim, questions

from .conftest import pdf_pages, require_program
from .support import in_terminal
from .test_bad_input import assert_clean_error
from .test_quiz import pexpect  # noqa: F401, F811 - the fixture

KEY_MD = re.compile(r"^(\d+)\. \$.*=\$ \*\*(-?\d+\.\d+)\*\*$", re.M)
KEY_TEX = re.compile(r"^\\textbf\{(\d+)\.\}~\$.* = \\mathbf\{(-?\d+\.\d+)\}\$", re.M)
BOX_MD = re.compile(r"^\| (\d+) \| \$.*\$ \| \|$", re.M)


def make(tmp_path: Path, name: str, *argv: str) -> Path:
    out = tmp_path / name
    assert main(["worksheet", "-o", str(out), *argv]) == 0
    return out


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def thirty(tmp_path_factory):
    out = tmp_path_factory.mktemp("worksheets") / "class"
    assert (
        main(
            [
                "worksheet",
                "--count",
                "30",
                "--seed",
                "500",
                "--shape",
                "2-2-2",
                "-o",
                str(out),
                "--moodle",
                str(out / "bank.xml"),
                "--moodle-style",
                "bank",
            ]
        )
        == 0
    )
    return out


def test_thirty_answer_keys_carry_the_engines_numbers(thirty):
    folders = sorted(thirty.glob("variant-*"))
    assert [f.name for f in folders] == [f"variant-{k:02d}" for k in range(1, 31)]
    for folder in folders:
        # the variant's own spec file, computed afresh by both engines
        walk = explain_step(load(str(folder / "spec.toml")))
        qs = aim(questions(walk, Tolerance("dp", 4)))  # the boxes: every quantity that does not only copy one
        numeric = numeric_values(walk)
        # the full walk-through is the handout renderer's, of the same network
        assert (folder / "walkthrough.md").read_text(encoding="utf-8") == render_markdown(walk)
        sheet_md = (thirty / "students" / folder.name / "sheet.md").read_text(encoding="utf-8")
        assert [int(n) for n in BOX_MD.findall(sheet_md)] == [q.number for q in qs]  # one blank box a question
        for fmt, pattern in (("md", KEY_MD), ("tex", KEY_TEX)):
            key = (folder / f"key.{fmt}").read_text(encoding="utf-8")
            printed = {int(n): value for n, value in pattern.findall(key)}
            assert sorted(printed) == [q.number for q in qs], (folder, fmt)
            for q in qs:
                assert printed[q.number] == format_fixed(walk.value(q.key), 4), (folder, q.key)
                if q.key in numeric:
                    assert abs(float(printed[q.number]) - numeric[q.key]) <= 1.000001e-4, (folder, q.key)


def test_the_same_seed_gives_the_same_files_and_other_seeds_other_networks(tmp_path, thirty):
    # the same input is the same seed and the same lecturer's secret (the variant codes are keyed with it)
    secret = (thirty / variantcode.SECRET_FILE).read_bytes()
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / variantcode.SECRET_FILE).write_bytes(secret)
    again = make(
        tmp_path,
        "again",
        "--count",
        "30",
        "--seed",
        "500",
        "--shape",
        "2-2-2",
        "--moodle",
        str(tmp_path / "again" / "bank.xml"),
        "--moodle-style",
        "bank",
    )
    assert files(again) == files(thirty)
    specs = [(f / "spec.toml").read_text(encoding="utf-8") for f in sorted(thirty.glob("variant-*"))]
    assert len({re.sub(r"seed \d+|--seed \d+", "", s) for s in specs}) == 30  # every variant's network differs


def test_variant_k_is_the_quiz_of_seed_s_plus_k_minus_1(thirty):
    sheet = (thirty / "students" / "variant-07" / "sheet.md").read_text(encoding="utf-8")
    key = (thirty / "variant-07" / "key.md").read_text(encoding="utf-8")
    # the practice command shows every answer with 's': on the key, never on the student's sheet
    assert "quiz --random --seed 506 --shape 2-2-2" in key and "quiz" not in sheet
    variant = next(v for v in worksheet.variants(7, 500, worksheet.randomnet.options("2-2-2")) if v.number == 7)
    quiz = Quiz(load(str(thirty / "variant-07" / "spec.toml")))
    assert [q.key for q in quiz.questions] == [q.key for q in variant.questions]
    # the key's values are carried as printed, as the sheet works them; the quiz takes each as right (its
    # reference is the exact value where carrying moves one beyond the tolerance)
    assert all(quiz.grader.is_right(q.key, float(q.shown)) for q in variant.questions)
    assert sum(a.shown != b.shown for a, b in zip(quiz.questions, variant.questions)) <= 3


def test_moodle_bank_has_one_numerical_question_per_quantity_with_its_tolerance(thirty):
    root = ET.parse(thirty / "bank.xml").getroot()
    assert root.tag == "quiz"
    categories, current = {}, None
    for q in root.findall("question"):
        if q.get("type") == "category":
            current = q.findtext("category/text")
            categories[current] = []
        else:
            assert q.get("type") == "numerical"
            categories[current].append(q)
    assert len(categories) == 30
    codes = list(csv.DictReader((thirty / variantcode.CODES_FILE).open(encoding="utf-8")))
    for k, (name, items) in enumerate(categories.items(), 1):
        # the code, which only the lecturer's table maps back to the seed
        assert f"Variant {k:03d} ({codes[k - 1]['code']})" in name and codes[k - 1]["seed"] == str(499 + k)
        walk = explain_step(load(str(thirty / f"variant-{k:02d}" / "spec.toml")))
        qs = aim(questions(walk, Tolerance("dp", 4)))
        assert len(items) == len(qs)
        for q, item in zip(qs, items):
            answers = item.findall("answer")
            assert answers[0].get("fraction") == "100"
            value = float(answers[0].findtext("text"))
            assert value == float(format_fixed(walk.value(q.key), 4))
            # one unit of the 4th decimal, the sheet's stated rule, whatever the key's size
            assert float(answers[0].findtext("tolerance")) == 0.0001
            for wrong in answers[1:]:  # the misconceptions' values, at 0 % with a feedback naming the mistake
                assert wrong.get("fraction") == "0" and "It looks like" in wrong.findtext("feedback/text")
                assert abs(float(wrong.findtext("text")) - value) > float(answers[0].findtext("tolerance"))
            assert "\\to" in item.findtext("questiontext/text")  # the wiring: which weight joins which neurons
            assert q.key in item.findtext("name/text")


def test_significant_figures_tolerance_reaches_moodle(tmp_path):
    out = make(
        tmp_path,
        "sf",
        "--count",
        "2",
        "--seed",
        "3",
        "--tolerance",
        "3sf",
        "--format",
        "md",
        "--moodle",
        str(tmp_path / "bank.xml"),
        "--moodle-style",
        "bank",
    )
    assert not list(out.rglob("*.tex"))
    root = ET.parse(tmp_path / "bank.xml").getroot()
    assert root.findall("question[@type='numerical']")
    for item in root.findall("question[@type='numerical']"):
        value = float(item.findtext("answer/text"))
        expected = 10.0 ** (math.floor(math.log10(abs(value))) - 2)  # one unit of the third significant figure
        assert float(item.findtext("answer/tolerance")) == pytest.approx(expected, rel=1e-12)


def test_latex_of_a_sample_compiles(tmp_path):
    require_program("pdflatex")
    out = make(
        tmp_path,
        "tex",
        "--count",
        "1",  # one variant of this shape; test_latex_of_thirty_variants_compiles compiles many
        "--seed",
        "42",
        "--shape",
        "3-2-3",
        "--activation",
        "tanh",
        "--output-activation",
        "softmax",
        "--loss",
        "categorical_cross_entropy",
        "--pdf",
    )
    pdfs = sorted(out.rglob("*.pdf"))
    assert [p.relative_to(out).as_posix() for p in pdfs] == [
        "students/variant-01/sheet.pdf",  # the sheet apart from the key: the students' folder is handed out whole
        "variant-01/key.pdf",
        "variant-01/walkthrough.pdf",
    ]
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF")
    assert not list(out.rglob("*.aux")) and not list(out.rglob("*.log"))
    # and the sheets fit the page: no line wider than the text block, every page rendered
    for name in ("sheet", "key"):
        folder = tmp_path / f"pages-{name}"
        folder.mkdir()
        tex = out / ("students" if name == "sheet" else "") / "variant-01" / f"{name}.tex"
        assert len(pdf_pages(tex.read_text(encoding="utf-8"), folder)) >= 2


# A line's shape: the line with its numbers (a negative one in parentheses included) and its variant code masked.
# Two lines of one shape differ only in numerals, which cannot decide whether pdflatex accepts the line.
_NUMBER = re.compile(r"\(-\d+(?:\.\d+)?\)|-?\d+(?:\.\d+)?")
_CODE = re.compile(r"(?<=Variant code )[A-Z0-9]{4}-[A-Z0-9]{4}(?=\.)")


def _variants(thirty: Path) -> dict[str, list[Path]]:
    """Each variant's sheet, key and walk-through (the sheet lies in the students' folder)."""
    out: dict[str, list[Path]] = {}
    for tex in sorted(thirty.rglob("*.tex")):
        out.setdefault(tex.parent.name, []).append(tex)
    return out


def _shapes(texs: list[Path]) -> set[tuple[str, str]]:
    return {
        (tex.name, _NUMBER.sub("#", _CODE.sub("CODE", line)))
        for tex in texs
        for line in tex.read_text(encoding="utf-8").splitlines()
    }


def _covering(variants: dict[str, list[Path]]) -> list[str]:
    """Variant 1 and then, greedily (fixed order), the variants that bring the most line shapes not yet taken,
    until every line shape of every variant is taken."""
    shapes = {name: _shapes(texs) for name, texs in variants.items()}
    every = set().union(*shapes.values())
    chosen, taken = ["variant-01"], set(shapes["variant-01"])
    while taken != every:
        best = max(sorted(shapes), key=lambda name: len(shapes[name] - taken))
        chosen.append(best)
        taken |= shapes[best]
    return chosen


def test_the_latex_of_every_variant_is_well_formed(thirty):
    """All ninety files: braces balance, environments nest, and every number is a plain decimal (no nan, inf or
    exponent), so that a variant differs from another of its line shapes in digits alone."""
    variants = _variants(thirty)
    assert len(variants) == 30 and all(len(texs) == 3 for texs in variants.values())
    for texs in variants.values():
        for tex in texs:
            text = tex.read_text(encoding="utf-8")
            plain = text.replace("\\{", "").replace("\\}", "")
            depth = 0
            for c in plain:
                depth += {"{": 1, "}": -1}.get(c, 0)
                assert depth >= 0, tex
            assert depth == 0, tex
            stack = []
            for kind, env in re.findall(r"\\(begin|end)\{(\w+\*?)\}", text):
                if kind == "begin":
                    stack.append(env)
                else:
                    assert stack and stack.pop() == env, (tex, env)
            assert not stack, (tex, stack)
            assert not re.search(r"\b(?:nan|inf)\b|\d[eE][-+]?\d", _CODE.sub("CODE", text), re.I), tex


@pytest.mark.parametrize(
    "first", [pytest.param(True, id="variant-01"), pytest.param(False, id="the-rest", marks=pytest.mark.slow)]
)
def test_latex_of_thirty_variants_compiles(thirty, first):
    """The sheet, key and walk-through of every variant compile: variant 1's in the default run; in the slow
    set, those of the fewest further variants (a greedy cover) whose lines take every line shape that any of the
    thirty variants' lines take. Every line of every other variant then has the shape of a line that compiled:
    it differs from it in numerals only (which test_the_latex_of_every_variant_is_well_formed checks are plain
    decimals). Compiling all 87 other files took some 80 s of CPU for no line shape more."""
    require_program("pdflatex")
    variants = _variants(thirty)
    assert sum(len(texs) for texs in variants.values()) == 90  # sheet, key and walk-through of each variant
    covering = _covering(variants)
    # when variant 1 alone takes every shape, the slow set still compiles another draw: the last
    names = covering[:1] if first else covering[1:] or ["variant-30"]
    texs = [tex for name in names for tex in variants[name]]
    assert len(texs) == 3 * len(names), names
    every = set().union(*(_shapes(t) for t in variants.values()))
    assert set().union(*(_shapes(variants[n]) for n in covering)) == every
    for pdf in worksheet.compile_all(texs):
        assert pdf.read_bytes().startswith(b"%PDF")


def test_progress_only_on_a_terminal(tmp_path, capfd, pexpect):  # noqa: F811 - the fixture
    make(tmp_path, "quiet", "--count", "3", "--format", "md")
    assert capfd.readouterr().err == ""
    child = in_terminal(pexpect, "worksheet", "--count", "3", "--format", "md", "-o", str(tmp_path / "loud"))
    child.expect_exact("variant 3/3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["--count", "0"], ["--count", "1 to 1000"]),
        (["--count", "1001"], ["--count", "1 to 1000"]),
        (["--seed", "4294967295", "--count", "2"], ["--seed", "4294967296"]),
        (["--seed", "-3"], ["--seed", "0 to 4294967295"]),
        (["--shape", "2-x-1"], ["--shape", "like 2-2-1"]),
        (["--activation", "sigmod"], ["--activation", "did you mean 'sigmoid'"]),
        (["--format", "md", "--pdf"], ["--pdf", "--format tex"]),
        (["--tolerance", "0sf"], ["--tolerance", "from 1 to 12"]),
    ],
)
def test_bad_input_is_one_line_naming_the_option(tmp_path, capsys, argv, fragments):
    rc = main(["worksheet", "-o", str(tmp_path / "out"), *argv])
    assert_clean_error(rc, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "out").exists()


def test_output_folder_is_required_and_must_be_a_folder(tmp_path, capsys):
    assert_clean_error(main(["worksheet", "--count", "2"]), capsys.readouterr().err, "-o")
    target = tmp_path / "file"
    target.write_text("x")
    assert_clean_error(main(["worksheet", "-o", str(target)]), capsys.readouterr().err, "not a folder")


def test_worker_processes_write_the_same_bytes_as_one_process(tmp_path, monkeypatch):
    """From PARALLEL_FROM variants on the worksheet is made by forked workers: the files must not change."""
    plan = worksheet.Variants(worksheet.PARALLEL_FROM, 77, worksheet.randomnet.options("2-2-1"))
    if sys.platform == "linux":  # fork is there: two workers even on a machine of one core
        monkeypatch.setattr(worksheet, "workers", lambda: 2)
    parallel = worksheet.write(tmp_path / "p", plan, plan.count, ("md", "tex"))
    monkeypatch.setattr(worksheet, "workers", lambda: 1)
    serial = worksheet.write(tmp_path / "s", plan, plan.count, ("md", "tex"))
    assert [p.relative_to(tmp_path / "p") for p in parallel] == [p.relative_to(tmp_path / "s") for p in serial]
    for a, b in zip(parallel, serial):
        assert a.read_bytes() == b.read_bytes(), a


@pytest.mark.parametrize("style", ["cloze", "bank"])
def test_workers_make_the_lms_exports_as_one_process_does(tmp_path, monkeypatch, style):
    """The exports' share of each variant is made in its worker: Moodle, GIFT and QTI are the same bytes."""
    monkeypatch.setattr(worksheet, "PARALLEL_FROM", 3)  # three variants: the first here, two in the workers
    plan = worksheet.Variants(3, 78, worksheet.randomnet.options("2-2-1"))
    runs = {}
    for name, n in (("p", 2), ("s", 1)):
        monkeypatch.setattr(worksheet, "workers", lambda n=n: n if sys.platform == "linux" else 1)
        out = {k: tmp_path / f"{name}.{k}" for k in ("xml", "gift", "zip")}
        worksheet.write(
            tmp_path / name, plan, plan.count, ("md",), moodle=out["xml"], moodle_style=style, gift=out["gift"],
            qti=out["zip"],
        )  # fmt: skip
        runs[name] = {k: p.read_bytes() for k, p in out.items()}
    assert runs["p"] == runs["s"]
    variants = list(plan)
    from tutor.teach import gift, moodle, qti

    assert runs["s"]["xml"] == moodle.moodle_xml(variants, style=style)
    assert runs["s"]["gift"] == gift.gift(variants).encode("utf-8")
    assert runs["s"]["zip"] == qti.package(variants)


def test_an_error_in_a_worker_keeps_its_message_and_place():
    import pickle

    from tutor.spec.errors import SpecError

    err = pickle.loads(pickle.dumps(SpecError("must be positive", "layers[1].weights")))
    assert (
        type(err) is SpecError
        and err.where == "layers[1].weights"
        and str(err) == "layers[1].weights: must be positive"
    )
