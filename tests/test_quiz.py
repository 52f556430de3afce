"""The quiz: questions from the walk-through, grading with carried-forward credit, misconceptions generated from
the derivation, and the interactive session end to end in a pseudo-terminal."""

from __future__ import annotations

import json
import math

import pytest

from tutor.cli import main
from tutor.engine.gradcheck import numeric_values
from tutor.spec import load
from tutor.spec.rounding import format_fixed
from tutor.teach import randomnet
from tutor.teach.diagnose import MISCONCEPTIONS, Tolerance, parse_number
from tutor.teach.quiz import SECTIONS, Quiz

from .support import in_terminal, require_module
from .test_bad_input import assert_clean_error


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def r4(x: float) -> str:
    return format_fixed(x, 4)


def answer_until(quiz: Quiz, key: str):
    """Answer every question before ``key`` with the engine's value; return the question of ``key``."""
    while quiz.current.key != key:
        assert quiz.respond(quiz.current.shown).verdict == "correct", quiz.current.key
    return quiz.current


# -- the questions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["mazur", "appendix-b", "random"])
def test_questions_follow_the_step_in_order_and_match_the_numeric_engine(spec):
    net = randomnet.generate(21, randomnet.Options(shape=(2, 3, 2))) if spec == "random" else load(spec)
    quiz = Quiz(net, digits=4)
    qs = quiz.questions
    ranks = [SECTIONS.index(q.section) for q in qs]
    assert ranks == sorted(ranks) and set(ranks) == set(range(len(SECTIONS)))
    kinds = {quiz.walk.quantities[q.key].kind for q in qs}
    assert {"net", "out", "loss", "factor", "delta", "gradient", "update"} <= kinds
    walk = quiz.walk
    # every gradient and update of the step is asked; nothing of the forward pass after the update is
    assert {p.gradient for p in walk.params} <= {q.key for q in qs}
    assert {p.update for p in walk.params if p.update} <= {q.key for q in qs}
    assert walk.loss_after not in {q.key for q in qs}
    numeric = numeric_values(walk)  # the NumPy engine, under the same as-printed convention
    exact = quiz.alternatives[0]
    for q in qs:
        if q.key in numeric:
            assert abs(walk.value(q.key) - numeric[q.key]) <= 1.000001e-4, q.key
        # the reference is the carried value unless carrying moves it beyond the tolerance from exact arithmetic
        assert abs(q.value - exact[q.key]) <= 1.000001e-4, q.key
        carried_ok = abs(walk.value(q.key) - exact[q.key]) <= 1.000001e-4
        assert q.shown == r4(walk.value(q.key) if carried_ok else exact[q.key]), q.key


def test_updated_first_keeps_the_computation_order():
    quiz = Quiz(load("mazur").with_conventions(update_order="updated-first"), digits=4, everything=True)
    keys = [q.key for q in quiz.questions]
    # the hidden factor uses w5+, so w5+ must be asked first
    assert keys.index("w5+") < keys.index("dnet_o1/dout_h1")


# -- grading -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value",
    [
        ("0.5933", 0.5933),
        (".5933", 0.5933),
        ("5.933e-1", 0.5933),
        ("-0.0190", -0.019),
        ("  -.019 ", -0.019),
        ("1E-3", 0.001),
    ],
)
def test_answers_in_the_usual_forms(text, value):
    assert parse_number(text) == pytest.approx(value, abs=0)


def test_tolerance_policies():
    dp, sf = Tolerance.parse(None, 4), Tolerance.parse("3sf")
    assert dp.accepts(0.5933, 0.593269992) and not dp.accepts(0.5935, 0.593269992)
    assert sf.accepts(0.000439, 0.000438568) and not sf.accepts(0.000441, 0.000438568)
    assert "±0.0001" in dp.describe() and "significant" in sf.describe()


