# ruff: noqa: E501  (the docstring quotes the script's output lines whole)
"""MNIST-1D with a plain backprop MLP, within 60 s of training (issue 3, "Learning quality").

MNIST-1D (Greydanus, 2020) turns the ten digits into 1-D signals of length
40, padded, sheared, translated and noised; ``bp.datasets.load("mnist1d",
standardize=True)`` generates the canonical set offline (4000 training and
1000 test samples) and standardizes it with training statistics. The target
is a test accuracy of at least 70% with a plain MLP in at most 60 seconds of
training wall time on the 2-core development machine; the MNIST-1D paper
reports 68% for its MLP.

The recipe (no data augmentation, no convolutions):

* network: 40 -> 512 relu -> Dropout(0.5) -> 512 relu -> Dropout(0.5) -> 10 softmax,
  initialized with ``he_normal`` (relu layers) and ``glorot_uniform`` (the
  output layer); the library's defaults (PyTorch's ``uniform_scaled``) gave
  74.90% for seed 0
* Adam, learning rate 2e-3, L2 penalty 5e-4 on the weights (``l2=``), batch 128
* cosine decay over 200 epochs with 5 warm-up epochs
* 10% of the training set held out (stratified) as validation data;
  ``EarlyStopping(monitor="val_loss", patience=50, restore_best=True)`` keeps
  the weights of the epoch with the lowest validation loss
* a small callback stops training when the next epoch would end past the
  60 s budget (the best weights are still restored), so the limit holds even
  when the machine is slow.

For comparison, on the same standardized data: scikit-learn's
``MLPClassifier`` with its defaults and hidden layers of the same shape
(512, 512), and, when torch is importable, a PyTorch MLP of the same shape
trained with the same recipe (same split, dropout, L2 on the weights, Adam,
schedule, batches and best-validation-loss weights).

Run (from the repository root)::

    python examples/train_mnist1d.py               # the full benchmark, seed 0
    python examples/train_mnist1d.py --seeds 0 1 2
    python examples/train_mnist1d.py --quick       # smoke test: 3 epochs, no target check

Measured 2026-11-29 on the 2-core development machine (numpy with OpenBLAS,
2 threads; torch 2.13 CPU, 2 threads), ``python examples/train_mnist1d.py``::

    MNIST-1D: 4000 train (90% fit, 10% validation), 1000 test
    backprop: 40 -> 512 relu -> Dropout(0.5) -> 512 relu -> Dropout(0.5) -> 10 softmax; Adam 0.002, l2 0.0005, batch 128, cosine 200 epochs (warm-up 5), early stopping on val_loss (patience 50), budget 60 s
      seed 0: test accuracy 76.30%, training 26.0 s, 200 epochs (124 ms/epoch median), best epoch 167 (val accuracy 74.25%)
    sklearn MLPClassifier(512, 512), defaults: test accuracy 65.10%, training 13.3 s, 96 epochs
    torch, same MLP and recipe (2 threads): test accuracy 71.70%, training 22.4 s, 128 epochs (178 ms/epoch median), best epoch 76
    target: test accuracy >= 70% within 60 s of training: met (76.30%, 26.0 s)

and with ``--seeds 0 1 2 --no-sklearn --no-torch`` (backprop only)::

      seed 0: test accuracy 76.30%, training 21.1 s, 200 epochs (94 ms/epoch median), best epoch 167 (val accuracy 74.25%)
      seed 1: test accuracy 77.10%, training 30.0 s, 200 epochs (156 ms/epoch median), best epoch 151 (val accuracy 73.75%)
      seed 2: test accuracy 75.50%, training 30.3 s, 200 epochs (156 ms/epoch median), best epoch 183 (val accuracy 75.25%)
      mean over 3 seeds: test accuracy 76.30%, longest training 30.3 s
    target: test accuracy >= 70% within 60 s of training: met (76.30%, 30.3 s)

Exploring (with fit's own validation=0.1 split and no early stopping), the
same recipe reached 76.4%, 76.7% and 77.0% for the seeds 0, 1 and 2 after
200 epochs, 78.1% after 300 epochs and 71.0% after 100. Less regularization
overfits (no dropout, no L2: 60% after 30 epochs at 99.8% training
accuracy); AdamW's decoupled decay 0.05 with dropout 0.3-0.5 gave 65-68%.
Timing on this shared machine varies by up to a factor of 5 between runs
(the same 200-epoch run took 18-70 s), which is why the time budget is
enforced by a callback rather than trusted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np

import backprop as bp

TARGET = 0.70
BUDGET_S = 60.0
EPOCHS = 200
QUICK_EPOCHS = 3
WARMUP = 5
LR = 2e-3
L2 = 5e-4
BATCH = 128
DROPOUT = 0.5
HIDDEN = (512, 512)
VALIDATION = 0.1
PATIENCE = 50


class TimeBudget(bp.Callback):
    """Stop training when the next epoch would likely end past ``seconds``.

    The protocol of :class:`backprop.Callback`: ``on_epoch_end`` returning
    True stops ``fit`` after this epoch; the other callbacks still see
    ``on_train_end`` (so EarlyStopping restores its best weights).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began = 0.0
        self.stopped = False

    def on_train_begin(self, state: bp.TrainingState) -> None:
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        elapsed = time.perf_counter() - self.began
        self.stopped = elapsed + logs["seconds"] > self.seconds
        return self.stopped


