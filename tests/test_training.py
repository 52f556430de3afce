"""Training beyond one step: optimizers and batch modes against torch.optim, regularization, dropout, decay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tutor.engine import training
from tutor.engine.gradcheck import central_differences
from tutor.spec import load, network

from .conftest import IN_CI, at_printed


def require_torch():
    try:
        import torch
    except ImportError:
        if IN_CI:
            pytest.fail("torch is not installed (CI installs torch==2.13.0: see .ci/run)")
        pytest.skip("torch is not installed")
    return torch


ACTS = ["sigmoid", "tanh", "softplus", "identity"]


def random_net(seed: int, optimizer: dict, batch, n_examples: int = 4, decay: float = 0.0, reg: dict | None = None):
    rng = np.random.default_rng(seed)
    sizes = [
        int(rng.integers(1, 4)),
        *[int(rng.integers(1, 5)) for _ in range(int(rng.integers(1, 3)))],
        int(rng.integers(1, 3)),
    ]
    layers = []
    for li in range(len(sizes) - 1):
        layers.append(
            {
                "size": sizes[li + 1],
                "activation": str(rng.choice(ACTS)) if li < len(sizes) - 2 else "sigmoid",
                "weights": rng.uniform(-1, 1, (sizes[li + 1], sizes[li])).round(3).tolist(),
                "biases": rng.uniform(-0.5, 0.5, sizes[li + 1]).round(3).tolist(),
            }
        )
    examples = [
        {
            "inputs": rng.uniform(-1, 1, sizes[0]).round(2).tolist(),
            "targets": rng.uniform(0, 1, sizes[-1]).round(2).tolist(),
        }
        for _ in range(n_examples)
    ]
    tr = {"learning_rate": 0.3, "update_biases": True, "optimizer": optimizer, "batch": batch, "decay": decay}
    if reg:
        tr["regularization"] = reg
    return network(inputs={}, layers=layers, examples=examples, loss={"name": "half_sse"}, training=tr)


def torch_run(torch, net, steps: int, make_opt, decay: float = 0.0, weight_decay: float = 0.0):
    """The same training with torch.optim in float64: per-example 1/2 sum (t - y)^2, averaged over the batch."""
    nn = torch.nn
    mods = []
    acts = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softplus": nn.Softplus, "identity": nn.Identity}
    for layer in net.layers:
        lin = nn.Linear(layer.weights.shape[1], layer.size).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer.weights))
            lin.bias.copy_(torch.tensor(layer.biases))
        mods += [lin, acts[layer.activation]()]
    model = nn.Sequential(*mods)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, nn.Linear)]
    opt = make_opt([{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1.0 + decay * e)) if decay else None
    plan = training.batches(net)
    history = []
    done = 0
    while done < steps:
        for batch in plan:
            if done >= steps:
                break
            opt.zero_grad()
            xs = torch.tensor(np.array([net.examples[k][0] for k in batch]))
            ts = torch.tensor(np.array([net.examples[k][1] for k in batch]))
            loss = (0.5 * ((ts - model(xs)) ** 2).sum(dim=1)).mean()
            loss.backward()
            opt.step()
            done += 1
            history.append([w.detach().numpy().copy() for w in weights] + [b.detach().numpy().copy() for b in biases])
        if sched is not None:
            sched.step()
    return history


def tutor_history(net, steps: int):
    out = []
    run = training.run(net, epochs=0, total_steps=steps, keep=lambda n: True)
    for n in range(1, steps + 1):
        st = run.steps[n]
        out.append([w.copy() for w in st.new_W] + [b.copy() for b in training.full_biases(net, st.new_b)])
    return out


def assert_close(ours, theirs):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            scale = np.maximum(np.abs(x), np.abs(y))
            assert np.all(np.abs(x - y) <= 1e-9 * np.maximum(scale, 1e-12)), (step, x, y)


OPTIMIZERS = {
    "sgd": ({"name": "sgd"}, lambda torch, ps: torch.optim.SGD(ps, lr=0.3)),
    "momentum_classic": (
        {"name": "momentum_classic", "mu": 0.8},
        lambda torch, ps: torch.optim.SGD(ps, lr=0.3, momentum=0.8),
    ),
    "nesterov": (
        {"name": "nesterov", "mu": 0.7},
        lambda torch, ps: torch.optim.SGD(ps, lr=0.3, momentum=0.7, nesterov=True),
    ),
    "adagrad": ({"name": "adagrad"}, lambda torch, ps: torch.optim.Adagrad(ps, lr=0.3)),
    "rmsprop": (
        {"name": "rmsprop", "rho": 0.9, "eps": 1e-8},
        lambda torch, ps: torch.optim.RMSprop(ps, lr=0.3, alpha=0.9, eps=1e-8),
    ),
    "adam": (
        {"name": "adam", "beta1": 0.8, "beta2": 0.99, "eps": 1e-7},
        lambda torch, ps: torch.optim.Adam(ps, lr=0.3, betas=(0.8, 0.99), eps=1e-7),
    ),
    # the velocity written with the learning rate inside (v = mu v - alpha g, w = w + v): the same iterates
    "momentum_velocity": (
        {"name": "momentum_velocity", "mu": 0.8},
        lambda torch, ps: torch.optim.SGD(ps, lr=0.3, momentum=0.8),
    ),
}


def _seed_momentum_opt(torch, ps, beta: float = 0.9):
    """v = beta v + (1 - beta) g from v = 0: torch's SGD with dampening = beta and a zero momentum buffer."""
    opt = torch.optim.SGD(ps, lr=0.3, momentum=beta, dampening=beta)
    for group in opt.param_groups:
        for p in group["params"]:
            opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    return opt


