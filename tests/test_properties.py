"""Property tests: on random small networks the engines agree, and both agree with finite differences."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tutor.engine import numeric
from tutor.engine.gradcheck import central_differences, engines_agree
from tutor.engine.symbolic import explain_step
from tutor.spec import network

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus"]
KINKED = {"relu", "leaky_relu", "elu"}
# (loss, output activations that make sense with it, minimum number of outputs)
PAIRINGS = [
    ("half_sse", ["identity", "sigmoid", "tanh", "softplus", "elu", "leaky_relu"], 1),
    ("mse", ["identity", "sigmoid", "tanh", "relu"], 1),
    ("binary_cross_entropy", ["sigmoid"], 1),
    ("categorical_cross_entropy", ["softmax", "sigmoid"], 2),
    ("multiclass_hinge", ["identity", "tanh"], 2),
    ("hinge", ["identity", "sigmoid"], 2),
]

value = st.floats(-1.0, 1.0, allow_nan=False).map(lambda v: round(v, 2))


@st.composite
def networks(draw):
    loss, outs, min_out = draw(st.sampled_from(PAIRINGS))
    out_act = draw(st.sampled_from(outs))
    n_in = draw(st.integers(1, 4))
    hidden = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    n_out = 2 if loss == "hinge" else draw(st.integers(max(min_out, 2 if out_act == "softmax" else 1), 4))
    sizes = [n_in, *hidden, n_out]
    layers = []
    for li in range(len(sizes) - 1):
        act = out_act if li == len(sizes) - 2 else draw(st.sampled_from(HIDDEN))
        spec = {
            "size": sizes[li + 1],
            "activation": act,
            "weights": [[draw(value) for _ in range(sizes[li])] for _ in range(sizes[li + 1])],
        }
        if act == "leaky_relu":
            spec["activation"] = {"name": act, "slope": draw(st.sampled_from([0.01, 0.1, 0.3]))}
        if act == "elu":
            spec["activation"] = {"name": act, "alpha": draw(st.sampled_from([0.5, 1.0, 1.5]))}
        if draw(st.booleans()):
            spec["bias"] = draw(value)
        else:
            spec["biases"] = [draw(value) for _ in range(sizes[li + 1])]
        layers.append(spec)
    if loss in ("categorical_cross_entropy", "multiclass_hinge", "hinge"):
        hot = draw(st.integers(0, n_out - 1))
        targets = [1.0 if k == hot else 0.0 for k in range(n_out)]
    elif loss == "binary_cross_entropy":
        targets = [draw(st.floats(0, 1).map(lambda v: round(v, 2))) for _ in range(n_out)]
    else:
        targets = [draw(value) for _ in range(n_out)]
    return network(
        inputs={"values": [draw(value) for _ in range(n_in)]},
        layers=layers,
        loss={"name": loss, "targets": targets},
        training={"learning_rate": draw(st.sampled_from([0.01, 0.1, 0.5, 1.0])), "update_biases": draw(st.booleans())},
        conventions={"update_order": draw(st.sampled_from(["standard", "updated-first"]))},
    )


def away_from_kinks(net) -> bool:
    """Finite differences are meaningless at a kink (ReLU at 0, a hinge margin at 0): keep clear of them."""
    fw = numeric.forward(net)
    for layer, z in zip(net.layers, fw.nets):
        if layer.activation in KINKED and np.min(np.abs(z)) < 1e-3:
            return False
    if net.loss in ("hinge", "multiclass_hinge"):
        a = fw.outs[-1]
        y = int(np.argmax(net.targets))
        m = np.delete(a - a[y] + 1.0, y)
        if np.min(np.abs(m)) < 1e-3:
            return False
    return True


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_symbolic_numeric_and_finite_differences_agree(net):
    assume(away_from_kinks(net))
    walk = explain_step(net)
    assert engines_agree(walk, rtol=1e-9) == []
    exact = net.with_conventions(update_order="standard")
    theta, loss, grad = numeric.flat_loss(exact)
    fd = central_differences(loss, theta, 1e-6)
    ng = grad(theta)
    assert np.allclose(ng, fd, rtol=1e-5, atol=1e-8), np.max(np.abs(ng - fd))
    sym = explain_step(exact)
    from tutor.engine.gradcheck import _params_in_flat_order

    sg = np.array([sym.value(p.gradient) for p in _params_in_flat_order(sym)])
    assert np.allclose(sg, ng, rtol=1e-9, atol=1e-15)
    assert np.allclose(sg, fd, rtol=1e-5, atol=1e-8)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(networks(), st.integers(2, 6))
def test_as_printed_engines_agree(net, digits):
    walk = explain_step(net.with_conventions(rounding="as-printed", digits=digits))
    assert engines_agree(walk) == []
