"""The training loop: validation, metrics, weights, regularization, dropout, callbacks,
divergence, determinism and resuming."""

import csv
import threading

import numpy as np
import pytest

import backprop as bp
from backprop import _pool, _threads, training
from backprop._norms import gradient_segments


def blobs(n=120, classes=3, features=4, seed=0):
    """Separable Gaussian blobs: class c around c · (1, 1, ...)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, features)) * 0.5 + y[:, None]
    return X, y


def classifier(seed=0, dropout=0.0, inputs=4, classes=3):
    layers = [bp.Dense(16, "relu")]
    if dropout:
        layers.append(bp.Dropout(dropout))
    layers.append(bp.Dense(classes, "softmax"))
    return bp.Network(layers, inputs=inputs, seed=seed)


# ------------------------------------------------------------------ the loop


def test_history_has_metrics_per_epoch_and_a_best_epoch():
    X, y = blobs()
    history = classifier().fit(X, y, loss="crossentropy", optimizer=bp.Adam(0.02), epochs=30, validation=0.25, seed=0)
    assert history.epoch == list(range(30))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "grad_norm_1", "grad_norm_2"):
        assert len(history[key]) == 30, key
    assert history.monitor == "val_loss"
    assert history.best_epoch == int(np.argmin(history["val_loss"]))
    assert set(history.grad_norms) == {1, 2}
    assert history["accuracy"][-1] > 0.8 and history["val_accuracy"][-1] > 0.8  # chance is 1/3


def test_regression_metrics():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5]
    net = bp.Network([bp.Dense(1)], inputs=3, seed=0)
    history = net.fit(X, y, optimizer=bp.Adam(0.05), epochs=60, validation=0.2, seed=0)
    assert history["r2"][-1] > 0.99 and history["val_r2"][-1] > 0.99
    assert history["mae"][-1] < history["mae"][0]


def test_validation_fraction_is_stratified():
    # 90 samples of class 0, 10 of class 1: a 20% validation split takes 18 and 2.
    X = np.random.default_rng(0).normal(size=(100, 2))
    y = np.r_[np.zeros(90), np.ones(10)]
    seen = {}

    class Peek(bp.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.update(logs)

    net = bp.Network([bp.Dense(1, "sigmoid")], inputs=2, seed=0)
    net.fit(X, y, loss="binary_crossentropy", epochs=1, validation=0.2, seed=3, callbacks=Peek())
    # Predicting all zeros is 90% right on the whole data, and exactly 18/20 on a stratified split.
    net.weights[0][...] = 0
    net.biases[0][...] = -10
    history = net.fit(X, y, loss="binary_crossentropy", optimizer=bp.SGD(1e-9), epochs=1, validation=0.2, seed=3)
    assert history["val_accuracy"][0] == pytest.approx(18 / 20)
    assert history["accuracy"][0] == pytest.approx(72 / 80)


def test_full_batch_online_and_mini_batch_all_learn():
    X, y = blobs()
    for batch_size in (None, 1, 16):
        net = classifier(seed=1)
        history = net.fit(X, y, loss="crossentropy", optimizer=bp.SGD(0.1), epochs=100, batch_size=batch_size, seed=0)
        assert history["accuracy"][-1] > 0.8, batch_size  # chance is 1/3


def test_optimizer_by_name_and_schedule_by_instance():
    X, y = blobs()
    history = classifier().fit(
        X, y, loss="crossentropy", optimizer="adam", epochs=4, schedule=bp.StepDecay(2, gamma=0.5), seed=0
    )
    assert history["lr"] == [1e-3, 1e-3, 5e-4, 5e-4]


# ------------------------------------------------------- weights, L2, clipping


def test_class_weight_equals_repeating_the_samples():
    # Class 1 weighted 3 in full-batch training is class 1's samples repeated three times.
    X, y = blobs(n=30, classes=2)
    weighted = classifier(classes=2)
    repeated = weighted.copy()
    weighted.fit(X, y, loss="crossentropy", optimizer=bp.SGD(0.1), batch_size=None, epochs=5, class_weight={1: 3.0})
    ones = y == 1
    X3, y3 = np.vstack([X, X[ones], X[ones]]), np.r_[y, y[ones], y[ones]]
    repeated.fit(X3, y3, loss="crossentropy", optimizer=bp.SGD(0.1), batch_size=None, epochs=5)
    np.testing.assert_allclose(weighted.parameters, repeated.parameters, rtol=1e-5, atol=1e-7)


def test_balanced_class_weight():
    # 20 of class 0 and 5 of class 1: weights n/(k·count) = 25/40 and 25/10, so both classes weigh the same.
    X = np.random.default_rng(0).normal(size=(25, 4))
    y = np.r_[np.zeros(20, int), np.ones(5, int)]
    balanced = classifier(classes=2)
    explicit = balanced.copy()
    balanced.fit(X, y, loss="crossentropy", batch_size=None, epochs=3, class_weight="balanced")
    explicit.fit(X, y, loss="crossentropy", batch_size=None, epochs=3, class_weight={0: 25 / 40, 1: 25 / 10})
    np.testing.assert_allclose(balanced.parameters, explicit.parameters, rtol=1e-6)


def test_l2_adds_lambda_w_to_the_weight_gradient_only():
    # One full-batch SGD step: W ← W − η (∂L/∂W + λ W), b ← b − η ∂L/∂b.
    X, y = blobs(n=12)
    net = classifier().copy(dtype=np.float64)
    grads = net.gradients(X, y, "crossentropy")
    before_w, before_b = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    net.fit(X, y, loss="crossentropy", optimizer=bp.SGD(0.1), batch_size=None, epochs=1, shuffle=False, l2=0.5)
    for w0, b0, w1, b1, (dw, db) in zip(before_w, before_b, net.weights, net.biases, grads, strict=True):
        np.testing.assert_allclose(w1, w0 - 0.1 * (dw + 0.5 * w0), rtol=1e-12)
        np.testing.assert_allclose(b1, b0 - 0.1 * db, rtol=1e-12)


def test_clip_norm_limits_the_step():
    # With the gradient clipped to norm 1e-3, one SGD(1) step moves the parameters by exactly 1e-3.
    X, y = blobs(n=12)
    net = classifier().copy(dtype=np.float64)
    before = net.parameters.copy()
    net.fit(X, y, loss="crossentropy", optimizer=bp.SGD(1.0), batch_size=None, epochs=1, clip_norm=1e-3)
    assert np.linalg.norm(net.parameters - before) == pytest.approx(1e-3, rel=1e-9)


def test_gradient_segments_cover_the_flat_buffer_in_order():
    net = bp.Network([bp.Dense(3), bp.Dropout(0.5), bp.Dense(2, bias=False), bp.Dense(1)], inputs=2)
    segments, weights = gradient_segments(net)
    # W1 (6), b1 (3), W3 (6), W4 (2), b4 (1): together the whole gradient buffer, views of it.
    assert [part.size for part in segments] == [6, 3, 6, 2, 1]
    assert all(np.shares_memory(part, net.gradient) for part in segments)
    assert sum(part.size for part in segments) == net.gradient.size
    assert weights.tolist() == [0, 2, 3]


# ------------------------------------------------------------------- dropout


def test_dropout_is_off_outside_training():
    net = classifier(dropout=0.5)
    X, _ = blobs(n=10)
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    without = bp.Network.from_weights(
        [net.weights[0], net.weights[1]], activations=["relu", "softmax"], biases=[net.biases[0], net.biases[1]]
    )
    np.testing.assert_allclose(net.predict(X), without.predict(X), rtol=1e-6)


def test_dropout_scales_what_it_keeps_while_training():
    # Inverted dropout, rate ¼: a kept input is multiplied by 1/(1 − ¼) = 4/3; the mean is unchanged.
    layer = bp.Dropout(0.25)
    layer.bind(1, 1000)
    x = np.ones((200, 1000))
    z, tmp = np.empty_like(x), np.empty_like(x)
    out = layer.forward(x, z, z, tmp, np.random.default_rng(0))
    kept = out != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(out[kept], 4 / 3)
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    # The backward pass uses the same mask: ∂z/∂x = mask.
    grad = np.empty_like(x)
    layer.backward(x, np.ones_like(x), grad, tmp, training=True)
    np.testing.assert_array_equal(grad, out)


def test_dropout_changes_training_but_not_determinism():
    X, y = blobs()
    runs = []
    for _ in range(2):
        net = classifier(dropout=0.3)
        net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(0.01), epochs=3, seed=5)
        runs.append(net.parameters.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    plain = classifier(dropout=0.0)
    plain.fit(X, y, loss="crossentropy", optimizer=bp.Adam(0.01), epochs=3, seed=5)
    assert not np.array_equal(plain.parameters, runs[0])


# ----------------------------------------------------------------- callbacks


def test_early_stopping_restores_the_best_weights():
    X, y = blobs()
    snapshots = {}

    class Snapshot(bp.Callback):
        def on_train_begin(self, state):
            self.net = state.net

        def on_epoch_end(self, epoch, logs):
            snapshots[epoch] = self.net.parameters.copy()

    stop = bp.EarlyStopping(monitor="val_loss", patience=2, restore_best=True)
    net = classifier()
    # A learning rate far too high makes val_loss bounce: training stops, then goes back to the best epoch.
    history = net.fit(
        X,
        y,
        loss="crossentropy",
        optimizer=bp.SGD(3.0),
        epochs=50,
        validation=0.3,
        seed=0,
        callbacks=[Snapshot(), stop],
    )
    assert stop.stopped_epoch is not None and len(history) == stop.stopped_epoch + 1 < 50
    assert stop.best_epoch == history.best_epoch
    np.testing.assert_array_equal(net.parameters, snapshots[stop.best_epoch])


def test_early_stopping_on_accuracy_maximizes():
    stop = bp.EarlyStopping(monitor="val_accuracy", patience=0)
    X, y = blobs()
    classifier().fit(
        X, y, loss="crossentropy", optimizer=bp.Adam(0.01), epochs=30, validation=0.3, seed=0, callbacks=stop
    )
    assert stop._tracker.mode == "max"


def test_unknown_monitor_lists_the_valid_names():
    X, y = blobs()
    with pytest.raises(bp.ParameterError, match=r"Unknown monitor 'val_acc'; expected one of \['loss', 'accuracy'"):
        classifier().fit(X, y, loss="crossentropy", epochs=2, validation=0.2, callbacks=bp.EarlyStopping("val_acc"))


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    X, y = blobs()
    path = tmp_path / "log.csv"
    classifier().fit(X, y, loss="crossentropy", epochs=3, seed=0, callbacks=bp.CSVLogger(path))
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert float(rows[-1]["loss"]) > 0 and "accuracy" in rows[0]


# ---------------------------------------------------------------- divergence


def test_divergence_names_epoch_batch_and_layer_and_keeps_finite_weights():
    X, y = blobs()
    net = classifier()
    with pytest.raises(
        bp.DivergenceError, match=r"training diverged in epoch \d+, batch \d+: .* first in layer \d"
    ) as info:
        net.fit(X * 1e3, y, loss="crossentropy", optimizer=bp.SGD(1e8), epochs=20, seed=0)
    assert info.value.epoch >= 0 and info.value.batch >= 0 and info.value.layer in (1, 2)
    assert np.isfinite(net.parameters).all()


# ----------------------------------------------------- determinism, resuming


def test_the_same_seed_gives_bit_identical_weights_and_history():
    X, y = blobs()
    runs = []
    for _ in range(2):
        net = classifier(seed=2, dropout=0.2)
        history = net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(0.01), epochs=4, validation=0.2, seed=9)
        runs.append((net.parameters.copy(), {k: v for k, v in history.history.items() if k != "seconds"}))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


class StopAfterBatch(bp.Callback):
    """Stops training after batch ``batch`` of epoch ``epoch``, as Ctrl-C in the CLI does."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_train_begin(self, state):
        self.state = state

    def on_batch_end(self, batch, logs):
        return self.state.epoch + 1 == self.epoch and batch == self.batch


