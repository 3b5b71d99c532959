"""Optimizers: in-place updates of the network's one flat parameter buffer.

An optimizer sees the whole network as two vectors, the parameters ``θ`` and
the gradient ``g = ∂L/∂θ``, so a step is a few ufunc calls however many layers
there are. The seed's weight update ``Δw = η δ x`` is ``θ ← θ − η g``; the
optimizers below differ in how they turn ``g`` into the step ``Δθ``.

Every update rule, default and order of operations follows ``torch.optim``
(``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``), so the two agree step
for step to round-off. The running state (momentum, moment estimates, sums of
squares) lives in flat buffers the size of ``θ``, allocated at the first step
with the parameters' dtype; after that a step allocates nothing.

``lr`` is a plain attribute: a learning-rate schedule sets ``optimizer.lr``
before each epoch. ``state_dict()`` / ``load_state_dict()`` save and restore
everything a run needs to continue bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from . import _buffers
from ._validation import (
    FLOAT_DTYPES,
    FloatArray,
    check_bool,
    check_count,
    check_finite,
    check_interval,
    check_positive,
    shown,
    shown_briefly,
)
from .errors import BackpropTypeError, DataError, ParameterError, ShapeError

# The learning rate `get_optimizer("sgd")` gives, the same as `fit`'s default SGD(0.01).
DEFAULT_SGD_LR = 0.01
#: The most steps a restored state may count (float64 counts integers exactly up to here).
MAX_STEPS = 2**53
#: A compiled update rule (:meth:`Optimizer.compiled_step`).
Kernel = Callable[..., Any]


def jsonable(value: Any) -> Any:
    """Hyper-parameters as JSON scalars (a tuple such as ``betas`` as a list)."""
    if isinstance(value, tuple | list):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Optimizer:
    """Base class: ``step(parameters, gradient)`` updates ``parameters`` in place.

    Subclasses name their hyper-parameters in ``hyper_parameters`` (each one a
    constructor argument stored under the same attribute), their state buffers
    in ``_buffer_names()``, and implement ``_update``. ``step`` may overwrite
    ``gradient``, which the next backward pass refills.

    Parameters
    ----------
    lr : float
        The learning rate ``η`` (> 0).

    Attributes
    ----------
    lr : float
        The learning rate of the next step; a schedule may change it between epochs.
    steps : int
        The number of steps taken (``t`` in the update rules).
    """

    name: ClassVar[str] = "optimizer"
    hyper_parameters: ClassVar[tuple[str, ...]] = ("lr",)
    # Buffers that hold running sums of squares: never negative.
    _non_negative_buffers: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()

    def __init__(self, lr: float) -> None:
        self.lr = check_positive(lr, "lr")
        self.steps = 0
        self._buffers: dict[str, FloatArray] = {}
        self._scratch: FloatArray = np.empty(0)

    # -- the step -------------------------------------------------------------

    def step(self, parameters: FloatArray, gradient: FloatArray) -> None:
        """Apply one update ``θ ← θ + Δθ`` to ``parameters`` in place.

        Parameters
        ----------
        parameters : ndarray of shape (n_parameters,), float32 or float64
            The network's flat parameter buffer ``θ``, updated in place.
        gradient : ndarray of shape (n_parameters,)
            ``∂L/∂θ``; may be overwritten.
        """
        self._prepare(parameters, gradient)
        self.steps += 1
        self._update(parameters, gradient)

    def compiled_step(self, kernel: Kernel, parameters: FloatArray, gradient: FloatArray, backup: FloatArray) -> None:
        """:meth:`step` by ``kernel``, this rule compiled (:mod:`backprop._fast`'s, for SGD with momentum, Adam,
        AdamW): one pass over ``θ``, ``g``, the state and ``backup`` (``θ`` saved), with the numpy path's bits."""
        raise NotImplementedError(f"{type(self).__name__} has no compiled step")

    def compiled_arguments(self, parameters: FloatArray, gradient: FloatArray) -> tuple[Any, ...]:
        """The state and hyper-parameters :meth:`compiled_step` gives its kernel, for a step counted from now
        (a caller that does not take it sets ``steps`` back). SGD: ``(b, μ, η, nesterov)``; Adam: ``(m, v,
        hyper, decoupled, coupled)``. For :mod:`backprop._fast`'s step in one call, which runs the kernel
        itself, once :meth:`holds_state_for` (nothing then allocated or converted, before the step is known)."""
        raise NotImplementedError(f"{type(self).__name__} has no compiled step")

    def holds_state_for(self, parameters: FloatArray) -> bool:
        """Whether each state buffer the next step uses is held, of ``parameters``' shape and precision."""
        held = [self._buffers.get(key) for key in self._buffer_names()]
        return all(b is not None and b.shape == parameters.shape and b.dtype == parameters.dtype for b in held)

    def _update(self, parameters: FloatArray, gradient: FloatArray) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement step or _update")

    def _buffer_names(self) -> tuple[str, ...]:
        """The state buffers these hyper-parameters need (saved by ``state_dict``)."""
        return ()

    def _initial_value(self, buffer: str) -> float:
        return 0.0

    def _needs_scratch(self) -> bool:
        return True

    def _prepare(self, parameters: FloatArray, gradient: FloatArray) -> None:
        """Check the buffers, and allocate the state on the first step (only then)."""
        if not isinstance(parameters, np.ndarray) or parameters.ndim != 1 or parameters.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"parameters must be a 1-D float32 or float64 array, got {parameters!r:.80}")
        if not isinstance(gradient, np.ndarray) or gradient.shape != parameters.shape:
            shape = getattr(gradient, "shape", type(gradient).__name__)
            raise ShapeError(f"gradient must have the shape of parameters {parameters.shape}, got {shape}")
        size, dtype = parameters.shape[0], parameters.dtype
        if self._buffers:
            held = next(iter(self._buffers.values()))
            if held.shape[0] != size:
                raise ShapeError(
                    f"{type(self).__name__} holds state for {held.shape[0]} parameters but was given {size}; "
                    "use a new optimizer for each network"
                )
            if held.dtype != dtype:
                # Restored from a state of the other precision: cast once, here.
                self._buffers = {key: self._placed(key, buffer, dtype) for key, buffer in self._buffers.items()}
        for slot, key in enumerate(self._buffer_names(), start=_buffers.STATE):
            if key not in self._buffers:  # the first step (or momentum switched on since)
                self._buffers[key] = _buffers.full(size, self._initial_value(key), dtype, slot)
        if self._needs_scratch() and (self._scratch.shape != parameters.shape or self._scratch.dtype != dtype):
            self._scratch = _buffers.empty(size, dtype, _buffers.OPTIMIZER_SCRATCH)

    def _placed(self, key: str, values: FloatArray, dtype: np.dtype[Any]) -> FloatArray:
        """A copy of the state buffer ``key`` at its own page offset (see ``_buffers``)."""
        names = self._buffer_names()
        placed = _buffers.empty(values.shape, dtype, _buffers.STATE + (names.index(key) if key in names else 0))
        placed[...] = values
        return placed

    def _decay(self, parameters: FloatArray, gradient: FloatArray, weight_decay: float) -> None:
        """The L2 penalty ``½ λ ‖θ‖²`` folded into the gradient: ``g ← g + λ θ``."""
        if weight_decay:
            np.multiply(parameters, weight_decay, out=self._scratch)
            gradient += self._scratch

    # -- saving and restoring -----------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue from here.

        Returns
        -------
        dict
            ``"name"``, the hyper-parameters (JSON scalars; ``betas`` as a
            list), ``"step"`` (the number of steps taken) and, once the first
            step has allocated them, the state buffers as copies (ndarrays of
            shape ``(n_parameters,)``).
        """
        state: dict[str, Any] = {"name": self.name}
        state.update({key: jsonable(getattr(self, key)) for key in self.hyper_parameters})
        state["lr"] = float(self.lr)
        state["step"] = self.steps
        state.update({key: buffer.copy() for key, buffer in self._buffers.items()})
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, so the next step is the one that would have followed.

        The state is checked whole before anything changes: its name, its keys,
        every hyper-parameter (by the constructor's rules), the step count, and
        the buffers (1-D float arrays of one shape and dtype, finite).
        The step count is at most 2**53.
        """
        if not isinstance(state, Mapping):
            raise BackpropTypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        if state.get("name") != self.name:
            raise ParameterError(f"state is for optimizer {state.get('name')!r}, not {self.name!r}")
        required = {"name", "step", *self.hyper_parameters}
        missing = sorted(required - set(state))
        if missing:
            raise ParameterError(f"{self.name} state is missing {missing}")
        # The schedule may have taken lr down to 0; the other hyper-parameters
        # go through the constructor's checks on a fresh instance.
        lr = check_interval(state["lr"], "lr", 0.0, None)
        hyper = {key: state[key] for key in self.hyper_parameters if key != "lr"}
        fresh = type(self)(lr=1.0, **hyper)
        steps = check_count(state["step"], "step")
        if steps > MAX_STEPS:  # t is used as a float (β^t, the decays); far beyond, converting it overflows
            raise ParameterError(f"step must be at most 2**53, got step={shown_briefly(steps)}")
        names = fresh._buffer_names() if steps else ()
        absent = sorted(set(names) - set(state))
        if absent:
            raise ParameterError(f"{self.name} state after {steps} steps is missing the buffers {absent}")
        unexpected = sorted(set(state) - required - set(names))
        if unexpected:
            raise ParameterError(
                f"{self.name} state has unexpected entries {unexpected}; expected {sorted(required | set(names))}"
            )
        buffers: dict[str, FloatArray] = {}
        for key in names:
            value = state[key]
            if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype not in FLOAT_DTYPES:
                raise ShapeError(f"{self.name} state {key!r} must be a 1-D float32 or float64 array, got {value!r:.80}")
            check_finite(value, f"{self.name} state {key!r}")
            if key in self._non_negative_buffers and value.size and value.min() < 0:
                raise DataError(f"{self.name} state {key!r} is a sum of squares, got a negative value {value.min():g}")
            buffers[key] = fresh._placed(key, value, value.dtype)
        if len({(b.shape, b.dtype) for b in buffers.values()}) > 1:
            layout = {key: f"{b.shape} {b.dtype}" for key, b in buffers.items()}
            raise ShapeError(f"{self.name} state buffers must share one shape and dtype, got {layout}")

        for key in self.hyper_parameters:
            setattr(self, key, getattr(fresh, key))
        self.lr = lr
        self.steps = steps
        self._buffers = buffers
        self._scratch = np.empty(0)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={getattr(self, key)!r}" for key in self.hyper_parameters)
        return f"{type(self).__name__}({arguments})"


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum and L2 weight decay.

    The update of step ``t`` (as ``torch.optim.SGD`` with ``dampening=0``):

    .. math::

        g_t &= ∂L/∂θ + λ θ_{t-1}                       \\
        b_t &= μ b_{t-1} + g_t \quad (b_1 = g_1)          \\
        d_t &= g_t + μ b_t \ \text{(nesterov)}, \quad b_t \ \text{(otherwise)},
                \quad g_t \ \text{(μ = 0)}              \\
        θ_t &= θ_{t-1} − η d_t

    With ``momentum=0`` and ``weight_decay=0`` this is the seed's weight update
    ``Δθ = −η ∂L/∂θ``.

    Parameters
    ----------
    lr : float
        The learning rate ``η`` (> 0).
    momentum : float, default 0.0
        ``μ`` in [0, 1).
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float, default 0.0
        ``λ`` (>= 0), an L2 penalty ``½ λ ‖θ‖²`` added to the loss.
    """

    hyper_parameters = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = check_interval(momentum, "momentum", 0.0, 1.0)
        self.nesterov = check_bool(nesterov, "nesterov")
        self.weight_decay = check_interval(weight_decay, "weight_decay", 0.0, None)
        if self.nesterov and not self.momentum:
            raise ParameterError("nesterov=True needs momentum > 0, got momentum=0.0")

    def _buffer_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    def _needs_scratch(self) -> bool:
        return bool(self.weight_decay) or self.nesterov

    def _bounds_after_step(
        self, g: float, state: tuple[float, ...], theta: float, tiny: float
    ) -> tuple[tuple[float, ...], float, tuple[float, ...]]:
        """Bounds on ``max |b|`` and ``max |θ|`` after the next step, from bounds on ``|g|``, ``|b|``, ``|θ|``;
        and every other value the step computes or rounds to the parameters' precision (see :class:`Headroom`)."""
        lr, mu, weight_decay = float(self.lr), float(self.momentum), float(self.weight_decay)
        if not (lr >= tiny and (weight_decay == 0 or weight_decay >= tiny) and (mu == 0 or tiny <= mu < 1)):
            return state, math.inf, ()  # outside the constructor's ranges (set since), or subnormal
        decay = weight_decay * theta
        g += decay  # g + λ θ
        b = mu * (state[0] if state else 0.0) + g
        d = g + mu * b if self.nesterov else b if mu else g
        return ((b,) if mu else ()), theta + lr * d, (lr, weight_decay, decay, g, d, lr * d)

    def compiled_step(self, kernel: Kernel, parameters: FloatArray, gradient: FloatArray, backup: FloatArray) -> None:
        velocity, mu, lr, nesterov = self.compiled_arguments(parameters, gradient)
        kernel(parameters, gradient, velocity, backup, mu, lr, nesterov)

    def compiled_arguments(self, parameters: FloatArray, gradient: FloatArray) -> tuple[Any, ...]:
        self._prepare(parameters, gradient)
        self.steps += 1
        self._decay(parameters, gradient, self.weight_decay)
        cast = parameters.dtype.type
        return self._buffers["momentum_buffer"], cast(self.momentum), cast(self.lr), self.nesterov

    def _update(self, parameters: FloatArray, gradient: FloatArray) -> None:
        momentum = self.momentum
        self._decay(parameters, gradient, self.weight_decay)
        direction = gradient
        if momentum:
            # b ← μ b + g; the buffer starts at 0, so b₁ = g₁ exactly (torch clones g₁).
            velocity = self._buffers["momentum_buffer"]
            velocity *= momentum
            velocity += gradient
            if self.nesterov:
                # d = g + μ b
                np.multiply(velocity, momentum, out=self._scratch)
                gradient += self._scratch
            else:
                direction = velocity
        # The weight update Δθ = −η d, formed in the gradient buffer: no temporary.
        np.multiply(direction, float(self.lr), out=gradient)
        parameters -= gradient


