"""LMS exports read back: the Moodle Cloze question of a variant into its sub-questions, GIFT and Canvas QTI into
their questions, each against the engine's values; and the worksheet options behind them (--blanks, --nice,
larger random networks)."""

from __future__ import annotations

import csv
import html
import io
import math
import re
import stat
import xml.etree.ElementTree as ET
import zipfile

import pytest

from tutor.cli import main
from tutor.spec.rounding import format_fixed
from tutor.teach import gift, lms, moodle, qti, randomnet, variantcode, worksheet
from tutor.teach.grading import MISCONCEPTIONS

from .test_bad_input import assert_clean_error


@pytest.fixture(scope="module")
def three():
    return list(worksheet.Variants(3, 40, randomnet.options("2-2-2"), secret=SECRET))


SECRET = "a lecturer's secret of at least 32 characters"


def test_cloze_question_parses_back_into_every_box_in_order(three):
    root = ET.fromstring(moodle.moodle_xml(three))
    clozes = root.findall("question[@type='cloze']")
    assert len(clozes) == 3 and len(root.findall("question[@type='category']")) == 3
    for v, q in zip(three, clozes):
        text = q.findtext("questiontext/text")
        subs = moodle.parse_cloze(text)
        assert len(subs) == len(v.questions)  # every box of the variant, in order
        for question, answers in zip(v.questions, subs):
            fraction, value, tol, feedback = answers[0]
            assert fraction == 100 and value == format_fixed(v.walk.value(question.key), 4)
            assert tol == pytest.approx(1e-4, rel=1e-9)  # one unit of the last decimal, whatever the key's size
            for fraction, wrong, _, feedback in answers[1:]:
                assert fraction == 0 and feedback.startswith("It looks like ")
                assert any(html.unescape(feedback).startswith(f"It looks like {m} (") for m in MISCONCEPTIONS.values())
                assert abs(float(wrong) - float(value)) > tol
        # the network: its diagram embedded as a file, the wiring, the activation and the loss formulas
        assert "@@PLUGINFILE@@/network.svg" in text
        assert q.find("questiontext/file[@name='network.svg']").get("encoding") == "base64"
        assert r"\to h_{1}" in text and r"\frac{1}{1 + e^{- x}}" in text and "half the sum of squared errors" in text
        # the worked line of every box as general feedback
        assert len(ET.fromstring(q.findtext("generalfeedback/text")).findall("li")) == len(v.questions)
    # some box of some variant has misconception answers (the generator is not idle)
    assert any(len(a) > 1 for q in clozes for a in moodle.parse_cloze(q.findtext("questiontext/text")))


def test_cloze_feedback_round_trips_through_moodles_parser(three):
    """Read as Moodle's multianswer parser reads the imported question text, every feedback is stored as HTML
    that shows exactly the text written, without a backslash escape, whatever characters it holds."""
    nasty = 'a } b # c ~ d / e " f \\ g < h & i {1:NUMERICAL:=1} j'
    box = lms.Box(1, "k", "k", "k", 0.5, "0.5000", 1e-4, "", (), (lms.Wrong(0.25, "0.2500", "m", nasty),))
    div = ET.Element("p")
    div.text = moodle.subquestion(box)  # as the Cloze question serializes it: HTML inside XML
    imported = ET.tostring(div, encoding="unicode", method="html")  # what Moodle reads from the XML
    ((right, wrong),) = moodle.parse_cloze(imported)
    assert right == (100.0, "0.5000", 1e-4, "Right.") and wrong[:3] == (0.0, "0.2500", 1e-4)
    assert html.unescape(wrong[3]) == nasty and "<" not in wrong[3] and "\\" not in wrong[3]
    stored = [
        a[3]
        for v in three
        for q in ET.fromstring(moodle.moodle_xml([v])).findall("question[@type='cloze']")
        for sub in moodle.parse_cloze(q.findtext("questiontext/text"))
        for a in sub
    ]
    assert len(stored) > 3 * len(three[0].questions)
    assert not any(re.search(r"\\[/}#~\\]", f) for f in stored)
    assert any("/" in f for f in stored)  # the slashes that used to show as \/ are there, as typed