@pytest.mark.parametrize(("epoch", "batch"), [(0, 0), (2, 3), (3, 5)])  # 96 rows in 6 batches: (3, 5) is the last
def test_a_stop_after_a_batch_resumes_with_the_next_batch_bit_for_bit(tmp_path, epoch, batch):
    pytest.importorskip("safetensors")
    X, y = blobs()
    options = dict(loss="crossentropy", validation=0.2, batch_size=16, seed=4, schedule=bp.CosineDecay(4, warmup=1))

    whole = classifier(dropout=0.2)
    whole_history = whole.fit(X, y, optimizer=bp.Adam(0.01), epochs=4, **options)

    path = tmp_path / "run.ckpt"
    first = classifier(dropout=0.2)
    stopped = first.fit(
        X,
        y,
        optimizer=bp.Adam(0.01),
        epochs=4,
        callbacks=[StopAfterBatch(epoch, batch), bp.EarlyStopping(patience=99), bp.ModelCheckpoint(path)],
        **options,
    )
    assert len(stopped) == epoch  # the stopped epoch is not logged
    _, state = bp.load_checkpoint(path)
    assert (state["epoch"], state["partial"]["epoch"], state["partial"]["step"]) == (epoch - 1, epoch, batch + 1)

    resumed = classifier(seed=99, dropout=0.2)
    resumed_history = resumed.fit(X, y, optimizer=bp.Adam(0.01), epochs=4, resume_from=path, **options)
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    for key, values in whole_history.history.items():
        if key != "seconds":
            assert resumed_history[key] == values, key


