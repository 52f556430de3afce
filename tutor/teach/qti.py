"""The Canvas export: worksheet variants as a QTI 1.2 package (a zip) that Canvas imports as one quiz a variant.

Each variant is an assessment: its description holds the network (diagram included as a file of the package),
and every box is a numerical question in order, saying which earlier values to use, right within the box's
tolerance (relative to the key's size, see ``lms.tolerance``), with the worked line as general feedback and the
values of the generated misconceptions as response conditions with feedback naming the mistake.

Written with ElementTree rather than text2qti: text2qti reads Markdown (our HTML and LaTeX would go through a
second escaping), needs a Canvas institution's equation-image URL or pandoc for LaTeX, writes a configuration
file in the home folder on first use, and gives a numerical question one answer without per-value feedback.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile
from typing import TYPE_CHECKING, Iterable

from . import lms
from .quiz import plain_value

if TYPE_CHECKING:
    from .worksheet import Variant

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
META_NS = "http://canvas.instructure.com/xsd/cccv1p0"
DIAGRAM = "network.svg"
# A fixed time for every member of the zip: the same variants give the same bytes.
_STAMP = (2020, 1, 1, 0, 0, 0)


def ident(*parts: object) -> str:
    """A stable identifier (Canvas wants one per assessment and item): the same variant gives the same one."""
    return "g" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:32]


def package(variants: Iterable[Variant], title: str = "Backpropagation worksheet") -> bytes:
    """The QTI package as zip bytes: imsmanifest.xml, and per variant its assessment, its Canvas metadata and
    its diagram."""
    return package_of((qti_part(v, title) for v in variants), title)


def qti_part(v: Variant, title: str = "Backpropagation worksheet") -> tuple[str, dict[str, bytes]]:
    """One variant's assessment identifier and files (made in a worksheet's worker process)."""
    aid = ident("assessment", v.seed, v.number, v.made.command)
    name = f"{title}, variant {v.number} (seed {v.seed})"
    return aid, {
        f"{aid}/{aid}.xml": _xml(assessment(v, aid, name), QTI_NS),
        f"{aid}/assessment_meta.xml": _xml(_meta(v, aid, name), META_NS),
        f"{aid}/{DIAGRAM}": lms.diagram_svg(v).encode("utf-8"),
    }


def package_of(parts: Iterable[tuple[str, dict[str, bytes]]], title: str = "Backpropagation worksheet") -> bytes:
    """The zip of the variants' shares, in order, under one manifest."""
    files: dict[str, bytes] = {}
    resources = []
    for aid, own in parts:
        files.update(own)
        resources.append(aid)
    files = {"imsmanifest.xml": _xml(_manifest(resources, title), CP_NS), **files}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def _xml(root: ET.Element, ns: str) -> bytes:
    root.set("xmlns", ns)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _manifest(ids: list[str], title: str) -> ET.Element:
    m = ET.Element("manifest", identifier=ident("manifest", *ids))
    meta = ET.SubElement(m, "metadata")
    ET.SubElement(meta, "schema").text = "IMS Content"
    ET.SubElement(meta, "schemaversion").text = "1.1.3"
    ET.SubElement(m, "organizations")
    res = ET.SubElement(m, "resources")
    for aid in ids:
        r = ET.SubElement(res, "resource", identifier=aid, type="imsqti_xmlv1p2")
        ET.SubElement(r, "file", href=f"{aid}/{aid}.xml")
        ET.SubElement(r, "dependency", identifierref=f"{aid}_meta")
        meta_res = ET.SubElement(
            res,
            "resource",
            identifier=f"{aid}_meta",
            type="associatedcontent/imscc_xmlv1p1/learning-application-resource",
            href=f"{aid}/assessment_meta.xml",
        )
        ET.SubElement(meta_res, "file", href=f"{aid}/assessment_meta.xml")
        ET.SubElement(meta_res, "file", href=f"{aid}/{DIAGRAM}")
    return m


def _network(v: Variant) -> str:
    src = f"$IMS-CC-FILEBASE$/{DIAGRAM}"
    return ET.tostring(lms.network_html(v, image_src=src), encoding="unicode", method="html")


def _meta(v: Variant, aid: str, name: str) -> ET.Element:
    q = ET.Element("quiz", identifier=aid)
    ET.SubElement(q, "title").text = name
    ET.SubElement(q, "description").text = _network(v)
    for tag, value in (
        ("shuffle_answers", "false"),
        ("scoring_policy", "keep_highest"),
        ("quiz_type", "assignment"),
        ("points_possible", f"{len(v.questions)}.0"),
        ("allowed_attempts", "1"),
        ("one_question_at_a_time", "false"),
        ("cant_go_back", "false"),
        ("show_correct_answers", "true"),
    ):
        ET.SubElement(q, tag).text = value
    return q


def _field(parent: ET.Element, label: str, entry: str) -> None:
    f = ET.SubElement(parent, "qtimetadatafield")
    ET.SubElement(f, "fieldlabel").text = label
    ET.SubElement(f, "fieldentry").text = entry


