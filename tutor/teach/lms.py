"""What every LMS export of a worksheet variant says: the network in HTML (diagram, wiring, formulas), the boxes
in order with their keys and tolerances (the grading core's ``SheetKey``: what the sheet's stated rule gives from
the rounded values shown before, right within one unit of its last decimal), the values earlier boxes give, and
the values the generated misconceptions give (for wrong-answer feedback). Moodle XML, GIFT and QTI format these."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..spec.rounding import format_fixed
from .grading import MISCONCEPTIONS, Grader, World, rule_statement
from .quiz import activations_by_layer, givens, plain_value

if TYPE_CHECKING:
    from .worksheet import Variant

# An export of one question a box (GIFT, the Moodle bank) gives in each question the right values of the earlier
# boxes it uses, and neither format can set a quiz's navigation: the file, and the worksheet command, say it.
SEQUENTIAL = (
    "Each question gives the right values of the earlier boxes it uses: put a variant's questions in one quiz "
    "in this order, one a page, with Navigation method: Sequential (Quiz settings, Layout), so that a later "
    "question cannot be used to change an earlier answer."
)


@dataclass(frozen=True)
class Wrong:
    """A value a named mistake gives, for a 0 % answer with feedback."""

    value: float
    shown: str
    misconception: str
    feedback: str


@dataclass(frozen=True)
class Box:
    number: int
    key: str
    tex: str  # the quantity's label in LaTeX
    text: str  # and in Unicode
    value: float  # the key (SheetKey): what the sheet's rule gives from the rounded values before it
    shown: str
    tolerance: float  # one unit of the key's last decimal
    worked: str  # LaTeX: label = formula = numbers = value
    uses: tuple[tuple[str, str], ...]  # (LaTeX label, value) of the earlier boxes it is computed from
    wrong: tuple[Wrong, ...]


_BOXES: dict[tuple[int, str], tuple[Variant, list[Box]]] = {}  # (id(variant), dialect) -> (variant, its boxes)


def boxes(v: Variant, dialect: str = "web") -> list[Box]:
    """Every asked quantity of the variant, in order, with what an LMS needs to grade it (made once a variant:
    each export asks for them)."""
    hit = _BOXES.get((id(v), dialect))
    if hit is not None and hit[0] is v:
        return hit[1]
    if len(_BOXES) > 64:  # the exports of a worksheet ask for a variant's boxes one after the other
        _BOXES.clear()
    out = _BOXES[id(v), dialect] = (v, _boxes(v, dialect))
    return out[1]


def _boxes(v: Variant, dialect: str) -> list[Box]:
    from ..render.notation import FormulaWriter, Notation

    net, walk = v.made.network, v.walk
    notation = Notation(walk.labels, net.notation["updated"], dialect=dialect)
    writer = FormulaWriter(notation, walk.values(), net.conventions.digits)
    digits = net.conventions.digits
    # the misconceptions are the grading core's, as the quiz finds them after right earlier boxes
    grader = Grader(walk, v.tolerance, asked=[q.key for q in v.questions], digits=digits, label=notation.text)
    out = []
    earlier: dict[str, float] = {}
    for q in v.questions:
        quantity = walk.quantities[q.key]
        key = grader.sheet_key(q.key)
        tol = key.tolerance
        world = World(walk, {**grader.given, **earlier}, grader.round)
        allowed = set(grader.steps(q.key, earlier))
        earlier[q.key] = q.value
        seen: list[float] = [key.value]
        wrong = []
        for c in grader.candidates(q.key, world, allowed) + grader.early(q.key):
            # a mistake whose range would touch the key's or another listed one's says nothing: leave it out
            if not math.isfinite(c.value) or any(abs(c.value - s) <= tol * 2.5 for s in seen):
                continue
            seen.append(c.value)
            shown = format_fixed(c.value, digits) if abs(c.value) < 1e15 else f"{c.value:.6g}"
            feedback = f"It looks like {MISCONCEPTIONS[c.misconception]} ({c.detail})."
            wrong.append(Wrong(c.value, shown, c.misconception, feedback))
        substituted = writer.substituted(quantity, "tex")
        worked = f"{notation.tex(q.key)} = {writer.formula(quantity, 'tex')}"
        if substituted != writer.number(q.value):
            worked += f" = {substituted}"
        worked += f" = {q.shown}"
        if key.shown != q.shown:  # the answer's own rounding (significant figures, other decimals)
            worked += f" \\approx {key.shown}"
        uses = tuple(
            (notation.tex(a), format_fixed(walk.value(a), digits))
            for a in dict.fromkeys(quantity.args)
            if walk.quantities[a].form is not None
        )
        out.append(
            Box(q.number, q.key, notation.tex(q.key), q.label, key.value, key.shown, tol, worked, uses, tuple(wrong))
        )
    return out


def variant_name(v: Variant) -> str:
    """What a student sees a variant called: its number and its opaque code, never its seed (which would let
    anyone make the key again)."""
    return f"Variant {v.number}" + (f" (code {v.code})" if v.code else "")


def network_html(v: Variant, image_src: str | None = None, notation=None) -> ET.Element:
    """The network as a student needs it, as HTML with \\( \\) math: the diagram (``image_src``, when given),
    the wiring (which weight joins which neurons), the biases, inputs, targets and learning rate, the
    activation and loss formulas, and how to round."""
    from ..engine.steps import MapWalk
    from ..render.notation import FormulaWriter, Notation

    net, walk = v.made.network, v.walk
    notation = notation or Notation(walk.labels, net.notation["updated"], dialect="web")
    writer = FormulaWriter(notation, walk.values(), net.conventions.digits)
    div = ET.Element("div")
    p = ET.SubElement(div, "p")
    p.text = f"{variant_name(v)}: a {'-'.join(map(str, net.shape))} network."
    if image_src:
        ET.SubElement(
            ET.SubElement(div, "p"),
            "img",
            src=image_src,
            alt="The given input and kernels as grids of their numbers"
            if isinstance(walk, MapWalk)
            else "Diagram of the network: inputs on the left, each weight on its edge, biases below the neurons",
        )
    table = ET.SubElement(div, "table", border="1", cellpadding="4")
    head = ET.SubElement(table, "tr")
    for h in ("", "quantity", "value"):
        ET.SubElement(head, "th").text = h
    for title, items in givens(net):
        row = ET.SubElement(table, "tr")
        ET.SubElement(row, "th", colspan="3").text = title.split(" (loss")[0]
        for g in items:
            r = ET.SubElement(table, "tr")
            if g.kind in ("weight", "bias") and not g.neuron:  # a kernel's or a recurrent layer's: read everywhere
                role = g.kind
            elif g.kind == "weight":
                role = f"\\({notation.tex(g.source)} \\to {notation.tex(g.neuron)}\\)"
            elif g.kind in ("bias", "target"):
                role = f"{g.kind} of " + ", ".join(f"\\({notation.tex(n)}\\)" for n in g.neuron.split(", "))
            else:
                role = {"input": "input", "rate": "learning rate"}[g.kind]
            ET.SubElement(r, "td").text = role
            ET.SubElement(r, "td").text = f"\\({notation.tex(g.key)}\\)"
            ET.SubElement(r, "td").text = plain_value(g.value)
    formulas = ET.SubElement(div, "ul")
    for name, which, (f, df) in activations_by_layer(net):
        item = ET.SubElement(formulas, "li")
        item.text = f"Layer {', '.join(map(str, which))}: {name}, \\({f}\\)" + (f", \\({df}\\)" if df else "")
    loss = ET.SubElement(formulas, "li")
    lines = [f"{notation.tex(walk.loss)} = {writer.formula(walk.quantities[walk.loss], 'tex')}"]
    lines += [f"{notation.tex(t)} = {writer.formula(walk.quantities[t], 'tex')}" for t in walk.loss_terms]
    loss.text = f"Loss, {net.loss_rule.title or net.loss}: " + ", ".join(f"\\({x}\\)" for x in lines)
    rule = ET.SubElement(div, "p")
    rule.text = (
        f"{rule_statement(v.tolerance, net.conventions.digits)} Hidden deltas use the old weights; biases are "
        f"{'updated' if net.update_biases else 'not updated'}."
    )
    return div


def diagram_svg(v: Variant) -> str:
    """The variant's network diagram as SVG (the walk-through's own drawing: given values only). A variant's
    files and exports read it several times; it is drawn once (``walkthrough.drawing`` keeps it)."""
    from ..engine.steps import MapWalk

    walk = v.walk
    if isinstance(walk, MapWalk):  # convolution, pooling, recurrence: the given maps and kernels as grids
        from ..render.maps import given_grids_svg

        return given_grids_svg(walk)
    from ..render.walkthrough import drawing

    return drawing(walk, "md")


def xml_document(root: ET.Element) -> bytes:
    """An XML file of ``root``: the declaration, the tree in UTF-8, a line break. The tree is written as text and
    encoded once: ElementTree writing UTF-8 itself encodes each of its thousands of small pieces on its own.
    The bytes are the same: a character UTF-8 cannot hold (a lone surrogate of an undecodable file name) becomes
    a character reference, as ElementTree's own writer makes it."""
    text = "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"
    return text.encode("utf-8", "xmlcharrefreplace")


def given_before_last_box(v: Variant) -> list[tuple[str, str, str]]:
    """Every quantity up to the last box, in order, as (key, LaTeX label, what is given): '' for a box, the
    value for a quantity of a section that is not boxes, the formula (\\(...\\)) for one that only copies a value."""
    from ..render.notation import FormulaWriter, Notation

    net, walk = v.made.network, v.walk
    notation = Notation(walk.labels, net.notation["updated"], dialect="web")
    writer = FormulaWriter(notation, walk.values(), net.conventions.digits)
    boxes = {q.key for q in v.questions}
    every = list(v.all_questions or v.questions)
    last = max(i for i, q in enumerate(every) if q.key in boxes)
    out = []
    for q in every[: last + 1]:
        if q.key in boxes:
            given = ""
        elif q.copies:
            given = f"\\({writer.formula(walk.quantities[q.key], 'tex')}\\) (given)"
        else:
            given = f"{q.shown} (given)"
        out.append((q.key, notation.tex(q.key), given))
    return out
