"""The picture of a computational graph: laid out once, drawn as SVG, as a LaTeX picture or as text.

Nodes stand in columns, left to right by depth (a leaf in the first column, a gate one column right of its
deepest input, a constant just left of the gate that reads it). An edge that would skip columns passes
through a reserved empty slot of every column between (a dummy node), so that every straight piece of an
edge joins two neighbouring columns and no edge crosses a node. Within a column the nodes are ordered by the
barycentre of their neighbours, a few sweeps, to keep crossings of edges few. The layout only places the
strings the walk-through's FormulaWriter printed; it computes no number of the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Layout units are centimetres in the LaTeX picture; the SVG draws PX pixels a unit.
CHAR = 0.165  # width of one character of a box's text (\small, 14px serif), a rough upper bound
LINE = 0.5  # height of one line of a box
PAD = 0.16
GAP = 0.7  # between two columns
ROW_GAP = 0.35  # between two boxes of a column
DUMMY = 0.3  # height of the slot an edge passes through
SMALL_W = 0.7  # a constant's box
PX = 46
TEXT_WIDTH = 17.0  # cm of an A4 page with 2 cm margins
TEXT_HEIGHT = 24.5  # cm of the same page, less a line of caption
BOX_PT = 9.0  # a box's text (\small in the 10 pt documents)
# how a listed graph begins (graph.context tells a listing from a picture by it)
LISTED = "The graph is too large to draw legibly on a page."
LEGIBLE_PT = 8.0  # a picture is shrunk to the page down to this size of text, never below: past it, listed
TEXT_COLUMNS = 100  # a text picture wider than this is listed instead


@dataclass
class Box:
    key: str
    kind: str  # "leaf" | "gate" | "constant" | "dummy"
    lines: list[tuple[str, str]]  # (tex, text) lines written inside
    column: int
    x: float = 0.0  # left
    y: float = 0.0  # top (downwards)
    w: float = 0.0
    h: float = 0.0
    order: float = 0.0
    output: bool = False
    name: tuple[str, str] = ("", "")  # (tex, text): the node's name alone (a constant's: its value)
    left: float = 0.0  # the column's edges
    right: float = 0.0

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class Wire:
    source: str
    target: str
    via: list[str] = field(default_factory=list)  # dummy boxes, column by column


@dataclass
class Picture:
    boxes: dict[str, Box]
    wires: list[Wire]
    width: float
    height: float

    def points(self, wire: Wire) -> list[tuple[float, float]]:
        """The corners of a wire: the source's right side, the middle of each dummy slot, the target's left side."""
        s, t = self.boxes[wire.source], self.boxes[wire.target]
        # Horizontal stubs from a box to the edge of its column: a sloping piece then runs only in the gap
        # between two columns, where there are no boxes.
        pts = [(s.x + s.w, s.cy), (s.right, s.cy)]
        for d in wire.via:
            b = self.boxes[d]
            pts += [(b.x, b.cy), (b.x + b.w, b.cy)]
        pts += [(t.left, t.cy), (t.x, t.cy)]
        return [p for k, p in enumerate(pts) if k == 0 or p != pts[k - 1]]

    def real(self) -> list[Box]:
        return [b for b in self.boxes.values() if b.kind != "dummy"]


def layout(nodes: list[dict]) -> Picture:
    """``nodes`` in graph order, each {key, kind, inputs, lines, output}; returns the placed picture."""
    depth: dict[str, int] = {}
    by_key = {n["key"]: n for n in nodes}
    for n in nodes:
        if n["kind"] == "gate":
            ins = [i for i in n["inputs"] if by_key[i]["kind"] != "constant"]
            depth[n["key"]] = 1 + max((depth[i] for i in ins), default=0)
        else:
            depth[n["key"]] = 0
    for n in nodes:  # a constant stands right before the (first) gate that reads it
        if n["kind"] == "gate":
            for i in n["inputs"]:
                if by_key[i]["kind"] == "constant":
                    depth[i] = depth[n["key"]] - 1
    boxes: dict[str, Box] = {}
    for k, n in enumerate(nodes):
        b = Box(n["key"], n["kind"], n["lines"], depth[n["key"]], order=k, output=n.get("output", False))
        b.name = n.get("name", (n["key"], n["key"]))
        longest = max(len(t) for _, t in b.lines)
        b.w = max(longest * CHAR + 2 * PAD, SMALL_W if n["kind"] == "constant" else 1.2)
        b.h = len(b.lines) * LINE + PAD
        boxes[b.key] = b
    wires: list[Wire] = []
    for n in nodes:
        if n["kind"] != "gate":
            continue
        for i in dict.fromkeys(n["inputs"]):  # an input read twice is drawn once
            w = Wire(i, n["key"])
            for c in range(depth[i] + 1, depth[n["key"]]):
                d = Box(f"\0{i}>{n['key']}@{c}", "dummy", [], c, w=0.0, h=DUMMY, order=boxes[i].order)
                boxes[d.key] = d
                w.via.append(d.key)
            wires.append(w)
    columns = max(b.column for b in boxes.values()) + 1
    cols: list[list[Box]] = [[] for _ in range(columns)]
    for b in boxes.values():
        cols[b.column].append(b)
    neighbours: dict[str, list[Box]] = {k: [] for k in boxes}  # the boxes themselves: the sweeps read them often
    for w in wires:
        chain = [w.source, *w.via, w.target]
        for a, b in zip(chain, chain[1:]):
            neighbours[a].append(boxes[b])
            neighbours[b].append(boxes[a])
    for col in cols:
        col.sort(key=lambda b: b.order)
        for k, b in enumerate(col):
            b.order = k
    # Barycentre sweeps, right to left then left to right; ties keep the graph order (deterministic).
    for sweep in range(4):
        rng = range(columns - 2, -1, -1) if sweep % 2 == 0 else range(1, columns)
        for c in rng:
            for b in cols[c]:
                nb = [o.order for o in neighbours[b.key] if o.column != c]
                b.bary = sum(nb) / len(nb) if nb else b.order  # type: ignore[attr-defined]
            cols[c].sort(key=lambda b: (b.bary, b.order))  # type: ignore[attr-defined]
            for k, b in enumerate(cols[c]):
                b.order = k
    widths = [max((b.w for b in col), default=0.0) for col in cols]
    heights = [sum(b.h for b in col) + ROW_GAP * (len(col) - 1) for col in cols]
    tallest = max(heights)
    x = 0.1
    for c, col in enumerate(cols):
        y = 0.1 + (tallest - heights[c]) / 2
        for b in col:
            if b.kind == "dummy":
                b.w = widths[c]
            b.x = x + (widths[c] - b.w) / 2
            b.left, b.right = x, x + widths[c]
            b.y = y
            y += b.h + ROW_GAP
        x += widths[c] + GAP
    return Picture(boxes, wires, x - GAP + 0.1, tallest + 0.2)


def overlaps(p: Picture) -> list[tuple[str, str]]:
    """Pairs of boxes (dummy slots included) that share any area; a good layout has none."""
    bs = list(p.boxes.values())
    out = []
    for i, a in enumerate(bs):
        for b in bs[i + 1 :]:
            if a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h:
                out.append((a.key, b.key))
    return out


def crossings(p: Picture) -> list[tuple[str, str]]:
    """(wire, box) pairs where a wire's straight piece passes through a box that is not its end."""
    out = []
    for w in p.wires:
        pts = p.points(w)
        for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
            for b in p.real():
                if b.key in (w.source, w.target):
                    continue
                if _segment_hits(x1, y1, x2, y2, b):
                    out.append((f"{w.source}->{w.target}", b.key))
    return out