def test_gift_parses_back(three):
    text = gift.gift(three)
    assert text.count("$CATEGORY:") == 3
    assert "// " + gift.SEQUENTIAL in text.splitlines()[:3]  # what the quiz needs, which GIFT cannot set
    questions = gift.parse(text)
    assert len(questions) == sum(len(v.questions) for v in three)
    flat = [(v, q) for v in three for q in v.questions]
    for (v, q), parsed in zip(flat, questions):
        assert parsed["title"] == f"Variant {v.number:03d} question {q.number:02d}: {q.key}"
        fraction, value, tol, feedback = parsed["answers"][0]
        assert fraction == 100 and value == q.shown and feedback == "Right."
        assert tol == pytest.approx(1e-4, rel=1e-9)
        assert all(f == 0 and fb.startswith("It looks like") for f, _, _, fb in parsed["answers"][1:])
        # the worked line, typeset: one \( \) pair around all of it
        assert parsed["feedback"].startswith("\\(") and parsed["feedback"].endswith(f"= {q.shown}\\)")
        assert parsed["feedback"].count("\\(") == 1 and parsed["feedback"].count("\\)") == 1
        assert r"\to" in parsed["text"] and "<table" in parsed["text"]  # the network and its wiring
    # a question later in the step says which earlier values to use
    later = next(p for (v, q), p in zip(flat, questions) if q.key == "out_h1")
    assert re.search(r"using \\\(\\mathrm\{net\}_\{h1\} = -?\d\.\d{4}\\\)", later["text"])


def test_gift_escapes_its_special_characters():
    nasty = "a = b ~ c # d { e } f : g \\ h\nnext"
    assert gift.unescape(gift.escape(nasty)) == nasty
    assert not re.search(r"(?<!\\)[=~#{}:]", gift.escape(nasty).replace("\\\\", ""))


def test_qti_package_parses_back(three):
    data = qti.package(three)
    assert qti.package(three) == data  # the same variants give the same bytes
    assessments = qti.parse(data)
    assert len(assessments) == 3
    for v, a in zip(three, assessments):
        assert a["title"].endswith(f"variant {v.number} (code {v.code})")
        assert any(f.endswith("/network.svg") for f in a["files"])
        assert len(a["items"]) == len(v.questions)
        for q, item in zip(v.questions, a["items"]):
            assert item["type"] == "numerical_question" and item["title"] == f"Question {q.number}: {q.label}"
            assert q.shown in item["comments"]["neutral"]  # the worked line, always shown
        # every item answerable on its own: the network (diagram, wiring) in each
        assert all("$IMS-CC-FILEBASE$/network.svg" in i["text"] and r"\to" in i["text"] for i in a["items"])
    # a later item gives the values of earlier boxes: one question a page, no going back
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        metas = [ET.fromstring(z.read(n)) for n in z.namelist() if n.endswith("/assessment_meta.xml")]
    assert len(metas) == 3
    for m in metas:
        assert m.findtext(f"{{{qti.META_NS}}}one_question_at_a_time") == "true"
        assert m.findtext(f"{{{qti.META_NS}}}cant_go_back") == "true"


def test_qti_items_credit_only_the_right_range(three):
    """Read as Canvas's numeric importer reads an item, each accepts one range, the key's; a value a
    misconception gives earns nothing, yet its feedback is the item's incorrect-answer comment."""
    named = 0
    for v, a in zip(three, qti.parse(qti.package(three))):
        for b, item in zip(lms.boxes(v), a["items"]):
            assert len(item["accepted"]) == 1, item["title"]
            lo, hi = item["accepted"][0]
            assert lo == pytest.approx(b.value - b.tolerance, abs=1e-12)
            assert hi == pytest.approx(b.value + b.tolerance, abs=1e-12)
            assert lo <= float(b.shown) <= hi
            assert set(item["comments"]) <= {"neutral", "incorrect"}
            for w in b.wrong:
                assert not lo <= float(w.shown) <= hi
                assert f"{w.shown}: {html.escape(w.feedback, quote=False)}" in item["comments"]["incorrect"]
                named += 1
            if not b.wrong:
                assert "incorrect" not in item["comments"]
    assert named > 10  # the misconception generator is not idle


def test_worksheet_writes_every_export(tmp_path, capsys):
    out = tmp_path / "ws"
    argv = ["worksheet", "--count", "2", "--seed", "9", "-o", str(out), "--format", "md"]
    argv += ["--moodle", str(tmp_path / "c.xml"), "--gift", str(tmp_path / "q.gift"), "--qti", str(tmp_path / "q.zip")]
    assert main(argv) == 0
    assert ET.parse(tmp_path / "c.xml").getroot().findall("question[@type='cloze']")
    assert gift.parse((tmp_path / "q.gift").read_text(encoding="utf-8"))
    assert len(qti.parse((tmp_path / "q.zip").read_bytes())) == 2
    assert (out / "variant-01" / "diagram.svg").read_text(encoding="utf-8").startswith("<svg")