def test_perfect_run_scores_every_section():
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    for q in quiz.questions:
        assert quiz.respond(q.shown).verdict == "correct"
    assert quiz.current is None and quiz.ended == "completed"
    rows = quiz.scores()
    assert [r["section"] for r in rows] == list(SECTIONS)
    assert all(r["credited"] == r["total"] for r in rows)
    assert sum(r["total"] for r in rows) == len(quiz.questions)


def test_carried_forward_credit_after_an_early_mistake():
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    v = quiz.walk.values()
    wrong = v["net_h1"] + 0.05
    assert quiz.respond(r4(wrong)).verdict == "wrong"
    answer_until(quiz, "out_h1")
    out_h1 = float(r4(sigmoid(wrong)))  # computed from the student's own net_h1
    fb = quiz.respond(r4(out_h1))
    assert fb.verdict == "carried" and fb.answer.carried_from == ("net_h1",)
    assert "follows correctly from your earlier answer net_h1" in fb.message
    answer_until(quiz, "net_o1")
    net_o1 = v["w5"] * out_h1 + v["w6"] * v["out_h2"] + v["b2"]
    fb = quiz.respond(r4(net_o1))
    assert fb.verdict == "carried" and fb.answer.carried_from == ("out_h1",)
    # the right value still counts after a mistake
    answer_until(quiz, "net_o2")
    assert quiz.respond(quiz.current.shown).verdict == "correct"
    assert quiz.scores()[0] == {
        "section": "forward",
        "title": "Forward pass",
        "credited": 5,
        "carried": 2,
        "total": 8,
        "points": 5,
    }


def mazur_cases(v):
    """Wrong answers constructed by hand from the engine's values, one per misconception (network: mazur)."""
    return {
        "forgot-bias": ("net_h1", v["w1"] * v["i1"] + v["w2"] * v["i2"]),
        "no-activation": ("out_h2", v["net_h2"]),
        "forgot-half": ("E_o1", (v["target_o1"] - v["out_o1"]) ** 2),
        "flipped-error-sign": ("dE_total/dout_o1", v["target_o1"] - v["out_o1"]),
        "derivative-at-net": ("dout_o1/dnet_o1", v["net_o1"] * (1 - v["net_o1"])),
        "dropped-activation-derivative": ("dE_o1/dnet_o1", v["dE_total/dout_o1"]),
        "updated-weights-in-hidden-delta": ("dE_o1/dout_h1", v["dE_o1/dnet_o1"] * v["w5+"]),
        "missing-downstream-sum": ("dE_total/dout_h2", v["dE_o1/dout_h2"]),
        "wrong-input": ("dE_total/dw5", v["dE_total/dout_o1"] * v["dout_o1/dnet_o1"] * v["out_h2"]),
        "forgot-learning-rate": ("w5+", v["w5"] - v["dE_total/dw5"]),
        "gradient-added": ("w6+", v["w6"] + v["eta"] * v["dE_total/dw6"]),
        # typed with 2 decimals where 4 are asked: a string, typed as it stands
        "too-few-decimals": ("E_total", format_fixed(v["E_total"], 2)),
        "rounded-too-early": ("dE_total/dw7", early_gradient_w7(v)),
    }


def early_gradient_w7(v):
    """dE_total/dw7 worked out by hand with every value before it rounded to 2 decimals and carried."""

    def r2(x):
        return float(format_fixed(x, 2))

    h = [r2(sigmoid(r2(v[a] * v["i1"] + v[b] * v["i2"] + v["b1"]))) for a, b in (("w1", "w2"), ("w3", "w4"))]
    out_o2 = r2(sigmoid(r2(v["w7"] * h[0] + v["w8"] * h[1] + v["b2"])))
    return r2(out_o2 - v["target_o2"]) * r2(out_o2 * (1 - out_o2)) * h[0]


def as_typed(wrong) -> str:
    return wrong if isinstance(wrong, str) else r4(wrong)


