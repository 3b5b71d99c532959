"""Digits: a backprop MLP against scikit-learn's MLPClassifier (issue 3, "Learning quality").

The data are scikit-learn's bundled 8x8 handwritten digits (1797 images, 64
grey levels, 10 classes), loaded with ``bp.datasets.load("digits", seed=s,
standardize=True)``: a 25% stratified test split drawn from the seed, the
inputs standardized with statistics of the training part. The target is a
test accuracy of at least 98.0% as the mean over the seeds 0, 1 and 2.

The network is a plain MLP, 64 -> Dropout(0.1) -> 1024 relu -> Dropout(0.5)
-> 10 softmax, trained with Adam (lr 1e-3, batch 32) for 100 epochs under a
cosine learning-rate decay, on the whole training part (no validation split,
no early stopping). For comparison, scikit-learn's ``MLPClassifier`` with its
defaults (one hidden layer of 100 relu units, Adam, alpha 1e-4) and
``max_iter=1000`` is trained on the very same splits.

Run (from the repository root)::

    python examples/train_digits.py              # the full benchmark, seeds 0 1 2
    python examples/train_digits.py --seeds 0 1 2 3 4 5 6 7
    python examples/train_digits.py --quick      # smoke test: 3 epochs, no target check

Measured 2026-11-29 on the 2-core development machine (numpy with OpenBLAS,
2 threads), ``python examples/train_digits.py``::

    digits: 64 -> Dropout(0.1) -> 1024 relu -> Dropout(0.5) -> 10 softmax, Adam 1e-3, batch 32, cosine, 100 epochs
    seed  backprop acc  sklearn acc  backprop s  sklearn s
       0        98.89%       97.56%         4.1        0.5
       1        98.44%       98.22%         3.1        0.4
       2        98.89%       98.67%         2.7        0.4
    mean        98.74%       98.15%         3.3        0.4
    target: backprop mean test accuracy >= 98.0%: met (98.74%)

An earlier full run gave the same accuracies (training is deterministic for
a seed) but backprop times of 30.5, 77.6 and 4.1 s: wall time on this shared
machine swings by a factor of up to 20 between runs with no change in the
work done (about 30-45 ms per epoch when it is not slowed down).

The layers use the library's default initializer (PyTorch's ``uniform_scaled``);
with ``he_normal`` hidden and ``glorot_uniform`` output layers the seeds 0-2
gave 99.11%, 98.89% and 98.89% (98.96%), and over the seeds 0-7 98.67%
(lowest 97.8%). Without the input dropout (64 -> 256 relu -> Dropout(0.2)
-> 10) the mean over the seeds 0-7 was 98.14% (98.59% over 0-2).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

import backprop as bp

TARGET = 0.98
EPOCHS = 100
QUICK_EPOCHS = 3


def build(seed: int) -> bp.Network:
    """The MLP of the benchmark: input dropout, one wide relu layer, softmax output."""
    return bp.Network(
        [
            bp.Dropout(0.1),
            bp.Dense(1024, "relu"),
            bp.Dropout(0.5),
            bp.Dense(10, "softmax"),
        ],
        inputs=64,
        seed=seed,
    )


def run_backprop(data: bp.datasets.Dataset, seed: int, epochs: int) -> tuple[float, float]:
    """Train on ``data``'s training part; return (test accuracy, training seconds)."""
    net = build(seed)
    began = time.perf_counter()
    net.fit(
        data.X_train,
        data.y_train,
        loss="crossentropy",
        optimizer=bp.Adam(1e-3),
        epochs=epochs,
        batch_size=32,
        schedule=bp.CosineDecay(epochs),
        seed=seed,
    )
    seconds = time.perf_counter() - began
    accuracy = float(np.mean(net.predict(data.X_test).argmax(axis=1) == data.y_test))
    return accuracy, seconds


def run_sklearn(data: bp.datasets.Dataset, seed: int, max_iter: int) -> tuple[float, float] | None:
    """scikit-learn's MLPClassifier with default settings; None when sklearn is missing."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    model = MLPClassifier(hidden_layer_sizes=(100,), max_iter=max_iter, random_state=seed)
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # only in --quick mode
        model.fit(data.X_train, data.y_train)
    seconds = time.perf_counter() - began
    accuracy = float(np.mean(model.predict(data.X_test) == data.y_test))
    return accuracy, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split and training seeds")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_EPOCHS} epochs, no target check")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn comparison")
    args = parser.parse_args(argv)
    epochs = QUICK_EPOCHS if args.quick else EPOCHS

    rows: list[tuple[int, float, float, float | None, float | None]] = []
    print(
        f"digits: 64 -> Dropout(0.1) -> 1024 relu -> Dropout(0.5) -> 10 softmax, Adam 1e-3, batch 32, "
        f"cosine, {epochs} epochs"
    )
    print(f"{'seed':>4}  {'backprop acc':>12}  {'sklearn acc':>11}  {'backprop s':>10}  {'sklearn s':>9}")
    for seed in args.seeds:
        try:
            data = bp.datasets.load("digits", seed=seed, standardize=True)
        except bp.datasets.MissingDependencyError as exc:
            print(f"skipped: {exc}")
            return 0
        accuracy, seconds = run_backprop(data, seed, epochs)
        sk = None if args.no_sklearn else run_sklearn(data, seed, max_iter=20 if args.quick else 1000)
        sk_acc, sk_s = sk if sk is not None else (None, None)
        rows.append((seed, accuracy, seconds, sk_acc, sk_s))
        print(
            f"{seed:>4}  {accuracy:>12.2%}  {_fmt(sk_acc, '.2%'):>11}  {seconds:>10.1f}  {_fmt(sk_s, '.1f'):>9}",
            flush=True,
        )

    mean_acc = float(np.mean([r[1] for r in rows]))
    mean_s = float(np.mean([r[2] for r in rows]))
    sk_accs = [r[3] for r in rows if r[3] is not None]
    sk_secs = [r[4] for r in rows if r[4] is not None]
    sk_mean = float(np.mean(sk_accs)) if sk_accs else None
    sk_mean_s = float(np.mean(sk_secs)) if sk_secs else None
    print(f"{'mean':>4}  {mean_acc:>12.2%}  {_fmt(sk_mean, '.2%'):>11}  {mean_s:>10.1f}  {_fmt(sk_mean_s, '.1f'):>9}")
    if sk_mean is None and not args.no_sklearn:
        print("scikit-learn comparison skipped: scikit-learn is not installed")
    if args.quick:
        print("quick mode: target not checked")
    else:
        verdict = "met" if mean_acc >= TARGET else "NOT met"
        print(f"target: backprop mean test accuracy >= {TARGET:.1%}: {verdict} ({mean_acc:.2%})")
    return 0


def _fmt(value: float | None, spec: str) -> str:
    return "--" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
