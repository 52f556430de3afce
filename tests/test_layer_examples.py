"""The built-in examples over feature maps and time (worked_examples/conv-maxpool-softmax, conv1d-two-channels,
rnn-three-steps): each reproduces the numbers its published source prints, at their printed precision (the
values asserted here are the source's, typed from it), and check accepts its claims file; every surface reaches
them through the one walk (engine.walks.step_walk) and the one grader."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import browser  # noqa: F401 - the headless Chromium fixture
from tutor.cli import main
from tutor.engine import numeric
from tutor.engine.walks import step_walk
from tutor.spec import load
from tutor.spec.resources import data_dir, example_names

EXAMPLES = ("conv-maxpool-softmax", "conv1d-two-channels", "rnn-three-steps")

# Rico Jia, "Deep Learning - Convolution Example" (2022): input channel 1 with kernel [[1, 0], [0, 1]]
RICO_MAP = [[7, 15, 23], [9, 17, 25], [11, 19, 27]]
# Dive into Deep Learning, section 16.3: the 1-D cross-correlations with three input channels and with one
D2L_THREE = [2, 8, 14, 20, 26, 32]
D2L_ONE = [2, 5, 8, 11, 14, 17]
# Ayan Paul, Deep-Learning-Tutorial notebook 48: h_1, h_2, h_3 as its Python check prints them (6 decimals)
PAUL_STATES = ["0.753066", "0.809829", "0.708873"]


def test_the_examples_are_built_in():
    assert set(EXAMPLES) <= set(example_names("network"))


def test_conv_example_reproduces_the_published_map():
    walk = step_walk(load("conv-maxpool-softmax"))
    got = [[walk.value(f"net_c1_1.{i}.{j}") for j in (1, 2, 3)] for i in (1, 2, 3)]
    assert got == RICO_MAP
    # the pooling picks the bottom-right of each window: the map grows to the right and downwards
    assert [walk.value(f"net_p2_1.{i}.{j}") for i in (1, 2) for j in (1, 2)] == [17, 25, 19, 27]


def test_conv1d_example_reproduces_both_published_outputs():
    walk = step_walk(load("conv1d-two-channels"))
    assert [walk.value(f"net_c1_1.{j}") for j in range(1, 7)] == D2L_THREE
    assert [walk.value(f"net_c1_2.{j}") for j in range(1, 7)] == D2L_ONE


def test_rnn_example_reproduces_the_published_states():
    walk = step_walk(load("rnn-three-steps"))
    assert walk.value("z1_1.1") == pytest.approx(0.98, abs=1e-15)  # the hand solution's tanh(0.98)
    assert [f"{walk.value(f'h1_{t}.1'):.6f}" for t in (1, 2, 3)] == PAUL_STATES


@pytest.mark.parametrize("name", EXAMPLES)
def test_check_accepts_every_claim_of_the_example(name, capsys):
    claims = data_dir("worked_examples") / name / "claims.toml"
    assert main(["check", name, str(claims)]) == 0
    n = claims.read_text(encoding="utf-8").count("[[claim]]")
    assert f"{n} agree, 0 hold under another convention, 0 wrong." in capsys.readouterr().out


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_walk_agrees_with_the_numeric_engine(name):
    net = load(name)
    walk, st = step_walk(net), numeric.step(net)
    for li, layer in enumerate(net.layers):
        for o, row in enumerate(layer.weight_labels):
            for q, lab in enumerate(row):
                assert walk.value(f"dE_total/d{lab}") == pytest.approx(
                    st.backward.grad_W[li][o, q], rel=1e-12, abs=1e-15
                )


@pytest.mark.parametrize("name", EXAMPLES)
def test_explain_json_holds_every_quantity_of_the_walk(name, capsys):
    import json

    assert main(["explain", name, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    net = load(name)
    walk, st = step_walk(net), numeric.step(net)
    assert doc["values"] == walk.values() and doc["loss_before"] == pytest.approx(st.loss_before, rel=1e-12)
    x_grad = numeric.input_gradient(net, st.forward, st.backward)
    assert list(doc["input_gradients"]) == list(net.input_names)
    assert list(doc["input_gradients"].values()) == pytest.approx(list(x_grad), rel=1e-12, abs=1e-15)
    # the gradient check: each parameter's walk gradient beside the numeric engine's and central differences
    rows = {r["param"]: r for r in doc["gradient_check"]}
    assert len(rows) == len(numeric.flat_loss(net)[0])
    for r in rows.values():
        assert r["symbolic"] == doc["values"][f"dE_total/d{r['param']}"]
        assert r["numeric"] == pytest.approx(r["symbolic"], rel=1e-12, abs=1e-15)
        assert r["finite_difference"] == pytest.approx(r["symbolic"], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_gradient_check_takes_the_walk_by_layers(name):
    """tutor.gradient_check: every parameter in the numeric engine's order, the walk's gradient beside the
    numeric engine's (1e-12) and central differences (1e-6)."""
    from tutor.engine.gradcheck import gradient_check

    net = load(name)
    report = gradient_check(net)
    labels = [lab for layer in net.layers for row in layer.weight_labels for lab in row] + [
        b for layer in net.layers for b in layer.bias_labels[: layer.bias_count]
    ]
    assert sorted(r.param for r in report.rows) == sorted(labels) and len(report.rows) == len(numeric.flat_loss(net)[0])
    for r in report.rows:
        assert r.symbolic == pytest.approx(r.numeric, rel=1e-12, abs=1e-15), r.param
        assert r.symbolic == pytest.approx(r.finite_difference, rel=1e-6, abs=1e-9), r.param
    assert report.ok