def build(seed: int) -> bp.Network:
    layers: list[bp.Layer] = []
    for width in HIDDEN:
        layers += [bp.Dense(width, "relu", init="he_normal"), bp.Dropout(DROPOUT)]
    return bp.Network([*layers, bp.Dense(10, "softmax", init="glorot_uniform")], inputs=40, seed=seed)


def split(data: bp.datasets.Dataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows of ``data``'s training part (stratified, 10%)."""
    return bp.preprocessing.stratified_split(data.y_train, VALIDATION, seed=seed)


def run_backprop(data: bp.datasets.Dataset, seed: int, epochs: int) -> dict[str, float]:
    train, held = split(data, seed)
    net = build(seed)
    stopper = bp.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best=True)
    budget = TimeBudget(BUDGET_S)
    began = time.perf_counter()
    history = net.fit(
        data.X_train[train],
        data.y_train[train],
        loss="crossentropy",
        optimizer=bp.Adam(LR),
        epochs=epochs,
        batch_size=BATCH,
        validation=(data.X_train[held], data.y_train[held]),
        l2=L2,
        schedule=bp.CosineDecay(epochs, warmup=min(WARMUP, epochs - 1)),
        callbacks=[stopper, budget],
        seed=seed,
    )
    seconds = time.perf_counter() - began
    accuracy = float(np.mean(net.predict(data.X_test).argmax(axis=1) == data.y_test))
    best = stopper.best_epoch if stopper.best_epoch is not None else -1
    return {
        "accuracy": accuracy,
        "seconds": seconds,
        "epochs": len(history),
        "best_epoch": best,
        "val_accuracy": history["val_accuracy"][best],
        "epoch_s": float(np.median(history["seconds"])),
        "budget_hit": float(budget.stopped),
    }


def run_sklearn(data: bp.datasets.Dataset, seed: int, quick: bool) -> dict[str, float] | None:
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    model = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=5 if quick else 500, random_state=seed)
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.X_train, data.y_train)
    seconds = time.perf_counter() - began
    accuracy = float(np.mean(model.predict(data.X_test) == data.y_test))
    return {"accuracy": accuracy, "seconds": seconds, "epochs": float(model.n_iter_)}


