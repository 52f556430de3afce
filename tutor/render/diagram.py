"""The network diagram of a walk-through: laid out once, drawn as SVG, as a LaTeX picture, or listed as text.

The layout reads the walk-through's records and prints labels and numbers with its FormulaWriter, like every
renderer; it computes positions only. Inputs form the first column and every layer one more; every
neuron has its bias node right below it, and every weight is written on its edge.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.steps import Walkthrough
from .notation import Name, tex_name

COLUMN = 4.8  # horizontal distance of two columns, in layout units (1 unit = 1 cm in the LaTeX picture) ...
CHAIN_COLUMN = 3.0  # ... between the columns of a network of one neuron a layer
ROW = 2.2  # ... and of two neurons of a column; both grow for denser networks, which have more labels
RADIUS = 0.42
SMALL = 0.2  # radius of a bias node
BIAS_DROP = 1.05  # distance of a bias node below its neuron
ARROW = 1.1  # length of the arrow from an output neuron to its target
SKIP_RISE = 0.9  # how far above the top row a residual connection's arc rises ...
SKIP_ROOM = 1.4  # ... and the room it takes above the nodes (with its "+ out" label)
MARGIN = 2.6  # room for the input values at the left and the targets at the right
PX = 46  # SVG pixels per layout unit
TEXT_WIDTH = 17.0  # cm, of an A4 page with 2 cm margins
LABELLED_EDGES = 48  # between two columns of at most this many edges, labels are placed apart with care
CROSSING = 0.18  # half the side of the square around an edge crossing that no label may touch
MAX_DRAWN = 400  # edges; a larger network is listed in the walk-through, not drawn
MAX_COLUMN = 24  # neurons in one column, likewise
DOTS_PER_CM = 60  # of an edge in the LaTeX picture (see picture()) ...
MAX_DOTS = 30_000  # ... and in all of it: fewer a centimetre for a dense network


@dataclass
class Node:
    kind: str  # "input" | "neuron" | "bias"
    name: Name  # written inside the node
    x: float
    y: float  # downwards, as in SVG
    layer: int  # -1 for the inputs
    note: Name | None = None  # the input's value, the bias, the output's target
    incoming: list["Edge"] = field(default_factory=list)
    key: str = ""  # the input's or neuron's name, the bias parameter's key (for the interactive page's highlights)
    side: str = "right"  # where a bias node's label sits (a key of _NOTE_SIDES), clear of every edge and label;
    # "" where no place is: the weight table beside the picture carries it


@dataclass
class Edge:
    source: Node
    target: Node
    label: Name | None  # "w5 = 0.4"; None for the edge from a bias node, whose label is on the node
    t: float  # where along the edge the label sits, from 0 (source) to 1 (target)
    drawn: bool = True  # False: no room for the label in the picture; the weight table carries it
    key: str = ""  # the weight's or bias's parameter key
    skip: bool = False  # a residual connection: the source's output added to the target's, drawn as an arc
    stacked: bool = False  # the label's name above the edge and its value below (a chain closed up to fit)


@dataclass
class Diagram:
    nodes: list[Node]
    edges: list[Edge]
    layers: list[tuple[str, str]]  # (name, activation) of each layer
    width: float
    height: float

    @property
    def drawable(self) -> bool:
        """Small enough to draw: larger networks get a sentence instead of a picture nobody could read."""
        tallest = max(Counter(n.layer for n in self.nodes if n.kind != "bias").values())
        return len(self.edges) <= MAX_DRAWN and tallest <= MAX_COLUMN

    def too_large(self) -> str:
        neurons = sum(1 for n in self.nodes if n.kind == "neuron")
        weights = sum(1 for e in self.edges if e.source.kind != "bias")
        return (
            f"The network has {neurons} neurons and {weights} weights, too many to draw legibly; "
            "the forward pass below shows every weight and bias."
        )


def _eq(fw, key: str) -> Name:
    """``label = value`` in both forms, for a quantity of the walk-through."""
    v = fw.value_of(key)  # as the document prints it: a given weight as the spec gives it (0.15, not 0.150000000)
    return Name(f"{fw.label(key, 'tex')} = {v}", f"{fw.label(key, 'text')} = {v}")


def _shown(fw, key: str, value: float) -> str:
    return fw.value_of(key) if key in fw.values else fw.number(value)


def layout(walk: Walkthrough, fw: Any) -> Diagram:
    """Place every input, neuron and bias node and every weighted edge; linear in the number of parameters."""
    net = walk.network
    dialect = fw.notation.dialect
    sizes = [len(net.input_names), *(l.size for l in net.layers)]
    tallest = max(sizes)
    densest = max(a * b for a, b in zip(sizes, sizes[1:]))
    row_gap = ROW + 0.3 * min(max(tallest - 2, 0), 4)
    # A chain of single neurons has one short horizontal label a gap: its columns can stand closer, so
    # that a deep chain is not shrunk to an unreadable strip to fit the page.
    col_gap = CHAIN_COLUMN if tallest == 1 else COLUMN + 0.3 * min(max(densest - 4, 0), 8)

    room = SKIP_ROOM if net.has_skips else 0.0  # residual connections arc above the nodes

    def column(n: int) -> list[float]:
        top = room + RADIUS + (tallest - n) * row_gap / 2
        return [top + k * row_gap for k in range(n)]

    def name(text: str) -> Name:
        return Name(tex_name(text, dialect), text)

    nodes: list[Node] = []
    edges: list[Edge] = []
    prev = [
        Node("input", name(n), MARGIN, y, -1, Name(_shown(fw, n, v), _shown(fw, n, v)), key=n)
        for n, v, y in zip(net.input_names, net.inputs, column(len(net.input_names)))
    ]
    nodes += prev
    rows: list[list[Node]] = []
    pending: list[Node] = []  # the previous layer's bias nodes, whose labels wait for the edges leaving it
    for li, layer in enumerate(net.layers):
        x = MARGIN + (li + 1) * col_gap
        row = [Node("neuron", name(n), x, y, li, key=n) for n, y in zip(layer.neurons, column(layer.size))]
        gap: list[Edge] = []
        for j, node in enumerate(row):
            if layer.weightless:  # net_j = a_j: one plain edge, no weight on it, no bias below
                edge = Edge(prev[j], node, None, 0.5)
                edges.append(edge)
                node.incoming.append(edge)
                continue
            for i, src in enumerate(prev):
                edge = Edge(src, node, _eq(fw, layer.weight_labels[j][i]), 0.5, key=layer.weight_labels[j][i])
                gap.append(edge)
                node.incoming.append(edge)
            if not layer.has_bias:
                continue
            # Each neuron gets its own bias node right below it, so that no bias edge crosses a weight
            # edge; a shared bias shows the same label on every one.
            bias_key = layer.bias_labels[0 if layer.shared_bias else j]
            bias = Node("bias", Name("1", "1"), x, node.y + BIAS_DROP, li, _eq(fw, bias_key), key=bias_key)
            edge = Edge(bias, node, None, 0.5, key=bias_key)
            nodes.append(bias)
            edges.append(edge)
            node.incoming.append(edge)
        # the previous layer's bias labels go where no edge (those leaving that layer included) crosses them,
        # before this gap's weight labels are placed around them
        _place_bias_labels(pending, edges + gap, edges)
        pending = [n for n in nodes if n.kind == "bias" and n.layer == li]
        _place_labels(gap, [n for n in nodes if n.x >= prev[0].x - 0.01] + row)
        edges += gap
        if layer.skip is not None:  # out = f(net) + the output of layers[skip], neuron by neuron
            for src, node in zip(rows[layer.skip], row):
                out_key = net.notation["out"].format(neuron=src.key)
                edge = Edge(src, node, Name(r"+\," + fw.label(out_key, "tex"), "+ " + fw.label(out_key, "text")), 0.5)
                edge.skip = True
                edges.append(edge)
                node.incoming.append(edge)
        nodes += row
        rows.append(row)
        prev = row
    for node, key in zip(prev, net.target_names()):
        node.note = _eq(fw, key)
    width = MARGIN * 2 + len(net.layers) * col_gap + ARROW
    if width > TEXT_WIDTH and tallest == 1:
        width = _fit_chain(nodes, edges, len(net.layers), col_gap) or width
    if width > TEXT_WIDTH:
        # Too wide for the page at full size, where the labels would shrink below 8 pt: the weights go to the
        # weight table only, and the columns close up to fit the page with the remaining labels at full size.
        gap = max((TEXT_WIDTH - MARGIN * 2 - ARROW) / len(net.layers), CHAIN_COLUMN)
        for n in nodes:
            n.x = MARGIN + (n.x - MARGIN) * gap / col_gap
        for e in edges:
            e.drawn = False
        width = MARGIN * 2 + len(net.layers) * gap + ARROW
        # the columns closed up: each bias label finds its place again among the moved edges
        _place_bias_labels([n for n in nodes if n.kind == "bias"], edges, [])
    _place_bias_labels(pending, edges, edges)
    # the targets written after the output arrows: the picture is wide enough to hold the longest one whole
    notes = [n for n in nodes if n.kind == "neuron" and n.note is not None]
    right = max((_box(n.x + RADIUS + ARROW + 0.12, n.y, n.note.text, "start")[2] for n in notes), default=0.0)
    if right + 0.1 > width:
        width = right + 0.1 if width > TEXT_WIDTH else min(right + 0.1, TEXT_WIDTH)
    # a chain's stacked weight names and a residual arc's "+ out" stand above the top row: the picture starts
    # above them, so that no page (an SVG's view box, a LaTeX picture) cuts their tops off
    # (and the top row's circles a little below the top, where a highlighted circle's thicker outline shows)
    shift = max(0.0, 0.05 - min((_top(e) for e in edges), default=0.05))
    shift = max(shift, 0.06 - min(n.y - _radius(n) for n in nodes))
    for n in nodes:
        n.y += shift
    height = (
        max(n.y + _radius(n) + (_NOTE_SIDES[n.side or "right"][1] + 0.25 if n.kind == "bias" else 0.0) for n in nodes)
        + 0.1
    )
    return Diagram(nodes, edges, [(l.name, l.activation) for l in net.layers], width, height)


def _fit_chain(nodes: list[Node], edges: list[Edge], layers: int, col_gap: float) -> float | None:
    """A chain of single neurons too wide for the page at its usual spacing: its margins shrink to the input's
    value and the target it shows, and its columns close up, as long as every weight label still fits between
    two nodes at full size. Returns the new width, or None (then the weight table carries the labels)."""
    inputs = [n for n in nodes if n.kind == "input"]
    last = max(n.layer for n in nodes)
    outputs = [n for n in nodes if n.kind == "neuron" and n.layer == last]
    left = RADIUS + 0.15 + max((_box(0, 0, n.note.text)[2] * 2 for n in inputs if n.note), default=0.0)
    right = RADIUS + ARROW + 0.12 + max((_box(0, 0, n.note.text)[2] * 2 for n in outputs if n.note), default=0.0)
    gap = (TEXT_WIDTH - left - right) / layers
    labelled = [e for e in edges if e.label is not None and not e.skip]
    # each label as its name above the edge and its value below: "w3" over "1.2"
    widest = max((_box(0, 0, part)[2] * 2 for e in labelled for part in e.label.text.split(" = ")), default=0.0)
    bias = max((_box(0, 0, n.note.text)[2] * 2 + SMALL + 0.12 for n in nodes if n.kind == "bias"), default=0.0)
    if gap - 2 * RADIUS < widest + 0.1 or gap < bias + SMALL:
        return None
    x0 = inputs[0].x
    for n in nodes:
        n.x = left + (n.x - x0) * gap / col_gap
    for e in labelled:
        e.stacked, e.t = True, 0.5
    return TEXT_WIDTH


# where a bias node's label may sit, first choice first: (dx, dy, anchor) from the node's centre
_NOTE_SIDES = {
    "right": (SMALL + 0.12, 0.0, "start"),
    "left": (-SMALL - 0.12, 0.0, "end"),
    "below": (0.0, SMALL + 0.3, "middle"),
    "below right": (SMALL, SMALL + 0.45, "start"),
    "below left": (-SMALL, SMALL + 0.45, "end"),
    "far below": (0.0, SMALL + 0.85, "middle"),
    "far below right": (SMALL, SMALL + 0.85, "start"),
    "far below left": (-SMALL, SMALL + 0.85, "end"),
}


def note_at(n: Node) -> tuple[float, float, str]:
    """Where a bias node's label is written, and its anchor ("start", "end" or "middle")."""
    dx, dy, anchor = _NOTE_SIDES[n.side or "right"]
    return n.x + dx, n.y + dy, anchor


