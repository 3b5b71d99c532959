"""Optional compiled kernels: one pass over the flat buffers where numpy needs several.

An Adam step in numpy is ten passes over arrays the size of ``θ`` (each ufunc
reads and writes whole buffers); on a network of a few million parameters
those passes cost more than the matrix multiplications of the step. With
numba installed (``pip install 'backprop[fast]'``) the same arithmetic runs in
one loop over the elements. On small networks the opposite holds: a step is
made of ~1 µs ufunc calls on arrays of a few thousand numbers, and the layer
kernels (bias and ReLU, the softmax's max and normalization, ``f'`` with the
bias gradient, the output error term, the loss) cut their number by half.

Each kernel performs exactly the floating-point operations of the numpy path,
in the same order and in the same precision, with a rounding after every one
(no fused multiply-add, no reassociation: numba's default, not ``fastmath``),
so both paths give bit-identical parameters. Sums are taken in numpy's order
(row by row for a bias gradient of two units or more; a single unit's,
which numpy adds pairwise, is left to numpy; numpy's pairwise blocks within
a softmax row), and exp stays numpy's (libm's rounds differently). The exceptions only
report: the crossentropy loss (its own vectorized exp and libm's log1p, within
~1e-13 of the numpy path, relative) and, when nothing clips the gradient, its
norms (reassociated sums, within ~1e-6). The numpy path is the fallback and
the reference; ``BACKPROP_NUMBA=0`` in the environment selects it. A
``fit`` whose numpy path would take under a second keeps it too unless the
kernels are loaded already (``_fast.step_for``: loading them costs more than
they save there); ``BACKPROP_NUMBA=1`` loads them for every ``fit``.

Kernels are compiled on first use (a few seconds once, then loaded from numba's
on-disk cache in a fraction of a second), every signature that training uses in
the network's precision at once; :func:`startup` says how long that took in
this process and whether anything was compiled. The cache is numba's:
``$NUMBA_CACHE_DIR`` when set, else the package's ``__pycache__`` when it can
be written, else the user's cache folder (``$XDG_CACHE_HOME/numba`` or
``~/.cache/numba``): never a read-only installed package (where numba can write
nowhere, it refuses to define a cached function, and the numpy path is used). A
kernel reaches another only through a module global, never a closure: numba
keys a function's cache entry by its pickled closure, a compiled function
pickles with an id drawn anew in each process, and such a kernel would compile
again, and add files to the cache, in every process. If numba cannot be
imported or cannot compile them here, for whatever reason (not installed, an
``OSError`` when LLVM cannot map its memory under a limit, a broken install
raising anything at import or compile), the numpy path is used: training never
fails for want of the compiled kernels.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_kernels: dict[str, Callable[..., Any]] | None = None
_LOADING = threading.Lock()
# The precisions whose signatures _kernels holds compiled (or loaded from the cache).
_ready: set[np.dtype[Any]] = set()

# What readying the kernels cost this process (see startup): seconds spent, and every
# compiled function made, whose statistics count the signatures compiled or loaded.
_spent: list[float] = []
_made: list[Any] = []

# Kernels that other kernels call, set by _build: a module global, unlike a closure's
# cell, leaves the caller's cache key the same in every process (see the docstring).
_argmax: Any = None
_exp_nonpositive: Any = None
_pread: Any = None

#: The derivative ``activation_backward`` applies.
RELU, TANH, SIGMOID = 0, 1, 2

# Per precision, what the kernels take besides the arrays: an empty array (an optional
# array that is absent) and the constants 1 and −0. Made once: making them on every
# call costs a quarter of a microsecond each, what a small layer's kernel takes.
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
NOTHING: dict[np.dtype[Any], np.ndarray[Any, Any]] = {dtype: np.empty(0, dtype) for dtype in _FLOATS}
ONE: dict[np.dtype[Any], Any] = {dtype: dtype.type(1) for dtype in _FLOATS}
NEGATIVE_ZERO: dict[np.dtype[Any], Any] = {dtype: dtype.type(-0.0) for dtype in _FLOATS}


def enabled(dtype: Any = None) -> bool:
    """True when the compiled kernels are used (numba importable, not switched off).

    Loads the kernels, for ``dtype`` (float32 or float64; both when None):
    ``fit`` asks for its network's precision alone, which halves the first
    compile and the loading from the cache of the runs after it.
    """
    return _load(dtype) is not None


def ready(dtype: Any = None) -> bool:
    """True when the kernels are loaded for ``dtype`` (None: both precisions) in this process already."""
    wanted = _FLOATS if dtype is None else (np.dtype(dtype),)
    return bool(_kernels) and _ready.issuperset(wanted)


def always() -> bool:
    """True when ``BACKPROP_NUMBA=1``: every ``fit`` loads the kernels, however short (see ``_fast.step_for``)."""
    return os.environ.get("BACKPROP_NUMBA") == "1"


def get(name: str) -> Callable[..., Any] | None:
    """The compiled kernel ``name``, or None to take the numpy path."""
    kernels = _load()
    return None if kernels is None else kernels[name]


def defined(name: str) -> Callable[..., Any] | None:
    """The compiled kernel ``name`` as defined, readied for no precision yet, or None (for :mod:`backprop._pool`)."""
    return _kernels.get(name) if _kernels else None


def loaded(name: str, dtype: Any) -> Callable[..., Any] | None:
    """The compiled kernel ``name`` if the kernels are ready for ``dtype`` (None: both precisions) already, else None.

    For the layer and loss kernels: ``fit`` readies the kernels for its
    precision, while a ``predict`` in a fresh process, or in the other
    precision, keeps the numpy path: it neither pays for importing numba nor
    compiles in the middle of a call (both paths give the same numbers).
    """
    return _kernels[name] if _kernels and ready(dtype) else None


@dataclass(frozen=True)
class Startup:
    """What readying the compiled kernels cost this process (see :func:`startup`).

    Attributes
    ----------
    seconds : float
        Importing numba and loading the kernels from numba's on-disk cache,
        or compiling those it does not hold.
    compiled : int
        Signatures compiled rather than loaded from the cache, in the whole
        process so far: 0 when the cache held every one.
    cache : str or None
        The folder of numba's cache for these kernels (None when nothing was loaded).
    """

    seconds: float
    compiled: int
    cache: str | None


def startup() -> Startup | None:
    """What readying the compiled kernels cost this process, or None when none is ready.

    None until something asks for them (:func:`enabled`, :func:`read_rows_kernel`),
    and with ``BACKPROP_NUMBA=0`` or a numba that cannot load them. Training
    time leaves this out: ``fit`` readies the kernels before its first epoch,
    and an application tells the two apart (``backprop train`` says both).
    Loads, compiles and waits for nothing.
    """
    made = list(_made)  # not under _LOADING: a compile in another thread is not waited for
    if not made:
        return None
    # numba's count of each function's signatures compiled (a cache miss) and its cache folder.
    stats = [kernel.stats for kernel in made if hasattr(kernel, "stats")]
    compiled = sum(sum(s.cache_misses.values()) for s in stats)
    cache = next((str(s.cache_path) for s in stats if s.cache_path), None)
    return Startup(seconds=sum(_spent), compiled=compiled, cache=cache)


def _timed(make: Callable[[], Any]) -> Any:
    """``make()``, its seconds added to what :func:`startup` reports (called holding ``_LOADING``)."""
    began = time.perf_counter()
    try:
        return make()
    finally:
        _spent.append(time.perf_counter() - began)


def timed(make: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """``make()``, a dict of compiled functions or None, counted in :func:`startup`: its seconds and signatures.

    For the compiled functions of other modules (:mod:`backprop._pool`).
    """
    made: dict[str, Any] | None = _timed(make)
    if made:
        _made.extend(made.values())
    return made


def _load(dtype: Any = None) -> dict[str, Callable[..., Any]] | None:
    wanted = _FLOATS if dtype is None else tuple(d for d in _FLOATS if d == np.dtype(dtype))
    if _kernels is None or (_kernels and not _ready.issuperset(wanted)):
        with _LOADING:  # fits starting in two threads compile once, not twice into one on-disk cache
            _prepare(wanted)
    return _kernels or None


def _prepare(wanted: tuple[np.dtype[Any], ...]) -> None:
    """Define the kernels once, then ready them for the precisions ``wanted`` (called holding ``_LOADING``)."""
    global _kernels
    if _kernels is None:
        _ready.clear()  # new kernels (tests set _kernels to None to define them again)
        _kernels = {} if os.environ.get("BACKPROP_NUMBA", "1") == "0" else _timed(_compile)
    for dtype in wanted:
        kernels = _kernels
        if kernels and dtype not in _ready:
            if _timed(functools.partial(_warm, kernels, dtype)):
                _ready.add(dtype)
            else:
                _kernels = {}  # numba cannot compile here: the numpy path from now on


_file_kernel: Callable[..., Any] | None = None
_file_kernel_tried = False


def read_rows_kernel() -> Callable[..., Any] | None:
    """The compiled gather of rows from a file, or None for :mod:`backprop.rowfiles`' Python path.

    ``read_rows(fd, address, start, row_bytes, rows) -> int`` reads row
    ``rows[i]`` of the matrix whose first row is at byte ``start`` of the file
    ``fd`` into the ``row_bytes`` bytes at ``address + i · row_bytes``, one
    libc ``pread`` per run of consecutive row numbers, and returns -1, or the
    index of the first row of the run it could not read whole (an error, or
    the end of the file: the Python path then reads again and says why).
    Bytes are copied, not computed: both paths give the same bytes.

    Compiled apart from the training kernels, on first use: a process that
    never reads a file by rows never compiles it; ``BACKPROP_NUMBA=0`` or a
    numba that cannot import, compile or find ``pread`` leaves the Python path.
    """
    global _file_kernel, _file_kernel_tried
    if not _file_kernel_tried:
        with _LOADING:
            if not _file_kernel_tried:
                if os.environ.get("BACKPROP_NUMBA", "1") != "0":
                    try:
                        _file_kernel = _timed(_build_read_rows)
                    except Exception:  # numba missing or broken, or no pread here: the Python path reads
                        _file_kernel = None
                _file_kernel_tried = True
    return _file_kernel


def _build_read_rows() -> Callable[..., Any]:
    """Compile :func:`read_rows_kernel`'s loop; raises what numba raises."""
    global _pread
    import numba
    from numba import types

    # libc's pread, called from the loop without the GIL: (fd, buffer, count, offset) → bytes read or -1.
    # The buffer is passed as an address (uintp: the same register as a pointer), so one
    # compilation serves every dtype; an external symbol, unlike a ctypes pointer, can be cached.
    _pread = types.ExternalFunction("pread", types.intp(types.intc, types.uintp, types.uintp, types.int64))

    signature = types.intp(types.intc, types.uintp, types.int64, types.int64, types.intp[::1])
    jit: Any = numba.njit(signature, cache=True, nogil=True)

    @jit  # type: ignore[untyped-decorator]
    def read_rows(fd: Any, address: Any, start: Any, row_bytes: Any, rows: Any) -> int:
        n = rows.shape[0]
        i = 0
        while i < n:
            j = i + 1
            while j < n and rows[j] == rows[j - 1] + 1:
                j += 1
            want = (j - i) * row_bytes
            done = 0
            while done < want:
                got = _pread(fd, address + i * row_bytes + done, want - done, start + rows[i] * row_bytes + done)
                if got <= 0:
                    return i
                done += got
            i = j
        return -1

    read_rows(-1, 0, 0, 8, np.zeros(1, np.intp))  # links pread now: a missing symbol fails here, not in a fit
    _made.append(read_rows)
    kernel: Callable[..., Any] = read_rows
    return kernel


