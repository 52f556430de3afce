"""The symbolic engine: every chain-rule factor derived with SymPy from local forms, then evaluated.

Local forms (a neuron's net input, an activation and its derivative, the loss and its gradient, products
and sums) are derived once per kind, in positional placeholders, and lambdified once; every neuron and
weight of that kind binds the same form to its own quantities. Nothing expands the whole network into one
expression, so the cost stays linear in the number of parameters at any depth.
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache

import numpy as np
import sympy as sp

from ..spec import rules
from ..spec.errors import ComputeError, GradientError, SpecError, TutorError
from ..spec.network import Network
from ..spec.rounding import Rounder
from . import formcache
from .numeric import rounder_for
from .steps import (
    BatchNormLayer,
    Form,
    InitLayer,
    Label,
    NeuronBackward,
    NeuronForward,
    ParamStep,
    Preparation,
    Quantity,
    TrainingWalk,
    Walkthrough,
)
from .symbols import placeholders

ETA = "eta"


def _heaviside(x, h0=0.0):
    # The subgradient convention at the kink is 0, as the numeric engine's (x > 0).
    return 1.0 if x > 0 else 0.0


def _exp(x):
    # e^x past the float range is inf, as in NumPy, so 1/(1 + e^-x) saturates to 0 instead of raising
    return math.exp(x) if x < 709.0 else math.inf


def _form(expr, n: int, fn=None) -> Form:
    """A Form; ``fn`` evaluates the structural ones (sums, products) in the order lambdify's code would,
    so only real formulas pay for lambdify's code generation."""
    P = placeholders(n)
    if fn is None and expr in P:
        fn = operator.itemgetter(P.index(expr)) if n > 1 else (lambda x: x)
        if n > 1:
            getter = fn
            fn = lambda *a: getter(a)  # noqa: E731
    if fn is None:
        fn = sp.lambdify(P, expr, modules=[{"Heaviside": _heaviside, "exp": _exp}, "math"])
    return Form(expr, fn, P)


# the form functions below derive once per machine: their forms are kept in the user's cache (formcache)
derived = formcache.deriver(_form)


def _sum(*a):
    total = a[0]
    for x in a[1:]:
        total = total + x
    return total


def _prod(*a):
    total = a[0]
    for x in a[1:]:
        total = total * x
    return total


def _dot(*a):
    total = a[0] * a[1]
    for i in range(2, len(a), 2):
        total = total + a[i] * a[i + 1]
    return total


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


# -- local forms, each derived once per kind and cached ------------------------------------------------


@lru_cache(maxsize=None)
def net_form(n_in: int, bias: bool = True) -> Form:
    """net = w_1 a_1 + ... + w_n a_n + b * 1, args (w_1, a_1, ..., w_n, a_n, b), in the source's order;
    without ``bias`` (a layer with ``bias = false``) the same sum without its last term and argument."""
    if not bias:
        P = placeholders(2 * n_in)
        terms = [sp.Mul(P[2 * i], P[2 * i + 1], evaluate=False) for i in range(n_in)]
        return _form(sp.Add(*terms, evaluate=False) if n_in > 1 else terms[0], 2 * n_in, fn=_dot)
    P = placeholders(2 * n_in + 1)
    terms = [sp.Mul(P[2 * i], P[2 * i + 1], evaluate=False) for i in range(n_in)]
    terms.append(sp.Mul(P[2 * n_in], sp.Integer(1), evaluate=False))
    return _form(sp.Add(*terms, evaluate=False), 2 * n_in + 1, fn=lambda *a: _dot(*a[:-1]) + 1 * a[-1])


@derived
def dnet_form(n_in: int, position: int, bias: bool = True) -> Form:
    """d net / d (argument at ``position``) of net_form(n_in, bias), derived by SymPy."""
    n = 2 * n_in + (1 if bias else 0)
    expr = sp.diff(net_form(n_in, bias).expr, placeholders(n)[position])
    return _form(expr, n)


@lru_cache(maxsize=None)
def pass_form() -> Form:
    """net = a: the net input of a layer without weights (``weights = false``) is its input, one to one."""
    return sum_form(1)


@derived
def dpass_form() -> Form:
    """d net / d a of pass_form, derived by SymPy: 1."""
    return _form(sp.diff(pass_form().expr, placeholders(1)[0]), 1)


def layer_net_form(layer, n_in: int) -> Form:
    """The net-input form of ``layer``: weights and bias, weights alone, or the input passed through."""
    return pass_form() if layer.weightless else net_form(n_in, layer.has_bias)


@derived
def act_form(name: str, params: tuple) -> Form:
    rule = rules.ACTIVATIONS[name]
    return _form(rule.sym(placeholders(1)[0], dict(params)), 1)


@derived
def dact_form(name: str, params: tuple) -> Form:
    """dout/dnet in the textbook form, args (net, out); tests prove it equals SymPy's derivative."""
    rule = rules.ACTIVATIONS[name]
    x, y = placeholders(2)
    return _form(rule.sym_deriv(x, y, dict(params)), 2)


@derived
def act_skip_form(name: str, params: tuple) -> Form:
    """A residual connection's output f(net) + skip, args (net, skip)."""
    x, skip = placeholders(2)
    return _form(sp.Add(rules.ACTIVATIONS[name].sym(x, dict(params)), skip, evaluate=False), 2)


@derived
def dact_skip_form(name: str, params: tuple, position: int) -> Form:
    """d(f(net) + skip)/d net (position 0) or /d skip (position 1, which is 1), derived by SymPy."""
    form = act_skip_form(name, params)
    return _form(sp.diff(form.expr, placeholders(2)[position]), 2)


@derived
def softmax_form(n: int, k: int) -> Form:
    return _form(rules.ACTIVATIONS["softmax"].sym_vector(list(placeholders(n)), {})[k], n)


@derived
def softmax_jac_form(n: int, k: int, j: int) -> Form:
    return _form(rules.ACTIVATIONS["softmax"].sym_jacobian(k, j, list(placeholders(n))), n)


@lru_cache(maxsize=None)
def loss_forms(name: str, n: int, params: tuple, true_index: int) -> tuple[list[Form], Form, list[Form]]:
    """The loss terms, their sum, and dE/dout_k for each k; args (out_1..out_n, t_1..t_n)."""
    forms = _derived_loss_forms(name, n, params, true_index)
    if not rules.LOSSES[name].zero_log_terms:
        return forms
    targets = list(placeholders(2 * n)[n:])
    guard = lambda f: _zero_log_guard(f, targets)  # noqa: E731
    return [guard(f) for f in forms[0]], guard(forms[1]), [guard(f) for f in forms[2]]


@derived
def _derived_loss_forms(name: str, n: int, params: tuple, true_index: int) -> tuple[list[Form], Form, list[Form]]:
    """loss_forms before the guard of 0·ln 0 (a closure, which is not stored)."""
    P = placeholders(2 * n)
    outs, targets = list(P[:n]), list(P[n:])
    onehot = [1.0 if k == true_index else 0.0 for k in range(n)]
    terms = rules.loss_terms(rules.LOSSES[name], outs, targets, dict(params), onehot)
    term_exprs = [e for _, e in terms]
    total = sp.Add(*term_exprs)
    grads = [_form(sp.diff(total, outs[k]), 2 * n) for k in range(n)]
    return [_form(e, 2 * n) for e in term_exprs], _form(total, 2 * n), grads


def _zero_log_guard(form: Form, targets) -> Form:
    """The form with 0·ln 0 = 0: where evaluating it fails (ln 0, 0/0), it is evaluated again with the targets
    that are exactly 0 or 1 substituted, so that SymPy cancels their 0·ln terms (the limit, as NumPy's guard)."""
    n = len(targets)
    first = len(form.placeholders) - n
    variants: dict[tuple, object] = {}

    def fn(*a):
        try:
            v = form.fn(*a)
            if math.isfinite(v):
                return v
        except (ValueError, ZeroDivisionError):
            pass
        key = tuple((k, float(a[first + k])) for k in range(n) if a[first + k] in (0.0, 1.0))
        if key not in variants:
            expr = form.expr.subs({targets[k]: sp.Integer(int(v)) for k, v in key})
            variants[key] = sp.lambdify(form.placeholders, expr, modules=[{"exp": _exp}, "math"])
        return variants[key](*a)

    return Form(form.expr, fn, form.placeholders)


