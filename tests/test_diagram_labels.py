"""The network diagram draws every connection, residual ones included, and no label is hidden (issue 27).

Geometry of the layout every page draws (walk-through, self-check, interactive, worksheet): each label's
extent as the layout estimates it (tutor.render.diagram._box), each edge as its segment or arc. No two labels
intersect; no edge passes through a label other than its own weight's; every label lies inside the picture
(an SVG's view box or a LaTeX picture cuts off what lies outside).
"""

from __future__ import annotations

import pytest

from tutor.engine.symbolic import explain_step
from tutor.engine.walks import walked_by_layers
from tutor.render import diagram as D
from tutor.render.lines import writer
from tutor.spec import graph as graphspec
from tutor.spec import load
from tutor.spec.resources import example_names
from tutor.teach import randomnet

# the networks drawn as neurons and edges: one walked by layers (convolution, pooling, recurrence) draws its
# feature maps and kernels as grids instead (tests/test_layer_examples.py)
NETWORKS = [n for n in example_names("all") if not graphspec.is_graph(n) and not walked_by_layers(load(n))]


def _labels(d: D.Diagram) -> list[tuple[tuple, object, str]]:
    """Every drawn label: (its box, the edge it belongs to or None, its text)."""
    out = []
    for e in d.edges:
        if e.skip:
            out.append((D._box(*D._arc(e)[6:], e.label.text), e, e.label.text))
        elif e.label is not None and e.drawn:
            x, y = D._label_at(e)
            if e.stacked:
                name, value = e.label.text.split(" = ", 1)
                out += [(D._box(x, y - 0.24, name), e, name), (D._box(x, y + 0.24, value), e, value)]
            else:
                out.append((D._box(x, y, e.label.text), e, e.label.text))
    for n in d.nodes:
        if n.note is None or (n.kind == "bias" and not n.side):
            continue
        if n.kind == "bias":
            out.append((D.note_box(n), None, n.note.text))
        elif n.kind == "input":
            x0, y0, x1, y1 = D._box(0, n.y, n.note.text, "start")
            right = n.x - D.RADIUS - 0.15
            out.append(((right - (x1 - x0), y0, right, y1), None, n.note.text))
        else:
            out.append((D._box(n.x + D.RADIUS + D.ARROW + 0.12, n.y, n.note.text, "start"), None, n.note.text))
    return out


def _problems(d: D.Diagram) -> list[str]:
    labels = _labels(d)
    bad = []
    for i, (a, _, ta) in enumerate(labels):
        for b, _, tb in labels[i + 1 :]:
            if D._overlap(a, b) > 1e-9:
                bad.append(f"labels {ta!r} and {tb!r} intersect")
    for box, owner, text in labels:
        for e in d.edges:
            if e is not owner and D._crosses(e, box):
                bad.append(f"label {text!r} crossed by the edge {e.source.key} -> {e.target.key}")
    for (x0, y0, x1, y1), _, text in labels:
        if x0 < 0 or y0 < 0 or x1 > d.width or y1 > d.height:
            bad.append(f"label {text!r} at {(x0, y0, x1, y1)} cut off by the picture's {d.width} x {d.height}")
    return bad


@pytest.mark.parametrize("mode", ["tex", "web"])
@pytest.mark.parametrize("name", NETWORKS)
def test_no_label_of_a_built_in_diagram_is_crossed_or_overlapped(name, mode):
    walk = explain_step(load(name), forward_only=True)
    d = D.layout(walk, writer(walk, mode))
    if d.drawable:
        assert not _problems(d), _problems(d)[:5]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", ["2-2-1", "2-2-2", "2-3-2", "3-3-2"])
def test_no_label_of_a_worksheet_diagram_is_crossed_or_overlapped(seed, shape):
    """The worksheets' and self-check pages' random networks (a crossed 'w3 = 1' read as 'w3 =.1')."""
    walk = explain_step(randomnet.make(seed, randomnet.options(shape=shape)).network, forward_only=True)
    d = D.layout(walk, writer(walk, "web"))
    assert not _problems(d), _problems(d)[:5]


