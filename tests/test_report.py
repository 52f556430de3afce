"""The class report (``backprop-tutor report``): 30 simulated students' quiz results, made by the quiz's own
grading of seeded answers (the right value, a value a generated misconception gives, a slip, a skip), and a Moodle
Responses export of the same Cloze questions, aggregated into the questions most missed and the misconceptions
most named; the README's excerpt is this report's; bad input is one line."""

from __future__ import annotations

import csv
import json
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.teach import lms, moodle, randomnet, worksheet
from tutor.teach.diagnose import Tolerance
from tutor.teach.grading import MISCONCEPTIONS
from tutor.teach.quiz import Quiz, random_origin, save_results

from .test_bad_input import assert_clean_error

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (7, 8, 9)  # three variants, students taking them in turn


def simulate(folder: Path, students: int = 30) -> list[Path]:
    """Each student's quiz on one of three random networks, answered box by box from a seeded draw: mostly the
    right value, sometimes the value a generated misconception gives (the worksheet's own), a slip or a skip;
    graded and saved by the quiz itself (``quiz --results``)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {s: randomnet.make(s, randomnet.options()) for s in SEEDS}
    boxes = {s: {b.key: b for b in lms.boxes(worksheet.Variants(1, s).make(1))} for s in SEEDS}
    paths = []
    for k in range(students):
        rng, seed = random.Random(k), SEEDS[k % len(SEEDS)]
        quiz = Quiz(made[seed].network, Tolerance("dp", 4), origin=random_origin(made[seed]), tries=1)
        while quiz.current is not None:
            box = boxes[seed][quiz.current.key]
            r = rng.random()
            if r < 0.15 and box.wrong:
                # a named mistake of this box rather than a neighbour's value, four times in five
                named = [w for w in box.wrong if w.misconception != "neighbour-value"] or list(box.wrong)
                answer = rng.choice(named if rng.random() < 0.8 else list(box.wrong)).shown
            elif r < 0.2:
                answer = "s"
            elif r < 0.25:
                answer = f"{box.value + 0.0123:.4f}"
            else:
                answer = box.shown
            quiz.respond(answer)
        path = folder / f"student-{k + 1:02d}.json"
        save_results(path, quiz)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def thirty(tmp_path_factory) -> list[Path]:
    return simulate(tmp_path_factory.mktemp("results"))


def _run(argv, capsys) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _table(text: str, heading: str) -> list[list[str]]:
    """The rows of the Markdown table under ``heading``, as cells."""
    part = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [l for l in part.splitlines() if l.startswith("|")][2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]


def test_the_report_counts_what_the_results_files_hold(thirty, tmp_path, capsys):
    out = tmp_path / "report.md"
    status, printed, err = _run(["report", *thirty, "-o", out], capsys)
    assert (status, err) == (0, "")
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in thirty]
    answers = [q for d in docs for q in d["questions"]]
    missed = [q for q in answers if not q["credited"]]
    assert printed == f"wrote {out}: 30 student(s), {len(answers)} answers, {len(missed)} missed\n"
    assert 0.15 < len(missed) / len(answers) < 0.45  # the draw's rates, through the quiz's own grading
    text = out.read_text(encoding="utf-8")
    # per question, most missed first, with the files' own counts
    rows = _table(text, "The questions most missed")
    by_number = Counter(q["number"] for q in missed)
    asked = Counter(q["number"] for q in answers)
    assert len(rows) == len(asked) == 34
    for row in rows:
        n = int(row[0])
        assert (int(row[2]), int(row[3])) == (asked[n], by_number[n])
    shares = [int(r[3]) / int(r[2]) for r in rows]
    assert shares == sorted(shares, reverse=True)
    # the misconceptions, as the quiz's grading named them
    named = Counter(q["diagnosis"]["misconception"] for q in missed if q["diagnosis"])
    got = {r[0]: int(r[1]) for r in _table(text, "The misconceptions most named")}
    assert got == {MISCONCEPTIONS[m].replace("_", "\\_").replace("*", "\\*"): n for m, n in named.items()}
    assert len(named) >= 5 and sum(named.values()) >= 50
    # per variant: the three networks, ten students each
    variants = _table(text, "Per variant")
    assert sorted(r[0] for r in variants) == [f"seed {s}" for s in SEEDS]
    assert all(r[1] == "10" for r in variants)
    assert sum(int(r[3]) for r in variants) == len(missed)


def test_the_html_report_is_a_page_with_its_policy_and_a_bar_chart(thirty, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert _run(["report", *thirty, "-o", out], capsys)[0] == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"" in page
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", page, re.S).group(0))
    bars = svg.findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 15  # the most missed questions
    widths = [float(b.get("width")) for b in bars]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0
    assert "<script" not in page


def test_every_string_from_a_file_is_escaped(thirty, tmp_path, capsys):
    doc = json.loads(thirty[0].read_text(encoding="utf-8"))
    doc["questions"][0]["label"] = "<script>alert(1)</script> *x* | $y$"
    doc["origin"] = {"spec": "<img src=x onerror=alert(1)>.toml"}
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps(doc), encoding="utf-8")
    for suffix in ("html", "md"):
        out = tmp_path / f"r.{suffix}"
        assert _run(["report", evil, "-o", out], capsys)[0] == 0
        text = out.read_text(encoding="utf-8")
        assert "<script>" not in text and "<img" not in text
        assert "&lt;script&gt;" in text
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert r"\*x\* \| &#36;y&#36;" in md


def _cloze_keys(v) -> list[str]:
    q = ET.fromstring(moodle.moodle_xml([v])).find("question[@type='cloze']")
    return [subs[0][1] for subs in moodle.parse_cloze(q.findtext("questiontext/text"))]


def _moodle_csv(path: Path, variants, answers: list[list[str]]) -> None:
    """A Moodle Responses report (CSV, Response and Right answer shown) of a quiz whose one slot draws a
    variant's Cloze question: each row's response and right answer summarised as Moodle does
    (``part 1: ...; part 2: ...``), the question's summary naming the variant."""
    header = ["Last name", "First name", "Email address", "State", "Started on", "Completed", "Time taken"]
    rows = [header + ["Grade/34.00", "Question 1", "Response 1", "Right answer 1"]]
    for k, given in enumerate(answers):
        v = variants[k % len(variants)]
        right = "; ".join(f"part {i}: {x}" for i, x in enumerate(_cloze_keys(v), 1))
        response = "; ".join(f"part {i}: {x}" for i, x in enumerate(given, 1))
        summary = f"{lms.variant_name(v)}: a 2-2-1 network. Diagram of the network ..."
        rows.append([f"Student{k}", "A", f"s{k}@example.org", "Finished", "", "", "5 mins", "", summary])
        rows[-1] += [response, right]
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def test_a_moodle_responses_export_counts_the_parts_missed(thirty, tmp_path, capsys):
    """Ten Moodle attempts at the Cloze questions of three variants: each part the key, one unit off (right),
    a slip two units off, or left empty; the report counts as missed exactly the slips and the empty parts, per
    box and per variant, and adds them to the results files' answers."""
    variants = list(worksheet.Variants(3, 40, secret="a lecturer's secret of at least 32 characters"))
    answers, missed = [], Counter()
    for k in range(10):
        rng, v = random.Random(100 + k), variants[k % 3]
        given = []
        for i, key in enumerate(_cloze_keys(v), 1):
            r, unit = rng.random(), 10.0 ** -len(key.split(".")[1])
            if r < 0.1:
                given.append(f"{float(key) + 2 * unit:.4f}")
                missed[i, lms.variant_name(v)] += 1
            elif r < 0.15:
                given.append("")
                missed[i, lms.variant_name(v)] += 1
            elif r < 0.3:
                given.append(f"{float(key) - unit:.4f}")  # one unit of its last decimal: right
            else:
                given.append(key)
        answers.append(given)
    export = tmp_path / "responses.csv"
    _moodle_csv(export, variants, answers)
    out = tmp_path / "moodle.md"
    status, printed, err = _run(["report", "--moodle-csv", export, "-o", out], capsys)
    assert (status, err) == (0, "")
    assert printed == f"wrote {out}: 10 student(s), {sum(map(len, answers))} answers, {sum(missed.values())} missed\n"
    rows = {int(r[0]): r for r in _table(out.read_text(encoding="utf-8"), "The questions most missed")}
    for n, row in rows.items():
        assert int(row[3]) == sum(c for (i, _), c in missed.items() if i == n)
        assert row[1] == f"box {n}"
    per_variant = {r[0]: int(r[3]) for r in _table(out.read_text(encoding="utf-8"), "Per variant")}
    assert per_variant == {
        f"variant {v.number} ({v.code})": sum(c for (_, name), c in missed.items() if name == lms.variant_name(v))
        for v in variants
    }
    # with the results files: one report, the boxes numbered alike (a worksheet's box k is its quiz's question k)
    both = tmp_path / "both.md"
    assert _run(["report", *thirty, "--moodle-csv", export, "-o", both], capsys)[0] == 0
    rows = {int(r[0]): r for r in _table(both.read_text(encoding="utf-8"), "The questions most missed")}
    assert int(rows[1][2]) == 30 + 10 and rows[1][1] == "net\\_h1"