def mse_case(v):
    return {"forgot-mean": ("E_o1", (v["target_o1"] - v["out_o1"]) ** 2)}  # mse over 2 outputs, without the 1/2


def mse_quiz() -> Quiz:
    return Quiz(randomnet.generate(4, randomnet.Options(shape=(2, 2, 2), loss="mse")), tries=1)


@pytest.mark.parametrize("misconception", sorted(set(MISCONCEPTIONS) - {"old-weights-in-hidden-delta"}))
def test_each_misconception_is_named(misconception):
    quiz = mse_quiz() if misconception == "forgot-mean" else Quiz(load("mazur"), digits=4, tries=1)
    cases = (mse_case if misconception == "forgot-mean" else mazur_cases)(quiz.walk.values())
    key, wrong = cases[misconception]
    answer_until(quiz, key)
    fb = quiz.respond(as_typed(wrong))
    assert fb.verdict == "wrong"
    assert fb.answer.diagnosis is not None and fb.answer.diagnosis.misconception == misconception
    assert f"Diagnosis: {MISCONCEPTIONS[misconception]}" in fb.message


def test_old_weights_named_under_updated_first():
    quiz = Quiz(load("mazur").with_conventions(update_order="updated-first"), digits=4, tries=1)
    v = quiz.walk.values()
    answer_until(quiz, "dE_o1/dout_h1")
    fb = quiz.respond(r4(v["dE_o1/dnet_o1"] * v["w5"]))
    assert fb.answer.diagnosis.misconception == "old-weights-in-hidden-delta"


def test_misconceptions_come_from_the_derivation_not_from_the_question():
    # The same generator names mistakes on networks it has never seen: a random tanh network's hidden delta.
    quiz = Quiz(randomnet.generate(8, randomnet.Options(shape=(3, 2, 2), activation="tanh")), tries=1)
    v = quiz.walk.values()
    answer_until(quiz, "dout_h1/dnet_h1")
    fb = quiz.respond(r4(1 - v["net_h1"] ** 2))  # tanh' = 1 - out^2, evaluated at net
    assert fb.answer.diagnosis.misconception == "derivative-at-net"
    answer_until(quiz, "dE_total/dnet_h1")
    fb = quiz.respond(r4(v["dE_total/dout_h1"]))
    assert fb.answer.diagnosis.misconception == "dropped-activation-derivative"


@pytest.mark.parametrize(
    "opts",
    [
        randomnet.Options(loss="binary_cross_entropy"),
        randomnet.Options(shape=(2, 2, 3), output_activation="softmax", loss="categorical_cross_entropy"),
        randomnet.Options(shape=(2, 3, 2), activation="relu", output_activation="identity", loss="mse"),
    ],
    ids=["bce", "softmax", "relu"],
)
def test_nothing_crashes_on_extreme_answers(opts):
    # Values outside every form's domain (log of a negative output, exp of 1e300) leave no trace but "wrong".
    for extreme in ("1e300", "-1e300", "0", "-2", "1e-300"):
        quiz = Quiz(randomnet.generate(5, opts), tries=1)
        while quiz.current is not None:
            fb = quiz.respond(extreme)
            assert fb.kind == "graded" and "nan" not in fb.message.lower()
        json.dumps(quiz.record(), allow_nan=False)


def test_a_wrong_answer_with_no_known_mistake_has_no_diagnosis():
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    fb = quiz.respond("12.3456")
    assert fb.verdict == "wrong" and fb.answer.diagnosis is None and "Diagnosis" not in fb.message


