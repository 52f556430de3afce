"""The Moodle export: worksheet variants as a Moodle XML question bank."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Iterable

from .quiz import givens, plain_value

if TYPE_CHECKING:
    from .worksheet import Variant


def moodle_xml(variants: Iterable[Variant], bank: str = "Backpropagation worksheet") -> bytes:
    """A Moodle XML question bank: a category per variant, one numerical question per quantity with its tolerance."""
    from ..render.notation import FormulaWriter, Notation

    root = ET.Element("quiz")
    for v in variants:
        net, walk = v.made.network, v.walk
        notation = Notation(walk.labels, net.notation["updated"], dialect="web")
        writer = FormulaWriter(notation, walk.values(), net.conventions.digits)
        category = ET.SubElement(ET.SubElement(root, "question", type="category"), "category")
        _text(category, f"$course$/top/{bank}/Variant {v.number:03d} (seed {v.seed})")
        network = _network_html(v, notation)
        for q in v.questions:
            quantity = walk.quantities[q.key]
            e = ET.SubElement(root, "question", type="numerical")
            _text(ET.SubElement(e, "name"), f"Variant {v.number:03d} question {q.number:02d}: {q.key}")
            ask = ET.Element("p")
            ask.text = f"Question {q.number} of {len(v.questions)}: compute \\({notation.tex(q.key)}\\), {v.tolerance.describe()}."
            _text(ET.SubElement(e, "questiontext", format="html"), network + ET.tostring(ask, encoding="unicode"))
            feedback = ET.Element("p")
            feedback.text = (
                f"\\({notation.tex(q.key)} = {writer.formula(quantity, 'tex')} = "
                f"{writer.substituted(quantity, 'tex')} = {q.shown}\\)"
            )
            _text(ET.SubElement(e, "generalfeedback", format="html"), ET.tostring(feedback, encoding="unicode"))
            ET.SubElement(e, "defaultgrade").text = "1"
            ET.SubElement(e, "penalty").text = "0.3333333"
            ET.SubElement(e, "hidden").text = "0"
            answer = ET.SubElement(e, "answer", fraction="100", format="moodle_auto_format")
            ET.SubElement(answer, "text").text = q.shown
            ET.SubElement(answer, "tolerance").text = plain_value(q.tolerance)
            _text(ET.SubElement(answer, "feedback", format="html"), "<p>Right.</p>")
            for tag, value in (
                ("unitgradingtype", "0"),
                ("unitpenalty", "0.1000000"),
                ("showunits", "3"),
                ("unitsleft", "0"),
            ):
                ET.SubElement(e, tag).text = value
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _text(parent: ET.Element, value: str) -> None:
    ET.SubElement(parent, "text").text = value


def _network_html(v: Variant, notation) -> str:
    div = ET.Element("div")
    head = ET.SubElement(div, "p")
    head.text = f"{v.made.network.description} Network seed {v.seed}."
    table = ET.SubElement(div, "table")
    for title, items in givens(v.made.network):
        row = ET.SubElement(table, "tr")
        ET.SubElement(row, "th").text = title
        ET.SubElement(row, "td").text = ", ".join(
            f"\\({notation.tex(g.key)} = {plain_value(g.value)}\\)" for g in items
        )
    return ET.tostring(div, encoding="unicode", method="html")