# -- the quiz and the self-check page (the one grader) -------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_quiz_asks_the_walk_by_layers_and_credits_right_answers(name):
    from tutor.teach.quiz import Quiz

    qz = Quiz(load(name), digits=4, tries=1)
    walk = step_walk(qz.network)
    assert {q.key for q in qz.questions} <= set(walk.quantities)
    assert {q.section for q in qz.questions} >= {"forward", "error", "backward", "gradients", "updates"}
    for q in qz.questions:
        assert qz.respond(q.shown).verdict == "correct", q.key
    assert sum(a.credited for a in qz.answers) == len(qz.questions)


def test_a_conv_quiz_carries_a_wrong_sum_forward_and_names_a_sign_slip():
    from tutor.teach.quiz import Quiz

    qz = Quiz(load("conv-maxpool-softmax"), digits=4, tries=1)
    first = qz.current
    assert first.key == "net_c1_1.1.1" and first.shown == "7.0000"
    # the published 7 is right; 8 is wrong, and the relu of 8 then follows from the student's own value
    assert qz.respond("8").verdict == "wrong"
    while qz.current.key != "out_c1_1.1.1":
        qz.respond(qz.current.shown)
    assert qz.respond("8").verdict == "carried"
    # a kernel weight's update with the step's sign flipped: the grader names the slip
    upd = next(q for q in qz.questions if q.key == "w1_1111+")
    while qz.current.key != upd.key:
        qz.respond(qz.current.shown)
    base = qz.walk.value("w1_1111")
    flipped = base + (base - upd.value)
    fb = qz.respond(f"{flipped:.4f}")
    assert fb.verdict == "wrong" and "added instead of subtracted" in fb.message, fb.message