def note_box(n: Node) -> tuple[float, float, float, float]:
    x, y, anchor = note_at(n)
    if anchor == "end":
        x0, y0, x1, y1 = _box(x, y, n.note.text, "start")
        return x - (x1 - x0), y0, x, y1
    return _box(x, y, n.note.text, anchor)


def _place_bias_labels(nodes: list[Node], edges: list[Edge], placed: list[Edge]) -> None:
    """Each bias label on the first side of its node (right, left, below, ...) that no edge crosses and no
    weight label already ``placed`` touches: an edge from the neuron above it to a lower neuron of the next
    layer would cross it on the right."""
    weights = [_box(*_label_at(e), e.label.text) for e in placed if e.label is not None and e.drawn and not e.stacked]
    crosses = _Crossings(edges)
    for n in nodes:
        if n.kind != "bias" or n.note is None:
            continue
        for side in _NOTE_SIDES:
            n.side = side
            box = note_box(n)
            if not crosses.any(box, but=n) and not any(_overlap(box, w) for w in weights):
                break
        else:
            n.side = ""  # no room clear of every edge: the weight table beside the picture carries it
            continue
        weights.append(note_box(n))


_FEW_EDGES = 24


class _Crossings:
    """Which of some edges pass through a box, all straight edges tested at once: the same Liang-Barsky steps as
    ``_segment_hits`` on NumPy arrays (the same IEEE operations, so the same answers), since a dense network's
    bias labels each try eight places against every edge of the picture."""

    def __init__(self, edges: list[Edge]) -> None:
        self.arcs = [e for e in edges if e.skip]
        straight = [e for e in edges if not e.skip]
        # a small picture's few edges are tested one by one: NumPy's steps cost more than the loop they replace
        self.few = [(e.source, _trimmed(e)) for e in straight] if len(straight) <= _FEW_EDGES else None
        if self.few is not None:
            return
        self.seg = np.array([_trimmed(e) for e in straight], dtype=float).reshape(-1, 4)
        self.d = self.seg[:, 2:] - self.seg[:, :2]  # dx, dy as _segment_hits takes them
        self.own: dict[int, list[int]] = {}  # a bias node's edges, which never count against its label
        for k, e in enumerate(straight):
            self.own.setdefault(id(e.source), []).append(k)

    def any(self, box: tuple[float, float, float, float], but: Node, inset: float = 0.02) -> bool:
        """Whether an edge whose source is not ``but`` passes through the box shrunk by ``inset``."""
        if any(_crosses(e, box) for e in self.arcs if e.source is not but):
            return True
        if self.few is not None:
            return any(_segment_hits(s[:2], s[2:], box, inset) for source, s in self.few if source is not but)
        lo = (box[0] + inset, box[1] + inset)
        hi = (box[2] - inset, box[3] - inset)
        t0 = np.zeros(len(self.seg))
        t1 = np.ones(len(self.seg))
        ok = np.ones(len(self.seg), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            for axis in (0, 1):
                a, d = self.seg[:, axis], self.d[:, axis]
                for p, q in ((-d, a - lo[axis]), (d, hi[axis] - a)):
                    flat = p == 0
                    ok &= ~(flat & (q < 0))
                    r = q / p
                    t0 = np.where(~flat & (p < 0), np.maximum(t0, r), t0)
                    t1 = np.where(~flat & (p > 0), np.minimum(t1, r), t1)
        hit = ok & (t0 <= t1)
        hit[self.own.get(id(but), [])] = False
        return bool(hit.any())


def _crosses(e: Edge, box: tuple[float, float, float, float]) -> bool:
    """Whether the edge (its straight line, or a residual connection's arc) passes through the box."""
    if e.skip:
        x1, y1, xc, yc, x2, y2, _, _ = _arc(e)
        pts = [
            (
                (1 - t) ** 2 * x1 + 2 * (1 - t) * t * xc + t * t * x2,
                (1 - t) ** 2 * y1 + 2 * (1 - t) * t * yc + t * t * y2,
            )
            for t in (i / 16 for i in range(17))
        ]
        return any(_segment_hits(a, b, box) for a, b in zip(pts, pts[1:]))
    x1, y1, x2, y2 = _trimmed(e)
    return _segment_hits((x1, y1), (x2, y2), box)


def _segment_hits(a, b, box, inset: float = 0.02) -> bool:
    """Whether the segment a-b passes through the box (shrunk by ``inset``): Liang-Barsky clipping."""
    x0, y0, x1, y1 = box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)):
        if p == 0:
            if q < 0:
                return False
        else:
            r = q / p
            if p < 0:
                t0 = max(t0, r)
            else:
                t1 = min(t1, r)
    return t0 <= t1