@lru_cache(maxsize=None)
def product_form(n: int) -> Form:
    return _form(sp.Mul(*placeholders(n), evaluate=False) if n > 1 else placeholders(1)[0], n, fn=_prod)


@lru_cache(maxsize=None)
def sum_form(n: int) -> Form:
    return _form(sp.Add(*placeholders(n), evaluate=False) if n > 1 else placeholders(1)[0], n, fn=_sum)


@lru_cache(maxsize=None)
def dot_form(n: int) -> Form:
    """a_1 b_1 + ... + a_n b_n, args (a_1, b_1, ..., a_n, b_n)."""
    P = placeholders(2 * n)
    prods = [sp.Mul(P[2 * i], P[2 * i + 1], evaluate=False) for i in range(n)]
    return _form(sp.Add(*prods, evaluate=False) if n > 1 else prods[0], 2 * n, fn=_dot)


@lru_cache(maxsize=None)
def update_form() -> Form:
    w, eta, g = placeholders(3)
    return _form(
        sp.Add(w, sp.Mul(sp.Integer(-1), eta, g, evaluate=False), evaluate=False), 3, fn=lambda w, e, g: w - e * g
    )


@lru_cache(maxsize=None)
def difference_form() -> Form:
    a, b = placeholders(2)
    return _form(sp.Add(a, sp.Mul(sp.Integer(-1), b, evaluate=False), evaluate=False), 2, fn=operator.sub)


# -- batch normalization (seed 002: Ioffe and Szegedy's mini-batch algorithm), derived once per kind ---------


def _bn_symbols(m: int):
    """The batch's net inputs x_1..x_m and the symbols mu, var, eps, gamma, beta of one neuron."""
    xs = sp.symbols(f"x1:{m + 1}")
    mu, var, eps, gamma, beta = sp.symbols("mu var eps gamma beta")
    return xs, mu, var, eps, gamma, beta


def _bn_xhat(x, mu, var, eps):
    return (x - mu) / sp.sqrt(var + eps)


def _bn_var(xs, mu):
    return sp.Rational(1, len(xs)) * sp.Add(*[(x - mu) ** 2 for x in xs])


@derived
def bn_var_form(m: int) -> Form:
    """sigma^2 = (1/m) sum (x_k - mu)^2 over the batch (biased, as in training), args (x_1..x_m, mu)."""
    P = placeholders(m + 1)
    dev = [sp.Pow(sp.Add(x, sp.Mul(-1, P[m], evaluate=False), evaluate=False), 2, evaluate=False) for x in P[:m]]
    return _form(sp.Mul(sp.Rational(1, m), sp.Add(*dev, evaluate=False), evaluate=False), m + 1)


@derived
def bn_xhat_form() -> Form:
    """xhat = (x - mu)/sqrt(var + eps), args (x, mu, var, eps)."""
    x, mu, var, eps = placeholders(4)
    return _form(_bn_xhat(x, mu, var, eps), 4)


@derived
def bn_y_form() -> Form:
    """y = gamma xhat + beta, args (gamma, xhat, beta)."""
    g, xh, b = placeholders(3)
    return _form(sp.Add(sp.Mul(g, xh, evaluate=False), b, evaluate=False), 3)


@derived
def bn_dy_form(position: int) -> Form:
    """dy/d(gamma, xhat or beta) of bn_y_form, derived by SymPy: xhat, gamma or 1."""
    return _form(sp.diff(bn_y_form().expr, placeholders(3)[position]), 3)


def _same_as(pretty, derived):
    """The derivative as a textbook writes it (its terms in the order of the algorithm), proved equal to
    SymPy's derivative when the form is built."""
    if sp.simplify(pretty - derived) != 0:  # pragma: no cover - a wrong textbook form is a bug here
        raise AssertionError(f"{pretty} is not {derived}")
    return pretty


def _add(*terms):
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


@derived
def bn_dvar_form(m: int) -> Form:
    """dE/dvar = sum_k dE/dxhat_k dxhat_k/dvar, dxhat/dvar derived by SymPy; args (dE/dxhat_1, x_1, ..., dE/dxhat_m,
    x_m, mu, var, eps)."""
    P = placeholders(2 * m + 3)
    mu, var, eps = P[2 * m :]
    derived = [sp.diff(_bn_xhat(P[2 * k + 1], mu, var, eps), var) for k in range(m)]
    # -(1/2) (x_k - mu) (var + eps)^(-3/2), written as the seed's algorithm writes it
    local = [
        sp.Mul(
            sp.Rational(-1, 2),
            sp.Add(P[2 * k + 1], -mu, evaluate=False),
            sp.Pow(sp.Add(var, eps, evaluate=False), sp.Rational(-3, 2), evaluate=False),
            evaluate=False,
        )
        for k in range(m)
    ]
    terms = [sp.Mul(P[2 * k], _same_as(local[k], derived[k]), evaluate=False) for k in range(m)]
    return _form(_add(*terms), 2 * m + 3)


@derived
def bn_dmu_form(m: int) -> Form:
    """dE/dmu = sum_k dE/dxhat_k dxhat_k/dmu + dE/dvar dvar/dmu (mu enters xhat and the variance), both
    derived by SymPy; args (dE/dxhat_1, x_1, ..., dE/dxhat_m, x_m, mu, var, eps, dE/dvar)."""
    P = placeholders(2 * m + 4)
    mu, var, eps, dvar = P[2 * m :]
    xs = [P[2 * k + 1] for k in range(m)]
    inv = sp.Pow(sp.sqrt(sp.Add(var, eps, evaluate=False), evaluate=False), -1, evaluate=False)
    local = sp.Mul(-1, inv, evaluate=False)
    terms = [
        sp.Mul(P[2 * k], _same_as(local, sp.diff(_bn_xhat(xs[k], mu, var, eps), mu)), evaluate=False) for k in range(m)
    ]
    dvar_dmu = sp.Mul(sp.Rational(-2, m), _add(*[sp.Add(x, -mu, evaluate=False) for x in xs]), evaluate=False)
    terms.append(sp.Mul(dvar, _same_as(dvar_dmu, sp.diff(_bn_var(xs, mu), mu)), evaluate=False))
    return _form(_add(*terms), 2 * m + 4)


@derived
def bn_dx_form(m: int) -> Form:
    """dE/dx of one example: through its xhat, the variance and the mean (each derived by SymPy):
    dE/dxhat / sqrt(var + eps) + dE/dvar 2 (x - mu)/m + dE/dmu / m; args (dE/dxhat, x, mu, var, eps, dE/dvar,
    dE/dmu)."""
    dxh, x, mu, var, eps, dvar, dmu = placeholders(7)
    xs, *_ = _bn_symbols(m)
    mean = sp.Rational(1, m) * sp.Add(*xs)
    inv = sp.Pow(sp.sqrt(sp.Add(var, eps, evaluate=False), evaluate=False), -1, evaluate=False)
    dxhat_dx = _same_as(inv, sp.diff(_bn_xhat(x, mu, var, eps), x))
    dvar_dx = _same_as(
        sp.Mul(sp.Rational(2, m), sp.Add(x, -mu, evaluate=False), evaluate=False),
        sp.diff(_bn_var(xs, mu), xs[0]).subs(xs[0], x),
    )
    dmu_dx = _same_as(sp.Rational(1, m), sp.diff(mean, xs[0]))
    expr = _add(
        sp.Mul(dxh, dxhat_dx, evaluate=False),
        sp.Mul(dvar, dvar_dx, evaluate=False),
        sp.Mul(dmu, dmu_dx, evaluate=False),
    )
    return _form(expr, 7)


@derived
def bn_running_form(unbiased_m: int = 0) -> Form:
    """running = (1 - momentum) running + momentum statistic, args (momentum, running, statistic); for the
    variance (``unbiased_m`` = m) the statistic is the batch's unbiased variance var m/(m - 1)."""
    k, r, stat = placeholders(3)
    if unbiased_m:
        stat = sp.Mul(stat, sp.Rational(unbiased_m, unbiased_m - 1), evaluate=False)
    expr = sp.Add(
        sp.Mul(sp.Add(1, -k, evaluate=False), r, evaluate=False), sp.Mul(k, stat, evaluate=False), evaluate=False
    )
    return _form(expr, 3)


# -- the walk-through builder -----------------------------------------------------------------------


