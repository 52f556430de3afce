"""The built-in examples over feature maps and time (worked_examples/conv-maxpool-softmax, conv1d-two-channels,
rnn-three-steps): each reproduces the numbers its published source prints, at their printed precision (the
values asserted here are the source's, typed from it), and check accepts its claims file; every surface reaches
them through the one walk (engine.walks.step_walk) and the one grader."""

from __future__ import annotations

import pytest

from tutor.cli import main
from tutor.engine import numeric
from tutor.engine.walks import step_walk
from tutor.spec import load
from tutor.spec.resources import data_dir, example_names

EXAMPLES = ("conv-maxpool-softmax", "conv1d-two-channels", "rnn-three-steps")

# Rico Jia, "Deep Learning - Convolution Example" (2022): input channel 1 with kernel [[1, 0], [0, 1]]
RICO_MAP = [[7, 15, 23], [9, 17, 25], [11, 19, 27]]
# Dive into Deep Learning, section 16.3: the 1-D cross-correlations with three input channels and with one
D2L_THREE = [2, 8, 14, 20, 26, 32]
D2L_ONE = [2, 5, 8, 11, 14, 17]
# Ayan Paul, Deep-Learning-Tutorial notebook 48: h_1, h_2, h_3 as its Python check prints them (6 decimals)
PAUL_STATES = ["0.753066", "0.809829", "0.708873"]


def test_the_examples_are_built_in():
    assert set(EXAMPLES) <= set(example_names("network"))


def test_conv_example_reproduces_the_published_map():
    walk = step_walk(load("conv-maxpool-softmax"))
    got = [[walk.value(f"net_c1_1.{i}.{j}") for j in (1, 2, 3)] for i in (1, 2, 3)]
    assert got == RICO_MAP
    # the pooling picks the bottom-right of each window: the map grows to the right and downwards
    assert [walk.value(f"net_p2_1.{i}.{j}") for i in (1, 2) for j in (1, 2)] == [17, 25, 19, 27]


def test_conv1d_example_reproduces_both_published_outputs():
    walk = step_walk(load("conv1d-two-channels"))
    assert [walk.value(f"net_c1_1.{j}") for j in range(1, 7)] == D2L_THREE
    assert [walk.value(f"net_c1_2.{j}") for j in range(1, 7)] == D2L_ONE


def test_rnn_example_reproduces_the_published_states():
    walk = step_walk(load("rnn-three-steps"))
    assert walk.value("z1_1.1") == pytest.approx(0.98, abs=1e-15)  # the hand solution's tanh(0.98)
    assert [f"{walk.value(f'h1_{t}.1'):.6f}" for t in (1, 2, 3)] == PAUL_STATES


@pytest.mark.parametrize("name", EXAMPLES)
def test_check_accepts_every_claim_of_the_example(name, capsys):
    claims = data_dir("worked_examples") / name / "claims.toml"
    assert main(["check", name, str(claims)]) == 0
    n = claims.read_text(encoding="utf-8").count("[[claim]]")
    assert f"{n} agree, 0 hold under another convention, 0 wrong." in capsys.readouterr().out


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_walk_agrees_with_the_numeric_engine(name):
    net = load(name)
    walk, st = step_walk(net), numeric.step(net)
    for li, layer in enumerate(net.layers):
        for o, row in enumerate(layer.weight_labels):
            for q, lab in enumerate(row):
                assert walk.value(f"dE_total/d{lab}") == pytest.approx(
                    st.backward.grad_W[li][o, q], rel=1e-12, abs=1e-15
                )
