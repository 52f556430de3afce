"""Golden files hold on every IEEE-754 machine: every golden case, rendered with the results of the math
functions both engines call moved by a few ulps (as another CPU, libm or summation order moves them), gives
the committed golden files byte for byte, in every format.
"""

from __future__ import annotations

import math
import sys
from functools import wraps

import numpy as np
import pytest
import sympy.utilities.lambdify  # noqa: F401  (the module, not the function of that name)

from tutor.engine import symbolic, symbols
from tutor.engine.gradcheck import gradient_check
from tutor.engine.symbolic import explain_step
from tutor.spec import load

from . import test_render, test_training_render

# What the numeric engine, the rule registry and the optimizers call (np.*), and what the symbolic engine's
# lambdified forms call (math.*, through SymPy's namespace of the math module).
NUMPY_FUNCTIONS = ("exp", "expm1", "log", "log1p", "logaddexp", "tanh", "sqrt", "sum", "mean")
MATH_FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "sqrt")
ULPS = (2, -3, 4, -4)

_spacing, _isfinite, _where, _asarray = np.spacing, np.isfinite, np.where, np.asarray


def _nudge(value, ulps: int):
    """``value`` moved by ``ulps`` units in the last place (finite floats only; ints and inf stay)."""
    if isinstance(value, float):
        return value + ulps * float(_spacing(value)) if math.isfinite(value) else value
    arr = _asarray(value)
    if arr.dtype.kind != "f":
        return value
    moved = _where(_isfinite(arr), arr + ulps * _spacing(arr), arr)
    return moved if isinstance(value, np.ndarray) else moved[()]


def _perturbed(fn, ulps: int):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        return _nudge(fn(*args, **kwargs), ulps)

    return wrapper


def _clear_engine_caches():
    # The symbolic engine lambdifies each kind of form once; the forms capture the math functions of the time.
    for module in (symbolic, symbols):
        for obj in vars(module).values():
            if callable(getattr(obj, "cache_clear", None)):
                obj.cache_clear()


@pytest.fixture
def perturb(monkeypatch):
    """A function that moves every result of the engines' math functions by ``ulps`` from then on."""
    _clear_engine_caches()
    lambdify_module = sys.modules["sympy.utilities.lambdify"]
    lambdify_module._import("math")  # fills SymPy's namespace of the math module, which lambdify copies
    namespace = lambdify_module.MATH

    def apply(ulps: int):
        for name in NUMPY_FUNCTIONS:
            monkeypatch.setattr(np, name, _perturbed(getattr(np, name), ulps))
        for name in MATH_FUNCTIONS:
            monkeypatch.setattr(math, name, _perturbed(getattr(math, name), ulps))
            monkeypatch.setitem(namespace, name, _perturbed(namespace[name], ulps))
        # fresh renderings: the test modules keep what they rendered before
        monkeypatch.setattr(test_render, "_cache", {})
        monkeypatch.setattr(test_training_render, "_cache", {})

    yield apply
    monkeypatch.undo()
    _clear_engine_caches()


def _golden(case: str, fmt: str, ext: str) -> str:
    return (test_render.GOLDEN / case / fmt / f"walkthrough.{ext}").read_text(encoding="utf-8")


# computed at import, before any perturbation
MAZUR_VALUES = explain_step(load("mazur")).values()


@pytest.mark.parametrize("ulps", ULPS)
def test_golden_files_survive_perturbed_math(perturb, ulps):
    unperturbed = gradient_check(load("mazur"))
    perturb(ulps)
    moved = gradient_check(load("mazur"))
    # the perturbation reaches both engines and the finite differences (else this test proves nothing)
    assert explain_step(load("mazur")).values() != MAZUR_VALUES
    assert [r.numeric for r in moved.rows] != [r.numeric for r in unperturbed.rows]
    assert [r.finite_difference for r in moved.rows] != [r.finite_difference for r in unperturbed.rows]
    differing = []
    for case in test_render.CASES:
        for fmt, ext in test_render.FORMATS.items():
            if test_render.rendered(case, fmt) != _golden(case, fmt, ext):
                differing.append(f"{case}/{fmt}")
    for case, outputs in test_training_render.CASES.items():
        for fmt, out in outputs(case).items():
            if out != _golden(case, fmt, test_training_render.EXT[fmt]):
                differing.append(f"{case}/{fmt}")
    assert not differing, f"golden files that depend on the last bits of a float: {differing}"


def test_the_real_math_functions_are_back_afterwards():
    walk = explain_step(load("mazur"))
    assert walk.values() == MAZUR_VALUES
    assert np.exp(1.0) == math.exp(1.0) == 2.718281828459045