class _Builder:
    def __init__(self, net: Network, R: Rounder, bn: BatchContext | None = None):
        self.net, self.R = net, R
        self.q: dict[str, Quantity] = {}
        self.labels: dict[str, Label] = {}
        self.bn = bn

    def _claim(self, key: str, label: Label) -> None:
        if key in self.q:
            raise SpecError(
                f"the name {key!r} would stand for two different quantities; rename one of them", "notation"
            )
        self.labels[key] = label

    def given(self, key: str, kind: str, value: float, **tags) -> str:
        self._claim(key, Label("name", text=key))
        self.q[key] = Quantity(key, kind, float(value), **tags)
        return key

    def add(self, key: str, kind: str, form: Form, args, label: Label | None = None, **extra) -> str:
        args = tuple(args)
        self._claim(key, label or Label("name", text=key))
        try:
            value = self.R(float(form.fn(*[self.q[a].value for a in args])))
            if not math.isfinite(value):
                raise OverflowError("not a finite number")
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ComputeError(
                f"{key} cannot be computed ({exc}): a value left the range where its formula is defined "
                "(an output saturated at 0 or 1, a huge weight or input, too coarse a rounding, or a "
                "diverging training); use smaller values or more digits"
            ) from None
        self.q[key] = Quantity(key, kind, value, form=form, args=args, **extra)
        return key

    def partial(self, num: str, den: str, kind: str, form: Form, args, via: str = "", note: str = "", **extra) -> str:
        # A note ("updated") says how a factor was evaluated, not which quantity it is: it stays out of the
        # key, except for the simplified softmax delta, which stands beside the Jacobian one.
        key = f"d{num}/d{den}" + (f"[{via}]" if via else "") + ("[simplified]" if note == "simplified" else "")
        return self.add(
            key, kind, form, args, Label("partial", num=num, den=den, via=via, note=note), note=note, **extra
        )


class BatchContext:
    """What one example's walk-through reads from its batch under batch normalization: the batch size and, by
    key, the batch's statistics and dE/dvar, dE/dmu (computed over the batch by explain_training_step). Until a
    value is known its placeholder stands in (mu 0, var 1, gradients 0): the walk that computes it reads only
    what comes before it."""

    def __init__(self, m: int):
        self.m = m
        self.values: dict[str, float] = {}

    def get(self, key: str, placeholder: float) -> float:
        return self.values.get(key, placeholder)


def batch_context(net: Network, masks=None) -> BatchContext:
    """The batch statistics and dE/dvar, dE/dmu of the first batch of ``net``'s examples (the one the
    example ``net.inputs`` belongs to, the first), for a walk-through of that example alone."""
    from dataclasses import replace

    from .training import batches

    first = batches(net)[0]
    if not any(np.array_equal(net.inputs, net.examples[k][0]) for k in first):
        raise TutorError(
            "this network normalizes over a batch (batch_norm): an example outside its batches has no batch "
            "statistics; 'backprop-tutor explain SPEC' walks through its training step over the batch"
        )
    ctx = BatchContext(len(first))

    def walks(forward_only: bool = False) -> list[Walkthrough]:
        return [
            explain_step(
                replace(net, inputs=net.examples[k][0], targets=net.examples[k][1]),
                bn=ctx,
                forward_only=forward_only,
                gradients_only=True,
                prepare=False,
                masks=masks,
            )
            for k in first
        ]

    _bn_batch(_Builder(net, rounder_for(net)), net, walks, ctx)
    return ctx


def batch_loss(net: Network) -> str:
    """The name of a batch's summed loss E⁽¹⁾ + ... + E⁽ᵐ⁾: what batch normalization's backward pass differentiates
    once the examples are coupled (the step's mean then divides by m, as for every gradient)."""
    return f"{net.notation['loss']}_batch"


def _batch_loss_labels(b: _Builder, net: Network) -> None:
    """Every derivative that reads dE/dvar or dE/dmu (a batch-normalized layer's dE/dnet and all below it) is one of
    the batch's summed loss: its label says so, so that no example's walk writes it as its own loss's."""
    E, EB = net.notation["loss"], batch_loss(net)
    tainted = {k for k, q in b.q.items() if q.kind == "batch" and b.labels[k].kind == "partial"}
    for key, q in b.q.items():
        if key in tainted or any(a in tainted for a in q.args):
            tainted.add(key)
            lab = b.labels[key]
            if lab.kind == "partial" and lab.num == E:
                b.labels[key] = Label("partial", num=EB, den=lab.den, via=lab.via, note=lab.note)


def bn_grad_keys(net: Network, li: int, j: int) -> tuple[str, str]:
    """The keys of dE/dvar and dE/dmu of a batch-normalized neuron."""
    E = net.notation["loss"]
    layer = net.layers[li]
    return f"d{E}/d{layer.bn_names('var')[j]}", f"d{E}/d{layer.bn_names('mu')[j]}"


def explain_step(
    net: Network,
    *,
    forward_only: bool = False,
    masks: DropoutMasks | None = None,
    gradients_only: bool = False,
    prepare: bool = True,
    bn: BatchContext | None = None,
) -> Walkthrough:
    """Compute one training step symbolically and record every shown quantity.

    >>> from tutor.spec import load
    >>> w = explain_step(load("mazur"))
    >>> round(w.value("dE_total/dw5"), 9), round(w.value("w5+"), 8)
    (0.082167041, 0.35891648)
    """
    R = rounder_for(net)
    if net.has_batch_norm and bn is None:
        bn = batch_context(net, masks=masks)
    b = _Builder(net, R, bn)
    L = len(net.layers)
    nt = net.notation
    E = nt["loss"]

    prep = _prepare(b, net) if prepare and (net.scaling or net.init_layers) else None
    for name, v in zip(net.input_names, net.inputs):
        b.given(name, "input", v)
    param_keys: list[tuple[list[list[str]], list[str]]] = []
    for li, layer in enumerate(net.layers):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                if w not in b.q:  # a drawn weight is given where it was drawn, before the forward pass
                    b.given(w, "param", layer.weights[j, i], layer=li, index=j)
        if layer.shared_bias:
            b.given(layer.bias_labels[0], "param", layer.biases[0], layer=li)
        else:
            for j, bl in enumerate(layer.bias_labels):
                b.given(bl, "param", layer.biases[j], layer=li, index=j)
        param_keys.append(([list(r) for r in layer.weight_labels], list(layer.bias_labels)))
        if layer.batch_norm:
            for j in range(layer.size):
                b.given(layer.bn_names("gamma")[j], "param", layer.gamma[j], layer=li, index=j)
                b.given(layer.bn_names("beta")[j], "param", layer.beta[j], layer=li, index=j)
            b.given(f"eps_L{li + 1}", "rate", layer.epsilon, layer=li)
            for j in range(layer.size):
                for what, placeholder in (("mu", 0.0), ("var", 1.0)):
                    key = layer.bn_names(what)[j]
                    b.given(key, "batch", bn.get(key, placeholder), layer=li, index=j)
                if not forward_only:
                    for key, what in zip(bn_grad_keys(net, li, j), ("var", "mu")):
                        b.given(key, "batch", bn.get(key, 0.0), layer=li, index=j)
                        b.labels[key] = Label("partial", num=batch_loss(net), den=layer.bn_names(what)[j])
    for name, v in zip(net.target_names(), net.targets):
        b.given(name, "target", v)
    if net.parameter_count:  # a network without weights and biases has no update, so no learning rate
        b.given(ETA, "rate", net.learning_rate)

    forward = _forward(b, net, param_keys, suffix=lambda k: k, masks=masks)
    terms, loss = _loss(b, net, forward, E, suffix=lambda k: k)

    backward: list[list[NeuronBackward]] = []
    params: list[ParamStep] = []
    loss_after = ""
    forward_after: list[list[NeuronForward]] = []
    if not forward_only:
        for li, layer in enumerate(net.layers):
            if not layer.rule.differentiable:
                raise GradientError(
                    f"activation {layer.activation!r} of layers[{li}] has no usable derivative "
                    "(it is a step); use it for the forward pass only (--forward-only)"
                )
        new_keys = [([row[:] for row in w], bl[:]) for w, bl in param_keys]
        updated_first = net.conventions.update_order == "updated-first"
        for li in range(L - 1, -1, -1):
            neurons = _neuron_backward(b, net, li, forward, backward, param_keys, new_keys, updated_first, E, terms)
            backward.append(neurons)
            params.extend(_param_steps(b, net, li, forward, neurons, param_keys, new_keys, E, not gradients_only))
        if not gradients_only and net.parameter_count:  # without parameters nothing changes: no "after"
            forward_after = _forward(b, net, new_keys, suffix=net.updated_name)
            _, loss_after = _loss(b, net, forward_after, E, suffix=net.updated_name)
    # dE/dx of every input (what frameworks keep in x.grad), after everything else so the other keys keep
    # their order: the first layer's deltas back through its (old) weights
    inputs = [] if forward_only or gradients_only else _input_gradients(b, net, backward[-1], param_keys, E)
    if net.has_batch_norm:
        _batch_loss_labels(b, net)

    return Walkthrough(
        net,
        net.conventions,
        b.q,
        b.labels,
        forward,
        terms,
        loss,
        backward,
        params,
        loss_after,
        forward_after,
        input_gradients=inputs,
        prep=prep,
    )