def test_commands_and_garbage():
    quiz = Quiz(load("appendix-a"), digits=4)
    first = quiz.current
    assert quiz.respond("abc").kind == "invalid" and quiz.current is first
    assert quiz.respond("").kind == "invalid"
    hint = quiz.respond("H")
    assert (
        hint.kind == "hint"
        and hint.message == "Hint 1 of 3 (the formula): s = W1·X1 + W2·X2 + b·1"
        and quiz.current is first
    )
    assert quiz.respond("s").kind == "skipped" and quiz.current.number == 2
    assert quiz.respond("q").kind == "quit" and quiz.current is None and quiz.ended == "quit"
    record = json.loads(json.dumps(quiz.record()))
    assert [q["verdict"] for q in record["questions"][:3]] == ["skipped", "unanswered", "unanswered"]
    assert record["questions"][0]["hints"] == 1 and record["ended"] == "quit"


# -- the command line, non-interactive ----------------------------------------------------------------------------


def test_answers_file_is_graded_with_the_same_report(tmp_path, capsys):
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    qs, v = quiz.questions, quiz.walk.values()
    wrong = v["net_h1"] + 0.05
    lines = [
        f"{qs[0].key} = {r4(wrong)}",
        qs[1].shown,
        f"3 = {r4(sigmoid(wrong))}   # carried forward",
        "s",
        "",
        f"{qs[5].key} = {qs[5].shown}",
        f"7 = {r4(v['net_o1'])}",
    ]
    answers, results = tmp_path / "answers.txt", tmp_path / "results.json"
    answers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["quiz", "mazur", "--digits", "4", "--answers", str(answers), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"[1/{len(qs)}] net_h1 = {r4(wrong)}" in out and "Credited" in out and "Skipped" in out
    assert "Summary" in out and "Quiz ended at the end of the input." in out
    doc = json.loads(results.read_text(encoding="utf-8"))
    verdicts = [q["verdict"] for q in doc["questions"]]
    assert verdicts[:8] == ["wrong", "correct", "carried", "skipped", "skipped", "correct", "wrong", "unanswered"]
    assert doc["questions"][2]["carried_from"] == ["net_h1"]
    assert (
        doc["questions"][6]["key"] == "out_o1" and doc["questions"][6]["diagnosis"]["misconception"] == "no-activation"
    )
    assert doc["origin"] == {"spec": "mazur"} and doc["tolerance"]["policy"] == "4dp"
    assert doc["score"]["credited"] == 3 and doc["score"]["total"] == len(qs)


def test_results_record_the_seed_and_the_diagnosis(tmp_path, capsys):
    quiz = Quiz(randomnet.generate(99))
    v = quiz.walk.values()
    answers, results = tmp_path / "a.txt", tmp_path / "r.json"
    answers.write_text(f"net_h1 = {r4(v['w1'] * v['x1'] + v['w2'] * v['x2'])}\n", encoding="utf-8")
    assert main(["quiz", "--random", "--seed", "99", "--answers", str(answers), "--results", str(results)]) == 0
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["origin"]["seed"] == 99 and "--seed 99" in doc["origin"]["command"]
    assert doc["questions"][0]["diagnosis"]["misconception"] == "forgot-bias"
    assert doc["network"]["inputs"] == {"x1": v["x1"], "x2": v["x2"]}
    assert "Network seed 99" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["--random", "--shape", "2-x-1"], ["--shape", "like 2-2-1", "'2-x-1'"]),
        (["--random", "--seed", "-1"], ["--seed", "0 to 4294967295"]),
        (["--random", "--seed", "4294967296"], ["--seed", "0 to 4294967295"]),
        (["--random", "--seed", "x"], ["--seed", "invalid int value"]),
        (["--random", "--activation", "sigmod"], ["--activation", "did you mean 'sigmoid'", "allowed:"]),
        (["--random", "--loss", "cross"], ["--loss", "allowed:", "half_sse"]),
        (["--random", "--tolerance", "4xx"], ["--tolerance", "4dp", "3sf"]),
        (["--random", "--digits", "12"], ["--digits", "2 to 9"]),
        (["mazur", "--digits", "12"], ["--digits", "2 to 9"]),
        (["mazur", "--random"], ["SPEC", "--random"]),
        (["mazur", "--seed", "3"], ["SPEC", "--random"]),
        ([], ["SPEC", "--random"]),
        (["nope"], ["nope", "no such file or built-in example"]),
        # a training spec is quizzed on its first step (tests/test_quiz_training.py); aiming it still refuses
        (["optimizer-adam", "--section", "clipping"], ["quiz", "no question is left"]),
        (["minibatch", "--param", "w99"], ["quiz --param", "no parameter 'w99'", "the parameters are"]),
        (
            ["mazur", "--answers", "/nonexistent/answers.txt"],
            ["--answers /nonexistent/answers.txt", "cannot read the file"],
        ),
        (["mazur", "--results", "/nonexistent/r.json"], ["--results", "folder does not exist"]),
    ],
)
def test_bad_input_is_one_line_naming_the_option(capsys, argv, fragments):
    rc = main(["quiz", *argv])
    assert_clean_error(rc, capsys.readouterr().err, *fragments)


