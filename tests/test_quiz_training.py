"""The quiz and the worksheet on any network spec: a training step (several examples, batch normalization,
clipping, another optimizer, feature scaling, early stopping) is asked as explain shows it and check checks it."""

from __future__ import annotations

import json
import re
from functools import lru_cache

import pytest

from tutor.cli import main
from tutor.engine.walks import plain, step_walk
from tutor.spec import load
from tutor.spec.resources import example_names
from tutor.spec.rounding import format_fixed
from tutor.teach import worksheet
from tutor.teach.quiz import STEP_SECTIONS, Quiz, parse_answers, replay

from .conftest import require_program
from .support import require_module
from .test_bad_input import assert_clean_error
from .test_browser import browser  # noqa: F401 - the headless Chromium fixture

NETWORKS = example_names("network")
TRAINING = [n for n in NETWORKS if not plain(load(n))]


@lru_cache(maxsize=None)
def explained(name: str, rounding: str = "") -> dict[str, float]:
    """The values ``explain NAME --format json`` prints (of the first training step for a training spec)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", name, "--format", "json", *(["--rounding", rounding] if rounding else [])]) == 0
    doc = json.loads(out.getvalue())
    return doc["values"] if "values" in doc else doc["shown_steps"][0]["values"]


@lru_cache(maxsize=None)
def right_values(name: str) -> dict[str, float]:
    """Every quantity's value as check knows it (the spec's own conventions), agreeing with explain's JSON."""
    walk = step_walk(load(name))
    values = walk.values()
    json_values = explained(name)
    shared = [k for k in values if k in json_values]
    assert len(shared) > len(values) / 2, name
    for k in shared:
        assert json_values[k] == pytest.approx(values[k], rel=1e-12, abs=1e-12), (name, k)
    return values


def answer(quiz: Quiz, values: dict[str, float], upto: str | None = None) -> None:
    """Answer the quiz with ``values`` at its digits, up to (not including) question ``upto``."""
    digits = quiz.network.conventions.digits
    while (q := quiz.current) is not None and q.key != upto:
        fb = quiz.respond(format_fixed(values[q.key], digits))
        assert fb.kind == "graded", (q.key, fb.message)


def test_there_are_training_examples_of_every_kind():
    assert {"batchnorm-sigmoid", "minibatch", "optimizer-adam", "clip-norm", "scaling-standardize"} <= set(TRAINING)
    assert "mazur" not in TRAINING and "early-stopping" in TRAINING


@pytest.mark.parametrize("name", NETWORKS)
def test_the_quiz_answered_with_explains_values_scores_full_marks(name):
    quiz = Quiz(load(name), tries=1)
    values = right_values(name)
    assert {q.key for q in quiz.questions} <= set(values)
    answer(quiz, values)
    assert quiz.ended == "completed"
    verdicts = {a.question.key: a.verdict for a in quiz.answers}
    assert set(verdicts.values()) == {"correct"}, [k for k, v in verdicts.items() if v != "correct"][:5]
    n = len(quiz.questions)
    assert quiz.summary()[-2].split()[:2] == ["Total", f"{n}/{n}"]


