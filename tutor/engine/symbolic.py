"""The symbolic engine: every chain-rule factor derived with SymPy from local forms, then evaluated.

Local forms (a neuron's net input, an activation and its derivative, the loss and its gradient, products
and sums) are derived once per kind, in positional placeholders, and lambdified once; every neuron and
weight of that kind binds the same form to its own quantities. Nothing expands the whole network into one
expression, so the cost stays linear in the number of parameters at any depth.

This module is the engine's one entry point; its parts live beside it: the form catalogue (``sym_forms``),
the builder that names and evaluates quantities (``sym_builder``), one example's walk-through
(``sym_example``), batch normalization (``sym_batchnorm``), the training step with clipping
(``sym_trainstep``) and the preparation before the first pass (``sym_preparation``). A layer kind's own
local forms are its module's under ``tutor/spec/layers/``.
"""

from __future__ import annotations

from .sym_builder import DROPOUT_SCALE, ETA, BatchContext, DropoutMasks, batch_loss, bn_grad_keys
from .sym_example import batch_context, explain_step
from .sym_forms import (
    act_form,
    act_skip_form,
    bn_dmu_form,
    bn_dvar_form,
    bn_dx_form,
    bn_dy_form,
    bn_running_form,
    bn_var_form,
    bn_xhat_form,
    bn_y_form,
    clip_scale_form,
    clip_value_form,
    dact_form,
    dact_skip_form,
    decay_form,
    difference_form,
    dkept_form,
    dnet_form,
    dot_form,
    dpass_form,
    init_form,
    input_gradient_form,
    layer_net_form,
    loss_forms,
    mean_form,
    net_form,
    optimizer_forms,
    pass_form,
    product_form,
    reg_grad_form,
    reg_loss_form,
    scaled_form,
    share_form,
    softmax_form,
    softmax_jac_form,
    sqrt_form,
    squares_form,
    stat_form,
    sum_form,
    update_form,
)
from .sym_preparation import STAT_NAMES, explain_preparation
from .sym_trainstep import explain_training_step

__all__ = [
    "BatchContext",
    "DROPOUT_SCALE",
    "DropoutMasks",
    "ETA",
    "STAT_NAMES",
    "act_form",
    "act_skip_form",
    "batch_context",
    "batch_loss",
    "bn_dmu_form",
    "bn_dvar_form",
    "bn_dx_form",
    "bn_dy_form",
    "bn_grad_keys",
    "bn_running_form",
    "bn_var_form",
    "bn_xhat_form",
    "bn_y_form",
    "clip_scale_form",
    "clip_value_form",
    "dact_form",
    "dact_skip_form",
    "decay_form",
    "difference_form",
    "dkept_form",
    "dnet_form",
    "dot_form",
    "dpass_form",
    "explain_preparation",
    "explain_step",
    "explain_training_step",
    "init_form",
    "input_gradient_form",
    "layer_net_form",
    "loss_forms",
    "mean_form",
    "net_form",
    "optimizer_forms",
    "pass_form",
    "product_form",
    "reg_grad_form",
    "reg_loss_form",
    "scaled_form",
    "share_form",
    "softmax_form",
    "softmax_jac_form",
    "sqrt_form",
    "squares_form",
    "stat_form",
    "sum_form",
    "update_form",
]