def input_gradient_form(n: int) -> Form:
    """dE/dx_i = w_1i delta_1 + ... + w_ni delta_n, args (w_1i, delta_1, ..., w_ni, delta_n)."""
    P = placeholders(2 * n)
    terms = [sp.Mul(P[2 * j], P[2 * j + 1], evaluate=False) for j in range(n)]
    return _form(sp.Add(*terms, evaluate=False) if n > 1 else terms[0], 2 * n, fn=_dot)


def _input_gradients(b: _Builder, net: Network, first: list[NeuronBackward], param_keys, E: str) -> list[str]:
    if net.layers[0].weightless:
        # net_i = x_i: dE/dx_i is the delta of neuron i itself (for softmax with cross-entropy, p_i - y_i)
        return [
            b.partial(E, name, "input_gradient", sum_form(1), [nb.delta]) for name, nb in zip(net.input_names, first)
        ]
    weights = param_keys[0][0]
    form = input_gradient_form(len(first))
    keys = []
    for i, name in enumerate(net.input_names):
        args = [k for j, nb in enumerate(first) for k in (weights[j][i], nb.delta)]
        keys.append(b.partial(E, name, "input_gradient", form, args))
    return keys


DROPOUT_SCALE = "dropout_scale"


def _forward(b: _Builder, net: Network, param_keys, suffix, masks=None) -> list[list[NeuronForward]]:
    layers_out: list[list[NeuronForward]] = []
    a_keys = list(net.input_names)
    for li, layer in enumerate(net.layers):
        wkeys, bkeys = param_keys[li]
        n_in = len(a_keys)
        row: list[NeuronForward] = []
        for j in range(layer.size):
            if layer.weightless:
                args = [a_keys[j]]
            else:
                args = [k for i in range(n_in) for k in (wkeys[j][i], a_keys[i])] + (
                    [bkeys[j]] if layer.has_bias else []
                )
            nk = b.add(suffix(layer.net_names[j]), "net", layer_net_form(layer, n_in), args, layer=li, index=j)
            row.append(NeuronForward(layer.neurons[j], nk, ""))
        net_keys = [r.net for r in row]
        if layer.batch_norm:
            eps = f"eps_L{li + 1}"
            for j, r in enumerate(row):
                mu, var, gamma, beta = (layer.bn_names(w)[j] for w in ("mu", "var", "gamma", "beta"))
                r.xhat = b.add(
                    suffix(layer.bn_names("xhat")[j]), "xhat", bn_xhat_form(), [r.net, mu, var, eps], layer=li, index=j
                )
                r.y = b.add(suffix(layer.bn_names("y")[j]), "y", bn_y_form(), [gamma, r.xhat, beta], layer=li, index=j)
        for j, r in enumerate(row):
            if layer.rule.vector:
                form, args = softmax_form(layer.size, j), net_keys
            elif layer.batch_norm:
                form, args = act_form(layer.activation, _key(layer.activation_params)), [r.y]
            elif layer.skip is not None:  # residual: out = f(net) + the earlier layer's output
                form = act_skip_form(layer.activation, _key(layer.activation_params))
                args = [r.net, layers_out[layer.skip][j].read]
            else:
                form, args = act_form(layer.activation, _key(layer.activation_params)), [r.net]
            r.out = b.add(suffix(layer.out_names[j]), "out", form, args, layer=li, index=j)
        if masks is not None and masks[li] is not None:
            if DROPOUT_SCALE not in b.q:
                b.given(DROPOUT_SCALE, "rate", masks.scale)
            for j, r in enumerate(row):
                r.mask = b.given(f"mask[{r.name}]", "mask", masks[li][j], layer=li, index=j)
                r.kept = b.add(
                    f"{r.out}[kept]",
                    "kept",
                    product_form(3),
                    [r.out, r.mask, DROPOUT_SCALE],
                    Label("kept", base=r.out, text=f"{r.out}[kept]"),
                    layer=li,
                    index=j,
                )
        layers_out.append(row)
        a_keys = [r.read for r in row]
    return layers_out


class DropoutMasks(list):
    """Per layer, the 0/1 keep mask of one example (None where no dropout), and the scale 1/(1 - rate)."""

    def __init__(self, masks, scale: float):
        super().__init__(masks)
        self.scale = scale


@derived
def dkept_form() -> Form:
    """d(out * mask * scale)/d out, derived by SymPy: mask * scale."""
    return _form(sp.diff(product_form(3).expr, placeholders(3)[0]), 3)


def _loss_setup(net: Network, forward):
    out_keys = [r.out for r in forward[-1]]
    n = len(out_keys)
    y = int(net.targets.argmax())
    term_forms, total_form, grad_forms = loss_forms(net.loss, n, _key(net.loss_rule.params(net.loss_params)), y)
    args = out_keys + list(net.target_names())
    return out_keys, n, y, term_forms, total_form, grad_forms, args


def _loss(b: _Builder, net: Network, forward, E: str, suffix) -> tuple[list[str], str]:
    out_keys, n, y, term_forms, total_form, _, args = _loss_setup(net, forward)
    names = list(net.loss_term_names())
    if net.loss_rule.separable:
        term_names = names
    else:  # hinge: one term per wrong class
        term_names = [names[j] for j in range(n) if j != y]
    if len(term_forms) == 1:
        return [], b.add(suffix(E), "loss", total_form, args)
    terms = [b.add(suffix(t), "loss_term", f, args) for t, f in zip(term_names, term_forms)]
    return terms, b.add(suffix(E), "loss", sum_form(len(terms)), terms)