def test_a_mid_epoch_checkpoint_for_other_data_is_refused(tmp_path):
    pytest.importorskip("safetensors")
    X, y = blobs()
    path = tmp_path / "run.ckpt"
    net = classifier()
    callbacks = [StopAfterBatch(1, 2), bp.ModelCheckpoint(path)]
    net.fit(X, y, loss="crossentropy", epochs=3, batch_size=16, seed=0, callbacks=callbacks)
    with pytest.raises(
        bp.ParameterError, match=r"holds a batch order for other data: 119 training rows now, got \(120,\)"
    ):
        net.fit(X[:-1], y[:-1], loss="crossentropy", epochs=3, batch_size=16, seed=0, resume_from=path)


def test_a_seedless_run_records_its_seed_and_can_be_repeated():
    X, y = blobs()
    first = classifier()
    history = first.fit(X, y, loss="crossentropy", epochs=2)
    again = classifier()
    again.fit(X, y, loss="crossentropy", epochs=2, seed=history.seed)
    np.testing.assert_array_equal(first.parameters, again.parameters)


@pytest.mark.parametrize("optimizer", [bp.SGD(0.05, momentum=0.9), bp.Adam(0.01), bp.RMSprop(0.01)])
def test_resuming_ends_bit_for_bit_where_the_uninterrupted_run_ends(tmp_path, optimizer):
    pytest.importorskip("safetensors")
    X, y = blobs()
    options = dict(loss="crossentropy", validation=0.2, batch_size=16, seed=4, schedule=bp.CosineDecay(6, warmup=1))

    whole = classifier(dropout=0.2)
    whole_history = whole.fit(X, y, optimizer=type(optimizer)(**_hyper(optimizer)), epochs=6, **options)

    path = tmp_path / "run.ckpt"
    first = classifier(dropout=0.2)
    first.fit(
        X, y, optimizer=type(optimizer)(**_hyper(optimizer)), epochs=3, callbacks=bp.ModelCheckpoint(path), **options
    )
    resumed = classifier(seed=99, dropout=0.2)  # other initial weights: the checkpoint's must win
    resumed_history = resumed.fit(
        X, y, optimizer=type(optimizer)(**_hyper(optimizer)), epochs=6, resume_from=path, **options
    )

    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    assert resumed_history.epoch == whole_history.epoch
    for key, values in whole_history.history.items():
        if key != "seconds":
            assert resumed_history[key] == values, key


