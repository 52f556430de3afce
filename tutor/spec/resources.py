"""Where the shipped data lives: inside the installed package, or beside it in a source checkout."""

from __future__ import annotations

from pathlib import Path

from .errors import TutorError

_PACKAGE = Path(__file__).resolve().parent.parent  # the tutor package: this module is tutor/spec/resources.py


def data_dir(name: str) -> Path:
    """The folder ``templates`` or ``worked_examples``.

    A wheel carries them as ``tutor/_data/<name>`` (mapped at build time, see pyproject.toml); an editable
    install or a plain checkout reads the top-level folders of the repository.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise TutorError(f"this installation has no {name!r} folder; reinstall the package")


def example_names(kind: str = "network") -> list[str]:
    """The built-in examples of a kind: "network" (the default), "graph" (a spec with a [graph] table) or "all"."""
    root = data_dir("worked_examples")
    out = []
    for p in sorted(root.glob("*/spec.toml")):
        graph = any(line.strip().startswith("[graph") for line in p.read_text(encoding="utf-8").splitlines())
        if kind == "all" or graph == (kind == "graph"):
            out.append(p.parent.name)
    return sorted(out)


def example_path(name: str) -> Path | None:
    path = data_dir("worked_examples") / name / "spec.toml"
    return path if path.is_file() else None


def example_claims(name: str) -> Path | None:
    """The transcribed claims of a built-in example (worked_examples/<name>/claims.toml), if any."""
    if not example_path(name):
        return None
    path = data_dir("worked_examples") / name / "claims.toml"
    return path if path.is_file() else None


def write_file(path: Path, data: str | bytes) -> None:
    """Write text as UTF-8, or bytes; a failure is a TutorError naming the file."""
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise TutorError(f"cannot write the file ({exc.strerror})", str(path)) from None