def _neuron_backward(b, net, li, forward, backward, param_keys, new_keys, updated_first, E, terms):
    layer = net.layers[li]
    L = len(net.layers)
    row = forward[li]
    out: list[NeuronBackward] = []
    rule = layer.rule
    is_output = li == L - 1
    mazur_names = net.loss_rule.separable and not rule.vector and len(terms) > 1
    if is_output:
        out_keys, n, y, _, total_form, grad_forms, largs = _loss_setup(net, forward)
        for j, r in enumerate(row):
            g = b.partial(
                E,
                r.out,
                "factor",
                grad_forms[j],
                largs,
                of_form=total_form,
                of_args=tuple(largs),
                wrt=r.out,
                layer=li,
                index=j,
            )
            out.append(NeuronBackward(r.name, li, g))
    else:
        below = forward[li + 1]
        n_in = len(row)
        down = backward[-1]
        down_layer = net.layers[li + 1]
        down_mazur = (li + 1 == L - 1) and net.loss_rule.separable and not down_layer.rule.vector and len(terms) > 1
        wkeys_old, _ = param_keys[li + 1]
        wkeys_new, _ = new_keys[li + 1]
        skips = [lj for lj in range(li + 1, L) if net.layers[lj].skip == li]
        single = (len(below) == 1 or down_layer.weightless) and not skips
        for j, r in enumerate(row):
            contribs = []
            a = r.read  # what the next layer reads: the output, or the output after dropout
            for k, (dr, dn) in enumerate(zip(below, down)):
                nargs = b.q[dr.net].args
                down_net = None if down_layer.weightless else net_form(n_in, down_layer.has_bias)
                if down_layer.weightless:
                    if k != j:  # net_k = a_k reads no other output: its path from here is 0
                        continue
                    f = b.partial(
                        dr.net,
                        a,
                        "factor",
                        dpass_form(),
                        nargs,
                        of_form=pass_form(),
                        of_args=nargs,
                        wrt=a,
                        layer=li + 1,
                        index=k,
                    )
                elif updated_first:
                    f = b.partial(
                        dr.net,
                        a,
                        "factor",
                        sum_form(1),
                        [wkeys_new[k][j]],
                        note="updated",
                        of_form=down_net,
                        of_args=nargs,
                        wrt=a,
                        layer=li + 1,
                        index=k,
                    )
                else:
                    f = b.partial(
                        dr.net,
                        a,
                        "factor",
                        dnet_form(n_in, 2 * j + 1, down_layer.has_bias),
                        nargs,
                        of_form=down_net,
                        of_args=nargs,
                        wrt=a,
                        layer=li + 1,
                        index=k,
                    )
                if single:
                    contribs.append((dn.delta, f))
                    continue
                if down_mazur:
                    key = b.partial(terms[k], a, "contribution", product_form(2), [dn.delta, f], layer=li, index=j)
                else:
                    key = b.partial(
                        E, a, "contribution", product_form(2), [dn.delta, f], via=dr.name, layer=li, index=j
                    )
                contribs.append(key)
            for lj in skips:  # the second route: the skip from here to layers[lj], where dout_lj/dout = 1
                sr = forward[lj][j]
                sn = backward[L - 1 - lj][j]
                pk2 = _key(net.layers[lj].activation_params)
                sargs = tuple(b.q[sr.out].args)
                f = b.partial(
                    sr.out,
                    a,
                    "factor",
                    dact_skip_form(net.layers[lj].activation, pk2, 1),
                    sargs,
                    of_form=act_skip_form(net.layers[lj].activation, pk2),
                    of_args=sargs,
                    wrt=a,
                    layer=lj,
                    index=j,
                )
                key = b.partial(
                    E, a, "contribution", product_form(2), [sn.dE_dout, f], via=f"skip.{sr.name}", layer=li, index=j
                )
                contribs.append(key)
            if single:
                g = b.partial(E, a, "sum", product_form(2), list(contribs[0]), layer=li, index=j)
                nb = NeuronBackward(r.name, li, g)
            else:
                g = b.partial(E, a, "sum", sum_form(len(contribs)), contribs, layer=li, index=j)
                nb = NeuronBackward(r.name, li, g, contributions=contribs)
            if r.kept:
                nb.dE_dkept = g
                nb.dkept_dout = b.partial(
                    r.kept,
                    r.out,
                    "factor",
                    dkept_form(),
                    [r.out, r.mask, DROPOUT_SCALE],
                    of_form=product_form(3),
                    of_args=(r.out, r.mask, DROPOUT_SCALE),
                    wrt=r.out,
                    layer=li,
                    index=j,
                )
                nb.dE_dout = b.partial(E, r.out, "sum", product_form(2), [g, nb.dkept_dout], layer=li, index=j)
            out.append(nb)
    # dout/dnet and the delta dE/dnet
    if rule.vector:
        n = layer.size
        out_keys = [r.out for r in row]
        net_keys = [r.net for r in row]
        for j, nb in enumerate(out):
            pairs = []
            for k in range(n):
                jk = b.partial(
                    out_keys[k],
                    net_keys[j],
                    "factor",
                    softmax_jac_form(n, k, j),
                    out_keys,
                    of_form=softmax_form(n, k),
                    of_args=tuple(net_keys),
                    wrt=net_keys[j],
                    layer=li,
                    index=j,
                )
                nb.jacobian.append(jk)
                pairs += [out[k].dE_dout, jk]
            nb.delta = b.partial(E, net_keys[j], "delta", dot_form(n), pairs, layer=li, index=j)
            if net.loss == "categorical_cross_entropy":
                nb.simplified = b.partial(
                    E,
                    net_keys[j],
                    "simplification",
                    difference_form(),
                    [out_keys[j], net.target_names()[j]],
                    note="simplified",
                    layer=li,
                    index=j,
                )
    else:
        pk = _key(layer.activation_params)
        for j, (r, nb) in enumerate(zip(row, out)):
            if layer.batch_norm:
                _bn_backward(b, net, li, j, r, nb, E)
                continue
            if layer.skip is not None:
                # out = f(net) + skip: the derivative by net is SymPy's of f alone, written in net
                skip_args = tuple(b.q[r.out].args)
                nb.dout_dnet = b.partial(
                    r.out,
                    r.net,
                    "factor",
                    dact_skip_form(layer.activation, pk, 0),
                    skip_args,
                    of_form=act_skip_form(layer.activation, pk),
                    of_args=skip_args,
                    wrt=r.net,
                    layer=li,
                    index=j,
                )
                num = E
                nb.delta = b.partial(
                    num, r.net, "delta", product_form(2), [nb.dE_dout, nb.dout_dnet], layer=li, index=j
                )
                continue
            nb.dout_dnet = b.partial(
                r.out,
                r.net,
                "factor",
                dact_form(layer.activation, pk),
                [r.net, r.out],
                of_form=act_form(layer.activation, pk),
                of_args=(r.net,),
                wrt=r.net,
                layer=li,
                index=j,
            )
            num = terms[j] if (is_output and mazur_names) else E
            nb.delta = b.partial(num, r.net, "delta", product_form(2), [nb.dE_dout, nb.dout_dnet], layer=li, index=j)
    return out


def _bn_backward(b, net: Network, li: int, j: int, r: NeuronForward, nb: NeuronBackward, E: str) -> None:
    """Back through y = gamma xhat + beta and xhat = (net - mu)/sqrt(var + eps) for one example: dout/dy, dE/dy,
    dy/dxhat, dE/dxhat, then dE/dnet through xhat, the batch variance and the batch mean."""
    layer = net.layers[li]
    pk = _key(layer.activation_params)
    mu, var, gamma, beta = (layer.bn_names(w)[j] for w in ("mu", "var", "gamma", "beta"))
    nb.dout_dy = b.partial(
        r.out,
        r.y,
        "factor",
        dact_form(layer.activation, pk),
        [r.y, r.out],
        of_form=act_form(layer.activation, pk),
        of_args=(r.y,),
        wrt=r.y,
        layer=li,
        index=j,
    )
    nb.dE_dy = b.partial(E, r.y, "bn_grad", product_form(2), [nb.dE_dout, nb.dout_dy], layer=li, index=j)
    yargs = (gamma, r.xhat, beta)
    nb.dy_dxhat = b.partial(
        r.y, r.xhat, "factor", bn_dy_form(1), yargs, of_form=bn_y_form(), of_args=yargs, wrt=r.xhat, layer=li, index=j
    )
    nb.dE_dxhat = b.partial(E, r.xhat, "bn_grad", product_form(2), [nb.dE_dy, nb.dy_dxhat], layer=li, index=j)
    dvar, dmu = bn_grad_keys(net, li, j)
    nb.delta = b.partial(
        E,
        r.net,
        "delta",
        bn_dx_form(b.bn.m),
        [nb.dE_dxhat, r.net, mu, var, f"eps_L{li + 1}", dvar, dmu],
        layer=li,
        index=j,
    )


