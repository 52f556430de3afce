"""PDF output: pdflatex run in a temporary folder, reproducibly, with the source's digest in the document."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from ..spec.errors import TutorError

PDF_SOURCE_KEY = "BackpropTutorSource"
_PDF_SOURCE = re.compile(rb"/" + PDF_SOURCE_KEY.encode() + rb" *\(sha256:([0-9a-f]{64})\)")


def source_digest(tex: str) -> str:
    import hashlib

    return hashlib.sha256(tex.encode("utf-8")).hexdigest()


def pdf_source_digest(pdf: bytes) -> str | None:
    """The SHA-256 of the .tex a PDF of compile_pdf was built from (kept in its document information)."""
    m = _PDF_SOURCE.search(pdf)
    return m.group(1).decode() if m else None


def compile_pdf(tex: str, timeout: float = 120) -> bytes:
    """Run pdflatex on ``tex`` in a temporary folder (again while it asks for a rerun); return the PDF.

    The PDF records the SHA-256 of ``tex`` in its document information, and its dates are fixed, so the
    same ``tex`` gives the same bytes on the same TeX installation.
    """
    import shutil
    import tempfile

    exe = shutil.which("pdflatex")
    if exe is None:
        raise TutorError("pdflatex not found; install texlive-latex-base")
    # Fixed dates make the output reproducible; openin/openout "p" keep TeX inside its folder and its own
    # trees even if an escaped string ever let a command through; shell escape is off.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "openin_any": "p", "openout_any": "p"}
    cmd = [
        exe,
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-no-shell-escape",
        "-jobname=walkthrough",
        r"\pdfinfo{/" + PDF_SOURCE_KEY + " (sha256:" + source_digest(tex) + r")}\input{walkthrough.tex}",
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="backprop-tutor-") as tmp:
            return _run(cmd, env, Path(tmp), tex, timeout)
    except OSError as exc:  # the temporary folder's disk is full, a file-size limit (ulimit -f)
        raise TutorError(f"cannot write its temporary files ({exc.strerror or exc})", "pdflatex") from None


def _run(cmd: list[str], env: dict, folder: Path, tex: str, timeout: float) -> bytes:
    import subprocess

    (folder / "walkthrough.tex").write_text(tex, encoding="utf-8")
    for _ in range(3):
        try:
            proc = subprocess.run(
                cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise TutorError(f"pdflatex took more than {timeout:g} seconds") from None
        log_path = folder / "walkthrough.log"
        log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
        if proc.returncode != 0:
            errors = [l for l in log.splitlines() if l.startswith("!")]
            if not errors and proc.returncode == -getattr(signal, "SIGXFSZ", 0):
                errors = ["! a file-size limit (ulimit -f) stopped it"]
            raise TutorError(
                "pdflatex failed: " + (errors[0][1:].strip() if errors else f"exit status {proc.returncode}")
            )
        # longtable and hyperref settle in a second run; they say "Rerun" until they have.
        if "Rerun" not in log:
            break
    return (folder / "walkthrough.pdf").read_bytes()
