"""backprop: multi-layer neural networks trained by backpropagation, on numpy.

>>> import backprop as bp
>>> net = bp.Network([bp.Dense(4, "sigmoid"), bp.Dense(1, "sigmoid")], inputs=2, seed=0)
>>> trace = bp.explain(net, [0.0, 1.0], [1.0], learning_rate=0.5)
>>> [dw.shape for dw in trace.weight_deltas]
[(2, 4), (4, 1)]
"""

from . import activations, initializers, losses
from .activations import Activation, get_activation
from .errors import BackpropError, BackpropTypeError, DataError, ParameterError, ShapeError
from .explain import Trace, explain
from .gradcheck import GradcheckReport, gradcheck
from .layers import Dense, Dropout, Layer
from .losses import Loss, get_loss
from .network import Network
from .optimizers import SGD, Optimizer
from .training import Callback, History

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "Activation",
    "BackpropError",
    "BackpropTypeError",
    "Callback",
    "DataError",
    "Dense",
    "Dropout",
    "Layer",
    "GradcheckReport",
    "History",
    "Loss",
    "Network",
    "Optimizer",
    "ParameterError",
    "ShapeError",
    "Trace",
    "__version__",
    "activations",
    "explain",
    "get_activation",
    "get_loss",
    "gradcheck",
    "initializers",
    "losses",
]
