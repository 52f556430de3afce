"""``python -m tutor`` and the ``backprop-tutor`` console script: start the command line (``tutor.cli``)."""

import gc
import sys


def run() -> None:
    """Import the command line and run it, exiting with its status.

    Importing SymPy, NumPy and the tutor makes some 60,000 objects that live until the process ends. The
    cyclic collector's passes over them while they are being made find nothing to free and cost about a
    tenth of a short command's time, so the import runs with the collector paused; then what it made is
    frozen (kept out of later passes) and the collector resumes for the command's own objects.
    """
    gc.disable()
    try:
        from .cli import main
    finally:
        gc.freeze()
        gc.enable()
    sys.exit(main())


if __name__ == "__main__":
    run()
