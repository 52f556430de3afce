"""The command line end to end: JSON under stable names, several steps, examples, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tutor.cli import main

from .conftest import at_printed


def run_json(capsys, *argv: str) -> dict:
    rc = main(["explain", *argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_json_has_every_quantity_under_stable_names(capsys):
    doc = run_json(capsys, "mazur")
    v = doc["values"]
    for key in [
        "net_h1",
        "out_h1",
        "E_o1",
        "E_total",
        "dE_total/dout_o1",
        "dout_o1/dnet_o1",
        "dnet_o1/dw5",
        "dE_total/dw5",
        "w5+",
        "dE_o1/dnet_o1",
        "dnet_o1/dout_h1",
        "dE_o1/dout_h1",
        "dE_total/dout_h1",
        "dout_h1/dnet_h1",
        "dnet_h1/dw1",
        "dE_total/dw1",
        "w1+",
        "E_total+",
    ]:
        assert key in v
    assert at_printed(v["w5+"], "0.35891648")
    assert doc["loss_before"] == v["E_total"] and doc["loss_after"] == v["E_total+"]
    assert doc["conventions"] == {"rounding": "exact", "digits": 9, "update_order": "standard", "update_biases": False}
    assert {q["kind"] for q in doc["quantities"]} >= {
        "net",
        "out",
        "loss_term",
        "loss",
        "factor",
        "delta",
        "gradient",
        "update",
    }
    assert [r["param"] for r in doc["gradient_check"]] == ["w1", "w2", "w3", "w4", "b1", "w5", "w6", "w7", "w8", "b2"]


def test_conventions_from_the_command_line(capsys):
    doc = run_json(capsys, "mazur", "--rounding", "as-printed", "--digits", "9")
    assert doc["values"]["dE_o2/dout_h1"] == -0.019049119
    doc = run_json(capsys, "mazur", "--update-order", "updated-first")
    assert at_printed(doc["loss_after"], "0.291027924")
    doc = run_json(capsys, "mazur", "--update-biases")
    assert "b1+" in doc["values"] and doc["conventions"]["update_biases"] is True


def test_steps_report_loss_before_and_after_each(capsys):
    doc = run_json(capsys, "mazur", "--steps", "10000")
    assert len(doc["history"]) == 10_000
    assert at_printed(doc["history"][-1]["loss_before"], "0.0000351085")  # standard order, round 10,000
    assert doc["history"][0]["loss_after"] == doc["history"][1]["loss_before"]
    doc = run_json(capsys, "mazur", "--steps", "10000", "--update-order", "updated-first")
    outs = doc["final"]["outputs"]
    assert at_printed(outs["out_o1"], "0.015912196") and at_printed(outs["out_o2"], "0.984065734")
    assert at_printed(doc["history"][0]["loss_after"], "0.291027924")
    assert doc["final"]["steps"] == 10_000 and set(doc["final"]["parameters"]) >= {"w1", "w8", "b1", "b2"}


def test_examples_lists_every_builtin(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(names)
    assert {
        "appendix-a",
        "appendix-b",
        "mazur",
        "minibatch",
        "vanishing-sigmoid",
        "vanishing-relu",
        "optimizer-adam",
    } <= set(names)
    assert "2-2-2" in out


def test_text_walkthrough_shows_the_chain_rule(capsys):
    assert main(["explain", "mazur"]) == 0
    out = capsys.readouterr().out
    assert (
        "∂E_total/∂w5 = ∂E_total/∂out_o1·∂out_o1/∂net_o1·∂net_o1/∂w5 = 0.7413650696·0.1868156018·0.5932699921"
        " = 0.0821670406" in out
    )
    assert "∂E_total/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1" in out
    assert "All gradients agree." in out


def test_output_is_deterministic(tmp_path, capsys):
    for fmt in ("json", "text"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        assert main(["explain", "appendix-b", "--format", fmt, "-o", str(a)]) == 0
        assert main(["explain", "appendix-b", "--format", fmt, "-o", str(b)]) == 0
        assert a.read_bytes() == b.read_bytes()


def test_python_dash_m_and_no_progress_when_not_a_terminal():
    proc = subprocess.run(
        [sys.executable, "-m", "tutor", "explain", "mazur", "--steps", "5000", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stderr == ""  # stderr is a pipe here: no progress line
    assert json.loads(proc.stdout)["final"]["steps"] == 5000


def test_progress_on_a_terminal():
    pty = pytest.importorskip("pty")
    import os

    pid, fd = pty.fork()
    if pid == 0:  # the child runs the CLI with a terminal on stdin, stdout and stderr
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "tutor",
                "explain",
                "mazur",
                "--steps",
                "20000",
                "--format",
                "json",
                "-o",
                os.devnull,
            ],
        )
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    assert os.WEXITSTATUS(status) == 0
    assert "training step 20000/20000 (100%)" in text


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert main(["explain", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--rounding" in out and "--update-order" in out
    assert main([]) == 2
