"""Shared test helpers: comparison at printed precision and tool requirements that fail under CI."""

from __future__ import annotations

import os
import shutil

import pytest

from tutor.rounding import format_fixed

IN_CI = os.environ.get("CI") == "true"


def decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def at_printed(value: float, printed: str) -> bool:
    """True when ``value`` rounded half away from zero to the printed decimals reads as ``printed``."""
    return format_fixed(value, decimals(printed)) == printed


def require_program(name: str) -> str:
    """The program's path; a missing program skips locally and fails in CI (never a silent skip there)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if IN_CI:
            pytest.fail(message + " (CI must install it: see .ci/run)")
        pytest.skip(message)
    return path