def test_exports_of_a_question_a_box_say_they_need_sequential_navigation(tmp_path, capsys, three):
    """GIFT and the Moodle bank give in each question the right values of the earlier boxes it uses, and neither
    format can set a quiz's navigation: the file says so where the importer skips it, and so does the command.
    The Cloze question (no earlier value given) and QTI (which sets it) need no such note."""
    bank = moodle.moodle_xml(three, style="bank")
    assert b"<!-- " + lms.SEQUENTIAL.encode() + b" -->" in bank.split(b"<question", 1)[0]
    assert ET.fromstring(bank).findall("question[@type='numerical']")  # the comment is no question
    assert b"<!--" not in moodle.moodle_xml(three) and "Sequential" in gift.SEQUENTIAL
    argv = ["worksheet", "--count", "1", "-o", str(tmp_path / "ws"), "--format", "md"]
    assert main([*argv, "--moodle", str(tmp_path / "c.xml"), "--qti", str(tmp_path / "q.zip")]) == 0
    assert "Sequential" not in capsys.readouterr().out
    assert (
        main([*argv, "--moodle", str(tmp_path / "b.xml"), "--moodle-style", "bank", "--gift", str(tmp_path / "g")]) == 0
    )
    assert f"{tmp_path / 'g'} and {tmp_path / 'b.xml'}: {lms.SEQUENTIAL}" in capsys.readouterr().out.splitlines()
    # a spec's one sheet exports the same way: the bank's comment, and the command's note
    spec = ["worksheet", "--spec", "mazur", "-o", str(tmp_path / "one")]
    assert main([*spec, "--moodle", str(tmp_path / "sb.xml"), "--moodle-style", "bank"]) == 0
    assert f"{tmp_path / 'sb.xml'}: {lms.SEQUENTIAL}" in capsys.readouterr().out.splitlines()
    assert b"<!-- " + lms.SEQUENTIAL.encode() + b" -->" in (tmp_path / "sb.xml").read_bytes().split(b"<question", 1)[0]


# -- the worksheet's own options -----------------------------------------------------------------------------


def test_student_sheet_reveals_no_answer(three):
    for v in three:
        for fmt in worksheet.FORMATS:
            sheet = worksheet.sheet(v, fmt)
            assert "quiz --random" not in sheet and "quiz -{}-random" not in sheet
            for q in v.questions:  # no box's value is printed on the student's sheet
                assert not re.search(rf"(?<![\d.]){re.escape(q.shown)}(?!\d)", sheet), (fmt, q.key)
            assert "half_sse" not in sheet and "half the sum of squared errors" in sheet
        assert "quiz --random" in worksheet.sheet(v, "md", key=True)


def test_blanks_choose_the_boxes(tmp_path):
    v = next(worksheet.variants(1, 40, randomnet.options("2-2-2"), blanks=("backward",)))
    assert {q.section for q in v.questions} == {"backward"} and v.questions[0].number == 1
    sheet = worksheet.sheet(v, "md")
    forward = [q for q in v.all_questions if q.section == "forward"]
    assert all(f"{q.shown} (given)" in sheet for q in forward)  # earlier values are given
    assert "## Gradients" not in sheet and "## Updates" not in sheet  # later ones would give boxes away
    assert v.quiz_command.endswith("--section backward")


def test_bad_blanks(tmp_path, capsys):
    rc = main(["worksheet", "-o", str(tmp_path / "x"), "--blanks", "forward,nope"])
    assert_clean_error(rc, capsys.readouterr().err, "--blanks", "'nope'", "forward, error, backward")


def test_nice_networks_are_hand_computable():
    for seed in range(1, 13):
        made = randomnet.make(seed, randomnet.options("2-2-1", activation="relu", nice=True))
        net = made.network
        assert "--nice" in made.command
        for layer in net.layers:
            for w in [*layer.weights.ravel(), *layer.biases]:
                assert float(w) * 10 == pytest.approx(round(float(w) * 10), abs=1e-9)  # one decimal
        assert set(net.inputs.tolist()) <= set(randomnet.NICE_INPUTS)
        from tutor.engine import numeric

        fw = numeric.step(net.with_conventions(rounding="exact")).forward
        assert (fw.nets[0] > 0.05).all()  # no dead ReLU
        assert ((fw.outs[-1] > 0.05) & (fw.outs[-1] < 0.95)).all()  # no saturated sigmoid


