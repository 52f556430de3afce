"""The straight-line training step (tutor.engine.floatcode) against the NumPy engine it stands in for."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tutor.engine import floatcode, training
from tutor.spec import load, network
from tutor.spec.errors import ComputeError

# The contract the README states: every parameter array, every output and the losses of a run agree with
# the NumPy engine's within this distance relative to the array's largest entry (for the losses: the run's
# largest loss, since a loss near zero is a difference of nearly equal numbers).
RELATIVE = 1e-12

LEAN_EXAMPLES = ["mazur", "appendix-a", "appendix-b", "vanishing-sigmoid", "vanishing-relu"]
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu", "silu", "hardtanh"]
LOSSES = ["half_sse", "mse", "binary_cross_entropy", "categorical_cross_entropy"]


def numpy_run(net, steps, keep=lambda n: False):
    """The same run through the general NumPy step, every step with its records."""
    saved = training._lean
    training._lean = lambda net: False
    try:
        return training.run(net, steps, keep=keep)
    finally:
        training._lean = saved


def close(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return a.shape == b.shape and float(np.max(np.abs(a - b))) <= RELATIVE * scale


def assert_same_run(fast, slow):
    assert len(fast.losses) == len(slow.losses) and len(fast.epoch_loss) == len(slow.epoch_loss)
    assert close(fast.losses, slow.losses) and close(fast.epoch_loss, slow.epoch_loss)
    assert all(close(a, b) for a, b in zip(fast.W, slow.W))
    assert all(close(a, b) for a, b in zip(fast.b, slow.b))
    assert all(close(f.outs[-1], s.outs[-1]) for f, s in zip(fast.final, slow.final))
    assert sorted(fast.steps) == sorted(slow.steps)
    for n, st in fast.steps.items():  # a kept step is the general step, from (nearly) the same parameters
        assert abs(st.loss - slow.steps[n].loss) <= RELATIVE * abs(slow.steps[n].loss)


def test_the_forms_are_what_sympy_prints_now():
    """_floatforms.py is generated from the registry's SymPy forms; regenerate it when a rule changes."""
    committed = (Path(floatcode.__file__).parent / "_floatforms.py").read_text(encoding="utf-8")
    assert committed == floatcode.generate_forms(), (
        "run: python -m tutor.engine.floatcode > tutor/engine/_floatforms.py"
    )


@pytest.mark.parametrize("name", LEAN_EXAMPLES)
@pytest.mark.parametrize("conv", [{}, {"update_order": "updated-first"}, {"update_biases": True}])
def test_built_in_examples(name, conv):
    net = load(name).with_conventions(**conv)
    assert floatcode.why_not(net) is None
    keep = lambda n: n in (1, 77, 300)  # noqa: E731
    assert_same_run(training.run(net, 300, keep=keep), numpy_run(net, 300, keep=keep))


def random_net(seed: int):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 5)) for _ in range(int(rng.integers(2, 5)))]
    loss = LOSSES[seed % len(LOSSES)]
    out_act = (
        "sigmoid" if loss in ("binary_cross_entropy", "categorical_cross_entropy") else str(rng.choice(ACTIVATIONS))
    )
    layers = []
    for li in range(len(sizes) - 1):
        act = out_act if li == len(sizes) - 2 else str(rng.choice(ACTIVATIONS))
        layer = {
            "size": sizes[li + 1],
            "activation": {"name": act, "slope": 0.07} if act == "leaky_relu" else act,
            "weights": rng.uniform(-1, 1, (sizes[li + 1], sizes[li])).round(3).tolist(),
        }
        if rng.random() < 0.5:  # one bias shared by the layer, or one per neuron
            layer["bias"] = round(float(rng.uniform(-0.5, 0.5)), 3)
        else:
            layer["biases"] = rng.uniform(-0.5, 0.5, sizes[li + 1]).round(3).tolist()
        layers.append(layer)
    examples = [
        {
            "inputs": rng.uniform(-1, 1, sizes[0]).round(2).tolist(),
            "targets": rng.uniform(0.05, 0.95, sizes[-1]).round(2).tolist(),
        }
        for _ in range(int(rng.integers(1, 4)))
    ]
    training_ = {"learning_rate": 0.2, "update_biases": bool(rng.random() < 0.5), "batch": 1}
    return network(inputs={}, layers=layers, examples=examples, loss={"name": loss}, training=training_)


