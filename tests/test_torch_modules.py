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

from .support import live_recording, require_module

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
