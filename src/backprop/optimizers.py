"""Optimizers: in-place updates of the network's one flat parameter buffer.

An optimizer sees the whole network as two vectors, the parameters ``θ`` and
the gradient ``∂L/∂θ``, so a step is a few ufunc calls however many layers
there are. The seed's weight update ``Δw = η δ x`` is ``θ ← θ − η ∂L/∂θ``.
"""

from __future__ import annotations

from typing import Any

from ._validation import FloatArray, check_positive


class Optimizer:
    """Base class: ``step(parameters, gradient)`` updates ``parameters`` in place.

    ``step`` may overwrite ``gradient``, which the next backward pass refills.
    """

    def __init__(self, lr: float) -> None:
        self.lr = check_positive(lr, "lr")

    def step(self, parameters: FloatArray, gradient: FloatArray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue from here (hyper-parameters and buffers)."""
        return {"lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = check_positive(state["lr"], "lr")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr!r})"


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``θ ← θ − lr · ∂L/∂θ``.

    Parameters
    ----------
    lr : float
        The learning rate ``η`` (> 0).
    """

    def step(self, parameters: FloatArray, gradient: FloatArray) -> None:
        # The weight update Δθ = −η ∂L/∂θ, formed in the gradient buffer: no temporary.
        gradient *= self.lr
        parameters -= gradient


__all__ = ["SGD", "Optimizer"]
