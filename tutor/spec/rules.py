"""The one registry of rules: every activation and loss with its SymPy form, NumPy function and derivative.

Each rule keeps its forward form and its local derivative side by side, so that the symbolic engine
(which reads the SymPy forms) and the numeric engine (which reads the NumPy functions) cannot drift apart
without the cross-checks noticing. SymPy is imported lazily: the numeric engine never pays for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .errors import SpecError

Params = Mapping[str, float]


@dataclass(frozen=True)
class Activation:
    """An activation function.

    ``sym(net, p)`` is out = f(net) as a SymPy expression; ``sym_deriv(net, out, p)`` is the textbook form
    of dout/dnet, written in terms of out where the seeds do so (sigmoid: out(1 - out)). For a vector
    activation (softmax) ``sym_vector(nets, p)`` gives every output and ``sym_jacobian(k, j, outs)`` the
    entry dout_k/dnet_j. ``np_f(z, p)`` and ``np_df(z, a, p)`` are the NumPy forward and element-wise
    derivative; ``np_jacobian(z, a, p)`` is the full Jacobian for a vector activation. ``np_quiet`` is
    ``np_f`` without its own floating-point error state, for a loop that ignores overflow once around all
    its steps (the same floats; entering NumPy's error state costs as much as a small layer's arithmetic).
    """

    name: str
    summary: str
    defaults: Params = field(default_factory=dict)
    sym: Callable[..., Any] | None = None
    sym_deriv: Callable[..., Any] | None = None
    np_f: Callable[..., np.ndarray] | None = None
    np_df: Callable[..., np.ndarray] | None = None
    vector: bool = False
    sym_vector: Callable[..., list] | None = None
    sym_jacobian: Callable[..., Any] | None = None
    np_jacobian: Callable[..., np.ndarray] | None = None
    np_quiet: Callable[..., np.ndarray] | None = None
    # a vector activation's backward pass in exact arithmetic, dE/dnet from g = dE/dout, in the stable form the
    # frameworks use (softmax: (g - g.a) a); as printed, the engines multiply by the Jacobian the walk-through shows
    np_backward: Callable[..., np.ndarray] | None = None
    differentiable: bool = True
    output_only: bool = False
    # The outputs it can produce: an open interval, or closed at the finite ends with ``output_closed``; the
    # quiz refuses carried-forward credit from an output outside it (a sigmoid output of 1).
    output_range: tuple[float, float] | None = None
    output_closed: bool = False
    output_meaning: str = ""  # e.g. "a probability", for the message
    torch_name: str = ""  # the torch.nn module that computes it (what tutor.interop reads), "" for none

    def params(self, given: Params | None = None) -> dict[str, float]:
        out = dict(self.defaults)
        out.update(given or {})
        return out


@dataclass(frozen=True)
class Loss:
    """A loss over the output activations ``a`` and the targets ``t``.

    ``sym_terms(outs, targets, p)`` returns the loss as a list of (term name suffix, SymPy expression);
    the loss is their sum. ``separable`` says each term depends on one output only, which is what lets a
    walk-through speak of E_o1 and dE_o1/dnet_o1 as Mazur does. ``np_value`` and ``np_grad`` (dE/da) are
    the NumPy forms.
    """

    name: str
    summary: str
    defaults: Params = field(default_factory=dict)
    sym_terms: Callable[..., list] | None = None
    np_value: Callable[..., float] | None = None
    np_grad: Callable[..., np.ndarray] | None = None
    np_terms: Callable[..., np.ndarray] | None = None  # separable losses: the term of each output, vectorised
    separable: bool = True
    needs_one_hot: bool = False
    target_range: tuple[float, float] | None = None
    output_range: tuple[float, float] | None = None
    title: str = ""  # what a student reads: "half the sum of squared errors"
    formula: str = ""  # its formula in Unicode, for text, Markdown and HTML
    tex: str = ""  # the same formula as LaTeX math
    # 0·ln 0 = 0: a term whose target (or 1 - target) is 0 contributes 0 to the loss and to its gradient,
    # even where its output is 0 (a probability that underflowed or was rounded to 0)
    zero_log_terms: bool = False
    needs_output: str = ""  # the output activation the loss is defined on ("log_softmax" for nll), "" for any

    @property
    def description(self) -> str:
        """What a student reads: its name and formula ("half the sum of squared errors, E = ½ Σₖ (tₖ − oₖ)²")."""
        return f"{self.title}, {self.formula}" if self.title and self.formula else self.summary

    def params(self, given: Params | None = None) -> dict[str, float]:
        out = dict(self.defaults)
        out.update(given or {})
        return out


def _sp():
    import sympy

    return sympy


def _const(value):
    """A rule parameter in a SymPy form: a Float of the given number, or the symbol that stands for it
    (tutor.engine.floatcode prints each rule once with its parameters as symbols)."""
    sp = _sp()
    return value if isinstance(value, sp.Basic) else sp.Float(value)


# ----------------------------------------------------------------------------------------------------
# Activations. NumPy forms are written as the textbook formula (not a "stable" rewrite) so that both
# engines round the same way; the networks this tutor explains are small and never near overflow, and
# overflow is silenced rather than turned into warnings on a student's terminal.


def _sigmoid_quiet(z, p):
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_np(z, p):
    with np.errstate(over="ignore"):
        return _sigmoid_quiet(z, p)


def _softplus_np(z, p):
    y = np.logaddexp(0.0, z)  # ln(1 + e^z) without overflow for large z
    t = p.get("threshold", 0.0)
    return np.where(z > t, z, y) if t > 0 else y


def _softplus_df_np(z, a, p):
    s = _sigmoid_np(z, p)
    t = p.get("threshold", 0.0)
    return np.where(z > t, 1.0, s) if t > 0 else s


def _threshold(p) -> float:
    """Softplus's threshold as a number; a symbol (the float forms are generated with symbolic parameters) is
    the exact form, which is what those forms implement (floatcode leaves a thresholded softplus to NumPy)."""
    t = p.get("threshold", 0.0)
    return float(t) if isinstance(t, (int, float)) else 0.0


def _softplus_sym(x, p):
    sp = _sp()
    f = sp.log(1 + sp.exp(x))
    t = _threshold(p)
    return sp.Piecewise((x, x > sp.Float(t)), (f, True)) if t > 0 else f


def _softplus_sym_deriv(x, y, p):
    sp = _sp()
    d = 1 / (1 + sp.exp(-x))
    t = _threshold(p)
    return sp.Piecewise((1, x > sp.Float(t)), (d, True)) if t > 0 else d


def _softmax_np(z, p):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def _softmax_jac_np(z, a, p):
    return np.diag(a) - np.outer(a, a)


def _softmax_sym_vector(nets, p):
    sp = _sp()
    den = sp.Add(*[sp.exp(n) for n in nets])
    return [sp.exp(n) / den for n in nets]


def _log_softmax_np(z, p):
    m = np.max(z)
    return z - m - np.log(np.sum(np.exp(z - m)))


def _log_softmax_jac_np(z, a, p):
    # dout_k/dnet_j = delta_kj - softmax_j, and softmax_j = e^(out_j)
    return np.eye(a.size) - np.exp(a)[None, :]


def _log_softmax_sym_vector(nets, p):
    sp = _sp()
    lse = sp.log(sp.Add(*[sp.exp(n) for n in nets]))
    return [n - lse for n in nets]


def _log_softmax_sym_jacobian(k, j, outs):
    # dout_k/dnet_j = delta_kj - e^(out_j): the softmax probability of j, written through the output
    sp = _sp()
    return (1 if k == j else 0) - sp.exp(outs[j])


def _softmax_sym_jacobian(k, j, outs):
    # dout_k/dnet_j = out_k (delta_kj - out_j)
    if k == j:
        return outs[k] * (1 - outs[k])
    return -outs[k] * outs[j]


def _erf_np(z):
    return np.frompyfunc(math.erf, 1, 1)(z).astype(float)


def _gelu_sym(x, p):
    # the exact form, torch's default (approximate="none"): x Phi(x), Phi the standard normal CDF
    sp = _sp()
    return x * (1 + sp.erf(x / sp.sqrt(2))) / 2


def _gelu_sym_deriv(x, y, p):
    sp = _sp()
    return (1 + sp.erf(x / sp.sqrt(2))) / 2 + x * sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)


def _gelu_np(z, p):
    return 0.5 * z * (1.0 + _erf_np(z / math.sqrt(2.0)))


def _gelu_df_np(z, a, p):
    with np.errstate(under="ignore"):
        return 0.5 * (1.0 + _erf_np(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _silu_sym_deriv(x, y, p):
    # s (1 + x (1 - s)) with s = sigmoid(x): the product rule on x s
    s = 1 / (1 + _sp().exp(-x))
    return s * (1 + x * (1 - s))


def _silu_np(z, p):
    return z * _sigmoid_np(z, p)


def _silu_df_np(z, a, p):
    s = _sigmoid_np(z, p)
    return s * (1.0 + z * (1.0 - s))


def _hardtanh_sym(x, p):
    sp = _sp()
    lo, hi = _const(p.get("min_val", -1.0)), _const(p.get("max_val", 1.0))
    return sp.Piecewise((lo, x <= lo), (hi, x >= hi), (x, True))


def _hardtanh_sym_deriv(x, y, p):
    # torch passes the gradient strictly inside (min_val, max_val) and 0 at and beyond the ends
    sp = _sp()
    lo, hi = _const(p.get("min_val", -1.0)), _const(p.get("max_val", 1.0))
    return sp.Piecewise((0, x <= lo), (0, x >= hi), (1, True))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation(
            "identity",
            "f(x) = x, f'(x) = 1",
            sym=lambda x, p: x,
            sym_deriv=lambda x, y, p: _sp().Integer(1),
            np_f=lambda z, p: z.copy(),
            np_df=lambda z, a, p: np.ones_like(z),
            torch_name="Identity",
        ),
        Activation(
            "sigmoid",
            "f(x) = 1/(1 + e^-x), f'(x) = f(x)(1 - f(x))",
            sym=lambda x, p: 1 / (1 + _sp().exp(-x)),
            sym_deriv=lambda x, y, p: y * (1 - y),
            np_f=_sigmoid_np,
            np_df=lambda z, a, p: a * (1 - a),
            np_quiet=_sigmoid_quiet,
            output_range=(0.0, 1.0),
            torch_name="Sigmoid",
        ),
        Activation(
            "tanh",
            "f(x) = tanh x, f'(x) = 1 - f(x)^2",
            sym=lambda x, p: _sp().tanh(x),
            sym_deriv=lambda x, y, p: 1 - y**2,
            np_f=lambda z, p: np.tanh(z),
            np_df=lambda z, a, p: 1 - a * a,
            output_range=(-1.0, 1.0),
            torch_name="Tanh",
        ),
        Activation(
            "relu",
            "f(x) = max(0, x), f'(x) = 1 for x > 0 else 0",
            sym=lambda x, p: _sp().Max(0, x),
            sym_deriv=lambda x, y, p: _sp().Piecewise((1, x > 0), (0, True)),
            np_f=lambda z, p: np.maximum(z, 0.0),
            np_df=lambda z, a, p: (z > 0).astype(float),
            output_range=(0.0, math.inf),
            output_closed=True,
            torch_name="ReLU",
        ),
        Activation(
            "leaky_relu",
            "f(x) = x for x >= 0 else slope*x (slope 0.01), f'(x) = 1 for x >= 0 else slope",
            defaults={"slope": 0.01},
            sym=lambda x, p: _sp().Piecewise((x, x >= 0), (_const(p["slope"]) * x, True)),
            sym_deriv=lambda x, y, p: _sp().Piecewise((1, x >= 0), (_const(p["slope"]), True)),
            np_f=lambda z, p: np.where(z >= 0, z, p["slope"] * z),
            np_df=lambda z, a, p: np.where(z >= 0, 1.0, p["slope"]),
            torch_name="LeakyReLU",
        ),
        Activation(
            "elu",
            "f(x) = x for x > 0 else alpha(e^x - 1) (alpha 1), f'(x) = 1 for x > 0 else alpha e^x",
            defaults={"alpha": 1.0},
            sym=lambda x, p: _sp().Piecewise((x, x > 0), (_const(p["alpha"]) * (_sp().exp(x) - 1), True)),
            sym_deriv=lambda x, y, p: _sp().Piecewise((1, x > 0), (_const(p["alpha"]) * _sp().exp(x), True)),
            np_f=lambda z, p: np.where(z > 0, z, p["alpha"] * np.expm1(np.minimum(z, 0.0))),
            np_df=lambda z, a, p: np.where(z > 0, 1.0, p["alpha"] * np.exp(np.minimum(z, 0.0))),
            torch_name="ELU",
        ),
        Activation(
            "softplus",
            "f(x) = ln(1 + e^x), f'(x) = 1/(1 + e^-x); with threshold T > 0 (as torch's Softplus, T = 20), "
            "f(x) = x and f'(x) = 1 for x > T",
            defaults={"threshold": 0.0},
            sym=_softplus_sym,
            sym_deriv=_softplus_sym_deriv,
            np_f=_softplus_np,
            np_df=_softplus_df_np,
            output_range=(0.0, math.inf),
            torch_name="Softplus",
        ),
        Activation(
            "softmax",
            "f(x)_k = e^x_k / sum_j e^x_j (output layer only), df_k/dx_j = f_k (delta_kj - f_j)",
            vector=True,
            output_only=True,
            sym_vector=_softmax_sym_vector,
            sym_jacobian=_softmax_sym_jacobian,
            np_f=_softmax_np,
            np_jacobian=_softmax_jac_np,
            np_backward=lambda g, z, a, p: (g - g @ a) * a,
            output_range=(0.0, 1.0),
            output_meaning="a probability",
            torch_name="Softmax",
        ),
        Activation(
            "log_softmax",
            "f(x)_k = x_k - ln sum_j e^x_j, the log-probabilities (output layer only, with loss nll), "
            "df_k/dx_j = delta_kj - e^f_j",
            vector=True,
            output_only=True,
            sym_vector=_log_softmax_sym_vector,
            sym_jacobian=_log_softmax_sym_jacobian,
            np_f=_log_softmax_np,
            np_jacobian=_log_softmax_jac_np,
            np_backward=lambda g, z, a, p: g - np.exp(a) * g.sum(),
            output_range=(-math.inf, 0.0),
            output_closed=True,
            output_meaning="a log-probability",
            torch_name="LogSoftmax",
        ),
        Activation(
            "binary_step",
            "f(x) = 1 for x >= 0 else 0 (forward pass only: no usable derivative)",
            sym=lambda x, p: _sp().Piecewise((1, x >= 0), (0, True)),
            np_f=lambda z, p: (z >= 0).astype(float),
            differentiable=False,
        ),
        Activation(
            "gelu",
            "f(x) = x Phi(x) = x/2 (1 + erf(x/sqrt 2)) (the exact form, torch's default), "
            "f'(x) = Phi(x) + x e^(-x^2/2)/sqrt(2 pi)",
            sym=_gelu_sym,
            sym_deriv=_gelu_sym_deriv,
            np_f=_gelu_np,
            np_df=_gelu_df_np,
            torch_name="GELU",
        ),
        Activation(
            "silu",
            "f(x) = x sigmoid(x) (SiLU, also called Swish), f'(x) = s (1 + x (1 - s)) with s = sigmoid(x)",
            sym=lambda x, p: x / (1 + _sp().exp(-x)),
            sym_deriv=_silu_sym_deriv,
            np_f=_silu_np,
            np_df=_silu_df_np,
            torch_name="SiLU",
        ),
        Activation(
            "hardtanh",
            "f(x) = min(max(x, min_val), max_val) (min_val -1, max_val 1), f'(x) = 1 for min_val < x < max_val else 0",
            defaults={"min_val": -1.0, "max_val": 1.0},
            sym=_hardtanh_sym,
            sym_deriv=_hardtanh_sym_deriv,
            np_f=lambda z, p: np.minimum(np.maximum(z, p["min_val"]), p["max_val"]),
            np_df=lambda z, a, p: ((z > p["min_val"]) & (z < p["max_val"])).astype(float),
            torch_name="Hardtanh",
        ),
    ]
}


# ----------------------------------------------------------------------------------------------------
# Losses.


def _half_sse_terms(o, t, p):
    return [(None, _sp().Rational(1, 2) * (tk - ok) ** 2) for ok, tk in zip(o, t)]


def _mse_terms(o, t, p):
    n = len(o)
    return [(None, _sp().Rational(1, n) * (tk - ok) ** 2) for ok, tk in zip(o, t)]


def _bce_terms(o, t, p):
    sp = _sp()
    n = len(o)
    return [(None, -sp.Rational(1, n) * (tk * sp.log(ok) + (1 - tk) * sp.log(1 - ok))) for ok, tk in zip(o, t)]


def _cce_terms(o, t, p):
    sp = _sp()
    return [(None, -tk * sp.log(ok)) for ok, tk in zip(o, t)]


def _xlogy(x, y):
    """x·ln y with 0·ln 0 = 0 (the limit), elementwise."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def _xdivy(x, y):
    """x / y with 0 / 0 = 0 (the gradient of a 0·ln term), elementwise."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, y))


def _true_class(t) -> int:
    return int(np.argmax(np.asarray(t, dtype=float)))


def _multiclass_hinge_terms(o, t, p, true_index):
    sp = _sp()
    y = true_index
    margin = sp.Float(p["margin"]) if p["margin"] != 1 else sp.Integer(1)
    return [(j, sp.Max(0, o[j] - o[y] + margin)) for j in range(len(o)) if j != y]


def _hinge_np_value(a, t, p):
    y = _true_class(t)
    m = np.maximum(0.0, a - a[y] + p["margin"])
    m[y] = 0.0
    return float(m.sum())


def _hinge_np_grad(a, t, p):
    y = _true_class(t)
    active = (a - a[y] + p["margin"]) > 0
    active[y] = False
    g = active.astype(float)
    g[y] = -g.sum()
    return g


LOSSES: dict[str, Loss] = {
    l.name: l
    for l in [
        Loss(
            "half_sse",
            "E = sum_k 1/2 (t_k - o_k)^2 (Mazur's E_total)",
            title="half the sum of squared errors",
            sym_terms=_half_sse_terms,
            np_value=lambda a, t, p: float(0.5 * np.sum((t - a) ** 2)),
            np_grad=lambda a, t, p: a - t,  # the same floats as -(t - a): rounding is symmetric
            np_terms=lambda a, t, p: 0.5 * (t - a) ** 2,
            formula="E = ½ Σₖ (tₖ − oₖ)²",
            tex=r"E = \tfrac{1}{2} \sum_k (t_k - o_k)^2",
        ),
        Loss(
            "mse",
            "E = 1/n sum_k (t_k - o_k)^2",
            title="mean squared error",
            sym_terms=_mse_terms,
            np_value=lambda a, t, p: float(np.mean((t - a) ** 2)),
            np_grad=lambda a, t, p: -2.0 * (t - a) / a.size,
            np_terms=lambda a, t, p: (t - a) ** 2 / a.size,
            formula="E = (1/n) Σₖ (tₖ − oₖ)²",
            tex=r"E = \tfrac{1}{n} \sum_k (t_k - o_k)^2",
        ),
        Loss(
            "binary_cross_entropy",
            "E = -1/n sum_k [t_k ln o_k + (1 - t_k) ln(1 - o_k)] (outputs in (0, 1))",
            title="binary cross-entropy",
            sym_terms=_bce_terms,
            np_value=lambda a, t, p: float(-np.mean(_xlogy(t, a) + _xlogy(1 - t, 1 - a))),
            np_grad=lambda a, t, p: (-_xdivy(t, a) + _xdivy(1 - t, 1 - a)) / a.size,
            np_terms=lambda a, t, p: -(_xlogy(t, a) + _xlogy(1 - t, 1 - a)) / a.size,
            target_range=(0.0, 1.0),
            output_range=(0.0, 1.0),
            formula="E = −(1/n) Σₖ [tₖ ln oₖ + (1 − tₖ) ln(1 − oₖ)]",
            tex=r"E = -\tfrac{1}{n} \sum_k \bigl[t_k \ln o_k + (1 - t_k) \ln(1 - o_k)\bigr]",
            zero_log_terms=True,
        ),
        Loss(
            "categorical_cross_entropy",
            "E = -sum_k t_k ln o_k (outputs positive, e.g. softmax)",
            title="categorical cross-entropy",
            sym_terms=_cce_terms,
            np_value=lambda a, t, p: float(-np.sum(_xlogy(t, a))),
            np_grad=lambda a, t, p: -_xdivy(t, a),
            np_terms=lambda a, t, p: -_xlogy(t, a),
            target_range=(0.0, 1.0),
            output_range=(0.0, float("inf")),
            formula="E = −Σₖ tₖ ln oₖ",
            tex=r"E = -\sum_k t_k \ln o_k",
            zero_log_terms=True,
        ),
        Loss(
            "nll",
            "E = -sum_k t_k o_k (the negative log-likelihood of log-probabilities o: after log_softmax)",
            title="negative log-likelihood",
            sym_terms=lambda o, t, p: [(None, -tk * ok) for ok, tk in zip(o, t)],
            np_value=lambda a, t, p: float(-np.sum(t * a)),
            np_grad=lambda a, t, p: -np.asarray(t, dtype=float),
            np_terms=lambda a, t, p: -(t * a),
            target_range=(0.0, 1.0),
            formula="E = −Σₖ tₖ oₖ",
            tex=r"E = -\sum_k t_k o_k",
            needs_output="log_softmax",
        ),
        Loss(
            "multiclass_hinge",
            "E = sum_{j != y} max(0, o_j - o_y + margin) (margin 1; targets one-hot, y the true class)",
            title="multiclass hinge loss",
            defaults={"margin": 1.0},
            sym_terms=None,  # needs the true class: see hinge_terms()
            np_value=_hinge_np_value,
            np_grad=_hinge_np_grad,
            separable=False,
            needs_one_hot=True,
            formula="E = Σ_{j≠y} max(0, oⱼ − o_y + 1)",
            tex=r"E = \sum_{j \ne y} \max(0, o_j - o_y + 1)",
        ),
        Loss(
            "hinge",
            "E = max(0, 1 + s_c - s) for two scores: s of the true class, s_c of the other (targets one-hot)",
            title="hinge loss",
            defaults={"margin": 1.0},
            sym_terms=None,
            np_value=_hinge_np_value,
            np_grad=_hinge_np_grad,
            separable=False,
            needs_one_hot=True,
            formula="E = max(0, 1 + s_c − s)",
            tex=r"E = \max(0, 1 + s_c - s)",
        ),
    ]
}


def loss_terms(loss: Loss, outs, targets, params: Params, target_values) -> list:
    """The loss as (term suffix, SymPy expression) pairs; hinge losses need the numeric one-hot targets."""
    if loss.name in ("multiclass_hinge", "hinge"):
        return _multiclass_hinge_terms(outs, targets, params, _true_class(target_values))
    return loss.sym_terms(outs, targets, params)


def _unknown(kind: str, name: str, known) -> str:
    import difflib  # only for a misspelt name: not imported on every run

    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; allowed: {', '.join(known)}"


def activation(name: str, where: str = "") -> Activation:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise SpecError(_unknown("activation", str(name), ACTIVATIONS), where) from None


def loss(name: str, where: str = "") -> Loss:
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise SpecError(_unknown("loss", str(name), LOSSES), where) from None


# ----------------------------------------------------------------------------------------------------
# Optimizers. Each gives its update as an ordered program of assignments (SymPy, for the walk-through)
# and as a NumPy step, side by side; defaults follow the seeds where they give one, else torch.optim.


@dataclass(frozen=True)
class Optimizer:
    """An update rule with per-parameter state (zero at the start).

    ``program(S, p)`` returns the walk-through's lines as (name, SymPy expression) in order; ``S(name)``
    gives the symbol of ``w``, ``g``, ``lr``, ``t``, a hyperparameter, a state's previous value
    (``v_prev``) or an earlier line. The line before the last is ``step``, the update step itself
    (alpha g; alpha m^ / (sqrt(v^) + eps)), named so that it can be shown and checked; the last line is
    ``w+``, written from the same inputs (so that no rounding of the step enters the update). ``np_step(w, g, state, t, lr, p, R)`` does
    the same with arrays, applying ``R`` to every line as it is computed (the as-printed rounding), and
    returns (new w, new state, every line's value by name).
    """

    name: str
    summary: str
    defaults: Params
    state: tuple[str, ...]
    program: Callable[..., list]
    np_step: Callable[..., tuple]
    title: str = ""  # what a student reads: "Adam", "classic momentum"

    def params(self, given: Params | None = None) -> dict[str, float]:
        out = dict(self.defaults)
        out.update(given or {})
        return out


def _same(x):
    return x


def _sgd_prog(S, p):
    return [("step", S("lr") * S("g")), ("w+", S("w") - S("lr") * S("g"))]


def _sgd_np(w, g, st, t, lr, p, R=_same):
    new = R(w - lr * g)
    return new, {}, {"step": R(lr * g), "w+": new}


def _momentum_prog(S, p):
    v = S("beta") * S("v_prev") + (1 - S("beta")) * S("g")
    return [("v", v), ("step", S("lr") * S("v")), ("w+", S("w") - S("lr") * S("v"))]


def _momentum_np(w, g, st, t, lr, p, R=_same):
    v = R(p["beta"] * st["v"] + (1 - p["beta"]) * g)
    new = R(w - lr * v)
    return new, {"v": v}, {"v": v, "step": R(lr * v), "w+": new}


def _classic_prog(S, p):
    return [("v", S("mu") * S("v_prev") + S("g")), ("step", S("lr") * S("v")), ("w+", S("w") - S("lr") * S("v"))]


def _classic_np(w, g, st, t, lr, p, R=_same):
    v = R(p["mu"] * st["v"] + g)
    new = R(w - lr * v)
    return new, {"v": v}, {"v": v, "step": R(lr * v), "w+": new}


def _velocity_prog(S, p):
    # the velocity carries the learning rate: v = mu v - alpha g, and the update adds it (the step is -v)
    return [("v", S("mu") * S("v_prev") - S("lr") * S("g")), ("step", -S("v")), ("w+", S("w") + S("v"))]


def _velocity_np(w, g, st, t, lr, p, R=_same):
    v = R(p["mu"] * st["v"] - lr * g)
    new = R(w + v)
    return new, {"v": v}, {"v": v, "step": R(-v), "w+": new}


def _nesterov_prog(S, p):
    return [
        ("v", S("mu") * S("v_prev") + S("g")),
        ("d", S("g") + S("mu") * S("v")),
        ("step", S("lr") * S("d")),
        ("w+", S("w") - S("lr") * S("d")),
    ]


def _nesterov_np(w, g, st, t, lr, p, R=_same):
    v = R(p["mu"] * st["v"] + g)
    d = R(g + p["mu"] * v)
    new = R(w - lr * d)
    return new, {"v": v}, {"v": v, "d": d, "step": R(lr * d), "w+": new}


def _adagrad_prog(S, p):
    sp = _sp()
    return [
        ("s", S("s_prev") + S("g") ** 2),
        ("step", S("lr") * S("g") / (sp.sqrt(S("s")) + S("eps"))),
        ("w+", S("w") - S("lr") * S("g") / (sp.sqrt(S("s")) + S("eps"))),
    ]


def _adagrad_np(w, g, st, t, lr, p, R=_same):
    s = R(st["s"] + g * g)
    new = R(w - lr * g / (np.sqrt(s) + p["eps"]))
    return new, {"s": s}, {"s": s, "step": R(lr * g / (np.sqrt(s) + p["eps"])), "w+": new}


def _rmsprop_prog(S, p):
    sp = _sp()
    s = S("rho") * S("s_prev") + (1 - S("rho")) * S("g") ** 2
    return [
        ("s", s),
        ("step", S("lr") * S("g") / (sp.sqrt(S("s")) + S("eps"))),
        ("w+", S("w") - S("lr") * S("g") / (sp.sqrt(S("s")) + S("eps"))),
    ]


def _rmsprop_np(w, g, st, t, lr, p, R=_same):
    s = R(p["rho"] * st["s"] + (1 - p["rho"]) * g * g)
    new = R(w - lr * g / (np.sqrt(s) + p["eps"]))
    return new, {"s": s}, {"s": s, "step": R(lr * g / (np.sqrt(s) + p["eps"])), "w+": new}


def _adam_prog(S, p):
    sp = _sp()
    return [
        ("m", S("beta1") * S("m_prev") + (1 - S("beta1")) * S("g")),
        ("v", S("beta2") * S("v_prev") + (1 - S("beta2")) * S("g") ** 2),
        ("mhat", S("m") / (1 - S("beta1") ** S("t"))),
        ("vhat", S("v") / (1 - S("beta2") ** S("t"))),
        ("step", S("lr") * S("mhat") / (sp.sqrt(S("vhat")) + S("eps"))),
        ("w+", S("w") - S("lr") * S("mhat") / (sp.sqrt(S("vhat")) + S("eps"))),
    ]


def _adam_np(w, g, st, t, lr, p, R=_same):
    m = R(p["beta1"] * st["m"] + (1 - p["beta1"]) * g)
    v = R(p["beta2"] * st["v"] + (1 - p["beta2"]) * g * g)
    mhat = R(m / (1 - p["beta1"] ** t))
    vhat = R(v / (1 - p["beta2"] ** t))
    new = R(w - lr * mhat / (np.sqrt(vhat) + p["eps"]))
    shown = {"m": m, "v": v, "mhat": mhat, "vhat": vhat, "step": R(lr * mhat / (np.sqrt(vhat) + p["eps"])), "w+": new}
    return new, {"m": m, "v": v}, shown


def _adamw_prog(S, p):
    # decoupled weight decay (Loshchilov and Hutter): the parameter shrinks by lr wd w beside Adam's step,
    # which sees the gradient alone (torch.optim.AdamW: w (1 - lr wd), then the Adam step)
    sp = _sp()
    return [
        *_adam_prog(S, p)[:4],
        ("step", S("lr") * S("mhat") / (sp.sqrt(S("vhat")) + S("eps"))),
        ("w+", S("w") - S("lr") * S("wd") * S("w") - S("lr") * S("mhat") / (sp.sqrt(S("vhat")) + S("eps"))),
    ]


def _adamw_np(w, g, st, t, lr, p, R=_same):
    _, state, shown = _adam_np(w, g, st, t, lr, p, R)
    new = R(w * (1 - lr * p["wd"]) - lr * shown["mhat"] / (np.sqrt(shown["vhat"]) + p["eps"]))
    return new, state, {**shown, "w+": new}


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in [
        Optimizer("sgd", "w = w - alpha g", {}, (), _sgd_prog, _sgd_np, "gradient descent"),
        Optimizer(
            "momentum",
            "the seeds' form: v = beta v + (1 - beta) g, w = w - alpha v (beta 0.9)",
            {"beta": 0.9},
            ("v",),
            _momentum_prog,
            _momentum_np,
            "momentum",
        ),
        Optimizer(
            "momentum_classic",
            "v = mu v + g, w = w - alpha v (mu 0.9)",
            {"mu": 0.9},
            ("v",),
            _classic_prog,
            _classic_np,
            "classic momentum",
        ),
        Optimizer(
            "momentum_velocity",
            "v = mu v - alpha g, w = w + v (mu 0.9; the velocity carries the learning rate: with a constant "
            "alpha the same iterates as momentum_classic and torch.optim.SGD(momentum=mu), whose v is -v/alpha)",
            {"mu": 0.9},
            ("v",),
            _velocity_prog,
            _velocity_np,
            "momentum written with the velocity (v = μv − αg, w = w + v)",
        ),
        Optimizer(
            "nesterov",
            "v = mu v + g, w = w - alpha (g + mu v) (mu 0.9; the look-ahead written at the "
            "current point, as torch.optim.SGD(nesterov=True))",
            {"mu": 0.9},
            ("v",),
            _nesterov_prog,
            _nesterov_np,
            "Nesterov momentum",
        ),
        Optimizer(
            "adagrad",
            "s = s + g^2, w = w - alpha g / (sqrt(s) + eps) (eps 1e-10)",
            {"eps": 1e-10},
            ("s",),
            _adagrad_prog,
            _adagrad_np,
            "Adagrad",
        ),
        Optimizer(
            "rmsprop",
            "s = rho s + (1 - rho) g^2, w = w - alpha g / (sqrt(s) + eps) (rho 0.99, eps 1e-8)",
            {"rho": 0.99, "eps": 1e-8},
            ("s",),
            _rmsprop_prog,
            _rmsprop_np,
            "RMSProp",
        ),
        Optimizer(
            "adam",
            "m, v moving averages of g and g^2, bias-corrected, w = w - alpha m^ / (sqrt(v^) + eps) "
            "(beta1 0.9, beta2 0.999, eps 1e-8)",
            {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
            ("m", "v"),
            _adam_prog,
            _adam_np,
            "Adam",
        ),
        Optimizer(
            "adamw",
            "Adam with decoupled weight decay: w = w - alpha wd w - alpha m^ / (sqrt(v^) + eps) "
            "(beta1 0.9, beta2 0.999, eps 1e-8, wd 0.01: torch.optim.AdamW's defaults)",
            {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.01},
            ("m", "v"),
            _adamw_prog,
            _adamw_np,
            "AdamW",
        ),
    ]
}


def optimizer(name: str, where: str = "") -> Optimizer:
    try:
        return OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise SpecError(_unknown("optimizer", str(name), OPTIMIZERS), where) from None


# ----------------------------------------------------------------------------------------------------
# Feature scaling (seed 000): each input i over the examples, with its statistics. ``sym(x, s)`` is the scaled
# input in the SymPy symbols x (the raw input) and s (the statistics by name); ``np(x, s)`` the same in NumPy.
# ``stats`` names what the rule needs, each computed by ``STATISTICS`` below (NumPy) and written as a SymPy
# form by the symbolic engine.


@dataclass(frozen=True)
class Scaling:
    name: str
    description: str
    stats: tuple[str, ...]  # of "mean", "std", "min", "max"
    divisor: str  # the statistic (or "range") that must not be 0
    sym: Callable[[Any, Mapping[str, Any]], Any]
    np: Callable[[np.ndarray, Mapping[str, np.ndarray]], np.ndarray]


def _stat_np(name: str, X: np.ndarray) -> np.ndarray:
    """One statistic of every input over the examples (rows of X). std is the population one (divide by m)."""
    if name == "mean":
        return X.mean(axis=0)
    if name == "std":
        mu = X.mean(axis=0)
        return np.sqrt(((X - mu) ** 2).mean(axis=0))
    if name == "min":
        return X.min(axis=0)
    return X.max(axis=0)


SCALINGS: dict[str, Scaling] = {
    s.name: s
    for s in [
        Scaling(
            "standardize",
            "x' = (x - mu) / sigma, sigma the standard deviation over the examples",
            ("mean", "std"),
            "std",
            lambda x, s: (x - s["mean"]) / s["std"],
            lambda x, s: (x - s["mean"]) / s["std"],
        ),
        Scaling(
            "mean_normalize",
            "x' = (x - mu) / (max - min)",
            ("mean", "min", "max"),
            "range",
            lambda x, s: (x - s["mean"]) / (s["max"] - s["min"]),
            lambda x, s: (x - s["mean"]) / (s["max"] - s["min"]),
        ),
        Scaling(
            "min_max",
            "x' = (x - min) / (max - min), into [0, 1]",
            ("min", "max"),
            "range",
            lambda x, s: (x - s["min"]) / (s["max"] - s["min"]),
            lambda x, s: (x - s["min"]) / (s["max"] - s["min"]),
        ),
    ]
}


def scaling(name: str, where: str = "") -> Scaling:
    try:
        return SCALINGS[name]
    except (KeyError, TypeError):
        raise SpecError(_unknown("scaling", str(name), SCALINGS), where) from None


def scale_np(rule: Scaling, X: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The statistics of every input over the rows of X and the scaled rows."""
    stats = {k: _stat_np(k, X) for k in rule.stats}
    return stats, rule.np(X, stats)


# ----------------------------------------------------------------------------------------------------
# Initialization (seed 002): the bound of a uniform draw or the standard deviation of a normal one, from the
# fan-in and fan-out of a weight matrix (out x in: fan-in = inputs, fan-out = neurons), as PyTorch's
# xavier_*_ (gain 1) and kaiming_*_ (ReLU gain sqrt 2, fan-in mode) compute them.


@dataclass(frozen=True)
class Init:
    name: str
    description: str
    distribution: str  # "uniform": U(-bound, bound) | "normal": N(0, std^2)
    sym: Callable[[Any, Any], Any]  # (fan_in, fan_out) -> the bound or std
    np: Callable[[float, float], float]


INITS: dict[str, Init] = {
    i.name: i
    for i in [
        Init(
            "xavier_uniform",
            "U(-a, a), a = sqrt(6 / (fan_in + fan_out))",
            "uniform",
            lambda fi, fo: _sp().sqrt(6) / _sp().sqrt((fi + fo)),
            lambda fi, fo: float(np.sqrt(6.0) / np.sqrt((fi + fo))),
        ),
        Init(
            "xavier_normal",
            "N(0, s^2), s = sqrt(2 / (fan_in + fan_out))",
            "normal",
            lambda fi, fo: _sp().sqrt(2) / _sp().sqrt((fi + fo)),
            lambda fi, fo: float(np.sqrt(2.0) / np.sqrt((fi + fo))),
        ),
        Init(
            "he_uniform",
            "U(-a, a), a = sqrt(6 / fan_in)",
            "uniform",
            lambda fi, fo: _sp().sqrt(6) / _sp().sqrt(fi),
            lambda fi, fo: float(np.sqrt(6.0) / np.sqrt(fi)),
        ),
        Init(
            "he_normal",
            "N(0, s^2), s = sqrt(2 / fan_in)",
            "normal",
            lambda fi, fo: _sp().sqrt(2) / _sp().sqrt(fi),
            lambda fi, fo: float(np.sqrt(2.0) / np.sqrt(fi)),
        ),
    ]
}
INIT_DECIMALS = 4  # drawn weights are rounded to this many decimals: what a handout prints, the same everywhere


def init(name: str, where: str = "") -> Init:
    try:
        return INITS[name]
    except (KeyError, TypeError):
        raise SpecError(_unknown("init", str(name), INITS), where) from None


def draw_unit(seed: int | tuple[int, ...], count: int, normal: bool) -> np.ndarray:
    """``count`` draws from U(-1, 1) or N(0, 1), from the raw 64-bit words of NumPy's PCG64 (a bit generator
    specified bit for bit), turned into doubles by integer arithmetic: the same seed gives the same numbers on
    every machine and NumPy version (Generator's own methods may change between versions; PCG64's words do
    not). A normal draw uses Box-Muller; rounding to INIT_DECIMALS hides the last bits of log and cos."""
    bits = np.random.PCG64(list(seed) if isinstance(seed, tuple) else seed)
    words = bits.random_raw(2 * count if normal else count)
    u = (words >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)  # [0, 1), 53 bits
    if not normal:
        return 2.0 * u - 1.0
    u1, u2 = 1.0 - u[0::2], u[1::2]  # u1 in (0, 1]: log(u1) is finite
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def init_np(rule: Init, fan_in: int, fan_out: int, seed: int | tuple[int, ...]) -> tuple[float, np.ndarray]:
    """The bound (or std) and the drawn (fan_out x fan_in) weights, rounded to INIT_DECIMALS. A network's
    layer li draws from the seed (seed, li), so that adding a layer leaves the others' weights alone."""
    scale = rule.np(fan_in, fan_out)
    w = draw_unit(seed, fan_in * fan_out, rule.distribution == "normal") * scale
    return scale, np.round(w, INIT_DECIMALS).reshape(fan_out, fan_in) + 0.0


# The gates of computational graphs live beside this module (one registry, one file per kind of spec).

from .graphrules import GRAPH_OPS, GraphOp  # noqa: E402,F401
