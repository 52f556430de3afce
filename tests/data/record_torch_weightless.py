"""Records PyTorch's results for layers with fewer parameters than a full Linear layer into
tests/data/torch_weightless.json (needs torch): softmax with cross-entropy over given scores (logits), and a
model with ``Linear(bias=False)``.

Run: python tests/data/record_torch_weightless.py. tests/test_weightless.py compares the tutor with the file
always, and with ``compute()`` itself when torch is importable.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("torch_weightless.json")

SCORES = [2.0, 1.0, 0.1]
TARGET = 0  # the true class
# Linear(2, 2, bias=False), Tanh, Linear(2, 1) (with its bias), half the squared error; float64
NOBIAS = {
    "W1": [[0.3, -0.7], [0.5, 0.2]],
    "W2": [[0.9, -0.4]],
    "b2": [0.1],
    "x": [1.0, -1.0],
    "y": [0.3],
}


def compute() -> dict:
    import torch

    s = torch.tensor(SCORES, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(s, dim=-1)
    loss = torch.nn.functional.cross_entropy(s.unsqueeze(0), torch.tensor([TARGET]))
    loss.backward()
    scores = {"p": p.detach().tolist(), "loss": float(loss.detach()), "grad": s.grad.tolist()}

    nn = torch.nn
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Tanh(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(NOBIAS["W1"], dtype=torch.float64))
        model[2].weight.copy_(torch.tensor(NOBIAS["W2"], dtype=torch.float64))
        model[2].bias.copy_(torch.tensor(NOBIAS["b2"], dtype=torch.float64))
    x = torch.tensor([NOBIAS["x"]], dtype=torch.float64)
    t = torch.tensor([NOBIAS["y"]], dtype=torch.float64)
    out = model(x)
    e = 0.5 * ((t - out) ** 2).sum()
    e.backward()
    nobias = {
        "loss": float(e.detach()),
        "grad_W1": model[0].weight.grad.tolist(),
        "grad_W2": model[2].weight.grad.tolist(),
        "grad_b2": model[2].bias.grad.tolist(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return {"torch": torch.__version__, "scores": scores, "nobias": nobias}


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
