"""The symbolic engine's local forms: each derived by SymPy once per kind, in positional placeholders, and
lambdified once; every neuron, weight or statistic of that kind binds the same form to its own quantities."""

from __future__ import annotations

import math
import operator
from functools import lru_cache

import sympy as sp

from ..spec import rules
from ..spec.layers import LAYER_KINDS
from . import formcache
from .steps import Form, placeholder_index
from .symbols import placeholders


def _heaviside(x, h0=0.0):
    # The subgradient convention at the kink is 0, as the numeric engine's (x > 0).
    return 1.0 if x > 0 else 0.0


def _exp(x):
    # e^x past the float range is inf, as in NumPy, so 1/(1 + e^-x) saturates to 0 instead of raising
    return math.exp(x) if x < 709.0 else math.inf


def _log1pexp(x):
    # ln(1 + e^x) without overflow (softplus): x itself, to double precision, once e^x passes the float range
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


_W = sp.Wild("w")
_LOG1PEXP = sp.Function("_log1pexp")


def _form(expr, n: int, fn=None) -> Form:
    """A Form; ``fn`` evaluates the structural ones (sums, products) in the order lambdify's code would,
    so only real formulas pay for lambdify's code generation."""
    P = placeholders(n)
    at = placeholder_index(expr, P) if fn is None else -1
    if at >= 0:
        fn = operator.itemgetter(at) if n > 1 else (lambda x: x)
        if n > 1:
            getter = fn
            fn = lambda *a: getter(a)  # noqa: E731
    if fn is None:
        # evaluated as written, except ln(1 + e^x), which is evaluated without overflowing (the printed form,
        # expr, keeps its textbook shape)
        code = expr.replace(sp.log(sp.exp(_W) + 1), _LOG1PEXP(_W)) if expr.has(sp.log) else expr
        fn = sp.lambdify(P, code, modules=[{"Heaviside": _heaviside, "exp": _exp, "_log1pexp": _log1pexp}, "math"])
    return Form(expr, fn, P)


# The forms that SymPy differentiates: derived once per process here (one decorator, so that a cache kept between
# runs wraps them all in one place).
# the form functions below derive once per machine: their forms are kept in the user's cache (formcache)
derived = formcache.deriver(_form)


def _elementwise(fn):
    """Mark an evaluator made of + and * alone: given NumPy arrays it evaluates every lane with the same float
    operations, in the same order, as given floats (``precision`` takes a line's slopes in one call so)."""
    fn.elementwise = True
    return fn


@_elementwise
def _sum(*a):
    total = a[0]
    for x in a[1:]:
        total = total + x
    return total


@_elementwise
def _prod(*a):
    total = a[0]
    for x in a[1:]:
        total = total * x
    return total


@_elementwise
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
    """A dense neuron's net = w_1 a_1 + ... + w_n a_n + b * 1, args (w_1, a_1, ..., w_n, a_n, b), in the source's
    order (the dense kind's sym_net); without ``bias`` (a layer with ``bias = false``) the same sum without its
    last term and argument."""
    n = 2 * n_in + (1 if bias else 0)
    expr = LAYER_KINDS["dense"].sym_net(placeholders(n), n_in, bias)
    return _form(expr, n, fn=_dot if not bias else _dot_bias)


@_elementwise
def _dot_bias(*a):
    """w_1 a_1 + ... + w_n a_n + 1·b, as net_form writes it."""
    return _dot(*a[:-1]) + 1 * a[-1]


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
def softmax_form(n: int, k: int, name: str = "softmax") -> Form:
    """Output k of a vector activation (softmax, log_softmax) of n net inputs."""
    return _form(rules.ACTIVATIONS[name].sym_vector(list(placeholders(n)), {})[k], n)


@derived
def softmax_jac_form(n: int, k: int, j: int, name: str = "softmax") -> Form:
    """dout_k/dnet_j of a vector activation, written in its n outputs."""
    return _form(rules.ACTIVATIONS[name].sym_jacobian(k, j, list(placeholders(n))), n)


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


@lru_cache(maxsize=None)
def input_gradient_form(n: int) -> Form:
    """dE/dx_i = w_1i delta_1 + ... + w_ni delta_n, args (w_1i, delta_1, ..., w_ni, delta_n)."""
    P = placeholders(2 * n)
    terms = [sp.Mul(P[2 * j], P[2 * j + 1], evaluate=False) for j in range(n)]
    return _form(sp.Add(*terms, evaluate=False) if n > 1 else terms[0], 2 * n, fn=_dot)


@derived
def dkept_form() -> Form:
    """d(out * mask * scale)/d out, derived by SymPy: mask * scale."""
    return _form(sp.diff(product_form(3).expr, placeholders(3)[0]), 3)


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


# -- the local forms of the other layer kinds (tutor/spec/layers/), derived once per kind and window size ------


@lru_cache(maxsize=None)
def kind_form(kind: str, n: int) -> Form:
    """A pooling window's value over its n inputs, as the kind's module writes it (max, or the mean)."""
    from ..spec.layers import LAYER_KINDS

    fn = (lambda *a: max(a)) if kind == "max_pool" else None  # max of floats as Python's max: the first of equals
    return _form(LAYER_KINDS[kind].sym_net(placeholders(n), n), n, fn=fn)


@derived
def dkind_form(kind: str, n: int, position: int) -> Form:
    """d(window value)/d(input at ``position``) of kind_form, derived by SymPy (average pooling: 1/n)."""
    return _form(sp.diff(kind_form(kind, n).expr, placeholders(n)[position]), n)


@lru_cache(maxsize=None)
def zero_form() -> Form:
    """0: the gradient of a value no later quantity reads (an input no pooling window chose)."""
    return Form(sp.Integer(0), lambda: 0.0, ())


@lru_cache(maxsize=None)
def rnn_step_form(n_pairs: int, bias: bool) -> Form:
    """A recurrent step's sum over its (weight, value) pairs and its two biases (the rnn kind's sym_step)."""
    from ..spec.layers import LAYER_KINDS

    n = 2 * n_pairs + (2 if bias else 0)
    return _form(LAYER_KINDS["rnn"].sym_net(placeholders(n), n_pairs, bias), n)


@derived
def drnn_step_form(n_pairs: int, bias: bool, position: int) -> Form:
    """d(step sum)/d(argument at ``position``), derived by SymPy: the weight, the value, or 1."""
    n = 2 * n_pairs + (2 if bias else 0)
    return _form(sp.diff(rnn_step_form(n_pairs, bias).expr, placeholders(n)[position]), n)


@lru_cache(maxsize=None)
def ratio_form() -> Form:
    """a / b: how much a gradient's size changes from one time step to the one before it."""
    a, b = placeholders(2)
    return _form(sp.Mul(a, sp.Pow(b, -1, evaluate=False), evaluate=False), 2, fn=lambda a, b: a / b)