@pytest.mark.parametrize(
    "content,fragments",
    [
        ("0.3775\nabc\n", ["line 2", "'abc' is not a number", "s to skip"]),
        ("net_h9 = 0.1\n", ["line 1", "no question 'net_h9'", "net_h1"]),
        ("1 = 0.3\n1 = 0.4\n", ["line 2", "question 1 is answered twice"]),
        ("999 = 0.3\n", ["line 1", "no question 999"]),
    ],
)
def test_bad_answers_file(tmp_path, capsys, content, fragments):
    path = tmp_path / "answers.txt"
    path.write_text(content, encoding="utf-8")
    rc = main(["quiz", "mazur", "--answers", str(path)])
    out, err = capsys.readouterr()
    assert_clean_error(rc, err, "--answers", *fragments)
    assert out == ""  # the file is read before the quiz starts


# -- the interactive quiz in a pseudo-terminal ------------------------------------------------------------------


@pytest.fixture
def pexpect():
    return require_module("pexpect")  # a test extra: a failure in CI, a skip elsewhere


def spawn(pexpect, *args: str):
    return in_terminal(pexpect, "quiz", *args, dimensions=(50, 400))  # wide: no quiz line is wrapped


def ctrl_c(pexpect, child, expected: str) -> None:
    """Press Ctrl-C at the prompt and wait for ``expected``. A SIGINT that lands after input() wrote its prompt
    but before it began to read is handled only once a key arrives (CPython's input() blocks in read()), so,
    as a person would, press it once more when nothing happened within a few seconds."""
    child.sendintr()
    try:
        child.expect_exact(expected, timeout=15)
    except pexpect.TIMEOUT:
        child.sendintr()
        child.expect_exact(expected)


def finish(pexpect, child, ending: str) -> str:
    """Wait for the summary's last line and a clean exit; returns what came before that line."""
    child.expect_exact(ending)
    before = child.before
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    return before


def typed(value: float, k: int) -> str:
    """The value as a student might type it: 0.5933, .5933 or 5.933e-1."""
    text = r4(value)
    if k % 3 == 1:
        return text.replace("0.", ".", 1)
    if k % 3 == 2:
        return f"{float(text):.4e}"
    return text


def test_tty_perfect_run(pexpect, tmp_path):
    quiz = Quiz(randomnet.generate(11))
    results = tmp_path / "results.json"
    child = spawn(pexpect, "--random", "--seed", "11", "--results", str(results))
    child.expect_exact("Grading to 4 decimal places")
    for k, q in enumerate(quiz.questions):
        child.expect_exact(quiz.prompt(q))
        child.sendline(typed(q.value, k))
        child.expect_exact(f"Right: {q.label} = {q.shown}.")
    n = len(quiz.questions)
    child.expect_exact("Summary")
    child.expect_exact("Total")
    child.expect_exact(f"{n}/{n}")
    finish(pexpect, child, "Quiz completed.")
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["origin"]["seed"] == 11 and doc["ended"] == "completed"
    assert [q["verdict"] for q in doc["questions"]] == ["correct"] * n
    assert [q["key"] for q in doc["questions"]] == [q.key for q in quiz.questions]


