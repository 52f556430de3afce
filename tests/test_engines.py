"""The symbolic and numeric engines agree on every quantity, in every convention."""

from __future__ import annotations

import numpy as np
import pytest

from tutor.engine import numeric
from tutor.engine.gradcheck import engines_agree, gradient_check, numeric_values
from tutor.engine.symbolic import explain_step
from tutor.spec import load, network

CONVENTIONS = [
    {},
    {"rounding": "as-printed", "digits": 9},
    {"rounding": "as-printed", "digits": 3},
    {"update_order": "updated-first"},
    {"update_order": "updated-first", "update_biases": True, "rounding": "as-printed", "digits": 6},
    {"update_biases": True},
    # a hand calculation's own precision by kind (issue 28, item 8): each kind rounded where both engines compute it
    {"rounding": "as-printed", "digits": 6, "digits_of": {"out": 4, "delta": 5}},
    {
        "rounding": "as-printed",
        "digits": 7,
        "update_biases": True,
        "digits_of": {"net": 5, "out": 4, "loss": 4, "factor": 6, "delta": 5, "gradient": 8, "update": 5},
    },
]


@pytest.mark.parametrize("name", ["mazur", "appendix-a", "appendix-b"])
@pytest.mark.parametrize("conv", CONVENTIONS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "exact")
def test_engines_agree_on_examples(name, conv):
    walk = explain_step(load(name).with_conventions(**conv))
    assert engines_agree(walk) == []
    # and the comparison covers the step: forward, loss, every delta, gradient and update, and the loss after
    compared = set(numeric_values(walk))
    kinds = {walk.quantities[k].kind for k in compared}
    assert {"net", "out", "loss", "factor", "delta", "gradient", "update"} <= kinds
    assert walk.loss_after in compared


@pytest.mark.parametrize("name", ["mazur", "appendix-a", "appendix-b"])
def test_gradient_check_on_examples(name):
    report = gradient_check(load(name))
    assert report.ok
    assert len(report.rows) == load(name).parameter_count


def test_engines_disagreeing_is_detected(monkeypatch):
    walk = explain_step(load("mazur"))
    walk.quantities["dE_total/dw5"].value += 1e-6
    assert [k for k, *_ in engines_agree(walk)] == ["dE_total/dw5"]


def test_rounding_is_carried_forward():
    walk = explain_step(load("mazur").with_conventions(rounding="as-printed", digits=3))
    assert walk.value("net_h1") == 0.378  # 0.3775 rounds half away from zero
    # out_h1 is computed from the rounded net_h1, not from 0.3775
    assert walk.value("out_h1") == round(1 / (1 + np.exp(-0.378)), 3)


def test_update_order_changes_only_the_hidden_layer():
    net = load("mazur")
    std = explain_step(net).values()
    first = explain_step(net.with_conventions(update_order="updated-first")).values()
    for k in ("dE_total/dw5", "w5+", "w8+"):
        assert std[k] == first[k]
    for k in ("dE_total/dw1", "w1+", "w4+"):
        assert std[k] != first[k]


def test_bias_updates_shared_and_per_neuron():
    net = load("mazur").with_conventions(update_biases=True)
    walk = explain_step(net)
    # shared bias: the gradient is the sum of the layer's deltas
    assert walk.value("dE_total/db2") == pytest.approx(walk.value("dE_o1/dnet_o1") + walk.value("dE_o2/dnet_o2"))
    assert walk.value("b2+") == pytest.approx(0.6 - 0.5 * walk.value("dE_total/db2"))
    walk_b = explain_step(load("appendix-b").with_conventions(update_biases=True))
    assert walk_b.value("b3new") == pytest.approx(1.83 - 0.01 * walk_b.value("dE/dout_in"))
    assert "b2+" not in explain_step(load("mazur")).quantities


def test_softmax_cross_entropy_shows_both_routes():
    net = network(
        inputs={"values": [0.5, -0.3]},
        layers=[
            {
                "size": 3,
                "activation": "tanh",
                "weights": [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]],
                "biases": [0.1, 0.0, -0.1],
            },
            {
                "size": 3,
                "activation": "softmax",
                "weights": [[0.2, -0.1, 0.3], [0.4, 0.1, -0.2], [-0.3, 0.2, 0.1]],
                "bias": 0.0,
            },
        ],
        loss={"name": "categorical_cross_entropy", "targets": [0, 1, 0]},
        training={"learning_rate": 0.1},
    )
    walk = explain_step(net)
    for j, o in enumerate(["o1", "o2", "o3"]):
        jac = walk.value(f"dE_total/dnet_{o}")
        simple = walk.value(f"dE_total/dnet_{o}[simplified]")
        assert jac == pytest.approx(simple, rel=1e-12, abs=1e-15)
        assert simple == pytest.approx(walk.value(f"out_{o}") - [0, 1, 0][j])
    assert engines_agree(walk) == []
    assert gradient_check(net).ok


def test_deep_network_is_linear_in_layers_not_expanded():
    """Any depth: six hidden layers; the hidden sums name every downstream neuron."""
    rng = np.random.default_rng(0)
    sizes = [2, 3, 3, 3, 3, 3, 3, 2]
    layers = [
        {
            "size": sizes[i + 1],
            "activation": "tanh" if i < 6 else "sigmoid",
            "weights": rng.uniform(-1, 1, (sizes[i + 1], sizes[i])).round(2).tolist(),
            "biases": rng.uniform(-1, 1, sizes[i + 1]).round(2).tolist(),
        }
        for i in range(7)
    ]
    net = network(
        inputs={"values": [0.3, 0.7]},
        layers=layers,
        loss={"name": "mse", "targets": [0.2, 0.8]},
        training={"learning_rate": 0.3},
    )
    walk = explain_step(net)
    assert engines_agree(walk) == []
    assert gradient_check(net).ok
    h = walk.quantities["dE_total/dout_h2_1"]
    assert h.args == ("dE_total/dout_h2_1[h3_1]", "dE_total/dout_h2_1[h3_2]", "dE_total/dout_h2_1[h3_3]")


def test_training_is_the_repeated_step():
    net = load("appendix-b")
    h = numeric.train(net, 3)
    st = numeric.step(net)
    assert h.loss_before[0] == st.loss_before
    assert h.loss_after[0] == st.loss_after
    assert h.loss_before[1] == h.loss_after[0]
    assert h.loss_after[2] < h.loss_after[0]


def test_same_input_same_output():
    a = explain_step(load("mazur")).values()
    b = explain_step(load("mazur")).values()
    assert list(a.items()) == list(b.items())