def test_networks_beyond_five_layers_of_six_when_asked():
    made = randomnet.make(2, randomnet.options("3-7-7-7-7-2"))
    assert made.network.shape == (3, 7, 7, 7, 7, 2)
    assert randomnet.parse_shape("2-10-10-10-10-10-10-1") == (2, 10, 10, 10, 10, 10, 10, 1)
    assert math.isfinite(made.network.layers[-1].weights.sum())


def test_cloze_of_blanks_gives_the_earlier_values():
    v = next(worksheet.variants(1, 40, randomnet.options("2-2-2"), blanks=("backward",)))
    text = ET.fromstring(moodle.moodle_xml([v])).find("question[@type='cloze']").findtext("questiontext/text")
    assert len(moodle.parse_cloze(text)) == len(v.questions)
    text = html.unescape(text)
    for q in v.all_questions:
        if q.section == "forward":
            assert f"{q.shown} (given)" in text
    assert r"\(\mathrm{out}_{h1}\) (given)" in text  # dnet_o1/dw5 only copies out_h1: written as what it copies


def test_no_student_file_or_question_text_gives_the_seed_or_a_key_value(tmp_path):
    """The seed regenerates every key (worksheet or quiz --random on it): students see an opaque code instead,
    which the lecturer's table maps back. Searched: every student sheet and drawing, and every text an LMS shows
    a student (names, categories, question texts with the Cloze answers taken out); the sheets also for every
    key value."""
    out, seed = tmp_path / "class", 918273
    argv = ["worksheet", "--count", "2", "--seed", str(seed), "-o", str(out), "--format", "all"]
    argv += ["--moodle", str(tmp_path / "c.xml"), "--gift", str(tmp_path / "q.gift"), "--qti", str(tmp_path / "q.zip")]
    assert main(argv) == 0
    codes = {int(r["variant"]): r for r in csv.DictReader((out / variantcode.CODES_FILE).open(encoding="utf-8"))}
    assert [int(codes[k]["seed"]) for k in (1, 2)] == [seed, seed + 1]
    secret = (out / variantcode.SECRET_FILE).read_text(encoding="utf-8").strip()
    assert all(codes[k]["code"] == variantcode.code(secret, seed + k - 1) for k in (1, 2))
    leaks = re.compile(rf"seed|(?<![\d.]){seed}(?!\d)|(?<![\d.]){seed + 1}(?!\d)", re.I)

    # the students' folder, handed out whole, holds the sheets and their drawings and nothing else
    student = {
        p.relative_to(out / worksheet.STUDENTS).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((out / worksheet.STUDENTS).rglob("*"))
        if p.is_file()
    }
    names = ("diagram.svg", "sheet.md", "sheet.tex")
    assert sorted(student) == [f"variant-{k:02d}/{n}" for k in (1, 2) for n in names]
    for k in (1, 2):
        folder = out / f"variant-{k:02d}"
        assert f"Variant code {codes[k]['code']}." in student[f"{folder.name}/sheet.md"]
        assert "--seed" in (folder / "key.md").read_text(encoding="utf-8")  # the key keeps the practice command
        assert not list(folder.glob("sheet.*"))  # the lecturer's folder: keys, walk-throughs, self-check pages
    variants = list(worksheet.Variants(2, seed, randomnet.options()))
    for v in variants:
        keys = {q.shown for q in v.questions}
        for name, text in student.items():
            if name.startswith(f"variant-{v.number:02d}/") and name.startswith("sheet", 11):
                assert not [x for x in keys if re.search(rf"(?<![\d.]){re.escape(x)}(?!\d)", text)], name

    shown = dict(student)
    root = ET.parse(tmp_path / "c.xml").getroot()
    for i, q in enumerate(root.iter("question")):
        texts = [t.text or "" for t in q.iter("text")]
        shown[f"cloze {i}"] = moodle._NUMERICAL.sub("{#}", " ".join(texts[:2]))  # name or category, question text
    for i, q in enumerate(gift.parse((tmp_path / "q.gift").read_text(encoding="utf-8"))):
        shown[f"gift {i}"] = q["title"] + " " + q["text"]
    shown["gift categories"] = "".join(re.findall(r"^\$CATEGORY:.*$", (tmp_path / "q.gift").read_text(), re.M))
    for a in qti.parse((tmp_path / "q.zip").read_bytes()):
        shown[a["title"]] = a["title"] + "".join(i["title"] + i["text"] for i in a["items"])
    # the Moodle bank of the same variants: names, categories, question texts and feedback
    keyed = worksheet.Variants(2, seed, randomnet.options(), secret=secret)
    for i, q in enumerate(ET.fromstring(moodle.moodle_xml(keyed, style="bank")).iter("question")):
        shown[f"bank {i}"] = " ".join(t.text or "" for t in q.iter("text"))
    assert len(shown) > 2 * 6 + 10 and f"Variant 001 ({codes[1]['code']})" in shown["bank 0"]
    assert not [name for name, text in shown.items() if leaks.search(text)]