def test_tty_early_mistake_then_credited(pexpect):
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    v = quiz.walk.values()
    wrong = v["net_h1"] + 0.05
    out_h1 = float(r4(sigmoid(wrong)))
    plan = {"net_h1": r4(wrong), "out_h1": r4(out_h1), "net_o1": r4(v["w5"] * out_h1 + v["w6"] * v["out_h2"] + v["b2"])}
    child = spawn(pexpect, "mazur", "--digits", "4", "--tries", "1")
    for q in quiz.questions[:5]:
        child.expect_exact(quiz.prompt(q))
        child.sendline(plan.get(q.key, q.shown))
        child.expect_exact({"net_h1": "Not right", "out_h1": "Credited", "net_o1": "Credited"}.get(q.key, "Right"))
    child.expect_exact(quiz.prompt(quiz.questions[5]))
    child.sendline("q")
    child.expect_exact("Summary")
    child.expect_exact("(2 credited from an earlier mistake)")
    finish(pexpect, child, "Quiz ended (quit).")


@pytest.mark.parametrize("network", ["mazur", "mse"])
def test_tty_each_misconception_named(pexpect, network):
    if network == "mazur":
        quiz, args = Quiz(load("mazur"), digits=4, tries=1), ["mazur", "--digits", "4"]
        cases = mazur_cases(quiz.walk.values())
    else:
        quiz, args = mse_quiz(), ["--random", "--seed", "4", "--shape", "2-2-2", "--loss", "mse"]
        cases = mse_case(quiz.walk.values())
    plan = {key: (name, wrong) for name, (key, wrong) in cases.items()}
    last = max(q.number for q in quiz.questions if q.key in plan)
    child = spawn(pexpect, *args, "--tries", "1")
    for q in quiz.questions[:last]:
        child.expect_exact(quiz.prompt(q))
        if q.key in plan:
            name, wrong = plan[q.key]
            child.sendline(as_typed(wrong))
            child.expect_exact(f"Diagnosis: {MISCONCEPTIONS[name]}")
        else:
            child.sendline(q.shown)
            child.expect_exact("Right")
    child.sendline("q")
    child.expect_exact("Misconceptions to look at:")
    text = finish(pexpect, child, "Quiz ended (quit).")
    for name in cases:  # the summary lists every misconception seen
        assert MISCONCEPTIONS[name] in text


def test_tty_garbage_then_end_of_input(pexpect):
    quiz = Quiz(load("appendix-a"), digits=4)
    q1, q2 = quiz.questions[:2]
    child = spawn(pexpect, "appendix-a", "--digits", "4")
    child.expect_exact(quiz.prompt(q1))
    for garbage, reply in [
        ("abc", "'abc' is not a number"),
        ("", "Type a number"),
        ("1/2", "is not a number"),
        ("h", f"Hint 1 of 3 (the formula): {q1.hint}"),
    ]:
        child.sendline(garbage)
        child.expect_exact(reply)
        child.expect_exact(quiz.prompt(q1))  # asked again
    child.sendline(q1.shown)
    child.expect_exact(quiz.prompt(q2))
    child.sendeof()
    child.expect_exact("Summary")
    finish(pexpect, child, "Quiz ended at the end of the input.")


def test_tty_ctrl_c_ends_with_the_summary(pexpect):
    quiz = Quiz(load("appendix-a"), digits=4)
    child = spawn(pexpect, "appendix-a", "--digits", "4")
    child.expect_exact(quiz.prompt(quiz.questions[0]))
    child.sendline(quiz.questions[0].shown)
    child.expect_exact(quiz.prompt(quiz.questions[1]))
    ctrl_c(pexpect, child, "Summary")
    text = finish(pexpect, child, "Quiz ended by Ctrl-C.")
    assert "Traceback" not in text