def _param_steps(b, net, li, forward, neurons, param_keys, new_keys, E, updates: bool = True) -> list[ParamStep]:
    layer = net.layers[li]
    row = forward[li]
    a_keys = list(net.input_names) if li == 0 else [r.read for r in forward[li - 1]]
    n_in = len(a_keys)
    wkeys, bkeys = param_keys[li]
    steps: list[ParamStep] = []
    if layer.weightless:  # no weights and no bias: nothing to differentiate or update
        return steps
    nform = net_form(n_in, layer.has_bias)

    def chain(j: int, dnet_key: str) -> list[str]:
        nb = neurons[j]
        if layer.rule.vector or layer.batch_norm:
            return [nb.delta, dnet_key]
        return [nb.dE_dout, nb.dout_dnet, dnet_key]

    def update(param: str, grad: str) -> str:
        if not updates:
            return ""
        # the update step itself, named (as an optimizer's "step" line) so that it can be shown and checked
        b.add(
            f"step[{param}]",
            "step",
            product_form(2),
            [ETA, grad],
            layer=li,
            label=Label("state", base=param, text=f"step[{param}]", num="step"),
        )
        return b.add(
            net.updated_name(param),
            "update",
            update_form(),
            [param, ETA, grad],
            layer=li,
            label=Label("updated", base=param, text=net.updated_name(param)),
        )

    for j, r in enumerate(row):
        nargs = b.q[r.net].args
        for i in range(n_in):
            w = wkeys[j][i]
            d = b.partial(
                r.net,
                w,
                "factor",
                dnet_form(n_in, 2 * i, layer.has_bias),
                nargs,
                of_form=nform,
                of_args=nargs,
                wrt=w,
                layer=li,
                index=j,
            )
            factors = chain(j, d)
            g = b.partial(E, w, "gradient", product_form(len(factors)), factors, layer=li, index=j)
            new = update(w, g)
            new_keys[li][0][j][i] = new or w
            steps.append(ParamStep(w, li, "weight", r.name, a_keys[i], factors, g, new))
    if not layer.has_bias:  # bias = false: no bias step (batch normalization's gamma and beta still follow)
        pass
    elif layer.shared_bias:
        bias = bkeys[0]
        chains, pairs = [], []
        for j, r in enumerate(row):
            nargs = b.q[r.net].args
            d = b.partial(
                r.net,
                bias,
                "factor",
                dnet_form(n_in, 2 * n_in),
                nargs,
                of_form=nform,
                of_args=nargs,
                wrt=bias,
                layer=li,
                index=j,
            )
            chains.append([neurons[j].delta, d])
            pairs += [neurons[j].delta, d]
        g = b.partial(E, bias, "gradient", dot_form(layer.size), pairs, layer=li)
        new = update(bias, g) if net.update_biases else ""
        if new:
            new_keys[li][1][:] = [new] * layer.size
        steps.append(ParamStep(bias, li, "bias", ", ".join(layer.neurons), "1", [], g, new, chains=chains))
    else:
        for j, r in enumerate(row):
            bias = bkeys[j]
            nargs = b.q[r.net].args
            d = b.partial(
                r.net,
                bias,
                "factor",
                dnet_form(n_in, 2 * n_in),
                nargs,
                of_form=nform,
                of_args=nargs,
                wrt=bias,
                layer=li,
                index=j,
            )
            factors = chain(j, d)
            g = b.partial(E, bias, "gradient", product_form(len(factors)), factors, layer=li, index=j)
            new = update(bias, g) if net.update_biases else ""
            if new:
                new_keys[li][1][j] = new
            steps.append(ParamStep(bias, li, "bias", r.name, "1", factors, g, new))
    if layer.batch_norm:
        # this example's share of gamma's and beta's gradients: dE/dy times dy/dgamma = xhat, dy/dbeta = 1
        for j, r in enumerate(row):
            nb = neurons[j]
            yargs = (layer.bn_names("gamma")[j], r.xhat, layer.bn_names("beta")[j])
            for what, pos in (("gamma", 0), ("beta", 2)):
                label = yargs[pos]
                d = b.partial(
                    r.y, label, "factor", bn_dy_form(pos), yargs, of_form=bn_y_form(), of_args=yargs, wrt=label,
                    layer=li, index=j,
                )  # fmt: skip
                g = b.partial(E, label, "gradient", product_form(2), [nb.dE_dy, d], layer=li, index=j)
                new = update(label, g)
                steps.append(
                    ParamStep(label, li, what, r.name, r.xhat if what == "gamma" else "1", [nb.dE_dy, d], g, new)
                )
    return steps


# -- a training step: a batch of examples, regularization, the optimizer ----------------------------------

_POOL = 48  # placeholders for an optimizer program's names


@lru_cache(maxsize=None)
def optimizer_forms(name: str) -> tuple[tuple[tuple[str, Form, tuple[str, ...]], ...], tuple[str, ...]]:
    """The optimizer's lines as Forms over one shared list of names (w, g, lr, t, hyperparameters, state)."""
    from ..spec import rules

    pool = placeholders(_POOL)
    names: list[str] = []

    def S(n: str):
        if n not in names:
            names.append(n)
        return pool[names.index(n)]

    program = rules.OPTIMIZERS[name].program(S, {})
    forms = []
    for line, expr in program:
        # each line over only the names it reads, in a fixed order
        used = [n for n in names if pool[names.index(n)] in expr.free_symbols]
        local = placeholders(len(used))
        expr = expr.xreplace({pool[names.index(n)]: q for n, q in zip(used, local)})
        forms.append((line, _form(expr, len(used)), tuple(used)))
    return tuple(forms), tuple(names)


@lru_cache(maxsize=None)
def share_form(m: int) -> Form:
    (x,) = placeholders(1)
    return _form(sp.Mul(sp.Rational(1, m), x, evaluate=False), 1, fn=lambda x: (1 / m) * x)


@lru_cache(maxsize=None)
def mean_form(m: int) -> Form:
    P = placeholders(m)
    return _form(
        sp.Mul(sp.Rational(1, m), sp.Add(*P, evaluate=False), evaluate=False), m, fn=lambda *a: (1 / m) * _sum(*a)
    )


@lru_cache(maxsize=None)
def reg_grad_form(kind: str) -> Form:
    lam, w = placeholders(2)
    expr = sp.Mul(2, lam, w, evaluate=False) if kind == "l2" else sp.Mul(lam, sp.sign(w), evaluate=False)
    return _form(expr, 2)


@lru_cache(maxsize=None)
def reg_loss_form(kind: str, n: int) -> Form:
    P = placeholders(n + 1)
    terms = [sp.Pow(p, 2, evaluate=False) if kind == "l2" else sp.Abs(p, evaluate=False) for p in P[1:]]
    return _form(sp.Mul(P[0], sp.Add(*terms, evaluate=False) if n > 1 else terms[0], evaluate=False), n + 1)


@lru_cache(maxsize=None)
def decay_form() -> Form:
    eta0, decay, epoch = placeholders(3)
    return _form(eta0 / (1 + decay * epoch), 3)


