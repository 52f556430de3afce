"""Test helpers for the notebook and interop tests: optional dependencies, and one-line error messages."""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import pytest

from tutor.spec.errors import TutorError

from .conftest import IN_CI


def require_module(name: str, extra: str = "test"):
    """The imported module; a missing one skips locally and fails in CI, which installs the test extras."""
    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"{name} is not installed"
        if name == "torch":
            message += (
                ": this test drives a torch model itself (from_torch, autograd); the optimizer comparisons ran "
                "against tests/data/torch_training.json"
            )
        if IN_CI:
            pytest.fail(f"{message} (CI installs it with the '{extra}' extra: see pyproject.toml)")
        pytest.skip(message)


def in_terminal(pexpect, *args: str, dimensions: tuple[int, int] = (24, 80), timeout: float = 180):
    """``python -m tutor ARGS`` in a pseudo-terminal of ``dimensions`` (rows, columns), as a person runs it.

    The terminal's width is the pty's alone: COLUMNS and LINES are left out of the child's environment, since
    Python's terminal size reads them before the pty (pytest-xdist's workers carry COLUMNS=80 and LINES=24,
    which wrapped the quiz's lines at 80 columns in a 400-column pty, so an expected line never came). The
    wait for each expected line is generous: on a loaded 2-core machine the start (SymPy's import) alone has
    taken over 30 s; a passing run waits only as long as the program takes."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONIOENCODING"] = "utf-8"
    return pexpect.spawn(
        sys.executable, ["-m", "tutor", *args], encoding="utf-8", timeout=timeout, env=env, dimensions=dimensions
    )


@contextmanager
def no_hang(seconds: float = 60.0):
    """Fail the code under it if it has not returned after ``seconds`` of wall time: a guard against a hang (an
    input that sets a pattern backtracking for minutes), not a measure of speed, which ``benchmarks/run.py``
    takes. What runs under it takes milliseconds; the deadline is far above that, so a busy machine never trips
    it."""

    def expire(*_):
        raise AssertionError(f"still running after {seconds:g} s: a hang")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def assert_error_starts(call: Callable[[], Any], message: str) -> None:
    """``call()`` raises a one-line TutorError that starts with ``message``."""
    with pytest.raises(TutorError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def recording(path: Path):
    """A script of tests/ that records a framework's results (it needs torch to compute them), as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def live_recording(path: Path) -> Any:
    """What the recording script ``path`` computes now: skipped without torch locally, a failure in CI."""
    require_module("torch")
    return recording(path).compute()


def assert_close(ours: Any, theirs: Any, rel: float, what: str) -> None:
    """``ours`` equals ``theirs`` (in its shape) to ``rel`` relative to the largest entry of ``theirs``."""
    import numpy as np

    theirs = np.asarray(theirs, dtype=float)
    ours = np.asarray(ours, dtype=float).reshape(theirs.shape)
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    np.testing.assert_allclose(ours, theirs, rtol=rel, atol=rel * scale, err_msg=what)