def _hyper(optimizer):
    state = optimizer.state_dict()
    names = {"SGD": ("lr", "momentum"), "Adam": ("lr",), "RMSprop": ("lr",)}[type(optimizer).__name__]
    return {name: state[name] for name in names}


def test_resuming_from_another_architecture_names_both(tmp_path):
    pytest.importorskip("safetensors")
    X, y = blobs()
    path = tmp_path / "run.ckpt"
    classifier().fit(X, y, loss="crossentropy", epochs=1, callbacks=bp.ModelCheckpoint(path))
    other = bp.Network([bp.Dense(8, "tanh"), bp.Dense(3, "softmax")], inputs=4)
    with pytest.raises(
        bp.ParameterError, match=r"holds a different network: Network\(\[Dense\(16.*this network is Network\(\[Dense\(8"
    ):
        other.fit(X, y, loss="crossentropy", epochs=2, resume_from=path)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("options", "kind", "match"),
    [
        (
            {"validation": 1.5},
            bp.ParameterError,
            r"validation must be a fraction in \(0, 1\) or a pair \(X_val, y_val\), got validation=1\.5",
        ),
        ({"validation": 0.0}, bp.ParameterError, r"got validation=0\.0"),
        ({"validation": (1, 2, 3)}, bp.ParameterError, r"got a tuple of 3"),
        ({"l2": -1.0}, bp.ParameterError, r"l2 must be a non-negative number, got l2=-1\.0"),
        ({"clip_norm": 0}, bp.ParameterError, r"clip_norm must be a positive number, got clip_norm=0"),
        ({"class_weight": "auto"}, bp.ParameterError, r"class_weight must be 'balanced' or a dict, got 'auto'"),
        ({"class_weight": {7: 1.0}}, bp.ParameterError, r"class_weight keys must be class indices 0\.\.2, got 7"),
        ({"class_weight": {0: -1.0}}, bp.ParameterError, r"class_weight\[0\] must be a non-negative number"),
        ({"shuffle": "yes"}, bp.BackpropTypeError, r"shuffle must be True or False"),
        ({"optimizer": bp.SGD(-1.0) if False else "nope"}, bp.ParameterError, r"Unknown optimizer 'nope'"),
        ({"schedule": "sometimes"}, bp.ParameterError, r"Unknown schedule 'sometimes'"),
    ],
)
def test_bad_training_options(options, kind, match):
    X, y = blobs()
    with pytest.raises(kind, match=match):
        classifier().fit(X, y, loss="crossentropy", epochs=1, **options)