def _box(x: float, y: float, text: str, anchor: str = "middle") -> tuple[float, float, float, float]:
    """The rough extent of a small label, in layout units (about 0.15 per character at \\footnotesize)."""
    w = 0.15 * len(text) + 0.2
    x0 = x - w / 2 if anchor == "middle" else x
    return x0, y - 0.24, x0 + w, y + 0.24


def _overlap(a, b) -> float:
    """The area two boxes share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


_TRIES = [0.5, 0.4, 0.6, 0.3, 0.7, 0.35, 0.65, 0.25, 0.75, 0.45, 0.55, 0.2, 0.8, 0.15, 0.85]


def _place_labels(gap: list[Edge], nodes: list[Node]) -> None:
    """Choose where along its edge each weight label sits, the first place that overlaps no other label,
    node or bias label; a gap with more edges than LABELLED_EDGES keeps the middle (the work per edge stays
    bounded, and so many labels could not be read anyway)."""
    if len(gap) > LABELLED_EDGES:
        for e in gap:
            e.drawn = False
        return
    taken = []
    # a label never sits on the crossing of two edges: a small square around each crossing is taken
    for x, y in crossings(gap):
        taken.append((x - CROSSING, y - CROSSING, x + CROSSING, y + CROSSING))
    for n in nodes:
        r = _radius(n)
        taken.append((n.x - r, n.y - r, n.x + r, n.y + r))
        if n.kind == "bias" and n.note is not None and n.side:
            taken.append(note_box(n))
    crowded = False
    for k, e in enumerate(gap):
        # The first try differs from edge to edge, so that crossing edges do not start at the same point;
        # where every place overlaps something, the label goes where it overlaps least.
        tries = _TRIES[k % 3 :] + _TRIES[: k % 3]
        best = None
        for t in tries:
            e.t = t
            box = _box(*_label_at(e), e.label.text)
            cost = sum(_overlap(box, other) for other in taken)
            if best is None or cost < best[0]:
                best = (cost, t, box)
            if cost == 0:
                break
        _, e.t, box = best
        taken.append(box)
        if best[0] > 0:
            crowded = True
    if crowded:  # one label would touch another or a crossing: the gap's weights go to the weight table only
        for e in gap:
            e.drawn = False


def crossings(gap: list[Edge]) -> list[tuple[float, float]]:
    """Where two edges between the same two columns cross (not at a shared node)."""
    out = []
    for a in range(len(gap)):
        for b in range(a + 1, len(gap)):
            p, q = gap[a], gap[b]
            if p.source is q.source or p.target is q.target:
                continue
            if (p.source.y - q.source.y) * (p.target.y - q.target.y) >= 0:
                continue  # same order at both ends: no crossing
            # both run from x0 to x1: solve y_p(s) = y_q(s) for the fraction s of the way
            d0, d1 = p.source.y - q.source.y, p.target.y - q.target.y
            s = d0 / (d0 - d1)
            out.append((p.source.x + (p.target.x - p.source.x) * s, p.source.y + (p.target.y - p.source.y) * s))
    return out


def _label_at(e: Edge) -> tuple[float, float]:
    return e.source.x + (e.target.x - e.source.x) * e.t, e.source.y + (e.target.y - e.source.y) * e.t


def _arc(e: Edge) -> tuple[float, float, float, float, float, float, float, float]:
    """A residual connection's arc, from the top of its source to the top of its target, rising SKIP_RISE above
    the higher of them: (x1, y1, control x, control y, x2, y2, label x, label y)."""
    x1, y1 = e.source.x, e.source.y - RADIUS
    x2, y2 = e.target.x, e.target.y - RADIUS
    peak = min(y1, y2) - SKIP_RISE
    xc, yc = (x1 + x2) / 2, 2 * peak - (y1 + y2) / 2  # a quadratic Bezier reaches half-way to its control point
    return x1, y1, xc, yc, x2, y2, xc, peak - 0.28


def _top(e: Edge) -> float:
    """The top of an edge's label as drawn (a stacked label's name sits 0.24 above its place), or of the
    edge itself when it has no label above it."""
    if e.skip:
        return _box(*_arc(e)[6:], e.label.text)[1]
    y = min(e.source.y, e.target.y)
    if e.label is not None and e.drawn and e.stacked:
        y = min(y, _label_at(e)[1] - 0.24 - 0.24)
    return y


def _radius(n: Node) -> float:
    return SMALL if n.kind == "bias" else RADIUS


def _trimmed(e: Edge) -> tuple[float, float, float, float]:
    """The edge from circle to circle, not from centre to centre."""
    dx, dy = e.target.x - e.source.x, e.target.y - e.source.y
    d = (dx * dx + dy * dy) ** 0.5 or 1.0
    rs, rt = _radius(e.source) / d, _radius(e.target) / d
    return e.source.x + dx * rs, e.source.y + dy * rs, e.target.x - dx * rt, e.target.y - dy * rt


def _n(x: float) -> str:
    """A coordinate with two decimals and no "-0", so that output is identical from run to run."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