def test_the_rnn_quiz_is_aimed_at_one_shared_weight():
    from tutor.teach.quiz import Quiz

    qz = Quiz(load("rnn-three-steps"), digits=4, param="wh1_1.1")
    assert [q.key for q in qz.questions] == ["dE_total/dwh1_1.1", "wh1_1.1+"]
    assert "wh1_1.1 = 0.5" in "\n".join(qz.intro()) and "h1_0.1 = 0.1" in "\n".join(qz.intro())


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_self_check_page_draws_the_given_grids_only(name, tmp_path):
    page = tmp_path / "check.html"
    assert main(["explain", name, "--self-check", "-o", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert 'class="bt-selfcheck' in html and "Content-Security-Policy" in html
    walk = step_walk(load(name))
    assert '<pre class="grid">' in html
    # no asked value is drawn: the published map's 27 is asked, not shown; the input's 16 is given
    grids = html.split('<div class="maps">')[1].split("</div>")[0]
    if name == "conv-maxpool-softmax":
        assert "27" not in grids and "16" in grids
    assert walk.loss in html  # the loss is a question of the page (its key is in the page's data)


def test_the_self_check_page_grades_as_the_quiz_does(browser, tmp_path):  # noqa: F811
    """A generated student (right, carried, misconception, near miss, gambit answers) on the recurrent example:
    the page's script and the terminal quiz give every answer the same verdict and diagnosis."""
    from .test_grading import agreement

    assert agreement(browser, tmp_path, students_per_spec=2, seed=32, specs=("rnn-three-steps",)) >= 60


@pytest.mark.slow
def test_the_self_check_page_grades_every_example_as_the_quiz_does(browser, tmp_path):  # noqa: F811
    from .test_grading import agreement

    assert agreement(browser, tmp_path, students_per_spec=3, seed=33, specs=EXAMPLES) >= 500


# -- the worksheet -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_worksheet_asks_the_quizs_boxes_and_draws_the_given_grids(name, tmp_path):
    """worksheet --spec: the sheet's boxes are the quiz's questions, the key gives each one's value as the quiz
    grades it, the sheet gives none of them away, and the picture is the given maps and kernels as grids."""
    import xml.etree.ElementTree as ET

    from tutor.render import maps
    from tutor.teach.quiz import Quiz

    out = tmp_path / "sheet"
    assert main(["worksheet", "--spec", name, "-o", str(out), "--format", "all"]) == 0
    net = load(name)
    qz = Quiz(net)
    sheet, key = (out / "sheet.md").read_text("utf-8"), (out / "key.md").read_text("utf-8")
    pos = 0
    for n, q in enumerate(qz.questions, 1):  # every box, in order, numbered as the quiz numbers it
        pos = key.index(f"\n{n}. ", pos)
        line = key[pos : key.index("\n", pos + 1)]
        # the key's value (carried as printed) is what the quiz credits as right
        assert qz.current.key == q.key and qz.respond(line.rsplit("**", 2)[1]).verdict == "correct", line
    assert f"\n{len(qz.questions)}. " in key and f"\n{len(qz.questions) + 1}. " not in key
    assert r"\answerbox" in (out / "sheet.tex").read_text("utf-8")
    if name == "conv-maxpool-softmax":  # the published map's 27 is a box: on the key only
        assert "**27.000000000**" in key and "27.000000000" not in sheet
    if name == "rnn-three-steps":  # the published states at their printed six decimals
        shown = {q.key: q.shown for q in qz.questions}
        assert [f"{float(shown[f'h1_{t}.1']):.6f}" for t in (1, 2, 3)] == PAUL_STATES
        assert all(f"**{shown[f'h1_{t}.1']}**" in key and shown[f"h1_{t}.1"] not in sheet for t in (1, 2, 3))
    svg = ET.fromstring((out / "diagram.svg").read_text("utf-8"))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    walk = qz.walk
    assert texts[0] == maps.given_grids(walk)[0][0]
    first_row = maps.given_grids(walk)[0][1][0]
    assert texts[1].split() == first_row
    assert (out / "walkthrough.md").read_text("utf-8") == maps.render(walk, "md")


def test_the_worksheets_self_check_page_asks_the_walk_by_layers(tmp_path):
    out = tmp_path / "page"
    assert main(["worksheet", "--spec", "rnn-three-steps", "-o", str(out), "--format", "html"]) == 0
    html = (out / "selfcheck.html").read_text("utf-8")
    assert '<pre class="grid">0.7\n0.5\n0.2</pre>' in html and "Content-Security-Policy" in html


@pytest.mark.slow
def test_the_conv_worksheet_compiles(tmp_path):
    out = tmp_path / "sheet"
    assert main(["worksheet", "--spec", "conv-maxpool-softmax", "-o", str(out), "--format", "tex", "--pdf"]) == 0
    assert (out / "sheet.pdf").read_bytes().startswith(b"%PDF") and (out / "key.pdf").stat().st_size > 0


# -- the LMS exports of a spec's sheet ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["conv-maxpool-softmax", "rnn-three-steps", pytest.param("conv1d-two-channels", marks=pytest.mark.slow)]
)
def test_the_lms_exports_ask_the_sheets_boxes_and_credit_the_quizs_answers(name, tmp_path):
    """worksheet --spec NAME --moodle --gift --qti: each export, read back as its LMS reads it, holds the
    sheet's boxes in order; the value it credits is the one the quiz grades right, its range holds it and no
    misconception's value."""
    import xml.etree.ElementTree as ET

    from tutor.teach import gift, moodle, qti
    from tutor.teach.quiz import Quiz

    xml, gft, zp = tmp_path / "bank.xml", tmp_path / "bank.gift", tmp_path / "canvas.zip"
    argv = ["worksheet", "--spec", name, "-o", str(tmp_path / "s"), "--format", "md"]
    assert main([*argv, "--moodle", str(xml), "--gift", str(gft), "--qti", str(zp)]) == 0
    qz = Quiz(load(name), tries=1)
    n = len(qz.questions)
    (cloze,) = ET.fromstring(xml.read_text("utf-8")).findall("question[@type='cloze']")
    subs = moodle.parse_cloze(cloze.findtext("questiontext/text"))
    parsed = gift.parse(gft.read_text("utf-8"))
    (assessment,) = qti.parse(zp.read_bytes())
    assert len(subs) == len(parsed) == len(assessment["items"]) == n
    assert sum(len(sub) - 1 for sub in subs) > n  # the misconception generator reaches these kinds too
    credited = {}
    for q, sub, g, item in zip(qz.questions, subs, parsed, assessment["items"]):
        fraction, value, tol, _ = sub[0]
        assert fraction == 100 and g["answers"][0][:2] == (100, value) and g["title"].endswith(f": {q.key}")
        ((lo, hi),) = item["accepted"]
        assert lo <= float(value) <= hi and hi - lo == pytest.approx(2 * tol, rel=1e-9)
        assert all(not lo <= float(w[1]) <= hi for w in sub[1:])  # a misconception's value earns nothing
        assert qz.respond(value).verdict == "correct", (q.key, value)
        credited[q.key] = value
    if name == "conv-maxpool-softmax":
        assert credited["net_c1_1.3.3"] == "27.000000000" and "network.svg" in cloze.findtext("questiontext/text")
    if name == "rnn-three-steps":
        assert [f"{float(credited[f'h1_{t}.1']):.6f}" for t in (1, 2, 3)] == PAUL_STATES
    # nothing is overwritten: the same command again is refused before it writes
    assert main([*argv[:4], str(tmp_path / "t"), "--format", "md", "--gift", str(gft)]) == 2
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_symbolic_quiz_credits_each_asked_formula_of_the_walk(name):
    """quiz --symbolic on the walk by layers: each formula it asks, written as the walk's own form in the typed
    names, is credited by the one grader; the same formula for another quantity is not."""
    from tutor.teach.quiz import Quiz
    from tutor.teach.symquiz import FormulaQuiz

    qz = Quiz(load(name))
    fq = FormulaQuiz(qz)
    formulas = qz.grader.formulas
    assert len(fq.questions) >= 9 and {"E_total", "dE_total/dout_o1"} <= {q.key for q in fq.questions}
    texts = [str(formulas.reference(q.key)) for q in fq.questions]
    for q, text in zip(fq.questions, texts):
        assert qz.grader.grade_formula(q.key, text).credited, (q.key, text)
    assert not qz.grader.grade_formula(fq.questions[0].key, texts[1]).credited


@pytest.mark.parametrize("name", EXAMPLES)
def test_terminal_text_is_broken_to_the_terminals_width(name):
    """In a terminal the walk by layers is broken to its width, as a dense walk-through is (lines.wrap_text):
    the same characters, no line wider than 80 columns; written to a file or a pipe, lines are kept whole."""
    from tutor.engine.sym_maps import explain_maps
    from tutor.render import Options, maps

    walk = explain_maps(load(name))
    whole = maps.render(walk, "text", Options())
    broken = maps.render(walk, "text", Options(width=80))
    assert max(map(len, broken.splitlines())) <= 80 < max(map(len, whole.splitlines()))
    assert "".join(broken.split()) == "".join(whole.split())


# -- --brief --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_brief_writes_each_layers_first_line_in_full_and_the_others_as_values(name, capsys):
    """explain --brief: every calculation of the full walk-through is still there, the first of each group in
    full and the others as 'label = value' with the same value; the document is shorter."""
    assert main(["explain", name]) == 0
    full = capsys.readouterr().out.splitlines()
    assert main(["explain", name, "--brief"]) == 0
    brief = capsys.readouterr().out.splitlines()
    calcs = [l for l in full if l.startswith("    ") and " = " in l and not l.strip().startswith(("kernel", "dE/dk"))]
    # a brief document carries fewer decimals (at most BRIEF extra ones), so a value is the full one rounded to
    # the brief's decimals
    last = {l.split(" = ")[0]: l for l in brief if l.startswith("    ") and " = " in l}
    shortened = 0
    for l in calcs:
        label, value = l.split(" = ")[0], re.split(" [=≈] ", l)[-1]
        assert label in last, l
        short = re.split(" [=≈] ", last[label])[-1]
        decimals = len(short.partition(".")[2])
        assert float(short) == pytest.approx(round(float(value), decimals), abs=10**-decimals / 2), (l, last[label])
        shortened += last[label].count(" = ") == 1 < l.count(" = ")
    assert shortened > len(calcs) / 3 and sum(map(len, brief)) < sum(map(len, full))
    assert last[calcs[0].split(" = ")[0]].count(" = ") > 1  # the first position's sum, written out


# -- the torch-recorded cases: strides, padding, several channels, average pooling, many-to-many -----------------


def _recorded_cases():
    from tests.test_conv import CASES as CONV
    from tests.test_rnn import CASES as RNN

    return {**CONV, **RNN}


@pytest.mark.parametrize("name", sorted(_recorded_cases()))
def test_the_quiz_and_worksheet_take_every_recorded_case(name):
    """The cases tests/test_conv.py and tests/test_rnn.py compare with torch: the quiz credits each question's
    value, which agrees with the numeric engine (1e-12) on every gradient, and the worksheet's boxes are the
    quiz's questions."""
    from tutor.spec import from_mapping
    from tutor.teach import worksheet
    from tutor.teach.quiz import Quiz

    net = from_mapping({"conventions": {}, **_recorded_cases()[name]})
    qz = Quiz(net.with_conventions(rounding="exact"), rounding="exact", tries=1)
    st = numeric.step(net)
    grads = {
        f"dE_total/d{lab}": st.backward.grad_W[li][o, i]
        for li, layer in enumerate(net.layers)
        for o, row in enumerate(layer.weight_labels)
        for i, lab in enumerate(row)
    }
    asked = [q for q in qz.questions if q.key in grads]
    assert len(asked) == len(grads)
    for q in asked:
        assert q.value == pytest.approx(grads[q.key], rel=1e-12, abs=1e-15), q.key
    for q in qz.questions:
        assert qz.respond(q.shown).verdict == "correct", q.key
    v = worksheet.spec_variant(net, name)
    assert [q.key for q in v.questions] == [q.key for q in Quiz(net).questions]


def test_a_wide_grid_is_set_smaller_or_split_into_blocks_of_columns_on_the_latex_page():
    """conv1d-two-channels' delta maps ran 9.8 pt past the page: a grid takes the largest typewriter size
    that fits, and past the smallest legible one (footnotesize) it is split into blocks of whole columns."""
    from tutor.render.maps import TEX_SIZES, grid, tex_pieces

    narrow = grid([["0.5", "-1"], ["2", "3"]])
    assert tex_pieces(narrow) == [{"size": "", "rows": narrow, "columns": ""}]
    cells = [[f"{-0.00123456789012 * (i + j):.14f}" for j in range(9)] for i in range(2)]
    pieces = tex_pieces(grid(cells))
    assert [p["columns"] for p in pieces] == ["1-6", "7-9"] and {p["size"] for p in pieces} == {r"\footnotesize"}
    assert all(len(r) <= TEX_SIZES[-1][1] for p in pieces for r in p["rows"])
    assert [c for p in pieces for c in p["rows"][1].split()] == cells[1]  # every column once, in order
