"""``python -m tutor``: the same command line as ``backprop-tutor``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
