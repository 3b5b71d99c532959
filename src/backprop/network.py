"""The network: layers bound to one flat parameter buffer; predict, loss and gradients.

Shapes are batch-first as in the seed (DESIGN.md §1)::

    h[l] = a[l-1] @ W[l] + b[l]        a[0] = X
    a[l] = f_l(h[l])                   ŷ = a[L]

All parameters live in one contiguous array, ``W[l]`` and ``b[l]`` being views
of it, and so do the gradients: an optimizer step is a few in-place ufunc
calls for the whole network. The step itself (forward pass, error terms,
weight gradient) is :mod:`backprop.step`; ``fit``'s per-layer buffers
(:class:`backprop.step.Workspace`) are allocated once per batch size and
kept here (:meth:`Network.workspace`); inference runs in :class:`Inference`'s
four buffers, whatever the depth.

Threads: ``predict``, ``loss`` and ``gradients`` only read the parameters.
Each call has buffers of its own (and ``gradients`` its own gradient buffer),
and runs in inference mode (Dropout passes its input through, drawing from no
generator): any number of them may run at once, also while ``fit`` trains the
network in another thread (they then see the parameters of some step, or of
a step being written). Only ``fit`` writes the network; two ``fit`` calls on
one network at once are not supported.

Sizes: the parameter buffer, ``fit``'s batch buffers and any call's buffers
are checked against the memory available before they are allocated
(:class:`~backprop.errors.MemoryLimitError` names what asked and the size);
``predict`` works in chunks of rows whose buffers fit
:data:`backprop._memory.CHUNK_BYTES`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _buffers, _memory
from ._fast import activations_for
from ._validation import (
    FloatArray,
    as_array,
    as_float_array,
    as_float_dtype,
    check_finite,
    check_positive_int,
    check_sample_weight,
    check_seed,
    shown,
)
from .activations import ActivationSpec, Identity, is_pair
from .errors import BackpropTypeError, DataError, ParameterError, ShapeError
from .initializers import default_for, initialize
from .layers import Dense, Layer, layer_from_config
from .losses import Loss, get_loss
from .step import (
    Step,
    Workspace,
    checked_backward,
    checked_forward,
    dense_forward,
    mean_scale,
    overflowed,
    widths,
    workspace_bytes,
)

if TYPE_CHECKING:
    from os import PathLike

    from .callbacks import Callback, History
    from .optimizers import Optimizer
    from .schedules import Schedule

#: Rows per forward pass in ``predict`` at most; fewer when a chunk's buffers would
#: exceed :data:`backprop._memory.CHUNK_BYTES` (see :func:`predict_rows`).
PREDICT_CHUNK = 8192

# An inference pass needs the layer's input, z, a and the activation's scratch at once.
_INFERENCE_BUFFERS = 4


def predict_rows(layers: Sequence[Layer], n_samples: int, dtype: np.dtype[Any]) -> int:
    """Rows per chunk of an inference pass over ``n_samples`` rows.

    At most :data:`PREDICT_CHUNK`, and few enough that the pass's buffers
    (four of the widest layer's width per row, see :class:`Inference`) fit
    :data:`backprop._memory.CHUNK_BYTES`; at least one.
    """
    per_row = _INFERENCE_BUFFERS * max(layer.units for layer in layers) * dtype.itemsize
    return max(1, min(n_samples, PREDICT_CHUNK, _memory.rows_within(per_row, _memory.CHUNK_BYTES)))


def is_row_source(X: Any) -> bool:
    """True for a matrix read by rows on demand (a :class:`backprop.rowfiles.RowFile`), never converted whole.

    That is any object but an ndarray with a 2-D ``shape``, a numpy ``dtype``
    and ``take(rows, axis=0, out=, mode=)`` as ``ndarray.take``: ``fit``
    gathers its batches with it, and every pass over all rows (the check of
    the values, ``predict``, validation) reads chunks of rows into one buffer.
    """
    shape, dtype = getattr(X, "shape", None), getattr(X, "dtype", None)
    return (
        not isinstance(X, np.ndarray)
        and isinstance(shape, tuple)
        and len(shape) == 2
        and isinstance(dtype, np.dtype)
        and callable(getattr(X, "take", None))
    )


class _CastRows:
    """A row source in the network's dtype: each read cast as ``np.asarray(X, dtype)`` casts, the same bits."""

    def __init__(self, source: Any, dtype: np.dtype[Any]) -> None:
        self.source, self.dtype, self.shape, self.ndim = source, dtype, tuple(source.shape), 2

    def take(self, rows: Any, axis: int = 0, out: FloatArray | None = None, mode: str = "raise") -> FloatArray:
        read = np.asarray(self.source.take(rows, axis=axis, mode=mode))
        if out is None:
            return read.astype(self.dtype)
        np.copyto(out, read, casting="unsafe")
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> FloatArray:
        return np.asarray(in_memory(self), dtype)


def _checked_rows(X: Any, name: str, dtype: np.dtype[Any]) -> Any:
    """The row source ``X`` for a network of ``dtype``, its values checked as an array's are, chunk by chunk.

    Not read when its ``finite`` attribute is True (its writer checked) and
    ``dtype`` holds all its values. The messages are an array's, naming the row and column.
    """
    if X.dtype.kind not in "biuf":
        raise BackpropTypeError(f"{name} must be numeric, got rows of dtype {X.dtype}")
    narrowing = X.dtype.kind == "f" and X.dtype.itemsize > dtype.itemsize
    n, width = X.shape
    rows = min(n, _memory.rows_within(max(1, width * X.dtype.itemsize), 8 * 2**20))
    buffer = np.empty((rows, width), X.dtype)  # one buffer for every chunk: the check's memory is fixed
    count, first, largest, overflows = 0, "", 0.0, False
    checked = narrowing or (X.dtype.kind == "f" and getattr(X, "finite", False) is not True)
    for start in range(0, n if width and checked else 0, rows):
        chunk = read_chunk(X, start, min(n, start + rows), buffer)
        low, high = chunk.min(), chunk.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            bad = ~np.isfinite(chunk)
            if not count:
                row, column = (int(i) for i in np.argwhere(bad)[0])
                first = f"{'NaN' if np.isnan(chunk[row, column]) else 'infinity'} ({{}}, first at row {start + row}, "
                first += f"column {column})"
            count += int(np.count_nonzero(bad))
        elif narrowing:
            largest = max(largest, -float(low), float(high))
            with np.errstate(over="ignore"):  # the extremes overflow when any value does
                overflows = overflows or not np.isfinite(np.array([low, high]).astype(dtype)).all()
    if count:
        raise DataError(f"{name} contains " + first.format(f"{count} non-finite value{'s' if count != 1 else ''}"))
    if overflows:
        raise DataError(
            f"{name} has values beyond the range of {dtype} (largest magnitude {largest:.3g}); "
            "scale the data or use dtype=float64"
        )
    return X if X.dtype == dtype else _CastRows(X, dtype)


def in_memory(inputs: Any) -> FloatArray:
    """``inputs`` as an array: a row source read whole, its size checked first, for calls that take every row."""
    if isinstance(inputs, np.ndarray):
        return inputs
    n, width = inputs.shape
    _memory.check_allocation(n * width * inputs.dtype.itemsize, f"reading all {n:,} rows of X into memory")
    return np.asarray(inputs.take(np.arange(n), axis=0))


def read_chunk(inputs: Any, start: int, stop: int, window: FloatArray | None) -> FloatArray:
    """Rows ``start`` to ``stop`` of ``inputs``: a view of an array, or a row source's rows read into ``window``."""
    if window is None:
        return np.asarray(inputs[start:stop])
    return np.asarray(inputs.take(np.arange(start, stop), axis=0, out=window[: stop - start], mode="clip"))


class Inference:
    """Buffers for a forward pass alone, up to ``rows`` rows at a time.

    Inference needs no layer's output once the next layer has read it, so four
    buffers of the widest layer's width serve every layer in turn (the input, ``z``,
    ``a`` and the activation's scratch): the memory of a pass grows with the
    widest layer, not with the depth. ``plan[l]`` says which buffers layer ``l``
    writes ``z``, ``a`` and ``tmp`` into, never the one holding its input.
    """

    def __init__(self, layers: Sequence[Layer], rows: int, dtype: np.dtype[Any], what: str) -> None:
        width = max(layer.units for layer in layers)
        _memory.check_large(_INFERENCE_BUFFERS * rows * width * dtype.itemsize, what)
        self.rows = rows
        self.buffers = [_buffers.empty(rows * width, dtype, slot) for slot in range(_INFERENCE_BUFFERS)]
        # f of each layer, compiled where a fit has loaded the kernels (the same bits).
        self.activate = activations_for(layers)
        self.plan: list[tuple[int, int, int]] = []
        held = -1  # the buffer holding the layer's input; the first layer's is X
        for layer in layers:
            free = [index for index in range(_INFERENCE_BUFFERS) if index != held]
            if isinstance(layer.activation, Identity):
                self.plan.append((free[0], free[0], free[1]))
            else:
                self.plan.append((free[0], free[1], free[2]))
            held = self.plan[-1][1]

    def forward(
        self,
        layers: Sequence[Layer],
        X: FloatArray,
        dtype: np.dtype[Any],
        check: Callable[[], None] | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """The forward pass alone for ``X`` (at most ``rows`` rows): ``h`` and ``a`` of the output layer.

        With ``check`` (the network's :meth:`Network.check_parameters`, called
        first), raises :class:`DataError` naming the first layer whose ``h`` is
        not finite; without, leaves that to the caller. The same
        operations as :meth:`backprop.step.Step.forward` in inference mode, so
        the same bits for the same rows; the results are views of these
        buffers, valid until their next use.
        """
        n = X.shape[0]
        a = h = X
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for index, (layer, f, (hi, ai, si)) in enumerate(
                zip(layers, self.activate, self.plan, strict=True), start=1
            ):
                size, shape = n * layer.units, (n, layer.units)
                h = self.buffers[hi][:size].reshape(shape)
                out = h if ai == hi else self.buffers[ai][:size].reshape(shape)
                scratch = self.buffers[si][:size].reshape(shape)
                if type(layer) is Dense:  # h = a · W + b, a = f(h); a subclass by its own forward
                    a = dense_forward(a, layer.W, layer.b, h, out, scratch, f)
                else:
                    a = layer.forward(a, h, out, scratch)
                # h, not ŷ: a saturating output (σ(inf) = 1) would hide an infinite weight.
                if check is not None and not (np.isfinite(h.min()) and np.isfinite(h.max())):
                    check()  # a weight that is not finite is named first
                    raise overflowed(index, X, dtype)
        return h, a


class Network:
    """A multi-layer network trained by backpropagation.

    Parameters
    ----------
    layers : sequence of Layer (Dense, Dropout)
        The layers from the first hidden layer to the output layer, which
        must be Dense. The network keeps its own copies, bound to its
        parameter buffer.
    inputs : int
        Number of input features, > 0.
    seed : int or None, default None
        Seed of the generator that draws the initial weights; the same seed
        gives bit-identical weights.
    dtype : {float32, float64}, default float32
        Precision of parameters and computation.

    Attributes
    ----------
    parameters : ndarray of shape (n_parameters,)
        Every weight and bias, layer after layer (``W[l]`` then ``b[l]``).
    gradient : ndarray of shape (n_parameters,)
        ``∂L/∂θ`` from the last backward pass, laid out like ``parameters``.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.Network([bp.Dense(2, "sigmoid", bias=False),
    ...                   bp.Dense(1, "sigmoid", bias=False)], inputs=3, seed=0)
    >>> net.predict([[0.1, 0.2, 0.3]]).shape
    (1, 1)
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        inputs: int,
        seed: int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Sequence) or not layers:
            raise ParameterError(f"layers must be a non-empty list of Dense layers, got {layers!r}")
        for position, layer in enumerate(layers, start=1):
            if not isinstance(layer, Layer):
                raise BackpropTypeError(f"layer {position} must be a Dense or Dropout layer, got {layer!r}")
        if not isinstance(layers[-1], Dense):
            raise ParameterError(f"the output layer must be a Dense layer, got {layers[-1]!r}")
        self.n_inputs = check_positive_int(inputs, "inputs")
        self.dtype = as_float_dtype(dtype)
        self.layers = [copy.copy(layer) for layer in layers]
        self._bind()
        rng = np.random.default_rng(check_seed(seed))
        for layer in self.dense_layers:
            init = layer.init if layer.init is not None else default_for(layer.activation)
            layer.W[...] = initialize(init, rng, layer.n_in, layer.units, self.dtype, layer.index)
            if layer.b is not None:
                layer.b[...] = 0

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[Any],
        activations: ActivationSpec | Sequence[ActivationSpec] = "sigmoid",
        biases: Sequence[Any] | None = None,
    ) -> Network:
        """Build a network from given weight matrices (and biases).

        Parameters
        ----------
        weights : sequence of array_like, each of shape (n_in, n_out)
            ``W[l]``; each ``n_out`` must equal the next ``n_in``.
        activations : activation or sequence of activations, default "sigmoid"
            One per layer, or one for all.
        biases : sequence of (array_like of shape (n_out,) or None), optional
            ``b[l]``; None (the default) builds layers without bias.

        The network keeps the weights' dtype (float32 or float64; other
        numeric types become float64) and copies the values.
        """
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
            got = f"array of shape {weights.shape}" if isinstance(weights, np.ndarray) else shown(weights)
            raise ParameterError(f"weights must be a non-empty list of 2-D arrays, one per layer, got {got}")
        arrays = [as_array(w, f"weights[{i}]") for i, w in enumerate(weights)]
        try:
            common = np.result_type(*arrays)
        except TypeError:  # no common type (numbers and dates): as_float_array names the odd one below
            common = np.dtype(np.float64)
        dtype = np.dtype(np.float32) if common == np.float32 else np.dtype(np.float64)
        matrices = [as_float_array(w, f"weights[{i}]", dtype) for i, w in enumerate(arrays)]
        for i, w in enumerate(matrices):
            if w.ndim != 2 or 0 in w.shape:
                raise ShapeError(f"weights[{i}] must be a non-empty 2-D array (n_in, n_out), got shape {w.shape}")
            if i and w.shape[0] != matrices[i - 1].shape[1]:
                raise ShapeError(
                    f"weights do not chain: weights[{i - 1}] has shape {matrices[i - 1].shape} "
                    f"(n_out={matrices[i - 1].shape[1]}) but weights[{i}] has shape {w.shape} "
                    f"(n_in={w.shape[0]})"
                )
        n_layers = len(matrices)
        specs: list[Any]
        if isinstance(activations, str) or is_pair(activations) or not isinstance(activations, Sequence):
            specs = [activations] * n_layers
        else:
            specs = list(activations)
        if len(specs) != n_layers:
            raise ParameterError(f"activations must have one entry per layer ({n_layers}), got {len(specs)}")
        if biases is None:
            biases = [None] * n_layers
        if isinstance(biases, np.ndarray) or not isinstance(biases, Sequence) or len(biases) != n_layers:
            got = f"{len(biases)} entries" if isinstance(biases, Sequence) else type(biases).__name__
            raise ParameterError(f"biases must be None or a list of {n_layers} arrays (or None entries), got {got}")
        vectors = []
        for i, (b, w) in enumerate(zip(biases, matrices, strict=True)):
            if b is not None:
                b = as_float_array(b, f"biases[{i}]", dtype)
                if b.shape != (w.shape[1],):
                    raise ShapeError(
                        f"biases[{i}] must have shape ({w.shape[1]},) to match weights[{i}], got {b.shape}"
                    )
            vectors.append(b)
        layers = [
            Dense(w.shape[1], activation=act, bias=b is not None)
            for w, act, b in zip(matrices, specs, vectors, strict=True)
        ]
        net = cls(layers, inputs=matrices[0].shape[0], seed=0, dtype=dtype)
        for layer, w, b in zip(net.dense_layers, matrices, vectors, strict=True):
            layer.W[...] = w
            if layer.b is not None:
                layer.b[...] = b
        return net

    def _bind(self) -> None:
        """Give every layer its place and its views of the flat buffers."""
        n_in = self.n_inputs
        last = len(self.layers)
        for index, layer in enumerate(self.layers, start=1):
            layer.bind(index, n_in)
            if layer.activation.output_only and index != last:
                raise ParameterError(
                    f"activation {layer.activation.name!r} is for the output layer only; "
                    f"layer {index} of {last} is hidden"
                )
            if layer.activation.name == "softmax" and layer.units < 2:
                raise ParameterError(
                    f"softmax on layer {index} needs at least 2 units, got units={layer.units}; "
                    "for two classes use one sigmoid unit with binary_crossentropy"
                )
            n_in = layer.units
        self.dense_layers: list[Dense] = [layer for layer in self.layers if isinstance(layer, Dense)]
        size = sum(layer.n_parameters for layer in self.layers)
        largest = max(self.dense_layers, key=lambda dense: dense.n_parameters)
        _memory.check_large(
            2 * size * self.dtype.itemsize,
            f"a network of widths {widths(self.n_inputs, self.layers)} ({size:,} parameters, the weights and their "
            f"gradient in {self.dtype.name}; layer {largest.index} alone has {largest.n_parameters:,})",
        )
        # θ and g at their own page offsets: the optimizer's pass reads both (see _buffers).
        self.parameters: FloatArray = _buffers.full(size, 0.0, self.dtype, _buffers.PARAMETERS)
        self.gradient: FloatArray = _buffers.full(size, 0.0, self.dtype, _buffers.GRADIENT)
        offset = 0
        for layer in self.dense_layers:
            n_w = layer.n_in * layer.units
            layer.offset = offset
            layer.W = self.parameters[offset : offset + n_w].reshape(layer.n_in, layer.units)
            layer.dW = self.gradient[offset : offset + n_w].reshape(layer.n_in, layer.units)
            offset += n_w
            if layer.bias:
                layer.b = self.parameters[offset : offset + layer.units]
                layer.db = self.gradient[offset : offset + layer.units]
                offset += layer.units
            else:
                layer.b = layer.db = None
        self._workspaces: dict[int, Workspace] = {}

    # ------------------------------------------------------------------ views

    @property
    def weights(self) -> list[FloatArray]:
        """``W[l]`` of shape ``(n_in, n_out)`` per Dense layer: live views of the parameters."""
        return [layer.W for layer in self.dense_layers]

    @property
    def biases(self) -> list[FloatArray | None]:
        """``b[l]`` of shape ``(n_out,)`` per Dense layer (None without bias): live views."""
        return [layer.b for layer in self.dense_layers]

    @property
    def n_outputs(self) -> int:
        """Width of the output layer."""
        return self.layers[-1].units

    @property
    def sizes(self) -> list[int]:
        """Widths from the input through the Dense layers to the output, e.g. ``[3, 2, 1]``."""
        return [self.n_inputs, *(layer.units for layer in self.dense_layers)]

    def config(self) -> dict[str, Any]:
        """The architecture as JSON-able data: ``{"inputs", "dtype", "layers": [...]}``."""
        return {"inputs": self.n_inputs, "dtype": self.dtype.name, "layers": [layer.config() for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Network:
        """A network of the architecture :meth:`config` describes, its weights zero."""
        if not isinstance(config, dict) or set(config) != {"inputs", "dtype", "layers"}:
            raise ParameterError(f"a network description is a dict with inputs, dtype and layers, got {config!r}")
        layers = config["layers"]
        if not isinstance(layers, list):
            raise ParameterError(f"the network description's layers must be a list, got {type(layers).__name__}")
        net = cls(
            [layer_from_config(layer) for layer in layers], inputs=config["inputs"], seed=0, dtype=config["dtype"]
        )
        net.parameters[...] = 0
        return net

    def copy(self, dtype: Any = None) -> Network:
        """An independent copy, optionally in another precision."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.dtype = self.dtype if dtype is None else as_float_dtype(dtype)
        clone.layers = [copy.copy(layer) for layer in self.layers]
        clone._bind()
        clone.parameters[...] = self.parameters
        return clone

    def __copy__(self) -> Network:
        # A shallow copy would share the layers, whose views then point at one
        # network's buffer or the other's: copy.copy gives an independent copy.
        return self.copy()

    def __getstate__(self) -> dict[str, Any]:
        # The per-batch workspaces are a cache; the views are rebuilt on unpickling.
        state = self.__dict__.copy()
        state["_workspaces"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # pickle and copy.deepcopy restore W and b as arrays of their own; bind
        # them again as views of one buffer, or fit would update a buffer that
        # predict never reads.
        self.__dict__.update(state)
        parameters = self.parameters
        self._bind()
        self.parameters[...] = parameters

    def __repr__(self) -> str:
        layers = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{layers}], inputs={self.n_inputs}, dtype={self.dtype.name})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the diagram and the layer table, self-contained (see ``_html.network_html``)."""
        from ._html import network_html

        return network_html(self)

    # ---------------------------------------------------------------- checks

    def _check_inputs(self, X: Any, name: str = "X") -> tuple[FloatArray, bool]:
        """Return ``X`` as ``(n_samples, n_inputs)`` and whether it was one 1-D sample.

        A matrix read by rows (:func:`is_row_source`) stays where it is: its
        values are checked chunk by chunk, and it is returned as a source whose
        reads are in the network's dtype.
        """
        source = is_row_source(X)
        array = X if source else as_float_array(X, name, self.dtype)
        single = len(array.shape) == 1
        if single:
            array = array[None, :]
        if len(array.shape) != 2:
            raise ShapeError(f"{name} must be 2-D (n_samples, n_features), got array of shape {array.shape}")
        if array.shape[0] == 0:
            raise DataError(f"{name} is empty: got array of shape {array.shape}, need at least one sample")
        if array.shape[1] != self.n_inputs:
            shown = array.shape[1:] if single else array.shape
            kind = type(self.layers[0]).__name__
            raise ShapeError(f"{kind} layer 1 expects inputs with {self.n_inputs} features, got array of shape {shown}")
        return (_checked_rows(X, name, self.dtype) if source else array), single

    def check_parameters(self) -> None:
        """Raise naming the first layer whose weights or bias hold NaN or infinity."""
        if np.isfinite(self.parameters.min()) and np.isfinite(self.parameters.max()):
            return
        for layer in self.dense_layers:
            check_finite(layer.W, f"W[{layer.index}] of layer {layer.index}")
            if layer.b is not None:
                check_finite(layer.b, f"b[{layer.index}] of layer {layer.index}")

    def check_data(
        self, X: Any, y: Any, loss: str | Loss = "mse", sample_weight: Any = None
    ) -> tuple[FloatArray, FloatArray, Loss, FloatArray | None]:
        """Check ``X``, ``y``, the loss and the weights together; return them ready to use.

        ``X`` may be a table of numbers (pandas, polars, pyarrow), read through its ``__array__``.

        Returns
        -------
        inputs : ndarray of shape (n_samples, n_inputs), in the network's dtype
        targets : ndarray of shape (n_samples, n_outputs), in the network's dtype
            One-hot rows for class indices of ``crossentropy``.
        loss : Loss
        sample_weight : ndarray of shape (n_samples,), float64, or None
        """
        loss_fn = get_loss(loss)
        loss_fn.check_output(self.layers[-1].activation, len(self.layers))
        if callable(getattr(X, "collect_schema", None)):  # polars, whose np.asarray turns dates into numbers
            X = X.collect() if callable(getattr(X, "collect", None)) else X  # a LazyFrame: its rows, computed
            named = [str(k) for k, t in X.collect_schema().items() if not (t.is_numeric() or str(t) == "Boolean")]
            if named:
                raise BackpropTypeError(
                    f"X's column {named[0]!r} does not hold numbers; for a table with text or date columns use "
                    "backprop.TabularModel().fit(table, target=...), which encodes them"
                )
        inputs, single = self._check_inputs(X)
        if single:
            # One sample: y is its target row (or, for crossentropy, its class index).
            y = as_array(y, "y")
            y = y.reshape(1) if y.ndim == 0 else y[None, :] if y.ndim == 1 else y
        n = inputs.shape[0]
        targets = loss_fn.prepare_targets(y, n, self.n_outputs, self.dtype)
        # float64 whatever the network's dtype: only the weights' ratios matter, and 1e300 or
        # 1e-300 are fine ratios that float32 cannot hold.
        weights = check_sample_weight(sample_weight, n, np.dtype(np.float64))
        return inputs, targets, loss_fn, weights

    # ---------------------------------------------------- for the training loop

    def workspace(self, n_samples: int) -> Workspace:
        """``fit``'s workspace for batches of ``n_samples`` rows, kept from step to step.

        It writes the network's own gradient buffer: for ``fit`` only, which is
        the one writer of the network (every other call makes its own buffers).
        A smaller batch (an epoch's last, a shard's share of a batch) gets the
        first rows of the largest workspace made yet (:meth:`Workspace.first`):
        no new memory, and the bits of a workspace of its own.
        """
        ws = self._workspaces.get(n_samples)
        if ws is None:
            full = max(self._workspaces.values(), key=lambda known: known.n_samples, default=None)
            if full is None or full.n_samples < n_samples:
                self._workspaces.clear()  # the views of a smaller one go with it
                full = self._workspaces[n_samples] = Workspace(
                    self.layers,
                    n_samples,
                    self.dtype,
                    self.gradient,
                    f"training with batch_size={n_samples} through a network of widths "
                    f"{widths(self.n_inputs, self.layers)}",
                )
            elif len(self._workspaces) >= 8:  # views of many sizes: keep the workspace alone
                self._workspaces = {full.n_samples: full}
            ws = self._workspaces[n_samples] = full if full.n_samples == n_samples else full.first(n_samples)
        return ws

    def check_training_memory(self, batch_size: int, n_samples: int, n_features: int, n_targets: int) -> None:
        """Raise :class:`MemoryLimitError` if ``fit``'s buffers would not fit in memory.

        They are the workspaces of a full and of a last batch, the batch's
        inputs, targets and weights, and four buffers as long as the
        parameters (a scratch, the backup of the last finite step, an
        optimizer's state).
        """
        last = n_samples % batch_size
        nbytes = (
            workspace_bytes(self.layers, batch_size, self.dtype)
            + (workspace_bytes(self.layers, last, self.dtype) if last else 0)
            + batch_size * (n_features + n_targets + 1) * self.dtype.itemsize
            + 4 * self.parameters.nbytes
        )
        _memory.check_large(
            nbytes,
            f"training with batch_size={batch_size} through a network of widths {widths(self.n_inputs, self.layers)}",
        )

    def _loss_value(self, X: FloatArray, targets: FloatArray, loss: Loss, sample_weight: FloatArray | None) -> float:
        """``L`` for all rows in one pass (chunks would sum it in another order), in buffers of this call."""
        n = X.shape[0]
        buffers = Inference(
            self.layers,
            n,
            self.dtype,
            f"the loss of {n:,} rows through a network of widths {widths(self.n_inputs, self.layers)}",
        )
        h, a = buffers.forward(self.layers, X, self.dtype, self.check_parameters)
        return loss.value(h, a, targets, sample_weight)

    # ---------------------------------------------------------------- public

    def predict(self, X: Any) -> FloatArray:
        """The forward pass: ``ŷ`` for every row of ``X``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_inputs) or (n_inputs,), or a matrix read by rows
            Such as a :class:`backprop.rowfiles.RowFile` (:func:`is_row_source`): read chunk by chunk.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), or (n_outputs,) for 1-D ``X``
            In the network's dtype. The network is not changed.

        Notes
        -----
        Inference: Dropout layers pass their input through. The call has
        buffers of its own and draws from no generator, so it may run in any
        thread, also while ``fit`` trains the network in another.

        Rows are computed in chunks of at most :data:`PREDICT_CHUNK` rows,
        fewer when the widest layer is wide, so that a chunk's buffers (four
        rows of the widest layer's width per row) fit
        :data:`backprop._memory.CHUNK_BYTES`: the memory of a call beyond its
        result does not grow with the number of rows or the depth. The chunks
        depend only on the network and the number of rows, so the result is
        deterministic. A row's bits may still depend on the chunk it is
        computed in: the BLAS chooses its kernel by the matrices' shapes
        (OpenBLAS multiplies one row, or a few, with other kernels than many,
        summing in another order), so a row predicted alone may differ from the
        same row within a larger ``X`` in its last bits, as between any two
        different numbers of rows.
        """
        inputs, single = self._check_inputs(X)
        n = inputs.shape[0]
        _memory.check_large(n * self.n_outputs * self.dtype.itemsize, f"the predictions for {n:,} rows")
        result = np.empty((n, self.n_outputs), self.dtype)
        rows = predict_rows(self.layers, n, self.dtype)
        # Buffers of this call only: predict leaves the network untouched and is thread-safe.
        buffers = Inference(
            self.layers,
            rows,
            self.dtype,
            f"predict on chunks of {rows:,} rows through a network of widths {widths(self.n_inputs, self.layers)}",
        )
        # A row source's chunks are read into one buffer: the same chunks, the same bits as an array's.
        window = None if isinstance(inputs, np.ndarray) else np.empty((rows, self.n_inputs), self.dtype)
        for start in range(0, n, rows):
            chunk = read_chunk(inputs, start, min(n, start + rows), window)
            result[start : start + chunk.shape[0]] = buffers.forward(
                self.layers, chunk, self.dtype, self.check_parameters
            )[1]
        return result[0] if single else result

    def loss(self, X: Any, y: Any, loss: str | Loss = "mse", sample_weight: Any = None) -> float:
        """The loss ``L``: the (sample-weighted) mean per-sample loss on ``(X, y)``.

        Inference mode (no dropout), in buffers of this call: thread-safe, as :meth:`predict`.
        """
        inputs, targets, loss_fn, weights = self.check_data(X, y, loss, sample_weight)
        return self._loss_value(in_memory(inputs), targets, loss_fn, weights)

    def gradients(
        self, X: Any, y: Any, loss: str | Loss = "mse", sample_weight: Any = None
    ) -> list[tuple[FloatArray, FloatArray | None]]:
        """``∂L/∂W`` and ``∂L/∂b`` of every layer for the batch ``(X, y)``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_inputs) or (n_inputs,)
        y : array_like of shape (n_samples, n_outputs) or (n_samples,)
            Targets; for ``crossentropy`` class indices or one-hot rows.
        loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss
        sample_weight : array_like of shape (n_samples,), optional
            Non-negative weights: ``L`` is then the weighted mean.

        Returns
        -------
        list of (ndarray of shape (n_in, n_out), ndarray of shape (n_out,) or None)
            One pair per layer: views of one new buffer of this call, shared
            with nothing the network keeps. Neither the parameters nor
            ``net.gradient`` (the training loop's buffer) are changed.

        Notes
        -----
        Inference mode (Dropout passes its input through), in buffers of this
        call: any number of calls may run at once in threads, also while
        ``fit`` trains the network in another (each then sees the parameters
        of some step).
        """
        inputs, targets, loss_fn, weights = self.check_data(X, y, loss, sample_weight)
        inputs, n = in_memory(inputs), inputs.shape[0]
        gradient = np.empty_like(self.parameters)
        ws = Workspace(
            self.layers,
            n,
            self.dtype,
            gradient,
            f"the gradients of {n:,} rows through a network of widths {widths(self.n_inputs, self.layers)}",
        )
        step = Step(self.layers, loss_fn)
        checked_forward(step, inputs, ws, self.dtype, self.check_parameters)
        checked_backward(step, ws, inputs, targets, mean_scale(n, weights, self.dtype), self.dtype)
        return [(dW, db) for dW, db in zip(ws.dW, ws.db, strict=True) if dW is not None]

    def fit(
        self,
        X: Any,
        y: Any,
        loss: str | Loss = "mse",
        optimizer: Optimizer | str | None = None,
        epochs: int = 1,
        batch_size: int | None = 32,
        shuffle: bool = True,
        validation: float | tuple[Any, Any] | None = None,
        sample_weight: Any = None,
        class_weight: str | dict[Any, float] | None = None,
        l2: float = 0.0,
        clip_norm: float | None = None,
        schedule: Schedule | str | None = None,
        callbacks: Sequence[Callback] | Callback | None = (),
        seed: int | None = None,
        resume_from: str | PathLike[str] | tuple[Network, dict[str, Any]] | None = None,
        threads: int | None = None,
    ) -> History:
        """Train in place by mini-batch gradient descent: :func:`backprop.training.fit` with this network.

        The parameters are :func:`backprop.training.fit`'s, in the same order.

        Returns
        -------
        History
        """
        from .training import fit  # here: training builds on this module

        return fit(
            self, X, y, loss, optimizer, epochs, batch_size, shuffle, validation, sample_weight, class_weight, l2,
            clip_norm, schedule, callbacks, seed, resume_from, threads,
        )  # fmt: skip


def as_network(net: Any) -> Network:
    """``net`` itself if it is a :class:`Network`; else a :class:`BackpropTypeError` naming what it is."""
    if not isinstance(net, Network):
        raise BackpropTypeError(f"expected a backprop.Network, got {type(net).__name__}")
    return net


__all__ = ["PREDICT_CHUNK", "Network", "predict_rows"]
