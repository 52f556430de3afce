"""Two more views of one step, computed here so renderers only read: BP1-BP4 with the actual matrices and
vectors (numeric engine), and every path from a parameter to the loss with the product along it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..spec.errors import TutorError
from . import numeric
from .steps import Walkthrough

MAX_PATHS = 2000


@dataclass(frozen=True)
class MatrixLayer:
    """Layer l of the matrix view: the forward quantities and the four equations with their operands."""

    layer: int  # 1-based, as in the seeds' w^l
    a_prev: np.ndarray  # a^(l-1)
    W: np.ndarray
    b: np.ndarray
    z: np.ndarray  # net^l = W^l a^(l-1) + b^l
    a: np.ndarray  # a^l = f(net^l)
    output: bool
    grad_a: np.ndarray  # BP1: dC/da^L; BP2: (W^(l+1))^T delta^(l+1)
    W_next_T: np.ndarray | None  # (W^(l+1))^T for a hidden layer
    delta_next: np.ndarray | None
    sigma_prime: np.ndarray | None  # f'(net^l), element-wise (None for softmax)
    jacobian: np.ndarray | None  # softmax: dout_k/dnet_j
    delta: np.ndarray  # BP1/BP2: grad_a (Hadamard) f'(net^l), or J^T grad_a for softmax
    grad_b: np.ndarray  # BP3: dC/db^l = delta^l (summed over the layer when the bias is shared)
    grad_W: np.ndarray  # BP4: dC/dW^l = delta^l (a^(l-1))^T


def refusal(net, view: str) -> str:
    """Why the ``view`` (matrix, paths) of a dense network's step cannot be written ("" when it can): BP2 and
    the paths follow the weights only, so a network with skips has neither."""
    if not net.has_skips:
        return ""
    if view == "matrix":
        return "the matrix view writes BP2 without residual connections; this network has skips"
    if view == "paths":
        return "the path view follows the weights only; this network has skips (see the backward pass)"
    return ""


def matrix_view(walk: Walkthrough, skips: bool = False) -> list[MatrixLayer]:
    """BP1-BP4 layer by layer, from the numeric engine, under the walk-through's conventions. BP2 has no
    term for a residual connection, so a network with skips has no matrix view (``skips``: the rows anyway,
    for the magnitudes, whose dE/da includes the skip's term)."""
    net = walk.network
    if (why := refusal(net, "matrix")) and not skips:
        raise TutorError(why)
    R = numeric.rounder_for(net)
    fw = numeric.forward(net, R=R)
    bw, _, _ = numeric.backward(net, fw, R=R)
    out = []
    L = len(net.layers)
    for li, layer in enumerate(net.layers):
        a_prev = net.inputs if li == 0 else fw.kept[li - 1]
        hidden = li < L - 1
        W_next = bw.used_W[li] if hidden else None
        out.append(
            MatrixLayer(
                layer=li + 1,
                a_prev=a_prev,
                W=layer.weights,
                b=layer.biases,
                z=fw.nets[li],
                a=fw.outs[li],
                output=not hidden,
                grad_a=bw.dE_dout[li],
                W_next_T=None if W_next is None else W_next.T,
                delta_next=bw.deltas[li + 1] if hidden else None,
                sigma_prime=bw.dout_dnet[li],
                jacobian=bw.jacobians[li],
                delta=bw.deltas[li],
                grad_b=bw.grad_b[li],
                grad_W=bw.grad_W[li],
            )
        )
    return out


@dataclass(frozen=True)
class Path:
    """One path from a parameter to the loss: the factor on every edge, and their product."""

    nodes: tuple[str, ...]  # quantity keys along the path, from the parameter to the loss
    edges: tuple[str, ...]  # the factor (a quantity key) of each edge
    product: float


@dataclass(frozen=True)
class ParamPaths:
    param: str
    gradient: str  # the key of the chain-rule gradient it must sum to
    paths: tuple[Path, ...]
    total: float  # the sum over the paths


def path_view(walk: Walkthrough) -> list[ParamPaths]:
    """For every parameter, every path to the loss: "the sum over all paths" of the seeds.

    The edges are the walk-through's own factors: dnet/dparam, dout/dnet (or a softmax Jacobian entry),
    the dropout factor, dnet_k/dout_j for each downstream neuron, and dE/dout at the output.
    """
    return [ParamPaths(t.param, t.gradient, t.first(t.count), t.total) for t in path_totals(walk)]


@dataclass(frozen=True)
class PathTotals:
    """A parameter's paths counted and summed without listing them (``path_totals``); ``first(n)`` lists the
    first n, the same Path records as ``path_view``'s."""

    param: str
    gradient: str
    count: int
    total: float
    first: Callable[[int], tuple[Path, ...]]


def path_totals(walk: Walkthrough) -> list[PathTotals]:
    """``path_view``'s counts and sums, the same numbers, without making a record of every path: a document
    lists a few hundred paths of the tens of thousands a wide network has, whose number grows faster than its
    parameters. Each path's product is taken along the path from the parameter as ``path_view`` takes it (the
    same multiplications in the same order, made for all the paths of a layer's parameters at once with NumPy, a
    step of every path at a time), and the products are summed one after the other in ``path_view``'s order, so
    count and total are the same to the last bit."""
    if why := refusal(walk.network, "paths"):
        raise TutorError(why)
    if not walk.backward:
        raise TutorError("the path view needs the backward pass (leave out --forward-only)")
    q = walk.quantities
    L = len(walk.network.layers)
    by_layer = {row[0].layer: row for row in walk.backward}
    fwd = walk.forward
    E = walk.network.notation["loss"]
    steps_memo: dict[tuple[int, int], list] = {}
    counts: dict[tuple[int, int], int] = {}

    def steps(li: int, j: int) -> list:
        """The paths from net_j of layer li, one layer deep: (head nodes, head edges, E's edge or the next nets' factors)."""
        if (li, j) not in steps_memo:
            nb = by_layer[li][j]
            layer_rows = fwd[li]
            outs = list(enumerate(_jac_column(walk, li, j))) if nb.jacobian else [(j, nb.dout_dnet)]
            out = []
            for k, edge in outs:
                r = layer_rows[k]
                head_nodes: tuple[str, ...] = (layer_rows[j].net, r.out)
                head_edges: tuple[str, ...] = (edge,)
                if r.kept:
                    head_nodes += (r.kept,)
                    head_edges += (by_layer[li][k].dkept_dout,)
                if li == L - 1:
                    out.append((head_nodes, head_edges, by_layer[li][k].dE_dout))
                    continue
                weightless = walk.network.layers[li + 1].weightless
                nexts = [
                    (f"d{down.net}/d{r.read}", m)
                    for m, down in enumerate(fwd[li + 1])
                    if not (weightless and m != k)  # net_m = a_m reads no other output: no path
                ]
                out.append((head_nodes, head_edges, nexts))
            steps_memo[li, j] = out
        return steps_memo[li, j]

    def count(li: int, j: int) -> int:
        if (li, j) not in counts:
            n = 0
            for _, _, tail in steps(li, j):
                n += 1 if isinstance(tail, str) else sum(count(li + 1, m) for _, m in tail)
            if n > MAX_PATHS:
                raise TutorError(
                    f"more than {MAX_PATHS} paths from one parameter to the loss: the path view is for small networks"
                )
            counts[li, j] = n
        return counts[li, j]

    def paths(li: int, j: int):
        for head_nodes, head_edges, tail in steps(li, j):
            if isinstance(tail, str):
                yield head_nodes + (E,), head_edges + (tail,)
                continue
            for factor, m in tail:
                for nodes, edges in paths(li + 1, m):
                    yield head_nodes + nodes, head_edges + (factor,) + edges

    tables: dict[int, tuple] = {}

    def table(li: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every path step from layer li's neurons, a row each, neuron by neuron: the factors a path's running
        product is multiplied by, in the order ``first_paths`` multiplies a listed path's edges (padded with
        1.0), the next layer's neuron it reaches (-1: the loss), and each neuron's number of rows and first row.
        Made once a layer: the parameters of every layer before it read it."""
        if li not in tables:
            mults, nexts, many = [], [], []
            for j in range(len(fwd[li])):
                before = len(nexts)
                for _, head_edges, tail in steps(li, j):
                    head = tuple(q[e].value for e in head_edges)
                    if isinstance(tail, str):
                        mults.append(head + (q[tail].value,))
                        nexts.append(-1)
                    else:
                        for factor, m in tail:
                            mults.append(head + (q[factor].value,))
                            nexts.append(m)
                many.append(len(nexts) - before)
            width = max(len(m) for m in mults)
            mult = np.array([m + (1.0,) * (width - len(m)) for m in mults], dtype=float).reshape(-1, width)
            rows = np.array(many)
            tables[li] = (mult, np.array(nexts, dtype=int), rows, np.cumsum(rows) - rows)
        return tables[li]

    def leaves(li: int, prods: np.ndarray, js: np.ndarray) -> np.ndarray:
        """The paths' products of many starts at once, a layer at a time: the running products arriving at layer
        li (``prods``, at neurons ``js``) expanded into their paths' products, each start's paths together and in
        the listing's order (a start's steps are consecutive rows). The same multiplications in the same order as
        a listed path's product (a step's factors padded with 1.0, which multiplies exactly), so the same bits."""
        while True:
            mult, nxt, many, first = table(li)
            counts = many[js]
            # each start's rows in order: a ragged arange of its neuron's rows
            at = np.repeat(first[js] - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
            prods = np.repeat(prods, counts)
            for w in range(mult.shape[1]):
                prods = prods * mult[at, w]
            if li == L - 1:
                return prods
            li, js = li + 1, nxt[at]

    # every parameter's total: its starts' paths expanded together (a numpy step a layer, not a generator step a
    # path: the paths outnumber the parameters), each parameter's products summed in order
    firsts_of, totals = [], {}
    for p in walk.params:
        neurons = walk.network.layers[p.layer].neurons
        starts = [neurons.index(p.neuron)] if p.kind == "weight" or not p.chains else list(range(len(neurons)))
        firsts_of.append([(j, p.factors[-1] if p.factors else p.chains[j][-1]) for j in starts])
    for layer in sorted({p.layer for p in walk.params}):
        mine = [i for i, p in enumerate(walk.params) if p.layer == layer]
        starts = [(i, j, first) for i in mine for j, first in firsts_of[i]]
        prods = np.array([1.0 * q[first].value for _, _, first in starts], dtype=float)
        js = np.array([j for _, j, _ in starts], dtype=int)
        sizes = [count(layer, j) for _, j, _ in starts]  # paths of each start (refused past MAX_PATHS)
        flat = leaves(layer, prods, js)
        at = 0
        for (i, _, _), size in zip(starts, sizes):
            totals.setdefault(i, []).extend(flat[at : at + size].tolist())
            at += size

    out = []
    for i, p in enumerate(walk.params):
        firsts = firsts_of[i]
        n = sum(count(p.layer, j) for j, _ in firsts)
        total = float(sum(totals[i]))  # in the listing's order: Python's sum adds one after the other

        def first_paths(limit: int, p=p, firsts=firsts) -> tuple[Path, ...]:
            listed: list[Path] = []
            for j, first in firsts:
                for nodes, edges in paths(p.layer, j):
                    if len(listed) >= limit:
                        return tuple(listed)
                    keys = (first,) + edges
                    prod = 1.0
                    for k in keys:
                        prod *= q[k].value
                    listed.append(Path((p.label,) + nodes, keys, prod))
            return tuple(listed)

        out.append(PathTotals(p.label, p.gradient, n, total, first_paths))
    return out


def _jac_column(walk: Walkthrough, li: int, j: int) -> list[str]:
    """The keys dout_k/dnet_j for every k of a softmax layer."""
    row = walk.forward[li]
    return [f"d{r.out}/d{row[j].net}" for r in row]


@dataclass(frozen=True)
class LayerMagnitude:
    layer: int  # 1-based
    activation: str
    delta: float  # mean |delta^l|
    gradient: float  # mean |dC/dW^l|


def gradient_magnitudes(walk: Walkthrough) -> list[LayerMagnitude]:
    """The size of the gradient layer by layer: how it vanishes (sigmoid) or not (ReLU) with depth."""
    out = []
    for l in matrix_view(walk, skips=True):
        layer = walk.network.layers[l.layer - 1]
        out.append(
            LayerMagnitude(
                l.layer,
                layer.activation,
                float(np.mean(np.abs(l.delta))),
                float(np.mean(np.abs(l.grad_W))) if l.grad_W.size else float("nan"),  # NaN: no weights
            )
        )
    return out