def torch_cases() -> dict[str, tuple]:
    """Every comparison with torch.optim: id -> (network, steps, optimizer maker, decay, torch weight_decay)."""
    cases = {}
    for seed in (1, 2, 3):
        for name, (spec, make) in OPTIMIZERS.items():
            for batch in ("sgd", 2, "full"):
                cases[f"{name}-{batch}-seed{seed}"] = (random_net(seed, spec, batch), 7, make, 0.0, 0.0)
    for seed in (4, 5):  # the seeds' momentum is torch's dampening from a zero buffer
        cases[f"seed-momentum-seed{seed}"] = (
            random_net(seed, {"name": "momentum", "beta": 0.9}, 2),
            6,
            _seed_momentum_opt,
            0.0,
            0.0,
        )
    decayed = random_net(6, {"name": "sgd"}, "sgd", n_examples=3, decay=0.5, reg={"kind": "l2", "lambda": 0.05})
    cases["decay-and-l2"] = (decayed, 9, lambda torch, ps: torch.optim.SGD(ps, lr=0.3), 0.5, 2 * 0.05)
    return cases


TORCH_RECORD = Path(__file__).parent / "data" / "torch_training.json"


def torch_history(torch, case: str) -> list[list[np.ndarray]]:
    net, steps, make, decay, wd = torch_cases()[case]
    return torch_run(torch, net, steps, lambda ps: make(torch, ps), decay=decay, weight_decay=wd)


def recorded_history(case: str) -> list[list[np.ndarray]]:
    """torch.optim's trajectory of ``case`` as recorded by tests/data/record_torch_training.py (torch 2.13, float64)."""
    data = json.loads(TORCH_RECORD.read_text(encoding="utf-8"))
    return [[np.array(a, dtype=float) for a in step] for step in data["cases"][case]]


@pytest.mark.parametrize("case", list(torch_cases()))
def test_optimizers_batches_decay_and_l2_match_torch(case):
    """Against torch.optim's recorded trajectory always, and against live torch where it is installed."""
    net, steps = torch_cases()[case][:2]
    ours = tutor_history(net, steps)
    assert_close(ours, recorded_history(case))
    try:
        import torch
    except ImportError:
        if IN_CI:
            pytest.fail("torch is not installed (CI installs torch==2.13.0: see .ci/run)")
        return  # the recorded trajectory has been compared
    assert_close(ours, torch_history(torch, case))