def test_validation_classes_unseen_in_training():
    X, y = blobs(classes=3)
    train = y < 2
    with pytest.raises(bp.DataError, match=r"validation has classes \[2\] that the training data never has"):
        classifier().fit(X[train], y[train], loss="crossentropy", validation=(X[~train], y[~train]))


def test_patience_must_not_be_negative():
    with pytest.raises(bp.ParameterError, match=r"patience must be an integer >= 0, got patience=-1"):
        bp.EarlyStopping(patience=-1)


def test_class_weight_needs_a_classification_loss():
    X, y = blobs()
    net = bp.Network([bp.Dense(1)], inputs=4)
    with pytest.raises(bp.ParameterError, match=r"class_weight needs a classification loss, got loss 'mse'"):
        net.fit(X, y.astype(float), class_weight="balanced")


def test_resuming_from_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    pytest.importorskip("safetensors")
    X, y = blobs()
    path = tmp_path / "run.ckpt"
    classifier().fit(X, y, loss="crossentropy", epochs=1, callbacks=bp.ModelCheckpoint(path))
    path.write_bytes(path.read_bytes()[:100])
    net = classifier()
    before = net.parameters.copy()
    with pytest.raises(bp.ModelFileError, match=r"run\.ckpt"):
        net.fit(X, y, loss="crossentropy", epochs=2, resume_from=path)
    np.testing.assert_array_equal(net.parameters, before)


def test_a_failed_call_writes_nothing(tmp_path):
    X, y = blobs()
    checkpoint, log = tmp_path / "run.ckpt", tmp_path / "log.csv"
    log.write_text("kept\n")
    with pytest.raises(bp.ParameterError):
        classifier().fit(
            X, y, loss="crossentropy", validation=2.0, callbacks=[bp.ModelCheckpoint(checkpoint), bp.CSVLogger(log)]
        )
    assert not checkpoint.exists()
    assert log.read_text() == "kept\n"


def test_rich_progress_draws_and_keeps_one_line_per_epoch():
    from io import StringIO

    from rich.console import Console

    from backprop.progress import RichProgress

    out = StringIO()
    X, y = blobs()
    classifier().fit(
        X,
        y,
        loss="crossentropy",
        epochs=3,
        validation=0.2,
        callbacks=RichProgress(Console(file=out, width=120), keep=True),
    )
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3
    assert "val_accuracy" in lines[-1]


# ------------------------------------------------- regressions found in review


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ [1.0, -1.0, 0.5]


def test_a_reused_early_stopping_starts_afresh():
    X, y = regression_data()
    stop = bp.EarlyStopping(monitor="loss", patience=0)
    bp.Network([bp.Dense(1)], inputs=3, seed=0).fit(X, y, optimizer=bp.SGD(0.05), epochs=5, seed=0, callbacks=stop)
    net = bp.Network([bp.Dense(1)], inputs=3, seed=0)
    net.fit(X, y, optimizer=bp.SGD(1e-6), epochs=3, seed=0, callbacks=stop)
    assert stop.best_epoch is not None and stop.best_epoch <= 2  # an epoch of this run
    assert np.abs(net.parameters).max() < 10  # not another run's (or uninitialised) weights


def test_an_overflow_in_the_last_step_is_caught():
    X, y = regression_data()
    net = bp.Network([bp.Dense(1)], inputs=3, seed=0)
    with pytest.raises(bp.DivergenceError, match=r"epoch 0, batch 0: a parameter is not finite, first in layer 1"):
        net.fit(X, y, optimizer=bp.SGD(1e39), epochs=1, batch_size=None)
    assert np.isfinite(net.parameters).all()


def test_predict_inside_a_callback_sees_no_dropout_and_changes_nothing():
    X, y = blobs()
    seen = []

    class Predict(bp.Callback):
        def on_train_begin(self, state):
            self.net = state.net

        def on_batch_end(self, batch, logs):
            seen.append(np.array_equal(self.net.predict(X[:5]), self.net.predict(X[:5])))

    with_callback = classifier(dropout=0.5)
    with_callback.fit(X, y, loss="crossentropy", epochs=2, seed=1, callbacks=Predict())
    without = classifier(dropout=0.5)
    without.fit(X, y, loss="crossentropy", epochs=2, seed=1)
    assert all(seen)
    np.testing.assert_array_equal(with_callback.parameters, without.parameters)