@pytest.mark.parametrize("name", TRAINING)
def test_a_wrong_value_is_graded_wrong_and_the_walk_is_in_dependency_order(name):
    quiz = Quiz(load(name), tries=1)
    qs = quiz.questions
    # each question comes after the asked questions it is computed from (through values not asked)
    position = {q.key: q.number for q in quiz.all_questions}
    Q = quiz.walk.quantities

    def sources(k, seen=()):
        for a in Q[k].args:
            if a in position:
                yield a
            elif Q[a].form is not None and a not in seen:
                yield from sources(a, (*seen, a))

    for q in quiz.all_questions:
        assert all(position[a] < q.number for a in sources(q.key)), q.key
    ranks = [STEP_SECTIONS.index(q.section) for q in qs]
    if name not in ("batchnorm-sigmoid", "scaling-standardize"):  # no section needs a later one
        assert ranks == sorted(ranks)
    values = right_values(name)
    middle = qs[len(qs) // 2]
    answer(quiz, values, upto=middle.key)
    wrong = values[middle.key] + 50 * quiz.tolerance.unit(values[middle.key]) + 0.01
    fb = quiz.respond(format_fixed(wrong, quiz.network.conventions.digits))
    assert fb.verdict == "wrong" and fb.message.startswith("Not right"), fb.message
    assert f"Right value: {middle.label} = {middle.shown}." in fb.message


def test_batch_norm_is_asked_stage_by_stage_with_labels_per_example():
    quiz = Quiz(load("batchnorm-sigmoid"), digits=4)
    keys = [q.key for q in quiz.questions]
    # the mini-batch algorithm: every net input, then mu and var, then every xhat, every y
    first = keys.index("mu_h1")
    assert all(keys.index(f"net_h{j}[e{k}]") < first for j in (1, 2) for k in (1, 2, 3))
    assert keys.index("var_h1") < min(keys.index(f"xhat_h1[e{k}]") for k in (1, 2, 3))
    assert max(keys.index(f"xhat_h1[e{k}]") for k in (1, 2, 3)) < keys.index("y_h1[e1]")
    # the backward pass through it: every dE/dxhat, then dE/dvar, dE/dmu, then every dE/dnet
    dxhat = max(keys.index(f"dE_total/dxhat_h1[e{k}]") for k in (1, 2, 3))
    assert dxhat < keys.index("dE_total/dvar_h1") < keys.index("dE_total/dmu_h1")
    assert keys.index("dE_total/dmu_h1") < min(keys.index(f"dE_total/dnet_h1[e{k}]") for k in (1, 2, 3))
    by_key = {q.key: q for q in quiz.questions}
    assert by_key["xhat_h1[e2]"].label == "x̂_h1⁽²⁾" and by_key["mu_h1"].section == "forward"
    assert by_key["dE_total/dvar_h1"].section == "backward" and by_key["dE_total/dgamma_h1"].section == "gradients"
    assert by_key["running_var_h1+"].section == "updates" and by_key["gamma_h1+"].param == "gamma_h1"
    labels = [q.label for q in quiz.questions]
    assert len(labels) == len(set(labels))  # an example's gradient written the same way gets its example
    assert "∂E_total_batch/∂w1_11 (example 2)" in labels
    # the intro gives every example of the batch and batch normalization's own values
    intro = "\n".join(quiz.intro())
    assert "Example 3: x1⁽³⁾ = -0.1, x2⁽³⁾ = 0.4, target_o1⁽³⁾ = 0.5" in intro
    assert "γ_h1 = 1.2" in intro and "ε_L1 = 1e-05" in intro and "running_var_h1 = 1" in intro
    assert "batch of 3 examples" in intro


def test_the_context_line_gives_what_is_not_asked():
    quiz = Quiz(load("batchnorm-sigmoid"), digits=4)
    q = next(q for q in quiz.questions if q.key == "dE_total/dxhat_h1[e1]")
    assert quiz.context(q) == "Given: ∂y_h1⁽¹⁾/∂x̂_h1⁽¹⁾ = 1.2"  # dy/dxhat = gamma only copies a value
    aimed = Quiz(load("batchnorm-sigmoid"), digits=4, sections=["backward"])
    q = next(q for q in aimed.questions if q.key == "xhat_h1[e1]" or q.key == "dE_total/dnet_h1[e1]")
    given = aimed.context(q)
    assert given.startswith("Given: ") and "μ_h1 = 0.3825" in given and "σ²_h1 = 0.0006" in given


def test_hints_substitute_the_batch():
    quiz = Quiz(load("batchnorm-sigmoid"), digits=4)
    values = right_values("batchnorm-sigmoid")
    answer(quiz, values, upto="mu_h1")
    assert quiz.hint(quiz.current, 1) == "Hint 1 of 3 (the formula): μ_h1 = (net_h1⁽¹⁾ + net_h1⁽²⁾ + net_h1⁽³⁾)/3"
    assert quiz.hint(quiz.current, 3).endswith("= (0.3775 + 0.355 + 0.415)/3 = 0.3825")


def test_carried_forward_credit_through_the_batch_mean():
    quiz = Quiz(load("batchnorm-sigmoid"), digits=4, tries=1)
    values = right_values("batchnorm-sigmoid")
    answer(quiz, values, upto="net_h1[e1]")
    assert quiz.respond("0.3875").verdict == "wrong"  # 0.3775 is right
    answer(quiz, values, upto="mu_h1")
    mine = (0.3875 + 0.355 + 0.415) / 3
    fb = quiz.respond(format_fixed(mine, 4))
    assert fb.verdict == "carried", fb.message
    assert fb.answer.carried_from == ("net_h1[e1]",)
    assert "follows correctly from your earlier answer net_h1⁽¹⁾ = 0.3875" in fb.message


def test_carried_forward_credit_through_the_optimizer():
    quiz = Quiz(load("optimizer-adam"), tries=1)
    values = right_values("optimizer-adam")
    digits = quiz.network.conventions.digits
    answer(quiz, values, upto="dE_total/dw5")
    wrong = values["dE_total/dw5"] * 2
    assert quiz.respond(format_fixed(wrong, digits)).verdict == "wrong"
    answer(quiz, values, upto="m[w5]")
    beta1 = values["beta1"]
    mine = beta1 * values["m_prev[w5]"] + (1 - beta1) * float(format_fixed(wrong, digits))
    fb = quiz.respond(format_fixed(mine, digits))
    assert fb.verdict == "carried" and "dE_total/dw5" in fb.answer.carried_from, fb.message
    assert quiz.current.section == "optimizer"


def test_carried_forward_credit_through_a_mini_batch_mean():
    quiz = Quiz(load("minibatch"), tries=1)
    values = right_values("minibatch")
    digits = quiz.network.conventions.digits
    g1 = next(q.key for q in quiz.questions if q.section == "gradients" and q.key.endswith("[e1]"))
    mean = g1.removesuffix("[e1]")
    answer(quiz, values, upto=g1)
    wrong = float(format_fixed(values[g1] + 0.05, digits))
    assert quiz.respond(format_fixed(wrong, digits)).verdict == "wrong"
    answer(quiz, values, upto=mean)
    fb = quiz.respond(format_fixed((wrong + values[mean + "[e2]"]) / 2, digits))
    assert fb.verdict == "carried", fb.message


def test_wrong_answers_everywhere_do_not_break_the_diagnoses():
    quiz = Quiz(load("batchnorm-sigmoid"), digits=4, tries=1)
    for q in list(quiz.questions):
        fb = quiz.respond(format_fixed(q.value * 1.5 + 0.01, 4))
        assert fb.kind == "graded" and fb.verdict in ("wrong", "carried", "correct"), fb.message
    assert quiz.ended == "completed"
    json.dumps(quiz.record(), allow_nan=False)


@pytest.mark.parametrize(
    "name,kwargs,check",
    [
        ("clip-norm", {"sections": ["clipping"]}, lambda qs: {q.key for q in qs} >= {"norm[g]", "clip_scale"}),
        ("optimizer-adam", {"param": "w5"}, lambda qs: {"m[w5]", "vhat[w5]", "w5+"} <= {q.key for q in qs}),
        ("optimizer-adam", {"sections": ["optimizer"]}, lambda qs: all(q.key.startswith(("m", "v")) for q in qs)),
        ("batchnorm-sigmoid", {"neuron": "h2"}, lambda qs: all("h2" in q.neurons for q in qs)),
        ("minibatch", {"layer": 2}, lambda qs: all(q.layer == 2 for q in qs) and len(qs) > 10),
        ("scaling-standardize", {"sections": ["forward"]}, lambda qs: qs[0].key == "mu[x1]"),
    ],
)
def test_aiming_a_training_step(name, kwargs, check):
    quiz = Quiz(load(name), **kwargs)
    assert check(quiz.questions), [q.key for q in quiz.questions][:8]


def test_scaled_inputs_are_computed_from_the_raw_inputs():
    quiz = Quiz(load("scaling-standardize"))
    by_key = {q.key: q for q in quiz.questions}
    assert "x1[e1]" in by_key and by_key["x1[e1]"].hint.endswith("= (x1_raw⁽¹⁾ - μ(x1))/σ(x1)")
    intro = "\n".join(quiz.intro())
    assert "x1_raw⁽¹⁾ = " in intro and "x1⁽¹⁾ = " not in intro  # the scaled value is a question, not given
    # nor is it drawn: the drawing (self-check page, worksheet) shows the first example's raw inputs
    drawn = quiz.drawing().network
    assert list(drawn.inputs) == list(drawn.raw_examples[0][0]) != list(quiz.network.inputs)


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["clip-norm", "--section", "optimizer"], ["quiz", "no question is left"]),
        (["batchnorm-sigmoid", "--neuron", "h9"], ["quiz --neuron", "no neuron 'h9'", "h1, h2, o1"]),
        (["optimizer-adam", "--layer", "3"], ["quiz --layer", "no layer 3", "1 to 2"]),
    ],
)
def test_aiming_refuses_clearly(capsys, argv, fragments):
    assert_clean_error(main(["quiz", *argv]), capsys.readouterr().err, *fragments)


