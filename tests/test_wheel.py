"""The wheel carries templates/ and worked_examples/: built, installed in a fresh venv, run elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp / "dist")],
        check=True,
        timeout=600,
    )
    wheel = next((tmp / "dist").glob("backprop_tutor-*.whl"))
    venv = tmp / "venv"
    # a fresh venv without a pip of its own (ensurepip took some 4 s of CPU): this pip installs the wheel and
    # its dependencies into it, resolved afresh from the wheel's metadata as in a venv with its own pip; without
    # compiling every module of SymPy and NumPy to bytecode (7.6 s of CPU), which the commands below do for the
    # modules they import
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-compile", str(wheel)],
        check=True,
        timeout=900,
    )
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return wheel, venv, elsewhere


def _run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(venv / "bin" / "backprop-tutor"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_wheel_contains_the_data_folders(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in (ROOT / "templates").rglob("*.j2"):
        assert "tutor/_data/templates/" + shipped.relative_to(ROOT / "templates").as_posix() in names
    for spec in (ROOT / "worked_examples").glob("*/spec.toml"):
        assert "tutor/_data/worked_examples/" + spec.relative_to(ROOT / "worked_examples").as_posix() in names


@pytest.mark.slow
def test_installed_wheel_runs_from_another_directory(installed):
    _, venv, elsewhere = installed
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import tutor, tutor.spec.resources as r; print(tutor.__file__); print(r.data_dir('templates'))",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    module, templates = where.stdout.split("\n")[:2]
    assert str(venv) in module and str(ROOT) not in module
    assert templates.endswith(os.path.join("tutor", "_data", "templates"))
    proc = _run(venv, elsewhere, "examples")
    assert proc.returncode == 0 and "mazur" in proc.stdout
    proc = _run(venv, elsewhere, "explain", "mazur", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert abs(json.loads(proc.stdout)["values"]["w5+"] - 0.35891648) < 5e-9
    proc = _run(venv, elsewhere, "explain", "appendix-b")
    assert proc.returncode == 0 and "∂E/∂W1" in proc.stdout


@pytest.mark.slow
def test_regenerate_outside_a_checkout_writes_nothing(installed):
    """An installed package's worked examples are data: regenerate refuses there (exit 2) and writes nothing."""
    _, venv, elsewhere = installed
    site = next((venv / "lib").glob("python*/site-packages"))

    def files() -> dict[str, int]:
        return {str(p): p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    before = files()
    for args in (["regenerate"], ["regenerate", "--check"]):
        proc = _run(venv, elsewhere, *args)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "checkout" in proc.stderr
    assert files() == before
    assert not any(elsewhere.iterdir())
