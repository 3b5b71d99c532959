"""scikit-learn estimators over backprop's core: :class:`MLPClassifier` and :class:`MLPRegressor`.

Swapping ``from sklearn.neural_network import MLPClassifier`` for
``from backprop.sklearn import MLPClassifier`` keeps the code working: the
parameters scikit-learn's estimators have are here under the same names with
the same meaning, and so are the fitted attributes (``coefs_``,
``intercepts_``, ``loss_curve_``, ``n_iter_``, ...). Training is one
:meth:`backprop.Network.fit` call (one epoch per ``partial_fit``), with
scikit-learn's stopping rules as a callback.

How scikit-learn's definitions map onto the core (DESIGN.md §1):

* The losses are the same functions: scikit-learn's ``log_loss`` is
  ``crossentropy`` (softmax output) or ``binary_crossentropy`` (logistic
  outputs: two classes and multi-label), and its ``squared_error`` gives the
  same gradient as backprop's ``mse``, ``½ Σ_k (ŷ_k − y_k)²`` per sample. The
  reported loss differs for several outputs only: scikit-learn divides it by
  ``n_outputs`` as well; ``loss_curve_`` here is backprop's ``mse``.
* ``alpha`` is scikit-learn's L2 penalty ``(alpha / 2) ‖W‖² / m`` per batch of
  ``m`` samples (of total sample weight ``m`` with weights), on the weights,
  not the biases: the core's ``fit(l2=...)`` adds ``(l2 / 2) ‖W‖²`` to the
  mean loss of every batch, so ``l2 = alpha / (batch_size · mean weight)``.
  Equal for every full batch; a smaller last batch is penalised as a full one.
* ``solver="sgd"`` is :class:`backprop.SGD` (the torch form of momentum,
  which takes the same steps as scikit-learn's at a constant learning rate),
  ``"adam"`` :class:`backprop.Adam` (``epsilon`` is added to the
  bias-corrected ``√v``, as in torch; scikit-learn adds it to ``√v``).

Importing this module needs scikit-learn >= 1.6 (``pip install
'backprop[sklearn]'``); the core never imports scikit-learn.

Layout: ``_shared`` (names and small helpers), ``_base`` (:class:`BaseMLP`,
the machinery both estimators share), ``classifier``, ``regressor``,
``serialization`` (:func:`load`) and ``_skl2onnx`` (the registration with
skl2onnx; the converter itself is :mod:`backprop.onnx.skl2onnx`, imported
only when something is converted).
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError

# Checked first, so that every module of this package can import scikit-learn plainly.
try:
    import sklearn  # type: ignore[import-untyped]  # noqa: F401
    from sklearn.utils.validation import validate_data  # type: ignore[import-untyped]  # noqa: F401
except ImportError as exc:  # scikit-learn missing, or older than 1.6 (no validate_data)
    raise MissingDependencyError(
        f"backprop.sklearn needs scikit-learn >= 1.6 ({exc}); install it with: pip install 'backprop[sklearn]'"
    ) from exc

from ._shared import HIDDEN_ACTIVATIONS, SOLVERS

# Module-level names of the former single module, outside __all__ as they were.
from ._shared import LEARNING_RATES as LEARNING_RATES
from ._shared import METADATA_KEY as METADATA_KEY
from ._shared import METADATA_VERSION as METADATA_VERSION
from ._skl2onnx import register_if_installed
from .classifier import MLPClassifier
from .regressor import MLPRegressor
from .serialization import load

__all__ = ["HIDDEN_ACTIVATIONS", "SOLVERS", "MLPClassifier", "MLPRegressor", "load"]

# skl2onnx.to_onnx converts these estimators (and pipelines holding them) once this package is imported.
register_if_installed(MLPClassifier, MLPRegressor)

#: The former single module's private classes, by their old names: an estimator pickled
#: (by joblib, say) before the split refers to them, and unpickles here.
_FORMER_NAMES = {"_LearningRate": "LearningRate", "_Targets": "Targets", "_EpochEnd": "EpochEnd"}


def __getattr__(name: str) -> Any:
    if name in _FORMER_NAMES:
        from . import _shared

        return getattr(_shared, _FORMER_NAMES[name])
    if name == "_BaseMLP":
        from ._base import BaseMLP

        return BaseMLP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
