"""Records PyTorch module classes, loss objects and optimizer objects into tests/data/torch_modules.json.

Run: python tests/data/record_torch_modules.py (needs torch). tests/test_torch_modules.py compares the tutor with
the file on every machine, and with ``compute()`` itself where torch is importable. Each case is a model as a
tutorial writes it (a class with ``forward``), built in float64 from a fixed seed, a loss object and, for most, an
optimizer object, on one example or a batch. The file holds the spec the tutor reads from them (its own
translation: loss, reduction, optimizer, weight decay, skips) and what torch computes: the loss, every gradient
by autograd and every parameter after one ``step()``. torch is imported inside the functions only, so that
pytest's module import never needs it.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("torch_modules.json")


def models(torch):
    """The two tutorial-style module classes: an MLP with F.relu in forward, and one with a skip (+)."""
    nn, F = torch.nn, torch.nn.functional

    class MLP(nn.Module):
        def __init__(self, sizes=(3, 4, 3), last=None):
            super().__init__()
            self.fc1 = nn.Linear(sizes[0], sizes[1], dtype=torch.float64)
            self.fc2 = nn.Linear(sizes[1], sizes[2], dtype=torch.float64)
            self.last = last

        def forward(self, x):
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return self.last(x) if self.last is not None else x

    class Residual(nn.Module):
        def __init__(self, inputs=2, width=3, outputs=1):
            super().__init__()
            self.inp = nn.Linear(inputs, width, dtype=torch.float64)
            self.hidden = nn.Linear(width, width, dtype=torch.float64)
            self.out = nn.Linear(width, outputs, dtype=torch.float64)

        def forward(self, x):
            h = torch.tanh(self.inp(x))
            h = F.gelu(self.hidden(h)) + h  # a residual connection around the hidden layer
            return self.out(h)

    return MLP, Residual


def cases(torch):
    """name -> (model, x, y, loss object, optimizer factory or None, learning rate without an optimizer)."""
    nn, optim = torch.nn, torch.optim
    MLP, Residual = models(torch)

    def data(seed, n, d, k, classes=False, probs=False):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        if classes:
            return x, torch.randint(0, k, (n,), generator=g)
        y = torch.rand(n, k, generator=g, dtype=torch.float64)
        return x, (y if probs else 2 * y - 1)

    out = {}

    def add(name, make, x, y, loss, opt=None, lr=0.1, seed=0):
        torch.manual_seed(seed)
        model = make()
        out[name] = (model, x, y, loss, opt, lr)

    x1, c1 = data(1, 1, 3, 3, classes=True)
    add("mlp_relu_cross_entropy_one_example", MLP, x1[0], int(c1[0]), nn.CrossEntropyLoss(), seed=1)
    x, c = data(2, 4, 3, 3, classes=True)
    for red in ("mean", "sum"):
        add(f"mlp_cross_entropy_{red}_batch", MLP, x, c, nn.CrossEntropyLoss(reduction=red), seed=2)
        add(
            f"mlp_nll_log_softmax_{red}_batch",
            lambda: MLP(last=nn.LogSoftmax(dim=1)),
            x,
            c,
            nn.NLLLoss(reduction=red),
            seed=3,
        )
    xr, yr = data(4, 5, 2, 1)
    for red in ("mean", "sum"):
        add(f"residual_mse_{red}_batch", Residual, xr, yr, nn.MSELoss(reduction=red), seed=4)
    xb, yb = data(5, 4, 2, 1, probs=True)
    for red in ("mean", "sum"):
        add(f"residual_bce_with_logits_{red}_batch", Residual, xb, yb, nn.BCEWithLogitsLoss(reduction=red), seed=5)
    xm, ym = data(6, 3, 3, 2)
    add("mlp_mse_mean_two_outputs", lambda: MLP((3, 4, 2)), xm, ym, nn.MSELoss(), seed=6)
    optimizers = {
        "sgd_momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
        "sgd_nesterov_weight_decay": lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
        "adam": lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.02),
        "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
        "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01),
    }
    for k, (name, opt) in enumerate(optimizers.items()):
        add(f"mlp_{name}", MLP, x, c, nn.CrossEntropyLoss(), opt, seed=10 + k)
        add(f"residual_{name}", Residual, xr, yr, nn.MSELoss(), opt, seed=20 + k)
    return out


def one(torch, model, x, y, loss, opt, lr) -> dict:
    """The tutor's spec of the case and torch's own loss, gradients and parameters after one step."""
    import copy

    from tutor.interop import to_mapping
    from tutor.interop.torchmodule import from_module

    optimizer = opt(model.parameters()) if opt else None
    net, _ = from_module(model, x, y, loss=loss, optimizer=optimizer, learning_rate=None if opt else lr)
    m = copy.deepcopy(model)
    step = opt(m.parameters()) if opt else torch.optim.SGD(m.parameters(), lr=lr)
    X = x if x.ndim == 2 else x.unsqueeze(0)
    Y = y if torch.is_tensor(y) else torch.tensor([y])
    if Y.ndim == 1 and Y.dtype == torch.float64:
        Y = Y.unsqueeze(0)
    value = loss(m(X), Y)
    value.backward()
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    grads = [[lin.weight.grad.tolist(), lin.bias.grad.tolist()] for lin in linears]
    step.step()
    new = [[lin.weight.detach().tolist(), lin.bias.detach().tolist()] for lin in linears]
    return {"spec": to_mapping(net), "loss": float(value.detach()), "grads": grads, "new": new}


def compute() -> dict:
    import torch

    return {
        "torch": torch.__version__,
        "cases": {name: one(torch, *case) for name, case in cases(torch).items()},
    }


def main() -> int:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's tutor, not an installed one
    doc = compute()
    OUT.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(doc['cases'])} cases with torch {doc['torch']} into {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
