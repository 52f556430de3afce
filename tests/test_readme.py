"""Every `backprop-tutor` command the README shows is run, and every output it shows is compared with what the
command prints, so the README cannot drift from the program.

How the README is read (README.md, "Development"):
- a fenced block whose info string names a file (```toml file=net-3442.toml) is a file the reader is told to
  write; every command runs in a fresh folder holding all of them;
- a fenced block whose lines start with `$ ` is a terminal session: each `$ command` (a trailing `\\` joins the
  next line; `# in a terminal N columns wide` makes standard output a terminal of N columns) is followed by
  what it prints (standard output and error);
- a ```sh block, or a block of lines starting with `backprop-tutor `, lists commands that must exit with 0;
- a ```text or plain block right after a paragraph that names a `backprop-tutor ...` command in backticks is
  that command's output (the last such command of the paragraph); a command named in the prose without its
  output must exit with 0 (see inline());
- in shown output, a line `...` stands for any number of lines, and `...` inside a line for any text; lines
  are compared without trailing spaces and blank lines, and the shown lines are found in order, each run of
  them contiguous.

A quiz's answers are the text after a prompt (`[5/60] σ²_h1 = h`): a question the session does not show is
skipped (`s`), and after the last shown answer standard input ends.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tutor.cli import _build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PLACEHOLDER = re.compile(r"\b(SPEC|CLAIMS|FILE|DIR|NAME|N|D|S|COLUMNS|ETA|G|L|K)\b|\[|\||…|<")
TERMINAL = re.compile(r"#\s*in a terminal (\d+) columns wide")
PROMPT = re.compile(r"^(\[\d+/\d+\] .*? = )(.*)$")


@dataclass
class Block:
    line: int
    info: str
    lines: list[str]
    before: str  # the paragraph right before the block


@dataclass
class Case:
    """One block of the README: the commands it runs and, per command, the output it shows (None: not shown)."""

    line: int
    commands: list[tuple[str, list[str] | None]] = field(default_factory=list)
    must_succeed: bool = False


def blocks(text: str) -> list[Block]:
    out, lines, i = [], text.split("\n"), 0
    para: list[str] = []
    blank = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            info, body, j = line[3:].strip(), [], i + 1
            while not lines[j].startswith("```"):
                body.append(lines[j])
                j += 1
            out.append(Block(i + 1, info, body, " ".join(para)))
            para, blank, i = [], False, j + 1
            continue
        if not line.strip():
            blank = True
        else:
            para = [line] if blank else para + [line]
            blank = False
        i += 1
    return out


def files(bs: list[Block]) -> dict[str, str]:
    found = {}
    for b in bs:
        m = re.search(r"\bfile=(\S+)", b.info)
        if m:
            found[m.group(1)] = "\n".join(b.lines) + "\n"
    return found


def concrete(command: str) -> bool:
    return command.startswith("backprop-tutor ") and not PLACEHOLDER.search(command[len("backprop-tutor ") :])


def cases(bs: list[Block]) -> list[Case]:
    out = []
    for b in bs:
        lang = b.info.split()[0] if b.info else ""
        if "file=" in b.info or lang in ("python", "toml", "jinja") or not b.lines:
            continue
        first = next((l for l in b.lines if l.strip()), "")
        if first.startswith("$ "):
            case, i = Case(b.line), 0
            while i < len(b.lines):
                cmd = b.lines[i][2:]
                while cmd.endswith("\\"):
                    i += 1
                    cmd = cmd[:-1] + " " + b.lines[i].strip()
                i += 1
                shown = []
                while i < len(b.lines) and not b.lines[i].startswith("$ "):
                    shown.append(b.lines[i])
                    i += 1
                case.commands.append((cmd, shown))
            out.append(case)
        elif lang == "sh" or first.startswith("backprop-tutor "):
            commands = [
                part.strip() for l in b.lines for part in l.split("&&") if concrete(part.strip().split("#")[0].strip())
            ]
            if commands:
                out.append(Case(b.line, [(c, None) for c in commands], must_succeed=True))
        else:
            named = [c for c in re.findall(r"`(backprop-tutor [^`]+)`", b.before) if concrete(c)]
            if named:
                out.append(Case(b.line, [(named[-1], b.lines)]))
    return out


def inline(text: str, known: set[str]) -> list[Case]:
    """The commands named in the README's prose and not shown with their output: each must exit with 0. Not
    run: a bare subcommand's name, and `regenerate`, which rewrites the checkout's handouts
    (tests/test_handouts.py runs `regenerate --check`)."""
    out = []
    for m in re.finditer(r"`(backprop-tutor [^`]+)`", text):
        command = m.group(1)
        if concrete(command) and command not in known and len(command.split()) > 2 and "regenerate" not in command:
            out.append(Case(text[: m.start()].count("\n") + 1, [(command, None)], must_succeed=True))
    return out


TEXT = README.read_text(encoding="utf-8")
BLOCKS = blocks(TEXT)
FILES = files(BLOCKS)
CASES = cases(BLOCKS)
CASES += inline(TEXT, {c for case in CASES for c, _ in case.commands})


def _slow(case: Case) -> bool:
    """Commands that compile LaTeX or train long run in the slow set."""
    return any(re.search(r"--pdf\b|\.pdf\b|--epochs 10000|--steps 10000", c) for c, _ in case.commands)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Answers:
    """Standard input of a quiz: the session's answer when the pending prompt is the next one it shows, else
    's' (skip); the end of input after its last answer. What is read is echoed, as a terminal does."""

    def __init__(self, shown: list[str], screen: io.StringIO):
        self.pending = [m.groups() for m in map(PROMPT.match, shown) if m]
        self.screen = screen

    def readline(self) -> str:
        if not self.pending:
            return ""
        prompt = self.screen.getvalue().rsplit("\n", 1)[-1]
        answer = "s"
        if prompt == self.pending[0][0]:
            answer = self.pending.pop(0)[1]
        self.screen.write(answer + "\n")
        return answer + "\n"


def run(command: str, shown: list[str] | None, folder: Path, monkeypatch) -> tuple[int, str]:
    """Run one README command in ``folder``: `backprop-tutor` in this process, anything else in a shell."""
    if not command.startswith("backprop-tutor "):
        proc = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr
    columns = TERMINAL.search(command)
    words = shlex.split(command, comments=True)[1:]
    redirect = None
    if ">" in words:
        k = words.index(">")
        words, redirect = words[:k], words[k + 1]
    screen = _Terminal() if columns else io.StringIO()
    with monkeypatch.context() as m:
        m.chdir(folder)
        if columns:
            m.setenv("COLUMNS", columns.group(1))
        m.setattr(sys, "stdin", _Answers(shown or [], screen))
        m.setattr(sys, "stderr", screen)
        if redirect is None:
            m.setattr(sys, "stdout", screen)
            status = main(words)
        else:
            with open(folder / redirect, "w", encoding="utf-8") as target:
                m.setattr(sys, "stdout", target)
                status = main(words)
    return status, screen.getvalue()


def _pattern(line: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(p) for p in line.rstrip().split("...")) + "$")


def assert_shows(output: str, shown: list[str], where: str) -> None:
    """The shown lines are in the output in order; `...` lines skip any number of lines."""
    got = [l.rstrip() for l in output.split("\n") if l.strip()]
    runs, current = [], []
    for line in shown:
        if line.strip() == "...":
            runs.append(current)
            current = []
        elif line.strip():
            current.append(line)
    runs.append(current)
    at = 0
    for r in runs:
        if not r:
            continue
        pats = [_pattern(l) for l in r]
        for start in range(at, len(got) - len(r) + 1):
            if all(p.match(got[start + k]) for k, p in enumerate(pats)):
                at = start + len(r)
                break
        else:
            near = [l for l in got if l.strip() and l.strip()[:20] == r[0].strip()[:20]]
            raise AssertionError(
                f"{where}: the README shows\n  {r[0]!r}\n(and {len(r) - 1} more lines), not printed; near: {near[:3]}"
            )


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"line{c.line}", marks=[pytest.mark.slow] if _slow(c) else []) for c in CASES]
)
def test_readme_command_prints_what_the_readme_shows(case, tmp_path, monkeypatch):
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for command, shown in case.commands:
        status, output = run(command, shown, tmp_path, monkeypatch)
        where = f"README.md line {case.line}: {command}"
        if case.must_succeed:
            assert status == 0, f"{where}: exit {status}\n{output[-600:]}"
        if shown:
            assert_shows(output, shown, where)


def test_the_readme_shows_commands_and_their_output():
    """The reading above finds the README's sessions and excerpts (a change of its conventions fails here)."""
    shown = [c for case in CASES for c, s in case.commands if s]
    assert len(shown) >= 20, shown
    assert any(c.startswith("backprop-tutor quiz") for c in shown)
    assert "net-3442.toml" in FILES


def test_the_command_line_reference_names_every_option():
    """The synopsis blocks of "Command line" and "Quiz and worksheets" name every option of every subcommand
    (and none that is not one)."""
    text = README.read_text(encoding="utf-8")
    synopsis = "\n".join(
        "\n".join(b.lines) for b in BLOCKS if any(l.startswith("backprop-tutor ") and "[" in l for l in b.lines)
    )
    synopsis = re.sub(r"python -m tutor.*", "", synopsis)
    parser = _build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, p in sub.choices.items():
        lines = [l for l in synopsis.split("backprop-tutor ")[1:] if l.split()[0] == command]
        assert lines, f"the README's command line reference lacks {command}"
        named = set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", " ".join(lines)))
        actions = [a for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
        missing = [a.option_strings[-1] for a in actions if not named & set(a.option_strings)]
        assert not missing, f"{command}: the README's command line reference lacks {missing}"
        every = {o for a in actions for o in a.option_strings}
        assert named <= every, f"{command}: the README names {sorted(named - every)}, not options of {command}"
    assert text.count("```") % 2 == 0
