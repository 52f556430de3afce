"""The words a walk-through says about each kind of step, written once per kind and shown where that kind of
step first occurs (``--no-prose`` leaves them out)."""

from __future__ import annotations

EXPLAIN = {
    "forward": (
        "Each neuron adds up its inputs, each times the weight of its connection, plus its bias: that is its net "
        "input. Its activation function turns the net input into the neuron's output, which the next layer reads."
    ),
    "loss": (
        "The error compares the outputs with the targets. Backpropagation asks how much the error changes when "
        "each weight changes a little, and answers it with the chain rule, from the output back to the input."
    ),
    "factor": (
        "A chain-rule factor, the derivative of one quantity by the one it is computed from, measures how "
        "strongly the first responds to a small change of the second; multiplying the factors along the way from "
        "a weight to the error gives how strongly the error responds to that weight."
    ),
    "delta": (
        "The derivative of the error by a neuron's net input is the neuron's delta. Every weight into the neuron "
        "shares it: a weight's gradient is the delta times the input the weight multiplies."
    ),
    "sum": (
        "A hidden neuron's output feeds every neuron of the next layer, so a change of it reaches the error along "
        "each of those connections: the derivative of the error by its output is the sum, over every downstream "
        "neuron, of that neuron's delta times the weight between them."
    ),
    "old": (
        "The weights used here are the old ones, from before this step's update: every gradient of one step "
        "belongs to the same network, the one whose error was computed."
    ),
    "old-updated": (
        "The weights used here are the ones already updated in this step (the convention of this handout), so "
        "the hidden deltas differ slightly from those of the network whose error was computed."
    ),
    "update": (
        "The update moves the weight a small step against its gradient, new = old - learning rate x gradient, "
        "which lowers the error for this example when the step is small enough."
    ),
    "weightless": (
        "A layer without weights passes each value it reads on as the net input of one of its neurons, "
        "unchanged: there is no weight and no bias to add, only the activation function to apply."
    ),
    "no_params": (
        "This network has no weights and no biases, so this step updates nothing: what backpropagation "
        "computes here is the gradient of the loss with respect to the given inputs (the scores), above."
    ),
    "brief": (
        "This handout walks through the first neuron and the first weight of each layer in full; every other "
        "value of the layer is computed the same way and listed in the table after it."
    ),
}
