"""Model files and training checkpoints: safetensors tensors plus a JSON document.

A **model file** is a `safetensors <https://huggingface.co/docs/safetensors>`_
file holding one tensor and one metadata entry:

* ``"parameters"``: the network's flat parameter buffer, 1-D, in the network's
  dtype (``F32`` or ``F64``), laid out exactly as :attr:`Network.parameters`
  (``W[1]``, ``b[1]``, ``W[2]``, ...; DESIGN.md §3);
* metadata ``"backprop"``: a JSON document ::

      {"format": "backprop-model", "format_version": 1,
       "library_version": "0.1.0",
       "network": {"inputs": ..., "dtype": ..., "layers": [...]},
       "extra": {...}}

  where ``network`` is :meth:`Network.config` and ``extra`` is the user's own
  JSON-able metadata (class labels, feature names, preprocessing statistics,
  a training summary, ...).

One flat tensor rather than one per ``W``/``b``: it is the network's own
memory layout, so saving is one contiguous write and loading one copy, and
validation reduces to a single rule (the tensor's length equals the parameter
count the architecture implies). Per-layer shapes live in the JSON document,
which describes the architecture in any case.

A **checkpoint** (``"format": "backprop-checkpoint"``) is the same plus the
training state: a nested dict of JSON values and numpy arrays. Each array is
stored as its own tensor, named after its place in the state
(``"state.optimizer.m"``), and the JSON document's ``"state"`` holds the
marker ``{"__tensor__": "state.optimizer.m"}`` where the array goes. Numpy
scalars become ``{"__numpy__": "float32", "value": ...}``. Loading rebuilds
the same nested dict: arrays with the same dtype, shape and bits, numpy
scalars of the same type, Python ints of any size exactly (a PCG64 state's
128-bit integers included). Tuples come back as lists.

Reading trusts nothing in the file. The 8-byte header length is checked
against the file size and a cap, the header JSON is parsed and every tensor's
dtype, shape and byte range is checked, then the document's format, version
and network description (sizes, counts, with Python integers, so nothing
overflows) -- all before any tensor data is read or any parameter buffer is
allocated. Whatever is wrong raises :class:`ModelFileError` naming the file
and the problem. No pickle, no ``eval``: loading a file never runs code.

Every write goes through :func:`backprop.files.atomic_write`: a crash, a kill
or a full disk mid-save leaves the previous file intact.

Layout: this module is the model-level API (:func:`save`, :func:`load`,
:func:`load_with_metadata`, :func:`inspect`, :func:`save_checkpoint`,
:func:`load_checkpoint`) and the checks of the network description, and the
only storage module that imports :class:`~backprop.network.Network` and
:mod:`backprop.layers`. The safetensors container (serializing, the
header's checks, tensors, checkpoint state markers) is
:mod:`backprop.safetensors_format`; the atomic writer is
:mod:`backprop.files`. Both are re-exported here under their old names
(``backprop.io.atomic_write``, ``backprop.io.MAX_NESTING``, ...).

``safetensors`` is imported only when tensors are written or read, so
:func:`inspect` works without it.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Protocol

from numpy.typing import NDArray

from ._validation import check_finite, is_count, shown_briefly
from .errors import BackpropError, BackpropTypeError, DataError, ModelFileError, SaveError
from .files import AtomicFile, atomic_output, atomic_write
from .layers import layer_from_config
from .network import Network
from .safetensors_format import (
    CHECKPOINT_FORMAT,
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    MAX_NDIM,
    MAX_NESTING,
    METADATA_KEY,
    MODEL_FORMAT,
    SHOWN_LIMIT,
    Encoder,
    Header,
    check_document,
    cut_text,
    decode_state,
    open_checked,
    read_tensors,
    serialize,
    state_references,
)

#: Sanity limits on a network description read from a file.
MAX_LAYERS = 10_000
MAX_WIDTH = 2**31 - 1

_PARAMETER_CODES = {"float32": "F32", "float64": "F64"}


def _library_version() -> str:
    from . import __version__  # here, not at import time: backprop/__init__ imports this module

    return __version__


def _check_network(net: Any, function: str) -> Network:
    if not isinstance(net, Network):
        raise BackpropTypeError(f"{function} expects a backprop Network, got {type(net).__name__}")
    for layer in net.dense_layers:
        check_finite(layer.W, f"cannot save: W[{layer.index}] of layer {layer.index}")
        if layer.b is not None:
            check_finite(layer.b, f"cannot save: b[{layer.index}] of layer {layer.index}")
    return net


class SupportsBackpropSave(Protocol):
    """An object :func:`save` can store: it names the network to write and the metadata to keep with it.

    A fitted pipeline (preprocessing plus a network, such as
    :class:`backprop.tabular.TabularModel`) implements
    ``__backprop_save__`` so that ``backprop.save(model, path)`` writes
    what rebuilds it; the loader of that object reads the metadata back
    (:func:`load` alone gives the network).
    """

    def __backprop_save__(self) -> tuple[Network, dict[str, Any]]:
        """The network to store and the metadata (JSON-able, as for :func:`save`) to store with it."""
        ...


def save(
    net: Network | SupportsBackpropSave | Any, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None
) -> None:
    """Write ``net`` to a model file (safetensors plus a JSON document), atomically.

    Parameters
    ----------
    net : Network, object with ``__backprop_save__``, or fitted estimator
        The network. Built-in activations only: a custom ``(function,
        derivative)`` pair is Python code and cannot be stored. An object
        with a method ``__backprop_save__() -> (Network, dict)``
        (:class:`SupportsBackpropSave`, a fitted pipeline) is saved as the
        network it returns, with its metadata. A fitted
        :mod:`backprop.sklearn` estimator is saved as its ``network_`` with
        what rebuilds the estimator in the metadata
        (``backprop.sklearn.load`` reads it back; :func:`load` gives the network).
    path : str or path-like
        The file to write, conventionally ``*.safetensors``; an existing file
        is replaced only once the new one is complete.
    metadata : dict, optional
        Anything to keep with the model: class labels, feature names,
        preprocessing statistics, a training summary. Keys must be strings;
        values dicts, lists, tuples, strings, finite numbers, booleans, None,
        numpy scalars or numpy arrays. Tuples and arrays are stored as JSON
        lists (and come back as lists), numpy scalars as Python numbers.
        :func:`load_with_metadata` returns it. With an object that brings
        its own metadata (``__backprop_save__``, an estimator), both are
        stored, merged; a key in both is refused rather than overwritten,
        since the object's own entries are what rebuilds it.

    Raises
    ------
    BackpropTypeError
        For a custom activation or metadata that JSON cannot hold (the
        message names the offending entry), a ``__backprop_save__`` that
        does not return ``(Network, dict)``, or a ``metadata`` key that the
        object's own metadata also has.
    DataError
        If a weight or bias is NaN or infinite.
    SaveError
        If the file cannot be written; any previous file is intact.
    """
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BackpropTypeError(f"metadata must be a dict with string keys, got {type(metadata).__name__}")
    net, metadata = _unwrap(net, metadata)
    net = _check_network(net, "save")
    extra = Encoder(arrays=None).encode(metadata, "metadata", ())
    document = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "network": net.config(),
        "extra": extra,
    }
    atomic_write(path, serialize({"parameters": net.parameters}, document, allow_nan=False))


def _unwrap(obj: Any, metadata: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The network and metadata to store for ``obj``: a Network as it is, else what the object says.

    ``__backprop_save__`` is looked up on the type, as Python looks up its
    own special methods (the scikit-learn estimators and
    :class:`backprop.TabularModel` have one): this module needs nothing from them.
    """
    name = type(obj).__name__
    protocol = getattr(type(obj), "__backprop_save__", None)
    if isinstance(obj, Network) or not callable(protocol):
        return obj, metadata
    result = protocol(obj)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise BackpropTypeError(
            f"{name}.__backprop_save__() must return a tuple (Network, dict), got {shown_briefly(result)}"
        )
    network, own = result
    clash = sorted(set(own) & set(metadata))
    if clash:
        raise BackpropTypeError(f"metadata keys {clash} are reserved for the {name}'s own metadata")
    return network, {**metadata, **own}


