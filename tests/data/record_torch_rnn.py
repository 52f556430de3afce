"""Records PyTorch's nn.RNN (one layer, unbatched, float64) followed by a Linear layer into
tests/data/torch_rnn.json (needs torch): the loss, the gradients of weight_ih_l0, weight_hh_l0, bias_ih_l0,
bias_hh_l0, the Linear's weight and bias and the input sequence, and the parameters after one SGD step.

Run: python tests/data/record_torch_rnn.py. tests/test_rnn.py compares the tutor with the file always, and with
``compute()`` when torch is importable; torch is imported inside compute() only.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("torch_rnn.json")

CASES = {
    # three steps of two features, three tanh units, many-to-one, a softmax over two classes
    "many_to_one_tanh": {
        "inputs": {"values": [0.5, -0.2, 0.1, 0.4, -0.3, 0.8]},
        "layers": [
            {
                "kind": "rnn",
                "input_size": 2,
                "hidden_size": 3,
                "weight_ih": [[0.2, -0.4], [0.5, 0.1], [-0.3, 0.6]],
                "weight_hh": [[0.1, -0.2, 0.3], [0.4, 0.05, -0.1], [-0.25, 0.2, 0.15]],
                "bias_ih": [0.01, -0.02, 0.03],
                "bias_hh": [0.05, 0.0, -0.04],
                "outputs": "last",
            },
            {
                "neurons": ["o1", "o2"],
                "activation": "softmax",
                "weights": [[0.3, -0.6, 0.2], [-0.1, 0.4, 0.5]],
                "biases": [0.0, 0.1],
            },
        ],
        "loss": {"name": "categorical_cross_entropy", "targets": [0.0, 1.0]},
        "training": {"learning_rate": 0.1, "update_biases": True},
    },
    # four steps of one feature, two ReLU units from a given h0, many-to-many, one sigmoid output
    "many_to_many_relu": {
        "inputs": {"values": [1.0, -0.5, 0.75, 0.2]},
        "layers": [
            {
                "kind": "rnn",
                "input_size": 1,
                "hidden_size": 2,
                "nonlinearity": "relu",
                "weight_ih": [[0.6], [0.9]],
                "weight_hh": [[0.3, -0.2], [0.25, 0.4]],
                "bias_ih": [0.1, 0.2],
                "bias_hh": [0.05, -0.05],
                "h0": [0.1, 0.3],
                "outputs": "all",
            },
            {
                "neurons": ["o1"],
                "activation": "sigmoid",
                "weights": [[0.2, -0.3, 0.4, 0.1, -0.2, 0.3, 0.5, -0.1]],
                "biases": [0.05],
            },
        ],
        "loss": {"name": "half_sse", "targets": [0.7]},
        "training": {"learning_rate": 0.5, "update_biases": True},
    },
}


def compute() -> dict:
    import torch

    out = {"torch": torch.__version__, "cases": {}}
    for name, case in CASES.items():
        r, d = case["layers"]
        n, H = r["input_size"], r["hidden_size"]
        rnn = torch.nn.RNN(n, H, nonlinearity=r.get("nonlinearity", "tanh")).double()
        W = torch.tensor(d["weights"], dtype=torch.float64)
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.tensor(r["weight_ih"], dtype=torch.float64))
            rnn.weight_hh_l0.copy_(torch.tensor(r["weight_hh"], dtype=torch.float64))
            rnn.bias_ih_l0.copy_(torch.tensor(r["bias_ih"], dtype=torch.float64))
            rnn.bias_hh_l0.copy_(torch.tensor(r["bias_hh"], dtype=torch.float64))
            lin.weight.copy_(W)
            lin.bias.copy_(torch.tensor(d["biases"], dtype=torch.float64))
        x = torch.tensor(case["inputs"]["values"], dtype=torch.float64).reshape(-1, n).requires_grad_(True)
        h0 = torch.tensor([r.get("h0", [0.0] * H)], dtype=torch.float64)
        seq, last = rnn(x, h0)
        feats = seq.reshape(-1) if r["outputs"] == "all" else last.reshape(-1)
        z = lin(feats)
        t = torch.tensor(case["loss"]["targets"], dtype=torch.float64)
        if case["loss"]["name"] == "categorical_cross_entropy":
            loss = -(t * torch.log_softmax(z, dim=-1)).sum()
        else:
            loss = 0.5 * ((t - torch.sigmoid(z)) ** 2).sum()
        loss.backward()
        lr = case["training"]["learning_rate"]
        params = {
            "weight_ih": rnn.weight_ih_l0,
            "weight_hh": rnn.weight_hh_l0,
            "bias_ih": rnn.bias_ih_l0,
            "bias_hh": rnn.bias_hh_l0,
            "linear_weight": lin.weight,
            "linear_bias": lin.bias,
        }
        out["cases"][name] = {
            "loss": float(loss.detach()),
            "input_grad": x.grad.reshape(-1).tolist(),
            "grads": {k: p.grad.tolist() for k, p in params.items()},
            "after": {k: (p - lr * p.grad).tolist() for k, p in params.items()},
        }
    return out


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
