"""Threads: predict, loss and gradients are pure reads of the network, also while fit trains it."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

import backprop as bp


def dropout_net(dtype: Any = np.float32) -> bp.Network:
    return bp.Network(
        [bp.Dense(32, "relu"), bp.Dropout(0.5), bp.Dense(32, "tanh"), bp.Dropout(0.25), bp.Dense(3, "softmax")],
        inputs=6,
        seed=1,
        dtype=dtype,
    )


def data(n: int = 800) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, np.argmax(X[:, :3] + 0.5 * X[:, 3:], axis=1)


@contextlib.contextmanager
def threads_taking_turns_often() -> Iterator[None]:
    """More interleavings than the default 5 ms between switches, in a shorter test."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def train(net: bp.Network, X: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> None:
    net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(1e-2), epochs=10, batch_size=16, seed=3)


def test_predict_loss_and_gradients_during_fit_change_nothing_and_see_no_dropout() -> None:
    X, y = data()
    reference = dropout_net()
    train(reference, X, y)

    net = dropout_net()
    probe, probe_y = X[:7], y[:7]
    done = threading.Event()
    failure: list[BaseException] = []

    def fit_in_background() -> None:
        try:
            train(net, X, y)
        except BaseException as error:  # reported by the main thread
            failure.append(error)
        finally:
            done.set()

    # (parameters, predictions) taken while no step wrote the parameters (the same before and after).
    steady: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    calls = 0
    with threads_taking_turns_often():
        thread = threading.Thread(target=fit_in_background)
        thread.start()
        while not done.is_set():
            before = net.parameters.copy()
            predicted = net.predict(probe)
            net.loss(probe, probe_y, "crossentropy")
            net.gradients(probe, probe_y, "crossentropy")
            calls += 1
            if np.array_equal(before, net.parameters):
                steady.append((before, predicted))
        thread.join()
    assert not failure, failure
    assert calls >= 10  # the calls did run during the training
    # Nothing the other thread did reached the training: the same bits as the run alone.
    assert net.parameters.tobytes() == reference.parameters.tobytes()
    # Each prediction is the inference of the parameters it saw: no dropout mask, no generator.
    assert steady
    frozen = dropout_net()
    for parameters, predicted in steady[:: max(1, len(steady) // 50)]:
        frozen.parameters[...] = parameters
        assert predicted.tobytes() == frozen.predict(probe).tobytes()


def test_loss_and_gradients_from_four_threads_match_single_threaded_results() -> None:
    net = dropout_net(np.float64)
    rng = np.random.default_rng(7)
    batches = []
    for _ in range(800):
        n = int(rng.integers(1, 40))
        batches.append((rng.normal(size=(n, 6)), rng.integers(0, 3, n)))
    expected = [(net.loss(X, y, "crossentropy"), net.gradients(X, y, "crossentropy")) for X, y in batches]
    before = net.parameters.tobytes()
    mismatches = [0] * 4

    def work(worker: int) -> None:
        for index in range(worker, len(batches), 4):
            X, y = batches[index]
            loss = net.loss(X, y, "crossentropy")
            gradients = net.gradients(X, y, "crossentropy")
            want_loss, want_gradients = expected[index]
            same = loss == want_loss and all(
                dW.tobytes() == want_dW.tobytes() and (db is None or db.tobytes() == want_db.tobytes())
                for (dW, db), (want_dW, want_db) in zip(gradients, want_gradients, strict=True)
            )
            mismatches[worker] += not same

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    with threads_taking_turns_often():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert mismatches == [0, 0, 0, 0]
    assert net.parameters.tobytes() == before
