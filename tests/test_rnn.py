"""The ``rnn`` layer kind (tutor/spec/layers/rnn.py, an Elman layer as torch's nn.RNN) in the numeric engine:
torch's gradients of weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, the Linear after it and the input,
and one SGD step, at 1e-12 relative (tests/data/torch_rnn.json from tests/data/record_torch_rnn.py, and live);
central differences agree; the surfaces without a walk through time refuse it in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import assert_close, live_recording, recording, require_module
from tutor.cli import main
from tutor.engine import numeric
from tutor.spec import from_mapping
from tutor.spec.errors import SpecError

SCRIPT = Path(__file__).parent / "data" / "record_torch_rnn.py"
CASES = recording(SCRIPT).CASES
RECORDED = json.loads((Path(__file__).parent / "data" / "torch_rnn.json").read_text(encoding="utf-8"))
REL = 1e-12


def close(ours, theirs, what: str) -> None:
    assert_close(ours, theirs, REL, what)


def results(case: dict) -> dict:
    return results_of(from_mapping(case))


def results_of(net) -> dict:
    st = numeric.step(net)
    rnn = net.layers[0]
    n, H = rnn.input_size, rnn.hidden_size
    gW, gb = st.backward.grad_W[0], st.backward.grad_b[0]
    nW, nb = st.new_W[0], st.new_b[0]
    return {
        "loss": st.forward.loss,
        "input_grad": numeric.input_gradient(net, st.forward, st.backward),
        "grads": {
            "weight_ih": gW[:, :n],
            "weight_hh": gW[:, n:],
            "bias_ih": gb[:H],
            "bias_hh": gb[H:],
            "linear_weight": st.backward.grad_W[1],
            "linear_bias": st.backward.grad_b[1],
        },
        "after": {
            "weight_ih": nW[:, :n],
            "weight_hh": nW[:, n:],
            "bias_ih": nb[:H],
            "bias_hh": nb[H:],
            "linear_weight": st.new_W[1],
            "linear_bias": st.new_b[1],
        },
    }


def compare(ours: dict, theirs: dict, name: str) -> None:
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=REL)
    close(ours["input_grad"], theirs["input_grad"], f"{name}: dE/dx")
    for part in ("grads", "after"):
        for key, value in theirs[part].items():
            close(ours[part][key], value, f"{name}: {part} {key}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_numeric_engine_agrees_with_recorded_torch(name):
    ours = results(CASES[name])
    compare(ours, RECORDED["cases"][name], name)
    assert np.max(np.abs(ours["grads"]["weight_hh"])) > 1e-3  # the recurrence carries a real gradient


def test_the_recording_is_what_torch_computes_now():
    live = live_recording(SCRIPT)
    for name in CASES:
        compare(results(CASES[name]), live["cases"][name], name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_agree_with_central_differences(name):
    net = from_mapping(CASES[name])
    st = numeric.step(net)
    W = [layer.weights for layer in net.layers]
    b = [layer.biases for layer in net.layers]
    h = 1e-6
    for i in range(W[0].size):
        e = np.zeros(W[0].size)
        e[i] = h
        up = numeric.forward(net, [W[0] + e.reshape(W[0].shape), W[1]], b).loss
        down = numeric.forward(net, [W[0] - e.reshape(W[0].shape), W[1]], b).loss
        assert st.backward.grad_W[0].flat[i] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_the_unrolled_states_and_names():
    net = from_mapping(CASES["many_to_many_relu"])
    rnn = net.layers[0]
    assert (rnn.steps, rnn.input_size, rnn.hidden_size, rnn.outputs, rnn.size) == (4, 1, 2, "all", 8)
    assert rnn.neurons[:3] == ("h1_1.1", "h1_1.2", "h1_2.1")
    assert rnn.weight_labels[1] == ("wx1_2.1", "wh1_2.1", "wh1_2.2")
    assert rnn.bias_labels == ("bx1_1", "bx1_2", "bh1_1", "bh1_2")
    assert net.parameter_count == 2 + 4 + 4 + 8 + 1
    # h_1 by hand: relu(W_ih x_1 + b_ih + W_hh h0 + b_hh)
    fw = numeric.forward(net)
    h1 = np.maximum(
        np.array([0.6, 0.9]) * 1.0 + [0.1, 0.2] + np.array([[0.3, -0.2], [0.25, 0.4]]) @ [0.1, 0.3] + [0.05, -0.05], 0
    )
    assert np.allclose(fw.outs[0][:2], h1, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "change, place, message",
    [
        (lambda r: r.update(input_size=4), "layers[0].input_size", "input_size is the number of values per time step"),
        (lambda r: r.update(outputs="first"), "layers[0].outputs", 'outputs is "last" (many-to-one) or "all"'),
        (lambda r: r.update(nonlinearity="sigmoid"), "layers[0].nonlinearity", 'nonlinearity is "tanh" or "relu"'),
        (lambda r: r["weight_hh"].pop(), "layers[0].weight_hh", "expected 3 rows"),
        (lambda r: r.update(bias_ih=[0.0]), "layers[0].bias_ih", "1 values for 3 hidden units"),
    ],
)
def test_bad_specs_are_one_line_errors(change, place, message):
    case = json.loads(json.dumps(CASES["many_to_one_tanh"]))
    change(case["layers"][0])
    with pytest.raises(SpecError) as e:
        from_mapping(case)
    assert str(e.value).startswith(f"<spec>: {place}: {message}"), str(e.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_walk_through_time_agrees_with_the_numeric_engine(name):
    """explain_maps unrolls the layer step by step: every step's delta (back-propagation through time), every shared
    weight's gradient (a sum over the steps), both biases' and every input's gradient, as the numeric engine's."""
    from tutor.engine.sym_maps import explain_maps
    from tutor.spec.layers.rnn import bptt

    net = from_mapping(CASES[name])
    walk = explain_maps(net)
    st = numeric.step(net)
    rnn, rec = net.layers[0], walk.layers[0]
    assert walk.value(walk.loss) == pytest.approx(st.forward.loss, rel=REL)
    steps = bptt(rnn, rnn.weights, rnn.biases, net.inputs, st.backward.deltas[0])[3]
    close([walk.value(k) for k in rec.deltas], steps.reshape(-1), f"{name}: step deltas")
    close([[walk.value(rec.grads[lab]) for lab in row] for row in rnn.weight_labels], st.backward.grad_W[0], name)
    close([walk.value(rec.grads[lab]) for lab in rnn.bias_labels], st.backward.grad_b[0], name)
    ig = numeric.input_gradient(net, st.forward, st.backward)
    close([walk.value(k) for k in walk.input_gradients], ig, f"{name}: dE/dx")
    norms = [walk.value(k) for k in rec.step_norms]
    close(norms, np.linalg.norm(steps, axis=1), f"{name}: ||delta_t||")


def test_explain_writes_the_walk_through_time(tmp_path, capsys):
    from tutor.teach.randomnet import to_toml

    spec = tmp_path / "rnn.toml"
    case = {"title": "rnn", "description": "", "source": "", "conventions": {}, **CASES["many_to_one_tanh"]}
    spec.write_text(to_toml(case), encoding="utf-8")
    assert main(["explain", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "  Unrolled over 3 time steps" in out
    assert (
        "    z1_2.1 = wx1_1.1·x3 + wx1_1.2·x4 + wh1_1.1·h1_1.1 + wh1_1.2·h1_1.2 + wh1_1.3·h1_1.3 + bx1_1·1 + bh1_1·1"
        in out
    )
    assert "    h1_1.1 = tanh(z1_1.1) = tanh(0.24) = 0.2354957495\n" in out
    # dE/dh at step 2 comes from step 3 alone (many-to-one): through W_hh
    assert "    ∂E_total/∂h1_2.2 = ∂E_total/∂z1_3.1·∂z1_3.1/∂h1_2.2 + ∂E_total/∂z1_3.2·∂z1_3.2/∂h1_2.2 + " in out
    # a shared weight's gradient is the sum over the three steps
    assert (
        "    ∂E_total/∂wh1_1.1 = ∂E_total/∂z1_1.1·h1_0.1 + ∂E_total/∂z1_2.1·h1_1.1 + ∂E_total/∂z1_3.1·h1_2.1 = " in out
    )
    assert "ratio_delta1_1 = norm_delta1_1/norm_delta1_2 = 0.068998305/0.164495517 = 0.419454015" in out
    from tutor.spec import load
    from tutor.teach.quiz import Quiz

    # the quiz asks the walk through time: step 1's sum first, the shared weights' gradients later
    keys = [q.key for q in Quiz(load(str(spec))).questions]
    assert keys[0] == "z1_1.1" and keys.index("z1_3.1") < keys.index("dE_total/dwh1_1.1")


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_torch_reads_an_rnn_and_its_linear_head(name):
    """from_torch of nn.RNN followed by nn.Linear (and the recorded output's activation) is the case's network:
    the same parameters and h0, and torch's recorded gradients and step at 1e-12."""
    torch = require_module("torch")
    from tutor.interop.torch import from_torch

    case = CASES[name]
    r, d = case["layers"]
    rnn = torch.nn.RNN(r["input_size"], r["hidden_size"], nonlinearity=r.get("nonlinearity", "tanh")).double()
    W = torch.tensor(d["weights"], dtype=torch.float64)
    lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        for p, key in ((rnn.weight_ih_l0, "weight_ih"), (rnn.weight_hh_l0, "weight_hh")):
            p.copy_(torch.tensor(r[key], dtype=torch.float64))
        rnn.bias_ih_l0.copy_(torch.tensor(r["bias_ih"], dtype=torch.float64))
        rnn.bias_hh_l0.copy_(torch.tensor(r["bias_hh"], dtype=torch.float64))
        lin.weight.copy_(W)
        lin.bias.copy_(torch.tensor(d["biases"], dtype=torch.float64))
    head = [torch.nn.Sigmoid()] if d["activation"] == "sigmoid" else []
    model = torch.nn.Sequential(rnn, lin, *head)
    x = torch.tensor(case["inputs"]["values"], dtype=torch.float64).reshape(-1, r["input_size"])
    loss, lr = case["loss"]["name"], case["training"]["learning_rate"]
    net = from_torch(model, x, case["loss"]["targets"], loss=loss, learning_rate=lr, h0=r.get("h0"))
    spec = from_mapping(case)
    assert net.layers[0].outputs == r["outputs"] and net.layers[0].h0 == spec.layers[0].h0
    for ours, theirs in zip(net.layers, spec.layers):
        assert np.array_equal(ours.weights, theirs.weights) and np.array_equal(ours.biases, theirs.biases)
    compare(results_of(net), RECORDED["cases"][name], name)


def test_from_torch_refuses_what_the_rnn_kind_does_not_model():
    torch = require_module("torch")
    from tutor.interop.torch import from_torch
    from tutor.spec.errors import TutorError

    nn = torch.nn
    x = torch.zeros(3, 2, dtype=torch.float64)
    for model, message in (
        (nn.Sequential(nn.RNN(2, 3, num_layers=2), nn.Linear(3, 1)), "num_layers, bidirectional"),
        (nn.Sequential(nn.RNN(2, 3), nn.Linear(5, 1)), "reads 5 values; the RNN gives 3 (its last state) or 9"),
        (nn.Sequential(nn.RNN(2, 3), nn.Tanh()), "must be a Linear layer"),
        (nn.Sequential(nn.Linear(2, 1)), "h0 is the initial state of a model that starts with nn.RNN"),
    ):
        with pytest.raises(TutorError) as e:
            from_torch(model.double(), x if isinstance(model[0], nn.RNN) else [0.0, 0.0], [0.5], h0=[0.0, 0.0, 0.0])
        assert str(e.value).startswith("from_torch(): ") and message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_takes_torch_s_sgd_step(name):
    """``train`` (training.run) steps an RNN as torch's SGD does, both biases included: the straight-line float
    step has only dense layers' forms (one bias per neuron), so it leaves an RNN to the NumPy loop."""
    from tutor.engine import floatcode, training

    net = from_mapping(CASES[name])
    assert "rnn" in floatcode.why_not(net)
    run = training.run(net, 1)
    n, H = net.layers[0].input_size, net.layers[0].hidden_size
    after = RECORDED["cases"][name]["after"]
    close(run.W[0][:, :n], after["weight_ih"], f"{name}: weight_ih")
    close(run.W[0][:, n:], after["weight_hh"], f"{name}: weight_hh")
    close(run.b[0][:H], after["bias_ih"], f"{name}: bias_ih")
    close(run.b[0][H:], after["bias_hh"], f"{name}: bias_hh")
    close(run.W[1], after["linear_weight"], f"{name}: linear weight")


def test_train_runs_the_built_in_rnn(capsys):
    """train rnn-three-steps --show none (what its refusal of shown steps offers) runs, its update the walk's."""
    assert main(["train", "rnn-three-steps", "--epochs", "1", "--show", "none"]) == 0
    assert "wx1_1.1 = 0.898525416, wh1_1.1 = 0.495544143" in capsys.readouterr().out