def test_regularization_gradient_is_the_derivative_of_the_loss():
    for kind in ("l1", "l2"):
        net = random_net(7, {"name": "sgd"}, "full", reg={"kind": kind, "lambda": 0.1, "biases": True})
        st = training.run(net, epochs=1, keep=lambda n: True).steps[1]
        theta = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(st.W, st.b)])

        def loss(th, st=st, net=net):
            W, bp, pos = [], [], 0
            for w, b in zip(st.W, st.b):
                W.append(th[pos : pos + w.size].reshape(w.shape))
                pos += w.size
                bp.append(th[pos : pos + b.size])
                pos += b.size
            return training.dataset_loss(net, W, bp)

        fd = central_differences(loss, theta, 1e-6)
        ours = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(st.total_W, st.total_b)])
        assert np.allclose(ours, fd, rtol=1e-5, atol=1e-8), kind


def test_dropout_masks_the_forward_and_backward_pass():
    net = network(
        inputs={},
        examples=[{"inputs": [0.5, -0.2], "targets": [0.3]}],
        layers=[
            {
                "size": 3,
                "activation": "tanh",
                "weights": [[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]],
                "biases": [0.0, 0.1, 0.2],
            },
            {"size": 1, "activation": "sigmoid", "weights": [[0.7, -0.8, 0.9]], "biases": [0.1]},
        ],
        loss={"name": "half_sse"},
        training={"learning_rate": 0.5, "dropout": {"rate": 0.5, "mask": [[1, 0, 1]], "inverted": True}},
    )
    st = training.run(net, epochs=1, keep=lambda n: True).steps[1]
    ex = st.examples[0]
    kept = ex.forward.kept[0]
    assert kept[1] == 0 and kept[0] == pytest.approx(2 * ex.forward.outs[0][0])  # inverted scaling 1/(1 - 0.5)
    assert st.grad_W[0][1].tolist() == [0.0, 0.0]  # the dropped neuron learns nothing this step
    assert st.grad_W[1][0][1] == 0.0  # nor does the weight it feeds
    # the masked network's gradient equals finite differences of the masked loss
    from tutor.engine import numeric

    masks = ex.forward.masks

    def loss(th):
        W = [th[:6].reshape(3, 2), th[6:9].reshape(1, 3)]
        return numeric.forward(net, W, [l.biases for l in net.layers], masks=masks).loss

    th = np.concatenate([net.layers[0].weights.ravel(), net.layers[1].weights.ravel()])
    fd = central_differences(loss, th)
    assert np.allclose(np.concatenate([st.grad_W[0].ravel(), st.grad_W[1].ravel()]), fd, rtol=1e-6, atol=1e-10)


def test_seeded_dropout_is_reproducible():
    spec = dict(
        inputs={},
        examples=[{"inputs": [0.5, -0.2], "targets": [0.3]}] * 3,
        layers=[
            {"size": 4, "activation": "relu", "weights": [[0.1, 0.2]] * 4, "bias": 0.1},
            {"size": 1, "activation": "sigmoid", "weights": [[0.7, -0.8, 0.9, 0.2]], "bias": 0.0},
        ],
        loss={"name": "half_sse"},
        training={"learning_rate": 0.5, "batch": 1, "dropout": {"rate": 0.5, "seed": 11}},
    )
    a = training.run(network(**spec), epochs=3)
    b = training.run(network(**spec), epochs=3)
    assert a.losses == b.losses
    spec["training"]["dropout"]["seed"] = 12
    assert training.run(network(**spec), epochs=3).losses != a.losses


def test_mazur_ten_thousand_rounds():
    net = load("mazur")
    std = training.run(net, 10_000)
    assert at_printed(std.losses[9_999], "0.0000351085")  # the loss seen during round 10,000
    first = training.run(net.with_conventions(update_order="updated-first"), 10_000)
    outs = first.final[0].outs[-1]
    assert at_printed(outs[0], "0.015912196") and at_printed(outs[1], "0.984065734")
    assert at_printed(first.epoch_loss[1], "0.291027924")


