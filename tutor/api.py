"""The one-call Python API for notebooks and scripts: ``tutor.explain``, ``tutor.check`` and ``tutor.teach.quiz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from .notebook import CheckReport, Explanation, GraphExplanation, SelfCheck, TrainingExplanation
from .spec.errors import TutorError

_NUMPY_OPTIONS = ("biases", "activations", "loss", "learning_rate", "layout", "title")
_TORCH_OPTIONS = ("loss", "optimizer", "learning_rate", "title")
_NETWORK_OPTIONS = ("loss", "learning_rate")


def _network(net: Any, where: str):
    """A Network from a Network, a spec path, a built-in example's name or a mapping of spec keys."""
    from . import spec

    if isinstance(net, spec.Network):
        return net
    if isinstance(net, (str, Path)):
        return spec.load(net)
    if isinstance(net, Mapping):
        return spec.from_mapping(net, where=where)
    raise TutorError(
        "expected a tutor Network, a spec file, a built-in example's name, a mapping of spec keys, "
        f"a list of weight arrays or a PyTorch nn.Sequential; got {type(net).__name__}",
        where,
    )


def _unknown(options: Mapping[str, Any], allowed: Sequence[str], what: str, where: str) -> None:
    for key in options:
        if key not in allowed:
            raise TutorError(f"unknown option {key!r} for {what}; allowed: {', '.join(allowed)}", where)


