"""The seed's algorithm as a learner would write it: plain numpy, new arrays everywhere.

The seed trains a 3-2-1 sigmoid network by hand; these functions are the same
lines for any number of dense layers and any activation of the library, on a
batch of samples (rows). There is no buffer, no kernel and no flat parameter
vector here: :mod:`backprop.step` is the engine, and ``tests/test_textbook.py``
checks that it computes these numbers. :func:`backprop.explain` shows them.

Shapes: ``x`` is ``(n_samples, n_inputs)``, ``W[l]`` is ``(n_in, n_out)``,
every ``h``, ``a`` and ``δ`` of a layer is ``(n_samples, n_out)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import FloatArray
from .activations import Activation, Softmax
from .losses import LOSSES, Loss


def forward_pass(
    weights: Sequence[FloatArray], biases: Sequence[FloatArray | None], activations: Sequence[Activation], x: FloatArray
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Every layer's input ``h = a·W + b`` (the seed's ``hidden_layer_input``) and output ``a = f(h)``.

    The output of one layer is the input ``a`` of the next; the first layer's is ``x``.
    """
    layer_inputs: list[FloatArray] = []
    layer_outputs: list[FloatArray] = []
    a = x
    for W, b, f in zip(weights, biases, activations, strict=True):
        h = a @ W if b is None else a @ W + b
        a = f.forward(h, np.empty_like(h), np.empty_like(h))  # f(h), into a new array
        layer_inputs.append(h)
        layer_outputs.append(a)
    return layer_inputs, layer_outputs


def times_derivative(f: Activation, error: FloatArray, h: FloatArray, a: FloatArray) -> FloatArray:
    """``error ⊙ f'(h)``; for softmax, whose ``f'`` is a Jacobian per sample, the product with it."""
    if isinstance(f, Softmax):
        # Σ_j error_j ∂a_j/∂h_k = a_k (error_k − Σ_j error_j a_j), without building the Jacobian.
        return f.backward(error.copy(), h, a, np.empty_like(a))
    return error * f.derivative(h, a)


def output_error_term(loss: Loss, f: Activation, y: FloatArray, output: FloatArray, h: FloatArray) -> FloatArray:
    """``δᵒ = (y − ŷ) ⊙ f'(h)``: the seed's ``output_error_term = error * output * (1 − output)``.

    For a loss on its own output activation (crossentropy on softmax, binary
    crossentropy on sigmoid) ``f'`` cancels: ``δᵒ = y − ŷ``. A loss of your
    own (a subclass) gives its own ``∂ℓ/∂h``, negated.
    """
    if type(loss) not in LOSSES.values():
        return -loss.output_gradient(h, output, y, f, np.empty_like(output), np.empty_like(output))
    error = y - output
    if loss.requires_fused:
        return error
    return times_derivative(f, error, h, output)


def hidden_error_term(
    error_term_above: FloatArray, W_above: FloatArray, f: Activation, h: FloatArray, a: FloatArray
) -> FloatArray:
    """``δʰ = (δ · Wᵀ) ⊙ f'(h)``: the seed's ``δʰ = W δᵒ f'(h)``, from the error term of the layer above."""
    return times_derivative(f, error_term_above @ W_above.T, h, a)


def weight_update(learning_rate: float, x: FloatArray, error_term: FloatArray, share: FloatArray | float) -> FloatArray:
    """``ΔW = η · xᵀ · δ``, the seed's ``Δw = η δ x``, each sample counted by its ``share`` (``1/n``, or ``w/Σw``).

    ``x`` is the layer's input (the ``a`` of the layer below, or the data).
    """
    update: FloatArray = learning_rate * (x.T @ (share * error_term))
    return update


def bias_update(learning_rate: float, error_term: FloatArray, share: FloatArray | float) -> FloatArray:
    """``Δb = η · Σ δ``, each sample counted by its ``share``: the update of a weight whose input is always 1."""
    update: FloatArray = learning_rate * (share * error_term).sum(axis=0)
    return update


@dataclass
class Backpropagation:
    """Every quantity of one step, per layer (index 0 is the first layer)."""

    layer_inputs: list[FloatArray]  # h
    layer_outputs: list[FloatArray]  # a = f(h); the last is ŷ
    error_terms: list[FloatArray]  # δ, per sample
    weight_updates: list[FloatArray]  # ΔW
    bias_updates: list[FloatArray | None]  # Δb


def backpropagate(
    weights: Sequence[FloatArray],
    biases: Sequence[FloatArray | None],
    activations: Sequence[Activation],
    loss: Loss,
    x: FloatArray,
    y: FloatArray,
    learning_rate: float,
    share: FloatArray | float,
) -> Backpropagation:
    """One forward and backward pass: the error terms and the weight updates of every layer.

    ``W ← W + ΔW`` and ``b ← b + Δb`` is then one step of gradient descent on the mean loss.
    """
    h, a = forward_pass(weights, biases, activations, x)
    last = len(weights) - 1
    deltas = [output_error_term(loss, activations[last], y, a[last], h[last])]
    for l in range(last - 1, -1, -1):
        deltas.insert(0, hidden_error_term(deltas[0], weights[l + 1], activations[l], h[l], a[l]))
    inputs = [x, *a[:-1]]
    return Backpropagation(
        layer_inputs=h,
        layer_outputs=a,
        error_terms=deltas,
        weight_updates=[weight_update(learning_rate, xi, d, share) for xi, d in zip(inputs, deltas, strict=True)],
        bias_updates=[
            None if b is None else bias_update(learning_rate, d, share) for b, d in zip(biases, deltas, strict=True)
        ],
    )


__all__ = [
    "Backpropagation",
    "backpropagate",
    "bias_update",
    "forward_pass",
    "hidden_error_term",
    "output_error_term",
    "times_derivative",
    "weight_update",
]
