"""Errors the tutor raises for bad input: one line that names the place and says what is allowed."""

from __future__ import annotations


class TutorError(Exception):
    """Any error caused by what the user gave; the CLI prints it on one line and exits with status 2."""

    def __init__(self, message: str, where: str = ""):
        self.message = " ".join(str(message).split())
        self.where = where
        super().__init__(f"{where}: {self.message}" if where else self.message)

    def __reduce__(self):
        # a worksheet's worker process raises it; the parent re-raises the same message and place
        return (type(self), (self.message, self.where))


class SpecError(TutorError):
    """A network spec (file or Python call) is malformed or out of bounds."""


class GradientError(TutorError):
    """A gradient was asked of something that has none (the binary step)."""


class ComputeError(TutorError):
    """A value of the network cannot be computed (it overflows, or leaves its formula's domain)."""