def explain(
    net: Any,
    x: Any = None,
    y: Any = None,
    *,
    check: bool = True,
    forward_only: bool = False,
    rounding: str | None = None,
    digits: int | None = None,
    update_order: str | None = None,
    update_biases: bool | None = None,
    **build: Any,
) -> Explanation:
    """One training step of ``net`` with every calculation shown, cross-checked; Jupyter displays the result.

    ``net`` is a tutor Network, a spec file, a built-in example's name (``"mazur"``), a mapping of spec
    keys, a list of NumPy weight arrays (see :func:`tutor.interop.from_numpy`: pass ``biases``,
    ``activations``, ``loss``, ``learning_rate`` and ``layout`` here), a PyTorch ``nn.Sequential`` (see
    :func:`tutor.interop.from_torch`: ``loss``, ``learning_rate``) or module class (traced by torch.fx, see
    :mod:`tutor.interop.torchmodule`: ``loss`` a name or a loss object, ``optimizer`` an optimizer object, ``x`` one
    example or a batch), whose every gradient is then checked against torch autograd, or a compiled Keras model
    (:mod:`tutor.interop.keras`). A graph (a graph spec, its mapping, a ``tutor.loads`` Graph, or a one-line
    expression ``"f = (x + y) * z"`` with the leaves as keyword arguments) and a micrograd ``Value`` give a
    :class:`tutor.notebook.GraphExplanation`. ``x`` and ``y`` are the example's inputs and targets (they replace a spec's);
    ``rounding``, ``digits``, ``update_order`` and ``update_biases`` set the conventions, as on the command
    line; ``check=False`` leaves out the gradient checks, ``forward_only=True`` stops after the error.

    A network that trains on a batch, with another optimizer, decay, regularization, dropout, clipping or batch
    normalization gives its first training step (a :class:`tutor.notebook.TrainingExplanation`, as
    ``backprop-tutor explain SPEC`` shows it); a PyTorch model with a BatchNorm1d in training mode takes a batch
    (``x`` one row per example), and its batch gradients are checked against autograd.

    >>> import tutor
    >>> e = tutor.explain("mazur")
    >>> round(e.values["w5+"], 8), round(e.values["dE_total/dw5"], 9)
    (0.35891648, 0.082167041)
    >>> e2 = tutor.explain("mazur", x=[0.1, 0.2], y=[0.0, 1.0], learning_rate=0.1)
    >>> e2.network.inputs.tolist(), e2.ok
    ([0.1, 0.2], True)
    >>> e3 = tutor.explain([[[0.5, -0.25]]], x=[1.0, 2.0], y=[0.5], biases=[[0.25]], activations="identity")
    >>> e3.network.shape, e3.values["out_o1"]
    ((2, 1), 0.25)
    """
    from . import interop

    where = "explain()"
    model = None
    from .interop import micrograd

    graph = _graph(net, x, y, build, where)
    if graph is not None:
        from .engine.graph import explain_graph

        return GraphExplanation(explain_graph(graph))
    if micrograd.is_micrograd_value(net):
        if x is not None or y is not None or build:
            raise TutorError("a micrograd Value carries its own numbers: give it alone", where)
        return GraphExplanation(*micrograd.explain_value(net))
    source = None
    from .interop import keras as keras_interop

    if keras_interop.is_keras_model(net):
        _unknown(build, ("title",), "a Keras model (its loss and optimizer are the compiled ones)", where)
        if x is None or y is None:
            raise TutorError("give the example's inputs x and targets y for a Keras model", where)
        network, source = keras_interop.from_keras(net, x, y, where=where, **build)
    elif interop.is_torch_module(net):
        _unknown(build, _TORCH_OPTIONS, "a PyTorch model", where)
        if x is None or y is None:
            raise TutorError("give the example's inputs x and targets y for a PyTorch model", where)
        if _sequential_path(net, x, build):
            from .interop import torchmodule

            if build.get("optimizer") is not None:
                raise TutorError(
                    "a model with a BatchNorm1d in training mode is read with a learning rate (plain gradient "
                    "descent); leave optimizer out",
                    where,
                )
            build = {k: v for k, v in build.items() if k != "optimizer"}
            if "loss" in build:
                build["loss"] = torchmodule.loss_name(build["loss"], where)
            model, network = net, interop.from_torch(net, x, y, **build)
        else:  # a module class, a loss or optimizer object, a batch: traced by torch.fx
            from .interop import torchmodule

            try:
                network, source = torchmodule.from_module(net, x, y, where=where, **build)
            except torchmodule.NotLayered as why:
                if build.get("optimizer") is not None:
                    raise TutorError(
                        f"{type(net).__name__} is not a layered network ({why}): the tutor explains it as a "
                        "computational graph, whose gradients need no optimizer; leave optimizer out",
                        where,
                    ) from None
                from .engine.graph import explain_graph

                graph, fc = torchmodule.to_graph(net, x, y, loss=build.get("loss", "half_sse"), why=str(why))
                return GraphExplanation(explain_graph(graph), fc)
    elif (isinstance(net, Sequence) and not isinstance(net, str)) or _is_array(net):
        _unknown(build, _NUMPY_OPTIONS, "weight arrays", where)
        if x is None or y is None:
            raise TutorError("give the example's inputs x and targets y for a network of weight arrays", where)
        build = dict(build)
        network = interop.from_numpy(net, build.pop("biases", None), x, y, **build)
    else:
        _unknown(build, _NETWORK_OPTIONS, "a network or spec", where)
        network = _network(net, where)
        if x is not None or y is not None or build:
            network = interop.with_example(network, x, y, where=where, **build)
    network = network.with_conventions(
        rounding=rounding, digits=digits, update_order=update_order, update_biases=update_biases
    )

    from .engine.walks import walked_by_layers

    if walked_by_layers(network):
        return _layer_walk(network, forward_only, where)
    if source is not None and not forward_only:
        from .engine import training

        record = training.run(network, 0, keep=lambda n: n == 1, total_steps=1).steps[1]
        framework = None
        if check and isinstance(source, keras_interop.KerasSource):
            framework = keras_interop.keras_check(network, source, record)
        elif check:
            from .interop import torchmodule

            framework = torchmodule.module_check(network, source, record)
        if not (network.training.plain and len(network.examples) == 1):
            from .engine.walks import step_walk

            return TrainingExplanation(network, step_walk(network, record), record, framework)
        from .engine.gradcheck import gradient_check
        from .engine.symbolic import explain_step

        return Explanation(explain_step(network), gradient_check(network) if check else None, framework)

    if not forward_only and not (network.training.plain and len(network.examples) == 1):
        # a batch, another optimizer, decay, regularization, dropout, clipping, batch normalization: the first
        # training step, as 'backprop-tutor explain SPEC' shows it
        from .engine import training
        from .engine.walks import step_walk

        record = training.run(network, 0, keep=lambda n: n == 1, total_steps=1).steps[1]
        framework = None
        if model is not None and check:
            framework = interop.torch_batch_check(network, model, record)
        return TrainingExplanation(network, step_walk(network, record), record, framework)

    from .engine.symbolic import explain_step

    walk = explain_step(network, forward_only=forward_only)
    grad_check = framework = None
    if check and not forward_only:
        from .engine.gradcheck import gradient_check

        grad_check = gradient_check(network)
        if model is not None:
            framework = interop.torch_gradient_check(network, model, walk)
    return Explanation(walk, grad_check, framework)


