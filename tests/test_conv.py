"""The convolution, pooling and flatten layer kinds (tutor/spec/layers/conv.py, pool.py, flatten.py) in the
numeric engine: PyTorch's nn.Conv1d/Conv2d, MaxPool/AvgPool and Flatten (tests/data/torch_conv.json, recorded by
tests/data/record_torch_conv.py, and live when torch is importable) and central differences agree with it, and
every surface that does not take these kinds yet refuses them in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import assert_close, live_recording, recording, require_module
from tutor.cli import main
from tutor.engine import numeric
from tutor.spec import from_mapping
from tutor.spec.errors import SpecError

SCRIPT = Path(__file__).parent / "data" / "record_torch_conv.py"
CASES = recording(SCRIPT).CASES
RECORDED = json.loads((Path(__file__).parent / "data" / "torch_conv.json").read_text(encoding="utf-8"))
REL = 1e-12


def close(ours, theirs, what: str) -> None:
    assert_close(ours, theirs, REL, what)


def tutor_results(case: dict) -> dict:
    return results_of(from_mapping(case))


def results_of(net) -> dict:
    st = numeric.step(net)
    params = [li for li, layer in enumerate(net.layers) if layer.weights.size]
    return {
        "loss": st.forward.loss,
        "input_grad": numeric.input_gradient(net, st.forward, st.backward),
        "grad_weights": [st.backward.grad_W[li] for li in params],
        "grad_biases": [st.backward.grad_b[li] for li in params],
        "new_weights": [st.new_W[li] for li in params],
        "new_biases": [st.new_b[li] if net.layers[li].has_bias else np.zeros(0) for li in params],
    }


def compare(ours: dict, theirs: dict, name: str) -> None:
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=REL)
    close(ours["input_grad"], theirs["input_grad"], f"{name}: dE/dx")
    for key in ("grad_weights", "grad_biases", "new_weights", "new_biases"):
        assert len(ours[key]) == len(theirs[key])
        for k, (a, b) in enumerate(zip(ours[key], theirs[key])):
            close(a, b, f"{name}: {key}[{k}]")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_numeric_engine_agrees_with_recorded_torch(name):
    ours = tutor_results(CASES[name])
    compare(ours, RECORDED["cases"][name], name)
    # the cases are not vacuous: every kernel has a gradient well away from 0
    assert all(np.max(np.abs(g)) > 1e-3 for g in ours["grad_weights"])


def test_the_recording_is_what_torch_computes_now():
    live = live_recording(SCRIPT)
    for name in CASES:
        compare(tutor_results(CASES[name]), live["cases"][name], name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_agree_with_central_differences(name):
    """dE/dw of every kernel weight and dE/dx of every input, against (E(v + h) - E(v - h)) / 2h."""
    case = CASES[name]
    net = from_mapping(case)
    st = numeric.step(net)
    W = [layer.weights for layer in net.layers]
    b = [layer.biases for layer in net.layers]
    h = 1e-6

    def loss(W=W, x=net.inputs):
        return numeric.forward(net, W, b, x=x).loss

    conv = 0
    for i in range(W[conv].size):
        e = np.zeros(W[conv].size)
        e[i] = h
        up = [W[conv] + e.reshape(W[conv].shape)] + W[1:]
        down = [W[conv] - e.reshape(W[conv].shape)] + W[1:]
        fd = (loss(up) - loss(down)) / (2 * h)
        assert st.backward.grad_W[conv].flat[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    ig = numeric.input_gradient(net, st.forward, st.backward)
    for i in range(net.inputs.size):
        e = np.zeros(net.inputs.size)
        e[i] = h
        fd = (loss(x=net.inputs + e) - loss(x=net.inputs - e)) / (2 * h)
        assert ig[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_shapes_names_and_the_kernel_matrix():
    net = from_mapping(CASES["conv2d_maxpool"])
    conv, pool, flat, out = net.layers
    assert (conv.in_shape, conv.out_shape, conv.kernel, conv.stride, conv.padding) == (
        (2, 5, 4),
        (3, 3, 3),
        (3, 2),
        (2, 1),
        (1, 0),
    )
    # torch's out x in x kh x kw, kept as the im2col kernel matrix: one row per kernel
    assert conv.weights.shape == (3, 12)
    assert conv.weights[1, (1 * 3 + 0) * 2 + 1] == CASES["conv2d_maxpool"]["layers"][0]["weights"][1][1][0][1]
    assert conv.weight_labels[1][7] == "w1_2212" and conv.bias_labels == ("b1_1", "b1_2", "b1_3")
    assert conv.neurons[:2] == ("c1_1.1.1", "c1_1.1.2") and pool.out_shape == (3, 2, 2)
    assert flat.size == 12 and out.kind == "dense"
    assert net.parameter_count == 36 + 3 + 36 + 3


@pytest.mark.parametrize(
    "change, place, message",
    [
        (lambda c: c["inputs"].pop("shape"), "layers[0]", "a conv2d layer reads feature maps: give [inputs] shape"),
        (lambda c: c["inputs"].update(shape=[2, 4, 4]), "inputs.shape", "shape [2, 4, 4] holds 32 values, but 40"),
        (lambda c: c["layers"][0].update(kind="conv1d"), "layers[0]", "conv1d reads 1-D maps; its input has shape"),
        (lambda c: c["layers"][0]["weights"].pop(), "layers[0].weights", "expected 3 entries here (the weights are"),
        (lambda c: c["layers"][0].update(kernel_size=[9, 2]), "layers[0]", "the window does not fit"),
        (lambda c: c["layers"][0].update(stride=0), "layers[0].stride", "stride is a whole number >= 1"),
        (lambda c: c["layers"][0].update(biases=[1.0]), "layers[0].biases", "1 biases for 3 output channels"),
        (
            lambda c: c["layers"][1].update(padding=1),
            "layers[1]: padding",
            "unknown key; allowed here: kernel_size, kind, name, stride",
        ),
        (lambda c: c["layers"][0].update(activation="softmax"), "layers[0]", "'softmax' is not element-wise"),
    ],
)
def test_bad_specs_are_one_line_errors(change, place, message):
    case = json.loads(json.dumps(CASES["conv2d_maxpool"]))
    change(case)
    with pytest.raises(SpecError) as e:
        from_mapping(case)
    text = str(e.value)
    assert text.startswith(f"<spec>: {place}: {message}"), text
    assert "\n" not in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["explain", "{spec}", "--format", "html", "--interactive", "-o", "{out}.html"],
            "--interactive: the interactive page animates a dense network's diagram; ",
        ),
        (["explain", "{spec}", "--steps", "3"], "--steps: "),
        (["explain", "{spec}", "--view", "matrix"], "--view: "),
        (["explain", "{spec}", "--notation", "layered"], "--notation: "),
        (["explain", "{spec}", "--update-order", "updated-first"], "update_order: the walk by layers computes"),
        (["train", "{spec}"], "--show: the training document walks steps through dense layers' forms; "),
        (["train", "{spec}", "--show", "none", "--format", "md"], "--format: the training document sets its network"),
    ],
)
def test_surfaces_that_do_not_take_the_kinds_refuse_them(argv, message, tmp_path, capsys):
    from tutor.teach.randomnet import to_toml

    spec = tmp_path / "conv.toml"
    text = to_toml({"title": "conv", "description": "", "source": "", "conventions": {}, **CASES["conv2d_maxpool"]})
    spec.write_text(text, encoding="utf-8")
    args = [a.format(spec=spec, out=tmp_path / "out") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("backprop-tutor: error: " + message), (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.toml"]


def test_training_runs_through_them_on_the_numeric_engine(tmp_path, capsys):
    """train --show none needs no walk-through: its loss after two updates is two numeric steps'."""
    from tutor.teach.randomnet import to_toml

    case = CASES["conv2d_maxpool"]
    spec = tmp_path / "conv.toml"
    spec.write_text(to_toml({"title": "conv", "description": "", "source": "", "conventions": {}, **case}), "utf-8")
    assert main(["train", str(spec), "--epochs", "2", "--show", "none"]) == 0
    out = capsys.readouterr().out
    net = from_mapping(case)
    for _ in range(2):
        st = numeric.step(net)
        net = net.with_params(st.new_W, st.new_b)
    assert f"loss after it: {st.after.loss:.9g}" in out
    assert f"b1_3 = {net.layers[0].biases[2]:.9g}" in out


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_walk_through_feature_maps_agrees_with_the_numeric_engine(name):
    """explain_maps (local forms per kind, bound per position) against numeric.step: loss, every delta, every
    parameter's gradient and update, every input's gradient."""
    from tutor.engine.sym_maps import explain_maps

    net = from_mapping(CASES[name])
    walk = explain_maps(net)
    st = numeric.step(net)
    assert walk.value(walk.loss) == pytest.approx(st.forward.loss, rel=REL)
    for li, rec in enumerate(walk.layers):
        layer = net.layers[li]
        close([walk.value(k) for k in rec.deltas], st.backward.deltas[li], f"{name}: deltas of layers[{li}]")
        if layer.weights.size:
            grads = [[walk.value(rec.grads[lab]) for lab in row] for row in layer.weight_labels]
            close(grads, st.backward.grad_W[li], f"{name}: dE/dW of layers[{li}]")
            close([[walk.value(rec.updates[lab]) for lab in row] for row in layer.weight_labels], st.new_W[li], name)
        if layer.has_bias:
            labels = layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels
            close([walk.value(rec.grads[lab]) for lab in labels], st.backward.grad_b[li], f"{name}: dE/db")
    ig = numeric.input_gradient(net, st.forward, st.backward)
    close([walk.value(k) for k in walk.input_gradients], ig, f"{name}: dE/dx")


