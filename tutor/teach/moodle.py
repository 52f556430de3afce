"""The Moodle export: worksheet variants as Moodle XML, by default one Cloze (embedded answers) question a variant
holding the network and every box in order; optionally the older bank of one numerical question a quantity.

A Cloze sub-question reads ``{1:NUMERICAL:=0.5933:0.0001#Right~%0%0.5000:0.0001#It looks like ...}``: the key
first with its tolerance, then each value a generated misconception gives, at 0 % with a feedback naming it.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Iterable

from . import lms
from .quiz import plain_value

if TYPE_CHECKING:
    from .worksheet import Variant

STYLES = ("cloze", "bank")
DIAGRAM = "network.svg"


def moodle_xml(variants: Iterable[Variant], bank: str = "Backpropagation worksheet", style: str = "cloze") -> bytes:
    """A Moodle XML file: a category per variant holding one Cloze question (``style`` "cloze"), or one
    numerical question per quantity (``style`` "bank")."""
    return moodle_document(moodle_part(v, bank, style) for v in variants)


def moodle_part(v: Variant, bank: str = "Backpropagation worksheet", style: str = "cloze") -> list[ET.Element]:
    """One variant's share of the file: its category, then its question(s). Made where the variant is (a
    worksheet's worker process); moodle_document puts the shares together."""
    marker = ET.Element("question", type="category")
    _text(ET.SubElement(marker, "category"), f"$course$/top/{bank}/Variant {v.number:03d} (seed {v.seed})")
    return [marker, cloze_question(v)] if style == "cloze" else [marker, *_bank_questions(v)]


def moodle_document(parts: Iterable[list[ET.Element]]) -> bytes:
    """The Moodle XML file of the variants' shares, in order."""
    root = ET.Element("quiz")
    for part in parts:
        root.extend(part)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def cloze_escape(text: str) -> str:
    """Text inside a Cloze answer or feedback: Moodle reads ``}``, ``#``, ``~``, ``/``, ``"`` and ``\\`` there."""
    return re.sub(r'([}#~/"\\])', r"\\\1", text)


def cloze_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def subquestion(box: lms.Box, number_format=plain_value) -> str:
    """One box as a Cloze NUMERICAL sub-question."""
    parts = [f"={box.shown}:{number_format(box.tolerance)}#{cloze_escape('Right.')}"]
    for w in box.wrong:
        parts.append(f"%0%{w.shown}:{number_format(box.tolerance)}#{cloze_escape(w.feedback)}")
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def cloze_question(v: Variant) -> ET.Element:
    """The whole variant as one Cloze question: the network (diagram embedded) and every box in order."""
    e = ET.Element("question", type="cloze")
    _text(ET.SubElement(e, "name"), f"Variant {v.number:03d} (seed {v.seed}): one training step")
    div = lms.network_html(v, image_src=f"@@PLUGINFILE@@/{DIAGRAM}")
    boxes = lms.boxes(v)
    intro = ET.SubElement(div, "p")
    intro.text = (
        f"Compute every value below in order ({len(boxes)} boxes). Each is graded within one unit of its last "
        f"decimal (at most {int(lms.MAX_RELATIVE * 100)} % of its size)."
    )
    table = ET.SubElement(div, "table", border="1", cellpadding="4")
    by_key = {b.key: b for b in boxes}
    for key, tex, given in lms.given_before_last_box(v):
        row = ET.SubElement(table, "tr")
        b = by_key.get(key)
        ET.SubElement(row, "td").text = str(b.number) if b else ""
        ET.SubElement(row, "td").text = f"\\({tex}\\) ="
        # a quantity that is not a box (--blanks) is given: its value, or what it copies
        ET.SubElement(row, "td").text = subquestion(b) if b else given
    qt = ET.SubElement(e, "questiontext", format="html")
    _text(qt, ET.tostring(div, encoding="unicode", method="html"))
    f = ET.SubElement(qt, "file", name=DIAGRAM, path="/", encoding="base64")
    f.text = base64.b64encode(lms.diagram_svg(v).encode("utf-8")).decode("ascii")
    feedback = ET.Element("ol")
    for b in boxes:
        ET.SubElement(feedback, "li").text = f"\\({b.worked}\\)"
    _text(ET.SubElement(e, "generalfeedback", format="html"), ET.tostring(feedback, encoding="unicode"))
    ET.SubElement(e, "penalty").text = "0.3333333"
    ET.SubElement(e, "hidden").text = "0"
    return e


_SUB = re.compile(r"\{(\d*):NUMERICAL:((?:\\.|[^\\}])*)\}")


def parse_cloze(text: str) -> list[list[tuple[float, str, float, str]]]:
    """The NUMERICAL sub-questions of a Cloze text, each a list of (fraction %, value, tolerance, feedback):
    what Moodle reads back (used by the tests)."""
    out = []
    for m in _SUB.finditer(text):
        answers = []
        for part in re.split(r"(?<!\\)~", m.group(2)):
            am = re.fullmatch(r"(=|%(-?\d+(?:\.\d+)?)%)?([^:#]+)(?::([^#]+))?(?:#(.*))?", part, re.S)
            if am is None:
                raise ValueError(f"not a Cloze numerical answer: {part!r}")
            fraction = 100.0 if am.group(1) == "=" else float(am.group(2) or 0)
            answers.append((fraction, am.group(3), float(am.group(4) or 0), cloze_unescape(am.group(5) or "")))
        out.append(answers)
    return out


def _bank_questions(v: Variant) -> list[ET.Element]:
    """One numerical question per quantity, each with the network and the values it is computed from."""
    out = []
    network = ET.tostring(lms.network_html(v), encoding="unicode", method="html")
    for b in lms.boxes(v):
        e = ET.Element("question", type="numerical")
        _text(ET.SubElement(e, "name"), f"Variant {v.number:03d} question {b.number:02d}: {b.key}")
        ask = ET.Element("p")
        uses = ", ".join(f"\\({label} = {value}\\)" for label, value in b.uses)
        ask.text = f"Question {b.number} of {len(v.questions)}: compute \\({b.tex}\\)" + (
            f", using {uses}." if uses else "."
        )
        _text(ET.SubElement(e, "questiontext", format="html"), network + ET.tostring(ask, encoding="unicode"))
        feedback = ET.Element("p")
        feedback.text = f"\\({b.worked}\\)"
        _text(ET.SubElement(e, "generalfeedback", format="html"), ET.tostring(feedback, encoding="unicode"))
        ET.SubElement(e, "defaultgrade").text = "1"
        ET.SubElement(e, "penalty").text = "0.3333333"
        ET.SubElement(e, "hidden").text = "0"
        for fraction, shown, text in [("100", b.shown, "Right.")] + [("0", w.shown, w.feedback) for w in b.wrong]:
            answer = ET.SubElement(e, "answer", fraction=fraction, format="moodle_auto_format")
            ET.SubElement(answer, "text").text = shown
            ET.SubElement(answer, "tolerance").text = plain_value(b.tolerance)
            _text(ET.SubElement(answer, "feedback", format="html"), f"<p>{_html(text)}</p>")
        for tag, value in (
            ("unitgradingtype", "0"),
            ("unitpenalty", "0.1000000"),
            ("showunits", "3"),
            ("unitsleft", "0"),
        ):
            ET.SubElement(e, tag).text = value
        out.append(e)
    return out


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(parent: ET.Element, value: str) -> None:
    ET.SubElement(parent, "text").text = value
