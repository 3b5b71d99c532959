"""Export networks and fitted estimators to `ONNX <https://onnx.ai>`_.

The graph is the forward pass of DESIGN.md §1, one Dense layer after the
other::

    X ─► MatMul(W[1]) ─► Add(b[1]) ─► f_1 ─► … ─► MatMul(W[L]) ─► Add(b[L]) ─► f_L ─► Y

``X`` has shape ``(N, n_inputs)`` with a dynamic batch dimension ``N`` and the
network's dtype (float32 or float64). Layers without bias have no ``Add``;
Dropout layers pass their input through at inference and add no node.

Activations map to ONNX operators where the operator computes exactly what
backprop computes (``Sigmoid``, ``Tanh``, ``Relu``, ``Softmax`` on axis 1).
The others are built from elementary operators, with their constants in the
network's dtype (ONNX attributes are float32 only, and onnxruntime has no
float64 kernels for ``Elu`` and ``Softplus``), in the same stable forms as
:mod:`backprop.activations`:

* ``leaky_relu``: ``max(z, α z)``;
* ``elu``: ``α (e^min(z, 0) − 1) + max(z, 0)``, no exponent ever positive;
* ``softplus``: ``max(z, 0) + log(1 + e^−|z|)``, which does not overflow for
  large ``z`` as ``log(1 + e^z)`` does.

Outputs (names as skl2onnx gives them):

* a :class:`~backprop.Network`: ``Y``, shape ``(N, n_outputs)``, equal to
  :meth:`~backprop.Network.predict`;
* a fitted classifier: ``label``, shape ``(N,)`` (int64 for integer, boolean
  or integer-valued float classes, string for string classes), and
  ``probabilities``, shape ``(N, n_classes)``, equal to ``predict`` and
  ``predict_proba``. A binary classifier with one sigmoid output gets the
  two columns ``[1 − p, p]``; a multi-label classifier (sigmoid outputs, one
  per label) gets ``label`` of shape ``(N, n_labels)``, ``p > 0.5`` as int64;
* a fitted regressor: ``variable``, shape ``(N, n_outputs)``.

Estimators are recognised by duck typing: a fitted estimator has
``network_`` (a :class:`~backprop.Network`); classifiers also have
``classes_``, and a multi-label classifier sets ``_multilabel`` (or, without
that attribute, has a sigmoid output layer with more than one unit).

A model of ``backprop train`` (a network and its
:class:`~backprop.tabular.Preprocessor`) is exported with its preprocessing
by :func:`tabular_to_onnx`: either one matrix input ``X`` (the
standardisation folded into the first layer only where a sample shows that
the network's dtype keeps ``predict``'s results, an explicit float64
``(x − mean) / scale`` otherwise), or one input per column with imputation,
one-hot encoding and standardisation in the graph (``LabelEncoder`` of
``ai.onnx.ml`` for the categories).

``onnx`` (and, for :func:`register_skl2onnx`, ``skl2onnx``) is imported only
when a function of this module is called: ``pip install 'backprop[onnx]'``.

Layout: :mod:`~backprop.onnx.export` builds the graph of a network or an
estimator (:func:`to_onnx`), :mod:`~backprop.onnx.tabular` adds the
preprocessing of a ``backprop train`` model, :mod:`~backprop.onnx.skl2onnx`
is the converter skl2onnx calls; this package writes files (:func:`export_onnx`)
and never imports :mod:`backprop.sklearn` unless :func:`register_skl2onnx`
is called.

Examples
--------
>>> import backprop as bp
>>> net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)
>>> bp.export_onnx(net, "model.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

from ..io import atomic_write
from .export import DEFAULT_OPSET, MIN_OPSET, SUPPORTED_ACTIVATIONS, to_onnx
from .export import INSTALL_HINT as INSTALL_HINT  # a module-level name of the former single module
from .skl2onnx import register_skl2onnx
from .tabular import PARITY_ROWS, TabularExport, export_tabular, tabular_to_onnx


# export_onnx lives here and calls the package's to_onnx, so that replacing backprop.onnx.to_onnx replaces what it
# writes (as a test of the atomic write does).
def export_onnx(model: Any, path: str | os.PathLike[str], *, opset: int | None = None, name: str | None = None) -> None:
    """Write a network or a fitted estimator to an ONNX file.

    The model is built by :func:`to_onnx` and serialised in memory before
    anything is written; the file is then written atomically (a temporary
    file in the same folder, renamed onto ``path``), so an error or a crash
    leaves any previous file at ``path`` intact and no partial file behind.

    Parameters
    ----------
    model : Network or fitted estimator
        See :func:`to_onnx`.
    path : str or path-like
        The file to create or replace (conventionally ``*.onnx``); its folder
        must exist.
    opset : int, optional
        The ONNX operator set; default :data:`DEFAULT_OPSET` (17).
    name : str, optional
        The graph's name; default ``"backprop_<class name>"``.

    Raises
    ------
    SaveError
        The file cannot be written (also an ``OSError``).
    ParameterError, DataError, BackpropTypeError, MissingDependencyError
        As for :func:`to_onnx`.

    Notes
    -----
    An ONNX file is one protobuf message, which cannot exceed 2 GiB: about
    500 million float32 parameters.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.Network([bp.Dense(8, "relu"), bp.Dense(3, "softmax")], inputs=4, seed=0)
    >>> bp.export_onnx(net, "net.onnx")  # doctest: +SKIP
    >>> import onnxruntime  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession("net.onnx")  # doctest: +SKIP
    >>> (y,) = session.run(None, {"X": X.astype("float32")})  # doctest: +SKIP
    """
    data = to_onnx(model, opset=opset, name=name).SerializeToString()
    atomic_write(path, data)


__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "PARITY_ROWS",
    "SUPPORTED_ACTIVATIONS",
    "TabularExport",
    "export_onnx",
    "export_tabular",
    "register_skl2onnx",
    "tabular_to_onnx",
    "to_onnx",
]
