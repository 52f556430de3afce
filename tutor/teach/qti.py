"""The Canvas export: worksheet variants as a QTI 1.2 package (a zip) that Canvas imports as one quiz a variant.

Each variant is an assessment, shown one question a page without going back: its description and every item
hold the network (diagram included as a file of the package), so that each item is answerable on its own, and
every box is a numerical question in order, saying which earlier values to use, right within the box's
tolerance (one unit of the key's last decimal, the grading core's ``SheetKey``), with the worked line as general feedback. The
right range is an item's only range: Canvas's importer makes every response condition with a range one more
accepted answer, so the values the generated misconceptions give, each with the mistake it names, are the
item's incorrect-answer feedback instead.

Written with ElementTree rather than text2qti: text2qti reads Markdown (our HTML and LaTeX would go through a
second escaping), needs a Canvas institution's equation-image URL or pandoc for LaTeX, writes a configuration
file in the home folder on first use, and gives a numerical question one answer without per-value feedback.
"""

from __future__ import annotations

import hashlib
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from typing import TYPE_CHECKING, Iterable

from . import lms
from .quiz import plain_value

if TYPE_CHECKING:
    from .worksheet import Variant

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
META_NS = "http://canvas.instructure.com/xsd/cccv1p0"
DIAGRAM = "network.svg"
# Canvas files an item feedback by its ident: "general_..." as neutral (always shown), "...incorrect..." as the
# feedback on a wrong answer.
INCORRECT = "general_incorrect_fb"
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
    # the identifier hashes the code, not the seed: a hash of a seed is found again by trying every seed
    # (a spec's one sheet, worksheet --spec: its spec names it)
    aid = ident("assessment", v.code or v.seed, v.number, v.code or v.spec or v.made.command)
    name = f"{title}, variant {v.number}" + (f" (code {v.code})" if v.code else "")
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
    return lms.xml_document(root)


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
        # a later question gives the right values of the boxes it uses: one question a page, no going back,
        # so that they cannot be used to change an earlier answer
        ("one_question_at_a_time", "true"),
        ("cant_go_back", "true"),
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
        _mattext(presentation, network + ask)  # every item answerable on its own: the network in each
        resp = ET.SubElement(presentation, "response_str", ident="response1", rcardinality="Single")
        ET.SubElement(ET.SubElement(resp, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
        rp = ET.SubElement(item, "resprocessing")
        ET.SubElement(
            ET.SubElement(rp, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal"
        )
        # Canvas's numeric importer turns every condition holding a range into one more answer worth full
        # marks, whatever it sets: so the right range is the only range, and the misconception feedback is the
        # item's incorrect feedback (shown on any wrong answer), naming the value each mistake gives.
        general = ET.SubElement(rp, "respcondition", {"continue": "Yes"})
        ET.SubElement(ET.SubElement(general, "conditionvar"), "other")
        ET.SubElement(general, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
        right = ET.SubElement(rp, "respcondition", {"continue": "No"})
        _range(ET.SubElement(right, "conditionvar"), b.value, b.tolerance, b.shown)
        ET.SubElement(right, "setvar", action="Set", varname="SCORE").text = "100"
        if b.wrong:
            wrong = ET.SubElement(rp, "respcondition", {"continue": "Yes"})
            ET.SubElement(ET.SubElement(wrong, "conditionvar"), "other")
            ET.SubElement(wrong, "displayfeedback", feedbacktype="Response", linkrefid=INCORRECT)
        fb = ET.SubElement(item, "itemfeedback", ident="general_fb")
        _mattext(ET.SubElement(fb, "flow_mat"), f"<p>\\({b.worked}\\)</p>")
        if b.wrong:
            fb = ET.SubElement(item, "itemfeedback", ident=INCORRECT)
            _mattext(ET.SubElement(fb, "flow_mat"), _misconceptions(b))
    return root


def _misconceptions(b: lms.Box) -> str:
    """The incorrect-answer feedback: each value a generated mistake gives, with the mistake it points to."""
    ul = ET.Element("ul")
    for w in b.wrong:
        ET.SubElement(ul, "li").text = f"{w.shown}: {w.feedback}"
    return "<p>If your answer is one of these values:</p>" + ET.tostring(ul, encoding="unicode", method="html")


def _range(cv: ET.Element, value: float, tolerance: float, shown: str) -> None:
    o = ET.SubElement(cv, "or")
    ET.SubElement(o, "varequal", respident="response1").text = shown
    a = ET.SubElement(o, "and")
    ET.SubElement(a, "vargte", respident="response1").text = plain_value(round(value - tolerance, 12))
    ET.SubElement(a, "varlte", respident="response1").text = plain_value(round(value + tolerance, 12))


def parse(data: bytes) -> list[dict]:
    """The assessments of a package, each with its items as Canvas's numeric importer reads them (used by the
    tests): every response condition holding an ``or`` (the key with a margin up to its ``varlte``) or an
    ``and`` (a ``vargte``..``varlte`` range) becomes an answer worth full marks, whatever score it sets; each
    item feedback is filed by its ident, as neutral, correct or incorrect comments."""
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
                accepted = []
                for c in item.findall("q:resprocessing/q:respcondition", ns):
                    cv = c.find("q:conditionvar", ns)
                    if (either := cv.find("q:or", ns)) is not None:
                        exact = Decimal(either.find("q:varequal", ns).text)
                        margin = Decimal(either.find("q:and/q:varlte", ns).text) - exact
                        accepted.append((float(exact - margin), float(exact + margin)))
                    elif (both := cv.find("q:and", ns)) is not None:
                        accepted.append((float(both.find("q:vargte", ns).text), float(both.find("q:varlte", ns).text)))
                comments = {}
                for f in item.findall("q:itemfeedback", ns):
                    fid = f.get("ident")
                    kind = next(
                        (k for k, pattern in _CANVAS_FEEDBACK if re.search(pattern, fid, re.I)), f"answer {fid}"
                    )
                    comments[kind] = f.find("q:flow_mat/q:material/q:mattext", ns).text
                items.append(
                    {
                        "title": item.get("title"),
                        "type": item.find(".//q:fieldentry", ns).text,
                        "text": item.find("q:presentation/q:material/q:mattext", ns).text,
                        "accepted": accepted,
                        "comments": comments,
                    }
                )
            out.append({"title": a.get("title"), "files": z.namelist(), "items": items})
    return out


# How Canvas's importer files an item feedback by its ident, the first pattern that matches winning.
_CANVAS_FEEDBACK = (("incorrect", r"wrong|incorrect|_IC$"), ("correct", r"correct|_C$"), ("neutral", r"general_|_all"))