def _layer_walk(network, forward_only: bool, where: str):
    """A network with convolution, pooling, flatten or recurrent layers: the walk by layers, its gradients
    compared with the numeric engine's."""
    import numpy as np

    from .engine import numeric
    from .engine.sym_maps import explain_maps
    from .notebook import LayerWalkExplanation

    if forward_only:
        raise TutorError(
            "a network with feature maps or recurrence is walked through whole: leave out forward_only", where
        )
    if not (network.training.plain and len(network.examples) == 1):
        raise TutorError("a network with feature maps or recurrence is walked through for one plain step so far", where)
    walk = explain_maps(network)
    st = numeric.step(network)
    agrees = all(
        np.allclose(
            [[walk.value(rec.grads[lab]) for lab in row] for row in layer.weight_labels],
            st.backward.grad_W[li],
            rtol=1e-9,
            atol=1e-12,
        )
        for li, (layer, rec) in enumerate(zip(network.layers, walk.layers))
        if layer.weights.size
    )
    return LayerWalkExplanation(walk, agrees)


def _graph(net: Any, x: Any, y: Any, build: Mapping[str, Any], where: str):
    """The Graph that ``net`` names: a Graph, a graph spec file or built-in, a mapping with a [graph] table, or a
    one-line expression "f = (x + y) * z" with its leaves' values as keyword arguments; None for a network."""
    from .spec import graph as graphspec

    if isinstance(net, str) and "=" in net and "\n" not in net and not Path(net).exists():
        target, _, expression = net.partition("=")
        # x and y are explain()'s own parameters: as leaves of an expression they come first, in that order
        build = {**({"x": x} if x is not None else {}), **({"y": y} if y is not None else {}), **build}
        if not build:
            raise TutorError("give every leaf's value, e.g. tutor.explain('f = x * y', x=2, y=3)", where)
        return graphspec.from_mapping(
            {
                "title": net.strip(),
                "graph": {"leaves": dict(build), "assign": {target.strip(): expression.strip()}},
            },
            where=where,
        )
    single = isinstance(net, graphspec.Graph) or (isinstance(net, Mapping) and "graph" in net)
    if not single and not (isinstance(net, (str, Path)) and graphspec.is_graph(net)):
        return None
    if x is not None or y is not None or build:
        raise TutorError("a graph spec carries its own leaf values: give it alone", where)
    if isinstance(net, graphspec.Graph):
        return net
    return graphspec.from_mapping(net, where=where) if isinstance(net, Mapping) else graphspec.load(net)


def _sequential_path(model: Any, x: Any, build: Mapping[str, Any]) -> bool:
    """An nn.Sequential (or Linear) on one example with a loss given by name, or with a BatchNorm1d in training
    mode: read by from_torch as before; everything else is traced by torch.fx."""
    import numpy as np
    import torch

    if type(model) is not torch.nn.Linear and not isinstance(model, torch.nn.Sequential):
        return False
    if any(type(m) is torch.nn.BatchNorm1d and m.training for m in model.modules()):
        return True
    if build.get("optimizer") is not None or not isinstance(build.get("loss", ""), str):
        return False
    shape = getattr(x, "shape", None) if hasattr(x, "shape") else np.shape(x)
    return len(shape) < 2 or shape[0] == 1


def _is_array(obj: Any) -> bool:
    # Weights given as one NumPy array go to from_numpy, whose message asks for a list with one array per layer.
    return type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray"


