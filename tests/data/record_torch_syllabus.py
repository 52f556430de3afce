"""Records PyTorch's results for the rest of the syllabus into tests/data/torch_syllabus.json (needs torch).

Run: python tests/data/record_torch_syllabus.py. tests/test_syllabus.py compares the tutor with the file always,
and with ``compute()`` itself when torch is importable. Every network is built from the worked example's spec in
float64, one parameter per spec parameter (a shared bias is one scalar), so the labels match the tutor's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("torch_syllabus.json")


def _model(torch, net):
    params = []  # (layer, weights, bias parameters)
    for layer in net.layers:
        W = torch.tensor(layer.weights, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(layer.biases[:1] if layer.shared_bias else layer.biases, dtype=torch.float64)
        b.requires_grad_(True)
        params.append((layer, W, b))
    return params


def _forward(torch, net, params, x):
    a = torch.tensor(np.asarray(x), dtype=torch.float64)
    outs = []
    for layer, W, b in params:
        z = W @ a + b
        if layer.activation == "sigmoid":
            a = torch.sigmoid(z)
        elif layer.activation == "relu":
            a = torch.relu(z)
        else:
            raise ValueError(layer.activation)
        if layer.skip is not None:  # a residual connection: out = f(net) + the earlier layer's output
            a = a + outs[layer.skip]
        outs.append(a)
    return a


def _half_sse(torch, out, t):
    return 0.5 * ((torch.tensor(np.asarray(t), dtype=torch.float64) - out) ** 2).sum()


def _labelled(net, params, what):
    out = {}
    for layer, W, b in params:
        Wv, bv = what(W), what(b)
        for j, row in enumerate(layer.weight_labels):
            for i, w in enumerate(row):
                out[w] = float(Wv[j, i])
        labels = layer.bias_labels[:1] if layer.shared_bias else layer.bias_labels
        out.update({lab: float(v) for lab, v in zip(labels, bv)})
    return out


def clip_case(torch, name: str) -> dict:
    from tutor.spec import load

    net = load(name)
    params = _model(torch, net)
    loss = _half_sse(torch, _forward(torch, net, params, net.inputs), net.targets)
    loss.backward()
    tensors = [t for _, W, b in params for t in (W, b)]
    tr = net.training
    record: dict = {}
    if tr.clip_norm is not None:
        record["norm"] = float(torch.nn.utils.clip_grad_norm_(tensors, tr.clip_norm))
    else:
        torch.nn.utils.clip_grad_value_(tensors, tr.clip_value)
    record["clipped"] = _labelled(net, params, lambda t: t.grad.detach().numpy())
    opt = torch.optim.SGD(tensors, lr=net.learning_rate)
    opt.step()
    record["updated"] = _labelled(net, params, lambda t: t.detach().numpy())
    return record


def scaling_case(torch, name: str) -> dict:
    from tutor.spec import load

    net = load(name)
    X = torch.tensor(np.array([x for x, _ in net.raw_examples]), dtype=torch.float64)
    mu, sd = X.mean(0), X.std(0, unbiased=False)
    lo, hi = X.min(0).values, X.max(0).values
    return {
        "standardize": ((X - mu) / sd).tolist(),
        "mean_normalize": ((X - mu) / (hi - lo)).tolist(),
        "min_max": ((X - lo) / (hi - lo)).tolist(),
    }


def init_case(torch) -> dict:
    """torch.nn.init on a 300 x 400 matrix (fan-in 400, fan-out 300): its fans, the largest |w| of a uniform
    draw (just below the bound) and the spread of a normal one (near the std)."""
    torch.manual_seed(0)
    w = torch.empty(300, 400, dtype=torch.float64)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(w)
    out = {"fan_in": fan_in, "fan_out": fan_out}
    torch.nn.init.xavier_uniform_(w)
    out["xavier_uniform_max"] = float(w.abs().max())
    torch.nn.init.xavier_normal_(w)
    out["xavier_normal_std"] = float(w.std())
    torch.nn.init.kaiming_uniform_(w, nonlinearity="relu")
    out["he_uniform_max"] = float(w.abs().max())
    torch.nn.init.kaiming_normal_(w, nonlinearity="relu")
    out["he_normal_std"] = float(w.std())
    return out


def early_case(torch, name: str, epochs: int = 30) -> dict:
    """Full-batch SGD on the mean half-SSE, the validation loss before training and after every epoch."""
    from tutor.spec import load

    net = load(name)
    params = _model(torch, net)
    tensors = [t for _, W, b in params for t in (W, b)]
    opt = torch.optim.SGD(tensors, lr=net.learning_rate)

    def mean_loss(rows):
        with torch.no_grad():
            return float(sum(_half_sse(torch, _forward(torch, net, params, x), t) for x, t in rows) / len(rows))

    train, val = [mean_loss(net.examples)], [mean_loss(net.training.validation)]
    for _ in range(epochs):
        opt.zero_grad()
        loss = sum(_half_sse(torch, _forward(torch, net, params, x), t) for x, t in net.examples) / len(net.examples)
        loss.backward()
        opt.step()
        train.append(mean_loss(net.examples))
        val.append(mean_loss(net.training.validation))
    return {"train": train, "val": val}


def residual_case(torch, name: str) -> dict:
    """The gradient of every parameter of a network with skips, by autograd."""
    from tutor.spec import load

    net = load(name)
    params = _model(torch, net)
    loss = _half_sse(torch, _forward(torch, net, params, net.inputs), net.targets)
    loss.backward()
    return {"loss": float(loss.detach()), "grad": _labelled(net, params, lambda t: t.grad.detach().numpy())}


def compute() -> dict:
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return {
            "torch": torch.__version__,
            "clip-norm": clip_case(torch, "clip-norm"),
            "clip-value": clip_case(torch, "clip-value"),
            "scaling-standardize": scaling_case(torch, "scaling-standardize"),
            "init": init_case(torch),
            "early-stopping": early_case(torch, "early-stopping"),
            "residual-sigmoid": residual_case(torch, "residual-sigmoid"),
        }
    finally:  # the tests call this with live torch: the other tests' models stay float32
        torch.set_default_dtype(before)


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