# -- SVG -------------------------------------------------------------------------------------------------

_XML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "$": "&#36;", "\\": "&#92;"}


def xml_escape(text: str) -> str:
    """Text for an SVG text node in HTML or in Markdown: also '$' and '\\', which Jupyter would read as math."""
    return "".join(_XML.get(c, c) for c in text)


def svg(d: Diagram, hooks: bool = False) -> str:
    """Inline SVG (no blank line, so that Markdown keeps it one HTML block).

    With ``hooks`` every edge, weight label and node carries ``data-edge="K"`` / ``data-node="K"`` (K its
    position in ``d.edges`` / ``d.nodes``, a generated number, never a name), which the interactive page
    highlights."""
    if not d.drawable:
        return "<p>" + d.too_large() + "</p>"

    def p(v: float) -> str:
        return _n(v * PX)

    def hook(kind: str, k: int) -> str:
        return f' data-{kind}="{k}"' if hooks else ""

    def text(x: float, y: float, s: str, anchor: str = "middle", cls: str = "", extra: str = "") -> str:
        extra = (f' class="{cls}"' if cls else "") + extra
        return f'<text x="{p(x)}" y="{p(y)}" text-anchor="{anchor}" dominant-baseline="central"{extra}>{xml_escape(s)}</text>'

    w, h = p(d.width), p(d.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'style="max-width:100%;height:auto" font-family="serif" font-size="13" role="img" '
        'aria-label="The network with every weight and bias">',
        # Class names of their own: an inline SVG's style sheet applies to the whole page around it.
        "<style>.bt-weight{fill:#000;stroke:#fff;stroke-width:4px;paint-order:stroke;font-size:12px}"
        ".bt-note{font-size:12px}</style>",
    ]
    for k, e in enumerate(d.edges):
        if e.skip:
            x1, y1, xc, yc, x2, y2, _, _ = _arc(e)
            out.append(
                f'<path d="M {p(x1)} {p(y1)} Q {p(xc)} {p(yc)} {p(x2)} {p(y2)}" fill="none" stroke="#555" '
                f'stroke-dasharray="5 3"{hook("edge", k)}/>'
            )
            continue
        x1, y1, x2, y2 = _trimmed(e)
        out.append(f'<line x1="{p(x1)}" y1="{p(y1)}" x2="{p(x2)}" y2="{p(y2)}" stroke="#555"{hook("edge", k)}/>')
    for k, e in enumerate(d.edges):
        if e.skip:
            out.append(text(*_arc(e)[6:], e.label.text, cls="bt-weight", extra=hook("edge", k)))
        elif e.label is not None and e.drawn and e.stacked:
            x, y = _label_at(e)
            name, value = e.label.text.split(" = ", 1)
            out.append(text(x, y - 0.24, name, cls="bt-weight", extra=hook("edge", k)))
            out.append(text(x, y + 0.24, value, cls="bt-weight", extra=hook("edge", k)))
        elif e.label is not None and e.drawn:
            x, y = _label_at(e)
            # a white ground under the label: the glyphs' white outline leaves the spaces open, and the own
            # edge showing through "w3 = 1" read as "w3 =.1"; within the box the layout keeps clear
            # whole pixels from the label's own printed place, so that the rectangle moves with it alone
            tw = 2 * round((0.13 * len(e.label.text) + 0.1) * PX / 2)
            rx, ry = float(p(x)) - tw // 2, float(p(y)) - 8
            out.append(f'<rect x="{_n(rx)}" y="{_n(ry)}" width="{tw}" height="16" fill="#fff"/>')
            out.append(text(x, y, e.label.text, cls="bt-weight", extra=hook("edge", k)))
    for k, n in enumerate(d.nodes):
        if n.kind == "bias":
            out.append(
                f'<circle cx="{p(n.x)}" cy="{p(n.y)}" r="{p(SMALL)}" fill="#eee" stroke="#000"{hook("node", k)}/>'
            )
            out.append(text(n.x, n.y, n.name.text, cls="bt-note"))
            if n.note is not None and n.side:
                nx, ny, anchor = note_at(n)
                out.append(text(nx, ny, n.note.text, anchor, "bt-weight", hook("node", k)))
            continue
        out.append(f'<circle cx="{p(n.x)}" cy="{p(n.y)}" r="{p(RADIUS)}" fill="#fff" stroke="#000"{hook("node", k)}/>')
        out.append(text(n.x, n.y, n.name.text))
        if n.note is None:
            continue
        if n.kind == "input":
            out.append(text(n.x - RADIUS - 0.15, n.y, n.note.text, "end", "bt-note"))
        else:
            x0 = n.x + RADIUS
            tip = x0 + ARROW
            out.append(f'<line x1="{p(x0)}" y1="{p(n.y)}" x2="{p(tip)}" y2="{p(n.y)}" stroke="#000"/>')
            out.append(
                f'<polygon points="{p(tip)},{p(n.y)} {p(tip - 0.2)},{p(n.y - 0.08)} {p(tip - 0.2)},{p(n.y + 0.08)}"/>'
            )
            out.append(text(tip + 0.12, n.y, n.note.text, "start", "bt-note"))
    out.append("</svg>")
    return "\n".join(out)


