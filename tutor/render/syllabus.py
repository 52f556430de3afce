"""The view of the rest of the syllabus (seeds 000 and 002) for every document: feature scaling and drawn weights
before the forward pass, gradient clipping in a training step, validation loss and early stopping in a run.

Reads step records (tutor.engine.steps.Preparation, TrainingWalk) and the numeric run; computes nothing.
"""

from __future__ import annotations

from typing import Any, Callable

from ..spec import rules
from .lines import line_view, writer
from .options import DEFAULT, Options


def prep_view(
    prep: Any, mode: str, escape: Callable[[str], str], options: Options = DEFAULT, decimals: dict | None = None
) -> dict[str, Any] | None:
    """Scaling statistics and every scaled input, then each drawn layer: fan-in, fan-out, bound or std, weights
    (``decimals``: as the document's step shows them, lines.document_decimals)."""
    if prep is None:
        return None
    fw = writer(prep, mode, options, decimals=decimals)
    q = prep.quantities

    def line(k: str) -> dict[str, Any] | None:
        return line_view(fw, q, k, mode, escape)

    net = prep.network
    scaling = None
    if prep.scaling:
        rule = rules.SCALINGS[prep.scaling]
        scaling = {
            "name": prep.scaling,
            "description": escape(rule.description),
            "count": len(prep.examples),
            "stats": [
                {"input": escape(name), "lines": [line(k) for k in keys]}
                for name, keys in zip(net.input_names, prep.stats)
            ],
            "examples": [
                {"index": k + 1, "raw": [line(r) for r, _ in row], "scaled": [line(s) for _, s in row]}
                for k, row in enumerate(prep.examples)
            ],
            "validation": [
                {"index": k + 1, "raw": [line(r) for r, _ in row], "scaled": [line(s) for _, s in row]}
                for k, row in enumerate(prep.validation)
            ],
        }
    init = []
    for il in prep.init:
        rule = rules.INITS[il.rule]
        init.append(
            {
                "number": il.layer + 1,
                "name": escape(net.layers[il.layer].name),
                "rule": il.rule,
                "description": escape(rule.description),
                "distribution": rule.distribution,
                "lines": [line(il.fan_in), line(il.fan_out), line(il.scale)],
                "weights": [[line(w) for w in row] for row in il.weights],
            }
        )
    return {
        "scaling": scaling,
        "init": init,
        "seed": net.init_seed,
        "decimals": rules.INIT_DECIMALS,
        "count": len(net.examples),
    }


def clip_view(tw: Any, line: Callable[[str], Any]) -> dict[str, Any] | None:
    """The clipping of one training step: the limit, the global norm and scale factor (by norm)."""
    c = tw.clip
    if c is None:
        return None
    return {"by": c.by, "lines": [line(k) for k in c.given + c.computed]}


def bn_view(tw: Any, line: Callable[[str], Any], escape: Callable[[str], str], batch_loss: str) -> list[dict[str, Any]]:
    """Batch normalization over one step's batch, per normalized layer: epsilon and momentum, then per neuron
    the batch mean and variance, dE/dvar and dE/dmu, and the running statistics before and after the step."""
    out = []
    for rec in getattr(tw, "batch_norm", None) or ():
        layer = tw.network.layers[rec.layer]
        out.append(
            {
                "name": escape(layer.name),
                "number": rec.layer + 1,
                "m": len(rec.nets[0]),
                "batch_loss": batch_loss,  # the batch's summed loss, as the notation writes it
                "given": [line(k) for k in rec.given],
                "neurons": [
                    {
                        "name": escape(n),
                        "stats": [line(k) for k in rec.stats[j]],
                        "grads": [line(k) for k in rec.grads[j]],
                        "running": [line(k) for k in rec.running[j]],
                    }
                    for j, n in enumerate(rec.neurons)
                ],
                # the layer's bias: beta absorbs it (mu moves with it), so its summed gradient is 0
                "bias": escape(", ".join(dict.fromkeys(layer.bias_labels))),
            }
        )
    return out


def run_view(net: Any, run: Any, fmt: Callable[[float], str]) -> dict[str, Any] | None:
    """The validation loss per epoch beside the training loss, and where early stopping stopped."""
    if not run.val_loss:
        return None
    return {
        "patience": net.training.patience,
        "count": len(net.training.validation),
        "val": [fmt(v) for v in run.val_loss],
        "best_epoch": run.best_epoch,
        "best_loss": fmt(run.val_loss[run.best_epoch]) if run.best_epoch is not None else "",
        "stopped_epoch": run.stopped_epoch,
        "epochs_run": len(run.val_loss) - 1,
    }