@pytest.mark.parametrize("name", ["residual-sigmoid", *NETWORKS[:3]])
def test_the_vectorized_crossing_check_answers_as_the_edge_by_edge_one(name):
    """The bias labels' placement tests every edge at once (NumPy, D._Crossings); it must answer as
    ``_crosses`` does edge by edge, for boxes on, near and off the edges, arcs of residual connections included."""
    import numpy as np

    walk = explain_step(load(name), forward_only=True)
    d = D.layout(walk, writer(walk, "tex"))
    crossings = D._Crossings(d.edges)
    rng = np.random.default_rng(0)
    hits = total = 0
    for e in d.edges:
        x1, y1, x2, y2 = D._trimmed(e)
        for t in (0.0, 0.5, 1.0):
            x, y = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
            for dx, dy, w in rng.uniform([-1, -1, 0.02], [1, 1, 0.8], (4, 3)):
                box = (x + dx - w, y + dy - 0.24, x + dx + w, y + dy + 0.24)
                for but in (e.source, d.nodes[0]):
                    want = any(D._crosses(f, box) for f in d.edges if f.source is not but)
                    assert crossings.any(box, but) == want, (box, but.key)
                    hits, total = hits + want, total + 1
    assert 0 < hits < total  # the boxes meet edges and miss them: both answers occur


def test_the_residual_diagram_draws_its_skips_and_its_weights():
    walk = explain_step(load("residual-sigmoid"), forward_only=True)
    d = D.layout(walk, writer(walk, "tex"))
    skips = [(e.source.key, e.target.key, e.label.text) for e in d.edges if e.skip]
    assert skips == [("h2", "h3", "+ out_h2"), ("h4", "h5", "+ out_h4")]
    # a chain closed up to the page keeps every weight label, its name over its value
    assert d.width <= D.TEXT_WIDTH and all(e.drawn and e.stacked for e in d.edges if e.label is not None and not e.skip)
    svg, tex = D.svg(d), D.picture(d)
    assert svg.count("<path ") == 2 and ">+ out_h2</text>" in svg and ">w3</text>" in svg and ">1.2</text>" in svg
    assert (
        r"+\,\mathrm{out}_{h2}" in tex and r"\resizebox{\linewidth}{!}{%" not in tex
    )  # shrunk only on a narrower page
    listing = D.listing(d)
    assert "h3 <- w3 = 1.2 from h2, + out_h2 (residual connection), bias b3 = 0.1" in listing


