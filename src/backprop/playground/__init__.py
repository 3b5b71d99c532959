"""The playground: see backpropagation happen in the browser, every number exact.

``backprop playground`` serves a page on 127.0.0.1 (:func:`backprop.playground.app.create_app`,
a Starlette app run by uvicorn) and the JSON API it uses. :class:`Session` holds the
data, the network and its training, and computes everything the page shows with the
library itself: training by :meth:`backprop.Network.fit`, each neuron's ``z``, ``a``,
``f'``, ``δ`` and ``ΔW`` by :func:`backprop.explain`, the gradient check by
:func:`backprop.gradcheck`, the downloads by :func:`backprop.save`,
:mod:`backprop.onnx` and :mod:`backprop.report`.

Only :mod:`backprop.playground.app` needs the ``playground`` extra (starlette, uvicorn).
"""

from __future__ import annotations

from .data import GENERATORS, PlaneData, Table, read_table
from .session import Config, Session

__all__ = ["GENERATORS", "Config", "PlaneData", "Session", "Table", "read_table"]
