"""quiz --symbolic: typed formulas read by the graph specs' grammar and graded by the one grading core
(tutor.teach.formulas through Grader.grade_formula): equivalent spellings accepted on every factor kind a quiz
asks (activations, losses, optimizers, batch normalization), the classic slips named, hostile input refused in
one line and quickly."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.spec import load
from tutor.teach import randomnet
from tutor.teach.formulas import SLIPS, FormulaError
from tutor.teach.quiz import Quiz
from tutor.teach.symquiz import FormulaQuiz

from .support import no_hang


@lru_cache(maxsize=None)
def quiz(spec: str) -> Quiz:
    if spec.startswith("random:"):  # random:ACTIVATION:LOSS, a 2-2-2 network of seed 1
        _, activation, loss = spec.split(":")
        made = randomnet.make(1, randomnet.options(shape="2-2-2", activation=activation, loss=loss or None))
        return Quiz(made.network)
    return Quiz(load(spec))


def grade(spec: str, key: str, text: str):
    return quiz(spec).grader.grade_formula(key, text)


RIGHT = [
    # activations: the derivative factor
    ("mazur", "dout_o1/dnet_o1", "out_o1*(1 - out_o1)"),
    ("mazur", "dout_o1/dnet_o1", "out_o1 - out_o1**2"),
    ("mazur", "dout_o1/dnet_o1", "sigmoid(net_o1)*(1 - sigmoid(net_o1))"),
    ("mazur", "dout_o1/dnet_o1", "exp(-net_o1)/(1 + exp(-net_o1))**2"),
    ("random:tanh:", "dout_h1/dnet_h1", "1 - out_h1**2"),
    ("random:tanh:", "dout_h1/dnet_h1", "(1 - out_h1)*(1 + out_h1)"),
    ("random:tanh:", "dout_h1/dnet_h1", "1 - tanh(net_h1)**2"),
    ("random:softplus:", "dout_h1/dnet_h1", "sigmoid(net_h1)"),
    ("random:softplus:", "dout_h1/dnet_h1", "1/(1 + exp(-net_h1))"),
    # losses: the error factor
    ("mazur", "dE_total/dout_o1", "out_o1 - target_o1"),
    ("mazur", "dE_total/dout_o1", "-(target_o1 - out_o1)"),
    ("mazur", "E_o1", "1/2*(target_o1 - out_o1)**2"),
    ("mazur", "E_o1", "0.5*(out_o1 - target_o1)**2"),
    ("random:sigmoid:binary_cross_entropy", "dE_total/dout_o1", "(out_o1 - target_o1)/(2*out_o1*(1 - out_o1))"),
    ("softmax-scores", "dE/dp1", "-y_c1/p1"),
    ("softmax-scores", "dp2/dz1", "-p1*p2"),
    ("softmax-scores", "dE/dz1", "p1 - y_c1"),  # the targets sum to 1
    ("softmax-scores", "dE/dz1", "dE_dp1*dp1_dz1 + dE_dp2*dp2_dz1 + dE_dp3*dp3_dz1"),
    # deltas, contributions, sums, gradients, updates: written through other quantities or expanded
    ("mazur", "dE_o1/dnet_o1", "dE_total_dout_o1*dout_o1_dnet_o1"),
    ("mazur", "dE_o1/dnet_o1", "(out_o1 - target_o1)*out_o1*(1 - out_o1)"),
    ("mazur", "dE_total/dw5", "delta_o1*out_h1"),
    ("mazur", "dE_total/dw5", "out_h1*(out_o1 - target_o1)*out_o1*(1 - out_o1)"),
    ("mazur", "dE_total/dout_h1", "delta_o1*w5 + delta_o2*w7"),
    ("mazur", "dE_total/dnet_h1", "(delta_o1*w5 + delta_o2*w7)*out_h1*(1 - out_h1)"),
    ("mazur", "w5+", "w5 - eta*delta_o1*out_h1"),
    ("appendix-b", "dE/dout_in", "(out_out - desired)*out_out*(1 - out_out)"),
    # optimizers: their states, steps and updates
    ("optimizer-adam", "m[w5]", "beta1*m_prev_w5 + (1 - beta1)*dE_total_dw5"),
    ("optimizer-adam", "v[w5]", "beta2*v_prev_w5 + (1 - beta2)*dE_total_dw5**2"),
    ("optimizer-adam", "mhat[w5]", "m_w5/(1 - beta1)"),
    ("optimizer-adam", "step[w5]", "eta*mhat_w5/(sqrt(vhat_w5) + eps)"),
    ("optimizer-adam", "step[w5]", "eta*mhat_w5/(vhat_w5**0.5 + eps)"),
    ("optimizer-momentum", "v[w5]", "beta*v_prev_w5 + dE_total_dw5 - beta*dE_total_dw5"),
    ("optimizer-momentum", "w5+", "w5 - eta*v_w5"),
    ("optimizer-nesterov", "v[w5]", "mu*v_prev_w5 + dE_total_dw5"),
    ("optimizer-rmsprop", "s[w5]", "rho*s_prev_w5 + (1 - rho)*dE_total_dw5**2"),
    ("optimizer-adagrad", "step[w5]", "eta*dE_total_dw5/(sqrt(s_w5) + eps)"),
    # batch normalization
    ("batchnorm-sigmoid", "dE_total/dgamma_h1[e1]", "dE_total_dy_h1_e1*xhat_h1_e1"),
    ("batchnorm-sigmoid", "dE_total/dbeta_h1[e1]", "dE_total_dy_h1_e1"),
    ("batchnorm-sigmoid", "dE_total/dxhat_h1[e1]", "dE_total_dy_h1_e1*gamma_h1"),
    (
        "batchnorm-sigmoid",
        "dE_total/dvar_h1",
        "-1/2*(var_h1 + eps_L1)**(-1.5)*(dE_total_dxhat_h1_e1*(net_h1_e1 - mu_h1)"
        " + dE_total_dxhat_h1_e2*(net_h1_e2 - mu_h1) + dE_total_dxhat_h1_e3*(net_h1_e3 - mu_h1))",
    ),
    ("batchnorm-sigmoid", "dout_h1/dy_h1[e1]", "out_h1_e1*(1 - out_h1_e1)"),
]


@pytest.mark.parametrize("spec,key,text", RIGHT)
def test_equivalent_spellings_are_right(spec, key, text):
    g = grade(spec, key, text)
    assert g.credited, (key, text, g.reference)
    assert not g.slip


def test_sympy_confirms_a_form_in_the_derived_names():
    assert grade("mazur", "dout_o1/dnet_o1", "out_o1 - out_o1**2").symbolic
    assert grade("mazur", "dE_total/dw5", "out_h1*(out_o1 - target_o1)*out_o1*(1 - out_o1)").symbolic


SLIPPED = [
    ("mazur", "dout_o1/dnet_o1", "net_o1*(1 - net_o1)", "sigma-prime-from-net", "net_o1 where out_o1"),
    ("random:tanh:", "dout_h1/dnet_h1", "1 - net_h1**2", "sigma-prime-from-net", "net_h1 where out_h1"),
    ("mazur", "dE_total/dw5", "(out_o1 - target_o1)*net_o1*(1 - net_o1)*out_h1", "sigma-prime-from-net", ""),
    (
        "batchnorm-sigmoid",
        "dout_h1/dy_h1[e1]",
        "y_h1_e1*(1 - y_h1_e1)",
        "sigma-prime-from-net",
        "y_h1_e1 where out_h1_e1",
    ),
    ("mazur", "dE_total/dw5", "(out_o1 - target_o1)*out_h1", "missing-factor", "dout_o1_dnet_o1"),
    ("mazur", "dE_o1/dnet_o1", "out_o1 - target_o1", "missing-factor", ""),
    ("mazur", "dE_total/dw5", "delta_o1", "missing-factor", ""),
    ("optimizer-adam", "step[w5]", "eta*mhat_w5/sqrt(vhat_w5 + eps)", "", ""),  # not a named slip: just wrong
    ("mazur", "dE_total/dw5", "delta_o2*out_h1", "wrong-index", "o2 where o1 belongs"),
    ("mazur", "dE_total/dw5", "delta_o1*out_h2", "wrong-index", "h2 where h1 belongs"),
    ("mazur", "dE_total/dout_h1", "delta_o1*w5 + delta_o2*w6", "wrong-index", "w6 where w7 belongs"),
    ("mazur", "dE_o1/dnet_o1", "(out_o1 - target_o2)*out_o1*(1 - out_o1)", "wrong-index", "target_o2"),
    ("optimizer-adam", "m[w5]", "beta1*m_prev_w6 + (1 - beta1)*dE_total_dw5", "wrong-index", "w6 where w5"),
    ("mazur", "dE_total/dout_o1", "target_o1 - out_o1", "sign", ""),
    ("mazur", "w5+", "w5 + eta*delta_o1*out_h1", "sign", ""),
    ("mazur", "dE_total/dw5", "(target_o1 - out_o1)*out_o1*(1 - out_o1)*out_h1", "sign", ""),
    ("batchnorm-sigmoid", "dE_total/dgamma_h1[e1]", "-dE_total_dy_h1_e1*xhat_h1_e1", "sign", ""),
    ("mazur", "dE_total/dout_h1", "delta_o1*w5", "missing-term", "dE_o2_dout_h1"),
    ("mazur", "dE_o1/dnet_o1", "dE_total_dout_o1 + dout_o1_dnet_o1", "added-chain", ""),
    ("softmax-scores", "dE/dz1", "y_c1 - p1", "sign", ""),
]


def test_every_slip_has_a_case_and_shared_ids_read_as_the_grading_core_says():
    from tutor.teach.grading import MISCONCEPTIONS

    assert {case[3] for case in SLIPPED} - {""} == set(SLIPS)
    for slip in set(SLIPS) & set(MISCONCEPTIONS):
        assert SLIPS[slip] == MISCONCEPTIONS[slip]


@pytest.mark.parametrize("spec,key,text,slip,detail", SLIPPED)
def test_each_classic_slip_is_named(spec, key, text, slip, detail):
    g = grade(spec, key, text)
    assert not g.credited
    assert g.slip == slip, (g.slip, g.detail)
    assert detail in g.detail
    if slip:
        assert g.description == SLIPS[slip]


@pytest.mark.parametrize("spec", ["mazur", "optimizer-adam", "batchnorm-sigmoid", "random:tanh:"])
def test_every_asked_formula_typed_back_is_right_and_its_negation_a_sign_slip(spec):
    """Each formula the quiz asks (the derived form as shown after a wrong answer, SymPy's printing) is
    accepted when typed back; its negation is named a sign slip: the check cannot pass by accepting all."""
    fq = FormulaQuiz(quiz(spec))
    assert len(fq.questions) >= 9
    kinds = {fq.quiz.walk.quantities[q.key].kind for q in fq.questions}
    assert {"factor", "delta", "gradient", "update"} <= kinds
    for q in fq.questions:
        ref = fq.reference(q.key)
        assert grade(spec, q.key, ref).credited, (q.key, ref)
        flipped = grade(spec, q.key, f"-({ref})")
        assert not flipped.credited and flipped.slip == "sign", (q.key, ref, flipped)


HOSTILE = [
    ("9**9**9", "an exponent lies from -4 to 4"),
    ("out_o1**9**9", "an exponent lies from -4 to 4"),
    ("out_o1**99999", "an exponent lies from -4 to 4"),
    ("2**1000*out_o1", "an exponent lies from -4 to 4"),
    ("__import__('os').system('true')", "unknown function"),
    ("__import__('os')", "unknown function '__import__'"),
    ("__import__", "undefined name '__import__'"),
    ("eval('1')*out_o1", "unknown function 'eval'"),
    ("out_o1.__class__", "an attribute"),
    ("foo*out_o1", "undefined name 'foo'"),
    ("(" * 240 + "out_o1" + ")" * 240, "nest"),
    (
        "-" * 490 + "out_o1",
        "more than 200 operations|nested too deeply",
    ),  # too many operations, or nested too deeply: which, depends on the stack
    ("exp(" * 80 + "out_o1" + ")" * 80, ""),
    ("out_o1+" * 100 + "1", "at most 500 characters"),
    ("1e999*out_o1", "not finite"),
    ("out_o1/0 + 1/0", "division by zero"),
    ("out_o1 if 1 else 0", "'if'"),
    ("lambda: 0", "a lambda"),
    ("out_o1^2", "'^' is not a power"),
    ("", "empty"),
    # Python's reader would take these; the grammar (and the self-check page's reader) does not
    ("1_000*out_o1", "'1_000' is not allowed; write numbers in decimals"),
    ("0x10*out_o1", "'0x10' is not allowed"),
    ("out_o1*(1 - out_o1)  # sigma'", "'#' is not allowed; a formula has no comments"),
]


@pytest.mark.parametrize("text,fragment", HOSTILE)
def test_hostile_formulas_are_refused_in_one_line_quickly(text, fragment):
    try:
        with no_hang():
            g = grade("mazur", "dout_o1/dnet_o1", text)
    except FormulaError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("formula: ")
        assert any(f in message for f in fragment.split("|")), message
        assert len(message) < 300
    else:  # a tower of exp parses: it is graded (wrong), not refused
        assert fragment == "" and not g.credited


def test_the_quiz_loop_reads_formulas_and_refuses_without_using_a_try():
    fq = FormulaQuiz(Quiz(load("mazur"), sections=["backward"], neuron="o1"))
    assert [q.key for q in fq.questions] == ["dE_total/dout_o1", "dout_o1/dnet_o1", "dE_o1/dnet_o1"]
    assert fq.prompt(fq.current) == "[1/3] ∂E_total/∂out_o1 = "
    fb = fq.respond("__import__('os')")
    assert fb.kind == "invalid" and fb.message.startswith("Not read: formula: unknown function '__import__'")
    fb = fq.respond("target_o1 - out_o1")
    assert fb.kind == "retry" and "Diagnosis: " + SLIPS["sign"] in fb.message
    fb = fq.respond("out_o1 - target_o1")
    assert fb.kind == "graded" and fb.message.startswith("Right")
    assert fq.answers[0].verdict == "correct" and fq.answers[0].tries == 2
    fb = fq.respond("net_o1*(1 - net_o1)")
    assert "Diagnosis: " + SLIPS["sigma-prime-from-net"] in fb.message
    fb = fq.respond("s")
    assert fb.message == "Skipped. The formula: dout_o1_dnet_o1 = out_o1*(1 - out_o1)"
    assert fq.respond("(out_o1 - target_o1)*out_o1*(1 - out_o1)").kind == "graded"
    assert fq.summary() == ["Score: 2 of 3 formulas right."]


def test_cli_transcript(capsys, monkeypatch):
    lines = "out_o1 - target_o1\nnet_o1*(1 - net_o1)\nout_o1 - out_o1**2\ndE_total_dout_o1\nq\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["quiz", "mazur", "--symbolic", "--neuron", "o1", "--section", "backward"]) == 0
    out = capsys.readouterr().out
    assert (
        "Right (SymPy: its difference to the derived form simplifies to 0): dE_total_dout_o1 = out_o1 - target_o1"
        in out
    )
    assert f"Not right. Diagnosis: {SLIPS['sigma-prime-from-net']} (dout_o1_dnet_o1 written with net_o1" in out
    assert f"Not right. Diagnosis: {SLIPS['missing-factor']} (without dout_o1_dnet_o1). Try again." in out
    assert "Score: 2 of 3 formulas right." in out


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["graph-xyz", "--symbolic"], ["--symbolic", "graph spec"]),
        (["mazur", "--symbolic", "--answers", "a.txt"], ["--symbolic", "--answers is about numeric answers"]),
        (["mazur", "--symbolic", "--results", "r.json"], ["--symbolic", "--results"]),
        (["mazur", "--symbolic", "--rounding", "exact"], ["--symbolic", "--rounding"]),
        (["mazur", "--symbolic", "--digits", "3"], ["--symbolic", "--digits"]),
        (["mazur", "--symbolic", "--tolerance", "3sf"], ["--symbolic", "--tolerance"]),
        (["mazur", "--symbolic", "--hint-cost", "0"], ["--symbolic", "--hint-cost"]),
        (["mazur", "--symbolic", "--all"], ["--symbolic", "--all"]),
        (["--resume", "r.json", "--symbolic"], ["--resume", "settings"]),
    ],
)
def test_options_symbolic_cannot_honour_are_refused(capsys, argv, fragments):
    assert main(["quiz", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("backprop-tutor: error: ")
    for f in fragments:
        assert f in err


def test_the_readme_transcript_is_what_the_quiz_says():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("$ backprop-tutor quiz mazur --symbolic --neuron o1 --section backward")
    block = readme[start : readme.index("```", start)]
    fq = FormulaQuiz(Quiz(load("mazur"), sections=["backward"], neuron="o1"))
    lines = block.splitlines()
    said = []
    for i, line in enumerate(lines):
        if line.startswith("[") and "] " in line:
            prompt, typed = line.split(" = ", 1)
            assert fq.prompt(fq.current) == prompt + " = "
            reply = [lines[i + 1].strip()]
            j = i + 2
            while j < len(lines) and lines[j].startswith("    "):  # a wrapped line goes on
                reply.append(lines[j].strip())
                j += 1
            said.append((fq.respond(typed).message, " ".join(reply)))
    assert len(said) == 6
    for message, shown in said:
        assert message == shown
    assert f"\n{fq.summary()[0]}\n" in block


# -- every kind of factor in the registry ------------------------------------------------------------------------

_MAZUR = Path(__file__).resolve().parent.parent / "worked_examples" / "mazur" / "spec.toml"


def _variant(hidden="sigmoid", output="sigmoid", loss="half_sse", targets="[0.01, 0.99]", optimizer=""):
    """Mazur's spec with other activations, loss, targets or optimizer (the registry's names)."""
    from tutor.spec.network import loads

    s = _MAZUR.read_text(encoding="utf-8").replace('activation = "sigmoid"', f'activation = "{hidden}"', 1)
    i = s.index('neurons = ["o1", "o2"]')
    s = s[:i] + s[i:].replace('activation = "sigmoid"', f'activation = "{output}"', 1)
    s = s.replace('name = "half_sse"', f'name = "{loss}"').replace("targets = [0.01, 0.99]", f"targets = {targets}")
    if optimizer:
        s = s.replace("learning_rate = 0.5", f'learning_rate = 0.1\noptimizer = "{optimizer}"')
    return loads(s)


def _registry_cases() -> list[tuple[str, str]]:
    from tutor.spec import rules

    cases = [("activation", a) for a in rules.ACTIVATIONS if a != "binary_step"]  # a step has no derivative
    cases += [("loss", name) for name in rules.LOSSES]
    cases += [("optimizer", name) for name in rules.OPTIMIZERS]
    return cases + [("batch normalization", "batchnorm-sigmoid")]


def _registry_net(kind: str, name: str):
    from tutor.spec import rules

    if kind == "activation":
        if name in ("softmax", "log_softmax"):  # an output layer's, with its loss
            loss = "categorical_cross_entropy" if name == "softmax" else "nll"
            return _variant(output=name, loss=loss, targets="[1.0, 0.0]")
        return _variant(hidden=name, output=name)
    if kind == "loss":
        rule = rules.LOSSES[name]
        output = rule.needs_output or ("softmax" if name == "categorical_cross_entropy" else "sigmoid")
        if name in ("hinge", "multiclass_hinge"):
            output = "identity"
        one_hot = rule.needs_one_hot or name in ("categorical_cross_entropy", "nll")
        return _variant(output=output, loss=name, targets="[1.0, 0.0]" if one_hot else "[0.01, 0.99]")
    if kind == "optimizer":
        return _variant(optimizer=name)
    return load(name)


_SAMPLE = {("activation", "tanh"), ("activation", "softmax"), ("optimizer", "adam")}


@pytest.mark.parametrize(
    "kind,name",
    [
        pytest.param(k, n, id=f"{k}-{n}", marks=() if (k, n) in _SAMPLE else pytest.mark.slow)
        for k, n in _registry_cases()
    ],
)
def test_every_factor_kind_of_the_registry_is_asked_and_judged(kind, name):
    """Every activation, loss, optimizer and batch normalization: each formula the symbolic quiz asks is
    accepted in three spellings (SymPy's printing of the derived form, expanded, factored), its negation is
    named a sign slip, a derivative written from the net input where the output belongs is named, and an
    index of the other output neuron is named (or at least not credited)."""
    import sympy as sp

    from tutor.teach.formulas import typed_name

    fq = FormulaQuiz(Quiz(_registry_net(kind, name)))
    g = fq.grader
    kinds = {fq.quiz.walk.quantities[q.key].kind for q in fq.questions}
    assert {"factor", "gradient", "update"} <= kinds, kinds
    named = set()
    for q in fq.questions:
        ref = g.formulas.reference(q.key)
        spellings = {str(ref), str(sp.expand(ref)), str(sp.factor(ref))}
        for text in sorted(t for t in spellings if len(t) <= 480):
            assert g.grade_formula(q.key, text).credited, (q.key, text)
        # a form that is 0 at every point (E_o2 = -target_o2*log(out_o2) with target 0: the targets stay as
        # given) equals its negation for this example, so only a form with a nonzero value has a sign to slip
        if any(abs(x) > 1e-9 for x in g.formulas.values(ref) if x == x):
            flipped = g.grade_formula(q.key, f"-({ref})")
            assert not flipped.credited and flipped.slip == "sign", (q.key, str(ref), flipped.slip)
            named.add("sign")
        text = str(ref)
        for out, net in (("out_o1", "net_o1"), ("out_h1", "net_h1")):
            if q.key == f"d{out}/d{net}" and out in text and net not in text:
                slip = g.grade_formula(q.key, text.replace(out, net))
                assert not slip.credited and slip.slip == "sigma-prime-from-net", (q.key, text, slip.slip)
                named.add("sigma-prime-from-net")
        if "o1" in text and "o2" not in text and q.key.endswith("w5"):
            try:
                other = g.grade_formula(q.key, text.replace("o1", "o2"))
            except FormulaError:  # the swap made a name the walk has not (dnet_o2_dw5): refused, not credited
                named.add("refused")
                continue
            assert not other.credited, (q.key, text)
            named.add("wrong-index" if other.slip == "wrong-index" else "not credited")
    assert "sign" in named
    assert typed_name(fq.questions[0].key)
