"""The Moodle export: worksheet variants as Moodle XML, by default one Cloze (embedded answers) question a variant
holding the network and every box in order; optionally the older bank of one numerical question a quantity.

A Cloze sub-question reads ``{1:NUMERICAL:=0.5933:0.0001#Right~%0%0.5000:0.0001#It looks like ...}``: the key
first with its tolerance, then each value a generated misconception gives, at 0 % with a feedback naming it.
"""

from __future__ import annotations

import base64
import html
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
    return moodle_document((moodle_part(v, bank, style) for v in variants), style)


def moodle_part(v: Variant, bank: str = "Backpropagation worksheet", style: str = "cloze") -> list[ET.Element]:
    """One variant's share of the file: its category, then its question(s). Made where the variant is (a
    worksheet's worker process); moodle_document puts the shares together."""
    marker = ET.Element("question", type="category")
    # the variant's code, never its seed: a student who sees the category cannot regenerate the key
    category = f"$course$/top/{bank}/Variant {v.number:03d}" + (f" ({v.code})" if v.code else "")
    _text(ET.SubElement(marker, "category"), category)
    return [marker, cloze_question(v)] if style == "cloze" else [marker, *_bank_questions(v)]


def moodle_document(parts: Iterable[list[ET.Element]], style: str = "cloze") -> bytes:
    """The Moodle XML file of the variants' shares, in order. The bank's questions give earlier right values,
    and Moodle XML cannot set a quiz's navigation: the file opens with a comment saying what the quiz needs (a
    comment, which Moodle's importer skips, as it does those of its own exports)."""
    root = ET.Element("quiz")
    if style == "bank":
        root.append(ET.Comment(f" {lms.SEQUENTIAL} "))
    for part in parts:
        root.extend(part)
    ET.indent(root)
    return lms.xml_document(root)


def cloze_escape(text: str) -> str:
    """Plain text as a Cloze answer's feedback. Moodle's parser (qtype_multianswer_extract_question) ends a
    feedback at the first ``~`` or ``}`` not after a backslash, then decodes HTML entities once and turns only
    ``\\}`` and ``\\#`` back: a ``\\/`` or ``\\~`` would stay in the stored feedback as typed. So nothing is
    escaped with a backslash: the text is HTML-escaped (the stored feedback is HTML), and ``~``, ``{``, ``}`` and
    ``\\`` become character references, which the parser does not see and the browser shows as the character."""
    return html.escape(text, quote=False).translate(_CLOZE_REFERENCES)


_CLOZE_REFERENCES = {ord(c): f"&#{ord(c)};" for c in "~{}\\"}


def subquestion(box: lms.Box, number_format=plain_value) -> str:
    """One box as a Cloze NUMERICAL sub-question."""
    tolerance = number_format(box.tolerance)  # every answer of the box has the same
    parts = [f"={box.shown}:{tolerance}#{cloze_escape('Right.')}"]
    for w in box.wrong:
        parts.append(f"%0%{w.shown}:{tolerance}#{cloze_escape(w.feedback)}")
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def cloze_question(v: Variant) -> ET.Element:
    """The whole variant as one Cloze question: the network (diagram embedded) and every box in order."""
    e = ET.Element("question", type="cloze")
    _text(ET.SubElement(e, "name"), f"{lms.variant_name(v)}: one training step")
    div = lms.network_html(v, image_src=f"@@PLUGINFILE@@/{DIAGRAM}")
    boxes = lms.boxes(v)
    intro = ET.SubElement(div, "p")
    intro.text = f"Compute every value below in order ({len(boxes)} boxes), by the rule above."
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


# Moodle's Cloze grammar (question/type/multianswer/questiontype.php), NUMERICAL only: an answer ends at the first
# ~ # or } not after \, & or &amp;; a feedback at the first ~ or } not after \.
_FRACTION = r"=|%(-?[0-9]+(?:[.,][0-9]*)?)%"
_ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
_FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
_ALTERNATIVE = f"({_FRACTION})?({_ANSWER})(#({_FEEDBACK}))?"
_NUMERICAL = re.compile(r"\{([0-9]*):(?:NUMERICAL|NM):(" + _ALTERNATIVE + "(?:~" + _ALTERNATIVE + r")*)\}", re.S)
_NUMBER = r"-?(?:(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?)"


def parse_cloze(text: str) -> list[list[tuple[float, str, float, str]]]:
    """The NUMERICAL sub-questions of a Cloze question text (the HTML as imported), each a list of (fraction %,
    value, tolerance, stored feedback HTML): read as Moodle's parser reads it (used by the tests)."""
    out = []
    while m := _NUMERICAL.search(text):
        answers = []
        rest = m.group(2)
        while a := re.search("~?" + _ALTERNATIVE, rest, re.S):
            fraction = 100.0 if a.group(1) == "=" else float((a.group(2) or "0").replace(",", "."))
            number = re.fullmatch(f"({_NUMBER})(?::({_NUMBER}))?", a.group(3), re.S)
            if number is None:
                raise ValueError(f"not a Cloze numerical answer: {a.group(3)!r}")
            feedback = html.unescape(a.group(5) or "").replace("\\}", "}").replace("\\#", "#")
            answers.append((fraction, number.group(1), float(number.group(2) or 0), feedback))
            rest = rest.split(a.group(0), 1)[1]
        out.append(answers)
        text = text.replace(m.group(0), f"{{#{len(out)}}}", 1)
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
