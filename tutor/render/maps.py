"""The walk-through of a network with convolution, pooling and flatten layers (a ``MapWalk``), in text and
Markdown: feature maps and kernels as small grids of their numbers, each output position's sum over its
receptive field with the numbers substituted, the kernel matrix beside the im2col matrix of its input, each
pooling window's winner and where its gradient goes, each kernel weight's gradient as the sum over the positions
that used it, and the gradient at the input as the full convolution of the deltas with the flipped kernel.

Nothing here computes a value: every number is a quantity of the walk, printed by the FormulaWriter.
"""

from __future__ import annotations

from typing import Any, Callable

from ..engine.steps import MapWalk
from ..spec.layers.shaped import as_2d, layer_taps
from .lines import MATH_ROW, line_view, math_rows, wrap_text, writer
from .options import DEFAULT, Options
from .templates import md_escape, render_template, tex_escape_text

FORMATS = ("text", "md", "tex", "html", "pdf")
TEMPLATES = {
    "text": "text/maps.txt.j2",
    "md": "markdown/maps.md.j2",
    "tex": "latex/maps.tex.j2",
    "html": "html/maps.html.j2",
}
_MODES = {"text": "text", "md": "web", "tex": "tex", "html": "web"}
_ESCAPES: dict[str, Callable[[str], str]] = {"md": md_escape, "tex": tex_escape_text}


def grid(cells: list[list[str]]) -> list[str]:
    """Rows of right-aligned cells in columns as wide as their widest cell."""
    if not cells or not cells[0]:
        return []
    width = max(len(c) for row in cells for c in row)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


# How many characters of a verbatim line fit the LaTeX page (A4, 2 cm margins: 483 pt) at each size of its
# typewriter font (10 pt: 5.25 pt a character). A grid wider than the smallest legible size is split into
# blocks of columns.
TEX_SIZES = (("", 92), (r"\small", 102), (r"\footnotesize", 115))