def test_answers_file_replays_batch_norm(tmp_path, capsys):
    values = right_values("batchnorm-sigmoid")
    quiz = Quiz(load("batchnorm-sigmoid"))
    digits = quiz.network.conventions.digits
    lines = [f"{q.key} = {format_fixed(values[q.key], digits)}" for q in quiz.questions]
    lines[3] = lines[3].split(" = ")[0] + " = 0.1"  # one wrong answer
    path = tmp_path / "answers.txt"
    path.write_text("# batch normalization, every answer\n" + "\n".join(lines) + "\n", encoding="utf-8")
    results = tmp_path / "results.json"
    assert main(["quiz", "batchnorm-sigmoid", "--answers", str(path), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    n = len(quiz.questions)
    assert "Quiz completed." in out and f"{n - 1}/{n}" in out and "Forward pass" in out
    assert "μ_h1 = " in out and "Right: ∂E_total_batch/∂σ²_h1 = " in out
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["score"]["credited"] == n - 1 and doc["origin"] == {"spec": "batchnorm-sigmoid"}
    # the same in process, and resumable from its results
    again = Quiz(load("batchnorm-sigmoid"))
    list(replay(again, parse_answers("\n".join(lines), again)))
    assert sum(a.credited for a in again.answers) == n - 1
    assert main(["quiz", "--resume", str(results)]) == 0
    assert f"{n} of {n} questions done" in capsys.readouterr().out


def test_self_check_page_of_a_training_spec(tmp_path, capsys):
    out = tmp_path / "bn.html"
    assert main(["explain", "batchnorm-sigmoid", "--self-check", "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    n = len(Quiz(load("batchnorm-sigmoid")).questions)
    assert html.count('<input type="text"') == n and "Example 2" in html and "γ" in html


# -- worksheets of a network spec ---------------------------------------------------------------------------


_KEY_LINE = re.compile(r"^([0-9]+)\. \$.* =\$ \*\*(-?[0-9.]+)\*\*$")


@pytest.mark.parametrize("name", ["batchnorm-sigmoid", "minibatch"])
def test_worksheet_of_a_spec_key_values_are_the_walks(tmp_path, capsys, name):
    folder = tmp_path / "sheet"
    assert main(["worksheet", "--spec", name, "-o", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["diagram.svg", "sheet.md", "key.md", "sheet.tex", "key.tex", "walkthrough.md", "walkthrough.tex"]
    )
    boxes = worksheet.spec_variant(load(name), name).questions  # which quantity each box number asks
    key = (folder / "key.md").read_text(encoding="utf-8")
    printed = {int(m.group(1)): m.group(2) for m in map(_KEY_LINE.match, key.splitlines()) if m}
    assert sorted(printed) == list(range(1, len(boxes) + 1))
    # explain's JSON of the rounding the sheet asks for (each value rounded and carried, as printed)
    as_printed = explained(name, "as-printed")
    digits = load(name).conventions.digits
    compared = 0
    for q in boxes:
        if q.key in as_printed:
            assert printed[q.number] == format_fixed(as_printed[q.key], digits), q.key
            compared += 1
    assert compared > 0.9 * len(boxes)
    sheet = (folder / "sheet.md").read_text(encoding="utf-8")
    assert "**Example 2**" in sheet and "Spec " + name in sheet and "| 1 | $" in sheet
    assert not any(m for m in map(_KEY_LINE.match, sheet.splitlines()) if m)  # no values on the sheet
    assert f"backprop-tutor quiz {name}" in key and f"backprop-tutor quiz {name}" not in sheet
    assert "Every step in full" in key and "## Batch" not in key


def test_worksheet_of_a_spec_latex_key_compiles(tmp_path, capsys):
    require_program("pdflatex")
    folder = tmp_path / "sheet"
    assert main(["worksheet", "--spec", "batchnorm-sigmoid", "-o", str(folder), "--format", "tex"]) == 0
    pdf = worksheet.compile_pdf(folder / "key.tex")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_worksheet_of_a_spec_never_overwrites(tmp_path, capsys):
    folder = tmp_path / "sheet"
    folder.mkdir()
    (folder / "key.md").write_text("my notes\n", encoding="utf-8")
    rc = main(["worksheet", "--spec", "minibatch", "-o", str(folder)])
    assert_clean_error(rc, capsys.readouterr().err, "key.md exists already", "nothing is overwritten")
    assert (folder / "key.md").read_text(encoding="utf-8") == "my notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["key.md"]


@pytest.mark.parametrize(
    "extra,fragments",
    [
        (["--count", "3"], ["--count", "one sheet of that network"]),
        (["--moodle", "x.xml"], ["--moodle", "one sheet of that network"]),
        (["--blanks", "nope"], ["--blanks", "no section 'nope'"]),
    ],
)
def test_worksheet_of_a_spec_bad_options(tmp_path, capsys, extra, fragments):
    rc = main(["worksheet", "--spec", "minibatch", "-o", str(tmp_path / "w"), *extra])
    assert_clean_error(rc, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "w").exists()


def test_worksheet_of_a_plain_spec_and_blanks(tmp_path, capsys):
    folder = tmp_path / "m"
    assert main(["worksheet", "--spec", "mazur", "-o", str(folder), "--format", "md", "--blanks", "updates"]) == 0
    key = (folder / "key.md").read_text(encoding="utf-8")
    assert "backprop-tutor quiz mazur --section updates" in key
    assert "1. $w_{5}^{+}" in key or "1. $" in key
    numbers = [int(m.group(1)) for m in map(_KEY_LINE.match, key.splitlines()) if m]
    assert numbers == list(
        range(1, len(worksheet.spec_variant(load("mazur"), "mazur", blanks=("updates",)).questions) + 1)
    )


def test_regularization_decay_dropout_and_momentum_are_asked(tmp_path):
    from tutor.spec.resources import data_dir

    text = (data_dir("worked_examples") / "minibatch" / "spec.toml").read_text(encoding="utf-8")
    extra = (
        'decay = 0.1\nregularization = { kind = "l2", lambda = 0.01, biases = false }\n'
        'dropout = { rate = 0.5, seed = 1, inverted = true }\noptimizer = { name = "momentum", beta = 0.9 }\n'
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(text.replace("batch = 2\n", "batch = 2\n" + extra), encoding="utf-8")
    quiz = Quiz(load(str(spec)), tries=1)
    by_key = {q.key: q for q in quiz.questions}
    assert by_key["eta"].section == "updates" and by_key["eta"].hint == "η = η₀/(1 + decay·epoch)"
    assert by_key["R"].section == by_key["J"].section == "error" and by_key["dR/dW5"].section == "gradients"
    assert by_key["h1_out[kept][e1]"].section == "forward" and by_key["v[W5]"].section == "optimizer"
    intro = "\n".join(quiz.intro())
    assert "L2 regularization, a decayed learning rate, dropout" in intro and "mask[h1]⁽²⁾ = 0" in intro
    for rounding in ("as-printed", "exact"):  # either rounding's values are right
        quiz = Quiz(load(str(spec)), tries=1)
        other = step_walk(quiz.network.with_conventions(rounding=rounding)).values()
        answer(quiz, other)
        assert all(a.verdict == "correct" for a in quiz.answers), rounding


@pytest.mark.parametrize("name", ["minibatch", "batchnorm-sigmoid", "optimizer-adam"])
def test_misconceptions_are_diagnosed_in_a_training_step(name):
    quiz = Quiz(load(name), tries=1)
    values = right_values(name)
    Q = quiz.walk.quantities
    # the output delta of the first example with the activation's derivative left out: dE/dout alone
    delta = next(q.key for q in quiz.questions if Q[q.key].kind == "delta" and q.layer == len(quiz.network.layers))
    dE_dout = Q[delta].args[0]
    answer(quiz, values, upto=delta)
    fb = quiz.respond(format_fixed(values[dE_dout], quiz.network.conventions.digits))
    assert fb.verdict == "wrong" and fb.answer.diagnosis is not None, fb.message
    assert fb.answer.diagnosis.misconception == "dropped-activation-derivative", fb.message
    # an update with the gradient added instead of subtracted
    update = next(q for q in quiz.questions if Q[q.key].kind == "update" and q.param)
    answer(quiz, values, upto=update.key)
    step = values[update.key] - values[update.param]
    fb = quiz.respond(format_fixed(values[update.param] - step, quiz.network.conventions.digits))
    assert fb.verdict == "wrong", fb.message
    if name != "optimizer-adam":  # plain gradient descent's w + eta g; Adam's update has no such line
        assert fb.answer.diagnosis is not None and fb.answer.diagnosis.misconception == "gradient-added", fb.message


def test_batch_norm_quiz_in_a_terminal_80_columns_wide(pexpect_module):
    from .support import in_terminal

    quiz = Quiz(load("batchnorm-sigmoid"), digits=4, sections=["forward"], neuron="h1")
    args = ["quiz", "batchnorm-sigmoid", "--digits", "4", "--section", "forward", "--neuron", "h1"]
    child = in_terminal(pexpect_module, *args, dimensions=(24, 80))
    child.expect_exact("Example 3: x1⁽³⁾ = -0.1, x2⁽³⁾ = 0.4, target_o1⁽³⁾ = 0.5")
    intro = child.before
    for q in quiz.questions[:5]:
        child.expect_exact(quiz.prompt(q))
        child.sendline(q.shown)
        child.expect_exact(f"Right: {q.label} = {q.shown}.")
    child.expect_exact(quiz.prompt(quiz.questions[5]))
    child.sendline("q")
    child.expect_exact("Quiz ended (quit).")
    text = intro + child.before
    child.expect(pexpect_module.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Forward pass    5/14" in text.replace("\r", "")
    assert max(len(line) for line in text.replace("\r", "").splitlines()) <= 80


@pytest.fixture
def pexpect_module():
    return require_module("pexpect")  # a test extra: a failure in CI, a skip elsewhere


def test_self_check_page_grades_a_batch_as_the_quiz_does(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.keys import Keys

    from .test_browser import _page_verdicts, by_css, open_page

    path = tmp_path / "bn.html"
    assert main(["explain", "batchnorm-sigmoid", "--self-check", "-o", str(path)]) == 0
    quiz = Quiz(load("batchnorm-sigmoid"), tries=1)
    digits = quiz.network.conventions.digits
    number = {q.key: q.number for q in quiz.questions}
    answers = {q.number: q.shown for q in quiz.questions[:12]}
    wrong = float(quiz.questions[0].shown) + 0.01  # net_h1 of example 1
    answers[number["net_h1[e1]"]] = format_fixed(wrong, digits)
    nets = [wrong, float(answers[number["net_h1[e2]"]]), float(answers[number["net_h1[e3]"]])]
    answers[number["mu_h1"]] = format_fixed(sum(nets) / 3, digits)  # follows from the wrong one
    open_page(browser, path)
    for n in sorted(answers):
        by_css(browser, f'input[data-q="{n}"]').send_keys(answers[n] + Keys.ENTER)
    expected = []
    for q in quiz.questions[: max(answers)]:
        fb = quiz.respond(answers.get(q.number, "s"))
        d = fb.answer.diagnosis
        expected.append((q.number, fb.verdict, d.misconception if d else ""))
    page = _page_verdicts(browser, sorted(answers))
    assert page == expected
    verdicts = {n: v for n, v, _ in page}
    assert verdicts[number["net_h1[e1]"]] == "wrong" and verdicts[number["mu_h1"]] == "carried"


def test_a_batch_through_a_layer_without_weights(tmp_path):
    from tutor.spec.resources import data_dir

    text = (data_dir("worked_examples") / "softmax-scores" / "spec.toml").read_text(encoding="utf-8")
    text = text.replace("values = [2.0, 1.0, 0.1]\n", "")
    text = text.replace("targets = [1.0, 0.0, 0.0]\n", "")
    text += (
        "\n[[examples]]\ninputs = [2.0, 1.0, 0.1]\ntargets = [1.0, 0.0, 0.0]\n"
        "\n[[examples]]\ninputs = [0.5, 1.5, -0.3]\ntargets = [0.0, 1.0, 0.0]\n"
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    quiz = Quiz(load(str(spec)), tries=1)
    intro = "\n".join(quiz.intro())
    assert "no weights to update" in intro and "η" not in intro and "Example 2: s1⁽²⁾ = 0.5" in intro
    answer(quiz, step_walk(quiz.network).values())
    assert all(a.verdict == "correct" for a in quiz.answers) and len(quiz.answers) > 10


def test_a_value_rounded_away_is_warned_about():
    """Adam's v = (1 - β2) g² is 1.9e-10 for w1: at 9 decimals it is carried as 0, and the step that divides
    by √v̂ comes out 4386 instead of 0.1. The intro says so and how many decimals the step needs."""
    warning = Quiz(load("optimizer-adam")).rounding_warning()
    assert "v(w1) = 1.92e-10 rounds to 0" in warning and "--digits 12" in warning
    assert warning in Quiz(load("optimizer-adam")).intro()
    assert Quiz(load("optimizer-adam"), digits=12).rounding_warning() == ""
    assert Quiz(load("optimizer-adam"), rounding="exact").rounding_warning() == ""
    assert Quiz(load("mazur")).rounding_warning() == ""
