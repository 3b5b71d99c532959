"""Reading ``.npy`` and ``.npz`` files, never unpickling, each header checked before numpy allocates.

Imports ``frame`` and ``columns``; :mod:`~backprop.tabular.readers` calls :func:`read_numpy`
and :func:`iter_npy`.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from ..rowfiles import npy_header
from .columns import quiet_nans
from .frame import Frame, cut, header_names, one_line

#: An array with no values may still declare dimensions this long at most (0 x 10**9 is a hostile header).
MAX_EMPTY_DIMENSION = 10_000


def _numpy_column(values: NDArray[Any], where: str, name: str) -> NDArray[Any]:
    if values.dtype.kind in "biuf":
        # A longdouble beyond float64 becomes inf (refused later as infinite), a signalling NaN a NaN (missing).
        with np.errstate(over="ignore", invalid="ignore"):
            return quiet_nans(np.asarray(values, dtype=np.float64))
    if values.dtype.kind == "U":
        # numpy stores UCS-4 code units as they are in the file; Python text has no surrogates or codes > 0x10FFFF.
        codes = np.ascontiguousarray(values).view(np.dtype(np.uint32).newbyteorder(values.dtype.byteorder))
        if codes.size and (codes.max() > 0x10FFFF or ((codes >= 0xD800) & (codes <= 0xDFFF)).any()):
            raise DataError(f"{where}: {name} holds text that is not valid Unicode")
    if values.dtype.kind in "US":
        column = np.empty(values.shape[0], dtype=object)
        try:
            column[:] = [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]
        except UnicodeDecodeError as exc:
            raise DataError(f"{where}: {name} holds bytes that are not UTF-8 text ({exc})") from None
        return column
    raise DataError(f"{where}: {name} has dtype {values.dtype}; backprop reads numbers or strings")


def _check_npy_header(stream: BinaryIO, size: int, where: str, name: str) -> None:
    """Check a ``.npy`` header against the ``size`` bytes of the whole ``.npy`` data, before numpy allocates.

    ``stream`` is at the start of the ``.npy`` data. A file of pickled objects
    is left to ``np.load``, which refuses it.
    """
    try:
        shape, _, dtype = npy_header(stream)
    except Exception as exc:  # ValueError, SyntaxError, a tokenizer error ... of a corrupt header
        raise DataError(f"{where}: {name} is not a readable NumPy array: {one_line(exc)}") from None
    if dtype.hasobject:
        return
    if dtype.subdtype is not None or dtype.names is not None:  # np.load and a memory map disagree on their shape
        raise DataError(
            f"{where}: {name} has the subarray or structured dtype {dtype}; backprop reads arrays of numbers or strings"
        )
    if any(n < 0 for n in shape):
        raise DataError(f"{where}: {name} declares shape {shape}, with a negative dimension: corrupt")
    declared = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    available = size - stream.tell()
    if dtype.itemsize == 0:
        raise DataError(f"{where}: {name} has dtype {dtype.str}, of 0 bytes per value")
    if declared > available:
        raise DataError(
            f"{where}: {name} declares shape {shape} of {dtype.str} ({declared} bytes), but only {available} "
            "bytes follow its header: truncated or corrupt"
        )
    if declared == 0 and max(shape, default=0) > MAX_EMPTY_DIMENSION:
        raise DataError(
            f"{where}: {name} declares shape {shape}: no values, but a dimension longer than the "
            f"{MAX_EMPTY_DIMENSION} an empty array may have"
        )


def _check_npy_file(source: str) -> None:
    with open(source, "rb") as file:
        if file.read(6) == b"\x93NUMPY":  # anything else is left to np.load, which names the problem
            file.seek(0)
            _check_npy_header(file, os.fstat(file.fileno()).st_size, source, "the array")


def _npz_array(archive: Any, name: str, source: str) -> NDArray[Any]:
    """The array ``name`` of an open ``.npz`` archive, its header checked before its data is read."""
    members = archive.zip.namelist()
    member = name if name in members else f"{name}.npy"  # as numpy's NpzFile looks it up
    info = archive.zip.getinfo(member)
    size = info.file_size
    if info.compress_type == zipfile.ZIP_DEFLATED:
        size = min(size, 1032 * info.compress_size)  # deflate expands 1032 times at most
    with archive.zip.open(info) as stream:
        if stream.read(6) != b"\x93NUMPY":
            raise DataError(f"{source}: {name} is not a NumPy array (its member {member!r} is not .npy data)")
        stream.seek(0)
        _check_npy_header(stream, size, source, name)
        stream.seek(0)
        array: NDArray[Any] = np.lib.format.read_array(stream, allow_pickle=False)
    return array


def _feature_names(values: NDArray[Any], source: str) -> list[str] | None:
    if values.ndim != 1:
        return None  # ignored, as names of the wrong number are
    if values.dtype.kind in "US":
        return [str(name) for name in _numpy_column(values, source, "feature_names")]
    return [str(name) for name in values.tolist()]


def _load_npz(source: str) -> tuple[NDArray[Any], NDArray[Any] | None, list[str] | None]:
    # Our own file object: np.load leaves a file it opened itself open when it is not a zip archive.
    with open(source, "rb") as file:
        try:
            archive = np.load(file, allow_pickle=False)
        except Exception as exc:  # a corrupt zip, a truncated file, ...
            raise DataError(f"{source} is not a readable .npz file: {one_line(exc)}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{source} is not a .npz archive but a single array; name it .npy")
        try:
            with archive:
                if "X" not in archive.files:
                    raise DataError(
                        f"{source} has no array 'X'; it holds {archive.files}. Save it with np.savez(path, X=X, y=y)"
                    )
                X = _npz_array(archive, "X", source)
                y = _npz_array(archive, "y", source) if "y" in archive.files else None
                names = (
                    _feature_names(_npz_array(archive, "feature_names", source), source)
                    if "feature_names" in archive.files
                    else None
                )
        except DataError:
            raise
        except ValueError as exc:
            if "pickle" in str(exc):
                raise DataError(
                    f"{source} holds Python objects, which backprop does not unpickle; save X and y as arrays "
                    "of numbers or strings"
                ) from None
            raise DataError(f"{source}: {one_line(exc)}") from None
        except Exception as exc:  # zipfile.BadZipFile, zlib.error, EOFError, an unsupported compression, ...
            raise DataError(f"{source} is not a readable .npz file: {one_line(exc)}") from None
    return X, y, names


def read_numpy(source: str, kind: str) -> Frame:
    """A whole ``.npz`` (``kind="npz"``: ``X``, ``y``, ``feature_names``) or ``.npy`` file as one Frame."""
    if kind == "npz":
        X, y, names = _load_npz(source)
    else:
        _check_npy_file(source)
        try:
            X = np.load(source, allow_pickle=False)
        except ValueError as exc:
            if "pickle" in str(exc):
                raise DataError(f"{source} holds Python objects, which backprop does not unpickle") from None
            raise DataError(f"{source} is not a readable .npy file: {one_line(exc)}") from None
        except Exception as exc:
            raise DataError(f"{source} is not a readable .npy file: {one_line(exc)}") from None
        y, names = None, None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise DataError(f"{source}: X must be a 2-D array (rows, columns), got shape {X.shape}")
    if X.shape[1] == 0:
        raise DataError(f"{source}: X has no columns (shape {X.shape})")
    if names is None or len(names) != X.shape[1]:
        names = [f"x{j}" for j in range(X.shape[1])]
    columns = [_numpy_column(X[:, j], source, f"column {j}") for j in range(X.shape[1])]
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(f"{source}: y must be 1-D with one value per row of X {X.shape}, got shape {y.shape}")
        names = [*names, "y" if "y" not in names else "target"]
        columns.append(_numpy_column(y, source, "y"))
    notes: list[str] = []
    names = header_names(names, notes, source)  # the file's feature_names may repeat
    return Frame(source=source, names=names, columns=columns, notes=notes)


def iter_npy(source: str, chunk_rows: int) -> Iterator[Frame]:
    """A ``.npy`` file in Frames of at most ``chunk_rows`` rows, memory-mapped when it holds 2-D numbers."""
    _check_npy_file(source)
    try:
        data = np.load(source, mmap_mode="r", allow_pickle=False)
    except Exception:
        yield from cut(read_numpy(source, "npy"), chunk_rows)
        return
    if data.ndim != 2 or data.dtype.kind not in "biuf" or data.shape[1] == 0:
        yield from cut(read_numpy(source, "npy"), chunk_rows)
        return
    names = [f"x{j}" for j in range(data.shape[1])]
    if data.shape[0] == 0:
        yield Frame(source, names, [np.zeros(0) for _ in names])
    for start in range(0, data.shape[0], chunk_rows):
        with np.errstate(over="ignore", invalid="ignore"):  # as in _numpy_column
            block = quiet_nans(np.asarray(data[start : start + chunk_rows], dtype=np.float64))
        yield Frame(source, names, [block[:, j].copy() for j in range(block.shape[1])], offset=start)