SMALL = {
    "title": "A 4x4 image",
    "inputs": {"shape": [1, 4, 4], "values": [1.0, 2, 0, 1, 0, 1, 3, 2, 1, 0, 1, 0, 2, 1, 0, 1]},
    "layers": [
        {
            "kind": "conv2d",
            "out_channels": 1,
            "kernel_size": 2,
            "weights": [[[[1.0, 0.0], [-1.0, 0.5]]]],
            "biases": [0.1],
            "activation": "relu",
        },
        {"kind": "max_pool", "kernel_size": 2, "stride": 1},
        {"kind": "flatten"},
        {
            "neurons": ["o1", "o2"],
            "activation": "softmax",
            "weights": [[0.2, -0.3, 0.4, 0.1], [-0.5, 0.3, 0.2, 0.6]],
            "biases": [0.0, 0.1],
        },
    ],
    "loss": {"name": "categorical_cross_entropy", "targets": [1.0, 0.0]},
    "training": {"learning_rate": 0.1},
}


def test_the_text_walk_through_shows_each_step():
    """The receptive-field sums with their numbers, the im2col product, the pooling winners, the kernel gradients
    as sums over positions and the input gradient as the full convolution with the flipped kernel; the same
    bytes twice."""
    from tutor.engine.sym_maps import explain_maps
    from tutor.render.maps import render

    walk = explain_maps(from_mapping(SMALL))
    text = render(walk, "text")
    assert text == render(explain_maps(from_mapping(SMALL)), "text")
    assert (
        "net_c1_1.1.2 = w1_1111·x2 + w1_1112·x3 + w1_1121·x6 + w1_1122·x7 + b1_1·1 = 1·2 + 0·0 + (-1)·1 + 0.5·3 + 0.1·1"
        " = 2.6" in text
    )
    assert (
        "net_p2_1.1.1 = max(out_c1_1.1.1, out_c1_1.1.2, out_c1_1.2.1, out_c1_1.2.2) = max(1.6, 2.6, 0, 1.6) = 2.6"
        in text
    )
    assert "net_p2_1.1.1: won by out_c1_1.1.2" in text and "net_p2_1.2.2: won by out_c1_1.2.3" in text
    # out_c1_1.1.2 won two overlapping windows: its gradient is the sum of both windows' deltas
    assert "∂E_total/∂out_c1_1.1.2 = ∂E_total/∂net_p2_1.1.1·∂net_p2_1.1.1/∂out_c1_1.1.2 + " in text
    assert "∂E_total/∂out_c1_1.1.1 = 0\n" in text  # no window chose it
    grad = walk.value("dE_total/dw1_1111")
    assert grad == pytest.approx(2 * -0.0638763175 + 1 * -0.127752635 + 3 * 0.3193815876, abs=1e-9)
    assert "the full convolution of the delta maps with the kernel flipped in both directions" in text
    assert "      0.5   -1\n        0    1\n" in text  # the flipped kernel
    assert "        1    0   -1  0.5\n" in text  # the kernel matrix of the im2col view
    md = render(walk, "md")
    assert "$\\mathrm{net}_{c1,1.1.2} = " in md and "```\n  1    0\n -1  0.5\n```" in md