def test_callbacks_run_under_the_callers_floating_point_state():
    # The training loop silences numpy's overflow warnings for itself (it checks the loss
    # and the gradient), never for the caller's code in a callback.
    X, y = blobs()
    seen = []

    class Probe(bp.Callback):
        def on_batch_end(self, batch, logs):
            seen.append(np.geterr()["over"])

    with np.errstate(over="raise"):
        classifier().fit(X, y, loss="crossentropy", epochs=2, batch_size=16, seed=1, callbacks=Probe())
        assert np.geterr()["over"] == "raise"
    assert len(seen) > 2 and set(seen) == {"raise"}


def test_multilabel_accuracy_does_not_depend_on_the_batches():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 2))
    Y = np.array([[1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=float)
    accuracies = set()
    for batch_size in (8, 4, 2, 1):
        net = bp.Network([bp.Dense(2, "sigmoid")], inputs=2, seed=0)
        history = net.fit(
            X, Y, loss="binary_crossentropy", optimizer=bp.SGD(1e-12), batch_size=batch_size, shuffle=False
        )
        exact = ((net.predict(X) >= 0.5) == (Y >= 0.5)).all(axis=1).mean()
        assert history["accuracy"][0] == pytest.approx(exact)
        accuracies.add(history["accuracy"][0])
    assert len(accuracies) == 1


def test_r2_is_of_the_data_loss_not_the_penalty():
    X, y = regression_data()
    net = bp.Network([bp.Dense(1)], inputs=3, seed=0)
    history = net.fit(X, y, optimizer=bp.SGD(1e-12), batch_size=None, l2=1.0, validation=(X, y))
    assert history["r2"][0] == pytest.approx(history["val_r2"][0], rel=1e-6)


def test_a_finite_float32_gradient_whose_square_overflows_is_clipped_not_diverged():
    X, y = regression_data()
    net = bp.Network([bp.Dense(1)], inputs=3, seed=0)
    net.fit(X, y * 1e19, optimizer=bp.SGD(1e-3), batch_size=8, clip_norm=1.0)
    assert np.isfinite(net.parameters).all()


def test_resuming_restores_early_stopping_too(tmp_path):
    pytest.importorskip("safetensors")
    X, y = blobs()
    options = dict(loss="crossentropy", optimizer=None, validation=0.25, seed=0, epochs=12)
    whole = classifier()
    whole_history = whole.fit(X, y, callbacks=bp.EarlyStopping(patience=1), **{**options, "optimizer": bp.SGD(3.0)})
    path = tmp_path / "run.ckpt"
    first = classifier()
    first.fit(
        X,
        y,
        callbacks=[bp.EarlyStopping(patience=1), bp.ModelCheckpoint(path)],
        **{**options, "optimizer": bp.SGD(3.0), "epochs": 1},
    )
    resumed = classifier()
    resumed_history = resumed.fit(
        X,
        y,
        callbacks=[bp.EarlyStopping(patience=1), bp.ModelCheckpoint(tmp_path / "b")],
        resume_from=path,
        **{**options, "optimizer": bp.SGD(3.0)},
    )
    assert len(whole_history) < 12  # it did stop early
    assert resumed_history.epoch == whole_history.epoch
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)


def test_an_unknown_monitor_fails_before_anything_is_written(tmp_path):
    X, y = blobs()
    checkpoint, log = tmp_path / "run.ckpt", tmp_path / "log.csv"
    log.write_text("precious\n")
    callbacks = [bp.ModelCheckpoint(checkpoint, monitor="loss"), bp.CSVLogger(log), bp.EarlyStopping(monitor="val_los")]
    with pytest.raises(bp.ParameterError, match=r"Unknown monitor 'val_los'; expected one of \['loss', 'accuracy'\]"):
        classifier().fit(X, y, loss="crossentropy", epochs=2, callbacks=callbacks)
    assert not checkpoint.exists()
    assert log.read_text() == "precious\n"


def test_the_progress_bar_stops_when_training_fails():
    from io import StringIO

    from rich.console import Console

    from backprop.progress import RichProgress

    X, y = blobs()
    progress = RichProgress(Console(file=StringIO()))
    with pytest.raises(bp.DivergenceError):
        classifier().fit(X * 1e3, y, loss="crossentropy", optimizer=bp.SGD(1e8), epochs=20, callbacks=progress)
    assert progress._progress is None


def test_callbacks_must_be_callbacks():
    X, y = blobs()
    with pytest.raises(bp.BackpropTypeError, match=r"callbacks must be a Callback or a list of them, got 5"):
        classifier().fit(X, y, loss="crossentropy", callbacks=5)


# ----------------------------------------------------------------- BLAS threads


def test_the_thread_count_comes_from_the_shapes_by_a_rule_worked_by_hand():
    from backprop._threads import PER_THREAD, for_shapes

    assert PER_THREAD == 2_097_152  # 2**21 multiply-adds a thread
    # W1: 128 rows × 784 inputs × 256 units = 25,690,112 multiply-adds = 12.25 threads' worth, capped by 2 CPUs.
    assert for_shapes([784, 256, 256, 10], 128, ceiling=2) == 2
    assert for_shapes([784, 256, 256, 10], 128, ceiling=16) == 12
    # MNIST-1D: 100 × 100 × 100 = 1,000,000: less than one thread's worth, one thread.
    assert for_shapes([40, 100, 100, 10], 100, ceiling=16) == 1
    # 32 × 256 × 256 = 2,097,152: one thread's worth; twice as many rows, two.
    assert for_shapes([256, 256, 256, 10], 32, ceiling=16) == 1
    assert for_shapes([256, 256, 256, 10], 64, ceiling=16) == 2
    # The largest product decides, wherever it is: 512 × 2048 × 2048 = 2**31 → 512, capped by 8 CPUs.
    assert for_shapes([1024, 2048, 2048, 10], 512, ceiling=8) == 8


def test_a_cpu_quota_caps_the_threads_as_a_container_sets_it(tmp_path, monkeypatch):
    from backprop import _threads

    def group(lines, files):  # /proc/self/cgroup's lines, and the files under /sys/fs/cgroup
        root = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        root.mkdir()
        (root / "proc").write_text("".join(line + "\n" for line in lines))
        for name, text in files.items():
            (root / "sys" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "sys" / name).write_text(text)
        return _threads.cgroup_cpus(str(root / "proc"), str(root / "sys"))

    # cgroup v2 (docker --cpus=1.5): 150,000 µs of CPU time each 100,000 µs = 1.5 CPUs.
    assert group(["0::/"], {"cpu.max": "150000 100000\n"}) == 1.5
    # The smallest quota on the way up decides: a service of 3 CPUs in a slice of 0.5.
    files = {"app.slice/cpu.max": "50000 100000\n", "app.slice/web.service/cpu.max": "300000 100000\n"}
    assert group(["0::/app.slice/web.service"], files) == 0.5
    # "max": no limit; no cpu.max at all (the cpu controller off): no limit.
    assert group(["0::/other"], {"other/cpu.max": "max 100000\n"}) is None
    assert group(["0::/none"], {}) is None
    # cgroup v1 (the cpu controller mounted with cpuacct): a quota of 200,000 µs a 100,000 µs period = 2 CPUs;
    # -1 is no limit; the memory controller's groups are not the cpu controller's.
    v1 = {"cpu/job/cpu.cfs_quota_us": "200000\n", "cpu/job/cpu.cfs_period_us": "100000\n"}
    assert group(["4:memory:/elsewhere", "2:cpu,cpuacct:/job", "0::/"], v1) == 2.0
    assert group(["2:cpu,cpuacct:/job"], {**v1, "cpu/job/cpu.cfs_quota_us": "-1\n"}) is None
    assert _threads.cgroup_cpus(str(tmp_path / "missing"), str(tmp_path)) is None  # not Linux: no limit
    # Docker on v1: the group's path is the host's, the container sees its own group at the mount's root.
    assert (
        group(["3:cpu,cpuacct:/docker/0ab1"], {"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"})
        == 0.5
    )
    # A hybrid host: the cpu controller on v1 (no quota), v2 without it; a ':' in a group's name.
    hybrid = {"cpu/a:b/cpu.cfs_quota_us": "-1\n", "cpu/a:b/cpu.cfs_period_us": "100000\n", "unified/cgroup.procs": ""}
    assert group(["1:cpu:/a:b", "0::/a:b"], hybrid) is None
    assert group(["1:cpu:/a:b"], {**hybrid, "cpu/a:b/cpu.cfs_quota_us": "300000\n"}) == 3.0
    # A name that is not UTF-8 is still a path; a group outside the namespace's root ("..") is not under the mount.
    root = tmp_path / "bytes"
    (root / "sys" / "caf\udce9").mkdir(parents=True)
    (root / "sys" / "caf\udce9" / "cpu.max").write_text("100000 100000\n", errors="surrogateescape")
    (root / "proc").write_bytes(b"0::/caf\xe9\n")
    assert _threads.cgroup_cpus(str(root / "proc"), str(root / "sys")) == 1.0
    assert group(["0::/../outside"], {"cpu.max": "max 100000\n", "../outside/cpu.max": "100000 100000\n"}) is None

    # 1.5 CPUs round up to 2, 0.5 to 1; the affinity caps too.
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    for quota, cpus in ((1.5, 2), (0.5, 1), (None, 16), (40.0, 16)):
        monkeypatch.setattr(_threads, "cgroup_cpus", lambda quota=quota: quota)
        assert _threads.available_cpus() == cpus


def blas_threads():
    """The thread counts of the BLAS libraries the process's controller sets (numpy's; not one that loading
    numba's compiled code may add later, such as scipy's, which backprop does not call)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    known = {library.filepath for library in _threads.blas_control().select(user_api="blas").lib_controllers}
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["filepath"] in known]


def test_fit_runs_on_the_threads_it_chose_and_gives_the_blas_its_setting_back(monkeypatch):

    seen = []

    class Watch(bp.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(blas_threads())

    X = np.random.default_rng(0).normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(float)
    net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)
    net.fit(X[:8], y[:8], loss="binary_crossentropy", seed=1)  # loads what a fit loads (a BLAS of numba's too)
    before = blas_threads()
    net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)
    history = net.fit(X, y, loss="binary_crossentropy", epochs=1, callbacks=[Watch()], seed=1)
    assert history.threads == 1  # 32 × 3 × 4 multiply-adds: one thread
    assert seen == [[1] * len(before)] and blas_threads() == before
    twice = bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)
    assert twice.fit(X, y, loss="binary_crossentropy", epochs=1, seed=1, threads=1).threads == 1
    assert np.array_equal(net.parameters, twice.parameters)  # the count chosen is the count given: the same bits
    # A layer of 256 × 256 on batches of 128: 8,388,608 multiply-adds, 4 threads' worth, 2 CPUs allowed.
    monkeypatch.setattr(training, "ceiling", lambda: 2)
    seen.clear()
    wide = bp.Network([bp.Dense(256, "relu"), bp.Dense(1, "sigmoid")], inputs=256, seed=0)
    X_wide = np.random.default_rng(1).normal(size=(256, 256))
    history = wide.fit(X_wide, X_wide[:, 0] > 0, loss="binary_crossentropy", batch_size=128, callbacks=[Watch()])
    # The compiled step's two threads are the pool's, the BLAS on one (the bits of one thread); else the BLAS's two.
    blas = 1 if _pool.runs_here() else 2
    assert history.threads == 2 and seen == [[blas] * len(before)] and blas_threads() == before
    with pytest.raises(bp.ParameterError, match=r"threads must be None .* or an integer from 1 to 1024, got 0"):
        net.fit(X, y, loss="binary_crossentropy", threads=0)
    assert blas_threads() == before


def test_a_fit_in_another_thread_after_one_in_the_main_thread_sets_the_blas_as_well():
    # threadpoolctl 3.8 lets only the first thread that set OpenBLAS's count set it again; a fit in a worker
    # thread (Dask's, scikit-learn's) must still run on its own count: one thread here, whatever the BLAS's own.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X = np.random.default_rng(0).normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(float)
    seen = []

    class Watch(bp.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(blas_threads())

    def fit():
        net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)
        net.fit(X, y, loss="binary_crossentropy", epochs=1, seed=1, threads=1, callbacks=[Watch()])
        return net.parameters

    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # the BLAS's own count, as on a 2-CPU machine
        main = fit()
        got = []
        worker = threading.Thread(target=lambda: got.append(fit()), daemon=True)
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive() and len(got) == 1
        assert seen and seen[0] and seen == [[1] * len(seen[0])] * 2  # the BLAS on one thread in both fits
        assert blas_threads() == [2] * len(seen[0])  # and its count given back after each
    assert np.array_equal(main, got[0])


def test_a_checkpoint_keeps_the_thread_count_and_resume_uses_it(tmp_path):
    X = np.random.default_rng(0).normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(float)
    path = tmp_path / "run.ckpt"

    def network():
        return bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)

    whole = network().fit(X, y, loss="binary_crossentropy", epochs=2, seed=1, threads=2)
    first = network()
    first.fit(X, y, loss="binary_crossentropy", epochs=1, seed=1, threads=2, callbacks=[bp.ModelCheckpoint(path)])
    resumed = network()
    history = resumed.fit(X, y, loss="binary_crossentropy", epochs=2, resume_from=path)
    assert history.threads == 2  # the checkpoint's count, not the rule's 1 for these shapes
    assert history.history["loss"] == whole.history["loss"]
    saved, state = bp.load_checkpoint(path)
    assert state["threads"] == 2
    state["threads"] = 0
    with pytest.raises(
        bp.ModelFileError, match="state field 'threads' must be None or an integer from 1 to 1024, got 0"
    ):
        network().fit(X, y, loss="binary_crossentropy", epochs=2, resume_from=(saved, state))
