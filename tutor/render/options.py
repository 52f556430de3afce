"""The options of one rendering, as a frozen value: the CLI builds it from its arguments and passes it down.

No renderer keeps options in module state, so two renderings in one process never depend on call order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..spec.errors import TutorError

NOTATIONS = ("spec", "layered")
MIN_WIDTH, MAX_WIDTH = 40, 1000


@dataclass(frozen=True)
class Options:
    """How to show a computed walk-through; it changes no number, only what is printed and with which templates."""

    template_dir: Path | None = None  # a folder whose templates override the shipped ones, block by block
    digits: int | None = None  # shown decimals; None: the spec's conventions.digits
    notation: str = "spec"  # "spec" | "layered"
    width: int | None = None  # terminal text wraps to this many columns; None: unwrapped (a file, a pipe)
    brief: bool = False  # walk the first neuron and first weight of each layer in full, tabulate the rest
    prose: bool = True  # a short explanation in words where each kind of step first occurs

    def __post_init__(self) -> None:
        if self.template_dir is not None:
            folder = Path(self.template_dir)
            if not folder.is_dir():
                raise TutorError("--template-dir must be a folder of templates", str(self.template_dir))
            object.__setattr__(self, "template_dir", folder)
        if self.notation not in NOTATIONS:
            raise TutorError(f"--notation must be one of {', '.join(NOTATIONS)}", str(self.notation))
        if self.width is not None and not (isinstance(self.width, int) and MIN_WIDTH <= self.width <= MAX_WIDTH):
            raise TutorError(
                f"--width must be a whole number of columns from {MIN_WIDTH} to {MAX_WIDTH}", str(self.width)
            )


DEFAULT = Options()


def shown_digits(walk: Any, options: Options = DEFAULT) -> int:
    """Under as-printed the carried values are shown exactly; otherwise --digits or the spec's digits."""
    c = walk.conventions
    if c.rounding == "as-printed":
        return c.digits
    return options.digits if options.digits is not None else c.digits
