"""Networks from NumPy arrays and PyTorch models: the same numbers as a spec, every gradient as torch autograd's."""

from __future__ import annotations

import random

import numpy as np
import pytest

import tutor
from tutor.engine.symbolic import explain_step
from tutor.engine.walks import step_walk
from tutor.interop import from_numpy, from_torch, to_mapping, torch_gradient_check, with_example
from tutor.spec import from_mapping, load
from tutor.spec.errors import TutorError
from tutor.spec.resources import example_names

from .support import assert_error_starts, require_module

MAZUR_W = [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
MAZUR = dict(x=[0.05, 0.10], y=[0.01, 0.99], activations="sigmoid", loss="half_sse", learning_rate=0.5)
REL = 1e-9


# -- NumPy --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["out_in", "in_out"])
def test_from_numpy_reproduces_mazur_in_both_layouts(layout):
    weights = [np.array(w) if layout == "out_in" else np.array(w).T for w in MAZUR_W]
    net = from_numpy(weights, [0.35, 0.60], layout=layout, **MAZUR)
    mine, spec = explain_step(net), explain_step(load("mazur"))
    assert round(mine.value("w2_11+"), 8) == 0.35891648
    # the same quantities under the default names: w5 is w2_11, h1's out is out_h1, ...
    assert mine.value("E_total") == spec.value("E_total")
    assert mine.value("dE_total/dw1_11") == spec.value("dE_total/dw1")
    assert mine.value("dE_total/dw2_12") == spec.value("dE_total/dw6")


def test_from_numpy_biases_per_neuron_shared_and_none():
    W = [np.array([[0.5, -0.5], [0.25, 1.0]]), np.array([[1.0, -1.0]])]
    net = from_numpy(W, [np.array([0.1, 0.2]), None], x=[1.0, 2.0], y=[0.5])
    assert not net.layers[0].shared_bias and not net.layers[1].has_bias and net.layers[1].bias_labels == ()
    assert net.update_biases and net.parameter_count == 4 + 2 + 2  # the layer given None has no bias at all
    assert from_numpy(W, [[0.1, 0.2], [0.3]], x=[1.0, 2.0], y=[0.5]).update_biases
    assert from_numpy(W, None, x=[1.0, 2.0], y=[0.5]).parameter_count == 6
    # a (1, n) row of biases, as Keras keeps them, and a batch of one as x
    net = from_numpy([np.ones((2, 3))], [np.zeros((1, 3))], x=np.array([[1.0, 2.0]]), y=[0, 1, 0], layout="in_out")
    assert net.layers[0].biases.tolist() == [0.0, 0.0, 0.0] and net.inputs.tolist() == [1.0, 2.0]


def test_from_numpy_activation_per_layer_with_parameters():
    net = from_numpy(
        [np.eye(2), np.eye(2)],
        None,
        x=[-1.0, 2.0],
        y=1,
        loss="categorical_cross_entropy",
        activations=[{"name": "leaky_relu", "slope": 0.2}, "softmax"],
    )
    assert net.layers[0].activation_params["slope"] == 0.2 and net.targets.tolist() == [0.0, 1.0]
    assert round(explain_step(net).value("out_h1"), 12) == -0.2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: from_numpy(MAZUR_W, None, layout="rows", **MAZUR), "from_numpy(): layout: unknown layout 'rows'"),
        (
            lambda: from_numpy([np.ones((2, 3))], None, x=[1, 2], y=[0, 1, 0]),
            "from_numpy(): weights[0]: shape (2, 3) does not fit: with layout='out_in' it needs 2 columns, one per input "
            "of the layer (x gives 2); it fits layout='in_out'",
        ),
        (
            lambda: from_numpy([np.ones((2, 2)), np.ones((1, 3))], None, x=[1, 2], y=[0]),
            "from_numpy(): weights[1]: shape (1, 3) does not fit: with layout='out_in' it needs 2 columns, one per input "
            "of the layer (weights[0] gives 2)",
        ),
        (
            lambda: from_numpy([[[1.0, float("nan")]]], None, x=[1, 2], y=[0]),
            "from_numpy(): weights[0][0][1]: expected finite numbers, got nan",
        ),
        (
            lambda: from_numpy([[[1.0, 2.0]]], None, x=[1, float("inf")], y=[0]),
            "from_numpy(): x[1]: expected finite numbers",
        ),
        (
            lambda: from_numpy([[[1.0, 2.0], [3.0]]], None, x=[1, 2], y=[0]),
            "from_numpy(): weights[0]: expected a 2-D array of numbers",
        ),
        (
            lambda: from_numpy([[["0.5", "0.1"]]], None, x=[1, 2], y=[0]),
            "from_numpy(): weights[0]: expected a 2-D array of numbers, got [['0.5', '0.1']]",
        ),
        (
            lambda: from_numpy([[[0.5, 0.1]]], None, x=[True, False], y=[0]),
            "from_numpy(): x: expected a list of numbers, got [True, False]",
        ),
        (
            lambda: from_numpy([np.ones(2)], None, x=[1, 2], y=[0]),
            "from_numpy(): weights[0]: expected a 2-D array, got an array of shape (2,)",
        ),
        (
            lambda: from_numpy([np.ones((1, 2))], None, x=[[1, 2], [3, 4]], y=[0]),
            "from_numpy(): x: expected a 1-D array",
        ),
        (
            lambda: from_numpy([np.ones((1, 2))], [0.1, 0.2], x=[1, 2], y=[0]),
            "from_numpy(): biases: give one bias entry per layer (1)",
        ),
        (
            lambda: from_numpy([np.ones((2, 2))], [[0.1, 0.2, 0.3]], x=[1, 2], y=[0, 1]),
            "from_numpy(): biases[0]: 3 biases for 2 neurons",
        ),
        (
            lambda: from_numpy([np.ones((2, 2))], None, x=[1, 2], y=[0, 1, 1]),
            "from_numpy(): y: 3 targets for 2 output neurons",
        ),
        (
            lambda: from_numpy(
                [np.ones((2, 2))], None, x=[1, 2], y=2, loss="categorical_cross_entropy", activations="softmax"
            ),
            "from_numpy(): y: class index 2 is out of range for 2 output neurons (0 to 1)",
        ),
        (
            lambda: from_numpy([np.ones((2, 2))], None, x=[1, 2], y=[0, 1], activations=["tanh", "tanh"]),
            "from_numpy(): activations: give one activation for every layer, or a list with one per layer (1)",
        ),
        (
            lambda: from_numpy([np.ones((2, 2))], None, x=[1, 2], y=[0, 1], activations="sigmod"),
            "from_numpy(): activations[0]: unknown activation 'sigmod' (did you mean 'sigmoid'?)",
        ),
        (
            lambda: from_numpy([np.ones((2, 2))], None, x=[1, 2], y=[0, 1], loss="mae"),
            "from_numpy(): loss: unknown loss 'mae'",
        ),
        (
            lambda: from_numpy(np.ones((2, 2)), None, x=[1, 2], y=[0, 1]),
            "from_numpy(): weights: give a list of weight arrays",
        ),
        (
            lambda: from_numpy([np.ones((2, 2))], None, x=[1, 2], y=[0, 1], learning_rate=-1),
            "from_numpy(): training.learning_rate: the learning rate must be > 0",
        ),
    ],
)
def test_from_numpy_bad_input_names_the_place(call, message):
    assert_error_starts(call, message)


