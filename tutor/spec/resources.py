"""Where the shipped data lives: inside the installed package, or beside it in a source checkout."""

from __future__ import annotations

import os
import stat
import tempfile
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


MAX_PATH = 4096  # characters of a path given on the command line (Linux's PATH_MAX)
MAX_NAME = 255  # bytes of one path component (NAME_MAX)


def check_path(value: str | Path, where: str) -> Path:
    """A path a user gave, refused on one line when it is empty or longer than the system allows."""
    text = str(value)
    if not text:
        raise TutorError("is empty; give a file name", where or "''")
    if len(text) > MAX_PATH or any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME for part in text.split("/")):
        raise TutorError(
            f"the path is too long ({len(text)} characters); at most {MAX_PATH}, "
            f"and at most {MAX_NAME} bytes between slashes",
            (where[:60] + "...") if len(where) > 60 else where,
        )
    return Path(text)


def read_text(path: str | Path, where: str, limit: int) -> str:
    """A UTF-8 text file of at most ``limit`` bytes, without a byte-order mark; a failure is one TutorError."""
    p = check_path(path, where)
    try:
        if p.exists() and not p.is_file():  # a device or a pipe would be read without end
            raise TutorError("is not a regular file; give a text file", where)
        size = p.stat().st_size
        if size > limit:
            raise TutorError(f"the file is {size} bytes; at most {limit} bytes are allowed", where)
        with p.open("rb") as f:
            raw = f.read(limit + 1)
    except OSError as exc:
        raise TutorError(f"cannot read the file ({exc.strerror})", where) from None
    if len(raw) > limit:
        raise TutorError(f"the file is larger than {limit} bytes", where)
    try:
        return raw.decode("utf-8-sig")  # Windows editors begin a UTF-8 file with a byte-order mark
    except UnicodeDecodeError as exc:
        raise TutorError(f"cannot read the file as UTF-8 text (byte {exc.start})", where) from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (through links, '..' and hard links); a missing file is no other's."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, RuntimeError, ValueError):
            return False


def refuse_overwrite(output: str | Path | None, option: str, inputs: dict[str, str | Path | None]) -> None:
    """Refuse an output that names one of the command's inputs: writing it would destroy what it reads."""
    if output is None:
        return
    for what, path in inputs.items():
        if path is not None and same_file(output, path):
            raise TutorError(f"is the same file as {what}; writing it would destroy it, give another file", option)


HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")


def _refuse_raw_html(path: Path, payload: bytes, where: str) -> None:
    """What is written to an .html file is a page of ours, escaped and with its Content-Security-Policy. Text,
    Markdown, LaTeX or JSON there would be opened by a browser as a page in which a spec's title or comments
    are live markup, so that is refused (as is a page whose template override left out the policy)."""
    if path.suffix.lower() not in HTML_SUFFIXES:
        return
    head = payload[:4096].decode("utf-8", "replace")
    if not head.lstrip().lower().startswith("<!doctype html") or "Content-Security-Policy" not in head:
        raise TutorError(
            f"a {path.suffix} file is opened as a web page, so only an HTML page with its Content-Security-Policy "
            "is written to one: give --format html, or a file name with the format's own suffix",
            where,
        )


def write_file(path: str | Path, data: str | bytes, where: str = "", private: bool = False) -> None:
    """Write text as UTF-8, or bytes, all or nothing: into a temporary file in the same folder, then renamed
    over ``path``, so a full disk or a file-size limit leaves the old file as it was. A failure is a TutorError
    naming the file. The one writer of every file the tutor writes: nothing but a page of ours goes into an
    .html file. A ``private`` file (a lecturer's secret) is readable by its owner only (0600) from the start."""
    path = Path(path)
    where = where or str(path)
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    _refuse_raw_html(path, payload, where)
    try:
        # a link is kept and its target written; renaming over it would turn the link into a plain file
        path = path.resolve() if path.is_symlink() else path
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise TutorError(f"cannot write the file ({exc.strerror or exc})", where) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise TutorError("is a folder; give a file name", where)
    if mode is not None and not stat.S_ISREG(mode):
        # /dev/null, /dev/stdout, a FIFO: written through, since renaming over a device would replace it
        try:
            with open(path, "wb") as f:
                f.write(payload)
        except OSError as exc:
            raise TutorError(f"cannot write the file ({exc.strerror or exc})", where) from None
        return
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            if mode is not None:
                # the old file must survive a crash before the new one is on disk; a new file has nothing
                # to lose, and a worksheet of hundreds of files would wait on the disk for each
                os.fsync(f.fileno())
        try:
            os.chmod(tmp, 0o600 if private else 0o666 & ~_umask())
        except OSError:
            pass
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise TutorError(f"cannot write the file ({exc.strerror or exc})", where) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