def check(
    spec: Any,
    claims: Any = None,
    *,
    rounding: str | None = None,
    digits: int | None = None,
    update_order: str | None = None,
    update_biases: bool | None = None,
) -> CheckReport:
    """Check the claimed numbers of a worked solution, as ``backprop-tutor check SPEC CLAIMS`` does.

    ``claims`` is a claims file (TOML with ``[[claim]]`` tables), the same as a mapping (``{"claim": [...]}``),
    a list of claim tables, or a mapping of quantity names to values as printed (strings, so that their
    precision is kept); None takes a built-in example's own transcribed claims.

    >>> import tutor
    >>> report = tutor.check("mazur", {"dE_total/dw5": "0.082167041", "w5+": "0.3589"})
    >>> report.ok, report.verdicts[1].correct_printed
    (True, '0.3589')
    """
    from .spec.resources import example_claims
    from .teach import checker

    where = "check()"
    net = _network(spec, where).with_conventions(
        rounding=rounding, digits=digits, update_order=update_order, update_biases=update_biases
    )
    keys = checker.quantity_names(net)
    if claims is None:
        path = example_claims(str(spec)) if isinstance(spec, (str, Path)) else None
        if path is None:
            raise TutorError("give the claims: only a built-in example has its own transcribed claims", where)
        parsed = checker.load_claims(path, keys)
    elif isinstance(claims, (str, Path)):
        parsed = checker.load_claims(claims, keys)
    elif isinstance(claims, Mapping):
        table = claims if "claim" in claims else {"claim": [{"quantity": q, "value": v} for q, v in claims.items()]}
        parsed = checker.parse_claims(table, "claims", keys)
    elif isinstance(claims, Sequence):
        parsed = checker.parse_claims({"claim": list(claims)}, "claims", keys)
    else:
        raise TutorError(
            f"expected a claims file, a mapping or a list of claim tables, got {type(claims).__name__}", where
        )
    return CheckReport(checker.check(net, parsed))


def quiz(
    spec: Any = None,
    *,
    seed: int | None = None,
    shape: str | Sequence[int] | None = None,
    activation: str | None = None,
    output_activation: str | None = None,
    loss: str | None = None,
    digits: int | None = None,
    rounding: str | None = None,
    tolerance: str | None = None,
    sections: Sequence[str] | None = None,
    layer: int | None = None,
    neuron: str | None = None,
    param: str | None = None,
    everything: bool = False,
    tries: int = 2,
    hint_cost: float = 1 / 3,
) -> Any:
    """A quiz on one training step, as ``backprop-tutor quiz``: returns a ``tutor.teach.quiz.Quiz`` to answer.

    ``spec`` is a network, spec file or built-in example; without it the network is a random one (``seed``,
    ``shape`` such as ``"2-2-1"``, ``activation``, ``output_activation``, ``loss``). ``digits`` is the decimals every
    value is rounded to and carried, ``rounding`` "as-printed" (default) or "exact", ``tolerance`` "4dp" or "3sf".
    ``sections`` (forward, error, backward, gradients, updates), ``layer`` (1-based), ``neuron`` and ``param``
    aim it, as ``--section`` and the others do; ``everything=True`` also asks the values that only copy another;
    ``tries`` is how many answers a question takes before its value is shown; ``hint_cost`` the share of a
    question's point each rung of the hint ladder costs (0: free).
    ``quiz.current`` is the question; ``quiz.respond(text)`` grades an answer (or "h" for a hint, "s" to skip).
    The quiz module is loaded on the first call. ``tutor.teach.quiz`` and ``tutor.api.quiz`` are this function.

    >>> from tutor.api import quiz
    >>> q = quiz("appendix-a", digits=4)
    >>> q.current.label, q.respond("1.94").verdict, q.current.label
    ('s', 'correct', 'Predicted')
    """
    from .teach import quiz as module
    from .teach import randomnet
    from .teach.diagnose import Tolerance

    where = "quiz()"
    shaping = {
        "shape": "-".join(map(str, shape)) if isinstance(shape, Sequence) and not isinstance(shape, str) else shape,
        "activation": activation,
        "output_activation": output_activation,
        "loss": loss,
    }
    if spec is None:
        seed = randomnet.new_seed() if seed is None else seed
        made = randomnet.make(seed, randomnet.options(**shaping, digits=digits))
        net, origin = made.network, module.random_origin(made)
    else:
        if seed is not None or any(v is not None for v in shaping.values()):
            raise TutorError("give either a spec or the random network's seed and shape, not both", where)
        net = _network(spec, where)
        origin = {"spec": str(spec)} if isinstance(spec, (str, Path)) else {}
    tol = Tolerance.parse(tolerance, digits or net.conventions.digits, option="tolerance")
    return module.Quiz(
        net,
        tol,
        digits=digits,
        rounding=rounding,
        origin=origin,
        sections=sections,
        layer=layer,
        neuron=neuron,
        param=param,
        everything=everything,
        tries=tries,
        hint_cost=hint_cost,
    )


def self_check(spec: Any = None, **options: Any) -> SelfCheck:
    """The quiz of :func:`quiz` (same arguments) as a self-check page: answer boxes graded in the browser.

    Jupyter shows it as the cell's output; ``.save("page.html")`` writes the offline page.
    """
    return SelfCheck(quiz(spec, **options))
