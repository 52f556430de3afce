"""``python -m tutor`` and the ``backprop-tutor`` console script: start the command line (``tutor.cli``)."""

import atexit
import gc
import os
import sys
import threading

# The commands and options that never derive a form, so never import SymPy.
_WITHOUT_SYMPY = {"examples", "report", "-h", "--help", "--version"}


def run() -> None:
    """Import the command line, run it and exit with its status.

    Importing SymPy, NumPy and the tutor makes some 60,000 objects that live until the process ends. The
    cyclic collector's passes over them while they are being made find nothing to free, so the import runs
    with the collector paused; then what it made is frozen (kept out of later passes) and the collector
    resumes for the command's own objects. SymPy, which the engines import when they first derive, is
    imported here with the rest unless the command is one that never derives.
    """
    gc.disable()
    try:
        from .cli import main

        if sys.argv[1:] and not _WITHOUT_SYMPY.intersection(sys.argv[1:]):
            import sympy  # noqa: F401
    finally:
        gc.freeze()
        gc.enable()
    _leave(main())


def _leave(status: int) -> None:
    """Exit with ``status`` without tearing the interpreter down.

    Tearing down frees those objects one by one and takes about a sixth of a short command's time; the
    operating system takes the memory back at once. What an exit must do is done first: the exit handlers
    run (the form cache is written, a temporary folder still open is removed) and the standard streams are
    flushed. While a thread of ours still runs, the plain exit waits for it as usual. (mypy leaves the same
    way, for the same reason.)
    """
    if threading.active_count() > 1:
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader left or the stream is closed: main() has said so already
            pass
    os._exit(status)


if __name__ == "__main__":
    run()