def test_every_document_format_writes_the_walk():
    """Markdown, LaTeX and HTML (autoescaped, with its CSP, no script) carry the same steps; the spec's title is
    escaped in each."""
    from tutor.engine.sym_maps import explain_maps
    from tutor.render.maps import render

    walk = explain_maps(from_mapping({**SMALL, "title": "<b>4x4</b> & $x$"}))
    html = render(walk, "html")
    assert "Content-Security-Policy" in html and "<script" not in html and "<b>4x4" not in html
    assert "&lt;b&gt;4x4&lt;/b&gt; &amp; $x$" in html and "won by" in html and "flipped" in html
    tex = render(walk, "tex")
    assert "\\& \\$x\\$" in tex and "\\begin{verbatim}" in tex and "won by" in tex
    assert "\\mathrm{net}_{c1,1.1.2}" in tex


@pytest.mark.slow
def test_the_pdf_compiles(tmp_path):
    from tutor.engine.sym_maps import explain_maps
    from tutor.render.maps import render

    pdf = render(explain_maps(from_mapping(SMALL)), "pdf")
    assert pdf.startswith(b"%PDF")


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_torch_reads_conv_pool_and_flatten_modules(name):
    """from_torch of the recorded model (nn.Conv1d/Conv2d, MaxPool, AvgPool, Flatten, Linear) is the case's network:
    the same parameters, and torch's gradients and step at 1e-12."""
    torch = require_module("torch")
    from tutor.interop.torch import from_torch

    case = CASES[name]
    model, _ = recording(SCRIPT)._model(case)
    x = torch.tensor(case["inputs"]["values"], dtype=torch.float64).reshape(1, *case["inputs"]["shape"])
    lr = case["training"]["learning_rate"]
    net = from_torch(model, x, case["loss"]["targets"], loss=case["loss"]["name"], learning_rate=lr)
    spec = from_mapping(case)
    assert [layer.kind for layer in net.layers] == [layer.kind for layer in spec.layers]
    for ours, theirs in zip(net.layers, spec.layers):
        assert np.array_equal(ours.weights, theirs.weights) and ours.size == theirs.size
    compare(results_of(net), RECORDED["cases"][name], name)


