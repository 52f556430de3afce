"""The published numbers of the worked examples, reproduced at printed precision under named conventions."""

from __future__ import annotations

import pytest

from tutor.engine import numeric
from tutor.engine.symbolic import explain_step
from tutor.spec import load

from .conftest import at_printed

# Mazur's 2-2-2 example as printed in the lecture notes (seed 000), in the order printed.
MAZUR_STEP = [
    ("net_h1", "0.3775"),
    ("out_h1", "0.593269992"),
    ("out_h2", "0.596884378"),
    ("net_o1", "1.105905967"),
    ("out_o1", "0.75136507"),
    ("out_o2", "0.772928465"),
    ("E_o1", "0.274811083"),
    ("E_o2", "0.023560026"),
    ("E_total", "0.298371109"),
    ("dE_total/dout_o1", "0.74136507"),
    ("dout_o1/dnet_o1", "0.186815602"),
    ("dnet_o1/dw5", "0.593269992"),
    ("dE_total/dw5", "0.082167041"),
    ("w5+", "0.35891648"),
    ("w6+", "0.408666186"),
    ("w7+", "0.511301270"),
    ("w8+", "0.561370121"),
    ("dE_o1/dnet_o1", "0.138498562"),
    ("dnet_o1/dout_h1", "0.40"),
    ("dE_o1/dout_h1", "0.055399425"),
    ("dE_o2/dout_h1", "-0.019049119"),
    ("dE_total/dout_h1", "0.036350306"),
    ("dout_h1/dnet_h1", "0.241300709"),
    ("dnet_h1/dw1", "0.05"),
    ("dE_total/dw1", "0.000438568"),
    ("w1+", "0.149780716"),
    ("w2+", "0.19956143"),
    ("w3+", "0.24975114"),
    ("w4+", "0.29950229"),
]
# The one per-step value that exact arithmetic does not give at its printed precision.
MAZUR_AS_PRINTED_ONLY = {"dE_o2/dout_h1"}


@pytest.fixture(scope="module")
def mazur():
    return load("mazur")


@pytest.mark.parametrize("key,printed", [kp for kp in MAZUR_STEP if kp[0] not in MAZUR_AS_PRINTED_ONLY])
def test_mazur_step_exact_standard(mazur, key, printed):
    """Convention: exact float64, standard order."""
    walk = explain_step(mazur)
    assert at_printed(walk.value(key), printed), (key, walk.value(key))


@pytest.mark.parametrize("key", sorted(MAZUR_AS_PRINTED_ONLY))
def test_mazur_step_as_printed_9(mazur, key):
    """Convention: every shown value rounded to 9 decimals and carried forward (a hand calculation)."""
    printed = dict(MAZUR_STEP)[key]
    walk = explain_step(mazur.with_conventions(rounding="as-printed", digits=9))
    assert at_printed(walk.value(key), printed), (key, walk.value(key))
    # the hand calculation: the rounded delta of o2 times the old w7, rounded again
    assert walk.quantities[key].args == ("dE_o2/dnet_o2", "dnet_o2/dout_h1")
    assert walk.value("dE_o2/dnet_o2") == -0.038098237


def test_mazur_as_printed_is_not_the_convention_of_the_other_values(mazur):
    """Carrying 9 decimals moves some other printed values by one unit: they were computed exactly."""
    walk = explain_step(mazur.with_conventions(rounding="as-printed", digits=9))
    moved = {k for k, p in MAZUR_STEP if not at_printed(walk.value(k), p)}
    assert moved == {"E_o1", "E_total", "w7+"}


def test_mazur_dE_o2_dout_h1_needs_as_printed(mazur):
    exact = explain_step(mazur).value("dE_o2/dout_h1")
    assert not at_printed(exact, "-0.019049119")
    assert at_printed(exact, "-0.0190491183")


def test_mazur_error_after_first_update_needs_updated_first(mazur):
    """Printed 0.291027924 holds with updated output weights in the hidden deltas; standard gives 0.291027774."""
    standard = explain_step(mazur)
    assert at_printed(standard.value("E_total+"), "0.291027774")
    assert not at_printed(standard.value("E_total+"), "0.291027924")
    first = explain_step(mazur.with_conventions(update_order="updated-first"))
    assert at_printed(first.value("E_total+"), "0.291027924")
    assert first.quantities["dnet_o1/dout_h1"].args == ("w5+",)


def test_mazur_outputs_after_10000_updates_updated_first(mazur):
    h = numeric.train(mazur.with_conventions(update_order="updated-first"), 10_000)
    assert at_printed(h.final.outs[-1][0], "0.015912196")
    assert at_printed(h.final.outs[-1][1], "0.984065734")


def test_mazur_error_after_10000_rounds_is_the_loss_seen_in_round_10000(mazur):
    """Printed 0.0000351085: standard order, the error measured during the 10,000th step (after 9,999 updates)."""
    h = numeric.train(mazur, 10_000)
    assert at_printed(h.loss_before[9_999], "0.0000351085")
    assert not at_printed(h.loss_after[9_999], "0.0000351085")


# Appendix A (seed 002): a perceptron. Printed values with their spec names.
APPENDIX_A = [
    ("s", "1.94"),
    ("Predicted", "0.874"),
    ("dE/dPredicted", "0.844"),
    ("dPredicted/ds", "0.11"),
    ("ds/dW1", "0.1"),
    ("ds/dW2", "0.3"),
    ("dE/dW1", "0.01"),
    ("dE/dW2", "0.03"),
    ("dE/dW2", "0.028"),
    ("W2new", "0.1997"),
]


@pytest.mark.parametrize("key,printed", APPENDIX_A)
def test_appendix_a_exact(key, printed):
    """Convention: exact float64 (every printed value holds at its printed precision)."""
    walk = explain_step(load("appendix-a"))
    assert at_printed(walk.value(key), printed), (key, walk.value(key))


def test_appendix_b_values_that_hold():
    """Appendix B's forward pass and the factors it prints correctly (its errors are the checker's job)."""
    walk = explain_step(load("appendix-b"))
    for key, printed in [
        ("h1_in", "0.48"),
        ("h2_in", "0.022"),
        ("h1_out", "0.618"),
        ("out_out", "0.865"),
        ("E", "0.349"),
        ("dE/dout_out", "0.835"),
        ("dout_in/dh1_out", "-0.2"),
        ("dh1_out/dh1_in", "0.236"),
        ("dout_in/dh2_out", "0.3"),
        ("dh2_out/dh2_in", "0.25"),
        ("dh1_in/dW1", "0.1"),
        ("dh1_in/dW2", "0.3"),
        ("dout_in/dW5", "0.618"),
    ]:
        assert at_printed(walk.value(key), printed), (key, walk.value(key))