def test_the_lecturers_secret_and_codes_are_private_and_kept(tmp_path, capsys):
    """The secret and the codes' map are readable by their owner only, from the first byte written; a later run
    into the folder reads the secret again (the same codes) and makes it private if it was not."""
    out = tmp_path / "class"
    assert main(["worksheet", "--count", "1", "--seed", "5", "-o", str(out), "--format", "md"]) == 0
    assert "the students' sheets alone, to hand out: " + str(out / "students") in capsys.readouterr().out
    secret, codes = out / variantcode.SECRET_FILE, out / variantcode.CODES_FILE
    assert [stat.S_IMODE(p.stat().st_mode) for p in (secret, codes)] == [0o600, 0o600]
    before = (secret.read_bytes(), codes.read_bytes())
    secret.chmod(0o644)
    assert main(["worksheet", "--count", "1", "--seed", "5", "-o", str(out), "--format", "md"]) == 0
    assert (secret.read_bytes(), codes.read_bytes()) == before
    assert [stat.S_IMODE(p.stat().st_mode) for p in (secret, codes)] == [0o600, 0o600]


# -- the sheet's stated rule, the key and the tolerance: one thing in every export -------------------------------


def _moodle_accepts(value: str, tolerance: float, response: float) -> bool:
    """Moodle's nominal tolerance (qtype_numerical_answer::get_tolerance_interval): the stored tolerance plus
    10**-precision (PHP's precision is 14) times max(1, |answer|), bounds included."""
    slack = tolerance + 1e-14 * max(1.0, abs(float(value)))
    return float(value) - slack <= response <= float(value) + slack


def _students_answers(raw: float, tolerance) -> set[float]:
    """What a student following the sheet's rule writes for a box whose formula gives ``raw`` from the rounded
    values before it: rounded half away from zero, and as Python's and NumPy's rounding give it (an exact tie
    such as 0.00465 goes either way)."""
    import numpy as np

    from tutor.spec.rounding import round_half_away

    places = tolerance.places
    if tolerance.mode == "sf" and raw != 0:
        places = tolerance.places - 1 - math.floor(math.log10(abs(raw)))
    return {round_half_away(raw, places), round(raw, places), float(np.round(raw, places))}


def _rule_chain(v) -> dict[str, float]:
    """Every box's value by the sheet's rule, recomputed from the given values alone: each quantity's formula over
    the values before it, rounded to the sheet's decimals and carried (not the walk's carried values)."""
    from tutor.spec.rounding import round_half_away

    digits, carried, raw = v.made.network.conventions.digits, {}, {}
    for k, q in v.walk.quantities.items():
        if q.form is None:
            carried[k] = q.value
        else:
            raw[k] = float(q.form.fn(*[carried[a] for a in q.args]))
            carried[k] = round_half_away(raw[k], digits)
    return carried, raw


_USES = re.compile(r"\\\(((?:(?!\\[()]).)+?) = (-?[0-9.]+)\\\)")