def _mattext(parent: ET.Element, html: str) -> None:
    ET.SubElement(ET.SubElement(parent, "material"), "mattext", texttype="text/html").text = html


def assessment(v: Variant, aid: str, name: str) -> ET.Element:
    root = ET.Element("questestinterop")
    a = ET.SubElement(root, "assessment", ident=aid, title=name)
    _field(ET.SubElement(a, "qtimetadata"), "cc_maxattempts", "1")
    section = ET.SubElement(a, "section", ident="root_section")
    network = _network(v)
    boxes = lms.boxes(v)
    for b in boxes:
        item = ET.SubElement(section, "item", ident=ident(aid, b.key), title=f"Question {b.number}: {b.text}")
        meta = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
        _field(meta, "question_type", "numerical_question")
        _field(meta, "points_possible", "1.0")
        uses = ", ".join(f"\\({label} = {value}\\)" for label, value in b.uses)
        ask = f"<p>Question {b.number} of {len(boxes)}: compute \\({b.tex}\\)" + (
            f", using {uses}.</p>" if uses else ".</p>"
        )
        presentation = ET.SubElement(item, "presentation")
        _mattext(presentation, (network if b.number == 1 else "") + ask)
        resp = ET.SubElement(presentation, "response_str", ident="response1", rcardinality="Single")
        ET.SubElement(ET.SubElement(resp, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
        rp = ET.SubElement(item, "resprocessing")
        ET.SubElement(
            ET.SubElement(rp, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal"
        )
        general = ET.SubElement(rp, "respcondition", {"continue": "Yes"})
        ET.SubElement(ET.SubElement(general, "conditionvar"), "other")
        ET.SubElement(general, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
        for k, w in enumerate(b.wrong, 1):
            c = ET.SubElement(rp, "respcondition", {"continue": "Yes"})
            _range(ET.SubElement(c, "conditionvar"), w.value, b.tolerance, w.shown)
            ET.SubElement(c, "displayfeedback", feedbacktype="Response", linkrefid=f"wrong_{k}")
        right = ET.SubElement(rp, "respcondition", {"continue": "No"})
        _range(ET.SubElement(right, "conditionvar"), b.value, b.tolerance, b.shown)
        ET.SubElement(right, "setvar", action="Set", varname="SCORE").text = "100"
        fb = ET.SubElement(item, "itemfeedback", ident="general_fb")
        _mattext(ET.SubElement(fb, "flow_mat"), f"<p>\\({b.worked}\\)</p>")
        for k, w in enumerate(b.wrong, 1):
            fb = ET.SubElement(item, "itemfeedback", ident=f"wrong_{k}")
            _mattext(ET.SubElement(fb, "flow_mat"), f"<p>{w.feedback}</p>")
    return root


def _range(cv: ET.Element, value: float, tolerance: float, shown: str) -> None:
    o = ET.SubElement(cv, "or")
    ET.SubElement(o, "varequal", respident="response1").text = shown
    a = ET.SubElement(o, "and")
    ET.SubElement(a, "vargte", respident="response1").text = plain_value(round(value - tolerance, 12))
    ET.SubElement(a, "varlte", respident="response1").text = plain_value(round(value + tolerance, 12))


def parse(data: bytes) -> list[dict]:
    """The assessments of a package, each with its items: (title, question HTML, right range, wrong ranges
    with their feedback), as an importer reads them (used by the tests)."""
    ns = {"q": QTI_NS, "c": CP_NS}
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        manifest = ET.fromstring(z.read("imsmanifest.xml"))
        for r in manifest.findall("c:resources/c:resource[@type='imsqti_xmlv1p2']", ns):
            href = r.find("c:file", ns).get("href")
            root = ET.fromstring(z.read(href))
            a = root.find("q:assessment", ns)
            items = []
            for item in a.findall("q:section/q:item", ns):
                feedback = {
                    f.get("ident"): f.find("q:flow_mat/q:material/q:mattext", ns).text
                    for f in item.findall("q:itemfeedback", ns)
                }
                conds = item.findall("q:resprocessing/q:respcondition", ns)

                def bounds(c):
                    return (
                        float(c.find(".//q:vargte", ns).text),
                        float(c.find(".//q:varlte", ns).text),
                    )

                right = next(c for c in conds if c.find("q:setvar", ns) is not None)
                wrong = [
                    (bounds(c), feedback[c.find("q:displayfeedback", ns).get("linkrefid")])
                    for c in conds
                    if c.find("q:conditionvar/q:other", ns) is None and c.find("q:setvar", ns) is None
                ]
                items.append(
                    {
                        "title": item.get("title"),
                        "type": item.find(".//q:fieldentry", ns).text,
                        "text": item.find("q:presentation/q:material/q:mattext", ns).text,
                        "right": bounds(right),
                        "wrong": wrong,
                        "feedback": feedback["general_fb"],
                    }
                )
            out.append({"title": a.get("title"), "files": z.namelist(), "items": items})
    return out
