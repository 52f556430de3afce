"""Golden files hold only what every IEEE-754 machine prints alike, and the caches stay bounded.

The perturbation test renders every golden case with the transcendental functions the engines call
(NumPy's exp, log, tanh, expm1, logaddexp and Python's math.exp, log, tanh) returning results a few ulps
off, as another CPU's kernels or another libm may, and finds the rendered text byte-identical to the
golden file: no shown digit depends on the last bits of a float.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from . import test_render, test_training_render

ULPS = 4.0 * np.finfo(float).eps  # results scaled by 1 + 4 ulp: off in the last two or three bits


def _perturbed(fn, sign: float):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        return out * (1.0 + sign * ULPS)

    return wrapped


@pytest.fixture(params=[1.0, -1.0], ids=["up", "down"])
def perturbed_math(request, monkeypatch):
    sign = request.param
    for name in ("exp", "log", "tanh", "expm1", "logaddexp"):
        monkeypatch.setattr(np, name, _perturbed(getattr(np, name), sign))
    for name in ("exp", "log", "tanh"):
        monkeypatch.setattr(math, name, _perturbed(getattr(math, name), sign))
    return sign


def _golden(folder: str, case: str, fmt: str, ext: str) -> str:
    return (Path(__file__).parent / "golden" / case / fmt / f"walkthrough.{ext}").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", test_render.CASES)
def test_walkthrough_goldens_survive_a_few_ulps(case, perturbed_math):
    from tutor.engine.gradcheck import gradient_check
    from tutor.engine.symbolic import explain_step
    from tutor.render import Options

    make, notation = test_render.CASES[case]
    net = make()
    walk, check = explain_step(net), gradient_check(net)
    assert np.exp(0.0) != 1.0  # the perturbation is in force
    for fmt, ext in test_render.FORMATS.items():
        out = test_render.RENDERERS[fmt](walk, check=check, options=Options(notation=notation))
        assert out == _golden("golden", case, fmt, ext), f"{case}/{fmt} changes with the last bits of exp/log/tanh"


@pytest.mark.parametrize("case", test_training_render.CASES)
def test_training_and_view_goldens_survive_a_few_ulps(case, perturbed_math):
    test_training_render._cache.pop(case, None)
    try:
        outputs = test_training_render.CASES[case](case)
    finally:
        test_training_render._cache.pop(case, None)  # the golden test renders it afresh, unperturbed
    for fmt, ext in test_training_render.EXT.items():
        assert outputs[fmt] == _golden("golden", case, fmt, ext), f"{case}/{fmt} changes with the last bits"


def test_the_template_cache_is_bounded(tmp_path, monkeypatch):
    """The compiled-template cache is pruned to its limit, oldest first, and a user's template folder is
    never cached at all."""
    from tutor.render import templates

    for k in range(40):
        f = tmp_path / f"__jinja2_{k:02d}.cache"
        f.write_bytes(b"x" * 1000)
        import os

        os.utime(f, ns=(k * 10**9, k * 10**9))
    templates.prune(tmp_path, 10_500)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f"__jinja2_{k:02d}.cache" for k in range(30, 40)]
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("BACKPROP_TUTOR_NO_CACHE", raising=False)
    templates._environment.cache_clear()
    user = tmp_path / "mine"
    (user / "text").mkdir(parents=True)
    big = "{% extends 'builtin/text/walkthrough.txt.j2' %}\n" + "".join(f"{{# {k} #}}\n" for k in range(20000))
    (user / "text" / "walkthrough.txt.j2").write_text(big, encoding="utf-8")
    try:
        from tutor.engine.symbolic import explain_step
        from tutor.render import Options, render_text
        from tutor.spec import load

        render_text(explain_step(load("appendix-a")), options=Options(template_dir=user))
        cached = sum(p.stat().st_size for p in cache.rglob("*.cache"))
        assert cached <= templates.MAX_CACHE_BYTES and cached < 2 * len(big)
    finally:
        templates._environment.cache_clear()