@pytest.mark.parametrize("name", example_names())
def test_to_mapping_builds_the_same_network(name):
    net = load(name)
    again = from_mapping(to_mapping(net), name=name)
    assert step_walk(again).values() == step_walk(net).values()  # the walk by layers for maps and recurrence
    assert (again.title, again.notation, again.conventions) == (net.title, net.notation, net.conventions)
    assert again.training == net.training and again.update_biases == net.update_biases
    assert [(x.tolist(), t.tolist()) for x, t in again.examples] == [(x.tolist(), t.tolist()) for x, t in net.examples]


def test_with_example_replaces_the_examples_of_a_batch():
    net = load("minibatch")
    assert len(net.examples) > 1
    one = with_example(net, x=[0.2, 0.4])
    assert [x.tolist() for x, _ in one.examples] == [[0.2, 0.4]] and one.targets.tolist() == net.targets.tolist()


def test_with_example_changes_the_example_and_validates_it():
    net = with_example(load("mazur"), x=[1.0, 0.5], y=[0.0, 1.0], learning_rate=0.1)
    assert net.inputs.tolist() == [1.0, 0.5] and net.targets.tolist() == [0.0, 1.0] and net.learning_rate == 0.1
    assert net.layers[0].weight_labels[0] == ("w1", "w2")  # the spec's own names survive
    with pytest.raises(TutorError, match=r"^explain\(\): x: 3 inputs for a network with 2 \(i1, i2\)$"):
        tutor.explain("mazur", x=[1, 2, 3])
    with pytest.raises(TutorError, match=r"loss 'binary_cross_entropy' needs targets in \[0, 1\]"):
        with_example(load("mazur"), y=[2.0, 0.0], loss="binary_cross_entropy")


