"""Hostile and unlucky input (issue 13): nothing lost, nothing hangs, no traceback. One test (or more) per item."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.spec.errors import TutorError
from tutor.spec.resources import data_dir

MAZUR = data_dir("worked_examples") / "mazur" / "spec.toml"
MAZUR_CLAIMS = data_dir("worked_examples") / "mazur" / "claims.toml"
PY = sys.executable


def run(argv, capsys) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status: int, err: str, *parts: str) -> None:
    assert status == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("backprop-tutor: error:"), err
    for part in parts:
        assert part in err, err


def cli(*args: str, stdin=None, shell_prefix: str = "", stdout=None, timeout: float = 120):
    """The CLI in a subprocess (for ulimit, /dev/full and signals)."""
    cmd = " ".join([PY, "-m", "tutor", *(f"'{a}'" for a in args)])
    return subprocess.run(
        ["bash", "-c", f"{shell_prefix}{cmd}"],
        stdin=stdin,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
        text=True,
    )


def spec_text() -> str:
    return MAZUR.read_text(encoding="utf-8")


# -- 1. an output that names an input ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["explain", "check", "quiz-spec", "quiz-answers"])
def test_item1_output_naming_an_input_is_refused(tmp_path, capsys, command):
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text(), encoding="utf-8")
    claims = tmp_path / "c.toml"
    claims.write_text(MAZUR_CLAIMS.read_text(encoding="utf-8"), encoding="utf-8")
    answers = tmp_path / "a.txt"
    answers.write_text("0.3775\n", encoding="utf-8")
    argv, victim = {
        "explain": (["explain", spec, "-o", spec], spec),
        "check": (["check", spec, claims, "-o", tmp_path / "." / "c.toml"], claims),
        "quiz-spec": (["quiz", spec, "--answers", answers, "--results", spec], spec),
        "quiz-answers": (["quiz", spec, "--answers", answers, "--results", answers], answers),
    }[command]
    before = victim.read_bytes()
    status, _, err = run(argv, capsys)
    one_line_error(status, err, "is the same file as")
    assert victim.read_bytes() == before


def test_item1_output_through_a_symlink_to_the_input_is_refused(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text(), encoding="utf-8")
    (tmp_path / "link.toml").symlink_to(spec)
    status, _, err = run(["explain", spec, "-o", tmp_path / "link.toml"], capsys)
    one_line_error(status, err, "same file")
    assert spec.read_text(encoding="utf-8") == spec_text()


# -- 2. writes are all or nothing -----------------------------------------------------------------------


def test_item2_a_file_size_limit_leaves_the_old_file_whole(tmp_path):
    keep = tmp_path / "keep.md"
    keep.write_text("the lecturer's own notes\n" * 200, encoding="utf-8")
    before = keep.read_bytes()
    r = cli("explain", "mazur", "-o", str(keep), shell_prefix="ulimit -f 1; ")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "keep.md" in r.stderr, r.stderr
    assert keep.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.md"]  # no temporary file left behind


def test_item2_results_are_written_atomically(tmp_path):
    results = tmp_path / "r.json"
    results.write_text("{}" + " " * 5000, encoding="utf-8")
    before = results.read_bytes()
    answers = tmp_path / "a.txt"
    answers.write_text("0.3775\n", encoding="utf-8")
    r = cli("quiz", "mazur", "--answers", str(answers), "--results", str(results), shell_prefix="ulimit -f 2; ")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert results.read_bytes() == before


# -- 3. standard output ----------------------------------------------------------------------------------


def test_item3_full_disk_on_standard_output_is_one_line():
    with open("/dev/full", "w") as full:
        r = cli("explain", "mazur", stdout=full)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "No space left" in r.stderr, r.stderr


def test_item3_file_size_limit_on_standard_output_is_not_success(tmp_path):
    out = tmp_path / "out.txt"
    r = cli("explain", "mazur", shell_prefix=f"ulimit -f 1; exec > '{out}'; ")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "File too large" in r.stderr, r.stderr


def test_item3_a_reader_that_leaves_early_is_not_an_error():
    r = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {PY} -m tutor explain mazur --format html | head -c 10 >/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
