"""A step from given gradients (``[graph.gradients]`` of a graph spec): each parameter's gradient given per
example, reduced over the batch by their mean or sum, then one update of the optimizer registry.

Worked solutions often start there: "example 1 gives these gradients, example 2 those; average them and take
a step". The table is written out as the graph's own leaves and assignments, so that ``explain`` shows every
line (the reduction, the optimizer's state, the step, the new value) gate by gate in every format and every
line is a node ``check`` can be asked about. The optimizer's lines come from its program in
``rules.OPTIMIZERS`` (one registry), printed as graph expressions by SymPy's string printer.

Names: the gradient of parameter ``w`` from example k is the leaf ``g_w_ek`` (``g_w`` itself when there is
one example), the reduced gradient ``g_w``, the learning rate ``eta``, a hyperparameter its registry name
(``mu``, ``beta1``), a state's previous value ``v_w_prev`` (given in ``[graph.gradients.state]``, else 0),
an optimizer line ``<line>_w`` (``v_w``, ``mhat_w``, ``step_w``) and the updated parameter ``w_new``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .errors import SpecError

REDUCTIONS = ("mean", "sum")
_KEYS = {"reduction", "optimizer", "learning_rate", "t", "given", "parameters", "hyper", "state"}
MAX_EXAMPLES = 20


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a number, got {value!r:.40}", where)
    x = float(value)
    if not math.isfinite(x):
        raise SpecError(f"expected a finite number, got {value!r:.40}", where)
    return x


def _table(t: Mapping, key: str, place: str, example: str) -> Mapping:
    value = t.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"expected a table: [graph.gradients.{key}] {example}", f"{place}.{key}")
    return value


def expand(t: Any, place: str, check_name) -> tuple[dict[str, float], dict[str, str], str]:
    """The leaves, the assignments (in order) and a one-line summary that ``[graph.gradients]`` stands for.
    ``check_name`` is the graph reader's name rule (every generated name must pass it too)."""
    from sympy import Integer, Symbol, sstr

    from .rules import OPTIMIZERS, optimizer

    if not isinstance(t, Mapping):
        raise SpecError('expected a table: [graph.gradients] reduction = "mean"', place)
    for key in t:
        if key not in _KEYS:
            raise SpecError(f"unknown key; allowed here: {', '.join(sorted(_KEYS))}", f"{place}.{key}")
    reduction = t.get("reduction", "mean")
    if reduction not in REDUCTIONS:
        raise SpecError(f"{reduction!r:.40} is not allowed; allowed: mean, sum", f"{place}.reduction")
    given = _table(t, "given", place, "w1 = [1.5, 1.2] (the gradient of w1 from each example)")
    if not given:
        raise SpecError("expected each parameter's gradients, one per example: w1 = [1.5, 1.2]", f"{place}.given")
    sizes = set()
    grads: dict[str, list[float]] = {}
    for w, values in given.items():
        at = f"{place}.given.{w}"
        check_name(w, at)
        values = values if isinstance(values, list) else [values]
        if not 1 <= len(values) <= MAX_EXAMPLES:
            raise SpecError(f"expected 1 to {MAX_EXAMPLES} gradients (one per example)", at)
        grads[w] = [_num(v, f"{at}[{k}]") for k, v in enumerate(values)]
        sizes.add(len(values))
    if len(sizes) > 1:
        raise SpecError("every parameter needs one gradient per example, the same number each", f"{place}.given")
    m = sizes.pop()
    params = _table(t, "parameters", place, "w1 = 0.5 (the values before the step)")
    for w in params:
        if w not in grads:
            raise SpecError(f"{w!r:.40} has no gradients in [graph.gradients.given]", f"{place}.parameters.{w}")
    opt_name = t.get("optimizer", "sgd")
    opt = optimizer(opt_name, f"{place}.optimizer")
    hyper_given = _table(t, "hyper", place, "mu = 0.9")
    for k in hyper_given:
        if k not in opt.defaults:
            allowed = ", ".join(opt.defaults) or "none"
            raise SpecError(f"not a hyperparameter of {opt.name}; allowed: {allowed}", f"{place}.hyper.{k}")
    hyper = opt.params({k: _num(v, f"{place}.hyper.{k}") for k, v in hyper_given.items()})
    state_given = _table(t, "state", place, "w1 = { v = -0.5 }")
    for w, st in state_given.items():
        if w not in params:
            raise SpecError("a state is kept for a parameter of [graph.gradients.parameters]", f"{place}.state.{w}")
        if not isinstance(st, Mapping) or any(k not in opt.state for k in st):
            allowed = ", ".join(opt.state) or "none"
            raise SpecError(
                f"expected the optimizer's state by name ({allowed}), e.g. {{ v = -0.5 }}", f"{place}.state.{w}"
            )
    if params and "learning_rate" not in t:
        raise SpecError("missing key 'learning_rate' (the step size of the update)", place)
    step_no = t.get("t", 1)
    if isinstance(step_no, bool) or not isinstance(step_no, int) or not 1 <= step_no <= 10_000:
        raise SpecError(f"expected the step number, a whole number from 1 to 10000, got {step_no!r:.40}", f"{place}.t")

    leaves: dict[str, float] = {}
    assign: dict[str, str] = {}
    for w, gs in grads.items():
        if m == 1:
            leaves[f"g_{w}"] = gs[0]
            continue
        for k, g in enumerate(gs, 1):
            leaves[f"g_{w}_e{k}"] = g
        total = " + ".join(f"g_{w}_e{k}" for k in range(1, m + 1))
        assign[f"g_{w}"] = f"({total}) / {m}" if reduction == "mean" else total
    if params:
        leaves["eta"] = _num(t["learning_rate"], f"{place}.learning_rate")
        leaves.update(hyper)
    for w, value in params.items():
        leaves[w] = _num(value, f"{place}.parameters.{w}")
        st = state_given.get(w, {})
        for s in opt.state:
            leaves[f"{s}_{w}_prev"] = _num(st.get(s, 0.0), f"{place}.state.{w}.{s}")

        def S(name: str, w=w):
            if name == "t":
                return Integer(step_no)
            if name == "w":
                return Symbol(w)
            if name == "g":
                return Symbol(f"g_{w}")
            if name == "lr":
                return Symbol("eta")
            if name.endswith("_prev"):
                return Symbol(f"{name[:-5]}_{w}_prev")
            if name in hyper:
                return Symbol(name)
            return Symbol(f"{name}_{w}")  # an earlier line of the program

        for line, expr in opt.program(S, hyper):
            assign[f"{w}_new" if line == "w+" else f"{line}_{w}"] = sstr(expr, order="rev-lex")
    for name in [*leaves, *assign]:
        check_name(name, f"{place} (the name {name} it gives)")
    what = (
        f"the gradients of {m} examples {'averaged' if reduction == 'mean' else 'summed'}"
        if m > 1
        else "the given gradients"
    )
    if params:
        what += f", then one step of {OPTIMIZERS[opt.name].title or opt.name}"
    return leaves, assign, what