def test_the_same_files_give_the_same_bytes(thirty, tmp_path, capsys):
    for name in ("a.html", "b.html"):
        assert _run(["report", *thirty, "-o", tmp_path / name], capsys)[0] == 0
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


@pytest.mark.parametrize(
    "content,where,what",
    [
        ("not json", "bad.json", "not JSON"),
        ('{"format": "something-else"}', "bad.json", "is not a quiz's results file"),
        ('{"format": "backprop-tutor-quiz/1", "questions": [{"number": "one"}]}', "bad.json", "question 1"),
        (
            '{"format": "backprop-tutor-quiz/1", "questions": [{"number": 1, "label": "x", "credited": false, '
            '"diagnosis": {"misconception": "made-up"}}]}',
            "bad.json",
            "no misconception",
        ),
    ],
)
def test_a_malformed_results_file_is_one_line(content, where, what, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    status, out, err = _run(["report", bad, "-o", tmp_path / "r.md"], capsys)
    assert_clean_error(status, err, where, what)
    assert not (tmp_path / "r.md").exists()


def test_a_csv_without_moodles_columns_is_one_line(thirty, tmp_path, capsys):
    bad = tmp_path / "grades.csv"
    bad.write_text("Surname,First name,Grade/10.00\nA,B,5\n", encoding="utf-8")
    status, out, err = _run(["report", thirty[0], "--moodle-csv", bad, "-o", tmp_path / "r.md"], capsys)
    assert_clean_error(status, err, "--moodle-csv", "'Response 1'", "'Right answer 1'")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("Response 1,Right answer 1\npart 1: 0.5,part 1: 0.5,extra\n", encoding="utf-8")
    status, out, err = _run(["report", "--moodle-csv", ragged, "-o", tmp_path / "r.md"], capsys)
    assert_clean_error(status, err, "row 2 has 3 columns")


@pytest.mark.parametrize(
    "argv,what",
    [
        (["-o", "r.txt"], "the suffix chooses the format"),
        (["-o", "r.md"], "give students' quiz --results files"),
        (["missing.json", "-o", "r.md"], "cannot read the file"),
    ],
)
def test_bad_report_options_are_one_line(argv, what, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(["report", *argv], capsys)
    assert_clean_error(status, err, what)


def test_the_output_may_not_be_an_input(thirty, tmp_path, capsys):
    named = tmp_path / "results.md"  # a results file with a report's suffix
    named.write_bytes(thirty[1].read_bytes())
    status, out, err = _run(["report", thirty[0], named, "-o", named], capsys)
    assert_clean_error(status, err, "same file")
    assert named.read_bytes() == thirty[1].read_bytes()


def test_the_readme_shows_this_report(thirty, tmp_path, capsys):
    """The README's excerpt (section "Class report") is the report of these 30 simulated students."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Class report", 1)[1].split("\n### ", 1)[0]
    shown = re.search(r"```markdown\n(.*?)```", section, re.S).group(1).splitlines()
    out = tmp_path / "report.md"
    assert _run(["report", *thirty, "-o", out], capsys)[0] == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    at = 0
    for line in shown:
        if line == "...":
            continue
        assert line in lines[at:], line
        at = lines.index(line, at) + 1