# -- PyTorch ------------------------------------------------------------------------------------------------

ACTIVATIONS = [
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softplus",
    "GELU",
    "SiLU",
    "Hardtanh",
    "Identity",
    "none",
]
LOSSES = ["half_sse", "mse", "binary_cross_entropy", "categorical_cross_entropy", "multiclass_hinge"]
MODELS_PER_CASE = 4


def _activation(nn, name: str, rng: random.Random):
    return {
        "Sigmoid": nn.Sigmoid,
        "Tanh": nn.Tanh,
        "ReLU": nn.ReLU,
        "Identity": nn.Identity,
        "LeakyReLU": lambda: nn.LeakyReLU(rng.choice([0.01, 0.2])),
        "ELU": lambda: nn.ELU(rng.choice([1.0, 0.7])),
        "Softplus": nn.Softplus,
        "GELU": nn.GELU,
        "SiLU": nn.SiLU,
        "Hardtanh": lambda: nn.Hardtanh(*rng.choice([(-1.0, 1.0), (-0.5, 0.75)])),
        "none": None,
    }[name]


def random_model(torch, seed: int, hidden: str, loss: str):
    """1-3 hidden layers of widths 1-5 with the ``hidden`` activation, and the output the loss needs."""
    nn = torch.nn
    rng = random.Random(seed)
    torch.manual_seed(seed)
    widths = [rng.randint(1, 5) for _ in range(rng.randint(2, 4))]
    outputs = rng.randint(2, 4) if loss in ("categorical_cross_entropy", "multiclass_hinge") else rng.randint(1, 3)
    modules = []
    for a, b in zip(widths, widths[1:]):
        modules.append(nn.Linear(a, b, dtype=torch.float64))
        make = _activation(nn, hidden, rng)
        if make is not None:
            modules.append(make())
    modules.append(nn.Linear(widths[-1], outputs, dtype=torch.float64))
    if loss == "categorical_cross_entropy":
        modules.append(nn.Softmax(dim=-1))
    elif loss == "binary_cross_entropy":
        modules.append(nn.Sigmoid())
    else:
        make = _activation(nn, rng.choice(ACTIVATIONS), rng)
        if make is not None:
            modules.append(make())
    x = [rng.uniform(-1, 1) for _ in range(widths[0])]
    y = (
        rng.randrange(outputs)
        if loss in ("categorical_cross_entropy", "multiclass_hinge")
        else [rng.uniform(0, 1) for _ in range(outputs)]
    )
    return nn.Sequential(*modules), x, y


def _torch_reference(torch, model, net):
    """Gradients by torch autograd with torch's own loss modules, keyed by the tutor's parameter names."""
    nn = torch.nn
    x = torch.tensor(net.inputs).unsqueeze(0)
    t = torch.tensor(net.targets).unsqueeze(0)
    cls = torch.tensor([int(np.argmax(net.targets))])
    model.zero_grad()
    if net.loss == "categorical_cross_entropy":
        loss = nn.CrossEntropyLoss()(model[:-1](x), cls)  # the logits, before the Softmax
    elif net.loss == "multiclass_hinge":
        loss = nn.MultiMarginLoss()(model(x), cls) * net.output_layer.size  # torch divides by the classes
    elif net.loss == "half_sse":
        loss = nn.MSELoss(reduction="sum")(model(x), t) / 2
    else:
        loss = {"mse": nn.MSELoss(), "binary_cross_entropy": nn.BCELoss()}[net.loss](model(x), t)
    loss.backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    grads = {}
    for layer, lin in zip(net.layers, linears):
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                grads[w] = float(lin.weight.grad[j, i])
            grads[layer.bias_labels[j]] = float(lin.bias.grad[j])
    return float(loss.detach()), grads


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_every_gradient_equals_torch_autograd(hidden, loss):
    torch = require_module("torch")
    for k in range(MODELS_PER_CASE):
        seed = 1000 * ACTIVATIONS.index(hidden) + 100 * LOSSES.index(loss) + k
        model, x, y = random_model(torch, seed, hidden, loss)
        net = from_torch(model, x, y, loss=loss, learning_rate=0.1)
        walk = explain_step(net)
        torch_loss, grads = _torch_reference(torch, model, net)
        assert walk.value("E_total") == pytest.approx(torch_loss, rel=REL, abs=0)
        assert len(walk.params) == net.parameter_count == len(grads)
        for p in walk.params:
            assert walk.value(p.gradient) == pytest.approx(grads[p.label], rel=REL, abs=0), (seed, p.gradient)
        report = torch_gradient_check(net, model, walk)
        assert report.ok and report.max_rel <= REL and len(report.gradients()) == net.parameter_count