def _check_exports_accept_the_rule(v) -> int:
    """Every export of ``v`` read as its platform reads it accepts every answer the rule gives; returns how many
    (box, export) pairs were checked."""
    carried, raw = _rule_chain(v)
    digits = v.made.network.conventions.digits
    answers = {q.key: _students_answers(raw[q.key], v.tolerance) for q in v.questions}
    checked = 0
    # Moodle Cloze: every box a NUMERICAL sub-question, the right answer first
    cloze = ET.fromstring(moodle.moodle_xml([v])).find("question[@type='cloze']").findtext("questiontext/text")
    for q, subs in zip(v.questions, moodle.parse_cloze(cloze), strict=True):
        (fraction, value, tol, _), wrong = subs[0], subs[1:]
        assert fraction == 100
        for a in answers[q.key]:
            assert _moodle_accepts(value, tol, a), (v.number, q.key, a, value, tol)
            assert not any(_moodle_accepts(w, t, a) for _, w, t, _ in wrong), (q.key, a)  # no mistake matches first
        checked += 1
    # the Moodle bank, GIFT: a numerical question a box, with the earlier values it uses in its text
    bank = ET.fromstring(moodle.moodle_xml([v], style="bank")).findall("question[@type='numerical']")
    parsed = gift.parse(gift.gift([v]))
    for q, b, g in zip(v.questions, bank, parsed, strict=True):
        first = b.find("answer")
        assert first.get("fraction") == "100"
        (fraction, value, tol, _) = g["answers"][0]
        for a in answers[q.key]:
            assert _moodle_accepts(first.findtext("text"), float(first.findtext("tolerance")), a), (q.key, a)
            assert _moodle_accepts(value, tol, a), (q.key, a)
        # the values the question gives are the rule's carried values (what the student would have)
        used = dict(_USES.findall(html.unescape(g["text"]).split("compute", 1)[1]))
        expected = {lms.boxes(v)[q.number - 1].uses[i][0]: k for i, k in enumerate(_used_boxes(v, q.key))}
        assert {expected[label]: float(x) for label, x in used.items()} == {
            k: float(format_fixed(carried[k], digits)) for k in expected.values()
        }
        checked += 2
    # QTI: Canvas's numeric importer, the item's accepted ranges, bounds included
    items = qti.parse(qti.package([v]))[0]["items"]
    for q, item in zip(v.questions, items, strict=True):
        assert len(item["accepted"]) == 1
        lo, hi = item["accepted"][0]
        for a in answers[q.key]:
            assert lo <= a <= hi, (q.key, a, lo, hi)
        checked += 1
    return checked


def _used_boxes(v, key: str) -> list[str]:
    walk = v.walk
    return [a for a in dict.fromkeys(walk.quantities[key].args) if walk.quantities[a].form is not None]


def _plain_examples() -> list[str]:
    from tutor.engine.walks import plain
    from tutor.spec.network import load
    from tutor.spec.resources import example_names

    return [n for n in example_names("network") if plain(load(n))]


@pytest.mark.parametrize("name", _plain_examples())
def test_every_export_accepts_the_sheets_rule_on_every_example(name):
    from tutor.spec.network import load

    v = worksheet.spec_variant(load(name), name)
    assert _check_exports_accept_the_rule(v) == 4 * len(v.questions)


_RANDOM_OPTIONS = (
    randomnet.options("2-2-1"),
    randomnet.options("2-3-2", "tanh", "softmax", "categorical_cross_entropy"),
    randomnet.options("3-2-2", "relu", "identity", "mse"),
)


@pytest.mark.parametrize("count", [2, pytest.param(10, marks=pytest.mark.slow)])
@pytest.mark.parametrize("tolerance", ["4dp", "3sf"])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_every_export_accepts_the_sheets_rule_on_random_variants(tolerance, which, count):
    """30 random variants at 4 dp and 30 at 3 sf (ten of each set of options; the default run takes the first
    two of each): every export accepts, for every box, what the rule gives from the rounded values before it,
    rounded half away, by Python and by NumPy."""
    from tutor.teach.diagnose import Tolerance

    items = worksheet.Variants(count, 7100 + 10 * which, _RANDOM_OPTIONS[which], Tolerance.parse(tolerance))
    assert sum(_check_exports_accept_the_rule(v) for v in items) >= count * 4 * 20


def test_a_tie_accepts_both_neighbours_in_every_export_format():
    """0.00465 at 4 decimals: half away gives 0.0047, Python's round 0.0046; both are one unit from the key."""
    from tutor.teach.diagnose import Tolerance
    from tutor.teach.grading import sheet_key

    key = sheet_key(0.00465, Tolerance("dp", 4))
    assert (key.shown, key.tolerance) == ("0.0047", 0.0001) and round(0.00465, 4) == 0.0046
    for answer in (0.0046, 0.0047, 0.0048):
        assert _moodle_accepts(key.shown, key.tolerance, answer) and key.accepts(answer)
    assert not _moodle_accepts(key.shown, key.tolerance, 0.00449) and not key.accepts(0.00449)
    # 3 significant figures: one unit of the third figure of the key, whatever its size
    assert sheet_key(-0.0077812, Tolerance("sf", 3)).accepts(-0.00778)
    assert (sheet_key(0.76797, Tolerance("sf", 3)).shown, sheet_key(0.76797, Tolerance("sf", 3)).tolerance) == (
        "0.768",
        0.001,
    )