def explain_training_step(net: Network, step) -> TrainingWalk:
    """Walk through one step of a training run (a ``training.Step``): the symbolic engine recomputes it from
    the parameters, optimizer state, batch and dropout masks the step started from."""
    from dataclasses import replace

    from ..spec import rules
    from . import training
    from .steps import ParamUpdate

    R = rounder_for(net)
    tr = net.training
    E = net.notation["loss"]
    full_b = training.full_biases(net, step.b)
    base = net.with_params(step.W, full_b)
    masks_scale = 1.0 / (1.0 - tr.dropout_rate) if tr.dropout_inverted and tr.dropout_rate else 1.0
    if step.bn_before is not None:
        base = base.with_params(step.W, full_b, step.bn_before)
    ctx = BatchContext(len(step.examples)) if net.has_batch_norm else None

    def walks(forward_only: bool = False) -> list[Walkthrough]:
        out = []
        for ex in step.examples:
            x, t = net.examples[ex.index]
            ex_net = replace(base, inputs=x, targets=t)
            masks = None
            if ex.forward.masks is not None:
                masks = DropoutMasks(
                    [None if m is None else np.where(m != 0, 1.0, 0.0) for m in ex.forward.masks], masks_scale
                )
            out.append(
                explain_step(ex_net, masks=masks, gradients_only=True, prepare=False, bn=ctx, forward_only=forward_only)
            )
        return out

    b = _Builder(net, R)
    bn_layers = _bn_batch(b, base, walks, ctx) if ctx is not None else []
    examples = walks()
    m = len(examples)
    first = examples[0]
    # the parameters, as given leaves
    for p in first.params:
        if p.label not in b.q:
            b.given(p.label, "param", first.value(p.label), layer=p.layer)
    tw_batch = list(step.batch)
    loss_refs = []
    for k, w in enumerate(examples):
        key = E if m == 1 else f"{E}[e{k + 1}]"
        loss_refs.append(b.given(key, "example", w.value(w.loss)))
        if m > 1:
            b.labels[key] = Label("name", text=f"{E} (example {tw_batch[k] + 1})")
    reduce = sum_form(m) if tr.reduction == "sum" else mean_form(m)
    data_loss = loss_refs[0] if m == 1 else b.add(E, "loss", reduce, loss_refs)
    reg_loss = ""
    loss = data_loss
    if tr.regularization and tr.reg_lambda:
        b.given("lambda", "rate", tr.reg_lambda)
        regd = [p.label for p in first.params if p.kind == "weight" or (tr.reg_biases and p.kind == "bias")]
        reg_loss = b.add("R", "loss", reg_loss_form(tr.regularization, len(regd)), ["lambda", *regd])
        loss = b.add("J", "loss", sum_form(2), [data_loss, reg_loss])
    # the learning rate after decay, the step number and the optimizer's hyperparameters
    if tr.decay:
        b.given("eta0", "rate", net.learning_rate)
        b.given("decay", "rate", tr.decay)
        b.given("epoch", "rate", step.epoch)
        b.add(ETA, "rate", decay_form(), ["eta0", "decay", "epoch"])
    else:
        b.given(ETA, "rate", net.learning_rate)
    opt = rules.OPTIMIZERS[tr.optimizer]
    hyper = []
    for k, v in opt.params(tr.optimizer_params).items():
        hyper.append(b.given(k, "rate", v))
    forms, names = optimizer_forms(tr.optimizer)
    if "t" in names:
        hyper.append(b.given("t", "rate", step.number))

    if m > 1 and tr.reduction != "sum":
        # each example's share of the batch-mean gradient with respect to the output layer's net inputs
        # (the scores): delta / N, e.g. (p - y)/N under softmax with cross-entropy, named dE/dnet_o1[e2]/N
        for k, w in enumerate(examples):
            for nb, nf in zip(w.backward[0], w.forward[-1]):
                ref = b.given(f"{nb.delta}[e{k + 1}]", "example", w.value(nb.delta))
                b.labels[ref] = Label("partial", num=loss_refs[k], den=nf.net)  # example k's delta, dE^(k)/dnet
                b.add(f"{ref}/N", "share", share_form(m), [ref], Label("share", base=ref, text=f"{ref}/N"))
    updates = []
    gathered = []
    for p in first.params:
        if p.kind == "bias" and not net.update_biases:
            continue
        refs = []
        for k, w in enumerate(examples):
            key = p.gradient if m == 1 else f"{p.gradient}[e{k + 1}]"
            refs.append(b.given(key, "example", w.value(p.gradient), layer=p.layer))
            # example k's gradient is the derivative of its own loss E[ek], written E^(k); under batch
            # normalization, at and below a normalized layer, example k's term of the batch's summed loss's
            if m > 1 and w.labels[p.gradient].num == batch_loss(net):
                b.labels[key] = Label("partial", num=batch_loss(net), den=f"{p.label}[e{k + 1}]")
                b.labels.setdefault(f"{p.label}[e{k + 1}]", Label("name", text=f"{p.label}[e{k + 1}]"))
            else:
                b.labels[key] = Label("partial", num=E if m == 1 else loss_refs[k], den=p.label)
        mean = (
            refs[0]
            if m == 1
            else b.add(p.gradient, "gradient", reduce, refs, Label("partial", num=E, den=p.label), layer=p.layer)
        )
        reg = ""
        total = mean
        if tr.regularization and tr.reg_lambda and (p.kind == "weight" or (tr.reg_biases and p.kind == "bias")):
            reg = b.add(
                f"dR/d{p.label}",
                "gradient",
                reg_grad_form(tr.regularization),
                ["lambda", p.label],
                Label("partial", num="R", den=p.label),
                layer=p.layer,
            )
            total = b.add(f"g[{p.label}]", "gradient", sum_form(2), [mean, reg], layer=p.layer)
        gathered.append((p, refs, mean, reg, total))
    clip = _clip(b, net, [g[4] for g in gathered], [g[0] for g in gathered]) if tr.clipped else None
    for idx, (p, refs, mean, reg, total) in enumerate(gathered):
        clipped = ""
        if clip is not None:
            clipped = clip.clipped[idx]
            total_for_opt = clipped
        else:
            total_for_opt = total
        key_of: dict[str, str] = {"w": p.label, "g": total_for_opt, "lr": ETA, "t": "t"}
        key_of.update({h: h for h in opt.defaults})
        state_before = []
        li, kind = p.layer, {"weight": "W", "bias": "b"}.get(p.kind, p.kind)
        for s_name in opt.state:
            prev = _state_value(net, step, li, kind, p, s_name)
            key_of[f"{s_name}_prev"] = b.given(f"{s_name}_prev[{p.label}]", "state", prev, layer=li)
            b.labels[key_of[f"{s_name}_prev"]] = Label("state", base=p.label, num=f"{s_name}_prev")
            state_before.append(key_of[f"{s_name}_prev"])
        lines = []
        for line, form, used in forms:
            target = net.updated_name(p.label) if line == "w+" else f"{line}[{p.label}]"
            args = [key_of[n] for n in used]
            key_of[line] = target
            label = (
                Label("updated", base=p.label, text=target)
                if line == "w+"
                else Label("state", base=p.label, text=target, num=line)
            )
            qkind = {"w+": "update", "step": "step"}.get(line, "state")
            lines.append(b.add(target, qkind, form, args, label, layer=li))
        updates.append(
            ParamUpdate(p.label, li, p.kind, refs, mean, reg, total, lines, state_before, lines[-1], clipped=clipped)
        )
    return TrainingWalk(
        net,
        net.conventions,
        step.number,
        step.epoch,
        list(step.batch),
        examples,
        b.q,
        b.labels,
        updates,
        data_loss,
        reg_loss,
        loss,
        ETA,
        hyper,
        clip=clip,
        batch_norm=_bn_running(b, base, bn_layers),
    )


@lru_cache(maxsize=None)
def squares_form(n: int) -> Form:
    """g_1^2 + ... + g_n^2 over every gradient (a sum a page can break), args (g_1..g_n)."""
    P = placeholders(n)
    squares = [sp.Pow(p, 2, evaluate=False) for p in P]
    return _form(sp.Add(*squares, evaluate=False) if n > 1 else squares[0], n)


@lru_cache(maxsize=None)
def sqrt_form() -> Form:
    """The global L2 norm sqrt(S) from the sum of squares S, as clip_grad_norm_ computes it."""
    return _form(sp.sqrt(placeholders(1)[0], evaluate=False), 1)


@lru_cache(maxsize=None)
def clip_scale_form() -> Form:
    """min(1, c / (norm + eps)): the factor clip_grad_norm_ multiplies every gradient by."""
    c, norm, eps = placeholders(3)
    return _form(sp.Min(1, c / (norm + eps)), 3)


@lru_cache(maxsize=None)
def clip_value_form() -> Form:
    """max(-c, min(c, g)): clip_grad_value_ on one gradient entry, args (g, c)."""
    g, c = placeholders(2)
    return _form(sp.Max(-c, sp.Min(c, g)), 2)


def _clip(b: _Builder, net: Network, totals: list[str], params: list):
    from .steps import ClipRecord
    from .training import CLIP_EPS

    tr = net.training
    if tr.clip_norm is not None:
        given = [b.given("clip_norm", "rate", tr.clip_norm), b.given("clip_eps", "rate", CLIP_EPS)]
        squares = b.add("sumsq[g]", "clip", squares_form(len(totals)), totals)
        norm = b.add("norm[g]", "clip", sqrt_form(), [squares])
        scale = b.add("clip_scale", "clip", clip_scale_form(), ["clip_norm", norm, "clip_eps"])
        clipped = [
            b.add(f"g_clip[{p.label}]", "clip", product_form(2), [g, scale], layer=p.layer)
            for g, p in zip(totals, params)
        ]
        return ClipRecord("norm", given, [squares, norm, scale], clipped)
    given = [b.given("clip_value", "rate", tr.clip_value)]
    clipped = [
        b.add(f"g_clip[{p.label}]", "clip", clip_value_form(), [g, "clip_value"], layer=p.layer)
        for g, p in zip(totals, params)
    ]
    return ClipRecord("value", given, [], clipped)


