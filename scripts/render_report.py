"""Build sample reports and screenshot them in headless Chromium, as a person would see them.

    python scripts/render_report.py [--out build/report-render] [--stress] [--chromium /usr/bin/chromium]

Trains three small networks on built-in datasets (``moons``: 2-D, with the
decision boundary; ``digits``: 10 classes; ``diabetes``: regression without
validation data) and, with ``--stress``, a 20-layer and a 10,000-unit
network; writes ``<out>/<name>.html`` with
:func:`backprop.report.write_report`, then, when Chromium is found
(Debian: ``apt-get install chromium``), screenshots each page at a laptop
width (1280 px) and a phone width (390 px) into ``<out>/<name>-<width>.png``.
Open the PNGs and look at them.

Needs the ``datasets`` and ``plot`` extras (scikit-learn, matplotlib).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import backprop as bp
from backprop.report import write_report

WIDTHS = (1280, 390)
#: A window tall enough for the whole page; the blank rest is trimmed afterwards.
WINDOW_HEIGHT = 16000


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _per_class(matrix: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    rows = []
    for i, label in enumerate(labels):
        tp = matrix[i, i]
        predicted, support = matrix[:, i].sum(), matrix[i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": label, "precision": precision, "recall": recall, "f1": f1, "support": int(support)})
    return rows


def build(name: str, out: Path, epochs: int) -> Path:
    """Train on the dataset ``name`` and write ``out/<name>.html``; return its path."""
    data = bp.datasets.load(name, seed=0)
    scaler = bp.Standardizer().fit(data.X_train)
    X_train, X_test = scaler.transform(data.X_train), scaler.transform(data.X_test)
    classification = data.task == "classification"
    hidden = {"moons": [16, 16], "digits": [64, 32], "diabetes": [32, 16]}[name]
    activation = "tanh" if name == "moons" else "relu"
    if classification:
        output, loss = bp.Dense(int(data.n_classes or 2), "softmax"), "crossentropy"
    else:
        output, loss = bp.Dense(1, "identity"), "mse"
    net = bp.Network([*(bp.Dense(h, activation) for h in hidden), output], inputs=data.n_features, seed=0)
    validation = None if name == "diabetes" else 0.15
    y_train = data.y_train if classification else data.y_train[:, None]
    history = net.fit(
        X_train,
        y_train,
        loss=loss,
        optimizer=bp.Adam(0.01),
        epochs=epochs,
        batch_size=32,
        validation=validation,
        seed=0,
    )
    predictions = net.predict(X_test)
    hyperparameters = {
        "hidden layers": hidden,
        "activation": activation,
        "loss": loss,
        "optimizer": "Adam",
        "learning rate": 0.01,
        "epochs": epochs,
        "batch size": 32,
        "validation": validation or "none",
        "standardize": True,
        "seed": 0,
    }
    data_summary: dict[str, Any] = {
        "dataset": name,
        "description": data.description,
        "task": data.task,
        "training rows": len(data.X_train),
        "test rows": len(data.X_test),
        "features": data.n_features,
        "feature names": data.feature_names,
    }
    kwargs: dict[str, Any] = {}
    if classification:
        labels = list(data.target_names or [])
        data_summary["classes"] = labels
        predicted = predictions.argmax(axis=1)
        matrix = _confusion(data.y_test, predicted, len(labels))
        metrics = {
            "loss": net.loss(X_test, data.y_test, loss=loss),
            "accuracy": float(np.mean(predicted == data.y_test)),
        }
        kwargs.update(confusion=(matrix, labels), per_class=_per_class(matrix, labels))
        trace = bp.explain(net, X_test[0], data.y_test[:1], learning_rate=0.01, loss=loss)
    else:
        residual = predictions[:, 0] - data.y_test
        metrics = {
            "loss": net.loss(X_test, data.y_test[:, None], loss=loss),
            "r2": float(1 - np.sum(residual**2) / np.sum((data.y_test - data.y_test.mean()) ** 2)),
            "mae": float(np.mean(np.abs(residual))),
            "rmse": float(np.sqrt(np.mean(residual**2))),
        }
        trace = bp.explain(net, X_test[0], data.y_test[:1], learning_rate=0.01, loss=loss)
    if data.n_features == 2:
        kwargs.update(points=(data.X_test, data.y_test), transform=scaler.transform)
    path = out / f"{name}.html"
    write_report(
        path,
        net=net,
        history=history.history,
        metrics=metrics,
        data_summary=data_summary,
        hyperparameters=hyperparameters,
        trace=trace,
        title=f"backprop report: {name}",
        **kwargs,
    )
    return path


def build_stress(out: Path) -> list[Path]:
    """Pages for layouts that break first: 20 sigmoid layers (vanishing gradients), a 10,000-unit layer."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)
    deep = bp.Network([*(bp.Dense(8, "sigmoid") for _ in range(19)), bp.Dense(3, "softmax")], inputs=4, seed=0)
    wide = bp.Network([bp.Dense(10_000, "relu"), bp.Dense(3, "softmax")], inputs=2, seed=0)
    pages = []
    for name, net, inputs, validation in (("deep", deep, X, 0.2), ("wide", wide, X[:, :2], None)):
        history = net.fit(inputs, y, loss="crossentropy", epochs=8, batch_size=32, validation=validation, seed=0)
        accuracy = float(np.mean(net.predict(inputs).argmax(axis=1) == y))
        path = out / f"{name}.html"
        write_report(
            path,
            net=net,
            history=history.history,
            metrics={"accuracy": accuracy},
            data_summary={"rows": len(y), "task": "classification"},
            hyperparameters={"epochs": 8, "batch size": 32},
            points=(inputs, y) if inputs.shape[1] == 2 else None,
            trace=bp.explain(net, inputs[0], y[:1], loss="crossentropy"),
            title=f"backprop report: {name}",
        )
        pages.append(path)
    return pages


def find_chromium(given: str | None) -> str | None:
    for candidate in (given, "chromium", "chromium-browser", "google-chrome", "chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def trim(png: Path) -> None:
    """Cut the blank window below the page's end (needs Pillow, which matplotlib brings)."""
    try:
        from PIL import Image, ImageChops
    except ImportError:
        return
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        background = Image.new("RGB", rgb.size, rgb.getpixel((0, rgb.height - 1)))
        box = ImageChops.difference(rgb, background).getbbox()
        if box is not None:
            rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + 24))).save(png)


def screenshot(chromium: str, page: Path, png: Path, width: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # running as root in a container
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            f"--window-size={width},{WINDOW_HEIGHT}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    trim(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/report-render", help="folder for the HTML and PNG files")
    parser.add_argument("--chromium", default=None, help="path of the Chromium binary")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--datasets", default="moons,digits,diabetes")
    parser.add_argument("--stress", action="store_true", help="also a 20-layer and a 10,000-unit network")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pages = [build(name, out, args.epochs) for name in args.datasets.split(",")]
    if args.stress:
        pages += build_stress(out)
    for page in pages:
        print(f"wrote {page} ({os.path.getsize(page) / 1e3:.0f} kB)")
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("Chromium not found (apt-get install chromium): no screenshots", file=sys.stderr)
        return 1
    for page in pages:
        for width in WIDTHS:
            png = out / f"{page.stem}-{width}.png"
            screenshot(chromium, page, png, width)
            print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
