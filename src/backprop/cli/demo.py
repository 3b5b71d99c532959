"""``backprop demo``: the tour: the seed's worked example explained, then digits trained end to end.

Drives :func:`backprop.pipeline.run_training` as ``train`` does and writes
the model, the pictures and the report into one folder.

Imports click, numpy and the CLI's shared modules.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any

import click
import numpy as np

from ..errors import MissingDependencyError
from ..pipeline import TrainOptions, TrainResult, model_metadata, run_training
from ._common import (
    console,
    one_line,
    option_json,
    option_quiet,
    option_threads,
    plotting_module,
    print_json,
    print_text,
    progress_wanted,
    reports_errors,
)
from ._report import diagram_names, write_report
from ._signals import Stop, TrainMonitor, progress_bar
from ._tables import confusion_table
from .explain import print_seed_example, seed_trace


@click.command(name="demo")
@click.option("--out", "out_dir", default="backprop-demo", show_default=True, help="The folder to write.")
@click.option("--quick", is_flag=True, help="A smaller, faster run (for tests).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="[default: 30, --quick 3]")
@option_quiet
@option_json
@option_threads("from the network's shapes, as train")
@reports_errors
def demo(out_dir: str, quick: bool, epochs: int | None, quiet: bool, as_json: bool) -> None:
    """The tour: the seed's worked example explained, then a network trained on handwritten digits.

    Writes OUT/ with the model, the pictures and report.html. Offline; under a minute.
    """
    trace = None
    if not as_json:
        trace = print_seed_example()
        print_text()
        print_text("─" * 60)
        print_text("Now a real network: 8×8 handwritten digits (1797 images, 10 classes, scikit-learn's bundled copy).")
    else:
        trace = seed_trace()
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.safetensors")
    report_path = os.path.join(out_dir, "report.html")
    options = TrainOptions(
        data="digits",
        target="target",
        hidden=[16] if quick else [64],
        activation="relu",
        optimizer="adam",
        lr=0.003 if quick else 0.001,
        epochs=epochs or (3 if quick else 30),
        batch_size=32,
        validation=0.1,
        seed=0,
        test_size=0.2,
        out=model_path,
        report=report_path,
    )
    cli_state: dict[str, Any] = {}
    monitor = TrainMonitor(
        progress_bar(progress_wanted(quiet or as_json)), os.path.join(out_dir, "demo.ckpt"), cli_state
    )
    try:
        result = run_training(options, callbacks=[monitor], cli_state=cli_state, while_fitting=monitor.stopping())
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(Stop.exit_status()) from None
    if result.interrupted:
        click.echo("interrupted", err=True)
        raise SystemExit(Stop.exit_status())
    from ..io import save

    save(result.net, model_path, metadata=model_metadata(result))
    files = [model_path]
    skipped = None
    try:
        files += _demo_pictures(result, out_dir)
        write_report(result, report_path, title="backprop demo: handwritten digits")
        files.append(report_path)
    except MissingDependencyError as exc:
        skipped = one_line(exc)
    test = result.test or {}
    if as_json:
        print_json(
            {
                "seed_example": trace.to_dict(),
                "network": result.net.sizes,
                "epochs_run": len(result.history),
                "seconds": result.seconds,
                "test": test,
                "files": files,
                "skipped": skipped,
            }
        )
        return
    print_text(
        f"trained {'-'.join(map(str, result.net.sizes))} relu/softmax with adam for {len(result.history)} epochs "
        f"in {result.seconds:.1f} s on {len(result.prepared.rows_train)} images"
    )
    if test:
        print_text(f"test accuracy: {test['accuracy']:.4f} on {test['rows']} held-out images")
        confusion = test["confusion_matrix"]
        console.print(confusion_table(np.array(confusion["matrix"], dtype=np.int64), confusion["labels"]))
    print_text()
    print_text(f"wrote {out_dir}/: {', '.join(os.path.basename(f) for f in files)}")
    if skipped:
        print_text(f"(pictures and report skipped: {skipped})")
    else:
        print_text(f"open {report_path} in a browser")
    print_text(f"next: backprop explain {shlex.quote(model_path)} digits --row 0")


def _demo_pictures(result: TrainResult, out_dir: str) -> list[str]:
    plotting = plotting_module()
    history = result.history.history
    names = diagram_names(result.pre, result.net.n_outputs)  # the inputs as the data names them
    written = []
    pictures: list[tuple[str, Callable[[], Any]]] = [
        ("curves.png", lambda: plotting.plot_history(history)),
        ("grad-norms.png", lambda: plotting.plot_gradient_norms(history)),
        ("network.png", lambda: plotting.plot_network(result.net, names["input_names"], names["output_names"])),
    ]
    test = result.test
    if test and "confusion_matrix" in test:
        matrix = np.array(test["confusion_matrix"]["matrix"], dtype=np.int64)
        labels = [str(c) for c in test["confusion_matrix"]["labels"]]
        pictures.append(("confusion.png", lambda: plotting.plot_confusion_matrix(matrix, labels)))
    for name, draw in pictures:
        path = os.path.join(out_dir, name)
        plotting.save_figure(draw(), path)
        written.append(path)
    return written
