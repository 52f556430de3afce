"""Records PyTorch's results for the convolution, pooling and flatten layer kinds into tests/data/torch_conv.json
(needs torch): for each case, a spec (as the tutor reads it) and what torch computes from the same numbers in
float64: the loss, every parameter's gradient (in torch's layout), the input's gradient, and the parameters after
one plain SGD step.

Run: python tests/data/record_torch_conv.py. tests/test_conv.py compares the tutor with the file always, and with
``compute()`` itself when torch is importable. Torch is imported inside compute() only, so that pytest can import
this module without it.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("torch_conv.json")


def _ramp(n: int, scale: float, shift: float) -> list[float]:
    """n distinct, unrounded-looking values (no ties for max pooling, no kinks at 0)."""
    return [round(scale * (((7 * k + 3) % 11) - 5.0) + shift + 0.013 * k, 6) for k in range(n)]


def _nest(flat: list[float], shape: tuple[int, ...]):
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


CASES = {
    # two input channels, three kernels of 3 x 2, stride (2, 1), padding (1, 0), tanh; max pooling 2 x 2 with
    # stride 1; flatten; a softmax output with categorical cross-entropy
    "conv2d_maxpool": {
        "inputs": {"shape": [2, 5, 4], "values": _ramp(40, 0.21, 0.05)},
        "layers": [
            {
                "kind": "conv2d",
                "out_channels": 3,
                "kernel_size": [3, 2],
                "stride": [2, 1],
                "padding": [1, 0],
                "weights": _nest(_ramp(36, 0.09, -0.02), (3, 2, 3, 2)),
                "biases": [0.1, -0.2, 0.05],
                "activation": "tanh",
            },
            {"kind": "max_pool", "kernel_size": 2, "stride": 1},
            {"kind": "flatten"},
            {
                "neurons": ["o1", "o2", "o3"],
                "activation": "softmax",
                "weights": _nest(_ramp(36, 0.15, 0.01), (3, 12)),
                "biases": [0.02, -0.01, 0.03],
            },
        ],
        "loss": {"name": "categorical_cross_entropy", "targets": [0.0, 1.0, 0.0]},
        "training": {"learning_rate": 0.1, "update_biases": True},
    },
    # two input channels of length 7, two kernels of 3, stride 2, padding 1, sigmoid; average pooling of 2;
    # flatten; one tanh output with half the squared error
    "conv1d_avgpool": {
        "inputs": {"shape": [2, 7], "values": _ramp(14, 0.3, -0.1)},
        "layers": [
            {
                "kind": "conv1d",
                "out_channels": 2,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "weights": _nest(_ramp(12, 0.11, 0.03), (2, 2, 3)),
                "biases": [-0.05, 0.15],
                "activation": "sigmoid",
            },
            {"kind": "avg_pool", "kernel_size": 2},
            {"kind": "flatten"},
            {"neurons": ["o1"], "activation": "tanh", "weights": [[0.4, -0.3, 0.25, 0.1]], "bias": 0.05},
        ],
        "loss": {"name": "half_sse", "targets": [0.3]},
        "training": {"learning_rate": 0.5, "update_biases": True},
    },
    # 2-D average pooling after a bias-free convolution of one channel, stride 1, padding 1, identity
    "conv2d_avgpool_nobias": {
        "inputs": {"shape": [1, 3, 3], "values": _ramp(9, 0.5, 0.2)},
        "layers": [
            {
                "kind": "conv2d",
                "out_channels": 2,
                "kernel_size": 2,
                "padding": 1,
                "bias": False,
                "weights": _nest(_ramp(8, 0.2, 0.1), (2, 1, 2, 2)),
            },
            {"kind": "avg_pool", "kernel_size": 2, "stride": 2},
            {"kind": "flatten"},
            {
                "neurons": ["o1", "o2"],
                "activation": "sigmoid",
                "weights": _nest(_ramp(16, 0.1, 0.0), (2, 8)),
                "bias": False,
            },
        ],
        "loss": {"name": "half_sse", "targets": [1.0, 0.0]},
        "training": {"learning_rate": 0.3, "update_biases": True},
    },
}


def _model(case: dict):
    import torch

    nn = torch.nn
    acts = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "identity": nn.Identity}
    shape = case["inputs"]["shape"]
    channels, dims = shape[0], len(shape) - 1
    mods, params = [], []
    for raw in case["layers"]:
        kind = raw.get("kind", "dense")
        if kind in ("conv1d", "conv2d"):
            bias = raw.get("bias", True) is not False
            conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(
                channels,
                raw["out_channels"],
                raw["kernel_size"]
                if dims == 1
                else tuple(raw["kernel_size"])
                if isinstance(raw["kernel_size"], list)
                else raw["kernel_size"],
                stride=tuple(raw["stride"]) if isinstance(raw.get("stride"), list) else raw.get("stride", 1),
                padding=tuple(raw["padding"]) if isinstance(raw.get("padding"), list) else raw.get("padding", 0),
                bias=bias,
            ).double()
            with torch.no_grad():
                conv.weight.copy_(torch.tensor(raw["weights"], dtype=torch.float64))
                if bias:
                    conv.bias.copy_(torch.tensor(raw["biases"], dtype=torch.float64))
            mods += [conv, acts[raw.get("activation", "identity")]()]
            params.append(conv)
            channels = raw["out_channels"]
        elif kind in ("max_pool", "avg_pool"):
            cls = {
                ("max_pool", 1): nn.MaxPool1d,
                ("max_pool", 2): nn.MaxPool2d,
                ("avg_pool", 1): nn.AvgPool1d,
                ("avg_pool", 2): nn.AvgPool2d,
            }[kind, dims]
            mods.append(cls(raw["kernel_size"], stride=raw.get("stride")))
        elif kind == "flatten":
            mods.append(nn.Flatten())
        else:
            W = torch.tensor(raw["weights"], dtype=torch.float64)
            bias = raw.get("bias", 0.0) is not False  # the tutor's default is a shared bias of 0
            lin = nn.Linear(W.shape[1], W.shape[0], bias=bias).double()
            with torch.no_grad():
                lin.weight.copy_(W)
                if bias:
                    b = raw["biases"] if "biases" in raw else [raw.get("bias", 0.0)] * W.shape[0]
                    lin.bias.copy_(torch.tensor(b, dtype=torch.float64))
            act = raw["activation"]
            mods += [lin, nn.Softmax(dim=-1) if act == "softmax" else acts[act]()]
            params.append(lin)
    return nn.Sequential(*mods), params


def compute() -> dict:
    import torch

    out = {"torch": torch.__version__, "cases": {}}
    for name, case in CASES.items():
        model, params = _model(case)
        x = torch.tensor(case["inputs"]["values"], dtype=torch.float64).reshape(1, *case["inputs"]["shape"])
        x.requires_grad_(True)
        t = torch.tensor(case["loss"]["targets"], dtype=torch.float64)
        o = model(x)[0]
        if case["loss"]["name"] == "categorical_cross_entropy":
            loss = -(t * torch.log(o)).sum()
        else:
            loss = 0.5 * ((t - o) ** 2).sum()
        loss.backward()
        lr = case["training"]["learning_rate"]
        out["cases"][name] = {
            "loss": float(loss.detach()),
            "input_grad": x.grad.reshape(-1).tolist(),
            "grad_weights": [m.weight.grad.tolist() for m in params],
            "grad_biases": [m.bias.grad.tolist() if m.bias is not None else [] for m in params],
            "new_weights": [(m.weight - lr * m.weight.grad).tolist() for m in params],
            "new_biases": [(m.bias - lr * m.bias.grad).tolist() if m.bias is not None else [] for m in params],
        }
    return out


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
