"""The quiz as a teaching loop: aiming, resuming, the hint ladder, retries, rounding diagnoses and the
plausibility guard on carried-forward credit, in process and end to end in a pseudo-terminal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tutor.cli import main
from tutor.engine.symbolic import explain_step
from tutor.spec import load
from tutor.spec.rounding import format_fixed
from tutor.teach.diagnose import MISCONCEPTIONS, StudentWorld, Tolerance
from tutor.teach.quiz import Quiz

from .support import require_module
from .test_bad_input import assert_clean_error
from .test_quiz import ctrl_c, finish, r4, sigmoid, spawn


@pytest.fixture
def pexpect():
    return require_module("pexpect")  # a test extra: a failure in CI, a skip elsewhere


# -- aiming ------------------------------------------------------------------------------------------------


def test_copies_are_left_out_unless_all():
    every = Quiz(load("mazur"), digits=4, everything=True)
    default = Quiz(load("mazur"), digits=4)
    copies = [q.key for q in every.questions if q.copies]
    # dnet/dw is an input or a hidden output, dnet_o/dout_h a weight: 8 + 4 of them in Mazur's 2-2-2 network
    assert len(copies) == 12 and "dnet_h1/dw1" in copies and "dnet_o1/dout_h1" in copies
    assert [q.key for q in default.questions] == [q.key for q in every.questions if not q.copies]
    assert [q.number for q in default.questions] == list(range(1, len(default.questions) + 1))


def test_aim_by_section_layer_neuron_and_param():
    v = Quiz(load("mazur"), digits=4).walk.values()
    hidden_backward = Quiz(load("mazur"), digits=4, sections=["backward"], layer=1)
    assert {q.section for q in hidden_backward.questions} == {"backward"}
    assert [q.key for q in hidden_backward.questions] == [
        "dE_o1/dout_h1",
        "dE_o2/dout_h1",
        "dE_total/dout_h1",
        "dE_o1/dout_h2",
        "dE_o2/dout_h2",
        "dE_total/dout_h2",
        "dout_h1/dnet_h1",
        "dE_total/dnet_h1",
        "dout_h2/dnet_h2",
        "dE_total/dnet_h2",
    ]
    # the values it needs and does not ask are given, with their right values
    q = hidden_backward.questions[0]
    assert hidden_backward.context(q) == f"Given: ∂E_o1/∂net_o1 = {r4(v['dE_o1/dnet_o1'])}, ∂net_o1/∂out_h1 = 0.4"
    w5 = Quiz(load("mazur"), digits=4, param="w5")
    assert [q.key for q in w5.questions] == ["dE_total/dw5", "w5+"]
    assert [q.key for q in Quiz(load("mazur"), digits=4, param="w5", everything=True).questions] == [
        "dnet_o1/dw5",
        "dE_total/dw5",
        "w5+",
    ]
    h2 = Quiz(load("mazur"), digits=4, neuron="h2", sections=["forward", "gradients"])
    # b1 is shared by h1 and h2 in Mazur's network
    assert [q.key for q in h2.questions] == ["net_h2", "out_h2", "dE_total/dw3", "dE_total/dw4", "dE_total/db1"]
    # an aimed quiz grades the same way: the right values of what it does not ask stand in
    for q in hidden_backward.questions:
        assert hidden_backward.respond(q.shown).verdict == "correct"


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["--layer", "3"], ["quiz --layer", "no layer 3", "1 to 2"]),
        (["--neuron", "z9"], ["quiz --neuron", "no neuron 'z9'", "h1"]),
        (["--param", "w99"], ["quiz --param", "no parameter 'w99'", "w5"]),
        (["--section", "bogus"], ["--section", "invalid choice"]),
        (["--section", "forward", "--param", "w5"], ["no question is left"]),
        (["--tries", "0"], ["--tries", "1 to 9"]),
        (["--tries", "10"], ["--tries", "1 to 9"]),
    ],
)
def test_bad_aim_is_one_line(capsys, argv, fragments):
    assert_clean_error(main(["quiz", "mazur", "--digits", "4", *argv]), capsys.readouterr().err, *fragments)


def test_tty_aimed_quiz(pexpect):
    quiz = Quiz(load("mazur"), digits=4, sections=["backward"], layer=1)
    child = spawn(pexpect, "mazur", "--digits", "4", "--section", "backward", "--layer", "1")
    child.expect_exact("Aimed at the backward pass: chain-rule factors, layer 1")
    for q in quiz.questions:
        if quiz.context(q):
            child.expect_exact(quiz.context(q))
        child.expect_exact(quiz.prompt(q))
        child.sendline(q.shown)
        child.expect_exact(f"Right: {q.label} = {q.shown}.")
    n = len(quiz.questions)
    child.expect_exact(f"{n}/{n}")
    text = finish(pexpect, child, "Quiz completed.")
    assert "Forward pass" not in text and "Updates" not in text


# -- resume --------------------------------------------------------------------------------------------------


def test_tty_resume_after_ctrl_c_keeps_the_network_and_the_credit(pexpect, tmp_path):
    results = tmp_path / "results.json"
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    v = quiz.walk.values()
    wrong = v["net_h1"] + 0.05
    out_h1 = r4(sigmoid(float(r4(wrong))))  # follows from the wrong net_h1: credited
    q1, q2, q3 = quiz.questions[:3]
    assert (q1.key, q2.key, q3.key) == ("net_h1", "net_h2", "out_h1")
    child = spawn(pexpect, "mazur", "--digits", "4", "--tries", "1", "--results", str(results))
    child.expect_exact(quiz.prompt(q1))
    child.sendline(r4(wrong))
    child.expect_exact("Not right")
    child.expect_exact(quiz.prompt(q2))
    child.sendline(q2.shown)
    child.expect_exact(quiz.prompt(q3))
    # written after every answer, before the quiz ends
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["ended"] == "not finished" and doc["position"] == 2
    ctrl_c(pexpect, child, "Summary")
    finish(pexpect, child, "Quiz ended by Ctrl-C.")
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["ended"] == "interrupted" and [q["verdict"] for q in doc["questions"][:3]] == [
        "wrong",
        "correct",
        "unanswered",
    ]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write leaves no temporary file

    child = spawn(pexpect, "--resume", str(results))
    child.expect_exact(f"Resumed from {results}: 2 of {len(quiz.questions)} questions done.")
    child.expect_exact(quiz.prompt(q3))
    child.sendline(out_h1)
    child.expect_exact("Credited: ")  # the wrong net_h1 of the first session still carries
    child.expect_exact("follows correctly from your earlier answer net_h1")
    child.sendline("q")
    child.expect_exact("(1 credited from an earlier mistake)")
    finish(pexpect, child, "Quiz ended (quit).")
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert [q["verdict"] for q in doc["questions"][:3]] == ["wrong", "correct", "carried"]
    assert doc["origin"] == {"spec": "mazur"} and doc["settings"]["tries"] == 1


def test_resume_a_random_network_in_process(tmp_path, capsys):
    from tutor.teach import quiz as module
    from tutor.teach import randomnet

    made = randomnet.make(31, randomnet.options(shape="2-3-1"))
    quiz = Quiz(made.network, origin=module.random_origin(made), sections=["forward"], tries=3)
    quiz.respond("h")
    quiz.respond("0.1234")
    quiz.respond(quiz.current.shown)
    path = tmp_path / "r.json"
    module.save_results(path, quiz)
    again = module.resume(module.load_results(path))
    assert again.position == quiz.position == 1 and again.settings == quiz.settings
    assert again.answers[0].attempts == ["0.1234", quiz.questions[0].shown] and again.answers[0].hints == 1
    assert again.record()["score"] == quiz.record()["score"]


def test_resume_refuses_a_changed_spec_and_foreign_files(tmp_path, capsys):
    from tutor.teach import quiz as module

    quiz = Quiz(load("mazur"), digits=4, origin={"spec": "appendix-a"})  # as if the file changed under it
    path = tmp_path / "r.json"
    module.save_results(path, quiz)
    assert_clean_error(main(["quiz", "--resume", str(path)]), capsys.readouterr().err, "--resume", "not the one")
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n", encoding="utf-8")
    assert_clean_error(main(["quiz", "--resume", str(other)]), capsys.readouterr().err, "not a quiz's results")
    rc = main(["quiz", "mazur", "--results", str(other)])
    assert_clean_error(rc, capsys.readouterr().err, "--results", "left alone")
    assert other.read_text(encoding="utf-8") == "my notes\n"  # nothing a user wrote is overwritten
    rc = main(["quiz", "mazur", "--resume", str(path)])
    assert_clean_error(rc, capsys.readouterr().err, "--resume", "no SPEC")


# -- the hint ladder and retries -------------------------------------------------------------------------------


def test_tty_hint_ladder_climbs_and_is_recorded(pexpect, tmp_path):
    results = tmp_path / "r.json"
    quiz = Quiz(load("mazur"), digits=4, tries=1)
    v = quiz.walk.values()
    q1, q2, q3 = quiz.questions[:3]
    wrong = r4(v["net_h1"] + 0.05)
    child = spawn(pexpect, "mazur", "--digits", "4", "--tries", "1", "--results", str(results))
    child.expect_exact(quiz.prompt(q1))
    child.sendline(wrong)
    child.expect_exact(quiz.prompt(q2))
    child.sendline(q2.shown)
    child.expect_exact(quiz.prompt(q3))  # out_h1 = 1/(1 + exp(-net_h1))
    child.sendline("h")
    child.expect_exact("Hint 1 of 3 (the formula): out_h1 = 1/(1 + exp(-net_h1))")
    child.sendline("h")
    # the second rung puts in the student's own net_h1, not the right one
    child.expect_exact(f"Hint 2 of 3 (with your own answers): out_h1 = 1/(1 + exp(-net_h1)) = 1/(1 + exp(-{wrong}))")
    child.sendline("h")
    child.expect_exact(
        f"Hint 3 of 3 (worked from the right values): out_h1 = 1/(1 + exp(-net_h1)) = "
        f"1/(1 + exp(-{r4(v['net_h1'])})) = {q3.shown}"
    )
    child.sendline("q")
    child.expect_exact("Hints taken: 3, on question (highest hint): 3 (3)")
    finish(pexpect, child, "Quiz ended (quit).")
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["questions"][2]["hints"] == 3 and doc["score"]["hints"] == 3


def test_tty_retry_with_the_diagnosis_before_the_value(pexpect):
    quiz = Quiz(load("mazur"), digits=4)
    v = quiz.walk.values()
    q1, q2 = quiz.questions[:2]
    no_bias = r4(v["w1"] * v["i1"] + v["w2"] * v["i2"])
    child = spawn(pexpect, "mazur", "--digits", "4")  # --tries 2 is the default
    child.expect_exact("2 tries a question")
    child.expect_exact(quiz.prompt(q1))
    child.sendline(no_bias)
    child.expect_exact(f"Not right yet: you gave {no_bias}.")
    child.expect_exact(f"Diagnosis: {MISCONCEPTIONS['forgot-bias']}")
    child.expect_exact("Try again (1 more try)")
    child.expect_exact(quiz.prompt(q1))
    assert q1.shown not in child.before  # the right value is not shown before the last try
    child.sendline(q1.shown)
    child.expect_exact(f"Right: {q1.label} = {q1.shown}. (at try 2)")
    child.expect_exact(quiz.prompt(q2))
    child.sendline("0.1")
    child.expect_exact("Not right yet")
    child.sendline("0.2")
    child.expect_exact("Not right: you gave 0.2.")
    child.expect_exact(f"Right value: {q2.label} = {q2.shown}.")
    child.sendline("q")
    child.expect_exact("Right at a later try: 1")
    finish(pexpect, child, "Quiz ended (quit).")


# -- rounding -------------------------------------------------------------------------------------------------


def test_tty_rounding_diagnoses(pexpect):
    from .test_quiz import early_gradient_w7

    quiz = Quiz(load("mazur"), digits=4, tries=1)
    v = quiz.walk.values()
    short = format_fixed(v["out_h1"], 2)  # 0.59 for 0.5933
    early = r4(early_gradient_w7(v))
    assert float(early) != float(r4(v["dE_total/dw7"]))
    child = spawn(pexpect, "mazur", "--digits", "4", "--tries", "1")
    for q in quiz.questions:
        child.expect_exact(quiz.prompt(q))
        if q.key == "out_h1":
            child.sendline(short)
            child.expect_exact(f"Diagnosis: {MISCONCEPTIONS['too-few-decimals']}")
            child.expect_exact(f"({short} has 2 decimals where 4 are asked for: {r4(v['out_h1'])})")
            # the rounded answer is not carried into the next questions: the right values are typed next
        elif q.key == "dE_total/dw7":
            child.sendline(early)
            child.expect_exact(f"Diagnosis: {MISCONCEPTIONS['rounded-too-early']}")
            child.expect_exact("the values before it rounded to 2 decimals give")
            child.sendline("q")
            break
        else:
            child.sendline(q.shown)
            child.expect_exact("Right")
    finish(pexpect, child, "Quiz ended (quit).")


# -- the plausibility guard ----------------------------------------------------------------------------------


def gamed(quiz: Quiz) -> list[str]:
    """After the first two answers, every answer is the value that follows from the earlier ones."""
    typed = []
    while quiz.current is not None:
        key = quiz.current.key
        value = StudentWorld(quiz.walk, quiz.known()).carried(key)
        text = format_fixed(value, quiz.network.conventions.digits)
        typed.append(text)
        quiz.respond(text)
    return typed


def test_impossible_value_earns_no_follow_on_credit():
    quiz = Quiz(load("appendix-a"), tries=1)
    assert [q.key for q in quiz.questions[:2]] == ["s", "Predicted"]
    quiz.respond(quiz.current.shown)
    fb = quiz.respond("1")  # a sigmoid output of 1: no network produces it
    assert "Impossible value: Predicted = 1 is not a sigmoid output: they lie in (0, 1)." in fb.message
    gamed(quiz)
    credited = [a.question.key for a in quiz.answers if a.credited]
    assert credited == ["s"]  # was 12 of 13 before the guard
    refused = [a for a in quiz.answers if a.refused]
    assert len(refused) == 9 and refused[0].question.key == "E" and refused[0].refused == ("Predicted",)
    # the same strategy from a plausible mistake is credited all the way
    fair = Quiz(load("appendix-a"), tries=1)
    fair.respond(fair.current.shown)
    fair.respond(r4(0.9))  # wrong, but a sigmoid output
    gamed(fair)
    assert sum(a.verdict == "carried" for a in fair.answers) >= 6


def test_tty_plausibility_guard(pexpect):
    quiz = Quiz(load("appendix-a"), tries=1)
    quiz.respond(quiz.current.shown)
    quiz.respond("1")
    plan = gamed(quiz)
    child = spawn(pexpect, "appendix-a", "--tries", "1")
    qs = quiz.questions
    child.expect_exact(quiz.prompt(qs[0]))
    child.sendline(qs[0].shown)
    child.expect_exact(quiz.prompt(qs[1]))
    child.sendline("1")
    child.expect_exact("Impossible value: Predicted = 1 is not a sigmoid output")
    for q, text in zip(qs[2:], plan):
        child.expect_exact(quiz.prompt(q))
        child.sendline(text)
        child.expect_exact("No follow-on credit: ")
    child.expect_exact("Total")
    child.expect_exact(f"1/{len(qs)}")
    finish(pexpect, child, "Quiz completed.")


# -- the decision function on its own -------------------------------------------------------------------------


def test_the_grading_core_labels_each_outcome():
    """Grader.grade on its own (the quiz and the self-check page both run it): right, carried, refused, too
    few decimals, a named mistake."""
    from tutor.teach.grading import Grader

    walk = explain_step(load("mazur").with_conventions(rounding="as-printed", digits=4))
    g = Grader(walk, Tolerance("dp", 4), digits=4)
    assert g.grade("out_h1", 0.5933, "0.5933").verdict == "correct"
    carried = g.grade("out_h1", 0.6049, "0.6049", {"net_h1": 0.4259})  # sigmoid(0.4259), from a wrong net_h1
    assert carried.verdict == "carried" and carried.carried_from == ("net_h1",)
    refused = g.grade("out_h1", 0.6049, "0.6049", {"net_h1": 0.4259}, {"net_h1": "net_h1 = 0.4259 is impossible"})
    assert refused.verdict == "wrong" and refused.refused == ("net_h1",)
    assert refused.refused_why == "net_h1 = 0.4259 is impossible"
    assert g.grade("net_h1", 0.38, "0.38").diagnosis.misconception == "too-few-decimals"
    found = g.grade("net_h1", 0.0275, "0.0275")  # w1 i1 + w2 i2: the bias left out
    assert found.diagnosis.misconception == "forgot-bias" and found.diagnosis.step == "net_h1"


# -- the API after a plain import ------------------------------------------------------------------------------


def test_api_quiz_after_plain_import():
    code = "import tutor; q = tutor.api.quiz('appendix-a', digits=4); print(q.current.label, q.respond('1.94').verdict)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["s", "correct"]
    code = "import tutor; print(type(tutor.quiz('mazur', sections=['updates'], tries=1)).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "Quiz", out.stderr