def _compile() -> dict[str, Callable[..., Any]]:
    """The kernels, compiled on their first call, or an empty dict (the numpy path) when numba fails."""
    try:
        return _build()
    except Exception:  # numba missing or broken, at import or compile: numpy does the same work
        return {}


def _build() -> dict[str, Callable[..., Any]]:
    """Import numba and define the kernels (:func:`_warm` compiles them); raises what numba raises."""
    global _argmax, _exp_nonpositive
    import numba

    # error_model="numpy": a division by zero gives inf as in numpy, and the
    # loop stays free of the per-element checks that would stop vectorization.
    jit: Any = numba.njit(cache=True, nogil=True, error_model="numpy")

    @jit  # type: ignore[untyped-decorator]
    def adam(
        parameters: Any, gradient: Any, m: Any, v: Any, backup: Any, hyper: Any, decoupled: bool, coupled: bool
    ) -> None:
        # hyper: (1 − η λ, λ, β₁, 1 − β₁, β₂, 1 − β₂, ε c, η c/(1 − β₁ᵗ)) in the parameters'
        # precision, one array rather than eight scalars to pass (see Adam.compiled_step).
        decay, weight_decay, beta1, one_minus_beta1 = hyper[0], hyper[1], hyper[2], hyper[3]
        beta2, one_minus_beta2, eps_c, step_size = hyper[4], hyper[5], hyper[6], hyper[7]
        # The numpy path of Adam._update, element by element (see optimizers.py); with
        # entries in backup, θ before the step is saved there in the same pass.
        saving = backup.shape[0] > 0
        for i in range(parameters.shape[0]):
            p = parameters[i]
            if saving:
                backup[i] = p
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
    def momentum(parameters: Any, gradient: Any, velocity: Any, backup: Any, mu: Any, lr: Any, nesterov: bool) -> None:
        # SGD with momentum: b ← μ b + g; θ ← θ − η b (or η (g + μ b), Nesterov).
        saving = backup.shape[0] > 0
        for i in range(parameters.shape[0]):
            if saving:
                backup[i] = parameters[i]
            b = velocity[i] * mu + gradient[i]
            velocity[i] = b
            d = gradient[i] + b * mu if nesterov else b
            parameters[i] = parameters[i] - d * lr

    # The layer kernels replace two or three small ufunc calls per layer and step: on
    # networks of a few hundred units the calls, not the arithmetic, set the time.
    @jit  # type: ignore[untyped-decorator]
    def bias_relu(z: Any, b: Any, a: Any) -> None:
        # Dense.forward then ReLU.forward: z += b; a = max(z, 0), NaN kept (as np.maximum).
        n, k = z.shape
        for i in range(n):
            for j in range(k):
                value = z[i, j] + b[j]
                z[i, j] = value
                a[i, j] = value if value > 0 or value != value else 0.0

    @jit  # type: ignore[untyped-decorator]
    def activation_backward(grad: Any, a: Any, db: Any, one: Any, kind: int) -> None:
        # Activation.backward, grad *= f' from the cached output a, rounded after each
        # operation as numpy does: [a > 0] (RELU), 1 − a² (TANH), (1 − a) a (SIGMOID).
        # Then the bias gradient Σ_samples ∂L/∂z in np.add.reduce's order (row by row
        # from the first) when db has entries.
        n, k = grad.shape
        summed = db.shape[0] > 0
        zero = one - one
        for i in range(n):
            for j in range(k):
                if kind == RELU:
                    g = grad[i, j] * (one if a[i, j] > 0 else zero)
                elif kind == TANH:
                    g = grad[i, j] * (one - a[i, j] * a[i, j])
                else:
                    g = grad[i, j] * ((one - a[i, j]) * a[i, j])
                grad[i, j] = g
                if summed:
                    db[j] = g if i == 0 else db[j] + g

    @jit  # type: ignore[untyped-decorator]
    def output_error(a: Any, y: Any, out: Any, scale: Any, rows: Any, db: Any) -> None:
        # The output layer's ∂L/∂z = (ŷ − y) · scale (· each row's own scale when rows has
        # entries) for a loss fused with its activation, then db = Σ_samples ∂L/∂z.
        n, k = a.shape
        weighted = rows.shape[0] > 0
        summed = db.shape[0] > 0
        for i in range(n):
            s = rows[i] if weighted else scale
            for j in range(k):
                g = (a[i, j] - y[i, j]) * s
                out[i, j] = g
                if summed:
                    db[j] = g if i == 0 else db[j] + g

    @jit  # type: ignore[untyped-decorator]
    def softmax_shift(z: Any, b: Any, out: Any) -> None:
        # Softmax.forward's first step, after the bias when b has entries: out = z − max_j z.
        n, k = z.shape
        biased = b.shape[0] > 0
        for i in range(n):
            if biased:
                for j in range(k):
                    z[i, j] = z[i, j] + b[j]
            top = z[i, 0]
            for j in range(1, k):
                if z[i, j] > top or z[i, j] != z[i, j]:
                    top = z[i, j]
                    if top != top:
                        break
            for j in range(k):
                out[i, j] = z[i, j] - top

    @jit  # type: ignore[untyped-decorator]
    def softmax_normalize(out: Any, negative_zero: Any) -> None:
        # Softmax.forward's last step, out /= Σ_j out, for rows of at most 128 classes: each
        # row summed as numpy's pairwise summation does below its block size (eight running
        # sums, then the rest one by one). Longer rows take numpy's path (a recursion here
        # could not be cached, and would be compiled again in every process).
        n, k = out.shape
        end = k - k % 8
        for i in range(n):
            if k < 8:
                total = negative_zero
                for j in range(k):
                    total += out[i, j]
            else:
                r0, r1, r2, r3 = out[i, 0], out[i, 1], out[i, 2], out[i, 3]
                r4, r5, r6, r7 = out[i, 4], out[i, 5], out[i, 6], out[i, 7]
                for j in range(8, end, 8):
                    r0 += out[i, j]
                    r1 += out[i, j + 1]
                    r2 += out[i, j + 2]
                    r3 += out[i, j + 3]
                    r4 += out[i, j + 4]
                    r5 += out[i, j + 5]
                    r6 += out[i, j + 6]
                    r7 += out[i, j + 7]
                total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
                for j in range(end, k):
                    total += out[i, j]
            for j in range(k):
                out[i, j] = out[i, j] / total

    @jit  # type: ignore[untyped-decorator]
    def exp_nonpositive(d: Any, out: Any, bits: Any) -> None:
        # out = e^d for float64 d <= 0 (NaN stays NaN), within ~1 ulp of libm, in a loop
        # without calls that the compiler vectorizes (3x faster than libm's exp here):
        # d = k ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to r^13 (the
        # remainder is below 2^-60), times 2^k built in the exponent bits. Results below
        # 2^-1022 are scaled in two steps so they round as subnormals; below e^-800, 0.
        scaled = bits.view(np.float64)
        for i in range(d.shape[0]):
            x = -800.0 if d[i] < -800.0 else d[i]
            k = np.floor(x * 1.4426950408889634 + 0.5)
            r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10
            p = 1.0 / 6227020800.0
            p = p * r + 1.0 / 479001600.0
            p = p * r + 1.0 / 39916800.0
            p = p * r + 1.0 / 3628800.0
            p = p * r + 1.0 / 362880.0
            p = p * r + 1.0 / 40320.0
            p = p * r + 1.0 / 5040.0
            p = p * r + 1.0 / 720.0
            p = p * r + 1.0 / 120.0
            p = p * r + 1.0 / 24.0
            p = p * r + 1.0 / 6.0
            p = p * r + 0.5
            p = p * r + 1.0
            p = p * r + 1.0
            tiny = k < -1000.0
            shift = 600.0 if tiny else 0.0
            bits[i] = (np.int64(k + shift) + 1023) << 52 if x == x else 0
            out[i] = p * scaled[i] * (2.0**-600 if tiny else 1.0)

    _exp_nonpositive = exp_nonpositive

    @jit  # type: ignore[untyped-decorator]
    def crossentropy_total(z: Any, y: Any, w: Any) -> float:
        # Σ wᵢ ℓᵢ with ℓᵢ = −Σ_k y_k log ŷ_k and log ŷ_k = z_k − top − log(1 + Σ_{j≠top} e^(z_j − top)),
        # in float64 (Crossentropy.per_sample's formula). Classes of target 0 and samples
        # of weight 0 do not count, so 0 · inf never makes a NaN. The exponentials of the
        # whole batch in one vectorized pass (exp_nonpositive) and log1p from libm round
        # differently from numpy's: the loss may differ from the numpy path in its last
        # digits; it only reports, so the parameters do not.
        n, k = z.shape
        weighted = w.shape[0] > 0
        shifted = np.empty(n * k)  # z − top, row by row
        tops = np.empty(n, np.int64)
        for i in range(n):
            top = 0
            for j in range(1, k):
                if z[i, j] > z[i, top]:
                    top = j
            tops[i] = top
            z_top = np.float64(z[i, top])
            for j in range(k):
                shifted[i * k + j] = np.float64(z[i, j]) - z_top
        powers = np.empty(n * k)
        _exp_nonpositive(shifted, powers, np.empty(n * k, np.int64))
        total = 0.0
        for i in range(n):
            if weighted and w[i] == 0:
                continue
            rest = 0.0
            for j in range(k):
                if j != tops[i]:
                    rest += powers[i * k + j]
            log_sum = np.log1p(rest)
            loss = 0.0
            for j in range(k):
                if y[i, j] != 0:
                    loss -= np.float64(y[i, j]) * (shifted[i * k + j] - log_sum)
            total += loss * np.float64(w[i]) if weighted else loss
        return total

    @jit  # type: ignore[untyped-decorator]
    def argmax_row(x: Any, i: int) -> int:
        # numpy's argmax of row i: the first maximum, or the first NaN.
        best = 0
        if x[i, 0] != x[i, 0]:
            return 0
        for j in range(1, x.shape[1]):
            if x[i, j] != x[i, j]:
                return j
            if x[i, j] > x[i, best]:
                best = j
        return best

    _argmax = argmax_row

    # The gradient's norms only report when nothing clips it: summing them in any order
    # (reassociation, nothing else: NaN and inf still propagate) lets the compiler keep
    # partial sums in vector registers, 10x faster than one running sum.
    @numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
    def squared_norms(gradient: Any, starts: Any, zero: Any, sums: Any, weights: Any, norm_sums: Any) -> float:
        # sums[s] = Σ g² over gradient[starts[s] : starts[s + 1]] (the last to the end),
        # in the gradient's precision, then as float64; returns Σ sums. When that is
        # finite, norm_sums[l] += √sums[weights[l]] (each layer's ‖∂L/∂W‖, for the epoch).
        segments = starts.shape[0]
        total = 0.0
        for s in range(segments):
            part = gradient[starts[s] : starts[s + 1] if s + 1 < segments else gradient.shape[0]]
            partial = zero
            for i in range(part.shape[0]):
                partial += part[i] * part[i]
            sums[s] = partial
            total += sums[s]
        if np.isfinite(total):
            for layer in range(weights.shape[0]):
                norm_sums[layer] += np.sqrt(sums[weights[layer]])
        return total

    @jit  # type: ignore[untyped-decorator]
    def gather_rows(source: Any, rows: Any, out: Any) -> None:
        # out[i] = source[rows[i]]: the batch's rows, eight at a time so that eight reads
        # from memory are under way together (a row of W1's 784 inputs is 49 cache lines;
        # 128 rows 32 µs against numpy's take one row after the other, 42 µs).
        d, n = source.shape[1], rows.shape[0]
        whole = n - n % 8
        for i in range(0, whole, 8):
            r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
            r4, r5, r6, r7 = rows[i + 4], rows[i + 5], rows[i + 6], rows[i + 7]
            for j in range(d):
                out[i, j] = source[r0, j]
                out[i + 1, j] = source[r1, j]
                out[i + 2, j] = source[r2, j]
                out[i + 3, j] = source[r3, j]
                out[i + 4, j] = source[r4, j]
                out[i + 5, j] = source[r5, j]
                out[i + 6, j] = source[r6, j]
                out[i + 7, j] = source[r7, j]
        for i in range(whole, n):
            for j in range(d):
                out[i, j] = source[rows[i], j]

    @jit  # type: ignore[untyped-decorator]
    def argmax_hits(a: Any, y: Any) -> int:
        # Rows where argmax ŷ = argmax y.
        hits = 0
        for i in range(a.shape[0]):
            hits += _argmax(a, i) == _argmax(y, i)
        return hits

    kernels: dict[str, Callable[..., Any]] = {
        "adam": adam,
        "momentum": momentum,
        "bias_relu": bias_relu,
        "activation_backward": activation_backward,
        "output_error": output_error,
        "softmax_shift": softmax_shift,
        "softmax_normalize": softmax_normalize,
        "crossentropy_total": crossentropy_total,
        "exp_nonpositive": exp_nonpositive,
        "squared_norms": squared_norms,
        "gather_rows": gather_rows,
        "argmax_hits": argmax_hits,
    }
    return kernels


