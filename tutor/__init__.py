"""Backprop Tutor: backpropagation with every calculation shown.

>>> import tutor
>>> net = tutor.load("mazur")
>>> walk = tutor.explain_step(net)
>>> round(walk.value("w5+"), 8)
0.35891648
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "load",
    "loads",
    "network",
    "explain_step",
    "gradient_check",
    "engines_agree",
    "check_grads",
    "explain",
    "check",
    "quiz",
    "self_check",
    "from_numpy",
    "from_torch",
    "torch_gradient_check",
]

# The subpackages and top-level modules, reachable as attributes after a plain ``import tutor``.
_MODULES = ("spec", "engine", "render", "teach", "interop", "api", "notebook", "handouts", "cli")


def __getattr__(name: str):
    # Heavy modules (SymPy, Jinja2) load on first use, so `import tutor` stays cheap.
    if name in ("load", "loads", "network"):
        from . import spec

        return getattr(spec, name)
    if name == "explain_step":
        from .engine.symbolic import explain_step

        return explain_step
    if name in ("gradient_check", "engines_agree", "check_grads"):
        from .engine import gradcheck

        return getattr(gradcheck, name)
    if name in _MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in ("explain", "check", "quiz", "self_check"):
        from . import api

        return getattr(api, name)
    if name in ("from_numpy", "from_torch", "torch_gradient_check"):
        from . import interop

        return getattr(interop, name)
    raise AttributeError(f"module 'tutor' has no attribute {name!r}")
