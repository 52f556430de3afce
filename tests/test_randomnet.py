"""Random networks: reproducible from their seed, different across seeds, well conditioned, and valid specs."""

from __future__ import annotations

import numpy as np
import pytest

from tutor.engine import numeric
from tutor.engine.gradcheck import engines_agree, gradient_check
from tutor.engine.symbolic import explain_step
from tutor.spec import loads, network
from tutor.spec.errors import TutorError
from tutor.teach import randomnet
from tutor.teach.randomnet import Options

OPTIONS = [
    Options(),
    Options(shape=(2, 2, 2)),
    Options(shape=(3, 3, 2), activation="relu", output_activation="identity", loss="mse"),
    Options(shape=(2, 3, 3, 2), activation="tanh", digits=3),
    Options(shape=(2, 2, 3), output_activation="softmax", loss="categorical_cross_entropy"),
    Options(shape=(2, 2, 1), activation="leaky_relu", loss="binary_cross_entropy"),
    Options(shape=(4, 3, 2), activation="elu", output_activation="tanh", digits=3),
    Options(shape=(1, 2, 1), activation="softplus", output_activation="softplus", loss="mse"),
]


def given_values(net) -> list[float]:
    vals = list(net.inputs) + list(net.targets) + [net.learning_rate]
    for layer in net.layers:
        vals += list(layer.weights.ravel()) + list(layer.biases)
    return [float(v) for v in vals]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: o.describe())
def test_same_seed_same_network_and_different_seeds_differ(opts):
    nets = [randomnet.generate(seed, opts) for seed in range(12)]
    again = [randomnet.generate(seed, opts) for seed in range(12)]
    for a, b in zip(nets, again):
        assert given_values(a) == given_values(b)
        assert explain_step(a).values() == explain_step(b).values()
    assert len({tuple(given_values(n)) for n in nets}) == len(nets)
    assert all(n.shape == opts.shape for n in nets)


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: o.describe())
def test_given_values_have_one_or_two_decimals(opts):
    for seed in range(15):
        net = randomnet.generate(seed, opts)
        for v in given_values(net):
            assert v == round(v, 2)
            text = repr(v)
            assert len(text.split(".")[1]) <= 2 if "." in text else True, text
        assert net.conventions.rounding == "as-printed" and net.conventions.digits == opts.digits


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: o.describe())
def test_networks_are_well_conditioned(opts):
    unit = 10.0**-opts.digits
    for seed in range(10):
        net = randomnet.generate(seed, opts)
        st = numeric.step(net.with_conventions(rounding="exact"))
        for li, layer in enumerate(net.layers):
            z, a = st.forward.nets[li], st.forward.outs[li]
            if layer.activation in ("relu", "leaky_relu", "elu"):
                assert np.all(np.abs(z) >= 0.05), (seed, li, z)  # away from the kink
            if layer.activation == "relu":
                assert np.all(z > 0)  # no dead neuron
            if layer.activation in ("sigmoid", "softmax"):
                assert np.all((a >= 0.05) & (a <= 0.95)), (seed, li, a)  # not saturated
            assert np.all(np.abs(st.backward.grad_W[li]) >= 5 * unit)
        walk = explain_step(net)
        assert engines_agree(walk) == []
    assert gradient_check(net).ok


def test_spec_file_reads_back_as_the_same_network():
    for opts in OPTIONS:
        made = randomnet.make(3, opts)
        again = loads(randomnet.to_toml(made.spec), where="spec.toml")
        assert given_values(again) == given_values(made.network)
        assert explain_step(again).values() == explain_step(made.network).values()
        assert again.title == made.network.title and "--seed 3" in again.source


def test_well_conditioned_rejects_kinks_and_saturation():
    base = dict(
        inputs={"values": [0.5, -0.5]},
        loss={"name": "half_sse", "targets": [0.3]},
        training={"learning_rate": 0.5},
        conventions={"rounding": "as-printed", "digits": 4},
    )

    def net(hidden_act, w, b):
        return network(
            **base,
            layers=[
                {"size": 2, "activation": hidden_act, "weights": w, "biases": b},
                {"size": 1, "activation": "sigmoid", "weights": [[0.6, -0.4]], "bias": 0.1},
            ],
        )

    assert randomnet.well_conditioned(net("sigmoid", [[0.3, -0.2], [0.4, 0.7]], [0.1, 0.2]))
    assert not randomnet.well_conditioned(
        net("relu", [[0.3, 0.3], [0.4, 0.7]], [0.02, 0.2])
    )  # net_h1 = 0.02: at the kink
    assert not randomnet.well_conditioned(net("relu", [[0.3, 0.7], [0.4, 0.7]], [0.02, 0.2]))  # net_h1 < 0: dead
    assert not randomnet.well_conditioned(net("sigmoid", [[9.0, -9.0], [0.4, 0.7]], [0.1, 0.2]))  # out_h1 saturated


@pytest.mark.parametrize(
    "call,fragments",
    [
        (lambda: randomnet.parse_shape("2-x-1"), ["--shape", "like 2-2-1", "'2-x-1'"]),
        (lambda: randomnet.parse_shape("2"), ["--shape", "2 to 8"]),
        (lambda: randomnet.parse_shape("2-11-1"), ["--shape", "from 1 to 10"]),
        (lambda: randomnet.parse_shape("2-2-2-2-2-2-2-2-2"), ["--shape", "2 to 8"]),
        (lambda: randomnet.check_seed(-1), ["--seed", "0 to 4294967295"]),
        (lambda: randomnet.check_seed(2**32), ["--seed", "0 to 4294967295"]),
        (
            lambda: randomnet.options(activation="sigmod"),
            ["--activation", "did you mean 'sigmoid'", "allowed:", "tanh"],
        ),
        (lambda: randomnet.options(output_activation="relu"), ["--output-activation", "allowed:"]),
        (lambda: randomnet.options(loss="hinge"), ["--loss", "allowed:", "half_sse"]),
        (
            lambda: randomnet.options(loss="binary_cross_entropy", output_activation="identity"),
            ["--loss", "sigmoid or softmax"],
        ),
        (lambda: randomnet.options(shape="2-2-1", output_activation="softmax"), ["--output-activation", "two output"]),
        (lambda: randomnet.options(digits=1), ["--digits", "2 to 9"]),
    ],
)
def test_bad_options_name_the_option_and_what_is_allowed(call, fragments):
    with pytest.raises(TutorError) as exc:
        call()
    for f in fragments:
        assert f in str(exc.value)
