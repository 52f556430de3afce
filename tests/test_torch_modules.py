"""PyTorch as tutorials write it: nn.Module classes traced by torch.fx, loss objects with their reductions,
optimizer objects with their hyper-parameters, batches. Gradients and one step agree with autograd and the
optimizer's own step() to 1e-12 relative: live where torch is installed, against the recording everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tutor
from tutor.engine import training
from tutor.interop import to_mapping
from tutor.spec import from_mapping

from .support import assert_error_starts, live_recording, require_module

DATA = Path(__file__).parent / "data"
RECORDER = DATA / "record_torch_modules.py"
RECORDED = json.loads((DATA / "torch_modules.json").read_text(encoding="utf-8"))
REL = 1e-12


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def _compare(net, case: dict) -> float:
    """The tutor's first step of ``net`` against torch's recorded loss, gradients and updated parameters."""
    record = training.run(net, 0, keep=lambda n: n == 1, total_steps=1).steps[1]
    worst = _rel(record.data_loss, case["loss"])
    for li, ((gW, gb), (nW, nb)) in enumerate(zip(case["grads"], case["new"])):
        pairs = [
            (record.grad_W[li], gW),
            (record.grad_b[li], gb),
            (record.new_W[li], nW),
            (record.new_b[li], nb),
        ]
        for mine, theirs in pairs:
            mine, theirs = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
            assert mine.shape == theirs.shape
            worst = max([worst, *(_rel(a, b) for a, b in zip(mine.ravel(), theirs.ravel()))])
    return worst


def test_the_recording_covers_what_the_issue_names():
    names = set(RECORDED["cases"])
    for part in (
        "mlp_relu",
        "residual",
        "cross_entropy_mean",
        "cross_entropy_sum",
        "nll_log_softmax_mean",
        "nll_log_softmax_sum",
        "mse_mean",
        "mse_sum",
        "bce_with_logits_mean",
        "bce_with_logits_sum",
        "sgd_momentum",
        "sgd_nesterov_weight_decay",
        "_adam",
        "adamw",
        "rmsprop",
        "batch",
    ):
        assert any(part in n for n in names), part
    specs = [c["spec"] for c in RECORDED["cases"].values()]
    assert any(layer.get("skip") == 0 for s in specs for layer in s["layers"])  # the residual connection
    assert {s["training"].get("optimizer", {}).get("name") for s in specs} >= {
        "momentum_classic",
        "nesterov",
        "adam",
        "adamw",
        "rmsprop",
    }


@pytest.mark.parametrize("name", sorted(RECORDED["cases"]))
def test_the_tutor_takes_the_recorded_torch_step(name):
    """Torch-free: the spec the tutor read from the module, loss and optimizer gives torch's numbers."""
    case = RECORDED["cases"][name]
    net = from_mapping(case["spec"])
    assert _compare(net, case) <= REL


# The default run explains a sample live (an explanation of a batch takes about half a second); CI's slow run
# explains every case.
LIVE_SAMPLE = {
    "mlp_relu_cross_entropy_one_example",
    "residual_sgd_nesterov_weight_decay",
    "mlp_adamw",
    "residual_bce_with_logits_sum_batch",
}


@pytest.fixture(scope="module")
def live():
    """(the recorder's cases built now, what compute() records now); skipped without torch, failed in CI."""
    torch = require_module("torch")
    return _recorder().cases(torch), live_recording(RECORDER)


@pytest.mark.parametrize(
    "name", [n if n in LIVE_SAMPLE else pytest.param(n, marks=pytest.mark.slow) for n in sorted(RECORDED["cases"])]
)
def test_live_modules_agree_with_autograd_and_step(live, name):
    """With torch: the tutor reads the same spec from the live objects, and its framework check (the user's
    traced forward, loss object, autograd and optimizer step() in float64) agrees to 1e-12."""
    cases, recorded_now = live
    model, x, y, loss, opt, lr = cases[name]
    case = recorded_now["cases"][name]
    assert case["spec"] == RECORDED["cases"][name]["spec"]
    for key in ("loss", "grads", "new"):
        now, then = _flat(case[key]), _flat(RECORDED["cases"][name][key])
        assert len(now) == len(then) and max(map(_rel, now, then)) <= REL, key
    given = {"optimizer": opt(model.parameters())} if opt else {"learning_rate": lr}
    e = tutor.explain(model, x, y, loss=loss, **given)
    fc = e.framework_check
    assert fc is not None and fc.ok and fc.max_rel <= REL, fc.max_rel
    assert {r.kind for r in fc.rows} == {"net", "out", "loss", "gradient", "update"}
    assert len([r for r in fc.rows if r.kind == "gradient"]) == e.network.parameter_count
    assert len([r for r in fc.rows if r.kind == "update"]) == e.network.parameter_count
    assert to_mapping(e.network) == case["spec"]


