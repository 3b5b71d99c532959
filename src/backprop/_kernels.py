"""Optional compiled kernels: one pass over the flat buffers where numpy needs several.

An Adam step in numpy is ten passes over arrays the size of ``θ`` (each ufunc
reads and writes whole buffers); on a network of a few million parameters
those passes cost more than the matrix multiplications of the step. With
numba installed (``pip install 'backprop[fast]'``) the same arithmetic runs in
one loop over the elements.

Each kernel performs exactly the floating-point operations of the numpy path,
in the same order and in the same precision, with a rounding after every one
(no fused multiply-add, no reassociation: numba's default, not ``fastmath``),
so both paths give bit-identical parameters. The numpy path is the fallback
and the reference; ``BACKPROP_NUMBA=0`` in the environment selects it.

Kernels are compiled on first use (a few seconds once, then loaded from numba's
on-disk cache); if numba cannot compile them here, the numpy path is used.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

_kernels: dict[str, Callable[..., None]] | None = None


def enabled() -> bool:
    """True when the compiled kernels are used (numba importable, not switched off)."""
    return _load() is not None


def get(name: str) -> Callable[..., None] | None:
    """The compiled kernel ``name``, or None to take the numpy path."""
    kernels = _load()
    return None if kernels is None else kernels[name]


def _load() -> dict[str, Callable[..., None]] | None:
    global _kernels
    if _kernels is None:
        _kernels = {} if os.environ.get("BACKPROP_NUMBA", "1") == "0" else _compile()
    return _kernels or None


def _compile() -> dict[str, Callable[..., None]]:
    try:
        import numba
    except ImportError:
        return {}
    import numpy as np

    # error_model="numpy": a division by zero gives inf as in numpy, and the
    # loop stays free of the per-element checks that would stop vectorization.
    jit: Any = numba.njit(cache=True, nogil=True, error_model="numpy")

    @jit  # type: ignore[untyped-decorator]
    def adam(
        parameters: Any,
        gradient: Any,
        m: Any,
        v: Any,
        decay: Any,
        weight_decay: Any,
        decoupled: bool,
        coupled: bool,
        beta1: Any,
        one_minus_beta1: Any,
        beta2: Any,
        one_minus_beta2: Any,
        eps_c: Any,
        step_size: Any,
    ) -> None:
        # The numpy path of Adam._update, element by element (see optimizers.py).
        for i in range(parameters.shape[0]):
            p = parameters[i]
            g = gradient[i]
            if decoupled:
                p = p * decay  # AdamW: θ (1 − η λ)
            if coupled:
                g = g + p * weight_decay  # Adam's L2: g + λ θ
            mi = m[i] * beta1 + g * one_minus_beta1
            vi = v[i] * beta2 + (g * g) * one_minus_beta2
            m[i] = mi
            v[i] = vi
            parameters[i] = p - (mi / (np.sqrt(vi) + eps_c)) * step_size

    @jit  # type: ignore[untyped-decorator]
    def momentum(parameters: Any, gradient: Any, velocity: Any, mu: Any, lr: Any, nesterov: bool) -> None:
        # SGD with momentum: b ← μ b + g; θ ← θ − η b (or η (g + μ b), Nesterov).
        for i in range(parameters.shape[0]):
            b = velocity[i] * mu + gradient[i]
            velocity[i] = b
            d = gradient[i] + b * mu if nesterov else b
            parameters[i] = parameters[i] - d * lr

    kernels = {"adam": adam, "momentum": momentum}
    try:
        # Compile (or load from the cache) both precisions now: a numba that
        # cannot compile here must leave the numpy path, not fail a fit midway.
        # A cache folder that cannot be written only costs the next compile.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaWarning)
            for dtype in (np.float32, np.float64):
                one = dtype(1)
                buffers = [np.zeros(2, dtype) for _ in range(4)]
                adam(*buffers, one, one, False, False, one, one, one, one, one, one)
                momentum(*buffers[:3], one, one, False)
    except Exception:  # any failure of the compiler: numpy does the same work
        return {}
    return kernels
