"""Layers with fewer parameters than a full Linear layer: ``weights = false`` (an activation over the values it
reads, e.g. a softmax over given scores) and ``bias = false`` (a Linear without bias, as torch's bias=False)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.support import live_recording, require_module
from tutor.cli import main
from tutor.engine import numeric, training
from tutor.engine.gradcheck import engines_agree, gradient_check, training_engines_agree
from tutor.engine.symbolic import explain_step, explain_training_step
from tutor.interop.numpy import to_mapping
from tutor.render import walkthrough as render
from tutor.render.options import Options
from tutor.render.training import documents
from tutor.spec import from_mapping, load, loads
from tutor.teach import checker
from tutor.teach.checker import AGREES, WRONG
from tutor.teach.quiz import Quiz

RECORDED = json.loads((Path(__file__).parent / "data" / "torch_weightless.json").read_text(encoding="utf-8"))

NO_BIAS = """
[inputs]
values = [1.0, -1.0]
[[layers]]
neurons = ["h1", "h2"]
activation = "tanh"
weights = [[0.3, -0.7], [0.5, 0.2]]
bias = false
[[layers]]
neurons = ["o1"]
activation = "identity"
weights = [[0.9, -0.4]]
biases = [0.1]
[loss]
name = "half_sse"
targets = [0.3]
[training]
learning_rate = 0.5
update_biases = true
"""


def r3(x: float) -> str:
    return f"{x:.3f}"


# -- A: a softmax over given scores --------------------------------------------------------------------------


def test_softmax_over_scores_gives_the_textbook_numbers():
    net = load("softmax-scores")
    assert net.parameter_count == 0 and net.layers[0].weightless and net.layers[0].weights.shape == (3, 0)
    walk = explain_step(net)
    # softmax([2, 1, 0.1]) = [0.659, 0.242, 0.099]; -ln 0.659 = 0.417
    assert [r3(walk.value(k)) for k in ("p1", "p2", "p3")] == ["0.659", "0.242", "0.099"]
    assert r3(walk.value("E")) == "0.417"
    # the net inputs ARE the scores, and dE/dscore_i = p_i - y_i, both as the Jacobian route and simplified
    assert [walk.value(k) for k in ("z1", "z2", "z3")] == [2.0, 1.0, 0.1]
    y = [1.0, 0.0, 0.0]
    for i in range(3):
        p = walk.value(f"p{i + 1}")
        assert walk.value(f"dE/dz{i + 1}") == pytest.approx(p - y[i], abs=1e-15)
        assert walk.value(f"dE/dz{i + 1}[simplified]") == pytest.approx(p - y[i], abs=1e-15)
        assert walk.value(f"dE/ds{i + 1}") == walk.value(f"dE/dz{i + 1}")  # the gradient by the given scores
    assert [r3(walk.value(k)) for k in walk.input_gradients] == ["-0.341", "0.242", "0.099"]
    # nothing to update, and nothing after it
    assert walk.params == [] and walk.loss_after == "" and walk.forward_after == []
    assert not [k for k, q in walk.quantities.items() if q.kind in ("update", "param", "gradient")]


def test_softmax_over_scores_engines_finite_differences_and_torch_agree():
    net = load("softmax-scores")
    walk = explain_step(net)
    assert engines_agree(walk) == []
    check = gradient_check(net, walk=walk)
    # no parameter to check: the gradients by the given scores are, by all three
    assert [r.param for r in check.rows] == ["s1", "s2", "s3"] and check.ok
    for r in check.rows:
        assert abs(r.symbolic - r.finite_difference) < 1e-8
    rec = RECORDED["scores"]
    assert [walk.value(k) for k in ("p1", "p2", "p3")] == pytest.approx(rec["p"], rel=1e-14)
    assert walk.value("E") == pytest.approx(rec["loss"], rel=1e-14)
    assert [walk.value(k) for k in walk.input_gradients] == pytest.approx(rec["grad"], rel=1e-12, abs=1e-15)


def test_recorded_scores_match_live_torch():
    live = live_recording(Path(__file__).parent / "data" / "record_torch_weightless.py")
    assert live["scores"]["grad"] == pytest.approx(RECORDED["scores"]["grad"], rel=1e-12)
    assert np.allclose(live["nobias"]["grad_W1"], RECORDED["nobias"]["grad_W1"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("fmt", ["text", "md", "tex", "html"])
def test_every_format_says_nothing_is_updated(fmt):
    walk = explain_step(load("softmax-scores"))
    fn = {"text": render.render_text, "md": render.render_markdown, "tex": render.render_latex}.get(
        fmt, render.render_html
    )
    out = fn(walk, check=gradient_check(walk.network, walk=walk), options=Options())
    assert "no weights and no biases, so this step updates nothing" in out
    assert "no learning rate" in out and "learning rate is" not in out and "η = 1" not in out
    assert "0.659001139" in out and "0.417030016" in out  # the probabilities and the loss
    assert "Summary: every parameter" not in out and "Loss after" not in out


def test_a_batch_of_scores_shows_each_share_p_minus_y_over_n(capsys):
    spec = """