def test_from_torch_refuses_what_the_kinds_do_not_model():
    torch = require_module("torch")
    from tutor.interop.torch import from_torch
    from tutor.spec.errors import TutorError

    nn = torch.nn
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    for model, message in (
        (nn.Sequential(nn.Conv2d(1, 1, 2, dilation=2), nn.Flatten(), nn.Linear(4, 1)), "groups or dilation"),
        (nn.Sequential(nn.Conv2d(1, 1, 2, padding="same"), nn.Flatten(), nn.Linear(16, 1)), "padding='same'"),
        (nn.Sequential(nn.MaxPool2d(2, padding=1), nn.Flatten(), nn.Linear(9, 1)), "padding or ceil_mode"),
        (nn.Sequential(nn.Conv2d(1, 1, 2), nn.Flatten(), nn.Linear(9, 1), nn.Flatten()), "must end with a Linear"),
    ):
        with pytest.raises(TutorError) as e:
            from_torch(model.double(), x, [0.5])
        assert str(e.value).startswith("from_torch(): ") and message in str(e.value) and "\n" not in str(e.value)


def test_the_readme_section_is_true(tmp_path, capsys):
    """The README's spec, run through explain, prints the excerpt the README shows."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Convolution, pooling and flatten") :]
    toml = section[section.index("```toml\n") + 8 : section.index("```", section.index("```toml\n") + 8)]
    excerpt = section[section.index("```text\n") + 8 : section.index("```", section.index("```text\n") + 8)]
    spec = tmp_path / "conv.toml"
    spec.write_text(toml, encoding="utf-8")
    assert main(["explain", str(spec)]) == 0
    out = capsys.readouterr().out
    for line in excerpt.splitlines():
        assert line in out.splitlines(), line


def test_check_reads_claims_about_a_network_with_feature_maps(tmp_path, capsys):
    """check compares claimed numbers with the walk by layers: right ones agree at their printed precision, a
    wrong one is WRONG (exit 1), with the tutor's value."""
    from tutor.teach.randomnet import to_toml

    spec = tmp_path / "conv.toml"
    spec.write_text(to_toml({"description": "", "source": "", "conventions": {}, **SMALL}), encoding="utf-8")
    claims = tmp_path / "claims.toml"
    rows = [("net_c1_1.1.2", "2.6"), ("out_o1", "0.3612"), ("dE_total/dw1_1111", "0.7026"), ("dE_total/dx7", "0.2874")]
    rows += [("w1_1122+", "0.5319"), ("dE_total/dw1_1112", "0.3000")]
    claims.write_text("".join(f'[[claim]]\nquantity = "{q}"\nvalue = "{v}"\n\n' for q, v in rows), encoding="utf-8")
    assert main(["check", str(spec), str(claims)]) == 1
    out = capsys.readouterr().out
    assert "5 agree, 0 hold under another convention, 1 wrong." in out
    assert "dE_total/dw1_1112    0.3000         WRONG      0.2555" in out


