"""What happens before the first forward pass (``explain_preparation``): input statistics, scaled inputs and
drawn weights, each a local form bound to its quantities."""

from __future__ import annotations

from ..spec import rules
from ..spec.network import Network
from .numeric import rounder_for
from .steps import (
    InitLayer,
    Preparation,
)
from .sym_builder import _Builder
from .sym_forms import init_form, scaled_form, stat_form

STAT_NAMES = {"mean": "mu", "std": "sigma", "min": "min", "max": "max"}


def explain_preparation(net: Network) -> Preparation:
    """Feature scaling and drawn weights on their own, for a training document (whose steps start from them)."""
    return _prepare(_Builder(net, rounder_for(net)), net)


def _prepare(b: _Builder, net: Network) -> Preparation:
    stats: list[list[str]] = []
    examples: list[list[tuple[str, str]]] = []
    validation: list[list[tuple[str, str]]] = []
    if net.scaling:
        rule = rules.SCALINGS[net.scaling]
        m = len(net.raw_examples)
        for k, (x, _) in enumerate(net.raw_examples):
            for name, v in zip(net.input_names, x):
                b.given(f"{name}_raw[e{k + 1}]", "input", v, index=k)
        for i, name in enumerate(net.input_names):
            raw = [f"{name}_raw[e{k + 1}]" for k in range(m)]
            keys: dict[str, str] = {}
            for st in rule.stats:  # the mean comes first where the standard deviation needs it
                args = [keys["mean"], *raw] if st == "std" else raw
                keys[st] = b.add(f"{STAT_NAMES[st]}[{name}]", "stat", stat_form(st, m), args, index=i)
            stats.append([keys[s] for s in rule.stats])

        def scale(rows, tag: str) -> list[list[tuple[str, str]]]:
            out = []
            for k in range(len(rows)):
                row = []
                for i, name in enumerate(net.input_names):
                    raw = f"{name}_raw[{tag}{k + 1}]"
                    key = b.add(f"{name}[{tag}{k + 1}]", "scaled", scaled_form(net.scaling), [raw, *stats[i]], index=k)
                    row.append((raw, key))
                out.append(row)
            return out

        examples = scale(net.raw_examples, "e")
        if net.training.raw_validation:
            for k, (x, _) in enumerate(net.training.raw_validation):
                for name, v in zip(net.input_names, x):
                    b.given(f"{name}_raw[v{k + 1}]", "input", v, index=k)
            validation = scale(net.training.raw_validation, "v")
    init: list[InitLayer] = []
    for li in net.init_layers:
        layer = net.layers[li]
        tag = f"L{li + 1}"
        fi = b.given(f"fan_in[{tag}]", "given", layer.weights.shape[1], layer=li)
        fo = b.given(f"fan_out[{tag}]", "given", layer.weights.shape[0], layer=li)
        rule = rules.INITS[net.init]
        word = "bound" if rule.distribution == "uniform" else "std"
        scale_key = b.add(f"{word}[{tag}]", "init", init_form(net.init), [fi, fo], layer=li)
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                b.given(w, "param", layer.weights[j, i], layer=li, index=j)
        init.append(InitLayer(li, net.init, fi, fo, scale_key, [list(r) for r in layer.weight_labels]))
    return Preparation(net, net.conventions, b.q, b.labels, net.scaling, stats, examples, validation, init)
