"""The GIFT export: worksheet variants in Moodle's GIFT text format, a category a variant and one numerical
question a box, each with the network, the values it is computed from, and the values the generated
misconceptions give as 0 % answers with feedback naming the mistake.

GIFT has no multi-part question, so every box stands alone: its question says which earlier values to use
(the right ones), so that one slip does not fail every later question. Those values would let a student correct
an earlier answer: the file's header says the quiz needs sequential navigation, which GIFT cannot set.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Iterable

from . import lms
from .quiz import plain_value

if TYPE_CHECKING:
    from .worksheet import Variant

_ESCAPES = str.maketrans({c: "\\" + c for c in "\\~=#{}:"})
SEQUENTIAL = lms.SEQUENTIAL  # GIFT cannot set a quiz's navigation: the file says what the quiz needs


def escape(text: str) -> str:
    """Text as GIFT reads it: ``\\``, ``~``, ``=``, ``#``, ``{``, ``}`` and ``:`` escaped with a backslash,
    line breaks as ``\\n``."""
    return text.translate(_ESCAPES).replace("\n", "\\n")


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def gift(variants: Iterable[Variant], bank: str = "Backpropagation worksheet") -> str:
    """Every variant's boxes as GIFT numerical questions, a ``$CATEGORY`` a variant."""
    return gift_document(gift_part(v, bank) for v in variants)


def gift_part(v: Variant, bank: str = "Backpropagation worksheet") -> list[str]:
    """One variant's lines: its category, then a question a box (made in a worksheet's worker process)."""
    category = f"Variant {v.number:03d}" + (f" ({v.code})" if v.code else "")  # the code, never the seed
    out = [f"$CATEGORY: $course$/top/{bank}/{category}", ""]
    network = ET.tostring(lms.network_html(v), encoding="unicode", method="html")
    shown_network = escape(network)  # every question of the variant opens with it; escaped once, character by character
    boxes = lms.boxes(v)
    for b in boxes:
        uses = ", ".join(f"\\({label} = {value}\\)" for label, value in b.uses)
        ask = f"<p>Question {b.number} of {len(boxes)}: compute \\({b.tex}\\)" + (
            f", using {uses}.</p>" if uses else ".</p>"
        )
        tolerance = plain_value(b.tolerance)  # every answer of the box has the same
        answers = [f"={b.shown}:{tolerance}#{escape('Right.')}"]
        answers += [f"=%0%{w.shown}:{tolerance}#{escape(w.feedback)}" for w in b.wrong]
        title = escape(f"Variant {v.number:03d} question {b.number:02d}: {b.key}")
        out.append(f"::{title}::[html]{shown_network}{escape(ask)}{{#")
        out += [f"    {a}" for a in answers]
        # the worked line in \( \) delimiters, so that MathJax typesets it like the question's formulas
        out.append("    ####" + escape(f"\\({b.worked}\\)"))
        out += ["}", ""]
    return out


def gift_document(parts: Iterable[list[str]]) -> str:
    """The GIFT file of the variants' lines, in order."""
    out = [
        "// Backprop Tutor worksheet questions in Moodle's GIFT format: one category a variant.",
        "// " + SEQUENTIAL,
        "",
    ]
    for part in parts:
        out += part
    return "\n".join(out)


_QUESTION = re.compile(r"::((?:\\.|[^\\:])*)::\[html\]((?:\\.|[^\\{])*)\{#(.*?)\n\}", re.S)


def parse(text: str) -> list[dict]:
    """The numerical questions of a GIFT text: title, question HTML, answers (fraction %, value, tolerance,
    feedback) and the general feedback, as Moodle's importer reads them (used by the tests)."""
    out = []
    for m in _QUESTION.finditer(text):
        body = m.group(3)
        general = ""
        if "####" in body:
            body, general = body.split("####", 1)
        answers = []
        for line in body.strip().splitlines():
            am = re.fullmatch(r"\s*=(?:%(-?\d+)%)?([^:#]+):([^#]+)(?:#(.*))?", line)
            if am is None:
                raise ValueError(f"not a GIFT numerical answer: {line!r}")
            answers.append((float(am.group(1) or 100), am.group(2), float(am.group(3)), unescape(am.group(4) or "")))
        out.append(
            {
                "title": unescape(m.group(1)),
                "text": unescape(m.group(2)),
                "answers": answers,
                "feedback": unescape(general.strip()),
            }
        )
    return out
