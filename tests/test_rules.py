"""The registry of rules: each SymPy form, its textbook derivative, and the NumPy functions agree."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from tutor.spec import rules

POINTS = [-2.3, -0.7, -0.05, 0.05, 0.4, 1.9]


@pytest.mark.parametrize("name", [n for n, a in rules.ACTIVATIONS.items() if not a.vector])
def test_activation_numpy_matches_sympy(name):
    rule = rules.ACTIVATIONS[name]
    p = rule.params({})
    x = sp.Symbol("x", real=True)
    f = sp.lambdify(x, rule.sym(x, p), "math")
    z = np.array(POINTS)
    assert np.allclose(rule.np_f(z, p), [f(v) for v in POINTS], rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", [n for n, a in rules.ACTIVATIONS.items() if a.differentiable and not a.vector])
def test_textbook_derivative_is_sympys_derivative(name):
    """The form a walk-through shows (e.g. out(1 - out)) equals what SymPy derives from f itself."""
    rule = rules.ACTIVATIONS[name]
    p = rule.params({})
    x = sp.Symbol("x", real=True)
    fx = rule.sym(x, p)
    derived = sp.diff(fx, x)
    textbook = rule.sym_deriv(x, fx, p)
    if not fx.has(sp.Piecewise, sp.Max):
        assert sp.simplify(derived - textbook) == 0
    for v in POINTS:  # piecewise forms: compare on both sides of the kink
        d = (
            float(derived.subs(x, v).rewrite(sp.Piecewise).evalf())
            if derived.has(sp.Heaviside)
            else float(derived.subs(x, v))
        )
        assert d == pytest.approx(float(textbook.subs(x, v)), rel=1e-12, abs=1e-15)
        a = rule.np_f(np.array([v]), p)
        assert rule.np_df(np.array([v]), a, p)[0] == pytest.approx(d, rel=1e-12, abs=1e-15)


def test_activation_parameters_reach_both_engines():
    leaky = rules.ACTIVATIONS["leaky_relu"]
    assert leaky.np_df(np.array([-1.0]), None, {"slope": 0.2})[0] == 0.2
    x = sp.Symbol("x", real=True)
    assert leaky.sym_deriv(x, None, {"slope": 0.2}).subs(x, -1) == sp.Float(0.2)
    elu = rules.ACTIVATIONS["elu"]
    assert elu.np_f(np.array([-1.0]), {"alpha": 2.0})[0] == pytest.approx(2 * (np.exp(-1) - 1))


@pytest.mark.parametrize("name", [n for n, a in rules.ACTIVATIONS.items() if a.vector])
def test_vector_activation_jacobian_matches_sympy(name):
    rule = rules.ACTIVATIONS[name]
    zs = sp.symbols("z0:3", real=True)
    outs = rule.sym_vector(list(zs), {})
    z = np.array([0.3, -1.2, 0.8])
    a = rule.np_f(z, {})
    sub = dict(zip(zs, z))
    assert np.allclose(a, [float(o.subs(sub)) for o in outs], rtol=1e-14)
    J = rule.np_jacobian(z, a, {})
    for k in range(3):
        for j in range(3):
            derived = float(sp.diff(outs[k], zs[j]).subs(sub))
            textbook = float(rule.sym_jacobian(k, j, list(a)))
            assert J[k, j] == pytest.approx(derived, rel=1e-12, abs=1e-15)
            assert textbook == pytest.approx(derived, rel=1e-12, abs=1e-15)
    g = np.array([0.25, -1.5, 0.5])  # the exact backward pass is g times the Jacobian, in the frameworks' form
    assert np.allclose(rule.np_backward(g, z, a, {}), g @ J, rtol=1e-14, atol=1e-16)


def test_log_softmax_with_nll_is_softmax_with_cross_entropy():
    """The same network read both ways (PyTorch's LogSoftmax + NLLLoss and CrossEntropyLoss) has the same loss and
    gradients; the outputs are the log-probabilities of the other's."""
    from tutor import explain_step
    from tutor.interop import from_numpy

    W = [[[0.3, -0.2], [0.1, 0.4]], [[0.5, -0.6], [0.2, 0.7], [-0.3, 0.1]]]
    b = [[0.1, -0.1], [0.05, 0.0, -0.2]]
    one = explain_step(from_numpy(W, b, x=[0.7, -1.1], y=2, activations=["tanh", "log_softmax"], loss="nll"))
    two = explain_step(
        from_numpy(W, b, x=[0.7, -1.1], y=2, activations=["tanh", "softmax"], loss="categorical_cross_entropy")
    )
    assert one.value("E_total") == pytest.approx(two.value("E_total"), rel=1e-15)
    for key in ("dE_total/dw1_11", "dE_total/dw2_31", "dE_total/db2_2", "w1_22+"):
        assert one.value(key) == pytest.approx(two.value(key), rel=1e-14)
    assert np.exp(one.value("out_o3")) == pytest.approx(two.value("out_o3"), rel=1e-15)


@pytest.mark.parametrize("name", list(rules.LOSSES))
def test_loss_value_and_gradient_match_sympy(name):
    rule = rules.LOSSES[name]
    p = rule.params({})
    n = 2 if name == "hinge" else 3
    a = np.array([0.2, 0.7, 0.4][:n])
    t = (
        np.array([0.0, 1.0, 0.0][:n])
        if rule.needs_one_hot or name == "categorical_cross_entropy"
        else np.array([0.1, 0.9, 0.3][:n])
    )
    os_, ts = sp.symbols(f"o0:{n}", real=True), sp.symbols(f"t0:{n}", real=True)
    terms = rules.loss_terms(rule, list(os_), list(ts), p, t)
    total = sp.Add(*[e for _, e in terms])
    sub = {**dict(zip(os_, a)), **dict(zip(ts, t))}
    assert rule.np_value(a, t, p) == pytest.approx(float(total.subs(sub)), rel=1e-13)
    g = rule.np_grad(a, t, p)
    for k in range(n):
        d = sp.diff(total, os_[k]).subs(sub)
        assert g[k] == pytest.approx(float(d.rewrite(sp.Piecewise)), rel=1e-12, abs=1e-15)


def test_hinge_is_the_seed_form_for_two_scores():
    """max(0, 1 + s_c - s): s the true class's score, s_c the other's."""
    rule = rules.LOSSES["hinge"]
    s, s_c = 0.3, 0.8
    a, t = np.array([s, s_c]), np.array([1.0, 0.0])
    assert rule.np_value(a, t, rule.params({})) == pytest.approx(max(0.0, 1 + s_c - s))
    assert list(rule.np_grad(a, t, rule.params({}))) == [-1.0, 1.0]


def test_unknown_names_suggest_close_matches():
    with pytest.raises(rules.SpecError, match="did you mean 'tanh'"):
        rules.activation("tahn", "x")


@pytest.mark.parametrize("name", [n for n, l in rules.LOSSES.items() if l.separable])
def test_vectorised_loss_terms_sum_to_the_loss(name):
    rule = rules.LOSSES[name]
    a, t = np.array([0.2, 0.7, 0.4]), np.array([0.1, 0.9, 0.3])
    terms = rule.np_terms(a, t, {})
    assert terms.shape == (3,)
    assert float(terms.sum()) == pytest.approx(rule.np_value(a, t, {}), rel=1e-14)
    for k in range(3):  # each term is the loss of its output alone (1/n of it for the averaged losses)
        alone = rule.np_value(a[k : k + 1], t[k : k + 1], {}) / (3 if name in ("mse", "binary_cross_entropy") else 1)
        assert terms[k] == pytest.approx(alone, rel=1e-15)
