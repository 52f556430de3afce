"""Records torch.nn.BatchNorm1d in training mode into tests/data/torch_batchnorm.json (needs torch).

Run: python tests/data/record_torch_batchnorm.py. tests/test_batchnorm.py compares the tutor with the file
always, and with ``compute()`` itself when torch is importable. Each network is built from a tutor spec in
float64 with one torch parameter per spec parameter (a shared bias is one scalar), trained as the spec says
(SGD or Adam, the batches in the spec's order, the batch loss the mean of the examples' losses), and every
step records the gradients of the weights, biases, gamma and beta, the inputs' gradients (x.grad), the loss,
and the parameters and running statistics after the update.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("torch_batchnorm.json")
CASES = {"batchnorm-sigmoid": 2, str(Path(__file__).with_name("batchnorm_adam.toml")): 4}


def _act(torch, name, z):
    return {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda v: v}[name](z)


def case(torch, spec: str, steps: int) -> dict:
    from tutor.engine.training import batches
    from tutor.spec import load

    net = load(spec)
    tensors = {}  # label -> parameter
    layers = []
    for layer in net.layers:
        W = torch.tensor(layer.weights, requires_grad=True)
        b = torch.tensor(layer.biases[:1] if layer.shared_bias else layer.biases, requires_grad=True)
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                tensors[w] = (W, (j, i))
        for j, lab in enumerate(layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels):
            tensors[lab] = (b, (j,))
        bn = None
        if layer.batch_norm:
            bn = torch.nn.BatchNorm1d(layer.size, eps=layer.epsilon, momentum=layer.momentum).double()
            with torch.no_grad():
                bn.weight.copy_(torch.tensor(layer.gamma))
                bn.bias.copy_(torch.tensor(layer.beta))
                bn.running_mean.copy_(torch.tensor(layer.running_mean))
                bn.running_var.copy_(torch.tensor(layer.running_var))
            bn.train()
            for j, n in enumerate(layer.neurons):
                tensors[f"gamma_{n}"] = (bn.weight, (j,))
                tensors[f"beta_{n}"] = (bn.bias, (j,))
        layers.append((layer, W, b, bn))
    params = [W for _, W, _, _ in layers]
    params += [b for _, _, b, _ in layers] if net.update_biases else []
    params += [p for *_, bn in layers if bn is not None for p in (bn.weight, bn.bias)]
    tr = net.training
    lr = net.learning_rate
    if tr.optimizer == "adam":
        p = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, **tr.optimizer_params}
        opt = torch.optim.Adam(params, lr=lr, betas=(p["beta1"], p["beta2"]), eps=p["eps"])
    else:
        opt = torch.optim.SGD(params, lr=lr)
    plan = batches(net)
    out = []
    for k in range(steps):
        batch = plan[k % len(plan)]
        X = torch.tensor(np.array([net.examples[e][0] for e in batch]), requires_grad=True)
        T = torch.tensor(np.array([net.examples[e][1] for e in batch]))
        a = X
        for layer, W, b, bn in layers:
            z = a @ W.T + b
            a = _act(torch, layer.activation, bn(z) if bn is not None else z)
        loss = (0.5 * ((T - a) ** 2).sum(dim=1)).mean()
        opt.zero_grad()
        for t in [W for _, W, _, _ in layers] + [b for _, _, b, _ in layers]:
            t.grad = None
        loss.backward()
        grad = {lab: float(t.grad[pos]) for lab, (t, pos) in tensors.items()}
        x_grad = X.grad.detach().numpy().tolist()
        opt.step()
        after = {lab: float(t.detach()[pos]) for lab, (t, pos) in tensors.items()}
        running = {
            f"{what}_{n}": float(getattr(bn, what)[j])
            for layer, _, _, bn in layers
            if bn is not None
            for what in ("running_mean", "running_var")
            for j, n in enumerate(layer.neurons)
        }
        out.append(
            {
                "batch": batch,
                "loss": float(loss.detach()),
                "grad": grad,
                "x_grad": x_grad,
                "after": after,
                "running": running,
            }
        )
    return {"steps": out}


def compute() -> dict:
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return {"torch": torch.__version__, **{Path(s).stem: case(torch, s, n) for s, n in CASES.items()}}
    finally:  # the tests call this with live torch: the other tests' models stay float32
        torch.set_default_dtype(before)


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