def _bn_batch(b: _Builder, net: Network, walks, ctx: BatchContext) -> list[BatchNormLayer]:
    """Batch normalization over the batch, layer by layer as Ioffe and Szegedy compute it: forward, each
    layer's mu and var once every example's walk has reached its net inputs; backward (last layer first),
    dE/dvar and dE/dmu once every example has brought its dE/dxhat. Each value joins ``ctx`` for the next
    walks; the examples' values enter as the step's copies, named per example."""
    m = ctx.m
    E = net.notation["loss"]
    norm = [li for li, l in enumerate(net.layers) if l.batch_norm]
    records = {}
    for li in norm:
        layer = net.layers[li]
        ws = walks(forward_only=True)
        eps = f"eps_L{li + 1}"
        mom = f"momentum_L{li + 1}"
        b.given(eps, "rate", layer.epsilon, layer=li)
        b.given(mom, "rate", layer.momentum, layer=li)
        rec = BatchNormLayer(li, list(layer.neurons), [eps, mom], [], [], [], [], [])
        for j in range(layer.size):
            nets = [
                b.given(f"{layer.net_names[j]}[e{k + 1}]", "example", w.value(layer.net_names[j]), layer=li, index=j)
                for k, w in enumerate(ws)
            ]
            mu = b.add(layer.bn_names("mu")[j], "batch", mean_form(m), nets, layer=li, index=j)
            ctx.values[mu] = b.q[mu].value
            var = b.add(layer.bn_names("var")[j], "batch", bn_var_form(m), nets + [mu], layer=li, index=j)
            ctx.values[var] = b.q[var].value
            rec.nets.append(nets)
            rec.stats.append([mu, var])
        records[li] = rec
    for li in reversed(norm):
        layer = net.layers[li]
        ws = walks()
        rec = records[li]
        eps = f"eps_L{li + 1}"
        for j in range(layer.size):
            xh = layer.bn_names("xhat")[j]
            dxh = [
                b.given(f"d{E}/d{xh}[e{k + 1}]", "example", w.value(f"d{E}/d{xh}"), layer=li, index=j)
                for k, w in enumerate(ws)
            ]
            for k, key in enumerate(dxh):
                # written with example k's xhat, xhat⁽ᵏ⁾ (a name of the examples' walks, not of this step)
                b.labels[key] = Label("partial", num=batch_loss(net), den=f"{xh}[e{k + 1}]")
                b.labels.setdefault(f"{xh}[e{k + 1}]", Label("name", text=f"{xh}[e{k + 1}]"))
            mu, var = rec.stats[j]
            pairs = [a for k in range(m) for a in (dxh[k], rec.nets[j][k])]
            # the keys bn_grad_keys names, which the examples' walks read
            dvar = b.partial(E, var, "batch", bn_dvar_form(m), pairs + [mu, var, eps], layer=li, index=j)
            ctx.values[dvar] = b.q[dvar].value
            dmu = b.partial(E, mu, "batch", bn_dmu_form(m), pairs + [mu, var, eps, dvar], layer=li, index=j)
            ctx.values[dmu] = b.q[dmu].value
            for key, den in ((dvar, var), (dmu, mu)):
                b.labels[key] = Label("partial", num=batch_loss(net), den=den)
            rec.dxhat.append(dxh)
            rec.grads.append([dvar, dmu])
    return [records[li] for li in norm]


def _bn_running(b: _Builder, net: Network, records: list[BatchNormLayer]) -> list[BatchNormLayer]:
    """The running statistics for inference after the step, PyTorch's: (1 - momentum) running + momentum
    statistic, with the batch's unbiased variance var m/(m - 1) for running_var."""
    for rec in records:
        layer = net.layers[rec.layer]
        m = len(rec.nets[0])
        mom = rec.given[1]
        for j in range(layer.size):
            mu, var = rec.stats[j]
            rm = b.given(layer.bn_names("running_mean")[j], "state", layer.running_mean[j], layer=rec.layer, index=j)
            rv = b.given(layer.bn_names("running_var")[j], "state", layer.running_var[j], layer=rec.layer, index=j)
            new = []
            for key, form, stat in ((rm, bn_running_form(), mu), (rv, bn_running_form(m), var)):
                target = net.updated_name(key)
                new.append(
                    b.add(target, "running", form, [mom, key, stat], Label("updated", base=key, text=target), layer=rec.layer, index=j)
                )  # fmt: skip
            rec.running.append([rm, rv, *new])
    return records


def _state_value(net: Network, step, li: int, kind: str, p, s_name: str) -> float:
    """The optimizer state of one parameter before the step, read from the numeric run's record."""
    arr = step.state.get((kind, li), {}).get(s_name)
    if arr is None:
        return 0.0
    layer = net.layers[li]
    if kind in ("gamma", "beta"):
        return float(arr[layer.bn_names(kind).index(p.label)])
    if kind == "W":
        for j, row in enumerate(layer.weight_labels):
            if p.label in row:
                return float(arr[j, row.index(p.label)])
    return float(arr[0 if layer.shared_bias else layer.bias_labels.index(p.label)])


# -- before the forward pass: feature scaling (seed 000) and drawn weights (seed 002) -------------------------


@lru_cache(maxsize=None)
def stat_form(name: str, m: int) -> Form:
    """A statistic of one input over m examples: mean (1/m) sum x_k, min, max, args (x_1..x_m); the
    population standard deviation sqrt((1/m) sum (x_k - mu)^2), args (mu, x_1..x_m)."""
    if name == "mean":
        return mean_form(m)
    if name == "std":
        P = placeholders(m + 1)
        mu, xs = P[0], P[1:]
        dev = [sp.Pow(sp.Add(x, sp.Mul(-1, mu, evaluate=False), evaluate=False), 2, evaluate=False) for x in xs]
        inner = sp.Mul(sp.Rational(1, m), sp.Add(*dev, evaluate=False), evaluate=False)
        return _form(sp.sqrt(inner, evaluate=False), m + 1)
    P = placeholders(m)
    return _form(sp.Min(*P) if name == "min" else sp.Max(*P), m, fn=min if name == "min" else max)


@lru_cache(maxsize=None)
def scaled_form(name: str) -> Form:
    """The scaled input in the registry's SymPy form, args (x, then the rule's statistics in its order)."""
    rule = rules.SCALINGS[name]
    P = placeholders(1 + len(rule.stats))
    expr = rule.sym(P[0], dict(zip(rule.stats, P[1:])))
    return _form(expr, len(P))


@lru_cache(maxsize=None)
def init_form(name: str) -> Form:
    """The bound or standard deviation of an initialization, args (fan_in, fan_out)."""
    fi, fo = placeholders(2)
    return _form(rules.INITS[name].sym(fi, fo), 2)


STAT_NAMES = {"mean": "mu", "std": "sigma", "min": "min", "max": "max"}


def explain_preparation(net: Network) -> Preparation:
    """Feature scaling and drawn weights on their own, for a training document (whose steps start from them)."""
    return _prepare(_Builder(net, rounder_for(net)), net)


def _prepare(b: _Builder, net: Network) -> Preparation:
    stats: list[list[str]] = []
    examples: list[list[tuple[str, str]]] = []
    validation: list[list[tuple[str, str]]] = []
    if net.scaling:
        rule = rules.SCALINGS[net.scaling]
        m = len(net.raw_examples)
        for k, (x, _) in enumerate(net.raw_examples):
            for name, v in zip(net.input_names, x):
                b.given(f"{name}_raw[e{k + 1}]", "input", v, index=k)
        for i, name in enumerate(net.input_names):
            raw = [f"{name}_raw[e{k + 1}]" for k in range(m)]
            keys: dict[str, str] = {}
            for st in rule.stats:  # the mean comes first where the standard deviation needs it
                args = [keys["mean"], *raw] if st == "std" else raw
                keys[st] = b.add(f"{STAT_NAMES[st]}[{name}]", "stat", stat_form(st, m), args, index=i)
            stats.append([keys[s] for s in rule.stats])

        def scale(rows, tag: str) -> list[list[tuple[str, str]]]:
            out = []
            for k in range(len(rows)):
                row = []
                for i, name in enumerate(net.input_names):
                    raw = f"{name}_raw[{tag}{k + 1}]"
                    key = b.add(f"{name}[{tag}{k + 1}]", "scaled", scaled_form(net.scaling), [raw, *stats[i]], index=k)
                    row.append((raw, key))
                out.append(row)
            return out

        examples = scale(net.raw_examples, "e")
        if net.training.raw_validation:
            for k, (x, _) in enumerate(net.training.raw_validation):
                for name, v in zip(net.input_names, x):
                    b.given(f"{name}_raw[v{k + 1}]", "input", v, index=k)
            validation = scale(net.training.raw_validation, "v")
    init: list[InitLayer] = []
    for li in net.init_layers:
        layer = net.layers[li]
        tag = f"L{li + 1}"
        fi = b.given(f"fan_in[{tag}]", "given", layer.weights.shape[1], layer=li)
        fo = b.given(f"fan_out[{tag}]", "given", layer.weights.shape[0], layer=li)
        rule = rules.INITS[net.init]
        word = "bound" if rule.distribution == "uniform" else "std"
        scale_key = b.add(f"{word}[{tag}]", "init", init_form(net.init), [fi, fo], layer=li)
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                b.given(w, "param", layer.weights[j, i], layer=li, index=j)
        init.append(InitLayer(li, net.init, fi, fo, scale_key, [list(r) for r in layer.weight_labels]))
    return Preparation(net, net.conventions, b.q, b.labels, net.scaling, stats, examples, validation, init)
