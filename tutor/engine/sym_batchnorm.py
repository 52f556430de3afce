"""Batch normalization in the symbolic walks: dE/dnet of a normalized neuron, the batch's statistics and
dE/dvar, dE/dmu over its examples, and the running statistics."""

from __future__ import annotations

from ..spec.network import Network
from .steps import (
    BatchNormLayer,
    Label,
    NeuronBackward,
    NeuronForward,
)
from .sym_builder import BatchContext, _Builder, batch_loss, bn_grad_keys
from .sym_forms import (
    _key,
    act_form,
    bn_dmu_form,
    bn_dvar_form,
    bn_dx_form,
    bn_dy_form,
    bn_running_form,
    bn_var_form,
    bn_y_form,
    dact_form,
    mean_form,
    product_form,
)


def _bn_backward(b, net: Network, li: int, j: int, r: NeuronForward, nb: NeuronBackward, E: str) -> None:
    """Back through y = gamma xhat + beta and xhat = (net - mu)/sqrt(var + eps) for one example: dout/dy, dE/dy,
    dy/dxhat, dE/dxhat, then dE/dnet through xhat, the batch variance and the batch mean."""
    layer = net.layers[li]
    pk = _key(layer.activation_params)
    mu, var, gamma, beta = (layer.bn_names(w)[j] for w in ("mu", "var", "gamma", "beta"))
    nb.dout_dy = b.partial(
        r.out,
        r.y,
        "factor",
        dact_form(layer.activation, pk),
        [r.y, r.out],
        of_form=act_form(layer.activation, pk),
        of_args=(r.y,),
        wrt=r.y,
        layer=li,
        index=j,
    )
    nb.dE_dy = b.partial(E, r.y, "bn_grad", product_form(2), [nb.dE_dout, nb.dout_dy], layer=li, index=j)
    yargs = (gamma, r.xhat, beta)
    nb.dy_dxhat = b.partial(
        r.y, r.xhat, "factor", bn_dy_form(1), yargs, of_form=bn_y_form(), of_args=yargs, wrt=r.xhat, layer=li, index=j
    )
    nb.dE_dxhat = b.partial(E, r.xhat, "bn_grad", product_form(2), [nb.dE_dy, nb.dy_dxhat], layer=li, index=j)
    dvar, dmu = bn_grad_keys(net, li, j)
    nb.delta = b.partial(
        E,
        r.net,
        "delta",
        bn_dx_form(b.bn.m),
        [nb.dE_dxhat, r.net, mu, var, f"eps_L{li + 1}", dvar, dmu],
        layer=li,
        index=j,
    )


def _bn_batch(b: _Builder, net: Network, walks, ctx: BatchContext) -> list[BatchNormLayer]:
    """Batch normalization over the batch, layer by layer as Ioffe and Szegedy compute it: forward, each
    layer's mu and var once every example's walk has reached its net inputs; backward (last layer first),
    dE/dvar and dE/dmu once every example has brought its dE/dxhat. Each value joins ``ctx`` for the next
    walks; the examples' values enter as the step's copies, named per example."""
    m = ctx.m
    E = net.notation["loss"]
    norm = [li for li, l in enumerate(net.layers) if l.batch_norm]
    records = {}
    for li in norm:
        layer = net.layers[li]
        ws = walks(forward_only=True)
        eps = f"eps_L{li + 1}"
        mom = f"momentum_L{li + 1}"
        b.given(eps, "rate", layer.epsilon, layer=li)
        b.given(mom, "rate", layer.momentum, layer=li)
        rec = BatchNormLayer(li, list(layer.neurons), [eps, mom], [], [], [], [], [])
        for j in range(layer.size):
            nets = [
                b.given(f"{layer.net_names[j]}[e{k + 1}]", "example", w.value(layer.net_names[j]), layer=li, index=j)
                for k, w in enumerate(ws)
            ]
            mu = b.add(layer.bn_names("mu")[j], "batch", mean_form(m), nets, layer=li, index=j)
            ctx.values[mu] = b.q[mu].value
            var = b.add(layer.bn_names("var")[j], "batch", bn_var_form(m), nets + [mu], layer=li, index=j)
            ctx.values[var] = b.q[var].value
            rec.nets.append(nets)
            rec.stats.append([mu, var])
        records[li] = rec
    for li in reversed(norm):
        layer = net.layers[li]
        ws = walks()
        rec = records[li]
        eps = f"eps_L{li + 1}"
        for j in range(layer.size):
            xh = layer.bn_names("xhat")[j]
            dxh = [
                b.given(f"d{E}/d{xh}[e{k + 1}]", "example", w.value(f"d{E}/d{xh}"), layer=li, index=j)
                for k, w in enumerate(ws)
            ]
            for k, key in enumerate(dxh):
                # written with example k's xhat, xhat⁽ᵏ⁾ (a name of the examples' walks, not of this step)
                b.labels[key] = Label("partial", num=batch_loss(net), den=f"{xh}[e{k + 1}]")
                b.labels.setdefault(f"{xh}[e{k + 1}]", Label("name", text=f"{xh}[e{k + 1}]"))
            mu, var = rec.stats[j]
            pairs = [a for k in range(m) for a in (dxh[k], rec.nets[j][k])]
            # the keys bn_grad_keys names, which the examples' walks read
            dvar = b.partial(E, var, "batch", bn_dvar_form(m), pairs + [mu, var, eps], layer=li, index=j)
            ctx.values[dvar] = b.q[dvar].value
            dmu = b.partial(E, mu, "batch", bn_dmu_form(m), pairs + [mu, var, eps, dvar], layer=li, index=j)
            ctx.values[dmu] = b.q[dmu].value
            for key, den in ((dvar, var), (dmu, mu)):
                b.labels[key] = Label("partial", num=batch_loss(net), den=den)
            rec.dxhat.append(dxh)
            rec.grads.append([dvar, dmu])
    return [records[li] for li in norm]


def _bn_running(b: _Builder, net: Network, records: list[BatchNormLayer]) -> list[BatchNormLayer]:
    """The running statistics for inference after the step, PyTorch's: (1 - momentum) running + momentum
    statistic, with the batch's unbiased variance var m/(m - 1) for running_var."""
    for rec in records:
        layer = net.layers[rec.layer]
        m = len(rec.nets[0])
        mom = rec.given[1]
        for j in range(layer.size):
            mu, var = rec.stats[j]
            rm = b.given(layer.bn_names("running_mean")[j], "state", layer.running_mean[j], layer=rec.layer, index=j)
            rv = b.given(layer.bn_names("running_var")[j], "state", layer.running_var[j], layer=rec.layer, index=j)
            new = []
            for key, form, stat in ((rm, bn_running_form(), mu), (rv, bn_running_form(m), var)):
                target = net.updated_name(key)
                new.append(
                    b.add(target, "running", form, [mom, key, stat], Label("updated", base=key, text=target), layer=rec.layer, index=j)
                )  # fmt: skip
            rec.running.append([rm, rv, *new])
    return records