def test_the_python_api_explains_it_for_a_notebook():
    import tutor

    e = tutor.explain(SMALL)
    assert (
        repr(e) == "<Explanation of A 4x4 image (conv2d, max_pool, flatten, dense): E_total 1.01822151; engines agree>"
    )
    assert e.ok and e.value("dE_total/dw1_1111") == pytest.approx(0.702639493, abs=5e-10)
    assert "won by" in e._repr_markdown_() and "<h3>" in e._repr_html_()
    q = tutor.quiz(SMALL)  # the quiz asks the walk by layers, from the first position's sum
    assert q.questions[0].key == "net_c1_1.1.1"


PUBLISHED = Path(__file__).parent / "data" / "published"


@pytest.mark.parametrize("name", ["d2l-conv2d", "d2l-channels", "d2l-pooling"])
def test_published_examples_agree_with_their_claims(name, capsys):
    """The textbook's convolution, two-channel convolution and 4x4 pooling outputs (Dive into Deep Learning,
    sections 7.2, 7.4, 7.5; each spec's source), transcribed as claims: check accepts every one."""
    spec, claims = PUBLISHED / f"{name}.toml", PUBLISHED / f"{name}.claims.toml"
    assert main(["check", str(spec), str(claims)]) == 0
    out = capsys.readouterr().out
    n = claims.read_text(encoding="utf-8").count("[[claim]]")
    assert f"{n} agree, 0 hold under another convention, 0 wrong." in out
    assert main(["explain", str(spec)]) == 0
    assert "Source: A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, Dive into Deep Learning" in capsys.readouterr().out