@pytest.mark.parametrize(
    "optimizer", ["sgd", "momentum", "momentum_classic", "momentum_velocity", "nesterov", "adagrad", "rmsprop", "adam"]
)
@pytest.mark.parametrize("conv", [{}, {"rounding": "as-printed", "digits": 6}], ids=["exact", "as-printed-6"])
def test_symbolic_training_step_agrees_with_the_numeric_run(optimizer, conv):
    """Batch mean, regularization, dropout, decay and every optimizer line: both engines, three steps."""
    from tutor.engine.gradcheck import training_engines_agree, training_values
    from tutor.engine.symbolic import explain_training_step

    net = network(
        inputs={},
        examples=[
            {"inputs": [0.05, 0.1], "targets": [0.01, 0.99]},
            {"inputs": [0.3, -0.2], "targets": [0.5, 0.5]},
            {"inputs": [0.9, 0.2], "targets": [0.1, 0.2]},
        ],
        layers=[
            {
                "size": 3,
                "activation": "tanh",
                "weights": [[0.15, 0.2], [0.25, 0.3], [-0.3, 0.1]],
                "biases": [0.35, 0.35, 0.1],
            },
            {"size": 2, "activation": "sigmoid", "weights": [[0.4, 0.45, 0.1], [0.5, 0.55, -0.2]], "bias": 0.6},
        ],
        loss={"name": "half_sse"},
        conventions=conv,
        training={
            "learning_rate": 0.05,
            "optimizer": {"name": optimizer},
            "batch": 2,
            "update_biases": True,
            "decay": 0.1,
            "regularization": {"kind": "l2", "lambda": 0.01},
            "dropout": {"rate": 0.3, "seed": 4},
        },
    )
    run = training.run(net, 3, keep=lambda n: True)
    assert len(run.steps) == 6  # two batches (2 + 1 examples) an epoch
    for st in run.steps.values():
        tw = explain_training_step(net, st)
        assert training_engines_agree(tw, st) == []
        keys = training_values(tw, st)
        assert tw.params[0].lines[-1] in keys and tw.loss in keys  # the comparison reaches the update and the loss


def test_divergence_is_a_clear_error():
    from tutor.spec.errors import TutorError

    net = random_net(8, {"name": "sgd"}, "full")
    with pytest.raises(TutorError, match="diverged"):
        training.run(
            network(
                inputs={},
                examples=[{"inputs": [1e3], "targets": [0.0]}],
                layers=[{"size": 1, "activation": "identity", "weights": [[1.0]], "bias": 0.0}],
                loss={"name": "mse"},
                training={"learning_rate": 10.0},
            ),
            500,
        )
    assert training.run(net, 2).losses  # a sane network trains


def test_train_command_reproduces_the_10000_round_figures(capsys):
    import json

    from tutor.cli import main

    assert main(["train", "mazur", "--epochs", "10000", "--format", "json", "--show", "none"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert at_printed(doc["loss_per_step"][9_999], "0.0000351085")  # standard order: the loss during round 10,000
    assert (
        main(
            [
                "train",
                "mazur",
                "--epochs",
                "10000",
                "--update-order",
                "updated-first",
                "--format",
                "json",
                "--show",
                "none",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    outs = doc["final"]["examples"][0]["outputs"]
    assert at_printed(outs["out_o1"], "0.015912196") and at_printed(outs["out_o2"], "0.984065734")
    assert at_printed(doc["loss_per_epoch"][1], "0.291027924")
    assert main(["train", "mazur", "--epochs", "10000", "--show", "first,last"]) == 0
    text = capsys.readouterr().out
    assert "loss seen during step 10000, before its update: 0.0000351085" in text
    assert "Step 1 (epoch 1" in text and "Step 10000 (epoch 10000" in text


def test_train_show_and_bad_options(capsys):
    from tutor.cli import main

    assert main(["train", "mazur", "--epochs", "6", "--show", "every:2", "--format", "json"]) == 0
    import json

    assert [s["step"] for s in json.loads(capsys.readouterr().out)["shown_steps"]] == [2, 4, 6]
    for bad, frag in [
        (["--show", "sometimes"], "--show"),
        (["--epochs", "0"], "--epochs"),
        (["--show", "99"], "--show"),
    ]:
        assert main(["train", "mazur", "--epochs", "6", *bad]) == 2
        err = capsys.readouterr().err
        assert frag in err and len(err.strip().splitlines()) == 1