def test_a_wide_weight_table_is_split_by_columns_not_shrunk():
    """A layer of 20 inputs: its LaTeX weight table comes in parts of at most ``chunk`` columns, each at the
    table's own 8 pt size (the limit network's tables were shrunk to about 2 pt to fit the page)."""
    from tutor import render
    from tutor.spec import loads

    inputs = ", ".join(f"{0.01 * (k + 1):.2f}" for k in range(20))
    row = ", ".join(f"{-0.5 + 0.05 * k:.2f}" for k in range(20))
    spec = (
        f'[inputs]\nvalues = [{inputs}]\n\n[[layers]]\nsize = 2\nactivation = "sigmoid"\n'
        f'weights = [[{row}], [{row}]]\nbiases = [0.1, -0.2]\n\n[loss]\nname = "half_sse"\ntargets = [0.1, 0.9]\n\n[training]\nlearning_rate = 0.5\n'
    )
    walk = explain_step(loads(spec, name="wide"), forward_only=True)
    w = render.walkthrough.view(walk, "tex")["weights"][0]
    assert len(w["columns"]) == 21 and 3 <= w["chunk"] < 21
    tex = render.render_latex(walk)
    parts = tex.count(r"\textbf{Layer 1: ")
    assert parts == -(-21 // w["chunk"]) and "(columns 1 to " in tex


def test_the_loss_curve_has_inner_ticks_and_marks_the_restored_epoch():
    from tutor.render import curve

    losses = [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005]
    c = curve.layout(losses)
    assert [label for _, label in c.y_ticks] == ["0.005", "0.01", "0.1", "1"]  # each decade of a log axis
    flat = curve.layout([0.151, 0.12, 0.09, 0.06, 0.047])
    assert len(flat.y_ticks) >= 3 and "0.1" in [label for _, label in flat.y_ticks]
    ys = sorted(y for y, _ in flat.y_ticks)
    assert all(b - a >= curve.TICK_GAP for a, b in zip(ys, ys[1:]))  # labels never overlap
    val = [0.3, 0.2, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
    marked = curve.layout(losses, val, mark=2)
    assert marked.mark is not None and marked.mark[2] == "epoch 2 restored"
    assert "epoch 2 restored" in curve.svg(losses, val, 2) and "epoch 2 restored" in curve.picture(losses, val, 2)


def test_the_path_view_lists_paths_of_every_layer():
    """4-8-8-4: the 200 listed paths are shared out between the layers, the first layer's too, and the view
    sums itself up layer by layer (issue 27, item 10)."""
    from tutor import render
    from tutor.engine.views import path_view
    from tutor.render import views
    from tutor.spec import loads

    def rows(n: int, m: int, c: float) -> str:
        return (
            "["
            + ", ".join("[" + ", ".join(f"{c * ((i + j) % 5 - 2):.2f}" for j in range(m)) + "]" for i in range(n))
            + "]"
        )

    spec = "[inputs]\nvalues = [0.1, -0.2, 0.3, 0.4]\n"
    for size, fan_in, act in ((8, 4, "tanh"), (8, 8, "tanh"), (4, 8, "sigmoid")):
        spec += f'\n[[layers]]\nsize = {size}\nactivation = "{act}"\nweights = {rows(size, fan_in, 0.1)}\n'
        spec += f"biases = [{', '.join(['0.1'] * size)}]\n"
    spec += '\n[loss]\nname = "half_sse"\ntargets = [0.1, 0.2, 0.3, 0.4]\n\n[training]\nlearning_rate = 0.5\n'
    walk = explain_step(loads(spec, name="n4884"))
    listed = views.paths(walk, "text")
    layer = {p.label: p.layer for p in walk.params}
    per_layer: dict[int, int] = {}
    for view, pp in zip(listed, path_view(walk)):
        per_layer[layer[pp.param]] = per_layer.get(layer[pp.param], 0) + len(view["paths"])
    assert sorted(per_layer) == [0, 1, 2] and all(n > 0 for n in per_layer.values())
    assert sum(per_layer.values()) <= views.MAX_SHOWN_PATHS
    # summed up per layer: a first-layer weight reaches the loss along 8 x 4 paths, a second-layer one along 4;
    # the 36 output-layer paths are all written out and the other two layers share the rest of the 200 evenly
    summary = [(r["layer"], r["parameters"], r["each"], r["total"], r["listed"]) for r in views.path_layers(listed)]
    assert summary == [(1, 40, "32", 1280, 82), (2, 72, "4", 288, 82), (3, 36, "1", 36, 36)]
    assert [r["listed"] for r in views.path_layers(listed)] == [per_layer[0], per_layer[1], per_layer[2]]
    assert views.path_layers(views.paths(explain_step(load("mazur")), "text")) == []  # all written out
    text = render.render_text(walk, views=("paths",))
    assert "    layer 1   w1_11 to b1_8            40        32          1280          82" in text


def test_a_chain_and_a_residual_diagram_start_above_their_labels():
    """The stacked weight names of a chain and the residual arcs' "+ out" stood 0.02 to 0.06 cm above the
    picture's top edge: the picture now starts above them."""
    for name in ("vanishing-sigmoid", "residual-sigmoid"):
        walk = explain_step(load(name), forward_only=True)
        d = D.layout(walk, writer(walk, "web"))
        assert min(box[1] for box, _, _ in _labels(d)) == pytest.approx(0.05), name
        assert not _problems(d), _problems(d)[:5]


def test_the_self_check_diagram_shows_every_weight_and_target_as_given(tmp_path):
    """explain mazur --self-check: w5 to w8 labelled, the targets whole and as the spec gives them (was
    "0.150000000", targets cut off)."""
    import re

    from tutor.cli import main

    out = tmp_path / "sc.html"
    assert main(["explain", "mazur", "--self-check", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    svg = page[page.index("<svg") : page.index("</svg>")]
    texts = re.findall(r">([^<>]+)</text>", svg)
    weights = ["w1 = 0.15", "w2 = 0.2", "w3 = 0.25", "w4 = 0.3", "w5 = 0.4", "w6 = 0.45", "w7 = 0.5", "w8 = 0.55"]
    assert texts[:8] == weights and "target_o1 = 0.01" in texts and "target_o2 = 0.99" in texts
    walk = explain_step(load("mazur"), forward_only=True)
    d = D.layout(walk, writer(walk, "web"))
    assert f'viewBox="0 0 {D._n(d.width * D.PX)} {D._n(d.height * D.PX)}"' in svg and not _problems(d)


@pytest.mark.parametrize("seed", range(4))
def test_a_weight_label_on_its_edge_has_a_white_ground_inside_its_box(seed):
    """The glyphs' white outline left the spaces open: a worksheet's "w3 = 1" read as "w3 =.1" with its own
    edge through the space. Each label on its edge has a white rectangle under it, centred on it and inside
    the box the layout keeps clear of other labels and edges (so it hides no other edge)."""
    import re

    walk = explain_step(randomnet.make(seed, randomnet.options(shape="2-2-1")).network, forward_only=True)
    d = D.layout(walk, writer(walk, "web"))
    svg = D.svg(d)
    rects = [
        tuple(float(v) / D.PX for v in m)
        for m in re.findall(r'<rect x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="#fff"/>', svg)
    ]
    on_edge = [e for e in d.edges if e.label is not None and e.drawn and not e.stacked and not e.skip]
    assert len(on_edge) == 6 and len(rects) == 6
    for e, (x, y, w, h) in zip(on_edge, rects):
        cx, cy = D._label_at(e)
        assert (x + w / 2, y + h / 2) == (pytest.approx(cx, abs=0.02), pytest.approx(cy, abs=0.02))
        x0, y0, x1, y1 = D._box(cx, cy, e.label.text)
        assert x0 <= x and x + w <= x1 and y0 <= y and y + h <= y1, e.label.text
        assert w >= 0.12 * len(e.label.text)  # about 6 px a character at the labels' 12 px


@pytest.mark.parametrize("name", ["mazur", "appendix-b", "residual-sigmoid", "vanishing-relu"])
def test_the_top_row_of_circles_stands_below_the_pictures_top(name):
    """A highlighted circle's outline (the interactive page's 3 px) was cut flat at the top of the picture."""
    walk = explain_step(load(name), forward_only=True)
    d = D.layout(walk, writer(walk, "web"))
    assert min(n.y - D._radius(n) for n in d.nodes) >= 0.06 - 1e-9
    assert max(n.y + D._radius(n) for n in d.nodes) < d.height


def test_the_restored_epochs_label_stays_clear_of_both_curves():
    """early-stopping: at the restored epoch the validation loss is at its lowest, where the label at the foot
    of the plot sat on it; the label now takes the height farthest from both curves over its own length, and
    turns to the left of its line near the right edge."""
    from tutor.render import curve

    losses = [0.08002, 0.0731, 0.0690, 0.0666, 0.0653, 0.0645]
    val = [0.0036, 0.00089, 0.000109, 0.000305, 0.00081, 0.00158]
    c = curve.layout(losses, val, mark=2)
    mx, my, label, left = c.mark
    assert label == "epoch 2 restored" and not left
    span = (mx + 1, mx + 1 + curve.LABEL_MM * len(label))
    assert curve._clearance(my, span, [c.points, c.second]) >= 2.0  # the label is about 3 mm high
    assert curve._clearance(curve.BOTTOM + 2, span, [c.points, c.second]) < 1.0  # where it was
    late = curve.layout(losses, val[:4] + [0.0001, 0.0002], mark=4)
    assert late.mark[3] and late.mark[0] - curve.LABEL_MM * len(late.mark[2]) - 1 >= curve.LEFT
    assert 'text-anchor="end"' in curve.svg(losses, val[:4] + [0.0001, 0.0002], 4)