def save_checkpoint(net: Network, path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a training checkpoint: the network plus the state a resumed run needs, atomically.

    Parameters
    ----------
    net : Network
        The network (built-in activations only).
    path : str or path-like
        The file to write; an existing file is replaced only once the new one
        is complete.
    state : dict
        String keys; values nested dicts and lists of JSON values (ints of any
        size, floats including NaN and infinity, strings, booleans, None),
        numpy arrays (stored as tensors, dtype ``bool``, ``int8``-``int64``,
        ``uint8``-``uint64`` or ``float16``-``float64``) and numpy scalars.
        For example ``{"epoch": 3, "optimizer": {"name": "adam", "m": array,
        ...}, "rngs": {"shuffle": rng.bit_generator.state}}``. The keys
        ``"__tensor__"`` and ``"__numpy__"`` are reserved.

    Raises
    ------
    BackpropTypeError
        For a custom activation or a state value that cannot be stored (the
        message names the entry).
    DataError
        If a weight or bias is NaN or infinite.
    SaveError
        If the file cannot be written; any previous file is intact.
    """
    net = _check_network(net, "save_checkpoint")
    if not isinstance(state, dict):
        raise BackpropTypeError(f"state must be a dict with string keys, got {type(state).__name__}")
    arrays: dict[str, NDArray[Any]] = {}
    encoded = Encoder(arrays=arrays).encode(state, "state", ("state",))
    document = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "network": net.config(),
        "state": encoded,
    }
    atomic_write(path, serialize({"parameters": net.parameters, **arrays}, document, allow_nan=True))


def _width(value: Any, what: str, where: str) -> int:
    if not is_count(value) or not 1 <= value <= MAX_WIDTH:
        raise ModelFileError(
            f"{where}: {what} must be an integer from 1 to {MAX_WIDTH}, got {shown_briefly(value, SHOWN_LIMIT)}"
        )
    return int(value)


def _check_architecture(config: Any, where: str) -> int:
    """Check the network description's sizes; return the number of parameters it implies."""
    if not isinstance(config, dict) or set(config) != {"inputs", "dtype", "layers"}:
        got = shown_briefly(sorted(config), SHOWN_LIMIT) if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{where}: the network description must have exactly inputs, dtype and layers, got {got}")
    if not isinstance(config["dtype"], str) or config["dtype"] not in _PARAMETER_CODES:
        raise ModelFileError(
            f"{where}: the network's dtype must be 'float32' or 'float64', "
            f"got {shown_briefly(config['dtype'], SHOWN_LIMIT)}"
        )
    width = _width(config["inputs"], "the network's inputs", where)
    layers = config["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        got = f"{len(layers)} layers" if isinstance(layers, list) else type(layers).__name__
        raise ModelFileError(f"{where}: the network's layers must be a list of 1 to {MAX_LAYERS} layers, got {got}")
    count = 0
    for index, layer in enumerate(layers, start=1):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if kind == "Dense":
            units = _width(layer.get("units"), f"units of layer {index}", where)
            bias = layer.get("bias")
            if not isinstance(bias, bool):
                raise ModelFileError(
                    f"{where}: bias of layer {index} must be true or false, got {shown_briefly(bias, SHOWN_LIMIT)}"
                )
            count += width * units + (units if bias else 0)
            width = units
        elif kind != "Dropout":
            got = f"type {shown_briefly(kind, SHOWN_LIMIT)}" if isinstance(layer, dict) else type(layer).__name__
            raise ModelFileError(f"{where}: layer {index} must be a Dense or Dropout layer, got {got}")
        try:
            layer_from_config(layer)  # fields, activation name and parameters, dropout rate
        except (BackpropError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{where}: layer {index} of the network description is invalid: {cut_text(str(exc))}"
            ) from None
    if layers[-1]["type"] != "Dense":
        raise ModelFileError(f"{where}: the output layer (layer {len(layers)}) must be Dense, got {layers[-1]['type']}")
    return count


def _check_parameters_tensor(header: Header, n_parameters: int, where: str) -> None:
    tensor = header.tensors.get("parameters")
    if tensor is None:
        raise ModelFileError(f"{where}: the file has no tensor 'parameters'")
    code = _PARAMETER_CODES[header.document["network"]["dtype"]]
    if tensor.code != code:
        raise ModelFileError(
            f"{where}: tensor 'parameters' has dtype {tensor.code} but the network is "
            f"{header.document['network']['dtype']} ({code})"
        )
    if tensor.shape != (n_parameters,):
        raise ModelFileError(
            f"{where}: the network description implies {n_parameters} parameters, "
            f"but tensor 'parameters' has shape {list(tensor.shape)}"
        )


def _check_header(header: Header, where: str, expected: str | None) -> None:
    fmt = check_document(header.document, where)
    if expected is not None and fmt != expected:
        if expected == MODEL_FORMAT:
            raise ModelFileError(
                f"{where}: this is a training checkpoint, not a model file; "
                "use backprop.io.load_checkpoint(path) (its first item is the network)"
            )
        raise ModelFileError(
            f"{where}: this is a model file, not a training checkpoint: it has no training state to resume from"
        )
    n_parameters = _check_architecture(header.document["network"], where)
    _check_parameters_tensor(header, n_parameters, where)
    references: set[str] = set()
    if fmt == CHECKPOINT_FORMAT:
        try:
            state_references(header.document["state"], where, references)
        except RecursionError:
            raise ModelFileError(f"{where}: the checkpoint state is nested too deeply") from None
    expected_tensors = {"parameters", *references}
    missing = sorted(set(references) - set(header.tensors))
    if missing:
        raise ModelFileError(
            f"{where}: the checkpoint state refers to tensors the file lacks: {shown_briefly(missing, SHOWN_LIMIT)}"
        )
    unexpected = sorted(set(header.tensors) - expected_tensors)
    if unexpected:
        raise ModelFileError(
            f"{where}: unexpected tensors {shown_briefly(unexpected, SHOWN_LIMIT)}; "
            f"a {fmt} file has {shown_briefly(sorted(expected_tensors), SHOWN_LIMIT)}"
        )


def _build(header: Header, arrays: dict[str, NDArray[Any]], where: str) -> Network:
    try:
        net = Network.from_config(header.document["network"])
    except (BackpropError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: the network description is invalid: {cut_text(str(exc))}") from None
    net.parameters[...] = arrays["parameters"]
    try:
        for layer in net.dense_layers:
            check_finite(layer.W, f"W[{layer.index}] of layer {layer.index}")
            if layer.b is not None:
                check_finite(layer.b, f"b[{layer.index}] of layer {layer.index}")
    except DataError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    return net


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """Read a model file written by :func:`save`; return the network and the user metadata.

    The file is checked whole (header, tensor layout, document, architecture,
    parameter count) before any tensor data is read or allocated.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    net : Network
        The network, in the dtype it was saved in, predicting exactly as the
        saved one did.
    metadata : dict
        The ``metadata`` given to :func:`save` (``{}`` if none), as JSON data.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) if the file is empty, truncated, corrupt, not a
        backprop model (a training checkpoint included: use
        :func:`load_checkpoint`), from a newer format version, or describes a
        network that does not match its tensor.
    OSError
        If the file cannot be opened (missing, no permission).
    ImportError
        If the ``safetensors`` package is not installed.
    """
    where = os.fspath(path)
    header, data = open_checked(path, partial(_check_header, expected=MODEL_FORMAT))
    net = _build(header, read_tensors(where, header, data), where)
    return net, header.document["extra"]


def load(path: str | os.PathLike[str]) -> Network:
    """Read a model file written by :func:`save`; see :func:`load_with_metadata`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network
    """
    return load_with_metadata(path)[0]


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Checked like :func:`load`, and also every array marker of the state
    against the file's tensors, before any tensor data is read.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    net : Network
    state : dict
        The state as saved: arrays with the same dtype, shape and bits
        (writable copies), numpy scalars of the same type, ints exact
        whatever their size; tuples come back as lists.

    Raises
    ------
    ModelFileError
        For any problem with the file, including a model file that holds no
        training state.
    OSError
        If the file cannot be opened.
    ImportError
        If the ``safetensors`` package is not installed.
    """
    where = os.fspath(path)
    header, data = open_checked(path, partial(_check_header, expected=CHECKPOINT_FORMAT))
    arrays = read_tensors(where, header, data)
    net = _build(header, arrays, where)
    state_arrays = {name: array.copy() for name, array in arrays.items() if name != "parameters"}
    try:
        state = decode_state(header.document["state"], state_arrays, where)
    except RecursionError:  # decoding takes more stack per level than the check before it
        raise ModelFileError(f"{where}: the checkpoint state is nested too deeply") from None
    return net, state


def inspect(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON document of a model file or checkpoint, without reading its tensors.

    The header is checked as :func:`load` checks it; no tensor data is read,
    and ``safetensors`` need not be installed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``format`` (``"backprop-model"`` or ``"backprop-checkpoint"``),
        ``format_version``, ``library_version``, ``network`` (the
        architecture, as :meth:`Network.config`), ``extra`` (a model's user
        metadata) or ``state`` (a checkpoint's state, arrays shown as
        ``{"__tensor__": name}``), and ``tensors``: ``{name: {"dtype":
        "float32", "shape": [n]}}``.

    Raises
    ------
    ModelFileError
        If the file is not a valid backprop model file or checkpoint.
    """
    header, _ = open_checked(path, partial(_check_header, expected=None), tensors=False)
    tensors = {
        name: {"dtype": tensor.dtype.name, "shape": list(tensor.shape)} for name, tensor in header.tensors.items()
    }
    return {**header.document, "tensors": tensors}


__all__ = [
    "CHECKPOINT_FORMAT",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_LAYERS",
    "MAX_NDIM",
    "MAX_NESTING",
    "MAX_WIDTH",
    "METADATA_KEY",
    "MODEL_FORMAT",
    "AtomicFile",
    "ModelFileError",
    "SaveError",
    "SupportsBackpropSave",
    "atomic_output",
    "atomic_write",
    "inspect",
    "load",
    "load_checkpoint",
    "load_with_metadata",
    "save",
    "save_checkpoint",
]