[inputs]
names = ["s1", "s2", "s3"]
[[examples]]
inputs = [2.0, 1.0, 0.1]
targets = [1, 0, 0]
[[examples]]
inputs = [0.5, 2.5, -1.0]
targets = [0, 0, 1]
[[layers]]
neurons = ["c1", "c2", "c3"]
activation = "softmax"
weights = false
[loss]
name = "categorical_cross_entropy"
"""
    net = loads(spec)
    run = training.run(net, 1, keep=lambda n: n == 1)
    tw = explain_training_step(net, run.steps[1])
    assert training_engines_agree(tw, run.steps[1]) == []
    y = [np.array([1.0, 0, 0]), np.array([0, 0, 1.0])]
    for k, w in enumerate(tw.examples):
        for j in range(3):
            p = w.value(f"out_c{j + 1}")
            # the named share of the batch-mean gradient by score j of example k: (p - y)/N
            assert tw.value(f"dE_total/dnet_c{j + 1}[e{k + 1}]/N") == pytest.approx((p - y[k][j]) / 2, abs=1e-15)
    assert tw.params == []
    out = documents(("text",), net, 0, {1}, explain=True)[1]["text"]
    assert "The gradient with respect to the scores" in out and "nothing is updated" in out
    assert "parameters: none" in out and "learning rate" not in out.split("Step 1")[0].split("Training:")[1]
    assert run.epoch_loss[0] == run.epoch_loss[-1]  # training moves nothing
    # check reaches each share by its stable name
    claims = [{"quantity": "dE_total/dnet_c1[e2]/N", "value": "0.058"}, {"quantity": "E_total", "value": "2.035"}]
    report = checker.check(net, checker.parse_claims({"claim": claims}, "claims", checker.quantity_names(net)))
    assert [v.status for v in report.verdicts] == [AGREES, AGREES]


def test_check_and_quiz_reach_the_scores_by_stable_names():
    net = load("softmax-scores")
    claims = {"p1": "0.659", "E": "0.417", "dE/dz1": "-0.341", "dE/ds1": "-0.341", "dE/ds2": "-0.242"}
    parsed = checker.parse_claims(
        {"claim": [{"quantity": q, "value": v} for q, v in claims.items()]}, "claims", checker.quantity_names(net)
    )
    report = checker.check(net, parsed)
    status = {v.claim.quantity: v for v in report.verdicts}
    assert [status[k].status for k in ("p1", "E", "dE/dz1", "dE/ds1")] == [AGREES] * 4
    assert status["dE/ds2"].status == WRONG and "sign" in status["dE/ds2"].explanation
    # conventions about updates do not apply: they are skipped with the reason, never fatal
    assert any("no weights or biases" in why for why in report.skipped.values())
    quiz = Quiz(net, digits=3)
    keys = [q.key for q in quiz.questions]
    assert keys[:3] == ["p1", "p2", "p3"] and {"E", "dE/dz1", "dE/dz2", "dE/dz3"} <= set(keys)
    assert {q.section for q in quiz.questions} == {"forward", "error", "backward"}


def test_a_weightless_hidden_layer_passes_its_delta_back_unweighted():
    # a linear layer, then a sigmoid over its values alone (weights = false), then an output layer
    net = from_mapping(
        {
            "inputs": {"values": [0.5, -0.2]},
            "layers": [
                {"neurons": ["z1", "z2"], "activation": "identity", "weights": [[0.4, 0.1], [-0.3, 0.8]], "bias": 0.1},
                {"neurons": ["s1", "s2"], "activation": "sigmoid", "weights": False},
                {"neurons": ["o"], "activation": "sigmoid", "weights": [[0.7, -0.5]], "biases": [0.2]},
            ],
            "loss": {"name": "half_sse", "targets": [1.0]},
            "training": {"learning_rate": 0.5, "update_biases": True},
        }
    )
    assert net.parameter_count == 4 + 1 + 2 + 1
    walk = explain_step(net)
    assert engines_agree(walk) == [] and gradient_check(net, walk=walk).ok
    # the factor dnet_s1/dout_z1 of the weightless layer is 1, and z1 reaches the error through s1 alone
    assert walk.value("dnet_s1/dout_z1") == 1.0
    assert walk.value("dE_total/dout_z1") == walk.value("dE_total/dnet_s1")
    assert "dnet_s2/dout_z1" not in walk.quantities
    # the views follow it: one path through s1, the delta coming back unweighted, no weight gradient there
    from tutor.engine.views import gradient_magnitudes, path_view

    paths = {pp.param: pp for pp in path_view(walk)}
    assert len(paths["w1_11"].paths) == 1 and paths["w1_11"].total == pytest.approx(walk.value("dE_total/dw1_11"))
    assert math.isnan(gradient_magnitudes(walk)[1].gradient)
    text = render.render_text(walk, views=("matrix", "paths", "magnitudes"), options=Options())
    assert "z² = a¹ = " in text and "BP2: δ¹ = δ² ⊙ id′(z¹)" in text and "none" in text


# -- B: a layer without bias --------------------------------------------------------------------------------


def test_a_layer_without_bias_has_no_bias_anywhere():
    net = loads(NO_BIAS)
    layer = net.layers[0]
    assert not layer.has_bias and layer.bias_labels == () and layer.bias_count == 0
    assert net.parameter_count == 4 + 2 + 1
    walk = explain_step(net)
    assert {p.label for p in walk.params} == {"w1_11", "w1_12", "w1_21", "w1_22", "w2_11", "w2_12", "b2_1"}
    assert not any(k.startswith("b1") or "/db1" in k for k in walk.quantities)
    assert walk.quantities["net_h1"].args == ("w1_11", "x1", "w1_12", "x2")  # no bias term in the sum
    assert engines_agree(walk) == [] and gradient_check(net, walk=walk).ok
    text = render.render_text(walk, options=Options())
    assert "net_h1 = w1_11·x1 + w1_12·x2 = " in text and "b1" not in text  # the diagram listing included
    assert not [k for k in checker.quantity_names(net) if "b1" in k]
    from tutor.teach.quiz import givens

    assert [g.kind for g in dict(givens(net))["Layer 1 (hidden 1, tanh)"]] == ["weight"] * 4
    assert "b1" not in render.render_html(walk, options=Options())  # the SVG diagram has no bias node there
    # the torch reference: the same model with Linear(2, 2, bias=False)
    rec = RECORDED["nobias"]
    assert walk.value("E_total") == pytest.approx(rec["loss"], rel=1e-13)
    grads = {f"w1_{j + 1}{i + 1}": rec["grad_W1"][j][i] for j in range(2) for i in range(2)}
    grads |= {"w2_11": rec["grad_W2"][0][0], "w2_12": rec["grad_W2"][0][1], "b2_1": rec["grad_b2"][0]}
    assert {p.label: walk.value(p.gradient) for p in walk.params} == pytest.approx(grads, rel=1e-12)
    assert net.parameter_count == rec["parameters"]


def test_a_layer_without_bias_trains_with_any_optimizer():
    net = loads(NO_BIAS.replace("learning_rate = 0.5", 'learning_rate = 0.1\noptimizer = "adam"'))
    run = training.run(net, 3, keep=lambda n: n == 3)
    assert run.b[0].size == 0 and run.epoch_loss[-1] < run.epoch_loss[0]
    tw = explain_training_step(net, run.steps[3])
    assert training_engines_agree(tw, run.steps[3]) == []
    assert {u.label for u in tw.params} == {"w1_11", "w1_12", "w1_21", "w1_22", "w2_11", "w2_12", "b2_1"}
    # plain descent takes the NumPy loop (the straight-line step has every parameter), with the same result
    plain = loads(NO_BIAS)
    W, b = [layer.weights for layer in plain.layers], [layer.biases for layer in plain.layers]
    ref = numeric.step(plain, W, b)
    got = training.run(plain, 1)
    assert np.allclose(got.W[0], ref.new_W[0], rtol=0, atol=1e-15) and got.b[1].tolist() == ref.new_b[1].tolist()


def test_from_torch_linear_without_bias_matches_autograd():
    torch = require_module("torch")
    from tutor.interop.torch import from_torch, torch_gradient_check

    nn = torch.nn
    rec = RECORDED["nobias"]
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Tanh(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.3, -0.7], [0.5, 0.2]], dtype=torch.float64))
        model[2].weight.copy_(torch.tensor([[0.9, -0.4]], dtype=torch.float64))
        model[2].bias.copy_(torch.tensor([0.1], dtype=torch.float64))
    net = from_torch(model, [1.0, -1.0], [0.3])
    assert not net.layers[0].has_bias and net.layers[1].has_bias
    report = torch_gradient_check(net, model)
    assert report.ok and len(report.gradients()) == net.parameter_count == 7 and not report.notes
    walk = explain_step(net)
    assert walk.value("dE_total/dw1_11") == pytest.approx(rec["grad_W1"][0][0], rel=1e-12)


def test_to_mapping_keeps_weightless_and_biasless_layers():
    for net in (loads(NO_BIAS), load("softmax-scores")):
        again = from_mapping(to_mapping(net))
        assert [(l.weightless, l.has_bias, l.bias_labels) for l in again.layers] == [
            (l.weightless, l.has_bias, l.bias_labels) for l in net.layers
        ]
        assert explain_step(again).values() == explain_step(net).values()


# -- bad input ----------------------------------------------------------------------------------------------

SCORES = """
[inputs]
values = [2.0, 1.0, 0.1]
[[layers]]
neurons = ["c1", "c2", "c3"]
activation = "softmax"
weights = false
[loss]
name = "categorical_cross_entropy"
targets = [1, 0, 0]
"""


@pytest.mark.parametrize(
    "spec,place,words",
    [
        (SCORES.replace('["c1", "c2", "c3"]', '["c1", "c2"]'), "layers[0].neurons", "needs 3 neuron(s), not 2"),
        (SCORES.replace("weights = false", "weights = false\nbiases = [0, 0, 0]"), "layers[0].biases", "no bias"),
        (SCORES.replace("weights = false", "weights = false\nbias = 0.5"), "layers[0].bias", "no bias"),
        (SCORES.replace("weights = false", "weights = false\nbias_labels = ['a', 'b', 'c']"), "bias_labels", "no"),
        (SCORES.replace("weights = false", "weights = false\nweight_labels = [[]]"), "weight_labels", "no weights"),
        (SCORES.replace("weights = false", "weights = true"), "layers[0].weights", "weights = false"),
        (NO_BIAS.replace("bias = false", "bias = false\nbias_label = 'c'"), "layers[0].bias_label", "has none"),
        (NO_BIAS.replace("bias = false", "bias = true"), "layers[0].bias", "bias = false"),
        (NO_BIAS.replace("bias = false", "biases = false\nbias_labels = ['p', 'q']"), "bias_labels", "has none"),
        (NO_BIAS.replace("bias = false", "bias = false\nbiases = [1, 2]"), "layers[0]", "not both"),
    ],
)
def test_bad_weightless_and_biasless_layers(tmp_path, capsys, spec, place, words):
    path = tmp_path / "spec.toml"
    path.write_text(spec, encoding="utf-8")
    rc = main(["explain", str(path)])
    _, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert place in err and words in err and "Traceback" not in err


def test_a_width_change_without_weights_in_a_hidden_layer(tmp_path, capsys):
    spec = NO_BIAS.replace(
        '[[layers]]\nneurons = ["o1"]',
        '[[layers]]\nneurons = ["g1"]\nactivation = "relu"\nweights = false\n\n[[layers]]\nneurons = ["o1"]',
    )
    path = tmp_path / "spec.toml"
    path.write_text(spec, encoding="utf-8")
    assert main(["explain", str(path)]) == 2
    err = capsys.readouterr().err
    assert "layers[1].neurons" in err and "passes each of its 2 input(s)" in err


def test_the_learning_rate_is_needed_only_where_something_is_updated(capsys):
    walk = explain_step(load("softmax-scores"))
    assert "eta" not in walk.quantities  # not given, and nothing uses it
    assert main(["explain", "softmax-scores", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["network"]["learning_rate"] is None and "eta" not in doc["values"]
    assert doc["network"]["layers"][0]["weights"] is False and doc["network"]["layers"][0]["bias"] is False
    assert doc["input_gradients"] == pytest.approx({"s1": -0.340998861, "s2": 0.242432971, "s3": 0.098565890})
    with pytest.raises(Exception, match="learning rate"):
        loads(NO_BIAS.replace("learning_rate = 0.5", ""))
    assert math.isfinite(explain_step(load("softmax-scores")).value("E"))


def test_a_wide_layer_without_weights_adds_no_parameters():
    n = 200  # 200 scores: a full layer of that width would be 40,200 parameters, over the limit
    net = from_mapping(
        {
            "inputs": {"values": [0.01 * k for k in range(n)]},
            "layers": [{"size": n, "activation": "softmax", "weights": False}],
            "loss": {"name": "categorical_cross_entropy", "targets": [1.0] + [0.0] * (n - 1)},
        }
    )
    assert net.parameter_count == 0 and net.shape == (n, n)
    fw = numeric.forward(net)
    bw, _, _ = numeric.backward(net, fw)
    assert np.allclose(numeric.input_gradient(net, fw, bw), fw.outs[0] - net.targets, rtol=0, atol=1e-15)


def test_as_printed_rounding_rounds_the_passed_scores_in_both_engines():
    net = loads(
        SCORES.replace("[2.0, 1.0, 0.1]", "[2.0123, 1.0456, 0.1789]")
        + "[conventions]\nrounding = 'as-printed'\ndigits = 2\n"
    )
    walk = explain_step(net)
    assert walk.value("net_c1") == 2.01 and engines_agree(walk) == []
    assert numeric.forward(net).nets[0].tolist() == [2.01, 1.05, 0.18]  # carried as printed, as the symbolic


def _mixed(skip: int | None = None, dropout: int | None = None):
    third = {"neurons": ["t1", "t2"], "activation": "sigmoid", "weights": [[0.3, 0.2], [0.1, -0.4]], "bias": 0.0}
    if skip is not None:
        third["skip"] = skip
    spec = {
        "inputs": {"values": [0.5, -0.2]},
        "layers": [
            {"neurons": ["z1", "z2"], "activation": "identity", "weights": [[0.4, 0.1], [-0.3, 0.8]], "bias": 0.1},
            {"neurons": ["s1", "s2"], "activation": "tanh", "weights": False},
            third,
            {"neurons": ["o"], "activation": "sigmoid", "weights": [[0.7, -0.5]], "biases": [0.2]},
        ],
        "loss": {"name": "half_sse", "targets": [1.0]},
        "training": {"learning_rate": 0.5, "update_biases": True},
    }
    if dropout is not None:
        spec["training"]["dropout"] = {"rate": 0.5, "layers": [dropout], "mask": [[1, 0]]}
    return from_mapping(spec)


@pytest.mark.parametrize("skip", [1, 0])  # a skip from the weightless layer, and one over it
def test_skips_from_and_over_a_weightless_layer(skip):
    net = _mixed(skip=skip)
    walk = explain_step(net)
    assert engines_agree(walk) == [] and gradient_check(net, walk=walk).ok
    if skip == 0:  # z1 reaches the error through s1 and along the skip: two contributions, summed
        assert walk.quantities["dE_total/dout_z1"].args == ("dE_total/dout_z1[s1]", "dE_total/dout_z1[skip.t1]")


@pytest.mark.parametrize("layer", [0, 1])  # dropout before the weightless layer, and on it
def test_dropout_around_a_weightless_layer(layer):
    net = _mixed(dropout=layer)
    run = training.run(net, 1, keep=lambda n: True)
    assert training_engines_agree(explain_training_step(net, run.steps[1]), run.steps[1]) == []


def test_engines_agree_on_a_network_with_skips():
    # numeric_values mapped the skip's contribution to a row past the contribution matrix (IndexError)
    assert engines_agree(explain_step(load("residual-sigmoid"))) == []


BN_NO_BIAS = """
[inputs]
names = ["x1", "x2"]
[[layers]]
neurons = ["h1", "h2"]
activation = "sigmoid"
weights = [[0.15, 0.20], [0.25, 0.30]]
bias = false
batch_norm = true
gamma = [1.2, 0.8]
beta = [0.1, -0.1]
[[layers]]
neurons = ["o1"]
activation = "sigmoid"
weights = [[0.40, 0.45]]
bias = 0.60
[loss]
name = "half_sse"
[training]
learning_rate = 0.5
update_biases = true
[[examples]]
inputs = [0.05, 0.10]
targets = [0.01]
[[examples]]
inputs = [0.30, -0.20]
targets = [0.99]
[[examples]]
inputs = [-0.10, 0.40]
targets = [0.50]
"""


def test_batch_norm_after_a_layer_without_bias():
    # Linear(bias=False) then BatchNorm1d, the usual pairing: beta takes the bias's place
    from tutor.engine.gradcheck import batch_gradient_check

    net = loads(BN_NO_BIAS)
    assert net.parameter_count == 4 + 2 + 2 + 2 + 1
    run = training.run(net, 2, keep=lambda n: True)
    for st in run.steps.values():
        assert training_engines_agree(explain_training_step(net, st), st) == []
    report = batch_gradient_check(net)
    assert report.ok and [r.param for r in report.rows] == [
        *("w1_11", "w1_12", "w1_21", "w1_22", "gamma_h1", "gamma_h2", "beta_h1", "beta_h2", "w2_11", "w2_12", "b2")
    ]
    out = documents(("text",), net, 0, {1}, explain=True)[1]["text"]
    assert "The layer has no bias (bias = false): beta takes its place.\n" in out


def test_from_torch_linear_without_bias_before_batch_norm_matches_autograd():
    torch = require_module("torch")
    from tutor.engine.gradcheck import batch_gradient_check
    from tutor.interop.torch import from_torch

    torch.manual_seed(3)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2), nn.Sigmoid(), nn.Linear(2, 1))
    X, Y = [[0.1, 0.2], [0.5, -0.3], [1.0, 0.0]], [[0.1], [0.9], [0.5]]
    net = from_torch(model, x=X, y=Y, loss="half_sse", learning_rate=0.1)
    assert not net.layers[0].has_bias and net.parameter_count == sum(p.numel() for p in model.parameters()) == 11
    m = model.double().train()
    out = m(torch.tensor(X, dtype=torch.float64))
    ((0.5 * (out - torch.tensor(Y, dtype=torch.float64)) ** 2).sum(1).mean()).backward()
    sym = {r.param: r.symbolic for r in batch_gradient_check(net).rows}
    assert [sym["w1_11"], sym["w1_12"]] == pytest.approx(m[0].weight.grad[0].tolist(), rel=1e-12)
    assert [sym["gamma_h1"], sym["gamma_h2"]] == pytest.approx(m[1].weight.grad.tolist(), rel=1e-12)
    assert [sym["beta_h1"], sym["beta_h2"]] == pytest.approx(m[1].bias.grad.tolist(), rel=1e-12, abs=1e-15)


def test_batch_norm_on_a_layer_without_weights_is_refused(tmp_path, capsys):
    spec = BN_NO_BIAS.replace("bias = false\nbatch_norm = true", "batch_norm = true").replace(
        "weights = [[0.15, 0.20], [0.25, 0.30]]\n", "weights = false\n"
    )
    path = tmp_path / "spec.toml"
    path.write_text(spec, encoding="utf-8")
    assert main(["explain", str(path)]) == 2
    err = capsys.readouterr().err
    assert "layers[0].batch_norm" in err and "no weights" in err and len(err.strip().splitlines()) == 1