def test_from_torch_reads_activation_parameters_and_float32():
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(3, 4),
        nn.LeakyReLU(0.3),
        nn.Linear(4, 3),
        nn.ELU(0.5),
        nn.Linear(3, 2),
        nn.Identity(),
        nn.Softplus(),
        nn.Linear(2, 2),
    )
    net = from_torch(model, torch.tensor([0.2, -0.4, 0.9]), torch.tensor([[0.5, 0.1]]), loss="mse")
    assert [l.activation for l in net.layers] == ["leaky_relu", "elu", "softplus", "identity"]
    assert net.layers[0].activation_params["slope"] == pytest.approx(0.3)
    assert net.layers[1].activation_params["alpha"] == 0.5
    assert net.layers[0].weights.tolist() == model[0].weight.detach().double().numpy().tolist()  # float32, exactly
    assert net.update_biases and "LeakyReLU(0.3)" in net.description
    report = torch_gradient_check(net, model)
    assert report.ok, report.max_rel


def test_from_torch_linear_without_bias_has_no_bias():
    # no invented zero bias: the layer has none (bias = false), and every parameter there is has torch's gradient
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Tanh(), nn.Linear(2, 1))
    net = from_torch(model, [1.0, -1.0], [0.3])
    assert not net.layers[0].has_bias and net.layers[0].bias_labels == () and net.update_biases
    assert net.parameter_count == 4 + 2 + 1
    report = torch_gradient_check(net, model)
    assert report.ok and not report.notes
    assert len(report.gradients()) == net.parameter_count


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Conv1d(1, 1, 1)),
            "from_torch(): layer 2 (Conv1d) is not supported; supported: Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, "
            "Softplus (beta=1, threshold=20), GELU (approximate='none'), SiLU, Hardtanh, Identity, Softmax (dim=-1, after the last Linear)",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Linear(2, 1)),
            "from_torch(): the Dropout after Linear layer 1 is in training mode, where PyTorch draws its own mask: "
            "call model.eval()",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Softplus(beta=2), nn.Linear(2, 1)),
            "from_torch(): layer 1 (Softplus(beta=2, threshold=20)) is not supported: only the default beta=1",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=0)),
            "from_torch(): layer 1 (Softmax(dim=0)) is not supported",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=-1), nn.Linear(2, 2)),
            "from_torch(): layer 1 (Softmax) is supported after the last Linear layer only",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Tanh()),
            "from_torch(): layer 2 (Tanh) follows another activation (layer 1, Sigmoid)",
        ),
        (
            lambda nn: nn.Sequential(nn.ReLU(), nn.Linear(2, 2)),
            "from_torch(): layer 0 (ReLU) comes before the first Linear layer",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Linear(2, 1)),
            "from_torch(): layer 1 (Linear(2, 1)) takes 2 inputs, but layer 0 gives 3",
        ),
        (
            lambda nn: nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="tanh"))),
            "from_torch(): layer 0.1 (GELU(approximate='tanh')) is not supported: only the exact form",
        ),
        (
            lambda nn: nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Mish())),
            "from_torch(): layer 0.1 (Mish) is not supported; supported:",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)),
            # in training mode it normalizes over a batch (a batch_norm layer): one example is not a batch
            "from_torch(): x: a BatchNorm1d in training mode normalizes over a batch",
        ),
        (
            lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Dropout(0.5)),
            "from_torch(): layer 2 (Dropout) follows the output layer",
        ),
        (lambda nn: nn.Sequential(), "from_torch(): the model has no Linear layer"),
        (lambda nn: nn.ReLU(), "from_torch(): expected an nn.Sequential of Linear layers and activations, got ReLU"),
    ],
)
def test_unsupported_torch_layers_are_named(build, message):
    torch = require_module("torch")
    assert_error_starts(lambda: from_torch(build(torch.nn), [1.0, 2.0], [0.0, 1.0]), message)