class Adam(Optimizer):
    r"""Adam: steps scaled by running estimates of the gradient's first two moments.

    The update of step ``t`` (as ``torch.optim.Adam``; ``m₀ = v₀ = 0``):

    .. math::

        g_t &= ∂L/∂θ + λ θ_{t-1}                                   \\
        m_t &= β_1 m_{t-1} + (1 − β_1) g_t                           \\
        v_t &= β_2 v_{t-1} + (1 − β_2) g_t^2                         \\
        θ_t &= θ_{t-1} − \frac{η}{1 − β_1^t}
               \frac{m_t}{\sqrt{v_t} / \sqrt{1 − β_2^t} + ε}

    Note that ``ε`` is added after the bias correction of ``√v``, as in torch.

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate ``η`` (> 0).
    betas : (float, float), default (0.9, 0.999)
        The decay rates ``β₁, β₂`` of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        ``ε`` (> 0), keeps the denominator away from zero.
    weight_decay : float, default 0.0
        ``λ`` (>= 0), an L2 penalty added to the gradient (coupled: it is
        rescaled with the gradient; see :class:`AdamW` for the decoupled form).
    """

    hyper_parameters = ("lr", "betas", "eps", "weight_decay")
    _non_negative_buffers = frozenset({"exp_avg_sq"})
    _decoupled: ClassVar[bool] = False

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        if isinstance(betas, str) or not isinstance(betas, tuple | list | np.ndarray) or len(betas) != 2:
            raise ParameterError(f"betas must be a pair (beta1, beta2), got betas={shown(betas)}")
        self.betas = (
            check_interval(betas[0], "betas[0]", 0.0, 1.0),
            check_interval(betas[1], "betas[1]", 0.0, 1.0),
        )
        self.eps = check_positive(eps, "eps")
        self.weight_decay = check_interval(weight_decay, "weight_decay", 0.0, None)
        self._hyper: FloatArray = np.empty(8)  # the compiled step's constants (see compiled_step)
        self._constants: tuple[float, ...] = ()  # those of them that change only with the hyper-parameters

    def _buffer_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def compiled_step(self, kernel: Kernel, parameters: FloatArray, gradient: FloatArray, backup: FloatArray) -> None:
        m, v, hyper, decoupled, coupled = self.compiled_arguments(parameters, gradient)
        kernel(parameters, gradient, m, v, backup, hyper, decoupled, coupled)

    def compiled_arguments(self, parameters: FloatArray, gradient: FloatArray) -> tuple[Any, ...]:
        self._prepare(parameters, gradient)
        self.steps += 1
        lr, (beta1, beta2), t = float(self.lr), self.betas, self.steps
        c = (1 - beta2**t) ** 0.5  # as in _update
        hyper = self._hyper
        constants = (self.weight_decay, beta1, 1 - beta1, beta2, 1 - beta2)
        if hyper.dtype != parameters.dtype or constants != getattr(self, "_constants", ()):  # () if made before
            hyper = self._hyper = np.empty(8, parameters.dtype)
            hyper[1:6] = constants
            self._constants = constants
        # Each assignment rounds to the parameters' precision, as dtype.type(x) would.
        hyper[0] = 1 - lr * self.weight_decay
        hyper[6] = self.eps * c
        hyper[7] = lr * c / (1 - beta1**t)
        decay, m, v = bool(self.weight_decay), self._buffers["exp_avg"], self._buffers["exp_avg_sq"]
        return m, v, hyper, self._decoupled and decay, not self._decoupled and decay

    def _bounds_after_step(
        self, g: float, state: tuple[float, ...], theta: float, tiny: float
    ) -> tuple[tuple[float, ...], float, tuple[float, ...]]:
        """Bounds on ``max |m|``, ``max v`` and ``max |θ|`` after the next step, from bounds before it;
        and every other value the step computes or rounds to the parameters' precision (see :class:`Headroom`).

        ``|Δθ| = η c/(1 − β₁ᵗ) · |m| / (√v + ε c) ≤ η |m| / (ε (1 − β₁ᵗ))``,
        where ``ε c`` is rounded to the parameters' precision (within 2⁻²⁴ of
        it, when it is at least that precision's smallest normal number
        ``tiny``; below, there is no bound).
        """
        m, v = state or (0.0, 0.0)
        lr, (beta1, beta2), t, weight_decay = float(self.lr), self.betas, self.steps + 1, float(self.weight_decay)
        betas = (beta1 == 0 or tiny <= beta1 < 1) and (beta2 == 0 or tiny <= beta2 < 1)
        if not (betas and lr >= tiny and self.eps >= tiny and (weight_decay == 0 or weight_decay >= tiny)):
            return state, math.inf, ()  # outside the constructor's ranges (set since), or subnormal
        # AdamW: θ (1 − η λ), that factor rounded (a subnormal one up to the smallest normal number).
        shrink = max(abs(1 - lr * weight_decay), tiny) if self._decoupled else 1.0
        decay = 0.0 if self._decoupled else weight_decay * theta  # Adam: g + λ θ
        theta *= shrink
        g += decay
        m = beta1 * m + (1 - beta1) * g
        v = max(v, g * g)  # β₂ v + (1 − β₂) g²
        c = math.sqrt(1 - beta2**t)
        eps_c = self.eps * c * (1 - 2.0**-23)
        quotient = m / eps_c if eps_c >= tiny else math.inf
        step = max(lr * c / (1 - beta1**t), tiny)  # rounded, a subnormal one up to the smallest normal number
        return (m, v), theta + quotient * step, (weight_decay, shrink, decay, g, g * g, quotient, step)

    def _update(self, parameters: FloatArray, gradient: FloatArray) -> None:
        lr, (beta1, beta2), t = float(self.lr), self.betas, self.steps
        m, v, scratch = self._buffers["exp_avg"], self._buffers["exp_avg_sq"], self._scratch
        # Δθ = −η/(1 − β₁ᵗ) · m / (√v/c + ε) with c = √(1 − β₂ᵗ), written as
        # −(η c/(1 − β₁ᵗ)) · m / (√v + ε c): one pass fewer, the same value up to rounding.
        c = (1 - beta2**t) ** 0.5
        if self._decoupled:
            # AdamW: θ ← θ (1 − η λ), outside the moment estimates.
            if self.weight_decay:
                parameters *= 1 - lr * self.weight_decay
        else:
            self._decay(parameters, gradient, self.weight_decay)
        # m ← β₁ m + (1 − β₁) g
        m *= beta1
        np.multiply(gradient, 1 - beta1, out=scratch)
        m += scratch
        # v ← β₂ v + (1 − β₂) g², squaring g in its own buffer (it is not needed again)
        v *= beta2
        np.multiply(gradient, gradient, out=gradient)
        gradient *= 1 - beta2
        v += gradient
        np.sqrt(v, out=scratch)
        scratch += self.eps * c
        np.divide(m, scratch, out=gradient)
        gradient *= lr * c / (1 - beta1**t)
        parameters -= gradient


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter).

    The update of step ``t`` (as ``torch.optim.AdamW``):

    .. math::

        θ' &= θ_{t-1} (1 − η λ)                                      \\
        m_t &= β_1 m_{t-1} + (1 − β_1) g_t, \quad v_t = β_2 v_{t-1} + (1 − β_2) g_t^2 \\
        θ_t &= θ' − \frac{η}{1 − β_1^t} \frac{m_t}{\sqrt{v_t} / \sqrt{1 − β_2^t} + ε}

    with ``g_t = ∂L/∂θ`` (the decay does not pass through the moment estimates).

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate ``η`` (> 0).
    betas : (float, float), default (0.9, 0.999)
        The decay rates ``β₁, β₂`` of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        ``ε`` (> 0).
    weight_decay : float, default 1e-2
        ``λ`` (>= 0): each step shrinks ``θ`` by the factor ``1 − η λ``.
    """

    _decoupled = True

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay)


class Headroom:
    """Whether the next step of ``optimizer`` can make a parameter overflow: if not, ``fit`` need not save ``θ``.

    ``fit`` keeps a copy of ``θ`` from before a step, so that a step whose
    update overflows is undone (the network keeps its last finite
    parameters). For :class:`SGD`, :class:`Adam` and :class:`AdamW` (the exact
    types: a subclass may step otherwise) a step's size has a bound, carried
    from step to step from the largest ``|θ|`` and state (``|m|`` and ``v``,
    or the momentum) at the start: each element of the gradient is at most
    its 2-norm ``‖g‖``, Adam's ``|m|`` at most ``β₁ |m| + (1 − β₁) |g|``, its
    step at most ``η |m| / (ε (1 − β₁ᵗ))``, SGD's at most ``η (|g| + λ |θ|)``
    with its momentum. While these bounds, and every other value a step
    computes or rounds to the parameters' precision (``λ θ``, ``g²``, the
    step size, ``1 − η λ``, ``η``, ``λ``), stay below a quarter of the
    precision's largest number, no step can overflow and the copy is not
    written: a pass over ``θ`` saved (W1's update 0.36 ms a step against
    0.48, AMD EPYC, 2026-12-06). The bounds allow for rounding: ``‖g‖``
    from a sum of squares that rounded and may have underflowed, and each
    step's own (:data:`SLACK`, and the smallest normal number for
    subnormal ones). Beyond them, and for any other optimizer, every step
    saves ``θ`` first, and so does every step of a network of fewer than
    :data:`SMALLEST` parameters: there ``θ`` is in cache, and the copy in the
    update's own pass costs less than the bounds' arithmetic (W2's 15,210
    parameters: 0.65 µs a step against 6). A callback that changes ``θ``
    is not in the bounds: should it make ``θ`` overflow, the network goes
    back to the last copy, ``θ`` at the start of the fit or before a step
    that saved it.
    """

    #: A step's rounding: at most a few units of 2⁻²⁴ of the bounds (float32), four times over.
    SLACK = 1 + 2.0**-20
    #: Networks of fewer parameters save θ before every step.
    SMALLEST = 1 << 17

    def __init__(self, optimizer: Optimizer, parameters: FloatArray) -> None:
        self.limit = float(np.finfo(parameters.dtype).max) / 4
        self.tiny = float(np.finfo(parameters.dtype).tiny)
        # The relative error of a sum of n squares in the parameters' precision: at most e^(n u) − 1.
        self.rounding = math.exp(min(parameters.size * float(np.finfo(parameters.dtype).eps) / 2, 700.0))
        self.optimizer: SGD | Adam | None = None
        self.state: tuple[float, ...] = ()
        self.names: tuple[str, ...] = ()
        self.theta = math.inf
        exact = type(optimizer) in (SGD, Adam, AdamW)  # a subclass may step otherwise
        if not exact or not isinstance(optimizer, SGD | Adam) or parameters.size < self.SMALLEST:
            return
        largest = {name: _largest(buffer) for name, buffer in optimizer._buffers.items()}
        self.names = optimizer._buffer_names()  # the state the bounds follow (SGD's momentum may be switched)
        if all(math.isfinite(value) for value in largest.values()):
            self.optimizer, self.theta = optimizer, _largest(parameters)
            self.state = tuple(largest.get(name, 0.0) for name in self.names)

    def needs_copy(self, squared_norm: float) -> bool:
        """Carry the bounds over the coming step, whose gradient's squared 2-norm is ``squared_norm``.

        True when that step could make ``θ`` or the optimizer's state overflow: ``θ`` must be saved.
        """
        if self.optimizer is None:
            return True
        if self.optimizer._buffer_names() != self.names:  # a buffer the bounds do not follow: copy from here on
            self.optimizer = None
            return True
        # Each |g| ≤ ‖g‖: the sum of squares rounded (relative) and their underflow (below tiny), then twice that.
        gradient = 2 * math.sqrt(squared_norm * self.rounding + self.tiny)
        state, theta, others = self.optimizer._bounds_after_step(gradient, self.state, self.theta, self.tiny)
        # Each bound widened by a step's rounding, relative (SLACK) and absolute (tiny, for subnormal numbers).
        self.state = tuple([bound * self.SLACK + self.tiny for bound in state])
        self.theta = theta * self.SLACK + self.tiny
        # All of them magnitudes (≥ 0): their sum is below the limit only when each is, and a nan anywhere
        # (0 · ∞) makes it nan, which is not below: the copy then too.
        return not gradient + self.theta + sum(self.state) + sum(others) < self.limit


def _largest(values: FloatArray) -> float:
    """``max |x|`` without a temporary the size of ``values``; inf when one is not finite."""
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    return max(-low, high) if math.isfinite(low) and math.isfinite(high) else math.inf


class RMSprop(Optimizer):
    r"""RMSprop: steps divided by a running root mean square of the gradient.

    The update of step ``t`` (as ``torch.optim.RMSprop``; ``s₀ = ḡ₀ = b₀ = 0``):

    .. math::

        g_t &= ∂L/∂θ + λ θ_{t-1}                                   \\
        s_t &= α s_{t-1} + (1 − α) g_t^2                             \\
        ḡ_t &= α ḡ_{t-1} + (1 − α) g_t \quad \text{(centered only)}  \\
        r_t &= \sqrt{s_t − ḡ_t^2} + ε \ \text{(centered)}, \quad \sqrt{s_t} + ε \ \text{(otherwise)} \\
        b_t &= μ b_{t-1} + g_t / r_t, \quad θ_t = θ_{t-1} − η b_t \quad \text{(μ > 0)} \\
        θ_t &= θ_{t-1} − η g_t / r_t \quad \text{(μ = 0)}

    In the centered form ``s − ḡ²`` is clamped at 0 against round-off (where
    torch would take the square root of a tiny negative number and give NaN).

    Parameters
    ----------
    lr : float, default 1e-2
        The learning rate ``η`` (> 0).
    alpha : float, default 0.99
        The decay rate ``α`` of the running averages, in [0, 1).
    eps : float, default 1e-8
        ``ε`` (> 0).
    momentum : float, default 0.0
        ``μ`` in [0, 1).
    centered : bool, default False
        Divide by an estimate of the gradient's standard deviation instead of
        its root mean square.
    weight_decay : float, default 0.0
        ``λ`` (>= 0), an L2 penalty added to the gradient.
    """

    hyper_parameters = ("lr", "alpha", "eps", "momentum", "centered", "weight_decay")
    _non_negative_buffers = frozenset({"square_avg"})

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.alpha = check_interval(alpha, "alpha", 0.0, 1.0)
        self.eps = check_positive(eps, "eps")
        self.momentum = check_interval(momentum, "momentum", 0.0, 1.0)
        self.centered = check_bool(centered, "centered")
        self.weight_decay = check_interval(weight_decay, "weight_decay", 0.0, None)

    def _buffer_names(self) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.centered:
            names.append("grad_avg")
        if self.momentum:
            names.append("momentum_buffer")
        return tuple(names)

    def _update(self, parameters: FloatArray, gradient: FloatArray) -> None:
        lr, alpha, scratch = float(self.lr), self.alpha, self._scratch
        self._decay(parameters, gradient, self.weight_decay)
        # s ← α s + (1 − α) g²
        square_avg = self._buffers["square_avg"]
        square_avg *= alpha
        np.multiply(gradient, 1 - alpha, out=scratch)
        scratch *= gradient
        square_avg += scratch
        if self.centered:
            # ḡ ← α ḡ + (1 − α) g;  r = √max(s − ḡ², 0) + ε
            grad_avg = self._buffers["grad_avg"]
            grad_avg *= alpha
            np.multiply(gradient, 1 - alpha, out=scratch)
            grad_avg += scratch
            np.multiply(grad_avg, grad_avg, out=scratch)
            np.subtract(square_avg, scratch, out=scratch)
            np.maximum(scratch, 0.0, out=scratch)
            np.sqrt(scratch, out=scratch)
        else:
            # r = √s + ε
            np.sqrt(square_avg, out=scratch)
        scratch += self.eps
        if self.momentum:
            # b ← μ b + g / r;  the weight update Δθ = −η b
            velocity = self._buffers["momentum_buffer"]
            velocity *= self.momentum
            np.divide(gradient, scratch, out=scratch)
            velocity += scratch
            np.multiply(velocity, lr, out=gradient)
        else:
            # The weight update Δθ = −η g / r, formed in the gradient buffer.
            gradient *= lr
            gradient /= scratch
        parameters -= gradient


class Adagrad(Optimizer):
    r"""Adagrad: steps divided by the root of each parameter's sum of squared gradients.

    The update of step ``t`` (as ``torch.optim.Adagrad``; ``S₀`` = ``initial_accumulator_value``):

    .. math::

        g_t &= ∂L/∂θ + λ θ_{t-1}                    \\
        η_t &= η / (1 + (t − 1) κ)                   \\
        S_t &= S_{t-1} + g_t^2                        \\
        θ_t &= θ_{t-1} − η_t \, g_t / (\sqrt{S_t} + ε)

    Parameters
    ----------
    lr : float, default 1e-2
        The learning rate ``η`` (> 0).
    lr_decay : float, default 0.0
        ``κ`` (>= 0), the decay of the learning rate with the step count.
    weight_decay : float, default 0.0
        ``λ`` (>= 0), an L2 penalty added to the gradient.
    initial_accumulator_value : float, default 0.0
        ``S₀`` (>= 0), the starting sum of squares of every parameter.
    eps : float, default 1e-10
        ``ε`` (> 0).
    """

    hyper_parameters = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _non_negative_buffers = frozenset({"sum"})

    def __init__(
        self,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(lr)
        self.lr_decay = check_interval(lr_decay, "lr_decay", 0.0, None)
        self.weight_decay = check_interval(weight_decay, "weight_decay", 0.0, None)
        self.initial_accumulator_value = check_interval(
            initial_accumulator_value, "initial_accumulator_value", 0.0, None
        )
        self.eps = check_positive(eps, "eps")

    def _buffer_names(self) -> tuple[str, ...]:
        return ("sum",)

    def _initial_value(self, buffer: str) -> float:
        return self.initial_accumulator_value

    def _update(self, parameters: FloatArray, gradient: FloatArray) -> None:
        scratch = self._scratch
        self._decay(parameters, gradient, self.weight_decay)
        # η_t = η / (1 + (t − 1) κ)
        lr = float(self.lr) / (1 + (self.steps - 1) * self.lr_decay)
        # S ← S + g²
        squares = self._buffers["sum"]
        np.multiply(gradient, gradient, out=scratch)
        squares += scratch
        # The weight update Δθ = −η_t g / (√S + ε), formed in the gradient buffer.
        np.sqrt(squares, out=scratch)
        scratch += self.eps
        gradient *= lr
        gradient /= scratch
        parameters -= gradient


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


def get_optimizer(spec: str | Optimizer, lr: float | None = None) -> Optimizer:
    """Return the :class:`Optimizer` for a name or an instance.

    Parameters
    ----------
    spec : {"sgd", "adam", "adamw", "rmsprop", "adagrad"} or Optimizer
        A name gives a new optimizer with its default hyper-parameters (``"sgd"``
        has no default learning rate in its class; it gets 0.01 here, as in
        ``fit``). An instance is returned as it is.
    lr : float, optional
        The learning rate of a named optimizer.
    """
    if isinstance(spec, Optimizer):
        if lr is not None:
            raise ParameterError(f"lr={shown(lr)} applies to an optimizer name; {spec!r} already has its lr")
        return spec
    if isinstance(spec, str) and spec in OPTIMIZERS:
        cls = OPTIMIZERS[spec]
        if lr is None and cls is SGD:
            lr = DEFAULT_SGD_LR
        arguments = {} if lr is None else {"lr": lr}
        return cls(**arguments)
    if not isinstance(spec, str):
        raise BackpropTypeError(
            f"optimizer must be a name such as 'adam' or an Optimizer such as bp.Adam(1e-3), got {spec!r}"
        )
    raise ParameterError(f"Unknown optimizer {spec!r}; expected one of {sorted(OPTIMIZERS)}")


__all__ = ["OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "get_optimizer"]
