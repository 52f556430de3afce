"""What a worksheet variant computes once and uses several times is the same as what it would compute each time:
the drawing its files and exports share with its walk-through, the XML files written in one piece, the GIFT
text escaped in parts, and a small picture's label places tested edge by edge instead of in bulk."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

from tutor.engine.steps import MapWalk
from tutor.render import diagram, render_markdown
from tutor.render.lines import writer
from tutor.render.notation import FormulaWriter, Notation
from tutor.spec import load
from tutor.teach import gift, lms, randomnet, worksheet


def _own_drawing(v: worksheet.Variant) -> str:
    """The variant's drawing as lms.diagram_svg made it before it was shared: its own writer, its own layout."""
    net, walk = v.made.network, v.walk
    fw = FormulaWriter(
        Notation(walk.labels, net.notation["updated"], dialect="web"), walk.values(), net.conventions.digits
    )
    return diagram.svg(diagram.layout(walk, fw))


def _variants():
    for options in (
        randomnet.options(shape="2-2-1"),
        randomnet.options(
            shape="3-2-2", activation="tanh", output_activation="softmax", loss="categorical_cross_entropy"
        ),
        randomnet.options(
            shape="2-3-1", activation="relu", output_activation="identity", loss="mse", digits=2, nice=True
        ),
        randomnet.options(shape="1-2-2-1", activation="elu", digits=7),
    ):
        yield from worksheet.Variants(2, 31, options)
    for name in ("mazur", "python-printed", "appendix-b"):
        yield worksheet.spec_variant(load(name), name)


def test_a_variants_drawing_is_its_walkthroughs_and_what_its_own_writer_drew():
    for v in _variants():
        assert not isinstance(v.walk, MapWalk)
        shared = lms.diagram_svg(v)
        assert shared == _own_drawing(v), v.spec or v.made.command
        assert shared.startswith("<svg") and shared in render_markdown(v.walk)


def test_an_xml_file_written_in_one_piece_is_elementtrees_own_bytes():
    root = ET.Element("quiz")
    item = ET.SubElement(root, "question", name='é <&> "\udce9"')
    item.text = "π − 0.5933 & < > ~ {} \udcff"
    ET.SubElement(root, "empty")
    ET.indent(root)
    own = ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"
    assert lms.xml_document(root) == own
    assert b"&#56553;" in own and "π".encode() in own  # a lone surrogate as a reference, the rest as UTF-8


def test_gift_escaping_in_parts_is_escaping_the_whole():
    rng = random.Random(7)
    alphabet = "ab\\~=#{}:\n <>&é"
    for _ in range(500):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        assert gift.escape(a) + gift.escape(b) == gift.escape(a + b)


def test_a_small_pictures_label_places_are_tested_edge_by_edge_with_the_same_answers():
    rng = random.Random(3)
    checked = 0
    for v in _variants():
        d = diagram.layout(v.walk, writer(v.walk, "web"))
        few = diagram._Crossings(d.edges)
        if few.few is None:
            continue
        bulk = diagram._Crossings.__new__(diagram._Crossings)
        keep = diagram._FEW_EDGES
        try:
            diagram._FEW_EDGES = -1  # every edge in bulk, as a dense picture's
            bulk.__init__(d.edges)
        finally:
            diagram._FEW_EDGES = keep
        assert bulk.few is None
        for _ in range(400):
            x, y = rng.uniform(-0.5, d.width + 0.5), rng.uniform(-0.5, d.height + 0.5)
            box = (x, y, x + rng.uniform(0.05, 1.5), y + rng.uniform(0.05, 0.6))
            but = rng.choice(d.nodes)
            assert few.any(box, but) == bulk.any(box, but)
            checked += 1
    assert checked >= 4000
