"""Every activation and loss name reaches LaTeX escaped: a handout for each one compiles."""

from __future__ import annotations

import pytest

from tutor import render
from tutor.engine.symbolic import explain_step
from tutor.spec import network

from .conftest import pdf_pages


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["leaky_relu", "binary_step", "softplus", "elu"])
def test_latex_compiles_for_names_with_underscores(tmp_path, activation):
    net = network(
        inputs={"values": [0.5, -0.3]},
        loss={"name": "binary_cross_entropy", "targets": [1.0]},
        training={"learning_rate": 0.1},
        layers=[
            {"size": 2, "activation": activation, "weights": [[0.1, 0.2], [-0.3, 0.4]], "bias": 0.1},
            {"size": 1, "activation": "sigmoid", "weights": [[0.2, -0.1]], "bias": 0.0},
        ],
    )
    walk = explain_step(net, forward_only=activation == "binary_step")
    tex = render.render_latex(walk)
    assert activation.replace("_", r"\_") in tex
    pdf_pages(tex, tmp_path, overfull=True)