def tex_pieces(rows: list[str]) -> list[dict[str, Any]]:
    """A grid's rows as the LaTeX page sets them: the largest font size that fits, or at the smallest size
    blocks of whole columns each as wide as the page allows (``size``, ``rows``, ``columns``: "" or "i-j")."""
    width = max((len(r) for r in rows), default=0)
    for size, chars in TEX_SIZES:
        if width <= chars:
            return [{"size": size, "rows": rows, "columns": ""}]
    size, chars = TEX_SIZES[-1]
    cells = [r.split() for r in rows]
    per = max(1, (chars + 2) // (max(len(c) for row in cells for c in row) + 2))
    n = max(len(row) for row in cells)
    return [
        {"size": size, "rows": grid([row[j : j + per] for row in cells]), "columns": f"{j + 1}-{min(j + per, n)}"}
        for j in range(0, n, per)
    ]


def _maps(fw, keys: list[str], shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """One grid per channel of the values of ``keys`` (channel-major, row by row)."""
    C, H, W = as_2d(shape)
    return [
        {"channel": c + 1, "rows": grid([[fw.value_of(keys[(c * H + y) * W + x]) for x in range(W)] for y in range(H)])}
        for c in range(C)
    ]


def view(walk: MapWalk, mode: str, escape: Callable[[str], str], options: Options = DEFAULT) -> dict[str, Any]:
    net = walk.network
    fw = writer(walk, mode, options)
    q = walk.quantities

    def line(key: str):
        return line_view(fw, q, key, mode, escape)

    def lines(keys) -> list:
        """Each quantity's line; with --brief the first in full and the others as their values only (the
        grids show them too): a layer of a larger network stays a page."""
        keys = list(keys)
        if not options.brief or len(keys) < 2:
            return [line(k) for k in keys]
        return [line(keys[0])] + [value_only(line(k), k) for k in keys[1:]]

    def value_only(full, key: str):
        stages = [full["value"]]
        rows = math_rows(stages, MATH_ROW, label=fw.label(key, mode)) if mode != "text" else []
        return {
            **full,
            "derivation": "",
            "derivation_op": "",
            "formula": "",
            "substituted": "",
            "stages": stages,
            "rows": rows,
        }

    first = net.layers[0]
    in_shape = getattr(first, "in_shape", None) or (len(net.input_names),)
    layers = []
    a_keys = list(net.input_names)
    for rec in walk.layers:
        layer = net.layers[rec.layer]
        shaped = layer.kind not in ("dense", "rnn")
        deltas = rec.deltas if rec.deltas != rec.dE_dout else []
        # dout/dnet (a softmax's Jacobian entries): each delta's factors, in the deltas' order
        factors = [a for k in deltas for a in q[k].args if q[a].kind == "factor" and a not in rec.dE_dout]
        d: dict[str, Any] = {
            "number": rec.layer + 1,
            "kind": layer.kind,
            "name": escape(layer.name),
            "activation": layer.activation,
            "nets": lines(rec.nets),
            "outs": lines(rec.states or rec.outs) if rec.outs != rec.nets else [],
            "dE_dout": lines(rec.dE_dout),
            # on lines of their own before the deltas, each once
            "factors": lines(dict.fromkeys(factors)),
            "deltas": lines(deltas),
            "grads": lines(rec.grads.values()),
            "updates": lines(rec.updates.values()),
            "winners": [
                {"window": fw.label(rec.nets[p], mode), "winner": fw.label(w, mode)} for p, w in enumerate(rec.winners)
            ],
            "step_norms": [line(k) for k in rec.step_norms],
            "step_ratios": [line(k) for k in rec.step_ratios],
            "steps": getattr(layer, "steps", 0),
            **dict.fromkeys(("in_shape", "out_shape", "kernel", "stride", "padding"), ""),
            **{k: [] for k in ("kernels", "kernel_matrix", "im2col", "out_maps", "delta_maps")},
        }
        if layer.kind == "rnn" and rec.states:
            # step by step: z_t reads h_(t-1), so each step's sums come before its states and the next step's
            # sums; going back, dE/dh_t reads dE/dz_(t+1), so the steps run from the last to the first
            n = layer.size
            blocks = range(len(rec.nets) // n)
            d["nets"] = [
                x for t in blocks for x in lines([*rec.nets[t * n : (t + 1) * n], *rec.states[t * n : (t + 1) * n]])
            ]
            d["outs"] = []
            d["dE_dout"] = [
                x
                for t in reversed(blocks)
                for x in lines(
                    [*rec.dE_dout[t * n : (t + 1) * n], *factors[t * n : (t + 1) * n], *deltas[t * n : (t + 1) * n]]
                )
            ]
            d["factors"], d["deltas"] = [], []
        if shaped:
            d["in_shape"] = "×".join(str(s) for s in layer.in_shape)
            d["out_shape"] = "×".join(str(s) for s in layer.out_shape)
            d["kernel"] = "×".join(str(k) for k in (layer.kernel if layer.dims == 2 else layer.kernel[1:]))
            d["stride"] = ", ".join(str(s) for s in (layer.stride if layer.dims == 2 else layer.stride[1:]))
            d["padding"] = ", ".join(str(s) for s in (layer.padding if layer.dims == 2 else layer.padding[1:]))
            if layer.kind != "flatten":
                d["out_maps"] = _maps(fw, rec.outs, layer.out_shape)
                d["delta_maps"] = _maps(fw, rec.deltas or rec.dE_dout, layer.out_shape)
        if layer.kind in ("conv1d", "conv2d"):
            C = layer.in_shape[0]
            kh, kw = layer.kernel
            d["kernels"] = [
                {
                    "out": o + 1,
                    "channel": c + 1,
                    "rows": grid(
                        [
                            [fw.value_of(layer.weight_labels[o][(c * kh + i) * kw + j]) for j in range(kw)]
                            for i in range(kh)
                        ]
                    ),
                    "flipped": grid(
                        [
                            [fw.value_of(layer.weight_labels[o][(c * kh + i) * kw + j]) for j in reversed(range(kw))]
                            for i in reversed(range(kh))
                        ]
                    ),
                    "grads": grid(
                        [
                            [fw.value_of(rec.grads[layer.weight_labels[o][(c * kh + i) * kw + j]]) for j in range(kw)]
                            for i in range(kh)
                        ]
                    ),
                }
                for o in range(layer.out_channels)
                for c in range(C)
            ]
            # the matrix view: the kernel matrix (one row per kernel) times the im2col matrix (one column per
            # output position: the inputs under the kernel there, 0 on the padding)
            outs, chans, cols, ins = layer_taps(layer)
            per_map = layer.size // layer.out_channels
            col = [["0"] * per_map for _ in range(layer.weights.shape[1])]
            for p, o, c_, i in zip(outs, chans, cols, ins):
                if o == 0:
                    col[c_][p] = fw.value_of(a_keys[i])
            d["kernel_matrix"] = grid([[fw.value_of(lab) for lab in row] for row in layer.weight_labels])
            d["im2col"] = grid(col)
        layers.append(d)
        a_keys = rec.outs
    first_conv = first.kind in ("conv1d", "conv2d")
    return {
        "title": escape(net.title),
        "source": escape(net.source),
        "description": escape(net.description),
        "loss_rule": net.loss_rule,
        "eta": fw.value_of("eta"),
        "input_maps": _maps(fw, list(net.input_names), in_shape) if len(in_shape) > 1 else [],
        # a recurrent first layer reads a sequence: a row per time step
        "input_sequence": grid(
            [
                [fw.value_of(net.input_names[t * first.input_size + i]) for i in range(first.input_size)]
                for t in range(first.steps)
            ]
        )
        if first.kind == "rnn"
        else [],
        "layers": layers,
        "loss": line(walk.loss),
        "input_gradients": lines(walk.input_gradients),
        "input_gradient_maps": _maps(fw, walk.input_gradients, in_shape) if len(in_shape) > 1 else [],
        "first_conv": first_conv,
    }


def render(walk: MapWalk, fmt: str, options: Options = DEFAULT) -> str | bytes:
    """The walk-through in ``fmt``: text, md, tex, html (autoescaped, with its CSP) or pdf (the tex compiled)."""
    if fmt == "pdf":
        from .pdf import compile_pdf

        return compile_pdf(render(walk, "tex", options))  # type: ignore[arg-type]
    escape = _ESCAPES.get(fmt, lambda s: s)
    data = {"v": view(walk, _MODES[fmt], escape, options), "tex_pieces": tex_pieces}
    out = render_template(TEMPLATES[fmt], data, autoescape=fmt == "html", options=options)
    # terminal text is broken to the terminal's width, as every other walk-through's text is (lines.wrap_text)
    return wrap_text(out, options.width) if fmt == "text" else out


def given_grids(walk: MapWalk, mode: str = "web") -> list[tuple[str, list[list[str]]]]:
    """(caption, cells row by row) of every given grid of ``walk``: the input's channels (or the sequence, a row
    per time step) and each convolution's kernels. What a sheet or page that asks the step's values draws in
    place of the dense network's diagram: given values only."""
    net = walk.network
    fw = writer(walk, mode, DEFAULT)
    first = net.layers[0]
    in_shape = getattr(first, "in_shape", None) or (len(net.input_names),)
    out = []
    if first.kind == "rnn":
        names = net.input_names
        rows = [
            [fw.value_of(names[t * first.input_size + i]) for i in range(first.input_size)] for t in range(first.steps)
        ]
        out.append(("the sequence, a row per time step", rows))
    elif len(in_shape) > 1:
        C, H, W = as_2d(in_shape)
        for c in range(C):
            rows = [[fw.value_of(net.input_names[(c * H + y) * W + x]) for x in range(W)] for y in range(H)]
            out.append((f"input, channel {c + 1}", rows))
    for li, layer in enumerate(net.layers):
        if layer.kind not in ("conv1d", "conv2d"):
            continue
        kh, kw = layer.kernel
        for o in range(layer.out_channels):
            for c in range(layer.in_shape[0]):
                labels = layer.weight_labels[o]
                rows = [[fw.value_of(labels[(c * kh + i) * kw + j]) for j in range(kw)] for i in range(kh)]
                out.append((f"layer {li + 1}, kernel {o + 1}, input channel {c + 1}", rows))
    return out


def given_grids_html(walk: MapWalk) -> str:
    """The given grids (``given_grids``) as HTML figures of preformatted text, escaped: the self-check page's
    picture of a network walked by layers."""
    from markupsafe import escape

    return (
        '<div class="maps">'
        + "".join(
            f'<figure class="grid"><figcaption>{escape(caption)}</figcaption>'
            f'<pre class="grid">{escape(chr(10).join(grid(cells)))}</pre></figure>'
            for caption, cells in given_grids(walk)
        )
        + "</div>"
    )


def given_grids_svg(walk: MapWalk) -> str:
    """The given grids as one SVG of monospaced text, a grid under its caption (a worksheet's or an LMS
    question's picture, where a page's HTML cannot go)."""
    from xml.sax.saxutils import escape

    char, line, pad = 7.8, 18, 10  # a 13px monospaced character's advance and a line's height
    parts, y, width = [], pad, 0.0
    for caption, cells in given_grids(walk):
        y += line
        parts.append(f'<text x="{pad}" y="{y}" font-style="italic">{escape(caption)}</text>')
        width = max(width, len(caption) * char)
        for row in grid(cells):
            y += line
            parts.append(f'<text x="{pad}" y="{y}" xml:space="preserve">{escape(row)}</text>')
            width = max(width, len(row) * char)
        y += line // 2
    w, h = int(width + 2 * pad), int(y + pad)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family="monospace" font-size="13">' + "".join(parts) + "</svg>\n"
    )


def given_grids_tex(walk: MapWalk) -> str:
    """The given grids as LaTeX tabulars, each under its caption (a worksheet's picture)."""
    parts = []
    for caption, cells in given_grids(walk, "tex"):
        body = r" \\ ".join(" & ".join(f"${c}$" for c in row) for row in cells)
        inner = r"\begin{tabular}{" + "r" * len(cells[0]) + "}" + body + r"\end{tabular}"
        # the caption above the grid, outside it: a long caption does not widen the grid's last column
        parts.append(
            r"\begin{tabular}[t]{@{}l@{}}\textit{" + tex_escape_text(caption) + r"} \\ " + inner + r"\end{tabular}"
        )
    return r"\quad ".join(parts)