# -- LaTeX picture ------------------------------------------------------------------------------------------


def picture(d: Diagram) -> str:
    """A LaTeX2e picture environment (kernel commands, color.sty and graphicx.sty only: no TikZ, no pict2e).

    The kernel's \\line takes only a few slopes, so edges are drawn as straight \\qbezier curves.
    """
    if not d.drawable:
        return d.too_large()
    H = d.height

    def at(x: float, y: float) -> str:
        return f"({_n(x)},{_n(H - y)})"

    # Layout units are centimetres, as the label sizes assume; graphicx shrinks a wider picture as a whole.
    wide = d.width > TEXT_WIDTH
    out = [r"\begin{center}", r"\setlength{\unitlength}{1cm}", r"\setlength{\fboxsep}{1pt}"]
    # A picture is shrunk to the line: always one wider than an A4 page's text (its edge labels are left out,
    # as they would be too small), and one that fits A4 but not a narrower page (a notebook's LaTeX) only there.
    out.append(r"\resizebox{\linewidth}{!}{%" if wide else r"\sbox0{%")
    out.append(rf"\begin{{picture}}({_n(d.width)},{_n(H)})")
    total = sum(math.hypot(x2 - x1, y2 - y1) for x1, y1, x2, y2 in map(_trimmed, d.edges))
    density = min(DOTS_PER_CM, MAX_DOTS / total) if total else DOTS_PER_CM
    for e in d.edges:
        if e.skip:  # a residual connection: an arc over the nodes, with its "+ out" at the top
            x1, y1, xc, yc, x2, y2, lx, ly = _arc(e)
            dots = min(500, math.ceil(density * 1.5 * math.hypot(x2 - x1, y2 - y1)) + 2)
            out.append(rf"\qbezier[{dots}]{at(x1, y1)}{at(xc, yc)}{at(x2, y2)}")
            out.append(rf"\put{at(lx, ly)}{{\makebox(0,0){{\footnotesize ${e.label.tex}$}}}}")
            continue
        x1, y1, x2, y2 = _trimmed(e)
        # The kernel draws a \qbezier as a row of dots, up to \qbeziermax (500) of them, and pdflatex keeps
        # every dot of a picture in memory: a bounded number of dots a centimetre keeps a large network
        # within its main memory, and a thin line still reads as solid.
        dots = min(500, math.ceil(density * math.hypot(x2 - x1, y2 - y1)) + 2)
        out.append(rf"\qbezier[{dots}]{at(x1, y1)}{at((x1 + x2) / 2, (y1 + y2) / 2)}{at(x2, y2)}")
    for e in d.edges:
        # a picture shrunk to the page would set its labels below 8 pt: then the weight table carries them
        if e.label is not None and e.drawn and not wide and e.stacked:
            x, y = _label_at(e)
            name, value = e.label.tex.split(" = ", 1)
            out.append(rf"\put{at(x, y - 0.26)}{{\makebox(0,0){{\footnotesize ${name}$}}}}")
            out.append(rf"\put{at(x, y + 0.26)}{{\makebox(0,0){{\footnotesize ${value}$}}}}")
        elif e.label is not None and e.drawn and not wide and not e.skip:
            out.append(
                rf"\put{at(*_label_at(e))}{{\makebox(0,0){{\colorbox{{white}}{{\footnotesize ${e.label.tex}$}}}}}}"
            )
    for n in d.nodes:
        if n.kind == "bias":
            out.append(rf"\put{at(n.x, n.y)}{{\circle{{{_n(2 * SMALL)}}}}}")
            out.append(rf"\put{at(n.x, n.y)}{{\makebox(0,0){{\tiny $1$}}}}")
            if n.note is not None and n.side:
                nx, ny, anchor = note_at(n)
                pos = {"start": "[l]", "end": "[r]", "middle": ""}[anchor]
                out.append(
                    rf"\put{at(nx, ny)}{{\makebox(0,0){pos}{{\colorbox{{white}}{{\footnotesize ${n.note.tex}$}}}}}}"
                )
            continue
        out.append(rf"\put{at(n.x, n.y)}{{\circle{{{_n(2 * RADIUS)}}}}}")
        out.append(rf"\put{at(n.x, n.y)}{{\makebox(0,0){{\small ${n.name.tex}$}}}}")
        if n.note is None:
            continue
        if n.kind == "input":
            out.append(rf"\put{at(n.x - RADIUS - 0.15, n.y)}{{\makebox(0,0)[r]{{\footnotesize ${n.note.tex}$}}}}")
        else:
            out.append(rf"\put{at(n.x + RADIUS, n.y)}{{\vector(1,0){{{_n(ARROW)}}}}}")
            out.append(
                rf"\put{at(n.x + RADIUS + ARROW + 0.12, n.y)}{{\makebox(0,0)[l]{{\footnotesize ${n.note.tex}$}}}}"
            )
    out += [r"\end{picture}}"]
    if not wide:
        out.append(r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi")
    out.append(r"\end{center}")
    return "\n".join(out)


# -- text -----------------------------------------------------------------------------------------------------


def listing(d: Diagram, first: int = 1) -> str:
    """The diagram for a terminal: every neuron with the weights and bias coming into it.

    ``first`` is the number of the first weight layer: 1, or 2 in the layered notation.
    """
    inputs = [n for n in d.nodes if n.kind == "input"]
    lines = ["  Inputs: " + ", ".join(f"{n.name.text} = {n.note.text}" for n in inputs if n.note)]
    for li, (lname, act) in enumerate(d.layers):
        lines.append(f"  Layer {li + first} ({lname}, {act})")
        for n in d.nodes:
            if n.kind != "neuron" or n.layer != li:
                continue
            parts = [
                f"{e.label.text} from {e.source.name.text}" if e.label else f"{e.source.name.text} (no weight)"
                for e in n.incoming
                if e.source.kind != "bias" and not e.skip
            ]
            # a residual connection adds the earlier output after the activation: out = f(net) + out_k
            parts += [f"{e.label.text} (residual connection)" for e in n.incoming if e.skip]
            bias = [e.source.note.text for e in n.incoming if e.source.kind == "bias" and e.source.note]
            target = f"; {n.note.text}" if n.note else ""
            lines.append(f"    {n.name.text} <- " + ", ".join(parts + [f"bias {b}" for b in bias if b]) + target)
    return "\n".join(lines) + "\n"