def _segment_hits(x1, y1, x2, y2, b: Box) -> bool:
    # sample the piece finely: boxes are far larger than the step
    n = 200
    for k in range(n + 1):
        t = k / n
        x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        if b.x + 1e-6 < x < b.x + b.w - 1e-6 and b.y + 1e-6 < y < b.y + b.h - 1e-6:
            return True
    return False


def _n(v: float) -> str:
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


# -- SVG ------------------------------------------------------------------------------------------------

_XML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "$": "&#36;", "\\": "&#92;"}


def _x(text: str) -> str:
    return "".join(_XML.get(c, c) for c in text)


def svg(p: Picture, label: str = "The computational graph") -> str:
    """Inline SVG, one HTML block (no blank line), class names of its own."""

    def q(v: float) -> str:
        return _n(v * PX)

    w, h = q(p.width), q(p.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        f'style="max-width:100%;height:auto" font-family="serif" font-size="17" role="img" aria-label="{_x(label)}">',
        "<style>.bt-g-node{fill:#fff;stroke:#000}.bt-g-leaf{fill:#eef4ff;stroke:#000}"
        ".bt-g-const{fill:#f4f4f4;stroke:#777}.bt-g-out{fill:#fff7e0;stroke:#000;stroke-width:2}"
        ".bt-g-grad{fill:#a00000}.bt-g-wire{fill:none;stroke:#555}</style>",
    ]
    for wire in p.wires:
        pts = p.points(wire)
        d = " ".join(f"{q(x)},{q(y)}" for x, y in pts)
        out.append(f'<polyline class="bt-g-wire" points="{d}"/>')
        (x1, y1), (x2, y2) = pts[-2], pts[-1]
        ang = math.atan2(y2 - y1, x2 - x1)
        a, s = 0.2, 0.08
        tip = (x2, y2)
        left = (x2 - a * math.cos(ang) + s * math.sin(ang), y2 - a * math.sin(ang) - s * math.cos(ang))
        right = (x2 - a * math.cos(ang) - s * math.sin(ang), y2 - a * math.sin(ang) + s * math.cos(ang))
        out.append(f'<polygon points="{" ".join(f"{q(x)},{q(y)}" for x, y in (tip, left, right))}" fill="#555"/>')
    for b in p.real():
        cls = {"leaf": "bt-g-leaf", "constant": "bt-g-const"}.get(b.kind, "bt-g-out" if b.output else "bt-g-node")
        out.append(f'<rect class="{cls}" x="{q(b.x)}" y="{q(b.y)}" width="{q(b.w)}" height="{q(b.h)}" rx="4"/>')
        for k, (_, text) in enumerate(b.lines):
            y = b.y + PAD / 2 + LINE * (k + 0.5)
            extra = (
                ' class="bt-g-grad"'
                if text.startswith("∇")
                else (' font-weight="bold"' if k == 0 and b.kind != "constant" else "")
            )
            out.append(
                f'<text x="{q(b.x + b.w / 2)}" y="{q(y)}" text-anchor="middle" dominant-baseline="central"{extra}>{_x(text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


# -- LaTeX picture ------------------------------------------------------------------------------------------

_SLOPES = sorted(
    {(a // math.gcd(a, b), b // math.gcd(a, b)) for a in range(0, 5) for b in range(-4, 5) if (a, b) != (0, 0)},
)


def _slope(dx: float, dy: float) -> tuple[int, int]:
    """The kernel's \\vector takes a slope of integers up to 4: the one closest to the piece's direction."""
    ang = math.atan2(dy, dx)
    return min(_SLOPES, key=lambda s: abs(math.atan2(s[1], s[0]) - ang))


def segment(x1: float, y1: float, x2: float, y2: float) -> str:
    """A straight line of any slope from (x1, y1) to (x2, y2) (picture coordinates, y up) as one rule turned by
    graphicx: one box for pdflatex, where a dotted \\qbezier is hundreds of dots it keeps in memory (a graph of
    40 gates ran out of TeX's capacity). Drawn from its left end, since graphicx puts a turned box's left edge
    at the point it is put."""
    if (x2, y2) < (x1, y1):
        x1, y1, x2, y2 = x2, y2, x1, y1
    length = math.hypot(x2 - x1, y2 - y1)
    angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
    return rf"\put({_n(x1)},{_n(y1)}){{\rotatebox{{{angle:.2f}}}{{\rule{{{length:.3f}cm}}{{0.4pt}}}}}}"


def scale(p: Picture) -> float:
    """How much the picture shrinks to fit the page (1: it fits as it is)."""
    return min(1.0, TEXT_WIDTH / p.width, TEXT_HEIGHT / p.height)


def legible(p: Picture) -> bool:
    """Whether the picture fits the page with its text at LEGIBLE_PT or more."""
    return BOX_PT * scale(p) >= LEGIBLE_PT - 1e-9


def picture(p: Picture) -> str:
    """A LaTeX2e picture environment: kernel commands and color/graphicx only (no TikZ, no pict2e).

    Boxes are \\framebox-es, wires straight rules turned by graphicx (see ``segment``), arrowheads short \\vector-s.
    A picture too large for the page is shrunk to it down to LEGIBLE_PT text; past that it is never shrunk
    further nor turned: the graph is summarised column by column instead (``tex_listing``).
    """
    if not legible(p):
        return tex_listing(p)
    H = p.height

    def at(x: float, y: float) -> str:
        return f"({_n(x)},{_n(H - y)})"

    shrunk = scale(p) < 1.0
    out = [r"\begin{center}", r"\setlength{\unitlength}{1cm}", r"\setlength{\fboxsep}{0pt}"]
    if shrunk:  # to the page's width, or to its height for a tall picture
        wide = scale(p) == min(1.0, TEXT_WIDTH / p.width)
        out.append(r"\resizebox{\linewidth}{!}{%" if wide else r"\resizebox{!}{" + _n(TEXT_HEIGHT) + "cm}{%")
    out.append(rf"\begin{{picture}}({_n(p.width)},{_n(H)})")
    for wire in p.wires:
        pts = p.points(wire)
        for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
            out.append(segment(x1, H - y1, x2, H - y2))
        (x1, y1), (x2, y2) = pts[-2], pts[-1]
        sx, sy = _slope(x2 - x1, -(y2 - y1))
        # \vector's length is its horizontal extent (vertical for a vertical one)
        ux, uy = (sx, sy) if sx else (0, sy)
        norm = math.hypot(ux, uy)
        start = (x2 - 0.14 * ux / norm, y2 + 0.14 * uy / norm)
        out.append(rf"\put{at(*start)}{{\vector({sx},{sy}){{{_n(0.14 * (abs(ux) / norm if sx else 1))}}}}}")
    for b in p.real():
        inner = r"\\".join(tex for tex, _ in b.lines)
        thick = r"\linethickness{1pt}" if b.output else ""
        out.append(
            rf"\put{at(b.x, b.y + b.h)}{{{thick}\framebox({_n(b.w)},{_n(b.h)}){{\small\shortstack{{{inner}}}}}}}"
        )
    out += [r"\end{picture}" + ("}" if shrunk else ""), r"\end{center}"]
    return "\n".join(out)


def _reads(p: Picture) -> dict[str, list[str]]:
    reads: dict[str, list[str]] = {}
    for w in p.wires:
        reads.setdefault(w.target, []).append(w.source)
    return reads


def _columns(p: Picture) -> list[list[Box]]:
    cols = max(b.column for b in p.boxes.values()) + 1
    by_column: list[list[Box]] = [[] for _ in range(cols)]
    for b in p.real():  # one pass, not one per column: a long chain has as many columns as gates
        by_column[b.column].append(b)
    return [sorted(col, key=lambda b: b.order) for col in by_column]


def tex_listing(p: Picture) -> str:
    """The graph's structure as a table, for a picture that would not be legible on the page: column by
    column, each node with its gate and the nodes it reads, at the document's own size (a long table breaks
    across pages). The values and gradients stand in the document's table of every node."""
    reads = _reads(p)
    out = [
        LISTED + r" Its columns, left to right, each node with its gate and the nodes it reads (a constant written"
        r" as its value); every node's value and gradient are tabulated after the backward pass.",
        r"\begin{longtable}{rll}",
        r"column & node & reads \\ \hline",
        r"\endhead",
    ]
    for c, col in enumerate(_columns(p)):
        for k, b in enumerate(b for b in col if b.kind != "constant"):
            src = ", ".join(p.boxes[s].name[0] for s in reads.get(b.key, []))
            out.append(f"{c + 1 if k == 0 else ''} & {b.lines[0][0]} & {src} \\\\")
    out.append(r"\end{longtable}")
    return "\n".join(out)


# -- text -----------------------------------------------------------------------------------------------------


def text(p: Picture, columns: int = TEXT_COLUMNS) -> str:
    """The picture on a character grid: boxes in their columns, wires routed through the gaps between columns
    (a vertical track of its own for each wire), ``>`` where a wire enters a box. A graph too wide for the
    terminal (``columns``) is listed column by column instead."""
    cols = max(b.column for b in p.boxes.values()) + 1
    inner = [0] * cols
    for b in p.real():
        inner[b.column] = max(inner[b.column], max(len(t) for _, t in b.lines))
    box_w = [w + 4 if w else 3 for w in inner]  # "| " + text + " |"; a column of dummies only: 3
    # pieces of wires per gap (from column c to c+1), each with its own track
    pieces: list[list[tuple[str, str]]] = [[] for _ in range(cols)]
    for w in p.wires:
        chain = [w.source, *w.via, w.target]
        for a, b in zip(chain, chain[1:]):
            pieces[p.boxes[a].column].append((a, b))
    gap_w = [len(pc) + 3 for pc in pieces]
    left = []
    x = 0
    for c in range(cols):
        left.append(x)
        x += box_w[c] + gap_w[c]
    width = x - gap_w[-1]
    if width > columns:
        return listing(p)
    # rows: boxes stacked by order within each column, centred
    row_of: dict[str, int] = {}
    heights = []
    for c in range(cols):
        col = sorted((b for b in p.boxes.values() if b.column == c), key=lambda b: b.order)
        heights.append(sum((len(b.lines) + 2) if b.kind != "dummy" else 1 for b in col) + len(col) - 1)
    tallest = max(heights)
    grid_h = tallest
    grid = [[" "] * width for _ in range(grid_h)]
    mid: dict[str, int] = {}
    top: dict[str, int] = {}
    for c in range(cols):
        col = sorted((b for b in p.boxes.values() if b.column == c), key=lambda b: b.order)
        y = (tallest - heights[c]) // 2
        for b in col:
            if b.kind == "dummy":
                mid[b.key] = y
                row_of[b.key] = y
                for k in range(box_w[c]):
                    grid[y][left[c] + k] = "-"
                y += 2
                continue
            h = len(b.lines) + 2
            x0 = left[c]
            edge = "=" if b.output else "-"
            grid[y][x0 : x0 + box_w[c]] = list("+" + edge * (box_w[c] - 2) + "+")
            for k, (_, t) in enumerate(b.lines):
                grid[y + 1 + k][x0 : x0 + box_w[c]] = list("| " + t.ljust(box_w[c] - 4) + " |")
            grid[y + h - 1][x0 : x0 + box_w[c]] = list("+" + edge * (box_w[c] - 2) + "+")
            mid[b.key] = y + 1 + len(b.lines) // 2
            top[b.key] = y
            y += h + 1
    # Wires into one box enter at rows of their own (top to bottom as their sources stand), so that they
    # stay apart up to the arrow.
    entry: dict[tuple[str, str], int] = {}
    for c in range(cols):
        into: dict[str, list[str]] = {}
        for a, b in pieces[c]:
            into.setdefault(b, []).append(a)
        for b, srcs in into.items():
            srcs.sort(key=lambda a: mid[a])
            if p.boxes[b].kind == "dummy":
                entry.update({(a, b): mid[b] for a in srcs})
                continue
            rows = len(p.boxes[b].lines)
            for k, a in enumerate(srcs):
                entry[(a, b)] = (
                    top[b]
                    + 1
                    + (k if len(srcs) <= rows else k * rows // len(srcs))
                    + ((rows - len(srcs)) // 2 if len(srcs) < rows else 0)
                )
    for c in range(cols):
        for track, (a, b) in enumerate(pieces[c]):
            y1, y2 = mid[a], entry[(a, b)]
            x1 = left[c] + box_w[c]
            x2 = left[c + 1]
            xt = x1 + 1 + track
            for xx in range(x1, xt):
                _put(grid, y1, xx, "-")
            for yy in range(min(y1, y2), max(y1, y2) + 1):
                _put(grid, yy, xt, "|" if yy not in (y1, y2) or y1 == y2 else "+")
            if y1 == y2:
                _put(grid, y1, xt, "-")
            for xx in range(xt + 1, x2):
                _put(grid, y2, xx, "-")
            if p.boxes[b].kind != "dummy":
                _put(grid, y2, x2 - 1, ">")
    return "\n".join("".join(r).rstrip() for r in grid) + "\n"


def _put(grid, y: int, x: int, ch: str) -> None:
    old = grid[y][x]
    if old == " " or ch in "+>":
        grid[y][x] = ch
    elif (old == "-" and ch == "|") or (old == "|" and ch == "-"):
        grid[y][x] = "+"


def listing(p: Picture) -> str:
    """The graph column by column, each node with what it reads."""
    reads = _reads(p)
    lines = []
    for c, col in enumerate(_columns(p)):
        if not col:
            continue
        lines.append(f"  column {c + 1}:")
        for b in col:
            src = [p.boxes[k].lines[0][1] if p.boxes[k].kind == "constant" else k for k in reads.get(b.key, [])]
            frm = f"  <- {', '.join(src)}" if src else ""
            lines.append("    " + "; ".join(t for _, t in b.lines) + frm)
    return "\n".join(lines) + "\n"