def _warm(kernels: dict[str, Callable[..., Any]], dtype: np.dtype[Any]) -> bool:
    """Compile (or load from numba's cache) every signature ``fit`` calls in ``dtype``; False if numba fails.

    All at once, before the fit: a numba that cannot compile here must leave
    the numpy path, not fail a fit midway. A cache folder that cannot be
    written only costs the next process a compile.
    """
    try:
        import numba

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaWarning)
            _call_each(kernels, dtype.type)
    except Exception:  # numba broken at compile (LLVM out of memory, ...): numpy does the same work
        return False
    _made.extend(kernel for kernel in (*kernels.values(), _argmax, _exp_nonpositive) if kernel not in _made)
    return True


def _call_each(kernels: dict[str, Callable[..., Any]], dtype: Any) -> None:
    """Each kernel once with the argument types training gives it in ``dtype``."""
    k = kernels
    one = dtype(1)
    buffers = [np.zeros(2, dtype) for _ in range(5)]
    for backup in (buffers[4], buffers[4][:0]):
        k["adam"](*buffers[:4], backup, np.ones(8, dtype), False, False)
        k["momentum"](*buffers[:3], backup, one, one, False)
    z, a, y = (np.zeros((2, 2), dtype) for _ in range(3))
    bias = np.zeros(2, dtype)
    k["bias_relu"](z, bias, a)
    for kind in (RELU, TANH, SIGMOID):
        k["activation_backward"](z, a, bias, one, kind)
        k["activation_backward"](z, a, bias[:0], one, kind)
    for rows in (bias, bias[:0]):
        k["output_error"](a, y, z, one, rows, bias)
        k["output_error"](a, y, z, one, rows, bias[:0])
    k["softmax_shift"](z, bias, a)
    k["softmax_shift"](z, bias[:0], a)
    k["softmax_normalize"](a, -one)
    k["crossentropy_total"](z, y, bias)
    k["crossentropy_total"](z, y, np.zeros(0))  # unweighted
    k["argmax_hits"](a, y)
    k["gather_rows"](z, np.zeros(1, np.intp), a[:1])
    k["squared_norms"](bias, np.zeros(1, np.intp), one - one, np.zeros(1), np.zeros(1, np.intp), np.zeros(1))
