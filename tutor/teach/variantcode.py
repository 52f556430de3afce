"""Opaque variant codes: what a student's sheet and the LMS question texts call a worksheet variant instead of its
network seed, which would let anyone regenerate the variant's key (``worksheet --seed`` or ``quiz --random
--seed`` on the same seed shows every answer).

A code is an HMAC of the seed under a secret that the worksheet keeps in the lecturer's output folder
(``SECRET_FILE``, made on the first run and read on every later one, so that the same folder gets the same
codes); ``CODES_FILE`` beside it maps each code back to its variant, seed and practice command. Without the
secret a code says nothing about the seed.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from pathlib import Path
from typing import Iterable

from ..spec.errors import TutorError

SECRET_FILE = "lecturer-secret.txt"
CODES_FILE = "lecturer-codes.csv"
# 40 bits of the HMAC, as 8 base-32 letters and digits: short enough to read aloud, far too many to guess
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0 or 1, which read alike


def code(secret: str, seed: int) -> str:
    """The variant code of ``seed`` under ``secret``, e.g. ``K7QF-2M9X``."""
    digest = hmac.new(secret.encode("utf-8"), f"backprop-tutor variant {seed}".encode(), hashlib.sha256).digest()
    n = int.from_bytes(digest[:5], "big")
    letters = "".join(_LETTERS[(n >> (5 * i)) & 31] for i in range(7, -1, -1))
    return f"{letters[:4]}-{letters[4:]}"


def new_secret() -> str:
    return secrets.token_hex(32)


def read_secret(folder: str | Path) -> str | None:
    """The secret kept in ``folder`` by an earlier run, or None when there is none yet."""
    path = Path(folder) / SECRET_FILE
    if not path.is_file() or path.is_symlink():
        return None
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < 32:
        raise TutorError("is not a variant secret this tool wrote (at least 32 characters, one line)", str(path))
    return text


def codes_csv(rows: Iterable[tuple[int, str, int, str]]) -> str:
    """The lecturer's map from code back to variant: (variant, code, seed, practice command) a row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["variant", "code", "seed", "practice command"])
    w.writerows(rows)
    return buf.getvalue()
