"""The matrix view, the path view and the gradient magnitudes: each equals the scalar chain rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from tutor.cli import main
from tutor.engine.symbolic import DropoutMasks, explain_step
from tutor.engine.views import gradient_magnitudes, matrix_view, path_totals, path_view
from tutor.spec import load, network

from .test_properties import networks


def test_matrix_view_is_the_scalar_walkthrough():
    walk = explain_step(load("mazur"))
    hidden, output = matrix_view(walk)
    assert hidden.W_next_T.tolist() == [[0.4, 0.5], [0.45, 0.55]]
    assert output.delta.tolist() == [walk.value("dE_o1/dnet_o1"), walk.value("dE_o2/dnet_o2")]
    assert hidden.grad_a.tolist() == [walk.value("dE_total/dout_h1"), walk.value("dE_total/dout_h2")]
    assert hidden.grad_W[0, 0] == walk.value("dE_total/dw1")
    assert np.allclose(hidden.grad_W, np.outer(hidden.delta, hidden.a_prev), rtol=1e-15)  # BP4
    assert np.allclose(hidden.grad_a, hidden.W_next_T @ hidden.delta_next, rtol=1e-15)  # BP2's first factor
    assert output.grad_b.tolist() == [walk.value("dE_total/db2")]  # BP3, summed: one shared bias


@settings(max_examples=60, deadline=None, derandomize=True)
@given(networks())
def test_the_sum_over_paths_is_the_gradient(net):
    walk = explain_step(net)
    for pp in path_view(walk):
        assert pp.total == pytest.approx(walk.value(pp.gradient), rel=1e-9, abs=1e-15), pp.param
        assert all(p.nodes[0] == pp.param and p.nodes[-1] == net.notation["loss"] for p in pp.paths)


def _same_paths(walk) -> None:
    """path_totals (what the documents read) counts and sums its paths as they are listed: the running products
    give each listed path's own product, summed in order, to the last bit; ``first(n)`` is the listing's start."""
    for quick in path_totals(walk):
        listed = quick.first(quick.count + 3)
        assert len(listed) == quick.count
        for p in listed:
            prod = 1.0
            for k in p.edges:
                prod *= walk.value(k)
            assert p.product == prod and p.nodes[0] == quick.param
        assert quick.total == float(sum(p.product for p in listed))
        for n in (0, 1, 2):
            assert quick.first(n) == listed[:n]


@settings(max_examples=30, deadline=None, derandomize=True)
@given(networks())
def test_path_totals_are_the_path_views_count_and_sum(net):
    _same_paths(explain_step(net))


def test_paths_through_dropout():
    net = network(
        inputs={"values": [0.5, -0.2]},
        loss={"name": "half_sse", "targets": [0.3]},
        training={"learning_rate": 0.5},
        layers=[
            {"size": 3, "activation": "tanh", "weights": [[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]], "bias": 0.1},
            {"size": 1, "activation": "sigmoid", "weights": [[0.7, -0.8, 0.9]], "bias": 0.0},
        ],
    )
    walk = explain_step(net, masks=DropoutMasks([np.array([1.0, 0.0, 1.0]), None], 2.0))
    _same_paths(walk)
    for pp in path_view(walk):
        assert pp.total == pytest.approx(walk.value(pp.gradient), rel=1e-12, abs=1e-15)
    assert walk.value("dE_total/dw1_21") == 0.0  # h2 was dropped


def test_vanishing_gradients_sigmoid_against_relu():
    sig = gradient_magnitudes(explain_step(load("vanishing-sigmoid")))
    relu = gradient_magnitudes(explain_step(load("vanishing-relu")))
    # with sigmoid every layer back shrinks the signal by at least sigma' <= 1/4 times the weight
    assert all(a.delta < b.delta for a, b in zip(sig, sig[1:]))
    assert sig[0].delta / sig[-1].delta < 1e-3
    assert relu[0].delta / relu[-1].delta > 0.1


def test_views_on_the_command_line(capsys):
    assert main(["explain", "mazur", "--no-check", "--view", "matrix", "--view", "paths"]) == 0
    out = capsys.readouterr().out
    assert "BP2: δ¹ = ((W²)ᵀ δ²) ⊙ σ′(z¹)" in out
    assert "sum over the paths = 0.000438568  (∂E_total/∂w1 = 0.000438568 by the chain rule)" in out
    assert main(["explain", "mazur", "--view", "paths", "--format", "json"]) == 2
