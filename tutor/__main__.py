"""``python -m tutor`` and the ``backprop-tutor`` console script: start the command line (``tutor.cli``)."""

import atexit
import gc
import os
import sys
import threading

# The commands and options that never derive a form, so never import SymPy.
_WITHOUT_SYMPY = {"examples", "report", "-h", "--help", "--version"}
# A full collection after this many collections of the middle generation (Python's default: 10).
FULL_PASS_EVERY = 100


def run() -> None:
    """Import the command line, run it and exit with its status.

    Importing SymPy, NumPy and the tutor makes some 60,000 objects that live until the process ends. The
    cyclic collector's passes over them while they are being made find nothing to free, so the import runs
    with the collector paused; then what it made is frozen (kept out of later passes) and the collector
    resumes for the command's own objects. SymPy, which the engines import when they first derive, is
    imported here with the rest unless the command is one that never derives.

    The command's step records are long-lived and free of cycles too: a walk-through at the spec's limit makes
    a few hundred thousand of them. A full pass of the collector (its oldest generation) reads every one made so
    far and finds nothing to free, so full passes cost more than linearly in the walk's size; they run a tenth as
    often as Python's default (after 100 collections of the middle generation, not 10). The younger
    generations, where a command's cycles are found, are collected as usual.
    """
    gc.disable()
    try:
        from .cli import main

        if sys.argv[1:] and not _WITHOUT_SYMPY.intersection(sys.argv[1:]):
            import sympy  # noqa: F401
    finally:
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_PASS_EVERY)
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