def run_torch(data: bp.datasets.Dataset, seed: int, epochs: int) -> dict[str, float] | None:
    """The same MLP and recipe in PyTorch; None when torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    train, held = split(data, seed)
    X = torch.from_numpy(data.X_train[train])
    y = torch.from_numpy(data.y_train[train])
    X_val = torch.from_numpy(data.X_train[held])
    y_val = torch.from_numpy(data.y_train[held])
    X_test = torch.from_numpy(data.X_test)
    layers: list[torch.nn.Module] = []
    width = 40
    for units in HIDDEN:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU(), torch.nn.Dropout(DROPOUT)]
        width = units
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    # torch's coupled weight_decay adds l2 * W to the gradient: the same L2 penalty as backprop's l2=.
    optimizer = torch.optim.Adam([{"params": weights, "weight_decay": L2}, {"params": biases}], lr=LR)
    warmup = min(WARMUP, epochs - 1)

    def factor(epoch: int) -> float:  # bp.CosineDecay(epochs, warmup=warmup)
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return (1 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup))) / 2

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_state, best_epoch, waited, epochs_run = math.inf, None, -1, 0, 0
    began = time.perf_counter()
    epoch_times = []
    for epoch in range(epochs):
        epoch_began = time.perf_counter()
        model.train()
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[rows]), y[rows])
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(torch.nn.functional.cross_entropy(model(X_val), y_val))
            val_loss += 0.5 * L2 * float(sum((w * w).sum() for w in weights))
        epochs_run += 1
        epoch_times.append(time.perf_counter() - epoch_began)
        if val_loss < best_loss:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited > PATIENCE:
                break
        if time.perf_counter() - began + epoch_times[-1] > BUDGET_S:
            break
    seconds = time.perf_counter() - began
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(X_test).argmax(dim=1).numpy() == data.y_test).mean())
    return {
        "accuracy": accuracy,
        "seconds": seconds,
        "epochs": float(epochs_run),
        "best_epoch": float(best_epoch),
        "epoch_s": float(np.median(epoch_times)),
        "threads": float(torch.get_num_threads()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (the data are fixed)")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_EPOCHS} epochs, no target check")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn comparison")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)
    epochs = QUICK_EPOCHS if args.quick else EPOCHS

    try:
        data = bp.datasets.load("mnist1d", standardize=True)
    except bp.datasets.MissingDependencyError as exc:
        print(f"skipped: {exc}")
        return 0
    print(
        f"MNIST-1D: {len(data.y_train)} train ({1 - VALIDATION:.0%} fit, {VALIDATION:.0%} validation), "
        f"{len(data.y_test)} test"
    )
    print(
        f"backprop: 40 -> {' -> '.join(f'{w} relu -> Dropout({DROPOUT})' for w in HIDDEN)} -> 10 softmax; "
        f"Adam {LR:g}, l2 {L2:g}, batch {BATCH}, cosine {epochs} epochs (warm-up {min(WARMUP, epochs - 1)}), "
        f"early stopping on val_loss (patience {PATIENCE}), budget {BUDGET_S:.0f} s"
    )

    results = []
    for seed in args.seeds:
        r = run_backprop(data, seed, epochs)
        results.append(r)
        note = ", stopped by the time budget" if r["budget_hit"] else ""
        print(
            f"  seed {seed}: test accuracy {r['accuracy']:.2%}, training {r['seconds']:.1f} s, "
            f"{r['epochs']} epochs ({r['epoch_s'] * 1000:.0f} ms/epoch median), best epoch {r['best_epoch']} "
            f"(val accuracy {r['val_accuracy']:.2%}){note}",
            flush=True,
        )
    mean_acc = float(np.mean([r["accuracy"] for r in results]))
    max_s = max(r["seconds"] for r in results)
    if len(results) > 1:
        print(f"  mean over {len(results)} seeds: test accuracy {mean_acc:.2%}, longest training {max_s:.1f} s")

    if args.no_sklearn:
        pass
    elif (sk := run_sklearn(data, args.seeds[0], args.quick)) is None:
        print("sklearn: skipped (scikit-learn is not installed)")
    else:
        print(
            f"sklearn MLPClassifier{HIDDEN}, defaults: test accuracy {sk['accuracy']:.2%}, "
            f"training {sk['seconds']:.1f} s, {sk['epochs']:.0f} epochs",
            flush=True,
        )

    if args.no_torch:
        pass
    elif (tr := run_torch(data, args.seeds[0], epochs)) is None:
        print("torch: skipped (torch is not installed)")
    else:
        print(
            f"torch, same MLP and recipe ({tr['threads']:.0f} threads): test accuracy {tr['accuracy']:.2%}, "
            f"training {tr['seconds']:.1f} s, {tr['epochs']:.0f} epochs ({tr['epoch_s'] * 1000:.0f} ms/epoch "
            f"median), best epoch {tr['best_epoch']:.0f}",
            flush=True,
        )

    if args.quick:
        print("quick mode: target not checked")
    else:
        met = mean_acc >= TARGET and max_s <= BUDGET_S
        print(
            f"target: test accuracy >= {TARGET:.0%} within {BUDGET_S:.0f} s of training: "
            f"{'met' if met else 'NOT met'} ({mean_acc:.2%}, {max_s:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
