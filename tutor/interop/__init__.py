"""Networks from other tools: NumPy weight arrays (``numpy``), PyTorch models (``torch``: an ``nn.Sequential``;
``torchmodule``: a module class traced by torch.fx, loss and optimizer objects), Keras models (``keras``) and
micrograd expressions (``micrograd``), one module each.

Every network is built through the spec validator, so a network from a framework is checked exactly like a
spec file. Frameworks are optional and imported only by the functions that need them.
"""

from __future__ import annotations

from .numpy import FRAMEWORK_TOLERANCE, LAYOUTS, from_numpy, to_mapping, with_example
from .torch import FrameworkCheck, FrameworkRow, from_torch, is_torch_module, torch_batch_check, torch_gradient_check

__all__ = [
    "FRAMEWORK_TOLERANCE",
    "LAYOUTS",
    "FrameworkCheck",
    "FrameworkRow",
    "from_numpy",
    "from_torch",
    "is_torch_module",
    "to_mapping",
    "torch_batch_check",
    "torch_gradient_check",
    "with_example",
]
