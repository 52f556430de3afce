"""Keras 3: a compiled keras.Sequential of Dense layers, explained and checked against Keras's own gradient under
the torch backend (KERAS_BACKEND=torch needs no TensorFlow). Skipped where Keras is missing; CI installs it."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import tutor

from .support import assert_error_starts, require_module

# Importing Keras takes seconds (longer than the default run allows a test): CI's slow run has these.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keras():
    if "keras" not in sys.modules:  # the backend is chosen once, when Keras is first imported
        os.environ["KERAS_BACKEND"] = "torch"
    module = require_module("keras", "keras")
    assert module.backend.backend() == "torch", "these tests run Keras on its torch backend"
    return module


def _model(keras, seed, sizes, activations):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((sizes[0],))]
    layers += [keras.layers.Dense(n, activation=a) for n, a in zip(sizes[1:], activations)]
    return keras.Sequential(layers)


def test_a_compiled_keras_model_is_explained_and_checked_against_its_gradient(keras):
    model = _model(keras, 1, (3, 4, 3), ("relu", "softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.3, -0.2], [-0.7, 0.1, 0.4]])
    e = tutor.explain(model, x, np.array([2, 0, 1]))
    net = e.network
    assert net.loss == "categorical_cross_entropy" and [l.activation for l in net.layers] == ["relu", "softmax"]
    assert net.training.optimizer == "momentum_classic" and net.training.optimizer_params["mu"] == 0.9
    assert net.learning_rate == 0.1 and len(net.examples) == 3
    # the first layer's weights are Keras's kernel, transposed (Keras keeps inputs x outputs)
    assert np.array_equal(net.layers[0].weights, model.layers[0].kernel.value.detach().double().numpy().T)
    fc = e.framework_check
    assert fc.ok and fc.max_rel <= 1e-5 and len(fc.gradients()) == net.parameter_count
    assert "Keras" in e.to_markdown() and "torch" in fc.framework


@pytest.mark.parametrize(
    "activation, loss, rule",
    [
        ("gelu", "mse", "identity"),
        ("silu", "mse", "identity"),
        ("tanh", "binary_crossentropy_logits", "sigmoid"),
    ],
)
def test_registry_activations_and_losses_from_logits(keras, activation, loss, rule):
    model = _model(keras, 2, (2, 3, 1), (activation, None))
    keras_loss = keras.losses.BinaryCrossentropy(from_logits=True, reduction="sum") if loss.endswith("logits") else loss
    model.compile(loss=keras_loss, optimizer=keras.optimizers.SGD(0.05, momentum=0.5, nesterov=True))
    e = tutor.explain(model, np.array([[0.2, -0.4], [0.9, 0.1]]), np.array([[1.0], [0.0]]))
    assert [l.activation for l in e.network.layers] == [activation, rule]
    assert e.network.training.optimizer == "nesterov"
    assert e.network.training.reduction == ("sum" if loss.endswith("logits") else "mean")
    assert e.framework_check.ok and e.framework_check.max_rel <= 1e-5


def test_what_keras_gives_that_the_tutor_does_not_read_is_refused(keras):
    model = _model(keras, 3, (2, 2, 1), ("relu", None))
    model.compile(loss="mse", optimizer="adam")
    assert_error_starts(
        lambda: tutor.explain(model, [0.1, 0.2], [0.5]),
        "explain(): optimizer: Keras's Adam is not read: its epsilon enters before the bias correction",
    )
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    assert_error_starts(
        lambda: tutor.explain(model, [0.1, 0.2], [1.0]),
        "explain(): loss: categorical cross-entropy on probabilities needs a softmax output",
    )
    flat = keras.Sequential([keras.Input((2,)), keras.layers.Flatten(), keras.layers.Dense(1)])
    flat.compile(loss="mse", optimizer="sgd")
    assert_error_starts(lambda: tutor.explain(flat, [0.1, 0.2], [0.5]), "explain(): layer 0 (Flatten) is not read")