def test_torch_check_refuses_a_different_model():
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
    net = from_torch(model, [0.05, 0.1], [0.01, 0.99])
    other = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
    with pytest.raises(
        TutorError, match=r"^torch_gradient_check\(\): the weights of layer 0 \(Linear\(2, 2\)\) differ"
    ):
        torch_gradient_check(net, other)
    with pytest.raises(TutorError, match=r"followed by 'tanh'"):
        torch_gradient_check(net, nn.Sequential(model[0], nn.Tanh(), model[2], nn.Sigmoid()))
    with pytest.raises(TutorError, match=r"the model has 1 Linear layers, the network 2"):
        torch_gradient_check(net, nn.Sequential(model[0], nn.Sigmoid()))


def test_mazur_as_a_float64_torch_model_checks_against_the_spec():
    torch = require_module("torch")
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(2, 2, dtype=torch.float64), nn.Sigmoid(), nn.Linear(2, 2, dtype=torch.float64), nn.Sigmoid()
    )
    with torch.no_grad():
        for lin, W, b in zip((model[0], model[2]), MAZUR_W, (0.35, 0.60)):
            lin.weight.copy_(torch.tensor(W, dtype=torch.float64))
            lin.bias.fill_(b)
    # The spec's shared biases: the check sums torch's per-neuron bias gradients.
    report = torch_gradient_check(load("mazur"), model)
    assert report.ok and {r.key for r in report.gradients()} >= {"dE_total/dw5", "dE_total/db1"}
    e = tutor.explain(model, x=[0.05, 0.10], y=[0.01, 0.99], loss="half_sse", learning_rate=0.5)
    assert round(e.values["w2_11+"], 8) == 0.35891648 and e.framework_check.ok


# -- issue 17: nested Sequential, Dropout, BatchNorm1d in eval mode, logits with CrossEntropyLoss ------------


def test_from_torch_opens_nested_sequentials_and_reads_logits_as_softmax_cross_entropy():
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(3)
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), nn.Dropout(0.5), nn.Linear(3, 3)).eval()
    net = from_torch(model, [0.5, -1.0], [0.0, 1.0, 0.0], loss="categorical_cross_entropy")
    assert [layer.activation for layer in net.layers] == ["relu", "softmax"]
    assert "read as softmax with cross-entropy" in net.description
    report = torch_gradient_check(net, model)
    assert report.ok and len(report.gradients()) == net.parameter_count
    # the loss is torch's CrossEntropyLoss on the logits
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    ce = nn.CrossEntropyLoss()(model.double()(x), torch.tensor([1]))
    from tutor.engine.symbolic import explain_step

    walk = explain_step(net)
    assert walk.value(walk.loss) == pytest.approx(float(ce.detach()), rel=1e-12)


def test_from_torch_dropout_in_training_mode_takes_the_given_mask():
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Dropout(0.5), nn.Linear(3, 1))
    net = from_torch(model, [0.5, -1.0], [0.2], dropout_mask=[[1, 0, 1]])
    assert net.training.dropout_mask == ((1.0, 0.0, 1.0),) and net.training.dropout_rate == 0.5
    report = torch_gradient_check(net, model)
    assert report.ok and report.max_rel < 1e-12
    model.eval()
    with pytest.raises(TutorError, match="dropout_mask is for Dropout modules in training mode"):
        from_torch(model, [0.5, -1.0], [0.2], dropout_mask=[[1, 0, 1]])


def test_from_torch_folds_batchnorm_in_eval_mode():
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Sigmoid(), nn.Linear(3, 1)).double()
    model(torch.randn(8, 2, dtype=torch.float64))  # running statistics from one batch
    model.eval()
    net = from_torch(model, [0.5, -1.0], [0.3])
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    from tutor.engine.symbolic import explain_step

    walk = explain_step(net)
    out = walk.value(walk.forward[-1][0].out)
    assert out == pytest.approx(float(model(x)[0, 0].detach()), rel=1e-12)
    report = torch_gradient_check(net, model)
    assert report.ok  # the forward pass and the unfolded layers' gradients
    assert any("BatchNorm1d folded in" in n for n in report.notes)