def _flat(v) -> list[float]:
    return [float(v)] if not isinstance(v, list) else [x for item in v for x in _flat(item)]


def _recorder():
    from .support import recording

    return recording(RECORDER)


# -- what is refused, in one line that names the place ------------------------------------------------------------


def _classes(torch):
    nn, F = torch.nn, torch.nn.functional

    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(2, 3)
            self.fc2 = nn.Linear(3, 2)
            self.fc3 = nn.Linear(5, 2)
            self.drop = nn.Dropout(0.5)

    class Branches(Base):
        def forward(self, x):
            h = F.relu(self.fc1(x))
            if h.sum() > 0:  # control flow on a tensor's value
                h = h * 2
            return self.fc2(h)

    class Reshapes(Base):
        def forward(self, x):
            h = F.relu(self.fc1(x))
            return self.fc2(h.view(-1, 3))

    class Concatenates(Base):
        def forward(self, x):
            h = torch.tanh(self.fc1(x))
            return self.fc3(torch.cat([h, x], dim=-1))

    class Drops(Base):
        def forward(self, x):
            return self.fc2(self.drop(torch.sigmoid(self.fc1(x))))

    class LogProbs(Base):
        def forward(self, x):
            return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)

    class Probs(Base):
        def forward(self, x):
            return torch.softmax(self.fc2(x.relu() if False else F.relu(self.fc1(x))), dim=1)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.Linear(2, 2)

        def forward(self, x):
            return self.shared(torch.tanh(self.shared(x)))

    return Branches, Reshapes, Concatenates, Drops, LogProbs, Probs, Twice


def _line_of(cls, text: str) -> int:
    import inspect

    lines, start = inspect.getsourcelines(cls.forward)
    return start + next(k for k, line in enumerate(lines) if text in line)


def test_what_torch_fx_cannot_read_is_named_with_its_line():
    torch = require_module("torch")
    Branches, Reshapes, *_, Twice = _classes(torch)
    n = _line_of(Branches, "if h.sum()")
    assert_error_starts(
        lambda: tutor.explain(Branches(), x=[1.0, 2.0], y=[0.5, 0.5]),
        f"explain(): torch.fx cannot trace line {n} of Branches.forward: if h.sum() > 0:",
    )
    n = _line_of(Twice, "self.shared(torch.tanh")
    assert_error_starts(
        lambda: tutor.explain(Twice(), x=[1.0, 2.0], y=[0.5, 0.5]),
        f"explain(): line {n} of Twice.forward: return self.shared(torch.tanh(self.shared(x))): shared is called twice",
    )
    n = _line_of(Reshapes, "h.view")
    assert_error_starts(
        lambda: tutor.explain(Reshapes(), x=[1.0, 2.0], y=[0.5, 0.5]),
        f"explain(): line {n} of Reshapes.forward: return self.fc2(h.view(-1, 3)): the operation view is not read",
    )


