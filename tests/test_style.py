"""One style for the whole tree: ruff's formatter and linter, as configured in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent


def ruff() -> str:
    path = shutil.which("ruff")
    if path is None:
        if IN_CI:
            pytest.fail("ruff is not installed (the 'test' extra installs it)")
        pytest.skip("ruff is not installed; pip install -e '.[test]' installs it")
    return path


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(command):
    proc = subprocess.run([ruff(), *command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