@pytest.mark.parametrize("seed", range(40))
def test_random_networks(seed):
    net = random_net(seed)
    assert floatcode.why_not(net) is None
    conv = {"update_order": "updated-first"} if seed % 3 == 0 and len(net.examples) == 1 else {}
    net = net.with_conventions(**conv) if conv else net
    assert_same_run(training.run(net, 150, keep=lambda n: n == 2), numpy_run(net, 150, keep=lambda n: n == 2))


@pytest.mark.parametrize("name", ["mazur", "appendix-b", "vanishing-sigmoid"])
@pytest.mark.parametrize("conv", [{}, {"update_order": "updated-first"}, {"update_biases": True}])
def test_the_lean_array_loop_is_the_general_step(monkeypatch, name, conv):
    """Networks too large for the straight-line step take a lean NumPy loop; it agrees with the general step
    (every record kept) within the same bound."""
    net = load(name).with_conventions(**conv)
    monkeypatch.setattr(floatcode, "MAX_PARAMETERS", -1)
    fast = training.run(net, 300, keep=lambda n: n in (1, 150))
    monkeypatch.setattr(training, "_lean", lambda net: False)
    slow = training.run(net, 300, keep=lambda n: n in (1, 150))
    assert_same_run(fast, slow)


def test_where_it_does_not_apply_numpy_trains():
    assert "softmax" in floatcode.why_not(_softmax_net())
    big = network(
        inputs={"values": [0.1] * 20},
        layers=[{"size": 20, "activation": "tanh", "weights": [[0.01] * 20] * 20, "biases": [0.0] * 20}],
        loss={"name": "half_sse", "targets": [0.5] * 20},
        training={"learning_rate": 0.1},
    )
    assert "parameters" in floatcode.why_not(big)


def _softmax_net():
    return network(
        inputs={"values": [0.5, -0.5]},
        layers=[{"size": 2, "activation": "softmax", "weights": [[0.1, 0.2], [0.3, 0.4]], "bias": 0.0}],
        loss={"name": "categorical_cross_entropy", "targets": [1.0, 0.0]},
        training={"learning_rate": 0.1},
    )


def test_divergence_is_the_numpy_engines_error(monkeypatch):
    """Where floats overflow the straight-line run gives way, and the user sees the NumPy engine's error."""
    net = network(
        inputs={"values": [1.0]},
        layers=[{"size": 1, "activation": "identity", "weights": [[1.0]], "bias": 0.0}],
        loss={"name": "half_sse", "targets": [0.5]},
        training={"learning_rate": 50.0},
    )
    with pytest.raises(ComputeError) as fast:
        training.run(net, 2000)
    monkeypatch.setattr(floatcode, "MAX_PARAMETERS", -1)  # the lean NumPy loop, as before this program existed
    with pytest.raises(ComputeError) as slow:
        training.run(net, 2000)
    assert str(fast.value) == str(slow.value) and "diverged at step" in str(fast.value)


def test_the_generated_code_holds_generated_names_only():
    """No text of the spec reaches the generated program: names are generated, numbers are bound values."""
    net = load("mazur")
    tree = ast.parse(floatcode.build(net).source)
    allowed = {
        "P",
        "first",
        "count",
        "losses",
        "EX",
        "s",
        "E",
        "total",
        "ex",
        "range",
        "max",
        "lr",
        "exp",
        "log",
        "tanh",
        "erf",
        "sqrt",
        "pi",
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id in allowed or node.id.split("_")[0].rstrip("0123456789") in {
                "w",
                "b",
                "x",
                "t",
                "z",
                "a",
                "d",
                "nw",
                "nb",
                "p",
            }, node.id
        if isinstance(node, ast.Attribute):
            assert (node.value.id, node.attr) == ("losses", "append")
        assert not isinstance(node, (ast.Import, ast.ImportFrom))
        if isinstance(node, ast.Constant):
            assert type(node.value) in (int, float)