def test_loss_and_optimizer_objects_that_do_not_fit_are_refused():
    torch = require_module("torch")
    nn, optim = torch.nn, torch.optim
    *_, Drops, LogProbs, Probs, _ = _classes(torch)
    x, c = [[1.0, 2.0], [0.5, -1.0]], [0, 1]
    model = LogProbs()
    cases = [
        (
            lambda: tutor.explain(model, x, c, loss=nn.CrossEntropyLoss()),
            "explain(): loss: the model ends with LogSoftmax, which goes with nn.NLLLoss(), not CrossEntropyLoss",
        ),
        (
            lambda: tutor.explain(Probs(), x, c, loss=nn.CrossEntropyLoss()),
            "explain(): loss: CrossEntropyLoss takes logits (it applies softmax itself)",
        ),
        (
            lambda: tutor.explain(Probs(), x, [[0.2, 0.8]] * 2, loss=nn.MSELoss(reduction="sum")),
            "explain(): loss: MSELoss(reduction='sum') over 2 outputs adds them up",
        ),
        (
            lambda: tutor.explain(model, x, c, loss=nn.NLLLoss(reduction="none")),
            "explain(): loss: NLLLoss(reduction='none'): the tutor reads reduction='mean' or 'sum'",
        ),
        (
            lambda: tutor.explain(model, x, c, loss=nn.NLLLoss(weight=torch.ones(2))),
            "explain(): loss: NLLLoss with weight",
        ),
        (
            lambda: tutor.explain(model, x, c, loss=nn.NLLLoss(), optimizer=optim.Adagrad(model.parameters())),
            "explain(): optimizer: optimizer Adagrad is not read by the tutor; supported: SGD",
        ),
        (
            lambda: tutor.explain(
                model, x, c, loss=nn.NLLLoss(), optimizer=optim.Adam(model.parameters(), amsgrad=True)
            ),
            "explain(): optimizer: Adam(amsgrad=True) is not read",
        ),
        (
            lambda: tutor.explain(model, x, c, loss=nn.NLLLoss(), optimizer=optim.SGD(Drops().parameters(), lr=0.1)),
            "explain(): optimizer: SGD does not hold exactly the model's parameters",
        ),
        (
            lambda: tutor.explain(
                model, x, c, loss=nn.NLLLoss(), optimizer=optim.SGD(model.parameters(), lr=0.1), learning_rate=0.2
            ),
            "explain(): learning_rate=0.2 differs from the optimizer's lr=0.1",
        ),
        (
            lambda: tutor.explain(Drops(), x, [[0.2, 0.8]] * 2, loss=nn.MSELoss()),
            "explain(): drop (Dropout) is in training mode",
        ),
    ]
    for call, message in cases:
        assert_error_starts(call, message)
    stepped = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.tensor(x)).sum().backward()
    stepped.step()
    assert_error_starts(
        lambda: tutor.explain(model, x, c, loss=nn.NLLLoss(), optimizer=stepped),
        "explain(): optimizer: SGD has taken steps already",
    )


def test_a_forward_that_is_not_layered_is_a_computational_graph_checked_against_autograd():
    torch = require_module("torch")
    nn = torch.nn
    _, _, Concatenates, *_ = _classes(torch)
    torch.manual_seed(3)
    model = Concatenates()
    for loss, y in ((nn.CrossEntropyLoss(), 1), (nn.MSELoss(), [0.25, -0.5]), (nn.BCEWithLogitsLoss(), [0.0, 1.0])):
        g = tutor.explain(model, x=[0.5, -1.0], y=y, loss=loss)
        assert isinstance(g, tutor.notebook.GraphExplanation) and g.ok
        fc = g.framework_check
        # every weight and bias of fc1 and fc3, both inputs, and the loss
        assert len(fc.gradients()) == 3 * 2 + 3 + 2 * 5 + 2 + 2 and fc.max_rel <= REL
        assert "torch.cat joins two tensors" in g.graph.description
    assert_error_starts(
        lambda: tutor.explain(
            model, x=[0.5, -1.0], y=1, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1)
        ),
        "explain(): Concatenates is not a layered network (line",
    )


def test_a_sequential_takes_loss_objects_batches_and_one_linear():
    """An nn.Sequential on a batch without batch normalization is traced as a module class is; with a BatchNorm1d
    in training mode it keeps the Sequential reading, which takes a loss object with the mean reduction."""
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(5)
    x, t = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)
    one = tutor.explain(nn.Linear(2, 1, dtype=torch.float64), x, t, loss=nn.MSELoss(reduction="sum"))
    assert one.network.shape == (2, 1) and one.network.training.reduction == "sum"
    assert one.framework_check.ok and one.framework_check.max_rel <= REL
    bn = nn.Sequential(nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2), nn.Tanh(), nn.Linear(2, 3)).double()
    e = tutor.explain(bn, x, torch.tensor([2, 0, 1]), loss=nn.CrossEntropyLoss())
    assert e.network.layers[0].batch_norm and e.framework_check.ok
    assert_error_starts(
        lambda: tutor.explain(bn, x, torch.tensor([2, 0, 1]), loss=nn.CrossEntropyLoss(reduction="sum")),
        "explain(): loss: with a BatchNorm1d in training mode the loss is one of MSELoss",
    )
